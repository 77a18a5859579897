/* Small helpers: reasons, fingerprints, PEM reading, the status words. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "certs_int.h"

static const char *const status_tokens[] = {
    [CERT_VERIFIED] = "verified",
    [CERT_MISSING_CHAIN] = "missing-chain",
    [CERT_CN_MISMATCH] = "cn-mismatch",
    [CERT_SAN_MISMATCH] = "san-mismatch",
    [CERT_BAD_CERTIFICATE] = "bad-certificate",
    [CERT_NETWORK_ERROR] = "network-error",
    [CERT_FAILED] = "failed",
};

const char *
cert_status_token(enum cert_status st)
{
    if ((unsigned)st >= sizeof(status_tokens) / sizeof(status_tokens[0]))
        return "failed";
    return status_tokens[st];
}

void
cert_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

char *
cert_asprintf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : s;
}

int
cert_fingerprint(X509 *x, char out[96])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    unsigned int i;

    out[0] = '\0';
    if (!X509_digest(x, EVP_sha256(), md, &len) || len != 32)
        return CERT_EINVAL;
    for (i = 0; i < len; i++)
        snprintf(out + 3 * i, 4, "%02X%s", md[i], i + 1 < len ? ":" : "");
    return 0;
}

int
cert_fingerprint_normalize(const char *in, char out[96])
{
    char hex[65];
    size_t n = 0;
    size_t i;

    for (; *in != '\0'; in++) {
        if (*in == ':' || *in == ' ')
            continue;
        if (!isxdigit((unsigned char)*in) || n >= 64)
            return CERT_EINVAL;
        hex[n++] = (char)toupper((unsigned char)*in);
    }
    if (n != 64)
        return CERT_EINVAL;
    for (i = 0; i < 32; i++) {
        out[3 * i] = hex[2 * i];
        out[3 * i + 1] = hex[2 * i + 1];
        out[3 * i + 2] = i + 1 < 32 ? ':' : '\0';
    }
    return 0;
}

STACK_OF(X509) * cert_read_pem_file(const char *path, char *err, size_t errlen)
{
    STACK_OF(X509) * certs;
    FILE *f;
    X509 *x;

    f = fopen(path, "r");
    if (f == NULL) {
        cert_set_err(err, errlen, "%s: cannot open (%m)", path);
        return NULL;
    }
    certs = sk_X509_new_null();
    while (certs != NULL && (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        if (!sk_X509_push(certs, x)) {
            X509_free(x);
            sk_X509_pop_free(certs, X509_free);
            certs = NULL;
        }
    }
    fclose(f);
    /* PEM_read_X509 ends with "no start line" at the end of the file: not an error. */
    ERR_clear_error();
    if (certs == NULL) {
        cert_set_err(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    if (sk_X509_num(certs) == 0) {
        sk_X509_free(certs);
        cert_set_err(err, errlen, "%s: no PEM certificate in the file", path);
        return NULL;
    }
    return certs;
}
