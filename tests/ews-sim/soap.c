/* ews-sim: the EWS SOAP front: parses an envelope, checks RequestServerVersion and
 * ExchangeImpersonation the way Exchange does, applies injected faults and throttling, and
 * dispatches the operation. */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct op_entry {
    const char *name;
    sim_op_fn fn;
    int needs_mailbox; /* acts on one mailbox: impersonation applies */
    int min_version;   /* index in sim_request_versions */
};

static const struct op_entry ops[] = {
    {"FindItem", sim_op_finditem, 1, 0},
    {"GetItem", sim_op_getitem, 1, 0},
    {"GetFolder", sim_op_getfolder, 1, 0},
    {"GetUserAvailabilityRequest", sim_op_availability, 0, 0},
    {"ConvertId", sim_op_convertid, 0, 0},
    {"ResolveNames", sim_op_resolvenames, 0, 0},
    {"GetServerTimeZones", sim_op_timezones, 0, 3 /* Exchange2010 */},
    {"Subscribe", sim_op_subscribe, 1, 0},
    {"Unsubscribe", sim_op_unsubscribe, 0, 0},
    {"GetEvents", sim_op_getevents, 0, 0},
    {"GetStreamingEvents", sim_op_streaming, 0, 4 /* Exchange2010_SP1 */},
};

#define NOPS (sizeof(ops) / sizeof(ops[0]))
_Static_assert(NOPS < sizeof(g_sim.op_count) / sizeof(g_sim.op_count[0]),
               "op_count needs a row per operation and one for the rest");

/* The names sim_count_op knows: the operations plus "other". */
void
sim_count_op(const char *op)
{
    size_t i;
    for (i = 0; i < NOPS; i++)
        if (strcmp(ops[i].name, op) == 0)
            break;
    g_sim.op_count[i]++;
}

const char *
sim_op_name(size_t i)
{
    return i < NOPS ? ops[i].name : "other";
}

size_t
sim_op_count(void)
{
    return NOPS + 1;
}

/* This element or the next sibling element called name (any when NULL); owned by the document. */
xmlNodePtr
sim_next(xmlNodePtr node, const char *name)
{
    for (; node; node = node->next)
        if (node->type == XML_ELEMENT_NODE && (!name || xmlStrcmp(node->name, BAD_CAST name) == 0))
            return node;
    return NULL;
}

/* First child element called name (any when NULL); owned by the document. */
xmlNodePtr
sim_child(xmlNodePtr parent, const char *name)
{
    return parent ? sim_next(parent->children, name) : NULL;
}

/* Text of the first child element called name (NULL when absent); owned by the document. */
const char *
sim_child_text(xmlNodePtr parent, const char *name)
{
    xmlNodePtr c = sim_child(parent, name);
    if (!c)
        return NULL;
    for (xmlNodePtr t = c->children; t; t = t->next)
        if (t->type == XML_TEXT_NODE || t->type == XML_CDATA_SECTION_NODE)
            return (const char *)t->content;
    return "";
}

void
sim_soap_begin(struct evbuffer *out, int with_header)
{
    const struct sim_version *v = g_sim.version;
    evbuffer_add_printf(out, "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
                             "<s:Envelope xmlns:s=\"" SIM_NS_SOAP "\">");
    if (with_header)
        evbuffer_add_printf(
            out,
            "<s:Header><h:ServerVersionInfo MajorVersion=\"%d\" MinorVersion=\"%d\" "
            "MajorBuildNumber=\"%d\" MinorBuildNumber=\"%d\" Version=\"%s\" "
            "xmlns:h=\"" SIM_NS_T "\"/></s:Header>",
            v->major, v->minor, v->build, v->revision, sim_request_versions[v->max_request]);
    evbuffer_add_printf(out, "<s:Body xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
                             "xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\">");
}

void
sim_soap_end(struct evbuffer *out)
{
    evbuffer_add_printf(out, "</s:Body></s:Envelope>");
}

void
sim_msg_error(struct evbuffer *out, const char *msg_elem, const char *code, const char *text)
{
    evbuffer_add_printf(out, "<m:%s ResponseClass=\"Error\"><m:MessageText>", msg_elem);
    sim_xml_escape(out, text);
    evbuffer_add_printf(out,
                        "</m:MessageText><m:ResponseCode>%s</m:ResponseCode>"
                        "<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>",
                        code);
}

void
sim_msg_ok(struct evbuffer *out, const char *msg_elem)
{
    evbuffer_add_printf(
        out, "<m:%s ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode>", msg_elem);
}

void
sim_soap_fault(struct sim_req *r, const char *code, const char *text, long backoff_ms)
{
    struct evbuffer *out = evbuffer_new();
    sim_soap_begin(out, 0);
    evbuffer_add_printf(out,
                        "<s:Fault><faultcode xmlns:a=\"" SIM_NS_T "\">a:%s</faultcode>"
                        "<faultstring xml:lang=\"en-US\">",
                        code);
    sim_xml_escape(out, text);
    evbuffer_add_printf(out,
                        "</faultstring><detail><e:ResponseCode xmlns:e=\"" SIM_NS_E
                        "\">%s</e:ResponseCode><e:Message xmlns:e=\"" SIM_NS_E "\">",
                        code);
    sim_xml_escape(out, text);
    evbuffer_add_printf(out, "</e:Message>");
    if (backoff_ms >= 0)
        evbuffer_add_printf(out,
                            "<t:MessageXml xmlns:t=\"" SIM_NS_T
                            "\"><t:Value Name=\"BackOffMilliseconds\">%ld</t:Value></t:MessageXml>",
                            backoff_ms);
    evbuffer_add_printf(out, "</detail></s:Fault>");
    sim_soap_end(out);
    sim_req_reply(r, 500, out);
}

static int
is(xmlNodePtr n, const char *ns, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && n->ns && xmlStrcmp(n->ns->href, BAD_CAST ns) == 0 &&
           xmlStrcmp(n->name, BAD_CAST name) == 0;
}

static const struct op_entry *
op_find(const char *name)
{
    for (size_t i = 0; i < NOPS; i++)
        if (strcmp(ops[i].name, name) == 0)
            return &ops[i];
    return NULL;
}

/* ExchangeImpersonation -> mailbox. 0 ok (r->mailbox set), -1 after answering a fault. */
static int
impersonate(struct sim_req *r)
{
    xmlNodePtr imp = sim_child(r->header, "ExchangeImpersonation");
    xmlNodePtr sid = sim_child(imp, "ConnectingSID");
    xmlNodePtr id = sim_child(sid, NULL);
    const char *key, *anchor;
    uint32_t mbx;
    if (!imp) {
        /* no impersonation: the account acts on its own mailbox, when it has one */
        r->mailbox = sim_mailbox_find(g_sim.accounts[r->account].name);
        return 0;
    }
    key = id ? sim_child_text(sid, (const char *)id->name) : NULL;
    if (!key || !*key) {
        sim_soap_fault(r, "ErrorInvalidExchangeImpersonationHeaderData",
                       "The impersonation header is invalid.", -1);
        return -1;
    }
    mbx = sim_mailbox_find(key);
    if (mbx == SIM_NONE) {
        sim_soap_fault(r, "ErrorNonExistentMailbox",
                       "The SMTP address has no mailbox associated with it.", -1);
        return -1;
    }
    if (!sim_may_impersonate(r->account, mbx)) {
        sim_soap_fault(r, "ErrorImpersonateUserDenied",
                       "The account does not have permission to impersonate the requested user.",
                       -1);
        return -1;
    }
    r->mailbox = mbx;
    /* Exchange 2013+ routes on X-AnchorMailbox: counted so that clients can be checked */
    anchor = evhttp_find_header(evhttp_request_get_input_headers(r->req), "X-AnchorMailbox");
    if (!anchor)
        g_sim.ctr.anchor_missing++;
    else if (sim_mailbox_find(anchor) != mbx)
        g_sim.ctr.anchor_mismatch++;
    return 0;
}

static void
answer_malformed(struct sim_req *r)
{
    struct evbuffer *out = evbuffer_new();
    sim_soap_begin(out, 1);
    evbuffer_add_printf(out, "<m:%sResponse xmlns:m=\"" SIM_NS_M "\"><m:ResponseMessa", r->opname);
    sim_req_reply(r, 200, out);
}

static void
delay_done(evutil_socket_t fd, short what, void *arg)
{
    struct sim_req *r = arg;
    (void)fd;
    (void)what;
    sim_req_unhold(r);
    sim_op_run(r);
}

/* A delayed request whose client went away: nothing more to do. */
static void
delay_abort(struct sim_req *r)
{
    sim_req_release(r);
}

/* An error ResponseMessage as Exchange 2013+ gives for throttling and store trouble: HTTP 200,
 * ResponseClass Error, MessageXml with the inner error and BackOffMilliseconds when given. */
static void
answer_message_error(struct sim_req *r, const struct sim_fault *f)
{
    struct evbuffer *out = evbuffer_new();
    int avail = strcmp(r->opname, "GetUserAvailabilityRequest") == 0;
    int n = 1;
    const char *op = avail ? "GetUserAvailability" : r->opname;
    if (avail) {
        n = 0;
        for (xmlNodePtr m = sim_child(sim_child(r->op, "MailboxDataArray"), "MailboxData"); m;
             m = sim_next(m->next, "MailboxData"))
            n++;
    }
    sim_soap_begin(out, 1);
    evbuffer_add_printf(out, "<m:%sResponse xmlns:m=\"" SIM_NS_M "\" xmlns:t=\"" SIM_NS_T "\">%s",
                        op, avail ? "<m:FreeBusyResponseArray>" : "<m:ResponseMessages>");
    for (int i = 0; i < n; i++) {
        if (avail)
            evbuffer_add_printf(out, "<m:FreeBusyResponse>");
        evbuffer_add_printf(out,
                            "<m:%sResponseMessage ResponseClass=\"Error\"><m:MessageText>"
                            "Simulated %s.</m:MessageText><m:ResponseCode>%s</m:ResponseCode>"
                            "<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>",
                            avail ? "" : r->opname, f->code, f->code);
        if (f->inner || f->arg >= 0) {
            evbuffer_add_printf(out, "<m:MessageXml>");
            if (f->inner)
                evbuffer_add_printf(out,
                                    "<t:Value Name=\"InnerErrorMessageText\">Simulated %s."
                                    "</t:Value><t:Value Name=\"InnerErrorResponseCode\">%s"
                                    "</t:Value><t:Value Name=\"InnerErrorDescriptiveLinkKey\">0"
                                    "</t:Value>",
                                    f->inner, f->inner);
            if (f->arg >= 0)
                evbuffer_add_printf(out, "<t:Value Name=\"BackOffMilliseconds\">%ld</t:Value>",
                                    f->arg);
            evbuffer_add_printf(out, "</m:MessageXml>");
        }
        if (avail)
            evbuffer_add_printf(out, "</m:ResponseMessage><m:FreeBusyView><t:FreeBusyViewType>"
                                     "None</t:FreeBusyViewType></m:FreeBusyView>"
                                     "</m:FreeBusyResponse>");
        else
            evbuffer_add_printf(out, "</m:%sResponseMessage>", r->opname);
    }
    evbuffer_add_printf(out, "%s</m:%sResponse>",
                        avail ? "</m:FreeBusyResponseArray>" : "</m:ResponseMessages>", op);
    sim_soap_end(out);
    sim_req_reply(r, 200, out);
}

/* Applies a matching injected fault. 0 when none applies, else it answered (or took) r. */
static int
apply_fault(struct sim_req *r)
{
    struct sim_fault f;
    char text[256];
    int rc = 1;
    if (sim_fault_take(r->cas, r->opname, r->mailbox, &f) < 0)
        return 0;
    g_sim.ctr.faults_applied++;
    switch (f.kind) {
    case FAULT_BUSY:
        sim_soap_fault(r, "ErrorServerBusy",
                       "The server cannot service this request right now. Try again later.", f.arg);
        break;
    case FAULT_503:
        evhttp_send_error(r->req, 503, "Service Unavailable");
        sim_req_release(r);
        break;
    case FAULT_DROP:
        sim_req_drop(r);
        break;
    case FAULT_MALFORMED:
        answer_malformed(r);
        break;
    case FAULT_SOAP:
        snprintf(text, sizeof(text), "Simulated %s.", f.code);
        sim_soap_fault(r, f.code, text, -1);
        break;
    case FAULT_MESSAGE:
        answer_message_error(r, &f);
        break;
    case FAULT_DELAY: {
        struct timeval tv = {f.arg / 1000, (f.arg % 1000) * 1000};
        r->timer = evtimer_new(g_sim.base, delay_done, r);
        sim_req_hold(r, delay_abort, NULL);
        evtimer_add(r->timer, &tv);
        break;
    }
    default:
        rc = 0;
    }
    free(f.code);
    free(f.inner);
    return rc;
}

void
sim_soap_request(struct sim_req *r, const char *body, size_t n)
{
    xmlNodePtr env, hdr, bdy, op;
    const char *ver = NULL;
    const struct op_entry *e;
    int rc;
    r->doc = sim_xml_parse(body, n);
    env = r->doc ? xmlDocGetRootElement(r->doc) : NULL;
    if (!env || !is(env, SIM_NS_SOAP, "Envelope")) {
        r->opname = "other";
        sim_count_op("other");
        sim_soap_fault(r, "ErrorSchemaValidation",
                       "The request failed schema validation: Data at the root level is invalid.",
                       -1);
        return;
    }
    hdr = sim_next(env->children, NULL);
    bdy = is(hdr, SIM_NS_SOAP, "Header") ? sim_next(hdr->next, NULL) : hdr;
    if (!is(hdr, SIM_NS_SOAP, "Header"))
        hdr = NULL;
    op = is(bdy, SIM_NS_SOAP, "Body") ? sim_child(bdy, NULL) : NULL;
    r->header = hdr;
    r->op = op;
    e = op && op->ns && xmlStrcmp(op->ns->href, BAD_CAST SIM_NS_M) == 0
            ? op_find((const char *)op->name)
            : NULL;
    r->opname = e ? e->name : "other";
    sim_count_op(r->opname);
    if (!e) {
        sim_soap_fault(r, "ErrorSchemaValidation",
                       "The request failed schema validation: the operation is not known.", -1);
        return;
    }
    if (hdr) {
        xmlNodePtr rsv = sim_child(hdr, "RequestServerVersion");
        if (rsv)
            ver = (const char *)xmlGetProp(rsv, BAD_CAST "Version");
    }
    r->version = ver ? sim_request_version(ver) : 0;
    xmlFree((void *)ver);
    if (r->version < 0 || r->version > g_sim.version->max_request || r->version < e->min_version) {
        sim_soap_fault(r, "ErrorInvalidServerVersion", "The specified server version is invalid.",
                       -1);
        return;
    }
    if (e->needs_mailbox && impersonate(r) < 0)
        return;
    if (r->mailbox != SIM_NONE)
        g_sim.mailboxes[r->mailbox].requests++;
    if (g_sim.accounts[r->account].inflight >= g_sim.max_concurrency) {
        g_sim.ctr.throttled++;
        sim_soap_fault(r, "ErrorServerBusy",
                       "The server cannot service this request right now. Try again later.",
                       g_sim.busy_backoff_ms);
        return;
    }
    g_sim.accounts[r->account].inflight++;
    r->inflight = 1;
    rc = apply_fault(r);
    if (rc == 0)
        sim_op_run(r);
}

void
sim_op_run(struct sim_req *r)
{
    const struct op_entry *e = op_find(r->opname);
    struct evbuffer *out = evbuffer_new();
    int code;
    sim_soap_begin(out, 1);
    code = e->fn(r, out);
    if (code == 0) {
        evbuffer_free(out);
        return;
    }
    sim_soap_end(out);
    sim_req_reply(r, code, out);
}
