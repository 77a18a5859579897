/* The user's own presence and what the options make of the calendar presence. See own.h. */
#include "own.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/util.h>

#include "daemon.h"
#include "config/config.h"
#include "conn.h"
#include "privilege.h"
#include "roster.h"
#include "seen.h"
#include "stanza.h"
#include "store/store.h"

#define NS_CAPS "http://jabber.org/protocol/caps"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_ROSTERX "http://jabber.org/protocol/rosterx"
/* After the handshake, the privilege advertisements have come well before this. */
#define CHECK_AFTER_S 5
/* disco#info questions in flight: a burst of logins asks a few hashes at a time, the rest at
 * their next presence. A question unanswered this long gives its slot up (asked again later). */
#define ASKS_MAX 16
#define ASK_TIMEOUT_S 30

/* A disco#info in flight: which hash it asks about. */
struct ask {
    struct cp_own *o;
    bool busy;
    time_t sent;
    char id[40];
    char ver[128];
    char to[CP_JID_FULL_MAX]; /* the resource asked: only its answer is taken */
};

struct cp_own {
    struct cp_daemon *d;
    struct cp_seen *seen;
    struct event *check; /* CHECK_AFTER_S after a handshake: options the server cannot honour */
    struct ask asks[ASKS_MAX];
};

static bool presence_granted(const struct cp_own *o, const char *jid);
static bool domain_granted(const struct cp_own *o, const char *domain);
static void options_of(const struct cp_own *o, const struct cp_user *u, bool *online, bool *status);
static bool wanted(const struct cp_own *o, const char *bare, bool *online, bool *status);
static void ask_caps(struct cp_own *o, const char *full, xmpp_stanza_t *c);
static struct ask *ask_slot(struct cp_own *o);
static void ask_release(struct ask *a);
static int on_caps(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *ud);
static void on_check(evutil_socket_t fd, short what, void *ud);

struct cp_own *
cp_own_new(struct cp_daemon *d)
{
    struct cp_own *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->d = d;
    for (int i = 0; i < ASKS_MAX; i++)
        o->asks[i].o = o;
    o->seen = cp_seen_new();
    o->check = evtimer_new(d->base, on_check, o);
    if (!o->seen || !o->check) {
        cp_own_free(o);
        return NULL;
    }
    return o;
}

void
cp_own_free(struct cp_own *o)
{
    if (!o)
        return;
    if (o->check)
        event_free(o->check);
    cp_seen_free(o->seen);
    free(o);
}

void
cp_own_online(struct cp_own *o)
{
    struct timeval tv = {CHECK_AFTER_S, 0};
    cp_seen_clear(o->seen);
    evtimer_add(o->check, &tv);
}

void
cp_own_offline(struct cp_own *o)
{
    for (int i = 0; i < ASKS_MAX; i++)
        ask_release(&o->asks[i]);
    cp_seen_clear(o->seen);
    evtimer_del(o->check);
}

/* Prosody's mod_privilege forwards the users' presence for "managed_entity" and "roster". */
static bool
presence_granted(const struct cp_own *o, const char *jid)
{
    const struct cp_privileges *p = cp_roster_privileges(o->d->roster, jid);
    return p && (strcmp(p->presence, "managed_entity") == 0 || strcmp(p->presence, "roster") == 0);
}

/* The same for a domain: privileges are looked up by a JID of it. */
static bool
domain_granted(const struct cp_own *o, const char *domain)
{
    char jid[CP_JID_PART_MAX + 3];
    snprintf(jid, sizeof(jid), "x@%s", domain);
    return presence_granted(o, jid);
}

/* U's effective options: its own choice, or the admin's default. U may be NULL (no row). */
static void
options_of(const struct cp_own *o, const struct cp_user *u, bool *online, bool *status)
{
    const struct cp_config *cfg = o->d->cfg;
    *online = cfg->only_while_online != 0;
    *status = cfg->respect_own_status != 0;
    if (u && u->priv.only_while_online != CP_USER_OPT_DEFAULT)
        *online = u->priv.only_while_online == CP_USER_OPT_ON;
    if (u && u->priv.respect_own_status != CP_USER_OPT_DEFAULT)
        *status = u->priv.respect_own_status == CP_USER_OPT_ON;
}

/* True when BARE is an enabled user with at least one option on, filled in. */
static bool
wanted(const struct cp_own *o, const char *bare, bool *online, bool *status)
{
    struct cp_user u;
    *online = *status = false;
    if (cp_store_user_get(o->d->store, bare, &u) != 0)
        return false;
    if (u.enabled)
        options_of(o, &u, online, status);
    cp_user_clear(&u);
    return *online || *status;
}

void
cp_own_filter(struct cp_own *o, const char *user_jid, struct cp_cal_presence *p)
{
    bool online, status;
    if (!o || p->state == CP_CAL_UNAVAILABLE || !presence_granted(o, user_jid) ||
        !wanted(o, user_jid, &online, &status))
        return;
    enum cp_seen_show own = cp_seen_best(o->seen, user_jid);
    bool away = own == CP_SEEN_DND || own == CP_SEEN_XA || own == CP_SEEN_AWAY;
    if ((online && own == CP_SEEN_OFFLINE) || (status && away)) {
        p->state = CP_CAL_UNAVAILABLE;
        p->subject = NULL;
    }
}

bool
cp_own_on_presence(struct cp_own *o, xmpp_stanza_t *presence)
{
    const char *from = xmpp_stanza_get_from(presence);
    const char *type = xmpp_stanza_get_type(presence);
    char bare[CP_JID_BARE_MAX], local[CP_JID_PART_MAX + 1], domain[CP_JID_PART_MAX + 1];
    if (!from || cp_jid_bare(from, bare, sizeof(bare)) != 0 ||
        cp_jid_split(bare, local, sizeof(local), domain, sizeof(domain)) != 0 ||
        !cp_config_serves_domain(o->d->cfg, domain) || !presence_granted(o, bare))
        return false;
    bool available = type == NULL;
    xmpp_stanza_t *show = xmpp_stanza_get_child_by_name(presence, "show");
    xmpp_stanza_t *c = xmpp_stanza_get_child_by_name_and_ns(presence, "c", NS_CAPS);
    char *show_text = show ? xmpp_stanza_get_text(show) : NULL;
    const char *ver = c ? xmpp_stanza_get_attribute(c, "ver") : NULL;
    int rc = cp_seen_update(o->seen, from, available, show_text, ver);
    xmpp_ctx_t *ctx = cp_xmpp_ctx(o->d->xmpp);
    if (show_text)
        xmpp_free(ctx, show_text);
    if (rc == CP_ENOMEM)
        cp_log_warn("own", "%s: out of memory recording the user's presence", bare);
    if (rc < 0)
        return true;
    if (available && ver && cp_seen_caps_get(o->seen, ver) == CP_CAPS_UNKNOWN)
        ask_caps(o, from, c);
    bool online, status;
    if (rc == 1 && wanted(o, bare, &online, &status)) {
        cp_log_debug("own", "%s: now %s: calendar presence republished", bare,
                     cp_seen_show_name(cp_seen_best(o->seen, bare)));
        cp_daemon_queue_publish(o->d, bare);
    }
    return true;
}

void
cp_own_privileges_changed(struct cp_own *o, const char *domain)
{
    const struct cp_config *cfg = o->d->cfg;
    if (domain && domain_granted(o, domain) &&
        (cfg->only_while_online || cfg->respect_own_status ||
         cp_store_users_privopts_count(o->d->store) > 0))
        cp_presence_publish_all(o->d);
}

/* ---- XEP-0115 caps and the XEP-0144 fallback ---- */

/* A free slot, or one whose question went unanswered too long; NULL when all are busy. */
static struct ask *
ask_slot(struct cp_own *o)
{
    time_t now = time(NULL);
    for (int i = 0; i < ASKS_MAX; i++) {
        struct ask *a = &o->asks[i];
        if (a->busy && now - a->sent > ASK_TIMEOUT_S)
            ask_release(a);
        if (!a->busy)
            return a;
    }
    return NULL;
}

/* Frees slot A, its question forgotten: its hash is asked again at a later presence. */
static void
ask_release(struct ask *a)
{
    if (!a->busy)
        return;
    cp_xmpp_iq_cancel(a->o->d->xmpp, on_caps, a->id);
    a->busy = false;
    cp_seen_caps_set(a->o->seen, a->ver, CP_CAPS_UNKNOWN);
}

/* Asks FULL what the caps hash in C (borrowed) stands for; the answer is cached by hash, so one
 * disco#info per client version, not per login. */
static void
ask_caps(struct cp_own *o, const char *full, xmpp_stanza_t *c)
{
    const char *ver = xmpp_stanza_get_attribute(c, "ver");
    const char *node = xmpp_stanza_get_attribute(c, "node");
    struct ask *a = ask_slot(o);
    if (!a || strlen(ver) >= sizeof(a->ver) || strlen(full) >= sizeof(a->to))
        return;
    unsigned char rnd[8];
    char nodever[1024];
    evutil_secure_rng_get_bytes(rnd, sizeof(rnd));
    snprintf(a->id, sizeof(a->id), "caps-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
             rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    xmpp_ctx_t *ctx = cp_xmpp_ctx(o->d->xmpp);
    xmpp_stanza_t *iq = xmpp_iq_new(ctx, "get", a->id);
    xmpp_stanza_t *q = iq ? cp_stanza_add(iq, "query", NS_DISCO_INFO) : NULL;
    if (!q || cp_seen_caps_set(o->seen, ver, CP_CAPS_ASKED) != 0 ||
        cp_xmpp_iq_wait(o->d->xmpp, a->id, on_caps, a) != 0) {
        if (iq)
            xmpp_stanza_release(iq);
        return;
    }
    snprintf(a->ver, sizeof(a->ver), "%s", ver);
    snprintf(a->to, sizeof(a->to), "%s", full);
    a->busy = true;
    a->sent = time(NULL);
    if (node && (size_t)snprintf(nodever, sizeof(nodever), "%s#%s", node, ver) < sizeof(nodever))
        xmpp_stanza_set_attribute(q, "node", nodever);
    xmpp_stanza_set_from(iq, o->d->cfg->jid);
    xmpp_stanza_set_to(iq, full);
    cp_xmpp_send(o->d->xmpp, iq);
    xmpp_stanza_release(iq);
}

enum cp_seen_caps
cp_own_caps_read(xmpp_stanza_t *answer)
{
    const char *type = xmpp_stanza_get_type(answer);
    xmpp_stanza_t *q = xmpp_stanza_get_child_by_name_and_ns(answer, "query", NS_DISCO_INFO);
    if (!type || strcmp(type, "result") != 0 || !q)
        return CP_CAPS_PLAIN;
    for (xmpp_stanza_t *f = xmpp_stanza_get_children(q); f; f = xmpp_stanza_get_next(f)) {
        const char *var = xmpp_stanza_get_attribute(f, "var");
        if (xmpp_stanza_is_tag(f) && strcmp(xmpp_stanza_get_name(f), "feature") == 0 && var &&
            strcmp(var, NS_ROSTERX) == 0)
            return CP_CAPS_ROSTERX;
    }
    return CP_CAPS_PLAIN;
}

static int
on_caps(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *ud)
{
    (void)conn;
    struct ask *a = ud;
    const char *from = xmpp_stanza_get_from(stanza);
    /* Ids are random, yet an answer from anyone but the resource asked would let one user
     * decide what a client version is said to support for everyone: ignored, still waiting. */
    if (!from || strcmp(from, a->to) != 0)
        return 1;
    enum cp_seen_caps caps = cp_own_caps_read(stanza);
    /* The handler goes when this returns 0: the slot is free, nothing to delete. */
    a->busy = false;
    if (cp_seen_caps_set(a->o->seen, a->ver, caps) == 0)
        cp_log_debug("own", "caps %s: %s", a->ver,
                     caps == CP_CAPS_ROSTERX ? "roster item exchange" : "no roster item exchange");
    return 0;
}

int
cp_own_suggest(struct cp_own *o, const char *user, const char *contact, const char *cal)
{
    char full[CP_JID_FULL_MAX], local[CP_JID_PART_MAX + 1], domain[CP_JID_PART_MAX + 1];
    char name[CP_JID_PART_MAX + 16];
    if (cp_seen_rosterx_resource(o->seen, contact, full, sizeof(full)) != 0 ||
        cp_jid_split(user, local, sizeof(local), domain, sizeof(domain)) != 0)
        return CP_ENOTFOUND;
    snprintf(name, sizeof(name), "%s (calendar)", local);
    xmpp_stanza_t *msg = xmpp_message_new(cp_xmpp_ctx(o->d->xmpp), NULL, full, NULL);
    xmpp_stanza_t *x = msg ? cp_stanza_add(msg, "x", NS_ROSTERX) : NULL;
    xmpp_stanza_t *item = x ? cp_stanza_add(x, "item", NULL) : NULL;
    if (!item || cp_stanza_add_text(item, "group", o->d->cfg->roster_group) != 0) {
        if (msg)
            xmpp_stanza_release(msg);
        return CP_ENOTFOUND;
    }
    xmpp_stanza_set_from(msg, cal);
    xmpp_stanza_set_attribute(item, "action", "add");
    xmpp_stanza_set_attribute(item, "jid", cal);
    xmpp_stanza_set_attribute(item, "name", name);
    cp_xmpp_send(o->d->xmpp, msg);
    xmpp_stanza_release(msg);
    cp_log_info("roster", "%s: suggested %s to %s (XEP-0144 roster item exchange)", user, cal,
                full);
    return CP_OK;
}

/* ---- what users get, for status, users-list and gateway-status ---- */

void
cp_own_user_mode(struct cp_own *o, const char *user_jid, const struct cp_user *user, char *buf,
                 size_t len)
{
    bool online, status;
    options_of(o, user, &online, &status);
    const char *honoured =
        presence_granted(o, user_jid) ? "" : " (not honoured: no presence permission)";
    bool pep = o->d->cfg->pep_activity != 0;
    if (user && user->priv.pep_activity != CP_USER_OPT_DEFAULT)
        pep = user->priv.pep_activity == CP_USER_OPT_ON;
    snprintf(buf, len, "%s%s%s%s%s", cp_roster_mode(o->d->roster, user_jid),
             online ? ", only-while-online" : "", status ? ", respect-own-status" : "",
             (online || status) ? honoured : "", pep ? ", pep-activity" : "");
}

char *
cp_own_report(struct cp_own *o)
{
    const struct cp_config *cfg = o->d->cfg;
    long opted = cp_store_users_privopts_count(o->d->store);
    char buf[2048];
    size_t used = 0;
    for (size_t i = 0; i < cfg->domains.n && used < sizeof(buf); i++) {
        const char *dom = cfg->domains.items[i];
        int n = domain_granted(o, dom)
                    ? snprintf(buf + used, sizeof(buf) - used,
                               "own presence: %s: seen (presence permission); options "
                               "honoured\n",
                               dom)
                    : snprintf(buf + used, sizeof(buf) - used,
                               "own presence: %s: not seen (no presence permission); "
                               "only_while_online and respect_own_status not honoured\n",
                               dom);
        if (n > 0)
            used += (size_t)n;
    }
    if (used < sizeof(buf))
        snprintf(buf + used, sizeof(buf) - used,
                 "own presence: %zu user(s) seen online; defaults only_while_online %s, "
                 "respect_own_status %s; %ld enabled user(s) with an option on",
                 cp_seen_online_count(o->seen), cfg->only_while_online ? "true" : "false",
                 cfg->respect_own_status ? "true" : "false", opted < 0 ? 0 : opted);
    return strdup(buf);
}

/* Once per handshake and domain: options in use that the server's privileges cannot honour. */
static void
on_check(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    struct cp_own *o = ud;
    const struct cp_config *cfg = o->d->cfg;
    long opted = cp_store_users_privopts_count(o->d->store);
    if (!cfg->only_while_online && !cfg->respect_own_status && opted <= 0)
        return;
    for (size_t i = 0; i < cfg->domains.n; i++) {
        if (!domain_granted(o, cfg->domains.items[i]))
            cp_log_warn("own",
                        "%s: the server grants the component no presence permission "
                        "(XEP-0356): only_while_online and respect_own_status cannot be "
                        "honoured, calendar presence is published without them (see "
                        "docs/privileges.md)",
                        cfg->domains.items[i]);
    }
}
