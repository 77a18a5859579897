/* calpresence-ews, the administrator's EWS tool (contract.md): shared state of its verbs. */
#ifndef EWS_TOOL_INT_H
#define EWS_TOOL_INT_H

#include <event2/event.h>
#include <stdbool.h>

#include "ews.h"

struct cp_config;
struct watch;

struct tool {
    struct event_base *base;
    struct ews_client *client;
    const struct cp_config *cfg;
    int status;    /* exit status so far: 0 or 1 */
    bool done;     /* the verb has finished: leave the loop */
    long count;    /* watch: notifications to wait for, 0 = until interrupted */
    long seen;     /* watch: notifications printed */
    bool stopping; /* watch: interrupted or count reached, unsubscribing */
    struct watch *watch;
};

/* Prints "calpresence-ews: WHAT: CLASS CODE (HTTP n): message" and "calpresence-ews: action:
 * what to do" on stderr (the same hint as `calpresence --check`), and sets status 1. The
 * callback's own return code is not printed: the class and Exchange's code say more. */
void tool_fail(struct tool *t, const char *what, const struct ews_error *err);

/* Ends the verb: leaves the event loop. */
void tool_finish(struct tool *t);

/* The watch verb (ews_watch.c): subscribes MAILBOX in the configured mode and prints one
 * line a notification. Returns 0 when started (the loop then runs), 1 when it failed. */
int tool_watch(struct tool *t, const char *mailbox);

/* Stops watching (SIGINT/SIGTERM or count reached): unsubscribes, then finishes. */
void tool_watch_stop(struct tool *t);

/* Frees the watch state (before the client is destroyed). */
void tool_watch_free(struct tool *t);

#endif
