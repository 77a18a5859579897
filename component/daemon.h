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

struct cp_daemon {
    struct event_base *base;
    struct cp_config *cfg; /* the configuration in force; replaced by a reload */
    struct cp_store *store;
    struct cp_xmpp *xmpp;
    struct cp_adhoc *adhoc;
    struct cp_gateway *gateway; /* gateway-status runs off the loop */
    struct cp_engine *engine;   /* calendars to presence */
    struct cp_admin *admin;     /* control socket, /metrics, /healthz */
    struct cp_roster *roster;   /* contacts' rosters under XEP-0356 privileges */
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

/* What USER_JID's calendar JID shows now (from the engine). */
void cp_daemon_presence(struct cp_daemon *d, const char *user_jid, struct cp_cal_presence *out);

/* Queues USER_JID's presence to all its subscribers, paced by the send queue. */
void cp_daemon_queue_publish(struct cp_daemon *d, const char *user_jid);

#endif
