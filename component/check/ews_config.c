/* The [exchange] section as the ews/ library takes it: one mapping for the daemon's engine,
 * the troubleshooter and calpresence-ews, so that a key added to the section reaches all three. */
#include "check.h"

#include <stdio.h>

#include "ews.h"

int
cp_ews_config_fill(const struct cp_config *cfg, struct ews_config *ec, char *why, size_t whylen)
{
    static const enum ews_auth_kind auths[] = {
        [CP_AUTH_ANY] = EWS_AUTH_ANY,       [CP_AUTH_BASIC] = EWS_AUTH_BASIC,
        [CP_AUTH_NTLM] = EWS_AUTH_NTLM,     [CP_AUTH_NEGOTIATE] = EWS_AUTH_NEGOTIATE,
        [CP_AUTH_BEARER] = EWS_AUTH_BEARER,
    };
    static const enum ews_impersonation_kind imps[] = {
        [CP_IMP_SMTP] = EWS_IMP_SMTP,
        [CP_IMP_UPN] = EWS_IMP_UPN,
        [CP_IMP_SID] = EWS_IMP_SID,
        [CP_IMP_NONE] = EWS_IMP_NONE,
    };
    *ec = (struct ews_config){0};
    ec->urls = (const char *const *)cfg->ews_urls.items;
    ec->n_urls = cfg->ews_urls.n;
    ec->username = cfg->username;
    ec->password = cfg->password;
    ec->token_file = cfg->token_file;
    ec->auth = auths[cfg->auth];
    ec->impersonation = imps[cfg->impersonation];
    ec->trust_dir = cfg->trust_dir;
    ec->ca_file = cfg->ca_file;
    ec->timeout = cfg->timeout;
    ec->queue = (size_t)cfg->queue;
    ec->concurrency = (unsigned)cfg->concurrency;
    /* With weak_certificates = warn a server whose certificate passed with a warning is
     * reached at security level 0 (logged by ews/), not reported down. */
    ec->allow_weak_tls = cfg->weak_certificates == CP_WEAK_WARN;
    if (!cfg->server_version ||
        ews_server_version_parse(cfg->server_version, &ec->server_version) != 0) {
        snprintf(why, whylen, "unknown server_version %s",
                 cfg->server_version ? cfg->server_version : "(none)");
        return CP_EINVAL;
    }
    return 0;
}
