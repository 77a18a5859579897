/* The XEP-0114 connection against a scripted server on the same event loop: the handshake
 * digest, a disconnect by the server and the reconnect after it (the regression test of the
 * libstrophe sm_state workaround), with the process holding more than FD_SETSIZE descriptors
 * so that libstrophe's select() would be handed a socket it cannot watch. Also the back-off. */
#include <criterion/criterion.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <unistd.h>

#include "backoff.h"
#include "log.h"
#include "xmpp_conn.h"

#define SECRET "s3cret"
#define STREAM_ID "stream-42"
#define FILL_TO 1200 /* descriptors held open before connecting: above FD_SETSIZE */

struct fake {
    struct event_base *base;
    struct cp_xmpp *x;
    struct bufferevent *peer; /* the server side of the current connection */
    int accepted;
    int online;
    int handshakes_ok;
    int fds_seen_high; /* times the client's stream descriptor was >= FD_SETSIZE */
    bool got_presence;
    char expected_digest[41];
};

static void
on_server_read(struct bufferevent *bev, void *arg)
{
    struct fake *f = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);
    char *data = malloc(len + 1);
    evbuffer_remove(in, data, len);
    data[len] = '\0';
    if (strstr(data, "<stream:stream"))
        bufferevent_write(
            bev,
            "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
            "xmlns:stream='http://etherx.jabber.org/streams' id='" STREAM_ID "' from='cal.test'>",
            strlen("<?xml version='1.0'?><stream:stream xmlns='jabber:component:"
                   "accept' xmlns:stream='http://etherx.jabber.org/streams' id='" STREAM_ID
                   "' from='cal.test'>"));
    if (strstr(data, "<handshake")) {
        cr_expect(strstr(data, f->expected_digest) != NULL, "handshake digest is SHA1(id+secret)");
        if (strstr(data, f->expected_digest))
            f->handshakes_ok++;
        bufferevent_write(bev, "<handshake/>", strlen("<handshake/>"));
    }
    if (strstr(data, "<presence"))
        f->got_presence = true;
    free(data);
}

static void
on_server_event(struct bufferevent *bev, short what, void *arg)
{
    struct fake *f = arg;
    (void)what;
    if (f->peer == bev)
        f->peer = NULL;
    bufferevent_free(bev);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
    struct fake *f = arg;
    (void)l;
    (void)sa;
    (void)len;
    f->accepted++;
    f->peer = bufferevent_socket_new(f->base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(f->peer, on_server_read, NULL, on_server_event, f);
    bufferevent_enable(f->peer, EV_READ | EV_WRITE);
}

static void
on_online(void *ud)
{
    struct fake *f = ud;
    f->online++;
    if (cp_xmpp_fd(f->x) >= FD_SETSIZE)
        f->fds_seen_high++;
    if (f->online == 1) {
        /* The server goes away: the component must reconnect by itself. */
        bufferevent_free(f->peer);
        f->peer = NULL;
        return;
    }
    xmpp_stanza_t *p = xmpp_presence_new(cp_xmpp_ctx(f->x));
    xmpp_stanza_set_to(p, "bob@test");
    cr_expect(cp_xmpp_send(f->x, p), "sending works after the reconnect");
    xmpp_stanza_release(p);
}

static void
on_offline(void *ud)
{
    (void)ud;
}

static void
on_fatal(void *ud, const char *reason)
{
    struct fake *f = ud;
    cr_expect(0, "unexpected fatal: %s", reason);
    event_base_loopexit(f->base, NULL);
}

static void
on_check(evutil_socket_t fd, short what, void *arg)
{
    struct fake *f = arg;
    (void)fd;
    (void)what;
    if (f->got_presence)
        event_base_loopexit(f->base, NULL);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct fake *f = arg;
    (void)fd;
    (void)what;
    event_base_loopexit(f->base, NULL);
}

/* Holds descriptors open until the next one would be >= FILL_TO; returns how many. */
static int
fill_descriptors(int *fds, int max)
{
    int n = 0;
    while (n < max) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            break;
        fds[n++] = fd;
        if (fd >= FILL_TO)
            break;
    }
    return n;
}

Test(xmpp_conn, handshake_disconnect_reconnect_above_fd_setsize)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < FILL_TO + 64) {
        rl.rlim_cur = rl.rlim_max < FILL_TO + 64 ? rl.rlim_max : FILL_TO + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    cr_assert(rl.rlim_cur >= FILL_TO + 64, "need %d descriptors, the hard limit is %llu",
              FILL_TO + 64, (unsigned long long)rl.rlim_max);

    cp_log_set_level(CP_LOG_WARN);
    struct fake f = {0};
    f.base = event_base_new();
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned dlen = 0;
    EVP_Digest(STREAM_ID SECRET, strlen(STREAM_ID SECRET), digest, &dlen, EVP_sha1(), NULL);
    for (unsigned i = 0; i < dlen; i++)
        sprintf(f.expected_digest + 2 * i, "%02x", digest[i]);

    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct evconnlistener *l =
        evconnlistener_new_bind(f.base, on_accept, &f, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                16, (struct sockaddr *)&sin, sizeof(sin));
    cr_assert(l != NULL);
    struct sockaddr_in bound;
    socklen_t blen = sizeof(bound);
    getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&bound, &blen);

    struct cp_xmpp_events ev = {on_online, on_offline, on_fatal};
    f.x = cp_xmpp_new(f.base, "cal.test", SECRET, "127.0.0.1", ntohs(bound.sin_port), 1, &ev, &f);
    cr_assert(f.x != NULL);

    static int fds[FILL_TO + 16];
    int nfds = fill_descriptors(fds, FILL_TO + 16);
    cr_assert(fds[nfds - 1] >= FILL_TO, "descriptors filled up to %d", fds[nfds - 1]);

    cr_assert_eq(cp_xmpp_start(f.x), 0);
    struct event *check = event_new(f.base, -1, EV_PERSIST, on_check, &f);
    struct timeval every = {0, 50000};
    event_add(check, &every);
    struct event *deadline = evtimer_new(f.base, on_deadline, &f);
    struct timeval limit = {30, 0};
    event_add(deadline, &limit);

    event_base_dispatch(f.base);

    cr_expect_eq(f.accepted, 2, "connected, was dropped, reconnected (accepted %d)", f.accepted);
    cr_expect_eq(f.handshakes_ok, 2, "both handshakes carried the right digest");
    cr_expect_eq(f.online, 2, "online twice");
    cr_expect_eq(f.fds_seen_high, 0, "libstrophe's socket stayed below FD_SETSIZE");
    cr_expect(f.got_presence, "a stanza sent after the reconnect reached the server");

    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    event_free(check);
    event_free(deadline);
    if (f.peer)
        bufferevent_free(f.peer);
    cp_xmpp_free(f.x);
    evconnlistener_free(l);
    event_base_free(f.base);
}

Test(backoff, doubles_with_jitter_up_to_the_cap)
{
    struct cp_backoff b;
    cp_backoff_init(&b, 1000, 60000, 12345);
    unsigned expected[] = {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000};
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        unsigned d = cp_backoff_next(&b);
        cr_expect(d >= expected[i] / 2 && d <= expected[i], "attempt %zu: %u not in [%u, %u]", i, d,
                  expected[i] / 2, expected[i]);
    }
    cp_backoff_reset(&b);
    unsigned d = cp_backoff_next(&b);
    cr_expect(d >= 500 && d <= 1000, "reset starts again from the base (%u)", d);
}

Test(backoff, jitter_spreads_reconnects)
{
    /* Many daemons restarted together must not retry in lockstep. */
    unsigned seen_min = ~0u, seen_max = 0;
    for (uint64_t seed = 1; seed <= 200; seed++) {
        struct cp_backoff b;
        cp_backoff_init(&b, 1000, 60000, seed * 7919);
        for (int i = 0; i < 6; i++)
            cp_backoff_next(&b);
        unsigned d = cp_backoff_next(&b); /* nominal 60000 */
        seen_min = d < seen_min ? d : seen_min;
        seen_max = d > seen_max ? d : seen_max;
    }
    cr_expect(seen_max - seen_min > 10000, "jitter range %u..%u", seen_min, seen_max);
}

Test(backoff, never_overflows)
{
    struct cp_backoff b;
    cp_backoff_init(&b, 1, 4000000000u, 99);
    for (int i = 0; i < 200; i++)
        cr_expect(cp_backoff_next(&b) <= 4000000000u);
}
