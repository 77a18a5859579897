/* The configuration key table: every key the parser accepts, with its type, default, range,
 * whether a reload can apply it, and its meaning. component.conf.example and
 * docs/configuration.md are checked against this table by tests/component/config/test_config.c.
 *
 * Also here: the checks of single values that the types alone do not express. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "error.h"
#include "jid.h"
#include "log.h"

/* The enum fields are read and written through int pointers. */
_Static_assert(sizeof(enum cp_auth) == sizeof(int), "enum size");
_Static_assert(sizeof(enum cp_impersonation) == sizeof(int), "enum size");
_Static_assert(sizeof(enum cp_notify_mode) == sizeof(int), "enum size");
_Static_assert(sizeof(enum cp_tentative) == sizeof(int), "enum size");
_Static_assert(sizeof(enum cp_weak_certs) == sizeof(int), "enum size");
_Static_assert(sizeof(enum cp_log_level) == sizeof(int), "enum size");

static int put_normalised(char *value, const char *norm, const char *what, char *why,
                          size_t whylen);
static int check_domain(char *value, char *why, size_t whylen);
static int check_admin(char *value, char *why, size_t whylen);
static int check_host(char *value, char *why, size_t whylen);
static int check_host_port(char *value, char *why, size_t whylen);
static int check_ews_url(char *value, char *why, size_t whylen);
static int check_notify_url(char *value, char *why, size_t whylen);
static int check_url(const char *value, bool https_only, char *why, size_t whylen);
static int check_socket_path(char *value, char *why, size_t whylen);
static bool has_space(const char *s);

/* Word lists: the order of an enum's words is the order of its C enum. */
static const char *const auth_words[] = {"any", "basic", "ntlm", "negotiate", "bearer", NULL};
static const char *const imp_words[] = {"smtp", "upn", "sid", "none", NULL};
static const char *const mode_words[] = {"push", "streaming", "pull", NULL};
static const char *const tentative_words[] = {"free", "busy", NULL};
static const char *const weak_words[] = {"warn", "refuse", NULL};
static const char *const level_words[] = {"error", "warn", "info", "debug", NULL};
static const char *const show_words[] = {"away", "chat", "dnd", "xa", NULL};
static const char *const bool_words[] = {"false", "true", NULL};
/* ExchangeVersionType of the Exchange Server SE schema (types.xsd). */
static const char *const version_words[] = {
    "Exchange2007",     "Exchange2007_SP1", "Exchange2009", "Exchange2010",     "Exchange2010_SP1",
    "Exchange2010_SP2", "Exchange2012",     "Exchange2013", "Exchange2013_SP1", "Exchange2015",
    "Exchange2016",     "V2015_10_05",      "V2016_01_06",  "V2016_04_13",      "V2016_07_13",
    "V2016_10_10",      "V2017_01_07",      "V2017_04_14",  "V2017_07_11",      NULL};

#define OFF(field) offsetof(struct cp_config, field)

const struct cp_config_key cp_config_keys[] = {
    /* [component] */
    {.section = "component",
     .name = "jid",
     .type = CP_KEY_STRING,
     .required = true,
     .check = check_domain,
     .offset = OFF(jid),
     .meaning = "the component's own domain, as the XMPP server knows it"},
    {.section = "component",
     .name = "secret",
     .type = CP_KEY_STRING,
     .required = true,
     .either = "secret_file",
     .live = true,
     .secret = true,
     .offset = OFF(secret),
     .meaning =
         "XEP-0114 shared secret (or secret_file); a reload uses it from the next connection"},
    {.section = "component",
     .name = "secret_file",
     .type = CP_KEY_STRING,
     .required = true,
     .either = "secret",
     .live = true,
     .offset = OFF(secret_file),
     .meaning = "file holding the shared secret; must not be readable by group or others"},
    {.section = "component",
     .name = "server_host",
     .type = CP_KEY_STRING,
     .def = "127.0.0.1",
     .check = check_host,
     .offset = OFF(server_host),
     .meaning = "host of the XMPP server's component port"},
    {.section = "component",
     .name = "server_port",
     .type = CP_KEY_INT,
     .def = "5347",
     .min = 1,
     .max = 65535,
     .offset = OFF(server_port),
     .meaning = "the XMPP server's component port"},
    {.section = "component",
     .name = "domains",
     .type = CP_KEY_LIST,
     .required = true,
     .check = check_domain,
     .offset = OFF(domains),
     .meaning = "XMPP domains whose users are served; the first is primary"},
    {.section = "component",
     .name = "admins",
     .type = CP_KEY_LIST,
     .def = "",
     .live = true,
     .check = check_admin,
     .offset = OFF(admins),
     .meaning = "bare JIDs allowed to run the admin commands"},
    {.section = "component",
     .name = "reconnect_max",
     .type = CP_KEY_INT,
     .def = "60",
     .min = 1,
     .max = 3600,
     .live = true,
     .offset = OFF(reconnect_max),
     .meaning = "seconds, cap of the back-off between reconnects to the XMPP server"},

    /* [store] */
    {.section = "store",
     .name = "path",
     .type = CP_KEY_STRING,
     .required = true,
     .offset = OFF(store_path),
     .meaning = "the SQLite database file"},

    /* [exchange] */
    {.section = "exchange",
     .name = "ews_urls",
     .type = CP_KEY_LIST,
     .def = "",
     .check = check_ews_url,
     .offset = OFF(ews_urls),
     .meaning = "EWS endpoints (https://) of the Client Access Servers, or autodiscover"},
    {.section = "exchange",
     .name = "username",
     .type = CP_KEY_STRING,
     .offset = OFF(username),
     .meaning = "impersonation account: UPN or DOMAIN\\user (needed with ews_urls)"},
    {.section = "exchange",
     .name = "password",
     .type = CP_KEY_STRING,
     .either = "password_file",
     .secret = true,
     .offset = OFF(password),
     .meaning = "password of the impersonation account (or password_file)"},
    {.section = "exchange",
     .name = "password_file",
     .type = CP_KEY_STRING,
     .either = "password",
     .offset = OFF(password_file),
     .meaning = "file holding the password; must not be readable by group or others"},
    {.section = "exchange",
     .name = "token_file",
     .type = CP_KEY_STRING,
     .offset = OFF(token_file),
     .meaning = "file holding an OAuth2 bearer token (auth = bearer), re-read when it changes"},
    {.section = "exchange",
     .name = "auth",
     .type = CP_KEY_ENUM,
     .def = "any",
     .words = auth_words,
     .offset = OFF(auth),
     .meaning = "HTTP authentication: any, basic, ntlm, negotiate or bearer"},
    {.section = "exchange",
     .name = "impersonation",
     .type = CP_KEY_ENUM,
     .def = "smtp",
     .words = imp_words,
     .offset = OFF(impersonation),
     .meaning = "how the mailbox is named in ExchangeImpersonation: smtp, upn, sid or none"},
    {.section = "exchange",
     .name = "server_version",
     .type = CP_KEY_STRING,
     .def = "Exchange2010_SP2",
     .words = version_words,
     .offset = OFF(server_version),
     .meaning = "RequestServerVersion sent to Exchange"},
    {.section = "exchange",
     .name = "trust_dir",
     .type = CP_KEY_STRING,
     .def = "/etc/calpresence/trust",
     .offset = OFF(trust_dir),
     .meaning = "OpenSSL hashed directory of trusted CA certificates"},
    {.section = "exchange",
     .name = "ca_file",
     .type = CP_KEY_STRING,
     .offset = OFF(ca_file),
     .meaning = "optional extra PEM bundle of trusted CA certificates"},
    {.section = "exchange",
     .name = "weak_certificates",
     .type = CP_KEY_ENUM,
     .def = "warn",
     .words = weak_words,
     .offset = OFF(weak_certificates),
     .meaning = "SHA-1 or RSA < 2048 bit server certificates: warn (accept, log) or refuse"},
    {.section = "exchange",
     .name = "timeout",
     .type = CP_KEY_INT,
     .def = "30",
     .min = 1,
     .max = 600,
     .live = true,
     .offset = OFF(timeout),
     .meaning = "seconds per Exchange request (Exchange Timeout)"},
    {.section = "exchange",
     .name = "queue",
     .type = CP_KEY_INT,
     .def = "20000",
     .min = 1,
     .max = 1000000,
     .offset = OFF(queue),
     .meaning = "pending Exchange requests at most (Exchange Queue)"},
    {.section = "exchange",
     .name = "concurrency",
     .type = CP_KEY_INT,
     .def = "20",
     .min = 1,
     .max = 1000,
     .offset = OFF(concurrency),
     .meaning = "Exchange requests in flight per server (Exchange Threads)"},

    /* [notifications] */
    {.section = "notifications",
     .name = "mode",
     .type = CP_KEY_ENUM,
     .def = "push",
     .words = mode_words,
     .offset = OFF(mode),
     .meaning = "Exchange notifications: push, streaming or pull"},
    {.section = "notifications",
     .name = "listen",
     .type = CP_KEY_STRING,
     .def = "0.0.0.0:3802",
     .check = check_host_port,
     .offset = OFF(listen),
     .meaning = "host:port of the push listener (Microsoft Exchange Notification Port)"},
    {.section = "notifications",
     .name = "url",
     .type = CP_KEY_STRING,
     .check = check_notify_url,
     .offset = OFF(url),
     .meaning = "URL of the push listener sent to Exchange (needed with mode = push and ews_urls)"},
    {.section = "notifications",
     .name = "status_frequency",
     .type = CP_KEY_INT,
     .def = "60",
     .min = 1,
     .max = 1440,
     .live = true,
     .offset = OFF(status_frequency),
     .meaning = "minutes between Exchange status events (EWS Status Frequency)"},
    {.section = "notifications",
     .name = "pull_interval",
     .type = CP_KEY_INT,
     .def = "30",
     .min = 1,
     .max = 3600,
     .offset = OFF(pull_interval),
     .meaning = "seconds between GetEvents polls of each subscription (mode = pull)"},
    {.section = "notifications",
     .name = "listen_cert",
     .type = CP_KEY_STRING,
     .offset = OFF(listen_cert),
     .meaning = "optional: PEM certificate chain; the push listener then speaks HTTPS"},
    {.section = "notifications",
     .name = "listen_key",
     .type = CP_KEY_STRING,
     .offset = OFF(listen_key),
     .meaning = "PEM private key of listen_cert (required with it)"},

    /* [calendar] */
    {.section = "calendar",
     .name = "spread",
     .type = CP_KEY_INT,
     .def = "50",
     .min = 0,
     .max = 59,
     .live = true,
     .offset = OFF(spread),
     .meaning = "seconds over which presence changes at a meeting edge are spread"},
    {.section = "calendar",
     .name = "tentative",
     .type = CP_KEY_ENUM,
     .def = "free",
     .words = tentative_words,
     .live = true,
     .offset = OFF(tentative),
     .meaning = "how tentative meetings show by default: free or busy"},
    {.section = "calendar",
     .name = "mailbox_domain",
     .type = CP_KEY_STRING,
     .check = check_domain,
     .offset = OFF(mailbox_domain),
     .meaning = "optional: default mailbox is user@mailbox_domain instead of the bare JID"},
    {.section = "calendar",
     .name = "busy_show",
     .type = CP_KEY_STRING,
     .def = "dnd",
     .words = show_words,
     .live = true,
     .offset = OFF(busy_show),
     .meaning = "presence show value while busy: away, chat, dnd or xa"},
    {.section = "calendar",
     .name = "busy_status",
     .type = CP_KEY_STRING,
     .def = "In a meeting",
     .live = true,
     .offset = OFF(busy_status),
     .meaning = "presence status text while busy"},
    {.section = "calendar",
     .name = "oof_show",
     .type = CP_KEY_STRING,
     .def = "away",
     .words = show_words,
     .live = true,
     .offset = OFF(oof_show),
     .meaning = "presence show value while out of office: away, chat, dnd or xa"},
    {.section = "calendar",
     .name = "oof_status",
     .type = CP_KEY_STRING,
     .def = "Out of office",
     .live = true,
     .offset = OFF(oof_status),
     .meaning = "presence status text while out of office"},

    /* [privilege] */
    {.section = "privilege",
     .name = "roster_group",
     .type = CP_KEY_STRING,
     .def = "Calendars",
     .live = true,
     .offset = OFF(roster_group),
     .meaning = "roster group of the calendar JIDs put into contacts' rosters (XEP-0356)"},
    {.section = "privilege",
     .name = "only_while_online",
     .type = CP_KEY_ENUM,
     .def = "false",
     .words = bool_words,
     .live = true,
     .offset = OFF(only_while_online),
     .meaning = "default of the user setting: calendar presence only while the user is online "
                "(needs the XEP-0356 presence permission)"},
    {.section = "privilege",
     .name = "respect_own_status",
     .type = CP_KEY_ENUM,
     .def = "false",
     .words = bool_words,
     .live = true,
     .offset = OFF(respect_own_status),
     .meaning = "default of the user setting: no meeting shown while the user's own show is "
                "dnd, away or xa (needs the XEP-0356 presence permission)"},
    {.section = "privilege",
     .name = "pep_activity",
     .type = CP_KEY_ENUM,
     .def = "false",
     .words = bool_words,
     .live = true,
     .offset = OFF(pep_activity),
     .meaning = "default of the user setting: while busy, the user's own PEP shows the "
                "activity In a meeting (XEP-0108; needs the pubsub iq privilege)"},
    {.section = "privilege",
     .name = "roster_check_interval",
     .type = CP_KEY_INT,
     .def = "3600",
     .min = 0,
     .max = 604800,
     .offset = OFF(roster_check_interval),
     .meaning = "seconds between re-reads of each enabled user's roster, which provision contacts "
                "added and unprovision those removed; 0: never (XEP-0356)"},

    /* [log] */
    {.section = "log",
     .name = "level",
     .type = CP_KEY_ENUM,
     .def = "info",
     .words = level_words,
     .live = true,
     .offset = OFF(log_level),
     .meaning = "most verbose console log level: error, warn, info or debug"},

    /* [admin] */
    {.section = "admin",
     .name = "control_socket",
     .type = CP_KEY_STRING,
     .check = check_socket_path,
     .offset = OFF(control_socket),
     .meaning = "optional: path of calpresence-ctl's Unix socket; default calpresence.sock "
                "beside the store"},
    {.section = "admin",
     .name = "listen",
     .type = CP_KEY_STRING,
     .check = check_host_port,
     .offset = OFF(admin_listen),
     .meaning = "optional: host:port serving /metrics and /healthz over HTTP (127.0.0.1 "
                "suggested); off when unset"},
};

const size_t cp_config_key_count = sizeof(cp_config_keys) / sizeof(cp_config_keys[0]);

static bool
has_space(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return true;
    }
    return false;
}

/* Replaces VALUE with NORM, its normalised form (jid.c). Normalisation may lengthen a string
 * (U+00DF folds to "ss") but VALUE can only be rewritten in place: such a value is refused with
 * the form to write instead, which an operator fixes once. */
static int
put_normalised(char *value, const char *norm, const char *what, char *why, size_t whylen)
{
    if (strlen(norm) > strlen(value)) {
        snprintf(why, whylen, "'%s' is %s '%s' once normalised: write that", value, what, norm);
        return CP_EINVAL;
    }
    strcpy(value, norm);
    return CP_OK;
}

/* A domain-only JID, nameprepped in place. */
static int
check_domain(char *value, char *why, size_t whylen)
{
    char bare[CP_JID_BARE_MAX];

    if (strchr(value, '@') != NULL || strchr(value, '/') != NULL ||
        cp_jid_bare(value, bare, sizeof(bare)) != CP_OK) {
        snprintf(why, whylen, "'%s' is not a domain", value);
        return CP_EINVAL;
    }
    return put_normalised(value, bare, "the domain", why, whylen);
}

/* A bare JID user@domain without a resource, normalised in place (nodeprep, nameprep) so that
 * it compares equal to the JIDs the server sends. */
static int
check_admin(char *value, char *why, size_t whylen)
{
    char bare[CP_JID_BARE_MAX];

    if (strchr(value, '@') == NULL || strchr(value, '/') != NULL ||
        cp_jid_bare(value, bare, sizeof(bare)) != CP_OK) {
        snprintf(why, whylen, "'%s' is not a bare JID user@domain", value);
        return CP_EINVAL;
    }
    return put_normalised(value, bare, "the JID", why, whylen);
}

static int
check_host(char *value, char *why, size_t whylen)
{
    if (has_space(value) || strchr(value, '/') != NULL) {
        snprintf(why, whylen, "'%s' is not a host name or address", value);
        return CP_EINVAL;
    }
    return CP_OK;
}

/* An absolute path short enough for sun_path (108 bytes on Linux, with its terminating NUL). */
static int
check_socket_path(char *value, char *why, size_t whylen)
{
    if (value[0] != '/' || strlen(value) >= 108) {
        snprintf(why, whylen, "'%s' is not an absolute path of at most 107 bytes", value);
        return CP_EINVAL;
    }
    return CP_OK;
}

/* HOST:PORT, where HOST may be a bracketed IPv6 address. */
static int
check_host_port(char *value, char *why, size_t whylen)
{
    const char *colon = strrchr(value, ':');
    char *end = NULL;
    long port = 0;

    if (colon != NULL && colon != value && colon[1] != '\0')
        port = strtol(colon + 1, &end, 10);
    if (port < 1 || port > 65535 || *end != '\0' || has_space(value) ||
        (value[0] == '[' && colon[-1] != ']') ||
        (value[0] != '[' && memchr(value, ':', (size_t)(colon - value)) != NULL)) {
        snprintf(why, whylen, "'%s' is not HOST:PORT", value);
        return CP_EINVAL;
    }
    return CP_OK;
}

/* An absolute http(s) URL with a host and no spaces. */
static int
check_url(const char *value, bool https_only, char *why, size_t whylen)
{
    const char *rest = NULL;

    if (strncasecmp(value, "https://", 8) == 0)
        rest = value + 8;
    else if (!https_only && strncasecmp(value, "http://", 7) == 0)
        rest = value + 7;
    if (rest == NULL || *rest == '\0' || *rest == '/' || *rest == ':' || has_space(value)) {
        snprintf(why, whylen, "'%s' is not an %s URL", value,
                 https_only ? "https://" : "http:// or https://");
        return CP_EINVAL;
    }
    return CP_OK;
}

static int
check_ews_url(char *value, char *why, size_t whylen)
{
    if (strcmp(value, "autodiscover") == 0)
        return CP_OK;
    return check_url(value, true, why, whylen);
}

static int
check_notify_url(char *value, char *why, size_t whylen)
{
    return check_url(value, false, why, whylen);
}
