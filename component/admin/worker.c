/* `check [MAILBOX]` runs the troubleshooter, which blocks for up to a few times `timeout` per
 * Exchange server, in a worker thread (as gateway-status does, docs/design.md "Threads"). The
 * thread loads its own copy of the configuration and shares nothing with the loop but the
 * report it leaves here; a pipe wakes the loop when it is done, and the client that asked gets
 * the whole report then. One check at a time. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin_int.h"
#include "check/check.h"
#include "config/config.h"

static void *run_check(void *arg);
static void on_done(evutil_socket_t fd, short what, void *ud);

int
worker_init(struct cp_admin *a)
{
    if (pipe2(a->check_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return CP_EIO;
    a->check_ev = event_new(a->d->base, a->check_pipe[0], EV_READ | EV_PERSIST, on_done, a);
    if (!a->check_ev || event_add(a->check_ev, NULL) != 0)
        return CP_ENOMEM;
    return 0;
}

/* The worker's only shared writes are check_report and check_failed, read by the loop after
 * the byte on the pipe (and the join) order them. */
static void *
run_check(void *arg)
{
    struct cp_admin *a = arg;
    char err[512];
    struct cp_config *cfg = NULL;
    char *report = NULL;
    bool failed = true;

    if (cp_config_load(a->check_path, &cfg, err, sizeof(err)) != 0) {
        if (asprintf(&report, "configuration cannot be read: %s\n", err) < 0)
            report = NULL;
    } else {
        report = cp_check_report(cfg, a->check_mailbox, false, &failed);
        cp_config_free(cfg);
    }
    a->check_report = report;
    a->check_failed = failed;
    char byte = 1;
    while (write(a->check_pipe[1], &byte, 1) < 0 && errno == EINTR)
        ;
    return NULL;
}

int
worker_start(struct cp_admin *a, struct ctl_conn *c, const char *mailbox)
{
    if (a->worker_running)
        return CP_EFULL;
    free(a->check_mailbox);
    a->check_mailbox = mailbox ? strdup(mailbox) : NULL;
    if (mailbox && !a->check_mailbox)
        return CP_ENOMEM;
    /* The thread's own copy: a reload frees d->cfg while it runs. */
    free(a->check_path);
    a->check_path = strdup(a->d->cfg->path);
    if (!a->check_path)
        return CP_ENOMEM;
    if (pthread_create(&a->worker, NULL, run_check, a) != 0)
        return CP_EIO;
    a->worker_running = true;
    a->check_conn = c;
    cp_log_info("admin", "control: check%s%s: troubleshooter started", mailbox ? " " : "",
                mailbox ? mailbox : "");
    return 0;
}

static void
on_done(evutil_socket_t fd, short what, void *ud)
{
    (void)what;
    struct cp_admin *a = ud;
    char byte;
    if (read(fd, &byte, 1) != 1 || !a->worker_running)
        return;
    pthread_join(a->worker, NULL);
    a->worker_running = false;
    cp_log_info("admin", "control: check: troubleshooter finished (%s)",
                a->check_failed ? "problems found" : "all servers pass");
    struct ctl_conn *c = a->check_conn;
    a->check_conn = NULL;
    char *report = a->check_report;
    a->check_report = NULL;
    if (c) {
        for (char *l = report, *nl; l && *l; l = nl + 1) {
            nl = strchr(l, '\n');
            if (!nl) {
                ctl_reply(c, "%s", l);
                break;
            }
            ctl_reply(c, "%.*s", (int)(nl - l), l);
        }
        if (!report)
            ctl_finish(c, false, "failed", "out of memory");
        else if (a->check_failed)
            ctl_finish(c, false, "failed", "problems found");
        else
            ctl_finish(c, true, NULL, "all servers pass");
    }
    free(report);
}

void
worker_forget(struct cp_admin *a, struct ctl_conn *c)
{
    if (a->check_conn == c)
        a->check_conn = NULL;
}

void
worker_free(struct cp_admin *a)
{
    if (a->worker_running)
        pthread_join(a->worker, NULL);
    free(a->check_report);
    free(a->check_mailbox);
    free(a->check_path);
    if (a->check_ev)
        event_free(a->check_ev);
    for (int i = 0; i < 2; i++)
        if (a->check_pipe[i] >= 0)
            close(a->check_pipe[i]);
}
