/* The readers of what the XMPP server forwards in privileged mode (XEP-0356), on answers as
 * Prosody and ejabberd send them and on the shapes tests/fuzz/fuzz_privileged.c reaches: roster
 * results (cp_roster_items_each), disco#info answers (cp_own_caps_read), privileged pubsub
 * answers (cp_pep_answer_read) and error conditions (cp_stanza_error). */
#include <criterion/criterion.h>
#include <string.h>

#include "config/config.h"
#include "xmpp/xmpp.h"

static xmpp_ctx_t *ctx;

static void
setup(void)
{
    ctx = xmpp_ctx_new(NULL, NULL);
}

static void
teardown(void)
{
    xmpp_ctx_free(ctx);
}

/* Caller releases. */
static xmpp_stanza_t *
parse(const char *xml)
{
    xmpp_stanza_t *s = xmpp_stanza_new_from_string(ctx, xml);
    cr_assert_not_null(s, "test XML does not parse: %s", xml);
    return s;
}

TestSuite(privileged_read, .init = setup, .fini = teardown);

/* ---- roster results ---- */

struct seen_items {
    char text[1024]; /* "a,b," */
};

static void
collect(const char *contact, void *ud)
{
    struct seen_items *s = ud;
    strncat(s->text, contact, sizeof(s->text) - strlen(s->text) - 1);
    strncat(s->text, ",", sizeof(s->text) - strlen(s->text) - 1);
}

/* Prosody's answer (mod_privilege builds it from the stored roster): every contact once, made
 * bare and normalised; the user, items being removed and items without a usable JID left out. */
Test(privileged_read, roster_items)
{
    xmpp_stanza_t *s = parse(
        "<iq type='result' from='alice@example.com' to='calendar.example.com' id='r1'>"
        "<query xmlns='jabber:iq:roster'>"
        "<item jid='bob@example.com' subscription='both' name='Bob'><group>Team</group></item>"
        "<item jid='carol@other.org' subscription='to'/>"
        "<item jid='alice@example.com' subscription='both'/>"
        "<item jid='Eve@Example.COM/home' subscription='none'/>"
        "<item jid='frank@example.com' subscription='remove'/>"
        "<item jid='not a jid@@' subscription='both'/>"
        "<item subscription='both'/>text between items"
        "</query></iq>");
    struct seen_items seen = {""};
    cr_expect_eq(cp_roster_items_each(s, "alice@example.com", collect, &seen), 3);
    cr_expect_str_eq(seen.text, "bob@example.com,carol@other.org,eve@example.com,");
    xmpp_stanza_release(s);
}

Test(privileged_read, roster_without_query)
{
    xmpp_stanza_t *s = parse("<iq type='result' from='alice@example.com' id='r1'/>");
    struct seen_items seen = {""};
    cr_expect_eq(cp_roster_items_each(s, "alice@example.com", collect, &seen), 0);
    cr_expect_str_eq(seen.text, "");
    xmpp_stanza_release(s);
}

/* ---- disco#info answers ---- */

Test(privileged_read, caps_rosterx)
{
    xmpp_stanza_t *s =
        parse("<iq type='result' from='bob@example.com/laptop' id='caps-1'>"
              "<query xmlns='http://jabber.org/protocol/disco#info' node='https://gajim.org#x'>"
              "<identity category='client' type='pc' name='Gajim'/>text"
              "<feature var='http://jabber.org/protocol/caps'/>"
              "<feature var='http://jabber.org/protocol/rosterx'/></query></iq>");
    cr_expect_eq(cp_own_caps_read(s), CP_CAPS_ROSTERX);
    xmpp_stanza_release(s);
}

Test(privileged_read, caps_plain)
{
    static const char *const answers[] = {
        /* a result without the feature */
        "<iq type='result' id='c'><query xmlns='http://jabber.org/protocol/disco#info'>"
        "<feature var='urn:xmpp:receipts'/></query></iq>",
        /* the feature in an error, or outside disco#info: not an answer that says it */
        "<iq type='error' id='c'><query xmlns='http://jabber.org/protocol/disco#info'>"
        "<feature var='http://jabber.org/protocol/rosterx'/></query>"
        "<error type='cancel'><service-unavailable "
        "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
        "<iq type='result' id='c'><query xmlns='jabber:iq:version'>"
        "<feature var='http://jabber.org/protocol/rosterx'/></query></iq>",
        /* the var on another element */
        "<iq type='result' id='c'><query xmlns='http://jabber.org/protocol/disco#info'>"
        "<identity var='http://jabber.org/protocol/rosterx'/></query></iq>",
        "<iq id='c'/>",
    };
    for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
        xmpp_stanza_t *s = parse(answers[i]);
        cr_expect_eq(cp_own_caps_read(s), CP_CAPS_PLAIN, "%s", answers[i]);
        xmpp_stanza_release(s);
    }
}

/* ---- privileged pubsub answers ---- */

struct pep_case {
    const char *xml;
    bool outer;
    const char *cond;
    const char *etype;
};

static void
expect_pep(const struct pep_case *c)
{
    char cond[64];
    const char *etype = NULL;
    xmpp_stanza_t *s = parse(c->xml);
    cr_expect_eq(cp_pep_answer_read(s, cond, sizeof(cond), &etype), c->outer, "%s", c->xml);
    cr_expect_str_eq(cond, c->cond, "%s", c->xml);
    cr_expect_str_eq(etype, c->etype, "%s", c->xml);
    xmpp_stanza_release(s);
}

#define FWD_OPEN                                                                                   \
    "<iq type='result' from='alice@example.com' id='p'>"                                           \
    "<privilege xmlns='urn:xmpp:privilege:2'><forwarded xmlns='urn:xmpp:forward:0'>"
#define FWD_CLOSE "</forwarded></privilege></iq>"

/* What Prosody's mod_privilege answers: the pubsub service's answer forwarded in a result, or
 * its own error. */
Test(privileged_read, pep_answers)
{
    static const struct pep_case cases[] = {
        {FWD_OPEN "<iq xmlns='jabber:client' type='result' id='p'/>" FWD_CLOSE, false, "", ""},
        {FWD_OPEN
         "<iq xmlns='jabber:client' type='error' id='p'><error type='cancel'>"
         "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>" FWD_CLOSE,
         false, "item-not-found", "cancel"},
        {"<iq type='error' id='p'><error type='auth'><text "
         "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>you are not allowed</text><forbidden "
         "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
         true, "forbidden", "auth"},
        {"<iq type='error' id='p'><error type='wait'><resource-constraint "
         "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
         true, "resource-constraint", "wait"},
        /* A result without a forwarded answer: the request went through. */
        {"<iq type='result' id='p'/>", false, "", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_pep(&cases[i]);
}

/* An error that names no condition is still an error. Before cp_stanza_error, an outer or a
 * forwarded <iq type='error'/> without <error/> read as success: the daemon took the activity
 * for published (or retracted) and never tried again. */
Test(privileged_read, pep_error_without_condition)
{
    static const struct pep_case cases[] = {
        {"<iq type='error' id='p'/>", true, "error", ""},
        {"<iq type='error' id='p'><error type='cancel'/></iq>", true, "error", "cancel"},
        {FWD_OPEN "<iq xmlns='jabber:client' type='error' id='p'/>" FWD_CLOSE, false, "error", ""},
        {FWD_OPEN "<iq xmlns='jabber:client' type='error' id='p'><error type='modify'>"
                  "<bad-request xmlns='urn:example'/></error></iq>" FWD_CLOSE,
         false, "error", "modify"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_pep(&cases[i]);
}

/* A condition longer than the caller's buffer is cut, never overrun. */
Test(privileged_read, error_condition_cut)
{
    char cond[8];
    const char *etype;
    xmpp_stanza_t *s =
        parse("<iq type='error' id='p'><error type='cancel'><feature-not-implemented "
              "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    cr_expect(cp_stanza_error(s, cond, sizeof(cond), &etype));
    cr_expect_str_eq(cond, "feature");
    xmpp_stanza_release(s);
}
