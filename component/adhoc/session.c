/* Ad-hoc command sessions: a bounded table of multi-stage commands in progress, keyed by an
 * unguessable random id and bound to the full JID that started them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "adhoc_int.h"
#include "config/config.h"

static void session_free(struct cp_adhoc_session *s);
static size_t count_owned_by(const struct cp_adhoc *adhoc, const char *bare);

int
cp_adhoc_random_id(char *out)
{
    unsigned char raw[CP_ADHOC_SESSIONID_LEN / 2];
    size_t i;

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return CP_EIO;
    for (i = 0; i < sizeof(raw); i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

static void
session_free(struct cp_adhoc_session *s)
{
    free(s->owner);
    free(s->bare);
    free(s->data);
    free(s);
}

static size_t
count_owned_by(const struct cp_adhoc *adhoc, const char *bare)
{
    size_t i, n = 0;

    for (i = 0; i < adhoc->nsessions; i++)
        n += strcmp(adhoc->sessions[i]->bare, bare) == 0;
    return n;
}

struct cp_adhoc_session *
cp_adhoc_session_new(struct cp_adhoc *adhoc, struct cp_adhoc_req *req)
{
    struct cp_adhoc_session *s;

    bool admin = req->cfg != NULL && cp_config_is_admin(req->cfg, req->bare);
    size_t cap = admin ? CP_ADHOC_MAX_SESSIONS : CP_ADHOC_MAX_SESSIONS - CP_ADHOC_ADMIN_RESERVED;

    cp_adhoc_expire(adhoc, req->now);
    if (adhoc->nsessions >= cap ||
        count_owned_by(adhoc, req->bare) >= CP_ADHOC_MAX_SESSIONS_PER_JID) {
        cp_log_warn("adhoc", "%s: %s: refused (too many open command sessions)", req->bare,
                    req->node->node);
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->owner = strdup(req->from);
    s->bare = strdup(req->bare);
    if (s->owner == NULL || s->bare == NULL || cp_adhoc_random_id(s->id) != 0) {
        session_free(s);
        return NULL;
    }
    s->node = req->node;
    s->last = req->now;
    adhoc->sessions[adhoc->nsessions++] = s;
    return s;
}

struct cp_adhoc_session *
cp_adhoc_session_find(struct cp_adhoc *adhoc, const char *id, time_t now)
{
    size_t i;

    for (i = 0; i < adhoc->nsessions; i++) {
        struct cp_adhoc_session *s = adhoc->sessions[i];

        if (strcmp(s->id, id) != 0)
            continue;
        if (now - s->last > CP_ADHOC_SESSION_TTL) {
            cp_adhoc_session_drop(adhoc, s);
            return NULL;
        }
        return s;
    }
    return NULL;
}

void
cp_adhoc_session_drop(struct cp_adhoc *adhoc, struct cp_adhoc_session *session)
{
    size_t i;

    for (i = 0; i < adhoc->nsessions; i++) {
        if (adhoc->sessions[i] == session) {
            adhoc->sessions[i] = adhoc->sessions[--adhoc->nsessions];
            break;
        }
    }
    session_free(session);
}

void
cp_adhoc_sessions_free(struct cp_adhoc *adhoc)
{
    while (adhoc->nsessions > 0)
        session_free(adhoc->sessions[--adhoc->nsessions]);
}
