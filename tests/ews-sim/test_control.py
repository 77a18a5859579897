"""ews-sim's control protocol, authentication details, fault injection, throttling, mailbox
moves, CAS stop/start and push retries, through raw HTTPS requests and control lines."""
import base64
import http.client
import http.server
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simlib import SIM, STANDARD, Sim, check, envelope, fail, free_port  # noqa: E402

A = {"impersonate": "alice@example.com"}
CAL = '<m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds>'
EVENTS = "<t:EventTypes><t:EventType>CreatedEvent</t:EventType></t:EventTypes>"


def view(start=None, end=None, maxn=None):
    """A CalendarView request from a day ago to a year ahead."""
    start = start or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 86400))
    end = end or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 365 * 86400))
    m = ' MaxEntriesReturned="%d"' % maxn if maxn else ""
    return ('<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>'
            '</m:ItemShape><m:CalendarView%s StartDate="%s" EndDate="%s"/>%s</m:FindItem>'
            % (m, start, end, CAL))


def subjects(text):
    return re.findall(r"<t:Subject>([^<]*)</t:Subject>", text)


def code(text):
    m = re.search(r"<m:ResponseCode>(\w+)<|<e:ResponseCode[^>]*>(\w+)<", text)
    return m and (m.group(1) or m.group(2))


def subscribe_pull(sim, cas="cas1", mailbox="alice@example.com"):
    st, text = sim.post(envelope(
        "<m:Subscribe><m:PullSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId "
        'Id="calendar"/></t:FolderIds>%s<t:Timeout>10</t:Timeout></m:PullSubscriptionRequest>'
        "</m:Subscribe>" % EVENTS, impersonate=mailbox), cas=cas)
    check(code(text) == "NoError", "subscribe: %s" % text)
    return (re.search(r"<m:SubscriptionId>([^<]+)<", text).group(1),
            re.search(r"<m:Watermark>([^<]+)<", text).group(1))


def get_events(sim, sub, wm, cas="cas1"):
    return sim.post(envelope("<m:GetEvents><m:SubscriptionId>%s</m:SubscriptionId><m:Watermark>"
                             "%s</m:Watermark></m:GetEvents>" % (sub, wm), **A), cas=cas)[1]


def test_control_lines(sim):
    check(sim.control("frobnicate")[-1].startswith("error"), "unknown command accepted")
    check(sim.control("item add alice@example.com +1h -1h busy X")[-1].startswith("error"),
          "reversed time range accepted")
    check(sim.control("item add ghost@example.com +1h +2h busy X")[-1].startswith("error"),
          "unknown mailbox accepted")
    check(sim.control('item add alice@example.com "+1h +2h busy')[-1].startswith("error"),
          "unbalanced quote accepted")
    ans = sim.ok('item add alice@example.com +1h +2h busy "Design review" location="Room \\"7\\""')
    item = ans[-1].split()[1]
    st, text = sim.post(envelope(view(), **A))
    check(st == 200 and "Design review" in subjects(text), "item add not visible: %s" % text)
    check('Room "7"' in text or "Room &quot;7&quot;" in text, "location lost")
    sim.ok("item change %s subject=Renamed busy=oof" % item)
    text = sim.post(envelope(view(), **A))[1]
    check("Renamed" in subjects(text) and "OOF" in text, "item change: %s" % text)
    sim.ok("item cancel %s" % item)
    text = sim.post(envelope(view(), **A))[1]
    check("<t:IsCancelled>true</t:IsCancelled>" in text, "item cancel")
    sim.ok("item delete %s" % item)
    text = sim.post(envelope(view(), **A))[1]
    check("Renamed" not in subjects(text), "item delete")
    # a series with a moved and a deleted occurrence; MaxEntriesReturned truncates
    series = sim.ok('item add alice@example.com +1h +2h busy "Daily" daily count=4')[-1].split()[1]
    sim.ok("item exception %s 1 +30h +31h tentative" % series)
    sim.ok("item exception %s 2 delete" % series)
    text = sim.post(envelope(view(), **A))[1]
    kinds = re.findall(r"<t:CalendarItemType>(\w+)<", text)
    check(kinds.count("Occurrence") == 2 and kinds.count("Exception") == 1, "series %r" % kinds)
    check('TotalItemsInView="3"' in text and 'IncludesLastItemInRange="true"' in text, "total")
    text = sim.post(envelope(view(maxn=2), **A))[1]
    check(len(subjects(text)) == 2 and 'IncludesLastItemInRange="false"' in text,
          "MaxEntriesReturned: %s" % text)
    sim.ok("item delete %s" % series)
    ans = sim.ok("mailbox show alice@example.com")
    check("upn=alice@corp.example.com" in ans[0] and "cas=cas1" in ans[0], "mailbox show %r" % ans)
    # impersonation by UPN and SID reaches the same mailbox
    sid = re.search(r"sid=(\S+)", ans[0]).group(1)
    for key, elem in (("alice@corp.example.com", "PrincipalName"), (sid, "SID")):
        body = envelope(view()).replace(
            "</s:Header>", "<t:ExchangeImpersonation><t:ConnectingSID><t:%s>%s</t:%s>"
            "</t:ConnectingSID></t:ExchangeImpersonation></s:Header>" % (elem, key, elem))
        st, text = sim.post(body)
        check(st == 200 and code(text) == "NoError", "impersonation by %s: %s" % (elem, text))
    c = sim.counters()
    check(int(c["anchor_missing"]) > 0 and c["anchor_mismatch"] == "0", "anchor counters %r" % c)
    sim.post(envelope(view(), **A), headers={"X-AnchorMailbox": "bob@example.com"})
    check(sim.counters()["anchor_mismatch"] == "1", "X-AnchorMailbox mismatch not counted")
    print("control lines: ok")


def read_frame(resp, want, timeout=30):
    """Reads a chunked streaming answer until a frame containing want arrives."""
    data, deadline = "", time.time() + timeout
    while time.time() < deadline:
        try:
            chunk = resp.read1(65536).decode()
        except (http.client.IncompleteRead, ConnectionError):
            chunk = ""
        if not chunk:
            return data, False
        data += chunk
        if any(want in f for f in data.split("</s:Envelope>")[:-1]):
            return data, True
    return data, False


def open_stream(sim, mailbox, cas):
    st, text = sim.post(envelope(
        "<m:Subscribe><m:StreamingSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId "
        'Id="calendar"/></t:FolderIds>%s</m:StreamingSubscriptionRequest></m:Subscribe>' % EVENTS,
        impersonate=mailbox), cas=cas)
    sub = re.search(r"<m:SubscriptionId>([^<]+)<", text).group(1)
    c = sim.connection(cas)
    body = envelope("<m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>%s"
                    "</t:SubscriptionId></m:SubscriptionIds><m:ConnectionTimeout>30"
                    "</m:ConnectionTimeout></m:GetStreamingEvents>" % sub, impersonate=mailbox)
    c.request("POST", "/EWS/Exchange.asmx", body=body, headers={
        "Content-Type": "text/xml", "Authorization": "Basic " + base64.b64encode(
            b"svc@example.com:Secret1").decode()})
    r = c.getresponse()
    check(r.status == 200 and r.getheader("Transfer-Encoding") == "chunked", "stream answer")
    return c, r


def test_streams_and_stops(sim):
    """Open streams and held requests survive mailbox moves and CAS stops cleanly."""
    c, r = open_stream(sim, "carol@example.com", "cas1")
    sim.ok('item add carol@example.com +1h +2h busy "Streamed"')
    data, ok = read_frame(r, "CreatedEvent")
    check(ok, "no CreatedEvent frame: %r" % data)
    sim.ok("mailbox move carol@example.com cas2")
    data, ok = read_frame(r, "ErrorReadEventsFailed")
    check(ok, "no ErrorReadEventsFailed frame after the move: %r" % data)
    c.close()
    c, r = open_stream(sim, "bob@example.com", "cas2")
    sim.ok("fault add delay 5000 cas=cas2 count=1")
    held = {}
    t = threading.Thread(target=lambda: held.update(r=_try_post(sim, "cas2")))
    t.start()
    time.sleep(0.5)
    sim.ok("cas stop cas2")
    data, ok = read_frame(r, "never", timeout=10)
    check(not ok, "stream still open after cas stop")
    t.join()
    check(held["r"] == "closed", "held request on a stopped CAS: %r" % held)
    sim.ok("cas start cas2")
    sim.ok("fault clear")
    st, _ = sim.post(envelope(view(), **A), cas="cas2")
    check(st == 200, "cas2 after restart: %d" % st)
    # a DOCTYPE is refused before parsing
    st, text = sim.post('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>'
                        + envelope(view(), **A).split("?>", 1)[1])
    check(st == 500 and "ErrorSchemaValidation" in text, "DOCTYPE: %d %s" % (st, text[:200]))
    print("streams, stops, DOCTYPE: ok")


def _try_post(sim, cas):
    try:
        return sim.post(envelope(view(), **A), cas=cas)[0]
    except (http.client.RemoteDisconnected, ConnectionResetError, http.client.BadStatusLine):
        return "closed"


MALFORMED_OPS = [
    "<m:FindItem/>",
    "<m:FindItem><m:CalendarView/>%s</m:FindItem>" % CAL,
    "<m:FindItem><m:CalendarView StartDate='x' EndDate='y'/><m:ParentFolderIds><t:FolderId/>"
    "</m:ParentFolderIds></m:FindItem>",
    "<m:FindItem><m:ParentFolderIds><t:DistinguishedFolderId Id='calendar'><t:Mailbox>"
    "<t:EmailAddress>ghost@x</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId>"
    "</m:ParentFolderIds></m:FindItem>",
    "<m:GetItem/>",
    "<m:GetItem><m:ItemIds><t:ItemId/><t:ItemId Id=''/><t:ItemId Id='QVFNawAAAAAAAAAAAQAAAA=='/>"
    "<t:ItemId Id='QVFNa/////////////////w=='/></m:ItemIds></m:GetItem>",
    "<m:GetFolder/>",
    "<m:GetFolder><m:FolderIds><t:DistinguishedFolderId/><t:FolderId Id='QVFGawAAAAAAAAAA'/>"
    "<t:FolderId Id='QVFGa///////////'/></m:FolderIds></m:GetFolder>",
    "<m:GetUserAvailabilityRequest/>",
    "<m:GetUserAvailabilityRequest><m:MailboxDataArray><t:MailboxData/></m:MailboxDataArray>"
    "<t:FreeBusyViewOptions><t:TimeWindow><t:StartTime>2026-01-01T00:00:00</t:StartTime>"
    "<t:EndTime>2026-01-02T00:00:00</t:EndTime></t:TimeWindow><t:MergedFreeBusyIntervalInMinutes>"
    "-5</t:MergedFreeBusyIntervalInMinutes><t:RequestedView>Merged</t:RequestedView>"
    "</t:FreeBusyViewOptions></m:GetUserAvailabilityRequest>",
    "<m:Subscribe/>",
    "<m:Subscribe><m:PushSubscriptionRequest/></m:Subscribe>",
    "<m:Subscribe><m:PushSubscriptionRequest><t:URL>http://:99999999/</t:URL>"
    "</m:PushSubscriptionRequest></m:Subscribe>",
    "<m:Subscribe><m:PullSubscriptionRequest><t:FolderIds><t:FolderId Id='!!'/></t:FolderIds>"
    "<t:Watermark>!!</t:Watermark></m:PullSubscriptionRequest></m:Subscribe>",
    "<m:GetEvents/>",
    "<m:GetEvents><m:SubscriptionId>U1VCAP////////////////////8=</m:SubscriptionId></m:GetEvents>",
    "<m:GetStreamingEvents/>",
    "<m:GetStreamingEvents><m:SubscriptionIds>" + "<t:SubscriptionId>x</t:SubscriptionId>" * 250
    + "</m:SubscriptionIds></m:GetStreamingEvents>",
    "<m:Unsubscribe/>", "<m:ConvertId/>", "<m:ResolveNames/>",
    "<m:ResolveNames><m:UnresolvedEntry/></m:ResolveNames>",
    "<m:GetServerTimeZones><m:Ids><t:Id/></m:Ids></m:GetServerTimeZones>", "",
]


def test_malformed(sim):
    """Requests with missing or absurd parts get a SOAP answer (200 or 500), never a crash."""
    for op in MALFORMED_OPS:
        for imp in (None, "alice@example.com"):
            st, text = sim.post(envelope(op, impersonate=imp, version="Exchange2016"))
            check(st in (200, 500) and "</s:Envelope>" in text, "%r: %d %s" % (op[:60], st, text))
    for raw in ["", "garbage", "<a/>", "<" * 100000,
                '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"/>',
                '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>'
                '<t:RequestServerVersion xmlns:t="http://schemas.microsoft.com/exchange/services/'
                '2006/types"/><t:ExchangeImpersonation xmlns:t="http://schemas.microsoft.com/'
                'exchange/services/2006/types"/></s:Header><s:Body><m:FindItem xmlns:m="http://'
                'schemas.microsoft.com/exchange/services/2006/messages"/></s:Body></s:Envelope>']:
        st, text = sim.post(raw)
        check(st == 500 and "<s:Fault>" in text, "raw %r: %d" % (raw[:40], st))
    for path in ("/autodiscover/autodiscover.xml", "/autodiscover/autodiscover.svc"):
        for raw in ["", "x", "<a><EMailAddress/></a>", "<a><Users><User/></Users></a>"]:
            st, _ = sim.post(raw, path=path)
            check(st in (200, 500), "%s %r: %d" % (path, raw, st))
    check(sim.control("ping") == ["ok"], "simulator alive after malformed requests")
    print("malformed requests: ok")


def test_auth(sim):
    c = sim.connection()
    c.request("POST", "/EWS/Exchange.asmx", body=envelope(view(), **A))
    r = c.getresponse()
    r.read()
    schemes = r.headers.get_all("WWW-Authenticate")
    check(r.status == 401 and schemes == ["Negotiate", "NTLM", 'Basic realm="127.0.0.1"'],
          "401 challenge %d %r" % (r.status, schemes))
    st, _ = sim.post(envelope(view(), **A), password="wrong")
    check(st == 401, "wrong Basic password: %d" % st)
    st, text = sim.post(envelope(view(), **A), user=None,
                        headers={"Authorization": "Bearer tok-123"})
    check(st == 200 and code(text) == "NoError", "bearer: %d" % st)
    st, _ = sim.post(envelope(view(), **A), user=None, headers={"Authorization": "Bearer nope"})
    check(st == 401, "bad bearer: %d" % st)
    # NTLM authenticates the TCP connection, not the request. ntlm_auth needs hashlib's MD4,
    # which OpenSSL 3 keeps in the legacy provider: cryptography's backend loads it.
    from cryptography.hazmat.backends import default_backend
    from ntlm_auth.ntlm import NtlmContext
    default_backend()
    ctx = NtlmContext("svc", "Secret1", domain="EXAMPLE", ntlm_compatibility=3)
    c = sim.connection()
    tok = base64.b64encode(ctx.step()).decode()
    c.request("POST", "/EWS/Exchange.asmx", body=envelope(view(), **A),
              headers={"Authorization": "NTLM " + tok})
    r = c.getresponse()
    r.read()
    chal = r.headers.get("WWW-Authenticate", "")
    check(r.status == 401 and chal.startswith("NTLM "), "type-2: %d %r" % (r.status, chal))
    tok = base64.b64encode(ctx.step(base64.b64decode(chal[5:]))).decode()
    c.request("POST", "/EWS/Exchange.asmx", body=envelope(view(), **A),
              headers={"Authorization": "NTLM " + tok})
    r = c.getresponse()
    check(r.status == 200 and code(r.read().decode()) == "NoError", "type-3: %d" % r.status)
    c.request("POST", "/EWS/Exchange.asmx", body=envelope(view(), **A))
    r = c.getresponse()
    r.read()
    check(r.status == 200, "same connection after NTLM: %d" % r.status)
    c.close()
    c = sim.connection()
    c.request("POST", "/EWS/Exchange.asmx", body=envelope(view(), **A))
    r = c.getresponse()
    r.read()
    check(r.status == 401, "new connection without NTLM: %d" % r.status)
    # a wrong password gives a type-3 that does not verify
    ctx = NtlmContext("svc", "Wrong", domain="EXAMPLE", ntlm_compatibility=3)
    c = sim.connection()
    c.request("POST", "/EWS/Exchange.asmx", body=envelope(view(), **A),
              headers={"Authorization": "NTLM " + base64.b64encode(ctx.step()).decode()})
    r = c.getresponse()
    r.read()
    chal = r.headers.get("WWW-Authenticate", "")
    c.request("POST", "/EWS/Exchange.asmx", body=envelope(view(), **A), headers={
        "Authorization": "NTLM " + base64.b64encode(ctx.step(base64.b64decode(chal[5:]))).decode()})
    r = c.getresponse()
    r.read()
    check(r.status == 401, "NTLM with a wrong password: %d" % r.status)
    print("auth: ok")


def test_faults(sim):
    sim.ok("fault add busy 1234 op=FindItem count=2")
    for _ in range(2):
        st, text = sim.post(envelope(view(), **A))
        check(st == 500 and "ErrorServerBusy" in text and
              '<t:Value Name="BackOffMilliseconds">1234</t:Value>' in text, "busy: %s" % text)
    st, text = sim.post(envelope(view(), **A))
    check(st == 200, "busy fault outlived count=2")
    sim.ok("fault add 503 mailbox=bob@example.com")
    st, _ = sim.post(envelope(view(), impersonate="bob@example.com"))
    check(st == 503, "503 for bob: %d" % st)
    st, _ = sim.post(envelope(view(), **A))
    check(st == 200, "503 hit alice too")
    sim.ok("fault clear")
    st, _ = sim.post(envelope(view(), impersonate="bob@example.com"))
    check(st == 200, "fault clear: %d" % st)
    sim.ok("fault add delay 700 count=1")
    t0 = time.time()
    st, _ = sim.post(envelope(view(), **A))
    check(st == 200 and time.time() - t0 >= 0.7, "delay: %d after %.2f s" % (st, time.time() - t0))
    sim.ok("fault add drop count=1")
    try:
        sim.post(envelope(view(), **A))
        fail("drop: an answer came")
    except (http.client.RemoteDisconnected, ConnectionResetError, http.client.BadStatusLine):
        pass
    sim.ok("fault add malformed count=1")
    st, text = sim.post(envelope(view(), **A))
    check(st == 200 and text.rstrip().endswith("<m:ResponseMessa"), "malformed: %r" % text[-40:])
    sim.ok("fault add error ErrorMailboxStoreUnavailable op=GetFolder count=1")
    st, text = sim.post(envelope("<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape>"
                                 '</m:FolderShape><m:FolderIds><t:DistinguishedFolderId '
                                 'Id="calendar"/></m:FolderIds></m:GetFolder>', **A))
    check(st == 500 and "a:ErrorMailboxStoreUnavailable" in text, "error fault: %s" % text)
    sim.ok("fault add message ErrorInternalServerError inner=ErrorServerBusy backoff=900 "
           "op=FindItem count=1")
    st, text = sim.post(envelope(view(), **A))
    check(st == 200 and code(text) == "ErrorInternalServerError" and
          '<t:Value Name="InnerErrorResponseCode">ErrorServerBusy</t:Value>' in text and
          '<t:Value Name="BackOffMilliseconds">900</t:Value>' in text, "message fault: %s" % text)
    check(sim.control("fault add explode")[-1].startswith("error"), "unknown fault accepted")
    c = sim.counters()
    check(int(c["faults_applied"]) == 8, "faults_applied %s" % c["faults_applied"])
    print("faults: ok")


def test_throttling(sim):
    sim.ok("limit concurrency 1")
    sim.ok("limit backoff 4321")
    sim.ok("fault add delay 1500 count=1")
    first = {}
    t = threading.Thread(target=lambda: first.update(r=sim.post(envelope(view(), **A))))
    t.start()
    deadline = time.time() + 20
    while time.time() < deadline and sim.counters()["faults_applied"] == "8":
        time.sleep(0.02)
    st, text = sim.post(envelope(view(), **A))
    t.join()
    check(first["r"][0] == 200, "the delayed request: %r" % (first["r"],))
    check(st == 500 and "ErrorServerBusy" in text and ">4321<" in text, "throttled: %s" % text)
    check(sim.counters()["throttled"] == "1", "throttled counter")
    sim.ok("limit concurrency 27")
    sim.ok("limit subscriptions 1")
    subscribe_pull(sim, mailbox="carol@example.com")
    st, text = sim.post(envelope(
        "<m:Subscribe><m:PullSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId "
        'Id="calendar"/></t:FolderIds>%s<t:Timeout>10</t:Timeout></m:PullSubscriptionRequest>'
        "</m:Subscribe>" % EVENTS, impersonate="carol@example.com"))
    check(code(text) == "ErrorExceededSubscriptionCount", "EWSMaxSubscriptions: %s" % text)
    sim.ok("limit subscriptions 5000")
    print("throttling: ok")


def test_moves_and_cas(sim):
    sub, wm = subscribe_pull(sim)
    sim.ok('item add alice@example.com +2h +3h busy "Before move"')
    text = get_events(sim, sub, wm)
    check("CreatedEvent" in text, "events before the move: %s" % text)
    prev = re.search(r"<t:PreviousWatermark>([^<]+)<", text).group(1)
    wm2 = re.findall(r"<t:Watermark>([^<]+)<", text)[-1]
    check(prev == wm and wm2 != wm, "watermarks do not chain: %s %s %s" % (wm, prev, wm2))
    text = get_events(sim, sub, wm2)
    check("StatusEvent" in text and re.search(r"<t:PreviousWatermark>([^<]+)<", text).group(1)
          == wm2, "status after the last watermark: %s" % text)
    st, text = sim.post(envelope(
        "<m:GetEvents><m:SubscriptionId>%s</m:SubscriptionId><m:Watermark>%s</m:Watermark>"
        "</m:GetEvents>" % (sub, wm), **A), cas="cas2")
    check(code(text) == "ErrorSubscriptionNotFound", "other CAS: %s" % text)
    sim.ok("mailbox move alice@example.com cas2")
    text = get_events(sim, sub, wm)
    check(code(text) == "ErrorReadEventsFailed", "after move: %s" % text)
    text = get_events(sim, sub, wm)
    check(code(text) == "ErrorSubscriptionNotFound", "after move, again: %s" % text)
    st, text = sim.post('<?xml version="1.0"?><Autodiscover xmlns="http://schemas.microsoft.com/'
                        'exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>'
                        "alice@example.com</EMailAddress><AcceptableResponseSchema>http://schemas."
                        "microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
                        "</AcceptableResponseSchema></Request></Autodiscover>",
                        path="/autodiscover/autodiscover.xml")
    check(st == 200 and "<EwsUrl>https://127.0.0.1:%d/EWS/Exchange.asmx</EwsUrl>" % sim.ports["cas2"]
          in text, "POX autodiscover after move: %s" % text)
    st, text = sim.post('<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/'
                        'envelope/" xmlns:a="http://schemas.microsoft.com/exchange/2010/Autodiscover">'
                        "<s:Header><a:RequestedServerVersion>Exchange2010</a:RequestedServerVersion>"
                        "</s:Header><s:Body><a:GetUserSettingsRequestMessage><a:Request><a:Users>"
                        "<a:User><a:Mailbox>alice@example.com</a:Mailbox></a:User><a:User><a:Mailbox>"
                        "ghost@example.com</a:Mailbox></a:User></a:Users><a:RequestedSettings>"
                        "<a:Setting>ExternalEwsUrl</a:Setting></a:RequestedSettings></a:Request>"
                        "</a:GetUserSettingsRequestMessage></s:Body></s:Envelope>",
                        path="/autodiscover/autodiscover.svc")
    check(st == 200 and "127.0.0.1:%d/EWS" % sim.ports["cas2"] in text and "InvalidUser" in text,
          "SOAP autodiscover: %s" % text)
    # a stopped CAS refuses connections and forgets its subscriptions
    sub2, wm2 = subscribe_pull(sim, cas="cas2")
    sim.ok("cas stop cas2")
    try:
        sim.post(envelope(view(), **A), cas="cas2")
        fail("stopped CAS answered")
    except ConnectionRefusedError:
        pass
    st, _ = sim.post(envelope(view(), **A), cas="cas1")
    check(st == 200, "cas1 while cas2 is stopped: %d" % st)
    sim.ok("cas start cas2")
    sub3, wm3 = subscribe_pull(sim, mailbox="bob@example.com")
    ans = sim.ok("subscriptions list bob@example.com")
    check(len(ans) == 2 and ans[0].startswith("subscription %s pull bob@example.com cas1" % sub3),
          "subscriptions list %r" % ans)
    sim.ok("subscriptions forget bob@example.com")
    check(sim.ok("subscriptions list bob@example.com") == ["ok"], "forget")
    st, text = sim.post(envelope("<m:GetEvents><m:SubscriptionId>%s</m:SubscriptionId>"
                                 "<m:Watermark>%s</m:Watermark></m:GetEvents>" % (sub3, wm3),
                                 impersonate="bob@example.com"))
    check(code(text) == "ErrorSubscriptionNotFound", "forgotten subscription: %s" % text)
    text = get_events(sim, sub2, wm2, cas="cas2")
    check(code(text) == "ErrorSubscriptionNotFound", "subscription after CAS restart: %s" % text)
    c = sim.ok("counters mailbox alice@example.com")
    row = [l for l in c if l.startswith("mailbox alice@example.com ")]
    check(row and int(row[0].split()[-1]) > 10, "per-mailbox counter %r" % row)
    check(any(re.match(r"op GetEvents [1-9]", l) for l in c), "per-operation counter")
    check(any(l.startswith("cas cas2 ") and l.endswith(" running") for l in c), "cas counter")
    print("moves and CAS: ok")


class Listener(http.server.BaseHTTPRequestHandler):
    bodies = []

    def do_POST(self):
        Listener.bodies.append(self.rfile.read(int(self.headers["Content-Length"])).decode())
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


def push_subscribe(sim, url):
    st, text = sim.post(envelope(
        "<m:Subscribe><m:PushSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId "
        'Id="calendar"/></t:FolderIds>%s<t:StatusFrequency>1</t:StatusFrequency><t:URL>%s</t:URL>'
        "</m:PushSubscriptionRequest></m:Subscribe>" % (EVENTS, url), **A))
    check(code(text) == "NoError", "push subscribe: %s" % text)


def wait_counter(sim, name, value, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if int(sim.counters()[name]) >= value:
            return
        time.sleep(0.1)
    fail("counter %s never reached %d: %r" % (name, value, sim.counters()))


def test_push_timers():
    """--time-scale 60: StatusFrequency 1 min is 1 s, the first retry 0.5 s. One push connection
    allows 32 notifications in flight: the other subscriptions wait their turn."""
    sim = Sim(args=["--time-scale", "60", "--push-connections", "1"], lines=STANDARD)
    try:
        srv = http.server.HTTPServer(("127.0.0.1", 0), Listener)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        push_subscribe(sim, "http://127.0.0.1:%d/notify" % srv.server_address[1])
        deadline = time.time() + 30
        while time.time() < deadline and not any("StatusEvent" in b for b in Listener.bodies):
            time.sleep(0.1)
        check(any("StatusEvent" in b for b in Listener.bodies), "no StatusEvent without changes")
        for _ in range(59):
            push_subscribe(sim, "http://127.0.0.1:%d/notify" % srv.server_address[1])
        sim.ok('item add alice@example.com +1h +2h busy "Sixty"')
        deadline = time.time() + 60
        while time.time() < deadline and sum("CreatedEvent" in b for b in Listener.bodies) < 60:
            time.sleep(0.1)
        check(sum("CreatedEvent" in b for b in Listener.bodies) == 60,
              "60 subscriptions, %d notifications, %r" % (
                  sum("CreatedEvent" in b for b in Listener.bodies), sim.counters()))
        wms = [re.findall(r"<t:(?:Previous)?Watermark>([^<]+)<", b) for b in Listener.bodies[:2]]
        if len(wms) == 2:
            check(wms[1][0] == wms[0][-1], "PreviousWatermark does not chain: %r" % wms)
        srv.shutdown()
        srv.server_close()
        # nobody listens: retries, then the subscription is dropped
        push_subscribe(sim, "http://127.0.0.1:%d/notify" % free_port())
        sim.ok('item add alice@example.com +1h +2h busy "Nobody hears"')
        wait_counter(sim, "push_dropped", 1)
        c = sim.counters()
        check(int(c["push_failed"]) >= 2, "retries before the drop: %r" % c)
    finally:
        rc, log = sim.stop()
        check(rc == 0, "ews-sim exit %d: %s" % (rc, log))
    check("subscription dropped" in log, "drop not logged")
    print("push timers: ok")


def test_start_errors():
    d = tempfile.mkdtemp(prefix="ews-sim-")
    bad = os.path.join(d, "bad.txt")
    with open(bad, "w") as f:
        f.write("account add svc@example.com x\nitem add nobody@example.com +1h +2h busy X\n")
    r = subprocess.run([SIM, "--http", "--listen", "cas1=127.0.0.1:%d" % free_port(),
                        "--scenario", bad], capture_output=True, text=True, timeout=30)
    check(r.returncode == 1 and "%s:2: error no such mailbox" % bad in r.stderr,
          "bad scenario: %d %r" % (r.returncode, r.stderr))
    r = subprocess.run([SIM, "--listen", "cas1=127.0.0.1:%d" % free_port()], capture_output=True,
                       text=True, timeout=30)
    check(r.returncode == 1, "TLS without a certificate started")
    demo = Sim(cas=("cas1", "cas2"), args=["--scenario", os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "demo.scenario")])
    try:
        check(demo.counters()["mailboxes"] == "3", "demo scenario")
        st, text = demo.post(envelope(view(), impersonate="carol@example.com"),
                             user="svc-presence@example.com", password="Presence-Demo-1")
        check(st == 200 and len(subjects(text)) == 3, "demo calendar: %s" % text[:300])
    finally:
        demo.stop()
    sim = Sim(args=["--populate", "1000", "--http"], tls=False, lines=STANDARD)
    try:
        check(sim.counters()["mailboxes"] == "1003", "populate: %r" % sim.counters()["mailboxes"])
        st, text = sim.post(envelope(view(), impersonate="user00999@example.com"))
        check(st == 200 and len(subjects(text)) >= 3, "populated mailbox: %s" % text[:300])
    finally:
        sim.stop()
    print("start-up errors and populate: ok")
    sim = Sim(args=["--server-version", "Exchange2010_SP2"], lines=STANDARD)
    try:
        st, text = sim.post(envelope(view(), version="Exchange2013", **A))
        check(st == 500 and "a:ErrorInvalidServerVersion" in text, "2013 on 2010 SP2: %s" % text)
        st, text = sim.post(envelope(view(), version="Exchange2010_SP2", **A))
        check(st == 200 and 'MajorVersion="14"' in text and 'Version="Exchange2010_SP2"' in text,
              "2010 SP2 ServerVersionInfo: %s" % text[:400])
        st, text = sim.post(envelope(
            "<m:Subscribe><m:StreamingSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId "
            'Id="calendar"/></t:FolderIds>%s</m:StreamingSubscriptionRequest></m:Subscribe>'
            % EVENTS, version="Exchange2010", **A))
        check(code(text) == "ErrorInvalidServerVersion", "streaming with Exchange2010: %s" % text)
    finally:
        rc, log = sim.stop()
        check(rc == 0, "ews-sim exit %d: %s" % (rc, log))
    print("server version profile: ok")


def main():
    sim = Sim(cas=("cas1", "cas2"), args=["--auth", "negotiate,ntlm,basic,bearer"],
              lines=STANDARD + ["account add EXAMPLE\\svc Secret1",
                                "account impersonate EXAMPLE\\svc all",
                                "token add tok-123 svc@example.com"])
    try:
        test_control_lines(sim)
        test_auth(sim)
        test_faults(sim)
        test_throttling(sim)
        test_moves_and_cas(sim)
        test_streams_and_stops(sim)
        test_malformed(sim)
    finally:
        rc, log = sim.stop()
        if rc != 0:
            print(log, file=sys.stderr)
            fail("ews-sim exited with %d" % rc)
    test_push_timers()
    test_start_errors()
    print("ok: control protocol and fault injection")


if __name__ == "__main__":
    main()
