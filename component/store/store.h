/* Room store/: the SQLite user store (users, subscribers, Exchange subscriptions).
 * May include: config/ and SQLite; nothing of XMPP or EWS. */

/* The user store: SQLite in WAL mode, schema versioned with migrations.
 *
 * Tables: users (JID, mailbox, enabled, settings, created/updated), subscribers of each
 * calendar JID (keyed by the owning user's bare JID), and each user's Exchange subscription
 * state (id, server, watermark), so that a restart neither leaks subscriptions nor forgets them.
 * Every write is one transaction: committed means durable (synchronous=FULL), kill -9 safe.
 * All calls are synchronous and short (indexed single-row work); users_enable_batch runs
 * its N rows in one transaction. */
#ifndef CP_STORE_H
#define CP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cp_store;

/* Per-user tentative preference: follow `[calendar] tentative`, or override it. */
enum cp_user_tentative {
    CP_USER_TENTATIVE_DEFAULT,
    CP_USER_TENTATIVE_FREE,
    CP_USER_TENTATIVE_BUSY
};

/* A per-user yes/no that may follow the admin's default instead. */
enum cp_user_opt { CP_USER_OPT_DEFAULT = -1, CP_USER_OPT_OFF = 0, CP_USER_OPT_ON = 1 };

/* The privileged-mode options of one user (XEP-0356, docs/privileges.md). */
struct cp_user_privopts {
    enum cp_user_opt only_while_online;  /* calendar presence only while the user is online */
    enum cp_user_opt respect_own_status; /* no meeting shown over the user's own dnd/away/xa */
    enum cp_user_opt pep_activity;       /* XEP-0108 activity in the user's own PEP */
};

struct cp_user {
    char *jid;     /* bare JID, owned */
    char *mailbox; /* owned; NULL means the default mailbox derived from the JID */
    bool enabled;
    enum cp_user_tentative tentative;
    bool include_subject;
    struct cp_user_privopts priv;
    int64_t created; /* unix seconds */
    int64_t updated;
};

/* The Exchange subscription a user holds. */
struct cp_ews_sub {
    char *id;        /* SubscriptionId, owned */
    char *kind;      /* "push", "streaming" or "pull", owned; NULL on set means "push" */
    char *server;    /* EWS URL of the server it lives on, owned */
    char *watermark; /* last watermark seen, owned, may be NULL */
    int64_t updated;
};

/* Opens (creating when absent) the database at PATH and runs pending migrations.
 * Returns 0 and *OUT, or a negative cp_err (reason logged). Caller closes with cp_store_close.
 * A new file is created with mode 0600; a database whose schema is newer than this program
 * is refused with CP_EINVAL. */
int cp_store_open(const char *path, struct cp_store **out);
void cp_store_close(struct cp_store *store);

/* The schema version the database is at. */
int cp_store_schema_version(struct cp_store *store);

/* Frees the strings inside USER (not USER itself). */
void cp_user_clear(struct cp_user *user);
void cp_ews_sub_clear(struct cp_ews_sub *sub);

/* Reads one user. Returns 0 and fills *OUT (caller clears), CP_ENOTFOUND, or CP_EIO. */
int cp_store_user_get(struct cp_store *store, const char *jid, struct cp_user *out);

/* Creates or updates JID as enabled. MAILBOX NULL keeps the stored mailbox (or none).
 * Returns 0 or CP_EIO. */
int cp_store_user_enable(struct cp_store *store, const char *jid, const char *mailbox);

/* Marks JID disabled (the row and its settings stay). Returns 0, CP_ENOTFOUND or CP_EIO. */
int cp_store_user_disable(struct cp_store *store, const char *jid);

/* Enables N users in one transaction; MAILBOXES may be NULL or hold NULL entries.
 * All or nothing: returns 0, or CP_EIO with nothing changed. */
int cp_store_users_enable_batch(struct cp_store *store, const char *const *jids,
                                const char *const *mailboxes, size_t n);

/* Disables N users in one transaction; unknown JIDs are skipped and counted in *MISSING. */
int cp_store_users_disable_batch(struct cp_store *store, const char *const *jids, size_t n,
                                 size_t *missing);

/* Sets the per-user settings (creating a disabled row when absent). Returns 0 or CP_EIO. */
int cp_store_user_settings(struct cp_store *store, const char *jid,
                           enum cp_user_tentative tentative, bool include_subject);

/* Sets the privileged-mode options of JID (creating a disabled row when absent).
 * Returns 0, CP_EINVAL for a value out of the enum, or CP_EIO. */
int cp_store_user_privopts(struct cp_store *store, const char *jid,
                           const struct cp_user_privopts *opts);

/* Enabled users who turned only_while_online or respect_own_status on themselves. Returns >= 0
 * or CP_EIO. */
long cp_store_users_privopts_count(struct cp_store *store);

/* Calls CB for each user whose JID or mailbox contains FILTER (NULL or "" = all), in JID
 * order, at most MAX users (0 = no limit). USER is valid only during the call.
 * A non-zero return from CB stops the walk and is returned. FILTER is literal ('%', '_' and
 * '\' match themselves) and ignores ASCII case. CB may call any store function. */
typedef int (*cp_store_user_cb)(const struct cp_user *user, void *ud);
int cp_store_users_each(struct cp_store *store, const char *filter, size_t max, cp_store_user_cb cb,
                        void *ud);

/* The same, starting after JID AFTER (NULL: from the first): a long list walked in pages, one
 * page a loop turn, by passing the last JID of the previous page. */
int cp_store_users_each_after(struct cp_store *store, const char *filter, const char *after,
                              size_t max, cp_store_user_cb cb, void *ud);

/* Calls CB for each enabled user in JID order (the engine's start-up walk; uses the
 * enabled-users index). Same callback rules as cp_store_users_each. */
int cp_store_enabled_users_each(struct cp_store *store, cp_store_user_cb cb, void *ud);

/* Counts users; ENABLED_ONLY restricts to enabled ones. Returns >= 0 or CP_EIO. */
long cp_store_users_count(struct cp_store *store, bool enabled_only);

/* Subscribers (bare JIDs) of USER_JID's calendar JID. add and remove are idempotent (0 when
 * already present / absent); USER_JID need not be a stored user. */
int cp_store_subscriber_add(struct cp_store *store, const char *user_jid, const char *subscriber);
int cp_store_subscriber_remove(struct cp_store *store, const char *user_jid,
                               const char *subscriber);
typedef int (*cp_store_subscriber_cb)(const char *user_jid, const char *subscriber, void *ud);
/* USER_JID NULL walks every subscription of every calendar JID. */
int cp_store_subscribers_each(struct cp_store *store, const char *user_jid,
                              cp_store_subscriber_cb cb, void *ud);
long cp_store_subscribers_count(struct cp_store *store, const char *user_jid);

/* How many calendar JIDs SUBSCRIBER is subscribed to. Returns >= 0 or CP_EIO. */
long cp_store_subscriptions_of(struct cp_store *store, const char *subscriber);

/* Exchange subscription state of USER_JID. get returns CP_ENOTFOUND when none is stored;
 * set returns CP_ENOTFOUND when USER_JID is not a stored user and stamps `updated` itself;
 * clear is idempotent. */
int cp_store_ews_sub_set(struct cp_store *store, const char *user_jid,
                         const struct cp_ews_sub *sub);
int cp_store_ews_sub_get(struct cp_store *store, const char *user_jid, struct cp_ews_sub *out);
int cp_store_ews_sub_clear(struct cp_store *store, const char *user_jid);

/* Calls CB for every stored Exchange subscription, in user order (the engine's restart walk);
 * SUB is valid only during the call. A non-zero return from CB stops the walk and is returned. */
typedef int (*cp_store_ews_sub_cb)(const char *user_jid, const struct cp_ews_sub *sub, void *ud);
int cp_store_ews_subs_each(struct cp_store *store, cp_store_ews_sub_cb cb, void *ud);

/* Roster provisioning (XEP-0356): the queue of roster operations still to do, and what was done
 * to whose roster. CONTACT "" stands for the user's own roster. */
enum cp_roster_op {
    CP_ROSTER_PROVISION, /* read the user's roster, then queue an add per contact */
    CP_ROSTER_ADD,       /* put the user's calendar JID into the contact's roster */
    CP_ROSTER_REMOVE,    /* take it out again */
};
enum cp_roster_method {
    CP_ROSTER_READ,      /* contact "": the user's roster was read */
    CP_ROSTER_ITEM,      /* the calendar JID is in the contact's roster */
    CP_ROSTER_SUBSCRIBE, /* the contact was sent a subscription request instead */
};

/* Queues OP for (USER_JID, CONTACT), replacing whatever was queued for that pair, due at once.
 * Returns 0 or CP_EIO. */
int cp_store_roster_job_put(struct cp_store *store, const char *user_jid, const char *contact,
                            enum cp_roster_op op);
/* Removes the job (USER_JID, CONTACT) when it is still OP. Returns 0, CP_ENOTFOUND (another op
 * replaced it, or it was cancelled, meanwhile) or CP_EIO. */
int cp_store_roster_job_done(struct cp_store *store, const char *user_jid, const char *contact,
                             enum cp_roster_op op);
/* Leaves the job (USER_JID, CONTACT) queued but not due before NOT_BEFORE (unix seconds). */
int cp_store_roster_job_defer(struct cp_store *store, const char *user_jid, const char *contact,
                              int64_t not_before);
/* Calls CB for at most MAX jobs due at NOW, oldest first; strings valid during the call only.
 * A non-zero return from CB stops the walk and is returned. CB may call the store. */
typedef int (*cp_store_roster_job_cb)(const char *user_jid, const char *contact,
                                      enum cp_roster_op op, void *ud);
int cp_store_roster_jobs_each(struct cp_store *store, int64_t now, size_t max,
                              cp_store_roster_job_cb cb, void *ud);
/* Jobs queued (due or not). Returns >= 0 or CP_EIO. */
long cp_store_roster_jobs_count(struct cp_store *store);

/* Records (replaces) or forgets what was done to CONTACT for USER_JID. Return 0 or CP_EIO. */
int cp_store_roster_item_set(struct cp_store *store, const char *user_jid, const char *contact,
                             enum cp_roster_method method);
int cp_store_roster_item_remove(struct cp_store *store, const char *user_jid, const char *contact);
/* True when USER_JID's roster was read, or is queued to be read or provisioned (a remove
 * left by a disable does not count: enabling again provisions anew). */
bool cp_store_roster_user_known(struct cp_store *store, const char *user_jid);
/* Calls CB for each contact recorded for USER_JID (CONTACT "" with CP_ROSTER_READ when the
 * user's roster was read), in contact order; strings valid during the call only. A non-zero
 * return from CB stops the walk and is returned. CB must not write roster_items. */
typedef int (*cp_store_roster_item_cb)(const char *contact, enum cp_roster_method method, void *ud);
int cp_store_roster_items_each(struct cp_store *store, const char *user_jid,
                               cp_store_roster_item_cb cb, void *ud);
/* Queues a re-read of the roster of every enabled user whose roster was read and who has no job
 * for it queued, due at times spread evenly over [NOW, NOW + SPREAD). Returns the re-reads
 * queued (>= 0) or CP_EIO. */
long cp_store_roster_recheck(struct cp_store *store, int64_t now, int64_t spread);
/* USER_JID was disabled: atomically (nesting in a batch), drops its queued jobs, queues a remove
 * for every contact whose roster holds the calendar JID, and forgets the rest. Returns the removes
 * queued (>= 0) or CP_EIO. */
long cp_store_roster_unprovision(struct cp_store *store, const char *user_jid);

/* Groups the writes made until cp_store_batch_end into one transaction, so that thousands of
 * subscription updates in a second cost one durable commit instead of one each. Nesting is not
 * supported. Returns 0 or CP_EIO. END with COMMIT false rolls back. */
int cp_store_batch_begin(struct cp_store *store);
int cp_store_batch_end(struct cp_store *store, bool commit);

/* Online backup to a new file while the daemon runs (sqlite3_backup): begin, then step until
 * it returns 0, a few pages at a time so that the loop keeps turning; writes made meanwhile
 * through STORE are carried into the copy by SQLite. The copy is written to PATH.tmp (mode
 * 0600) and renamed to PATH when complete, so PATH is never a half-written database. */
struct cp_store_backup;
/* Returns 0 and *OUT (caller frees with cp_store_backup_free), or CP_EIO with WHY. */
int cp_store_backup_begin(struct cp_store *store, const char *path, struct cp_store_backup **out,
                          char *why, size_t whylen);
/* Copies up to PAGES pages. Returns 1 while pages remain, 0 when the copy is complete and in
 * place at PATH, or CP_EIO with WHY (the temporary file is removed). *DONE_PAGES and
 * *TOTAL_PAGES (may be NULL) tell the progress. */
int cp_store_backup_step(struct cp_store_backup *b, int pages, int *done_pages, int *total_pages,
                         char *why, size_t whylen);
/* Abandons an unfinished copy (its temporary file is removed) or frees a finished one. */
void cp_store_backup_free(struct cp_store_backup *b);

#endif
