/* Chain download: a TCP connection and a TLS handshake bounded by the timeout, with SNI, that
 * accepts whatever the server presents (verification happens afterwards against the trust
 * store, in verify.c), so that a chain that does not verify can still be shown and imported.
 *
 * The first handshake uses OpenSSL's default security level; only when it fails is it retried
 * at level 0 (SHA-1, RSA 1024, old protocol versions), and the report says so. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "certs_int.h"

#define DEFAULT_TIMEOUT 30

enum hs_result { HS_OK, HS_TIMEOUT, HS_CLOSED, HS_TLS_ERROR };

static long long now_ms(void);
static int wait_fd(int fd, short events, long long deadline);
static int connect_host(const char *host, int port, long long deadline, char *err, size_t errlen);
static bool is_ip_literal(const char *name);
static enum hs_result handshake(int fd, const char *sni, bool lowered, long long deadline,
                                SSL **out, char *err, size_t errlen);
static STACK_OF(X509) * copy_chain(SSL *ssl);
static int set_result(struct cert_report *r, enum cert_status st, const char *reason);
static void sigpipe_block(sigset_t *old, bool *pending_before);
static void sigpipe_restore(const sigset_t *old, bool pending_before);
static int attempt_once(const struct cert_options *opt, struct cert_report *r, const char *sni,
                        bool lowered, long long deadline, bool *done);

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until FD is ready for EVENTS or DEADLINE (ms) passes. Returns 1 ready, 0 timeout,
 * negative on error. */
static int
wait_fd(int fd, short events, long long deadline)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    long long left;
    int rc;

    for (;;) {
        left = deadline - now_ms();
        if (left <= 0)
            return 0;
        rc = poll(&pfd, 1, (int)left);
        if (rc >= 0 || errno != EINTR)
            return rc;
    }
}

int
cert_parse_hostport(const char *spec, int defport, char **host, int *port)
{
    const char *colon;
    const char *end;
    char *p;
    long v;

    *host = NULL;
    *port = defport;
    if (spec == NULL || spec[0] == '\0')
        return CERT_EINVAL;
    if (spec[0] == '[') {
        end = strchr(spec, ']');
        if (end == NULL || end == spec + 1 || (end[1] != '\0' && end[1] != ':'))
            return CERT_EINVAL;
        colon = end[1] == ':' ? end + 1 : NULL;
        *host = strndup(spec + 1, (size_t)(end - spec - 1));
    } else {
        colon = strrchr(spec, ':');
        /* Two colons or more without brackets: a bare IPv6 address, no port. */
        if (colon != NULL && strchr(spec, ':') != colon)
            colon = NULL;
        *host = strndup(spec, colon != NULL ? (size_t)(colon - spec) : strlen(spec));
    }
    if (*host == NULL)
        return CERT_ENOMEM;
    if (colon != NULL) {
        errno = 0;
        v = strtol(colon + 1, &p, 10);
        if (errno != 0 || *p != '\0' || p == colon + 1 || v < 1 || v > 65535) {
            free(*host);
            *host = NULL;
            return CERT_EINVAL;
        }
        *port = (int)v;
    }
    if ((*host)[0] == '\0') {
        free(*host);
        *host = NULL;
        return CERT_EINVAL;
    }
    return 0;
}

/* Connects to each address of HOST in turn until one answers before DEADLINE. Returns the
 * connected blocking-mode-off socket or negative with ERR. */
static int
connect_host(const char *host, int port, long long deadline, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    struct addrinfo *ai;
    char portstr[8];
    int saved = ETIMEDOUT;
    int fd = -1;
    int gai;

    snprintf(portstr, sizeof(portstr), "%d", port);
    gai = getaddrinfo(host, portstr, &hints, &res);
    if (gai != 0) {
        cert_set_err(err, errlen, "cannot resolve %s (%s)", host, gai_strerror(gai));
        return CERT_ENET;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        socklen_t len = sizeof(saved);
        int rc;

        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc < 0 && errno == EINPROGRESS) {
            rc = wait_fd(fd, POLLOUT, deadline);
            if (rc > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &saved, &len) == 0 && saved == 0)
                break;
            if (rc == 0)
                saved = ETIMEDOUT;
        } else if (rc == 0) {
            break;
        } else {
            saved = errno;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        cert_set_err(err, errlen, "cannot connect to %s port %d (%s)", host, port,
                     saved == ETIMEDOUT ? "no answer within the timeout" : strerror(saved));
        return CERT_ENET;
    }
    return fd;
}

bool
cert_ssl_ctx_apply_policy(SSL_CTX *ctx, bool refuse_weak)
{
    if (refuse_weak)
        return false;
    /* The cipher string's @SECLEVEL overrides the level Debian's openssl.cnf sets. */
    SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
    SSL_CTX_set_security_level(ctx, 0);
    SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
    return true;
}

int
cert_probe_tcp(const char *host, int port, int timeout, char *err, size_t errlen)
{
    int fd;

    if (timeout <= 0)
        timeout = DEFAULT_TIMEOUT;
    fd = connect_host(host, port, now_ms() + 1000LL * timeout, err, errlen);
    if (fd < 0)
        return fd;
    close(fd);
    return 0;
}

static bool
is_ip_literal(const char *name)
{
    unsigned char addr[16];

    return inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
}

/* Runs a TLS client handshake on FD without verification. On HS_OK *OUT is the session
 * (caller frees with SSL_free). */
static enum hs_result
handshake(int fd, const char *sni, bool lowered, long long deadline, SSL **out, char *err,
          size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    enum hs_result res = HS_TLS_ERROR;
    SSL *ssl = NULL;
    int rc;

    *out = NULL;
    if (ctx == NULL) {
        cert_set_err(err, errlen, "cannot create a TLS context");
        return HS_TLS_ERROR;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    if (lowered)
        cert_ssl_ctx_apply_policy(ctx, false);
    ssl = SSL_new(ctx);
    if (ssl == NULL || !SSL_set_fd(ssl, fd) ||
        (sni != NULL && !SSL_set_tlsext_host_name(ssl, sni))) {
        cert_set_err(err, errlen, "cannot set up TLS");
        goto out;
    }
    for (;;) {
        int want;

        ERR_clear_error();
        rc = SSL_connect(ssl);
        if (rc == 1) {
            res = HS_OK;
            break;
        }
        want = SSL_get_error(ssl, rc);
        if (want == SSL_ERROR_WANT_READ || want == SSL_ERROR_WANT_WRITE) {
            rc = wait_fd(fd, want == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
            if (rc > 0)
                continue;
            cert_set_err(err, errlen, "no TLS answer within the timeout");
            res = HS_TIMEOUT;
        } else if (want == SSL_ERROR_SYSCALL || want == SSL_ERROR_ZERO_RETURN) {
            cert_set_err(err, errlen,
                         "the server closed the connection during the TLS "
                         "handshake");
            res = HS_CLOSED;
        } else {
            char buf[200];

            ERR_error_string_n(ERR_peek_last_error(), buf, sizeof(buf));
            cert_set_err(err, errlen, "TLS handshake failed (%s)", buf);
        }
        break;
    }
out:
    if (res == HS_OK)
        *out = ssl;
    else
        SSL_free(ssl);
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return res;
}

/* The peer's chain as presented (leaf first), up-referenced; NULL on ENOMEM. */
static STACK_OF(X509) * copy_chain(SSL *ssl)
{
    STACK_OF(X509) *peer = SSL_get_peer_cert_chain(ssl);
    STACK_OF(X509) *sk = sk_X509_new_null();
    int i;

    for (i = 0; sk != NULL && peer != NULL && i < sk_X509_num(peer); i++) {
        X509 *x = sk_X509_value(peer, i);

        if (!sk_X509_push(sk, x)) {
            sk_X509_pop_free(sk, X509_free);
            return NULL;
        }
        X509_up_ref(x);
    }
    return sk;
}

/* Sets R's status to ST with the reason REASON (copied). */
static int
set_result(struct cert_report *r, enum cert_status st, const char *reason)
{
    free(r->reason);
    r->reason = strdup(reason);
    r->status = st;
    return r->reason == NULL ? CERT_ENOMEM : 0;
}

/* A server that closes the connection while OpenSSL writes would raise SIGPIPE and kill a
 * process that did not ignore it; the signal is blocked in this thread for the handshake and
 * a SIGPIPE it raised is consumed, without touching the process's signal dispositions. */
static void
sigpipe_block(sigset_t *old, bool *pending_before)
{
    sigset_t set;
    sigset_t pending;

    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pending);
    *pending_before = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &set, old);
}

static void
sigpipe_restore(const sigset_t *old, bool pending_before)
{
    struct timespec zero = {0, 0};
    sigset_t set;
    sigset_t pending;

    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pending);
    if (!pending_before && sigismember(&pending, SIGPIPE) == 1)
        sigtimedwait(&set, NULL, &zero);
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* One connection and handshake; the report is filled when *DONE. */
static int
attempt_once(const struct cert_options *opt, struct cert_report *r, const char *sni, bool lowered,
             long long deadline, bool *done)
{
    STACK_OF(X509) * chain;
    SSL *ssl = NULL;
    char err[300] = "";
    enum hs_result hs;
    bool pending;
    sigset_t mask;
    int rc;
    int fd;

    *done = true;
    fd = connect_host(r->host, r->port, deadline, err, sizeof(err));
    if (fd < 0)
        return set_result(r, CERT_NETWORK_ERROR, err);
    sigpipe_block(&mask, &pending);
    hs = handshake(fd, sni, lowered, deadline, &ssl, err, sizeof(err));
    sigpipe_restore(&mask, pending);
    if (hs != HS_OK) {
        close(fd);
        /* A TLS error at the default security level is worth one retry at level 0. */
        if (hs == HS_TLS_ERROR) {
            *done = lowered;
            return set_result(r, CERT_FAILED, err);
        }
        return set_result(r, CERT_NETWORK_ERROR, err);
    }
    r->seclevel_lowered = lowered;
    r->tls = cert_asprintf("%s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
    chain = copy_chain(ssl);
    rc = r->tls == NULL || chain == NULL ? CERT_ENOMEM : cert_report_verify(opt, r, chain, 0);
    sk_X509_pop_free(chain, X509_free);
    SSL_free(ssl);
    close(fd);
    return rc;
}

int
cert_check_server(const struct cert_options *opt, const char *host, int port, const char *name,
                  struct cert_report **out)
{
    struct cert_report *r = calloc(1, sizeof(*r));
    int timeout = opt->timeout > 0 ? opt->timeout : DEFAULT_TIMEOUT;
    long long deadline = now_ms() + 1000LL * timeout;
    const char *sni;
    bool done = false;
    int rc = 0;

    *out = NULL;
    if (r == NULL)
        return CERT_ENOMEM;
    r->host = strdup(host);
    r->port = port;
    r->name = strdup(name != NULL ? name : host);
    if (r->host == NULL || r->name == NULL) {
        cert_report_free(r);
        return CERT_ENOMEM;
    }
    /* SNI carries the name the client expects; an IP literal is never sent (RFC 6066). */
    sni = !is_ip_literal(r->name) ? r->name : !is_ip_literal(host) ? host : NULL;
    rc = attempt_once(opt, r, sni, false, deadline, &done);
    if (rc == 0 && !done)
        rc = attempt_once(opt, r, sni, true, deadline, &done);
    if (rc != 0) {
        cert_report_free(r);
        return rc;
    }
    *out = r;
    return 0;
}
