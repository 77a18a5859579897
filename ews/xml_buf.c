/* ews/xml_buf.c: the growing, escaping string buffer the request builders write into. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ews_xml_int.h"

static bool buf_reserve(struct ews_buf *b, size_t extra);

static bool
buf_reserve(struct ews_buf *b, size_t extra)
{
    if (b->failed)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void
ews_buf_puts(struct ews_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (!buf_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

void
ews_buf_printf(struct ews_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if (!buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void
ews_buf_put_escaped(struct ews_buf *b, const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        switch (*c) {
        case '&':
            ews_buf_puts(b, "&amp;");
            break;
        case '<':
            ews_buf_puts(b, "&lt;");
            break;
        case '>':
            ews_buf_puts(b, "&gt;");
            break;
        case '"':
            ews_buf_puts(b, "&quot;");
            break;
        case '\'':
            ews_buf_puts(b, "&apos;");
            break;
        default:
            /* XML 1.0 cannot carry these even as references: refuse the request
             * rather than send Exchange something it rejects. */
            if (*c < 0x20 && *c != '\t' && *c != '\n' && *c != '\r') {
                b->failed = true;
                return;
            }
            if (!buf_reserve(b, 1))
                return;
            b->p[b->len++] = (char)*c;
            b->p[b->len] = '\0';
        }
    }
}

char *
ews_buf_finish(struct ews_buf *b)
{
    if (b->failed || !b->p) {
        ews_buf_discard(b);
        return NULL;
    }
    char *p = b->p;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

void
ews_buf_discard(struct ews_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->failed = true;
}
