#!/usr/bin/python3
"""The troubleshooter (component/check/check.c, through check-driver) against a server whose
certificate is RSA 1024 (tests/ews/ews_test_server.py's weak port): with weak_certificates =
warn the certificate step passes with a warning and the EWS steps reach the server at security
level 0, as the daemon would; with refuse the certificate step fails as bad-certificate.

usage: check_weak.py CHECK_DRIVER   (CP_SOURCE_ROOT locates ews_test_server.py)
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile

DRIVER = sys.argv[1]
SERVER = os.path.join(os.environ["CP_SOURCE_ROOT"], "tests", "ews", "ews_test_server.py")
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def config(tmp, name, url, ca_file, weak):
    path = os.path.join(tmp, name + ".conf")
    with open(path, "w") as f:
        f.write("""[component]
jid = calendar.localhost
secret = s
domains = example.com
[store]
path = %s/store.db
[exchange]
ews_urls = %s
username = alice
password = secret
auth = basic
impersonation = none
trust_dir = %s/trust-%s
ca_file = %s
weak_certificates = %s
timeout = 10
[notifications]
mode = pull
""" % (tmp, url, tmp, name, ca_file, weak))
    os.chmod(path, 0o600)
    return path


def step(out, name):
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[0] == name:
            return parts[1], (parts[2] if len(parts) > 2 else "")
    return None, ""


def run(cfg):
    p = subprocess.run([DRIVER, cfg], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def main():
    tmp = tempfile.mkdtemp(prefix="cp-check-weak-")
    srv = subprocess.Popen(["/usr/bin/python3", SERVER, tmp], stdout=subprocess.PIPE, text=True)
    try:
        ready = srv.stdout.readline().split()
        if len(ready) != 5 or ready[0] != "READY":
            print("FAIL ews_test_server.py did not start: %r" % ready)
            return 1
        ca, weak_port = ready[3], int(ready[4])
        url = "https://127.0.0.1:%d/basic/EWS/Exchange.asmx" % weak_port

        rc, out = run(config(tmp, "warn", url, ca, "warn"))
        st, detail = step(out, "certificate")
        check(st == "pass" and detail.startswith("verified"),
              "warn: certificate verified (%s)" % detail)
        check("1024" in out, "warn: the weak key is named in a warning")
        st, detail = step(out, "authentication")
        check(st == "pass", "warn: authentication reaches the server at level 0 (%s)\n%s"
              % (detail, out[-2000:]))
        check(rc == 0, "warn: exit 0")

        rc, out = run(config(tmp, "refuse", url, ca, "refuse"))
        st, detail = step(out, "certificate")
        check(rc == 1 and st == "FAIL" and detail.startswith("bad-certificate"),
              "refuse: bad-certificate (%s)" % detail)
        check(step(out, "authentication")[0] == "skipped", "refuse: EWS steps skipped")
    finally:
        srv.send_signal(signal.SIGTERM)
        try:
            srv.wait(timeout=20)
        except subprocess.TimeoutExpired:
            srv.kill()
            srv.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
