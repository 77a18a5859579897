/* Describes one certificate for a person: names, validity, key, signature, fingerprint. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "certs_int.h"

static char *name_oneline(const X509_NAME *name);
static char *subject_cn(X509 *x);
static int add_str(char ***arr, size_t *n, char *s);
static int collect_sans(X509 *x, struct cert_info *info);
static time_t asn1_to_time(const ASN1_TIME *t);
static void key_describe(X509 *x, struct cert_info *info);
static void print_list(FILE *out, const char *label, char *const *items, size_t n);
static size_t utf8_printable(const unsigned char *p, size_t left);
static void write_safe(FILE *out, const unsigned char *p, size_t len);
static void print_safe(FILE *out, const char *s);
static char *safe_dup(const void *p, size_t len);

/* Returns a malloc'd RFC 2253 string, control characters as \xNN (caller frees), or NULL on
 * ENOMEM. */
static char *
name_oneline(const X509_NAME *name)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data;
    char *s = NULL;
    long len;

    if (bio == NULL)
        return NULL;
    if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        len = BIO_get_mem_data(bio, &data);
        s = safe_dup(data, (size_t)len);
    }
    BIO_free(bio);
    return s;
}

/* Returns the last CN of X's subject as a malloc'd UTF-8 string (caller frees), or NULL. */
static char *
subject_cn(X509 *x)
{
    const X509_NAME *name = X509_get_subject_name(x);
    unsigned char *utf8 = NULL;
    char *s;
    int idx = -1;
    int last = -1;
    int len;

    while ((idx = X509_NAME_get_index_by_NID(name, NID_commonName, idx)) >= 0)
        last = idx;
    if (last < 0)
        return NULL;
    len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, last)));
    if (len < 0)
        return NULL;
    s = strndup((char *)utf8, (size_t)len);
    OPENSSL_free(utf8);
    return s;
}

/* Appends S (ownership taken, even on failure) to the array *ARR of *N. */
static int
add_str(char ***arr, size_t *n, char *s)
{
    char **grown;

    if (s == NULL)
        return CERT_ENOMEM;
    grown = realloc(*arr, (*n + 1) * sizeof(*grown));
    if (grown == NULL) {
        free(s);
        return CERT_ENOMEM;
    }
    grown[(*n)++] = s;
    *arr = grown;
    return 0;
}

static int
collect_sans(X509 *x, struct cert_info *info)
{
    GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    char buf[INET6_ADDRSTRLEN];
    int rc = 0;
    int i;

    for (i = 0; sans != NULL && rc == 0 && i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
        const ASN1_STRING *s;

        if (gn->type == GEN_DNS) {
            s = gn->d.dNSName;
            rc = add_str(&info->dns, &info->n_dns,
                         safe_dup(ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s)));
        } else if (gn->type == GEN_IPADD) {
            s = gn->d.iPAddress;
            if (ASN1_STRING_length(s) == 4)
                inet_ntop(AF_INET, ASN1_STRING_get0_data(s), buf, sizeof(buf));
            else if (ASN1_STRING_length(s) == 16)
                inet_ntop(AF_INET6, ASN1_STRING_get0_data(s), buf, sizeof(buf));
            else
                snprintf(buf, sizeof(buf), "(malformed)");
            rc = add_str(&info->ips, &info->n_ips, strdup(buf));
        }
    }
    GENERAL_NAMES_free(sans);
    return rc;
}

static time_t
asn1_to_time(const ASN1_TIME *t)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
        return 0;
    return timegm(&tm);
}

static void
key_describe(X509 *x, struct cert_info *info)
{
    EVP_PKEY *pkey = X509_get0_pubkey(x);
    int nid = X509_get_signature_nid(x);
    const char *type;

    snprintf(info->sig_alg, sizeof(info->sig_alg), "%s",
             nid != NID_undef ? OBJ_nid2ln(nid) : "unknown");
    if (pkey == NULL) {
        snprintf(info->key_type, sizeof(info->key_type), "unknown");
        return;
    }
    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_RSA:
        type = "RSA";
        break;
    case EVP_PKEY_RSA_PSS:
        type = "RSA-PSS";
        break;
    case EVP_PKEY_EC:
        type = "EC";
        break;
    case EVP_PKEY_DSA:
        type = "DSA";
        break;
    case EVP_PKEY_ED25519:
        type = "ED25519";
        break;
    case EVP_PKEY_ED448:
        type = "ED448";
        break;
    default:
        type = "other";
        break;
    }
    snprintf(info->key_type, sizeof(info->key_type), "%s", type);
    info->key_bits = EVP_PKEY_get_bits(pkey);
}

int
cert_info_from_x509(X509 *x, struct cert_info *info)
{
    memset(info, 0, sizeof(*info));
    info->subject = name_oneline(X509_get_subject_name(x));
    info->issuer = name_oneline(X509_get_issuer_name(x));
    info->common_name = subject_cn(x);
    if (info->subject == NULL || info->issuer == NULL || collect_sans(x, info) != 0 ||
        cert_fingerprint(x, info->fingerprint) != 0) {
        cert_info_clear(info);
        return CERT_ENOMEM;
    }
    info->not_before = asn1_to_time(X509_get0_notBefore(x));
    info->not_after = asn1_to_time(X509_get0_notAfter(x));
    key_describe(x, info);
    info->is_ca = X509_check_ca(x) != 0;
    info->self_signed = X509_self_signed(x, 0) == 1;
    return 0;
}

void
cert_info_clear(struct cert_info *info)
{
    size_t i;

    if (info == NULL)
        return;
    for (i = 0; i < info->n_dns; i++)
        free(info->dns[i]);
    for (i = 0; i < info->n_ips; i++)
        free(info->ips[i]);
    free(info->dns);
    free(info->ips);
    free(info->subject);
    free(info->issuer);
    free(info->common_name);
    memset(info, 0, sizeof(*info));
}

/* Length of the well-formed UTF-8 sequence at P (LEFT bytes remain) if it encodes a printable
 * character (not a C1 control, U+0080..U+009F, which some terminals obey like ESC), else 0. */
static size_t
utf8_printable(const unsigned char *p, size_t left)
{
    size_t n;
    unsigned long cp;
    size_t i;

    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
        cp = p[0] & 0x1f;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        cp = p[0] & 0x0f;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        cp = p[0] & 0x07;
    } else {
        return 0;
    }
    if (n > left)
        return 0;
    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < 0xa0 || (n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Writes the LEN bytes at P, which come from a server's certificate, with every control
 * character, NUL or byte outside well-formed UTF-8 as \xNN: a hostile certificate must not
 * drive the terminal. */
static void
write_safe(FILE *out, const unsigned char *p, size_t len)
{
    const unsigned char *end = p + len;
    size_t n;

    while (p < end) {
        if (*p >= 0x20 && *p < 0x7f) {
            fputc(*p++, out);
        } else if (*p >= 0x80 && (n = utf8_printable(p, (size_t)(end - p))) > 0) {
            fwrite(p, 1, n, out);
            p += n;
        } else {
            fprintf(out, "\\x%02x", *p++);
        }
    }
}

static void
print_safe(FILE *out, const char *s)
{
    write_safe(out, (const unsigned char *)s, strlen(s));
}

/* Returns the LEN bytes at P as a malloc'd string escaped as write_safe does (caller frees),
 * or NULL on ENOMEM. The names of cert_info are for display only (host matching reads the
 * certificate itself), and every caller that prints them is then safe. */
static char *
safe_dup(const void *p, size_t len)
{
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);

    if (f == NULL)
        return NULL;
    write_safe(f, p, len);
    if (fclose(f) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

static void
print_list(FILE *out, const char *label, char *const *items, size_t n)
{
    size_t i;

    if (n == 0)
        return;
    fprintf(out, "    %s:", label);
    for (i = 0; i < n; i++) {
        fputs(i > 0 ? ", " : " ", out);
        print_safe(out, items[i]);
    }
    fputc('\n', out);
}

void
cert_info_print(const struct cert_info *info, FILE *out)
{
    char from[32] = "?";
    char to[32] = "?";
    struct tm tm;

    if (info->not_before != 0 && gmtime_r(&info->not_before, &tm) != NULL)
        strftime(from, sizeof(from), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (info->not_after != 0 && gmtime_r(&info->not_after, &tm) != NULL)
        strftime(to, sizeof(to), "%Y-%m-%dT%H:%M:%SZ", &tm);
    fputs("    subject: ", out);
    print_safe(out, info->subject ? info->subject : "?");
    fputs("\n    issuer: ", out);
    print_safe(out, info->issuer ? info->issuer : "?");
    fputc('\n', out);
    print_list(out, "SAN DNS", info->dns, info->n_dns);
    print_list(out, "SAN IP", info->ips, info->n_ips);
    fprintf(out, "    valid: %s to %s\n", from, to);
    fprintf(out, "    key: %s %d bits\n", info->key_type, info->key_bits);
    fprintf(out, "    signature: %s\n", info->sig_alg);
    fprintf(out, "    sha256: %s\n", info->fingerprint);
    fprintf(out, "    CA: %s%s\n", info->is_ca ? "yes" : "no",
            info->self_signed ? " (self-signed)" : "");
}
