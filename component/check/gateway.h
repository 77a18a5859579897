/* The gateway-status ad-hoc command's troubleshooter, off the event loop.
 *
 * The troubleshooter (check.h) blocks for up to a few times `timeout` per server, which would
 * freeze every user's presence. It runs in a worker thread instead, on a configuration it
 * loads itself (the daemon's may be replaced by a reload meanwhile). When it is done, a
 * descriptor becomes readable; the daemon watches it on its loop and answers the command then,
 * with this run's report rather than an older one. */
#ifndef CP_GATEWAY_H
#define CP_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>

struct cp_gateway;

/* Returns NULL on allocation failure (or when no pipe can be made). CONFIG_PATH is copied. */
struct cp_gateway *cp_gateway_new(const char *config_path);

/* Waits for a running check to end, then frees everything. */
void cp_gateway_free(struct cp_gateway *g);

/* The descriptor that becomes readable when a check has finished (then cp_gateway_collect). */
int cp_gateway_fd(const struct cp_gateway *g);

/* Starts the troubleshooter for every configured server, testing the impersonation of MAILBOX
 * (NULL: none; copied). Returns 0, CP_EEXIST when a check is still running (one at a time:
 * each opens connections to every server), or CP_EIO/CP_ENOMEM when it cannot start (logged). */
int cp_gateway_start(struct cp_gateway *g, const char *mailbox);

/* After cp_gateway_fd became readable: the finished check's report (caller frees), *MAILBOX the
 * mailbox it tested (caller frees; NULL for none) and *FAILED whether a step failed. Returns
 * NULL when no check has finished (a spurious wake-up) or on ENOMEM (logged). */
char *cp_gateway_collect(struct cp_gateway *g, char **mailbox, bool *failed);

#endif
