"""Helpers for the ews-sim tests: a per-run CA and server certificate, starting the simulator
on free 127.0.0.1 ports, the control protocol, and raw SOAP calls."""
import base64
import http.client
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time

SIM = os.environ.get("EWS_SIM") or os.path.join(
    os.environ.get("CP_BUILD_ROOT", "."), "tests", "ews-sim", "ews-sim")

NS = ('xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
      'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
      'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"')


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_ca(d):
    """A CA and a server certificate for localhost, 127.0.0.1 and *.sim.test; returns
    (ca.pem, server.pem, server.key)."""
    ca_key, ca, key, csr, crt = (os.path.join(d, n) for n in
                                 ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:*.sim.test\n"
                "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
        "-days", "2", "-subj", "/CN=ews-sim test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
        "-subj", "/CN=localhost")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", crt, "-days", "2", "-extfile", ext)
    return ca, crt, key


class Sim:
    """One ews-sim process with a control socket; stop() ends it by its PID."""

    def __init__(self, cas=("cas1",), args=(), lines=(), tls=True):
        self.dir = tempfile.mkdtemp(prefix="ews-sim-")
        self.ports = {name: free_port() for name in cas}
        self.control_path = os.path.join(self.dir, "control.sock")
        self.tls = tls
        cmd = [SIM, "--control", self.control_path]
        for name, port in self.ports.items():
            cmd += ["--listen", "%s=127.0.0.1:%d" % (name, port)]
        if tls:
            self.ca, crt, key = make_ca(self.dir)
            cmd += ["--cert", crt, "--key", key]
        else:
            self.ca = None
            cmd += ["--http"]
        if lines:
            scen = os.path.join(self.dir, "scenario.txt")
            with open(scen, "w") as f:
                f.write("\n".join(lines) + "\n")
            cmd += ["--scenario", scen]
        cmd += list(args)
        self.log = open(os.path.join(self.dir, "sim.log"), "w+")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                fail("ews-sim exited at start: " + self.log.read())
            try:
                if self.control("ping")[-1] == "ok":
                    return
            except OSError:
                time.sleep(0.05)
        fail("ews-sim did not start")

    def url(self, cas="cas1", path="/EWS/Exchange.asmx"):
        return "%s://127.0.0.1:%d%s" % ("https" if self.tls else "http", self.ports[cas], path)

    def control(self, line):
        """Sends one control line; returns the answer lines, the last being ok/error."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(self.control_path)
            s.sendall(line.encode() + b"\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                last = data.decode().rstrip("\n").split("\n")[-1]
                if data.endswith(b"\n") and (last.startswith("ok") or last.startswith("error")):
                    break
        return data.decode().rstrip("\n").split("\n")

    def ok(self, line):
        ans = self.control(line)
        check(ans[-1].startswith("ok"), "control %r: %r" % (line, ans))
        return ans

    def counters(self):
        out = {}
        for l in self.ok("counters")[:-1]:
            parts = l.split()
            out[" ".join(parts[:-1])] = parts[-1]
        return out

    def stop(self):
        self.proc.terminate()
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.log.seek(0)
        return rc, self.log.read()

    def ssl_context(self):
        return ssl.create_default_context(cafile=self.ca) if self.tls else None

    def connection(self, cas="cas1", timeout=30):
        if self.tls:
            return http.client.HTTPSConnection("127.0.0.1", self.ports[cas], timeout=timeout,
                                               context=self.ssl_context())
        return http.client.HTTPConnection("127.0.0.1", self.ports[cas], timeout=timeout)

    def post(self, body, user="svc@example.com", password="Secret1", cas="cas1",
             path="/EWS/Exchange.asmx", headers=None, conn=None):
        """POSTs body with Basic auth; returns (status, body text)."""
        c = conn or self.connection(cas)
        h = {"Content-Type": "text/xml; charset=utf-8"}
        if user:
            h["Authorization"] = "Basic " + base64.b64encode(
                ("%s:%s" % (user, password)).encode()).decode()
        h.update(headers or {})
        c.request("POST", path, body=body.encode(), headers=h)
        r = c.getresponse()
        data = r.read().decode()
        if not conn:
            c.close()
        return r.status, data


def envelope(body, version="Exchange2010_SP2", impersonate=None):
    head = '<t:RequestServerVersion Version="%s"/>' % version if version else ""
    if impersonate:
        head += ("<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>%s"
                 "</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>" % impersonate)
    return ('<?xml version="1.0" encoding="utf-8"?><s:Envelope %s><s:Header>%s</s:Header>'
            "<s:Body>%s</s:Body></s:Envelope>" % (NS, head, body))


STANDARD = [
    "account add svc@example.com Secret1",
    "account add EXAMPLE\\limited Secret2",
    "account impersonate svc@example.com all",
    "mailbox add alice@example.com upn=alice@corp.example.com cas=cas1",
    "mailbox add bob@example.com",
    "mailbox add carol@example.com",
    "grant EXAMPLE\\limited bob@example.com",
]
