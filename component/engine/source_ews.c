/* The EWS source: the calendar source interface (source.h) over ews/ for Exchange 2010 SP2 to
 * Server SE. Requests, reads and push notifications live here; streams and pull polls in
 * source_ews_watch.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "config/config.h"
#include "source_ews_int.h"

/* One operation in flight: what its callback needs. Freed by its callback; the ones still in
 * flight when the source is freed (their callbacks never run) by src_free, from the list. */
struct op_ctx {
    struct op_ctx *prev, *next;
    struct ews_source *s;
    struct ews_op *op;         /* the library's handle, valid until its callback returns */
    enum cp_source_op counted; /* the interface operation it is counted under */
    void *user;                /* single-mailbox operations */
    void **users;              /* read_many: owned copy of the handles */
    size_t n;
    const char *kind; /* subscribe: "push", "streaming", "pull" */
    char *mailbox;    /* subscribe: owned, for the stream or poll it starts */
};

static struct ews_source *
ews_of(struct cp_source *src)
{
    return (struct ews_source *)src;
}

static const char *
mode_name(enum cp_notify_mode m)
{
    switch (m) {
    case CP_NOTIFY_STREAMING:
        return "streaming";
    case CP_NOTIFY_PULL:
        return "pull";
    case CP_NOTIFY_PUSH:
        break;
    }
    return "push";
}

void
cp_ews_source_error(const struct ews_error *err, int rc, struct cp_source_error *out)
{
    memset(out, 0, sizeof(*out));
    if (rc == EWS_E_QUEUE_FULL || rc == EWS_E_NOMEM) {
        out->kind = CP_SRC_RETRY_LATER;
        out->backoff_ms = 1000;
        snprintf(out->text, sizeof(out->text), "%s",
                 rc == EWS_E_QUEUE_FULL ? "request queue full" : "out of memory");
        return;
    }
    switch (err ? err->cls : EWS_ERR_OTHER) {
    case EWS_ERR_RETRY_LATER:
        out->kind = CP_SRC_RETRY_LATER;
        out->backoff_ms = err->backoff_ms;
        break;
    case EWS_ERR_RESUBSCRIBE:
        out->kind = CP_SRC_SUBSCRIPTION_GONE;
        break;
    case EWS_ERR_REDISCOVER: /* the mailbox lives elsewhere: the next server can proxy it */
    case EWS_ERR_SERVER_DOWN:
        out->kind = CP_SRC_SERVER_DOWN;
        break;
    case EWS_ERR_MAILBOX_PROBLEM:
        out->kind = CP_SRC_MAILBOX;
        break;
    case EWS_ERR_AUTH_FAILURE:
        out->kind = CP_SRC_AUTH;
        break;
    default:
        out->kind = CP_SRC_OTHER;
        break;
    }
    if (err) {
        snprintf(out->code, sizeof(out->code), "%s", err->code);
        if (err->code[0] && err->message[0])
            snprintf(out->text, sizeof(out->text), "%.63s: %.255s", err->code, err->message);
        else if (err->code[0] || err->message[0])
            snprintf(out->text, sizeof(out->text), "%s", err->code[0] ? err->code : err->message);
        else if (err->http_status)
            snprintf(out->text, sizeof(out->text), "HTTP status %d", err->http_status);
    }
    if (!out->text[0])
        snprintf(out->text, sizeof(out->text), "request failed");
}

static struct op_ctx *
op_new(struct ews_source *s, void *user, enum cp_source_op counted)
{
    struct op_ctx *o = calloc(1, sizeof(*o));
    if (o) {
        o->s = s;
        o->counted = counted;
        o->user = user;
        o->next = s->ops_in_flight;
        if (o->next)
            o->next->prev = o;
        s->ops_in_flight = o;
    }
    return o;
}

static void
op_free(struct op_ctx *o)
{
    if (o->prev)
        o->prev->next = o->next;
    else
        o->s->ops_in_flight = o->next;
    if (o->next)
        o->next->prev = o->prev;
    free(o->users);
    free(o->mailbox);
    free(o);
}

void
cp_ews_count(struct ews_source *s, enum cp_source_op op, int rc, const struct ews_error *err,
             const struct ews_op *handle)
{
    int outcome = 0;
    if (rc != 0) {
        struct cp_source_error e;
        cp_ews_source_error(err, rc, &e);
        outcome = (int)e.kind;
    }
    cp_source_count(&s->stats, op, outcome, handle ? ews_op_seconds(handle) : -1.0);
}

/* O's request completed with RC/ERR. */
static void
op_count(struct op_ctx *o, int rc, const struct ews_error *err)
{
    cp_ews_count(o->s, o->counted, rc, err, o->op);
}

/* ---- notifications ---- */

bool
cp_ews_deliver(struct ews_source *s, const struct ews_notification *n)
{
    void *user = n->subscription_id ? s->ev->lookup(s->ev_ud, n->subscription_id) : NULL;
    if (!user)
        return false;
    const char *watermark = NULL;
    bool changed = false;
    for (size_t i = 0; i < n->n_events; i++) {
        const struct ews_event *e = &n->events[i];
        s->stats.notifications++;
        if (e->watermark)
            watermark = e->watermark;
        if (e->type != EWS_EV_STATUS)
            changed = true;
    }
    if (changed)
        s->ev->changed(s->ev_ud, user, watermark);
    else
        s->ev->alive(s->ev_ud, user, watermark);
    return true;
}

static bool
on_push(void *ud, const struct ews_notification *n)
{
    return cp_ews_deliver(ud, n);
}

static void
on_listener_log(void *ud, int level, const char *msg)
{
    (void)ud;
    cp_log((enum cp_log_level)level, "listener", "%s", msg);
}

/* ---- subscribe ---- */

static void
on_subscribed(void *ud, int rc, struct ews_subscribe_result *res, const struct ews_error *err)
{
    struct op_ctx *o = ud;
    struct ews_source *s = o->s;
    op_count(o, rc, err);
    if (rc != 0) {
        struct cp_source_error e;
        cp_ews_source_error(err, rc, &e);
        s->ev->subscribed(s->ev_ud, o->user, NULL, &e);
        op_free(o);
        return;
    }
    const char *server = ews_client_server_of(s->client, o->mailbox);
    struct cp_source_sub sub = {res->subscription_id, server ? server : "", res->watermark,
                                o->kind};
    /* Streams and polls start before the engine hears of it, so that the first events are
     * not missed; the engine drops the subscription again if the user left meanwhile. */
    if (s->mode == CP_NOTIFY_STREAMING)
        cp_ews_stream_add(s, o->user, o->mailbox, res->subscription_id);
    else if (s->mode == CP_NOTIFY_PULL)
        cp_ews_pull_add(s, o->user, o->mailbox, res->subscription_id, res->watermark);
    s->ev->subscribed(s->ev_ud, o->user, &sub, NULL);
    op_free(o);
}

static int
src_subscribe(struct cp_source *src, void *user, const char *mailbox)
{
    struct ews_source *s = ews_of(src);
    struct op_ctx *o = op_new(s, user, CP_SOP_SUBSCRIBE);
    if (!o || !(o->mailbox = strdup(mailbox))) {
        if (o)
            op_free(o);
        return CP_ENOMEM;
    }
    struct ews_subscribe_params p = {0};
    if (s->mode == CP_NOTIFY_PUSH) {
        p.kind = EWS_SUB_PUSH;
        p.url = s->url;
        p.status_frequency = s->status_frequency;
    } else if (s->mode == CP_NOTIFY_STREAMING) {
        p.kind = EWS_SUB_STREAMING;
    } else {
        p.kind = EWS_SUB_PULL;
        p.timeout = s->status_frequency; /* minutes without GetEvents before Exchange drops it */
    }
    o->kind = mode_name(s->mode);
    int rc = ews_subscribe(s->client, mailbox, &p, on_subscribed, o, &o->op);
    if (rc != 0) {
        op_free(o);
        return rc == EWS_E_QUEUE_FULL ? CP_EFULL : CP_EINVAL;
    }
    return 0;
}

static int
src_resume(struct cp_source *src, void *user, const char *mailbox, const struct cp_source_sub *sub)
{
    struct ews_source *s = ews_of(src);
    /* Later requests for the mailbox go where its subscription lives. A server no longer
     * configured is refused: the engine subscribes anew. */
    if (ews_client_pin(s->client, mailbox, sub->server) != 0)
        return CP_EINVAL;
    if (strcmp(sub->kind, mode_name(s->mode)) != 0)
        return CP_EINVAL; /* made in another mode: the engine drops it and subscribes anew */
    if (s->mode == CP_NOTIFY_STREAMING)
        return cp_ews_stream_add(s, user, mailbox, sub->id);
    if (s->mode == CP_NOTIFY_PULL)
        return cp_ews_pull_add(s, user, mailbox, sub->id, sub->cursor);
    return 0; /* push: its next notification (or the silence rule) says whether it lives */
}

static void
on_unsubscribed(void *ud, int rc, const struct ews_error *err)
{
    struct op_ctx *o = ud;
    op_count(o, rc, err);
    if (rc != 0)
        cp_log_debug("engine", "%s: Unsubscribe failed (%s); Exchange lets it expire", o->mailbox,
                     err && err->code[0] ? err->code : "no answer");
    op_free(o);
}

static void
src_unsubscribe(struct cp_source *src, const char *mailbox, const struct cp_source_sub *sub)
{
    struct ews_source *s = ews_of(src);
    if (strcmp(sub->kind, "streaming") == 0)
        cp_ews_stream_remove(s, sub->id);
    else if (strcmp(sub->kind, "pull") == 0)
        cp_ews_pull_remove(s, sub->id);
    /* Push subscriptions cannot be ended by a request: the listener answers Unsubscribe to
     * their next notification, because the id no longer maps to a user. */
    if (strcmp(sub->kind, "push") == 0)
        return;
    struct op_ctx *o = op_new(s, NULL, CP_SOP_UNSUBSCRIBE);
    if (!o || !(o->mailbox = strdup(mailbox))) {
        if (o)
            op_free(o);
        return;
    }
    if (sub->server && sub->server[0])
        ews_client_pin(s->client, mailbox, sub->server);
    if (ews_unsubscribe(s->client, mailbox, sub->id, on_unsubscribed, o, &o->op) != 0)
        op_free(o);
}

/* ---- reads ---- */

static enum cp_busy
busy_of(enum ews_busy b)
{
    switch (b) {
    case EWS_BUSY_FREE:
        return CP_BUSY_FREE;
    case EWS_BUSY_TENTATIVE:
        return CP_BUSY_TENTATIVE;
    case EWS_BUSY_BUSY:
        return CP_BUSY_BUSY;
    case EWS_BUSY_OOF:
        return CP_BUSY_OOF;
    case EWS_BUSY_WORKING_ELSEWHERE:
        return CP_BUSY_ELSEWHERE;
    case EWS_BUSY_NO_DATA:
    case EWS_BUSY_UNKNOWN:
        break;
    }
    /* A type a newer server invented is shown as free rather than guessed busy. */
    return CP_BUSY_NODATA;
}

static void
on_availability(void *ud, int rc, struct ews_availability *res, const struct ews_error *err)
{
    struct op_ctx *o = ud;
    struct ews_source *s = o->s;
    struct cp_source_error e;
    /* One request however many mailboxes it asked for: a mailbox's own error in a good
     * answer is the mailbox's, not the request's. */
    op_count(o, rc, err);
    for (size_t i = 0; i < o->n; i++) {
        if (rc != 0 || !res || i >= res->n_mailboxes) {
            cp_ews_source_error(err, rc, &e);
            s->ev->window(s->ev_ud, o->users[i], NULL, 0, false, &e);
            continue;
        }
        const struct ews_mailbox_availability *m = &res->mailboxes[i];
        if (m->error.cls != EWS_ERR_NONE) {
            cp_ews_source_error(&m->error, EWS_E_RESPONSE, &e);
            s->ev->window(s->ev_ud, o->users[i], NULL, 0, false, &e);
            continue;
        }
        struct cp_interval stack[32];
        struct cp_interval *iv = m->n_events <= 32 ? stack : calloc(m->n_events, sizeof(*iv));
        if (!iv) {
            cp_ews_source_error(NULL, EWS_E_NOMEM, &e);
            s->ev->window(s->ev_ud, o->users[i], NULL, 0, false, &e);
            continue;
        }
        for (size_t k = 0; k < m->n_events; k++)
            iv[k] = (struct cp_interval){.start = m->events[k].start,
                                         .end = m->events[k].end,
                                         .busy = busy_of(m->events[k].busy)};
        s->ev->window(s->ev_ud, o->users[i], iv, m->n_events, false, NULL);
        if (iv != stack)
            free(iv);
    }
    op_free(o);
}

static int
src_read_many(struct cp_source *src, void *const *users, const char *const *mailboxes, size_t n,
              time_t start, time_t end)
{
    struct ews_source *s = ews_of(src);
    struct op_ctx *o = op_new(s, NULL, CP_SOP_READ_FREEBUSY);
    if (!o || !(o->users = malloc(n * sizeof(*o->users)))) {
        if (o)
            op_free(o);
        return CP_ENOMEM;
    }
    memcpy(o->users, users, n * sizeof(*users));
    o->n = n;
    int rc = ews_availability(s->client, mailboxes, n, start, end, on_availability, o, &o->op);
    if (rc != 0) {
        op_free(o);
        return rc == EWS_E_QUEUE_FULL ? CP_EFULL : CP_EINVAL;
    }
    return 0;
}

static void
on_calendar(void *ud, int rc, struct ews_calendar_view *res, const struct ews_error *err)
{
    struct op_ctx *o = ud;
    struct ews_source *s = o->s;
    struct cp_source_error e;
    op_count(o, rc, err);
    if (rc != 0 || !res) {
        cp_ews_source_error(err, rc, &e);
        s->ev->window(s->ev_ud, o->user, NULL, 0, true, &e);
        op_free(o);
        return;
    }
    struct cp_interval *iv = calloc(res->n_items ? res->n_items : 1, sizeof(*iv));
    if (!iv) {
        cp_ews_source_error(NULL, EWS_E_NOMEM, &e);
        s->ev->window(s->ev_ud, o->user, NULL, 0, true, &e);
        op_free(o);
        return;
    }
    size_t n = 0;
    for (size_t k = 0; k < res->n_items; k++) {
        const struct ews_cal_item *it = &res->items[k];
        if (it->type == EWS_ITEM_RECURRING_MASTER)
            continue; /* a CalendarView lists occurrences; a master is not a time slot */
        iv[n++] = (struct cp_interval){
            .start = it->start,
            .end = it->end,
            .busy = busy_of(it->busy),
            .cancelled = it->cancelled,
            .is_private =
                it->sensitivity == EWS_SENS_PRIVATE || it->sensitivity == EWS_SENS_CONFIDENTIAL,
            .subject = it->subject,
        };
    }
    s->ev->window(s->ev_ud, o->user, iv, n, true, NULL);
    free(iv);
    op_free(o);
}

static int
src_read_detailed(struct cp_source *src, void *user, const char *mailbox, time_t start, time_t end)
{
    struct ews_source *s = ews_of(src);
    struct op_ctx *o = op_new(s, user, CP_SOP_READ_CALENDAR);
    if (!o)
        return CP_ENOMEM;
    int rc = ews_calendar_view(s->client, mailbox, start, end, 0, on_calendar, o, &o->op);
    if (rc != 0) {
        op_free(o);
        return rc == EWS_E_QUEUE_FULL ? CP_EFULL : CP_EINVAL;
    }
    return 0;
}

/* ---- servers ---- */

static const char *
src_server_of(struct cp_source *src, const char *mailbox)
{
    return ews_client_server_of(ews_of(src)->client, mailbox);
}

static const char *
src_reassign(struct cp_source *src, const char *mailbox)
{
    return ews_client_reassign(ews_of(src)->client, mailbox);
}

static void
src_forget(struct cp_source *src, const char *mailbox)
{
    ews_client_forget(ews_of(src)->client, mailbox);
}

static size_t
src_servers(struct cp_source *src, struct cp_source_server *out, size_t max)
{
    struct ews_source *s = ews_of(src);
    size_t n = ews_client_n_servers(s->client);
    for (size_t i = 0; i < n && i < max; i++) {
        struct ews_server_status st;
        if (ews_client_server_status(s->client, i, &st) != 0)
            continue;
        out[i] = (struct cp_source_server){st.url,    st.healthy,   st.in_flight,
                                           st.queued, st.mailboxes, st.backoff_left_ms};
    }
    return n;
}

static void
src_stats(struct cp_source *src, struct cp_source_stats *out)
{
    struct ews_source *s = ews_of(src);
    *out = s->stats;
    out->streams_open = cp_ews_streams_open(s);
    if (s->listener) {
        const struct cp_listener_stats *ls = cp_listener_stats(s->listener);
        out->refused = ls->refused_malformed + ls->refused_too_large;
    }
}

static const char *
src_describe(struct cp_source *src)
{
    return ews_of(src)->describe;
}

static void
src_free(struct cp_source *src)
{
    struct ews_source *s = ews_of(src);
    if (!s)
        return;
    cp_ews_streams_free(s);
    cp_ews_pulls_free(s);
    cp_listener_free(s->listener);
    if (s->client)
        ews_client_destroy(s->client); /* cancels every operation: no callback runs */
    while (s->ops_in_flight)
        op_free(s->ops_in_flight);
    free(s->url);
    free(s);
}

static const struct cp_source_ops ews_ops = {
    .name = "ews",
    .max_batch = EWS_MAX_AVAILABILITY_MAILBOXES,
    .subscribe = src_subscribe,
    .resume = src_resume,
    .unsubscribe = src_unsubscribe,
    .read_many = src_read_many,
    .read_detailed = src_read_detailed,
    .server_of = src_server_of,
    .reassign = src_reassign,
    .forget = src_forget,
    .servers = src_servers,
    .stats = src_stats,
    .describe = src_describe,
    .free = src_free,
};

/* ---- creation ---- */

static void
on_ews_log(void *ud, int level, const char *area, const char *msg)
{
    (void)ud;
    cp_log((enum cp_log_level)level, area, "%s", msg);
}

/* The path part of the notification URL: where the listener accepts POSTs. */
static const char *
url_path(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    return p ? p : "/";
}

static int
make_client(struct ews_source *s, const struct cp_config *cfg, char *why, size_t whylen)
{
    struct ews_config ec;
    if (cp_ews_config_fill(cfg, &ec, why, whylen) != 0)
        return CP_EINVAL;
    ec.log = on_ews_log;
    if (ews_client_new(s->evbase, &ec, &s->client) != 0) {
        snprintf(why, whylen, "cannot create the EWS client (see the log above)");
        return CP_EINVAL;
    }
    return 0;
}

int
cp_source_ews_new(struct event_base *base, const struct cp_config *cfg,
                  const struct cp_source_events *events, void *events_ud, struct cp_source **out,
                  char *why, size_t whylen)
{
    struct ews_source *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(why, whylen, "out of memory");
        return CP_ENOMEM;
    }
    s->base.ops = &ews_ops;
    s->evbase = base;
    s->mode = cfg->mode;
    s->status_frequency = cfg->status_frequency;
    s->pull_interval = cfg->pull_interval;
    s->ev = events;
    s->ev_ud = events_ud;
    int rc = make_client(s, cfg, why, whylen);
    if (rc == 0 && s->mode == CP_NOTIFY_PUSH) {
        s->url = cfg->url ? strdup(cfg->url) : NULL;
        if (!s->url || !cfg->listen) {
            snprintf(why, whylen, "push mode needs [notifications] listen and url");
            rc = CP_EINVAL;
        } else {
            struct cp_listener_config lc = {
                .listen = cfg->listen,
                .path = url_path(cfg->url),
                .tls_cert = cfg->listen_cert,
                .tls_key = cfg->listen_key,
                .verdict = on_push,
                .log = on_listener_log,
                .ud = s,
            };
            rc = cp_listener_new(base, &lc, &s->listener, why, whylen);
        }
    }
    if (rc != 0) {
        src_free(&s->base);
        return rc;
    }
    size_t used = 0;
    for (size_t i = 0; i < cfg->ews_urls.n && used < sizeof(s->describe); i++) {
        int k = snprintf(s->describe + used, sizeof(s->describe) - used, "%s%s", i ? ", " : "",
                         cfg->ews_urls.items[i]);
        used += k > 0 ? (size_t)k : 0;
    }
    if (used < sizeof(s->describe)) {
        if (s->mode == CP_NOTIFY_PUSH)
            snprintf(s->describe + used, sizeof(s->describe) - used,
                     "; mode push, listening on %s%s (bound port %u), Exchange posts to %s",
                     cfg->listen_cert ? "https://" : "", cfg->listen,
                     (unsigned)cp_listener_port(s->listener), s->url);
        else
            snprintf(s->describe + used, sizeof(s->describe) - used, "; mode %s",
                     mode_name(s->mode));
    }
    *out = &s->base;
    return 0;
}
