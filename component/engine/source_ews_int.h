/* Private to the EWS source (source_ews*.c): the source's state, shared by the request side
 * (source_ews.c) and the notification side (streams and pull polls, source_ews_watch.c). */
#ifndef CP_SOURCE_EWS_INT_H
#define CP_SOURCE_EWS_INT_H

#include <stdbool.h>

#include "config/config.h"
#include "ews.h"
#include "listener.h"
#include "source.h"

struct ews_stream_group;
struct ews_pull_sub;
struct op_ctx;

struct ews_source {
    struct cp_source base; /* first: the engine sees a struct cp_source */
    struct event_base *evbase;
    struct ews_client *client;
    struct cp_listener *listener; /* push mode only */
    enum cp_notify_mode mode;
    char *url;            /* push: the notification URL given to Exchange, owned */
    int status_frequency; /* minutes */
    int pull_interval;    /* seconds */
    const struct cp_source_events *ev;
    void *ev_ud;
    struct cp_source_stats stats;
    char describe[512];
    /* streaming: groups of at most EWS_MAX_STREAMING_IDS subscriptions of one server */
    struct ews_stream_group **groups; /* owned array of owned groups */
    size_t n_groups;
    /* pull: one poll per subscription */
    struct ews_pull_sub *pulls;   /* owned list */
    struct op_ctx *ops_in_flight; /* owned list of the requests under way */
};

/* Fills OUT from an EWS error (the engine's recovery classes). */
void cp_ews_source_error(const struct ews_error *err, int rc, struct cp_source_error *out);

/* Counts a completed request of interface operation OP that ended with RC/ERR; HANDLE (may be
 * NULL: no latency) is the library's operation, still valid in its callback. */
void cp_ews_count(struct ews_source *s, enum cp_source_op op, int rc, const struct ews_error *err,
                  const struct ews_op *handle);

/* Streaming (source_ews_watch.c): adds SUB to a stream of its server, or drops it. */
int cp_ews_stream_add(struct ews_source *s, void *user, const char *mailbox, const char *id);
void cp_ews_stream_remove(struct ews_source *s, const char *id);
void cp_ews_streams_free(struct ews_source *s);
/* GetStreamingEvents connections open now. */
size_t cp_ews_streams_open(const struct ews_source *s);

/* Pull (source_ews_watch.c): polls SUB from its cursor, or stops polling it. */
int cp_ews_pull_add(struct ews_source *s, void *user, const char *mailbox, const char *id,
                    const char *watermark);
void cp_ews_pull_remove(struct ews_source *s, const char *id);
void cp_ews_pulls_free(struct ews_source *s);

/* Hands one notification to the engine: STATUS-only ones as `alive`, others as `changed`
 * (once, with the newest watermark). Returns false when no user holds its subscription. */
bool cp_ews_deliver(struct ews_source *s, const struct ews_notification *n);

#endif
