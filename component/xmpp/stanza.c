#include "stanza.h"

#include <stdio.h>
#include <string.h>

#include "config/config.h"

#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

xmpp_stanza_t *
cp_stanza_add(xmpp_stanza_t *parent, const char *name, const char *ns)
{
    xmpp_stanza_t *el = xmpp_stanza_new(xmpp_stanza_get_context(parent));

    if (el == NULL)
        return NULL;
    /* add_child_ex hands our reference to PARENT: nothing to release on success. */
    if (xmpp_stanza_set_name(el, name) != XMPP_EOK ||
        (ns != NULL && xmpp_stanza_set_ns(el, ns) != XMPP_EOK) ||
        xmpp_stanza_add_child_ex(parent, el, 0) != XMPP_EOK) {
        xmpp_stanza_release(el);
        return NULL;
    }
    return el;
}

int
cp_stanza_append_text(xmpp_stanza_t *el, const char *text)
{
    xmpp_stanza_t *body = xmpp_stanza_new(xmpp_stanza_get_context(el));

    if (body == NULL)
        return CP_ENOMEM;
    if (xmpp_stanza_set_text(body, text) != XMPP_EOK ||
        xmpp_stanza_add_child_ex(el, body, 0) != XMPP_EOK) {
        xmpp_stanza_release(body);
        return CP_ENOMEM;
    }
    return CP_OK;
}

int
cp_stanza_add_text(xmpp_stanza_t *parent, const char *name, const char *text)
{
    xmpp_stanza_t *el = cp_stanza_add(parent, name, NULL);

    if (el == NULL)
        return CP_ENOMEM;
    return text[0] == '\0' ? CP_OK : cp_stanza_append_text(el, text);
}

bool
cp_stanza_error(xmpp_stanza_t *stanza, char *cond, size_t len, const char **type)
{
    const char *t = xmpp_stanza_get_type(stanza);
    cond[0] = '\0';
    *type = "";
    if (!t || strcmp(t, "error") != 0)
        return false;
    snprintf(cond, len, "error");
    xmpp_stanza_t *err = xmpp_stanza_get_child_by_name(stanza, "error");
    if (!err)
        return true;
    *type = xmpp_stanza_get_type(err) ? xmpp_stanza_get_type(err) : "";
    for (xmpp_stanza_t *c = xmpp_stanza_get_children(err); c; c = xmpp_stanza_get_next(c)) {
        const char *ns = xmpp_stanza_get_ns(c);
        const char *name = xmpp_stanza_get_name(c);
        if (xmpp_stanza_is_tag(c) && name && ns && strcmp(ns, NS_STANZAS) == 0 &&
            strcmp(name, "text") != 0) {
            snprintf(cond, len, "%s", name);
            break;
        }
    }
    return true;
}
