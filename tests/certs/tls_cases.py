#!/usr/bin/python3
"""TLS cases for calpresence-certs against `openssl s_server` on 127.0.0.1.

A fresh PKI (gen-certs.sh) per run; every case states the one status token it must produce,
so each token comes from the case that should produce it and from no other. Then the trust
store: import adds exactly the missing CA certificates, add/list/remove keep OpenSSL's hashed
layout, and concurrent writers do not corrupt it.

usage: tls_cases.py CALPRESENCE_CERTS GEN_CERTS_SH
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

TOOL, GEN = sys.argv[1], sys.argv[2]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, limit=15.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("server exited early")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not listen on %d" % port)


class SServer:
    """openssl s_server presenting PKI/LEAF.pem (+ CHAIN), stopped by PID."""

    def __init__(self, pki, leaf, chain=None, weak=False, tls1=False):
        self.port = free_port()
        cmd = ["openssl", "s_server", "-quiet", "-www", "-accept",
               "127.0.0.1:%d" % self.port,
               "-cert", os.path.join(pki, leaf + ".pem"),
               "-key", os.path.join(pki, leaf + ".key")]
        if chain:
            cmd += ["-cert_chain", os.path.join(pki, chain)]
        if weak or tls1:
            cmd += ["-cipher", "DEFAULT:@SECLEVEL=0"]
        if tls1:
            cmd += ["-tls1"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


class RawServer:
    """A TCP server on 127.0.0.1 that either never speaks (silent) or answers plain text."""

    def __init__(self, reply):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.reply = reply
        self.conns = []
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            if self.reply is not None:
                try:
                    c.recv(4096)
                    c.sendall(self.reply)
                    c.close()
                except OSError:
                    pass

    def stop(self):
        self.sock.close()
        for c in self.conns:
            c.close()


def write_config(path, trust, weak="warn", timeout=5, ca_file=""):
    with open(path, "w") as f:
        f.write("""[component]
jid = calendar.localhost
secret = test-secret
domains = localhost
[store]
path = %s/store.db
[exchange]
ews_urls = https://127.0.0.1:1/EWS/Exchange.asmx
username = svc@localhost
password = test-password
trust_dir = %s
ca_file = %s
weak_certificates = %s
timeout = %d
[notifications]
mode = pull
""" % (os.path.dirname(path), trust, ca_file, weak, timeout))
    os.chmod(path, 0o600)


def tool(cfg, *args, stdin=subprocess.DEVNULL):
    # A new session has no controlling terminal: the tool cannot ask, as in cron or CI.
    p = subprocess.run([TOOL, "-c", cfg] + list(args), stdin=stdin, capture_output=True,
                       text=True, timeout=120, start_new_session=True)
    return p.returncode, p.stdout, p.stderr


def status_of(out):
    m = re.findall(r"^status: (\S+)$", out, re.M)
    return m[-1] if m else None


def fingerprint(pem):
    out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", pem],
                         capture_output=True, text=True, check=True).stdout
    return out.strip().split("=", 1)[1]


def listed(cfg):
    rc, out, err = tool(cfg, "list")
    check(rc == 0, "list exits 0 (%s)" % err.strip())
    return set(re.findall(r"^([0-9A-F:]{95}) ", out, re.M))


# (case, leaf, chain, target, --name, weak policy, expected token, expected warning)
CASES = [
    ("CN only, matching", "leaf-cn", "chain-inter.pem", None, "localhost", "warn", "verified", None),
    ("CN only, other name", "leaf-cn", "chain-inter.pem", None, "exchange.test", "warn", "cn-mismatch", None),
    ("SAN DNS", "leaf-dns", "chain-inter.pem", None, "exchange.test", "warn", "verified", None),
    ("SAN DNS, upper case name", "leaf-dns", "chain-inter.pem", None, "EXCHANGE.test", "warn", "verified", None),
    ("SAN IPv4", "leaf-ip4", "chain-inter.pem", None, None, "warn", "verified", None),
    ("SAN IPv6", "leaf-ip6", "chain-inter.pem", None, "::1", "warn", "verified", None),
    ("SAN IPv6, bracketed", "leaf-ip6", "chain-inter.pem", None, "[::1]", "warn", "verified", None),
    ("SAN IPv6 asked for IPv4", "leaf-ip6", "chain-inter.pem", None, None, "warn", "san-mismatch", None),
    ("SAN DNS asked for an IP", "leaf-dns", "chain-inter.pem", None, None, "warn", "san-mismatch", None),
    ("wildcard, one label", "leaf-wild", "chain-inter.pem", None, "mail.exchange.test", "warn", "verified", None),
    ("wildcard, two labels", "leaf-wild", "chain-inter.pem", None, "a.mail.exchange.test", "warn", "san-mismatch", None),
    ("wildcard, bare domain", "leaf-wild", "chain-inter.pem", None, "exchange.test", "warn", "san-mismatch", None),
    ("wrong host", "leaf-wrong", "chain-inter.pem", None, "exchange.test", "warn", "san-mismatch", None),
    ("expired", "leaf-expired", "chain-inter.pem", None, "exchange.test", "warn", "bad-certificate", None),
    ("not yet valid", "leaf-future", "chain-inter.pem", None, "exchange.test", "warn", "bad-certificate", None),
    ("SHA-1, warn", "leaf-sha1", "chain-inter.pem", None, "exchange.test", "warn", "verified", "SHA-1"),
    ("SHA-1, refuse", "leaf-sha1", "chain-inter.pem", None, "exchange.test", "refuse", "bad-certificate", None),
    ("RSA 1024, warn", "leaf-rsa1024", "chain-inter.pem", None, "exchange.test", "warn", "verified", "1024-bit"),
    ("RSA 1024, refuse", "leaf-rsa1024", "chain-inter.pem", None, "exchange.test", "refuse", "bad-certificate", None),
    ("key mismatch after re-issue", "leaf-rekeyed", "chain-inter.pem", None, "exchange.test", "warn", "bad-certificate", None),
    ("intermediate omitted", "leaf-dns", None, None, "exchange.test", "warn", "missing-chain", None),
    ("self-signed server", "leaf-self", None, None, "exchange.test", "warn", "missing-chain", None),
]


def run_cases(tmp, pki):
    trust = os.path.join(tmp, "trust")
    cfg = {w: os.path.join(tmp, "conf-%s" % w, "c.conf") for w in ("warn", "refuse")}
    for w, path in cfg.items():
        os.makedirs(os.path.dirname(path))
        write_config(path, trust, weak=w)
    rc, out, err = tool(cfg["warn"], "add", os.path.join(pki, "ca.pem"))
    check(rc == 0 and "added: 1" in out, "add the root CA (%s)" % err.strip())
    seen = {}
    for name, leaf, chain, _, host, weak, want, warning in CASES:
        srv = SServer(pki, leaf, chain, weak=leaf in ("leaf-sha1", "leaf-rsa1024"))
        try:
            args = ["verify", "127.0.0.1:%d" % srv.port]
            if host:
                args += ["--name", host]
            rc, out, err = tool(cfg[weak], *args)
        finally:
            srv.stop()
        got = status_of(out)
        seen.setdefault(got, []).append(name)
        check(got == want, "%s: status %s (want %s)" % (name, got, want))
        check((rc == 0) == (want == "verified"), "%s: exit %d" % (name, rc))
        if warning:
            check(re.search(r"^warning: weak: .*%s" % re.escape(warning), out, re.M) is not None,
                  "%s: warns about %s" % (name, warning))
        elif want == "verified":
            check("warning:" not in out, "%s: no warning" % name)

    # A TLS 1.0-only server needs security level 0: accepted with a warning, or refused.
    for weak, want in (("warn", "verified"), ("refuse", "failed")):
        srv = SServer(pki, "leaf-dns", "chain-inter.pem", tls1=True)
        try:
            rc, out, _ = tool(cfg[weak], "verify", "127.0.0.1:%d" % srv.port,
                              "--name", "exchange.test")
        finally:
            srv.stop()
        check(status_of(out) == want and (rc == 0) == (want == "verified"),
              "TLS 1.0 only, %s: %s (%s)" % (weak, want, status_of(out)))
        check("warning: TLS: the handshake succeeded only at OpenSSL security level 0" in out,
              "TLS 1.0 only, %s: says the level was lowered" % weak)

    # network-error: nothing listens; a server that accepts and never speaks TLS.
    port = free_port()
    rc, out, _ = tool(cfg["warn"], "verify", "127.0.0.1:%d" % port)
    check(status_of(out) == "network-error" and rc == 1, "closed port: network-error")
    silent = RawServer(None)
    short = os.path.join(tmp, "conf-short", "c.conf")
    os.makedirs(os.path.dirname(short))
    write_config(short, trust, timeout=2)
    t0 = time.monotonic()
    rc, out, _ = tool(short, "verify", "127.0.0.1:%d" % silent.port)
    silent.stop()
    check(status_of(out) == "network-error" and rc == 1, "silent server: network-error")
    check(time.monotonic() - t0 < 60, "silent server: bounded by the timeout")
    # failed: a server that answers, but not with TLS.
    plain = RawServer(b"HTTP/1.0 400 Bad Request\r\n\r\n")
    rc, out, _ = tool(cfg["warn"], "verify", "127.0.0.1:%d" % plain.port)
    plain.stop()
    check(status_of(out) == "failed" and rc == 1, "plain-text server: failed (%s)" % out.strip()[-120:])

    tokens = {"verified", "missing-chain", "cn-mismatch", "san-mismatch", "bad-certificate"}
    check(tokens <= set(seen), "every certificate status token was produced: %s" % sorted(seen))


def run_import(tmp, pki):
    ca, inter, leaf = (fingerprint(os.path.join(pki, f)) for f in
                       ("ca.pem", "inter.pem", "leaf-dns.pem"))
    # The server sends its whole chain; the store is empty.
    trust = os.path.join(tmp, "imp1")
    cfg = os.path.join(tmp, "imp1.conf")
    write_config(cfg, trust)
    srv = SServer(pki, "leaf-dns", "chain-full.pem")
    try:
        target = ["127.0.0.1:%d" % srv.port, "--name", "exchange.test"]
        rc, out, _ = tool(cfg, "verify", *target)
        check(status_of(out) == "missing-chain", "empty store: missing-chain")
        rc, out, err = tool(cfg, "import", *target)
        check(rc == 1 and "no terminal to ask on" in err and "--yes" in err,
              "import without --yes and no terminal says to use --yes")
        check("imported:" not in out and "note:" not in out,
              "and prints no import count or advice about the chain")
        check(listed(cfg) == set(), "store still empty")
        rc, out, _ = tool(cfg, "import", *target, "--yes")
        check(rc == 0 and "imported: 2 certificates" in out, "import --yes adds two")
        check(status_of(out) == "verified", "import reports verified afterwards")
        check(listed(cfg) == {ca, inter}, "exactly the intermediate and the root, not the leaf")
        rc, out, _ = tool(cfg, "verify", *target)
        check(rc == 0 and status_of(out) == "verified", "verify after import: verified")
        check("warning:" not in out, "verify after import: no warning about the sent root")
        rc, out, _ = tool(cfg, "import", *target, "--yes")
        check(rc == 0 and "imported: 0" in out, "a second import adds nothing")
    finally:
        srv.stop()

    # The server omits its intermediate: import cannot help and says how to add it by hand.
    trust = os.path.join(tmp, "imp2")
    cfg = os.path.join(tmp, "imp2.conf")
    write_config(cfg, trust)
    tool(cfg, "add", os.path.join(pki, "ca.pem"))
    srv = SServer(pki, "leaf-dns")
    try:
        target = ["127.0.0.1:%d" % srv.port, "--name", "exchange.test"]
        rc, out, _ = tool(cfg, "import", *target, "--yes")
        check(rc == 1 and "imported: 0" in out, "omitted intermediate: nothing to import")
        check("does not send the certificate of CN=Calpresence Test Intermediate" in out
              and " add CA.pem" in out, "omitted intermediate: says how to add it by hand")
        check(status_of(out) == "missing-chain", "omitted intermediate: still missing-chain")
        rc, out, _ = tool(cfg, "add", os.path.join(pki, "inter.pem"))
        check(rc == 0, "add the intermediate by hand")
        rc, out, _ = tool(cfg, "verify", *target)
        check(rc == 0 and status_of(out) == "verified", "then verified")
    finally:
        srv.stop()

    # A self-signed server certificate is never imported unless --leaf asks for it.
    trust = os.path.join(tmp, "imp3")
    cfg = os.path.join(tmp, "imp3.conf")
    write_config(cfg, trust)
    srv = SServer(pki, "leaf-self")
    try:
        target = ["127.0.0.1:%d" % srv.port, "--name", "exchange.test"]
        rc, out, _ = tool(cfg, "import", *target, "--yes")
        check(rc == 1 and "imported: 0" in out and "--leaf" in out,
              "self-signed: not imported without --leaf, and says so")
        rc, out, _ = tool(cfg, "import", *target, "--yes", "--leaf")
        check(rc == 0 and "imported: 1 certificate\n" in out and status_of(out) == "verified",
              "self-signed: imported with --leaf, then verified")
    finally:
        srv.stop()
    check(leaf not in listed(cfg), "the CA-signed leaf never entered any store")


def run_fetch(tmp, pki):
    cfg = os.path.join(tmp, "fetch.conf")
    write_config(cfg, os.path.join(tmp, "fetch-trust"))
    tool(cfg, "add", os.path.join(pki, "ca.pem"))
    for leaf, chain, weak, want in (
            ("leaf-ip6", "chain-inter.pem", False, ["SAN IP: ::1", "key: RSA 2048 bits",
                                                     "signature: sha256WithRSAEncryption"]),
            ("leaf-ip4", "chain-inter.pem", False, ["SAN IP: 127.0.0.1"]),
            ("leaf-wild", "chain-inter.pem", False, ["SAN DNS: *.exchange.test"]),
            ("leaf-rsa1024", "chain-inter.pem", True, ["key: RSA 1024 bits"]),
            ("leaf-sha1", "chain-inter.pem", True, ["signature: sha1WithRSAEncryption"]),
            ("leaf-expired", "chain-inter.pem", False,
             ["valid: 2020-01-01T00:00:00Z to 2021-01-01T00:00:00Z"]),
            ("leaf-dns", None, False, ["certificate 2: missing: neither presented nor in the "
                                       "trust store",
                                       "    subject: CN=Calpresence Test Intermediate"])):
        srv = SServer(pki, leaf, chain, weak=weak)
        try:
            rc, out, _ = tool(cfg, "fetch", "127.0.0.1:%d" % srv.port)
        finally:
            srv.stop()
        fp = fingerprint(os.path.join(pki, leaf + ".pem"))
        check(rc == 0 and "    sha256: " + fp in out,
              "fetch %s: exit 0 and the SHA-256 fingerprint openssl computes" % leaf)
        check("certificate 1 (server): presented by the server, not in the trust store" in out
              and "    subject: CN=" in out and "    issuer: CN=Calpresence Test" in out,
              "fetch %s: subject, issuer, where it comes from" % leaf)
        for w in want:
            check(w in out, "fetch %s: shows %r" % (leaf, w))
        if chain:
            check("not presented, found in the trust store: trusted" in out,
                  "fetch %s: the root from the store is marked trusted" % leaf)


def run_prompt(tmp, pki):
    """import on a terminal asks for each CA certificate: yes to the first, no to the next."""
    import pty
    cfg = os.path.join(tmp, "prompt.conf")
    write_config(cfg, os.path.join(tmp, "prompt-trust"))
    srv = SServer(pki, "leaf-dns", "chain-full.pem")
    try:
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(TOOL, [TOOL, "-c", cfg, "import", "127.0.0.1:%d" % srv.port,
                            "--name", "exchange.test"])
        out = b""
        answers = [b"y\n", b"n\n"]
        end = time.monotonic() + 60
        while time.monotonic() < end:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if answers and out.count(b"[y/N]") > 2 - len(answers):
                os.write(fd, answers.pop(0))
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    finally:
        srv.stop()
    text = out.decode(errors="replace")
    check(text.count("[y/N]") == 2, "import on a terminal asks twice (intermediate and root)")
    check("imported: 1 certificate" in text, "one yes, one no: one certificate imported")
    check(listed(cfg) == {fingerprint(os.path.join(pki, "inter.pem"))},
          "the accepted one (the intermediate) is trusted, the refused root is not")
    check(os.WEXITSTATUS(status) == 0 and "status: verified" in text,
          "the intermediate alone is enough: verified")


def hashed(trust):
    return sorted(n for n in os.listdir(trust) if re.fullmatch(r"[0-9a-f]{8}\.[0-9]+", n))


def run_store(tmp, pki):
    trust = os.path.join(tmp, "store")
    cfg = os.path.join(tmp, "store.conf")
    write_config(cfg, trust)
    rc, _, err = tool(cfg, "add", os.path.join(pki, "leaf-dns.pem"))
    check(rc == 1 and "not a CA" in err, "add refuses a leaf")
    rc, out, _ = tool(cfg, "add", os.path.join(pki, "leaf-dns.pem"), "--leaf")
    check(rc == 0 and "added: 1" in out, "add --leaf accepts it")
    # inter and inter-old share a subject, hence a hash: .0 and .1.
    for f in ("inter.pem", "inter-old.pem", "ca.pem"):
        tool(cfg, "add", os.path.join(pki, f))
    h = subprocess.run(["openssl", "x509", "-noout", "-subject_hash", "-in",
                        os.path.join(pki, "inter.pem")], capture_output=True, text=True,
                       check=True).stdout.strip()
    check({h + ".0", h + ".1"} <= set(hashed(trust)), "same subject: %s.0 and %s.1" % (h, h))
    inter = fingerprint(os.path.join(pki, "inter.pem"))
    rc, out, _ = tool(cfg, "remove", inter.replace(":", "").lower())
    check(rc == 0, "remove by fingerprint (lower case, no colons)")
    check(h + ".0" in hashed(trust) and h + ".1" not in hashed(trust),
          "numbering stays contiguous after a removal")
    check(inter not in listed(cfg) and len(listed(cfg)) == 3, "list no longer shows it")
    rc, _, err = tool(cfg, "remove", inter)
    check(rc == 1 and "no certificate" in err, "removing it twice fails")
    p = subprocess.run(["openssl", "verify", "-CApath", trust, "-untrusted",
                        os.path.join(pki, "inter-old.pem"), os.path.join(pki, "leaf-dns.pem")],
                       capture_output=True, text=True)
    check("OK" not in p.stdout, "openssl itself no longer finds the removed intermediate")
    p = subprocess.run(["openssl", "verify", "-CApath", trust, os.path.join(pki, "inter-old.pem")],
                       capture_output=True, text=True)
    check(p.returncode == 0, "openssl -CApath reads the store (%s)" % p.stdout.strip())
    # ca_file entries are listed and never removed.
    cfg2 = os.path.join(tmp, "store2.conf")
    write_config(cfg2, os.path.join(tmp, "store2"), ca_file=os.path.join(pki, "ca.pem"))
    check(fingerprint(os.path.join(pki, "ca.pem")) in listed(cfg2), "ca_file is listed")
    rc, _, err = tool(cfg2, "remove", fingerprint(os.path.join(pki, "ca.pem")))
    check(rc == 1 and "ca_file" in err, "a ca_file certificate cannot be removed here")

    # Concurrent writers: every certificate exactly once, numbering without holes.
    trust = os.path.join(tmp, "conc")
    cfg = os.path.join(tmp, "conc.conf")
    write_config(cfg, trust)
    procs = [subprocess.Popen([TOOL, "-c", cfg, "add", os.path.join(pki, f)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for f in ("chain-full.pem", "inter-old.pem") * 6]
    codes = [p.wait(timeout=60) for p in procs]
    check(codes == [0] * len(codes), "12 concurrent adds succeed")
    names = hashed(trust)
    check(len(names) == 3 and len(listed(cfg)) == 3, "three certificates, once each: %s" % names)
    check(not [n for n in os.listdir(trust) if n.startswith(".tmp")], "no temporary file left")


def main():
    tmp = tempfile.mkdtemp(prefix="cp-certs-")
    try:
        pki = os.path.join(tmp, "pki")
        subprocess.run(["sh", GEN, pki], check=True, stdout=subprocess.DEVNULL)
        run_cases(tmp, pki)
        run_import(tmp, pki)
        run_fetch(tmp, pki)
        run_prompt(tmp, pki)
        run_store(tmp, pki)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
