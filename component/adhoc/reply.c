/* Ad-hoc command replies: IQ errors with XEP-0050 conditions, and <command/> results that
 * complete, continue or cancel a command. */
#include <stdio.h>
#include <string.h>

#include "adhoc_int.h"
#include "config/config.h"
#include "forms.h"
#include "xmpp/xmpp.h"

#define STANZAS_NS "urn:ietf:params:xml:ns:xmpp-stanzas"

static xmpp_stanza_t *new_reply(struct cp_adhoc_req *req, const char *type);
static xmpp_stanza_t *command_reply(struct cp_adhoc_req *req, const char *status,
                                    const char *sessionid, xmpp_stanza_t **command);
static int add_note(xmpp_stanza_t *command, const char *type, const char *text);

/* An IQ of TYPE answering REQ's IQ (same id, addresses swapped). Caller releases it. */
static xmpp_stanza_t *
new_reply(struct cp_adhoc_req *req, const char *type)
{
    xmpp_stanza_t *reply = xmpp_iq_new(req->ctx, type, xmpp_stanza_get_id(req->iq));
    const char *from = xmpp_stanza_get_from(req->iq);
    const char *to = xmpp_stanza_get_to(req->iq);

    if (reply == NULL)
        return NULL;
    if ((from != NULL && xmpp_stanza_set_to(reply, from) != XMPP_EOK) ||
        (to != NULL && xmpp_stanza_set_from(reply, to) != XMPP_EOK)) {
        xmpp_stanza_release(reply);
        return NULL;
    }
    return reply;
}

xmpp_stanza_t *
cp_adhoc_error(struct cp_adhoc_req *req, const char *type, const char *condition,
               const char *specific)
{
    return cp_adhoc_error_text(req, type, condition, specific, NULL);
}

xmpp_stanza_t *
cp_adhoc_error_text(struct cp_adhoc_req *req, const char *type, const char *condition,
                    const char *specific, const char *text)
{
    xmpp_stanza_t *reply = new_reply(req, "error");
    xmpp_stanza_t *error, *t;

    if (reply == NULL)
        return NULL;
    error = cp_stanza_add(reply, "error", NULL);
    if (error == NULL || xmpp_stanza_set_type(error, type) != XMPP_EOK ||
        cp_stanza_add(error, condition, STANZAS_NS) == NULL ||
        (specific != NULL && cp_stanza_add(error, specific, CP_ADHOC_NS) == NULL))
        goto fail;
    /* RFC 6120 8.3.2: <text/> follows the conditions and is shown to the user. */
    if (text != NULL && ((t = cp_stanza_add(error, "text", STANZAS_NS)) == NULL ||
                         xmpp_stanza_set_attribute(t, "xml:lang", "en") != XMPP_EOK ||
                         cp_stanza_append_text(t, text) != 0))
        goto fail;
    return reply;
fail:
    xmpp_stanza_release(reply);
    return NULL;
}

/* A result IQ holding <command node status sessionid/> (*COMMAND, borrowed). */
static xmpp_stanza_t *
command_reply(struct cp_adhoc_req *req, const char *status, const char *sessionid,
              xmpp_stanza_t **command)
{
    xmpp_stanza_t *reply = new_reply(req, "result");

    if (reply == NULL)
        return NULL;
    *command = cp_stanza_add(reply, "command", CP_ADHOC_NS);
    if (*command == NULL ||
        xmpp_stanza_set_attribute(*command, "node", req->node->node) != XMPP_EOK ||
        xmpp_stanza_set_attribute(*command, "sessionid", sessionid) != XMPP_EOK ||
        xmpp_stanza_set_attribute(*command, "status", status) != XMPP_EOK) {
        xmpp_stanza_release(reply);
        return NULL;
    }
    return reply;
}

static int
add_note(xmpp_stanza_t *command, const char *type, const char *text)
{
    xmpp_stanza_t *note = cp_stanza_add(command, "note", NULL);

    if (note == NULL || xmpp_stanza_set_type(note, type) != XMPP_EOK)
        return CP_ENOMEM;
    return cp_stanza_append_text(note, text);
}

/* A single-stage command still carries a session id (some clients key their state on it); it is
 * fresh and never stored. */
xmpp_stanza_t *
cp_adhoc_complete(struct cp_adhoc_req *req, const char *note_type, const char *note,
                  xmpp_stanza_t *form)
{
    char id[CP_ADHOC_SESSIONID_LEN + 1];
    xmpp_stanza_t *reply = NULL, *command;

    if (req->session != NULL)
        memcpy(id, req->session->id, sizeof(id));
    else if (req->sessionid != NULL)
        snprintf(id, sizeof(id), "%s", req->sessionid);
    else if (cp_adhoc_random_id(id) != 0)
        goto out;
    reply = command_reply(req, "completed", id, &command);
    if (reply == NULL)
        goto out;
    if (note != NULL && add_note(command, note_type, note) != 0)
        goto fail;
    if (form != NULL) {
        if (xmpp_stanza_add_child_ex(command, form, 0) != XMPP_EOK)
            goto fail;
        form = NULL;
    }
    goto out;
fail:
    xmpp_stanza_release(reply);
    reply = NULL;
out:
    if (form != NULL)
        xmpp_stanza_release(form);
    if (req->session != NULL) {
        cp_adhoc_session_drop(req->adhoc, req->session);
        req->session = NULL;
    }
    return reply;
}

xmpp_stanza_t *
cp_adhoc_continue(struct cp_adhoc_req *req, int stage, const char *action, const char *note_type,
                  const char *note, xmpp_stanza_t *form)
{
    xmpp_stanza_t *reply, *command, *actions;

    if (form == NULL)
        return NULL;
    if (req->session == NULL)
        req->session = cp_adhoc_session_new(req->adhoc, req);
    if (req->session == NULL) {
        xmpp_stanza_release(form);
        return cp_adhoc_error(req, "wait", "resource-constraint", NULL);
    }
    req->session->stage = stage;
    req->session->next_action = action;
    req->session->last = req->now;
    reply = command_reply(req, "executing", req->session->id, &command);
    if (reply == NULL)
        goto fail;
    actions = cp_stanza_add(command, "actions", NULL);
    if (actions == NULL || xmpp_stanza_set_attribute(actions, "execute", action) != XMPP_EOK ||
        cp_stanza_add(actions, action, NULL) == NULL ||
        (note != NULL && add_note(command, note_type, note) != 0))
        goto fail;
    if (xmpp_stanza_add_child_ex(command, form, 0) != XMPP_EOK)
        goto fail;
    return reply;
fail:
    if (reply != NULL)
        xmpp_stanza_release(reply);
    xmpp_stanza_release(form);
    return NULL;
}

xmpp_stanza_t *
cp_adhoc_canceled(struct cp_adhoc_req *req)
{
    xmpp_stanza_t *command;
    xmpp_stanza_t *reply = command_reply(req, "canceled", req->session->id, &command);

    cp_adhoc_session_drop(req->adhoc, req->session);
    req->session = NULL;
    return reply;
}

xmpp_stanza_t *
cp_adhoc_not_available(struct cp_adhoc_req *req)
{
    return cp_adhoc_complete(req, "info", "This command is not available yet.", NULL);
}
