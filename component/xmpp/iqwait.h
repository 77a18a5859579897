/* Answers to the component's own IQs, by id. libstrophe 0.12's id handlers never forget an id:
 * deleting one, or its firing once, leaves the id in the connection's table (32 buckets, never
 * resized) with an empty list, so a daemon asking with a fresh random id per request (roster,
 * PEP, caps) grew by about 80 bytes a request for as long as the process ran, and every
 * stanza with an id walked a longer chain. One ordinary handler for <iq/> hands each answer to
 * the wait registered for its id here, and a wait that ends is freed. */
#ifndef CP_XMPP_IQWAIT_H
#define CP_XMPP_IQWAIT_H

#include <strophe.h>

struct cp_iqwait;

/* The waits of CONN (borrowed; it must outlive them): registers its handler on CONN, which
 * persists across reconnects. Returns NULL on ENOMEM. */
struct cp_iqwait *cp_iqwait_new(xmpp_conn_t *conn);
/* Forgets every wait. Called once CONN is released (its handlers go with it): releasing a live
 * connection reports a disconnect, whose handlers may still cancel waits. */
void cp_iqwait_free(struct cp_iqwait *w);

/* Calls CB(conn, answer, UD) for each <iq type='result|error'/> with id ID (copied) until CB
 * returns 0, as libstrophe's id handlers do. Returns 0 or CP_ENOMEM. */
int cp_iqwait_add(struct cp_iqwait *w, const char *id, xmpp_handler cb, void *ud);
/* Forgets the wait of CB for ID, if any (an answer that never came). */
void cp_iqwait_cancel(struct cp_iqwait *w, xmpp_handler cb, const char *id);

/* Waits in force (tests, and the leak the module is there to prevent). */
size_t cp_iqwait_count(const struct cp_iqwait *w);

#endif
