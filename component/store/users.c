/* The users table: enable, disable, settings, lookups and walks. See store.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "store_int.h"

#define USER_COLUMNS                                                                               \
    "jid, mailbox, enabled, tentative, include_subject, created, updated, only_while_online, "     \
    "respect_own_status, pep_activity"

static void user_from_row(sqlite3_stmt *stmt, struct cp_user *user);
static enum cp_user_opt opt_from_column(sqlite3_stmt *stmt, int col);
static bool opt_valid(enum cp_user_opt o);
static void bind_opt(sqlite3_stmt *stmt, int idx, enum cp_user_opt o);
static int user_enable_one(struct cp_store *store, const char *jid, const char *mailbox,
                           int64_t now, const char *what);
static int user_disable_one(struct cp_store *store, const char *jid, int64_t now, const char *what,
                            bool *found);
static bool jids_valid(const char *const *jids, size_t n);
static char *like_pattern(const char *filter);
static int users_walk(struct cp_store *store, sqlite3_stmt *stmt, const char *what,
                      cp_store_user_cb cb, void *ud);

void
cp_user_clear(struct cp_user *user)
{
    if (!user)
        return;
    free(user->jid);
    free(user->mailbox);
    user->jid = NULL;
    user->mailbox = NULL;
}

/* Points USER's strings into STMT's current row (valid until the next step or reset). */
static void
user_from_row(sqlite3_stmt *stmt, struct cp_user *user)
{
    user->jid = (char *)sqlite3_column_text(stmt, 0);
    user->mailbox = (char *)sqlite3_column_text(stmt, 1);
    user->enabled = sqlite3_column_int(stmt, 2) != 0;
    int tentative = sqlite3_column_int(stmt, 3);
    user->tentative = tentative == CP_USER_TENTATIVE_FREE   ? CP_USER_TENTATIVE_FREE
                      : tentative == CP_USER_TENTATIVE_BUSY ? CP_USER_TENTATIVE_BUSY
                                                            : CP_USER_TENTATIVE_DEFAULT;
    user->include_subject = sqlite3_column_int(stmt, 4) != 0;
    user->created = sqlite3_column_int64(stmt, 5);
    user->updated = sqlite3_column_int64(stmt, 6);
    user->priv.only_while_online = opt_from_column(stmt, 7);
    user->priv.respect_own_status = opt_from_column(stmt, 8);
    user->priv.pep_activity = opt_from_column(stmt, 9);
}

/* NULL (the admin's default) or 0/1. */
static enum cp_user_opt
opt_from_column(sqlite3_stmt *stmt, int col)
{
    if (sqlite3_column_type(stmt, col) == SQLITE_NULL)
        return CP_USER_OPT_DEFAULT;
    return sqlite3_column_int(stmt, col) != 0 ? CP_USER_OPT_ON : CP_USER_OPT_OFF;
}

/* Ownership: on 0, OUT's strings are the caller's (cp_user_clear). */
int
cp_store_user_get(struct cp_store *store, const char *jid, struct cp_user *out)
{
    if (!store || !jid || !out)
        return cp_store_invalid(__func__, jid);
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *stmt = cp_store_stmt(store, CP_ST_USER_GET,
                                       "SELECT " USER_COLUMNS " FROM users WHERE jid = ?1", jid);
    if (!stmt)
        return CP_EIO;
    cp_store_bind_text(stmt, 1, jid);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) {
        cp_store_stmt_done(stmt);
        return CP_ENOTFOUND;
    }
    if (rc != SQLITE_ROW) {
        cp_store_fail(store, jid, "cannot read the user");
        cp_store_stmt_done(stmt);
        return CP_EIO;
    }
    struct cp_user row;
    user_from_row(stmt, &row);
    *out = row;
    out->jid = strdup(row.jid);
    out->mailbox = row.mailbox ? strdup(row.mailbox) : NULL;
    cp_store_stmt_done(stmt);
    if (!out->jid || (row.mailbox && !out->mailbox)) {
        cp_user_clear(out);
        cp_log_error("store", "%s: cannot read the user (out of memory)", jid);
        return CP_ENOMEM;
    }
    return 0;
}

/* An empty MAILBOX means "none given", like NULL: a `users-enable` line "jid," keeps the
 * stored mailbox. */
static int
user_enable_one(struct cp_store *store, const char *jid, const char *mailbox, int64_t now,
                const char *what)
{
    sqlite3_stmt *stmt = cp_store_stmt(
        store, CP_ST_USER_ENABLE,
        "INSERT INTO users (jid, mailbox, enabled, created, updated) VALUES (?1, ?2, 1, ?3, ?3) "
        "ON CONFLICT (jid) DO UPDATE SET enabled = 1, "
        "mailbox = coalesce(excluded.mailbox, mailbox), updated = excluded.updated",
        jid);
    if (!stmt)
        return CP_EIO;
    cp_store_bind_text(stmt, 1, jid);
    cp_store_bind_text(stmt, 2, mailbox && *mailbox ? mailbox : NULL);
    sqlite3_bind_int64(stmt, 3, now);
    return cp_store_stmt_exec(store, stmt, jid, what);
}

int
cp_store_user_enable(struct cp_store *store, const char *jid, const char *mailbox)
{
    if (!store || !jid)
        return cp_store_invalid(__func__, jid);
    return user_enable_one(store, jid, mailbox, cp_store_now(), "cannot enable the user");
}

/* A batch is checked whole before anything is written, so that a bad entry changes nothing. */
static bool
jids_valid(const char *const *jids, size_t n)
{
    if (n > 0 && !jids)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!jids[i])
            return false;
    return true;
}

int
cp_store_users_enable_batch(struct cp_store *store, const char *const *jids,
                            const char *const *mailboxes, size_t n)
{
    if (!store || !jids_valid(jids, n))
        return cp_store_invalid(__func__, NULL);
    if (n == 0)
        return 0;
    char what[96];
    snprintf(what, sizeof(what), "cannot enable the user (batch of %zu rolled back)", n);
    int64_t now = cp_store_now();
    int rc = cp_store_begin(store, jids[0]);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = user_enable_one(store, jids[i], mailboxes ? mailboxes[i] : NULL, now, what);
    if (rc == 0)
        rc = cp_store_commit(store, jids[n - 1]);
    if (rc != 0)
        cp_store_rollback(store, jids[0]);
    return rc;
}

static int
user_disable_one(struct cp_store *store, const char *jid, int64_t now, const char *what,
                 bool *found)
{
    sqlite3_stmt *stmt =
        cp_store_stmt(store, CP_ST_USER_DISABLE,
                      "UPDATE users SET enabled = 0, updated = ?2 WHERE jid = ?1", jid);
    if (!stmt)
        return CP_EIO;
    cp_store_bind_text(stmt, 1, jid);
    sqlite3_bind_int64(stmt, 2, now);
    int rc = cp_store_stmt_exec(store, stmt, jid, what);
    *found = rc == 0 && sqlite3_changes(store->db) > 0;
    return rc;
}

int
cp_store_user_disable(struct cp_store *store, const char *jid)
{
    if (!store || !jid)
        return cp_store_invalid(__func__, jid);
    bool found = false;
    int rc = user_disable_one(store, jid, cp_store_now(), "cannot disable the user", &found);
    if (rc == 0 && !found)
        return CP_ENOTFOUND;
    return rc;
}

/* MISSING may be NULL. All or nothing, like the enable batch. */
int
cp_store_users_disable_batch(struct cp_store *store, const char *const *jids, size_t n,
                             size_t *missing)
{
    if (missing)
        *missing = 0;
    if (!store || !jids_valid(jids, n))
        return cp_store_invalid(__func__, NULL);
    if (n == 0)
        return 0;
    char what[96];
    snprintf(what, sizeof(what), "cannot disable the user (batch of %zu rolled back)", n);
    int64_t now = cp_store_now();
    size_t absent = 0;
    int rc = cp_store_begin(store, jids[0]);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        bool found = false;
        rc = user_disable_one(store, jids[i], now, what, &found);
        absent += rc == 0 && !found;
    }
    if (rc == 0)
        rc = cp_store_commit(store, jids[n - 1]);
    if (rc != 0) {
        cp_store_rollback(store, jids[0]);
        return rc;
    }
    if (missing)
        *missing = absent;
    return 0;
}

int
cp_store_user_settings(struct cp_store *store, const char *jid, enum cp_user_tentative tentative,
                       bool include_subject)
{
    if (!store || !jid)
        return cp_store_invalid(__func__, jid);
    if (tentative != CP_USER_TENTATIVE_DEFAULT && tentative != CP_USER_TENTATIVE_FREE &&
        tentative != CP_USER_TENTATIVE_BUSY)
        return cp_store_invalid(__func__, jid);
    sqlite3_stmt *stmt = cp_store_stmt(
        store, CP_ST_USER_SETTINGS,
        "INSERT INTO users (jid, enabled, tentative, include_subject, created, updated) "
        "VALUES (?1, 0, ?2, ?3, ?4, ?4) "
        "ON CONFLICT (jid) DO UPDATE SET tentative = excluded.tentative, "
        "include_subject = excluded.include_subject, updated = excluded.updated",
        jid);
    if (!stmt)
        return CP_EIO;
    cp_store_bind_text(stmt, 1, jid);
    sqlite3_bind_int(stmt, 2, (int)tentative);
    sqlite3_bind_int(stmt, 3, include_subject ? 1 : 0);
    sqlite3_bind_int64(stmt, 4, cp_store_now());
    return cp_store_stmt_exec(store, stmt, jid, "cannot save the settings");
}

static bool
opt_valid(enum cp_user_opt o)
{
    return o == CP_USER_OPT_DEFAULT || o == CP_USER_OPT_OFF || o == CP_USER_OPT_ON;
}

static void
bind_opt(sqlite3_stmt *stmt, int idx, enum cp_user_opt o)
{
    if (o == CP_USER_OPT_DEFAULT)
        sqlite3_bind_null(stmt, idx);
    else
        sqlite3_bind_int(stmt, idx, (int)o);
}

int
cp_store_user_privopts(struct cp_store *store, const char *jid, const struct cp_user_privopts *opts)
{
    if (!store || !jid || !opts || !opt_valid(opts->only_while_online) ||
        !opt_valid(opts->respect_own_status) || !opt_valid(opts->pep_activity))
        return cp_store_invalid(__func__, jid);
    sqlite3_stmt *stmt = cp_store_stmt(
        store, CP_ST_USER_PRIVOPTS,
        "INSERT INTO users (jid, enabled, created, updated, only_while_online, "
        "respect_own_status, pep_activity) VALUES (?1, 0, ?2, ?2, ?3, ?4, ?5) "
        "ON CONFLICT (jid) DO UPDATE SET only_while_online = excluded.only_while_online, "
        "respect_own_status = excluded.respect_own_status, "
        "pep_activity = excluded.pep_activity, updated = excluded.updated",
        jid);
    if (!stmt)
        return CP_EIO;
    cp_store_bind_text(stmt, 1, jid);
    sqlite3_bind_int64(stmt, 2, cp_store_now());
    bind_opt(stmt, 3, opts->only_while_online);
    bind_opt(stmt, 4, opts->respect_own_status);
    bind_opt(stmt, 5, opts->pep_activity);
    return cp_store_stmt_exec(store, stmt, jid, "cannot save the privileged-mode options");
}

/* "%FILTER%" with LIKE's wildcards and the escape character itself escaped, so that a filter
 * "a_b" or "100%" matches literally. Ownership: the caller frees the result; NULL when out of
 * memory. */
static char *
like_pattern(const char *filter)
{
    size_t len = strlen(filter);
    char *pattern = malloc(2 * len + 3);
    if (!pattern)
        return NULL;
    char *p = pattern;
    *p++ = '%';
    for (const char *f = filter; *f; f++) {
        if (*f == '%' || *f == '_' || *f == '\\')
            *p++ = '\\';
        *p++ = *f;
    }
    *p++ = '%';
    *p = '\0';
    return pattern;
}

/* Steps STMT to the end or until CB returns non-zero, then finalizes it. */
static int
users_walk(struct cp_store *store, sqlite3_stmt *stmt, const char *what, cp_store_user_cb cb,
           void *ud)
{
    int rc;
    int ret = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct cp_user user;
        user_from_row(stmt, &user);
        ret = cb(&user, ud);
        if (ret != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE) {
        cp_store_fail(store, NULL, what);
        ret = CP_EIO;
    }
    sqlite3_finalize(stmt);
    return ret;
}

int
cp_store_users_each(struct cp_store *store, const char *filter, size_t max, cp_store_user_cb cb,
                    void *ud)
{
    return cp_store_users_each_after(store, filter, NULL, max, cb, ud);
}

int
cp_store_users_each_after(struct cp_store *store, const char *filter, const char *after, size_t max,
                          cp_store_user_cb cb, void *ud)
{
    if (!store || !cb)
        return cp_store_invalid(__func__, NULL);
    char *pattern = NULL;
    if (filter && *filter && !(pattern = like_pattern(filter))) {
        cp_log_error("store", "%s: cannot list users (out of memory)", store->path);
        return CP_ENOMEM;
    }
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(store->db,
                           "SELECT " USER_COLUMNS " FROM users WHERE (?1 IS NULL "
                           "OR jid LIKE ?1 ESCAPE '\\' OR mailbox LIKE ?1 ESCAPE '\\') "
                           "AND (?3 IS NULL OR jid > ?3) ORDER BY jid LIMIT ?2",
                           -1, &stmt, NULL) != SQLITE_OK) {
        cp_store_fail(store, NULL, "cannot list users");
        free(pattern);
        return CP_EIO;
    }
    /* SQLITE_TRANSIENT: the pattern is freed before the walk ends, and AFTER may be the JID
     * the callback is about to overwrite. */
    if (pattern)
        sqlite3_bind_text(stmt, 1, pattern, -1, SQLITE_TRANSIENT);
    free(pattern);
    sqlite3_bind_int64(stmt, 2, max == 0 || max > INT64_MAX ? -1 : (int64_t)max);
    if (after)
        sqlite3_bind_text(stmt, 3, after, -1, SQLITE_TRANSIENT);
    return users_walk(store, stmt, "cannot list users", cb, ud);
}

int
cp_store_enabled_users_each(struct cp_store *store, cp_store_user_cb cb, void *ud)
{
    if (!store || !cb)
        return cp_store_invalid(__func__, NULL);
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(store->db,
                           "SELECT " USER_COLUMNS " FROM users WHERE enabled = 1 ORDER BY jid", -1,
                           &stmt, NULL) != SQLITE_OK) {
        cp_store_fail(store, NULL, "cannot list enabled users");
        return CP_EIO;
    }
    return users_walk(store, stmt, "cannot list enabled users", cb, ud);
}

long
cp_store_users_count(struct cp_store *store, bool enabled_only)
{
    if (!store)
        return cp_store_invalid(__func__, NULL);
    sqlite3_stmt *stmt =
        enabled_only ? cp_store_stmt(store, CP_ST_USERS_COUNT_ENABLED,
                                     "SELECT count(*) FROM users WHERE enabled = 1", NULL)
                     : cp_store_stmt(store, CP_ST_USERS_COUNT, "SELECT count(*) FROM users", NULL);
    if (!stmt)
        return CP_EIO;
    return cp_store_stmt_count(store, stmt, NULL, "cannot count users");
}

long
cp_store_users_privopts_count(struct cp_store *store)
{
    if (!store)
        return cp_store_invalid(__func__, NULL);
    sqlite3_stmt *stmt = cp_store_stmt(store, CP_ST_USERS_COUNT_PRIVOPTS,
                                       "SELECT count(*) FROM users WHERE enabled = 1 AND "
                                       "(only_while_online = 1 OR respect_own_status = 1)",
                                       NULL);
    if (!stmt)
        return CP_EIO;
    return cp_store_stmt_count(store, stmt, NULL,
                               "cannot count users with privileged-mode options");
}
