/* ews/: the Exchange Web Services client library (issue 3), its one public header.
 *
 * Asynchronous: every operation is driven by the libevent loop the caller passes to
 * ews_client_new and ends with exactly one call of its completion callback, on that loop,
 * never from inside the call that started it (unless ews_cancel or ews_client_destroy came
 * first: then the callback is never called). Requests go out over HTTPS through libcurl's
 * multi interface, at most `concurrency` at a time per server, through a queue of at most
 * `queue` waiting requests; a call that would overflow the queue returns EWS_E_QUEUE_FULL at
 * once. ErrorServerBusy / HTTP 503 are waited out (exactly BackOffMilliseconds) and retried
 * while the retry can start within `timeout` seconds of the call; otherwise the callback gets
 * the retry-later error with its backoff_ms.
 *
 * Servers: each mailbox is assigned round-robin to a healthy server and keeps it until a
 * Subscribe for it fails (then it moves to the next healthy server) or its server goes down.
 * A server that answered with a server-down error (connect, TLS, timeout) is skipped until a
 * GetFolder probe through it succeeds.
 *
 * The data types and the pure SOAP functions (names of enums, ews_parse_send_notification and
 * ews_build_send_notification_result for the push listener) come with ews_types.h/ews_xml.h.
 * ews/ knows nothing of XMPP. */
#ifndef CP_EWS_H
#define CP_EWS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "ews_types.h"
#include "ews_xml.h"

struct event_base;

enum ews_auth_kind {
    EWS_AUTH_ANY = 0, /* the server's 401 picks among Basic, NTLM, Negotiate (when GSS-API) */
    EWS_AUTH_BASIC,
    EWS_AUTH_NTLM,
    EWS_AUTH_NEGOTIATE, /* Kerberos/SPNEGO; needs a libcurl with GSS-API */
    EWS_AUTH_BEARER,    /* OAuth2 token read from token_file, re-read when its mtime changes */
};

/* Levels of the log callback; the same numbers as the component's log. */
enum ews_log_level { EWS_LOG_ERROR = 0, EWS_LOG_WARN, EWS_LOG_INFO, EWS_LOG_DEBUG };

/* One log line `subject: event (reason)`, never a secret. */
typedef void (*ews_log_fn)(void *ud, int level, const char *area, const char *msg);

/* --dump: every request and answer. DIRECTION is "request" or "response", WHAT the URL or the
 * HTTP status line; BODY (LEN bytes, not NUL-terminated) is the SOAP as sent, which never holds
 * a credential (they travel in HTTP headers, which are not passed). */
typedef void (*ews_dump_fn)(void *ud, const char *direction, const char *what, const char *body,
                            size_t len);

/* Everything is copied by ews_client_new; the caller's strings may go away afterwards. */
struct ews_config {
    const char *const *urls; /* EWS endpoints, https:// only; or one item "autodiscover" */
    size_t n_urls;
    const char *username; /* UPN or DOMAIN\user */
    const char *password;
    const char *token_file; /* EWS_AUTH_BEARER */
    enum ews_auth_kind auth;
    enum ews_impersonation_kind impersonation;
    enum ews_server_version server_version;
    const char *trust_dir; /* OpenSSL hashed CA directory (CURLOPT_CAPATH); NULL = none */
    const char *ca_file;   /* PEM bundle (CURLOPT_CAINFO); NULL = none */
    int timeout;           /* seconds per request (CURLOPT_TIMEOUT), >= 1 */
    size_t queue;          /* waiting requests at most, >= 1 */
    unsigned concurrency;  /* requests in flight per server, >= 1 */
    int probe_interval;    /* seconds between probes of a down server; 0 = 10 */
    /* weak_certificates = warn: a server whose TLS handshake fails at OpenSSL's default
     * security level (SHA-1 signatures, RSA 1024, TLS 1.0/1.1) is retried at level 0 for its
     * connections only, and the log says so. Verification stays on. */
    bool allow_weak_tls;
    ews_log_fn log;
    void *log_ud;
    ews_dump_fn dump; /* NULL = no dump */
    void *dump_ud;
    /* Tests only: accept http:// URLs. Never set from the configuration file. */
    bool allow_http_for_tests;
    /* Tests only: CURLOPT_CONNECT_TO entries ("host:port:connect-host:connect-port"), so that
     * autodiscover host names reach 127.0.0.1. */
    const char *const *connect_to_for_tests;
    size_t n_connect_to;
};

struct ews_client;
struct ews_op; /* one operation in progress; valid until its callback returns or ews_cancel */

/* Creates a client on BASE. Returns 0 and *OUT (free with ews_client_destroy), EWS_E_INVAL
 * with a logged reason (no URL, an http:// URL, auth negotiate without GSS-API, bearer without
 * token_file, ...) or EWS_E_NOMEM. */
int ews_client_new(struct event_base *base, const struct ews_config *cfg, struct ews_client **out);

/* Cancels every operation (no callback is called) and frees the client. Must not be called
 * from inside one of the client's callbacks. */
void ews_client_destroy(struct ews_client *c);

/* Cancels OP: its callbacks are never called. OP is freed; the pointer is dead afterwards.
 * Must not be called for an operation whose callback is running. */
void ews_cancel(struct ews_op *op);

/* Seconds OP's HTTP exchanges spent in libcurl: from each hand-off to libcurl to its answer,
 * summed over the retries, authentication fallbacks and split pieces of the operation, so that
 * the waits in the queue and in an ErrorServerBusy back-off are not in it (the pool state
 * shows those). Negative when no exchange of OP finished (it failed before reaching
 * Exchange). For the completion callback, where OP is still valid; not for streaming. */
double ews_op_seconds(const struct ews_op *op);

/* Every callback gets RC = 0 and a result, or a negative ews_rc (EWS_E_RESPONSE: Exchange
 * refused, EWS_E_TRANSPORT: no usable HTTP answer, EWS_E_MALFORMED/UNSAFE/TOO_LARGE: unusable
 * answer) with ERR filled; ERR is never NULL. Results are the library's: they are freed when
 * the callback returns, but the callback may move members out (set them to NULL / 0). */
typedef void (*ews_done_cb)(void *ud, int rc, const struct ews_error *err);
typedef void (*ews_subscribe_cb)(void *ud, int rc, struct ews_subscribe_result *res,
                                 const struct ews_error *err);
typedef void (*ews_events_cb)(void *ud, int rc, struct ews_notification_list *res,
                              const struct ews_error *err);
typedef void (*ews_calendar_cb)(void *ud, int rc, struct ews_calendar_view *res,
                                const struct ews_error *err);
typedef void (*ews_availability_cb)(void *ud, int rc, struct ews_availability *res,
                                    const struct ews_error *err);
typedef void (*ews_folder_cb)(void *ud, int rc, struct ews_folder_result *res,
                              const struct ews_error *err);
/* One GetStreamingEvents envelope (borrowed). Return 0 to go on, non-zero to close the
 * stream (the done callback then gets rc 0). It runs from the loop, outside libcurl, and may
 * start and cancel other operations (not its own stream: return non-zero instead). */
typedef int (*ews_frame_cb)(void *ud, const struct ews_stream_frame *frame);

enum ews_subscription_kind { EWS_SUB_PUSH = 0, EWS_SUB_PULL, EWS_SUB_STREAMING };

struct ews_subscribe_params {
    enum ews_subscription_kind kind;
    const char *url;      /* push: where Exchange POSTs (borrowed) */
    int status_frequency; /* push: minutes 1..1440 */
    int timeout;          /* pull: minutes 1..1440 */
};

/* All operations: MAILBOX is the impersonated mailbox (and X-AnchorMailbox); the string is
 * copied. On success they return 0 and, when OP_OUT is not NULL, the handle for ews_cancel.
 * On failure they return EWS_E_QUEUE_FULL (logged), EWS_E_INVAL or EWS_E_NOMEM and the
 * callback is never called. */

/* Subscribes MAILBOX's calendar. A failure of class server-down, resubscribe or rediscover
 * moves the mailbox to the next healthy server, so that the caller's retry goes there. */
int ews_subscribe(struct ews_client *c, const char *mailbox, const struct ews_subscribe_params *p,
                  ews_subscribe_cb cb, void *ud, struct ews_op **op_out);

int ews_unsubscribe(struct ews_client *c, const char *mailbox, const char *subscription_id,
                    ews_done_cb cb, void *ud, struct ews_op **op_out);

/* Pull: the events since WATERMARK. */
int ews_get_events(struct ews_client *c, const char *mailbox, const char *subscription_id,
                   const char *watermark, ews_events_cb cb, void *ud, struct ews_op **op_out);

/* Streaming: one long request for up to EWS_MAX_STREAMING_IDS subscriptions made through
 * ANCHOR_MAILBOX's server; FRAME_CB runs for every envelope as it arrives (heartbeats too),
 * DONE_CB once at the end (rc 0 after ConnectionStatus Closed or when FRAME_CB stopped).
 * Streaming requests are long-lived: they are not queued and do not count against
 * `concurrency`. */
int ews_get_streaming_events(struct ews_client *c, const char *anchor_mailbox,
                             const char *const *subscription_ids, size_t n_ids,
                             int connection_timeout_min, ews_frame_cb frame_cb, ews_done_cb done_cb,
                             void *ud, struct ews_op **op_out);

/* CalendarView of [START, END). When Exchange cuts the answer (IncludesLastItemInRange false)
 * the window is split in halves and asked again until every part is complete; the callback
 * gets one merged view, sorted by start, without duplicates. MAX_ENTRIES <= 0 means 500. */
int ews_calendar_view(struct ews_client *c, const char *mailbox, time_t start, time_t end,
                      int max_entries, ews_calendar_cb cb, void *ud, struct ews_op **op_out);

/* GetUserAvailability for 1..EWS_MAX_AVAILABILITY_MAILBOXES mailboxes (FreeBusy view, merged
 * interval 30 min), sent through and impersonating MAILBOXES[0]. */
int ews_availability(struct ews_client *c, const char *const *mailboxes, size_t n, time_t start,
                     time_t end, ews_availability_cb cb, void *ud, struct ews_op **op_out);

/* GetFolder of MAILBOX's calendar: the cheapest full round trip (reachability, TLS,
 * authentication, impersonation). */
int ews_get_folder(struct ews_client *c, const char *mailbox, ews_folder_cb cb, void *ud,
                   struct ews_op **op_out);

/* ---- pool state, for the engine and the troubleshooter ---- */

/* Number of servers (0 while autodiscover has found none yet). */
size_t ews_client_n_servers(const struct ews_client *c);

struct ews_server_status {
    const char *url; /* borrowed from the client */
    bool healthy;
    unsigned in_flight;
    size_t queued;
    size_t mailboxes;            /* assigned to it */
    long backoff_left_ms;        /* 0 when no back-off runs */
    struct ews_server_info info; /* ServerVersionInfo of its last answer; major -1 if none */
};

/* Fills *OUT for server IDX; EWS_E_INVAL when IDX is out of range. */
int ews_client_server_status(const struct ews_client *c, size_t idx, struct ews_server_status *out);

/* The URL MAILBOX is assigned to (borrowed), or NULL when it has none yet. */
const char *ews_client_server_of(const struct ews_client *c, const char *mailbox);

/* Moves MAILBOX to the next healthy server (the caller saw its subscription fail in a way the
 * library could not: e.g. no notification for 2 x StatusFrequency). Returns its new URL. */
const char *ews_client_reassign(struct ews_client *c, const char *mailbox);

/* Forgets MAILBOX's assignment (the user was disabled). */
void ews_client_forget(struct ews_client *c, const char *mailbox);

/* Assigns MAILBOX to the server with URL, e.g. the one a stored subscription was made on, so
 * that its Unsubscribe or GetEvents after a restart goes there. Returns 0, EWS_E_INVAL when URL
 * is not one of the client's servers, or EWS_E_NOMEM. */
int ews_client_pin(struct ews_client *c, const char *mailbox, const char *url);

/* Changes `timeout` (seconds, >= 1) for requests started from now on (configuration reload).
 * Returns 0 or EWS_E_INVAL. */
int ews_client_set_timeout(struct ews_client *c, int timeout);

/* ---- autodiscover (also used by the client when urls is "autodiscover") ---- */

/* Called once with the EWS URL found for EMAIL (borrowed) or NULL and ERR. */
typedef void (*ews_discover_cb)(void *ud, const char *ews_url, const struct ews_error *err);

/* Finds EMAIL's EWS URL: POX autodiscover.xml POSTed to https://DOMAIN/autodiscover/ and then
 * https://autodiscover.DOMAIN/autodiscover/, then the unauthenticated GET of
 * http://autodiscover.DOMAIN/autodiscover/autodiscover.xml whose 302 Location (https only) is
 * POSTed to, and SOAP GetUserSettings at https://autodiscover.DOMAIN/autodiscover/autodiscover.svc
 * (InternalEwsUrl, else ExternalEwsUrl). Same result conventions as the operations. */
int ews_autodiscover(struct ews_client *c, const char *email, ews_discover_cb cb, void *ud,
                     struct ews_op **op_out);

#endif
