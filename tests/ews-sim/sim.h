/* ews-sim: an Exchange Web Services simulator for tests, benchmarks and the demo.
 * One process, one libevent loop; every module shares this private header. Nothing here is
 * used outside tests/ews-sim/. */
#ifndef SIM_H
#define SIM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <libxml/tree.h>
#include <openssl/ssl.h>

#define SIM_NS_SOAP "http://schemas.xmlsoap.org/soap/envelope/"
#define SIM_NS_M "http://schemas.microsoft.com/exchange/services/2006/messages"
#define SIM_NS_T "http://schemas.microsoft.com/exchange/services/2006/types"
#define SIM_NS_E "http://schemas.microsoft.com/exchange/services/2006/errors"

#define SIM_MAX_CAS 16
#define SIM_NONE UINT32_MAX

enum sim_busy { BUSY_FREE, BUSY_TENTATIVE, BUSY_BUSY, BUSY_OOF, BUSY_ELSEWHERE, BUSY_NODATA };

enum sim_recur { RECUR_NONE, RECUR_DAILY, RECUR_WEEKLY, RECUR_WEEKDAYS };

/* A modified (moved) or deleted occurrence of a recurring series. */
struct sim_exception {
    uint32_t index; /* occurrence number, 0-based */
    int deleted;
    int64_t start, end;
    uint8_t busy;
};

struct sim_item {
    uint32_t id; /* global, stable; also the control protocol's item handle */
    uint32_t mailbox;
    int64_t start, end, created;
    uint8_t busy, cancelled, allday, recur;
    uint16_t interval;
    uint32_t count;   /* occurrences, 0 = no end date */
    uint32_t changes; /* ChangeKey counter */
    char *subject;
    char *location;
    struct sim_exception *exc;
    uint32_t nexc;
};

struct sim_sub;

struct sim_mailbox {
    uint32_t idx;
    char *smtp, *upn, *sid;
    int cas;
    uint32_t generation; /* bumped by a move: older subscriptions die */
    uint64_t seq;        /* event sequence: the watermark */
    uint32_t *items;
    uint32_t nitems, capitems;
    uint32_t *grants; /* accounts holding ApplicationImpersonation on this mailbox */
    uint32_t ngrants;
    uint32_t nsubs;
    struct sim_sub *subs; /* list through sub->mbx_next */
    uint64_t requests;
};

struct sim_account {
    char *name; /* UPN or DOMAIN\user as configured */
    char *password;
    int impersonate_all;
    uint32_t inflight;
    uint64_t requests;
};

/* One Client Access Server: a name and a listen address. */
struct sim_cas {
    char *name;
    char host[64];
    int port;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    int running;
    uint64_t requests;
};

enum sim_fault_kind {
    FAULT_BUSY,
    FAULT_503,
    FAULT_DELAY,
    FAULT_DROP,
    FAULT_MALFORMED,
    FAULT_SOAP,
    FAULT_MESSAGE
};

struct sim_fault {
    int kind;
    int cas;          /* -1: any */
    char *op;         /* NULL: any */
    uint32_t mailbox; /* SIM_NONE: any */
    long remaining;   /* -1: until cleared */
    long arg;         /* back-off or delay in ms */
    char *code;       /* FAULT_SOAP, FAULT_MESSAGE: the response code */
    char *inner;      /* FAULT_MESSAGE: InnerErrorResponseCode, or NULL */
    struct sim_fault *next;
};

struct sim_counters {
    uint64_t http_requests, unauthorized, auth_failed;
    uint64_t push_sent, push_ok, push_unsubscribe, push_failed, push_dropped;
    uint64_t stream_frames, events;
    uint64_t faults_applied, throttled;
    /* impersonated requests without X-AnchorMailbox, or naming another mailbox */
    uint64_t anchor_missing, anchor_mismatch;
};

struct sim {
    struct event_base *base;
    SSL_CTX *ssl;
    int plain_http;
    unsigned auth_mask; /* SIM_AUTH_* */
    double time_scale;
    int heartbeat_s;
    const struct sim_version *version;
    struct sim_cas cas[SIM_MAX_CAS];
    int ncas;
    struct sim_account *accounts;
    uint32_t naccounts;
    char **tokens;         /* Bearer tokens ... */
    uint32_t *token_owner; /* ... and the account each stands for */
    uint32_t ntokens;
    struct sim_mailbox *mailboxes;
    uint32_t nmailboxes, capmailboxes;
    struct sim_item **items; /* by id; NULL once deleted */
    uint32_t nitems, capitems;
    struct sim_map *mbx_map; /* lower-cased smtp/upn/sid -> mailbox index */
    struct sim_sub **subs;   /* by serial; NULL once gone */
    uint32_t nsubs, capsubs, live_subs;
    struct sim_fault *faults;
    struct sim_counters ctr;
    uint64_t op_count[32];      /* by operation, see sim_op_name */
    uint32_t max_concurrency;   /* EWSMaxConcurrency */
    uint32_t max_subscriptions; /* EWSMaxSubscriptions per target mailbox */
    long busy_backoff_ms;
    int push_connections;
    int verbose;
};

#define SIM_AUTH_BASIC 1u
#define SIM_AUTH_NTLM 2u
#define SIM_AUTH_NEGOTIATE 4u
#define SIM_AUTH_BEARER 8u

extern struct sim g_sim;

/* ---- util.c ---- */
void sim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sim_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *sim_xmalloc(size_t n);
void *sim_xcalloc(size_t n, size_t size);
void *sim_xrealloc(void *p, size_t n);
char *sim_xstrdup(const char *s);
void sim_xml_escape(struct evbuffer *out, const char *s);
void sim_lower(char *s);
/* base64 of n bytes into out (at least 4*((n+2)/3)+1 bytes). */
void sim_b64(const void *in, size_t n, char *out);
/* decodes into out (cap bytes); returns length or -1. */
int sim_unb64(const char *in, unsigned char *out, size_t cap);
void sim_fmt_time(int64_t t, char *out, size_t cap, int utc_z);
/* ISO 8601 (Z, offset or none = UTC) -> epoch seconds; 0 ok, -1 bad. */
int sim_parse_time(const char *s, int64_t *out);
int64_t sim_now(void);
xmlDocPtr sim_xml_parse(const char *buf, size_t n);
double sim_mono(void);

/* string -> uint32 hash map (keys copied, lower-cased by the caller) */
struct sim_map *sim_map_new(void);
void sim_map_free(struct sim_map *m);
void sim_map_put(struct sim_map *m, const char *key, uint32_t val);
uint32_t sim_map_get(const struct sim_map *m, const char *key);

/* ---- store.c ---- */
uint32_t sim_account_add(const char *name, const char *password);
uint32_t sim_account_find(const char *name);
uint32_t sim_account_login(const char *user, const char *domain);
int sim_mailbox_add(const char *smtp, const char *upn, const char *sid, int cas, uint32_t *idx);
uint32_t sim_mailbox_find(const char *key);
int sim_may_impersonate(uint32_t account, uint32_t mailbox);
int sim_grant(uint32_t account, uint32_t mailbox, int on);
struct sim_item *sim_item_new(uint32_t mailbox, int64_t start, int64_t end, int busy,
                              const char *subject);
struct sim_item *sim_item_get(uint32_t id);
void sim_item_delete(struct sim_item *it);
void sim_mailbox_move(uint32_t mailbox, int cas);
int sim_busy_parse(const char *s);
const char *sim_busy_name(int busy);
int sim_populate(uint32_t n, int64_t now);

/* One calendar entry after expansion: a single item, an occurrence or an exception. */
struct sim_occ {
    const struct sim_item *item;
    int64_t start, end;
    uint32_t index; /* occurrence index + 1, 0 for a single item */
    uint8_t busy;
    uint8_t type; /* 0 single, 1 occurrence, 2 exception */
};
/* Expands a mailbox's calendar over [from, to), sorted by start. Caller frees *out. */
size_t sim_calendar_view(uint32_t mailbox, int64_t from, int64_t to, struct sim_occ **out);
int sim_occurrence_find(const struct sim_item *it, uint32_t index, struct sim_occ *occ);
void sim_store_free(void);

/* ---- ids.c: opaque ids in answers ---- */
void sim_item_id(uint32_t mailbox, uint32_t item, uint32_t occ, char *out);
int sim_item_id_parse(const char *id, uint32_t *mailbox, uint32_t *item, uint32_t *occ);
void sim_folder_id(uint32_t mailbox, int folder, char *out);
int sim_folder_id_parse(const char *id, uint32_t *mailbox, int *folder);
void sim_watermark(uint32_t mailbox, uint64_t seq, char *out);
int sim_watermark_parse(const char *wm, uint32_t *mailbox, uint64_t *seq);
void sim_change_key(uint32_t changes, char *out);

enum sim_folder {
    FOLDER_CALENDAR,
    FOLDER_INBOX,
    FOLDER_ROOT,
    FOLDER_MSGROOT,
    FOLDER_DELETED,
    FOLDER_SENT,
    FOLDER_DRAFTS,
    FOLDER_CONTACTS,
    FOLDER_TASKS,
    FOLDER_OUTBOX,
    FOLDER_NOTES,
    FOLDER_JOURNAL,
    FOLDER_JUNK,
    FOLDER_COUNT
};
const char *sim_folder_name(int folder);
int sim_folder_parse(const char *distinguished);

/* ---- versions ---- */
struct sim_version {
    const char *name; /* profile: Exchange2010_SP2, Exchange2013, Exchange2016, Exchange2019 */
    int major, minor, build, revision;
    int max_request; /* index into the request version list; also the reported Version */
};
const struct sim_version *sim_version_find(const char *name);
/* index of a RequestServerVersion value, or -1 when unknown */
int sim_request_version(const char *v);
extern const char *const sim_request_versions[];

/* ---- events / subscriptions (subs.c, push.c, stream.c) ---- */
enum sim_event_type {
    EV_COPIED,
    EV_CREATED,
    EV_DELETED,
    EV_MODIFIED,
    EV_MOVED,
    EV_NEWMAIL,
    EV_FREEBUSY,
    EV_STATUS
};
void sim_emit(uint32_t mailbox, int type, uint32_t item);
void sim_subs_mailbox_moved(uint32_t mailbox);
void sim_subs_free_all(void);
void sim_subs_cas_stopped(int cas);

/* ---- http.c ---- */
int sim_cas_start(int cas);
void sim_cas_stop(int cas);
int sim_cas_find(const char *name);

/* ---- http.c: one HTTP request in the hands of the simulator ---- */
struct sim_conn;
struct sim_req;
typedef void (*sim_req_close_fn)(struct sim_req *r);

struct sim_req {
    struct evhttp_request *req;
    struct sim_conn *conn;
    int cas;
    uint32_t account;
    xmlDocPtr doc;
    xmlNodePtr header, op; /* op: the Body's first element */
    const char *opname;
    int version;      /* index in sim_request_versions */
    uint32_t mailbox; /* the mailbox acted on (impersonated or own), SIM_NONE when none */
    int inflight;     /* counted in the account's concurrency */
    int held;         /* the connection carries this request past its handler (stream, delay) */
    sim_req_close_fn on_close; /* called when the client goes away while held */
    void *data;
    struct event *timer;
};

/* Sends code + body (taken) as text/xml and releases r. */
void sim_req_reply(struct sim_req *r, int code, struct evbuffer *body);
/* Releases r without answering (the handler answered by itself, or the client left). */
void sim_req_release(struct sim_req *r);
void sim_req_hold(struct sim_req *r, sim_req_close_fn on_close, void *data);
void sim_req_unhold(struct sim_req *r);
/* Closes the request's TCP connection after the current callback. */
void sim_req_drop(struct sim_req *r);

/* ---- soap.c ---- */
void sim_soap_request(struct sim_req *r, const char *body, size_t n);
void sim_soap_begin(struct evbuffer *out, int with_header);
void sim_soap_end(struct evbuffer *out);
/* Answers a SOAP fault (HTTP 500) and releases r. */
void sim_soap_fault(struct sim_req *r, const char *code, const char *text, long backoff_ms);
void sim_op_run(struct sim_req *r);
/* A ResponseMessage of class Error: opening tag through DescriptiveLinkKey (caller closes it). */
void sim_msg_error(struct evbuffer *out, const char *msg_elem, const char *code, const char *text);
void sim_msg_ok(struct evbuffer *out, const char *msg_elem);
const char *sim_child_text(xmlNodePtr parent, const char *name);
xmlNodePtr sim_child(xmlNodePtr parent, const char *name);
xmlNodePtr sim_next(xmlNodePtr node, const char *name);

/* ---- ops: int handler(r, out) returns the HTTP status, or 0 when it took r over ---- */
typedef int (*sim_op_fn)(struct sim_req *r, struct evbuffer *out);
int sim_op_finditem(struct sim_req *r, struct evbuffer *out);
int sim_op_getitem(struct sim_req *r, struct evbuffer *out);
int sim_op_getfolder(struct sim_req *r, struct evbuffer *out);
int sim_op_availability(struct sim_req *r, struct evbuffer *out);
int sim_op_convertid(struct sim_req *r, struct evbuffer *out);
int sim_op_resolvenames(struct sim_req *r, struct evbuffer *out);
int sim_op_timezones(struct sim_req *r, struct evbuffer *out);
int sim_op_subscribe(struct sim_req *r, struct evbuffer *out);
int sim_op_unsubscribe(struct sim_req *r, struct evbuffer *out);
int sim_op_getevents(struct sim_req *r, struct evbuffer *out);
int sim_op_streaming(struct sim_req *r, struct evbuffer *out);
void sim_autodiscover_pox(struct sim_req *r, const char *body, size_t n);
void sim_autodiscover_soap(struct sim_req *r, const char *body, size_t n);

/* ---- faults (control.c) ---- */
/* Finds the first fault matching and consumes one use; fills *f with a copy whose code and
 * inner the caller frees. 0 found, -1 none. */
int sim_fault_take(int cas, const char *op, uint32_t mailbox, struct sim_fault *f);
void sim_count_op(const char *op);
/* counter rows: the operations, then "other" */
const char *sim_op_name(size_t i);
size_t sim_op_count(void);

/* ---- control.c ---- */
/* Runs one control line; answer lines go to out (ends with "ok ..." or "error ..."). */
int sim_control_line(const char *line, struct evbuffer *out);
int sim_control_listen(const char *spec);
int sim_scenario_load(const char *path);
void sim_control_free(void);
void sim_faults_clear(void);

/* ---- ntlm.c ---- */
struct sim_ntlm {
    unsigned char challenge[8];
    int have_challenge;
};
/* Type-2 message for a type-1 token; returns base64 string in out (cap). */
int sim_ntlm_challenge(struct sim_ntlm *st, const unsigned char *type1, size_t n, char *out,
                       size_t cap);
/* Verifies a type-3 token; sets *account on success. 0 ok, -1 refused. */
int sim_ntlm_verify(struct sim_ntlm *st, const unsigned char *type3, size_t n, uint32_t *account);

#endif
