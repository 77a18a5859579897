/* Small helpers for building stanzas with libstrophe, shared by the XMPP modules. */
#ifndef CP_STANZA_H
#define CP_STANZA_H

#include <stdbool.h>
#include <stddef.h>

#include <strophe.h>

/* Appends an empty element NAME (in namespace NS, or none when NULL) to PARENT. Returns it,
 * borrowed from PARENT (do not release), or NULL on ENOMEM. */
xmpp_stanza_t *cp_stanza_add(xmpp_stanza_t *parent, const char *name, const char *ns);

/* Appends the text node TEXT (copied) to EL. Returns 0 or CP_ENOMEM. */
int cp_stanza_append_text(xmpp_stanza_t *el, const char *text);

/* Appends <NAME>TEXT</NAME> to PARENT (an empty TEXT gives an empty element).
 * Returns 0 or CP_ENOMEM. */
int cp_stanza_add_text(xmpp_stanza_t *parent, const char *name, const char *text);

/* Reads an answer: true when STANZA (borrowed) is an error (type='error'). Then COND (LEN
 * bytes) holds the defined condition of its <error/> ("error" when it names none, so that an
 * error never reads as success) and *TYPE the error's type ("cancel", "wait", ...; "" when
 * none, borrowed from STANZA). Otherwise COND is "" and *TYPE "". */
bool cp_stanza_error(xmpp_stanza_t *stanza, char *cond, size_t len, const char **type);

#endif
