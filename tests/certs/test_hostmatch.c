/* RFC 6125 host matching (certs/hostmatch.c), host:port parsing and the status words. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "certs.h"

/* A throw-away certificate with subject CN (may be NULL) and the SAN list SAN in OpenSSL's
 * config syntax (may be NULL); caller frees with X509_free. */
static X509 *
make_cert(const char *cn, const char *san)
{
    static EVP_PKEY *key;
    X509 *x = X509_new();
    X509V3_CTX ctx;

    if (key == NULL)
        key = EVP_EC_gen("P-256");
    cr_assert_not_null(key);
    cr_assert_not_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    if (cn != NULL)
        X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                   (const unsigned char *)cn, -1, -1, 0);
    else
        X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "O", MBSTRING_ASC,
                                   (const unsigned char *)"No CN", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    if (san != NULL) {
        X509_EXTENSION *ext;

        X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
        cr_assert_not_null(ext, "bad SAN spec %s", san);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    cr_assert(X509_sign(x, key, EVP_sha256()) > 0);
    return x;
}

static void
free_key(void)
{
    /* The key is cached for the process; nothing to free per test. */
}

TestSuite(hostmatch, .fini = free_key);

Test(hostmatch, exact_names_case_insensitive)
{
    cr_assert(cert_name_matches("mail.example.com", "mail.example.com"));
    cr_assert(cert_name_matches("MAIL.Example.COM", "mail.example.com"));
    cr_assert(cert_name_matches("mail.example.com.", "mail.example.com"));
    cr_assert(cert_name_matches("mail.example.com", "mail.example.com."));
    cr_assert_not(cert_name_matches("mail.example.com", "mail.example.org"));
    cr_assert_not(cert_name_matches("mail.example.com", "example.com"));
    cr_assert_not(cert_name_matches("example.com", "mail.example.com"));
    cr_assert_not(cert_name_matches("", "mail.example.com"));
    cr_assert_not(cert_name_matches("mail.example.com", ""));
}

Test(hostmatch, wildcard_is_one_leftmost_label)
{
    cr_assert(cert_name_matches("*.a.com", "foo.a.com"));
    cr_assert(cert_name_matches("*.A.com", "FOO.a.COM"));
    cr_assert_not(cert_name_matches("*.a.com", "bar.foo.a.com"));
    cr_assert_not(cert_name_matches("*.a.com", "a.com"));
    cr_assert_not(cert_name_matches("*.a.com", ".a.com"));
    cr_assert_not(cert_name_matches("*.a.com", "foo.b.com"));
}

Test(hostmatch, malformed_wildcards_never_match)
{
    cr_assert_not(cert_name_matches("*.com", "a.com"), "a wildcard needs two labels after it");
    cr_assert_not(cert_name_matches("*", "localhost"));
    cr_assert_not(cert_name_matches("f*.a.com", "foo.a.com"), "partial-label wildcards");
    cr_assert_not(cert_name_matches("foo.*.com", "foo.a.com"), "only the left-most label");
    cr_assert_not(cert_name_matches("*.*.a.com", "x.y.a.com"));
    cr_assert_not(cert_name_matches("**.a.com", "foo.a.com"));
    cr_assert_not(cert_name_matches("*.a.com", "*.a.com"), "a star in the host is no label");
}

Test(hostmatch, empty_labels_never_match)
{
    cr_assert_not(cert_name_matches("a..com", "a..com"));
    cr_assert_not(cert_name_matches(".a.com", ".a.com"));
    cr_assert_not(cert_name_matches("*.a.com", "foo..a.com"));
}

Test(hostmatch, ip_literals_never_match_dns_patterns)
{
    cr_assert_not(cert_name_matches("127.0.0.1", "127.0.0.1"));
    cr_assert_not(cert_name_matches("*.0.0.1", "127.0.0.1"));
    cr_assert_not(cert_name_matches("::1", "::1"));
}

Test(hostmatch, dns_san)
{
    X509 *x = make_cert("ignored.example.com", "DNS:mail.example.com,DNS:cas.example.com");

    cr_assert_eq(cert_match_host(x, "mail.example.com"), CERT_HOST_MATCH);
    cr_assert_eq(cert_match_host(x, "CAS.example.com"), CERT_HOST_MATCH);
    cr_assert_eq(cert_match_host(x, "ignored.example.com"), CERT_HOST_SAN_MISMATCH,
                 "the CN is ignored when there is a DNS SAN");
    cr_assert_eq(cert_match_host(x, "other.example.com"), CERT_HOST_SAN_MISMATCH);
    X509_free(x);
}

Test(hostmatch, wildcard_san)
{
    X509 *x = make_cert("Exchange", "DNS:*.example.com");

    cr_assert_eq(cert_match_host(x, "mail.example.com"), CERT_HOST_MATCH);
    cr_assert_eq(cert_match_host(x, "a.mail.example.com"), CERT_HOST_SAN_MISMATCH);
    cr_assert_eq(cert_match_host(x, "example.com"), CERT_HOST_SAN_MISMATCH);
    X509_free(x);
}

Test(hostmatch, cn_only_without_dns_san)
{
    X509 *x = make_cert("mail.example.com", NULL);
    X509 *ipsan = make_cert("mail.example.com", "IP:192.0.2.1");
    X509 *nocn = make_cert(NULL, NULL);

    cr_assert_eq(cert_match_host(x, "mail.example.com"), CERT_HOST_MATCH);
    cr_assert_eq(cert_match_host(x, "cas.example.com"), CERT_HOST_CN_MISMATCH);
    cr_assert_eq(cert_match_host(ipsan, "mail.example.com"), CERT_HOST_MATCH,
                 "an IP-only SAN list still lets the CN name a DNS host");
    cr_assert_eq(cert_match_host(nocn, "mail.example.com"), CERT_HOST_CN_MISMATCH);
    X509_free(x);
    X509_free(ipsan);
    X509_free(nocn);
}

Test(hostmatch, ipv4_only_against_ip_sans)
{
    X509 *x = make_cert("127.0.0.1", "IP:127.0.0.1,DNS:localhost");
    X509 *cnonly = make_cert("127.0.0.1", NULL);
    X509 *dnsip = make_cert("Exchange", "DNS:127.0.0.1");

    cr_assert_eq(cert_match_host(x, "127.0.0.1"), CERT_HOST_MATCH);
    cr_assert_eq(cert_match_host(x, "127.0.0.2"), CERT_HOST_SAN_MISMATCH);
    cr_assert_eq(cert_match_host(cnonly, "127.0.0.1"), CERT_HOST_CN_MISMATCH,
                 "an IP never matches the CN");
    cr_assert_eq(cert_match_host(dnsip, "127.0.0.1"), CERT_HOST_SAN_MISMATCH,
                 "an IP never matches a DNS SAN");
    X509_free(x);
    X509_free(cnonly);
    X509_free(dnsip);
}

Test(hostmatch, ipv6_against_ip_sans)
{
    X509 *x = make_cert("Exchange", "IP:2001:db8::1,IP:::1");

    cr_assert_eq(cert_match_host(x, "2001:db8::1"), CERT_HOST_MATCH);
    cr_assert_eq(cert_match_host(x, "2001:DB8:0:0:0:0:0:1"), CERT_HOST_MATCH);
    cr_assert_eq(cert_match_host(x, "[2001:db8::1]"), CERT_HOST_MATCH);
    cr_assert_eq(cert_match_host(x, "::1"), CERT_HOST_MATCH);
    cr_assert_eq(cert_match_host(x, "2001:db8::2"), CERT_HOST_SAN_MISMATCH);
    cr_assert_eq(cert_match_host(x, "0.0.0.1"), CERT_HOST_SAN_MISMATCH,
                 "a v4 address does not match a v6 entry");
    X509_free(x);
}

Test(hostmatch, describe_lists_sans)
{
    X509 *x = make_cert("Exchange", "DNS:mail.example.com,IP:192.0.2.7,IP:2001:db8::7");
    struct cert_info info;

    cr_assert_eq(cert_info_from_x509(x, &info), 0);
    cr_assert_eq(info.n_dns, 1);
    cr_assert_str_eq(info.dns[0], "mail.example.com");
    cr_assert_eq(info.n_ips, 2);
    cr_assert_str_eq(info.ips[0], "192.0.2.7");
    cr_assert_str_eq(info.ips[1], "2001:db8::7");
    cr_assert_str_eq(info.common_name, "Exchange");
    cr_assert_str_eq(info.key_type, "EC");
    cr_assert_eq(info.key_bits, 256);
    cr_assert_str_eq(info.sig_alg, "ecdsa-with-SHA256");
    cr_assert_eq(strlen(info.fingerprint), 95);
    cr_assert_not(info.is_ca);
    cert_info_clear(&info);
    X509_free(x);
}

Test(hostport, parsing)
{
    char *host;
    int port;

    cr_assert_eq(cert_parse_hostport("mail.example.com", 443, &host, &port), 0);
    cr_assert_str_eq(host, "mail.example.com");
    cr_assert_eq(port, 443);
    free(host);
    cr_assert_eq(cert_parse_hostport("mail.example.com:8443", 443, &host, &port), 0);
    cr_assert_str_eq(host, "mail.example.com");
    cr_assert_eq(port, 8443);
    free(host);
    cr_assert_eq(cert_parse_hostport("[2001:db8::1]:444", 443, &host, &port), 0);
    cr_assert_str_eq(host, "2001:db8::1");
    cr_assert_eq(port, 444);
    free(host);
    cr_assert_eq(cert_parse_hostport("2001:db8::1", 443, &host, &port), 0);
    cr_assert_str_eq(host, "2001:db8::1");
    cr_assert_eq(port, 443);
    free(host);
    cr_assert_eq(cert_parse_hostport("host:0", 443, &host, &port), CERT_EINVAL);
    cr_assert_eq(cert_parse_hostport("host:65536", 443, &host, &port), CERT_EINVAL);
    cr_assert_eq(cert_parse_hostport("host:", 443, &host, &port), CERT_EINVAL);
    cr_assert_eq(cert_parse_hostport(":443", 443, &host, &port), CERT_EINVAL);
    cr_assert_eq(cert_parse_hostport("[::1", 443, &host, &port), CERT_EINVAL);
    cr_assert_eq(cert_parse_hostport("", 443, &host, &port), CERT_EINVAL);
}

Test(status, tokens_are_the_contract_words)
{
    cr_assert_str_eq(cert_status_token(CERT_VERIFIED), "verified");
    cr_assert_str_eq(cert_status_token(CERT_MISSING_CHAIN), "missing-chain");
    cr_assert_str_eq(cert_status_token(CERT_CN_MISMATCH), "cn-mismatch");
    cr_assert_str_eq(cert_status_token(CERT_SAN_MISMATCH), "san-mismatch");
    cr_assert_str_eq(cert_status_token(CERT_BAD_CERTIFICATE), "bad-certificate");
    cr_assert_str_eq(cert_status_token(CERT_NETWORK_ERROR), "network-error");
    cr_assert_str_eq(cert_status_token(CERT_FAILED), "failed");
}
