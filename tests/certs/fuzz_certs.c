/* libFuzzer target for the certs/ parsers of untrusted input: RFC 6125 name matching, the
 * HOST[:PORT] parser, and the description and host matching of a DER certificate a server
 * presents. The first byte picks the part; the rest is its input. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certs.h"

#define NAME_MAX_FUZZ 300

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_names(const uint8_t *data, size_t size)
{
    char pattern[NAME_MAX_FUZZ + 1];
    char name[NAME_MAX_FUZZ + 1];
    const uint8_t *nul = memchr(data, '\0', size);
    size_t plen = nul != NULL ? (size_t)(nul - data) : size;
    size_t nlen = nul != NULL ? size - plen - 1 : 0;

    if (plen > NAME_MAX_FUZZ || nlen > NAME_MAX_FUZZ)
        return;
    memcpy(pattern, data, plen);
    pattern[plen] = '\0';
    memcpy(name, nul != NULL ? nul + 1 : data, nlen);
    name[nlen] = '\0';
    bool match = cert_name_matches(pattern, name);
    size_t i;

    /* Matching ignores ASCII case: the upper-case forms must give the same answer. */
    for (i = 0; i < plen; i++)
        pattern[i] = (char)toupper((unsigned char)pattern[i]);
    for (i = 0; i < nlen; i++)
        name[i] = (char)toupper((unsigned char)name[i]);
    if (cert_name_matches(pattern, name) != match)
        abort();
}

static void
fuzz_hostport(const uint8_t *data, size_t size)
{
    char spec[NAME_MAX_FUZZ + 1];
    char *host = NULL;
    int port;

    if (size > NAME_MAX_FUZZ)
        return;
    memcpy(spec, data, size);
    spec[size] = '\0';
    if (cert_parse_hostport(spec, 443, &host, &port) == 0) {
        if (host == NULL || host[0] == '\0' || port < 1 || port > 65535)
            abort();
        free(host);
    }
}

static void
fuzz_der(const uint8_t *data, size_t size)
{
    const unsigned char *p = data;
    X509 *x = d2i_X509(NULL, &p, (long)size);
    struct cert_info info;

    if (x == NULL)
        return;
    if (cert_info_from_x509(x, &info) == 0)
        cert_info_clear(&info);
    (void)cert_match_host(x, "mail.example.com");
    (void)cert_match_host(x, "127.0.0.1");
    (void)cert_match_host(x, "2001:db8::1");
    X509_free(x);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        fuzz_names(data + 1, size - 1);
        break;
    case 1:
        fuzz_hostport(data + 1, size - 1);
        break;
    default:
        fuzz_der(data + 1, size - 1);
        break;
    }
    return 0;
}
