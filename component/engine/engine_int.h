/* Private to the engine's files: the engine, one user's runtime state, and the work queues
 * between them (engine.c: life cycle, maps, queues, summary; user.c: the per-user state
 * machine; source events arrive in user.c). */
#ifndef CP_ENGINE_INT_H
#define CP_ENGINE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "engine.h"
#include "scheduler.h"
#include "source.h"
#include "timeline.h"

/* The calendar window every read covers: from an hour back (what runs now, with its real start)
 * to two days ahead. */
#define WINDOW_BACK_S 3600
#define WINDOW_AHEAD_S (48 * 3600)

/* Where a user is in its life (docs/engine.md has the diagram). */
enum eu_state {
    EU_DISABLED = 0, /* not enabled: nothing runs, presence unavailable */
    EU_SUBSCRIBING,  /* waiting for or making its subscription */
    EU_READING,      /* subscribed, waiting for its first calendar read */
    EU_PUBLISHED,    /* calendar known, presence follows it */
    EU_ERROR,        /* the mailbox was refused: unavailable, retried with a growing back-off */
};

enum eu_sub { SUB_NONE = 0, SUB_PENDING, SUB_ACTIVE, SUB_LOST };

/* What the user's one general-purpose timer is waiting for. */
enum eu_timer { T_NONE = 0, T_SUBSCRIBE, T_READ, T_REFRESH, T_DETAILED };

struct cp_euser {
    char *jid;     /* owned; key of the engine's map */
    char *mailbox; /* owned */
    struct cp_engine *e;
    uint8_t state;      /* enum eu_state */
    uint8_t sub;        /* enum eu_sub */
    uint8_t timer_what; /* enum eu_timer */
    uint8_t tentative;  /* enum cp_user_tentative */
    bool include_subject;
    bool in_outbox;                /* queued for publication */
    bool queued;                   /* in the subscribe or read queue */
    bool in_flight;                /* a subscribe or read of it runs */
    bool holds_slot;               /* its operation counts in e->in_flight (a batch's first) */
    bool read_wanted;              /* a notification came while a read ran: read again after it */
    bool known;                    /* the calendar was read at least once */
    bool store_dirty;              /* its subscription row must be written */
    uint16_t failures;             /* consecutive failures, for the back-off */
    struct cp_sched_entry tick;    /* the next transition (+ spread) */
    struct cp_sched_entry timer;   /* retries, coalescing, refresh */
    struct cp_sched_entry silence; /* push: 2 x status_frequency after last_heard */
    char *sub_id;         /* owned; key of the engine's subscription map while SUB_ACTIVE */
    char *sub_server;     /* owned */
    char *sub_cursor;     /* owned, may be NULL */
    const char *sub_kind; /* static */
    time_t last_heard;    /* last notification or status event (silence rule) */
    time_t state_since;
    char *last_error;          /* owned, NULL when none */
    struct cp_interval *items; /* owned; subjects owned too (detailed reads only) */
    uint16_t n_items;
    bool detailed;             /* items came from a CalendarView (subjects, privacy) */
    struct cp_tl_result shown; /* what is published; subject points into items */
    struct cp_euser *next_queued;
};

/* Queues: FIFO lists linked through next_queued. */
struct eu_queue {
    struct cp_euser *head, *tail;
    size_t n;
};

struct cp_engine {
    struct event_base *base;
    const struct cp_config *cfg;
    struct cp_store *store;
    struct cp_source *src; /* NULL when no Exchange is configured */
    struct cp_engine_hooks hooks;
    void *hooks_ud;
    void *by_jid;          /* tsearch root: users by JID */
    void *by_sub;          /* tsearch root: users by subscription id */
    struct cp_euser **all; /* every user known since start, enabled or not */
    size_t n_all, cap_all;
    struct cp_sched *ticks;      /* transitions */
    struct cp_sched *timers;     /* everything else per user */
    struct eu_queue subscribe_q; /* waiting to subscribe */
    struct eu_queue read_q;      /* waiting for a free/busy read (batched) */
    struct eu_queue detail_q;    /* waiting for a detailed read (notifications first) */
    size_t in_flight;            /* source operations running (a batch counts once) */
    size_t max_in_flight;
    struct event *pump_ev;     /* starts queued work, on the next loop turn */
    struct event *retry_ev;    /* the same, shortly, after the source refused work */
    struct event *batch_ev;    /* the same, once a partial free/busy batch waited enough */
    struct event *outbox_ev;   /* publishes, paced */
    struct event *store_ev;    /* writes subscription rows in one transaction */
    struct event *minute_ev;   /* summary line */
    struct cp_sched *silences; /* silence rule: one deadline per push subscription */
    int64_t read_q_since_ms;   /* when the oldest user in read_q was queued */
    struct cp_euser **outbox;  /* ring of users to publish */
    size_t ob_head, ob_n, ob_cap;
    struct cp_euser **dirty; /* users whose subscription row must be written */
    size_t n_dirty, cap_dirty;
    struct cp_engine_stats st;
    unsigned long last_requests, last_failures; /* at the previous summary line */
    unsigned long last_transitions, last_notifications;
};

/* engine.c: queues and publication. */
void eng_queue_subscribe(struct cp_engine *e, struct cp_euser *u);
void eng_queue_read(struct cp_engine *e, struct cp_euser *u, bool detailed);
void eng_publish(struct cp_engine *e, struct cp_euser *u);
void eng_mark_store(struct cp_engine *e, struct cp_euser *u);
void eng_pump(struct cp_engine *e);
void eng_op_done(struct cp_engine *e, struct cp_euser *u);
int eng_sub_index(struct cp_engine *e, struct cp_euser *u);
void eng_sub_unindex(struct cp_engine *e, struct cp_euser *u);
time_t eng_now(void);

/* user.c: the state machine. */
struct cp_euser *eu_new(struct cp_engine *e, const char *jid);
void eu_free(struct cp_euser *u);
void eu_enable(struct cp_euser *u, const struct cp_user *row, const struct cp_ews_sub *stored);
void eu_disable(struct cp_euser *u);
void eu_settings(struct cp_euser *u, const struct cp_user *row);
void eu_resubscribe(struct cp_euser *u, const char *why);
void eu_start_subscribe(struct cp_euser *u);
void eu_fire_tick(struct cp_euser *u);
void eu_fire_timer(struct cp_euser *u);
void eu_check_silence(struct cp_euser *u);
extern const struct cp_source_events eu_source_events;
const char *eu_state_name(const struct cp_euser *u);

#endif
