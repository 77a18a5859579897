/* calpresence: the component daemon's command line (contract.md, "Programs"). */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "log.h"

static void
usage(FILE *out)
{
    fprintf(out, "usage: calpresence -c FILE           run the component in the foreground\n"
                 "       calpresence -c FILE -n        validate FILE and exit\n"
                 "       calpresence -c FILE --check [MAILBOX]\n"
                 "                                     troubleshoot every configured EWS server\n"
                 "       calpresence -V                print the version\n");
}

int
main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"validate", no_argument, NULL, 'n'},
        {"check", no_argument, NULL, 'k'},        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    bool validate = false, check = false;
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
    if (!path || optind < argc || (mailbox && !check) || (validate && check)) {
        usage(stderr);
        return 2;
    }

    char err[1024];
    struct cp_config *cfg = NULL;
    if (cp_config_load(path, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (validate) {
        printf("configuration OK\n");
        cp_config_free(cfg);
        return 0;
    }
    if (check) {
        fprintf(stderr, "calpresence: --check is not available in this build yet (issue 5)\n");
        cp_config_free(cfg);
        return 1;
    }
    return cp_daemon_run(cfg);
}
