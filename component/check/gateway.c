#include "gateway.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "config/config.h"

struct cp_gateway {
    char *config_path;
    pthread_mutex_t lock;
    pthread_t worker;
    bool running; /* a worker exists and has not been joined */
    bool done;    /* the worker has finished; join it before the next */
    char *report; /* last finished report, owned */
    bool failed;
    time_t finished;
};

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
        report = cp_check_report(cfg, NULL, false, &failed);
        cp_config_free(cfg);
    }
    pthread_mutex_lock(&g->lock);
    free(g->report);
    g->report = report;
    g->failed = failed;
    g->finished = time(NULL);
    g->done = true;
    pthread_mutex_unlock(&g->lock);
    cp_log_info("check", "gateway-status: troubleshooter finished (%s)",
                failed ? "problems found" : "all servers pass");
    return NULL;
}

struct cp_gateway *
cp_gateway_new(const char *config_path)
{
    struct cp_gateway *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->config_path = strdup(config_path);
    if (!g->config_path || pthread_mutex_init(&g->lock, NULL) != 0) {
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
    pthread_mutex_destroy(&g->lock);
    free(g->report);
    free(g->config_path);
    free(g);
}

/* Starts a worker unless one is still busy. Called with the lock held. */
static bool
start_locked(struct cp_gateway *g)
{
    if (g->running && !g->done)
        return false;
    if (g->running) {
        pthread_join(g->worker, NULL); /* finished already: returns at once */
        g->running = false;
    }
    g->done = false;
    if (pthread_create(&g->worker, NULL, run_check, g) != 0) {
        cp_log_warn("check", "gateway-status: cannot start the troubleshooter thread");
        return false;
    }
    g->running = true;
    cp_log_info("check", "gateway-status: troubleshooter started");
    return true;
}

char *
cp_gateway_status(struct cp_gateway *g)
{
    pthread_mutex_lock(&g->lock);
    bool busy_before = g->running && !g->done;
    bool started = start_locked(g);
    char *text = NULL;
    if (g->report) {
        char when[32];
        struct tm tm;
        gmtime_r(&g->finished, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        size_t len = strlen(g->report) + 256;
        text = malloc(len);
        if (text)
            snprintf(text, len, "Report of %s (%s):\n%s\n%s", when,
                     g->failed ? "problems found" : "all servers pass", g->report,
                     started ? "A new check has started: run gateway-status again for it."
                             : "A check is still running.");
    } else {
        text = strdup(busy_before || started
                          ? "The troubleshooter is running (it may take a few times the Exchange "
                            "timeout per server): run gateway-status again for its report."
                          : "The troubleshooter could not be started: see the log.");
    }
    pthread_mutex_unlock(&g->lock);
    return text;
}
