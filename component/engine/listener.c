/* component/engine/listener.c: the push-notification listener. An evhttp server on the daemon's
 * loop hands each POSTed body to cp_listener_handle, the socket-free core, which parses it with
 * ews/ and asks the engine's verdict callback about every notification.
 *
 * libevent 2.1 answers some requests itself before any user callback sees them: 413 for a body
 * over the bound (it stops reading there, so a big body never sits in memory) and 400 for a
 * request line or header it cannot parse. To count and log those, every connection's output
 * buffer carries a small callback that reads the status line of each response libevent writes
 * on its own (libevent 2.2's evhttp_set_errorcb would replace it). libevent 2.1 has no knob to
 * cap concurrent connections (2.2 adds evhttp_set_max_connections); the timeout drops a
 * connection that stays silent that long, not one that trickles. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "config/config.h"
#include "listener.h"

/* Every method libevent 2.1 knows: the ones we refuse get our 405, not libevent's 501. */
#define ALL_METHODS                                                                                \
    (EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |     \
     EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH)

#define TEXT_PLAIN "text/plain; charset=utf-8"
#define TEXT_XML "text/xml; charset=utf-8"

/* The levels of cp_listener_log_fn. */
enum { LVL_ERROR = 0, LVL_WARN, LVL_INFO, LVL_DEBUG };

struct cp_listener {
    struct evhttp *http;
    SSL_CTX *ssl_ctx; /* NULL for plain HTTP */
    char *path;
    size_t max_body;
    uint16_t port;
    /* Set while our own reply is being written, so the status-line reader leaves it alone:
     * evhttp_send_reply writes synchronously into the connection's output buffer. */
    bool replying;
    cp_listener_verdict_fn verdict;
    cp_listener_log_fn log;
    void *ud;
    struct cp_listener_stats stats;
};

static void set_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(const struct cp_listener *l, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(struct cp_listener_reply *out, enum cp_listener_outcome outcome,
                  const char *reason);
static int split_listen(const char *addr, char *host, size_t hostlen, char *port, size_t portlen);
static int bind_listen(const char *addr, evutil_socket_t *fd, uint16_t *port, char *why,
                       size_t whylen);
static int tls_setup(struct cp_listener *l, const char *cert, const char *key, char *why,
                     size_t whylen);
static struct bufferevent *new_connection(struct event_base *base, void *arg);
static void read_status_line(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg);
static bool content_type_ok(const char *ct);
static void send_text(struct cp_listener *l, struct evhttp_request *req, int status,
                      const char *phrase, const char *ctype, const char *text, size_t len);
static void handle_post(struct cp_listener *l, struct evhttp_request *req, const char *peer);
static void on_request(struct evhttp_request *req, void *arg);

static void
set_why(char *why, size_t whylen, const char *fmt, ...)
{
    if (!why || !whylen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

static void
say(const struct cp_listener *l, int level, const char *fmt, ...)
{
    if (!l->log)
        return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    l->log(l->ud, level, msg);
}

/* ---- the socket-free core ---- */

static int
refuse(struct cp_listener_reply *out, enum cp_listener_outcome outcome, const char *reason)
{
    out->outcome = outcome;
    out->http_status = outcome == CP_LISTENER_TOO_LARGE ? 413 : 400;
    out->content_type = TEXT_PLAIN;
    out->reason = reason;
    /* A short fixed text: it tells a person with curl what went wrong and echoes nothing. */
    if (asprintf(&out->body, "%s\n", reason) < 0) {
        out->body = NULL;
        return CP_ENOMEM;
    }
    out->body_len = strlen(out->body);
    return 0;
}

int
cp_listener_handle(const char *body, size_t len, size_t max_body, cp_listener_verdict_fn fn,
                   void *ud, struct cp_listener_reply *out)
{
    if (!out || !fn || (!body && len))
        return CP_EINVAL;
    *out = (struct cp_listener_reply){0};
    if (len > (max_body ? max_body : CP_LISTENER_DEFAULT_MAX_BODY))
        return refuse(out, CP_LISTENER_TOO_LARGE, "body over the size bound");

    struct ews_notification_list list;
    /* The parser's own reason may quote the body (libxml2's messages do): the log gets only
     * the fixed texts below. */
    switch (ews_parse_send_notification(body ? body : "", len, &list, NULL)) {
    case EWS_OK:
        break;
    case EWS_E_NOMEM:
        return CP_ENOMEM;
    case EWS_E_TOO_LARGE:
        return refuse(out, CP_LISTENER_TOO_LARGE, "body over the XML parser's size bound");
    case EWS_E_UNSAFE:
        return refuse(out, CP_LISTENER_MALFORMED,
                      "unsafe XML (DOCTYPE, foreign envelope namespace or too deep)");
    case EWS_E_RESPONSE:
        return refuse(out, CP_LISTENER_MALFORMED, "an error message, not a notification");
    default:
        return refuse(out, CP_LISTENER_MALFORMED, "not well-formed XML or not a SendNotification");
    }

    bool keep = false;
    for (size_t i = 0; i < list.n_items; i++)
        keep |= fn(ud, &list.items[i]);
    out->notifications = list.n_items;
    ews_notification_list_free(&list);

    out->outcome = keep ? CP_LISTENER_OK : CP_LISTENER_UNSUBSCRIBE;
    out->http_status = 200;
    out->content_type = TEXT_XML;
    out->body = ews_build_send_notification_result(!keep);
    if (!out->body)
        return CP_ENOMEM;
    out->body_len = strlen(out->body);
    return 0;
}

/* ---- the HTTP server ---- */

/* "host:port" or "[v6]:port" into its parts; brackets are required around an IPv6 address so
 * that its last group is never taken for the port. */
static int
split_listen(const char *addr, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *h = addr, *colon;
    size_t n;
    if (*addr == '[') {
        const char *end = strchr(addr, ']');
        if (!end || end[1] != ':')
            return CP_EINVAL;
        h = addr + 1;
        n = (size_t)(end - h);
        colon = end + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || memchr(addr, ':', (size_t)(colon - addr)))
            return CP_EINVAL;
        n = (size_t)(colon - addr);
    }
    const char *p = colon + 1;
    if (n == 0 || n >= hostlen || !*p || strlen(p) > 5 || strspn(p, "0123456789") != strlen(p) ||
        atoi(p) > 65535 || strlen(p) >= portlen)
        return CP_EINVAL;
    memcpy(host, h, n);
    host[n] = '\0';
    strcpy(port, p);
    return 0;
}

/* Our own socket rather than evhttp_bind_socket_with_handle: that one reports no reason, and an
 * operator needs to read "Address already in use" or the resolver's answer. */
static int
bind_listen(const char *addr, evutil_socket_t *fd, uint16_t *port, char *why, size_t whylen)
{
    char host[256], service[8];
    if (split_listen(addr, host, sizeof host, service, sizeof service)) {
        set_why(why, whylen, "listen \"%s\": expected HOST:PORT or [IPv6]:PORT", addr);
        return CP_EINVAL;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai;
    int gai = getaddrinfo(host, service, &hints, &ai);
    if (gai) {
        set_why(why, whylen, "listen \"%s\": %s", addr, gai_strerror(gai));
        return CP_EIO;
    }
    int one = 1, err = 0;
    *fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (*fd < 0 || setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(*fd, ai->ai_addr, ai->ai_addrlen) || listen(*fd, SOMAXCONN))
        err = errno;
    freeaddrinfo(ai);

    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (!err && getsockname(*fd, (struct sockaddr *)&ss, &sl))
        err = errno;
    if (err) {
        if (*fd >= 0)
            close(*fd);
        set_why(why, whylen, "listen \"%s\": %s", addr, strerror(err));
        return CP_EIO;
    }
    *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}

static int
tls_setup(struct cp_listener *l, const char *cert, const char *key, char *why, size_t whylen)
{
    const char *what = "TLS context";
    l->ssl_ctx = SSL_CTX_new(TLS_server_method());
    if (!l->ssl_ctx)
        goto fail;
    /* Renegotiation buys Exchange nothing and lets a client make us redo handshakes. */
    SSL_CTX_set_options(l->ssl_ctx, SSL_OP_NO_RENEGOTIATION);
    if (!SSL_CTX_set_min_proto_version(l->ssl_ctx, TLS1_2_VERSION))
        goto fail;
    what = cert;
    if (SSL_CTX_use_certificate_chain_file(l->ssl_ctx, cert) != 1)
        goto fail;
    what = key;
    if (SSL_CTX_use_PrivateKey_file(l->ssl_ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(l->ssl_ctx) != 1)
        goto fail;
    return 0;
fail:;
    char reason[200] = "unknown error";
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    set_why(why, whylen, "%s: %s", what, reason);
    return CP_EINVAL;
}

/* evhttp's per-connection hook: our bufferevent (TLS when configured) with the status-line
 * reader on its output. evhttp sets the descriptor and its own callbacks afterwards. */
static struct bufferevent *
new_connection(struct event_base *base, void *arg)
{
    struct cp_listener *l = arg;
    struct bufferevent *bev;
    if (l->ssl_ctx) {
        SSL *ssl = SSL_new(l->ssl_ctx);
        /* On NULL evhttp falls back to a plain connection, which fails the client's handshake:
         * nothing is served in clear text that the client did not send in clear. */
        if (!ssl)
            return NULL;
        bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                             BEV_OPT_CLOSE_ON_FREE);
        if (!bev) {
            SSL_free(ssl);
            return NULL;
        }
    } else {
        bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
        if (!bev)
            return NULL;
    }
    /* Without the reader, libevent's own refusals would go uncounted: better serve anyway. */
    evbuffer_add_cb(bufferevent_get_output(bev), read_status_line, l);
    return bev;
}

/* Counts and logs the responses libevent writes without asking us (413, 400). A response
 * starts on an empty output buffer: evhttp writes the next one only after the previous one
 * was flushed. Its peer is unknown here: the buffer does not lead back to its connection. */
static void
read_status_line(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct cp_listener *l = arg;
    char line[13];
    if (l->replying || info->orig_size != 0 || info->n_added < sizeof line)
        return;
    evbuffer_copyout(buf, line, sizeof line);
    if (memcmp(line, "HTTP/1.", 7) != 0 || line[9] < '4' || line[9] > '5')
        return;
    int status = atoi(line + 9);
    l->stats.requests++;
    if (status == 413) {
        l->stats.refused_too_large++;
        say(l, LVL_WARN, "refused a body over %zu bytes (HTTP 413)", l->max_body);
    } else {
        l->stats.refused_malformed++;
        say(l, LVL_WARN, "refused a request libevent could not parse (HTTP %d)", status);
    }
}

/* Exchange sends "text/xml; charset=utf-8"; SOAP 1.2 clients send application/soap+xml. A
 * missing Content-Type is let through: the parser decides. */
static bool
content_type_ok(const char *ct)
{
    if (!ct)
        return true;
    ct += strspn(ct, " \t");
    size_t n = strcspn(ct, "; \t");
    return (n == 8 && strncasecmp(ct, "text/xml", n) == 0) ||
           (n == 20 && strncasecmp(ct, "application/soap+xml", n) == 0);
}

static void
send_text(struct cp_listener *l, struct evhttp_request *req, int status, const char *phrase,
          const char *ctype, const char *text, size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct evbuffer *b = evbuffer_new();
    evhttp_add_header(h, "Content-Type", ctype);
    if (b)
        evbuffer_add(b, text, len);
    l->stats.requests++;
    l->replying = true;
    evhttp_send_reply(req, status, phrase, b);
    l->replying = false;
    if (b)
        evbuffer_free(b);
}

static void
handle_post(struct cp_listener *l, struct evhttp_request *req, const char *peer)
{
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    if (!content_type_ok(ct)) {
        static const char text[] = "Content-Type must be text/xml\n";
        l->stats.refused_malformed++;
        say(l, LVL_WARN, "%s: refused a notification (Content-Type is not text/xml)", peer);
        send_text(l, req, 415, "Unsupported Media Type", TEXT_PLAIN, text, sizeof text - 1);
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    /* One contiguous copy of at most max_body bytes: evhttp stopped reading beyond that. */
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : NULL;
    struct cp_listener_reply r;
    int rc = body || !len ? cp_listener_handle(body, len, l->max_body, l->verdict, l->ud, &r)
                          : CP_ENOMEM;
    if (rc) {
        static const char text[] = "out of memory\n";
        say(l, LVL_ERROR, "%s: no memory to answer a notification", peer);
        send_text(l, req, 500, "Internal Server Error", TEXT_PLAIN, text, sizeof text - 1);
        return;
    }
    l->stats.notifications += r.notifications;
    switch (r.outcome) {
    case CP_LISTENER_OK:
        l->stats.ok++;
        send_text(l, req, 200, "OK", r.content_type, r.body, r.body_len);
        break;
    case CP_LISTENER_UNSUBSCRIBE:
        l->stats.unsubscribed++;
        say(l, LVL_INFO, "%s: answered Unsubscribe to a notification (subscription not wanted)",
            peer);
        send_text(l, req, 200, "OK", r.content_type, r.body, r.body_len);
        break;
    case CP_LISTENER_MALFORMED:
        l->stats.refused_malformed++;
        say(l, LVL_WARN, "%s: refused a notification of %zu bytes (%s)", peer, len, r.reason);
        send_text(l, req, 400, "Bad Request", r.content_type, r.body, r.body_len);
        break;
    case CP_LISTENER_TOO_LARGE:
        l->stats.refused_too_large++;
        say(l, LVL_WARN, "%s: refused a notification of %zu bytes (%s)", peer, len, r.reason);
        send_text(l, req, 413, "Payload Too Large", r.content_type, r.body, r.body_len);
        break;
    }
    free(r.body);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
    struct cp_listener *l = arg;
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    char *addr = NULL;
    ev_uint16_t peer_port = 0;
    if (conn)
        evhttp_connection_get_peer(conn, &addr, &peer_port);
    const char *peer = addr ? addr : "unknown peer";

    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    /* Scanners knock on every port: these refusals are counted for the summary line and
     * logged at debug only. */
    if (!path || strcmp(path, l->path) != 0) {
        static const char text[] = "not found\n";
        l->stats.refused_method_or_path++;
        say(l, LVL_DEBUG, "%s: no such path (HTTP 404)", peer);
        send_text(l, req, 404, "Not Found", TEXT_PLAIN, text, sizeof text - 1);
    } else if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        static const char text[] = "only POST is served here\n";
        l->stats.refused_method_or_path++;
        say(l, LVL_DEBUG, "%s: method other than POST (HTTP 405)", peer);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
        send_text(l, req, 405, "Method Not Allowed", TEXT_PLAIN, text, sizeof text - 1);
    } else {
        handle_post(l, req, peer);
    }
}

int
cp_listener_new(struct event_base *base, const struct cp_listener_config *cfg,
                struct cp_listener **out, char *why, size_t whylen)
{
    if (out)
        *out = NULL;
    if (!base || !cfg || !out || !cfg->listen || !cfg->verdict) {
        set_why(why, whylen, "listener: missing listen address or verdict callback");
        return CP_EINVAL;
    }
    if (!cfg->path || cfg->path[0] != '/') {
        set_why(why, whylen, "notification path \"%s\" does not start with /",
                cfg->path ? cfg->path : "");
        return CP_EINVAL;
    }
    if (!cfg->tls_cert != !cfg->tls_key) {
        set_why(why, whylen, "TLS needs both a certificate and a key file");
        return CP_EINVAL;
    }
    if (cfg->timeout < 0 || cfg->max_body > (size_t)EV_SSIZE_MAX) {
        set_why(why, whylen, "listener: negative timeout or body bound out of range");
        return CP_EINVAL;
    }

    struct cp_listener *l = calloc(1, sizeof *l);
    if (!l || !(l->path = strdup(cfg->path)) || !(l->http = evhttp_new(base))) {
        cp_listener_free(l);
        set_why(why, whylen, "listener: out of memory");
        return CP_ENOMEM;
    }
    l->max_body = cfg->max_body ? cfg->max_body : CP_LISTENER_DEFAULT_MAX_BODY;
    l->verdict = cfg->verdict;
    l->log = cfg->log;
    l->ud = cfg->ud;

    int rc = cfg->tls_cert ? tls_setup(l, cfg->tls_cert, cfg->tls_key, why, whylen) : 0;
    evutil_socket_t fd = -1;
    if (!rc)
        rc = bind_listen(cfg->listen, &fd, &l->port, why, whylen);
    if (!rc && !evhttp_accept_socket_with_handle(l->http, fd)) {
        close(fd);
        set_why(why, whylen, "listen \"%s\": libevent refused the socket", cfg->listen);
        rc = CP_EIO;
    }
    if (rc) {
        cp_listener_free(l);
        return rc;
    }
    evhttp_set_max_body_size(l->http, (ev_ssize_t)l->max_body);
    evhttp_set_max_headers_size(l->http, CP_LISTENER_MAX_HEADERS);
    evhttp_set_timeout(l->http, cfg->timeout ? cfg->timeout : CP_LISTENER_DEFAULT_TIMEOUT);
    evhttp_set_allowed_methods(l->http, ALL_METHODS);
    /* Read and drop the rest of an oversized body of announced length before the 413, so
     * that the client reads the answer instead of a connection reset. The bytes are dropped
     * as they come, never kept: a huge announced length costs bandwidth, not memory. */
    evhttp_set_flags(l->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_bevcb(l->http, new_connection, l);
    evhttp_set_gencb(l->http, on_request, l);
    say(l, LVL_INFO, "listening on %s (port %u, %s), notifications at %s", cfg->listen,
        (unsigned)l->port, l->ssl_ctx ? "https" : "http", l->path);
    *out = l;
    return 0;
}

void
cp_listener_free(struct cp_listener *l)
{
    if (!l)
        return;
    if (l->http)
        evhttp_free(l->http);
    SSL_CTX_free(l->ssl_ctx);
    free(l->path);
    free(l);
}

uint16_t
cp_listener_port(const struct cp_listener *l)
{
    return l->port;
}

const struct cp_listener_stats *
cp_listener_stats(const struct cp_listener *l)
{
    return &l->stats;
}
