/* certs/: the trust store, TLS chain download, host matching and certificate verification.
 *
 * Knows nothing of XMPP or EWS: it speaks OpenSSL only. The trust store is an OpenSSL hashed
 * directory (`openssl rehash` layout: each certificate is a file `<sha256>.pem` and a symlink
 * `<subject-hash>.N` points at it), the same directory ews/ hands to libcurl as CAPATH, plus an
 * optional PEM bundle (`ca_file`) that is read but never written.
 *
 * Status tokens are those of ../shared/design/contract.md. Functions return 0 or a negative
 * enum cert_err; pointer returns are NULL on failure. Every reason string is one line for an
 * operator. */
#ifndef CP_CERTS_H
#define CP_CERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

enum cert_err {
    CERT_OK = 0,
    CERT_ENOMEM = -1,    /* allocation failed */
    CERT_EINVAL = -2,    /* bad argument, not a certificate, a leaf given as anchor */
    CERT_ENOTFOUND = -3, /* no certificate with that fingerprint */
    CERT_EIO = -4,       /* file or directory error */
    CERT_EEXIST = -5,    /* the certificate is already in the trust store */
    CERT_ENET = -6,      /* no TCP connection within the timeout */
};

/* The verdict on a server's certificate, in order of the contract's list. */
enum cert_status {
    CERT_VERIFIED,
    CERT_MISSING_CHAIN,   /* an issuer certificate is not in the trust store */
    CERT_CN_MISMATCH,     /* no DNS SAN, and the subject CN does not match the expected name */
    CERT_SAN_MISMATCH,    /* the expected name is not among the SAN entries */
    CERT_BAD_CERTIFICATE, /* bad signature, expired, not yet valid, refused algorithm */
    CERT_NETWORK_ERROR,   /* no TCP or TLS answer in time */
    CERT_FAILED,          /* anything else; the reason says what */
};

/* The contract's word for ST ("verified", "missing-chain", ...); static. */
const char *cert_status_token(enum cert_status st);

/* Where the trust store lives and how verification behaves. Strings are borrowed. */
struct cert_options {
    const char *trust_dir; /* hashed directory; may be NULL (then only ca_file is used) */
    const char *ca_file;   /* optional extra PEM bundle; NULL or "" for none */
    int timeout;           /* seconds for connect and handshake; <= 0 means 30 */
    bool refuse_weak;      /* true: SHA-1 signatures and keys under 2048 bits are bad-certificate;
                              false: accepted with a warning (Cisco's behaviour) */
};

/* One certificate described for a person. Strings and arrays are owned by the struct. */
struct cert_info {
    char *subject; /* RFC 2253 one-line form */
    char *issuer;
    char **dns; /* DNS SAN entries */
    size_t n_dns;
    char **ips; /* iPAddress SAN entries, printed (v4 dotted, v6 RFC 5952) */
    size_t n_ips;
    char *common_name; /* last CN of the subject, or NULL */
    time_t not_before;
    time_t not_after;
    char key_type[16]; /* "RSA", "EC", "ED25519", ... */
    int key_bits;
    char sig_alg[64];     /* "sha256WithRSAEncryption", ... */
    char fingerprint[96]; /* SHA-256, "AB:CD:..." as `openssl x509 -fingerprint -sha256` */
    bool is_ca;           /* acceptable as a trust anchor without forcing */
    bool self_signed;
};

/* Fills *INFO from X (borrowed). Returns 0, or CERT_ENOMEM (INFO is then cleared).
 * Free the strings with cert_info_clear. */
int cert_info_from_x509(X509 *x, struct cert_info *info);
void cert_info_clear(struct cert_info *info);

/* Writes INFO as indented "field: value" lines to OUT. */
void cert_info_print(const struct cert_info *info, FILE *out);

/* ---- host matching (RFC 6125) ---- */

/* True when the certificate name PATTERN (a DNS SAN or CN; one left-most wildcard label
 * allowed, "*.a.com") matches host NAME. Case-insensitive, a trailing dot ignored; a wildcard
 * never matches an IP address, a bare public suffix of one label, or more than one label. */
bool cert_name_matches(const char *pattern, const char *name);

enum cert_host_match {
    CERT_HOST_MATCH,
    CERT_HOST_SAN_MISMATCH, /* the certificate has SANs of the relevant kind and none matches */
    CERT_HOST_CN_MISMATCH,  /* no DNS SAN; the subject CN does not match */
};

/* Matches NAME (a DNS name or an IPv4/IPv6 literal, brackets allowed) against X (borrowed):
 * an IP only against iPAddress SANs; a DNS name against DNS SANs, or against the subject CN
 * only when there is no DNS SAN. */
enum cert_host_match cert_match_host(X509 *x, const char *name);

/* ---- trust store ---- */

#define CERT_ADD_ALLOW_LEAF 1u /* accept a certificate that is not a CA as a trust anchor */

/* Adds X (borrowed) to the hashed directory DIR (created 0755 when missing). Refuses a
 * certificate that is not a CA with CERT_EINVAL unless FLAGS has CERT_ADD_ALLOW_LEAF.
 * Atomic and safe against concurrent callers (temp file, fsync, rename, flock on DIR/.lock).
 * Returns 0, CERT_EEXIST when already there, or negative with a reason in ERR. */
int cert_store_add_x509(const char *dir, X509 *x, unsigned flags, char *err, size_t errlen);

/* Adds every certificate of the PEM file PATH (all or nothing is checked first: each must be a
 * CA unless CERT_ADD_ALLOW_LEAF). *ADDED (may be NULL) counts the new ones; certificates
 * already present are skipped. Returns 0 or negative with a reason in ERR. */
int cert_store_add_pem(const char *dir, const char *path, unsigned flags, size_t *added, char *err,
                       size_t errlen);

/* One trusted certificate and where it comes from (file name in DIR, or the ca_file path). */
struct cert_store_entry {
    struct cert_info info;
    char *source;
};

/* Lists the certificates OpenSSL will see through DIR's <hash>.N names, then those of
 * CA_FILE (may be NULL). *OUT is a malloc'd array of *N entries (free with
 * cert_store_entries_free). A missing DIR is an empty store. */
int cert_store_list(const char *dir, const char *ca_file, struct cert_store_entry **out, size_t *n,
                    char *err, size_t errlen);
void cert_store_entries_free(struct cert_store_entry *entries, size_t n);

/* Removes the certificate whose SHA-256 fingerprint is FP (hex, colons optional, any case)
 * from DIR, keeping the <hash>.N numbering contiguous. Returns 0, CERT_ENOTFOUND, or
 * negative with a reason in ERR (a certificate that is only in ca_file cannot be removed). */
int cert_store_remove(const char *dir, const char *ca_file, const char *fp, char *err,
                      size_t errlen);

/* True when a certificate with X's fingerprint is in DIR or CA_FILE (either may be NULL). */
bool cert_store_contains(const char *dir, const char *ca_file, X509 *x);

/* ---- chain download and verification ---- */

/* Where a certificate of a reported chain comes from. */
enum cert_where {
    CERT_WHERE_PRESENTED,         /* sent by the server, not in the trust store */
    CERT_WHERE_PRESENTED_TRUSTED, /* sent by the server and also in the trust store */
    CERT_WHERE_STORE,             /* not sent; found in the trust store */
    CERT_WHERE_MISSING,           /* not sent and not in the trust store: only its name known */
};

struct cert_chain_entry {
    enum cert_where where;
    struct cert_info info; /* for CERT_WHERE_MISSING only subject is set */
    X509 *x509;            /* owned; NULL for CERT_WHERE_MISSING */
};

/* The outcome of checking one server. Everything is owned by the struct. */
struct cert_report {
    char *host;
    int port;
    char *name; /* the expected host name */
    enum cert_status status;
    char *reason;                   /* one line: why this status */
    struct cert_chain_entry *chain; /* leaf first */
    size_t n_chain;
    char **warnings; /* weak algorithms accepted, security level lowered, other problems */
    size_t n_warnings;
    char *tls;             /* "TLSv1.3 TLS_AES_256_GCM_SHA384", or NULL when no handshake */
    bool seclevel_lowered; /* the handshake needed OpenSSL security level 0 (weak chain) */
};

/* Splits "HOST[:PORT]" ("[v6]:PORT" for IPv6) into a malloc'd *HOST and *PORT (default
 * DEFPORT). Returns 0 or CERT_EINVAL. */
int cert_parse_hostport(const char *spec, int defport, char **host, int *port);

/* Connects to HOST:PORT with SNI (unless HOST is an IP), bounded by OPT->timeout, captures the
 * presented chain whether or not it verifies, and verifies it against the trust store for
 * NAME (NULL: HOST). A network or TLS failure is a report with status network-error or
 * failed, not an error return. Returns 0 with *OUT (free with cert_report_free), or
 * CERT_ENOMEM / CERT_EINVAL. */
int cert_check_server(const struct cert_options *opt, const char *host, int port, const char *name,
                      struct cert_report **out);

/* Verifies the chain PRESENTED (borrowed, leaf first) for NAME at time NOW (0: the current
 * time) against the trust store, without any network. Returns 0 with *OUT or CERT_ENOMEM. */
int cert_verify_chain(const struct cert_options *opt, STACK_OF(X509) * presented, const char *name,
                      time_t now, struct cert_report **out);

void cert_report_free(struct cert_report *r);

/* Opens a TCP connection to HOST:PORT within TIMEOUT seconds and closes it: the
 * troubleshooter's reachability step. Returns 0, or CERT_ENET with a reason in ERR. */
int cert_probe_tcp(const char *host, int port, int timeout, char *err, size_t errlen);

/* Writes the chain, one block a certificate with where it comes from, to OUT. */
void cert_report_print_chain(const struct cert_report *r, FILE *out);

/* Writes the warnings and the final "status: TOKEN" and "reason: ..." lines to OUT. */
void cert_report_print_status(const struct cert_report *r, FILE *out);

/* For the EWS transport (libcurl's CURLOPT_SSL_CTX_FUNCTION): with REFUSE_WEAK false, lets
 * CTX accept what this library accepts with a warning (SHA-1 signatures, RSA 1024-bit keys,
 * TLS 1.0/1.1) by lowering its OpenSSL security level to 0, for connections made with CTX
 * only; verification itself stays on. With REFUSE_WEAK true CTX is left as it is (Debian's
 * level 2 refuses them). Returns true when it lowered the level, so the caller can log it. */
bool cert_ssl_ctx_apply_policy(SSL_CTX *ctx, bool refuse_weak);

/* ---- import ---- */

/* Adds to DIR the certificates of R's chain that the server presented, that are CAs and that
 * are not trusted yet; the leaf too when ALLOW_LEAF. CONFIRM (may be NULL: yes) is asked once
 * per certificate. *ADDED counts those added. Afterwards R's status and chain are recomputed
 * against the updated store. Returns 0 or negative with a reason in ERR. */
int cert_import(const struct cert_options *opt, struct cert_report *r, bool allow_leaf,
                bool (*confirm)(void *ud, const struct cert_info *info), void *ud, size_t *added,
                char *err, size_t errlen);

/* True when R's chain ends in an issuer the server did not send and the store lacks. */
bool cert_report_issuer_missing(const struct cert_report *r);

#endif
