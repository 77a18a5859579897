/* Transition timers of the calendar engine: one wall-clock due time per user in a min-heap, on a
 * single libevent timer, for 100,000 users and more. Includes only libc and libevent. */
#ifndef CP_SCHEDULER_H
#define CP_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

/* Fired entries per loop turn unless cp_sched_set_batch says otherwise. */
#define CP_SCHED_BATCH_DEFAULT 2000
/* Longest sleep unless cp_sched_set_tick says otherwise: a wall-clock step is noticed within it. */
#define CP_SCHED_TICK_DEFAULT_MS 1000

struct cp_sched;

/* One timer, embedded in the caller's per-user struct: no allocation per user. Zero-initialise it
 * (not pending); after that only the scheduler writes it. */
struct cp_sched_entry {
    int64_t due_ms;    /* wall-clock due time, ms since the epoch; meaningful while pending */
    size_t heap_index; /* position in the heap + 1, 0 when not pending */
};

/* Called with the entry that came due; the entry is out of the heap already, so FIRE may set it
 * again, cancel others, or free the struct around it. */
typedef void (*cp_sched_fire_fn)(void *ud, struct cp_sched_entry *e);

/* Creates a scheduler on BASE that calls FIRE(UD, entry) for each entry whose due time passed,
 * at most CP_SCHED_BATCH_DEFAULT per loop turn. BASE must outlive the scheduler. Returns NULL on
 * allocation failure; free it with cp_sched_free. */
struct cp_sched *cp_sched_new(struct event_base *base, cp_sched_fire_fn fire, void *ud);

/* Frees S and its timer. Entries still pending are forgotten and not touched (their owners may
 * be gone already): do not pass them to another scheduler without zeroing them. Not from FIRE. */
void cp_sched_free(struct cp_sched *s);

/* Schedules E for DUE_MS (wall clock, ms since the epoch), adding it or moving it if pending
 * already. E stays owned by the caller and must stay valid until it fires or is cancelled. A due
 * time in the past fires on the next loop turn; from inside FIRE, a due time at or before the
 * firing turn's clock becomes that clock + 1 ms (E->due_ms says so), so that it fires in a later
 * turn and a callback rescheduling itself cannot hold the loop. Entries due at the same
 * millisecond fire in no particular order. O(log n). Returns 0, or CP_ENOMEM when the heap
 * cannot grow (E is then not pending) or libevent cannot arm its timer (E is pending and fires
 * at the next successful arming). */
int cp_sched_set(struct cp_sched *s, struct cp_sched_entry *e, int64_t due_ms);

/* Removes E if pending; does nothing otherwise. O(log n). */
void cp_sched_cancel(struct cp_sched *s, struct cp_sched_entry *e);

/* True while E waits in a scheduler. */
bool cp_sched_pending(const struct cp_sched_entry *e);

/* Number of pending entries. */
size_t cp_sched_count(const struct cp_sched *s);

/* Fires at most BATCH entries (0 means 1) per loop turn; the rest wait for the next turn, after
 * the loop has polled its sockets, so a second with 100,000 transitions does not stall XMPP. */
void cp_sched_set_batch(struct cp_sched *s, size_t batch);

/* Sleeps at most TICK_MS (0 means 1) between wall-clock reads while entries are pending. */
void cp_sched_set_tick(struct cp_sched *s, unsigned tick_ms);

/* Reads the wall clock with NOW_MS(UD) from now on instead of cp_sched_now_ms (tests simulate
 * clock steps with it); NOW_MS NULL restores the real clock. Re-arms the timer. */
void cp_sched_set_clock(struct cp_sched *s, int64_t (*now_ms)(void *ud), void *ud);

/* The real wall clock (CLOCK_REALTIME) in ms since the epoch. */
int64_t cp_sched_now_ms(void);

/* Returns a stable per-user delay in ms in [0, SPREAD_SECONDS * 1000), 0 when SPREAD_SECONDS <= 0
 * or BARE_JID is NULL. Cisco's "Calendar Spread": when a meeting starts at 10:00 for thousands of
 * users, their presence changes are spread over that many seconds instead of all at once (the
 * XMPP server's and the subscribers' load). The offset is a hash of the bare JID (ASCII case
 * folded), the same on every run and machine, so a user's transitions are always the same few
 * seconds late rather than jittering from one meeting to the next. */
unsigned cp_sched_spread_offset(const char *bare_jid, int spread_seconds);

#endif
