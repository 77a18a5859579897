/* The store's connection: opening (file mode, pragmas, migrations), closing, and the helpers
 * its other files share (cached statements, transactions, error lines). See store.h. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "store_int.h"

/* How long a write waits for another connection (a second instance, an operator's sqlite3
 * shell) to finish before it fails with CP_EIO. */
#define STORE_BUSY_TIMEOUT_MS 5000

static int store_create_file(const char *path);
static sqlite3_stmt *store_one_row(struct cp_store *store, const char *sql, const char *what);
static int store_configure(struct cp_store *store);
static int store_read_version(struct cp_store *store, int *version);
static int store_migrate(struct cp_store *store);
static int store_migrate_step(struct cp_store *store, bool *done);
static int store_set_version(struct cp_store *store, int version);

void
cp_store_fail(struct cp_store *store, const char *subject, const char *what)
{
    if (!subject)
        subject = store->path;
    cp_log_error("store", "%s: %s (%s)", *subject ? subject : "(empty)", what,
                 sqlite3_errmsg(store->db));
}

int
cp_store_invalid(const char *func, const char *subject)
{
    cp_log_error("store", "%s: invalid argument to %s (NULL or out of range)",
                 subject ? subject : "(none)", func);
    return CP_EINVAL;
}

/* Creates PATH with mode 0600 when absent, before SQLite does (it would use 0644): the
 * database holds mailbox addresses. SQLite gives its -wal and -shm files the mode of the
 * database file. An existing file keeps its mode; a wider one is reported. */
static int
store_create_file(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int err = errno;
        char *copy = strdup(path);
        /* ENOENT from O_CREAT means the directory is missing: say so, not "No such file". */
        if (err == ENOENT && copy != NULL)
            cp_log_error("store",
                         "%s: cannot create the database: directory %s does not exist (create "
                         "it, writable by this user; systemd's StateDirectory= does)",
                         path, dirname(copy));
        else
            cp_log_error("store", "%s: cannot open the database file (%s)", path, strerror(err));
        free(copy);
        return err == EACCES ? CP_EPERM : CP_EIO;
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        cp_log_error("store", "%s: cannot stat the database file (%s)", path, strerror(errno));
        rc = CP_EIO;
    } else if (!S_ISREG(st.st_mode)) {
        cp_log_error("store", "%s: not a regular file (refusing to use it as the database)", path);
        rc = CP_EINVAL;
    } else if (st.st_mode & 077) {
        cp_log_warn("store",
                    "%s: database file is accessible to others (mode %04o; it holds mailbox "
                    "addresses, chmod 600 it)",
                    path, (unsigned)(st.st_mode & 07777));
    }
    close(fd);
    return rc;
}

/* Prepares SQL and steps it to its first row. Returns the statement (the caller finalizes it),
 * or NULL with WHAT logged. */
static sqlite3_stmt *
store_one_row(struct cp_store *store, const char *sql, const char *what)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL) != SQLITE_OK ||
        sqlite3_step(stmt) != SQLITE_ROW) {
        cp_store_fail(store, NULL, what);
        sqlite3_finalize(stmt);
        return NULL;
    }
    return stmt;
}

/* WAL so that readers never block the writer and a commit is one append; FULL so that a
 * committed transaction is on disk when COMMIT returns; foreign keys for ews_subscriptions. */
static int
store_configure(struct cp_store *store)
{
    sqlite3_busy_timeout(store->db, STORE_BUSY_TIMEOUT_MS);
    sqlite3_stmt *stmt =
        store_one_row(store, "PRAGMA journal_mode = WAL", "cannot open the database");
    if (!stmt)
        return CP_EIO;
    const char *mode = (const char *)sqlite3_column_text(stmt, 0);
    bool wal = mode && strcmp(mode, "wal") == 0;
    if (!wal)
        cp_log_error("store", "%s: cannot switch to WAL mode (journal mode stays %s)", store->path,
                     mode ? mode : "unknown");
    sqlite3_finalize(stmt);
    if (!wal)
        return CP_EIO;
    if (sqlite3_exec(store->db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", NULL, NULL,
                     NULL) != SQLITE_OK) {
        cp_store_fail(store, NULL, "cannot set synchronous and foreign_keys");
        return CP_EIO;
    }
    return 0;
}

static int
store_read_version(struct cp_store *store, int *version)
{
    sqlite3_stmt *stmt =
        store_one_row(store, "PRAGMA user_version", "cannot read the schema version");
    if (!stmt)
        return CP_EIO;
    *version = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    return 0;
}

/* PRAGMA takes no bound parameter; VERSION is an int we produced. */
static int
store_set_version(struct cp_store *store, int version)
{
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version);
    if (sqlite3_exec(store->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        cp_store_fail(store, NULL, "cannot set the schema version");
        return CP_EIO;
    }
    return 0;
}

/* Applies the next pending migration in its own transaction, or sets *DONE when there is
 * none. The version is read inside the write transaction so that two processes opening the
 * same file at once cannot both apply one step. */
static int
store_migrate_step(struct cp_store *store, bool *done)
{
    int version = 0;
    int rc = cp_store_begin(store, NULL);
    if (rc == 0)
        rc = store_read_version(store, &version);
    if (rc == 0 && version > cp_store_migration_count) {
        cp_log_error("store",
                     "%s: schema version %d is newer than this calpresence knows (%d); refusing "
                     "to open it (run the newer calpresence or restore a backup)",
                     store->path, version, cp_store_migration_count);
        rc = CP_EINVAL;
    }
    if (rc == 0 && version == cp_store_migration_count) {
        *done = true;
        return cp_store_commit(store, NULL);
    }
    const struct cp_store_migration *m = rc == 0 ? &cp_store_migrations[version] : NULL;
    if (m != NULL && m->sql != NULL &&
        sqlite3_exec(store->db, m->sql, NULL, NULL, NULL) != SQLITE_OK) {
        char what[160];
        snprintf(what, sizeof(what), "migration to schema version %d (%s) failed", version + 1,
                 m->what);
        cp_store_fail(store, NULL, what);
        rc = CP_EIO;
    }
    if (rc == 0 && m->run != NULL && (rc = m->run(store)) != 0)
        cp_log_error("store", "%s: migration to schema version %d (%s) failed", store->path,
                     version + 1, m->what);
    if (rc == 0)
        rc = store_set_version(store, version + 1);
    if (rc == 0)
        rc = cp_store_commit(store, NULL);
    if (rc != 0) {
        cp_store_rollback(store, NULL);
        return rc;
    }
    cp_log_info("store", "%s: schema migrated to version %d (%s)", store->path, version + 1,
                cp_store_migrations[version].what);
    return 0;
}

static int
store_migrate(struct cp_store *store)
{
    bool done = false;
    while (!done) {
        int rc = store_migrate_step(store, &done);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Ownership: *OUT is the caller's, released with cp_store_close. */
int
cp_store_open(const char *path, struct cp_store **out)
{
    if (!path || !*path || !out) {
        cp_log_error("store", "%s: no database path given", path ? path : "(null)");
        return CP_EINVAL;
    }
    *out = NULL;
    int rc = store_create_file(path);
    if (rc != 0)
        return rc;
    struct cp_store *store = calloc(1, sizeof(*store));
    if (!store || !(store->path = strdup(path))) {
        cp_log_error("store", "%s: cannot open the database (out of memory)", path);
        free(store);
        return CP_ENOMEM;
    }
    if (sqlite3_open_v2(path, &store->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        if (store->db)
            cp_store_fail(store, NULL, "cannot open the database");
        else
            cp_log_error("store", "%s: cannot open the database (out of memory)", path);
        cp_store_close(store);
        return CP_EIO;
    }
    rc = store_configure(store);
    if (rc == 0)
        rc = store_migrate(store);
    if (rc != 0) {
        cp_store_close(store);
        return rc;
    }
    *out = store;
    return 0;
}

void
cp_store_close(struct cp_store *store)
{
    if (!store)
        return;
    for (int i = 0; i < CP_ST_COUNT; i++)
        sqlite3_finalize(store->stmts[i]);
    if (store->db && sqlite3_close(store->db) != SQLITE_OK)
        cp_store_fail(store, NULL, "cannot close the database");
    free(store->path);
    free(store);
}

int
cp_store_schema_version(struct cp_store *store)
{
    int version = 0;
    int rc = store_read_version(store, &version);
    return rc != 0 ? rc : version;
}

sqlite3_stmt *
cp_store_stmt(struct cp_store *store, enum cp_store_stmt_id id, const char *sql,
              const char *subject)
{
    if (store->stmts[id])
        return store->stmts[id];
    if (sqlite3_prepare_v3(store->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &store->stmts[id],
                           NULL) != SQLITE_OK) {
        cp_store_fail(store, subject, "cannot prepare a statement");
        store->stmts[id] = NULL;
    }
    return store->stmts[id];
}

void
cp_store_stmt_done(sqlite3_stmt *stmt)
{
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

long
cp_store_stmt_count(struct cp_store *store, sqlite3_stmt *stmt, const char *subject,
                    const char *what)
{
    long count = CP_EIO;
    if (sqlite3_step(stmt) == SQLITE_ROW)
        count = (long)sqlite3_column_int64(stmt, 0);
    else
        cp_store_fail(store, subject, what);
    cp_store_stmt_done(stmt);
    return count;
}

int
cp_store_stmt_exec(struct cp_store *store, sqlite3_stmt *stmt, const char *subject,
                   const char *what)
{
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        cp_store_fail(store, subject, what);
    cp_store_stmt_done(stmt);
    return rc == SQLITE_DONE ? 0 : CP_EIO;
}

int
cp_store_begin(struct cp_store *store, const char *subject)
{
    /* IMMEDIATE takes the write lock now, so a busy database fails here, before any work. */
    sqlite3_stmt *stmt = cp_store_stmt(store, CP_ST_BEGIN, "BEGIN IMMEDIATE", subject);
    if (!stmt)
        return CP_EIO;
    return cp_store_stmt_exec(store, stmt, subject, "cannot begin a transaction");
}

int
cp_store_commit(struct cp_store *store, const char *subject)
{
    sqlite3_stmt *stmt = cp_store_stmt(store, CP_ST_COMMIT, "COMMIT", subject);
    if (!stmt)
        return CP_EIO;
    return cp_store_stmt_exec(store, stmt, subject, "cannot commit");
}

void
cp_store_rollback(struct cp_store *store, const char *subject)
{
    /* A failed statement may already have rolled the transaction back. */
    if (sqlite3_get_autocommit(store->db))
        return;
    sqlite3_stmt *stmt = cp_store_stmt(store, CP_ST_ROLLBACK, "ROLLBACK", subject);
    if (stmt)
        cp_store_stmt_exec(store, stmt, subject, "cannot roll back");
}

int
cp_store_bind_text(sqlite3_stmt *stmt, int idx, const char *text)
{
    if (!text)
        return sqlite3_bind_null(stmt, idx);
    return sqlite3_bind_text(stmt, idx, text, -1, SQLITE_STATIC);
}

int64_t
cp_store_now(void)
{
    return (int64_t)time(NULL);
}
