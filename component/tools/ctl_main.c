/* calpresence-ctl: the administrator's command line to a running daemon, over its control
 * socket (docs/operations.md, "Scripting with calpresence-ctl"; calpresence-ctl(8)). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config/config.h"

/* Exit codes (calpresence-ctl(8)). */
enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,   /* the daemon did it and it failed, or is busy */
    EXIT_USAGE = 2,    /* bad command line or request */
    EXIT_INPUT = 3,    /* the input file has bad lines: nothing applied */
    EXIT_NOTFOUND = 4, /* no such user */
    EXIT_CONNECT = 5,  /* the daemon cannot be reached, or refused us */
};

#define DEFAULT_CONFIG "/etc/calpresence/calpresence.conf"

enum format { FMT_TEXT, FMT_CSV, FMT_JSON };

static const char *const columns[] = {"jid",    "mailbox",      "enabled", "state",
                                      "server", "subscription", "until",   "last_error"};
#define NCOLS (sizeof(columns) / sizeof(columns[0]))

static void usage(FILE *out);
static int connect_daemon(const char *path);
static int send_all(int fd, const char *buf, size_t len);
static int send_file(int fd, const char *path);
static int read_reply(int fd, enum format fmt, bool list, const char *file);
static void print_row(char *row, enum format fmt, size_t index);
static void csv_field(const char *s);
static void json_string(const char *s);

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: calpresence-ctl [-c FILE] [-s SOCKET] COMMAND\n"
            "  users list [--format text|csv|json] [--filter TEXT]\n"
            "  users enable FILE      one jid[,mailbox] a line\n"
            "  users disable FILE     one jid a line\n"
            "  user show JID\n"
            "  user resubscribe JID\n"
            "  reload\n"
            "  check [MAILBOX]\n"
            "  backup FILE\n"
            "-c FILE: the daemon's configuration (default " DEFAULT_CONFIG "), for the socket\n"
            "-s SOCKET: the control socket, instead of reading the configuration\n");
}

static int
connect_daemon(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "calpresence-ctl: %s: socket path too long\n", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "calpresence-ctl: cannot reach the daemon at %s: %s%s\n", path,
                strerror(errno),
                errno == EACCES ? " (run as root or as the daemon's user)"
                : errno == ENOENT || errno == ECONNREFUSED ? " (is calpresence running?)"
                                                           : "");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int
send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Every line of PATH, blank ones too (the daemon numbers them), dot-stuffed, then ".". A send
 * that fails means the daemon has answered already (a line too long): its reply says why. */
static int
send_file(int fd, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "calpresence-ctl: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        if (len == 0 || line[len - 1] != '\n')
            line[len++] = '\n'; /* getline leaves room for the NUL we overwrite */
        rc = (line[0] == '.' ? send_all(fd, ".", 1) : 0) || send_all(fd, line, (size_t)len);
    }
    if (rc == 0)
        rc = send_all(fd, ".\n", 2);
    free(line);
    if (f != stdin)
        fclose(f);
    return 0;
}

static void
csv_field(const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static void
json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void
print_row(char *row, enum format fmt, size_t index)
{
    char *field[NCOLS] = {0};
    size_t n = 0;
    for (char *p = row; n < NCOLS; n++) {
        field[n] = p;
        p = strchr(p, '\t');
        if (!p)
            break;
        *p++ = '\0';
    }
    for (size_t i = 0; i < NCOLS; i++) {
        if (!field[i])
            field[i] = "";
        if (fmt == FMT_CSV) {
            if (i)
                putchar(',');
            csv_field(field[i]);
        } else if (fmt == FMT_JSON) {
            printf("%s", i ? ", " : (index ? ",\n  {" : "  {"));
            json_string(columns[i]);
            printf(": ");
            if (i == 2)
                printf("%s", strcmp(field[i], "1") == 0 ? "true" : "false");
            else
                json_string(field[i]);
        } else if (i < 6) {
            printf("%s%s", i ? "  " : "", field[i][0] ? field[i] : "-");
        }
    }
    if (fmt == FMT_JSON)
        putchar('}');
    else
        putchar('\n');
}

/* Reads "D ..." lines until the final "OK ..." or "ERR CLASS ...". Returns the exit code. */
static int
read_reply(int fd, enum format fmt, bool list, const char *file)
{
    FILE *in = fdopen(fd, "r");
    char *line = NULL;
    size_t cap = 0, rows = 0;
    ssize_t len;
    int code = EXIT_CONNECT;
    if (!in)
        return EXIT_CONNECT;
    if (list && fmt == FMT_CSV) {
        for (size_t i = 0; i < NCOLS; i++)
            printf("%s%s", i ? "," : "", columns[i]);
        putchar('\n');
    } else if (list && fmt == FMT_JSON) {
        puts("[");
    }
    while ((len = getline(&line, &cap, in)) > 0) {
        if (line[len - 1] == '\n')
            line[--len] = '\0';
        if (strncmp(line, "D ", 2) == 0) {
            if (list)
                print_row(line + 2, fmt, rows++);
            else if (file && strncmp(line + 2, "line ", 5) == 0)
                fprintf(stderr, "%s: %s\n", file, line + 2);
            else
                puts(line + 2);
            continue;
        }
        if (strncmp(line, "OK", 2) == 0) {
            code = EXIT_OK;
            if (!list && line[2])
                puts(line + 3);
            else if (list && fmt == FMT_TEXT)
                fprintf(stderr, "%s\n", line + 3);
        } else if (strncmp(line, "ERR ", 4) == 0) {
            char *cls = line + 4, *msg = strchr(cls, ' ');
            if (msg)
                *msg++ = '\0';
            code = strcmp(cls, "usage") == 0      ? EXIT_USAGE
                   : strcmp(cls, "input") == 0    ? EXIT_INPUT
                   : strcmp(cls, "notfound") == 0 ? EXIT_NOTFOUND
                   : strcmp(cls, "denied") == 0   ? EXIT_CONNECT
                                                  : EXIT_FAILED;
            fprintf(stderr, "calpresence-ctl: %s%s%s\n", file && code == EXIT_INPUT ? file : "",
                    file && code == EXIT_INPUT ? ": " : "", msg ? msg : cls);
        } else {
            fprintf(stderr, "calpresence-ctl: unexpected answer from the daemon: %.200s\n", line);
        }
        break;
    }
    if (code == EXIT_CONNECT && len <= 0)
        fprintf(stderr, "calpresence-ctl: the daemon closed the connection without an answer "
                        "(see its log)\n");
    if (list && fmt == FMT_JSON)
        puts(rows ? "\n]" : "]");
    free(line);
    fclose(in);
    return code;
}

int
main(int argc, char **argv)
{
    const char *config = DEFAULT_CONFIG, *sock = NULL, *filter = "", *file = NULL;
    enum format fmt = FMT_TEXT;
    static const struct option longopts[] = {{"format", required_argument, NULL, 'f'},
                                             {"filter", required_argument, NULL, 'F'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int opt;
    /* "+" would stop at the first word; the options of `users list` come after it. */
    while ((opt = getopt_long(argc, argv, "c:s:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 's':
            sock = optarg;
            break;
        case 'f':
            fmt = strcmp(optarg, "csv") == 0    ? FMT_CSV
                  : strcmp(optarg, "json") == 0 ? FMT_JSON
                  : strcmp(optarg, "text") == 0 ? FMT_TEXT
                                                : (enum format) - 1;
            if ((int)fmt < 0) {
                fprintf(stderr, "calpresence-ctl: --format is text, csv or json\n");
                return EXIT_USAGE;
            }
            break;
        case 'F':
            filter = optarg;
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    char **w = argv + optind;
    int nw = argc - optind;
    char request[PATH_MAX + 64];
    bool list = false;
    if (nw == 2 && strcmp(w[0], "users") == 0 && strcmp(w[1], "list") == 0) {
        if (strchr(filter, '\n')) {
            fprintf(stderr, "calpresence-ctl: --filter is one line\n");
            return EXIT_USAGE;
        }
        snprintf(request, sizeof(request), "users-list %s\n", filter);
        list = true;
    } else if (nw == 3 && strcmp(w[0], "users") == 0 &&
               (strcmp(w[1], "enable") == 0 || strcmp(w[1], "disable") == 0)) {
        snprintf(request, sizeof(request), "users-%s\n", w[1]);
        file = w[2];
    } else if (nw == 3 && strcmp(w[0], "user") == 0 &&
               (strcmp(w[1], "show") == 0 || strcmp(w[1], "resubscribe") == 0)) {
        snprintf(request, sizeof(request), "user-%s %.1024s\n", w[1], w[2]);
    } else if (nw == 1 && strcmp(w[0], "reload") == 0) {
        snprintf(request, sizeof(request), "reload\n");
    } else if ((nw == 1 || nw == 2) && strcmp(w[0], "check") == 0) {
        snprintf(request, sizeof(request), "check%s%.1024s\n", nw == 2 ? " " : "",
                 nw == 2 ? w[1] : "");
    } else if (nw == 2 && strcmp(w[0], "backup") == 0) {
        /* The daemon writes the file: it needs the path as seen from anywhere. */
        char dir[PATH_MAX];
        if (w[1][0] == '/')
            snprintf(request, sizeof(request), "backup %s\n", w[1]);
        else if (getcwd(dir, sizeof(dir)))
            snprintf(request, sizeof(request), "backup %s/%s\n", dir, w[1]);
        else {
            fprintf(stderr, "calpresence-ctl: %s\n", strerror(errno));
            return EXIT_FAILED;
        }
    } else {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strchr(request, '\n') != strrchr(request, '\n')) {
        fprintf(stderr, "calpresence-ctl: arguments may not contain line breaks\n");
        return EXIT_USAGE;
    }

    char path[108];
    if (!sock) {
        struct cp_config *cfg = NULL;
        char err[512];
        if (cp_config_load(config, &cfg, err, sizeof(err)) != 0) {
            fprintf(stderr, "calpresence-ctl: %s (or give the socket with -s)\n", err);
            return EXIT_CONNECT;
        }
        int rc = cp_config_control_socket(cfg, path, sizeof(path));
        cp_config_free(cfg);
        if (rc != 0) {
            fprintf(stderr, "calpresence-ctl: the control socket's path is too long\n");
            return EXIT_CONNECT;
        }
        sock = path;
    }
    signal(SIGPIPE, SIG_IGN);
    int fd = connect_daemon(sock);
    if (fd < 0)
        return EXIT_CONNECT;
    if (send_all(fd, request, strlen(request)) == 0 && file && send_file(fd, file) != 0) {
        close(fd);
        return EXIT_USAGE;
    }
    return read_reply(fd, fmt, list, file);
}
