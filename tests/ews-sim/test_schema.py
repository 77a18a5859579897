"""Every EWS answer type ews-sim produces validates against the Exchange schema in
$CP_SHARED_DIR/ews-reference/schema (xmllint with the driver schema; whole envelopes, so every
Header and Body child is checked strictly). Skips (exit 77) when the schema is absent.
Autodiscover answers are not checked: no Autodiscover XSD is published."""
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simlib import STANDARD, Sim, check, envelope, fail  # noqa: E402

SHARED = os.environ.get("CP_SHARED_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "..",
                                                       "shared"))
DRIVER = os.path.join(SHARED, "ews-reference", "schema", "validate-exchange_se_15.2.2562.17.xsd")
DRIVER_2010 = os.path.join(SHARED, "ews-reference", "schema", "validate-exchange2010_sp2.xsd")

CAL = '<m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds>'
SHAPE = "<m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape>"
EVENTS = ("<t:EventTypes><t:EventType>CreatedEvent</t:EventType><t:EventType>ModifiedEvent"
          "</t:EventType><t:EventType>DeletedEvent</t:EventType></t:EventTypes>")


class Receiver(http.server.BaseHTTPRequestHandler):
    bodies = []

    def do_POST(self):
        Receiver.bodies.append(self.rfile.read(int(self.headers["Content-Length"])).decode())
        out = (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
               b'<m:SendNotificationResult xmlns:m="http://schemas.microsoft.com/exchange/services/'
               b'2006/messages"><m:SubscriptionStatus>OK</m:SubscriptionStatus>'
               b"</m:SendNotificationResult></s:Body></s:Envelope>")
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


def main():
    if not os.path.exists(DRIVER) or not shutil.which("xmllint"):
        print("SKIP: Exchange schema (%s) or xmllint absent" % DRIVER)
        sys.exit(77)
    sim = Sim(args=["--time-scale", "60", "--heartbeat", "1"], lines=STANDARD + [
        'item add alice@example.com +1h +2h busy "Daily" daily count=4 location="Room 1"',
        "item exception 0 1 +26h +27h oof",
        'item add alice@example.com +3h +4h elsewhere "Remote"',
        'item add alice@example.com +5h +6h tentative "Tent & <more>"',
        'item add alice@example.com +30h +31h busy "Weekly" weekly',
        'item add alice@example.com +7h +8h free "Lunch"',
        'item add alice@example.com +9h +10h nodata "Unknown"',
    ])
    outdir = os.path.join(sim.dir, "answers")
    os.makedirs(outdir)
    answers = {}
    try:
        collect(sim, answers)
    finally:
        rc, log = sim.stop()
        if rc != 0:
            print(log, file=sys.stderr)
            fail("ews-sim exited with %d" % rc)
    files = []
    for name, body in sorted(answers.items()):
        path = os.path.join(outdir, name + ".xml")
        with open(path, "w") as f:
            f.write(body)
        files.append(path)
    r = subprocess.run(["xmllint", "--noout", "--schema", DRIVER] + files, capture_output=True,
                       text=True)
    bad = [l for l in r.stderr.splitlines() if not l.endswith(" validates")]
    if r.returncode != 0 or bad:
        print("\n".join(bad), file=sys.stderr)
        fail("%d answers do not validate" % sum(l.endswith(" fails to validate") for l in bad))
    # answers to Exchange2010_SP2 requests must also fit the 2010 SP2 schema
    old = [f for f in files if not re.search(r"(2013|convertid)", os.path.basename(f))]
    r = subprocess.run(["xmllint", "--noout", "--schema", DRIVER_2010] + old, capture_output=True,
                       text=True)
    bad = [l for l in r.stderr.splitlines() if not l.endswith(" validates")]
    if r.returncode != 0 or bad:
        print("\n".join(bad), file=sys.stderr)
        fail("%d answers do not validate against the 2010 SP2 schema"
             % sum(l.endswith(" fails to validate") for l in bad))
    print("ok: %d answer types validate against %s, %d against %s"
          % (len(files), os.path.basename(DRIVER), len(old), os.path.basename(DRIVER_2010)))


def post(sim, answers, name, body, status=200, **kw):
    st, text = sim.post(envelope(body, **kw))
    check(st == status, "%s: HTTP %d, expected %d: %s" % (name, st, status, text[:300]))
    answers[name] = text
    return text


def collect(sim, answers):
    A = {"impersonate": "alice@example.com"}
    post(sim, answers, "finditem-view",
         '<m:FindItem Traversal="Shallow">%s<m:CalendarView StartDate="2020-01-01T00:00:00Z" '
         'EndDate="2030-01-01T00:00:00Z"/>%s</m:FindItem>' % (SHAPE, CAL), **A)
    post(sim, answers, "finditem-view-2013",
         '<m:FindItem Traversal="Shallow">%s<m:CalendarView MaxEntriesReturned="2" '
         'StartDate="2020-01-01T00:00:00Z" EndDate="2030-01-01T00:00:00Z"/>%s</m:FindItem>'
         % (SHAPE, CAL), version="Exchange2013", **A)
    text = post(sim, answers, "finditem-masters",
                '<m:FindItem Traversal="Shallow">%s%s</m:FindItem>' % (SHAPE, CAL), **A)
    ids = re.findall(r'<t:ItemId Id="([^"]+)"', text)
    post(sim, answers, "finditem-toobig",
         '<m:FindItem Traversal="Shallow">%s<m:CalendarView StartDate="2020-01-01T00:00:00Z" '
         'EndDate="2029-01-01T00:00:00Z"/>%s</m:FindItem>' % (SHAPE, CAL), **A)
    post(sim, answers, "finditem-inbox",
         '<m:FindItem Traversal="Shallow">%s<m:ParentFolderIds><t:DistinguishedFolderId '
         'Id="inbox"/></m:ParentFolderIds></m:FindItem>' % SHAPE, **A)
    post(sim, answers, "getitem",
         "<m:GetItem>%s<m:ItemIds>%s<t:ItemId Id=\"AAAA\"/></m:ItemIds></m:GetItem>"
         % (SHAPE, "".join('<t:ItemId Id="%s"/>' % i for i in ids)), **A)
    post(sim, answers, "getfolder",
         '<m:GetFolder><m:FolderShape><t:BaseShape>AllProperties</t:BaseShape></m:FolderShape>'
         '<m:FolderIds><t:DistinguishedFolderId Id="calendar"/><t:DistinguishedFolderId '
         'Id="inbox"/><t:DistinguishedFolderId Id="root"/><t:DistinguishedFolderId Id="contacts"/>'
         '<t:FolderId Id="bad"/></m:FolderIds></m:GetFolder>', **A)
    post(sim, answers, "availability",
         "<m:GetUserAvailabilityRequest><t:TimeZone><t:Bias>-60</t:Bias><t:StandardTime><t:Bias>0"
         "</t:Bias><t:Time>03:00:00</t:Time><t:DayOrder>5</t:DayOrder><t:Month>10</t:Month>"
         "<t:DayOfWeek>Sunday</t:DayOfWeek></t:StandardTime><t:DaylightTime><t:Bias>-60</t:Bias>"
         "<t:Time>02:00:00</t:Time><t:DayOrder>5</t:DayOrder><t:Month>3</t:Month><t:DayOfWeek>"
         "Sunday</t:DayOfWeek></t:DaylightTime></t:TimeZone><m:MailboxDataArray>"
         + "".join("<t:MailboxData><t:Email><t:Address>%s</t:Address></t:Email><t:AttendeeType>"
                   "Required</t:AttendeeType></t:MailboxData>" % a
                   for a in ("alice@example.com", "bob@example.com", "ghost@example.com"))
         + "</m:MailboxDataArray><t:FreeBusyViewOptions><t:TimeWindow><t:StartTime>"
         "2020-01-01T00:00:00</t:StartTime><t:EndTime>2030-01-01T00:00:00</t:EndTime>"
         "</t:TimeWindow><t:MergedFreeBusyIntervalInMinutes>30</t:MergedFreeBusyIntervalInMinutes>"
         "<t:RequestedView>Detailed</t:RequestedView></t:FreeBusyViewOptions>"
         "</m:GetUserAvailabilityRequest>")
    now = time.strftime("%Y-%m-%dT%H:00:00", time.gmtime())
    later = time.strftime("%Y-%m-%dT%H:00:00", time.gmtime(time.time() + 86400))
    post(sim, answers, "availability-merged",
         "<m:GetUserAvailabilityRequest><t:TimeZone><t:Bias>0</t:Bias><t:StandardTime><t:Bias>0"
         "</t:Bias><t:Time>00:00:00</t:Time><t:DayOrder>1</t:DayOrder><t:Month>1</t:Month>"
         "<t:DayOfWeek>Sunday</t:DayOfWeek></t:StandardTime><t:DaylightTime><t:Bias>0</t:Bias>"
         "<t:Time>00:00:00</t:Time><t:DayOrder>1</t:DayOrder><t:Month>1</t:Month><t:DayOfWeek>"
         "Sunday</t:DayOfWeek></t:DaylightTime></t:TimeZone><m:MailboxDataArray><t:MailboxData>"
         "<t:Email><t:Address>alice@example.com</t:Address></t:Email><t:AttendeeType>Required"
         "</t:AttendeeType></t:MailboxData></m:MailboxDataArray><t:FreeBusyViewOptions>"
         "<t:TimeWindow><t:StartTime>%s</t:StartTime><t:EndTime>%s</t:EndTime></t:TimeWindow>"
         "<t:RequestedView>DetailedMerged</t:RequestedView></t:FreeBusyViewOptions>"
         "</m:GetUserAvailabilityRequest>" % (now, later))
    post(sim, answers, "convertid",
         '<m:ConvertId DestinationFormat="EntryId"><m:SourceIds><t:AlternateId Format="EwsId" '
         'Id="DUMMY" Mailbox="DUMMY"/></m:SourceIds></m:ConvertId>', version="Exchange2016")
    post(sim, answers, "resolvenames",
         '<m:ResolveNames ReturnFullContactData="false"><m:UnresolvedEntry>alice@example.com'
         "</m:UnresolvedEntry></m:ResolveNames>")
    post(sim, answers, "resolvenames-none",
         '<m:ResolveNames ReturnFullContactData="false"><m:UnresolvedEntry>nobody'
         "</m:UnresolvedEntry></m:ResolveNames>")
    post(sim, answers, "timezones",
         '<m:GetServerTimeZones ReturnFullTimeZoneData="true"><m:Ids><t:Id>UTC</t:Id><t:Id>Mars'
         "</t:Id></m:Ids></m:GetServerTimeZones>")
    # faults
    post(sim, answers, "fault-version", "<m:GetFolder/>", status=500, version="Exchange2099")
    post(sim, answers, "fault-nomailbox", "<m:GetFolder/>", status=500,
         impersonate="ghost@example.com")
    sim.ok("fault add busy 2500 count=1")
    post(sim, answers, "fault-busy", "<m:GetFolder/>", status=500, **A)
    post(sim, answers, "fault-unknown-op", "<m:FrobnicateItem/>", status=500)
    sim.ok("fault add message ErrorInternalServerError inner=ErrorServerBusy backoff=900 "
           "op=FindItem count=1")
    post(sim, answers, "fault-message-finditem",
         '<m:FindItem Traversal="Shallow">%s%s</m:FindItem>' % (SHAPE, CAL), **A)
    sim.ok("fault add message ErrorMailboxStoreUnavailable op=GetUserAvailabilityRequest count=1")
    post(sim, answers, "fault-message-availability",
         "<m:GetUserAvailabilityRequest><t:TimeZone><t:Bias>0</t:Bias><t:StandardTime><t:Bias>0"
         "</t:Bias><t:Time>00:00:00</t:Time><t:DayOrder>1</t:DayOrder><t:Month>1</t:Month>"
         "<t:DayOfWeek>Sunday</t:DayOfWeek></t:StandardTime><t:DaylightTime><t:Bias>0</t:Bias>"
         "<t:Time>00:00:00</t:Time><t:DayOrder>1</t:DayOrder><t:Month>1</t:Month><t:DayOfWeek>"
         "Sunday</t:DayOfWeek></t:DaylightTime></t:TimeZone><m:MailboxDataArray><t:MailboxData>"
         "<t:Email><t:Address>alice@example.com</t:Address></t:Email><t:AttendeeType>Required"
         "</t:AttendeeType></t:MailboxData></m:MailboxDataArray><t:FreeBusyViewOptions>"
         "<t:TimeWindow><t:StartTime>2026-01-01T00:00:00</t:StartTime><t:EndTime>"
         "2026-01-02T00:00:00</t:EndTime></t:TimeWindow><t:RequestedView>FreeBusy"
         "</t:RequestedView></t:FreeBusyViewOptions></m:GetUserAvailabilityRequest>")
    # pull
    text = post(sim, answers, "subscribe-pull",
                "<m:Subscribe><m:PullSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId "
                'Id="calendar"/></t:FolderIds>%s<t:Timeout>10</t:Timeout>'
                "</m:PullSubscriptionRequest></m:Subscribe>" % EVENTS, **A)
    sub = re.search(r"<m:SubscriptionId>([^<]+)<", text).group(1)
    wm = re.search(r"<m:Watermark>([^<]+)<", text).group(1)
    post(sim, answers, "subscribe-badwatermark",
         "<m:Subscribe><m:PullSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId "
         'Id="calendar"/></t:FolderIds>%s<t:Watermark>AAAA</t:Watermark><t:Timeout>10</t:Timeout>'
         "</m:PullSubscriptionRequest></m:Subscribe>" % EVENTS, **A)
    sim.ok('item add alice@example.com +8h +9h busy "New"')
    sim.ok("item move 1 +9h +10h")
    post(sim, answers, "getevents",
         "<m:GetEvents><m:SubscriptionId>%s</m:SubscriptionId><m:Watermark>%s</m:Watermark>"
         "</m:GetEvents>" % (sub, wm), **A)
    post(sim, answers, "getevents-status",
         "<m:GetEvents><m:SubscriptionId>%s</m:SubscriptionId><m:Watermark>%s</m:Watermark>"
         "</m:GetEvents>" % (sub, wm), **A)
    post(sim, answers, "unsubscribe",
         "<m:Unsubscribe><m:SubscriptionId>%s</m:SubscriptionId></m:Unsubscribe>" % sub, **A)
    post(sim, answers, "getevents-notfound",
         "<m:GetEvents><m:SubscriptionId>%s</m:SubscriptionId><m:Watermark>%s</m:Watermark>"
         "</m:GetEvents>" % (sub, wm), **A)
    post(sim, answers, "unsubscribe-notfound",
         "<m:Unsubscribe><m:SubscriptionId>%s</m:SubscriptionId></m:Unsubscribe>" % sub, **A)
    # streaming: events, heartbeat and Closed frames in one chunked answer
    text = post(sim, answers, "subscribe-streaming",
                "<m:Subscribe><m:StreamingSubscriptionRequest><t:FolderIds>"
                '<t:DistinguishedFolderId Id="calendar"/></t:FolderIds>%s'
                "</m:StreamingSubscriptionRequest></m:Subscribe>" % EVENTS, **A)
    ssub = re.search(r"<m:SubscriptionId>([^<]+)<", text).group(1)
    sim.ok('item add alice@example.com +10h +11h busy "Streamed"')
    t0 = time.time()
    st, text = sim.post(envelope(
        "<m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>%s</t:SubscriptionId>"
        "</m:SubscriptionIds><m:ConnectionTimeout>1</m:ConnectionTimeout></m:GetStreamingEvents>"
        % ssub, **A))
    frames = [f + "</s:Envelope>" for f in text.split("</s:Envelope>") if f.strip()]
    check(st == 200 and len(frames) >= 2, "streaming frames: %r" % frames)
    check("CreatedEvent" in frames[0] and "Closed" in frames[-1], "streaming frames %r" % frames)
    check(time.time() - t0 < 30, "streaming did not close")
    for i, f in enumerate(frames):
        answers["streaming-frame-%d" % i] = f
    post(sim, answers, "streaming-error",
         "<m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>AAAA</t:SubscriptionId>"
         "</m:SubscriptionIds><m:ConnectionTimeout>1</m:ConnectionTimeout></m:GetStreamingEvents>",
         **A)
    # push: the SendNotification bodies the receiver got
    srv = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    post(sim, answers, "subscribe-push",
         "<m:Subscribe><m:PushSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId "
         'Id="calendar"/></t:FolderIds>%s<t:StatusFrequency>1</t:StatusFrequency>'
         "<t:URL>http://127.0.0.1:%d/notify</t:URL></m:PushSubscriptionRequest></m:Subscribe>"
         % (EVENTS, srv.server_address[1]), **A)
    post(sim, answers, "subscribe-push-badurl",
         "<m:Subscribe><m:PushSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId "
         'Id="calendar"/></t:FolderIds>%s<t:StatusFrequency>1</t:StatusFrequency>'
         "<t:URL>ftp://x/</t:URL></m:PushSubscriptionRequest></m:Subscribe>" % EVENTS, **A)
    sim.ok('item add alice@example.com +12h +13h busy "Pushed"')
    deadline = time.time() + 30
    while time.time() < deadline and not (
            any("CreatedEvent" in b for b in Receiver.bodies) and
            any("StatusEvent" in b for b in Receiver.bodies)):
        time.sleep(0.1)
    srv.shutdown()
    check(any("StatusEvent" in b for b in Receiver.bodies), "no push StatusEvent")
    for i, b in enumerate(Receiver.bodies[:3]):
        answers["sendnotification-%d" % i] = b


if __name__ == "__main__":
    main()
