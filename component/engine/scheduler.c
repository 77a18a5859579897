#include "scheduler.h"

#include <stdlib.h>
#include <time.h>

#include "config/config.h"

/* A heap slot keeps a copy of the due time so that sifting compares within the array instead of
 * chasing 100,000 pointers into per-user structs scattered over the heap memory. */
struct slot {
    int64_t due_ms;
    struct cp_sched_entry *e;
};

struct cp_sched {
    struct event *ev; /* the one timer, armed for the heap top (or the tick) */
    cp_sched_fire_fn fire;
    void *ud;
    int64_t (*now_ms)(void *ud);
    void *clock_ud;
    size_t batch;
    unsigned tick_ms;
    bool firing;       /* inside on_timer: it re-arms once at the end */
    int64_t turn_ms;   /* the wall clock of the turn that is firing */
    struct slot *heap; /* binary min-heap on due_ms; owned */
    size_t count;
    size_t cap;
};

static int64_t real_clock(void *ud);
static void place(struct cp_sched *s, size_t i, struct slot v);
static void sift_up(struct cp_sched *s, size_t i, struct slot v);
static void sift_down(struct cp_sched *s, size_t i, struct slot v);
static void heap_remove(struct cp_sched *s, size_t i);
static int arm_in(struct cp_sched *s, int64_t delay_ms);
static int arm(struct cp_sched *s);
static void on_timer(evutil_socket_t fd, short what, void *arg);

static int64_t
real_clock(void *ud)
{
    (void)ud;
    return cp_sched_now_ms();
}

static void
place(struct cp_sched *s, size_t i, struct slot v)
{
    s->heap[i] = v;
    v.e->heap_index = i + 1;
}

/* Moves V up from the hole at I to its place. */
static void
sift_up(struct cp_sched *s, size_t i, struct slot v)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (s->heap[parent].due_ms <= v.due_ms)
            break;
        place(s, i, s->heap[parent]);
        i = parent;
    }
    place(s, i, v);
}

/* Moves V down from the hole at I to its place. */
static void
sift_down(struct cp_sched *s, size_t i, struct slot v)
{
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= s->count)
            break;
        if (child + 1 < s->count && s->heap[child + 1].due_ms < s->heap[child].due_ms)
            child++;
        if (v.due_ms <= s->heap[child].due_ms)
            break;
        place(s, i, s->heap[child]);
        i = child;
    }
    place(s, i, v);
}

/* Takes the slot at I out and fills the hole with the last slot. */
static void
heap_remove(struct cp_sched *s, size_t i)
{
    s->heap[i].e->heap_index = 0;
    struct slot last = s->heap[--s->count];
    if (i == s->count)
        return;
    if (i > 0 && last.due_ms < s->heap[(i - 1) / 2].due_ms)
        sift_up(s, i, last);
    else
        sift_down(s, i, last);
}

static int
arm_in(struct cp_sched *s, int64_t delay_ms)
{
    struct timeval tv = {.tv_sec = delay_ms / 1000, .tv_usec = (delay_ms % 1000) * 1000};
    return event_add(s->ev, &tv) == 0 ? CP_OK : CP_ENOMEM;
}

/* Arms the timer for the heap top, but never for longer than the tick: libevent measures the
 * delay on the monotonic clock, so a wall-clock step (NTP, suspend and resume, an operator's
 * `date -s`) would otherwise go unseen until the top came due by monotonic time. Each wake reads
 * the wall clock afresh: after a step forward whatever became due fires within a tick, after a
 * step back the entries wait for their wall-clock time. One wake a second while entries are
 * pending costs nothing next to the work of 100,000 users. */
static int
arm(struct cp_sched *s)
{
    if (s->count == 0) {
        event_del(s->ev);
        return CP_OK;
    }
    int64_t delay = s->heap[0].due_ms - s->now_ms(s->clock_ud);
    if (delay < 0)
        delay = 0;
    if (delay > s->tick_ms)
        delay = s->tick_ms;
    return arm_in(s, delay);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct cp_sched *s = arg;
    (void)fd;
    (void)what;
    int64_t now = s->now_ms(s->clock_ud);
    size_t fired = 0;
    s->turn_ms = now;
    s->firing = true;
    while (s->count > 0 && s->heap[0].due_ms <= now && fired < s->batch) {
        struct cp_sched_entry *e = s->heap[0].e;
        heap_remove(s, 0);
        fired++;
        s->fire(s->ud, e);
    }
    s->firing = false;
    /* More due than a batch: a zero timeout rather than event_active(), because libevent runs
     * events activated during a turn in that same turn, while an expired timer waits for the
     * next one, after the sockets were polled. event_add fails only when libevent cannot grow
     * its own timer heap; the next cp_sched_set arms again. */
    if (s->count > 0 && s->heap[0].due_ms <= now)
        (void)arm_in(s, 0);
    else
        (void)arm(s);
}

struct cp_sched *
cp_sched_new(struct event_base *base, cp_sched_fire_fn fire, void *ud)
{
    struct cp_sched *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->ev = evtimer_new(base, on_timer, s);
    if (!s->ev) {
        free(s);
        return NULL;
    }
    s->fire = fire;
    s->ud = ud;
    s->now_ms = real_clock;
    s->batch = CP_SCHED_BATCH_DEFAULT;
    s->tick_ms = CP_SCHED_TICK_DEFAULT_MS;
    return s;
}

void
cp_sched_free(struct cp_sched *s)
{
    if (!s)
        return;
    event_free(s->ev);
    free(s->heap);
    free(s);
}

int
cp_sched_set(struct cp_sched *s, struct cp_sched_entry *e, int64_t due_ms)
{
    /* Set from FIRE for this turn's time or earlier, an entry would be popped again in the same
     * turn: a callback that keeps rescheduling itself would hold the loop for a whole batch.
     * One millisecond later puts it in a later turn, and "as soon as possible" stays so. */
    if (s->firing && due_ms <= s->turn_ms)
        due_ms = s->turn_ms + 1;
    const struct cp_sched_entry *old_top = s->count ? s->heap[0].e : NULL;
    int64_t old_due = s->count ? s->heap[0].due_ms : 0;
    struct slot v = {.due_ms = due_ms, .e = e};

    if (e->heap_index == 0) {
        if (s->count == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 64;
            struct slot *grown = realloc(s->heap, cap * sizeof(*grown));
            if (!grown)
                return CP_ENOMEM;
            s->heap = grown;
            s->cap = cap;
        }
        s->count++;
        sift_up(s, s->count - 1, v);
    } else {
        size_t i = e->heap_index - 1;
        if (i > 0 && due_ms < s->heap[(i - 1) / 2].due_ms)
            sift_up(s, i, v);
        else
            sift_down(s, i, v);
    }
    e->due_ms = due_ms;
    /* The timer only cares about the top; inside on_timer it is re-armed once at the end. */
    if (s->firing || (s->heap[0].e == old_top && s->heap[0].due_ms == old_due))
        return CP_OK;
    return arm(s);
}

void
cp_sched_cancel(struct cp_sched *s, struct cp_sched_entry *e)
{
    if (e->heap_index == 0)
        return;
    bool was_top = e->heap_index == 1;
    heap_remove(s, e->heap_index - 1);
    /* A failure to re-arm leaves the old arming, which wakes early and arms again. */
    if (was_top && !s->firing)
        (void)arm(s);
}

bool
cp_sched_pending(const struct cp_sched_entry *e)
{
    return e->heap_index != 0;
}

size_t
cp_sched_count(const struct cp_sched *s)
{
    return s->count;
}

void
cp_sched_set_batch(struct cp_sched *s, size_t batch)
{
    s->batch = batch ? batch : 1;
}

void
cp_sched_set_tick(struct cp_sched *s, unsigned tick_ms)
{
    s->tick_ms = tick_ms ? tick_ms : 1;
    if (!s->firing)
        (void)arm(s);
}

void
cp_sched_set_clock(struct cp_sched *s, int64_t (*now_ms)(void *ud), void *ud)
{
    s->now_ms = now_ms ? now_ms : real_clock;
    s->clock_ud = now_ms ? ud : NULL;
    if (!s->firing)
        (void)arm(s);
}

int64_t
cp_sched_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

unsigned
cp_sched_spread_offset(const char *bare_jid, int spread_seconds)
{
    if (!bare_jid || spread_seconds <= 0)
        return 0;
    /* FNV-1a, 32 bits: fixed constants, no seed, so every run on every machine agrees. */
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)bare_jid; *p; p++) {
        unsigned char c = *p >= 'A' && *p <= 'Z' ? (unsigned char)(*p - 'A' + 'a') : *p;
        h = (h ^ c) * 16777619u;
    }
    /* FNV-1a's low bits differ little between user1 and user2; murmur3's finaliser mixes the
     * high bits in so the remainder below is spread evenly. */
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return (unsigned)(h % ((uint64_t)spread_seconds * 1000));
}
