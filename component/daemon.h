/* The running daemon: one libevent loop that carries the XMPP connection, timers, signals and
 * (later) the HTTP listener and libcurl. This struct ties the component's modules together;
 * only component/ sees it. */
#ifndef CP_DAEMON_H
#define CP_DAEMON_H

#include <event2/event.h>

#include "adhoc/adhoc.h"
#include "admin/admin.h"
#include "config/config.h"
#include "engine/engine.h"
#include "check/check.h"
#include "notify.h"
#include "xmpp/xmpp.h"
#include "store/store.h"

/* gateway-status commands waiting at once: each holds a copy of its request, nothing more. */
#define CP_DAEMON_GATEWAY_WAITING_MAX 16

struct cp_daemon {
    struct event_base *base;
    struct cp_config *cfg; /* the configuration in force; replaced by a reload */
    struct cp_store *store;
    struct cp_xmpp *xmpp;
    struct cp_adhoc *adhoc;
    struct cp_gateway *gateway; /* gateway-status runs off the loop */
    struct event *gateway_done; /* its descriptor: a check finished */
    /* gateway-status commands waiting for a check (daemon_gateway.c) */
    struct cp_daemon_gateway_wait {
        char *mailbox; /* owned; NULL for none */
        struct cp_adhoc_deferred *def;
    } gateway_waiting[CP_DAEMON_GATEWAY_WAITING_MAX];
    size_t n_gateway_waiting;
    struct cp_engine *engine; /* calendars to presence */
    struct cp_admin *admin;   /* control socket, /metrics, /healthz */
    struct cp_roster *roster; /* contacts' rosters under XEP-0356 privileges */
    struct cp_own *own;       /* the users' own presence, under the same */
    struct cp_pep *pep;       /* the user's own PEP activity while busy (XEP-0356 iq) */
    struct event *sig_term;
    struct event *sig_int;
    struct event *sig_hup;
    struct event *housekeeping; /* expires ad-hoc sessions, refreshes the systemd STATUS= */
    struct cp_notify *notify;   /* systemd's NOTIFY_SOCKET; NULL outside systemd */
    struct event *watchdog;     /* WATCHDOG=1 from the loop, when systemd asks for it */
    int ready;                  /* READY=1 was sent (after the first handshake) */
    int exit_code;
    int shutting_down;
};

/* Runs the daemon with CFG (ownership taken) until SIGTERM/SIGINT or a fatal start-up error.
 * Returns the process exit code. */
int cp_daemon_run(struct cp_config *cfg);

/* Re-reads the configuration file: applies what can change live, reports what needs a restart.
 * Writes a one-paragraph summary into MSG. Returns 0, or negative when the file is invalid
 * (then nothing changes and MSG holds FILE:LINE: reason). */
int cp_daemon_reload(struct cp_daemon *d, char *msg, size_t msglen);

/* gateway-status (daemon_gateway.c): the troubleshooter and the commands waiting for it. */
int cp_daemon_gateway_init(struct cp_daemon *d);
/* Queues DEF (taken on 0) for the check of MAILBOX (NULL: none), starting one when none runs.
 * Returns 0, CP_EFULL when too many wait, CP_ENOMEM. */
int cp_daemon_gateway_request(struct cp_daemon *d, const char *mailbox,
                              struct cp_adhoc_deferred *def);
/* Waits for a running check, drops the waiting commands unanswered. */
void cp_daemon_gateway_free(struct cp_daemon *d);

/* What USER_JID's calendar JID shows now (from the engine). */
void cp_daemon_presence(struct cp_daemon *d, const char *user_jid, struct cp_cal_presence *out);

/* USER_JID was enabled, disabled or changed settings (an ad-hoc command, or the control
 * socket): the engine starts or stops it, and its contacts' rosters follow (XEP-0356). */
void cp_daemon_user_changed(struct cp_daemon *d, const char *user_jid);
/* Queues USER_JID's presence to all its subscribers, paced by the send queue. */
void cp_daemon_queue_publish(struct cp_daemon *d, const char *user_jid);

#endif
