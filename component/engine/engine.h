/* Room engine/: Exchange calendars to on-time presence: per-user state, timeline, transition
 * timers, push listener, and the calendar source interface. May include: config/, store/, ews/.
 *
 * The engine knows both sides but talks to XMPP only through struct cp_engine_hooks: it says
 * which user's presence must go out, and answers what a calendar JID shows now. */
#ifndef CP_ENGINE_H
#define CP_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "config/config.h"
#include "source_stats.h"
#include "store/store.h"

struct event_base;
struct cp_engine;

/* What a calendar JID shows now (the XMPP side maps it to a presence stanza). */
enum cp_engine_show {
    CP_SHOW_UNAVAILABLE = 0, /* disabled, not read yet, or mailbox refused */
    CP_SHOW_FREE,
    CP_SHOW_TENTATIVE,
    CP_SHOW_BUSY,
    CP_SHOW_OOF,
    CP_SHOW_ELSEWHERE,
};

struct cp_engine_presence {
    enum cp_engine_show show;
    time_t until;        /* next change, 0 when unknown */
    const char *subject; /* borrowed until the next loop turn; NULL unless the user opted in */
};

/* The XMPP side, as the daemon wires it. */
struct cp_engine_hooks {
    /* Sends USER_JID's current presence to every subscriber of its calendar JID now. */
    void (*publish)(void *ud, const char *user_jid);
    /* Stanzas waiting in the XMPP send queue; the engine publishes only while it is short,
     * so a burst of transitions never piles up in libstrophe's memory. */
    size_t (*send_queue)(void *ud);
    /* True while the XMPP stream is up (nothing is published while it is down: the next
     * handshake republishes everything). */
    bool (*online)(void *ud);
};

/* Counters for the summary line, gateway-status and benchmarks. */
struct cp_engine_stats {
    size_t users;                /* enabled */
    size_t published;            /* enabled and showing their calendar */
    size_t failing;              /* in state error */
    size_t pending;              /* enabled, calendar not read yet */
    unsigned long transitions;   /* presence changes published */
    unsigned long notifications; /* change notifications handled */
    unsigned long reads;         /* windows read (one per mailbox) */
    unsigned long subscribes;    /* subscriptions made */
    size_t outbox;               /* users whose presence waits to go out */
};

/* Creates the engine on BASE over STORE with CFG (both borrowed; CFG may be replaced with
 * cp_engine_set_config). With no [exchange] ews_urls the engine runs without a source and
 * every calendar JID stays unavailable. Returns 0 and *OUT, or a negative cp_err with the
 * reason in WHY (start-up fatal). */
int cp_engine_new(struct event_base *base, const struct cp_config *cfg, struct cp_store *store,
                  const struct cp_engine_hooks *hooks, void *hooks_ud, struct cp_engine **out,
                  char *why, size_t whylen);
void cp_engine_free(struct cp_engine *e);

/* Loads every enabled user and stored subscription and starts their life (restart: stored
 * push subscriptions are kept, calendars read in batches). Returns 0 or CP_EIO. */
int cp_engine_start(struct cp_engine *e);

/* The configuration in force after a reload (borrowed). */
void cp_engine_set_config(struct cp_engine *e, const struct cp_config *cfg);

/* USER_JID was enabled, disabled or changed settings: re-reads its row and acts. */
void cp_engine_user_changed(struct cp_engine *e, const char *user_jid);

/* Drops and recreates USER_JID's subscription. Returns 0, CP_ENOTFOUND (not enabled). */
int cp_engine_resubscribe(struct cp_engine *e, const char *user_jid);

/* What USER_JID's calendar JID shows now. */
void cp_engine_presence(struct cp_engine *e, const char *user_jid, struct cp_engine_presence *out);

/* Queues the presence of USER_JID for publication (paced); used after a handshake. */
void cp_engine_queue_publish(struct cp_engine *e, const char *user_jid);

/* `status` / `users-list`: the user's state, next change, server, subscription and last error
 * as text into the caller's buffers (each BUFLEN bytes). Returns 0 or CP_ENOTFOUND. */
struct cp_engine_user_view {
    char state[32];
    char until[32];
    char server[256];
    char subscription[128];
    char last_error[320];
};
int cp_engine_user_view(struct cp_engine *e, const char *user_jid, struct cp_engine_user_view *out);

void cp_engine_stats(const struct cp_engine *e, struct cp_engine_stats *out);

/* A few lines per Exchange server (URL, health, users, in flight) for gateway-status; malloc'd,
 * caller frees; NULL on ENOMEM. */
char *cp_engine_servers_report(struct cp_engine *e);

/* The calendar source's traffic since start and its servers, for /metrics and /healthz. The
 * traffic's shape (source_stats.h, part of this header's face) is backend-neutral: its
 * operations and outcomes are the labels of /metrics. */
struct cp_engine_server {
    const char *url; /* borrowed until the next loop turn */
    bool healthy;
    unsigned in_flight;
    size_t queued;
    size_t users;
    long backoff_left_ms;
};
/* Fills *OUT (zeros without a source); fills at most MAX servers and returns how many there
 * are (0 without a source). */
size_t cp_engine_source(struct cp_engine *e, struct cp_source_stats *out,
                        struct cp_engine_server *servers, size_t max);

#endif
