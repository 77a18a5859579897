/* The calendar source interface: what the engine needs from a calendar system, and nothing
 * else. EWS (source_ews.c) is the first implementation; WebDAV (Exchange 2003/2007) and
 * Microsoft Graph (Exchange Online) are to follow behind the same table of operations, so the
 * timeline, the scheduler and the XMPP side never change for them.
 *
 * Model: a source keeps one subscription per mailbox (its id, the server it lives on and an
 * opaque cursor such as a watermark, all strings the engine stores and hands back after a
 * restart), reads windows of busy intervals for one or many mailboxes, and reports through
 * struct cp_source_events. USER is the engine's handle of a mailbox: the source never looks
 * inside it, only passes it back. Every event is delivered on the loop, never from inside the
 * call that started the work. */
#ifndef CP_SOURCE_H
#define CP_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "source_stats.h"
#include "timeline.h"

struct event_base;
struct cp_config;
struct cp_source;

/* What the engine must do about a failure; mirrors the recovery rules of architecture.md. */
enum cp_source_fail {
    CP_SRC_RETRY_LATER = 1,   /* the server asked to wait backoff_ms (ErrorServerBusy) */
    CP_SRC_SERVER_DOWN,       /* move the mailbox to another server and try again */
    CP_SRC_SUBSCRIPTION_GONE, /* the subscription expired or is unknown: subscribe again */
    CP_SRC_MAILBOX,           /* no such mailbox, or impersonation refused: the user's error */
    CP_SRC_AUTH,              /* the service account is refused: the operator's error */
    CP_SRC_OTHER,             /* anything else: retry with a growing back-off */
};

struct cp_source_error {
    enum cp_source_fail kind;
    long backoff_ms; /* CP_SRC_RETRY_LATER: the wait the server asked for */
    char code[64];   /* the server's code, e.g. ErrorServerBusy; "" when none */
    char text[352];  /* one line for the log and `status`: code and message */
};

/* A subscription as the engine stores it. Strings are borrowed for the duration of a call. */
struct cp_source_sub {
    const char *id;
    const char *server;
    const char *cursor; /* NULL when the kind has none */
    const char *kind;   /* "push", "streaming", "pull" for EWS */
};

/* The engine's side. UD is cp_source_new's EVENTS_UD. */
struct cp_source_events {
    /* Subscribe ended: ERR NULL and SUB set, or ERR set. */
    void (*subscribed)(void *ud, void *user, const struct cp_source_sub *sub,
                       const struct cp_source_error *err);
    /* A window was read: ERR NULL and N ITEMS (borrowed; DETAILED when they carry subjects,
     * privacy and cancellation), or ERR for this mailbox only. */
    void (*window)(void *ud, void *user, const struct cp_interval *items, size_t n, bool detailed,
                   const struct cp_source_error *err);
    /* The mailbox's calendar changed. CURSOR (may be NULL) is the new cursor to store. */
    void (*changed)(void *ud, void *user, const char *cursor);
    /* The subscription is alive (a status event or heartbeat) but nothing changed. */
    void (*alive)(void *ud, void *user, const char *cursor);
    /* The subscription was lost (expired, refused by the stream, server gone). */
    void (*lost)(void *ud, void *user, const struct cp_source_error *err);
    /* The user that holds subscription ID, or NULL: the source then tells the server that the
     * subscription is not wanted (push: Unsubscribe). */
    void *(*lookup)(void *ud, const char *id);
};

/* One server's health, for the summary line and gateway-status. URL is borrowed. */
struct cp_source_server {
    const char *url;
    bool healthy;
    unsigned in_flight;
    size_t queued;
    size_t mailboxes;
    long backoff_left_ms;
};

struct cp_source_ops {
    const char *name; /* "ews" */
    size_t max_batch; /* mailboxes per read_many call */
    /* Subscribes MAILBOX. Returns 0 (then `subscribed` follows) or negative (queue full: the
     * engine retries later). */
    int (*subscribe)(struct cp_source *s, void *user, const char *mailbox);
    /* Takes back a subscription stored before a restart: push needs nothing, streaming adds
     * it to a stream, pull polls from its cursor. A dead one is reported through `lost`. */
    int (*resume)(struct cp_source *s, void *user, const char *mailbox,
                  const struct cp_source_sub *sub);
    /* Drops a subscription (the user was disabled or resubscribed). Fire and forget: push
     * subscriptions end when their next notification is answered Unsubscribe. */
    void (*unsubscribe)(struct cp_source *s, const char *mailbox, const struct cp_source_sub *sub);
    /* Reads [START, END) for N <= max_batch mailboxes at once (free/busy only); `window` is
     * called once per mailbox. Returns 0 or negative (nothing will be called). */
    int (*read_many)(struct cp_source *s, void *const *users, const char *const *mailboxes,
                     size_t n, time_t start, time_t end);
    /* Reads one mailbox's items with subjects, privacy and cancellation. */
    int (*read_detailed)(struct cp_source *s, void *user, const char *mailbox, time_t start,
                         time_t end);
    /* The server MAILBOX is assigned to (borrowed), or NULL. */
    const char *(*server_of)(struct cp_source *s, const char *mailbox);
    /* Moves MAILBOX to the next healthy server; returns its URL (borrowed) or NULL. */
    const char *(*reassign)(struct cp_source *s, const char *mailbox);
    /* Forgets MAILBOX (disabled user). */
    void (*forget)(struct cp_source *s, const char *mailbox);
    /* Fills at most MAX servers; returns how many there are. */
    size_t (*servers)(struct cp_source *s, struct cp_source_server *out, size_t max);
    /* Its traffic (source_stats.h): every request counted once when it completes, under the
     * interface operation it serves, with the recovery class of its failure. */
    void (*stats)(struct cp_source *s, struct cp_source_stats *out);
    /* One line for the start-up log: servers, mode, listener. Borrowed. */
    const char *(*describe)(struct cp_source *s);
    void (*free)(struct cp_source *s);
};

/* Every source starts with this header, so the engine can reach its operations. */
struct cp_source {
    const struct cp_source_ops *ops;
};

/* The EWS source (source_ews.c) for CFG on BASE: creates the client, and in push mode the
 * listener. Returns 0 and *OUT, or a negative cp_err with the reason in WHY (start-up fatal). */
int cp_source_ews_new(struct event_base *base, const struct cp_config *cfg,
                      const struct cp_source_events *events, void *events_ud,
                      struct cp_source **out, char *why, size_t whylen);

#endif
