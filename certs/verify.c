/* Verification of a presented chain against the trust store, mapped onto the contract's
 * status words. OpenSSL builds and checks the path; a verify callback keeps going after each
 * error so that every problem is known, and the most serious one becomes the status:
 * bad-certificate, then failed, then missing-chain, then the host name. Weak algorithms are
 * judged here rather than by OpenSSL's security level, so that they can be accepted with a
 * warning as Cisco does, or refused by `weak_certificates = refuse`. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "certs_int.h"

#define MAX_ERRORS 16

struct verify_error {
    int code;
    int depth;
    X509 *cert; /* up-referenced */
};

struct collector {
    struct verify_error e[MAX_ERRORS];
    int n;
};

enum weakness { WEAK_NONE, WEAK_WARN, WEAK_BROKEN };

static int collector_index(void);
static int verify_cb(int ok, X509_STORE_CTX *ctx);
static enum cert_status classify(int code);
static int status_rank(enum cert_status st);
static bool in_stack(STACK_OF(X509) * sk, X509 *x);
static int push_chain(struct cert_report *r, X509 *x, enum cert_where where);
static void clear_chain(struct cert_report *r);
static void clear_warnings(struct cert_report *r);
static int set_status(struct cert_report *r, enum cert_status st, char *reason);
static enum weakness weakness_of(X509 *x, bool own_sig, char *why, size_t whylen);
static int judge_weak(const struct cert_options *opt, struct cert_report *r, bool *refused);
static bool looks_like_ip(const char *name);
static int judge_host(struct cert_report *r);
static int build_chain(const struct cert_options *opt, struct cert_report *r,
                       STACK_OF(X509) * presented, STACK_OF(X509) * built);
static const char *day(time_t t, char buf[16]);
static char *explain(const struct verify_error *e, const struct cert_info *ci);
static int judge_errors(struct cert_report *r, struct collector *c);

X509_STORE *
cert_trust_store_new(const struct cert_options *opt, char *err, size_t errlen)
{
    X509_STORE *store = X509_STORE_new();

    if (store == NULL) {
        cert_set_err(err, errlen, "out of memory");
        return NULL;
    }
    /* A missing directory is an empty store: lookups simply find nothing. */
    if (opt->trust_dir != NULL && opt->trust_dir[0] != '\0' &&
        !X509_STORE_load_path(store, opt->trust_dir)) {
        cert_set_err(err, errlen, "%s: cannot use the trust directory", opt->trust_dir);
        X509_STORE_free(store);
        return NULL;
    }
    if (opt->ca_file != NULL && opt->ca_file[0] != '\0' &&
        !X509_STORE_load_file(store, opt->ca_file)) {
        cert_set_err(err, errlen, "%s: cannot read ca_file", opt->ca_file);
        X509_STORE_free(store);
        return NULL;
    }
    /* libcurl sets PARTIAL_CHAIN too: an intermediate in the store is an anchor, so the
     * verdict here is the one the EWS transport will reach. */
    X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
    ERR_clear_error();
    return store;
}

static int
collector_index(void)
{
    static int idx = -1;

    if (idx < 0)
        idx = X509_STORE_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    return idx;
}

/* Records each error and lets verification continue, so every defect is found. */
static int
verify_cb(int ok, X509_STORE_CTX *ctx)
{
    struct collector *c = X509_STORE_CTX_get_ex_data(ctx, collector_index());
    X509 *cur = X509_STORE_CTX_get_current_cert(ctx);

    if (!ok && c != NULL && c->n < MAX_ERRORS) {
        c->e[c->n].code = X509_STORE_CTX_get_error(ctx);
        c->e[c->n].depth = X509_STORE_CTX_get_error_depth(ctx);
        c->e[c->n].cert = cur;
        if (cur != NULL)
            X509_up_ref(cur);
        c->n++;
    }
    return 1;
}

static enum cert_status
classify(int code)
{
    switch (code) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_UNTRUSTED:
        return CERT_MISSING_CHAIN;
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
    case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
    case X509_V_ERR_NO_ISSUER_PUBLIC_KEY:
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
    case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
    case X509_V_ERR_UNSUPPORTED_SIGNATURE_ALGORITHM:
    case X509_V_ERR_SIGNATURE_ALGORITHM_MISMATCH:
    case X509_V_ERR_SIGNATURE_ALGORITHM_INCONSISTENCY:
    case X509_V_ERR_EE_KEY_TOO_SMALL:
    case X509_V_ERR_CA_KEY_TOO_SMALL:
    case X509_V_ERR_CA_MD_TOO_WEAK:
    case X509_V_ERR_EC_KEY_EXPLICIT_PARAMS:
    case X509_V_ERR_INVALID_CA:
    case X509_V_ERR_INVALID_PURPOSE:
    case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
    case X509_V_ERR_PATH_LENGTH_EXCEEDED:
    case X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION:
    case X509_V_ERR_INVALID_EXTENSION:
        return CERT_BAD_CERTIFICATE;
    default:
        return CERT_FAILED;
    }
}

/* Higher is more serious. */
static int
status_rank(enum cert_status st)
{
    switch (st) {
    case CERT_BAD_CERTIFICATE:
        return 3;
    case CERT_FAILED:
        return 2;
    case CERT_MISSING_CHAIN:
        return 1;
    default:
        return 0;
    }
}

static bool
in_stack(STACK_OF(X509) * sk, X509 *x)
{
    int i;

    for (i = 0; sk != NULL && i < sk_X509_num(sk); i++)
        if (X509_cmp(sk_X509_value(sk, i), x) == 0)
            return true;
    return false;
}

/* Appends X (up-referenced; NULL for a missing issuer, whose name is X's issuer) to R. */
static int
push_chain(struct cert_report *r, X509 *x, enum cert_where where)
{
    struct cert_chain_entry *grown = realloc(r->chain, (r->n_chain + 1) * sizeof(*grown));
    struct cert_chain_entry *e;

    if (grown == NULL)
        return CERT_ENOMEM;
    r->chain = grown;
    e = &grown[r->n_chain];
    memset(e, 0, sizeof(*e));
    e->where = where;
    if (where == CERT_WHERE_MISSING) {
        struct cert_info tmp;

        if (cert_info_from_x509(x, &tmp) != 0)
            return CERT_ENOMEM;
        e->info.subject = tmp.issuer;
        tmp.issuer = NULL;
        cert_info_clear(&tmp);
    } else {
        if (cert_info_from_x509(x, &e->info) != 0)
            return CERT_ENOMEM;
        X509_up_ref(x);
        e->x509 = x;
    }
    r->n_chain++;
    return 0;
}

static void
clear_chain(struct cert_report *r)
{
    size_t i;

    for (i = 0; i < r->n_chain; i++) {
        cert_info_clear(&r->chain[i].info);
        X509_free(r->chain[i].x509);
    }
    free(r->chain);
    r->chain = NULL;
    r->n_chain = 0;
}

static void
clear_warnings(struct cert_report *r)
{
    size_t i;

    for (i = 0; i < r->n_warnings; i++)
        free(r->warnings[i]);
    free(r->warnings);
    r->warnings = NULL;
    r->n_warnings = 0;
}

int
cert_report_warn(struct cert_report *r, const char *fmt, ...)
{
    char **grown;
    va_list ap;
    char *s;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    if (s == NULL)
        return CERT_ENOMEM;
    grown = realloc(r->warnings, (r->n_warnings + 1) * sizeof(*grown));
    if (grown == NULL) {
        free(s);
        return CERT_ENOMEM;
    }
    grown[r->n_warnings++] = s;
    r->warnings = grown;
    return 0;
}

/* Sets R's status and REASON (ownership taken). */
static int
set_status(struct cert_report *r, enum cert_status st, char *reason)
{
    if (reason == NULL)
        return CERT_ENOMEM;
    free(r->reason);
    r->reason = reason;
    r->status = st;
    return 0;
}

/* Rates X's key size and, when OWN_SIG, its signature digest; WHY says what is weak. */
static enum weakness
weakness_of(X509 *x, bool own_sig, char *why, size_t whylen)
{
    EVP_PKEY *pkey = X509_get0_pubkey(x);
    int mdnid = NID_undef;
    int bits = pkey != NULL ? EVP_PKEY_get_bits(pkey) : 0;
    int id = pkey != NULL ? EVP_PKEY_get_base_id(pkey) : NID_undef;
    bool rsa_like = id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS || id == EVP_PKEY_DSA;

    if (own_sig)
        X509_get_signature_info(x, &mdnid, NULL, NULL, NULL);
    if (mdnid == NID_md5 || mdnid == NID_md4 || mdnid == NID_md2) {
        snprintf(why, whylen, "%s signature", OBJ_nid2sn(mdnid));
        return WEAK_BROKEN;
    }
    if (rsa_like && bits < 1024) {
        snprintf(why, whylen, "%d-bit key", bits);
        return WEAK_BROKEN;
    }
    if (mdnid == NID_sha1) {
        snprintf(why, whylen, "SHA-1 signature");
        return WEAK_WARN;
    }
    if ((rsa_like && bits < 2048) || (id == EVP_PKEY_EC && bits < 224)) {
        snprintf(why, whylen, "%s %d-bit key", rsa_like ? "RSA/DSA" : "EC", bits);
        return WEAK_WARN;
    }
    return WEAK_NONE;
}

/* Applies the weak-algorithm policy to every certificate of R's chain. A trusted self-signed
 * anchor's own signature is never checked, but its key signs the next certificate: OpenSSL
 * (hence the EWS transport) judges that key's size too. */
static int
judge_weak(const struct cert_options *opt, struct cert_report *r, bool *refused)
{
    char why[64];
    size_t i;

    *refused = false;
    for (i = 0; i < r->n_chain; i++) {
        struct cert_chain_entry *e = &r->chain[i];
        enum weakness w;
        int rc = 0;

        if (e->x509 == NULL)
            continue;
        w = weakness_of(e->x509, !(e->info.self_signed && e->where != CERT_WHERE_PRESENTED), why,
                        sizeof(why));
        if (w == WEAK_BROKEN || (w == WEAK_WARN && opt->refuse_weak)) {
            *refused = true;
            return set_status(r, CERT_BAD_CERTIFICATE,
                              cert_asprintf("%s on %s refused%s", why, e->info.subject,
                                            w == WEAK_WARN ? " (weak_certificates = refuse)"
                                                           : " (never accepted)"));
        }
        if (w == WEAK_WARN)
            rc = cert_report_warn(r,
                                  "weak: %s on %s, accepted (weak_certificates = warn); "
                                  "have it re-issued with SHA-256 and RSA 2048 or better",
                                  why, e->info.subject);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static bool
looks_like_ip(const char *name)
{
    unsigned char addr[16];

    return inet_pton(AF_INET, name, addr) == 1 || strchr(name, ':') != NULL;
}

static int
judge_host(struct cert_report *r)
{
    X509 *leaf = r->chain[0].x509;
    const struct cert_info *li = &r->chain[0].info;
    char names[512] = "";
    size_t i;

    for (i = 0; i < li->n_dns && strlen(names) < sizeof(names) - 80; i++)
        snprintf(names + strlen(names), sizeof(names) - strlen(names), "%sDNS:%s",
                 names[0] ? ", " : "", li->dns[i]);
    for (i = 0; i < li->n_ips && strlen(names) < sizeof(names) - 80; i++)
        snprintf(names + strlen(names), sizeof(names) - strlen(names), "%sIP:%s",
                 names[0] ? ", " : "", li->ips[i]);
    switch (cert_match_host(leaf, r->name)) {
    case CERT_HOST_SAN_MISMATCH:
        return set_status(
            r, CERT_SAN_MISMATCH,
            cert_asprintf("%s is not among the certificate's names (%s)", r->name, names));
    case CERT_HOST_CN_MISMATCH:
        return set_status(
            r, CERT_CN_MISMATCH,
            cert_asprintf("the certificate has no DNS SAN and its CN (%s) does not match %s%s",
                          li->common_name ? li->common_name : "none", r->name,
                          looks_like_ip(r->name)
                              ? " (an IP address matches only iPAddress SAN entries)"
                              : ""));
    default:
        return set_status(r, CERT_VERIFIED,
                          cert_asprintf("chain to a trusted %s; %s matches %s",
                                        r->chain[r->n_chain - 1].info.subject, r->name,
                                        names[0] ? names : li->common_name));
    }
}

/* Fills R's chain from BUILT (OpenSSL's path, leaf first) plus whatever else PRESENTED holds,
 * and a missing issuer when the path stops short of the store. */
static int
build_chain(const struct cert_options *opt, struct cert_report *r, STACK_OF(X509) * presented,
            STACK_OF(X509) * built)
{
    X509 *last = NULL;
    int rc = 0;
    int i;

    for (i = 0; rc == 0 && i < sk_X509_num(built); i++) {
        X509 *x = sk_X509_value(built, i);
        bool trusted = cert_store_contains(opt->trust_dir, opt->ca_file, x);
        enum cert_where where;

        if (in_stack(presented, x))
            where = trusted ? CERT_WHERE_PRESENTED_TRUSTED : CERT_WHERE_PRESENTED;
        else
            where = CERT_WHERE_STORE;
        rc = push_chain(r, x, where);
        last = x;
    }
    if (rc == 0 && last != NULL && X509_self_signed(last, 0) != 1 &&
        !cert_store_contains(opt->trust_dir, opt->ca_file, last))
        rc = push_chain(r, last, CERT_WHERE_MISSING);
    for (i = 0; rc == 0 && i < sk_X509_num(presented); i++) {
        X509 *x = sk_X509_value(presented, i);
        bool trusted;

        if (in_stack(built, x))
            continue;
        trusted = cert_store_contains(opt->trust_dir, opt->ca_file, x);
        rc = push_chain(r, x, trusted ? CERT_WHERE_PRESENTED_TRUSTED : CERT_WHERE_PRESENTED);
        /* The root above a trusted intermediate is expected (the path stops at the first
         * trusted certificate); anything else sent is worth a word. */
        if (rc == 0 && !(last != NULL && X509_check_issued(x, last) == X509_V_OK))
            rc = cert_report_warn(r, "the server also sent %s, which is not part of the chain",
                                  r->chain[r->n_chain - 1].info.subject);
    }
    return rc;
}

/* Writes DATE as YYYY-MM-DD into BUF. */
static const char *
day(time_t t, char buf[16])
{
    struct tm tm;

    if (t == 0 || gmtime_r(&t, &tm) == NULL || strftime(buf, 16, "%Y-%m-%d", &tm) == 0)
        snprintf(buf, 16, "?");
    return buf;
}

/* A one-line reason for the error E on the certificate CI, in an administrator's words where
 * the cause is common on Exchange, OpenSSL's words otherwise. Caller frees; NULL on ENOMEM. */
static char *
explain(const struct verify_error *e, const struct cert_info *ci)
{
    const char *subj = ci->subject ? ci->subject : "?";
    const char *iss = ci->issuer ? ci->issuer : "?";
    char d[16];

    switch (e->code) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        return cert_asprintf("the issuer %s of %s is neither sent by the server nor in the "
                             "trust store",
                             iss, subj);
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        return cert_asprintf("the server sends its root %s, which is not in the trust store", subj);
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        return cert_asprintf("%s is self-signed and not in the trust store", subj);
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return cert_asprintf("%s expired on %s", subj, day(ci->not_after, d));
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return cert_asprintf("%s is not valid before %s (check this machine's clock too)", subj,
                             day(ci->not_before, d));
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        return cert_asprintf("the signature on %s does not match the key of its issuer %s "
                             "(one of them was re-issued with a new key)",
                             subj, iss);
    default:
        return cert_asprintf("%s: %s (depth %d)", X509_verify_cert_error_string(e->code), subj,
                             e->depth);
    }
}

/* Turns the most serious recorded error into R's status; 1 when there was one. */
static int
judge_errors(struct cert_report *r, struct collector *c)
{
    enum cert_status worst = CERT_VERIFIED;
    struct verify_error *pick = NULL;
    struct cert_info ci;
    char *reason;
    int i;

    for (i = 0; i < c->n; i++) {
        enum cert_status st = classify(c->e[i].code);

        if (pick == NULL || status_rank(st) > status_rank(worst)) {
            worst = st;
            pick = &c->e[i];
        }
    }
    if (pick == NULL)
        return 0;
    memset(&ci, 0, sizeof(ci));
    if (pick->cert != NULL && cert_info_from_x509(pick->cert, &ci) != 0)
        return CERT_ENOMEM;
    reason = explain(pick, &ci);
    cert_info_clear(&ci);
    if (set_status(r, worst, reason) != 0)
        return CERT_ENOMEM;
    return 1;
}

int
cert_report_verify(const struct cert_options *opt, struct cert_report *r,
                   STACK_OF(X509) * presented, time_t now)
{
    struct collector c = {.n = 0};
    STACK_OF(X509) *built = NULL;
    X509_STORE_CTX *ctx = NULL;
    X509_STORE *store;
    char err[256];
    bool refused = false;
    int rc;
    int i;

    clear_chain(r);
    clear_warnings(r);
    if (r->seclevel_lowered &&
        cert_report_warn(r, "TLS: the handshake succeeded only at OpenSSL security level 0 "
                            "(an old protocol version or weak algorithms), lowered for this "
                            "connection only") != 0)
        return CERT_ENOMEM;
    if (presented == NULL || sk_X509_num(presented) == 0)
        return set_status(r, CERT_FAILED, cert_asprintf("the server presented no certificate"));
    store = cert_trust_store_new(opt, err, sizeof(err));
    if (store == NULL)
        return set_status(r, CERT_FAILED, strdup(err));
    ctx = X509_STORE_CTX_new();
    if (ctx == NULL || !X509_STORE_CTX_init(ctx, store, sk_X509_value(presented, 0), presented)) {
        rc = set_status(r, CERT_FAILED, cert_asprintf("cannot set up verification"));
        goto out;
    }
    X509_STORE_CTX_set_ex_data(ctx, collector_index(), &c);
    X509_STORE_CTX_set_verify_cb(ctx, verify_cb);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
    if (now != 0)
        X509_STORE_CTX_set_time(ctx, 0, now);
    if (X509_verify_cert(ctx) < 0 && c.n == 0) {
        rc = set_status(r, CERT_FAILED, cert_asprintf("verification could not run"));
        goto out;
    }
    built = X509_STORE_CTX_get1_chain(ctx);
    rc = build_chain(opt, r, presented, built);
    if (rc == 0)
        rc = judge_errors(r, &c);
    if (rc == 0)
        rc = judge_weak(opt, r, &refused);
    if (rc == 0 && !refused)
        rc = judge_host(r);
    if (rc == 1)
        rc = 0;
    /* What needed level 0 is as weak as a SHA-1 signature: the same setting refuses it. */
    if (rc == 0 && r->status == CERT_VERIFIED && r->seclevel_lowered && opt->refuse_weak)
        rc = set_status(r, CERT_FAILED,
                        cert_asprintf("the server needs OpenSSL security level 0 (an old TLS "
                                      "version or weak algorithms) and weak_certificates = "
                                      "refuse"));
out:
    for (i = 0; i < c.n; i++)
        X509_free(c.e[i].cert);
    sk_X509_pop_free(built, X509_free);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    ERR_clear_error();
    return rc;
}

int
cert_verify_chain(const struct cert_options *opt, STACK_OF(X509) * presented, const char *name,
                  time_t now, struct cert_report **out)
{
    struct cert_report *r = calloc(1, sizeof(*r));
    int rc;

    *out = NULL;
    if (r == NULL)
        return CERT_ENOMEM;
    r->name = strdup(name != NULL ? name : "");
    rc = r->name == NULL ? CERT_ENOMEM : cert_report_verify(opt, r, presented, now);
    if (rc != 0) {
        cert_report_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

STACK_OF(X509) * cert_report_presented(const struct cert_report *r)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    size_t i;

    for (i = 0; sk != NULL && i < r->n_chain; i++) {
        X509 *x = r->chain[i].x509;

        if (r->chain[i].where != CERT_WHERE_PRESENTED &&
            r->chain[i].where != CERT_WHERE_PRESENTED_TRUSTED)
            continue;
        if (!sk_X509_push(sk, x)) {
            sk_X509_pop_free(sk, X509_free);
            return NULL;
        }
        X509_up_ref(x);
    }
    return sk;
}

void
cert_report_free(struct cert_report *r)
{
    if (r == NULL)
        return;
    clear_chain(r);
    clear_warnings(r);
    free(r->host);
    free(r->name);
    free(r->reason);
    free(r->tls);
    free(r);
}
