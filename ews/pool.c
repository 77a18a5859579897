/* The server pool: assignment of mailboxes to servers, health, back-off, queues (pool_int.h). */
#include "pool_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ews_types.h"

/* One mailbox -> server assignment, chained in a bucket. */
struct ews_mbox_entry {
    struct ews_mbox_entry *next;
    size_t server;
    char mailbox[]; /* lower-cased */
};

static uint64_t mbox_hash(const char *mailbox);
static struct ews_mbox_entry **mbox_slot(const struct ews_pool *pool, const char *mailbox);
static int mbox_grow(struct ews_pool *pool);
static int mbox_insert(struct ews_pool *pool, const char *mailbox, size_t server);
static size_t next_healthy(const struct ews_pool *pool, size_t from, bool *found);
static void assign(struct ews_pool *pool, struct ews_mbox_entry *e, size_t server);

uint64_t
ews_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t
ews_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int
ews_pool_init(struct ews_pool *pool, const char *const *urls, size_t n, size_t max_pending,
              unsigned concurrency)
{
    memset(pool, 0, sizeof(*pool));
    if (concurrency == 0)
        return EWS_E_INVAL;
    pool->max_pending = max_pending;
    pool->concurrency = concurrency;
    for (size_t i = 0; i < n; i++) {
        if (ews_pool_add(pool, urls[i]) < 0) {
            ews_pool_clear(pool);
            return EWS_E_NOMEM;
        }
    }
    return 0;
}

int
ews_pool_add(struct ews_pool *pool, const char *url)
{
    struct ews_server *arr = realloc(pool->servers, (pool->n + 1) * sizeof(*arr));
    struct ews_server *s;

    if (arr == NULL)
        return EWS_E_NOMEM;
    pool->servers = arr;
    /* The queue heads point into the array: re-anchor them after it moved. */
    for (size_t i = 0; i < pool->n; i++) {
        struct ews_qhead *q = &arr[i].queue;

        if (TAILQ_EMPTY(q))
            TAILQ_INIT(q);
        else
            TAILQ_FIRST(q)->link.tqe_prev = &TAILQ_FIRST(q);
    }
    s = &arr[pool->n];
    memset(s, 0, sizeof(*s));
    TAILQ_INIT(&s->queue);
    s->healthy = true;
    s->url = strdup(url);
    if (s->url == NULL)
        return EWS_E_NOMEM;
    return (int)pool->n++;
}

void
ews_pool_remove_last(struct ews_pool *pool)
{
    if (pool->n == 0)
        return;
    pool->n--;
    free(pool->servers[pool->n].url);
}

void
ews_pool_clear(struct ews_pool *pool)
{
    for (size_t i = 0; i < pool->nbuckets; i++) {
        struct ews_mbox_entry *e = pool->buckets[i];

        while (e != NULL) {
            struct ews_mbox_entry *next = e->next;

            free(e);
            e = next;
        }
    }
    free(pool->buckets);
    for (size_t i = 0; i < pool->n; i++)
        free(pool->servers[i].url);
    free(pool->servers);
    memset(pool, 0, sizeof(*pool));
}

/* FNV-1a over the lower-cased address: SMTP addresses compare case-insensitively. */
static uint64_t
mbox_hash(const char *mailbox)
{
    uint64_t h = 1469598103934665603ull;

    for (const unsigned char *p = (const unsigned char *)mailbox; *p != '\0'; p++) {
        h ^= (uint64_t)tolower(*p);
        h *= 1099511628211ull;
    }
    return h;
}

/* The link that points at MAILBOX's entry, or at the NULL ending its bucket. */
static struct ews_mbox_entry **
mbox_slot(const struct ews_pool *pool, const char *mailbox)
{
    struct ews_mbox_entry **slot = &pool->buckets[mbox_hash(mailbox) % pool->nbuckets];

    while (*slot != NULL && strcasecmp((*slot)->mailbox, mailbox) != 0)
        slot = &(*slot)->next;
    return slot;
}

/* Doubles the table when it holds as many entries as buckets, keeping chains short. */
static int
mbox_grow(struct ews_pool *pool)
{
    size_t nb = pool->nbuckets == 0 ? 64 : pool->nbuckets * 2;
    struct ews_mbox_entry **b = calloc(nb, sizeof(*b));

    if (b == NULL)
        return EWS_E_NOMEM;
    for (size_t i = 0; i < pool->nbuckets; i++) {
        struct ews_mbox_entry *e = pool->buckets[i];

        while (e != NULL) {
            struct ews_mbox_entry *next = e->next;
            size_t k = mbox_hash(e->mailbox) % nb;

            e->next = b[k];
            b[k] = e;
            e = next;
        }
    }
    free(pool->buckets);
    pool->buckets = b;
    pool->nbuckets = nb;
    return 0;
}

static int
mbox_insert(struct ews_pool *pool, const char *mailbox, size_t server)
{
    size_t len = strlen(mailbox);
    struct ews_mbox_entry *e;
    struct ews_mbox_entry **slot;

    if (pool->nmailboxes >= pool->nbuckets && mbox_grow(pool) < 0)
        return EWS_E_NOMEM;
    e = malloc(sizeof(*e) + len + 1);
    if (e == NULL)
        return EWS_E_NOMEM;
    for (size_t i = 0; i <= len; i++)
        e->mailbox[i] = (char)tolower((unsigned char)mailbox[i]);
    e->server = server;
    slot = mbox_slot(pool, mailbox);
    e->next = NULL;
    *slot = e;
    pool->nmailboxes++;
    pool->servers[server].assigned++;
    return 0;
}

/* The first healthy server at or after FROM (cyclically); FROM itself when none is healthy. */
static size_t
next_healthy(const struct ews_pool *pool, size_t from, bool *found)
{
    for (size_t k = 0; k < pool->n; k++) {
        size_t i = (from + k) % pool->n;

        if (pool->servers[i].healthy) {
            *found = true;
            return i;
        }
    }
    *found = false;
    return from % pool->n;
}

static void
assign(struct ews_pool *pool, struct ews_mbox_entry *e, size_t server)
{
    pool->servers[e->server].assigned--;
    e->server = server;
    pool->servers[server].assigned++;
}

int
ews_pool_server_for(struct ews_pool *pool, const char *mailbox)
{
    struct ews_mbox_entry **slot = pool->nbuckets > 0 ? mbox_slot(pool, mailbox) : NULL;
    bool found;
    size_t idx;

    if (pool->n == 0)
        return EWS_E_INVAL;
    if (slot != NULL && *slot != NULL) {
        struct ews_mbox_entry *e = *slot;

        if (!pool->servers[e->server].healthy) {
            idx = next_healthy(pool, e->server + 1, &found);
            if (found)
                assign(pool, e, idx);
        }
        return (int)e->server;
    }
    idx = next_healthy(pool, pool->next_rr, &found);
    if (mbox_insert(pool, mailbox, idx) < 0)
        return EWS_E_NOMEM;
    pool->next_rr = (idx + 1) % pool->n;
    return (int)idx;
}

int
ews_pool_reassign(struct ews_pool *pool, const char *mailbox)
{
    struct ews_mbox_entry **slot = pool->nbuckets > 0 ? mbox_slot(pool, mailbox) : NULL;
    bool found;
    size_t idx;

    if (slot == NULL || *slot == NULL)
        return ews_pool_server_for(pool, mailbox);
    idx = next_healthy(pool, (*slot)->server + 1, &found);
    if (found)
        assign(pool, *slot, idx);
    return (int)(*slot)->server;
}

int
ews_pool_pin(struct ews_pool *pool, const char *mailbox, size_t idx)
{
    struct ews_mbox_entry **slot = pool->nbuckets > 0 ? mbox_slot(pool, mailbox) : NULL;

    if (slot != NULL && *slot != NULL) {
        assign(pool, *slot, idx);
        return 0;
    }
    return mbox_insert(pool, mailbox, idx);
}

int
ews_pool_lookup(const struct ews_pool *pool, const char *mailbox)
{
    struct ews_mbox_entry **slot;

    if (pool->nbuckets == 0)
        return -1;
    slot = mbox_slot(pool, mailbox);
    return *slot == NULL ? -1 : (int)(*slot)->server;
}

void
ews_pool_forget(struct ews_pool *pool, const char *mailbox)
{
    struct ews_mbox_entry **slot;
    struct ews_mbox_entry *e;

    if (pool->nbuckets == 0)
        return;
    slot = mbox_slot(pool, mailbox);
    e = *slot;
    if (e == NULL)
        return;
    *slot = e->next;
    pool->servers[e->server].assigned--;
    pool->nmailboxes--;
    free(e);
}

void
ews_pool_mark_down(struct ews_pool *pool, size_t idx)
{
    pool->servers[idx].healthy = false;
}

void
ews_pool_mark_up(struct ews_pool *pool, size_t idx)
{
    pool->servers[idx].healthy = true;
}

void
ews_pool_backoff(struct ews_pool *pool, size_t idx, uint64_t now_ms, uint32_t backoff_ms)
{
    uint64_t until = now_ms + backoff_ms;

    if (until > pool->servers[idx].backoff_until_ms)
        pool->servers[idx].backoff_until_ms = until;
}

uint64_t
ews_pool_backoff_left(const struct ews_pool *pool, size_t idx, uint64_t now_ms)
{
    uint64_t until = pool->servers[idx].backoff_until_ms;

    return until > now_ms ? until - now_ms : 0;
}

int
ews_pool_enqueue(struct ews_pool *pool, size_t idx, struct ews_qnode *node, bool at_front)
{
    struct ews_server *s = &pool->servers[idx];

    if (at_front) {
        TAILQ_INSERT_HEAD(&s->queue, node, link);
    } else {
        if (pool->pending >= pool->max_pending)
            return EWS_E_QUEUE_FULL;
        TAILQ_INSERT_TAIL(&s->queue, node, link);
    }
    s->queued++;
    pool->pending++;
    return 0;
}

void
ews_pool_unqueue(struct ews_pool *pool, size_t idx, struct ews_qnode *node)
{
    TAILQ_REMOVE(&pool->servers[idx].queue, node, link);
    pool->servers[idx].queued--;
    pool->pending--;
}

struct ews_qnode *
ews_pool_next(struct ews_pool *pool, size_t idx, uint64_t now_ms)
{
    struct ews_server *s = &pool->servers[idx];
    struct ews_qnode *node = TAILQ_FIRST(&s->queue);

    if (node == NULL || s->in_flight >= pool->concurrency || now_ms < s->backoff_until_ms)
        return NULL;
    ews_pool_unqueue(pool, idx, node);
    s->in_flight++;
    return node;
}

void
ews_pool_done(struct ews_pool *pool, size_t idx)
{
    if (pool->servers[idx].in_flight > 0)
        pool->servers[idx].in_flight--;
}
