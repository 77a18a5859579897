/* XEP-0050 ad-hoc commands: the node table, rights, and the dispatch of one request to its node
 * and stage; see adhoc.h. The nodes live in user.c, users.c and admin.c. */
#include "adhoc.h"

#include <stdlib.h>
#include <string.h>

#include "adhoc_int.h"
#include "config/config.h"
#include "forms.h"
#include "xmpp/xmpp.h"

#define DISCO_ITEMS_NS "http://jabber.org/protocol/disco#items"
#define DISCO_INFO_NS "http://jabber.org/protocol/disco#info"

const struct cp_adhoc_node cp_adhoc_nodes[] = {
    {"enable", "Enable calendar presence", false, cp_adhoc_run_enable},
    {"disable", "Disable calendar presence", false, cp_adhoc_run_disable},
    {"status", "Calendar presence status", false, cp_adhoc_run_status},
    {"settings", "Calendar presence settings", false, cp_adhoc_run_settings},
    {"users-enable", "Enable users (admin)", true, cp_adhoc_run_users_enable},
    {"users-disable", "Disable users (admin)", true, cp_adhoc_run_users_disable},
    {"users-list", "List users (admin)", true, cp_adhoc_run_users_list},
    {"gateway-status", "Gateway status (admin)", true, cp_adhoc_run_gateway_status},
    {"certs-import", "Import Exchange CA certificates (admin)", true, cp_adhoc_run_certs_import},
    {"user-resubscribe", "Resubscribe a user to Exchange (admin)", true,
     cp_adhoc_run_user_resubscribe},
    {"reload", "Reload the configuration (admin)", true, cp_adhoc_run_reload},
};
const size_t cp_adhoc_nnodes = sizeof(cp_adhoc_nodes) / sizeof(cp_adhoc_nodes[0]);

static const struct cp_adhoc_node *find_node(const char *name);
static bool may_run(const struct cp_config *cfg, const char *bare, const struct cp_adhoc_node *n);
static int requester(struct cp_adhoc_req *req, xmpp_stanza_t *iq);
static xmpp_stanza_t *answer(struct cp_adhoc_req *req);
static xmpp_stanza_t *dispatch(struct cp_adhoc_req *req, xmpp_stanza_t *command);
static xmpp_stanza_t *continue_session(struct cp_adhoc_req *req, xmpp_stanza_t *command,
                                       const char *sessionid, const char *action);
static xmpp_stanza_t *disco_reply(xmpp_ctx_t *ctx, xmpp_stanza_t *iq, const char *ns,
                                  const char *node, xmpp_stanza_t **query);

/* STORE is borrowed; OPS is copied, UD passed back to its hooks. Caller frees the result with
 * cp_adhoc_free. */
struct cp_adhoc *
cp_adhoc_new(struct cp_store *store, const struct cp_adhoc_ops *ops, void *ud)
{
    struct cp_adhoc *adhoc = calloc(1, sizeof(*adhoc));

    if (adhoc == NULL)
        return NULL;
    adhoc->store = store;
    if (ops != NULL)
        adhoc->ops = *ops;
    adhoc->ud = ud;
    return adhoc;
}

void
cp_adhoc_free(struct cp_adhoc *adhoc)
{
    if (adhoc == NULL)
        return;
    cp_adhoc_sessions_free(adhoc);
    free(adhoc);
}

void
cp_adhoc_expire(struct cp_adhoc *adhoc, time_t now)
{
    size_t i = 0;

    while (i < adhoc->nsessions) {
        if (now - adhoc->sessions[i]->last > CP_ADHOC_SESSION_TTL)
            cp_adhoc_session_drop(adhoc, adhoc->sessions[i]);
        else
            i++;
    }
}

static const struct cp_adhoc_node *
find_node(const char *name)
{
    size_t i;

    for (i = 0; i < cp_adhoc_nnodes; i++)
        if (strcmp(cp_adhoc_nodes[i].node, name) == 0)
            return &cp_adhoc_nodes[i];
    return NULL;
}

/* Rights are read from the configuration in force at every call: a reload that drops an admin
 * or a domain takes effect on the next stage of a running session too. Only users run
 * commands: a bare domain (a server or component) has no calendar. */
static bool
may_run(const struct cp_config *cfg, const char *bare, const struct cp_adhoc_node *n)
{
    const char *at = strchr(bare, '@');

    if (at == NULL || !cp_config_serves_domain(cfg, at + 1))
        return false;
    return !n->admin || cp_config_is_admin(cfg, bare);
}

/* Fills REQ's sender, normalised so that a session is bound to the JID as the server sees it.
 * Returns 0 or CP_EINVAL (no usable `from`). */
static int
requester(struct cp_adhoc_req *req, xmpp_stanza_t *iq)
{
    const char *from = xmpp_stanza_get_from(iq);

    if (from == NULL || cp_jid_full(from, req->from, sizeof(req->from)) != 0)
        return CP_EINVAL;
    return cp_jid_bare(from, req->bare, sizeof(req->bare));
}

char *
cp_adhoc_handle(struct cp_adhoc *adhoc, xmpp_ctx_t *ctx, xmpp_stanza_t *iq, time_t now, size_t *len)
{
    struct cp_adhoc_req req = {.adhoc = adhoc, .ctx = ctx, .iq = iq, .now = now};
    xmpp_stanza_t *reply = answer(&req);
    char *text = NULL;

    if (reply != NULL) {
        text = cp_stanza_to_text_with(reply, &req.wide, len);
        xmpp_stanza_release(reply);
    }
    cp_xml_free(&req.wide);
    return text;
}

/* The reply to REQ's IQ, its wide part (if any) left in REQ->wide. */
static xmpp_stanza_t *
answer(struct cp_adhoc_req *req)
{
    xmpp_stanza_t *command = xmpp_stanza_get_child_by_name_and_ns(req->iq, "command", CP_ADHOC_NS);
    const char *type = xmpp_stanza_get_type(req->iq);

    req->cfg = req->adhoc->ops.config != NULL ? req->adhoc->ops.config(req->adhoc->ud) : NULL;
    if (req->cfg == NULL)
        return cp_adhoc_error(req, "wait", "internal-server-error", NULL);
    if (requester(req, req->iq) != 0 || command == NULL || type == NULL || strcmp(type, "set") != 0)
        return cp_adhoc_error(req, "modify", "bad-request", NULL);
    return dispatch(req, command);
}

static xmpp_stanza_t *
dispatch(struct cp_adhoc_req *req, xmpp_stanza_t *command)
{
    const char *name = xmpp_stanza_get_attribute(command, "node");
    const char *action = xmpp_stanza_get_attribute(command, "action");
    const char *sessionid = xmpp_stanza_get_attribute(command, "sessionid");

    if (name == NULL)
        return cp_adhoc_error(req, "modify", "bad-request", NULL);
    req->node = find_node(name);
    if (req->node == NULL)
        return cp_adhoc_error(req, "cancel", "item-not-found", NULL);
    if (!may_run(req->cfg, req->bare, req->node)) {
        cp_log_info("adhoc", "%s: %s: refused (not allowed)", req->bare, req->node->node);
        return cp_adhoc_error(req, "auth", "forbidden", NULL);
    }
    if (sessionid != NULL)
        return continue_session(req, command, sessionid, action);
    if (action != NULL && strcmp(action, "execute") != 0)
        return cp_adhoc_error(req, "modify", "bad-request", "bad-action");
    return req->node->run(req);
}

/* A later stage: the session must be live, this node's, and started by this very full JID. */
static xmpp_stanza_t *
continue_session(struct cp_adhoc_req *req, xmpp_stanza_t *command, const char *sessionid,
                 const char *action)
{
    struct cp_adhoc_session *s = cp_adhoc_session_find(req->adhoc, sessionid, req->now);
    const char *ftype;

    if (s == NULL || s->node != req->node || strcmp(s->owner, req->from) != 0)
        return cp_adhoc_error(req, "modify", "bad-request", "bad-sessionid");
    req->session = s;
    s->last = req->now;
    if (action != NULL && strcmp(action, "cancel") == 0)
        return cp_adhoc_canceled(req);
    if (action != NULL && strcmp(action, "execute") != 0 && strcmp(action, s->next_action) != 0)
        return cp_adhoc_error(req, "modify", "bad-request", "bad-action");
    req->form = cp_form_find(command);
    ftype = req->form != NULL ? cp_form_type(req->form) : NULL;
    if (ftype != NULL && strcmp(ftype, "cancel") == 0)
        return cp_adhoc_canceled(req);
    if (ftype == NULL || strcmp(ftype, "submit") != 0)
        return cp_adhoc_error(req, "modify", "bad-request", "bad-payload");
    return req->node->run(req);
}

/* A result IQ for IQ with an empty <query xmlns=NS node=NODE/> (*QUERY, borrowed). */
static xmpp_stanza_t *
disco_reply(xmpp_ctx_t *ctx, xmpp_stanza_t *iq, const char *ns, const char *node,
            xmpp_stanza_t **query)
{
    xmpp_stanza_t *reply = xmpp_iq_new(ctx, "result", xmpp_stanza_get_id(iq));

    if (reply == NULL)
        return NULL;
    if ((xmpp_stanza_get_from(iq) != NULL &&
         xmpp_stanza_set_to(reply, xmpp_stanza_get_from(iq)) != XMPP_EOK) ||
        (xmpp_stanza_get_to(iq) != NULL &&
         xmpp_stanza_set_from(reply, xmpp_stanza_get_to(iq)) != XMPP_EOK))
        goto fail;
    *query = cp_stanza_add(reply, "query", NULL);
    if (*query == NULL || xmpp_stanza_set_ns(*query, ns) != XMPP_EOK ||
        xmpp_stanza_set_attribute(*query, "node", node) != XMPP_EOK)
        goto fail;
    return reply;
fail:
    xmpp_stanza_release(reply);
    return NULL;
}

/* Lists only the nodes the sender may run; an empty list for foreign domains (not an error,
 * so that a client's discovery does not fail as a whole). Caller releases the reply. */
xmpp_stanza_t *
cp_adhoc_disco_items(struct cp_adhoc *adhoc, xmpp_ctx_t *ctx, xmpp_stanza_t *iq)
{
    struct cp_adhoc_req req = {.adhoc = adhoc, .ctx = ctx, .iq = iq};
    xmpp_stanza_t *reply, *query;
    size_t i;

    req.cfg = adhoc->ops.config != NULL ? adhoc->ops.config(adhoc->ud) : NULL;
    if (req.cfg == NULL)
        return cp_adhoc_error(&req, "wait", "internal-server-error", NULL);
    if (requester(&req, iq) != 0)
        return cp_adhoc_error(&req, "modify", "bad-request", NULL);
    reply = disco_reply(ctx, iq, DISCO_ITEMS_NS, CP_ADHOC_NS, &query);
    if (reply == NULL)
        return NULL;
    for (i = 0; i < cp_adhoc_nnodes; i++) {
        const struct cp_adhoc_node *n = &cp_adhoc_nodes[i];
        xmpp_stanza_t *item;

        if (!may_run(req.cfg, req.bare, n))
            continue;
        item = cp_stanza_add(query, "item", NULL);
        if (item == NULL || xmpp_stanza_set_attribute(item, "jid", req.cfg->jid) != XMPP_EOK ||
            xmpp_stanza_set_attribute(item, "node", n->node) != XMPP_EOK ||
            xmpp_stanza_set_attribute(item, "name", n->name) != XMPP_EOK) {
            xmpp_stanza_release(reply);
            return NULL;
        }
    }
    return reply;
}

/* Describes a command node the sender may run; `forbidden` for one it may not. Caller
 * releases the reply. */
xmpp_stanza_t *
cp_adhoc_disco_info(struct cp_adhoc *adhoc, xmpp_ctx_t *ctx, xmpp_stanza_t *iq, const char *node)
{
    struct cp_adhoc_req req = {.adhoc = adhoc, .ctx = ctx, .iq = iq};
    static const char *const features[] = {CP_ADHOC_NS, CP_FORMS_NS};
    xmpp_stanza_t *reply, *query, *ident;
    size_t i;

    req.node = node != NULL ? find_node(node) : NULL;
    if (req.node == NULL)
        return NULL;
    req.cfg = adhoc->ops.config != NULL ? adhoc->ops.config(adhoc->ud) : NULL;
    if (req.cfg == NULL)
        return cp_adhoc_error(&req, "wait", "internal-server-error", NULL);
    if (requester(&req, iq) != 0)
        return cp_adhoc_error(&req, "modify", "bad-request", NULL);
    if (!may_run(req.cfg, req.bare, req.node))
        return cp_adhoc_error(&req, "auth", "forbidden", NULL);
    reply = disco_reply(ctx, iq, DISCO_INFO_NS, node, &query);
    if (reply == NULL)
        return NULL;
    ident = cp_stanza_add(query, "identity", NULL);
    if (ident == NULL || xmpp_stanza_set_attribute(ident, "category", "automation") != XMPP_EOK ||
        xmpp_stanza_set_type(ident, "command-node") != XMPP_EOK ||
        xmpp_stanza_set_attribute(ident, "name", req.node->name) != XMPP_EOK)
        goto fail;
    for (i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
        xmpp_stanza_t *f = cp_stanza_add(query, "feature", NULL);

        if (f == NULL || xmpp_stanza_set_attribute(f, "var", features[i]) != XMPP_EOK)
            goto fail;
    }
    return reply;
fail:
    xmpp_stanza_release(reply);
    return NULL;
}
