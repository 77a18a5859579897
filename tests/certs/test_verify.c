/* Verification, trust store and import without any network: certificates are made in memory,
 * the trust store is a temporary directory. Runs under valgrind with the unit suite. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "certs.h"

#define DAY (24 * 3600L)

static char dir[64];
static EVP_PKEY *ca_key;
static EVP_PKEY *leaf_key;

/* A certificate for CN (NULL: none) with SAN (OpenSSL syntax, may be NULL), valid from FROM
 * to TO seconds around now, signed by ISSUER/IKEY (NULL: self-signed) with MD. Caller frees. */
static X509 *
make(const char *cn, const char *san, bool ca, X509 *issuer, EVP_PKEY *ikey, EVP_PKEY *key,
     long from, long to, const EVP_MD *md)
{
    static long serial = 1;
    X509 *x = X509_new();
    X509V3_CTX ctx;
    X509_EXTENSION *ext;

    cr_assert_not_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), from);
    X509_gmtime_adj(X509_getm_notAfter(x), to);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), cn ? "CN" : "O", MBSTRING_ASC,
                               (const unsigned char *)(cn ? cn : "no cn"), -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
                              ca ? "critical,CA:TRUE" : "CA:FALSE");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    if (ca) {
        ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    if (san != NULL) {
        ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    cr_assert(X509_sign(x, ikey ? ikey : key, md) > 0);
    return x;
}

static void
setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/cp-certs-unit-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    ca_key = EVP_EC_gen("P-256");
    leaf_key = EVP_EC_gen("P-256");
    cr_assert(ca_key != NULL && leaf_key != NULL);
}

static void
teardown(void)
{
    char path[512];
    struct dirent *de;
    DIR *d = opendir(dir);

    while (d != NULL && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        unlink(path);
    }
    if (d != NULL)
        closedir(d);
    rmdir(dir);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(leaf_key);
}

TestSuite(verify, .init = setup, .fini = teardown);

/* Verifies the chain LEAF (+ EXTRA, may be NULL) for NAME; returns the report. */
static struct cert_report *
verify(const struct cert_options *opt, X509 *leaf, X509 *extra, const char *name, time_t now)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    struct cert_report *r = NULL;

    sk_X509_push(sk, leaf);
    if (extra != NULL)
        sk_X509_push(sk, extra);
    cr_assert_eq(cert_verify_chain(opt, sk, name, now, &r), 0);
    sk_X509_free(sk);
    return r;
}

Test(verify, statuses_offline)
{
    struct cert_options opt = {.trust_dir = dir, .timeout = 5};
    X509 *root = make("Unit Root", NULL, true, NULL, NULL, ca_key, 0, 3650 * DAY, EVP_sha256());
    X509 *leaf = make("Exchange", "DNS:mail.example.com", false, root, ca_key, leaf_key, 0,
                      365 * DAY, EVP_sha256());
    X509 *cnleaf =
        make("cas.example.com", NULL, false, root, ca_key, leaf_key, 0, 365 * DAY, EVP_sha256());
    X509 *old = make("Exchange", "DNS:mail.example.com", false, root, ca_key, leaf_key, -30 * DAY,
                     -DAY, EVP_sha256());
    X509 *sha1 = make("Exchange", "DNS:mail.example.com", false, root, ca_key, leaf_key, 0,
                      365 * DAY, EVP_sha1());
    struct cert_report *r;
    char err[256];

    r = verify(&opt, leaf, NULL, "mail.example.com", 0);
    cr_assert_eq(r->status, CERT_MISSING_CHAIN, "empty store: %s", r->reason);
    cr_assert(cert_report_issuer_missing(r));
    cr_assert_eq(r->chain[r->n_chain - 1].where, CERT_WHERE_MISSING);
    cr_assert_str_eq(r->chain[r->n_chain - 1].info.subject, "CN=Unit Root");
    cert_report_free(r);

    cr_assert_eq(cert_store_add_x509(dir, root, 0, err, sizeof(err)), 0, "%s", err);

    r = verify(&opt, leaf, NULL, "mail.example.com", 0);
    cr_assert_eq(r->status, CERT_VERIFIED, "%s", r->reason);
    cr_assert_eq(r->n_chain, 2);
    cr_assert_eq(r->chain[0].where, CERT_WHERE_PRESENTED);
    cr_assert_eq(r->chain[1].where, CERT_WHERE_STORE);
    cr_assert_eq(r->n_warnings, 0);
    cert_report_free(r);

    r = verify(&opt, leaf, NULL, "other.example.com", 0);
    cr_assert_eq(r->status, CERT_SAN_MISMATCH);
    cert_report_free(r);

    r = verify(&opt, cnleaf, NULL, "mail.example.com", 0);
    cr_assert_eq(r->status, CERT_CN_MISMATCH);
    cert_report_free(r);

    r = verify(&opt, old, NULL, "mail.example.com", 0);
    cr_assert_eq(r->status, CERT_BAD_CERTIFICATE, "expired: %s", r->reason);
    cert_report_free(r);

    r = verify(&opt, leaf, NULL, "mail.example.com", time(NULL) + 400 * DAY);
    cr_assert_eq(r->status, CERT_BAD_CERTIFICATE, "at a later time: %s", r->reason);
    cert_report_free(r);

    r = verify(&opt, sha1, NULL, "mail.example.com", 0);
    cr_assert_eq(r->status, CERT_VERIFIED);
    cr_assert_eq(r->n_warnings, 1);
    cr_assert(strstr(r->warnings[0], "SHA-1") != NULL, "%s", r->warnings[0]);
    cert_report_free(r);

    opt.refuse_weak = true;
    r = verify(&opt, sha1, NULL, "mail.example.com", 0);
    cr_assert_eq(r->status, CERT_BAD_CERTIFICATE);
    cert_report_free(r);

    X509_free(root);
    X509_free(leaf);
    X509_free(cnleaf);
    X509_free(old);
    X509_free(sha1);
}

/* A trusted root whose key is RSA 1024: its own signature does not matter, but its key signs
 * the server's certificate, and OpenSSL (the EWS transport) judges that key. */
Test(verify, weak_key_of_a_trusted_root)
{
    struct cert_options opt = {.trust_dir = dir, .timeout = 5};
    EVP_PKEY *weak_key = EVP_RSA_gen(1024);
    X509 *root;
    X509 *leaf;
    struct cert_report *r;
    char err[256];

    cr_assert_not_null(weak_key);
    root = make("Old Root", NULL, true, NULL, NULL, weak_key, 0, 3650 * DAY, EVP_sha256());
    leaf = make("Exchange", "DNS:mail.example.com", false, root, weak_key, leaf_key, 0, 365 * DAY,
                EVP_sha256());
    cr_assert_eq(cert_store_add_x509(dir, root, 0, err, sizeof(err)), 0, "%s", err);

    r = verify(&opt, leaf, NULL, "mail.example.com", 0);
    cr_expect_eq(r->status, CERT_VERIFIED, "%s", r->reason);
    cr_expect_eq(r->n_warnings, 1, "the root's 1024-bit key is worth a warning");
    cert_report_free(r);

    opt.refuse_weak = true;
    r = verify(&opt, leaf, NULL, "mail.example.com", 0);
    cr_expect_eq(r->status, CERT_BAD_CERTIFICATE, "refused like the transport does: %s", r->reason);
    cert_report_free(r);

    X509_free(root);
    X509_free(leaf);
    EVP_PKEY_free(weak_key);
}

Test(verify, store_add_list_remove)
{
    X509 *root = make("Unit Root", NULL, true, NULL, NULL, ca_key, 0, 3650 * DAY, EVP_sha256());
    X509 *leaf = make("Exchange", "DNS:mail.example.com", false, root, ca_key, leaf_key, 0,
                      365 * DAY, EVP_sha256());
    struct cert_store_entry *e;
    struct cert_info info;
    char err[256];
    char fp[96];
    size_t n;
    size_t i;

    cr_assert_eq(cert_store_add_x509(dir, leaf, 0, err, sizeof(err)), CERT_EINVAL);
    cr_assert(strstr(err, "not a CA") != NULL, "%s", err);
    cr_assert_eq(cert_store_add_x509(dir, root, 0, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(cert_store_add_x509(dir, root, 0, err, sizeof(err)), CERT_EEXIST);
    cr_assert(cert_store_contains(dir, NULL, root));
    cr_assert_not(cert_store_contains(dir, NULL, leaf));
    cr_assert_eq(cert_store_list(dir, NULL, &e, &n, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(e[0].info.subject, "CN=Unit Root");
    cert_store_entries_free(e, n);

    cr_assert_eq(cert_info_from_x509(root, &info), 0);
    for (i = 0, n = 0; info.fingerprint[i] != '\0'; i++)
        if (info.fingerprint[i] != ':')
            fp[n++] = (char)(info.fingerprint[i] | 0x20);
    fp[n] = '\0';
    cert_info_clear(&info);
    cr_assert_eq(cert_store_remove(dir, NULL, "12:34", err, sizeof(err)), CERT_EINVAL);
    cr_assert_eq(cert_store_remove(dir, NULL, fp, err, sizeof(err)), 0, "%s", err);
    cr_assert_not(cert_store_contains(dir, NULL, root));
    cr_assert_eq(cert_store_remove(dir, NULL, fp, err, sizeof(err)), CERT_ENOTFOUND);
    cr_assert_eq(cert_store_list(dir, NULL, &e, &n, err, sizeof(err)), 0);
    cr_assert_eq(n, 0);
    cert_store_entries_free(e, n);
    X509_free(root);
    X509_free(leaf);
}

Test(verify, import_adds_only_the_missing_ca)
{
    struct cert_options opt = {.trust_dir = dir, .timeout = 5};
    EVP_PKEY *inter_key = EVP_EC_gen("P-256");
    X509 *root = make("Unit Root", NULL, true, NULL, NULL, ca_key, 0, 3650 * DAY, EVP_sha256());
    X509 *inter =
        make("Unit Intermediate", NULL, true, root, ca_key, inter_key, 0, 3650 * DAY, EVP_sha256());
    X509 *leaf = make("Exchange", "DNS:mail.example.com", false, inter, inter_key, leaf_key, 0,
                      365 * DAY, EVP_sha256());
    struct cert_report *r = verify(&opt, leaf, inter, "mail.example.com", 0);
    char err[256];
    size_t added = 9;

    cr_assert_eq(r->status, CERT_MISSING_CHAIN, "%s", r->reason);
    cr_assert_eq(cert_import(&opt, r, false, NULL, NULL, &added, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(added, 1);
    cr_assert_eq(r->status, CERT_VERIFIED, "after import: %s", r->reason);
    cr_assert(cert_store_contains(dir, NULL, inter));
    cr_assert_not(cert_store_contains(dir, NULL, leaf));
    cr_assert_not(cert_store_contains(dir, NULL, root));
    cr_assert_eq(cert_import(&opt, r, false, NULL, NULL, &added, err, sizeof(err)), 0);
    cr_assert_eq(added, 0, "nothing left to import");
    cert_report_free(r);
    X509_free(root);
    X509_free(inter);
    X509_free(leaf);
    EVP_PKEY_free(inter_key);
}

Test(policy, lowers_the_level_only_when_weak_is_accepted)
{
    SSL_CTX *warn = SSL_CTX_new(TLS_client_method());
    SSL_CTX *refuse = SSL_CTX_new(TLS_client_method());
    int before = SSL_CTX_get_security_level(refuse);

    cr_assert(warn != NULL && refuse != NULL);
    cr_assert(cert_ssl_ctx_apply_policy(warn, false));
    cr_assert_eq(SSL_CTX_get_security_level(warn), 0);
    cr_assert_eq(SSL_CTX_get_min_proto_version(warn), TLS1_VERSION);
    cr_assert_not(cert_ssl_ctx_apply_policy(refuse, true));
    cr_assert_eq(SSL_CTX_get_security_level(refuse), before);
    SSL_CTX_free(warn);
    SSL_CTX_free(refuse);
}
