/* A scripted XEP-0114 server on a libevent loop, for tests and benchmarks of the component's
 * connection: it answers the stream header and the handshake (checking the digest), counts
 * what the component sends, and can drop the connection. Not a real XMPP server. */
#ifndef CP_FAKE_XMPP_SERVER_H
#define CP_FAKE_XMPP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>

#define FAKE_XMPP_STREAM_ID "stream-42"

struct fake_xmpp_server {
    int accepted;       /* connections accepted */
    int handshakes_ok;  /* handshakes with the right digest */
    int handshakes_bad; /* handshakes with a wrong digest */
    size_t presences;   /* <presence ...> elements received */
    size_t bytes;       /* bytes received */
    /* private */
    struct event_base *base;
    struct evconnlistener *listener;
    struct bufferevent *peer;
    char digest[41];
    char tail[16]; /* the end of the previous read, to find tags split across reads */
};

/* Listens on 127.0.0.1 (a free port) for a component using SECRET. Returns the port, or -1. */
int fake_xmpp_server_start(struct fake_xmpp_server *s, struct event_base *base, const char *secret);

/* Sends LEN bytes of DATA to the connected component as they are (stanzas of a test's
 * choosing). Returns 0, or -1 when no component is connected. */
int fake_xmpp_server_send(struct fake_xmpp_server *s, const char *data, size_t len);

/* Closes the current connection (the component sees the server go away). */
void fake_xmpp_server_drop(struct fake_xmpp_server *s);

void fake_xmpp_server_stop(struct fake_xmpp_server *s);

#endif
