/* Transport tests against a local HTTPS server with a per-run CA (ews_test_server.py):
 * authentication (Basic, NTLMv2, bearer), 401 loop protection, TLS verification, https only,
 * headers, timeout, queue full, concurrency cap, ErrorServerBusy / 503 back-off, server down
 * and reassignment, calendar splitting, streaming, autodiscover, request timing. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth_int.h"
#include "transport_int.h"
#include "test_transport_util.h"

struct res {
    int done;
    int rc;
    struct ews_error err;
    long long t_done;
    char text[256];
    size_t n_items;
    time_t starts[32];
    char ids[32][16];
    int frames;
    int closed_frames;
    int event_frames;
    bool complete;     /* calendar view: includes_last_item_in_range */
    struct ews_op *op; /* when asked for: its ews_op_seconds is read in the callback */
    double seconds;
};

static struct event_base *base;

/* Log lines of a client, for tests that check what was (not) logged. */
static char logged[2048];

static void
log_capture(void *ud, int level, const char *area, const char *msg)
{
    (void)ud;
    (void)level;
    snprintf(logged + strlen(logged), sizeof(logged) - strlen(logged), "%s: %s\n", area, msg);
}

/* Only the warnings and errors, for tests whose client also logs many debug lines. */
static void
log_warnings(void *ud, int level, const char *area, const char *msg)
{
    if (level <= EWS_LOG_WARN)
        log_capture(ud, level, area, msg);
}

static void
setup(void)
{
    tsrv_start();
    base = event_base_new();
    cr_assert_not_null(base);
}

static void
teardown(void)
{
    event_base_free(base);
    tsrv_stop();
}

TestSuite(transport, .init = setup, .fini = teardown, .timeout = 120);

static void
on_folder(void *ud, int rc, struct ews_folder_result *f, const struct ews_error *err)
{
    struct res *r = ud;

    r->rc = rc;
    r->err = *err;
    r->t_done = now_ms();
    if (r->op)
        r->seconds = ews_op_seconds(r->op);
    if (rc == 0)
        snprintf(r->text, sizeof(r->text), "%s", f->folder_id);
    r->done++;
}

static void
on_sub(void *ud, int rc, struct ews_subscribe_result *s, const struct ews_error *err)
{
    struct res *r = ud;

    r->rc = rc;
    r->err = *err;
    if (rc == 0)
        snprintf(r->text, sizeof(r->text), "%s", s->subscription_id);
    r->done++;
}

static struct ews_client *
client_for(const char *mode, enum ews_auth_kind auth, struct ews_config *cfg, char *url,
           size_t urllen)
{
    static const char *urls[1];
    struct ews_client *c;

    urls[0] = tsrv_url(url, urllen, mode);
    if (cfg->urls == NULL)
        test_config(cfg, urls, 1, auth);
    cr_assert_eq(ews_client_new(base, cfg, &c), 0);
    return c;
}

/* One GetFolder through MODE with AUTH; returns the result. */
static struct res
one_folder(const char *mode, enum ews_auth_kind auth, const char *password)
{
    struct ews_config cfg = {0};
    char url[256];
    struct ews_client *c;
    struct res r = {0};
    static const char *urls[1];

    urls[0] = tsrv_url(url, sizeof(url), mode);
    test_config(&cfg, urls, 1, auth);
    cfg.password = password;
    c = client_for(mode, auth, &cfg, url, sizeof(url));
    cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &r, NULL), 0);
    cr_assert(run_until(base, &r.done, 1, 30), "no answer");
    ews_client_destroy(c);
    return r;
}

Test(transport, basic_auth_and_headers)
{
    struct ews_config cfg = {0};
    char url[256];
    char v[128];
    struct ews_client *c = client_for("basic", EWS_AUTH_BASIC, &cfg, url, sizeof(url));
    struct ews_server_status st;
    struct res r = {0};

    cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &r, NULL), 0);
    cr_expect_eq(r.done, 0, "the callback never runs inside the call");
    cr_assert(run_until(base, &r.done, 1, 30));
    cr_assert_eq(r.rc, 0, "%s %s", r.err.code, r.err.message);
    cr_expect_str_eq(r.text, "CAL-1");
    tsrv_stat_str("basic", "last_anchor", v, sizeof(v));
    cr_expect_str_eq(v, "bob@example.test", "X-AnchorMailbox is the impersonated mailbox");
    tsrv_stat_str("basic", "last_action", v, sizeof(v));
    cr_expect_str_eq(v, "GetFolder");
    tsrv_stat_str("basic", "last_type", v, sizeof(v));
    cr_expect_str_eq(v, "text/xml;charset=utf-8");
    cr_expect_eq(tsrv_stat("basic", "count"), 1, "Basic credentials go with the first request");
    cr_assert_eq(ews_client_server_status(c, 0, &st), 0);
    cr_expect_eq(st.info.major, 15, "ServerVersionInfo recorded per server");
    cr_expect_eq(st.info.major_build, 1544);
    cr_expect(st.healthy);
    cr_expect_str_eq(ews_client_server_of(c, "bob@example.test"), url);
    for (int i = 2; i <= 3; i++) {
        cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &r, NULL), 0);
        cr_assert(run_until(base, &r.done, i, 30));
    }
    cr_expect_eq(tsrv_stat("basic", "count"), 3);
    cr_expect_eq(tsrv_stat("basic", "connections"), 1, "keep-alive: one connection reused");
    ews_client_destroy(c);
}

Test(transport, basic_wrong_password_is_auth_failure_once)
{
    struct res r = one_folder("basic", EWS_AUTH_BASIC, "wrong");

    cr_expect_eq(r.rc, EWS_E_RESPONSE);
    cr_expect_eq(r.err.cls, EWS_ERR_AUTH_FAILURE);
    cr_expect_eq(r.err.http_status, 401);
    cr_expect_eq(tsrv_stat("basic", "count"), 1, "a refused credential is not sent again");
}

Test(transport, any_against_always_401_does_not_loop)
{
    struct res r = one_folder("deny", EWS_AUTH_ANY, "secret");

    cr_expect_eq(r.err.cls, EWS_ERR_AUTH_FAILURE);
    /* One request to learn the schemes, one with credentials: never more. */
    cr_expect_leq(tsrv_stat("deny", "count"), 2);
    cr_expect_geq(tsrv_stat("deny", "count"), 1);
}

Test(transport, ntlm_v2_accepted)
{
    struct res r = one_folder("ntlm", EWS_AUTH_NTLM, "secret");

    cr_expect_eq(r.rc, 0, "%s %s", r.err.code, r.err.message);
    cr_expect_str_eq(r.text, "CAL-1");
    cr_expect_eq(tsrv_stat("ntlm", "auth_rounds"), 2, "type 1, then type 3");
}

Test(transport, ntlm_wrong_password_no_loop)
{
    struct res r = one_folder("ntlm", EWS_AUTH_NTLM, "wrong");

    cr_expect_eq(r.err.cls, EWS_ERR_AUTH_FAILURE);
    cr_expect_eq(tsrv_stat("ntlm", "auth_rounds"), 2, "one handshake, no second try");
}

Test(transport, any_picks_ntlm)
{
    struct res r = one_folder("ntlm", EWS_AUTH_ANY, "secret");

    cr_expect_eq(r.rc, 0, "%s %s", r.err.code, r.err.message);
}

static int negotiate_warnings;

static void
count_negotiate(void *ud, int level, const char *area, const char *msg)
{
    (void)ud;
    (void)level;
    (void)area;
    if (strstr(msg, "auth: Negotiate") != NULL)
        negotiate_warnings++;
}

Test(transport, any_falls_back_from_negotiate_to_ntlm)
{
    struct ews_config cfg = {0};
    static const char *urls[1];
    char url[256];
    struct ews_client *c;
    struct res r = {0};

    urls[0] = tsrv_url(url, sizeof(url), "negntlm");
    test_config(&cfg, urls, 1, EWS_AUTH_ANY);
    cfg.log = count_negotiate;
    cr_assert_eq(ews_client_new(base, &cfg, &c), 0);
    cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &r, NULL), 0);
    cr_assert(run_until(base, &r.done, 1, 30));
    cr_expect_eq(r.rc, 0, "no Kerberos ticket here: NTLM after Negotiate failed (%s)",
                 r.err.message);
    cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &r, NULL), 0);
    cr_assert(run_until(base, &r.done, 2, 30));
    cr_expect_eq(r.rc, 0);
    cr_expect_eq(negotiate_warnings, ews_auth_have_gss() ? 1 : 0,
                 "Negotiate given up once, not per request");
    ews_client_destroy(c);
}

Test(transport, untrusted_certificate_is_server_down)
{
    struct ews_config cfg = {0};
    static const char *urls[1];
    char url[256];
    struct ews_client *c;
    struct ews_server_status st;
    struct res r = {0};

    urls[0] = tsrv_url(url, sizeof(url), "open");
    test_config(&cfg, urls, 1, EWS_AUTH_BASIC);
    cfg.ca_file = NULL; /* nothing trusted: not even the system store */
    cr_assert_eq(ews_client_new(base, &cfg, &c), 0);
    cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &r, NULL), 0);
    cr_assert(run_until(base, &r.done, 1, 30));
    cr_expect_eq(r.rc, EWS_E_TRANSPORT);
    cr_expect_eq(r.err.cls, EWS_ERR_SERVER_DOWN);
    cr_expect_eq(tsrv_stat("open", "count"), 0, "no request went out over the bad TLS");
    cr_assert_eq(ews_client_server_status(c, 0, &st), 0);
    cr_expect_not(st.healthy);
    ews_client_destroy(c);
}

/* GetFolder on the weak-certificate port with weak_certificates = warn (ALLOW) or refuse. */
static struct res
weak_folder(bool allow)
{
    struct ews_config cfg = {0};
    static const char *urls[1];
    char url[256];
    struct ews_client *c;
    struct res r = {0};

    snprintf(url, sizeof(url), "https://127.0.0.1:%d/weak/EWS/Exchange.asmx", tsrv.weak_port);
    urls[0] = url;
    test_config(&cfg, urls, 1, EWS_AUTH_BASIC);
    cfg.allow_weak_tls = allow;
    cr_assert_eq(ews_client_new(base, &cfg, &c), 0);
    cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &r, NULL), 0);
    cr_assert(run_until(base, &r.done, 1, 30));
    ews_client_destroy(c);
    return r;
}

/* weak_certificates = warn lowers the level only for what level 0 cures (weak keys and
 * digests, old protocols): an untrusted certificate is not retried, nor is its server left
 * at level 0 for good. */
Test(transport, untrusted_certificate_not_retried_at_level_0)
{
    struct ews_config cfg = {0};
    static const char *urls[1];
    char url[256];
    struct ews_client *c;
    struct res r = {0};

    urls[0] = tsrv_url(url, sizeof(url), "open");
    test_config(&cfg, urls, 1, EWS_AUTH_BASIC);
    cfg.ca_file = NULL;
    cfg.allow_weak_tls = true;
    cfg.log = log_capture;
    logged[0] = '\0';
    cr_assert_eq(ews_client_new(base, &cfg, &c), 0);
    cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &r, NULL), 0);
    cr_assert(run_until(base, &r.done, 1, 30));
    cr_expect_eq(r.err.cls, EWS_ERR_SERVER_DOWN);
    cr_expect(strstr(logged, "security level 0") == NULL, "%s", logged);
    ews_client_destroy(c);
}

Test(transport, weak_certificate_refused_by_default)
{
    struct res r = weak_folder(false);

    cr_expect_eq(r.err.cls, EWS_ERR_SERVER_DOWN);
    cr_expect_eq(tsrv_stat("weak", "count"), 0);
}

Test(transport, weak_certificate_accepted_at_level_0_when_allowed)
{
    struct res r = weak_folder(true);

    cr_expect_eq(r.rc, 0, "%s %s", r.err.code, r.err.message);
    cr_expect_eq(tsrv_stat("weak", "count"), 1);
}

/* GetFolder with weak_certificates = warn on the server of MODE (resetonce or resetall), whose
 * handshakes are cut; warnings go to `logged`. */
static struct res
reset_folder(struct ews_client **c, const char *mode)
{
    struct ews_config cfg = {0};
    static const char *urls[1];
    static char url[256];
    struct res r = {0};

    if (*c == NULL) {
        snprintf(url, sizeof(url), "https://127.0.0.1:%ld/%s/EWS/Exchange.asmx",
                 tsrv_stat(mode, "port"), mode);
        urls[0] = url;
        test_config(&cfg, urls, 1, EWS_AUTH_BASIC);
        cfg.allow_weak_tls = true;
        cfg.log = log_warnings;
        logged[0] = '\0';
        cr_assert_eq(ews_client_new(base, &cfg, c), 0);
    }
    cr_assert_eq(ews_get_folder(*c, "bob@example.test", on_folder, &r, NULL), 0);
    cr_assert(run_until(base, &r.done, 1, 30));
    return r;
}

/* A connection reset in the middle of one handshake with a sound (RSA 2048) server is retried
 * at the default level: the server is not moved to security level 0 for the client's life. */
Test(transport, transient_handshake_failure_keeps_the_default_level)
{
    struct ews_client *c = NULL;
    struct res r = reset_folder(&c, "resetonce");

    cr_expect_eq(r.rc, 0, "%s %s", r.err.code, r.err.message);
    cr_expect_eq(tsrv_stat("resetonce", "resets"), 1, "one handshake was cut");
    r = reset_folder(&c, "resetonce");
    cr_expect_eq(r.rc, 0, "%s %s", r.err.code, r.err.message);
    cr_expect_eq(tsrv_stat("resetonce", "count"), 2);
    cr_expect(strstr(logged, "security level 0") == NULL, "%s", logged);
    ews_client_destroy(c);
}

/* A server whose every handshake fails is tried at level 0 once; that failing as well, it goes
 * back to the default level rather than staying at level 0. */
Test(transport, level_0_dropped_when_it_fails_too)
{
    struct ews_client *c = NULL;
    struct res r = reset_folder(&c, "resetall");

    cr_expect_eq(r.err.cls, EWS_ERR_SERVER_DOWN);
    cr_expect_eq(tsrv_stat("resetall", "resets"), 3, "default, default again, level 0");
    cr_expect_not_null(strstr(logged, "trying security level 0"), "%s", logged);
    cr_expect_not_null(strstr(logged, "back to the default level"), "%s", logged);
    ews_client_destroy(c);
}

Test(transport, http_urls_refused)
{
    struct ews_config cfg = {0};
    static const char *urls[] = {"http://127.0.0.1:1/EWS/Exchange.asmx"};
    struct ews_client *c = NULL;

    test_config(&cfg, urls, 1, EWS_AUTH_BASIC);
    cr_expect_eq(ews_client_new(base, &cfg, &c), EWS_E_INVAL);
    cr_expect_null(c);
    cfg.allow_http_for_tests = true;
    cr_expect_eq(ews_client_new(base, &cfg, &c), 0);
    ews_client_destroy(c);
}

/* A password in a URL would be logged with every line naming the server: refused, and the
 * refusal does not echo it. */
Test(transport, url_with_a_password_refused)
{
    struct ews_config cfg = {0};
    static const char *urls[] = {"https://alice:Pa55word@127.0.0.1:1/EWS/Exchange.asmx"};
    struct ews_client *c = NULL;

    test_config(&cfg, urls, 1, EWS_AUTH_BASIC);
    cfg.log = log_capture;
    logged[0] = '\0';
    cr_expect_eq(ews_client_new(base, &cfg, &c), EWS_E_INVAL);
    cr_expect_null(c);
    cr_expect(strstr(logged, "Pa55word") == NULL, "the password was logged: %s", logged);
    cr_expect(ews_http_url_allowed("https://cas1.example.com/EWS/Exchange.asmx?a=b@c", false),
              "an @ after the host is not user information");
}

Test(transport, timeout_is_server_down)
{
    struct ews_config cfg = {0};
    static const char *urls[1];
    char url[256];
    struct ews_client *c;
    struct res r = {0};
    long long t0;

    urls[0] = tsrv_url(url, sizeof(url), "slow");
    test_config(&cfg, urls, 1, EWS_AUTH_BASIC);
    cfg.timeout = 1;
    cr_assert_eq(ews_client_new(base, &cfg, &c), 0);
    t0 = now_ms();
    cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &r, NULL), 0);
    cr_assert(run_until(base, &r.done, 1, 30));
    cr_expect_eq(r.err.cls, EWS_ERR_SERVER_DOWN);
    cr_expect_geq(r.t_done - t0, 900, "not before the timeout");
    ews_client_destroy(c);
}

Test(transport, queue_full_refused_at_once)
{
    struct ews_config cfg = {0};
    static const char *urls[1];
    char url[256];
    struct ews_client *c;
    struct res r = {0};

    urls[0] = tsrv_url(url, sizeof(url), "conc");
    test_config(&cfg, urls, 1, EWS_AUTH_BASIC);
    cfg.queue = 2;
    cfg.concurrency = 1;
    cr_assert_eq(ews_client_new(base, &cfg, &c), 0);
    /* One in flight, two waiting: the fourth is refused, and never called back. */
    for (int i = 0; i < 3; i++)
        cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &r, NULL), 0);
    cr_expect_eq(ews_get_folder(c, "bob@example.test", on_folder, &r, NULL), EWS_E_QUEUE_FULL);
    cr_assert(run_until(base, &r.done, 3, 30));
    cr_expect_eq(r.rc, 0);
    cr_expect_eq(tsrv_stat("conc", "count"), 3);
    cr_expect_eq(ews_get_folder(c, "bob@example.test", on_folder, &r, NULL), 0, "room again");
    cr_assert(run_until(base, &r.done, 4, 30));
    ews_client_destroy(c);
}

Test(transport, concurrency_cap)
{
    struct ews_config cfg = {0};
    static const char *urls[1];
    char url[256];
    struct ews_client *c;
    struct res r = {0};

    urls[0] = tsrv_url(url, sizeof(url), "conc");
    test_config(&cfg, urls, 1, EWS_AUTH_BASIC);
    cfg.concurrency = 2;
    cr_assert_eq(ews_client_new(base, &cfg, &c), 0);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &r, NULL), 0);
    cr_assert(run_until(base, &r.done, 6, 60));
    cr_expect_eq(r.rc, 0);
    cr_expect_eq(tsrv_stat("conc", "count"), 6);
    cr_expect_leq(tsrv_stat("conc", "max_concurrent"), 2, "never more than concurrency");
    cr_expect_geq(tsrv_stat("conc", "max_concurrent"), 1);
    ews_client_destroy(c);
}

/* ews_op_seconds counts the time in libcurl: a request that waited 0.4 s in the queue behind
 * another and then took 0.4 s at the server reports about 0.4 s, not 0.8. */
Test(transport, op_seconds_leave_out_the_queue)
{
    struct ews_config cfg = {0};
    static const char *urls[1];
    char url[256];
    struct ews_client *c;
    struct res first = {0}, second = {0};
    long long t0;

    urls[0] = tsrv_url(url, sizeof(url), "conc");
    test_config(&cfg, urls, 1, EWS_AUTH_BASIC);
    cfg.concurrency = 1;
    cr_assert_eq(ews_client_new(base, &cfg, &c), 0);
    t0 = now_ms();
    cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &first, &first.op), 0);
    cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &second, &second.op), 0);
    cr_assert(run_until(base, &second.done, 1, 30));
    cr_assert_eq(second.rc, 0);
    cr_expect_geq(second.seconds, 0.39, "the server's 0.4 s are in: %f", second.seconds);
    /* Its wait behind the first (at least that one's 0.4 s) is not. */
    cr_expect_leq(second.seconds * 1000, (double)(second.t_done - t0) - 390, "%.3f s of %lld ms",
                  second.seconds, second.t_done - t0);
    ews_client_destroy(c);
}

/* Nor is an ErrorServerBusy back-off: the two exchanges are summed, the 0.7 s between not. */
Test(transport, op_seconds_leave_out_the_backoff)
{
    struct ews_config cfg = {0};
    static const char *urls[1];
    char url[256];
    struct ews_client *c;
    struct res r = {0};
    long long t0;

    urls[0] = tsrv_url(url, sizeof(url), "busy700");
    test_config(&cfg, urls, 1, EWS_AUTH_BASIC);
    cr_assert_eq(ews_client_new(base, &cfg, &c), 0);
    t0 = now_ms();
    cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &r, &r.op), 0);
    cr_assert(run_until(base, &r.done, 1, 30));
    cr_assert_eq(r.rc, 0);
    cr_expect_eq(tsrv_stat("busy700", "count"), 2);
    cr_expect_gt(r.seconds, 0);
    cr_expect_leq(r.seconds * 1000, (double)(r.t_done - t0) - 690, "%.3f s of %lld ms", r.seconds,
                  r.t_done - t0);
    ews_client_destroy(c);
}

/* A 503 that cannot be waited out within `timeout` reaches the caller with its Retry-After
 * as the wait, never 0 (which reads as "retry at once"). */
Test(transport, http_503_beyond_timeout_reports_retry_after)
{
    struct ews_config cfg = {0};
    static const char *urls[1];
    char url[256];
    struct ews_client *c;
    struct res r = {0};

    urls[0] = tsrv_url(url, sizeof(url), "h503");
    test_config(&cfg, urls, 1, EWS_AUTH_BASIC);
    cfg.timeout = 1;
    cr_assert_eq(ews_client_new(base, &cfg, &c), 0);
    cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &r, NULL), 0);
    cr_assert(run_until(base, &r.done, 1, 30));
    cr_expect_eq(r.err.cls, EWS_ERR_RETRY_LATER);
    cr_expect_eq(r.err.backoff_ms, 1000);
    ews_client_destroy(c);
}

/* Cancelling the operation in flight frees its slot: the one waiting behind it starts. */
Test(transport, cancel_in_flight_starts_the_next)
{
    struct ews_config cfg = {0};
    static const char *urls[1];
    char url[256];
    struct ews_client *c;
    struct ews_op *first = NULL;
    struct res r1 = {0};
    struct res r2 = {0};

    urls[0] = tsrv_url(url, sizeof(url), "conc");
    test_config(&cfg, urls, 1, EWS_AUTH_BASIC);
    cfg.concurrency = 1;
    cr_assert_eq(ews_client_new(base, &cfg, &c), 0);
    cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &r1, &first), 0);
    cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &r2, NULL), 0);
    ews_cancel(first);
    cr_assert(run_until(base, &r2.done, 1, 20), "the queued request never started");
    cr_expect_eq(r2.rc, 0, "%s %s", r2.err.code, r2.err.message);
    cr_expect_eq(r1.done, 0, "no callback for the cancelled operation");
    ews_client_destroy(c);
}

/* MODE answers ErrorServerBusy (BackOffMilliseconds = WANT_MS) once, then normally. */
static void
check_backoff(const char *mode, long want_ms)
{
    struct ews_config cfg = {0};
    static const char *urls[1];
    char url[256];
    struct ews_client *c;
    struct res r = {0};

    urls[0] = tsrv_url(url, sizeof(url), mode);
    test_config(&cfg, urls, 1, EWS_AUTH_BASIC);
    cr_assert_eq(ews_client_new(base, &cfg, &c), 0);
    cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &r, NULL), 0);
    cr_assert(run_until(base, &r.done, 1, 30));
    cr_expect_eq(r.rc, 0, "retried after the back-off: %s", r.err.code);
    cr_expect_eq(tsrv_stat(mode, "count"), 2);
    /* Measured by the server from its busy answer to the retry: at least the back-off (no
     * upper bound: the machine may be slow). */
    cr_expect_geq(tsrv_stat(mode, "gap_ms"), want_ms);
    ews_client_destroy(c);
}

Test(transport, server_busy_fault_waits_backoff)
{
    check_backoff("busy700", 700);
}

Test(transport, server_busy_inside_internal_error_waits_backoff)
{
    check_backoff("busyin600", 600);
}

Test(transport, http_503_waits_retry_after)
{
    check_backoff("h503", 1000);
}

Test(transport, backoff_beyond_timeout_is_reported)
{
    struct ews_config cfg = {0};
    static const char *urls[1];
    char url[256];
    struct ews_client *c;
    struct ews_server_status st;
    struct res r = {0};

    urls[0] = tsrv_url(url, sizeof(url), "busy5000");
    test_config(&cfg, urls, 1, EWS_AUTH_BASIC);
    cfg.timeout = 2;
    cr_assert_eq(ews_client_new(base, &cfg, &c), 0);
    cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &r, NULL), 0);
    cr_assert(run_until(base, &r.done, 1, 30));
    cr_expect_eq(r.rc, EWS_E_RESPONSE);
    cr_expect_eq(r.err.cls, EWS_ERR_RETRY_LATER);
    cr_expect_eq(r.err.backoff_ms, 5000);
    cr_expect_eq(tsrv_stat("busy5000", "count"), 1);
    cr_assert_eq(ews_client_server_status(c, 0, &st), 0);
    cr_expect_gt(st.backoff_left_ms, 0, "the server's back-off still runs");
    /* The next request waits it out too (checked from the client side: queued, not sent). */
    cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &r, NULL), 0);
    cr_assert_eq(ews_client_server_status(c, 0, &st), 0);
    cr_expect_eq(st.queued, 1);
    cr_expect_eq(st.in_flight, 0);
    ews_client_destroy(c);
}

Test(transport, server_down_then_reassigned)
{
    struct ews_config cfg = {0};
    char dead[256];
    char live[256];
    const char *urls[2];
    struct ews_client *c;
    struct ews_subscribe_params p = {.kind = EWS_SUB_PULL, .timeout = 30};
    struct res r = {0};

    snprintf(dead, sizeof(dead), "https://127.0.0.1:%d/EWS/Exchange.asmx", dead_port());
    urls[0] = dead;
    urls[1] = tsrv_url(live, sizeof(live), "basic");
    test_config(&cfg, urls, 2, EWS_AUTH_BASIC);
    cfg.probe_interval = 1;
    cr_assert_eq(ews_client_new(base, &cfg, &c), 0);
    cr_assert_eq(ews_subscribe(c, "a@example.test", &p, on_sub, &r, NULL), 0);
    cr_expect_str_eq(ews_client_server_of(c, "a@example.test"), dead, "round robin: first");
    cr_assert(run_until(base, &r.done, 1, 30));
    cr_expect_eq(r.err.cls, EWS_ERR_SERVER_DOWN);
    cr_expect_str_eq(ews_client_server_of(c, "a@example.test"), live,
                     "a failed subscription moves the mailbox to the next healthy server");
    cr_assert_eq(ews_subscribe(c, "a@example.test", &p, on_sub, &r, NULL), 0);
    cr_assert(run_until(base, &r.done, 2, 30));
    cr_expect_eq(r.rc, 0, "%s %s", r.err.code, r.err.message);
    cr_expect_str_eq(r.text, "SUB-1");
    /* A new mailbox skips the down server while its probes keep failing. */
    cr_assert_eq(ews_subscribe(c, "b@example.test", &p, on_sub, &r, NULL), 0);
    cr_expect_str_eq(ews_client_server_of(c, "b@example.test"), live);
    cr_assert(run_until(base, &r.done, 3, 30));
    ews_client_destroy(c);
}

/* Requests queued for a server when it goes down move with their mailbox to a healthy one,
 * instead of each failing (or waiting out its timeout) against the down server. */
Test(transport, queued_requests_leave_a_server_that_went_down)
{
    struct ews_config cfg = {0};
    char dead[256];
    char live[256];
    const char *urls[2];
    struct ews_client *c;
    struct res r[3] = {{0}};

    snprintf(dead, sizeof(dead), "https://127.0.0.1:%d/EWS/Exchange.asmx", dead_port());
    urls[0] = dead;
    urls[1] = tsrv_url(live, sizeof(live), "basic");
    test_config(&cfg, urls, 2, EWS_AUTH_BASIC);
    cfg.concurrency = 1;
    cfg.probe_interval = 60;
    cr_assert_eq(ews_client_new(base, &cfg, &c), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(ews_get_folder(c, "a@example.test", on_folder, &r[i], NULL), 0);
    cr_expect_str_eq(ews_client_server_of(c, "a@example.test"), dead, "round robin: first");
    for (int i = 0; i < 3; i++)
        cr_assert(run_until(base, &r[i].done, 1, 30));
    cr_expect_eq(r[0].err.cls, EWS_ERR_SERVER_DOWN);
    cr_expect_eq(r[1].rc, 0, "%s", r[1].err.message);
    cr_expect_eq(r[2].rc, 0, "%s", r[2].err.message);
    cr_expect_eq(tsrv_stat("basic", "count"), 2);
    ews_client_destroy(c);
}

static void
on_tick(evutil_socket_t fd, short events, void *arg)
{
    (void)fd;
    (void)events;
    (*(int *)arg)++;
}

Test(transport, down_server_back_after_probe)
{
    struct ews_config cfg = {0};
    static const char *urls[1];
    char url[256];
    struct ews_client *c;
    struct ews_server_status st = {0};
    struct res r = {0};
    struct timeval tv = {0, 200000};
    struct event *tick;
    int ticks = 0;

    urls[0] = tsrv_url(url, sizeof(url), "slowonce");
    test_config(&cfg, urls, 1, EWS_AUTH_BASIC);
    cfg.timeout = 1;
    cfg.probe_interval = 1;
    cr_assert_eq(ews_client_new(base, &cfg, &c), 0);
    cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &r, NULL), 0);
    cr_assert(run_until(base, &r.done, 1, 30));
    cr_expect_eq(r.err.cls, EWS_ERR_SERVER_DOWN);
    cr_assert_eq(ews_client_server_status(c, 0, &st), 0);
    cr_expect_not(st.healthy, "a timeout marks the server down");
    tick = event_new(base, -1, EV_PERSIST, on_tick, &ticks);
    evtimer_add(tick, &tv);
    /* The probe (GetFolder, answered at once now) brings it back within a few seconds. */
    for (int i = 0; i < 100 && !st.healthy; i++) {
        int want = ticks + 1;

        cr_assert(run_until(base, &ticks, want, 5));
        ews_client_server_status(c, 0, &st);
    }
    event_free(tick);
    cr_expect(st.healthy, "healthy again after a successful probe");
    cr_expect_geq(tsrv_stat("slowonce", "count"), 2, "the probe reached the server");
    ews_client_destroy(c);
}

Test(transport, subscription_error_reassigns)
{
    struct ews_config cfg = {0};
    char a[256];
    char b[256];
    const char *urls[2];
    struct ews_client *c;
    struct ews_subscribe_params p = {.kind = EWS_SUB_PULL, .timeout = 30};
    struct res r = {0};

    urls[0] = tsrv_url(a, sizeof(a), "subfail");
    urls[1] = tsrv_url(b, sizeof(b), "basic");
    test_config(&cfg, urls, 2, EWS_AUTH_BASIC);
    cr_assert_eq(ews_client_new(base, &cfg, &c), 0);
    cr_assert_eq(ews_subscribe(c, "a@example.test", &p, on_sub, &r, NULL), 0);
    cr_assert(run_until(base, &r.done, 1, 30));
    cr_expect_eq(r.err.cls, EWS_ERR_RESUBSCRIBE);
    cr_expect_str_eq(ews_client_server_of(c, "a@example.test"), b);
    ews_client_destroy(c);
}

static void
on_cal(void *ud, int rc, struct ews_calendar_view *v, const struct ews_error *err)
{
    struct res *r = ud;

    r->rc = rc;
    r->err = *err;
    if (rc == 0) {
        r->n_items = v->n_items;
        r->complete = v->includes_last_item_in_range;
        for (size_t i = 0; i < v->n_items && i < 32; i++) {
            r->starts[i] = v->items[i].start;
            snprintf(r->ids[i], sizeof(r->ids[i]), "%s", v->items[i].item_id);
        }
    }
    r->done++;
}

Test(transport, calendar_view_split_and_merged)
{
    struct ews_config cfg = {0};
    char url[256];
    struct ews_client *c = client_for("cal", EWS_AUTH_BASIC, &cfg, url, sizeof(url));
    struct res r = {0};
    const time_t base_t = 1795420800; /* the server's calendar: 12 items, one an hour */

    cr_assert_eq(ews_calendar_view(c, "bob@example.test", base_t - 3600, base_t + 86400, 3, on_cal,
                                   &r, NULL),
                 0);
    cr_assert(run_until(base, &r.done, 1, 60));
    cr_assert_eq(r.rc, 0, "%s %s", r.err.code, r.err.message);
    cr_expect_eq(r.n_items, 12, "every item, once");
    for (size_t i = 0; i < r.n_items && i < 12; i++)
        cr_expect_eq(r.starts[i], base_t + (time_t)i * 3600, "sorted by start (%zu)", i);
    cr_expect_gt(tsrv_stat("cal", "count"), 1, "the window was split");
    cr_expect(r.complete);
    ews_client_destroy(c);
}

/* A server that always answers IncludesLastItemInRange="false" would drive the split down to
 * one-minute windows (thousands of requests for a day): the view stops at 64 requests and
 * comes back marked incomplete, with the cap logged once. */
Test(transport, calendar_view_split_is_capped)
{
    struct ews_config cfg = {0};
    char url[256];
    static const char *urls[1];
    struct ews_client *c;
    struct res r = {0};
    const time_t base_t = 1795420800;
    const char *warn;

    urls[0] = tsrv_url(url, sizeof(url), "calcut");
    test_config(&cfg, urls, 1, EWS_AUTH_BASIC);
    cfg.log = log_warnings;
    logged[0] = '\0';
    c = client_for("calcut", EWS_AUTH_BASIC, &cfg, url, sizeof(url));
    cr_assert_eq(ews_calendar_view(c, "bob@example.test", base_t - 3600, base_t + 86400, 3, on_cal,
                                   &r, NULL),
                 0);
    cr_assert(run_until(base, &r.done, 1, 120));
    cr_assert_eq(r.rc, 0, "%s %s", r.err.code, r.err.message);
    cr_expect(!r.complete, "a view cut everywhere is not complete");
    cr_expect_gt(r.n_items, 0, "what was collected is returned");
    cr_expect_gt(tsrv_stat("calcut", "count"), 32, "the window was split");
    cr_expect_leq(tsrv_stat("calcut", "count"), 64, "no more requests than the cap");
    warn = strstr(logged, "still cut after");
    cr_expect_not_null(warn, "%s", logged);
    cr_expect(warn == NULL || strstr(warn + 1, "still cut after") == NULL, "logged once: %s",
              logged);
    ews_client_destroy(c);
}

static int
on_frame(void *ud, const struct ews_stream_frame *f)
{
    struct res *r = ud;

    r->frames++;
    if (f->status == EWS_CONN_CLOSED)
        r->closed_frames++;
    if (f->notifications.n_items > 0)
        r->event_frames++;
    return 0;
}

static void
on_done(void *ud, int rc, const struct ews_error *err)
{
    struct res *r = ud;

    r->rc = rc;
    r->err = *err;
    r->done++;
}

Test(transport, streaming_frames_as_they_arrive)
{
    struct ews_config cfg = {0};
    char url[256];
    struct ews_client *c = client_for("stream", EWS_AUTH_BASIC, &cfg, url, sizeof(url));
    const char *ids[] = {"SUB-1"};
    struct res r = {0};

    cr_assert_eq(
        ews_get_streaming_events(c, "bob@example.test", ids, 1, 1, on_frame, on_done, &r, NULL), 0);
    cr_assert(run_until(base, &r.done, 1, 30));
    cr_expect_eq(r.rc, 0, "%s %s", r.err.code, r.err.message);
    cr_expect_eq(r.frames, 3);
    cr_expect_eq(r.event_frames, 1);
    cr_expect_eq(r.closed_frames, 1);
    ews_client_destroy(c);
}

/* An engine reacts to a notification frame by asking for the calendar: an operation started
 * from inside the frame callback must go out and complete like any other. */
struct frame_follow {
    struct ews_client *c;
    struct res stream;
    struct res folder;
    int started;
};

static int
on_frame_follow(void *ud, const struct ews_stream_frame *f)
{
    struct frame_follow *ff = ud;

    if (f->notifications.n_items > 0 &&
        ews_get_folder(ff->c, "bob@example.test", on_folder, &ff->folder, NULL) == 0)
        ff->started++;
    return 0;
}

static void
on_done_follow(void *ud, int rc, const struct ews_error *err)
{
    struct frame_follow *ff = ud;

    on_done(&ff->stream, rc, err);
}

Test(transport, operation_started_from_a_frame_callback)
{
    struct ews_config cfg = {0};
    char url[256];
    const char *ids[] = {"SUB-1"};
    struct frame_follow ff = {0};

    ff.c = client_for("stream", EWS_AUTH_BASIC, &cfg, url, sizeof(url));
    cr_assert_eq(ews_get_streaming_events(ff.c, "bob@example.test", ids, 1, 1, on_frame_follow,
                                          on_done_follow, &ff, NULL),
                 0);
    cr_assert(run_until(base, &ff.stream.done, 1, 30));
    cr_assert_eq(ff.started, 1);
    cr_assert(run_until(base, &ff.folder.done, 1, 30));
    cr_expect_eq(ff.folder.rc, 0, "%s %s", ff.folder.err.code, ff.folder.err.message);
    cr_expect_eq(ff.stream.rc, 0, "%s %s", ff.stream.err.code, ff.stream.err.message);
    ews_client_destroy(ff.c);
}

/* A mailbox is copied into X-AnchorMailbox: a line break in it would add headers of its
 * own choosing to the request (credentials of another scheme, a different Host). */
Test(transport, line_break_in_a_header_value_refused)
{
    struct ews_config cfg = {0};
    char url[256];
    struct ews_client *c = client_for("basic", EWS_AUTH_BASIC, &cfg, url, sizeof(url));
    struct res r = {0};

    cr_assert_eq(ews_get_folder(c, "bob@example.test\r\nX-Injected: 1", on_folder, &r, NULL), 0);
    cr_assert(run_until(base, &r.done, 1, 30));
    cr_expect_eq(r.rc, EWS_E_TRANSPORT, "%s", r.err.message);
    cr_expect_eq(tsrv_stat("basic", "count"), 0, "nothing was sent");
    ews_client_destroy(c);
}

/* The stream bypasses the queue, so its caller must learn the wait a 503 asked for. */
Test(transport, stream_503_reports_retry_after)
{
    struct ews_config cfg = {0};
    char url[256];
    const char *ids[] = {"SUB-1"};
    struct ews_client *c = client_for("h503", EWS_AUTH_BASIC, &cfg, url, sizeof(url));
    struct res r = {0};

    cr_assert_eq(
        ews_get_streaming_events(c, "bob@example.test", ids, 1, 1, on_frame, on_done, &r, NULL), 0);
    cr_assert(run_until(base, &r.done, 1, 30));
    cr_expect_eq(r.err.cls, EWS_ERR_RETRY_LATER);
    cr_expect_eq(r.err.backoff_ms, 1000);
    ews_client_destroy(c);
}

Test(transport, bearer_token_reread)
{
    struct ews_config cfg = {0};
    static const char *urls[1];
    char url[256];
    char path[600];
    struct ews_client *c;
    struct res r = {0};
    FILE *f;
    struct timespec ts[2] = {{2000000000, 0}, {2000000000, 0}};

    snprintf(path, sizeof(path), "%s/token", tsrv.dir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("good-1\n", f);
    fclose(f);
    urls[0] = tsrv_url(url, sizeof(url), "bearer");
    test_config(&cfg, urls, 1, EWS_AUTH_BEARER);
    cfg.token_file = path;
    cr_assert_eq(ews_client_new(base, &cfg, &c), 0);
    cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &r, NULL), 0);
    cr_assert(run_until(base, &r.done, 1, 30));
    cr_expect_eq(r.rc, 0, "%s %s", r.err.code, r.err.message);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("expired\n", f);
    fclose(f);
    cr_assert_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
    cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &r, NULL), 0);
    cr_assert(run_until(base, &r.done, 2, 30));
    cr_expect_eq(r.err.cls, EWS_ERR_AUTH_FAILURE, "the new token was read and sent");
    ews_client_destroy(c);
}

static void
on_disco(void *ud, const char *url, const struct ews_error *err)
{
    struct res *r = ud;

    r->rc = url != NULL ? 0 : -1;
    r->err = *err;
    snprintf(r->text, sizeof(r->text), "%s", url != NULL ? url : "");
    r->done++;
}

/* A client whose autodiscover host names reach the test server. */
static struct ews_client *
discovery_client(const char *const *urls)
{
    static char map[12][128];
    static const char *maps[12];
    const char *hosts[] = {
        "example.test", "autodiscover.example.test", "redir.test",  "autodiscover.redir.test",
        "soap.test",    "autodiscover.soap.test",    "hijack.test", "autodiscover.hijack.test"};
    struct ews_config cfg;
    struct ews_client *c;
    size_t n = 0;

    test_config(&cfg, urls, 1, EWS_AUTH_BASIC);
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        snprintf(map[n], sizeof(map[n]), "%s:443:127.0.0.1:%d", hosts[i], tsrv.port);
        maps[n] = map[n];
        n++;
    }
    /* The redirect GET goes to port 80 of autodiscover.redir.test (and .hijack.test). */
    snprintf(map[n], sizeof(map[n]), "autodiscover.redir.test:80:127.0.0.1:%d", tsrv.http_port);
    maps[n] = map[n];
    n++;
    snprintf(map[n], sizeof(map[n]), "autodiscover.hijack.test:80:127.0.0.1:%d", tsrv.http_port);
    maps[n] = map[n];
    n++;
    cfg.connect_to_for_tests = maps;
    cfg.n_connect_to = n;
    cr_assert_eq(ews_client_new(base, &cfg, &c), 0);
    return c;
}

Test(transport, autodiscover_pox_second_place)
{
    static const char *urls[] = {"autodiscover"};
    struct ews_client *c = discovery_client(urls);
    char want[256];
    struct res r = {0};

    cr_assert_eq(ews_autodiscover(c, "bob@example.test", on_disco, &r, NULL), 0);
    cr_assert(run_until(base, &r.done, 1, 30));
    cr_expect_str_eq(r.text, tsrv_url(want, sizeof(want), "basic"), "%s", r.err.message);
    cr_expect_eq(tsrv_stat("ad-example.test", "count"), 1, "https://DOMAIN asked first");
    ews_client_destroy(c);
}

Test(transport, autodiscover_http_redirect)
{
    static const char *urls[] = {"autodiscover"};
    struct ews_client *c = discovery_client(urls);
    char want[256];
    struct res r = {0};

    cr_assert_eq(ews_autodiscover(c, "bob@redir.test", on_disco, &r, NULL), 0);
    cr_assert(run_until(base, &r.done, 1, 30));
    cr_expect_str_eq(r.text, tsrv_url(want, sizeof(want), "basic"), "%s", r.err.message);
    cr_expect_eq(tsrv_stat("ad-redirect", "count"), 1);
    ews_client_destroy(c);
}

Test(transport, autodiscover_http_redirect_to_another_domain_not_followed)
{
    static const char *urls[] = {"autodiscover"};
    struct ews_client *c = discovery_client(urls);
    struct res r = {0};
    long final_before = tsrv_stat("ad-autodiscover.redir.test", "count");

    cr_assert_eq(ews_autodiscover(c, "bob@hijack.test", on_disco, &r, NULL), 0);
    cr_assert(run_until(base, &r.done, 1, 30));
    cr_expect_neq(r.rc, 0, "discovery fails");
    cr_expect_eq(tsrv_stat("ad-hijack", "count"), 1, "the redirect GET was asked");
    cr_expect_eq(tsrv_stat("ad-autodiscover.redir.test", "count"), final_before,
                 "its target in another domain got no request (no credentials)");
    ews_client_destroy(c);
}

Test(transport, autodiscover_soap_user_settings)
{
    static const char *urls[] = {"autodiscover"};
    struct ews_client *c = discovery_client(urls);
    char want[256];
    struct res r = {0};

    cr_assert_eq(ews_autodiscover(c, "bob@soap.test", on_disco, &r, NULL), 0);
    cr_assert(run_until(base, &r.done, 1, 30));
    cr_expect_str_eq(r.text, tsrv_url(want, sizeof(want), "basic"), "%s", r.err.message);
    ews_client_destroy(c);
}

Test(transport, autodiscover_mode_routes_operations)
{
    static const char *urls[] = {"autodiscover"};
    struct ews_client *c = discovery_client(urls);
    char want[256];
    struct res r = {0};

    cr_expect_eq(ews_client_n_servers(c), 0);
    cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &r, NULL), 0);
    cr_assert_eq(ews_get_folder(c, "carol@example.test", on_folder, &r, NULL), 0);
    cr_assert(run_until(base, &r.done, 2, 30));
    cr_expect_eq(r.rc, 0, "%s %s", r.err.code, r.err.message);
    cr_expect_eq(ews_client_n_servers(c), 1);
    cr_expect_str_eq(ews_client_server_of(c, "carol@example.test"),
                     tsrv_url(want, sizeof(want), "basic"));
    cr_expect_eq(tsrv_stat("ad-autodiscover.example.test", "count"), 1,
                 "one discovery for the domain");
    ews_client_destroy(c);
}

Test(transport, autodiscover_nothing_found)
{
    static const char *urls[] = {"autodiscover"};
    struct ews_client *c = discovery_client(urls);
    struct res r = {0};

    cr_assert_eq(ews_get_folder(c, "bob@nowhere.invalid", on_folder, &r, NULL), 0);
    cr_assert(run_until(base, &r.done, 1, 60));
    cr_expect_eq(r.rc, EWS_E_RESPONSE);
    cr_expect_eq(r.err.cls, EWS_ERR_REDISCOVER);
    ews_client_destroy(c);
}

/* A failed discovery fails the operations that waited for it, and only those: one the
 * callback submits again for the same domain waits for a new discovery, so its callback
 * cannot come before the loop has turned. */
struct disco_retry {
    struct ews_client *c;
    int done;
    bool loop_turned;
    bool early;
    int rcs[2];
};

static void
on_loop_turned(evutil_socket_t fd, short events, void *ud)
{
    (void)fd;
    (void)events;
    ((struct disco_retry *)ud)->loop_turned = true;
}

static void
on_folder_retry(void *ud, int rc, struct ews_folder_result *f, const struct ews_error *err)
{
    struct disco_retry *d = ud;
    struct timeval zero = {0, 0};

    (void)f;
    (void)err;
    if (d->done == 1 && !d->loop_turned)
        d->early = true;
    if (d->done < 2)
        d->rcs[d->done] = rc;
    d->done++;
    if (d->done == 1) {
        cr_expect_eq(event_base_once(base, -1, EV_TIMEOUT, on_loop_turned, d, &zero), 0);
        cr_expect_eq(ews_get_folder(d->c, "bob@nowhere.invalid", on_folder_retry, d, NULL), 0);
    }
}

Test(transport, autodiscover_failure_spares_a_new_request)
{
    static const char *urls[] = {"autodiscover"};
    struct disco_retry d = {0};

    d.c = discovery_client(urls);
    cr_assert_eq(ews_get_folder(d.c, "bob@nowhere.invalid", on_folder_retry, &d, NULL), 0);
    cr_assert(run_until(base, &d.done, 2, 120));
    cr_expect_not(d.early, "the new request was failed with the old discovery's error");
    cr_expect_eq(d.rcs[0], EWS_E_RESPONSE);
    cr_expect_eq(d.rcs[1], EWS_E_RESPONSE);
    ews_client_destroy(d.c);
}

Test(transport, pin_and_timeout_setters)
{
    struct ews_config cfg = {0};
    char a[256];
    char b[256];
    const char *urls[2];
    struct ews_client *c;
    struct res r = {0};

    urls[0] = tsrv_url(a, sizeof(a), "basic");
    urls[1] = tsrv_url(b, sizeof(b), "slow");
    test_config(&cfg, urls, 2, EWS_AUTH_BASIC);
    cr_assert_eq(ews_client_new(base, &cfg, &c), 0);
    cr_expect_eq(ews_client_pin(c, "bob@example.test", "https://elsewhere/EWS/Exchange.asmx"),
                 EWS_E_INVAL);
    cr_assert_eq(ews_client_pin(c, "bob@example.test", b), 0);
    cr_expect_str_eq(ews_client_server_of(c, "bob@example.test"), b);
    cr_expect_eq(ews_client_set_timeout(c, 0), EWS_E_INVAL);
    cr_assert_eq(ews_client_set_timeout(c, 1), 0);
    cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &r, NULL), 0);
    cr_assert(run_until(base, &r.done, 1, 30));
    cr_expect_eq(r.err.cls, EWS_ERR_SERVER_DOWN, "the pinned (slow) server timed out after 1 s");
    cr_expect_eq(tsrv_stat("slow", "count"), 1);
    cr_expect_eq(tsrv_stat("basic", "count"), 0);
    ews_client_destroy(c);
}

Test(transport, cancel_calls_nothing)
{
    struct ews_config cfg = {0};
    char url[256];
    struct ews_client *c = client_for("conc", EWS_AUTH_BASIC, &cfg, url, sizeof(url));
    struct ews_op *op1;
    struct ews_op *op2;
    struct res r = {0};
    struct res other = {0};

    cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &r, &op1), 0);
    cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &r, &op2), 0);
    cr_assert_eq(ews_get_folder(c, "bob@example.test", on_folder, &other, NULL), 0);
    ews_cancel(op1);
    ews_cancel(op2);
    cr_assert(run_until(base, &other.done, 1, 30));
    cr_expect_eq(r.done, 0, "cancelled operations are never called back");
    ews_client_destroy(c);
}
