/* Authentication of EWS requests (auth_int.h). */
#include "auth_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A bearer token is a few KiB at most; anything larger is not a token file. */
#define TOKEN_MAX 65536

static char *dup_or_null(const char *s, bool *oom);
static int read_token(const char *path, char **out, char *why, size_t whylen);

unsigned long
ews_auth_curl_mask(enum ews_auth_kind kind, bool have_gss)
{
    switch (kind) {
    case EWS_AUTH_ANY:
        return CURLAUTH_BASIC | CURLAUTH_NTLM | (have_gss ? CURLAUTH_NEGOTIATE : 0);
    case EWS_AUTH_BASIC:
        return CURLAUTH_BASIC;
    case EWS_AUTH_NTLM:
        return CURLAUTH_NTLM;
    case EWS_AUTH_NEGOTIATE:
        return have_gss ? CURLAUTH_NEGOTIATE : 0;
    case EWS_AUTH_BEARER:
        return CURLAUTH_BEARER;
    }
    return 0;
}

bool
ews_auth_have_gss(void)
{
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);

    return (v->features & CURL_VERSION_GSSAPI) != 0 && (v->features & CURL_VERSION_SPNEGO) != 0;
}

static char *
dup_or_null(const char *s, bool *oom)
{
    char *d;

    if (s == NULL)
        return NULL;
    d = strdup(s);
    if (d == NULL)
        *oom = true;
    return d;
}

int
ews_auth_init(struct ews_auth *a, const struct ews_config *cfg, char *why, size_t whylen)
{
    bool oom = false;

    memset(a, 0, sizeof(*a));
    a->kind = cfg->auth;
    a->mask = ews_auth_curl_mask(cfg->auth, ews_auth_have_gss());
    if (a->mask == 0) {
        snprintf(why, whylen, "auth negotiate needs a libcurl with GSS-API, this one has none");
        return EWS_E_INVAL;
    }
    if (cfg->auth == EWS_AUTH_BEARER && (cfg->token_file == NULL || cfg->token_file[0] == '\0')) {
        snprintf(why, whylen, "auth bearer needs token_file");
        return EWS_E_INVAL;
    }
    if (cfg->auth != EWS_AUTH_BEARER && (cfg->username == NULL || cfg->username[0] == '\0')) {
        snprintf(why, whylen, "auth %s needs username",
                 cfg->auth == EWS_AUTH_ANY ? "any" : "basic/ntlm/negotiate");
        return EWS_E_INVAL;
    }
    a->username = dup_or_null(cfg->username, &oom);
    a->password = dup_or_null(cfg->password != NULL ? cfg->password : "", &oom);
    a->token_file = dup_or_null(cfg->token_file, &oom);
    if (oom) {
        ews_auth_clear(a);
        return EWS_E_NOMEM;
    }
    return 0;
}

void
ews_auth_clear(struct ews_auth *a)
{
    if (a->password != NULL)
        explicit_bzero(a->password, strlen(a->password));
    if (a->token != NULL)
        explicit_bzero(a->token, strlen(a->token));
    free(a->username);
    free(a->password);
    free(a->token_file);
    free(a->token);
    memset(a, 0, sizeof(*a));
}

/* Reads PATH whole (bounded), trims surrounding white space. *OUT is malloc'd (caller frees).
 * This runs on the event loop whenever the file's mtime changes, so a FIFO or a device put in
 * the file's place is refused without blocking: O_NONBLOCK keeps open() from waiting for a
 * writer, fstat of the open descriptor says what was opened. */
static int
read_token(const char *path, char **out, char *why, size_t whylen)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    struct stat st;
    char *buf;
    size_t len = 0;
    size_t start = 0;

    if (fd < 0) {
        snprintf(why, whylen, "token_file %s: %s", path, strerror(errno));
        return EWS_E_INVAL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(why, whylen, "token_file %s: not a regular file", path);
        return EWS_E_INVAL;
    }
    buf = malloc(TOKEN_MAX + 1);
    if (buf == NULL) {
        close(fd);
        return EWS_E_NOMEM;
    }
    for (;;) {
        ssize_t r = read(fd, buf + len, TOKEN_MAX - len);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == TOKEN_MAX)
            break;
    }
    close(fd);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
                       buf[len - 1] == '\t'))
        len--;
    while (start < len && (buf[start] == ' ' || buf[start] == '\t' || buf[start] == '\n'))
        start++;
    if (len == start || len == TOKEN_MAX) {
        free(buf);
        snprintf(why, whylen, "token_file %s: %s", path, len == start ? "empty" : "too large");
        return EWS_E_INVAL;
    }
    memmove(buf, buf + start, len - start);
    buf[len - start] = '\0';
    *out = buf;
    return 0;
}

int
ews_auth_token_refresh(struct ews_auth *a, bool *changed, char *why, size_t whylen)
{
    struct stat st;
    char *token = NULL;
    int rc;

    *changed = false;
    if (stat(a->token_file, &st) < 0) {
        snprintf(why, whylen, "token_file %s: %s", a->token_file, strerror(errno));
        return EWS_E_INVAL;
    }
    if (a->token != NULL && a->have_token_stat && st.st_mtim.tv_sec == a->token_mtime.tv_sec &&
        st.st_mtim.tv_nsec == a->token_mtime.tv_nsec)
        return 0;
    rc = read_token(a->token_file, &token, why, whylen);
    if (rc < 0)
        return rc;
    *changed = a->token == NULL || strcmp(a->token, token) != 0;
    if (a->token != NULL)
        explicit_bzero(a->token, strlen(a->token));
    free(a->token);
    a->token = token;
    a->token_mtime = st.st_mtim;
    a->have_token_stat = true;
    return 0;
}

bool
ews_auth_drop_negotiate(struct ews_auth *a, long avail)
{
    if (a->kind != EWS_AUTH_ANY || !(a->mask & CURLAUTH_NEGOTIATE) ||
        !((unsigned long)avail & CURLAUTH_NEGOTIATE))
        return false;
    a->mask &= ~CURLAUTH_NEGOTIATE;
    return a->mask != 0;
}

int
ews_auth_apply(struct ews_auth *a, CURL *easy, char *why, size_t whylen)
{
    curl_easy_setopt(easy, CURLOPT_HTTPAUTH, a->mask);
    if (a->kind == EWS_AUTH_BEARER) {
        bool changed;
        int rc = ews_auth_token_refresh(a, &changed, why, whylen);

        if (rc < 0 && a->token == NULL)
            return rc;
        curl_easy_setopt(easy, CURLOPT_XOAUTH2_BEARER, a->token);
        return 0;
    }
    curl_easy_setopt(easy, CURLOPT_USERNAME, a->username);
    curl_easy_setopt(easy, CURLOPT_PASSWORD, a->password);
    return 0;
}
