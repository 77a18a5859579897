/* Roster provisioning with XEP-0356 privileges. See roster.h; docs/privileges.md says what to
 * configure on each server and what users then see. */
#include "roster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/util.h>

#include "daemon.h"
#include "own.h"
#include "config/config.h"
#include "conn.h"
#include "presence.h"
#include "privilege.h"
#include "stanza.h"
#include "store/store.h"

#define NS_ROSTER "jabber:iq:roster"
/* Roster IQs in flight at once: each is a roster load and save on the server, so a
 * users-enable of thousands trickles instead of stalling it. */
#define SLOTS 4
/* Jobs started per loop turn, counting those that need no IQ (subscription requests), so that
 * 100,000 of them never hold the loop or pile up in libstrophe's queue. */
#define TURN_MAX 64
/* Beyond this many queued stanzas the pump waits for the queue to drain. */
#define SENDQ_MAX 1000
#define OP_TIMEOUT_S 30
#define RETRY_S 60
/* The server advertises privileges right after the handshake; queued work waits this long for
 * the advertisement before concluding that none were granted. */
#define GRACE_MS 2000
#define DOMAINS_MAX 16
/* Roster sets a domain may fail with a temporary error before any succeeded on this connection
 * before it counts as refusing them: ejabberd 23.01 answers every privileged roster set with
 * <internal-server-error type='wait'/> (its mod_roster looks up its own options for the
 * component's domain and crashes), which reads like a passing failure. */
#define SET_TRIES 3

struct slot {
    struct cp_roster *r;
    bool busy;
    enum cp_roster_op op;
    char id[40];
    char user[CP_JID_BARE_MAX];
    char contact[CP_JID_BARE_MAX]; /* "" for a roster read */
    struct event *timer;
};

/* What one virtual host of the server granted (each advertises for itself). */
struct grant {
    char domain[CP_JID_PART_MAX + 1];
    struct cp_privileges p;
    bool set_refused; /* a roster set failed although granted: ejabberd before 23.10 */
    bool set_worked;  /* a roster set succeeded on this connection */
    int set_failed;   /* temporary roster set failures before any succeeded */
};

struct cp_roster {
    struct cp_daemon *d;
    struct slot slots[SLOTS];
    struct event *kick;  /* the next pump: grace after a handshake, or the next turn */
    struct event *retry; /* every RETRY_S while online: deferred jobs fall due */
    struct event *check; /* every [privilege] roster_check_interval: rosters re-read */
    struct event *flush; /* writes the users changed in this loop turn in one transaction */
    char **changed;      /* owned JIDs waiting for flush */
    size_t nchanged, capchanged;
    bool told_no_read; /* the "roster not read" explanation was logged on this connection */
    struct grant grants[DOMAINS_MAX];
    size_t ngrants;
    bool online;
    bool pumping;
    int turn; /* jobs started in this pump */
    unsigned long added, asked, removed;
};

static void pump(struct cp_roster *r);
static void kick_in(struct cp_roster *r, long ms);
static const struct grant *grant_of(const struct cp_roster *r, const char *jid);
static int domain_of(const char *bare, char *domain, size_t len);
static bool served(const struct cp_roster *r, const char *bare);
static int calendar_of(const struct cp_roster *r, const char *user, char *out, size_t len);
static void release(struct slot *s);
static int on_result(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *ud);
static void on_flush(evutil_socket_t fd, short what, void *ud);
static void on_check(evutil_socket_t fd, short what, void *ud);

static int
domain_of(const char *bare, char *domain, size_t len)
{
    char local[CP_JID_PART_MAX + 1];
    return cp_jid_split(bare, local, sizeof(local), domain, len);
}

static bool
served(const struct cp_roster *r, const char *bare)
{
    char domain[CP_JID_PART_MAX + 1];
    return domain_of(bare, domain, sizeof(domain)) == 0 &&
           cp_config_serves_domain(r->d->cfg, domain);
}

static int
calendar_of(const struct cp_roster *r, const char *user, char *out, size_t len)
{
    return cp_jid_calendar(user, r->d->cfg->domains.items[0], r->d->cfg->jid, out, len);
}

static const struct grant *
grant_of(const struct cp_roster *r, const char *jid)
{
    char domain[CP_JID_PART_MAX + 1];
    if (domain_of(jid, domain, sizeof(domain)) != 0)
        return NULL;
    for (size_t i = 0; i < r->ngrants; i++)
        if (strcmp(r->grants[i].domain, domain) == 0)
            return &r->grants[i];
    return NULL;
}

static bool
may_set(const struct grant *g)
{
    return g && (g->p.roster & CP_PRIV_ROSTER_SET) && !g->set_refused;
}

/* ---- sending ---- */

/* An <iq type=TYPE to=TO> from the component with a roster query; the query is returned,
 * borrowed, through *QUERY. Caller releases the IQ. */
static xmpp_stanza_t *
roster_iq(struct cp_roster *r, const char *type, const char *to, const char *id,
          xmpp_stanza_t **query)
{
    xmpp_stanza_t *iq = xmpp_iq_new(cp_xmpp_ctx(r->d->xmpp), type, id);
    if (!iq)
        return NULL;
    xmpp_stanza_set_from(iq, r->d->cfg->jid);
    xmpp_stanza_set_to(iq, to);
    *query = cp_stanza_add(iq, "query", NS_ROSTER);
    if (!*query) {
        xmpp_stanza_release(iq);
        return NULL;
    }
    return iq;
}

/* <item jid=CAL name=... subscription=SUB><group>...</group></item>: with 'to' the contact
 * holds a subscription to the calendar JID, which is what makes the server probe it when the
 * contact logs in and deliver its presence; the component keeps the contact as a subscriber. */
static int
add_item(struct cp_roster *r, xmpp_stanza_t *query, const char *user, const char *cal, bool remove)
{
    xmpp_stanza_t *item = cp_stanza_add(query, "item", NULL);
    if (!item)
        return CP_ENOMEM;
    xmpp_stanza_set_attribute(item, "jid", cal);
    if (remove) {
        xmpp_stanza_set_attribute(item, "subscription", "remove");
        return CP_OK;
    }
    char local[CP_JID_PART_MAX + 1], domain[CP_JID_PART_MAX + 1], name[CP_JID_PART_MAX + 16];
    if (cp_jid_split(user, local, sizeof(local), domain, sizeof(domain)) != 0)
        return CP_EINVAL;
    snprintf(name, sizeof(name), "%s (calendar)", local);
    xmpp_stanza_set_attribute(item, "name", name);
    xmpp_stanza_set_attribute(item, "subscription", "to");
    return cp_stanza_add_text(item, "group", r->d->cfg->roster_group);
}

/* Sends the IQ of job OP for (USER, CONTACT) from slot S. Returns 0 once it is in flight. */
static int
send_job(struct cp_roster *r, struct slot *s, const char *cal)
{
    unsigned char rnd[8];
    /* A random id: the answer is taken only from the JID asked, and nobody can guess the id
     * to slip in a forged roster first. */
    evutil_secure_rng_get_bytes(rnd, sizeof(rnd));
    snprintf(s->id, sizeof(s->id), "roster-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
             rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    xmpp_stanza_t *query = NULL;
    bool read = s->op == CP_ROSTER_PROVISION;
    xmpp_stanza_t *iq =
        roster_iq(r, read ? "get" : "set", read ? s->user : s->contact, s->id, &query);
    if (!iq)
        return CP_ENOMEM;
    if ((!read && add_item(r, query, s->user, cal, s->op == CP_ROSTER_REMOVE) != 0) ||
        cp_xmpp_iq_wait(r->d->xmpp, s->id, on_result, s) != 0) {
        xmpp_stanza_release(iq);
        return CP_ENOMEM;
    }
    struct timeval tv = {OP_TIMEOUT_S, 0};
    event_add(s->timer, &tv);
    s->busy = true;
    cp_xmpp_send(r->d->xmpp, iq);
    xmpp_stanza_release(iq);
    return CP_OK;
}

/* No roster write access for CONTACT's domain: a plain subscription request from the calendar
 * JID, which the contact's client shows them; once they accept and subscribe back, the
 * ordinary subscription path (presence.c) takes over. */
static void
ask_contact(struct cp_roster *r, const char *user, const char *contact, const char *cal,
            const char *why)
{
    /* A client that takes XEP-0144 suggestions offers to add the item itself (own.c). */
    bool suggested = cp_own_suggest(r->d->own, user, contact, cal) == 0;
    if (!suggested) {
        xmpp_stanza_t *pres = xmpp_presence_new(cp_xmpp_ctx(r->d->xmpp));
        if (!pres)
            return;
        xmpp_stanza_set_from(pres, cal);
        xmpp_stanza_set_to(pres, contact);
        xmpp_stanza_set_type(pres, "subscribe");
        cp_xmpp_send(r->d->xmpp, pres);
        xmpp_stanza_release(pres);
    }
    cp_store_roster_item_set(r->d->store, user, contact, CP_ROSTER_SUBSCRIBE);
    cp_store_roster_job_done(r->d->store, user, contact, CP_ROSTER_ADD);
    r->asked++;
    if (!suggested)
        cp_log_info("roster", "%s: asked %s to subscribe to %s (%s)", user, contact, cal, why);
}

static int
match_subscriber(const char *user_jid, const char *subscriber, void *ud)
{
    (void)user_jid;
    return strcmp(subscriber, ud) == 0 ? 1 : 0;
}

static bool
is_subscriber(struct cp_store *st, const char *user, const char *contact)
{
    return cp_store_subscribers_each(st, user, match_subscriber, (void *)contact) == 1;
}

/* Starts one job. Returns 1 when an IQ went out on a slot, 0 when it finished at once. */
static int
start_job(struct cp_roster *r, struct slot *s, const char *user, const char *contact,
          enum cp_roster_op op)
{
    struct cp_store *st = r->d->store;
    char cal[CP_JID_BARE_MAX];
    if (calendar_of(r, user, cal, sizeof(cal)) != 0) {
        cp_store_roster_job_done(st, user, contact, op);
        return 0;
    }
    const struct grant *g = grant_of(r, op == CP_ROSTER_PROVISION ? user : contact);
    s->op = op;
    snprintf(s->user, sizeof(s->user), "%s", user);
    snprintf(s->contact, sizeof(s->contact), "%s", contact);
    if (op == CP_ROSTER_PROVISION && !(g && (g->p.roster & CP_PRIV_ROSTER_GET))) {
        /* Once per connection in full; a users-enable of thousands is not thousands of lines. */
        if (r->told_no_read)
            cp_log_debug("roster", "%s: roster not read (no roster access)", user);
        else
            cp_log_info("roster",
                        "%s: roster not read (the server grants the component no "
                        "roster access for this domain, see docs/privileges.md): "
                        "contacts see %s once they subscribe to it; further users "
                        "are logged at debug level",
                        user, cal);
        r->told_no_read = true;
        cp_store_roster_job_done(st, user, contact, op);
        return 0;
    }
    if (op == CP_ROSTER_ADD && !may_set(g)) {
        ask_contact(r, user, contact, cal,
                    g && g->set_refused ? "the server refused roster changes"
                                        : "no roster write privilege");
        return 0;
    }
    if (op == CP_ROSTER_ADD && !is_subscriber(st, user, contact) &&
        cp_store_subscriptions_of(st, contact) >= CP_MAX_SUBSCRIPTIONS_PER_SUBSCRIBER) {
        cp_log_warn("roster", "%s: %s not provisioned (already %d calendars)", user, contact,
                    CP_MAX_SUBSCRIPTIONS_PER_SUBSCRIBER);
        cp_store_roster_job_done(st, user, contact, op);
        return 0;
    }
    if (op == CP_ROSTER_REMOVE && !may_set(g)) {
        cp_log_warn("roster",
                    "%s: %s stays in %s's roster (no roster write privilege any more): "
                    "the contact removes it by hand",
                    user, cal, contact);
        cp_store_roster_item_remove(st, user, contact);
        cp_store_roster_job_done(st, user, contact, op);
        return 0;
    }
    if (send_job(r, s, cal) != 0) {
        cp_log_warn("roster", "%s: out of memory sending a roster request: retrying in %d s", user,
                    RETRY_S);
        cp_store_roster_job_defer(st, user, contact, (int64_t)time(NULL) + RETRY_S);
        return 0;
    }
    return 1;
}

/* ---- answers ---- */

static void
defer(struct cp_roster *r, struct slot *s, const char *why)
{
    cp_log_warn("roster", "%s: %s %s%s%s: retrying in %d s", s->user,
                s->op == CP_ROSTER_PROVISION ? "reading the roster"
                : s->op == CP_ROSTER_ADD     ? "adding the calendar to"
                                             : "removing the calendar from",
                s->contact, s->contact[0] ? "'s roster " : "", why, RETRY_S);
    cp_store_roster_job_defer(r->d->store, s->user, s->contact, (int64_t)time(NULL) + RETRY_S);
}

long
cp_roster_items_each(xmpp_stanza_t *result, const char *user, cp_roster_item_cb each, void *ud)
{
    xmpp_stanza_t *query = xmpp_stanza_get_child_by_name_and_ns(result, "query", NS_ROSTER);
    long n = 0;
    for (xmpp_stanza_t *it = query ? xmpp_stanza_get_children(query) : NULL; it;
         it = xmpp_stanza_get_next(it)) {
        const char *jid = xmpp_stanza_is_tag(it) ? xmpp_stanza_get_attribute(it, "jid") : NULL;
        const char *sub = jid ? xmpp_stanza_get_attribute(it, "subscription") : NULL;
        char bare[CP_JID_BARE_MAX];
        if (!jid || (sub && strcmp(sub, "remove") == 0) ||
            cp_jid_bare(jid, bare, sizeof(bare)) != 0 || strcmp(bare, user) == 0)
            continue;
        each(bare, ud);
        n++;
    }
    return n;
}

/* The served contacts of a roster answer, sorted and unique, each with whether the store
 * already records something done to its roster. */
struct contacts {
    char **jid; /* owned */
    bool *recorded;
    size_t n, cap;
    long other;       /* items elsewhere: another server's users, calendar JIDs themselves */
    bool read_before; /* a re-read: the user's roster was read before */
    char **gone;      /* owned: recorded contacts no longer in the roster, with... */
    bool *gone_item;  /* ...whether the calendar JID is in their roster (else they were asked) */
    size_t ngone, capgone;
    bool oom;
};

static int
cmp_jid(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
contacts_free(struct contacts *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->jid[i]);
    for (size_t i = 0; i < c->ngone; i++)
        free(c->gone[i]);
    free(c->jid);
    free(c->recorded);
    free(c->gone);
    free(c->gone_item);
}

/* Appends a copy of JID to LIST (of N, capacity CAP) with FLAG beside it in FLAGS. */
static int
push_jid(char ***list, bool **flags, size_t *n, size_t *cap, const char *jid, bool flag)
{
    if (*n == *cap) {
        size_t grown = *cap ? 2 * *cap : 32;
        char **l = realloc(*list, grown * sizeof(*l));
        if (l)
            *list = l;
        bool *f = realloc(*flags, grown * sizeof(*f));
        if (f)
            *flags = f;
        if (!l || !f)
            return CP_ENOMEM;
        *cap = grown;
    }
    char *copy = strdup(jid);
    if (!copy)
        return CP_ENOMEM;
    (*list)[*n] = copy;
    (*flags)[(*n)++] = flag;
    return CP_OK;
}

/* The context of contacts_parse: the roster module, to know the served domains. */
struct parse_ctx {
    const struct cp_roster *r;
    struct contacts *c;
};

static void
parse_one(const char *contact, void *ud)
{
    struct parse_ctx *p = ud;
    struct contacts *c = p->c;
    if (!served(p->r, contact))
        c->other++; /* another server's users, and calendar JIDs themselves */
    else if (!c->oom && push_jid(&c->jid, &c->recorded, &c->n, &c->cap, contact, false) != 0)
        c->oom = true;
}

static int
contacts_parse(const struct cp_roster *r, const char *user, xmpp_stanza_t *result,
               struct contacts *c)
{
    struct parse_ctx p = {r, c};
    cp_roster_items_each(result, user, parse_one, &p);
    if (c->oom)
        return CP_ENOMEM;
    if (c->n)
        qsort(c->jid, c->n, sizeof(*c->jid), cmp_jid);
    size_t u = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (u && strcmp(c->jid[u - 1], c->jid[i]) == 0)
            free(c->jid[i]);
        else
            c->jid[u++] = c->jid[i];
    }
    c->n = u;
    return CP_OK;
}

/* For each contact the store records: marks it as still in the roster, or notes it gone. */
static int
contacts_match(const char *contact, enum cp_roster_method method, void *ud)
{
    struct contacts *c = ud;
    if (contact[0] == '\0') {
        c->read_before = true;
        return 0;
    }
    char **hit = c->n ? bsearch(&contact, c->jid, c->n, sizeof(*c->jid), cmp_jid) : NULL;
    if (hit) {
        c->recorded[hit - c->jid] = true;
        return 0;
    }
    if (push_jid(&c->gone, &c->gone_item, &c->ngone, &c->capgone, contact,
                 method == CP_ROSTER_ITEM) != 0) {
        c->oom = true;
        return 1;
    }
    return 0;
}

/* The user's roster, read on enable and again every [privilege] roster_check_interval. The
 * first read queues an add for each contact on a served domain (an add replaces a remove left
 * by a disable just before). A re-read queues adds for the contacts added since, and removes
 * for those taken out whose roster got the calendar JID; contacts who were asked to subscribe
 * are forgotten, and keep the subscription they made themselves, as on a disable. Contacts
 * who took the calendar JID out of their roster by hand do not get it back. */
static void
roster_read(struct cp_roster *r, struct slot *s, xmpp_stanza_t *result)
{
    struct cp_store *st = r->d->store;
    struct contacts c = {0};
    if (contacts_parse(r, s->user, result, &c) != 0 ||
        cp_store_roster_items_each(st, s->user, contacts_match, &c) != 0 || c.oom) {
        defer(r, s, c.oom ? "(out of memory)" : "(store read failed)");
        contacts_free(&c);
        return;
    }
    if (cp_store_batch_begin(st) != 0) {
        defer(r, s, "(store busy)");
        contacts_free(&c);
        return;
    }
    if (cp_store_roster_job_done(st, s->user, "", CP_ROSTER_PROVISION) != 0) {
        cp_store_batch_end(st, false); /* disabled while the roster was on its way */
        contacts_free(&c);
        return;
    }
    long added = 0;
    for (size_t i = 0; i < c.n; i++) {
        if (c.read_before && c.recorded[i])
            continue;
        cp_store_roster_job_put(st, s->user, c.jid[i], CP_ROSTER_ADD);
        added++;
    }
    long removed = 0;
    for (size_t i = 0; c.read_before && i < c.ngone; i++) {
        if (c.gone_item[i]) {
            cp_store_roster_job_put(st, s->user, c.gone[i], CP_ROSTER_REMOVE);
            removed++;
        } else {
            cp_store_roster_item_remove(st, s->user, c.gone[i]);
        }
    }
    cp_store_roster_item_set(st, s->user, "", CP_ROSTER_READ);
    if (cp_store_batch_end(st, true) != 0) {
        defer(r, s, "(store write failed)");
        contacts_free(&c);
        return;
    }
    if (!c.read_before)
        cp_log_info("roster",
                    "%s: roster read: %ld contact(s) on served domains to provision, %ld "
                    "elsewhere left alone",
                    s->user, added, c.other);
    else if (added || c.ngone)
        cp_log_info("roster",
                    "%s: roster changed: %ld contact(s) added to provision, %zu gone (%ld "
                    "calendar item(s) to remove)",
                    s->user, added, c.ngone, removed);
    else
        cp_log_debug("roster", "%s: roster checked: unchanged", s->user);
    contacts_free(&c);
}

static void
item_added(struct cp_roster *r, struct slot *s)
{
    struct cp_store *st = r->d->store;
    char cal[CP_JID_BARE_MAX];
    cp_store_roster_item_set(st, s->user, s->contact, CP_ROSTER_ITEM);
    if (cp_store_roster_job_done(st, s->user, s->contact, CP_ROSTER_ADD) == CP_ENOTFOUND) {
        /* The user was disabled while the item was on its way: take it out again. */
        cp_store_roster_job_put(st, s->user, s->contact, CP_ROSTER_REMOVE);
        return;
    }
    cp_store_subscriber_add(st, s->user, s->contact);
    r->added++;
    if (calendar_of(r, s->user, cal, sizeof(cal)) == 0)
        cp_log_info("roster", "%s: %s added to %s's roster", s->user, cal, s->contact);
    /* The server probes the calendar JID only when the contact next logs in. */
    cp_presence_send_current(r->d, s->user, s->contact);
}

static void
item_removed(struct cp_roster *r, struct slot *s)
{
    struct cp_store *st = r->d->store;
    if (cp_store_roster_job_done(st, s->user, s->contact, CP_ROSTER_REMOVE) == CP_ENOTFOUND)
        return; /* enabled again meanwhile: the add queued since puts it back */
    cp_store_roster_item_remove(st, s->user, s->contact);
    cp_store_subscriber_remove(st, s->user, s->contact);
    r->removed++;
    cp_log_info("roster", "%s: calendar removed from %s's roster", s->user, s->contact);
}

/* A roster set failed: a server that refuses it although it granted it (ejabberd before 23.10
 * answers every privileged roster set with an error) gets subscription requests from then on. */
static void
add_refused(struct cp_roster *r, struct slot *s, const char *cond)
{
    char cal[CP_JID_BARE_MAX];
    struct grant *g = (struct grant *)grant_of(r, s->contact);
    if (g && !g->set_refused) {
        g->set_refused = true;
        cp_log_warn("roster",
                    "the server refuses roster changes on %s (%s) although it granted "
                    "them: asking contacts to subscribe instead until it reconnects",
                    g->domain, cond);
    }
    if (calendar_of(r, s->user, cal, sizeof(cal)) == 0)
        ask_contact(r, s->user, s->contact, cal, "the server refused the roster change");
}

enum temporary { TEMP_DEFER, TEMP_RETRY, TEMP_REFUSED };

/* A temporary error answered the request of slot S: a read, or a set on a domain where one
 * worked, is deferred; a set where none has worked yet on this connection is tried again at
 * once, and the SET_TRIES-th failure means the server refuses them. */
static enum temporary
temporary(struct cp_roster *r, struct slot *s)
{
    struct grant *g = (struct grant *)grant_of(r, s->contact);
    if (s->op == CP_ROSTER_PROVISION || !g || g->set_worked)
        return TEMP_DEFER;
    return ++g->set_failed >= SET_TRIES ? TEMP_REFUSED : TEMP_RETRY;
}

static void
set_worked(struct cp_roster *r, struct slot *s)
{
    struct grant *g = (struct grant *)grant_of(r, s->contact);
    if (g)
        g->set_worked = true;
}

static int
on_result(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *ud)
{
    (void)conn;
    struct slot *s = ud;
    struct cp_roster *r = s->r;
    const char *from = xmpp_stanza_get_from(stanza);
    const char *type = xmpp_stanza_get_type(stanza);
    const char *asked = s->op == CP_ROSTER_PROVISION ? s->user : s->contact;
    char bare[CP_JID_BARE_MAX];
    if (!from || cp_jid_bare(from, bare, sizeof(bare)) != 0 || strcmp(bare, asked) != 0 || !type ||
        (strcmp(type, "result") != 0 && strcmp(type, "error") != 0)) {
        cp_log_warn("roster", "%s: answer to a roster request ignored (from %s, not from %s)",
                    s->user, from ? from : "nobody", asked);
        return 1; /* keep waiting for the real answer */
    }
    event_del(s->timer);
    char cond[64];
    const char *etype;
    enum temporary temp;
    bool ok = !cp_stanza_error(stanza, cond, sizeof(cond), &etype);
    if (ok && s->op == CP_ROSTER_PROVISION) {
        roster_read(r, s, stanza);
    } else if (ok && s->op == CP_ROSTER_ADD) {
        set_worked(r, s);
        item_added(r, s);
    } else if (s->op == CP_ROSTER_REMOVE && (ok || strcmp(cond, "item-not-found") == 0)) {
        set_worked(r, s);
        item_removed(r, s); /* already gone counts as done */
    } else if (strcmp(etype, "wait") == 0 && (temp = temporary(r, s)) != TEMP_REFUSED) {
        if (temp == TEMP_DEFER)
            defer(r, s, cond); /* TEMP_RETRY: the job stays due, the pump sends it again */
    } else if (s->op == CP_ROSTER_ADD) {
        add_refused(r, s, cond);
    } else {
        cp_log_warn("roster", "%s: %s refused (%s): given up", s->user,
                    s->op == CP_ROSTER_PROVISION ? "reading the roster" : "a removal", cond);
        cp_store_roster_job_done(r->d->store, s->user, s->contact, s->op);
        if (s->op == CP_ROSTER_REMOVE)
            cp_store_roster_item_remove(r->d->store, s->user, s->contact);
    }
    s->busy = false;
    kick_in(r, 0);
    return 0;
}

static void
on_timeout(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    struct slot *s = ud;
    defer(s->r, s, "(no answer from the server)");
    release(s);
    pump(s->r);
}

/* Forgets the IQ of slot S: its job stays queued. */
static void
release(struct slot *s)
{
    if (!s->busy)
        return;
    cp_xmpp_iq_cancel(s->r->d->xmpp, on_result, s->id);
    event_del(s->timer);
    s->busy = false;
}

/* ---- the pump ---- */

static struct slot *
free_slot(struct cp_roster *r)
{
    for (int i = 0; i < SLOTS; i++)
        if (!r->slots[i].busy)
            return &r->slots[i];
    return NULL;
}

static bool
in_flight(const struct cp_roster *r, const char *user, const char *contact)
{
    for (int i = 0; i < SLOTS; i++)
        if (r->slots[i].busy && strcmp(r->slots[i].user, user) == 0 &&
            strcmp(r->slots[i].contact, contact) == 0)
            return true;
    return false;
}

static int
pump_one(const char *user, const char *contact, enum cp_roster_op op, void *ud)
{
    struct cp_roster *r = ud;
    if (in_flight(r, user, contact))
        return 0;
    struct slot *s = free_slot(r);
    if (!s || r->turn >= TURN_MAX)
        return 1;
    r->turn++;
    start_job(r, s, user, contact, op);
    return 0;
}

static void
pump(struct cp_roster *r)
{
    if (!r->online || r->pumping || !free_slot(r))
        return;
    xmpp_conn_t *conn = cp_xmpp_conn(r->d->xmpp);
    if (conn && xmpp_conn_send_queue_len(conn) > SENDQ_MAX) {
        kick_in(r, 100);
        return;
    }
    r->pumping = true;
    r->turn = 0;
    cp_store_roster_jobs_each(r->d->store, (int64_t)time(NULL), SLOTS + TURN_MAX, pump_one, r);
    r->pumping = false;
    if (r->turn >= TURN_MAX && free_slot(r))
        kick_in(r, 0); /* more may be due: on the next turn, after the loop served others */
}

static void
on_kick(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    pump(ud);
}

static void
kick_in(struct cp_roster *r, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(r->kick, &tv);
}

/* ---- public ---- */

struct cp_roster *
cp_roster_new(struct cp_daemon *d)
{
    struct cp_roster *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->d = d;
    r->kick = event_new(d->base, -1, 0, on_kick, r);
    r->retry = event_new(d->base, -1, EV_PERSIST, on_kick, r);
    r->flush = event_new(d->base, -1, 0, on_flush, r);
    r->check = event_new(d->base, -1, EV_PERSIST, on_check, r);
    bool ok = r->kick && r->retry && r->flush && r->check;
    for (int i = 0; i < SLOTS; i++) {
        r->slots[i].r = r;
        r->slots[i].timer = event_new(d->base, -1, 0, on_timeout, &r->slots[i]);
        ok = ok && r->slots[i].timer;
    }
    if (!ok) {
        cp_roster_free(r);
        return NULL;
    }
    return r;
}

void
cp_roster_free(struct cp_roster *r)
{
    if (!r)
        return;
    for (int i = 0; i < SLOTS; i++) {
        release(&r->slots[i]);
        if (r->slots[i].timer)
            event_free(r->slots[i].timer);
    }
    if (r->kick)
        event_free(r->kick);
    if (r->retry)
        event_free(r->retry);
    if (r->flush)
        event_free(r->flush);
    if (r->check)
        event_free(r->check);
    for (size_t i = 0; i < r->nchanged; i++)
        free(r->changed[i]);
    free(r->changed);
    free(r);
}

const char *
cp_roster_mode(const struct cp_roster *r, const char *jid)
{
    const struct grant *g = grant_of(r, jid);
    if (may_set(g))
        return "roster-provisioned";
    return g && (g->p.roster & CP_PRIV_ROSTER_GET) ? "subscription-requests" : "plain";
}

const struct cp_privileges *
cp_roster_privileges(const struct cp_roster *r, const char *jid)
{
    const struct grant *g = grant_of(r, jid);
    return g ? &g->p : NULL;
}

/* Every check interval, the re-reads of all rosters are queued, spread over the interval; the
 * retry tick, never longer than the interval, starts them as they fall due. Neither Debian 12's
 * Prosody mod_privilege nor ejabberd 23.01 sends the component roster pushes, so reading again
 * is the only way to hear of a user's roster changes. */
static void
on_check(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    struct cp_roster *r = ud;
    bool readable = false;
    for (size_t i = 0; i < r->ngrants; i++)
        readable = readable || (r->grants[i].p.roster & CP_PRIV_ROSTER_GET);
    if (!r->online || !readable)
        return;
    long n =
        cp_store_roster_recheck(r->d->store, (int64_t)time(NULL), r->d->cfg->roster_check_interval);
    if (n > 0)
        cp_log_debug("roster", "%ld roster(s) to check in the next %d s", n,
                     r->d->cfg->roster_check_interval);
    pump(r);
}

void
cp_roster_online(struct cp_roster *r)
{
    int interval = r->d->cfg->roster_check_interval;
    struct timeval every = {interval > 0 && interval < RETRY_S ? interval : RETRY_S, 0};
    struct timeval check = {interval, 0};
    r->online = true;
    r->ngrants = 0;
    r->told_no_read = false;
    event_add(r->retry, &every);
    if (interval > 0)
        event_add(r->check, &check);
    kick_in(r, GRACE_MS);
}

void
cp_roster_offline(struct cp_roster *r)
{
    r->online = false;
    for (int i = 0; i < SLOTS; i++)
        release(&r->slots[i]);
    event_del(r->kick);
    event_del(r->retry);
    event_del(r->check);
}

bool
cp_roster_on_message(struct cp_roster *r, xmpp_stanza_t *message)
{
    struct cp_privileges p;
    const char *from = xmpp_stanza_get_from(message);
    int rc = cp_privilege_parse(message, &p);
    if (rc == CP_ENOTFOUND)
        return false;
    /* Only the server itself sends from a bare domain we serve; a remote server could send
     * from its own domain, which we do not serve. */
    if (!from || strchr(from, '@') || strchr(from, '/') ||
        !cp_config_serves_domain(r->d->cfg, from)) {
        cp_log_warn("privilege", "advertisement from %s ignored (not a served domain)",
                    from ? from : "nobody");
        return true;
    }
    size_t i = 0;
    while (i < r->ngrants && strcmp(r->grants[i].domain, from) != 0)
        i++;
    if (i == DOMAINS_MAX) {
        cp_log_warn("privilege", "%s: advertisement ignored (more than %d domains)", from,
                    DOMAINS_MAX);
        return true;
    }
    if (i == r->ngrants)
        r->ngrants++;
    snprintf(r->grants[i].domain, sizeof(r->grants[i].domain), "%s", from);
    r->grants[i].p = p;
    r->grants[i].set_refused = false;
    r->grants[i].set_worked = false;
    r->grants[i].set_failed = 0;
    char what[160];
    cp_privilege_describe(&p, what, sizeof(what));
    cp_log_info("privilege", "%s grants %s (%s)%s", from, what,
                p.version == 2 ? CP_PRIV_NS_2 : CP_PRIV_NS_1,
                rc == CP_EINVAL ? "; a malformed permission was ignored" : "");
    pump(r);
    return true;
}

static void
user_changed_now(struct cp_roster *r, const char *user_jid)
{
    struct cp_user row = {0};
    bool enabled = cp_store_user_get(r->d->store, user_jid, &row) == 0 && row.enabled;
    cp_user_clear(&row);
    if (enabled) {
        if (!cp_store_roster_user_known(r->d->store, user_jid) &&
            cp_store_roster_job_put(r->d->store, user_jid, "", CP_ROSTER_PROVISION) == 0)
            cp_log_debug("roster", "%s: roster provisioning queued", user_jid);
    } else {
        long n = cp_store_roster_unprovision(r->d->store, user_jid);
        if (n > 0)
            cp_log_info("roster", "%s: disabled: the calendar leaves %ld contact roster(s)",
                        user_jid, n);
    }
}

/* One transaction for all the users changed in a loop turn: a users-enable of 10,000 is one
 * durable commit, not 10,000 (seconds of fsync on the loop). */
static void
on_flush(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    struct cp_roster *r = ud;
    bool batch = cp_store_batch_begin(r->d->store) == 0;
    for (size_t i = 0; i < r->nchanged; i++) {
        user_changed_now(r, r->changed[i]);
        free(r->changed[i]);
    }
    r->nchanged = 0;
    if (batch && cp_store_batch_end(r->d->store, true) != 0)
        cp_log_warn("roster", "the roster provisioning of the users just changed was not saved "
                              "(see above): enable them again");
    pump(r);
}

void
cp_roster_user_changed(struct cp_roster *r, const char *user_jid)
{
    if (r->nchanged == r->capchanged) {
        size_t cap = r->capchanged ? 2 * r->capchanged : 64;
        char **grown = realloc(r->changed, cap * sizeof(*grown));
        if (!grown) {
            cp_log_warn("roster", "%s: out of memory: roster provisioning not queued", user_jid);
            return;
        }
        r->changed = grown;
        r->capchanged = cap;
    }
    char *copy = strdup(user_jid);
    if (!copy) {
        cp_log_warn("roster", "%s: out of memory: roster provisioning not queued", user_jid);
        return;
    }
    r->changed[r->nchanged++] = copy;
    if (r->nchanged == 1)
        event_active(r->flush, 0, 0);
}

char *
cp_roster_report(struct cp_roster *r)
{
    char buf[4096];
    size_t used = 0;
    int in_flight_n = 0;
    for (int i = 0; i < SLOTS; i++)
        in_flight_n += r->slots[i].busy;
    if (r->ngrants == 0)
        used += (size_t)snprintf(buf, sizeof(buf),
                                 "privileges: none advertised (XEP-0356 not configured for this "
                                 "component): contacts subscribe to calendar JIDs by hand\n");
    for (size_t i = 0; i < r->ngrants && used < sizeof(buf); i++) {
        char what[160];
        cp_privilege_describe(&r->grants[i].p, what, sizeof(what));
        int n = snprintf(
            buf + used, sizeof(buf) - used, "privileges: %s: %s (%s)%s\n", r->grants[i].domain,
            what, r->grants[i].p.version == 2 ? CP_PRIV_NS_2 : CP_PRIV_NS_1,
            r->grants[i].set_refused ? "; roster set refused, subscribing instead" : "");
        if (n > 0)
            used += (size_t)n;
    }
    if (used < sizeof(buf))
        snprintf(buf + used, sizeof(buf) - used,
                 "roster provisioning: %ld operation(s) queued, %d in flight; since start %lu "
                 "item(s) added, %lu subscription request(s) sent, %lu removed",
                 cp_store_roster_jobs_count(r->d->store), in_flight_n, r->added, r->asked,
                 r->removed);
    return strdup(buf);
}
