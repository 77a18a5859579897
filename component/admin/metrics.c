/* The optional HTTP endpoint ([admin] listen): /metrics in the Prometheus text format (0.0.4)
 * and /healthz for load balancers and supervisors. evhttp on the daemon's loop; every answer
 * is built from counters in memory, without touching the store. docs/operations.md,
 * "Monitoring", lists every metric. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "admin_int.h"
#include "config/config.h"
#include "engine/engine.h"
#include "xmpp/xmpp.h"

#define MAX_SERVERS 16

static void on_metrics(struct evhttp_request *req, void *ud);
static void on_healthz(struct evhttp_request *req, void *ud);
static void on_other(struct evhttp_request *req, void *ud);
static bool get_only(struct evhttp_request *req);
static void label(struct evbuffer *b, const char *s);
static void head(struct evbuffer *b, const char *name, const char *type, const char *help);
static void requests(struct evbuffer *b, const struct cp_source_stats *ss);
static void latency(struct evbuffer *b, const struct cp_source_stats *ss);

static time_t started;

int
metrics_start(struct cp_admin *a, char *why, size_t whylen)
{
    const char *listen = a->d->cfg->admin_listen;
    started = time(NULL);
    if (!listen)
        return 0;
    char host[256];
    const char *colon = strrchr(listen, ':');
    int port = atoi(colon + 1);
    /* A bracketed IPv6 address loses its brackets for evhttp. */
    if (listen[0] == '[')
        snprintf(host, sizeof(host), "%.*s", (int)(colon - listen - 2), listen + 1);
    else
        snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
    a->http = evhttp_new(a->d->base);
    if (!a->http) {
        snprintf(why, whylen, "out of memory");
        return CP_ENOMEM;
    }
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_max_headers_size(a->http, 8192);
    evhttp_set_max_body_size(a->http, 0);
    evhttp_set_timeout(a->http, 10);
    evhttp_set_cb(a->http, "/metrics", on_metrics, a);
    evhttp_set_cb(a->http, "/healthz", on_healthz, a);
    evhttp_set_gencb(a->http, on_other, a);
    if (!evhttp_bind_socket_with_handle(a->http, host, (ev_uint16_t)port)) {
        snprintf(why, whylen,
                 "[admin] listen %s: cannot listen there (in use, or not an address "
                 "of this host)",
                 listen);
        return CP_EIO;
    }
    cp_log_info("admin", "metrics and health on http://%s/metrics and /healthz", listen);
    return 0;
}

void
metrics_free(struct cp_admin *a)
{
    if (a->http)
        evhttp_free(a->http);
    a->http = NULL;
}

static bool
get_only(struct evhttp_request *req)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    return cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;
}

/* A label value: backslash, double quote and line feed escaped, as the format asks. */
static void
label(struct evbuffer *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            evbuffer_add_printf(b, "\\%c", *s);
        else if (*s == '\n')
            evbuffer_add(b, "\\n", 2);
        else
            evbuffer_add(b, s, 1);
    }
}

static void
head(struct evbuffer *b, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
gauge(struct evbuffer *b, const char *name, const char *help, double v)
{
    head(b, name, "gauge", help);
    evbuffer_add_printf(b, "%s %.17g\n", name, v);
}

static void
counter(struct evbuffer *b, const char *name, const char *help, unsigned long v)
{
    head(b, name, "counter", help);
    evbuffer_add_printf(b, "%s %lu\n", name, v);
}

/* Completed requests of every operation and outcome, zeros included, so that a rate() or a
 * ratio has its series from the first scrape. */
static void
requests(struct evbuffer *b, const struct cp_source_stats *ss)
{
    head(b, "calpresence_exchange_requests_total", "counter",
         "Completed Exchange requests by operation and outcome (a batch counts once).");
    for (int op = 0; op < CP_SOP_COUNT; op++)
        for (int k = 0; k < CP_SOURCE_OUTCOMES; k++)
            evbuffer_add_printf(b,
                                "calpresence_exchange_requests_total{operation=\"%s\","
                                "outcome=\"%s\"} %lu\n",
                                cp_source_op_name(op), cp_source_outcome_name(k),
                                ss->ops[op].outcomes[k]);
}

/* The latency histogram of every operation but the long-lived streams. */
static void
latency(struct evbuffer *b, const struct cp_source_stats *ss)
{
    static const char name[] = "calpresence_exchange_request_duration_seconds";
    head(b, name, "histogram",
         "Time Exchange took to answer a request (in libcurl, queue and back-off waits "
         "excluded).");
    for (int op = 0; op < CP_SOP_COUNT; op++) {
        if (op == CP_SOP_STREAM_EVENTS)
            continue;
        const struct cp_source_op_stats *o = &ss->ops[op];
        const char *opn = cp_source_op_name(op);
        for (int i = 0; i < CP_SOURCE_BUCKETS; i++)
            evbuffer_add_printf(b, "%s_bucket{operation=\"%s\",le=\"%g\"} %lu\n", name, opn,
                                cp_source_latency_bounds[i], o->buckets[i]);
        evbuffer_add_printf(b, "%s_bucket{operation=\"%s\",le=\"+Inf\"} %lu\n", name, opn,
                            o->count);
        evbuffer_add_printf(b, "%s_sum{operation=\"%s\"} %.9g\n", name, opn, o->sum);
        evbuffer_add_printf(b, "%s_count{operation=\"%s\"} %lu\n", name, opn, o->count);
    }
}

/* One gauge per Exchange server, labelled with its URL. */
static void
per_server(struct evbuffer *b, const char *name, const char *help,
           const struct cp_engine_server *sv, size_t n,
           double (*value)(const struct cp_engine_server *))
{
    head(b, name, "gauge", help);
    for (size_t i = 0; i < n; i++) {
        evbuffer_add_printf(b, "%s{server=\"", name);
        label(b, sv[i].url);
        evbuffer_add_printf(b, "\"} %.17g\n", value(&sv[i]));
    }
}

static double
sv_up(const struct cp_engine_server *s)
{
    return s->healthy;
}
static double
sv_users(const struct cp_engine_server *s)
{
    return (double)s->users;
}
static double
sv_in_flight(const struct cp_engine_server *s)
{
    return s->in_flight;
}
static double
sv_queued(const struct cp_engine_server *s)
{
    return (double)s->queued;
}
static double
sv_backoff(const struct cp_engine_server *s)
{
    return s->backoff_left_ms > 0 ? s->backoff_left_ms / 1000.0 : 0;
}

static void
on_metrics(struct evhttp_request *req, void *ud)
{
    struct cp_admin *a = ud;
    struct cp_daemon *d = a->d;
    if (!get_only(req)) {
        evhttp_send_error(req, 405, NULL);
        return;
    }
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    struct cp_engine_stats st;
    struct cp_source_stats ss;
    struct cp_engine_server sv[MAX_SERVERS];
    struct cp_xmpp_stats xs;
    cp_engine_stats(d->engine, &st);
    size_t n = cp_engine_source(d->engine, &ss, sv, MAX_SERVERS);
    cp_xmpp_get_stats(d->xmpp, &xs);
    xmpp_conn_t *conn = cp_xmpp_conn(d->xmpp);

    head(b, "calpresence_build_info", "gauge", "Version of the running daemon (always 1).");
    evbuffer_add_printf(b, "calpresence_build_info{version=\"%s\"} 1\n", CP_VERSION);
    gauge(b, "calpresence_start_time_seconds", "When the daemon started, Unix time.",
          (double)started);
    head(b, "calpresence_users", "gauge",
         "Enabled users by state: published (presence follows the calendar), pending (calendar "
         "not read yet), failing (mailbox refused, retried).");
    evbuffer_add_printf(b, "calpresence_users{state=\"published\"} %zu\n", st.published);
    evbuffer_add_printf(b, "calpresence_users{state=\"pending\"} %zu\n", st.pending);
    evbuffer_add_printf(b, "calpresence_users{state=\"failing\"} %zu\n", st.failing);
    per_server(b, "calpresence_exchange_server_users",
               "Mailboxes assigned to each Exchange server.", sv, n, sv_users);
    per_server(b, "calpresence_exchange_server_up",
               "1 while the Exchange server is healthy, 0 while it is considered down.", sv, n,
               sv_up);
    per_server(b, "calpresence_exchange_server_requests_in_flight",
               "EWS requests running on each Exchange server.", sv, n, sv_in_flight);
    per_server(b, "calpresence_exchange_server_requests_queued",
               "EWS requests waiting for each Exchange server.", sv, n, sv_queued);
    per_server(b, "calpresence_exchange_server_backoff_seconds",
               "Time left in the ErrorServerBusy back-off Exchange asked for.", sv, n, sv_backoff);
    requests(b, &ss);
    latency(b, &ss);
    gauge(b, "calpresence_exchange_streams_open",
          "Long-lived notification connections open (EWS streaming mode).",
          (double)ss.streams_open);
    counter(b, "calpresence_exchange_events_total",
            "Notification events received from Exchange (push, streaming or pull).",
            ss.notifications);
    counter(b, "calpresence_exchange_notifications_refused_total",
            "Notification bodies refused (malformed, hostile or too large).", ss.refused);
    counter(b, "calpresence_exchange_subscribes_total", "Exchange subscriptions made.",
            st.subscribes);
    counter(b, "calpresence_calendar_reads_total", "Calendar windows read, one per mailbox.",
            st.reads);
    counter(b, "calpresence_notifications_total",
            "Calendar change notifications handled by the engine.", st.notifications);
    counter(b, "calpresence_transitions_total", "Presence changes published (calendar edges).",
            st.transitions);
    gauge(b, "calpresence_outbox", "Users whose presence waits to be sent (paced).",
          (double)st.outbox);
    counter(b, "calpresence_presence_stanzas_sent_total",
            "Presence stanzas sent to the XMPP server.", xs.presences_sent);
    counter(b, "calpresence_xmpp_stanzas_sent_total",
            "Stanzas of every kind sent to the XMPP server.", xs.sent);
    gauge(b, "calpresence_xmpp_send_queue", "Stanzas waiting in the XMPP send queue.",
          conn ? (double)xmpp_conn_send_queue_len(conn) : 0);
    gauge(b, "calpresence_xmpp_connected", "1 while the component stream is up.",
          cp_xmpp_is_online(d->xmpp));
    counter(b, "calpresence_xmpp_handshakes_total",
            "Successful component handshakes; more than 1 means reconnects.", xs.handshakes);
    counter(b, "calpresence_xmpp_stanzas_dropped_total",
            "Stanzas from the server dropped by the guard as too large.", cp_xmpp_dropped(d->xmpp));

    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

/* 200 when the stream is up and at least one Exchange server is healthy (or none is
 * configured, when calendar presence cannot be expected anyway); 503 with the reason. */
static void
on_healthz(struct evhttp_request *req, void *ud)
{
    struct cp_admin *a = ud;
    struct cp_source_stats ss;
    struct cp_engine_server sv[MAX_SERVERS];
    if (!get_only(req)) {
        evhttp_send_error(req, 405, NULL);
        return;
    }
    size_t n = cp_engine_source(a->d->engine, &ss, sv, MAX_SERVERS), healthy = 0;
    for (size_t i = 0; i < n; i++)
        healthy += sv[i].healthy;
    bool online = cp_xmpp_is_online(a->d->xmpp);
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    int code = 200;
    if (!online) {
        code = 503;
        evbuffer_add_printf(b, "unhealthy: the XMPP component stream is down\n");
    } else if (n > 0 && healthy == 0) {
        code = 503;
        evbuffer_add_printf(b, "unhealthy: no healthy Exchange server (0 of %zu)\n", n);
    } else if (n == 0) {
        evbuffer_add_printf(b, "ok: XMPP stream up; no Exchange server configured\n");
    } else {
        evbuffer_add_printf(b, "ok: XMPP stream up; %zu of %zu Exchange servers healthy\n", healthy,
                            n);
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; charset=utf-8");
    evhttp_send_reply(req, code, code == 200 ? "OK" : "Service Unavailable", b);
    evbuffer_free(b);
}

static void
on_other(struct evhttp_request *req, void *ud)
{
    (void)ud;
    evhttp_send_error(req, 404, "only /metrics and /healthz are served here");
}
