/* tests/ews/test_schema.c (suite 'schema'): every request ews/ can build, for every server
 * version and impersonation kind, validated against Exchange's own schema from
 * $CP_SHARED_DIR/ews-reference/schema: the Body child with xmlSchemaValidateOneElement (as
 * Exchange validates it) and the whole envelope, header included, with xmlSchemaValidateDoc.
 * Requests sent as Exchange2010_SP2 are also validated against the 2010 SP2 schema.
 * Exits 77 (skip) with a message when the reference folder is absent. */
#include <libxml/parser.h>
#include <libxml/xmlschemas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ews_xml.h"

#define SE_DRIVER "validate-exchange_se_15.2.2562.17.xsd"
#define SP2_DRIVER "validate-exchange2010_sp2.xsd"

static int failures, checks;

static void
on_schema_error(void *ctx, const char *fmt, ...)
{
    (void)ctx;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

static xmlSchema *
load_schema(const char *dir, const char *driver)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, driver);
    xmlSchemaParserCtxt *pc = xmlSchemaNewParserCtxt(path);
    xmlSchema *s = pc ? xmlSchemaParse(pc) : NULL;
    xmlSchemaFreeParserCtxt(pc);
    if (!s)
        fprintf(stderr, "schema: %s: cannot load\n", path);
    return s;
}

static xmlNode *
first_element(xmlNode *n)
{
    for (; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE)
            return n;
    return NULL;
}

/* Validates req (not freed) against schema; prints one line per check. */
static void
validate(xmlSchema *schema, const char *schema_name, const char *what, const char *req)
{
    checks++;
    xmlDoc *doc = req ? xmlReadMemory(req, (int)strlen(req), NULL, NULL, XML_PARSE_NONET) : NULL;
    xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    xmlNode *body = NULL;
    for (xmlNode *c = root ? first_element(root->children) : NULL; c; c = first_element(c->next))
        if (strcmp((const char *)c->name, "Body") == 0)
            body = c;
    xmlNode *op = body ? first_element(body->children) : NULL;
    if (!op) {
        printf("FAIL %-44s %s: no request built\n", what, schema_name);
        failures++;
        xmlFreeDoc(doc);
        return;
    }
    xmlSchemaValidCtxt *vc = xmlSchemaNewValidCtxt(schema);
    xmlSchemaSetValidErrors(vc, on_schema_error, on_schema_error, NULL);
    int rc_body = xmlSchemaValidateOneElement(vc, op);
    int rc_doc = xmlSchemaValidateDoc(vc, doc);
    xmlSchemaFreeValidCtxt(vc);
    if (rc_body != 0 || rc_doc != 0) {
        printf("FAIL %-44s %s (body %d, envelope %d)\n%s\n", what, schema_name, rc_body, rc_doc,
               req);
        failures++;
    } else {
        printf("ok   %-44s %s\n", what, schema_name);
    }
    xmlFreeDoc(doc);
}

static void
validate_all(const struct ews_request_ctx *ctx, xmlSchema *schema, const char *schema_name,
             const char *label)
{
    const char *ids[] = {"STREAM-1", "STREAM-2&<3>"};
    const char *mailboxes[] = {"alice@example.com", "bob@example.com"};
    const time_t start = 1795392000, end = 1795478400;
    struct {
        const char *name;
        char *req;
    } reqs[] = {
        {"Subscribe push", ews_build_subscribe_push(ctx, "http://h.example.com:3802/ews?a&b", 60)},
        {"Subscribe pull", ews_build_subscribe_pull(ctx, 30)},
        {"Subscribe streaming", ews_build_subscribe_streaming(ctx)},
        {"Unsubscribe", ews_build_unsubscribe(ctx, "SUB-1")},
        {"GetEvents", ews_build_get_events(ctx, "SUB-1", "WM==")},
        {"GetStreamingEvents", ews_build_get_streaming_events(ctx, ids, 2, 30)},
        {"FindItem CalendarView", ews_build_find_calendar(ctx, start, end, 500)},
        {"GetUserAvailability FreeBusy",
         ews_build_get_user_availability(ctx, mailboxes, 2, start, end, 30, EWS_VIEW_FREEBUSY)},
        {"GetUserAvailability Detailed",
         ews_build_get_user_availability(ctx, mailboxes, 1, start, end, 15, EWS_VIEW_DETAILED)},
        {"GetFolder calendar", ews_build_get_calendar_folder(ctx)},
        {"SendNotificationResult OK", ews_build_send_notification_result(false)},
        {"SendNotificationResult Unsubscribe", ews_build_send_notification_result(true)},
    };
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        char what[128];
        snprintf(what, sizeof what, "%s [%s]", reqs[i].name, label);
        validate(schema, schema_name, what, reqs[i].req);
        free(reqs[i].req);
    }
}

int
main(void)
{
    const char *shared = getenv("CP_SHARED_DIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/ews-reference/schema", shared ? shared : "../shared");
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/%s", dir, SE_DRIVER);
    if (access(probe, R_OK) != 0) {
        printf("SKIP: %s not found (the Exchange schema lives in ../shared/ews-reference)\n",
               probe);
        return 77;
    }
    xmlSchema *se = load_schema(dir, SE_DRIVER);
    xmlSchema *sp2 = load_schema(dir, SP2_DRIVER);
    if (!se || !sp2)
        return 1;

    static const struct ews_impersonation imps[] = {
        {EWS_IMP_SMTP, "alice@example.com"},
        {EWS_IMP_UPN, "alice@corp.example.com"},
        {EWS_IMP_SID, "S-1-5-21-1004336348-1177238915-682003330-512"},
        {EWS_IMP_NONE, NULL},
    };
    static const char *const imp_names[] = {"smtp", "upn", "sid", "none"};
    for (int v = 0; v < EWS_V_COUNT; v++) {
        for (int i = 0; i < 4; i++) {
            struct ews_request_ctx ctx = {.version = (enum ews_server_version)v, .imp = imps[i]};
            char label[64];
            snprintf(label, sizeof label, "%s/%s", ews_server_version_name(ctx.version),
                     imp_names[i]);
            validate_all(&ctx, se, "SE", label);
            if (ctx.version == EWS_V2010_SP2)
                validate_all(&ctx, sp2, "2010SP2", label);
        }
    }
    xmlSchemaFree(se);
    xmlSchemaFree(sp2);
    printf("%d of %d checks failed\n", failures, checks);
    return failures ? 1 : 0;
}
