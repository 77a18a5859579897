/* Room config/: the configuration file and its key table, the console log, error codes and JID
 * syntax; the base every program links (daemon and tools). May include: libc only. */

/* The configuration file (INI) and its parsed form.
 *
 * Every key is declared once in the key table (config_keys.c): name, type, default, range,
 * whether it can change on reload, and its meaning. The parser, component.conf.example and
 * docs/configuration.md all agree with that table (a test checks it). */
#ifndef CP_CONFIG_H
#define CP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "error.h"
#include "jid.h"
#include "log.h"

enum cp_auth { CP_AUTH_ANY, CP_AUTH_BASIC, CP_AUTH_NTLM, CP_AUTH_NEGOTIATE, CP_AUTH_BEARER };
enum cp_impersonation { CP_IMP_SMTP, CP_IMP_UPN, CP_IMP_SID, CP_IMP_NONE };
enum cp_notify_mode { CP_NOTIFY_PUSH, CP_NOTIFY_STREAMING, CP_NOTIFY_PULL };
enum cp_tentative { CP_TENTATIVE_FREE, CP_TENTATIVE_BUSY };
enum cp_weak_certs { CP_WEAK_WARN, CP_WEAK_REFUSE };

/* A comma-separated list value; items are trimmed, never empty. */
struct cp_strlist {
    char **items;
    size_t n;
};

/* The parsed configuration. Every string is owned by the struct (cp_config_free).
 * Optional strings that were not given are NULL. */
struct cp_config {
    char *path; /* the file it was read from */

    /* [component] */
    char *jid;
    char *secret; /* from `secret` or read from `secret_file` at load */
    char *secret_file;
    char *server_host;
    int server_port;
    struct cp_strlist domains; /* at least one; the first is primary */
    struct cp_strlist admins;  /* bare JIDs */
    int reconnect_max;         /* seconds, cap of the reconnect back-off */

    /* [store] */
    char *store_path;

    /* [exchange] */
    struct cp_strlist ews_urls; /* or the single word "autodiscover" */
    char *username;
    char *password; /* from `password` or read from `password_file` at load */
    char *password_file;
    char *token_file; /* OAuth2 bearer token, re-read when it changes (auth = bearer) */
    enum cp_auth auth;
    enum cp_impersonation impersonation;
    char *server_version;
    char *trust_dir;
    char *ca_file;
    enum cp_weak_certs weak_certificates;
    int timeout;     /* seconds */
    int queue;       /* pending requests at most */
    int concurrency; /* in flight per server */

    /* [notifications] */
    enum cp_notify_mode mode;
    char *listen;         /* host:port of the push listener */
    char *url;            /* URL given to Exchange in Subscribe */
    int status_frequency; /* minutes */
    int pull_interval;    /* seconds between GetEvents polls */
    char *listen_cert;    /* PEM chain: the listener speaks HTTPS; NULL = HTTP */
    char *listen_key;

    /* [calendar] */
    int spread; /* seconds */
    enum cp_tentative tentative;
    char *mailbox_domain;
    char *busy_show;
    char *busy_status;
    char *oof_show;
    char *oof_status;

    /* [privilege] */
    char *roster_group; /* roster group of provisioned calendar JIDs (XEP-0356) */
    /* admin defaults of the per-user options that need the presence permission: 0 or 1 (the
     * index of false/true in the key table) */
    int only_while_online;
    int respect_own_status;
    int pep_activity; /* 1: XEP-0108 "in a meeting" on the user's own PEP while busy (pep.c) */
    int roster_check_interval; /* seconds between re-reads of a user's roster, 0: never */

    /* [log] */
    enum cp_log_level log_level;

    /* [admin] */
    char *control_socket; /* NULL: calpresence.sock in the store's directory */
    char *admin_listen;   /* host:port of /metrics and /healthz; NULL = off */

    int *lines; /* per key of the table, the line that set it, 0 for a default (owned) */
};

/* Loads and validates PATH. On success returns 0 and *OUT (caller frees with cp_config_free).
 * On failure returns a negative cp_err and writes "FILE:LINE: reason" (or "FILE: reason" when
 * no line applies, e.g. a missing required key or an unreadable secret_file) into ERR. */
int cp_config_load(const char *path, struct cp_config **out, char *err, size_t errlen);

void cp_config_free(struct cp_config *cfg);

/* Called once per warning of cp_config_validate with "FILE:LINE: warning: what (what to do)"
 * ("FILE: warning: ..." when no line applies). MSG is only valid during the call. */
typedef void (*cp_config_warn_fn)(const char *msg, void *ud);

/* `calpresence -n`: loads PATH like cp_config_load, except that a secret_file, password_file
 * or token_file that does not exist is a warning, not an error (the shipped example names files
 * the administrator creates next); then warns about what would make the daemon fail at start
 * (cp_config_preflight). Returns and owns like cp_config_load; WARN may be called either way. */
int cp_config_validate(const char *path, cp_config_warn_fn warn, void *ud, struct cp_config **out,
                       char *err, size_t errlen);

/* Warns through WARN about what would fail only once the daemon runs: a placeholder secret or
 * password, a store directory that is missing or not writable, a missing trust_dir. Returns the
 * number of warnings. */
int cp_config_preflight(const struct cp_config *cfg, cp_config_warn_fn warn, void *ud);

/* What the daemon refuses at start although the file parses: a placeholder secret. Returns 0,
 * or CP_EINVAL with "FILE:LINE: reason" in ERR. */
int cp_config_check_start(const struct cp_config *cfg, char *err, size_t errlen);

/* True when S is a placeholder left from the example ("change-me", any case). */
bool cp_config_is_placeholder(const char *s);

/* The line of CFG's file that set KEY of SECTION; 0 when it took its default. */
int cp_config_line(const struct cp_config *cfg, const char *section, const char *key);

/* Compares a running configuration with a newly loaded one. Calls REPORT once for every key
 * whose value differs, with live = true when the running daemon can apply it and false when
 * only a restart can. Returns the number of differing keys that need a restart. */
int cp_config_diff(const struct cp_config *old, const struct cp_config *new,
                   void (*report)(const char *section, const char *key, bool live, void *ud),
                   void *ud);

/* Gives NEW the running value of every key a reload cannot apply (live = false), swapping it
 * with OLD's, so that the configuration in force changes only where cp_config_diff reports
 * "applied". Both keep owning what they then hold; OLD is normally freed next. */
void cp_config_keep_restart_only(struct cp_config *new, struct cp_config *old);

/* True when BARE_JID is listed in `admins` (case-insensitive domain, exact localpart). */
bool cp_config_is_admin(const struct cp_config *cfg, const char *bare_jid);

/* The control socket's path: [admin] control_socket, or calpresence.sock in the store's
 * directory. Returns 0, or CP_EINVAL when it does not fit in OUTLEN or in sun_path. */
int cp_config_control_socket(const struct cp_config *cfg, char *out, size_t outlen);

/* True when DOMAIN is one of `domains`. */
bool cp_config_serves_domain(const struct cp_config *cfg, const char *domain);

/* The key table (config_keys.c): one entry per key, in the order of component.conf.example. */
enum cp_key_type {
    CP_KEY_STRING, /* char *; when WORDS is set, one of them (stored as the table spells it) */
    CP_KEY_INT,    /* int in [MIN, MAX] */
    CP_KEY_ENUM,   /* an enum field: the index of the value in WORDS */
    CP_KEY_LIST,   /* struct cp_strlist, comma-separated */
};

struct cp_config_key {
    const char *section;
    const char *name;
    enum cp_key_type type;
    const char *def;          /* the default as written in the file; NULL: none */
    bool required;            /* must be given (with EITHER: one of the two must be) */
    const char *either;       /* a key of the same section that excludes this one */
    bool live;                /* a reload applies a change; otherwise only a restart does */
    bool secret;              /* the value is never printed or logged */
    int min, max;             /* CP_KEY_INT */
    const char *const *words; /* NULL-terminated: CP_KEY_ENUM, optional for CP_KEY_STRING */
    /* Optional extra check of a string or of each list item; may normalise VALUE in place
     * (never lengthening it). Returns 0, or CP_EINVAL with a reason in WHY. */
    int (*check)(char *value, char *why, size_t whylen);
    size_t offset;       /* of the field in struct cp_config */
    const char *meaning; /* one line, for the documentation */
};

extern const struct cp_config_key cp_config_keys[];
extern const size_t cp_config_key_count;

/* Writes CFG to OUT in the file's INI form, every secret value replaced by "(hidden)": for
 * `calpresence -n -v` style output and logs. */
void cp_config_print(const struct cp_config *cfg, FILE *out);

#endif
