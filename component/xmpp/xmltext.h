/* Serialised XML built as text, in time linear in its size: the wide part of a reply (many
 * children), which libstrophe appends in time quadratic in their number. */
#ifndef CP_XMLTEXT_H
#define CP_XMLTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include <strophe.h>

/* A growing buffer of XML text. Zero-initialise it ({0}); free it with cp_xml_free. The first
 * failed append makes it failed: later appends do nothing, and the caller checks once. */
struct cp_xml {
    char *buf; /* NUL-terminated when len > 0, owned */
    size_t len;
    size_t cap;
    bool failed;
};

/* The element that stands for text in a stanza skeleton; see cp_stanza_to_text_with. */
#define CP_XML_SLOT "cp-slot"

/* Appends S verbatim (markup the caller wrote). Returns 0 or CP_ENOMEM. */
int cp_xml_raw(struct cp_xml *b, const char *s, size_t len);
/* Appends TEXT escaped for character data or an attribute value (& < > " '). Returns 0 or
 * CP_ENOMEM. */
int cp_xml_text(struct cp_xml *b, const char *text);
/* Appends <NAME>TEXT</NAME>, TEXT escaped; NAME is markup. Returns 0 or CP_ENOMEM. */
int cp_xml_element(struct cp_xml *b, const char *name, const char *text);
/* Frees B's buffer and resets it to empty. */
void cp_xml_free(struct cp_xml *b);

/* Appends an empty <CP_XML_SLOT/> to PARENT: the place where cp_stanza_to_text_with puts text.
 * Returns 0 or CP_ENOMEM. */
int cp_stanza_add_slot(xmpp_stanza_t *parent);

/* Serialises STANZA as libstrophe would send it, with its first <CP_XML_SLOT/> replaced by
 * SLOT's text (SLOT may be NULL or empty: the slot is then just removed). Returns a malloc'd
 * NUL-terminated string (caller frees with free()) and its length in *LEN; NULL on ENOMEM. */
char *cp_stanza_to_text_with(xmpp_stanza_t *stanza, const struct cp_xml *slot, size_t *len);

#endif
