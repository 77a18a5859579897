/* ews-sim: calendar and directory operations: FindItem (CalendarView expansion), GetItem,
 * GetFolder, GetUserAvailability, and the two calls exchangelib makes at start-up (ConvertId
 * for version guessing, ResolveNames). Item shapes are ignored: every item carries one fixed
 * property set, a superset of what the calendar presence code reads. */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VIEW_RANGE (2 * 366 * 86400LL)

static void
resp_open(struct evbuffer *out, const char *op)
{
    evbuffer_add_printf(
        out, "<m:%sResponse xmlns:m=\"" SIM_NS_M "\" xmlns:t=\"" SIM_NS_T "\"><m:ResponseMessages>",
        op);
}

static void
resp_close(struct evbuffer *out, const char *op)
{
    evbuffer_add_printf(out, "</m:ResponseMessages></m:%sResponse>", op);
}

/* LegacyFreeBusyStatus as the requested schema version knows it: WorkingElsewhere came with
 * Exchange 2013 and is reported as Free to older clients. */
static const char *
busy_for(const struct sim_req *r, int busy)
{
    if (busy == BUSY_ELSEWHERE && r->version < sim_request_version("Exchange2013"))
        return "Free";
    return sim_busy_name(busy);
}

static void
write_time(struct evbuffer *out, const char *elem, int64_t t)
{
    char buf[40];
    sim_fmt_time(t, buf, sizeof(buf), 1);
    evbuffer_add_printf(out, "<t:%s>%s</t:%s>", elem, buf, elem);
}

static void
write_recurrence(struct evbuffer *out, const struct sim_item *it)
{
    static const char *const days[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                       "Thursday", "Friday", "Saturday"};
    char date[40];
    time_t t = (time_t)it->start;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof(date), "%Y-%m-%dZ", &tm);
    evbuffer_add_printf(out, "<t:Recurrence>");
    if (it->recur == RECUR_DAILY)
        evbuffer_add_printf(out,
                            "<t:DailyRecurrence><t:Interval>%u</t:Interval></t:DailyRecurrence>",
                            it->interval);
    else if (it->recur == RECUR_WEEKLY)
        evbuffer_add_printf(out,
                            "<t:WeeklyRecurrence><t:Interval>%u</t:Interval><t:DaysOfWeek>%s"
                            "</t:DaysOfWeek></t:WeeklyRecurrence>",
                            it->interval, days[tm.tm_wday]);
    else
        evbuffer_add_printf(out, "<t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>"
                                 "Monday Tuesday Wednesday Thursday Friday</t:DaysOfWeek>"
                                 "</t:WeeklyRecurrence>");
    if (it->count)
        evbuffer_add_printf(out,
                            "<t:NumberedRecurrence><t:StartDate>%s</t:StartDate>"
                            "<t:NumberOfOccurrences>%u</t:NumberOfOccurrences>"
                            "</t:NumberedRecurrence></t:Recurrence>",
                            date, it->count);
    else
        evbuffer_add_printf(out,
                            "<t:NoEndRecurrence><t:StartDate>%s</t:StartDate></t:NoEndRecurrence>"
                            "</t:Recurrence>",
                            date);
}

/* One CalendarItem; type 3 writes a recurring master with its Recurrence. */
static void
write_item(struct sim_req *r, struct evbuffer *out, const struct sim_occ *o, int master)
{
    static const char *const types[] = {"Single", "Occurrence", "Exception", "RecurringMaster"};
    const struct sim_item *it = o->item;
    const struct sim_mailbox *m = &g_sim.mailboxes[it->mailbox];
    char id[64], ck[32], fid[64];
    int type = master ? 3 : o->type;
    sim_item_id(it->mailbox, it->id, master ? 0 : o->index, id);
    sim_change_key(it->changes, ck);
    sim_folder_id(it->mailbox, FOLDER_CALENDAR, fid);
    evbuffer_add_printf(out,
                        "<t:CalendarItem><t:ItemId Id=\"%s\" ChangeKey=\"%s\"/>"
                        "<t:ParentFolderId Id=\"%s\" ChangeKey=\"AQAAAA==\"/>"
                        "<t:ItemClass>IPM.Appointment</t:ItemClass><t:Subject>",
                        id, ck, fid);
    sim_xml_escape(out, it->subject);
    evbuffer_add_printf(out, "</t:Subject>");
    write_time(out, "DateTimeCreated", it->created);
    evbuffer_add_printf(out, "<t:UID>040000008200E00074C5B7101A82E008%08X</t:UID>", it->id);
    if (type == 1 || type == 2)
        write_time(out, "RecurrenceId", o->start);
    write_time(out, "Start", master ? it->start : o->start);
    write_time(out, "End", master ? it->end : o->end);
    evbuffer_add_printf(out,
                        "<t:IsAllDayEvent>%s</t:IsAllDayEvent>"
                        "<t:LegacyFreeBusyStatus>%s</t:LegacyFreeBusyStatus>",
                        it->allday ? "true" : "false",
                        busy_for(r, it->cancelled ? BUSY_FREE : (master ? it->busy : o->busy)));
    if (it->location) {
        evbuffer_add_printf(out, "<t:Location>");
        sim_xml_escape(out, it->location);
        evbuffer_add_printf(out, "</t:Location>");
    }
    evbuffer_add_printf(out,
                        "<t:IsMeeting>false</t:IsMeeting><t:IsCancelled>%s</t:IsCancelled>"
                        "<t:IsRecurring>%s</t:IsRecurring>"
                        "<t:CalendarItemType>%s</t:CalendarItemType>"
                        "<t:MyResponseType>Organizer</t:MyResponseType>"
                        "<t:Organizer><t:Mailbox><t:Name>",
                        it->cancelled ? "true" : "false", type == 0 ? "false" : "true",
                        types[type]);
    sim_xml_escape(out, m->smtp);
    evbuffer_add_printf(out, "</t:Name><t:EmailAddress>");
    sim_xml_escape(out, m->smtp);
    evbuffer_add_printf(out, "</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType>"
                             "</t:Mailbox></t:Organizer>");
    if (master)
        write_recurrence(out, it);
    evbuffer_add_printf(out, "</t:CalendarItem>");
}

/* Folder targeted by a DistinguishedFolderId or FolderId element: mailbox and folder number.
 * A Mailbox child (delegate access) needs the same right as impersonation. Returns 0, or -1
 * with *code set. */
static int
target_folder(struct sim_req *r, xmlNodePtr f, uint32_t *mbx, int *folder, const char **code)
{
    char *id = f ? (char *)xmlGetProp(f, BAD_CAST "Id") : NULL;
    int rc = 0;
    *mbx = r->mailbox;
    *code = "ErrorFolderNotFound";
    if (!id) {
        rc = -1;
    } else if (xmlStrcmp(f->name, BAD_CAST "DistinguishedFolderId") == 0) {
        const char *addr = sim_child_text(sim_child(f, "Mailbox"), "EmailAddress");
        *folder = sim_folder_parse(id);
        if (*folder < 0)
            *folder = FOLDER_ROOT;
        if (addr) {
            *mbx = sim_mailbox_find(addr);
            if (*mbx == SIM_NONE) {
                *code = "ErrorNonExistentMailbox";
                rc = -1;
            } else if (*mbx != r->mailbox && !sim_may_impersonate(r->account, *mbx)) {
                *code = "ErrorAccessDenied";
                rc = -1;
            }
        }
    } else if (sim_folder_id_parse(id, mbx, folder) < 0 || *mbx >= g_sim.nmailboxes) {
        *code = "ErrorInvalidIdMalformed";
        rc = -1;
    } else if (*mbx != r->mailbox && !sim_may_impersonate(r->account, *mbx)) {
        *code = "ErrorAccessDenied";
        rc = -1;
    }
    if (rc == 0 && *mbx == SIM_NONE) {
        *code = "ErrorNonExistentMailbox";
        rc = -1;
    }
    xmlFree(id);
    return rc;
}

static long
attr_long(xmlNodePtr n, const char *name, long dflt)
{
    char *v = (char *)xmlGetProp(n, BAD_CAST name);
    long x = v ? strtol(v, NULL, 10) : dflt;
    xmlFree(v);
    return x;
}

static int
attr_time(xmlNodePtr n, const char *name, int64_t *t)
{
    char *v = (char *)xmlGetProp(n, BAD_CAST name);
    int rc = v ? sim_parse_time(v, t) : -1;
    xmlFree(v);
    return rc;
}

int
sim_op_finditem(struct sim_req *r, struct evbuffer *out)
{
    xmlNodePtr view = sim_child(r->op, "CalendarView");
    xmlNodePtr f = sim_child(sim_child(r->op, "ParentFolderIds"), NULL);
    struct sim_occ *occ = NULL;
    size_t n = 0, shown;
    uint32_t mbx;
    int folder;
    const char *code;
    int64_t from, to;
    resp_open(out, "FindItem");
    if (target_folder(r, f, &mbx, &folder, &code) < 0) {
        sim_msg_error(out, "FindItemResponseMessage", code, "The folder cannot be read.");
        evbuffer_add_printf(out, "</m:FindItemResponseMessage>");
        resp_close(out, "FindItem");
        return 200;
    }
    if (view && (attr_time(view, "StartDate", &from) < 0 || attr_time(view, "EndDate", &to) < 0 ||
                 to < from)) {
        sim_msg_error(out, "FindItemResponseMessage", "ErrorInvalidRequest",
                      "The CalendarView dates are invalid.");
        evbuffer_add_printf(out, "</m:FindItemResponseMessage>");
        resp_close(out, "FindItem");
        return 200;
    }
    if (view && to - from > MAX_VIEW_RANGE) {
        sim_msg_error(out, "FindItemResponseMessage", "ErrorCalendarViewRangeTooBig",
                      "The specified view range exceeds the maximum range of two years.");
        evbuffer_add_printf(out, "</m:FindItemResponseMessage>");
        resp_close(out, "FindItem");
        return 200;
    }
    sim_msg_ok(out, "FindItemResponseMessage");
    if (folder == FOLDER_CALENDAR && view) {
        long max = attr_long(view, "MaxEntriesReturned", -1);
        n = sim_calendar_view(mbx, from, to, &occ);
        shown = max >= 0 && (size_t)max < n ? (size_t)max : n;
        evbuffer_add_printf(out,
                            "<m:RootFolder TotalItemsInView=\"%zu\" "
                            "IncludesLastItemInRange=\"%s\"><t:Items>",
                            n, shown == n ? "true" : "false");
        for (size_t i = 0; i < shown; i++)
            write_item(r, out, &occ[i], 0);
        free(occ);
    } else if (folder == FOLDER_CALENDAR) {
        /* without a CalendarView Exchange returns the masters, unexpanded */
        const struct sim_mailbox *m = &g_sim.mailboxes[mbx];
        evbuffer_add_printf(out,
                            "<m:RootFolder IndexedPagingOffset=\"%u\" TotalItemsInView=\"%u\" "
                            "IncludesLastItemInRange=\"true\"><t:Items>",
                            m->nitems, m->nitems);
        for (uint32_t i = 0; i < m->nitems; i++) {
            const struct sim_item *it = g_sim.items[m->items[i]];
            struct sim_occ o = {it, it->start, it->end, 0, it->busy, 0};
            write_item(r, out, &o, it->recur != RECUR_NONE);
        }
    } else {
        evbuffer_add_printf(out, "<m:RootFolder IndexedPagingOffset=\"0\" TotalItemsInView=\"0\" "
                                 "IncludesLastItemInRange=\"true\"><t:Items>");
    }
    evbuffer_add_printf(out, "</t:Items></m:RootFolder></m:FindItemResponseMessage>");
    resp_close(out, "FindItem");
    return 200;
}

static void
getitem_one(struct sim_req *r, struct evbuffer *out, xmlNodePtr idn)
{
    char *id = (char *)xmlGetProp(idn, BAD_CAST "Id");
    uint32_t mbx, item, occ;
    struct sim_item *it = NULL;
    struct sim_occ o;
    const char *code = "ErrorItemNotFound";
    if (!id || sim_item_id_parse(id, &mbx, &item, &occ) < 0) {
        code = "ErrorInvalidIdMalformed";
    } else if ((it = sim_item_get(item)) == NULL || it->mailbox != mbx) {
        it = NULL;
    } else if (mbx != r->mailbox && !sim_may_impersonate(r->account, mbx)) {
        code = "ErrorAccessDenied";
        it = NULL;
    } else if (occ) {
        if (sim_occurrence_find(it, occ, &o) < 0)
            it = NULL;
    } else {
        o = (struct sim_occ){it, it->start, it->end, 0, it->busy, 0};
    }
    xmlFree(id);
    if (!it) {
        sim_msg_error(out, "GetItemResponseMessage", code,
                      "The specified object was not found in the store.");
        evbuffer_add_printf(out, "<m:Items/></m:GetItemResponseMessage>");
        return;
    }
    sim_msg_ok(out, "GetItemResponseMessage");
    evbuffer_add_printf(out, "<m:Items>");
    write_item(r, out, &o, occ == 0 && it->recur != RECUR_NONE);
    evbuffer_add_printf(out, "</m:Items></m:GetItemResponseMessage>");
}

int
sim_op_getitem(struct sim_req *r, struct evbuffer *out)
{
    resp_open(out, "GetItem");
    for (xmlNodePtr n = sim_child(sim_child(r->op, "ItemIds"), NULL); n;
         n = sim_next(n->next, NULL))
        getitem_one(r, out, n);
    resp_close(out, "GetItem");
    return 200;
}

static void
getfolder_one(struct sim_req *r, struct evbuffer *out, xmlNodePtr f)
{
    static const char *const display[FOLDER_COUNT] = {
        "Calendar",      "Inbox",      "Root",   "Top of Information Store",
        "Deleted Items", "Sent Items", "Drafts", "Contacts",
        "Tasks",         "Outbox",     "Notes",  "Journal",
        "Junk Email"};
    uint32_t mbx;
    int folder;
    const char *code, *elem = "Folder", *cls = "IPF.Note";
    char fid[64], pid[64];
    if (target_folder(r, f, &mbx, &folder, &code) < 0) {
        sim_msg_error(out, "GetFolderResponseMessage", code, "The folder cannot be read.");
        evbuffer_add_printf(out, "</m:GetFolderResponseMessage>");
        return;
    }
    if (folder == FOLDER_CALENDAR) {
        elem = "CalendarFolder";
        cls = "IPF.Appointment";
    } else if (folder == FOLDER_CONTACTS) {
        elem = "ContactsFolder";
        cls = "IPF.Contact";
    } else if (folder == FOLDER_TASKS) {
        elem = "TasksFolder";
        cls = "IPF.Task";
    }
    sim_folder_id(mbx, folder, fid);
    sim_folder_id(mbx, folder == FOLDER_ROOT ? FOLDER_ROOT : FOLDER_MSGROOT, pid);
    sim_msg_ok(out, "GetFolderResponseMessage");
    evbuffer_add_printf(out,
                        "<m:Folders><t:%s><t:FolderId Id=\"%s\" ChangeKey=\"AQAAAA==\"/>"
                        "<t:ParentFolderId Id=\"%s\" ChangeKey=\"AQAAAA==\"/>",
                        elem, fid, pid);
    if (folder != FOLDER_ROOT)
        evbuffer_add_printf(out, "<t:FolderClass>%s</t:FolderClass>", cls);
    evbuffer_add_printf(out,
                        "<t:DisplayName>%s</t:DisplayName><t:TotalCount>%u</t:TotalCount>"
                        "<t:ChildFolderCount>0</t:ChildFolderCount>",
                        display[folder],
                        folder == FOLDER_CALENDAR ? g_sim.mailboxes[mbx].nitems : 0);
    if (folder != FOLDER_CALENDAR && folder != FOLDER_CONTACTS && folder != FOLDER_TASKS)
        evbuffer_add_printf(out, "<t:UnreadCount>0</t:UnreadCount>");
    evbuffer_add_printf(out, "</t:%s></m:Folders></m:GetFolderResponseMessage>", elem);
}

int
sim_op_getfolder(struct sim_req *r, struct evbuffer *out)
{
    resp_open(out, "GetFolder");
    for (xmlNodePtr f = sim_child(sim_child(r->op, "FolderIds"), NULL); f;
         f = sim_next(f->next, NULL))
        getfolder_one(r, out, f);
    resp_close(out, "GetFolder");
    return 200;
}

/* ---- GetUserAvailability ---- */

static int
merged_rank(int busy)
{
    static const int rank[] = {0, 2, 3, 4, 1, 0};
    return rank[busy];
}

static void
write_merged(struct evbuffer *out, const struct sim_occ *occ, size_t n, int64_t from, int64_t to,
             long step)
{
    static const char code[] = {'0', '1', '2', '3', '4', '5'};
    evbuffer_add_printf(out, "<t:MergedFreeBusy>");
    for (int64_t t = from; t < to; t += step * 60) {
        int best = BUSY_FREE;
        for (size_t i = 0; i < n; i++)
            if (!occ[i].item->cancelled && occ[i].start < t + step * 60 && occ[i].end > t &&
                merged_rank(occ[i].busy) > merged_rank(best))
                best = occ[i].busy;
        evbuffer_add(out, &code[best], 1);
    }
    evbuffer_add_printf(out, "</t:MergedFreeBusy>");
}

static void
availability_one(struct sim_req *r, struct evbuffer *out, const char *addr, int64_t from,
                 int64_t to, long bias_min, const char *view, long step)
{
    uint32_t mbx = addr ? sim_mailbox_find(addr) : SIM_NONE;
    int detailed = strstr(view, "Detailed") != NULL;
    int merged = strstr(view, "Merged") != NULL;
    struct sim_occ *occ = NULL;
    size_t n;
    char t0[40], t1[40];
    evbuffer_add_printf(out, "<m:FreeBusyResponse>");
    if (mbx == SIM_NONE) {
        evbuffer_add_printf(out, "<m:ResponseMessage ResponseClass=\"Error\"><m:MessageText>");
        sim_xml_escape(out, "No mailbox with such an address.");
        evbuffer_add_printf(out, "</m:MessageText><m:ResponseCode>ErrorMailRecipientNotFound"
                                 "</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>"
                                 "</m:ResponseMessage><m:FreeBusyView><t:FreeBusyViewType>None"
                                 "</t:FreeBusyViewType></m:FreeBusyView></m:FreeBusyResponse>");
        return;
    }
    g_sim.mailboxes[mbx].requests++;
    n = sim_calendar_view(mbx, from, to, &occ);
    evbuffer_add_printf(out,
                        "<m:ResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError"
                        "</m:ResponseCode></m:ResponseMessage><m:FreeBusyView>"
                        "<t:FreeBusyViewType>%s</t:FreeBusyViewType>",
                        view);
    if (merged)
        write_merged(out, occ, n, from, to, step);
    evbuffer_add_printf(out, "<t:CalendarEventArray>");
    for (size_t i = 0; i < n; i++) {
        const struct sim_occ *o = &occ[i];
        char id[64];
        if (o->item->cancelled)
            continue;
        /* times in the request's time zone, without an offset, as Exchange sends them */
        sim_fmt_time(o->start - bias_min * 60, t0, sizeof(t0), 0);
        sim_fmt_time(o->end - bias_min * 60, t1, sizeof(t1), 0);
        evbuffer_add_printf(out,
                            "<t:CalendarEvent><t:StartTime>%s</t:StartTime><t:EndTime>%s"
                            "</t:EndTime><t:BusyType>%s</t:BusyType>",
                            t0, t1, busy_for(r, o->busy));
        if (detailed) {
            sim_item_id(o->item->mailbox, o->item->id, o->index, id);
            evbuffer_add_printf(out, "<t:CalendarEventDetails><t:ID>%s</t:ID><t:Subject>", id);
            sim_xml_escape(out, o->item->subject);
            evbuffer_add_printf(out, "</t:Subject><t:Location>");
            sim_xml_escape(out, o->item->location ? o->item->location : "");
            evbuffer_add_printf(out,
                                "</t:Location><t:IsMeeting>false</t:IsMeeting>"
                                "<t:IsRecurring>%s</t:IsRecurring><t:IsException>%s"
                                "</t:IsException><t:IsReminderSet>false</t:IsReminderSet>"
                                "<t:IsPrivate>false</t:IsPrivate></t:CalendarEventDetails>",
                                o->type ? "true" : "false", o->type == 2 ? "true" : "false");
        }
        evbuffer_add_printf(out, "</t:CalendarEvent>");
    }
    free(occ);
    evbuffer_add_printf(out,
                        "</t:CalendarEventArray><t:WorkingHours><t:TimeZone><t:Bias>0</t:Bias>"
                        "<t:StandardTime><t:Bias>0</t:Bias><t:Time>02:00:00</t:Time>"
                        "<t:DayOrder>5</t:DayOrder><t:Month>10</t:Month>"
                        "<t:DayOfWeek>Sunday</t:DayOfWeek></t:StandardTime><t:DaylightTime>"
                        "<t:Bias>0</t:Bias><t:Time>02:00:00</t:Time><t:DayOrder>5</t:DayOrder>"
                        "<t:Month>3</t:Month><t:DayOfWeek>Sunday</t:DayOfWeek></t:DaylightTime>"
                        "</t:TimeZone><t:WorkingPeriodArray><t:WorkingPeriod><t:DayOfWeek>"
                        "Monday Tuesday Wednesday Thursday Friday</t:DayOfWeek>"
                        "<t:StartTimeInMinutes>480</t:StartTimeInMinutes>"
                        "<t:EndTimeInMinutes>1020</t:EndTimeInMinutes></t:WorkingPeriod>"
                        "</t:WorkingPeriodArray></t:WorkingHours></m:FreeBusyView>"
                        "</m:FreeBusyResponse>");
}

int
sim_op_availability(struct sim_req *r, struct evbuffer *out)
{
    xmlNodePtr tz = sim_child(r->op, "TimeZone");
    xmlNodePtr arr = sim_child(r->op, "MailboxDataArray");
    xmlNodePtr opts = sim_child(r->op, "FreeBusyViewOptions");
    xmlNodePtr win = sim_child(opts, "TimeWindow");
    const char *bias = sim_child_text(tz, "Bias"), *s = sim_child_text(win, "StartTime");
    const char *e = sim_child_text(win, "EndTime"), *view = sim_child_text(opts, "RequestedView");
    const char *step_s = sim_child_text(opts, "MergedFreeBusyIntervalInMinutes");
    long bias_min = bias ? strtol(bias, NULL, 10) : 0,
         step = step_s ? strtol(step_s, NULL, 10) : 30;
    int64_t from, to;
    size_t count = 0;
    for (xmlNodePtr m = sim_child(arr, "MailboxData"); m; m = sim_next(m->next, "MailboxData"))
        count++;
    if (!s || !e || sim_parse_time(s, &from) < 0 || sim_parse_time(e, &to) < 0 || to <= from) {
        sim_soap_fault(r, "ErrorInvalidTimeInterval", "The time window is invalid.", -1);
        return 0;
    }
    if (count == 0 || count > 100) {
        sim_soap_fault(r, "ErrorTooManyObjectsOpened",
                       "GetUserAvailability takes from 1 to 100 mailboxes.", -1);
        return 0;
    }
    if (step < 5 || step > 1440)
        step = 30;
    if (!view || !*view)
        view = "DetailedMerged";
    /* window bounds come in the request's zone: UTC = local + bias */
    from += bias_min * 60;
    to += bias_min * 60;
    evbuffer_add_printf(out, "<m:GetUserAvailabilityResponse xmlns:m=\"" SIM_NS_M
                             "\" xmlns:t=\"" SIM_NS_T "\"><m:FreeBusyResponseArray>");
    for (xmlNodePtr m = sim_child(arr, "MailboxData"); m; m = sim_next(m->next, "MailboxData"))
        availability_one(r, out, sim_child_text(sim_child(m, "Email"), "Address"), from, to,
                         bias_min, view, step);
    evbuffer_add_printf(out, "</m:FreeBusyResponseArray></m:GetUserAvailabilityResponse>");
    return 200;
}

/* exchangelib's version probe converts a dummy id; the answer matters less than the
 * ServerVersionInfo header, but it is Exchange's. */
int
sim_op_convertid(struct sim_req *r, struct evbuffer *out)
{
    xmlNodePtr ids = sim_child(r->op, "SourceIds");
    resp_open(out, "ConvertId");
    for (xmlNodePtr n = sim_child(ids, NULL); n; n = sim_next(n->next, NULL)) {
        sim_msg_error(out, "ConvertIdResponseMessage", "ErrorInvalidIdMalformed",
                      "Id is malformed.");
        evbuffer_add_printf(out, "</m:ConvertIdResponseMessage>");
    }
    resp_close(out, "ConvertId");
    return 200;
}

int
sim_op_resolvenames(struct sim_req *r, struct evbuffer *out)
{
    const char *name = sim_child_text(r->op, "UnresolvedEntry");
    uint32_t mbx =
        name ? sim_mailbox_find(strncmp(name, "smtp:", 5) == 0 ? name + 5 : name) : SIM_NONE;
    resp_open(out, "ResolveNames");
    if (mbx == SIM_NONE) {
        sim_msg_error(out, "ResolveNamesResponseMessage", "ErrorNameResolutionNoResults",
                      "No results were found.");
        evbuffer_add_printf(out, "</m:ResolveNamesResponseMessage>");
    } else {
        const char *smtp = g_sim.mailboxes[mbx].smtp;
        sim_msg_ok(out, "ResolveNamesResponseMessage");
        evbuffer_add_printf(out, "<m:ResolutionSet TotalItemsInView=\"1\" "
                                 "IncludesLastItemInRange=\"true\"><t:Resolution><t:Mailbox>"
                                 "<t:Name>");
        sim_xml_escape(out, smtp);
        evbuffer_add_printf(out, "</t:Name><t:EmailAddress>");
        sim_xml_escape(out, smtp);
        evbuffer_add_printf(out, "</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType>"
                                 "<t:MailboxType>Mailbox</t:MailboxType></t:Mailbox>"
                                 "</t:Resolution></m:ResolutionSet>"
                                 "</m:ResolveNamesResponseMessage>");
    }
    resp_close(out, "ResolveNames");
    return 200;
}

/* Only UTC is defined: the simulator keeps every time in UTC. Other ids get ErrorTimeZone. */
int
sim_op_timezones(struct sim_req *r, struct evbuffer *out)
{
    xmlNodePtr ids = sim_child(r->op, "Ids");
    xmlNodePtr id = sim_child(ids, "Id");
    resp_open(out, "GetServerTimeZones");
    do {
        const char *name = id && id->children ? (const char *)id->children->content : "UTC";
        if (strcmp(name, "UTC") != 0) {
            sim_msg_error(out, "GetServerTimeZonesResponseMessage", "ErrorTimeZone",
                          "The time zone is not known to this server.");
            evbuffer_add_printf(out,
                                "<m:TimeZoneDefinitions/></m:GetServerTimeZonesResponseMessage>");
            continue;
        }
        sim_msg_ok(out, "GetServerTimeZonesResponseMessage");
        evbuffer_add_printf(out,
                            "<m:TimeZoneDefinitions><t:TimeZoneDefinition Id=\"UTC\" "
                            "Name=\"(UTC) Coordinated Universal Time\"><t:Periods><t:Period "
                            "Bias=\"PT0H\" Name=\"Standard\" Id=\"trule:Microsoft/Registry/UTC/"
                            "2006-Standard\"/></t:Periods><t:TransitionsGroups><t:TransitionsGroup "
                            "Id=\"0\"><t:Transition><t:To Kind=\"Period\">trule:Microsoft/Registry/"
                            "UTC/2006-Standard</t:To></t:Transition></t:TransitionsGroup>"
                            "</t:TransitionsGroups><t:Transitions><t:Transition><t:To "
                            "Kind=\"Group\">0</t:To></t:Transition></t:Transitions>"
                            "</t:TimeZoneDefinition></m:TimeZoneDefinitions>"
                            "</m:GetServerTimeZonesResponseMessage>");
    } while (id && (id = sim_next(id->next, "Id")));
    resp_close(out, "GetServerTimeZones");
    return 200;
}
