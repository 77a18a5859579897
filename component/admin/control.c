/* The control socket: a Unix stream socket (0600, peer uid checked) on the daemon's loop, one
 * request a connection, read and answered through bufferevents with bounded lines. The
 * commands themselves are in commands.c. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/listener.h>

#include "admin_int.h"
#include "config/config.h"

static int open_socket(const char *path, char *why, size_t whylen);
static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *ud);
static void on_read(struct bufferevent *bev, void *ud);
static void on_write(struct bufferevent *bev, void *ud);
static void on_event(struct bufferevent *bev, short what, void *ud);
static void on_step(evutil_socket_t fd, short what, void *ud);
static void read_lines(struct ctl_conn *c);
static void conn_free(struct ctl_conn *c);
static void conn_drop_client(struct ctl_conn *c);

/* Removes a stale socket left by a daemon that died, but never one a running daemon answers
 * on, nor a file that is not a socket. */
static int
open_socket(const char *path, char *why, size_t whylen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;
    int fd;

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(why, whylen, "control socket %s: exists and is not a socket", path);
            return CP_EEXIST;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            close(fd);
            snprintf(why, whylen,
                     "control socket %s: another calpresence answers on it (stop it first, or "
                     "set [admin] control_socket)",
                     path);
            return CP_EEXIST;
        }
        if (fd >= 0)
            close(fd);
        unlink(path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(why, whylen, "control socket: %s", strerror(errno));
        return CP_EIO;
    }
    /* The umask makes the file 0600 from its creation: no moment where others may connect. */
    mode_t old = umask(0177);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc != 0 || chmod(path, 0600) != 0 || listen(fd, 16) != 0) {
        snprintf(why, whylen, "control socket %s: %s", path, strerror(errno));
        close(fd);
        return CP_EIO;
    }
    return fd;
}

int
cp_admin_new(struct cp_daemon *d, struct cp_admin **out, char *why, size_t whylen)
{
    struct cp_admin *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(why, whylen, "out of memory");
        return CP_ENOMEM;
    }
    a->d = d;
    a->check_pipe[0] = a->check_pipe[1] = -1;
    if (cp_config_control_socket(d->cfg, a->sock_path, sizeof(a->sock_path)) != 0) {
        snprintf(why, whylen,
                 "control socket path too long (at most 107 bytes): set [admin] "
                 "control_socket");
        free(a);
        return CP_EINVAL;
    }
    int fd = open_socket(a->sock_path, why, whylen);
    if (fd < 0) {
        a->sock_path[0] = '\0'; /* not ours: never unlink it */
        cp_admin_free(a);
        return fd;
    }
    a->listener = evconnlistener_new(d->base, on_accept, a, LEV_OPT_CLOSE_ON_FREE, -1, fd);
    if (!a->listener) {
        close(fd);
        snprintf(why, whylen, "out of memory");
        cp_admin_free(a);
        return CP_ENOMEM;
    }
    int rc = worker_init(a);
    if (rc == 0)
        rc = metrics_start(a, why, whylen);
    else
        snprintf(why, whylen, "cannot create the troubleshooter's pipe: %s", strerror(errno));
    if (rc != 0) {
        cp_admin_free(a);
        return rc;
    }
    cp_log_info("admin", "control socket %s (calpresence-ctl)", a->sock_path);
    *out = a;
    return 0;
}

void
cp_admin_free(struct cp_admin *a)
{
    if (!a)
        return;
    while (a->conns)
        conn_free(a->conns);
    if (a->listener)
        evconnlistener_free(a->listener);
    if (a->sock_path[0])
        unlink(a->sock_path);
    worker_free(a);
    metrics_free(a);
    free(a);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *ud)
{
    (void)l;
    (void)sa;
    (void)len;
    struct cp_admin *a = ud;
    struct ucred cred;
    socklen_t cl = sizeof(cred);

    /* The file mode keeps others out; the credentials also keep out a process that was given
     * the descriptor, or a socket whose mode someone widened. */
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 ||
        (cred.uid != 0 && cred.uid != geteuid())) {
        static const char refusal[] = "ERR denied only root and the daemon's own user may use "
                                      "the control socket\n";
        cp_log_warn("admin",
                    "control socket: refused uid %u (pid %d): only root and uid %u may use it",
                    (unsigned)cred.uid, (int)cred.pid, (unsigned)geteuid());
        /* One short line into an empty socket buffer: never blocks. */
        if (send(fd, refusal, sizeof(refusal) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
            cp_log_debug("admin", "control socket: refusal not sent (%s)", strerror(errno));
        close(fd);
        return;
    }
    if (a->n_conns >= CTL_MAX_CLIENTS) {
        static const char busy[] = "ERR busy too many calpresence-ctl clients at once\n";
        cp_log_warn("admin", "control socket: %d clients already: one more refused",
                    CTL_MAX_CLIENTS);
        if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
            cp_log_debug("admin", "control socket: refusal not sent (%s)", strerror(errno));
        close(fd);
        return;
    }
    struct ctl_conn *c = calloc(1, sizeof(*c));
    if (c) {
        c->a = a;
        c->uid = cred.uid;
        c->bev = bufferevent_socket_new(a->d->base, fd, BEV_OPT_CLOSE_ON_FREE);
        c->step = event_new(a->d->base, -1, 0, on_step, c);
    }
    if (!c || !c->bev || !c->step) {
        cp_log_warn("admin", "control socket: out of memory: connection dropped");
        if (c && c->bev)
            bufferevent_free(c->bev);
        else
            close(fd);
        if (c && c->step)
            event_free(c->step);
        free(c);
        return;
    }
    evutil_make_socket_nonblocking(fd);
    c->next = a->conns;
    if (c->next)
        c->next->prev = c;
    a->conns = c;
    a->n_conns++;
    /* Reading stops while this much waits to be checked, so a fast client cannot make the
     * daemon hold its whole file before the first line is looked at. */
    bufferevent_setwatermark(c->bev, EV_READ, 0, 256 * 1024);
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void
conn_free(struct ctl_conn *c)
{
    struct cp_admin *a = c->a;
    worker_forget(a, c);
    cmd_clear(c);
    if (c->bev)
        bufferevent_free(c->bev);
    event_free(c->step);
    if (c->prev)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    a->n_conns--;
    free(c);
}

/* The client hung up. A job that changed something (users told to the engine, a backup, a
 * check) finishes anyway; its reply goes nowhere. */
static void
conn_drop_client(struct ctl_conn *c)
{
    if (c->phase == PH_WORKING) {
        cp_log_info("admin", "control: %s: client left; finishing the work already started",
                    c->verb);
        bufferevent_free(c->bev);
        c->bev = NULL;
        ctl_schedule(c); /* a list stops at its next slice */
        return;
    }
    if (c->phase == PH_DATA)
        cp_log_info("admin", "control: %s: client left after %zu lines: nothing applied", c->verb,
                    c->lineno);
    conn_free(c);
}

void
ctl_reply(struct ctl_conn *c, const char *fmt, ...)
{
    if (!c->bev)
        return;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    va_list ap;
    va_start(ap, fmt);
    evbuffer_add_printf(out, "D ");
    evbuffer_add_vprintf(out, fmt, ap);
    evbuffer_add(out, "\n", 1);
    va_end(ap);
}

void
ctl_finish(struct ctl_conn *c, bool ok, const char *cls, const char *fmt, ...)
{
    c->phase = PH_CLOSING;
    c->job = JOB_NONE;
    if (!c->bev) {
        conn_free(c);
        return;
    }
    struct evbuffer *out = bufferevent_get_output(c->bev);
    va_list ap;
    va_start(ap, fmt);
    if (ok)
        evbuffer_add_printf(out, "OK ");
    else
        evbuffer_add_printf(out, "ERR %s ", cls);
    evbuffer_add_vprintf(out, fmt, ap);
    evbuffer_add(out, "\n", 1);
    va_end(ap);
    bufferevent_disable(c->bev, EV_READ);
    /* Closed by on_write once the reply is out. */
}

void
ctl_schedule(struct ctl_conn *c)
{
    event_active(c->step, 0, 0);
}

bool
ctl_output_full(const struct ctl_conn *c)
{
    return c->bev && evbuffer_get_length(bufferevent_get_output(c->bev)) > CTL_OUT_HIGH;
}

/* At most CTL_LINES_PER_TURN lines a turn; the rest waits for the step event. */
static void
read_lines(struct ctl_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    for (int i = 0; i < CTL_LINES_PER_TURN && (c->phase == PH_COMMAND || c->phase == PH_DATA);
         i++) {
        size_t len;
        char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
        if (!line) {
            if (evbuffer_get_length(in) > CTL_MAX_LINE)
                ctl_finish(c, false, "input", "line %zu is longer than %d bytes: nothing applied",
                           c->lineno + (c->phase == PH_DATA), CTL_MAX_LINE);
            return;
        }
        c->bytes += len + 1;
        if (len > CTL_MAX_LINE) {
            ctl_finish(c, false, "input", "line %zu is longer than %d bytes: nothing applied",
                       c->lineno + (c->phase == PH_DATA), CTL_MAX_LINE);
        } else if (c->bytes > CTL_MAX_REQUEST) {
            ctl_finish(c, false, "input", "request larger than %d MiB: nothing applied",
                       CTL_MAX_REQUEST / (1024 * 1024));
        } else if (c->phase == PH_COMMAND) {
            if (len > 0 && line[len - 1] == '\r')
                line[len - 1] = '\0';
            cmd_dispatch(c, line);
        } else if (strcmp(line, ".") == 0 || strcmp(line, ".\r") == 0) {
            cmd_data_end(c);
        } else {
            c->lineno++;
            /* Dot-stuffing: a data line starting with "." was sent with one more. */
            cmd_data_line(c, line[0] == '.' ? line + 1 : line);
        }
        free(line);
    }
    if ((c->phase == PH_COMMAND || c->phase == PH_DATA) && evbuffer_get_length(in) > 0)
        ctl_schedule(c);
}

static void
on_read(struct bufferevent *bev, void *ud)
{
    (void)bev;
    struct ctl_conn *c = ud;
    if (c->phase == PH_COMMAND || c->phase == PH_DATA)
        read_lines(c);
}

static void
on_write(struct bufferevent *bev, void *ud)
{
    struct ctl_conn *c = ud;
    if (c->phase == PH_CLOSING && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        conn_free(c);
    else if (c->job == JOB_LIST)
        ctl_schedule(c); /* the reader caught up: next page */
}

static void
on_event(struct bufferevent *bev, short what, void *ud)
{
    (void)bev;
    struct ctl_conn *c = ud;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if (c->phase == PH_CLOSING)
            conn_free(c);
        else
            conn_drop_client(c);
    }
}

static void
on_step(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    struct ctl_conn *c = ud;
    if (c->phase == PH_WORKING)
        cmd_step(c);
    else if ((c->phase == PH_COMMAND || c->phase == PH_DATA) && c->bev)
        read_lines(c);
}
