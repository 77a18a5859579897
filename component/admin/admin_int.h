/* Private to admin/: the control socket (control.c), its commands (commands.c), the
 * troubleshooter's worker (worker.c) and the HTTP endpoint (metrics.c). */
#ifndef CP_ADMIN_INT_H
#define CP_ADMIN_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "adhoc/adhoc.h"
#include "admin.h"
#include "daemon.h"

/* The line protocol's bounds (docs/operations.md, "Scripting with calpresence-ctl"). */
#define CTL_MAX_LINE 4096                  /* bytes of one line, its line break excluded */
#define CTL_MAX_REQUEST (64 * 1024 * 1024) /* bytes of one request with its data lines */
#define CTL_LINES_PER_TURN 2000            /* data lines checked per loop turn */
#define CTL_USERS_PER_TURN 1000            /* users handed to the engine per loop turn */
#define CTL_ROWS_PER_TURN 500              /* users-list rows per loop turn */
#define CTL_PAGES_PER_TURN 256             /* backup pages (4 KiB each) per loop turn */
#define CTL_OUT_HIGH (512 * 1024)          /* reply bytes buffered before a list waits */
#define CTL_MAX_CLIENTS 16

enum ctl_phase {
    PH_COMMAND, /* reading the request line */
    PH_DATA,    /* reading the data lines of users-enable / users-disable, up to "." */
    PH_WORKING, /* a job runs over several loop turns; input is no longer read */
    PH_CLOSING, /* the final line is queued; closed once written */
};

enum ctl_job { JOB_NONE, JOB_TELL, JOB_LIST, JOB_BACKUP, JOB_CHECK };

struct ctl_conn {
    struct cp_admin *a;
    struct bufferevent *bev; /* NULL once the client is gone (a job may still run) */
    struct event *step;      /* the next slice of a job, or of the input, next loop turn */
    enum ctl_phase phase;
    enum ctl_job job;
    char verb[32];
    unsigned uid; /* the peer, for the log */
    size_t lineno, bytes;
    struct cp_users_batch batch;
    bool enable;
    size_t told, missing;
    char *filter, *after; /* users-list, owned */
    struct cp_store_backup *backup;
    char *backup_path; /* owned */
    struct ctl_conn *next, *prev;
};

struct cp_admin {
    struct cp_daemon *d;
    struct evconnlistener *listener;
    char sock_path[108];
    struct ctl_conn *conns;
    size_t n_conns;
    /* The troubleshooter runs in one worker thread at a time (it blocks). */
    pthread_t worker;
    bool worker_running;
    struct ctl_conn *check_conn; /* who waits for it; NULL when that client left */
    char *check_mailbox, *check_path, *check_report;
    bool check_failed;
    int check_pipe[2];
    struct event *check_ev;
    /* metrics.c */
    struct evhttp *http;
};

/* control.c */
void ctl_reply(struct ctl_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ctl_finish(struct ctl_conn *c, bool ok, const char *cls, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void ctl_schedule(struct ctl_conn *c);
bool ctl_output_full(const struct ctl_conn *c);

/* commands.c */
void cmd_dispatch(struct ctl_conn *c, char *line);
void cmd_data_line(struct ctl_conn *c, char *line);
void cmd_data_end(struct ctl_conn *c);
void cmd_step(struct ctl_conn *c);
void cmd_clear(struct ctl_conn *c);

/* worker.c */
int worker_init(struct cp_admin *a);
int worker_start(struct cp_admin *a, struct ctl_conn *c, const char *mailbox);
void worker_forget(struct cp_admin *a, struct ctl_conn *c);
void worker_free(struct cp_admin *a);

/* metrics.c */
int metrics_start(struct cp_admin *a, char *why, size_t whylen);
void metrics_free(struct cp_admin *a);

#endif
