/* Answers to the component's own IQs, by id. See iqwait.h. */
#include "iqwait.h"

#include <stdlib.h>
#include <string.h>

#include "config/config.h"

/* A few dozen requests are in flight at most (roster, PEP and caps slots): a list will do. */
struct wait {
    char *id; /* owned */
    xmpp_handler cb;
    void *ud;
};

struct cp_iqwait {
    xmpp_conn_t *conn;
    struct wait *waits;
    size_t n, cap;
};

static int on_iq(xmpp_conn_t *conn, xmpp_stanza_t *iq, void *ud);
static size_t find(const struct cp_iqwait *w, xmpp_handler cb, const char *id);
static void drop(struct cp_iqwait *w, size_t i);

struct cp_iqwait *
cp_iqwait_new(xmpp_conn_t *conn)
{
    struct cp_iqwait *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->conn = conn;
    xmpp_handler_add(conn, on_iq, NULL, "iq", NULL, w);
    return w;
}

void
cp_iqwait_free(struct cp_iqwait *w)
{
    if (!w)
        return;
    while (w->n > 0)
        drop(w, w->n - 1);
    free(w->waits);
    free(w);
}

/* The index of CB's wait for ID, or W->n. */
static size_t
find(const struct cp_iqwait *w, xmpp_handler cb, const char *id)
{
    size_t i = 0;
    while (i < w->n && !((!cb || w->waits[i].cb == cb) && strcmp(w->waits[i].id, id) == 0))
        i++;
    return i;
}

static void
drop(struct cp_iqwait *w, size_t i)
{
    free(w->waits[i].id);
    w->waits[i] = w->waits[--w->n];
}

int
cp_iqwait_add(struct cp_iqwait *w, const char *id, xmpp_handler cb, void *ud)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        struct wait *grown = realloc(w->waits, cap * sizeof(*grown));
        if (!grown)
            return CP_ENOMEM;
        w->waits = grown;
        w->cap = cap;
    }
    char *copy = strdup(id);
    if (!copy)
        return CP_ENOMEM;
    w->waits[w->n++] = (struct wait){copy, cb, ud};
    return CP_OK;
}

void
cp_iqwait_cancel(struct cp_iqwait *w, xmpp_handler cb, const char *id)
{
    size_t i = find(w, cb, id);
    if (i < w->n)
        drop(w, i);
}

size_t
cp_iqwait_count(const struct cp_iqwait *w)
{
    return w->n;
}

/* Requests (get, set) go on to the service's handler; an answer goes to its wait. The callback
 * may add or cancel waits, so its own is looked up again before it is dropped. */
static int
on_iq(xmpp_conn_t *conn, xmpp_stanza_t *iq, void *ud)
{
    struct cp_iqwait *w = ud;
    const char *type = xmpp_stanza_get_type(iq);
    const char *id = xmpp_stanza_get_id(iq);
    if (!id || !type || (strcmp(type, "result") != 0 && strcmp(type, "error") != 0))
        return 1;
    size_t i = find(w, NULL, id);
    if (i == w->n)
        return 1;
    xmpp_handler cb = w->waits[i].cb;
    if (cb(conn, iq, w->waits[i].ud) == 0) {
        i = find(w, cb, id);
        if (i < w->n)
            drop(w, i);
    }
    return 1;
}
