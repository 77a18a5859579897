/* The console log (log.h): one line an event, UTC timestamp with milliseconds, level, area.
 *
 * Each line is formatted into one buffer and written with a single fwrite followed by fflush,
 * so that lines from the daemon stay whole and appear at once even when stderr is a pipe
 * (a pipe would otherwise be fully buffered). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "error.h"

/* Longer messages are cut; an operator line never needs more. */
#define LOG_LINE_MAX 4096

static enum cp_log_level current_level = CP_LOG_INFO;
static FILE *log_stream;
/* The stream is systemd's journal: each line starts with its syslog priority (sd-daemon(3)). */
static bool journal_prefix;

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const level_tags[] = {"ERROR", "WARN", "INFO", "DEBUG"};
/* LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG, as journalctl -p reads them. */
static const char *const level_priorities[] = {"<3>", "<4>", "<6>", "<7>"};

static size_t format_timestamp(char *buf, size_t len);
static void sanitize(char *s, size_t n);

void
cp_log_set_level(enum cp_log_level level)
{
    if (level < CP_LOG_ERROR)
        level = CP_LOG_ERROR;
    if (level > CP_LOG_DEBUG)
        level = CP_LOG_DEBUG;
    current_level = level;
}

enum cp_log_level
cp_log_get_level(void)
{
    return current_level;
}

int
cp_log_level_parse(const char *name, enum cp_log_level *out)
{
    if (name == NULL)
        return CP_EINVAL;
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (enum cp_log_level)i;
            return CP_OK;
        }
    }
    return CP_EINVAL;
}

const char *
cp_log_level_name(enum cp_log_level level)
{
    if (level < CP_LOG_ERROR || level > CP_LOG_DEBUG)
        return "unknown";
    return level_names[level];
}

void
cp_log_set_stream(FILE *stream)
{
    log_stream = stream;
}

/* systemd sets JOURNAL_STREAM to the device and inode of the stream it connected to stdout and
 * stderr. Comparing with the log's own descriptor tells the journal from a redirection the
 * service set up itself (`2>file`), which must not get the prefix. */
bool
cp_log_detect_journal(void)
{
    const char *env = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    char end;
    struct stat st;
    FILE *out = log_stream ? log_stream : stderr;

    journal_prefix = env != NULL && sscanf(env, "%llu:%llu%c", &dev, &ino, &end) == 2 &&
                     fstat(fileno(out), &st) == 0 && (unsigned long long)st.st_dev == dev &&
                     (unsigned long long)st.st_ino == ino;
    return journal_prefix;
}

/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" into BUF; returns its length (0 when the clock fails). */
static size_t
format_timestamp(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || gmtime_r(&ts.tv_sec, &tm) == NULL)
        return 0;
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    if (n == 0)
        return 0;
    int m = snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000L);
    if (m < 0 || (size_t)m >= len - n)
        return 0;
    return n + (size_t)m;
}

/* Keeps one event on one line whatever a message carries (a JID or a SOAP body from outside):
 * line breaks become spaces, other control characters '?'. */
static void
sanitize(char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n' || c == '\r')
            s[i] = ' ';
        else if ((c < ' ' && c != '\t') || c == 0x7f)
            s[i] = '?';
    }
}

void
cp_vlog(enum cp_log_level level, const char *area, const char *fmt, va_list ap)
{
    char line[LOG_LINE_MAX];
    size_t n;
    int m;

    if (level > current_level || level < CP_LOG_ERROR)
        return;
    n = journal_prefix ? (size_t)snprintf(line, sizeof(line), "%s", level_priorities[level]) : 0;
    size_t stamp = format_timestamp(line + n, sizeof(line) - n);
    n += stamp;
    m = snprintf(line + n, sizeof(line) - n, "%s%s %s: ", stamp ? " " : "", level_tags[level],
                 area ? area : "-");
    if (m > 0)
        n += (size_t)m < sizeof(line) - n ? (size_t)m : sizeof(line) - n - 1;
    size_t msg = n;
    m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    if (m > 0)
        n += (size_t)m < sizeof(line) - n ? (size_t)m : sizeof(line) - n - 1;
    sanitize(line + msg, n - msg);
    /* Room for the newline is kept by overwriting the last character of a cut line. */
    if (n >= sizeof(line) - 1)
        n = sizeof(line) - 2;
    line[n++] = '\n';

    FILE *out = log_stream ? log_stream : stderr;
    fwrite(line, 1, n, out);
    fflush(out);
}

void
cp_log(enum cp_log_level level, const char *area, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cp_vlog(level, area, fmt, ap);
    va_end(ap);
}
