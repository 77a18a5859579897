/* ews-sim unit tests: NTLMv2 verification against the MS-NLMP 4.2.4 example, recurrence
 * expansion with exceptions, time parsing, opaque ids. */
#include "sim.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

struct sim g_sim;

static void
setup(void)
{
    memset(&g_sim, 0, sizeof(g_sim));
    g_sim.mbx_map = sim_map_new();
    g_sim.ncas = 1;
}

static void
teardown(void)
{
    sim_store_free();
}

TestSuite(ews_sim, .init = setup, .fini = teardown);

static size_t
put_utf16(unsigned char *p, const char *s)
{
    size_t n = 0;
    for (; *s; s++) {
        p[n++] = (unsigned char)*s;
        p[n++] = 0;
    }
    return n;
}

static void
secbuf(unsigned char *msg, size_t at, size_t len, size_t off)
{
    msg[at] = (unsigned char)len;
    msg[at + 1] = (unsigned char)(len >> 8);
    msg[at + 2] = msg[at];
    msg[at + 3] = msg[at + 1];
    msg[at + 4] = (unsigned char)off;
    msg[at + 5] = (unsigned char)(off >> 8);
    msg[at + 6] = 0;
    msg[at + 7] = 0;
}

/* The AUTHENTICATE message of MS-NLMP 4.2.4 (user "User", domain "Domain", client challenge
 * aa..aa, time 0) with its NTProofStr 68cd0ab8...6a1c, computed there from "Password". */
static size_t
nlmp_type3(unsigned char *msg)
{
    static const unsigned char proof[16] = {0x68, 0xcd, 0x0a, 0xb8, 0x51, 0xe5, 0x1c, 0x96,
                                            0xaa, 0xbc, 0x92, 0x7b, 0xeb, 0xef, 0x6a, 0x1c};
    unsigned char nt[256], *p = nt;
    size_t off = 64, ntn, dn, un;
    memcpy(p, proof, 16);
    p += 16;
    memcpy(p, "\x01\x01\0\0\0\0\0\0", 8);
    p += 8;
    memset(p, 0, 8); /* time */
    p += 8;
    memset(p, 0xaa, 8); /* client challenge */
    p += 8;
    memset(p, 0, 4);
    p += 4;
    memcpy(p, "\x02\x00\x0c\x00", 4);
    p += 4 + put_utf16(p + 4, "Domain");
    memcpy(p, "\x01\x00\x0c\x00", 4);
    p += 4 + put_utf16(p + 4, "Server");
    memset(p, 0, 8); /* MsvAvEOL and the trailing zero */
    p += 8;
    ntn = (size_t)(p - nt);
    memset(msg, 0, 64);
    memcpy(msg, "NTLMSSP", 8);
    msg[8] = 3;
    msg[60] = 0x01; /* NEGOTIATE_UNICODE */
    secbuf(msg, 12, 0, off);
    memcpy(msg + off, nt, ntn);
    secbuf(msg, 20, ntn, off);
    off += ntn;
    dn = put_utf16(msg + off, "Domain");
    secbuf(msg, 28, dn, off);
    off += dn;
    un = put_utf16(msg + off, "User");
    secbuf(msg, 36, un, off);
    off += un;
    secbuf(msg, 44, 0, off);
    secbuf(msg, 52, 0, off);
    return off;
}

Test(ews_sim, ntlmv2_ms_nlmp_vector)
{
    unsigned char msg[512];
    size_t n = nlmp_type3(msg);
    struct sim_ntlm st = {{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}, 1};
    uint32_t acc = SIM_NONE, right = sim_account_add("Domain\\User", "Password");
    cr_assert_eq(sim_ntlm_verify(&st, msg, n, &acc), 0);
    cr_assert_eq(acc, right);
    /* one answer per challenge */
    cr_assert_eq(sim_ntlm_verify(&st, msg, n, &acc), -1);
}

Test(ews_sim, ntlmv2_wrong_password_or_challenge)
{
    unsigned char msg[512];
    size_t n = nlmp_type3(msg);
    struct sim_ntlm st = {{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}, 1};
    uint32_t acc = SIM_NONE;
    sim_account_add("Domain\\User", "Passw0rd");
    cr_assert_eq(sim_ntlm_verify(&st, msg, n, &acc), -1);
    sim_account_add("Domain\\User", "Password");
    st.challenge[0] ^= 1;
    st.have_challenge = 1;
    cr_assert_eq(sim_ntlm_verify(&st, msg, n, &acc), -1);
    cr_assert_eq(acc, SIM_NONE);
}

Test(ews_sim, ntlm_challenge_carries_target_info)
{
    static const unsigned char type1[16] = "NTLMSSP\0\x01\0\0\0\x07\x82\x08\xa2";
    struct sim_ntlm st = {{0}, 0};
    char b64[1024];
    unsigned char raw[768];
    int n;
    cr_assert_eq(sim_ntlm_challenge(&st, type1, sizeof(type1), b64, sizeof(b64)), 0);
    n = sim_unb64(b64, raw, sizeof(raw));
    cr_assert_gt(n, 56);
    cr_assert_eq(memcmp(raw, "NTLMSSP\0\x02", 9), 0);
    cr_assert(raw[22] & 0x80, "NEGOTIATE_TARGET_INFO set");
    cr_assert_eq(memcmp(raw + 24, st.challenge, 8), 0);
    cr_assert(st.have_challenge);
}

static int64_t
at(const char *iso)
{
    int64_t t;
    cr_assert_eq(sim_parse_time(iso, &t), 0, "%s", iso);
    return t;
}

Test(ews_sim, parse_time_forms)
{
    cr_assert_eq(at("2026-11-23T09:00:00Z"), 1795424400);
    cr_assert_eq(at("2026-11-23T10:00:00+01:00"), 1795424400);
    cr_assert_eq(at("2026-11-23T04:00:00.123-05:00"), 1795424400);
    cr_assert_eq(at("2026-11-23T09:00:00"), 1795424400);
    int64_t t;
    cr_assert_eq(sim_parse_time("2026-11-23", &t), -1);
    cr_assert_eq(sim_parse_time("2026-11-23T09:00:00Q", &t), -1);
}

Test(ews_sim, weekday_series_skips_weekends)
{
    uint32_t m;
    struct sim_occ *o;
    struct sim_item *it;
    size_t n;
    cr_assert_eq(sim_mailbox_add("a@example.com", NULL, NULL, 0, &m), 0);
    /* Friday 2026-11-20 09:00 */
    it = sim_item_new(m, at("2026-11-20T09:00:00Z"), at("2026-11-20T09:15:00Z"), BUSY_BUSY, "S");
    it->recur = RECUR_WEEKDAYS;
    n = sim_calendar_view(m, at("2026-11-20T00:00:00Z"), at("2026-11-25T00:00:00Z"), &o);
    cr_assert_eq(n, 3); /* Fri, Mon, Tue */
    cr_assert_eq(o[0].start, at("2026-11-20T09:00:00Z"));
    cr_assert_eq(o[1].start, at("2026-11-23T09:00:00Z"));
    cr_assert_eq(o[2].start, at("2026-11-24T09:00:00Z"));
    cr_assert_eq(o[1].index, 2);
    cr_assert_eq(o[1].type, 1);
    free(o);
}

Test(ews_sim, daily_series_with_exceptions_and_count)
{
    uint32_t m;
    struct sim_occ *o;
    struct sim_item *it;
    struct sim_exception exc[2] = {
        {1, 0, 0, 0, BUSY_OOF}, /* the 2nd occurrence moved to the 5th day */
        {2, 1, 0, 0, 0},        /* the 3rd deleted */
    };
    size_t n;
    cr_assert_eq(sim_mailbox_add("b@example.com", "b@corp", "S-1-5-21-1", 0, &m), 0);
    cr_assert_eq(sim_mailbox_find("B@CORP"), m);
    cr_assert_eq(sim_mailbox_find("s-1-5-21-1"), m);
    it = sim_item_new(m, at("2026-11-23T10:00:00Z"), at("2026-11-23T11:00:00Z"), BUSY_BUSY, "D");
    it->recur = RECUR_DAILY;
    it->count = 4;
    exc[0].start = at("2026-11-27T10:00:00Z");
    exc[0].end = at("2026-11-27T12:00:00Z");
    it->exc = malloc(sizeof(exc));
    memcpy(it->exc, exc, sizeof(exc));
    it->nexc = 2;
    sim_item_new(m, at("2026-11-24T08:00:00Z"), at("2026-11-24T08:30:00Z"), BUSY_TENTATIVE, "T");
    n = sim_calendar_view(m, at("2026-11-23T00:00:00Z"), at("2026-12-31T00:00:00Z"), &o);
    cr_assert_eq(n, 4); /* 23rd, single on 24th, 26th (4th occurrence), exception on 27th */
    cr_assert_eq(o[1].type, 0);
    cr_assert_eq(o[2].start, at("2026-11-26T10:00:00Z"));
    cr_assert_eq(o[3].type, 2);
    cr_assert_eq(o[3].busy, BUSY_OOF);
    cr_assert_eq(o[3].end - o[3].start, 7200);
    free(o);
    /* a window that only overlaps the moved exception's new time */
    n = sim_calendar_view(m, at("2026-11-27T11:00:00Z"), at("2026-11-27T11:30:00Z"), &o);
    cr_assert_eq(n, 1);
    cr_assert_eq(o[0].index, 2);
    free(o);
}

Test(ews_sim, opaque_ids_round_trip)
{
    char id[64];
    uint32_t m, i, o;
    uint64_t seq;
    int folder;
    sim_item_id(7, 42, 3, id);
    cr_assert_eq(sim_item_id_parse(id, &m, &i, &o), 0);
    cr_assert(m == 7 && i == 42 && o == 3);
    sim_watermark(7, 0x100000002ULL, id);
    cr_assert_eq(sim_watermark_parse(id, &m, &seq), 0);
    cr_assert(m == 7 && seq == 0x100000002ULL);
    sim_folder_id(7, FOLDER_CALENDAR, id);
    cr_assert_eq(sim_folder_id_parse(id, &m, &folder), 0);
    cr_assert_eq(folder, FOLDER_CALENDAR);
    cr_assert_eq(sim_item_id_parse(id, &m, &i, &o), -1);
    cr_assert_eq(sim_item_id_parse("not base64!", &m, &i, &o), -1);
}
