/* XEP-0114 connection on the libevent loop.
 *
 * libstrophe never touches the server's socket: the stanza guard (guard.h) owns it and hands
 * libstrophe one end of a socketpair. libstrophe 0.12 has no way to adopt a connected
 * descriptor, so it still makes the TCP connection itself; the sockopt callback, run between
 * its socket() and connect(), takes that socket for the guard and gives libstrophe a duplicate
 * on a low reserved number, and once xmpp_connect_component() returns, the socketpair end is
 * dup3()ed onto that number. See docs/design.md, "The stanza guard".
 *
 * libstrophe 0.12 traps handled here (see ../shared/design/testing.md):
 * - conn->sm_state is allocated only by xmpp_connect_client(), yet the component handshake,
 *   sending and disconnecting dereference it. A call xmpp_connect_client(conn, "", 1, ...)
 *   before the first xmpp_connect_component() allocates it and fails at once (no address).
 * - libstrophe waits with select(): its descriptor must stay below FD_SETSIZE even when the
 *   daemon holds thousands of HTTP sockets. A low descriptor is reserved at start, and again
 *   each time libstrophe closes its own; libstrophe's descriptor is always that number.
 * - libstrophe drops its unsent queue on disconnect: the owner resends all presence after
 *   every handshake (the `online` event).
 * - libstrophe logs the handshake digest at debug level: the bridge to our log cuts it. */
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "config/config.h"
#include "guard.h"
#include "iqwait.h"
#include "stanza.h"

#define TICK_MS 250             /* libstrophe's own timers and connect timeouts */
#define RECONNECT_BASE_MS 1000  /* first retry after about a second */
#define STOP_WAIT_MS 3000       /* how long a shutdown waits for the stream to flush */
#define STOP_POLL_MS 50         /* how often a shutdown looks whether the queue is flushed */
#define CONNECT_TIMEOUT_MS 5000 /* the TCP connect, as libstrophe's own default */
#define STANZAS_NS "urn:ietf:params:xml:ns:xmpp-stanzas"

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

    int fd;                 /* libstrophe's descriptor (its socketpair end), -1 when none */
    int reserve_fd;         /* a low descriptor kept for libstrophe's next one, -1 when none */
    int server_fd;          /* the TCP socket between libstrophe's connect and the guard, else -1 */
    struct cp_guard *guard; /* relays the current stream, NULL when none */
    struct cp_iqwait *waits; /* answers awaited by the component's own IQs */
    unsigned long dropped;   /* stanzas the guard dropped since start */
    struct cp_xmpp_stats stats;
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
    bool stop_closing; /* the closing tag is sent: only the server's answer is awaited */
    struct timeval stop_deadline;
    void (*stop_done)(void *ud);
    void *stop_ud;
};

/* libstrophe's sockopt callback gets no user data; the connection being opened is this one
 * (set right before xmpp_connect_component, used only inside that call). */
static struct cp_xmpp *connecting_owner;

static void pump(struct cp_xmpp *x);
static void schedule_reconnect(struct cp_xmpp *x);
static void finish_stop(struct cp_xmpp *x);

/* libstrophe logs the XEP-0114 handshake digest twice at debug level ("Digest: ..." and the
 * sent <handshake/>): with the stream id from the same log it allows an offline dictionary
 * attack on the secret, so its content is cut like a password. */
static void
strophe_log(void *ud, xmpp_log_level_t level, const char *area, const char *msg)
{
    (void)ud;
    (void)level;
    const char *hs = strstr(msg, "<handshake");
    const char *open_end = hs ? strchr(hs, '>') : NULL;
    if (strncmp(msg, "Digest:", 7) == 0) {
        cp_log_debug("xmpp", "libstrophe %s: Digest: ...cut...", area);
    } else if (open_end && open_end[-1] != '/') {
        const char *close = strstr(open_end, "</handshake>");
        cp_log_debug("xmpp", "libstrophe %s: %.*s...cut...%s", area, (int)(open_end + 1 - msg), msg,
                     close ? close : "");
    } else {
        cp_log_debug("xmpp", "libstrophe %s: %s", area, msg);
    }
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

/* Called by libstrophe between socket() and connect(): the socket becomes the guard's (once
 * the connect has started), and libstrophe connects a duplicate on the reserved low number,
 * which later becomes its socketpair end. For a host with several addresses this runs once an
 * address, libstrophe closing its duplicate of each one that fails at once. */
static int
on_sockopt(xmpp_conn_t *conn, void *sockp)
{
    struct cp_xmpp *x = connecting_owner;
    int *sock = sockp;
    (void)conn;
    if (!x)
        return -1;

    if (x->reserve_fd < 0)
        x->reserve_fd = reserve_low_fd();
    if (x->reserve_fd < 0 || x->reserve_fd >= FD_SETSIZE) {
        cp_log_error("xmpp",
                     "%s: no descriptor below FD_SETSIZE is free for libstrophe (lower the "
                     "number of open connections)",
                     x->host);
        return -1;
    }
    /* The guard relays each batch libstrophe writes as it comes; with Nagle, a batch written
     * while the previous one is unacknowledged waits for the server's delayed ACK (40 ms on
     * Linux), which capped privileged roster sets at about 65 a second (tests/bench/
     * bench_roster.py). Without it the stream is only a little chattier. */
    int one = 1;
    if (setsockopt(*sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
        cp_log_debug("xmpp", "%s: TCP_NODELAY not set (%s)", x->host, strerror(errno));
    if (dup3(*sock, x->reserve_fd, O_CLOEXEC) < 0) {
        cp_log_error("xmpp", "%s: cannot duplicate the XMPP socket (%s)", x->host, strerror(errno));
        return -1;
    }
    if (x->server_fd >= 0)
        close(x->server_fd); /* an earlier address whose connect failed at once */
    x->server_fd = *sock;
    *sock = x->reserve_fd;
    x->reserve_fd = -1; /* libstrophe's now; reserved again when libstrophe closes it */
    drop_fd_events(x);
    x->fd = *sock;
    return 0;
}

static void on_guard_dropped(void *ud, const struct cp_scan_stanza *st);
static const struct cp_guard_events guard_events = {on_guard_dropped};

/* libstrophe's connect has started: put the guard between it and the server. On failure
 * libstrophe's descriptor is shut down, so that it reports a disconnect and we retry: it never
 * talks to the server unguarded. */
static void
start_guard(struct cp_xmpp *x)
{
    static const struct cp_scan_limits limits = {CP_GUARD_MAX_NODES, CP_GUARD_MAX_BYTES};
    int pair[2] = {-1, -1};

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) == 0 &&
        dup3(pair[0], x->fd, O_CLOEXEC) >= 0 &&
        (x->guard = cp_guard_new(x->base, x->server_fd, pair[1], &limits, CONNECT_TIMEOUT_MS,
                                 &guard_events, x)) != NULL) {
        close(pair[0]);
        x->server_fd = -1;
    } else {
        cp_log_error("xmpp", "%s: cannot set up the stanza guard (%s): retrying", x->host,
                     strerror(errno));
        shutdown(x->fd, SHUT_RDWR);
        close(x->server_fd);
        x->server_fd = -1;
        if (pair[0] >= 0) {
            close(pair[0]);
            close(pair[1]);
        }
    }
    /* libstrophe thinks it is connecting: it writes its stream header once writable. */
    watch_fd(x, true);
}

/* For the log: a value from the wire, unless it holds control bytes that would forge a line. */
static const char *
loggable(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return "(unprintable)";
    return s;
}

/* Answers the sender of a dropped stanza with a stanza error. Returns NULL when answered, or
 * why not (for the log). */
static const char *
answer_dropped(struct cp_xmpp *x, const struct cp_scan_stanza *st, const char *name,
               const char *from, const char *to, const char *id)
{
    bool iq = strcmp(name, "iq") == 0;
    if (!iq && strcmp(name, "message") != 0 && strcmp(name, "presence") != 0)
        return "not a stanza";
    if (st->has_type && strcmp(st->type, "error") == 0)
        return "an error is never answered";
    if (iq && (!st->has_type || (strcmp(st->type, "get") != 0 && strcmp(st->type, "set") != 0)))
        return "an IQ result is never answered";
    if (!st->has_from || st->truncated || !from[0])
        return "no usable sender address";
    if (!x->online)
        return "offline";

    char text[160];
    snprintf(text, sizeof(text),
             "Stanza too large for this service: %zu elements and text pieces (at most %d), "
             "%zu bytes (at most %d).",
             st->nodes, CP_GUARD_MAX_NODES, st->bytes, CP_GUARD_MAX_BYTES);
    xmpp_stanza_t *r = xmpp_stanza_new(x->ctx);
    xmpp_stanza_t *e = NULL, *t = NULL;
    if (r && xmpp_stanza_set_name(r, name) == XMPP_EOK &&
        xmpp_stanza_set_type(r, "error") == XMPP_EOK && xmpp_stanza_set_to(r, from) == XMPP_EOK &&
        xmpp_stanza_set_from(r, st->has_to && to[0] ? to : x->jid) == XMPP_EOK &&
        (!st->has_id || xmpp_stanza_set_id(r, id) == XMPP_EOK) &&
        (e = cp_stanza_add(r, "error", NULL)) != NULL &&
        xmpp_stanza_set_type(e, "modify") == XMPP_EOK &&
        cp_stanza_add(e, "policy-violation", STANZAS_NS) != NULL &&
        (t = cp_stanza_add(e, "text", STANZAS_NS)) != NULL &&
        cp_stanza_append_text(t, text) == CP_OK) {
        cp_xmpp_send(x, r);
        xmpp_stanza_release(r);
        return NULL;
    }
    if (r)
        xmpp_stanza_release(r);
    return "out of memory";
}

/* The guard dropped a stanza over its bounds: count it, answer its sender with
 * policy-violation (a client waiting for an IQ result is not left hanging), one log line. */
static void
on_guard_dropped(void *ud, const struct cp_scan_stanza *st)
{
    struct cp_xmpp *x = ud;
    char from[CP_SCAN_JID_MAX], to[CP_SCAN_JID_MAX], id[CP_SCAN_ID_MAX];
    const char *colon = strchr(st->name, ':');
    const char *name = colon ? colon + 1 : st->name; /* a prefixed stanza, rare but legal */

    x->dropped++;
    if (cp_scan_unescape(st->from, from, sizeof(from)) != 0)
        from[0] = '\0';
    if (cp_scan_unescape(st->to, to, sizeof(to)) != 0)
        to[0] = '\0';
    if (cp_scan_unescape(st->id, id, sizeof(id)) != 0)
        id[0] = '\0';
    const char *not_answered = answer_dropped(x, st, name, from, to, id);
    cp_log_warn("xmpp",
                "%s: <%s/> dropped unparsed: %zu elements and text pieces, %zu bytes (at most "
                "%d and %d, see docs/design.md, \"The stanza guard\"); %s%s (%lu dropped since "
                "start)",
                from[0] ? loggable(from) : "(no sender)", loggable(name), st->nodes, st->bytes,
                CP_GUARD_MAX_NODES, CP_GUARD_MAX_BYTES,
                not_answered ? "not answered: " : "answered policy-violation",
                not_answered ? not_answered : "", x->dropped);
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
        x->stats.handshakes++;
        cp_log_info("xmpp", "%s: connected to %s:%d as component", x->jid, x->host, x->port);
        if (x->events.online)
            x->events.online(x->ud);
        return;
    }

    /* XMPP_CONN_DISCONNECT or XMPP_CONN_FAIL: libstrophe has closed its descriptor; the low
     * number it frees is reserved again at once, before another socket can take it. */
    bool was_online = x->online;
    x->online = false;
    drop_fd_events(x);
    if (x->reserve_fd < 0)
        x->reserve_fd = reserve_low_fd();
    /* The guard saw the real socket: its reason beats libstrophe's view of a socketpair. */
    char guard_reason[128] = "";
    if (x->guard && cp_guard_reason(x->guard))
        snprintf(guard_reason, sizeof(guard_reason), "%s", cp_guard_reason(x->guard));
    cp_guard_free(x->guard);
    x->guard = NULL;

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
    else if (guard_reason[0])
        snprintf(reason, sizeof(reason), "%s", guard_reason);
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
        /* libstrophe closed its descriptors; the last socket it made is still ours. */
        drop_fd_events(x);
        if (x->server_fd >= 0)
            close(x->server_fd);
        x->server_fd = -1;
        if (x->reserve_fd < 0)
            x->reserve_fd = reserve_low_fd();
        cp_log_warn("xmpp", "%s: cannot connect to %s:%d (address not usable, libstrophe error %d)",
                    x->jid, x->host, x->port, rc);
        schedule_reconnect(x);
        return;
    }
    start_guard(x);
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
    x->server_fd = -1;
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
    x->waits = x->conn ? cp_iqwait_new(x->conn) : NULL;
    x->tick_ev = event_new(base, -1, EV_PERSIST, on_tick, x);
    x->retry_ev = evtimer_new(base, on_retry, x);
    if (!x->jid || !x->secret || !x->host || !x->waits || !x->tick_ev || !x->retry_ev) {
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
    cp_iqwait_free(x->waits);
    drop_fd_events(x);
    cp_guard_free(x->guard);
    if (x->server_fd >= 0)
        close(x->server_fd);
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

void
cp_xmpp_get_stats(const struct cp_xmpp *x, struct cp_xmpp_stats *out)
{
    *out = x->stats;
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

unsigned long
cp_xmpp_dropped(const struct cp_xmpp *x)
{
    return x->dropped;
}

bool
cp_xmpp_send(struct cp_xmpp *x, xmpp_stanza_t *stanza)
{
    if (!x->online)
        return false;
    xmpp_send(x->conn, stanza);
    x->stats.sent++;
    if (strcmp(xmpp_stanza_get_name(stanza), "presence") == 0)
        x->stats.presences_sent++;
    if (x->fd >= 0 && x->io_ev)
        watch_fd(x, true);
    return true;
}

int
cp_xmpp_iq_wait(struct cp_xmpp *x, const char *id, xmpp_handler cb, void *ud)
{
    return cp_iqwait_add(x->waits, id, cb, ud);
}

void
cp_xmpp_iq_cancel(struct cp_xmpp *x, xmpp_handler cb, const char *id)
{
    cp_iqwait_cancel(x->waits, cb, id);
}

size_t
cp_xmpp_iq_waits(const struct cp_xmpp *x)
{
    return cp_iqwait_count(x->waits);
}

bool
cp_xmpp_send_raw(struct cp_xmpp *x, const char *xml, size_t len)
{
    if (!x->online)
        return false;
    xmpp_send_raw(x->conn, xml, len);
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

static bool
past(const struct timeval *deadline)
{
    struct timeval now;
    gettimeofday(&now, NULL);
    return timercmp(&now, deadline, >);
}

/* Shutdown, one step a timer tick, while the loop keeps relaying through the guard: wait for
 * the queue (the unavailable presences) to flush, then close the stream and wait for the
 * server's answer, each bounded by STOP_WAIT_MS. */
static void
on_stop_step(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cp_xmpp *x = arg;
    struct timeval poll = {0, STOP_POLL_MS * 1000};

    if (!x->stop_done)
        return;
    if (x->stop_closing) {
        finish_stop(x); /* the server did not answer the closing tag in time */
        return;
    }
    if (xmpp_conn_is_connected(x->conn) && xmpp_conn_send_queue_len(x->conn) > 0) {
        if (!past(&x->stop_deadline)) {
            event_add(x->stop_ev, &poll);
            return;
        }
        cp_log_warn("xmpp", "%s: %d stanzas still queued at shutdown", x->jid,
                    xmpp_conn_send_queue_len(x->conn));
    }
    x->stop_closing = true;
    xmpp_disconnect(x->conn);
    pump(x);
    if (!x->stop_done) /* closed at once */
        return;
    struct timeval wait = {STOP_WAIT_MS / 1000, (STOP_WAIT_MS % 1000) * 1000};
    event_add(x->stop_ev, &wait);
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
    x->stop_ev = evtimer_new(x->base, on_stop_step, x);
    if (!x->stop_ev) {
        finish_stop(x);
        return;
    }
    gettimeofday(&x->stop_deadline, NULL);
    x->stop_deadline.tv_sec += STOP_WAIT_MS / 1000;
    pump(x);
    struct timeval now = {0, 0};
    event_add(x->stop_ev, &now);
}
