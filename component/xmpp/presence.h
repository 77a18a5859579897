/* Calendar presence towards XMPP: subscriptions to calendar JIDs and the presence sent from
 * them (contract.md, "Subscriptions" and "Presence from a calendar JID"). */
#ifndef CP_PRESENCE_H
#define CP_PRESENCE_H

#include <stdbool.h>
#include <time.h>

#include <strophe.h>

#include "config/config.h"

struct cp_daemon;

/* Calendar JIDs one XMPP user may subscribe to: enough for any real team, while a user
 * cannot grow the store (and the presence resent after every handshake) without bound. */
#define CP_MAX_SUBSCRIPTIONS_PER_SUBSCRIBER 1000

enum cp_cal_state {
    CP_CAL_UNAVAILABLE, /* disabled, not yet read, or mailbox refused */
    CP_CAL_FREE,
    CP_CAL_TENTATIVE,
    CP_CAL_BUSY,
    CP_CAL_OOF,
    CP_CAL_ELSEWHERE,
};

/* What a calendar JID shows at one instant. SUBJECT is borrowed and shown only when the user
 * opted in (the caller decides; NULL when not). UNTIL is 0 when the next change is unknown. */
struct cp_cal_presence {
    enum cp_cal_state state;
    bool busy_tentative; /* tentative shown as busy (user setting or `tentative = busy`) */
    time_t until;
    const char *subject;
};

const char *cp_cal_state_name(enum cp_cal_state state);

/* The owner of calendar JID CAL_BARE: decodes it and checks that the owner's domain is served.
 * Returns 0 with the owner's bare JID in OUT, or CP_EINVAL (no such calendar here). */
int cp_presence_calendar_owner(const struct cp_config *cfg, const char *cal_bare, char *out,
                               size_t outlen);

/* Builds the presence stanza FROM (calendar JID) -> TO for P. Caller releases it. */
xmpp_stanza_t *cp_presence_build(xmpp_ctx_t *ctx, const struct cp_config *cfg, const char *from,
                                 const char *to, const struct cp_cal_presence *p);

/* Handles a presence stanza addressed to a calendar JID (subscribe, unsubscribe, probe, ...).
 * Always returns 1 (libstrophe: keep the handler). */
int cp_presence_on_stanza(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *daemon);

/* Sends USER_JID's current presence to TO alone (a subscriber just provisioned). */
void cp_presence_send_current(struct cp_daemon *d, const char *user_jid, const char *to);

/* Sends USER_JID's current presence to every stored subscriber of its calendar JID. */
void cp_presence_publish_user(struct cp_daemon *d, const char *user_jid);

/* After a handshake: the current presence of every calendar JID to every subscriber. */
void cp_presence_publish_all(struct cp_daemon *d);

/* At shutdown: unavailable from every calendar JID to every subscriber. */
void cp_presence_unavailable_all(struct cp_daemon *d);

#endif
