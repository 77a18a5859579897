/* JID helpers: normalised JIDs, XEP-0106 escaping, and the calendar JID of a user. */
#ifndef CP_JID_H
#define CP_JID_H

#include <stddef.h>

/* Longest localpart or domain in bytes (RFC 7622), and a buffer size that holds any bare JID
 * these functions accept, including the terminating NUL. */
#define CP_JID_PART_MAX 1023
#define CP_JID_BARE_MAX (2 * CP_JID_PART_MAX + 2)
/* The same for a full JID (bare JID, '/', resourcepart). */
#define CP_JID_FULL_MAX (3 * CP_JID_PART_MAX + 3)

/* Details the functions below follow (jid.c):
 * - escaping refuses a string that begins or ends with a space (XEP-0106 section 4.2), and only
 *   the ten sequences with lower-case hex digits ("\2f", not "\2F") count as sequences;
 * - unescaping refuses a string holding a raw character that escaping would have replaced;
 * - a primary-domain localpart is escaped too in its calendar JID (a no-op unless it contains a
 *   backslash sequence), and cp_jid_user_from_calendar accepts only the canonical calendar JID
 *   of a user (the resource is ignored, the component compared without case);
 * - every function that takes a JID normalises it as XMPP servers do: the localpart with
 *   nodeprep, the domain with nameprep (both case-fold, so "Carol@LOCALHOST" is
 *   "carol@localhost"), a trailing dot of the domain dropped; a resourcepart is kept as given.
 *   Nodeprep folds "\2F" to "\2f", which is then an escape sequence, as it is for the server;
 * - a JID the profiles refuse (prohibited or unassigned-and-mapped code points, mixed
 *   right-to-left text, invalid UTF-8), or whose parts grow past CP_JID_PART_MAX, is refused. */

/* Writes the normalised bare form of JID (no resource) into OUT.
 * Returns 0, or CP_EINVAL for an empty/malformed JID or when OUT is too small. */
int cp_jid_bare(const char *jid, char *out, size_t outlen);

/* Writes the normalised form of JID, its resourcepart (if any) copied unchanged, into OUT.
 * Returns 0, or CP_EINVAL for a malformed JID, a resourcepart over CP_JID_PART_MAX bytes, or
 * when OUT is too small. */
int cp_jid_full(const char *jid, char *out, size_t outlen);

/* Splits a bare JID into its normalised localpart and domain (copies). Returns 0 or CP_EINVAL
 * (no '@', empty parts, a resource). */
int cp_jid_split(const char *bare, char *local, size_t locallen, char *domain, size_t domainlen);

/* XEP-0106 escaping of a localpart ("alice@other.org" -> "alice\40other.org").
 * Returns 0 or CP_EINVAL when OUT is too small. */
int cp_jid_escape(const char *in, char *out, size_t outlen);

/* Reverses cp_jid_escape. Returns 0 or CP_EINVAL. */
int cp_jid_unescape(const char *in, char *out, size_t outlen);

/* The calendar JID of user USER_BARE: "local@COMPONENT" for the primary domain, else the
 * escaped bare JID as localpart. Returns 0, or CP_EINVAL, also when that JID would not survive
 * the server's normalisation unchanged (so could never be routed to us). */
int cp_jid_calendar(const char *user_bare, const char *primary_domain, const char *component,
                    char *out, size_t outlen);

/* The user's bare JID from a calendar JID addressed to COMPONENT. Returns 0, or CP_EINVAL
 * when CAL is not a calendar JID of COMPONENT. */
int cp_jid_user_from_calendar(const char *cal, const char *primary_domain, const char *component,
                              char *out, size_t outlen);

/* The default mailbox of a user: the bare JID with its domain replaced by MAILBOX_DOMAIN when
 * that is non-NULL and non-empty. Returns 0 or CP_EINVAL. */
int cp_jid_default_mailbox(const char *user_bare, const char *mailbox_domain, char *out,
                           size_t outlen);

#endif
