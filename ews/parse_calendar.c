/* ews/parse_calendar.c: FindItem/CalendarView answers (singles, occurrences, exceptions;
 * Start/End in UTC or with offsets) and the busy/item/sensitivity enumerations. */
#include <stdlib.h>
#include <string.h>

#include "ews_xml_int.h"

struct name_value {
    const char *name;
    int value;
};

static const struct name_value busy_names[] = {
    {"Free", EWS_BUSY_FREE},
    {"Tentative", EWS_BUSY_TENTATIVE},
    {"Busy", EWS_BUSY_BUSY},
    {"OOF", EWS_BUSY_OOF},
    {"WorkingElsewhere", EWS_BUSY_WORKING_ELSEWHERE},
    {"NoData", EWS_BUSY_NO_DATA},
    {NULL, EWS_BUSY_UNKNOWN},
};

static const struct name_value item_type_names[] = {
    {"Single", EWS_ITEM_SINGLE},       {"Occurrence", EWS_ITEM_OCCURRENCE},
    {"Exception", EWS_ITEM_EXCEPTION}, {"RecurringMaster", EWS_ITEM_RECURRING_MASTER},
    {NULL, EWS_ITEM_UNKNOWN},
};

static const struct name_value sensitivity_names[] = {
    {"Normal", EWS_SENS_NORMAL},   {"Personal", EWS_SENS_PERSONAL},
    {"Private", EWS_SENS_PRIVATE}, {"Confidential", EWS_SENS_CONFIDENTIAL},
    {NULL, EWS_SENS_UNKNOWN},
};

static int lookup(const struct name_value *table, xmlNode *n, int absent);
static int parse_item(xmlNode *n, struct ews_cal_item *it, struct ews_error *err);
static void item_free(struct ews_cal_item *it);
static int parse_root_folder(xmlNode *root, struct ews_calendar_view *out, struct ews_error *err);

const char *
ews_busy_name(enum ews_busy b)
{
    static const char *const names[] = {"free",    "tentative", "busy", "oof", "working_elsewhere",
                                        "no_data", "unknown"};
    return (unsigned)b < sizeof names / sizeof names[0] ? names[b] : "unknown";
}

/* Unknown names map to the table's terminating value: tolerated, never an error. */
static int
lookup(const struct name_value *table, xmlNode *n, int absent)
{
    char v[64];
    if (!ews_xml_text_to(n, v, sizeof v))
        return absent;
    for (; table->name; table++)
        if (strcmp(table->name, v) == 0)
            return table->value;
    return table->value;
}

enum ews_busy
ews_busy_from_node(xmlNode *n, enum ews_busy absent)
{
    return (enum ews_busy)lookup(busy_names, n, (int)absent);
}

static int
parse_item(xmlNode *n, struct ews_cal_item *it, struct ews_error *err)
{
    *it = (struct ews_cal_item){0};
    xmlNode *id = ews_xml_find(n, NULL, EWS_NS_T, "ItemId");
    it->item_id = ews_xml_attr(id, "Id");
    it->change_key = ews_xml_attr(id, "ChangeKey");
    if (!it->item_id) {
        ews_err_set(err, EWS_ERR_MALFORMED, NULL, "calendar item without ItemId");
        return EWS_E_MALFORMED;
    }
    if (!ews_xml_child_time(n, EWS_NS_T, "Start", &it->start) ||
        !ews_xml_child_time(n, EWS_NS_T, "End", &it->end)) {
        ews_err_set(err, EWS_ERR_MALFORMED, NULL, "calendar item without valid Start/End");
        return EWS_E_MALFORMED;
    }
    xmlNode *subject = ews_xml_find(n, NULL, EWS_NS_T, "Subject");
    if (subject && !(it->subject = ews_xml_text(subject)))
        return EWS_E_NOMEM;
    /* Exchange omits LegacyFreeBusyStatus only on items it treats as Busy. */
    it->busy =
        lookup(busy_names, ews_xml_find(n, NULL, EWS_NS_T, "LegacyFreeBusyStatus"), EWS_BUSY_BUSY);
    it->type = lookup(item_type_names, ews_xml_find(n, NULL, EWS_NS_T, "CalendarItemType"),
                      EWS_ITEM_SINGLE);
    it->sensitivity =
        lookup(sensitivity_names, ews_xml_find(n, NULL, EWS_NS_T, "Sensitivity"), EWS_SENS_NORMAL);
    it->all_day = ews_xml_child_bool(n, EWS_NS_T, "IsAllDayEvent", false);
    it->cancelled = ews_xml_child_bool(n, EWS_NS_T, "IsCancelled", false);
    return 0;
}

static void
item_free(struct ews_cal_item *it)
{
    free(it->subject);
    free(it->item_id);
    free(it->change_key);
}

void
ews_calendar_view_free(struct ews_calendar_view *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n_items; i++)
        item_free(&v->items[i]);
    free(v->items);
    *v = (struct ews_calendar_view){0};
}

static int
parse_root_folder(xmlNode *root, struct ews_calendar_view *out, struct ews_error *err)
{
    char *last = ews_xml_attr(root, "IncludesLastItemInRange");
    out->includes_last_item_in_range = !last || strcmp(last, "false") != 0;
    free(last);
    xmlNode *items = ews_xml_find(root, NULL, EWS_NS_T, "Items");
    size_t cap = 0;
    for (xmlNode *c = ews_xml_find(items, NULL, EWS_NS_T, "CalendarItem"); c;
         c = ews_xml_find(NULL, c, EWS_NS_T, "CalendarItem")) {
        if (out->n_items == cap) {
            cap = cap ? cap * 2 : 16;
            struct ews_cal_item *a = realloc(out->items, cap * sizeof *a);
            if (!a)
                return EWS_E_NOMEM;
            out->items = a;
        }
        int rc = parse_item(c, &out->items[out->n_items], err);
        out->n_items++;
        if (rc)
            return rc;
    }
    return 0;
}

int
ews_parse_find_calendar(const char *body, size_t len, struct ews_calendar_view *out,
                        struct ews_error *err)
{
    xmlDoc *doc;
    xmlNode *m;
    *out = (struct ews_calendar_view){0};
    ews_err_clear(err);
    int rc = ews_xml_single_message(body, len, "FindItem", &doc, &m, err);
    xmlNode *root = rc ? NULL : ews_xml_find(m, NULL, EWS_NS_M, "RootFolder");
    if (!rc && !root) {
        ews_err_set(err, EWS_ERR_MALFORMED, NULL, "FindItem answer without RootFolder");
        rc = EWS_E_MALFORMED;
    }
    if (!rc)
        rc = parse_root_folder(root, out, err);
    xmlFreeDoc(doc);
    if (rc)
        ews_calendar_view_free(out);
    return rc;
}
