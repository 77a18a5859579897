/* The HTTP engine: libcurl multi socket interface driven by libevent (transport_int.h). */
#include "transport_int.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "certs.h"

/* Streamed bytes waiting for deliver_data; more means the owner is not keeping up. */
#define STREAM_PENDING_MAX (16u * 1024 * 1024)

struct ews_xfer {
    TAILQ_ENTRY(ews_xfer) link;
    struct ews_http *h;
    CURL *easy;
    struct curl_slist *headers;
    char *buf;
    size_t len, cap, max;
    char *location;
    long retry_after;
    bool too_large;
    bool stopped;
    bool streaming; /* BUF holds streamed bytes not yet handed to DATA */
    ews_http_data_fn data;
    ews_http_done_fn done;
    void *ud;
    char errbuf[CURL_ERROR_SIZE];
};

struct ews_http {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    const struct ews_http_opts *opts;
    struct ews_auth *auth;
    TAILQ_HEAD(, ews_xfer) xfers;
    size_t active;
};

/* One socket libcurl asked us to watch. */
struct sock_watch {
    struct ews_http *h;
    curl_socket_t fd;
    struct event *ev;
};

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp);
static int on_timer_change(CURLM *multi, long timeout_ms, void *userp);
static void on_timer(evutil_socket_t fd, short events, void *arg);
static void on_event(evutil_socket_t fd, short events, void *arg);
static void finish_done(struct ews_http *h);
static void deliver_data(struct ews_http *h);
static void complete(struct ews_http *h, struct ews_xfer *x, CURLcode code);
static void xfer_free(struct ews_xfer *x);
static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata);
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata);
static CURLcode lower_seclevel(CURL *easy, void *ssl_ctx, void *ud);
static struct curl_slist *build_headers(const struct ews_http_req *req, bool *oom);
static struct curl_slist *add_header(struct curl_slist *l, const char *name, const char *value,
                                     bool *oom);

bool
ews_http_url_has_userinfo(const char *url)
{
    const char *host = strstr(url, "://");

    host = host != NULL ? host + 3 : url;
    return memchr(host, '@', strcspn(host, "/?#")) != NULL;
}

bool
ews_http_url_allowed(const char *url, bool allow_http)
{
    /* Credentials travel in headers only: a password in the URL would be in every log line
     * that names the server, and would replace the configured account. */
    if (ews_http_url_has_userinfo(url))
        return false;
    if (strncasecmp(url, "https://", 8) == 0)
        return true;
    return allow_http && strncasecmp(url, "http://", 7) == 0;
}

struct ews_http *
ews_http_new(struct event_base *base, const struct ews_http_opts *opts, struct ews_auth *auth)
{
    struct ews_http *h = calloc(1, sizeof(*h));

    if (h == NULL)
        return NULL;
    h->base = base;
    h->opts = opts;
    h->auth = auth;
    TAILQ_INIT(&h->xfers);
    h->multi = curl_multi_init();
    h->timer = evtimer_new(base, on_timer, h);
    if (h->multi == NULL || h->timer == NULL) {
        ews_http_free(h);
        return NULL;
    }
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer_change);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    return h;
}

void
ews_http_free(struct ews_http *h)
{
    struct ews_xfer *x;

    if (h == NULL)
        return;
    while ((x = TAILQ_FIRST(&h->xfers)) != NULL)
        ews_http_cancel(x);
    if (h->multi != NULL)
        curl_multi_cleanup(h->multi);
    if (h->timer != NULL)
        event_free(h->timer);
    free(h);
}

/* libcurl tells which socket to watch for what; one persistent event per socket. */
static int
on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct ews_http *h = userp;
    struct sock_watch *w = socketp;
    short kind;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (w != NULL) {
            event_free(w->ev);
            free(w);
            curl_multi_assign(h->multi, fd, NULL);
        }
        return 0;
    }
    kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
           ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (w == NULL) {
        w = calloc(1, sizeof(*w));
        if (w == NULL)
            return -1;
        w->h = h;
        w->fd = fd;
        curl_multi_assign(h->multi, fd, w);
    } else {
        event_free(w->ev);
    }
    w->ev = event_new(h->base, fd, kind, on_event, w);
    if (w->ev == NULL)
        return -1;
    event_add(w->ev, NULL);
    return 0;
}

static int
on_timer_change(CURLM *multi, long timeout_ms, void *userp)
{
    struct ews_http *h = userp;
    struct timeval tv;

    (void)multi;
    if (timeout_ms < 0) {
        evtimer_del(h->timer);
        return 0;
    }
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    evtimer_add(h->timer, &tv);
    return 0;
}

static void
on_timer(evutil_socket_t fd, short events, void *arg)
{
    struct ews_http *h = arg;
    int running;

    (void)fd;
    (void)events;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    deliver_data(h);
    finish_done(h);
}

static void
on_event(evutil_socket_t fd, short events, void *arg)
{
    struct sock_watch *w = arg;
    struct ews_http *h = w->h;
    int flags =
        ((events & EV_READ) ? CURL_CSELECT_IN : 0) | ((events & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running;

    /* W may be freed inside the call (CURL_POLL_REMOVE): only H is used afterwards. */
    curl_multi_socket_action(h->multi, fd, flags, &running);
    deliver_data(h);
    finish_done(h);
}

/* Hands streamed bytes to their owners outside of libcurl's callbacks: libcurl refuses to add
 * or remove transfers from inside them, and an owner reacting to a notification starts (or
 * cancels) other operations. A callback may cancel other transfers, so the walk starts over
 * after each call. */
static void
deliver_data(struct ews_http *h)
{
    struct ews_xfer *x;
    bool again = true;

    while (again) {
        again = false;
        TAILQ_FOREACH(x, &h->xfers, link)
        {
            size_t len = x->len;

            if (!x->streaming || len == 0)
                continue;
            /* No libcurl call happens during the callback, so BUF stays as it is. */
            x->len = 0;
            if (x->data(x->ud, x->buf, len) != 0) {
                x->stopped = true;
                complete(h, x, CURLE_WRITE_ERROR);
            }
            again = true;
            break;
        }
    }
}

/* Ends X with CODE: its done callback, then X is freed. */
static void
complete(struct ews_http *h, struct ews_xfer *x, CURLcode code)
{
    struct ews_http_result r;

    memset(&r, 0, sizeof(r));
    r.code = code;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_getinfo(x->easy, CURLINFO_HTTPAUTH_AVAIL, &r.auth_avail);
    curl_easy_getinfo(x->easy, CURLINFO_SSL_VERIFYRESULT, &r.verify_result);
    r.body = x->buf != NULL && !x->streaming ? x->buf : "";
    r.len = x->streaming ? 0 : x->len;
    r.location = x->location;
    r.retry_after_s = x->retry_after;
    r.too_large = x->too_large;
    r.stopped = x->stopped;
    r.error = x->errbuf[0] != '\0' ? x->errbuf : curl_easy_strerror(r.code);
    curl_multi_remove_handle(h->multi, x->easy);
    TAILQ_REMOVE(&h->xfers, x, link);
    h->active--;
    x->done(x->ud, &r);
    xfer_free(x);
}

/* Hands every finished transfer to its owner, outside of any libcurl callback. */
static void
finish_done(struct ews_http *h)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
        struct ews_xfer *x = NULL;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        complete(h, x, msg->data.result);
    }
}

static void
xfer_free(struct ews_xfer *x)
{
    curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    free(x->buf);
    free(x->location);
    free(x);
}

void
ews_http_cancel(struct ews_xfer *x)
{
    struct ews_http *h = x->h;

    curl_multi_remove_handle(h->multi, x->easy);
    TAILQ_REMOVE(&h->xfers, x, link);
    h->active--;
    xfer_free(x);
}

static size_t
on_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct ews_xfer *x = userdata;
    size_t n = size * nmemb;

    long status = 0;

    /* Only a 200 answer is a stream; an error answer is collected for classification. A
     * stream's bytes wait here for deliver_data, after libcurl returns: one call of
     * curl_multi_socket_action reads a bounded amount, far below STREAM_PENDING_MAX. */
    if (x->data != NULL)
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    x->streaming = x->data != NULL && status == 200;
    if (x->len + n > (x->streaming ? STREAM_PENDING_MAX : x->max)) {
        x->too_large = true;
        return 0;
    }
    if (x->len + n + 1 > x->cap) {
        size_t cap = x->cap == 0 ? 8192 : x->cap;
        char *b;

        while (cap < x->len + n + 1)
            cap *= 2;
        b = realloc(x->buf, cap);
        if (b == NULL)
            return 0;
        x->buf = b;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, ptr, n);
    x->len += n;
    x->buf[x->len] = '\0';
    return n;
}

/* Keeps Location and Retry-After of the last response (an NTLM exchange has several). */
static size_t
on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct ews_xfer *x = userdata;
    size_t n = size * nmemb;
    size_t vlen;
    const char *v;

    if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
        free(x->location);
        x->location = NULL;
        x->retry_after = -1;
        return n;
    }
    if (n > 9 && strncasecmp(ptr, "Location:", 9) == 0) {
        v = ptr + 9;
    } else if (n > 12 && strncasecmp(ptr, "Retry-After:", 12) == 0) {
        v = ptr + 12;
    } else {
        return n;
    }
    while (v < ptr + n && (*v == ' ' || *v == '\t'))
        v++;
    vlen = (size_t)(ptr + n - v);
    while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
        vlen--;
    if (ptr[0] == 'L' || ptr[0] == 'l') {
        free(x->location);
        x->location = strndup(v, vlen);
    } else if (vlen > 0 && vlen < 10) {
        char tmp[12];

        memcpy(tmp, v, vlen);
        tmp[vlen] = '\0';
        /* Retry-After may also be an HTTP date; only the seconds form is used. */
        x->retry_after = strspn(tmp, "0123456789") == vlen ? strtol(tmp, NULL, 10) : -1;
    }
    return n;
}

static struct curl_slist *
add_header(struct curl_slist *l, const char *name, const char *value, bool *oom)
{
    char line[512];
    struct curl_slist *n;

    if (*oom)
        return l;
    snprintf(line, sizeof(line), "%s: %s", name, value);
    n = curl_slist_append(l, line);
    if (n == NULL) {
        *oom = true;
        return l;
    }
    return n;
}

static struct curl_slist *
build_headers(const struct ews_http_req *req, bool *oom)
{
    struct curl_slist *l = NULL;
    char action[160];

    if (req->body != NULL)
        l = add_header(l, "Content-Type",
                       req->content_type != NULL ? req->content_type : "text/xml; charset=utf-8",
                       oom);
    if (req->soap_action != NULL) {
        snprintf(action, sizeof(action),
                 strstr(req->soap_action, "://") != NULL
                     ? "\"%s\""
                     : "\"http://schemas.microsoft.com/exchange/services/2006/messages/%s\"",
                 req->soap_action);
        l = add_header(l, "SOAPAction", action, oom);
    }
    if (req->anchor_mailbox != NULL)
        l = add_header(l, "X-AnchorMailbox", req->anchor_mailbox, oom);
    /* No "Expect: 100-continue" round trip: Exchange answers at once anyway. */
    l = add_header(l, "Expect", "", oom);
    return l;
}

/* The SSL_CTX of a weak_tls connection: security level 0 (certs/ decides what that means). */
static CURLcode
lower_seclevel(CURL *easy, void *ssl_ctx, void *ud)
{
    (void)easy;
    (void)ud;
    cert_ssl_ctx_apply_policy(ssl_ctx, false);
    return CURLE_OK;
}

struct ews_xfer *
ews_http_start(struct ews_http *h, const struct ews_http_req *req, ews_http_data_fn data,
               ews_http_done_fn done, void *ud, char *why, size_t whylen)
{
    struct ews_xfer *x;
    bool oom = false;
    bool http_ok = h->opts->allow_http || req->allow_http;

    if (!ews_http_url_allowed(req->url, http_ok)) {
        snprintf(why, whylen, "refused URL (https only, no user:password@): %s",
                 ews_http_url_has_userinfo(req->url) ? "(not shown)" : req->url);
        return NULL;
    }
    /* The mailbox comes from users and configuration: a line break in it would end the
     * header and start others of its choosing. */
    if (req->anchor_mailbox != NULL && strpbrk(req->anchor_mailbox, "\r\n") != NULL) {
        snprintf(why, whylen, "line break in the mailbox refused (X-AnchorMailbox)");
        return NULL;
    }
    x = calloc(1, sizeof(*x));
    if (x == NULL || (x->easy = curl_easy_init()) == NULL) {
        free(x);
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    x->h = h;
    x->data = data;
    x->done = done;
    x->ud = ud;
    x->max = req->max_body;
    x->retry_after = -1;
    x->headers = build_headers(req, &oom);
    if (oom) {
        xfer_free(x);
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    if (!req->no_auth && ews_auth_apply(h->auth, x->easy, why, whylen) < 0) {
        xfer_free(x);
        return NULL;
    }
    curl_easy_setopt(x->easy, CURLOPT_URL, req->url);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, http_ok ? "http,https" : "https");
    curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L);
    /* Verification is always on; only the configured trust store counts (NULL switches off
     * libcurl's built-in bundle, so the system store is not trusted behind the admin's back). */
    curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(x->easy, CURLOPT_CAPATH, h->opts->trust_dir);
    curl_easy_setopt(x->easy, CURLOPT_CAINFO, h->opts->ca_file);
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT, req->timeout_s);
    curl_easy_setopt(x->easy, CURLOPT_TCP_KEEPALIVE, 1L);
    /* NTLM and Negotiate authenticate a connection, which HTTP/2 multiplexing breaks. */
    curl_easy_setopt(x->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    if (req->weak_tls) {
        /* A different cipher string also keeps libcurl from sharing these connections with
         * normal ones. */
        curl_easy_setopt(x->easy, CURLOPT_SSL_CIPHER_LIST, "DEFAULT:@SECLEVEL=0");
        curl_easy_setopt(x->easy, CURLOPT_SSL_CTX_FUNCTION, lower_seclevel);
    }
    if (h->opts->connect_to != NULL)
        curl_easy_setopt(x->easy, CURLOPT_CONNECT_TO, h->opts->connect_to);
    if (req->body != NULL) {
        curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE, (long)req->body_len);
        curl_easy_setopt(x->easy, CURLOPT_COPYPOSTFIELDS, req->body);
    }
    if (curl_multi_add_handle(h->multi, x->easy) != CURLM_OK) {
        xfer_free(x);
        snprintf(why, whylen, "curl_multi_add_handle failed");
        return NULL;
    }
    TAILQ_INSERT_TAIL(&h->xfers, x, link);
    h->active++;
    return x;
}
