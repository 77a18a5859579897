/* ews/ews_xml_int.h: helpers shared by the builders and parsers of ews/ (not public). */
#ifndef CP_EWS_XML_INT_H
#define CP_EWS_XML_INT_H

#include <libxml/tree.h>
#include <stdarg.h>

#include "ews_xml.h"

#define EWS_NS_SOAP "http://schemas.xmlsoap.org/soap/envelope/"
#define EWS_NS_M "http://schemas.microsoft.com/exchange/services/2006/messages"
#define EWS_NS_T "http://schemas.microsoft.com/exchange/services/2006/types"
#define EWS_NS_E "http://schemas.microsoft.com/exchange/services/2006/errors"

/* ---- growing output buffer (xml_buf.c) ---- */

/* A failed append (out of memory) sticks: later appends do nothing and ews_buf_finish()
 * returns NULL, so builders check once at the end. */
struct ews_buf {
    char *p;
    size_t len, cap;
    bool failed;
};

void ews_buf_puts(struct ews_buf *b, const char *s);
void ews_buf_printf(struct ews_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s with & < > " ' escaped; marks the buffer failed when s holds a character XML 1.0
 * cannot carry (control characters other than tab, LF, CR). */
void ews_buf_put_escaped(struct ews_buf *b, const char *s);
/* Returns the NUL-terminated string (caller frees) or NULL when any step failed (the
 * buffer is released either way). */
char *ews_buf_finish(struct ews_buf *b);
/* Releases the buffer without returning it. */
void ews_buf_discard(struct ews_buf *b);

/* ---- SOAP envelope (build_soap.c) ---- */

/* Opens the envelope, writes the header for ctx (version, impersonation) and opens Body.
 * Returns false on a bad ctx (unknown version, impersonation without a value). */
bool ews_soap_begin(struct ews_buf *b, const struct ews_request_ctx *ctx);
/* Closes Body and Envelope; returns the string as ews_buf_finish(). */
char *ews_soap_end(struct ews_buf *b);

/* ---- time (xml_time.c) ---- */

/* xs:dateTime: "YYYY-MM-DDTHH:MM:SS[.fff](Z|+hh:mm|-hh:mm)?"; no zone means UTC (we ask for
 * UTC everywhere). 0 or EWS_E_MALFORMED. */
int ews_time_parse(const char *s, time_t *out);
/* "YYYY-MM-DDTHH:MM:SSZ"; out must hold 32 bytes. false when t is out of range. */
bool ews_time_format(time_t t, char out[32], bool zulu);

/* ---- safe reading (xml_safe.c) ---- */

/* Parses body as a SOAP 1.1 envelope with the safe options (no network, no DTD, no entity
 * expansion, DOCTYPE refused, bounded size and depth). On success *doc is the document
 * (caller frees with xmlFreeDoc) and *soap_body its Body element. On failure *doc is NULL,
 * err (if not NULL) has class malformed and the return is EWS_E_MALFORMED, EWS_E_UNSAFE or
 * EWS_E_TOO_LARGE. */
int ews_xml_read(const char *body, size_t len, xmlDoc **doc, xmlNode **soap_body,
                 struct ews_error *err);
/* The same safe parse for a document of any shape (autodiscover's POX answers): *doc
 * (caller frees with xmlFreeDoc) or NULL and a negative code as above. */
int ews_xml_read_any(const char *body, size_t len, xmlDoc **doc, struct ews_error *err);
/* The soap:Header element of the envelope holding soap_body; NULL when absent. */
xmlNode *ews_xml_header(xmlNode *soap_body);

bool ews_xml_is(const xmlNode *n, const char *ns, const char *name);
/* First element child of parent (after == NULL) or next element sibling of after, matching
 * ns/name (NULL matches any). Borrowed pointer into the document. */
xmlNode *ews_xml_find(xmlNode *parent, xmlNode *after, const char *ns, const char *name);
/* Whitespace-trimmed text content: malloc'd copy (caller frees), NULL when n is NULL or out
 * of memory. ews_xml_text_to() copies into buf (truncated) and returns false when n is NULL. */
char *ews_xml_text(const xmlNode *n);
bool ews_xml_text_to(const xmlNode *n, char *buf, size_t size);
/* Attribute value: malloc'd copy (caller frees), or NULL. */
char *ews_xml_attr(const xmlNode *n, const char *name);
/* Text of child ns/name parsed as a boolean ("true"/"1"); def when absent. */
bool ews_xml_child_bool(xmlNode *parent, const char *ns, const char *name, bool def);
/* Text of child ns/name parsed as a dateTime; false when absent or malformed. */
bool ews_xml_child_time(xmlNode *parent, const char *ns, const char *name, time_t *out);

/* ---- response messages (parse_common.c) ---- */

/* Finds m:<response_name>/m:ResponseMessages inside Body. A SOAP fault, or an unexpected
 * body, fills err and returns EWS_E_RESPONSE or EWS_E_MALFORMED. *messages is borrowed. */
int ews_xml_messages(xmlNode *soap_body, const char *response_name, xmlNode **messages,
                     struct ews_error *err);
/* A ResponseMessage element: EWS_E_RESPONSE with err filled when ResponseClass="Error",
 * else 0 (Success and Warning both carry data). */
int ews_xml_message_check(xmlNode *msg, struct ews_error *err);
/* Reads the answer to operation OP ("FindItem", "Subscribe", ...) that holds exactly one
 * m:<OP>ResponseMessage, and checks that message. *doc is set whenever the body could be
 * read (the caller frees it with xmlFreeDoc, also on failure); *msg, borrowed from *doc, only
 * when 0 is returned. */
int ews_xml_single_message(const char *body, size_t len, const char *op, xmlDoc **doc,
                           xmlNode **msg, struct ews_error *err);

/* LegacyFreeBusyStatus / BusyType text of n; absent when n is NULL, EWS_BUSY_UNKNOWN for a
 * value this library does not know (parse_calendar.c). */
enum ews_busy ews_busy_from_node(xmlNode *n, enum ews_busy absent);

/* ---- errors (errors.c) ---- */

void ews_err_clear(struct ews_error *err);
/* Sets class, code and message (printf-style; NULL code = ""). err may be NULL. */
void ews_err_set(struct ews_error *err, enum ews_error_class cls, const char *code, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));
/* Fills err from a soap:Fault element. */
void ews_err_from_fault(xmlNode *fault, struct ews_error *err);
/* Fills err from a ResponseMessage with ResponseClass="Error". */
void ews_err_from_message(xmlNode *msg, struct ews_error *err);

#endif
