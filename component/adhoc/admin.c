/* The admin commands that reach into the rest of the daemon through its hooks: gateway-status,
 * certs-import, user-resubscribe, reload. Each answers "not available yet" while its hook is
 * NULL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adhoc_int.h"
#include "config/config.h"
#include "forms.h"

#define MSG_MAX 1024

static xmpp_stanza_t *gateway_report(struct cp_adhoc_req *req, const char *report);
static xmpp_stanza_t *mailbox_form(struct cp_adhoc_req *req);
static struct cp_adhoc_deferred *deferred_new(struct cp_adhoc_req *req);
static xmpp_stanza_t *host_form(struct cp_adhoc_req *req, const char *host);
static char *pinned_chain(const char *host, const char *fps);
static xmpp_stanza_t *certs_describe(struct cp_adhoc_req *req);
static xmpp_stanza_t *certs_accept(struct cp_adhoc_req *req);
static xmpp_stanza_t *jid_form(struct cp_adhoc_req *req, const char *jid);
static xmpp_stanza_t *resubscribe(struct cp_adhoc_req *req);

/* The report form of gateway-status: the user counts and REPORT's lines. */
static xmpp_stanza_t *
gateway_report(struct cp_adhoc_req *req, const char *report)
{
    char users[32], enabled[32];
    xmpp_stanza_t *form, *f;

    snprintf(users, sizeof(users), "%ld", cp_store_users_count(req->adhoc->store, false));
    snprintf(enabled, sizeof(enabled), "%ld", cp_store_users_count(req->adhoc->store, true));
    form = cp_form_new(req->ctx, "result", "Gateway status", NULL);
    f = form != NULL ? cp_form_add_field(form, "users", "text-single", "Users", users) : NULL;
    f = f != NULL
            ? cp_form_add_field(form, "enabled_users", "text-single", "Enabled users", enabled)
            : NULL;
    f = f != NULL ? cp_form_add_field(form, "report", "text-multi", "Exchange servers", NULL)
                  : NULL;
    if (f == NULL || cp_form_field_add_lines(f, report) != 0) {
        if (form != NULL)
            xmpp_stanza_release(form);
        return NULL;
    }
    return cp_adhoc_complete(req, NULL, NULL, form);
}

static xmpp_stanza_t *
mailbox_form(struct cp_adhoc_req *req)
{
    xmpp_stanza_t *form = cp_form_new(
        req->ctx, "form", "Gateway status",
        "Tests every configured Exchange server: reachability, certificate, authentication. "
        "Give a mailbox to test impersonating it too. The answer comes when the test is done "
        "(up to a few times the Exchange timeout per server).");

    if (form != NULL && cp_form_add_field(form, "mailbox", "text-single",
                                          "Mailbox to impersonate (optional)", NULL) == NULL) {
        xmpp_stanza_release(form);
        return NULL;
    }
    return form;
}

/* A copy of REQ's request, to answer once the troubleshooter is done. Caller frees. */
static struct cp_adhoc_deferred *
deferred_new(struct cp_adhoc_req *req)
{
    struct cp_adhoc_deferred *def = calloc(1, sizeof(*def));

    if (def == NULL || (def->iq = xmpp_stanza_copy(req->iq)) == NULL) {
        free(def);
        return NULL;
    }
    def->ctx = req->ctx;
    def->node = req->node;
    snprintf(def->sessionid, sizeof(def->sessionid), "%s",
             req->session != NULL ? req->session->id : "");
    return def;
}

void
cp_adhoc_deferred_free(struct cp_adhoc_deferred *def)
{
    if (def == NULL)
        return;
    xmpp_stanza_release(def->iq);
    free(def);
}

xmpp_stanza_t *
cp_adhoc_deferred_finish(struct cp_adhoc *adhoc, struct cp_adhoc_deferred *def, const char *report)
{
    struct cp_adhoc_req req = {.adhoc = adhoc,
                               .ctx = def->ctx,
                               .iq = def->iq,
                               .node = def->node,
                               .sessionid = def->sessionid,
                               .now = time(NULL)};
    xmpp_stanza_t *reply = gateway_report(&req, report);

    cp_adhoc_deferred_free(def);
    return reply;
}

/* Stage 0 asks for an optional mailbox; the submission starts the troubleshooter and the answer
 * waits for its report (an IQ result may come minutes later; XEP-0050 allows it), so that the
 * admin gets this run's findings, not "running, run again". */
xmpp_stanza_t *
cp_adhoc_run_gateway_status(struct cp_adhoc_req *req)
{
    const struct cp_adhoc_ops *ops = &req->adhoc->ops;
    char *mailbox = NULL;
    struct cp_adhoc_deferred *def;
    int rc;

    if (ops->gateway_status == NULL)
        return cp_adhoc_not_available(req);
    if (cp_adhoc_stage(req) == 0)
        return cp_adhoc_continue(req, 1, "complete", NULL, NULL, mailbox_form(req));
    rc = cp_form_get_single(req->form, "mailbox", &mailbox);
    if (rc == CP_ENOMEM)
        return NULL;
    if (rc == 0 && mailbox[0] == '\0') {
        free(mailbox);
        mailbox = NULL;
    } else if (rc == 0 && (strlen(mailbox) > 320 || strpbrk(mailbox, " \t\r\n") != NULL ||
                           strchr(mailbox, '@') == NULL)) {
        free(mailbox);
        cp_log_info("adhoc", "%s: gateway-status refused (field 'mailbox' is not an address)",
                    req->bare);
        return cp_adhoc_error_text(req, "modify", "bad-request", "bad-payload",
                                   "field 'mailbox' must be an e-mail address (or empty)");
    } else if (rc != 0 && rc != CP_ENOTFOUND) {
        return cp_adhoc_error_text(req, "modify", "bad-request", "bad-payload",
                                   "field 'mailbox' must have one value");
    }
    def = deferred_new(req);
    if (def == NULL) {
        free(mailbox);
        return NULL;
    }
    rc = ops->gateway_status(req->adhoc->ud, mailbox, def);
    cp_log_info("adhoc", "%s: gateway-status%s%s: %s", req->bare, mailbox ? " " : "",
                mailbox ? mailbox : "", rc == 0 ? "answer when the check is done" : "refused");
    free(mailbox);
    if (rc != 0) {
        cp_adhoc_deferred_free(def);
        return cp_adhoc_complete(req, "error",
                                 "The troubleshooter could not be started (too many checks "
                                 "waiting, or no thread): the log says why. Try again later.",
                                 NULL);
    }
    /* The session ends here: the answer carries its id, and a client cannot continue it. */
    cp_adhoc_session_drop(req->adhoc, req->session);
    req->session = NULL;
    return NULL;
}

static xmpp_stanza_t *
host_form(struct cp_adhoc_req *req, const char *host)
{
    xmpp_stanza_t *form = cp_form_new(req->ctx, "form", "Import Exchange CA certificates",
                                      "The Exchange server whose certificate chain to fetch.");
    xmpp_stanza_t *f;

    if (form == NULL)
        return NULL;
    f = cp_form_add_field(form, "host", "text-single", "Host (host or host:port)", host);
    if (f == NULL || cp_form_field_set_required(f) != 0) {
        xmpp_stanza_release(form);
        return NULL;
    }
    return form;
}

/* The session data of a chain shown at stage 1: HOST, a NUL, then FPS (as
 * certs_describe_pinned gave them) and a NUL, in one malloc'd block that the session owns.
 * NULL on ENOMEM. */
static char *
pinned_chain(const char *host, const char *fps)
{
    size_t hostlen = strlen(host) + 1, fpslen = strlen(fps) + 1;
    char *data = malloc(hostlen + fpslen);

    if (data != NULL) {
        memcpy(data, host, hostlen);
        memcpy(data + hostlen, fps, fpslen);
    }
    return data;
}

/* Stage 1: fetch and show the chain the host presents, ask whether to import it. */
static xmpp_stanza_t *
certs_describe(struct cp_adhoc_req *req)
{
    char msg[MSG_MAX] = "";
    char *host = NULL, *fps = NULL, *chain;
    xmpp_stanza_t *form, *f, *reply;
    int rc = cp_form_get_single(req->form, "host", &host);

    if (rc == CP_ENOMEM)
        return NULL;
    if (rc != 0 || host[0] == '\0' || strpbrk(host, " \t\r\n/") != NULL) {
        free(host);
        return cp_adhoc_continue(req, 1, "next", "error", "Give the server as host or host:port.",
                                 host_form(req, NULL));
    }
    chain = req->adhoc->ops.certs_describe_pinned(req->adhoc->ud, host, &fps, msg, sizeof(msg));
    if (chain == NULL) {
        reply = cp_adhoc_continue(req, 1, "next", "error",
                                  msg[0] != '\0' ? msg : "Could not fetch the chain.",
                                  host_form(req, host));
        free(fps);
        free(host);
        return reply;
    }
    /* What the admin accepts is this chain: the host and the fingerprints it would add. */
    free(req->session->data);
    req->session->data = fps != NULL ? pinned_chain(host, fps) : NULL;
    free(fps);
    free(host);
    if (req->session->data == NULL) {
        free(chain);
        return NULL;
    }
    form = cp_form_new(req->ctx, "form", "Import Exchange CA certificates",
                       "Import the missing CA certificates of this chain into the trust store?");
    f = form != NULL ? cp_form_add_field(form, "chain", "text-multi", "Certificate chain", NULL)
                     : NULL;
    if (f == NULL || cp_form_field_add_lines(f, chain) != 0 ||
        cp_form_add_field(form, "accept", "boolean", "Import them", "0") == NULL) {
        free(chain);
        if (form != NULL)
            xmpp_stanza_release(form);
        return NULL;
    }
    free(chain);
    return cp_adhoc_continue(req, 2, "complete", NULL, NULL, form);
}

/* Stage 2: import only on an explicit yes, and only the chain shown: the session keeps its
 * host and fingerprints (pinned_chain), and the hook refuses a chain whose certificates to add
 * differ from them. */
static xmpp_stanza_t *
certs_accept(struct cp_adhoc_req *req)
{
    char msg[MSG_MAX] = "";
    const char *host = req->session->data;
    const char *fps = host + strlen(host) + 1;
    bool accept = false;
    int rc = cp_form_get_bool(req->form, "accept", &accept);

    if (rc != 0 && rc != CP_ENOTFOUND)
        return cp_adhoc_error(req, "modify", "bad-request", "bad-payload");
    if (!accept)
        return cp_adhoc_complete(req, "info", "Nothing was imported.", NULL);
    rc = req->adhoc->ops.certs_import_pinned(req->adhoc->ud, host, fps, msg, sizeof(msg));
    cp_log_info("adhoc", "%s: certs-import: %s: %s", req->bare, host,
                rc == 0                        ? "imported"
                : rc == CP_ADHOC_CHAIN_CHANGED ? "refused (the chain changed since it was shown)"
                                               : "failed");
    if (rc == CP_ADHOC_CHAIN_CHANGED)
        return cp_adhoc_complete(req, "error",
                                 "Nothing was imported: the server's certificate chain changed "
                                 "since it was shown. Run the command again to see the new one.",
                                 NULL);
    if (msg[0] == '\0')
        snprintf(msg, sizeof(msg), "%s", rc == 0 ? "Imported." : "Import failed.");
    return cp_adhoc_complete(req, rc == 0 ? "info" : "error", msg, NULL);
}

xmpp_stanza_t *
cp_adhoc_run_certs_import(struct cp_adhoc_req *req)
{
    if (req->adhoc->ops.certs_describe_pinned == NULL ||
        req->adhoc->ops.certs_import_pinned == NULL)
        return cp_adhoc_not_available(req);
    switch (cp_adhoc_stage(req)) {
    case 0:
        return cp_adhoc_continue(req, 1, "next", NULL, NULL, host_form(req, NULL));
    case 1:
        return certs_describe(req);
    default:
        return certs_accept(req);
    }
}

static xmpp_stanza_t *
jid_form(struct cp_adhoc_req *req, const char *jid)
{
    xmpp_stanza_t *form = cp_form_new(req->ctx, "form", "Resubscribe a user",
                                      "Drops and recreates the user's Exchange subscription.");
    xmpp_stanza_t *f;

    if (form == NULL)
        return NULL;
    f = cp_form_add_field(form, "jid", "jid-single", "User", jid);
    if (f == NULL || cp_form_field_set_required(f) != 0) {
        xmpp_stanza_release(form);
        return NULL;
    }
    return form;
}

static xmpp_stanza_t *
resubscribe(struct cp_adhoc_req *req)
{
    char norm[CP_ADHOC_JID_MAX], msg[MSG_MAX] = "";
    const char *reason = "no JID given";
    struct cp_user user = {0};
    char *jid = NULL;
    xmpp_stanza_t *reply;
    int rc = cp_form_get_single(req->form, "jid", &jid);

    if (rc == CP_ENOMEM)
        return NULL;
    if (rc == 0 && cp_adhoc_user_jid(req, jid, norm, sizeof(norm), &reason) == 0) {
        rc = cp_store_user_get(req->adhoc->store, norm, &user);
        reason = rc == CP_ENOTFOUND ? "not a known user" : "calendar presence is off for this user";
        if (rc != 0 && rc != CP_ENOTFOUND) {
            free(jid);
            return cp_adhoc_error(req, "wait", "internal-server-error", NULL);
        }
        if (rc == 0 && user.enabled) {
            cp_user_clear(&user);
            free(jid);
            rc = req->adhoc->ops.user_resubscribe(req->adhoc->ud, norm, msg, sizeof(msg));
            cp_log_info("adhoc", "%s: user-resubscribe: %s: %s", req->bare, norm,
                        rc == 0 ? "done" : "failed");
            if (msg[0] == '\0')
                snprintf(msg, sizeof(msg), "%s", rc == 0 ? "Resubscribed." : "Failed.");
            return cp_adhoc_complete(req, rc == 0 ? "info" : "error", msg, NULL);
        }
        cp_user_clear(&user);
    }
    snprintf(msg, sizeof(msg), "%s: %s", jid != NULL ? jid : "", reason);
    reply = cp_adhoc_continue(req, 1, "complete", "error", msg, jid_form(req, jid));
    free(jid);
    return reply;
}

xmpp_stanza_t *
cp_adhoc_run_user_resubscribe(struct cp_adhoc_req *req)
{
    if (req->adhoc->ops.user_resubscribe == NULL)
        return cp_adhoc_not_available(req);
    if (cp_adhoc_stage(req) == 0)
        return cp_adhoc_continue(req, 1, "complete", NULL, NULL, jid_form(req, NULL));
    return resubscribe(req);
}

/* The hook may replace the configuration: REQ->cfg is not used after it returns. */
xmpp_stanza_t *
cp_adhoc_run_reload(struct cp_adhoc_req *req)
{
    char msg[MSG_MAX] = "";
    int rc;

    if (req->adhoc->ops.reload == NULL)
        return cp_adhoc_not_available(req);
    rc = req->adhoc->ops.reload(req->adhoc->ud, msg, sizeof(msg));
    req->cfg = NULL;
    cp_log_info("adhoc", "%s: reload: %s", req->bare, rc == 0 ? "done" : "failed");
    if (msg[0] == '\0')
        snprintf(msg, sizeof(msg), "%s", rc == 0 ? "Configuration reloaded." : "Reload failed.");
    return cp_adhoc_complete(req, rc == 0 ? "info" : "error", msg, NULL);
}
