"""Fixtures for integration tests: a private Prosody, the calpresence daemon, XMPP clients.

Everything listens on 127.0.0.1 on ports picked at run time and is stopped by PID at the end.
Clients are slixmpp (Debian's python3-slixmpp): run tests with /usr/bin/python3.

Environment (set by meson): CP_BUILD_ROOT (where the calpresence binary is), CP_SOURCE_ROOT.
"""

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import slixmpp
from slixmpp.xmlstream import ET

BUILD_ROOT = os.environ.get("CP_BUILD_ROOT", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
CALPRESENCE = os.path.join(BUILD_ROOT, "calpresence")

DOMAIN = "localhost"
OTHER_DOMAIN = "other.localhost"   # a domain the component does not serve
COMPONENT = "calendar.localhost"
SECRET = "component-secret-for-tests"
PASSWORD = "password"
USERS = [("alice", DOMAIN), ("bob", DOMAIN), ("carol", DOMAIN), ("admin", DOMAIN),
         ("eve", OTHER_DOMAIN)]
# CP_DAEMON_WRAPPER runs the daemon under a checker, e.g. valgrind (scripts/test.sh does), which
# must exit with WRAPPER_ERROR_CODE when it finds an error.
DAEMON_WRAPPER = os.environ.get("CP_DAEMON_WRAPPER", "").split()
WRAPPER_ERROR_CODE = 99
# Seconds any single expected event may take on a loaded machine (more under a checker).
TIMEOUT = 20 * (5 if DAEMON_WRAPPER else 1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


# The XEP-0356 grants docs/privileges.md gives for Prosody's mod_privilege (prosody-modules).
PRIVILEGES_FULL = 'roster = "both"; message = "outgoing"; presence = "roster";'

# The same grants for ejabberd's mod_privilege, as docs/privileges.md gives them: an ACL that
# matches the component alone, and an access rule allowing it.
EJABBERD_PRIVILEGES = f"""
acl:
  calendar_component:
    server: {COMPONENT}
access_rules:
  calendar_component:
    allow: calendar_component
"""
EJABBERD_PRIVILEGE_MODULE = """  mod_privilege:
    roster:
      both: calendar_component
    message:
      outgoing: calendar_component
    presence:
      roster: calendar_component
"""


class Prosody:
    """A private Prosody with two virtual hosts and the calendar component.

    PRIVILEGES, when given, is the body of the component's entry in `privileged_entities`
    (e.g. PRIVILEGES_FULL): mod_privilege is then loaded globally and on the component, and the
    entry is set on the served host, as mod_privilege's README says. MODULES are further
    modules to load (e.g. "pep")."""

    def __init__(self, workdir, secret=SECRET, privileges=None, modules=()):
        self.dir = os.path.join(workdir, "prosody")
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        self.c2s_port = free_port()
        self.component_port = free_port()
        self.secret = secret
        self.privileges = privileges
        self.modules = modules
        self.cfg = os.path.join(self.dir, "prosody.cfg.lua")
        self.proc = None
        self._write_config()
        for user, host in USERS:
            subprocess.run(["prosodyctl", "--config", self.cfg, "register", user, host, PASSWORD],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _write_config(self):
        d = self.dir
        extra_modules = '; "privilege"' if self.privileges else ""
        extra_modules += "".join(f'; "{m}"' for m in self.modules)
        priv_host = (f'    privileged_entities = {{ ["{COMPONENT}"] = {{ {self.privileges} }} }}\n'
                     if self.privileges else "")
        priv_component = '    modules_enabled = { "privilege" }\n' if self.privileges else ""
        with open(self.cfg, "w") as f:
            f.write(f"""
run_as_root = true
pidfile = "{d}/prosody.pid"
data_path = "{d}/data"
certificates = "{d}"
interfaces = {{ "127.0.0.1" }}
component_interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {self.c2s_port} }}
component_ports = {{ {self.component_port} }}
s2s_ports = {{ }}
modules_enabled = {{ "roster"; "saslauth"; "disco"; "ping"; "presence"; "posix"{extra_modules} }}
modules_disabled = {{ "s2s"; "offline"; "tls" }}
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
log = {{ debug = "{d}/prosody.log" }}
VirtualHost "{DOMAIN}"
{priv_host}VirtualHost "{OTHER_DOMAIN}"
Component "{COMPONENT}"
    component_secret = "{self.secret}"
{priv_component}""")

    def start(self):
        self.log = open(os.path.join(self.dir, "stdout.log"), "ab")
        self.proc = subprocess.Popen(["prosody", "--config", self.cfg, "-F"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.c2s_port)
        wait_port(self.component_port)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
            self.log = None


class Ejabberd:
    """A private ejabberd (Debian's 23.01) with the same hosts, component and users as Prosody.

    Its config, Mnesia spool, logs, Erlang cookie and node name all live in WORKDIR. The node
    runs without epmd: Erlang distribution listens on a free port of 127.0.0.1 given by
    -erl_epmd_port (what ejabberdctl does for ERL_DIST_PORT), so nothing is registered with,
    or started as, a system epmd. The VM is run directly with erl, as ejabberdctl does, but as
    the current user: ejabberdctl would switch to the `ejabberd` user, who cannot read WORKDIR.
    """

    ERL_LIBS = "/usr/lib/x86_64-linux-gnu"  # where Debian installs ejabberd's applications
    START_TIMEOUT = 90  # an Erlang VM starting ejabberd on a loaded 2-core machine

    def __init__(self, workdir, secret=SECRET, privileges=False):
        """PRIVILEGES: grant the component EJABBERD_PRIVILEGES with mod_privilege (XEP-0356)."""
        self.dir = os.path.join(workdir, "ejabberd")
        self.privileges = privileges
        self.spool = os.path.join(self.dir, "spool")
        self.logdir = os.path.join(self.dir, "log")
        for d in (self.spool, self.logdir):
            os.makedirs(d, exist_ok=True)
        self.c2s_port = free_port()
        self.component_port = free_port()
        self.dist_port = free_port()
        self.node = f"calpresence_test_{self.dist_port}@localhost"
        self.secret = secret
        self.cfg = os.path.join(self.dir, "ejabberd.yml")
        self.proc = None
        self.registered = False
        self._helpers = []  # PIDs of the VM's helper processes (erl_child_setup)
        cookie = os.path.join(self.dir, ".erlang.cookie")  # found through HOME
        with open(os.open(cookie, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o400), "w") as f:
            f.write(f"calpresence{os.getpid()}{self.dist_port}{time.time_ns()}")
        self._write_config()

    def _write_config(self):
        # JSON strings are YAML strings: quoting the secret this way is always safe.
        acl = EJABBERD_PRIVILEGES if self.privileges else ""
        module = EJABBERD_PRIVILEGE_MODULE if self.privileges else ""
        with open(self.cfg, "w") as f:
            f.write(f"""
hosts:
  - {DOMAIN}
  - {OTHER_DOMAIN}
loglevel: info
log_rotate_count: 0
hide_sensitive_log_data: true
certfiles: []
acme:
  auto: false
auth_method: internal
auth_password_format: scram
s2s_access: none
listen:
  -
    port: {self.c2s_port}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls: false
    starttls_required: false
  -
    port: {self.component_port}
    ip: "127.0.0.1"
    module: ejabberd_service
    access: all
    hosts:
      {COMPONENT}:
        password: {json.dumps(self.secret)}
{acl}modules:
  mod_roster: {{}}
  mod_disco: {{}}
{module}""")

    def _env(self):
        env = dict(os.environ)
        env.update(HOME=self.dir, ERL_LIBS=self.ERL_LIBS, EJABBERD_CONFIG_PATH=self.cfg,
                   EJABBERD_LOG_PATH=os.path.join(self.logdir, "ejabberd.log"),
                   ERL_CRASH_DUMP=os.path.join(self.logdir, "erl_crash.dump"),
                   ERL_CRASH_DUMP_BYTES="0",
                   CONTRIB_MODULES_PATH=os.path.join(self.dir, "contrib"))
        for var in ("EJABBERD_PID_PATH", "ERL_EPMD_PORT", "ERL_EPMD_ADDRESS", "ERL_FLAGS",
                    "ERL_AFLAGS", "ERL_ZFLAGS", "ERL_DIST_PORT"):
            env.pop(var, None)
        return env

    def _erl(self, node, *args):
        return ["erl", "-sname", node, "-erl_epmd_port", str(self.dist_port), "-start_epmd",
                "false", "-noinput", *args]

    def log(self):
        text = ""
        for name in ("stdout.log", "log/ejabberd.log", "log/error.log"):
            try:
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    text += f"--- {name}\n" + f.read()[-20000:]
            except OSError:
                pass
        return text

    def start(self):
        self.log_file = open(os.path.join(self.dir, "stdout.log"), "ab")
        self.proc = subprocess.Popen(
            self._erl(self.node, "-kernel", "inet_dist_use_interface", "{127,0,0,1}",
                      "+K", "true", "-mnesia", "dir", f'"{self.spool}"', "-s", "ejabberd"),
            cwd=self.spool, env=self._env(), stdout=self.log_file, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + self.START_TIMEOUT
            for port in (self.c2s_port, self.component_port):
                while not self._listening(port):
                    if self.proc.poll() is not None:
                        raise AssertionError(f"ejabberd exited ({self.proc.returncode}) while "
                                             f"starting:\n{self.log()}")
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"ejabberd did not listen on {port}:\n{self.log()}")
                    time.sleep(0.2)
            self._helpers = self._children(self.proc.pid)
            # The listeners can accept before ejabberd has finished starting (its tables may
            # not exist yet): wait as `ejabberdctl started` does, for `status` to succeed.
            while self.ctl("status", check=False).returncode != 0:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"ejabberd did not finish starting:\n{self.log()}")
                time.sleep(0.5)
            if not self.registered:
                for user, host in USERS:
                    self.ctl("register", user, host, PASSWORD)
                self.registered = True
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def _listening(port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    @staticmethod
    def _children(pid):
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        # the field after the parenthesised command is the state, then the ppid
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                            found.append(int(entry))
                except (OSError, IndexError, ValueError):
                    pass
        return found

    def ctl(self, *args, check=True):
        """Runs an ejabberdctl command on the node (ejabberdctl's own `erl -s ejabberd_ctl`
        call, from a hidden node that neither listens nor uses epmd)."""
        name = f"ctl_{os.getpid()}_{free_port()}@localhost"
        res = subprocess.run(self._erl(name, "-hidden", "-dist_listen", "false", "-s",
                                       "ejabberd_ctl", "-extra", self.node, *args),
                             cwd=self.spool, env=self._env(), capture_output=True, text=True,
                             timeout=self.START_TIMEOUT)
        if check and res.returncode != 0:
            raise AssertionError(f"ejabberdctl {' '.join(args[:1])} failed ({res.returncode}): "
                                 f"{res.stdout}{res.stderr}")
        return res

    def stop(self):
        """SIGTERM makes the VM stop ejabberd and Mnesia cleanly (init:stop)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(self.START_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # erl_child_setup leaves with the VM; make sure, by the PIDs seen at start.
        for pid in self._helpers:
            for _ in range(50):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                try:
                    with open(f"/proc/{pid}/comm") as f:
                        if f.read().strip() == "erl_child_setup":  # not a reused PID
                            os.kill(pid, signal.SIGKILL)
                except (OSError, ProcessLookupError):
                    pass
        self._helpers = []
        self.proc = None
        if getattr(self, "log_file", None):
            self.log_file.close()
            self.log_file = None


class Component:
    """The calpresence daemon under test, its config in WORKDIR, its log captured."""

    def __init__(self, workdir, prosody, secret=SECRET, extra=""):
        self.dir = workdir
        self.conf = os.path.join(workdir, "calpresence.conf")
        self.logpath = os.path.join(workdir, "calpresence.log")
        self.proc = None
        # The push listener's port, also in the URL Exchange is given.
        self.notify_port = free_port()
        with open(self.conf, "w") as f:
            f.write(f"""
[component]
jid = {COMPONENT}
secret = {secret}
server_host = 127.0.0.1
server_port = {prosody.component_port}
domains = {DOMAIN}
admins = admin@{DOMAIN}
reconnect_max = 2

[store]
path = {workdir}/calpresence.db

[exchange]
ews_urls = https://127.0.0.1:1/EWS/Exchange.asmx
username = svc@example.com
password = unused

[notifications]
mode = push
listen = 127.0.0.1:{self.notify_port}
url = http://127.0.0.1:{self.notify_port}/ews/notify

[log]
level = debug
{extra}
""")

    def start(self, wait_online=True, env=None):
        """ENV, when given, is the daemon's whole environment (systemd's variables in tests)."""
        online = r"connected to .* as component"
        # The log is appended to across restarts: wait for a line this run writes.
        before = len(re.findall(online, self.log())) if os.path.exists(self.logpath) else 0
        self.logfile = open(self.logpath, "ab")
        self.proc = subprocess.Popen(DAEMON_WRAPPER + [CALPRESENCE, "-c", self.conf],
                                     stdout=self.logfile, stderr=subprocess.STDOUT, env=env)
        if wait_online:
            self.wait_log(online, count=before + 1)

    def log(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def wait_log(self, pattern, count=1, timeout=TIMEOUT):
        """Waits until PATTERN (a regex) has matched COUNT lines of the log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(re.findall(pattern, self.log())) >= count:
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"calpresence exited ({self.proc.returncode}) before "
                                     f"logging {pattern!r}:\n{self.log()}")
            # Keep the clients' loop turning while we wait, or nothing they queued is sent.
            if Session.current is not None:
                Session.current.sleep(0.1)
            else:
                time.sleep(0.1)
        raise TimeoutError(f"calpresence did not log {pattern!r}:\n{self.log()}")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=TIMEOUT):
        code = self.proc.wait(timeout)
        self._check_wrapper(code)
        return code

    def _check_wrapper(self, code):
        if code == WRAPPER_ERROR_CODE and DAEMON_WRAPPER:
            raise AssertionError(f"{DAEMON_WRAPPER[0]} reported errors in calpresence:\n"
                                 f"{self.log()}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self._check_wrapper(self.proc.returncode)
        if getattr(self, "logfile", None):
            self.logfile.close()
            self.logfile = None


class Client(slixmpp.ClientXMPP):
    """A slixmpp client that records every presence it receives."""

    def __init__(self, user, domain=DOMAIN, resource="test"):
        super().__init__(f"{user}@{domain}/{resource}", PASSWORD)
        self.presences = []
        self.subscription_answers = []
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0004")
        self.register_plugin("xep_0050")
        self.register_plugin("xep_0199")
        self.register_plugin("xep_0092")
        self.add_event_handler("presence", self._on_presence)
        self.auto_authorize = None  # we never answer subscription requests ourselves
        self.auto_subscribe = False

    def _on_presence(self, pres):
        if pres["from"].bare == self.boundjid.bare:
            return  # our own presence echoed back
        self.presences.append(pres)


class Session:
    """Runs clients on one asyncio loop; tests call the sync helpers."""

    current = None  # the open session, whose loop Component.wait_log keeps running

    def __init__(self, prosody):
        Session.current = self
        self.prosody = prosody
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.clients = []

    def run(self, coro, timeout=TIMEOUT):
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    def client(self, user, domain=DOMAIN):
        c = Client(user, domain)
        started = self.loop.create_future()
        c.add_event_handler("session_start", lambda _: started.done() or started.set_result(True))
        c.add_event_handler("failed_auth", lambda _: started.done() or started.set_exception(
            AssertionError(f"login failed for {user}@{domain}")))
        c.connect(("127.0.0.1", self.prosody.c2s_port), force_starttls=False,
                  disable_starttls=True)
        self.run(started)
        self.run(c.get_roster())  # only roster-interested resources get roster pushes
        c.send_presence()
        self.clients.append(c)
        return c

    def sleep(self, seconds):
        self.run(asyncio.sleep(seconds), timeout=seconds + 5)

    def wait_for(self, predicate, timeout=TIMEOUT, what="condition"):
        """Runs the loop until PREDICATE() is true."""
        async def poll():
            while not predicate():
                await asyncio.sleep(0.05)
        try:
            self.run(poll(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None

    def iq(self, client, to, payload_xml, itype="get"):
        """Sends an IQ with the given payload and returns the answer (result or error)."""
        iq = client.make_iq(ifrom=client.boundjid, ito=to, itype=itype)
        if payload_xml is not None:
            iq.append(ET.fromstring(payload_xml))
        try:
            return self.run(iq.send(timeout=TIMEOUT))
        except slixmpp.exceptions.IqError as e:
            return e.iq

    def close(self):
        Session.current = None
        for c in self.clients:
            c.disconnect()
        try:
            self.loop.run_until_complete(asyncio.sleep(0.3))
            # slixmpp leaves its filter tasks waiting: end them before the loop goes.
            pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
            for t in pending:
                t.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        finally:
            self.loop.close()


def calendar_presences(client, jid=f"alice@{COMPONENT}", ptype=None):
    """The presences CLIENT received from calendar JID JID (of type PTYPE when given)."""
    return [p for p in client.presences
            if p["from"].bare == jid and (ptype is None or p["type"] == ptype)]


def test_failed(case):
    """True when the unittest CASE, in its tearDown, has failed or raised."""
    result = case._outcome.result
    return any(err for test, err in result.errors + result.failures if test is case)


def error_condition(stanza):
    """The defined condition of an error stanza, or None."""
    err = stanza.xml.find("{jabber:client}error")
    if err is None:
        return None
    for child in err:
        if child.tag.startswith("{urn:ietf:params:xml:ns:xmpp-stanzas}") and not child.tag.endswith("}text"):
            return child.tag.split("}")[1]
    return None


class Workspace:
    """A temp dir holding one test's Prosody, component and logs; kept on failure."""

    def __init__(self, name):
        self.dir = tempfile.mkdtemp(prefix=f"cp-{name}-")
        self.keep = False

    def cleanup(self):
        if self.keep or os.environ.get("CP_KEEP_TMP"):
            print(f"test files kept in {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
