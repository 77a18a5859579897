"""Roster provisioning at scale (issue 11 item 6): a users-enable of N users with K contacts each
is N x K privileged roster sets. A private Prosody with prosody-modules' mod_privilege (the
integration harness's, logging warnings only) is given N accounts whose rosters hold K of the
other users each, written straight into its internal storage (far faster than N x K client
roster sets); the daemon, against ews-sim with the N mailboxes, is told `calpresence-ctl users
enable FILE`; the bench prints roster changes per second while the queue drains, stops the daemon
half-way, prints what was left, starts it again and prints that the rest completed. At the end
it counts the calendar items in Prosody's roster files. Prints figures; never fails on time (a
phase that does not finish prints how far it got).

Usage (/usr/bin/python3; CP_BUILD_ROOT = a build, EWS_SIM optional):
  bench_roster.py [N] [K]    default N from CP_BENCH_ROSTER_USERS, else 1000; K 50.
                             CP_BENCH_ROSTER_USERS=10000 is the issue's full size;
                             CP_BENCH_ROSTER_TMP=/dev/shm puts Prosody's files on a tmpfs;
                             CP_BENCH_ROSTER_TIMEOUT caps each phase (seconds, default 3600).
"""
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("CP_SOURCE_ROOT", os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
import bench_engine as be  # noqa: E402
import harness  # noqa: E402  (slixmpp: Debian's python3-slixmpp)

CTL = os.path.join(be.BUILD, "component", "tools", "calpresence-ctl")
PHASE_TIMEOUT = float(os.environ.get("CP_BENCH_ROSTER_TIMEOUT", "3600"))
log = be.log


def user(i):
    return "user%05d" % i


def contacts_of(i, n, k):
    """User I's contacts: the K users after it, wrapping round, so each user is also a contact
    of K others and every roster ends up with K contacts and K calendar items."""
    return [(i - 1 + j) % n + 1 for j in range(1, k + 1)]


class QuietProsody(harness.Prosody):
    """The harness's Prosody with mod_privilege, logging warnings only: its debug log would
    cost more than the roster sets."""

    def _write_config(self):
        super()._write_config()
        with open(self.cfg) as f:
            text = f.read()
        text = re.sub(r'log = \{ debug = "([^"]+)" \}', r'log = { warn = "\1" }', text)
        with open(self.cfg, "w") as f:
            f.write(text)


def write_prosody_data(p, n, k):
    """Accounts and rosters in Prosody's internal storage (data/<host>/<store>/<user>.dat, Lua
    tables). An account only needs to exist for Prosody to save its roster; nobody logs in."""
    host = os.path.join(p.dir, "data", harness.DOMAIN)
    for store in ("accounts", "roster"):
        os.makedirs(os.path.join(host, store), exist_ok=True)
    for i in range(1, n + 1):
        with open(os.path.join(host, "accounts", user(i) + ".dat"), "w") as f:
            f.write('return {\n\t["iteration_count"] = 4096;\n\t["salt"] = "bench";\n'
                    '\t["stored_key"] = "00";\n\t["server_key"] = "00";\n};\n')
        items = "".join(
            '\t["%s@%s"] = {\n\t\t["groups"] = {};\n\t\t["subscription"] = "both";\n'
            '\t\t["name"] = "%s";\n\t};\n' % (user(c), harness.DOMAIN, user(c))
            for c in contacts_of(i, n, k))
        with open(os.path.join(host, "roster", user(i) + ".dat"), "w") as f:
            f.write('return {\n\t[false] = {\n\t\t["version"] = 1;\n\t\t["pending"] = {};\n'
                    '\t};\n%s};\n' % items)


def calendar_items_in_prosody(p, n):
    host = os.path.join(p.dir, "data", harness.DOMAIN, "roster")
    total = 0
    for i in range(1, n + 1):
        with open(os.path.join(host, user(i) + ".dat")) as f:
            total += f.read().count("@" + harness.COMPONENT + '"]')
    return total


def store_counts(db):
    """(roster sets done, subscription requests sent, jobs still queued) from the daemon's
    store, read-only while it runs (WAL)."""
    for _ in range(50):
        try:
            with sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5) as c:
                done = c.execute("SELECT count(*) FROM roster_items WHERE method = 'roster'")
                asked = c.execute("SELECT count(*) FROM roster_items WHERE method = 'subscribe'")
                queued = c.execute("SELECT count(*) FROM roster_jobs")
                return done.fetchone()[0], asked.fetchone()[0], queued.fetchone()[0]
        except sqlite3.Error:
            time.sleep(0.1)
    raise RuntimeError("cannot read " + db)


def drain(d, total, until, what):
    """Polls the store until UNTIL roster changes are done (or the queue is empty when UNTIL is
    None), printing the rate every 10 s. Returns (changes done, seconds)."""
    t0 = time.time()
    done0 = store_counts(d.db)[0]
    last_t, last_done = t0, done0
    while True:
        time.sleep(1)
        done, asked, queued = store_counts(d.db)
        now = time.time()
        if now - last_t >= 10:
            log("  %s: %d/%d roster changes, %.0f/s over the last %.0f s, %d jobs queued, "
                "load %s" % (what, done, total, (done - last_done) / (now - last_t),
                             now - last_t, queued, be.loadavg()))
            last_t, last_done = now, done
        if asked:
            log("  %d subscription requests sent instead of roster sets: see the log" % asked)
        if (until is not None and done >= until) or (until is None and queued == 0):
            return done - done0, now - t0
        if d.proc.poll() is not None:
            log("  the daemon exited (%s): see %s" % (d.proc.returncode, d.logpath))
            return done - done0, now - t0
        if now - t0 > PHASE_TIMEOUT:
            log("  %s: not finished after %.0f s: %d/%d done" % (what, now - t0, done, total))
            return done - done0, now - t0


def wait_log(d, pattern, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if re.search(pattern, d.log_text()):
            return True
        time.sleep(0.2)
    return False


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else int(
        os.environ.get("CP_BENCH_ROSTER_USERS", "1000"))
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    total = n * k
    # Prosody's internal storage rewrites a whole roster file per change; on this machine's ext4
    # the renames put Prosody in disk wait (docs/performance.md), so a tmpfs may be chosen.
    work = tempfile.mkdtemp(prefix="cp-bench-roster-", dir=os.environ.get("CP_BENCH_ROSTER_TMP"))
    log("== roster provisioning: %d users x %d contacts = %d roster changes (%d CPUs, files in "
        "%s)" % (n, k, total, os.cpu_count(), work))
    p = QuietProsody(work, secret=be.SECRET, privileges=harness.PRIVILEGES_FULL)
    t = time.time()
    write_prosody_data(p, n, k)
    log("Prosody data: %d accounts and rosters written in %.1f s" % (n, time.time() - t))
    sim = d = None
    try:
        p.start()
        sim = be.start_sim(n)
        server = type("Server", (), {"port": p.component_port})()
        daemon_dir = os.path.join(work, "daemon")
        os.makedirs(daemon_dir)
        d = be.Daemon(daemon_dir, sim, server, spread=0,
                      extra="[privilege]\nroster_check_interval = 0\n")
        d.start()
        if not wait_log(d, r"privilege: localhost grants roster both"):
            log("no privilege advertisement from Prosody: see " + d.logpath)
            return
        users = os.path.join(work, "users.txt")
        with open(users, "w") as f:
            f.writelines("%s@%s,%s\n" % (user(i), harness.DOMAIN, be.mailbox(i))
                         for i in range(1, n + 1))
        t = time.time()
        subprocess.run([CTL, "-c", d.conf, "users", "enable", users], check=True,
                       stdout=subprocess.DEVNULL)
        log("users enable: %d users in %.1f s" % (n, time.time() - t))
        half, secs = drain(d, total, total // 2, "first half")
        log("first half: %d roster changes in %.1f s: %.0f/s" % (half, secs, half / secs))
        d.stop()
        done, asked, queued = store_counts(d.db)
        log("stopped the daemon (SIGTERM): %d roster changes done, %d left (%d jobs queued)" %
            (done, total - done, queued))
        t = time.time()
        d.start()
        rest, secs = drain(d, total, None, "after restart")
        done, asked, queued = store_counts(d.db)
        log("after restart: %d roster changes in %.1f s (%.0f/s, the handshake and the "
            "privilege grace included): %d/%d done, %d jobs left" %
            (rest, secs, rest / secs if secs else 0, done, total, queued))
        if asked:
            log("subscription requests sent instead: %d" % asked)
        log("daemon CPU %.1f s, Prosody CPU %.1f s" % (be.cpu_s(d.proc.pid), be.cpu_s(p.proc.pid)))
        d.stop()
        log("Prosody's roster files hold %d calendar items (%d expected)" %
            (calendar_items_in_prosody(p, n), total))
    finally:
        if d:
            d.stop()
        if sim:
            sim.stop()
        p.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
