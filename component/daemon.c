#include "daemon.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "config/config.h"
#include "engine/engine.h"
#include "xmpp/xmpp.h"

#define HOUSEKEEPING_S 30

/* ---- hooks for the ad-hoc commands ---- */

static const struct cp_config *
hook_config(void *ud)
{
    struct cp_daemon *d = ud;
    return d->cfg;
}

/* The engine starts or stops the user and queues its presence; the queue is paced, so a
 * users-enable of 10,000 users never holds the loop. */
void
cp_daemon_user_changed(struct cp_daemon *d, const char *user_jid)
{
    cp_engine_user_changed(d->engine, user_jid);
    cp_roster_user_changed(d->roster, user_jid);
}

static void
hook_user_changed(void *ud, const char *user_jid)
{
    cp_daemon_user_changed(ud, user_jid);
}

static int
hook_user_status(void *ud, const char *user_jid, struct cp_user_status *out)
{
    struct cp_daemon *d = ud;
    /* Static: the strings must outlive this call until the command has built its form,
     * which happens before the loop runs anything else. */
    static struct cp_engine_user_view v;
    memset(out, 0, sizeof(*out));
    if (cp_engine_user_view(d->engine, user_jid, &v) != 0) {
        out->state = "unavailable";
        out->subscription = "none";
        return 0;
    }
    out->state = v.state;
    out->until = v.until[0] ? v.until : NULL;
    out->server = v.server[0] ? v.server : NULL;
    out->subscription = v.subscription;
    out->last_error = v.last_error[0] ? v.last_error : NULL;
    return 0;
}

static int
hook_user_resubscribe(void *ud, const char *user_jid, char *msg, size_t msglen)
{
    struct cp_daemon *d = ud;
    if (cp_engine_resubscribe(d->engine, user_jid) != 0) {
        snprintf(msg, msglen, "%s has no calendar presence enabled", user_jid);
        return CP_ENOTFOUND;
    }
    snprintf(msg, msglen, "%s: subscription dropped; subscribing again and re-reading the calendar",
             user_jid);
    return 0;
}

static int
hook_reload(void *ud, char *msg, size_t msglen)
{
    return cp_daemon_reload(ud, msg, msglen);
}

static long
hook_watchers(void *ud, const char *user_jid)
{
    struct cp_daemon *d = ud;
    return cp_store_subscribers_count(d->store, user_jid);
}

static int
hook_gateway_status(void *ud, const char *mailbox, struct cp_adhoc_deferred *def)
{
    return cp_daemon_gateway_request(ud, mailbox, def);
}

/* certs-import talks to the one server the admin named, bounded by `timeout`; it runs on the
 * loop because the ad-hoc reply is synchronous (see docs/design.md). */
static char *
hook_certs_describe(void *ud, const char *host, char **fps, char *msg, size_t msglen)
{
    struct cp_daemon *d = ud;
    return cp_check_certs_describe_fp(d->cfg, host, fps, msg, msglen);
}

static int
hook_certs_import(void *ud, const char *host, const char *fps, char *msg, size_t msglen)
{
    struct cp_daemon *d = ud;
    int rc = cp_check_certs_import_fp(d->cfg, host, fps, msg, msglen);

    return rc == CP_CHECK_CHANGED ? CP_ADHOC_CHAIN_CHANGED : rc;
}

static void
hook_user_mode(void *ud, const char *user_jid, const struct cp_user *user, char *buf, size_t len)
{
    struct cp_daemon *d = ud;
    cp_own_user_mode(d->own, user_jid, user, buf, len);
}

static const struct cp_adhoc_ops adhoc_ops = {
    .config = hook_config,
    .user_changed = hook_user_changed,
    .user_status = hook_user_status,
    .user_resubscribe = hook_user_resubscribe,
    .reload = hook_reload,
    .watchers = hook_watchers,
    .user_mode = hook_user_mode,
    .gateway_status = hook_gateway_status,
    .certs_describe_pinned = hook_certs_describe,
    .certs_import_pinned = hook_certs_import,
};

/* ---- the engine's view of XMPP ---- */

static void
engine_publish(void *ud, const char *user_jid)
{
    struct cp_daemon *d = ud;
    cp_presence_publish_user(d, user_jid);
    cp_pep_user_changed(d->pep, user_jid);
}

static size_t
engine_send_queue(void *ud)
{
    struct cp_daemon *d = ud;
    xmpp_conn_t *conn = cp_xmpp_conn(d->xmpp);
    return conn ? (size_t)xmpp_conn_send_queue_len(conn) : 0;
}

static bool
engine_online(void *ud)
{
    struct cp_daemon *d = ud;
    return cp_xmpp_is_online(d->xmpp);
}

static const struct cp_engine_hooks engine_hooks = {engine_publish, engine_send_queue,
                                                    engine_online};

void
cp_daemon_presence(struct cp_daemon *d, const char *user_jid, struct cp_cal_presence *out)
{
    static const enum cp_cal_state states[] = {[CP_SHOW_UNAVAILABLE] = CP_CAL_UNAVAILABLE,
                                               [CP_SHOW_FREE] = CP_CAL_FREE,
                                               [CP_SHOW_TENTATIVE] = CP_CAL_TENTATIVE,
                                               [CP_SHOW_BUSY] = CP_CAL_BUSY,
                                               [CP_SHOW_OOF] = CP_CAL_OOF,
                                               [CP_SHOW_ELSEWHERE] = CP_CAL_ELSEWHERE};
    struct cp_engine_presence p;
    cp_engine_presence(d->engine, user_jid, &p);
    memset(out, 0, sizeof(*out));
    out->state = states[p.show];
    out->until = p.until;
    out->subject = p.subject;
    cp_own_filter(d->own, user_jid, out);
}

void
cp_daemon_queue_publish(struct cp_daemon *d, const char *user_jid)
{
    cp_engine_queue_publish(d->engine, user_jid);
}

/* ---- systemd ---- */

/* One line for `systemctl status`: is the stream up, and how many calendars it carries. */
static void
notify_status(struct cp_daemon *d, const char *prefix)
{
    if (!d->notify)
        return;
    const struct cp_config *cfg = d->cfg;
    long enabled = cp_store_users_count(d->store, true);
    if (cp_xmpp_is_online(d->xmpp))
        cp_notify_send(d->notify, "%sSTATUS=%s connected to %s:%d, %ld users enabled", prefix,
                       cfg->jid, cfg->server_host, cfg->server_port, enabled);
    else
        cp_notify_send(d->notify, "%sSTATUS=%s connecting to %s:%d, %ld users enabled", prefix,
                       cfg->jid, cfg->server_host, cfg->server_port, enabled);
}

/* Sent from a timer on the loop, so that a loop stuck in one callback misses it and systemd
 * restarts the daemon (WatchdogSec= in the unit). */
static void
on_watchdog(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    struct cp_daemon *d = ud;
    cp_notify_send(d->notify, "WATCHDOG=1");
}

/* ---- XMPP connection events ---- */

static void
on_online(void *ud)
{
    struct cp_daemon *d = ud;
    /* libstrophe dropped whatever was queued when the last stream died: resend everything. */
    cp_presence_publish_all(d);
    cp_roster_online(d->roster);
    cp_own_online(d->own);
    cp_pep_online(d->pep);
    /* Ready means the store is open and the XMPP server took the handshake: from here a
     * `systemctl start` that returned can be followed by commands that work. */
    notify_status(d, d->ready ? "" : "READY=1\n");
    d->ready = 1;
}

static void
on_offline(void *ud)
{
    struct cp_daemon *d = ud;
    cp_roster_offline(d->roster);
    cp_own_offline(d->own);
    cp_pep_offline(d->pep);
    if (!d->shutting_down)
        notify_status(d, "");
}

static void
on_fatal(void *ud, const char *reason)
{
    struct cp_daemon *d = ud;
    cp_log_error("xmpp", "%s", reason);
    d->exit_code = 1;
    event_base_loopexit(d->base, NULL);
}

static const struct cp_xmpp_events xmpp_events = {on_online, on_offline, on_fatal};

/* ---- signals ---- */

static void
on_stopped(void *ud)
{
    struct cp_daemon *d = ud;
    event_base_loopexit(d->base, NULL);
}

static void
on_terminate(evutil_socket_t sig, short what, void *ud)
{
    (void)what;
    struct cp_daemon *d = ud;
    if (d->shutting_down) {
        cp_log_warn("main", "second %s: exiting at once", sig == SIGINT ? "SIGINT" : "SIGTERM");
        event_base_loopbreak(d->base);
        return;
    }
    d->shutting_down = 1;
    cp_log_info("main", "%s received: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    cp_notify_send(d->notify, "STOPPING=1\nSTATUS=sending unavailable presence and closing");
    if (cp_xmpp_is_online(d->xmpp)) {
        cp_presence_unavailable_all(d);
        cp_pep_withdraw_all(d->pep);
    }
    cp_xmpp_stop(d->xmpp, on_stopped, d);
}

static void
on_hup(evutil_socket_t sig, short what, void *ud)
{
    (void)sig;
    (void)what;
    struct cp_daemon *d = ud;
    char msg[1024];
    cp_log_info("config", "SIGHUP received: reloading");
    cp_notify_send(d->notify, "RELOADING=1");
    cp_daemon_reload(d, msg, sizeof(msg));
    notify_status(d, "READY=1\n");
}

static void
on_housekeeping(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    struct cp_daemon *d = ud;
    cp_adhoc_expire(d->adhoc, time(NULL));
    notify_status(d, "");
}

/* ---- reload ---- */

struct reload_report {
    char *msg;
    size_t len;
    size_t used;
    int restart;
};

static void
report_change(const char *section, const char *key, bool live, void *ud)
{
    struct reload_report *r = ud;
    if (live) {
        cp_log_info("config", "[%s] %s changed: applied", section, key);
    } else {
        r->restart++;
        cp_log_warn("config", "[%s] %s changed: takes effect only after a restart", section, key);
    }
    if (r->used < r->len) {
        int n = snprintf(r->msg + r->used, r->len - r->used, "%s[%s] %s %s", r->used ? "; " : "",
                         section, key, live ? "applied" : "needs a restart");
        if (n > 0)
            r->used += (size_t)n;
    }
}

int
cp_daemon_reload(struct cp_daemon *d, char *msg, size_t msglen)
{
    char err[512];
    struct cp_config *fresh = NULL;
    int rc = cp_config_load(d->cfg->path, &fresh, err, sizeof(err));
    if (rc != 0) {
        cp_log_error("config", "reload refused, running configuration kept (%s)", err);
        snprintf(msg, msglen, "reload refused, configuration unchanged: %s", err);
        return rc;
    }
    msg[0] = '\0';
    struct reload_report r = {msg, msglen, 0, 0};
    int changed = 0;
    /* Count every change, live or not, through the report callback. */
    cp_config_diff(d->cfg, fresh, report_change, &r);
    changed = r.used > 0;
    /* Restart-only keys keep their running values: the XMPP connection and the store were
     * built from them, and code reading d->cfg (jid, domains, mailbox_domain...) must not
     * switch to a value the report says needs a restart. The live ones take effect from the
     * new struct right away. */
    cp_config_keep_restart_only(fresh, d->cfg);
    if (fresh->secret && strcmp(fresh->secret, d->cfg->secret) != 0 &&
        cp_xmpp_set_secret(d->xmpp, fresh->secret) != 0)
        cp_log_warn("config", "out of memory: the new secret is not used, the old one stays");
    cp_xmpp_set_reconnect_max(d->xmpp, fresh->reconnect_max);
    cp_log_set_level(fresh->log_level);
    cp_engine_set_config(d->engine, fresh);
    cp_config_free(d->cfg);
    d->cfg = fresh;
    cp_pep_reconsider(d->pep); /* pep_activity may have changed */
    if (!changed)
        snprintf(msg, msglen, "configuration reloaded: nothing changed");
    cp_log_info("config", "reloaded %s (%d change(s) need a restart)", fresh->path, r.restart);
    return CP_OK;
}

/* ---- life cycle ---- */

static void
log_startup(const struct cp_config *cfg)
{
    char domains[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < cfg->domains.n && used < sizeof(domains); i++) {
        int n = snprintf(domains + used, sizeof(domains) - used, "%s%s", i ? ", " : "",
                         cfg->domains.items[i]);
        if (n > 0)
            used += (size_t)n;
    }
    cp_log_info("main", "calpresence %s starting: component %s for %s via %s:%d, store %s",
                CP_VERSION, cfg->jid, domains, cfg->server_host, cfg->server_port, cfg->store_path);
}

static void
daemon_free(struct cp_daemon *d)
{
    if (d->sig_term)
        event_free(d->sig_term);
    if (d->sig_int)
        event_free(d->sig_int);
    if (d->sig_hup)
        event_free(d->sig_hup);
    if (d->housekeeping)
        event_free(d->housekeeping);
    cp_admin_free(d->admin);
    if (d->watchdog)
        event_free(d->watchdog);
    cp_notify_free(d->notify);
    /* The waiting commands hold copies of stanzas of the adhoc handler's context: first. */
    cp_daemon_gateway_free(d);
    cp_adhoc_free(d->adhoc);
    cp_own_free(d->own);
    cp_pep_free(d->pep);
    cp_roster_free(d->roster);
    cp_engine_free(d->engine);
    cp_xmpp_free(d->xmpp);
    cp_store_close(d->store);
    cp_config_free(d->cfg);
    if (d->base)
        event_base_free(d->base);
}

int
cp_daemon_run(struct cp_config *cfg)
{
    struct cp_daemon d = {.cfg = cfg};
    cp_log_set_level(cfg->log_level);
    log_startup(cfg);
    signal(SIGPIPE, SIG_IGN);
    d.notify = cp_notify_new();

    d.base = event_base_new();
    if (!d.base) {
        cp_log_error("main", "cannot create the event loop");
        daemon_free(&d);
        return 1;
    }
    if (cp_store_open(cfg->store_path, &d.store) != 0) {
        cp_log_error("main", "cannot open the user store %s (see above)", cfg->store_path);
        daemon_free(&d);
        return 1;
    }
    cp_log_info("store", "%s: %ld users (%ld enabled), %ld subscriptions", cfg->store_path,
                cp_store_users_count(d.store, false), cp_store_users_count(d.store, true),
                cp_store_subscribers_count(d.store, NULL));
    char why[512];
    if (cp_engine_new(d.base, cfg, d.store, &engine_hooks, &d, &d.engine, why, sizeof(why)) != 0) {
        cp_log_error("main", "cannot start the calendar engine: %s", why);
        daemon_free(&d);
        return 1;
    }
    d.xmpp = cp_xmpp_new(d.base, cfg->jid, cfg->secret, cfg->server_host, cfg->server_port,
                         cfg->reconnect_max, &xmpp_events, &d);
    d.roster = d.xmpp ? cp_roster_new(&d) : NULL;
    d.own = d.roster ? cp_own_new(&d) : NULL;
    d.pep = d.xmpp ? cp_pep_new(&d) : NULL;
    d.adhoc = cp_adhoc_new(d.store, &adhoc_ops, &d);
    int gw = cp_daemon_gateway_init(&d);
    d.sig_term = evsignal_new(d.base, SIGTERM, on_terminate, &d);
    d.sig_int = evsignal_new(d.base, SIGINT, on_terminate, &d);
    d.sig_hup = evsignal_new(d.base, SIGHUP, on_hup, &d);
    d.housekeeping = event_new(d.base, -1, EV_PERSIST, on_housekeeping, &d);
    if (!d.xmpp || !d.roster || !d.own || !d.pep || !d.adhoc || gw != 0 || !d.sig_term ||
        !d.sig_int || !d.sig_hup || !d.housekeeping) {
        cp_log_error("main", "out of memory at start-up");
        daemon_free(&d);
        return 1;
    }
    struct timeval hk = {HOUSEKEEPING_S, 0};
    event_add(d.sig_term, NULL);
    event_add(d.sig_int, NULL);
    event_add(d.sig_hup, NULL);
    event_add(d.housekeeping, &hk);
    if (cp_admin_new(&d, &d.admin, why, sizeof(why)) != 0) {
        cp_log_error("main", "%s", why);
        daemon_free(&d);
        return 1;
    }
    uint64_t wd = cp_notify_watchdog_interval(d.notify);
    if (wd > 0) {
        struct timeval tv = {(time_t)(wd / 1000000), (suseconds_t)(wd % 1000000)};
        d.watchdog = event_new(d.base, -1, EV_PERSIST, on_watchdog, &d);
        if (!d.watchdog || event_add(d.watchdog, &tv) != 0) {
            cp_log_error("main", "cannot arm the systemd watchdog timer");
            daemon_free(&d);
            return 1;
        }
        cp_log_info("main", "systemd watchdog: WATCHDOG=1 every %.1f s", (double)wd / 1e6);
    }
    cp_xmpp_service_register(&d);
    if (cp_engine_start(d.engine) != 0) {
        daemon_free(&d);
        return 1;
    }
    cp_xmpp_start(d.xmpp);

    event_base_dispatch(d.base);

    int code = d.exit_code;
    cp_log_info("main", "stopped");
    daemon_free(&d);
    return code;
}
