/* JID helpers: normalisation (nodeprep/nameprep, as the XMPP servers do), bare JIDs, XEP-0106
 * escaping of all ten characters (with the rule for '\'), round trips, calendar JIDs per
 * contract.md and the mailbox_domain rewrite. */
#include <criterion/criterion.h>
#include <string.h>

#include "config/error.h"
#include "config/jid.h"

static const char *const primary = "example.com";
static const char *const comp = "calendar.example.com";

Test(jid, bare_strips_resource_and_normalises)
{
    char out[CP_JID_BARE_MAX];

    cr_assert_eq(cp_jid_bare("Alice@EXAMPLE.Com/phone/2", out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "alice@example.com");
    cr_assert_eq(cp_jid_bare("Calendar.Example.COM", out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "calendar.example.com");
    cr_assert_eq(cp_jid_bare("bob@example.com.", out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "bob@example.com", "the trailing dot of a domain is dropped");
    /* The resource starts at the first '/', even when an '@' follows it. */
    cr_assert_eq(cp_jid_bare("example.com/a@b", out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "example.com");
    cr_assert_eq(cp_jid_bare("alice@[::1]", out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "alice@[::1]");
}

Test(jid, bare_refuses_malformed)
{
    char out[CP_JID_BARE_MAX];
    const char *bad[] = {"",
                         "@example.com",
                         "alice@",
                         "alice@example.com/",
                         "a b@x.org",
                         "a@b@c.org",
                         "alice@a..b",
                         "alice@.a.b",
                         "a:b@x.org",
                         "a<b@x.org",
                         "alice@ex com",
                         "o'hara@x.org",
                         "alice@example.com:5222"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(cp_jid_bare(bad[i], out, sizeof(out)), CP_EINVAL, "accepted '%s'", bad[i]);
    cr_assert_eq(cp_jid_bare(NULL, out, sizeof(out)), CP_EINVAL);
}

/* Issue 12: "Carol@LOCALHOST" typed by an admin is the "carol@localhost" Prosody sends. */
Test(jid, normalise_case_of_localpart_and_domain)
{
    char a[CP_JID_BARE_MAX], b[CP_JID_BARE_MAX];

    cr_assert_eq(cp_jid_bare("Carol@LOCALHOST", a, sizeof(a)), CP_OK);
    cr_assert_eq(cp_jid_bare("carol@localhost", b, sizeof(b)), CP_OK);
    cr_assert_str_eq(a, "carol@localhost");
    cr_assert_str_eq(a, b);
    cr_assert_eq(cp_jid_bare("BOB@Example.COM.", a, sizeof(a)), CP_OK);
    cr_assert_str_eq(a, "bob@example.com");
    cr_assert_eq(cp_jid_bare("CALENDAR.Example.com", a, sizeof(a)), CP_OK);
    cr_assert_str_eq(a, "calendar.example.com", "a domain-only JID is nameprepped");
    cr_assert_eq(cp_jid_bare("x@[::1]", a, sizeof(a)), CP_OK);
    cr_assert_str_eq(a, "x@[::1]");
}

/* Beyond ASCII: case folding, compatibility forms and mapped-to-nothing characters, the
 * stringprep profiles' work rather than ours. */
Test(jid, normalise_unicode_as_the_profiles_do)
{
    char out[CP_JID_BARE_MAX];

    cr_assert_eq(cp_jid_bare("\xc3\x89lodie@Caf\xc3\x89.fr", out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "\xc3\xa9lodie@caf\xc3\xa9.fr", "\u00c9 folds to \u00e9 in both parts");
    cr_assert_eq(cp_jid_bare("Stra\xc3\x9f"
                             "e@x.org",
                             out, sizeof(out)),
                 CP_OK);
    cr_assert_str_eq(out, "strasse@x.org", "\u00df folds to ss");
    cr_assert_eq(cp_jid_bare("\xef\xbc\xa1lice@\xef\xbd\x85xample.com", out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "alice@example.com", "full-width letters are their ASCII forms");
    cr_assert_eq(cp_jid_bare("ca\xc2\xadrol@x.org", out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "carol@x.org", "a soft hyphen maps to nothing");
    cr_assert_eq(cp_jid_bare("a@example.com\xef\xbc\x8e", out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "a@example.com", "a full-width stop at the end is a trailing dot");
}

Test(jid, full_keeps_the_resourcepart_as_given)
{
    char out[CP_JID_FULL_MAX];
    char resource[CP_JID_PART_MAX + 20];

    cr_assert_eq(cp_jid_full("Carol@LOCALHOST/Phone Two/\xc3\x89", out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "carol@localhost/Phone Two/\xc3\x89");
    cr_assert_eq(cp_jid_full("Carol@LOCALHOST", out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "carol@localhost");
    cr_assert_eq(cp_jid_full("LOCALHOST/Res", out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "localhost/Res");
    cr_assert_eq(cp_jid_full("a@b/", out, sizeof(out)), CP_EINVAL);
    cr_assert_eq(cp_jid_full("a@b/Res", out, 6), CP_EINVAL, "OUT too small");
    strcpy(resource, "a@b/");
    memset(resource + 4, 'r', CP_JID_PART_MAX + 1);
    resource[4 + CP_JID_PART_MAX + 1] = '\0';
    cr_assert_eq(cp_jid_full(resource, out, sizeof(out)), CP_EINVAL, "resource over 1023 bytes");
}

Test(jid, normalise_refuses_what_the_profiles_refuse)
{
    char out[CP_JID_BARE_MAX];
    const char *bad[] = {
        "ab\xff@x.org",          /* invalid UTF-8 */
        "a\xc3@x.org",           /* truncated UTF-8 sequence */
        "a\xd7\xa9@x.org",       /* left-to-right and right-to-left text in one localpart */
        "x@\xd7\xa9\xd7\x9c.il", /* the same in a domain */
        "a\xef\xbc\xa0"
        "b@x.org",        /* a full-width '@' becomes '@', prohibited in a localpart */
        "\xc2\xad@x.org", /* a localpart that maps to nothing */
        "a\xe2\x80\xa8"
        "b@x.org", /* a line separator (prohibited) */
        "alice@ex\xc2\xa0"
        "ample.com", /* a non-ASCII space in a domain */
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(cp_jid_bare(bad[i], out, sizeof(out)), CP_EINVAL, "accepted bad[%zu]", i);
}

Test(jid, bare_refuses_small_buffer_and_long_parts)
{
    char out[8];
    char longlocal[CP_JID_PART_MAX + 20];

    cr_assert_eq(cp_jid_bare("alice@example.com", out, sizeof(out)), CP_EINVAL);
    memset(longlocal, 'a', CP_JID_PART_MAX + 1);
    strcpy(longlocal + CP_JID_PART_MAX + 1, "@x.org");
    char big[CP_JID_BARE_MAX * 2];
    cr_assert_eq(cp_jid_bare(longlocal, big, sizeof(big)), CP_EINVAL);
    longlocal[CP_JID_PART_MAX] = '@';
    strcpy(longlocal + CP_JID_PART_MAX + 1, "x.org");
    cr_assert_eq(cp_jid_bare(longlocal, big, sizeof(big)), CP_OK, "1023 bytes is allowed");
}

Test(jid, split)
{
    char l[64], d[64];

    cr_assert_eq(cp_jid_split("alice@Example.com", l, sizeof(l), d, sizeof(d)), CP_OK);
    cr_assert_str_eq(l, "alice");
    cr_assert_str_eq(d, "example.com");
    cr_assert_eq(cp_jid_split("example.com", l, sizeof(l), d, sizeof(d)), CP_EINVAL);
    cr_assert_eq(cp_jid_split("alice@example.com/r", l, sizeof(l), d, sizeof(d)), CP_EINVAL);
    cr_assert_eq(cp_jid_split("alice@example.com", l, 3, d, sizeof(d)), CP_EINVAL);
    cr_assert_eq(cp_jid_split("alice@example.com", l, sizeof(l), d, 4), CP_EINVAL);
}

/* XEP-0106 table 1: every one of the ten characters and its sequence. */
Test(jid, escape_all_ten_characters)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"a b", "a\\20b"}, {"a\"b", "a\\22b"},     {"a&b", "a\\26b"}, {"a'b", "a\\27b"},
        {"a/b", "a\\2fb"}, {"a:b", "a\\3ab"},      {"a<b", "a\\3cb"}, {"a>b", "a\\3eb"},
        {"a@b", "a\\40b"}, {"a\\5cb", "a\\5c5cb"},
    };
    char out[64];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_eq(cp_jid_escape(cases[i].in, out, sizeof(out)), CP_OK, "%s", cases[i].in);
        cr_expect_str_eq(out, cases[i].out, "escape('%s')", cases[i].in);
    }
}

/* A backslash is escaped only when an escape sequence follows it. */
Test(jid, escape_backslash_rule)
{
    char out[64];

    cr_assert_eq(cp_jid_escape("c:\\net", out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "c\\3a\\net");
    cr_assert_eq(cp_jid_escape("a\\20b", out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "a\\5c20b");
    cr_assert_eq(cp_jid_escape("a\\2Fb", out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "a\\2Fb", "upper-case hex is not a sequence");
    cr_assert_eq(cp_jid_escape("a\\41b", out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "a\\41b", "\\41 is not one of the ten");
    cr_assert_eq(cp_jid_escape("trailing\\", out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "trailing\\");
    cr_assert_eq(cp_jid_escape("d'artagnan@musketeers.lit", out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "d\\27artagnan\\40musketeers.lit");
}

Test(jid, escape_refuses_edge_spaces_and_small_buffer)
{
    char out[64];

    cr_assert_eq(cp_jid_escape(" alice", out, sizeof(out)), CP_EINVAL);
    cr_assert_eq(cp_jid_escape("alice ", out, sizeof(out)), CP_EINVAL);
    cr_assert_eq(cp_jid_escape("a@b", out, 5), CP_EINVAL);
    cr_assert_eq(cp_jid_escape("a@b", out, 6), CP_OK);
    cr_assert_eq(cp_jid_escape("", out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "");
}

Test(jid, unescape)
{
    char out[64];

    cr_assert_eq(cp_jid_unescape("alice\\40other.org", out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "alice@other.org");
    cr_assert_eq(cp_jid_unescape("a\\5c20b", out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "a\\20b");
    cr_assert_eq(cp_jid_unescape("a\\41b\\", out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "a\\41b\\");
    cr_assert_eq(cp_jid_unescape("a@b", out, sizeof(out)), CP_EINVAL, "raw '@'");
    cr_assert_eq(cp_jid_unescape("alice\\40other.org", out, 10), CP_EINVAL);
}

Test(jid, escape_unescape_round_trips)
{
    const char *samples[] = {"alice",
                             "alice@other.org",
                             "c:\\net",
                             "a\\20b",
                             "\\5c\\5c",
                             "space in\\middle",
                             "<tag attr=\"v\" x='y'>&amp;</tag>",
                             "http://example.com/path",
                             "tr\\ail\\",
                             "\\",
                             "\\\\40"};
    char esc[256], back[256];

    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        cr_assert_eq(cp_jid_escape(samples[i], esc, sizeof(esc)), CP_OK, "%s", samples[i]);
        cr_assert_eq(cp_jid_unescape(esc, back, sizeof(back)), CP_OK, "%s", esc);
        cr_expect_str_eq(back, samples[i], "round trip of '%s' via '%s'", samples[i], esc);
        cr_expect_null(strpbrk(esc, " \"&'/:<>@"), "escaped form '%s' has a raw character", esc);
    }
}

Test(jid, calendar_jid_rules)
{
    char out[256];

    cr_assert_eq(cp_jid_calendar("alice@example.com", primary, comp, out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "alice@calendar.example.com");
    cr_assert_eq(cp_jid_calendar("alice@EXAMPLE.com", primary, comp, out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "alice@calendar.example.com", "domain compared without case");
    cr_assert_eq(cp_jid_calendar("alice@other.org", primary, comp, out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "alice\\40other.org@calendar.example.com");
    cr_assert_eq(cp_jid_calendar("alice@sub.example.com", primary, comp, out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "alice\\40sub.example.com@calendar.example.com");
    /* A primary-domain localpart that looks like a sequence must still map back to itself. */
    cr_assert_eq(cp_jid_calendar("a\\40b@example.com", primary, comp, out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "a\\5c40b@calendar.example.com");
    cr_assert_eq(cp_jid_calendar("example.com", primary, comp, out, sizeof(out)), CP_EINVAL);
    cr_assert_eq(cp_jid_calendar("alice@other.org", primary, comp, out, 20), CP_EINVAL);
}

Test(jid, user_from_calendar)
{
    char out[256];

    cr_assert_eq(
        cp_jid_user_from_calendar("alice@calendar.example.com", primary, comp, out, sizeof(out)),
        CP_OK);
    cr_assert_str_eq(out, "alice@example.com");
    cr_assert_eq(cp_jid_user_from_calendar("alice\\40other.org@Calendar.Example.com/res", primary,
                                           comp, out, sizeof(out)),
                 CP_OK);
    cr_assert_str_eq(out, "alice@other.org");
    cr_assert_eq(
        cp_jid_user_from_calendar("a\\5c40b@calendar.example.com", primary, comp, out, sizeof(out)),
        CP_OK);
    cr_assert_str_eq(out, "a\\40b@example.com");
}

Test(jid, user_from_calendar_refuses_non_calendar_jids)
{
    char out[256];
    const char *bad[] = {
        "calendar.example.com",                      /* the component itself */
        "alice@other.example.com",                   /* another component */
        "alice\\40example.com@calendar.example.com", /* not canonical: primary is alice@ */
        "a\\40b\\40c@calendar.example.com",          /* unescapes to two '@' */
        "alice\\40@calendar.example.com",            /* empty domain */
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(cp_jid_user_from_calendar(bad[i], primary, comp, out, sizeof(out)), CP_EINVAL,
                     "accepted '%s' as %s", bad[i], out);
}

/* Escapes survive normalisation: a calendar JID typed in upper case still names its user, and
 * an upper-case "\2F", which nodeprep folds, is then a sequence (as for the server). */
Test(jid, escapes_after_normalisation)
{
    char out[CP_JID_BARE_MAX];

    cr_assert_eq(cp_jid_calendar("Alice@Other.ORG", primary, comp, out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "alice\\40other.org@calendar.example.com");
    cr_assert_eq(cp_jid_user_from_calendar("ALICE\\40Other.Org@Calendar.Example.com/r", primary,
                                           comp, out, sizeof(out)),
                 CP_OK);
    cr_assert_str_eq(out, "alice@other.org");
    cr_assert_eq(
        cp_jid_user_from_calendar("Carol@CALENDAR.example.com", primary, comp, out, sizeof(out)),
        CP_OK);
    cr_assert_str_eq(out, "carol@example.com");
    cr_assert_eq(cp_jid_bare("a\\2Fb@x.org", out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "a\\2fb@x.org");
}

/* The escaped bare JID of a right-to-left user of another domain, behind its left-to-right
 * domain, is one localpart that nodeprep refuses: the server could never route it to us. */
Test(jid, calendar_refuses_a_jid_the_server_would_refuse)
{
    char out[CP_JID_BARE_MAX];

    cr_assert_eq(cp_jid_bare("\xd7\xa9\xd7\x9c@other.org", out, sizeof(out)), CP_OK);
    cr_assert_eq(cp_jid_calendar(out, primary, comp, out, sizeof(out)), CP_EINVAL);
    cr_assert_eq(cp_jid_calendar("\xd7\xa9\xd7\x9c@example.com", primary, comp, out, sizeof(out)),
                 CP_OK, "in the primary domain the localpart stands alone");
}

Test(jid, calendar_round_trip)
{
    const char *users[] = {"alice@example.com", "bob@other.org", "o\\27hara@example.com",
                           "x\\20y@example.com", "x\\20y@elsewhere.net"};
    char cal[256], back[256];

    for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
        cr_assert_eq(cp_jid_calendar(users[i], primary, comp, cal, sizeof(cal)), CP_OK, "%s",
                     users[i]);
        cr_assert_eq(cp_jid_user_from_calendar(cal, primary, comp, back, sizeof(back)), CP_OK, "%s",
                     cal);
        cr_expect_str_eq(back, users[i]);
    }
}

Test(jid, default_mailbox)
{
    char out[256];

    cr_assert_eq(cp_jid_default_mailbox("alice@example.com", NULL, out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "alice@example.com");
    cr_assert_eq(cp_jid_default_mailbox("alice@example.com", "", out, sizeof(out)), CP_OK);
    cr_assert_str_eq(out, "alice@example.com");
    cr_assert_eq(
        cp_jid_default_mailbox("alice@xmpp.example.com", "Corp.Example.com", out, sizeof(out)),
        CP_OK);
    cr_assert_str_eq(out, "alice@corp.example.com");
    cr_assert_eq(cp_jid_default_mailbox("alice", "corp.example.com", out, sizeof(out)), CP_EINVAL);
    cr_assert_eq(cp_jid_default_mailbox("alice@x.org", "bad@domain", out, sizeof(out)), CP_EINVAL);
    cr_assert_eq(cp_jid_default_mailbox("alice@x.org", "corp.example.com", out, 10), CP_EINVAL);
}

/* Random strings over the characters that matter (the ten, backslashes, hex digits that form
 * sequences): escaping refuses only edge spaces, never leaves a raw disallowed character, and
 * unescaping gives the original back. The seed is fixed so that a failure repeats. */
Test(jid, escape_round_trip_property)
{
    static const char alphabet[] = "ab \"&'/:<>@\\\\\\2035cfe740";
    char in[24], esc[80], back[80];
    unsigned seed = 20261123;

    for (int iter = 0; iter < 20000; iter++) {
        size_t n = (size_t)rand_r(&seed) % (sizeof(in) - 1);
        for (size_t i = 0; i < n; i++)
            in[i] = alphabet[(size_t)rand_r(&seed) % (sizeof(alphabet) - 1)];
        in[n] = '\0';
        int rc = cp_jid_escape(in, esc, sizeof(esc));
        if (n > 0 && (in[0] == ' ' || in[n - 1] == ' ')) {
            cr_assert_eq(rc, CP_EINVAL, "accepted edge space in '%s'", in);
            continue;
        }
        cr_assert_eq(rc, CP_OK, "'%s'", in);
        cr_assert_null(strpbrk(esc, " \"&'/:<>@"), "'%s' -> '%s'", in, esc);
        cr_assert_eq(cp_jid_unescape(esc, back, sizeof(back)), CP_OK, "'%s'", esc);
        cr_assert_str_eq(back, in, "'%s' -> '%s' -> '%s'", in, esc, back);
    }
}
