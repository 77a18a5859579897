"""Shared pieces of the calendar-engine tests (test_engine*.py): ews-sim with two CAS, a
recording TLS proxy in front of each CAS (so every request the daemon sends can be checked
against the Exchange schema and timed), the daemon configured for Exchange, a watching XMPP
client that timestamps every presence, and raw SendNotification POSTs to the push listener.

Run with /usr/bin/python3 (slixmpp)."""

import calendar
import http.client
import os
import re
import select
import socket
import ssl
import subprocess
import sys
import threading
import time

from slixmpp.xmlstream import ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "ews-sim"))
import harness as h  # noqa: E402
import simlib  # noqa: E402

CMD_NS = "http://jabber.org/protocol/commands"
DATA_NS = "jabber:x:data"
CAL_NS = "urn:calpresence:0"
SHARED = os.environ.get("CP_SHARED_DIR", os.path.join(HERE, "..", "..", "..", "shared"))
SCHEMA = os.path.join(SHARED, "ews-reference", "schema", "validate-exchange_se_15.2.2562.17.xsd")

BASE_SCENARIO = [
    "account add svc@example.com Secret1",
    "account impersonate svc@example.com all",
]


# ---- times ----------------------------------------------------------------------------------

def iso(t):
    """UTC ISO 8601 of epoch second T, as ews-sim and the payload's `until` write it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(t)))


def parse_iso(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def whole_second_ahead(seconds):
    """An epoch second at least SECONDS from now (item times are whole seconds)."""
    return int(time.time()) + 1 + seconds


LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z")


def log_times(component, pattern):
    """Epoch times (float) of the daemon's log lines matching PATTERN."""
    out = []
    for line in component.log().splitlines():
        if re.search(pattern, line):
            m = LOG_TIME.match(line)
            if m:
                out.append(calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) +
                           int(m.group(2)) / 1000)
    return out


# ---- a recording TLS proxy --------------------------------------------------------------------

class Proxy:
    """Listens with TLS on a free port and relays each connection, byte for byte, to one CAS of
    ews-sim (a new upstream connection per downstream one, so NTLM and keep-alive behave as
    without it). Records (time, body) of every request: the daemon's own traffic, for the
    schema check and for timing retries."""

    def __init__(self, sim, cas):
        self.sim = sim
        self.cas = cas
        self.port = h.free_port()
        self.requests = []  # (monotonic time, epoch time, body text)
        self.lock = threading.Lock()
        self.server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server_ctx.load_cert_chain(os.path.join(sim.dir, "server.pem"),
                                        os.path.join(sim.dir, "server.key"))
        self.client_ctx = ssl.create_default_context(cafile=sim.ca)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(64)
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self):
        return f"https://127.0.0.1:{self.port}/EWS/Exchange.asmx"

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, raw):
        try:
            down = self.server_ctx.wrap_socket(raw, server_side=True)
            up = self.client_ctx.wrap_socket(
                socket.create_connection(("127.0.0.1", self.sim.ports[self.cas])),
                server_hostname="127.0.0.1")
        except (OSError, ssl.SSLError):
            raw.close()
            return
        # One thread per connection moves bytes both ways: an SSL socket must not be read
        # and written from two threads at once.
        buf = b""
        try:
            for sock in (up, down):
                sock.setblocking(False)
            while True:
                ready = [sk for sk in (down, up) if sk.pending()]
                if not ready:
                    ready, _, _ = select.select([down, up], [], [], 1.0)
                closed = False
                for src in ready:
                    dst = up if src is down else down
                    try:
                        data = src.recv(65536)
                    except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                        continue
                    if not data:
                        closed = True
                        break
                    dst.setblocking(True)
                    dst.sendall(data)
                    dst.setblocking(False)
                    if src is down:
                        buf = self._record(buf + data)
                if closed:
                    break
        except (OSError, ssl.SSLError):
            pass
        finally:
            for sock in (up, down):
                try:
                    sock.close()
                except OSError:
                    pass

    def _record(self, buf):
        """Takes every complete request (Content-Length bodies) off the front of BUF."""
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return buf
            head = buf[:end].decode("latin-1")
            m = re.search(r"(?im)^content-length:\s*(\d+)", head)
            n = int(m.group(1)) if m else 0
            if len(buf) < end + 4 + n:
                return buf
            body = buf[end + 4:end + 4 + n].decode("utf-8", "replace")
            if body:
                with self.lock:
                    self.requests.append((time.monotonic(), time.time(), body))
            buf = buf[end + 4 + n:]

    def matching(self, *needles):
        with self.lock:
            return [r for r in self.requests if all(n in r[2] for n in needles)]

    def stop(self):
        self.stopping = True
        self.sock.close()


# ---- the world ----------------------------------------------------------------------------

def start_sim(mailboxes, args=()):
    """ews-sim with cas1 and cas2, the service account, and MAILBOXES ([(smtp, cas)])."""
    lines = BASE_SCENARIO + [f"mailbox add {m} cas={c}" for m, c in mailboxes]
    return simlib.Sim(cas=("cas1", "cas2"), lines=lines, args=["--auth", "basic", *args])


def write_component(workdir, prosody, sim, urls, mode="push", notifications="", spread=0):
    """A Component (harness) whose configuration points at URLS with the sim's CA."""
    os.makedirs(workdir, exist_ok=True)
    comp = h.Component(workdir, prosody)
    trust = os.path.join(workdir, "trust")
    os.makedirs(trust, exist_ok=True)
    with open(comp.conf) as f:
        conf = f.read()
    head, _, rest = conf.partition("[exchange]")
    _, _, tail = rest.partition("[notifications]")
    notif_head, _, log_part = tail.partition("[log]")
    notif_head = notif_head.replace("mode = push", f"mode = {mode}")
    with open(comp.conf, "w") as f:
        f.write(head + f"""[exchange]
ews_urls = {", ".join(urls)}
username = svc@example.com
password = Secret1
auth = basic
trust_dir = {trust}
ca_file = {sim.ca}

[notifications]{notif_head.rstrip()}
{notifications}

[calendar]
spread = {spread}
mailbox_domain = example.com

[log]{log_part}""")
    return comp


# ---- XMPP ---------------------------------------------------------------------------------

class Watcher:
    """An XMPP client (bob) that subscribes to calendar JIDs and timestamps each presence."""

    def __init__(self, session, user="bob"):
        self.session = session
        self.client = session.client(user)
        self.seen = []  # (epoch time, presence)
        self.client.add_event_handler("presence", self._on_presence)

    def _on_presence(self, pres):
        if pres["from"].bare.endswith("@" + h.COMPONENT):
            self.seen.append((time.time(), pres))

    def subscribe(self, cal_jid):
        self.client.send_presence(pto=cal_jid, ptype="subscribe")

    def of(self, cal_jid, since=0.0):
        return [(t, p) for t, p in self.seen if p["from"].bare == cal_jid and t >= since]

    def last(self, cal_jid):
        """The newest presence of CAL_JID that says what it shows (not a subscription answer)."""
        got = [p for _, p in self.of(cal_jid)
               if describe(p) in ("available", "dnd", "away", "xa", "chat", "unavailable")]
        return got[-1] if got else None

    def wait(self, cal_jid, show, since=0.0, timeout=h.TIMEOUT):
        """Waits for a presence of CAL_JID, at or after SINCE, showing SHOW ("available",
        "dnd", "away" or "unavailable"); returns (time, presence)."""
        def match():
            for t, p in self.of(cal_jid, since):
                if describe(p) == show:
                    return t, p
            return None
        self.session.wait_for(lambda: match() is not None, timeout,
                              f"{cal_jid} to show {show}; saw "
                              f"{[describe(p) for _, p in self.of(cal_jid)]}")
        return match()


def describe(pres):
    """available, dnd, away, unavailable, or the subscription type (subscribed, ...)."""
    if pres["type"] in ("unavailable", "subscribe", "subscribed", "unsubscribe", "unsubscribed",
                        "probe", "error"):
        return pres["type"]
    return pres["show"] or "available"


def payload(pres):
    """The urn:calpresence:0 <calendar/> element's attributes, or None."""
    el = pres.xml.find(f"{{{CAL_NS}}}calendar")
    return None if el is None else dict(el.attrib)


def submit_form(fields):
    x = ET.Element(f"{{{DATA_NS}}}x", type="submit")
    for var, value in fields.items():
        f = ET.SubElement(x, f"{{{DATA_NS}}}field", var=var)
        for v in value if isinstance(value, list) else [value]:
            ET.SubElement(f, f"{{{DATA_NS}}}value").text = v
    return x


def command(session, client, node, values=None):
    """Runs ad-hoc command NODE (one or two stages); returns the final answer."""
    from slixmpp.exceptions import IqError

    def send(action, form=None, sid=None):
        try:
            return session.run(client["xep_0050"].send_command(
                h.COMPONENT, node, action=action, payload=form, sessionid=sid,
                timeout=h.TIMEOUT))
        except IqError as e:
            return e.iq
    first = send("execute")
    if values is None or first["type"] != "result" or first["command"]["status"] != "executing":
        return first
    return send("complete", submit_form(values), first["command"]["sessionid"])


def form_fields(iq):
    return {var: f.get_value() for var, f in iq["command"]["form"].get_fields().items()}


def cal_jid(user):
    return f"{user}@{h.COMPONENT}"


# ---- push ---------------------------------------------------------------------------------

NOTIFICATION = """<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>\
<t:RequestServerVersion xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" \
Version="Exchange2010_SP2"/></s:Header><s:Body>\
<m:SendNotification xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" \
xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages>\
<m:SendNotificationResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>\
<m:Notification><t:SubscriptionId>{sid}</t:SubscriptionId>\
<t:PreviousWatermark>AQAAAA==</t:PreviousWatermark><t:MoreEvents>false</t:MoreEvents>\
<t:StatusEvent><t:Watermark>AQAAAA==</t:Watermark></t:StatusEvent></m:Notification>\
</m:SendNotificationResponseMessage></m:ResponseMessages></m:SendNotification></s:Body>\
</s:Envelope>"""


def post_notify(component, body, path="/ews/notify"):
    """POSTs BODY (str or bytes) to the daemon's push listener; returns (status, text)."""
    c = http.client.HTTPConnection("127.0.0.1", component.notify_port, timeout=h.TIMEOUT)
    try:
        c.request("POST", path, body=body if isinstance(body, bytes) else body.encode(),
                  headers={"Content-Type": "text/xml; charset=utf-8"})
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    except (ConnectionError, http.client.HTTPException) as e:
        # A server may close early on an oversized body; that is a refusal too, but the tests
        # want the status: report it as such.
        return 0, repr(e)
    finally:
        c.close()


def subscription_status(text):
    m = re.search(r"<(?:\w+:)?SubscriptionStatus>(\w+)</", text)
    return m.group(1) if m else None


def sim_subscriptions(sim, mailbox=None):
    """[(id, kind, mailbox, cas)] of ews-sim's live subscriptions."""
    out = []
    for line in sim.ok("subscriptions list" + (f" {mailbox}" if mailbox else ""))[:-1]:
        parts = line.split()
        if parts and parts[0] == "subscription":
            out.append((parts[1], parts[2], parts[3], parts[4]))
    return out


def sim_counter(sim, name):
    return int(sim.counters().get(name, "0"))


# ---- schema ---------------------------------------------------------------------------------

def validate_requests(bodies, workdir):
    """Validates each SOAP request body against the Exchange schema with xmllint; returns a list
    of (body, error) for the invalid ones. Raises unittest.SkipTest when the schema is absent."""
    import unittest
    if not os.path.exists(SCHEMA):
        raise unittest.SkipTest(f"Exchange schema absent ({SCHEMA}): requests not validated")
    bad = []
    d = os.path.join(workdir, "requests")
    os.makedirs(d, exist_ok=True)
    paths = []
    for i, body in enumerate(bodies):
        p = os.path.join(d, f"{i:04d}.xml")
        with open(p, "w") as f:
            f.write(body)
        paths.append(p)
    for start in range(0, len(paths), 50):
        chunk = paths[start:start + 50]
        res = subprocess.run(["xmllint", "--noout", "--nonet", "--schema", SCHEMA, *chunk],
                             capture_output=True, text=True)
        if res.returncode != 0:
            for p in chunk:
                if f"{p} validates" not in res.stderr:
                    errs = [l for l in res.stderr.splitlines() if l.startswith(p)]
                    with open(p) as f:
                        bad.append((f.read()[:2000], "\n".join(errs)[:2000]))
    return bad
