/* The console log: one line an event on stderr, for an operator.
 *
 * Format: `2026-11-23T10:00:00.123Z LEVEL area: subject: event (reason)`.
 * Never pass secrets; meeting subjects only for users who opted in. */
#ifndef CP_LOG_H
#define CP_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

enum cp_log_level {
    CP_LOG_ERROR = 0,
    CP_LOG_WARN = 1,
    CP_LOG_INFO = 2,
    CP_LOG_DEBUG = 3,
};

/* Sets the most verbose level written; the default is CP_LOG_INFO. */
void cp_log_set_level(enum cp_log_level level);
enum cp_log_level cp_log_get_level(void);

/* Parses "error", "warn", "info" or "debug"; returns 0 or CP_EINVAL. */
int cp_log_level_parse(const char *name, enum cp_log_level *out);
const char *cp_log_level_name(enum cp_log_level level);

/* Redirects the log (tests); NULL restores stderr. The stream stays the caller's. */
void cp_log_set_stream(FILE *stream);

/* Under systemd, when the log's stream is the journal (JOURNAL_STREAM names its device and
 * inode), every line from now on starts with its syslog priority, `<3>` to `<7>`, which the
 * journal strips and stores so that `journalctl -p warning` works. Call it after
 * cp_log_set_stream. Returns whether the prefix is on. */
bool cp_log_detect_journal(void);

/* Writes one line when LEVEL is enabled. AREA is a short subsystem name ("xmpp", "store",
 * "ews", "config", ...). FMT is printf-style and must not end with a newline. */
void cp_log(enum cp_log_level level, const char *area, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cp_vlog(enum cp_log_level level, const char *area, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#define cp_log_error(area, ...) cp_log(CP_LOG_ERROR, area, __VA_ARGS__)
#define cp_log_warn(area, ...) cp_log(CP_LOG_WARN, area, __VA_ARGS__)
#define cp_log_info(area, ...) cp_log(CP_LOG_INFO, area, __VA_ARGS__)
#define cp_log_debug(area, ...) cp_log(CP_LOG_DEBUG, area, __VA_ARGS__)

#endif
