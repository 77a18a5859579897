/* What a configuration that parses can still get wrong (config.h): the checks `calpresence -n`
 * reports as warnings and the one the daemon refuses at start. They look at the machine (files,
 * directories), not at the syntax, so they are not errors of the load: the file may be written
 * on one host and checked before the directories exist. */
#include "config.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* The value component.conf.example and the README tell the administrator to replace. */
#define PLACEHOLDER "change-me"

struct preflight {
    const struct cp_config *cfg;
    cp_config_warn_fn warn;
    void *ud;
    int count;
};

static void report(struct preflight *pf, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int secret_line(const struct cp_config *cfg, const char *section, const char *inline_key,
                       const char *file_key);
static void check_placeholders(struct preflight *pf);
static void check_store_dir(struct preflight *pf);
static void check_trust_dir(struct preflight *pf);

static void
report(struct preflight *pf, int line, const char *fmt, ...)
{
    char reason[768], msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(msg, sizeof(msg), "%s:%d: warning: %s", pf->cfg->path, line, reason);
    else
        snprintf(msg, sizeof(msg), "%s: warning: %s", pf->cfg->path, reason);
    pf->warn(msg, pf->ud);
    pf->count++;
}

bool
cp_config_is_placeholder(const char *s)
{
    return s != NULL && strcasecmp(s, PLACEHOLDER) == 0;
}

/* The line that gave a secret: the inline key, or the file key it was read from. */
static int
secret_line(const struct cp_config *cfg, const char *section, const char *inline_key,
            const char *file_key)
{
    int line = cp_config_line(cfg, section, inline_key);
    return line ? line : cp_config_line(cfg, section, file_key);
}

static void
check_placeholders(struct preflight *pf)
{
    const struct cp_config *c = pf->cfg;

    if (cp_config_is_placeholder(c->secret))
        report(pf, secret_line(c, "component", "secret", "secret_file"),
               "the component secret is the placeholder '" PLACEHOLDER
               "': calpresence refuses to start with it (put the component_secret of the XMPP "
               "server's Component entry there)");
    if (c->ews_urls.n > 0 && cp_config_is_placeholder(c->password))
        report(pf, secret_line(c, "exchange", "password", "password_file"),
               "the Exchange password is the placeholder '" PLACEHOLDER
               "': every Exchange request will fail authentication");
}

/* SQLite creates the database file, not its directory; and it needs to write beside the file
 * (the WAL and shared-memory files), so the directory must be writable, not only the file. */
static void
check_store_dir(struct preflight *pf)
{
    const struct cp_config *c = pf->cfg;
    int line = cp_config_line(c, "store", "path");
    char *copy = strdup(c->store_path);
    struct stat st;

    if (copy == NULL)
        return;
    const char *dir = dirname(copy);
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT)
            report(pf, line,
                   "directory %s does not exist: the store cannot be created (install -d -o "
                   "calpresence -m 0750 %s, or let systemd's StateDirectory= make it)",
                   dir, dir);
        else
            report(pf, line, "directory %s cannot be examined (%s)", dir, strerror(errno));
    } else if (!S_ISDIR(st.st_mode)) {
        report(pf, line, "%s is not a directory: the store cannot be created in it", dir);
    } else if (access(dir, W_OK | X_OK) != 0) {
        report(pf, line,
               "directory %s is not writable by uid %u: the store and its WAL cannot be "
               "written (run calpresence as the directory's owner)",
               dir, (unsigned)geteuid());
    }
    free(copy);
}

static void
check_trust_dir(struct preflight *pf)
{
    const struct cp_config *c = pf->cfg;
    struct stat st;

    if (c->ews_urls.n == 0 || c->trust_dir == NULL)
        return;
    const char *what = NULL;
    if (stat(c->trust_dir, &st) != 0)
        what = errno == ENOENT ? "does not exist" : strerror(errno);
    else if (!S_ISDIR(st.st_mode))
        what = "is not a directory";
    if (what == NULL)
        return;
    report(pf, cp_config_line(c, "exchange", "trust_dir"),
           "trust_dir %s: %s: no Exchange certificate can be verified (install -d %s, then "
           "calpresence-certs -c %s import HOST)",
           c->trust_dir, what, c->trust_dir, c->path);
}

int
cp_config_preflight(const struct cp_config *cfg, cp_config_warn_fn warn, void *ud)
{
    struct preflight pf = {cfg, warn, ud, 0};

    check_placeholders(&pf);
    check_store_dir(&pf);
    check_trust_dir(&pf);
    return pf.count;
}

int
cp_config_check_start(const struct cp_config *cfg, char *err, size_t errlen)
{
    if (!cp_config_is_placeholder(cfg->secret))
        return CP_OK;
    int line = secret_line(cfg, "component", "secret", "secret_file");
    snprintf(err, errlen,
             "%s:%d: the component secret is the placeholder '" PLACEHOLDER
             "': refusing to start (put the component_secret of the XMPP server's Component "
             "entry there)",
             cfg->path, line);
    return CP_EINVAL;
}
