#!/usr/bin/python3
"""A small HTTPS server that answers canned EWS SOAP, for the transport tests (issue 3).

Usage: ews_test_server.py DIR
Makes a CA and a server certificate with the openssl CLI in DIR (fresh for every run), listens
on 127.0.0.1 on free ports (one HTTPS, one plain HTTP for the autodiscover redirect GET), then
prints one line `READY <https-port> <http-port> <ca.pem> <weak-https-port>` and serves until
SIGTERM. The weak port presents an RSA 1024-bit certificate (OpenSSL's default security level
refuses it; weak_certificates = warn accepts it at level 0).

The first path segment picks the behaviour, e.g. https://127.0.0.1:P/basic/EWS/Exchange.asmx:
  open      no authentication          basic    Basic alice:secret
  ntlm      NTLM, NTLMv2 response verified against alice/secret in domain TEST
  negntlm   the same, but the 401 offers Negotiate first (as IIS does); no Kerberos here
  deny      always 401 (Basic challenge)
  bearer    `Authorization: Bearer good-...` accepted, anything else 401
  slow      answers after 4 s           conc     answers after 0.4 s (concurrency is measured)
  slowonce  the first request answers after 4 s, the others at once
  busyN     first request: HTTP 500 ErrorServerBusy with BackOffMilliseconds=N, then normal
  busyinN   first request: HTTP 200 ErrorInternalServerError wrapping ErrorServerBusy (N ms)
  h503      first request: HTTP 503 Retry-After: 1, then normal
  cal       FindItem over a calendar of 12 one-hour items, cut at MaxEntriesReturned
  calnow    the same calendar from the next full hour on
  calcut    the cal calendar, every answer IncludesLastItemInRange="false"
  resetonce, resetall  (own ports, see ResetServer) first / every TLS handshake cut
  stream    GetStreamingEvents: heartbeat, an event frame, Closed, in separate chunks
  subfail   Subscribe answers ErrorSubscriptionNotFound
Autodiscover (by Host header): example.test and autodiscover.example.test, redir.test (only the
http redirect GET answers), see do_autodiscover.
GET /stats/<mode> answers `count N`, `max_concurrent N`, `gap_ms N` (from the busy answer
to the next request), `last_anchor`, `last_action`, `last_type`, `auth_rounds`, `connections`
(TCP connections that carried requests of that mode), and for resetonce and resetall
`port` and `resets` (handshakes cut, see ResetServer).
"""
import base64
import hashlib
import hmac
import json
import os
import re
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

USER, PASSWORD, DOMAIN = "alice", "secret", "TEST"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
SVI = ('<h:ServerVersionInfo xmlns:h="%s" MajorVersion="15" MinorVersion="2" '
       'MajorBuildNumber="1544" MinorBuildNumber="4" Version="V2017_07_11"/>' % T)

lock = threading.Lock()
stats = {}


def st(mode):
    return stats.setdefault(mode, {"count": 0, "inflight": 0, "max_concurrent": 0,
                                   "busy_sent": None, "gap_ms": -1, "last_anchor": "",
                                   "last_action": "", "last_type": "", "auth_rounds": 0,
                                   "connections": 0})


def envelope(body, header=True):
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
            + ('<s:Header>%s</s:Header>' % SVI if header else '')
            + '<s:Body>%s</s:Body></s:Envelope>' % body)


def response(op, inner, cls="Success", code="NoError"):
    return envelope('<m:%sResponse xmlns:m="%s" xmlns:t="%s"><m:ResponseMessages>'
                    '<m:%sResponseMessage ResponseClass="%s"><m:ResponseCode>%s</m:ResponseCode>'
                    '%s</m:%sResponseMessage></m:ResponseMessages></m:%sResponse>'
                    % (op, M, T, op, cls, code, inner, op, op))


def busy_fault(ms):
    return envelope(
        '<s:Fault><faultcode xmlns:a="%s">a:ErrorServerBusy</faultcode>'
        '<faultstring xml:lang="en-US">The server cannot service this request right now.</faultstring>'
        '<detail><e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">'
        'ErrorServerBusy</e:ResponseCode><t:MessageXml xmlns:t="%s">'
        '<t:Value Name="Policy">MaxConcurrency</t:Value>'
        '<t:Value Name="BackOffMilliseconds">%d</t:Value></t:MessageXml></detail></s:Fault>'
        % (T, T, ms), header=False)


def busy_inner(ms):
    return response("GetFolder",
                    '<m:MessageText>An internal server error occurred.</m:MessageText>'
                    '<m:MessageXml><t:Value Name="InnerErrorResponseCode">ErrorServerBusy</t:Value>'
                    '<t:Value Name="InnerErrorMessageText">busy</t:Value>'
                    '<t:Value Name="BackOffMilliseconds">%d</t:Value></m:MessageXml>' % ms,
                    cls="Error", code="ErrorInternalServerError")


CAL_BASE = 1795420800  # 2026-11-23T00:00:00Z: twelve items, one an hour from here
# Mode calnow: the same twelve items from the next full hour on (the tool asks from "now").
CAL_NOW = (int(time.time()) // 3600 + 1) * 3600


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def parse_iso(s):
    import calendar
    return calendar.timegm(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S"))


def finditem(body, base, always_cut=False):
    start = parse_iso(re.search(r'StartDate="([^"]+)"', body).group(1))
    end = parse_iso(re.search(r'EndDate="([^"]+)"', body).group(1))
    m = re.search(r'MaxEntriesReturned="(\d+)"', body)
    cap = int(m.group(1)) if m else 1000
    items = []
    for i in range(12):
        s, e = base + i * 3600, base + i * 3600 + 2700
        if s < end and e > start:
            items.append((i, s, e))
    cut = len(items) > cap
    xml = "".join(
        '<t:CalendarItem><t:ItemId Id="ITEM-%d" ChangeKey="CK"/><t:Subject>Meeting %d</t:Subject>'
        '<t:Sensitivity>Normal</t:Sensitivity><t:Start>%s</t:Start><t:End>%s</t:End>'
        '<t:IsAllDayEvent>false</t:IsAllDayEvent><t:LegacyFreeBusyStatus>Busy</t:LegacyFreeBusyStatus>'
        '<t:IsCancelled>false</t:IsCancelled><t:CalendarItemType>Single</t:CalendarItemType>'
        '</t:CalendarItem>' % (i, i, iso(s), iso(e)) for i, s, e in items[:cap])
    return response("FindItem", '<m:RootFolder TotalItemsInView="%d" IncludesLastItemInRange="%s">'
                    '<t:Items>%s</t:Items></m:RootFolder>'
                    % (len(items), "false" if cut or always_cut else "true", xml))


def availability(body):
    n = max(1, len(re.findall(r"<t:Address>", body)))
    one = ('<FreeBusyResponse><ResponseMessage ResponseClass="Success"><ResponseCode>NoError'
           '</ResponseCode></ResponseMessage><FreeBusyView><FreeBusyViewType xmlns="%s">FreeBusy'
           '</FreeBusyViewType><CalendarEventArray xmlns="%s"><CalendarEvent><StartTime>%s'
           '</StartTime><EndTime>%s</EndTime><BusyType>Busy</BusyType></CalendarEvent>'
           '</CalendarEventArray></FreeBusyView></FreeBusyResponse>'
           % (T, T, iso(CAL_NOW)[:-1], iso(CAL_NOW + 1800)[:-1]))
    return envelope('<GetUserAvailabilityResponse xmlns="%s"><FreeBusyResponseArray>%s'
                    '</FreeBusyResponseArray></GetUserAvailabilityResponse>' % (M, one * n))


def answer_for(action, body, mode):
    if action == "GetFolder":
        return response("GetFolder", '<m:Folders><t:CalendarFolder><t:FolderId Id="CAL-1" '
                        'ChangeKey="CK"/><t:DisplayName>Calendar</t:DisplayName>'
                        '<t:TotalCount>12</t:TotalCount></t:CalendarFolder></m:Folders>')
    if action == "Subscribe":
        return response("Subscribe", "<m:SubscriptionId>SUB-1</m:SubscriptionId>"
                        "<m:Watermark>WM-1</m:Watermark>")
    if action == "Unsubscribe":
        return response("Unsubscribe", "")
    if action == "FindItem":
        # calcut: a server that never says it returned the last item of a window.
        return finditem(body, CAL_NOW if mode == "calnow" else CAL_BASE, mode == "calcut")
    if action == "GetUserAvailability":
        return availability(body)
    if action == "GetEvents":
        return response("GetEvents", '<m:Notification><t:SubscriptionId>SUB-1</t:SubscriptionId>'
                        '<t:PreviousWatermark>WM-1</t:PreviousWatermark><t:MoreEvents>false'
                        '</t:MoreEvents><t:StatusEvent><t:Watermark>WM-2</t:Watermark>'
                        '</t:StatusEvent></m:Notification>')
    return None


# ---- NTLM (server side, enough to check an NTLMv2 response) ----

def md4(data):
    """MD4 (RFC 1320); OpenSSL 3 hides it in the legacy provider."""
    def f(x, y, z): return (x & y) | (~x & z)
    def g(x, y, z): return (x & y) | (x & z) | (y & z)
    def h(x, y, z): return x ^ y ^ z
    def rol(v, s): return ((v << s) | (v >> (32 - s))) & 0xFFFFFFFF
    msg = bytearray(data) + b"\x80"
    while len(msg) % 64 != 56:
        msg += b"\x00"
    msg += struct.pack("<Q", (len(data) * 8) & 0xFFFFFFFFFFFFFFFF)
    a, b, c, d = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476
    for off in range(0, len(msg), 64):
        x = struct.unpack("<16I", msg[off:off + 64])
        aa, bb, cc, dd = a, b, c, d
        for i in range(16):
            k, s = i, (3, 7, 11, 19)[i % 4]
            if i % 4 == 0: a = rol((a + f(b, c, d) + x[k]) & 0xFFFFFFFF, s)
            elif i % 4 == 1: d = rol((d + f(a, b, c) + x[k]) & 0xFFFFFFFF, s)
            elif i % 4 == 2: c = rol((c + f(d, a, b) + x[k]) & 0xFFFFFFFF, s)
            else: b = rol((b + f(c, d, a) + x[k]) & 0xFFFFFFFF, s)
        for i in range(16):
            k, s = (i % 4) * 4 + i // 4, (3, 5, 9, 13)[i % 4]
            if i % 4 == 0: a = rol((a + g(b, c, d) + x[k] + 0x5A827999) & 0xFFFFFFFF, s)
            elif i % 4 == 1: d = rol((d + g(a, b, c) + x[k] + 0x5A827999) & 0xFFFFFFFF, s)
            elif i % 4 == 2: c = rol((c + g(d, a, b) + x[k] + 0x5A827999) & 0xFFFFFFFF, s)
            else: b = rol((b + g(c, d, a) + x[k] + 0x5A827999) & 0xFFFFFFFF, s)
        order = (0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15)
        for i in range(16):
            k, s = order[i], (3, 9, 11, 15)[i % 4]
            if i % 4 == 0: a = rol((a + h(b, c, d) + x[k] + 0x6ED9EBA1) & 0xFFFFFFFF, s)
            elif i % 4 == 1: d = rol((d + h(a, b, c) + x[k] + 0x6ED9EBA1) & 0xFFFFFFFF, s)
            elif i % 4 == 2: c = rol((c + h(d, a, b) + x[k] + 0x6ED9EBA1) & 0xFFFFFFFF, s)
            else: b = rol((b + h(c, d, a) + x[k] + 0x6ED9EBA1) & 0xFFFFFFFF, s)
        a, b, c, d = [(v + w) & 0xFFFFFFFF for v, w in ((a, aa), (b, bb), (c, cc), (d, dd))]
    return struct.pack("<4I", a, b, c, d)


def ntlm_type2(challenge):
    target = DOMAIN.encode("utf-16-le")
    info = (struct.pack("<HH", 2, len(target)) + target + struct.pack("<HH", 0, 0))
    flags = 0x00000001 | 0x00000004 | 0x00000200 | 0x00008000 | 0x00010000 | 0x00080000 | 0x00800000
    head_len = 48
    msg = (b"NTLMSSP\x00" + struct.pack("<I", 2)
           + struct.pack("<HHI", len(target), len(target), head_len)
           + struct.pack("<I", flags) + challenge + b"\x00" * 8
           + struct.pack("<HHI", len(info), len(info), head_len + len(target)))
    return msg + target + info


def ntlm_check_type3(msg, challenge):
    """True when the NT response is a valid NTLMv2 answer for alice/secret."""
    if msg[:8] != b"NTLMSSP\x00" or struct.unpack("<I", msg[8:12])[0] != 3:
        return False

    def field(off):
        ln, _, at = struct.unpack("<HHI", msg[off:off + 8])
        return msg[at:at + ln]
    nt, dom, user = field(20), field(28), field(36)
    if len(nt) <= 24:
        return False  # NTLMv1: not what a TargetInfo challenge should produce
    user = user.decode("utf-16-le")
    dom = dom.decode("utf-16-le")
    key = md4(PASSWORD.encode("utf-16-le"))
    ntowf2 = hmac.new(key, (user.upper() + dom).encode("utf-16-le"), hashlib.md5).digest()
    proof = hmac.new(ntowf2, challenge + nt[16:], hashlib.md5).digest()
    return user.lower() == USER and hmac.compare_digest(proof, nt[:16])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, code, body=b"", headers=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        if body:
            self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n).decode("utf-8", "replace") if n else ""

    def do_GET(self):
        host = (self.headers.get("Host") or "").split(":")[0]
        if self.path.startswith("/stats/"):
            s = st(self.path[7:])
            text = "".join("%s %s\n" % (k, s.get(k, 0)) for k in
                           ("count", "max_concurrent", "gap_ms", "last_anchor", "last_action",
                            "last_type", "auth_rounds", "connections", "port", "resets"))
            return self.send(200, text.encode(), [("Content-Type", "text/plain")])
        if self.path == "/autodiscover/autodiscover.xml" and host == "autodiscover.redir.test":
            st("ad-redirect")["count"] += 1
            return self.send(302, b"", [("Location", "https://autodiscover.redir.test/final/autodiscover.xml")])
        if self.path == "/autodiscover/autodiscover.xml" and host == "autodiscover.hijack.test":
            # An answer on the unauthenticated http path pointing at another organisation.
            st("ad-hijack")["count"] += 1
            return self.send(302, b"", [("Location", "https://autodiscover.redir.test/final/autodiscover.xml")])
        self.send(404)

    def authorized(self, mode, s):
        auth = self.headers.get("Authorization") or ""
        if mode == "basic":
            want = "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
            if auth == want:
                return True
            self.send(401, b"", [("WWW-Authenticate", 'Basic realm="ews"')])
            return False
        if mode == "deny":
            self.send(401, b"", [("WWW-Authenticate", 'Basic realm="ews"')])
            return False
        if mode == "bearer":
            if auth.startswith("Bearer good-"):
                return True
            self.send(401, b"", [("WWW-Authenticate", "Bearer")])
            return False
        if mode in ("ntlm", "negntlm"):
            offer = [("WWW-Authenticate", "NTLM")]
            if mode == "negntlm":
                offer.insert(0, ("WWW-Authenticate", "Negotiate"))
            if not auth.startswith("NTLM "):
                if auth:
                    with lock:
                        s["auth_rounds"] += 1
                self.send(401, b"", offer)
                return False
            msg = base64.b64decode(auth[5:])
            kind = struct.unpack("<I", msg[8:12])[0]
            with lock:
                s["auth_rounds"] += 1
            if kind == 1:
                self.challenge = os.urandom(8)
                self.send(401, b"", [("WWW-Authenticate",
                                      "NTLM " + base64.b64encode(ntlm_type2(self.challenge)).decode())])
                return False
            if kind == 3 and getattr(self, "challenge", None) and ntlm_check_type3(msg, self.challenge):
                return True
            self.send(401, b"", offer)
            return False
        return True

    def do_POST(self):
        host = (self.headers.get("Host") or "").split(":")[0]
        body = self.read_body()
        if "autodiscover" in self.path.lower():
            return self.do_autodiscover(host, body)
        mode = self.path.strip("/").split("/")[0]
        action = (self.headers.get("SOAPAction") or "").strip('"').rsplit("/", 1)[-1]
        with lock:
            s = st(mode)
            s["count"] += 1
            # One handler object serves one TCP connection: count each once per mode.
            if mode not in getattr(self, "modes_seen", ()):
                self.modes_seen = getattr(self, "modes_seen", set()) | {mode}
                s["connections"] += 1
            if s["busy_sent"] is not None and s["gap_ms"] < 0:
                s["gap_ms"] = int((time.monotonic() - s["busy_sent"]) * 1000)
            s["last_anchor"] = self.headers.get("X-AnchorMailbox") or ""
            s["last_action"] = action
            s["last_type"] = (self.headers.get("Content-Type") or "").replace(" ", "")
        if not self.authorized(mode, s):
            return
        with lock:
            s["inflight"] += 1
            s["max_concurrent"] = max(s["max_concurrent"], s["inflight"])
            first = s["count"] == 1
        try:
            self.serve_mode(mode, action, body, s, first)
        finally:
            with lock:
                s["inflight"] -= 1

    def serve_mode(self, mode, action, body, s, first):
        if mode == "slow" or (mode == "slowonce" and first):
            time.sleep(4)
        elif mode == "conc":
            time.sleep(0.4)
        m = re.match(r"busy(in)?(\d+)$", mode)
        if m and first:
            ms = int(m.group(2))
            with lock:
                s["busy_sent"] = time.monotonic()
            if m.group(1):
                return self.send(200, busy_inner(ms))
            return self.send(500, busy_fault(ms))
        if mode == "h503" and first:
            with lock:
                s["busy_sent"] = time.monotonic()
            return self.send(503, b"", [("Retry-After", "1")])
        if mode == "subfail" and action == "Subscribe":
            return self.send(200, response("Subscribe", "", cls="Error",
                                           code="ErrorSubscriptionNotFound"))
        if mode == "stream" and action == "GetStreamingEvents":
            return self.stream()
        text = answer_for(action, body, mode)
        if text is None:
            return self.send(400)
        self.send(200, text)

    def stream(self):
        frames = [
            response("GetStreamingEvents", "<m:ConnectionStatus>OK</m:ConnectionStatus>"),
            response("GetStreamingEvents",
                     '<m:Notifications><m:Notification><t:SubscriptionId>SUB-1</t:SubscriptionId>'
                     '<t:CreatedEvent><t:TimeStamp>2026-11-23T08:30:00Z</t:TimeStamp>'
                     '<t:ItemId Id="S-ITEM-1" ChangeKey="CK1"/><t:ParentFolderId Id="CAL"/>'
                     '</t:CreatedEvent></m:Notification></m:Notifications>'),
            response("GetStreamingEvents", "<m:ConnectionStatus>Closed</m:ConnectionStatus>"),
        ]
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for f in frames:
            data = f.encode()
            # Split every frame in two chunks: the client must join them.
            for part in (data[:len(data) // 2], data[len(data) // 2:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.flush()
                time.sleep(0.05)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_autodiscover(self, host, body):
        """example.test: only autodiscover.example.test answers POX. redir.test: only the http
        redirect GET answers, pointing at /final/ which answers POX. soap.test: only SOAP."""
        s = st("ad-" + host)
        with lock:
            s["count"] += 1
        ews = "https://127.0.0.1:%d/basic/EWS/Exchange.asmx" % self.server.https_port
        if host == "soap.test" and self.path.endswith(".svc"):
            return self.send(200, envelope(
                '<GetUserSettingsResponseMessage xmlns="http://schemas.microsoft.com/exchange/2010/Autodiscover">'
                '<Response><ErrorCode>NoError</ErrorCode><UserResponses><UserResponse>'
                '<ErrorCode>NoError</ErrorCode><UserSettings><UserSetting><Name>InternalEwsUrl</Name>'
                '<Value>%s</Value></UserSetting></UserSettings></UserResponse></UserResponses>'
                '</Response></GetUserSettingsResponseMessage>' % ews, header=False))
        ok = ((host == "autodiscover.example.test" and self.path.endswith(".xml"))
              or (host == "autodiscover.redir.test" and self.path.startswith("/final/")))
        if not ok or "<EMailAddress>" not in body:
            return self.send(404)
        auth = self.headers.get("Authorization") or ""
        if not auth.startswith("Basic "):
            return self.send(401, b"", [("WWW-Authenticate", 'Basic realm="ad"')])
        self.send(200, '<?xml version="1.0" encoding="utf-8"?>'
                  '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">'
                  '<Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">'
                  '<Account><AccountType>email</AccountType><Action>settings</Action>'
                  '<Protocol><Type>EXCH</Type><EwsUrl>%s</EwsUrl></Protocol>'
                  '</Account></Response></Autodiscover>' % ews)


def make_certs(d):
    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True, cwd=d,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # EC keys: generated in milliseconds, unlike RSA.
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    run("req", "-x509", *ec, "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=calpresence test CA")
    run("req", *ec, "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:example.test,"
                "DNS:autodiscover.example.test,DNS:redir.test,DNS:autodiscover.redir.test,"
                "DNS:soap.test,DNS:autodiscover.soap.test\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext")
    run("req", "-newkey", "rsa:1024", "-nodes", "-keyout", "weak.key", "-out", "weak.csr",
        "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", "weak.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "weak.pem", "-days", "2", "-extfile", "san.ext")


class TLSServer(ThreadingHTTPServer):
    daemon_threads = True

    def get_request(self):
        return self.wrap(*self.socket.accept())

    def wrap(self, sock, addr):
        sock.settimeout(30)
        return self.tls.wrap_socket(sock, server_side=True), addr


class ResetServer(TLSServer):
    """Resets its first RESETS connections (all when None) after reading the ClientHello: a
    connection lost in the middle of a handshake. Its port and resets are in /stats/<mode>."""

    def get_request(self):
        sock, addr = self.socket.accept()
        s = st(self.mode)
        with lock:
            reset = self.resets is None or s["resets"] < self.resets
            if reset:
                s["resets"] += 1
        if not reset:
            return self.wrap(sock, addr)
        sock.settimeout(10)
        try:
            sock.recv(4096)
        except OSError:
            pass
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        raise OSError("reset on purpose")


class PlainServer(ThreadingHTTPServer):
    daemon_threads = True


def main():
    d = sys.argv[1]
    make_certs(d)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(os.path.join(d, "server.pem"), os.path.join(d, "server.key"))
    https = TLSServer(("127.0.0.1", 0), Handler)
    https.tls = tls
    plain = PlainServer(("127.0.0.1", 0), Handler)
    weak_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    weak_tls.set_ciphers("DEFAULT:@SECLEVEL=0")
    weak_tls.load_cert_chain(os.path.join(d, "weak.pem"), os.path.join(d, "weak.key"))
    weak = TLSServer(("127.0.0.1", 0), Handler)
    weak.tls = weak_tls
    https.https_port = plain.https_port = weak.https_port = https.server_address[1]
    threading.Thread(target=plain.serve_forever, daemon=True).start()
    threading.Thread(target=weak.serve_forever, daemon=True).start()
    # resetonce: one handshake lost, then a normal server; resetall: every handshake lost.
    for mode, resets in (("resetonce", 1), ("resetall", None)):
        srv = ResetServer(("127.0.0.1", 0), Handler)
        srv.tls, srv.mode, srv.resets = tls, mode, resets
        srv.https_port = https.server_address[1]
        st(mode)["port"] = srv.server_address[1]
        st(mode)["resets"] = 0
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    print("READY %d %d %s %d" % (https.server_address[1], plain.server_address[1],
                                 os.path.join(d, "ca.pem"), weak.server_address[1]), flush=True)
    https.serve_forever()


if __name__ == "__main__":
    main()
