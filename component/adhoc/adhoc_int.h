/* Private to the ad-hoc command files (component/adhoc/): the handler, its sessions, one request,
 * and the node table. */
#ifndef CP_ADHOC_INT_H
#define CP_ADHOC_INT_H

#include "adhoc.h"
#include "xmpp/xmpp.h"

#define CP_ADHOC_JID_MAX 3072
/* Sessions alive at once, in total and per bare JID: a client cannot exhaust memory by
 * starting commands it never finishes. */
#define CP_ADHOC_MAX_SESSIONS 1000
#define CP_ADHOC_MAX_SESSIONS_PER_JID 10
/* Sessions only admins may open: users cannot lock admins out by filling the table. */
#define CP_ADHOC_ADMIN_RESERVED 50
/* Lines accepted in one users-enable/users-disable submission. */
#define CP_ADHOC_MAX_LINES 100000
#define CP_ADHOC_SESSIONID_LEN 32
/* Bytes of form content one reply may carry. The XMPP server closes the component's stream on
 * a larger stanza (Prosody's component_stanza_size_limit is 512 KiB by default), so long lists
 * are cut, with a note, below that. */
#define CP_ADHOC_REPLY_MAX (400 * 1024)

struct cp_adhoc_req;

struct cp_adhoc_node {
    const char *node;
    const char *name;
    bool admin;
    /* Answers REQ at its stage (0 first call, then what cp_adhoc_continue set). Returns the
     * reply (caller sends and releases it), NULL on ENOMEM. */
    xmpp_stanza_t *(*run)(struct cp_adhoc_req *req);
};

struct cp_adhoc_session {
    char id[CP_ADHOC_SESSIONID_LEN + 1];
    const struct cp_adhoc_node *node;
    char *owner; /* full JID that started it, owned */
    char *bare;  /* its bare JID, owned */
    int stage;
    const char *next_action; /* the action the last reply offered: "next" or "complete" */
    time_t last;
    char *data; /* node-specific (certs-import: host and fingerprints shown), owned, may be NULL */
};

struct cp_adhoc {
    struct cp_store *store;
    struct cp_adhoc_ops ops;
    void *ud;
    struct cp_adhoc_session *sessions[CP_ADHOC_MAX_SESSIONS];
    size_t nsessions;
};

/* One incoming command request; everything is borrowed for the duration of the call. */
struct cp_adhoc_req {
    struct cp_adhoc *adhoc;
    xmpp_ctx_t *ctx;
    xmpp_stanza_t *iq;
    const struct cp_config *cfg;
    const struct cp_adhoc_node *node;
    char from[CP_JID_FULL_MAX];       /* full JID, normalised (a session's owner) */
    char bare[CP_ADHOC_JID_MAX];      /* its bare JID */
    xmpp_stanza_t *form;              /* submitted <x type='submit'/>, NULL on the first call */
    struct cp_adhoc_session *session; /* NULL on the first call */
    const char *sessionid;            /* a deferred answer's session id (its session is gone) */
    time_t now;
    /* The wide part of the reply as text: it replaces the reply's slot (cp_stanza_add_slot)
     * when the reply is serialised; ignored when the reply has no slot. Owned. */
    struct cp_xml wide;
};

struct cp_adhoc_deferred {
    xmpp_ctx_t *ctx;
    xmpp_stanza_t *iq; /* a copy of the request, owned */
    const struct cp_adhoc_node *node;
    char sessionid[CP_ADHOC_SESSIONID_LEN + 1];
};

extern const struct cp_adhoc_node cp_adhoc_nodes[];
extern const size_t cp_adhoc_nnodes;

/* Node handlers (user.c, admin.c, users.c). */
xmpp_stanza_t *cp_adhoc_run_enable(struct cp_adhoc_req *req);
xmpp_stanza_t *cp_adhoc_run_disable(struct cp_adhoc_req *req);
xmpp_stanza_t *cp_adhoc_run_status(struct cp_adhoc_req *req);
xmpp_stanza_t *cp_adhoc_run_settings(struct cp_adhoc_req *req);
xmpp_stanza_t *cp_adhoc_run_users_enable(struct cp_adhoc_req *req);
xmpp_stanza_t *cp_adhoc_run_users_disable(struct cp_adhoc_req *req);
xmpp_stanza_t *cp_adhoc_run_users_list(struct cp_adhoc_req *req);
xmpp_stanza_t *cp_adhoc_run_gateway_status(struct cp_adhoc_req *req);
xmpp_stanza_t *cp_adhoc_run_certs_import(struct cp_adhoc_req *req);
xmpp_stanza_t *cp_adhoc_run_user_resubscribe(struct cp_adhoc_req *req);
xmpp_stanza_t *cp_adhoc_run_reload(struct cp_adhoc_req *req);

/* Sessions (session.c). */
/* Creates a session for REQ (node, owner, now). Returns it (owned by ADHOC), or NULL when the
 * table or the owner's share is full (even after dropping expired ones) or on ENOMEM. */
struct cp_adhoc_session *cp_adhoc_session_new(struct cp_adhoc *adhoc, struct cp_adhoc_req *req);
/* The live session ID, or NULL when unknown or idle past CP_ADHOC_SESSION_TTL at NOW. */
struct cp_adhoc_session *cp_adhoc_session_find(struct cp_adhoc *adhoc, const char *id, time_t now);
/* Removes and frees SESSION. */
void cp_adhoc_session_drop(struct cp_adhoc *adhoc, struct cp_adhoc_session *session);
void cp_adhoc_sessions_free(struct cp_adhoc *adhoc);
/* Writes CP_ADHOC_SESSIONID_LEN random hex digits and a NUL into OUT. Returns 0 or CP_EIO. */
int cp_adhoc_random_id(char *out);

/* Replies (reply.c). Each returns a new stanza the caller releases; NULL on ENOMEM. */
/* An IQ error: TYPE (cancel, modify, auth, wait), CONDITION (RFC 6120), SPECIFIC a XEP-0050
 * condition (bad-action, bad-sessionid, bad-payload, ...) or NULL. */
xmpp_stanza_t *cp_adhoc_error(struct cp_adhoc_req *req, const char *type, const char *condition,
                              const char *specific);
/* The same with a human TEXT (borrowed) saying what was wrong, e.g. which form field. */
xmpp_stanza_t *cp_adhoc_error_text(struct cp_adhoc_req *req, const char *type,
                                   const char *condition, const char *specific, const char *text);
/* Completes the command (dropping its session): optional note (NOTE_TYPE info, warn, error)
 * and optional FORM, which the reply takes over (released here on failure). */
xmpp_stanza_t *cp_adhoc_complete(struct cp_adhoc_req *req, const char *note_type, const char *note,
                                 xmpp_stanza_t *form);
/* Shows FORM (taken over) and waits for the next submission at STAGE, creating the session on
 * the first call; ACTION is what the client sends next ("next" or "complete"). Answers
 * resource-constraint when no session can be created. */
xmpp_stanza_t *cp_adhoc_continue(struct cp_adhoc_req *req, int stage, const char *action,
                                 const char *note_type, const char *note, xmpp_stanza_t *form);
/* Ends the session: status canceled. */
xmpp_stanza_t *cp_adhoc_canceled(struct cp_adhoc_req *req);
/* The "not available yet" completion for a hook that is NULL. */
xmpp_stanza_t *cp_adhoc_not_available(struct cp_adhoc_req *req);

/* Helpers shared by the node files (user.c). */
/* The stage REQ is at: 0 on the first call. */
int cp_adhoc_stage(const struct cp_adhoc_req *req);
/* Writes USER's mailbox (stored, or the default derived from the JID) into OUT. */
int cp_adhoc_mailbox_of(const struct cp_adhoc_req *req, const char *jid, const char *stored,
                        char *out, size_t outlen);
/* Normalises a submitted user JID: bare, with a localpart, of a served domain. Returns 0 with
 * OUT, or CP_EINVAL with a human REASON (static string). */
int cp_adhoc_user_jid(const struct cp_adhoc_req *req, const char *in, char *out, size_t outlen,
                      const char **reason);

#endif
