/* The user's own presence (XEP-0356 presence permission, issue 11): hears what the XMPP
 * server forwards of its users' presence (seen.h), and applies each user's options to the
 * calendar presence: `only_while_online` (the calendar JID is unavailable while the user is
 * offline) and `respect_own_status` (the calendar JID is unavailable while the user's own show
 * is dnd, away or xa, so that contacts see the user's own status alone). The component never
 * changes the user's own presence, so after a meeting there is nothing to restore. Also asks
 * the users' clients what they support (XEP-0115 caps, disco#info), for the XEP-0144 roster
 * item exchange fallback of roster provisioning. docs/privileges.md says what users see. */
#ifndef CP_XMPP_OWN_H
#define CP_XMPP_OWN_H

#include <stdbool.h>
#include <stddef.h>

#include <strophe.h>

#include "presence.h"
#include "seen.h"

struct cp_daemon;
struct cp_own;
struct cp_user;

/* Creates the tracker of daemon D (borrowed; base, store, xmpp, roster and cfg set). Returns
 * NULL on ENOMEM. */
struct cp_own *cp_own_new(struct cp_daemon *d);
void cp_own_free(struct cp_own *o);

/* The stream is up: what was seen is forgotten (the server sends each resource's current
 * presence again); a few seconds later, says once per domain when options are in use that the
 * server's privileges cannot honour. */
void cp_own_online(struct cp_own *o);
void cp_own_offline(struct cp_own *o);

/* PRESENCE (borrowed), available or unavailable, addressed to the component's own domain: when
 * it comes from a user of a domain whose server grants the presence permission, records it,
 * republishes that user's calendar presence when the options make it depend on it, and asks the
 * resource's features when its caps hash is new. Returns true when taken. */
bool cp_own_on_presence(struct cp_own *o, xmpp_stanza_t *presence);

/* DOMAIN's server just advertised its privileges: when options are in use, every calendar is
 * republished, since what they allow may have changed. */
void cp_own_privileges_changed(struct cp_own *o, const char *domain);

/* Applies USER_JID's options to P, the calendar presence the engine computed: turns it into
 * unavailable when the user is offline (only_while_online) or shows dnd/away/xa themself
 * (respect_own_status). Leaves P alone without the presence permission. */
void cp_own_filter(struct cp_own *o, const char *user_jid, struct cp_cal_presence *p);

/* XEP-0144 fallback: when an online resource of CONTACT advertises roster item exchange,
 * sends it the suggestion to add CAL (USER's calendar JID) and returns 0; CP_ENOTFOUND when
 * none does (the caller sends a plain subscription request). */
int cp_own_suggest(struct cp_own *o, const char *user, const char *contact, const char *cal);

/* Reads ANSWER (borrowed), a client's answer to the component's disco#info about a caps hash:
 * CP_CAPS_ROSTERX when it is a result listing the roster item exchange feature, CP_CAPS_PLAIN
 * for any other result or an error. */
enum cp_seen_caps cp_own_caps_read(xmpp_stanza_t *answer);

/* One line of what USER_JID gets: roster mode and options, e.g. "roster-provisioned,
 * only-while-online". USER is its stored row (borrowed), NULL when none. */
void cp_own_user_mode(struct cp_own *o, const char *user_jid, const struct cp_user *user, char *buf,
                      size_t len);

/* gateway-status: per served domain, whether the own-presence options are honoured, and how
 * many users are seen online. Malloc'd, caller frees; NULL on ENOMEM. */
char *cp_own_report(struct cp_own *o);

#endif
