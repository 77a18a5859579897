/* tests/ews/test_build.c: every request builder of ews/ews_xml.h: well-formed envelopes,
 * the header per impersonation kind and version, the body values, escaping, and refusal of
 * bad arguments. (tests/ews/test_schema.c checks the same requests against Exchange's
 * schema.) */
#include <criterion/criterion.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <stdlib.h>
#include <string.h>

#include "ews_xml.h"

static const struct ews_request_ctx smtp_ctx = {
    .version = EWS_V2010_SP2, .imp = {.kind = EWS_IMP_SMTP, .value = "alice@example.com"}};

/* Parses req (freeing it) and returns the document; fails the test when not well-formed. */
static xmlDoc *
parse_req(char *req)
{
    cr_assert_not_null(req);
    xmlDoc *doc = xmlReadMemory(req, (int)strlen(req), NULL, NULL, XML_PARSE_NONET);
    cr_assert_not_null(doc, "not well-formed: %s", req);
    free(req);
    return doc;
}

/* Text (or attribute value) at XPath expr with prefixes soap/t/m; "" when absent.
 * Returns a static buffer. */
static const char *
xp(xmlDoc *doc, const char *expr)
{
    static char out[4096];
    xmlXPathContext *ctx = xmlXPathNewContext(doc);
    xmlXPathRegisterNs(ctx, BAD_CAST "soap", BAD_CAST "http://schemas.xmlsoap.org/soap/envelope/");
    xmlXPathRegisterNs(ctx, BAD_CAST "t",
                       BAD_CAST "http://schemas.microsoft.com/exchange/services/2006/types");
    xmlXPathRegisterNs(ctx, BAD_CAST "m",
                       BAD_CAST "http://schemas.microsoft.com/exchange/services/2006/messages");
    xmlXPathObject *o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
    xmlChar *s = o ? xmlXPathCastToString(o) : NULL;
    snprintf(out, sizeof out, "%s", s ? (const char *)s : "");
    xmlFree(s);
    xmlXPathFreeObject(o);
    xmlXPathFreeContext(ctx);
    return out;
}

static double
xcount(xmlDoc *doc, const char *expr)
{
    char e[1024];
    snprintf(e, sizeof e, "count(%.1000s)", expr);
    return atof(xp(doc, e));
}

Test(build, header_per_impersonation_kind)
{
    static const struct {
        enum ews_impersonation_kind kind;
        const char *elem;
    } cases[] = {
        {EWS_IMP_SMTP, "PrimarySmtpAddress"}, {EWS_IMP_UPN, "PrincipalName"}, {EWS_IMP_SID, "SID"}};
    for (size_t i = 0; i < 3; i++) {
        struct ews_request_ctx ctx = {.version = EWS_V2016,
                                      .imp = {.kind = cases[i].kind, .value = "who&<ever>"}};
        xmlDoc *doc = parse_req(ews_build_get_calendar_folder(&ctx));
        char e[1024];
        snprintf(e, sizeof e,
                 "/soap:Envelope/soap:Header/t:ExchangeImpersonation/t:ConnectingSID/t:%s",
                 cases[i].elem);
        cr_expect_str_eq(xp(doc, e), "who&<ever>");
        cr_expect_eq(xcount(doc, "//t:ConnectingSID/*"), 1);
        cr_expect_str_eq(xp(doc, "/soap:Envelope/soap:Header/t:RequestServerVersion/@Version"),
                         "Exchange2016");
        xmlFreeDoc(doc);
    }
}

Test(build, no_impersonation_header_for_none)
{
    struct ews_request_ctx ctx = {.version = EWS_V2013_SP1, .imp = {.kind = EWS_IMP_NONE}};
    xmlDoc *doc = parse_req(ews_build_get_calendar_folder(&ctx));
    cr_expect_eq(xcount(doc, "//t:ExchangeImpersonation"), 0);
    cr_expect_str_eq(xp(doc, "//t:RequestServerVersion/@Version"), "Exchange2013_SP1");
    xmlFreeDoc(doc);
}

Test(build, bad_context_refused)
{
    struct ews_request_ctx no_value = {.version = EWS_V2010_SP2, .imp = {.kind = EWS_IMP_SMTP}};
    struct ews_request_ctx empty = {.version = EWS_V2010_SP2,
                                    .imp = {.kind = EWS_IMP_UPN, .value = ""}};
    struct ews_request_ctx bad_version = {.version = EWS_V_COUNT};
    cr_expect_null(ews_build_get_calendar_folder(NULL));
    cr_expect_null(ews_build_get_calendar_folder(&no_value));
    cr_expect_null(ews_build_get_calendar_folder(&empty));
    cr_expect_null(ews_build_get_calendar_folder(&bad_version));
    /* A control character cannot travel in XML 1.0. */
    struct ews_request_ctx ctl = {.version = EWS_V2010_SP2,
                                  .imp = {.kind = EWS_IMP_SMTP, .value = "a\001b@example.com"}};
    cr_expect_null(ews_build_get_calendar_folder(&ctl));
}

Test(build, envelope_namespace_is_http)
{
    char *req = ews_build_subscribe_streaming(&smtp_ctx);
    cr_assert_not_null(req);
    cr_expect_not_null(strstr(req, "\"http://schemas.xmlsoap.org/soap/envelope/\""));
    cr_expect_null(strstr(req, "https://"));
    xmlFreeDoc(parse_req(req));
}

Test(build, subscribe_push)
{
    xmlDoc *doc = parse_req(ews_build_subscribe_push(
        &smtp_ctx, "http://presence.example.com:3802/ews/notify?a=1&b=<2>", 60));
    const char *base = "/soap:Envelope/soap:Body/m:Subscribe/m:PushSubscriptionRequest";
    char e[1024];
    snprintf(e, sizeof e, "%s/t:URL", base);
    cr_expect_str_eq(xp(doc, e), "http://presence.example.com:3802/ews/notify?a=1&b=<2>");
    snprintf(e, sizeof e, "%s/t:StatusFrequency", base);
    cr_expect_str_eq(xp(doc, e), "60");
    snprintf(e, sizeof e, "%s/t:FolderIds/t:DistinguishedFolderId/@Id", base);
    cr_expect_str_eq(xp(doc, e), "calendar");
    snprintf(e, sizeof e, "%s/t:EventTypes/t:EventType", base);
    cr_expect_eq(xcount(doc, e), 5);
    const char *types[] = {"CreatedEvent", "ModifiedEvent", "DeletedEvent", "MovedEvent",
                           "CopiedEvent"};
    for (int i = 0; i < 5; i++) {
        snprintf(e, sizeof e, "%s/t:EventTypes/t:EventType[%d]", base, i + 1);
        cr_expect_str_eq(xp(doc, e), types[i]);
    }
    xmlFreeDoc(doc);
    cr_expect_null(ews_build_subscribe_push(&smtp_ctx, "http://x/", 0));
    cr_expect_null(ews_build_subscribe_push(&smtp_ctx, "http://x/", 1441));
    cr_expect_null(ews_build_subscribe_push(&smtp_ctx, "", 30));
    cr_expect_null(ews_build_subscribe_push(&smtp_ctx, NULL, 30));
}

Test(build, subscribe_pull_and_streaming)
{
    xmlDoc *doc = parse_req(ews_build_subscribe_pull(&smtp_ctx, 1440));
    cr_expect_str_eq(xp(doc, "//m:Subscribe/m:PullSubscriptionRequest/t:Timeout"), "1440");
    cr_expect_eq(xcount(doc, "//m:PullSubscriptionRequest/t:EventTypes/t:EventType"), 5);
    xmlFreeDoc(doc);
    cr_expect_null(ews_build_subscribe_pull(&smtp_ctx, 0));
    cr_expect_null(ews_build_subscribe_pull(&smtp_ctx, 1441));

    doc = parse_req(ews_build_subscribe_streaming(&smtp_ctx));
    cr_expect_str_eq(
        xp(doc, "//m:StreamingSubscriptionRequest/t:FolderIds/t:DistinguishedFolderId/@Id"),
        "calendar");
    cr_expect_eq(xcount(doc, "//m:StreamingSubscriptionRequest/t:EventTypes/t:EventType"), 5);
    xmlFreeDoc(doc);
}

Test(build, unsubscribe_and_get_events)
{
    xmlDoc *doc = parse_req(ews_build_unsubscribe(&smtp_ctx, "SUB&1"));
    cr_expect_str_eq(xp(doc, "/soap:Envelope/soap:Body/m:Unsubscribe/m:SubscriptionId"), "SUB&1");
    xmlFreeDoc(doc);
    cr_expect_null(ews_build_unsubscribe(&smtp_ctx, ""));
    cr_expect_null(ews_build_unsubscribe(&smtp_ctx, NULL));

    doc = parse_req(ews_build_get_events(&smtp_ctx, "SUB2", "WM=="));
    cr_expect_str_eq(xp(doc, "//m:GetEvents/m:SubscriptionId"), "SUB2");
    cr_expect_str_eq(xp(doc, "//m:GetEvents/m:Watermark"), "WM==");
    xmlFreeDoc(doc);
    cr_expect_null(ews_build_get_events(&smtp_ctx, "SUB2", NULL));
    cr_expect_null(ews_build_get_events(&smtp_ctx, "SUB2", ""));
}

Test(build, get_streaming_events_limits)
{
    const char *ids[EWS_MAX_STREAMING_IDS + 1];
    char names[EWS_MAX_STREAMING_IDS + 1][16];
    for (int i = 0; i <= EWS_MAX_STREAMING_IDS; i++) {
        snprintf(names[i], sizeof names[i], "S%d", i);
        ids[i] = names[i];
    }
    xmlDoc *doc =
        parse_req(ews_build_get_streaming_events(&smtp_ctx, ids, EWS_MAX_STREAMING_IDS, 30));
    cr_expect_eq(xcount(doc, "//m:GetStreamingEvents/m:SubscriptionIds/t:SubscriptionId"),
                 EWS_MAX_STREAMING_IDS);
    cr_expect_str_eq(xp(doc, "//m:GetStreamingEvents/m:SubscriptionIds/t:SubscriptionId[200]"),
                     "S199");
    cr_expect_str_eq(xp(doc, "//m:GetStreamingEvents/m:ConnectionTimeout"), "30");
    xmlFreeDoc(doc);
    cr_expect_null(ews_build_get_streaming_events(&smtp_ctx, ids, EWS_MAX_STREAMING_IDS + 1, 30));
    cr_expect_null(ews_build_get_streaming_events(&smtp_ctx, ids, 0, 30));
    cr_expect_null(ews_build_get_streaming_events(&smtp_ctx, ids, 1, 0));
    cr_expect_null(ews_build_get_streaming_events(&smtp_ctx, ids, 1, 31));
    char *one = ews_build_get_streaming_events(&smtp_ctx, ids, 1, 1);
    cr_expect_not_null(one);
    free(one);
}

Test(build, find_calendar)
{
    /* 2026-11-23T00:00:00Z and one day later */
    xmlDoc *doc = parse_req(ews_build_find_calendar(&smtp_ctx, 1795392000, 1795478400, 250));
    cr_expect_str_eq(xp(doc, "//m:FindItem/m:CalendarView/@StartDate"), "2026-11-23T00:00:00Z");
    cr_expect_str_eq(xp(doc, "//m:FindItem/m:CalendarView/@EndDate"), "2026-11-24T00:00:00Z");
    cr_expect_str_eq(xp(doc, "//m:FindItem/m:CalendarView/@MaxEntriesReturned"), "250");
    cr_expect_str_eq(xp(doc, "//m:FindItem/m:ParentFolderIds/t:DistinguishedFolderId/@Id"),
                     "calendar");
    const char *props[] = {
        "calendar:Start",         "calendar:End",         "calendar:LegacyFreeBusyStatus",
        "calendar:IsAllDayEvent", "calendar:IsCancelled", "calendar:CalendarItemType",
        "item:Subject",           "item:Sensitivity"};
    cr_expect_eq(xcount(doc, "//m:ItemShape/t:AdditionalProperties/t:FieldURI"), 8);
    for (int i = 0; i < 8; i++) {
        char e[1024];
        snprintf(e, sizeof e, "//m:ItemShape/t:AdditionalProperties/t:FieldURI[%d]/@FieldURI",
                 i + 1);
        cr_expect_str_eq(xp(doc, e), props[i]);
    }
    xmlFreeDoc(doc);
    cr_expect_null(ews_build_find_calendar(&smtp_ctx, 1795478400, 1795392000, 10));
    cr_expect_null(ews_build_find_calendar(&smtp_ctx, 1795392000, 1795478400, 0));
}

Test(build, get_user_availability)
{
    const char *mb[EWS_MAX_AVAILABILITY_MAILBOXES + 1];
    for (int i = 0; i <= EWS_MAX_AVAILABILITY_MAILBOXES; i++)
        mb[i] = i == 1 ? "o'neil&co@example.com" : "user@example.com";
    xmlDoc *doc =
        parse_req(ews_build_get_user_availability(&smtp_ctx, mb, EWS_MAX_AVAILABILITY_MAILBOXES,
                                                  1795392000, 1795478400, 15, EWS_VIEW_DETAILED));
    const char *base = "/soap:Envelope/soap:Body/m:GetUserAvailabilityRequest";
    char e[1024];
    snprintf(e, sizeof e, "%s/m:MailboxDataArray/t:MailboxData", base);
    cr_expect_eq(xcount(doc, e), EWS_MAX_AVAILABILITY_MAILBOXES);
    snprintf(e, sizeof e, "%s/m:MailboxDataArray/t:MailboxData[2]/t:Email/t:Address", base);
    cr_expect_str_eq(xp(doc, e), "o'neil&co@example.com");
    snprintf(e, sizeof e, "%s/t:TimeZone/t:Bias", base);
    cr_expect_str_eq(xp(doc, e), "0");
    snprintf(e, sizeof e, "%s/t:FreeBusyViewOptions/t:TimeWindow/t:StartTime", base);
    cr_expect_str_eq(xp(doc, e), "2026-11-23T00:00:00");
    snprintf(e, sizeof e, "%s/t:FreeBusyViewOptions/t:TimeWindow/t:EndTime", base);
    cr_expect_str_eq(xp(doc, e), "2026-11-24T00:00:00");
    snprintf(e, sizeof e, "%s/t:FreeBusyViewOptions/t:MergedFreeBusyIntervalInMinutes", base);
    cr_expect_str_eq(xp(doc, e), "15");
    snprintf(e, sizeof e, "%s/t:FreeBusyViewOptions/t:RequestedView", base);
    cr_expect_str_eq(xp(doc, e), "Detailed");
    xmlFreeDoc(doc);

    doc = parse_req(ews_build_get_user_availability(&smtp_ctx, mb, 1, 1795392000, 1795478400, 30,
                                                    EWS_VIEW_FREEBUSY));
    cr_expect_str_eq(xp(doc, "//t:FreeBusyViewOptions/t:RequestedView"), "FreeBusy");
    xmlFreeDoc(doc);

    cr_expect_null(ews_build_get_user_availability(&smtp_ctx, mb,
                                                   EWS_MAX_AVAILABILITY_MAILBOXES + 1, 1795392000,
                                                   1795478400, 30, EWS_VIEW_FREEBUSY));
    cr_expect_null(ews_build_get_user_availability(&smtp_ctx, mb, 0, 1795392000, 1795478400, 30,
                                                   EWS_VIEW_FREEBUSY));
    cr_expect_null(ews_build_get_user_availability(&smtp_ctx, mb, 1, 1795392000, 1795478400, 4,
                                                   EWS_VIEW_FREEBUSY));
    cr_expect_null(ews_build_get_user_availability(&smtp_ctx, mb, 1, 1795478400, 1795392000, 30,
                                                   EWS_VIEW_FREEBUSY));
}

Test(build, send_notification_result)
{
    xmlDoc *doc = parse_req(ews_build_send_notification_result(false));
    cr_expect_str_eq(
        xp(doc, "/soap:Envelope/soap:Body/m:SendNotificationResult/m:SubscriptionStatus"), "OK");
    cr_expect_eq(xcount(doc, "/soap:Envelope/soap:Header"), 0);
    xmlFreeDoc(doc);
    doc = parse_req(ews_build_send_notification_result(true));
    cr_expect_str_eq(xp(doc, "//m:SendNotificationResult/m:SubscriptionStatus"), "Unsubscribe");
    xmlFreeDoc(doc);
}

Test(build, get_calendar_folder)
{
    xmlDoc *doc = parse_req(ews_build_get_calendar_folder(&smtp_ctx));
    cr_expect_str_eq(xp(doc, "//m:GetFolder/m:FolderIds/t:DistinguishedFolderId/@Id"), "calendar");
    cr_expect_str_eq(xp(doc, "//m:GetFolder/m:FolderShape/t:BaseShape"), "IdOnly");
    xmlFreeDoc(doc);
}

Test(build, version_names_round_trip)
{
    for (int v = 0; v < EWS_V_COUNT; v++) {
        enum ews_server_version out;
        cr_expect_eq(ews_server_version_parse(ews_server_version_name(v), &out), 0);
        cr_expect_eq((int)out, v);
    }
    enum ews_server_version out = EWS_V2016;
    cr_expect_eq(ews_server_version_parse("Exchange2007", &out), EWS_E_INVAL);
    cr_expect_eq(ews_server_version_parse(NULL, &out), EWS_E_INVAL);
    cr_expect_str_eq(ews_server_version_name(EWS_V2010_SP2), "Exchange2010_SP2");
    cr_expect_null(ews_server_version_name(EWS_V_COUNT));
}
