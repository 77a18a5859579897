/* ews-sim: NTLM server side (MS-NLMP): the type-2 challenge and the NTLMv2 check of a type-3
 * answer against the account's password. MD4 is written here (RFC 1320) because OpenSSL 3
 * keeps it in the legacy provider; HMAC-MD5 comes from the default provider. NTLMv1 answers
 * are refused, as IIS does with LmCompatibilityLevel 5. */
#include "sim.h"

#include <ctype.h>
#include <string.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define NTLM_UNICODE 0x00000001u
#define NTLM_OEM 0x00000002u
#define NTLM_REQUEST_TARGET 0x00000004u
#define NTLM_SIGN 0x00000010u
#define NTLM_SEAL 0x00000020u
#define NTLM_NTLM 0x00000200u
#define NTLM_ALWAYS_SIGN 0x00008000u
#define NTLM_TARGET_DOMAIN 0x00010000u
#define NTLM_ESS 0x00080000u
#define NTLM_TARGET_INFO 0x00800000u
#define NTLM_VERSION 0x02000000u
#define NTLM_128 0x20000000u
#define NTLM_KEY_EXCH 0x40000000u
#define NTLM_56 0x80000000u

static uint32_t
rol(uint32_t x, int s)
{
    return x << s | x >> (32 - s);
}

static void
md4_block(uint32_t h[4], const unsigned char *p)
{
    static const int r2[16] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};
    static const int r3[16] = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15};
    static const int s1[4] = {3, 7, 11, 19}, s2[4] = {3, 5, 9, 13}, s3[4] = {3, 9, 11, 15};
    uint32_t x[16], v[4] = {h[0], h[1], h[2], h[3]};
    for (int i = 0; i < 16; i++)
        x[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
               (uint32_t)p[4 * i + 3] << 24;
    /* v rotates so that v[(4 - i % 4) % 4] is the word being updated (a, d, c, b, ...) */
    for (int i = 0; i < 16; i++) {
        uint32_t *a = &v[(4 - i % 4) % 4], b = v[(5 - i % 4) % 4], c = v[(6 - i % 4) % 4],
                 d = v[(7 - i % 4) % 4];
        *a = rol(*a + ((b & c) | (~b & d)) + x[i], s1[i % 4]);
    }
    for (int i = 0; i < 16; i++) {
        uint32_t *a = &v[(4 - i % 4) % 4], b = v[(5 - i % 4) % 4], c = v[(6 - i % 4) % 4],
                 d = v[(7 - i % 4) % 4];
        *a = rol(*a + ((b & c) | (b & d) | (c & d)) + x[r2[i]] + 0x5A827999u, s2[i % 4]);
    }
    for (int i = 0; i < 16; i++) {
        uint32_t *a = &v[(4 - i % 4) % 4], b = v[(5 - i % 4) % 4], c = v[(6 - i % 4) % 4],
                 d = v[(7 - i % 4) % 4];
        *a = rol(*a + (b ^ c ^ d) + x[r3[i]] + 0x6ED9EBA1u, s3[i % 4]);
    }
    for (int i = 0; i < 4; i++)
        h[i] += v[i];
}

static void
md4(const unsigned char *msg, size_t n, unsigned char out[16])
{
    uint32_t h[4] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u};
    unsigned char tail[128] = {0};
    size_t full = n / 64 * 64, rest = n - full, tl;
    uint64_t bits = (uint64_t)n * 8;
    for (size_t i = 0; i < full; i += 64)
        md4_block(h, msg + i);
    memcpy(tail, msg + full, rest);
    tail[rest] = 0x80;
    tl = rest + 1 + 8 <= 64 ? 64 : 128;
    for (int i = 0; i < 8; i++)
        tail[tl - 8 + i] = (unsigned char)(bits >> (8 * i));
    for (size_t i = 0; i < tl; i += 64)
        md4_block(h, tail + i);
    for (int i = 0; i < 16; i++)
        out[i] = (unsigned char)(h[i / 4] >> (8 * (i % 4)));
}

/* UTF-8 to UTF-16LE (BMP only; anything else becomes '?'); returns bytes written. */
static size_t
utf16le(const char *s, unsigned char *out, size_t cap, int upper)
{
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p && n + 2 <= cap) {
        uint32_t c = *p++;
        if (c >= 0xC0 && c < 0xE0 && (*p & 0xC0) == 0x80) {
            c = (c & 0x1F) << 6 | (*p++ & 0x3F);
        } else if (c >= 0xE0 && c < 0xF0 && (p[0] & 0xC0) == 0x80 && (p[1] & 0xC0) == 0x80) {
            c = (c & 0x0F) << 12 | (uint32_t)(p[0] & 0x3F) << 6 | (p[1] & 0x3F);
            p += 2;
        } else if (c >= 0x80) {
            c = '?';
        }
        if (upper && c < 0x80)
            c = (uint32_t)toupper((int)c);
        out[n++] = (unsigned char)c;
        out[n++] = (unsigned char)(c >> 8);
    }
    return n;
}

static void
put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void
put32(unsigned char *p, uint32_t v)
{
    put16(p, v & 0xffff);
    put16(p + 2, v >> 16);
}

static uint32_t
get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static unsigned
get16(const unsigned char *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static size_t
av_pair(unsigned char *p, unsigned id, const char *ascii)
{
    size_t n = utf16le(ascii, p + 4, 128, 0);
    put16(p, id);
    put16(p + 2, (unsigned)n);
    return 4 + n;
}

int
sim_ntlm_challenge(struct sim_ntlm *st, const unsigned char *type1, size_t n, char *out, size_t cap)
{
    unsigned char msg[512] = "NTLMSSP";
    unsigned char info[400];
    size_t ti = 0, tn, off = 56;
    uint32_t cflags, flags;
    uint64_t ft;
    if (n < 16 || memcmp(type1, "NTLMSSP", 8) != 0 || get32(type1 + 8) != 1)
        return -1;
    cflags = get32(type1 + 12);
    flags = (cflags & (NTLM_UNICODE | NTLM_OEM | NTLM_SIGN | NTLM_SEAL | NTLM_ALWAYS_SIGN |
                       NTLM_ESS | NTLM_128 | NTLM_56 | NTLM_KEY_EXCH | NTLM_VERSION)) |
            NTLM_NTLM | NTLM_REQUEST_TARGET | NTLM_TARGET_INFO | NTLM_TARGET_DOMAIN;
    if (flags & NTLM_UNICODE)
        flags &= ~NTLM_OEM;
    else
        flags |= NTLM_UNICODE; /* this server speaks Unicode only */
    if (RAND_bytes(st->challenge, 8) != 1)
        return -1;
    st->have_challenge = 1;
    ti += av_pair(info + ti, 2, "EXAMPLE");
    ti += av_pair(info + ti, 1, "CAS");
    ti += av_pair(info + ti, 4, "example.com");
    ti += av_pair(info + ti, 3, "cas.example.com");
    /* MsvAvTimestamp: FILETIME now, which NTLMv2 clients fold into their answer */
    ft = ((uint64_t)sim_now() + 11644473600ULL) * 10000000ULL;
    put16(info + ti, 7);
    put16(info + ti + 2, 8);
    put32(info + ti + 4, (uint32_t)ft);
    put32(info + ti + 8, (uint32_t)(ft >> 32));
    ti += 12;
    put32(info + ti, 0);
    ti += 4;
    put32(msg + 8, 2);
    tn = utf16le("EXAMPLE", msg + off, 64, 0);
    put16(msg + 12, (unsigned)tn);
    put16(msg + 14, (unsigned)tn);
    put32(msg + 16, (uint32_t)off);
    put32(msg + 20, flags);
    memcpy(msg + 24, st->challenge, 8);
    memset(msg + 32, 0, 8);
    off += tn;
    memcpy(msg + off, info, ti);
    put16(msg + 40, (unsigned)ti);
    put16(msg + 42, (unsigned)ti);
    put32(msg + 44, (uint32_t)off);
    /* version 10.0 build 17763, NTLM revision 15 */
    msg[48] = 10;
    msg[49] = 0;
    put16(msg + 50, 17763);
    msg[55] = 15;
    off += ti;
    if (4 * ((off + 2) / 3) + 1 > cap)
        return -1;
    sim_b64(msg, off, out);
    return 0;
}

/* Security buffer at offset o of msg: 0 ok, -1 out of bounds. */
static int
secbuf(const unsigned char *msg, size_t n, size_t o, const unsigned char **p, size_t *len)
{
    size_t l = get16(msg + o), at = get32(msg + o + 4);
    if (at > n || l > n - at)
        return -1;
    *p = msg + at;
    *len = l;
    return 0;
}

/* UTF-16LE or OEM bytes to a NUL-terminated ASCII string ('?' for the rest). */
static void
to_ascii(const unsigned char *p, size_t n, int unicode, char *out, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; i < n && j + 1 < cap; i += unicode ? 2 : 1) {
        unsigned c = unicode ? (i + 1 < n ? get16(p + i) : 0) : p[i];
        out[j++] = c < 0x80 && c ? (char)c : '?';
    }
    out[j] = '\0';
}

int
sim_ntlm_verify(struct sim_ntlm *st, const unsigned char *msg, size_t n, uint32_t *account)
{
    const unsigned char *nt, *dom, *usr;
    size_t ntn, domn, usrn, idn;
    char user[256], domain[256];
    unsigned char pw[512], nthash[16], id[1024], ntowf[16], proof[16], *data;
    unsigned int mlen = 16;
    uint32_t flags, acc;
    int unicode, ok;
    if (!st->have_challenge || n < 64 || memcmp(msg, "NTLMSSP", 8) != 0 || get32(msg + 8) != 3)
        return -1;
    st->have_challenge = 0; /* one answer per challenge */
    flags = get32(msg + 60);
    unicode = (flags & NTLM_UNICODE) != 0;
    if (secbuf(msg, n, 20, &nt, &ntn) < 0 || secbuf(msg, n, 28, &dom, &domn) < 0 ||
        secbuf(msg, n, 36, &usr, &usrn) < 0 || ntn <= 24 || ntn > 4096)
        return -1;
    to_ascii(usr, usrn, unicode, user, sizeof(user));
    to_ascii(dom, domn, unicode, domain, sizeof(domain));
    acc = sim_account_login(user, domain);
    if (acc == SIM_NONE)
        return -1;
    md4(pw, utf16le(g_sim.accounts[acc].password, pw, sizeof(pw), 0), nthash);
    idn = utf16le(user, id, 512, 1);
    idn += utf16le(domain, id + idn, 512, 0);
    HMAC(EVP_md5(), nthash, 16, id, idn, ntowf, &mlen);
    data = sim_xmalloc(8 + ntn - 16);
    memcpy(data, st->challenge, 8);
    memcpy(data + 8, nt + 16, ntn - 16);
    HMAC(EVP_md5(), ntowf, 16, data, 8 + ntn - 16, proof, &mlen);
    free(data);
    ok = CRYPTO_memcmp(proof, nt, 16) == 0;
    if (!ok)
        return -1;
    *account = acc;
    return 0;
}
