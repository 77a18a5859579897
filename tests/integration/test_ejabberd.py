"""The component against a real ejabberd (Debian 12's 23.01): handshake, disco, a subscription
and the presence that follows, a wrong secret, ejabberd restarted, shutdown. The same checks as
test_component.py makes against Prosody, so docs/xmpp-servers.md's ejabberd set-up is tested.
Run with /usr/bin/python3 (slixmpp)."""

import os
import shutil
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

CAL_ALICE = f"alice@{h.COMPONENT}"
DISCO_INFO = "http://jabber.org/protocol/disco#info"


class EjabberdTest(unittest.TestCase):
    def setUp(self):
        self.ws = h.Workspace("ejd-" + self.id().split(".")[-1])
        self.server = h.Ejabberd(self.ws.dir)
        self.session = None
        self.component = None
        self.server.start()
        self.component = h.Component(self.ws.dir, self.server)

    def tearDown(self):
        if self.session:
            self.session.close()
        if self.component:
            if self.component.proc and self.component.proc.poll() is None:
                self.component.signal(signal.SIGCONT)  # in case a test left it stopped
            self.component.stop()
        self.server.stop()
        failed = h.test_failed(self)
        if failed:
            print(self.server.log()[-4000:])
        self.ws.keep = failed
        self.ws.cleanup()

    def start(self):
        self.component.start()
        self.session = h.Session(self.server)

    def subscribe_bob(self):
        """bob subscribes to alice's calendar JID; returns bob's client once the presence that
        follows the approval has arrived."""
        bob = self.session.client("bob")
        bob.send_presence(pto=CAL_ALICE, ptype="subscribe")
        self.component.wait_log(r"bob@localhost subscribed to alice@calendar\.localhost")
        self.session.wait_for(lambda: h.calendar_presences(bob, ptype="unavailable"),
                              what="current presence after subscribing")
        return bob

    def test_handshake_and_disco(self):
        self.start()
        self.assertRegex(self.component.log(),
                         rf"connected to 127\.0\.0\.1:{self.server.component_port} as component")
        alice = self.session.client("alice")
        info = self.session.iq(alice, h.COMPONENT, f"<query xmlns='{DISCO_INFO}'/>")
        self.assertEqual(info["type"], "result")
        q = info.xml.find(f"{{{DISCO_INFO}}}query")
        ident = q.find(f"{{{DISCO_INFO}}}identity")
        self.assertEqual((ident.get("category"), ident.get("type")), ("gateway", "calendar"))
        features = {f.get("var") for f in q.findall(f"{{{DISCO_INFO}}}feature")}
        self.assertIn("http://jabber.org/protocol/commands", features)
        self.assertIn("urn:xmpp:ping", features)

        info = self.session.iq(alice, CAL_ALICE, f"<query xmlns='{DISCO_INFO}'/>")
        self.assertEqual(info["type"], "result")
        ident = info.xml.find(f"{{{DISCO_INFO}}}query/{{{DISCO_INFO}}}identity")
        self.assertIn("alice@localhost", ident.get("name"))

        # ejabberd's own disco (mod_disco) answers for the user's server, not the component.
        server_info = self.session.iq(alice, h.DOMAIN, f"<query xmlns='{DISCO_INFO}'/>")
        self.assertEqual(server_info["type"], "result")
        self.assertEqual(server_info.xml.find(f"{{{DISCO_INFO}}}query/{{{DISCO_INFO}}}identity")
                         .get("category"), "server")

        # A user of a domain the component does not serve is refused by the component.
        eve = self.session.client("eve", h.OTHER_DOMAIN)
        self.assertEqual(h.error_condition(
            self.session.iq(eve, h.COMPONENT, "<ping xmlns='urn:xmpp:ping'/>")), "forbidden")

    def test_subscribe_probe_unsubscribe(self):
        self.start()
        bob = self.subscribe_bob()
        # ejabberd turns the component's `subscribed` into a roster push to bob AND delivers
        # the stanza itself to bob's resource (full JID), before the presence that follows.
        self.session.wait_for(lambda: bob.client_roster[CAL_ALICE]["subscription"] == "to",
                              what="subscription approved by the calendar JID")
        types = [p["type"] for p in h.calendar_presences(bob)]
        self.assertIn("subscribed", types)
        self.assertLess(types.index("subscribed"), types.index("unavailable"))
        self.assertEqual(h.calendar_presences(bob, ptype="unavailable")[0]["to"], bob.boundjid)

        before = len(h.calendar_presences(bob, ptype="unavailable"))
        bob.send_presence(pto=CAL_ALICE, ptype="probe")
        self.session.wait_for(lambda: len(h.calendar_presences(bob, ptype="unavailable")) > before,
                              what="presence answering a probe")

        carol = self.session.client("carol")
        carol.send_presence(pto=CAL_ALICE, ptype="probe")
        self.component.wait_log(r"probe from carol@localhost answered unsubscribed")
        self.session.sleep(0.5)
        self.assertEqual(h.calendar_presences(carol), [], "ejabberd drops the `unsubscribed`")

        bob.send_presence(pto=CAL_ALICE, ptype="unsubscribe")
        self.component.wait_log(r"bob@localhost unsubscribed from alice@calendar\.localhost")
        self.session.wait_for(lambda: bob.client_roster[CAL_ALICE]["subscription"] == "none",
                              what="subscription removed from bob's roster")

    def test_wrong_secret_exits_1(self):
        bad = h.Component(self.ws.dir, self.server, secret="not-the-secret")
        bad.start(wait_online=False)
        self.assertEqual(bad.wait(), 1)
        self.assertRegex(bad.log(), r"refused the handshake .*check \[component\] secret")
        self.assertNotIn("not-the-secret", bad.log())

    def test_what_ejabberd_does_unlike_prosody(self):
        """Documented in docs/xmpp-servers.md: (1) a component name the listener does not know
        is refused as `not-authorized`, the answer to a wrong secret (Prosody: host-unknown);
        (2) a second connection for a connected component name is accepted (Prosody: conflict),
        and ejabberd then spreads the stanzas over both."""
        os.makedirs(os.path.join(self.ws.dir, "unknown"))
        unknown = h.Component(os.path.join(self.ws.dir, "unknown"), self.server)
        with open(unknown.conf) as f:
            conf = f.read()
        with open(unknown.conf, "w") as f:
            f.write(conf.replace(f"jid = {h.COMPONENT}", "jid = unknown.localhost"))
        unknown.start(wait_online=False)
        self.assertEqual(unknown.wait(), 1)
        self.assertRegex(unknown.log(), r"refused the handshake for unknown\.localhost "
                                        r"\(not-authorized\)")

        self.start()
        os.makedirs(os.path.join(self.ws.dir, "second"))
        second = h.Component(os.path.join(self.ws.dir, "second"), self.server)
        try:
            second.start()  # waits for `connected ... as component`
            alice = self.session.client("alice")
            for _ in range(4):
                answer = self.session.iq(alice, h.COMPONENT, "<ping xmlns='urn:xmpp:ping'/>")
                self.assertEqual(answer["type"], "result")
            self.assertIsNone(self.component.proc.poll())
            self.assertNotIn("conflict", second.log())
        finally:
            second.stop()

    def test_ejabberd_restart_reconnects_and_resends(self):
        """ejabberd goes away while bob is subscribed. The component is held (SIGSTOP) until
        ejabberd is back and bob online again, so the presence bob then receives can only be
        the one the component resends after its new handshake (bob's login probe went to a
        component that was not connected)."""
        self.start()
        self.subscribe_bob()
        self.session.close()
        self.session = None

        self.component.signal(signal.SIGSTOP)
        self.server.stop()
        self.server.start()
        self.session = h.Session(self.server)
        bob = self.session.client("bob")
        self.assertEqual(bob.client_roster[CAL_ALICE]["subscription"], "to",
                         "ejabberd kept bob's subscription across its restart")
        self.session.sleep(1)
        self.assertEqual(h.calendar_presences(bob, ptype="unavailable"), [],
                         "no presence can come from a component that is not connected")

        self.component.signal(signal.SIGCONT)
        self.component.wait_log(r"disconnected from 127\.0\.0\.1")
        self.component.wait_log(r"connected to .* as component", count=2, timeout=60)
        self.component.wait_log(r"queued current presence of 1 calendars for 1 subscriptions")
        self.session.wait_for(lambda: h.calendar_presences(bob, ptype="unavailable"),
                              what="presence resent after the reconnect")
        answer = self.session.iq(bob, h.COMPONENT, "<ping xmlns='urn:xmpp:ping'/>")
        self.assertEqual(answer["type"], "result")
        self.assertIsNone(self.component.proc.poll())

    def test_sigterm_sends_unavailable(self):
        self.start()
        bob = self.subscribe_bob()
        before = len(h.calendar_presences(bob, ptype="unavailable"))
        self.component.signal(signal.SIGTERM)
        self.assertEqual(self.component.wait(), 0)
        self.session.wait_for(lambda: len(h.calendar_presences(bob, ptype="unavailable")) > before,
                              what="unavailable at shutdown")
        self.assertIn("sent unavailable to 1 subscriptions", self.component.log())



class EjabberdPrivilegeTest(unittest.TestCase):
    """ejabberd 23.01's mod_privilege (XEP-0356 privilege:1) with the grants docs/privileges.md
    gives: the component reads alice's roster, ejabberd refuses the privileged roster set, the
    component sees it and asks bob to subscribe instead; bob accepts and subscribes back, and
    then gets the calendar's presence."""

    def test_roster_read_set_refused_fallback_subscribe(self):
        import engine_env as env  # slixmpp's ad-hoc plugin; after the skip check
        ws = h.Workspace("ejd-privilege")
        server = h.Ejabberd(ws.dir, privileges=True)
        component = session = None
        failed = True
        try:
            server.start()
            component = h.Component(ws.dir, server)
            component.start()
            session = h.Session(server)
            alice = session.client("alice")
            bob = session.client("bob")
            ans = session.iq(alice, None, "<query xmlns='jabber:iq:roster'><item "
                             "jid='bob@localhost' name='Bob'/></query>", itype="set")
            self.assertEqual(ans["type"], "result")
            component.wait_log(r"privilege: localhost grants roster both, message outgoing, "
                               r"presence roster, .*\(urn:xmpp:privilege:1\)")
            done = env.command(session, alice, "enable")
            self.assertEqual(done["command"]["status"], "completed", done)
            component.wait_log(r"alice@localhost: roster read: 1 contact\(s\) on served "
                               r"domains to provision")
            component.wait_log(r"the server refuses roster changes on localhost \(")
            component.wait_log(r"alice@localhost: asked bob@localhost to subscribe to "
                               r"alice@calendar\.localhost \(the server refused the roster "
                               r"change\)")
            session.wait_for(lambda: h.calendar_presences(bob, ptype="subscribe"),
                             what="the subscription request at bob")
            # bob accepts and subscribes back, as his client offers him to
            bob.send_presence(pto=CAL_ALICE, ptype="subscribed")
            bob.send_presence(pto=CAL_ALICE, ptype="subscribe")
            component.wait_log(r"bob@localhost subscribed to alice@calendar\.localhost")
            session.wait_for(lambda: h.calendar_presences(bob, ptype="unavailable"),
                             what="alice's calendar presence at bob")
            failed = False
        finally:
            if session:
                session.close()
            if component:
                component.stop()
            server.stop()
            if failed:
                print(server.log()[-4000:])
            ws.keep = failed
            ws.cleanup()

if __name__ == "__main__":
    if not (shutil.which("erl") and os.path.isdir(os.path.join(h.Ejabberd.ERL_LIBS,
                                                               "ejabberd-23.01"))):
        print("ejabberd 23.01 is not installed (scripts/install-deps.sh installs it): skipped")
        sys.exit(77)  # meson's exit code for a skipped test
    unittest.main(verbosity=2)
