/* The stanza guard's scanner on tables of inputs: what it forwards (pass and committed stanzas,
 * in order) and what it drops must not depend on how the bytes are split, so every case is fed
 * whole, one byte at a time, split at every byte boundary, and in random chunks. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmpp/guard_scan.h"

#define HDR                                                                                        \
    "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "                         \
    "xmlns:stream='http://etherx.jabber.org/streams' id='abc' from='cal.test'>"

struct rec {
    char *out; /* what would reach libstrophe */
    size_t len, cap;
    char *held;
    size_t held_len, held_cap;
    char drops[512]; /* "name from to id type nodes bytes;" a drop */
    int commits;
};

static void
append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = realloc(*buf, *cap);
        cr_assert_not_null(*buf);
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
}

static void
on_pass(void *ud, const char *data, size_t len)
{
    struct rec *r = ud;
    cr_assert_eq(r->held_len, 0, "pass while a stanza is held");
    append(&r->out, &r->len, &r->cap, data, len);
}

static void
on_hold(void *ud, const char *data, size_t len)
{
    struct rec *r = ud;
    append(&r->held, &r->held_len, &r->held_cap, data, len);
}

static void
on_commit(void *ud)
{
    struct rec *r = ud;
    append(&r->out, &r->len, &r->cap, r->held ? r->held : "", r->held_len);
    r->held_len = 0;
    r->commits++;
}

static void
on_drop(void *ud, const struct cp_scan_stanza *st)
{
    struct rec *r = ud;
    size_t n = strlen(r->drops);
    snprintf(r->drops + n, sizeof(r->drops) - n, "%s %s %s %s %s %zu %zu%s;", st->name,
             st->has_from ? st->from : "-", st->has_to ? st->to : "-", st->has_id ? st->id : "-",
             st->has_type ? st->type : "-", st->nodes, st->bytes, st->truncated ? " T" : "");
    r->held_len = 0;
}

static const struct cp_scan_ops ops = {on_pass, on_hold, on_commit, on_drop};

struct scan_case {
    const char *in;
    size_t max_nodes, max_bytes;
    const char *out;   /* forwarded; NULL = the input unchanged */
    const char *drops; /* "" when nothing is dropped */
    int commits;
};

static const struct scan_case cases[] = {
    /* plain stream: stanzas, whitespace keep-alive, the end of the stream */
    {HDR "<presence from='a@x/r' to='cal.test'/> \n<iq type='get' id='1'><ping "
         "xmlns='urn:xmpp:ping'/></iq></stream:stream>",
     10, 1000, NULL, "", 2},
    /* '>' and '/' inside quoted attribute values, both quote kinds */
    {HDR "<message from=\"a@x\" x='1>2' y=\"a/>b\"><body z='<'>hi</body></message>", 2, 1000, NULL,
     "", 1},
    /* comments and CDATA holding markup, and a processing instruction inside a stanza */
    {HDR "<message><!-- </message> <x/> --><body><![CDATA[</message><a/><b/>]]></body>"
         "<?pi </message>?></message>",
     2, 1000, NULL, "", 1},
    /* a comment between stanzas passes */
    {HDR "<!-- note --><presence/>", 1, 1000, NULL, "", 1},
    /* one child too many: dropped with what an error reply needs; the next one passes */
    {HDR "<iq type='set' id='w1' from='eve@x/r' to='cal.test'><a/><b/><c/></iq>"
         "<presence/>",
     3, 1000, HDR "<presence/>", "iq eve@x/r cal.test w1 set 4 69;", 1},
    /* exactly at the bound passes */
    {HDR "<iq type='set' id='w1'><a/><b/></iq>", 3, 1000, NULL, "", 1},
    /* line breaks and references count as text pieces ("\r\n" once); in attributes they do not */
    {HDR "<message a='&amp;\n'><body>1\n2\r\n3&amp;4</body></message>", 5, 1000, NULL, "", 1},
    {HDR "<message><body>1\n2\r\n3&amp;4\r</body></message>", 5, 1000, HDR, "message - - - - 6 45;",
     0},
    /* line breaks inside CDATA count, '&' there is no reference */
    {HDR "<m><![CDATA[\n\n&&]]></m>", 3, 1000, NULL, "", 1},
    {HDR "<m><![CDATA[\n\n\n&&]]></m>", 3, 1000, HDR, "m - - - - 4 24;", 0},
    /* the size bound: a stanza of 29 bytes passes at 29, is dropped at 28 */
    {HDR "<message id='x'>abc</message>", 100, 29, NULL, "", 1},
    {HDR "<message id='x'>abc</message><presence/>", 100, 28, HDR "<presence/>",
     "message - - x - 1 29;", 1},
    /* a stanza with a prefix; attribute names merely starting like the wanted ones */
    {HDR "<c:iq xmlns:c='jabber:component:accept' fromx='no' from='yes' id='&apos;q'><a/></c:iq>",
     1, 1000, HDR, "c:iq yes - &apos;q - 2 86;", 0},
    /* a value too long to keep is reported truncated */
    {HDR "<iq type='a-type-longer-than-thirty-two-bytes-is-cut'><a/></iq>", 1, 1000, HDR,
     "iq - - - a-type-longer-than-thirty-two-b 2 63 T;", 0},
    /* deep nesting counts every element */
    {HDR "<a><b><c><d/></c></b></a><presence/>", 3, 1000, HDR "<presence/>", "a - - - - 4 25;", 1},
    /* a stream error is framed like a stanza (stream-level elements pass when within bounds) */
    {HDR "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
         "</stream:stream>",
     10, 1000, NULL, "", 1},
};

static void
check_rec(const struct scan_case *c, struct rec *r, const char *how)
{
    const char *want = c->out ? c->out : c->in;
    cr_expect_str_eq(r->out ? r->out : "", want, "%s: forwarded", how);
    cr_expect_str_eq(r->drops, c->drops, "%s: drops [%s]", how, r->drops);
    cr_expect_eq(r->commits, c->commits, "%s: commits %d", how, r->commits);
    cr_expect_eq(r->held_len, 0, "%s: nothing left held", how);
    free(r->out);
    free(r->held);
}

/* Feeds C split into chunks of the sizes NEXT() gives. */
static void
run(const struct scan_case *c, size_t (*next)(size_t at, void *arg), void *arg, const char *how)
{
    struct cp_scan_limits lim = {c->max_nodes, c->max_bytes};
    struct cp_scan s;
    struct rec r = {0};
    size_t len = strlen(c->in);

    cp_scan_init(&s, &lim, &ops, &r);
    for (size_t at = 0; at < len;) {
        size_t n = next(at, arg);
        if (n > len - at)
            n = len - at;
        cp_scan_feed(&s, c->in + at, n);
        at += n;
    }
    check_rec(c, &r, how);
}

static size_t
whole(size_t at, void *arg)
{
    (void)at;
    (void)arg;
    return SIZE_MAX;
}

static size_t
one(size_t at, void *arg)
{
    (void)at;
    (void)arg;
    return 1;
}

/* Two chunks, split at *ARG. */
static size_t
split(size_t at, void *arg)
{
    size_t cut = *(size_t *)arg;
    return at < cut ? cut - at : SIZE_MAX;
}

static size_t
random_chunk(size_t at, void *arg)
{
    (void)at;
    return 1 + (size_t)rand_r(arg) % 17;
}

Test(guard_scan, table_whole_bytewise_every_split_and_random_chunks)
{
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        const struct scan_case *c = &cases[k];
        char how[64];
        snprintf(how, sizeof(how), "case %zu whole", k);
        run(c, whole, NULL, how);
        snprintf(how, sizeof(how), "case %zu byte by byte", k);
        run(c, one, NULL, how);
        for (size_t cut = 1; cut < strlen(c->in); cut++) {
            snprintf(how, sizeof(how), "case %zu split at %zu", k, cut);
            run(c, split, &cut, how);
        }
        for (unsigned seed = 1; seed <= 20; seed++) {
            unsigned st = seed;
            snprintf(how, sizeof(how), "case %zu random chunks, seed %u", k, seed);
            run(c, random_chunk, &st, how);
        }
    }
}

/* The stanza of issue 12: 60,000 empty children in one message, under Prosody's 256 KiB. */
Test(guard_scan, wide_stanza_dropped_and_the_stream_goes_on)
{
    struct cp_scan_limits lim = {10240, 512 * 1024};
    struct cp_scan s;
    struct rec r = {0};
    size_t n = 60000;
    char *in = malloc(n * 4 + 256);
    size_t len = (size_t)sprintf(in, HDR "<message from='eve@x/r' to='cal.test' id='m1'>");
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(in + len, "<a/>");
    len += (size_t)sprintf(in + len, "</message><iq type='get' id='p'/>");

    cp_scan_init(&s, &lim, &ops, &r);
    for (size_t at = 0; at < len; at += 4096)
        cp_scan_feed(&s, in + at, len - at < 4096 ? len - at : 4096);
    cr_expect_str_eq(r.out, HDR "<iq type='get' id='p'/>");
    cr_expect_str_eq(r.drops, "message eve@x/r cal.test m1 - 60001 240056;");
    free(r.out);
    free(r.held);
    free(in);
}

Test(guard_scan, unescape_attribute_values)
{
    char out[32];
    cr_expect_eq(cp_scan_unescape("o&apos;brien@x&amp;&lt;&gt;&quot;", out, sizeof(out)), 0);
    cr_expect_str_eq(out, "o'brien@x&<>\"");
    cr_expect_eq(cp_scan_unescape("&#233;&#xE9;&#x1F600;", out, sizeof(out)), 0);
    cr_expect_str_eq(out, "\xc3\xa9\xc3\xa9\xf0\x9f\x98\x80");
    cr_expect_eq(cp_scan_unescape("plain", out, 6), 0);
    cr_expect_str_eq(out, "plain");
    cr_expect_eq(cp_scan_unescape("plain", out, 5), -1, "no room for the NUL");
    cr_expect_eq(cp_scan_unescape("&nope;", out, sizeof(out)), -1);
    cr_expect_eq(cp_scan_unescape("&amp", out, sizeof(out)), -1, "no ';'");
    cr_expect_eq(cp_scan_unescape("&#0;", out, sizeof(out)), -1, "not an XML character");
    cr_expect_eq(cp_scan_unescape("&#x;", out, sizeof(out)), -1);
    cr_expect_eq(cp_scan_unescape("&#99999999999;", out, sizeof(out)), -1);
    cr_expect_eq(cp_scan_unescape("&#xD800;", out, sizeof(out)), -1, "a surrogate");
}
