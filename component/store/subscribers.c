/* The subscribers of each calendar JID, keyed by the owning user's bare JID. See store.h. */
#include <stddef.h>

#include "config/config.h"
#include "store_int.h"

/* Idempotent: a repeated subscribe keeps the first row and its created time. */
int
cp_store_subscriber_add(struct cp_store *store, const char *user_jid, const char *subscriber)
{
    if (!store || !user_jid || !subscriber)
        return cp_store_invalid(__func__, user_jid);
    sqlite3_stmt *stmt =
        cp_store_stmt(store, CP_ST_SUB_ADD,
                      "INSERT INTO subscribers (user_jid, subscriber, created) VALUES (?1, ?2, ?3) "
                      "ON CONFLICT (user_jid, subscriber) DO NOTHING",
                      user_jid);
    if (!stmt)
        return CP_EIO;
    cp_store_bind_text(stmt, 1, user_jid);
    cp_store_bind_text(stmt, 2, subscriber);
    sqlite3_bind_int64(stmt, 3, cp_store_now());
    return cp_store_stmt_exec(store, stmt, user_jid, "cannot add a subscriber");
}

/* Idempotent like add: removing an absent subscriber returns 0. */
int
cp_store_subscriber_remove(struct cp_store *store, const char *user_jid, const char *subscriber)
{
    if (!store || !user_jid || !subscriber)
        return cp_store_invalid(__func__, user_jid);
    sqlite3_stmt *stmt =
        cp_store_stmt(store, CP_ST_SUB_REMOVE,
                      "DELETE FROM subscribers WHERE user_jid = ?1 AND subscriber = ?2", user_jid);
    if (!stmt)
        return CP_EIO;
    cp_store_bind_text(stmt, 1, user_jid);
    cp_store_bind_text(stmt, 2, subscriber);
    return cp_store_stmt_exec(store, stmt, user_jid, "cannot remove a subscriber");
}

/* Walks in (user_jid, subscriber) order, the primary key's order. */
int
cp_store_subscribers_each(struct cp_store *store, const char *user_jid, cp_store_subscriber_cb cb,
                          void *ud)
{
    if (!store || !cb)
        return cp_store_invalid(__func__, user_jid);
    /* Two texts rather than "?1 IS NULL OR user_jid = ?1", which would scan the whole table
     * for one user. */
    const char *sql = user_jid ? "SELECT user_jid, subscriber FROM subscribers "
                                 "WHERE user_jid = ?1 ORDER BY subscriber"
                               : "SELECT user_jid, subscriber FROM subscribers "
                                 "ORDER BY user_jid, subscriber";
    /* One user's walk runs for every presence published (100,000 at a meeting edge): it uses
     * the cached statement, and a fresh one only when CB walks again from inside a walk. */
    sqlite3_stmt *cached = user_jid ? cp_store_stmt(store, CP_ST_SUBS_EACH, sql, user_jid) : NULL;
    bool fresh = cached == NULL || sqlite3_stmt_busy(cached);
    sqlite3_stmt *stmt = fresh ? NULL : cached;
    if (fresh && sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        cp_store_fail(store, user_jid, "cannot list subscribers");
        return CP_EIO;
    }
    if (user_jid)
        cp_store_bind_text(stmt, 1, user_jid);
    int rc;
    int ret = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        ret = cb((const char *)sqlite3_column_text(stmt, 0),
                 (const char *)sqlite3_column_text(stmt, 1), ud);
        if (ret != 0)
            break;
    }
    if (ret == 0 && rc != SQLITE_DONE) {
        cp_store_fail(store, user_jid, "cannot list subscribers");
        ret = CP_EIO;
    }
    if (fresh)
        sqlite3_finalize(stmt);
    else
        cp_store_stmt_done(stmt);
    return ret;
}

long
cp_store_subscribers_count(struct cp_store *store, const char *user_jid)
{
    if (!store)
        return cp_store_invalid(__func__, user_jid);
    sqlite3_stmt *stmt =
        user_jid
            ? cp_store_stmt(store, CP_ST_SUBS_COUNT,
                            "SELECT count(*) FROM subscribers WHERE user_jid = ?1", user_jid)
            : cp_store_stmt(store, CP_ST_SUBS_COUNT_ALL, "SELECT count(*) FROM subscribers", NULL);
    if (!stmt)
        return CP_EIO;
    if (user_jid)
        cp_store_bind_text(stmt, 1, user_jid);
    return cp_store_stmt_count(store, stmt, user_jid, "cannot count subscribers");
}

long
cp_store_subscriptions_of(struct cp_store *store, const char *subscriber)
{
    if (!store || !subscriber)
        return cp_store_invalid(__func__, subscriber);
    sqlite3_stmt *stmt = cp_store_stmt(
        store, CP_ST_SUBS_OF, "SELECT count(*) FROM subscribers WHERE subscriber = ?1", subscriber);
    if (!stmt)
        return CP_EIO;
    cp_store_bind_text(stmt, 1, subscriber);
    return cp_store_stmt_count(store, stmt, subscriber, "cannot count subscriptions");
}
