/* Server health: down servers and their probes, the weak-TLS and Negotiate fallbacks,
 * ServerVersionInfo, and the pool state the engine and the troubleshooter read. */
#include "client_int.h"

#include <event2/event.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void arm_probe(struct ews_client *c, size_t idx);
static void requeue_elsewhere(struct ews_client *c, size_t idx);
static void on_probe_timer(evutil_socket_t fd, short events, void *arg);
static void on_probe_done(void *ud, const struct ews_http_result *r);

bool
ews_client_auth_fallback(struct ews_client *c, const struct ews_http_result *r)
{
    if (r->code != CURLE_OK || r->status != 401 ||
        !ews_auth_drop_negotiate(&c->auth, r->auth_avail))
        return false;
    /* Only auth = any gets here: trying Kerberos first and falling back is what `any` means,
     * so on a host without a ticket this happens on every healthy start and is no warning. */
    ews_logf(c, EWS_LOG_INFO,
             "auth: Negotiate (Kerberos) refused or impossible here (no ticket?); using NTLM or "
             "Basic from now on (auth = any)");
    return true;
}

/* True for a verification failure that OpenSSL's security level 0 cures: a weak key or
 * digest in an otherwise trusted chain. Anything else (an untrusted issuer, a wrong name, an
 * expired certificate) fails at every level and must not leave the server at level 0. */
static bool
weak_verify_error(long result)
{
    return result == X509_V_ERR_EE_KEY_TOO_SMALL || result == X509_V_ERR_CA_KEY_TOO_SMALL ||
           result == X509_V_ERR_CA_MD_TOO_WEAK;
}

/* Sees every answer of server IDX. A handshake failure (which may be a connection reset in the
 * middle of a handshake) is retried once at the default level; only a second one in a row, or a
 * weak key or digest, moves the server to level 0, and that holds only once a handshake at
 * level 0 succeeded: one that fails the same way puts the server back at the default level.
 * True when the request must be sent again. */
bool
ews_client_try_weak_tls(struct ews_client *c, size_t idx, const struct ews_http_result *r)
{
    struct ews_server_extra *x = c->extra[idx];
    const char *url = c->pool.servers[idx].url;
    bool reset = r->code == CURLE_SSL_CONNECT_ERROR;
    bool weak_key =
        r->code == CURLE_PEER_FAILED_VERIFICATION && weak_verify_error(r->verify_result);

    if (!c->allow_weak_tls)
        return false;
    if (!reset && !weak_key) {
        if (r->code == CURLE_OK && x->weak_tls && !x->weak_confirmed) {
            x->weak_confirmed = true;
            ews_logf(c, EWS_LOG_WARN,
                     "tls: %s: handshake at security level 0 succeeded; keeping "
                     "level 0 for this server (weak_certificates = warn)",
                     url);
        }
        if (r->code == CURLE_OK)
            x->tls_failures = 0;
        return false;
    }
    if (x->weak_tls) {
        if (!x->weak_confirmed) {
            x->weak_tls = false;
            x->tls_failures = 0;
            ews_logf(c, EWS_LOG_WARN,
                     "tls: %s: handshake failed at security level 0 too (%s); back to the "
                     "default level",
                     url, r->error);
        }
        return false;
    }
    if (reset && ++x->tls_failures < 2) {
        ews_logf(c, EWS_LOG_INFO,
                 "tls: %s: handshake failed (%s); retrying once at the default security level", url,
                 r->error);
        return true;
    }
    x->tls_failures = 0;
    x->weak_tls = true;
    ews_logf(c, EWS_LOG_WARN,
             "tls: %s: handshake failed at the default security level (%s); trying security "
             "level 0 for this server (weak_certificates = warn)",
             url, r->error);
    return true;
}

void
ews_client_record_info(struct ews_client *c, size_t idx, const char *body, size_t len)
{
    struct ews_server_info info;

    if (ews_parse_server_info(body, len, &info) == 0) {
        c->extra[idx]->info = info;
        c->extra[idx]->have_info = true;
    }
}

/* The requests still queued for the down server IDX follow their mailboxes, which
 * ews_pool_server_for moves to a healthy server, rather than each failing against IDX (or
 * waiting out the timeout of a server that hangs). They keep their order and, having been
 * accepted once, are not refused by the queue bound. */
static void
requeue_elsewhere(struct ews_client *c, size_t idx)
{
    struct ews_qhead moving = TAILQ_HEAD_INITIALIZER(moving);
    struct ews_qnode *node;

    while ((node = TAILQ_FIRST(&c->pool.servers[idx].queue)) != NULL) {
        ews_pool_unqueue(&c->pool, idx, node);
        TAILQ_INSERT_TAIL(&moving, node, link);
    }
    if (TAILQ_EMPTY(&moving))
        return;
    while ((node = TAILQ_FIRST(&moving)) != NULL) {
        struct ews_req *req = (struct ews_req *)node;
        int to = ews_pool_server_for(&c->pool, req->op->mailbox);

        TAILQ_REMOVE(&moving, node, link);
        req->server = to >= 0 ? to : (int)idx;
        if (ews_pool_enqueue(&c->pool, (size_t)req->server, node, false) < 0)
            ews_pool_enqueue(&c->pool, (size_t)req->server, node, true);
    }
    for (size_t i = 0; i < c->pool.n; i++)
        ews_client_dispatch(c, i);
}

void
ews_client_server_failed(struct ews_client *c, size_t idx, const char *why)
{
    if (!c->pool.servers[idx].healthy)
        return;
    ews_pool_mark_down(&c->pool, idx);
    ews_logf(c, EWS_LOG_WARN, "pool: %s: server down (%s)", c->pool.servers[idx].url, why);
    arm_probe(c, idx);
    requeue_elsewhere(c, idx);
}

static void
arm_probe(struct ews_client *c, size_t idx)
{
    struct ews_server_extra *x = c->extra[idx];
    struct timeval tv = {.tv_sec = c->probe_interval_s, .tv_usec = 0};

    if (x->probe == NULL)
        x->probe = evtimer_new(c->base, on_probe_timer, x);
    if (x->probe != NULL)
        evtimer_add(x->probe, &tv);
}

/* Probes a down server with GetFolder of the service account's own calendar: any EWS answer,
 * even an error about that mailbox, proves the server is back. */
static void
on_probe_timer(evutil_socket_t fd, short events, void *arg)
{
    struct ews_server_extra *x = arg;
    struct ews_client *c = x->c;
    struct ews_request_ctx ctx = ews_client_ctx(c, NULL);
    struct ews_http_req hr = {0};
    char *body = ews_build_get_calendar_folder(&ctx);
    char why[256];

    (void)fd;
    (void)events;
    if (body == NULL) {
        arm_probe(c, x->idx);
        return;
    }
    hr.url = c->pool.servers[x->idx].url;
    hr.body = body;
    hr.body_len = strlen(body);
    hr.soap_action = "GetFolder";
    hr.weak_tls = x->weak_tls;
    hr.timeout_s = c->timeout_s;
    hr.max_body = EWS_MAX_ANSWER;
    x->probe_xfer = ews_http_start(c->http, &hr, NULL, on_probe_done, x, why, sizeof(why));
    free(body);
    if (x->probe_xfer == NULL) {
        ews_logf(c, EWS_LOG_WARN, "pool: %s: probe not sent (%s)", hr.url, why);
        arm_probe(c, x->idx);
    }
}

static void
on_probe_done(void *ud, const struct ews_http_result *r)
{
    struct ews_server_extra *x = ud;
    struct ews_client *c = x->c;
    struct ews_error err;

    x->probe_xfer = NULL;
    if (ews_client_try_weak_tls(c, x->idx, r)) {
        on_probe_timer(-1, 0, x);
        return;
    }
    /* Any HTTP answer, even a 401, shows the server is up; credentials are not its health. */
    if (r->code == CURLE_OK &&
        ews_classify((int)r->status, r->body, r->len, &err) != EWS_ERR_SERVER_DOWN) {
        ews_pool_mark_up(&c->pool, x->idx);
        ews_logf(c, EWS_LOG_INFO, "pool: %s: server up again (probe answered HTTP %ld)",
                 c->pool.servers[x->idx].url, r->status);
        ews_client_dispatch(c, x->idx);
        return;
    }
    ews_logf(c, EWS_LOG_DEBUG, "pool: %s: still down (%s)", c->pool.servers[x->idx].url,
             r->code != CURLE_OK ? r->error : "no EWS answer");
    arm_probe(c, x->idx);
}

size_t
ews_client_n_servers(const struct ews_client *c)
{
    return c->pool.n;
}

int
ews_client_server_status(const struct ews_client *c, size_t idx, struct ews_server_status *out)
{
    const struct ews_server *s;

    if (idx >= c->pool.n)
        return EWS_E_INVAL;
    s = &c->pool.servers[idx];
    out->url = s->url;
    out->healthy = s->healthy;
    out->in_flight = s->in_flight;
    out->queued = s->queued;
    out->mailboxes = s->assigned;
    out->backoff_left_ms = (long)ews_pool_backoff_left(&c->pool, idx, ews_now_ms());
    out->info = c->extra[idx]->info;
    return 0;
}

const char *
ews_client_server_of(const struct ews_client *c, const char *mailbox)
{
    int idx = ews_pool_lookup(&c->pool, mailbox);

    return idx < 0 ? NULL : c->pool.servers[idx].url;
}

const char *
ews_client_reassign(struct ews_client *c, const char *mailbox)
{
    int idx;

    if (c->pool.n == 0)
        return NULL;
    idx = ews_pool_reassign(&c->pool, mailbox);
    if (idx < 0)
        return NULL;
    ews_logf(c, EWS_LOG_INFO, "pool: %s: now on %s", mailbox, c->pool.servers[idx].url);
    return c->pool.servers[idx].url;
}

void
ews_client_forget(struct ews_client *c, const char *mailbox)
{
    ews_pool_forget(&c->pool, mailbox);
}

int
ews_client_pin(struct ews_client *c, const char *mailbox, const char *url)
{
    for (size_t i = 0; i < c->pool.n; i++)
        if (strcmp(c->pool.servers[i].url, url) == 0)
            return ews_pool_pin(&c->pool, mailbox, i);
    return EWS_E_INVAL;
}

int
ews_client_set_timeout(struct ews_client *c, int timeout)
{
    if (timeout < 1)
        return EWS_E_INVAL;
    c->timeout_s = timeout;
    return 0;
}
