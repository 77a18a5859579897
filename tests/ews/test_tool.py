#!/usr/bin/python3
"""calpresence-ews against the local HTTPS test server (ews_test_server.py): the verbs and
output of contract.md, exit codes, the ErrorServerBusy wait, --dump with the password cut.

Usage: test_tool.py PATH-TO-calpresence-ews  (meson sets CP_SOURCE_ROOT)."""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.environ["CP_SOURCE_ROOT"]
TOOL = sys.argv[1]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def config(d, port, ca, mode, extra=""):
    path = os.path.join(d, "ews-%s.conf" % mode.replace("/", "_"))
    with open(path, "w") as f:
        f.write("""[component]
jid = calendar.example.test
secret = component-secret
domains = example.test
[store]
path = %(d)s/store.db
[exchange]
ews_urls = https://127.0.0.1:%(port)d/%(mode)s/EWS/Exchange.asmx
username = alice
password = secret
auth = basic
impersonation = smtp
server_version = Exchange2013
trust_dir = %(d)s
ca_file = %(ca)s
timeout = 10
[notifications]
mode = pull
%(extra)s
[log]
level = warn
""" % {"d": d, "port": port, "ca": ca, "mode": mode, "extra": extra})
    os.chmod(path, 0o600)
    return path


def run(args, timeout=60):
    t0 = time.monotonic()
    p = subprocess.run([TOOL] + args, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t0


def main():
    d = tempfile.mkdtemp(prefix="ews-tool-")
    srv = subprocess.Popen(["/usr/bin/python3", os.path.join(ROOT, "tests/ews/ews_test_server.py"), d],
                           stdout=subprocess.PIPE, text=True)
    try:
        line = srv.stdout.readline().split()
        if not line or line[0] != "READY":
            print("test server did not start")
            return 1
        port, ca = int(line[1]), line[3]

        rc, out, err, _ = run(["-c", config(d, port, ca, "calnow"), "calendar", "bob@example.test", "48"])
        lines = out.splitlines()
        check(rc == 0, "calendar exits 0 (%d: %s)" % (rc, err.strip()))
        check(len(lines) == 12, "calendar prints one line an item (%d)" % len(lines))
        check(all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ Busy Meeting \d+$", l)
                  for l in lines), "calendar lines are START END BUSYTYPE SUBJECT in UTC")

        rc, out, err, _ = run(["-c", config(d, port, ca, "calnow"), "calendar", "bob@example.test", "2"])
        check(rc == 0 and 1 <= len(out.splitlines()) <= 2, "HOURS bounds the window (%r)" % out)

        rc, out, err, _ = run(["-c", config(d, port, ca, "calnow"), "availability",
                               "bob@example.test", "carol@example.test"])
        lines = out.splitlines()
        check(rc == 0, "availability exits 0 (%s)" % err.strip())
        check(len(lines) == 2 and lines[0].startswith("bob@example.test ")
              and lines[1].startswith("carol@example.test ") and lines[0].endswith(" Busy"),
              "availability: one line an event prefixed by the mailbox (%r)" % lines)

        rc, out, err, took = run(["-c", config(d, port, ca, "busy800"), "calendar", "bob@example.test"])
        check(rc == 0, "ErrorServerBusy is waited out and retried (%s)" % err.strip())
        check(took >= 0.8, "the retry waited at least BackOffMilliseconds (%.2f s)" % took)

        rc, out, err, _ = run(["-c", config(d, port, ca, "deny"), "calendar", "bob@example.test"])
        check(rc == 1, "an EWS error exits 1 (%d)" % rc)
        check("auth_failure" in err, "the error class is printed (%r)" % err.strip())
        check("calpresence-ews: action: check username" in err,
              "the error carries --check's action hint (%r)" % err.strip())
        check("rc " not in err and "HTTP 0" not in err,
              "no internal return code or absent HTTP status (%r)" % err.strip())

        # Nothing listens: no HTTP answer, so no HTTP status, and the hint says where to look.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]
        rc, out, err, _ = run(["-c", config(d, closed, ca, "closed"), "calendar",
                               "bob@example.test"], timeout=120)
        check(rc == 1 and "server_down" in err, "a refused connect is server_down (%r)" % err)
        check("HTTP 0" not in err and "rc " not in err and "action: check that EWS answers" in err,
              "no HTTP 0, no rc, an action (%r)" % err.strip())

        rc, out, err, _ = run(["-c", config(d, port, ca, "subfail"), "watch", "bob@example.test"])
        check(rc == 1 and "ErrorSubscriptionNotFound" in err,
              "Exchange's response code is printed (%r)" % err.strip())

        rc, out, err, _ = run(["-c", config(d, port, ca, "basic"), "watch", "bob@example.test",
                               "--count", "2"])
        lines = out.splitlines()
        check(rc == 0, "watch (pull) exits 0 after --count (%s)" % err.strip())
        check(len(lines) == 2 and all(" SUB-1 status" in l for l in lines),
              "watch prints one line a notification (%r)" % lines)

        rc, out, err, _ = run(["-c", config(d, port, ca, "basic"), "--dump", "calendar",
                               "secret@example.test", "1"])
        check(rc == 0, "--dump runs (%s)" % err[-300:])
        check("--- request https://127.0.0.1" in err and "--- response HTTP 200" in err,
              "--dump prints requests and answers")
        check("<m:FindItem" in err and "ServerVersionInfo" in err, "--dump shows the SOAP")
        check("secret" not in err and "***@example.test" in err,
              "--dump cuts the password wherever it appears")

        rc, out, err, _ = run(["-c", config(d, port, ca, "basic"), "calendar"])
        check(rc == 2 and "usage" in err, "a wrong command line exits 2 with the usage")
    finally:
        srv.terminate()
        srv.wait()
        shutil.rmtree(d, ignore_errors=True)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
