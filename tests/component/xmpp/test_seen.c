/* The users' own presence table (seen.c): best show over resources, online and offline edges,
 * the caps cache and the XEP-0144 resource lookup. */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "config/config.h"
#include "xmpp/xmpp.h"

static struct cp_seen *s;

static void
setup(void)
{
    s = cp_seen_new();
    cr_assert_not_null(s);
}

static void
teardown(void)
{
    cp_seen_free(s);
}

TestSuite(seen, .init = setup, .fini = teardown);

Test(seen, first_resource_online_and_last_one_gone_are_changes)
{
    cr_assert_eq(cp_seen_best(s, "alice@example.com"), CP_SEEN_OFFLINE);
    cr_assert_eq(cp_seen_update(s, "alice@example.com/phone", true, NULL, NULL), 1);
    cr_assert_eq(cp_seen_best(s, "alice@example.com"), CP_SEEN_ONLINE);
    cr_assert_eq(cp_seen_online_count(s), 1);
    /* the same again: nothing changed */
    cr_assert_eq(cp_seen_update(s, "alice@example.com/phone", true, NULL, NULL), 0);
    cr_assert_eq(cp_seen_update(s, "alice@example.com/phone", false, NULL, NULL), 1);
    cr_assert_eq(cp_seen_best(s, "alice@example.com"), CP_SEEN_OFFLINE);
    cr_assert_eq(cp_seen_online_count(s), 0);
    /* unavailable from a resource never seen: nothing to do */
    cr_assert_eq(cp_seen_update(s, "alice@example.com/desk", false, NULL, NULL), 0);
}

Test(seen, the_most_available_resource_wins)
{
    cr_assert_eq(cp_seen_update(s, "alice@example.com/desk", true, "dnd", NULL), 1);
    cr_assert_eq(cp_seen_best(s, "alice@example.com"), CP_SEEN_DND);
    /* a second resource, away: dnd stays worse than away, so away is the best */
    cr_assert_eq(cp_seen_update(s, "alice@example.com/phone", true, "away", NULL), 1);
    cr_assert_eq(cp_seen_best(s, "alice@example.com"), CP_SEEN_AWAY);
    /* the desk goes online: plain online beats away */
    cr_assert_eq(cp_seen_update(s, "alice@example.com/desk", true, NULL, NULL), 1);
    cr_assert_eq(cp_seen_best(s, "alice@example.com"), CP_SEEN_ONLINE);
    /* the phone leaves: still online through the desk, no change */
    cr_assert_eq(cp_seen_update(s, "alice@example.com/phone", false, NULL, NULL), 0);
    cr_assert_eq(cp_seen_best(s, "alice@example.com"), CP_SEEN_ONLINE);
    cr_assert_eq(cp_seen_update(s, "alice@example.com/desk", true, "xa", NULL), 1);
    cr_assert_str_eq(cp_seen_show_name(cp_seen_best(s, "alice@example.com")), "xa");
    /* an unknown <show/> word counts as online */
    cr_assert_eq(cp_seen_update(s, "alice@example.com/desk", true, "busy!", NULL), 1);
    cr_assert_eq(cp_seen_best(s, "alice@example.com"), CP_SEEN_ONLINE);
}

Test(seen, users_are_kept_apart_and_jids_normalised)
{
    cr_assert_eq(cp_seen_update(s, "Alice@Example.COM/r", true, "dnd", NULL), 1);
    cr_assert_eq(cp_seen_update(s, "bob@example.com/r", true, NULL, NULL), 1);
    cr_assert_eq(cp_seen_best(s, "alice@example.com"), CP_SEEN_DND);
    cr_assert_eq(cp_seen_best(s, "bob@example.com"), CP_SEEN_ONLINE);
    cr_assert_eq(cp_seen_online_count(s), 2);
    cr_assert_eq(cp_seen_update(s, "bob@example.com", true, NULL, NULL), CP_EINVAL);
    cp_seen_clear(s);
    cr_assert_eq(cp_seen_online_count(s), 0);
    cr_assert_eq(cp_seen_best(s, "alice@example.com"), CP_SEEN_OFFLINE);
}

Test(seen, thousands_of_users_grow_the_table)
{
    char jid[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(jid, sizeof(jid), "u%d@example.com/r", i);
        cr_assert_eq(cp_seen_update(s, jid, true, i % 2 ? "away" : NULL, NULL), 1);
    }
    cr_assert_eq(cp_seen_online_count(s), 5000);
    cr_assert_eq(cp_seen_best(s, "u4999@example.com"), CP_SEEN_AWAY);
    cr_assert_eq(cp_seen_best(s, "u0@example.com"), CP_SEEN_ONLINE);
}

Test(seen, rosterx_resource_is_found_by_its_caps)
{
    char full[256];
    cr_assert_eq(cp_seen_update(s, "bob@example.com/laptop", true, NULL, "VER1="), 1);
    cr_assert_eq(cp_seen_update(s, "bob@example.com/phone", true, NULL, "VER2="), 0);
    cr_assert_eq(cp_seen_caps_get(s, "VER1="), CP_CAPS_UNKNOWN);
    cr_assert_eq(cp_seen_rosterx_resource(s, "bob@example.com", full, sizeof(full)), CP_ENOTFOUND);
    cr_assert_eq(cp_seen_caps_set(s, "VER1=", CP_CAPS_PLAIN), 0);
    cr_assert_eq(cp_seen_caps_set(s, "VER2=", CP_CAPS_ASKED), 0);
    cr_assert_eq(cp_seen_rosterx_resource(s, "bob@example.com", full, sizeof(full)), CP_ENOTFOUND);
    cr_assert_eq(cp_seen_caps_set(s, "VER2=", CP_CAPS_ROSTERX), 0);
    cr_assert_eq(cp_seen_rosterx_resource(s, "bob@example.com", full, sizeof(full)), 0);
    cr_assert_str_eq(full, "bob@example.com/phone");
    /* the resource leaves: nobody to suggest to */
    cr_assert_eq(cp_seen_update(s, "bob@example.com/phone", false, NULL, NULL), 0);
    cr_assert_eq(cp_seen_rosterx_resource(s, "bob@example.com", full, sizeof(full)), CP_ENOTFOUND);
}

Test(seen, clear_forgets_unanswered_caps_but_keeps_answers)
{
    cr_assert_eq(cp_seen_caps_set(s, "A", CP_CAPS_ASKED), 0);
    cr_assert_eq(cp_seen_caps_set(s, "B", CP_CAPS_ROSTERX), 0);
    cp_seen_clear(s);
    cr_assert_eq(cp_seen_caps_get(s, "A"), CP_CAPS_UNKNOWN);
    cr_assert_eq(cp_seen_caps_get(s, "B"), CP_CAPS_ROSTERX);
}

Test(seen, caps_cache_is_bounded)
{
    char ver[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(ver, sizeof(ver), "v%d", i);
        cr_assert_eq(cp_seen_caps_set(s, ver, CP_CAPS_PLAIN), 0);
    }
    cr_assert_eq(cp_seen_caps_get(s, "v9999"), CP_CAPS_PLAIN);
    cr_assert_eq(cp_seen_caps_get(s, "v0"), CP_CAPS_UNKNOWN);
}
