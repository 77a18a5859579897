/* ews/ews_xml.h: EWS SOAP request builders, response parsers, error taxonomy and the
 * streaming splitter (issue 3 items 4, 5, 8). Pure functions: no I/O, no globals changed.
 *
 * Builders return a complete SOAP 1.1 envelope (http://schemas.xmlsoap.org/soap/envelope/)
 * as a NUL-terminated malloc'd string that the caller frees with free(); NULL on a bad
 * argument or out of memory. Every text value is XML-escaped.
 *
 * Parsers take a response body (not necessarily NUL-terminated) and fill *out, which the
 * caller releases with the matching ews_*_free() (also safe after a failed parse: *out is
 * always initialised). They return 0, or:
 *   EWS_E_RESPONSE   Exchange answered with an error (SOAP fault or ResponseClass="Error");
 *                    *err holds class, code, message and backoff_ms;
 *   EWS_E_MALFORMED / EWS_E_UNSAFE / EWS_E_TOO_LARGE  *err has class EWS_ERR_MALFORMED;
 *   EWS_E_INVAL / EWS_E_NOMEM.
 * err may be NULL. The HTTP status is the caller's: for a non-200 answer call
 * ews_classify() instead of a parser. */
#ifndef CP_EWS_XML_H
#define CP_EWS_XML_H

#include "ews_types.h"

/* ---- names ---- */

/* "Exchange2010_SP2" etc. Returns a static string. */
const char *ews_server_version_name(enum ews_server_version v);
/* Parses a configuration value; 0 and *out set, or EWS_E_INVAL. */
int ews_server_version_parse(const char *name, enum ews_server_version *out);
/* "free", "tentative", "busy", "oof", "working_elsewhere", "no_data", "unknown" (static). */
const char *ews_busy_name(enum ews_busy b);
/* "none", "retry_later", "resubscribe", ... (static). */
const char *ews_error_class_name(enum ews_error_class c);
/* What an administrator should do about ERR, one sentence: the same hint `calpresence --check`
 * prints as `action:` and calpresence-ews after an error. ACCOUNT (may be NULL) is the service
 * account, named in the impersonation hint. Returns a static string or BUF (LEN bytes). */
const char *ews_error_action(const struct ews_error *err, const char *account, char *buf,
                             size_t len);
/* "created", "modified", ... (static). */
const char *ews_event_type_name(enum ews_event_type t);

/* ---- limits of the safe XML reader ---- */

#define EWS_XML_DEFAULT_MAX_BYTES (16u * 1024u * 1024u)
#define EWS_XML_MAX_DEPTH 128

/* Sets the size bound of every later parse (bytes, >= 1024); returns the previous one.
 * Meant for start-up configuration, not thread-safe. */
size_t ews_xml_set_max_bytes(size_t max_bytes);

/* ---- builders (caller frees the result) ---- */

/* Subscribe to ctx's calendar for Created/Modified/Deleted/Moved/Copied.
 * status_frequency_min 1..1440; timeout_min 1..1440. */
char *ews_build_subscribe_push(const struct ews_request_ctx *ctx, const char *url,
                               int status_frequency_min);
char *ews_build_subscribe_pull(const struct ews_request_ctx *ctx, int timeout_min);
char *ews_build_subscribe_streaming(const struct ews_request_ctx *ctx);
char *ews_build_unsubscribe(const struct ews_request_ctx *ctx, const char *subscription_id);
char *ews_build_get_events(const struct ews_request_ctx *ctx, const char *subscription_id,
                           const char *watermark);
/* 1..EWS_MAX_STREAMING_IDS ids; connection_timeout_min 1..30. */
#define EWS_MAX_STREAMING_IDS 200
char *ews_build_get_streaming_events(const struct ews_request_ctx *ctx,
                                     const char *const *subscription_ids, size_t n_ids,
                                     int connection_timeout_min);
/* CalendarView of [start, end) with the properties of struct ews_cal_item;
 * max_entries >= 1. */
char *ews_build_find_calendar(const struct ews_request_ctx *ctx, time_t start, time_t end,
                              int max_entries);
enum ews_fb_view { EWS_VIEW_FREEBUSY = 0, EWS_VIEW_DETAILED };
/* 1..EWS_MAX_AVAILABILITY_MAILBOXES SMTP addresses; window [start, end) in UTC;
 * merged_interval_min 5..1440 (Exchange's range). */
#define EWS_MAX_AVAILABILITY_MAILBOXES 100
char *ews_build_get_user_availability(const struct ews_request_ctx *ctx,
                                      const char *const *mailboxes, size_t n_mailboxes,
                                      time_t start, time_t end, int merged_interval_min,
                                      enum ews_fb_view view);
/* The push listener's answer to a SendNotification: OK (keep) or Unsubscribe.
 * No header: it answers Exchange, it does not call it. */
char *ews_build_send_notification_result(bool unsubscribe);
/* GetFolder of ctx's calendar, IdOnly plus DisplayName and TotalCount. */
char *ews_build_get_calendar_folder(const struct ews_request_ctx *ctx);

/* ---- parsers (caller frees *out with the matching _free) ---- */

int ews_parse_subscribe(const char *body, size_t len, struct ews_subscribe_result *out,
                        struct ews_error *err);
int ews_parse_unsubscribe(const char *body, size_t len, struct ews_error *err);
int ews_parse_get_events(const char *body, size_t len, struct ews_notification_list *out,
                         struct ews_error *err);
int ews_parse_find_calendar(const char *body, size_t len, struct ews_calendar_view *out,
                            struct ews_error *err);
/* Per-mailbox errors land in out->mailboxes[i].error and do not fail the call. */
int ews_parse_get_user_availability(const char *body, size_t len, struct ews_availability *out,
                                    struct ews_error *err);
/* What Exchange POSTed to the push listener (a SendNotification request). The listener
 * answers 4xx when this fails, OK/Unsubscribe otherwise. */
int ews_parse_send_notification(const char *body, size_t len, struct ews_notification_list *out,
                                struct ews_error *err);
int ews_parse_get_folder(const char *body, size_t len, struct ews_folder_result *out,
                         struct ews_error *err);
/* One GetStreamingEvents envelope (the splitter below calls it for you). Returns 0 when the
 * envelope parsed: per-subscription errors (ResponseClass="Error", e.g.
 * ErrorInvalidSubscription) are then in out->errors; EWS_E_RESPONSE for a SOAP fault and the
 * parse failures above, with out->error filled. */
int ews_parse_streaming_frame(const char *body, size_t len, struct ews_stream_frame *out);
/* ServerVersionInfo of any response; 0, or EWS_E_MALFORMED when absent. */
int ews_parse_server_info(const char *body, size_t len, struct ews_server_info *out);

void ews_subscribe_result_free(struct ews_subscribe_result *r);
void ews_notification_list_free(struct ews_notification_list *l);
void ews_calendar_view_free(struct ews_calendar_view *v);
void ews_availability_free(struct ews_availability *a);
void ews_folder_result_free(struct ews_folder_result *f);
void ews_stream_frame_free(struct ews_stream_frame *f);

/* ---- error taxonomy ---- */

/* Classifies any answer: http_status (0 = no HTTP answer) and body (may be NULL/empty).
 * Fills *err (class EWS_ERR_NONE for a 200 carrying no error) and returns err->cls. */
enum ews_error_class ews_classify(int http_status, const char *body, size_t len,
                                  struct ews_error *err);

/* ---- streaming splitter ---- */

/* Called once per complete envelope; frame is borrowed for the duration of the call.
 * Return 0 to continue, non-zero to stop ews_stream_feed() (which then returns that value).
 * The callback must not free the stream: return non-zero and free it after the feed. */
typedef int (*ews_stream_cb)(const struct ews_stream_frame *frame, void *ud);

struct ews_stream;

/* max_envelope: bound of one buffered envelope in bytes (0 = 1 MiB). Caller frees with
 * ews_stream_free(). NULL when out of memory. */
struct ews_stream *ews_stream_new(size_t max_envelope);
/* Feeds any chunk of the HTTP body. Each complete envelope is parsed and passed to cb as
 * soon as its end tag arrives (a frame that failed to parse is passed too, with
 * frame->error set). Returns 0; or the callback's non-zero value (the rest of the chunk is
 * then discarded); or EWS_E_TOO_LARGE (envelope over the bound), EWS_E_UNSAFE (DOCTYPE,
 * nesting), EWS_E_MALFORMED (text outside an envelope), EWS_E_NOMEM: after a negative
 * return the stream is dead (every later feed fails): drop the connection. */
int ews_stream_feed(struct ews_stream *s, const char *chunk, size_t len, ews_stream_cb cb,
                    void *ud);
/* Bytes of an incomplete envelope still buffered (0 between envelopes). */
size_t ews_stream_pending(const struct ews_stream *s);
void ews_stream_free(struct ews_stream *s);

#endif
