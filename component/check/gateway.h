/* The gateway-status and certs-import ad-hoc commands without blocking the event loop.
 *
 * The troubleshooter (check.h) blocks for up to a few times `timeout` per server, which would
 * freeze every user's presence. It runs in a worker thread instead, on a configuration it
 * loads itself (the daemon's may be replaced by a reload meanwhile); the command answers
 * with the last finished report and starts a fresh one. */
#ifndef CP_GATEWAY_H
#define CP_GATEWAY_H

#include <stddef.h>

struct cp_gateway;

/* Returns NULL on allocation failure. CONFIG_PATH is copied. */
struct cp_gateway *cp_gateway_new(const char *config_path);

/* Waits for a running check to end, then frees everything. */
void cp_gateway_free(struct cp_gateway *g);

/* The text for one gateway-status call: the last report with its age, and whether a new
 * check was started. Returns a malloc'd string (caller frees) or NULL on ENOMEM. */
char *cp_gateway_status(struct cp_gateway *g);

#endif
