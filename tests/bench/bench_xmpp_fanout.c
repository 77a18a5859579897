/* How fast presence leaves the component: N busy presences (show, status and the calendar
 * element, as the engine will send when N users enter meetings in the same minute) built,
 * queued into libstrophe and flushed over loopback to a scripted XEP-0114 server that counts
 * them. Prints figures; never fails on time.
 *
 * Usage: bench_xmpp_fanout [N...]   (default 10000 100000) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "fake_xmpp_server.h"
#include "config/log.h"
#include "xmpp/presence.h"
#include "xmpp/conn.h"

#define SECRET "bench-secret"

struct bench {
    struct event_base *base;
    struct cp_xmpp *x;
    struct fake_xmpp_server server;
    struct cp_config cfg;
    size_t n;
    double t_start, t_queued, t_flushed;
    size_t baseline; /* presences the server had counted before this round */
};

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
on_flush_check(evutil_socket_t fd, short what, void *arg)
{
    struct bench *b = arg;
    (void)fd;
    (void)what;
    if (b->server.presences - b->baseline >= b->n) {
        b->t_flushed = now();
        event_base_loopexit(b->base, NULL);
    }
}

static void
send_round(evutil_socket_t fd, short what, void *arg)
{
    struct bench *b = arg;
    (void)fd;
    (void)what;
    char from[64], to[64];
    struct cp_cal_presence p = {.state = CP_CAL_BUSY, .until = time(NULL) + 1800};
    b->baseline = b->server.presences;
    b->t_start = now();
    for (size_t i = 0; i < b->n; i++) {
        snprintf(from, sizeof(from), "user%06zu@calendar.example.com", i);
        snprintf(to, sizeof(to), "watcher%06zu@example.com", i);
        xmpp_stanza_t *s = cp_presence_build(cp_xmpp_ctx(b->x), &b->cfg, from, to, &p);
        cp_xmpp_send(b->x, s);
        xmpp_stanza_release(s);
    }
    b->t_queued = now();
}

static void
on_online(void *ud)
{
    struct bench *b = ud;
    event_base_once(b->base, -1, EV_TIMEOUT, send_round, b, &(struct timeval){0, 0});
}

static void
on_offline(void *ud)
{
    (void)ud;
}

static void
on_fatal(void *ud, const char *reason)
{
    struct bench *b = ud;
    fprintf(stderr, "bench: %s\n", reason);
    event_base_loopexit(b->base, NULL);
}

static int
run(size_t n)
{
    struct bench b = {.n = n};
    b.cfg.busy_show = "dnd";
    b.cfg.busy_status = "In a meeting";
    b.cfg.oof_show = "away";
    b.cfg.oof_status = "Out of office";
    b.base = event_base_new();
    int port = fake_xmpp_server_start(&b.server, b.base, SECRET);
    struct cp_xmpp_events ev = {on_online, on_offline, on_fatal};
    b.x = cp_xmpp_new(b.base, "calendar.example.com", SECRET, "127.0.0.1", port, 1, &ev, &b);
    if (port < 0 || !b.x)
        return 1;
    struct event *check = event_new(b.base, -1, EV_PERSIST, on_flush_check, &b);
    event_add(check, &(struct timeval){0, 1000});
    cp_xmpp_start(b.x);
    event_base_dispatch(b.base);
    int rc = 0;
    if (b.t_flushed > 0) {
        double build = b.t_queued - b.t_start, total = b.t_flushed - b.t_start;
        printf("%7zu presences: built+queued %.3f s (%.0f/s), delivered %.3f s (%.0f/s), "
               "%.0f bytes each\n",
               n, build, (double)n / build, total, (double)n / total,
               (double)b.server.bytes / (double)(b.server.presences ? b.server.presences : 1));
    } else {
        printf("%7zu presences: not all delivered (%zu)\n", n, b.server.presences);
        rc = 1;
    }
    fflush(stdout);
    event_free(check);
    cp_xmpp_free(b.x);
    fake_xmpp_server_stop(&b.server);
    event_base_free(b.base);
    return rc;
}

int
main(int argc, char **argv)
{
    cp_log_set_level(CP_LOG_WARN);
    int rc = 0;
    if (argc > 1)
        for (int i = 1; i < argc; i++)
            rc |= run((size_t)strtoul(argv[i], NULL, 10));
    else
        rc = run(10000) | run(100000);
    return rc;
}
