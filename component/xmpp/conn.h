/* The XEP-0114 connection to the XMPP server: libstrophe driven from the daemon's libevent loop.
 *
 * libstrophe owns the stream; the stanza guard (guard.h) owns the socket and relays between it
 * and libstrophe, dropping stanzas libstrophe would take seconds to parse. This module watches
 * libstrophe's descriptor, runs xmpp_run_once() when there is something to do, reconnects with
 * a capped, jittered exponential back-off, and works around libstrophe 0.12's traps (conn.c). */
#ifndef CP_XMPP_CONN_H
#define CP_XMPP_CONN_H

#include <stdbool.h>

#include <event2/event.h>
#include <strophe.h>

struct cp_xmpp;

struct cp_xmpp_events {
    /* The handshake succeeded: (re)send everything the server must know (presence). */
    void (*online)(void *ud);
    /* The stream is gone; a reconnect is already scheduled. */
    void (*offline)(void *ud);
    /* The very first handshake was refused (bad secret, unknown component name): the daemon
     * cannot work with this configuration. REASON says what to fix. */
    void (*fatal)(void *ud, const char *reason);
};

/* Creates the connection object; nothing connects until cp_xmpp_start. Strings are copied.
 * RECONNECT_MAX_S caps the back-off. Returns NULL on allocation failure. */
struct cp_xmpp *cp_xmpp_new(struct event_base *base, const char *jid, const char *secret,
                            const char *host, int port, int reconnect_max_s,
                            const struct cp_xmpp_events *events, void *ud);
void cp_xmpp_free(struct cp_xmpp *x);

/* The libstrophe context and connection, for adding stanza handlers (they persist across
 * reconnects) and building stanzas. Borrowed. */
xmpp_ctx_t *cp_xmpp_ctx(struct cp_xmpp *x);
xmpp_conn_t *cp_xmpp_conn(struct cp_xmpp *x);

/* Starts connecting. Returns 0, or CP_ENOMEM. */
int cp_xmpp_start(struct cp_xmpp *x);

bool cp_xmpp_is_online(const struct cp_xmpp *x);

/* Counters since start, for /metrics. */
struct cp_xmpp_stats {
    unsigned long handshakes;     /* successful handshakes: 1 + reconnects */
    unsigned long sent;           /* stanzas queued to the server */
    unsigned long presences_sent; /* of which presence stanzas */
};
void cp_xmpp_get_stats(const struct cp_xmpp *x, struct cp_xmpp_stats *out);

/* libstrophe's descriptor of the current stream (its end of the guard's socketpair), -1 when
 * none (diagnostics and tests). */
int cp_xmpp_fd(const struct cp_xmpp *x);

/* Stanzas the guard dropped as too large since start (each answered and logged). */
unsigned long cp_xmpp_dropped(const struct cp_xmpp *x);

/* Queues STANZA (borrowed) when online; while offline it is dropped, because everything is
 * sent again after the next handshake. Returns true when queued. */
bool cp_xmpp_send(struct cp_xmpp *x, xmpp_stanza_t *stanza);

/* Calls CB(conn, answer, UD) for the answers (<iq type='result|error'/>) with id ID (copied)
 * until CB returns 0: libstrophe's xmpp_id_handler_add without its growth (iqwait.h). The wait
 * survives a reconnect, like libstrophe's. Returns 0 or CP_ENOMEM. */
int cp_xmpp_iq_wait(struct cp_xmpp *x, const char *id, xmpp_handler cb, void *ud);
/* Forgets CB's wait for ID, if any. */
void cp_xmpp_iq_cancel(struct cp_xmpp *x, xmpp_handler cb, const char *id);
/* Answers awaited now. */
size_t cp_xmpp_iq_waits(const struct cp_xmpp *x);

/* The same for a stanza already serialised: XML[0..LEN) (copied) is queued as it is. For
 * replies with many children, which are built as text (xmltext.h). */
bool cp_xmpp_send_raw(struct cp_xmpp *x, const char *xml, size_t len);

/* Uses SECRET for the next handshake (configuration reload). Returns 0 or CP_ENOMEM. */
int cp_xmpp_set_secret(struct cp_xmpp *x, const char *secret);

/* Caps the back-off between reconnects at RECONNECT_MAX_S seconds from the next retry on
 * (configuration reload). */
void cp_xmpp_set_reconnect_max(struct cp_xmpp *x, int reconnect_max_s);

/* Flushes what is queued, closes the stream, and calls DONE(UD) once the connection is closed
 * or after a bounded wait. Stops reconnecting. */
void cp_xmpp_stop(struct cp_xmpp *x, void (*done)(void *ud), void *ud);

#endif
