#!/usr/bin/python3
"""The ews/ client (through calpresence-ews) against ews-sim, an independent Exchange simulator:
NTLMv2 with impersonation and X-AnchorMailbox, a refused password, the ErrorServerBusy back-off,
a pull subscription that sees an event made on the simulator, and a push subscription whose
notification the tool's own listener answers with Unsubscribe after --count.

Usage: test_sim.py PATH-TO-calpresence-ews. Skips (77) when ews-sim is not built."""
import os
import subprocess
import sys
import time

ROOT = os.environ["CP_SOURCE_ROOT"]
sys.path.insert(0, os.path.join(ROOT, "tests", "ews-sim"))
import simlib  # noqa: E402

TOOL = sys.argv[1]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def config(sim, password="Secret1", mode="pull", push_port=0):
    path = os.path.join(sim.dir, "ews-%s-%s.conf" % (password, mode))
    push = ("listen = 127.0.0.1:%d\nurl = http://127.0.0.1:%d/ews/notify\nstatus_frequency = 1\n"
            % (push_port, push_port)) if mode == "push" else ""
    with open(path, "w") as f:
        f.write("""[component]
jid = calendar.example.com
secret = component-secret
domains = example.com
[store]
path = %(d)s/store.db
[exchange]
ews_urls = %(url)s
username = EXAMPLE\\svc
password = %(pw)s
auth = ntlm
impersonation = smtp
server_version = Exchange2013
trust_dir = %(d)s
ca_file = %(ca)s
timeout = 10
[notifications]
mode = %(mode)s
%(push)s[log]
level = warn
""" % {"d": sim.dir, "url": sim.url(), "pw": password, "ca": sim.ca, "mode": mode,
       "push": push})
    os.chmod(path, 0o600)
    return path


def run(args, timeout=60):
    t0 = time.monotonic()
    p = subprocess.run([TOOL] + args, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t0


def watch_push(sim):
    """Push: the tool listens, Exchange (the simulator) POSTs SendNotification, the tool prints
    it and answers Unsubscribe because --count is reached."""
    port = simlib.free_port()
    watch = subprocess.Popen([TOOL, "-c", config(sim, mode="push", push_port=port), "watch",
                              "alice@example.com", "--count", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = watch.stderr.readline()
    check("watching alice@example.com" in line, "push subscription made (%r)" % line)
    sim.ok("item add alice@example.com +5h +6h busy \"Push\"")
    try:
        out, err = watch.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        watch.kill()
        out, err = watch.communicate()
    check(watch.returncode == 0, "push watch ends after --count 1 (%s)" % err.strip())
    check(len(out.splitlines()) == 1 and " created:" in out, "push notification printed (%r)" % out)
    deadline = time.time() + 10
    while time.time() < deadline and sim.counters().get("push_unsubscribe") != "1":
        time.sleep(0.2)
    check(sim.counters().get("push_unsubscribe") == "1",
          "the listener answered Unsubscribe (%s)" % sim.counters().get("push_unsubscribe"))


def main():
    if not os.access(simlib.SIM, os.X_OK):
        print("ews-sim not built (%s): skipped" % simlib.SIM)
        return 77
    # The simulator offers Negotiate, NTLM and Basic, as IIS does.
    sim = simlib.Sim(args=["--heartbeat", "1"], lines=[
        "account add EXAMPLE\\svc Secret1",
        "account impersonate EXAMPLE\\svc all",
        "mailbox add alice@example.com",
        "item add alice@example.com +1h +2h busy \"Standup\"",
    ])
    try:
        rc, out, err, _ = run(["-c", config(sim), "calendar", "alice@example.com"])
        c = sim.counters()
        check(rc == 0, "NTLMv2 + impersonation: calendar exits 0 (%s)" % err.strip())
        check(out.strip().endswith(" Busy Standup"), "the simulator's item is read (%r)" % out)
        check(c.get("anchor_missing") == "0" and c.get("anchor_mismatch") == "0",
              "X-AnchorMailbox set on impersonated requests (%s/%s)"
              % (c.get("anchor_missing"), c.get("anchor_mismatch")))

        any_conf = config(sim).replace(".conf", "-any.conf")
        with open(config(sim)) as f, open(any_conf, "w") as g:
            g.write(f.read().replace("auth = ntlm", "auth = any"))
        os.chmod(any_conf, 0o600)
        rc, out, err, _ = run(["-c", any_conf, "calendar", "alice@example.com"])
        check(rc == 0 and "Busy Standup" in out,
              "auth = any gets through Negotiate-first without Kerberos (%s)" % err.strip())

        sim.ok("counters reset")
        rc, out, err, _ = run(["-c", config(sim, password="Wrong1"), "calendar", "alice@example.com"])
        c = sim.counters()
        check(rc == 1 and "auth_failure" in err, "a refused password exits 1 as auth_failure")
        check(int(c.get("http_requests", "99")) <= 2, "no 401 loop (%s requests)"
              % c.get("http_requests"))

        sim.ok("fault add busy 700 op=FindItem mailbox=alice@example.com count=1")
        rc, out, err, took = run(["-c", config(sim), "calendar", "alice@example.com"])
        check(rc == 0 and took >= 0.7, "ErrorServerBusy waited out (%.2f s, %s)" % (took, err.strip()))

        # Streaming frames carry t:Notification (the schema's namespace): both modes must
        # print the event.
        for mode in ("pull", "streaming"):
            watch = subprocess.Popen([TOOL, "-c", config(sim, mode=mode), "watch",
                                      "alice@example.com", "--count", "1"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            line = watch.stderr.readline()
            check("watching alice@example.com" in line, "%s subscription made (%r)" % (mode, line))
            time.sleep(1)
            sim.ok("item add alice@example.com +3h +4h tentative \"Review %s\"" % mode)
            try:
                out, err = watch.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                watch.kill()
                out, err = watch.communicate()
            check(watch.returncode == 0,
                  "%s watch ends after --count 1 (%s)" % (mode, err.strip()))
            check(len(out.splitlines()) == 1 and " created:" in out,
                  "%s: one line for the CreatedEvent (%r)" % (mode, out))

        watch_push(sim)
    finally:
        rc, log = sim.stop()
        if failures:
            print(log[-3000:])
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
