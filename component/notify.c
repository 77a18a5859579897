/* The sd_notify datagram protocol (notify.h), after sd_notify(3) and systemd's
 * NOTIFY_SOCKET documentation: a path name, or an abstract socket written with a leading '@'. */
#include "notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config/config.h"

/* A STATUS= line with a JID and a host fits many times over. */
#define NOTIFY_MAX 1024

struct cp_notify {
    int fd;
    struct sockaddr_un addr;
    socklen_t addrlen;
    uint64_t watchdog_usec; /* from WATCHDOG_USEC; 0 when off */
};

static int parse_address(const char *name, struct sockaddr_un *addr, socklen_t *len);
static uint64_t watchdog_from_env(void);

/* Fills ADDR from NOTIFY_SOCKET's value. Returns 0, or CP_EINVAL for a name that is not a
 * Unix socket (systemd also allows vsock: not for us) or does not fit sun_path. */
static int
parse_address(const char *name, struct sockaddr_un *addr, socklen_t *len)
{
    size_t n = strlen(name);

    if ((name[0] != '/' && name[0] != '@') || n < 2 || n >= sizeof(addr->sun_path))
        return CP_EINVAL;
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    memcpy(addr->sun_path, name, n);
    if (name[0] == '@')
        addr->sun_path[0] = '\0';
    /* An abstract name is exactly its bytes, no terminating NUL counted. */
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] == '/'));
    return CP_OK;
}

/* WATCHDOG_USEC applies to this process only when WATCHDOG_PID is unset or names it. */
static uint64_t
watchdog_from_env(void)
{
    const char *usec = getenv("WATCHDOG_USEC");
    const char *pid = getenv("WATCHDOG_PID");
    char *end;

    if (usec == NULL)
        return 0;
    if (pid != NULL && strtol(pid, &end, 10) != (long)getpid())
        return 0;
    errno = 0;
    unsigned long long v = strtoull(usec, &end, 10);
    if (errno != 0 || *end != '\0' || end == usec) {
        cp_log_warn("main", "WATCHDOG_USEC=%s is not a number: watchdog off", usec);
        return 0;
    }
    return v;
}

/* The handle is the caller's (cp_notify_free). */
struct cp_notify *
cp_notify_new(void)
{
    const char *name = getenv("NOTIFY_SOCKET");
    struct cp_notify *n;

    if (name == NULL || name[0] == '\0')
        return NULL;
    n = calloc(1, sizeof(*n));
    if (n == NULL) {
        cp_log_error("main", "out of memory: systemd will not be told of readiness");
        return NULL;
    }
    if (parse_address(name, &n->addr, &n->addrlen) != 0) {
        cp_log_warn("main", "NOTIFY_SOCKET=%s is not a Unix socket name: systemd not notified",
                    name);
        free(n);
        return NULL;
    }
    /* Non-blocking: a supervisor that stopped reading must never stall the loop. */
    n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (n->fd < 0) {
        cp_log_error("main", "cannot create the systemd notification socket (%s)", strerror(errno));
        free(n);
        return NULL;
    }
    n->watchdog_usec = watchdog_from_env();
    return n;
}

void
cp_notify_free(struct cp_notify *n)
{
    if (n == NULL)
        return;
    close(n->fd);
    free(n);
}

int
cp_notify_send(struct cp_notify *n, const char *fmt, ...)
{
    char msg[NOTIFY_MAX];
    va_list ap;

    if (n == NULL)
        return CP_OK;
    va_start(ap, fmt);
    int len = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (len < 0)
        return CP_EINVAL;
    if ((size_t)len >= sizeof(msg))
        len = (int)sizeof(msg) - 1;
    if (sendto(n->fd, msg, (size_t)len, MSG_NOSIGNAL, (struct sockaddr *)&n->addr, n->addrlen) <
        0) {
        cp_log_debug("main", "systemd notification not sent (%s)", strerror(errno));
        return CP_EIO;
    }
    return CP_OK;
}

uint64_t
cp_notify_watchdog_interval(const struct cp_notify *n)
{
    return n ? n->watchdog_usec / 2 : 0;
}
