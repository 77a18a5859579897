/* ews/build_calendar.c: requests that read calendars: FindItem/CalendarView,
 * GetUserAvailability, GetFolder of the calendar. */
#include "ews_xml_int.h"

/* A zone with no bias and no daylight saving: the schema demands a full SerializableTimeZone
 * and UTC keeps every answer in UTC. */
#define UTC_TZ_TIME                                                                                \
    "<t:Bias>0</t:Bias><t:Time>00:00:00</t:Time><t:DayOrder>1</t:DayOrder>"                        \
    "<t:Month>1</t:Month><t:DayOfWeek>Sunday</t:DayOfWeek>"
#define UTC_TIMEZONE                                                                               \
    "<t:TimeZone><t:Bias>0</t:Bias><t:StandardTime>" UTC_TZ_TIME "</t:StandardTime>"               \
    "<t:DaylightTime>" UTC_TZ_TIME "</t:DaylightTime></t:TimeZone>"

char *
ews_build_find_calendar(const struct ews_request_ctx *ctx, time_t start, time_t end,
                        int max_entries)
{
    char s[32], e[32];
    struct ews_buf b;
    if (end <= start || max_entries < 1 || !ews_time_format(start, s, true) ||
        !ews_time_format(end, e, true) || !ews_soap_begin(&b, ctx))
        return NULL;
    ews_buf_printf(
        &b,
        "<m:FindItem Traversal=\"Shallow\"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>"
        "<t:AdditionalProperties>"
        "<t:FieldURI FieldURI=\"calendar:Start\"/>"
        "<t:FieldURI FieldURI=\"calendar:End\"/>"
        "<t:FieldURI FieldURI=\"calendar:LegacyFreeBusyStatus\"/>"
        "<t:FieldURI FieldURI=\"calendar:IsAllDayEvent\"/>"
        "<t:FieldURI FieldURI=\"calendar:IsCancelled\"/>"
        "<t:FieldURI FieldURI=\"calendar:CalendarItemType\"/>"
        "<t:FieldURI FieldURI=\"item:Subject\"/>"
        "<t:FieldURI FieldURI=\"item:Sensitivity\"/>"
        "</t:AdditionalProperties></m:ItemShape>"
        "<m:CalendarView MaxEntriesReturned=\"%d\" StartDate=\"%s\" EndDate=\"%s\"/>"
        "<m:ParentFolderIds><t:DistinguishedFolderId Id=\"calendar\"/></m:ParentFolderIds>"
        "</m:FindItem>",
        max_entries, s, e);
    return ews_soap_end(&b);
}

char *
ews_build_get_user_availability(const struct ews_request_ctx *ctx, const char *const *mailboxes,
                                size_t n_mailboxes, time_t start, time_t end,
                                int merged_interval_min, enum ews_fb_view view)
{
    char s[32], e[32];
    struct ews_buf b;
    if (!mailboxes || n_mailboxes < 1 || n_mailboxes > EWS_MAX_AVAILABILITY_MAILBOXES ||
        end <= start || merged_interval_min < 5 || merged_interval_min > 1440 ||
        (view != EWS_VIEW_FREEBUSY && view != EWS_VIEW_DETAILED) ||
        !ews_time_format(start, s, false) || !ews_time_format(end, e, false))
        return NULL;
    for (size_t i = 0; i < n_mailboxes; i++)
        if (!mailboxes[i] || !*mailboxes[i])
            return NULL;
    if (!ews_soap_begin(&b, ctx))
        return NULL;
    ews_buf_puts(&b, "<m:GetUserAvailabilityRequest>" UTC_TIMEZONE "<m:MailboxDataArray>");
    for (size_t i = 0; i < n_mailboxes; i++) {
        ews_buf_puts(&b, "<t:MailboxData><t:Email><t:Address>");
        ews_buf_put_escaped(&b, mailboxes[i]);
        ews_buf_puts(&b, "</t:Address></t:Email><t:AttendeeType>Required</t:AttendeeType>"
                         "<t:ExcludeConflicts>false</t:ExcludeConflicts></t:MailboxData>");
    }
    /* TimeWindow is read in the TimeZone above (UTC), hence no 'Z'. */
    ews_buf_printf(&b,
                   "</m:MailboxDataArray><t:FreeBusyViewOptions><t:TimeWindow>"
                   "<t:StartTime>%s</t:StartTime><t:EndTime>%s</t:EndTime></t:TimeWindow>"
                   "<t:MergedFreeBusyIntervalInMinutes>%d</t:MergedFreeBusyIntervalInMinutes>"
                   "<t:RequestedView>%s</t:RequestedView></t:FreeBusyViewOptions>"
                   "</m:GetUserAvailabilityRequest>",
                   s, e, merged_interval_min, view == EWS_VIEW_DETAILED ? "Detailed" : "FreeBusy");
    return ews_soap_end(&b);
}

char *
ews_build_get_calendar_folder(const struct ews_request_ctx *ctx)
{
    struct ews_buf b;
    if (!ews_soap_begin(&b, ctx))
        return NULL;
    ews_buf_puts(&b, "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape>"
                     "<t:AdditionalProperties><t:FieldURI FieldURI=\"folder:DisplayName\"/>"
                     "<t:FieldURI FieldURI=\"folder:TotalCount\"/></t:AdditionalProperties>"
                     "</m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id=\"calendar\"/>"
                     "</m:FolderIds></m:GetFolder>");
    return ews_soap_end(&b);
}
