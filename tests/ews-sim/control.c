/* ews-sim: the control protocol. One command a line, on a control socket or in a scenario
 * file; every command answers zero or more data lines and then one line starting with "ok" or
 * "error". The commands change the world while the simulator runs (mailboxes, rights, items,
 * CAS listeners), inject faults and read counters; docs/ews-sim.md lists them. */
#include "subs.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/listener.h>

#define MAX_TOKENS 32

static struct evconnlistener *listener;
static char *unix_path;

/* Open control connections, freed at shutdown even if their clients are still there. */
struct client {
    struct bufferevent *bev;
    struct client *next;
};
static struct client *clients;

static void
client_free(struct bufferevent *bev)
{
    for (struct client **pp = &clients; *pp; pp = &(*pp)->next) {
        if ((*pp)->bev == bev) {
            struct client *c = *pp;
            *pp = c->next;
            free(c);
            break;
        }
    }
    bufferevent_free(bev);
}

struct args {
    char *v[MAX_TOKENS];
    int n;
};

/* Splits a line into words; "..." groups (with \" and \\ escapes), also after key=. */
static int
tokenize(const char *line, struct args *a, char *store, size_t cap)
{
    size_t j = 0;
    const char *p = line;
    a->n = 0;
    while (*p) {
        int quoted = 0, any = 0;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || *p == '#')
            break;
        if (a->n == MAX_TOKENS)
            return -1;
        a->v[a->n++] = store + j;
        while (*p && (quoted || !isspace((unsigned char)*p))) {
            if (*p == '"') {
                quoted = !quoted;
                p++;
                any = 1;
                continue;
            }
            if (quoted && *p == '\\' && p[1])
                p++;
            if (j + 2 >= cap)
                return -1;
            store[j++] = *p++;
            any = 1;
        }
        if (quoted || !any)
            return -1;
        store[j++] = '\0';
    }
    return 0;
}

/* now, +5m, -1h30m, now+90s, +2d, or an ISO 8601 date-time. */
static int
parse_when(const char *s, int64_t *t)
{
    int64_t v = sim_now();
    if (sim_parse_time(s, t) == 0)
        return 0;
    if (strncmp(s, "now", 3) == 0)
        s += 3;
    while (*s) {
        int sign = 1;
        long n;
        char *end;
        if (*s == '+' || *s == '-')
            sign = *s++ == '-' ? -1 : 1;
        else
            return -1;
        do {
            n = strtol(s, &end, 10);
            if (end == s)
                return -1;
            switch (*end) {
            case 's':
                v += sign * n;
                break;
            case 'm':
                v += sign * n * 60;
                break;
            case 'h':
                v += sign * n * 3600;
                break;
            case 'd':
                v += sign * n * 86400;
                break;
            default:
                return -1;
            }
            s = end + 1;
        } while (isdigit((unsigned char)*s));
    }
    *t = v;
    return 0;
}

static const char *
opt(const struct args *a, int from, const char *key)
{
    size_t k = strlen(key);
    for (int i = from; i < a->n; i++)
        if (strncmp(a->v[i], key, k) == 0 && a->v[i][k] == '=')
            return a->v[i] + k + 1;
    return NULL;
}

static int
has_word(const struct args *a, int from, const char *word)
{
    for (int i = from; i < a->n; i++)
        if (strcmp(a->v[i], word) == 0)
            return 1;
    return 0;
}

static int err(struct evbuffer *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
err(struct evbuffer *out, const char *fmt, ...)
{
    va_list ap;
    evbuffer_add_printf(out, "error ");
    va_start(ap, fmt);
    evbuffer_add_vprintf(out, fmt, ap);
    va_end(ap);
    evbuffer_add_printf(out, "\n");
    return -1;
}

static int
ok(struct evbuffer *out)
{
    evbuffer_add_printf(out, "ok\n");
    return 0;
}

static uint32_t
mailbox_arg(const char *s)
{
    return s ? sim_mailbox_find(s) : SIM_NONE;
}

/* The item with that handle (owned by the store), or NULL. */
static struct sim_item *
item_arg(const char *s)
{
    char *end;
    unsigned long id = strtoul(s, &end, 10);
    return *end || id >= SIM_NONE ? NULL : sim_item_get((uint32_t)id);
}

static int
cmd_account(const struct args *a, struct evbuffer *out)
{
    uint32_t acc;
    if (a->n >= 4 && strcmp(a->v[1], "add") == 0) {
        sim_account_add(a->v[2], a->v[3]);
        return ok(out);
    }
    if (a->n >= 4 && strcmp(a->v[1], "impersonate") == 0) {
        if ((acc = sim_account_find(a->v[2])) == SIM_NONE)
            return err(out, "no such account: %s", a->v[2]);
        g_sim.accounts[acc].impersonate_all = strcmp(a->v[3], "all") == 0;
        return ok(out);
    }
    return err(out, "usage: account add NAME PASSWORD | account impersonate NAME all|none");
}

static int
cmd_token(const struct args *a, struct evbuffer *out)
{
    uint32_t acc;
    if (a->n < 4 || strcmp(a->v[1], "add") != 0)
        return err(out, "usage: token add TOKEN ACCOUNT");
    if ((acc = sim_account_find(a->v[3])) == SIM_NONE)
        return err(out, "no such account: %s", a->v[3]);
    g_sim.tokens = sim_xrealloc(g_sim.tokens, (g_sim.ntokens + 1) * sizeof(char *));
    g_sim.token_owner = sim_xrealloc(g_sim.token_owner, (g_sim.ntokens + 1) * sizeof(uint32_t));
    g_sim.tokens[g_sim.ntokens] = sim_xstrdup(a->v[2]);
    g_sim.token_owner[g_sim.ntokens++] = acc;
    return ok(out);
}

static int
cmd_mailbox(const struct args *a, struct evbuffer *out)
{
    int cas = 0;
    uint32_t mbx;
    const char *c;
    if (a->n >= 3 && strcmp(a->v[1], "add") == 0) {
        c = opt(a, 3, "cas");
        if (c && (cas = sim_cas_find(c)) < 0)
            return err(out, "no such cas: %s", c);
        if (sim_mailbox_add(a->v[2], opt(a, 3, "upn"), opt(a, 3, "sid"), cas, NULL) < 0)
            return err(out, "mailbox exists: %s", a->v[2]);
        return ok(out);
    }
    if (a->n >= 4 && strcmp(a->v[1], "move") == 0) {
        if ((mbx = mailbox_arg(a->v[2])) == SIM_NONE)
            return err(out, "no such mailbox: %s", a->v[2]);
        if ((cas = sim_cas_find(a->v[3])) < 0)
            return err(out, "no such cas: %s", a->v[3]);
        sim_mailbox_move(mbx, cas);
        return ok(out);
    }
    if (a->n >= 3 && strcmp(a->v[1], "show") == 0) {
        const struct sim_mailbox *m;
        if ((mbx = mailbox_arg(a->v[2])) == SIM_NONE)
            return err(out, "no such mailbox: %s", a->v[2]);
        m = &g_sim.mailboxes[mbx];
        evbuffer_add_printf(out,
                            "mailbox %s upn=%s sid=%s cas=%s items=%u subscriptions=%u "
                            "requests=%llu watermark=%llu\n",
                            m->smtp, m->upn, m->sid, g_sim.cas[m->cas].name, m->nitems, m->nsubs,
                            (unsigned long long)m->requests, (unsigned long long)m->seq);
        return ok(out);
    }
    return err(out, "usage: mailbox add SMTP [upn=U] [sid=S] [cas=C] | mailbox move SMTP CAS | "
                    "mailbox show SMTP");
}

static int
cmd_grant(const struct args *a, struct evbuffer *out, int on)
{
    uint32_t acc, mbx = SIM_NONE;
    if (a->n < 3)
        return err(out, "usage: %s ACCOUNT MAILBOX|*", a->v[0]);
    if ((acc = sim_account_find(a->v[1])) == SIM_NONE)
        return err(out, "no such account: %s", a->v[1]);
    if (strcmp(a->v[2], "*") != 0 && (mbx = mailbox_arg(a->v[2])) == SIM_NONE)
        return err(out, "no such mailbox: %s", a->v[2]);
    sim_grant(acc, mbx, on);
    return ok(out);
}

static int
item_options(const struct args *a, int from, struct sim_item *it, struct evbuffer *out)
{
    const char *v;
    if ((v = opt(a, from, "busy"))) {
        int b = sim_busy_parse(v);
        if (b < 0)
            return err(out, "bad busy type: %s", v);
        it->busy = (uint8_t)b;
    }
    if ((v = opt(a, from, "subject"))) {
        free(it->subject);
        it->subject = sim_xstrdup(v);
    }
    if ((v = opt(a, from, "location"))) {
        free(it->location);
        it->location = sim_xstrdup(v);
    }
    if ((v = opt(a, from, "interval")))
        it->interval = (uint16_t)(atoi(v) > 0 ? atoi(v) : 1);
    if ((v = opt(a, from, "count")))
        it->count = (uint32_t)atoi(v);
    if (has_word(a, from, "daily"))
        it->recur = RECUR_DAILY;
    if (has_word(a, from, "weekly"))
        it->recur = RECUR_WEEKLY;
    if (has_word(a, from, "weekdays"))
        it->recur = RECUR_WEEKDAYS;
    if (has_word(a, from, "allday"))
        it->allday = 1;
    return 0;
}

static int
item_add(const struct args *a, struct evbuffer *out)
{
    uint32_t mbx;
    int64_t s, e;
    int busy;
    struct sim_item *it;
    if (a->n < 7)
        return err(out, "usage: item add MAILBOX START END BUSYTYPE SUBJECT [options]");
    if ((mbx = mailbox_arg(a->v[2])) == SIM_NONE)
        return err(out, "no such mailbox: %s", a->v[2]);
    if (parse_when(a->v[3], &s) < 0 || parse_when(a->v[4], &e) < 0 || e <= s)
        return err(out, "bad time range: %s %s", a->v[3], a->v[4]);
    if ((busy = sim_busy_parse(a->v[5])) < 0)
        return err(out, "bad busy type: %s", a->v[5]);
    it = sim_item_new(mbx, s, e, busy, a->v[6]);
    if (item_options(a, 7, it, out) < 0) {
        sim_item_delete(it);
        return -1;
    }
    sim_emit(mbx, EV_CREATED, it->id);
    evbuffer_add_printf(out, "ok %u\n", it->id);
    return 0;
}

static int
item_exception(const struct args *a, struct sim_item *it, struct evbuffer *out)
{
    struct sim_exception x = {0};
    struct sim_occ o;
    uint32_t i;
    if (a->n < 5 || it->recur == RECUR_NONE)
        return err(out, "usage: item exception ID N delete | item exception ID N START END [BUSY]");
    x.index = (uint32_t)atoi(a->v[3]);
    if (sim_occurrence_find(it, x.index + 1, &o) < 0 && !(x.index < it->count || !it->count))
        return err(out, "no occurrence %u", x.index);
    if (strcmp(a->v[4], "delete") == 0) {
        x.deleted = 1;
    } else if (a->n < 6 || parse_when(a->v[4], &x.start) < 0 || parse_when(a->v[5], &x.end) < 0 ||
               x.end <= x.start) {
        return err(out, "bad time range");
    } else {
        x.busy = it->busy;
        if (a->n > 6 && sim_busy_parse(a->v[6]) >= 0)
            x.busy = (uint8_t)sim_busy_parse(a->v[6]);
    }
    for (i = 0; i < it->nexc && it->exc[i].index != x.index; i++)
        ;
    if (i == it->nexc) {
        it->exc = sim_xrealloc(it->exc, (it->nexc + 1) * sizeof(*it->exc));
        it->nexc++;
    }
    it->exc[i] = x;
    return 0;
}

static int
cmd_item(const struct args *a, struct evbuffer *out)
{
    struct sim_item *it;
    const char *sub = a->n > 1 ? a->v[1] : "";
    if (strcmp(sub, "add") == 0)
        return item_add(a, out);
    if (a->n < 3 || !(it = item_arg(a->v[2])))
        return err(out,
                   "usage: item add|move|change|cancel|delete|exception ID ... (no such item)");
    if (strcmp(sub, "delete") == 0) {
        uint32_t mbx = it->mailbox, id = it->id;
        sim_item_delete(it);
        sim_emit(mbx, EV_DELETED, id);
        return ok(out);
    }
    if (strcmp(sub, "move") == 0) {
        int64_t s, e;
        if (a->n < 5 || parse_when(a->v[3], &s) < 0 || parse_when(a->v[4], &e) < 0 || e <= s)
            return err(out, "usage: item move ID START END");
        it->start = s;
        it->end = e;
    } else if (strcmp(sub, "change") == 0) {
        if (item_options(a, 3, it, out) < 0)
            return -1;
    } else if (strcmp(sub, "cancel") == 0) {
        it->cancelled = 1;
    } else if (strcmp(sub, "exception") == 0) {
        if (item_exception(a, it, out) < 0)
            return -1;
    } else {
        return err(out, "unknown item command: %s", sub);
    }
    it->changes++;
    sim_emit(it->mailbox, EV_MODIFIED, it->id);
    return ok(out);
}

static int
cmd_cas(const struct args *a, struct evbuffer *out)
{
    int cas;
    if (a->n < 3 || (cas = sim_cas_find(a->v[2])) < 0)
        return err(out, "usage: cas stop|start NAME");
    if (strcmp(a->v[1], "stop") == 0) {
        sim_cas_stop(cas);
        return ok(out);
    }
    if (strcmp(a->v[1], "start") == 0)
        return sim_cas_start(cas) == 0 ? ok(out) : err(out, "cannot listen");
    return err(out, "usage: cas stop|start NAME");
}

void
sim_faults_clear(void)
{
    while (g_sim.faults) {
        struct sim_fault *f = g_sim.faults;
        g_sim.faults = f->next;
        free(f->op);
        free(f->code);
        free(f->inner);
        free(f);
    }
}

int
sim_fault_take(int cas, const char *op, uint32_t mailbox, struct sim_fault *out)
{
    for (struct sim_fault **pp = &g_sim.faults; *pp; pp = &(*pp)->next) {
        struct sim_fault *f = *pp;
        if ((f->cas >= 0 && f->cas != cas) || (f->op && strcmp(f->op, op) != 0) ||
            (f->mailbox != SIM_NONE && f->mailbox != mailbox))
            continue;
        *out = *f;
        out->code = sim_xstrdup(f->code);
        out->inner = sim_xstrdup(f->inner);
        if (f->remaining > 0 && --f->remaining == 0) {
            *pp = f->next;
            free(f->op);
            free(f->code);
            free(f->inner);
            free(f);
        }
        return 0;
    }
    return -1;
}

static int
cmd_fault(const struct args *a, struct evbuffer *out)
{
    static const char *const kinds[] = {"busy",      "503",   "delay",  "drop",
                                        "malformed", "error", "message"};
    struct sim_fault f = {0}, *nf;
    const char *v;
    int k, argi = 3;
    if (a->n >= 2 && strcmp(a->v[1], "clear") == 0) {
        sim_faults_clear();
        return ok(out);
    }
    if (a->n < 3 || strcmp(a->v[1], "add") != 0)
        return err(out, "usage: fault add busy MS|503|delay MS|drop|malformed|error CODE|"
                        "message CODE [inner=CODE] [backoff=MS] [cas=C] [op=OP] [mailbox=M] "
                        "[count=N] | fault clear");
    for (k = 0; k < 7 && strcmp(a->v[2], kinds[k]) != 0; k++)
        ;
    if (k == 7)
        return err(out, "unknown fault: %s", a->v[2]);
    f.kind = k;
    if (k == FAULT_BUSY || k == FAULT_DELAY || k == FAULT_SOAP || k == FAULT_MESSAGE) {
        if (a->n < 4)
            return err(out, "fault %s needs an argument", a->v[2]);
        if (k == FAULT_SOAP || k == FAULT_MESSAGE)
            f.code = a->v[3];
        else
            f.arg = atol(a->v[3]);
        argi = 4;
    }
    if (k == FAULT_MESSAGE)
        f.arg = (v = opt(a, argi, "backoff")) ? atol(v) : -1;
    f.cas = -1;
    f.mailbox = SIM_NONE;
    f.remaining = -1;
    if ((v = opt(a, argi, "cas")) && (f.cas = sim_cas_find(v)) < 0)
        return err(out, "no such cas: %s", v);
    if ((v = opt(a, argi, "mailbox")) && (f.mailbox = sim_mailbox_find(v)) == SIM_NONE)
        return err(out, "no such mailbox: %s", v);
    if ((v = opt(a, argi, "count")))
        f.remaining = atol(v) > 0 ? atol(v) : 1;
    nf = sim_xcalloc(1, sizeof(*nf));
    *nf = f;
    nf->op = sim_xstrdup(opt(a, argi, "op"));
    nf->code = sim_xstrdup(f.code);
    nf->inner = sim_xstrdup(k == FAULT_MESSAGE ? opt(a, argi, "inner") : NULL);
    /* appended: faults apply in the order they were added */
    {
        struct sim_fault **pp = &g_sim.faults;
        while (*pp)
            pp = &(*pp)->next;
        *pp = nf;
    }
    return ok(out);
}

static int
cmd_limit(const struct args *a, struct evbuffer *out)
{
    long v = a->n >= 3 ? atol(a->v[2]) : -1;
    if (v < 0)
        return err(out, "usage: limit concurrency|subscriptions|backoff N");
    if (strcmp(a->v[1], "concurrency") == 0)
        g_sim.max_concurrency = (uint32_t)v;
    else if (strcmp(a->v[1], "subscriptions") == 0)
        g_sim.max_subscriptions = (uint32_t)v;
    else if (strcmp(a->v[1], "backoff") == 0)
        g_sim.busy_backoff_ms = v;
    else
        return err(out, "unknown limit: %s", a->v[1]);
    return ok(out);
}

static int
cmd_counters(const struct args *a, struct evbuffer *out)
{
    const struct sim_counters *c = &g_sim.ctr;
    uint32_t kinds[3] = {0};
    if (a->n >= 2 && strcmp(a->v[1], "reset") == 0) {
        memset(&g_sim.ctr, 0, sizeof(g_sim.ctr));
        memset(g_sim.op_count, 0, sizeof(g_sim.op_count));
        for (uint32_t i = 0; i < g_sim.nmailboxes; i++)
            g_sim.mailboxes[i].requests = 0;
        return ok(out);
    }
    for (uint32_t i = 0; i < g_sim.nsubs; i++)
        if (g_sim.subs[i])
            kinds[g_sim.subs[i]->kind]++;
#define C(name) evbuffer_add_printf(out, #name " %llu\n", (unsigned long long)c->name)
    C(http_requests);
    C(unauthorized);
    C(auth_failed);
    C(throttled);
    C(anchor_missing);
    C(anchor_mismatch);
    C(faults_applied);
    C(events);
    C(push_sent);
    C(push_ok);
    C(push_unsubscribe);
    C(push_failed);
    C(push_dropped);
    C(stream_frames);
#undef C
    evbuffer_add_printf(out,
                        "subscriptions %u\nsubscriptions_pull %u\nsubscriptions_push %u\n"
                        "subscriptions_streaming %u\nmailboxes %u\n",
                        g_sim.live_subs, kinds[SUB_PULL], kinds[SUB_PUSH], kinds[SUB_STREAM],
                        g_sim.nmailboxes);
    for (size_t i = 0; i < sim_op_count(); i++)
        evbuffer_add_printf(out, "op %s %llu\n", sim_op_name(i),
                            (unsigned long long)g_sim.op_count[i]);
    for (int i = 0; i < g_sim.ncas; i++)
        evbuffer_add_printf(out, "cas %s %llu %s\n", g_sim.cas[i].name,
                            (unsigned long long)g_sim.cas[i].requests,
                            g_sim.cas[i].running ? "running" : "stopped");
    for (int i = 2; i < a->n; i++) {
        uint32_t m = sim_mailbox_find(a->v[i]);
        if (strcmp(a->v[1], "mailbox") == 0 && m != SIM_NONE)
            evbuffer_add_printf(out, "mailbox %s %llu\n", g_sim.mailboxes[m].smtp,
                                (unsigned long long)g_sim.mailboxes[m].requests);
    }
    return ok(out);
}

/* "subscriptions list [MAILBOX]" shows them; "subscriptions forget MAILBOX|*" drops them
 * silently, as an Exchange that lost its in-memory subscriptions (app pool recycle). */
static int
cmd_subscriptions(const struct args *a, struct evbuffer *out)
{
    static const char *const kinds[] = {"pull", "push", "streaming"};
    uint32_t mbx = SIM_NONE;
    int forget;
    if (a->n < 2 || (strcmp(a->v[1], "list") != 0 && strcmp(a->v[1], "forget") != 0))
        return err(out, "usage: subscriptions list [MAILBOX] | subscriptions forget MAILBOX|*");
    forget = a->v[1][0] == 'f';
    if (forget && a->n < 3)
        return err(out, "usage: subscriptions forget MAILBOX|*");
    if (a->n >= 3 && strcmp(a->v[2], "*") != 0 && (mbx = mailbox_arg(a->v[2])) == SIM_NONE)
        return err(out, "no such mailbox: %s", a->v[2]);
    for (uint32_t i = 0; i < g_sim.nsubs; i++) {
        struct sim_sub *s = g_sim.subs[i];
        if (!s || (mbx != SIM_NONE && s->mailbox != mbx))
            continue;
        if (forget)
            sim_sub_delete(s);
        else
            evbuffer_add_printf(out, "subscription %s %s %s %s queued=%u%s\n", s->id,
                                kinds[s->kind], g_sim.mailboxes[s->mailbox].smtp,
                                g_sim.cas[s->cas].name, s->nq,
                                s->kind == SUB_STREAM && s->stream ? " connected" : "");
    }
    return ok(out);
}

int
sim_control_line(const char *line, struct evbuffer *out)
{
    char store[4096];
    struct args a;
    if (strlen(line) >= sizeof(store) || tokenize(line, &a, store, sizeof(store)) < 0)
        return err(out, "cannot parse the line");
    if (a.n == 0)
        return ok(out);
    if (strcmp(a.v[0], "account") == 0)
        return cmd_account(&a, out);
    if (strcmp(a.v[0], "token") == 0)
        return cmd_token(&a, out);
    if (strcmp(a.v[0], "mailbox") == 0)
        return cmd_mailbox(&a, out);
    if (strcmp(a.v[0], "grant") == 0 || strcmp(a.v[0], "revoke") == 0)
        return cmd_grant(&a, out, a.v[0][0] == 'g');
    if (strcmp(a.v[0], "item") == 0)
        return cmd_item(&a, out);
    if (strcmp(a.v[0], "cas") == 0)
        return cmd_cas(&a, out);
    if (strcmp(a.v[0], "fault") == 0)
        return cmd_fault(&a, out);
    if (strcmp(a.v[0], "limit") == 0)
        return cmd_limit(&a, out);
    if (strcmp(a.v[0], "counters") == 0)
        return cmd_counters(&a, out);
    if (strcmp(a.v[0], "subscriptions") == 0)
        return cmd_subscriptions(&a, out);
    if (strcmp(a.v[0], "populate") == 0 && a.n == 2 && atol(a.v[1]) > 0) {
        sim_populate((uint32_t)atol(a.v[1]), sim_now());
        return ok(out);
    }
    if (strcmp(a.v[0], "ping") == 0)
        return ok(out);
    return err(out, "unknown command: %s", a.v[0]);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
    struct evbuffer *in = bufferevent_get_input(bev);
    char *line;
    size_t n;
    (void)arg;
    while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF))) {
        struct evbuffer *out = evbuffer_new();
        sim_control_line(line, out);
        bufferevent_write_buffer(bev, out);
        evbuffer_free(out);
        free(line);
    }
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        client_free(bev);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
    struct bufferevent *bev = bufferevent_socket_new(g_sim.base, fd, BEV_OPT_CLOSE_ON_FREE);
    struct client *c = sim_xcalloc(1, sizeof(*c));
    c->bev = bev;
    c->next = clients;
    clients = c;
    (void)l;
    (void)sa;
    (void)len;
    (void)arg;
    bufferevent_setcb(bev, on_read, NULL, on_event, NULL);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

int
sim_control_listen(const char *spec)
{
    struct sockaddr_un un;
    struct sockaddr_in in;
    struct sockaddr *sa;
    socklen_t len;
    if (strchr(spec, '/')) {
        memset(&un, 0, sizeof(un));
        un.sun_family = AF_UNIX;
        if (strlen(spec) >= sizeof(un.sun_path))
            return -1;
        strcpy(un.sun_path, spec);
        unlink(spec);
        sa = (struct sockaddr *)&un;
        len = sizeof(un);
        unix_path = sim_xstrdup(spec);
    } else {
        const char *colon = strrchr(spec, ':');
        memset(&in, 0, sizeof(in));
        in.sin_family = AF_INET;
        in.sin_port = htons((uint16_t)atoi(colon ? colon + 1 : spec));
        in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sa = (struct sockaddr *)&in;
        len = sizeof(in);
    }
    listener = evconnlistener_new_bind(g_sim.base, on_accept, NULL,
                                       LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16, sa, (int)len);
    if (!listener)
        return -1;
    sim_log("control: listening on %s", spec);
    return 0;
}

int
sim_scenario_load(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int lineno = 0, rc = 0;
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        struct evbuffer *out = evbuffer_new();
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (sim_control_line(line, out) < 0) {
            size_t n = evbuffer_get_length(out);
            char *msg = (char *)evbuffer_pullup(out, -1);
            fprintf(stderr, "%s:%d: %.*s", path, lineno, (int)n, msg);
            rc = -1;
        }
        evbuffer_free(out);
        if (rc < 0)
            break;
    }
    fclose(f);
    return rc;
}

void
sim_control_free(void)
{
    while (clients)
        client_free(clients->bev);
    if (listener)
        evconnlistener_free(listener);
    if (unix_path) {
        unlink(unix_path);
        free(unix_path);
    }
    sim_faults_clear();
}
