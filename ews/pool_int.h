/* The server pool: the configured EWS URLs, which mailbox uses which server, each server's
 * health, back-off and queue of pending requests. Pure bookkeeping over plain data (no curl,
 * no event loop) so that the rules can be unit-tested; client.c drives it.
 *
 * Rules (issue 3, Cisco's behaviour):
 * - a new mailbox is assigned round-robin over the healthy servers and keeps its server until
 *   its subscription fails (ews_pool_reassign) or its server is marked down;
 * - a server that failed with a server-down error is skipped until a probe succeeds;
 * - after ErrorServerBusy / HTTP 503 no request leaves for that server before the back-off ends;
 * - at most `concurrency` requests are in flight per server;
 * - at most `max_pending` requests wait in all queues together; beyond that new work is refused.
 */
#ifndef EWS_POOL_INT_H
#define EWS_POOL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

/* A pending request, embedded in the caller's own request structure. */
struct ews_qnode {
    TAILQ_ENTRY(ews_qnode) link;
};
TAILQ_HEAD(ews_qhead, ews_qnode);

struct ews_server {
    char *url;
    bool healthy;
    unsigned in_flight;
    uint64_t backoff_until_ms; /* monotonic ms; no request starts before it */
    char version[64];          /* ServerVersionInfo of the last answer, "" when unknown */
    size_t assigned;           /* mailboxes currently assigned */
    struct ews_qhead queue;
    size_t queued;
};

struct ews_mbox_entry;

struct ews_pool {
    struct ews_server *servers;
    size_t n;
    size_t next_rr; /* the server the next new mailbox starts looking from */
    size_t pending; /* requests waiting in all queues */
    size_t max_pending;
    unsigned concurrency;
    struct ews_mbox_entry **buckets; /* mailbox -> server index */
    size_t nbuckets;
    size_t nmailboxes;
};

/* Initialises POOL with copies of the N URLS (POOL owns them; free with ews_pool_clear).
 * Every server starts healthy. N may be 0 (autodiscover adds servers later). Returns 0 or
 * EWS_E_NOMEM / EWS_E_INVAL (concurrency 0). */
int ews_pool_init(struct ews_pool *pool, const char *const *urls, size_t n, size_t max_pending,
                  unsigned concurrency);

/* Appends a copy of URL as a healthy server; returns its index or EWS_E_NOMEM. */
int ews_pool_add(struct ews_pool *pool, const char *url);

/* Drops the server ews_pool_add just added (its caller failed afterwards). */
void ews_pool_remove_last(struct ews_pool *pool);

/* Frees everything POOL owns. Queued nodes are not touched: they belong to the caller, who must
 * have removed them first. */
void ews_pool_clear(struct ews_pool *pool);

/* The server MAILBOX uses. A mailbox seen for the first time is assigned round-robin over the
 * healthy servers; a mailbox whose server is down moves to the next healthy one. When no server
 * is healthy the current (or round-robin) choice is kept: a lone server is tried anyway.
 * Returns the index, EWS_E_INVAL when the pool is empty, or EWS_E_NOMEM. MAILBOX is compared
 * case-insensitively and copied. */
int ews_pool_server_for(struct ews_pool *pool, const char *mailbox);

/* Moves MAILBOX to the next healthy server after its current one (its subscription failed).
 * Returns the new index (the same one when it is the only healthy server) or EWS_E_NOMEM. */
int ews_pool_reassign(struct ews_pool *pool, const char *mailbox);

/* Assigns MAILBOX to server IDX (autodiscover found its server). Returns 0 or EWS_E_NOMEM. */
int ews_pool_pin(struct ews_pool *pool, const char *mailbox, size_t idx);

/* The index MAILBOX is assigned to, or -1 when it has none. */
int ews_pool_lookup(const struct ews_pool *pool, const char *mailbox);

/* Forgets MAILBOX (the user was disabled). */
void ews_pool_forget(struct ews_pool *pool, const char *mailbox);

void ews_pool_mark_down(struct ews_pool *pool, size_t idx);
void ews_pool_mark_up(struct ews_pool *pool, size_t idx);

/* Records ErrorServerBusy / 503 on server IDX at NOW_MS: nothing leaves for it before
 * NOW_MS + BACKOFF_MS (a later deadline already set is kept). */
void ews_pool_backoff(struct ews_pool *pool, size_t idx, uint64_t now_ms, uint32_t backoff_ms);

/* Queues NODE for server IDX. Returns 0, or EWS_E_QUEUE_FULL when max_pending requests already wait
 * (NODE is then not queued). A retry (AT_FRONT) goes first and is never refused, because its
 * work was already accepted once. */
int ews_pool_enqueue(struct ews_pool *pool, size_t idx, struct ews_qnode *node, bool at_front);

/* Removes a queued NODE of server IDX (cancel). */
void ews_pool_unqueue(struct ews_pool *pool, size_t idx, struct ews_qnode *node);

/* The next node that may start on server IDX at NOW_MS, removed from the queue and counted in
 * flight; NULL when the queue is empty, the concurrency cap is reached or a back-off runs.
 * The caller calls ews_pool_done when the request finishes. */
struct ews_qnode *ews_pool_next(struct ews_pool *pool, size_t idx, uint64_t now_ms);

/* A request that ews_pool_next returned has finished on server IDX. */
void ews_pool_done(struct ews_pool *pool, size_t idx);

/* Milliseconds until server IDX's back-off ends at NOW_MS, 0 when none runs. */
uint64_t ews_pool_backoff_left(const struct ews_pool *pool, size_t idx, uint64_t now_ms);

/* The monotonic clock in milliseconds, and in microseconds (request timing). */
uint64_t ews_now_ms(void);
uint64_t ews_now_us(void);

#endif
