/* calpresence-ews: reads a calendar, asks availability or watches notifications through the
 * configured Exchange servers, impersonation and trust store, for troubleshooting and for the
 * benchmarks (contract.md). It reads the daemon's configuration file and runs its own loop. */
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check/check.h"
#include "config/config.h"
#include "ews_tool_int.h"

/* Exit status of a wrong command line (0 = success, 1 = EWS error as contract.md says). */
#define EXIT_USAGE 2

static void usage(FILE *out);
static void read_token(const char *path);
static int make_client(struct tool *t, bool dump);
static void on_log(void *ud, int level, const char *area, const char *msg);
static void on_dump(void *ud, const char *direction, const char *what, const char *body,
                    size_t len);
static void print_cut(FILE *out, const char *text, size_t len, const struct cp_config *cfg);
static const char *busy_word(enum ews_busy b);
static void iso(time_t t, char *buf, size_t len);
static void on_calendar(void *ud, int rc, struct ews_calendar_view *v, const struct ews_error *err);
static void on_availability(void *ud, int rc, struct ews_availability *a,
                            const struct ews_error *err);
static void on_signal(evutil_socket_t sig, short events, void *arg);

static const char *const *avail_names;
/* The bearer token as read at start, only to cut it out of --dump output. */
static char dump_token[4096];

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: calpresence-ews -c FILE [--dump] calendar MAILBOX [HOURS]\n"
            "       calpresence-ews -c FILE [--dump] availability MAILBOX...\n"
            "       calpresence-ews -c FILE [--dump] watch MAILBOX [--count N]\n"
            "\n"
            "calendar      items of MAILBOX for the next HOURS (default 24): START END BUSYTYPE "
            "[SUBJECT]\n"
            "availability  GetUserAvailability for up to 100 mailboxes, next 24 hours\n"
            "watch         subscribe in the configured mode, one line a notification\n"
            "--dump        every SOAP request and answer on stderr (credentials are never "
            "printed)\n"
            "Exit status: 0 success, 1 EWS error (class and response code on stderr), 2 usage.\n");
}

void
tool_fail(struct tool *t, const char *what, const struct ews_error *err)
{
    char buf[512], http[32] = "";

    /* No HTTP answer at all (a connect or TLS failure) has no status worth printing. */
    if (err->http_status > 0)
        snprintf(http, sizeof(http), " (HTTP %d)", err->http_status);
    fprintf(stderr, "calpresence-ews: %s: %s%s%s%s: %s\n", what, ews_error_class_name(err->cls),
            err->code[0] != '\0' ? " " : "", err->code, http,
            err->message[0] != '\0' ? err->message : "no details");
    fprintf(stderr, "calpresence-ews: action: %s\n",
            ews_error_action(err, t->cfg ? t->cfg->username : NULL, buf, sizeof(buf)));
    t->status = 1;
}

void
tool_finish(struct tool *t)
{
    t->done = true;
    event_base_loopbreak(t->base);
}

static void
on_log(void *ud, int level, const char *area, const char *msg)
{
    (void)ud;
    cp_log((enum cp_log_level)level, area, "%s", msg);
}

/* Writes TEXT with every occurrence of the password or the bearer token replaced by "***":
 * EWS bodies carry no credential, but a dump must stay safe to paste even if one did. */
static void
print_cut(FILE *out, const char *text, size_t len, const struct cp_config *cfg)
{
    const char *secrets[2] = {cfg->password, dump_token[0] != '\0' ? dump_token : NULL};
    size_t i = 0;

    while (i < len) {
        size_t cut = 0;

        for (size_t k = 0; k < 2 && cut == 0; k++) {
            size_t sl = secrets[k] != NULL ? strlen(secrets[k]) : 0;

            if (sl >= 3 && sl <= len - i && memcmp(text + i, secrets[k], sl) == 0)
                cut = sl;
        }
        if (cut > 0) {
            fputs("***", out);
            i += cut;
        } else {
            fputc(text[i++], out);
        }
    }
}

static void
on_dump(void *ud, const char *direction, const char *what, const char *body, size_t len)
{
    struct tool *t = ud;

    fprintf(stderr, "--- %s %s\n", direction, what);
    print_cut(stderr, body, len, t->cfg);
    fputs("\n", stderr);
}

/* Keeps the token file's first line (trimmed) in dump_token; nothing when unreadable or not a
 * regular file (the configuration refused that already; O_NONBLOCK so that a FIFO swapped in
 * since cannot block the open). */
static void
read_token(const char *path)
{
    int fd = path != NULL ? open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC) : -1;
    struct stat st;
    FILE *f;

    if (fd < 0)
        return;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (f = fdopen(fd, "r")) == NULL) {
        close(fd);
        return;
    }
    if (fgets(dump_token, sizeof(dump_token), f) == NULL)
        dump_token[0] = '\0';
    dump_token[strcspn(dump_token, "\r\n \t")] = '\0';
    fclose(f);
}

static int
make_client(struct tool *t, bool dump)
{
    const struct cp_config *cfg = t->cfg;
    struct ews_config ec;
    char why[160];
    if (cp_ews_config_fill(cfg, &ec, why, sizeof(why)) != 0) {
        fprintf(stderr, "calpresence-ews: %s: %s\n", cfg->path, why);
        return 1;
    }
    ec.log = on_log;
    if (dump) {
        ec.dump = on_dump;
        ec.dump_ud = t;
        read_token(cfg->token_file);
    }
    if (ews_client_new(t->base, &ec, &t->client) != 0) {
        fprintf(stderr, "calpresence-ews: cannot create the EWS client (see the log above)\n");
        return 1;
    }
    return 0;
}

/* Exchange's own spelling of BusyType / LegacyFreeBusyStatus. */
static const char *
busy_word(enum ews_busy b)
{
    static const char *const words[] = {
        [EWS_BUSY_FREE] = "Free",
        [EWS_BUSY_TENTATIVE] = "Tentative",
        [EWS_BUSY_BUSY] = "Busy",
        [EWS_BUSY_OOF] = "OOF",
        [EWS_BUSY_WORKING_ELSEWHERE] = "WorkingElsewhere",
        [EWS_BUSY_NO_DATA] = "NoData",
        [EWS_BUSY_UNKNOWN] = "Unknown",
    };

    return (unsigned)b <= EWS_BUSY_UNKNOWN ? words[b] : "Unknown";
}

static void
iso(time_t t, char *buf, size_t len)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
on_calendar(void *ud, int rc, struct ews_calendar_view *v, const struct ews_error *err)
{
    struct tool *t = ud;

    if (rc != 0) {
        tool_fail(t, "calendar", err);
    } else {
        for (size_t i = 0; i < v->n_items; i++) {
            const struct ews_cal_item *it = &v->items[i];
            char s[32];
            char e[32];

            iso(it->start, s, sizeof(s));
            iso(it->end, e, sizeof(e));
            printf("%s %s %s%s%s%s\n", s, e, busy_word(it->busy),
                   it->cancelled ? " (cancelled)" : "", it->subject != NULL ? " " : "",
                   it->subject != NULL ? it->subject : "");
        }
    }
    tool_finish(t);
}

static void
on_availability(void *ud, int rc, struct ews_availability *a, const struct ews_error *err)
{
    struct tool *t = ud;

    if (rc != 0) {
        tool_fail(t, "availability", err);
        tool_finish(t);
        return;
    }
    for (size_t m = 0; m < a->n_mailboxes; m++) {
        const struct ews_mailbox_availability *mb = &a->mailboxes[m];

        if (mb->error.cls != EWS_ERR_NONE) {
            tool_fail(t, avail_names[m], &mb->error);
            continue;
        }
        for (size_t i = 0; i < mb->n_events; i++) {
            char s[32];
            char e[32];

            iso(mb->events[i].start, s, sizeof(s));
            iso(mb->events[i].end, e, sizeof(e));
            printf("%s %s %s %s\n", avail_names[m], s, e, busy_word(mb->events[i].busy));
        }
    }
    tool_finish(t);
}

static void
on_signal(evutil_socket_t sig, short events, void *arg)
{
    struct tool *t = arg;

    (void)sig;
    (void)events;
    if (t->watch == NULL || t->stopping) {
        t->status = 1;
        tool_finish(t);
        return;
    }
    tool_watch_stop(t);
}

/* Starts VERB with its ARGS; returns 0 when the loop must run, else the exit status. */
static int
start_verb(struct tool *t, const char *verb, int argc, char **argv)
{
    time_t now = time(NULL);
    int rc;

    if (strcmp(verb, "calendar") == 0 && (argc == 1 || argc == 2)) {
        long hours = argc == 2 ? strtol(argv[1], NULL, 10) : 24;

        if (hours < 1 || hours > 24 * 366) {
            fprintf(stderr, "calpresence-ews: HOURS must be 1..8784\n");
            return EXIT_USAGE;
        }
        rc =
            ews_calendar_view(t->client, argv[0], now, now + hours * 3600, 0, on_calendar, t, NULL);
    } else if (strcmp(verb, "availability") == 0 && argc >= 1) {
        if (argc > EWS_MAX_AVAILABILITY_MAILBOXES) {
            fprintf(stderr, "calpresence-ews: at most %d mailboxes\n",
                    EWS_MAX_AVAILABILITY_MAILBOXES);
            return EXIT_USAGE;
        }
        avail_names = (const char *const *)argv;
        rc = ews_availability(t->client, (const char *const *)argv, (size_t)argc, now,
                              now + 24 * 3600, on_availability, t, NULL);
    } else if (strcmp(verb, "watch") == 0 && argc == 1) {
        return tool_watch(t, argv[0]);
    } else {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (rc != 0) {
        fprintf(stderr, "calpresence-ews: %s: not started (%s)\n", verb,
                rc == EWS_E_NOMEM        ? "out of memory"
                : rc == EWS_E_QUEUE_FULL ? "the request queue is full"
                : rc == EWS_E_INVAL      ? "bad argument: at most 100 mailboxes"
                                         : "internal error");
        return 1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"dump", no_argument, NULL, 'd'},
        {"count", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct tool t = {0};
    struct cp_config *cfg = NULL;
    struct event *sigint;
    struct event *sigterm;
    const char *path = NULL;
    bool dump = false;
    char err[512];
    int c;
    int rc;

    /* GNU getopt permutes: options may also follow the verb (`watch MAILBOX --count 3`). */
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'd':
            dump = true;
            break;
        case 'n':
            t.count = strtol(optarg, NULL, 10);
            if (t.count < 1) {
                fprintf(stderr, "calpresence-ews: --count must be at least 1\n");
                return EXIT_USAGE;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (path == NULL || optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (cp_config_load(path, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    cp_log_set_level(cfg->log_level);
    t.cfg = cfg;
    t.base = event_base_new();
    rc = t.base != NULL ? make_client(&t, dump) : 1;
    if (rc == 0)
        rc = start_verb(&t, argv[optind], argc - optind - 1, argv + optind + 1);
    if (rc == 0) {
        sigint = evsignal_new(t.base, SIGINT, on_signal, &t);
        sigterm = evsignal_new(t.base, SIGTERM, on_signal, &t);
        evsignal_add(sigint, NULL);
        evsignal_add(sigterm, NULL);
        while (!t.done && event_base_loop(t.base, EVLOOP_ONCE) == 0)
            ;
        event_free(sigint);
        event_free(sigterm);
        rc = t.status;
    }
    tool_watch_free(&t);
    ews_client_destroy(t.client);
    if (t.base != NULL)
        event_base_free(t.base);
    cp_config_free(cfg);
    return rc;
}
