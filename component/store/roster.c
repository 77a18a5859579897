/* Roster provisioning state (XEP-0356): the queue of roster operations and what was done to
 * whose roster. See store.h; the protocol side is component/xmpp/roster.c. */
#include <stddef.h>
#include <string.h>

#include "config/config.h"
#include "store_int.h"

static const char *const op_words[] = {
    [CP_ROSTER_PROVISION] = "provision", [CP_ROSTER_ADD] = "add", [CP_ROSTER_REMOVE] = "remove"};
static const char *const method_words[] = {
    [CP_ROSTER_READ] = "read", [CP_ROSTER_ITEM] = "roster", [CP_ROSTER_SUBSCRIBE] = "subscribe"};

static int
op_from_word(const char *word, enum cp_roster_op *out)
{
    for (size_t i = 0; i < sizeof(op_words) / sizeof(op_words[0]); i++) {
        if (word && strcmp(word, op_words[i]) == 0) {
            *out = (enum cp_roster_op)i;
            return 0;
        }
    }
    return CP_EINVAL;
}

/* The upsert keeps the row's seq: a contact queued again keeps its place in line. */
int
cp_store_roster_job_put(struct cp_store *store, const char *user_jid, const char *contact,
                        enum cp_roster_op op)
{
    if (!store || !user_jid || !contact || (unsigned)op > CP_ROSTER_REMOVE)
        return cp_store_invalid(__func__, user_jid);
    sqlite3_stmt *stmt = cp_store_stmt(
        store, CP_ST_ROSTER_JOB_PUT,
        "INSERT INTO roster_jobs (user_jid, contact, op, not_before) VALUES (?1, ?2, ?3, 0) "
        "ON CONFLICT (user_jid, contact) DO UPDATE SET op = excluded.op, not_before = 0",
        user_jid);
    if (!stmt)
        return CP_EIO;
    cp_store_bind_text(stmt, 1, user_jid);
    cp_store_bind_text(stmt, 2, contact);
    cp_store_bind_text(stmt, 3, op_words[op]);
    return cp_store_stmt_exec(store, stmt, user_jid, "cannot queue a roster operation");
}

int
cp_store_roster_job_done(struct cp_store *store, const char *user_jid, const char *contact,
                         enum cp_roster_op op)
{
    if (!store || !user_jid || !contact || (unsigned)op > CP_ROSTER_REMOVE)
        return cp_store_invalid(__func__, user_jid);
    sqlite3_stmt *stmt = cp_store_stmt(
        store, CP_ST_ROSTER_JOB_DONE,
        "DELETE FROM roster_jobs WHERE user_jid = ?1 AND contact = ?2 AND op = ?3", user_jid);
    if (!stmt)
        return CP_EIO;
    cp_store_bind_text(stmt, 1, user_jid);
    cp_store_bind_text(stmt, 2, contact);
    cp_store_bind_text(stmt, 3, op_words[op]);
    int rc = cp_store_stmt_exec(store, stmt, user_jid, "cannot finish a roster operation");
    if (rc == 0 && sqlite3_changes(store->db) == 0)
        return CP_ENOTFOUND;
    return rc;
}

int
cp_store_roster_job_defer(struct cp_store *store, const char *user_jid, const char *contact,
                          int64_t not_before)
{
    if (!store || !user_jid || !contact)
        return cp_store_invalid(__func__, user_jid);
    sqlite3_stmt *stmt = cp_store_stmt(
        store, CP_ST_ROSTER_JOB_DEFER,
        "UPDATE roster_jobs SET not_before = ?3 WHERE user_jid = ?1 AND contact = ?2", user_jid);
    if (!stmt)
        return CP_EIO;
    cp_store_bind_text(stmt, 1, user_jid);
    cp_store_bind_text(stmt, 2, contact);
    sqlite3_bind_int64(stmt, 3, not_before);
    return cp_store_stmt_exec(store, stmt, user_jid, "cannot defer a roster operation");
}

/* A walk prepares its own statement: CB finishes jobs (writes) while it runs. */
int
cp_store_roster_jobs_each(struct cp_store *store, int64_t now, size_t max,
                          cp_store_roster_job_cb cb, void *ud)
{
    if (!store || !cb)
        return cp_store_invalid(__func__, NULL);
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(store->db,
                           "SELECT user_jid, contact, op FROM roster_jobs WHERE not_before <= ?1 "
                           "ORDER BY seq LIMIT ?2",
                           -1, &stmt, NULL) != SQLITE_OK) {
        cp_store_fail(store, NULL, "cannot list roster operations");
        return CP_EIO;
    }
    sqlite3_bind_int64(stmt, 1, now);
    sqlite3_bind_int64(stmt, 2, (sqlite3_int64)max);
    int rc;
    int ret = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        enum cp_roster_op op;
        if (op_from_word((const char *)sqlite3_column_text(stmt, 2), &op) != 0)
            continue; /* the CHECK constraint makes this unreachable short of a hand edit */
        ret = cb((const char *)sqlite3_column_text(stmt, 0),
                 (const char *)sqlite3_column_text(stmt, 1), op, ud);
        if (ret != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE) {
        cp_store_fail(store, NULL, "cannot list roster operations");
        ret = CP_EIO;
    }
    sqlite3_finalize(stmt);
    return ret;
}

long
cp_store_roster_jobs_count(struct cp_store *store)
{
    if (!store)
        return cp_store_invalid(__func__, NULL);
    sqlite3_stmt *stmt =
        cp_store_stmt(store, CP_ST_ROSTER_JOBS_COUNT, "SELECT count(*) FROM roster_jobs", NULL);
    if (!stmt)
        return CP_EIO;
    return cp_store_stmt_count(store, stmt, NULL, "cannot count roster operations");
}

int
cp_store_roster_item_set(struct cp_store *store, const char *user_jid, const char *contact,
                         enum cp_roster_method method)
{
    if (!store || !user_jid || !contact || (unsigned)method > CP_ROSTER_SUBSCRIBE)
        return cp_store_invalid(__func__, user_jid);
    sqlite3_stmt *stmt =
        cp_store_stmt(store, CP_ST_ROSTER_ITEM_SET,
                      "INSERT INTO roster_items (user_jid, contact, method) VALUES (?1, ?2, ?3) "
                      "ON CONFLICT (user_jid, contact) DO UPDATE SET method = excluded.method",
                      user_jid);
    if (!stmt)
        return CP_EIO;
    cp_store_bind_text(stmt, 1, user_jid);
    cp_store_bind_text(stmt, 2, contact);
    cp_store_bind_text(stmt, 3, method_words[method]);
    return cp_store_stmt_exec(store, stmt, user_jid, "cannot record a roster item");
}

int
cp_store_roster_item_remove(struct cp_store *store, const char *user_jid, const char *contact)
{
    if (!store || !user_jid || !contact)
        return cp_store_invalid(__func__, user_jid);
    sqlite3_stmt *stmt =
        cp_store_stmt(store, CP_ST_ROSTER_ITEM_REMOVE,
                      "DELETE FROM roster_items WHERE user_jid = ?1 AND contact = ?2", user_jid);
    if (!stmt)
        return CP_EIO;
    cp_store_bind_text(stmt, 1, user_jid);
    cp_store_bind_text(stmt, 2, contact);
    return cp_store_stmt_exec(store, stmt, user_jid, "cannot forget a roster item");
}

bool
cp_store_roster_user_known(struct cp_store *store, const char *user_jid)
{
    if (!store || !user_jid)
        return cp_store_invalid(__func__, user_jid) == 0;
    sqlite3_stmt *stmt = cp_store_stmt(
        store, CP_ST_ROSTER_USER_KNOWN,
        "SELECT EXISTS (SELECT 1 FROM roster_items WHERE user_jid = ?1 AND contact = '') OR "
        "EXISTS (SELECT 1 FROM roster_jobs WHERE user_jid = ?1 AND op != 'remove')",
        user_jid);
    if (!stmt)
        return false;
    cp_store_bind_text(stmt, 1, user_jid);
    bool known = sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_int(stmt, 0) != 0;
    cp_store_stmt_done(stmt);
    return known;
}

/* A walk prepares its own statement, like cp_store_roster_jobs_each. */
int
cp_store_roster_items_each(struct cp_store *store, const char *user_jid, cp_store_roster_item_cb cb,
                           void *ud)
{
    if (!store || !user_jid || !cb)
        return cp_store_invalid(__func__, user_jid);
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(store->db,
                           "SELECT contact, method FROM roster_items WHERE user_jid = ?1 "
                           "ORDER BY contact",
                           -1, &stmt, NULL) != SQLITE_OK) {
        cp_store_fail(store, user_jid, "cannot list roster items");
        return CP_EIO;
    }
    cp_store_bind_text(stmt, 1, user_jid);
    int rc;
    int ret = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *word = (const char *)sqlite3_column_text(stmt, 1);
        size_t m = 0;
        while (m < sizeof(method_words) / sizeof(method_words[0]) &&
               !(word && strcmp(word, method_words[m]) == 0))
            m++;
        if (m == sizeof(method_words) / sizeof(method_words[0]))
            continue; /* the CHECK constraint makes this unreachable short of a hand edit */
        ret = cb((const char *)sqlite3_column_text(stmt, 0), (enum cp_roster_method)m, ud);
        if (ret != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE) {
        cp_store_fail(store, user_jid, "cannot list roster items");
        ret = CP_EIO;
    }
    sqlite3_finalize(stmt);
    return ret;
}

/* Rare (once per check interval), so prepared on the spot. The re-reads are spread by rank so
 * that 10,000 users make a steady trickle of roster reads, not a burst; DO NOTHING leaves a user
 * whose previous re-read (or any provisioning) is still queued alone. */
long
cp_store_roster_recheck(struct cp_store *store, int64_t now, int64_t spread)
{
    if (!store || spread < 0)
        return cp_store_invalid(__func__, NULL);
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(
        store->db,
        "INSERT INTO roster_jobs (user_jid, contact, op, not_before) "
        "SELECT i.user_jid, '', 'provision', "
        "  ?1 + ?2 * (row_number() OVER (ORDER BY i.user_jid) - 1) / count(*) OVER () "
        "FROM roster_items i JOIN users u ON u.jid = i.user_jid AND u.enabled = 1 "
        "WHERE i.contact = '' AND i.method = 'read' ORDER BY i.user_jid "
        "ON CONFLICT (user_jid, contact) DO NOTHING",
        -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(stmt, 1, now);
        sqlite3_bind_int64(stmt, 2, spread);
        rc = sqlite3_step(stmt);
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) {
        cp_store_fail(store, NULL, "cannot queue the roster checks");
        return CP_EIO;
    }
    return (long)sqlite3_changes(store->db);
}

/* Rare (a disable), so its statements are prepared on the spot. A savepoint, not BEGIN, so that
 * it nests in a caller's cp_store_batch_begin (a users-disable of thousands is one commit). */
long
cp_store_roster_unprovision(struct cp_store *store, const char *user_jid)
{
    static const char *const steps[] = {
        "DELETE FROM roster_jobs WHERE user_jid = ?1",
        ("INSERT INTO roster_jobs (user_jid, contact, op) SELECT user_jid, contact, 'remove' "
         "FROM roster_items WHERE user_jid = ?1 AND method = 'roster' ORDER BY contact"),
        "DELETE FROM roster_items WHERE user_jid = ?1 AND method != 'roster'",
    };
    if (!store || !user_jid)
        return cp_store_invalid(__func__, user_jid);
    if (sqlite3_exec(store->db, "SAVEPOINT unprovision", NULL, NULL, NULL) != SQLITE_OK) {
        cp_store_fail(store, user_jid, "cannot undo the roster provisioning");
        return CP_EIO;
    }
    long queued = 0;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        sqlite3_stmt *stmt = NULL;
        int rc = sqlite3_prepare_v2(store->db, steps[i], -1, &stmt, NULL);
        if (rc == SQLITE_OK) {
            cp_store_bind_text(stmt, 1, user_jid);
            rc = sqlite3_step(stmt);
        }
        sqlite3_finalize(stmt);
        if (rc != SQLITE_DONE) {
            cp_store_fail(store, user_jid, "cannot undo the roster provisioning");
            sqlite3_exec(store->db, "ROLLBACK TO unprovision; RELEASE unprovision", NULL, NULL,
                         NULL);
            return CP_EIO;
        }
        if (i == 1)
            queued = (long)sqlite3_changes(store->db);
    }
    if (sqlite3_exec(store->db, "RELEASE unprovision", NULL, NULL, NULL) != SQLITE_OK) {
        cp_store_fail(store, user_jid, "cannot undo the roster provisioning");
        return CP_EIO;
    }
    return queued;
}
