/* The client: life cycle, queueing through the pool, retries, server health (client_int.h). */
#include "client_int.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int copy_config(struct ews_client *c, const struct ews_config *cfg, char *why,
                       size_t whylen);
static void start_req(struct ews_client *c, struct ews_req *req);
static int add_extra(struct ews_client *c, size_t idx);
static void on_req_done(void *ud, const struct ews_http_result *r);
static int classify_answer(struct ews_client *c, struct ews_req *req,
                           const struct ews_http_result *r, struct ews_error *err);
static bool retry_later(struct ews_client *c, struct ews_req *req, const struct ews_error *err,
                        long retry_after_s);
static void on_wake(evutil_socket_t fd, short events, void *arg);
static void on_defer(evutil_socket_t fd, short events, void *arg);
static void req_free(struct ews_req *req);

void
ews_logf(struct ews_client *c, int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (c->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->log(c->log_ud, level, "ews", msg);
}

void
ews_error_set(struct ews_error *err, enum ews_error_class cls, int http_status, const char *code,
              const char *fmt, ...)
{
    va_list ap;

    memset(err, 0, sizeof(*err));
    err->cls = cls;
    err->http_status = http_status;
    snprintf(err->code, sizeof(err->code), "%s", code != NULL ? code : "");
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

static int
copy_config(struct ews_client *c, const struct ews_config *cfg, char *why, size_t whylen)
{
    if (cfg->n_urls == 0 || cfg->urls == NULL) {
        snprintf(why, whylen, "no EWS URL configured");
        return EWS_E_INVAL;
    }
    if (cfg->timeout < 1 || cfg->queue < 1 || cfg->concurrency < 1) {
        snprintf(why, whylen, "timeout, queue and concurrency must be at least 1");
        return EWS_E_INVAL;
    }
    c->autodiscover = cfg->n_urls == 1 && strcmp(cfg->urls[0], "autodiscover") == 0;
    for (size_t i = 0; !c->autodiscover && i < cfg->n_urls; i++) {
        if (!ews_http_url_allowed(cfg->urls[i], cfg->allow_http_for_tests)) {
            /* Never echo a URL holding a password into the log. */
            snprintf(why, whylen, "%s: only https:// URLs without user:password@ are allowed",
                     ews_http_url_has_userinfo(cfg->urls[i]) ? "ews_urls" : cfg->urls[i]);
            return EWS_E_INVAL;
        }
    }
    c->imp = cfg->impersonation;
    c->version = cfg->server_version;
    c->timeout_s = cfg->timeout;
    c->max_pending = cfg->queue;
    c->probe_interval_s = cfg->probe_interval > 0 ? cfg->probe_interval : 10;
    c->allow_weak_tls = cfg->allow_weak_tls;
    c->log = cfg->log;
    c->log_ud = cfg->log_ud;
    c->dump = cfg->dump;
    c->dump_ud = cfg->dump_ud;
    c->trust_dir =
        cfg->trust_dir != NULL && cfg->trust_dir[0] != '\0' ? strdup(cfg->trust_dir) : NULL;
    c->ca_file = cfg->ca_file != NULL && cfg->ca_file[0] != '\0' ? strdup(cfg->ca_file) : NULL;
    c->opts.trust_dir = c->trust_dir;
    c->opts.ca_file = c->ca_file;
    c->opts.allow_http = cfg->allow_http_for_tests;
    for (size_t i = 0; i < cfg->n_connect_to; i++) {
        struct curl_slist *l = curl_slist_append(c->opts.connect_to, cfg->connect_to_for_tests[i]);

        if (l == NULL)
            return EWS_E_NOMEM;
        c->opts.connect_to = l;
    }
    return 0;
}

int
ews_client_new(struct event_base *base, const struct ews_config *cfg, struct ews_client **out)
{
    struct ews_client *c = calloc(1, sizeof(*c));
    char why[256] = "out of memory";
    int rc;

    *out = NULL;
    if (c == NULL)
        return EWS_E_NOMEM;
    c->base = base;
    TAILQ_INIT(&c->ops);
    TAILQ_INIT(&c->disco_wait);
    c->log = cfg->log;
    c->log_ud = cfg->log_ud;
    rc = copy_config(c, cfg, why, sizeof(why));
    if (rc == 0)
        rc = ews_auth_init(&c->auth, cfg, why, sizeof(why));
    if (rc == 0) {
        rc = ews_pool_init(&c->pool, c->autodiscover ? NULL : cfg->urls,
                           c->autodiscover ? 0 : cfg->n_urls, cfg->queue, cfg->concurrency);
        for (size_t i = 0; rc == 0 && i < c->pool.n; i++)
            rc = add_extra(c, i);
    }
    if (rc == 0) {
        c->http = ews_http_new(base, &c->opts, &c->auth);
        if (c->http == NULL)
            rc = EWS_E_NOMEM;
    }
    if (rc < 0) {
        ews_logf(c, EWS_LOG_ERROR, "client: cannot start (%s)", why);
        ews_client_destroy(c);
        return rc;
    }
    *out = c;
    return 0;
}

void
ews_client_destroy(struct ews_client *c)
{
    struct ews_op *op;

    if (c == NULL)
        return;
    while ((op = TAILQ_FIRST(&c->ops)) != NULL)
        ews_op_free(op);
    ews_discovery_clear(c);
    for (size_t i = 0; i < c->n_extra; i++) {
        struct ews_server_extra *x = c->extra[i];

        if (x->probe_xfer != NULL)
            ews_http_cancel(x->probe_xfer);
        if (x->wake != NULL)
            event_free(x->wake);
        if (x->probe != NULL)
            event_free(x->probe);
        free(x);
    }
    ews_http_free(c->http);
    free(c->extra);
    ews_pool_clear(&c->pool);
    ews_auth_clear(&c->auth);
    curl_slist_free_all(c->opts.connect_to);
    free(c->trust_dir);
    free(c->ca_file);
    free(c);
}

/* Allocates the extra state of pool server IDX (the pointer array grows to hold it). */
static int
add_extra(struct ews_client *c, size_t idx)
{
    struct ews_server_extra **arr = realloc(c->extra, (idx + 1) * sizeof(*arr));

    if (arr == NULL)
        return EWS_E_NOMEM;
    c->extra = arr;
    arr[idx] = calloc(1, sizeof(**arr));
    if (arr[idx] == NULL)
        return EWS_E_NOMEM;
    arr[idx]->c = c;
    arr[idx]->idx = idx;
    arr[idx]->info.major = -1;
    c->n_extra = idx + 1;
    return 0;
}

int
ews_client_add_server(struct ews_client *c, const char *url)
{
    int idx;
    int rc;

    for (size_t i = 0; i < c->pool.n; i++)
        if (strcmp(c->pool.servers[i].url, url) == 0)
            return (int)i;
    if (!ews_http_url_allowed(url, c->opts.allow_http))
        return EWS_E_INVAL;
    idx = ews_pool_add(&c->pool, url);
    if (idx < 0)
        return idx;
    rc = add_extra(c, (size_t)idx);
    if (rc < 0) {
        ews_pool_remove_last(&c->pool);
        return rc;
    }
    ews_logf(c, EWS_LOG_INFO, "pool: %s: server added", url);
    return idx;
}

struct ews_request_ctx
ews_client_ctx(const struct ews_client *c, const char *mailbox)
{
    struct ews_request_ctx ctx;

    ctx.version = c->version;
    ctx.imp.kind = mailbox != NULL ? c->imp : EWS_IMP_NONE;
    ctx.imp.value = mailbox;
    return ctx;
}

struct ews_op *
ews_op_new(struct ews_client *c, enum ews_op_kind kind, const char *mailbox, void *cb, void *ud)
{
    struct ews_op *op = calloc(1, sizeof(*op));

    if (op == NULL)
        return NULL;
    op->mailbox = strdup(mailbox);
    if (op->mailbox == NULL) {
        free(op);
        return NULL;
    }
    op->c = c;
    op->kind = kind;
    op->cb = cb;
    op->ud = ud;
    op->submitted_ms = ews_now_ms();
    LIST_INIT(&op->reqs);
    TAILQ_INSERT_TAIL(&c->ops, op, link);
    return op;
}

static void
req_free(struct ews_req *req)
{
    struct ews_client *c = req->op->c;

    if (req->xfer != NULL) {
        ews_http_cancel(req->xfer);
        ews_pool_done(&c->pool, (size_t)req->server);
    } else if (req->waiting) {
        ews_discovery_unwait(c, req);
    } else if (!req->running && req->server >= 0) {
        ews_pool_unqueue(&c->pool, (size_t)req->server, &req->qn);
    }
    LIST_REMOVE(req, op_link);
    free(req->body);
    free(req);
}

int
ews_op_submit(struct ews_op *op, char *body, const char *action, bool at_front,
              struct ews_req **out)
{
    struct ews_client *c = op->c;
    struct ews_req *req;
    int idx;
    int rc;

    if (body == NULL)
        return EWS_E_NOMEM;
    req = calloc(1, sizeof(*req));
    if (req == NULL) {
        free(body);
        return EWS_E_NOMEM;
    }
    req->op = op;
    req->body = body;
    req->body_len = strlen(body);
    req->action = action;
    req->server = -1;
    LIST_INSERT_HEAD(&op->reqs, req, op_link);
    if (out != NULL)
        *out = req;
    if (c->autodiscover && ews_pool_lookup(&c->pool, op->mailbox) < 0) {
        rc = ews_discovery_wait(c, req);
        if (rc < 0)
            req_free(req);
        return rc;
    }
    idx = ews_pool_server_for(&c->pool, op->mailbox);
    if (idx < 0) {
        req_free(req);
        return idx;
    }
    rc = ews_pool_enqueue(&c->pool, (size_t)idx, &req->qn, at_front);
    if (rc < 0) {
        ews_logf(c, EWS_LOG_WARN, "queue: %s: %s refused (queue full, %zu waiting)", op->mailbox,
                 action, c->pool.pending);
        req_free(req);
        return rc;
    }
    req->server = idx;
    ews_client_dispatch(c, (size_t)idx);
    return 0;
}

void
ews_client_dispatch(struct ews_client *c, size_t idx)
{
    struct ews_qnode *node;
    uint64_t left;

    while ((node = ews_pool_next(&c->pool, idx, ews_now_ms())) != NULL) {
        struct ews_req *req = (struct ews_req *)node;

        req->running = true;
        start_req(c, req);
    }
    left = ews_pool_backoff_left(&c->pool, idx, ews_now_ms());
    if (left > 0 && c->pool.servers[idx].queued > 0) {
        struct timeval tv = {.tv_sec = (time_t)(left / 1000),
                             .tv_usec = (suseconds_t)(left % 1000) * 1000};

        struct ews_server_extra *x = c->extra[idx];

        if (x->wake == NULL)
            x->wake = evtimer_new(c->base, on_wake, x);
        if (x->wake != NULL && !evtimer_pending(x->wake, NULL))
            evtimer_add(x->wake, &tv);
    }
}

/* The back-off of a server ended: send what waited. */
static void
on_wake(evutil_socket_t fd, short events, void *arg)
{
    struct ews_server_extra *x = arg;

    (void)fd;
    (void)events;
    ews_client_dispatch(x->c, x->idx);
}

/* Starts the HTTP transfer of REQ (already counted in flight by the pool). A transfer that
 * cannot even start fails its operation from the loop. */
static void
start_req(struct ews_client *c, struct ews_req *req)
{
    struct ews_op *op = req->op;
    struct ews_http_req hr = {0};
    struct ews_error err;
    char why[256];

    hr.url = c->pool.servers[req->server].url;
    hr.body = req->body;
    hr.body_len = req->body_len;
    hr.soap_action = req->action;
    /* X-AnchorMailbox routes the request to the mailbox's server; always set with
     * impersonation (PROTOCOL-NOTES: otherwise 500/503s on 2013+). */
    hr.anchor_mailbox = c->imp != EWS_IMP_NONE ? op->mailbox : NULL;
    hr.timeout_s = c->timeout_s;
    hr.max_body = EWS_MAX_ANSWER;
    hr.weak_tls = c->extra[req->server]->weak_tls;
    if (c->dump != NULL)
        c->dump(c->dump_ud, "request", hr.url, req->body, req->body_len);
    req->sent_us = ews_now_us();
    req->xfer = ews_http_start(c->http, &hr, NULL, on_req_done, req, why, sizeof(why));
    if (req->xfer == NULL) {
        ews_pool_done(&c->pool, (size_t)req->server);
        ews_logf(c, EWS_LOG_ERROR, "http: %s: %s not sent (%s)", op->mailbox, req->action, why);
        ews_error_set(&err, c->auth.kind == EWS_AUTH_BEARER ? EWS_ERR_AUTH_FAILURE : EWS_ERR_OTHER,
                      0, "", "%s", why);
        ews_op_fail_later(op, EWS_E_TRANSPORT, &err);
    }
}

/* Turns a finished transfer into 0 (200 answer, to be parsed) or a negative rc with ERR. */
static int
classify_answer(struct ews_client *c, struct ews_req *req, const struct ews_http_result *r,
                struct ews_error *err)
{
    const char *url = c->pool.servers[req->server].url;

    memset(err, 0, sizeof(*err));
    if (r->too_large) {
        ews_error_set(err, EWS_ERR_MALFORMED, (int)r->status, "", "answer larger than %u bytes",
                      (unsigned)EWS_MAX_ANSWER);
        return EWS_E_TOO_LARGE;
    }
    if (r->code != CURLE_OK) {
        ews_error_set(err, EWS_ERR_SERVER_DOWN, 0, "", "%s", r->error);
        return EWS_E_TRANSPORT;
    }
    if (r->status == 401) {
        /* libcurl already answered the server's challenge: the credentials were refused.
         * Reported, never retried (a loop would lock the service account out). */
        ews_error_set(err, EWS_ERR_AUTH_FAILURE, 401, "", "credentials refused by %s", url);
        return EWS_E_RESPONSE;
    }
    if (r->status != 200) {
        ews_classify((int)r->status, r->body, r->len, err);
        if (err->cls == EWS_ERR_NONE)
            ews_error_set(err, EWS_ERR_OTHER, (int)r->status, "", "HTTP %ld", r->status);
        return err->cls == EWS_ERR_SERVER_DOWN ? EWS_E_TRANSPORT : EWS_E_RESPONSE;
    }
    return 0;
}

uint32_t
ews_backoff_ms(const struct ews_error *err, long retry_after_s)
{
    uint64_t ms = err->backoff_ms > 0  ? (uint64_t)err->backoff_ms
                  : retry_after_s >= 0 ? (uint64_t)retry_after_s * 1000u
                                       : EWS_DEFAULT_BACKOFF_MS;

    return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

/* ErrorServerBusy / 503: waits exactly the server's back-off before the next request to that
 * server, and requeues REQ first in line when it can still start within `timeout` of the call.
 * Returns true when REQ was requeued. */
static bool
retry_later(struct ews_client *c, struct ews_req *req, const struct ews_error *err,
            long retry_after_s)
{
    uint64_t now = ews_now_ms();
    uint64_t backoff = ews_backoff_ms(err, retry_after_s);
    size_t idx = (size_t)req->server;

    ews_pool_backoff(&c->pool, idx, now, (uint32_t)backoff);
    if (now + backoff > req->op->submitted_ms + (uint64_t)c->timeout_s * 1000u)
        return false;
    ews_logf(c, EWS_LOG_INFO, "throttle: %s: %s: %s, retrying in %llu ms", req->op->mailbox,
             c->pool.servers[idx].url, err->code[0] != '\0' ? err->code : "HTTP 503",
             (unsigned long long)backoff);
    req->running = false;
    ews_pool_enqueue(&c->pool, idx, &req->qn, true);
    return true;
}

static void
on_req_done(void *ud, const struct ews_http_result *r)
{
    struct ews_req *req = ud;
    struct ews_op *op = req->op;
    struct ews_client *c = op->c;
    size_t idx = (size_t)req->server;
    struct ews_error err;
    char status[32];
    int rc;

    req->xfer = NULL;
    op->wire_us += ews_now_us() - req->sent_us;
    op->wired = true;
    ews_pool_done(&c->pool, idx);
    if (c->dump != NULL) {
        snprintf(status, sizeof(status), "HTTP %ld", r->status);
        c->dump(c->dump_ud, "response", status, r->body, r->len);
    }
    if (ews_client_try_weak_tls(c, idx, r) || ews_client_auth_fallback(c, r)) {
        req->running = false;
        ews_pool_enqueue(&c->pool, idx, &req->qn, true);
        ews_client_dispatch(c, idx);
        return;
    }
    rc = classify_answer(c, req, r, &err);
    if (r->code == CURLE_OK && r->len > 0 &&
        (!c->extra[idx]->have_info || op->kind == OP_FOLDER || op->kind == OP_SUBSCRIBE))
        ews_client_record_info(c, idx, r->body, r->len);
    if (rc == 0) {
        rc = ews_op_parse(op, req, r->body, r->len, &err);
        err.http_status = (int)r->status;
        if (rc == 1) {
            LIST_REMOVE(req, op_link);
            free(req->body);
            free(req);
            ews_client_dispatch(c, idx);
            return;
        }
    }
    if (rc < 0 && err.cls == EWS_ERR_RETRY_LATER && retry_later(c, req, &err, r->retry_after_s)) {
        ews_client_dispatch(c, idx);
        return;
    }
    /* The caller is told the wait the server asked for (Retry-After of a 503 too). */
    if (rc < 0 && err.cls == EWS_ERR_RETRY_LATER)
        err.backoff_ms = ews_backoff_ms(&err, r->retry_after_s);
    if (rc < 0 && err.cls == EWS_ERR_SERVER_DOWN)
        ews_client_server_failed(c, idx, err.message);
    if (rc < 0)
        ews_logf(c, EWS_LOG_WARN, "%s: %s failed on %s (%s %s: %s)", op->mailbox, req->action,
                 c->pool.servers[idx].url, ews_error_class_name(err.cls), err.code, err.message);
    ews_op_finish(op, rc, &err);
    ews_client_dispatch(c, idx);
}

static void
on_defer(evutil_socket_t fd, short events, void *arg)
{
    struct ews_op *op = arg;

    (void)fd;
    (void)events;
    ews_op_finish(op, op->defer_rc, &op->defer_err);
}

void
ews_op_fail_later(struct ews_op *op, int rc, const struct ews_error *err)
{
    struct timeval now = {0, 0};

    if (op->defer != NULL)
        return;
    op->defer_rc = rc;
    op->defer_err = *err;
    op->defer = evtimer_new(op->c->base, on_defer, op);
    if (op->defer != NULL)
        evtimer_add(op->defer, &now);
}

void
ews_op_drop_reqs(struct ews_op *op)
{
    struct ews_req *req;

    while ((req = LIST_FIRST(&op->reqs)) != NULL)
        req_free(req);
}

void
ews_op_free(struct ews_op *op)
{
    ews_op_drop_reqs(op);
    TAILQ_REMOVE(&op->c->ops, op, link);
    if (op->defer != NULL)
        event_free(op->defer);
    ews_op_free_results(op);
    free(op->mailbox);
    free(op);
}

double
ews_op_seconds(const struct ews_op *op)
{
    return op->wired ? (double)op->wire_us / 1e6 : -1.0;
}

void
ews_cancel(struct ews_op *op)
{
    struct ews_client *c;
    struct ews_req *req;
    bool freed_slot = false;

    if (op == NULL)
        return;
    c = op->c;
    LIST_FOREACH(req, &op->reqs, op_link)
    freed_slot |= req->xfer != NULL;
    ews_op_free(op);
    /* A request in flight held a slot of its server: what waits behind it may start now
     * (nothing else would start it on a quiet server). */
    for (size_t i = 0; freed_slot && i < c->pool.n; i++)
        ews_client_dispatch(c, i);
}
