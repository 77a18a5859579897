"""The README demo: a private Prosody, the Exchange simulator with a few calendars whose
meetings start and end within the demo's minutes, the calpresence component, and an XMPP
user (watcher) who subscribed to every calendar JID. A live table shows what the watcher's
client sees. Everything runs on 127.0.0.1 and stops by itself after DEMO_SECONDS (default
150) or on Ctrl-C.

Run through scripts/demo.sh, which installs and builds first. DEMO_LOG=1 also prints the
component's console log."""

import os
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "ews-sim"))
import harness as h  # noqa: E402
import simlib  # noqa: E402

CALPRESENCE_EWS = os.path.join(h.BUILD_ROOT, "component", "tools", "calpresence-ews")
USERS = ("alice", "bob", "carol", "dave")
# Times are relative to the simulator's start, a few seconds before the component's.
SCENARIO = [
    "account add svc@example.com Secret1",
    "account impersonate svc@example.com all",
    "mailbox add alice@example.com cas=cas1",
    "mailbox add bob@example.com cas=cas2",
    "mailbox add carol@example.com cas=cas1",
    "mailbox add dave@example.com cas=cas2",
    # alice: two meetings back to back: one busy stretch, no available blip between them
    'item add alice@example.com +30s +70s busy "Design review"',
    'item add alice@example.com +70s +100s busy "Sync"',
    # bob: out of office for most of the demo
    'item add bob@example.com +40s +130s oof "Dentist"',
    # carol: tentative shows available by default...
    'item add carol@example.com +25s +90s tentative "Maybe: brown bag"',
    # dave: ...and busy for a user who said tentative = busy (the settings command below);
    # a cancelled meeting changes nothing
    'item add dave@example.com +25s +90s tentative "Maybe: brown bag"',
]
ADDED_AT = 80  # seconds after start: a meeting added while it already runs (push notification)


def say(text):
    print(f"\n>>> {text}", flush=True)


def follow(path, stop):
    """Prints the component's console log as it grows, like `tail -f`."""
    while not os.path.exists(path) and not stop.is_set():
        time.sleep(0.1)
    with open(path, errors="replace") as f:
        while not stop.is_set():
            line = f.readline()
            if line:
                if "libstrophe" not in line:
                    print("    calpresence | " + line.rstrip(), flush=True)
            else:
                time.sleep(0.1)


class Table:
    """What the watcher's client shows, one row per calendar JID, reprinted on every change."""

    def __init__(self, t0):
        self.t0 = t0
        self.rows = {u: ("-", "unavailable", "", "") for u in USERS}
        self.lock = threading.Lock()

    def update(self, pres):
        user = pres["from"].user
        if user not in self.rows or pres["type"] in ("subscribed", "unsubscribed", "error"):
            return
        cal = pres.xml.find("{urn:calpresence:0}calendar")
        state = cal.get("state") if cal is not None else ""
        until = cal.get("until", "") if cal is not None else ""
        show = "unavailable" if pres["type"] == "unavailable" else (pres["show"] or "available")
        with self.lock:
            new = (show, pres["status"] or "", state, until[11:19])
            if self.rows[user] == new:
                return
            self.rows[user] = new
            self.print(f"{user}@{h.COMPONENT} changed")

    def print(self, why):
        t = time.monotonic() - self.t0
        out = [f"\n  +{t:5.1f} s  {why}",
               "  calendar JID                 show         status          state      until (UTC)",
               "  " + "-" * 86]
        for u in USERS:
            show, status, state, until = self.rows[u]
            out.append(f"  {u + '@' + h.COMPONENT:<28} {show:<12} {status:<15} {state:<10} "
                       f"{until}")
        print("\n".join(out), flush=True)


def command(session, client, node, fields=None):
    """Runs ad-hoc command NODE on the component, submitting FIELDS in a second stage."""
    ns = "http://jabber.org/protocol/commands"
    first = session.iq(client, h.COMPONENT,
                       f"<command xmlns='{ns}' node='{node}' action='execute'/>", itype="set")
    if not fields:
        return first
    cmd = first.xml.find(f"{{{ns}}}command")
    values = "".join(f"<field var='{k}'><value>{v}</value></field>" for k, v in fields.items())
    return session.iq(client, h.COMPONENT,
                      f"<command xmlns='{ns}' node='{node}' sessionid='{cmd.get('sessionid')}' "
                      f"action='complete'><x xmlns='jabber:x:data' type='submit'>{values}</x>"
                      f"</command>", itype="set")


def main():
    seconds = int(os.environ.get("DEMO_SECONDS", "150"))
    ws = h.Workspace("demo")
    say("starting the Exchange simulator (ews-sim): two Client Access Servers, four calendars")
    sim = simlib.Sim(cas=("cas1", "cas2"), lines=SCENARIO, args=["--auth", "basic"])
    t0 = time.monotonic()
    say("starting a private Prosody on 127.0.0.1")
    prosody = h.Prosody(ws.dir)
    for user in ("dave", "watcher"):  # the harness registers alice, bob and carol
        subprocess.run(["prosodyctl", "--config", prosody.cfg, "register", user, h.DOMAIN,
                        h.PASSWORD], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    prosody.start()
    trust = os.path.join(ws.dir, "trust")
    os.makedirs(trust)
    component = h.Component(ws.dir, prosody, extra=f"""
[calendar]
mailbox_domain = example.com
spread = 0
""")
    with open(component.conf) as f:
        conf = f.read().replace("level = debug", "level = info")
    # Component() wrote a placeholder [exchange]; the demo's own one replaces it.
    head, _, rest = conf.partition("[exchange]")
    _, _, tail = rest.partition("[notifications]")
    with open(component.conf, "w") as f:
        f.write(head + f"""[exchange]
ews_urls = {sim.url("cas1")}, {sim.url("cas2")}
username = svc@example.com
password = Secret1
auth = basic
trust_dir = {trust}
ca_file = {sim.ca}

[notifications]""" + tail)
    stop = threading.Event()
    if os.environ.get("DEMO_LOG"):
        threading.Thread(target=follow, args=(component.logpath, stop), daemon=True).start()
    session = None
    try:
        say("starting calpresence")
        component.start()
        session = h.Session(prosody)

        say("what Exchange has for alice, read by calpresence-ews through the same account:")
        subprocess.run([CALPRESENCE_EWS, "-c", component.conf, "calendar", "alice@example.com",
                        "1"], check=False)

        say("everyone turns calendar presence on ('enable'); dave says tentative = busy "
            "('settings')")
        clients = {u: session.client(u) for u in USERS}
        for u in USERS:
            command(session, clients[u], "enable")
        command(session, clients["dave"], "settings", {"tentative": "busy",
                                                       "include_subject": "false"})

        say("a colleague (watcher) subscribes to the four calendar JIDs; the table below is "
            "what their XMPP client shows")
        table = Table(t0)
        watcher = session.client("watcher")
        watcher.add_event_handler("presence", table.update)
        for u in USERS:
            watcher.send_presence(pto=f"{u}@{h.COMPONENT}", ptype="subscribe")
        print("  alice: busy 30-70 s and 70-100 s (back to back); bob: out of office 40-130 s;\n"
              "  carol and dave: tentative 25-90 s (dave shows it as busy); at 80 s carol's\n"
              "  manager books her into a call that runs at once (Exchange pushes it).",
              flush=True)
        deadline = t0 + seconds
        added = False
        while time.monotonic() < deadline:
            session.sleep(1)
            if not added and time.monotonic() - t0 >= ADDED_AT:
                added = True
                sim.ok('item add carol@example.com +0s +40s busy "Escalation call"')
                table.print("a meeting was just added to carol's calendar in Exchange")
    except KeyboardInterrupt:
        pass
    finally:
        say("stopping (SIGTERM: calpresence sends unavailable to every subscriber)")
        component.stop()
        if session:
            session.sleep(1)
            session.close()
        stop.set()
        prosody.stop()
        sim.stop()
        ws.cleanup()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    main()
