/* Autodiscover over the transport: ews_autodiscover, and the client's autodiscover mode in
 * which each mailbox domain's EWS URL is found on first use (autodiscover_int.h). */
#include "autodiscover_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "client_int.h"

/* redirectAddr / redirectUrl hops followed at most (Microsoft suggests a small limit). */
#define MAX_HOPS 3
#define AD_MAX_ANSWER (1024 * 1024)

struct ews_discovery {
    char email[EWS_AD_URL_MAX];
    struct ews_ad_step steps[EWS_AD_MAX_STEPS];
    int n_steps;
    int step;
    int hops;
    char redirect[EWS_AD_URL_MAX]; /* an https URL to POST the POX request to next */
    struct ews_xfer *xfer;
    char last_error[256];
};

/* A mailbox domain of the client's autodiscover mode. */
struct ews_discovered {
    struct ews_discovered *next;
    struct ews_client *c;
    char domain[256];
    int server;        /* pool index, -1 while discovering */
    struct ews_op *op; /* the discovery in progress */
};

static int discovery_reset(struct ews_discovery *d, const char *email);
static void run_step(struct ews_op *op);
static void on_step_done(void *ud, const struct ews_http_result *r);
static void on_domain_found(void *ud, const char *url, const struct ews_error *err);
static const char *domain_of(const char *mailbox);
static struct ews_discovered **find_domain(struct ews_client *c, const char *domain);

static int
discovery_reset(struct ews_discovery *d, const char *email)
{
    snprintf(d->email, sizeof(d->email), "%s", email);
    d->n_steps = ews_ad_steps(d->email, d->steps);
    d->step = 0;
    d->redirect[0] = '\0';
    return d->n_steps < 0 ? d->n_steps : 0;
}

int
ews_autodiscover(struct ews_client *c, const char *email, ews_discover_cb cb, void *ud,
                 struct ews_op **op_out)
{
    struct ews_op *op;

    if (email == NULL || cb == NULL)
        return EWS_E_INVAL;
    op = ews_op_new(c, OP_DISCOVER, email, (void *)cb, ud);
    if (op == NULL)
        return EWS_E_NOMEM;
    op->disco = calloc(1, sizeof(*op->disco));
    if (op->disco == NULL) {
        ews_op_free(op);
        return EWS_E_NOMEM;
    }
    if (discovery_reset(op->disco, email) < 0) {
        ews_op_free(op);
        return EWS_E_INVAL;
    }
    run_step(op);
    if (op_out != NULL)
        *op_out = op;
    return 0;
}

/* Starts the next place to ask; when none is left, fails the operation from the loop. */
static void
run_step(struct ews_op *op)
{
    struct ews_client *c = op->c;
    struct ews_discovery *d = op->disco;
    struct ews_error err;
    char why[256];

    while (d->redirect[0] != '\0' || d->step < d->n_steps) {
        struct ews_http_req hr = {0};
        enum ews_ad_kind kind = d->redirect[0] != '\0' ? EWS_AD_POX : d->steps[d->step].kind;
        char *body = NULL;

        hr.url = d->redirect[0] != '\0' ? d->redirect : d->steps[d->step].url;
        hr.timeout_s = c->timeout_s;
        hr.max_body = AD_MAX_ANSWER;
        if (kind == EWS_AD_REDIRECT) {
            hr.no_auth = true;
            hr.allow_http = true;
        } else {
            body = kind == EWS_AD_POX ? ews_ad_build_pox(d->email)
                                      : ews_ad_build_soap(d->email, hr.url);
            if (body == NULL)
                break;
            hr.body = body;
            hr.body_len = strlen(body);
            if (kind == EWS_AD_SOAP)
                hr.soap_action =
                    "http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/"
                    "GetUserSettings";
        }
        ews_logf(c, EWS_LOG_DEBUG, "autodiscover: %s: trying %s", d->email, hr.url);
        if (c->dump != NULL && body != NULL)
            c->dump(c->dump_ud, "request", hr.url, body, hr.body_len);
        d->xfer = ews_http_start(c->http, &hr, NULL, on_step_done, op, why, sizeof(why));
        free(body);
        if (d->xfer != NULL)
            return;
        snprintf(d->last_error, sizeof(d->last_error), "%s", why);
        if (d->redirect[0] != '\0')
            d->redirect[0] = '\0';
        else
            d->step++;
    }
    ews_error_set(&err, EWS_ERR_REDISCOVER, 0, "", "autodiscover found no EWS URL for %s (%s)",
                  d->email, d->last_error[0] != '\0' ? d->last_error : "no answer");
    ews_op_fail_later(op, EWS_E_RESPONSE, &err);
}

/* True when URL (https://HOST[:PORT]/...) names DOMAIN or a host under it. The unauthenticated
 * redirect GET travels over plain http, so anyone on the path can answer it; the service
 * account's credentials then go to wherever it points. On premises the target is always the
 * organisation's own domain, so nothing else is followed. */
static bool
url_in_domain(const char *url, const char *domain)
{
    const char *host = url + strlen("https://");
    size_t len = strcspn(host, ":/?#");
    size_t dlen = strlen(domain);
    if (dlen == 0 || len < dlen || memchr(host, '@', len) != NULL)
        return false;
    if (strncasecmp(host + len - dlen, domain, dlen) != 0)
        return false;
    return len == dlen || host[len - dlen - 1] == '.';
}

static void
on_step_done(void *ud, const struct ews_http_result *r)
{
    struct ews_op *op = ud;
    struct ews_client *c = op->c;
    struct ews_discovery *d = op->disco;
    bool was_redirect = d->redirect[0] != '\0';
    enum ews_ad_kind kind = was_redirect ? EWS_AD_POX : d->steps[d->step].kind;
    struct ews_ad_answer a;
    struct ews_error none;
    char status[32];

    const char *at = strrchr(d->email, '@');
    const char *domain = at != NULL ? at + 1 : "";

    d->xfer = NULL;
    d->redirect[0] = '\0';
    if (!was_redirect)
        d->step++;
    if (c->dump != NULL) {
        snprintf(status, sizeof(status), "HTTP %ld", r->status);
        c->dump(c->dump_ud, "response", status, r->body, r->len);
    }
    if (r->code != CURLE_OK) {
        snprintf(d->last_error, sizeof(d->last_error), "%s", r->error);
    } else if (kind == EWS_AD_REDIRECT) {
        /* Only an https target is followed: the answer came over plain http. */
        if ((r->status == 301 || r->status == 302) && r->location != NULL &&
            strncasecmp(r->location, "https://", 8) == 0 && !url_in_domain(r->location, domain)) {
            ews_logf(c, EWS_LOG_WARN,
                     "autodiscover: %s: redirect GET points outside %s, not followed (%s)",
                     d->email, domain, r->location);
            snprintf(d->last_error, sizeof(d->last_error), "redirect GET: outside %s", domain);
        } else if ((r->status == 301 || r->status == 302) && r->location != NULL &&
                   strncasecmp(r->location, "https://", 8) == 0 && d->hops++ < MAX_HOPS)
            snprintf(d->redirect, sizeof(d->redirect), "%s", r->location);
        else
            snprintf(d->last_error, sizeof(d->last_error), "redirect GET: HTTP %ld", r->status);
    } else if (r->status != 200) {
        snprintf(d->last_error, sizeof(d->last_error), "HTTP %ld", r->status);
    } else if (ews_ad_parse(r->body, r->len, kind == EWS_AD_SOAP, &a) < 0) {
        snprintf(d->last_error, sizeof(d->last_error), "unusable answer");
    } else if (a.ews_url[0] != '\0' && strncasecmp(a.ews_url, "https://", 8) == 0) {
        ews_logf(c, EWS_LOG_INFO, "autodiscover: %s: EWS at %s", d->email, a.ews_url);
        memset(&none, 0, sizeof(none));
        snprintf(d->redirect, sizeof(d->redirect), "%s", a.ews_url);
        ews_op_finish(op, 0, &none);
        return;
    } else if (a.redirect_addr[0] != '\0' && d->hops++ < MAX_HOPS) {
        ews_logf(c, EWS_LOG_INFO, "autodiscover: %s: redirected to %s", d->email, a.redirect_addr);
        if (discovery_reset(d, a.redirect_addr) < 0)
            d->n_steps = 0;
    } else if (a.redirect_url[0] != '\0' && strncasecmp(a.redirect_url, "https://", 8) == 0 &&
               d->hops++ < MAX_HOPS) {
        snprintf(d->redirect, sizeof(d->redirect), "%s", a.redirect_url);
    } else {
        snprintf(d->last_error, sizeof(d->last_error), "%s",
                 a.error[0] != '\0' ? a.error : "no https EWS URL in the answer");
    }
    run_step(op);
}

void
ews_discovery_op_free(struct ews_op *op)
{
    if (op->disco == NULL)
        return;
    if (op->disco->xfer != NULL)
        ews_http_cancel(op->disco->xfer);
    free(op->disco);
    op->disco = NULL;
}

/* On success the URL found waits in d->redirect (set by on_step_done). */
void
ews_discovery_op_finish(struct ews_op *op, int rc, const struct ews_error *err)
{
    ((ews_discover_cb)op->cb)(op->ud, rc == 0 ? op->disco->redirect : NULL, err);
}

static const char *
domain_of(const char *mailbox)
{
    const char *at = strrchr(mailbox, '@');

    return at != NULL && at[1] != '\0' ? at + 1 : NULL;
}

static struct ews_discovered **
find_domain(struct ews_client *c, const char *domain)
{
    struct ews_discovered **p = &c->discovered;

    while (*p != NULL && strcasecmp((*p)->domain, domain) != 0)
        p = &(*p)->next;
    return p;
}

int
ews_discovery_wait(struct ews_client *c, struct ews_req *req)
{
    const char *domain = domain_of(req->op->mailbox);
    struct ews_discovered **slot;
    struct ews_discovered *d;
    int rc;

    if (domain == NULL || strlen(domain) >= sizeof(d->domain))
        return EWS_E_INVAL;
    slot = find_domain(c, domain);
    d = *slot;
    if (d != NULL && d->server >= 0) {
        rc = ews_pool_pin(&c->pool, req->op->mailbox, (size_t)d->server);
        if (rc == 0)
            rc = ews_pool_enqueue(&c->pool, (size_t)d->server, &req->qn, false);
        if (rc < 0)
            return rc;
        req->server = d->server;
        ews_client_dispatch(c, (size_t)d->server);
        return 0;
    }
    if (c->pool.pending + c->n_waiting >= c->max_pending) {
        ews_logf(c, EWS_LOG_WARN, "queue: %s: %s refused (queue full)", req->op->mailbox,
                 req->action);
        return EWS_E_QUEUE_FULL;
    }
    if (d == NULL) {
        d = calloc(1, sizeof(*d));
        if (d == NULL)
            return EWS_E_NOMEM;
        d->c = c;
        d->server = -1;
        snprintf(d->domain, sizeof(d->domain), "%s", domain);
        rc = ews_autodiscover(c, req->op->mailbox, on_domain_found, d, &d->op);
        if (rc < 0) {
            free(d);
            return rc;
        }
        *slot = d;
    }
    TAILQ_INSERT_TAIL(&c->disco_wait, req, wait_link);
    req->waiting = true;
    c->n_waiting++;
    return 0;
}

void
ews_discovery_unwait(struct ews_client *c, struct ews_req *req)
{
    TAILQ_REMOVE(&c->disco_wait, req, wait_link);
    req->waiting = false;
    c->n_waiting--;
}

/* The domain's URL is known (or not): release the requests that waited for it. */
static void
on_domain_found(void *ud, const char *url, const struct ews_error *err)
{
    struct ews_discovered *d = ud;
    struct ews_client *c = d->c;
    struct ews_req *req;
    struct ews_req *next;
    int idx = url != NULL ? ews_client_add_server(c, url) : EWS_E_INVAL;
    char domain[sizeof(d->domain)];
    struct ews_error oom;

    ews_error_set(&oom, EWS_ERR_OTHER, 0, "", "cannot add %s to the pool", url ? url : "?");
    snprintf(domain, sizeof(domain), "%s", d->domain);
    d->op = NULL;
    d->server = idx;
    if (idx < 0) {
        /* Unlinked first: a callback below may ask for the domain again, which must start a
         * new discovery rather than wait for this finished one. */
        *find_domain(c, domain) = d->next;
        free(d);
    }
    /* Only the requests waiting now are this discovery's: one a callback below submits for
     * the domain waits for the new discovery it started. */
    TAILQ_FOREACH(req, &c->disco_wait, wait_link)
    {
        const char *dom = domain_of(req->op->mailbox);

        req->released = dom != NULL && strcasecmp(dom, domain) == 0;
    }
    for (req = TAILQ_FIRST(&c->disco_wait); req != NULL; req = next) {
        next = TAILQ_NEXT(req, wait_link);
        if (!req->released)
            continue;
        ews_discovery_unwait(c, req);
        if (idx >= 0 && ews_pool_pin(&c->pool, req->op->mailbox, (size_t)idx) == 0) {
            /* Already accepted once: not refused by the queue bound now. */
            ews_pool_enqueue(&c->pool, (size_t)idx, &req->qn, true);
            req->server = idx;
            continue;
        }
        /* Finishing the operation frees its other requests, possibly NEXT: start over. */
        ews_op_finish(req->op, EWS_E_RESPONSE, err != NULL ? err : &oom);
        next = TAILQ_FIRST(&c->disco_wait);
    }
    if (idx >= 0)
        ews_client_dispatch(c, (size_t)idx);
}

void
ews_discovery_forget(struct ews_client *c, const char *mailbox)
{
    const char *domain = domain_of(mailbox);
    struct ews_discovered **slot;
    struct ews_discovered *d;

    ews_pool_forget(&c->pool, mailbox);
    if (domain == NULL)
        return;
    slot = find_domain(c, domain);
    d = *slot;
    if (d == NULL || d->server < 0)
        return;
    *slot = d->next;
    free(d);
}

void
ews_discovery_clear(struct ews_client *c)
{
    while (c->discovered != NULL) {
        struct ews_discovered *d = c->discovered;

        /* Its discovery operation, if any, was freed with the client's other operations. */
        c->discovered = d->next;
        free(d);
    }
}
