/* Reconnecting while the process holds more than FD_SETSIZE descriptors and the XMPP server
 * refuses connections for a while (it is down): every failed attempt must leave a low
 * descriptor reserved for the next one, even when other sockets grab the low numbers that
 * free up in between (the daemon's HTTP connections do). Also: a refused attempt is logged as
 * such, not as "closed by server" (the guard reports the connect's error; libstrophe, which
 * only sees its socketpair, could not). */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "config/log.h"
#include "xmpp/conn.h"

#define FILL_TO 1200  /* descriptors held open: above FD_SETSIZE */
#define MAX_FDS 1400  /* room for the fill and the refills */
#define DOWN_S 4      /* how long the server refuses connections */
#define DEADLINE_S 30 /* generous bound for the reconnect after that */

struct down_server {
    struct event_base *base;
    struct cp_xmpp *x;
    int sock; /* bound to the port, listening only once the server is "up" */
    struct evconnlistener *listener;
    struct bufferevent *peer;
    bool header_sent;
    bool handshake_sent;
    int online;
    int fds[MAX_FDS];
    int nfds;
};

/* Holds descriptors open until the newest is >= FILL_TO: low numbers freed since the last call
 * are taken, as other sockets of the daemon would take them. */
static void
refill(struct down_server *s)
{
    while (s->nfds < MAX_FDS) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            break;
        s->fds[s->nfds++] = fd;
        if (fd >= FILL_TO)
            break;
    }
}

/* Just enough of XEP-0114 for the component to go online: a stream header with an id, then
 * <handshake/> for whatever digest it sends (the digest is tested in test_xmpp_conn.c). */
static void
on_peer_read(struct bufferevent *bev, void *arg)
{
    struct down_server *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);
    char *text = (char *)evbuffer_pullup(in, -1);
    char buf[8192];
    if (len >= sizeof(buf))
        len = sizeof(buf) - 1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    if (!s->header_sent && strstr(buf, "<stream:stream") != NULL) {
        s->header_sent = true;
        bufferevent_write(
            bev,
            "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
            "xmlns:stream='http://etherx.jabber.org/streams' from='cal.test' id='r1'>",
            strlen("<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
                   "xmlns:stream='http://etherx.jabber.org/streams' from='cal.test' "
                   "id='r1'>"));
    }
    if (s->header_sent && !s->handshake_sent && strstr(buf, "</handshake>") != NULL) {
        s->handshake_sent = true;
        bufferevent_write(bev, "<handshake/>", strlen("<handshake/>"));
    }
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    struct down_server *s = arg;
    (void)l;
    (void)sa;
    (void)salen;
    if (s->peer) {
        close(fd);
        return;
    }
    s->peer = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(s->peer, on_peer_read, NULL, NULL, s);
    bufferevent_enable(s->peer, EV_READ | EV_WRITE);
}

static void
on_online(void *ud)
{
    struct down_server *s = ud;
    s->online++;
    event_base_loopexit(s->base, NULL);
}

static void
on_offline(void *ud)
{
    (void)ud;
}

static void
on_fatal(void *ud, const char *reason)
{
    struct down_server *s = ud;
    cr_expect(0, "unexpected fatal: %s", reason);
    event_base_loopexit(s->base, NULL);
}

static void
on_refill(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    refill(arg);
}

static void
on_server_up(evutil_socket_t fd, short what, void *arg)
{
    struct down_server *s = arg;
    (void)fd;
    (void)what;
    s->listener = evconnlistener_new(s->base, on_accept, s, LEV_OPT_CLOSE_ON_FREE, 16, s->sock);
    cr_assert_not_null(s->listener);
    s->sock = -1;
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopexit(((struct down_server *)arg)->base, NULL);
}

Test(xmpp_reconnect, server_down_then_up_above_fd_setsize)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < MAX_FDS + 64) {
        rl.rlim_cur = MAX_FDS + 64;
        if (rl.rlim_max < rl.rlim_cur)
            rl.rlim_max = rl.rlim_cur; /* allowed for root (CAP_SYS_RESOURCE) */
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    cr_assert(rl.rlim_cur >= MAX_FDS + 64, "need %d descriptors, the limit is %llu", MAX_FDS + 64,
              (unsigned long long)rl.rlim_cur);

    /* The log is kept: a refused attempt must not read as "closed by server". */
    char *logbuf = NULL;
    size_t loglen = 0;
    FILE *log = open_memstream(&logbuf, &loglen);
    cr_assert_not_null(log);
    cp_log_set_stream(log);
    cp_log_set_level(CP_LOG_WARN);
    static struct down_server s;
    memset(&s, 0, sizeof(s));
    s.base = event_base_new();

    /* A bound socket that does not listen yet: connections to its port are refused. */
    s.sock = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t slen = sizeof(sin);
    cr_assert_eq(bind(s.sock, (struct sockaddr *)&sin, sizeof(sin)), 0);
    cr_assert_eq(getsockname(s.sock, (struct sockaddr *)&sin, &slen), 0);
    int port = ntohs(sin.sin_port);

    struct cp_xmpp_events ev = {on_online, on_offline, on_fatal};
    s.x = cp_xmpp_new(s.base, "cal.test", "secret", "127.0.0.1", port, 1, &ev, &s);
    cr_assert_not_null(s.x);
    refill(&s);
    cr_assert(s.fds[s.nfds - 1] >= FILL_TO, "descriptors filled up to %d", s.fds[s.nfds - 1]);

    struct event *refill_ev = event_new(s.base, -1, EV_PERSIST, on_refill, &s);
    struct timeval every = {0, 100000};
    event_add(refill_ev, &every);
    struct event *up = evtimer_new(s.base, on_server_up, &s);
    struct timeval down = {DOWN_S, 0};
    event_add(up, &down);
    struct event *deadline = evtimer_new(s.base, on_deadline, &s);
    struct timeval limit = {DOWN_S + DEADLINE_S, 0};
    event_add(deadline, &limit);

    cr_assert_eq(cp_xmpp_start(s.x), 0);
    event_base_dispatch(s.base);

    cr_expect_eq(s.online, 1, "online once the server came back");
    cr_expect(s.listener != NULL, "the server was down first");
    cr_expect(cp_xmpp_fd(s.x) < FD_SETSIZE, "the stream's descriptor is below FD_SETSIZE");

    cp_log_set_stream(NULL);
    fclose(log);
    cr_expect(strstr(logbuf, "cannot connect to 127.0.0.1") != NULL, "refusals logged:\n%s",
              logbuf);
    cr_expect(strstr(logbuf, "closed by server") == NULL, "a refusal logged as a close:\n%s",
              logbuf);
    /* The guard owns the TCP socket and sees the connect's own error. */
    cr_expect(strstr(logbuf, "(Connection refused)") != NULL, "%s", logbuf);
    free(logbuf);

    cp_xmpp_free(s.x);
    if (s.peer)
        bufferevent_free(s.peer);
    if (s.listener)
        evconnlistener_free(s.listener);
    if (s.sock >= 0)
        close(s.sock);
    event_free(refill_ev);
    event_free(up);
    event_free(deadline);
    for (int i = 0; i < s.nfds; i++)
        close(s.fds[i]);
    event_base_free(s.base);
}
