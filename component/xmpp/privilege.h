/* XEP-0356 (Privileged Entity): the privileges an XMPP server grants the component, as it
 * advertises them in a <message/> right after the handshake. Prosody's mod_privilege and
 * ejabberd 24.10+ speak urn:xmpp:privilege:2, older ejabberd urn:xmpp:privilege:1; both carry
 * the same <perm access='...' type='...'/> elements for what this daemon uses. */
#ifndef CP_XMPP_PRIVILEGE_H
#define CP_XMPP_PRIVILEGE_H

#include <stddef.h>

#include <strophe.h>

#define CP_PRIV_NS_1 "urn:xmpp:privilege:1"
#define CP_PRIV_NS_2 "urn:xmpp:privilege:2"

/* Roster access, as bits: "both" is GET | SET. */
#define CP_PRIV_ROSTER_GET 1u
#define CP_PRIV_ROSTER_SET 2u

/* IQ access to one namespace (privilege:2), as bits: "both" is GET | SET. */
#define CP_PRIV_IQ_GET 1u
#define CP_PRIV_IQ_SET 2u

#define CP_PRIV_NS_PUBSUB "http://jabber.org/protocol/pubsub"

struct cp_privileges {
    int version;        /* 1 or 2: the namespace it came in; 0 when nothing was granted */
    unsigned roster;    /* CP_PRIV_ROSTER_* bits */
    char message[16];   /* "outgoing" or "none" */
    char presence[16];  /* "managed_entity", "roster" or "none" */
    unsigned iq_spaces; /* namespaces with an iq permission (privilege:2) */
    unsigned iq_pubsub; /* CP_PRIV_IQ_* bits for CP_PRIV_NS_PUBSUB: PEP as the user (pep.c) */
};

/* Reads the advertisement in MESSAGE (borrowed). Returns 0 with *OUT filled, CP_ENOTFOUND when
 * MESSAGE carries no <privilege/> of either namespace (not an advertisement), or CP_EINVAL
 * when a <perm/> lacks its access or type (OUT then holds the rest). Unknown access kinds and
 * types are ignored: a server may grant what this daemon does not use. */
int cp_privilege_parse(xmpp_stanza_t *message, struct cp_privileges *out);

/* "roster both, message outgoing, presence roster, iq 1 namespace(s) (pubsub set)" into BUF;
 * the parenthesis names what the daemon uses of the iq permission, when granted. */
void cp_privilege_describe(const struct cp_privileges *p, char *buf, size_t len);

#endif
