/* Benchmark of the user store: enabling users in batches (the `users-enable` admin command
 * takes up to 10,000 lines at once), looking users up one by one, walking all subscribers
 * (what a reconnect does), and the cost of one durable single-row write. Prints figures; it
 * never fails on time. The database lives in a temporary directory under $CP_BUILD_ROOT (or
 * /tmp), on a real file system, since fsync is part of what is measured. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config/error.h"
#include "config/log.h"
#include "store/store.h"

#define BATCH 10000
#define LOOKUPS 100000
#define SUBSCRIBERS_PER_USER 3
#define SINGLE_WRITES 500

static char dir[4096];
static char path[4200];

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
    fprintf(stderr, "bench_store: %s\n", what);
    exit(1);
}

static void
remove_db(void)
{
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char file[4300];
        snprintf(file, sizeof(file), "%s%s", path, suffixes[i]);
        unlink(file);
    }
}

static struct cp_store *
fresh_store(void)
{
    remove_db();
    struct cp_store *store = NULL;
    if (cp_store_open(path, &store) != 0)
        die("cannot open the store");
    return store;
}

/* JIDS[i] = "userI@example.com", MAILBOXES[i] for every other user. Ownership: the caller
 * frees with free_users. */
static void
make_users(size_t n, char ***jids, char ***mailboxes)
{
    *jids = calloc(n, sizeof(char *));
    *mailboxes = calloc(n, sizeof(char *));
    if (!*jids || !*mailboxes)
        die("out of memory");
    for (size_t i = 0; i < n; i++) {
        if (asprintf(&(*jids)[i], "user%06zu@example.com", i) < 0 ||
            (i % 2 == 0 && asprintf(&(*mailboxes)[i], "u%zu@corp.example", i) < 0))
            die("out of memory");
    }
}

static void
free_users(size_t n, char **jids, char **mailboxes)
{
    for (size_t i = 0; i < n; i++) {
        free(jids[i]);
        free(mailboxes[i]);
    }
    free(jids);
    free(mailboxes);
}

/* Enables N users in batches of BATCH; returns the seconds taken. */
static double
enable_in_batches(struct cp_store *store, char **jids, char **mailboxes, size_t n)
{
    double t0 = now_s();
    for (size_t off = 0; off < n; off += BATCH) {
        size_t len = n - off < BATCH ? n - off : BATCH;
        if (cp_store_users_enable_batch(store, (const char *const *)jids + off,
                                        (const char *const *)mailboxes + off, len) != 0)
            die("batch failed");
    }
    return now_s() - t0;
}

static void
bench_enable(char **jids, char **mailboxes)
{
    struct cp_store *store = fresh_store();
    double t = enable_in_batches(store, jids, mailboxes, 10000);
    printf("enable 10,000 new users, 1 batch:               %8.3f s  (%.1f us/user)\n", t,
           t * 1e6 / 10000);
    t = enable_in_batches(store, jids, mailboxes, 10000);
    printf("re-enable the same 10,000 (update path):        %8.3f s\n", t);
    cp_store_close(store);

    store = fresh_store();
    t = enable_in_batches(store, jids, mailboxes, LOOKUPS);
    printf("enable 100,000 new users, 10 batches of 10,000: %8.3f s  (%.1f us/user)\n", t,
           t * 1e6 / LOOKUPS);
    if (cp_store_users_count(store, true) != LOOKUPS)
        die("wrong count after enabling");
    cp_store_close(store);
}

/* Looks the LOOKUPS users up in a scattered order (a stride prime to LOOKUPS). */
static void
bench_lookup(struct cp_store *store, char **jids)
{
    double t0 = now_s();
    size_t found = 0;
    for (size_t i = 0, k = 0; i < LOOKUPS; i++, k = (k + 7919) % LOOKUPS) {
        struct cp_user user;
        if (cp_store_user_get(store, jids[k], &user) == 0) {
            found++;
            cp_user_clear(&user);
        }
    }
    double t = now_s() - t0;
    if (found != LOOKUPS)
        die("lookups missed users");
    printf("look up 100,000 users one by one:               %8.3f s  (%.1f us/lookup)\n", t,
           t * 1e6 / LOOKUPS);
}

/* Loads SUBSCRIBERS_PER_USER subscribers for each user through a connection of its own in one
 * transaction: set-up only; one committed transaction per subscribe is measured apart. */
static void
load_subscribers(void)
{
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        die("cannot open for loading");
    char sql[512];
    snprintf(sql, sizeof(sql),
             "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < %d), "
             "k(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM k WHERE j + 1 < %d) "
             "INSERT INTO subscribers SELECT printf('user%%06d@example.com', i), "
             "printf('watcher%%d-%%d@example.com', j, i %% 5000), 0 FROM n, k",
             LOOKUPS, SUBSCRIBERS_PER_USER);
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        die(sqlite3_errmsg(db));
    sqlite3_close(db);
}

static int
count_pair(const char *user_jid, const char *subscriber, void *ud)
{
    (void)user_jid;
    (void)subscriber;
    (*(size_t *)ud)++;
    return 0;
}

static void
bench_subscribers(struct cp_store *store, char **jids)
{
    load_subscribers();
    size_t pairs = 0;
    double t0 = now_s();
    if (cp_store_subscribers_each(store, NULL, count_pair, &pairs) != 0)
        die("walk failed");
    double t = now_s() - t0;
    printf("walk all %zu subscribers (one call):        %8.3f s  (%.2f us/subscriber)\n", pairs, t,
           t * 1e6 / (double)pairs);

    pairs = 0;
    t0 = now_s();
    for (size_t i = 0; i < LOOKUPS; i++)
        if (cp_store_subscribers_each(store, jids[i], count_pair, &pairs) != 0)
            die("walk failed");
    t = now_s() - t0;
    printf("walk subscribers user by user (100,000 calls):  %8.3f s  (%zu subscribers)\n", t,
           pairs);
}

static void
bench_single_writes(struct cp_store *store)
{
    double t0 = now_s();
    for (int i = 0; i < SINGLE_WRITES; i++) {
        char subscriber[64];
        snprintf(subscriber, sizeof(subscriber), "new%d@example.com", i);
        if (cp_store_subscriber_add(store, "user000001@example.com", subscriber) != 0)
            die("subscriber_add failed");
    }
    double t = now_s() - t0;
    printf("subscriber_add, one durable commit each (x%d): %8.3f s  (%.2f ms/commit)\n",
           SINGLE_WRITES, t, t * 1e3 / SINGLE_WRITES);
}

static int
count_user(const struct cp_user *user, void *ud)
{
    (void)user;
    (*(size_t *)ud)++;
    return 0;
}

static void
bench_walks(struct cp_store *store)
{
    size_t n = 0;
    double t0 = now_s();
    if (cp_store_enabled_users_each(store, count_user, &n) != 0)
        die("walk failed");
    printf("walk all %zu enabled users:                 %8.3f s\n", n, now_s() - t0);
    n = 0;
    t0 = now_s();
    if (cp_store_users_each(store, "r09999", 0, count_user, &n) != 0)
        die("filter failed");
    printf("users_each filter over 100,000 users (%zu hit):  %8.3f s\n", n, now_s() - t0);
}

int
main(void)
{
    const char *root = getenv("CP_BUILD_ROOT");
    snprintf(dir, sizeof(dir), "%s/bench_store.XXXXXX", root && *root ? root : "/tmp");
    if (!mkdtemp(dir))
        die("cannot create a temporary directory");
    snprintf(path, sizeof(path), "%s/store.db", dir);
    setvbuf(stdout, NULL, _IOLBF, 0);
    cp_log_set_level(CP_LOG_WARN);
    printf("bench_store: SQLite %s, database in %s\n", sqlite3_libversion(), dir);

    char **jids, **mailboxes;
    make_users(LOOKUPS, &jids, &mailboxes);
    bench_enable(jids, mailboxes);

    struct cp_store *store = NULL;
    if (cp_store_open(path, &store) != 0)
        die("cannot reopen the store");
    bench_lookup(store, jids);
    bench_walks(store);
    bench_subscribers(store, jids);
    bench_single_writes(store);
    cp_store_close(store);

    free_users(LOOKUPS, jids, mailboxes);
    remove_db();
    rmdir(dir);
    return 0;
}
