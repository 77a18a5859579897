/* Unit tests of the user store (component/store/): every call, migrations, file mode, error
 * lines, and crash safety with a child killed by SIGKILL in and just after a transaction. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config/error.h"
#include "config/log.h"
#include "store/store.h"
#include "store/store_int.h"

static char dir[64];
static char path[128];
static char *log_buf;
static size_t log_len;
static FILE *log_stream;

static void
setup(void)
{
    strcpy(dir, "/tmp/test_store.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/store.db", dir);
    log_stream = open_memstream(&log_buf, &log_len);
    cr_assert_not_null(log_stream);
    cp_log_set_stream(log_stream);
}

static void
teardown(void)
{
    cp_log_set_stream(NULL);
    fclose(log_stream);
    free(log_buf);
    const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        char file[160];
        snprintf(file, sizeof(file), "%s%s", path, suffixes[i]);
        unlink(file);
    }
    rmdir(dir);
}

TestSuite(store, .init = setup, .fini = teardown);

/* The log written so far, as one string. */
static const char *
logged(void)
{
    fflush(log_stream);
    return log_buf ? log_buf : "";
}

static struct cp_store *
open_ok(void)
{
    struct cp_store *store = NULL;
    cr_assert_eq(cp_store_open(path, &store), 0, "open: %s", logged());
    cr_assert_not_null(store);
    return store;
}

/* Runs SQL on a connection of the test's own, outside the store. */
static void
raw_exec(const char *sql)
{
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, err ? err : "");
    sqlite3_close(db);
}

static int
raw_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK, "%s", sql);
    cr_assert_eq(sqlite3_step(stmt), SQLITE_ROW, "%s", sql);
    int value = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    return value;
}

static mode_t
file_mode(const char *suffix)
{
    char file[160];
    snprintf(file, sizeof(file), "%s%s", path, suffix);
    struct stat st;
    cr_assert_eq(stat(file, &st), 0, "%s: %s", file, strerror(errno));
    return st.st_mode & 07777;
}

static void
assert_user(struct cp_store *store, const char *jid, bool enabled, const char *mailbox)
{
    struct cp_user user;
    cr_assert_eq(cp_store_user_get(store, jid, &user), 0, "%s", jid);
    cr_assert_str_eq(user.jid, jid);
    cr_assert_eq(user.enabled, enabled, "%s enabled", jid);
    if (mailbox)
        cr_assert_str_eq(user.mailbox ? user.mailbox : "(null)", mailbox, "%s mailbox", jid);
    else
        cr_assert_null(user.mailbox, "%s mailbox", jid);
    cp_user_clear(&user);
}

/* --- opening, file mode, pragmas, migrations --- */

Test(store, open_creates_file_0600_with_current_schema)
{
    mode_t old = umask(022);
    struct cp_store *store = open_ok();
    umask(old);
    cr_assert_eq(cp_store_schema_version(store), cp_store_migration_count);
    cr_assert_geq(cp_store_migration_count, 2);
    cr_assert_eq(cp_store_user_enable(store, "alice@example.com", NULL), 0);
    /* The WAL and its index inherit the database file's mode. */
    cr_assert_eq(file_mode(""), 0600, "mode %o", file_mode(""));
    cr_assert_eq(file_mode("-wal"), 0600, "mode %o", file_mode("-wal"));
    cr_assert_eq(file_mode("-shm"), 0600, "mode %o", file_mode("-shm"));
    cr_assert(strstr(logged(), "schema migrated to version 1 (users and subscribers)"), "%s",
              logged());
    cp_store_close(store);
}

Test(store, connection_pragmas)
{
    struct cp_store *store = open_ok();
    cr_assert_eq(raw_int(store->db, "PRAGMA synchronous"), 2); /* FULL */
    cr_assert_eq(raw_int(store->db, "PRAGMA foreign_keys"), 1);
    cr_assert_geq(raw_int(store->db, "PRAGMA busy_timeout"), 1000);
    sqlite3_stmt *stmt = NULL;
    cr_assert_eq(sqlite3_prepare_v2(store->db, "PRAGMA journal_mode", -1, &stmt, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(stmt), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(stmt, 0), "wal");
    sqlite3_finalize(stmt);
    cp_store_close(store);
}

Test(store, existing_file_with_wide_mode_is_reported_and_kept)
{
    mode_t old = umask(0);
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    umask(old);
    cr_assert_geq(fd, 0);
    close(fd);
    struct cp_store *store = open_ok();
    cr_assert(strstr(logged(), "store: "), "%s", logged());
    cr_assert(strstr(logged(), "accessible to others (mode 0644"), "%s", logged());
    cr_assert_eq(file_mode(""), 0644);
    cp_store_close(store);
}

Test(store, migrates_from_empty_file)
{
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    cr_assert_geq(fd, 0);
    close(fd);
    struct cp_store *store = open_ok();
    cr_assert_eq(cp_store_schema_version(store), cp_store_migration_count);
    cr_assert_eq(raw_int(store->db, "SELECT count(*) FROM sqlite_master WHERE name IN "
                                    "('users', 'subscribers', 'ews_subscriptions', "
                                    "'users_enabled')"),
                 4);
    cr_assert(strstr(logged(), "schema migrated to version 2 (Exchange subscription state)"), "%s",
              logged());
    cp_store_close(store);

    /* Reopening applies nothing. */
    fflush(log_stream);
    size_t before = log_len;
    store = open_ok();
    cr_assert_eq(cp_store_schema_version(store), cp_store_migration_count);
    cr_assert_null(strstr(logged() + before, "migrated"), "%s", logged() + before);
    cp_store_close(store);
}

/* The schema as calpresence's first release wrote it: a frozen copy, not the migration list. */
static const char v1_schema[] =
    "CREATE TABLE users (jid TEXT PRIMARY KEY NOT NULL CHECK (length(jid) > 0),"
    " mailbox TEXT CHECK (mailbox IS NULL OR length(mailbox) > 0),"
    " enabled INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),"
    " tentative INTEGER NOT NULL DEFAULT 0 CHECK (tentative IN (0, 1, 2)),"
    " include_subject INTEGER NOT NULL DEFAULT 0 CHECK (include_subject IN (0, 1)),"
    " created INTEGER NOT NULL, updated INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX users_enabled ON users (jid) WHERE enabled = 1;"
    "CREATE TABLE subscribers (user_jid TEXT NOT NULL CHECK (length(user_jid) > 0),"
    " subscriber TEXT NOT NULL CHECK (length(subscriber) > 0), created INTEGER NOT NULL,"
    " PRIMARY KEY (user_jid, subscriber)) WITHOUT ROWID;"
    "INSERT INTO users VALUES ('alice@example.com', 'alice@corp.example', 1, 2, 1, 100, 200);"
    "INSERT INTO users VALUES ('bob@example.com', NULL, 0, 0, 0, 300, 400);"
    "INSERT INTO subscribers VALUES ('alice@example.com', 'carol@example.com', 500);"
    "PRAGMA user_version = 1;";

Test(store, migrates_from_version_1_keeping_rows)
{
    raw_exec(v1_schema);
    struct cp_store *store = open_ok();
    cr_assert_eq(cp_store_schema_version(store), cp_store_migration_count);
    cr_assert(strstr(logged(), "schema migrated to version 2"), "%s", logged());
    cr_assert_null(strstr(logged(), "version 1 ("), "%s", logged());

    struct cp_user user;
    cr_assert_eq(cp_store_user_get(store, "alice@example.com", &user), 0);
    cr_assert_str_eq(user.mailbox, "alice@corp.example");
    cr_assert(user.enabled);
    cr_assert_eq(user.tentative, CP_USER_TENTATIVE_BUSY);
    cr_assert(user.include_subject);
    cr_assert_eq(user.created, 100);
    cr_assert_eq(user.updated, 200);
    /* migration 7: rows from before follow the admin's defaults */
    cr_assert_eq(user.priv.only_while_online, CP_USER_OPT_DEFAULT);
    cr_assert_eq(user.priv.respect_own_status, CP_USER_OPT_DEFAULT);
    cr_assert_eq(user.priv.pep_activity, CP_USER_OPT_DEFAULT);
    cp_user_clear(&user);
    assert_user(store, "bob@example.com", false, NULL);
    cr_assert_eq(cp_store_subscribers_count(store, "alice@example.com"), 1);

    struct cp_ews_sub sub = {.id = "sub-1", .server = "https://cas1/EWS/Exchange.asmx"};
    cr_assert_eq(cp_store_ews_sub_set(store, "alice@example.com", &sub), 0);
    struct cp_ews_sub got;
    cr_assert_eq(cp_store_ews_sub_get(store, "alice@example.com", &got), 0);
    cr_assert_str_eq(got.id, "sub-1");
    cp_ews_sub_clear(&got);
    cp_store_close(store);
}

/* Version 3 (before JIDs were normalised, issue 12), frozen, holding what users-enable with
 * mixed case and the subscriptions of those days could leave: three spellings of carol, of
 * which "CAROL@localhost" was changed last; bob twice, the normalised row newer; a subscriber
 * spelt in capitals; a subscription under each spelling of carol. */
static const char v3_with_case_duplicates[] =
    "CREATE TABLE users (jid TEXT PRIMARY KEY NOT NULL CHECK (length(jid) > 0),"
    " mailbox TEXT CHECK (mailbox IS NULL OR length(mailbox) > 0),"
    " enabled INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),"
    " tentative INTEGER NOT NULL DEFAULT 0 CHECK (tentative IN (0, 1, 2)),"
    " include_subject INTEGER NOT NULL DEFAULT 0 CHECK (include_subject IN (0, 1)),"
    " created INTEGER NOT NULL, updated INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX users_enabled ON users (jid) WHERE enabled = 1;"
    "CREATE TABLE subscribers (user_jid TEXT NOT NULL CHECK (length(user_jid) > 0),"
    " subscriber TEXT NOT NULL CHECK (length(subscriber) > 0), created INTEGER NOT NULL,"
    " PRIMARY KEY (user_jid, subscriber)) WITHOUT ROWID;"
    "CREATE TABLE ews_subscriptions ("
    " user_jid TEXT PRIMARY KEY NOT NULL REFERENCES users (jid) ON DELETE CASCADE,"
    " id TEXT NOT NULL CHECK (length(id) > 0), server TEXT NOT NULL CHECK (length(server) > 0),"
    " watermark TEXT, updated INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX subscribers_by_subscriber ON subscribers (subscriber);"
    "INSERT INTO users VALUES ('carol@localhost', NULL, 0, 0, 0, 300, 400);"
    "INSERT INTO users VALUES ('Carol@LOCALHOST', 'c.old@corp.example', 1, 1, 0, 100, 500);"
    "INSERT INTO users VALUES ('CAROL@localhost', 'c.new@corp.example', 1, 2, 1, 200, 600);"
    "INSERT INTO users VALUES ('Bob@Localhost', 'b.old@corp.example', 1, 0, 0, 50, 100);"
    "INSERT INTO users VALUES ('bob@localhost', NULL, 0, 0, 0, 60, 900);"
    "INSERT INTO users VALUES ('Dave@Localhost', NULL, 1, 0, 0, 70, 80);"
    "INSERT INTO users VALUES ('alice@localhost', NULL, 1, 0, 0, 10, 20);"
    "INSERT INTO subscribers VALUES ('carol@localhost', 'alice@localhost', 700);"
    "INSERT INTO subscribers VALUES ('Carol@LOCALHOST', 'alice@localhost', 650);"
    "INSERT INTO subscribers VALUES ('Carol@LOCALHOST', 'Bob@LOCALHOST', 660);"
    "INSERT INTO subscribers VALUES ('alice@localhost', 'Dave@Localhost', 670);"
    "INSERT INTO ews_subscriptions VALUES ('Carol@LOCALHOST', 'sub-c', 'https://cas1/EWS', NULL,"
    " 500);"
    "INSERT INTO ews_subscriptions VALUES ('Dave@Localhost', 'sub-d', 'https://cas1/EWS', 'w',"
    " 80);"
    "PRAGMA user_version = 3;";

Test(store, migration_normalises_and_merges_case_duplicates)
{
    raw_exec(v3_with_case_duplicates);
    struct cp_store *store = open_ok();
    cr_assert_eq(cp_store_schema_version(store), cp_store_migration_count);

    /* carol: three rows, one left, with the settings changed last and the first creation. */
    cr_assert_eq(cp_store_users_count(store, false), 4, "carol, bob, dave, alice");
    struct cp_user user;
    cr_assert_eq(cp_store_user_get(store, "carol@localhost", &user), 0);
    cr_expect_str_eq(user.mailbox, "c.new@corp.example");
    cr_expect(user.enabled);
    cr_expect_eq(user.tentative, CP_USER_TENTATIVE_BUSY);
    cr_expect(user.include_subject);
    cr_expect_eq(user.created, 100);
    cr_expect_eq(user.updated, 600);
    cp_user_clear(&user);
    /* bob: the normalised row was changed last (disabled at 900): it wins. */
    assert_user(store, "bob@localhost", false, NULL);
    assert_user(store, "dave@localhost", true, NULL);
    cr_expect_eq(cp_store_user_get(store, "Carol@LOCALHOST", &user), CP_ENOTFOUND);
    cr_expect_eq(cp_store_user_get(store, "Bob@Localhost", &user), CP_ENOTFOUND);

    /* Subscribers merged: alice once (the earlier time kept), bob normalised. */
    cr_expect_eq(cp_store_subscribers_count(store, "carol@localhost"), 2);
    cr_expect_eq(cp_store_subscribers_count(store, "Carol@LOCALHOST"), 0);
    cr_expect_eq(cp_store_subscribers_count(store, "alice@localhost"), 1);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_expect_eq(raw_int(db, "SELECT created FROM subscribers WHERE user_jid = 'carol@localhost'"
                             " AND subscriber = 'alice@localhost'"),
                 650);
    cr_expect_eq(raw_int(db, "SELECT count(*) FROM subscribers WHERE subscriber = "
                             "'bob@localhost' OR subscriber = 'dave@localhost'"),
                 2);
    cr_expect_eq(raw_int(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
    sqlite3_close(db);

    /* The Exchange subscriptions follow their users. */
    struct cp_ews_sub got;
    cr_assert_eq(cp_store_ews_sub_get(store, "carol@localhost", &got), 0);
    cr_expect_str_eq(got.id, "sub-c");
    cp_ews_sub_clear(&got);
    cr_assert_eq(cp_store_ews_sub_get(store, "dave@localhost", &got), 0);
    cr_expect_str_eq(got.id, "sub-d");
    cp_ews_sub_clear(&got);

    /* Each merge is said in the log. */
    const char *log = logged();
    cr_expect(strstr(log, "store: Carol@LOCALHOST: merged into carol@localhost, the same user "
                          "once normalised (kept the settings of Carol@LOCALHOST, changed last)"),
              "%s", log);
    cr_expect(strstr(log, "store: CAROL@localhost: merged into carol@localhost, the same user "
                          "once normalised (kept the settings of CAROL@localhost, changed last)"),
              "%s", log);
    cr_expect(strstr(log, "store: Bob@Localhost: merged into bob@localhost, the same user once "
                          "normalised (kept the settings of bob@localhost, changed last)"),
              "%s", log);
    cr_expect(strstr(log, "store: Dave@Localhost: renamed to dave@localhost"), "%s", log);
    cr_expect(strstr(log, "schema migrated to version 5 (normalised JIDs)"), "%s", log);
    cp_store_close(store);
}

Test(store, failed_migration_changes_nothing)
{
    /* A version-1 file where someone already created a table of version 2's name. */
    raw_exec(v1_schema);
    raw_exec("CREATE TABLE ews_subscriptions (x INTEGER)");
    struct cp_store *store = NULL;
    cr_assert_eq(cp_store_open(path, &store), CP_EIO);
    cr_assert_null(store);
    char expect[512];
    snprintf(expect, sizeof(expect),
             "store: %s: migration to schema version 2 (Exchange subscription state) failed "
             "(table ews_subscriptions already exists)",
             path);
    cr_assert(strstr(logged(), expect), "%s", logged());
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(raw_int(db, "PRAGMA user_version"), 1);
    cr_assert_eq(raw_int(db, "SELECT count(*) FROM users"), 2);
    sqlite3_close(db);
}

Test(store, refuses_newer_schema)
{
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", cp_store_migration_count + 1);
    raw_exec(sql);
    struct cp_store *store = (struct cp_store *)1;
    cr_assert_eq(cp_store_open(path, &store), CP_EINVAL);
    cr_assert_null(store);
    char expect[512];
    snprintf(expect, sizeof(expect),
             "store: %s: schema version %d is newer than this calpresence knows (%d)", path,
             cp_store_migration_count + 1, cp_store_migration_count);
    cr_assert(strstr(logged(), expect), "%s", logged());
    /* Left as it was. */
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(raw_int(db, "PRAGMA user_version"), cp_store_migration_count + 1);
    cr_assert_eq(raw_int(db, "SELECT count(*) FROM sqlite_master"), 0);
    sqlite3_close(db);
}

Test(store, refuses_file_that_is_not_a_database)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 200; i++)
        fputs("this is not an SQLite database. ", f);
    fclose(f);
    struct cp_store *store = NULL;
    cr_assert_eq(cp_store_open(path, &store), CP_EIO);
    cr_assert_null(store);
    char expect[512];
    snprintf(expect, sizeof(expect), "store: %s: cannot open the database (file is not a database)",
             path);
    cr_assert(strstr(logged(), expect), "%s", logged());
}

Test(store, open_errors)
{
    struct cp_store *store = NULL;
    cr_assert_eq(cp_store_open(NULL, &store), CP_EINVAL);
    cr_assert_eq(cp_store_open("", &store), CP_EINVAL);
    char missing[200];
    snprintf(missing, sizeof(missing), "%s/no/such/dir.db", dir);
    cr_assert_eq(cp_store_open(missing, &store), CP_EIO);
    cr_assert_null(store);
    char expect[512];
    /* The operator is told which directory to create, not "No such file or directory". */
    snprintf(expect, sizeof(expect),
             "store: %s: cannot create the database: directory %s/no/such does not exist", missing,
             dir);
    cr_assert(strstr(logged(), expect), "%s", logged());
    cr_assert_eq(cp_store_open(dir, &store), CP_EIO); /* a directory */
    cp_store_close(NULL);
}

Test(store, two_connections_share_one_file)
{
    struct cp_store *a = open_ok();
    struct cp_store *b = open_ok();
    cr_assert_eq(cp_store_user_enable(a, "alice@example.com", NULL), 0);
    assert_user(b, "alice@example.com", true, NULL);
    cp_store_close(a);
    cp_store_close(b);
}

/* --- users --- */

Test(store, user_enable_get_and_mailbox_rules)
{
    struct cp_store *store = open_ok();
    struct cp_user user = {0};
    cr_assert_eq(cp_store_user_get(store, "alice@example.com", &user), CP_ENOTFOUND);
    cr_assert_null(user.jid);

    int64_t t0 = (int64_t)time(NULL);
    cr_assert_eq(cp_store_user_enable(store, "alice@example.com", "alice@corp.example"), 0);
    int64_t t1 = (int64_t)time(NULL);
    cr_assert_eq(cp_store_user_get(store, "alice@example.com", &user), 0);
    cr_assert_str_eq(user.jid, "alice@example.com");
    cr_assert_str_eq(user.mailbox, "alice@corp.example");
    cr_assert(user.enabled);
    cr_assert_eq(user.tentative, CP_USER_TENTATIVE_DEFAULT);
    cr_assert_not(user.include_subject);
    cr_assert(user.created >= t0 && user.created <= t1);
    cr_assert_eq(user.updated, user.created);
    cp_user_clear(&user);
    cr_assert_null(user.jid);
    cp_user_clear(&user); /* twice is harmless */
    cp_user_clear(NULL);

    /* NULL and "" keep the stored mailbox; another address replaces it. */
    cr_assert_eq(cp_store_user_enable(store, "alice@example.com", NULL), 0);
    assert_user(store, "alice@example.com", true, "alice@corp.example");
    cr_assert_eq(cp_store_user_enable(store, "alice@example.com", ""), 0);
    assert_user(store, "alice@example.com", true, "alice@corp.example");
    cr_assert_eq(cp_store_user_enable(store, "alice@example.com", "a.smith@corp.example"), 0);
    assert_user(store, "alice@example.com", true, "a.smith@corp.example");

    cr_assert_eq(cp_store_user_enable(store, "bob@example.com", NULL), 0);
    assert_user(store, "bob@example.com", true, NULL);
    cr_assert_eq(cp_store_user_enable(store, NULL, NULL), CP_EINVAL);
    cr_assert_eq(cp_store_user_enable(NULL, "x@example.com", NULL), CP_EINVAL);
    cr_assert_eq(cp_store_user_get(store, NULL, &user), CP_EINVAL);
    cp_store_close(store);
}

Test(store, user_disable_keeps_row_and_settings)
{
    struct cp_store *store = open_ok();
    cr_assert_eq(cp_store_user_enable(store, "alice@example.com", "alice@corp.example"), 0);
    cr_assert_eq(cp_store_user_settings(store, "alice@example.com", CP_USER_TENTATIVE_BUSY, true),
                 0);
    cr_assert_eq(cp_store_user_disable(store, "alice@example.com"), 0);
    struct cp_user user;
    cr_assert_eq(cp_store_user_get(store, "alice@example.com", &user), 0);
    cr_assert_not(user.enabled);
    cr_assert_str_eq(user.mailbox, "alice@corp.example");
    cr_assert_eq(user.tentative, CP_USER_TENTATIVE_BUSY);
    cr_assert(user.include_subject);
    cp_user_clear(&user);
    cr_assert_eq(cp_store_user_disable(store, "alice@example.com"), 0); /* already off */
    cr_assert_eq(cp_store_user_disable(store, "nobody@example.com"), CP_ENOTFOUND);
    cr_assert_eq(cp_store_user_disable(store, NULL), CP_EINVAL);

    cr_assert_eq(cp_store_user_enable(store, "alice@example.com", NULL), 0);
    cr_assert_eq(cp_store_user_get(store, "alice@example.com", &user), 0);
    cr_assert(user.enabled);
    cr_assert_eq(user.tentative, CP_USER_TENTATIVE_BUSY);
    cp_user_clear(&user);
    cp_store_close(store);
}

Test(store, user_settings)
{
    struct cp_store *store = open_ok();
    /* A user may choose settings before enabling: a disabled row appears. */
    cr_assert_eq(cp_store_user_settings(store, "bob@example.com", CP_USER_TENTATIVE_FREE, true), 0);
    struct cp_user user;
    cr_assert_eq(cp_store_user_get(store, "bob@example.com", &user), 0);
    cr_assert_not(user.enabled);
    cr_assert_null(user.mailbox);
    cr_assert_eq(user.tentative, CP_USER_TENTATIVE_FREE);
    cr_assert(user.include_subject);
    cp_user_clear(&user);

    cr_assert_eq(cp_store_user_enable(store, "bob@example.com", "bob@corp.example"), 0);
    cr_assert_eq(cp_store_user_settings(store, "bob@example.com", CP_USER_TENTATIVE_DEFAULT, false),
                 0);
    cr_assert_eq(cp_store_user_get(store, "bob@example.com", &user), 0);
    cr_assert(user.enabled);
    cr_assert_str_eq(user.mailbox, "bob@corp.example");
    cr_assert_eq(user.tentative, CP_USER_TENTATIVE_DEFAULT);
    cr_assert_not(user.include_subject);
    cp_user_clear(&user);

    cr_assert_eq(cp_store_user_settings(store, "bob@example.com", (enum cp_user_tentative)7, false),
                 CP_EINVAL);
    cr_assert(strstr(logged(), "store: bob@example.com: invalid argument to "
                               "cp_store_user_settings (NULL or out of range)"),
              "%s", logged());
    cr_assert_eq(cp_store_user_settings(store, NULL, CP_USER_TENTATIVE_FREE, false), CP_EINVAL);
    cp_store_close(store);
}

#define BATCH 10000

/* JIDS[i] = "userI@example.com"; MAILBOXES[i] set for even i only. Caller frees both with
 * free_batch. */
static void
make_batch(size_t n, char ***jids, char ***mailboxes)
{
    *jids = calloc(n, sizeof(char *));
    *mailboxes = calloc(n, sizeof(char *));
    cr_assert(*jids && *mailboxes);
    for (size_t i = 0; i < n; i++) {
        cr_assert_gt(asprintf(&(*jids)[i], "user%05zu@example.com", i), 0);
        if (i % 2 == 0)
            cr_assert_gt(asprintf(&(*mailboxes)[i], "u%zu@corp.example", i), 0);
    }
}

static void
free_batch(size_t n, char **jids, char **mailboxes)
{
    for (size_t i = 0; i < n; i++) {
        free(jids[i]);
        free(mailboxes[i]);
    }
    free(jids);
    free(mailboxes);
}

Test(store, enable_batch_of_10000)
{
    struct cp_store *store = open_ok();
    char **jids, **mailboxes;
    make_batch(BATCH, &jids, &mailboxes);
    cr_assert_eq(cp_store_user_enable(store, "user00001@example.com", "kept@corp.example"), 0);
    cr_assert_eq(cp_store_user_disable(store, "user00001@example.com"), 0);
    cr_assert_eq(cp_store_users_enable_batch(store, (const char *const *)jids,
                                             (const char *const *)mailboxes, BATCH),
                 0, "%s", logged());
    cr_assert_eq(cp_store_users_count(store, false), BATCH);
    cr_assert_eq(cp_store_users_count(store, true), BATCH);
    assert_user(store, "user00000@example.com", true, "u0@corp.example");
    assert_user(store, "user00001@example.com", true, "kept@corp.example");
    assert_user(store, "user09998@example.com", true, "u9998@corp.example");
    assert_user(store, "user09999@example.com", true, NULL);

    /* Without mailboxes at all. */
    const char *more[] = {"x@example.com", "y@example.com"};
    cr_assert_eq(cp_store_users_enable_batch(store, more, NULL, 2), 0);
    cr_assert_eq(cp_store_users_count(store, true), BATCH + 2);
    cr_assert_eq(cp_store_users_enable_batch(store, NULL, NULL, 0), 0);
    free_batch(BATCH, jids, mailboxes);
    cp_store_close(store);
}

Test(store, enable_batch_is_all_or_nothing)
{
    struct cp_store *store = open_ok();
    cr_assert_eq(cp_store_user_enable(store, "user00001@example.com", "kept@corp.example"), 0);
    cr_assert_eq(cp_store_user_disable(store, "user00001@example.com"), 0);
    char **jids, **mailboxes;
    make_batch(5000, &jids, &mailboxes);
    /* An empty JID violates the schema's CHECK half-way through. */
    jids[2500][0] = '\0';
    cr_assert_eq(cp_store_users_enable_batch(store, (const char *const *)jids,
                                             (const char *const *)mailboxes, 5000),
                 CP_EIO);
    cr_assert(strstr(logged(), "store: (empty): cannot enable the user (batch of 5000 rolled "
                               "back) (CHECK constraint failed"),
              "%s", logged());
    cr_assert_eq(cp_store_users_count(store, false), 1);
    assert_user(store, "user00001@example.com", false, "kept@corp.example");

    /* A NULL JID is refused before anything is written. */
    free(jids[2500]);
    jids[2500] = NULL;
    cr_assert_eq(cp_store_users_enable_batch(store, (const char *const *)jids,
                                             (const char *const *)mailboxes, 5000),
                 CP_EINVAL);
    cr_assert_eq(cp_store_users_count(store, false), 1);

    /* The store is usable afterwards. */
    cr_assert_eq(cp_store_users_enable_batch(store, (const char *const *)jids, NULL, 2500), 0);
    cr_assert_eq(cp_store_users_count(store, true), 2500);
    free_batch(5000, jids, mailboxes);
    cp_store_close(store);
}

Test(store, disable_batch_counts_missing)
{
    struct cp_store *store = open_ok();
    const char *on[] = {"a@example.com", "b@example.com", "c@example.com", "d@example.com"};
    cr_assert_eq(cp_store_users_enable_batch(store, on, NULL, 4), 0);
    const char *off[] = {"a@example.com", "zz@example.com", "c@example.com", "yy@example.com",
                         "d@example.com"};
    size_t missing = 99;
    cr_assert_eq(cp_store_users_disable_batch(store, off, 5, &missing), 0);
    cr_assert_eq(missing, 2);
    cr_assert_eq(cp_store_users_count(store, true), 1);
    assert_user(store, "b@example.com", true, NULL);
    assert_user(store, "c@example.com", false, NULL);
    cr_assert_eq(cp_store_users_count(store, false), 4); /* nothing created */
    cr_assert_eq(cp_store_users_disable_batch(store, on, 4, NULL), 0);
    cr_assert_eq(cp_store_users_count(store, true), 0);
    const char *bad[] = {"a@example.com", NULL};
    cr_assert_eq(cp_store_users_disable_batch(store, bad, 2, &missing), CP_EINVAL);
    cr_assert_eq(cp_store_users_disable_batch(store, NULL, 0, &missing), 0);
    cr_assert_eq(missing, 0);
    cp_store_close(store);
}

/* Collects the JIDs a walk produces, comma-separated, into a fixed buffer. */
struct walk {
    char jids[1024];
    int calls;
    int stop_after; /* 0 = never stop */
    struct cp_store *store;
};

static int
collect_user(const struct cp_user *user, void *ud)
{
    struct walk *w = ud;
    size_t len = strlen(w->jids);
    snprintf(w->jids + len, sizeof(w->jids) - len, "%s%s", len ? "," : "", user->jid);
    w->calls++;
    return w->stop_after && w->calls == w->stop_after ? 42 : 0;
}

static const char *
walk_users(struct cp_store *store, const char *filter, size_t max, struct walk *w)
{
    memset(w, 0, sizeof(*w));
    cr_assert_eq(cp_store_users_each(store, filter, max, collect_user, w), 0, "%s", logged());
    return w->jids;
}

Test(store, users_each_filter_escapes_like_wildcards)
{
    struct cp_store *store = open_ok();
    const char *jids[] = {"alice@example.com", "bob@example.com", "a_b@example.com",
                          "axb@example.com",   "a%c@example.com", "abc@example.com",
                          "back\\slash@x.org"};
    const char *mailboxes[] = {"alice@corp.example", NULL, NULL, NULL, NULL, NULL, NULL};
    cr_assert_eq(cp_store_users_enable_batch(store, jids, mailboxes, 7), 0);
    cr_assert_eq(cp_store_user_disable(store, "bob@example.com"), 0);
    struct walk w;

    cr_assert_str_eq(walk_users(store, NULL, 0, &w),
                     "a%c@example.com,a_b@example.com,abc@example.com,alice@example.com,"
                     "axb@example.com,back\\slash@x.org,bob@example.com");
    cr_assert_str_eq(walk_users(store, "", 0, &w), walk_users(store, NULL, 0, &w));
    /* "_" and "%" are literal characters, not LIKE wildcards. */
    cr_assert_str_eq(walk_users(store, "a_b", 0, &w), "a_b@example.com");
    cr_assert_str_eq(walk_users(store, "a%c", 0, &w), "a%c@example.com");
    cr_assert_str_eq(walk_users(store, "%", 0, &w), "a%c@example.com");
    cr_assert_str_eq(walk_users(store, "_", 0, &w), "a_b@example.com");
    cr_assert_str_eq(walk_users(store, "\\", 0, &w), "back\\slash@x.org");
    cr_assert_str_eq(walk_users(store, "\\s", 0, &w), "back\\slash@x.org");
    /* The mailbox matches too; matching ignores ASCII case like JID domains do. */
    cr_assert_str_eq(walk_users(store, "corp", 0, &w), "alice@example.com");
    cr_assert_str_eq(walk_users(store, "ALICE", 0, &w), "alice@example.com");
    cr_assert_str_eq(walk_users(store, "nomatch", 0, &w), "");
    cr_assert_eq(w.calls, 0);
    /* MAX, and the user fields reach the callback. */
    cr_assert_str_eq(walk_users(store, "example", 2, &w), "a%c@example.com,a_b@example.com");
    cr_assert_str_eq(walk_users(store, NULL, 1, &w), "a%c@example.com");
    cp_store_close(store);
}

static int
check_fields(const struct cp_user *user, void *ud)
{
    (void)ud;
    if (strcmp(user->jid, "alice@example.com") == 0)
        return user->enabled && user->mailbox && strcmp(user->mailbox, "alice@corp.example") == 0 &&
                       user->tentative == CP_USER_TENTATIVE_BUSY && user->include_subject &&
                       user->created > 0
                   ? 0
                   : 1;
    return !user->enabled && !user->mailbox ? 0 : 2;
}

Test(store, users_each_fields_stop_and_reentry)
{
    struct cp_store *store = open_ok();
    cr_assert_eq(cp_store_user_enable(store, "alice@example.com", "alice@corp.example"), 0);
    cr_assert_eq(cp_store_user_settings(store, "alice@example.com", CP_USER_TENTATIVE_BUSY, true),
                 0);
    cr_assert_eq(cp_store_user_settings(store, "bob@example.com", CP_USER_TENTATIVE_FREE, false),
                 0);
    cr_assert_eq(cp_store_users_each(store, NULL, 0, check_fields, NULL), 0);

    struct walk w = {.stop_after = 1};
    cr_assert_eq(cp_store_users_each(store, NULL, 0, collect_user, &w), 42);
    cr_assert_eq(w.calls, 1);
    cr_assert_eq(cp_store_users_each(store, NULL, 0, NULL, NULL), CP_EINVAL);
    cp_store_close(store);
}

/* Calls back into the store from inside a walk: a read and a write on the same connection. */
static int
reenter(const struct cp_user *user, void *ud)
{
    struct walk *w = ud;
    struct cp_user copy;
    if (cp_store_user_get(w->store, user->jid, &copy) != 0)
        return 1;
    cp_user_clear(&copy);
    if (cp_store_subscriber_add(w->store, user->jid, "watcher@example.com") != 0)
        return 2;
    const char *other[] = {"z1@other.org", "z2@other.org"};
    if (cp_store_users_enable_batch(w->store, other, NULL, 2) != 0)
        return 4;
    struct walk inner;
    memset(&inner, 0, sizeof(inner));
    if (cp_store_users_each(w->store, "@example.com", 0, collect_user, &inner) != 0 ||
        inner.calls != 3)
        return 3;
    w->calls++;
    return 0;
}

Test(store, callbacks_may_call_the_store)
{
    struct cp_store *store = open_ok();
    const char *jids[] = {"a@example.com", "b@example.com", "c@example.com"};
    cr_assert_eq(cp_store_users_enable_batch(store, jids, NULL, 3), 0);
    struct walk w = {.store = store};
    /* The filter keeps the rows the callback adds out of the walk. */
    cr_assert_eq(cp_store_users_each(store, "@example.com", 0, reenter, &w), 0, "%s", logged());
    cr_assert_eq(w.calls, 3);
    cr_assert_eq(cp_store_subscribers_count(store, NULL), 3);
    cr_assert_eq(cp_store_users_count(store, true), 5);
    cp_store_close(store);
}

Test(store, enabled_users_each_and_counts)
{
    struct cp_store *store = open_ok();
    cr_assert_eq(cp_store_users_count(store, false), 0);
    cr_assert_eq(cp_store_users_count(store, true), 0);
    const char *jids[] = {"d@example.com", "b@example.com", "a@example.com", "c@example.com"};
    cr_assert_eq(cp_store_users_enable_batch(store, jids, NULL, 4), 0);
    cr_assert_eq(cp_store_user_disable(store, "b@example.com"), 0);
    cr_assert_eq(cp_store_user_settings(store, "e@example.com", CP_USER_TENTATIVE_FREE, false), 0);
    struct walk w;
    memset(&w, 0, sizeof(w));
    cr_assert_eq(cp_store_enabled_users_each(store, collect_user, &w), 0);
    cr_assert_str_eq(w.jids, "a@example.com,c@example.com,d@example.com");
    memset(&w, 0, sizeof(w));
    w.stop_after = 2;
    cr_assert_eq(cp_store_enabled_users_each(store, collect_user, &w), 42);
    cr_assert_eq(cp_store_users_count(store, false), 5);
    cr_assert_eq(cp_store_users_count(store, true), 3);
    cr_assert_eq(cp_store_users_count(NULL, true), CP_EINVAL);
    cp_store_close(store);
}

/* --- subscribers --- */

struct pairs {
    char text[512];
    int calls;
    int stop_after;
};

static int
collect_pair(const char *user_jid, const char *subscriber, void *ud)
{
    struct pairs *p = ud;
    size_t len = strlen(p->text);
    snprintf(p->text + len, sizeof(p->text) - len, "%s%s>%s", len ? "," : "", subscriber, user_jid);
    p->calls++;
    return p->stop_after && p->calls == p->stop_after ? 7 : 0;
}

Test(store, subscribers)
{
    struct cp_store *store = open_ok();
    cr_assert_eq(cp_store_subscribers_count(store, NULL), 0);
    /* The calendar's user need not be known or enabled. */
    cr_assert_eq(cp_store_subscriber_add(store, "alice@example.com", "bob@example.com"), 0);
    cr_assert_eq(cp_store_subscriber_add(store, "alice@example.com", "bob@example.com"), 0);
    cr_assert_eq(cp_store_subscriber_add(store, "alice@example.com", "amy@example.com"), 0);
    cr_assert_eq(cp_store_subscriber_add(store, "carol@example.com", "bob@example.com"), 0);
    cr_assert_eq(cp_store_subscribers_count(store, "alice@example.com"), 2);
    cr_assert_eq(cp_store_subscribers_count(store, "carol@example.com"), 1);
    cr_assert_eq(cp_store_subscribers_count(store, "nobody@example.com"), 0);
    cr_assert_eq(cp_store_subscribers_count(store, NULL), 3);
    cr_assert_eq(cp_store_subscriptions_of(store, "bob@example.com"), 2);
    cr_assert_eq(cp_store_subscriptions_of(store, "amy@example.com"), 1);
    cr_assert_eq(cp_store_subscriptions_of(store, "nobody@example.com"), 0);
    cr_assert_eq(cp_store_subscriptions_of(store, NULL), CP_EINVAL);

    struct pairs p = {0};
    cr_assert_eq(cp_store_subscribers_each(store, "alice@example.com", collect_pair, &p), 0);
    cr_assert_str_eq(p.text, "amy@example.com>alice@example.com,bob@example.com>alice@example.com");
    memset(&p, 0, sizeof(p));
    cr_assert_eq(cp_store_subscribers_each(store, NULL, collect_pair, &p), 0);
    cr_assert_str_eq(p.text, "amy@example.com>alice@example.com,bob@example.com>alice@example.com,"
                             "bob@example.com>carol@example.com");
    memset(&p, 0, sizeof(p));
    p.stop_after = 2;
    cr_assert_eq(cp_store_subscribers_each(store, NULL, collect_pair, &p), 7);
    cr_assert_eq(p.calls, 2);

    cr_assert_eq(cp_store_subscriber_remove(store, "alice@example.com", "bob@example.com"), 0);
    cr_assert_eq(cp_store_subscriber_remove(store, "alice@example.com", "bob@example.com"), 0);
    cr_assert_eq(cp_store_subscribers_count(store, "alice@example.com"), 1);
    cr_assert_eq(cp_store_subscribers_count(store, "carol@example.com"), 1);
    cr_assert_eq(cp_store_subscriber_add(store, NULL, "bob@example.com"), CP_EINVAL);
    cr_assert_eq(cp_store_subscriber_remove(store, "alice@example.com", NULL), CP_EINVAL);
    cr_assert_eq(cp_store_subscribers_each(store, NULL, NULL, NULL), CP_EINVAL);
    cr_assert_eq(cp_store_subscriber_add(store, "alice@example.com", ""), CP_EIO);
    cr_assert(strstr(logged(), "store: alice@example.com: cannot add a subscriber (CHECK "
                               "constraint failed"),
              "%s", logged());
    cp_store_close(store);
}

/* --- Exchange subscriptions --- */

Test(store, ews_subscription)
{
    struct cp_store *store = open_ok();
    struct cp_ews_sub got = {0};
    cr_assert_eq(cp_store_ews_sub_get(store, "alice@example.com", &got), CP_ENOTFOUND);
    struct cp_ews_sub sub = {.id = "AAAsub1",
                             .server = "https://cas1.example.com/EWS/Exchange.asmx"};
    /* The row hangs off a user. */
    cr_assert_eq(cp_store_ews_sub_set(store, "alice@example.com", &sub), CP_ENOTFOUND);
    cr_assert(strstr(logged(), "store: alice@example.com: cannot save the Exchange subscription "
                               "(no such user)"),
              "%s", logged());
    cr_assert_eq(cp_store_user_enable(store, "alice@example.com", NULL), 0);

    int64_t t0 = (int64_t)time(NULL);
    cr_assert_eq(cp_store_ews_sub_set(store, "alice@example.com", &sub), 0);
    cr_assert_eq(cp_store_ews_sub_get(store, "alice@example.com", &got), 0);
    cr_assert_str_eq(got.id, "AAAsub1");
    cr_assert_str_eq(got.server, "https://cas1.example.com/EWS/Exchange.asmx");
    cr_assert_null(got.watermark);
    cr_assert_geq(got.updated, t0);
    cp_ews_sub_clear(&got);
    cr_assert_null(got.id);
    cp_ews_sub_clear(&got);
    cp_ews_sub_clear(NULL);

    struct cp_ews_sub next = {
        .id = "AAAsub2", .server = "https://cas2/EWS/Exchange.asmx", .watermark = "AQAAAA=="};
    cr_assert_eq(cp_store_ews_sub_set(store, "alice@example.com", &next), 0);
    cr_assert_eq(cp_store_ews_sub_get(store, "alice@example.com", &got), 0);
    cr_assert_str_eq(got.id, "AAAsub2");
    cr_assert_str_eq(got.server, "https://cas2/EWS/Exchange.asmx");
    cr_assert_str_eq(got.watermark, "AQAAAA==");
    cp_ews_sub_clear(&got);

    /* Disabling keeps it (the engine unsubscribes first); clearing removes it. */
    cr_assert_eq(cp_store_user_disable(store, "alice@example.com"), 0);
    cr_assert_eq(cp_store_ews_sub_get(store, "alice@example.com", &got), 0);
    cp_ews_sub_clear(&got);
    cr_assert_eq(cp_store_ews_sub_clear(store, "alice@example.com"), 0);
    cr_assert_eq(cp_store_ews_sub_get(store, "alice@example.com", &got), CP_ENOTFOUND);
    cr_assert_eq(cp_store_ews_sub_clear(store, "alice@example.com"), 0);

    struct cp_ews_sub bad = {.id = NULL, .server = "https://cas1/"};
    cr_assert_eq(cp_store_ews_sub_set(store, "alice@example.com", &bad), CP_EINVAL);
    cr_assert_eq(cp_store_ews_sub_get(store, NULL, &got), CP_EINVAL);
    cr_assert_eq(cp_store_ews_sub_clear(store, NULL), CP_EINVAL);
    cp_store_close(store);
}

Test(store, everything_survives_reopen)
{
    struct cp_store *store = open_ok();
    cr_assert_eq(cp_store_user_enable(store, "alice@example.com", "alice@corp.example"), 0);
    cr_assert_eq(cp_store_user_settings(store, "alice@example.com", CP_USER_TENTATIVE_FREE, true),
                 0);
    cr_assert_eq(cp_store_subscriber_add(store, "alice@example.com", "bob@example.com"), 0);
    struct cp_ews_sub sub = {.id = "S", .server = "https://cas1/", .watermark = "W"};
    cr_assert_eq(cp_store_ews_sub_set(store, "alice@example.com", &sub), 0);
    cp_store_close(store);

    store = open_ok();
    struct cp_user user;
    cr_assert_eq(cp_store_user_get(store, "alice@example.com", &user), 0);
    cr_assert(user.enabled);
    cr_assert_str_eq(user.mailbox, "alice@corp.example");
    cr_assert_eq(user.tentative, CP_USER_TENTATIVE_FREE);
    cr_assert(user.include_subject);
    cp_user_clear(&user);
    cr_assert_eq(cp_store_subscribers_count(store, "alice@example.com"), 1);
    struct cp_ews_sub got;
    cr_assert_eq(cp_store_ews_sub_get(store, "alice@example.com", &got), 0);
    cr_assert_str_eq(got.watermark, "W");
    cp_ews_sub_clear(&got);
    cp_store_close(store);
}

/* --- failures at run time --- */

Test(store, busy_database_fails_logged_and_recovers, .timeout = 120)
{
    struct cp_store *store = open_ok();
    sqlite3 *other = NULL;
    cr_assert_eq(sqlite3_open(path, &other), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

    /* Waits out the busy timeout, then fails without harm. */
    cr_assert_eq(cp_store_user_enable(store, "alice@example.com", NULL), CP_EIO);
    cr_assert(strstr(logged(), "store: alice@example.com: cannot enable the user (database is "
                               "locked)"),
              "%s", logged());
    const char *jids[] = {"a@example.com", "b@example.com"};
    cr_assert_eq(cp_store_users_enable_batch(store, jids, NULL, 2), CP_EIO);
    cr_assert(strstr(logged(), "store: a@example.com: cannot begin a transaction (database is "
                               "locked)"),
              "%s", logged());

    cr_assert_eq(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    cr_assert_eq(cp_store_users_enable_batch(store, jids, NULL, 2), 0);
    cr_assert_eq(cp_store_user_enable(store, "alice@example.com", NULL), 0);
    cr_assert_eq(cp_store_users_count(store, true), 3);
    cp_store_close(store);
}

/* --- crash safety: a child killed by SIGKILL --- */

enum crash_point {
    KILL_IN_BATCH_COMMIT, /* the batch's rows are written, its COMMIT has not happened */
    KILL_IN_SINGLE_WRITE, /* same for a one-row write */
    KILL_AFTER_COMMIT,    /* right after a batch and a one-row write returned 0 */
};

#define CRASH_BATCH 5000

static int crash_fd = -1;
static char crash_wal[160];
static off_t crash_wal_before;

static off_t
wal_size(void)
{
    struct stat st;
    return stat(crash_wal, &st) == 0 ? st.st_size : -1;
}

/* Tells the parent where the child is, with the WAL sizes before the last write and now,
 * and waits to be killed by it. */
static void
report_and_hang(void)
{
    off_t sizes[2] = {crash_wal_before, wal_size()};
    if (write(crash_fd, sizes, sizeof(sizes)) != (ssize_t)sizeof(sizes))
        _exit(4);
    for (;;)
        pause();
}

/* The commit hook runs before SQLite writes the commit record: the transaction's rows are
 * written (some spilled into the WAL) but not committed. */
static int
hang_in_commit(void *ud)
{
    (void)ud;
    report_and_hang();
    return 0;
}

/* The committed part every scenario leaves behind. */
static void
commit_baseline(struct cp_store *store)
{
    const char *jids[] = {"a@example.com", "b@example.com", "c@example.com"};
    const char *mailboxes[] = {"a@corp.example", NULL, "c@corp.example"};
    if (cp_store_users_enable_batch(store, jids, mailboxes, 3) != 0 ||
        cp_store_user_enable(store, "solo@example.com", "solo@corp.example") != 0 ||
        cp_store_user_settings(store, "solo@example.com", CP_USER_TENTATIVE_BUSY, true) != 0 ||
        cp_store_subscriber_add(store, "solo@example.com", "w@example.com") != 0)
        _exit(2);
    struct cp_ews_sub sub = {.id = "SUB", .server = "https://cas1/", .watermark = "W1"};
    if (cp_store_ews_sub_set(store, "solo@example.com", &sub) != 0)
        _exit(2);
}

static void
crash_child(enum crash_point point, int fd)
{
    struct cp_store *store = NULL;
    if (cp_store_open(path, &store) != 0)
        _exit(1);
    commit_baseline(store);
    char **jids, **mailboxes;
    make_batch(CRASH_BATCH, &jids, &mailboxes);
    /* A tiny page cache makes the uncommitted batch spill into the WAL before its commit, so
     * that recovery has uncommitted frames to ignore. */
    if (sqlite3_exec(store->db, "PRAGMA cache_size = 8", NULL, NULL, NULL) != SQLITE_OK)
        _exit(1);
    crash_fd = fd;
    crash_wal_before = wal_size();
    if (point != KILL_AFTER_COMMIT)
        sqlite3_commit_hook(store->db, hang_in_commit, NULL);
    if (point == KILL_IN_SINGLE_WRITE) {
        cp_store_user_disable(store, "solo@example.com");
        _exit(3);
    }
    int rc = cp_store_users_enable_batch(store, (const char *const *)jids,
                                         (const char *const *)mailboxes, CRASH_BATCH);
    if (point == KILL_IN_BATCH_COMMIT || rc != 0)
        _exit(3);
    if (cp_store_user_disable(store, "solo@example.com") != 0)
        _exit(3);
    report_and_hang();
}

static void
run_crash(enum crash_point point)
{
    snprintf(crash_wal, sizeof(crash_wal), "%s-wal", path);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        crash_child(point, fds[1]);
    }
    close(fds[1]);
    struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
    int ready = poll(&pfd, 1, 300 * 1000);
    off_t sizes[2] = {-1, -1};
    ssize_t got = ready == 1 ? read(fds[0], sizes, sizeof(sizes)) : -1;
    close(fds[0]);
    kill(pid, SIGKILL);
    cr_assert_eq(got, (ssize_t)sizeof(sizes), "child never reached its kill point");
    /* The batch's pages reached the WAL, uncommitted or committed. */
    if (point != KILL_IN_SINGLE_WRITE)
        cr_assert_gt(sizes[1], sizes[0], "WAL did not grow (%lld, %lld)", (long long)sizes[0],
                     (long long)sizes[1]);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %#x", status);
}

static void
assert_baseline(struct cp_store *store, bool solo_enabled)
{
    assert_user(store, "a@example.com", true, "a@corp.example");
    assert_user(store, "b@example.com", true, NULL);
    assert_user(store, "c@example.com", true, "c@corp.example");
    struct cp_user user;
    cr_assert_eq(cp_store_user_get(store, "solo@example.com", &user), 0);
    cr_assert_eq(user.enabled, solo_enabled);
    cr_assert_str_eq(user.mailbox, "solo@corp.example");
    cr_assert_eq(user.tentative, CP_USER_TENTATIVE_BUSY);
    cr_assert(user.include_subject);
    cp_user_clear(&user);
    cr_assert_eq(cp_store_subscribers_count(store, "solo@example.com"), 1);
    struct cp_ews_sub sub;
    cr_assert_eq(cp_store_ews_sub_get(store, "solo@example.com", &sub), 0);
    cr_assert_str_eq(sub.watermark, "W1");
    cp_ews_sub_clear(&sub);
}

Test(store, kill_during_batch_commit_loses_only_the_batch, .timeout = 600)
{
    run_crash(KILL_IN_BATCH_COMMIT);
    struct cp_store *store = open_ok();
    assert_baseline(store, true);
    cr_assert_eq(cp_store_users_count(store, false), 4);
    struct cp_user user;
    cr_assert_eq(cp_store_user_get(store, "user00000@example.com", &user), CP_ENOTFOUND);
    cr_assert_eq(cp_store_user_get(store, "user04999@example.com", &user), CP_ENOTFOUND);
    /* No lock or broken WAL is left behind. */
    cr_assert_eq(cp_store_user_enable(store, "after@example.com", NULL), 0);
    cp_store_close(store);
}

Test(store, kill_during_single_write_loses_only_that_write, .timeout = 600)
{
    run_crash(KILL_IN_SINGLE_WRITE);
    struct cp_store *store = open_ok();
    assert_baseline(store, true);
    cr_assert_eq(cp_store_users_count(store, false), 4);
    cp_store_close(store);
}

Test(store, kill_right_after_commit_keeps_everything, .timeout = 600)
{
    run_crash(KILL_AFTER_COMMIT);
    struct cp_store *store = open_ok();
    assert_baseline(store, false);
    cr_assert_eq(cp_store_users_count(store, false), 4 + CRASH_BATCH);
    cr_assert_eq(cp_store_users_count(store, true), 3 + CRASH_BATCH);
    assert_user(store, "user00000@example.com", true, "u0@corp.example");
    assert_user(store, "user04999@example.com", true, NULL);
    cp_store_close(store);
}

static int
collect_jid(const struct cp_user *user, void *ud)
{
    char *last = ud;
    snprintf(last, 64, "%s", user->jid);
    return 0;
}

/* Pages of users_each_after join up to the whole list, none twice, none missed. */
Test(store, users_each_after_walks_in_pages)
{
    struct cp_store *s;
    cr_assert_eq(cp_store_open(path, &s), 0);
    const char *jids[] = {"a@x", "b@x", "c@x", "d@x", "e@x"};
    cr_assert_eq(cp_store_users_enable_batch(s, jids, NULL, 5), 0);
    char last[64] = "";
    cr_assert_eq(cp_store_users_each_after(s, NULL, NULL, 2, collect_jid, last), 0);
    cr_assert_str_eq(last, "b@x");
    cr_assert_eq(cp_store_users_each_after(s, NULL, last, 2, collect_jid, last), 0);
    cr_assert_str_eq(last, "d@x");
    cr_assert_eq(cp_store_users_each_after(s, "e", last, 2, collect_jid, last), 0);
    cr_assert_str_eq(last, "e@x");
    cp_store_close(s);
}

/* The online backup, stepped one page at a time, is a complete database at PATH (mode 0600)
 * holding a write made between two steps; an existing PATH.tmp is refused. */
Test(store, backup_in_steps)
{
    struct cp_store *s, *copy;
    struct cp_store_backup *b;
    char dest[160], tmp[170], why[256];
    struct stat st;
    cr_assert_eq(cp_store_open(path, &s), 0);
    for (int i = 0; i < 2000; i++) {
        char jid[32];
        snprintf(jid, sizeof(jid), "user%04d@x", i);
        cr_assert_eq(cp_store_user_enable(s, jid, NULL), 0);
    }
    snprintf(dest, sizeof(dest), "%s/copy.db", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", dest);
    cr_assert_eq(cp_store_backup_begin(s, dest, &b, why, sizeof(why)), 0, "%s", why);
    int rc, done = 0, total = 0, steps = 0;
    while ((rc = cp_store_backup_step(b, 1, &done, &total, why, sizeof(why))) == 1) {
        if (++steps == 2)
            cr_assert_eq(cp_store_user_enable(s, "late@x", NULL), 0);
    }
    cr_assert_eq(rc, 0, "%s", why);
    cr_assert_gt(steps, 2, "one page a step: a database of 2000 users takes several");
    cr_assert_eq(done, total);
    cp_store_backup_free(b);
    cr_assert_eq(stat(dest, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_neq(access(tmp, F_OK), 0);
    cr_assert_eq(cp_store_open(dest, &copy), 0);
    cr_assert_eq(cp_store_users_count(copy, true), 2001);
    cp_store_close(copy);
    int fd = open(tmp, O_CREAT | O_WRONLY, 0600);
    close(fd);
    cr_assert_eq(cp_store_backup_begin(s, dest, &b, why, sizeof(why)), CP_EIO);
    cr_assert_not_null(strstr(why, "copy.db.tmp"), "%s", why);
    unlink(tmp);
    unlink(dest);
    char side[180];
    snprintf(side, sizeof(side), "%s-wal", dest);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", dest);
    unlink(side);
    cp_store_close(s);
}

/* ---- roster provisioning queue (XEP-0356) ---- */

struct jobs_seen {
    char text[512];
};

static int
collect_job(const char *user_jid, const char *contact, enum cp_roster_op op, void *ud)
{
    struct jobs_seen *s = ud;
    size_t used = strlen(s->text);
    snprintf(s->text + used, sizeof(s->text) - used, "%s%s|%s|%d", used ? " " : "", user_jid,
             contact, (int)op);
    return 0;
}

static const char *
jobs(struct cp_store *st, int64_t now, struct jobs_seen *s)
{
    s->text[0] = '\0';
    cr_assert_eq(cp_store_roster_jobs_each(st, now, 100, collect_job, s), 0);
    return s->text;
}

/* A restart finds the queue as it was left: that is what resumes a half-done users-enable. */
Test(store, roster_jobs_survive_reopen_in_order)
{
    struct cp_store *st = open_ok();
    struct jobs_seen s;
    cr_assert_eq(cp_store_roster_job_put(st, "alice@localhost", "", CP_ROSTER_PROVISION), 0);
    cr_assert_eq(cp_store_roster_job_put(st, "bob@localhost", "carol@localhost", CP_ROSTER_ADD), 0);
    cr_assert_eq(cp_store_roster_job_put(st, "bob@localhost", "dave@localhost", CP_ROSTER_ADD), 0);
    cp_store_close(st);
    st = open_ok();
    cr_assert_str_eq(jobs(st, 0, &s), "alice@localhost||0 bob@localhost|carol@localhost|1 "
                                      "bob@localhost|dave@localhost|1");
    cr_assert_eq(cp_store_roster_jobs_count(st), 3);
    /* a later operation on the same pair replaces the earlier and keeps its place */
    cr_assert_eq(cp_store_roster_job_put(st, "bob@localhost", "carol@localhost", CP_ROSTER_REMOVE),
                 0);
    cr_assert_eq(cp_store_roster_job_done(st, "bob@localhost", "carol@localhost", CP_ROSTER_ADD),
                 CP_ENOTFOUND);
    /* a deferred job is not due before its time */
    cr_assert_eq(cp_store_roster_job_defer(st, "alice@localhost", "", 1000), 0);
    cr_assert_str_eq(jobs(st, 999, &s), "bob@localhost|carol@localhost|2 "
                                        "bob@localhost|dave@localhost|1");
    cr_assert_eq(cp_store_roster_job_done(st, "alice@localhost", "", CP_ROSTER_PROVISION), 0);
    cr_assert_eq(cp_store_roster_jobs_count(st), 2);
    cp_store_close(st);
}

/* Disable: queued work is dropped, roster items get a remove, subscription requests and the
 * "roster read" mark are forgotten, so a later enable provisions anew. */
Test(store, roster_unprovision)
{
    struct cp_store *st = open_ok();
    struct jobs_seen s;
    cr_assert_eq(cp_store_roster_item_set(st, "alice@localhost", "", CP_ROSTER_READ), 0);
    cr_assert_eq(cp_store_roster_item_set(st, "alice@localhost", "bob@localhost", CP_ROSTER_ITEM),
                 0);
    cr_assert_eq(
        cp_store_roster_item_set(st, "alice@localhost", "carol@localhost", CP_ROSTER_SUBSCRIBE), 0);
    cr_assert_eq(cp_store_roster_job_put(st, "alice@localhost", "dave@localhost", CP_ROSTER_ADD),
                 0);
    cr_assert(cp_store_roster_user_known(st, "alice@localhost"));
    cr_assert_eq(cp_store_roster_unprovision(st, "alice@localhost"), 1);
    cr_assert_str_eq(jobs(st, 0, &s), "alice@localhost|bob@localhost|2");
    cr_assert_not(cp_store_roster_user_known(st, "alice@localhost"),
                  "a pending remove must not stop a new enable");
    cr_assert_eq(cp_store_roster_unprovision(st, "nobody@localhost"), 0);
    cp_store_close(st);
}

/* The privileged-mode options: stored per user, NULL for the admin's default, counted for the
 * enabled users who turned one on. */
Test(store, privileged_options_round_trip_and_count)
{
    struct cp_store *store = open_ok();
    struct cp_user u;
    struct cp_user_privopts on = {CP_USER_OPT_ON, CP_USER_OPT_OFF, CP_USER_OPT_DEFAULT};

    cr_assert_eq(cp_store_users_privopts_count(store), 0);
    cr_assert_eq(cp_store_user_enable(store, "alice@example.com", NULL), 0);
    cr_assert_eq(cp_store_user_privopts(store, "alice@example.com", &on), 0);
    /* a row that does not exist yet is created disabled: not counted */
    cr_assert_eq(cp_store_user_privopts(store, "bob@example.com", &on), 0);
    cr_assert_eq(cp_store_users_privopts_count(store), 1);
    cr_assert_eq(cp_store_user_get(store, "alice@example.com", &u), 0);
    cr_assert(u.enabled);
    cr_assert_eq(u.priv.only_while_online, CP_USER_OPT_ON);
    cr_assert_eq(u.priv.respect_own_status, CP_USER_OPT_OFF);
    cr_assert_eq(u.priv.pep_activity, CP_USER_OPT_DEFAULT);
    cp_user_clear(&u);
    cr_assert_eq(cp_store_user_get(store, "bob@example.com", &u), 0);
    cr_assert_not(u.enabled);
    cp_user_clear(&u);
    struct cp_user_privopts dflt = {CP_USER_OPT_DEFAULT, CP_USER_OPT_DEFAULT, CP_USER_OPT_ON};
    cr_assert_eq(cp_store_user_privopts(store, "alice@example.com", &dflt), 0);
    cr_assert_eq(cp_store_users_privopts_count(store), 0);
    cr_assert_eq(cp_store_user_get(store, "alice@example.com", &u), 0);
    cr_assert_eq(u.priv.only_while_online, CP_USER_OPT_DEFAULT);
    cr_assert_eq(u.priv.pep_activity, CP_USER_OPT_ON);
    cp_user_clear(&u);
    struct cp_user_privopts bad = {(enum cp_user_opt)5, CP_USER_OPT_OFF, CP_USER_OPT_OFF};
    cr_assert_eq(cp_store_user_privopts(store, "alice@example.com", &bad), CP_EINVAL);
    cp_store_close(store);
}

static int
collect_item(const char *contact, enum cp_roster_method method, void *ud)
{
    struct jobs_seen *s = ud;
    size_t used = strlen(s->text);
    snprintf(s->text + used, sizeof(s->text) - used, "%s%s|%d", used ? " " : "", contact,
             (int)method);
    return 0;
}

/* The periodic roster check: enabled users whose roster was read get a re-read, spread over the
 * interval; a user with provisioning still queued, a disabled one, or one never read do not. */
Test(store, roster_recheck_spreads_rereads)
{
    struct cp_store *st = open_ok();
    struct jobs_seen s = {{0}};
    const char *users[] = {"alice@localhost", "bob@localhost", "carol@localhost", "dave@localhost",
                           "eve@localhost"};
    for (size_t i = 0; i < 5; i++)
        cr_assert_eq(cp_store_user_enable(st, users[i], NULL), 0);
    cr_assert_eq(cp_store_user_disable(st, "dave@localhost"), 0);
    for (size_t i = 0; i < 4; i++) /* eve's roster was never read */
        cr_assert_eq(cp_store_roster_item_set(st, users[i], "", CP_ROSTER_READ), 0);
    cr_assert_eq(cp_store_roster_item_set(st, "alice@localhost", "zoe@localhost", CP_ROSTER_ITEM),
                 0);
    cr_assert_eq(cp_store_roster_job_put(st, "carol@localhost", "", CP_ROSTER_PROVISION), 0);
    cr_assert_eq(cp_store_roster_job_defer(st, "carol@localhost", "", 5000), 0);
    cr_assert_eq(cp_store_roster_recheck(st, 1000, 100), 2);
    cr_assert_str_eq(jobs(st, 1000, &s), "alice@localhost||0");
    cr_assert_str_eq(jobs(st, 1050, &s), "alice@localhost||0 bob@localhost||0");
    cr_assert_eq(cp_store_roster_recheck(st, 1000, 100), 0,
                 "re-reads still queued stay as they are");
    cr_assert_str_eq(jobs(st, 4999, &s), "alice@localhost||0 bob@localhost||0");
    s.text[0] = '\0';
    cr_assert_eq(cp_store_roster_items_each(st, "alice@localhost", collect_item, &s), 0);
    cr_assert_str_eq(s.text, "|0 zoe@localhost|1");
    cp_store_close(st);
}
