/* The stanza guard's relay on the libevent loop (see guard.h).
 *
 * Two descriptors, one event each (read and write flags re-armed as buffers fill and drain):
 * the server's TCP socket and the daemon's end of libstrophe's socketpair. Each direction has
 * one buffer, bounded by no longer reading its source while it holds HIGH_WATER bytes. */
#include "guard.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>

#define HIGH_WATER (1024 * 1024) /* bytes buffered in one direction before reading pauses */
#define READ_CHUNK 16384         /* bytes scanned per read */
#define READS_PER_EVENT 8        /* reads per readiness event, so one peer cannot hog the loop */

struct cp_guard {
    struct event_base *base;
    int server_fd;
    int pair_fd;
    struct event *server_ev;
    struct event *pair_ev;
    struct event *timeout_ev;
    short server_what; /* flags server_ev is armed with */
    short pair_what;
    struct evbuffer *to_lib;    /* scanned bytes for libstrophe */
    struct evbuffer *to_server; /* libstrophe's output */
    struct evbuffer *held;      /* the stanza being framed */
    struct cp_scan scan;
    bool connected;
    bool server_done; /* nothing more comes from the server (closed, failed) */
    bool lib_done;    /* libstrophe closed its end */
    bool lib_shut;    /* libstrophe has been shown the end of the stream */
    char reason[128];
    struct cp_guard_events events;
    void *ud;
};

static void on_server(evutil_socket_t fd, short what, void *arg);
static void on_pair(evutil_socket_t fd, short what, void *arg);

/* ---- the scan's output ---- */

static void
scan_pass(void *ud, const char *data, size_t len)
{
    struct cp_guard *g = ud;
    evbuffer_add(g->to_lib, data, len);
}

static void
scan_hold(void *ud, const char *data, size_t len)
{
    struct cp_guard *g = ud;
    evbuffer_add(g->held, data, len);
}

static void
scan_commit(void *ud)
{
    struct cp_guard *g = ud;
    evbuffer_add_buffer(g->to_lib, g->held); /* moves the chains, copies nothing */
}

static void
scan_drop(void *ud, const struct cp_scan_stanza *st)
{
    struct cp_guard *g = ud;
    evbuffer_drain(g->held, evbuffer_get_length(g->held));
    if (g->events.dropped)
        g->events.dropped(g->ud, st);
}

static const struct cp_scan_ops scan_ops = {scan_pass, scan_hold, scan_commit, scan_drop};

/* ---- events ---- */

static int
arm(struct cp_guard *g, struct event *ev, int fd, short *armed, short want, event_callback_fn cb)
{
    if (*armed == want)
        return 0;
    event_del(ev);
    *armed = want;
    if (!want)
        return 0;
    event_assign(ev, g->base, fd, want | EV_PERSIST, cb, g);
    return event_add(ev, NULL);
}

/* Watches for what each side can do now; shows libstrophe the end of the stream once the
 * server is done and everything before the end was handed over. */
static void
update(struct cp_guard *g)
{
    size_t to_lib = evbuffer_get_length(g->to_lib);
    size_t to_server = evbuffer_get_length(g->to_server);
    short server = 0, pair = 0;

    if (!g->connected) {
        if (!g->server_done)
            server = EV_WRITE;
    } else if (!g->server_done) {
        if (to_lib < HIGH_WATER)
            server |= EV_READ;
        if (to_server > 0)
            server |= EV_WRITE;
    }
    if (!g->lib_done && to_server < HIGH_WATER && !g->server_done)
        pair |= EV_READ;
    if (to_lib > 0 && !g->lib_done)
        pair |= EV_WRITE;
    if (g->server_done && to_lib == 0 && !g->lib_shut) {
        shutdown(g->pair_fd, SHUT_WR); /* libstrophe reads the end and reports a disconnect */
        g->lib_shut = true;
    }
    arm(g, g->server_ev, g->server_fd, &g->server_what, server, on_server);
    arm(g, g->pair_ev, g->pair_fd, &g->pair_what, pair, on_pair);
}

/* The server side is over: keep the first reason, stop talking to the server. */
static void
server_done(struct cp_guard *g, const char *reason)
{
    if (!g->server_done)
        snprintf(g->reason, sizeof(g->reason), "%s", reason);
    g->server_done = true;
    evbuffer_drain(g->to_server, evbuffer_get_length(g->to_server));
    if (g->timeout_ev)
        event_del(g->timeout_ev);
}

static bool
would_block(void)
{
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/* Sends what BUF holds to FD without blocking and without SIGPIPE (a peer gone is an error
 * return here, not a signal: the tests and the tools do not ignore SIGPIPE as the daemon does).
 * Returns the bytes sent, or -1 with errno. */
static ssize_t
write_some(struct evbuffer *buf, int fd)
{
    struct evbuffer_iovec vec[16]; /* libevent: the same layout as struct iovec on Unix */
    int n = evbuffer_peek(buf, -1, NULL, vec, 16);
    struct msghdr msg = {.msg_iov = (struct iovec *)vec, .msg_iovlen = n < 16 ? n : 16};
    ssize_t sent = sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (sent > 0)
        evbuffer_drain(buf, (size_t)sent);
    return sent;
}

static void
flush_to_lib(struct cp_guard *g)
{
    while (evbuffer_get_length(g->to_lib) > 0 && !g->lib_done) {
        if (write_some(g->to_lib, g->pair_fd) < 0) {
            if (!would_block())
                g->lib_done = true;
            return;
        }
    }
}

static void
flush_to_server(struct cp_guard *g)
{
    while (g->connected && !g->server_done && evbuffer_get_length(g->to_server) > 0) {
        if (write_some(g->to_server, g->server_fd) < 0) {
            if (!would_block())
                server_done(g, strerror(errno));
            return;
        }
    }
}

static void
check_connect(struct cp_guard *g)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(g->server_fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err != 0) {
        server_done(g, strerror(err));
        return;
    }
    g->connected = true;
    event_del(g->timeout_ev);
}

static void
read_server(struct cp_guard *g)
{
    char buf[READ_CHUNK];
    for (int n = 0; n < READS_PER_EVENT && evbuffer_get_length(g->to_lib) < HIGH_WATER; n++) {
        ssize_t got = recv(g->server_fd, buf, sizeof(buf), 0);
        if (got > 0) {
            cp_scan_feed(&g->scan, buf, (size_t)got);
            continue;
        }
        if (got == 0)
            server_done(g, "closed by server");
        else if (!would_block())
            server_done(g, strerror(errno));
        return;
    }
}

static void
on_server(evutil_socket_t fd, short what, void *arg)
{
    struct cp_guard *g = arg;
    (void)fd;
    if (!g->connected && (what & EV_WRITE))
        check_connect(g);
    if (g->connected && (what & EV_READ))
        read_server(g);
    flush_to_lib(g);
    flush_to_server(g);
    update(g);
}

static void
on_pair(evutil_socket_t fd, short what, void *arg)
{
    struct cp_guard *g = arg;
    (void)fd;
    if (what & EV_READ) {
        int got = evbuffer_read(g->to_server, g->pair_fd, READ_CHUNK * READS_PER_EVENT);
        if (got == 0 || (got < 0 && !would_block()))
            g->lib_done = true;
    }
    flush_to_lib(g);
    flush_to_server(g);
    update(g);
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct cp_guard *g = arg;
    (void)fd;
    (void)what;
    if (!g->connected)
        server_done(g, "no answer to the TCP connect in time");
    update(g);
}

/* ---- public ---- */

struct cp_guard *
cp_guard_new(struct event_base *base, int server_fd, int pair_fd,
             const struct cp_scan_limits *limits, unsigned connect_timeout_ms,
             const struct cp_guard_events *events, void *ud)
{
    struct cp_guard *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->base = base;
    g->server_fd = server_fd;
    g->pair_fd = pair_fd;
    g->events = *events;
    g->ud = ud;
    cp_scan_init(&g->scan, limits, &scan_ops, g);
    g->to_lib = evbuffer_new();
    g->to_server = evbuffer_new();
    g->held = evbuffer_new();
    /* Assigned for real by arm(); created here so that arming never allocates. */
    g->server_ev = event_new(base, server_fd, 0, on_server, g);
    g->pair_ev = event_new(base, pair_fd, 0, on_pair, g);
    g->timeout_ev = evtimer_new(base, on_timeout, g);
    if (!g->to_lib || !g->to_server || !g->held || !g->server_ev || !g->pair_ev || !g->timeout_ev) {
        g->server_fd = g->pair_fd = -1; /* still the caller's */
        cp_guard_free(g);
        return NULL;
    }
    struct timeval tv = {connect_timeout_ms / 1000, (connect_timeout_ms % 1000) * 1000};
    event_add(g->timeout_ev, &tv);
    update(g);
    return g;
}

void
cp_guard_free(struct cp_guard *g)
{
    if (!g)
        return;
    if (g->pair_fd >= 0 && g->to_server) {
        /* libstrophe's last words (its closing tag) may still sit in the socketpair. */
        while (!g->lib_done && evbuffer_read(g->to_server, g->pair_fd, READ_CHUNK) > 0)
            ;
        g->lib_done = true;
        flush_to_server(g);
    }
    if (g->server_ev)
        event_free(g->server_ev);
    if (g->pair_ev)
        event_free(g->pair_ev);
    if (g->timeout_ev)
        event_free(g->timeout_ev);
    if (g->to_lib)
        evbuffer_free(g->to_lib);
    if (g->to_server)
        evbuffer_free(g->to_server);
    if (g->held)
        evbuffer_free(g->held);
    if (g->server_fd >= 0)
        close(g->server_fd);
    if (g->pair_fd >= 0)
        close(g->pair_fd);
    free(g);
}

const char *
cp_guard_reason(const struct cp_guard *g)
{
    return g->server_done ? g->reason : NULL;
}
