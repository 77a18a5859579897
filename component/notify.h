/* systemd's service notification protocol (sd_notify(3)), spoken directly: one datagram of
 * `KEY=VALUE` lines to the Unix socket named by NOTIFY_SOCKET. Written here rather than linked
 * from libsystemd because the protocol is a documented, stable datagram and one more library
 * (with its own dependencies) in a daemon that runs exposed to the network buys nothing.
 * Outside systemd (no NOTIFY_SOCKET) every call does nothing, so the daemon runs as before. */
#ifndef CP_NOTIFY_H
#define CP_NOTIFY_H

#include <stdint.h>

struct cp_notify;

/* Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the environment. Returns a handle the
 * caller frees with cp_notify_free, or NULL when there is no supervisor to tell (or the socket
 * cannot be created, which is logged): the other calls accept NULL and then do nothing. */
struct cp_notify *cp_notify_new(void);
void cp_notify_free(struct cp_notify *n);

/* Sends one message, printf-style, e.g. "READY=1\nSTATUS=connected". Returns 0, or CP_EIO when
 * the datagram could not be sent (logged at debug: the supervisor may be gone, which must not
 * stop the daemon). */
int cp_notify_send(struct cp_notify *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The interval at which WATCHDOG=1 must be sent, in microseconds: half of WATCHDOG_USEC, as
 * sd_watchdog_enabled(3) advises; 0 when the watchdog is off or meant for another process. */
uint64_t cp_notify_watchdog_interval(const struct cp_notify *n);

#endif
