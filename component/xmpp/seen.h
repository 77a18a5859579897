/* The users' own presence as the XMPP server forwards it to the component under the XEP-0356
 * presence permission (Prosody's mod_privilege, `presence = "managed_entity"` or "roster"):
 * every available or unavailable broadcast of every resource of the server's users, addressed
 * to the component's domain, plus the current presence of each resource right after the
 * handshake. This table keeps, per bare JID, its online resources with their show and
 * entity-capabilities hash (XEP-0115), and the features learnt per hash. It sends nothing. */
#ifndef CP_XMPP_SEEN_H
#define CP_XMPP_SEEN_H

#include <stdbool.h>
#include <stddef.h>

/* A user's show, ordered from least to most available: the best of all resources counts. */
enum cp_seen_show {
    CP_SEEN_OFFLINE,
    CP_SEEN_DND,
    CP_SEEN_XA,
    CP_SEEN_AWAY,
    CP_SEEN_ONLINE, /* available without <show/> */
    CP_SEEN_CHAT,
};

/* What a disco#info answer said of one caps hash. */
enum cp_seen_caps {
    CP_CAPS_UNKNOWN, /* never asked */
    CP_CAPS_ASKED,   /* disco#info sent, no answer yet */
    CP_CAPS_ROSTERX, /* advertises http://jabber.org/protocol/rosterx (XEP-0144) */
    CP_CAPS_PLAIN,   /* answered, without it (or answered with an error) */
};

struct cp_seen;

/* Returns NULL on ENOMEM. */
struct cp_seen *cp_seen_new(void);
void cp_seen_free(struct cp_seen *s);
/* Forgets every resource (the stream is gone: the server sends the current presence of each
 * again after the next handshake) and the questions left unanswered; the caps answers stay, a
 * hash names the same features. */
void cp_seen_clear(struct cp_seen *s);

/* FULL_JID (borrowed) is now available with SHOW (the text of <show/>; NULL or unknown words
 * count as plain online) and caps VER (NULL: none), or, AVAILABLE false, gone. The status text
 * is not kept: nothing here needs what users write in it.
 * Returns 1 when its bare JID's best show changed (online, offline or another show), 0 when
 * not, CP_EINVAL for a JID without resource, CP_ENOMEM. */
int cp_seen_update(struct cp_seen *s, const char *full_jid, bool available, const char *show,
                   const char *ver);

/* BARE's best show over its resources; CP_SEEN_OFFLINE when none is online. */
enum cp_seen_show cp_seen_best(const struct cp_seen *s, const char *bare);
/* "offline", "dnd", "xa", "away", "online", "chat". */
const char *cp_seen_show_name(enum cp_seen_show show);
/* Bare JIDs with at least one resource online. */
size_t cp_seen_online_count(const struct cp_seen *s);

/* The caps cache, by VER. set returns 0 or CP_ENOMEM (the cache holds at most a few thousand
 * hashes; beyond, the oldest answers are forgotten and asked again). */
enum cp_seen_caps cp_seen_caps_get(const struct cp_seen *s, const char *ver);
int cp_seen_caps_set(struct cp_seen *s, const char *ver, enum cp_seen_caps caps);

/* The full JID of an online resource of BARE whose caps say CP_CAPS_ROSTERX, into OUT.
 * Returns 0, or CP_ENOTFOUND. */
int cp_seen_rosterx_resource(const struct cp_seen *s, const char *bare, char *out, size_t outlen);

#endif
