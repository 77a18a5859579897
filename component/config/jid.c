/* JID helpers (jid.h): bare JIDs, XEP-0106 escaping and calendar JIDs.
 *
 * Validation is deliberately modest: it refuses what RFC 7622 forbids in ASCII (the eight
 * characters disallowed in localparts, spaces and control characters, empty or over-long parts)
 * and passes UTF-8 through unchanged; the XMPP server does full PRECIS enforcement. */
#include "jid.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "error.h"

/* The ten characters XEP-0106 escapes, each as "\xx" with lower-case hex digits. */
static const char escapable[] = " \"&'/:<>@\\";

struct jid_parts {
    const char *local; /* NULL for a domain-only JID */
    size_t local_len;
    const char *domain;
    size_t domain_len;
};

static int parse_jid(const char *jid, bool allow_resource, struct jid_parts *p);
static bool local_ok(const char *s, size_t n);
static bool domain_ok(const char *s, size_t n);
static int put(char *out, size_t outlen, size_t *pos, const char *s, size_t n);
static int put_domain(char *out, size_t outlen, size_t *pos, const char *s, size_t n);
static int escape_value(const char *s);
static int hexval(char c);

/* Splits JID into its parts without copying. A trailing dot of the domain is dropped
 * (RFC 7622 3.2). Returns 0 or CP_EINVAL. */
static int
parse_jid(const char *jid, bool allow_resource, struct jid_parts *p)
{
    if (jid == NULL || *jid == '\0')
        return CP_EINVAL;
    const char *slash = strchr(jid, '/');
    if (slash != NULL && (!allow_resource || slash[1] == '\0'))
        return CP_EINVAL;
    size_t bare_len = slash ? (size_t)(slash - jid) : strlen(jid);
    const char *at = memchr(jid, '@', bare_len);

    if (at != NULL) {
        p->local = jid;
        p->local_len = (size_t)(at - jid);
        p->domain = at + 1;
        p->domain_len = bare_len - p->local_len - 1;
        if (!local_ok(p->local, p->local_len))
            return CP_EINVAL;
    } else {
        p->local = NULL;
        p->local_len = 0;
        p->domain = jid;
        p->domain_len = bare_len;
    }
    if (p->domain_len > 1 && p->domain[p->domain_len - 1] == '.')
        p->domain_len--;
    return domain_ok(p->domain, p->domain_len) ? CP_OK : CP_EINVAL;
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

/* Like put(), lower-casing ASCII letters. */
static int
put_domain(char *out, size_t outlen, size_t *pos, const char *s, size_t n)
{
    size_t start = *pos;
    int rc = put(out, outlen, pos, s, n);

    for (size_t i = start; rc == CP_OK && i < *pos; i++) {
        if (out[i] >= 'A' && out[i] <= 'Z')
            out[i] = (char)(out[i] - 'A' + 'a');
    }
    return rc;
}

int
cp_jid_bare(const char *jid, char *out, size_t outlen)
{
    struct jid_parts p;
    size_t pos = 0;

    if (parse_jid(jid, true, &p) != CP_OK)
        return CP_EINVAL;
    if (p.local != NULL && (put(out, outlen, &pos, p.local, p.local_len) != CP_OK ||
                            put(out, outlen, &pos, "@", 1) != CP_OK))
        return CP_EINVAL;
    return put_domain(out, outlen, &pos, p.domain, p.domain_len);
}

int
cp_jid_split(const char *bare, char *local, size_t locallen, char *domain, size_t domainlen)
{
    struct jid_parts p;
    size_t lpos = 0, dpos = 0;

    if (parse_jid(bare, false, &p) != CP_OK || p.local == NULL)
        return CP_EINVAL;
    if (put(local, locallen, &lpos, p.local, p.local_len) != CP_OK)
        return CP_EINVAL;
    return put_domain(domain, domainlen, &dpos, p.domain, p.domain_len);
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
    char local[CP_JID_PART_MAX + 1], domain[CP_JID_PART_MAX + 1], bare[CP_JID_BARE_MAX];
    char esc[CP_JID_PART_MAX + 1], comp[CP_JID_PART_MAX + 1];
    struct jid_parts cp;
    size_t pos = 0, cpos = 0;

    if (primary_domain == NULL || component == NULL ||
        cp_jid_split(user_bare, local, sizeof(local), domain, sizeof(domain)) != CP_OK)
        return CP_EINVAL;
    if (parse_jid(component, false, &cp) != CP_OK || cp.local != NULL ||
        put_domain(comp, sizeof(comp), &cpos, cp.domain, cp.domain_len) != CP_OK)
        return CP_EINVAL;
    /* The primary domain's localpart is escaped too (a no-op for ordinary names) so that a
     * localpart which itself looks like an escape sequence maps back to the same user. */
    if (strcasecmp(domain, primary_domain) == 0) {
        if (cp_jid_escape(local, esc, sizeof(esc)) != CP_OK)
            return CP_EINVAL;
    } else {
        size_t bpos = 0;
        if (put(bare, sizeof(bare), &bpos, local, strlen(local)) != CP_OK ||
            put(bare, sizeof(bare), &bpos, "@", 1) != CP_OK ||
            put(bare, sizeof(bare), &bpos, domain, strlen(domain)) != CP_OK ||
            cp_jid_escape(bare, esc, sizeof(esc)) != CP_OK)
            return CP_EINVAL;
    }
    if (put(out, outlen, &pos, esc, strlen(esc)) != CP_OK ||
        put(out, outlen, &pos, "@", 1) != CP_OK)
        return CP_EINVAL;
    return put(out, outlen, &pos, comp, strlen(comp));
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
    char local[CP_JID_PART_MAX + 1], domain[CP_JID_PART_MAX + 1];
    size_t pos = 0;

    if (cp_jid_split(user_bare, local, sizeof(local), domain, sizeof(domain)) != CP_OK)
        return CP_EINVAL;
    if (mailbox_domain != NULL && *mailbox_domain != '\0') {
        struct jid_parts md;
        if (parse_jid(mailbox_domain, false, &md) != CP_OK || md.local != NULL)
            return CP_EINVAL;
        if (put(out, outlen, &pos, local, strlen(local)) != CP_OK ||
            put(out, outlen, &pos, "@", 1) != CP_OK)
            return CP_EINVAL;
        return put_domain(out, outlen, &pos, md.domain, md.domain_len);
    }
    if (put(out, outlen, &pos, local, strlen(local)) != CP_OK ||
        put(out, outlen, &pos, "@", 1) != CP_OK)
        return CP_EINVAL;
    return put(out, outlen, &pos, domain, strlen(domain));
}
