/* The XEP-0114 connection against a scripted server on the same event loop: the handshake
 * digest, a disconnect by the server and the reconnect after it (the regression test of the
 * libstrophe sm_state workaround), with the process holding more than FD_SETSIZE descriptors
 * so that libstrophe's select() would be handed a socket it cannot watch. Also the back-off. */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <unistd.h>

#include "xmpp/backoff.h"
#include "fake_xmpp_server.h"
#include "config/log.h"
#include "xmpp/conn.h"

#define SECRET "s3cret"
#define FILL_TO 1200 /* descriptors held open before connecting: above FD_SETSIZE */

struct fake {
    struct event_base *base;
    struct cp_xmpp *x;
    struct fake_xmpp_server server;
    int online;
    int fds_seen_high; /* times the client's stream descriptor was >= FD_SETSIZE */
};

static void
on_online(void *ud)
{
    struct fake *f = ud;
    f->online++;
    if (cp_xmpp_fd(f->x) >= FD_SETSIZE)
        f->fds_seen_high++;
    if (f->online == 1) {
        /* The server goes away: the component must reconnect by itself. */
        fake_xmpp_server_drop(&f->server);
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
    if (f->server.presences > 0)
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
        rl.rlim_cur = FILL_TO + 64;
        if (rl.rlim_max < rl.rlim_cur)
            rl.rlim_max = rl.rlim_cur; /* allowed for root (CAP_SYS_RESOURCE) */
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    cr_assert(rl.rlim_cur >= FILL_TO + 64, "need %d descriptors, the limit is %llu (hard %llu)",
              FILL_TO + 64, (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);

    cp_log_set_level(CP_LOG_WARN);
    struct fake f = {0};
    f.base = event_base_new();
    int port = fake_xmpp_server_start(&f.server, f.base, SECRET);
    cr_assert(port > 0);

    struct cp_xmpp_events ev = {on_online, on_offline, on_fatal};
    f.x = cp_xmpp_new(f.base, "cal.test", SECRET, "127.0.0.1", port, 1, &ev, &f);
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

    cr_expect_eq(f.server.accepted, 2, "connected, was dropped, reconnected (accepted %d)",
                 f.server.accepted);
    cr_expect_eq(f.server.handshakes_ok, 2, "both handshakes carried SHA1(id+secret)");
    cr_expect_eq(f.server.handshakes_bad, 0);
    cr_expect_eq(f.online, 2, "online twice");
    cr_expect_eq(f.fds_seen_high, 0, "libstrophe's socket stayed below FD_SETSIZE");
    cr_expect_eq(f.server.presences, 1, "a stanza sent after the reconnect reached the server");

    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    event_free(check);
    event_free(deadline);
    cp_xmpp_free(f.x);
    fake_xmpp_server_stop(&f.server);
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

/* A reload of reconnect_max: the next delays obey the new cap, the failure count stays. */
Test(backoff, cap_changes_from_the_next_delay)
{
    struct cp_backoff b;
    cp_backoff_init(&b, 1000, 60000, 777);
    for (int i = 0; i < 5; i++)
        cp_backoff_next(&b); /* nominal 16000 next */
    cp_backoff_set_max(&b, 3000);
    for (int i = 0; i < 5; i++) {
        unsigned d = cp_backoff_next(&b);
        cr_expect(d >= 1500 && d <= 3000, "after lowering the cap: %u not in [1500, 3000]", d);
    }
    cp_backoff_set_max(&b, 10);
    unsigned d = cp_backoff_next(&b);
    cr_expect(d >= 500 && d <= 1000, "a cap below the base is the base (%u)", d);
}

Test(backoff, never_overflows)
{
    struct cp_backoff b;
    cp_backoff_init(&b, 1, 4000000000u, 99);
    for (int i = 0; i < 200; i++)
        cr_expect(cp_backoff_next(&b) <= 4000000000u);
}
