/* Room check/: the troubleshooter (--check) and gateway-status in its worker thread.
 * May include: config/, ews/, certs/; nothing of XMPP or the store. */

/* The troubleshooter: `calpresence --check [MAILBOX]` and the `gateway-status` ad-hoc
 * command. For every configured EWS server, in order: reachability (a TCP connection within
 * `timeout`), the certificate status (the words of contract.md, from certs/), an authenticated
 * EWS call with the configured account, and, given a test mailbox, impersonation of it; each
 * step passes or fails with a one-line recommended action.
 *
 * Every call blocks for up to a few times `timeout` per server (it runs its own private
 * event loop): call it from a tool or from a thread, not from the daemon's loop. */
#ifndef CP_CHECK_H
#define CP_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config/config.h"
#include "gateway.h"

struct ews_config;

/* Fills EC from CFG's [exchange] section (every URL, the account, TLS, limits); the strings
 * stay CFG's. The caller adds its log hook and may narrow what it needs (one URL, a smaller
 * queue). Returns 0, or CP_EINVAL with WHY when server_version is unknown (EC is then filled
 * except for the version). */
int cp_ews_config_fill(const struct cp_config *cfg, struct ews_config *ec, char *why,
                       size_t whylen);

/* Runs the troubleshooter for CFG (borrowed) and MAILBOX (may be NULL: the impersonation
 * step is then skipped) and writes the report to OUT, readable by a person or, with JSON, one
 * JSON object. Returns 0 when every step of every server passed, 1 otherwise, negative on
 * ENOMEM. */
int cp_check_run(const struct cp_config *cfg, const char *mailbox, bool json, FILE *out);

/* The same report as a malloc'd string (caller frees); *FAILED (may be NULL) tells whether a
 * step failed. NULL on ENOMEM. For the gateway-status command. */
char *cp_check_report(const struct cp_config *cfg, const char *mailbox, bool json, bool *failed);

/* cp_check_certs_import_fp's answer when the chain changed since it was described. */
#define CP_CHECK_CHANGED 1

/* certs-import, first stage: downloads HOST[:PORT]'s chain and returns its description with
 * the status and which certificates an import would add, as a malloc'd string (caller frees),
 * or NULL with a reason in MSG. It also pins what the admin is shown: sets *FPS (may be NULL)
 * to the SHA-256 fingerprints ("AB:CD:...") of the certificates an import would add, in chain
 * order, each followed by a newline ("" for none), malloc'd (caller frees), or NULL when the
 * description is NULL. */
char *cp_check_certs_describe_fp(const struct cp_config *cfg, const char *hostport, char **fps,
                                 char *msg, size_t msglen);

/* certs-import, accepted: downloads HOST[:PORT]'s chain again and adds its missing CA
 * certificates (never the server's own) to trust_dir, only when they have exactly the
 * fingerprints FPS (as cp_check_certs_describe_fp gave them; NULL: no such check). Returns
 * CP_CHECK_CHANGED with MSG, having imported nothing, when they differ; otherwise writes
 * "imported N certificate(s); status: TOKEN" into MSG and returns 0 when the chain no longer
 * lacks an issuer, negative otherwise (MSG says why). */
int cp_check_certs_import_fp(const struct cp_config *cfg, const char *hostport, const char *fps,
                             char *msg, size_t msglen);

#endif
