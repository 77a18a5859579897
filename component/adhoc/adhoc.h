/* Room adhoc/: XEP-0050 ad-hoc commands and XEP-0004 forms, acting through cp_adhoc_ops.
 * May include: config/, store/, xmpp/ (stanza helpers) and libstrophe. */

/* XEP-0050 ad-hoc commands on the component JID, with XEP-0004 data forms.
 *
 * Nodes, fields and rights are those of ../shared/design/contract.md. The module owns the
 * command sessions (multi-stage commands, expiring after CP_ADHOC_SESSION_TTL seconds) and
 * talks to the rest of the daemon only through struct cp_adhoc_ops. */
#ifndef CP_ADHOC_H
#define CP_ADHOC_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <strophe.h>

#include "config/config.h"
#include "store/store.h"

#define CP_ADHOC_NS "http://jabber.org/protocol/commands"
#define CP_ADHOC_SESSION_TTL 600

/* What `status` and `users-list` show of a user's live state; strings are borrowed for the
 * duration of the call that filled the struct. NULL means "not known". */
struct cp_user_status {
    const char *state;        /* free | tentative | busy | oof | elsewhere | unavailable | error */
    const char *until;        /* UTC dateTime of the next change */
    const char *server;       /* EWS URL the user is assigned to */
    const char *subscription; /* none | pending | active | ... */
    const char *last_error;
};

/* A command whose answer comes later (gateway-status waits for the troubleshooter): a copy of
 * the request, kept until cp_adhoc_deferred_finish or cp_adhoc_deferred_free. */
struct cp_adhoc_deferred;

/* Hooks into the rest of the daemon. Any hook may be NULL: the command then answers that the
 * feature is not available yet. UD is passed back unchanged. */
struct cp_adhoc_ops {
    /* The configuration currently in force (changes after a reload). */
    const struct cp_config *(*config)(void *ud);
    /* A user was enabled, disabled or changed settings: start/stop its engine, republish. */
    void (*user_changed)(void *ud, const char *user_jid);
    /* Fills *OUT for USER_JID; returns 0, or negative when nothing is known. */
    int (*user_status)(void *ud, const char *user_jid, struct cp_user_status *out);
    /* Re-reads the configuration file; writes a human summary (what changed, what needs a
     * restart, or the FILE:LINE error) into MSG. Returns 0 or negative. */
    int (*reload)(void *ud, char *msg, size_t msglen);
    /* Drops and recreates USER_JID's Exchange subscription. Returns 0 or negative. */
    int (*user_resubscribe)(void *ud, const char *user_jid, char *msg, size_t msglen);
    /* Starts the troubleshooter for every server, testing MAILBOX's impersonation (NULL: no
     * mailbox), and takes DEF: once the report is ready the daemon answers the command with
     * cp_adhoc_deferred_finish. Returns 0 (DEF taken), or negative (DEF stays the caller's,
     * which answers with an error at once). */
    int (*gateway_status)(void *ud, const char *mailbox, struct cp_adhoc_deferred *def);
    /* One line of how USER's contacts get its calendar and which options apply (privileged
     * mode, docs/privileges.md), into BUF. USER is USER_JID's stored row (borrowed), NULL when
     * none. */
    void (*user_mode)(void *ud, const char *user_jid, const struct cp_user *user, char *buf,
                      size_t len);
    /* Number of stored subscribers (watchers) of USER_JID's calendar JID. */
    long (*watchers)(void *ud, const char *user_jid);
    /* Downloads HOST's chain: returns a malloc'd multi-line description or NULL with MSG; with
     * a description, sets *FPS to the SHA-256 fingerprints of the CA certificates an import
     * would add, each followed by a newline ("" for none), malloc'd (caller frees). */
    char *(*certs_describe_pinned)(void *ud, const char *host, char **fps, char *msg,
                                   size_t msglen);
    /* Downloads HOST's chain again and imports its missing CA certificates only when they have
     * exactly the fingerprints FPS (what certs_describe_pinned gave). Returns 0, negative with
     * MSG, or CP_ADHOC_CHAIN_CHANGED when they differ (nothing imported). */
    int (*certs_import_pinned)(void *ud, const char *host, const char *fps, char *msg,
                               size_t msglen);
};

/* certs_import_pinned's answer when the chain changed since it was shown. */
#define CP_ADHOC_CHAIN_CHANGED 1

struct cp_adhoc;

/* Creates the command handler. STORE is borrowed and must outlive it. Returns NULL on ENOMEM. */
struct cp_adhoc *cp_adhoc_new(struct cp_store *store, const struct cp_adhoc_ops *ops, void *ud);
void cp_adhoc_free(struct cp_adhoc *adhoc);

/* Answers an <iq type='set'><command xmlns=CP_ADHOC_NS/></iq> addressed to the component.
 * Returns the reply (result or error) serialised, NUL-terminated, with its length in *LEN:
 * malloc'd, the caller sends it (cp_xmpp_send_raw) and frees it. NULL when the answer was
 * deferred (gateway-status: it comes through cp_adhoc_deferred_finish) or on ENOMEM.
 * Text, not a stanza, because a wide reply (users-list, a refused users-enable shown back) is
 * built as text: libstrophe would take time quadratic in its rows. */
char *cp_adhoc_handle(struct cp_adhoc *adhoc, xmpp_ctx_t *ctx, xmpp_stanza_t *iq, time_t now,
                      size_t *len);

/* Answers disco#items for node CP_ADHOC_NS: the commands FROM may run (admin nodes only for
 * admins; nothing for users of domains not served). Returns the reply (caller releases). */
xmpp_stanza_t *cp_adhoc_disco_items(struct cp_adhoc *adhoc, xmpp_ctx_t *ctx, xmpp_stanza_t *iq);

/* Answers disco#info for a command node (identity automation/command-node). NULL when NODE is
 * not a command node. */
xmpp_stanza_t *cp_adhoc_disco_info(struct cp_adhoc *adhoc, xmpp_ctx_t *ctx, xmpp_stanza_t *iq,
                                   const char *node);

/* A users-enable / users-disable list, checked one line at a time (batch.c): the ad-hoc
 * commands and the control socket accept and refuse the same lines. */
struct cp_user_line {
    char *jid;     /* normalised bare JID, owned */
    char *typed;   /* the JID as the admin typed it, owned: quoted when two lines collide */
    char *mailbox; /* owned, NULL for the default */
    size_t lineno; /* 1-based */
};

/* Bad lines quoted in the report; the rest are only counted. */
#define CP_USERS_BATCH_REPORTED 20

struct cp_users_batch {
    struct cp_user_line *lines; /* the good lines, owned */
    size_t n, cap;
    size_t bad;   /* bad lines, all counted */
    char *report; /* malloc'd, "line N: reason (text)\n" per reported bad line, or NULL */
    size_t report_len;
    bool with_mailbox; /* "jid,mailbox" allowed (enable), or one JID a line (disable) */
};

void cp_users_batch_init(struct cp_users_batch *b, bool with_mailbox);
/* Checks line LINENO (TEXT, modified in place) against CFG's domains: appends it to the good
 * lines or reports it; blank lines are skipped. Returns 0 or CP_ENOMEM. */
int cp_users_batch_line(struct cp_users_batch *b, const struct cp_config *cfg, char *text,
                        size_t lineno);
/* After the last line: reports the JIDs given twice (sorts the good lines by JID). Returns 0 or
 * CP_ENOMEM. */
int cp_users_batch_finish(struct cp_users_batch *b);
/* Frees what B holds and makes it empty again. */
void cp_users_batch_clear(struct cp_users_batch *b);

/* Normalises a submitted user JID: bare, with a localpart, of a domain CFG serves. Returns 0
 * with OUT, or CP_EINVAL with a human REASON (static string). */
int cp_users_jid(const struct cp_config *cfg, const char *in, char *out, size_t outlen,
                 const char **reason);

/* The answer to a deferred gateway-status: the completed command with REPORT (multi-line
 * text, borrowed) as its form. Frees DEF. Returns the reply (caller sends and releases) or NULL
 * on ENOMEM. */
xmpp_stanza_t *cp_adhoc_deferred_finish(struct cp_adhoc *adhoc, struct cp_adhoc_deferred *def,
                                        const char *report);
/* Frees DEF without answering (shutdown); NULL is allowed. */
void cp_adhoc_deferred_free(struct cp_adhoc_deferred *def);

/* Drops sessions idle for more than CP_ADHOC_SESSION_TTL. */
void cp_adhoc_expire(struct cp_adhoc *adhoc, time_t now);

#endif
