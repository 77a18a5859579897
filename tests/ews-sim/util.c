/* ews-sim: small helpers (logging, memory, XML escaping, base64, time, a string map). */
#include "sim.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <libxml/parser.h>

void
sim_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ews-sim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void
sim_debug(const char *fmt, ...)
{
    va_list ap;
    if (!g_sim.verbose)
        return;
    va_start(ap, fmt);
    fputs("ews-sim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* A simulator out of memory cannot simulate anything: stop at once. */
static void
oom(void)
{
    fputs("ews-sim: out of memory\n", stderr);
    abort();
}

/* Returns n bytes the caller frees. */
void *
sim_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom();
    return p;
}

/* Returns zeroed memory the caller frees. */
void *
sim_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom();
    return p;
}

/* Takes p, returns the resized block the caller frees. */
void *
sim_xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        oom();
    return p;
}

/* Returns a copy the caller frees (NULL for NULL). */
char *
sim_xstrdup(const char *s)
{
    char *d;
    if (!s)
        return NULL;
    d = strdup(s);
    if (!d)
        oom();
    return d;
}

void
sim_xml_escape(struct evbuffer *out, const char *s)
{
    const char *p = s, *run = s;
    if (!s)
        return;
    for (; *p; p++) {
        const char *rep = NULL;
        switch (*p) {
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '&':
            rep = "&amp;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&apos;";
            break;
        default:
            break;
        }
        if (rep) {
            evbuffer_add(out, run, (size_t)(p - run));
            evbuffer_add(out, rep, strlen(rep));
            run = p + 1;
        }
    }
    evbuffer_add(out, run, (size_t)(p - run));
}

void
sim_lower(char *s)
{
    for (; s && *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

void
sim_b64(const void *in, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

int
sim_unb64(const char *in, unsigned char *out, size_t cap)
{
    size_t len = strlen(in), pad = 0;
    unsigned char *tmp;
    int n;
    if (len == 0 || len % 4 != 0 || len / 4 * 3 > cap + 2)
        return -1;
    if (in[len - 1] == '=')
        pad++;
    if (len > 1 && in[len - 2] == '=')
        pad++;
    tmp = sim_xmalloc(len / 4 * 3 + 1);
    n = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)len);
    if (n < 0 || (size_t)n - pad > cap) {
        free(tmp);
        return -1;
    }
    n -= (int)pad;
    memcpy(out, tmp, (size_t)n);
    free(tmp);
    return n;
}

void
sim_fmt_time(int64_t t, char *out, size_t cap, int utc_z)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, cap, utc_z ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%dT%H:%M:%S", &tm);
}

int
sim_parse_time(const char *s, int64_t *out)
{
    struct tm tm;
    int y, mo, d, h, mi, sec, n = 0;
    const char *p;
    long off = 0;
    memset(&tm, 0, sizeof(tm));
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6)
        return -1;
    p = s + n;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++)
            ;
    if (*p == '+' || *p == '-') {
        int oh, om;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
            return -1;
        off = (oh * 60L + om) * 60L * (*p == '+' ? 1 : -1);
    } else if (*p != 'Z' && *p != '\0') {
        return -1;
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *out = (int64_t)timegm(&tm) - off;
    return 0;
}

int64_t
sim_now(void)
{
    return (int64_t)time(NULL);
}

double
sim_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Open addressing with linear probing; keys are never removed (mailboxes are not deleted). */
struct sim_map {
    char **keys;
    uint32_t *vals;
    size_t cap, used;
};

static uint64_t
hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Returns an empty map the caller frees with sim_map_free. */
struct sim_map *
sim_map_new(void)
{
    struct sim_map *m = sim_xcalloc(1, sizeof(*m));
    m->cap = 1024;
    m->keys = sim_xcalloc(m->cap, sizeof(char *));
    m->vals = sim_xcalloc(m->cap, sizeof(uint32_t));
    return m;
}

void
sim_map_free(struct sim_map *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->vals);
    free(m);
}

static size_t
map_slot(const struct sim_map *m, const char *key)
{
    size_t j = hash_str(key) & (m->cap - 1);
    while (m->keys[j] && strcmp(m->keys[j], key) != 0)
        j = (j + 1) & (m->cap - 1);
    return j;
}

static void
map_grow(struct sim_map *m)
{
    char **keys = m->keys;
    uint32_t *vals = m->vals;
    size_t cap = m->cap;
    m->cap *= 2;
    m->keys = sim_xcalloc(m->cap, sizeof(char *));
    m->vals = sim_xcalloc(m->cap, sizeof(uint32_t));
    for (size_t i = 0; i < cap; i++) {
        if (keys[i]) {
            size_t j = map_slot(m, keys[i]);
            m->keys[j] = keys[i];
            m->vals[j] = vals[i];
        }
    }
    free(keys);
    free(vals);
}

void
sim_map_put(struct sim_map *m, const char *key, uint32_t val)
{
    size_t j;
    if ((m->used + 1) * 2 > m->cap)
        map_grow(m);
    j = map_slot(m, key);
    if (!m->keys[j]) {
        m->keys[j] = sim_xstrdup(key);
        m->used++;
    }
    m->vals[j] = val;
}

uint32_t
sim_map_get(const struct sim_map *m, const char *key)
{
    size_t j = map_slot(m, key);
    return m->keys[j] ? m->vals[j] : SIM_NONE;
}

/* Parses an XML document from the network. A DOCTYPE is refused before parsing (no entity
 * expansion, no DTD), the network is never used, and libxml2's default depth limit applies.
 * Returns a document the caller frees with xmlFreeDoc, or NULL. */
xmlDocPtr
sim_xml_parse(const char *buf, size_t n)
{
    if (!buf || n == 0 || n > INT_MAX || memmem(buf, n, "<!DOCTYPE", 9))
        return NULL;
    return xmlReadMemory(buf, (int)n, "message.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOCDATA);
}
