/* tests/fuzz/fuzz_config.c: the configuration file parser (component/config/config.c) on arbitrary
 * bytes. Each input becomes the content of one private in-memory file (a memfd, created once per
 * process, read through /proc/self/fd/N) that cp_config_load reads: with a file in /tmp each
 * input paid a truncate and a write to disk, 85% of the run time (issue 12). A loaded configuration
 * must compare equal to itself, answer the admin and domain questions, and read back as
 * itself from what cp_config_print writes (secrets aside, which it hides); any crash, leak,
 * sanitizer report or broken promise is a bug. A secret_file/password_file/token_file key naming an
 * arbitrary path is only ever opened for reading, so the target creates no other file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "config/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input's file, and the file its printed form is written to. */
static char path[2][64];
static int fd[2] = {-1, -1};
static FILE *devnull;

static void
close_files(void)
{
    for (int i = 0; i < 2; i++)
        if (fd[i] >= 0) {
            close(fd[i]);
            fd[i] = -1;
        }
}

/* A memfd is a regular file to fstat, as the parser requires; mode 0600 as its private-file
 * checks would also accept. */
static void
setup(void)
{
    for (int i = 0; i < 2; i++) {
        fd[i] = memfd_create("fuzz_config", MFD_CLOEXEC);
        if (fd[i] < 0 || fchmod(fd[i], 0600) != 0) {
            perror("fuzz_config: memfd_create");
            abort();
        }
        snprintf(path[i], sizeof(path[i]), "/proc/self/fd/%d", fd[i]);
    }
    atexit(close_files);
    devnull = fopen("/dev/null", "w");
    if (devnull == NULL)
        abort();
    cp_log_set_stream(devnull);
}

/* Replaces the content of in-memory file I with DATA. */
static void
rewrite(int i, const void *data, size_t size)
{
    if (ftruncate(fd[i], 0) != 0 || pwrite(fd[i], data, size, 0) != (ssize_t)size) {
        perror("fuzz_config: write");
        abort();
    }
}

static void
count_difference(const char *section, const char *key, bool live, void *ud)
{
    (void)section;
    (void)key;
    (void)live;
    (*(int *)ud)++;
}

/* Counts the differences in keys whose value cp_config_print shows (not the secrets). */
static void
count_shown_difference(const char *section, const char *key, bool live, void *ud)
{
    for (size_t k = 0; k < cp_config_key_count; k++)
        if (strcmp(cp_config_keys[k].section, section) == 0 &&
            strcmp(cp_config_keys[k].name, key) == 0 && cp_config_keys[k].secret)
            return;
    count_difference(section, key, live, ud);
}

/* True when some shown string value of CFG holds a '"': the INI form cannot write such a
 * value when it also needs quotes (quoted values end at the first '"'). */
static bool
has_quote_char(const struct cp_config *cfg)
{
    for (size_t k = 0; k < cp_config_key_count; k++) {
        const struct cp_config_key *key = &cp_config_keys[k];
        const char *s;

        if (key->secret)
            continue;
        if (key->type == CP_KEY_STRING) {
            s = *(char *const *)((const char *)cfg + key->offset);
            if (s != NULL && strchr(s, '"') != NULL)
                return true;
        } else if (key->type == CP_KEY_LIST) {
            const struct cp_strlist *l = (const void *)((const char *)cfg + key->offset);

            for (size_t i = 0; i < l->n; i++)
                if (strchr(l->items[i], '"') != NULL)
                    return true;
        }
    }
    return false;
}

/* Prints CFG, loads the printed text and compares. A secret read from a file is printed
 * next to that file's name, which the parser rightly refuses, and a value with a '"' may
 * not be writable at all: such inputs are skipped. */
static void
check_round_trip(const struct cp_config *cfg)
{
    struct cp_config *again = NULL;
    char err[512], *text = NULL;
    size_t len = 0;
    int differences = 0;
    FILE *out;

    if (cfg->secret_file != NULL || cfg->password_file != NULL || has_quote_char(cfg))
        return;
    out = open_memstream(&text, &len);
    if (out == NULL)
        abort();
    cp_config_print(cfg, out);
    fclose(out);
    rewrite(1, text, len);
    if (cp_config_load(path[1], &again, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_config: printed configuration refused: %s\n%s", err, text);
        abort();
    }
    cp_config_diff(cfg, again, count_shown_difference, &differences);
    if (differences != 0) {
        fprintf(stderr, "fuzz_config: printed configuration reads back differently:\n%s", text);
        abort();
    }
    cp_config_free(again);
    free(text);
}

/* Checks that CFG is internally consistent: the parser promises at least one domain and
 * non-empty list items, and a configuration never differs from itself. */
static void
check(const struct cp_config *cfg)
{
    int differences = 0;
    size_t i;

    if (cfg->jid == NULL || cfg->domains.n == 0)
        abort();
    for (i = 0; i < cfg->domains.n; i++)
        if (cfg->domains.items[i] == NULL || cfg->domains.items[i][0] == '\0' ||
            !cp_config_serves_domain(cfg, cfg->domains.items[i]))
            abort();
    for (i = 0; i < cfg->admins.n; i++)
        if (cfg->admins.items[i] == NULL || cfg->admins.items[i][0] == '\0' ||
            !cp_config_is_admin(cfg, cfg->admins.items[i]))
            abort();
    if (cp_config_diff(cfg, cfg, count_difference, &differences) != 0 || differences != 0)
        abort();
    check_round_trip(cfg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cp_config *cfg = NULL;
    char err[512];

    if (fd[0] < 0)
        setup();
    rewrite(0, data, size);
    if (cp_config_load(path[0], &cfg, err, sizeof(err)) == 0) {
        check(cfg);
        cp_config_free(cfg);
    } else if (cfg != NULL || err[0] == '\0') {
        abort(); /* a failure leaves *OUT NULL and always says why */
    }
    return 0;
}
