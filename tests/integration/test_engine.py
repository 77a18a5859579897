"""The calendar engine end to end in push mode (issue 9, "Tests that must exist"): a real
Prosody, ews-sim with two CAS (behind recording proxies), the daemon with spread 0, and bob's
slixmpp client watching calendar JIDs. One world for the whole class; each case has its own
mailbox. Timing claims are measured against the item times or the daemon's debug line
"calendar changed (notification)", with margins for a shared 2-core machine.

Run with /usr/bin/python3 (slixmpp)."""

import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engine_env as env  # noqa: E402
from engine_env import cal_jid, describe, h, iso, payload  # noqa: E402

# Users an admin enables with their own mailboxes, and the CAS each mailbox lives on.
ADMIN_USERS = ["busy", "ontime", "oof", "tent", "b2b", "cancel", "recur", "dis", "backoff"]
MAILBOXES = [("alice@example.com", "cas1"), ("carol@example.com", "cas2")] + [
    (f"{u}@example.com", "cas1" if i % 2 else "cas2") for i, u in enumerate(ADMIN_USERS)]
# Within 2 s of the notification, within 1 s of an item's start or end: asserted with these.
CHANGE_BOUND = 2.0
ONTIME_BOUND = 1.0


def notified(component, user, since):
    """Times of the daemon's notification lines for USER's calendar at or after SINCE."""
    return [t for t in env.log_times(component, rf" {user}@localhost: calendar changed")
            if t >= since]


class EngineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ws = h.Workspace("engine")
        cls.failed = False
        cls.sim = env.start_sim(MAILBOXES)
        # a series begun yesterday: today's occurrence runs now
        cls.sim.ok('item add recur@example.com -1d -23h50m busy "Standup" daily')
        cls.proxies = [env.Proxy(cls.sim, "cas1"), env.Proxy(cls.sim, "cas2")]
        cls.prosody = h.Prosody(cls.ws.dir)
        cls.prosody.start()
        cls.component = env.write_component(os.path.join(cls.ws.dir, "push"), cls.prosody,
                                             cls.sim, [p.url() for p in cls.proxies])
        cls.component.start()
        cls.session = h.Session(cls.prosody)
        cls.watch = env.Watcher(cls.session, "bob")
        cls.admin = cls.session.client("admin")
        done = env.command(cls.session, cls.admin, "users-enable",
                           {"users": [f"{u}@localhost,{u}@example.com" for u in ADMIN_USERS]})
        assert done["type"] == "result" and done["command"]["status"] == "completed", done
        for u in ADMIN_USERS:
            cls.watch.subscribe(cal_jid(u))

    @classmethod
    def tearDownClass(cls):
        cls.session.close()
        cls.component.stop()
        cls.prosody.stop()
        for p in cls.proxies:
            p.stop()
        rc, log = cls.sim.stop()
        if rc != 0:
            print(log[-5000:])
        cls.ws.keep = cls.failed
        cls.ws.cleanup()

    def tearDown(self):
        if h.test_failed(self):
            type(self).failed = True

    def add_item(self, mailbox, start, end, busy, subject, *opts):
        ans = self.sim.ok(f'item add {mailbox} {start} {end} {busy} "{subject}" ' + " ".join(opts))
        return ans[-1].split()[1]

    def available_first(self, user):
        """Waits until USER's calendar JID shows available (its calendar was read)."""
        return self.watch.wait(cal_jid(user), "available")

    # -- cases -----------------------------------------------------------------------------

    def test_01_enable_available_with_payload(self):
        alice = self.session.client("alice")
        done = env.command(self.session, alice, "enable")
        self.assertEqual(done["command"]["status"], "completed", done)
        self.watch.subscribe(cal_jid("alice"))
        _, pres = self.available_first("alice")
        self.assertEqual(pres["show"], "")
        self.assertEqual(payload(pres).get("state"), "free", pres)
        status = env.form_fields(env.command(self.session, alice, "status"))
        self.assertTrue(status["enabled"], status)
        self.assertEqual(status["state"], "free", status)
        self.assertIn("active", status["subscription"], status)

    def test_02_busy_added_within_2s_of_notification(self):
        self.available_first("busy")
        end = env.whole_second_ahead(600)
        t0 = time.time()
        self.add_item("busy@example.com", "-1m", iso(end), "busy", "Design review")
        t, pres = self.watch.wait(cal_jid("busy"), "dnd", since=t0)
        self.assertEqual(pres["status"], "In a meeting")
        note = notified(self.component, "busy", t0 - 1)
        self.assertTrue(note, "no notification logged")
        self.assertLessEqual(t - note[0], CHANGE_BOUND,
                             f"dnd {t - note[0]:.2f} s after the notification")
        # the payload: state and the item's end as `until`, no subject (not opted in)
        p = payload(pres)
        self.assertEqual(p.get("state"), "busy", p)
        self.assertEqual(p.get("until"), iso(end), p)
        self.assertNotIn("subject", p)

    def test_03_start_and_end_on_time_without_notification(self):
        self.available_first("ontime")
        start = env.whole_second_ahead(5)
        end = start + 6
        t0 = time.time()
        self.add_item("ontime@example.com", iso(start), iso(end), "busy", "Standup")
        # the item's notification comes first and changes nothing shown; then only the timer
        self.session.wait_for(lambda: notified(self.component, "ontime", t0 - 1), h.TIMEOUT,
                              "the notification of the new item")
        t_dnd, pres = self.watch.wait(cal_jid("ontime"), "dnd", since=t0)
        self.assertGreaterEqual(t_dnd, start - 0.05, "busy before the meeting started")
        self.assertLessEqual(t_dnd - start, ONTIME_BOUND, f"dnd {t_dnd - start:.2f} s late")
        self.assertEqual(payload(pres).get("until"), iso(end))
        t_av, pres = self.watch.wait(cal_jid("ontime"), "available", since=t_dnd)
        self.assertGreaterEqual(t_av, end - 0.05, "available before the meeting ended")
        self.assertLessEqual(t_av - end, ONTIME_BOUND, f"available {t_av - end:.2f} s late")
        self.assertEqual(len(notified(self.component, "ontime", t0 - 1)), 1,
                         "the end came from a notification, not the timer")

    def test_04_oof_away(self):
        self.available_first("oof")
        t0 = time.time()
        self.add_item("oof@example.com", "-1h", "+2d", "oof", "Vacation")
        _, pres = self.watch.wait(cal_jid("oof"), "away", since=t0)
        self.assertEqual(pres["status"], "Out of office")
        self.assertEqual(payload(pres).get("state"), "oof")

    def test_05_tentative_default_and_per_user_busy(self):
        self.available_first("tent")
        t0 = time.time()
        self.add_item("tent@example.com", "-5m", "+1h", "tentative", "Maybe")
        self.add_item("carol@example.com", "-5m", "+1h", "tentative", "Maybe")
        self.session.wait_for(
            lambda: any(payload(p).get("state") == "tentative"
                        for _, p in self.watch.of(cal_jid("tent"), t0) if payload(p)),
            h.TIMEOUT, "tent to show tentative")
        self.assertEqual(describe(self.watch.last(cal_jid("tent"))), "available")
        carol = self.session.client("carol")
        env.command(self.session, carol, "enable")
        self.watch.subscribe(cal_jid("carol"))
        _, pres = self.watch.wait(cal_jid("carol"), "available")
        self.assertEqual(payload(pres).get("state"), "tentative", pres)
        t1 = time.time()
        done = env.command(self.session, carol, "settings",
                           {"tentative": "busy", "include_subject": "0"})
        self.assertEqual(done["command"]["status"], "completed", done)
        _, pres = self.watch.wait(cal_jid("carol"), "dnd", since=t1)
        self.assertEqual(pres["status"], "In a meeting")
        # tent (default) is unaffected
        self.assertEqual(describe(self.watch.last(cal_jid("tent"))), "available")

    def test_06_back_to_back_without_blip(self):
        self.available_first("b2b")
        start = env.whole_second_ahead(4)
        t0 = time.time()
        self.add_item("b2b@example.com", iso(start), iso(start + 4), "busy", "First")
        self.add_item("b2b@example.com", iso(start + 4), iso(start + 8), "busy", "Second")
        t_dnd, _ = self.watch.wait(cal_jid("b2b"), "dnd", since=t0)
        t_av, _ = self.watch.wait(cal_jid("b2b"), "available", since=t_dnd)
        self.assertGreaterEqual(t_av, start + 8 - 0.05, "available between the meetings")
        self.assertLessEqual(t_av - (start + 8), ONTIME_BOUND)
        between = [describe(p) for t, p in self.watch.of(cal_jid("b2b"), t_dnd) if t < t_av]
        self.assertNotIn("available", between)

    def test_07_cancelled_ignored(self):
        self.available_first("cancel")
        t0 = time.time()
        item = self.add_item("cancel@example.com", "-1m", "+1h", "busy", "Cancelled later")
        t_dnd, _ = self.watch.wait(cal_jid("cancel"), "dnd", since=t0)
        self.sim.ok(f"item cancel {item}")
        t_av, _ = self.watch.wait(cal_jid("cancel"), "available", since=t_dnd)
        note = [t for t in notified(self.component, "cancel", t_dnd)]
        self.assertTrue(note)
        self.assertLessEqual(t_av - note[0], CHANGE_BOUND)
        # a cancelled item added later never shows either
        t1 = time.time()
        item = self.add_item("cancel@example.com", "-1m", "+1h", "busy", "Cancelled at once")
        self.sim.ok(f"item cancel {item}")
        # ews-sim sometimes holds these two pushes back for its 30 s retry (seen under load,
        # with nothing reaching the listener): wait a while, but the claim is only that dnd
        # never shows, whenever the notifications come.
        try:
            self.session.wait_for(lambda: len(notified(self.component, "cancel", t1)) >= 1,
                                  10, "notifications")
        except AssertionError:
            pass
        self.session.sleep(2)
        shown = [describe(p) for t, p in self.watch.of(cal_jid("cancel"), t1)]
        self.assertNotIn("dnd", shown)
        self.assertEqual(describe(self.watch.last(cal_jid("cancel"))), "available")

    def test_08_recurring_occurrence(self):
        # read at enable (GetUserAvailability): today's occurrence of yesterday's series
        _, pres = self.watch.wait(cal_jid("recur"), "dnd")
        self.assertEqual(payload(pres).get("state"), "busy")

    def test_10_disable_answers_unsubscribe_to_every_push(self):
        self.available_first("dis")
        first = [s for s in env.sim_subscriptions(self.sim, "dis@example.com")]
        self.assertEqual(len(first), 1, first)
        # a second subscription for the same user: both must be refused after disable
        done = env.command(self.session, self.admin, "user-resubscribe", {"jid": "dis@localhost"})
        self.assertEqual(done["command"]["status"], "completed", done)
        self.session.wait_for(
            lambda: len(env.sim_subscriptions(self.sim, "dis@example.com")) >= 2, h.TIMEOUT,
            "a second subscription")
        ids = [s[0] for s in env.sim_subscriptions(self.sim, "dis@example.com")]
        t0 = time.time()
        done = env.command(self.session, self.admin, "users-disable", {"users": "dis@localhost"})
        self.assertEqual(done["command"]["status"], "completed", done)
        self.watch.wait(cal_jid("dis"), "unavailable", since=t0)
        for sid in ids:
            status, text = env.post_notify(self.component, env.NOTIFICATION.format(sid=sid))
            self.assertEqual((status, env.subscription_status(text)), (200, "Unsubscribe"), sid)
        # Exchange's own next push for each of them is answered Unsubscribe too
        before = env.sim_counter(self.sim, "push_unsubscribe")
        self.add_item("dis@example.com", "-1m", "+1h", "busy", "After disable")
        self.session.wait_for(
            lambda: not env.sim_subscriptions(self.sim, "dis@example.com"), h.TIMEOUT,
            "ews-sim to drop the subscriptions")
        self.assertGreaterEqual(env.sim_counter(self.sim, "push_unsubscribe"), before + 1)
        self.session.sleep(1)
        self.assertEqual(describe(self.watch.last(cal_jid("dis"))), "unavailable")

    def test_11_unknown_subscription_unsubscribe(self):
        status, text = env.post_notify(self.component,
                                       env.NOTIFICATION.format(sid="AAAAAnotOurs0000"))
        self.assertEqual((status, env.subscription_status(text)), (200, "Unsubscribe"), text)

    def test_12_hostile_bodies_refused(self):
        xxe = ('<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
               + env.NOTIFICATION.split("?>", 1)[1].replace("AAAAtest", "&x;"))
        bodies = {
            "malformed": env.NOTIFICATION.format(sid="x")[:300],
            "not xml": "hello",
            "doctype": xxe,
            "billion laughs": '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa">'
                              '<!ENTITY b "&a;&a;&a;&a;">]><l>&b;</l>',
            "2 MiB": env.NOTIFICATION.format(sid="x" * (2 * 1024 * 1024)),
        }
        for what, body in bodies.items():
            status, text = env.post_notify(self.component, body)
            self.assertTrue(400 <= status < 500, f"{what}: HTTP {status} {text[:200]}")
        # still answering, on the listener and on XMPP
        status, text = env.post_notify(self.component, env.NOTIFICATION.format(sid="unknown"))
        self.assertEqual((status, env.subscription_status(text)), (200, "Unsubscribe"))
        ping = self.session.iq(self.watch.client, h.COMPONENT, "<ping xmlns='urn:xmpp:ping'/>")
        self.assertEqual(ping["type"], "result")

    def test_13_server_busy_backoff_honoured(self):
        self.available_first("backoff")
        backoff_ms = 3000
        self.sim.ok(f"fault add busy {backoff_ms} op=FindItem mailbox=backoff@example.com "
                    "count=1")
        t0 = time.time()
        self.add_item("backoff@example.com", "-1m", "+1h", "busy", "Throttled")
        t_dnd, _ = self.watch.wait(cal_jid("backoff"), "dnd", since=t0)
        finds = [r for r in self.all_requests(t0) if "FindItem" in r[2]
                 and "backoff@example.com" in r[2]]
        self.assertGreaterEqual(len(finds), 2, "no retry after ErrorServerBusy")
        gap = finds[1][1] - finds[0][1]
        self.assertGreaterEqual(gap, backoff_ms / 1000 - 0.05, f"retried after {gap:.2f} s")
        self.assertLessEqual(gap, backoff_ms / 1000 + 3.0, f"retried after {gap:.2f} s")

    def all_requests(self, since_epoch=0.0):
        got = [r for p in self.proxies for r in p.requests if r[1] >= since_epoch]
        return sorted(got)

    def test_14_restart_keeps_users_subscribers_and_subscriptions(self):
        self.available_first("alice")
        subs_before = env.sim_subscriptions(self.sim)
        subscribes = int(self.sim.counters().get("op Subscribe", "0"))
        self.component.stop()
        t0 = time.time()
        self.watch.wait(cal_jid("alice"), "unavailable", since=t0 - 5)
        self.component.start()
        # every subscriber gets current presence again, without asking
        self.watch.wait(cal_jid("alice"), "available", since=t0)
        self.watch.wait(cal_jid("busy"), "dnd", since=t0)
        self.watch.wait(cal_jid("recur"), "dnd", since=t0)
        self.session.sleep(2)
        self.assertEqual(int(self.sim.counters().get("op Subscribe", "0")), subscribes,
                         "the restart made new subscriptions")
        self.assertEqual(sorted(env.sim_subscriptions(self.sim)), sorted(subs_before))
        # the kept push subscription still works: its next notification is answered OK
        ok_before = env.sim_counter(self.sim, "push_ok")
        t1 = time.time()
        self.add_item("alice@example.com", "-1m", "+1h", "busy", "After restart")
        self.watch.wait(cal_jid("alice"), "dnd", since=t1)
        # ews-sim counts the OK when it reads the listener's answer, on its own loop
        self.session.wait_for(lambda: env.sim_counter(self.sim, "push_ok") > ok_before,
                              h.TIMEOUT, "the kept subscription's push answered OK")

    def test_99_every_request_validates_against_the_schema(self):
        bodies = [r[2] for r in self.all_requests()]
        self.assertGreater(len(bodies), 10)
        ops = {op for op in ("Subscribe", "GetUserAvailabilityRequest", "FindItem")
               if any(f"<m:{op}" in b or f":{op} " in b or f":{op}>" in b for b in bodies)}
        self.assertEqual(ops, {"Subscribe", "GetUserAvailabilityRequest", "FindItem"})
        bad = env.validate_requests(bodies, self.ws.dir)
        self.assertEqual(bad, [], f"{len(bad)} of {len(bodies)} requests invalid")


if __name__ == "__main__":
    unittest.main(verbosity=2)
