/* ews-sim: the directory and the calendars: service accounts, mailboxes, impersonation rights,
 * items and their recurrence expansion. Everything lives in memory, sized for 100,000
 * mailboxes with a few items each. */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const busy_names[] = {"Free", "Tentative",        "Busy",
                                         "OOF",  "WorkingElsewhere", "NoData"};

int
sim_busy_parse(const char *s)
{
    static const char *const alias[] = {"free", "tentative", "busy", "oof", "elsewhere", "nodata"};
    for (int i = 0; i <= BUSY_NODATA; i++)
        if (strcasecmp(s, busy_names[i]) == 0 || strcasecmp(s, alias[i]) == 0)
            return i;
    return -1;
}

const char *
sim_busy_name(int busy)
{
    return busy >= 0 && busy <= BUSY_NODATA ? busy_names[busy] : "Busy";
}

uint32_t
sim_account_add(const char *name, const char *password)
{
    uint32_t i = sim_account_find(name);
    struct sim_account *a;
    if (i != SIM_NONE) {
        free(g_sim.accounts[i].password);
        g_sim.accounts[i].password = sim_xstrdup(password);
        return i;
    }
    g_sim.accounts =
        sim_xrealloc(g_sim.accounts, (g_sim.naccounts + 1) * sizeof(struct sim_account));
    a = &g_sim.accounts[g_sim.naccounts];
    memset(a, 0, sizeof(*a));
    a->name = sim_xstrdup(name);
    a->password = sim_xstrdup(password);
    return g_sim.naccounts++;
}

uint32_t
sim_account_find(const char *name)
{
    for (uint32_t i = 0; i < g_sim.naccounts; i++)
        if (strcasecmp(g_sim.accounts[i].name, name) == 0)
            return i;
    return SIM_NONE;
}

/* Matches a login as clients send it: "user@domain", "DOMAIN\user", or user and domain apart
 * (NTLM); an account configured as UPN also answers to its bare user name. */
uint32_t
sim_account_login(const char *user, const char *domain)
{
    char buf[512];
    uint32_t i;
    if (domain && *domain) {
        snprintf(buf, sizeof(buf), "%s\\%s", domain, user);
        if ((i = sim_account_find(buf)) != SIM_NONE)
            return i;
        snprintf(buf, sizeof(buf), "%s@%s", user, domain);
        if ((i = sim_account_find(buf)) != SIM_NONE)
            return i;
    }
    if ((i = sim_account_find(user)) != SIM_NONE)
        return i;
    for (i = 0; i < g_sim.naccounts; i++) {
        const char *n = g_sim.accounts[i].name, *at = strchr(n, '@'), *bs = strchr(n, '\\');
        if (at && (size_t)(at - n) == strlen(user) && strncasecmp(n, user, strlen(user)) == 0)
            return i;
        if (bs && strcasecmp(bs + 1, user) == 0)
            return i;
    }
    return SIM_NONE;
}

static void
map_key(const char *key, uint32_t idx)
{
    char buf[512];
    if (!key)
        return;
    snprintf(buf, sizeof(buf), "%s", key);
    sim_lower(buf);
    sim_map_put(g_sim.mbx_map, buf, idx);
}

int
sim_mailbox_add(const char *smtp, const char *upn, const char *sid, int cas, uint32_t *idx)
{
    struct sim_mailbox *m;
    char buf[64];
    if (sim_mailbox_find(smtp) != SIM_NONE || (upn && sim_mailbox_find(upn) != SIM_NONE) ||
        (sid && sim_mailbox_find(sid) != SIM_NONE))
        return -1;
    if (g_sim.nmailboxes == g_sim.capmailboxes) {
        g_sim.capmailboxes = g_sim.capmailboxes ? g_sim.capmailboxes * 2 : 64;
        g_sim.mailboxes =
            sim_xrealloc(g_sim.mailboxes, g_sim.capmailboxes * sizeof(struct sim_mailbox));
    }
    m = &g_sim.mailboxes[g_sim.nmailboxes];
    memset(m, 0, sizeof(*m));
    m->idx = g_sim.nmailboxes;
    m->smtp = sim_xstrdup(smtp);
    m->upn = sim_xstrdup(upn ? upn : smtp);
    if (!sid) {
        snprintf(buf, sizeof(buf), "S-1-5-21-3623811015-3361044348-30300820-%u",
                 1100 + g_sim.nmailboxes);
        sid = buf;
    }
    m->sid = sim_xstrdup(sid);
    m->cas = cas;
    m->seq = 1;
    map_key(m->smtp, m->idx);
    map_key(m->upn, m->idx);
    map_key(m->sid, m->idx);
    if (idx)
        *idx = m->idx;
    g_sim.nmailboxes++;
    return 0;
}

uint32_t
sim_mailbox_find(const char *key)
{
    char buf[512];
    if (!key || strlen(key) >= sizeof(buf))
        return SIM_NONE;
    strcpy(buf, key);
    sim_lower(buf);
    return sim_map_get(g_sim.mbx_map, buf);
}

int
sim_may_impersonate(uint32_t account, uint32_t mailbox)
{
    const struct sim_mailbox *m = &g_sim.mailboxes[mailbox];
    if (g_sim.accounts[account].impersonate_all)
        return 1;
    for (uint32_t i = 0; i < m->ngrants; i++)
        if (m->grants[i] == account)
            return 1;
    return 0;
}

int
sim_grant(uint32_t account, uint32_t mailbox, int on)
{
    struct sim_mailbox *m;
    if (mailbox == SIM_NONE) {
        g_sim.accounts[account].impersonate_all = on;
        return 0;
    }
    m = &g_sim.mailboxes[mailbox];
    for (uint32_t i = 0; i < m->ngrants; i++) {
        if (m->grants[i] == account) {
            if (!on)
                m->grants[i] = m->grants[--m->ngrants];
            return 0;
        }
    }
    if (on) {
        m->grants = sim_xrealloc(m->grants, (m->ngrants + 1) * sizeof(uint32_t));
        m->grants[m->ngrants++] = account;
    }
    return 0;
}

/* Returns a new item owned by the store. */
struct sim_item *
sim_item_new(uint32_t mailbox, int64_t start, int64_t end, int busy, const char *subject)
{
    struct sim_item *it = sim_xcalloc(1, sizeof(*it));
    struct sim_mailbox *m = &g_sim.mailboxes[mailbox];
    if (g_sim.nitems == g_sim.capitems) {
        g_sim.capitems = g_sim.capitems ? g_sim.capitems * 2 : 256;
        g_sim.items = sim_xrealloc(g_sim.items, g_sim.capitems * sizeof(struct sim_item *));
    }
    it->id = g_sim.nitems;
    g_sim.items[g_sim.nitems++] = it;
    it->mailbox = mailbox;
    it->start = start;
    it->end = end;
    it->busy = (uint8_t)busy;
    it->created = sim_now();
    it->interval = 1;
    it->subject = sim_xstrdup(subject ? subject : "");
    if (m->nitems == m->capitems) {
        m->capitems = m->capitems ? m->capitems * 2 : 4;
        m->items = sim_xrealloc(m->items, m->capitems * sizeof(uint32_t));
    }
    m->items[m->nitems++] = it->id;
    return it;
}

/* The item with that id, owned by the store; NULL once deleted. */
struct sim_item *
sim_item_get(uint32_t id)
{
    return id < g_sim.nitems ? g_sim.items[id] : NULL;
}

static void
item_free(struct sim_item *it)
{
    free(it->subject);
    free(it->location);
    free(it->exc);
    free(it);
}

/* Takes it: removes it from its mailbox and frees it. */
void
sim_item_delete(struct sim_item *it)
{
    struct sim_mailbox *m = &g_sim.mailboxes[it->mailbox];
    for (uint32_t i = 0; i < m->nitems; i++) {
        if (m->items[i] == it->id) {
            m->items[i] = m->items[--m->nitems];
            break;
        }
    }
    g_sim.items[it->id] = NULL;
    item_free(it);
}

void
sim_mailbox_move(uint32_t mailbox, int cas)
{
    struct sim_mailbox *m = &g_sim.mailboxes[mailbox];
    m->cas = cas;
    m->generation++;
    sim_subs_mailbox_moved(mailbox);
}

/* Start of occurrence k of a series (before exceptions). */
static int64_t
occurrence_start(const struct sim_item *it, uint32_t k)
{
    const int64_t day = 86400;
    switch (it->recur) {
    case RECUR_DAILY:
        return it->start + (int64_t)k * it->interval * day;
    case RECUR_WEEKLY:
        return it->start + (int64_t)k * it->interval * 7 * day;
    case RECUR_WEEKDAYS: {
        /* k-th weekday counting the first occurrence's own day as 0 */
        int64_t t = it->start;
        int wd = (int)(((t / day) + 4) % 7); /* 0 = Sunday */
        uint32_t n = 0;
        while (wd == 0 || wd == 6) {
            t += day;
            wd = (wd + 1) % 7;
        }
        while (n < k) {
            t += day;
            wd = (wd + 1) % 7;
            if (wd != 0 && wd != 6)
                n++;
        }
        return t;
    }
    default:
        return it->start;
    }
}

static const struct sim_exception *
exception_of(const struct sim_item *it, uint32_t k)
{
    for (uint32_t i = 0; i < it->nexc; i++)
        if (it->exc[i].index == k)
            return &it->exc[i];
    return NULL;
}

/* Fills occ for occurrence index (1-based as in ids); -1 when it does not exist. */
int
sim_occurrence_find(const struct sim_item *it, uint32_t index, struct sim_occ *occ)
{
    const struct sim_exception *e;
    uint32_t k;
    if (index == 0 || it->recur == RECUR_NONE)
        return -1;
    k = index - 1;
    if (it->count && k >= it->count)
        return -1;
    e = exception_of(it, k);
    if (e && e->deleted)
        return -1;
    occ->item = it;
    occ->index = index;
    occ->start = e ? e->start : occurrence_start(it, k);
    occ->end = e ? e->end : occ->start + (it->end - it->start);
    occ->busy = e ? e->busy : it->busy;
    occ->type = e ? 2 : 1;
    return 0;
}

struct occ_list {
    struct sim_occ *v;
    size_t n, cap;
};

static void
occ_push(struct occ_list *l, const struct sim_occ *o)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = sim_xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = *o;
}

static int
occ_cmp(const void *a, const void *b)
{
    const struct sim_occ *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->item->id < y->item->id ? -1 : x->item->id > y->item->id;
}

static void
expand_series(const struct sim_item *it, int64_t from, int64_t to, struct occ_list *l)
{
    int64_t len = it->end - it->start;
    struct sim_occ o;
    for (uint32_t k = 0; !it->count || k < it->count; k++) {
        int64_t s = occurrence_start(it, k);
        if (s >= to && s - len - 7 * 86400 >= to)
            break; /* exceptions may move an occurrence by up to a week */
        if (sim_occurrence_find(it, k + 1, &o) == 0 && o.end > from && o.start < to)
            occ_push(l, &o);
    }
}

size_t
sim_calendar_view(uint32_t mailbox, int64_t from, int64_t to, struct sim_occ **out)
{
    const struct sim_mailbox *m = &g_sim.mailboxes[mailbox];
    struct occ_list l = {0};
    for (uint32_t i = 0; i < m->nitems; i++) {
        const struct sim_item *it = g_sim.items[m->items[i]];
        if (it->recur != RECUR_NONE) {
            expand_series(it, from, to, &l);
        } else if (it->end > from && it->start < to) {
            struct sim_occ o = {it, it->start, it->end, 0, it->busy, 0};
            occ_push(&l, &o);
        }
    }
    if (l.n > 1)
        qsort(l.v, l.n, sizeof(*l.v), occ_cmp);
    *out = l.v;
    return l.n;
}

/* Synthetic mailboxes for benchmarks: userNNNNN@example.com with three items around now. */
int
sim_populate(uint32_t n, int64_t now)
{
    char smtp[64], subj[64];
    int64_t day0 = now - now % 86400;
    for (uint32_t i = 1; i <= n; i++) {
        uint32_t idx;
        struct sim_item *it;
        snprintf(smtp, sizeof(smtp), "user%05u@example.com", i);
        if (sim_mailbox_add(smtp, NULL, NULL, (int)(i % (uint32_t)g_sim.ncas), &idx) < 0)
            continue;
        snprintf(subj, sizeof(subj), "Meeting %u", i);
        sim_item_new(idx, now + 3600 + (i % 60) * 60, now + 5400 + (i % 60) * 60, BUSY_BUSY, subj);
        sim_item_new(idx, now + 4 * 3600, now + 5 * 3600, BUSY_TENTATIVE, "Maybe");
        it = sim_item_new(idx, day0 + 9 * 3600, day0 + 9 * 3600 + 900, BUSY_BUSY, "Standup");
        it->recur = RECUR_WEEKDAYS;
    }
    return 0;
}

void
sim_store_free(void)
{
    for (uint32_t i = 0; i < g_sim.nitems; i++)
        if (g_sim.items[i])
            item_free(g_sim.items[i]);
    free(g_sim.items);
    for (uint32_t i = 0; i < g_sim.nmailboxes; i++) {
        struct sim_mailbox *m = &g_sim.mailboxes[i];
        free(m->smtp);
        free(m->upn);
        free(m->sid);
        free(m->items);
        free(m->grants);
    }
    free(g_sim.mailboxes);
    for (uint32_t i = 0; i < g_sim.naccounts; i++) {
        free(g_sim.accounts[i].name);
        free(g_sim.accounts[i].password);
    }
    free(g_sim.accounts);
    for (uint32_t i = 0; i < g_sim.ntokens; i++)
        free(g_sim.tokens[i]);
    free(g_sim.tokens);
    free(g_sim.token_owner);
    sim_map_free(g_sim.mbx_map);
}
