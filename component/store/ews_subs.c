/* Each user's Exchange subscription (id, server, watermark), kept so that a restart can
 * resume or cleanly drop it instead of leaking it. See store.h. */
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "store_int.h"

void
cp_ews_sub_clear(struct cp_ews_sub *sub)
{
    if (!sub)
        return;
    free(sub->id);
    free(sub->kind);
    free(sub->server);
    free(sub->watermark);
    sub->id = NULL;
    sub->kind = NULL;
    sub->server = NULL;
    sub->watermark = NULL;
}

/* Replaces USER_JID's subscription with SUB (copied); SUB->updated is ignored, the row gets the
 * current time. Returns 0, CP_EINVAL (no id or server), CP_ENOTFOUND (USER_JID is not in
 * users: the row hangs off it by foreign key) or CP_EIO. */
int
cp_store_ews_sub_set(struct cp_store *store, const char *user_jid, const struct cp_ews_sub *sub)
{
    if (!store || !user_jid || !sub || !sub->id || !sub->server)
        return cp_store_invalid(__func__, user_jid);
    sqlite3_stmt *stmt = cp_store_stmt(
        store, CP_ST_EWS_SET,
        "INSERT INTO ews_subscriptions (user_jid, id, server, watermark, updated, kind) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (user_jid) DO UPDATE SET id = excluded.id, "
        "server = excluded.server, watermark = excluded.watermark, updated = excluded.updated, "
        "kind = excluded.kind",
        user_jid);
    if (!stmt)
        return CP_EIO;
    cp_store_bind_text(stmt, 1, user_jid);
    cp_store_bind_text(stmt, 2, sub->id);
    cp_store_bind_text(stmt, 3, sub->server);
    cp_store_bind_text(stmt, 4, sub->watermark);
    sqlite3_bind_int64(stmt, 5, cp_store_now());
    cp_store_bind_text(stmt, 6, sub->kind ? sub->kind : "push");
    int rc = sqlite3_step(stmt);
    int ret = 0;
    if (rc == SQLITE_CONSTRAINT &&
        sqlite3_extended_errcode(store->db) == SQLITE_CONSTRAINT_FOREIGNKEY) {
        cp_log_warn("store", "%s: cannot save the Exchange subscription (no such user)", user_jid);
        ret = CP_ENOTFOUND;
    } else if (rc == SQLITE_CONSTRAINT) {
        cp_log_warn("store", "%s: cannot save the Exchange subscription (kind '%s' unknown)",
                    user_jid, sub->kind);
        ret = CP_EINVAL;
    } else if (rc != SQLITE_DONE) {
        cp_store_fail(store, user_jid, "cannot save the Exchange subscription");
        ret = CP_EIO;
    }
    cp_store_stmt_done(stmt);
    return ret;
}

/* Fills OUT (zeroed by the caller) from a row of (id, server, watermark, updated, kind).
 * Returns 0, or CP_ENOMEM with OUT cleared. */
static int
sub_from_row(sqlite3_stmt *stmt, struct cp_ews_sub *out)
{
    const char *watermark = (const char *)sqlite3_column_text(stmt, 2);
    out->id = strdup((const char *)sqlite3_column_text(stmt, 0));
    out->server = strdup((const char *)sqlite3_column_text(stmt, 1));
    out->watermark = watermark ? strdup(watermark) : NULL;
    out->updated = sqlite3_column_int64(stmt, 3);
    out->kind = strdup((const char *)sqlite3_column_text(stmt, 4));
    if (!out->id || !out->server || !out->kind || (watermark && !out->watermark)) {
        cp_ews_sub_clear(out);
        return CP_ENOMEM;
    }
    return 0;
}

/* Ownership: on 0, OUT's strings are the caller's (cp_ews_sub_clear). */
int
cp_store_ews_sub_get(struct cp_store *store, const char *user_jid, struct cp_ews_sub *out)
{
    if (!store || !user_jid || !out)
        return cp_store_invalid(__func__, user_jid);
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *stmt = cp_store_stmt(
        store, CP_ST_EWS_GET,
        "SELECT id, server, watermark, updated, kind FROM ews_subscriptions WHERE user_jid = ?1",
        user_jid);
    if (!stmt)
        return CP_EIO;
    cp_store_bind_text(stmt, 1, user_jid);
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) {
        if (rc != SQLITE_DONE)
            cp_store_fail(store, user_jid, "cannot read the Exchange subscription");
        cp_store_stmt_done(stmt);
        return rc == SQLITE_DONE ? CP_ENOTFOUND : CP_EIO;
    }
    rc = sub_from_row(stmt, out);
    cp_store_stmt_done(stmt);
    if (rc != 0)
        cp_log_error("store", "%s: cannot read the Exchange subscription (out of memory)",
                     user_jid);
    return rc;
}

/* Idempotent: clearing when nothing is stored returns 0. */
int
cp_store_ews_sub_clear(struct cp_store *store, const char *user_jid)
{
    if (!store || !user_jid)
        return cp_store_invalid(__func__, user_jid);
    sqlite3_stmt *stmt = cp_store_stmt(
        store, CP_ST_EWS_CLEAR, "DELETE FROM ews_subscriptions WHERE user_jid = ?1", user_jid);
    if (!stmt)
        return CP_EIO;
    cp_store_bind_text(stmt, 1, user_jid);
    return cp_store_stmt_exec(store, stmt, user_jid, "cannot clear the Exchange subscription");
}

int
cp_store_ews_subs_each(struct cp_store *store, cp_store_ews_sub_cb cb, void *ud)
{
    if (!store || !cb)
        return cp_store_invalid(__func__, NULL);
    /* A fresh statement, not the cached one: CB may call any store function, including this
     * walk's own cached neighbours. */
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(store->db,
                           "SELECT id, server, watermark, updated, kind, user_jid "
                           "FROM ews_subscriptions ORDER BY user_jid",
                           -1, &stmt, NULL) != SQLITE_OK) {
        cp_store_fail(store, NULL, "cannot walk the Exchange subscriptions");
        return CP_EIO;
    }
    int ret = 0, rc;
    while (ret == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct cp_ews_sub sub = {0};
        if (sub_from_row(stmt, &sub) != 0) {
            ret = CP_ENOMEM;
            break;
        }
        ret = cb((const char *)sqlite3_column_text(stmt, 5), &sub, ud);
        cp_ews_sub_clear(&sub);
    }
    if (ret == 0 && rc != SQLITE_DONE) {
        cp_store_fail(store, NULL, "cannot walk the Exchange subscriptions");
        ret = CP_EIO;
    }
    sqlite3_finalize(stmt);
    return ret;
}

int
cp_store_batch_begin(struct cp_store *store)
{
    return cp_store_begin(store, "batch");
}

int
cp_store_batch_end(struct cp_store *store, bool commit)
{
    if (commit)
        return cp_store_commit(store, "batch");
    cp_store_rollback(store, "batch");
    return 0;
}
