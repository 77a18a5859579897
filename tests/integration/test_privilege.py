"""XEP-0356 roster provisioning (issue 11) against a private Prosody with prosody-modules'
mod_privilege: a contact of a user who enables calendar presence gets the calendar JID in their
roster and its presence (dnd "In a meeting" from ews-sim) without ever subscribing; a disable
takes the item out. Contacts alice adds to her roster later, or removes from it, are
provisioned or unprovisioned by the periodic roster check (neither Prosody's mod_privilege nor
ejabberd 23.01 sends the component roster pushes). Against a Prosody granting roster read only, the contact is sent a
subscription request instead; against one granting nothing, nothing is provisioned and the log
says why.

Run with /usr/bin/python3 (slixmpp)."""

import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engine_env as env  # noqa: E402
from engine_env import cal_jid, h  # noqa: E402

ROSTER_NS = "jabber:iq:roster"
ALICE_CAL = cal_jid("alice")
CTL = os.path.join(h.BUILD_ROOT, "component", "tools", "calpresence-ctl")


def roster_set(session, client, jid, name):
    """CLIENT puts JID into its own roster (no subscription): the user's contacts."""
    ans = session.iq(client, None, f"<query xmlns='{ROSTER_NS}'><item jid='{jid}' name='{name}'/>"
                                   "</query>", itype="set")
    assert ans["type"] == "result", ans


def roster_items(session, client):
    """CLIENT's roster as read from the server: {jid: item element}."""
    ans = session.iq(client, None, f"<query xmlns='{ROSTER_NS}'/>")
    assert ans["type"] == "result", ans
    query = ans.xml.find(f"{{{ROSTER_NS}}}query")
    return {it.get("jid"): it for it in query.findall(f"{{{ROSTER_NS}}}item")}


def gateway_report(status):
    value = status["command"]["form"].get_fields()["report"].get_value()
    return value if isinstance(value, str) else "\n".join(value)


def sent_subscribe(client):
    return [p for p in client.presences
            if p["from"].bare == ALICE_CAL and p["type"] == "subscribe"]


class World:
    """Prosody (with PRIVILEGES), the daemon, and alice, bob and admin logged in; alice's
    roster holds bob and eve (another, unserved, domain)."""

    def __init__(self, name, privileges, sim=None, check_interval=None):
        self.ws = h.Workspace(name)
        self.prosody = h.Prosody(self.ws.dir, privileges=privileges)
        self.prosody.start()
        workdir = os.path.join(self.ws.dir, "daemon")
        if sim:
            self.component = env.write_component(workdir, self.prosody, sim,
                                                 [sim.url("cas1")])
        else:
            os.makedirs(workdir)
            self.component = h.Component(workdir, self.prosody)
        if check_interval:
            with open(self.component.conf, "a") as f:
                f.write(f"\n[privilege]\nroster_check_interval = {check_interval}\n")
        self.component.start()
        self.session = h.Session(self.prosody)
        self.alice = self.session.client("alice")
        self.bob = self.session.client("bob")
        self.admin = self.session.client("admin")
        roster_set(self.session, self.alice, "bob@localhost", "Bob")
        roster_set(self.session, self.alice, "eve@other.localhost", "Eve")

    def enable(self):
        done = env.command(self.session, self.alice, "enable")
        assert done["command"]["status"] == "completed", done

    def disable(self):
        done = env.command(self.session, self.alice, "disable")
        assert done["command"]["status"] == "completed", done

    def close(self, failed):
        self.session.close()
        self.component.stop()
        self.prosody.stop()
        self.ws.keep = failed
        self.ws.cleanup()


class PrivilegedTest(unittest.TestCase):
    """roster both, message outgoing, presence roster: what docs/privileges.md configures."""

    @classmethod
    def setUpClass(cls):
        cls.failed = False
        cls.sim = env.start_sim([("alice@example.com", "cas1")])
        try:
            cls.w = World("privilege", h.PRIVILEGES_FULL, cls.sim, check_interval=2)
        except BaseException:
            cls.sim.stop()
            raise
        cls.watch = env.Watcher.__new__(env.Watcher)  # bob's client, watching, never subscribing
        cls.watch.session, cls.watch.client, cls.watch.seen = cls.w.session, cls.w.bob, []
        cls.w.bob.add_event_handler("presence", cls.watch._on_presence)

    @classmethod
    def tearDownClass(cls):
        cls.w.close(cls.failed)
        cls.sim.stop()

    def tearDown(self):
        if h.test_failed(self):
            type(self).failed = True

    def test_1_privileges_detected(self):
        self.w.component.wait_log(r"privilege: localhost grants roster both, message outgoing, "
                                  r"presence roster, iq 0 namespace\(s\) \(urn:xmpp:privilege:2\)")
        status = env.command(self.w.session, self.w.admin, "gateway-status", {"mailbox": ""})
        report = gateway_report(status)
        self.assertIn("privileges: localhost: roster both", report)
        self.assertIn("roster provisioning: 0 operation(s) queued", report)

    def test_2_enable_provisions_contact_who_sees_the_meeting(self):
        self.w.enable()
        self.w.component.wait_log(r"alice@localhost: roster read: 1 contact\(s\) on served "
                                  r"domains to provision, 1 elsewhere left alone")
        self.w.component.wait_log(rf"alice@localhost: {re.escape(ALICE_CAL)} added to "
                                  r"bob@localhost's roster")
        item = roster_items(self.w.session, self.w.bob).get(ALICE_CAL)
        self.assertIsNotNone(item, "the calendar JID is not in bob's roster")
        self.assertEqual(item.get("subscription"), "to")
        self.assertEqual(item.get("name"), "alice (calendar)")
        self.assertEqual([g.text for g in item.findall(f"{{{ROSTER_NS}}}group")], ["Calendars"])
        # a meeting running now: bob, who never subscribed, sees it
        self.sim.ok('item add alice@example.com -1m +30m busy "Planning"')
        _, pres = self.watch.wait(ALICE_CAL, "dnd")
        self.assertEqual(pres["status"], "In a meeting")
        log = self.w.component.log()
        self.assertNotIn("bob@localhost subscribed to", log)  # bob never asked
        # eve's domain is not served: her roster was left alone
        self.assertNotIn("eve@other.localhost's roster", log)

    def test_3_relogin_gets_presence_from_the_server_probe(self):
        """The item is a real subscription: bob's next login probes the calendar JID."""
        bob2 = h.Client("bob", resource="second")
        seen = []
        bob2.add_event_handler("presence", lambda p: p["from"].bare == ALICE_CAL and
                               seen.append(p))
        started = self.w.session.loop.create_future()
        bob2.add_event_handler("session_start", lambda _: started.done() or
                               started.set_result(True))
        bob2.connect(("127.0.0.1", self.w.prosody.c2s_port), force_starttls=False,
                     disable_starttls=True)
        self.w.session.run(started)
        self.w.session.clients.append(bob2)
        self.w.session.run(bob2.get_roster())
        bob2.send_presence()
        self.w.session.wait_for(lambda: any(p["show"] == "dnd" for p in seen), h.TIMEOUT,
                                "bob's second resource to see alice's calendar dnd")

    def test_4_roster_changes_followed(self):
        """The check every 2 s: a contact alice adds is provisioned, one she removes loses the
        item; a subscription made by hand (admin's) is never touched."""
        carol = self.w.session.client("carol")
        self.w.admin.send_presence(pto=ALICE_CAL, ptype="subscribe")
        self.w.component.wait_log(r"admin@localhost subscribed to " + re.escape(ALICE_CAL))
        roster_set(self.w.session, self.w.alice, "carol@localhost", "Carol")
        self.w.component.wait_log(r"alice@localhost: roster changed: 1 contact\(s\) added to "
                                  r"provision, 0 gone")
        self.w.component.wait_log(rf"alice@localhost: {re.escape(ALICE_CAL)} added to "
                                  r"carol@localhost's roster")
        item = roster_items(self.w.session, carol).get(ALICE_CAL)
        self.assertIsNotNone(item, "the calendar JID is not in carol's roster")
        self.assertEqual(item.get("subscription"), "to")
        ans = self.w.session.iq(self.w.alice, None,
                                f"<query xmlns='{ROSTER_NS}'><item jid='carol@localhost' "
                                "subscription='remove'/></query>", itype="set")
        self.assertEqual(ans["type"], "result")
        self.w.component.wait_log(r"alice@localhost: roster changed: 0 contact\(s\) added to "
                                  r"provision, 1 gone \(1 calendar item\(s\) to remove\)")
        self.w.component.wait_log(r"alice@localhost: calendar removed from carol@localhost's "
                                  r"roster")
        self.assertNotIn(ALICE_CAL, roster_items(self.w.session, carol))
        self.assertIn(ALICE_CAL, roster_items(self.w.session, self.w.bob))
        # more checks pass without touching bob or admin
        n = self.w.component.log().count("alice@localhost: roster checked: unchanged")
        self.w.component.wait_log(r"alice@localhost: roster checked: unchanged", count=n + 2)
        log = self.w.component.log()
        self.assertNotIn("from admin@localhost's roster", log)
        self.assertNotIn("from bob@localhost's roster", log)
        self.assertEqual(log.count(f"{ALICE_CAL} added to bob@localhost's roster"), 1)

    def test_5_disable_removes_the_item(self):
        self.w.disable()
        self.w.component.wait_log(r"alice@localhost: calendar removed from bob@localhost's "
                                  r"roster")
        self.assertNotIn(ALICE_CAL, roster_items(self.w.session, self.w.bob))

    def test_6_ctl_users_enable_provisions(self):
        """calpresence-ctl users enable / disable (the bulk path) provisions like the ad-hoc
        command."""
        path = os.path.join(self.w.ws.dir, "users.txt")
        with open(path, "w") as f:
            f.write("alice@localhost,alice@example.com\n")
        subprocess.run([CTL, "-c", self.w.component.conf, "users", "enable", path], check=True,
                       stdout=subprocess.DEVNULL, timeout=h.TIMEOUT)
        self.w.component.wait_log(rf"alice@localhost: {re.escape(ALICE_CAL)} added to "
                                  r"bob@localhost's roster", count=2)
        self.assertIn(ALICE_CAL, roster_items(self.w.session, self.w.bob))
        with open(path, "w") as f:
            f.write("alice@localhost\n")
        subprocess.run([CTL, "-c", self.w.component.conf, "users", "disable", path],
                       check=True, stdout=subprocess.DEVNULL, timeout=h.TIMEOUT)
        self.w.component.wait_log(r"alice@localhost: calendar removed from bob@localhost's "
                                  r"roster", count=2)
        self.assertNotIn(ALICE_CAL, roster_items(self.w.session, self.w.bob))


class RosterReadOnlyTest(unittest.TestCase):
    """roster get only: the contact is asked to subscribe, and the log says why."""

    def test_fallback_subscribe(self):
        w = World("privilege-ro", 'roster = "get";')
        failed = True
        try:
            w.component.wait_log(r"privilege: localhost grants roster get")
            w.enable()
            w.component.wait_log(rf"alice@localhost: asked bob@localhost to subscribe to "
                                 rf"{re.escape(ALICE_CAL)} \(no roster write privilege\)")
            w.session.wait_for(lambda: sent_subscribe(w.bob), h.TIMEOUT,
                               "the subscription request at bob")
            self.assertNotIn(ALICE_CAL, roster_items(w.session, w.bob))
            # bob accepts the usual way, by subscribing: he then gets the calendar's presence
            w.bob.send_presence(pto=ALICE_CAL, ptype="subscribe")
            w.component.wait_log(r"bob@localhost subscribed to " + re.escape(ALICE_CAL))
            failed = False
        finally:
            w.close(failed)


class UnprivilegedTest(unittest.TestCase):
    """A plain Prosody: no advertisement, nothing provisioned, the log says so."""

    def test_nothing_granted(self):
        w = World("privilege-none", None)
        failed = True
        try:
            w.enable()
            w.component.wait_log(r"alice@localhost: roster not read \(the server grants the "
                                 r"component no roster access")
            self.assertNotIn("privilege: localhost grants", w.component.log())
            status = env.command(w.session, w.admin, "gateway-status", {"mailbox": ""})
            report = gateway_report(status)
            self.assertIn("privileges: none advertised", report)
            w.session.sleep(1)
            self.assertFalse(sent_subscribe(w.bob))
            failed = False
        finally:
            w.close(failed)


if __name__ == "__main__":
    unittest.main()
