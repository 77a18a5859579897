/* ews/stream_split.c: splits a GetStreamingEvents HTTP body (one long response holding
 * envelope after envelope: heartbeats, notifications, a final ConnectionStatus Closed) into
 * envelopes as their end tags arrive, whatever the chunk boundaries.
 *
 * A small tokenizer tracks element depth byte by byte (start/end/empty tags, quoted
 * attribute values, comments, CDATA, processing instructions); when the root element closes,
 * the bytes since the envelope began are parsed with the safe reader. Only the current
 * envelope is buffered, never more than max_envelope bytes. */
#include <stdlib.h>
#include <string.h>

#include "ews_xml_int.h"

enum split_state {
    ST_TEXT,       /* between tags */
    ST_LT,         /* just read '<' */
    ST_START,      /* in a start or empty-element tag */
    ST_QUOTE,      /* in a quoted attribute value of a start tag */
    ST_END,        /* in an end tag */
    ST_PI,         /* in <? ... ?> */
    ST_BANG,       /* read "<!" */
    ST_BANG_DASH,  /* read "<!-" */
    ST_COMMENT,    /* in <!-- ... --> */
    ST_CDATA_OPEN, /* matching "<![CDATA[" */
    ST_CDATA,      /* in <![CDATA[ ... ]]> */
};

struct ews_stream {
    char *buf;
    size_t len, cap, max;
    enum split_state state;
    char quote;     /* the quote that opened the attribute value */
    char prev;      /* previous significant byte inside a tag ('/' of "/>") */
    char tail[2];   /* last two bytes, for "?>", "-->", "]]>" */
    unsigned match; /* bytes of "CDATA[" matched */
    int depth;
    bool started; /* bytes of an envelope are being collected */
    unsigned bom; /* bytes of a byte order mark matched between envelopes */
    int dead;     /* the negative code that killed the stream, or 0 */
};

static int append(struct ews_stream *s, const char *p, size_t n);
static int emit(struct ews_stream *s, ews_stream_cb cb, void *ud);
static int step(struct ews_stream *s, char c, bool *complete);

struct ews_stream *
ews_stream_new(size_t max_envelope)
{
    struct ews_stream *s = calloc(1, sizeof *s);
    if (s)
        s->max = max_envelope ? max_envelope : 1024 * 1024;
    return s;
}

void
ews_stream_free(struct ews_stream *s)
{
    if (!s)
        return;
    free(s->buf);
    free(s);
}

size_t
ews_stream_pending(const struct ews_stream *s)
{
    return s->len;
}

static int
append(struct ews_stream *s, const char *p, size_t n)
{
    if (n == 0)
        return 0;
    if (s->len + n > s->max)
        return EWS_E_TOO_LARGE;
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n)
            cap *= 2;
        if (cap > s->max)
            cap = s->max;
        char *b = realloc(s->buf, cap);
        if (!b)
            return EWS_E_NOMEM;
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    return 0;
}

static int
emit(struct ews_stream *s, ews_stream_cb cb, void *ud)
{
    struct ews_stream_frame frame;
    ews_parse_streaming_frame(s->buf, s->len, &frame);
    s->len = 0;
    s->started = false;
    int rc = cb ? cb(&frame, ud) : 0;
    ews_stream_frame_free(&frame);
    return rc;
}

/* Advances the tokenizer by one byte. Returns 0 or a negative code; *complete is set when
 * this byte closed the root element. */
static int
step(struct ews_stream *s, char c, bool *complete)
{
    char t0 = s->tail[0], t1 = s->tail[1];
    s->tail[0] = t1;
    s->tail[1] = c;
    switch (s->state) {
    case ST_TEXT:
        if (c == '<')
            s->state = ST_LT;
        else if (s->depth == 0 && !strchr(" \t\r\n", c))
            return EWS_E_MALFORMED;
        break;
    case ST_LT:
        s->prev = 0;
        s->state = c == '?' ? ST_PI : c == '!' ? ST_BANG : c == '/' ? ST_END : ST_START;
        break;
    case ST_START:
        if (c == '"' || c == '\'') {
            s->quote = c;
            s->state = ST_QUOTE;
        } else if (c == '>') {
            s->state = ST_TEXT;
            if (s->prev != '/' && ++s->depth > EWS_XML_MAX_DEPTH)
                return EWS_E_UNSAFE;
            *complete = s->depth == 0;
        } else if (!strchr(" \t\r\n", c)) {
            s->prev = c;
        }
        break;
    case ST_QUOTE:
        if (c == s->quote) {
            s->state = ST_START;
            s->prev = c;
        }
        break;
    case ST_END:
        if (c == '>') {
            s->state = ST_TEXT;
            if (--s->depth < 0)
                return EWS_E_MALFORMED;
            *complete = s->depth == 0;
        }
        break;
    case ST_PI:
        if (c == '>' && t1 == '?')
            s->state = ST_TEXT;
        break;
    case ST_BANG:
        if (c == '-') {
            s->state = ST_BANG_DASH;
        } else if (c == '[' && s->depth > 0) {
            s->state = ST_CDATA_OPEN;
            s->match = 0;
        } else {
            /* <!DOCTYPE or another declaration: never in an EWS answer, and the
             * door to entity attacks. */
            return EWS_E_UNSAFE;
        }
        break;
    case ST_BANG_DASH:
        if (c != '-')
            return EWS_E_MALFORMED;
        s->state = ST_COMMENT;
        s->tail[0] = s->tail[1] = 0;
        break;
    case ST_COMMENT:
        if (c == '>' && t1 == '-' && t0 == '-')
            s->state = ST_TEXT;
        break;
    case ST_CDATA_OPEN:
        if (c != "CDATA["[s->match])
            return EWS_E_MALFORMED;
        if (++s->match == 6) {
            s->state = ST_CDATA;
            s->tail[0] = s->tail[1] = 0;
        }
        break;
    case ST_CDATA:
        if (c == '>' && t1 == ']' && t0 == ']')
            s->state = ST_TEXT;
        break;
    }
    return 0;
}

int
ews_stream_feed(struct ews_stream *s, const char *chunk, size_t len, ews_stream_cb cb, void *ud)
{
    if (s->dead)
        return s->dead;
    size_t seg = 0; /* first byte of chunk not yet in s->buf */
    for (size_t i = 0; i < len; i++) {
        if (!s->started) {
            /* Whitespace and a UTF-8 byte order mark may precede an envelope. */
            if (s->state == ST_TEXT &&
                (strchr(" \t\r\n", chunk[i]) || chunk[i] == "\xEF\xBB\xBF"[s->bom])) {
                s->bom = chunk[i] == "\xEF\xBB\xBF"[s->bom] ? (s->bom + 1) % 3 : 0;
                seg = i + 1;
                continue;
            }
            s->started = true;
            seg = i;
        }
        bool complete = false;
        int rc = step(s, chunk[i], &complete);
        /* Checked per byte so that a huge chunk fails at the bound, not after it. */
        if (!rc && s->len + (i - seg + 1) > s->max)
            rc = EWS_E_TOO_LARGE;
        if (!rc && complete) {
            rc = append(s, chunk + seg, i - seg + 1);
            seg = i + 1;
            if (!rc) {
                int stop = emit(s, cb, ud);
                if (stop)
                    return stop;
            }
        }
        if (rc) {
            s->dead = rc;
            s->len = 0;
            return rc;
        }
    }
    if (s->started) {
        int rc = append(s, chunk + seg, len - seg);
        if (rc) {
            s->dead = rc;
            s->len = 0;
            return rc;
        }
    }
    return 0;
}
