/* gateway-status on the daemon's loop (daemon.h): the ad-hoc commands waiting for the
 * troubleshooter, and the answer to each when the check they asked for is done. One check runs
 * at a time; requests for the mailbox being checked share it, the others wait for the next. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon.h"

static bool same_mailbox(const char *a, const char *b);
static void start_next(struct cp_daemon *d);
static char *full_report(struct cp_daemon *d, const char *check);
static void on_gateway_done(evutil_socket_t fd, short what, void *ud);

static bool
same_mailbox(const char *a, const char *b)
{
    return (a == NULL || b == NULL) ? a == b : strcasecmp(a, b) == 0;
}

/* Starts the check the longest-waiting request asked for, unless one runs. */
static void
start_next(struct cp_daemon *d)
{
    while (d->n_gateway_waiting > 0) {
        int rc = cp_gateway_start(d->gateway, d->gateway_waiting[0].mailbox);
        if (rc == 0 || rc == CP_EEXIST)
            return;
        /* It cannot start: answer every request for that mailbox now, not never. */
        const char *mailbox = d->gateway_waiting[0].mailbox;
        char *why = strdup("The troubleshooter could not be started: the log says why.");
        for (size_t i = 0; i < d->n_gateway_waiting;) {
            struct cp_daemon_gateway_wait *w = &d->gateway_waiting[i];
            if (!same_mailbox(w->mailbox, mailbox) || why == NULL) {
                i++;
                continue;
            }
            xmpp_stanza_t *reply = cp_adhoc_deferred_finish(d->adhoc, w->def, why);
            if (reply) {
                cp_xmpp_send(d->xmpp, reply);
                xmpp_stanza_release(reply);
            }
            free(w->mailbox);
            d->gateway_waiting[i] = d->gateway_waiting[--d->n_gateway_waiting];
        }
        free(why);
    }
}

/* The engine's view of the servers (users, health) first, then the XMPP server's privileges,
 * the roster queue and the users' own presence, then the troubleshooter's report CHECK. Caller
 * frees. */
static char *
full_report(struct cp_daemon *d, const char *check)
{
    char *engine = cp_engine_servers_report(d->engine);
    char *roster = cp_roster_report(d->roster);
    char *own = cp_own_report(d->own);
    size_t len = (engine ? strlen(engine) + 1 : 0) + (roster ? strlen(roster) + 1 : 0) +
                 (own ? strlen(own) + 1 : 0) + strlen(check) + 1;
    char *all = malloc(len);
    /* Out of memory for a part: the others still say something. */
    if (all)
        snprintf(all, len, "%s%s%s%s%s%s%s", engine ? engine : "", engine ? "\n" : "",
                 roster ? roster : "", roster ? "\n" : "", own ? own : "", own ? "\n" : "", check);
    free(engine);
    free(roster);
    free(own);
    return all;
}

static void
on_gateway_done(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    struct cp_daemon *d = ud;
    char *mailbox = NULL;
    bool failed;
    char *check = cp_gateway_collect(d->gateway, &mailbox, &failed);
    char *report = check ? full_report(d, check) : NULL;
    if (check) {
        for (size_t i = 0; i < d->n_gateway_waiting;) {
            struct cp_daemon_gateway_wait *w = &d->gateway_waiting[i];
            if (!same_mailbox(w->mailbox, mailbox)) {
                i++;
                continue;
            }
            xmpp_stanza_t *reply = cp_adhoc_deferred_finish(
                d->adhoc, w->def, report ? report : "out of memory writing the report");
            /* Sent even if the stream dropped meanwhile: libstrophe then discards it, and the
             * admin's client times the command out, which is all that can be done. */
            if (reply) {
                cp_xmpp_send(d->xmpp, reply);
                xmpp_stanza_release(reply);
            }
            free(w->mailbox);
            d->gateway_waiting[i] = d->gateway_waiting[--d->n_gateway_waiting];
        }
    }
    free(report);
    free(check);
    free(mailbox);
    start_next(d);
}

int
cp_daemon_gateway_init(struct cp_daemon *d)
{
    d->gateway = cp_gateway_new(d->cfg->path);
    if (!d->gateway)
        return CP_ENOMEM;
    d->gateway_done =
        event_new(d->base, cp_gateway_fd(d->gateway), EV_READ | EV_PERSIST, on_gateway_done, d);
    if (!d->gateway_done || event_add(d->gateway_done, NULL) != 0)
        return CP_ENOMEM;
    return CP_OK;
}

/* DEF is the daemon's from here when 0 is returned. */
int
cp_daemon_gateway_request(struct cp_daemon *d, const char *mailbox, struct cp_adhoc_deferred *def)
{
    if (d->n_gateway_waiting == CP_DAEMON_GATEWAY_WAITING_MAX) {
        cp_log_warn("check",
                    "gateway-status: %d requests already wait for the troubleshooter: "
                    "refused",
                    CP_DAEMON_GATEWAY_WAITING_MAX);
        return CP_EFULL;
    }
    struct cp_daemon_gateway_wait *w = &d->gateway_waiting[d->n_gateway_waiting];
    w->mailbox = NULL;
    if (mailbox && !(w->mailbox = strdup(mailbox)))
        return CP_ENOMEM;
    w->def = def;
    d->n_gateway_waiting++;
    start_next(d);
    return CP_OK;
}

void
cp_daemon_gateway_free(struct cp_daemon *d)
{
    for (size_t i = 0; i < d->n_gateway_waiting; i++) {
        cp_adhoc_deferred_free(d->gateway_waiting[i].def);
        free(d->gateway_waiting[i].mailbox);
    }
    d->n_gateway_waiting = 0;
    if (d->gateway_done)
        event_free(d->gateway_done);
    cp_gateway_free(d->gateway);
}
