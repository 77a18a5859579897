"""ews-sim benchmark: 100,000 populated mailboxes, thousands of push subscriptions, push
notification throughput to a minimal asyncio listener, FindItem and GetUserAvailability rates,
and the simulator's memory. Prints figures; never fails on timing.
Usage: bench.py [MAILBOXES] [SUBSCRIPTIONS]"""
import asyncio
import http.client
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simlib import Sim, check, envelope  # noqa: E402

MAILBOXES = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
SUBS = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
OK = (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
      b'<m:SendNotificationResult xmlns:m="http://schemas.microsoft.com/exchange/services/2006/'
      b'messages"><m:SubscriptionStatus>OK</m:SubscriptionStatus></m:SendNotificationResult>'
      b"</s:Body></s:Envelope>")
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n" % len(OK)
            + OK)


class Counter:
    created = 0
    total = 0


async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            n = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
            body = await reader.readexactly(n)
            Counter.total += 1
            Counter.created += body.count(b"<t:CreatedEvent>")
            writer.write(RESPONSE)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def listener(port_box):
    loop = asyncio.new_event_loop()
    srv = loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", 0))
    port_box.append(srv.sockets[0].getsockname()[1])
    loop.run_forever()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def bulk_control(sim, lines):
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(sim.control_path)
        s.sendall(("\n".join(lines) + "\n").encode())
        got, data = 0, b""
        while got < len(lines):
            data += s.recv(1 << 20)
            got = data.count(b"\nok") + data.startswith(b"ok")
    return got


def main():
    t0 = time.time()
    sim = Sim(tls=False, args=["--populate", str(MAILBOXES), "--push-connections", "8"],
              lines=["account add svc@example.com Secret1",
                     "account impersonate svc@example.com all"])
    started = time.time() - t0
    try:
        run(sim, started)
    finally:
        sim.stop()


def run(sim, started):
    pid = sim.proc.pid
    print("populate: %d mailboxes (%d items) ready in %.1f s, RSS %.1f MiB"
          % (MAILBOXES, 3 * MAILBOXES, started, rss_kib(pid) / 1024))
    box = []
    threading.Thread(target=listener, args=(box,), daemon=True).start()
    while not box:
        time.sleep(0.01)
    url = "http://127.0.0.1:%d/notify" % box[0]
    conn = http.client.HTTPConnection("127.0.0.1", sim.ports["cas1"], timeout=60)
    t = time.time()
    for i in range(1, SUBS + 1):
        st, text = sim.post(envelope(
            "<m:Subscribe><m:PushSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId "
            'Id="calendar"/></t:FolderIds><t:EventTypes><t:EventType>CreatedEvent</t:EventType>'
            "</t:EventTypes><t:StatusFrequency>30</t:StatusFrequency><t:URL>%s</t:URL>"
            "</m:PushSubscriptionRequest></m:Subscribe>" % url,
            impersonate="user%05d@example.com" % i), conn=conn)
        check(st == 200 and "NoError" in text, "subscribe %d: %s" % (i, text[:300]))
    dt = time.time() - t
    print("subscribe: %d push subscriptions in %.1f s (%.0f/s, one client), RSS %.1f MiB"
          % (SUBS, dt, SUBS / dt, rss_kib(pid) / 1024))
    for rnd in range(2):
        before = Counter.created
        lines = ['item add user%05d@example.com +%dh +%dh busy "Bench"' % (i, 2 + rnd, 3 + rnd)
                 for i in range(1, SUBS + 1)]
        t = time.time()
        bulk_control(sim, lines)
        deadline = time.time() + 120
        while Counter.created - before < SUBS and time.time() < deadline:
            time.sleep(0.005)
        dt = time.time() - t
        print("push round %d: %d changes -> %d notifications delivered in %.2f s (%.0f/s), "
              "RSS %.1f MiB" % (rnd + 1, SUBS, Counter.created - before, dt,
                                (Counter.created - before) / dt, rss_kib(pid) / 1024))
    n = 3000
    t = time.time()
    for i in range(n):
        st, text = sim.post(envelope(
            '<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>'
            '</m:ItemShape><m:CalendarView StartDate="%s" EndDate="%s"/><m:ParentFolderIds>'
            '<t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds></m:FindItem>'
            % (time.strftime("%Y-%m-%dT00:00:00Z"), time.strftime("%Y-%m-%dT23:59:59Z",
                                                                  time.gmtime(time.time() + 86400))),
            impersonate="user%05d@example.com" % (1 + i * 7 % MAILBOXES)), conn=conn)
    dt = time.time() - t
    print("FindItem CalendarView: %d requests in %.2f s (%.0f/s, one keep-alive client), "
          "RSS %.1f MiB" % (n, dt, n / dt, rss_kib(pid) / 1024))
    n = 200
    boxes = "".join("<t:MailboxData><t:Email><t:Address>user%05d@example.com</t:Address>"
                    "</t:Email><t:AttendeeType>Required</t:AttendeeType></t:MailboxData>"
                    % (1 + i * 13 % MAILBOXES) for i in range(100))
    t = time.time()
    for i in range(n):
        st, text = sim.post(envelope(
            "<m:GetUserAvailabilityRequest><t:TimeZone><t:Bias>0</t:Bias><t:StandardTime><t:Bias>0"
            "</t:Bias><t:Time>00:00:00</t:Time><t:DayOrder>1</t:DayOrder><t:Month>1</t:Month>"
            "<t:DayOfWeek>Sunday</t:DayOfWeek></t:StandardTime><t:DaylightTime><t:Bias>0</t:Bias>"
            "<t:Time>00:00:00</t:Time><t:DayOrder>1</t:DayOrder><t:Month>1</t:Month><t:DayOfWeek>"
            "Sunday</t:DayOfWeek></t:DaylightTime></t:TimeZone><m:MailboxDataArray>%s"
            "</m:MailboxDataArray><t:FreeBusyViewOptions><t:TimeWindow><t:StartTime>%s"
            "</t:StartTime><t:EndTime>%s</t:EndTime></t:TimeWindow><t:RequestedView>FreeBusy"
            "</t:RequestedView></t:FreeBusyViewOptions></m:GetUserAvailabilityRequest>"
            % (boxes, time.strftime("%Y-%m-%dT00:00:00"),
               time.strftime("%Y-%m-%dT00:00:00", time.gmtime(time.time() + 86400)))), conn=conn)
        check(st == 200 and text.count("NoError") == 100, "availability: %s" % text[:300])
    dt = time.time() - t
    print("GetUserAvailability x100 mailboxes: %d requests in %.2f s (%.0f mailboxes/s)"
          % (n, dt, n * 100 / dt))
    c = sim.counters()
    print("counters: push_sent %s push_ok %s events %s; final RSS %.1f MiB"
          % (c["push_sent"], c["push_ok"], c["events"], rss_kib(pid) / 1024))


if __name__ == "__main__":
    main()
