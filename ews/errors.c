/* ews/errors.c: the error taxonomy (issue 3 item 5): HTTP status, SOAP faults and
 * ResponseCode values mapped to what the caller must do. docs/ews.md has the table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "ews_xml_int.h"

struct code_class {
    const char *code;
    enum ews_error_class cls;
};

/* Codes not listed are EWS_ERR_OTHER: unknown values are tolerated, never fatal. */
static const struct code_class code_table[] = {
    {"ErrorServerBusy", EWS_ERR_RETRY_LATER},
    {"ErrorExceededConnectionCount", EWS_ERR_RETRY_LATER},
    {"ErrorExceededSubscriptionCount", EWS_ERR_RETRY_LATER},
    {"ErrorTooManyObjectsOpened", EWS_ERR_RETRY_LATER},
    {"ErrorInternalServerTransientError", EWS_ERR_RETRY_LATER},
    {"ErrorMailboxStoreUnavailable", EWS_ERR_RETRY_LATER},
    {"ErrorADUnavailable", EWS_ERR_RETRY_LATER},
    {"ErrorSubscriptionNotFound", EWS_ERR_RESUBSCRIBE},
    {"ErrorInvalidSubscription", EWS_ERR_RESUBSCRIBE},
    {"ErrorExpiredSubscription", EWS_ERR_RESUBSCRIBE},
    {"ErrorInvalidWatermark", EWS_ERR_RESUBSCRIBE},
    {"ErrorSubscriptionUnsubscribed", EWS_ERR_RESUBSCRIBE},
    {"ErrorReadEventsFailed", EWS_ERR_REDISCOVER},
    {"ErrorProxyRequestNotAllowed", EWS_ERR_REDISCOVER},
    {"ErrorMailboxMoveInProgress", EWS_ERR_REDISCOVER},
    {"ErrorNonExistentMailbox", EWS_ERR_MAILBOX_PROBLEM},
    {"ErrorImpersonateUserDenied", EWS_ERR_MAILBOX_PROBLEM},
    {"ErrorImpersonationDenied", EWS_ERR_MAILBOX_PROBLEM},
    {"ErrorAccessDenied", EWS_ERR_MAILBOX_PROBLEM},
    {"ErrorMailRecipientNotFound", EWS_ERR_MAILBOX_PROBLEM},
    {"ErrorInvalidSmtpAddress", EWS_ERR_MAILBOX_PROBLEM},
    {"ErrorNoFreeBusyAccess", EWS_ERR_MAILBOX_PROBLEM},
};

static enum ews_error_class code_class(const char *code);
static const char *local_name(const char *qname);
static long parse_backoff(const char *s);
static void read_message_xml(xmlNode *mxml, struct ews_error *err, char *inner, size_t size);
static void unwrap_inner(struct ews_error *err, const char *inner);
static void classify_body(xmlNode *soap_body, struct ews_error *err);

const char *
ews_error_class_name(enum ews_error_class c)
{
    static const char *const names[] = {"none",        "retry_later",     "resubscribe",
                                        "rediscover",  "mailbox_problem", "auth_failure",
                                        "server_down", "malformed",       "other"};
    return (unsigned)c < sizeof names / sizeof names[0] ? names[c] : "other";
}

/* Exchange's response codes that name the mailbox or the right to it come first: they say
 * more than their class. */
const char *
ews_error_action(const struct ews_error *err, const char *account, char *buf, size_t len)
{
    const char *code = err->code;

    if (strcmp(code, "ErrorImpersonateUserDenied") == 0 ||
        strcmp(code, "ErrorImpersonationDenied") == 0) {
        snprintf(buf, len,
                 "grant the service account the ApplicationImpersonation role: "
                 "New-ManagementRoleAssignment -Role ApplicationImpersonation -User '%s' "
                 "(and check any management scope that excludes this mailbox)",
                 account != NULL ? account : "ACCOUNT");
        return buf;
    }
    if (strcmp(code, "ErrorNonExistentMailbox") == 0 ||
        strcmp(code, "ErrorInvalidSmtpAddress") == 0)
        return "check the mailbox address (and mailbox_domain); the user needs a mailbox on "
               "this Exchange organisation";
    if (strcmp(code, "ErrorImpersonationFailed") == 0)
        return "Exchange could not act as the mailbox: check that the account and mailbox "
               "are enabled and, with impersonation = sid or upn, the identifier";
    if (strcmp(code, "ErrorMailboxMoveInProgress") == 0 ||
        strcmp(code, "ErrorMailboxStoreUnavailable") == 0)
        return "the mailbox is being moved or its database is offline: retry later";
    switch (err->cls) {
    case EWS_ERR_AUTH_FAILURE:
        return "check username (UPN or DOMAIN\\user), password or password_file, and that "
               "`auth` names a method the EWS virtual directory enables; is the account "
               "locked or its password expired?";
    case EWS_ERR_SERVER_DOWN:
        return "check that EWS answers at this URL (IIS, the EWS virtual directory), the "
               "certificate (calpresence-certs verify HOST), and raise timeout if the server "
               "is slow";
    case EWS_ERR_RETRY_LATER:
        return "Exchange is throttling this account: retry later, or raise its throttling "
               "policy (New-ThrottlingPolicy) for the service account";
    default:
        return "see docs/troubleshooting.md for this response code";
    }
}

void
ews_err_clear(struct ews_error *err)
{
    if (err)
        memset(err, 0, sizeof *err);
}

void
ews_err_set(struct ews_error *err, enum ews_error_class cls, const char *code, const char *fmt, ...)
{
    if (!err)
        return;
    err->cls = cls;
    snprintf(err->code, sizeof err->code, "%s", code ? code : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

static enum ews_error_class
code_class(const char *code)
{
    for (size_t i = 0; i < sizeof code_table / sizeof code_table[0]; i++)
        if (strcmp(code, code_table[i].code) == 0)
            return code_table[i].cls;
    return EWS_ERR_OTHER;
}

static const char *
local_name(const char *qname)
{
    const char *colon = strrchr(qname, ':');
    return colon ? colon + 1 : qname;
}

/* BackOffMilliseconds exactly as sent: a plain non-negative decimal, else ignored. */
static long
parse_backoff(const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || *s == '-' || *s == '+')
        return 0;
    return v;
}

/* MessageXml carries t:Value Name="..." pairs: the back-off, and for
 * ErrorInternalServerError the inner error's code. */
static void
read_message_xml(xmlNode *mxml, struct ews_error *err, char *inner, size_t size)
{
    for (xmlNode *v = ews_xml_find(mxml, NULL, EWS_NS_T, "Value"); v;
         v = ews_xml_find(NULL, v, EWS_NS_T, "Value")) {
        char *name = ews_xml_attr(v, "Name");
        char text[64];
        if (name && ews_xml_text_to(v, text, sizeof text)) {
            if (strcmp(name, "BackOffMilliseconds") == 0)
                err->backoff_ms = parse_backoff(text);
            else if (strcmp(name, "InnerErrorResponseCode") == 0)
                snprintf(inner, size, "%s", text);
        }
        free(name);
    }
}

/* ErrorInternalServerError is only a wrapper when Exchange names an inner error we know
 * (throttling hides there as ErrorServerBusy): then the inner error decides the class. */
static void
unwrap_inner(struct ews_error *err, const char *inner)
{
    err->cls = code_class(err->code);
    if (strcmp(err->code, "ErrorInternalServerError") == 0 && *inner) {
        enum ews_error_class c = code_class(inner);
        if (c != EWS_ERR_OTHER) {
            err->cls = c;
            size_t n = strlen(err->message);
            snprintf(err->message + n, sizeof err->message - n, " (inner %s)", inner);
        }
    }
}

void
ews_err_from_fault(xmlNode *fault, struct ews_error *err)
{
    if (!err)
        return;
    char code[64] = "", inner[64] = "";
    xmlNode *detail = ews_xml_find(fault, NULL, NULL, "detail");
    /* detail/e:ResponseCode is the EWS code; faultcode (a QName) the fallback. */
    if (!ews_xml_text_to(ews_xml_find(detail, NULL, EWS_NS_E, "ResponseCode"), code, sizeof code) ||
        !*code) {
        char fc[64] = "";
        ews_xml_text_to(ews_xml_find(fault, NULL, NULL, "faultcode"), fc, sizeof fc);
        snprintf(code, sizeof code, "%s", local_name(fc));
    }
    snprintf(err->code, sizeof err->code, "%s", code);
    if (!ews_xml_text_to(ews_xml_find(fault, NULL, NULL, "faultstring"), err->message,
                         sizeof err->message))
        err->message[0] = '\0';
    read_message_xml(ews_xml_find(detail, NULL, EWS_NS_T, "MessageXml"), err, inner, sizeof inner);
    unwrap_inner(err, inner);
    /* A fault is an error even when its code says nothing we know. */
    if (err->cls == EWS_ERR_NONE)
        err->cls = EWS_ERR_OTHER;
}

void
ews_err_from_message(xmlNode *msg, struct ews_error *err)
{
    if (!err)
        return;
    char inner[64] = "";
    if (!ews_xml_text_to(ews_xml_find(msg, NULL, EWS_NS_M, "ResponseCode"), err->code,
                         sizeof err->code))
        err->code[0] = '\0';
    if (!ews_xml_text_to(ews_xml_find(msg, NULL, EWS_NS_M, "MessageText"), err->message,
                         sizeof err->message))
        err->message[0] = '\0';
    read_message_xml(ews_xml_find(msg, NULL, EWS_NS_M, "MessageXml"), err, inner, sizeof inner);
    unwrap_inner(err, inner);
}

/* The first error in the body: a fault, else the first ResponseClass="Error" message of
 * whatever response element Body holds. */
static void
classify_body(xmlNode *soap_body, struct ews_error *err)
{
    xmlNode *fault = ews_xml_find(soap_body, NULL, EWS_NS_SOAP, "Fault");
    if (fault) {
        ews_err_from_fault(fault, err);
        return;
    }
    xmlNode *resp = ews_xml_find(soap_body, NULL, NULL, NULL);
    xmlNode *msgs = ews_xml_find(resp, NULL, EWS_NS_M, "ResponseMessages");
    for (xmlNode *m = ews_xml_find(msgs, NULL, NULL, NULL); m;
         m = ews_xml_find(NULL, m, NULL, NULL)) {
        if (ews_xml_message_check(m, err) == EWS_E_RESPONSE)
            return;
    }
    err->cls = EWS_ERR_NONE;
}

enum ews_error_class
ews_classify(int http_status, const char *body, size_t len, struct ews_error *err)
{
    struct ews_error local;
    if (!err)
        err = &local;
    ews_err_clear(err);
    err->http_status = http_status;

    if (http_status == 0) {
        ews_err_set(err, EWS_ERR_SERVER_DOWN, NULL, "no HTTP answer");
    } else if (http_status == 401) {
        ews_err_set(err, EWS_ERR_AUTH_FAILURE, NULL, "HTTP 401: credentials refused");
    } else if (http_status == 503) {
        /* IIS queueing or a node draining: Exchange's own advice is to delay. */
        ews_err_set(err, EWS_ERR_RETRY_LATER, NULL, "HTTP 503: service unavailable");
    } else {
        xmlDoc *doc;
        xmlNode *soap_body;
        if (ews_xml_read(body, len, &doc, &soap_body, err) == 0) {
            classify_body(soap_body, err);
            xmlFreeDoc(doc);
            if (err->cls == EWS_ERR_NONE && http_status != 200)
                ews_err_set(err, EWS_ERR_OTHER, NULL, "HTTP %d", http_status);
        } else if (http_status == 200) {
            err->cls = EWS_ERR_MALFORMED;
        } else if (http_status == 403) {
            ews_err_set(err, EWS_ERR_AUTH_FAILURE, NULL, "HTTP 403: forbidden");
        } else if (http_status == 404) {
            ews_err_set(err, EWS_ERR_REDISCOVER, NULL, "HTTP 404: no EWS at this URL");
        } else if (http_status >= 500) {
            /* A 5xx without a SOAP answer comes from IIS or a proxy, not EWS. */
            ews_err_set(err, EWS_ERR_SERVER_DOWN, NULL, "HTTP %d without a SOAP answer",
                        http_status);
        } else {
            ews_err_set(err, EWS_ERR_OTHER, NULL, "HTTP %d", http_status);
        }
    }
    err->http_status = http_status;
    return err->cls;
}
