/* XEP-0050 ad-hoc commands (component/adhoc/) against a real store on a temporary file:
 * every node as a user and as an admin, rights, sessions, and malformed requests. Each test
 * builds the IQ a client would send, calls cp_adhoc_handle and inspects the reply, read back
 * from the text that would be sent. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adhoc/adhoc.h"
#include "adhoc/adhoc_int.h"
#include "config/error.h"
#include "adhoc/forms.h"
#include "config/log.h"
#include "store/store.h"

#define COMPONENT "calendar.example.com"
#define USER "alice@example.com/phone"
#define USER_BARE "alice@example.com"
#define OTHER_USER "bob@other.org/laptop"
#define ADMIN "admin@example.com/desk"
#define FOREIGN "eve@evil.net/x"
#define T0 1700000000

static xmpp_ctx_t *ctx;
static struct cp_store *store;
static struct cp_adhoc *adhoc;
static struct cp_config cfg;
static char dir[64], dbpath[128];
static FILE *devnull;

/* What the hooks saw and what they answer. */
static struct {
    int changed;
    char last_changed[128];
    char *gateway_report;
    char *chain;
    /* The fingerprints of the CAs an import would add: shown at describe time, then those the
     * server presents when the import runs (a re-issued chain or a MITM in between). */
    const char *fps_shown;
    const char *fps_now;
    int imports;
    int refused;
    char imported_host[128];
    char imported_fps[256];
    int resubscribes;
    char resubscribed[128];
    int reload_rc;
    bool status_known;
    int gateway_calls;
    int gateway_rc;
    char gateway_mailbox[128]; /* "(none)" for NULL */
    struct cp_adhoc_deferred *deferred;
} hooks;

static char *domains[] = {"example.com", "other.org"};
static char *admins[] = {"admin@example.com"};

static const struct cp_config *
hook_config(void *ud)
{
    (void)ud;
    return &cfg;
}

static void
hook_user_changed(void *ud, const char *jid)
{
    (void)ud;
    hooks.changed++;
    snprintf(hooks.last_changed, sizeof(hooks.last_changed), "%s", jid);
}

static int
hook_user_status(void *ud, const char *jid, struct cp_user_status *out)
{
    (void)ud;
    (void)jid;
    if (!hooks.status_known)
        return -1;
    out->state = "busy";
    out->until = "2026-11-23T10:00:00Z";
    out->server = "https://cas1.example.com/EWS/Exchange.asmx";
    out->subscription = "active";
    out->last_error = NULL;
    return 0;
}

static int
hook_reload(void *ud, char *msg, size_t len)
{
    (void)ud;
    snprintf(msg, len, "%s", hooks.reload_rc == 0 ? "reloaded: log.level changed" : "bad:3: x");
    return hooks.reload_rc;
}

static int
hook_resubscribe(void *ud, const char *jid, char *msg, size_t len)
{
    (void)ud;
    hooks.resubscribes++;
    snprintf(hooks.resubscribed, sizeof(hooks.resubscribed), "%s", jid);
    snprintf(msg, len, "resubscribing %s", jid);
    return 0;
}

/* Keeps the deferred command, as the daemon would until its check is done. */
static int
hook_gateway_status(void *ud, const char *mailbox, struct cp_adhoc_deferred *def)
{
    (void)ud;
    hooks.gateway_calls++;
    snprintf(hooks.gateway_mailbox, sizeof(hooks.gateway_mailbox), "%s",
             mailbox ? mailbox : "(none)");
    if (hooks.gateway_rc != 0)
        return hooks.gateway_rc;
    cp_adhoc_deferred_free(hooks.deferred);
    hooks.deferred = def;
    return 0;
}

static char *
hook_certs_describe(void *ud, const char *host, char **fps, char *msg, size_t len)
{
    char *chain;

    (void)ud;
    if (strcmp(host, "down.example.com") == 0) {
        snprintf(msg, len, "down.example.com: network-error");
        return NULL;
    }
    chain = strdup(hooks.chain);
    *fps = strdup(hooks.fps_shown);
    cr_assert(chain != NULL && *fps != NULL);
    return chain;
}

/* As check.c does: imports only when the chain presented now is the one pinned in FPS. */
static int
hook_certs_import(void *ud, const char *host, const char *fps, char *msg, size_t len)
{
    (void)ud;
    snprintf(hooks.imported_fps, sizeof(hooks.imported_fps), "%s", fps);
    if (strcmp(fps, hooks.fps_now) != 0) {
        hooks.refused++;
        return CP_ADHOC_CHAIN_CHANGED;
    }
    hooks.imports++;
    snprintf(hooks.imported_host, sizeof(hooks.imported_host), "%s", host);
    snprintf(msg, len, "1 certificate imported");
    return 0;
}

static const struct cp_adhoc_ops all_ops = {
    .config = hook_config,
    .user_changed = hook_user_changed,
    .user_status = hook_user_status,
    .reload = hook_reload,
    .user_resubscribe = hook_resubscribe,
    .gateway_status = hook_gateway_status,
    .certs_describe_pinned = hook_certs_describe,
    .certs_import_pinned = hook_certs_import,
};

/* Only the hooks that must exist: the optional commands answer "not available yet". */
static const struct cp_adhoc_ops min_ops = {
    .config = hook_config,
    .user_changed = hook_user_changed,
};

static void
open_adhoc(const struct cp_adhoc_ops *ops)
{
    if (adhoc != NULL)
        cp_adhoc_free(adhoc);
    adhoc = cp_adhoc_new(store, ops, NULL);
    cr_assert_not_null(adhoc);
}

static void
setup(void)
{
    devnull = fopen("/dev/null", "w");
    cp_log_set_stream(devnull);
    memset(&hooks, 0, sizeof(hooks));
    hooks.gateway_report = "https://cas1.example.com/EWS/Exchange.asmx\n  tls: verified\n";
    hooks.chain = "0: CN=cas1.example.com (trusted: no)\n1: CN=Example Root CA (missing)\n";
    hooks.fps_shown = "AB:CD:01\n";
    hooks.fps_now = hooks.fps_shown;
    snprintf(dir, sizeof(dir), "/tmp/test_adhoc.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(dbpath, sizeof(dbpath), "%s/store.db", dir);
    cr_assert_eq(cp_store_open(dbpath, &store), 0);
    memset(&cfg, 0, sizeof(cfg));
    cfg.jid = COMPONENT;
    cfg.domains.items = domains;
    cfg.domains.n = 2;
    cfg.admins.items = admins;
    cfg.admins.n = 1;
    cfg.mailbox_domain = "corp.example.com";
    cfg.tentative = CP_TENTATIVE_FREE;
    ctx = xmpp_ctx_new(NULL, NULL);
    cr_assert_not_null(ctx);
    adhoc = NULL;
    open_adhoc(&all_ops);
}

static void
teardown(void)
{
    char path[160];
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    size_t i;

    cp_adhoc_deferred_free(hooks.deferred);
    cp_adhoc_free(adhoc);
    adhoc = NULL;
    cp_store_close(store);
    xmpp_ctx_free(ctx);
    for (i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        snprintf(path, sizeof(path), "%s%s", dbpath, suffix[i]);
        unlink(path);
    }
    rmdir(dir);
    cp_log_set_stream(NULL);
    fclose(devnull);
}

TestSuite(adhoc, .init = setup, .fini = teardown, .timeout = 300);

/* ---- building requests ---- */

/* The length of the last reply's text, as sent. */
static size_t last_reply_len;

/* Answers IQ at NOW and reads the reply's text back as a stanza (the caller releases it). */
static xmpp_stanza_t *
handle(xmpp_stanza_t *iq, time_t now)
{
    char *xml = cp_adhoc_handle(adhoc, ctx, iq, now, &last_reply_len);
    xmpp_stanza_t *reply;

    cr_assert_not_null(xml);
    cr_assert_eq(strlen(xml), last_reply_len);
    reply = xmpp_stanza_new_from_string(ctx, xml);
    cr_assert_not_null(reply, "the reply is not well-formed XML: %.300s", xml);
    free(xml);
    return reply;
}

/* Sends <iq type='set' from=FROM><command node=NODE [sessionid] [action]>BODY</command></iq>
 * at time NOW and returns the reply (the caller releases it). BODY may be NULL. */
static xmpp_stanza_t *
send_at(const char *from, const char *node, const char *sessionid, const char *action,
        const char *body, time_t now)
{
    size_t cap = 512 + (body != NULL ? strlen(body) : 0);
    char *xml = malloc(cap);
    xmpp_stanza_t *iq, *reply;
    int len;

    len = snprintf(xml, cap,
                   "<iq type='set' id='q1' from='%s' to='" COMPONENT
                   "'><command xmlns='http://jabber.org/protocol/commands' node='%s'",
                   from, node);
    if (sessionid != NULL)
        len += snprintf(xml + len, cap - (size_t)len, " sessionid='%s'", sessionid);
    if (action != NULL)
        len += snprintf(xml + len, cap - (size_t)len, " action='%s'", action);
    snprintf(xml + len, cap - (size_t)len, ">%s</command></iq>", body != NULL ? body : "");
    iq = xmpp_stanza_new_from_string(ctx, xml);
    cr_assert_not_null(iq, "cannot parse %s", xml);
    free(xml);
    reply = handle(iq, now);
    cr_assert_not_null(reply);
    cr_assert_str_eq(xmpp_stanza_get_id(reply), "q1");
    cr_assert_str_eq(xmpp_stanza_get_to(reply), from);
    xmpp_stanza_release(iq);
    return reply;
}

static xmpp_stanza_t *
cmd(const char *from, const char *node, const char *sessionid, const char *action, const char *body)
{
    return send_at(from, node, sessionid, action, body, T0);
}

/* ---- reading replies ---- */

static xmpp_stanza_t *
command_of(xmpp_stanza_t *reply)
{
    xmpp_stanza_t *c = xmpp_stanza_get_child_by_name_and_ns(reply, "command", CP_ADHOC_NS);

    cr_assert_str_eq(xmpp_stanza_get_type(reply), "result");
    cr_assert_not_null(c);
    return c;
}

static const char *
status_of(xmpp_stanza_t *reply)
{
    return xmpp_stanza_get_attribute(command_of(reply), "status");
}

/* The session id of REPLY, copied into a static buffer. */
static const char *
sid_of(xmpp_stanza_t *reply)
{
    static char sid[64];
    const char *s = xmpp_stanza_get_attribute(command_of(reply), "sessionid");

    cr_assert_not_null(s);
    snprintf(sid, sizeof(sid), "%s", s);
    return sid;
}

/* The note's text (static buffer) and type, or NULL when there is none. */
static const char *
note_of(xmpp_stanza_t *reply, const char **type)
{
    static char text[8192];
    xmpp_stanza_t *note = xmpp_stanza_get_child_by_name(command_of(reply), "note");
    char *t;

    if (note == NULL)
        return NULL;
    if (type != NULL)
        *type = xmpp_stanza_get_type(note);
    t = xmpp_stanza_get_text(note);
    snprintf(text, sizeof(text), "%s", t != NULL ? t : "");
    xmpp_free(ctx, t);
    return text;
}

static xmpp_stanza_t *
form_of(xmpp_stanza_t *reply)
{
    xmpp_stanza_t *form = cp_form_find(command_of(reply));

    cr_assert_not_null(form);
    return form;
}

/* Field VAR's single value in REPLY's form (static buffer); "" for a field without value. */
static const char *
field_of(xmpp_stanza_t *reply, const char *var)
{
    static char value[1024];
    xmpp_stanza_t *form = form_of(reply);
    char *v = NULL;
    int rc;

    cr_assert_not_null(cp_form_get_field(form, var), "no field %s", var);
    rc = cp_form_get_single(form, var, &v);
    cr_assert(rc == 0 || rc == CP_ENOTFOUND, "field %s: %d", var, rc);
    snprintf(value, sizeof(value), "%s", v != NULL ? v : "");
    free(v);
    return value;
}

static void
assert_error(xmpp_stanza_t *reply, const char *type, const char *condition, const char *specific)
{
    xmpp_stanza_t *err;

    cr_assert_str_eq(xmpp_stanza_get_type(reply), "error");
    err = xmpp_stanza_get_child_by_name(reply, "error");
    cr_assert_not_null(err);
    cr_assert_str_eq(xmpp_stanza_get_type(err), type);
    cr_assert_not_null(
        xmpp_stanza_get_child_by_name_and_ns(err, condition, "urn:ietf:params:xml:ns:xmpp-stanzas"),
        "no %s", condition);
    if (specific != NULL)
        cr_assert_not_null(xmpp_stanza_get_child_by_name_and_ns(err, specific, CP_ADHOC_NS),
                           "no %s", specific);
    xmpp_stanza_release(reply);
}

static void
assert_completed_note(xmpp_stanza_t *reply, const char *type, const char *needle)
{
    const char *t = NULL, *note;

    cr_assert_str_eq(status_of(reply), "completed");
    note = note_of(reply, &t);
    cr_assert_not_null(note);
    cr_assert_str_eq(t, type);
    cr_assert(strstr(note, needle) != NULL, "note '%s' lacks '%s'", note, needle);
    xmpp_stanza_release(reply);
}

/* A submitted form with the given inner fields XML. */
static char *
submit(const char *fields)
{
    char *s;

    cr_assert(asprintf(&s, "<x xmlns='jabber:x:data' type='submit'>%s</x>", fields) > 0);
    return s;
}

/* The <text/> of an error reply (caller frees with xmpp_free), or NULL. */
static char *
error_text(xmpp_stanza_t *reply)
{
    xmpp_stanza_t *err = xmpp_stanza_get_child_by_name(reply, "error");
    xmpp_stanza_t *t = err ? xmpp_stanza_get_child_by_name_and_ns(
                                 err, "text", "urn:ietf:params:xml:ns:xmpp-stanzas")
                           : NULL;
    return t ? xmpp_stanza_get_text(t) : NULL;
}

/* Starts NODE as FROM, expects an executing form, submits FIELDS; returns the reply. */
static xmpp_stanza_t *
two_stage(const char *from, const char *node, const char *fields)
{
    xmpp_stanza_t *r = cmd(from, node, NULL, NULL, NULL);
    char sid[64], *body = submit(fields);
    xmpp_stanza_t *reply;

    cr_assert_str_eq(status_of(r), "executing");
    form_of(r);
    snprintf(sid, sizeof(sid), "%s", sid_of(r));
    xmpp_stanza_release(r);
    reply = cmd(from, node, sid, "complete", body);
    free(body);
    return reply;
}

static void
assert_user(const char *jid, bool enabled, const char *mailbox)
{
    struct cp_user u = {0};

    cr_assert_eq(cp_store_user_get(store, jid, &u), 0, "no user %s", jid);
    cr_assert_eq(u.enabled, enabled, "%s enabled=%d", jid, u.enabled);
    if (mailbox == NULL)
        cr_assert_null(u.mailbox, "%s mailbox %s", jid, u.mailbox);
    else
        cr_assert_str_eq(u.mailbox, mailbox);
    cp_user_clear(&u);
}

/* ---- disco ---- */

static size_t
disco_items_count(const char *from, bool *has_admin)
{
    char xml[512];
    xmpp_stanza_t *iq, *reply, *query, *item;
    size_t n = 0;

    snprintf(xml, sizeof(xml),
             "<iq type='get' id='d1' from='%s' to='" COMPONENT "'><query xmlns='"
             "http://jabber.org/protocol/disco#items' node='" CP_ADHOC_NS "'/></iq>",
             from);
    iq = xmpp_stanza_new_from_string(ctx, xml);
    reply = cp_adhoc_disco_items(adhoc, ctx, iq);
    cr_assert_not_null(reply);
    cr_assert_str_eq(xmpp_stanza_get_type(reply), "result");
    query = xmpp_stanza_get_child_by_name(reply, "query");
    cr_assert_str_eq(xmpp_stanza_get_attribute(query, "node"), CP_ADHOC_NS);
    *has_admin = false;
    for (item = xmpp_stanza_get_children(query); item; item = xmpp_stanza_get_next(item)) {
        const char *node = xmpp_stanza_get_attribute(item, "node");

        cr_assert_str_eq(xmpp_stanza_get_attribute(item, "jid"), COMPONENT);
        cr_assert_not_null(xmpp_stanza_get_attribute(item, "name"));
        if (strcmp(node, "reload") == 0 || strncmp(node, "users-", 6) == 0)
            *has_admin = true;
        n++;
    }
    xmpp_stanza_release(reply);
    xmpp_stanza_release(iq);
    return n;
}

Test(adhoc, disco_items_filtered_per_requester)
{
    bool admin;

    cr_assert_eq(disco_items_count(USER, &admin), 4);
    cr_assert_not(admin);
    cr_assert_eq(disco_items_count(OTHER_USER, &admin), 4);
    cr_assert_eq(disco_items_count(ADMIN, &admin), 11);
    cr_assert(admin);
    cr_assert_eq(disco_items_count(FOREIGN, &admin), 0);
    cr_assert_eq(disco_items_count("example.com", &admin), 0);
}

static xmpp_stanza_t *
disco_info(const char *from, const char *node)
{
    char xml[512];
    xmpp_stanza_t *iq, *reply;

    snprintf(xml, sizeof(xml),
             "<iq type='get' id='q1' from='%s' to='" COMPONENT "'><query xmlns='"
             "http://jabber.org/protocol/disco#info' node='%s'/></iq>",
             from, node);
    iq = xmpp_stanza_new_from_string(ctx, xml);
    reply = cp_adhoc_disco_info(adhoc, ctx, iq, node);
    xmpp_stanza_release(iq);
    return reply;
}

Test(adhoc, disco_info_of_command_nodes)
{
    xmpp_stanza_t *r = disco_info(USER, "enable"), *ident;

    cr_assert_not_null(r);
    ident = xmpp_stanza_get_child_by_name(xmpp_stanza_get_child_by_name(r, "query"), "identity");
    cr_assert_str_eq(xmpp_stanza_get_attribute(ident, "category"), "automation");
    cr_assert_str_eq(xmpp_stanza_get_type(ident), "command-node");
    xmpp_stanza_release(r);
    assert_error(disco_info(USER, "reload"), "auth", "forbidden", NULL);
    assert_error(disco_info(FOREIGN, "enable"), "auth", "forbidden", NULL);
    r = disco_info(ADMIN, "reload");
    cr_assert_str_eq(xmpp_stanza_get_type(r), "result");
    xmpp_stanza_release(r);
    cr_assert_null(disco_info(USER, "no-such-node"));
}

/* ---- user nodes ---- */

Test(adhoc, enable_names_the_calendar_jid)
{
    assert_completed_note(cmd(USER, "enable", NULL, NULL, NULL), "info", "alice@" COMPONENT);
    assert_user(USER_BARE, true, NULL);
    cr_assert_eq(hooks.changed, 1);
    cr_assert_str_eq(hooks.last_changed, USER_BARE);
    /* A user of a secondary domain gets the XEP-0106 escaped form. */
    assert_completed_note(cmd(OTHER_USER, "enable", NULL, NULL, NULL), "info",
                          "bob\\40other.org@" COMPONENT);
    assert_user("bob@other.org", true, NULL);
}

Test(adhoc, enable_completes_with_action_execute_too)
{
    assert_completed_note(cmd(USER, "enable", NULL, "execute", NULL), "info", "is on");
}

Test(adhoc, disable_turns_it_off)
{
    assert_completed_note(cmd(USER, "disable", NULL, NULL, NULL), "info", "was not on");
    cr_assert_eq(hooks.changed, 0);
    xmpp_stanza_release(cmd(USER, "enable", NULL, NULL, NULL));
    assert_completed_note(cmd(USER, "disable", NULL, NULL, NULL), "info", "is off");
    assert_user(USER_BARE, false, NULL);
    cr_assert_eq(hooks.changed, 2);
}

Test(adhoc, status_of_unknown_user)
{
    xmpp_stanza_t *r = cmd(USER, "status", NULL, NULL, NULL);

    cr_assert_str_eq(status_of(r), "completed");
    cr_assert_str_eq(cp_form_type(form_of(r)), "result");
    cr_assert_str_eq(field_of(r, "enabled"), "0");
    cr_assert_str_eq(field_of(r, "mailbox"), "alice@corp.example.com");
    cr_assert_str_eq(field_of(r, "state"), "unavailable");
    cr_assert_str_eq(field_of(r, "watchers"), "0");
    field_of(r, "until");
    field_of(r, "server");
    field_of(r, "subscription");
    field_of(r, "last_error");
    xmpp_stanza_release(r);
}

Test(adhoc, status_of_enabled_user_with_live_state)
{
    xmpp_stanza_t *r;

    cr_assert_eq(cp_store_user_enable(store, USER_BARE, "alice.smith@corp.example.com"), 0);
    cr_assert_eq(cp_store_subscriber_add(store, USER_BARE, "carol@example.com"), 0);
    cr_assert_eq(cp_store_subscriber_add(store, USER_BARE, "dave@example.com"), 0);
    hooks.status_known = true;
    r = cmd(USER, "status", NULL, NULL, NULL);
    cr_assert_str_eq(field_of(r, "enabled"), "1");
    cr_assert_str_eq(field_of(r, "mailbox"), "alice.smith@corp.example.com");
    cr_assert_str_eq(field_of(r, "state"), "busy");
    cr_assert_str_eq(field_of(r, "until"), "2026-11-23T10:00:00Z");
    cr_assert_str_eq(field_of(r, "server"), "https://cas1.example.com/EWS/Exchange.asmx");
    cr_assert_str_eq(field_of(r, "subscription"), "active");
    cr_assert_str_eq(field_of(r, "watchers"), "2");
    cr_assert_str_eq(field_of(r, "last_error"), "");
    cr_assert_null(note_of(r, NULL));
    xmpp_stanza_release(r);
}

Test(adhoc, status_without_engine_says_so)
{
    xmpp_stanza_t *r;
    const char *type;

    open_adhoc(&min_ops);
    cr_assert_eq(cp_store_user_enable(store, USER_BARE, NULL), 0);
    r = cmd(USER, "status", NULL, NULL, NULL);
    cr_assert_str_eq(field_of(r, "enabled"), "1");
    cr_assert_str_eq(field_of(r, "state"), "");
    cr_assert(strstr(note_of(r, &type), "not available yet") != NULL);
    xmpp_stanza_release(r);
}

Test(adhoc, settings_prefilled_then_stored)
{
    xmpp_stanza_t *r = cmd(USER, "settings", NULL, NULL, NULL);
    xmpp_stanza_t *actions;
    struct cp_user u = {0};

    cr_assert_str_eq(status_of(r), "executing");
    cr_assert_str_eq(cp_form_type(form_of(r)), "form");
    cr_assert_str_eq(field_of(r, "tentative"), "default");
    cr_assert_str_eq(field_of(r, "include_subject"), "0");
    actions = xmpp_stanza_get_child_by_name(command_of(r), "actions");
    cr_assert_str_eq(xmpp_stanza_get_attribute(actions, "execute"), "complete");
    cr_assert_not_null(xmpp_stanza_get_child_by_name(actions, "complete"));
    cr_assert_eq(strlen(sid_of(r)), 32);
    xmpp_stanza_release(r);

    assert_completed_note(two_stage(USER, "settings",
                                    "<field var='tentative'><value>busy</value></field>"
                                    "<field var='include_subject'><value>true</value></field>"),
                          "info", "saved");
    cr_assert_eq(cp_store_user_get(store, USER_BARE, &u), 0);
    cr_assert_eq(u.tentative, CP_USER_TENTATIVE_BUSY);
    cr_assert(u.include_subject);
    cr_assert_not(u.enabled);
    cp_user_clear(&u);
    cr_assert_eq(hooks.changed, 1);

    r = cmd(USER, "settings", NULL, NULL, NULL);
    cr_assert_str_eq(field_of(r, "tentative"), "busy");
    cr_assert_str_eq(field_of(r, "include_subject"), "1");
    xmpp_stanza_release(r);

    /* An omitted field keeps its value; action execute means complete here. */
    r = cmd(USER, "settings", NULL, NULL, NULL);
    {
        char sid[64], *body = submit("<field var='tentative'><value>free</value></field>");

        snprintf(sid, sizeof(sid), "%s", sid_of(r));
        xmpp_stanza_release(r);
        assert_completed_note(cmd(USER, "settings", sid, "execute", body), "info", "saved");
        free(body);
    }
    cr_assert_eq(cp_store_user_get(store, USER_BARE, &u), 0);
    cr_assert_eq(u.tentative, CP_USER_TENTATIVE_FREE);
    cr_assert(u.include_subject);
    cp_user_clear(&u);
}

/* The privileged-mode options (XEP-0356 presence permission): default, on or off, the default
 * option naming the admin's value; "default" stores NULL again. */
Test(adhoc, settings_privileged_options)
{
    xmpp_stanza_t *r = cmd(USER, "settings", NULL, NULL, NULL);
    struct cp_user u = {0};

    cr_assert_str_eq(field_of(r, "only_while_online"), "default");
    cr_assert_str_eq(field_of(r, "respect_own_status"), "default");
    char *xml = NULL;
    size_t len = 0;
    cr_assert_eq(xmpp_stanza_to_text(r, &xml, &len), 0);
    cr_assert_not_null(strstr(xml, "label=\"Server default (off)\""), "%s", xml);
    xmpp_free(ctx, xml);
    xmpp_stanza_release(r);

    assert_completed_note(two_stage(USER, "settings",
                                    "<field var='only_while_online'><value>on</value></field>"
                                    "<field var='respect_own_status'><value>off</value></field>"),
                          "info", "saved");
    cr_assert_eq(cp_store_user_get(store, USER_BARE, &u), 0);
    cr_assert_eq(u.priv.only_while_online, CP_USER_OPT_ON);
    cr_assert_eq(u.priv.respect_own_status, CP_USER_OPT_OFF);
    cr_assert_eq(u.priv.pep_activity, CP_USER_OPT_DEFAULT);
    cp_user_clear(&u);
    r = cmd(USER, "settings", NULL, NULL, NULL);
    cr_assert_str_eq(field_of(r, "only_while_online"), "on");
    cr_assert_str_eq(field_of(r, "respect_own_status"), "off");
    xmpp_stanza_release(r);

    /* an omitted option keeps its value; "default" follows the admin again */
    assert_completed_note(two_stage(USER, "settings",
                                    "<field var='only_while_online'><value>default</value>"
                                    "</field>"),
                          "info", "saved");
    cr_assert_eq(cp_store_user_get(store, USER_BARE, &u), 0);
    cr_assert_eq(u.priv.only_while_online, CP_USER_OPT_DEFAULT);
    cr_assert_eq(u.priv.respect_own_status, CP_USER_OPT_OFF);
    cp_user_clear(&u);

    assert_error(
        two_stage(USER, "settings", "<field var='respect_own_status'><value>maybe</value></field>"),
        "modify", "bad-request", "bad-payload");
}

Test(adhoc, settings_malformed_values_are_bad_payload)
{
    /* The client is told which field, not only bad-payload (issue 10 item 6). */
    xmpp_stanza_t *reply =
        two_stage(USER, "settings", "<field var='tentative'><value>maybe</value></field>");
    char *text = error_text(reply);
    cr_assert_not_null(text);
    cr_assert_str_eq(text, "field 'tentative': 'maybe' is not one of default, free, busy");
    xmpp_free(ctx, text);
    assert_error(reply, "modify", "bad-request", "bad-payload");
    assert_error(
        two_stage(USER, "settings", "<field var='include_subject'><value>yes</value></field>"),
        "modify", "bad-request", "bad-payload");
    assert_error(two_stage(USER, "settings",
                           "<field var='tentative'><value>busy</value><value>free</value>"
                           "</field>"),
                 "modify", "bad-request", "bad-payload");
    cr_assert_eq(cp_store_user_get(store, USER_BARE, &(struct cp_user){0}), CP_ENOTFOUND);
}

/* ---- rights ---- */

Test(adhoc, non_admin_is_forbidden_on_every_admin_node)
{
    static const char *const nodes[] = {"users-enable",   "users-disable", "users-list",
                                        "gateway-status", "certs-import",  "user-resubscribe",
                                        "reload"};
    size_t i;

    for (i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
        assert_error(cmd(USER, nodes[i], NULL, NULL, NULL), "auth", "forbidden", NULL);
        assert_error(cmd(OTHER_USER, nodes[i], NULL, NULL, NULL), "auth", "forbidden", NULL);
    }
    cr_assert_eq(hooks.changed, 0);
}

Test(adhoc, foreign_domain_is_forbidden_on_every_node)
{
    static const char *const nodes[] = {"enable",           "disable",        "status",
                                        "settings",         "users-enable",   "users-disable",
                                        "users-list",       "gateway-status", "certs-import",
                                        "user-resubscribe", "reload"};
    size_t i;

    for (i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++)
        assert_error(cmd(FOREIGN, nodes[i], NULL, NULL, NULL), "auth", "forbidden", NULL);
    /* An admin-looking localpart on a foreign domain is not an admin. */
    assert_error(cmd("admin@evil.net/x", "reload", NULL, NULL, NULL), "auth", "forbidden", NULL);
    /* The served domain itself (the server) is no user. */
    assert_error(cmd("example.com", "enable", NULL, NULL, NULL), "auth", "forbidden", NULL);
    cr_assert_eq(cp_store_users_count(store, false), 0);
}

/* Rights are checked at every stage: an admin removed by a reload cannot finish. */
Test(adhoc, rights_checked_at_every_stage)
{
    xmpp_stanza_t *r = cmd(ADMIN, "users-enable", NULL, NULL, NULL);
    char sid[64], *body = submit("<field var='users'><value>x@example.com</value></field>");

    snprintf(sid, sizeof(sid), "%s", sid_of(r));
    xmpp_stanza_release(r);
    cfg.admins.n = 0;
    assert_error(cmd(ADMIN, "users-enable", sid, "complete", body), "auth", "forbidden", NULL);
    cfg.admins.n = 1;
    cfg.domains.items = domains + 1;
    cfg.domains.n = 1;
    assert_error(cmd(ADMIN, "users-enable", sid, "complete", body), "auth", "forbidden", NULL);
    cfg.domains.items = domains;
    cfg.domains.n = 2;
    assert_completed_note(cmd(ADMIN, "users-enable", sid, "complete", body), "info", "Enabled 1");
    free(body);
}

Test(adhoc, admin_may_run_user_nodes_too)
{
    xmpp_stanza_t *r;

    assert_completed_note(cmd(ADMIN, "enable", NULL, NULL, NULL), "info", "admin@" COMPONENT);
    assert_user("admin@example.com", true, NULL);
    r = cmd(ADMIN, "status", NULL, NULL, NULL);
    cr_assert_str_eq(field_of(r, "enabled"), "1");
    cr_assert_str_eq(field_of(r, "mailbox"), "admin@corp.example.com");
    xmpp_stanza_release(r);
    assert_completed_note(
        two_stage(ADMIN, "settings", "<field var='include_subject'><value>1</value></field>"),
        "info", "saved");
    assert_completed_note(cmd(ADMIN, "disable", NULL, NULL, NULL), "info", "is off");
    assert_user("admin@example.com", false, NULL);
}

/* ---- admin nodes ---- */

Test(adhoc, users_enable_applies_all_lines)
{
    xmpp_stanza_t *r = cmd(ADMIN, "users-enable", NULL, NULL, NULL);
    xmpp_stanza_t *f = cp_form_get_field(form_of(r), "users");

    cr_assert_str_eq(xmpp_stanza_get_type(f), "text-multi");
    xmpp_stanza_release(r);
    assert_completed_note(two_stage(ADMIN, "users-enable",
                                    "<field var='users'><value>carol@example.com</value>"
                                    "<value> dave@Example.COM , d.jones@corp.example.com </value>"
                                    "<value></value><value>erin@other.org</value></field>"),
                          "info", "Enabled 3 users");
    assert_user("carol@example.com", true, NULL);
    assert_user("dave@example.com", true, "d.jones@corp.example.com");
    assert_user("erin@other.org", true, NULL);
    cr_assert_eq(hooks.changed, 3);
}

Test(adhoc, users_enable_bad_lines_apply_nothing)
{
    xmpp_stanza_t *r = two_stage(ADMIN, "users-enable",
                                 "<field var='users'>"
                                 "<value>ok@example.com</value>"               /* 1 */
                                 "<value>eve@evil.net</value>"                 /* 2 */
                                 "<value>nolocalpart.example.com</value>"      /* 3 */
                                 "<value>x@example.com,not-an-address</value>" /* 4 */
                                 "<value>y@example.com/res</value>"            /* 5 */
                                 "<value>ok@example.com</value>"               /* 6 */
                                 "<value>z@example.com,a@b@c</value>"          /* 7 */
                                 "</field>");
    const char *type, *note;

    cr_assert_str_eq(status_of(r), "executing");
    note = note_of(r, &type);
    cr_assert_str_eq(type, "error");
    cr_assert(strstr(note, "Nothing was applied: 6 bad lines") != NULL, "%s", note);
    cr_assert(strstr(note, "line 2: ") != NULL, "%s", note);
    cr_assert(strstr(note, "line 3: ") != NULL, "%s", note);
    cr_assert(strstr(note, "line 4: mailbox") != NULL, "%s", note);
    cr_assert(strstr(note, "line 5: ") != NULL, "%s", note);
    cr_assert(strstr(note, "line 6: repeats line 1") != NULL, "%s", note);
    cr_assert(strstr(note, "line 7: mailbox") != NULL, "%s", note);
    cr_assert(strstr(note, "line 1:") == NULL, "%s", note);
    /* The form comes back with the lines as sent, the session still open. */
    {
        char **lines;
        size_t n;

        cr_assert_eq(cp_form_get_lines(form_of(r), "users", 0, &lines, &n), 0);
        cr_assert_eq(n, 7);
        cr_assert_str_eq(lines[3], "x@example.com,not-an-address");
        cp_form_lines_free(lines, n);
    }
    {
        char sid[64], *body = submit("<field var='users'><value>ok@example.com</value></field>");

        snprintf(sid, sizeof(sid), "%s", sid_of(r));
        xmpp_stanza_release(r);
        cr_assert_eq(cp_store_users_count(store, false), 0);
        cr_assert_eq(hooks.changed, 0);
        assert_completed_note(cmd(ADMIN, "users-enable", sid, "complete", body), "info",
                              "Enabled 1 users");
        free(body);
    }
}

/* The refused lines come back built as text (issue 12): every character XML reserves must
 * reach the client as it was typed. */
Test(adhoc, users_enable_refused_lines_come_back_escaped)
{
    xmpp_stanza_t *r = two_stage(ADMIN, "users-enable",
                                 "<field var='users'>"
                                 "<value>a&amp;b&lt;c&gt;&quot;d&apos;@example.com</value>"
                                 "<value>ok@example.com,]]&gt;&amp;amp;</value>"
                                 "</field>");
    char **lines;
    size_t n;

    cr_assert_str_eq(status_of(r), "executing");
    cr_assert_eq(cp_form_get_lines(form_of(r), "users", 0, &lines, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(lines[0], "a&b<c>\"d'@example.com");
    cr_assert_str_eq(lines[1], "ok@example.com,]]>&amp;");
    cp_form_lines_free(lines, n);
    cr_assert_not_null(
        xmpp_stanza_get_child_by_name(cp_form_get_field(form_of(r), "users"), "required"));
    xmpp_stanza_release(r);
}

/* Issue 12: an admin's "Alice@EXAMPLE.COM" is the "alice@example.com" the server sends, so
 * her own status says enabled, and users-disable in any case reaches the same row. */
Test(adhoc, users_enable_mixed_case_is_the_user_the_server_sends)
{
    xmpp_stanza_t *r;

    assert_completed_note(two_stage(ADMIN, "users-enable",
                                    "<field var='users'><value>Alice@EXAMPLE.COM</value></field>"),
                          "info", "Enabled 1 users");
    assert_user(USER_BARE, true, NULL);
    cr_assert_eq(cp_store_users_count(store, false), 1);
    r = cmd(USER, "status", NULL, NULL, NULL);
    cr_assert_str_eq(field_of(r, "enabled"), "1");
    xmpp_stanza_release(r);
    assert_completed_note(two_stage(ADMIN, "users-disable",
                                    "<field var='users'><value>ALICE@example.com</value></field>"),
                          "info", "Disabled 1 users (0 were not known)");
    assert_user(USER_BARE, false, NULL);
}

/* Two spellings of one user in a batch are reported as such, and nothing is applied. */
Test(adhoc, users_enable_reports_case_only_duplicates)
{
    xmpp_stanza_t *r = two_stage(ADMIN, "users-enable",
                                 "<field var='users'>"
                                 "<value>bob@example.com</value>"                    /* 1 */
                                 "<value>carol@example.com</value>"                  /* 2 */
                                 "<value>BOB@Example.com,b@corp.example.com</value>" /* 3 */
                                 "<value>carol@example.com</value>"                  /* 4 */
                                 "</field>");
    const char *type, *note;

    cr_assert_str_eq(status_of(r), "executing");
    note = note_of(r, &type);
    cr_assert_str_eq(type, "error");
    cr_assert(strstr(note, "Nothing was applied: 2 bad lines") != NULL, "%s", note);
    cr_assert(strstr(note, "line 3: same user as line 1, bob@example.com (JIDs ignore case) "
                           "(BOB@Example.com)") != NULL,
              "%s", note);
    cr_assert(strstr(note, "line 4: repeats line 2 (carol@example.com)") != NULL, "%s", note);
    cr_assert_eq(cp_store_users_count(store, false), 0);
    xmpp_stanza_release(r);
}

Test(adhoc, users_enable_empty_submission)
{
    xmpp_stanza_t *r = two_stage(ADMIN, "users-enable", "<field var='users'/>");
    const char *type;

    cr_assert_str_eq(status_of(r), "executing");
    cr_assert(strstr(note_of(r, &type), "No users") != NULL);
    cr_assert_str_eq(type, "error");
    xmpp_stanza_release(r);
    assert_error(two_stage(ADMIN, "users-enable", ""), "modify", "bad-request", "bad-payload");
}

static void
count_changed(void *ud, const char *jid)
{
    (void)ud;
    (void)jid;
    hooks.changed++;
}

/* The issue's figure: 10,000 lines in one submission, applied in one batch. */
Test(adhoc, users_enable_ten_thousand_lines)
{
    enum { N = 10000 };
    size_t cap = (size_t)N * 64 + 64, len = 0, i;
    char *fields = malloc(cap);
    struct cp_adhoc_ops ops = all_ops;
    xmpp_stanza_t *r;

    ops.user_changed = count_changed;
    open_adhoc(&ops);
    len += (size_t)snprintf(fields, cap, "<field var='users'>");
    for (i = 0; i < N; i++)
        len += (size_t)snprintf(fields + len, cap - len,
                                i % 2 ? "<value>user%05zu@example.com</value>"
                                      : "<value>user%05zu@other.org,mb%05zu@corp.example.com"
                                        "</value>",
                                i, i);
    snprintf(fields + len, cap - len, "</field>");
    r = two_stage(ADMIN, "users-enable", fields);
    free(fields);
    assert_completed_note(r, "info", "Enabled 10000 users");
    cr_assert_eq(cp_store_users_count(store, true), N);
    cr_assert_eq(hooks.changed, N);
    assert_user("user00001@example.com", true, NULL);
    assert_user("user09998@other.org", true, "mb09998@corp.example.com");
}

Test(adhoc, users_disable_counts_unknown)
{
    cr_assert_eq(cp_store_user_enable(store, "carol@example.com", NULL), 0);
    cr_assert_eq(cp_store_user_enable(store, "dave@example.com", NULL), 0);
    assert_completed_note(two_stage(ADMIN, "users-disable",
                                    "<field var='users'><value>carol@example.com</value>"
                                    "<value>nobody@example.com</value></field>"),
                          "info", "Disabled 1 users (1 were not known)");
    assert_user("carol@example.com", false, NULL);
    assert_user("dave@example.com", true, NULL);
}

Test(adhoc, users_disable_refuses_mailboxes_and_bad_lines)
{
    xmpp_stanza_t *r;
    const char *type, *note;

    cr_assert_eq(cp_store_user_enable(store, "carol@example.com", NULL), 0);
    r = two_stage(ADMIN, "users-disable",
                  "<field var='users'><value>carol@example.com</value>"
                  "<value>dave@example.com,d@corp.example.com</value></field>");
    note = note_of(r, &type);
    cr_assert_str_eq(type, "error");
    cr_assert(strstr(note, "line 2:") != NULL, "%s", note);
    xmpp_stanza_release(r);
    assert_user("carol@example.com", true, NULL);
}

/* users-list's rows are built as text (issue 12): a mailbox holding characters XML reserves
 * reaches the client as stored, and the rows follow <reported/>. */
Test(adhoc, users_list_rows_escaped)
{
    xmpp_stanza_t *r, *c;
    char *v = NULL;

    cr_assert_eq(
        cp_store_user_enable(store, "frank@example.com", "o'neil&co\"<x>@corp.example.com"), 0);
    r = two_stage(ADMIN, "users-list", "<field var='max'><value>10</value></field>");
    c = xmpp_stanza_get_children(form_of(r));
    cr_assert_str_eq(xmpp_stanza_get_name(c), "title");
    c = xmpp_stanza_get_next(c);
    cr_assert_str_eq(xmpp_stanza_get_name(c), "reported");
    c = xmpp_stanza_get_next(c);
    cr_assert_str_eq(xmpp_stanza_get_name(c), "item");
    cr_assert_null(xmpp_stanza_get_next(c));
    cr_assert_eq(cp_form_get_single(c, "mailbox", &v), 0);
    cr_assert_str_eq(v, "o'neil&co\"<x>@corp.example.com");
    free(v);
    cr_assert_eq(cp_form_get_single(c, "jid", &v), 0);
    cr_assert_str_eq(v, "frank@example.com");
    free(v);
    xmpp_stanza_release(r);
}

/* The reported table's columns and the rows of the matching users. */
Test(adhoc, users_list_table)
{
    xmpp_stanza_t *r, *form, *rep, *c;
    size_t items = 0, cols = 0;
    const char *want[] = {"jid", "mailbox", "enabled", "state", "server", "subscription", "mode"};

    cr_assert_eq(cp_store_user_enable(store, "carol@example.com", "c@corp.example.com"), 0);
    cr_assert_eq(cp_store_user_enable(store, "dave@example.com", NULL), 0);
    cr_assert_eq(cp_store_user_disable(store, "dave@example.com"), 0);
    cr_assert_eq(cp_store_user_enable(store, "erin@other.org", NULL), 0);
    hooks.status_known = true;

    r = cmd(ADMIN, "users-list", NULL, NULL, NULL);
    cr_assert_str_eq(field_of(r, "max"), "100");
    cr_assert_str_eq(field_of(r, "filter"), "");
    xmpp_stanza_release(r);

    r = two_stage(ADMIN, "users-list",
                  "<field var='filter'><value>example.com</value></field>"
                  "<field var='max'><value>100</value></field>");
    cr_assert_str_eq(status_of(r), "completed");
    form = form_of(r);
    cr_assert_str_eq(cp_form_type(form), "result");
    rep = xmpp_stanza_get_child_by_name(form, "reported");
    for (c = xmpp_stanza_get_children(rep); c; c = xmpp_stanza_get_next(c))
        cr_assert_str_eq(xmpp_stanza_get_attribute(c, "var"), want[cols++]);
    cr_assert_eq(cols, 7);
    for (c = xmpp_stanza_get_children(form); c; c = xmpp_stanza_get_next(c)) {
        char *v = NULL;

        if (strcmp(xmpp_stanza_get_name(c), "item") != 0)
            continue;
        cr_assert_eq(cp_form_get_single(c, "jid", &v), 0);
        if (items == 0) {
            cr_assert_str_eq(v, "carol@example.com");
            free(v);
            cr_assert_eq(cp_form_get_single(c, "mailbox", &v), 0);
            cr_assert_str_eq(v, "c@corp.example.com");
            free(v);
            cr_assert_eq(cp_form_get_single(c, "state", &v), 0);
            cr_assert_str_eq(v, "busy");
            free(v);
            cr_assert_eq(cp_form_get_single(c, "subscription", &v), 0);
            cr_assert_str_eq(v, "active");
        } else {
            cr_assert_str_eq(v, "dave@example.com");
            free(v);
            cr_assert_eq(cp_form_get_single(c, "enabled", &v), 0);
            cr_assert_str_eq(v, "0");
            free(v);
            cr_assert_eq(cp_form_get_single(c, "mailbox", &v), 0);
            cr_assert_str_eq(v, "dave@corp.example.com");
            free(v);
            cr_assert_eq(cp_form_get_single(c, "state", &v), 0);
            cr_assert_str_eq(v, "unavailable");
        }
        free(v);
        items++;
    }
    cr_assert_eq(items, 2);
    cr_assert(strstr(note_of(r, NULL), "2 users") != NULL);
    xmpp_stanza_release(r);
}

Test(adhoc, users_list_max_cuts_and_says_so)
{
    xmpp_stanza_t *r, *c;
    size_t items = 0;

    cr_assert_eq(cp_store_user_enable(store, "a@example.com", NULL), 0);
    cr_assert_eq(cp_store_user_enable(store, "b@example.com", NULL), 0);
    cr_assert_eq(cp_store_user_enable(store, "c@example.com", NULL), 0);
    r = two_stage(ADMIN, "users-list", "<field var='max'><value>2</value></field>");
    for (c = xmpp_stanza_get_children(form_of(r)); c; c = xmpp_stanza_get_next(c))
        items += strcmp(xmpp_stanza_get_name(c), "item") == 0;
    cr_assert_eq(items, 2);
    cr_assert(strstr(note_of(r, NULL), "more match") != NULL);
    xmpp_stanza_release(r);
}

Test(adhoc, users_list_max_validated)
{
    static const char *const bad[] = {"0", "10001", "abc", "5x", "", "-3", "99999999999999999999"};
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char fields[128];
        xmpp_stanza_t *r;
        const char *type;

        snprintf(fields, sizeof(fields), "<field var='max'><value>%s</value></field>", bad[i]);
        r = two_stage(ADMIN, "users-list", fields);
        cr_assert_str_eq(status_of(r), "executing", "max=%s", bad[i]);
        cr_assert(strstr(note_of(r, &type), "1 to 10000") != NULL);
        cr_assert_str_eq(type, "error");
        cr_assert_str_eq(field_of(r, "max"), bad[i]);
        xmpp_stanza_release(r);
    }
    xmpp_stanza_t *r =
        two_stage(ADMIN, "users-list", "<field var='max'><value>10000</value></field>");
    cr_assert_str_eq(status_of(r), "completed");
    xmpp_stanza_release(r);
}

/* Submits gateway-status's form with BODY in session SID; the command defers its answer, so
 * cp_adhoc_handle returns nothing. */
static void
submit_gateway(const char *sid, const char *body)
{
    char xml[1024];
    snprintf(xml, sizeof(xml),
             "<iq type='set' id='q2' from='" ADMIN "' to='" COMPONENT
             "'><command xmlns='http://jabber.org/protocol/commands' node='gateway-status' "
             "sessionid='%s' action='complete'>%s</command></iq>",
             sid, body);
    xmpp_stanza_t *iq = xmpp_stanza_new_from_string(ctx, xml);
    cr_assert_not_null(iq);
    size_t len;
    cr_assert_null(cp_adhoc_handle(adhoc, ctx, iq, T0, &len), "answered before the check was done");
    xmpp_stanza_release(iq);
}

/* Starts gateway-status: the form asks for an optional mailbox. Returns the session id. */
static const char *
start_gateway(void)
{
    xmpp_stanza_t *r = cmd(ADMIN, "gateway-status", NULL, NULL, NULL);
    cr_assert_str_eq(status_of(r), "executing");
    cr_assert_str_eq(field_of(r, "mailbox"), "");
    const char *sid = sid_of(r);
    xmpp_stanza_release(r);
    return sid;
}

/* The answer waits for the check the admin asked for (issue 10: not "running, run again"). */
Test(adhoc, gateway_status_answers_when_the_check_is_done)
{
    char **lines;
    size_t n;
    char sid[64];

    cr_assert_eq(cp_store_user_enable(store, "carol@example.com", NULL), 0);
    snprintf(sid, sizeof(sid), "%s", start_gateway());
    char *body = submit("<field var='mailbox'><value>alice@example.com</value></field>");
    submit_gateway(sid, body);
    free(body);
    cr_assert_eq(hooks.gateway_calls, 1);
    cr_assert_str_eq(hooks.gateway_mailbox, "alice@example.com");
    cr_assert_not_null(hooks.deferred);

    /* The daemon answers when the troubleshooter is done, with its report. */
    xmpp_stanza_t *r = cp_adhoc_deferred_finish(adhoc, hooks.deferred, hooks.gateway_report);
    hooks.deferred = NULL;
    cr_assert_not_null(r);
    cr_assert_str_eq(xmpp_stanza_get_id(r), "q2");
    cr_assert_str_eq(xmpp_stanza_get_to(r), ADMIN);
    cr_assert_str_eq(status_of(r), "completed");
    cr_assert_str_eq(sid_of(r), sid);
    cr_assert_str_eq(field_of(r, "users"), "1");
    cr_assert_str_eq(field_of(r, "enabled_users"), "1");
    cr_assert_eq(cp_form_get_lines(form_of(r), "report", 0, &lines, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(lines[1], "  tls: verified");
    cp_form_lines_free(lines, n);
    xmpp_stanza_release(r);

    /* The session ended with the submission: it cannot be continued. */
    assert_error(cmd(ADMIN, "gateway-status", sid, "complete",
                     "<x xmlns='jabber:x:data' "
                     "type='submit'/>"),
                 "modify", "bad-request", "bad-sessionid");
}

Test(adhoc, gateway_status_mailbox_optional_and_checked)
{
    char sid[64];

    snprintf(sid, sizeof(sid), "%s", start_gateway());
    char *body = submit("<field var='mailbox'><value></value></field>");
    submit_gateway(sid, body);
    free(body);
    cr_assert_str_eq(hooks.gateway_mailbox, "(none)");

    xmpp_stanza_t *r = two_stage(ADMIN, "gateway-status",
                                 "<field var='mailbox'><value>not a mailbox</value></field>");
    char *text = error_text(r);
    cr_assert_str_eq(text, "field 'mailbox' must be an e-mail address (or empty)");
    xmpp_free(ctx, text);
    assert_error(r, "modify", "bad-request", "bad-payload");
    cr_assert_eq(hooks.gateway_calls, 1, "no check for a bad mailbox");

    /* The daemon cannot take it (too many waiting): answered at once, with the reason. */
    hooks.gateway_rc = CP_EFULL;
    assert_completed_note(two_stage(ADMIN, "gateway-status", ""), "error", "could not be started");
}

Test(adhoc, hooks_missing_answer_not_available_yet)
{
    static const char *const nodes[] = {"gateway-status", "certs-import", "user-resubscribe",
                                        "reload"};
    size_t i;

    open_adhoc(&min_ops);
    for (i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
        assert_completed_note(cmd(ADMIN, nodes[i], NULL, NULL, NULL), "info", "not available yet");
        assert_error(cmd(USER, nodes[i], NULL, NULL, NULL), "auth", "forbidden", NULL);
    }
}

Test(adhoc, certs_import_three_stages)
{
    xmpp_stanza_t *r = cmd(ADMIN, "certs-import", NULL, NULL, NULL);
    xmpp_stanza_t *actions;
    char sid[64], *body;
    char **lines;
    size_t n;

    cr_assert_str_eq(status_of(r), "executing");
    actions = xmpp_stanza_get_child_by_name(command_of(r), "actions");
    cr_assert_str_eq(xmpp_stanza_get_attribute(actions, "execute"), "next");
    field_of(r, "host");
    snprintf(sid, sizeof(sid), "%s", sid_of(r));
    xmpp_stanza_release(r);

    /* complete is not offered at this stage */
    body = submit("<field var='host'><value>cas1.example.com:443</value></field>");
    assert_error(cmd(ADMIN, "certs-import", sid, "complete", body), "modify", "bad-request",
                 "bad-action");
    r = cmd(ADMIN, "certs-import", sid, "next", body);
    free(body);
    cr_assert_str_eq(status_of(r), "executing");
    cr_assert_str_eq(sid_of(r), sid);
    cr_assert_eq(cp_form_get_lines(form_of(r), "chain", 0, &lines, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(lines[1], "1: CN=Example Root CA (missing)");
    cp_form_lines_free(lines, n);
    cr_assert_str_eq(field_of(r, "accept"), "0");
    xmpp_stanza_release(r);

    body = submit("<field var='accept'><value>true</value></field>");
    assert_completed_note(cmd(ADMIN, "certs-import", sid, "complete", body), "info",
                          "1 certificate imported");
    free(body);
    cr_assert_eq(hooks.imports, 1);
    cr_assert_str_eq(hooks.imported_host, "cas1.example.com:443");
}

/* Shows the chain of cas1.example.com in a new certs-import session, then accepts it: returns
 * the final reply (caller releases). */
static xmpp_stanza_t *
certs_import_accepted(void)
{
    xmpp_stanza_t *r = cmd(ADMIN, "certs-import", NULL, NULL, NULL);
    char sid[64], *body;

    snprintf(sid, sizeof(sid), "%s", sid_of(r));
    xmpp_stanza_release(r);
    body = submit("<field var='host'><value>cas1.example.com</value></field>");
    r = cmd(ADMIN, "certs-import", sid, "next", body);
    free(body);
    cr_assert_str_eq(field_of(r, "accept"), "0");
    xmpp_stanza_release(r);
    /* what the server presents from now on */
    hooks.fps_now = "AB:CD:02\n";
    body = submit("<field var='accept'><value>1</value></field>");
    r = cmd(ADMIN, "certs-import", sid, "complete", body);
    free(body);
    return r;
}

/* The import is of the chain the admin accepted: stage 3 hands the fingerprints stage 2 showed
 * to the import, which refuses a chain that changed in between, and the admin is told to look
 * again; the same fingerprints import. */
Test(adhoc, certs_import_refuses_a_chain_changed_since_shown)
{
    hooks.fps_shown = "AB:CD:01\nEF:01:23\n";
    assert_completed_note(certs_import_accepted(), "error", "changed since it was shown");
    cr_assert_str_eq(hooks.imported_fps, "AB:CD:01\nEF:01:23\n");
    cr_assert_eq(hooks.refused, 1);
    cr_assert_eq(hooks.imports, 0);

    hooks.fps_shown = "AB:CD:02\n";
    assert_completed_note(certs_import_accepted(), "info", "1 certificate imported");
    cr_assert_str_eq(hooks.imported_fps, "AB:CD:02\n");
    cr_assert_eq(hooks.refused, 1);
    cr_assert_eq(hooks.imports, 1);

    /* nothing to add when shown, a CA to add at import time */
    hooks.fps_shown = "";
    assert_completed_note(certs_import_accepted(), "error", "Run the command again");
    cr_assert_str_eq(hooks.imported_fps, "");
    cr_assert_eq(hooks.refused, 2);
    cr_assert_eq(hooks.imports, 1);
}

/* A wiring with only the hooks that import what the server presents at the last stage (the
 * chain the admin never saw) does not get the command. */
Test(adhoc, certs_import_needs_the_pinned_hooks)
{
    struct cp_adhoc_ops ops = all_ops;

    ops.certs_import_pinned = NULL;
    open_adhoc(&ops);
    assert_completed_note(cmd(ADMIN, "certs-import", NULL, NULL, NULL), "info",
                          "not available yet");
}

Test(adhoc, certs_import_declined_or_unreachable)
{
    xmpp_stanza_t *r = cmd(ADMIN, "certs-import", NULL, NULL, NULL);
    char sid[64], *body;
    const char *type;

    snprintf(sid, sizeof(sid), "%s", sid_of(r));
    xmpp_stanza_release(r);
    body = submit("<field var='host'><value>down.example.com</value></field>");
    r = cmd(ADMIN, "certs-import", sid, "next", body);
    free(body);
    cr_assert_str_eq(status_of(r), "executing");
    cr_assert(strstr(note_of(r, &type), "network-error") != NULL);
    cr_assert_str_eq(type, "error");
    cr_assert_str_eq(field_of(r, "host"), "down.example.com");
    xmpp_stanza_release(r);
    body = submit("<field var='host'><value>cas1.example.com</value></field>");
    xmpp_stanza_release(cmd(ADMIN, "certs-import", sid, "next", body));
    free(body);
    body = submit("<field var='accept'><value>0</value></field>");
    assert_completed_note(cmd(ADMIN, "certs-import", sid, "complete", body), "info",
                          "Nothing was imported");
    free(body);
    cr_assert_eq(hooks.imports, 0);
}

Test(adhoc, user_resubscribe)
{
    xmpp_stanza_t *r;
    const char *type;

    cr_assert_eq(cp_store_user_enable(store, "carol@example.com", NULL), 0);
    assert_completed_note(two_stage(ADMIN, "user-resubscribe",
                                    "<field var='jid'><value>carol@example.com</value></field>"),
                          "info", "resubscribing carol@example.com");
    cr_assert_eq(hooks.resubscribes, 1);
    r = two_stage(ADMIN, "user-resubscribe",
                  "<field var='jid'><value>nobody@example.com</value></field>");
    cr_assert_str_eq(status_of(r), "executing");
    cr_assert(strstr(note_of(r, &type), "not a known user") != NULL);
    xmpp_stanza_release(r);
    r = two_stage(ADMIN, "user-resubscribe",
                  "<field var='jid'><value>eve@evil.net</value></field>");
    cr_assert(strstr(note_of(r, &type), "not a user of a domain served here") != NULL);
    xmpp_stanza_release(r);
    cr_assert_eq(hooks.resubscribes, 1);
}

Test(adhoc, reload_reports_the_hook_message)
{
    assert_completed_note(cmd(ADMIN, "reload", NULL, NULL, NULL), "info", "log.level changed");
    hooks.reload_rc = -2;
    assert_completed_note(cmd(ADMIN, "reload", NULL, NULL, NULL), "error", "bad:3: x");
}

/* ---- sessions and malformed requests ---- */

Test(adhoc, unknown_and_foreign_session_ids)
{
    xmpp_stanza_t *r = cmd(USER, "settings", NULL, NULL, NULL);
    char sid[64], *body = submit("");

    snprintf(sid, sizeof(sid), "%s", sid_of(r));
    xmpp_stanza_release(r);
    assert_error(cmd(USER, "settings", "0123456789abcdef0123456789abcdef", "complete", body),
                 "modify", "bad-request", "bad-sessionid");
    /* The same user from another resource, or another node, cannot use the session. */
    assert_error(cmd(USER_BARE "/tablet", "settings", sid, "complete", body), "modify",
                 "bad-request", "bad-sessionid");
    assert_error(cmd(USER, "status", sid, "complete", body), "modify", "bad-request",
                 "bad-sessionid");
    assert_completed_note(cmd(USER, "settings", sid, "complete", body), "info", "saved");
    /* A completed session is gone. */
    assert_error(cmd(USER, "settings", sid, "complete", body), "modify", "bad-request",
                 "bad-sessionid");
    free(body);
}

Test(adhoc, session_ids_are_random)
{
    xmpp_stanza_t *a = cmd(USER, "settings", NULL, NULL, NULL);
    xmpp_stanza_t *b = cmd(USER, "settings", NULL, NULL, NULL);
    char sa[64];
    size_t i;

    snprintf(sa, sizeof(sa), "%s", sid_of(a));
    cr_assert_str_neq(sa, sid_of(b));
    for (i = 0; i < 32; i++)
        cr_assert(strchr("0123456789abcdef", sa[i]) != NULL);
    xmpp_stanza_release(a);
    xmpp_stanza_release(b);
}

Test(adhoc, sessions_expire)
{
    xmpp_stanza_t *r = send_at(USER, "settings", NULL, NULL, NULL, T0);
    char sid[64], sid2[64], *body = submit("");

    snprintf(sid, sizeof(sid), "%s", sid_of(r));
    xmpp_stanza_release(r);
    /* Idle past the TTL: refused even before cp_adhoc_expire runs. */
    assert_error(send_at(USER, "settings", sid, "complete", body, T0 + CP_ADHOC_SESSION_TTL + 1),
                 "modify", "bad-request", "bad-sessionid");

    r = send_at(USER, "settings", NULL, NULL, NULL, T0);
    snprintf(sid2, sizeof(sid2), "%s", sid_of(r));
    xmpp_stanza_release(r);
    cp_adhoc_expire(adhoc, T0 + CP_ADHOC_SESSION_TTL - 1);
    /* Still alive just under the TTL, but cp_adhoc_expire drops it once past. */
    cp_adhoc_expire(adhoc, T0 + CP_ADHOC_SESSION_TTL + 1);
    assert_error(send_at(USER, "settings", sid2, "complete", body, T0 + 1), "modify", "bad-request",
                 "bad-sessionid");

    r = send_at(USER, "settings", NULL, NULL, NULL, T0);
    snprintf(sid2, sizeof(sid2), "%s", sid_of(r));
    xmpp_stanza_release(r);
    cp_adhoc_expire(adhoc, T0 + CP_ADHOC_SESSION_TTL - 1);
    assert_completed_note(
        send_at(USER, "settings", sid2, "complete", body, T0 + CP_ADHOC_SESSION_TTL - 1), "info",
        "saved");
    free(body);
}

Test(adhoc, cancel_ends_the_session)
{
    xmpp_stanza_t *r = cmd(ADMIN, "users-enable", NULL, NULL, NULL);
    char sid[64], *body = submit("<field var='users'><value>x@example.com</value></field>");

    snprintf(sid, sizeof(sid), "%s", sid_of(r));
    xmpp_stanza_release(r);
    r = cmd(ADMIN, "users-enable", sid, "cancel", NULL);
    cr_assert_str_eq(status_of(r), "canceled");
    cr_assert_str_eq(sid_of(r), sid);
    xmpp_stanza_release(r);
    assert_error(cmd(ADMIN, "users-enable", sid, "complete", body), "modify", "bad-request",
                 "bad-sessionid");
    cr_assert_eq(cp_store_users_count(store, false), 0);
    /* A form of type cancel cancels too. */
    r = cmd(ADMIN, "users-enable", NULL, NULL, NULL);
    snprintf(sid, sizeof(sid), "%s", sid_of(r));
    xmpp_stanza_release(r);
    r = cmd(ADMIN, "users-enable", sid, NULL, "<x xmlns='jabber:x:data' type='cancel'/>");
    cr_assert_str_eq(status_of(r), "canceled");
    xmpp_stanza_release(r);
    free(body);
}

Test(adhoc, wrong_actions)
{
    xmpp_stanza_t *r;
    char sid[64], *body = submit("");

    assert_error(cmd(USER, "settings", NULL, "complete", NULL), "modify", "bad-request",
                 "bad-action");
    assert_error(cmd(USER, "enable", NULL, "next", NULL), "modify", "bad-request", "bad-action");
    assert_error(cmd(USER, "settings", NULL, "cancel", NULL), "modify", "bad-request",
                 "bad-action");
    r = cmd(USER, "settings", NULL, NULL, NULL);
    snprintf(sid, sizeof(sid), "%s", sid_of(r));
    xmpp_stanza_release(r);
    assert_error(cmd(USER, "settings", sid, "prev", body), "modify", "bad-request", "bad-action");
    assert_error(cmd(USER, "settings", sid, "next", body), "modify", "bad-request", "bad-action");
    assert_error(cmd(USER, "settings", sid, "bogus", body), "modify", "bad-request", "bad-action");
    /* The session survives a wrong action. */
    assert_completed_note(cmd(USER, "settings", sid, "complete", body), "info", "saved");
    free(body);
}

Test(adhoc, malformed_payloads)
{
    xmpp_stanza_t *r = cmd(USER, "settings", NULL, NULL, NULL);
    char sid[64];

    snprintf(sid, sizeof(sid), "%s", sid_of(r));
    xmpp_stanza_release(r);
    assert_error(cmd(USER, "settings", sid, "complete", NULL), "modify", "bad-request",
                 "bad-payload");
    assert_error(cmd(USER, "settings", sid, "complete", "<x xmlns='jabber:x:data' type='form'/>"),
                 "modify", "bad-request", "bad-payload");
    assert_error(cmd(USER, "settings", sid, "complete", "<x xmlns='wrong' type='submit'/>"),
                 "modify", "bad-request", "bad-payload");
}

Test(adhoc, malformed_requests)
{
    xmpp_stanza_t *iq, *reply;

    assert_error(cmd(USER, "no-such-node", NULL, NULL, NULL), "cancel", "item-not-found", NULL);
    iq = xmpp_stanza_new_from_string(ctx, "<iq type='set' id='q1' from='" USER "' to='" COMPONENT
                                          "'><command xmlns='" CP_ADHOC_NS "'/></iq>");
    assert_error(handle(iq, T0), "modify", "bad-request", NULL);
    xmpp_stanza_release(iq);
    iq = xmpp_stanza_new_from_string(ctx, "<iq type='set' id='q1' from='" USER "' to='" COMPONENT
                                          "'><query xmlns='other'/></iq>");
    assert_error(handle(iq, T0), "modify", "bad-request", NULL);
    xmpp_stanza_release(iq);
    iq =
        xmpp_stanza_new_from_string(ctx, "<iq type='set' id='q1' to='" COMPONENT
                                         "'><command xmlns='" CP_ADHOC_NS "' node='enable'/></iq>");
    reply = handle(iq, T0);
    assert_error(reply, "modify", "bad-request", NULL);
    xmpp_stanza_release(iq);
    cr_assert_eq(cp_store_users_count(store, false), 0);
}

Test(adhoc, sessions_bounded_per_jid_and_in_total)
{
    char from[64];
    size_t i;
    xmpp_stanza_t *r;

    for (i = 0; i < 10; i++) {
        r = cmd(USER, "settings", NULL, NULL, NULL);
        cr_assert_str_eq(status_of(r), "executing");
        xmpp_stanza_release(r);
    }
    assert_error(cmd(USER, "settings", NULL, NULL, NULL), "wait", "resource-constraint", NULL);
    /* Single-stage commands need no session and still work. */
    assert_completed_note(cmd(USER, "enable", NULL, NULL, NULL), "info", "is on");
    /* Expired sessions make room again. */
    r = send_at(USER, "settings", NULL, NULL, NULL, T0 + CP_ADHOC_SESSION_TTL + 1);
    cr_assert_str_eq(status_of(r), "executing");
    xmpp_stanza_release(r);

    /* Users fill the table up to the part reserved for admins (one session is already open). */
    size_t users_cap = CP_ADHOC_MAX_SESSIONS - CP_ADHOC_ADMIN_RESERVED;
    for (i = 0; i < users_cap; i++) {
        snprintf(from, sizeof(from), "u%zu@example.com/r", i);
        r = send_at(from, "settings", NULL, NULL, NULL, T0 + CP_ADHOC_SESSION_TTL + 1);
        if (i < users_cap - 1)
            cr_assert_str_eq(status_of(r), "executing", "session %zu", i);
        else
            assert_error(r, "wait", "resource-constraint", NULL);
        if (i < users_cap - 1)
            xmpp_stanza_release(r);
    }
    /* Admins still get sessions, in the part reserved for them. */
    for (i = 0; i < CP_ADHOC_MAX_SESSIONS_PER_JID; i++) {
        snprintf(from, sizeof(from), "%s%zu", ADMIN, i);
        r = send_at(from, "users-list", NULL, NULL, NULL, T0 + CP_ADHOC_SESSION_TTL + 1);
        cr_assert_str_eq(status_of(r), "executing", "admin session %zu past the users' cap", i);
        xmpp_stanza_release(r);
    }
}

/* ---- replies stay below the XMPP server's stanza size limit ---- */

Test(adhoc, users_list_cut_below_stanza_limit)
{
    enum { N = 3000 };
    char **jids = calloc(N, sizeof(*jids)), **mbs = calloc(N, sizeof(*mbs));
    xmpp_stanza_t *r, *c;
    size_t i, items = 0;

    for (i = 0; i < N; i++) {
        cr_assert(asprintf(&jids[i], "user%05zu.with.a.rather.long.localpart@example.com", i) > 0);
        cr_assert(asprintf(&mbs[i], "mailbox%05zu.of.a.user@corp.example.com", i) > 0);
    }
    cr_assert_eq(
        cp_store_users_enable_batch(store, (const char *const *)jids, (const char *const *)mbs, N),
        0);
    for (i = 0; i < N; i++) {
        free(jids[i]);
        free(mbs[i]);
    }
    free(jids);
    free(mbs);
    hooks.status_known = true;
    r = two_stage(ADMIN, "users-list", "<field var='max'><value>10000</value></field>");
    for (c = xmpp_stanza_get_children(form_of(r)); c; c = xmpp_stanza_get_next(c))
        items += strcmp(xmpp_stanza_get_name(c), "item") == 0;
    cr_assert(items > 100 && items < N, "%zu items", items);
    cr_assert(strstr(note_of(r, NULL), "would not fit") != NULL);
    cr_assert_leq(last_reply_len, 512 * 1024);
    xmpp_stanza_release(r);
}

/* One bad line among 10,000 long ones: nothing applied, the note names it, and the form is
 * not echoed back when that would not fit in one stanza. */
Test(adhoc, users_enable_bad_line_among_ten_thousand)
{
    enum { N = 10000 };
    size_t cap = (size_t)N * 128 + 64, len = 0, i;
    char *fields = malloc(cap);
    xmpp_stanza_t *r;
    const char *note, *type;

    len += (size_t)snprintf(fields, cap, "<field var='users'><value>");
    for (i = 0; i < N - 1; i++)
        len += (size_t)snprintf(fields + len, cap - len,
                                "user%05zu@example.com,first.last.%05zu@corp.example.com\n", i, i);
    snprintf(fields + len, cap - len, "foreign@example.net</value></field>");
    r = two_stage(ADMIN, "users-enable", fields);
    free(fields);
    cr_assert_str_eq(status_of(r), "executing");
    note = note_of(r, &type);
    cr_assert_str_eq(type, "error");
    cr_assert(strstr(note, "1 bad line.\nline 10000: ") != NULL, "%s", note);
    cr_assert(strstr(note, "not shown again") != NULL, "%s", note);
    cr_assert_leq(last_reply_len, 512 * 1024);
    xmpp_stanza_release(r);
    cr_assert_eq(cp_store_users_count(store, false), 0);
}
