/* Push-notification listener: the HTTP(S) endpoint Exchange POSTs SendNotification to (push mode).
 * Includes only libc and ews/ (for its data types); libevent and OpenSSL stay in listener.c. */
#ifndef CP_LISTENER_H
#define CP_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ews.h"

struct event_base;
struct cp_listener;

/* Exchange splits its event queue over several POSTs (MoreEvents) and an event is about half a
 * kilobyte of XML, so 1 MiB holds some two thousand events: far more than one POST carries. */
#define CP_LISTENER_DEFAULT_MAX_BODY (1024u * 1024u)
/* Exchange sends a dozen short headers; 64 KiB leaves room for long Authorization or proxy
 * headers while bounding what a client can make us buffer before its body. */
#define CP_LISTENER_MAX_HEADERS (64u * 1024u)
/* Seconds a connection may stay silent (reading or writing) before it is dropped. */
#define CP_LISTENER_DEFAULT_TIMEOUT 30

/* The engine's decision for one notification: true keeps the subscription (SubscriptionStatus
 * OK), false asks Exchange to drop it (Unsubscribe): an id we did not create, or a user who
 * turned calendar presence off. n is borrowed for the call. Runs on the event loop inside the
 * HTTP callback: it must not free the listener. */
typedef bool (*cp_listener_verdict_fn)(void *ud, const struct ews_notification *n);

/* One operator log line, without the area prefix (the caller adds "listener"). level: 0 error,
 * 1 warn, 2 info, 3 debug (the values of enum cp_log_level). msg is borrowed for the call and
 * never holds any part of a request body. */
typedef void (*cp_listener_log_fn)(void *ud, int level, const char *msg);

struct cp_listener_config {
    /* "IPv4:port", "[IPv6]:port" or "name:port"; port 0 picks a free port (tests). A name is
     * resolved once by cp_listener_new, which may block that long; it binds the first address
     * the name resolves to. */
    const char *listen;
    const char *path;     /* the path of the notification URL, e.g. "/ews/notify" */
    const char *tls_cert; /* PEM file: the certificate, then its chain; NULL = plain HTTP */
    const char *tls_key;  /* PEM private key; required with tls_cert */
    size_t max_body;      /* bytes; 0 = CP_LISTENER_DEFAULT_MAX_BODY */
    int timeout;          /* seconds; 0 = CP_LISTENER_DEFAULT_TIMEOUT */
    cp_listener_verdict_fn verdict; /* required */
    cp_listener_log_fn log;         /* NULL = no log */
    void *ud;                       /* passed to verdict and log */
};

/* Counters since cp_listener_new, for the operator's periodic summary. */
struct cp_listener_stats {
    uint64_t requests;               /* HTTP requests answered, refused ones included */
    uint64_t notifications;          /* notifications handed to the verdict callback */
    uint64_t ok;                     /* POSTs answered SubscriptionStatus OK */
    uint64_t unsubscribed;           /* POSTs answered Unsubscribe */
    uint64_t refused_malformed;      /* 400/415: not a well-formed, safe SendNotification, or a
                                        request line or header libevent could not parse */
    uint64_t refused_too_large;      /* 413: body over max_body */
    uint64_t refused_method_or_path; /* 404 wrong path, 405 not POST */
};

/* What the pure core decided about one body. */
enum cp_listener_outcome {
    CP_LISTENER_OK = 0,      /* 200, SubscriptionStatus OK */
    CP_LISTENER_UNSUBSCRIBE, /* 200, SubscriptionStatus Unsubscribe */
    CP_LISTENER_MALFORMED,   /* 400 */
    CP_LISTENER_TOO_LARGE,   /* 413 */
};

/* The answer to one body. */
struct cp_listener_reply {
    enum cp_listener_outcome outcome;
    int http_status;          /* 200, 400 or 413 */
    const char *content_type; /* static string */
    char *body;               /* owned: the caller frees it with free() */
    size_t body_len;
    size_t notifications; /* how many the verdict callback saw */
    const char *reason;   /* static: why a body was refused; NULL when it was accepted */
};

/* The socket-free core: parses body (len bytes, not necessarily NUL-terminated) as a
 * SendNotification and fills *out. A body over max_body (0 = the default), not well-formed,
 * carrying a DOCTYPE or not a SendNotification gets a 4xx reply and fn is never called.
 * Otherwise fn is called once per notification, in order, and the reply is SubscriptionStatus
 * Unsubscribe only when fn refused every one of them: one POST answers for all its
 * notifications, so an Unsubscribe would also end the subscriptions fn wanted to keep.
 * Returns 0; or CP_ENOMEM (out->body is then NULL; fn may have run); CP_EINVAL for a NULL
 * body with len > 0, a NULL fn or a NULL out. The caller frees out->body. */
int cp_listener_handle(const char *body, size_t len, size_t max_body, cp_listener_verdict_fn fn,
                       void *ud, struct cp_listener_reply *out);

/* Binds cfg->listen on base and serves until cp_listener_free. cfg's strings are copied. On
 * failure *out stays NULL and why (whylen bytes, may be 0) holds the reason, for a fatal
 * start-up error: a bad listen string or path, a bind error, a certificate or key that does not
 * load. Returns 0, CP_EINVAL (bad configuration, certificate or key), CP_EIO (resolve or bind),
 * CP_ENOMEM. The caller frees *out with cp_listener_free, before base. */
int cp_listener_new(struct event_base *base, const struct cp_listener_config *cfg,
                    struct cp_listener **out, char *why, size_t whylen);

/* Closes the socket and every open connection and frees l. NULL is allowed. Not from inside
 * the verdict or log callback. */
void cp_listener_free(struct cp_listener *l);

/* The port bound (the one picked when cfg->listen asked for port 0). */
uint16_t cp_listener_port(const struct cp_listener *l);

/* The counters; the pointer stays valid until cp_listener_free. */
const struct cp_listener_stats *cp_listener_stats(const struct cp_listener *l);

#endif
