"""Issue 10, items 2 and 3: calpresence-ctl against a running daemon over its control socket,
and the /metrics and /healthz endpoint (checked by promtool; the Exchange request counters and
latency histogram against ews-sim). A private Prosody; the daemon runs without Exchange
(every calendar JID unavailable) except where a test says otherwise. Run with /usr/bin/python3.
"""

import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

CTL = os.path.join(h.BUILD_ROOT, "component", "tools", "calpresence-ctl")


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def samples(body):
    """[(name, {label: value}, float)] of a Prometheus text exposition."""
    out = []
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        out.append((m.group(1), dict(LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return out


def pick(series, name, **labels):
    return [v for n, lab, v in series
            if n == name and all(lab.get(k) == w for k, w in labels.items())]


def promtool_check(test, body):
    promtool = shutil.which("promtool")
    if not promtool:
        print("promtool not installed: scripts/install-deps.sh adds it", file=sys.stderr)
        return
    p = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, text=True)
    test.assertEqual(p.returncode, 0, p.stdout + p.stderr)


class Daemon(h.Component):
    """The harness's component, without [exchange] and [notifications] unless EXCHANGE."""

    def __init__(self, workdir, prosody, exchange=False, extra=""):
        super().__init__(workdir, prosody, extra=extra)
        if not exchange:
            with open(self.conf) as f:
                text = f.read()
            text = re.sub(r"\[exchange\].*?(?=\[log\])", "", text, flags=re.S)
            with open(self.conf, "w") as f:
                f.write(text)
        self.sock = os.path.join(workdir, "calpresence.sock")


class CtlTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.ws = h.Workspace("ctl")
        cls.prosody = h.Prosody(cls.ws.dir)
        cls.prosody.start()
        cls.http_port = h.free_port()
        cls.comp = Daemon(cls.ws.dir, cls.prosody,
                          extra=f"[admin]\nlisten = 127.0.0.1:{cls.http_port}\n")
        cls.comp.start()

    @classmethod
    def tearDownClass(cls):
        cls.comp.stop()
        cls.prosody.stop()
        cls.ws.cleanup()

    def ctl(self, *args, user=None, timeout=h.TIMEOUT * 6):
        cmd = [CTL, "-c", self.comp.conf, *args]
        if user is not None:
            # Another uid cannot read the configuration: it is given the socket instead.
            cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups",
                   CTL, "-s", self.comp.sock, *args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr

    def write(self, name, text):
        path = os.path.join(self.ws.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def http(self, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}",
                                        timeout=h.TIMEOUT) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def test_1_socket_is_private(self):
        st = os.stat(self.comp.sock)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)

    def test_2_enable_show_list_disable(self):
        path = self.write("few.csv", "alice@localhost\nbob@localhost,robert@example.com\n\n"
                                     "Carol@LOCALHOST\n")
        code, out, err = self.ctl("users", "enable", path)
        self.assertEqual(code, 0, err)
        self.assertIn("enabled 3 users", out)
        code, out, err = self.ctl("user", "show", "bob@localhost")
        self.assertEqual(code, 0, err)
        self.assertIn("mailbox: robert@example.com", out)
        self.assertIn("enabled: yes", out)
        # privileged mode: options at the admin's default, no privileges on this Prosody
        self.assertIn("only_while_online: default", out)
        self.assertIn("respect_own_status: default", out)
        self.assertIn("mode: plain\n", out)
        code, out, err = self.ctl("users", "list", "--format", "csv", "--filter", "carol")
        self.assertEqual(code, 0, err)
        self.assertEqual(out.splitlines()[0].split(",")[:3], ["jid", "mailbox", "enabled"])
        self.assertEqual(out.splitlines()[1].split(",")[:3],
                         ["carol@localhost", "carol@localhost", "1"])
        code, out, err = self.ctl("users", "list", "--format", "json")
        self.assertEqual(code, 0, err)
        import json
        rows = json.loads(out)
        self.assertIn("alice@localhost", [r["jid"] for r in rows])
        code, out, err = self.ctl("users", "disable", self.write("off.txt", "alice@localhost\n"))
        self.assertEqual(code, 0, err)
        code, out, err = self.ctl("user", "show", "alice@localhost")
        self.assertIn("enabled: no", out)
        code, out, err = self.ctl("user", "show", "nobody@localhost")
        self.assertEqual(code, 4, err)
        code, out, err = self.ctl("user", "resubscribe", "nobody@localhost")
        self.assertEqual(code, 4, err)

    def test_3_errors_name_the_line(self):
        path = self.write("bad.csv", "dave@localhost\nnot a jid\n" + "erin@localhost\n" * 2 +
                          "frank@elsewhere.org\n")
        code, out, err = self.ctl("users", "enable", path)
        self.assertEqual(code, 3, err)
        self.assertIn(f"{path}: line 2: not a bare JID", err)
        self.assertIn(f"{path}: line 4: repeats line 3", err)
        self.assertIn(f"{path}: line 5: not a user of a domain served here", err)
        self.assertIn("3 bad lines: nothing applied", err)
        code, out, err = self.ctl("user", "show", "dave@localhost")
        self.assertEqual(code, 4, "nothing of a refused file is applied")
        long = self.write("long.csv", "gina@localhost\n" + "x" * 5000 + "@localhost\n")
        code, out, err = self.ctl("users", "enable", long)
        self.assertEqual(code, 3, err)
        self.assertIn("line 2 is longer than 4096 bytes", err)

    def test_4_hundred_thousand_lines(self):
        n = 100000
        path = self.write("big.csv", "".join(f"user{i:06d}@localhost,u{i}@mail.example.com\n"
                                             for i in range(n)))
        t0 = time.monotonic()
        code, out, err = self.ctl("users", "enable", path)
        took = time.monotonic() - t0
        self.assertEqual(code, 0, err)
        self.assertIn(f"enabled {n} users", out)
        print(f"\nbenchmark: users enable of {n} lines: {took:.2f} s", file=sys.stderr)
        # The loop kept turning meanwhile, and the list comes back whole.
        t0 = time.monotonic()
        code, out, err = self.ctl("users", "list", "--format", "csv", "--filter", "user0")
        took = time.monotonic() - t0
        self.assertEqual(code, 0, err)
        self.assertEqual(len(out.splitlines()), n + 1)
        print(f"benchmark: users list of {n} users: {took:.2f} s", file=sys.stderr)
        code, out, err = self.ctl("users", "disable", self.write(
            "bigoff.txt", "".join(f"user{i:06d}@localhost\n" for i in range(n))))
        self.assertEqual(code, 0, err)

    def test_5_backup_reload_check(self):
        dest = os.path.join(self.ws.dir, "backup.db")
        code, out, err = self.ctl("backup", dest)
        self.assertEqual(code, 0, err)
        self.assertEqual(stat.S_IMODE(os.stat(dest).st_mode), 0o600)
        db = sqlite3.connect(dest)
        self.assertGreater(db.execute("SELECT count(*) FROM users").fetchone()[0], 0)
        db.close()
        code, out, err = self.ctl("reload")
        self.assertEqual(code, 0, err)
        self.assertIn("configuration reloaded", out)
        code, out, err = self.ctl("check")
        self.assertEqual(code, 1, err)
        self.assertIn("no EWS server configured", out)
        code, out, err = self.ctl("frobnicate")
        self.assertEqual(code, 2, err)

    def test_6_other_uid_refused(self):
        if not shutil.which("setpriv") or os.geteuid() != 0:
            self.skipTest("needs root and setpriv to run the client as another uid")
        nobody = 65534
        os.chmod(self.ws.dir, 0o711)  # the socket's directory may be traversed, not listed
        try:
            code, out, err = self.ctl("users", "list", user=nobody)
            self.assertEqual(code, 5, err)
            self.assertIn("Permission denied", err)
            # Past the file mode, the credential check still refuses.
            os.chmod(self.comp.sock, 0o666)
            code, out, err = self.ctl("users", "list", user=nobody)
        finally:
            os.chmod(self.comp.sock, 0o600)
            os.chmod(self.ws.dir, 0o700)
        self.assertEqual(code, 5, err)
        self.assertIn("only root and the daemon's own user", err)
        self.comp.wait_log(r"control socket: refused uid \d+")

    def test_7_metrics_and_health(self):
        code, body = self.http("/metrics")
        self.assertEqual(code, 200)
        self.assertIn('calpresence_build_info{version="', body)
        self.assertIn("calpresence_xmpp_connected 1", body)
        promtool_check(self, body)
        # docs/operations.md lists every metric.
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "docs",
                               "operations.md")) as f:
            doc = f.read()
        families = re.findall(r"^# TYPE (\w+) ", body, re.M)
        self.assertGreater(len(families), 20)
        self.assertEqual([n for n in families if f"| `{n}` |" not in doc], [],
                         "metrics missing from docs/operations.md")
        code, body = self.http("/healthz")
        self.assertEqual(code, 200, body)
        self.assertEqual(self.http("/nope")[0], 404)

    def test_8_healthz_down_without_stream(self):
        # Last: it stops Prosody.
        self.prosody.stop()
        self.comp.wait_log(r"xmpp: .*(disconnected|connection lost|retrying)")
        code, body = self.http("/healthz")
        self.assertEqual(code, 503)
        self.assertIn("XMPP component stream is down", body)


class ExchangeMetricsTest(unittest.TestCase):
    """Requests by operation and outcome and the latency histogram, on a daemon talking to
    ews-sim in streaming mode (so the long-lived streams are seen too). dave's mailbox does not
    exist: his Subscribe fails with the mailbox outcome, and is retried."""

    REQUESTS = "calpresence_exchange_requests_total"
    LATENCY = "calpresence_exchange_request_duration_seconds"
    USERS = ["alice", "bob", "carol"]

    def test_requests_and_latency(self):
        import engine_env as env  # ews-sim and its CA: only this test needs them
        ws = h.Workspace("ctl-metrics")
        sim = env.start_sim([(f"{u}@example.com", "cas1") for u in self.USERS])
        prosody = h.Prosody(ws.dir)
        prosody.start()
        port = h.free_port()
        comp = env.write_component(ws.dir, prosody, sim, [sim.url("cas1")], mode="streaming")
        with open(comp.conf, "a") as f:
            f.write(f"\n[admin]\nlisten = 127.0.0.1:{port}\n")
        try:
            comp.start()
            path = os.path.join(ws.dir, "users.csv")
            with open(path, "w") as f:
                f.write("".join(f"{u}@localhost,{u}@example.com\n"
                                for u in self.USERS + ["dave"]))
            subprocess.run([CTL, "-c", comp.conf, "users", "enable", path], check=True,
                           capture_output=True, timeout=h.TIMEOUT)

            def scrape():
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                            timeout=h.TIMEOUT) as r:
                    body = r.read().decode()
                return body, samples(body)

            def ok(series, op):
                return sum(pick(series, self.REQUESTS, operation=op, outcome="ok"))

            deadline = time.monotonic() + h.TIMEOUT * 3
            while time.monotonic() < deadline:
                body, series = scrape()
                if ok(series, "subscribe") >= len(self.USERS) and \
                        ok(series, "read_freebusy") >= 1 and \
                        pick(series, self.REQUESTS, operation="subscribe", outcome="mailbox") \
                        >= [1.0] and \
                        pick(series, "calpresence_exchange_streams_open") == [1.0]:
                    break
                time.sleep(0.3)
            else:
                self.fail("subscriptions, reads and the stream never showed:\n" + body)
            # Disabling a user ends its subscription (Unsubscribe) and replaces the stream.
            with open(path, "w") as f:
                f.write("carol@localhost\n")
            subprocess.run([CTL, "-c", comp.conf, "users", "disable", path], check=True,
                           capture_output=True, timeout=h.TIMEOUT)
            while time.monotonic() < deadline:
                body, series = scrape()
                if ok(series, "unsubscribe") >= 1 and ok(series, "stream_events") >= 1:
                    break
                time.sleep(0.3)
            else:
                self.fail("no Unsubscribe or replaced stream counted:\n" + body)
            seen = sim.counters()
        finally:
            comp.stop()
            prosody.stop()
            sim.stop()
            ws.cleanup()
        promtool_check(self, body)
        self.assertNotIn("calpresence_exchange_request_failures_total", body)
        self.assertEqual(sum(pick(series, self.REQUESTS, outcome="ok", operation="subscribe")),
                         len(self.USERS))
        # Once per request Exchange saw (dave's retry may be on its way: at most one more).
        for op, name in (("read_freebusy", "GetUserAvailabilityRequest"),
                         ("unsubscribe", "Unsubscribe"), ("subscribe", "Subscribe")):
            daemon = sum(pick(series, self.REQUESTS, operation=op))
            sim_seen = int(seen[f"op {name}"])
            self.assertTrue(daemon <= sim_seen <= daemon + (op == "subscribe"),
                            f"{op}: counted {daemon}, ews-sim saw {sim_seen}")
        ops = {lab["operation"] for n, lab, v in series if n == self.REQUESTS}
        self.assertEqual(ops, {"subscribe", "unsubscribe", "read_freebusy", "read_calendar",
                               "poll_events", "stream_events"})
        self.assertEqual(pick(series, self.LATENCY + "_count", operation="stream_events"), [],
                         "streams are long-lived: no latency")
        for op in ops - {"stream_events"}:
            requests = sum(pick(series, self.REQUESTS, operation=op))
            count = pick(series, self.LATENCY + "_count", operation=op)
            self.assertEqual(count, [requests], f"{op}: one latency per completed request")
            buckets = [(lab["le"], v) for n, lab, v in series
                       if n == self.LATENCY + "_bucket" and lab["operation"] == op]
            self.assertEqual(buckets[-1], ("+Inf", requests), op)
            bounds = [float(le) for le, _ in buckets]
            self.assertEqual(bounds, sorted(bounds), op)
            values = [v for _, v in buckets]
            self.assertEqual(values, sorted(values), f"{op}: buckets not cumulative")
            total = pick(series, self.LATENCY + "_sum", operation=op)[0]
            # ews-sim on loopback answers within a few seconds, but never in no time at all.
            self.assertTrue(requests == 0 or 0 < total < 10 * requests, f"{op}: sum {total}")


class ExchangeDownTest(unittest.TestCase):
    """/healthz is 503 when every Exchange server is down, though the stream is up."""

    def test_no_healthy_server(self):
        ws = h.Workspace("ctl-ews")
        prosody = h.Prosody(ws.dir)
        prosody.start()
        port = h.free_port()
        comp = Daemon(ws.dir, prosody, exchange=True,
                      extra=f"[admin]\nlisten = 127.0.0.1:{port}\n")
        try:
            comp.start()
            path = os.path.join(ws.dir, "one.csv")
            with open(path, "w") as f:
                f.write("alice@localhost\n")
            subprocess.run([CTL, "-c", comp.conf, "users", "enable", path], check=True,
                           capture_output=True, timeout=h.TIMEOUT)
            deadline = time.monotonic() + h.TIMEOUT * 3
            code, body = 0, ""
            while time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
                except urllib.error.HTTPError as e:
                    code, body = e.code, e.read().decode()
                    break
                time.sleep(0.5)
            self.assertEqual(code, 503, "healthz never turned 503 with Exchange unreachable")
            self.assertIn("no healthy Exchange server (0 of 1)", body)
        finally:
            comp.stop()
            prosody.stop()
            ws.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
