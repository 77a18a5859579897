/* XEP-0004 data forms over libstrophe stanzas: building forms and results, reading submissions.
 *
 * A form is an <x xmlns='jabber:x:data'/> stanza. Builders add children to it; every stanza a
 * builder returns is borrowed (owned by its parent) and lives as long as the form. Readers never
 * change the form; strings they return are malloc'd copies the caller frees with free(). */
#ifndef CP_FORMS_H
#define CP_FORMS_H

#include <stdbool.h>
#include <stddef.h>

#include <strophe.h>

#define CP_FORMS_NS "jabber:x:data"

struct cp_xml;

/* Creates <x xmlns='jabber:x:data' type=TYPE> (form, submit, cancel, result) with an optional
 * <title/> and <instructions/> (NULL for none). Caller releases it with xmpp_stanza_release(),
 * or hands it to a parent with xmpp_stanza_add_child_ex(parent, form, 0). NULL on ENOMEM. */
xmpp_stanza_t *cp_form_new(xmpp_ctx_t *ctx, const char *type, const char *title,
                           const char *instructions);

/* Appends <field var=VAR type=TYPE label=LABEL> to FORM (or to a <reported/> or <item/>), with
 * one <value/> when VALUE is non-NULL. VAR, TYPE and LABEL may be NULL to omit them. Returns the
 * field, borrowed from FORM; NULL on ENOMEM (FORM is then incomplete: release it). */
xmpp_stanza_t *cp_form_add_field(xmpp_stanza_t *form, const char *var, const char *type,
                                 const char *label, const char *value);

/* Appends one <value>VALUE</value> to FIELD. Returns 0 or CP_ENOMEM. */
int cp_form_field_add_value(xmpp_stanza_t *field, const char *value);

/* Appends one <value/> per line of TEXT (a text-multi field); a trailing newline adds no empty
 * value. Returns 0 or CP_ENOMEM. */
int cp_form_field_add_lines(xmpp_stanza_t *field, const char *text);

/* Appends <option label=LABEL><value>VALUE</value></option> to FIELD (list-single/-multi).
 * Returns 0 or CP_ENOMEM. */
int cp_form_field_add_option(xmpp_stanza_t *field, const char *label, const char *value);

/* Marks FIELD <required/>. Returns 0 or CP_ENOMEM. */
int cp_form_field_set_required(xmpp_stanza_t *field);

/* Appends <reported/> to a result FORM and returns it (borrowed): add its columns with
 * cp_form_add_field(reported, var, type, label, NULL). NULL on ENOMEM. */
xmpp_stanza_t *cp_form_add_reported(xmpp_stanza_t *form);

/* Appends <item/> to a result FORM and returns it (borrowed): add its cells with
 * cp_form_add_field(item, var, NULL, NULL, value). NULL on ENOMEM. */
xmpp_stanza_t *cp_form_add_item(xmpp_stanza_t *form);

/* Wide forms (a long result table, many values) are built as text: libstrophe appends a child
 * in time linear in its siblings. Put a slot (cp_stanza_add_slot) in the form where the rows
 * go, append them to B with the two calls below, and serialise the reply with
 * cp_stanza_to_text_with(reply, B). */
/* Appends to B what cp_form_add_item and one cp_form_add_field(item, VARS[i], NULL, NULL,
 * VALUES[i]) per column add: <item><field var=..><value>..</value></field>...</item>. Returns 0
 * or CP_ENOMEM. */
int cp_form_text_item(struct cp_xml *b, const char *const *vars, const char *const *values,
                      size_t n);
/* Appends to B what cp_form_field_add_value adds: <value>VALUE</value>. Returns 0 or
 * CP_ENOMEM. */
int cp_form_text_value(struct cp_xml *b, const char *value);

/* Returns the first <x xmlns='jabber:x:data'/> child of PARENT (borrowed), or NULL. */
xmpp_stanza_t *cp_form_find(xmpp_stanza_t *parent);

/* Returns FORM's type attribute (borrowed), or NULL. */
const char *cp_form_type(xmpp_stanza_t *form);

/* Returns the <field var=VAR/> of FORM (borrowed), or NULL when absent. */
xmpp_stanza_t *cp_form_get_field(xmpp_stanza_t *form, const char *var);

/* Reads the single value of field VAR. Returns 0 and *OUT (malloc'd, caller frees; "" when the
 * field has an empty <value/>), CP_ENOTFOUND when the field or its <value/> is absent, CP_EINVAL
 * when the field carries more than one value, CP_ENOMEM. */
int cp_form_get_single(xmpp_stanza_t *form, const char *var, char **out);

/* Reads field VAR as a boolean per XEP-0004 ("1"/"true" or "0"/"false"). Returns 0 and *OUT,
 * CP_ENOTFOUND when absent, CP_EINVAL when the value is anything else or repeated. */
int cp_form_get_bool(xmpp_stanza_t *form, const char *var, bool *out);

/* Reads every value of field VAR (text-multi, list-multi, jid-multi) as lines: each <value/>
 * is one line, and a value holding newlines (some clients send one) counts as several.
 * Returns 0 with *LINES (a malloc'd array of *N malloc'd strings; free with cp_form_lines_free),
 * CP_ENOTFOUND when the field is absent, CP_EINVAL when there are more than MAX_LINES lines
 * (0 = no limit), CP_ENOMEM. A field without values gives *N = 0. */
int cp_form_get_lines(xmpp_stanza_t *form, const char *var, size_t max_lines, char ***lines,
                      size_t *n);
void cp_form_lines_free(char **lines, size_t n);

#endif
