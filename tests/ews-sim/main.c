/* ews-sim: command line, start-up and shutdown. */
#include "sim.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <openssl/err.h>

struct sim g_sim;

static const char usage[] =
    "usage: ews-sim --listen NAME=HOST:PORT [--listen ...] (--cert PEM --key PEM | --http)\n"
    "               [--auth negotiate,ntlm,basic,bearer] [--server-version Exchange2016]\n"
    "               [--control PATH|PORT] [--scenario FILE] [-e LINE]... [--populate N]\n"
    "               [--time-scale F] [--heartbeat SECONDS] [--max-concurrency N]\n"
    "               [--max-subscriptions N] [--backoff MS] [--push-connections N] [-v]\n"
    "An Exchange Web Services simulator: each --listen is one Client Access Server.\n"
    "Control lines (socket, scenario file, -e) are described in docs/ews-sim.md.\n";

static void
on_signal(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    event_base_loopbreak(g_sim.base);
}

static int
add_listen(const char *spec)
{
    struct sim_cas *c;
    const char *eq = strchr(spec, '='), *colon = strrchr(spec, ':');
    if (g_sim.ncas == SIM_MAX_CAS || !eq || !colon || colon < eq ||
        (size_t)(colon - eq - 1) >= sizeof(c->host))
        return -1;
    c = &g_sim.cas[g_sim.ncas++];
    c->name = strndup(spec, (size_t)(eq - spec));
    memcpy(c->host, eq + 1, (size_t)(colon - eq - 1));
    c->host[colon - eq - 1] = '\0';
    c->port = atoi(colon + 1);
    return c->port > 0 && c->port < 65536 ? 0 : -1;
}

static unsigned
parse_auth(const char *list)
{
    unsigned mask = 0;
    char *copy = strdup(list), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "basic") == 0)
            mask |= SIM_AUTH_BASIC;
        else if (strcmp(t, "ntlm") == 0)
            mask |= SIM_AUTH_NTLM;
        else if (strcmp(t, "negotiate") == 0)
            mask |= SIM_AUTH_NEGOTIATE;
        else if (strcmp(t, "bearer") == 0)
            mask |= SIM_AUTH_BEARER;
        else
            mask |= 0x100;
    }
    free(copy);
    return mask;
}

/* Returns a server context the caller frees with SSL_CTX_free, or NULL after a message. */
static SSL_CTX *
tls_context(const char *cert, const char *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        fprintf(stderr, "ews-sim: cannot load %s / %s: %s\n", cert, key,
                ERR_reason_error_string(ERR_get_error()));
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static int
run_line(const char *line)
{
    struct evbuffer *out = evbuffer_new();
    int rc = sim_control_line(line, out);
    if (rc < 0)
        fprintf(stderr, "-e %s: %.*s", line, (int)evbuffer_get_length(out),
                (char *)evbuffer_pullup(out, -1));
    evbuffer_free(out);
    return rc;
}

static void
shutdown_all(void)
{
    for (int i = 0; i < g_sim.ncas; i++)
        sim_cas_stop(i);
    sim_subs_free_all();
    sim_control_free();
    sim_store_free();
    SSL_CTX_free(g_sim.ssl);
    event_base_free(g_sim.base);
    xmlCleanupParser();
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {{"listen", required_argument, NULL, 'l'},
                                             {"cert", required_argument, NULL, 'c'},
                                             {"key", required_argument, NULL, 'k'},
                                             {"http", no_argument, NULL, 'H'},
                                             {"auth", required_argument, NULL, 'a'},
                                             {"server-version", required_argument, NULL, 'V'},
                                             {"control", required_argument, NULL, 'C'},
                                             {"scenario", required_argument, NULL, 's'},
                                             {"exec", required_argument, NULL, 'e'},
                                             {"populate", required_argument, NULL, 'p'},
                                             {"time-scale", required_argument, NULL, 't'},
                                             {"heartbeat", required_argument, NULL, 'b'},
                                             {"max-concurrency", required_argument, NULL, 'm'},
                                             {"max-subscriptions", required_argument, NULL, 'S'},
                                             {"backoff", required_argument, NULL, 'B'},
                                             {"push-connections", required_argument, NULL, 'P'},
                                             {"verbose", no_argument, NULL, 'v'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *cert = NULL, *key = NULL, *control = NULL, *scenario = NULL;
    const char **lines = calloc((size_t)argc, sizeof(char *));
    int nlines = 0, opt, rc = 1;
    long populate = 0;
    struct event *sigint = NULL, *sigterm = NULL;
    g_sim.auth_mask = SIM_AUTH_NEGOTIATE | SIM_AUTH_NTLM | SIM_AUTH_BASIC;
    g_sim.time_scale = 1.0;
    g_sim.heartbeat_s = 30;
    g_sim.max_concurrency = 27;
    g_sim.max_subscriptions = 5000;
    g_sim.busy_backoff_ms = 5000;
    g_sim.push_connections = 8;
    g_sim.version = sim_version_find("Exchange2016");
    while ((opt = getopt_long(argc, argv, "e:vh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'l':
            if (add_listen(optarg) < 0) {
                fprintf(stderr, "ews-sim: bad --listen %s (NAME=HOST:PORT)\n", optarg);
                goto out;
            }
            break;
        case 'c':
            cert = optarg;
            break;
        case 'k':
            key = optarg;
            break;
        case 'H':
            g_sim.plain_http = 1;
            break;
        case 'a':
            g_sim.auth_mask = parse_auth(optarg);
            if (!g_sim.auth_mask || (g_sim.auth_mask & 0x100)) {
                fprintf(stderr, "ews-sim: bad --auth %s\n", optarg);
                goto out;
            }
            break;
        case 'V':
            if (!(g_sim.version = sim_version_find(optarg))) {
                fprintf(stderr, "ews-sim: unknown --server-version %s\n", optarg);
                goto out;
            }
            break;
        case 'C':
            control = optarg;
            break;
        case 's':
            scenario = optarg;
            break;
        case 'e':
            lines[nlines++] = optarg;
            break;
        case 'p':
            populate = atol(optarg);
            break;
        case 't':
            g_sim.time_scale = atof(optarg) > 0 ? atof(optarg) : 1.0;
            break;
        case 'b':
            g_sim.heartbeat_s = atoi(optarg) > 0 ? atoi(optarg) : 30;
            break;
        case 'm':
            g_sim.max_concurrency = (uint32_t)atol(optarg);
            break;
        case 'S':
            g_sim.max_subscriptions = (uint32_t)atol(optarg);
            break;
        case 'B':
            g_sim.busy_backoff_ms = atol(optarg);
            break;
        case 'P':
            g_sim.push_connections = atoi(optarg) > 0 ? atoi(optarg) : 1;
            break;
        case 'v':
            g_sim.verbose = 1;
            break;
        case 'h':
            fputs(usage, stdout);
            rc = 0;
            goto out;
        default:
            fputs(usage, stderr);
            goto out;
        }
    }
    if (g_sim.ncas == 0 || (!g_sim.plain_http && (!cert || !key))) {
        fputs(usage, stderr);
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    xmlInitParser();
    g_sim.base = event_base_new();
    g_sim.mbx_map = sim_map_new();
    if (!g_sim.plain_http && !(g_sim.ssl = tls_context(cert, key)))
        goto out_free;
    if (populate > 0)
        sim_populate((uint32_t)populate, sim_now());
    if (scenario && sim_scenario_load(scenario) < 0)
        goto out_free;
    for (int i = 0; i < nlines; i++)
        if (run_line(lines[i]) < 0)
            goto out_free;
    for (int i = 0; i < g_sim.ncas; i++)
        if (sim_cas_start(i) < 0)
            goto out_free;
    if (control && sim_control_listen(control) < 0) {
        fprintf(stderr, "ews-sim: cannot listen on control %s\n", control);
        goto out_free;
    }
    sigint = evsignal_new(g_sim.base, SIGINT, on_signal, NULL);
    sigterm = evsignal_new(g_sim.base, SIGTERM, on_signal, NULL);
    evsignal_add(sigint, NULL);
    evsignal_add(sigterm, NULL);
    sim_log("ready: %u mailboxes, %u accounts, server version %s", g_sim.nmailboxes,
            g_sim.naccounts, g_sim.version->name);
    event_base_dispatch(g_sim.base);
    sim_log("stopping");
    rc = 0;
out_free:
    if (sigint)
        event_free(sigint);
    if (sigterm)
        event_free(sigterm);
    shutdown_all();
out:
    free(lines);
    for (int i = 0; i < g_sim.ncas; i++)
        free(g_sim.cas[i].name);
    return rc;
}
