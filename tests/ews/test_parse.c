/* tests/ews/test_parse.c: the response parsers on hand-written fixtures: Subscribe,
 * Unsubscribe, GetEvents, SendNotification, GetFolder, ServerVersionInfo, FindItem with
 * CalendarView (occurrences, exceptions, all-day items in other zones, truncation, unknown
 * values) and GetUserAvailability. */
#include <criterion/criterion.h>
#include <string.h>

#include "ews_xml.h"
#include "test_parse_fixture.h"

static time_t
utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};
    return timegm(&tm);
}

Test(parse, subscribe_push)
{
    size_t len;
    char *body = fixture("subscribe-push-response.xml", &len);
    struct ews_subscribe_result r;
    struct ews_error err;
    cr_assert_eq(ews_parse_subscribe(body, len, &r, &err), 0);
    cr_expect_str_eq(r.subscription_id, "PUSH-sub-0001");
    cr_expect_str_eq(r.watermark, "WM-push-0001==");
    cr_expect_eq(err.cls, EWS_ERR_NONE);
    ews_subscribe_result_free(&r);
    cr_expect_null(r.subscription_id);
    free(body);
}

Test(parse, subscribe_streaming_has_no_watermark)
{
    size_t len;
    char *body = fixture("subscribe-streaming-response.xml", &len);
    struct ews_subscribe_result r;
    cr_assert_eq(ews_parse_subscribe(body, len, &r, NULL), 0);
    cr_expect_str_eq(r.subscription_id, "STREAM-sub-0002");
    cr_expect_null(r.watermark);
    ews_subscribe_result_free(&r);
    free(body);
}

Test(parse, subscribe_error_is_mailbox_problem)
{
    size_t len;
    char *body = fixture("subscribe-error-impersonate-denied.xml", &len);
    struct ews_subscribe_result r;
    struct ews_error err;
    cr_assert_eq(ews_parse_subscribe(body, len, &r, &err), EWS_E_RESPONSE);
    cr_expect_eq(err.cls, EWS_ERR_MAILBOX_PROBLEM);
    cr_expect_str_eq(err.code, "ErrorImpersonateUserDenied");
    cr_expect_not_null(strstr(err.message, "impersonate"));
    cr_expect_null(r.subscription_id);
    ews_subscribe_result_free(&r);
    free(body);
}

Test(parse, subscribe_wrong_answer_is_malformed)
{
    size_t len;
    char *body = fixture("unsubscribe-response.xml", &len);
    struct ews_subscribe_result r;
    struct ews_error err;
    cr_expect_eq(ews_parse_subscribe(body, len, &r, &err), EWS_E_MALFORMED);
    cr_expect_eq(err.cls, EWS_ERR_MALFORMED);
    ews_subscribe_result_free(&r);
    free(body);
}

Test(parse, unsubscribe)
{
    size_t len;
    char *body = fixture("unsubscribe-response.xml", &len);
    struct ews_error err;
    cr_expect_eq(ews_parse_unsubscribe(body, len, &err), 0);
    free(body);
    body = fixture("unsubscribe-error-notfound.xml", &len);
    cr_expect_eq(ews_parse_unsubscribe(body, len, &err), EWS_E_RESPONSE);
    cr_expect_eq(err.cls, EWS_ERR_RESUBSCRIBE);
    cr_expect_str_eq(err.code, "ErrorSubscriptionNotFound");
    free(body);
}

Test(parse, get_events_all_event_types)
{
    size_t len;
    char *body = fixture("getevents-response.xml", &len);
    struct ews_notification_list l;
    struct ews_error err;
    cr_assert_eq(ews_parse_get_events(body, len, &l, &err), 0);
    cr_assert_eq(l.n_items, 1);
    struct ews_notification *n = &l.items[0];
    cr_expect_str_eq(n->subscription_id, "PULL-sub-0003");
    cr_expect_str_eq(n->previous_watermark, "WM-0");
    cr_expect(n->more_events);
    cr_assert_eq(n->n_events, 6);
    enum ews_event_type want[] = {EWS_EV_CREATED, EWS_EV_MODIFIED, EWS_EV_MOVED,
                                  EWS_EV_COPIED,  EWS_EV_DELETED,  EWS_EV_UNKNOWN};
    for (int i = 0; i < 6; i++) {
        cr_expect_eq(n->events[i].type, want[i], "event %d", i);
        char wm[8];
        snprintf(wm, sizeof wm, "WM-%d", i + 1);
        cr_expect_str_eq(n->events[i].watermark, wm);
    }
    cr_expect_eq(n->events[0].timestamp, utc(2026, 11, 23, 8, 0, 1));
    cr_expect_str_eq(n->events[0].item_id, "ITEM-A");
    cr_expect_str_eq(n->events[0].change_key, "CK-A");
    cr_expect_str_eq(n->events[0].parent_folder_id, "CAL");
    cr_expect_str_eq(n->events[1].change_key, "CK-A2");
    cr_expect_str_eq(n->events[2].old_item_id, "ITEM-B-OLD");
    cr_expect_str_eq(n->events[2].old_parent_folder_id, "CAL");
    cr_expect_str_eq(n->events[2].parent_folder_id, "DELETED");
    cr_expect_str_eq(n->events[3].item_id, "ITEM-C");
    cr_expect_null(n->events[5].item_id);
    cr_expect_eq(n->events[5].timestamp, 0);
    ews_notification_list_free(&l);
    free(body);
}

Test(parse, get_events_expired_is_resubscribe)
{
    size_t len;
    char *body = fixture("getevents-error-expired.xml", &len);
    struct ews_notification_list l;
    struct ews_error err;
    cr_expect_eq(ews_parse_get_events(body, len, &l, &err), EWS_E_RESPONSE);
    cr_expect_eq(err.cls, EWS_ERR_RESUBSCRIBE);
    cr_expect_str_eq(err.code, "ErrorExpiredSubscription");
    cr_expect_eq(l.n_items, 0);
    ews_notification_list_free(&l);
    free(body);
}

Test(parse, send_notification_status)
{
    size_t len;
    char *body = fixture("sendnotification-status.xml", &len);
    struct ews_notification_list l;
    cr_assert_eq(ews_parse_send_notification(body, len, &l, NULL), 0);
    cr_assert_eq(l.n_items, 1);
    cr_expect_str_eq(l.items[0].subscription_id, "PUSH-sub-0001");
    cr_expect_str_eq(l.items[0].previous_watermark, "WM-push-0001==");
    cr_expect_not(l.items[0].more_events);
    cr_assert_eq(l.items[0].n_events, 1);
    cr_expect_eq(l.items[0].events[0].type, EWS_EV_STATUS);
    cr_expect_str_eq(l.items[0].events[0].watermark, "WM-push-0002==");
    ews_notification_list_free(&l);
    free(body);
}

Test(parse, send_notification_events_with_offsets)
{
    size_t len;
    char *body = fixture("sendnotification-events.xml", &len);
    struct ews_notification_list l;
    cr_assert_eq(ews_parse_send_notification(body, len, &l, NULL), 0);
    cr_assert_eq(l.n_items, 1);
    cr_assert_eq(l.items[0].n_events, 2);
    struct ews_event *e = l.items[0].events;
    cr_expect_eq(e[0].type, EWS_EV_CREATED);
    cr_expect_eq(e[0].timestamp, utc(2026, 11, 23, 8, 15, 0)); /* 09:15+01:00 */
    cr_expect_str_eq(e[0].item_id, "ITEM-NEW");
    cr_expect_eq(e[1].type, EWS_EV_MODIFIED);
    cr_expect_str_eq(e[1].folder_id, "CAL");
    cr_expect_null(e[1].item_id);
    ews_notification_list_free(&l);
    free(body);
}

Test(parse, send_notification_refuses_other_bodies)
{
    size_t len;
    char *body = fixture("getevents-response.xml", &len);
    struct ews_notification_list l;
    struct ews_error err;
    cr_expect_eq(ews_parse_send_notification(body, len, &l, &err), EWS_E_MALFORMED);
    cr_expect_eq(err.cls, EWS_ERR_MALFORMED);
    free(body);
    const char empty[] = "<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body>"
                         "<m:SendNotification "
                         "xmlns:m='http://schemas.microsoft.com/exchange/services/2006/messages'>"
                         "<m:ResponseMessages/></m:SendNotification></s:Body></s:Envelope>";
    cr_expect_eq(ews_parse_send_notification(empty, sizeof empty - 1, &l, &err), EWS_E_MALFORMED);
    const char no_id[] =
        "<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body>"
        "<m:SendNotification "
        "xmlns:m='http://schemas.microsoft.com/exchange/services/2006/messages'>"
        "<m:ResponseMessages><m:SendNotificationResponseMessage ResponseClass='Success'>"
        "<m:Notification/></m:SendNotificationResponseMessage></m:ResponseMessages>"
        "</m:SendNotification></s:Body></s:Envelope>";
    cr_expect_eq(ews_parse_send_notification(no_id, sizeof no_id - 1, &l, &err), EWS_E_MALFORMED);
    cr_expect_eq(l.n_items, 0);
}

Test(parse, get_folder_and_server_info)
{
    size_t len;
    char *body = fixture("getfolder-response.xml", &len);
    struct ews_folder_result f;
    cr_assert_eq(ews_parse_get_folder(body, len, &f, NULL), 0);
    cr_expect_str_eq(f.folder_id, "CAL-FOLDER-1");
    cr_expect_str_eq(f.change_key, "AgAAAA==");
    cr_expect_str_eq(f.display_name, "Calendar");
    cr_expect_eq(f.total_count, 42);
    ews_folder_result_free(&f);

    struct ews_server_info si;
    cr_assert_eq(ews_parse_server_info(body, len, &si), 0);
    cr_expect_eq(si.major, 15);
    cr_expect_eq(si.minor, 2);
    cr_expect_eq(si.major_build, 1544);
    cr_expect_eq(si.minor_build, 4);
    cr_expect_str_eq(si.version, "V2017_07_11");
    free(body);

    body = fixture("fault-serverbusy.xml", &len);
    cr_expect_eq(ews_parse_server_info(body, len, &si), EWS_E_MALFORMED);
    struct ews_error err;
    cr_expect_eq(ews_parse_get_folder(body, len, &f, &err), EWS_E_RESPONSE);
    cr_expect_eq(err.cls, EWS_ERR_RETRY_LATER);
    cr_expect_null(f.folder_id);
    free(body);
}

Test(parse, calendar_view_items)
{
    size_t len;
    char *body = fixture("finditem-calendar.xml", &len);
    struct ews_calendar_view v;
    struct ews_error err;
    cr_assert_eq(ews_parse_find_calendar(body, len, &v, &err), 0, "%s", err.message);
    cr_expect(v.includes_last_item_in_range);
    cr_assert_eq(v.n_items, 9);
    struct ews_cal_item *it = v.items;

    cr_expect_str_eq(it[0].item_id, "SINGLE");
    cr_expect_str_eq(it[0].change_key, "CK-SINGLE");
    cr_expect_str_eq(it[0].subject, "Budget & plans <Q4>");
    cr_expect_eq(it[0].start, utc(2026, 11, 23, 8, 0, 0));
    cr_expect_eq(it[0].end, utc(2026, 11, 23, 9, 0, 0));
    cr_expect_eq(it[0].busy, EWS_BUSY_BUSY);
    cr_expect_eq(it[0].type, EWS_ITEM_SINGLE);
    cr_expect_eq(it[0].sensitivity, EWS_SENS_NORMAL);

    /* recurring occurrence with a +01:00 offset */
    cr_expect_eq(it[1].type, EWS_ITEM_OCCURRENCE);
    cr_expect_eq(it[1].busy, EWS_BUSY_TENTATIVE);
    cr_expect_eq(it[1].start, utc(2026, 11, 23, 9, 0, 0));
    cr_expect_eq(it[1].end, utc(2026, 11, 23, 9, 30, 0));

    /* exception with a -05:00 offset */
    cr_expect_eq(it[2].type, EWS_ITEM_EXCEPTION);
    cr_expect_eq(it[2].start, utc(2026, 11, 23, 19, 0, 0));
    cr_expect_eq(it[2].end, utc(2026, 11, 23, 20, 0, 0));

    /* all-day in New York: midnight local is 05:00Z */
    cr_expect(it[3].all_day);
    cr_expect_eq(it[3].busy, EWS_BUSY_OOF);
    cr_expect_eq(it[3].start, utc(2026, 11, 24, 5, 0, 0));
    cr_expect_eq(it[3].end, utc(2026, 11, 25, 5, 0, 0));
    cr_expect_eq(it[3].sensitivity, EWS_SENS_PERSONAL);

    /* all-day in Tokyo given with +09:00: starts the previous day 15:00Z */
    cr_expect(it[4].all_day);
    cr_expect_eq(it[4].start, utc(2026, 11, 23, 15, 0, 0));
    cr_expect_eq(it[4].end, utc(2026, 11, 24, 15, 0, 0));
    cr_expect_eq(it[4].busy, EWS_BUSY_FREE);

    cr_expect(it[5].cancelled);
    cr_expect_not(it[0].cancelled);
    cr_expect_eq(it[6].busy, EWS_BUSY_WORKING_ELSEWHERE);
    cr_expect_eq(it[6].sensitivity, EWS_SENS_PRIVATE);

    /* values from a newer server: tolerated */
    cr_expect_eq(it[7].busy, EWS_BUSY_UNKNOWN);
    cr_expect_eq(it[7].type, EWS_ITEM_UNKNOWN);
    cr_expect_eq(it[7].sensitivity, EWS_SENS_UNKNOWN);
    cr_expect_null(it[7].subject);

    /* no LegacyFreeBusyStatus: busy; fractional seconds accepted */
    cr_expect_eq(it[8].busy, EWS_BUSY_BUSY);
    cr_expect_eq(it[8].start, utc(2026, 11, 23, 23, 0, 0));
    cr_expect_eq(it[8].end, utc(2026, 11, 23, 23, 59, 59));
    ews_calendar_view_free(&v);
    free(body);
}

Test(parse, calendar_view_truncated)
{
    size_t len;
    char *body = fixture("finditem-truncated.xml", &len);
    struct ews_calendar_view v;
    cr_assert_eq(ews_parse_find_calendar(body, len, &v, NULL), 0);
    cr_expect_not(v.includes_last_item_in_range);
    cr_expect_eq(v.n_items, 2);
    ews_calendar_view_free(&v);
    free(body);
}

Test(parse, calendar_view_errors)
{
    size_t len;
    char *body = fixture("finditem-error-nonexistent.xml", &len);
    struct ews_calendar_view v;
    struct ews_error err;
    cr_expect_eq(ews_parse_find_calendar(body, len, &v, &err), EWS_E_RESPONSE);
    cr_expect_eq(err.cls, EWS_ERR_MAILBOX_PROBLEM);
    cr_expect_str_eq(err.code, "ErrorNonExistentMailbox");
    free(body);

    body = fixture("internal-error-serverbusy.xml", &len);
    cr_expect_eq(ews_parse_find_calendar(body, len, &v, &err), EWS_E_RESPONSE);
    cr_expect_eq(err.cls, EWS_ERR_RETRY_LATER);
    cr_expect_eq(err.backoff_ms, 30000);
    free(body);

    /* an item without Start is refused rather than silently dropped */
    const char bad[] =
        "<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body>"
        "<m:FindItemResponse xmlns:m='http://schemas.microsoft.com/exchange/services/2006/messages'"
        " xmlns:t='http://schemas.microsoft.com/exchange/services/2006/types'><m:ResponseMessages>"
        "<m:FindItemResponseMessage ResponseClass='Success'><m:RootFolder><t:Items>"
        "<t:CalendarItem><t:ItemId Id='X'/><t:End>2026-11-23T08:00:00Z</t:End></t:CalendarItem>"
        "</t:Items></m:RootFolder></m:FindItemResponseMessage></m:ResponseMessages>"
        "</m:FindItemResponse></s:Body></s:Envelope>";
    cr_expect_eq(ews_parse_find_calendar(bad, sizeof bad - 1, &v, &err), EWS_E_MALFORMED);
    cr_expect_eq(err.cls, EWS_ERR_MALFORMED);
    cr_expect_eq(v.n_items, 0);
}

Test(parse, availability)
{
    size_t len;
    char *body = fixture("getuseravailability-response.xml", &len);
    struct ews_availability a;
    struct ews_error err;
    cr_assert_eq(ews_parse_get_user_availability(body, len, &a, &err), 0, "%s", err.message);
    cr_assert_eq(a.n_mailboxes, 3);

    struct ews_mailbox_availability *m = &a.mailboxes[0];
    cr_expect_eq(m->error.cls, EWS_ERR_NONE);
    cr_assert_eq(m->n_events, 7);
    enum ews_busy want[] = {
        EWS_BUSY_BUSY,    EWS_BUSY_TENTATIVE, EWS_BUSY_OOF, EWS_BUSY_WORKING_ELSEWHERE,
        EWS_BUSY_NO_DATA, EWS_BUSY_UNKNOWN,   EWS_BUSY_FREE};
    for (int i = 0; i < 7; i++)
        cr_expect_eq(m->events[i].busy, want[i], "event %d", i);
    /* no zone: UTC, the zone we ask for */
    cr_expect_eq(m->events[0].start, utc(2026, 11, 23, 8, 0, 0));
    cr_expect_eq(m->events[1].start, utc(2026, 11, 23, 9, 0, 0));
    cr_expect_eq(m->events[2].end, utc(2026, 11, 25, 0, 0, 0));

    cr_expect_eq(a.mailboxes[1].error.cls, EWS_ERR_MAILBOX_PROBLEM);
    cr_expect_str_eq(a.mailboxes[1].error.code, "ErrorMailRecipientNotFound");
    cr_expect_eq(a.mailboxes[1].n_events, 0);
    cr_expect_eq(a.mailboxes[2].error.cls, EWS_ERR_NONE);
    cr_expect_eq(a.mailboxes[2].n_events, 0);
    ews_availability_free(&a);
    free(body);

    body = fixture("fault-serverbusy.xml", &len);
    cr_expect_eq(ews_parse_get_user_availability(body, len, &a, &err), EWS_E_RESPONSE);
    cr_expect_eq(err.cls, EWS_ERR_RETRY_LATER);
    cr_expect_eq(err.backoff_ms, 123457);
    free(body);
}

Test(parse, names)
{
    cr_expect_str_eq(ews_busy_name(EWS_BUSY_WORKING_ELSEWHERE), "working_elsewhere");
    cr_expect_str_eq(ews_busy_name((enum ews_busy)99), "unknown");
    cr_expect_str_eq(ews_error_class_name(EWS_ERR_MAILBOX_PROBLEM), "mailbox_problem");
    cr_expect_str_eq(ews_event_type_name(EWS_EV_COPIED), "copied");
}
