/* The schema step that normalises the JIDs already stored (schema.c, "normalised JIDs"):
 * calpresence used to store a users-enable line's localpart as typed, so "Carol@LOCALHOST" and
 * "carol@localhost" could be two rows, and the first never matched the JID the server sends.
 * Every JID is now written through cp_jid_bare (nodeprep, nameprep); this step brings the old
 * rows to the same form. Rows that become one are merged: the settings of the row updated last
 * win, the earliest creation time is kept, subscribers are merged, and each merge is logged. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "store_int.h"

/* A stored JID whose normalised form differs, with what the merge needs of its row. */
struct renamed {
    char *old;  /* as stored, owned */
    char *norm; /* normalised, owned */
    int64_t created, updated;
};

struct renames {
    struct renamed *v;
    size_t n, cap;
};

static int collect(struct cp_store *store, const char *sql, bool subscriptions,
                   struct renames *out);
static int add_rename(struct renames *r, const char *old, const char *norm, int64_t created,
                      int64_t updated);
static void renames_free(struct renames *r);
static int exec2(struct cp_store *store, const char *sql, const char *a, const char *b,
                 const char *what);
static int merge_user(struct cp_store *store, const struct renamed *r);
static int move_subscriber(struct cp_store *store, const char *packed_old, const char *packed_new,
                           int64_t created);

/* Runs SQL, which yields (jid, created, updated) rows or, for SUBSCRIPTIONS, (user_jid,
 * subscriber, created) rows, and appends to OUT every row whose normalised JIDs differ. A JID
 * that does not normalise at all stays as it is, with a warning: no stanza can name it, and an
 * operator may delete it. Returns 0 or CP_EIO/CP_ENOMEM. */
static int
collect(struct cp_store *store, const char *sql, bool subscriptions, struct renames *out)
{
    sqlite3_stmt *stmt = NULL;
    char norm[CP_JID_BARE_MAX], nsub[CP_JID_BARE_MAX];
    int rc = 0, step;

    if (sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        cp_store_fail(store, NULL, "cannot read the stored JIDs");
        return CP_EIO;
    }
    while (rc == 0 && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *jid = (const char *)sqlite3_column_text(stmt, 0);
        const char *sub = subscriptions ? (const char *)sqlite3_column_text(stmt, 1) : NULL;

        if (cp_jid_bare(jid, norm, sizeof(norm)) != 0) {
            cp_log_warn("store", "%s: not a valid JID, kept as it is (no stanza can name it)", jid);
            continue;
        }
        if (sub != NULL && cp_jid_bare(sub, nsub, sizeof(nsub)) != 0) {
            cp_log_warn("store", "%s: subscriber %s: not a valid JID, kept as it is", jid, sub);
            continue;
        }
        if (sub == NULL && strcmp(norm, jid) != 0)
            rc = add_rename(out, jid, norm, sqlite3_column_int64(stmt, 1),
                            sqlite3_column_int64(stmt, 2));
        /* A subscription: user and subscriber packed as "user\nsubscriber" (no JID holds a
         * line feed), so that one list type serves both tables. */
        if (sub != NULL && (strcmp(norm, jid) != 0 || strcmp(nsub, sub) != 0)) {
            char old[2 * CP_JID_BARE_MAX], new[2 * CP_JID_BARE_MAX];
            snprintf(old, sizeof(old), "%s\n%s", jid, sub);
            snprintf(new, sizeof(new), "%s\n%s", norm, nsub);
            rc = add_rename(out, old, new, sqlite3_column_int64(stmt, 2), 0);
        }
    }
    if (rc == 0 && step != SQLITE_DONE) {
        cp_store_fail(store, NULL, "cannot read the stored JIDs");
        rc = CP_EIO;
    }
    sqlite3_finalize(stmt);
    return rc;
}

static int
add_rename(struct renames *r, const char *old, const char *norm, int64_t created, int64_t updated)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 16;
        struct renamed *v = realloc(r->v, cap * sizeof(*v));
        if (v == NULL)
            return CP_ENOMEM;
        r->v = v;
        r->cap = cap;
    }
    struct renamed *e = &r->v[r->n];
    e->old = strdup(old);
    e->norm = strdup(norm);
    e->created = created;
    e->updated = updated;
    if (e->old == NULL || e->norm == NULL) {
        free(e->old);
        free(e->norm);
        return CP_ENOMEM;
    }
    r->n++;
    return 0;
}

static void
renames_free(struct renames *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].old);
        free(r->v[i].norm);
    }
    free(r->v);
}

/* Runs SQL with ?1 = A and ?2 = B (B may be NULL when SQL has one parameter). */
static int
exec2(struct cp_store *store, const char *sql, const char *a, const char *b, const char *what)
{
    sqlite3_stmt *stmt = NULL;
    int rc = 0;

    if (sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        cp_store_fail(store, a, what);
        return CP_EIO;
    }
    cp_store_bind_text(stmt, 1, a);
    if (b != NULL)
        cp_store_bind_text(stmt, 2, b);
    if (sqlite3_step(stmt) != SQLITE_DONE) {
        cp_store_fail(store, a, what);
        rc = CP_EIO;
    }
    sqlite3_finalize(stmt);
    return rc;
}

/* Renames user R->old to R->norm, or merges it into an existing R->norm row. */
static int
merge_user(struct cp_store *store, const struct renamed *r)
{
    /* The newer row's settings over the other's: "newer" is the later `updated`, and on a tie
     * the row already normalised stays as it is. */
    static const char merge_sql[] =
        "UPDATE users SET"
        " mailbox = CASE WHEN o.updated > users.updated THEN o.mailbox ELSE users.mailbox END,"
        " enabled = CASE WHEN o.updated > users.updated THEN o.enabled ELSE users.enabled END,"
        " tentative = CASE WHEN o.updated > users.updated THEN o.tentative"
        "  ELSE users.tentative END,"
        " include_subject = CASE WHEN o.updated > users.updated THEN o.include_subject"
        "  ELSE users.include_subject END,"
        " created = min(users.created, o.created), updated = max(users.updated, o.updated)"
        " FROM (SELECT * FROM users WHERE jid = ?1) AS o WHERE users.jid = ?2";
    sqlite3_stmt *stmt = NULL;
    int64_t target_updated = -1;
    int rc;

    if (sqlite3_prepare_v2(store->db, "SELECT updated FROM users WHERE jid = ?1", -1, &stmt,
                           NULL) != SQLITE_OK) {
        cp_store_fail(store, r->norm, "cannot read the user");
        return CP_EIO;
    }
    cp_store_bind_text(stmt, 1, r->norm);
    if (sqlite3_step(stmt) == SQLITE_ROW)
        target_updated = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);

    /* One Exchange subscription per user: the target's when it has one, else the old row's.
     * The foreign key is deferred for this step (cp_store_migrate_jids). */
    rc = exec2(store, "UPDATE OR IGNORE ews_subscriptions SET user_jid = ?2 WHERE user_jid = ?1",
               r->old, r->norm, "cannot move the Exchange subscription");
    if (rc == 0)
        rc = exec2(store, "DELETE FROM ews_subscriptions WHERE user_jid = ?1", r->old, NULL,
                   "cannot drop the Exchange subscription");
    if (rc != 0)
        return rc;
    if (target_updated < 0) {
        rc = exec2(store, "UPDATE users SET jid = ?2 WHERE jid = ?1", r->old, r->norm,
                   "cannot rename the user");
        if (rc == 0)
            cp_log_info("store",
                        "%s: renamed to %s (JIDs are stored as the server normalises them)", r->old,
                        r->norm);
        return rc;
    }
    rc = exec2(store, merge_sql, r->old, r->norm, "cannot merge the user");
    if (rc == 0)
        rc =
            exec2(store, "DELETE FROM users WHERE jid = ?1", r->old, NULL, "cannot merge the user");
    if (rc == 0)
        cp_log_info("store",
                    "%s: merged into %s, the same user once normalised (kept the settings of %s, "
                    "changed last)",
                    r->old, r->norm, r->updated > target_updated ? r->old : r->norm);
    return rc;
}

/* Moves subscription PACKED_OLD ("user\nsubscriber") to PACKED_NEW, merging it with the same
 * subscription already there. */
static int
move_subscriber(struct cp_store *store, const char *packed_old, const char *packed_new,
                int64_t created)
{
    char old[2 * CP_JID_BARE_MAX], new[2 * CP_JID_BARE_MAX];
    char *old_sub, *new_sub;
    sqlite3_stmt *stmt = NULL;
    int rc = 0;

    snprintf(old, sizeof(old), "%s", packed_old);
    snprintf(new, sizeof(new), "%s", packed_new);
    old_sub = strchr(old, '\n');
    new_sub = strchr(new, '\n');
    *old_sub++ = '\0';
    *new_sub++ = '\0';
    if (sqlite3_prepare_v2(store->db,
                           "INSERT INTO subscribers (user_jid, subscriber, created)"
                           " VALUES (?1, ?2, ?3) ON CONFLICT (user_jid, subscriber)"
                           " DO UPDATE SET created = min(created, excluded.created)",
                           -1, &stmt, NULL) != SQLITE_OK) {
        cp_store_fail(store, new, "cannot move a subscriber");
        return CP_EIO;
    }
    cp_store_bind_text(stmt, 1, new);
    cp_store_bind_text(stmt, 2, new_sub);
    sqlite3_bind_int64(stmt, 3, created);
    if (sqlite3_step(stmt) != SQLITE_DONE) {
        cp_store_fail(store, new, "cannot move a subscriber");
        rc = CP_EIO;
    }
    sqlite3_finalize(stmt);
    if (rc == 0)
        rc = exec2(store, "DELETE FROM subscribers WHERE user_jid = ?1 AND subscriber = ?2", old,
                   old_sub, "cannot move a subscriber");
    if (rc == 0)
        cp_log_info("store",
                    "%s: subscriber %s: now %s, subscriber %s (JIDs are stored as the server "
                    "normalises them)",
                    old, old_sub, new, new_sub);
    return rc;
}

/* Runs inside the migration's transaction (store.c); any failure rolls the whole step back. */
int
cp_store_migrate_jids(struct cp_store *store)
{
    struct renames users = {0}, subs = {0};
    int rc;

    /* A renamed user's Exchange subscription row points at the old key until it is moved. */
    if (sqlite3_exec(store->db, "PRAGMA defer_foreign_keys = ON", NULL, NULL, NULL) != SQLITE_OK) {
        cp_store_fail(store, NULL, "cannot defer foreign keys");
        return CP_EIO;
    }
    /* Oldest change first, so that the log reads as the history it replays. */
    rc = collect(store, "SELECT jid, created, updated FROM users ORDER BY updated, jid", false,
                 &users);
    if (rc == 0)
        rc = collect(store, "SELECT user_jid, subscriber, created FROM subscribers", true, &subs);
    for (size_t i = 0; rc == 0 && i < users.n; i++)
        rc = merge_user(store, &users.v[i]);
    for (size_t i = 0; rc == 0 && i < subs.n; i++)
        rc = move_subscriber(store, subs.v[i].old, subs.v[i].norm, subs.v[i].created);
    renames_free(&users);
    renames_free(&subs);
    return rc;
}
