/* ews-sim: push notifications as Exchange sends them: a SendNotification POST on every change,
 * a StatusEvent every StatusFrequency minutes of quiet; no answer or a non-OK answer is retried
 * after 30 s, doubling, until the StatusFrequency window is used up, then the subscription is
 * dropped; an Unsubscribe answer ends it. A few HTTP connections per listener are shared by
 * all subscriptions that point at it. Plain http:// URLs only. */
#include "subs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http_struct.h>

#define PUSH_TIMEOUT_S 20

/* A listener (host:port) with a few HTTP/1.1 connections, each carrying one notification at a
 * time (no pipelining: one broken connection fails one notification, not a queue of them).
 * Subscriptions that find every connection busy wait in the listener's FIFO, which also bounds
 * memory when thousands of mailboxes change at once. */
struct target;

struct slot {
    struct evhttp_connection *evcon;
    int busy;
    uint32_t serial; /* the subscription whose notification is out */
    struct target *t;
};

struct target {
    char *host;
    int port;
    struct slot *slots;
    uint32_t *waiting; /* serials of subscriptions waiting for a free slot */
    size_t wait_head, wait_tail, wait_cap;
    struct target *link;
};

static struct target *targets;

static int
nslots(void)
{
    return g_sim.push_connections > 0 ? g_sim.push_connections : 1;
}

/* The listener's entry, created on first use; owned here until sim_push_free. */
static struct target *
target_get(const char *host, int port)
{
    struct target *t;
    for (t = targets; t; t = t->link)
        if (t->port == port && strcmp(t->host, host) == 0)
            return t;
    t = sim_xcalloc(1, sizeof(*t));
    t->host = sim_xstrdup(host);
    t->port = port;
    t->slots = sim_xcalloc((size_t)nslots(), sizeof(*t->slots));
    for (int i = 0; i < nslots(); i++)
        t->slots[i].t = t;
    t->link = targets;
    targets = t;
    return t;
}

/* An idle slot with a connection, or -1. */
static int
slot_idle(struct target *t)
{
    for (int i = 0; i < nslots(); i++) {
        struct slot *sl = &t->slots[i];
        if (sl->busy)
            continue;
        if (!sl->evcon) {
            sl->evcon = evhttp_connection_base_new(g_sim.base, NULL, t->host, (ev_uint16_t)t->port);
            if (!sl->evcon)
                return -1;
            evhttp_connection_set_timeout(sl->evcon, PUSH_TIMEOUT_S);
            evhttp_connection_set_retries(sl->evcon, 0);
        }
        return i;
    }
    return -1;
}

/* Connections closed by their listener, freed outside their own callbacks (or at exit). */
static struct evhttp_connection **graveyard;
static size_t ngrave;
static struct event *reaper;

static void
reap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    while (ngrave)
        evhttp_connection_free(graveyard[--ngrave]);
}

static void
bury(struct evhttp_connection *evcon)
{
    struct timeval now = {0, 0};
    graveyard = sim_xrealloc(graveyard, (ngrave + 1) * sizeof(*graveyard));
    graveyard[ngrave++] = evcon;
    if (!reaper)
        reaper = evtimer_new(g_sim.base, reap, NULL);
    evtimer_add(reaper, &now);
}

void
sim_push_free(void)
{
    reap(-1, 0, NULL);
    free(graveyard);
    graveyard = NULL;
    if (reaper)
        event_free(reaper);
    reaper = NULL;
    while (targets) {
        struct target *t = targets;
        targets = t->link;
        for (int i = 0; i < nslots(); i++)
            if (t->slots[i].evcon)
                evhttp_connection_free(t->slots[i].evcon);
        free(t->slots);
        free(t->waiting);
        free(t->host);
        free(t);
    }
}

static void send_now(struct sim_sub *s);

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    send_now(arg);
}

static void
arm(struct sim_sub *s, double seconds)
{
    double t = sim_scaled(seconds);
    struct timeval tv = {(time_t)t, (suseconds_t)((t - (double)(time_t)t) * 1e6)};
    evtimer_add(s->timer, &tv);
}

int
sim_push_start(struct sim_sub *s, const char *url)
{
    char host[256];
    int port = 80, n = 0;
    const char *p;
    if (!url || strncasecmp(url, "http://", 7) != 0)
        return -1;
    p = url + 7;
    if (sscanf(p, "%255[^:/]%n", host, &n) != 1)
        return -1;
    p += n;
    if (*p == ':') {
        port = (int)strtol(p + 1, (char **)&p, 10);
        if (port <= 0 || port > 65535)
            return -1;
    }
    s->host = sim_xstrdup(host);
    s->port = port;
    s->path = sim_xstrdup(*p ? p : "/");
    s->timer = evtimer_new(g_sim.base, on_timer, s);
    arm(s, (double)s->status_freq_min * 60);
    return 0;
}

/* Finds SubscriptionStatus in the listener's answer: 1 OK, 2 Unsubscribe, 0 anything else. */
static int
answer_status(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    xmlDocPtr doc = sim_xml_parse((const char *)evbuffer_pullup(in, -1), n);
    xmlNodePtr cur = doc ? xmlDocGetRootElement(doc) : NULL;
    int rc = 0;
    while (cur) {
        if (cur->type == XML_ELEMENT_NODE &&
            xmlStrcmp(cur->name, BAD_CAST "SubscriptionStatus") == 0) {
            xmlChar *v = xmlNodeGetContent(cur);
            rc = v && xmlStrcmp(v, BAD_CAST "OK") == 0            ? 1
                 : v && xmlStrcmp(v, BAD_CAST "Unsubscribe") == 0 ? 2
                                                                  : 0;
            xmlFree(v);
            break;
        }
        if (cur->children) {
            cur = cur->children;
            continue;
        }
        while (cur && !cur->next)
            cur = cur->parent;
        if (cur)
            cur = cur->next;
    }
    if (doc)
        xmlFreeDoc(doc);
    return rc;
}

static void
failed(struct sim_sub *s)
{
    double now = sim_mono(), window = sim_scaled((double)s->status_freq_min * 60);
    g_sim.ctr.push_failed++;
    if (!s->failing) {
        s->failing = 1;
        s->fail_start = now;
        s->retry_s = 30;
    } else {
        s->retry_s *= 2;
    }
    if (now - s->fail_start + sim_scaled(s->retry_s) > window) {
        g_sim.ctr.push_dropped++;
        sim_log("push: %s: no answer from http://%s:%d%s within %d min: subscription dropped",
                g_sim.mailboxes[s->mailbox].smtp, s->host, s->port, s->path, s->status_freq_min);
        sim_sub_delete(s);
        return;
    }
    arm(s, s->retry_s);
}

static void
wait_push(struct target *t, struct sim_sub *s)
{
    if (s->queued)
        return;
    if (t->wait_tail == t->wait_cap && t->wait_head > 0) {
        memmove(t->waiting, t->waiting + t->wait_head,
                (t->wait_tail - t->wait_head) * sizeof(*t->waiting));
        t->wait_tail -= t->wait_head;
        t->wait_head = 0;
    }
    if (t->wait_tail == t->wait_cap) {
        t->wait_cap = t->wait_cap ? t->wait_cap * 2 : 1024;
        t->waiting = sim_xrealloc(t->waiting, t->wait_cap * sizeof(*t->waiting));
    }
    t->waiting[t->wait_tail++] = s->serial;
    s->queued = 1;
}

/* Hands free slots to waiting subscriptions (those deleted meanwhile are skipped). */
static void
drain(struct target *t)
{
    while (t->wait_head < t->wait_tail && slot_idle(t) >= 0) {
        uint32_t serial = t->waiting[t->wait_head++];
        struct sim_sub *s = serial < g_sim.nsubs ? g_sim.subs[serial] : NULL;
        if (s && s->queued) {
            s->queued = 0;
            send_now(s);
        }
    }
}

static void
handle_answer(struct sim_sub *s, struct evhttp_request *req)
{
    int status = 0;
    s->inflight = 0;
    if (req && evhttp_request_get_response_code(req) == 200)
        status = answer_status(req);
    if (status == 2) {
        g_sim.ctr.push_unsubscribe++;
        sim_debug("push: %s: listener answered Unsubscribe", g_sim.mailboxes[s->mailbox].smtp);
        sim_sub_delete(s);
        return;
    }
    if (status != 1) {
        sim_debug("push: %s: notification failed (HTTP %d)", g_sim.mailboxes[s->mailbox].smtp,
                  req ? evhttp_request_get_response_code(req) : 0);
        failed(s);
        return;
    }
    g_sim.ctr.push_ok++;
    s->failing = 0;
    sim_sub_consume(s, s->sending);
    s->sending = 0;
    if (s->nq)
        send_now(s);
    else
        arm(s, (double)s->status_freq_min * 60);
}

/* A listener that answers HTTP/1.0 without keep-alive (or says close) has closed the
 * connection: it must not carry the next notification. libevent only looks at the header. */
static int
answer_closes(struct evhttp_request *req)
{
    const char *c = evhttp_find_header(evhttp_request_get_input_headers(req), "Connection");
    if (c)
        return strcasecmp(c, "close") == 0;
    return req->major == 1 && req->minor == 0;
}

static void
on_answer(struct evhttp_request *req, void *arg)
{
    struct slot *sl = arg;
    struct target *t = sl->t;
    struct sim_sub *s = sl->serial < g_sim.nsubs ? g_sim.subs[sl->serial] : NULL;
    sl->busy = 0;
    if (req && answer_closes(req)) {
        /* the slot gets a new connection when needed */
        bury(sl->evcon);
        sl->evcon = NULL;
    }
    /* s is NULL when unsubscribed or moved while the notification was out */
    if (s)
        handle_answer(s, req);
    drain(t);
}

static void
send_now(struct sim_sub *s)
{
    struct target *t = target_get(s->host, s->port);
    struct evhttp_request *req;
    struct evbuffer *body;
    char hostport[300];
    int slot;
    if (s->inflight)
        return;
    if ((slot = slot_idle(t)) < 0) {
        wait_push(t, s);
        return;
    }
    t->slots[slot].serial = s->serial;
    req = evhttp_request_new(on_answer, &t->slots[slot]);
    body = evhttp_request_get_output_buffer(req);
    evbuffer_add_printf(
        body,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><s:Envelope xmlns:s=\"" SIM_NS_SOAP
        "\"><s:Header><t:RequestServerVersion xmlns:t=\"" SIM_NS_T
        "\" Version=\"%s\"/></s:Header><s:Body><m:SendNotification xmlns:m=\"" SIM_NS_M
        "\" xmlns:t=\"" SIM_NS_T "\"><m:ResponseMessages>",
        sim_request_versions[s->version]);
    sim_msg_ok(body, "SendNotificationResponseMessage");
    s->sending = sim_sub_write_notification(body, s, 100, "m");
    evbuffer_add_printf(body, "</m:SendNotificationResponseMessage></m:ResponseMessages>"
                              "</m:SendNotification></s:Body></s:Envelope>");
    snprintf(hostport, sizeof(hostport), "%s:%d", s->host, s->port);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", hostport);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/xml; charset=utf-8");
    evtimer_del(s->timer);
    if (evhttp_make_request(t->slots[slot].evcon, req, EVHTTP_REQ_POST, s->path) < 0) {
        failed(s);
        return;
    }
    t->slots[slot].busy = 1;
    s->inflight = 1;
    g_sim.ctr.push_sent++;
}

void
sim_push_kick(struct sim_sub *s)
{
    /* while retrying, new events wait for the next attempt */
    if (!s->inflight && !s->failing)
        send_now(s);
}
