/* The deferred presence queue publishes in order, a bounded batch per loop turn. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "xmpp/publish_queue.h"

struct seen {
    int n;
    char last[64];
    bool in_order;
};

static void
record(void *ud, const char *jid)
{
    struct seen *s = ud;
    char expected[64];
    snprintf(expected, sizeof(expected), "user%d@example.com", s->n);
    if (strcmp(jid, expected) != 0)
        s->in_order = false;
    snprintf(s->last, sizeof(s->last), "%s", jid);
    s->n++;
}

static void
add_range(struct cp_publish_queue *q, int from, int to)
{
    char jid[64];
    for (int i = from; i < to; i++) {
        snprintf(jid, sizeof(jid), "user%d@example.com", i);
        cr_assert_eq(cp_publish_queue_add(q, jid), 0);
    }
}

Test(publish_queue, one_batch_per_loop_turn_in_order)
{
    struct event_base *base = event_base_new();
    struct seen s = {.in_order = true};
    struct cp_publish_queue *q = cp_publish_queue_new(base, record, &s, 200);
    add_range(q, 0, 1000);
    cr_expect_eq(s.n, 0, "nothing is published inside add");
    event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    cr_expect_eq(s.n, 200, "one turn publishes one batch (%d)", s.n);
    cr_expect_eq(cp_publish_queue_length(q), 800);
    add_range(q, 1000, 1500); /* more arrive while draining */
    event_base_dispatch(base);
    cr_expect_eq(s.n, 1500);
    cr_expect(s.in_order, "published in the order queued (last %s)", s.last);
    cr_expect_eq(cp_publish_queue_length(q), 0);
    cp_publish_queue_free(q);
    event_base_free(base);
}

Test(publish_queue, free_with_work_pending)
{
    struct event_base *base = event_base_new();
    struct seen s = {.in_order = true};
    struct cp_publish_queue *q = cp_publish_queue_new(base, record, &s, 10);
    add_range(q, 0, 50);
    event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    cr_expect_eq(s.n, 10);
    cp_publish_queue_free(q); /* the 40 left are freed (valgrind checks) */
    event_base_free(base);
}
