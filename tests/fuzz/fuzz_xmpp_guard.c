/* tests/fuzz/fuzz_xmpp_guard.c: the stanza guard's scanner (component/xmpp/guard_scan.c) on
 * arbitrary bytes. The first three bytes choose the bounds (small, so that drops happen) and
 * how the rest is split; the rest is the stream from the server. Promises checked:
 * - the scan's output does not depend on the split (fed whole and in chunks, the forwarded
 *   bytes and the drops are the same);
 * - every byte is accounted for: forwarded, in a dropped stanza, or in the stanza still open;
 * - a dropped stanza really is over a bound, and its captured values are NUL-terminated and
 *   decode (or are refused) without overflowing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xmpp/guard_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OUT (1 << 20)

struct rec {
    char out[MAX_OUT]; /* forwarded bytes (libFuzzer's default max_len keeps inputs far below) */
    size_t len;
    size_t held;
    size_t dropped_bytes;
    uint64_t drops_hash; /* over the drop records, to compare two runs */
    struct cp_scan_limits lim;
};

static void
put(struct rec *r, const char *data, size_t len)
{
    if (r->len + len > MAX_OUT)
        abort();
    memcpy(r->out + r->len, data, len);
    r->len += len;
}

static void
on_pass(void *ud, const char *data, size_t len)
{
    struct rec *r = ud;
    if (r->held != 0)
        abort(); /* nothing passes while a stanza is held */
    put(r, data, len);
}

static void
on_hold(void *ud, const char *data, size_t len)
{
    struct rec *r = ud;
    put(r, data, len); /* provisionally; a drop takes it back */
    r->held += len;
}

static void
on_commit(void *ud)
{
    struct rec *r = ud;
    r->held = 0;
}

static uint64_t
mix(uint64_t h, const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ ((const unsigned char *)p)[i]) * 1099511628211u;
    return h;
}

static void
on_drop(void *ud, const struct cp_scan_stanza *st)
{
    struct rec *r = ud;
    char out[CP_SCAN_JID_MAX];
    if (st->nodes <= r->lim.max_nodes && st->bytes <= r->lim.max_bytes)
        abort(); /* dropped within the bounds */
    r->len -= r->held;
    r->held = 0;
    r->dropped_bytes += st->bytes;
    const char *vals[] = {st->name, st->from, st->to, st->id, st->type};
    size_t caps[] = {sizeof(st->name), sizeof(st->from), sizeof(st->to), sizeof(st->id),
                     sizeof(st->type)};
    for (size_t i = 0; i < 5; i++) {
        size_t n = strnlen(vals[i], caps[i]);
        if (n == caps[i])
            abort(); /* not NUL-terminated */
        cp_scan_unescape(vals[i], out, sizeof(out));
        r->drops_hash = mix(r->drops_hash, vals[i], n + 1);
    }
    r->drops_hash = mix(r->drops_hash, &st->nodes, sizeof(st->nodes));
    r->drops_hash = mix(r->drops_hash, &st->bytes, sizeof(st->bytes));
}

static const struct cp_scan_ops ops = {on_pass, on_hold, on_commit, on_drop};

/* Scans DATA split by SEED (0: whole) into R; returns the bytes not yet accounted for by the
 * scan itself (the open stanza, a pending '<'). */
static size_t
scan(struct rec *r, const uint8_t *data, size_t size, unsigned seed)
{
    struct cp_scan s;
    cp_scan_init(&s, &r->lim, &ops, r);
    for (size_t at = 0; at < size;) {
        size_t n = seed ? 1 + (seed = seed * 1103515245u + 12345u) % 23 : size;
        if (n > size - at)
            n = size - at;
        cp_scan_feed(&s, (const char *)data + at, n);
        at += n;
    }
    return (s.in_stanza ? s.st.bytes : 0) + s.lt_pending;
}

static struct rec a, b;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    struct cp_scan_limits lim = {1 + data[0] % 16, 8 + (size_t)data[1] * 2};
    unsigned seed = data[2] | 1u;
    data += 3;
    size -= 3;

    a.len = a.held = a.dropped_bytes = 0;
    a.drops_hash = 0;
    a.lim = lim;
    b.len = b.held = b.dropped_bytes = 0;
    b.drops_hash = 0;
    b.lim = lim;
    size_t open_a = scan(&a, data, size, 0);
    size_t open_b = scan(&b, data, size, seed);

    /* Held bytes of a stanza still open are in out: take them back before comparing. */
    a.len -= a.held;
    b.len -= b.held;
    if (a.len != b.len || memcmp(a.out, b.out, a.len) != 0 || a.drops_hash != b.drops_hash ||
        open_a != open_b)
        abort();
    if (a.len + a.dropped_bytes + open_a != size)
        abort();
    return 0;
}
