"""Issue 10, items 1 and 4: the daemon under systemd, without systemd as PID 1. The test owns
the datagram socket NOTIFY_SOCKET names, as systemd would, and sees READY=1 (with STATUS=)
once the component is connected, WATCHDOG=1 from the loop at the pace WATCHDOG_USEC asks, and
STOPPING=1 on SIGTERM, in that order. JOURNAL_STREAM naming the daemon's stderr puts the
syslog priority at the start of each log line. Run with /usr/bin/python3."""

import os
import signal
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

WATCHDOG_USEC = 400000  # small, so that several WATCHDOG=1 arrive within the test


class SystemdTest(unittest.TestCase):
    def setUp(self):
        self.ws = h.Workspace(self.id().split(".")[-1])
        self.prosody = h.Prosody(self.ws.dir)
        self.prosody.start()
        self.component = h.Component(self.ws.dir, self.prosody)
        self.sock_path = os.path.join(self.ws.dir, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.sock_path)
        self.messages = []

    def tearDown(self):
        self.component.stop()
        self.prosody.stop()
        self.sock.close()
        self.ws.cleanup()

    def receive_until(self, key, timeout=h.TIMEOUT):
        """Collects datagrams until one holds the line KEY; fails after TIMEOUT seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                break
            self.messages.append(data)
            if key in data.split("\n"):
                return data
        self.fail(f"no {key} from the daemon; got {self.messages}\n{self.component.log()}")

    def test_notify_protocol_and_journal_prefix(self):
        # WATCHDOG_PID unset: the watchdog is meant for the process that reads the variable.
        env = {k: v for k, v in os.environ.items() if k != "WATCHDOG_PID"}
        env.update(NOTIFY_SOCKET=self.sock_path, WATCHDOG_USEC=str(WATCHDOG_USEC))
        # The daemon's stderr is the log file: name it, as systemd names its journal stream.
        open(self.component.logpath, "ab").close()
        st = os.stat(self.component.logpath)
        env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        self.component.start(env=env)

        ready = self.receive_until("READY=1")
        self.assertRegex(ready, r"STATUS=calendar\.localhost connected to 127\.0\.0\.1:\d+, "
                                r"\d+ users enabled")
        # Two after READY: the timer keeps firing, not only once.
        ready_at = len(self.messages)
        self.receive_until("WATCHDOG=1")
        self.receive_until("WATCHDOG=1")
        self.assertGreaterEqual(len(self.messages), ready_at + 2)

        self.component.signal(signal.SIGTERM)
        self.receive_until("STOPPING=1")
        self.assertEqual(self.component.wait(), 0)

        keys = [line for m in self.messages for line in m.split("\n")
                if line in ("READY=1", "WATCHDOG=1", "STOPPING=1")]
        first_ready = keys.index("READY=1")
        stopping = keys.index("STOPPING=1")
        self.assertIn("WATCHDOG=1", keys[first_ready:stopping], keys)
        self.assertEqual(keys[-1], "STOPPING=1", keys)

        log = self.component.log()
        self.assertRegex(log, r"(?m)^<6>\S+ INFO xmpp: .*connected to .* as component$")
        self.assertRegex(log, r"(?m)^<6>\S+ INFO main: SIGTERM received: shutting down$")
        for line in log.splitlines():
            if " DEBUG " in line:
                self.assertTrue(line.startswith("<7>"), line)

    def test_without_notify_socket_nothing_changes(self):
        env = {k: v for k, v in os.environ.items()
               if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "JOURNAL_STREAM")}
        self.component.start(env=env)
        self.component.signal(signal.SIGTERM)
        self.assertEqual(self.component.wait(), 0)
        self.assertNotIn("<6>", self.component.log())
        self.assertNotIn("watchdog", self.component.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
