/* Accounting of a calendar source's requests (source_stats.h): kept apart from every backend
 * so that /metrics reads one shape whichever source runs. */
#include "source_stats.h"

#include "source.h"

/* EWS answers in tens of milliseconds when healthy; a slow mailbox server or a split calendar
 * view takes seconds; `timeout` may allow up to minutes. */
const double cp_source_latency_bounds[CP_SOURCE_BUCKETS] = {0.05, 0.1, 0.25, 0.5, 1,
                                                            2.5,  5,   10,   30,  60};

_Static_assert(CP_SRC_OTHER + 1 == CP_SOURCE_OUTCOMES, "one outcome per recovery class, and ok");

void
cp_source_count(struct cp_source_stats *st, enum cp_source_op op, int outcome, double seconds)
{
    struct cp_source_op_stats *o = &st->ops[op];
    if (outcome < 0 || outcome >= CP_SOURCE_OUTCOMES)
        outcome = CP_SRC_OTHER;
    o->outcomes[outcome]++;
    if (seconds < 0 || op == CP_SOP_STREAM_EVENTS)
        return;
    for (size_t i = 0; i < CP_SOURCE_BUCKETS; i++)
        if (seconds <= cp_source_latency_bounds[i])
            o->buckets[i]++;
    o->count++;
    o->sum += seconds;
}

void
cp_source_totals(const struct cp_source_stats *st, unsigned long *requests, unsigned long *failures)
{
    *requests = *failures = 0;
    for (size_t op = 0; op < CP_SOP_COUNT; op++)
        for (size_t k = 0; k < CP_SOURCE_OUTCOMES; k++) {
            *requests += st->ops[op].outcomes[k];
            if (k != 0)
                *failures += st->ops[op].outcomes[k];
        }
}

const char *
cp_source_op_name(enum cp_source_op op)
{
    static const char *const names[CP_SOP_COUNT] = {
        [CP_SOP_SUBSCRIBE] = "subscribe",         [CP_SOP_UNSUBSCRIBE] = "unsubscribe",
        [CP_SOP_READ_FREEBUSY] = "read_freebusy", [CP_SOP_READ_CALENDAR] = "read_calendar",
        [CP_SOP_POLL_EVENTS] = "poll_events",     [CP_SOP_STREAM_EVENTS] = "stream_events",
    };
    return (unsigned)op < CP_SOP_COUNT ? names[op] : "unknown";
}

const char *
cp_source_outcome_name(int outcome)
{
    static const char *const names[CP_SOURCE_OUTCOMES] = {
        [0] = "ok",
        [CP_SRC_RETRY_LATER] = "busy",
        [CP_SRC_SERVER_DOWN] = "server_down",
        [CP_SRC_SUBSCRIPTION_GONE] = "subscription_gone",
        [CP_SRC_MAILBOX] = "mailbox",
        [CP_SRC_AUTH] = "auth",
        [CP_SRC_OTHER] = "other",
    };
    return outcome >= 0 && outcome < CP_SOURCE_OUTCOMES ? names[outcome] : "other";
}
