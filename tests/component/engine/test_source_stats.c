/* The accounting behind /metrics (component/engine/source_stats.c): requests by operation and
 * outcome, the cumulative latency histogram, streams kept out of it; and the EWS source's
 * mapping of library errors to outcomes (cp_ews_count in source_ews.c). */
#include <criterion/criterion.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "engine/source_ews_int.h"
#include "engine/source_stats.h"

static unsigned long
outcome_of(const struct cp_source_stats *st, enum cp_source_op op, const char *name)
{
    for (int k = 0; k < CP_SOURCE_OUTCOMES; k++)
        if (strcmp(cp_source_outcome_name(k), name) == 0)
            return st->ops[op].outcomes[k];
    cr_assert_fail("no outcome named %s", name);
    return 0;
}

Test(source_stats, outcomes_by_operation)
{
    struct cp_source_stats st = {0};
    cp_source_count(&st, CP_SOP_SUBSCRIBE, 0, 0.2);
    cp_source_count(&st, CP_SOP_SUBSCRIBE, 0, 0.3);
    cp_source_count(&st, CP_SOP_SUBSCRIBE, CP_SRC_RETRY_LATER, 0.1);
    cp_source_count(&st, CP_SOP_READ_FREEBUSY, CP_SRC_AUTH, 0.1);
    cp_source_count(&st, CP_SOP_READ_FREEBUSY, 99, 0.1); /* unknown: other */
    cr_expect_eq(outcome_of(&st, CP_SOP_SUBSCRIBE, "ok"), 2);
    cr_expect_eq(outcome_of(&st, CP_SOP_SUBSCRIBE, "busy"), 1);
    cr_expect_eq(outcome_of(&st, CP_SOP_READ_FREEBUSY, "auth"), 1);
    cr_expect_eq(outcome_of(&st, CP_SOP_READ_FREEBUSY, "other"), 1);
    cr_expect_eq(outcome_of(&st, CP_SOP_READ_CALENDAR, "ok"), 0);
    unsigned long requests, failures;
    cp_source_totals(&st, &requests, &failures);
    cr_expect_eq(requests, 5);
    cr_expect_eq(failures, 3);
}

Test(source_stats, histogram_is_cumulative_with_inclusive_bounds)
{
    struct cp_source_stats st = {0};
    /* On a bound, just above it, above the last bound, and zero. */
    double seen[] = {0.05, 0.051, 120, 0, 2.5};
    for (size_t i = 0; i < sizeof(seen) / sizeof(seen[0]); i++)
        cp_source_count(&st, CP_SOP_READ_CALENDAR, 0, seen[i]);
    const struct cp_source_op_stats *o = &st.ops[CP_SOP_READ_CALENDAR];
    cr_expect_eq(o->count, 5);
    cr_expect_float_eq(o->sum, 0.05 + 0.051 + 120 + 2.5, 1e-9);
    for (int i = 0; i < CP_SOURCE_BUCKETS; i++) {
        unsigned long want = 0;
        for (size_t k = 0; k < sizeof(seen) / sizeof(seen[0]); k++)
            want += seen[k] <= cp_source_latency_bounds[i];
        cr_expect_eq(o->buckets[i], want, "le=%g: %lu, want %lu", cp_source_latency_bounds[i],
                     o->buckets[i], want);
        if (i > 0)
            cr_expect_lt(cp_source_latency_bounds[i - 1], cp_source_latency_bounds[i]);
    }
    cr_expect_eq(o->buckets[0], 2);                     /* 0 and 0.05 */
    cr_expect_eq(o->buckets[CP_SOURCE_BUCKETS - 1], 4); /* all but 120 s, in +Inf only */
    cr_expect_eq(cp_source_latency_bounds[CP_SOURCE_BUCKETS - 1], 60);
}

Test(source_stats, streams_and_unsent_requests_have_no_latency)
{
    struct cp_source_stats st = {0};
    cp_source_count(&st, CP_SOP_STREAM_EVENTS, 0, 1800);
    cp_source_count(&st, CP_SOP_STREAM_EVENTS, CP_SRC_SERVER_DOWN, 3);
    cp_source_count(&st, CP_SOP_POLL_EVENTS, CP_SRC_SERVER_DOWN, -1);
    cr_expect_eq(outcome_of(&st, CP_SOP_STREAM_EVENTS, "ok"), 1);
    cr_expect_eq(outcome_of(&st, CP_SOP_STREAM_EVENTS, "server_down"), 1);
    cr_expect_eq(outcome_of(&st, CP_SOP_POLL_EVENTS, "server_down"), 1);
    cr_expect_eq(st.ops[CP_SOP_STREAM_EVENTS].count, 0);
    cr_expect_eq(st.ops[CP_SOP_STREAM_EVENTS].buckets[CP_SOURCE_BUCKETS - 1], 0);
    cr_expect_eq(st.ops[CP_SOP_POLL_EVENTS].count, 0);
}

/* Label values: distinct, lower-case words, as Prometheus conventions ask. */
static void
expect_labels(const char *(*name)(int), int n)
{
    for (int i = 0; i < n; i++) {
        const char *s = name(i);
        cr_assert(s && *s);
        for (const char *c = s; *c; c++)
            cr_expect(islower((unsigned char)*c) || *c == '_', "label value %s", s);
        for (int k = 0; k < i; k++)
            cr_expect_str_neq(name(k), s);
    }
}

static const char *
op_name(int i)
{
    return cp_source_op_name((enum cp_source_op)i);
}

Test(source_stats, label_values)
{
    expect_labels(op_name, CP_SOP_COUNT);
    expect_labels(cp_source_outcome_name, CP_SOURCE_OUTCOMES);
    cr_expect_str_eq(cp_source_outcome_name(0), "ok");
    cr_expect_str_eq(cp_source_outcome_name(CP_SRC_RETRY_LATER), "busy");
    cr_expect_str_eq(cp_source_op_name(CP_SOP_READ_FREEBUSY), "read_freebusy");
}

/* The EWS source's side: a library error lands under the outcome of its recovery class. */
Test(source_stats, ews_errors_map_to_outcomes)
{
    struct ews_source *s = calloc(1, sizeof(*s));
    cr_assert(s);
    static const struct {
        enum ews_error_class cls;
        int rc;
        const char *outcome;
    } rows[] = {
        {EWS_ERR_RETRY_LATER, EWS_E_RESPONSE, "busy"},
        {EWS_ERR_SERVER_DOWN, EWS_E_TRANSPORT, "server_down"},
        {EWS_ERR_REDISCOVER, EWS_E_RESPONSE, "server_down"},
        {EWS_ERR_RESUBSCRIBE, EWS_E_RESPONSE, "subscription_gone"},
        {EWS_ERR_MAILBOX_PROBLEM, EWS_E_RESPONSE, "mailbox"},
        {EWS_ERR_AUTH_FAILURE, EWS_E_RESPONSE, "auth"},
        {EWS_ERR_MALFORMED, EWS_E_MALFORMED, "other"},
        {EWS_ERR_OTHER, EWS_E_RESPONSE, "other"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct cp_source_stats before = s->stats;
        struct ews_error err = {.cls = rows[i].cls};
        cp_ews_count(s, CP_SOP_POLL_EVENTS, rows[i].rc, &err, NULL);
        cr_expect_eq(outcome_of(&s->stats, CP_SOP_POLL_EVENTS, rows[i].outcome),
                     outcome_of(&before, CP_SOP_POLL_EVENTS, rows[i].outcome) + 1,
                     "class %d should count as %s", (int)rows[i].cls, rows[i].outcome);
    }
    cp_ews_count(s, CP_SOP_SUBSCRIBE, 0, NULL, NULL);
    cr_expect_eq(outcome_of(&s->stats, CP_SOP_SUBSCRIBE, "ok"), 1);
    unsigned long requests, failures;
    cp_source_totals(&s->stats, &requests, &failures);
    cr_expect_eq(requests, 9);
    cr_expect_eq(failures, 8);
    /* Without a library handle no latency is made up. */
    cr_expect_eq(s->stats.ops[CP_SOP_POLL_EVENTS].count, 0);
    free(s);
}
