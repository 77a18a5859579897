/* The XEP-0356 privilege advertisement parser, on the messages Prosody's mod_privilege
 * (privilege:2) and ejabberd (privilege:1) send. */
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

static int
parse(const char *xml, struct cp_privileges *p)
{
    xmpp_stanza_t *s = xmpp_stanza_new_from_string(ctx, xml);
    cr_assert_not_null(s, "test XML does not parse: %s", xml);
    int rc = cp_privilege_parse(s, p);
    xmpp_stanza_release(s);
    return rc;
}

TestSuite(privilege, .init = setup, .fini = teardown);

/* What mod_privilege sends for the configuration docs/privileges.md gives. */
Test(privilege, prosody_v2)
{
    struct cp_privileges p;
    cr_assert_eq(parse("<message from='localhost' to='calendar.localhost'>"
                       "<privilege xmlns='urn:xmpp:privilege:2'>"
                       "<perm access='roster' type='both'/><perm access='message' type='outgoing'/>"
                       "<perm access='presence' type='roster'/></privilege></message>",
                       &p),
                 0);
    cr_assert_eq(p.version, 2);
    cr_assert_eq(p.roster, CP_PRIV_ROSTER_GET | CP_PRIV_ROSTER_SET);
    cr_assert_str_eq(p.message, "outgoing");
    cr_assert_str_eq(p.presence, "roster");
    cr_assert_eq(p.iq_spaces, 0);
    char text[160];
    cp_privilege_describe(&p, text, sizeof(text));
    cr_assert_str_eq(text, "roster both, message outgoing, presence roster, iq 0 namespace(s)");
}

Test(privilege, ejabberd_v1_get_only)
{
    struct cp_privileges p;
    cr_assert_eq(parse("<message from='localhost'><privilege xmlns='urn:xmpp:privilege:1'>"
                       "<perm access='roster' type='get'/>"
                       "<perm access='presence' type='managed_entity'/></privilege></message>",
                       &p),
                 0);
    cr_assert_eq(p.version, 1);
    cr_assert_eq(p.roster, CP_PRIV_ROSTER_GET);
    cr_assert_str_eq(p.message, "none");
    cr_assert_str_eq(p.presence, "managed_entity");
}

Test(privilege, iq_namespaces_counted)
{
    struct cp_privileges p;
    cr_assert_eq(parse("<message><privilege xmlns='urn:xmpp:privilege:2'>"
                       "<perm access='roster' type='set'/><perm access='iq'>"
                       "<namespace ns='http://jabber.org/protocol/pubsub' type='set'/>"
                       "<namespace ns='urn:xmpp:mam:2' type='get'/></perm></privilege></message>",
                       &p),
                 0);
    cr_assert_eq(p.roster, CP_PRIV_ROSTER_SET);
    cr_assert_eq(p.iq_spaces, 2);
    cr_assert_eq(p.iq_pubsub, CP_PRIV_IQ_SET);
    char text[160];
    cp_privilege_describe(&p, text, sizeof(text));
    cr_assert_str_eq(text,
                     "roster set, message none, presence none, iq 2 namespace(s) (pubsub set)");
}

/* PEP (pep.c) needs pubsub set: another namespace, or pubsub get only, is not enough. */
Test(privilege, iq_pubsub_access)
{
    struct cp_privileges p;
    cr_assert_eq(parse("<message><privilege xmlns='urn:xmpp:privilege:2'><perm access='iq'>"
                       "<namespace ns='urn:xmpp:mam:2' type='set'/></perm></privilege></message>",
                       &p),
                 0);
    cr_assert_eq(p.iq_pubsub, 0);
    cr_assert_eq(parse("<message><privilege xmlns='urn:xmpp:privilege:2'><perm access='iq'>"
                       "<namespace ns='http://jabber.org/protocol/pubsub' type='get'/>"
                       "</perm></privilege></message>",
                       &p),
                 0);
    cr_assert_eq(p.iq_pubsub, CP_PRIV_IQ_GET);
    cr_assert_eq(parse("<message><privilege xmlns='urn:xmpp:privilege:2'><perm access='iq'>"
                       "<namespace ns='http://jabber.org/protocol/pubsub' type='both'/>"
                       "</perm></privilege></message>",
                       &p),
                 0);
    cr_assert_eq(p.iq_pubsub, CP_PRIV_IQ_GET | CP_PRIV_IQ_SET);
    cr_assert_eq(parse("<message><privilege xmlns='urn:xmpp:privilege:2'><perm access='iq'>"
                       "<namespace ns='http://jabber.org/protocol/pubsub'/>"
                       "</perm></privilege></message>",
                       &p),
                 0, "a namespace without a type grants nothing, as mod_privilege sends it");
    cr_assert_eq(p.iq_pubsub, 0);
}

Test(privilege, not_an_advertisement)
{
    struct cp_privileges p;
    cr_assert_eq(parse("<message from='bob@localhost'><body>hi</body></message>", &p),
                 CP_ENOTFOUND);
    cr_assert_eq(p.version, 0);
    /* the right element in another namespace is not one either */
    cr_assert_eq(parse("<message><privilege xmlns='urn:xmpp:privilege:9'>"
                       "<perm access='roster' type='both'/></privilege></message>",
                       &p),
                 CP_ENOTFOUND);
}

/* Unknown words grant nothing and are never echoed; a perm without type is reported. */
Test(privilege, unknown_and_malformed)
{
    struct cp_privileges p;
    cr_assert_eq(parse("<message><privilege xmlns='urn:xmpp:privilege:2'>"
                       "<perm access='roster' type='everything'/>"
                       "<perm access='message' type='&lt;script&gt;'/>"
                       "<perm access='blog' type='both'/><perm access='presence'/>"
                       "</privilege></message>",
                       &p),
                 CP_EINVAL);
    cr_assert_eq(p.version, 2);
    cr_assert_eq(p.roster, 0);
    cr_assert_str_eq(p.message, "none");
    cr_assert_str_eq(p.presence, "none");
}

Test(privilege, empty_grants_nothing)
{
    struct cp_privileges p;
    cr_assert_eq(parse("<message><privilege xmlns='urn:xmpp:privilege:2'/></message>", &p), 0);
    cr_assert_eq(p.version, 2);
    cr_assert_eq(p.roster, 0);
}
