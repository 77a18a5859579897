/* The engine: the users' map, the work queues that pace requests to Exchange and presence to
 * XMPP, the batched store writes, the start-up walk, and the operator's summary line. The
 * per-user state machine is user.c. */
#include <search.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config/config.h"
#include "engine_int.h"

/* Stanzas allowed in libstrophe's send queue before the outbox waits: enough to keep the
 * socket busy, small enough that a burst of 100,000 transitions is held as one pointer per
 * user instead of serialised stanzas. */
#define OUTBOX_HIGH_WATER 2000
/* How long the outbox waits for libstrophe to drain before looking again. */
#define OUTBOX_RETRY_MS 5
/* Users published per loop turn at most, so timers and sockets get their turn. */
#define OUTBOX_BATCH 500
/* Pause before a partial batch of free/busy reads is sent, so that users arriving one by one
 * still share GetUserAvailability calls. */
#define READ_BATCH_WAIT_MS 200
#define STORE_FLUSH_MS 500
#define SUMMARY_S 60

/* tdestroy's node action: the users are freed from e->all, once each. */
static void
free_nothing(void *p)
{
    (void)p;
}

static int
cmp_jid(const void *a, const void *b)
{
    return strcmp(((const struct cp_euser *)a)->jid, ((const struct cp_euser *)b)->jid);
}

time_t
eng_now(void)
{
    return (time_t)(cp_sched_now_ms() / 1000);
}

static struct cp_euser *
find_user(struct cp_engine *e, const char *jid)
{
    struct cp_euser key = {.jid = (char *)jid};
    void *r = tfind(&key, &e->by_jid, cmp_jid);
    return r ? *(struct cp_euser **)r : NULL;
}

static struct cp_euser *
get_user(struct cp_engine *e, const char *jid)
{
    struct cp_euser *u = find_user(e, jid);
    if (u)
        return u;
    if (e->n_all == e->cap_all) {
        size_t cap = e->cap_all ? e->cap_all * 2 : 1024;
        struct cp_euser **grown = realloc(e->all, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        e->all = grown;
        e->cap_all = cap;
    }
    u = eu_new(e, jid);
    if (!u)
        return NULL;
    void *r = tsearch(u, &e->by_jid, cmp_jid);
    if (!r) {
        eu_free(u);
        return NULL;
    }
    e->all[e->n_all++] = u;
    return u;
}

/* ---- queues ---- */

static void
q_push(struct eu_queue *q, struct cp_euser *u)
{
    u->next_queued = NULL;
    if (q->tail)
        q->tail->next_queued = u;
    else
        q->head = u;
    q->tail = u;
    q->n++;
}

static struct cp_euser *
q_pop(struct eu_queue *q)
{
    struct cp_euser *u = q->head;
    if (!u)
        return NULL;
    q->head = u->next_queued;
    if (!q->head)
        q->tail = NULL;
    q->n--;
    u->next_queued = NULL;
    return u;
}

static void
schedule(struct event *ev, long ms)
{
    if (evtimer_pending(ev, NULL))
        return;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(ev, &tv);
}

void
eng_pump(struct cp_engine *e)
{
    if (e->src && (e->subscribe_q.n || e->read_q.n || e->detail_q.n))
        schedule(e->pump_ev, 0);
}

void
eng_queue_subscribe(struct cp_engine *e, struct cp_euser *u)
{
    if (u->queued || u->in_flight)
        return;
    u->queued = true;
    q_push(&e->subscribe_q, u);
    eng_pump(e);
}

void
eng_queue_read(struct cp_engine *e, struct cp_euser *u, bool detailed)
{
    if (u->in_flight) {
        u->read_wanted = true;
        return;
    }
    if (u->queued)
        return;
    u->queued = true;
    if (!detailed && e->read_q.n == 0)
        e->read_q_since_ms = cp_sched_now_ms();
    q_push(detailed ? &e->detail_q : &e->read_q, u);
    if (detailed || e->read_q.n >= e->src->ops->max_batch)
        eng_pump(e);
    else
        schedule(e->batch_ev, READ_BATCH_WAIT_MS);
}

/* A free/busy batch goes out full, or once its oldest user waited READ_BATCH_WAIT_MS: while
 * subscriptions complete one by one, sending whatever is queued would spend a
 * GetUserAvailability call on a handful of mailboxes. Returns the wait left, 0 when ready. */
static long
batch_wait_ms(const struct cp_engine *e)
{
    if (e->read_q.n >= e->src->ops->max_batch)
        return 0;
    int64_t waited = cp_sched_now_ms() - e->read_q_since_ms;
    return waited >= READ_BATCH_WAIT_MS ? 0 : (long)(READ_BATCH_WAIT_MS - waited);
}

/* Takes the next user of Q that still wants the work (a user disabled while queued is
 * dropped here). */
static struct cp_euser *
next_live(struct eu_queue *q)
{
    struct cp_euser *u;
    while ((u = q_pop(q)) != NULL) {
        u->queued = false;
        if (u->state != EU_DISABLED)
            return u;
    }
    return NULL;
}

static bool
start_detailed(struct cp_engine *e, struct cp_euser *u)
{
    time_t now = eng_now();
    int rc = e->src->ops->read_detailed(e->src, u, u->mailbox, now - WINDOW_BACK_S,
                                        now + WINDOW_AHEAD_S);
    if (rc != 0)
        return false;
    u->in_flight = true;
    u->holds_slot = true;
    e->in_flight++;
    return true;
}

void
eng_op_done(struct cp_engine *e, struct cp_euser *u)
{
    u->in_flight = false;
    if (u->holds_slot) {
        u->holds_slot = false;
        e->in_flight--;
    }
    eng_pump(e);
}

static bool
start_batch(struct cp_engine *e)
{
    size_t max = e->src->ops->max_batch;
    void *users[128];
    const char *mailboxes[128];
    size_t n = 0;
    if (max > 128)
        max = 128;
    struct cp_euser *u;
    while (n < max && (u = next_live(&e->read_q)) != NULL) {
        users[n] = u;
        mailboxes[n] = u->mailbox;
        n++;
    }
    if (n == 0)
        return true;
    time_t now = eng_now();
    if (e->src->ops->read_many(e->src, users, mailboxes, n, now - WINDOW_BACK_S,
                               now + WINDOW_AHEAD_S) != 0) {
        for (size_t i = 0; i < n; i++) /* back to the queue, to be tried again */
            eng_queue_read(e, users[i], false);
        return false;
    }
    /* One request, one slot: the batch's first user holds it until its window arrives, which
     * happens in the same callback as the others'. */
    for (size_t i = 0; i < n; i++)
        ((struct cp_euser *)users[i])->in_flight = true;
    ((struct cp_euser *)users[0])->holds_slot = true;
    e->in_flight++;
    return true;
}

static bool
start_subscribe(struct cp_engine *e, struct cp_euser *u)
{
    if (e->src->ops->subscribe(e->src, u, u->mailbox) != 0)
        return false;
    u->in_flight = true;
    u->holds_slot = true;
    e->in_flight++;
    return true;
}

/* Starts queued work while fewer than max_in_flight operations run: reads after notifications
 * first (a user waits for them), then batched reads, then new subscriptions. */
static void
on_pump(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    struct cp_engine *e = ud;
    bool stalled = false;
    while (!stalled && e->in_flight < e->max_in_flight) {
        struct cp_euser *u;
        if ((u = next_live(&e->detail_q)) != NULL) {
            if (!start_detailed(e, u)) {
                eng_queue_read(e, u, true);
                stalled = true;
            }
        } else if (e->read_q.n > 0 && batch_wait_ms(e) == 0) {
            stalled = !start_batch(e);
        } else if ((u = next_live(&e->subscribe_q)) != NULL) {
            if (!start_subscribe(e, u)) {
                eng_queue_subscribe(e, u);
                stalled = true;
            }
        } else {
            break;
        }
    }
    /* Separate timers: a pending 'look again later' must never delay the 'go now' that a
     * completed request or a filled batch asks for. */
    if (stalled) /* the source's queue is full: look again shortly */
        schedule(e->retry_ev, 100);
    else if (e->read_q.n > 0)
        schedule(e->batch_ev, batch_wait_ms(e));
}

/* ---- publication ---- */

void
eng_publish(struct cp_engine *e, struct cp_euser *u)
{
    if (u->in_outbox) {
        /* Queued while the stream was down: the outbox sleeps until someone wakes it. */
        schedule(e->outbox_ev, 0);
        return;
    }
    if (e->ob_n == e->ob_cap) {
        size_t cap = e->ob_cap ? e->ob_cap * 2 : 1024;
        struct cp_euser **grown = malloc(cap * sizeof(*grown));
        if (!grown) {
            cp_log_warn("presence", "%s: out of memory queueing a presence change", u->jid);
            return;
        }
        for (size_t i = 0; i < e->ob_n; i++)
            grown[i] = e->outbox[(e->ob_head + i) % e->ob_cap];
        free(e->outbox);
        e->outbox = grown;
        e->ob_cap = cap;
        e->ob_head = 0;
    }
    e->outbox[(e->ob_head + e->ob_n) % e->ob_cap] = u;
    e->ob_n++;
    u->in_outbox = true;
    schedule(e->outbox_ev, 0);
}

/* Publishes from the outbox while libstrophe's queue is short. The presence is computed when
 * it goes out, so a user who changed twice while waiting sends only the newest state, and
 * nothing is lost: the user stays queued until its turn. */
static void
on_outbox(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    struct cp_engine *e = ud;
    if (!e->hooks.online(e->hooks_ud))
        return; /* the next handshake republishes everyone */
    size_t sent = 0;
    while (e->ob_n > 0 && sent < OUTBOX_BATCH) {
        if (e->hooks.send_queue(e->hooks_ud) >= OUTBOX_HIGH_WATER)
            break;
        struct cp_euser *u = e->outbox[e->ob_head];
        e->ob_head = (e->ob_head + 1) % e->ob_cap;
        e->ob_n--;
        u->in_outbox = false;
        e->hooks.publish(e->hooks_ud, u->jid);
        sent++;
    }
    if (e->ob_n > 0)
        schedule(e->outbox_ev, sent == OUTBOX_BATCH ? 0 : OUTBOX_RETRY_MS);
}

void
cp_engine_queue_publish(struct cp_engine *e, const char *user_jid)
{
    struct cp_euser *u = find_user(e, user_jid);
    /* A calendar being read for the first time is published when the read ends: sending
     * unavailable now would only tell the server, at start, what it already knows, one
     * stanza per subscriber (100,000 before any real presence, in the benchmark). */
    if (u && !u->known && (u->state == EU_SUBSCRIBING || u->state == EU_READING))
        return;
    if (!u)
        u = get_user(e, user_jid);
    if (u)
        eng_publish(e, u);
    else
        cp_log_warn("presence", "%s: out of memory queueing a presence update", user_jid);
}

/* ---- store writes ---- */

void
eng_mark_store(struct cp_engine *e, struct cp_euser *u)
{
    if (u->store_dirty)
        return;
    if (e->n_dirty == e->cap_dirty) {
        size_t cap = e->cap_dirty ? e->cap_dirty * 2 : 256;
        struct cp_euser **grown = realloc(e->dirty, cap * sizeof(*grown));
        if (!grown) {
            cp_log_warn("store", "%s: out of memory: its subscription is not saved", u->jid);
            return;
        }
        e->dirty = grown;
        e->cap_dirty = cap;
    }
    e->dirty[e->n_dirty++] = u;
    u->store_dirty = true;
    schedule(e->store_ev, STORE_FLUSH_MS);
}

/* One transaction for every subscription change of the last half second: a durable commit
 * costs a third of a millisecond, so 100,000 of them one by one would hold the loop for half
 * a minute. A crash loses at most that half second: those users subscribe again at start and
 * their orphaned push subscriptions are answered Unsubscribe. */
static void
on_store_flush(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    struct cp_engine *e = ud;
    if (e->n_dirty == 0)
        return;
    bool batch = cp_store_batch_begin(e->store) == 0;
    for (size_t i = 0; i < e->n_dirty; i++) {
        struct cp_euser *u = e->dirty[i];
        u->store_dirty = false;
        if (u->sub == SUB_ACTIVE && u->sub_id) {
            struct cp_ews_sub s = {.id = u->sub_id,
                                   .kind = (char *)u->sub_kind,
                                   .server = u->sub_server,
                                   .watermark = u->sub_cursor};
            cp_store_ews_sub_set(e->store, u->jid, &s);
        } else {
            cp_store_ews_sub_clear(e->store, u->jid);
        }
    }
    if (batch && cp_store_batch_end(e->store, true) != 0)
        cp_log_warn("store", "%zu subscription changes not saved (see above)", e->n_dirty);
    e->n_dirty = 0;
}

/* ---- timers ---- */

static void
on_tick(void *ud, struct cp_sched_entry *entry)
{
    (void)ud;
    struct cp_euser *u = (struct cp_euser *)((char *)entry - offsetof(struct cp_euser, tick));
    eu_fire_tick(u);
}

static void
on_timer(void *ud, struct cp_sched_entry *entry)
{
    (void)ud;
    struct cp_euser *u = (struct cp_euser *)((char *)entry - offsetof(struct cp_euser, timer));
    eu_fire_timer(u);
}

static void
on_silence(void *ud, struct cp_sched_entry *entry)
{
    (void)ud;
    struct cp_euser *u = (struct cp_euser *)((char *)entry - offsetof(struct cp_euser, silence));
    eu_check_silence(u);
}

static void
count_users(struct cp_engine *e)
{
    e->st.users = e->st.published = e->st.failing = e->st.pending = 0;
    for (size_t i = 0; i < e->n_all; i++) {
        const struct cp_euser *u = e->all[i];
        if (u->state == EU_DISABLED)
            continue;
        e->st.users++;
        if (u->state == EU_PUBLISHED)
            e->st.published++;
        else if (u->state == EU_ERROR)
            e->st.failing++;
        else
            e->st.pending++;
    }
    e->st.outbox = e->ob_n;
}

static void
log_summary(struct cp_engine *e)
{
    count_users(e);
    struct cp_source_stats ss = {0};
    unsigned long requests, failures;
    if (e->src)
        e->src->ops->stats(e->src, &ss);
    cp_source_totals(&ss, &requests, &failures);
    cp_log_info("engine",
                "users %zu enabled, %zu published, %zu pending, %zu failing; last minute: "
                "%lu requests (%lu failed), %lu notifications, %lu transitions; send queue %zu, "
                "outbox %zu",
                e->st.users, e->st.published, e->st.pending, e->st.failing,
                requests - e->last_requests, failures - e->last_failures,
                e->st.notifications - e->last_notifications,
                e->st.transitions - e->last_transitions, e->hooks.send_queue(e->hooks_ud), e->ob_n);
    e->last_requests = requests;
    e->last_failures = failures;
    e->last_notifications = e->st.notifications;
    e->last_transitions = e->st.transitions;
    if (!e->src)
        return;
    struct cp_source_server sv[16];
    size_t n = e->src->ops->servers(e->src, sv, 16);
    for (size_t i = 0; i < n && i < 16; i++)
        cp_log_info("engine", "%s: %s, %zu users, %u in flight, %zu queued%s", sv[i].url,
                    sv[i].healthy ? "healthy" : "DOWN", sv[i].mailboxes, sv[i].in_flight,
                    sv[i].queued, sv[i].backoff_left_ms > 0 ? ", backing off" : "");
}

static void
on_minute(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    log_summary(ud);
}

/* ---- public ---- */

int
cp_engine_new(struct event_base *base, const struct cp_config *cfg, struct cp_store *store,
              const struct cp_engine_hooks *hooks, void *hooks_ud, struct cp_engine **out,
              char *why, size_t whylen)
{
    struct cp_engine *e = calloc(1, sizeof(*e));
    if (!e) {
        snprintf(why, whylen, "out of memory");
        return CP_ENOMEM;
    }
    e->base = base;
    e->cfg = cfg;
    e->store = store;
    e->hooks = *hooks;
    e->hooks_ud = hooks_ud;
    e->ticks = cp_sched_new(base, on_tick, e);
    e->timers = cp_sched_new(base, on_timer, e);
    e->pump_ev = evtimer_new(base, on_pump, e);
    e->retry_ev = evtimer_new(base, on_pump, e);
    e->batch_ev = evtimer_new(base, on_pump, e);
    e->outbox_ev = evtimer_new(base, on_outbox, e);
    e->store_ev = evtimer_new(base, on_store_flush, e);
    e->minute_ev = event_new(base, -1, EV_PERSIST, on_minute, e);
    e->silences = cp_sched_new(base, on_silence, e);
    if (!e->ticks || !e->timers || !e->pump_ev || !e->retry_ev || !e->batch_ev || !e->outbox_ev ||
        !e->store_ev || !e->minute_ev || !e->silences) {
        snprintf(why, whylen, "out of memory");
        cp_engine_free(e);
        return CP_ENOMEM;
    }
    /* Keep the source's queue shallow: a read after a notification then waits behind at most
     * a few requests per connection, not behind thousands of queued subscriptions. */
    size_t servers = cfg->ews_urls.n ? cfg->ews_urls.n : 1;
    e->max_in_flight = 2 * (size_t)cfg->concurrency * servers;
    if (e->max_in_flight > (size_t)cfg->queue)
        e->max_in_flight = (size_t)cfg->queue;
    if (cfg->ews_urls.n > 0) {
        int rc = cp_source_ews_new(base, cfg, &eu_source_events, e, &e->src, why, whylen);
        if (rc != 0) {
            cp_engine_free(e);
            return rc;
        }
    }
    struct timeval minute = {SUMMARY_S, 0};
    event_add(e->minute_ev, &minute);
    *out = e;
    return 0;
}

void
cp_engine_free(struct cp_engine *e)
{
    if (!e)
        return;
    if (e->store_ev && e->n_dirty > 0)
        on_store_flush(-1, 0, e);
    if (e->src)
        e->src->ops->free(e->src);
    tdestroy(e->by_sub, free_nothing);
    tdestroy(e->by_jid, free_nothing);
    for (size_t i = 0; i < e->n_all; i++)
        eu_free(e->all[i]);
    free(e->all);
    free(e->outbox);
    free(e->dirty);
    cp_sched_free(e->ticks);
    cp_sched_free(e->timers);
    cp_sched_free(e->silences);
    if (e->pump_ev)
        event_free(e->pump_ev);
    if (e->retry_ev)
        event_free(e->retry_ev);
    if (e->batch_ev)
        event_free(e->batch_ev);
    if (e->outbox_ev)
        event_free(e->outbox_ev);
    if (e->store_ev)
        event_free(e->store_ev);
    if (e->minute_ev)
        event_free(e->minute_ev);
    free(e);
}

struct start_walk {
    struct cp_engine *e;
    size_t users, kept, orphans;
};

static int
start_user(const struct cp_user *row, void *ud)
{
    struct start_walk *w = ud;
    struct cp_euser *u = get_user(w->e, row->jid);
    if (!u)
        return CP_ENOMEM;
    struct cp_ews_sub stored = {0};
    bool have = w->e->src && cp_store_ews_sub_get(w->e->store, row->jid, &stored) == 0;
    eu_enable(u, row, have ? &stored : NULL);
    if (have && u->sub == SUB_ACTIVE)
        w->kept++;
    cp_ews_sub_clear(&stored);
    w->users++;
    return 0;
}

/* Subscriptions stored for users no longer enabled (disabled while the daemon was down):
 * dropped at the source; push ones are answered Unsubscribe when they next notify. */
static int
drop_orphan(const char *user_jid, const struct cp_ews_sub *sub, void *ud)
{
    struct start_walk *w = ud;
    struct cp_euser *u = find_user(w->e, user_jid);
    if (u && u->state != EU_DISABLED)
        return 0;
    if (w->e->src) {
        struct cp_source_sub s = {sub->id, sub->server, sub->watermark, sub->kind};
        w->e->src->ops->unsubscribe(w->e->src, user_jid, &s);
    }
    cp_store_ews_sub_clear(w->e->store, user_jid);
    w->orphans++;
    return 0;
}

int
cp_engine_start(struct cp_engine *e)
{
    struct start_walk w = {e, 0, 0, 0};
    if (e->src)
        cp_log_info("engine", "Exchange: %s", e->src->ops->describe(e->src));
    else
        cp_log_warn("engine", "no [exchange] ews_urls: calendar JIDs stay unavailable");
    if (cp_store_enabled_users_each(e->store, start_user, &w) != 0 ||
        cp_store_ews_subs_each(e->store, drop_orphan, &w) != 0) {
        cp_log_error("engine", "cannot load the enabled users (see above)");
        return CP_EIO;
    }
    cp_log_info("engine",
                "%zu enabled users: %zu subscriptions kept, %zu to make, %zu orphaned "
                "ones dropped",
                w.users, w.kept, w.users - w.kept, w.orphans);
    return 0;
}

void
cp_engine_set_config(struct cp_engine *e, const struct cp_config *cfg)
{
    e->cfg = cfg;
}

void
cp_engine_user_changed(struct cp_engine *e, const char *user_jid)
{
    struct cp_user row = {0};
    int rc = cp_store_user_get(e->store, user_jid, &row);
    struct cp_euser *u = find_user(e, user_jid);
    if (rc == 0 && row.enabled) {
        if (!u)
            u = get_user(e, user_jid);
        if (!u) {
            cp_log_warn("engine", "%s: out of memory enabling", user_jid);
        } else if (u->state == EU_DISABLED) {
            eu_enable(u, &row, NULL);
            eng_publish(e, u);
        } else {
            eu_settings(u, &row);
        }
    } else if (u) {
        eu_disable(u);
    } else {
        /* Never enabled here: nothing runs, but its subscribers learn it is unavailable. */
        cp_engine_queue_publish(e, user_jid);
    }
    cp_user_clear(&row);
}

int
cp_engine_resubscribe(struct cp_engine *e, const char *user_jid)
{
    struct cp_euser *u = find_user(e, user_jid);
    if (!u || u->state == EU_DISABLED)
        return CP_ENOTFOUND;
    if (e->src)
        e->src->ops->reassign(e->src, u->mailbox);
    eu_resubscribe(u, "asked by an admin");
    return 0;
}

void
cp_engine_presence(struct cp_engine *e, const char *user_jid, struct cp_engine_presence *out)
{
    static const enum cp_engine_show shows[] = {[CP_TL_FREE] = CP_SHOW_FREE,
                                                [CP_TL_TENTATIVE] = CP_SHOW_TENTATIVE,
                                                [CP_TL_BUSY] = CP_SHOW_BUSY,
                                                [CP_TL_OOF] = CP_SHOW_OOF,
                                                [CP_TL_ELSEWHERE] = CP_SHOW_ELSEWHERE};
    struct cp_euser *u = find_user(e, user_jid);
    memset(out, 0, sizeof(*out));
    if (!u || !u->known || u->state == EU_DISABLED || u->state == EU_ERROR)
        return;
    out->show = shows[u->shown.state];
    out->until = u->shown.until;
    out->subject = u->include_subject ? u->shown.subject : NULL;
}

static void
format_time(time_t t, char *buf, size_t len)
{
    struct tm tm;
    if (t <= 0 || !gmtime_r(&t, &tm)) {
        buf[0] = '\0';
        return;
    }
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int
cp_engine_user_view(struct cp_engine *e, const char *user_jid, struct cp_engine_user_view *out)
{
    struct cp_euser *u = find_user(e, user_jid);
    memset(out, 0, sizeof(*out));
    if (!u || u->state == EU_DISABLED)
        return CP_ENOTFOUND;
    if (u->state == EU_ERROR)
        snprintf(out->state, sizeof(out->state), "error");
    else if (!u->known)
        snprintf(out->state, sizeof(out->state), "unavailable");
    else
        snprintf(out->state, sizeof(out->state), "%s", cp_tl_state_name(u->shown.state));
    if (u->known && u->state != EU_ERROR)
        format_time(u->shown.until, out->until, sizeof(out->until));
    const char *server = e->src ? e->src->ops->server_of(e->src, u->mailbox) : NULL;
    snprintf(out->server, sizeof(out->server), "%s", server ? server : "");
    char heard[32];
    format_time(u->last_heard, heard, sizeof(heard));
    switch (u->sub) {
    case SUB_ACTIVE:
        snprintf(out->subscription, sizeof(out->subscription), "active (%s, last heard %s)",
                 u->sub_kind, heard);
        break;
    case SUB_PENDING:
        snprintf(out->subscription, sizeof(out->subscription), "pending");
        break;
    case SUB_LOST:
        snprintf(out->subscription, sizeof(out->subscription), "lost, resubscribing");
        break;
    default:
        snprintf(out->subscription, sizeof(out->subscription), "none");
        break;
    }
    if (u->last_error) {
        char since[32], retry[32] = "";
        format_time(u->state_since, since, sizeof(since));
        if (cp_sched_pending(&u->timer))
            format_time((time_t)(u->timer.due_ms / 1000), retry, sizeof(retry));
        snprintf(out->last_error, sizeof(out->last_error), "%s (%s since %s%s%s)", u->last_error,
                 eu_state_name(u), since, retry[0] ? ", retry at " : "", retry);
    }
    return 0;
}

void
cp_engine_stats(const struct cp_engine *e, struct cp_engine_stats *out)
{
    count_users((struct cp_engine *)e);
    *out = e->st;
}

char *
cp_engine_servers_report(struct cp_engine *e)
{
    count_users(e);
    size_t cap = 4096, used = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    used += (size_t)snprintf(buf, cap,
                             "Engine: %zu users enabled, %zu published, %zu pending, %zu failing; "
                             "%lu transitions, %lu notifications since start\n",
                             e->st.users, e->st.published, e->st.pending, e->st.failing,
                             e->st.transitions, e->st.notifications);
    if (!e->src)
        return buf;
    struct cp_source_server sv[16];
    size_t n = e->src->ops->servers(e->src, sv, 16);
    for (size_t i = 0; i < n && i < 16 && used < cap; i++)
        used += (size_t)snprintf(
            buf + used, cap - used, "%s: %s, %zu users, %u requests in flight, %zu queued%s\n",
            sv[i].url, sv[i].healthy ? "healthy" : "down", sv[i].mailboxes, sv[i].in_flight,
            sv[i].queued, sv[i].backoff_left_ms > 0 ? ", backing off (ErrorServerBusy)" : "");
    return buf;
}

size_t
cp_engine_source(struct cp_engine *e, struct cp_source_stats *out, struct cp_engine_server *servers,
                 size_t max)
{
    memset(out, 0, sizeof(*out));
    if (!e->src)
        return 0;
    e->src->ops->stats(e->src, out);
    struct cp_source_server sv[16];
    size_t n = e->src->ops->servers(e->src, sv, 16);
    for (size_t i = 0; i < n && i < 16 && i < max; i++)
        servers[i] =
            (struct cp_engine_server){sv[i].url,    sv[i].healthy,   sv[i].in_flight,
                                      sv[i].queued, sv[i].mailboxes, sv[i].backoff_left_ms};
    return n < 16 ? n : 16;
}
