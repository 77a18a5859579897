#include "fake_xmpp_server.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char stream_header[] =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
    "xmlns:stream='http://etherx.jabber.org/streams' id='" FAKE_XMPP_STREAM_ID "' from='cal.test'>";

static size_t
count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void
on_read(struct bufferevent *bev, void *arg)
{
    struct fake_xmpp_server *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);
    size_t keep = strlen(s->tail);
    char *data = malloc(keep + len + 1);
    if (!data)
        return;
    memcpy(data, s->tail, keep);
    evbuffer_remove(in, data + keep, len);
    data[keep + len] = '\0';
    s->bytes += len;
    if (strstr(data, "<stream:stream"))
        bufferevent_write(bev, stream_header, strlen(stream_header));
    if (strstr(data, "<handshake")) {
        if (strstr(data, s->digest))
            s->handshakes_ok++;
        else
            s->handshakes_bad++;
        bufferevent_write(bev, "<handshake/>", strlen("<handshake/>"));
    }
    s->presences += count(data, "<presence");
    /* Keep a short tail (shorter than "<presence") so a tag split across reads is counted
     * once: it cannot be complete inside the tail alone. */
    size_t total = keep + len, t = total < 8 ? total : 8;
    memcpy(s->tail, data + total - t, t);
    s->tail[t] = '\0';
    free(data);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
    struct fake_xmpp_server *s = arg;
    (void)what;
    if (s->peer == bev)
        s->peer = NULL;
    bufferevent_free(bev);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
    struct fake_xmpp_server *s = arg;
    (void)l;
    (void)sa;
    (void)len;
    s->accepted++;
    s->tail[0] = '\0';
    s->peer = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(s->peer, on_read, NULL, on_event, s);
    bufferevent_enable(s->peer, EV_READ | EV_WRITE);
}

int
fake_xmpp_server_start(struct fake_xmpp_server *s, struct event_base *base, const char *secret)
{
    memset(s, 0, sizeof(*s));
    s->base = base;
    char input[256];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    snprintf(input, sizeof(input), "%s%s", FAKE_XMPP_STREAM_ID, secret);
    EVP_Digest(input, strlen(input), md, &mdlen, EVP_sha1(), NULL);
    for (unsigned i = 0; i < mdlen && i < 20; i++)
        sprintf(s->digest + 2 * i, "%02x", md[i]);

    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    s->listener =
        evconnlistener_new_bind(base, on_accept, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
                                (struct sockaddr *)&sin, sizeof(sin));
    if (!s->listener)
        return -1;
    struct sockaddr_in bound;
    socklen_t blen = sizeof(bound);
    getsockname(evconnlistener_get_fd(s->listener), (struct sockaddr *)&bound, &blen);
    return ntohs(bound.sin_port);
}

int
fake_xmpp_server_send(struct fake_xmpp_server *s, const char *data, size_t len)
{
    if (!s->peer)
        return -1;
    return bufferevent_write(s->peer, data, len);
}

void
fake_xmpp_server_drop(struct fake_xmpp_server *s)
{
    if (s->peer) {
        bufferevent_free(s->peer);
        s->peer = NULL;
    }
}

void
fake_xmpp_server_stop(struct fake_xmpp_server *s)
{
    fake_xmpp_server_drop(s);
    if (s->listener)
        evconnlistener_free(s->listener);
    s->listener = NULL;
}
