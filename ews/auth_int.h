/* Authentication of EWS requests: which libcurl schemes, which credentials, and the OAuth2
 * bearer token kept in a file that an outside agent refreshes (re-read when its mtime changes).
 */
#ifndef EWS_AUTH_INT_H
#define EWS_AUTH_INT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "ews.h"

struct ews_auth {
    enum ews_auth_kind kind;
    unsigned long mask; /* CURLAUTH_* bits */
    char *username;
    char *password;
    char *token_file;
    char *token;                 /* the token file's content, trimmed */
    struct timespec token_mtime; /* of the file when TOKEN was read */
    bool have_token_stat;
};

/* The CURLAUTH_* bits for KIND. `any` is every scheme an Exchange server offers that is safe
 * here: Basic (over TLS only), NTLM, and Negotiate when libcurl has GSS-API; never NTLM_WB
 * (runs an outside helper), Digest (Exchange does not offer it for EWS), Bearer or AWS.
 * Returns 0 when KIND cannot work (negotiate without GSS-API). */
unsigned long ews_auth_curl_mask(enum ews_auth_kind kind, bool have_gss);

/* True when the libcurl in use has GSS-API (curl_version_info features). */
bool ews_auth_have_gss(void);

/* Copies the credentials of CFG into A (free with ews_auth_clear). Returns 0, EWS_E_NOMEM, or
 * EWS_E_INVAL with a reason in WHY (scheme unavailable, missing token_file or username). */
int ews_auth_init(struct ews_auth *a, const struct ews_config *cfg, char *why, size_t whylen);

void ews_auth_clear(struct ews_auth *a);

/* Re-reads the token file when its mtime changed since the last read. Sets *CHANGED.
 * Returns 0, or EWS_E_INVAL with a reason in WHY when the file cannot be read or is empty (the
 * previous token, if any, is kept). */
int ews_auth_token_refresh(struct ews_auth *a, bool *changed, char *why, size_t whylen);

/* auth = any against a server offering Negotiate when this host has no Kerberos ticket:
 * libcurl picks Negotiate, cannot make a token and does not fall back. Removes Negotiate from
 * A's schemes for every later request. Returns true when it did (kind any, Negotiate was in
 * the mask and AVAIL, the server's offer, has it), false otherwise. */
bool ews_auth_drop_negotiate(struct ews_auth *a, long avail);

/* Sets the scheme and credentials on EASY. Bearer: refreshes the token first. Returns 0 or
 * EWS_E_INVAL (no token available, reason in WHY). */
int ews_auth_apply(struct ews_auth *a, CURL *easy, char *why, size_t whylen);

#endif
