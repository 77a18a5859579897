/* The stanza guard: the daemon's relay between the XMPP server's TCP socket and libstrophe.
 *
 * libstrophe parses a stanza in time quadratic in its number of children (it appends each one
 * by walking the list), so one wide stanza from any user would stop the daemon for seconds.
 * The guard owns the real socket and hands libstrophe one end of a socketpair. Bytes from the
 * server pass a streaming scan (guard_scan.h); a stanza over the bounds is not forwarded but
 * reported, everything else is forwarded unchanged and in order. Bytes from libstrophe go to
 * the server unchanged. See docs/design.md, "The stanza guard". */
#ifndef CP_GUARD_H
#define CP_GUARD_H

#include <event2/event.h>

#include "guard_scan.h"

/* Elements plus text pieces one stanza may hold: a users-enable form of 10,000 lines has 10,004
 * elements sent one <value/> a line (slixmpp, measured), or 9,999 line breaks sent as one value;
 * libstrophe parses 10,000 children in about 0.13 s (docs/performance.md). */
#define CP_GUARD_MAX_NODES 10240
/* Bytes of one stanza: the largest Prosody accepts from anyone by default (512 KiB from other
 * servers, s2s_stanza_size_limit; 256 KiB from its users, c2s_stanza_size_limit). This bounds
 * the memory a held stanza takes, not the CPU: the node bound does that. */
#define CP_GUARD_MAX_BYTES (512 * 1024)

struct cp_guard;

struct cp_guard_events {
    /* A stanza from the server was over a bound and was not forwarded. ST is borrowed. */
    void (*dropped)(void *ud, const struct cp_scan_stanza *st);
};

/* Starts relaying. Takes ownership of SERVER_FD, a TCP socket whose non-blocking connect is
 * under way, and of PAIR_FD, the daemon's end of the socketpair whose other end libstrophe
 * holds. A connect not done within CONNECT_TIMEOUT_MS ends the stream. LIMITS and EVENTS are
 * copied. Returns NULL on ENOMEM (the descriptors are then still the caller's). */
struct cp_guard *cp_guard_new(struct event_base *base, int server_fd, int pair_fd,
                              const struct cp_scan_limits *limits, unsigned connect_timeout_ms,
                              const struct cp_guard_events *events, void *ud);

/* Writes what libstrophe wrote last (its closing tag) to the server if it can without waiting,
 * then closes both descriptors and frees G. NULL is allowed. */
void cp_guard_free(struct cp_guard *g);

/* Why the guard ended the stream (the connect failed or timed out, the server closed it, a
 * socket error), for the log; NULL while it has not. Borrowed from G. */
const char *cp_guard_reason(const struct cp_guard *g);

#endif
