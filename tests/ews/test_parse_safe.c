/* tests/ews/test_parse_safe.c: hostile XML (issue 3 item 8): XXE, billion laughs, external
 * DTDs, 100,000-deep nesting, a 100 MB body, the https envelope variant. Each must be refused
 * by every parser without reading files, expanding entities or touching the oversized body. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ews_xml.h"
#include "ews_xml_int.h"
#include "test_parse_fixture.h"

#define ENV_OPEN                                                                                   \
    "<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body>"                     \
    "<m:SendNotification xmlns:m='http://schemas.microsoft.com/exchange/services/2006/messages'"   \
    " xmlns:t='http://schemas.microsoft.com/exchange/services/2006/types'><m:ResponseMessages>"    \
    "<m:SendNotificationResponseMessage ResponseClass='Success'><m:Notification>"
#define ENV_CLOSE                                                                                  \
    "<t:StatusEvent><t:Watermark>W</t:Watermark></t:StatusEvent></m:Notification>"                 \
    "</m:SendNotificationResponseMessage></m:ResponseMessages></m:SendNotification>"               \
    "</s:Body></s:Envelope>"

/* Runs every parser on body; each must fail with want (and class malformed). */
static void
expect_refused_everywhere(const char *body, size_t len, int want)
{
    struct ews_error err;
    struct ews_notification_list l;
    struct ews_subscribe_result sr;
    struct ews_calendar_view cv;
    struct ews_availability av;
    struct ews_folder_result fr;
    struct ews_stream_frame sf;
    struct ews_server_info si;
    cr_expect_eq(ews_parse_send_notification(body, len, &l, &err), want);
    cr_expect_eq(err.cls, EWS_ERR_MALFORMED);
    cr_expect_eq(l.n_items, 0);
    cr_expect_eq(ews_parse_get_events(body, len, &l, &err), want);
    cr_expect_eq(ews_parse_subscribe(body, len, &sr, &err), want);
    cr_expect_eq(ews_parse_unsubscribe(body, len, &err), want);
    cr_expect_eq(ews_parse_find_calendar(body, len, &cv, &err), want);
    cr_expect_eq(ews_parse_get_user_availability(body, len, &av, &err), want);
    cr_expect_eq(ews_parse_get_folder(body, len, &fr, &err), want);
    cr_expect_eq(ews_parse_streaming_frame(body, len, &sf), want);
    cr_expect_eq(sf.error.cls, EWS_ERR_MALFORMED);
    cr_expect_eq(ews_parse_server_info(body, len, &si), want);
    cr_expect_eq(ews_classify(200, body, len, &err), EWS_ERR_MALFORMED);
}

Test(safe, control_well_formed_body_parses)
{
    /* The same frame as the attacks below without the attack: proves they fail for the
     * attack, not for the frame. */
    const char body[] = ENV_OPEN "<t:SubscriptionId>S</t:SubscriptionId>" ENV_CLOSE;
    struct ews_notification_list l;
    cr_assert_eq(ews_parse_send_notification(body, sizeof body - 1, &l, NULL), 0);
    cr_expect_str_eq(l.items[0].subscription_id, "S");
    ews_notification_list_free(&l);
}

Test(safe, xxe_file_entity_refused)
{
    const char body[] = "<?xml version='1.0'?>"
                        "<!DOCTYPE s:Envelope [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]>" ENV_OPEN
                        "<t:SubscriptionId>&xxe;</t:SubscriptionId>" ENV_CLOSE;
    expect_refused_everywhere(body, sizeof body - 1, EWS_E_UNSAFE);
    struct ews_error err;
    struct ews_notification_list l;
    ews_parse_send_notification(body, sizeof body - 1, &l, &err);
    cr_expect_not_null(strstr(err.message, "DOCTYPE"));
}

Test(safe, billion_laughs_refused)
{
    const char body[] =
        "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
        "<!ENTITY lol1 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>"
        "<!ENTITY lol2 '&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;'>"
        "<!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>"
        "<!ENTITY lol4 '&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;'>"
        "<!ENTITY lol5 '&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;'>"
        "<!ENTITY lol6 '&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;'>"
        "<!ENTITY lol7 '&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;'>"
        "<!ENTITY lol8 '&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;'>"
        "<!ENTITY lol9 '&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;'>"
        "]>" ENV_OPEN "<t:SubscriptionId>&lol9;</t:SubscriptionId>" ENV_CLOSE;
    expect_refused_everywhere(body, sizeof body - 1, EWS_E_UNSAFE);
}

Test(safe, external_dtd_refused)
{
    const char body[] = "<?xml version='1.0'?>"
                        "<!DOCTYPE s:Envelope SYSTEM 'http://127.0.0.1:1/evil.dtd'>" ENV_OPEN
                        "<t:SubscriptionId>S</t:SubscriptionId>" ENV_CLOSE;
    expect_refused_everywhere(body, sizeof body - 1, EWS_E_UNSAFE);
}

Test(safe, undeclared_entity_is_malformed)
{
    const char body[] = ENV_OPEN "<t:SubscriptionId>&xxe;</t:SubscriptionId>" ENV_CLOSE;
    expect_refused_everywhere(body, sizeof body - 1, EWS_E_MALFORMED);
}

static char *
nested(int depth, size_t *len)
{
    const char *open = ENV_OPEN "<t:SubscriptionId>S</t:SubscriptionId>";
    size_t n = strlen(open) + (size_t)depth * 7 + strlen(ENV_CLOSE) + 1;
    char *b = malloc(n), *p = b;
    cr_assert_not_null(b);
    p += sprintf(p, "%s", open);
    for (int i = 0; i < depth; i++)
        p += sprintf(p, "<x>");
    for (int i = 0; i < depth; i++)
        p += sprintf(p, "</x>");
    p += sprintf(p, "%s", ENV_CLOSE);
    *len = (size_t)(p - b);
    return b;
}

Test(safe, deep_nesting_refused)
{
    size_t len;
    char *b = nested(100000, &len);
    expect_refused_everywhere(b, len, EWS_E_UNSAFE);
    free(b);
    /* deeper than our bound, shallower than libxml2's own */
    b = nested(EWS_XML_MAX_DEPTH + 10, &len);
    expect_refused_everywhere(b, len, EWS_E_UNSAFE);
    free(b);
    /* reasonable depth is fine */
    b = nested(40, &len);
    struct ews_notification_list l;
    cr_expect_eq(ews_parse_send_notification(b, len, &l, NULL), 0);
    ews_notification_list_free(&l);
    free(b);
}

Test(safe, body_of_100_mb_refused_without_reading_it)
{
    /* Address space only, PROT_NONE: a single byte read would crash the test. */
    size_t len = 100u * 1024 * 1024;
    char *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    cr_assert_neq(p, MAP_FAILED);
    expect_refused_everywhere(p, len, EWS_E_TOO_LARGE);
    munmap(p, len);
}

Test(safe, size_bound_is_configurable)
{
    size_t len;
    char *body = fixture("finditem-calendar.xml", &len);
    size_t old = ews_xml_set_max_bytes(2048);
    cr_expect_eq(old, EWS_XML_DEFAULT_MAX_BYTES);
    struct ews_calendar_view v;
    struct ews_error err;
    cr_expect_eq(ews_parse_find_calendar(body, len, &v, &err), EWS_E_TOO_LARGE);
    cr_expect_eq(err.cls, EWS_ERR_MALFORMED);
    ews_xml_set_max_bytes(old);
    cr_expect_eq(ews_parse_find_calendar(body, len, &v, &err), 0);
    ews_calendar_view_free(&v);
    free(body);
}

Test(safe, https_envelope_refused)
{
    size_t len;
    char *body = fixture("https-envelope.xml", &len);
    struct ews_subscribe_result r;
    struct ews_error err;
    cr_expect_eq(ews_parse_subscribe(body, len, &r, &err), EWS_E_UNSAFE);
    cr_expect_eq(err.cls, EWS_ERR_MALFORMED);
    free(body);
}

Test(safe, not_an_envelope)
{
    const char *bodies[] = {"<Envelope/>", "<s:Envelope xmlns:s='urn:x'><s:Body/></s:Envelope>",
                            "<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'/>",
                            "garbage", "<a><b></a>"};
    for (int i = 0; i < 5; i++)
        expect_refused_everywhere(bodies[i], strlen(bodies[i]), EWS_E_MALFORMED);
}

Test(safe, any_shape_reader_for_autodiscover)
{
    const char pox[] = "<?xml version='1.0'?><Autodiscover "
                       "xmlns='http://schemas.microsoft.com/exchange/autodiscover/responseschema/"
                       "2006'><Response/></Autodiscover>";
    xmlDoc *doc;
    struct ews_error err;
    cr_assert_eq(ews_xml_read_any(pox, sizeof pox - 1, &doc, &err), 0);
    cr_expect_str_eq((const char *)xmlDocGetRootElement(doc)->name, "Autodiscover");
    xmlFreeDoc(doc);
    const char xxe[] = "<?xml version='1.0'?><!DOCTYPE a [<!ENTITY x SYSTEM "
                       "'file:///etc/passwd'>]><Autodiscover>&x;</Autodiscover>";
    cr_expect_eq(ews_xml_read_any(xxe, sizeof xxe - 1, &doc, &err), EWS_E_UNSAFE);
    cr_expect_null(doc);
    size_t len;
    char *b = nested(100000, &len);
    cr_expect_eq(ews_xml_read_any(b, len, &doc, &err), EWS_E_UNSAFE);
    free(b);
}
