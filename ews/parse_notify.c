/* ews/parse_notify.c: answers of the notification life cycle (Subscribe, Unsubscribe,
 * GetEvents, one GetStreamingEvents envelope) and the SendNotification that Exchange POSTs
 * to the push listener. They share the t:Notification reader. */
#include <stdlib.h>
#include <string.h>

#include "ews_xml_int.h"

struct event_name {
    const char *name;
    enum ews_event_type type;
};

static const struct event_name event_names[] = {
    {"CreatedEvent", EWS_EV_CREATED}, {"ModifiedEvent", EWS_EV_MODIFIED},
    {"DeletedEvent", EWS_EV_DELETED}, {"MovedEvent", EWS_EV_MOVED},
    {"CopiedEvent", EWS_EV_COPIED},   {"NewMailEvent", EWS_EV_NEWMAIL},
    {"StatusEvent", EWS_EV_STATUS},   {"FreeBusyChangedEvent", EWS_EV_FREEBUSY_CHANGED},
};

static bool is_event_element(const xmlNode *n, enum ews_event_type *type);
static char *child_attr(xmlNode *parent, const char *name, const char *attr);
static int parse_event(xmlNode *n, enum ews_event_type type, struct ews_event *ev);
static void event_free(struct ews_event *ev);
static void notification_free(struct ews_notification *n);
static int parse_notification(xmlNode *node, struct ews_notification *out);
static int add_notification(struct ews_notification_list *list, xmlNode *node);
static int parse_notification_messages(const char *body, size_t len, const char *response,
                                       struct ews_notification_list *out, struct ews_error *err);
static int add_sub_error(struct ews_stream_frame *f, const char *id, const struct ews_error *e);
static int parse_stream_message(xmlNode *msg, struct ews_stream_frame *out);

const char *
ews_event_type_name(enum ews_event_type t)
{
    static const char *const names[] = {"created", "modified",         "deleted",
                                        "moved",   "copied",           "newmail",
                                        "status",  "freebusy_changed", "unknown"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

/* Every element in the types namespace whose name ends in "Event" is an event: the ones we
 * do not know are kept as EWS_EV_UNKNOWN rather than refused. */
static bool
is_event_element(const xmlNode *n, enum ews_event_type *type)
{
    if (!ews_xml_is(n, EWS_NS_T, NULL))
        return false;
    const char *name = (const char *)n->name;
    for (size_t i = 0; i < sizeof event_names / sizeof event_names[0]; i++) {
        if (strcmp(name, event_names[i].name) == 0) {
            *type = event_names[i].type;
            return true;
        }
    }
    size_t len = strlen(name);
    if (len > 5 && strcmp(name + len - 5, "Event") == 0) {
        *type = EWS_EV_UNKNOWN;
        return true;
    }
    return false;
}

static char *
child_attr(xmlNode *parent, const char *name, const char *attr)
{
    return ews_xml_attr(ews_xml_find(parent, NULL, EWS_NS_T, name), attr);
}

static int
parse_event(xmlNode *n, enum ews_event_type type, struct ews_event *ev)
{
    *ev = (struct ews_event){.type = type};
    xmlNode *wm = ews_xml_find(n, NULL, EWS_NS_T, "Watermark");
    if (wm && !(ev->watermark = ews_xml_text(wm)))
        return EWS_E_NOMEM;
    if (!ews_xml_child_time(n, EWS_NS_T, "TimeStamp", &ev->timestamp))
        ev->timestamp = 0;
    ev->item_id = child_attr(n, "ItemId", "Id");
    ev->change_key = child_attr(n, "ItemId", "ChangeKey");
    ev->folder_id = child_attr(n, "FolderId", "Id");
    ev->parent_folder_id = child_attr(n, "ParentFolderId", "Id");
    ev->old_item_id = child_attr(n, "OldItemId", "Id");
    if (!ev->old_item_id)
        ev->old_item_id = child_attr(n, "OldFolderId", "Id");
    ev->old_parent_folder_id = child_attr(n, "OldParentFolderId", "Id");
    return 0;
}

static void
event_free(struct ews_event *ev)
{
    free(ev->watermark);
    free(ev->item_id);
    free(ev->change_key);
    free(ev->folder_id);
    free(ev->parent_folder_id);
    free(ev->old_item_id);
    free(ev->old_parent_folder_id);
}

static void
notification_free(struct ews_notification *n)
{
    free(n->subscription_id);
    free(n->previous_watermark);
    for (size_t i = 0; i < n->n_events; i++)
        event_free(&n->events[i]);
    free(n->events);
}

static int
parse_notification(xmlNode *node, struct ews_notification *out)
{
    *out = (struct ews_notification){0};
    out->subscription_id = ews_xml_text(ews_xml_find(node, NULL, EWS_NS_T, "SubscriptionId"));
    if (!out->subscription_id || !*out->subscription_id)
        return EWS_E_MALFORMED;
    out->previous_watermark = ews_xml_text(ews_xml_find(node, NULL, EWS_NS_T, "PreviousWatermark"));
    out->more_events = ews_xml_child_bool(node, EWS_NS_T, "MoreEvents", false);
    size_t cap = 0;
    enum ews_event_type type;
    for (xmlNode *c = ews_xml_find(node, NULL, NULL, NULL); c;
         c = ews_xml_find(NULL, c, NULL, NULL)) {
        if (!is_event_element(c, &type))
            continue;
        if (out->n_events == cap) {
            cap = cap ? cap * 2 : 4;
            struct ews_event *e = realloc(out->events, cap * sizeof *e);
            if (!e)
                return EWS_E_NOMEM;
            out->events = e;
        }
        int rc = parse_event(c, type, &out->events[out->n_events]);
        out->n_events++;
        if (rc)
            return rc;
    }
    return 0;
}

static int
add_notification(struct ews_notification_list *list, xmlNode *node)
{
    struct ews_notification *n = realloc(list->items, (list->n_items + 1) * sizeof *n);
    if (!n)
        return EWS_E_NOMEM;
    list->items = n;
    int rc = parse_notification(node, &list->items[list->n_items]);
    list->n_items++;
    return rc;
}

void
ews_notification_list_free(struct ews_notification_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n_items; i++)
        notification_free(&l->items[i]);
    free(l->items);
    *l = (struct ews_notification_list){0};
}

/* GetEvents and SendNotification share the shape: ResponseMessages, each holding one
 * m:Notification. */
static int
parse_notification_messages(const char *body, size_t len, const char *response,
                            struct ews_notification_list *out, struct ews_error *err)
{
    xmlDoc *doc;
    xmlNode *soap_body, *msgs;
    *out = (struct ews_notification_list){0};
    ews_err_clear(err);
    int rc = ews_xml_read(body, len, &doc, &soap_body, err);
    if (rc)
        return rc;
    rc = ews_xml_messages(soap_body, response, &msgs, err);
    for (xmlNode *m = ews_xml_find(msgs, NULL, NULL, NULL); !rc && m;
         m = ews_xml_find(NULL, m, NULL, NULL)) {
        rc = ews_xml_message_check(m, err);
        for (xmlNode *n = ews_xml_find(m, NULL, EWS_NS_M, "Notification"); !rc && n;
             n = ews_xml_find(NULL, n, EWS_NS_M, "Notification"))
            rc = add_notification(out, n);
    }
    if (rc == EWS_E_MALFORMED && err && err->cls == EWS_ERR_NONE)
        ews_err_set(err, EWS_ERR_MALFORMED, NULL, "notification without SubscriptionId");
    xmlFreeDoc(doc);
    if (rc)
        ews_notification_list_free(out);
    return rc;
}

int
ews_parse_get_events(const char *body, size_t len, struct ews_notification_list *out,
                     struct ews_error *err)
{
    return parse_notification_messages(body, len, "GetEventsResponse", out, err);
}

int
ews_parse_send_notification(const char *body, size_t len, struct ews_notification_list *out,
                            struct ews_error *err)
{
    int rc = parse_notification_messages(body, len, "SendNotification", out, err);
    if (rc == 0 && out->n_items == 0) {
        ews_err_set(err, EWS_ERR_MALFORMED, NULL, "SendNotification without Notification");
        return EWS_E_MALFORMED;
    }
    return rc;
}

int
ews_parse_subscribe(const char *body, size_t len, struct ews_subscribe_result *out,
                    struct ews_error *err)
{
    xmlDoc *doc;
    xmlNode *m;
    *out = (struct ews_subscribe_result){0};
    ews_err_clear(err);
    int rc = ews_xml_single_message(body, len, "Subscribe", &doc, &m, err);
    if (!rc) {
        out->subscription_id = ews_xml_text(ews_xml_find(m, NULL, EWS_NS_M, "SubscriptionId"));
        out->watermark = ews_xml_text(ews_xml_find(m, NULL, EWS_NS_M, "Watermark"));
        if (!out->subscription_id || !*out->subscription_id) {
            ews_err_set(err, EWS_ERR_MALFORMED, NULL, "Subscribe answer without SubscriptionId");
            rc = EWS_E_MALFORMED;
        }
    }
    xmlFreeDoc(doc);
    if (rc)
        ews_subscribe_result_free(out);
    return rc;
}

void
ews_subscribe_result_free(struct ews_subscribe_result *r)
{
    if (!r)
        return;
    free(r->subscription_id);
    free(r->watermark);
    *r = (struct ews_subscribe_result){0};
}

int
ews_parse_unsubscribe(const char *body, size_t len, struct ews_error *err)
{
    xmlDoc *doc;
    xmlNode *m;
    ews_err_clear(err);
    int rc = ews_xml_single_message(body, len, "Unsubscribe", &doc, &m, err);
    xmlFreeDoc(doc);
    return rc;
}

static int
add_sub_error(struct ews_stream_frame *f, const char *id, const struct ews_error *e)
{
    struct ews_subscription_error *a = realloc(f->errors, (f->n_errors + 1) * sizeof *a);
    if (!a)
        return EWS_E_NOMEM;
    f->errors = a;
    a[f->n_errors] = (struct ews_subscription_error){.error = *e};
    if (id && !(a[f->n_errors].subscription_id = strdup(id)))
        return EWS_E_NOMEM;
    f->n_errors++;
    return 0;
}

/* An error message names the failed subscriptions in ErrorSubscriptionIds (one error each);
 * without that list the error concerns the whole connection (id NULL). */
static int
parse_stream_message(xmlNode *msg, struct ews_stream_frame *out)
{
    struct ews_error e = {0};
    int rc = 0;
    if (ews_xml_message_check(msg, &e) == EWS_E_RESPONSE) {
        xmlNode *ids = ews_xml_find(msg, NULL, EWS_NS_M, "ErrorSubscriptionIds");
        xmlNode *id = ews_xml_find(ids, NULL, EWS_NS_T, "SubscriptionId");
        if (!id)
            rc = add_sub_error(out, NULL, &e);
        for (; !rc && id; id = ews_xml_find(NULL, id, EWS_NS_T, "SubscriptionId")) {
            char *s = ews_xml_text(id);
            rc = s ? add_sub_error(out, s, &e) : EWS_E_NOMEM;
            free(s);
        }
    }
    /* The schema puts Notification in the types namespace (NonEmptyArrayOfNotificationsType);
     * Microsoft's published samples and exchangelib use messages: accept either. */
    xmlNode *notes = ews_xml_find(msg, NULL, EWS_NS_M, "Notifications");
    for (xmlNode *n = ews_xml_find(notes, NULL, NULL, "Notification"); !rc && n;
         n = ews_xml_find(NULL, n, NULL, "Notification"))
        rc = add_notification(&out->notifications, n);
    char status[16];
    if (!rc && ews_xml_text_to(ews_xml_find(msg, NULL, EWS_NS_M, "ConnectionStatus"), status,
                               sizeof status)) {
        if (strcmp(status, "OK") == 0)
            out->status = EWS_CONN_OK;
        else if (strcmp(status, "Closed") == 0)
            out->status = EWS_CONN_CLOSED;
    }
    return rc;
}

int
ews_parse_streaming_frame(const char *body, size_t len, struct ews_stream_frame *out)
{
    xmlDoc *doc;
    xmlNode *soap_body, *msgs;
    *out = (struct ews_stream_frame){0};
    int rc = ews_xml_read(body, len, &doc, &soap_body, &out->error);
    if (rc)
        return rc;
    rc = ews_xml_messages(soap_body, "GetStreamingEventsResponse", &msgs, &out->error);
    for (xmlNode *m = ews_xml_find(msgs, NULL, NULL, NULL); !rc && m;
         m = ews_xml_find(NULL, m, NULL, NULL))
        rc = parse_stream_message(m, out);
    if (rc == EWS_E_MALFORMED && out->error.cls == EWS_ERR_NONE)
        ews_err_set(&out->error, EWS_ERR_MALFORMED, NULL, "notification without SubscriptionId");
    if (rc == EWS_E_NOMEM)
        ews_err_set(&out->error, EWS_ERR_OTHER, NULL, "out of memory");
    xmlFreeDoc(doc);
    if (rc) {
        /* A failed frame carries its error only, never half a list. */
        struct ews_error e = out->error;
        ews_stream_frame_free(out);
        out->error = e;
    }
    return rc;
}

void
ews_stream_frame_free(struct ews_stream_frame *f)
{
    if (!f)
        return;
    ews_notification_list_free(&f->notifications);
    for (size_t i = 0; i < f->n_errors; i++)
        free(f->errors[i].subscription_id);
    free(f->errors);
    *f = (struct ews_stream_frame){0};
}
