/* Serialised XML as text, linear in its size; see xmltext.h. */
#include "xmltext.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "stanza.h"

static int reserve(struct cp_xml *b, size_t more);

/* Makes room for MORE bytes and a NUL, doubling the buffer: appends are amortised O(1). */
static int
reserve(struct cp_xml *b, size_t more)
{
    size_t cap = b->cap != 0 ? b->cap : 256;
    char *grown;

    if (b->failed)
        return CP_ENOMEM;
    if (b->len + more < b->cap)
        return 0;
    while (cap <= b->len + more) {
        if (cap > SIZE_MAX / 2)
            goto fail;
        cap *= 2;
    }
    grown = realloc(b->buf, cap);
    if (grown == NULL)
        goto fail;
    b->buf = grown;
    b->cap = cap;
    return 0;
fail:
    b->failed = true;
    return CP_ENOMEM;
}

int
cp_xml_raw(struct cp_xml *b, const char *s, size_t len)
{
    if (reserve(b, len) != 0)
        return CP_ENOMEM;
    memcpy(b->buf + b->len, s, len);
    b->len += len;
    b->buf[b->len] = '\0';
    return 0;
}

int
cp_xml_text(struct cp_xml *b, const char *text)
{
    const char *p = text, *run = text;
    int rc = 0;

    for (; *p != '\0' && rc == 0; p++) {
        const char *ent;

        switch (*p) {
        case '&':
            ent = "&amp;";
            break;
        case '<':
            ent = "&lt;";
            break;
        case '>':
            ent = "&gt;";
            break;
        case '"':
            ent = "&quot;";
            break;
        case '\'':
            ent = "&apos;";
            break;
        default:
            continue;
        }
        rc = cp_xml_raw(b, run, (size_t)(p - run));
        if (rc == 0)
            rc = cp_xml_raw(b, ent, strlen(ent));
        run = p + 1;
    }
    return rc != 0 ? rc : cp_xml_raw(b, run, (size_t)(p - run));
}

int
cp_xml_element(struct cp_xml *b, const char *name, const char *text)
{
    size_t n = strlen(name);

    cp_xml_raw(b, "<", 1);
    cp_xml_raw(b, name, n);
    cp_xml_raw(b, ">", 1);
    cp_xml_text(b, text);
    cp_xml_raw(b, "</", 2);
    cp_xml_raw(b, name, n);
    return cp_xml_raw(b, ">", 1);
}

void
cp_xml_free(struct cp_xml *b)
{
    free(b->buf);
    memset(b, 0, sizeof(*b));
}

int
cp_stanza_add_slot(xmpp_stanza_t *parent)
{
    return cp_stanza_add(parent, CP_XML_SLOT, NULL) != NULL ? 0 : CP_ENOMEM;
}

/* libstrophe escapes '<' in every text and attribute value it renders, so the slot's markup
 * can only come from the slot element itself. */
char *
cp_stanza_to_text_with(xmpp_stanza_t *stanza, const struct cp_xml *slot, size_t *len)
{
    static const char mark[] = "<" CP_XML_SLOT "/>";
    struct cp_xml out = {0};
    char *text;
    const char *at;
    size_t tlen;

    if (xmpp_stanza_to_text(stanza, &text, &tlen) != XMPP_EOK)
        return NULL;
    at = strstr(text, mark);
    if (at == NULL) {
        cp_xml_raw(&out, text, tlen);
    } else {
        cp_xml_raw(&out, text, (size_t)(at - text));
        if (slot != NULL && slot->len > 0)
            cp_xml_raw(&out, slot->buf, slot->len);
        cp_xml_raw(&out, at + strlen(mark), tlen - (size_t)(at - text) - strlen(mark));
    }
    xmpp_free(xmpp_stanza_get_context(stanza), text);
    if (out.failed || (slot != NULL && slot->failed)) {
        cp_xml_free(&out);
        return NULL;
    }
    *len = out.len;
    return out.buf;
}
