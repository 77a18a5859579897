/* Internals shared by the store's files (store.c, schema.c, users.c,
 * subscribers.c, ews_subs.c, roster.c); nothing outside component/store/ includes this. */
#ifndef CP_STORE_INT_H
#define CP_STORE_INT_H

#include <sqlite3.h>
#include <stdint.h>

#include "store.h"

/* Statements prepared once per connection and kept until close. Walks (users_each,
 * subscribers_each) prepare their own statement per call instead, so that a callback may call
 * back into the store without resetting the statement it is being called from. */
enum cp_store_stmt_id {
    CP_ST_BEGIN,
    CP_ST_COMMIT,
    CP_ST_ROLLBACK,
    CP_ST_USER_GET,
    CP_ST_USER_ENABLE,
    CP_ST_USER_DISABLE,
    CP_ST_USER_SETTINGS,
    CP_ST_USER_PRIVOPTS,
    CP_ST_USERS_COUNT,
    CP_ST_USERS_COUNT_ENABLED,
    CP_ST_USERS_COUNT_PRIVOPTS,
    CP_ST_SUB_ADD,
    CP_ST_SUB_REMOVE,
    CP_ST_SUBS_COUNT,
    CP_ST_SUBS_COUNT_ALL,
    CP_ST_SUBS_OF,
    CP_ST_SUBS_EACH,
    CP_ST_EWS_SET,
    CP_ST_EWS_GET,
    CP_ST_EWS_CLEAR,
    CP_ST_ROSTER_JOB_PUT,
    CP_ST_ROSTER_JOB_DONE,
    CP_ST_ROSTER_JOB_DEFER,
    CP_ST_ROSTER_JOBS_COUNT,
    CP_ST_ROSTER_ITEM_SET,
    CP_ST_ROSTER_ITEM_REMOVE,
    CP_ST_ROSTER_USER_KNOWN,
    CP_ST_COUNT
};

struct cp_store {
    sqlite3 *db;
    char *path; /* owned; the subject of open/close log lines */
    sqlite3_stmt *stmts[CP_ST_COUNT];
};

/* One schema step: SQL, then RUN (for a step SQL cannot express), in the same transaction that
 * sets user_version to its position (1-based) in cp_store_migrations. Either may be NULL. */
struct cp_store_migration {
    const char *what; /* logged when applied */
    const char *sql;
    int (*run)(struct cp_store *store); /* 0 or a negative cp_err, the reason logged */
};

extern const struct cp_store_migration cp_store_migrations[];
extern const int cp_store_migration_count;

/* The step that normalises every stored JID, merging rows that become one (jid_migration.c). */
int cp_store_migrate_jids(struct cp_store *store);

/* Logs `store: SUBJECT: WHAT (sqlite's message)` at error level. */
void cp_store_fail(struct cp_store *store, const char *subject, const char *what);

/* Logs a call with a NULL or out-of-range argument (a caller bug, never fatal) as
 * `store: SUBJECT: invalid argument to FUNC` and returns CP_EINVAL. SUBJECT may be NULL. */
int cp_store_invalid(const char *func, const char *subject);

/* The cached statement ID, prepared from SQL on first use, reset and unbound, ready to bind.
 * Returns NULL (logged against SUBJECT) when preparing fails. The store keeps ownership;
 * callers finish with cp_store_stmt_done. */
sqlite3_stmt *cp_store_stmt(struct cp_store *store, enum cp_store_stmt_id id, const char *sql,
                            const char *subject);
void cp_store_stmt_done(sqlite3_stmt *stmt);

/* Runs a cached, bound `SELECT count(*)` and finishes it: the count, or CP_EIO logged as
 * `SUBJECT: WHAT`. */
long cp_store_stmt_count(struct cp_store *store, sqlite3_stmt *stmt, const char *subject,
                         const char *what);

/* Runs a cached statement that returns no row (SQLITE_DONE); returns 0 or CP_EIO, logged. */
int cp_store_stmt_exec(struct cp_store *store, sqlite3_stmt *stmt, const char *subject,
                       const char *what);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. begin and commit return 0 or CP_EIO (logged);
 * rollback is best effort (logged). */
int cp_store_begin(struct cp_store *store, const char *subject);
int cp_store_commit(struct cp_store *store, const char *subject);
void cp_store_rollback(struct cp_store *store, const char *subject);

/* Binds TEXT (NULL binds SQL NULL) without copying: the caller keeps TEXT alive until the
 * statement is reset. */
int cp_store_bind_text(sqlite3_stmt *stmt, int idx, const char *text);

/* Current time in unix seconds, for created/updated columns. */
int64_t cp_store_now(void);

#endif
