/* tests/ews/test_parse_errors.c: the error taxonomy, ews_classify(): every class from HTTP
 * status, SOAP faults and ResponseCode values, BackOffMilliseconds taken exactly, the
 * ErrorInternalServerError wrapper, unknown codes tolerated. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "ews_xml.h"
#include "test_parse_fixture.h"

/* A 200 answer whose single ResponseMessage carries CODE with ResponseClass="Error". */
static enum ews_error_class
classify_code(const char *code, struct ews_error *err)
{
    char body[2048];
    int n = snprintf(body, sizeof body,
                     "<?xml version='1.0' encoding='utf-8'?>"
                     "<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body>"
                     "<m:GetEventsResponse "
                     "xmlns:m='http://schemas.microsoft.com/exchange/services/2006/messages'>"
                     "<m:ResponseMessages><m:GetEventsResponseMessage ResponseClass='Error'>"
                     "<m:MessageText>text of %s</m:MessageText><m:ResponseCode>%s</m:ResponseCode>"
                     "<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey></m:GetEventsResponseMessage>"
                     "</m:ResponseMessages></m:GetEventsResponse></s:Body></s:Envelope>",
                     code, code);
    return ews_classify(200, body, (size_t)n, err);
}

Test(errors, response_codes)
{
    static const struct {
        const char *code;
        enum ews_error_class cls;
    } cases[] = {
        {"ErrorServerBusy", EWS_ERR_RETRY_LATER},
        {"ErrorSubscriptionNotFound", EWS_ERR_RESUBSCRIBE},
        {"ErrorInvalidSubscription", EWS_ERR_RESUBSCRIBE},
        {"ErrorExpiredSubscription", EWS_ERR_RESUBSCRIBE},
        {"ErrorReadEventsFailed", EWS_ERR_REDISCOVER},
        {"ErrorProxyRequestNotAllowed", EWS_ERR_REDISCOVER},
        {"ErrorMailboxMoveInProgress", EWS_ERR_REDISCOVER},
        {"ErrorNonExistentMailbox", EWS_ERR_MAILBOX_PROBLEM},
        {"ErrorImpersonateUserDenied", EWS_ERR_MAILBOX_PROBLEM},
        {"ErrorImpersonationDenied", EWS_ERR_MAILBOX_PROBLEM},
        {"ErrorAccessDenied", EWS_ERR_MAILBOX_PROBLEM},
        {"ErrorSomethingNewIn2031", EWS_ERR_OTHER},
        {"", EWS_ERR_OTHER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ews_error err;
        cr_expect_eq(classify_code(cases[i].code, &err), cases[i].cls, "%s", cases[i].code);
        cr_expect_eq(err.cls, cases[i].cls);
        cr_expect_str_eq(err.code, cases[i].code);
        cr_expect_eq(err.http_status, 200);
        cr_expect_eq(err.backoff_ms, 0);
    }
}

Test(errors, success_is_none)
{
    size_t len;
    char *body = fixture("getevents-response.xml", &len);
    struct ews_error err;
    cr_expect_eq(ews_classify(200, body, len, &err), EWS_ERR_NONE);
    cr_expect_str_eq(err.code, "");
    free(body);
}

Test(errors, server_busy_fault_backoff_exact)
{
    size_t len;
    char *body = fixture("fault-serverbusy.xml", &len);
    struct ews_error err;
    cr_expect_eq(ews_classify(500, body, len, &err), EWS_ERR_RETRY_LATER);
    cr_expect_str_eq(err.code, "ErrorServerBusy");
    cr_expect_eq(err.backoff_ms, 123457);
    cr_expect_eq(err.http_status, 500);
    cr_expect_not_null(strstr(err.message, "Try again later"));
    free(body);
}

Test(errors, server_busy_backoff_only_from_its_value)
{
    /* A Value with another name, a signed or non-numeric value: no back-off invented. */
    const char *values[] = {"<t:Value Name='BackOffMilliseconds'>-5</t:Value>",
                            "<t:Value Name='BackOffMilliseconds'>12ms</t:Value>",
                            "<t:Value Name='BackoffMilliseconds'>700</t:Value>",
                            "<t:Value Name='BackOffMilliseconds'> 701 </t:Value>"};
    long want[] = {0, 0, 0, 701};
    for (int i = 0; i < 4; i++) {
        char body[2048];
        int n = snprintf(
            body, sizeof body,
            "<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body><s:Fault>"
            "<faultcode xmlns:a='http://schemas.microsoft.com/exchange/services/2006/types'>"
            "a:ErrorServerBusy</faultcode><faultstring>busy</faultstring><detail>"
            "<t:MessageXml xmlns:t='http://schemas.microsoft.com/exchange/services/2006/types'>"
            "%s</t:MessageXml></detail></s:Fault></s:Body></s:Envelope>",
            values[i]);
        struct ews_error err;
        cr_expect_eq(ews_classify(500, body, (size_t)n, &err), EWS_ERR_RETRY_LATER);
        /* no detail/ResponseCode: the faultcode QName's local part */
        cr_expect_str_eq(err.code, "ErrorServerBusy");
        cr_expect_eq(err.backoff_ms, want[i], "case %d", i);
    }
}

Test(errors, internal_error_wrapping_server_busy)
{
    size_t len;
    char *body = fixture("internal-error-serverbusy.xml", &len);
    struct ews_error err;
    cr_expect_eq(ews_classify(200, body, len, &err), EWS_ERR_RETRY_LATER);
    cr_expect_str_eq(err.code, "ErrorInternalServerError");
    cr_expect_eq(err.backoff_ms, 30000);
    cr_expect_not_null(strstr(err.message, "inner ErrorServerBusy"));
    free(body);

    body = fixture("internal-error-other.xml", &len);
    cr_expect_eq(ews_classify(200, body, len, &err), EWS_ERR_OTHER);
    free(body);
}

Test(errors, http_statuses)
{
    struct ews_error err;
    cr_expect_eq(ews_classify(503, NULL, 0, &err), EWS_ERR_RETRY_LATER);
    cr_expect_eq(err.http_status, 503);
    cr_expect_eq(ews_classify(401, "<html/>", 7, &err), EWS_ERR_AUTH_FAILURE);
    cr_expect_eq(ews_classify(403, "Forbidden", 9, &err), EWS_ERR_AUTH_FAILURE);
    cr_expect_eq(ews_classify(404, "", 0, &err), EWS_ERR_REDISCOVER);
    cr_expect_eq(ews_classify(0, NULL, 0, &err), EWS_ERR_SERVER_DOWN);
    cr_expect_eq(ews_classify(502, "<html>Bad gateway</html>", 24, &err), EWS_ERR_SERVER_DOWN);
    cr_expect_eq(ews_classify(500, "Internal Server Error", 21, &err), EWS_ERR_SERVER_DOWN);
    cr_expect_eq(ews_classify(400, "nope", 4, &err), EWS_ERR_OTHER);
    /* 503 wins even with a SOAP body */
    size_t len;
    char *body = fixture("getevents-response.xml", &len);
    cr_expect_eq(ews_classify(503, body, len, &err), EWS_ERR_RETRY_LATER);
    cr_expect_eq(ews_classify(500, body, len, &err), EWS_ERR_OTHER);
    free(body);
}

Test(errors, malformed_answers)
{
    struct ews_error err;
    cr_expect_eq(ews_classify(200, "<not-closed>", 12, &err), EWS_ERR_MALFORMED);
    cr_expect_eq(ews_classify(200, "", 0, &err), EWS_ERR_MALFORMED);
    cr_expect_eq(ews_classify(200, "<a/>", 4, &err), EWS_ERR_MALFORMED);
    size_t len;
    char *body = fixture("https-envelope.xml", &len);
    cr_expect_eq(ews_classify(200, body, len, &err), EWS_ERR_MALFORMED);
    cr_expect_not_null(strstr(err.message, "https"));
    struct ews_subscribe_result r;
    cr_expect_eq(ews_parse_subscribe(body, len, &r, &err), EWS_E_UNSAFE);
    free(body);
}

Test(errors, schema_validation_fault_is_other)
{
    size_t len;
    char *body = fixture("fault-schema-validation.xml", &len);
    struct ews_error err;
    cr_expect_eq(ews_classify(500, body, len, &err), EWS_ERR_OTHER);
    cr_expect_str_eq(err.code, "ErrorSchemaValidation");
    free(body);
}

Test(errors, null_err_allowed)
{
    cr_expect_eq(ews_classify(401, NULL, 0, NULL), EWS_ERR_AUTH_FAILURE);
}
