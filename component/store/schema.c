/* The store's schema as an ordered list of migrations. Entry N (1-based) takes a database from
 * user_version N-1 to N. Released entries never change: a new schema step is one entry appended
 * at the end, and cp_store_open applies it to every existing database in its own transaction. */
#include "store_int.h"

const struct cp_store_migration cp_store_migrations[] = {
    {
        "users and subscribers",
        /* WITHOUT ROWID: every lookup is by the text key, so the key is the table. */
        "CREATE TABLE users ("
        "  jid TEXT PRIMARY KEY NOT NULL CHECK (length(jid) > 0),"
        "  mailbox TEXT CHECK (mailbox IS NULL OR length(mailbox) > 0),"
        "  enabled INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),"
        "  tentative INTEGER NOT NULL DEFAULT 0 CHECK (tentative IN (0, 1, 2)),"
        "  include_subject INTEGER NOT NULL DEFAULT 0 CHECK (include_subject IN (0, 1)),"
        "  created INTEGER NOT NULL,"
        "  updated INTEGER NOT NULL"
        ") WITHOUT ROWID;"
        /* Start-up walks and counts the enabled users only; most rows may be disabled. */
        "CREATE INDEX users_enabled ON users (jid) WHERE enabled = 1;"
        /* No foreign key to users: anyone may subscribe to the calendar JID of a user who has
         * not enabled calendar presence yet. The primary key's prefix serves the lookups of
         * one user's subscribers. */
        "CREATE TABLE subscribers ("
        "  user_jid TEXT NOT NULL CHECK (length(user_jid) > 0),"
        "  subscriber TEXT NOT NULL CHECK (length(subscriber) > 0),"
        "  created INTEGER NOT NULL,"
        "  PRIMARY KEY (user_jid, subscriber)"
        ") WITHOUT ROWID;",
        NULL,
    },
    {
        "Exchange subscription state",
        "CREATE TABLE ews_subscriptions ("
        "  user_jid TEXT PRIMARY KEY NOT NULL REFERENCES users (jid) ON DELETE CASCADE,"
        "  id TEXT NOT NULL CHECK (length(id) > 0),"
        "  server TEXT NOT NULL CHECK (length(server) > 0),"
        "  watermark TEXT,"
        "  updated INTEGER NOT NULL"
        ") WITHOUT ROWID;",
        NULL,
    },
    {
        "subscriptions by subscriber",
        /* Counting one subscriber's subscriptions (the per-subscriber cap) without a scan. */
        "CREATE INDEX subscribers_by_subscriber ON subscribers (subscriber);",
        NULL,
    },
    {
        "kind of each Exchange subscription",
        /* push, streaming or pull: after a restart with another [notifications] mode the
         * engine must know how to drop the old one (rows before this step were push). */
        "ALTER TABLE ews_subscriptions ADD COLUMN kind TEXT NOT NULL DEFAULT 'push'"
        "  CHECK (kind IN ('push', 'streaming', 'pull'));",
        NULL,
    },
    {
        "normalised JIDs",
        /* Rows stored before JIDs were normalised: "Carol@LOCALHOST" becomes carol@localhost,
         * merged with that row when it exists (jid_migration.c). */
        NULL,
        cp_store_migrate_jids,
    },
    {
        "privileged roster provisioning",
        /* roster_jobs is the queue of roster operations still to do (XEP-0356), so that a
         * restart resumes a users-enable of thousands half-way. One row per (user, contact):
         * a newer operation replaces the older (an enable then a disable leaves one remove).
         * contact '' is the user's own roster, to read. seq keeps the order work was asked in.
         * roster_items says what was done to whom, so a disable can undo it: 'roster' (the
         * calendar JID is in the contact's roster), 'subscribe' (the contact was asked), and
         * for contact '' 'read' (the user's roster was read: a settings change re-reads
         * nothing). */
        "CREATE TABLE roster_jobs ("
        "  seq INTEGER PRIMARY KEY,"
        "  user_jid TEXT NOT NULL CHECK (length(user_jid) > 0),"
        "  contact TEXT NOT NULL,"
        "  op TEXT NOT NULL CHECK (op IN ('provision', 'add', 'remove')),"
        "  not_before INTEGER NOT NULL DEFAULT 0,"
        "  UNIQUE (user_jid, contact)"
        ");"
        "CREATE TABLE roster_items ("
        "  user_jid TEXT NOT NULL CHECK (length(user_jid) > 0),"
        "  contact TEXT NOT NULL,"
        "  method TEXT NOT NULL CHECK (method IN ('read', 'roster', 'subscribe')),"
        "  PRIMARY KEY (user_jid, contact)"
        ") WITHOUT ROWID;",
        NULL,
    },
    {
        "per-user privileged-mode options",
        /* Per-user choices of the XEP-0356 features; NULL follows the admin default in
         * [privilege]. only_while_online and respect_own_status need the presence permission
         * (the user's own presence), pep_activity the iq permission for pubsub. */
        "ALTER TABLE users ADD COLUMN only_while_online INTEGER"
        "  CHECK (only_while_online IS NULL OR only_while_online IN (0, 1));"
        "ALTER TABLE users ADD COLUMN respect_own_status INTEGER"
        "  CHECK (respect_own_status IS NULL OR respect_own_status IN (0, 1));"
        "ALTER TABLE users ADD COLUMN pep_activity INTEGER"
        "  CHECK (pep_activity IS NULL OR pep_activity IN (0, 1));",
        NULL,
    },
};

const int cp_store_migration_count =
    (int)(sizeof(cp_store_migrations) / sizeof(cp_store_migrations[0]));
