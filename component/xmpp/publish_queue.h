/* Deferred presence publication. An admin's users-enable of 10,000 users changes 10,000
 * calendar JIDs at once; publishing them inside the command would hold the event loop for
 * seconds. The queue publishes a bounded batch per loop turn instead, so XMPP and timers keep
 * running in between. */
#ifndef CP_PUBLISH_QUEUE_H
#define CP_PUBLISH_QUEUE_H

#include <stddef.h>

#include <event2/event.h>

struct cp_publish_queue;

/* PUBLISH(UD, JID) is called once for each queued JID, at most BATCH per loop turn.
 * Returns NULL on allocation failure. */
struct cp_publish_queue *cp_publish_queue_new(struct event_base *base,
                                              void (*publish)(void *ud, const char *jid), void *ud,
                                              size_t batch);

/* Frees the queue; JIDs still queued are dropped (the next handshake republishes all). */
void cp_publish_queue_free(struct cp_publish_queue *q);

/* Queues JID (copied). Returns 0 or CP_ENOMEM. */
int cp_publish_queue_add(struct cp_publish_queue *q, const char *jid);

/* JIDs waiting. */
size_t cp_publish_queue_length(const struct cp_publish_queue *q);

#endif
