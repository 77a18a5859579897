/* calpresence-ews watch: subscribe in the configured mode (push with a small listener of its
 * own, streaming, or pull) and print one line a notification. */
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "ews_tool_int.h"

/* Pull: GetEvents every few seconds; the subscription lives 10 minutes without a call. */
#define PULL_INTERVAL_S 5
#define PULL_TIMEOUT_MIN 10
/* Streaming: Exchange closes the stream after this; it is then opened again. */
#define STREAM_MINUTES 5
/* A SendNotification body is small; refuse anything large. */
#define PUSH_MAX_BODY (1024 * 1024)

struct watch {
    char *mailbox;
    char *sub_id;
    char *watermark;
    struct event *poll;
    struct evhttp *http;
};

static void on_subscribed(void *ud, int rc, struct ews_subscribe_result *res,
                          const struct ews_error *err);
static void on_unsubscribed(void *ud, int rc, const struct ews_error *err);
static bool print_notification(struct tool *t, const struct ews_notification *n);
static void poll_now(evutil_socket_t fd, short events, void *arg);
static void on_events(void *ud, int rc, struct ews_notification_list *l,
                      const struct ews_error *err);
static void open_stream(struct tool *t);
static int on_frame(void *ud, const struct ews_stream_frame *f);
static void on_stream_end(void *ud, int rc, const struct ews_error *err);
static void on_push(struct evhttp_request *req, void *arg);
static void on_push_sent(struct evhttp_request *req, void *arg);
static int start_listener(struct tool *t);

static char *
replace(char *old, const char *value)
{
    free(old);
    return value != NULL ? strdup(value) : NULL;
}

/* One line: `UTC-TIME SUBSCRIPTION EVENT...`. Returns true when the count is reached. */
static bool
print_notification(struct tool *t, const struct ews_notification *n)
{
    char now[32];
    time_t tt = time(NULL);
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("%s %s", now, n->subscription_id != NULL ? n->subscription_id : "-");
    for (size_t i = 0; i < n->n_events; i++) {
        printf(" %s", ews_event_type_name(n->events[i].type));
        if (n->events[i].item_id != NULL)
            printf(":%s", n->events[i].item_id);
        if (n->events[i].watermark != NULL)
            t->watch->watermark = replace(t->watch->watermark, n->events[i].watermark);
    }
    printf("\n");
    fflush(stdout);
    t->seen++;
    return t->count > 0 && t->seen >= t->count;
}

int
tool_watch(struct tool *t, const char *mailbox)
{
    const struct cp_config *cfg = t->cfg;
    struct ews_subscribe_params p = {0};

    t->watch = calloc(1, sizeof(*t->watch));
    if (t->watch == NULL || (t->watch->mailbox = strdup(mailbox)) == NULL)
        return 1;
    switch (cfg->mode) {
    case CP_NOTIFY_PUSH:
        if (cfg->url == NULL || cfg->listen == NULL || start_listener(t) != 0)
            return 1;
        p.kind = EWS_SUB_PUSH;
        p.url = cfg->url;
        p.status_frequency = cfg->status_frequency;
        break;
    case CP_NOTIFY_STREAMING:
        p.kind = EWS_SUB_STREAMING;
        break;
    case CP_NOTIFY_PULL:
        p.kind = EWS_SUB_PULL;
        p.timeout = PULL_TIMEOUT_MIN;
        break;
    }
    if (ews_subscribe(t->client, mailbox, &p, on_subscribed, t, NULL) != 0) {
        fprintf(stderr, "calpresence-ews: watch: subscribe not started\n");
        return 1;
    }
    return 0;
}

static void
on_subscribed(void *ud, int rc, struct ews_subscribe_result *res, const struct ews_error *err)
{
    struct tool *t = ud;
    struct watch *w = t->watch;
    struct timeval tv = {PULL_INTERVAL_S, 0};

    if (rc != 0) {
        tool_fail(t, "watch: subscribe", err);
        tool_finish(t);
        return;
    }
    w->sub_id = replace(w->sub_id, res->subscription_id);
    w->watermark = replace(w->watermark, res->watermark);
    fprintf(stderr, "calpresence-ews: watching %s, subscription %s\n", w->mailbox, w->sub_id);
    if (t->stopping) {
        tool_watch_stop(t);
        return;
    }
    if (t->cfg->mode == CP_NOTIFY_PULL) {
        w->poll = evtimer_new(t->base, poll_now, t);
        evtimer_add(w->poll, &tv);
    } else if (t->cfg->mode == CP_NOTIFY_STREAMING) {
        open_stream(t);
    }
}

static void
poll_now(evutil_socket_t fd, short events, void *arg)
{
    struct tool *t = arg;

    (void)fd;
    (void)events;
    if (ews_get_events(t->client, t->watch->mailbox, t->watch->sub_id,
                       t->watch->watermark != NULL ? t->watch->watermark : "", on_events, t,
                       NULL) != 0) {
        fprintf(stderr, "calpresence-ews: watch: GetEvents not started\n");
        t->status = 1;
        tool_watch_stop(t);
    }
}

static void
on_events(void *ud, int rc, struct ews_notification_list *l, const struct ews_error *err)
{
    struct tool *t = ud;
    struct timeval tv = {PULL_INTERVAL_S, 0};

    if (rc != 0) {
        tool_fail(t, "watch: GetEvents", err);
        tool_watch_stop(t);
        return;
    }
    for (size_t i = 0; i < l->n_items; i++) {
        if (print_notification(t, &l->items[i])) {
            tool_watch_stop(t);
            return;
        }
    }
    if (!t->stopping)
        evtimer_add(t->watch->poll, &tv);
}

static void
open_stream(struct tool *t)
{
    const char *ids[1] = {t->watch->sub_id};

    if (ews_get_streaming_events(t->client, t->watch->mailbox, ids, 1, STREAM_MINUTES, on_frame,
                                 on_stream_end, t, NULL) != 0) {
        fprintf(stderr, "calpresence-ews: watch: GetStreamingEvents not started\n");
        t->status = 1;
        tool_watch_stop(t);
    }
}

static int
on_frame(void *ud, const struct ews_stream_frame *f)
{
    struct tool *t = ud;

    for (size_t i = 0; i < f->n_errors; i++)
        tool_fail(t, "watch: stream", &f->errors[i].error);
    for (size_t i = 0; i < f->notifications.n_items; i++)
        if (print_notification(t, &f->notifications.items[i]))
            return 1;
    return f->n_errors > 0 || t->stopping;
}

static void
on_stream_end(void *ud, int rc, const struct ews_error *err)
{
    struct tool *t = ud;

    if (rc != 0)
        tool_fail(t, "watch: stream", err);
    if (rc != 0 || t->status != 0 || t->stopping || (t->count > 0 && t->seen >= t->count)) {
        tool_watch_stop(t);
        return;
    }
    open_stream(t);
}

/* Push: Exchange POSTs SendNotification here; the answer keeps (OK) or ends (Unsubscribe) the
 * subscription. Notifications of other subscriptions are refused with Unsubscribe. */
static void
on_push(struct evhttp_request *req, void *arg)
{
    struct tool *t = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    struct ews_notification_list l = {0};
    struct ews_error err;
    bool unsubscribe = t->stopping;
    struct evbuffer *out;
    char *answer;

    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST || len > PUSH_MAX_BODY ||
        ews_parse_send_notification((const char *)evbuffer_pullup(in, -1), len, &l, &err) != 0) {
        ews_notification_list_free(&l);
        evhttp_send_error(req, 400, "not a SendNotification");
        return;
    }
    for (size_t i = 0; i < l.n_items && !unsubscribe; i++) {
        if (t->watch->sub_id == NULL || l.items[i].subscription_id == NULL ||
            strcmp(l.items[i].subscription_id, t->watch->sub_id) != 0)
            unsubscribe = true;
        else if (print_notification(t, &l.items[i]))
            unsubscribe = true;
    }
    ews_notification_list_free(&l);
    answer = ews_build_send_notification_result(unsubscribe);
    out = evbuffer_new();
    if (answer == NULL || out == NULL) {
        free(answer);
        if (out != NULL)
            evbuffer_free(out);
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    evbuffer_add(out, answer, strlen(answer));
    /* The last answer (Unsubscribe) must reach Exchange before the tool exits. */
    if (t->count > 0 && t->seen >= t->count)
        evhttp_request_set_on_complete_cb(req, on_push_sent, t);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/xml; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", out);
    evbuffer_free(out);
    free(answer);
}

static void
on_push_sent(struct evhttp_request *req, void *arg)
{
    (void)req;
    tool_finish(arg);
}

static int
start_listener(struct tool *t)
{
    const char *listen = t->cfg->listen;
    const char *colon = strrchr(listen, ':');
    char host[256];
    long port;

    if (colon == NULL || (size_t)(colon - listen) >= sizeof(host)) {
        fprintf(stderr, "calpresence-ews: listen must be HOST:PORT: %s\n", listen);
        return 1;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    port = strtol(colon + 1, NULL, 10);
    t->watch->http = evhttp_new(t->base);
    if (t->watch->http == NULL || port < 1 || port > 65535 ||
        evhttp_bind_socket(t->watch->http, host, (ev_uint16_t)port) != 0) {
        fprintf(stderr, "calpresence-ews: cannot listen on %s\n", listen);
        return 1;
    }
    evhttp_set_max_body_size(t->watch->http, PUSH_MAX_BODY);
    evhttp_set_gencb(t->watch->http, on_push, t);
    return 0;
}

void
tool_watch_stop(struct tool *t)
{
    struct watch *w = t->watch;

    if (t->stopping && w->sub_id == NULL) {
        tool_finish(t);
        return;
    }
    t->stopping = true;
    if (w->poll != NULL)
        evtimer_del(w->poll);
    if (w->sub_id == NULL)
        return; /* on_subscribed comes back here once the id is known */
    if (t->cfg->mode == CP_NOTIFY_PUSH) {
        /* Push subscriptions end only by answering Unsubscribe to a notification: keep
         * listening for the next one when interrupted; after --count it was just sent. */
        if (t->count > 0 && t->seen >= t->count)
            tool_finish(t);
        return;
    }
    if (ews_unsubscribe(t->client, w->mailbox, w->sub_id, on_unsubscribed, t, NULL) != 0)
        tool_finish(t);
    free(w->sub_id);
    w->sub_id = NULL;
}

static void
on_unsubscribed(void *ud, int rc, const struct ews_error *err)
{
    struct tool *t = ud;

    if (rc != 0)
        tool_fail(t, "watch: unsubscribe", err);
    tool_finish(t);
}

void
tool_watch_free(struct tool *t)
{
    struct watch *w = t->watch;

    if (w == NULL)
        return;
    if (w->poll != NULL)
        event_free(w->poll);
    if (w->http != NULL)
        evhttp_free(w->http);
    free(w->mailbox);
    free(w->sub_id);
    free(w->watermark);
    free(w);
    t->watch = NULL;
}
