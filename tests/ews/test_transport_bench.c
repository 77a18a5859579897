/* Benchmark (suite 'bench', prints figures, never fails on time): the ews/ client against
 * ews-sim with N populated mailboxes: one CalendarView per mailbox, then GetUserAvailability in
 * batches of 100, with `concurrency` requests in flight. Usage: test_transport_bench [N [CONC]].
 * Skips (77) when ews-sim is not built. */
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ews.h"

static int done;
static int failed;
static size_t items;

static long long
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port = -1;

    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static bool
port_open(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

    if (fd >= 0)
        close(fd);
    return ok;
}

static void
on_cal(void *ud, int rc, struct ews_calendar_view *v, const struct ews_error *err)
{
    (void)ud;
    if (rc != 0) {
        if (failed++ < 3)
            fprintf(stderr, "calendar failed: %s %s\n", err->code, err->message);
    } else {
        items += v->n_items;
    }
    done++;
}

static void
on_avail(void *ud, int rc, struct ews_availability *a, const struct ews_error *err)
{
    (void)ud;
    if (rc != 0) {
        if (failed++ < 3)
            fprintf(stderr, "availability failed: %s %s\n", err->code, err->message);
    } else {
        for (size_t i = 0; i < a->n_mailboxes; i++)
            items += a->mailboxes[i].n_events;
    }
    done++;
}

static void
quiet(void *ud, int level, const char *area, const char *msg)
{
    (void)ud;
    if (level <= EWS_LOG_WARN)
        fprintf(stderr, "%s: %s\n", area, msg);
}

static int
make_certs(const char *dir)
{
    char cmd[2048];

    snprintf(cmd, sizeof(cmd),
             "(cd '%s' && printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && "
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout ca.key -out ca.pem -days 2 -subj '/CN=bench CA' && "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout server.key -out server.csr -subj '/CN=127.0.0.1' && "
             "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
             "-out server.pem -days 2 -extfile san.ext) >/dev/null 2>&1",
             dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void
run(struct event_base *base, int want)
{
    while (done < want)
        event_base_loop(base, EVLOOP_ONCE);
}

int
main(int argc, char **argv)
{
    const char *root = getenv("CP_BUILD_ROOT");
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    unsigned conc = argc > 2 ? (unsigned)atoi(argv[2]) : 20;
    char sim[1024];
    char dir[] = "/tmp/ews-bench-XXXXXX";
    char listen[64], pem[600], key[600], ca[600], url[128], pop[16], cmd[700];
    const char *urls[1] = {url};
    struct ews_config cfg = {0};
    struct ews_client *c;
    struct event_base *base;
    struct rusage ru;
    char **names;
    long long t0, t1, t2;
    int port = free_port();
    pid_t pid;

    snprintf(sim, sizeof(sim), "%s/tests/ews-sim/ews-sim", root != NULL ? root : ".");
    if (access(sim, X_OK) != 0) {
        printf("ews-sim not built (%s): skipped\n", sim);
        return 77;
    }
    if (n < 100 || mkdtemp(dir) == NULL || make_certs(dir) != 0 || port < 0)
        return 1;
    snprintf(listen, sizeof(listen), "cas1=127.0.0.1:%d", port);
    snprintf(pem, sizeof(pem), "%s/server.pem", dir);
    snprintf(key, sizeof(key), "%s/server.key", dir);
    snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
    snprintf(pop, sizeof(pop), "%d", n);
    pid = fork();
    if (pid == 0) {
        execl(sim, "ews-sim", "--listen", listen, "--cert", pem, "--key", key, "--populate", pop,
              "--max-concurrency", "1000", "-e", "account add svc@example.com Secret1", "-e",
              "account impersonate svc@example.com all", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 400 && !port_open(port); i++)
        usleep(50000);
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/EWS/Exchange.asmx", port);
    cfg.urls = urls;
    cfg.n_urls = 1;
    cfg.username = "svc@example.com";
    cfg.password = "Secret1";
    cfg.auth = EWS_AUTH_BASIC;
    cfg.impersonation = EWS_IMP_SMTP;
    cfg.server_version = EWS_V2013;
    cfg.ca_file = ca;
    cfg.timeout = 60;
    cfg.queue = (size_t)n + 10;
    cfg.concurrency = conc;
    cfg.log = quiet;
    base = event_base_new();
    if (ews_client_new(base, &cfg, &c) != 0)
        return 1;
    names = calloc((size_t)n, sizeof(*names));
    for (int i = 0; i < n; i++) {
        names[i] = malloc(32);
        snprintf(names[i], 32, "user%05d@example.com", i + 1);
    }
    t0 = mono_ms();
    for (int i = 0; i < n; i++)
        ews_calendar_view(c, names[i], time(NULL), time(NULL) + 86400, 0, on_cal, NULL, NULL);
    run(base, n);
    t1 = mono_ms();
    printf("calendar views: %d mailboxes, concurrency %u: %lld ms, %.0f requests/s, %zu items, "
           "%d failed\n",
           n, conc, t1 - t0, n * 1000.0 / (double)(t1 - t0 > 0 ? t1 - t0 : 1), items, failed);
    done = 0;
    items = 0;
    for (int i = 0; i + 100 <= n; i += 100)
        ews_availability(c, (const char *const *)names + i, 100, time(NULL), time(NULL) + 86400,
                         on_avail, NULL, NULL);
    run(base, n / 100);
    t2 = mono_ms();
    printf("availability: %d calls of 100 mailboxes: %lld ms, %.0f mailboxes/s, %zu events, "
           "%d failed\n",
           n / 100, t2 - t1, (n / 100) * 100 * 1000.0 / (double)(t2 - t1 > 0 ? t2 - t1 : 1), items,
           failed);
    getrusage(RUSAGE_SELF, &ru);
    printf("client CPU: %.2f s user, %.2f s system; max RSS %ld KiB\n",
           ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
           ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, ru.ru_maxrss);
    ews_client_destroy(c);
    event_base_free(base);
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return 0;
}
