"""The engine end to end at scale: the calpresence daemon against ews-sim (two CAS, --populate N)
and a scripted XEP-0114 sink in this script that stands in for the XMPP server and notes when
each presence arrives. Users are enabled in bulk by writing rows straight into the SQLite store
before the daemon starts (the store's schema is made by the daemon itself on a first start).
Prints figures; never fails on time (a phase that does not finish prints how far it got).

Usage (/usr/bin/python3; CP_BUILD_ROOT = a release build, EWS_SIM optional):
  bench_engine.py start   [N] [DELAY_MS]   fresh start, restart, memory per user; DELAY_MS
                                (default 20) is added by ews-sim to every EWS request (`fault
                                add delay`), so the servers are latency-bound like Exchange
  bench_engine.py edges   [N]   N users' meetings starting in the same second: 1 and 10
                                subscribers, spread 0 and 50; lateness, peak memory, CPU
  bench_engine.py latency [N] [RATE] [SECONDS]   notification -> presence under RATE changes/s
  bench_engine.py steady  [N] [MINUTES] [SCALE]  EWS requests with no calendar changes
  bench_engine.py prosody [N] [SUBS] [LEAD]  N users' meetings starting in the same second at a
                                real Prosody (spread 0, SUBS subscribers each, default 1): the
                                daemon's time to get N x SUBS presences delivered vs the same
                                stanzas sent raw by a scripted component in the same run
"""
import asyncio
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("CP_SOURCE_ROOT", os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("CP_BUILD_ROOT", os.path.join(SRC, "build-bench"))
os.environ.setdefault("EWS_SIM", os.path.join(BUILD, "tests", "ews-sim", "ews-sim"))
sys.path.insert(0, os.path.join(SRC, "tests", "ews-sim"))
from simlib import Sim, envelope  # noqa: E402

DAEMON = os.path.join(BUILD, "calpresence")
SECRET = "bench-secret"
COMPONENT = "calendar.localhost"
CONCURRENCY = 20  # [exchange] concurrency, the daemon's default
FROM_RE = re.compile(rb"""from=["']([^"'@]+)@""")
STATE_RE = re.compile(rb"""state=["']([a-z]+)""")
# The start tag of an unavailable presence (the part after "<presence").
UNAVAILABLE_RE = re.compile(rb"""[^>]*type=["']unavailable["']""")


def log(msg):
    print(msg, flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def proc_status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        m = re.search(r"%s:\s+(\d+)" % key, f.read())
    return int(m.group(1)) if m else 0


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mailbox(i):
    return "user%05d@example.com" % i


def snapshot(items):
    """A list of ITEMS while the sink's thread may still add to them."""
    while True:
        try:
            return list(items)
        except RuntimeError:  # changed size during iteration
            time.sleep(0.01)


def complete_end(buf):
    """Where the complete presence stanzas at the start of BUF end (0: none yet). The stream
    after the handshake carries presence stanzas only, either with children (ending in
    </presence>) or self-closed (<presence .../>): everything before the last start tag is
    complete; the last stanza is complete when it is closed."""
    last = buf.rfind(b"<presence")
    if last < 0:
        return 0
    tail = buf[last:]
    if tail.endswith(b"</presence>"):
        return len(buf)
    if tail.endswith(b"/>") and b">" not in tail[:-2]:
        return len(buf)  # self-closed start tag: no '>' before its end (values are escaped)
    return last


class Sink:
    """A scripted XEP-0114 server: answers the stream header and any handshake, then counts
    presence stanzas (self-closed unavailable ones included); with track=True it also notes,
    per user, the time and state of its latest presence (parsing costs this process some CPU:
    off where only the count matters). BENCH_RAW=FILE appends the stream as received."""

    def __init__(self):
        self.port = free_port()
        self.count = 0
        self.track = True
        self.n = 0
        self.nrecv = {}
        self.last = {}  # local part of the calendar JID -> (time, state)
        self.published = set()  # users seen with a state other than unavailable
        self.marks = []  # (target count, event) pairs
        self.t_last = 0.0
        self.t_pub = 0.0
        self.bytes = 0
        self.connections = 0
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), daemon=True).start()
        ready.wait()

    def _run(self, ready):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
        ready.set()
        self.loop.run_forever()

    async def _handle(self, reader, writer):
        self.connections += 1
        buf = b""
        try:
            while b"<handshake" not in buf or b"</handshake>" not in buf:
                if b"<stream:stream" in buf and b"id=" not in buf[:0]:
                    pass
                chunk = await reader.read(65536)
                if not chunk:
                    return
                buf += chunk
                if b"<stream:stream" in buf and not getattr(writer, "_hdr", False):
                    writer.write(b"<?xml version='1.0'?><stream:stream xmlns:stream="
                                 b"'http://etherx.jabber.org/streams' xmlns='jabber:component:"
                                 b"accept' from='" + COMPONENT.encode() + b"' id='bench-1'>")
                    writer._hdr = True
            writer.write(b"<handshake/>")
            buf = buf[buf.index(b"</handshake>") + 12:]
            raw = open(os.environ["BENCH_RAW"], "ab") if os.environ.get("BENCH_RAW") else None
            if raw:
                raw.write(buf)
            while True:
                end = complete_end(buf)
                if end > 0:
                    block, buf = buf[:end], buf[end:]
                    self._take(block)
                chunk = await reader.read(1 << 20)
                if not chunk:
                    return
                if raw:
                    raw.write(chunk)
                self.bytes += len(chunk)
                buf += chunk
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def _take(self, block):
        now = time.time()
        n = block.count(b"<presence")
        self.count += n
        self.t_last = now
        if self.track:
            # One part per stanza, cut at each start tag: an unavailable presence has no child
            # and is self-closed (<presence type='unavailable' .../>), so cutting at
            # </presence> would glue it to the next stanza and credit that stanza's state to
            # the unavailable one's user (the "lost presence" of the first round).
            for part in block.split(b"<presence")[1:]:
                f = FROM_RE.search(part)
                st = b"unavailable" if UNAVAILABLE_RE.match(part) else None
                if st is None:
                    m = STATE_RE.search(part)
                    st = m.group(1) if m else None
                if not f or not st:
                    log("  sink: cannot parse %r" % part[-300:])
                    continue
                user, state = f.group(1), st
                self.last[user] = (now, state)
                if state == b"unavailable":
                    continue
                self.nrecv[user] = self.nrecv.get(user, 0) + 1
                if os.environ.get("BENCH_DEBUG") and self.nrecv[user] == 2:
                    log("  sink: second presence of %s: %r" % (user.decode(), part[-400:]))
                if user not in self.published:
                    self.published.add(user)
                    self.t_pub = now

    def wait(self, cond, timeout, what, every=30):
        t0 = time.time()
        nxt = t0 + every
        while not cond():
            if time.time() - t0 > timeout:
                log("  ... %s: not reached after %.0f s (%d presences, %d users seen, %d "
                    "published)" % (what, timeout, self.count, len(self.last), len(self.published)))
                if self.track:
                    published = snapshot(self.published)
                    missing = sorted(set("user%05d" % i for i in range(1, self.n + 1))
                                     - set(u.decode() for u in published))
                    log("  never published: %s" % " ".join(missing[:20]))
                    dup = sorted(u.decode() for u, k in snapshot(self.nrecv.items()) if k > 1)
                    log("  %d users received more than one presence: %s"
                        % (len(dup), " ".join(dup[:20])))
                return False
            if time.time() > nxt:
                log("  ... %s: %d presences so far, %d users published (%.0f s)"
                    % (what, self.count, len(self.published), time.time() - t0))
                nxt += every
            time.sleep(0.02)
        return True


class Daemon:
    def __init__(self, work, sim, sink, spread=50, extra=""):
        self.work = work
        self.conf = os.path.join(work, "calpresence.conf")
        self.db = os.path.join(work, "calpresence.db")
        self.logpath = os.path.join(work, "calpresence.log")
        self.sim, self.sink = sim, sink
        self.notify = free_port()
        self.extra = extra
        self.proc = None
        self.write_conf(spread)

    def write_conf(self, spread):
        urls = ", ".join(self.sim.url(c) for c in sorted(self.sim.ports))
        with open(self.conf, "w") as f:
            f.write(f"""
[component]
jid = {COMPONENT}
secret = {SECRET}
server_host = 127.0.0.1
server_port = {self.sink.port}
domains = localhost
reconnect_max = 2
[store]
path = {self.db}
[exchange]
ews_urls = {urls}
username = svc@example.com
password = Secret1
auth = basic
ca_file = {self.sim.ca}
concurrency = {CONCURRENCY}
[notifications]
mode = push
listen = 127.0.0.1:{self.notify}
url = http://127.0.0.1:{self.notify}/ews/notify
[calendar]
spread = {spread}
[log]
level = %s
{self.extra}
""".replace("level = %s", "level = " + os.environ.get("BENCH_LOG", "info")))

    def start(self):
        self.logf = open(self.logpath, "ab")
        self.proc = subprocess.Popen([DAEMON, "-c", self.conf], stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        self.t_start = time.time()

    def hup(self):
        self.proc.send_signal(signal.SIGHUP)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def make_schema(self):
        """A first start makes the store and its schema; stopped once the tables exist."""
        self.start()
        for _ in range(200):
            try:
                with sqlite3.connect(self.db) as c:
                    if c.execute("PRAGMA user_version").fetchone()[0] >= 4:
                        break
            except sqlite3.Error:
                pass
            time.sleep(0.05)
        self.stop()

    def enable(self, n, subscribers=1):
        now = int(time.time())
        with sqlite3.connect(self.db) as c:
            c.execute("DELETE FROM users")
            c.executemany("INSERT INTO users (jid, mailbox, enabled, created, updated) "
                          "VALUES (?, ?, 1, ?, ?)",
                          (("user%05d@localhost" % i, mailbox(i), now, now)
                           for i in range(1, n + 1)))
        self.set_subscribers(n, subscribers)

    def set_subscribers(self, n, k):
        now = int(time.time())
        with sqlite3.connect(self.db, timeout=60) as c:
            c.execute("DELETE FROM subscribers")
            c.executemany("INSERT INTO subscribers (user_jid, subscriber, created) VALUES (?,?,?)",
                          (("user%05d@localhost" % i, "watcher%d-%05d@localhost" % (j, i), now)
                           for i in range(1, n + 1) for j in range(k)))

    def log_text(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()


def sim_requests(sim):
    c = sim.counters()
    ops = {k[3:]: int(v) for k, v in c.items() if k.startswith("op ")}
    return int(c["http_requests"]), ops


def start_sim(n, args=()):
    t = time.time()
    sim = Sim(cas=("cas1", "cas2"), args=["--populate", str(n)] + list(args),
              lines=["account add svc@example.com Secret1",
                     "account impersonate svc@example.com all"])
    log("ews-sim: 2 CAS, %d mailboxes ready in %.1f s" % (n, time.time() - t))
    return sim


def header(what, n):
    log("== %s, %d users; nproc %d; load %s" % (what, n, os.cpu_count(), loadavg()))


# ---- the simulator's latency per request, one keep-alive HTTPS client ----

def sub_body(url):
    return ("<m:Subscribe><m:PushSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId "
            'Id="calendar"/></t:FolderIds><t:EventTypes><t:EventType>CreatedEvent</t:EventType>'
            "<t:EventType>ModifiedEvent</t:EventType><t:EventType>DeletedEvent</t:EventType>"
            "</t:EventTypes><t:StatusFrequency>60</t:StatusFrequency><t:URL>%s</t:URL>"
            "</m:PushSubscriptionRequest></m:Subscribe>" % url)


def avail_body(boxes):
    mb = "".join("<t:MailboxData><t:Email><t:Address>%s</t:Address></t:Email><t:AttendeeType>"
                 "Required</t:AttendeeType></t:MailboxData>" % b for b in boxes)
    t0 = time.strftime("%Y-%m-%dT%H:00:00", time.gmtime(time.time() - 3600))
    t1 = time.strftime("%Y-%m-%dT%H:00:00", time.gmtime(time.time() + 48 * 3600))
    return ("<m:GetUserAvailabilityRequest><t:TimeZone><t:Bias>0</t:Bias><t:StandardTime><t:Bias>0"
            "</t:Bias><t:Time>00:00:00</t:Time><t:DayOrder>1</t:DayOrder><t:Month>1</t:Month>"
            "<t:DayOfWeek>Sunday</t:DayOfWeek></t:StandardTime><t:DaylightTime><t:Bias>0</t:Bias>"
            "<t:Time>00:00:00</t:Time><t:DayOrder>1</t:DayOrder><t:Month>1</t:Month><t:DayOfWeek>"
            "Sunday</t:DayOfWeek></t:DaylightTime></t:TimeZone><m:MailboxDataArray>%s"
            "</m:MailboxDataArray><t:FreeBusyViewOptions><t:TimeWindow><t:StartTime>%s"
            "</t:StartTime><t:EndTime>%s</t:EndTime></t:TimeWindow><t:RequestedView>FreeBusy"
            "</t:RequestedView></t:FreeBusyViewOptions></m:GetUserAvailabilityRequest>"
            % (mb, t0, t1))


def measure_latency(sim, n):
    """Median round trip of Subscribe (push) and GetUserAvailability (100 mailboxes), one
    request at a time over one keep-alive HTTPS connection: what the simulator needs per
    request when nothing else queues (the client's own time included)."""
    conn = sim.connection("cas1")
    dead = "http://127.0.0.1:%d/none" % free_port()
    out = {}
    for op, count in (("Subscribe", 300), ("GetUserAvailabilityRequest", 40)):
        ts = []
        for i in range(count):
            if op == "Subscribe":
                body = envelope(sub_body(dead), impersonate=mailbox(n - (i % 50)))
            else:
                body = envelope(avail_body([mailbox(1 + (i * 100 + k) % n) for k in range(100)]))
            t = time.perf_counter()
            st, text = sim.post(body, conn=conn)
            ts.append(time.perf_counter() - t)
            assert st == 200 and "NoError" in text, text[:300]
        ts.sort()
        out[op] = ts[len(ts) // 2]
    sim.ok("subscriptions forget *")
    conn.close()
    return out


# ---- modes ----

def fresh_start(sim, d, sink, n, lat):
    sink.n = n
    sink.track = True
    sink.published.clear()
    r0, ops0 = sim_requests(sim)
    d.start()
    ok = sink.wait(lambda: len(sink.published) >= n, int(os.environ.get("BENCH_WAIT", 600)),
                   "fresh start")
    t = sink.t_pub - d.t_start
    r1, ops1 = sim_requests(sim)
    ops = {k: v - ops0.get(k, 0) for k, v in ops1.items() if v - ops0.get(k, 0)}
    req = r1 - r0
    servers = len(sim.ports)
    bound = sum(ops.get(op, 0) * s for op, s in lat.items()) / (CONCURRENCY * servers)
    other = req - sum(ops.get(op, 0) for op in lat)
    log("fresh start: %d users subscribed and published in %.1f s%s (load %s)"
        % (len(sink.published), t, "" if ok else " (NOT all)", loadavg()))
    log("  requests %d: %s" % (req, ", ".join("%s %d" % kv for kv in sorted(ops.items()))))
    log("  simulator latency (median, serial): %s; concurrency %d x %d servers"
        % (", ".join("%s %.2f ms" % (k, v * 1000) for k, v in lat.items()), CONCURRENCY, servers))
    log("  bound = sum(requests x latency) / (concurrency x servers) = %.1f s "
        "(%d other requests not counted); ratio %.2f (goal <= 1.2)" % (bound, other, t / bound))
    return t


def mode_start(n, delay_ms=20):
    header("fresh start and restart, ews-sim delay %d ms per request" % delay_ms, n)
    work = tempfile.mkdtemp(prefix="bench-engine-")
    sim = start_sim(n)
    sink = Sink()
    d = Daemon(work, sim, sink)
    try:
        if delay_ms:
            # Every EWS request is answered delay_ms late (a timer, no CPU): the servers are
            # latency-bound like Exchange, so the bound below is what should limit the start.
            # EWSMaxConcurrency is per account across both CAS (27 by default): the daemon's
            # 20 x 2 in flight would be throttled, so it is raised (a real deployment sets
            # the service account's throttling policy to match `concurrency` x servers).
            sim.ok("limit concurrency 200")
            sim.ok("fault add delay %d" % delay_ms)
        lat = measure_latency(sim, n)
        d.make_schema()
        d.enable(n, 1)
        fresh_start(sim, d, sink, n, lat)
        time.sleep(3)  # the batched store writes
        rss = proc_status(d.proc.pid, "VmRSS")
        hwm = proc_status(d.proc.pid, "VmHWM")
        log("memory after fresh start: VmRSS %.1f MiB (%.0f B per enabled user, everything "
            "included), VmHWM %.1f MiB" % (rss / 1024, rss * 1024 / n, hwm / 1024))
        d.stop()
        # Restart with every user and subscription stored.
        with sqlite3.connect(d.db) as c:
            stored = c.execute("SELECT count(*) FROM ews_subscriptions").fetchone()[0]
        sink.published.clear()
        r0, ops0 = sim_requests(sim)
        d.start()
        ok = sink.wait(lambda: len(sink.published) >= n, 120, "restart")
        t = sink.t_pub - d.t_start
        time.sleep(2)
        r1, ops1 = sim_requests(sim)
        ops = {k: v - ops0.get(k, 0) for k, v in ops1.items() if v - ops0.get(k, 0)}
        log("restart (%d subscriptions stored): %d users published in %.1f s%s; %d requests "
            "(goal <= 1,100): %s (load %s)"
            % (stored, len(sink.published), t, "" if ok else " (NOT all)", r1 - r0,
               ", ".join("%s %d" % kv for kv in sorted(ops.items())), loadavg()))
        rss = proc_status(d.proc.pid, "VmRSS")
        log("memory after restart: VmRSS %.1f MiB = %.0f B per enabled user (everything "
            "included: libraries, SQLite cache, TLS)" % (rss / 1024, rss * 1024 / n))
    finally:
        d.stop()
        sim.stop()


def mode_edges(n, lead):
    header("meetings starting in the same second", n)
    work = tempfile.mkdtemp(prefix="bench-engine-")
    sim = start_sim(n)
    sink = Sink()
    d = Daemon(work, sim, sink, spread=0)
    gap = 100
    t1 = (int(time.time()) + lead) // 10 * 10
    edges = [t1, t1 + gap, t1 + 2 * gap, t1 + 3 * gap]
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    lines = []
    for i in range(1, n + 1):
        lines.append('item add %s %s %s busy "A"' % (mailbox(i), iso(edges[0]), iso(edges[1])))
        lines.append('item add %s %s %s busy "B"' % (mailbox(i), iso(edges[2]), iso(edges[3])))
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(sim.control_path)
        s.sendall(("\n".join(lines) + "\n").encode())
        got, data = 0, b""
        while got < len(lines):
            data += s.recv(1 << 20)
            got = data.count(b"\nok") + data.startswith(b"ok")
    try:
        d.make_schema()
        d.enable(n, 1)
        d.start()
        sink.track = True
        sink.n = n
        sink.wait(lambda: len(sink.published) >= n, lead - 20, "fresh start")
        log("all %d published %.0f s after start; first edge in %.0f s"
            % (len(sink.published), time.time() - d.t_start, edges[0] - time.time()))
        sink.track = False
        plan = [(0, 1, 0), (1, 1, 50), (2, 10, 0), (3, 10, 50)]
        d.write_conf(50)  # edge 1's ticks are armed at edge 0
        d.hup()
        for k, (e, subs, spread) in enumerate(plan):
            if time.time() > edges[e] - 2:
                log("edge %d missed (setup too slow)" % e)
                continue
            while time.time() < edges[e] - 1:
                time.sleep(0.05)
            base = sink.count
            cpu0 = cpu_s(d.proc.pid)
            perf = None
            if os.environ.get("BENCH_PERF") and e == 2:
                perf_data = os.path.join(work, "perf.data")
                perf = subprocess.Popen(["perf", "record", "-g", "-p", str(d.proc.pid), "-o",
                                         perf_data, "--", "sleep", "30"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            target = base + n * subs
            sink.wait(lambda: sink.count >= target, spread + 120, "edge %d" % e, every=600)
            late = sink.t_last - edges[e]
            if perf:
                perf.wait()
                rep = subprocess.run(["perf", "report", "--stdio", "--no-children", "-i",
                                      perf_data, "--sort", "symbol", "-g", "none"],
                                     capture_output=True, text=True).stdout
                log("  perf report (daemon, edge %d):\n%s" % (e, "\n".join(
                    l for l in rep.splitlines() if l.strip() and not l.startswith("#"))[:2500]))
            cpu = cpu_s(d.proc.pid) - cpu0
            log("edge %d: %d users x %d subscribers, spread %d: %d presences, last %.2f s after "
                "the edge (goal <= %d s); daemon CPU %.2f s = %.1f us per transition, "
                "%.1f us per stanza; VmHWM %.1f MiB (load %s)"
                % (e, n, subs, spread, sink.count - base, late, spread + 2, cpu,
                   cpu * 1e6 / n, cpu * 1e6 / (n * subs),
                   proc_status(d.proc.pid, "VmHWM") / 1024, loadavg()))
            # Ticks of edge k+1 are armed while edge k's transitions run (with the spread in
            # force then), those of edge k+2 during edge k+1: set them up now.
            if k + 2 < len(plan):
                nxt = plan[k + 2]
                d.write_conf(nxt[2])
                d.hup()
            if k + 1 < len(plan) and plan[k + 1][1] != subs:
                t = time.time()
                d.set_subscribers(n, plan[k + 1][1])
                log("  %d subscribers each written in %.1f s" % (plan[k + 1][1], time.time() - t))
        log("daemon VmHWM %.1f MiB, VmRSS %.1f MiB" % (proc_status(d.proc.pid, "VmHWM") / 1024,
                                                      proc_status(d.proc.pid, "VmRSS") / 1024))
    finally:
        d.stop()
        sim.stop()


def control_stream(sim):
    """A control connection whose answers are read (and dropped) by a thread."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(sim.control_path)
    box = {"n": 0, "data": b""}

    def drain():
        while True:
            chunk = s.recv(1 << 16)
            if not chunk:
                return
            box["n"] += chunk.count(b"\n")

    threading.Thread(target=drain, daemon=True).start()
    return s, box


def mode_latency(n, rate, seconds):
    header("notification -> presence under %d changes/s" % rate, n)
    work = tempfile.mkdtemp(prefix="bench-engine-")
    sim = start_sim(n)
    sink = Sink()
    d = Daemon(work, sim, sink)
    try:
        d.make_schema()
        d.enable(n, 1)
        sink.n = n
        d.start()
        sink.wait(lambda: len(sink.published) >= n, 120, "fresh start")
        log("all %d published %.0f s after start" % (len(sink.published), time.time() - d.t_start))
        time.sleep(2)
        r0, ops0 = sim_requests(sim)
        cpu0 = cpu_s(d.proc.pid)
        s, box = control_stream(sim)
        total = rate * seconds
        sent = {}
        t0 = time.time()
        step = 0.01
        per = max(1, int(rate * step))
        i = 0
        while i < total:
            due = t0 + (i // per) * step
            while time.time() < due:
                time.sleep(0.001)
            lines = []
            for _ in range(min(per, total - i)):
                i += 1
                lines.append('item add %s now +2h busy "L"' % mailbox(i))
                sent[b"user%05d" % i] = time.time()
            s.sendall(("\n".join(lines) + "\n").encode())
        t_sent = time.time() - t0
        done = lambda: all(sink.last.get(u, (0, b""))[1] == b"busy" for u in sent)
        sink.wait(done, 120, "latency", every=15)
        lat = sorted(sink.last[u][0] - t for u, t in sent.items()
                     if sink.last.get(u, (0, b""))[1] == b"busy")
        r1, ops1 = sim_requests(sim)
        ops = {k: v - ops0.get(k, 0) for k, v in ops1.items() if v - ops0.get(k, 0)}
        cpu = cpu_s(d.proc.pid) - cpu0
        pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
        log("%d changes sent in %.1f s (%.0f/s); %d presences busy; notification -> presence "
            "(control line sent -> presence at the sink, includes ews-sim's push and the "
            "engine's 300 ms coalescing): p50 %.0f ms, p99 %.0f ms, max %.0f ms (load %s)"
            % (total, t_sent, total / t_sent, len(lat), pct(0.5), pct(0.99), lat[-1] * 1000,
               loadavg()))
        log("  requests %s; daemon CPU %.1f s = %.0f us per change"
            % (", ".join("%s %d" % kv for kv in sorted(ops.items())), cpu, cpu * 1e6 / total))
        s.close()
    finally:
        d.stop()
        sim.stop()


def mode_steady(n, minutes, scale):
    header("steady state, ews-sim --time-scale %d" % scale, n)
    work = tempfile.mkdtemp(prefix="bench-engine-")
    sim = start_sim(n, ["--time-scale", str(scale)])
    sink = Sink()
    d = Daemon(work, sim, sink)
    try:
        d.make_schema()
        d.enable(n, 1)
        sink.n = n
        d.start()
        sink.wait(lambda: len(sink.published) >= n, 120, "fresh start")
        log("all %d published %.0f s after start" % (len(sink.published), time.time() - d.t_start))
        time.sleep(5)
        r0, ops0 = sim_requests(sim)
        c0 = sim.counters()
        cpu0 = cpu_s(d.proc.pid)
        t0 = time.time()
        time.sleep(minutes * 60)
        dt = time.time() - t0
        r1, ops1 = sim_requests(sim)
        c1 = sim.counters()
        ops = {k: v - ops0.get(k, 0) for k, v in ops1.items() if v - ops0.get(k, 0)}
        cpu = cpu_s(d.proc.pid) - cpu0
        req = r1 - r0
        status = int(c1["push_sent"]) - int(c0["push_sent"])
        per = req / n / (dt / 3600)
        refresh = 1 / 100 / 24  # the daily refresh, 100 mailboxes per request (user.c)
        log("steady state over %.0f s (%.0f min of Exchange time): %d EWS requests (%s), %d "
            "push POSTs (status events) received; %.5f requests per user per hour measured, "
            "+ %.5f for the daily refresh not in the window = %.5f (goal <= 0.1); daemon CPU "
            "%.1f s = %.1f us per status event; VmRSS %.1f MiB (load %s)"
            % (dt, dt * scale / 60, req, ", ".join("%s %d" % kv for kv in sorted(ops.items())),
               status, per, refresh, per + refresh, cpu, cpu * 1e6 / max(status, 1),
               proc_status(d.proc.pid, "VmRSS") / 1024, loadavg()))
    finally:
        d.stop()
        sim.stop()


# ---- a real Prosody (tests/integration/harness.py) ----

RAW_COMPONENT = "calraw00.localhost"  # as long as calendar.localhost: the same stanza sizes
RECEIVERS = 10


def prosody_server(work):
    """A private Prosody from the integration harness, logging warnings only (its debug log
    would cost more than the stanzas), with a second component for the raw sender and
    RECEIVERS users who stay online and receive every presence."""
    sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
    import harness  # noqa: E402  (slixmpp: Debian's python3-slixmpp)

    class P(harness.Prosody):
        def _write_config(self):
            super()._write_config()
            with open(self.cfg) as f:
                text = f.read()
            text = re.sub(r'log = \{ debug = "([^"]+)" \}', r'log = { warn = "\1" }', text)
            text += 'Component "%s"\n    component_secret = "%s"\n' % (RAW_COMPONENT, self.secret)
            with open(self.cfg, "w") as f:
                f.write(text)

    p = P(work, secret=SECRET)
    for k in range(RECEIVERS):
        subprocess.run(["prosodyctl", "--config", p.cfg, "register", "recv%d" % k, "localhost",
                        harness.PASSWORD], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    p.start()
    return p, harness.PASSWORD


class Receivers:
    """RECEIVERS c2s sessions (plain SASL, no TLS, written by hand to stay cheap) that send
    initial presence and then count the presences they get, per sending component."""

    def __init__(self, port, password, loop):
        self.port, self.password, self.loop = port, password, loop
        self.got = {COMPONENT: 0, RAW_COMPONENT: 0}
        self.t_last = {COMPONENT: 0.0, RAW_COMPONENT: 0.0}
        self.online = 0
        # Held: the loop keeps only weak references to its tasks.
        self.sessions = [asyncio.run_coroutine_threadsafe(self._session("recv%d" % k), loop)
                         for k in range(RECEIVERS)]

    async def _session(self, user):
        import base64
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        hdr = (b"<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' "
               b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")

        async def until(marker):
            buf = b""
            while marker not in buf:
                chunk = await reader.read(65536)
                if not chunk:
                    raise ConnectionError("receiver %s: stream closed" % user)
                buf += chunk
            return buf

        writer.write(hdr)
        await until(b"</stream:features>")
        cred = base64.b64encode(b"\0" + user.encode() + b"\0" + self.password.encode())
        writer.write(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + cred
                     + b"</auth>")
        await until(b"<success")
        writer.write(hdr)
        await until(b"</stream:features>")
        writer.write(b"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                     b"<resource>bench</resource></bind></iq>")
        await until(b"</iq>")
        writer.write(b"<presence/>")
        self.online += 1
        keys = [(k, ("@" + k).encode()) for k in self.got]
        buf = b""
        while True:
            chunk = await reader.read(1 << 20)
            if not chunk:
                return
            buf += chunk
            cut = buf.rfind(b"<")  # a sender's name holds no '<': never split by the cut
            done, buf = buf[:cut], buf[cut:]
            now = time.time()
            for k, pat in keys:
                c = done.count(pat)
                if c:
                    self.got[k] += c
                    self.t_last[k] = now


async def raw_component(port, n, subs):
    """Sends the n x subs presences the daemon sends at the edge, as a scripted XEP-0114
    component; then an XEP-0199 ping to the server: its answer comes after Prosody has
    processed every stanza before it (one stream is handled in order)."""
    import hashlib
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"<stream:stream xmlns='jabber:component:accept' xmlns:stream="
                 b"'http://etherx.jabber.org/streams' to='" + RAW_COMPONENT.encode() + b"'>")
    buf = b""
    while not re.search(rb"""\sid=["'][^"']+["']""", buf):
        buf += await reader.read(4096)
    sid = re.search(rb"""\sid=["']([^"']+)""", buf).group(1)
    writer.write(b"<handshake>" + hashlib.sha1(sid + SECRET.encode()).hexdigest().encode()
                 + b"</handshake>")
    while b"<handshake/>" not in buf and b"<handshake></handshake>" not in buf:
        chunk = await reader.read(4096)
        if not chunk:
            raise ConnectionError("raw component: handshake refused: %r" % buf[-300:])
        buf += chunk
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    stanzas = [("<presence from=\"user%05d@%s\" to=\"recv%d@localhost\"><show>dnd</show>"
                "<status>In a meeting</status><calendar until=\"%s\" xmlns=\"urn:calpresence:0\" "
                "state=\"busy\"/></presence>" % (i, RAW_COMPONENT, (i * subs + j) % RECEIVERS,
                                                 until)).encode()
               for i in range(1, n + 1) for j in range(subs)]
    t0 = time.time()
    for k in range(0, len(stanzas), 500):
        writer.write(b"".join(stanzas[k:k + 500]))
        await writer.drain()
    t_sent = time.time()
    writer.write(b"<iq type='get' id='bench-end' from='bench@" + RAW_COMPONENT.encode()
                 + b"' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
    buf = b""
    while b"bench-end" not in buf:
        chunk = await reader.read(65536)
        if not chunk:
            break
        buf += chunk
    t_pong = time.time()
    writer.write(b"</stream:stream>")
    writer.close()
    return t0, t_sent, t_pong


def mode_prosody(n, subs, lead):
    header("meetings starting in the same second at a real Prosody, %d subscriber(s) each"
           % subs, n)
    work = tempfile.mkdtemp(prefix="bench-engine-")
    pros, password = prosody_server(work)
    pros_pid = pros.proc.pid
    sim = start_sim(n)
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    recv = Receivers(pros.c2s_port, password, loop)

    class Server:  # what the daemon connects to: Prosody's component port
        port = pros.component_port
    d = Daemon(work, sim, Server, spread=0)
    edge = (int(time.time()) + lead) // 10 * 10
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    lines = ['item add %s %s %s busy "P"' % (mailbox(i), iso(edge), iso(edge + 3600))
             for i in range(1, n + 1)]
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(sim.control_path)
        s.sendall(("\n".join(lines) + "\n").encode())
        data = b""
        while data.count(b"\n") < len(lines):
            data += s.recv(1 << 20)
    try:
        t = time.time()
        while recv.online < RECEIVERS and time.time() - t < 30:
            time.sleep(0.1)
        log("Prosody (pid %d): %d receivers online" % (pros_pid, recv.online))
        d.make_schema()
        d.enable(n, 0)
        with sqlite3.connect(d.db, timeout=60) as c:
            c.execute("DELETE FROM subscribers")
            c.executemany("INSERT INTO subscribers (user_jid, subscriber, created) VALUES (?,?,?)",
                          (("user%05d@localhost" % i,
                            "recv%d@localhost" % ((i * subs + j) % RECEIVERS), 0)
                           for i in range(1, n + 1) for j in range(subs)))
        base = recv.got[COMPONENT]
        d.start()
        # Every user publishes one available presence per subscriber once read (the
        # unavailable one queued at the handshake is counted too: both name the component).
        t = time.time()
        seen, t_seen = 0, time.time()
        while recv.got[COMPONENT] - base < 2 * n * subs and time.time() < edge - 60:
            if recv.got[COMPONENT] != seen:
                seen, t_seen = recv.got[COMPONENT], time.time()
            elif seen - base >= n * subs and time.time() - t_seen > 10:
                break  # some unavailable ones were superseded before they went out
            time.sleep(0.5)
        log("fresh start through Prosody: %d presences delivered in %.0f s; edge in %.0f s"
            % (recv.got[COMPONENT] - base, time.time() - t, edge - time.time()))
        time.sleep(5)
        cpu_p0 = cpu_s(pros_pid)
        fut = asyncio.run_coroutine_threadsafe(raw_component(pros.component_port, n, subs), loop)
        t0, t_sent, t_pong = fut.result(600)
        while recv.got[RAW_COMPONENT] < n * subs and time.time() - t0 < 300:
            time.sleep(0.05)
        raw_t = recv.t_last[RAW_COMPONENT] - t0
        log("raw component: %d stanzas written in %.2f s, ping answered after %.2f s, %d "
            "delivered to the receivers, the last %.2f s after the first byte; Prosody CPU "
            "%.1f s (load %s)" % (n * subs, t_sent - t0, t_pong - t0, recv.got[RAW_COMPONENT],
                                  raw_t, cpu_s(pros_pid) - cpu_p0, loadavg()))
        if time.time() > edge - 3:
            log("edge missed (setup too slow)")
            return
        while time.time() < edge - 1:
            time.sleep(0.05)
        base = recv.got[COMPONENT]
        cpu0, cpu_p0 = cpu_s(d.proc.pid), cpu_s(pros_pid)
        hwm0 = proc_status(d.proc.pid, "VmHWM")
        rss_max = 0
        while recv.got[COMPONENT] - base < n * subs and time.time() - edge < 300:
            rss_max = max(rss_max, proc_status(d.proc.pid, "VmRSS"))
            time.sleep(0.05)
        late = recv.t_last[COMPONENT] - edge
        log("daemon: %d users x %d subscribers, spread 0: %d presences delivered, the last "
            "%.2f s after the edge; raw %.2f s; ratio %.2f (goal <= 1.2); daemon CPU %.2f s, "
            "Prosody CPU %.1f s; daemon VmHWM %.1f MiB (%.1f MiB before the edge), VmRSS at most "
            "%.1f MiB while Prosody caught up (load %s)"
            % (n, subs, recv.got[COMPONENT] - base, late, raw_t, late / raw_t,
               cpu_s(d.proc.pid) - cpu0, cpu_s(pros_pid) - cpu_p0,
               proc_status(d.proc.pid, "VmHWM") / 1024, hwm0 / 1024, rss_max / 1024, loadavg()))
        time.sleep(3)
        log("after 3 s more: daemon %d, raw %d delivered (nothing lost: %d each)"
            % (recv.got[COMPONENT] - base, recv.got[RAW_COMPONENT], n * subs))
    finally:
        d.stop()
        sim.stop()
        pros.stop()


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "start"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
    if mode == "start":
        mode_start(n, int(sys.argv[3]) if len(sys.argv) > 3 else 20)
    elif mode == "edges":
        mode_edges(n, int(sys.argv[3]) if len(sys.argv) > 3 else 150)
    elif mode == "latency":
        mode_latency(n, int(sys.argv[3]) if len(sys.argv) > 3 else 1000,
                     int(sys.argv[4]) if len(sys.argv) > 4 else 20)
    elif mode == "steady":
        mode_steady(n, float(sys.argv[3]) if len(sys.argv) > 3 else 4,
                    int(sys.argv[4]) if len(sys.argv) > 4 else 60)
    elif mode == "prosody":
        mode_prosody(n, int(sys.argv[3]) if len(sys.argv) > 3 else 1,
                     int(sys.argv[4]) if len(sys.argv) > 4 else 180)
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
