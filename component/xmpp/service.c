#include "service.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "config/config.h"
#include "presence.h"
#include "stanza.h"
#include "conn.h"
#include "own.h"
#include "pep.h"
#include "roster.h"

#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_PING "urn:xmpp:ping"
#define NS_VERSION "jabber:iq:version"
#define NS_CALPRESENCE "urn:calpresence:0"

#define JID_MAX 3072

/* Who sent a stanza and to which of our addresses. */
struct iq_ctx {
    struct cp_daemon *d;
    xmpp_ctx_t *ctx;
    xmpp_stanza_t *iq;
    const char *to;          /* full "to" as received */
    char from_bare[JID_MAX]; /* sender's bare JID */
    char from_domain[JID_MAX];
    char user[JID_MAX]; /* owner of the calendar JID addressed, "" for the component itself */
};

static void
send_and_release(struct cp_daemon *d, xmpp_stanza_t *stanza)
{
    if (!stanza)
        return;
    cp_xmpp_send(d->xmpp, stanza);
    xmpp_stanza_release(stanza);
}

/* Ad-hoc replies come serialised: some are built as text (adhoc.h). */
static void
adhoc_reply(struct iq_ctx *c)
{
    size_t len;
    char *xml = cp_adhoc_handle(c->d->adhoc, c->ctx, c->iq, time(NULL), &len);

    if (xml == NULL)
        return;
    cp_xmpp_send_raw(c->d->xmpp, xml, len);
    free(xml);
}

/* An IQ error reply from TO back to the sender. */
static void
reply_error(struct iq_ctx *c, const char *type, const char *condition, const char *text)
{
    xmpp_stanza_t *reply = xmpp_stanza_reply_error(c->iq, type, condition, text);
    if (!reply) /* no "from": nobody to answer */
        return;
    send_and_release(c->d, reply);
}

/* A result IQ with an optional child in namespace NS named NAME; returns the child (borrowed
 * from the reply) through *CHILD so that the caller can fill it before sending. */
static xmpp_stanza_t *
new_result(struct iq_ctx *c, const char *name, const char *ns, xmpp_stanza_t **child)
{
    xmpp_stanza_t *reply = xmpp_stanza_reply(c->iq);
    if (!reply)
        return NULL;
    xmpp_stanza_set_type(reply, "result");
    if (c->to)
        xmpp_stanza_set_from(reply, c->to);
    if (name) {
        xmpp_stanza_t *q = cp_stanza_add(reply, name, ns);
        if (!q) {
            xmpp_stanza_release(reply);
            return NULL;
        }
        if (child)
            *child = q;
    }
    return reply;
}

/* Appends <NAME A1=V1 A2=V2 A3=V3/> to PARENT; unused attribute names are NULL. */
static void
add_elem(xmpp_stanza_t *parent, const char *name, const char *a1, const char *v1, const char *a2,
         const char *v2, const char *a3, const char *v3)
{
    xmpp_stanza_t *e = cp_stanza_add(parent, name, NULL);
    if (!e)
        return;
    if (a1)
        xmpp_stanza_set_attribute(e, a1, v1);
    if (a2)
        xmpp_stanza_set_attribute(e, a2, v2);
    if (a3)
        xmpp_stanza_set_attribute(e, a3, v3);
}

static void
disco_info(struct iq_ctx *c, xmpp_stanza_t *query)
{
    const char *node = xmpp_stanza_get_attribute(query, "node");
    if (node && !c->user[0]) {
        xmpp_stanza_t *r = cp_adhoc_disco_info(c->d->adhoc, c->ctx, c->iq, node);
        if (r) {
            send_and_release(c->d, r);
            return;
        }
    }
    if (node) {
        reply_error(c, "cancel", "item-not-found", "no such node");
        return;
    }
    xmpp_stanza_t *q = NULL;
    xmpp_stanza_t *reply = new_result(c, "query", NS_DISCO_INFO, &q);
    if (!reply)
        return;
    if (c->user[0]) {
        char name[JID_MAX + 32];
        snprintf(name, sizeof(name), "Calendar of %s", c->user);
        add_elem(q, "identity", "category", "account", "type", "registered", "name", name);
    } else {
        add_elem(q, "identity", "category", "gateway", "type", "calendar", "name",
                 "Calendar presence (Microsoft Exchange)");
        add_elem(q, "feature", "var", CP_ADHOC_NS, NULL, NULL, NULL, NULL);
        add_elem(q, "feature", "var", NS_VERSION, NULL, NULL, NULL, NULL);
    }
    add_elem(q, "feature", "var", NS_DISCO_INFO, NULL, NULL, NULL, NULL);
    add_elem(q, "feature", "var", NS_DISCO_ITEMS, NULL, NULL, NULL, NULL);
    add_elem(q, "feature", "var", NS_PING, NULL, NULL, NULL, NULL);
    add_elem(q, "feature", "var", NS_CALPRESENCE, NULL, NULL, NULL, NULL);
    send_and_release(c->d, reply);
}

static void
disco_items(struct iq_ctx *c, xmpp_stanza_t *query)
{
    const char *node = xmpp_stanza_get_attribute(query, "node");
    if (node && !c->user[0] && strcmp(node, CP_ADHOC_NS) == 0) {
        send_and_release(c->d, cp_adhoc_disco_items(c->d->adhoc, c->ctx, c->iq));
        return;
    }
    if (node) {
        reply_error(c, "cancel", "item-not-found", "no such node");
        return;
    }
    xmpp_stanza_t *q = NULL;
    xmpp_stanza_t *reply = new_result(c, "query", NS_DISCO_ITEMS, &q);
    if (!reply)
        return;
    if (!c->user[0])
        add_elem(q, "item", "jid", c->to, "node", CP_ADHOC_NS, "name", "Commands");
    send_and_release(c->d, reply);
}

static void
version(struct iq_ctx *c)
{
    xmpp_stanza_t *q = NULL;
    xmpp_stanza_t *reply = new_result(c, "query", NS_VERSION, &q);
    if (!reply)
        return;
    cp_stanza_add_text(q, "name", "calpresence");
    cp_stanza_add_text(q, "version", CP_VERSION);
    send_and_release(c->d, reply);
}

static void
ping(struct iq_ctx *c)
{
    send_and_release(c->d, new_result(c, NULL, NULL, NULL));
}

/* Routes one get/set IQ by the namespace of its payload. */
static void
dispatch(struct iq_ctx *c, const char *type, xmpp_stanza_t *payload)
{
    const char *ns = xmpp_stanza_get_ns(payload);
    const char *name = xmpp_stanza_get_name(payload);
    bool get = strcmp(type, "get") == 0;
    if (!ns || !name) {
        reply_error(c, "modify", "bad-request", "payload without namespace");
        return;
    }
    if (get && strcmp(ns, NS_DISCO_INFO) == 0 && strcmp(name, "query") == 0)
        disco_info(c, payload);
    else if (get && strcmp(ns, NS_DISCO_ITEMS) == 0 && strcmp(name, "query") == 0)
        disco_items(c, payload);
    else if (get && strcmp(ns, NS_PING) == 0 && strcmp(name, "ping") == 0)
        ping(c);
    else if (get && strcmp(ns, NS_VERSION) == 0 && strcmp(name, "query") == 0)
        version(c);
    else if (!get && !c->user[0] && strcmp(ns, CP_ADHOC_NS) == 0 && strcmp(name, "command") == 0)
        adhoc_reply(c);
    else
        reply_error(c, "cancel", "service-unavailable", NULL);
}

/* The server itself (a bare domain we serve) may ping and disco us too. */
static bool
sender_allowed(struct cp_daemon *d, const char *from_bare, const char *domain)
{
    (void)from_bare;
    return cp_config_serves_domain(d->cfg, domain);
}

static int
on_iq(xmpp_conn_t *conn, xmpp_stanza_t *iq, void *ud)
{
    (void)conn;
    struct cp_daemon *d = ud;
    struct iq_ctx c = {.d = d, .ctx = cp_xmpp_ctx(d->xmpp), .iq = iq};
    const char *type = xmpp_stanza_get_type(iq);
    const char *from = xmpp_stanza_get_from(iq);
    c.to = xmpp_stanza_get_to(iq);

    if (type && (strcmp(type, "result") == 0 || strcmp(type, "error") == 0))
        return 1; /* answers to nothing we asked: ignore, never answer an answer */
    if (!from || !c.to) {
        cp_log_debug("xmpp", "iq without from/to dropped");
        return 1;
    }
    if (!type || (strcmp(type, "get") != 0 && strcmp(type, "set") != 0) ||
        !xmpp_stanza_get_id(iq)) {
        cp_log_info("xmpp", "%s: malformed iq (type %s)", from, type ? type : "missing");
        reply_error(&c, "modify", "bad-request", "iq needs type get or set and an id");
        return 1;
    }
    char local[JID_MAX];
    if (cp_jid_bare(from, c.from_bare, sizeof(c.from_bare)) != 0 ||
        (strchr(c.from_bare, '@')
             ? cp_jid_split(c.from_bare, local, sizeof(local), c.from_domain,
                            sizeof(c.from_domain)) != 0
             : snprintf(c.from_domain, sizeof(c.from_domain), "%s", c.from_bare) < 0)) {
        reply_error(&c, "modify", "jid-malformed", NULL);
        return 1;
    }
    if (!sender_allowed(d, c.from_bare, c.from_domain)) {
        cp_log_info("xmpp", "%s: refused (domain %s is not served)", c.from_bare, c.from_domain);
        reply_error(&c, "auth", "forbidden", "this service serves other domains only");
        return 1;
    }
    char to_bare[JID_MAX];
    if (cp_jid_bare(c.to, to_bare, sizeof(to_bare)) != 0) {
        reply_error(&c, "modify", "jid-malformed", NULL);
        return 1;
    }
    if (strcmp(to_bare, d->cfg->jid) != 0 &&
        cp_presence_calendar_owner(d->cfg, to_bare, c.user, sizeof(c.user)) != 0) {
        reply_error(&c, "cancel", "item-not-found", "no such calendar");
        return 1;
    }
    xmpp_stanza_t *payload = xmpp_stanza_get_children(iq);
    while (payload && !xmpp_stanza_is_tag(payload))
        payload = xmpp_stanza_get_next(payload);
    if (!payload) {
        reply_error(&c, "modify", "bad-request", "empty iq");
        return 1;
    }
    dispatch(&c, type, payload);
    return 1;
}

/* Messages to the component are not a service it offers: say so instead of dropping them. */
static int
on_message(xmpp_conn_t *conn, xmpp_stanza_t *msg, void *ud)
{
    (void)conn;
    struct cp_daemon *d = ud;
    const char *type = xmpp_stanza_get_type(msg);
    if (type && strcmp(type, "error") == 0)
        return 1;
    if (cp_roster_on_message(d->roster, msg)) { /* the server's XEP-0356 advertisement */
        cp_own_privileges_changed(d->own, xmpp_stanza_get_from(msg));
        cp_pep_reconsider(d->pep);
        return 1;
    }
    xmpp_stanza_t *reply = xmpp_stanza_reply_error(msg, "cancel", "service-unavailable",
                                                   "this service takes ad-hoc commands only");
    send_and_release(d, reply);
    return 1;
}

void
cp_xmpp_service_register(struct cp_daemon *d)
{
    xmpp_conn_t *conn = cp_xmpp_conn(d->xmpp);
    xmpp_handler_add(conn, on_iq, NULL, "iq", NULL, d);
    xmpp_handler_add(conn, cp_presence_on_stanza, NULL, "presence", NULL, d);
    xmpp_handler_add(conn, on_message, NULL, "message", NULL, d);
}
