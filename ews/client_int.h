/* Internals of struct ews_client shared by client*.c and autodiscover*.c. */
#ifndef EWS_CLIENT_INT_H
#define EWS_CLIENT_INT_H

#include <stdarg.h>
#include <stdint.h>
#include <sys/queue.h>

#include "auth_int.h"
#include "ews.h"
#include "pool_int.h"
#include "transport_int.h"

/* Answers larger than this are refused (the XML reader has its own, equal bound). */
#define EWS_MAX_ANSWER EWS_XML_DEFAULT_MAX_BYTES
/* Back-off after HTTP 503 without Retry-After, or ErrorServerBusy without a value. */
#define EWS_DEFAULT_BACKOFF_MS 2000

enum ews_op_kind {
    OP_SUBSCRIBE,
    OP_UNSUBSCRIBE,
    OP_GET_EVENTS,
    OP_STREAM,
    OP_CALENDAR,
    OP_AVAILABILITY,
    OP_FOLDER,
    OP_DISCOVER,
};

/* One HTTP exchange of an operation, queued on a server of the pool. */
struct ews_req {
    struct ews_qnode qn;
    struct ews_op *op;
    int server;    /* pool index; -1 while waiting for autodiscover */
    bool running;  /* false: in the server's queue (or the discovery wait list) */
    bool waiting;  /* in the discovery wait list */
    bool released; /* its domain's discovery ended (on_domain_found) */
    char *body;    /* the SOAP request (owned) */
    size_t body_len;
    const char *action; /* SOAPAction operation name (static) */
    time_t start, end;  /* calendar piece */
    uint64_t sent_us;   /* when its transfer was handed to libcurl (monotonic) */
    struct ews_xfer *xfer;
    LIST_ENTRY(ews_req) op_link;
    TAILQ_ENTRY(ews_req) wait_link; /* discovery wait list */
};

struct ews_op {
    TAILQ_ENTRY(ews_op) link;
    struct ews_client *c;
    enum ews_op_kind kind;
    char *mailbox;
    uint64_t submitted_ms;
    uint64_t wire_us; /* time its finished transfers spent in libcurl, summed */
    bool wired;       /* at least one transfer finished */
    void *cb;         /* the kind's callback type */
    ews_frame_cb frame_cb;
    void *ud;
    LIST_HEAD(, ews_req) reqs;
    struct event *defer; /* failure reported from the loop, not from inside the call */
    int defer_rc;
    struct ews_error defer_err;
    union {
        struct ews_subscribe_result sub;
        struct ews_notification_list events;
        struct ews_calendar_view cal;
        struct ews_availability avail;
        struct ews_folder_result folder;
    } res;
    size_t cal_cap;
    int max_entries;
    int cal_requests;          /* FindItem requests sent for this view, split pieces included */
    bool cal_capped;           /* the request cap stopped a split (logged once) */
    struct ews_stream *stream; /* OP_STREAM */
    struct ews_xfer *stream_xfer;
    int stream_server;
    bool stream_closed;          /* ConnectionStatus Closed seen */
    bool stream_stopped;         /* the frame callback asked to stop */
    int stream_rc;               /* a feed failure (EWS_E_TOO_LARGE, EWS_E_UNSAFE, ...) */
    struct ews_discovery *disco; /* OP_DISCOVER */
};

/* Per-server state the pool does not keep (events, ServerVersionInfo). Allocated one by one
 * because the events point at it while the array of pointers may grow. */
struct ews_server_extra {
    struct ews_client *c;
    size_t idx;
    struct event *wake;  /* end of a back-off: dispatch again */
    struct event *probe; /* next probe of a down server */
    struct ews_xfer *probe_xfer;
    struct ews_server_info info;
    bool have_info;
    bool weak_tls;       /* its connections use OpenSSL security level 0 */
    bool weak_confirmed; /* a handshake at level 0 succeeded: weak_tls is for good */
    int tls_failures;    /* handshakes in a row that failed at the default level */
};

struct ews_client {
    struct event_base *base;
    enum ews_impersonation_kind imp;
    enum ews_server_version version;
    long timeout_s;
    int probe_interval_s;
    bool allow_weak_tls;
    ews_log_fn log;
    void *log_ud;
    ews_dump_fn dump;
    void *dump_ud;
    struct ews_auth auth;
    char *trust_dir;
    char *ca_file;
    struct ews_http_opts opts;
    struct ews_http *http;
    struct ews_pool pool;
    struct ews_server_extra **extra; /* one per pool server */
    size_t n_extra;
    TAILQ_HEAD(, ews_op) ops;
    bool autodiscover;
    struct ews_discovered *discovered; /* domain -> server, autodiscover mode */
    TAILQ_HEAD(, ews_req) disco_wait;  /* requests waiting for their domain's URL */
    size_t n_waiting;
    size_t max_pending;
};

/* Logs one line `subject: event (reason)` through the configured callback. */
void ews_logf(struct ews_client *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A new operation of KIND for MAILBOX (copied), linked into the client. NULL when out of
 * memory. Freed by ews_op_finish / ews_cancel. */
struct ews_op *ews_op_new(struct ews_client *c, enum ews_op_kind kind, const char *mailbox,
                          void *cb, void *ud);

/* Queues a request of OP carrying BODY (ownership taken, freed even on failure) with SOAPAction
 * ACTION. AT_FRONT bypasses the queue bound (split work already accepted). Returns 0,
 * EWS_E_QUEUE_FULL (logged) or EWS_E_NOMEM. */
int ews_op_submit(struct ews_op *op, char *body, const char *action, bool at_front,
                  struct ews_req **out);

/* The request context (impersonation of MAILBOX, server_version). */
struct ews_request_ctx ews_client_ctx(const struct ews_client *c, const char *mailbox);

/* Calls OP's callback with RC/ERR (result in op->res when RC is 0), then frees OP. */
void ews_op_finish(struct ews_op *op, int rc, const struct ews_error *err);

/* Reports RC/ERR from the loop (the caller is still inside the starting call). */
void ews_op_fail_later(struct ews_op *op, int rc, const struct ews_error *err);

/* Frees OP and everything it holds, without any callback. */
void ews_op_free(struct ews_op *op);

/* Cancels and frees every request of OP. */
void ews_op_drop_reqs(struct ews_op *op);

/* Autodiscover operations (autodiscover.c): free their state, call their callback. */
void ews_discovery_op_free(struct ews_op *op);
void ews_discovery_op_finish(struct ews_op *op, int rc, const struct ews_error *err);

/* Frees the result members of op->res for OP's kind (client_ops.c). */
void ews_op_free_results(struct ews_op *op);

/* Parses a 200 answer of REQ into op->res (calendar: merges, may queue halves). Returns 0,
 * 1 when more requests of the operation are still running, or a negative rc with ERR. */
int ews_op_parse(struct ews_op *op, struct ews_req *req, const char *body, size_t len,
                 struct ews_error *err);

/* Fills ERR for a transport failure. */
void ews_error_set(struct ews_error *err, enum ews_error_class cls, int http_status,
                   const char *code, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The wait a retry-later answer asks for: BackOffMilliseconds, else Retry-After (seconds,
 * -1 when absent), else EWS_DEFAULT_BACKOFF_MS. */
uint32_t ews_backoff_ms(const struct ews_error *err, long retry_after_s);

/* Starts queued requests of server IDX while the pool allows. */
void ews_client_dispatch(struct ews_client *c, size_t idx);

/* client_health.c: a 401 with auth = any after libcurl chose Negotiate: true when Negotiate
 * was dropped and the request should be retried once. */
bool ews_client_auth_fallback(struct ews_client *c, const struct ews_http_result *r);

/* A server-down error on server IDX: skipped until a probe gets an answer from it. */
void ews_client_server_failed(struct ews_client *c, size_t idx, const char *why);

/* Records the ServerVersionInfo of an answer of server IDX, when it has one. */
void ews_client_record_info(struct ews_client *c, size_t idx, const char *body, size_t len);

/* True (and the server marked weak) when R failed in the TLS handshake of server IDX and
 * weak_certificates allows a retry at security level 0; logged once per server. */
bool ews_client_try_weak_tls(struct ews_client *c, size_t idx, const struct ews_http_result *r);

/* Adds URL to the pool (or finds it); returns its index or a negative rc. */
int ews_client_add_server(struct ews_client *c, const char *url);

/* Autodiscover mode: REQ waits for its mailbox's domain; starts discovery when needed. */
int ews_discovery_wait(struct ews_client *c, struct ews_req *req);
/* Removes REQ from the wait list (cancel). */
void ews_discovery_unwait(struct ews_client *c, struct ews_req *req);
void ews_discovery_clear(struct ews_client *c);
/* Forgets MAILBOX's domain mapping (rediscover error class). */
void ews_discovery_forget(struct ews_client *c, const char *mailbox);

#endif
