/* The EWS source's notification side besides push: streaming subscriptions grouped into
 * GetStreamingEvents connections (at most EWS_MAX_STREAMING_IDS per connection, one server per
 * group), and pull subscriptions polled with GetEvents well within their timeout. */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "source_ews_int.h"

/* A change of a group's members is applied after this pause, so that the subscriptions made in
 * one burst (start-up, users-enable) share one new connection instead of one each. */
#define STREAM_DEBOUNCE_MS 500
/* Minutes a GetStreamingEvents request stays open before Exchange closes it (1..30). */
#define STREAM_CONNECTION_MIN 30
/* Failed connections of a group in a row before its members are reported lost. */
#define STREAM_MAX_FAILURES 3

struct ews_stream_group {
    struct ews_source *s;
    char *server; /* owned: the URL every member's subscription lives on */
    char *ids[EWS_MAX_STREAMING_IDS];
    char *mailboxes[EWS_MAX_STREAMING_IDS];
    void *users[EWS_MAX_STREAMING_IDS];
    size_t n;
    struct ews_op *op;     /* the open GetStreamingEvents, or NULL */
    struct event *restart; /* debounce and retry timer */
    int failures;
};

struct ews_pull_sub {
    struct ews_pull_sub *next;
    struct ews_source *s;
    void *user;
    char *mailbox;   /* owned */
    char *id;        /* owned */
    char *watermark; /* owned */
    struct ews_op *op;
    struct event *timer;
};

static void stream_open(struct ews_stream_group *g);

/* ---- streaming ---- */

static void
schedule_restart(struct ews_stream_group *g, long delay_ms)
{
    struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};
    evtimer_add(g->restart, &tv);
}

static void
member_drop(struct ews_stream_group *g, size_t i)
{
    free(g->ids[i]);
    free(g->mailboxes[i]);
    g->n--;
    g->ids[i] = g->ids[g->n];
    g->mailboxes[i] = g->mailboxes[g->n];
    g->users[i] = g->users[g->n];
}

/* Reports every member lost with ERR (the engine resubscribes them elsewhere) and empties the
 * group. */
static void
group_lost(struct ews_stream_group *g, const struct cp_source_error *err)
{
    while (g->n > 0) {
        void *user = g->users[g->n - 1];
        member_drop(g, g->n - 1);
        g->s->ev->lost(g->s->ev_ud, user, err);
    }
}

static size_t
member_find(const struct ews_stream_group *g, const char *id)
{
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->ids[i], id) == 0)
            return i;
    return g->n;
}

static int
on_frame(void *ud, const struct ews_stream_frame *f)
{
    struct ews_stream_group *g = ud;
    g->failures = 0;
    for (size_t i = 0; i < f->notifications.n_items; i++)
        cp_ews_deliver(g->s, &f->notifications.items[i]);
    for (size_t i = 0; i < f->n_errors; i++) {
        const struct ews_subscription_error *se = &f->errors[i];
        size_t k = se->subscription_id ? member_find(g, se->subscription_id) : g->n;
        if (k == g->n)
            continue;
        struct cp_source_error e;
        void *user = g->users[k];
        cp_ews_source_error(&se->error, EWS_E_RESPONSE, &e);
        member_drop(g, k);
        schedule_restart(g, STREAM_DEBOUNCE_MS);
        g->s->ev->lost(g->s->ev_ud, user, &e);
    }
    return 0;
}

static void
on_stream_done(void *ud, int rc, const struct ews_error *err)
{
    struct ews_stream_group *g = ud;
    g->op = NULL;
    /* Counted when it ends, without a latency: it is meant to stay open. */
    cp_ews_count(g->s, CP_SOP_STREAM_EVENTS, rc, err, NULL);
    if (rc == 0) { /* ConnectionStatus Closed: Exchange wants a new request */
        stream_open(g);
        return;
    }
    struct cp_source_error e;
    cp_ews_source_error(err, rc, &e);
    if (e.kind == CP_SRC_RETRY_LATER) {
        schedule_restart(g, e.backoff_ms > 0 ? e.backoff_ms : 1000);
        return;
    }
    if (e.kind == CP_SRC_SERVER_DOWN || ++g->failures >= STREAM_MAX_FAILURES) {
        cp_log_warn("engine", "%s: stream of %zu subscriptions failed (%s): resubscribing them",
                    g->server, g->n, e.text);
        g->failures = 0;
        group_lost(g, &e);
        return;
    }
    cp_log_info("engine", "%s: stream of %zu subscriptions failed (%s): reopening", g->server, g->n,
                e.text);
    schedule_restart(g, 2000L * g->failures);
}

static void
stream_open(struct ews_stream_group *g)
{
    if (g->n == 0)
        return;
    int rc =
        ews_get_streaming_events(g->s->client, g->mailboxes[0], (const char *const *)g->ids, g->n,
                                 STREAM_CONNECTION_MIN, on_frame, on_stream_done, g, &g->op);
    if (rc != 0) {
        g->op = NULL;
        schedule_restart(g, 1000);
    }
}

static void
on_restart(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    struct ews_stream_group *g = ud;
    /* A subscription moves to the newest connection that names it: open the new one with the
     * current members first, then drop the old. */
    struct ews_op *old = g->op;
    g->op = NULL;
    if (old) {
        ews_cancel(old);
        /* A connection replaced by one naming the current members ended well. */
        cp_ews_count(g->s, CP_SOP_STREAM_EVENTS, 0, NULL, NULL);
    }
    stream_open(g);
}

static struct ews_stream_group *
group_for(struct ews_source *s, const char *server)
{
    for (size_t i = 0; i < s->n_groups; i++) {
        struct ews_stream_group *g = s->groups[i];
        if (g->n < EWS_MAX_STREAMING_IDS && strcmp(g->server, server) == 0)
            return g;
    }
    struct ews_stream_group **grown = realloc(s->groups, (s->n_groups + 1) * sizeof(*grown));
    if (!grown)
        return NULL;
    s->groups = grown;
    struct ews_stream_group *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->s = s;
    g->server = strdup(server);
    g->restart = evtimer_new(s->evbase, on_restart, g);
    if (!g->server || !g->restart) {
        free(g->server);
        if (g->restart)
            event_free(g->restart);
        free(g);
        return NULL;
    }
    s->groups[s->n_groups++] = g;
    return g;
}

int
cp_ews_stream_add(struct ews_source *s, void *user, const char *mailbox, const char *id)
{
    const char *server = ews_client_server_of(s->client, mailbox);
    struct ews_stream_group *g = server ? group_for(s, server) : NULL;
    if (!g)
        return CP_ENOMEM;
    char *idc = strdup(id), *mbc = strdup(mailbox);
    if (!idc || !mbc) {
        free(idc);
        free(mbc);
        return CP_ENOMEM;
    }
    g->ids[g->n] = idc;
    g->mailboxes[g->n] = mbc;
    g->users[g->n] = user;
    g->n++;
    if (!evtimer_pending(g->restart, NULL))
        schedule_restart(g, STREAM_DEBOUNCE_MS);
    return 0;
}

void
cp_ews_stream_remove(struct ews_source *s, const char *id)
{
    for (size_t i = 0; i < s->n_groups; i++) {
        struct ews_stream_group *g = s->groups[i];
        size_t k = member_find(g, id);
        if (k < g->n) {
            member_drop(g, k);
            if (!evtimer_pending(g->restart, NULL))
                schedule_restart(g, STREAM_DEBOUNCE_MS);
            return;
        }
    }
}

size_t
cp_ews_streams_open(const struct ews_source *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_groups; i++)
        n += s->groups[i]->op != NULL;
    return n;
}

void
cp_ews_streams_free(struct ews_source *s)
{
    for (size_t i = 0; i < s->n_groups; i++) {
        struct ews_stream_group *g = s->groups[i];
        if (g->op)
            ews_cancel(g->op);
        while (g->n > 0)
            member_drop(g, g->n - 1);
        event_free(g->restart);
        free(g->server);
        free(g);
    }
    free(s->groups);
    s->groups = NULL;
    s->n_groups = 0;
}

/* ---- pull ---- */

static void pull_poll(struct ews_pull_sub *p);

static void
pull_schedule(struct ews_pull_sub *p, long delay_ms)
{
    struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};
    evtimer_add(p->timer, &tv);
}

static long
pull_interval_ms(const struct ews_source *s)
{
    return s->pull_interval * 1000L;
}

static void
on_events(void *ud, int rc, struct ews_notification_list *res, const struct ews_error *err)
{
    struct ews_pull_sub *p = ud;
    struct ews_source *s = p->s;
    cp_ews_count(s, CP_SOP_POLL_EVENTS, rc, err, p->op);
    p->op = NULL;
    if (rc != 0) {
        struct cp_source_error e;
        cp_ews_source_error(err, rc, &e);
        if (e.kind == CP_SRC_SUBSCRIPTION_GONE || e.kind == CP_SRC_SERVER_DOWN ||
            e.kind == CP_SRC_MAILBOX) {
            void *user = p->user;
            cp_ews_pull_remove(s, p->id); /* frees P */
            s->ev->lost(s->ev_ud, user, &e);
            return;
        }
        pull_schedule(p, e.kind == CP_SRC_RETRY_LATER && e.backoff_ms > 0 ? e.backoff_ms
                                                                          : pull_interval_ms(s));
        return;
    }
    bool more = false;
    for (size_t i = 0; i < res->n_items; i++) {
        const struct ews_notification *n = &res->items[i];
        for (size_t k = 0; k < n->n_events; k++) {
            if (n->events[k].watermark) {
                char *w = strdup(n->events[k].watermark);
                if (w) {
                    free(p->watermark);
                    p->watermark = w;
                }
            }
        }
        more = more || n->more_events;
        /* The user may be dropped from inside deliver (the engine unsubscribes on disable);
         * the id is looked up again, so a freed P is never touched after it. */
    }
    char *id = strdup(p->id);
    for (size_t i = 0; i < res->n_items; i++)
        cp_ews_deliver(s, &res->items[i]);
    /* Still polled? The engine may have dropped this subscription while handling it. */
    struct ews_pull_sub *still = s->pulls;
    while (still && id && strcmp(still->id, id) != 0)
        still = still->next;
    free(id);
    if (still == p)
        pull_schedule(p, more ? 0 : pull_interval_ms(s));
}

static void
pull_poll(struct ews_pull_sub *p)
{
    if (ews_get_events(p->s->client, p->mailbox, p->id, p->watermark, on_events, p, &p->op) != 0) {
        p->op = NULL;
        pull_schedule(p, pull_interval_ms(p->s));
    }
}

static void
on_pull_timer(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    pull_poll(ud);
}

static void
pull_free(struct ews_pull_sub *p)
{
    if (p->op)
        ews_cancel(p->op);
    if (p->timer)
        event_free(p->timer);
    free(p->mailbox);
    free(p->id);
    free(p->watermark);
    free(p);
}

int
cp_ews_pull_add(struct ews_source *s, void *user, const char *mailbox, const char *id,
                const char *watermark)
{
    struct ews_pull_sub *p = calloc(1, sizeof(*p));
    if (!p)
        return CP_ENOMEM;
    p->s = s;
    p->user = user;
    p->mailbox = strdup(mailbox);
    p->id = strdup(id);
    p->watermark = watermark ? strdup(watermark) : NULL;
    p->timer = evtimer_new(s->evbase, on_pull_timer, p);
    if (!p->mailbox || !p->id || (watermark && !p->watermark) || !p->timer) {
        pull_free(p);
        return CP_ENOMEM;
    }
    p->next = s->pulls;
    s->pulls = p;
    /* The first poll right away: after a restart it says at once whether the subscription
     * survived, and it catches the events since the stored watermark. */
    pull_schedule(p, 0);
    return 0;
}

void
cp_ews_pull_remove(struct ews_source *s, const char *id)
{
    for (struct ews_pull_sub **pp = &s->pulls; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->id, id) == 0) {
            struct ews_pull_sub *p = *pp;
            *pp = p->next;
            pull_free(p);
            return;
        }
    }
}

void
cp_ews_pulls_free(struct ews_source *s)
{
    while (s->pulls) {
        struct ews_pull_sub *p = s->pulls;
        s->pulls = p->next;
        pull_free(p);
    }
}
