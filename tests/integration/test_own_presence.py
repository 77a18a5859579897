"""The user's own presence under XEP-0356 (issue 11, items 2, 3 and 5), against a private
Prosody with prosody-modules' mod_privilege:

- presence permission `managed_entity`: with "only while online", bob (provisioned, never
  subscribing) sees alice's calendar JID unavailable while she is offline although her meeting
  runs, and dnd "In a meeting" once she logs in; with "respect own status", her own dnd makes the
  calendar JID unavailable, and her coming back to available brings the meeting back;
- no presence permission: the options cannot be honoured, the log and gateway-status say so, and
  calendar presence behaves as without them;
- roster read only: a contact whose client advertises roster item exchange (XEP-0144, learnt
  from its XEP-0115 caps) gets a suggestion instead of a subscription request; a contact whose
  client does not gets the subscription request.

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
import test_privilege as tp  # noqa: E402
from engine_env import cal_jid, h  # noqa: E402

ALICE_CAL = cal_jid("alice")
ROSTERX_NS = "http://jabber.org/protocol/rosterx"
# What docs/privileges.md shows for Prosody.
PRIVILEGES_PRESENCE = 'roster = "both"; presence = "managed_entity";'


def fields(iq):
    return env.form_fields(iq)


def watch(world):
    """A Watcher on bob's client, which never subscribes (the roster item does)."""
    w = env.Watcher.__new__(env.Watcher)
    w.session, w.client, w.seen = world.session, world.bob, []
    world.bob.add_event_handler("presence", w._on_presence)
    return w


def login(session, client):
    """Connects CLIENT (a harness Client) and sends its initial presence."""
    started = session.loop.create_future()
    client.add_event_handler("session_start",
                             lambda _: started.done() or started.set_result(True))
    client.connect(("127.0.0.1", session.prosody.c2s_port), force_starttls=False,
                   disable_starttls=True)
    session.run(started)
    session.run(client.get_roster())
    session.clients.append(client)
    return client


def logout(session, client):
    session.clients.remove(client)
    client.disconnect()
    session.sleep(0.5)


class OwnPresenceTest(unittest.TestCase):
    """presence = "managed_entity": the options are honoured."""

    @classmethod
    def setUpClass(cls):
        cls.failed = False
        cls.sim = env.start_sim([("alice@example.com", "cas1")])
        try:
            cls.w = tp.World("own-presence", PRIVILEGES_PRESENCE, cls.sim)
        except BaseException:
            cls.sim.stop()
            raise
        cls.watch = watch(cls.w)

    @classmethod
    def tearDownClass(cls):
        cls.w.close(cls.failed)
        cls.sim.stop()

    def tearDown(self):
        if h.test_failed(self):
            type(self).failed = True

    def settings(self, client, values):
        done = env.command(self.w.session, client, "settings", values)
        self.assertEqual(done["command"]["status"], "completed", done)

    def test_1_only_while_online(self):
        w = self.w
        w.component.wait_log(r"privilege: localhost grants roster both, message none, "
                             r"presence managed_entity")
        form = env.command(w.session, w.alice, "settings")
        self.assertEqual(fields(form)["only_while_online"], "default")
        self.settings(w.alice, {"only_while_online": "on"})
        w.enable()
        w.component.wait_log(rf"alice@localhost: {re.escape(ALICE_CAL)} added to "
                             r"bob@localhost's roster")
        self.sim.ok('item add alice@example.com -1m +30m busy "Planning"')
        _, pres = self.watch.wait(ALICE_CAL, "dnd")
        self.assertEqual(pres["status"], "In a meeting")
        status = fields(env.command(w.session, w.alice, "status"))
        self.assertEqual(status["mode"], "roster-provisioned, only-while-online")

        # alice leaves: her meeting still runs, but bob sees her calendar JID unavailable
        since = time.time()
        logout(w.session, w.alice)
        self.watch.wait(ALICE_CAL, "unavailable", since=since)
        w.session.sleep(1)
        self.assertEqual(env.describe(self.watch.last(ALICE_CAL)), "unavailable")

        # she comes back: the meeting shows again
        since = time.time()
        w.alice = login(w.session, h.Client("alice", resource="again"))
        w.alice.send_presence()
        _, pres = self.watch.wait(ALICE_CAL, "dnd", since=since)
        self.assertEqual(pres["status"], "In a meeting")

    def test_2_respect_own_status(self):
        w = self.w
        self.settings(w.alice, {"respect_own_status": "on"})
        status = fields(env.command(w.session, w.alice, "status"))
        self.assertEqual(status["mode"],
                         "roster-provisioned, only-while-online, respect-own-status")
        self.assertEqual(env.describe(self.watch.last(ALICE_CAL)), "dnd")
        # alice says dnd herself: her own status stands alone, the calendar JID steps aside
        since = time.time()
        w.alice.send_presence(pshow="dnd", pstatus="Focus time")
        self.watch.wait(ALICE_CAL, "unavailable", since=since)
        since = time.time()
        w.alice.send_presence(pshow="away")
        w.session.sleep(1)
        self.assertEqual(env.describe(self.watch.last(ALICE_CAL)), "unavailable")
        # back to available: the meeting shows again
        w.alice.send_presence()
        _, pres = self.watch.wait(ALICE_CAL, "dnd", since=since)
        self.assertEqual(pres["status"], "In a meeting")

    def test_3_gateway_status_and_users_list(self):
        w = self.w
        report = tp.gateway_report(env.command(w.session, w.admin, "gateway-status",
                                               {"mailbox": ""}))
        self.assertIn("privileges: localhost: roster both, message none, presence "
                      "managed_entity", report)
        self.assertIn("own presence: localhost: seen (presence permission); options honoured",
                      report)
        self.assertRegex(report, r"own presence: [1-9]\d* user\(s\) seen online; defaults "
                                 r"only_while_online false, respect_own_status false; 1 "
                                 r"enabled user\(s\) with an option on")
        listed = env.command(w.session, w.admin, "users-list",
                             {"filter": "alice", "max": "10"})
        rows = {item["jid"]: item for item in listed["command"]["form"]["items"]}
        self.assertEqual(rows["alice@localhost"]["mode"],
                         "roster-provisioned, only-while-online, respect-own-status")


class NoPresencePermissionTest(unittest.TestCase):
    """roster both but no presence permission, only_while_online on by the admin's default:
    not honoured, said once in the log and in gateway-status, presence as without it."""

    def test_options_not_honoured(self):
        sim = env.start_sim([("alice@example.com", "cas1")])
        failed = True
        w = None
        try:
            w = tp.World("own-presence-none", 'roster = "both";', sim)
            w.component.stop()
            with open(w.component.conf, "a") as f:
                f.write("\n[privilege]\nonly_while_online = true\n")
            w.component.start()
            bob = watch(w)
            w.enable()
            sim.ok('item add alice@example.com -1m +30m busy "Planning"')
            bob.wait(ALICE_CAL, "dnd")
            w.component.wait_log(r"own: localhost: the server grants the component no presence "
                                 r"permission \(XEP-0356\): only_while_online and "
                                 r"respect_own_status cannot be honoured")
            status = fields(env.command(w.session, w.alice, "status"))
            self.assertEqual(status["mode"], "roster-provisioned, only-while-online (not "
                                             "honoured: no presence permission)")
            report = tp.gateway_report(env.command(w.session, w.admin, "gateway-status",
                                                   {"mailbox": ""}))
            self.assertIn("own presence: localhost: not seen (no presence permission); "
                          "only_while_online and respect_own_status not honoured", report)
            logout(w.session, w.alice)
            w.session.sleep(2)
            self.assertEqual(env.describe(bob.last(ALICE_CAL)), "dnd")
            failed = False
        finally:
            if w:
                w.close(failed)
            sim.stop()


class RosterxClient(h.Client):
    """bob's client advertising roster item exchange through XEP-0115 caps, recording the
    suggestions it receives."""

    def __init__(self, user):
        super().__init__(user)
        self.register_plugin("xep_0115")
        self["xep_0030"].add_feature(ROSTERX_NS)
        self.suggestions = []
        # slixmpp's "message" event is for messages with a body; a suggestion has none.
        self.register_handler(Callback("rosterx", MatchXPath(
            f"{{jabber:client}}message/{{{ROSTERX_NS}}}x"), self._on_suggestion))

    def _on_suggestion(self, msg):
        self.suggestions.append((msg, msg.xml.find(f"{{{ROSTERX_NS}}}x")))


class RosterExchangeTest(unittest.TestCase):
    """roster get only: XEP-0144 where the contact's client takes it, subscribe otherwise."""

    def test_suggestion_instead_of_subscribe(self):
        ws = h.Workspace("own-rosterx")
        prosody = h.Prosody(ws.dir, privileges='roster = "get"; presence = "managed_entity";')
        prosody.start()
        failed = True
        session = component = None
        try:
            workdir = os.path.join(ws.dir, "daemon")
            os.makedirs(workdir)
            component = h.Component(workdir, prosody)
            component.start()
            session = h.Session(prosody)
            component.wait_log(r"privilege: localhost grants roster get")
            bob = login(session, RosterxClient("bob"))
            session.run(bob["xep_0115"].update_caps(broadcast=False))
            bob.send_presence()
            carol = session.client("carol")  # a client without roster item exchange
            alice = session.client("alice")
            tp.roster_set(session, alice, "bob@localhost", "Bob")
            tp.roster_set(session, alice, "carol@localhost", "Carol")
            # the daemon learnt bob's features from his caps
            component.wait_log(r"own: caps \S+: roster item exchange")
            done = env.command(session, alice, "enable")
            self.assertEqual(done["command"]["status"], "completed", done)
            component.wait_log(rf"alice@localhost: suggested {re.escape(ALICE_CAL)} to "
                               r"bob@localhost/test \(XEP-0144 roster item exchange\)")
            session.wait_for(lambda: bob.suggestions, h.TIMEOUT, "the suggestion at bob")
            msg, x = bob.suggestions[0]
            self.assertEqual(msg["from"].bare, ALICE_CAL)
            items = x.findall(f"{{{ROSTERX_NS}}}item")
            self.assertEqual(len(items), 1)
            self.assertEqual(items[0].get("action"), "add")
            self.assertEqual(items[0].get("jid"), ALICE_CAL)
            self.assertEqual(items[0].get("name"), "alice (calendar)")
            self.assertEqual([g.text for g in items[0].findall(f"{{{ROSTERX_NS}}}group")],
                             ["Calendars"])
            # carol's client cannot take it: she is asked to subscribe, bob is not
            component.wait_log(rf"alice@localhost: asked carol@localhost to subscribe to "
                               rf"{re.escape(ALICE_CAL)} \(no roster write privilege\)")
            session.wait_for(lambda: tp.sent_subscribe(carol), h.TIMEOUT,
                             "the subscription request at carol")
            session.sleep(1)
            self.assertFalse(tp.sent_subscribe(bob))
            # bob's client accepts the suggestion the usual way, by subscribing
            bob.send_presence(pto=ALICE_CAL, ptype="subscribe")
            component.wait_log(r"bob@localhost subscribed to " + re.escape(ALICE_CAL))
            status = fields(env.command(session, alice, "status"))
            self.assertEqual(status["mode"], "subscription-requests")
            failed = False
        finally:
            if session:
                session.close()
            if component:
                component.stop()
            prosody.stop()
            ws.keep = failed
            ws.cleanup()


if __name__ == "__main__":
    unittest.main()
