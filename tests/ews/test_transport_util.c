/* Helpers of the transport tests (test_transport_util.h). */
#include "test_transport_util.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct test_server tsrv;

static void
log_stderr(void *ud, int level, const char *area, const char *msg)
{
    (void)ud;
    fprintf(stderr, "[%d] %s: %s\n", level, area, msg);
}

void
tsrv_start(void)
{
    const char *root = getenv("CP_SOURCE_ROOT");
    char script[1024];
    char line[1024] = "";
    size_t used = 0;
    int fds[2];
    pid_t pid;

    cr_assert_not_null(root, "CP_SOURCE_ROOT is not set (run through meson test)");
    snprintf(script, sizeof(script), "%s/tests/ews/ews_test_server.py", root);
    snprintf(tsrv.dir, sizeof(tsrv.dir), "/tmp/ews-transport-XXXXXX");
    cr_assert_not_null(mkdtemp(tsrv.dir));
    cr_assert_eq(pipe(fds), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl("/usr/bin/python3", "python3", script, tsrv.dir, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    tsrv.pid = pid;
    /* Certificates are made first: allow a slow machine 30 s. */
    while (strchr(line, '\n') == NULL && used < sizeof(line) - 1) {
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        ssize_t r;

        cr_assert_gt(poll(&p, 1, 30000), 0, "test server did not start");
        r = read(fds[0], line + used, sizeof(line) - 1 - used);
        cr_assert_gt(r, 0, "test server died at start");
        used += (size_t)r;
        line[used] = '\0';
    }
    close(fds[0]);
    cr_assert_eq(
        sscanf(line, "READY %d %d %511s %d", &tsrv.port, &tsrv.http_port, tsrv.ca, &tsrv.weak_port),
        4, "bad test server line: %s", line);
}

void
tsrv_stop(void)
{
    char cmd[128];

    if (tsrv.pid > 0) {
        kill(tsrv.pid, SIGTERM);
        waitpid(tsrv.pid, NULL, 0);
        tsrv.pid = 0;
    }
    if (strncmp(tsrv.dir, "/tmp/ews-transport-", 19) == 0) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tsrv.dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tsrv.dir);
    }
}

const char *
tsrv_url(char *buf, size_t len, const char *mode)
{
    snprintf(buf, len, "https://127.0.0.1:%d/%s/EWS/Exchange.asmx", tsrv.port, mode);
    return buf;
}

static size_t
collect(char *ptr, size_t size, size_t nmemb, void *ud)
{
    char *buf = ud;
    size_t have = strlen(buf);
    size_t n = size * nmemb;

    if (have + n >= 4096)
        n = 4095 - have;
    memcpy(buf + have, ptr, n);
    buf[have + n] = '\0';
    return size * nmemb;
}

void
tsrv_stat_str(const char *mode, const char *key, char *out, size_t outlen)
{
    char url[256];
    char body[4096] = "";
    CURL *e = curl_easy_init();
    const char *p;
    size_t klen = strlen(key);

    snprintf(url, sizeof(url), "https://127.0.0.1:%d/stats/%s", tsrv.port, mode);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CAINFO, tsrv.ca);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
    cr_assert_eq(curl_easy_perform(e), CURLE_OK, "stats of %s", mode);
    curl_easy_cleanup(e);
    out[0] = '\0';
    for (p = body; p != NULL && *p != '\0'; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, key, klen) == 0 && p[klen] == ' ') {
            size_t n = strcspn(p + klen + 1, "\n");

            if (n >= outlen)
                n = outlen - 1;
            memcpy(out, p + klen + 1, n);
            out[n] = '\0';
            return;
        }
    }
    cr_assert_fail("no %s in the stats of %s", key, mode);
}

long
tsrv_stat(const char *mode, const char *key)
{
    char v[64];

    tsrv_stat_str(mode, key, v, sizeof(v));
    return strtol(v, NULL, 10);
}

void
test_config(struct ews_config *cfg, const char *const *urls, size_t n, enum ews_auth_kind auth)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->urls = urls;
    cfg->n_urls = n;
    cfg->username = "alice";
    cfg->password = "secret";
    cfg->auth = auth;
    cfg->impersonation = EWS_IMP_SMTP;
    cfg->server_version = EWS_V2013;
    cfg->ca_file = tsrv.ca;
    cfg->timeout = 10;
    cfg->queue = 100;
    cfg->concurrency = 4;
    cfg->log = log_stderr;
}

static void
on_deadline(evutil_socket_t fd, short events, void *arg)
{
    (void)fd;
    (void)events;
    *(bool *)arg = true;
}

bool
run_until(struct event_base *base, const int *counter, int want, int timeout_s)
{
    bool expired = false;
    struct timeval tv = {.tv_sec = timeout_s, .tv_usec = 0};
    struct event *deadline = evtimer_new(base, on_deadline, &expired);

    evtimer_add(deadline, &tv);
    while (*counter < want && !expired)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(deadline);
    return *counter >= want;
}

long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
dead_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;

    cr_assert_geq(fd, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}
