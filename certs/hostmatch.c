/* Host name matching of RFC 6125, written out so that each rule is visible and tested:
 * DNS names against dNSName SANs (one left-most "*" label at most), the subject CN only when
 * there is no dNSName SAN, IP literals (v4 and v6) only against iPAddress SANs. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/x509v3.h>

#include "certs_int.h"

#define HOST_MAX 255

static size_t trimmed_len(const char *s);
static bool labels_valid(const char *s, size_t len);
static int parse_ip(const char *name, unsigned char addr[16]);
static bool ip_in_sans(GENERAL_NAMES *sans, const unsigned char *addr, int len);
static bool dns_in_sans(GENERAL_NAMES *sans, const char *name, bool *any_dns);
static bool cn_matches(X509 *x, const char *name);

/* The length of S without one trailing dot (the root label). */
static size_t
trimmed_len(const char *s)
{
    size_t len = strlen(s);

    return len > 0 && s[len - 1] == '.' ? len - 1 : len;
}

/* True when S[0..LEN) is a non-empty dot-separated list of non-empty labels. */
static bool
labels_valid(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || s[0] == '.' || s[len - 1] == '.')
        return false;
    for (i = 1; i < len; i++)
        if (s[i] == '.' && s[i - 1] == '.')
            return false;
    return true;
}

bool
cert_name_matches(const char *pattern, const char *name)
{
    unsigned char addr[16];
    size_t plen = trimmed_len(pattern);
    size_t nlen = trimmed_len(name);
    const char *ndot;
    size_t nrest;

    if (plen == 0 || nlen == 0 || plen > HOST_MAX || nlen > HOST_MAX)
        return false;
    if (!labels_valid(pattern, plen) || !labels_valid(name, nlen))
        return false;
    /* An IP address is matched against iPAddress SANs only, never a DNS pattern. */
    if (parse_ip(name, addr) > 0)
        return false;
    if (memchr(name, '*', nlen) != NULL)
        return false;
    if (pattern[0] != '*') {
        if (memchr(pattern, '*', plen) != NULL)
            return false;
        return plen == nlen && strncasecmp(pattern, name, plen) == 0;
    }
    /* "*.rest": the star is the whole left-most label, REST has at least two labels (no
     * "*.com"), and no other star. */
    if (plen < 2 || pattern[1] != '.' || memchr(pattern + 1, '*', plen - 1) != NULL)
        return false;
    if (memchr(pattern + 2, '.', plen - 2) == NULL)
        return false;
    ndot = memchr(name, '.', nlen);
    if (ndot == NULL || ndot == name)
        return false;
    nrest = nlen - (size_t)(ndot - name);
    return nrest == plen - 1 && strncasecmp(pattern + 1, ndot, nrest) == 0;
}

/* Parses NAME as an IPv4 or IPv6 literal (brackets allowed around v6). Returns the address
 * length (4 or 16) written to ADDR, or 0 when NAME is not an IP literal. */
static int
parse_ip(const char *name, unsigned char addr[16])
{
    char buf[INET6_ADDRSTRLEN + 2];
    size_t len = strlen(name);

    if (inet_pton(AF_INET, name, addr) == 1)
        return 4;
    if (len >= 2 && name[0] == '[' && name[len - 1] == ']' && len - 2 < sizeof(buf)) {
        memcpy(buf, name + 1, len - 2);
        buf[len - 2] = '\0';
        name = buf;
    }
    if (inet_pton(AF_INET6, name, addr) == 1)
        return 16;
    return 0;
}

static bool
ip_in_sans(GENERAL_NAMES *sans, const unsigned char *addr, int len)
{
    int i;

    for (i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);

        if (gn->type == GEN_IPADD && ASN1_STRING_length(gn->d.iPAddress) == len &&
            memcmp(ASN1_STRING_get0_data(gn->d.iPAddress), addr, (size_t)len) == 0)
            return true;
    }
    return false;
}

static bool
dns_in_sans(GENERAL_NAMES *sans, const char *name, bool *any_dns)
{
    char pattern[HOST_MAX + 2];
    int i;

    *any_dns = false;
    for (i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
        int len;

        if (gn->type != GEN_DNS)
            continue;
        *any_dns = true;
        len = ASN1_STRING_length(gn->d.dNSName);
        /* An embedded NUL or an overlong entry never matches anything. */
        if (len <= 0 || len > HOST_MAX + 1 ||
            memchr(ASN1_STRING_get0_data(gn->d.dNSName), '\0', (size_t)len) != NULL)
            continue;
        memcpy(pattern, ASN1_STRING_get0_data(gn->d.dNSName), (size_t)len);
        pattern[len] = '\0';
        if (cert_name_matches(pattern, name))
            return true;
    }
    return false;
}

/* True when one of X's subject CNs matches NAME. */
static bool
cn_matches(X509 *x, const char *name)
{
    const X509_NAME *subj = X509_get_subject_name(x);
    char pattern[HOST_MAX + 2];
    int idx = -1;

    while ((idx = X509_NAME_get_index_by_NID(subj, NID_commonName, idx)) >= 0) {
        const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
        int len = ASN1_STRING_length(s);

        if (len <= 0 || len > HOST_MAX + 1 ||
            memchr(ASN1_STRING_get0_data(s), '\0', (size_t)len) != NULL)
            continue;
        memcpy(pattern, ASN1_STRING_get0_data(s), (size_t)len);
        pattern[len] = '\0';
        if (cert_name_matches(pattern, name))
            return true;
    }
    return false;
}

enum cert_host_match
cert_match_host(X509 *x, const char *name)
{
    GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    enum cert_host_match res;
    unsigned char addr[16];
    bool any_dns = false;
    int iplen = parse_ip(name, addr);

    if (iplen > 0) {
        /* No CN fallback for IP addresses: a certificate without SANs cannot name one. */
        if (ip_in_sans(sans, addr, iplen))
            res = CERT_HOST_MATCH;
        else
            res = sans != NULL ? CERT_HOST_SAN_MISMATCH : CERT_HOST_CN_MISMATCH;
    } else if (dns_in_sans(sans, name, &any_dns)) {
        res = CERT_HOST_MATCH;
    } else if (any_dns) {
        res = CERT_HOST_SAN_MISMATCH;
    } else {
        res = cn_matches(x, name) ? CERT_HOST_MATCH : CERT_HOST_CN_MISMATCH;
    }
    GENERAL_NAMES_free(sans);
    return res;
}
