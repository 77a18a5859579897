"""The stanza guard against a real Prosody (issue 12, items 1 and 4): a user sending wide stanzas
back to back gets policy-violation for each, while another user's disco#info keeps being
answered; and the debug log never holds the XEP-0114 handshake digest.
Run with /usr/bin/python3 (slixmpp)."""

import asyncio
import hashlib
import os
import re
import sys
import time
import unittest

from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

WIDE_CHILDREN = 60000  # 240 KB of <a/>: under Prosody's c2s_stanza_size_limit (256 KiB)
WIDE_STANZAS = 6       # sent back to back
PROBE_BOUND_S = 5      # the generous bound for one disco#info answer
DISCO_INFO = "http://jabber.org/protocol/disco#info"
STANZAS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"


class GuardTest(unittest.TestCase):
    def setUp(self):
        self.ws = h.Workspace(self.id().split(".")[-1])
        self.prosody = h.Prosody(self.ws.dir)
        self.prosody.start()
        self.component = h.Component(self.ws.dir, self.prosody)  # log level debug
        self.component.start()
        self.session = h.Session(self.prosody)

    def tearDown(self):
        self.session.close()
        self.component.stop()
        self.prosody.stop()
        self.ws.keep = h.test_failed(self)
        self.ws.cleanup()

    def test_wide_stanzas_dropped_while_others_are_served(self):
        bob = self.session.client("bob")
        alice = self.session.client("alice")
        errors = []
        bob.register_handler(Callback("wide errors", StanzaPath("iq@type=error"), errors.append))
        wide = ("<iq type='set' id='wide{n}' to='" + h.COMPONENT + "'>"
                "<query xmlns='urn:example:wide'>" + "<a/>" * WIDE_CHILDREN + "</query></iq>")
        self.assertLess(len(wide), 256 * 1024)

        probes = []  # seconds each disco#info took, or the exception it ended with
        sending_done = asyncio.Event()

        async def send_wide():
            for n in range(WIDE_STANZAS):
                bob.send_raw(wide.format(n=n))
                await asyncio.sleep(0)  # let the bytes go out, keep them back to back
            sending_done.set()

        async def probe():
            # Probe during the whole burst, then until every error came back.
            while (not sending_done.is_set() or len(errors) < WIDE_STANZAS
                   or len(probes) < 5) and len(probes) < 200:
                iq = alice.make_iq_get(queryxmlns=DISCO_INFO, ito=h.COMPONENT)
                start = time.monotonic()
                try:
                    await iq.send(timeout=PROBE_BOUND_S)
                    probes.append(time.monotonic() - start)
                except (IqError, IqTimeout) as e:
                    probes.append(e)
                await asyncio.sleep(0.2)

        async def both():
            await asyncio.gather(send_wide(), probe())

        self.session.run(both(), timeout=h.TIMEOUT * 3)

        failed = [p for p in probes if not isinstance(p, float)]
        self.assertEqual(failed, [], f"disco#info probes failed: {failed}")
        self.assertLess(max(probes), PROBE_BOUND_S, f"probe times: {probes}")
        self.assertEqual(sorted(e["id"] for e in errors),
                         [f"wide{n}" for n in range(WIDE_STANZAS)])
        for e in errors:
            self.assertEqual(h.error_condition(e), "policy-violation")
            self.assertEqual(e["from"].full, h.COMPONENT)
        self.component.wait_log(r"dropped unparsed", count=WIDE_STANZAS)
        log = self.component.log()
        self.assertIn(f"bob@{h.DOMAIN}/test: <iq/> dropped unparsed: {WIDE_CHILDREN + 2} "
                      "elements and text pieces", log)
        self.assertIn(f"({WIDE_STANZAS} dropped since start)", log)
        self.assertEqual(len(re.findall(r"connected to .* as component", log)), 1,
                         "the stream to Prosody stayed up")

    def test_log_never_holds_the_handshake_digest(self):
        # The daemon logs at debug level, libstrophe's own debug log included.
        log = self.component.log()
        stream_ids = set(re.findall(r"<stream:stream[^>]* id=['\"]([^'\"]+)['\"]", log))
        self.assertTrue(stream_ids, "the stream header with its id is in the debug log:\n" + log)
        for sid in stream_ids:
            digest = hashlib.sha1((sid + h.SECRET).encode()).hexdigest()
            self.assertNotIn(digest, log)
        handshakes = re.findall(r"<handshake[^>]*>(.*?)</handshake>", log)
        self.assertTrue(handshakes, "the sent handshake is logged, cut")
        for content in handshakes:
            self.assertNotRegex(content, r"[0-9a-fA-F]{40}")
        self.assertIn("Digest: ...cut...", log)


if __name__ == "__main__":
    unittest.main(verbosity=2)
