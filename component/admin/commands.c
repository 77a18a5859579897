/* The control socket's commands. Each either answers at once or starts a job that runs a
 * slice a loop turn (telling the engine of many users, listing, backing up) or waits for the
 * troubleshooter's thread (check). The protocol is in docs/operations.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_int.h"
#include "config/config.h"
#include "engine/engine.h"
#include "store/store.h"

#define JID_MAX 3072

static void cmd_users_data(struct ctl_conn *c, bool enable);
static void cmd_user_show(struct ctl_conn *c, const char *arg);
static void cmd_user_resubscribe(struct ctl_conn *c, const char *arg);
static void cmd_reload(struct ctl_conn *c);
static void cmd_backup(struct ctl_conn *c, const char *arg);
static void step_tell(struct ctl_conn *c);
static void step_list(struct ctl_conn *c);
static void step_backup(struct ctl_conn *c);
static int list_row(const struct cp_user *user, void *ud);
static void clean_field(char *s);

void
cmd_dispatch(struct ctl_conn *c, char *line)
{
    char *arg = strchr(line, ' ');
    if (arg)
        *arg++ = '\0';
    else
        arg = line + strlen(line);
    snprintf(c->verb, sizeof(c->verb), "%s", line);
    cp_log_info("admin", "control: uid %u: %s%s%s", c->uid, c->verb, *arg ? " " : "", arg);
    if (strcmp(line, "users-enable") == 0 || strcmp(line, "users-disable") == 0) {
        cmd_users_data(c, line[6] == 'e');
    } else if (strcmp(line, "users-list") == 0) {
        c->filter = strdup(arg);
        if (!c->filter) {
            ctl_finish(c, false, "failed", "out of memory");
            return;
        }
        c->phase = PH_WORKING;
        c->job = JOB_LIST;
        ctl_schedule(c);
    } else if (strcmp(line, "user-show") == 0) {
        cmd_user_show(c, arg);
    } else if (strcmp(line, "user-resubscribe") == 0) {
        cmd_user_resubscribe(c, arg);
    } else if (strcmp(line, "reload") == 0) {
        cmd_reload(c);
    } else if (strcmp(line, "check") == 0) {
        int rc = worker_start(c->a, c, *arg ? arg : NULL);
        if (rc == CP_EFULL)
            ctl_finish(c, false, "busy", "a check is already running: try again when it ends");
        else if (rc != 0)
            ctl_finish(c, false, "failed", "cannot start the troubleshooter's thread");
        else {
            c->phase = PH_WORKING;
            c->job = JOB_CHECK;
        }
    } else if (strcmp(line, "backup") == 0) {
        cmd_backup(c, arg);
    } else {
        ctl_finish(c, false, "usage", "unknown command '%.64s'", line);
    }
}

/* ---- users-enable, users-disable ---- */

static void
cmd_users_data(struct ctl_conn *c, bool enable)
{
    c->enable = enable;
    cp_users_batch_init(&c->batch, enable);
    c->phase = PH_DATA;
}

void
cmd_data_line(struct ctl_conn *c, char *line)
{
    if (cp_users_batch_line(&c->batch, c->a->d->cfg, line, c->lineno) != 0)
        ctl_finish(c, false, "failed", "out of memory at line %zu: nothing applied", c->lineno);
}

/* The whole list was read and checked: refuse it with the bad lines named, or apply it in one
 * transaction and tell the engine, a slice a loop turn. */
void
cmd_data_end(struct ctl_conn *c)
{
    struct cp_users_batch *b = &c->batch;
    if (cp_users_batch_finish(b) != 0) {
        ctl_finish(c, false, "failed", "out of memory: nothing applied");
        return;
    }
    if (b->bad > 0) {
        for (char *l = b->report, *nl; l && *l; l = nl + 1) {
            nl = strchr(l, '\n');
            if (!nl)
                break;
            ctl_reply(c, "%.*s", (int)(nl - l), l);
        }
        if (b->bad > CP_USERS_BATCH_REPORTED)
            ctl_reply(c, "... and %zu more", b->bad - CP_USERS_BATCH_REPORTED);
        cp_log_warn("admin", "control: %s: %zu bad line(s) of %zu: nothing applied", c->verb,
                    b->bad, c->lineno);
        ctl_finish(c, false, "input", "%zu bad line%s: nothing applied", b->bad,
                   b->bad == 1 ? "" : "s");
        return;
    }
    if (b->n == 0) {
        ctl_finish(c, false, "input", "no users given");
        return;
    }
    const char **jids = calloc(b->n, sizeof(*jids));
    const char **mailboxes = calloc(b->n, sizeof(*mailboxes));
    int rc = CP_ENOMEM;
    if (jids && mailboxes) {
        for (size_t i = 0; i < b->n; i++) {
            jids[i] = b->lines[i].jid;
            mailboxes[i] = b->lines[i].mailbox;
        }
        rc = c->enable ? cp_store_users_enable_batch(c->a->d->store, jids, mailboxes, b->n)
                       : cp_store_users_disable_batch(c->a->d->store, jids, b->n, &c->missing);
    }
    free(jids);
    free(mailboxes);
    if (rc != 0) {
        ctl_finish(c, false, "failed",
                   "the store refused the change (see the daemon's log): "
                   "nothing applied");
        return;
    }
    cp_log_info("admin", "control: %s: %zu users stored; telling the engine", c->verb,
                b->n - c->missing);
    c->phase = PH_WORKING;
    c->job = JOB_TELL;
    ctl_schedule(c);
}

/* The engine queues each user's subscription and presence itself (its outbox is paced), and
 * the roster provisioning its queue; this only keeps one loop turn from starting 100,000 users
 * at once. */
static void
step_tell(struct ctl_conn *c)
{
    struct cp_users_batch *b = &c->batch;
    size_t end = c->told + CTL_USERS_PER_TURN < b->n ? c->told + CTL_USERS_PER_TURN : b->n;
    for (; c->told < end; c->told++)
        cp_daemon_user_changed(c->a->d, b->lines[c->told].jid);
    if (c->told < b->n) {
        ctl_schedule(c);
        return;
    }
    cp_log_info("admin", "control: %s: %zu users done", c->verb, b->n - c->missing);
    if (c->enable)
        ctl_finish(c, true, NULL, "enabled %zu users", b->n);
    else
        ctl_finish(c, true, NULL, "disabled %zu users (%zu were not known)", b->n - c->missing,
                   c->missing);
}

/* ---- users-list ---- */

static void
clean_field(char *s)
{
    for (; *s; s++)
        if (*s == '\t' || *s == '\n' || *s == '\r')
            *s = ' ';
}

/* One row: jid, mailbox, enabled, state, server, subscription, until, last_error, tab-separated
 * (no field holds a tab: JIDs cannot, the engine's texts are cleaned). */
static int
list_row(const struct cp_user *user, void *ud)
{
    struct ctl_conn *c = ud;
    struct cp_daemon *d = c->a->d;
    struct cp_engine_user_view v;
    char mailbox[JID_MAX];

    if (user->mailbox && user->mailbox[0])
        snprintf(mailbox, sizeof(mailbox), "%s", user->mailbox);
    else if (cp_jid_default_mailbox(user->jid, d->cfg->mailbox_domain, mailbox, sizeof(mailbox)))
        mailbox[0] = '\0';
    if (!user->enabled || cp_engine_user_view(d->engine, user->jid, &v) != 0) {
        memset(&v, 0, sizeof(v));
        snprintf(v.state, sizeof(v.state), "unavailable");
        snprintf(v.subscription, sizeof(v.subscription), "none");
    }
    clean_field(v.server);
    clean_field(v.subscription);
    clean_field(v.last_error);
    ctl_reply(c, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s", user->jid, mailbox, user->enabled, v.state,
              v.server, v.subscription, v.until, v.last_error);
    free(c->after);
    c->after = strdup(user->jid);
    c->told++;
    return c->after ? 0 : CP_ENOMEM;
}

/* A page a turn, and none while the client has not read the last ones (on_write resumes). */
static void
step_list(struct ctl_conn *c)
{
    if (!c->bev) {
        ctl_finish(c, false, "failed", "client left");
        return;
    }
    if (ctl_output_full(c))
        return;
    size_t before = c->told;
    int rc = cp_store_users_each_after(c->a->d->store, c->filter, c->after, CTL_ROWS_PER_TURN,
                                       list_row, c);
    if (rc < 0)
        ctl_finish(c, false, "failed", "cannot read the store (see the daemon's log)");
    else if (c->told - before == CTL_ROWS_PER_TURN)
        ctl_schedule(c);
    else
        ctl_finish(c, true, NULL, "%zu users", c->told);
}

/* ---- one user ---- */

static void
cmd_user_show(struct ctl_conn *c, const char *arg)
{
    struct cp_daemon *d = c->a->d;
    char jid[JID_MAX], mailbox[JID_MAX];
    const char *reason;
    struct cp_user u = {0};
    struct cp_engine_user_view v;

    if (cp_users_jid(d->cfg, arg, jid, sizeof(jid), &reason) != 0) {
        ctl_finish(c, false, "usage", "'%.256s': %s", arg, reason);
        return;
    }
    int rc = cp_store_user_get(d->store, jid, &u);
    if (rc == CP_ENOTFOUND) {
        ctl_finish(c, false, "notfound", "%s: no such user (never enabled)", jid);
        return;
    }
    if (rc != 0) {
        ctl_finish(c, false, "failed", "cannot read the store (see the daemon's log)");
        return;
    }
    if (u.mailbox && u.mailbox[0])
        snprintf(mailbox, sizeof(mailbox), "%s", u.mailbox);
    else if (cp_jid_default_mailbox(jid, d->cfg->mailbox_domain, mailbox, sizeof(mailbox)))
        mailbox[0] = '\0';
    if (!u.enabled || cp_engine_user_view(d->engine, jid, &v) != 0) {
        memset(&v, 0, sizeof(v));
        snprintf(v.state, sizeof(v.state), "unavailable");
        snprintf(v.subscription, sizeof(v.subscription), "none");
    }
    static const char *const tentative[] = {"default", "free", "busy"};
    ctl_reply(c, "jid: %s", jid);
    ctl_reply(c, "mailbox: %s", mailbox);
    ctl_reply(c, "enabled: %s", u.enabled ? "yes" : "no");
    ctl_reply(c, "state: %s", v.state);
    ctl_reply(c, "until: %s", v.until);
    ctl_reply(c, "server: %s", v.server);
    ctl_reply(c, "subscription: %s", v.subscription);
    ctl_reply(c, "watchers: %ld", cp_store_subscribers_count(d->store, jid));
    ctl_reply(c, "tentative: %s", tentative[u.tentative]);
    ctl_reply(c, "include_subject: %s", u.include_subject ? "yes" : "no");
    static const char *const opt[] = {"default", "off", "on"}; /* by enum cp_user_opt + 1 */
    ctl_reply(c, "only_while_online: %s", opt[u.priv.only_while_online + 1]);
    ctl_reply(c, "respect_own_status: %s", opt[u.priv.respect_own_status + 1]);
    ctl_reply(c, "pep_activity: %s", opt[u.priv.pep_activity + 1]);
    char mode[256];
    cp_own_user_mode(d->own, jid, &u, mode, sizeof(mode));
    ctl_reply(c, "mode: %s", mode);
    ctl_reply(c, "last_error: %s", v.last_error);
    cp_user_clear(&u);
    ctl_finish(c, true, NULL, "%s", jid);
}

static void
cmd_user_resubscribe(struct ctl_conn *c, const char *arg)
{
    struct cp_daemon *d = c->a->d;
    char jid[JID_MAX];
    const char *reason;

    if (cp_users_jid(d->cfg, arg, jid, sizeof(jid), &reason) != 0)
        ctl_finish(c, false, "usage", "'%.256s': %s", arg, reason);
    else if (cp_engine_resubscribe(d->engine, jid) != 0)
        ctl_finish(c, false, "notfound", "%s has no calendar presence enabled", jid);
    else
        ctl_finish(c, true, NULL,
                   "%s: subscription dropped; subscribing again and re-reading the calendar", jid);
}

static void
cmd_reload(struct ctl_conn *c)
{
    char msg[2048];
    if (cp_daemon_reload(c->a->d, msg, sizeof(msg)) != 0)
        ctl_finish(c, false, "failed", "%s", msg);
    else
        ctl_finish(c, true, NULL, "%s", msg);
}

/* ---- backup ---- */

static void
cmd_backup(struct ctl_conn *c, const char *arg)
{
    char why[512];
    if (arg[0] != '/') {
        ctl_finish(c, false, "usage", "backup needs an absolute path (the daemon writes it)");
        return;
    }
    c->backup_path = strdup(arg);
    if (!c->backup_path ||
        cp_store_backup_begin(c->a->d->store, arg, &c->backup, why, sizeof(why)) != 0) {
        cp_log_warn("admin", "control: backup: %s", c->backup_path ? why : "out of memory");
        ctl_finish(c, false, "failed", "%s", c->backup_path ? why : "out of memory");
        return;
    }
    c->phase = PH_WORKING;
    c->job = JOB_BACKUP;
    ctl_schedule(c);
}

static void
step_backup(struct ctl_conn *c)
{
    char why[512];
    int done = 0, total = 0;
    int rc = cp_store_backup_step(c->backup, CTL_PAGES_PER_TURN, &done, &total, why, sizeof(why));
    if (rc == 1) {
        ctl_schedule(c);
        return;
    }
    cp_store_backup_free(c->backup);
    c->backup = NULL;
    if (rc != 0) {
        cp_log_warn("admin", "control: backup: %s", why);
        ctl_finish(c, false, "failed", "%s", why);
        return;
    }
    cp_log_info("admin", "control: backup: %s written (%d pages)", c->backup_path, total);
    ctl_finish(c, true, NULL, "%s written (%d pages)", c->backup_path, total);
}

void
cmd_step(struct ctl_conn *c)
{
    switch (c->job) {
    case JOB_TELL:
        step_tell(c);
        break;
    case JOB_LIST:
        step_list(c);
        break;
    case JOB_BACKUP:
        step_backup(c);
        break;
    case JOB_CHECK:
    case JOB_NONE:
        break;
    }
}

void
cmd_clear(struct ctl_conn *c)
{
    cp_users_batch_clear(&c->batch);
    free(c->filter);
    free(c->after);
    free(c->backup_path);
    cp_store_backup_free(c->backup);
    c->filter = c->after = c->backup_path = NULL;
    c->backup = NULL;
}
