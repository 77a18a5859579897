"""The calendar engine's recovery in push mode (issue 9): one CAS stopped -> its users move to
the other within 2 x status_frequency and keep working; a mailbox moved (its push subscription
stops silently, as ews-sim's `mailbox move` does) -> followed the same way, without an admin.

status_frequency = 1 minute and ews-sim --time-scale 60, so Exchange's status events come
every second and a healthy subscription is never taken for dead; the silence rule (2 minutes)
is what notices a dead one, looked at every min(60 s, status_frequency * 60 / 4) = 15 s. The
case takes about two and a half minutes. Run with /usr/bin/python3 (slixmpp)."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engine_env as env  # noqa: E402
from engine_env import cal_jid, describe, h  # noqa: E402

USERS = [f"fo{i}" for i in range(1, 7)]
MAILBOXES = [(f"{u}@example.com", "cas1" if i % 2 else "cas2") for i, u in enumerate(USERS)]
STATUS_FREQUENCY_S = 60
SWEEP_S = 15
# The silence rule's own bound, the sweep's granularity, and a margin for a loaded machine.
RECOVERY_BOUND = 2 * STATUS_FREQUENCY_S + SWEEP_S + 10


class FailoverTest(unittest.TestCase):
    def setUp(self):
        self.ws = h.Workspace("engine-failover")
        self.sim = env.start_sim(MAILBOXES, args=["--time-scale", "60"])
        self.prosody = h.Prosody(self.ws.dir)
        self.prosody.start()
        self.component = env.write_component(
            os.path.join(self.ws.dir, "push"), self.prosody, self.sim,
            [self.sim.url("cas1"), self.sim.url("cas2")],
            notifications=f"status_frequency = {STATUS_FREQUENCY_S // 60}")
        self.component.start()
        self.session = h.Session(self.prosody)

    def tearDown(self):
        self.session.close()
        self.component.stop()
        self.prosody.stop()
        self.sim.stop()
        self.ws.keep = h.test_failed(self)
        self.ws.cleanup()

    def subs_by_user(self):
        return {s[2].split("@")[0]: s for s in env.sim_subscriptions(self.sim)
                if s[2].split("@")[0] in USERS}

    def test_cas_stopped_and_mailbox_moved(self):
        watch = env.Watcher(self.session, "bob")
        admin = self.session.client("admin")
        done = env.command(self.session, admin, "users-enable",
                           {"users": [f"{u}@localhost,{u}@example.com" for u in USERS]})
        self.assertEqual(done["command"]["status"], "completed", done)
        for u in USERS:
            watch.subscribe(cal_jid(u))
        for u in USERS:
            watch.wait(cal_jid(u), "available")
        self.session.wait_for(lambda: len(self.subs_by_user()) == len(USERS), h.TIMEOUT,
                              "every subscription at ews-sim")
        before = self.subs_by_user()
        # one user of each kind shows busy, to see that presence survives the recovery
        for u in USERS:
            self.sim.ok(f'item add {u}@example.com -1m +1h busy "Before"')
        for u in USERS:
            watch.wait(cal_jid(u), "dnd")
        cas_of = {u: s[3] for u, s in before.items()}
        stopped = cas_of[USERS[0]]
        running = "cas2" if stopped == "cas1" else "cas1"
        on_stopped = sorted(u for u in USERS if cas_of[u] == stopped)
        on_running = sorted(u for u in USERS if cas_of[u] == running)
        if not on_running:
            self.skipTest(f"the daemon put every subscription on {stopped}")
        moved = on_running[0]
        untouched = on_running[1:]

        t0 = time.time()
        self.sim.ok(f"cas stop {stopped}")
        home = dict(MAILBOXES)[f"{moved}@example.com"]
        self.sim.ok(f"mailbox move {moved}@example.com {'cas1' if home == 'cas2' else 'cas2'}")
        affected = on_stopped + [moved]

        def recovered():
            now = self.subs_by_user()
            return all(u in now and now[u][0] != before[u][0] and now[u][3] == running
                       for u in affected)
        self.session.wait_for(recovered, RECOVERY_BOUND + 30,
                              f"{affected} to resubscribe on {running}")
        took = time.time() - t0
        self.assertLessEqual(took, RECOVERY_BOUND, f"recovery took {took:.0f} s")
        now = self.subs_by_user()
        for u in untouched:  # alive all along (status events every second): kept
            self.assertEqual(now[u][0], before[u][0], f"{u} was resubscribed needlessly")
        # the last known calendar kept driving presence meanwhile: no unavailable blip
        for u in affected:
            shown = [describe(p) for _, p in watch.of(cal_jid(u), t0)]
            self.assertNotIn("unavailable", shown, u)
        # and they keep working: a change reaches them through the new subscription
        t1 = time.time()
        for u in affected:
            self.sim.ok(f'item add {u}@example.com -1m +1d oof "After"')
        for u in affected:
            watch.wait(cal_jid(u), "away", since=t1)
        print(f"recovered in {took:.0f} s (bound {RECOVERY_BOUND} s): {affected} "
              f"moved to {running}", file=sys.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
