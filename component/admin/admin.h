/* Room admin/: the operator's side doors: the control socket that calpresence-ctl speaks to,
 * and the optional HTTP endpoint with /metrics and /healthz. Both run on the daemon's loop.
 * May include: config/, store/, engine/, xmpp/, adhoc/ (the users-enable line check), check/,
 * the daemon (daemon.h) and libevent. */
#ifndef CP_ADMIN_H
#define CP_ADMIN_H

#include <stddef.h>

struct cp_daemon;
struct cp_admin;

/* Opens the control socket (mode 0600) and, when [admin] listen is set, the HTTP endpoint, on
 * D's loop. D is borrowed and must outlive the result. Returns 0 and *OUT, or a negative cp_err
 * with the reason in WHY (start-up fatal: another daemon holds the socket, the port is taken). */
int cp_admin_new(struct cp_daemon *d, struct cp_admin **out, char *why, size_t whylen);

/* Closes both, removes the socket file, and waits for a running check to end. */
void cp_admin_free(struct cp_admin *a);

#endif
