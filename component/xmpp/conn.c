/* XEP-0114 connection on the libevent loop.
 *
 * libstrophe 0.12 traps handled here (see ../shared/design/testing.md):
 * - conn->sm_state is allocated only by xmpp_connect_client(), yet the component handshake,
 *   sending and disconnecting dereference it. A call xmpp_connect_client(conn, "", 1, ...)
 *   before the first xmpp_connect_component() allocates it and fails at once (no address).
 * - libstrophe waits with select(): its socket must stay below FD_SETSIZE even when the
 *   daemon holds thousands of HTTP sockets. A low descriptor is reserved at start; a socket
 *   created above FD_SETSIZE is moved onto it.
 * - libstrophe drops its unsent queue on disconnect: the owner resends all presence after
 *   every handshake (the `online` event). */
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "config/config.h"

#define TICK_MS 250            /* libstrophe's own timers and connect timeouts */
#define RECONNECT_BASE_MS 1000 /* first retry after about a second */
#define STOP_WAIT_MS 3000      /* how long a shutdown waits for the stream to flush */

struct cp_xmpp {
    struct event_base *base;
    xmpp_ctx_t *ctx;
    xmpp_conn_t *conn;
    char *jid;
    char *secret;
    char *host;
    int port;
    struct cp_xmpp_events events;
    void *ud;

    int fd;         /* libstrophe's socket, -1 when none */
    int reserve_fd; /* a low descriptor kept for a socket that would land >= FD_SETSIZE */
    /* One event for the socket, read always and write while output waits: libstrophe closes
     * the socket before telling us, and removing the only event of a closed descriptor is a
     * DEL that libevent tolerates, where two events would need a MOD that fails. */
    struct event *io_ev;
    bool io_write;
    struct event *tick_ev;
    struct event *retry_ev;
    struct event *stop_ev;

    struct cp_backoff backoff;
    bool ever_online;
    bool online;
    bool stopping;
    bool sm_workaround_done;
    void (*stop_done)(void *ud);
    void *stop_ud;
};

/* libstrophe's sockopt callback gets no user data; the connection being opened is this one
 * (set right before xmpp_connect_component, used only inside that call). */
static struct cp_xmpp *connecting_owner;

static void pump(struct cp_xmpp *x);
static void schedule_reconnect(struct cp_xmpp *x);
static void finish_stop(struct cp_xmpp *x);

static void
strophe_log(void *ud, xmpp_log_level_t level, const char *area, const char *msg)
{
    (void)ud;
    (void)level;
    cp_log_debug("xmpp", "libstrophe %s: %s", area, msg);
}

static const xmpp_log_t strophe_logger = {strophe_log, NULL};

static int
reserve_low_fd(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void
drop_fd_events(struct cp_xmpp *x)
{
    if (x->io_ev) {
        event_free(x->io_ev);
        x->io_ev = NULL;
    }
    x->fd = -1;
}

static void on_fd(evutil_socket_t fd, short what, void *arg);

/* Watches the socket for reads, and for writes too when WANT_WRITE. Returns 0 or -1. */
static int
watch_fd(struct cp_xmpp *x, bool want_write)
{
    if (x->io_ev && x->io_write == want_write)
        return 0;
    if (x->io_ev)
        event_del(x->io_ev);
    else if (!(x->io_ev = event_new(x->base, x->fd, 0, NULL, NULL)))
        return -1;
    short what = EV_READ | EV_PERSIST | (want_write ? EV_WRITE : 0);
    event_assign(x->io_ev, x->base, x->fd, what, on_fd, x);
    x->io_write = want_write;
    return event_add(x->io_ev, NULL);
}

static void
on_fd(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pump(arg);
}

/* Called by libstrophe right after socket(): remember the descriptor and watch it. */
static int
on_sockopt(xmpp_conn_t *conn, void *sockp)
{
    struct cp_xmpp *x = connecting_owner;
    int *sock = sockp;
    (void)conn;
    if (!x)
        return -1;

    if (*sock >= FD_SETSIZE) {
        if (x->reserve_fd < 0 || dup2(*sock, x->reserve_fd) < 0) {
            cp_log_error("xmpp",
                         "%s: socket %d is above FD_SETSIZE and no low descriptor is "
                         "free (raise nothing: lower the number of open connections)",
                         x->host, *sock);
            return -1;
        }
        close(*sock);
        *sock = x->reserve_fd;
        x->reserve_fd = -1; /* it is libstrophe's socket now; reserved again on disconnect */
    }
    drop_fd_events(x);
    x->fd = *sock;
    /* The non-blocking connect completes as writable. */
    if (watch_fd(x, true) != 0) {
        drop_fd_events(x);
        return -1;
    }
    return 0;
}

static const char *
stream_error_name(const xmpp_stream_error_t *se)
{
    if (!se)
        return NULL;
    switch (se->type) {
    case XMPP_SE_NOT_AUTHORIZED:
        return "not-authorized";
    case XMPP_SE_HOST_UNKNOWN:
        return "host-unknown";
    case XMPP_SE_CONFLICT:
        return "conflict";
    case XMPP_SE_SYSTEM_SHUTDOWN:
        return "system-shutdown";
    case XMPP_SE_POLICY_VIOLATION:
        return "policy-violation";
    default:
        return "stream error";
    }
}

static void
on_conn_event(xmpp_conn_t *conn, xmpp_conn_event_t status, int error,
              xmpp_stream_error_t *stream_error, void *ud)
{
    struct cp_xmpp *x = ud;
    (void)conn;

    if (status == XMPP_CONN_CONNECT) {
        cp_backoff_reset(&x->backoff);
        x->ever_online = true;
        x->online = true;
        cp_log_info("xmpp", "%s: connected to %s:%d as component", x->jid, x->host, x->port);
        if (x->events.online)
            x->events.online(x->ud);
        return;
    }

    /* XMPP_CONN_DISCONNECT or XMPP_CONN_FAIL: libstrophe has closed the socket. */
    bool was_online = x->online;
    x->online = false;
    drop_fd_events(x);
    if (x->reserve_fd < 0)
        x->reserve_fd = reserve_low_fd();

    if (x->stopping) {
        cp_log_info("xmpp", "%s: stream closed", x->jid);
        finish_stop(x);
        return;
    }

    const char *se = stream_error_name(stream_error);
    char reason[160];
    if (se)
        snprintf(reason, sizeof(reason), "%s%s%s", se,
                 stream_error && stream_error->text ? ": " : "",
                 stream_error && stream_error->text ? stream_error->text : "");
    else if (error)
        snprintf(reason, sizeof(reason), "%s", strerror(error));
    else if (!was_online)
        /* libstrophe reports a refused connect as a disconnect without an error number. */
        snprintf(reason, sizeof(reason), "refused, or closed before the handshake");
    else
        snprintf(reason, sizeof(reason), "closed by server");

    if (!x->ever_online && stream_error &&
        (stream_error->type == XMPP_SE_NOT_AUTHORIZED ||
         stream_error->type == XMPP_SE_HOST_UNKNOWN)) {
        char msg[512];
        /* ejabberd answers not-authorized for an unknown component name too. */
        if (stream_error->type == XMPP_SE_NOT_AUTHORIZED)
            snprintf(msg, sizeof(msg),
                     "%s:%d refused the handshake for %s (%s): check [component] secret against "
                     "the server's component secret (and, with ejabberd, [component] jid against "
                     "its ejabberd_service hosts)",
                     x->host, x->port, x->jid, reason);
        else
            snprintf(msg, sizeof(msg),
                     "%s:%d does not know component %s (%s): check [component] jid against the "
                     "server's Component definition",
                     x->host, x->port, x->jid, reason);
        if (x->events.fatal)
            x->events.fatal(x->ud, msg);
        return;
    }

    if (was_online) {
        cp_log_warn("xmpp", "%s: disconnected from %s:%d (%s)", x->jid, x->host, x->port, reason);
        if (x->events.offline)
            x->events.offline(x->ud);
    } else {
        cp_log_warn("xmpp", "%s: cannot connect to %s:%d (%s)", x->jid, x->host, x->port, reason);
    }
    schedule_reconnect(x);
}

/* Lets libstrophe do its work without blocking, then watches for writability while it has
 * output queued or a connect in progress. xmpp_run_once() writes its queue before it reads,
 * so a second call flushes what the first one queued in answer to input (the handshake, for
 * one); xmpp_conn_send_queue_len() counts only stanzas queued by us, not libstrophe's own. */
static void
pump(struct cp_xmpp *x)
{
    xmpp_run_once(x->ctx, 0);
    xmpp_run_once(x->ctx, 0);
    if (x->fd >= 0 && x->io_ev)
        watch_fd(x, xmpp_conn_is_connecting(x->conn) || xmpp_conn_send_queue_len(x->conn) > 0);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pump(arg);
}

static void
connect_now(struct cp_xmpp *x)
{
    xmpp_conn_set_jid(x->conn, x->jid);
    xmpp_conn_set_pass(x->conn, x->secret);
    if (!x->sm_workaround_done) {
        /* Allocates conn->sm_state, then fails at once for want of an address; see above. */
        xmpp_connect_client(x->conn, "", 1, on_conn_event, x);
        x->sm_workaround_done = true;
    }
    cp_log_info("xmpp", "%s: connecting to %s:%d", x->jid, x->host, x->port);
    connecting_owner = x;
    int rc = xmpp_connect_component(x->conn, x->host, (unsigned short)x->port, on_conn_event, x);
    connecting_owner = NULL;
    if (rc != XMPP_EOK) {
        drop_fd_events(x);
        cp_log_warn("xmpp", "%s: cannot connect to %s:%d (address not usable, libstrophe error %d)",
                    x->jid, x->host, x->port, rc);
        schedule_reconnect(x);
        return;
    }
    pump(x);
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cp_xmpp *x = arg;
    if (!x->stopping)
        connect_now(x);
}

static void
schedule_reconnect(struct cp_xmpp *x)
{
    unsigned ms = cp_backoff_next(&x->backoff);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    cp_log_info("xmpp", "%s: retrying %s:%d in %u.%01u s (attempt %u)", x->jid, x->host, x->port,
                ms / 1000, (ms % 1000) / 100, x->backoff.attempts);
    event_add(x->retry_ev, &tv);
}

static unsigned
reconnect_max_ms(int reconnect_max_s)
{
    return reconnect_max_s > 0 ? (unsigned)reconnect_max_s * 1000u : 60000u;
}

struct cp_xmpp *
cp_xmpp_new(struct event_base *base, const char *jid, const char *secret, const char *host,
            int port, int reconnect_max_s, const struct cp_xmpp_events *events, void *ud)
{
    struct cp_xmpp *x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->base = base;
    x->fd = -1;
    x->port = port;
    x->events = *events;
    x->ud = ud;
    x->reserve_fd = reserve_low_fd();
    x->jid = strdup(jid);
    x->secret = strdup(secret);
    x->host = strdup(host);
    xmpp_initialize();
    x->ctx = xmpp_ctx_new(NULL, cp_log_get_level() >= CP_LOG_DEBUG ? &strophe_logger : NULL);
    x->conn = x->ctx ? xmpp_conn_new(x->ctx) : NULL;
    x->tick_ev = event_new(base, -1, EV_PERSIST, on_tick, x);
    x->retry_ev = evtimer_new(base, on_retry, x);
    if (!x->jid || !x->secret || !x->host || !x->conn || !x->tick_ev || !x->retry_ev) {
        cp_xmpp_free(x);
        return NULL;
    }
    xmpp_conn_set_sockopt_callback(x->conn, on_sockopt);
    cp_backoff_init(&x->backoff, RECONNECT_BASE_MS, reconnect_max_ms(reconnect_max_s),
                    (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32));
    return x;
}

void
cp_xmpp_set_reconnect_max(struct cp_xmpp *x, int reconnect_max_s)
{
    cp_backoff_set_max(&x->backoff, reconnect_max_ms(reconnect_max_s));
}

void
cp_xmpp_free(struct cp_xmpp *x)
{
    if (!x)
        return;
    /* Releasing a live connection reports a disconnect: it must neither schedule a reconnect
     * nor find its events freed, so the connection goes first. */
    x->stopping = true;
    x->stop_done = NULL;
    if (x->conn)
        xmpp_conn_release(x->conn);
    drop_fd_events(x);
    if (x->tick_ev)
        event_free(x->tick_ev);
    if (x->retry_ev)
        event_free(x->retry_ev);
    if (x->stop_ev)
        event_free(x->stop_ev);
    if (x->ctx)
        xmpp_ctx_free(x->ctx);
    xmpp_shutdown();
    if (x->reserve_fd >= 0)
        close(x->reserve_fd);
    if (x->secret)
        explicit_bzero(x->secret, strlen(x->secret));
    free(x->secret);
    free(x->jid);
    free(x->host);
    free(x);
}

xmpp_ctx_t *
cp_xmpp_ctx(struct cp_xmpp *x)
{
    return x->ctx;
}

xmpp_conn_t *
cp_xmpp_conn(struct cp_xmpp *x)
{
    return x->conn;
}

int
cp_xmpp_start(struct cp_xmpp *x)
{
    struct timeval tick = {0, TICK_MS * 1000};
    event_add(x->tick_ev, &tick);
    connect_now(x);
    return CP_OK;
}

bool
cp_xmpp_is_online(const struct cp_xmpp *x)
{
    return x->online;
}

int
cp_xmpp_fd(const struct cp_xmpp *x)
{
    return x->fd;
}

bool
cp_xmpp_send(struct cp_xmpp *x, xmpp_stanza_t *stanza)
{
    if (!x->online)
        return false;
    xmpp_send(x->conn, stanza);
    if (x->fd >= 0 && x->io_ev)
        watch_fd(x, true);
    return true;
}

int
cp_xmpp_set_secret(struct cp_xmpp *x, const char *secret)
{
    char *copy = strdup(secret);
    if (!copy)
        return CP_ENOMEM;
    explicit_bzero(x->secret, strlen(x->secret));
    free(x->secret);
    x->secret = copy;
    return CP_OK;
}

static void
finish_stop(struct cp_xmpp *x)
{
    if (x->stop_ev)
        event_del(x->stop_ev);
    event_del(x->tick_ev);
    event_del(x->retry_ev);
    void (*done)(void *) = x->stop_done;
    x->stop_done = NULL;
    if (done)
        done(x->stop_ud);
}

/* Shutdown step: wait for the queue to drain, then close the stream, then give up waiting. */
static void
on_stop_step(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cp_xmpp *x = arg;
    finish_stop(x);
}

void
cp_xmpp_stop(struct cp_xmpp *x, void (*done)(void *ud), void *ud)
{
    x->stopping = true;
    x->stop_done = done;
    x->stop_ud = ud;
    event_del(x->retry_ev);
    if (!x->online && !xmpp_conn_is_connecting(x->conn)) {
        finish_stop(x);
        return;
    }
    /* Flush what is queued (the unavailable presences) before closing: bounded by the same
     * wait as the close itself. */
    struct timeval deadline, now;
    gettimeofday(&deadline, NULL);
    deadline.tv_sec += STOP_WAIT_MS / 1000;
    while (xmpp_conn_is_connected(x->conn) && xmpp_conn_send_queue_len(x->conn) > 0) {
        xmpp_run_once(x->ctx, 50);
        gettimeofday(&now, NULL);
        if (timercmp(&now, &deadline, >)) {
            cp_log_warn("xmpp", "%s: %d stanzas still queued at shutdown", x->jid,
                        xmpp_conn_send_queue_len(x->conn));
            break;
        }
    }
    if (!x->stop_done) /* the stream closed while flushing */
        return;
    xmpp_disconnect(x->conn);
    pump(x);
    if (!x->stop_done)
        return;
    x->stop_ev = evtimer_new(x->base, on_stop_step, x);
    struct timeval wait = {STOP_WAIT_MS / 1000, (STOP_WAIT_MS % 1000) * 1000};
    if (x->stop_ev)
        event_add(x->stop_ev, &wait);
    else
        finish_stop(x);
}
