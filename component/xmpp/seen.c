/* The users' own presence, per bare JID and resource. See seen.h. */
#include "seen.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

#define BUCKETS_MIN 1024
/* Hashes whose features are remembered; a server of ten thousand users runs a few dozen
 * client versions, so reaching this means hashes that name nothing (random), not clients. */
#define CAPS_MAX 4096

struct res {
    char *resource; /* owned */
    enum cp_seen_show show;
    char *ver; /* owned, may be NULL */
    struct res *next;
};

struct user {
    char *bare; /* owned */
    struct res *res;
    struct user *next;
};

struct caps {
    char *ver; /* owned */
    enum cp_seen_caps caps;
    struct caps *next;
};

struct cp_seen {
    struct user **buckets;
    size_t nbuckets;
    size_t nusers;
    struct caps *caps; /* newest first */
    size_t ncaps;
};

static uint32_t hash(const char *s);
static struct user *find(const struct cp_seen *s, const char *bare);
static int grow(struct cp_seen *s);
static void res_free(struct res *r);
static void user_free(struct user *u);
static void user_drop(struct cp_seen *s, const char *bare);
static enum cp_seen_show show_of(const char *show);
static enum cp_seen_show best(const struct user *u, const struct res **which);
static char *dup_or_null(const char *s, bool *failed);

/* FNV-1a: JIDs are short and the table only needs an even spread. */
static uint32_t
hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static struct user *
find(const struct cp_seen *s, const char *bare)
{
    for (struct user *u = s->buckets[hash(bare) % s->nbuckets]; u; u = u->next)
        if (strcmp(u->bare, bare) == 0)
            return u;
    return NULL;
}

/* Doubles the buckets once users outnumber them, keeping chains short. */
static int
grow(struct cp_seen *s)
{
    size_t n = s->nbuckets * 2;
    struct user **b = calloc(n, sizeof(*b));
    if (!b)
        return CP_ENOMEM;
    for (size_t i = 0; i < s->nbuckets; i++) {
        struct user *u = s->buckets[i];
        while (u) {
            struct user *next = u->next;
            size_t k = hash(u->bare) % n;
            u->next = b[k];
            b[k] = u;
            u = next;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = n;
    return CP_OK;
}

struct cp_seen *
cp_seen_new(void)
{
    struct cp_seen *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->nbuckets = BUCKETS_MIN;
    s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
    if (!s->buckets) {
        free(s);
        return NULL;
    }
    return s;
}

static void
res_free(struct res *r)
{
    free(r->resource);
    free(r->ver);
    free(r);
}

static void
user_free(struct user *u)
{
    while (u->res) {
        struct res *next = u->res->next;
        res_free(u->res);
        u->res = next;
    }
    free(u->bare);
    free(u);
}

void
cp_seen_clear(struct cp_seen *s)
{
    for (size_t i = 0; i < s->nbuckets; i++) {
        while (s->buckets[i]) {
            struct user *next = s->buckets[i]->next;
            user_free(s->buckets[i]);
            s->buckets[i] = next;
        }
    }
    s->nusers = 0;
    /* An unanswered disco#info died with the stream: ask again. */
    for (struct caps *c = s->caps; c; c = c->next)
        if (c->caps == CP_CAPS_ASKED)
            c->caps = CP_CAPS_UNKNOWN;
}

void
cp_seen_free(struct cp_seen *s)
{
    if (!s)
        return;
    cp_seen_clear(s);
    free(s->buckets);
    while (s->caps) {
        struct caps *next = s->caps->next;
        free(s->caps->ver);
        free(s->caps);
        s->caps = next;
    }
    free(s);
}

static void
user_drop(struct cp_seen *s, const char *bare)
{
    struct user **p = &s->buckets[hash(bare) % s->nbuckets];
    while (*p && strcmp((*p)->bare, bare) != 0)
        p = &(*p)->next;
    if (!*p)
        return;
    struct user *u = *p;
    *p = u->next;
    user_free(u);
    s->nusers--;
}

static enum cp_seen_show
show_of(const char *show)
{
    static const struct {
        const char *word;
        enum cp_seen_show show;
    } words[] = {
        {"dnd", CP_SEEN_DND}, {"xa", CP_SEEN_XA}, {"away", CP_SEEN_AWAY}, {"chat", CP_SEEN_CHAT}};
    for (size_t i = 0; show && i < sizeof(words) / sizeof(words[0]); i++)
        if (strcmp(show, words[i].word) == 0)
            return words[i].show;
    return CP_SEEN_ONLINE;
}

static enum cp_seen_show
best(const struct user *u, const struct res **which)
{
    enum cp_seen_show b = CP_SEEN_OFFLINE;
    *which = NULL;
    for (const struct res *r = u ? u->res : NULL; r; r = r->next) {
        if (r->show > b) {
            b = r->show;
            *which = r;
        }
    }
    return b;
}

static char *
dup_or_null(const char *s, bool *failed)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *failed = true;
    return d;
}

/* Ownership: copies FULL_JID's parts, SHOW, STATUS and VER. */
int
cp_seen_update(struct cp_seen *s, const char *full_jid, bool available, const char *show,
               const char *ver)
{
    char bare[CP_JID_BARE_MAX];
    const char *slash = strchr(full_jid, '/');
    if (!slash || slash[1] == '\0' || cp_jid_bare(full_jid, bare, sizeof(bare)) != 0)
        return CP_EINVAL;
    const char *resource = slash + 1;
    struct user *u = find(s, bare);
    const struct res *which;
    enum cp_seen_show before = best(u, &which);

    if (!available) {
        if (!u)
            return 0;
        for (struct res **p = &u->res; *p; p = &(*p)->next) {
            if (strcmp((*p)->resource, resource) == 0) {
                struct res *gone = *p;
                *p = gone->next;
                res_free(gone);
                break;
            }
        }
        if (u->res)
            return best(u, &which) != before;
        user_drop(s, bare);
        return before != CP_SEEN_OFFLINE;
    }
    if (!u) {
        if (s->nusers >= s->nbuckets && grow(s) != 0)
            return CP_ENOMEM;
        u = calloc(1, sizeof(*u));
        if (!u || !(u->bare = strdup(bare))) {
            free(u);
            return CP_ENOMEM;
        }
        size_t k = hash(bare) % s->nbuckets;
        u->next = s->buckets[k];
        s->buckets[k] = u;
        s->nusers++;
    }
    struct res *r = u->res;
    while (r && strcmp(r->resource, resource) != 0)
        r = r->next;
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r || !(r->resource = strdup(resource))) {
            free(r);
            if (!u->res)
                user_drop(s, bare);
            return CP_ENOMEM;
        }
        r->next = u->res;
        u->res = r;
    }
    bool failed = false;
    char *v = dup_or_null(ver, &failed);
    if (failed)
        return CP_ENOMEM;
    free(r->ver);
    r->ver = v;
    r->show = show_of(show);
    return best(u, &which) != before;
}

enum cp_seen_show
cp_seen_best(const struct cp_seen *s, const char *bare)
{
    const struct res *which;
    return best(find(s, bare), &which);
}

const char *
cp_seen_show_name(enum cp_seen_show show)
{
    static const char *const names[] = {"offline", "dnd", "xa", "away", "online", "chat"};
    return names[show];
}

size_t
cp_seen_online_count(const struct cp_seen *s)
{
    return s->nusers;
}

enum cp_seen_caps
cp_seen_caps_get(const struct cp_seen *s, const char *ver)
{
    for (const struct caps *c = s->caps; c; c = c->next)
        if (strcmp(c->ver, ver) == 0)
            return c->caps;
    return CP_CAPS_UNKNOWN;
}

/* Ownership: copies VER. */
int
cp_seen_caps_set(struct cp_seen *s, const char *ver, enum cp_seen_caps caps)
{
    for (struct caps *c = s->caps; c; c = c->next) {
        if (strcmp(c->ver, ver) == 0) {
            c->caps = caps;
            return CP_OK;
        }
    }
    if (s->ncaps >= CAPS_MAX) { /* forget the older half */
        struct caps *c = s->caps;
        for (size_t i = 1; i < CAPS_MAX / 2; i++)
            c = c->next;
        struct caps *old = c->next;
        c->next = NULL;
        while (old) {
            struct caps *next = old->next;
            free(old->ver);
            free(old);
            old = next;
            s->ncaps--;
        }
    }
    struct caps *c = calloc(1, sizeof(*c));
    if (!c || !(c->ver = strdup(ver))) {
        free(c);
        return CP_ENOMEM;
    }
    c->caps = caps;
    c->next = s->caps;
    s->caps = c;
    s->ncaps++;
    return CP_OK;
}

int
cp_seen_rosterx_resource(const struct cp_seen *s, const char *bare, char *out, size_t outlen)
{
    const struct user *u = find(s, bare);
    for (const struct res *r = u ? u->res : NULL; r; r = r->next) {
        if (r->ver && cp_seen_caps_get(s, r->ver) == CP_CAPS_ROSTERX &&
            (size_t)snprintf(out, outlen, "%s/%s", u->bare, r->resource) < outlen)
            return CP_OK;
    }
    return CP_ENOTFOUND;
}
