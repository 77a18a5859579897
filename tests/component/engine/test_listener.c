/* The push listener: the socket-free core, then a real listener on 127.0.0.1 (plain and TLS)
 * that libcurl POSTs SendNotification bodies to from a helper thread while the test's own
 * thread runs the event loop. Hostile bodies (malformed, DOCTYPE with an external entity, too
 * large) get a 4xx, never reach the verdict callback, and leave the listener serving. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "config/error.h"
#include "engine/listener.h"

#define NS_SOAP "http://schemas.xmlsoap.org/soap/envelope/"
#define NS_T "http://schemas.microsoft.com/exchange/services/2006/types"
#define NS_M "http://schemas.microsoft.com/exchange/services/2006/messages"
#define KNOWN_ID "PUSH-sub-0001"
#define PATH "/ews/notify"

/* The shape of tests/ews/fixtures/sendnotification-events.xml: what Exchange POSTs. */
#define NOTIFICATION(id, events)                                                                   \
    "<m:Notification><t:SubscriptionId>" id "</t:SubscriptionId>"                                  \
    "<t:PreviousWatermark>WM-1==</t:PreviousWatermark><t:MoreEvents>false</t:MoreEvents>" events   \
    "</m:Notification>"
#define SEND_NOTIFICATION(notifications)                                                           \
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>"                                                   \
    "<soap:Envelope xmlns:soap=\"" NS_SOAP "\" xmlns:t=\"" NS_T "\" xmlns:m=\"" NS_M "\">"         \
    "<soap:Header><t:RequestServerVersion Version=\"Exchange2010_SP2\"/></soap:Header>"            \
    "<soap:Body><m:SendNotification><m:ResponseMessages>"                                          \
    "<m:SendNotificationResponseMessage ResponseClass=\"Success\">"                                \
    "<m:ResponseCode>NoError</m:ResponseCode>" notifications                                       \
    "</m:SendNotificationResponseMessage></m:ResponseMessages></m:SendNotification>"               \
    "</soap:Body></soap:Envelope>"
#define CREATED_AND_MODIFIED                                                                       \
    "<t:CreatedEvent><t:Watermark>WM-2==</t:Watermark>"                                            \
    "<t:TimeStamp>2026-11-23T09:15:00+01:00</t:TimeStamp>"                                         \
    "<t:ItemId Id=\"ITEM-NEW\" ChangeKey=\"DwAAAA==\"/><t:ParentFolderId Id=\"CAL\"/>"             \
    "</t:CreatedEvent>"                                                                            \
    "<t:ModifiedEvent><t:Watermark>WM-3==</t:Watermark>"                                           \
    "<t:TimeStamp>2026-11-23T08:15:01Z</t:TimeStamp>"                                              \
    "<t:FolderId Id=\"CAL\" ChangeKey=\"AQAAAA==\"/><t:ParentFolderId Id=\"ROOT\"/>"               \
    "</t:ModifiedEvent>"
#define STATUS_EVENT "<t:StatusEvent><t:Watermark>WM-2==</t:Watermark></t:StatusEvent>"

static const char valid_body[] = SEND_NOTIFICATION(NOTIFICATION(KNOWN_ID, CREATED_AND_MODIFIED));
static const char unknown_body[] =
    SEND_NOTIFICATION(NOTIFICATION("SOMEONE-ELSES-ID", CREATED_AND_MODIFIED));
/* Verbatim the StatusEvent sample of ../shared/ews-reference (from exchangelib's tests). */
static const char status_body[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<s:Envelope\n        xmlns:s=\"" NS_SOAP "\">\n    <s:Header>\n"
    "        <t:RequestServerVersion\n                xmlns:m=\"" NS_M
    "\" Version=\"Exchange2016\"\n"
    "                xmlns:t=\"" NS_T "\"/>\n    </s:Header>\n    <s:Body>\n"
    "        <m:SendNotification\n                xmlns:t=\"" NS_T "\"\n"
    "                xmlns:m=\"" NS_M "\">\n            <m:ResponseMessages>\n"
    "                <m:SendNotificationResponseMessage ResponseClass=\"Success\">\n"
    "                    <m:ResponseCode>NoError</m:ResponseCode>\n"
    "                    <m:Notification>\n"
    "                        <t:SubscriptionId>XXXXX=</t:SubscriptionId>\n"
    "                        <t:PreviousWatermark>AAAAA=</t:PreviousWatermark>\n"
    "                        <t:MoreEvents>false</t:MoreEvents>\n"
    "                        <t:StatusEvent>\n"
    "                            <t:Watermark>BBBBB=</t:Watermark>\n"
    "                        </t:StatusEvent>\n                    </m:Notification>\n"
    "                </m:SendNotificationResponseMessage>\n            </m:ResponseMessages>\n"
    "        </m:SendNotification>\n    </s:Body>\n</s:Envelope>\n";
/* Cut off in the middle of an element. */
static const char malformed_body[] = "<?xml version=\"1.0\"?><soap:Envelope xmlns:soap=\"" NS_SOAP
                                     "\"><soap:Body><m:SendNotification><m:Cut";

/* ---- what the listener reported ---- */

static struct {
    int calls;
    size_t events;
    char last_id[64];
    char last_item[64];
    enum ews_event_type first_type;
    char log[8192];
} seen;

/* Keeps KNOWN_ID and the sample's XXXXX=, refuses every other id. */
static bool
verdict(void *ud, const struct ews_notification *n)
{
    (void)ud;
    seen.calls++;
    seen.events += n->n_events;
    snprintf(seen.last_id, sizeof seen.last_id, "%s", n->subscription_id);
    if (n->n_events) {
        seen.first_type = n->events[0].type;
        snprintf(seen.last_item, sizeof seen.last_item, "%s",
                 n->events[0].item_id ? n->events[0].item_id : "");
    }
    return strcmp(n->subscription_id, KNOWN_ID) == 0 || strcmp(n->subscription_id, "XXXXX=") == 0;
}

static void
log_line(void *ud, int level, const char *msg)
{
    (void)ud;
    size_t used = strlen(seen.log);
    snprintf(seen.log + used, sizeof seen.log - used, "%d %s\n", level, msg);
}

/* ---- the core, without sockets ---- */

static void
core(const char *body, size_t len, size_t max_body, struct cp_listener_reply *r)
{
    cr_assert_eq(cp_listener_handle(body, len, max_body, verdict, NULL, r), 0);
}

Test(listener_core, valid_notification_is_ok)
{
    struct cp_listener_reply r;
    core(valid_body, sizeof valid_body - 1, 0, &r);
    cr_assert_eq(r.http_status, 200);
    cr_assert_eq(r.outcome, CP_LISTENER_OK);
    cr_assert_eq(r.notifications, 1);
    cr_assert_null(r.reason);
    cr_assert_str_eq(r.content_type, "text/xml; charset=utf-8");
    cr_assert_not_null(strstr(r.body, "<m:SubscriptionStatus>OK</m:SubscriptionStatus>"));
    cr_assert_eq(r.body_len, strlen(r.body));
    cr_assert_eq(seen.calls, 1);
    cr_assert_eq(seen.events, 2);
    cr_assert_str_eq(seen.last_item, "ITEM-NEW");
    free(r.body);
}

Test(listener_core, unknown_id_is_unsubscribed)
{
    struct cp_listener_reply r;
    core(unknown_body, sizeof unknown_body - 1, 0, &r);
    cr_assert_eq(r.http_status, 200);
    cr_assert_eq(r.outcome, CP_LISTENER_UNSUBSCRIBE);
    cr_assert_not_null(strstr(r.body, "<m:SubscriptionStatus>Unsubscribe</m:SubscriptionStatus>"));
    free(r.body);
}

/* One POST answers for all its notifications: Unsubscribe only when none is wanted. */
Test(listener_core, several_notifications_unsubscribe_only_when_all_refused)
{
    static const char mixed[] = SEND_NOTIFICATION(NOTIFICATION("SOMEONE-ELSES-ID", STATUS_EVENT)
                                                      NOTIFICATION(KNOWN_ID, STATUS_EVENT));
    static const char none[] =
        SEND_NOTIFICATION(NOTIFICATION("OTHER-1", STATUS_EVENT) NOTIFICATION("OTHER-2", ""));
    struct cp_listener_reply r;
    core(mixed, sizeof mixed - 1, 0, &r);
    cr_assert_eq(r.outcome, CP_LISTENER_OK);
    cr_assert_eq(r.notifications, 2);
    cr_assert_eq(seen.calls, 2, "every notification reaches the callback");
    free(r.body);
    core(none, sizeof none - 1, 0, &r);
    cr_assert_eq(r.outcome, CP_LISTENER_UNSUBSCRIBE);
    cr_assert_eq(seen.calls, 4);
    cr_assert_str_eq(seen.last_id, "OTHER-2");
    free(r.body);
}

Test(listener_core, refused_bodies_never_reach_the_callback)
{
    static const char not_notification[] =
        "<soap:Envelope xmlns:soap=\"" NS_SOAP "\"><soap:Body/></soap:Envelope>";
    static const char doctype[] = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]>"
                                  "<soap:Envelope xmlns:soap=\"" NS_SOAP "\"/>";
    struct {
        const char *body;
        size_t len;
        int status;
    } cases[] = {
        {malformed_body, sizeof malformed_body - 1, 400},
        {not_notification, sizeof not_notification - 1, 400},
        {doctype, sizeof doctype - 1, 400},
        {"", 0, 400},
        {valid_body, sizeof valid_body - 1, 413}, /* over the bound of 100 bytes below */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cp_listener_reply r;
        core(cases[i].body, cases[i].len, cases[i].status == 413 ? 100 : 0, &r);
        cr_assert_eq(r.http_status, cases[i].status, "case %zu", i);
        cr_assert_eq(r.outcome,
                     cases[i].status == 413 ? CP_LISTENER_TOO_LARGE : CP_LISTENER_MALFORMED);
        cr_assert_not_null(r.reason);
        cr_assert_str_eq(r.content_type, "text/plain; charset=utf-8");
        cr_assert_eq(r.notifications, 0);
        free(r.body);
    }
    cr_assert_eq(seen.calls, 0);
}

Test(listener_core, bad_arguments)
{
    struct cp_listener_reply r;
    cr_assert_eq(cp_listener_handle(NULL, 5, 0, verdict, NULL, &r), CP_EINVAL);
    cr_assert_eq(cp_listener_handle("x", 1, 0, NULL, NULL, &r), CP_EINVAL);
    cr_assert_eq(cp_listener_handle("x", 1, 0, verdict, NULL, NULL), CP_EINVAL);
}

/* ---- a real listener ---- */

static struct event_base *base;
static struct cp_listener *lis;
static char tmpdir[] = "/tmp/cp-listener-XXXXXX";
static char cert_path[128], key_path[128];

static void
setup(void)
{
    cr_assert_eq(curl_global_init(CURL_GLOBAL_DEFAULT), 0);
    cr_assert_not_null(mkdtemp(tmpdir));
    base = event_base_new();
    cr_assert_not_null(base);
}

static void
teardown(void)
{
    cp_listener_free(lis);
    event_base_free(base);
    curl_global_cleanup();
    unlink(cert_path);
    unlink(key_path);
    char secret[128];
    snprintf(secret, sizeof secret, "%s/secret", tmpdir);
    unlink(secret);
    rmdir(tmpdir);
}

TestSuite(listener, .init = setup, .fini = teardown, .timeout = 60);

static void
start(size_t max_body, const char *cert, const char *key)
{
    struct cp_listener_config cfg = {.listen = "127.0.0.1:0",
                                     .path = PATH,
                                     .tls_cert = cert,
                                     .tls_key = key,
                                     .max_body = max_body,
                                     .verdict = verdict,
                                     .log = log_line};
    char why[256] = "";
    cr_assert_eq(cp_listener_new(base, &cfg, &lis, why, sizeof why), 0, "%s", why);
    cr_assert_neq(cp_listener_port(lis), 0);
}

struct http {
    /* in */
    const char *method; /* NULL = POST */
    const char *path;   /* NULL = PATH */
    const char *body;
    size_t len;
    const char *content_type; /* NULL = Exchange's */
    const char *extra_header;
    bool tls;
    /* out */
    CURLcode rc;
    long status;
    char resp[2048];
    size_t resp_len;
    char allow[64];
    atomic_bool done;
};

static size_t
collect(char *data, size_t size, size_t n, void *arg)
{
    struct http *h = arg;
    size_t room = sizeof h->resp - 1 - h->resp_len;
    size_t take = size * n < room ? size * n : room;
    memcpy(h->resp + h->resp_len, data, take);
    h->resp_len += take;
    h->resp[h->resp_len] = '\0';
    return size * n;
}

static size_t
header_line(char *data, size_t size, size_t n, void *arg)
{
    struct http *h = arg;
    if (size * n > 6 && strncasecmp(data, "Allow:", 6) == 0)
        snprintf(h->allow, sizeof h->allow, "%.*s", (int)(size * n - 6), data + 6);
    return size * n;
}

static void *
client(void *arg)
{
    struct http *h = arg;
    char url[256], ctype[128];
    snprintf(url, sizeof url, "%s://127.0.0.1:%u%s", h->tls ? "https" : "http",
             (unsigned)cp_listener_port(lis), h->path ? h->path : PATH);
    snprintf(ctype, sizeof ctype, "Content-Type: %s",
             h->content_type ? h->content_type : "text/xml; charset=utf-8");
    struct curl_slist *hdrs = curl_slist_append(NULL, ctype);
    if (h->extra_header)
        hdrs = curl_slist_append(hdrs, h->extra_header);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_line);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (h->tls)
        curl_easy_setopt(c, CURLOPT_CAINFO, cert_path);
    if (h->method)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, h->method);
    else {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, h->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)h->len);
    }
    h->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    atomic_store(&h->done, true);
    return NULL;
}

static void
poll_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    if (atomic_load(&((struct http *)arg)->done))
        event_base_loopbreak(base);
}

/* Runs one request from a helper thread while this thread serves it. */
static void
request(struct http *h)
{
    pthread_t t;
    struct event *tick = event_new(base, -1, EV_PERSIST, poll_done, h);
    struct timeval every = {0, 5000};
    event_add(tick, &every);
    cr_assert_eq(pthread_create(&t, NULL, client, h), 0);
    event_base_dispatch(base);
    pthread_join(t, NULL);
    event_free(tick);
}

static void
post(const char *body, size_t len, struct http *h)
{
    *h = (struct http){.body = body, .len = len};
    request(h);
    cr_assert_eq(h->rc, CURLE_OK, "%s", curl_easy_strerror(h->rc));
}

Test(listener, known_id_gets_ok_and_the_events)
{
    struct http h;
    start(0, NULL, NULL);
    post(valid_body, sizeof valid_body - 1, &h);
    cr_assert_eq(h.status, 200);
    cr_assert_not_null(strstr(h.resp, "<m:SubscriptionStatus>OK</m:SubscriptionStatus>"), "%s",
                       h.resp);
    cr_assert_eq(seen.calls, 1);
    cr_assert_eq(seen.events, 2);
    cr_assert_str_eq(seen.last_id, KNOWN_ID);
    cr_assert_eq(seen.first_type, EWS_EV_CREATED);
    cr_assert_str_eq(seen.last_item, "ITEM-NEW");
    const struct cp_listener_stats *s = cp_listener_stats(lis);
    cr_assert_eq(s->requests, 1);
    cr_assert_eq(s->notifications, 1);
    cr_assert_eq(s->ok, 1);
}

Test(listener, unknown_id_gets_unsubscribe)
{
    struct http h;
    start(0, NULL, NULL);
    post(unknown_body, sizeof unknown_body - 1, &h);
    cr_assert_eq(h.status, 200);
    cr_assert_not_null(strstr(h.resp, "<m:SubscriptionStatus>Unsubscribe</m:SubscriptionStatus>"));
    cr_assert_eq(seen.calls, 1);
    cr_assert_eq(cp_listener_stats(lis)->unsubscribed, 1);
}

Test(listener, status_event_gets_ok)
{
    struct http h;
    start(0, NULL, NULL);
    post(status_body, sizeof status_body - 1, &h);
    cr_assert_eq(h.status, 200);
    cr_assert_not_null(strstr(h.resp, "<m:SubscriptionStatus>OK</m:SubscriptionStatus>"));
    cr_assert_eq(seen.calls, 1);
    cr_assert_eq(seen.first_type, EWS_EV_STATUS);
}

Test(listener, malformed_body_is_refused_and_logged_without_its_content)
{
    struct http h;
    start(0, NULL, NULL);
    post(malformed_body, sizeof malformed_body - 1, &h);
    cr_assert_eq(h.status, 400);
    cr_assert_eq(seen.calls, 0);
    cr_assert_eq(cp_listener_stats(lis)->refused_malformed, 1);
    cr_assert_not_null(strstr(seen.log, "1 127.0.0.1: refused a notification"), "%s", seen.log);
    cr_assert_null(strstr(seen.log, "m:Cut"), "the log must not quote the body");
}

/* An external entity naming a local file: refused before any entity is resolved. inotify
 * tells whether anything opened the file. */
Test(listener, doctype_with_external_entity_reads_no_file)
{
    char secret[128], body[1024];
    snprintf(secret, sizeof secret, "%s/secret", tmpdir);
    FILE *f = fopen(secret, "w");
    cr_assert_not_null(f);
    fputs("TOP-SECRET-MARKER\n", f);
    fclose(f);
    int in = inotify_init1(IN_NONBLOCK);
    cr_assert_geq(in, 0);
    cr_assert_geq(inotify_add_watch(in, secret, IN_OPEN | IN_ACCESS), 0);
    snprintf(body, sizeof body,
             "<?xml version=\"1.0\"?><!DOCTYPE e [<!ENTITY xxe SYSTEM \"file://%s\">]>"
             "<soap:Envelope xmlns:soap=\"" NS_SOAP "\" xmlns:t=\"" NS_T "\" xmlns:m=\"" NS_M
             "\"><soap:Body><m:SendNotification><m:ResponseMessages>"
             "<m:SendNotificationResponseMessage ResponseClass=\"Success\">"
             "<m:ResponseCode>NoError</m:ResponseCode>" NOTIFICATION(
                 "&xxe;", STATUS_EVENT) "</m:SendNotificationResponseMessage></"
                                        "m:ResponseMessages></m:SendNotification>"
                                        "</soap:Body></soap:Envelope>",
             secret);

    struct http h;
    start(0, NULL, NULL);
    post(body, strlen(body), &h);
    cr_assert_eq(h.status, 400);
    cr_assert_eq(seen.calls, 0);
    cr_assert_null(strstr(h.resp, "TOP-SECRET"));
    cr_assert_null(strstr(seen.log, "TOP-SECRET"));
    char ev[256];
    cr_assert_eq(read(in, ev, sizeof ev), -1, "the entity's file was opened");
    close(in);
}

Test(listener, body_over_the_bound_gets_413)
{
    static char big[64 * 1024];
    memset(big, ' ', sizeof big);
    memcpy(big, valid_body, sizeof valid_body - 1); /* valid XML, trailing blanks */
    struct http h;
    start(4096, NULL, NULL);
    post(big, 8192, &h);
    cr_assert_eq(h.status, 413);
    /* A client waiting for 100-continue gets no 100: the announced length is refused (what it
     * sends anyway is read and dropped). */
    h = (struct http){.body = big, .len = sizeof big, .extra_header = "Expect: 100-continue"};
    request(&h);
    cr_assert_eq(h.status, 413, "%s", curl_easy_strerror(h.rc));
    /* Chunked: no size known in advance; evhttp stops at the bound all the same. It does not
     * linger here, so the client may see the connection reset before it reads the 413. */
    h = (struct http){.body = big, .len = sizeof big, .extra_header = "Transfer-Encoding: chunked"};
    request(&h);
    cr_assert(h.status == 413 || h.rc == CURLE_SEND_ERROR, "%ld %s", h.status,
              curl_easy_strerror(h.rc));
    cr_assert_eq(seen.calls, 0);
    cr_assert_eq(cp_listener_stats(lis)->refused_too_large, 3);
    cr_assert_eq(cp_listener_stats(lis)->requests, 3);
    cr_assert_not_null(strstr(seen.log, "1 refused a body over 4096 bytes (HTTP 413)"), "%s",
                       seen.log);
}

Test(listener, wrong_method_path_and_type)
{
    struct http h = {.method = "GET"};
    start(0, NULL, NULL);
    request(&h);
    cr_assert_eq(h.status, 405);
    cr_assert_not_null(strstr(h.allow, "POST"));
    h = (struct http){.method = "OPTIONS"};
    request(&h);
    cr_assert_eq(h.status, 405, "libevent's 501 for methods it was not told about");
    h = (struct http){.path = "/other", .body = valid_body, .len = sizeof valid_body - 1};
    request(&h);
    cr_assert_eq(h.status, 404);
    h = (struct http){
        .body = valid_body, .len = sizeof valid_body - 1, .content_type = "application/json"};
    request(&h);
    cr_assert_eq(h.status, 415);
    h = (struct http){.body = valid_body,
                      .len = sizeof valid_body - 1,
                      .content_type = "application/soap+xml; charset=utf-8"};
    request(&h);
    cr_assert_eq(h.status, 200);
    cr_assert_eq(seen.calls, 1);
    const struct cp_listener_stats *s = cp_listener_stats(lis);
    cr_assert_eq(s->refused_method_or_path, 3);
    cr_assert_eq(s->refused_malformed, 1);
    cr_assert_eq(s->requests, 5);
}

/* After every kind of refusal the listener still answers a valid POST. */
Test(listener, never_wedged)
{
    static char big[16 * 1024];
    memset(big, '<', sizeof big);
    struct http h;
    start(4096, NULL, NULL);
    post(malformed_body, sizeof malformed_body - 1, &h);
    post(big, sizeof big, &h);
    h = (struct http){.method = "GET"};
    request(&h);
    h = (struct http){.path = "/x", .body = "y", .len = 1};
    request(&h);
    post("", 0, &h);
    cr_assert_eq(h.status, 400);
    cr_assert_eq(seen.calls, 0);
    post(valid_body, sizeof valid_body - 1, &h);
    cr_assert_eq(h.status, 200);
    cr_assert_not_null(strstr(h.resp, ">OK<"));
    cr_assert_eq(seen.calls, 1);
}

/* A throwaway self-signed P-256 certificate for 127.0.0.1. */
static void
make_cert(void)
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    cr_assert(pk && x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pk);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *san = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, "IP:127.0.0.1");
    cr_assert_not_null(san);
    X509_add_ext(x, san, -1);
    X509_EXTENSION_free(san);
    cr_assert(X509_sign(x, pk, EVP_sha256()) > 0);
    snprintf(cert_path, sizeof cert_path, "%s/cert.pem", tmpdir);
    snprintf(key_path, sizeof key_path, "%s/key.pem", tmpdir);
    FILE *f = fopen(cert_path, "w");
    cr_assert(f && PEM_write_X509(f, x));
    fclose(f);
    f = fopen(key_path, "w");
    cr_assert(f && PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL));
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(pk);
}

Test(listener, tls)
{
    make_cert();
    start(0, cert_path, key_path);
    struct http h = {.body = valid_body, .len = sizeof valid_body - 1, .tls = true};
    request(&h);
    cr_assert_eq(h.rc, CURLE_OK, "%s", curl_easy_strerror(h.rc));
    cr_assert_eq(h.status, 200);
    cr_assert_not_null(strstr(h.resp, "<m:SubscriptionStatus>OK</m:SubscriptionStatus>"));
    cr_assert_eq(seen.calls, 1);
    /* Plain HTTP on the TLS port is no request at all. */
    h = (struct http){.body = valid_body, .len = sizeof valid_body - 1};
    request(&h);
    cr_assert_neq(h.status, 200);
    cr_assert_eq(seen.calls, 1);
}

static int
try_new(const char *listen, const char *path, const char *cert, const char *key, char *why,
        size_t whylen)
{
    struct cp_listener_config cfg = {
        .listen = listen, .path = path, .tls_cert = cert, .tls_key = key, .verdict = verdict};
    struct cp_listener *l = (struct cp_listener *)1;
    int rc = cp_listener_new(base, &cfg, &l, why, whylen);
    if (rc)
        cr_assert_null(l);
    cp_listener_free(l);
    return rc;
}

Test(listener, start_up_errors_say_why)
{
    char why[256];
    cr_assert_eq(try_new("127.0.0.1", PATH, NULL, NULL, why, sizeof why), CP_EINVAL);
    cr_assert_not_null(strstr(why, "HOST:PORT"), "%s", why);
    cr_assert_eq(try_new("::1:80", PATH, NULL, NULL, why, sizeof why), CP_EINVAL);
    cr_assert_eq(try_new("127.0.0.1:65536", PATH, NULL, NULL, why, sizeof why), CP_EINVAL);
    cr_assert_eq(try_new("127.0.0.1:0", "ews", NULL, NULL, why, sizeof why), CP_EINVAL);
    cr_assert_eq(try_new("127.0.0.1:0", PATH, "/nonexistent/cert.pem", NULL, why, sizeof why),
                 CP_EINVAL);
    cr_assert_eq(try_new("127.0.0.1:0", PATH, "/nonexistent/cert.pem", "/nonexistent/key.pem", why,
                         sizeof why),
                 CP_EINVAL);
    cr_assert_not_null(strstr(why, "/nonexistent/cert.pem"), "%s", why);
    make_cert();
    cr_assert_eq(try_new("127.0.0.1:0", PATH, cert_path, cert_path, why, sizeof why), CP_EINVAL,
                 "a certificate is no key");
    cr_assert_not_null(strstr(why, cert_path), "%s", why);

    start(0, NULL, NULL);
    char taken[64];
    snprintf(taken, sizeof taken, "127.0.0.1:%u", (unsigned)cp_listener_port(lis));
    cr_assert_eq(try_new(taken, PATH, NULL, NULL, why, sizeof why), CP_EIO);
    cr_assert_not_null(strstr(why, "Address already in use"), "%s", why);
    cr_assert_eq(try_new("no-such-host.invalid:0", PATH, NULL, NULL, why, sizeof why), CP_EIO);
}

Test(listener, names_and_ipv6_literals)
{
    char why[256] = "";
    cr_assert_eq(try_new("localhost:0", PATH, NULL, NULL, why, sizeof why), 0, "%s", why);
    int rc = try_new("[::1]:0", PATH, NULL, NULL, why, sizeof why);
    if (rc)
        cr_skip_test("no IPv6 loopback here: %s", why);
}
