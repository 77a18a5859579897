/* The transition timer heap (component/engine/scheduler.c): due order, moves and cancels, the
 * fire callback changing the heap, the per-turn batch bound, wall-clock steps and the stable
 * per-user spread offset. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <event2/event.h>

#include "config/error.h"
#include "engine/scheduler.h"

#define EPOCH_2025_MS INT64_C(1735689600000) /* 2025-01-01T00:00:00Z */

/* A wall clock under the test's control: the monotonic clock plus an offset the test can step,
 * or a frozen value. */
struct fake_clock {
    int64_t offset_ms;
    bool frozen;
    int64_t frozen_ms;
};

static int64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
fake_now(void *ud)
{
    struct fake_clock *c = ud;
    return c->frozen ? c->frozen_ms : mono_ms() + c->offset_ms;
}

static void
fake_init(struct fake_clock *c)
{
    *c = (struct fake_clock){.offset_ms = EPOCH_2025_MS - mono_ms()};
}

/* Runs BASE for MS milliseconds of real time (less if nothing is pending any more). */
static void
run_for(struct event_base *base, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

/* A user of the engine: the entry is embedded, as in the real per-user struct. */
struct user {
    int id;
    int fired;
    int64_t fired_at;
    struct cp_sched_entry timer;
};

#define USER_OF(e) ((struct user *)((char *)(e)-offsetof(struct user, timer)))

struct log {
    struct cp_sched *s;
    struct fake_clock *clock;
    int n;
    int64_t last_due;
    bool in_order;
    int order[16];
};

static void
record(void *ud, struct cp_sched_entry *e)
{
    struct log *l = ud;
    struct user *u = USER_OF(e);
    cr_assert_not(cp_sched_pending(e), "an entry is out of the heap when it fires");
    if (e->due_ms < l->last_due)
        l->in_order = false;
    l->last_due = e->due_ms;
    u->fired++;
    u->fired_at = fake_now(l->clock);
    if (l->n < 16)
        l->order[l->n] = u->id;
    l->n++;
}

Test(scheduler, ten_thousand_random_entries_fire_in_due_order)
{
    enum { N = 10000 };
    struct event_base *base = event_base_new();
    struct fake_clock clock = {.frozen = true, .frozen_ms = EPOCH_2025_MS};
    struct log l = {.clock = &clock, .last_due = INT64_MIN, .in_order = true};
    struct cp_sched *s = cp_sched_new(base, record, &l);
    cr_assert_not_null(s);
    cp_sched_set_clock(s, fake_now, &clock);
    static struct user users[N];

    srand(42);
    for (int i = 0; i < N; i++) {
        users[i].id = i;
        cr_assert_eq(cp_sched_set(s, &users[i].timer, EPOCH_2025_MS - rand() % 86400000), CP_OK);
    }
    cr_assert_eq(cp_sched_count(s), N);
    /* Move a third of them (found through their back index), cancel a tenth. */
    for (int k = 0; k < N / 3; k++)
        cp_sched_set(s, &users[rand() % N].timer, EPOCH_2025_MS - rand() % 86400000);
    int cancelled = 0;
    for (int i = 0; i < N; i += 10) {
        cp_sched_cancel(s, &users[i].timer);
        cp_sched_cancel(s, &users[i].timer); /* twice is harmless */
        cancelled++;
    }
    cr_assert_eq(cp_sched_count(s), (size_t)(N - cancelled));
    cr_expect_eq(l.n, 0, "nothing fires outside the loop");

    event_base_dispatch(base);
    cr_expect_eq(l.n, N - cancelled);
    cr_expect(l.in_order, "fired in due order");
    cr_expect_eq(cp_sched_count(s), 0);
    for (int i = 0; i < N; i++)
        cr_expect_eq(users[i].fired, i % 10 ? 1 : 0, "user %d fired %d times", i, users[i].fired);
    cp_sched_free(s);
    event_base_free(base);
}

Test(scheduler, move_and_cancel)
{
    struct event_base *base = event_base_new();
    struct fake_clock clock;
    fake_init(&clock);
    struct log l = {.clock = &clock, .last_due = INT64_MIN, .in_order = true};
    struct cp_sched *s = cp_sched_new(base, record, &l);
    cp_sched_set_clock(s, fake_now, &clock);
    struct user a = {.id = 1}, b = {.id = 2}, c = {.id = 3};
    int64_t now = fake_now(&clock);

    cr_expect_not(cp_sched_pending(&a.timer), "a zeroed entry is not pending");
    cp_sched_set(s, &a.timer, now + 30);
    cp_sched_set(s, &b.timer, now + 60);
    cp_sched_set(s, &c.timer, now + 90);
    cr_expect(cp_sched_pending(&a.timer));
    cp_sched_set(s, &a.timer, now + 150); /* the top moves to the back */
    cr_expect_eq(a.timer.due_ms, now + 150);
    cp_sched_cancel(s, &b.timer);
    cr_expect_not(cp_sched_pending(&b.timer));
    cr_expect_eq(cp_sched_count(s), 2);
    cp_sched_set(s, &c.timer, now + 120); /* a move later that keeps it first */

    run_for(base, 1000);
    cr_expect_eq(l.n, 2);
    cr_expect_eq(l.order[0], 3);
    cr_expect_eq(l.order[1], 1);
    cr_expect_eq(b.fired, 0, "cancelled");
    cr_expect_geq(c.fired_at, now + 120, "never early (fired at +%lld)",
                  (long long)(c.fired_at - now));
    cr_expect_geq(a.fired_at, now + 150);
    cr_expect_lt(a.fired_at, now + 400, "on time (fired at +%lld)", (long long)(a.fired_at - now));
    cr_expect_not(cp_sched_pending(&a.timer));
    cp_sched_free(s);
    event_base_free(base);
}

/* The timer follows the top: moving the first entry earlier, or adding an earlier one, re-arms. */
Test(scheduler, moving_the_first_entry_earlier_rearms)
{
    struct event_base *base = event_base_new();
    struct fake_clock clock;
    fake_init(&clock);
    struct log l = {.clock = &clock, .last_due = INT64_MIN, .in_order = true};
    struct cp_sched *s = cp_sched_new(base, record, &l);
    cp_sched_set_clock(s, fake_now, &clock);
    struct user a = {.id = 1}, b = {.id = 2};
    int64_t now = fake_now(&clock);

    cp_sched_set(s, &a.timer, now + 900);
    run_for(base, 20);
    cp_sched_set(s, &a.timer, now + 100);
    run_for(base, 700);
    cr_expect_eq(a.fired, 1, "fired at its new, earlier time");
    cr_expect_lt(a.fired_at, now + 600, "fired at +%lld", (long long)(a.fired_at - now));

    now = fake_now(&clock);
    cp_sched_set(s, &a.timer, now + 900);
    cp_sched_set(s, &b.timer, now + 100);
    run_for(base, 400);
    cr_expect_eq(b.fired, 1, "a new first entry fires on time");
    cr_expect_eq(a.fired, 1);
    cp_sched_free(s);
    event_base_free(base);
}

/* FIRE reschedules its own entry and cancels another that is due in the same turn. */
struct chain {
    struct cp_sched *s;
    struct fake_clock *clock;
    struct user self, victim;
    int self_fired, victim_fired;
};

static void
chain_fire(void *ud, struct cp_sched_entry *e)
{
    struct chain *c = ud;
    if (e == &c->victim.timer) {
        c->victim_fired++;
        return;
    }
    c->self_fired++;
    cp_sched_cancel(c->s, &c->victim.timer);
    if (c->self_fired < 5)
        cr_assert_eq(cp_sched_set(c->s, e, fake_now(c->clock) + 10), CP_OK);
}

Test(scheduler, fire_callback_reschedules_itself_and_cancels_another)
{
    struct event_base *base = event_base_new();
    struct fake_clock clock;
    fake_init(&clock);
    struct chain c = {.clock = &clock};
    c.s = cp_sched_new(base, chain_fire, &c);
    cp_sched_set_clock(c.s, fake_now, &clock);
    int64_t now = fake_now(&clock);
    cp_sched_set(c.s, &c.self.timer, now - 2);
    cp_sched_set(c.s, &c.victim.timer, now - 1); /* due too, but after self */

    run_for(base, 500);
    cr_expect_eq(c.self_fired, 5);
    cr_expect_eq(c.victim_fired, 0, "cancelled from the callback before its turn");
    cr_expect_eq(cp_sched_count(c.s), 0);
    cp_sched_free(c.s);
    event_base_free(base);
}

/* A callback that sets its entry for the past again fires once per loop turn, not a batch. */
struct again {
    struct cp_sched *s;
    int fired;
};

static void
fire_again(void *ud, struct cp_sched_entry *e)
{
    struct again *a = ud;
    a->fired++;
    cr_assert_eq(cp_sched_set(a->s, e, 0), CP_OK);
}

Test(scheduler, rescheduling_into_the_past_waits_for_the_next_turn)
{
    struct event_base *base = event_base_new();
    struct fake_clock clock = {.frozen = true, .frozen_ms = EPOCH_2025_MS};
    struct again a = {0};
    a.s = cp_sched_new(base, fire_again, &a);
    cp_sched_set_clock(a.s, fake_now, &clock);
    struct cp_sched_entry e = {0};
    cp_sched_set(a.s, &e, EPOCH_2025_MS);

    event_base_loop(base, EVLOOP_ONCE);
    cr_expect_eq(a.fired, 1, "one firing in the first turn, got %d", a.fired);
    cr_expect_eq(e.due_ms, EPOCH_2025_MS + 1, "moved just past the turn's clock");
    clock.frozen_ms += 1;
    event_base_loop(base, EVLOOP_ONCE);
    cr_expect_eq(a.fired, 2);
    cp_sched_cancel(a.s, &e);
    cp_sched_free(a.s);
    event_base_free(base);
}

/* 100,000 users due in the same second: bounded batches with other events in between. */
struct batch_log {
    struct cp_sched *s;
    size_t fired;
    int64_t last_due;
    bool in_order;
};

static void
count_fire(void *ud, struct cp_sched_entry *e)
{
    struct batch_log *b = ud;
    if (e->due_ms < b->last_due)
        b->in_order = false;
    b->last_due = e->due_ms;
    b->fired++;
}

struct other {
    struct event *ev;
    struct batch_log *b;
    int turns;
    size_t seen[256];
};

static void
other_turn(evutil_socket_t fd, short what, void *arg)
{
    struct other *o = arg;
    static const struct timeval zero = {0, 0};
    (void)fd;
    (void)what;
    if (o->turns < 256)
        o->seen[o->turns] = o->b->fired;
    o->turns++;
    if (cp_sched_count(o->b->s) > 0)
        event_add(o->ev, &zero);
}

static void
check_batches(size_t batch)
{
    enum { N = 100000 };
    struct event_base *base = event_base_new();
    struct fake_clock clock = {.frozen = true, .frozen_ms = EPOCH_2025_MS};
    struct batch_log b = {.last_due = INT64_MIN, .in_order = true};
    b.s = cp_sched_new(base, count_fire, &b);
    cp_sched_set_clock(b.s, fake_now, &clock);
    if (batch)
        cp_sched_set_batch(b.s, batch);
    else
        batch = CP_SCHED_BATCH_DEFAULT;
    struct cp_sched_entry *entries = calloc(N, sizeof(*entries));
    for (int i = 0; i < N; i++)
        cr_assert_eq(cp_sched_set(b.s, &entries[i], EPOCH_2025_MS - 1000 + i % 1000), CP_OK);
    struct other o = {.b = &b};
    static const struct timeval zero = {0, 0};
    o.ev = evtimer_new(base, other_turn, &o);
    event_add(o.ev, &zero);

    event_base_loop(base, EVLOOP_ONCE);
    cr_expect_eq(b.fired, batch, "the first turn fires one batch (%zu)", b.fired);
    event_base_dispatch(base);
    cr_expect_eq(b.fired, N);
    cr_expect(b.in_order);
    size_t turns = (N + batch - 1) / batch;
    cr_expect_geq(o.turns, (int)turns, "the other event ran in %d turns of %zu", o.turns, turns);
    for (int t = 1; t < o.turns && t < 256; t++)
        cr_expect_leq(o.seen[t] - o.seen[t - 1], batch, "turn %d fired %zu", t,
                      o.seen[t] - o.seen[t - 1]);
    event_free(o.ev);
    cp_sched_free(b.s);
    free(entries);
    event_base_free(base);
}

Test(scheduler, a_bounded_batch_per_loop_turn)
{
    check_batches(0);
}

Test(scheduler, batch_size_is_a_setting)
{
    check_batches(777);
}

/* Wall-clock steps: libevent sleeps on the monotonic clock, the entries are wall-clock times. */
struct step {
    struct event_base *base;
    struct fake_clock *clock;
    int fired;
    int64_t real_ms;
};

static void
step_fire(void *ud, struct cp_sched_entry *e)
{
    struct step *st = ud;
    (void)e;
    st->fired++;
    st->real_ms = mono_ms();
    event_base_loopbreak(st->base);
}

static struct cp_sched *
step_setup(struct step *st, struct fake_clock *clock, unsigned tick_ms)
{
    fake_init(clock);
    *st = (struct step){.base = event_base_new(), .clock = clock};
    struct cp_sched *s = cp_sched_new(st->base, step_fire, st);
    cp_sched_set_clock(s, fake_now, clock);
    if (tick_ms)
        cp_sched_set_tick(s, tick_ms);
    return s;
}

static void
step_forward_fires_within(unsigned tick_ms, int64_t bound_ms)
{
    struct fake_clock clock;
    struct step st;
    struct cp_sched *s = step_setup(&st, &clock, tick_ms);
    struct cp_sched_entry e = {0};
    cp_sched_set(s, &e, fake_now(&clock) + 3600 * 1000);

    run_for(st.base, 100);
    cr_expect_eq(st.fired, 0, "an hour ahead");
    clock.offset_ms += 3600 * 1000; /* the wall clock jumps an hour forward */
    int64_t stepped = mono_ms();
    run_for(st.base, 3000);
    cr_assert_eq(st.fired, 1, "fired after the step");
    cr_expect_lt(st.real_ms - stepped, bound_ms, "fired %lld ms after the step",
                 (long long)(st.real_ms - stepped));
    cp_sched_free(s);
    event_base_free(st.base);
}

Test(scheduler, wall_clock_step_forward_fires_due_entries_at_once)
{
    step_forward_fires_within(20, 500);
}

Test(scheduler, wall_clock_step_forward_noticed_within_the_default_tick)
{
    step_forward_fires_within(0, CP_SCHED_TICK_DEFAULT_MS + 700);
}

Test(scheduler, wall_clock_step_back_delays)
{
    struct fake_clock clock;
    struct step st;
    struct cp_sched *s = step_setup(&st, &clock, 20);
    struct cp_sched_entry e = {0};
    cp_sched_set(s, &e, fake_now(&clock) + 200);
    int64_t start = mono_ms();
    clock.offset_ms -= 1000; /* the wall clock goes back a second before the entry is due */

    run_for(st.base, 3000);
    cr_assert_eq(st.fired, 1);
    cr_expect_geq(st.real_ms - start, 1150, "waits for its wall-clock time: fired after %lld ms",
                  (long long)(st.real_ms - start));
    cr_expect_lt(st.real_ms - start, 2500);

    /* An hour back: an entry armed for 200 ms is not fired by the monotonic timer. */
    cp_sched_set(s, &e, fake_now(&clock) + 200);
    clock.offset_ms -= 3600 * 1000;
    run_for(st.base, 600);
    cr_expect_eq(st.fired, 1, "still an hour away");
    cr_expect(cp_sched_pending(&e));
    clock.offset_ms += 3600 * 1000; /* and forward again */
    run_for(st.base, 3000);
    cr_expect_eq(st.fired, 2);
    cp_sched_free(s);
    event_base_free(st.base);
}

Test(scheduler, real_clock_is_the_wall_clock)
{
    int64_t a = cp_sched_now_ms();
    int64_t b = (int64_t)time(NULL) * 1000;
    cr_expect(a - b < 2000 && b - a < 2000, "now %lld vs time() %lld", (long long)a, (long long)b);
}

Test(scheduler, real_clock_fires_and_freeing_with_pending_entries_is_clean)
{
    struct event_base *base = event_base_new();
    struct fake_clock unused;
    struct log l = {.clock = &unused, .last_due = INT64_MIN, .in_order = true};
    fake_init(&unused);
    struct cp_sched *s = cp_sched_new(base, record, &l);
    struct user u = {.id = 1}, later = {.id = 2};
    int64_t due = cp_sched_now_ms() + 50;
    cp_sched_set(s, &u.timer, due);
    cp_sched_set(s, &later.timer, due + 3600 * 1000);
    run_for(base, 300);
    cr_expect_eq(u.fired, 1);
    cr_expect_eq(later.fired, 0);
    cr_expect_eq(cp_sched_count(s), 1);
    cp_sched_free(s); /* LeakSanitizer and valgrind check that nothing is left behind */
    cp_sched_free(NULL);
    event_base_free(base);
}

/* --- spread offset --- */

Test(scheduler, spread_zero_or_no_jid_is_no_delay)
{
    cr_expect_eq(cp_sched_spread_offset("alice@example.com", 0), 0);
    cr_expect_eq(cp_sched_spread_offset("alice@example.com", -5), 0);
    cr_expect_eq(cp_sched_spread_offset(NULL, 50), 0);
}

/* Pinned values: a change of hash would move every user's transitions, so it must be deliberate
 * (restarts and other instances must agree). */
Test(scheduler, spread_is_stable)
{
    cr_expect_eq(cp_sched_spread_offset("alice@example.com", 50), 26280);
    cr_expect_eq(cp_sched_spread_offset("bob@example.com", 50), 13346);
    cr_expect_eq(cp_sched_spread_offset("alice@example.com", 59), 27280);
    cr_expect_eq(cp_sched_spread_offset("", 50), 48923);
    cr_expect_eq(cp_sched_spread_offset("Alice@Example.COM", 50),
                 cp_sched_spread_offset("alice@example.com", 50), "ASCII case does not matter");
    for (int i = 0; i < 3; i++)
        cr_expect_eq(cp_sched_spread_offset("carol@example.org", 30),
                     cp_sched_spread_offset("carol@example.org", 30));
}

Test(scheduler, spread_in_range_and_roughly_uniform)
{
    enum { N = 10000, BUCKETS = 10 };
    int count[BUCKETS] = {0};
    char jid[64];
    for (int i = 0; i < N; i++) {
        snprintf(jid, sizeof(jid), "user%d@example.com", i);
        for (int spread = 1; spread <= 59; spread += 29)
            cr_assert_lt(cp_sched_spread_offset(jid, spread), (unsigned)spread * 1000, "%s %d", jid,
                         spread);
        unsigned off = cp_sched_spread_offset(jid, 50);
        count[off / 5000]++;
    }
    /* 1,000 expected a bucket; a fair hash stays well within 15% (binomial sd is 30). */
    for (int b = 0; b < BUCKETS; b++)
        cr_expect(count[b] > 850 && count[b] < 1150, "bucket %d has %d", b, count[b]);
}
