/* calpresence: the component daemon's command line (contract.md, "Programs"). */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "check/check.h"
#include "config/config.h"
#include "daemon.h"

static void
usage(FILE *out)
{
    fprintf(out, "usage: calpresence -c FILE           run the component in the foreground\n"
                 "       calpresence -c FILE -n        validate FILE and exit\n"
                 "       calpresence -c FILE --check [--json] [MAILBOX]\n"
                 "                                     troubleshoot every configured EWS server\n"
                 "       calpresence -V                print the version\n");
}

/* `-n` warnings go to stderr, beside the errors, one a line. */
static void
print_warning(const char *msg, void *ud)
{
    (void)ud;
    fprintf(stderr, "%s\n", msg);
}

/* `-n`: the file must parse (exit 1 otherwise); what would still stop the daemon is a warning,
 * so that the shipped example passes while naming what is left to do. */
static int
validate_file(const char *path)
{
    char err[1024];
    struct cp_config *cfg = NULL;
    if (cp_config_validate(path, print_warning, NULL, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("configuration OK\n");
    cp_config_free(cfg);
    return 0;
}

int
main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"validate", no_argument, NULL, 'n'},
        {"check", no_argument, NULL, 'k'},
        {"json", no_argument, NULL, 'j'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    /* Before anything is logged: under systemd the lines carry their priority. */
    cp_log_detect_journal();
    const char *path = NULL;
    bool validate = false, check = false, json = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:nVh", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'n':
            validate = true;
            break;
        case 'k':
            check = true;
            break;
        case 'j':
            json = true;
            break;
        case 'V':
            printf("calpresence %s\n", CP_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    const char *mailbox = optind < argc ? argv[optind++] : NULL;
    if (!path || optind < argc || (mailbox && !check) || (json && !check) || (validate && check)) {
        usage(stderr);
        return 2;
    }

    if (validate)
        return validate_file(path);
    char err[1024];
    struct cp_config *cfg = NULL;
    if (cp_config_load(path, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (!check && cp_config_check_start(cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        cp_config_free(cfg);
        return 1;
    }
    /* libcurl's global state is set up once, before any thread (the troubleshooter may run in
     * one) can touch it. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "calpresence: cannot initialise libcurl\n");
        cp_config_free(cfg);
        return 1;
    }
    int code;
    if (check) {
        code = cp_check_run(cfg, mailbox, json, stdout) == 0 ? 0 : 1;
        cp_config_free(cfg);
    } else {
        code = cp_daemon_run(cfg);
    }
    curl_global_cleanup();
    return code;
}
