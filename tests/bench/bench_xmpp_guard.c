/* What one wide stanza costs the daemon: the CPU time of the stanza guard and libstrophe for an
 * IQ with N empty children sent by a scripted XEP-0114 server over loopback, from the first
 * byte sent to the IQ reaching a libstrophe handler (within the guard's bound) or the guard's
 * drop (over it). The scripted server runs in the same process, so its sending is included.
 * Prints figures; never fails on time.
 *
 * Usage: bench_xmpp_guard [N...]   (default 1000 10000 60000) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/log.h"
#include "fake_xmpp_server.h"
#include "xmpp/conn.h"
#include "xmpp/guard.h"

#define SECRET "bench-secret"
#define ROUNDS 3

struct bench {
    struct event_base *base;
    struct cp_xmpp *x;
    struct fake_xmpp_server server;
    bool online;
    int handled; /* IQs that reached libstrophe's handler */
};

static double
cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
on_iq(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *ud)
{
    struct bench *b = ud;
    (void)conn;
    (void)stanza;
    b->handled++;
    return 1;
}

static void
on_online(void *ud)
{
    struct bench *b = ud;
    b->online = true;
}

static void
on_offline(void *ud)
{
    struct bench *b = ud;
    b->online = false;
}

static void
on_fatal(void *ud, const char *reason)
{
    (void)ud;
    fprintf(stderr, "bench_xmpp_guard: %s\n", reason);
    exit(1);
}

static char *
wide_iq(size_t children, size_t *len)
{
    static const char head[] = "<iq type='set' id='wide' from='eve@test/r' to='cal.test'>"
                               "<query xmlns='urn:example:wide'>";
    static const char tail[] = "</query></iq>";
    char *s = malloc(sizeof(head) + children * 4 + sizeof(tail));
    if (!s)
        exit(1);
    size_t n = sizeof(head) - 1;
    memcpy(s, head, n);
    for (size_t i = 0; i < children; i++, n += 4)
        memcpy(s + n, "<a/>", 4);
    memcpy(s + n, tail, sizeof(tail));
    *len = n + sizeof(tail) - 1;
    return s;
}

static void
run(struct bench *b, size_t children)
{
    size_t len;
    char *iq = wide_iq(children, &len);
    double best_cpu = 1e9, best_wall = 1e9;
    const char *verdict = "?";

    for (int r = 0; r < ROUNDS; r++) {
        int handled = b->handled;
        unsigned long dropped = cp_xmpp_dropped(b->x);
        double c0 = cpu_now(), w0 = wall_now();
        fake_xmpp_server_send(&b->server, iq, len);
        while (b->handled == handled && cp_xmpp_dropped(b->x) == dropped)
            event_base_loop(b->base, EVLOOP_ONCE);
        double cpu = cpu_now() - c0, wall = wall_now() - w0;
        verdict = b->handled > handled ? "parsed by libstrophe" : "dropped by the guard";
        best_cpu = cpu < best_cpu ? cpu : best_cpu;
        best_wall = wall < best_wall ? wall : best_wall;
    }
    printf("%6zu children, %7zu bytes: %-21s CPU %8.4f s, wall %8.4f s (best of %d)\n", children,
           len, verdict, best_cpu, best_wall, ROUNDS);
    free(iq);
}

int
main(int argc, char **argv)
{
    struct bench b = {0};
    cp_log_set_level(CP_LOG_ERROR);
    b.base = event_base_new();
    int port = fake_xmpp_server_start(&b.server, b.base, SECRET);
    struct cp_xmpp_events ev = {on_online, on_offline, on_fatal};
    b.x = cp_xmpp_new(b.base, "cal.test", SECRET, "127.0.0.1", port, 1, &ev, &b);
    if (port < 0 || !b.x)
        return 1;
    xmpp_handler_add(cp_xmpp_conn(b.x), on_iq, NULL, "iq", NULL, &b);
    cp_xmpp_start(b.x);
    while (!b.online)
        event_base_loop(b.base, EVLOOP_ONCE);

    printf("guard bound: %d elements and text pieces, %d bytes\n", CP_GUARD_MAX_NODES,
           CP_GUARD_MAX_BYTES);
    if (argc > 1)
        for (int i = 1; i < argc; i++)
            run(&b, strtoul(argv[i], NULL, 10));
    else
        for (size_t i = 0; i < 3; i++)
            run(&b, (size_t[]){1000, 10000, 60000}[i]);

    cp_xmpp_free(b.x);
    fake_xmpp_server_stop(&b.server);
    event_base_free(b.base);
    return 0;
}
