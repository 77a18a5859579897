/* certs/ private helpers shared by its files; not part of the public face (certs.h). */
#ifndef CP_CERTS_INT_H
#define CP_CERTS_INT_H

#include <stdarg.h>

#include "certs.h"

/* Writes a printf-style reason into ERR (may be NULL). */
void cert_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Returns a malloc'd formatted string (caller frees), or NULL on ENOMEM. */
char *cert_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes X's SHA-256 fingerprint as "AB:CD:..." into OUT (96 bytes). Returns 0 or CERT_EINVAL. */
int cert_fingerprint(X509 *x, char out[96]);

/* Normalizes a fingerprint typed by a person (colons optional, any case) into the
 * "AB:CD:..." form in OUT. Returns 0, or CERT_EINVAL when it is not 32 hex bytes. */
int cert_fingerprint_normalize(const char *in, char out[96]);

/* Reads every certificate of the PEM file PATH. Returns a new stack (caller frees with
 * sk_X509_pop_free(.., X509_free)), or NULL with a reason in ERR (no certificate is an error). */
STACK_OF(X509) * cert_read_pem_file(const char *path, char *err, size_t errlen);

/* Builds an X509_STORE from OPT's trust_dir and ca_file (caller frees). NULL with ERR. */
X509_STORE *cert_trust_store_new(const struct cert_options *opt, char *err, size_t errlen);

/* Appends a printf-style warning to R. Returns 0 or CERT_ENOMEM. */
int cert_report_warn(struct cert_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Replaces R's chain, status and reason with a verification of PRESENTED (borrowed) for
 * R->name at NOW. Returns 0 or CERT_ENOMEM. */
int cert_report_verify(const struct cert_options *opt, struct cert_report *r,
                       STACK_OF(X509) * presented, time_t now);

/* The presented certificates of R's chain, leaf first, as a new stack whose X509 references
 * are up-referenced (caller frees with sk_X509_pop_free). NULL on ENOMEM. */
STACK_OF(X509) * cert_report_presented(const struct cert_report *r);

#endif
