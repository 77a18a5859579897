/* Roster provisioning (XEP-0356 Privileged Entity, issue 11): where the XMPP server grants the
 * component roster access, a user who enables calendar presence has their calendar JID put into
 * the roster of each of their contacts on a served domain, as a subscription the contact holds,
 * so that contacts see calendar presence without subscribing. Where the server grants no roster
 * write access or refuses it, each contact is sent a subscription request instead. A disable
 * takes the items out again. The work is a queue in the store, a few IQs in flight at a time,
 * so a users-enable of thousands is paced and a restart resumes it. */
#ifndef CP_XMPP_ROSTER_H
#define CP_XMPP_ROSTER_H

#include <stdbool.h>

#include <strophe.h>

struct cp_daemon;
struct cp_roster;
struct cp_privileges;

/* Creates the provisioner of daemon D (borrowed; its base, store, xmpp and cfg must be set).
 * Nothing is sent before cp_roster_online. Returns NULL on ENOMEM. */
struct cp_roster *cp_roster_new(struct cp_daemon *d);
void cp_roster_free(struct cp_roster *r);

/* The stream is up: privileges are forgotten until the server advertises them again; queued
 * work starts once they arrive, or after a short grace when none come. */
void cp_roster_online(struct cp_roster *r);
/* The stream is gone: operations in flight stay queued and run again after the next handshake. */
void cp_roster_offline(struct cp_roster *r);

/* MESSAGE (borrowed) came to the component: when it is a privilege advertisement from a served
 * domain, records and logs it and returns true; otherwise returns false. */
bool cp_roster_on_message(struct cp_roster *r, xmpp_stanza_t *message);

/* USER_JID was enabled, disabled or changed settings: queues the provisioning of its contacts
 * (once per enable) or the removal of what was provisioned. */
void cp_roster_user_changed(struct cp_roster *r, const char *user_jid);

/* What the server hosting JID's domain granted on this connection (borrowed, valid until the
 * next handshake), or NULL when it advertised nothing (yet). Other privileged features (the
 * user's own presence, PEP) ask here, so one place hears the advertisement. */
const struct cp_privileges *cp_roster_privileges(const struct cp_roster *r, const char *jid);

/* How JID's contacts get its calendar JID, from what JID's server granted: "roster-provisioned"
 * (roster write), "subscription-requests" (roster read only, or write refused: XEP-0144
 * suggestions or subscription requests) or "plain" (contacts subscribe by hand). Static. */
const char *cp_roster_mode(const struct cp_roster *r, const char *jid);

/* Reads the roster of USER (borrowed) from RESULT, the server's answer to the component's
 * roster get (borrowed; contents written by the user): calls EACH once an item with the item's
 * JID made bare and normalised (borrowed for the call), skipping items without a valid JID,
 * items being removed and USER itself. Returns the number of calls. */
typedef void (*cp_roster_item_cb)(const char *contact, void *ud);
long cp_roster_items_each(xmpp_stanza_t *result, const char *user, cp_roster_item_cb each,
                          void *ud);

/* gateway-status: the privileges in force and the queue, a few lines. Malloc'd, caller frees;
 * NULL on ENOMEM. */
char *cp_roster_report(struct cp_roster *r);

#endif
