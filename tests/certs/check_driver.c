/* Runs the troubleshooter (component/check/check.c) as `calpresence --check` will:
 *   check-driver CONFIG [MAILBOX] [--json]
 * so that tests/certs/check_sim.py can drive it against ews-sim before and independently of
 * the daemon's command line. */
#include <stdio.h>
#include <string.h>

#include "check/check.h"
#include "config/config.h"

int
main(int argc, char **argv)
{
    const char *mailbox = NULL;
    struct cp_config *cfg;
    bool json = false;
    char err[512];
    int rc;
    int i;

    if (argc < 2) {
        fprintf(stderr, "usage: check-driver CONFIG [MAILBOX] [--json]\n");
        return 2;
    }
    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else
            mailbox = argv[i];
    }
    if (cp_config_load(argv[1], &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    rc = cp_check_run(cfg, mailbox, json, stdout);
    cp_config_free(cfg);
    return rc < 0 ? 2 : rc;
}
