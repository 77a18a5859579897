/* JID helpers (jid.h): normalised JIDs, XEP-0106 escaping and calendar JIDs.
 *
 * Every JID that enters the daemon goes through normalise(): the localpart through nodeprep and
 * the domain through nameprep (RFC 3920 appendix A and RFC 3491, libidn's profiles), which is
 * what Prosody and ejabberd apply, so that "Carol@LOCALHOST" and the "carol@localhost" the server
 * sends are one user. On top of the profiles it refuses what RFC 7622 forbids in ASCII (the eight
 * characters disallowed in localparts, spaces and control characters, empty or over-long parts).
 * A resourcepart is copied as given: it only names a client and is never stored. */
#include "jid.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <stringprep.h>

#include "error.h"

/* The ten characters XEP-0106 escapes, each as "\xx" with lower-case hex digits. */
static const char escapable[] = " \"&'/:<>@\\";

/* A JID split and normalised: copies of localpart and domain, the resource borrowed. */
struct jid_parts {
    bool has_local; /* false for a domain-only JID */
    char local[CP_JID_PART_MAX + 1];
    char domain[CP_JID_PART_MAX + 1];
    const char *resource; /* into the input, NULL when absent */
    size_t resource_len;
};

static int normalise(const char *jid, bool allow_resource, struct jid_parts *p);
static int prep_part(const char *s, size_t n, bool domain, char *out);
static bool local_ok(const char *s, size_t n);
static bool domain_ok(const char *s, size_t n);
static int put(char *out, size_t outlen, size_t *pos, const char *s, size_t n);
static int put_bare(char *out, size_t outlen, size_t *pos, const struct jid_parts *p);
static int escape_value(const char *s);
static int hexval(char c);

/* Splits JID and normalises its parts into P. Returns 0 or CP_EINVAL (malformed, refused by
 * the profiles, or a part longer than CP_JID_PART_MAX once normalised). */
static int
normalise(const char *jid, bool allow_resource, struct jid_parts *p)
{
    if (jid == NULL || *jid == '\0')
        return CP_EINVAL;
    const char *slash = strchr(jid, '/');
    if (slash != NULL && (!allow_resource || slash[1] == '\0'))
        return CP_EINVAL;
    size_t bare_len = slash ? (size_t)(slash - jid) : strlen(jid);
    const char *at = memchr(jid, '@', bare_len);
    const char *domain = at ? at + 1 : jid;
    size_t domain_len = bare_len - (size_t)(domain - jid);

    p->has_local = at != NULL;
    p->resource = slash ? slash + 1 : NULL;
    p->resource_len = slash ? strlen(slash + 1) : 0;
    if (p->has_local && prep_part(jid, (size_t)(at - jid), false, p->local) != CP_OK)
        return CP_EINVAL;
    if (prep_part(domain, domain_len, true, p->domain) != CP_OK)
        return CP_EINVAL;
    return CP_OK;
}

/* Runs nodeprep (or, for DOMAIN, nameprep) over the N bytes at S into OUT, which holds
 * CP_JID_PART_MAX + 1 bytes, and checks the result: the profiles map and fold before they
 * prohibit, so only the output says whether the part is acceptable. A domain's trailing dot is
 * dropped (RFC 7622 3.2) after nameprep, which may produce one from a full-width stop. */
static int
prep_part(const char *s, size_t n, bool domain, char *out)
{
    int rc;

    bool ascii = true;

    if (n == 0 || n > CP_JID_PART_MAX)
        return CP_EINVAL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        ascii = ascii && c < 0x80;
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    out[n] = '\0';
    /* For ASCII both profiles only fold case (no ASCII character maps to nothing, NFKC leaves
     * ASCII alone, and nodeprep's ASCII prohibitions are local_ok's): the libidn call, a table
     * search per character and half the cost of a stanza's JIDs, is for the rest. fuzz_jid
     * checks the shortcut against libidn. The profiles refuse an output longer than the
     * buffer: no part outgrows RFC 7622. */
    if (!ascii) {
        memcpy(out, s, n);
        rc = domain ? stringprep_nameprep(out, CP_JID_PART_MAX + 1)
                    : stringprep_xmpp_nodeprep(out, CP_JID_PART_MAX + 1);
        if (rc != STRINGPREP_OK)
            return CP_EINVAL;
    }
    n = strlen(out);
    if (!domain)
        return local_ok(out, n) ? CP_OK : CP_EINVAL;
    if (n > 1 && out[n - 1] == '.')
        out[--n] = '\0';
    return domain_ok(out, n) ? CP_OK : CP_EINVAL;
}

static bool
local_ok(const char *s, size_t n)
{
    if (n == 0 || n > CP_JID_PART_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 0x7f || (c != '\\' && strchr(escapable, c) != NULL))
            return false;
    }
    return true;
}

/* A domain: non-empty dot-separated labels, or a bracketed IP literal, without '@', '/', spaces
 * or control characters. */
static bool
domain_ok(const char *s, size_t n)
{
    if (n == 0 || n > CP_JID_PART_MAX || s[0] == '.')
        return false;
    /* An IPv6 literal is bracketed; anywhere else a colon would be a port, not a domain. */
    if (s[0] != '[' && memchr(s, ':', n) != NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 0x7f || c == '@' || c == '/' || c == '\\' || c == '"' || c == '\'' ||
            c == '<' || c == '>' || c == '&')
            return false;
        if (c == '.' && (i + 1 == n || s[i + 1] == '.'))
            return false;
    }
    return true;
}

/* Appends N bytes of S at *POS in OUT, keeping OUT NUL-terminated. */
static int
put(char *out, size_t outlen, size_t *pos, const char *s, size_t n)
{
    if (outlen == 0 || n >= outlen - *pos)
        return CP_EINVAL;
    memcpy(out + *pos, s, n);
    *pos += n;
    out[*pos] = '\0';
    return CP_OK;
}

/* Appends "local@domain" (or "domain") of P. */
static int
put_bare(char *out, size_t outlen, size_t *pos, const struct jid_parts *p)
{
    if (p->has_local && (put(out, outlen, pos, p->local, strlen(p->local)) != CP_OK ||
                         put(out, outlen, pos, "@", 1) != CP_OK))
        return CP_EINVAL;
    return put(out, outlen, pos, p->domain, strlen(p->domain));
}

int
cp_jid_bare(const char *jid, char *out, size_t outlen)
{
    struct jid_parts p;
    size_t pos = 0;

    if (normalise(jid, true, &p) != CP_OK)
        return CP_EINVAL;
    return put_bare(out, outlen, &pos, &p);
}

int
cp_jid_full(const char *jid, char *out, size_t outlen)
{
    struct jid_parts p;
    size_t pos = 0;

    if (normalise(jid, true, &p) != CP_OK || put_bare(out, outlen, &pos, &p) != CP_OK)
        return CP_EINVAL;
    if (p.resource == NULL)
        return CP_OK;
    if (p.resource_len > CP_JID_PART_MAX || put(out, outlen, &pos, "/", 1) != CP_OK)
        return CP_EINVAL;
    return put(out, outlen, &pos, p.resource, p.resource_len);
}

int
cp_jid_split(const char *bare, char *local, size_t locallen, char *domain, size_t domainlen)
{
    struct jid_parts p;
    size_t lpos = 0, dpos = 0;

    if (normalise(bare, false, &p) != CP_OK || !p.has_local)
        return CP_EINVAL;
    if (put(local, locallen, &lpos, p.local, strlen(p.local)) != CP_OK)
        return CP_EINVAL;
    return put(domain, domainlen, &dpos, p.domain, strlen(p.domain));
}

/* The character that the escape sequence at S ("\xx") stands for, or -1 when S does not start
 * with one of the ten sequences. */
static int
escape_value(const char *s)
{
    if (s[0] != '\\')
        return -1;
    int hi = hexval(s[1]);
    int lo = hi < 0 ? -1 : hexval(s[2]);
    if (lo < 0)
        return -1;
    int c = hi * 16 + lo;
    return c != 0 && strchr(escapable, c) != NULL ? c : -1;
}

/* XEP-0106 writes its sequences with lower-case hex digits; only those are recognised, so that
 * escaping and unescaping agree on what is a sequence. */
static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int
cp_jid_escape(const char *in, char *out, size_t outlen)
{
    size_t pos = 0, n;
    char seq[4];

    if (in == NULL || outlen == 0)
        return CP_EINVAL;
    out[0] = '\0';
    n = strlen(in);
    /* XEP-0106 section 4.2: a localpart must not begin or end with an escaped space. */
    if (n > 0 && (in[0] == ' ' || in[n - 1] == ' '))
        return CP_EINVAL;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        bool esc = c != '\\' ? strchr(escapable, c) != NULL : escape_value(in + i) >= 0;
        int rc;
        if (esc) {
            seq[0] = '\\';
            seq[1] = "0123456789abcdef"[(unsigned char)c >> 4];
            seq[2] = "0123456789abcdef"[(unsigned char)c & 15];
            rc = put(out, outlen, &pos, seq, 3);
        } else {
            rc = put(out, outlen, &pos, &c, 1);
        }
        if (rc != CP_OK)
            return rc;
    }
    return CP_OK;
}

int
cp_jid_unescape(const char *in, char *out, size_t outlen)
{
    size_t pos = 0;

    if (in == NULL || outlen == 0)
        return CP_EINVAL;
    out[0] = '\0';
    for (size_t i = 0; in[i] != '\0'; i++) {
        int v = escape_value(in + i);
        char c = v >= 0 ? (char)v : in[i];
        /* A raw disallowed character means IN is not an escaped localpart. */
        if (v < 0 && c != '\\' && strchr(escapable, c) != NULL)
            return CP_EINVAL;
        if (put(out, outlen, &pos, &c, 1) != CP_OK)
            return CP_EINVAL;
        if (v >= 0)
            i += 2;
    }
    return CP_OK;
}

int
cp_jid_calendar(const char *user_bare, const char *primary_domain, const char *component, char *out,
                size_t outlen)
{
    char bare[CP_JID_BARE_MAX], esc[CP_JID_PART_MAX + 1], check[CP_JID_BARE_MAX];
    struct jid_parts user, comp;
    size_t pos = 0;

    if (primary_domain == NULL || component == NULL ||
        normalise(user_bare, false, &user) != CP_OK || !user.has_local ||
        normalise(component, false, &comp) != CP_OK || comp.has_local)
        return CP_EINVAL;
    /* The primary domain's localpart is escaped too (a no-op for ordinary names) so that a
     * localpart which itself looks like an escape sequence maps back to the same user. */
    if (strcasecmp(user.domain, primary_domain) == 0) {
        if (cp_jid_escape(user.local, esc, sizeof(esc)) != CP_OK)
            return CP_EINVAL;
    } else {
        size_t bpos = 0;
        if (put_bare(bare, sizeof(bare), &bpos, &user) != CP_OK ||
            cp_jid_escape(bare, esc, sizeof(esc)) != CP_OK)
            return CP_EINVAL;
    }
    if (put(out, outlen, &pos, esc, strlen(esc)) != CP_OK ||
        put(out, outlen, &pos, "@", 1) != CP_OK ||
        put(out, outlen, &pos, comp.domain, strlen(comp.domain)) != CP_OK)
        return CP_EINVAL;
    /* The server normalises the calendar JID again before routing to it, and one that changed
     * would never reach us: nodeprep's bidi rule refuses, for example, a right-to-left domain
     * escaped behind a left-to-right localpart. */
    if (cp_jid_bare(out, check, sizeof(check)) != CP_OK || strcmp(check, out) != 0)
        return CP_EINVAL;
    return CP_OK;
}

int
cp_jid_user_from_calendar(const char *cal, const char *primary_domain, const char *component,
                          char *out, size_t outlen)
{
    char bare[CP_JID_BARE_MAX], local[CP_JID_PART_MAX + 1], domain[CP_JID_PART_MAX + 1];
    char user[CP_JID_BARE_MAX], check[CP_JID_BARE_MAX];

    if (primary_domain == NULL || cp_jid_bare(cal, bare, sizeof(bare)) != CP_OK ||
        cp_jid_split(bare, local, sizeof(local), domain, sizeof(domain)) != CP_OK ||
        cp_jid_unescape(local, user, sizeof(user)) != CP_OK)
        return CP_EINVAL;
    if (strchr(user, '@') == NULL) {
        size_t n = strlen(user);
        if (put(user, sizeof(user), &n, "@", 1) != CP_OK ||
            put(user, sizeof(user), &n, primary_domain, strlen(primary_domain)) != CP_OK)
            return CP_EINVAL;
    }
    /* Only the canonical calendar JID names a user: "alice\40example.com@cal" for a user of
     * the primary domain, or a JID of another component, is refused. */
    if (cp_jid_calendar(user, primary_domain, component, check, sizeof(check)) != CP_OK ||
        strcmp(check, bare) != 0)
        return CP_EINVAL;
    return cp_jid_bare(user, out, outlen);
}

int
cp_jid_default_mailbox(const char *user_bare, const char *mailbox_domain, char *out, size_t outlen)
{
    struct jid_parts user, md;
    const char *domain;
    size_t pos = 0;

    if (normalise(user_bare, false, &user) != CP_OK || !user.has_local)
        return CP_EINVAL;
    domain = user.domain;
    if (mailbox_domain != NULL && *mailbox_domain != '\0') {
        if (normalise(mailbox_domain, false, &md) != CP_OK || md.has_local)
            return CP_EINVAL;
        domain = md.domain;
    }
    if (put(out, outlen, &pos, user.local, strlen(user.local)) != CP_OK ||
        put(out, outlen, &pos, "@", 1) != CP_OK)
        return CP_EINVAL;
    return put(out, outlen, &pos, domain, strlen(domain));
}
