/* tests/ews/test_parse_stream.c: the GetStreamingEvents splitter: heartbeats, notifications,
 * per-subscription errors and ConnectionStatus Closed, with the body split at every byte
 * boundary; the buffer bound; refusal of DOCTYPE and junk; early stop by the callback. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ews_xml.h"
#include "test_parse_fixture.h"

struct record {
    char log[4096];
    int frames;
    int stop_after; /* return 7 from the callback after this many frames (0: never) */
};

/* One line per frame: status, notifications (id:event types), errors (id:code:class). */
static int
record_frame(const struct ews_stream_frame *f, void *ud)
{
    struct record *r = ud;
    size_t n = strlen(r->log);
    n += snprintf(r->log + n, sizeof r->log - n, "status=%d", f->status);
    for (size_t i = 0; i < f->notifications.n_items; i++) {
        const struct ews_notification *no = &f->notifications.items[i];
        n += snprintf(r->log + n, sizeof r->log - n, " note=%s:", no->subscription_id);
        for (size_t j = 0; j < no->n_events; j++)
            n += snprintf(r->log + n, sizeof r->log - n, "%s,",
                          ews_event_type_name(no->events[j].type));
    }
    for (size_t i = 0; i < f->n_errors; i++)
        n += snprintf(r->log + n, sizeof r->log - n, " err=%s:%s:%s",
                      f->errors[i].subscription_id ? f->errors[i].subscription_id : "-",
                      f->errors[i].error.code, ews_error_class_name(f->errors[i].error.cls));
    if (f->error.cls != EWS_ERR_NONE)
        n += snprintf(r->log + n, sizeof r->log - n, " frame-error=%s",
                      ews_error_class_name(f->error.cls));
    snprintf(r->log + n, sizeof r->log - n, "\n");
    r->frames++;
    return r->stop_after && r->frames >= r->stop_after ? 7 : 0;
}

static const char *const expected_log =
    "status=1\n"
    "status=0 note=STREAM-sub-0002:created,modified, note=STREAM-sub-0003:deleted,\n"
    "status=1 note=ID-with-</s:Envelope>-inside:status,\n"
    "status=0 err=STREAM-sub-0004:ErrorInvalidSubscription:resubscribe"
    " err=STREAM-sub-0005:ErrorInvalidSubscription:resubscribe\n"
    "status=2\n";

/* The five frame fixtures back to back, as Exchange streams them (CRLF between). */
static char *
stream_body(size_t *len)
{
    const char *names[] = {"stream-heartbeat.xml", "stream-events.xml", "stream-tricky.xml",
                           "stream-error-invalid-subscription.xml", "stream-closed.xml"};
    char *body = NULL;
    size_t n = 0;
    for (int i = 0; i < 5; i++) {
        size_t flen;
        char *f = fixture(names[i], &flen);
        body = realloc(body, n + flen + 3);
        cr_assert_not_null(body);
        memcpy(body + n, f, flen);
        n += flen;
        memcpy(body + n, "\r\n", 2);
        n += 2;
        free(f);
    }
    *len = n;
    return body;
}

Test(stream, whole_body_in_one_chunk)
{
    size_t len;
    char *body = stream_body(&len);
    struct ews_stream *s = ews_stream_new(0);
    struct record r = {0};
    cr_assert_eq(ews_stream_feed(s, body, len, record_frame, &r), 0);
    cr_expect_str_eq(r.log, expected_log);
    cr_expect_eq(ews_stream_pending(s), 0);
    ews_stream_free(s);
    free(body);
}

Test(stream, split_at_every_byte_boundary)
{
    size_t len;
    char *body = stream_body(&len);
    for (size_t cut = 0; cut <= len; cut++) {
        struct ews_stream *s = ews_stream_new(0);
        struct record r = {0};
        cr_assert_eq(ews_stream_feed(s, body, cut, record_frame, &r), 0);
        cr_assert_eq(ews_stream_feed(s, body + cut, len - cut, record_frame, &r), 0);
        cr_assert_str_eq(r.log, expected_log, "cut at %zu", cut);
        ews_stream_free(s);
    }
    free(body);
}

Test(stream, one_byte_at_a_time_emits_each_frame_at_its_end_tag)
{
    size_t len;
    char *body = stream_body(&len);
    struct ews_stream *s = ews_stream_new(0);
    struct record r = {0};
    const char *end_tag = "Envelope>";
    for (size_t i = 0; i < len; i++) {
        int before = r.frames;
        cr_assert_eq(ews_stream_feed(s, body + i, 1, record_frame, &r), 0);
        /* a frame appears exactly on the '>' of an envelope end tag, never later */
        if (r.frames != before)
            cr_assert(i >= 8 && memcmp(body + i - 8, end_tag, 9) == 0, "emitted at %zu", i);
    }
    cr_expect_eq(r.frames, 5);
    cr_expect_str_eq(r.log, expected_log);
    ews_stream_free(s);
    free(body);
}

Test(stream, callback_can_stop)
{
    size_t len;
    char *body = stream_body(&len);
    struct ews_stream *s = ews_stream_new(0);
    struct record r = {.stop_after = 2};
    cr_expect_eq(ews_stream_feed(s, body, len, record_frame, &r), 7);
    cr_expect_eq(r.frames, 2);
    ews_stream_free(s);
    free(body);
}

Test(stream, envelope_over_the_bound_kills_the_stream)
{
    size_t len;
    char *f = fixture("stream-events.xml", &len);
    struct ews_stream *s = ews_stream_new(1024);
    struct record r = {0};
    cr_expect_eq(ews_stream_feed(s, f, len, record_frame, &r), EWS_E_TOO_LARGE);
    cr_expect_eq(r.frames, 0);
    /* dead from now on, even for a small valid frame */
    size_t hlen;
    char *h = fixture("stream-heartbeat.xml", &hlen);
    cr_expect_eq(ews_stream_feed(s, h, hlen, record_frame, &r), EWS_E_TOO_LARGE);
    cr_expect_eq(r.frames, 0);
    ews_stream_free(s);
    free(f);
    free(h);
}

Test(stream, endless_envelope_stops_at_the_bound)
{
    /* 100 MB of one never-ending envelope, 64 KiB at a time: the splitter must give up
     * once it buffered 1 MiB (the default bound), not buffer everything. */
    const size_t chunk = 64 * 1024, total = 100u * 1024 * 1024;
    char *buf = malloc(chunk);
    cr_assert_not_null(buf);
    memset(buf, 'x', chunk);
    const char head[] = "<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body>";
    memcpy(buf, head, sizeof head - 1);
    struct ews_stream *s = ews_stream_new(0);
    struct record r = {0};
    size_t fed = 0;
    int rc = 0;
    while (fed < total && (rc = ews_stream_feed(s, buf, chunk, record_frame, &r)) == 0) {
        fed += chunk;
        memset(buf, 'x', sizeof head - 1);
        cr_assert_leq(ews_stream_pending(s), 1024 * 1024);
    }
    cr_expect_eq(rc, EWS_E_TOO_LARGE);
    cr_expect_leq(fed, 1024 * 1024);
    cr_expect_eq(r.frames, 0);
    ews_stream_free(s);
    free(buf);
}

Test(stream, doctype_refused)
{
    const char body[] = "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]>"
                        "<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'/>";
    struct ews_stream *s = ews_stream_new(0);
    struct record r = {0};
    cr_expect_eq(ews_stream_feed(s, body, sizeof body - 1, record_frame, &r), EWS_E_UNSAFE);
    cr_expect_eq(r.frames, 0);
    ews_stream_free(s);
}

Test(stream, junk_between_envelopes_refused)
{
    size_t len;
    char *h = fixture("stream-heartbeat.xml", &len);
    struct ews_stream *s = ews_stream_new(0);
    struct record r = {0};
    cr_expect_eq(ews_stream_feed(s, h, len, record_frame, &r), 0);
    cr_expect_eq(ews_stream_feed(s, "HTTP/1.1 200 OK", 15, record_frame, &r), EWS_E_MALFORMED);
    cr_expect_eq(r.frames, 1);
    ews_stream_free(s);
    free(h);
}

Test(stream, unparsable_frame_is_reported_not_fatal)
{
    /* Well-balanced but in the wrong namespace: the callback sees it with an error and
     * the stream goes on. */
    const char bad[] = "<s:Envelope xmlns:s='https://schemas.xmlsoap.org/soap/envelope/'/>";
    size_t len;
    char *h = fixture("stream-closed.xml", &len);
    struct ews_stream *s = ews_stream_new(0);
    struct record r = {0};
    cr_expect_eq(ews_stream_feed(s, bad, sizeof bad - 1, record_frame, &r), 0);
    cr_expect_eq(ews_stream_feed(s, h, len, record_frame, &r), 0);
    cr_expect_str_eq(r.log, "status=0 frame-error=malformed\nstatus=2\n");
    ews_stream_free(s);
    free(h);
}

Test(stream, frame_parser_on_its_own)
{
    size_t len;
    char *f = fixture("stream-error-invalid-subscription.xml", &len);
    struct ews_stream_frame fr;
    cr_assert_eq(ews_parse_streaming_frame(f, len, &fr), 0);
    cr_expect_eq(fr.n_errors, 2);
    cr_expect_eq(fr.errors[0].error.cls, EWS_ERR_RESUBSCRIBE);
    ews_stream_frame_free(&fr);
    free(f);
    f = fixture("fault-serverbusy.xml", &len);
    cr_expect_eq(ews_parse_streaming_frame(f, len, &fr), EWS_E_RESPONSE);
    cr_expect_eq(fr.error.cls, EWS_ERR_RETRY_LATER);
    cr_expect_eq(fr.error.backoff_ms, 123457);
    ews_stream_frame_free(&fr);
    free(f);
}

Test(stream, notification_in_either_namespace)
{
    /* t:Notification per the schema, m:Notification per Microsoft's samples. */
    size_t len;
    char *m_form = fixture("stream-events.xml", &len);
    char *t_form = malloc(2 * len + 1);
    const char *src = m_form;
    char *dst = t_form;
    for (const char *hit; (hit = strstr(src, "m:Notification>"));) {
        memcpy(dst, src, (size_t)(hit - src));
        dst += hit - src;
        /* only the singular element: m:Notifications stays in messages */
        memcpy(dst, "t:Notification>", 15);
        dst += 15;
        src = hit + 15;
    }
    strcpy(dst, src);
    cr_assert(strstr(t_form, "<t:Notification>") && strstr(t_form, "<m:Notifications>"));
    struct ews_stream_frame a, b;
    cr_assert_eq(ews_parse_streaming_frame(m_form, strlen(m_form), &a), 0);
    cr_assert_eq(ews_parse_streaming_frame(t_form, strlen(t_form), &b), 0);
    cr_expect_eq(a.notifications.n_items, 2);
    cr_expect_eq(b.notifications.n_items, 2);
    cr_expect_str_eq(b.notifications.items[1].subscription_id, "STREAM-sub-0003");
    ews_stream_frame_free(&a);
    ews_stream_frame_free(&b);
    free(m_form);
    free(t_form);
}

Test(stream, failed_frame_carries_no_partial_list)
{
    /* The first notification is fine, the second lacks its SubscriptionId. */
    const char body[] =
        "<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body>"
        "<m:GetStreamingEventsResponse "
        "xmlns:m='http://schemas.microsoft.com/exchange/services/2006/messages' "
        "xmlns:t='http://schemas.microsoft.com/exchange/services/2006/types'><m:ResponseMessages>"
        "<m:GetStreamingEventsResponseMessage ResponseClass='Success'><m:Notifications>"
        "<m:Notification><t:SubscriptionId>A</t:SubscriptionId></m:Notification>"
        "<m:Notification><t:StatusEvent/></m:Notification>"
        "</m:Notifications></m:GetStreamingEventsResponseMessage></m:ResponseMessages>"
        "</m:GetStreamingEventsResponse></s:Body></s:Envelope>";
    struct ews_stream_frame fr;
    cr_expect_eq(ews_parse_streaming_frame(body, sizeof body - 1, &fr), EWS_E_MALFORMED);
    cr_expect_eq(fr.error.cls, EWS_ERR_MALFORMED);
    cr_expect_eq(fr.notifications.n_items, 0);
    cr_expect_null(fr.notifications.items);
    ews_stream_frame_free(&fr);
}

Test(stream, byte_order_marks_between_envelopes)
{
    size_t len;
    char *h = fixture("stream-heartbeat.xml", &len);
    struct ews_stream *s = ews_stream_new(0);
    struct record r = {0};
    for (int i = 0; i < 2; i++) {
        cr_expect_eq(ews_stream_feed(s, "\xEF\xBB", 2, record_frame, &r), 0);
        cr_expect_eq(ews_stream_feed(s, "\xBF", 1, record_frame, &r), 0);
        cr_expect_eq(ews_stream_feed(s, h, len, record_frame, &r), 0);
    }
    cr_expect_str_eq(r.log, "status=1\nstatus=1\n");
    /* half a mark followed by something else is junk */
    cr_expect_eq(ews_stream_feed(s, "\xEFx", 2, record_frame, &r), EWS_E_MALFORMED);
    ews_stream_free(s);
    free(h);
}
