/* A users-enable / users-disable list checked line by line: the ad-hoc commands (users.c) and
 * the control socket (calpresence-ctl) share one notion of a good line and of a duplicate. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adhoc.h"
#include "config/config.h"

/* Big enough for any bare JID after normalisation (jid.c bounds its parts). */
#define JID_MAX 3072

static char *trim(char *s);
static bool looks_like_address(const char *s);
static int report_bad(struct cp_users_batch *b, size_t lineno, const char *reason,
                      const char *text);
static int cmp_line_jid(const void *a, const void *b);

static char *
trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* An Exchange SMTP address or UPN: local@domain, one '@', no blanks or list separators. */
static bool
looks_like_address(const char *s)
{
    const char *at = strchr(s, '@');

    return at != NULL && at != s && at[1] != '\0' && strchr(at + 1, '@') == NULL &&
           strpbrk(s, " \t,;<>\"/") == NULL && at[1] != '.' && s[strlen(s) - 1] != '.' &&
           strlen(s) <= 254;
}

static int
report_bad(struct cp_users_batch *b, size_t lineno, const char *reason, const char *text)
{
    char buf[256];
    int len;
    char *grown;

    if (++b->bad > CP_USERS_BATCH_REPORTED)
        return 0;
    len = snprintf(buf, sizeof(buf), "line %zu: %s (%.80s)\n", lineno, reason, text);
    if (len < 0)
        return CP_EINVAL;
    if ((size_t)len >= sizeof(buf))
        len = sizeof(buf) - 1;
    grown = realloc(b->report, b->report_len + (size_t)len + 1);
    if (grown == NULL)
        return CP_ENOMEM;
    b->report = grown;
    memcpy(b->report + b->report_len, buf, (size_t)len + 1);
    b->report_len += (size_t)len;
    return 0;
}

int
cp_users_jid(const struct cp_config *cfg, const char *in, char *out, size_t outlen,
             const char **reason)
{
    char local[JID_MAX], domain[JID_MAX];

    *reason = "not a bare JID";
    if (in[0] == '\0' || strpbrk(in, "/ \t,") != NULL || cp_jid_bare(in, out, outlen) != 0 ||
        cp_jid_split(out, local, sizeof(local), domain, sizeof(domain)) != 0)
        return CP_EINVAL;
    *reason = "not a user of a domain served here";
    if (!cp_config_serves_domain(cfg, domain))
        return CP_EINVAL;
    return 0;
}

void
cp_users_batch_init(struct cp_users_batch *b, bool with_mailbox)
{
    memset(b, 0, sizeof(*b));
    b->with_mailbox = with_mailbox;
}

int
cp_users_batch_line(struct cp_users_batch *b, const struct cp_config *cfg, char *text,
                    size_t lineno)
{
    char *jid = trim(text), *comma = strchr(jid, ',');
    char *mailbox = NULL;
    char norm[JID_MAX];
    const char *reason;
    struct cp_user_line *l;

    if (jid[0] == '\0')
        return 0;
    if (comma != NULL) {
        if (!b->with_mailbox)
            return report_bad(b, lineno, "one JID a line, no mailbox here", jid);
        *comma = '\0';
        mailbox = trim(comma + 1);
        jid = trim(jid);
        if (!looks_like_address(mailbox))
            return report_bad(b, lineno, "mailbox is not an address", mailbox);
    }
    if (cp_users_jid(cfg, jid, norm, sizeof(norm), &reason) != 0)
        return report_bad(b, lineno, reason, jid);
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        struct cp_user_line *grown = realloc(b->lines, cap * sizeof(*grown));
        if (grown == NULL)
            return CP_ENOMEM;
        b->lines = grown;
        b->cap = cap;
    }
    l = &b->lines[b->n];
    l->jid = strdup(norm);
    l->typed = strdup(jid);
    l->mailbox = mailbox != NULL ? strdup(mailbox) : NULL;
    l->lineno = lineno;
    if (l->jid == NULL || l->typed == NULL || (mailbox != NULL && l->mailbox == NULL)) {
        free(l->jid);
        free(l->typed);
        free(l->mailbox);
        return CP_ENOMEM;
    }
    b->n++;
    return 0;
}

static int
cmp_line_jid(const void *a, const void *b)
{
    const struct cp_user_line *x = a, *y = b;
    int c = strcmp(x->jid, y->jid);

    if (c != 0)
        return c;
    return x->lineno < y->lineno ? -1 : x->lineno > y->lineno;
}

/* A JID given twice is ambiguous (which mailbox?), so it is a bad line, not a silent win. Two
 * spellings of one JID ("Carol@LOCALHOST", "carol@localhost") are the same user to the server,
 * and the note says so: the admin may not know that case does not count. */
int
cp_users_batch_finish(struct cp_users_batch *b)
{
    size_t i;

    if (b->n > 1)
        qsort(b->lines, b->n, sizeof(*b->lines), cmp_line_jid);
    for (i = 1; i < b->n; i++) {
        const struct cp_user_line *l = &b->lines[i], *first = &b->lines[i - 1];
        char reason[160];
        int rc;

        if (strcmp(l->jid, first->jid) != 0)
            continue;
        if (strcmp(l->typed, first->typed) == 0)
            snprintf(reason, sizeof(reason), "repeats line %zu", first->lineno);
        else
            snprintf(reason, sizeof(reason), "same user as line %zu, %.80s (JIDs ignore case)",
                     first->lineno, l->jid);
        rc = report_bad(b, l->lineno, reason, l->typed);
        if (rc != 0)
            return rc;
    }
    return 0;
}

void
cp_users_batch_clear(struct cp_users_batch *b)
{
    size_t i;

    for (i = 0; i < b->n; i++) {
        free(b->lines[i].jid);
        free(b->lines[i].typed);
        free(b->lines[i].mailbox);
    }
    free(b->lines);
    free(b->report);
    cp_users_batch_init(b, b->with_mailbox);
}
