"""PEP activity (issue 11 item 4) against a private Prosody with mod_pep and prosody-modules'
mod_privilege granting the component pubsub iq set: while alice is in a meeting (ews-sim), her
own PEP node http://jabber.org/protocol/activity holds working/in_a_meeting, published as her
through a XEP-0356 privileged IQ; when the meeting ends the item is retracted, her client that
subscribed to the node is notified and the node is empty. A shutdown retracts it; a restart
clears an item a crash left; a meeting that ends while the server is down is retracted after
the reconnect. Without the pubsub iq grant nothing is published and the log says why; a server
without mod_pep refuses, which is logged and not retried in a loop; with pep_activity left at
its default nothing is published.

Run with /usr/bin/python3 (slixmpp)."""

import os
import re
import sys
import time
import unittest

from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engine_env as env  # noqa: E402
from engine_env import h  # noqa: E402

PUBSUB_NS = "http://jabber.org/protocol/pubsub"
EVENT_NS = "http://jabber.org/protocol/pubsub#event"
ACTIVITY_NS = "http://jabber.org/protocol/activity"
ALICE = "alice@localhost"
# What docs/privileges.md gives for Prosody: the pubsub iq permission PEP activity needs.
PRIVILEGES_PEP = 'roster = "both"; iq = { ["http://jabber.org/protocol/pubsub"] = "set" };'


def activity_items(session, client):
    """The items of CLIENT's own activity node, as it reads them: a list of <item/> elements,
    empty when the node holds none or does not exist."""
    ans = session.iq(client, client.boundjid.bare, f"<pubsub xmlns='{PUBSUB_NS}'>"
                                                   f"<items node='{ACTIVITY_NS}'/></pubsub>")
    if ans["type"] == "error":
        assert h.error_condition(ans) == "item-not-found", ans
        return []
    items = ans.xml.find(f"{{{PUBSUB_NS}}}pubsub/{{{PUBSUB_NS}}}items")
    return items.findall(f"{{{PUBSUB_NS}}}item")


def wait_empty(world, client):
    """Waits until CLIENT's activity node holds no item (a shutdown's retraction is sent as the
    stream closes: its answer is nobody's to wait for)."""
    deadline = time.monotonic() + h.TIMEOUT
    while activity_items(world.session, client):
        assert time.monotonic() < deadline, f"{client.boundjid.bare}'s activity node is not empty"
        world.session.sleep(0.2)


def in_a_meeting(item):
    """True when ITEM carries <activity><working><in_a_meeting/></working> and its text."""
    act = item.find(f"{{{ACTIVITY_NS}}}activity")
    return (act is not None and
            act.find(f"{{{ACTIVITY_NS}}}working/{{{ACTIVITY_NS}}}in_a_meeting") is not None and
            act.findtext(f"{{{ACTIVITY_NS}}}text") == "In a meeting")


class World:
    """ews-sim with alice's and bob's mailboxes, Prosody (mod_pep, PRIVILEGES), the daemon with
    pep_activity = PEP_ACTIVITY (None: not set), and alice and bob logged in."""

    def __init__(self, name, privileges, pep_activity="true", modules=("pep",)):
        self.sim = env.start_sim([("alice@example.com", "cas1"), ("bob@example.com", "cas1")])
        self.ws = h.Workspace(name)
        try:
            self.prosody = h.Prosody(self.ws.dir, privileges=privileges, modules=modules)
            self.prosody.start()
            self.component = env.write_component(os.path.join(self.ws.dir, "daemon"),
                                                 self.prosody, self.sim, [self.sim.url("cas1")])
            if pep_activity is not None:  # None: the key left at its default
                with open(self.component.conf, "a") as f:
                    f.write(f"\n[privilege]\npep_activity = {pep_activity}\n")
            self.component.start()
            self.session = h.Session(self.prosody)
            self.alice = self.session.client("alice")
            self.bob = self.session.client("bob")
        except BaseException:
            self.sim.stop()
            raise

    def enable(self, client=None):
        done = env.command(self.session, client or self.alice, "enable")
        assert done["command"]["status"] == "completed", done

    def close(self, failed):
        self.session.close()
        self.component.stop()
        self.prosody.stop()
        self.sim.stop()
        self.ws.keep = failed
        self.ws.cleanup()


class PepTest(unittest.TestCase):
    """Prosody grants pubsub iq set: the activity comes and goes with the meeting."""

    @classmethod
    def setUpClass(cls):
        cls.failed = False
        cls.w = World("pep", PRIVILEGES_PEP)
        cls.events = []  # pubsub event notifications at alice's second client
        cls.phone = None
        cls.meeting = None

    @classmethod
    def tearDownClass(cls):
        cls.w.close(cls.failed)

    def tearDown(self):
        if h.test_failed(self):
            type(self).failed = True

    def test_1_grant_detected_and_stale_item_cleared(self):
        self.w.component.wait_log(r"privilege: localhost grants roster both, .* iq 1 "
                                  r"namespace\(s\) \(pubsub set\)")
        self.w.enable()
        # the first decision after start, not busy: whatever the last run left is retracted
        self.w.component.wait_log(r"pep: alice@localhost: activity retracted")
        self.assertEqual(activity_items(self.w.session, self.w.alice), [])

    def test_2_meeting_publishes_the_activity(self):
        ans = self.w.sim.ok('item add alice@example.com -1m +30m busy "Planning"')
        type(self).meeting = ans[-1].split()[1]
        self.w.component.wait_log(r"pep: alice@localhost: activity in_a_meeting published")
        items = activity_items(self.w.session, self.w.alice)
        self.assertEqual(len(items), 1, items)
        self.assertEqual(items[0].get("id"), "calpresence")
        self.assertTrue(in_a_meeting(items[0]), items[0])

    def test_3_meeting_end_retracts_with_notification(self):
        # alice's second client subscribes to her node, as a client showing activities would
        phone = h.Client("alice", resource="phone")
        type(self).phone = phone
        # slixmpp's "message" event wants a <body/>: take the headline notifications raw
        phone.register_handler(Callback("pubsub event", MatchXPath(
            f"{{jabber:client}}message/{{{EVENT_NS}}}event"), self.events.append))
        started = self.w.session.loop.create_future()
        phone.add_event_handler("session_start",
                                lambda _: started.done() or started.set_result(True))
        phone.connect(("127.0.0.1", self.w.prosody.c2s_port), force_starttls=False,
                      disable_starttls=True)
        self.w.session.run(started)
        self.w.session.clients.append(phone)
        ans = self.w.session.iq(phone, ALICE, f"<pubsub xmlns='{PUBSUB_NS}'><subscribe "
                                              f"node='{ACTIVITY_NS}' jid='{phone.boundjid}'/>"
                                              "</pubsub>", itype="set")
        self.assertEqual(ans["type"], "result", ans)
        self.w.sim.ok(f"item delete {self.meeting}")
        self.w.component.wait_log(r"pep: alice@localhost: activity retracted", count=2)

        def retracted():
            for m in self.events:
                for r in m.xml.iterfind(f"{{{EVENT_NS}}}event/{{{EVENT_NS}}}items/"
                                        f"{{{EVENT_NS}}}retract"):
                    if r.get("id") == "calpresence":
                        return True
            return False
        self.w.session.wait_for(retracted, h.TIMEOUT, "the retraction at alice's second client")
        self.assertEqual(activity_items(self.w.session, self.w.alice), [])

    def test_4_shutdown_retracts_and_start_publishes_again(self):
        """A daemon stopping during meetings takes the activities with it, as it takes the
        calendar JIDs' presence; the next start finds the meetings and publishes again."""
        self.w.sim.ok('item add bob@example.com -1m +30m busy "Review"')
        self.w.enable(self.w.bob)
        self.w.component.wait_log(r"pep: bob@localhost: activity in_a_meeting published")
        ans = self.w.sim.ok('item add alice@example.com -1m +30m busy "Review"')
        type(self).meeting = ans[-1].split()[1]
        self.w.component.wait_log(r"pep: alice@localhost: activity in_a_meeting published",
                                  count=2)
        self.assertEqual(len(activity_items(self.w.session, self.w.alice)), 1)
        self.assertEqual(len(activity_items(self.w.session, self.w.bob)), 1)
        self.w.component.stop()
        self.assertIn("pep: retracted the activity of 2 user(s) in a meeting",
                      self.w.component.log())
        wait_empty(self.w, self.w.alice)
        wait_empty(self.w, self.w.bob)
        self.w.component.start()
        self.w.component.wait_log(r"pep: alice@localhost: activity in_a_meeting published",
                                  count=3)
        self.assertTrue(in_a_meeting(activity_items(self.w.session, self.w.alice)[0]))

    def test_5_restart_clears_what_a_crash_left(self):
        """Published, then the daemon dies and the meeting is deleted while it is down: the
        next run finds alice free and retracts the item it does not remember."""
        self.w.component.proc.kill()
        self.w.component.proc.wait()
        self.w.component.stop()
        self.w.sim.ok(f"item delete {self.meeting}")
        self.assertEqual(len(activity_items(self.w.session, self.w.alice)), 1)
        self.w.component.start()
        self.w.component.wait_log(r"pep: alice@localhost: activity retracted", count=3)
        self.assertEqual(activity_items(self.w.session, self.w.alice), [])


class PepReconnectTest(unittest.TestCase):
    """The meeting ends while the XMPP server is down: after the component reconnects and the
    server advertises its privileges again, the activity is retracted."""

    def test_meeting_ends_while_the_stream_is_down(self):
        w = World("pep-reconnect", PRIVILEGES_PEP)
        failed = True
        try:
            ans = w.sim.ok('item add alice@example.com -1m +30m busy "Planning"')
            w.enable()
            w.component.wait_log(r"pep: alice@localhost: activity in_a_meeting published")
            retracted = r"pep: alice@localhost: activity retracted"
            before = len(re.findall(retracted, w.component.log()))
            w.session.close()
            w.prosody.stop()
            w.sim.ok(f"item delete {ans[-1].split()[1]}")
            w.component.wait_log(r"engine: alice@localhost: now free")
            w.prosody.start()
            w.component.wait_log(r"connected to .* as component", count=2)
            w.component.wait_log(retracted, count=before + 1)
            w.session = h.Session(w.prosody)
            w.alice = w.session.client("alice")
            self.assertEqual(activity_items(w.session, w.alice), [])
            failed = False
        finally:
            w.close(failed)


class NoPubsubGrantTest(unittest.TestCase):
    """mod_privilege without the iq permission: nothing published, the log says why."""

    def test_not_granted(self):
        w = World("pep-nogrant", 'roster = "both";')
        failed = True
        try:
            w.component.wait_log(r"privilege: localhost grants roster both")
            w.enable()
            w.sim.ok('item add alice@example.com -1m +30m busy "Planning"')
            w.component.wait_log(r"pep: alice@localhost: activity not published: the server "
                                 r"grants the component no pubsub iq set for localhost")
            self.assertEqual(activity_items(w.session, w.alice), [])
            self.assertIsNone(re.search(r"pep: .*(published|retracted)$", w.component.log(),
                                        re.M))
            failed = False
        finally:
            w.close(failed)


class PepRefusedTest(unittest.TestCase):
    """The grant but no mod_pep: the server's refusal is logged with its condition, once per
    change of the calendar state, not retried in a loop."""

    def test_refused(self):
        w = World("pep-refused", PRIVILEGES_PEP, modules=())
        failed = True
        try:
            w.sim.ok('item add alice@example.com -1m +30m busy "Planning"')
            w.enable()
            w.component.wait_log(r"WARN pep: alice@localhost: the server refused publishing the "
                                 r"activity \(service-unavailable\): not tried again until the "
                                 r"calendar state changes")
            w.session.sleep(2)
            self.assertEqual(len(re.findall(r"pep: alice@localhost: publishing the activity",
                                            w.component.log())), 1)
            failed = False
        finally:
            w.close(failed)


class PepOffTest(unittest.TestCase):
    """The grant, pep_activity not set (default false): the user's PEP is left alone until the
    user turns the setting on for themself, and retracted when they turn it off."""

    def test_off_by_default(self):
        w = World("pep-off", PRIVILEGES_PEP, pep_activity=None)
        failed = True
        try:
            w.component.wait_log(r"privilege: localhost grants .*\(pubsub set\)")
            # in the calendar before the enable: the first read finds alice busy
            w.sim.ok('item add alice@example.com -1m +30m busy "Planning"')
            w.enable()
            w.component.wait_log(r"engine: alice@localhost: reading -> published")
            w.session.sleep(1)
            self.assertEqual(activity_items(w.session, w.alice), [])
            self.assertNotIn("pep: ", w.component.log())
            # alice turns it on for herself in the settings command: her own choice wins
            done = env.command(w.session, w.alice, "settings", {"pep_activity": "on"})
            self.assertEqual(done["command"]["status"], "completed", done)
            w.component.wait_log(r"pep: alice@localhost: activity in_a_meeting published")
            items = activity_items(w.session, w.alice)
            self.assertEqual(len(items), 1, items)
            self.assertTrue(in_a_meeting(items[0]), items[0])
            # and off again: retracted, though the meeting still runs
            done = env.command(w.session, w.alice, "settings", {"pep_activity": "off"})
            self.assertEqual(done["command"]["status"], "completed", done)
            w.component.wait_log(r"pep: alice@localhost: activity retracted")
            self.assertEqual(activity_items(w.session, w.alice), [])
            failed = False
        finally:
            w.close(failed)


if __name__ == "__main__":
    unittest.main()
