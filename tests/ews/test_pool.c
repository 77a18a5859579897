/* Unit tests of the pure parts of the transport: the server pool (round robin, health,
 * reassignment), the queue bound, the concurrency cap, back-off arithmetic, the bearer token
 * file re-read, the autodiscover order, and the auth scheme masks. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth_int.h"
#include "autodiscover_int.h"
#include "pool_int.h"

static const char *const urls3[] = {"https://cas1/EWS/Exchange.asmx",
                                    "https://cas2/EWS/Exchange.asmx",
                                    "https://cas3/EWS/Exchange.asmx"};

Test(pool, round_robin_over_servers)
{
    struct ews_pool p;

    cr_assert_eq(ews_pool_init(&p, urls3, 3, 10, 2), 0);
    cr_expect_eq(ews_pool_server_for(&p, "a@x.com"), 0);
    cr_expect_eq(ews_pool_server_for(&p, "b@x.com"), 1);
    cr_expect_eq(ews_pool_server_for(&p, "c@x.com"), 2);
    cr_expect_eq(ews_pool_server_for(&p, "d@x.com"), 0);
    /* A mailbox keeps its server, whatever the case of its address. */
    cr_expect_eq(ews_pool_server_for(&p, "B@X.COM"), 1);
    cr_expect_eq(ews_pool_lookup(&p, "b@x.com"), 1);
    cr_expect_eq(p.servers[0].assigned, 2);
    ews_pool_forget(&p, "a@x.com");
    cr_expect_eq(ews_pool_lookup(&p, "a@x.com"), -1);
    cr_expect_eq(p.servers[0].assigned, 1);
    ews_pool_clear(&p);
}

Test(pool, down_server_is_skipped_until_up)
{
    struct ews_pool p;

    cr_assert_eq(ews_pool_init(&p, urls3, 3, 10, 2), 0);
    ews_pool_mark_down(&p, 0);
    cr_expect_eq(ews_pool_server_for(&p, "a@x.com"), 1, "new mailboxes skip a down server");
    cr_expect_eq(ews_pool_server_for(&p, "b@x.com"), 2);
    cr_expect_eq(ews_pool_server_for(&p, "c@x.com"), 1);
    ews_pool_mark_down(&p, 1);
    cr_expect_eq(ews_pool_server_for(&p, "a@x.com"), 2, "a mailbox on a down server moves on");
    ews_pool_mark_up(&p, 0);
    cr_expect_eq(ews_pool_server_for(&p, "d@x.com"), 2, "round robin goes on where it was");
    cr_expect_eq(ews_pool_server_for(&p, "e@x.com"), 0, "a server is used again once up");
    ews_pool_clear(&p);
}

Test(pool, all_down_keeps_the_choice)
{
    struct ews_pool p;

    cr_assert_eq(ews_pool_init(&p, urls3, 1, 10, 2), 0);
    ews_pool_mark_down(&p, 0);
    cr_expect_eq(ews_pool_server_for(&p, "a@x.com"), 0, "a lone server is tried anyway");
    cr_expect_eq(ews_pool_reassign(&p, "a@x.com"), 0);
    ews_pool_clear(&p);
}

Test(pool, reassign_moves_to_next_healthy)
{
    struct ews_pool p;

    cr_assert_eq(ews_pool_init(&p, urls3, 3, 10, 2), 0);
    cr_assert_eq(ews_pool_server_for(&p, "a@x.com"), 0);
    cr_expect_eq(ews_pool_reassign(&p, "a@x.com"), 1);
    ews_pool_mark_down(&p, 2);
    cr_expect_eq(ews_pool_reassign(&p, "a@x.com"), 0, "the down server is jumped over");
    cr_expect_eq(p.servers[0].assigned, 1);
    cr_expect_eq(p.servers[1].assigned, 0);
    ews_pool_clear(&p);
}

Test(pool, many_mailboxes_grow_the_table)
{
    struct ews_pool p;
    char name[32];

    cr_assert_eq(ews_pool_init(&p, urls3, 3, 10, 2), 0);
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof(name), "user%d@x.com", i);
        cr_assert_eq(ews_pool_server_for(&p, name), i % 3);
    }
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof(name), "USER%d@x.com", i);
        cr_assert_eq(ews_pool_lookup(&p, name), i % 3);
    }
    cr_expect_eq(p.servers[0].assigned + p.servers[1].assigned + p.servers[2].assigned, 3000);
    ews_pool_clear(&p);
}

Test(pool, add_keeps_queues_intact)
{
    struct ews_pool p;
    struct ews_qnode nodes[3];

    cr_assert_eq(ews_pool_init(&p, urls3, 1, 10, 5), 0);
    cr_assert_eq(ews_pool_enqueue(&p, 0, &nodes[0], false), 0);
    cr_assert_eq(ews_pool_enqueue(&p, 0, &nodes[1], false), 0);
    for (int i = 0; i < 20; i++)
        cr_assert_geq(ews_pool_add(&p, "https://more/EWS/Exchange.asmx"), 1);
    cr_assert_eq(ews_pool_enqueue(&p, 0, &nodes[2], false), 0);
    cr_expect_eq(ews_pool_next(&p, 0, 0), &nodes[0]);
    cr_expect_eq(ews_pool_next(&p, 0, 0), &nodes[1]);
    cr_expect_eq(ews_pool_next(&p, 0, 0), &nodes[2]);
    cr_expect_null(ews_pool_next(&p, 0, 0));
    ews_pool_clear(&p);
}

Test(queue, bound_refuses_new_work_but_not_retries)
{
    struct ews_pool p;
    struct ews_qnode nodes[5];

    cr_assert_eq(ews_pool_init(&p, urls3, 2, 3, 1), 0);
    cr_expect_eq(ews_pool_enqueue(&p, 0, &nodes[0], false), 0);
    cr_expect_eq(ews_pool_enqueue(&p, 1, &nodes[1], false), 0);
    cr_expect_eq(ews_pool_enqueue(&p, 0, &nodes[2], false), 0);
    cr_expect_eq(ews_pool_enqueue(&p, 1, &nodes[3], false), EWS_E_QUEUE_FULL,
                 "the bound counts every server's queue");
    cr_expect_eq(p.pending, 3);
    cr_expect_eq(ews_pool_enqueue(&p, 0, &nodes[4], true), 0, "a retry is never refused");
    cr_expect_eq(ews_pool_next(&p, 0, 0), &nodes[4], "a retry goes first");
    cr_expect_eq(p.pending, 3);
    ews_pool_unqueue(&p, 0, &nodes[0]);
    cr_expect_eq(p.pending, 2);
    cr_expect_eq(ews_pool_enqueue(&p, 1, &nodes[3], false), 0, "room again");
    ews_pool_clear(&p);
}

Test(queue, concurrency_cap_per_server)
{
    struct ews_pool p;
    struct ews_qnode nodes[4];

    cr_assert_eq(ews_pool_init(&p, urls3, 2, 10, 2), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(ews_pool_enqueue(&p, 0, &nodes[i], false), 0);
    cr_assert_eq(ews_pool_enqueue(&p, 1, &nodes[3], false), 0);
    cr_expect_eq(ews_pool_next(&p, 0, 0), &nodes[0]);
    cr_expect_eq(ews_pool_next(&p, 0, 0), &nodes[1]);
    cr_expect_null(ews_pool_next(&p, 0, 0), "two in flight: the third waits");
    cr_expect_eq(ews_pool_next(&p, 1, 0), &nodes[3], "the cap is per server");
    ews_pool_done(&p, 0);
    cr_expect_eq(ews_pool_next(&p, 0, 0), &nodes[2]);
    cr_expect_eq(p.servers[0].in_flight, 2);
    ews_pool_clear(&p);
}

Test(backoff, waits_exactly_the_given_time)
{
    struct ews_pool p;
    struct ews_qnode n;

    cr_assert_eq(ews_pool_init(&p, urls3, 2, 10, 2), 0);
    cr_assert_eq(ews_pool_enqueue(&p, 0, &n, false), 0);
    ews_pool_backoff(&p, 0, 10000, 1500);
    cr_expect_eq(ews_pool_backoff_left(&p, 0, 10000), 1500);
    cr_expect_eq(ews_pool_backoff_left(&p, 0, 11000), 500);
    cr_expect_eq(ews_pool_backoff_left(&p, 1, 10000), 0, "other servers are not delayed");
    cr_expect_null(ews_pool_next(&p, 0, 11499), "nothing leaves before the end");
    /* A shorter back-off does not shorten a running one. */
    ews_pool_backoff(&p, 0, 11000, 100);
    cr_expect_eq(ews_pool_backoff_left(&p, 0, 11000), 500);
    cr_expect_eq(ews_pool_next(&p, 0, 11500), &n, "exactly at the end it goes");
    cr_expect_eq(ews_pool_backoff_left(&p, 0, 11500), 0);
    ews_pool_clear(&p);
}

Test(auth, masks)
{
    cr_expect_eq(ews_auth_curl_mask(EWS_AUTH_ANY, true),
                 CURLAUTH_BASIC | CURLAUTH_NTLM | CURLAUTH_NEGOTIATE);
    cr_expect_eq(ews_auth_curl_mask(EWS_AUTH_ANY, false), CURLAUTH_BASIC | CURLAUTH_NTLM);
    cr_expect_eq(ews_auth_curl_mask(EWS_AUTH_ANY, true) & CURLAUTH_NTLM_WB, 0,
                 "the winbind helper is never allowed");
    cr_expect_eq(ews_auth_curl_mask(EWS_AUTH_NEGOTIATE, false), 0);
    cr_expect_eq(ews_auth_curl_mask(EWS_AUTH_NEGOTIATE, true), CURLAUTH_NEGOTIATE);
    cr_expect_eq(ews_auth_curl_mask(EWS_AUTH_BEARER, true), CURLAUTH_BEARER);
    cr_expect_eq(ews_auth_curl_mask(EWS_AUTH_NTLM, true), CURLAUTH_NTLM);
    cr_expect_eq(ews_auth_curl_mask(EWS_AUTH_BASIC, true), CURLAUTH_BASIC);
}

Test(auth, any_drops_negotiate_once)
{
    struct ews_config cfg = {0};
    struct ews_auth a;
    char why[256];

    cfg.auth = EWS_AUTH_ANY;
    cfg.username = "svc";
    cr_assert_eq(ews_auth_init(&a, &cfg, why, sizeof(why)), 0);
    a.mask |= CURLAUTH_NEGOTIATE; /* as on a libcurl with GSS-API */
    cr_expect_not(ews_auth_drop_negotiate(&a, CURLAUTH_NTLM), "the server did not offer it");
    cr_expect(ews_auth_drop_negotiate(&a, CURLAUTH_NEGOTIATE | CURLAUTH_NTLM));
    cr_expect_eq(a.mask & CURLAUTH_NEGOTIATE, 0);
    cr_expect_neq(a.mask & CURLAUTH_NTLM, 0);
    cr_expect_not(ews_auth_drop_negotiate(&a, CURLAUTH_NEGOTIATE), "only once");
    ews_auth_clear(&a);
    cfg.auth = EWS_AUTH_NEGOTIATE;
    if (ews_auth_init(&a, &cfg, why, sizeof(why)) == 0) {
        cr_expect_not(ews_auth_drop_negotiate(&a, CURLAUTH_NEGOTIATE),
                      "an explicit negotiate is never changed");
        ews_auth_clear(&a);
    }
}

static void
write_file(const char *path, const char *text, time_t mtime)
{
    FILE *f = fopen(path, "w");
    struct timespec ts[2] = {{mtime, 0}, {mtime, 0}};

    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    cr_assert_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
}

Test(auth, token_file_reread_when_mtime_changes)
{
    char path[] = "/tmp/ews-token-XXXXXX";
    int fd = mkstemp(path);
    struct ews_config cfg = {0};
    struct ews_auth a;
    char why[256];
    bool changed;

    cr_assert_geq(fd, 0);
    close(fd);
    write_file(path, "  first-token\n", 1000000);
    cfg.auth = EWS_AUTH_BEARER;
    cfg.token_file = path;
    cr_assert_eq(ews_auth_init(&a, &cfg, why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(ews_auth_token_refresh(&a, &changed, why, sizeof(why)), 0, "%s", why);
    cr_expect(changed);
    cr_expect_str_eq(a.token, "first-token", "white space is trimmed");
    cr_assert_eq(ews_auth_token_refresh(&a, &changed, why, sizeof(why)), 0);
    cr_expect_not(changed, "same mtime: not read again");
    /* New content with the same mtime is not noticed: the mtime is the signal. */
    write_file(path, "sneaky\n", 1000000);
    cr_assert_eq(ews_auth_token_refresh(&a, &changed, why, sizeof(why)), 0);
    cr_expect_str_eq(a.token, "first-token");
    write_file(path, "second-token\n", 1000060);
    cr_assert_eq(ews_auth_token_refresh(&a, &changed, why, sizeof(why)), 0);
    cr_expect(changed);
    cr_expect_str_eq(a.token, "second-token");
    /* An empty or vanished file keeps the previous token and says why. */
    write_file(path, "\n", 1000120);
    cr_expect_eq(ews_auth_token_refresh(&a, &changed, why, sizeof(why)), EWS_E_INVAL);
    cr_expect_str_eq(a.token, "second-token");
    cr_expect_not_null(strstr(why, "empty"));
    unlink(path);
    cr_expect_eq(ews_auth_token_refresh(&a, &changed, why, sizeof(why)), EWS_E_INVAL);
    cr_expect_str_eq(a.token, "second-token");
    ews_auth_clear(&a);
}

/* Issue 12: the token is re-read on the event loop; a FIFO put in its place blocked open() until
 * a writer came. It is refused at once, and the previous token kept. */
Test(auth, token_file_replaced_by_fifo_refused_at_once, .timeout = 10)
{
    char path[] = "/tmp/ews-token-XXXXXX";
    int fd = mkstemp(path);
    struct ews_config cfg = {.auth = EWS_AUTH_BEARER, .token_file = path};
    struct ews_auth a;
    char why[256];
    bool changed;

    cr_assert_geq(fd, 0);
    close(fd);
    write_file(path, "first-token\n", 1000000);
    cr_assert_eq(ews_auth_init(&a, &cfg, why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(ews_auth_token_refresh(&a, &changed, why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(mkfifo(path, 0600), 0);
    cr_expect_eq(ews_auth_token_refresh(&a, &changed, why, sizeof(why)), EWS_E_INVAL);
    cr_expect_not_null(strstr(why, "not a regular file"), "%s", why);
    cr_expect_str_eq(a.token, "first-token");
    unlink(path);
    ews_auth_clear(&a);
}

Test(auth, config_errors)
{
    struct ews_config cfg = {0};
    struct ews_auth a;
    char why[256];

    cfg.auth = EWS_AUTH_BEARER;
    cr_expect_eq(ews_auth_init(&a, &cfg, why, sizeof(why)), EWS_E_INVAL);
    cr_expect_not_null(strstr(why, "token_file"));
    cfg.auth = EWS_AUTH_NTLM;
    cr_expect_eq(ews_auth_init(&a, &cfg, why, sizeof(why)), EWS_E_INVAL);
    cr_expect_not_null(strstr(why, "username"));
}

Test(autodiscover, order_of_places)
{
    struct ews_ad_step s[EWS_AD_MAX_STEPS];

    cr_assert_eq(ews_ad_steps("alice@contoso.com", s), 5);
    cr_expect_eq(s[0].kind, EWS_AD_POX);
    cr_expect_str_eq(s[0].url, "https://contoso.com/autodiscover/autodiscover.xml");
    cr_expect_eq(s[1].kind, EWS_AD_POX);
    cr_expect_str_eq(s[1].url, "https://autodiscover.contoso.com/autodiscover/autodiscover.xml");
    cr_expect_eq(s[2].kind, EWS_AD_REDIRECT);
    cr_expect_str_eq(s[2].url, "http://autodiscover.contoso.com/autodiscover/autodiscover.xml");
    cr_expect_eq(s[3].kind, EWS_AD_SOAP);
    cr_expect_str_eq(s[3].url, "https://contoso.com/autodiscover/autodiscover.svc");
    cr_expect_eq(s[4].kind, EWS_AD_SOAP);
    cr_expect_str_eq(s[4].url, "https://autodiscover.contoso.com/autodiscover/autodiscover.svc");
    cr_expect_eq(ews_ad_steps("no-domain", s), EWS_E_INVAL);
    cr_expect_eq(ews_ad_steps("a@evil.com/path", s), EWS_E_INVAL);
    cr_expect_eq(ews_ad_steps("a@", s), EWS_E_INVAL);
}

Test(autodiscover, parse_pox_internal_first)
{
    const char *xml =
        "<Autodiscover "
        "xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">"
        "<Response "
        "xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\">"
        "<Account><Action>settings</Action>"
        "<Protocol><Type>EXPR</Type><EwsUrl>https://mail.example.org/EWS/Exchange.asmx</EwsUrl></"
        "Protocol>"
        "<Protocol><Type>EXCH</Type><EwsUrl>https://cas1.corp.example.org/EWS/Exchange.asmx</"
        "EwsUrl></Protocol>"
        "</Account></Response></Autodiscover>";
    struct ews_ad_answer a;

    cr_assert_eq(ews_ad_parse(xml, strlen(xml), 0, &a), 0);
    cr_expect_str_eq(a.ews_url, "https://cas1.corp.example.org/EWS/Exchange.asmx");
}

Test(autodiscover, parse_pox_redirect_addr_and_error)
{
    const char *redir = "<Autodiscover><Response><Account><Action>redirectAddr</Action>"
                        "<RedirectAddr>bob@other.example.org</RedirectAddr></Account></Response>"
                        "</Autodiscover>";
    const char *err = "<Autodiscover><Response><Error><ErrorCode>500</ErrorCode>"
                      "<Message>The email address can't be found.</Message></Error></Response>"
                      "</Autodiscover>";
    const char *dtd = "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><Autodiscover/>";
    struct ews_ad_answer a;

    cr_assert_eq(ews_ad_parse(redir, strlen(redir), 0, &a), 0);
    cr_expect_str_eq(a.redirect_addr, "bob@other.example.org");
    cr_expect_str_eq(a.ews_url, "");
    cr_assert_eq(ews_ad_parse(err, strlen(err), 0, &a), 0);
    cr_expect_str_eq(a.error, "The email address can't be found.");
    cr_expect_eq(ews_ad_parse(dtd, strlen(dtd), 0, &a), EWS_E_UNSAFE);
    cr_expect_eq(ews_ad_parse("<a", 2, 0, &a), EWS_E_MALFORMED);
}

Test(autodiscover, parse_soap_user_settings)
{
    const char *xml = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>"
                      "<GetUserSettingsResponseMessage "
                      "xmlns=\"http://schemas.microsoft.com/exchange/2010/Autodiscover\">"
                      "<Response><UserResponses><UserResponse><UserSettings>"
                      "<UserSetting><Name>ExternalEwsUrl</Name><Value>https://ext.example.org/EWS/"
                      "Exchange.asmx</Value></UserSetting>"
                      "</UserSettings></UserResponse></UserResponses></Response>"
                      "</GetUserSettingsResponseMessage></s:Body></s:Envelope>";
    struct ews_ad_answer a;
    char *req = ews_ad_build_soap("a&b@example.org", "https://x/autodiscover/autodiscover.svc");
    char *pox = ews_ad_build_pox("a<b@example.org");

    cr_assert_eq(ews_ad_parse(xml, strlen(xml), 1, &a), 0);
    cr_expect_str_eq(a.ews_url, "https://ext.example.org/EWS/Exchange.asmx",
                     "external when no internal");
    cr_assert_not_null(req);
    cr_expect_not_null(strstr(req, "<a:Mailbox>a&amp;b@example.org</a:Mailbox>"));
    cr_expect_not_null(strstr(req, "<a:Setting>InternalEwsUrl</a:Setting>"));
    cr_assert_not_null(pox);
    cr_expect_not_null(strstr(pox, "<EMailAddress>a&lt;b@example.org</EMailAddress>"));
    free(req);
    free(pox);
}
