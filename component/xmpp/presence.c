#include "presence.h"

#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "own.h"
#include "config/config.h"
#include "stanza.h"
#include "store/store.h"

#define JID_MAX 3072
#define NS_CALPRESENCE "urn:calpresence:0"

const char *
cp_cal_state_name(enum cp_cal_state state)
{
    switch (state) {
    case CP_CAL_FREE:
        return "free";
    case CP_CAL_TENTATIVE:
        return "tentative";
    case CP_CAL_BUSY:
        return "busy";
    case CP_CAL_OOF:
        return "oof";
    case CP_CAL_ELSEWHERE:
        return "elsewhere";
    case CP_CAL_UNAVAILABLE:
        break;
    }
    return "unavailable";
}

int
cp_presence_calendar_owner(const struct cp_config *cfg, const char *cal_bare, char *out,
                           size_t outlen)
{
    char local[JID_MAX], domain[JID_MAX];
    if (cp_jid_user_from_calendar(cal_bare, cfg->domains.items[0], cfg->jid, out, outlen) != 0 ||
        cp_jid_split(out, local, sizeof(local), domain, sizeof(domain)) != 0 ||
        !cp_config_serves_domain(cfg, domain))
        return CP_EINVAL;
    return CP_OK;
}

xmpp_stanza_t *
cp_presence_build(xmpp_ctx_t *ctx, const struct cp_config *cfg, const char *from, const char *to,
                  const struct cp_cal_presence *p)
{
    xmpp_stanza_t *pres = xmpp_presence_new(ctx);
    if (!pres)
        return NULL;
    xmpp_stanza_set_from(pres, from);
    xmpp_stanza_set_to(pres, to);
    if (p->state == CP_CAL_UNAVAILABLE) {
        xmpp_stanza_set_type(pres, "unavailable");
        return pres;
    }
    bool busy = p->state == CP_CAL_BUSY || (p->state == CP_CAL_TENTATIVE && p->busy_tentative);
    if (busy) {
        cp_stanza_add_text(pres, "show", cfg->busy_show);
        cp_stanza_add_text(pres, "status", cfg->busy_status);
    } else if (p->state == CP_CAL_OOF) {
        cp_stanza_add_text(pres, "show", cfg->oof_show);
        cp_stanza_add_text(pres, "status", cfg->oof_status);
    }
    xmpp_stanza_t *cal = xmpp_stanza_new(ctx);
    xmpp_stanza_set_name(cal, "calendar");
    xmpp_stanza_set_ns(cal, NS_CALPRESENCE);
    xmpp_stanza_set_attribute(cal, "state", cp_cal_state_name(p->state));
    if (p->until > 0) {
        char until[32];
        struct tm tm;
        gmtime_r(&p->until, &tm);
        strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
        xmpp_stanza_set_attribute(cal, "until", until);
    }
    if (p->subject)
        xmpp_stanza_set_attribute(cal, "subject", p->subject);
    xmpp_stanza_add_child(pres, cal);
    xmpp_stanza_release(cal);
    return pres;
}

/* The state a user's calendar JID shows now: the engine's, through the daemon. */
static void
current_presence(struct cp_daemon *d, const char *user_jid, struct cp_cal_presence *out)
{
    cp_daemon_presence(d, user_jid, out);
}

static int
calendar_jid(struct cp_daemon *d, const char *user_jid, char *out, size_t outlen)
{
    return cp_jid_calendar(user_jid, d->cfg->domains.items[0], d->cfg->jid, out, outlen);
}

static void
send_presence(struct cp_daemon *d, const char *user_jid, const char *to,
              const struct cp_cal_presence *p)
{
    char from[JID_MAX];
    if (calendar_jid(d, user_jid, from, sizeof(from)) != 0)
        return;
    xmpp_stanza_t *s = cp_presence_build(cp_xmpp_ctx(d->xmpp), d->cfg, from, to, p);
    if (s) {
        cp_xmpp_send(d->xmpp, s);
        xmpp_stanza_release(s);
    }
}

/* Sends a bare subscription-state presence (subscribed, unsubscribed) from FROM to TO. */
static void
send_typed(struct cp_daemon *d, const char *from, const char *to, const char *type)
{
    xmpp_stanza_t *s = xmpp_presence_new(cp_xmpp_ctx(d->xmpp));
    if (!s)
        return;
    xmpp_stanza_set_from(s, from);
    xmpp_stanza_set_to(s, to);
    xmpp_stanza_set_type(s, type);
    cp_xmpp_send(d->xmpp, s);
    xmpp_stanza_release(s);
}

static void
send_error(struct cp_daemon *d, xmpp_stanza_t *stanza, const char *type, const char *cond,
           const char *text)
{
    xmpp_stanza_t *r = xmpp_stanza_reply_error(stanza, type, cond, text);
    if (r) {
        cp_xmpp_send(d->xmpp, r);
        xmpp_stanza_release(r);
    }
}

static int
match_subscriber(const char *user_jid, const char *subscriber, void *ud)
{
    (void)user_jid;
    return strcmp(subscriber, ud) == 0 ? 1 : 0;
}

static bool
is_subscriber(struct cp_daemon *d, const char *user, const char *sub)
{
    return cp_store_subscribers_each(d->store, user, match_subscriber, (void *)sub) == 1;
}

int
cp_presence_on_stanza(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *ud)
{
    (void)conn;
    struct cp_daemon *d = ud;
    const char *from = xmpp_stanza_get_from(stanza);
    const char *to = xmpp_stanza_get_to(stanza);
    const char *type = xmpp_stanza_get_type(stanza);
    char sub[JID_MAX], sub_local[JID_MAX], sub_domain[JID_MAX], to_bare[JID_MAX], user[JID_MAX];

    if (!from || !to || (type && strcmp(type, "error") == 0))
        return 1;
    if (cp_jid_bare(from, sub, sizeof(sub)) != 0 || cp_jid_bare(to, to_bare, sizeof(to_bare)) != 0)
        return 1;
    /* The server forwards its users' own presence to the component's domain (XEP-0356). */
    if ((!type || strcmp(type, "unavailable") == 0) && strcmp(to_bare, d->cfg->jid) == 0 &&
        cp_own_on_presence(d->own, stanza))
        return 1;
    if (!type || strcmp(type, "unavailable") == 0 || strcmp(type, "subscribed") == 0 ||
        strcmp(type, "unsubscribed") == 0)
        return 1; /* directed presence and answers to nothing we asked: nothing to do */
    /* Unsubscribing stays possible for a subscriber whose domain is no longer served. */
    if (cp_jid_split(sub, sub_local, sizeof(sub_local), sub_domain, sizeof(sub_domain)) != 0 ||
        (!cp_config_serves_domain(d->cfg, sub_domain) && strcmp(type, "unsubscribe") != 0)) {
        cp_log_info("presence", "%s: %s refused (domain not served)", sub, type);
        send_error(d, stanza, "auth", "forbidden", "this service serves other domains only");
        return 1;
    }
    if (cp_presence_calendar_owner(d->cfg, to_bare, user, sizeof(user)) != 0) {
        send_error(d, stanza, "cancel", "item-not-found", "no such calendar");
        return 1;
    }

    struct cp_cal_presence p;
    if (strcmp(type, "subscribe") == 0) {
        if (!is_subscriber(d, user, sub) &&
            cp_store_subscriptions_of(d->store, sub) >= CP_MAX_SUBSCRIPTIONS_PER_SUBSCRIBER) {
            cp_log_warn("presence", "%s: subscription of %s refused (already %d calendars)", user,
                        sub, CP_MAX_SUBSCRIPTIONS_PER_SUBSCRIBER);
            send_error(d, stanza, "modify", "policy-violation", "too many calendar subscriptions");
            return 1;
        }
        if (cp_store_subscriber_add(d->store, user, sub) != 0) {
            send_error(d, stanza, "wait", "internal-server-error", "cannot store subscription");
            return 1;
        }
        cp_log_info("presence", "%s: %s subscribed to %s", user, sub, to_bare);
        send_typed(d, to_bare, sub, "subscribed");
        current_presence(d, user, &p);
        send_presence(d, user, sub, &p);
    } else if (strcmp(type, "unsubscribe") == 0) {
        cp_store_subscriber_remove(d->store, user, sub);
        cp_log_info("presence", "%s: %s unsubscribed from %s", user, sub, to_bare);
        send_typed(d, to_bare, sub, "unsubscribed");
        p.state = CP_CAL_UNAVAILABLE;
        send_presence(d, user, sub, &p);
    } else if (strcmp(type, "probe") == 0) {
        /* Only subscribers learn the state; anyone else is told they are not subscribed. */
        bool subscribed = is_subscriber(d, user, sub);
        if (subscribed) {
            current_presence(d, user, &p);
            send_presence(d, user, sub, &p);
        } else {
            cp_log_info("presence", "%s: probe from %s answered unsubscribed (not a subscriber)",
                        user, sub);
            send_typed(d, to_bare, sub, "unsubscribed");
        }
    }
    return 1;
}

void
cp_presence_send_current(struct cp_daemon *d, const char *user_jid, const char *to)
{
    struct cp_cal_presence p;
    current_presence(d, user_jid, &p);
    send_presence(d, user_jid, to, &p);
}

struct publish_ctx {
    struct cp_daemon *d;
    bool unavailable;
    long sent;
    long subscriptions; /* publish_all: subscriptions behind the calendars queued */
    bool computed;      /* P holds the presence of the user being published */
    struct cp_cal_presence p;
    char last_user[JID_MAX]; /* publish_all: the last user queued */
    /* The stanza of STANZA_USER, built once and re-addressed per subscriber: at a meeting edge
     * building it for each of ten subscribers was most of the CPU. Owned; released by
     * publish_done. */
    xmpp_stanza_t *stanza;
    char stanza_user[JID_MAX];
};

/* True when SUBSCRIBER's domain is served: a subscriber stored while its domain was served
 * learns nothing once it no longer is. */
static bool
subscriber_served(const struct cp_config *cfg, const char *subscriber)
{
    const char *at = strrchr(subscriber, '@');
    return at != NULL && cp_config_serves_domain(cfg, at + 1);
}

static int
publish_one(const char *user_jid, const char *subscriber, void *ud)
{
    struct publish_ctx *pc = ud;
    if (!subscriber_served(pc->d->cfg, subscriber))
        return 0;
    if (!pc->computed) { /* once per user, not once per subscriber */
        memset(&pc->p, 0, sizeof(pc->p));
        pc->p.state = CP_CAL_UNAVAILABLE;
        if (!pc->unavailable)
            current_presence(pc->d, user_jid, &pc->p);
        pc->computed = true;
    }
    if (!pc->stanza || strcmp(pc->stanza_user, user_jid) != 0) {
        char from[JID_MAX];
        if (pc->stanza)
            xmpp_stanza_release(pc->stanza);
        pc->stanza = NULL;
        if (calendar_jid(pc->d, user_jid, from, sizeof(from)) != 0)
            return 0;
        pc->stanza =
            cp_presence_build(cp_xmpp_ctx(pc->d->xmpp), pc->d->cfg, from, subscriber, &pc->p);
        if (!pc->stanza)
            return 0;
        snprintf(pc->stanza_user, sizeof(pc->stanza_user), "%s", user_jid);
    }
    /* libstrophe serialises at send time, so the next subscriber may reuse the stanza. */
    xmpp_stanza_set_to(pc->stanza, subscriber);
    cp_xmpp_send(pc->d->xmpp, pc->stanza);
    pc->sent++;
    return 0;
}

static void
publish_done(struct publish_ctx *pc)
{
    if (pc->stanza)
        xmpp_stanza_release(pc->stanza);
    pc->stanza = NULL;
}

void
cp_presence_publish_user(struct cp_daemon *d, const char *user_jid)
{
    struct publish_ctx pc = {.d = d};
    cp_store_subscribers_each(d->store, user_jid, publish_one, &pc);
    publish_done(&pc);
}

/* Rows come sorted by user: each user with subscribers is queued once. */
static int
queue_one(const char *user_jid, const char *subscriber, void *ud)
{
    struct publish_ctx *pc = ud;
    if (subscriber_served(pc->d->cfg, subscriber))
        pc->subscriptions++;
    if (strcmp(pc->last_user, user_jid) == 0)
        return 0;
    snprintf(pc->last_user, sizeof(pc->last_user), "%s", user_jid);
    cp_daemon_queue_publish(pc->d, user_jid);
    pc->sent++;
    return 0;
}

void
cp_presence_publish_all(struct cp_daemon *d)
{
    /* Queued, not sent: 100,000 users with ten subscribers each are a million stanzas, which
     * go out as fast as the XMPP server takes them instead of piling up in libstrophe. */
    struct publish_ctx pc = {.d = d};
    cp_store_subscribers_each(d->store, NULL, queue_one, &pc);
    cp_log_info("presence", "queued current presence of %ld calendars for %ld subscriptions",
                pc.sent, pc.subscriptions);
}

static int
unavailable_one(const char *user_jid, const char *subscriber, void *ud)
{
    struct publish_ctx *pc = ud;
    pc->computed = true; /* P is unavailable for every user */
    return publish_one(user_jid, subscriber, pc);
}

void
cp_presence_unavailable_all(struct cp_daemon *d)
{
    struct publish_ctx pc = {.d = d, .unavailable = true};
    pc.p.state = CP_CAL_UNAVAILABLE;
    cp_store_subscribers_each(d->store, NULL, unavailable_one, &pc);
    publish_done(&pc);
    cp_log_info("presence", "sent unavailable to %ld subscriptions", pc.sent);
}
