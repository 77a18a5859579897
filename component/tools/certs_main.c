/* calpresence-certs: the certificate import tool of ../shared/design/contract.md.
 *
 *   calpresence-certs -c FILE verify HOST[:PORT] [--name NAME]
 *   calpresence-certs -c FILE fetch HOST[:PORT] [--name NAME]
 *   calpresence-certs -c FILE import HOST[:PORT] [--name NAME] [--yes] [--leaf]
 *   calpresence-certs -c FILE add PEMFILE [--leaf]
 *   calpresence-certs -c FILE list
 *   calpresence-certs -c FILE remove FINGERPRINT
 *
 * The trust store and policy come from the [exchange] section (trust_dir, ca_file, timeout,
 * weak_certificates); --trust-dir, --ca-file, --timeout and --weak override them, and let the
 * tool run without a configuration file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certs.h"
#include "config/config.h"

#define DEFAULT_PORT 443

struct args {
    const char *config;
    const char *trust_dir;
    const char *ca_file;
    const char *weak;
    int timeout;
    const char *name;
    bool yes;
    bool leaf;
    const char *command;
    const char *operand;
};

static int usage(FILE *out, int code);
static int parse_args(int argc, char **argv, struct args *a);
static int load_options(const struct args *a, struct cp_config **cfg, struct cert_options *opt);
static int check_host(const struct cert_options *opt, const struct args *a,
                      struct cert_report **out);
static int print_report(const struct cert_options *opt, const struct args *a, bool need_verified);
static bool have_tty(void);
static bool ask_tty(void *ud, const struct cert_info *info);
static int cmd_import(const struct cert_options *opt, const struct args *a);
static int cmd_add(const struct cert_options *opt, const struct args *a);
static int cmd_list(const struct cert_options *opt);
static int cmd_remove(const struct cert_options *opt, const struct args *a);

static int
usage(FILE *out, int code)
{
    fprintf(out, "usage: calpresence-certs -c FILE COMMAND [ARGS]\n"
                 "  verify HOST[:PORT] [--name NAME]   check the server's certificate; prints "
                 "status: TOKEN\n"
                 "  fetch HOST[:PORT] [--name NAME]    download and describe the presented chain\n"
                 "  import HOST[:PORT] [--yes] [--leaf] trust the chain's missing CA certificates\n"
                 "  add PEMFILE [--leaf]               trust the CA certificates of PEMFILE\n"
                 "  list                               list the trusted certificates\n"
                 "  remove FINGERPRINT                 stop trusting a certificate (SHA-256)\n"
                 "options: --trust-dir DIR --ca-file FILE --timeout SECONDS --weak warn|refuse\n"
                 "         override the configuration (and make -c optional)\n");
    return code;
}

static int
parse_args(int argc, char **argv, struct args *a)
{
    int i;

    memset(a, 0, sizeof(*a));
    for (i = 1; i < argc; i++) {
        const char *s = argv[i];
        bool has_next = i + 1 < argc;

        if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0)
            return usage(stdout, 0) + 1;
        else if (strcmp(s, "--yes") == 0 || strcmp(s, "-y") == 0)
            a->yes = true;
        else if (strcmp(s, "--leaf") == 0)
            a->leaf = true;
        else if (strcmp(s, "-c") == 0 && has_next)
            a->config = argv[++i];
        else if (strcmp(s, "--trust-dir") == 0 && has_next)
            a->trust_dir = argv[++i];
        else if (strcmp(s, "--ca-file") == 0 && has_next)
            a->ca_file = argv[++i];
        else if (strcmp(s, "--weak") == 0 && has_next)
            a->weak = argv[++i];
        else if (strcmp(s, "--timeout") == 0 && has_next)
            a->timeout = atoi(argv[++i]);
        else if (strcmp(s, "--name") == 0 && has_next)
            a->name = argv[++i];
        else if (s[0] == '-' && s[1] != '\0')
            return usage(stderr, 2);
        else if (a->command == NULL)
            a->command = s;
        else if (a->operand == NULL)
            a->operand = s;
        else
            return usage(stderr, 2);
    }
    if (a->command == NULL || (a->config == NULL && a->trust_dir == NULL))
        return usage(stderr, 2);
    if (a->weak != NULL && strcmp(a->weak, "warn") != 0 && strcmp(a->weak, "refuse") != 0)
        return usage(stderr, 2);
    return 0;
}

/* Fills OPT from the configuration (kept in *CFG, which OPT's strings borrow from) and the
 * command-line overrides. */
static int
load_options(const struct args *a, struct cp_config **cfg, struct cert_options *opt)
{
    char err[512];

    memset(opt, 0, sizeof(*opt));
    *cfg = NULL;
    if (a->config != NULL) {
        if (cp_config_load(a->config, cfg, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        opt->trust_dir = (*cfg)->trust_dir;
        opt->ca_file = (*cfg)->ca_file;
        opt->timeout = (*cfg)->timeout;
        opt->refuse_weak = (*cfg)->weak_certificates == CP_WEAK_REFUSE;
    }
    if (a->trust_dir != NULL)
        opt->trust_dir = a->trust_dir;
    if (a->ca_file != NULL)
        opt->ca_file = a->ca_file;
    if (a->timeout > 0)
        opt->timeout = a->timeout;
    if (a->weak != NULL)
        opt->refuse_weak = strcmp(a->weak, "refuse") == 0;
    return 0;
}

/* Runs the server check named by A's operand. Returns 0 with *OUT, or an exit code. */
static int
check_host(const struct cert_options *opt, const struct args *a, struct cert_report **out)
{
    char *host = NULL;
    int port;
    int rc;

    if (a->operand == NULL || cert_parse_hostport(a->operand, DEFAULT_PORT, &host, &port) != 0) {
        fprintf(stderr, "calpresence-certs: expected HOST[:PORT], got %s\n",
                a->operand ? a->operand : "nothing");
        return 2;
    }
    rc = cert_check_server(opt, host, port, a->name, out);
    free(host);
    if (rc != 0) {
        fprintf(stderr, "calpresence-certs: out of memory\n");
        return 1;
    }
    return 0;
}

/* verify and fetch print the same report; verify succeeds only for a verified chain, fetch
 * whenever a chain was presented. */
static int
print_report(const struct cert_options *opt, const struct args *a, bool need_verified)
{
    struct cert_report *r;
    int rc = check_host(opt, a, &r);

    if (rc != 0)
        return rc;
    cert_report_print_chain(r, stdout);
    cert_report_print_status(r, stdout);
    rc = (need_verified ? r->status == CERT_VERIFIED : r->n_chain > 0) ? 0 : 1;
    cert_report_free(r);
    return rc;
}

/* Whether there is a controlling terminal to ask on. */
static bool
have_tty(void)
{
    FILE *tty = fopen("/dev/tty", "r+");

    if (tty == NULL)
        return false;
    fclose(tty);
    return true;
}

/* Asks on the terminal whether to trust INFO; no terminal means no. */
static bool
ask_tty(void *ud, const struct cert_info *info)
{
    FILE *tty = fopen("/dev/tty", "r+");
    char line[16] = "";
    bool yes;

    (void)ud;
    if (tty == NULL) {
        fprintf(stderr, "calpresence-certs: no terminal to ask on: run again with --yes\n");
        return false;
    }
    fprintf(tty, "trust %s\n  sha256 %s? [y/N] ", info->subject, info->fingerprint);
    fflush(tty);
    yes = fgets(line, sizeof(line), tty) != NULL && (line[0] == 'y' || line[0] == 'Y');
    fclose(tty);
    return yes;
}

static int
cmd_import(const struct cert_options *opt, const struct args *a)
{
    struct cert_report *r;
    char err[512] = "";
    size_t added = 0;
    size_t i;
    int rc = check_host(opt, a, &r);

    if (rc != 0)
        return rc;
    cert_report_print_chain(r, stdout);
    if (r->n_chain == 0) {
        cert_report_print_status(r, stdout);
        cert_report_free(r);
        return 1;
    }
    /* Without --yes the import asks; with nothing to ask on, say only that (not "imported: 0"
     * and advice about the chain, which would read as if the import had been tried). */
    if (!a->yes && !have_tty()) {
        fprintf(stderr, "calpresence-certs: import asks before trusting each certificate and "
                        "there is no terminal to ask on: review the chain above, then run "
                        "again with --yes\n");
        cert_report_free(r);
        return 1;
    }
    rc = cert_import(opt, r, a->leaf, a->yes ? NULL : ask_tty, NULL, &added, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "calpresence-certs: %s\n", err);
    printf("imported: %zu certificate%s\n", added, added == 1 ? "" : "s");
    for (i = 0; i < r->n_chain; i++) {
        if (r->chain[i].where != CERT_WHERE_MISSING)
            continue;
        printf("note: the server does not send the certificate of %s, and the trust store "
               "does not have it.\n"
               "note: get it from the CA's administrator (PEM, Base-64) and run: "
               "calpresence-certs -c %s add CA.pem\n",
               r->chain[i].info.subject, a->config ? a->config : "FILE");
    }
    if (r->status == CERT_MISSING_CHAIN && r->chain[0].where == CERT_WHERE_PRESENTED &&
        r->chain[0].info.self_signed && !a->leaf)
        printf("note: the server certificate is self-signed; trust it only if you must, "
               "with: calpresence-certs -c %s import %s --leaf\n",
               a->config ? a->config : "FILE", a->operand);
    cert_report_print_status(r, stdout);
    if (rc == 0 && (r->status == CERT_MISSING_CHAIN || r->status == CERT_NETWORK_ERROR ||
                    r->status == CERT_FAILED))
        rc = 1;
    cert_report_free(r);
    return rc == 0 ? 0 : 1;
}

static int
cmd_add(const struct cert_options *opt, const struct args *a)
{
    char err[512] = "";
    size_t added = 0;
    int rc;

    if (a->operand == NULL)
        return usage(stderr, 2);
    rc = cert_store_add_pem(opt->trust_dir, a->operand, a->leaf ? CERT_ADD_ALLOW_LEAF : 0, &added,
                            err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "calpresence-certs: %s\n", err);
        return 1;
    }
    printf("added: %zu certificate%s to %s\n", added, added == 1 ? "" : "s", opt->trust_dir);
    return 0;
}

static int
cmd_list(const struct cert_options *opt)
{
    struct cert_store_entry *e;
    char err[512] = "";
    char until[32];
    size_t n;
    size_t i;

    if (cert_store_list(opt->trust_dir, opt->ca_file, &e, &n, err, sizeof(err)) != 0) {
        fprintf(stderr, "calpresence-certs: %s\n", err);
        return 1;
    }
    for (i = 0; i < n; i++) {
        struct tm tm;

        if (gmtime_r(&e[i].info.not_after, &tm) == NULL ||
            strftime(until, sizeof(until), "%Y-%m-%d", &tm) == 0)
            snprintf(until, sizeof(until), "?");
        printf("%s %s (until %s, %s)\n", e[i].info.fingerprint, e[i].info.subject, until,
               e[i].source);
    }
    printf("%zu trusted certificate%s\n", n, n == 1 ? "" : "s");
    cert_store_entries_free(e, n);
    return 0;
}

static int
cmd_remove(const struct cert_options *opt, const struct args *a)
{
    char err[512] = "";

    if (a->operand == NULL)
        return usage(stderr, 2);
    if (cert_store_remove(opt->trust_dir, opt->ca_file, a->operand, err, sizeof(err)) != 0) {
        fprintf(stderr, "calpresence-certs: %s\n", err);
        return 1;
    }
    printf("removed: %s\n", a->operand);
    return 0;
}

int
main(int argc, char **argv)
{
    struct cert_options opt;
    struct cp_config *cfg;
    struct args a;
    int rc = parse_args(argc, argv, &a);

    if (rc != 0)
        return rc == 1 ? 0 : rc;
    if (load_options(&a, &cfg, &opt) != 0)
        return 1;
    if (strcmp(a.command, "verify") == 0)
        rc = print_report(&opt, &a, true);
    else if (strcmp(a.command, "fetch") == 0)
        rc = print_report(&opt, &a, false);
    else if (strcmp(a.command, "import") == 0)
        rc = cmd_import(&opt, &a);
    else if (strcmp(a.command, "add") == 0)
        rc = cmd_add(&opt, &a);
    else if (strcmp(a.command, "list") == 0)
        rc = cmd_list(&opt);
    else if (strcmp(a.command, "remove") == 0)
        rc = cmd_remove(&opt, &a);
    else
        rc = usage(stderr, 2);
    cp_config_free(cfg);
    return rc;
}
