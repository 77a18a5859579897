#include "gateway.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "config/config.h"

struct cp_gateway {
    char *config_path;
    int pipe[2]; /* the worker writes one byte to [1] when done; the loop watches [0] */
    pthread_t worker;
    bool running; /* a worker exists and has not been collected */
    /* Written by the worker before its byte, read by the loop after it: the pipe orders them. */
    char *mailbox; /* what this run impersonates, owned; NULL for none */
    char *report;  /* the finished report, owned */
    bool failed;
};

static void *run_check(void *arg);

static void *
run_check(void *arg)
{
    struct cp_gateway *g = arg;
    char err[512];
    struct cp_config *cfg = NULL;
    char *report = NULL;
    bool failed = true;
    if (cp_config_load(g->config_path, &cfg, err, sizeof(err)) != 0) {
        size_t len = strlen(err) + 64;
        report = malloc(len);
        if (report)
            snprintf(report, len, "configuration cannot be read: %s\n", err);
    } else {
        report = cp_check_report(cfg, g->mailbox, false, &failed);
        cp_config_free(cfg);
    }
    g->report = report;
    g->failed = failed;
    cp_log_info("check", "gateway-status: troubleshooter finished (%s)",
                failed ? "problems found" : "all servers pass");
    ssize_t n;
    do
        n = write(g->pipe[1], "x", 1);
    while (n < 0 && errno == EINTR);
    return NULL;
}

struct cp_gateway *
cp_gateway_new(const char *config_path)
{
    struct cp_gateway *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->config_path = strdup(config_path);
    if (!g->config_path || pipe2(g->pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        free(g->config_path);
        free(g);
        return NULL;
    }
    return g;
}

void
cp_gateway_free(struct cp_gateway *g)
{
    if (!g)
        return;
    if (g->running)
        pthread_join(g->worker, NULL);
    close(g->pipe[0]);
    close(g->pipe[1]);
    free(g->report);
    free(g->mailbox);
    free(g->config_path);
    free(g);
}

int
cp_gateway_fd(const struct cp_gateway *g)
{
    return g->pipe[0];
}

int
cp_gateway_start(struct cp_gateway *g, const char *mailbox)
{
    if (g->running)
        return CP_EEXIST;
    free(g->mailbox);
    g->mailbox = NULL;
    if (mailbox && !(g->mailbox = strdup(mailbox)))
        return CP_ENOMEM;
    if (pthread_create(&g->worker, NULL, run_check, g) != 0) {
        cp_log_warn("check", "gateway-status: cannot start the troubleshooter thread");
        return CP_EIO;
    }
    g->running = true;
    cp_log_info("check", "gateway-status: troubleshooter started%s%s",
                mailbox ? " for mailbox " : "", mailbox ? mailbox : "");
    return CP_OK;
}

char *
cp_gateway_collect(struct cp_gateway *g, char **mailbox, bool *failed)
{
    char byte;
    if (!g->running || read(g->pipe[0], &byte, 1) != 1)
        return NULL;
    /* The byte is the worker's last act: the join returns at once. */
    pthread_join(g->worker, NULL);
    g->running = false;
    char *report = g->report;
    g->report = NULL;
    *mailbox = g->mailbox;
    g->mailbox = NULL;
    *failed = g->failed;
    if (!report)
        cp_log_warn("check", "gateway-status: out of memory writing the report");
    return report;
}
