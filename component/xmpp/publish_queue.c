#include "publish_queue.h"

#include <stdlib.h>
#include <string.h>

#include "config/config.h"

struct cp_publish_queue {
    struct event *ev;
    void (*publish)(void *ud, const char *jid);
    void *ud;
    size_t batch;
    char **jids; /* FIFO: [head, tail) are waiting; owned */
    size_t head;
    size_t tail;
    size_t cap;
};

/* A zero timeout, not event_active(): libevent runs events activated during a turn in that same
 * turn, while an expired timer waits for the next one, after the sockets were polled. */
static void
schedule(struct cp_publish_queue *q)
{
    static const struct timeval now = {0, 0};
    event_add(q->ev, &now);
}

static void
on_turn(evutil_socket_t fd, short what, void *arg)
{
    struct cp_publish_queue *q = arg;
    (void)fd;
    (void)what;
    for (size_t n = 0; n < q->batch && q->head < q->tail; n++) {
        char *jid = q->jids[q->head++];
        q->publish(q->ud, jid);
        free(jid);
    }
    if (q->head < q->tail)
        schedule(q);
    else
        q->head = q->tail = 0;
}

struct cp_publish_queue *
cp_publish_queue_new(struct event_base *base, void (*publish)(void *ud, const char *jid), void *ud,
                     size_t batch)
{
    struct cp_publish_queue *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->ev = evtimer_new(base, on_turn, q);
    if (!q->ev) {
        free(q);
        return NULL;
    }
    q->publish = publish;
    q->ud = ud;
    q->batch = batch ? batch : 1;
    return q;
}

void
cp_publish_queue_free(struct cp_publish_queue *q)
{
    if (!q)
        return;
    for (size_t i = q->head; i < q->tail; i++)
        free(q->jids[i]);
    free(q->jids);
    event_free(q->ev);
    free(q);
}

int
cp_publish_queue_add(struct cp_publish_queue *q, const char *jid)
{
    if (q->tail == q->cap) {
        if (q->head > 0) { /* reuse the consumed front before growing */
            memmove(q->jids, q->jids + q->head, (q->tail - q->head) * sizeof(*q->jids));
            q->tail -= q->head;
            q->head = 0;
        }
        if (q->tail == q->cap) {
            size_t cap = q->cap ? q->cap * 2 : 64;
            char **grown = realloc(q->jids, cap * sizeof(*grown));
            if (!grown)
                return CP_ENOMEM;
            q->jids = grown;
            q->cap = cap;
        }
    }
    char *copy = strdup(jid);
    if (!copy)
        return CP_ENOMEM;
    q->jids[q->tail++] = copy;
    if (!event_pending(q->ev, EV_TIMEOUT, NULL))
        schedule(q);
    return CP_OK;
}

size_t
cp_publish_queue_length(const struct cp_publish_queue *q)
{
    return q->tail - q->head;
}
