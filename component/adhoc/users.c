/* The admin commands over many users: users-enable and users-disable (one user a line, all or
 * nothing) and users-list (a reported table). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adhoc_int.h"
#include "config/config.h"
#include "forms.h"

#define LIST_DEFAULT_MAX "100"
#define LIST_MAX 10000

/* users-list's rows are built as text (req->wide): see forms.h, "Wide forms". */
struct list_ctx {
    struct cp_adhoc_req *req;
    size_t shown;
    size_t max;
    size_t bytes;   /* estimated size of the rows so far */
    bool too_large; /* cut at CP_ADHOC_REPLY_MAX */
};

/* Markup around one row of users-list (6 fields) and around one <value/>: size estimates. */
#define ROW_OVERHEAD 320
#define VALUE_OVERHEAD 16

static int parse_batch(struct cp_adhoc_req *req, char **text, size_t ntext, bool with_mailbox,
                       struct cp_users_batch *b);
static xmpp_stanza_t *users_form(struct cp_adhoc_req *req, bool enable);
static xmpp_stanza_t *users_apply(struct cp_adhoc_req *req, bool enable, struct cp_users_batch *b);
static xmpp_stanza_t *users_submit(struct cp_adhoc_req *req, bool enable);
static xmpp_stanza_t *list_form(struct cp_adhoc_req *req, const char *filter, const char *max);
static int list_row(const struct cp_user *user, void *ud);
static xmpp_stanza_t *list_result(struct cp_adhoc_req *req);

static int
parse_batch(struct cp_adhoc_req *req, char **text, size_t ntext, bool with_mailbox,
            struct cp_users_batch *b)
{
    size_t i;
    int rc;

    cp_users_batch_init(b, with_mailbox);
    for (i = 0; i < ntext; i++) {
        rc = cp_users_batch_line(b, req->cfg, text[i], i + 1);
        if (rc != 0)
            return rc;
    }
    return cp_users_batch_finish(b);
}

static xmpp_stanza_t *
users_form(struct cp_adhoc_req *req, bool enable)
{
    xmpp_stanza_t *form = cp_form_new(
        req->ctx, "form", enable ? "Enable users" : "Disable users",
        enable ? "One user a line: a bare JID, or JID,mailbox when the Exchange mailbox differs."
               : "One bare JID a line.");
    xmpp_stanza_t *f;

    if (form == NULL)
        return NULL;
    f = cp_form_add_field(form, "users", "text-multi", "Users", NULL);
    if (f == NULL || cp_form_field_set_required(f) != 0) {
        xmpp_stanza_release(form);
        return NULL;
    }
    return form;
}

static xmpp_stanza_t *
users_apply(struct cp_adhoc_req *req, bool enable, struct cp_users_batch *b)
{
    const char **jids = calloc(b->n, sizeof(*jids));
    const char **mailboxes = calloc(b->n, sizeof(*mailboxes));
    size_t i, missing = 0;
    char note[128];
    int rc;

    if (jids == NULL || mailboxes == NULL) {
        free(jids);
        free(mailboxes);
        return NULL;
    }
    for (i = 0; i < b->n; i++) {
        jids[i] = b->lines[i].jid;
        mailboxes[i] = b->lines[i].mailbox;
    }
    if (enable)
        rc = cp_store_users_enable_batch(req->adhoc->store, jids, mailboxes, b->n);
    else
        rc = cp_store_users_disable_batch(req->adhoc->store, jids, b->n, &missing);
    free(mailboxes);
    if (rc != 0) {
        free(jids);
        return cp_adhoc_error(req, "wait", "internal-server-error", NULL);
    }
    for (i = 0; i < b->n && req->adhoc->ops.user_changed != NULL; i++)
        req->adhoc->ops.user_changed(req->adhoc->ud, jids[i]);
    free(jids);
    cp_log_info("adhoc", "%s: %s: %zu users", req->bare, req->node->node, b->n - missing);
    if (enable)
        snprintf(note, sizeof(note), "Enabled %zu users.", b->n);
    else
        snprintf(note, sizeof(note), "Disabled %zu users (%zu were not known).", b->n - missing,
                 missing);
    return cp_adhoc_complete(req, "info", note, NULL);
}

/* A bad line means nothing is applied: the admin gets the form back with the lines as sent and
 * a note naming the bad ones, fixes them and submits again. */
static xmpp_stanza_t *
users_submit(struct cp_adhoc_req *req, bool enable)
{
    struct cp_users_batch b = {0};
    char **text;
    size_t ntext, i, size;
    int rc = cp_form_get_lines(req->form, "users", CP_ADHOC_MAX_LINES, &text, &ntext);
    xmpp_stanza_t *reply = NULL, *form = NULL, *field;
    char *note;

    if (rc == CP_ENOMEM)
        return NULL;
    if (rc == CP_EINVAL)
        return cp_adhoc_continue(req, 1, "complete", "error",
                                 "Too many lines: nothing was applied.", users_form(req, enable));
    if (rc != 0)
        return cp_adhoc_error(req, "modify", "bad-request", "bad-payload");
    rc = parse_batch(req, text, ntext, enable, &b);
    if (rc == 0 && b.bad == 0 && b.n > 0) {
        reply = users_apply(req, enable, &b);
        goto out;
    }
    if (rc != 0)
        goto out;
    /* The lines were trimmed in place by the parse: re-read them to give them back as sent. */
    cp_form_lines_free(text, ntext);
    text = NULL;
    ntext = 0;
    form = users_form(req, enable);
    field = form != NULL ? cp_form_get_field(form, "users") : NULL;
    if (field == NULL || cp_form_get_lines(req->form, "users", 0, &text, &ntext) != 0)
        goto fail_form;
    for (i = 0, size = 0; i < ntext; i++)
        size += VALUE_OVERHEAD + strlen(text[i]);
    /* Up to 10,240 lines (the stanza guard's bound): built as text, see forms.h. */
    if (cp_stanza_add_slot(field) != 0)
        goto fail_form;
    for (i = 0; i < ntext && size <= CP_ADHOC_REPLY_MAX; i++)
        if (cp_form_text_value(&req->wide, text[i]) != 0)
            goto fail_form;
    if (b.n == 0 && b.bad == 0) {
        reply = cp_adhoc_continue(req, 1, "complete", "error", "No users given.", form);
        goto out;
    }
    if (asprintf(&note, "Nothing was applied: %zu bad line%s.\n%s%s%s", b.bad,
                 b.bad == 1 ? "" : "s", b.report, b.bad > CP_USERS_BATCH_REPORTED ? "...\n" : "",
                 size > CP_ADHOC_REPLY_MAX
                     ? "The lines are not shown again: they would not fit in one XMPP stanza.\n"
                     : "") < 0)
        goto fail_form;
    reply = cp_adhoc_continue(req, 1, "complete", "error", note, form);
    free(note);
    goto out;
fail_form:
    if (form != NULL)
        xmpp_stanza_release(form);
out:
    cp_form_lines_free(text, ntext);
    cp_users_batch_clear(&b);
    return reply;
}

xmpp_stanza_t *
cp_adhoc_run_users_enable(struct cp_adhoc_req *req)
{
    if (cp_adhoc_stage(req) == 0)
        return cp_adhoc_continue(req, 1, "complete", NULL, NULL, users_form(req, true));
    return users_submit(req, true);
}

xmpp_stanza_t *
cp_adhoc_run_users_disable(struct cp_adhoc_req *req)
{
    if (cp_adhoc_stage(req) == 0)
        return cp_adhoc_continue(req, 1, "complete", NULL, NULL, users_form(req, false));
    return users_submit(req, false);
}

static xmpp_stanza_t *
list_form(struct cp_adhoc_req *req, const char *filter, const char *max)
{
    xmpp_stanza_t *form = cp_form_new(req->ctx, "form", "List users",
                                      "Users whose JID or mailbox contains the filter text.");

    if (form == NULL)
        return NULL;
    if (cp_form_add_field(form, "filter", "text-single", "Filter", filter) == NULL ||
        cp_form_add_field(form, "max", "text-single", "At most this many users (1-10000)", max) ==
            NULL) {
        xmpp_stanza_release(form);
        return NULL;
    }
    return form;
}

/* Adds USER as one <item/> of the result table. */
static int
list_row(const struct cp_user *user, void *ud)
{
    static const char *const vars[] = {"jid",    "mailbox",      "enabled", "state",
                                       "server", "subscription", "mode"};
    struct list_ctx *lc = ud;
    const struct cp_adhoc_ops *ops = &lc->req->adhoc->ops;
    struct cp_user_status st = {0};
    char mailbox[CP_ADHOC_JID_MAX], mode[256] = "";
    const char *values[7];

    if (lc->shown == lc->max)
        return 1; /* one more than asked for: tell the admin the list is cut */
    if (cp_adhoc_mailbox_of(lc->req, user->jid, user->mailbox, mailbox, sizeof(mailbox)) != 0)
        mailbox[0] = '\0';
    if (user->enabled && ops->user_status != NULL)
        ops->user_status(lc->req->adhoc->ud, user->jid, &st);
    if (!user->enabled)
        st.state = "unavailable";
    if (ops->user_mode != NULL)
        ops->user_mode(lc->req->adhoc->ud, user->jid, user, mode, sizeof(mode));
    lc->bytes += ROW_OVERHEAD + strlen(user->jid) + strlen(mailbox) + strlen(mode) +
                 (st.state != NULL ? strlen(st.state) : 0) +
                 (st.server != NULL ? strlen(st.server) : 0) +
                 (st.subscription != NULL ? strlen(st.subscription) : 0);
    if (lc->bytes > CP_ADHOC_REPLY_MAX) {
        lc->too_large = true;
        return 1;
    }
    values[0] = user->jid;
    values[1] = mailbox;
    values[2] = user->enabled ? "1" : "0";
    values[3] = st.state != NULL ? st.state : "";
    values[4] = st.server != NULL ? st.server : "";
    values[5] = st.subscription != NULL ? st.subscription : "";
    values[6] = mode;
    if (cp_form_text_item(&lc->req->wide, vars, values, 7) != 0)
        return CP_ENOMEM;
    lc->shown++;
    return 0;
}

static xmpp_stanza_t *
list_result(struct cp_adhoc_req *req)
{
    static const char *const cols[][3] = {
        {"jid", "jid-single", "JID"},
        {"mailbox", "text-single", "Mailbox"},
        {"enabled", "boolean", "Enabled"},
        {"state", "text-single", "State"},
        {"server", "text-single", "Server"},
        {"subscription", "text-single", "Subscription"},
        {"mode", "text-single", "Privileged mode"},
    };
    struct list_ctx lc = {.req = req};
    char *filter = NULL, *max = NULL, *end, note[128];
    xmpp_stanza_t *form, *reported;
    long m = 100;
    size_t i;
    int rc;

    rc = cp_form_get_single(req->form, "filter", &filter);
    if (rc == 0 || rc == CP_ENOTFOUND)
        rc = cp_form_get_single(req->form, "max", &max);
    if (rc == CP_ENOMEM || rc == CP_EINVAL) {
        free(filter);
        free(max);
        return rc == CP_ENOMEM ? NULL : cp_adhoc_error(req, "modify", "bad-request", "bad-payload");
    }
    if (max != NULL) {
        errno = 0;
        m = strtol(max, &end, 10);
        if (errno != 0 || end == max || *end != '\0' || m < 1 || m > LIST_MAX) {
            xmpp_stanza_t *reply = cp_adhoc_continue(req, 1, "complete", "error",
                                                     "max must be a whole number from 1 to 10000.",
                                                     list_form(req, filter, max));

            free(filter);
            free(max);
            return reply;
        }
    }
    lc.max = (size_t)m;
    form = cp_form_new(req->ctx, "result", "Users", NULL);
    reported = form != NULL ? cp_form_add_reported(form) : NULL;
    for (i = 0; reported != NULL && i < sizeof(cols) / sizeof(cols[0]); i++)
        if (cp_form_add_field(reported, cols[i][0], cols[i][1], cols[i][2], NULL) == NULL)
            reported = NULL;
    if (reported != NULL && cp_stanza_add_slot(form) != 0)
        reported = NULL;
    rc = reported != NULL
             ? cp_store_users_each(req->adhoc->store, filter, lc.max + 1, list_row, &lc)
             : CP_ENOMEM;
    free(filter);
    free(max);
    if (rc < 0) {
        if (form != NULL)
            xmpp_stanza_release(form);
        return rc == CP_ENOMEM ? NULL : cp_adhoc_error(req, "wait", "internal-server-error", NULL);
    }
    if (lc.too_large)
        snprintf(note, sizeof(note),
                 "The first %zu users: more would not fit in one XMPP stanza; narrow the filter.",
                 lc.shown);
    else if (rc == 1)
        snprintf(note, sizeof(note), "The first %zu users; more match.", lc.shown);
    else
        snprintf(note, sizeof(note), "%zu users.", lc.shown);
    return cp_adhoc_complete(req, "info", note, form);
}

xmpp_stanza_t *
cp_adhoc_run_users_list(struct cp_adhoc_req *req)
{
    if (cp_adhoc_stage(req) == 0)
        return cp_adhoc_continue(req, 1, "complete", NULL, NULL,
                                 list_form(req, "", LIST_DEFAULT_MAX));
    return list_result(req);
}
