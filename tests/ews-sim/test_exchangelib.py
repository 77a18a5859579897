"""exchangelib (Debian's python3-exchangelib) as a real EWS client against ews-sim over HTTPS
with a CA made for this run, with IMPERSONATION: calendar view over a recurring series, pull,
streaming and push subscriptions, free/busy for several mailboxes, and the error cases.
Usage: test_exchangelib.py basic|ntlm"""
import datetime
import http.server
import logging
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simlib import STANDARD, Sim, check, fail  # noqa: E402

AUTH = sys.argv[1] if len(sys.argv) > 1 else "basic"


class Receiver(http.server.BaseHTTPRequestHandler):
    """The push listener: records each SendNotification and answers OK."""
    bodies = []
    answer = "OK"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        Receiver.bodies.append(body)
        out = ('<?xml version="1.0" encoding="utf-8"?><s:Envelope '
               'xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
               '<m:SendNotificationResult '
               'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">'
               "<m:SubscriptionStatus>%s</m:SubscriptionStatus></m:SendNotificationResult>"
               "</s:Body></s:Envelope>" % Receiver.answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


def wait_for(pred, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.1)
    fail("timed out waiting for " + what)


def main():
    os.environ.pop("HTTPS_PROXY", None)
    os.environ.pop("https_proxy", None)
    sim = Sim(cas=("cas1", "cas2"), args=["--auth", "ntlm,basic", "--heartbeat", "1"],
              lines=STANDARD + [
                  'item add alice@example.com +1h +2h busy "Standup" daily count=5',
                  'item exception 0 2 +50h +51h oof',
                  'item exception 0 3 delete',
                  'item add alice@example.com +3h +4h tentative "Maybe"',
                  'item add bob@example.com +1h +90m oof "Away"',
              ])
    try:
        os.environ["REQUESTS_CA_BUNDLE"] = sim.ca
        run(sim)
    except BaseException:
        rc, log = sim.stop()
        print(log, file=sys.stderr)
        raise
    rc, log = sim.stop()
    if rc != 0:
        print(log, file=sys.stderr)
        fail("ews-sim exited with %d" % rc)
    print("ok: exchangelib (%s) against ews-sim" % AUTH)


def account(sim, config, smtp):
    from exchangelib import IMPERSONATION, Account
    return Account(primary_smtp_address=smtp, config=config, autodiscover=False,
                   access_type=IMPERSONATION, default_timezone=UTC())


def UTC():
    from exchangelib import EWSTimeZone
    return EWSTimeZone("UTC")


def run(sim):
    from exchangelib import BASIC, NTLM, Configuration, Credentials, EWSDateTime, FaultTolerance
    from exchangelib.errors import (ErrorImpersonateUserDenied, ErrorNonExistentMailbox,
                                    ErrorServerBusy)
    from exchangelib.protocol import close_connections

    user = "svc@example.com" if AUTH == "basic" else "EXAMPLE\\svc"
    if AUTH == "ntlm":
        sim.ok("account add EXAMPLE\\svc Secret1")
        sim.ok("account impersonate EXAMPLE\\svc all")
    creds = Credentials(user, "Secret1")
    config = Configuration(service_endpoint=sim.url("cas1"), credentials=creds,
                           auth_type=BASIC if AUTH == "basic" else NTLM)
    tz = UTC()
    now = EWSDateTime.now(tz)

    # version guessing + calendar view over the recurring series
    alice = account(sim, config, "alice@example.com")
    items = list(alice.calendar.view(start=now, end=now + datetime.timedelta(days=7)))
    kinds = sorted(i.type for i in items)
    check(len(items) == 5, "calendar view: %d items: %r" % (len(items), items))
    check(kinds.count("Occurrence") == 3 and kinds.count("Exception") == 1 and
          kinds.count("Single") == 1, "calendar view types %r" % kinds)
    exc = [i for i in items if i.type == "Exception"][0]
    check(exc.legacy_free_busy_status == "OOF", "exception busy type %r" % exc.legacy_free_busy_status)
    check(alice.version.build.major_version == 15, "version %r" % alice.version)
    print("calendar view: %d items, version %s" % (len(items), alice.version.api_version))

    # pull: subscribe, change, get events
    sub_id, wm = alice.calendar.subscribe_to_pull()
    sim.ok('item add alice@example.com +5h +6h busy "Late"')
    notes = list(alice.calendar.get_events(subscription_id=sub_id, watermark=wm))
    created = [e for n in notes for e in n.events if type(e).__name__ == "CreatedEvent"]
    check(len(created) == 1, "pull events: %r" % notes)
    alice.calendar.unsubscribe(sub_id)
    print("pull: %d created event" % len(created))

    # streaming
    sid = alice.calendar.subscribe_to_streaming()
    threading.Timer(1.5, lambda: sim.ok('item add alice@example.com +7h +8h busy "Stream"')).start()
    got = []
    for n in alice.calendar.get_streaming_events(sid, connection_timeout=1,
                                                  max_notifications_returned=1):
        got.extend(type(e).__name__ for e in n.events)
    check("CreatedEvent" in got, "streaming events %r" % got)
    alice.calendar.unsubscribe(sid)
    print("streaming: %r" % got)

    # push, to a small HTTP receiver
    srv = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d/ews/notify" % srv.server_address[1]
    push_id, _ = alice.calendar.subscribe_to_push(callback_url=url, status_frequency=1)
    sim.ok('item add alice@example.com +9h +10h busy "Push"')
    wait_for(lambda: any("CreatedEvent" in b and push_id in b for b in Receiver.bodies),
             "a push notification")
    from exchangelib.services import SendNotification
    parsed = list(SendNotification(protocol=alice.protocol).parse(Receiver.bodies[0].encode()))
    check(parsed and parsed[0].subscription_id == push_id, "push parsed %r" % parsed)
    Receiver.answer = "Unsubscribe"
    sim.ok('item add alice@example.com +11h +12h busy "Push2"')
    wait_for(lambda: sim.counters()["push_unsubscribe"] == "1", "the Unsubscribe answer")
    srv.shutdown()
    print("push: %d notifications" % len(Receiver.bodies))

    # free/busy for several mailboxes
    accounts = [(account(sim, config, m), "Organizer", False)
                for m in ("alice@example.com", "bob@example.com", "carol@example.com")]
    infos = list(alice.protocol.get_free_busy_info(accounts=accounts, start=now,
                                                    end=now + datetime.timedelta(days=1)))
    check(len(infos) == 3, "free/busy %r" % infos)
    bob_types = [e.busy_type for e in infos[1].calendar_events or []]
    check(bob_types == ["OOF"], "bob free/busy %r" % bob_types)
    check(len(infos[0].calendar_events or []) >= 2, "alice free/busy %r" % infos[0])
    check(not infos[2].calendar_events, "carol free/busy %r" % infos[2])
    print("free/busy: %r" % [len(i.calendar_events or []) for i in infos])

    # error cases: impersonation denied, unknown mailbox, server busy
    limited = Configuration(service_endpoint=sim.url("cas1"),
                            credentials=Credentials("EXAMPLE\\limited", "Secret2"),
                            auth_type=config.auth_type, version=alice.version)
    try:
        list(account(sim, limited, "carol@example.com").calendar.view(
            start=now, end=now + datetime.timedelta(days=1)))
        fail("impersonation of carol by limited was allowed")
    except ErrorImpersonateUserDenied:
        print("denied: ErrorImpersonateUserDenied")
    bobs = list(account(sim, limited, "bob@example.com").calendar.view(
        start=now, end=now + datetime.timedelta(days=1)))
    check(len(bobs) == 1, "granted impersonation of bob: %r" % bobs)
    try:
        list(account(sim, config, "nobody@example.com").calendar.view(
            start=now, end=now + datetime.timedelta(days=1)))
        fail("unknown mailbox answered")
    except ErrorNonExistentMailbox:
        print("unknown: ErrorNonExistentMailbox")
    sim.ok("fault add busy 1500 op=FindItem count=1")
    fast = Configuration(service_endpoint=sim.url("cas1"), credentials=creds,
                         auth_type=config.auth_type, version=alice.version,
                         retry_policy=FaultTolerance(max_wait=0))
    try:
        list(account(sim, fast, "alice@example.com").calendar.view(
            start=now, end=now + datetime.timedelta(days=1)))
        fail("no ErrorServerBusy")
    except ErrorServerBusy as e:
        check(abs(e.back_off - 1.5) < 0.01, "back off %r" % e.back_off)
        print("busy: ErrorServerBusy back_off=%s" % e.back_off)
    # the password is really checked (Basic compare, NTLMv2 response from the password)
    from exchangelib.errors import UnauthorizedError
    wrong = Configuration(service_endpoint=sim.url("cas1"), credentials=Credentials(user, "wrong"),
                          auth_type=config.auth_type, version=alice.version)
    before = int(sim.counters()["auth_failed"])
    try:
        list(account(sim, wrong, "alice@example.com").calendar.view(
            start=now, end=now + datetime.timedelta(days=1)))
        fail("a wrong password was accepted")
    except UnauthorizedError:
        check(int(sim.counters()["auth_failed"]) > before, "auth_failed not counted")
        print("wrong password: UnauthorizedError")
    close_connections()


if __name__ == "__main__":
    if os.environ.get("EWS_SIM_DEBUG"):
        logging.basicConfig(level=logging.DEBUG)
    main()
