/* What a calendar source counts of its own traffic, in one shape for every backend (EWS today,
 * WebDAV and Graph to come): completed requests by operation and outcome, and a latency
 * histogram per operation. The operations are the source interface's own verbs (source.h),
 * not a protocol's: each backend says in docs/operations.md which of its requests each one is.
 * The outcomes are the engine's recovery classes (enum cp_source_fail), plus ok. */
#ifndef CP_SOURCE_STATS_H
#define CP_SOURCE_STATS_H

#include <stddef.h>

enum cp_source_op {
    CP_SOP_SUBSCRIBE = 0, /* make a change subscription */
    CP_SOP_UNSUBSCRIBE,   /* end one */
    CP_SOP_READ_FREEBUSY, /* read_many: one request for a batch of mailboxes */
    CP_SOP_READ_CALENDAR, /* read_detailed: one mailbox's items, however many pieces */
    CP_SOP_POLL_EVENTS,   /* a poll of a pull subscription */
    CP_SOP_STREAM_EVENTS, /* a long-lived notification connection: no latency observed */
    CP_SOP_COUNT
};

/* Outcome 0 is ok; 1.. are the values of enum cp_source_fail (source.h). */
#define CP_SOURCE_OUTCOMES 7
/* Upper bounds of the latency buckets, seconds; +Inf is the count. */
#define CP_SOURCE_BUCKETS 10
extern const double cp_source_latency_bounds[CP_SOURCE_BUCKETS];

struct cp_source_op_stats {
    unsigned long outcomes[CP_SOURCE_OUTCOMES]; /* completed requests by outcome */
    unsigned long buckets[CP_SOURCE_BUCKETS];   /* cumulative: latency <= bound */
    unsigned long count;                        /* latencies observed */
    double sum;                                 /* their total, seconds */
};

/* Counters of a source's traffic, for the summary line and /metrics. */
struct cp_source_stats {
    struct cp_source_op_stats ops[CP_SOP_COUNT];
    unsigned long notifications; /* events received (push, streaming, pull) */
    unsigned long refused;       /* notification bodies refused (malformed, hostile, too big) */
    size_t streams_open;         /* long-lived notification connections open now */
};

/* Counts one completed request of OP with OUTCOME (0 ok, else an enum cp_source_fail) and,
 * when SECONDS >= 0 and OP is not a stream, its latency. An unknown OUTCOME counts as other. */
void cp_source_count(struct cp_source_stats *st, enum cp_source_op op, int outcome, double seconds);

/* Completed requests of every operation, and those that did not end ok. */
void cp_source_totals(const struct cp_source_stats *st, unsigned long *requests,
                      unsigned long *failures);

/* Label values for /metrics (static strings): "subscribe", ..., and "ok", "busy", ... */
const char *cp_source_op_name(enum cp_source_op op);
const char *cp_source_outcome_name(int outcome);

#endif
