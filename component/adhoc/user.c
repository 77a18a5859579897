/* The ad-hoc commands every user of a served domain may run on themself: enable, disable,
 * status, settings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adhoc_int.h"
#include "config/config.h"
#include "forms.h"

static const char *tentative_name(enum cp_user_tentative t);
static int tentative_parse(const char *s, enum cp_user_tentative *out);
static xmpp_stanza_t *bad_field(struct cp_adhoc_req *req, const char *var, char *value,
                                const char *expected);
static xmpp_stanza_t *status_form(struct cp_adhoc_req *req, const struct cp_user *user, bool known);
static xmpp_stanza_t *settings_form(struct cp_adhoc_req *req, const struct cp_user *user);
static xmpp_stanza_t *settings_save(struct cp_adhoc_req *req, struct cp_user *user);
static const char *opt_name(enum cp_user_opt o);
static int opt_parse(const char *s, enum cp_user_opt *out);
static xmpp_stanza_t *add_opt_field(xmpp_stanza_t *form, const char *var, const char *label,
                                    enum cp_user_opt value, int admin_default);
static xmpp_stanza_t *read_opt(struct cp_adhoc_req *req, const char *var, enum cp_user_opt *out,
                               bool *bad);

int
cp_adhoc_stage(const struct cp_adhoc_req *req)
{
    return req->session != NULL ? req->session->stage : 0;
}

int
cp_adhoc_mailbox_of(const struct cp_adhoc_req *req, const char *jid, const char *stored, char *out,
                    size_t outlen)
{
    if (stored != NULL && stored[0] != '\0') {
        if ((size_t)snprintf(out, outlen, "%s", stored) >= outlen)
            return CP_EINVAL;
        return 0;
    }
    return cp_jid_default_mailbox(jid, req->cfg->mailbox_domain, out, outlen);
}

int
cp_adhoc_user_jid(const struct cp_adhoc_req *req, const char *in, char *out, size_t outlen,
                  const char **reason)
{
    return cp_users_jid(req->cfg, in, out, outlen, reason);
}

xmpp_stanza_t *
cp_adhoc_run_enable(struct cp_adhoc_req *req)
{
    char cal[CP_ADHOC_JID_MAX], note[2 * CP_ADHOC_JID_MAX + 128];

    if (cp_jid_calendar(req->bare, req->cfg->domains.items[0], req->cfg->jid, cal, sizeof(cal)) !=
        0)
        return cp_adhoc_error(req, "modify", "jid-malformed", NULL);
    if (cp_store_user_enable(req->adhoc->store, req->bare, NULL) != 0)
        return cp_adhoc_error(req, "wait", "internal-server-error", NULL);
    cp_log_info("adhoc", "%s: enable: calendar presence on", req->bare);
    if (req->adhoc->ops.user_changed != NULL)
        req->adhoc->ops.user_changed(req->adhoc->ud, req->bare);
    snprintf(note, sizeof(note),
             "Calendar presence is on. Your contacts see it when they add %s to their contacts.",
             cal);
    return cp_adhoc_complete(req, "info", note, NULL);
}

xmpp_stanza_t *
cp_adhoc_run_disable(struct cp_adhoc_req *req)
{
    char cal[CP_ADHOC_JID_MAX], note[CP_ADHOC_JID_MAX + 128];
    int rc;

    if (cp_jid_calendar(req->bare, req->cfg->domains.items[0], req->cfg->jid, cal, sizeof(cal)) !=
        0)
        return cp_adhoc_error(req, "modify", "jid-malformed", NULL);
    rc = cp_store_user_disable(req->adhoc->store, req->bare);
    if (rc == CP_ENOTFOUND) {
        snprintf(note, sizeof(note), "Calendar presence was not on; %s stays offline.", cal);
        return cp_adhoc_complete(req, "info", note, NULL);
    }
    if (rc != 0)
        return cp_adhoc_error(req, "wait", "internal-server-error", NULL);
    cp_log_info("adhoc", "%s: disable: calendar presence off", req->bare);
    if (req->adhoc->ops.user_changed != NULL)
        req->adhoc->ops.user_changed(req->adhoc->ud, req->bare);
    snprintf(note, sizeof(note), "Calendar presence is off; %s now shows offline.", cal);
    return cp_adhoc_complete(req, "info", note, NULL);
}

/* The result form of `status`; KNOWN false means the user has no row (never enabled). */
static xmpp_stanza_t *
status_form(struct cp_adhoc_req *req, const struct cp_user *user, bool known)
{
    const struct cp_adhoc_ops *ops = &req->adhoc->ops;
    struct cp_user_status st = {0};
    char mailbox[CP_ADHOC_JID_MAX], watchers[32], mode[256] = "";
    bool enabled = known && user->enabled;
    long nwatch;
    xmpp_stanza_t *form = cp_form_new(req->ctx, "result", "Calendar presence status", NULL);

    if (form == NULL)
        return NULL;
    if (cp_adhoc_mailbox_of(req, req->bare, known ? user->mailbox : NULL, mailbox,
                            sizeof(mailbox)) != 0)
        mailbox[0] = '\0';
    if (enabled && ops->user_status != NULL)
        ops->user_status(req->adhoc->ud, req->bare, &st);
    if (!enabled)
        st.state = "unavailable";
    nwatch = ops->watchers != NULL ? ops->watchers(req->adhoc->ud, req->bare)
                                   : cp_store_subscribers_count(req->adhoc->store, req->bare);
    snprintf(watchers, sizeof(watchers), "%ld", nwatch < 0 ? 0 : nwatch);
    if (ops->user_mode != NULL)
        ops->user_mode(req->adhoc->ud, req->bare, known ? user : NULL, mode, sizeof(mode));
    if (cp_form_add_field(form, "enabled", "boolean", "Enabled", enabled ? "1" : "0") == NULL ||
        cp_form_add_field(form, "mailbox", "text-single", "Exchange mailbox", mailbox) == NULL ||
        cp_form_add_field(form, "state", "text-single", "Calendar state", st.state) == NULL ||
        cp_form_add_field(form, "until", "text-single", "Until", st.until) == NULL ||
        cp_form_add_field(form, "server", "text-single", "Exchange server", st.server) == NULL ||
        cp_form_add_field(form, "subscription", "text-single", "Exchange subscription",
                          st.subscription) == NULL ||
        cp_form_add_field(form, "watchers", "text-single", "Watchers", watchers) == NULL ||
        cp_form_add_field(form, "last_error", "text-single", "Last error", st.last_error) == NULL ||
        cp_form_add_field(form, "mode", "text-single", "Privileged mode", mode) == NULL) {
        xmpp_stanza_release(form);
        return NULL;
    }
    return form;
}

xmpp_stanza_t *
cp_adhoc_run_status(struct cp_adhoc_req *req)
{
    struct cp_user user = {0};
    int rc = cp_store_user_get(req->adhoc->store, req->bare, &user);
    xmpp_stanza_t *form, *reply;
    const char *note = NULL;

    if (rc != 0 && rc != CP_ENOTFOUND)
        return cp_adhoc_error(req, "wait", "internal-server-error", NULL);
    form = status_form(req, &user, rc == 0);
    if (form == NULL) {
        cp_user_clear(&user);
        return NULL;
    }
    if (req->adhoc->ops.user_status == NULL && rc == 0 && user.enabled)
        note = "Live calendar state is not available yet.";
    reply = cp_adhoc_complete(req, "info", note, form);
    cp_user_clear(&user);
    return reply;
}

static const char *
tentative_name(enum cp_user_tentative t)
{
    switch (t) {
    case CP_USER_TENTATIVE_FREE:
        return "free";
    case CP_USER_TENTATIVE_BUSY:
        return "busy";
    default:
        return "default";
    }
}

static int
tentative_parse(const char *s, enum cp_user_tentative *out)
{
    if (strcmp(s, "free") == 0)
        *out = CP_USER_TENTATIVE_FREE;
    else if (strcmp(s, "busy") == 0)
        *out = CP_USER_TENTATIVE_BUSY;
    else if (strcmp(s, "default") == 0)
        *out = CP_USER_TENTATIVE_DEFAULT;
    else
        return CP_EINVAL;
    return 0;
}

static const char *
opt_name(enum cp_user_opt o)
{
    return o == CP_USER_OPT_ON ? "on" : o == CP_USER_OPT_OFF ? "off" : "default";
}

static int
opt_parse(const char *s, enum cp_user_opt *out)
{
    if (strcmp(s, "on") == 0)
        *out = CP_USER_OPT_ON;
    else if (strcmp(s, "off") == 0)
        *out = CP_USER_OPT_OFF;
    else if (strcmp(s, "default") == 0)
        *out = CP_USER_OPT_DEFAULT;
    else
        return CP_EINVAL;
    return 0;
}

/* A default/on/off list whose default option names the admin's value. Returns the field or
 * NULL on ENOMEM. */
static xmpp_stanza_t *
add_opt_field(xmpp_stanza_t *form, const char *var, const char *label, enum cp_user_opt value,
              int admin_default)
{
    xmpp_stanza_t *f = cp_form_add_field(form, var, "list-single", label, opt_name(value));
    if (f == NULL ||
        cp_form_field_add_option(f, admin_default ? "Server default (on)" : "Server default (off)",
                                 "default") != 0 ||
        cp_form_field_add_option(f, "On", "on") != 0 ||
        cp_form_field_add_option(f, "Off", "off") != 0)
        return NULL;
    return f;
}

/* The settings form, pre-filled with USER's current values. Caller releases it. */
static xmpp_stanza_t *
settings_form(struct cp_adhoc_req *req, const struct cp_user *user)
{
    const char *dflt = req->cfg->tentative == CP_TENTATIVE_BUSY ? "Server default (busy)"
                                                                : "Server default (free)";
    xmpp_stanza_t *form = cp_form_new(req->ctx, "form", "Calendar presence settings",
                                      "Choose how your calendar shows to your contacts.");
    xmpp_stanza_t *f;

    if (form == NULL)
        return NULL;
    f = cp_form_add_field(form, "tentative", "list-single", "Tentative meetings show as",
                          tentative_name(user->tentative));
    if (f == NULL || cp_form_field_add_option(f, dflt, "default") != 0 ||
        cp_form_field_add_option(f, "Free", "free") != 0 ||
        cp_form_field_add_option(f, "Busy", "busy") != 0 ||
        cp_form_add_field(form, "include_subject", "boolean",
                          "Show the meeting subject to my contacts",
                          user->include_subject ? "1" : "0") == NULL ||
        add_opt_field(form, "only_while_online",
                      "Show my calendar only while I am online (needs the server's presence "
                      "privilege)",
                      user->priv.only_while_online, req->cfg->only_while_online) == NULL ||
        add_opt_field(form, "respect_own_status",
                      "Show no meetings while my own status is busy, away or extended away",
                      user->priv.respect_own_status, req->cfg->respect_own_status) == NULL ||
        add_opt_field(form, "pep_activity",
                      "While I am in a meeting, show the activity \"In a meeting\" on me "
                      "(needs the server's pubsub privilege)",
                      user->priv.pep_activity, req->cfg->pep_activity) == NULL) {
        xmpp_stanza_release(form);
        return NULL;
    }
    return form;
}

/* Reads the default/on/off field VAR into *OUT (kept when omitted). Returns the error reply
 * with *BAD set, or NULL: *BAD false is success, *BAD true with NULL is ENOMEM. */
static xmpp_stanza_t *
read_opt(struct cp_adhoc_req *req, const char *var, enum cp_user_opt *out, bool *bad)
{
    char *text = NULL;
    int rc = cp_form_get_single(req->form, var, &text);
    *bad = true;
    if (rc == 0 && opt_parse(text, out) != 0)
        return bad_field(req, var, text, "one of default, on, off");
    free(text);
    if (rc == CP_ENOMEM)
        return NULL;
    if (rc != 0 && rc != CP_ENOTFOUND)
        return bad_field(req, var, NULL, "one value");
    *bad = false;
    return NULL;
}

/* Refuses a settings submission whose field VAR is wrong, telling the client and the log which
 * field and what it should be. VALUE (may be NULL) is the submitted text: freed here. */
static xmpp_stanza_t *
bad_field(struct cp_adhoc_req *req, const char *var, char *value, const char *expected)
{
    char why[256];

    /* The value comes from the client: cut, so that neither the log nor the reply grows. */
    if (value != NULL)
        snprintf(why, sizeof(why), "field '%s': '%.40s' is not %s", var, value, expected);
    else
        snprintf(why, sizeof(why), "field '%s' must be %s", var, expected);
    free(value);
    cp_log_info("adhoc", "%s: settings refused (%s)", req->bare, why);
    return cp_adhoc_error_text(req, "modify", "bad-request", "bad-payload", why);
}

/* Stores the submitted settings; an omitted field keeps USER's current value. */
static xmpp_stanza_t *
settings_save(struct cp_adhoc_req *req, struct cp_user *user)
{
    enum cp_user_tentative tentative = user->tentative;
    bool include_subject = user->include_subject;
    char *text = NULL;
    int rc = cp_form_get_single(req->form, "tentative", &text);

    if (rc == 0 && tentative_parse(text, &tentative) != 0)
        return bad_field(req, "tentative", text, "one of default, free, busy");
    free(text);
    if (rc == CP_ENOMEM)
        return NULL;
    if (rc != 0 && rc != CP_ENOTFOUND)
        return bad_field(req, "tentative", NULL, "one value");
    rc = cp_form_get_bool(req->form, "include_subject", &include_subject);
    if (rc == CP_ENOMEM)
        return NULL;
    if (rc != 0 && rc != CP_ENOTFOUND)
        return bad_field(req, "include_subject", NULL, "a boolean (true, false, 1 or 0)");
    struct cp_user_privopts priv = user->priv;
    bool bad;
    xmpp_stanza_t *refused = read_opt(req, "only_while_online", &priv.only_while_online, &bad);
    if (!bad)
        refused = read_opt(req, "respect_own_status", &priv.respect_own_status, &bad);
    if (!bad)
        refused = read_opt(req, "pep_activity", &priv.pep_activity, &bad);
    if (bad)
        return refused;
    if (cp_store_user_settings(req->adhoc->store, req->bare, tentative, include_subject) != 0 ||
        cp_store_user_privopts(req->adhoc->store, req->bare, &priv) != 0)
        return cp_adhoc_error(req, "wait", "internal-server-error", NULL);
    cp_log_info("adhoc",
                "%s: settings: tentative %s, subject %s, only while online %s, respect "
                "own status %s, PEP activity %s",
                req->bare, tentative_name(tentative), include_subject ? "shown" : "hidden",
                opt_name(priv.only_while_online), opt_name(priv.respect_own_status),
                opt_name(priv.pep_activity));
    if (req->adhoc->ops.user_changed != NULL)
        req->adhoc->ops.user_changed(req->adhoc->ud, req->bare);
    return cp_adhoc_complete(req, "info", "Settings saved.", NULL);
}

xmpp_stanza_t *
cp_adhoc_run_settings(struct cp_adhoc_req *req)
{
    struct cp_user user = {0};
    int rc = cp_store_user_get(req->adhoc->store, req->bare, &user);
    xmpp_stanza_t *reply;

    if (rc != 0 && rc != CP_ENOTFOUND)
        return cp_adhoc_error(req, "wait", "internal-server-error", NULL);
    if (rc == CP_ENOTFOUND) /* no row yet: every option follows the admin's default */
        user.priv = (struct cp_user_privopts){CP_USER_OPT_DEFAULT, CP_USER_OPT_DEFAULT,
                                              CP_USER_OPT_DEFAULT};
    if (cp_adhoc_stage(req) == 0)
        reply = cp_adhoc_continue(req, 1, "complete", NULL, NULL, settings_form(req, &user));
    else
        reply = settings_save(req, &user);
    cp_user_clear(&user);
    return reply;
}
