/* A streaming XML tokenizer that frames stanzas: one pass over the bytes, one switch per byte,
 * nothing allocated. See guard_scan.h. */
#include "guard_scan.h"

#include <string.h>

enum {
    S_TEXT,       /* character data */
    S_LT,         /* after '<' */
    S_STAG_NAME,  /* element name of a start tag */
    S_STAG,       /* inside a start tag, between attributes */
    S_ATTR_NAME,  /* attribute name */
    S_ATTR_EQ,    /* after an attribute name, before '=' */
    S_ATTR_QUOTE, /* after '=', before the opening quote */
    S_ATTR_VALUE, /* inside a quoted value: '>' and '/' mean nothing here */
    S_SLASH,      /* after '/' in a start tag: an empty element if '>' follows */
    S_ETAG,       /* an end tag */
    S_BANG,       /* after "<!" */
    S_BANG_DASH,  /* after "<!-" */
    S_BANG_CDATA, /* inside "<![CDATA[", sub = bytes matched */
    S_COMMENT,    /* sub = trailing dashes seen */
    S_CDATA,      /* sub = trailing ']' seen */
    S_PI,         /* a processing instruction (the XML declaration), sub = after '?' */
    S_DECL,       /* any other "<!...>" (a DOCTYPE, which XMPP forbids): skipped to '>' */
};

static const char cdata_open[] = "[CDATA["; /* after "<!" */

static void
reset_stanza(struct cp_scan *s)
{
    memset(&s->st, 0, sizeof(s->st));
    s->in_stanza = false;
    s->over = false;
    s->root_tag = false;
    s->prev_cr = false;
    s->capture = NULL;
}

void
cp_scan_reset(struct cp_scan *s)
{
    s->state = S_TEXT;
    s->sub = 0;
    s->quote = 0;
    s->depth = 0;
    s->lt_pending = false;
    s->attr_len = 0;
    reset_stanza(s);
}

void
cp_scan_init(struct cp_scan *s, const struct cp_scan_limits *limits, const struct cp_scan_ops *ops,
             void *ud)
{
    s->limits = *limits;
    s->ops = ops;
    s->ud = ud;
    cp_scan_reset(s);
}

/* Hands N bytes to pass() or hold(), counting a stanza's bytes even once it is over. */
static void
emit(struct cp_scan *s, const char *p, size_t n)
{
    if (n == 0)
        return;
    if (!s->in_stanza) {
        s->ops->pass(s->ud, p, n);
        return;
    }
    s->st.bytes += n;
    if (s->st.bytes > s->limits.max_bytes)
        s->over = true;
    if (!s->over)
        s->ops->hold(s->ud, p, n);
}

static void
count_node(struct cp_scan *s)
{
    if (++s->st.nodes > s->limits.max_nodes)
        s->over = true;
}

/* libstrophe adds a text child, or grows its text, at each line break and reference that
 * expat reports apart: counted like elements, since both cost it a walk. */
static void
text_byte(struct cp_scan *s, unsigned char c, bool references)
{
    if (c == '\n') {
        if (!s->prev_cr)
            count_node(s);
    } else if (c == '\r' || (c == '&' && references)) {
        count_node(s);
    }
    s->prev_cr = c == '\r';
}

/* A markup token ended at DATA[I]: a stanza is complete when the depth is back to the stream's.
 * Returns the start of the next segment. */
static size_t
token_done(struct cp_scan *s, const char *data, size_t seg, size_t i)
{
    s->state = S_TEXT;
    if (!s->in_stanza || s->depth > 1)
        return seg;
    emit(s, data + seg, i + 1 - seg);
    if (s->over)
        s->ops->drop(s->ud, &s->st);
    else
        s->ops->commit(s->ud);
    reset_stanza(s);
    return i + 1;
}

static void
capture_byte(struct cp_scan *s, char c)
{
    if (s->capture_len + 1 < s->capture_max)
        s->capture[s->capture_len++] = c;
    else
        s->st.truncated = true;
}

/* Chooses where the value of the attribute just named goes: only the stanza's own from, to, id
 * and type are kept. */
static void
start_value(struct cp_scan *s)
{
    static const struct {
        const char *name;
        size_t off, max, flag;
    } wanted[] = {
        {"from", offsetof(struct cp_scan_stanza, from), CP_SCAN_JID_MAX,
         offsetof(struct cp_scan_stanza, has_from)},
        {"to", offsetof(struct cp_scan_stanza, to), CP_SCAN_JID_MAX,
         offsetof(struct cp_scan_stanza, has_to)},
        {"id", offsetof(struct cp_scan_stanza, id), CP_SCAN_ID_MAX,
         offsetof(struct cp_scan_stanza, has_id)},
        {"type", offsetof(struct cp_scan_stanza, type), CP_SCAN_TYPE_MAX,
         offsetof(struct cp_scan_stanza, has_type)},
    };

    s->capture = NULL;
    if (!s->root_tag)
        return;
    for (size_t k = 0; k < sizeof(wanted) / sizeof(wanted[0]); k++) {
        if (s->attr_len == strlen(wanted[k].name) &&
            memcmp(s->attr, wanted[k].name, s->attr_len) == 0) {
            s->capture = (char *)&s->st + wanted[k].off;
            s->capture_max = wanted[k].max;
            s->capture_len = 0;
            *(bool *)((char *)&s->st + wanted[k].flag) = true;
            return;
        }
    }
}

static void
end_value(struct cp_scan *s)
{
    if (s->capture)
        s->capture[s->capture_len] = '\0';
    s->capture = NULL;
}

static size_t
end_start_tag(struct cp_scan *s, const char *data, size_t seg, size_t i, bool empty)
{
    if (!empty)
        s->depth++;
    s->root_tag = false;
    return token_done(s, data, seg, i);
}

static bool
is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

void
cp_scan_feed(struct cp_scan *s, const char *data, size_t len)
{
    size_t seg = 0; /* the first byte not yet handed to pass() or hold() */

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)data[i];

        if (s->lt_pending) {
            /* The '<' held back at depth 1 opens a stanza unless it opens an end tag (the
             * stream's), a comment, CDATA or a processing instruction. */
            s->lt_pending = false;
            if (c != '/' && c != '!' && c != '?') {
                s->in_stanza = true;
                s->root_tag = true;
            }
            emit(s, "<", 1);
            seg = i;
        }
        switch (s->state) {
        case S_TEXT:
            if (c == '<') {
                s->state = S_LT;
                if (!s->in_stanza && s->depth == 1) {
                    emit(s, data + seg, i - seg);
                    seg = i + 1;
                    s->lt_pending = true;
                }
            } else if (s->in_stanza) {
                text_byte(s, c, true);
            }
            break;
        case S_LT:
            if (c == '/') {
                s->state = S_ETAG;
            } else if (c == '!') {
                s->state = S_BANG;
            } else if (c == '?') {
                s->state = S_PI;
                s->sub = 0;
            } else {
                if (s->in_stanza)
                    count_node(s);
                s->state = S_STAG_NAME;
                if (s->root_tag)
                    s->st.name[0] = (char)c;
                s->sub = 1; /* name bytes so far */
            }
            break;
        case S_STAG_NAME:
            if (is_space(c)) {
                s->state = S_STAG;
            } else if (c == '/') {
                s->state = S_SLASH;
            } else if (c == '>') {
                seg = end_start_tag(s, data, seg, i, false);
            } else if (s->root_tag) {
                if (s->sub + 1 < CP_SCAN_NAME_MAX)
                    s->st.name[s->sub++] = (char)c;
                else
                    s->st.truncated = true;
            }
            break;
        case S_STAG:
        case S_ATTR_EQ:
            if (is_space(c)) {
                break;
            } else if (c == '/') {
                s->state = S_SLASH;
            } else if (c == '>') {
                seg = end_start_tag(s, data, seg, i, false);
            } else if (c == '=' && s->state == S_ATTR_EQ) {
                start_value(s);
                s->state = S_ATTR_QUOTE;
            } else {
                s->state = S_ATTR_NAME;
                s->attr[0] = (char)c;
                s->attr_len = 1;
            }
            break;
        case S_ATTR_NAME:
            if (c == '=') {
                start_value(s);
                s->state = S_ATTR_QUOTE;
            } else if (is_space(c)) {
                s->state = S_ATTR_EQ;
            } else if (c == '>') {
                seg = end_start_tag(s, data, seg, i, false);
            } else if (c == '/') {
                s->state = S_SLASH;
            } else if (s->attr_len < sizeof(s->attr)) {
                s->attr[s->attr_len++] = (char)c; /* longer names match nothing we keep */
            }
            break;
        case S_ATTR_QUOTE:
            if (c == '\'' || c == '"') {
                s->quote = (char)c;
                s->state = S_ATTR_VALUE;
            } else if (c == '>') {
                s->capture = NULL;
                seg = end_start_tag(s, data, seg, i, false);
            } else if (!is_space(c)) {
                s->capture = NULL;
                s->state = S_STAG; /* an unquoted value: not XML, libstrophe refuses it */
            }
            break;
        case S_ATTR_VALUE:
            if (c == (unsigned char)s->quote) {
                end_value(s);
                s->state = S_STAG;
            } else if (s->capture) {
                capture_byte(s, (char)c);
            }
            break;
        case S_SLASH:
            if (c == '>')
                seg = end_start_tag(s, data, seg, i, true);
            else
                s->state = S_STAG;
            break;
        case S_ETAG:
            if (c == '>') {
                if (s->depth > 0)
                    s->depth--;
                seg = token_done(s, data, seg, i);
            }
            break;
        case S_BANG:
            if (c == '-') {
                s->state = S_BANG_DASH;
            } else if (c == (unsigned char)cdata_open[0]) {
                s->state = S_BANG_CDATA;
                s->sub = 1;
            } else {
                s->state = S_DECL;
                if (c == '>')
                    seg = token_done(s, data, seg, i);
            }
            break;
        case S_BANG_DASH:
            s->state = c == '-' ? S_COMMENT : S_DECL;
            s->sub = 0;
            if (c == '>')
                seg = token_done(s, data, seg, i);
            break;
        case S_BANG_CDATA:
            if (c == (unsigned char)cdata_open[s->sub]) {
                if (++s->sub == (int)sizeof(cdata_open) - 1) {
                    s->state = S_CDATA;
                    s->sub = 0;
                }
            } else {
                s->state = S_DECL;
                if (c == '>')
                    seg = token_done(s, data, seg, i);
            }
            break;
        case S_COMMENT:
            if (c == '>' && s->sub >= 2)
                seg = token_done(s, data, seg, i);
            else
                s->sub = c == '-' ? s->sub + (s->sub < 2) : 0;
            break;
        case S_CDATA:
            if (c == '>' && s->sub >= 2) {
                seg = token_done(s, data, seg, i);
            } else {
                s->sub = c == ']' ? s->sub + (s->sub < 2) : 0;
                if (s->in_stanza)
                    text_byte(s, c, false);
            }
            break;
        case S_PI:
            if (c == '>' && s->sub)
                seg = token_done(s, data, seg, i);
            else
                s->sub = c == '?';
            break;
        case S_DECL:
            if (c == '>')
                seg = token_done(s, data, seg, i);
            break;
        }
    }
    emit(s, data + seg, len - seg);
}

/* Appends code point CP as UTF-8; returns the bytes written, 0 when it does not fit or XML 1.0
 * does not allow it (a reply must not carry what the server would refuse). */
static size_t
put_utf8(unsigned long cp, char *out, size_t room)
{
    bool allowed = cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
                   (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
    size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (!allowed || n > room)
        return 0;
    if (n == 1) {
        out[0] = (char)cp;
        return 1;
    }
    for (size_t k = n - 1; k > 0; k--) {
        out[k] = (char)(0x80 | (cp & 0x3F));
        cp >>= 6;
    }
    out[0] = (char)((n == 2 ? 0xC0 : n == 3 ? 0xE0 : 0xF0) | cp);
    return n;
}

/* Decodes the reference starting after '&' at IN up to its ';'. Returns the code point, or
 * ~0ul when it is malformed; *LEN gets the bytes consumed after '&'. */
static unsigned long
reference(const char *in, size_t *len)
{
    static const struct {
        const char *name;
        char c;
    } named[] = {{"lt;", '<'}, {"gt;", '>'}, {"amp;", '&'}, {"quot;", '"'}, {"apos;", '\''}};
    const char *semi = strchr(in, ';');
    if (!semi)
        return ~0ul;
    *len = (size_t)(semi - in) + 1;
    for (size_t k = 0; k < sizeof(named) / sizeof(named[0]); k++)
        if (strncmp(in, named[k].name, *len) == 0 && strlen(named[k].name) == *len)
            return (unsigned char)named[k].c;
    if (in[0] != '#')
        return ~0ul;
    bool hex = in[1] == 'x';
    const char *p = in + 1 + hex;
    unsigned long cp = 0;
    if (p == semi)
        return ~0ul;
    for (; p < semi; p++) {
        int d = *p >= '0' && *p <= '9'          ? *p - '0'
                : hex && *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
                : hex && *p >= 'A' && *p <= 'F' ? *p - 'A' + 10
                                                : -1;
        if (d < 0 || cp > 0x10FFFF)
            return ~0ul;
        cp = cp * (hex ? 16 : 10) + (unsigned long)d;
    }
    return cp;
}

int
cp_scan_unescape(const char *in, char *out, size_t outlen)
{
    size_t o = 0;
    if (outlen == 0)
        return -1;
    for (const char *p = in; *p;) {
        if (*p != '&') {
            if (o + 1 >= outlen)
                return -1;
            out[o++] = *p++;
            continue;
        }
        size_t len = 0;
        unsigned long cp = reference(p + 1, &len);
        size_t n = cp == ~0ul ? 0 : put_utf8(cp, out + o, outlen - 1 - o);
        if (n == 0)
            return -1;
        o += n;
        p += 1 + len;
    }
    out[o] = '\0';
    return 0;
}
