/* cert_info_print: names from a server's certificate reach the terminal escaped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "certs.h"

/* A self-signed certificate whose subject O and single DNS SAN (DNS_LEN bytes, -1: a string)
 * are the raw bytes given (built in memory, past any syntax check of a configuration string).
 * Caller frees. */
static X509 *
make_hostile(EVP_PKEY *key, const char *org, const char *dns, int dns_len)
{
    X509 *x = X509_new();
    GENERAL_NAMES *sans = GENERAL_NAMES_new();
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();

    cr_assert(x != NULL && sans != NULL && gn != NULL && ia5 != NULL);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    cr_assert(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "O", MBSTRING_UTF8,
                                         (const unsigned char *)org, -1, -1, 0));
    X509_set_issuer_name(x, X509_get_subject_name(x));
    cr_assert(ASN1_STRING_set(ia5, dns, dns_len));
    GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
    cr_assert(sk_GENERAL_NAME_push(sans, gn) > 0);
    cr_assert(X509_add1_ext_i2d(x, NID_subject_alt_name, sans, 0, 0) == 1);
    GENERAL_NAMES_free(sans);
    cr_assert(X509_sign(x, key, EVP_sha256()) > 0);
    return x;
}

/* Returns what cert_info_print writes for X, malloc'd (caller frees). */
static char *
printed(X509 *x)
{
    struct cert_info info;
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);

    cr_assert_not_null(out);
    cr_assert_eq(cert_info_from_x509(x, &info), 0);
    cert_info_print(&info, out);
    cert_info_clear(&info);
    fclose(out);
    return buf;
}

Test(info, control_characters_are_escaped)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x;
    char *text;

    cr_assert_not_null(key);
    x = make_hostile(key, "Evil\x07 Corp\xc2\x9b", "mail\x1b[2J.example.com", -1);
    text = printed(x);
    cr_assert_not_null(strstr(text, "SAN DNS: mail\\x1b[2J.example.com\n"), "%s", text);
    /* BEL, and the C1 CSI (U+009B) that some terminals obey like ESC [. */
    cr_assert_null(strchr(text, '\x1b'), "%s", text);
    cr_assert_null(strchr(text, '\x07'), "%s", text);
    cr_assert_null(strstr(text, "\xc2\x9b"), "%s", text);
    for (const char *p = text; *p != '\0'; p++)
        cr_assert(*p == '\n' || (unsigned char)*p >= 0x20, "byte 0x%02x in %s", *p, text);
    free(text);
    X509_free(x);
    EVP_PKEY_free(key);
}

Test(info, printable_utf8_is_kept)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x;
    char *text;

    cr_assert_not_null(key);
    x = make_hostile(key, "Soci\xc3\xa9t\xc3\xa9 G\xc3\xa9n\xc3\xa9rale", "mail.example.com", -1);
    text = printed(x);
    cr_assert_not_null(strstr(text, "subject: O=Soci\xc3\xa9t\xc3\xa9 G\xc3\xa9n\xc3\xa9rale\n"),
                       "%s", text);
    cr_assert_not_null(strstr(text, "SAN DNS: mail.example.com\n"), "%s", text);
    free(text);
    X509_free(x);
    EVP_PKEY_free(key);
}

/* The names kept in cert_info are escaped too: the tool's trust prompt and the verifier's
 * messages print them directly. A NUL inside a DNS name does not cut it short. */
Test(info, stored_names_are_escaped)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    struct cert_info info;
    X509 *x;

    cr_assert_not_null(key);
    x = make_hostile(key,
                     "Evil\xc2\x9b"
                     "2J",
                     "good.example.com\0\x1b[2J", 21);
    cr_assert_eq(cert_info_from_x509(x, &info), 0);
    cr_assert_eq(info.n_dns, 1);
    cr_expect_str_eq(info.dns[0], "good.example.com\\x00\\x1b[2J");
    cr_expect_str_eq(info.subject, "O=Evil\\xc2\\x9b2J");
    cert_info_clear(&info);
    X509_free(x);
    EVP_PKEY_free(key);
}
