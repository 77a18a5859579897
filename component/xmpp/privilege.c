#include "privilege.h"

#include <stdio.h>
#include <string.h>

#include "config/config.h"

static const char *roster_word(unsigned roster);
static unsigned access_bits(const char *type);
static void copy_word(char *dst, size_t len, const char *word, const char *const *allowed);

_Static_assert(CP_PRIV_IQ_GET == CP_PRIV_ROSTER_GET && CP_PRIV_IQ_SET == CP_PRIV_ROSTER_SET,
               "roster and iq access share their bits and words");

static const char *const message_words[] = {"none", "outgoing", NULL};
static const char *const presence_words[] = {"none", "managed_entity", "roster", NULL};

/* The words of roster and iq access alike: none, get, set, both. */
static const char *
roster_word(unsigned roster)
{
    static const char *const words[] = {"none", "get", "set", "both"};
    return words[roster & (CP_PRIV_ROSTER_GET | CP_PRIV_ROSTER_SET)];
}

/* "get", "set" or "both" as GET/SET bits (roster and iq use the same values); 0 otherwise. */
static unsigned
access_bits(const char *type)
{
    if (!type)
        return 0;
    return strcmp(type, "both") == 0  ? CP_PRIV_ROSTER_GET | CP_PRIV_ROSTER_SET
           : strcmp(type, "get") == 0 ? CP_PRIV_ROSTER_GET
           : strcmp(type, "set") == 0 ? CP_PRIV_ROSTER_SET
                                      : 0;
}

/* Keeps WORD only when it is one of ALLOWED, so that the log and gateway-status never repeat
 * whatever a server wrote. */
static void
copy_word(char *dst, size_t len, const char *word, const char *const *allowed)
{
    snprintf(dst, len, "none");
    for (size_t i = 0; allowed[i]; i++) {
        if (strcmp(word, allowed[i]) == 0) {
            snprintf(dst, len, "%s", word);
            return;
        }
    }
}

int
cp_privilege_parse(xmpp_stanza_t *message, struct cp_privileges *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->message, sizeof(out->message), "none");
    snprintf(out->presence, sizeof(out->presence), "none");
    xmpp_stanza_t *priv = xmpp_stanza_get_child_by_name_and_ns(message, "privilege", CP_PRIV_NS_2);
    out->version = 2;
    if (!priv) {
        priv = xmpp_stanza_get_child_by_name_and_ns(message, "privilege", CP_PRIV_NS_1);
        out->version = 1;
    }
    if (!priv) {
        out->version = 0;
        return CP_ENOTFOUND;
    }
    int rc = CP_OK;
    for (xmpp_stanza_t *perm = xmpp_stanza_get_children(priv); perm;
         perm = xmpp_stanza_get_next(perm)) {
        const char *name = xmpp_stanza_get_name(perm);
        if (!xmpp_stanza_is_tag(perm) || !name || strcmp(name, "perm") != 0)
            continue;
        const char *access = xmpp_stanza_get_attribute(perm, "access");
        const char *type = xmpp_stanza_get_attribute(perm, "type");
        if (access && strcmp(access, "iq") == 0) {
            /* privilege:2 lists one <namespace ns=... type=.../> per IQ namespace instead of a
             * type; of those only pubsub (PEP as the user) is used. */
            for (xmpp_stanza_t *ns = xmpp_stanza_get_children(perm); ns;
                 ns = xmpp_stanza_get_next(ns)) {
                if (!xmpp_stanza_is_tag(ns) || strcmp(xmpp_stanza_get_name(ns), "namespace") != 0)
                    continue;
                out->iq_spaces++;
                const char *uri = xmpp_stanza_get_attribute(ns, "ns");
                if (uri && strcmp(uri, CP_PRIV_NS_PUBSUB) == 0)
                    out->iq_pubsub = access_bits(xmpp_stanza_get_attribute(ns, "type"));
            }
            continue;
        }
        if (!access || !type) {
            rc = CP_EINVAL;
            continue;
        }
        if (strcmp(access, "roster") == 0) {
            out->roster = access_bits(type);
        } else if (strcmp(access, "message") == 0) {
            copy_word(out->message, sizeof(out->message), type, message_words);
        } else if (strcmp(access, "presence") == 0) {
            copy_word(out->presence, sizeof(out->presence), type, presence_words);
        }
    }
    return rc;
}

void
cp_privilege_describe(const struct cp_privileges *p, char *buf, size_t len)
{
    snprintf(buf, len, "roster %s, message %s, presence %s, iq %u namespace(s)%s%s%s",
             roster_word(p->roster), p->message, p->presence, p->iq_spaces,
             p->iq_pubsub ? " (pubsub " : "", p->iq_pubsub ? roster_word(p->iq_pubsub) : "",
             p->iq_pubsub ? ")" : "");
}
