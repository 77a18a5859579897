/* The calendar timeline (component/engine/timeline.c): state, since, until and subject at an
 * instant, table-driven, plus a property test against a brute-force per-second reference. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/error.h"
#include "engine/timeline.h"

#define T0 ((time_t)1741564800) /* Monday 2025-03-10 00:00:00 UTC */
#define AT(d, h, m) (T0 + (d)*86400 + (h)*3600 + (m)*60)
/* Europe's 2025 summer-time changes happen at 01:00 UTC on these days. */
#define SPRING ((time_t)1743292800) /* Sunday 2025-03-30 00:00:00 UTC */
#define AUTUMN ((time_t)1761436800) /* Sunday 2025-10-26 00:00:00 UTC */

#define ITEM(b, s, e, ...)                                                                         \
    {                                                                                              \
        .start = (s), .end = (e), .busy = CP_BUSY_##b, __VA_ARGS__                                 \
    }
#define ITEMS(...)                                                                                 \
    .items = {__VA_ARGS__},                                                                        \
    .n = sizeof((struct cp_interval[]){__VA_ARGS__}) / sizeof(struct cp_interval)

static const struct cp_tl_opts tent_busy = {.tentative_is_busy = true};
static const struct cp_tl_opts subj = {.include_subject = true};

struct row {
    const char *name;
    struct cp_interval items[8];
    size_t n;
    time_t now;
    const struct cp_tl_opts *opts; /* NULL: defaults */
    enum cp_tl_state state;
    time_t since, until;
    const char *subject;
};

static const struct row rows[] = {
    {"empty calendar", .n = 0, .now = AT(0, 10, 0), .state = CP_TL_FREE},
    {"busy ahead", ITEMS(ITEM(BUSY, AT(0, 10, 0), AT(0, 11, 0))), .now = AT(0, 9, 0),
     .state = CP_TL_FREE, .until = AT(0, 10, 0)},
    {"busy during", ITEMS(ITEM(BUSY, AT(0, 10, 0), AT(0, 11, 0))), .now = AT(0, 10, 15),
     .state = CP_TL_BUSY, .since = AT(0, 10, 0), .until = AT(0, 11, 0)},
    {"busy at its first second", ITEMS(ITEM(BUSY, AT(0, 10, 0), AT(0, 11, 0))), .now = AT(0, 10, 0),
     .state = CP_TL_BUSY, .since = AT(0, 10, 0), .until = AT(0, 11, 0)},
    {"busy at its last second", ITEMS(ITEM(BUSY, AT(0, 10, 0), AT(0, 11, 0))),
     .now = AT(0, 11, 0) - 1, .state = CP_TL_BUSY, .since = AT(0, 10, 0), .until = AT(0, 11, 0)},
    {"busy at its end (end is exclusive)", ITEMS(ITEM(BUSY, AT(0, 10, 0), AT(0, 11, 0))),
     .now = AT(0, 11, 0), .state = CP_TL_FREE, .since = AT(0, 11, 0), .until = 0},
    {"busy behind", ITEMS(ITEM(BUSY, AT(0, 10, 0), AT(0, 11, 0))), .now = AT(0, 12, 0),
     .state = CP_TL_FREE, .since = AT(0, 11, 0), .until = 0},
    {"oof over busy: inside",
     ITEMS(ITEM(BUSY, AT(0, 9, 0), AT(0, 12, 0)), ITEM(OOF, AT(0, 10, 0), AT(0, 11, 0))),
     .now = AT(0, 10, 30), .state = CP_TL_OOF, .since = AT(0, 10, 0), .until = AT(0, 11, 0)},
    {"oof over busy: before",
     ITEMS(ITEM(BUSY, AT(0, 9, 0), AT(0, 12, 0)), ITEM(OOF, AT(0, 10, 0), AT(0, 11, 0))),
     .now = AT(0, 9, 30), .state = CP_TL_BUSY, .since = AT(0, 9, 0), .until = AT(0, 10, 0)},
    {"oof over busy: after",
     ITEMS(ITEM(BUSY, AT(0, 9, 0), AT(0, 12, 0)), ITEM(OOF, AT(0, 10, 0), AT(0, 11, 0))),
     .now = AT(0, 11, 0), .state = CP_TL_BUSY, .since = AT(0, 11, 0), .until = AT(0, 12, 0)},
    {"busy over tentative",
     ITEMS(ITEM(TENTATIVE, AT(0, 9, 0), AT(0, 12, 0)), ITEM(BUSY, AT(0, 10, 0), AT(0, 11, 0))),
     .now = AT(0, 10, 30), .state = CP_TL_BUSY, .since = AT(0, 10, 0), .until = AT(0, 11, 0)},
    {"tentative again after the busy part",
     ITEMS(ITEM(TENTATIVE, AT(0, 9, 0), AT(0, 12, 0)), ITEM(BUSY, AT(0, 10, 0), AT(0, 11, 0))),
     .now = AT(0, 11, 30), .state = CP_TL_TENTATIVE, .since = AT(0, 11, 0), .until = AT(0, 12, 0)},
    {"tentative as busy joins the busy item",
     ITEMS(ITEM(TENTATIVE, AT(0, 9, 0), AT(0, 12, 0)), ITEM(BUSY, AT(0, 10, 0), AT(0, 11, 0))),
     .now = AT(0, 10, 30), .opts = &tent_busy, .state = CP_TL_BUSY, .since = AT(0, 9, 0),
     .until = AT(0, 12, 0)},
    {"tentative alone as busy", ITEMS(ITEM(TENTATIVE, AT(0, 9, 0), AT(0, 10, 0))),
     .now = AT(0, 9, 0), .opts = &tent_busy, .state = CP_TL_BUSY, .since = AT(0, 9, 0),
     .until = AT(0, 10, 0)},
    {"elsewhere before tentative",
     ITEMS(ITEM(ELSEWHERE, AT(0, 8, 0), AT(0, 17, 0)), ITEM(TENTATIVE, AT(0, 10, 0), AT(0, 11, 0)),
           ITEM(FREE, AT(0, 12, 0), AT(0, 13, 0))),
     .now = AT(0, 9, 0), .state = CP_TL_ELSEWHERE, .since = AT(0, 8, 0), .until = AT(0, 10, 0)},
    {"tentative over elsewhere",
     ITEMS(ITEM(ELSEWHERE, AT(0, 8, 0), AT(0, 17, 0)), ITEM(TENTATIVE, AT(0, 10, 0), AT(0, 11, 0)),
           ITEM(FREE, AT(0, 12, 0), AT(0, 13, 0))),
     .now = AT(0, 10, 30), .state = CP_TL_TENTATIVE, .since = AT(0, 10, 0), .until = AT(0, 11, 0)},
    {"a free item does not break elsewhere",
     ITEMS(ITEM(ELSEWHERE, AT(0, 8, 0), AT(0, 17, 0)), ITEM(TENTATIVE, AT(0, 10, 0), AT(0, 11, 0)),
           ITEM(FREE, AT(0, 12, 0), AT(0, 13, 0))),
     .now = AT(0, 12, 30), .state = CP_TL_ELSEWHERE, .since = AT(0, 11, 0), .until = AT(0, 17, 0)},
    {"free after elsewhere",
     ITEMS(ITEM(ELSEWHERE, AT(0, 8, 0), AT(0, 17, 0)), ITEM(TENTATIVE, AT(0, 10, 0), AT(0, 11, 0)),
           ITEM(FREE, AT(0, 12, 0), AT(0, 13, 0))),
     .now = AT(0, 17, 0), .state = CP_TL_FREE, .since = AT(0, 17, 0), .until = 0},
    {"no-data counts as free", ITEMS(ITEM(NODATA, AT(0, 0, 0), AT(1, 0, 0))), .now = AT(0, 10, 0),
     .state = CP_TL_FREE},
    {"cancelled busy ignored",
     ITEMS(ITEM(BUSY, AT(0, 10, 0), AT(0, 11, 0), .cancelled = true, .subject = "Gone")),
     .now = AT(0, 10, 30), .opts = &subj, .state = CP_TL_FREE},
    {"cancelled oof over busy ignored",
     ITEMS(ITEM(BUSY, AT(0, 10, 0), AT(0, 11, 0)),
           ITEM(OOF, AT(0, 9, 0), AT(0, 12, 0), .cancelled = true)),
     .now = AT(0, 10, 30), .state = CP_TL_BUSY, .since = AT(0, 10, 0), .until = AT(0, 11, 0)},
    {"back-to-back busy: no available blip",
     ITEMS(ITEM(BUSY, AT(0, 10, 0), AT(0, 10, 30)), ITEM(BUSY, AT(0, 10, 30), AT(0, 11, 0))),
     .now = AT(0, 10, 15), .state = CP_TL_BUSY, .since = AT(0, 10, 0), .until = AT(0, 11, 0)},
    {"back-to-back busy, listed backwards",
     ITEMS(ITEM(BUSY, AT(0, 10, 30), AT(0, 11, 0)), ITEM(BUSY, AT(0, 10, 0), AT(0, 10, 30))),
     .now = AT(0, 10, 45), .state = CP_TL_BUSY, .since = AT(0, 10, 0), .until = AT(0, 11, 0)},
    {"a one-second gap is a change",
     ITEMS(ITEM(BUSY, AT(0, 10, 0), AT(0, 10, 30)), ITEM(BUSY, AT(0, 10, 30) + 1, AT(0, 11, 0))),
     .now = AT(0, 10, 15), .state = CP_TL_BUSY, .since = AT(0, 10, 0), .until = AT(0, 10, 30)},
    {"overlapping busy",
     ITEMS(ITEM(BUSY, AT(0, 10, 0), AT(0, 11, 0)), ITEM(BUSY, AT(0, 10, 30), AT(0, 11, 30))),
     .now = AT(0, 10, 15), .state = CP_TL_BUSY, .since = AT(0, 10, 0), .until = AT(0, 11, 30)},
    {"duplicated busy",
     ITEMS(ITEM(BUSY, AT(0, 10, 0), AT(0, 11, 0)), ITEM(BUSY, AT(0, 10, 0), AT(0, 11, 0))),
     .now = AT(0, 10, 15), .state = CP_TL_BUSY, .since = AT(0, 10, 0), .until = AT(0, 11, 0)},
    {"busy then oof inside it: busy until the oof",
     ITEMS(ITEM(BUSY, AT(0, 10, 0), AT(0, 11, 0)), ITEM(OOF, AT(0, 10, 30), AT(0, 12, 0))),
     .now = AT(0, 10, 15), .state = CP_TL_BUSY, .since = AT(0, 10, 0), .until = AT(0, 10, 30)},
    {"busy then oof inside it: the oof",
     ITEMS(ITEM(BUSY, AT(0, 10, 0), AT(0, 11, 0)), ITEM(OOF, AT(0, 10, 30), AT(0, 12, 0))),
     .now = AT(0, 10, 45), .state = CP_TL_OOF, .since = AT(0, 10, 30), .until = AT(0, 12, 0)},
    {"three chained busy items",
     ITEMS(ITEM(BUSY, AT(0, 11, 0), AT(0, 12, 0)), ITEM(BUSY, AT(0, 9, 0), AT(0, 10, 0)),
           ITEM(BUSY, AT(0, 10, 0), AT(0, 11, 0))),
     .now = AT(0, 9, 30), .state = CP_TL_BUSY, .since = AT(0, 9, 0), .until = AT(0, 12, 0)},
    {"three chained states: busy",
     ITEMS(ITEM(BUSY, AT(0, 9, 0), AT(0, 10, 0)), ITEM(TENTATIVE, AT(0, 10, 0), AT(0, 11, 0)),
           ITEM(OOF, AT(0, 11, 0), AT(0, 12, 0))),
     .now = AT(0, 9, 30), .state = CP_TL_BUSY, .since = AT(0, 9, 0), .until = AT(0, 10, 0)},
    {"three chained states: tentative",
     ITEMS(ITEM(BUSY, AT(0, 9, 0), AT(0, 10, 0)), ITEM(TENTATIVE, AT(0, 10, 0), AT(0, 11, 0)),
           ITEM(OOF, AT(0, 11, 0), AT(0, 12, 0))),
     .now = AT(0, 10, 30), .state = CP_TL_TENTATIVE, .since = AT(0, 10, 0), .until = AT(0, 11, 0)},
    {"three chained states: oof",
     ITEMS(ITEM(BUSY, AT(0, 9, 0), AT(0, 10, 0)), ITEM(TENTATIVE, AT(0, 10, 0), AT(0, 11, 0)),
           ITEM(OOF, AT(0, 11, 0), AT(0, 12, 0))),
     .now = AT(0, 11, 30), .state = CP_TL_OOF, .since = AT(0, 11, 0), .until = AT(0, 12, 0)},
    {"zero-length and inverted items ignored",
     ITEMS(ITEM(BUSY, AT(0, 10, 0), AT(0, 10, 0)), ITEM(OOF, AT(0, 11, 0), AT(0, 9, 0))),
     .now = AT(0, 10, 0), .state = CP_TL_FREE},
    {"zero-length item does not bridge a gap",
     ITEMS(ITEM(BUSY, AT(0, 9, 0), AT(0, 10, 0)), ITEM(BUSY, AT(0, 10, 0), AT(0, 10, 0)),
           ITEM(BUSY, AT(0, 10, 0) + 1, AT(0, 11, 0))),
     .now = AT(0, 9, 30), .state = CP_TL_BUSY, .since = AT(0, 9, 0), .until = AT(0, 10, 0)},
    {"all-day oof of a week that began yesterday",
     ITEMS(ITEM(OOF, AT(0, 0, 0), AT(7, 0, 0), .subject = "Holiday"),
           ITEM(BUSY, AT(1, 14, 0), AT(1, 15, 0), .subject = "Team sync")),
     .now = AT(1, 10, 0), .opts = &subj, .state = CP_TL_OOF, .since = AT(0, 0, 0),
     .until = AT(7, 0, 0), .subject = "Holiday"},
    {"recurring daily stand-up: in the second occurrence",
     ITEMS(ITEM(BUSY, AT(0, 9, 0), AT(0, 9, 15)), ITEM(BUSY, AT(1, 9, 0), AT(1, 9, 15)),
           ITEM(BUSY, AT(2, 9, 0), AT(2, 9, 15)), ITEM(BUSY, AT(3, 9, 0), AT(3, 9, 15)),
           ITEM(BUSY, AT(4, 9, 0), AT(4, 9, 15))),
     .now = AT(1, 9, 5), .state = CP_TL_BUSY, .since = AT(1, 9, 0), .until = AT(1, 9, 15)},
    {"recurring daily stand-up: between occurrences",
     ITEMS(ITEM(BUSY, AT(0, 9, 0), AT(0, 9, 15)), ITEM(BUSY, AT(1, 9, 0), AT(1, 9, 15)),
           ITEM(BUSY, AT(2, 9, 0), AT(2, 9, 15)), ITEM(BUSY, AT(3, 9, 0), AT(3, 9, 15)),
           ITEM(BUSY, AT(4, 9, 0), AT(4, 9, 15))),
     .now = AT(1, 10, 0), .state = CP_TL_FREE, .since = AT(1, 9, 15), .until = AT(2, 9, 0)},
    {"recurring daily stand-up: after the last",
     ITEMS(ITEM(BUSY, AT(0, 9, 0), AT(0, 9, 15)), ITEM(BUSY, AT(1, 9, 0), AT(1, 9, 15)),
           ITEM(BUSY, AT(2, 9, 0), AT(2, 9, 15)), ITEM(BUSY, AT(3, 9, 0), AT(3, 9, 15)),
           ITEM(BUSY, AT(4, 9, 0), AT(4, 9, 15))),
     .now = AT(4, 9, 15), .state = CP_TL_FREE, .since = AT(4, 9, 15), .until = 0},
    /* 00:30-01:30 UTC is 01:30 CET to 03:30 CEST in Paris: two local hours, one real hour. */
    {"across the spring DST change (UTC arithmetic)",
     ITEMS(ITEM(BUSY, SPRING + 1800, SPRING + 5400)), .now = SPRING + 2700, .state = CP_TL_BUSY,
     .since = SPRING + 1800, .until = SPRING + 5400},
    {"after the spring DST change", ITEMS(ITEM(BUSY, SPRING + 1800, SPRING + 5400)),
     .now = SPRING + 3600, .state = CP_TL_BUSY, .since = SPRING + 1800, .until = SPRING + 5400},
    /* 00:30-01:30 UTC is 02:30 CEST to 02:30 CET: the same local time at both ends. */
    {"across the autumn DST change (UTC arithmetic)",
     ITEMS(ITEM(OOF, AUTUMN + 1800, AUTUMN + 5400)), .now = AUTUMN + 3599, .state = CP_TL_OOF,
     .since = AUTUMN + 1800, .until = AUTUMN + 5400},
    {"private item shows no subject even when asked",
     ITEMS(ITEM(BUSY, AT(0, 10, 0), AT(0, 11, 0), .is_private = true, .subject = "Doctor")),
     .now = AT(0, 10, 30), .opts = &subj, .state = CP_TL_BUSY, .since = AT(0, 10, 0),
     .until = AT(0, 11, 0)},
    {"subject hidden by default",
     ITEMS(ITEM(BUSY, AT(0, 10, 0), AT(0, 11, 0), .subject = "Budget review")),
     .now = AT(0, 10, 30), .state = CP_TL_BUSY, .since = AT(0, 10, 0), .until = AT(0, 11, 0)},
    {"subject shown with include_subject",
     ITEMS(ITEM(BUSY, AT(0, 10, 0), AT(0, 11, 0), .subject = "Budget review")),
     .now = AT(0, 10, 30), .opts = &subj, .state = CP_TL_BUSY, .since = AT(0, 10, 0),
     .until = AT(0, 11, 0), .subject = "Budget review"},
    {"subject of the latest-started covering item",
     ITEMS(ITEM(BUSY, AT(0, 9, 0), AT(0, 12, 0), .subject = "All hands"),
           ITEM(BUSY, AT(0, 10, 0), AT(0, 11, 0), .subject = "One to one"),
           ITEM(TENTATIVE, AT(0, 10, 15), AT(0, 11, 0), .subject = "Maybe")),
     .now = AT(0, 10, 30), .opts = &subj, .state = CP_TL_BUSY, .since = AT(0, 9, 0),
     .until = AT(0, 12, 0), .subject = "One to one"},
    {"subject change alone is no change of state",
     ITEMS(ITEM(BUSY, AT(0, 9, 0), AT(0, 10, 0), .subject = "First"),
           ITEM(BUSY, AT(0, 10, 0), AT(0, 11, 0), .subject = "Second")),
     .now = AT(0, 9, 30), .opts = &subj, .state = CP_TL_BUSY, .since = AT(0, 9, 0),
     .until = AT(0, 11, 0), .subject = "First"},
    {"equal starts: subject of the first listed",
     ITEMS(ITEM(BUSY, AT(0, 10, 0), AT(0, 11, 0), .subject = "Listed first"),
           ITEM(BUSY, AT(0, 10, 0), AT(0, 12, 0), .subject = "Listed second")),
     .now = AT(0, 10, 30), .opts = &subj, .state = CP_TL_BUSY, .since = AT(0, 10, 0),
     .until = AT(0, 12, 0), .subject = "Listed first"},
    {"private winner hides, no fallback to another subject",
     ITEMS(ITEM(BUSY, AT(0, 9, 0), AT(0, 12, 0), .subject = "Public"),
           ITEM(BUSY, AT(0, 10, 0), AT(0, 11, 0), .is_private = true, .subject = "Secret")),
     .now = AT(0, 10, 30), .opts = &subj, .state = CP_TL_BUSY, .since = AT(0, 9, 0),
     .until = AT(0, 12, 0)},
    {"subject of the stronger item, not the later one",
     ITEMS(ITEM(OOF, AT(0, 9, 0), AT(0, 12, 0), .subject = "Away"),
           ITEM(BUSY, AT(0, 10, 0), AT(0, 11, 0), .subject = "Meeting")),
     .now = AT(0, 10, 30), .opts = &subj, .state = CP_TL_OOF, .since = AT(0, 9, 0),
     .until = AT(0, 12, 0), .subject = "Away"},
    {"free item shows no subject",
     ITEMS(ITEM(FREE, AT(0, 10, 0), AT(0, 11, 0), .subject = "Focus time")), .now = AT(0, 10, 30),
     .opts = &subj, .state = CP_TL_FREE},
    {"elsewhere shows its subject",
     ITEMS(ITEM(ELSEWHERE, AT(0, 8, 0), AT(0, 17, 0), .subject = "Home office")),
     .now = AT(0, 10, 30), .opts = &subj, .state = CP_TL_ELSEWHERE, .since = AT(0, 8, 0),
     .until = AT(0, 17, 0), .subject = "Home office"},
};

static void
check_row(const struct row *r)
{
    struct cp_tl_result res;
    memset(&res, 0x5a, sizeof(res));
    cr_assert_eq(cp_timeline_at(r->items, r->n, r->now, r->opts, &res), CP_OK, "%s", r->name);
    cr_expect_eq(res.state, r->state, "%s: state %s, expected %s", r->name,
                 cp_tl_state_name(res.state), cp_tl_state_name(r->state));
    cr_expect_eq(res.since, r->since, "%s: since %+lld s from expected", r->name,
                 (long long)(res.since - r->since));
    cr_expect_eq(res.until, r->until, "%s: until %+lld s from expected", r->name,
                 (long long)(res.until - r->until));
    if (r->subject)
        cr_expect(res.subject && strcmp(res.subject, r->subject) == 0,
                  "%s: subject '%s', expected '%s'", r->name, res.subject ? res.subject : "(null)",
                  r->subject);
    else
        cr_expect_null(res.subject, "%s: subject '%s', expected none", r->name, res.subject);
}

Test(timeline, table)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        check_row(&rows[i]);
}

/* The function never reads the local time zone: the same answers under any TZ. */
Test(timeline, table_does_not_depend_on_time_zone)
{
    const char *zones[] = {"Europe/Paris", "America/New_York", "Australia/Lord_Howe", "UTC"};
    for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
        setenv("TZ", zones[z], 1);
        tzset();
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
            check_row(&rows[i]);
    }
}

Test(timeline, refuses_bad_arguments_and_leaves_out_alone)
{
    struct cp_interval bad[] = {ITEM(BUSY, AT(0, 9, 0), AT(0, 10, 0)),
                                {.start = AT(0, 9, 0), .end = AT(0, 10, 0), .busy = 42}};
    struct cp_tl_result res = {.state = CP_TL_OOF, .since = 7, .until = 8, .subject = "x"};

    cr_expect_eq(cp_timeline_at(bad, 2, AT(0, 9, 30), NULL, &res), CP_EINVAL,
                 "a busy value outside the enum is refused");
    cr_expect_eq(cp_timeline_at(NULL, 1, AT(0, 9, 30), NULL, &res), CP_EINVAL);
    cr_expect_eq(cp_timeline_at(bad, 1, AT(0, 9, 30), NULL, NULL), CP_EINVAL);
    cr_expect_eq(res.state, CP_TL_OOF);
    cr_expect_eq(res.since, 7);
    cr_expect_eq(res.until, 8);
    cr_expect_str_eq(res.subject, "x");
    cr_expect_eq(cp_timeline_at(NULL, 0, AT(0, 9, 30), NULL, &res), CP_OK, "no items is fine");
    cr_expect_eq(res.state, CP_TL_FREE);
}

Test(timeline, state_names)
{
    cr_expect_str_eq(cp_tl_state_name(CP_TL_FREE), "free");
    cr_expect_str_eq(cp_tl_state_name(CP_TL_TENTATIVE), "tentative");
    cr_expect_str_eq(cp_tl_state_name(CP_TL_BUSY), "busy");
    cr_expect_str_eq(cp_tl_state_name(CP_TL_OOF), "oof");
    cr_expect_str_eq(cp_tl_state_name(CP_TL_ELSEWHERE), "elsewhere");
    cr_expect_str_eq(cp_tl_state_name((enum cp_tl_state)99), "unknown");
}

/* More same-state items than fit on the stack: 300 back-to-back one-minute meetings, shuffled,
 * are one busy stretch. */
Test(timeline, long_chain_of_same_state_items)
{
    enum { N = 300 };
    struct cp_interval items[N];
    for (int i = 0; i < N; i++)
        items[i] = (struct cp_interval)ITEM(BUSY, AT(0, 8, i), AT(0, 8, i + 1));
    srand(7);
    for (int i = N - 1; i > 0; i--) {
        int j = rand() % (i + 1);
        struct cp_interval t = items[i];
        items[i] = items[j];
        items[j] = t;
    }
    struct cp_tl_result res;
    cr_assert_eq(cp_timeline_at(items, N, AT(0, 10, 30), NULL, &res), CP_OK);
    cr_expect_eq(res.state, CP_TL_BUSY);
    cr_expect_eq(res.since, AT(0, 8, 0));
    cr_expect_eq(res.until, AT(0, 8, N));
}

/* --- property test against a brute-force reference --- */

#define WINDOW (2 * 86400)
#define RANDOM_ITEMS 500

static const char *const subjects[] = {"s0", "s1", "s2", "s3", "s4", "s5", NULL};

/* Strength of an item as displayed, by the rules in contract.md, written independently. */
static int
ref_strength(const struct cp_interval *it, bool tentative_is_busy, enum cp_tl_state *shown)
{
    if (it->cancelled || it->end <= it->start)
        return 0;
    switch (it->busy) {
    case CP_BUSY_OOF:
        *shown = CP_TL_OOF;
        return 4;
    case CP_BUSY_BUSY:
        *shown = CP_TL_BUSY;
        return 3;
    case CP_BUSY_TENTATIVE:
        *shown = tentative_is_busy ? CP_TL_BUSY : CP_TL_TENTATIVE;
        return tentative_is_busy ? 3 : 2;
    case CP_BUSY_ELSEWHERE:
        *shown = CP_TL_ELSEWHERE;
        return 1;
    default:
        return 0;
    }
}

static enum cp_tl_state
ref_state(const struct cp_interval *items, size_t n, time_t t, const struct cp_tl_opts *o,
          const char **subject)
{
    enum cp_tl_state state = CP_TL_FREE;
    int best = 0;
    const struct cp_interval *from = NULL;
    for (size_t i = 0; i < n; i++) {
        enum cp_tl_state shown;
        int s = ref_strength(&items[i], o->tentative_is_busy, &shown);
        if (s == 0 || t < items[i].start || t >= items[i].end)
            continue;
        if (s > best || (s == best && items[i].start > from->start)) {
            best = s;
            state = shown;
            from = &items[i];
        }
    }
    *subject = from && o->include_subject && !from->is_private ? from->subject : NULL;
    return state;
}

static time_t
random_time(time_t base, int range)
{
    time_t t = base + rand() % range;
    /* Half on a five-minute grid, so that back-to-back and equal boundaries are common. */
    return rand() % 2 ? t - (t - base) % 300 : t;
}

static void
random_items(struct cp_interval *items, size_t n, time_t base)
{
    static const enum cp_busy weighted[] = {
        CP_BUSY_BUSY,      CP_BUSY_BUSY,      CP_BUSY_BUSY,      CP_BUSY_BUSY,
        CP_BUSY_BUSY,      CP_BUSY_BUSY,      CP_BUSY_TENTATIVE, CP_BUSY_TENTATIVE,
        CP_BUSY_TENTATIVE, CP_BUSY_TENTATIVE, CP_BUSY_ELSEWHERE, CP_BUSY_ELSEWHERE,
        CP_BUSY_ELSEWHERE, CP_BUSY_FREE,      CP_BUSY_FREE,      CP_BUSY_FREE,
        CP_BUSY_NODATA,    CP_BUSY_NODATA,    CP_BUSY_NODATA,    CP_BUSY_OOF,
    };
    for (size_t i = 0; i < n; i++) {
        struct cp_interval *it = &items[i];
        it->start = random_time(base + 600, WINDOW - 2 * 3600);
        switch (rand() % 20) {
        case 0:
            it->end = it->start; /* empty */
            break;
        case 1:
            it->end = it->start - 1 - rand() % 600; /* inverted */
            break;
        case 2:
            *it = items[rand() % (i + 1)]; /* duplicate (or itself) */
            continue;
        default:
            /* Half of whole five-minute lengths: with the grid, many items touch. */
            it->end = it->start + (rand() % 2 ? 300 * (1 + rand() % 4) : 1 + rand() % 1200);
        }
        it->busy = weighted[rand() % 20];
        it->cancelled = rand() % 10 == 0;
        it->is_private = rand() % 5 == 0;
        it->subject = subjects[rand() % 7];
    }
}

static void
cross_check(unsigned seed, const struct cp_tl_opts *o)
{
    static struct cp_interval items[RANDOM_ITEMS];
    static enum cp_tl_state truth[WINDOW];
    const time_t base = AT(0, 0, 0);

    srand(seed);
    random_items(items, RANDOM_ITEMS, base);
    for (time_t t = 0; t < WINDOW; t++) {
        const char *ignored;
        truth[t] = ref_state(items, RANDOM_ITEMS, base + t, o, &ignored);
    }
    cr_assert_eq(truth[0], CP_TL_FREE, "the window starts free");
    cr_assert_eq(truth[WINDOW - 1], CP_TL_FREE, "the window ends free");

    int checked = 0;
    for (size_t k = 0; k < 3 * RANDOM_ITEMS + 1000; k++) {
        time_t rel;
        if (k < 3 * RANDOM_ITEMS) { /* an item's boundary, a second before or after it */
            const struct cp_interval *it = &items[k / 3 % RANDOM_ITEMS];
            rel = (k % 2 ? it->end : it->start) - base + (time_t)(k % 3) - 1;
        } else {
            rel = rand() % WINDOW;
        }
        if (rel < 0 || rel >= WINDOW)
            continue;
        const char *subject;
        enum cp_tl_state state = ref_state(items, RANDOM_ITEMS, base + rel, o, &subject);
        time_t until = 0, since = 0;
        for (time_t t = rel + 1; t < WINDOW && !until; t++)
            if (truth[t] != state)
                until = base + t;
        for (time_t t = rel - 1; t >= 0 && !since; t--)
            if (truth[t] != state)
                since = base + t + 1;

        struct cp_tl_result res;
        cr_assert_eq(cp_timeline_at(items, RANDOM_ITEMS, base + rel, o, &res), CP_OK);
        cr_assert_eq(res.state, state, "seed %u at +%lld: state %s, expected %s", seed,
                     (long long)rel, cp_tl_state_name(res.state), cp_tl_state_name(state));
        cr_assert_eq(res.until, until, "seed %u at +%lld (%s): until +%lld, expected +%lld", seed,
                     (long long)rel, cp_tl_state_name(state), (long long)(res.until - base),
                     (long long)(until - base));
        cr_assert_eq(res.since, since, "seed %u at +%lld (%s): since +%lld, expected +%lld", seed,
                     (long long)rel, cp_tl_state_name(state), (long long)(res.since - base),
                     (long long)(since - base));
        cr_assert_eq(res.subject, subject, "seed %u at +%lld: subject %s, expected %s", seed,
                     (long long)rel, res.subject ? res.subject : "(null)",
                     subject ? subject : "(null)");
        checked++;
    }
    cr_assert_gt(checked, 2000);
}

Test(timeline, random_items_match_brute_force, .timeout = 120)
{
    const struct cp_tl_opts opts[] = {
        {0},
        {.tentative_is_busy = true},
        {.include_subject = true},
        {.tentative_is_busy = true, .include_subject = true},
    };
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        cross_check(1000 + (unsigned)i, &opts[i]);
}
