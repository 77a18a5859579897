/* Helpers of the transport tests: the local HTTPS test server (ews_test_server.py), a client
 * on a private event loop, and a loop runner with a generous bound. */
#ifndef TEST_TRANSPORT_UTIL_H
#define TEST_TRANSPORT_UTIL_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

#include "ews.h"

struct test_server {
    int pid;
    int port;      /* HTTPS */
    int http_port; /* plain HTTP (autodiscover redirect GET) */
    int weak_port; /* HTTPS with an RSA 1024-bit certificate */
    char ca[512];
    char dir[64];
};

extern struct test_server tsrv;

/* Starts ews_test_server.py in a fresh directory (Criterion init); stops it by PID (fini). */
void tsrv_start(void);
void tsrv_stop(void);

/* "https://127.0.0.1:PORT/MODE/EWS/Exchange.asmx" into BUF. */
const char *tsrv_url(char *buf, size_t len, const char *mode);

/* A number / string from GET /stats/MODE (blocking; test code only). */
long tsrv_stat(const char *mode, const char *key);
void tsrv_stat_str(const char *mode, const char *key, char *out, size_t outlen);

/* A configuration for the test server: alice/secret, SMTP impersonation, the run's CA, timeout
 * 10 s, queue 100, concurrency 4, log on stderr. */
void test_config(struct ews_config *cfg, const char *const *urls, size_t n,
                 enum ews_auth_kind auth);

/* Runs BASE until *COUNTER reaches WANT or TIMEOUT_S seconds passed; returns true when
 * reached. */
bool run_until(struct event_base *base, const int *counter, int want, int timeout_s);

/* Milliseconds of the monotonic clock. */
long long now_ms(void);

/* A free TCP port on 127.0.0.1 with nothing listening (bound then closed). */
int dead_port(void);

#endif
