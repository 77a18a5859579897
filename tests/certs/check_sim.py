#!/usr/bin/python3
"""The troubleshooter (component/check/check.c, through check-driver) against ews-sim: every step
passes with good settings, and each broken setting fails at its own step with its action.

usage: check_sim.py CHECK_DRIVER   (CP_BUILD_ROOT locates ews-sim and its simlib.py)
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.environ["CP_SOURCE_ROOT"], "tests", "ews-sim"))
import simlib  # noqa: E402

DRIVER = sys.argv[1]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def config(tmp, name, urls, user="svc@example.com", password="Secret1", ca_file="",
           imp="smtp"):
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
username = %s
password = %s
auth = basic
impersonation = %s
trust_dir = %s/trust-%s
ca_file = %s
timeout = 5
[notifications]
mode = pull
""" % (tmp, ", ".join(urls), user, password, imp, tmp, name, ca_file))
    os.chmod(path, 0o600)
    return path


def run(cfg, *args):
    p = subprocess.run([DRIVER, cfg] + list(args), capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def step(out, name):
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[0] == name:
            return parts[1], (parts[2] if len(parts) > 2 else "")
    return None, ""


def main():
    tmp = tempfile.mkdtemp(prefix="cp-check-")
    sim = simlib.Sim(cas=("cas1", "cas2"), lines=simlib.STANDARD)
    try:
        good = [sim.url("cas1")]
        ca = sim.ca

        cfg = config(tmp, "good", good, ca_file=ca)
        rc, out, err = run(cfg, "alice@example.com")
        check(rc == 0, "good settings: exit 0\n" + out + err[-2000:])
        for s in ("reachability", "certificate", "authentication", "impersonation"):
            check(step(out, s)[0] == "pass", "good settings: %s passes" % s)
        check(step(out, "certificate")[1].startswith("verified"), "certificate: verified")
        check("result: all 1 server pass" in out, "good settings: summary")

        rc, out, _ = run(cfg, "alice@example.com", "--json")
        doc = json.loads(out)
        check(rc == 0 and doc["ok"] is True, "json: ok true")
        check(doc["servers"][0]["certificate_status"] == "verified", "json: certificate_status")
        check([s["result"] for s in doc["servers"][0]["steps"]] == ["pass"] * 4,
              "json: four passing steps")

        rc, out, _ = run(cfg)
        check(rc == 0 and step(out, "impersonation")[0] == "skipped",
              "no mailbox: impersonation skipped, still exit 0")

        rc, out, _ = run(config(tmp, "badpw", good, password="wrong", ca_file=ca),
                         "alice@example.com")
        st, detail = step(out, "authentication")
        check(rc == 1 and st == "FAIL" and "credentials refused" in detail,
              "bad password: authentication fails (%s)" % detail)
        check("action: check username" in out, "bad password: action line")
        check(step(out, "impersonation")[0] == "skipped", "bad password: impersonation skipped")

        rc, out, _ = run(config(tmp, "norights", good, user="EXAMPLE\\limited",
                                password="Secret2", ca_file=ca), "alice@example.com")
        st, detail = step(out, "impersonation")
        check(rc == 1 and step(out, "authentication")[0] == "pass" and st == "FAIL"
              and "ErrorImpersonateUserDenied" in detail,
              "no impersonation right: named (%s)" % detail)
        check("ApplicationImpersonation" in out, "no impersonation right: action names the role")

        rc, out, _ = run(cfg, "nobody@example.com")
        st, detail = step(out, "impersonation")
        check(rc == 1 and st == "FAIL" and "ErrorNonExistentMailbox" in detail,
              "unknown mailbox: named (%s)" % detail)

        rc, out, _ = run(config(tmp, "notrust", good), "alice@example.com")
        st, detail = step(out, "certificate")
        check(rc == 1 and st == "FAIL" and detail.startswith("missing-chain"),
              "empty trust store: missing-chain (%s)" % detail)
        check(step(out, "authentication")[0] == "skipped", "empty trust store: EWS steps skipped")
        check("calpresence-certs -c FILE import" in out, "empty trust store: action says import")

        down = "https://127.0.0.1:%d/EWS/Exchange.asmx" % simlib.free_port()
        rc, out, _ = run(config(tmp, "two", good + [down], ca_file=ca), "alice@example.com")
        check(rc == 1 and "result: 1 of 2 servers failing" in out, "one of two servers down")
        check(out.count("reachability    FAIL") == 1, "the down server fails reachability")
        rc, out, _ = run(config(tmp, "two", good + [down], ca_file=ca), "--json")
        doc = json.loads(out)
        check([s["ok"] for s in doc["servers"]] == [True, False], "json: per-server ok")

        # autodiscover: an address is needed, and a domain without records is named.
        auto = config(tmp, "auto", ["autodiscover"], user="EXAMPLE\\svc", ca_file=ca)
        rc, out, _ = run(auto)
        st, detail = step(out, "reachability")
        check(rc == 1 and st == "FAIL" and "needs an e-mail address" in detail,
              "autodiscover without an address: says so (%s)" % detail)
        rc, out, _ = run(auto, "alice@calpresence-test.invalid")
        st, detail = step(out, "reachability")
        check(rc == 1 and st == "FAIL" and "autodiscover for alice@calpresence-test.invalid found "
              "no EWS URL" in detail, "autodiscover of an unknown domain: fails (%s)" % detail)
    finally:
        sim.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
