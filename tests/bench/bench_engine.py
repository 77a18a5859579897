"""The engine end to end at scale: the calpresence daemon against ews-sim (two CAS, --populate N)
and a scripted XEP-0114 sink in this script that stands in for the XMPP server and notes when
each presence arrives. Users are enabled in bulk by writing rows straight into the SQLite store
before the daemon starts (the store's schema is made by the daemon itself on a first start).
Prints figures; never fails on time (a phase that does not finish prints how far it got).

Usage (/usr/bin/python3; CP_BUILD_ROOT = a release build, EWS_SIM optional):
  bench_engine.py start   [N]   fresh start, restart, memory per user
  bench_engine.py edges   [N]   N users' meetings starting in the same second: 1 and 10
                                subscribers, spread 0 and 50; lateness, peak memory, CPU
  bench_engine.py latency [N] [RATE] [SECONDS]   notification -> presence under RATE changes/s
  bench_engine.py steady  [N] [MINUTES] [SCALE]  EWS requests with no calendar changes
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


class Sink:
    """A scripted XEP-0114 server: answers the stream header and any handshake, then counts
    presence stanzas; with track=True it also notes, per user, the time and state of its latest
    presence (parsing costs this process some CPU: off where only the count matters)."""

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
            while True:
                end = buf.rfind(b"</presence>")
                if end >= 0:
                    block, buf = buf[:end + 11], buf[end + 11:]
                    self._take(block)
                chunk = await reader.read(1 << 20)
                if not chunk:
                    return
                self.bytes += len(chunk)
                buf += chunk
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def _take(self, block):
        now = time.time()
        n = block.count(b"</presence>")
        self.count += n
        self.t_last = now
        if self.track:
            for part in block.split(b"</presence>")[:-1]:
                f, st = FROM_RE.search(part), STATE_RE.search(part)
                if not f or not st:
                    log("  sink: cannot parse %r" % part[-300:])
                    continue
                user, state = f.group(1), st.group(1)
                self.nrecv[user] = self.nrecv.get(user, 0) + 1
                if os.environ.get("BENCH_DEBUG") and self.nrecv[user] == 2:
                    log("  sink: second presence of %s: %r" % (user.decode(), part[-400:]))
                self.last[user] = (now, state)
                if state != b"unavailable" and user not in self.published:
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
                    missing = sorted(set("user%05d" % i for i in range(1, self.n + 1))
                                     - set(u.decode() for u in self.published))
                    log("  never published: %s" % " ".join(missing[:20]))
                    dup = sorted(u.decode() for u, k in self.nrecv.items() if k > 1)
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
    ok = sink.wait(lambda: len(sink.published) >= n, int(os.environ.get("BENCH_WAIT", 240)),
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


def mode_start(n):
    header("fresh start and restart", n)
    work = tempfile.mkdtemp(prefix="bench-engine-")
    sim = start_sim(n)
    sink = Sink()
    d = Daemon(work, sim, sink)
    try:
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


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "start"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
    if mode == "start":
        mode_start(n)
    elif mode == "edges":
        mode_edges(n, int(sys.argv[3]) if len(sys.argv) > 3 else 150)
    elif mode == "latency":
        mode_latency(n, int(sys.argv[3]) if len(sys.argv) > 3 else 1000,
                     int(sys.argv[4]) if len(sys.argv) > 4 else 20)
    elif mode == "steady":
        mode_steady(n, float(sys.argv[3]) if len(sys.argv) > 3 else 4,
                    int(sys.argv[4]) if len(sys.argv) > 4 else 60)
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
