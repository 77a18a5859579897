/* ews-sim: GetStreamingEvents: one chunked HTTP answer carrying a SOAP envelope per frame
 * (events as they happen, a ConnectionStatus OK heartbeat, and a final Closed when the
 * ConnectionTimeout is over). Up to 200 subscriptions share one connection. */
#include "subs.h"

#include <stdlib.h>
#include <string.h>

#define MAX_STREAM_SUBS 200

struct sim_stream {
    struct sim_req *r;
    struct sim_sub *subs[MAX_STREAM_SUBS];
    int nsubs;
    struct event *heartbeat, *deadline;
};

static void
frame_open(struct evbuffer *out, const char *cls)
{
    sim_soap_begin(out, 1);
    evbuffer_add_printf(out,
                        "<m:GetStreamingEventsResponse xmlns:m=\"" SIM_NS_M "\" xmlns:t=\"" SIM_NS_T
                        "\"><m:ResponseMessages><m:GetStreamingEventsResponseMessage "
                        "ResponseClass=\"%s\">",
                        cls);
}

static void
frame_close(struct evbuffer *out, const char *status)
{
    evbuffer_add_printf(out,
                        "<m:ConnectionStatus>%s</m:ConnectionStatus>"
                        "</m:GetStreamingEventsResponseMessage></m:ResponseMessages>"
                        "</m:GetStreamingEventsResponse>",
                        status);
    sim_soap_end(out);
}

static void
send_frame(struct sim_stream *st, struct evbuffer *frame)
{
    g_sim.ctr.stream_frames++;
    if (st->r->req)
        evhttp_send_reply_chunk(st->r->req, frame);
    evbuffer_free(frame);
}

/* Unhooks the subscriptions and frees the stream; the request is released by the caller. */
static void
stream_free(struct sim_stream *st)
{
    for (int i = 0; i < st->nsubs; i++)
        if (st->subs[i])
            st->subs[i]->stream = NULL;
    event_free(st->heartbeat);
    event_free(st->deadline);
    free(st);
}

static void
stream_end(struct sim_stream *st)
{
    struct evbuffer *f = evbuffer_new();
    struct sim_req *r = st->r;
    frame_open(f, "Success");
    evbuffer_add_printf(f, "<m:ResponseCode>NoError</m:ResponseCode>");
    frame_close(f, "Closed");
    send_frame(st, f);
    if (r->req)
        evhttp_send_reply_end(r->req);
    stream_free(st);
    sim_req_release(r);
}

static void
on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    struct sim_stream *st = arg;
    struct evbuffer *f = evbuffer_new();
    (void)fd;
    (void)what;
    frame_open(f, "Success");
    evbuffer_add_printf(f, "<m:ResponseCode>NoError</m:ResponseCode>");
    frame_close(f, "OK");
    send_frame(st, f);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    stream_end(arg);
}

/* The client closed the connection: the subscriptions wait for the next request. */
static void
on_client_gone(struct sim_req *r)
{
    stream_free(r->data);
    sim_req_release(r);
}

void
sim_stream_kick(struct sim_sub *s)
{
    struct sim_stream *st = s->stream;
    struct evbuffer *f = evbuffer_new();
    uint32_t n;
    frame_open(f, "Success");
    evbuffer_add_printf(f, "<m:ResponseCode>NoError</m:ResponseCode><m:Notifications>");
    n = sim_sub_write_notification(f, s, 512, "t");
    sim_sub_consume(s, n);
    evbuffer_add_printf(f, "</m:Notifications>");
    frame_close(f, "OK");
    send_frame(st, f);
}

void
sim_stream_detach(struct sim_sub *s)
{
    struct sim_stream *st = s->stream;
    for (int i = 0; i < st->nsubs; i++)
        if (st->subs[i] == s)
            st->subs[i] = NULL;
    s->stream = NULL;
}

/* The mailbox moved: the stream reports the subscription as failed, and it dies. */
void
sim_stream_moved(struct sim_sub *s)
{
    struct sim_stream *st = s->stream;
    struct evbuffer *f = evbuffer_new();
    frame_open(f, "Error");
    evbuffer_add_printf(f,
                        "<m:MessageText>The mailbox has moved.</m:MessageText>"
                        "<m:ResponseCode>ErrorReadEventsFailed</m:ResponseCode>"
                        "<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>"
                        "<m:ErrorSubscriptionIds><t:SubscriptionId>%s</t:SubscriptionId>"
                        "</m:ErrorSubscriptionIds>",
                        s->id);
    frame_close(f, "OK");
    send_frame(st, f);
    sim_sub_delete(s);
}

static void
stream_error(struct evbuffer *out, const char *code, const char **ids, int n)
{
    evbuffer_add_printf(out, "<m:GetStreamingEventsResponse xmlns:m=\"" SIM_NS_M
                             "\" xmlns:t=\"" SIM_NS_T "\"><m:ResponseMessages>");
    sim_msg_error(out, "GetStreamingEventsResponseMessage", code,
                  "The subscription cannot be streamed.");
    evbuffer_add_printf(out, "<m:ErrorSubscriptionIds>");
    for (int i = 0; i < n; i++)
        evbuffer_add_printf(out, "<t:SubscriptionId>%s</t:SubscriptionId>", ids[i]);
    evbuffer_add_printf(out, "</m:ErrorSubscriptionIds><m:ConnectionStatus>Closed"
                             "</m:ConnectionStatus></m:GetStreamingEventsResponseMessage>"
                             "</m:ResponseMessages></m:GetStreamingEventsResponse>");
}

int
sim_op_streaming(struct sim_req *r, struct evbuffer *out)
{
    const char *bad[MAX_STREAM_SUBS], *code = "ErrorSubscriptionNotFound";
    struct sim_sub *ok[MAX_STREAM_SUBS];
    int nbad = 0, nok = 0, total = 0;
    const char *to_s = sim_child_text(r->op, "ConnectionTimeout");
    long minutes = to_s ? strtol(to_s, NULL, 10) : 30;
    struct sim_stream *st;
    double secs;
    struct timeval tv;
    for (xmlNodePtr n = sim_child(sim_child(r->op, "SubscriptionIds"), "SubscriptionId"); n;
         n = sim_next(n->next, "SubscriptionId")) {
        const char *id = n->children ? (const char *)n->children->content : "";
        struct sim_sub *s = sim_sub_find(id);
        if (++total > MAX_STREAM_SUBS)
            break;
        if (s && s->cas == r->cas && s->account == r->account && s->kind == SUB_STREAM &&
            !s->moved) {
            ok[nok++] = s;
        } else {
            if (s && s->moved) {
                code = "ErrorReadEventsFailed";
                sim_sub_delete(s);
            } else if (s && s->cas == r->cas && s->account != r->account) {
                code = "ErrorSubscriptionAccessDenied";
            } else if (s && s->cas == r->cas && s->kind != SUB_STREAM) {
                code = "ErrorInvalidSubscription";
            }
            bad[nbad++] = id;
        }
    }
    if (total > MAX_STREAM_SUBS || total == 0) {
        stream_error(out, total ? "ErrorInvalidRequest" : "ErrorInvalidSubscription", NULL, 0);
        return 200;
    }
    if (nbad) {
        stream_error(out, code, bad, nbad);
        return 200;
    }
    if (minutes < 1 || minutes > 30)
        minutes = 30;
    st = sim_xcalloc(1, sizeof(*st));
    st->r = r;
    for (int i = 0; i < nok; i++) {
        if (ok[i]->stream)
            sim_stream_detach(ok[i]);
        ok[i]->stream = st;
        st->subs[st->nsubs++] = ok[i];
    }
    /* hanging connections do not count against EWSMaxConcurrency */
    g_sim.accounts[r->account].inflight--;
    r->inflight = 0;
    sim_req_hold(r, on_client_gone, st);
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Type",
                      "text/xml; charset=utf-8");
    evhttp_send_reply_start(r->req, 200, "OK");
    st->heartbeat = event_new(g_sim.base, -1, EV_PERSIST, on_heartbeat, st);
    tv = (struct timeval){g_sim.heartbeat_s, 0};
    event_add(st->heartbeat, &tv);
    secs = sim_scaled((double)minutes * 60);
    tv = (struct timeval){(time_t)secs, (suseconds_t)((secs - (double)(time_t)secs) * 1e6)};
    st->deadline = evtimer_new(g_sim.base, on_deadline, st);
    evtimer_add(st->deadline, &tv);
    for (int i = 0; i < st->nsubs; i++)
        if (st->subs[i]->nq)
            sim_stream_kick(st->subs[i]);
    return 0;
}
