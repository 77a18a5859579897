/* ews/parse_availability.c: GetUserAvailability answers: one FreeBusyResponse per requested
 * mailbox, in request order, each with its own ResponseMessage and CalendarEventArray. */
#include <stdlib.h>
#include <string.h>

#include "ews_xml_int.h"

static int parse_events(xmlNode *view, struct ews_mailbox_availability *mb, struct ews_error *err);
static int parse_mailbox(xmlNode *resp, struct ews_mailbox_availability *mb, struct ews_error *err);

static int
parse_events(xmlNode *view, struct ews_mailbox_availability *mb, struct ews_error *err)
{
    xmlNode *array = ews_xml_find(view, NULL, EWS_NS_T, "CalendarEventArray");
    size_t cap = 0;
    for (xmlNode *e = ews_xml_find(array, NULL, EWS_NS_T, "CalendarEvent"); e;
         e = ews_xml_find(NULL, e, EWS_NS_T, "CalendarEvent")) {
        if (mb->n_events == cap) {
            cap = cap ? cap * 2 : 8;
            struct ews_fb_event *a = realloc(mb->events, cap * sizeof *a);
            if (!a)
                return EWS_E_NOMEM;
            mb->events = a;
        }
        struct ews_fb_event *ev = &mb->events[mb->n_events];
        if (!ews_xml_child_time(e, EWS_NS_T, "StartTime", &ev->start) ||
            !ews_xml_child_time(e, EWS_NS_T, "EndTime", &ev->end)) {
            ews_err_set(err, EWS_ERR_MALFORMED, NULL,
                        "CalendarEvent without valid StartTime/EndTime");
            return EWS_E_MALFORMED;
        }
        /* WorkingElsewhere is unknown to 2010 servers' schema, newer values may come:
         * tolerated as EWS_BUSY_UNKNOWN. */
        ev->busy = ews_busy_from_node(ews_xml_find(e, NULL, EWS_NS_T, "BusyType"), EWS_BUSY_BUSY);
        mb->n_events++;
    }
    return 0;
}

static int
parse_mailbox(xmlNode *resp, struct ews_mailbox_availability *mb, struct ews_error *err)
{
    *mb = (struct ews_mailbox_availability){0};
    xmlNode *msg = ews_xml_find(resp, NULL, EWS_NS_M, "ResponseMessage");
    if (msg && ews_xml_message_check(msg, &mb->error) == EWS_E_RESPONSE)
        return 0;
    return parse_events(ews_xml_find(resp, NULL, EWS_NS_M, "FreeBusyView"), mb, err);
}

int
ews_parse_get_user_availability(const char *body, size_t len, struct ews_availability *out,
                                struct ews_error *err)
{
    xmlDoc *doc;
    xmlNode *soap_body;
    *out = (struct ews_availability){0};
    ews_err_clear(err);
    int rc = ews_xml_read(body, len, &doc, &soap_body, err);
    if (rc)
        return rc;
    xmlNode *fault = ews_xml_find(soap_body, NULL, EWS_NS_SOAP, "Fault");
    xmlNode *resp = ews_xml_find(soap_body, NULL, EWS_NS_M, "GetUserAvailabilityResponse");
    xmlNode *array = ews_xml_find(resp, NULL, EWS_NS_M, "FreeBusyResponseArray");
    if (fault) {
        ews_err_from_fault(fault, err);
        rc = EWS_E_RESPONSE;
    } else if (!array) {
        ews_err_set(err, EWS_ERR_MALFORMED, NULL, "no FreeBusyResponseArray");
        rc = EWS_E_MALFORMED;
    }
    size_t cap = 0;
    for (xmlNode *r = ews_xml_find(array, NULL, EWS_NS_M, "FreeBusyResponse"); !rc && r;
         r = ews_xml_find(NULL, r, EWS_NS_M, "FreeBusyResponse")) {
        if (out->n_mailboxes == cap) {
            cap = cap ? cap * 2 : 8;
            struct ews_mailbox_availability *a = realloc(out->mailboxes, cap * sizeof *a);
            if (!a) {
                rc = EWS_E_NOMEM;
                break;
            }
            out->mailboxes = a;
        }
        rc = parse_mailbox(r, &out->mailboxes[out->n_mailboxes], err);
        out->n_mailboxes++;
    }
    xmlFreeDoc(doc);
    if (rc)
        ews_availability_free(out);
    return rc;
}

void
ews_availability_free(struct ews_availability *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n_mailboxes; i++)
        free(a->mailboxes[i].events);
    free(a->mailboxes);
    *a = (struct ews_availability){0};
}
