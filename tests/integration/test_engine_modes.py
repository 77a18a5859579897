"""The calendar engine's core cases in streaming and in pull mode (issue 9): enable ->
available, a running meeting added -> dnd within 2 s of the change, its end -> available on
time; and every request of those modes (GetStreamingEvents, GetEvents, ...) validates against
the Exchange schema. One Prosody and one ews-sim (two CAS, recording proxies); one daemon per
mode, one after the other (they share the component JID).

Run with /usr/bin/python3 (slixmpp)."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engine_env as env  # noqa: E402
from engine_env import cal_jid, h, iso  # noqa: E402

MODES = {"streaming": "", "pull": "pull_interval = 1"}
USERS = {mode: [f"{mode}{i}" for i in (1, 2)] for mode in MODES}
MAILBOXES = [(f"{u}@example.com", "cas1" if i % 2 else "cas2")
             for users in USERS.values() for i, u in enumerate(users)]
# pull polls every second: a change is seen up to a poll later than in the other modes
CHANGE_BOUND = {"streaming": 2.0, "pull": 3.0}
ONTIME_BOUND = 1.0


def setUpModule():
    global WS, SIM, PROXIES, PROSODY
    WS = h.Workspace("engine-modes")
    SIM = env.start_sim(MAILBOXES, args=["--heartbeat", "5"])
    PROXIES = [env.Proxy(SIM, "cas1"), env.Proxy(SIM, "cas2")]
    PROSODY = h.Prosody(WS.dir)
    PROSODY.start()


def tearDownModule():
    PROSODY.stop()
    for p in PROXIES:
        p.stop()
    SIM.stop()
    WS.keep = ModeTest.failed
    WS.cleanup()


class ModeTest(unittest.TestCase):
    failed = False

    def tearDown(self):
        if h.test_failed(self):
            type(self).failed = True

    def core_cases(self, mode):
        since_requests = time.time()
        component = env.write_component(os.path.join(WS.dir, mode), PROSODY, SIM,
                                        [p.url() for p in PROXIES], mode=mode,
                                        notifications=MODES[mode])
        component.start()
        session = h.Session(PROSODY)
        try:
            watch = env.Watcher(session, "bob")
            admin = session.client("admin")
            users = USERS[mode]
            done = env.command(session, admin, "users-enable",
                               {"users": [f"{u}@localhost,{u}@example.com" for u in users]})
            self.assertEqual(done["command"]["status"], "completed", done)
            for u in users:
                watch.subscribe(cal_jid(u))
            for u in users:
                watch.wait(cal_jid(u), "available")
            subs = env.sim_subscriptions(SIM)
            self.assertEqual(sorted(s[1] for s in subs if s[2].startswith(mode)),
                             [mode] * len(users), subs)

            # a running meeting added -> dnd within the bound of the change notification
            a, b = users
            t0 = time.time()
            end = env.whole_second_ahead(6)
            SIM.ok(f'item add {a}@example.com -1m {iso(end)} busy "Running"')
            t_dnd, pres = watch.wait(cal_jid(a), "dnd", since=t0)
            self.assertEqual(pres["status"], "In a meeting")
            note = [t for t in env.log_times(component, rf" {a}@localhost: calendar changed")
                    if t >= t0 - 1]
            self.assertTrue(note, "no notification logged")
            self.assertLessEqual(t_dnd - t0, CHANGE_BOUND[mode],
                                 f"dnd {t_dnd - t0:.2f} s after the change")
            # its end -> available on time, from the timer
            t_av, _ = watch.wait(cal_jid(a), "available", since=t_dnd)
            self.assertGreaterEqual(t_av, end - 0.05)
            self.assertLessEqual(t_av - end, ONTIME_BOUND, f"available {t_av - end:.2f} s late")

            # a meeting that starts later turns dnd on time
            start = env.whole_second_ahead(3)
            t1 = time.time()
            SIM.ok(f'item add {b}@example.com {iso(start)} +1h busy "Later"')
            t_dnd, _ = watch.wait(cal_jid(b), "dnd", since=t1)
            self.assertGreaterEqual(t_dnd, start - 0.05)
            self.assertLessEqual(t_dnd - start, ONTIME_BOUND)

            # disable ends the subscription at Exchange (streaming and pull can Unsubscribe)
            done = env.command(session, admin, "users-disable", {"users": f"{b}@localhost"})
            self.assertEqual(done["command"]["status"], "completed", done)
            watch.wait(cal_jid(b), "unavailable", since=t_dnd)
            session.wait_for(lambda: not env.sim_subscriptions(SIM, f"{b}@example.com"),
                             h.TIMEOUT, "the subscription to be dropped")
        finally:
            session.close()
            component.stop()
        bodies = [r[2] for p in PROXIES for r in p.requests if r[1] >= since_requests]
        wanted = "GetStreamingEvents" if mode == "streaming" else "GetEvents"
        self.assertTrue(any(wanted in b for b in bodies), f"no {wanted} sent")
        self.assertTrue(any("Unsubscribe" in b for b in bodies), "no Unsubscribe sent")
        if not os.path.exists(env.SCHEMA):
            print(f"schema check skipped: {env.SCHEMA} absent", file=sys.stderr)
            return
        bad = env.validate_requests(bodies, os.path.join(WS.dir, mode))
        self.assertEqual(bad, [], f"{len(bad)} of {len(bodies)} requests invalid")

    def test_streaming_core_cases(self):
        self.core_cases("streaming")

    def test_pull_core_cases(self):
        self.core_cases("pull")


if __name__ == "__main__":
    unittest.main(verbosity=2)
