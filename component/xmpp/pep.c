/* XEP-0108 User Activity on the user's own PEP node, through XEP-0356 privileged IQs. See
 * pep.h; docs/privileges.md says what to configure and what clients show. */
#include "pep.h"

#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/util.h>

#include "daemon.h"
#include "config/config.h"
#include "conn.h"
#include "presence.h"
#include "privilege.h"
#include "roster.h"
#include "stanza.h"
#include "store/store.h"

#define NS_ACTIVITY "http://jabber.org/protocol/activity"
#define NS_CLIENT "jabber:client"
#define NS_FORWARD "urn:xmpp:forward:0"
/* Our own item id rather than XEP-0163's "current": the retract after a restart then never
 * removes an activity the user set from a client of their own. */
#define ITEM_ID "calpresence"
/* Requests in flight at once: a meeting edge for thousands of users trickles. */
#define SLOTS 8
/* Beyond this many queued stanzas the pump waits for the queue to drain. */
#define SENDQ_MAX 1000
#define OP_TIMEOUT_S 30
/* Users whose last request failed for a passing reason (no answer, a 'wait' error) are tried
 * again on this tick, one request each: no retry storm. */
#define RETRY_S 60
/* The server advertises privileges right after the handshake; only after this long without
 * them does the log say that PEP is not used. */
#define GRACE_MS 2000
#define DOMAINS_MAX 16

/* What the user's PEP node holds of ours, as far as we know. */
enum shown {
    SHOWN_UNKNOWN, /* since start, or a request whose outcome is unknown */
    SHOWN_NONE,
    SHOWN_ACTIVITY,
};

struct pep_user {
    char *jid; /* owned; the tree's key */
    enum shown shown;
    bool queued;    /* in the ring, waiting for a decision */
    bool in_flight; /* a slot carries a request for it */
    bool deferred;  /* the last request failed for a passing reason: wait for the next tick */
    /* The server refused the last request with a lasting error: not tried again while the
     * user stays busy (GIVEN_UP_BUSY) or not busy. */
    bool given_up;
    bool given_up_busy;
};

struct slot {
    struct cp_pep *p;
    struct pep_user *e; /* NULL when free */
    bool publish;       /* the request publishes (or else retracts) */
    char id[40];
    struct event *timer;
};

/* What was logged about one domain on this connection: the first of a kind at info or warn,
 * the rest at debug, so that a meeting edge for thousands of users is not thousands of lines. */
struct domain_note {
    char domain[CP_JID_PART_MAX + 1];
    bool told;    /* why PEP is not used there */
    bool refused; /* a privileged request the server refused although it granted pubsub */
};

struct cp_pep {
    struct cp_daemon *d;
    void *by_jid; /* tsearch tree of struct pep_user */
    struct pep_user **all;
    size_t n, cap;
    struct pep_user **ring; /* entries waiting for a decision, oldest at HEAD */
    size_t head, len, ringcap;
    struct slot slots[SLOTS];
    struct event *kick;  /* the next pump */
    struct event *retry; /* every RETRY_S while online: every user decided again */
    struct event *grace; /* GRACE_MS after a handshake: privileges should have arrived */
    struct domain_note notes[DOMAINS_MAX];
    size_t nnotes;
    bool online;
    bool grace_over;
};

static void pump(struct cp_pep *p);
static void kick(struct cp_pep *p, long ms);
static void enqueue(struct cp_pep *p, struct pep_user *e);
static int on_answer(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *ud);

/* ---- the decision ---- */

/* Whether USER wants the activity at all: their own setting (the settings command), else the
 * administrator's default. */
static bool
pep_wanted(const struct cp_daemon *d, const char *user)
{
    bool on = d->cfg->pep_activity != 0;
    struct cp_user u;
    if (cp_store_user_get(d->store, user, &u) != 0)
        return on;
    if (u.priv.pep_activity != CP_USER_OPT_DEFAULT)
        on = u.priv.pep_activity == CP_USER_OPT_ON;
    cp_user_clear(&u);
    return on;
}

/* Busy only, not out of office: XEP-0108 has "in a meeting", and nothing that says "on
 * holiday" without claiming what the user does. Tentative counts where it shows as busy. */
static bool
busy_now(struct cp_daemon *d, const char *user)
{
    struct cp_cal_presence cal;
    cp_daemon_presence(d, user, &cal);
    return cal.state == CP_CAL_BUSY;
}

static struct domain_note *
note_of(struct cp_pep *p, const char *jid)
{
    const char *at = strrchr(jid, '@');
    const char *domain = at ? at + 1 : jid;
    for (size_t i = 0; i < p->nnotes; i++)
        if (strcmp(p->notes[i].domain, domain) == 0)
            return &p->notes[i];
    if (p->nnotes == DOMAINS_MAX || strlen(domain) >= sizeof(p->notes[0].domain))
        return NULL;
    struct domain_note *n = &p->notes[p->nnotes++];
    memset(n, 0, sizeof(*n));
    snprintf(n->domain, sizeof(n->domain), "%s", domain);
    return n;
}

/* True when the server lets the component publish to USER's PEP; otherwise logs why not, once
 * per domain and connection, after the grace in which privileges arrive. */
static bool
may_publish(struct cp_pep *p, const char *user)
{
    const struct cp_privileges *priv = cp_roster_privileges(p->d->roster, user);
    struct domain_note *n = note_of(p, user);
    if (priv && (priv->iq_pubsub & CP_PRIV_IQ_SET))
        return true;
    if (!p->grace_over || !n || n->told)
        return false;
    n->told = true;
    cp_log_info("pep",
                "%s: activity not published: the server grants the component no pubsub iq set "
                "for %s (XEP-0356 iq permission, see docs/privileges.md); the other users of "
                "that domain are not logged",
                user, n->domain);
    return false;
}

/* ---- sending ---- */

/* <item id=ITEM_ID><activity><working><in_a_meeting/></working><text>...</text></activity>. */
static int
add_activity(struct cp_pep *p, xmpp_stanza_t *publish)
{
    xmpp_stanza_t *item = cp_stanza_add(publish, "item", NULL);
    xmpp_stanza_t *act = item ? cp_stanza_add(item, "activity", NS_ACTIVITY) : NULL;
    xmpp_stanza_t *working = act ? cp_stanza_add(act, "working", NULL) : NULL;
    if (!working || !cp_stanza_add(working, "in_a_meeting", NULL))
        return CP_ENOMEM;
    xmpp_stanza_set_id(item, ITEM_ID);
    return cp_stanza_add_text(act, "text", p->d->cfg->busy_status);
}

/* The XEP-0356 (privilege:2) privileged IQ: an <iq type='set'/> from the component to USER's
 * bare JID wrapping, in jabber:client, the pubsub IQ the user's own client would send. Caller
 * releases it. */
static xmpp_stanza_t *
privileged_iq(struct cp_pep *p, const char *user, const char *id, bool publish)
{
    xmpp_ctx_t *ctx = cp_xmpp_ctx(p->d->xmpp);
    xmpp_stanza_t *outer = xmpp_iq_new(ctx, "set", id);
    if (!outer)
        return NULL;
    xmpp_stanza_set_from(outer, p->d->cfg->jid);
    xmpp_stanza_set_to(outer, user);
    xmpp_stanza_t *wrap = cp_stanza_add(outer, "privileged_iq", CP_PRIV_NS_2);
    xmpp_stanza_t *inner = xmpp_iq_new(ctx, "set", id);
    if (!wrap || !inner) {
        if (inner)
            xmpp_stanza_release(inner);
        xmpp_stanza_release(outer);
        return NULL;
    }
    /* mod_privilege refuses a wrapped IQ in any other namespace, and answers only once the
     * reply comes from the JID in 'to'. */
    xmpp_stanza_set_ns(inner, NS_CLIENT);
    xmpp_stanza_set_from(inner, user);
    xmpp_stanza_set_to(inner, user);
    xmpp_stanza_add_child(wrap, inner);
    xmpp_stanza_release(inner);
    xmpp_stanza_t *pubsub = cp_stanza_add(inner, "pubsub", CP_PRIV_NS_PUBSUB);
    xmpp_stanza_t *op =
        pubsub ? cp_stanza_add(pubsub, publish ? "publish" : "retract", NULL) : NULL;
    int rc = CP_ENOMEM;
    if (op) {
        xmpp_stanza_set_attribute(op, "node", NS_ACTIVITY);
        if (publish) {
            rc = add_activity(p, op);
        } else {
            /* notify: subscribers get the retraction, not only a node that is empty on the
             * next query. */
            xmpp_stanza_set_attribute(op, "notify", "true");
            xmpp_stanza_t *item = cp_stanza_add(op, "item", NULL);
            if (item) {
                xmpp_stanza_set_id(item, ITEM_ID);
                rc = CP_OK;
            }
        }
    }
    if (rc != CP_OK) {
        xmpp_stanza_release(outer);
        return NULL;
    }
    return outer;
}

/* A random id for a request: the answer is taken only with it, and mod_privilege refuses a
 * wrapped IQ whose id one of its requests in flight for the same host already uses. */
static void
new_id(char *id, size_t len)
{
    unsigned char rnd[8];
    evutil_secure_rng_get_bytes(rnd, sizeof(rnd));
    snprintf(id, len, "pep-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3],
             rnd[4], rnd[5], rnd[6], rnd[7]);
}

/* Sends the request for E from slot S. Returns 0 once it is in flight. */
static int
send_request(struct cp_pep *p, struct slot *s, struct pep_user *e, bool publish)
{
    new_id(s->id, sizeof(s->id));
    xmpp_stanza_t *iq = privileged_iq(p, e->jid, s->id, publish);
    if (!iq || cp_xmpp_iq_wait(p->d->xmpp, s->id, on_answer, s) != 0) {
        if (iq)
            xmpp_stanza_release(iq);
        return CP_ENOMEM;
    }
    s->e = e;
    s->publish = publish;
    e->in_flight = true;
    struct timeval tv = {OP_TIMEOUT_S, 0};
    event_add(s->timer, &tv);
    cp_xmpp_send(p->d->xmpp, iq);
    xmpp_stanza_release(iq);
    cp_log_debug("pep", "%s: %s the activity", e->jid, publish ? "publishing" : "retracting");
    return CP_OK;
}

/* Decides E on slot S (free): sends a request when the user's PEP must change. */
static void
decide(struct cp_pep *p, struct slot *s, struct pep_user *e)
{
    bool wanted = pep_wanted(p->d, e->jid);
    bool busy = wanted && busy_now(p->d, e->jid);
    if (e->deferred || (e->given_up && e->given_up_busy == busy))
        return;
    e->given_up = false;
    if (e->shown == (busy ? SHOWN_ACTIVITY : SHOWN_NONE))
        return;
    /* An unknown node is cleared only while the feature is on: a daemon that never publishes
     * sends nothing. */
    if (!busy && !wanted && e->shown == SHOWN_UNKNOWN)
        return;
    if (!may_publish(p, e->jid))
        return;
    if (send_request(p, s, e, busy) != 0) {
        e->deferred = true;
        cp_log_warn("pep", "%s: out of memory building the activity request: trying again in %d s",
                    e->jid, RETRY_S);
    }
}

/* ---- answers ---- */

/* The pubsub service's own answer, forwarded inside a result (XEP-0356 privilege:2):
 * <privilege><forwarded><iq type='result|error'/></forwarded></privilege>; NULL when absent. */
static xmpp_stanza_t *
forwarded_answer(xmpp_stanza_t *result)
{
    xmpp_stanza_t *priv = xmpp_stanza_get_child_by_name_and_ns(result, "privilege", CP_PRIV_NS_2);
    xmpp_stanza_t *fwd =
        priv ? xmpp_stanza_get_child_by_name_and_ns(priv, "forwarded", NS_FORWARD) : NULL;
    return fwd ? xmpp_stanza_get_child_by_name(fwd, "iq") : NULL;
}

bool
cp_pep_answer_read(xmpp_stanza_t *answer, char *cond, size_t len, const char **etype)
{
    if (cp_stanza_error(answer, cond, len, etype))
        return true;
    xmpp_stanza_t *inner = forwarded_answer(answer);
    if (inner)
        cp_stanza_error(inner, cond, len, etype);
    return false;
}

/* Frees slot S; its entry stays known. */
static void
release(struct slot *s)
{
    if (!s->e)
        return;
    cp_xmpp_iq_cancel(s->p->d->xmpp, on_answer, s->id);
    event_del(s->timer);
    s->e->in_flight = false;
    s->e = NULL;
}

static void
outcome(struct cp_pep *p, struct slot *s, const char *cond, const char *etype, bool outer)
{
    struct pep_user *e = s->e;
    const char *what = s->publish ? "publishing" : "retracting";
    /* A retraction of an item that is not there leaves the node as wanted: empty. */
    if (!cond[0] || (!s->publish && strcmp(cond, "item-not-found") == 0)) {
        e->shown = s->publish ? SHOWN_ACTIVITY : SHOWN_NONE;
        cp_log_info("pep", "%s: activity %s", e->jid,
                    s->publish ? "in_a_meeting published" : "retracted");
        return;
    }
    e->shown = SHOWN_UNKNOWN;
    if (strcmp(etype, "wait") == 0) {
        e->deferred = true;
        cp_log_warn("pep", "%s: %s the activity failed (%s): trying again within %d s", e->jid,
                    what, cond, RETRY_S);
        return;
    }
    e->given_up = true;
    e->given_up_busy = s->publish;
    /* mod_privilege itself refusing (the outer IQ) says the same of every user of the domain:
     * once at warn. The pubsub service refusing (the forwarded IQ) is about this user. */
    struct domain_note *n = outer ? note_of(p, e->jid) : NULL;
    if (n && n->refused) {
        cp_log_debug("pep", "%s: %s the activity refused (%s)", e->jid, what, cond);
        return;
    }
    if (n)
        n->refused = true;
    cp_log_warn("pep",
                "%s: the server refused %s the activity (%s%s): not tried again until the "
                "calendar state changes",
                e->jid, what, cond,
                n ? "; further refusals on this domain are logged at debug level" : "");
}

static int
on_answer(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *ud)
{
    (void)conn;
    struct slot *s = ud;
    struct cp_pep *p = s->p;
    struct pep_user *e = s->e;
    const char *from = xmpp_stanza_get_from(stanza);
    const char *type = xmpp_stanza_get_type(stanza);
    char bare[CP_JID_BARE_MAX];
    if (!from || cp_jid_bare(from, bare, sizeof(bare)) != 0 || strcmp(bare, e->jid) != 0 || !type ||
        (strcmp(type, "result") != 0 && strcmp(type, "error") != 0)) {
        cp_log_warn("pep", "%s: answer to an activity request ignored (from %s)", e->jid,
                    from ? from : "nobody");
        return 1; /* keep waiting for the real answer */
    }
    char cond[64];
    const char *etype;
    bool outer = cp_pep_answer_read(stanza, cond, sizeof(cond), &etype);
    outcome(p, s, cond, etype, outer);
    event_del(s->timer);
    e->in_flight = false;
    s->e = NULL;
    enqueue(p, e); /* the state may have changed while the request was out */
    return 0;
}

static void
on_timeout(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    struct slot *s = ud;
    struct cp_pep *p = s->p;
    cp_log_warn("pep", "%s: no answer to %s the activity in %d s: trying again within %d s",
                s->e->jid, s->publish ? "publishing" : "retracting", OP_TIMEOUT_S, RETRY_S);
    s->e->shown = SHOWN_UNKNOWN;
    s->e->deferred = true;
    release(s);
    pump(p);
}

/* ---- the queue ---- */

static int
cmp_jid(const void *a, const void *b)
{
    return strcmp(((const struct pep_user *)a)->jid, ((const struct pep_user *)b)->jid);
}

static struct pep_user *
find_entry(struct cp_pep *p, const char *jid)
{
    struct pep_user key = {.jid = (char *)jid};
    void *found = tfind(&key, &p->by_jid, cmp_jid);
    return found ? *(struct pep_user **)found : NULL;
}

/* A new entry for JID, NULL on ENOMEM. */
static struct pep_user *
add_entry(struct cp_pep *p, const char *jid)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        struct pep_user **grown = realloc(p->all, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        p->all = grown;
        p->cap = cap;
    }
    struct pep_user *e = calloc(1, sizeof(*e));
    if (!e || !(e->jid = strdup(jid)) || !tsearch(e, &p->by_jid, cmp_jid)) {
        if (e)
            free(e->jid);
        free(e);
        return NULL;
    }
    p->all[p->n++] = e;
    return e;
}

static void
enqueue(struct cp_pep *p, struct pep_user *e)
{
    if (e->queued)
        return;
    if (p->len == p->ringcap) {
        size_t cap = p->ringcap ? 2 * p->ringcap : 64;
        struct pep_user **grown = malloc(cap * sizeof(*grown));
        if (!grown) {
            cp_log_warn("pep", "%s: out of memory queueing the activity: trying again in %d s",
                        e->jid, RETRY_S);
            return;
        }
        for (size_t i = 0; i < p->len; i++)
            grown[i] = p->ring[(p->head + i) % p->ringcap];
        free(p->ring);
        p->ring = grown;
        p->ringcap = cap;
        p->head = 0;
    }
    p->ring[(p->head + p->len) % p->ringcap] = e;
    p->len++;
    e->queued = true;
    kick(p, 0);
}

static struct slot *
free_slot(struct cp_pep *p)
{
    for (int i = 0; i < SLOTS; i++)
        if (!p->slots[i].e)
            return &p->slots[i];
    return NULL;
}

static void
pump(struct cp_pep *p)
{
    if (!p->online)
        return;
    xmpp_conn_t *conn = cp_xmpp_conn(p->d->xmpp);
    struct slot *s;
    while (p->len > 0 && (s = free_slot(p))) {
        if (conn && xmpp_conn_send_queue_len(conn) > SENDQ_MAX) {
            kick(p, 100);
            return;
        }
        struct pep_user *e = p->ring[p->head];
        p->head = (p->head + 1) % p->ringcap;
        p->len--;
        e->queued = false;
        if (!e->in_flight) /* otherwise decided again when its answer comes */
            decide(p, s, e);
    }
}

static void
on_kick(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    pump(ud);
}

static void
kick(struct cp_pep *p, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(p->kick, &tv);
}

static void
on_grace(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    struct cp_pep *p = ud;
    p->grace_over = true;
    cp_pep_reconsider(p);
}

/* Ends the wait of the users deferred after a passing failure. */
static void
undefer_all(struct cp_pep *p)
{
    for (size_t i = 0; i < p->n; i++)
        p->all[i]->deferred = false;
}

static void
on_retry(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    undefer_all(ud);
    cp_pep_reconsider(ud);
}

/* ---- public ---- */

struct cp_pep *
cp_pep_new(struct cp_daemon *d)
{
    struct cp_pep *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->d = d;
    p->kick = event_new(d->base, -1, 0, on_kick, p);
    p->retry = event_new(d->base, -1, EV_PERSIST, on_retry, p);
    p->grace = event_new(d->base, -1, 0, on_grace, p);
    bool ok = p->kick && p->retry && p->grace;
    for (int i = 0; i < SLOTS; i++) {
        p->slots[i].p = p;
        p->slots[i].timer = event_new(d->base, -1, 0, on_timeout, &p->slots[i]);
        ok = ok && p->slots[i].timer;
    }
    if (!ok) {
        cp_pep_free(p);
        return NULL;
    }
    return p;
}

static void
free_entry(void *ptr)
{
    struct pep_user *e = ptr;
    free(e->jid);
    free(e);
}

void
cp_pep_free(struct cp_pep *p)
{
    if (!p)
        return;
    for (int i = 0; i < SLOTS; i++) {
        release(&p->slots[i]);
        if (p->slots[i].timer)
            event_free(p->slots[i].timer);
    }
    if (p->kick)
        event_free(p->kick);
    if (p->retry)
        event_free(p->retry);
    if (p->grace)
        event_free(p->grace);
    tdestroy(p->by_jid, free_entry); /* ALL holds the same entries, borrowed */
    free(p->all);
    free(p->ring);
    free(p);
}

void
cp_pep_online(struct cp_pep *p)
{
    struct timeval every = {RETRY_S, 0};
    struct timeval grace = {GRACE_MS / 1000, (GRACE_MS % 1000) * 1000};
    p->online = true;
    p->grace_over = false;
    undefer_all(p); /* a new stream: what failed on the old one may well work */
    p->nnotes = 0;
    event_add(p->grace, &grace);
    event_add(p->retry, &every);
}

void
cp_pep_offline(struct cp_pep *p)
{
    p->online = false;
    for (int i = 0; i < SLOTS; i++) {
        if (p->slots[i].e)
            p->slots[i].e->shown = SHOWN_UNKNOWN;
        release(&p->slots[i]);
    }
    event_del(p->kick);
    event_del(p->retry);
    event_del(p->grace);
}

void
cp_pep_withdraw_all(struct cp_pep *p)
{
    long sent = 0;
    for (size_t i = 0; i < p->n; i++) {
        struct pep_user *e = p->all[i];
        if (e->shown != SHOWN_ACTIVITY && !e->in_flight)
            continue;
        /* The answer comes after the stream is gone: nothing waits for it. */
        char id[40];
        new_id(id, sizeof(id));
        xmpp_stanza_t *iq = privileged_iq(p, e->jid, id, false);
        if (!iq)
            continue;
        cp_xmpp_send(p->d->xmpp, iq);
        xmpp_stanza_release(iq);
        sent++;
    }
    if (sent > 0)
        cp_log_info("pep", "retracted the activity of %ld user(s) in a meeting", sent);
}

void
cp_pep_reconsider(struct cp_pep *p)
{
    for (size_t i = 0; i < p->n; i++)
        enqueue(p, p->all[i]);
}

void
cp_pep_user_changed(struct cp_pep *p, const char *user_jid)
{
    /* Tracked even while the feature is off for the user, so that turning it on (a reload)
     * finds the users already in a meeting. */
    struct pep_user *e = find_entry(p, user_jid);
    if (!e && !(e = add_entry(p, user_jid))) {
        cp_log_warn("pep", "%s: out of memory: the activity is not published", user_jid);
        return;
    }
    enqueue(p, e);
}
