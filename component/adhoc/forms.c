/* XEP-0004 data forms: building and reading <x xmlns='jabber:x:data'/>; see forms.h. */
#include "forms.h"

#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "xmpp/xmpp.h"

static char *text_of(xmpp_stanza_t *el);
static int count_values(xmpp_stanza_t *field);
static int push_line(char ***lines, size_t *n, size_t *cap, const char *s, size_t len);
static int split_value(const char *text, size_t max_lines, char ***lines, size_t *n, size_t *cap);

xmpp_stanza_t *
cp_form_new(xmpp_ctx_t *ctx, const char *type, const char *title, const char *instructions)
{
    xmpp_stanza_t *form = xmpp_stanza_new(ctx);

    if (form == NULL)
        return NULL;
    if (xmpp_stanza_set_name(form, "x") != XMPP_EOK ||
        xmpp_stanza_set_ns(form, CP_FORMS_NS) != XMPP_EOK ||
        xmpp_stanza_set_type(form, type) != XMPP_EOK)
        goto fail;
    if (title != NULL && cp_stanza_add_text(form, "title", title) != 0)
        goto fail;
    if (instructions != NULL && cp_stanza_add_text(form, "instructions", instructions) != 0)
        goto fail;
    return form;
fail:
    xmpp_stanza_release(form);
    return NULL;
}

xmpp_stanza_t *
cp_form_add_field(xmpp_stanza_t *form, const char *var, const char *type, const char *label,
                  const char *value)
{
    xmpp_stanza_t *field = cp_stanza_add(form, "field", NULL);

    if (field == NULL)
        return NULL;
    if (var != NULL && xmpp_stanza_set_attribute(field, "var", var) != XMPP_EOK)
        return NULL;
    if (type != NULL && xmpp_stanza_set_type(field, type) != XMPP_EOK)
        return NULL;
    if (label != NULL && xmpp_stanza_set_attribute(field, "label", label) != XMPP_EOK)
        return NULL;
    if (value != NULL && cp_form_field_add_value(field, value) != 0)
        return NULL;
    return field;
}

int
cp_form_field_add_value(xmpp_stanza_t *field, const char *value)
{
    return cp_stanza_add_text(field, "value", value);
}

int
cp_form_field_add_lines(xmpp_stanza_t *field, const char *text)
{
    const char *p = text;

    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        char *line = strndup(p, len);
        int rc;

        if (line == NULL)
            return CP_ENOMEM;
        rc = cp_form_field_add_value(field, line);
        free(line);
        if (rc != 0)
            return rc;
        p += len + (nl != NULL);
    }
    return 0;
}

int
cp_form_field_add_option(xmpp_stanza_t *field, const char *label, const char *value)
{
    xmpp_stanza_t *opt = cp_stanza_add(field, "option", NULL);

    if (opt == NULL)
        return CP_ENOMEM;
    if (label != NULL && xmpp_stanza_set_attribute(opt, "label", label) != XMPP_EOK)
        return CP_ENOMEM;
    return cp_stanza_add_text(opt, "value", value);
}

int
cp_form_field_set_required(xmpp_stanza_t *field)
{
    return cp_stanza_add(field, "required", NULL) != NULL ? 0 : CP_ENOMEM;
}

xmpp_stanza_t *
cp_form_add_reported(xmpp_stanza_t *form)
{
    return cp_stanza_add(form, "reported", NULL);
}

xmpp_stanza_t *
cp_form_add_item(xmpp_stanza_t *form)
{
    return cp_stanza_add(form, "item", NULL);
}

int
cp_form_text_item(struct cp_xml *b, const char *const *vars, const char *const *values, size_t n)
{
    size_t i;

    cp_xml_raw(b, "<item>", 6);
    for (i = 0; i < n; i++) {
        cp_xml_raw(b, "<field var=\"", 12);
        cp_xml_text(b, vars[i]);
        cp_xml_raw(b, "\">", 2);
        cp_xml_element(b, "value", values[i]);
        cp_xml_raw(b, "</field>", 8);
    }
    return cp_xml_raw(b, "</item>", 7);
}

int
cp_form_text_value(struct cp_xml *b, const char *value)
{
    return cp_xml_element(b, "value", value);
}

xmpp_stanza_t *
cp_form_find(xmpp_stanza_t *parent)
{
    return xmpp_stanza_get_child_by_name_and_ns(parent, "x", CP_FORMS_NS);
}

const char *
cp_form_type(xmpp_stanza_t *form)
{
    return xmpp_stanza_get_type(form);
}

xmpp_stanza_t *
cp_form_get_field(xmpp_stanza_t *form, const char *var)
{
    xmpp_stanza_t *c;

    for (c = xmpp_stanza_get_children(form); c != NULL; c = xmpp_stanza_get_next(c)) {
        const char *name = xmpp_stanza_get_name(c);
        const char *v;

        if (!xmpp_stanza_is_tag(c) || name == NULL || strcmp(name, "field") != 0)
            continue;
        v = xmpp_stanza_get_attribute(c, "var");
        if (v != NULL && strcmp(v, var) == 0)
            return c;
    }
    return NULL;
}

/* The concatenated character data of EL: a parser may split one text into several nodes.
 * Returns a malloc'd string (caller frees), NULL on ENOMEM. */
static char *
text_of(xmpp_stanza_t *el)
{
    xmpp_stanza_t *c;
    size_t len = 0;
    char *out;

    for (c = xmpp_stanza_get_children(el); c != NULL; c = xmpp_stanza_get_next(c))
        if (xmpp_stanza_is_text(c))
            len += strlen(xmpp_stanza_get_text_ptr(c));
    out = malloc(len + 1);
    if (out == NULL)
        return NULL;
    len = 0;
    for (c = xmpp_stanza_get_children(el); c != NULL; c = xmpp_stanza_get_next(c)) {
        if (xmpp_stanza_is_text(c)) {
            const char *t = xmpp_stanza_get_text_ptr(c);
            size_t tl = strlen(t);

            memcpy(out + len, t, tl);
            len += tl;
        }
    }
    out[len] = '\0';
    return out;
}

static bool
is_value(xmpp_stanza_t *el)
{
    const char *name = xmpp_stanza_get_name(el);

    return xmpp_stanza_is_tag(el) && name != NULL && strcmp(name, "value") == 0;
}

static int
count_values(xmpp_stanza_t *field)
{
    xmpp_stanza_t *c;
    int n = 0;

    for (c = xmpp_stanza_get_children(field); c != NULL; c = xmpp_stanza_get_next(c))
        n += is_value(c);
    return n;
}

int
cp_form_get_single(xmpp_stanza_t *form, const char *var, char **out)
{
    xmpp_stanza_t *field = cp_form_get_field(form, var);
    xmpp_stanza_t *c;

    if (field == NULL)
        return CP_ENOTFOUND;
    switch (count_values(field)) {
    case 0:
        return CP_ENOTFOUND;
    case 1:
        break;
    default:
        return CP_EINVAL;
    }
    for (c = xmpp_stanza_get_children(field); !is_value(c); c = xmpp_stanza_get_next(c))
        ;
    *out = text_of(c);
    return *out != NULL ? 0 : CP_ENOMEM;
}

int
cp_form_get_bool(xmpp_stanza_t *form, const char *var, bool *out)
{
    char *text;
    int rc = cp_form_get_single(form, var, &text);

    if (rc != 0)
        return rc;
    if (strcmp(text, "1") == 0 || strcmp(text, "true") == 0)
        *out = true;
    else if (strcmp(text, "0") == 0 || strcmp(text, "false") == 0)
        *out = false;
    else
        rc = CP_EINVAL;
    free(text);
    return rc;
}

/* Appends a copy of S[0..LEN) (without a trailing CR) to the growing array *LINES. */
static int
push_line(char ***lines, size_t *n, size_t *cap, const char *s, size_t len)
{
    if (len > 0 && s[len - 1] == '\r')
        len--;
    if (*n == *cap) {
        size_t ncap = *cap != 0 ? *cap * 2 : 64;
        char **grown = realloc(*lines, ncap * sizeof(*grown));

        if (grown == NULL)
            return CP_ENOMEM;
        *lines = grown;
        *cap = ncap;
    }
    (*lines)[*n] = strndup(s, len);
    if ((*lines)[*n] == NULL)
        return CP_ENOMEM;
    (*n)++;
    return 0;
}

/* Splits one <value/>'s TEXT at newlines onto *LINES; a final newline adds no empty line. */
static int
split_value(const char *text, size_t max_lines, char ***lines, size_t *n, size_t *cap)
{
    const char *p = text;

    do {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        int rc;

        if (max_lines != 0 && *n >= max_lines)
            return CP_EINVAL;
        rc = push_line(lines, n, cap, p, len);
        if (rc != 0)
            return rc;
        p += len + (nl != NULL);
    } while (*p != '\0');
    return 0;
}

int
cp_form_get_lines(xmpp_stanza_t *form, const char *var, size_t max_lines, char ***lines, size_t *n)
{
    xmpp_stanza_t *field = cp_form_get_field(form, var);
    xmpp_stanza_t *c;
    size_t cap = 0;
    int rc = 0;

    *lines = NULL;
    *n = 0;
    if (field == NULL)
        return CP_ENOTFOUND;
    for (c = xmpp_stanza_get_children(field); c != NULL && rc == 0; c = xmpp_stanza_get_next(c)) {
        char *text;

        if (!is_value(c))
            continue;
        text = text_of(c);
        if (text == NULL) {
            rc = CP_ENOMEM;
            break;
        }
        rc = split_value(text, max_lines, lines, n, &cap);
        free(text);
    }
    if (rc != 0) {
        cp_form_lines_free(*lines, *n);
        *lines = NULL;
        *n = 0;
    }
    return rc;
}

void
cp_form_lines_free(char **lines, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}
