/* ews-sim: mailbox events and subscriptions: Subscribe (pull, push, streaming), Unsubscribe,
 * GetEvents. Each mailbox numbers its events; a watermark is that number, so watermarks and
 * PreviousWatermarks always chain. */
#include "subs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/rand.h>

static const char *const event_names[] = {"CopiedEvent",          "CreatedEvent", "DeletedEvent",
                                          "ModifiedEvent",        "MovedEvent",   "NewMailEvent",
                                          "FreeBusyChangedEvent", "StatusEvent"};

double
sim_scaled(double seconds)
{
    return seconds / (g_sim.time_scale > 0 ? g_sim.time_scale : 1.0);
}

/* The live subscription with that id, owned by the subscription table; NULL otherwise. */
struct sim_sub *
sim_sub_find(const char *id)
{
    unsigned char raw[32];
    uint32_t serial;
    struct sim_sub *s;
    if (!id || sim_unb64(id, raw, sizeof(raw)) != 20 || memcmp(raw, "SUB", 4) != 0)
        return NULL;
    serial =
        (uint32_t)raw[4] | (uint32_t)raw[5] << 8 | (uint32_t)raw[6] << 16 | (uint32_t)raw[7] << 24;
    s = serial < g_sim.nsubs ? g_sim.subs[serial] : NULL;
    return s && strcmp(s->id, id) == 0 ? s : NULL;
}

/* A new subscription of the request's account, owned by the table until sim_sub_delete. */
static struct sim_sub *
sub_new(int kind, struct sim_req *r, uint32_t mailbox)
{
    struct sim_sub *s = sim_xcalloc(1, sizeof(*s));
    struct sim_mailbox *m = &g_sim.mailboxes[mailbox];
    unsigned char raw[20] = {'S', 'U', 'B', 0};
    if (g_sim.nsubs == g_sim.capsubs) {
        g_sim.capsubs = g_sim.capsubs ? g_sim.capsubs * 2 : 256;
        g_sim.subs = sim_xrealloc(g_sim.subs, g_sim.capsubs * sizeof(struct sim_sub *));
    }
    s->serial = g_sim.nsubs;
    g_sim.subs[g_sim.nsubs++] = s;
    g_sim.live_subs++;
    for (int i = 0; i < 4; i++) {
        raw[4 + i] = (unsigned char)(s->serial >> (8 * i));
        raw[8 + i] = (unsigned char)(mailbox >> (8 * i));
    }
    raw[12] = (unsigned char)r->cas;
    RAND_bytes(raw + 13, 7);
    sim_b64(raw, sizeof(raw), s->id);
    s->kind = (uint8_t)kind;
    s->cas = r->cas;
    s->version = r->version;
    s->mailbox = mailbox;
    s->account = r->account;
    s->generation = m->generation;
    s->last_wm = m->seq;
    s->mbx_next = m->subs;
    m->subs = s;
    m->nsubs++;
    return s;
}

void
sim_sub_delete(struct sim_sub *s)
{
    struct sim_mailbox *m = &g_sim.mailboxes[s->mailbox];
    for (struct sim_sub **pp = &m->subs; *pp; pp = &(*pp)->mbx_next) {
        if (*pp == s) {
            *pp = s->mbx_next;
            m->nsubs--;
            break;
        }
    }
    if (s->stream)
        sim_stream_detach(s);
    if (s->timer)
        event_free(s->timer);
    g_sim.subs[s->serial] = NULL;
    g_sim.live_subs--;
    free(s->q);
    free(s->host);
    free(s->path);
    free(s);
}

void
sim_emit(uint32_t mailbox, int type, uint32_t item)
{
    struct sim_mailbox *m = &g_sim.mailboxes[mailbox];
    m->seq++;
    g_sim.ctr.events++;
    for (struct sim_sub *s = m->subs, *next; s; s = next) {
        next = s->mbx_next;
        if (s->moved || !(s->folders & (1u << FOLDER_CALENDAR)) || !(s->types & (1u << type)))
            continue;
        if (s->nq == s->capq) {
            s->capq = s->capq ? s->capq * 2 : 4;
            s->q = sim_xrealloc(s->q, s->capq * sizeof(*s->q));
        }
        s->q[s->nq++] = (struct sim_evrec){(uint8_t)type, item, m->seq, sim_now()};
        if (s->kind == SUB_PUSH)
            sim_push_kick(s);
        else if (s->kind == SUB_STREAM && s->stream)
            sim_stream_kick(s);
    }
}

/* A moved mailbox leaves its subscriptions behind: they fail on next use, as Exchange's do. */
void
sim_subs_mailbox_moved(uint32_t mailbox)
{
    for (struct sim_sub *s = g_sim.mailboxes[mailbox].subs, *next; s; s = next) {
        next = s->mbx_next;
        s->moved = 1;
        if (s->kind == SUB_PUSH)
            sim_sub_delete(s); /* the new server knows nothing of it: it simply stops */
        else if (s->stream)
            sim_stream_moved(s);
    }
}

/* Subscriptions live in their CAS's memory: a stopped CAS forgets them. */
void
sim_subs_cas_stopped(int cas)
{
    for (uint32_t i = 0; i < g_sim.nsubs; i++)
        if (g_sim.subs[i] && g_sim.subs[i]->cas == cas)
            sim_sub_delete(g_sim.subs[i]);
}

void
sim_subs_free_all(void)
{
    for (uint32_t i = 0; i < g_sim.nsubs; i++)
        if (g_sim.subs[i])
            sim_sub_delete(g_sim.subs[i]);
    /* pending push answers fire while their connections close: subs[] must still exist */
    sim_push_free();
    free(g_sim.subs);
}

uint32_t
sim_sub_write_notification(struct evbuffer *out, struct sim_sub *s, uint32_t max,
                           const char *prefix)
{
    char wm[64], id[64], fid[64];
    uint32_t n = s->nq < max ? s->nq : max;
    sim_watermark(s->mailbox, s->last_wm, wm);
    evbuffer_add_printf(out,
                        "<%s:Notification><t:SubscriptionId>%s</t:SubscriptionId>"
                        "<t:PreviousWatermark>%s</t:PreviousWatermark>"
                        "<t:MoreEvents>%s</t:MoreEvents>",
                        prefix, s->id, wm, n < s->nq ? "true" : "false");
    sim_folder_id(s->mailbox, FOLDER_CALENDAR, fid);
    for (uint32_t i = 0; i < n; i++) {
        const struct sim_evrec *e = &s->q[i];
        char ts[40];
        const struct sim_item *it = sim_item_get(e->item);
        char ck[32];
        sim_watermark(s->mailbox, e->wm, wm);
        sim_fmt_time(e->ts, ts, sizeof(ts), 1);
        sim_item_id(s->mailbox, e->item, 0, id);
        sim_change_key(it ? it->changes : 0, ck);
        evbuffer_add_printf(out,
                            "<t:%s><t:Watermark>%s</t:Watermark><t:TimeStamp>%s</t:TimeStamp>"
                            "<t:ItemId Id=\"%s\" ChangeKey=\"%s\"/>"
                            "<t:ParentFolderId Id=\"%s\" ChangeKey=\"AQAAAA==\"/></t:%s>",
                            event_names[e->type], wm, ts, id, ck, fid, event_names[e->type]);
    }
    s->sent_wm = n ? s->q[n - 1].wm : g_sim.mailboxes[s->mailbox].seq;
    if (n == 0) {
        sim_watermark(s->mailbox, s->sent_wm, wm);
        evbuffer_add_printf(out, "<t:StatusEvent><t:Watermark>%s</t:Watermark></t:StatusEvent>",
                            wm);
    }
    evbuffer_add_printf(out, "</%s:Notification>", prefix);
    return n;
}

/* Drops the first n queued events. */
static void
sub_pop(struct sim_sub *s, uint32_t n)
{
    if (n == 0)
        return;
    memmove(s->q, s->q + n, (s->nq - n) * sizeof(*s->q));
    s->nq -= n;
}

void
sim_sub_consume(struct sim_sub *s, uint32_t n)
{
    sub_pop(s, n);
    s->last_wm = s->sent_wm;
}

static void
pull_expired(evutil_socket_t fd, short what, void *arg)
{
    struct sim_sub *s = arg;
    (void)fd;
    (void)what;
    sim_debug("pull: %s: subscription expired", g_sim.mailboxes[s->mailbox].smtp);
    sim_sub_delete(s);
}

static void
pull_touch(struct sim_sub *s)
{
    double t = sim_scaled((double)s->timeout_s);
    struct timeval tv = {(time_t)t, (suseconds_t)((t - (double)(time_t)t) * 1e6)};
    if (!s->timer)
        s->timer = evtimer_new(g_sim.base, pull_expired, s);
    evtimer_add(s->timer, &tv);
}

static uint16_t
event_types(xmlNodePtr list)
{
    uint16_t mask = 0;
    for (xmlNodePtr e = sim_child(list, "EventType"); e; e = sim_next(e->next, "EventType")) {
        const char *v = e->children ? (const char *)e->children->content : "";
        for (int i = 0; i < EV_STATUS; i++)
            if (strncmp(v, event_names[i], strlen(event_names[i]) - 5) == 0 &&
                strcmp(v + strlen(event_names[i]) - 5, "Event") == 0)
                mask |= (uint16_t)(1u << i);
    }
    return mask;
}

/* Folders named by FolderIds, and the mailbox they belong to. */
static int
folder_mask(struct sim_req *r, xmlNodePtr ids, uint32_t *mbx, uint16_t *mask)
{
    *mbx = r->mailbox;
    *mask = 0;
    for (xmlNodePtr f = sim_child(ids, NULL); f; f = sim_next(f->next, NULL)) {
        char *id = (char *)xmlGetProp(f, BAD_CAST "Id");
        int folder = -1;
        uint32_t fm = r->mailbox;
        if (id && xmlStrcmp(f->name, BAD_CAST "DistinguishedFolderId") == 0) {
            const char *addr = sim_child_text(sim_child(f, "Mailbox"), "EmailAddress");
            folder = sim_folder_parse(id);
            if (addr)
                fm = sim_mailbox_find(addr);
        } else if (id && sim_folder_id_parse(id, &fm, &folder) < 0) {
            folder = -1;
        }
        xmlFree(id);
        if (fm == SIM_NONE || fm >= g_sim.nmailboxes ||
            (fm != r->mailbox && !sim_may_impersonate(r->account, fm)))
            return -1;
        *mbx = fm;
        if (folder >= 0)
            *mask |= (uint16_t)(1u << folder);
    }
    return *mbx == SIM_NONE ? -1 : 0;
}

static void
subscribe_error(struct evbuffer *out, const char *code, const char *text)
{
    sim_msg_error(out, "SubscribeResponseMessage", code, text);
    evbuffer_add_printf(out, "</m:SubscribeResponseMessage>");
}

int
sim_op_subscribe(struct sim_req *r, struct evbuffer *out)
{
    xmlNodePtr req = sim_child(r->op, NULL);
    int kind = -1;
    uint32_t mbx;
    uint16_t folders, types;
    char *all;
    const char *wm_s, *ecode = NULL, *etext = NULL;
    struct sim_sub *s;
    char wm[64];
    if (req && xmlStrcmp(req->name, BAD_CAST "PullSubscriptionRequest") == 0)
        kind = SUB_PULL;
    else if (req && xmlStrcmp(req->name, BAD_CAST "PushSubscriptionRequest") == 0)
        kind = SUB_PUSH;
    else if (req && xmlStrcmp(req->name, BAD_CAST "StreamingSubscriptionRequest") == 0)
        kind = SUB_STREAM;
    evbuffer_add_printf(out, "<m:SubscribeResponse xmlns:m=\"" SIM_NS_M "\" xmlns:t=\"" SIM_NS_T
                             "\"><m:ResponseMessages>");
    all = req ? (char *)xmlGetProp(req, BAD_CAST "SubscribeToAllFolders") : NULL;
    types = event_types(sim_child(req, "EventTypes"));
    wm_s = sim_child_text(req, "Watermark");
    if (kind < 0) {
        ecode = "ErrorInvalidRequest";
        etext = "The subscription request is invalid.";
    } else if (kind == SUB_STREAM && r->version < sim_request_version("Exchange2010_SP1")) {
        ecode = "ErrorInvalidServerVersion";
        etext = "Streaming subscriptions need Exchange2010_SP1 or later.";
    } else if (folder_mask(r, sim_child(req, "FolderIds"), &mbx, &folders) < 0) {
        ecode = "ErrorNonExistentMailbox";
        etext = "The mailbox cannot be found.";
    } else if (g_sim.mailboxes[mbx].nsubs >= g_sim.max_subscriptions) {
        ecode = "ErrorExceededSubscriptionCount";
        etext = "You have exceeded the available subscriptions for your account.";
    } else if (wm_s) {
        uint32_t wm_mbx;
        uint64_t seq;
        /* no event table is kept: only the current watermark can be resumed from */
        if (sim_watermark_parse(wm_s, &wm_mbx, &seq) < 0 || wm_mbx != mbx ||
            seq != g_sim.mailboxes[mbx].seq) {
            ecode = "ErrorInvalidWatermark";
            etext = "The watermark is invalid.";
        }
    }
    if (ecode) {
        subscribe_error(out, ecode, etext);
    } else {
        if (all && strcmp(all, "true") == 0)
            folders = 0xffff;
        s = sub_new(kind, r, mbx);
        s->folders = folders;
        s->types = types;
        if (kind == SUB_PULL) {
            const char *t = sim_child_text(req, "Timeout");
            s->timeout_s = (t ? strtol(t, NULL, 10) : 30) * 60;
            if (s->timeout_s < 60 || s->timeout_s > 1440 * 60)
                s->timeout_s = 30 * 60;
            pull_touch(s);
        } else if (kind == SUB_PUSH) {
            const char *f = sim_child_text(req, "StatusFrequency");
            s->status_freq_min = f ? (int)strtol(f, NULL, 10) : 30;
            if (s->status_freq_min < 1 || s->status_freq_min > 1440)
                s->status_freq_min = 30;
            if (sim_push_start(s, sim_child_text(req, "URL")) < 0) {
                sim_sub_delete(s);
                subscribe_error(out, "ErrorInvalidPushSubscriptionUrl",
                                "The push subscription URL is invalid.");
                s = NULL;
            }
        }
        if (s) {
            sim_msg_ok(out, "SubscribeResponseMessage");
            sim_watermark(mbx, g_sim.mailboxes[mbx].seq, wm);
            evbuffer_add_printf(out, "<m:SubscriptionId>%s</m:SubscriptionId>", s->id);
            if (kind != SUB_STREAM)
                evbuffer_add_printf(out, "<m:Watermark>%s</m:Watermark>", wm);
            evbuffer_add_printf(out, "</m:SubscribeResponseMessage>");
            sim_debug("subscribe: %s: %s subscription on %s", g_sim.mailboxes[mbx].smtp,
                      kind == SUB_PULL   ? "pull"
                      : kind == SUB_PUSH ? "push"
                                         : "streaming",
                      g_sim.cas[r->cas].name);
        }
    }
    xmlFree(all);
    evbuffer_add_printf(out, "</m:ResponseMessages></m:SubscribeResponse>");
    return 200;
}

/* Resolves a subscription id for use on this CAS by this account: NULL with *code set. */
static struct sim_sub *
sub_for(struct sim_req *r, const char *id, const char **code)
{
    struct sim_sub *s = sim_sub_find(id);
    *code = "ErrorSubscriptionNotFound";
    if (!s || s->cas != r->cas)
        return NULL;
    if (s->account != r->account) {
        *code = "ErrorSubscriptionAccessDenied";
        return NULL;
    }
    if (s->moved) {
        *code = "ErrorReadEventsFailed";
        sim_sub_delete(s);
        return NULL;
    }
    return s;
}

int
sim_op_unsubscribe(struct sim_req *r, struct evbuffer *out)
{
    const char *code;
    struct sim_sub *s = sub_for(r, sim_child_text(r->op, "SubscriptionId"), &code);
    evbuffer_add_printf(out, "<m:UnsubscribeResponse xmlns:m=\"" SIM_NS_M "\" xmlns:t=\"" SIM_NS_T
                             "\"><m:ResponseMessages>");
    if (!s) {
        sim_msg_error(out, "UnsubscribeResponseMessage", code, "The subscription was not found.");
    } else {
        sim_sub_delete(s);
        sim_msg_ok(out, "UnsubscribeResponseMessage");
    }
    evbuffer_add_printf(out, "</m:UnsubscribeResponseMessage></m:ResponseMessages>"
                             "</m:UnsubscribeResponse>");
    return 200;
}

int
sim_op_getevents(struct sim_req *r, struct evbuffer *out)
{
    const char *code, *wm_s = sim_child_text(r->op, "Watermark");
    struct sim_sub *s = sub_for(r, sim_child_text(r->op, "SubscriptionId"), &code);
    uint32_t wm_mbx;
    uint64_t seq;
    evbuffer_add_printf(out, "<m:GetEventsResponse xmlns:m=\"" SIM_NS_M "\" xmlns:t=\"" SIM_NS_T
                             "\"><m:ResponseMessages>");
    if (s && s->kind != SUB_PULL) {
        code = "ErrorInvalidSubscription";
        s = NULL;
    }
    if (s && (!wm_s || sim_watermark_parse(wm_s, &wm_mbx, &seq) < 0 || wm_mbx != s->mailbox)) {
        code = "ErrorInvalidWatermark";
        s = NULL;
    }
    if (!s) {
        sim_msg_error(out, "GetEventsResponseMessage", code, "The events cannot be read.");
    } else {
        uint32_t acked = 0, n;
        while (acked < s->nq && s->q[acked].wm <= seq)
            acked++;
        sub_pop(s, acked);
        /* the client's watermark is where the next notification starts from */
        if (seq <= g_sim.mailboxes[s->mailbox].seq)
            s->last_wm = seq;
        sim_msg_ok(out, "GetEventsResponseMessage");
        n = sim_sub_write_notification(out, s, 100, "m");
        sim_sub_consume(s, n);
        pull_touch(s);
    }
    evbuffer_add_printf(out, "</m:GetEventsResponseMessage></m:ResponseMessages>"
                             "</m:GetEventsResponse>");
    return 200;
}
