"""The README demo: a private Prosody, the Exchange simulator with a calendar, the calpresence
component, and an XMPP user watching a colleague's calendar JID. Everything runs on 127.0.0.1
and stops by itself after DEMO_SECONDS (default 60) or on Ctrl-C.

Run through scripts/demo.sh, which installs and builds first."""

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
SCENARIO = [
    "account add svc@example.com Secret1",
    "account impersonate svc@example.com all",
    "mailbox add alice@example.com",
    'item add alice@example.com +40s +100s busy "Design review"',
    'item add alice@example.com +4m +6m oof "Dentist"',
]


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


def main():
    seconds = int(os.environ.get("DEMO_SECONDS", "60"))
    ws = h.Workspace("demo")
    say("starting the Exchange simulator (ews-sim) with alice's calendar")
    sim = simlib.Sim(cas=("cas1",), lines=SCENARIO, args=["--auth", "basic"])
    say("starting a private Prosody on 127.0.0.1")
    prosody = h.Prosody(ws.dir)
    prosody.start()
    trust = os.path.join(ws.dir, "trust")
    os.makedirs(trust)
    extra = f"""
[exchange]
ews_urls = {sim.url()}
username = svc@example.com
password = Secret1
auth = basic
trust_dir = {trust}
ca_file = {sim.ca}

[calendar]
mailbox_domain = example.com
"""
    component = h.Component(ws.dir, prosody, extra=extra)
    # The demo shows info lines only; the tests' debug level would drown them.
    with open(component.conf) as f:
        conf = f.read().replace("level = debug", "level = info")
    # Component() wrote a placeholder [exchange]; the demo's own one replaces it.
    head, _, rest = conf.partition("[exchange]")
    _, _, tail = rest.partition("[notifications]")
    with open(component.conf, "w") as f:
        f.write(head + "[notifications]" + tail)
    stop = threading.Event()
    threading.Thread(target=follow, args=(component.logpath, stop), daemon=True).start()
    session = None
    try:
        say("starting calpresence (its console log follows)")
        component.start()
        session = h.Session(prosody)

        say("what Exchange has for alice, read by calpresence-ews through the same account:")
        subprocess.run([CALPRESENCE_EWS, "-c", component.conf, "calendar", "alice@example.com",
                        "2"], check=False)

        say("alice turns calendar presence on with the ad-hoc command 'enable'")
        alice = session.client("alice")
        answer = session.iq(alice, h.COMPONENT,
                            "<command xmlns='http://jabber.org/protocol/commands' node='enable' "
                            "action='execute'/>", itype="set")
        note = answer.xml.find(".//{http://jabber.org/protocol/commands}note")
        print("    alice's client shows: " + (note.text if note is not None else answer["type"]))

        say(f"bob subscribes to alice@{h.COMPONENT} and watches it")
        bob = session.client("bob")
        bob.add_event_handler("presence", lambda p: print(
            f"    bob sees {p['from'].bare}: type={p['type']} show={p['show'] or '-'} "
            f"status={p['status'] or '-'}", flush=True)
            if p["from"].bare.endswith(h.COMPONENT) else None)
        bob.send_presence(pto=f"alice@{h.COMPONENT}", ptype="subscribe")
        say("alice's meeting starts in about a minute. The calendar engine that turns it into "
            "'In a meeting' is its own issue; until it lands the calendar JID stays unavailable.")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            session.sleep(1)
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
