/* PEP activity (XEP-0356 iq permission, issue 11 item 4): while a user's calendar shows busy,
 * the user's own PEP node http://jabber.org/protocol/activity holds the XEP-0108 activity
 * working/in_a_meeting, published as the user through a privileged IQ; when the meeting ends
 * the item is retracted with notify, so the user's contacts (and the user's other clients) see
 * the activity on the user themself, not only on the calendar JID. Only where the server grants
 * the component pubsub iq set for the user's domain and `[privilege] pep_activity` is true.
 *
 * What was published is remembered in memory only. A shutdown retracts what it published; after
 * a crash, the first decision about a user who is not busy retracts the item, in case the last
 * run left it (docs/privileges.md). */
#ifndef CP_XMPP_PEP_H
#define CP_XMPP_PEP_H

#include <stdbool.h>
#include <stddef.h>

#include <strophe.h>

struct cp_daemon;
struct cp_pep;

/* Creates the PEP publisher of daemon D (borrowed; its base, xmpp, roster and cfg must be set).
 * Nothing is sent before cp_pep_online. Returns NULL on ENOMEM. */
struct cp_pep *cp_pep_new(struct cp_daemon *d);
void cp_pep_free(struct cp_pep *p);

/* The stream is up: nothing is published until the server's privileges arrive, or, after a
 * short grace without them, the log says why PEP is not used. */
void cp_pep_online(struct cp_pep *p);
/* The stream is gone: requests in flight are forgotten; whether they reached the server is
 * unknown, so those users are decided again after the next handshake. */
void cp_pep_offline(struct cp_pep *p);

/* At shutdown, on a live stream: retracts the activity of every user it was published for
 * (or may have been), as the calendar JIDs go unavailable; the next start publishes again. */
void cp_pep_withdraw_all(struct cp_pep *p);

/* The server advertised privileges, or the configuration was reloaded: every user known here
 * is decided again. */
void cp_pep_reconsider(struct cp_pep *p);

/* USER_JID's calendar presence may have changed (the engine published it): publishes or
 * retracts the activity when that changes what the user's PEP should show. */
void cp_pep_user_changed(struct cp_pep *p, const char *user_jid);

/* Reads ANSWER (borrowed), the server's answer to a privileged pubsub IQ: COND (LEN bytes) is
 * "" when the publish or retract took effect, else the error condition, from mod_privilege's
 * own error or from the pubsub service's answer it forwards; *ETYPE the error's type ("wait":
 * try again later), borrowed from ANSWER. Returns true when mod_privilege itself refused
 * (which says the same of every user of the domain). */
bool cp_pep_answer_read(xmpp_stanza_t *answer, char *cond, size_t len, const char **etype);

#endif
