/* The console log: line format with a UTC millisecond timestamp, level filtering, level names,
 * one line per event whatever the message holds. */
#include <criterion/criterion.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "config/error.h"
#include "config/log.h"

static char *buf;
static size_t len;
static FILE *stream;

static void
capture(void)
{
    stream = open_memstream(&buf, &len);
    cr_assert_not_null(stream);
    cp_log_set_stream(stream);
}

static void
release(void)
{
    cp_log_set_stream(NULL);
    fclose(stream);
    free(buf);
}

TestSuite(log, .init = capture, .fini = release);

static void
assert_matches(const char *text, const char *pattern)
{
    regex_t re;

    cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE | REG_NOSUB), 0);
    int rc = regexec(&re, text, 0, NULL, 0);
    regfree(&re);
    cr_assert_eq(rc, 0, "'%s' does not match /%s/", text, pattern);
}

Test(log, line_format)
{
    cp_log_info("xmpp", "%s: %s (%d)", "calendar.example.com", "connected", 5347);
    fflush(stream);
    assert_matches(buf, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                        "INFO xmpp: calendar\\.example\\.com: connected \\(5347\\)\n$");
}

Test(log, every_level_tag)
{
    cp_log_set_level(CP_LOG_DEBUG);
    cp_log_error("a", "e");
    cp_log_warn("a", "w");
    cp_log_info("a", "i");
    cp_log_debug("a", "d");
    fflush(stream);
    assert_matches(buf,
                   "Z ERROR a: e\n[^\n]*Z WARN a: w\n[^\n]*Z INFO a: i\n[^\n]*Z DEBUG a: d\n$");
}

/* The timestamp is UTC whatever the local time zone says. */
Test(log, timestamp_is_utc_now)
{
    struct tm tm = {0};
    int ms;

    setenv("TZ", "America/New_York", 1);
    tzset();
    time_t before = time(NULL);
    cp_log_info("t", "now");
    time_t after = time(NULL);
    fflush(stream);
    cr_assert_eq(sscanf(buf, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                        &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms),
                 7);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t logged = timegm(&tm);
    /* One second of slack: time() may read a coarser clock than the log's. */
    cr_assert(logged >= before - 1 && logged <= after + 1, "logged %lld outside [%lld, %lld]",
              (long long)logged, (long long)before, (long long)after);
    cr_assert(ms >= 0 && ms <= 999);
}

Test(log, level_filter)
{
    cp_log_set_level(CP_LOG_WARN);
    cr_assert_eq(cp_log_get_level(), CP_LOG_WARN);
    cp_log_info("a", "hidden info");
    cp_log_debug("a", "hidden debug");
    cp_log_warn("a", "shown warn");
    cp_log_error("a", "shown error");
    fflush(stream);
    cr_assert_null(strstr(buf, "hidden"));
    cr_assert_not_null(strstr(buf, "WARN a: shown warn\n"));
    cr_assert_not_null(strstr(buf, "ERROR a: shown error\n"));

    cp_log_set_level(CP_LOG_ERROR);
    cp_log_warn("a", "now hidden");
    fflush(stream);
    cr_assert_null(strstr(buf, "now hidden"));
}

/* Each test runs in its own process, so this one sees the level nobody has set. */
Test(log, default_level_is_info)
{
    cr_assert_eq(cp_log_get_level(), CP_LOG_INFO);
}

Test(log, level_names)
{
    enum cp_log_level l;
    const char *names[] = {"error", "warn", "info", "debug"};

    for (int i = 0; i < 4; i++) {
        cr_assert_eq(cp_log_level_parse(names[i], &l), CP_OK);
        cr_assert_eq((int)l, i);
        cr_assert_str_eq(cp_log_level_name(l), names[i]);
    }
    cr_assert_eq(cp_log_level_parse("DEBUG", &l), CP_OK);
    cr_assert_eq(l, CP_LOG_DEBUG);
    cr_assert_eq(cp_log_level_parse("verbose", &l), CP_EINVAL);
    cr_assert_eq(cp_log_level_parse("", &l), CP_EINVAL);
    cr_assert_eq(cp_log_level_parse(NULL, &l), CP_EINVAL);
}

/* A JID or a SOAP body from outside cannot split an event over lines or forge one. */
Test(log, one_line_per_event)
{
    cp_log_info("xmpp", "user: %s", "evil\nINFO xmpp: forged\r\x1b[31m");
    fflush(stream);
    cr_assert_eq(strchr(buf, '\n'), buf + len - 1, "more than one line: '%s'", buf);
    cr_assert_not_null(strstr(buf, "user: evil INFO xmpp: forged ?[31m\n"));
}

Test(log, long_message_is_cut_to_one_line)
{
    char *big = malloc(10000);
    memset(big, 'x', 9999);
    big[9999] = '\0';
    cp_log_info("a", "%s", big);
    free(big);
    fflush(stream);
    cr_assert(len > 1000 && len < 10000, "length %zu", len);
    cr_assert_eq(buf[len - 1], '\n');
    cr_assert_eq(strchr(buf, '\n'), buf + len - 1);
}

/* Logs one line of each level to a temporary file while JOURNAL_STREAM names that file
 * (SAME_INODE) or another one; returns what was written (caller frees). */
static char *
log_to_journal_file(bool same_inode, bool *prefixed)
{
    FILE *f = tmpfile();
    struct stat st;
    char env[64];

    cr_assert_not_null(f);
    cr_assert_eq(fstat(fileno(f), &st), 0);
    snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino + (same_inode ? 0 : 1));
    setenv("JOURNAL_STREAM", env, 1);
    cp_log_set_stream(f);
    *prefixed = cp_log_detect_journal();
    cp_log_set_level(CP_LOG_DEBUG);
    cp_log_error("a", "e");
    cp_log_warn("a", "w");
    cp_log_info("a", "i");
    cp_log_debug("a", "d");
    unsetenv("JOURNAL_STREAM");
    cp_log_detect_journal();
    cp_log_set_stream(stream);

    long size = ftell(f);
    char *text = calloc(1, (size_t)size + 1);
    rewind(f);
    cr_assert_eq(fread(text, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    return text;
}

/* Under systemd the journal reads the priority from `<N>` (journalctl -p warning). */
Test(log, journal_stream_gets_priority_prefix)
{
    bool prefixed;
    char *text = log_to_journal_file(true, &prefixed);

    cr_assert(prefixed);
    assert_matches(text, "^<3>[0-9-]+T[^ ]+Z ERROR a: e\n<4>[^ ]+ WARN a: w\n"
                         "<6>[^ ]+ INFO a: i\n<7>[^ ]+ DEBUG a: d\n$");
    free(text);
}

/* JOURNAL_STREAM is inherited: a service that redirected stderr to a file, or a child of one,
 * must not write priorities into that file. */
Test(log, other_stream_stays_unprefixed)
{
    bool prefixed;
    char *text = log_to_journal_file(false, &prefixed);

    cr_assert_not(prefixed);
    assert_matches(text, "^[0-9-]+T[^ ]+Z ERROR a: e\n[^<][^\n]*WARN a: w\n");
    cr_assert_null(strchr(text, '<'), "%s", text);
    free(text);
}

/* Without JOURNAL_STREAM nothing changes (the harness runs the daemon so). */
Test(log, no_journal_stream_no_prefix)
{
    unsetenv("JOURNAL_STREAM");
    cr_assert_not(cp_log_detect_journal());
    cp_log_info("a", "i");
    fflush(stream);
    assert_matches(buf, "^[0-9]{4}-[^\n]*INFO a: i\n$");
}
