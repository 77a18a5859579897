"""The component against a real Prosody: handshake, XMPP basics, subscriptions, presence
resync after reconnects, shutdown. Run with /usr/bin/python3 (slixmpp)."""

import os
import re
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

CAL_ALICE = f"alice@{h.COMPONENT}"


class ComponentTest(unittest.TestCase):
    def setUp(self):
        self.ws = h.Workspace(self.id().split(".")[-1])
        self.prosody = h.Prosody(self.ws.dir)
        self.prosody.start()
        self.component = h.Component(self.ws.dir, self.prosody)
        self.session = None

    def tearDown(self):
        if self.session:
            self.session.close()
        self.component.stop()
        self.prosody.stop()
        self.ws.keep = h.test_failed(self)
        self.ws.cleanup()

    def start(self):
        self.component.start()
        self.session = h.Session(self.prosody)

    # -- handshake and XMPP basics --------------------------------------------------------

    def test_handshake_and_disco(self):
        self.start()
        alice = self.session.client("alice")
        info = self.session.iq(alice, h.COMPONENT,
                               "<query xmlns='http://jabber.org/protocol/disco#info'/>")
        self.assertEqual(info["type"], "result")
        q = info.xml.find("{http://jabber.org/protocol/disco#info}query")
        ident = q.find("{http://jabber.org/protocol/disco#info}identity")
        self.assertEqual((ident.get("category"), ident.get("type")), ("gateway", "calendar"))
        features = {f.get("var") for f in q.findall("{http://jabber.org/protocol/disco#info}feature")}
        self.assertIn("http://jabber.org/protocol/commands", features)
        self.assertIn("urn:xmpp:ping", features)

        # A calendar JID answers disco#info too, as an account of its user.
        info = self.session.iq(alice, CAL_ALICE,
                               "<query xmlns='http://jabber.org/protocol/disco#info'/>")
        self.assertEqual(info["type"], "result")
        ident = info.xml.find("{http://jabber.org/protocol/disco#info}query/"
                              "{http://jabber.org/protocol/disco#info}identity")
        self.assertIn("alice@localhost", ident.get("name"))

        items = self.session.iq(alice, h.COMPONENT,
                                "<query xmlns='http://jabber.org/protocol/disco#items'/>")
        self.assertEqual(items["type"], "result")

    def test_ping_version_and_errors(self):
        self.start()
        alice = self.session.client("alice")
        self.assertEqual(self.session.iq(alice, h.COMPONENT, "<ping xmlns='urn:xmpp:ping'/>")["type"],
                         "result")
        ver = self.session.iq(alice, h.COMPONENT, "<query xmlns='jabber:iq:version'/>")
        self.assertEqual(ver.xml.find("{jabber:iq:version}query/{jabber:iq:version}name").text,
                         "calpresence")
        unknown = self.session.iq(alice, h.COMPONENT, "<query xmlns='urn:example:unknown'/>")
        self.assertEqual(unknown["type"], "error")
        self.assertEqual(h.error_condition(unknown), "service-unavailable")
        empty = self.session.iq(alice, h.COMPONENT, None)
        self.assertEqual(h.error_condition(empty), "bad-request")
        # disco on a node that does not exist
        node = self.session.iq(alice, h.COMPONENT,
                               "<query xmlns='http://jabber.org/protocol/disco#info' node='nope'/>")
        self.assertEqual(h.error_condition(node), "item-not-found")

    def test_foreign_domain_forbidden(self):
        self.start()
        eve = self.session.client("eve", h.OTHER_DOMAIN)
        answer = self.session.iq(eve, h.COMPONENT, "<ping xmlns='urn:xmpp:ping'/>")
        self.assertEqual(h.error_condition(answer), "forbidden")
        eve.send_presence(pto=CAL_ALICE, ptype="subscribe")
        self.session.wait_for(lambda: any(p["type"] == "error" for p in eve.presences),
                              what="presence error for a foreign subscriber")
        err = [p for p in eve.presences if p["type"] == "error"][0]
        self.assertEqual(h.error_condition(err), "forbidden")

        # A user of a served domain cannot reach calendars of users of other domains either.
        bob = self.session.client("bob")
        foreign_cal = f"eve\\40{h.OTHER_DOMAIN}@{h.COMPONENT}"
        answer = self.session.iq(bob, foreign_cal, "<ping xmlns='urn:xmpp:ping'/>")
        self.assertEqual(h.error_condition(answer), "item-not-found")
        bob.send_presence(pto=foreign_cal, ptype="subscribe")
        self.session.wait_for(lambda: any(p["type"] == "error" for p in bob.presences),
                              what="presence error for a calendar of a domain not served")
        err = [p for p in bob.presences if p["type"] == "error"][0]
        self.assertEqual(h.error_condition(err), "item-not-found")

    def test_wrong_secret_exits_1(self):
        bad = h.Component(self.ws.dir, self.prosody, secret="not-the-secret")
        bad.start(wait_online=False)
        code = bad.wait()
        self.assertEqual(code, 1)
        self.assertRegex(bad.log(), r"refused the handshake .*check \[component\] secret")
        self.assertNotIn("not-the-secret", bad.log())

    # -- subscriptions and presence --------------------------------------------------------

    def test_subscribe_probe_unsubscribe(self):
        self.start()
        bob = self.session.client("bob")
        bob.send_presence(pto=CAL_ALICE, ptype="subscribe")
        # Prosody turns the component's `subscribed` into a roster push to bob.
        self.session.wait_for(lambda: bob.client_roster[CAL_ALICE]["subscription"] == "to",
                              what="subscription approved by the calendar JID")
        # Until the calendar engine exists, every calendar JID is unavailable.
        self.session.wait_for(lambda: h.calendar_presences(bob, ptype="unavailable"),
                              what="current presence after subscribing")
        self.component.wait_log(r"bob@localhost subscribed to alice@calendar.localhost")

        # A probe from a subscriber is answered with the current presence.
        before = len(h.calendar_presences(bob, ptype="unavailable"))
        bob.send_presence(pto=CAL_ALICE, ptype="probe")
        self.session.wait_for(lambda: len(h.calendar_presences(bob, ptype="unavailable")) > before,
                              what="presence answering a probe")

        # A probe from someone else learns nothing: it is answered `unsubscribed` (which
        # Prosody then drops, carol having no roster item for the calendar JID).
        carol = self.session.client("carol")
        carol.send_presence(pto=CAL_ALICE, ptype="probe")
        self.component.wait_log(r"probe from carol@localhost answered unsubscribed")
        self.assertEqual(h.calendar_presences(carol), [])

        bob.send_presence(pto=CAL_ALICE, ptype="unsubscribe")
        self.component.wait_log(r"bob@localhost unsubscribed from alice@calendar.localhost")
        # The stored subscription is gone: bob's next probe learns nothing either.
        bob.send_presence(pto=CAL_ALICE, ptype="probe")
        self.component.wait_log(r"probe from bob@localhost answered unsubscribed")

    def test_subscriptions_per_subscriber_are_capped(self):
        import sqlite3
        self.start()  # creates the store
        self.component.stop()
        # bob already follows 1000 calendars (written straight into the store).
        db = sqlite3.connect(os.path.join(self.ws.dir, "calpresence.db"))
        db.executemany("INSERT INTO subscribers (user_jid, subscriber, created) VALUES (?, ?, 0)",
                       [(f"u{i}@localhost", "bob@localhost") for i in range(1000)])
        db.commit()
        db.close()
        self.component.start()
        bob = self.session.client("bob")
        bob.send_presence(pto=CAL_ALICE, ptype="subscribe")
        self.session.wait_for(lambda: any(p["type"] == "error" for p in bob.presences),
                              what="refusal of the 1001st subscription")
        err = [p for p in bob.presences if p["type"] == "error"][0]
        self.assertEqual(h.error_condition(err), "policy-violation")
        self.component.wait_log(r"subscription of bob@localhost refused \(already 1000")
        # Re-subscribing to one he already has is not a new subscription.
        bob.send_presence(pto=f"u7@{h.COMPONENT}", ptype="subscribe")
        self.component.wait_log(r"bob@localhost subscribed to u7@calendar.localhost")

    def test_subscriber_of_a_domain_no_longer_served(self):
        import sqlite3
        self.start()  # creates the store
        self.component.stop()
        # eve subscribed while other.localhost was served; now it is not.
        db = sqlite3.connect(os.path.join(self.ws.dir, "calpresence.db"))
        db.executemany("INSERT INTO subscribers (user_jid, subscriber, created) VALUES (?, ?, 0)",
                       [("alice@localhost", "eve@other.localhost"),
                        ("alice@localhost", "bob@localhost")])
        db.commit()
        db.close()
        eve = self.session.client("eve", h.OTHER_DOMAIN)
        self.component.start()
        self.component.wait_log(r"queued current presence of 1 calendars for 1 subscriptions")
        self.session.sleep(0.5)
        self.assertEqual(h.calendar_presences(eve), [],
                         "nothing published to a subscriber of a domain not served")
        # She can still unsubscribe.
        eve.send_presence(pto=CAL_ALICE, ptype="unsubscribe")
        self.component.wait_log(r"eve@other.localhost unsubscribed from alice@calendar.localhost")

    def test_subscription_survives_restart_and_is_resent(self):
        self.start()
        bob = self.session.client("bob")
        bob.send_presence(pto=f"carol@{h.COMPONENT}", ptype="subscribe")
        self.component.wait_log(r"bob@localhost subscribed to carol@calendar.localhost")
        self.session.wait_for(lambda: h.calendar_presences(bob, f"carol@{h.COMPONENT}", "unavailable"))
        self.component.stop()
        before = len(h.calendar_presences(bob, f"carol@{h.COMPONENT}", "unavailable"))
        self.component.start()
        self.component.wait_log(r"queued current presence of 1 calendars for 1 subscriptions")
        self.session.wait_for(
            lambda: len(h.calendar_presences(bob, f"carol@{h.COMPONENT}", "unavailable")) > before,
            what="presence resent after the component restarted")

    def test_prosody_restart_reconnects_and_resyncs(self):
        """Also the regression test of the libstrophe sm_state workaround: connect, send, be
        disconnected by the server, reconnect, send again."""
        self.start()
        bob = self.session.client("bob")
        bob.send_presence(pto=CAL_ALICE, ptype="subscribe")
        self.component.wait_log(r"bob@localhost subscribed")
        self.session.close()
        self.session = None

        self.prosody.stop()
        self.component.wait_log(r"disconnected from 127\.0\.0\.1")
        self.component.wait_log(r"retrying 127\.0\.0\.1:\d+ in")
        self.prosody.start()
        self.component.wait_log(r"connected to .* as component", count=2, timeout=60)
        # The first handshake had no subscriber yet; this one must resend bob's.
        self.component.wait_log(r"queued current presence of 1 calendars for 1 subscriptions")

        self.session = h.Session(self.prosody)
        bob = self.session.client("bob")
        answer = self.session.iq(bob, h.COMPONENT, "<ping xmlns='urn:xmpp:ping'/>")
        self.assertEqual(answer["type"], "result")
        self.assertIsNone(self.component.proc.poll())

    def test_sigterm_sends_unavailable(self):
        self.start()
        bob = self.session.client("bob")
        bob.send_presence(pto=CAL_ALICE, ptype="subscribe")
        self.session.wait_for(lambda: h.calendar_presences(bob, ptype="unavailable"))
        before = len(h.calendar_presences(bob, ptype="unavailable"))
        self.component.signal(signal.SIGTERM)
        self.assertEqual(self.component.wait(), 0)
        self.session.wait_for(lambda: len(h.calendar_presences(bob, ptype="unavailable")) > before,
                              what="unavailable at shutdown")
        self.assertIn("sent unavailable to 1 subscriptions", self.component.log())

    def test_sighup_reload(self):
        self.start()
        with open(self.component.conf) as f:
            original = f.read()
        # A broken file changes nothing and says where it is broken.
        with open(self.component.conf, "a") as f:
            f.write("\n[calendar]\nspread = 99\n")
        self.component.signal(signal.SIGHUP)
        self.component.wait_log(r"reload refused, running configuration kept .*calpresence\.conf:\d+: ")
        # A live key is applied, a restart-only key is reported as such.
        changed = original.replace("reconnect_max = 2", "reconnect_max = 5").replace(
            f"server_port = {self.prosody.component_port}",
            f"server_port = {self.prosody.component_port + 1}")
        with open(self.component.conf, "w") as f:
            f.write(changed)
        self.component.signal(signal.SIGHUP)
        self.component.wait_log(r"\[component\] reconnect_max changed: applied")
        self.component.wait_log(r"\[component\] server_port changed: takes effect only after a restart")
        self.component.wait_log(r"reloaded .* \(1 change\(s\) need a restart\)")
        alice = self.session.client("alice")
        self.assertEqual(self.session.iq(alice, h.COMPONENT, "<ping xmlns='urn:xmpp:ping'/>")["type"],
                         "result", "still connected on the old port")

    def test_sighup_reload_applies_reconnect_max(self):
        """`reconnect_max` is a live key: after a reload the back-off obeys the new cap (it was
        reported "applied" while the connection kept the cap it was built with)."""
        self.start()
        with open(self.component.conf) as f:
            original = f.read()
        with open(self.component.conf, "w") as f:
            f.write(original.replace("reconnect_max = 2", "reconnect_max = 1"))
        self.component.signal(signal.SIGHUP)
        self.component.wait_log(r"\[component\] reconnect_max changed: applied")
        self.session.close()
        self.session = None
        self.prosody.stop()
        # Base 1 s, doubled per attempt: under the old cap of 2 s the second and third delays
        # are at least 1.0 s and at most 2.0 s; under the new one they are at most 1.0 s.
        self.component.wait_log(r"retrying 127\.0\.0\.1:\d+ in [\d.]+ s \(attempt 3\)", timeout=60)
        delays = [float(x) for x in re.findall(r"retrying 127\.0\.0\.1:\d+ in ([\d.]+) s",
                                               self.component.log())]
        self.assertGreaterEqual(len(delays), 3)
        self.assertTrue(all(x <= 1.0 for x in delays), f"delays over the new cap: {delays}")

    def test_sighup_reload_keeps_restart_only_keys(self):
        """A restart-only key changed in the file is reported, and the daemon keeps serving with
        the running value: the component JID it is connected as, the domains it serves."""
        self.start()
        with open(self.component.conf) as f:
            original = f.read()
        with open(self.component.conf, "w") as f:
            f.write(original.replace(f"jid = {h.COMPONENT}", "jid = other.localhost").replace(
                f"domains = {h.DOMAIN}", "domains = elsewhere.example"))
        self.component.signal(signal.SIGHUP)
        self.component.wait_log(r"\[component\] jid changed: takes effect only after a restart")
        self.component.wait_log(r"reloaded .* \(2 change\(s\) need a restart\)")
        alice = self.session.client("alice")
        ping = self.session.iq(alice, h.COMPONENT, "<ping xmlns='urn:xmpp:ping'/>")
        self.assertEqual(ping["type"], "result", "the component JID still answers")
        ping = self.session.iq(alice, CAL_ALICE, "<ping xmlns='urn:xmpp:ping'/>")
        self.assertEqual(ping["type"], "result", "calendar JIDs of the running jid still answer")

    def test_validate_only(self):
        ok = subprocess.run([h.CALPRESENCE, "-c", self.component.conf, "-n"],
                            capture_output=True, text=True)
        self.assertEqual((ok.returncode, ok.stdout.strip()), (0, "configuration OK"))
        with open(self.component.conf, "a") as f:
            f.write("\n[component]\nno_such_key = 1\n")
        bad = subprocess.run([h.CALPRESENCE, "-c", self.component.conf, "-n"],
                             capture_output=True, text=True)
        self.assertEqual(bad.returncode, 1)
        self.assertRegex(bad.stderr, r"calpresence\.conf:\d+: ")


if __name__ == "__main__":
    unittest.main(verbosity=2)
