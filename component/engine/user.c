/* One user's life (architecture.md, "Per-user life"): enabled -> subscribed -> calendar read ->
 * published -> waiting for the next change or a notification; disable -> unsubscribe ->
 * unavailable. Every function runs on the loop; the source's events land here. */
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "engine_int.h"

/* The window (engine_int.h) is read again a day later, so a quiet night or a day boundary never
 * leaves it stale. */
#define REFRESH_S (24 * 3600)
/* Notifications of one change come in bursts (created, modified, ...): one read after this. */
#define COALESCE_MS 300
/* Retries: from BACKOFF_MIN_S doubling to BACKOFF_MAX_S. */
#define BACKOFF_MIN_S 15
#define BACKOFF_MAX_S 3600

static const char *const state_names[] = {[EU_DISABLED] = "disabled",
                                          [EU_SUBSCRIBING] = "subscribing",
                                          [EU_READING] = "reading",
                                          [EU_PUBLISHED] = "published",
                                          [EU_ERROR] = "error"};

static void heard(struct cp_euser *u);

static int64_t
ms_at(time_t t)
{
    return (int64_t)t * 1000;
}

static void
set_state(struct cp_euser *u, enum eu_state st, const char *why)
{
    if (u->state == st)
        return;
    cp_log_debug("engine", "%s: %s -> %s%s%s%s", u->jid, state_names[u->state], state_names[st],
                 why ? " (" : "", why ? why : "", why ? ")" : "");
    u->state = (uint8_t)st;
    u->state_since = eng_now();
}

static void
set_error(struct cp_euser *u, const char *text)
{
    free(u->last_error);
    u->last_error = text ? strdup(text) : NULL;
}

static long
backoff_s(struct cp_euser *u)
{
    long s = BACKOFF_MIN_S;
    for (unsigned i = 1; i < u->failures && s < BACKOFF_MAX_S; i++)
        s *= 2;
    return s < BACKOFF_MAX_S ? s : BACKOFF_MAX_S;
}

static void
arm_timer(struct cp_euser *u, enum eu_timer what, int64_t due_ms)
{
    u->timer_what = (uint8_t)what;
    if (cp_sched_set(u->e->timers, &u->timer, due_ms) != 0)
        cp_log_warn("engine", "%s: out of memory arming a timer", u->jid);
}

/* ---- items ---- */

static void
free_items(struct cp_euser *u)
{
    for (size_t i = 0; i < u->n_items; i++)
        free((char *)u->items[i].subject);
    free(u->items);
    u->items = NULL;
    u->n_items = 0;
    u->shown.subject = NULL;
}

/* Keeps a copy of the items that can matter (not cancelled, not over), subjects only where
 * the user opted in and the item is not private. Returns 0 or CP_ENOMEM (old items kept). */
static int
keep_items(struct cp_euser *u, const struct cp_interval *items, size_t n, bool detailed, time_t now)
{
    size_t keep = 0;
    for (size_t i = 0; i < n; i++)
        if (!items[i].cancelled && items[i].end > now && items[i].end > items[i].start)
            keep++;
    if (keep > UINT16_MAX)
        keep = UINT16_MAX; /* a calendar with 65,535 items in two days is not a person's */
    struct cp_interval *copy = keep ? calloc(keep, sizeof(*copy)) : NULL;
    if (keep && !copy)
        return CP_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n && k < keep; i++) {
        const struct cp_interval *it = &items[i];
        if (it->cancelled || it->end <= now || it->end <= it->start)
            continue;
        copy[k] = *it;
        copy[k].subject = NULL;
        if (u->include_subject && !it->is_private && it->subject)
            copy[k].subject = strdup(it->subject); /* NULL on ENOMEM: shown without */
        k++;
    }
    free_items(u);
    u->items = copy;
    u->n_items = (uint16_t)k;
    u->detailed = detailed;
    return 0;
}

/* ---- timeline and publication ---- */

static bool
tentative_busy(const struct cp_euser *u)
{
    if (u->tentative == CP_USER_TENTATIVE_BUSY)
        return true;
    if (u->tentative == CP_USER_TENTATIVE_FREE)
        return false;
    return u->e->cfg->tentative == CP_TENTATIVE_BUSY;
}

/* Recomputes what the user shows at NOW, publishes it when it changed (or when FORCE), and arms
 * the transition timer at the next change plus the user's spread offset. */
static void
evaluate(struct cp_euser *u, time_t now, bool force)
{
    struct cp_tl_opts o = {tentative_busy(u), u->include_subject};
    struct cp_tl_result r;
    if (cp_timeline_at(u->items, u->n_items, now, &o, &r) != 0) {
        cp_log_warn("engine", "%s: cannot compute the calendar state (out of memory)", u->jid);
        return;
    }
    bool changed = !u->known || r.state != u->shown.state ||
                   (r.subject != u->shown.subject &&
                    (!r.subject || !u->shown.subject || strcmp(r.subject, u->shown.subject)));
    bool was_known = u->known;
    u->shown = r;
    u->known = true;
    if (changed && was_known) {
        u->e->st.transitions++;
        cp_log_debug("engine", "%s: now %s until %ld", u->jid, cp_tl_state_name(r.state),
                     (long)r.until);
    }
    if (changed || force)
        eng_publish(u->e, u);
    if (r.until > 0) {
        int64_t due = ms_at(r.until) + cp_sched_spread_offset(u->jid, u->e->cfg->spread);
        if (cp_sched_set(u->e->ticks, &u->tick, due) != 0)
            cp_log_warn("engine", "%s: out of memory arming the transition timer", u->jid);
    } else {
        cp_sched_cancel(u->e->ticks, &u->tick);
    }
}

void
eu_fire_tick(struct cp_euser *u)
{
    if (u->state == EU_PUBLISHED)
        evaluate(u, eng_now(), false);
}

/* ---- subscription ---- */

static void
sub_forget(struct cp_euser *u)
{
    cp_sched_cancel(u->e->silences, &u->silence);
    eng_sub_unindex(u->e, u);
    free(u->sub_id);
    free(u->sub_server);
    free(u->sub_cursor);
    u->sub_id = u->sub_server = u->sub_cursor = NULL;
    u->sub = SUB_NONE;
}

/* Drops the subscription at the source (stream, poll, Unsubscribe) and forgets it. */
static void
sub_drop(struct cp_euser *u)
{
    if (u->sub_id && u->e->src) {
        struct cp_source_sub s = {u->sub_id, u->sub_server, u->sub_cursor, u->sub_kind};
        u->e->src->ops->unsubscribe(u->e->src, u->mailbox, &s);
    }
    if (u->sub_id)
        eng_mark_store(u->e, u);
    sub_forget(u);
}

void
eu_start_subscribe(struct cp_euser *u)
{
    if (u->state == EU_DISABLED || !u->e->src)
        return;
    if (u->state != EU_PUBLISHED && u->state != EU_ERROR)
        set_state(u, EU_SUBSCRIBING, NULL);
    u->sub = SUB_PENDING;
    eng_queue_subscribe(u->e, u);
}

void
eu_resubscribe(struct cp_euser *u, const char *why)
{
    if (u->state == EU_DISABLED)
        return;
    cp_log_info("engine", "%s: resubscribing (%s)", u->jid, why);
    sub_drop(u);
    eu_start_subscribe(u);
}

static void
on_subscribed(void *ud, void *user, const struct cp_source_sub *sub,
              const struct cp_source_error *err)
{
    (void)ud;
    struct cp_euser *u = user;
    struct cp_engine *e = u->e;
    eng_op_done(e, u);
    if (u->state == EU_DISABLED || u->sub != SUB_PENDING) {
        /* Disabled (or resubscribed) meanwhile: this subscription is nobody's. */
        if (sub)
            e->src->ops->unsubscribe(e->src, u->mailbox, sub);
        return;
    }
    if (err) {
        u->failures++;
        long wait_ms;
        if (err->kind == CP_SRC_RETRY_LATER) {
            wait_ms = err->backoff_ms; /* ErrorServerBusy: exactly what Exchange asked */
        } else if (err->kind == CP_SRC_SERVER_DOWN) {
            wait_ms = 1000; /* the source already moved the mailbox to another server */
        } else {
            wait_ms = backoff_s(u) * 1000;
        }
        set_error(u, err->text);
        if (err->kind == CP_SRC_MAILBOX || err->kind == CP_SRC_AUTH) {
            set_state(u, EU_ERROR, err->text);
            eng_publish(e, u); /* unavailable */
        }
        cp_log_warn("engine", "%s: subscribe failed (%s); retrying in %.1f s", u->jid, err->text,
                    wait_ms / 1000.0);
        arm_timer(u, T_SUBSCRIBE, cp_sched_now_ms() + wait_ms);
        return;
    }
    u->sub_id = strdup(sub->id);
    u->sub_server = strdup(sub->server);
    u->sub_cursor = sub->cursor ? strdup(sub->cursor) : NULL;
    u->sub_kind = sub->kind;
    if (!u->sub_id || !u->sub_server || eng_sub_index(e, u) != 0) {
        cp_log_warn("engine", "%s: out of memory keeping the subscription; retrying", u->jid);
        e->src->ops->unsubscribe(e->src, u->mailbox, sub);
        sub_forget(u);
        arm_timer(u, T_SUBSCRIBE, cp_sched_now_ms() + 5000);
        return;
    }
    u->sub = SUB_ACTIVE;
    heard(u);
    e->st.subscribes++;
    eng_mark_store(e, u);
    cp_log_debug("engine", "%s: subscribed on %s (%s)", u->jid, u->sub_server, u->sub_kind);
    if (u->state == EU_ERROR || u->state == EU_SUBSCRIBING)
        set_state(u, EU_READING, NULL);
    /* Whatever changed before the subscription existed is only seen by reading now. */
    eng_queue_read(e, u, u->include_subject || u->known);
}

/* ---- reads ---- */

static void
on_window(void *ud, void *user, const struct cp_interval *items, size_t n, bool detailed,
          const struct cp_source_error *err)
{
    (void)ud;
    struct cp_euser *u = user;
    struct cp_engine *e = u->e;
    time_t now = eng_now();
    eng_op_done(e, u);
    if (u->state == EU_DISABLED)
        return;
    if (err) {
        u->failures++;
        set_error(u, err->text);
        long wait_ms = backoff_s(u) * 1000;
        if (err->kind == CP_SRC_RETRY_LATER) {
            arm_timer(u, detailed ? T_DETAILED : T_READ, cp_sched_now_ms() + err->backoff_ms);
            return;
        }
        if (err->kind == CP_SRC_MAILBOX) {
            cp_log_warn("engine", "%s: mailbox %s refused (%s); retrying in %ld s", u->jid,
                        u->mailbox, err->text, wait_ms / 1000);
            sub_drop(u);
            set_state(u, EU_ERROR, err->text);
            u->known = false;
            free_items(u);
            cp_sched_cancel(e->ticks, &u->tick);
            eng_publish(e, u);
            arm_timer(u, T_SUBSCRIBE, cp_sched_now_ms() + wait_ms);
            return;
        }
        if (err->kind == CP_SRC_SERVER_DOWN || err->kind == CP_SRC_SUBSCRIPTION_GONE) {
            /* Its server is gone: the subscription with it. The last known calendar keeps
             * driving presence meanwhile (contract.md). */
            if (e->src)
                e->src->ops->reassign(e->src, u->mailbox);
            eu_resubscribe(u, err->text);
            return;
        }
        cp_log_warn("engine", "%s: calendar read failed (%s); retrying in %ld s", u->jid, err->text,
                    wait_ms / 1000);
        arm_timer(u, detailed ? T_DETAILED : T_READ, cp_sched_now_ms() + wait_ms);
        return;
    }
    if (keep_items(u, items, n, detailed, now) != 0) {
        cp_log_warn("engine", "%s: out of memory keeping the calendar; retrying", u->jid);
        arm_timer(u, T_READ, cp_sched_now_ms() + 5000);
        return;
    }
    e->st.reads++;
    u->failures = 0;
    set_error(u, NULL);
    bool first = u->state != EU_PUBLISHED;
    set_state(u, EU_PUBLISHED, NULL);
    evaluate(u, now, first);
    if (u->read_wanted) {
        u->read_wanted = false;
        eng_queue_read(e, u, true);
    } else if (!detailed && u->include_subject) {
        eng_queue_read(e, u, true); /* free/busy has no subjects */
    } else {
        /* Refreshed a day later, each user at its own second of the hour. */
        arm_timer(u, T_REFRESH, ms_at(now + REFRESH_S) + cp_sched_spread_offset(u->jid, 59) * 60);
    }
}

void
eu_fire_timer(struct cp_euser *u)
{
    enum eu_timer what = u->timer_what;
    u->timer_what = T_NONE;
    if (u->state == EU_DISABLED)
        return;
    switch (what) {
    case T_SUBSCRIBE:
        eu_start_subscribe(u);
        break;
    case T_READ:
    case T_REFRESH:
        eng_queue_read(u->e, u, false);
        break;
    case T_DETAILED:
        eng_queue_read(u->e, u, true);
        break;
    case T_NONE:
        break;
    }
}

/* ---- notifications ---- */

static void
store_cursor(struct cp_euser *u, const char *cursor)
{
    if (!cursor || (u->sub_cursor && strcmp(u->sub_cursor, cursor) == 0))
        return;
    char *c = strdup(cursor);
    if (!c)
        return;
    free(u->sub_cursor);
    u->sub_cursor = c;
    eng_mark_store(u->e, u);
}

static void
on_changed(void *ud, void *user, const char *cursor)
{
    (void)ud;
    struct cp_euser *u = user;
    heard(u);
    u->e->st.notifications++;
    cp_log_debug("engine", "%s: calendar changed (notification)", u->jid);
    store_cursor(u, cursor);
    if (u->in_flight) {
        u->read_wanted = true; /* the running read may predate the change */
        return;
    }
    if (u->timer_what == T_DETAILED && cp_sched_pending(&u->timer))
        return; /* coalesced with the read already planned */
    arm_timer(u, T_DETAILED, cp_sched_now_ms() + COALESCE_MS);
}

static void
on_alive(void *ud, void *user, const char *cursor)
{
    (void)ud;
    struct cp_euser *u = user;
    heard(u);
    store_cursor(u, cursor);
}

static void
on_lost(void *ud, void *user, const struct cp_source_error *err)
{
    (void)ud;
    struct cp_euser *u = user;
    if (u->state == EU_DISABLED)
        return;
    if (err->kind == CP_SRC_SERVER_DOWN && u->e->src)
        u->e->src->ops->reassign(u->e->src, u->mailbox);
    /* The stream or poll already let it go: forget it without telling the source again. */
    if (u->sub_id) {
        eng_mark_store(u->e, u);
        sub_forget(u);
    }
    u->sub = SUB_LOST;
    cp_log_info("engine", "%s: subscription lost (%s): subscribing again", u->jid, err->text);
    eu_start_subscribe(u);
}

static void *on_lookup(void *ud, const char *id);

const struct cp_source_events eu_source_events = {
    .subscribed = on_subscribed,
    .window = on_window,
    .changed = on_changed,
    .alive = on_alive,
    .lost = on_lost,
    .lookup = on_lookup,
};

/* The user whose active subscription is ID. Ids of disabled users and of subscriptions
 * replaced since are not found: push answers them Unsubscribe. */
static int
cmp_sub(const void *a, const void *b)
{
    return strcmp(((const struct cp_euser *)a)->sub_id, ((const struct cp_euser *)b)->sub_id);
}

static void *
on_lookup(void *ud, const char *id)
{
    struct cp_engine *e = ud;
    struct cp_euser key = {.sub_id = (char *)id};
    void *found = tfind(&key, &e->by_sub, cmp_sub);
    return found ? *(struct cp_euser **)found : NULL;
}

int
eng_sub_index(struct cp_engine *e, struct cp_euser *u)
{
    void *r = tsearch(u, &e->by_sub, cmp_sub);
    if (!r)
        return CP_ENOMEM;
    if (*(struct cp_euser **)r != u) /* the same id twice: Exchange never does that */
        return CP_EEXIST;
    return 0;
}

void
eng_sub_unindex(struct cp_engine *e, struct cp_euser *u)
{
    if (!u->sub_id)
        return;
    void *found = tfind(u, &e->by_sub, cmp_sub);
    if (found && *(struct cp_euser **)found == u)
        tdelete(u, &e->by_sub, cmp_sub);
}

/* ---- silence rule ---- */

static long
silence_s(const struct cp_euser *u)
{
    return 2L * u->e->cfg->status_frequency * 60;
}

static bool
watched_for_silence(const struct cp_euser *u)
{
    /* Streams and polls notice a dead subscription themselves; push has only its status
     * events to say it lives. */
    return u->state != EU_DISABLED && u->sub == SUB_ACTIVE && u->sub_kind &&
           strcmp(u->sub_kind, "push") == 0;
}

/* The subscription just spoke: its deadline moves to 2 x status_frequency from now. One timer
 * a user rather than a sweep, so 100,000 users cost nothing while they are healthy and a
 * silent one is caught at its own deadline. */
static void
heard(struct cp_euser *u)
{
    u->last_heard = eng_now();
    if (!watched_for_silence(u))
        return;
    if (cp_sched_set(u->e->silences, &u->silence, ms_at(u->last_heard + silence_s(u))) != 0)
        cp_log_warn("engine", "%s: out of memory arming the silence timer", u->jid);
}

void
eu_check_silence(struct cp_euser *u)
{
    if (!watched_for_silence(u))
        return;
    time_t now = eng_now();
    long quiet = now - u->last_heard;
    /* status_frequency may have been reloaded, and a running request settles things its own
     * way: look again at the (new) deadline. */
    if (quiet < silence_s(u) || u->in_flight || u->queued) {
        time_t at = quiet < silence_s(u) ? u->last_heard + silence_s(u) : now + 5;
        cp_sched_set(u->e->silences, &u->silence, ms_at(at));
        return;
    }
    char why[96];
    snprintf(why, sizeof(why), "no notification for %ld min %ld s", quiet / 60, quiet % 60);
    if (u->e->src)
        u->e->src->ops->reassign(u->e->src, u->mailbox);
    eu_resubscribe(u, why);
}

/* ---- life ---- */

struct cp_euser *
eu_new(struct cp_engine *e, const char *jid)
{
    struct cp_euser *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    u->jid = strdup(jid);
    if (!u->jid) {
        free(u);
        return NULL;
    }
    u->e = e;
    u->state_since = eng_now();
    return u;
}

void
eu_free(struct cp_euser *u)
{
    if (!u)
        return;
    free_items(u);
    free(u->jid);
    free(u->mailbox);
    free(u->sub_id);
    free(u->sub_server);
    free(u->sub_cursor);
    free(u->last_error);
    free(u);
}

static int
set_mailbox(struct cp_euser *u, const struct cp_user *row)
{
    char buf[3072];
    const char *mb = row->mailbox;
    if (!mb) {
        if (cp_jid_default_mailbox(u->jid, u->e->cfg->mailbox_domain, buf, sizeof(buf)) != 0)
            return CP_EINVAL;
        mb = buf;
    }
    if (u->mailbox && strcmp(u->mailbox, mb) == 0)
        return 0;
    char *copy = strdup(mb);
    if (!copy)
        return CP_ENOMEM;
    free(u->mailbox);
    u->mailbox = copy;
    return 0;
}

void
eu_enable(struct cp_euser *u, const struct cp_user *row, const struct cp_ews_sub *stored)
{
    struct cp_engine *e = u->e;
    u->tentative = (uint8_t)row->tentative;
    u->include_subject = row->include_subject;
    if (u->state != EU_DISABLED)
        return;
    if (set_mailbox(u, row) != 0) {
        cp_log_warn("engine", "%s: no usable mailbox address", u->jid);
        return;
    }
    u->failures = 0;
    set_error(u, NULL);
    set_state(u, EU_SUBSCRIBING, "enabled");
    if (!e->src)
        return;
    if (stored) {
        struct cp_source_sub s = {stored->id, stored->server, stored->watermark,
                                  stored->kind ? stored->kind : "push"};
        u->sub_id = strdup(s.id);
        u->sub_server = strdup(s.server);
        u->sub_cursor = s.cursor ? strdup(s.cursor) : NULL;
        u->sub_kind = strcmp(s.kind, "streaming") == 0 ? "streaming"
                      : strcmp(s.kind, "pull") == 0    ? "pull"
                                                       : "push";
        if (u->sub_id && u->sub_server && eng_sub_index(e, u) == 0 &&
            e->src->ops->resume(e->src, u, u->mailbox, &s) == 0) {
            u->sub = SUB_ACTIVE;
            heard(u);
            set_state(u, EU_READING, "subscription kept");
            eng_queue_read(e, u, u->include_subject);
            return;
        }
        /* Made on a server or in a mode no longer configured: drop it, subscribe anew. */
        cp_log_info("engine", "%s: stored %s subscription on %s not usable: subscribing anew",
                    u->jid, s.kind, s.server);
        sub_drop(u);
    }
    eu_start_subscribe(u);
}

void
eu_settings(struct cp_euser *u, const struct cp_user *row)
{
    bool subject_on = row->include_subject && !u->include_subject;
    u->tentative = (uint8_t)row->tentative;
    u->include_subject = row->include_subject;
    if (u->state != EU_PUBLISHED)
        return;
    if (!row->include_subject) { /* forget subjects at once */
        for (size_t i = 0; i < u->n_items; i++) {
            free((char *)u->items[i].subject);
            u->items[i].subject = NULL;
        }
    }
    evaluate(u, eng_now(), true);
    if (subject_on)
        eng_queue_read(u->e, u, true);
}

void
eu_disable(struct cp_euser *u)
{
    struct cp_engine *e = u->e;
    if (u->state == EU_DISABLED)
        return;
    set_state(u, EU_DISABLED, "disabled");
    sub_drop(u);
    cp_sched_cancel(e->ticks, &u->tick);
    cp_sched_cancel(e->timers, &u->timer);
    u->timer_what = T_NONE;
    u->known = false;
    u->read_wanted = false;
    free_items(u);
    set_error(u, NULL);
    if (e->src)
        e->src->ops->forget(e->src, u->mailbox);
    eng_publish(e, u); /* unavailable */
}

const char *
eu_state_name(const struct cp_euser *u)
{
    return state_names[u->state];
}
