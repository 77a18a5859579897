/* The HTTP engine: libcurl's multi socket interface on a libevent loop. One engine per client;
 * all transfers share the multi handle, hence its connection cache (keep-alive reuse). Nothing
 * here blocks: name resolution is libcurl's asynchronous resolver, sockets are non-blocking. */
#ifndef EWS_TRANSPORT_INT_H
#define EWS_TRANSPORT_INT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "auth_int.h"

struct event_base;
struct ews_http;
struct ews_xfer;

/* TLS and test settings shared by every transfer; strings are borrowed for the engine's life. */
struct ews_http_opts {
    const char *trust_dir;
    const char *ca_file;
    bool allow_http;               /* tests only */
    struct curl_slist *connect_to; /* tests only */
};

/* One request. Strings and BODY are borrowed until ews_http_start returns (libcurl copies). */
struct ews_http_req {
    const char *url;
    const char *body; /* POST body; NULL = GET */
    size_t body_len;
    const char *soap_action;    /* EWS operation name or a full action URI; NULL = none */
    const char *anchor_mailbox; /* X-AnchorMailbox; NULL = none */
    const char *content_type;   /* NULL = "text/xml; charset=utf-8" */
    long timeout_s;
    size_t max_body; /* answers longer than this fail with CURLE_WRITE_ERROR, too_large set */
    bool no_auth;    /* the unauthenticated autodiscover redirect GET */
    bool allow_http; /* this request may use http:// (the autodiscover redirect GET) */
    bool weak_tls;   /* OpenSSL security level 0 for this connection (weak_certificates) */
};

struct ews_http_result {
    CURLcode code;    /* CURLE_OK when an HTTP answer arrived */
    long status;      /* HTTP status; 0 without an answer */
    const char *body; /* the answer (NUL-terminated; empty for a streamed 200 answer) */
    size_t len;
    const char *location; /* Location header, NULL when absent */
    long retry_after_s;   /* Retry-After in seconds, -1 when absent */
    bool too_large;       /* max_body exceeded */
    long auth_avail;      /* CURLAUTH_* schemes the server offered in its last 401 */
    long verify_result;   /* OpenSSL's X509_V_ERR_* of the peer's chain (X509_V_OK = 0) */
    bool stopped;         /* the data callback asked to stop */
    const char *error;    /* libcurl's reason when code != CURLE_OK */
};

/* Streaming: called with each piece of the answer as it arrives (the body is then not kept),
 * from the loop after libcurl returned, so that it may start and cancel other transfers.
 * Return 0 to go on, non-zero to end the transfer (result.stopped). */
typedef int (*ews_http_data_fn)(void *ud, const char *chunk, size_t len);
/* Called once when the transfer ended; RESULT is borrowed for the call. The transfer is freed
 * when the callback returns. */
typedef void (*ews_http_done_fn)(void *ud, const struct ews_http_result *result);

/* Creates the engine on BASE with OPTS and AUTH (both borrowed for its life). NULL when out of
 * memory. Free with ews_http_free. */
struct ews_http *ews_http_new(struct event_base *base, const struct ews_http_opts *opts,
                              struct ews_auth *auth);

/* Aborts every transfer without calling its callbacks and frees the engine. */
void ews_http_free(struct ews_http *h);

/* Starts REQ. DATA may be NULL (the body is collected). DONE is called later from the loop,
 * never from inside this call. Returns the transfer, or NULL with a reason in WHY (URL scheme
 * refused, no token, out of memory). */
struct ews_xfer *ews_http_start(struct ews_http *h, const struct ews_http_req *req,
                                ews_http_data_fn data, ews_http_done_fn done, void *ud, char *why,
                                size_t whylen);

/* Aborts X; its callbacks are not called. */
void ews_http_cancel(struct ews_xfer *x);

/* True when URL may be used: https://, or http:// when ALLOW_HTTP, without user:password@. */
bool ews_http_url_allowed(const char *url, bool allow_http);

/* True when URL's authority carries user information (user:password@host). */
bool ews_http_url_has_userinfo(const char *url);

#endif
