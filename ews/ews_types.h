/* ews/ews_types.h: plain data types that cross the ews/ library boundary (issue 3).
 *
 * Ownership rule for every struct below: char * and array members are owned by the struct
 * and released by the matching ews_*_free() in ews_xml.h (which frees the members, never the
 * struct itself, so results may live on the stack or inside the caller's own structs).
 * Fixed-size char arrays (struct ews_error) need no freeing and may be copied by value.
 * const char * members of *input* structs (struct ews_impersonation, struct ews_request_ctx)
 * are borrowed: the library reads them during the call and keeps no pointer.
 * All times are time_t in UTC. */
#ifndef CP_EWS_TYPES_H
#define CP_EWS_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Return codes of every ews_ function that returns int: 0 or one of these. */
enum ews_rc {
    EWS_OK = 0,
    EWS_E_NOMEM = -1,      /* allocation failed */
    EWS_E_INVAL = -2,      /* bad argument (NULL, out of range, too many mailboxes) */
    EWS_E_MALFORMED = -3,  /* answer not well-formed or not the expected EWS shape */
    EWS_E_UNSAFE = -4,     /* answer refused: DOCTYPE, https envelope namespace, too deep */
    EWS_E_TOO_LARGE = -5,  /* answer or streaming envelope over the size bound */
    EWS_E_RESPONSE = -6,   /* Exchange answered with an error; struct ews_error says which */
    EWS_E_QUEUE_FULL = -7, /* transport: request refused because the queue is full */
    EWS_E_TRANSPORT = -8,  /* transport: connect/TLS/timeout; struct ews_error says which */
};

/* RequestServerVersion sent to Exchange (configuration key server_version). */
enum ews_server_version {
    EWS_V2010 = 0,
    EWS_V2010_SP1,
    EWS_V2010_SP2,
    EWS_V2013,
    EWS_V2013_SP1,
    EWS_V2016,
    EWS_V_COUNT
};

/* Who the service account acts as (configuration key impersonation). */
enum ews_impersonation_kind {
    EWS_IMP_NONE = 0, /* no ExchangeImpersonation header: the account's own mailbox */
    EWS_IMP_SMTP,     /* ConnectingSID/PrimarySmtpAddress */
    EWS_IMP_UPN,      /* ConnectingSID/PrincipalName */
    EWS_IMP_SID,      /* ConnectingSID/SID */
};

struct ews_impersonation {
    enum ews_impersonation_kind kind;
    const char *value; /* borrowed; the address, UPN or SID; ignored for EWS_IMP_NONE */
};

/* What every request builder needs besides its own arguments. */
struct ews_request_ctx {
    enum ews_server_version version;
    struct ews_impersonation imp;
};

/* ServerVersionInfo from a response header (recorded per server). */
struct ews_server_info {
    int major, minor, major_build, minor_build; /* -1 when absent */
    char version[32]; /* Version attribute, e.g. "V2017_07_11"; "" when absent */
};

/* Free/busy state. Unknown values from newer servers map to EWS_BUSY_UNKNOWN. */
enum ews_busy {
    EWS_BUSY_FREE = 0,
    EWS_BUSY_TENTATIVE,
    EWS_BUSY_BUSY,
    EWS_BUSY_OOF,
    EWS_BUSY_WORKING_ELSEWHERE,
    EWS_BUSY_NO_DATA,
    EWS_BUSY_UNKNOWN,
};

enum ews_item_type {
    EWS_ITEM_SINGLE = 0,
    EWS_ITEM_OCCURRENCE,
    EWS_ITEM_EXCEPTION,
    EWS_ITEM_RECURRING_MASTER,
    EWS_ITEM_UNKNOWN,
};

enum ews_sensitivity {
    EWS_SENS_NORMAL = 0,
    EWS_SENS_PERSONAL,
    EWS_SENS_PRIVATE,
    EWS_SENS_CONFIDENTIAL,
    EWS_SENS_UNKNOWN,
};

/* One calendar item from FindItem/CalendarView. */
struct ews_cal_item {
    time_t start, end;  /* UTC */
    enum ews_busy busy; /* LegacyFreeBusyStatus; EWS_BUSY_BUSY when absent (Exchange's default) */
    bool all_day;
    bool cancelled;
    enum ews_item_type type;
    enum ews_sensitivity sensitivity;
    char *subject;    /* owned; NULL when absent */
    char *item_id;    /* owned; ItemId/@Id, never NULL in a parsed result */
    char *change_key; /* owned; ItemId/@ChangeKey, NULL when absent */
};

/* FindItem with CalendarView. When includes_last_item_in_range is false the server cut the
 * list at MaxEntriesReturned: the caller splits the window and asks again. */
struct ews_calendar_view {
    struct ews_cal_item *items; /* owned array of n_items */
    size_t n_items;
    bool includes_last_item_in_range;
};

/* Error classes: what the caller must do (issue 3 item 5, docs/ews.md). */
enum ews_error_class {
    EWS_ERR_NONE = 0,
    EWS_ERR_RETRY_LATER,     /* wait backoff_ms (when > 0) then retry */
    EWS_ERR_RESUBSCRIBE,     /* subscription gone: subscribe again */
    EWS_ERR_REDISCOVER,      /* mailbox lives elsewhere: autodiscover / next server */
    EWS_ERR_MAILBOX_PROBLEM, /* no such mailbox or no right to impersonate it */
    EWS_ERR_AUTH_FAILURE,    /* credentials refused (HTTP 401): do not loop */
    EWS_ERR_SERVER_DOWN,     /* connect/TLS error, timeout, 502/504: try another server */
    EWS_ERR_MALFORMED,       /* answer unusable (not XML, wrong shape, unsafe) */
    EWS_ERR_OTHER,           /* any other error, including unknown ResponseCode values */
};

/* An error as Exchange (or the transport) reported it. Plain value, no freeing. */
struct ews_error {
    enum ews_error_class cls;
    char code[64];     /* ResponseCode / fault code, e.g. "ErrorServerBusy"; "" if none */
    char message[256]; /* MessageText / faultstring or our reason; "" if none */
    long backoff_ms;   /* BackOffMilliseconds exactly as sent; 0 when absent. A retry-later
                          error given to a callback always carries the wait to honour (a
                          503's Retry-After, else 2 s, when Exchange named none) */
    int http_status;   /* 0 when no HTTP answer */
};

/* GetUserAvailability: one event of one mailbox. */
struct ews_fb_event {
    time_t start, end; /* UTC */
    enum ews_busy busy;
};

struct ews_mailbox_availability {
    struct ews_fb_event *events; /* owned array of n_events */
    size_t n_events;
    struct ews_error error; /* cls EWS_ERR_NONE when this mailbox's answer was fine */
};

/* Mailboxes in the order they were requested. */
struct ews_availability {
    struct ews_mailbox_availability *mailboxes; /* owned array of n_mailboxes */
    size_t n_mailboxes;
};

enum ews_event_type {
    EWS_EV_CREATED = 0,
    EWS_EV_MODIFIED,
    EWS_EV_DELETED,
    EWS_EV_MOVED,
    EWS_EV_COPIED,
    EWS_EV_NEWMAIL,
    EWS_EV_STATUS,
    EWS_EV_FREEBUSY_CHANGED,
    EWS_EV_UNKNOWN, /* tolerated: an event type this library does not know */
};

/* One event of a notification. Any id may be NULL when the event carries none. */
struct ews_event {
    enum ews_event_type type;
    char *watermark;            /* owned */
    time_t timestamp;           /* UTC; 0 when absent */
    char *item_id;              /* owned; ItemId/@Id */
    char *change_key;           /* owned; ItemId/@ChangeKey */
    char *folder_id;            /* owned; FolderId/@Id (folder events) */
    char *parent_folder_id;     /* owned; ParentFolderId/@Id */
    char *old_item_id;          /* owned; OldItemId/@Id (moved/copied) */
    char *old_parent_folder_id; /* owned; OldParentFolderId/@Id (moved/copied) */
};

struct ews_notification {
    char *subscription_id;    /* owned */
    char *previous_watermark; /* owned; NULL when absent */
    bool more_events;
    struct ews_event *events; /* owned array of n_events */
    size_t n_events;
};

/* GetEvents, SendNotification: the notifications of one answer. */
struct ews_notification_list {
    struct ews_notification *items; /* owned array of n_items */
    size_t n_items;
};

struct ews_subscribe_result {
    char *subscription_id; /* owned */
    char *watermark;       /* owned; NULL for streaming subscriptions */
};

/* GetFolder of the calendar (troubleshooter). */
struct ews_folder_result {
    char *folder_id;    /* owned */
    char *change_key;   /* owned; NULL when absent */
    char *display_name; /* owned; NULL when absent */
    long total_count;   /* -1 when absent */
};

enum ews_connection_status {
    EWS_CONN_NONE = 0, /* the envelope carried no ConnectionStatus */
    EWS_CONN_OK,       /* heartbeat: the connection stays open */
    EWS_CONN_CLOSED,   /* the server ends the stream: issue a new GetStreamingEvents */
};

/* A subscription the server refused inside a GetStreamingEvents answer. */
struct ews_subscription_error {
    char *subscription_id; /* owned; NULL when the server named none */
    struct ews_error error;
};

/* One envelope of a GetStreamingEvents body. */
struct ews_stream_frame {
    enum ews_connection_status status;
    struct ews_notification_list notifications;
    struct ews_subscription_error *errors; /* owned array of n_errors */
    size_t n_errors;
    struct ews_error error; /* whole-frame error (SOAP fault, malformed); else EWS_ERR_NONE */
};

#endif
