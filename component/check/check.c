/* The troubleshooter (check.h): Cisco's "Exchange Server Status" page, for every server.
 *
 * Each server goes through four steps in order; a step that cannot run because an earlier one
 * failed is reported as skipped, so that the first failure is the one to fix. The EWS steps
 * use the ews/ client on a private event loop with this one server as its only URL, so the
 * answer is that server's, not the pool's. */
#include "check.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "certs.h"
#include "ews.h"
#include "config/config.h"

#define DETAIL_LEN 512
#define ACTION_LEN 300

enum step_result { STEP_PASS, STEP_FAIL, STEP_SKIP };

enum step_id { STEP_REACH, STEP_CERT, STEP_AUTH, STEP_IMPERSONATE, STEP_COUNT };

struct step {
    enum step_result result;
    char detail[DETAIL_LEN];
    char action[ACTION_LEN];
};

struct server_check {
    const char *url; /* borrowed from the configuration */
    char host[256];
    int port;
    char *owned_url; /* the URL autodiscover found, when it did */
    struct cert_report *cert;
    /* NULL when the step did not run */ /* NULL when the step did not run */
    struct step steps[STEP_COUNT];
};

/* The state of one synchronous EWS call on the private loop. */
struct ews_wait {
    struct event_base *base;
    bool done;
    int rc;
    struct ews_error err;
    char url[1024]; /* autodiscover's answer */
};

/* Starts one operation on C for the synchronous runner; ARG is the operation's input. */
typedef int (*ews_start_fn)(struct ews_client *c, const char *arg, struct ews_wait *w);

static const char *const step_names[STEP_COUNT] = {"reachability", "certificate", "authentication",
                                                   "impersonation"};

static void step_set(struct step *s, enum step_result r, const char *action, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int parse_url(const char *url, struct server_check *sc);
static void run_reach(const struct cp_config *cfg, struct server_check *sc);
static void run_cert(const struct cp_config *cfg, struct server_check *sc);
static const char *cert_action(enum cert_status st);
static void folder_done(void *ud, int rc, struct ews_folder_result *res,
                        const struct ews_error *err);
static void wait_timeout(evutil_socket_t fd, short what, void *ud);
static void ews_log_bridge(void *ud, int level, const char *area, const char *msg);
static int start_folder(struct ews_client *c, const char *mailbox, struct ews_wait *w);
static void discover_done(void *ud, const char *ews_url, const struct ews_error *err);
static int start_discover(struct ews_client *c, const char *email, struct ews_wait *w);
static int ews_run_sync(const struct cp_config *cfg, const char *url,
                        enum ews_impersonation_kind imp, ews_start_fn start, const char *arg,
                        struct ews_wait *w);
static char *discover(const struct cp_config *cfg, const char *mailbox, struct step *fail);
static enum ews_impersonation_kind imp_kind(enum cp_impersonation imp);
static void run_auth(const struct cp_config *cfg, struct server_check *sc);
static const char *mailbox_action(const char *code, const char *account, char *buf, size_t len);
static void run_impersonate(const struct cp_config *cfg, const char *mailbox,
                            struct server_check *sc);
static void check_server(const struct cp_config *cfg, const char *url, const char *mailbox,
                         struct server_check *sc);
static void print_human(const struct server_check *sc, size_t n, FILE *out);
static void json_str(FILE *out, const char *s);
static void print_json(const struct server_check *sc, size_t n, bool ok, FILE *out);
static bool server_ok(const struct server_check *sc);
static void cert_options_of(const struct cp_config *cfg, struct cert_options *opt);

static void
step_set(struct step *s, enum step_result r, const char *action, const char *fmt, ...)
{
    va_list ap;

    s->result = r;
    va_start(ap, fmt);
    vsnprintf(s->detail, sizeof(s->detail), fmt, ap);
    va_end(ap);
    snprintf(s->action, sizeof(s->action), "%s", action != NULL ? action : "");
}

static void
cert_options_of(const struct cp_config *cfg, struct cert_options *opt)
{
    memset(opt, 0, sizeof(*opt));
    opt->trust_dir = cfg->trust_dir;
    opt->ca_file = cfg->ca_file;
    opt->timeout = cfg->timeout;
    opt->refuse_weak = cfg->weak_certificates == CP_WEAK_REFUSE;
}

/* Splits "https://HOST[:PORT]/..." into SC's host and port. Returns 0 or -1. */
static int
parse_url(const char *url, struct server_check *sc)
{
    const char *p;
    const char *end;
    char *host = NULL;
    char hostport[300];
    size_t len;
    int rc;

    /* https only, as for the daemon: EWS credentials never travel in clear. */
    if (strncasecmp(url, "https://", 8) != 0)
        return -1;
    p = url + 8;
    end = p + strcspn(p, "/?#");
    len = (size_t)(end - p);
    if (len == 0 || len >= sizeof(hostport) || memchr(p, '@', len) != NULL)
        return -1;
    memcpy(hostport, p, len);
    hostport[len] = '\0';
    rc = cert_parse_hostport(hostport, 443, &host, &sc->port);
    if (rc != 0)
        return -1;
    snprintf(sc->host, sizeof(sc->host), "%s", host);
    free(host);
    return 0;
}

static void
run_reach(const struct cp_config *cfg, struct server_check *sc)
{
    char err[300];

    if (cert_probe_tcp(sc->host, sc->port, cfg->timeout, err, sizeof(err)) == 0)
        step_set(&sc->steps[STEP_REACH], STEP_PASS, NULL, "%s port %d accepts connections",
                 sc->host, sc->port);
    else
        step_set(&sc->steps[STEP_REACH], STEP_FAIL,
                 "check the host name in ews_urls, DNS, routing and firewalls between this "
                 "machine and the server, and that IIS runs on the server",
                 "%s", err);
}

/* The recommended action for a certificate status (docs/certificates.md explains each). */
static const char *
cert_action(enum cert_status st)
{
    switch (st) {
    case CERT_MISSING_CHAIN:
        return "import the issuing CA: calpresence-certs -c FILE import HOST:PORT (or add its "
               "PEM with calpresence-certs add when the server does not send it)";
    case CERT_CN_MISMATCH:
    case CERT_SAN_MISMATCH:
        return "use the name the certificate was issued for in ews_urls, or have the "
               "certificate re-issued with this name as a SAN";
    case CERT_BAD_CERTIFICATE:
        return "have the server certificate re-issued (valid dates, SHA-256, RSA 2048 or "
               "better) and bound in IIS; check this machine's clock";
    case CERT_NETWORK_ERROR:
        return "the server accepts TCP but does not complete TLS: check the IIS HTTPS binding "
               "and any TLS-inspecting proxy";
    default:
        return "run calpresence-certs -c FILE fetch HOST:PORT and read docs/certificates.md";
    }
}

static void
run_cert(const struct cp_config *cfg, struct server_check *sc)
{
    struct step *s = &sc->steps[STEP_CERT];
    struct cert_options opt;

    cert_options_of(cfg, &opt);
    if (cert_check_server(&opt, sc->host, sc->port, NULL, &sc->cert) != 0) {
        step_set(s, STEP_FAIL, "out of memory", "failed: out of memory");
        return;
    }
    step_set(s, sc->cert->status == CERT_VERIFIED ? STEP_PASS : STEP_FAIL,
             sc->cert->status == CERT_VERIFIED ? NULL : cert_action(sc->cert->status), "%s: %s",
             cert_status_token(sc->cert->status), sc->cert->reason != NULL ? sc->cert->reason : "");
}

static void
folder_done(void *ud, int rc, struct ews_folder_result *res, const struct ews_error *err)
{
    struct ews_wait *w = ud;

    (void)res;
    w->done = true;
    w->rc = rc;
    if (err != NULL)
        w->err = *err;
    event_base_loopbreak(w->base);
}

static void
wait_timeout(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(ud);
}

/* The ews/ library logs through this into the component's log. */
static void
ews_log_bridge(void *ud, int level, const char *area, const char *msg)
{
    (void)ud;
    cp_log((enum cp_log_level)level, area, "%s", msg);
}

static enum ews_impersonation_kind
imp_kind(enum cp_impersonation imp)
{
    switch (imp) {
    case CP_IMP_SMTP:
        return EWS_IMP_SMTP;
    case CP_IMP_UPN:
        return EWS_IMP_UPN;
    case CP_IMP_SID:
        return EWS_IMP_SID;
    default:
        return EWS_IMP_NONE;
    }
}

static int
start_folder(struct ews_client *c, const char *mailbox, struct ews_wait *w)
{
    return ews_get_folder(c, mailbox, folder_done, w, NULL);
}

static void
discover_done(void *ud, const char *ews_url, const struct ews_error *err)
{
    struct ews_wait *w = ud;

    w->done = true;
    w->rc = ews_url != NULL ? 0 : -1;
    if (ews_url != NULL)
        snprintf(w->url, sizeof(w->url), "%s", ews_url);
    if (err != NULL)
        w->err = *err;
    event_base_loopbreak(w->base);
}

static int
start_discover(struct ews_client *c, const char *email, struct ews_wait *w)
{
    return ews_autodiscover(c, email, discover_done, w, NULL);
}

/* Runs one operation (START with ARG) through URL alone ("autodiscover" for discovery), on a
 * private loop bounded by the configured timeout plus a margin for autodiscover's several
 * attempts. Returns 0 when it completed (W holds the outcome), negative when it could not
 * start or did not end in time. */
static int
ews_run_sync(const struct cp_config *cfg, const char *url, enum ews_impersonation_kind imp,
             ews_start_fn start, const char *arg, struct ews_wait *w)
{
    struct ews_config ec;
    struct ews_client *client = NULL;
    struct timeval tv = {.tv_sec = 4L * cfg->timeout + 5};
    struct event *guard = NULL;
    int rc;

    memset(w, 0, sizeof(*w));
    char why[160];
    /* An unknown server_version is --check's to report in its own step, not a reason not to
     * probe: the probes then speak Exchange 2010 SP2, which every version answers. */
    if (cp_ews_config_fill(cfg, &ec, why, sizeof(why)) != 0)
        ec.server_version = EWS_V2010_SP2;
    /* This one server, so that the answer is its own and not the pool's. */
    ec.urls = &url;
    ec.n_urls = 1;
    ec.impersonation = imp;
    ec.timeout = cfg->timeout > 0 ? cfg->timeout : 30;
    ec.queue = 4;
    ec.concurrency = 1;
    ec.log = ews_log_bridge;
    w->base = event_base_new();
    if (w->base == NULL)
        return -1;
    rc = ews_client_new(w->base, &ec, &client);
    if (rc == 0)
        rc = start(client, arg, w);
    if (rc == 0) {
        guard = evtimer_new(w->base, wait_timeout, w->base);
        if (guard != NULL)
            evtimer_add(guard, &tv);
        while (!w->done && event_base_dispatch(w->base) == 0 && guard != NULL &&
               evtimer_pending(guard, NULL))
            ;
        rc = w->done ? 0 : -1;
    }
    if (guard != NULL)
        event_free(guard);
    if (client != NULL)
        ews_client_destroy(client);
    event_base_free(w->base);
    w->base = NULL;
    return rc;
}

static void
run_auth(const struct cp_config *cfg, struct server_check *sc)
{
    struct step *s = &sc->steps[STEP_AUTH];
    struct ews_wait w;

    if (cfg->username == NULL && cfg->auth != CP_AUTH_BEARER) {
        step_set(s, STEP_FAIL, "set [exchange] username and password (or password_file)",
                 "no username configured");
        return;
    }
    /* The account's own calendar, without impersonation: any answer from Exchange itself,
     * even "this account has no mailbox", proves the credentials were accepted. */
    if (ews_run_sync(cfg, sc->url, EWS_IMP_NONE, start_folder,
                     cfg->username != NULL ? cfg->username : "", &w) != 0) {
        step_set(s, STEP_FAIL,
                 "check that EWS answers at this URL (IIS, the EWS virtual "
                 "directory) and raise timeout if the server is slow",
                 "no EWS answer within %d s", cfg->timeout);
        return;
    }
    if (w.rc == 0 || (w.rc == EWS_E_RESPONSE && w.err.cls != EWS_ERR_AUTH_FAILURE)) {
        step_set(s, STEP_PASS, NULL, "Exchange accepted %s%s%s%s",
                 cfg->username != NULL ? cfg->username : "the bearer token",
                 w.rc == 0 ? "" : " (its own mailbox answered ", w.rc == 0 ? "" : w.err.code,
                 w.rc == 0 ? "" : ": fine, a service account needs none)");
        return;
    }
    if (w.err.cls == EWS_ERR_AUTH_FAILURE)
        step_set(s, STEP_FAIL,
                 "check username (UPN or DOMAIN\\user), password or password_file, and that "
                 "`auth` names a method the EWS virtual directory enables; is the account "
                 "locked or its password expired?",
                 "credentials refused (HTTP %d%s%s)", w.err.http_status,
                 w.err.message[0] ? ": " : "", w.err.message);
    else
        step_set(s, STEP_FAIL,
                 "check the URL path (/EWS/Exchange.asmx) and the server's EWS virtual "
                 "directory; the log has the details",
                 "EWS call failed: %s %s%s%s (HTTP %d)", ews_error_class_name(w.err.cls),
                 w.err.code, w.err.message[0] ? " " : "", w.err.message, w.err.http_status);
}

/* The recommended action for an impersonation response code: the hint calpresence-ews gives. */
static const char *
mailbox_action(const char *code, const char *account, char *buf, size_t len)
{
    struct ews_error err = {.cls = EWS_ERR_MAILBOX_PROBLEM};

    snprintf(err.code, sizeof(err.code), "%s", code);
    return ews_error_action(&err, account, buf, len);
}

static void
run_impersonate(const struct cp_config *cfg, const char *mailbox, struct server_check *sc)
{
    struct step *s = &sc->steps[STEP_IMPERSONATE];
    char action[ACTION_LEN];
    struct ews_wait w;

    if (ews_run_sync(cfg, sc->url, imp_kind(cfg->impersonation), start_folder, mailbox, &w) != 0) {
        step_set(s, STEP_FAIL, "retry; raise timeout if the server is slow",
                 "no EWS answer within %d s", cfg->timeout);
        return;
    }
    if (w.rc == 0) {
        step_set(s, STEP_PASS, NULL, "read the calendar of %s as %s", mailbox,
                 cfg->impersonation == CP_IMP_NONE ? "the account itself" : "impersonated user");
        return;
    }
    step_set(s, STEP_FAIL,
             w.err.cls == EWS_ERR_AUTH_FAILURE
                 ? "the credentials were refused this time: see the authentication step"
                 : mailbox_action(w.err.code, cfg->username, action, sizeof(action)),
             "%s for %s%s%s", w.err.code[0] ? w.err.code : ews_error_class_name(w.err.cls), mailbox,
             w.err.message[0] ? ": " : "", w.err.message);
}

static void
check_server(const struct cp_config *cfg, const char *url, const char *mailbox,
             struct server_check *sc)
{
    char *owned = sc->owned_url;
    int i;

    memset(sc, 0, sizeof(*sc));
    sc->owned_url = owned;
    sc->url = url;
    for (i = 0; i < STEP_COUNT; i++)
        step_set(&sc->steps[i], STEP_SKIP, NULL, "(an earlier step failed)");
    if (mailbox == NULL)
        step_set(&sc->steps[STEP_IMPERSONATE], STEP_SKIP, NULL,
                 "no test mailbox given (calpresence --check MAILBOX)");
    if (parse_url(url, sc) != 0) {
        step_set(&sc->steps[STEP_REACH], STEP_FAIL,
                 "fix ews_urls: https://HOST[:PORT]/EWS/Exchange.asmx", "not an http(s) URL: %s",
                 url);
        return;
    }
    cp_log_info("check", "%s: checking", url);
    run_reach(cfg, sc);
    if (sc->steps[STEP_REACH].result != STEP_PASS)
        return;
    run_cert(cfg, sc);
    if (sc->steps[STEP_CERT].result == STEP_FAIL)
        return;
    run_auth(cfg, sc);
    if (sc->steps[STEP_AUTH].result != STEP_PASS || mailbox == NULL)
        return;
    run_impersonate(cfg, mailbox, sc);
}

static bool
server_ok(const struct server_check *sc)
{
    int i;

    for (i = 0; i < STEP_COUNT; i++)
        if (sc->steps[i].result == STEP_FAIL)
            return false;
    return true;
}

static void
print_human(const struct server_check *sc, size_t n, FILE *out)
{
    static const char *const results[] = {"pass", "FAIL", "skipped"};
    size_t failing = 0;
    size_t i;
    size_t k;
    int j;

    for (i = 0; i < n; i++) {
        fprintf(out, "server %s\n", sc[i].url);
        for (j = 0; j < STEP_COUNT; j++) {
            const struct step *s = &sc[i].steps[j];

            fprintf(out, "  %-15s %-8s%s\n", step_names[j], results[s->result], s->detail);
            if (j == STEP_CERT && sc[i].cert != NULL)
                for (k = 0; k < sc[i].cert->n_warnings; k++)
                    fprintf(out, "  %-15s %-8s%s\n", "", "warning", sc[i].cert->warnings[k]);
            if (s->result == STEP_FAIL && s->action[0] != '\0')
                fprintf(out, "  %-15s action: %s\n", "", s->action);
        }
        failing += !server_ok(&sc[i]);
    }
    if (n == 0)
        fprintf(out, "no EWS server configured ([exchange] ews_urls)\n");
    else if (failing == 0)
        fprintf(out, "result: all %zu server%s pass\n", n, n == 1 ? "" : "s");
    else
        fprintf(out, "result: %zu of %zu server%s failing\n", failing, n, n == 1 ? "" : "s");
}

static void
json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; s != NULL && *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void
print_json(const struct server_check *sc, size_t n, bool ok, FILE *out)
{
    static const char *const results[] = {"pass", "fail", "skipped"};
    size_t i;
    size_t k;
    int j;

    fprintf(out, "{\"ok\":%s,\"servers\":[", ok ? "true" : "false");
    for (i = 0; i < n; i++) {
        fprintf(out, "%s{\"url\":", i > 0 ? "," : "");
        json_str(out, sc[i].url);
        fprintf(out, ",\"ok\":%s", server_ok(&sc[i]) ? "true" : "false");
        if (sc[i].cert != NULL) {
            fprintf(out, ",\"certificate_status\":");
            json_str(out, cert_status_token(sc[i].cert->status));
            fprintf(out, ",\"certificate_warnings\":[");
            for (k = 0; k < sc[i].cert->n_warnings; k++) {
                if (k > 0)
                    fputc(',', out);
                json_str(out, sc[i].cert->warnings[k]);
            }
            fputc(']', out);
        }
        fprintf(out, ",\"steps\":[");
        for (j = 0; j < STEP_COUNT; j++) {
            const struct step *s = &sc[i].steps[j];

            fprintf(out, "%s{\"step\":\"%s\",\"result\":\"%s\",\"detail\":", j > 0 ? "," : "",
                    step_names[j], results[s->result]);
            json_str(out, s->detail);
            fprintf(out, ",\"action\":");
            json_str(out, s->action);
            fputc('}', out);
        }
        fprintf(out, "]}");
    }
    fprintf(out, "]}\n");
}

/* Asks autodiscover for the EWS URL of MAILBOX (or of the account when it is an address).
 * Returns the malloc'd URL (caller frees), or NULL with FAIL filled. */
static char *
discover(const struct cp_config *cfg, const char *mailbox, struct step *fail)
{
    const char *email = mailbox;
    struct ews_wait w;
    char *url;

    if (email == NULL && cfg->username != NULL && strchr(cfg->username, '@') != NULL)
        email = cfg->username;
    if (email == NULL) {
        step_set(fail, STEP_FAIL, "run the check with a mailbox address: --check MAILBOX",
                 "ews_urls = autodiscover needs an e-mail address to discover");
        return NULL;
    }
    if (ews_run_sync(cfg, "autodiscover", EWS_IMP_NONE, start_discover, email, &w) != 0 ||
        w.rc != 0) {
        step_set(fail, STEP_FAIL,
                 "check the DNS records of autodiscover.DOMAIN (or DOMAIN) and the "
                 "Autodiscover virtual directory, or list the servers in ews_urls",
                 "autodiscover for %s found no EWS URL%s%s%s%s", email,
                 w.err.code[0] || w.err.message[0] ? ": " : "", w.err.code,
                 w.err.code[0] && w.err.message[0] ? " " : "", w.err.message);
        return NULL;
    }
    url = strdup(w.url);
    if (url == NULL)
        step_set(fail, STEP_FAIL, "out of memory", "out of memory");
    else
        cp_log_info("check", "autodiscover: %s: %s", email, url);
    return url;
}

int
cp_check_run(const struct cp_config *cfg, const char *mailbox, bool json, FILE *out)
{
    size_t n = cfg->ews_urls.n;
    struct server_check *sc = calloc(n > 0 ? n : 1, sizeof(*sc));
    bool ok = n > 0;
    size_t i;

    if (sc == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        const char *url = cfg->ews_urls.items[i];

        if (strcasecmp(url, "autodiscover") == 0) {
            struct step fail;

            sc[i].owned_url = discover(cfg, mailbox, &fail);
            if (sc[i].owned_url == NULL) {
                check_server(cfg, url, mailbox, &sc[i]);
                sc[i].steps[STEP_REACH] = fail;
                ok = false;
                continue;
            }
            url = sc[i].owned_url;
        }
        check_server(cfg, url, mailbox, &sc[i]);
        ok = ok && server_ok(&sc[i]);
    }
    if (json)
        print_json(sc, n, ok, out);
    else
        print_human(sc, n, out);
    for (i = 0; i < n; i++) {
        cert_report_free(sc[i].cert);
        free(sc[i].owned_url);
    }
    free(sc);
    return ok ? 0 : 1;
}

char *
cp_check_report(const struct cp_config *cfg, const char *mailbox, bool json, bool *failed)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int rc;

    if (f == NULL)
        return NULL;
    rc = cp_check_run(cfg, mailbox, json, f);
    if (fclose(f) != 0 || rc < 0) {
        free(buf);
        return NULL;
    }
    if (failed != NULL)
        *failed = rc != 0;
    return buf;
}

/* True when cert_import (without allow_leaf) would add R's certificate I: a CA the server
 * presented that the store lacks, not the leaf. */
static bool
import_would_add(const struct cert_report *r, size_t i)
{
    return i > 0 && r->chain[i].where == CERT_WHERE_PRESENTED && r->chain[i].info.is_ca;
}

/* The SHA-256 fingerprints of the certificates an import of R would add, in chain order, each
 * followed by a newline ("" for none). Returns a malloc'd string (caller frees), NULL on
 * ENOMEM. */
static char *
import_fingerprints(const struct cert_report *r)
{
    char *buf = NULL;
    size_t len = 0;
    size_t i;
    FILE *f = open_memstream(&buf, &len);

    if (f == NULL)
        return NULL;
    for (i = 0; i < r->n_chain; i++)
        if (import_would_add(r, i))
            fprintf(f, "%s\n", r->chain[i].info.fingerprint);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

char *
cp_check_certs_describe_fp(const struct cp_config *cfg, const char *hostport, char **fps, char *msg,
                           size_t msglen)
{
    struct cert_report *r = NULL;
    struct cert_options opt;
    char *host = NULL;
    char *buf = NULL;
    size_t len = 0;
    size_t i;
    int port;
    FILE *f;

    if (fps != NULL)
        *fps = NULL;
    cert_options_of(cfg, &opt);
    if (cert_parse_hostport(hostport, 443, &host, &port) != 0) {
        snprintf(msg, msglen, "expected host or host:port, got '%s'", hostport);
        return NULL;
    }
    if (cert_check_server(&opt, host, port, NULL, &r) != 0 ||
        (fps != NULL && (*fps = import_fingerprints(r)) == NULL) ||
        (f = open_memstream(&buf, &len)) == NULL) {
        snprintf(msg, msglen, "out of memory");
        if (fps != NULL) {
            free(*fps);
            *fps = NULL;
        }
        cert_report_free(r);
        free(host);
        return NULL;
    }
    cert_report_print_chain(r, f);
    cert_report_print_status(r, f);
    for (i = 0; i < r->n_chain; i++)
        if (import_would_add(r, i))
            fprintf(f, "import would add: %s\n", r->chain[i].info.subject);
    if (cert_report_issuer_missing(r))
        fprintf(f, "note: the server does not send its issuing CA; add it by hand with "
                   "calpresence-certs add\n");
    fclose(f);
    cert_report_free(r);
    free(host);
    return buf;
}

/* Compares the chain R (just downloaded) with what the admin accepted: FPS as
 * cp_check_certs_describe_fp gave it. Returns 0 when equal (or FPS is NULL), CP_CHECK_CHANGED
 * with MSG when not, -1 on ENOMEM. */
static int
check_pinned(const struct cert_report *r, const char *hostport, const char *fps, char *msg,
             size_t msglen)
{
    char *now;
    int rc = 0;

    if (fps == NULL)
        return 0;
    now = import_fingerprints(r);
    if (now == NULL) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    if (strcmp(now, fps) != 0) {
        snprintf(msg, msglen,
                 "the CA certificates %s presents are not those shown; nothing "
                 "imported",
                 hostport);
        cp_log_warn("certs", "%s: import refused (the chain changed since it was shown)", hostport);
        rc = CP_CHECK_CHANGED;
    }
    free(now);
    return rc;
}

int
cp_check_certs_import_fp(const struct cp_config *cfg, const char *hostport, const char *fps,
                         char *msg, size_t msglen)
{
    struct cert_report *r = NULL;
    struct cert_options opt;
    char err[300] = "";
    size_t added = 0;
    char *host = NULL;
    int port;
    int rc;

    cert_options_of(cfg, &opt);
    if (cert_parse_hostport(hostport, 443, &host, &port) != 0) {
        snprintf(msg, msglen, "expected host or host:port, got '%s'", hostport);
        return -1;
    }
    rc = cert_check_server(&opt, host, port, NULL, &r);
    free(host);
    if (rc != 0) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    if (r->n_chain > 0) {
        rc = check_pinned(r, hostport, fps, msg, msglen);
        if (rc != 0) {
            cert_report_free(r);
            return rc;
        }
    }
    rc = r->n_chain == 0 ? -1 : cert_import(&opt, r, false, NULL, NULL, &added, err, sizeof(err));
    if (rc != 0 && err[0] != '\0')
        snprintf(msg, msglen, "%s", err);
    else
        snprintf(msg, msglen, "imported %zu certificate%s; status: %s%s%s", added,
                 added == 1 ? "" : "s", cert_status_token(r->status), r->reason != NULL ? " (" : "",
                 r->reason != NULL ? r->reason : "");
    if (rc == 0 && r->reason != NULL)
        strncat(msg, ")", msglen - strlen(msg) - 1);
    if (rc == 0 && (cert_report_issuer_missing(r) || r->status == CERT_NETWORK_ERROR ||
                    r->status == CERT_FAILED))
        rc = -1;
    if (added > 0)
        cp_log_info("certs", "%s: imported %zu CA certificate%s", hostport, added,
                    added == 1 ? "" : "s");
    cert_report_free(r);
    return rc;
}
