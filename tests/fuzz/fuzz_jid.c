/* tests/fuzz/fuzz_jid.c: JID normalisation and calendar JIDs (component/config/jid.c) on
 * arbitrary bytes, checked against the promises the daemon relies on:
 * - normalising is idempotent: a normalised JID normalises to itself (else a stored JID would
 *   not match the same JID arriving in a stanza);
 * - the bare JID of a full JID is the bare JID of its normalised form, and the resourcepart
 *   comes out exactly as it went in;
 * - split and bare agree;
 * - a user's calendar JID, when there is one, names that user again (for the primary domain and
 *   for another), and is itself normalised;
 * - XEP-0106 escaping of a normalised localpart unescapes to it;
 * - for ASCII, where jid.c folds case itself instead of calling libidn, the result is libidn's.
 * Any crash, sanitizer report or broken promise is a bug. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

#include "config/error.h"
#include "config/jid.h"

#define COMPONENT "calendar.example.com"
#define PRIMARY "example.com"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
broken(const char *promise, const char *in, const char *got)
{
    fprintf(stderr, "fuzz_jid: %s\n  input: %s\n  got:   %s\n", promise, in, got);
    abort();
}

/* The calendar JID of BARE under PRIMARY_DOMAIN names BARE again, and is normalised. */
static void
check_calendar(const char *bare, const char *primary_domain)
{
    char cal[CP_JID_BARE_MAX], back[CP_JID_BARE_MAX], again[CP_JID_BARE_MAX];

    if (cp_jid_calendar(bare, primary_domain, COMPONENT, cal, sizeof(cal)) != CP_OK)
        return;
    if (cp_jid_bare(cal, again, sizeof(again)) != CP_OK || strcmp(again, cal) != 0)
        broken("a calendar JID is normalised", bare, cal);
    if (cp_jid_user_from_calendar(cal, primary_domain, COMPONENT, back, sizeof(back)) != CP_OK ||
        strcmp(back, bare) != 0)
        broken("a calendar JID names its user again", bare, cal);
}

static void
check_bare(const char *in, const char *bare)
{
    char again[CP_JID_BARE_MAX], local[CP_JID_PART_MAX + 1], domain[CP_JID_PART_MAX + 1];
    char esc[CP_JID_PART_MAX + 1], unesc[CP_JID_PART_MAX + 1];

    if (cp_jid_bare(bare, again, sizeof(again)) != CP_OK || strcmp(again, bare) != 0)
        broken("normalising is idempotent", in, bare);
    if (strchr(bare, '@') == NULL)
        return;
    if (cp_jid_split(bare, local, sizeof(local), domain, sizeof(domain)) != CP_OK ||
        strlen(local) + 1 + strlen(domain) != strlen(bare) || strncmp(bare, local, strlen(local)) ||
        strcmp(bare + strlen(local) + 1, domain) != 0)
        broken("split agrees with bare", in, bare);
    if (cp_jid_escape(local, esc, sizeof(esc)) == CP_OK &&
        (cp_jid_unescape(esc, unesc, sizeof(unesc)) != CP_OK || strcmp(unesc, local) != 0))
        broken("escaping round-trips", in, esc);
    check_calendar(bare, PRIMARY);
    check_calendar(bare, domain);
}

/* IN is ASCII "local@domain" that cp_jid_bare accepted as BARE: libidn must accept it too and
 * give the same parts (jid.c may refuse more, by RFC 7622's ASCII rules, so only an accepted
 * JID is compared). */
static void
check_ascii_shortcut(const char *in, const char *bare)
{
    char local[CP_JID_PART_MAX + 1], domain[CP_JID_PART_MAX + 1];
    const char *at = strchr(in, '@');
    size_t n = at != NULL ? (size_t)(at - in) : 0;

    for (const char *c = in; *c != '\0'; c++)
        if ((unsigned char)*c >= 0x80 || *c == '/')
            return;
    if (at == NULL || n > CP_JID_PART_MAX || strlen(at + 1) > CP_JID_PART_MAX ||
        strchr(at + 1, '@') != NULL)
        return;
    memcpy(local, in, n);
    local[n] = '\0';
    snprintf(domain, sizeof(domain), "%s", at + 1);
    if (stringprep_xmpp_nodeprep(local, sizeof(local)) != STRINGPREP_OK ||
        stringprep_nameprep(domain, sizeof(domain)) != STRINGPREP_OK)
        broken("libidn refuses what the ASCII shortcut accepts", in, bare);
    n = strlen(domain);
    if (n > 1 && domain[n - 1] == '.')
        domain[n - 1] = '\0';
    if (strlen(local) + 1 + strlen(domain) != strlen(bare) ||
        strncmp(bare, local, strlen(local)) != 0 || strcmp(bare + strlen(local) + 1, domain) != 0)
        broken("the ASCII shortcut folds as libidn does", in, bare);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    char full[CP_JID_FULL_MAX], bare[CP_JID_BARE_MAX], bare2[CP_JID_BARE_MAX];

    if (in == NULL)
        abort();
    memcpy(in, data, size);
    in[size] = '\0';
    int rc_bare = cp_jid_bare(in, bare, sizeof(bare));
    if (cp_jid_full(in, full, sizeof(full)) == CP_OK) {
        const char *slash_in = strchr(in, '/'), *slash_out = strchr(full, '/');
        if (rc_bare != CP_OK || cp_jid_bare(full, bare2, sizeof(bare2)) != CP_OK ||
            strcmp(bare, bare2) != 0)
            broken("the bare JID of the normalised full JID is the bare JID", in, full);
        if ((slash_in == NULL) != (slash_out == NULL) ||
            (slash_in != NULL && strcmp(slash_in, slash_out) != 0))
            broken("the resourcepart is kept as given", in, full);
    }
    if (rc_bare == CP_OK) {
        check_bare(in, bare);
        check_ascii_shortcut(in, bare);
    }
    free(in);
    return 0;
}
