/* XEP-0004 data forms (component/adhoc/forms.c): building, serialising, reading submissions, and
 * the malformed submissions a client may send. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/error.h"
#include "adhoc/forms.h"

static xmpp_ctx_t *ctx;

static void
setup(void)
{
    ctx = xmpp_ctx_new(NULL, NULL);
    cr_assert_not_null(ctx);
}

static void
teardown(void)
{
    xmpp_ctx_free(ctx);
}

TestSuite(forms, .init = setup, .fini = teardown);

/* Parses XML into a stanza; the caller releases it. */
static xmpp_stanza_t *
parse(const char *xml)
{
    xmpp_stanza_t *st = xmpp_stanza_new_from_string(ctx, xml);

    cr_assert_not_null(st, "cannot parse %s", xml);
    return st;
}

static char *
to_text(xmpp_stanza_t *st)
{
    char *buf, *copy;
    size_t len;

    cr_assert_eq(xmpp_stanza_to_text(st, &buf, &len), XMPP_EOK);
    copy = strdup(buf);
    xmpp_free(ctx, buf);
    return copy;
}

Test(forms, build_form_serialises_every_part)
{
    xmpp_stanza_t *form = cp_form_new(ctx, "form", "Title & co", "Fill <this>");
    xmpp_stanza_t *f;
    char *xml, *v, **lines;
    size_t n;

    cr_assert_not_null(form);
    f = cp_form_add_field(form, "tentative", "list-single", "Tentative", "free");
    cr_assert_not_null(f);
    cr_assert_eq(cp_form_field_add_option(f, "Free", "free"), 0);
    cr_assert_eq(cp_form_field_add_option(f, "Busy", "busy"), 0);
    cr_assert_eq(cp_form_field_set_required(f), 0);
    f = cp_form_add_field(form, "users", "text-multi", NULL, NULL);
    cr_assert_eq(cp_form_field_add_lines(f, "a@x\nb@x\n"), 0);
    xml = to_text(form);
    /* Attribute order is libstrophe's: check each part, then read the form back. */
    cr_assert(strstr(xml, "<title>Title &amp; co</title><instructions>Fill &lt;this&gt;"
                          "</instructions><field ") != NULL,
              "got %s", xml);
    cr_assert(strstr(xml, "var=\"tentative\"") && strstr(xml, "type=\"list-single\"") &&
                  strstr(xml, "label=\"Tentative\""),
              "got %s", xml);
    cr_assert(strstr(xml, "><value>free</value><option label=\"Free\"><value>free</value>"
                          "</option><option label=\"Busy\"><value>busy</value></option>"
                          "<required/></field>") != NULL,
              "got %s", xml);
    cr_assert(strstr(xml, "<value>a@x</value><value>b@x</value></field></x>") != NULL, "got %s",
              xml);
    cr_assert_str_eq(cp_form_type(form), "form");
    cr_assert_eq(cp_form_get_single(form, "tentative", &v), 0);
    cr_assert_str_eq(v, "free");
    free(v);
    cr_assert_eq(cp_form_get_lines(form, "users", 0, &lines, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(lines[1], "b@x");
    cp_form_lines_free(lines, n);
    free(xml);
    xmpp_stanza_release(form);
}

Test(forms, build_result_with_reported_and_items)
{
    xmpp_stanza_t *form = cp_form_new(ctx, "result", NULL, NULL);
    xmpp_stanza_t *rep = cp_form_add_reported(form), *item;
    char *xml;

    cr_assert_not_null(cp_form_add_field(rep, "jid", "jid-single", "JID", NULL));
    item = cp_form_add_item(form);
    cr_assert_not_null(cp_form_add_field(item, "jid", NULL, NULL, "a@x"));
    item = cp_form_add_item(form);
    cr_assert_not_null(cp_form_add_field(item, "jid", NULL, NULL, ""));
    xml = to_text(form);
    cr_assert(strstr(xml, "<x xmlns=\"jabber:x:data\" type=\"result\"><reported><field ") != NULL,
              "got %s", xml);
    cr_assert(strstr(xml, "label=\"JID\"") && strstr(xml, "type=\"jid-single\""), "got %s", xml);
    cr_assert(strstr(xml, "/></reported><item><field var=\"jid\"><value>a@x</value></field>"
                          "</item><item><field var=\"jid\"><value/></field></item></x>") != NULL,
              "got %s", xml);
    free(xml);
    xmpp_stanza_release(form);
}

Test(forms, find_form_and_type)
{
    xmpp_stanza_t *cmd = parse("<command xmlns='http://jabber.org/protocol/commands'>"
                               "<x xmlns='other'/><x xmlns='jabber:x:data' type='submit'/>"
                               "</command>");
    xmpp_stanza_t *form = cp_form_find(cmd);

    cr_assert_not_null(form);
    cr_assert_str_eq(cp_form_type(form), "submit");
    xmpp_stanza_release(cmd);
    cmd = parse("<command xmlns='http://jabber.org/protocol/commands'/>");
    cr_assert_null(cp_form_find(cmd));
    xmpp_stanza_release(cmd);
}

Test(forms, get_single_values_and_errors)
{
    xmpp_stanza_t *form = parse("<x xmlns='jabber:x:data' type='submit'>"
                                "<field var='a'><value>one</value></field>"
                                "<field var='empty'><value/></field>"
                                "<field var='none'/>"
                                "<field var='two'><value>1</value><value>2</value></field>"
                                "<field var='ent'><value>a&amp;b&lt;c&gt;d</value></field>"
                                "</x>");
    char *v = NULL;

    cr_assert_eq(cp_form_get_single(form, "a", &v), 0);
    cr_assert_str_eq(v, "one");
    free(v);
    cr_assert_eq(cp_form_get_single(form, "empty", &v), 0);
    cr_assert_str_eq(v, "");
    free(v);
    cr_assert_eq(cp_form_get_single(form, "ent", &v), 0);
    cr_assert_str_eq(v, "a&b<c>d");
    free(v);
    cr_assert_eq(cp_form_get_single(form, "none", &v), CP_ENOTFOUND);
    cr_assert_eq(cp_form_get_single(form, "absent", &v), CP_ENOTFOUND);
    cr_assert_eq(cp_form_get_single(form, "two", &v), CP_EINVAL);
    xmpp_stanza_release(form);
}

Test(forms, get_bool_accepts_xep0004_lexical_forms_only)
{
    xmpp_stanza_t *form = parse("<x xmlns='jabber:x:data' type='submit'>"
                                "<field var='t1'><value>1</value></field>"
                                "<field var='t2'><value>true</value></field>"
                                "<field var='f1'><value>0</value></field>"
                                "<field var='f2'><value>false</value></field>"
                                "<field var='yes'><value>yes</value></field>"
                                "<field var='up'><value>TRUE</value></field>"
                                "<field var='empty'><value/></field>"
                                "<field var='two'><value>1</value><value>0</value></field>"
                                "</x>");
    bool b = false;

    cr_assert_eq(cp_form_get_bool(form, "t1", &b), 0);
    cr_assert(b);
    b = false;
    cr_assert_eq(cp_form_get_bool(form, "t2", &b), 0);
    cr_assert(b);
    cr_assert_eq(cp_form_get_bool(form, "f1", &b), 0);
    cr_assert_not(b);
    b = true;
    cr_assert_eq(cp_form_get_bool(form, "f2", &b), 0);
    cr_assert_not(b);
    cr_assert_eq(cp_form_get_bool(form, "yes", &b), CP_EINVAL);
    cr_assert_eq(cp_form_get_bool(form, "up", &b), CP_EINVAL);
    cr_assert_eq(cp_form_get_bool(form, "empty", &b), CP_EINVAL);
    cr_assert_eq(cp_form_get_bool(form, "two", &b), CP_EINVAL);
    cr_assert_eq(cp_form_get_bool(form, "absent", &b), CP_ENOTFOUND);
    xmpp_stanza_release(form);
}

Test(forms, get_lines_from_values_and_embedded_newlines)
{
    xmpp_stanza_t *form = parse("<x xmlns='jabber:x:data' type='submit'>"
                                "<field var='m'><value>a</value><value>b\nc\r\nd\n</value>"
                                "<value/><value>e</value></field>"
                                "<field var='empty' type='text-multi'/>"
                                "</x>");
    const char *want[] = {"a", "b", "c", "d", "", "e"};
    char **lines;
    size_t n, i;

    cr_assert_eq(cp_form_get_lines(form, "m", 0, &lines, &n), 0);
    cr_assert_eq(n, 6);
    for (i = 0; i < n; i++)
        cr_assert_str_eq(lines[i], want[i]);
    cp_form_lines_free(lines, n);
    cr_assert_eq(cp_form_get_lines(form, "empty", 0, &lines, &n), 0);
    cr_assert_eq(n, 0);
    cp_form_lines_free(lines, n);
    cr_assert_eq(cp_form_get_lines(form, "absent", 0, &lines, &n), CP_ENOTFOUND);
    cr_assert_null(lines);
    cr_assert_eq(cp_form_get_lines(form, "m", 5, &lines, &n), CP_EINVAL);
    cr_assert_null(lines);
    cr_assert_eq(n, 0);
    cr_assert_eq(cp_form_get_lines(form, "m", 6, &lines, &n), 0);
    cp_form_lines_free(lines, n);
    xmpp_stanza_release(form);
}

/* Many lines both ways a client may send them: one <value/> each (10,000: libstrophe's parser
 * appends children in linear time each, so this costs O(n^2) in the parse alone), or in one
 * value with newlines (expat hands each line over separately: quadratic too). */
Test(forms, huge_text_multi)
{
    enum { N = 10000, NONE = 10000 };
    size_t cap = (size_t)NONE * 40 + 200, len = 0, i, n;
    char *xml = malloc(cap), *one = malloc(cap);
    xmpp_stanza_t *form;
    char **lines;

    len += (size_t)snprintf(xml + len, cap - len,
                            "<x xmlns='jabber:x:data' type='submit'><field var='u'>");
    for (i = 0; i < N; i++)
        len += (size_t)snprintf(xml + len, cap - len, "<value>user%zu@example.com</value>", i);
    snprintf(xml + len, cap - len, "</field></x>");
    form = parse(xml);
    cr_assert_eq(cp_form_get_lines(form, "u", 0, &lines, &n), 0);
    cr_assert_eq(n, N);
    cr_assert_str_eq(lines[0], "user0@example.com");
    cr_assert_str_eq(lines[N - 1], "user9999@example.com");
    cp_form_lines_free(lines, n);
    xmpp_stanza_release(form);

    len =
        (size_t)snprintf(one, cap, "<x xmlns='jabber:x:data' type='submit'><field var='u'><value>");
    for (i = 0; i < NONE; i++)
        len += (size_t)snprintf(one + len, cap - len, "user%zu@example.com\n", i);
    snprintf(one + len, cap - len, "</value></field></x>");
    form = parse(one);
    cr_assert_eq(cp_form_get_lines(form, "u", 0, &lines, &n), 0);
    cr_assert_eq(n, NONE);
    cr_assert_str_eq(lines[NONE - 1], "user9999@example.com");
    cp_form_lines_free(lines, n);
    xmpp_stanza_release(form);
    free(xml);
    free(one);
}

Test(forms, fields_outside_the_form_and_wrong_elements_are_ignored)
{
    xmpp_stanza_t *form = parse("<x xmlns='jabber:x:data' type='submit'>"
                                "<item><field var='a'><value>in item</value></field></item>"
                                "<field><value>no var</value></field>"
                                "<field var='b'><option><value>opt</value></option></field>"
                                "</x>");
    char *v = NULL;

    cr_assert_eq(cp_form_get_single(form, "a", &v), CP_ENOTFOUND);
    cr_assert_eq(cp_form_get_single(form, "b", &v), CP_ENOTFOUND);
    xmpp_stanza_release(form);
}
