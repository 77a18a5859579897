/* The configuration file parser (config.h): INI lines -> struct cp_config, driven by the key
 * table in config_keys.c, then the rules that span several keys, then the secret files.
 *
 * The first error stops the load and is reported as "FILE:LINE: reason" ("FILE: reason" when it
 * concerns the file as a whole). Errors never quote a secret value. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "jid.h"

/* A secret or password file is a line, not a document. */
#define SECRET_FILE_MAX 65536
/* The longest configuration line, in bytes before its line break: no key needs more, and a
 * file without line breaks (a log or a device given by mistake) is refused before it fills
 * memory. */
#define CONFIG_LINE_MAX 4096

struct parser {
    const char *path;
    struct cp_config *cfg;
    int *seen;           /* per key of the table: the line that set it, 0 when not set */
    const char *section; /* the current section (a table string), NULL before the first */
    int line;
    char *err;
    size_t errlen;
    cp_config_warn_fn warn; /* set by cp_config_validate: missing secret files only warn */
    void *warn_ud;
};

static int fail(struct parser *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int load(struct parser *p, struct cp_config **out);
static void warn(struct parser *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool missing_file_warned(struct parser *p, const char *section, const char *key,
                                const char *file);
static int open_regular(const char *file, int *fd, struct stat *st);
static int parse_stream(struct parser *p, FILE *f);
static int read_line(struct parser *p, FILE *f, char *buf, size_t *len);
static int parse_line(struct parser *p, char *s);
static int parse_section(struct parser *p, char *s);
static int parse_assignment(struct parser *p, char *s);
static int extract_value(struct parser *p, char *s, char **out);
static bool is_comment_or_end(const char *s);
static char *trim(char *s);
static int find_key(const char *section, const char *name);
static int store_value(struct parser *p, size_t k, const char *raw, int line);
static int store_string(struct parser *p, const struct cp_config_key *key, char *v, int line);
static int store_int(struct parser *p, const struct cp_config_key *key, const char *v, int line);
static int store_enum(struct parser *p, const struct cp_config_key *key, const char *v, int line);
static int store_list(struct parser *p, const struct cp_config_key *key, const char *v, int line);
static int match_word(const char *const *words, const char *v);
static void words_text(const char *const *words, char *out, size_t outlen);
static int apply_defaults(struct parser *p);
static int check_pairs_and_required(struct parser *p);
static int check_rules(struct parser *p);
static int read_secret_file(struct parser *p, const char *section, const char *key,
                            const char *file, char **out);
static int open_private_file(struct parser *p, const char *section, const char *key,
                             const char *file);
static void *field(const struct cp_config *cfg, const struct cp_config_key *key);
static void strlist_free(struct cp_strlist *l);
static void free_secret(char *s);
static bool strlist_equal(const struct cp_strlist *a, const struct cp_strlist *b);
static bool string_equal(const char *a, const char *b);
static void print_value(FILE *out, const char *v);
static void print_list(FILE *out, const struct cp_strlist *l);

/* Writes "PATH:LINE: reason" (or "PATH: reason" when LINE is 0) into the caller's buffer. */
static int
fail(struct parser *p, int line, const char *fmt, ...)
{
    char reason[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (p->errlen == 0)
        return CP_EINVAL;
    if (line > 0)
        snprintf(p->err, p->errlen, "%s:%d: %s", p->path, line, reason);
    else
        snprintf(p->err, p->errlen, "%s: %s", p->path, reason);
    return CP_EINVAL;
}

static void *
field(const struct cp_config *cfg, const struct cp_config_key *key)
{
    return (char *)cfg + key->offset;
}

static char *
trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

static bool
is_comment_or_end(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return *s == '\0' || *s == '#' || *s == ';';
}

static int
find_key(const char *section, const char *name)
{
    for (size_t i = 0; i < cp_config_key_count; i++) {
        if (strcmp(cp_config_keys[i].section, section) == 0 &&
            strcmp(cp_config_keys[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

/* CFG and everything it points to are the caller's on success (cp_config_free). */
int
cp_config_load(const char *path, struct cp_config **out, char *err, size_t errlen)
{
    struct parser p = {.path = path ? path : "(null)", .err = err, .errlen = errlen};

    return load(&p, out);
}

/* As cp_config_load; the configuration is the caller's on success. */
int
cp_config_validate(const char *path, cp_config_warn_fn warn_fn, void *ud, struct cp_config **out,
                   char *err, size_t errlen)
{
    struct parser p = {.path = path ? path : "(null)",
                       .err = err,
                       .errlen = errlen,
                       .warn = warn_fn,
                       .warn_ud = ud};
    int rc = load(&p, out);

    if (rc == CP_OK)
        cp_config_preflight(*out, warn_fn, ud);
    return rc;
}

int
cp_config_line(const struct cp_config *cfg, const char *section, const char *key)
{
    int k = find_key(section, key);
    return k >= 0 && cfg->lines ? cfg->lines[k] : 0;
}

static int
load(struct parser *p, struct cp_config **out)
{
    const char *path = p->path;
    struct stat st;
    FILE *f;
    int fd, rc;

    *out = NULL;
    if (p->errlen > 0)
        p->err[0] = '\0';
    if (strcmp(path, "(null)") == 0)
        return fail(p, 0, "no configuration file given");
    p->cfg = calloc(1, sizeof(*p->cfg));
    p->seen = calloc(cp_config_key_count, sizeof(*p->seen));
    if (p->cfg == NULL || p->seen == NULL || (p->cfg->path = strdup(path)) == NULL) {
        free(p->seen);
        cp_config_free(p->cfg);
        fail(p, 0, "out of memory");
        return CP_ENOMEM;
    }
    /* The configuration keeps the lines: warnings and start-up refusals name them. */
    p->cfg->lines = p->seen;
    rc = open_regular(path, &fd, &st);
    if (rc == CP_EINVAL) {
        fail(p, 0, "not a regular file");
    } else if (rc != CP_OK) {
        fail(p, 0, "cannot open (%s)", strerror(errno));
    } else if ((f = fdopen(fd, "r")) == NULL) {
        close(fd);
        rc = fail(p, 0, "out of memory");
    } else {
        rc = parse_stream(p, f);
        fclose(f);
    }
    if (rc == CP_OK)
        rc = apply_defaults(p);
    if (rc == CP_OK)
        rc = check_pairs_and_required(p);
    if (rc == CP_OK)
        rc = check_rules(p);
    if (rc != CP_OK) {
        cp_config_free(p->cfg);
        return rc;
    }
    *out = p->cfg;
    return CP_OK;
}

/* Reports "PATH:LINE: warning: ..." to the validating caller. */
static void
warn(struct parser *p, int line, const char *fmt, ...)
{
    char reason[512], msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(msg, sizeof(msg), "%s:%d: warning: %s", p->path, line, reason);
    else
        snprintf(msg, sizeof(msg), "%s: warning: %s", p->path, reason);
    p->warn(msg, p->warn_ud);
}

/* Under cp_config_validate, a secret file that does not exist yet is reported and skipped: the
 * rest of the file can still be checked. Anything else wrong with it stays an error. */
static bool
missing_file_warned(struct parser *p, const char *section, const char *key, const char *file)
{
    struct stat st;

    if (p->warn == NULL || stat(file, &st) == 0 || errno != ENOENT)
        return false;
    warn(p, p->seen[find_key(section, key)],
         "%s %s does not exist: calpresence will not start without it (create it, mode 0600, "
         "owned by the user calpresence runs as)",
         key, file);
    return true;
}

/* Opens FILE for reading, refusing anything but a regular file: a FIFO would block the open
 * itself (hence O_NONBLOCK, cleared again once fstat has said what the descriptor is), a device
 * such as /dev/zero never ends. fstat on the open descriptor, not stat before open, so that the
 * file checked is the file read. Returns 0 with *FD (the caller closes it) and *ST, CP_EINVAL
 * for a file of another type, or CP_EIO with errno set. */
static int
open_regular(const char *file, int *fd, struct stat *st)
{
    int flags;

    *fd = open(file, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (*fd < 0)
        return CP_EIO;
    if (fstat(*fd, st) != 0 || (flags = fcntl(*fd, F_GETFL)) < 0 ||
        (S_ISREG(st->st_mode) && fcntl(*fd, F_SETFL, flags & ~O_NONBLOCK) != 0)) {
        int saved = errno;
        close(*fd);
        errno = saved;
        return CP_EIO;
    }
    if (!S_ISREG(st->st_mode)) {
        close(*fd);
        return CP_EINVAL;
    }
    return CP_OK;
}

static int
parse_stream(struct parser *p, FILE *f)
{
    /* Room for CONFIG_LINE_MAX bytes, a CR and a line feed, and the NUL. */
    char buf[CONFIG_LINE_MAX + 3];
    size_t n = 0;
    int rc = CP_OK;

    while (rc == CP_OK && (rc = read_line(p, f, buf, &n)) == CP_OK && n != SIZE_MAX) {
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
            buf[--n] = '\0';
        if (n != strlen(buf)) {
            rc = fail(p, p->line, "NUL byte in line");
            break;
        }
        char *s = buf;
        /* A UTF-8 byte order mark written by some editors. */
        if (p->line == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
            s += 3;
        rc = parse_line(p, s);
    }
    /* The last lines read may have held an inline secret. */
    explicit_bzero(buf, sizeof(buf));
    return rc;
}

/* Reads the next line, its line feed included, into BUF (CONFIG_LINE_MAX + 3 bytes) and counts
 * it. *LEN is its length, SIZE_MAX at the end of the file. A line longer than CONFIG_LINE_MAX
 * bytes (its CR LF or LF aside) is an error, found without reading the rest of it. */
static int
read_line(struct parser *p, FILE *f, char *buf, size_t *len)
{
    size_t n = 0;
    int c;

    while ((c = getc(f)) != EOF) {
        /* One CR past the limit may still be the CR of a CR LF. */
        if (c != '\n' && n >= CONFIG_LINE_MAX && !(c == '\r' && n == CONFIG_LINE_MAX))
            return fail(p, p->line + 1, "line longer than %d bytes", CONFIG_LINE_MAX);
        buf[n++] = (char)c;
        if (c == '\n')
            break;
    }
    if (ferror(f))
        return fail(p, 0, "read error (%s)", strerror(errno));
    buf[n] = '\0';
    if (n == 0) {
        *len = SIZE_MAX;
        return CP_OK;
    }
    p->line++;
    *len = n;
    return CP_OK;
}

static int
parse_line(struct parser *p, char *s)
{
    s = trim(s);
    if (*s == '\0' || *s == '#' || *s == ';')
        return CP_OK;
    if (*s == '[')
        return parse_section(p, s);
    return parse_assignment(p, s);
}

static int
parse_section(struct parser *p, char *s)
{
    char *close = strchr(s, ']');

    if (close == NULL)
        return fail(p, p->line, "unterminated section header '%s'", s);
    if (!is_comment_or_end(close + 1))
        return fail(p, p->line, "text after section header");
    *close = '\0';
    char *name = trim(s + 1);
    for (size_t i = 0; i < cp_config_key_count; i++) {
        if (strcmp(cp_config_keys[i].section, name) == 0) {
            p->section = cp_config_keys[i].section;
            return CP_OK;
        }
    }
    return fail(p, p->line, "unknown section [%s]", name);
}

static int
parse_assignment(struct parser *p, char *s)
{
    char *eq = strchr(s, '=');
    char *value = NULL;
    int rc;

    if (eq == NULL) {
        /* Cut any inline comment so that the message quotes only the key. */
        for (char *c = s; *c != '\0'; c++) {
            if ((*c == '#' || *c == ';') && (c == s || c[-1] == ' ' || c[-1] == '\t')) {
                *c = '\0';
                break;
            }
        }
        return fail(p, p->line, "missing '=' after '%s'", trim(s));
    }
    *eq = '\0';
    char *name = trim(s);
    if (*name == '\0')
        return fail(p, p->line, "missing key name before '='");
    if (p->section == NULL)
        return fail(p, p->line, "key '%s' outside any [section]", name);
    int k = find_key(p->section, name);
    if (k < 0)
        return fail(p, p->line, "unknown key '%s' in [%s]", name, p->section);
    if (p->seen[k] != 0)
        return fail(p, p->line, "duplicate key '%s' in [%s] (first set on line %d)", name,
                    p->section, p->seen[k]);
    rc = extract_value(p, eq + 1, &value);
    if (rc != CP_OK)
        return rc;
    p->seen[k] = p->line;
    return store_value(p, (size_t)k, value, p->line);
}

/* The value after '=': either "quoted" (taken as is) or bare, ending at a '#' or ';' that
 * follows whitespace, with surrounding whitespace removed. *OUT points into S. */
static int
extract_value(struct parser *p, char *s, char **out)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '"') {
        char *end = strchr(s + 1, '"');
        if (end == NULL)
            return fail(p, p->line, "unterminated quoted value");
        if (!is_comment_or_end(end + 1))
            return fail(p, p->line, "text after quoted value");
        *end = '\0';
        *out = s + 1;
        return CP_OK;
    }
    for (char *c = s; *c != '\0'; c++) {
        if ((*c == '#' || *c == ';') && (c == s || c[-1] == ' ' || c[-1] == '\t')) {
            *c = '\0';
            break;
        }
    }
    *out = trim(s);
    return CP_OK;
}

/* Converts RAW for key K and stores it in the configuration. LINE is 0 for a default. */
static int
store_value(struct parser *p, size_t k, const char *raw, int line)
{
    const struct cp_config_key *key = &cp_config_keys[k];
    char *v;

    /* Required keys, and strings with a default, are never left empty: the daemon can use
     * them without checking for NULL. */
    if (*raw == '\0' &&
        (key->required || (key->type == CP_KEY_STRING && key->def != NULL && *key->def != '\0')))
        return fail(p, line, "%s: empty value", key->name);
    switch (key->type) {
    case CP_KEY_STRING:
        if (*raw == '\0' && key->words == NULL)
            return CP_OK; /* an optional string left empty is not set */
        v = strdup(raw);
        if (v == NULL)
            return fail(p, line, "out of memory");
        return store_string(p, key, v, line);
    case CP_KEY_INT:
        return store_int(p, key, raw, line);
    case CP_KEY_ENUM:
        return store_enum(p, key, raw, line);
    case CP_KEY_LIST:
        return store_list(p, key, raw, line);
    }
    return fail(p, line, "%s: unknown key type", key->name);
}

/* Takes ownership of V. */
static int
store_string(struct parser *p, const struct cp_config_key *key, char *v, int line)
{
    char **slot = field(p->cfg, key);
    char why[256], allowed[512];

    if (key->words != NULL) {
        int w = match_word(key->words, v);
        if (w < 0) {
            words_text(key->words, allowed, sizeof(allowed));
            fail(p, line, "%s: '%s' is not one of %s", key->name, v, allowed);
            free(v);
            return CP_EINVAL;
        }
        /* Stored as the table spells it: Exchange compares these case-sensitively. */
        strcpy(v, key->words[w]);
    } else if (key->check != NULL && key->check(v, why, sizeof(why)) != CP_OK) {
        fail(p, line, "%s: %s", key->name, why);
        free(v);
        return CP_EINVAL;
    }
    *slot = v;
    return CP_OK;
}

static int
store_int(struct parser *p, const struct cp_config_key *key, const char *v, int line)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || isspace((unsigned char)*v) || errno == ERANGE)
        return fail(p, line, "%s: '%s' is not an integer", key->name, v);
    if (n < key->min || n > key->max)
        return fail(p, line, "%s: %ld is out of range %d..%d", key->name, n, key->min, key->max);
    *(int *)field(p->cfg, key) = (int)n;
    return CP_OK;
}

static int
store_enum(struct parser *p, const struct cp_config_key *key, const char *v, int line)
{
    char allowed[512];
    int w = match_word(key->words, v);

    if (w < 0) {
        words_text(key->words, allowed, sizeof(allowed));
        return fail(p, line, "%s: '%s' is not one of %s", key->name, v, allowed);
    }
    *(int *)field(p->cfg, key) = w;
    return CP_OK;
}

/* Splits V at commas into trimmed, non-empty items, each passed through the key's check. */
static int
store_list(struct parser *p, const struct cp_config_key *key, const char *v, int line)
{
    struct cp_strlist *l = field(p->cfg, key);
    char why[256];
    size_t cap = 1;

    if (*v == '\0')
        return CP_OK;
    for (const char *c = v; *c != '\0'; c++)
        cap += *c == ',';
    l->items = calloc(cap, sizeof(*l->items));
    if (l->items == NULL)
        return fail(p, line, "out of memory");
    char *copy = strdup(v);
    if (copy == NULL)
        return fail(p, line, "out of memory");
    char *save = copy;
    int rc = CP_OK;
    for (size_t i = 0; i < cap && rc == CP_OK; i++) {
        char *comma = strchr(save, ',');
        if (comma != NULL)
            *comma = '\0';
        char *item = trim(save);
        save = comma ? comma + 1 : save + strlen(save);
        if (*item == '\0') {
            rc = fail(p, line, "%s: empty item in list", key->name);
        } else if (key->check != NULL && key->check(item, why, sizeof(why)) != CP_OK) {
            rc = fail(p, line, "%s: %s", key->name, why);
        } else if ((l->items[l->n] = strdup(item)) == NULL) {
            rc = fail(p, line, "out of memory");
        } else {
            l->n++;
        }
    }
    free(copy);
    return rc;
}

static int
match_word(const char *const *words, const char *v)
{
    for (int i = 0; words[i] != NULL; i++) {
        if (strcasecmp(words[i], v) == 0)
            return i;
    }
    return -1;
}

static void
words_text(const char *const *words, char *out, size_t outlen)
{
    size_t pos = 0;

    out[0] = '\0';
    for (int i = 0; words[i] != NULL && pos < outlen; i++) {
        int n = snprintf(out + pos, outlen - pos, "%s%s", i ? ", " : "", words[i]);
        if (n < 0)
            break;
        pos += (size_t)n;
    }
}

static int
apply_defaults(struct parser *p)
{
    for (size_t k = 0; k < cp_config_key_count; k++) {
        const struct cp_config_key *key = &cp_config_keys[k];
        if (p->seen[k] == 0 && key->def != NULL) {
            int rc = store_value(p, k, key->def, 0);
            if (rc != CP_OK)
                return rc;
        }
    }
    return CP_OK;
}

/* Keys that exclude each other (secret / secret_file, ...), then keys that must be given: a
 * conflict has a line to point at, a missing key has not. */
static int
check_pairs_and_required(struct parser *p)
{
    for (size_t k = 0; k < cp_config_key_count; k++) {
        const struct cp_config_key *key = &cp_config_keys[k];
        int other = key->either ? find_key(key->section, key->either) : -1;
        if (other >= 0 && p->seen[k] != 0 && p->seen[other] != 0 && p->seen[k] > p->seen[other])
            return fail(p, p->seen[k], "%s and %s are mutually exclusive", key->either, key->name);
    }
    for (size_t k = 0; k < cp_config_key_count; k++) {
        const struct cp_config_key *key = &cp_config_keys[k];
        int other = key->either ? find_key(key->section, key->either) : -1;
        if (!key->required || p->seen[k] != 0 || (other >= 0 && p->seen[other] != 0))
            continue;
        if (other < 0)
            return fail(p, 0, "missing required key '%s' in [%s]", key->name, key->section);
        if ((size_t)other > k)
            return fail(p, 0, "missing required key '%s' or '%s' in [%s]", key->name, key->either,
                        key->section);
    }
    return CP_OK;
}

/* Rules that span keys, then the secret files (read last: no point reading a secret for a
 * configuration that is refused anyway). */
static int
check_rules(struct parser *p)
{
    struct cp_config *c = p->cfg;
    int urls_line = p->seen[find_key("exchange", "ews_urls")];
    int rc;

    for (size_t i = 0; i < c->ews_urls.n; i++) {
        if (strcmp(c->ews_urls.items[i], "autodiscover") == 0 && c->ews_urls.n > 1)
            return fail(p, urls_line, "ews_urls: autodiscover must be the only entry");
    }
    if (c->ews_urls.n > 0) {
        if (c->auth == CP_AUTH_BEARER && c->token_file == NULL)
            return fail(p, 0, "[exchange] auth = bearer needs token_file");
        if (c->auth != CP_AUTH_BEARER && c->username == NULL)
            return fail(p, 0, "[exchange] ews_urls needs username");
        if (c->auth != CP_AUTH_BEARER && c->password == NULL && c->password_file == NULL)
            return fail(p, 0, "[exchange] ews_urls needs password or password_file");
        if (c->mode == CP_NOTIFY_PUSH && c->url == NULL)
            return fail(p, 0, "[notifications] url is required with mode = push");
    }
    if ((c->listen_cert == NULL) != (c->listen_key == NULL)) {
        const char *given = c->listen_cert ? "listen_cert" : "listen_key";
        return fail(p, p->seen[find_key("notifications", given)],
                    "[notifications] listen_cert and listen_key go together");
    }
    if (c->secret_file != NULL &&
        !missing_file_warned(p, "component", "secret_file", c->secret_file)) {
        rc = read_secret_file(p, "component", "secret_file", c->secret_file, &c->secret);
        if (rc != CP_OK)
            return rc;
    }
    if (c->password_file != NULL &&
        !missing_file_warned(p, "exchange", "password_file", c->password_file)) {
        rc = read_secret_file(p, "exchange", "password_file", c->password_file, &c->password);
        if (rc != CP_OK)
            return rc;
    }
    if (c->token_file != NULL && !missing_file_warned(p, "exchange", "token_file", c->token_file)) {
        int fd = open_private_file(p, "exchange", "token_file", c->token_file);
        if (fd < 0)
            return fd;
        close(fd);
    }
    return CP_OK;
}

/* Opens FILE, named by KEY of SECTION, for reading after checking that it is a regular file no
 * group or other user can read. Errors point at the line that set KEY. Returns the descriptor
 * (the caller closes it) or a negative cp_err. */
static int
open_private_file(struct parser *p, const char *section, const char *key, const char *file)
{
    int line = p->seen[find_key(section, key)];
    struct stat st;
    int fd, rc = open_regular(file, &fd, &st);

    if (rc == CP_EINVAL) {
        fail(p, line, "%s %s: not a regular file", key, file);
        return CP_EIO;
    }
    if (rc != CP_OK) {
        fail(p, line, "%s %s: cannot open (%s)", key, file, strerror(errno));
        return CP_EIO;
    }
    if ((st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
        close(fd);
        fail(p, line, "%s %s: readable by group or others (mode %04o); chmod 600 it", key, file,
             (unsigned)(st.st_mode & 07777));
        return CP_EPERM;
    }
    return fd;
}

/* Reads the secret in FILE (trailing line breaks removed) into *OUT, which the configuration
 * owns from then on. */
static int
read_secret_file(struct parser *p, const char *section, const char *key, const char *file,
                 char **out)
{
    int line = p->seen[find_key(section, key)];
    char *buf;
    size_t len = 0;
    ssize_t n;
    int fd = open_private_file(p, section, key, file);

    if (fd < 0)
        return fd;
    buf = malloc(SECRET_FILE_MAX + 1);
    if (buf == NULL) {
        close(fd);
        fail(p, line, "out of memory");
        return CP_ENOMEM;
    }
    while (len <= SECRET_FILE_MAX && (n = read(fd, buf + len, SECRET_FILE_MAX + 1 - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            close(fd);
            free_secret(buf);
            fail(p, line, "%s %s: read error (%s)", key, file, strerror(errno));
            return CP_EIO;
        }
        len += (size_t)n;
    }
    close(fd);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    buf[len < SECRET_FILE_MAX ? len : SECRET_FILE_MAX] = '\0';
    const char *why = NULL;
    if (len > SECRET_FILE_MAX)
        why = "larger than 64 KiB";
    else if (len == 0)
        why = "empty";
    else if (strlen(buf) != len)
        why = "contains a NUL byte";
    if (why != NULL) {
        explicit_bzero(buf, SECRET_FILE_MAX + 1);
        free(buf);
        fail(p, line, "%s %s: %s", key, file, why);
        return CP_EINVAL;
    }
    free_secret(*out);
    *out = buf;
    return CP_OK;
}

/* Overwrites a secret before its memory is returned, so that it does not linger in a core. */
static void
free_secret(char *s)
{
    if (s != NULL) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static void
strlist_free(struct cp_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

/* Frees CFG and every string it owns; NULL is allowed. */
void
cp_config_free(struct cp_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t k = 0; k < cp_config_key_count; k++) {
        const struct cp_config_key *key = &cp_config_keys[k];
        if (key->type == CP_KEY_LIST) {
            strlist_free(field(cfg, key));
        } else if (key->type == CP_KEY_STRING) {
            char **s = field(cfg, key);
            if (key->secret)
                free_secret(*s);
            else
                free(*s);
            *s = NULL;
        }
    }
    free(cfg->lines);
    free(cfg->path);
    free(cfg);
}

static bool
string_equal(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static bool
strlist_equal(const struct cp_strlist *a, const struct cp_strlist *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->items[i], b->items[i]) != 0)
            return false;
    }
    return true;
}

int
cp_config_diff(const struct cp_config *old, const struct cp_config *new,
               void (*report)(const char *section, const char *key, bool live, void *ud), void *ud)
{
    int restart = 0;

    for (size_t k = 0; k < cp_config_key_count; k++) {
        const struct cp_config_key *key = &cp_config_keys[k];
        bool same = true;
        switch (key->type) {
        case CP_KEY_STRING:
            same = string_equal(*(char **)field(old, key), *(char **)field(new, key));
            break;
        case CP_KEY_INT:
        case CP_KEY_ENUM:
            same = *(int *)field(old, key) == *(int *)field(new, key);
            break;
        case CP_KEY_LIST:
            same = strlist_equal(field(old, key), field(new, key));
            break;
        }
        if (same)
            continue;
        if (!key->live)
            restart++;
        if (report != NULL)
            report(key->section, key->name, key->live, ud);
    }
    return restart;
}

void
cp_config_keep_restart_only(struct cp_config *new, struct cp_config *old)
{
    for (size_t k = 0; k < cp_config_key_count; k++) {
        const struct cp_config_key *key = &cp_config_keys[k];
        if (key->live)
            continue;
        switch (key->type) {
        case CP_KEY_STRING: {
            char **a = field(new, key), **b = field(old, key), *s = *a;
            *a = *b;
            *b = s;
            break;
        }
        case CP_KEY_INT:
        case CP_KEY_ENUM: {
            int *a = field(new, key), *b = field(old, key), v = *a;
            *a = *b;
            *b = v;
            break;
        }
        case CP_KEY_LIST: {
            struct cp_strlist *a = field(new, key), *b = field(old, key), l = *a;
            *a = *b;
            *b = l;
            break;
        }
        }
    }
}

bool
cp_config_is_admin(const struct cp_config *cfg, const char *bare_jid)
{
    char bare[CP_JID_BARE_MAX];

    if (cfg == NULL || cp_jid_bare(bare_jid, bare, sizeof(bare)) != CP_OK)
        return false;
    for (size_t i = 0; i < cfg->admins.n; i++) {
        if (strcmp(cfg->admins.items[i], bare) == 0)
            return true;
    }
    return false;
}

int
cp_config_control_socket(const struct cp_config *cfg, char *out, size_t outlen)
{
    const char *slash = strrchr(cfg->store_path, '/');
    int n;

    if (cfg->control_socket != NULL)
        n = snprintf(out, outlen, "%s", cfg->control_socket);
    else if (slash == NULL)
        n = snprintf(out, outlen, "calpresence.sock");
    else
        n = snprintf(out, outlen, "%.*s/calpresence.sock", (int)(slash - cfg->store_path),
                     cfg->store_path);
    /* sun_path holds 108 bytes with the terminating NUL. */
    return n < 0 || (size_t)n >= outlen || n >= 108 ? CP_EINVAL : CP_OK;
}

bool
cp_config_serves_domain(const struct cp_config *cfg, const char *domain)
{
    if (cfg == NULL || domain == NULL)
        return false;
    for (size_t i = 0; i < cfg->domains.n; i++) {
        if (strcasecmp(cfg->domains.items[i], domain) == 0)
            return true;
    }
    return false;
}

/* Quotes a value that would not read back as itself when written bare. A trailing CR counts:
 * the reader drops CRs at the end of a line (a CR survives only before a blank, "a\r\t"). */
static void
print_value(FILE *out, const char *v)
{
    size_t n = strlen(v);
    bool quote = n > 0 && (v[0] == ' ' || v[0] == '\t' || v[0] == '"' || v[0] == '#' ||
                           v[0] == ';' || v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r');
    for (size_t i = 1; i < n && !quote; i++)
        quote = (v[i] == '#' || v[i] == ';') && (v[i - 1] == ' ' || v[i - 1] == '\t');
    fprintf(out, quote ? " \"%s\"" : " %s", v);
}

/* Prints L's items joined by ", " as one value, quoted when needed: an item starting with '#'
 * or ';' would otherwise start a comment after the ", " (fuzz_config found "domains = a, ;b"
 * reading back as "a,", issue 12). */
static void
print_list(FILE *out, const struct cp_strlist *l)
{
    char *joined = NULL;
    size_t len = 0;
    FILE *m;

    if (l->n == 0)
        return;
    m = open_memstream(&joined, &len);
    for (size_t i = 0; m != NULL && i < l->n; i++)
        fprintf(m, "%s%s", i ? ", " : "", l->items[i]);
    if (m != NULL && fclose(m) == 0)
        print_value(out, joined);
    else
        fputs(" (out of memory)", out);
    free(joined);
}

void
cp_config_print(const struct cp_config *cfg, FILE *out)
{
    const char *section = NULL;

    for (size_t k = 0; k < cp_config_key_count; k++) {
        const struct cp_config_key *key = &cp_config_keys[k];
        if (section == NULL || strcmp(section, key->section) != 0) {
            fprintf(out, "%s[%s]\n", section ? "\n" : "", key->section);
            section = key->section;
        }
        /* An unset string is shown commented out, as component.conf.example does: written
         * as "key =" it would not read back (an empty secret_file is refused). */
        if (key->type == CP_KEY_STRING && *(char **)field(cfg, key) == NULL)
            fputs("# ", out);
        fprintf(out, "%s =", key->name);
        switch (key->type) {
        case CP_KEY_STRING: {
            const char *s = *(char **)field(cfg, key);
            if (s != NULL)
                print_value(out, key->secret ? "(hidden)" : s);
            break;
        }
        case CP_KEY_INT:
            fprintf(out, " %d", *(int *)field(cfg, key));
            break;
        case CP_KEY_ENUM:
            fprintf(out, " %s", key->words[*(int *)field(cfg, key)]);
            break;
        case CP_KEY_LIST:
            print_list(out, field(cfg, key));
            break;
        }
        fputc('\n', out);
    }
}
