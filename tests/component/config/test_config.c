/* The configuration parser: every key, every error, secret files, reload diff, and the
 * agreement of component.conf.example and docs/configuration.md with the key table. */
#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "config/error.h"

static char tmpdir[] = "/tmp/cp-test-config-XXXXXX";
static char errbuf[1024];

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
make_tmpdir(void)
{
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void
remove_tmpdir(void)
{
    nftw(tmpdir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(config, .init = make_tmpdir, .fini = remove_tmpdir);

/* Returns a path in the test's directory; the caller frees it. */
static char *
tmp_path(const char *name)
{
    char *p;
    cr_assert_neq(asprintf(&p, "%s/%s", tmpdir, name), -1);
    return p;
}

/* Writes TEXT to NAME in the test's directory with MODE; returns the path (caller frees). */
static char *
write_file(const char *name, const char *text, mode_t mode)
{
    char *p = tmp_path(name);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f, "%s", p);
    fputs(text, f);
    fclose(f);
    cr_assert_eq(chmod(p, mode), 0);
    return p;
}

static char *
source_path(const char *rel)
{
    const char *root = getenv("CP_SOURCE_ROOT");
    char *p;
    cr_assert_not_null(root, "CP_SOURCE_ROOT is not set (run through meson test)");
    cr_assert_neq(asprintf(&p, "%s/%s", root, rel), -1);
    return p;
}

/* Loads TEXT written to c.conf; *CFG is the caller's on success. */
static int
load_text(const char *text, struct cp_config **cfg)
{
    char *p = write_file("c.conf", text, 0600);
    int rc = cp_config_load(p, cfg, errbuf, sizeof(errbuf));
    free(p);
    return rc;
}

#define BASE                                                                                       \
    "[component]\njid = calendar.example.com\nsecret = s3cret\ndomains = example.com\n"            \
    "[store]\npath = /tmp/cp.db\n"
/* BASE is 6 lines: an error in text appended to it is on line 7 or later. */

/* Loads TEXT, expects failure with exactly "PATH:SUFFIX" in the error buffer. */
static void
expect_error(const char *text, const char *suffix)
{
    struct cp_config *cfg = NULL;
    char *p = tmp_path("c.conf");
    char *want;

    int rc = load_text(text, &cfg);
    cr_expect_lt(rc, 0, "accepted:\n%s", text);
    cr_expect_null(cfg);
    cr_assert_neq(asprintf(&want, "%s%s", p, suffix), -1);
    cr_expect_str_eq(errbuf, want, "for:\n%s", text);
    free(want);
    free(p);
    cp_config_free(cfg);
}

Test(config, minimal_file_takes_every_default)
{
    struct cp_config *c;
    char *p = source_path("tests/component/config/fixtures/minimal.conf");

    cr_assert_eq(cp_config_load(p, &c, errbuf, sizeof(errbuf)), CP_OK, "%s", errbuf);
    cr_assert_str_eq(c->path, p);
    cr_assert_str_eq(c->jid, "calendar.example.com");
    cr_assert_str_eq(c->secret, "change-me");
    cr_assert_null(c->secret_file);
    cr_assert_str_eq(c->server_host, "127.0.0.1");
    cr_assert_eq(c->server_port, 5347);
    cr_assert_eq(c->domains.n, 1);
    cr_assert_str_eq(c->domains.items[0], "example.com");
    cr_assert_eq(c->admins.n, 0);
    cr_assert_eq(c->reconnect_max, 60);
    cr_assert_str_eq(c->store_path, "/var/lib/calpresence/calpresence.db");
    cr_assert_eq(c->ews_urls.n, 0);
    cr_assert_null(c->username);
    cr_assert_null(c->password);
    cr_assert_null(c->password_file);
    cr_assert_null(c->token_file);
    cr_assert_eq(c->auth, CP_AUTH_ANY);
    cr_assert_eq(c->impersonation, CP_IMP_SMTP);
    cr_assert_str_eq(c->server_version, "Exchange2010_SP2");
    cr_assert_str_eq(c->trust_dir, "/etc/calpresence/trust");
    cr_assert_null(c->ca_file);
    cr_assert_eq(c->weak_certificates, CP_WEAK_WARN);
    cr_assert_eq(c->timeout, 30);
    cr_assert_eq(c->queue, 20000);
    cr_assert_eq(c->concurrency, 20);
    cr_assert_eq(c->mode, CP_NOTIFY_PUSH);
    cr_assert_str_eq(c->listen, "0.0.0.0:3802");
    cr_assert_null(c->url);
    cr_assert_eq(c->status_frequency, 60);
    cr_assert_eq(c->spread, 50);
    cr_assert_eq(c->tentative, CP_TENTATIVE_FREE);
    cr_assert_null(c->mailbox_domain);
    cr_assert_str_eq(c->busy_show, "dnd");
    cr_assert_str_eq(c->busy_status, "In a meeting");
    cr_assert_str_eq(c->oof_show, "away");
    cr_assert_str_eq(c->oof_status, "Out of office");
    cr_assert_str_eq(c->roster_group, "Calendars");
    cr_assert_eq(c->only_while_online, 0);
    cr_assert_eq(c->respect_own_status, 0);
    cr_assert_eq(c->pep_activity, 0, "PEP activity is off unless the administrator turns it on");
    cr_assert_eq(c->roster_check_interval, 3600);
    cr_assert_eq(c->log_level, CP_LOG_INFO);
    cp_config_free(c);
    free(p);
}

Test(config, every_key_parsed)
{
    struct cp_config *c;
    char *p = source_path("tests/component/config/fixtures/full.conf");

    cr_assert_eq(cp_config_load(p, &c, errbuf, sizeof(errbuf)), CP_OK, "%s", errbuf);
    cr_assert_str_eq(c->jid, "calendar.corp.example");
    cr_assert_str_eq(c->secret, "s3cret-value");
    cr_assert_str_eq(c->server_host, "xmpp.internal");
    cr_assert_eq(c->server_port, 5348);
    cr_assert_eq(c->domains.n, 2);
    cr_assert_str_eq(c->domains.items[0], "corp.example");
    cr_assert_str_eq(c->domains.items[1], "other.example");
    cr_assert_eq(c->admins.n, 2);
    cr_assert_str_eq(c->admins.items[0], "boss@corp.example");
    cr_assert_str_eq(c->admins.items[1], "ops@other.example", "admins are normalised");
    cr_assert_eq(c->reconnect_max, 120);
    cr_assert_str_eq(c->store_path, "/srv/cp/store.db");
    cr_assert_eq(c->ews_urls.n, 2);
    cr_assert_str_eq(c->ews_urls.items[0], "https://cas1.corp.example/EWS/Exchange.asmx");
    cr_assert_str_eq(c->ews_urls.items[1], "HTTPS://cas2.corp.example/EWS/Exchange.asmx");
    cr_assert_str_eq(c->username, "CORP\\svc-presence");
    cr_assert_str_eq(c->password, "pa;ss#word");
    cr_assert_eq(c->auth, CP_AUTH_NTLM);
    cr_assert_eq(c->impersonation, CP_IMP_UPN);
    cr_assert_str_eq(c->server_version, "Exchange2013_SP1");
    cr_assert_str_eq(c->trust_dir, "/srv/cp/trust");
    cr_assert_str_eq(c->ca_file, "/srv/cp/extra.pem");
    cr_assert_eq(c->weak_certificates, CP_WEAK_REFUSE);
    cr_assert_eq(c->timeout, 45);
    cr_assert_eq(c->queue, 500);
    cr_assert_eq(c->concurrency, 4);
    cr_assert_eq(c->mode, CP_NOTIFY_STREAMING);
    cr_assert_str_eq(c->listen, "[::1]:8443");
    cr_assert_str_eq(c->url, "https://presence.corp.example/ews/notify");
    cr_assert_eq(c->status_frequency, 1440);
    cr_assert_eq(c->spread, 0);
    cr_assert_eq(c->tentative, CP_TENTATIVE_BUSY);
    cr_assert_str_eq(c->mailbox_domain, "mail.corp.example");
    cr_assert_str_eq(c->busy_show, "xa");
    cr_assert_str_eq(c->busy_status, "Busy; in a meeting");
    cr_assert_str_eq(c->oof_show, "dnd");
    cr_assert_str_eq(c->oof_status, "Away");
    cr_assert_str_eq(c->roster_group, "Team calendars");
    cr_assert_eq(c->only_while_online, 1);
    cr_assert_eq(c->respect_own_status, 1);
    cr_assert_eq(c->pep_activity, 1);
    cr_assert_eq(c->roster_check_interval, 600);
    cr_assert_eq(c->log_level, CP_LOG_DEBUG);
    cp_config_free(c);
    free(p);
}

struct diff_log {
    char text[2048];
    int live, restart;
};

static void
record(const char *section, const char *key, bool live, void *ud)
{
    struct diff_log *d = ud;
    size_t n = strlen(d->text);
    snprintf(d->text + n, sizeof(d->text) - n, "[%s]%s=%s ", section, key,
             live ? "live" : "restart");
    if (live)
        d->live++;
    else
        d->restart++;
}

/* full.conf sets every key but the three files to a non-default value: the diff against the
 * defaults must name each such key once, which also proves every key lands in its own field. */
Test(config, full_differs_from_defaults_in_every_key)
{
    struct cp_config *a, *b;
    struct diff_log d = {0};
    char *pa = source_path("tests/component/config/fixtures/minimal.conf");
    char *pb = source_path("tests/component/config/fixtures/full.conf");

    cr_assert_eq(cp_config_load(pa, &a, errbuf, sizeof(errbuf)), CP_OK, "%s", errbuf);
    cr_assert_eq(cp_config_load(pb, &b, errbuf, sizeof(errbuf)), CP_OK, "%s", errbuf);
    int restart = cp_config_diff(a, b, record, &d);
    int live_keys = 0;
    for (size_t k = 0; k < cp_config_key_count; k++) {
        const struct cp_config_key *key = &cp_config_keys[k];
        char item[128];
        snprintf(item, sizeof(item), "[%s]%s=%s ", key->section, key->name,
                 key->live ? "live" : "restart");
        bool file_key = strcmp(key->name, "secret_file") == 0 ||
                        strcmp(key->name, "password_file") == 0 ||
                        strcmp(key->name, "token_file") == 0;
        if (file_key)
            cr_expect_null(strstr(d.text, item), "%s reported", item);
        else
            cr_expect_not_null(strstr(d.text, item), "%s missing from: %s", item, d.text);
        live_keys += key->live && !file_key;
    }
    cr_assert_eq(d.live + d.restart, (int)cp_config_key_count - 3);
    cr_assert_eq(d.live, live_keys);
    cr_assert_eq(restart, d.restart);
    cp_config_free(a);
    cp_config_free(b);
    free(pa);
    free(pb);
}

Test(config, diff_live_and_restart)
{
    struct cp_config *a, *b;
    struct diff_log d = {0};

    cr_assert_eq(load_text(BASE "[log]\nlevel = info\n", &a), CP_OK, "%s", errbuf);
    cr_assert_eq(load_text("[component]\njid = calendar.example.com\nsecret = other\n"
                           "domains = example.com\nadmins = a@example.com\nserver_port = 5400\n"
                           "[store]\npath = /tmp/cp.db\n[log]\nlevel = debug\n",
                           &b),
                 CP_OK, "%s", errbuf);
    cr_assert_eq(cp_config_diff(a, b, record, &d), 1);
    cr_assert_str_eq(d.text, "[component]secret=live [component]server_port=restart "
                             "[component]admins=live [log]level=live ");
    cr_assert_eq(cp_config_diff(a, a, record, &d), 0, "a configuration equals itself");
    cr_assert_eq(d.live + d.restart, 4);
    cr_assert_eq(cp_config_diff(b, a, NULL, NULL), 1, "REPORT may be NULL");
    cp_config_free(a);
    cp_config_free(b);
}

/* A reload keeps the running value of every restart-only key: after keep_restart_only the new
 * configuration differs from the running one only in live keys, and both free cleanly. */
Test(config, keep_restart_only_leaves_only_live_changes)
{
    struct cp_config *ref, *running, *fresh;
    struct diff_log d = {0};
    char *pa = source_path("tests/component/config/fixtures/minimal.conf");
    char *pb = source_path("tests/component/config/fixtures/full.conf");

    cr_assert_eq(cp_config_load(pa, &ref, errbuf, sizeof(errbuf)), CP_OK, "%s", errbuf);
    cr_assert_eq(cp_config_load(pa, &running, errbuf, sizeof(errbuf)), CP_OK, "%s", errbuf);
    cr_assert_eq(cp_config_load(pb, &fresh, errbuf, sizeof(errbuf)), CP_OK, "%s", errbuf);
    cp_config_keep_restart_only(fresh, running);
    cr_expect_eq(cp_config_diff(ref, fresh, record, &d), 0, "restart-only changes kept: %s",
                 d.text);
    cr_expect_str_eq(fresh->jid, ref->jid);
    cr_expect_str_eq(fresh->domains.items[0], ref->domains.items[0]);
    int live_keys = 0;
    for (size_t k = 0; k < cp_config_key_count; k++)
        live_keys += cp_config_keys[k].live && strcmp(cp_config_keys[k].name, "secret_file") != 0;
    cr_expect_eq(d.live, live_keys, "every live change applied: %s", d.text);
    cp_config_free(ref);
    cp_config_free(running);
    cp_config_free(fresh);
    free(pa);
    free(pb);
}

Test(config, syntax_variants)
{
    struct cp_config *c;

    cr_assert_eq(load_text("\xef\xbb\xbf[component]\r\n"
                           "jid=calendar.example.com\r\n"
                           "  secret   =   a#b;c   \r\n"
                           "domains = example.com   ;comment\r\n"
                           "[calendar]\n"
                           "busy_status = \"  padded # kept  \"   # comment\n"
                           "mailbox_domain =\n"
                           "[exchange]\n"
                           "ca_file = \"\"\n"
                           "[store]\npath = /tmp/cp.db\n",
                           &c),
                 CP_OK, "%s", errbuf);
    cr_assert_str_eq(c->jid, "calendar.example.com");
    cr_assert_str_eq(c->secret, "a#b;c", "'#' and ';' not after whitespace are data");
    cr_assert_str_eq(c->domains.items[0], "example.com");
    cr_assert_str_eq(c->busy_status, "  padded # kept  ");
    cr_assert_null(c->ca_file, "an empty optional string is not set");
    cr_assert_null(c->mailbox_domain);
    cp_config_free(c);
}

/* One case per kind of error: each must give the exact FILE:LINE: reason. */
Test(config, every_error_kind)
{
    static const struct {
        const char *text, *err;
    } cases[] = {
        {BASE "[nope]\n", ":7: unknown section [nope]"},
        {BASE "[store\n", ":7: unterminated section header '[store'"},
        {BASE "[store] x\n", ":7: text after section header"},
        {"jid = calendar.example.com\n", ":1: key 'jid' outside any [section]"},
        {BASE "[component]\nfoo = 1\n", ":8: unknown key 'foo' in [component]"},
        {BASE "[store]\njid = x.org\n", ":8: unknown key 'jid' in [store]"},
        {BASE "[component]\njid = other.example.com\n",
         ":8: duplicate key 'jid' in [component] (first set on line 2)"},
        {BASE "[component]\nserver_port 5347 # note\n", ":8: missing '=' after 'server_port 5347'"},
        {BASE "[component]\n= 5\n", ":8: missing key name before '='"},
        {BASE "[component]\nserver_port = abc\n", ":8: server_port: 'abc' is not an integer"},
        {BASE "[component]\nserver_port = 12x\n", ":8: server_port: '12x' is not an integer"},
        {BASE "[component]\nserver_port =\n", ":8: server_port: '' is not an integer"},
        {BASE "[component]\nserver_port = 99999999999999999999\n",
         ":8: server_port: '99999999999999999999' is not an integer"},
        {BASE "[component]\nserver_port = 0\n", ":8: server_port: 0 is out of range 1..65535"},
        {BASE "[component]\nserver_port = 65536\n",
         ":8: server_port: 65536 is out of range 1..65535"},
        {BASE "[component]\nreconnect_max = 0\n", ":8: reconnect_max: 0 is out of range 1..3600"},
        {BASE "[exchange]\ntimeout = 601\n", ":8: timeout: 601 is out of range 1..600"},
        {BASE "[exchange]\nqueue = 0\n", ":8: queue: 0 is out of range 1..1000000"},
        {BASE "[exchange]\nconcurrency = -1\n", ":8: concurrency: -1 is out of range 1..1000"},
        {BASE "[notifications]\nstatus_frequency = 0\n",
         ":8: status_frequency: 0 is out of range 1..1440"},
        {BASE "[notifications]\nstatus_frequency = 1441\n",
         ":8: status_frequency: 1441 is out of range 1..1440"},
        {BASE "[calendar]\nspread = 60\n", ":8: spread: 60 is out of range 0..59"},
        {BASE "[calendar]\nspread = -1\n", ":8: spread: -1 is out of range 0..59"},
        {BASE "[exchange]\nauth = kerberos\n",
         ":8: auth: 'kerberos' is not one of any, basic, ntlm, negotiate, bearer"},
        {BASE "[exchange]\nimpersonation = upn2\n",
         ":8: impersonation: 'upn2' is not one of smtp, upn, sid, none"},
        {BASE "[exchange]\nweak_certificates = allow\n",
         ":8: weak_certificates: 'allow' is not one of warn, refuse"},
        {BASE "[notifications]\nmode = poll\n",
         ":8: mode: 'poll' is not one of push, streaming, pull"},
        {BASE "[calendar]\ntentative = maybe\n", ":8: tentative: 'maybe' is not one of free, busy"},
        {BASE "[calendar]\nbusy_show = busy\n",
         ":8: busy_show: 'busy' is not one of away, chat, dnd, xa"},
        {BASE "[calendar]\noof_show =\n", ":8: oof_show: empty value"},
        {BASE "[calendar]\nbusy_status =\n", ":8: busy_status: empty value"},
        {BASE "[exchange]\ntrust_dir = \"\"\n", ":8: trust_dir: empty value"},
        {BASE "[notifications]\nlisten =\n", ":8: listen: empty value"},
        {BASE "[log]\nlevel = trace\n",
         ":8: level: 'trace' is not one of error, warn, info, debug"},
        {BASE "[exchange]\nserver_version = Exchange2010_SP3\n",
         ":8: server_version: 'Exchange2010_SP3' is not one of Exchange2007, Exchange2007_SP1, "
         "Exchange2009, Exchange2010, Exchange2010_SP1, Exchange2010_SP2, Exchange2012, "
         "Exchange2013, Exchange2013_SP1, Exchange2015, Exchange2016, V2015_10_05, "
         "V2016_01_06, V2016_04_13, V2016_07_13, V2016_10_10, V2017_01_07, V2017_04_14, "
         "V2017_07_11"},
        {"[component]\njid =\n", ":2: jid: empty value"},
        {"[component]\njid = cal@example.com\n", ":2: jid: 'cal@example.com' is not a domain"},
        {"[component]\njid = calendar.example.com/r\n",
         ":2: jid: 'calendar.example.com/r' is not a domain"},
        {"[component]\ndomains = example.com,,other.org\n", ":2: domains: empty item in list"},
        {"[component]\ndomains = example.com, bad domain\n",
         ":2: domains: 'bad domain' is not a domain"},
        {BASE "[component]\nadmins = admin\n", ":8: admins: 'admin' is not a bare JID user@domain"},
        {BASE "[component]\nadmins = a@example.com, admin@example.com/laptop\n",
         ":8: admins: 'admin@example.com/laptop' is not a bare JID user@domain"},
        {BASE "[component]\nserver_host = my host\n",
         ":8: server_host: 'my host' is not a host name or address"},
        {BASE "[exchange]\news_urls = http://cas1.example.com/EWS/Exchange.asmx\n",
         ":8: ews_urls: 'http://cas1.example.com/EWS/Exchange.asmx' is not an https:// URL"},
        {BASE "[exchange]\news_urls = https://\n",
         ":8: ews_urls: 'https://' is not an https:// URL"},
        {BASE "[exchange]\nusername = u\npassword = p\n"
              "ews_urls = autodiscover, https://cas1.example.com/EWS/Exchange.asmx\n",
         ":10: ews_urls: autodiscover must be the only entry"},
        {BASE "[notifications]\nurl = ftp://x.example.com/\n",
         ":8: url: 'ftp://x.example.com/' is not an http:// or https:// URL"},
        {BASE "[notifications]\nlisten = 3802\n", ":8: listen: '3802' is not HOST:PORT"},
        {BASE "[notifications]\nlisten = 0.0.0.0:0\n", ":8: listen: '0.0.0.0:0' is not HOST:PORT"},
        {BASE "[notifications]\nlisten = ::1:3802\n", ":8: listen: '::1:3802' is not HOST:PORT"},
        {BASE "[calendar]\nmailbox_domain = user@corp.example\n",
         ":8: mailbox_domain: 'user@corp.example' is not a domain"},
        {BASE "[calendar]\nbusy_status = \"unterminated\n", ":8: unterminated quoted value"},
        {BASE "[calendar]\nbusy_status = \"a\" b\n", ":8: text after quoted value"},
        {BASE "[component]\nsecret_file = /nonexistent\n",
         ":8: secret and secret_file are mutually exclusive"},
        {"[component]\nsecret_file = /x\nsecret = y\n",
         ":3: secret_file and secret are mutually exclusive"},
        {BASE "[exchange]\npassword = a\npassword_file = /x\n",
         ":9: password and password_file are mutually exclusive"},
        {"[component]\nsecret = s\ndomains = example.com\n[store]\npath = /x\n",
         ": missing required key 'jid' in [component]"},
        {"[component]\njid = c.example.com\ndomains = example.com\n[store]\npath = /x\n",
         ": missing required key 'secret' or 'secret_file' in [component]"},
        {"[component]\njid = c.example.com\nsecret = s\n[store]\npath = /x\n",
         ": missing required key 'domains' in [component]"},
        {"[component]\njid = c.example.com\nsecret = s\ndomains = example.com\n",
         ": missing required key 'path' in [store]"},
        {BASE "[exchange]\news_urls = autodiscover\npassword = p\n",
         ": [exchange] ews_urls needs username"},
        {BASE "[exchange]\news_urls = autodiscover\nusername = u\n",
         ": [exchange] ews_urls needs password or password_file"},
        {BASE "[exchange]\news_urls = autodiscover\nauth = bearer\n",
         ": [exchange] auth = bearer needs token_file"},
        {BASE "[exchange]\news_urls = autodiscover\nusername = u\npassword = p\n",
         ": [notifications] url is required with mode = push"},
        {BASE "[component]\nsecret_file =\n", ":8: secret_file: empty value"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_error(cases[i].text, cases[i].err);
}

Test(config, missing_file)
{
    struct cp_config *c = NULL;
    char *p = tmp_path("absent.conf");
    char want[600];

    cr_assert_eq(cp_config_load(p, &c, errbuf, sizeof(errbuf)), CP_EIO);
    cr_assert_null(c);
    snprintf(want, sizeof(want), "%s: cannot open (No such file or directory)", p);
    cr_assert_str_eq(errbuf, want);
    free(p);
}

Test(config, url_not_required_without_push_or_servers)
{
    struct cp_config *c;

    cr_assert_eq(load_text(BASE "[exchange]\news_urls = autodiscover\nusername = u\npassword = p\n"
                                "[notifications]\nmode = pull\n",
                           &c),
                 CP_OK, "%s", errbuf);
    cr_assert_eq(c->ews_urls.n, 1);
    cr_assert_str_eq(c->ews_urls.items[0], "autodiscover");
    cp_config_free(c);
}

Test(config, secret_file_read_and_newline_stripped)
{
    struct cp_config *c;
    char *sf = write_file("secret", "from-file\r\n\n", 0600);
    char *pf = write_file("password", "pw-from-file", 0400);
    char *tf = write_file("token", "tok", 0600);
    char *text;

    cr_assert_neq(asprintf(&text,
                           "[component]\njid = c.example.com\nsecret_file = %s\n"
                           "domains = example.com\n[store]\npath = /x\n"
                           "[exchange]\npassword_file = %s\ntoken_file = %s\n",
                           sf, pf, tf),
                  -1);
    cr_assert_eq(load_text(text, &c), CP_OK, "%s", errbuf);
    cr_assert_str_eq(c->secret, "from-file");
    cr_assert_str_eq(c->secret_file, sf);
    cr_assert_str_eq(c->password, "pw-from-file");
    cr_assert_str_eq(c->password_file, pf);
    cr_assert_str_eq(c->token_file, tf);
    cp_config_free(c);
    free(text);
    free(sf);
    free(pf);
    free(tf);
}

/* Loads a configuration whose KEY (in SECTION) names FILE; expects refusal with WHY. */
static void
expect_file_refused(const char *section, const char *key, const char *file, const char *why,
                    int code)
{
    struct cp_config *c = NULL;
    char *text, *want, *conf = tmp_path("c.conf");

    cr_assert_neq(asprintf(&text,
                           "[component]\njid = c.example.com\ndomains = example.com\n%s\n"
                           "[store]\npath = /x\n[%s]\n%s = %s\n",
                           strcmp(key, "secret_file") == 0 ? "" : "secret = s", section, key, file),
                  -1);
    cr_expect_eq(load_text(text, &c), code, "%s", errbuf);
    cr_expect_null(c);
    /* The error points at the line that named the file (issue 12). */
    cr_assert_neq(asprintf(&want, "%s:8: %s %s: %s", conf, key, file, why), -1);
    cr_expect_str_eq(errbuf, want);
    free(want);
    free(text);
    free(conf);
}

Test(config, secret_files_refused_when_group_or_others_can_read)
{
    static const struct {
        const char *section, *key;
    } keys[] = {
        {"component", "secret_file"}, {"exchange", "password_file"}, {"exchange", "token_file"}};
    static const mode_t modes[] = {0640, 0604, 0644, 0440};
    char why[128];

    for (size_t k = 0; k < 3; k++) {
        for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
            char *f = write_file("s", "secret\n", modes[m]);
            snprintf(why, sizeof(why), "readable by group or others (mode %04o); chmod 600 it",
                     (unsigned)modes[m]);
            expect_file_refused(keys[k].section, keys[k].key, f, why, CP_EPERM);
            free(f);
        }
    }
}

Test(config, secret_files_refused_when_missing_empty_or_not_regular)
{
    char *missing = tmp_path("missing");
    char *empty = write_file("empty", "", 0600);
    char *blank = write_file("blank", "\n", 0600);
    char *nul = write_file("nul", "", 0600);
    FILE *f = fopen(nul, "w");
    fwrite("a\0b", 1, 3, f);
    fclose(f);

    expect_file_refused("component", "secret_file", missing,
                        "cannot open (No such file or directory)", CP_EIO);
    expect_file_refused("exchange", "password_file", missing,
                        "cannot open (No such file or directory)", CP_EIO);
    expect_file_refused("component", "secret_file", empty, "empty", CP_EINVAL);
    expect_file_refused("exchange", "password_file", blank, "empty", CP_EINVAL);
    expect_file_refused("component", "secret_file", nul, "contains a NUL byte", CP_EINVAL);
    expect_file_refused("component", "secret_file", tmpdir, "not a regular file", CP_EIO);
    free(missing);
    free(empty);
    free(blank);
    free(nul);
}

/* Issue 12: a FIFO blocked open() until a writer came, for ever under -n. Criterion's timeout
 * turns such a hang into a failure. */
Test(config, secret_files_that_are_not_files_refused_at_once, .timeout = 10)
{
    char *fifo = tmp_path("fifo");

    cr_assert_eq(mkfifo(fifo, 0600), 0);
    expect_file_refused("component", "secret_file", fifo, "not a regular file", CP_EIO);
    expect_file_refused("exchange", "password_file", fifo, "not a regular file", CP_EIO);
    expect_file_refused("exchange", "token_file", fifo, "not a regular file", CP_EIO);
    expect_file_refused("exchange", "password_file", "/dev/zero", "not a regular file", CP_EIO);
    free(fifo);
}

/* Loads PATH and expects "PATH: not a regular file". */
static void
expect_not_regular(const char *path)
{
    struct cp_config *c = NULL;
    char *want;

    cr_expect_eq(cp_config_load(path, &c, errbuf, sizeof(errbuf)), CP_EINVAL, "%s", errbuf);
    cr_expect_null(c);
    cr_assert_neq(asprintf(&want, "%s: not a regular file", path), -1);
    cr_expect_str_eq(errbuf, want);
    free(want);
}

/* -c FIFO hung, -c /dev/zero grew without bound, -c DIR failed with a read error. */
Test(config, configuration_that_is_not_a_file_refused_at_once, .timeout = 10)
{
    char *fifo = tmp_path("fifo");

    cr_assert_eq(mkfifo(fifo, 0600), 0);
    expect_not_regular(fifo);
    expect_not_regular("/dev/zero");
    expect_not_regular(tmpdir);
    free(fifo);
}

/* Writes BASE, then "[calendar]", then busy_status = VALUE with a value of N bytes and the line
 * break EOL, and loads it. */
static int
load_long_line(size_t n, const char *eol)
{
    size_t prefix = strlen("busy_status = ");
    char *line = malloc(n + 8);
    char *text;
    int rc;

    cr_assert_not_null(line);
    memcpy(line, "busy_status = ", prefix);
    memset(line + prefix, 'x', n - prefix);
    line[n] = '\0';
    cr_assert_neq(asprintf(&text, BASE "[calendar]\n%s%s", line, eol), -1);
    struct cp_config *c = NULL;
    rc = load_text(text, &c);
    cp_config_free(c);
    free(text);
    free(line);
    return rc;
}

/* A line is at most 4096 bytes before its line break, so that a file without line breaks is
 * refused after 4 KiB instead of being read whole into memory. */
Test(config, line_length_capped)
{
    char *conf = tmp_path("c.conf"), *want;

    cr_assert_neq(asprintf(&want, "%s:8: line longer than 4096 bytes", conf), -1);
    cr_expect_eq(load_long_line(4096, "\n"), CP_OK, "%s", errbuf);
    cr_expect_eq(load_long_line(4096, "\r\n"), CP_OK, "%s", errbuf);
    cr_expect_eq(load_long_line(4096, ""), CP_OK, "%s", errbuf);
    cr_expect_eq(load_long_line(4097, "\n"), CP_EINVAL);
    cr_expect_str_eq(errbuf, want);
    cr_expect_eq(load_long_line(4097, "\r\n"), CP_EINVAL);
    cr_expect_str_eq(errbuf, want);
    cr_expect_eq(load_long_line(1 << 20, ""), CP_EINVAL);
    cr_expect_str_eq(errbuf, want);
    free(want);
    free(conf);
}

/* Sections may repeat (docs/configuration.md says so, and the tests above append a [component]
 * to BASE); a key still may not, whichever header it comes under. */
/* Found by fuzz_config (issue 12): a list item starting with ';' or '#' was printed after ", ",
 * where it reads back as a comment; the printed list is now quoted when it has to be. */
Test(config, printed_list_with_comment_characters_reads_back)
{
    struct cp_config *c, *again;
    char *text = NULL;
    size_t len = 0;

    cr_assert_eq(
        load_text(BASE "[component]\nadmins = a@example.com,;b@example.com,#c@x.org\n", &c), CP_OK,
        "%s", errbuf);
    cr_assert_eq(c->admins.n, 3);
    FILE *m = open_memstream(&text, &len);
    cp_config_print(c, m);
    fclose(m);
    cr_assert_not_null(strstr(text, "admins = \"a@example.com, ;b@example.com, #c@x.org\"\n"), "%s",
                       text);
    /* Secrets print hidden: put the real one back before reading it again. */
    char *hidden = strstr(text, "secret = (hidden)");
    cr_assert_not_null(hidden);
    memcpy(hidden, "secret = s3cret  ", 17);
    cr_assert_eq(load_text(text, &again), CP_OK, "%s\n%s", errbuf, text);
    cr_assert_eq(again->admins.n, 3);
    cr_assert_str_eq(again->admins.items[2], "#c@x.org");
    cp_config_free(again);
    cp_config_free(c);
    free(text);
}

Test(config, section_may_repeat_key_may_not)
{
    struct cp_config *c;

    cr_assert_eq(load_text(BASE "[component]\nserver_port = 5348\n", &c), CP_OK, "%s", errbuf);
    cr_expect_eq(c->server_port, 5348);
    cp_config_free(c);
    expect_error(BASE "[component]\njid = other.example.com\n",
                 ":8: duplicate key 'jid' in [component] (first set on line 2)");
}

Test(config, admins_and_domains)
{
    struct cp_config *c;

    cr_assert_eq(load_text(BASE "[component]\nadmins = Admin@Example.COM, ops@other.org\n", &c),
                 CP_OK, "%s", errbuf);
    cr_assert(cp_config_is_admin(c, "Admin@example.com"));
    cr_assert(cp_config_is_admin(c, "Admin@EXAMPLE.com/laptop"), "domain case, resource");
    cr_assert(cp_config_is_admin(c, "ops@other.org"));
    cr_assert(cp_config_is_admin(c, "admin@example.com"), "nodeprep folds the localpart's case");
    cr_assert(cp_config_is_admin(c, "\xef\xbc\xa1"
                                    "dmin@example.com"),
              "full-width A is A");
    cr_assert_str_eq(c->admins.items[0], "admin@example.com");
    cr_assert_not(cp_config_is_admin(c, "eve@example.com"));
    cr_assert_not(cp_config_is_admin(c, "example.com"));
    cr_assert_not(cp_config_is_admin(c, ""));
    cr_assert(cp_config_serves_domain(c, "example.com"));
    cr_assert(cp_config_serves_domain(c, "EXAMPLE.COM"));
    cr_assert_not(cp_config_serves_domain(c, "other.org"), "admins' domains are not served");
    cr_assert_not(cp_config_serves_domain(c, "sub.example.com"));
    cr_assert_not(cp_config_serves_domain(c, NULL));
    cp_config_free(c);
}

/* A value is normalised in place, so one that grows (U+0149 folds to U+02BC 'n') is refused
 * with the form to write; the domain is normalised as well. */
Test(config, admins_normalised_longer_refused)
{
    struct cp_config *c;

    expect_error(BASE "[component]\nadmins = \xc5\x89@example.com\n",
                 ":8: admins: '\xc5\x89@example.com' is the JID '\xca\xbc"
                 "n@example.com' once "
                 "normalised: write that");
    cr_assert_eq(load_text("[component]\njid = CALENDAR.Example.com\nsecret = x\n"
                           "domains = Example.COM\n[store]\npath = /x\n",
                           &c),
                 CP_OK, "%s", errbuf);
    cr_assert_str_eq(c->jid, "calendar.example.com");
    cr_assert_str_eq(c->domains.items[0], "example.com");
    cp_config_free(c);
}

Test(config, print_hides_secrets)
{
    struct cp_config *c;
    char *buf = NULL;
    size_t len = 0;

    cr_assert_eq(load_text(BASE "[exchange]\npassword = hunter2\n[calendar]\n"
                                "busy_status = \"Busy # really\"\n",
                           &c),
                 CP_OK, "%s", errbuf);
    FILE *out = open_memstream(&buf, &len);
    cp_config_print(c, out);
    fclose(out);
    cr_assert_null(strstr(buf, "s3cret"), "%s", buf);
    cr_assert_null(strstr(buf, "hunter2"), "%s", buf);
    cr_assert_not_null(strstr(buf, "\nsecret = (hidden)\n"));
    cr_assert_not_null(strstr(buf, "\npassword = (hidden)\n"));
    cr_assert_not_null(strstr(buf, "\nbusy_status = \"Busy # really\"\n"));
    cr_assert_not_null(strstr(buf, "[component]\njid = calendar.example.com\n"));
    cp_config_free(c);
    free(buf);
}

/* Found by tests/fuzz/fuzz_config.c: the printed form reads back as the same configuration.
 * An unset string (here secret_file, which `secret` excludes) used to be written as
 * "secret_file =", which the parser refuses as an empty value. */
static void
count_diff(const char *section, const char *key, bool live, void *ud)
{
    (void)section;
    (void)key;
    (void)live;
    (*(int *)ud)++;
}

Test(config, print_reads_back)
{
    int differences = 0;
    struct cp_config *c, *again;
    char *buf = NULL;
    size_t len = 0;

    cr_assert_eq(load_text(BASE "[calendar]\nbusy_status = \"Busy # really\"\n", &c), CP_OK, "%s",
                 errbuf);
    FILE *out = open_memstream(&buf, &len);
    cp_config_print(c, out);
    fclose(out);
    cr_assert_not_null(strstr(buf, "\n# secret_file =\n"), "%s", buf);
    cr_assert_eq(load_text(buf, &again), CP_OK, "%s\n%s", errbuf, buf);
    cr_assert_str_eq(again->secret, "(hidden)");
    free(again->secret);
    again->secret = strdup(c->secret);
    cp_config_diff(c, again, count_diff, &differences);
    cr_assert_eq(differences, 0);
    cr_assert_str_eq(again->busy_status, "Busy # really");
    cr_assert_null(again->secret_file);
    cp_config_free(again);
    cp_config_free(c);
    free(buf);
}

/* Found by tests/fuzz/fuzz_config.c: a value ending in CR (possible when a blank follows it,
 * "a\r\t") is printed quoted, since written bare the reader would drop the CR. */
Test(config, print_quotes_trailing_cr)
{
    struct cp_config *c, *again;
    char *buf = NULL;
    size_t len = 0;

    cr_assert_eq(load_text(BASE "[calendar]\nbusy_status = In a meeting\r\r\t\n", &c), CP_OK, "%s",
                 errbuf);
    cr_assert_str_eq(c->busy_status, "In a meeting\r\r");
    FILE *out = open_memstream(&buf, &len);
    cp_config_print(c, out);
    fclose(out);
    cr_assert_not_null(strstr(buf, "\nbusy_status = \"In a meeting\r\r\"\n"), "%s", buf);
    cr_assert_eq(load_text(buf, &again), CP_OK, "%s", errbuf);
    cr_assert_str_eq(again->busy_status, "In a meeting\r\r");
    cp_config_free(again);
    cp_config_free(c);
    free(buf);
}

/* An error message must not quote a secret, even one that is refused. */
Test(config, errors_never_quote_secrets)
{
    struct cp_config *c = NULL;

    cr_assert_lt(load_text("[component]\nsecret = topsecret\nsecret = topsecret2\n", &c), 0);
    cr_assert_null(strstr(errbuf, "topsecret"), "%s", errbuf);
}

static char *
read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t cap = 0;

    cr_assert_not_null(f, "%s", path);
    cr_assert_gt(getdelim(&buf, &cap, '\0', f), 0);
    fclose(f);
    return buf;
}

/* The two comment lines component.conf.example carries above each key. */
static void
example_comment(const struct cp_config_key *key, char *out, size_t outlen)
{
    char dflt[128];

    if (key->required && key->either)
        snprintf(dflt, sizeof(dflt), "required (or %s)", key->either);
    else if (key->required)
        snprintf(dflt, sizeof(dflt), "required");
    else
        snprintf(dflt, sizeof(dflt), "default %s", key->def && *key->def ? key->def : "none");
    snprintf(out, outlen, "\n# %s: %s\n#   %s; %s\n", key->name, key->meaning, dflt,
             key->live ? "reload applies a change" : "restart to change");
}

/* Every key of the table is in component.conf.example, in its section, with its meaning,
 * default and reload behaviour, followed by the key itself (set or commented out). */
Test(config, example_documents_every_key)
{
    char *path = source_path("component.conf.example");
    char *text = read_all(path);
    char comment[512], header[64], line1[96], line2[96];

    for (size_t k = 0; k < cp_config_key_count; k++) {
        const struct cp_config_key *key = &cp_config_keys[k];
        example_comment(key, comment, sizeof(comment));
        const char *at = strstr(text, comment);
        cr_expect_not_null(at, "component.conf.example lacks:%s", comment);
        if (at == NULL)
            continue;
        const char *next = at + strlen(comment);
        snprintf(line1, sizeof(line1), "%s =", key->name);
        snprintf(line2, sizeof(line2), "# %s =", key->name);
        cr_expect(strncmp(next, line1, strlen(line1)) == 0 ||
                      strncmp(next, line2, strlen(line2)) == 0,
                  "no '%s' line after its comment", key->name);
        /* The section in force is the last header before the key. */
        snprintf(header, sizeof(header), "\n[%s]\n", key->section);
        const char *sec = NULL;
        for (const char *s = strstr(text, "\n["); s && s < at; s = strstr(s + 1, "\n["))
            sec = s;
        cr_expect(sec != NULL && strncmp(sec, header, strlen(header)) == 0, "%s is not under [%s]",
                  key->name, key->section);
    }
    free(text);
    free(path);
}

/* Collects the warnings of cp_config_validate, one a line. */
static char warnings[8192];

static void
collect_warning(const char *msg, void *ud)
{
    (void)ud;
    strncat(warnings, msg, sizeof(warnings) - strlen(warnings) - 2);
    strcat(warnings, "\n");
}

/* Validates TEXT written to c.conf; *CFG is the caller's on success. */
static int
validate_text(const char *text, struct cp_config **cfg)
{
    char *p = write_file("c.conf", text, 0600);
    warnings[0] = '\0';
    int rc = cp_config_validate(p, collect_warning, NULL, cfg, errbuf, sizeof(errbuf));
    free(p);
    return rc;
}

/* The line of the example that sets KEY ("key = "), for the warnings that name it. */
static int
example_line(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    char line[4200];
    int n = 0;

    cr_assert_not_null(f);
    while (fgets(line, sizeof(line), f)) {
        n++;
        if (strncmp(line, key, strlen(key)) == 0 && strstr(line, " = ") == line + strlen(key)) {
            fclose(f);
            return n;
        }
    }
    fclose(f);
    cr_assert_fail("no line sets %s", key);
    return 0;
}

/* The shipped example passes -n (README), keeps its secrets in files with the names the README
 * uses, and -n names the line of each file that is still to be created. */
Test(config, example_validates_and_names_missing_files)
{
    struct cp_config *c;
    char *path = source_path("component.conf.example");
    char want[512];

    warnings[0] = '\0';
    cr_assert_eq(cp_config_validate(path, collect_warning, NULL, &c, errbuf, sizeof(errbuf)), CP_OK,
                 "%s", errbuf);
    cr_assert_str_eq(c->jid, "calendar.example.com");
    cr_assert_eq(c->ews_urls.n, 2);
    cr_assert_str_eq(c->secret_file, "/etc/calpresence/secret");
    cr_assert_str_eq(c->password_file, "/etc/calpresence/exchange-password");
    cr_assert_null(c->secret, "no inline secret in the example");
    if (access("/etc/calpresence/secret", F_OK) != 0) {
        snprintf(want, sizeof(want),
                 "%s:%d: warning: secret_file /etc/calpresence/secret does not exist", path,
                 example_line(path, "secret_file"));
        cr_expect_not_null(strstr(warnings, want), "%s", warnings);
    }
    if (access("/etc/calpresence/exchange-password", F_OK) != 0) {
        snprintf(want, sizeof(want),
                 "%s:%d: warning: password_file /etc/calpresence/exchange-password does not "
                 "exist",
                 path, example_line(path, "password_file"));
        cr_expect_not_null(strstr(warnings, want), "%s", warnings);
    }
    cp_config_free(c);
    free(path);
}

/* The daemon itself still refuses a secret file that is missing. */
Test(config, missing_secret_file_is_an_error_outside_validate)
{
    struct cp_config *c = NULL;
    cr_assert_lt(load_text("[component]\njid = c.example.com\nsecret_file = /nonexistent/s\n"
                           "domains = example.com\n[store]\npath = /tmp/x.db\n",
                           &c),
                 0);
    cr_assert_null(c);
    cr_assert_not_null(strstr(errbuf, ":3: secret_file /nonexistent/s: cannot open"), "%s", errbuf);
}

Test(config, placeholder_secret_warned_and_refused_at_start)
{
    struct cp_config *c;
    cr_assert_eq(validate_text("[component]\njid = c.example.com\ndomains = example.com\n"
                               "secret = Change-Me\n[store]\npath = /tmp/x.db\n",
                               &c),
                 CP_OK, "%s", errbuf);
    cr_expect_not_null(strstr(warnings, "c.conf:4: warning: the component secret is the "
                                        "placeholder 'change-me'"),
                       "%s", warnings);
    cr_assert_eq(cp_config_check_start(c, errbuf, sizeof(errbuf)), CP_EINVAL);
    cr_expect_not_null(strstr(errbuf, "c.conf:4: the component secret is the placeholder "
                                      "'change-me': refusing to start"),
                       "%s", errbuf);
    cp_config_free(c);

    /* From a file, the line is the one that named the file. */
    char *secret = write_file("secret", "change-me\n", 0600);
    char *text;
    cr_assert_neq(asprintf(&text,
                           "[component]\njid = c.example.com\ndomains = example.com\n"
                           "secret_file = %s\n[store]\npath = /tmp/x.db\n",
                           secret),
                  -1);
    cr_assert_eq(load_text(text, &c), CP_OK, "%s", errbuf);
    cr_assert_eq(cp_config_check_start(c, errbuf, sizeof(errbuf)), CP_EINVAL);
    cr_expect_not_null(strstr(errbuf, "c.conf:4: the component secret is the placeholder"), "%s",
                       errbuf);
    cp_config_free(c);
    free(text);
    free(secret);

    cr_assert_eq(load_text(BASE, &c), CP_OK, "%s", errbuf);
    cr_expect_eq(cp_config_check_start(c, errbuf, sizeof(errbuf)), CP_OK);
    cp_config_free(c);
}

Test(config, missing_directories_warned_with_their_line)
{
    struct cp_config *c;
    char *text;
    cr_assert_neq(asprintf(&text,
                           "[component]\njid = c.example.com\nsecret = s3cret\n"
                           "domains = example.com\n[store]\npath = %s/no/such/dir/x.db\n"
                           "[exchange]\news_urls = https://cas.example.com/EWS/Exchange.asmx\n"
                           "username = u@example.com\npassword = change-me\n"
                           "trust_dir = %s/no-trust\n[notifications]\nmode = pull\n",
                           tmpdir, tmpdir),
                  -1);
    cr_assert_eq(validate_text(text, &c), CP_OK, "%s", errbuf);
    char want[512];
    snprintf(want, sizeof(want), "c.conf:6: warning: directory %s/no/such/dir does not exist",
             tmpdir);
    cr_expect_not_null(strstr(warnings, want), "%s", warnings);
    snprintf(want, sizeof(want), "c.conf:11: warning: trust_dir %s/no-trust: does not exist",
             tmpdir);
    cr_expect_not_null(strstr(warnings, want), "%s", warnings);
    cr_expect_not_null(strstr(warnings, "c.conf:10: warning: the Exchange password is the "
                                        "placeholder"),
                       "%s", warnings);
    cr_expect_null(strstr(warnings, "component secret"), "%s", warnings);
    cp_config_free(c);
    free(text);

    /* All in place: nothing to say. */
    cr_assert_neq(asprintf(&text,
                           "[component]\njid = c.example.com\nsecret = s3cret\n"
                           "domains = example.com\n[store]\npath = %s/x.db\n",
                           tmpdir),
                  -1);
    cr_assert_eq(validate_text(text, &c), CP_OK, "%s", errbuf);
    cr_expect_str_eq(warnings, "");
    cp_config_free(c);
    free(text);
}

/* The table row docs/configuration.md has for KEY. */
static void
doc_row(const struct cp_config_key *key, char *out, size_t outlen)
{
    char type[512], dflt[128];
    size_t n;

    switch (key->type) {
    case CP_KEY_INT:
        snprintf(type, sizeof(type), "integer %d..%d", key->min, key->max);
        break;
    case CP_KEY_LIST:
        snprintf(type, sizeof(type), "list");
        break;
    case CP_KEY_STRING:
    case CP_KEY_ENUM:
        if (key->words == NULL) {
            snprintf(type, sizeof(type), "string");
            break;
        }
        n = (size_t)snprintf(type, sizeof(type), "one of");
        for (int i = 0; key->words[i] != NULL; i++)
            n += (size_t)snprintf(type + n, sizeof(type) - n, "%s `%s`", i ? "," : "",
                                  key->words[i]);
        break;
    }
    if (key->required && key->either)
        snprintf(dflt, sizeof(dflt), "required (or `%s`)", key->either);
    else if (key->required)
        snprintf(dflt, sizeof(dflt), "required");
    else if (key->def != NULL && *key->def != '\0')
        snprintf(dflt, sizeof(dflt), "`%s`", key->def);
    else
        snprintf(dflt, sizeof(dflt), "none");
    snprintf(out, outlen, "\n| `%s` | %s | %s | %s | %s |\n", key->name, type, dflt,
             key->live ? "live" : "restart", key->meaning);
}

/* docs/configuration.md has one row per key, under the heading of its section. */
Test(config, reference_documents_every_key)
{
    char *path = source_path("docs/configuration.md");
    char *text = read_all(path);
    char row[1024], heading[64];

    for (size_t k = 0; k < cp_config_key_count; k++) {
        const struct cp_config_key *key = &cp_config_keys[k];
        doc_row(key, row, sizeof(row));
        const char *at = strstr(text, row);
        cr_expect_not_null(at, "docs/configuration.md lacks the row:%s", row);
        if (at == NULL)
            continue;
        snprintf(heading, sizeof(heading), "\n## [%s]\n", key->section);
        const char *sec = NULL;
        for (const char *s = strstr(text, "\n## "); s && s < at; s = strstr(s + 1, "\n## "))
            sec = s;
        cr_expect(sec != NULL && strncmp(sec, heading, strlen(heading)) == 0, "%s is not under %s",
                  key->name, heading + 1);
    }
    free(text);
    free(path);
}

/* Random damage to a valid file (bytes replaced by the characters the syntax gives meaning
 * to): every load either succeeds or fails with a message naming the file, never crashes or
 * leaks (ASan and valgrind runs check the latter). The seed is fixed so a failure repeats. */
Test(config, damaged_files_fail_cleanly)
{
    static const char specials[] = "=[]#;\",\n \t@/:\\x0";
    char *src = source_path("tests/component/config/fixtures/full.conf");
    char *orig = read_all(src);
    char *conf = tmp_path("c.conf");
    size_t len = strlen(orig);
    unsigned seed = 42;

    for (int iter = 0; iter < 300; iter++) {
        char *text = strdup(orig);
        int flips = 1 + rand_r(&seed) % 4;
        for (int i = 0; i < flips; i++)
            text[(size_t)rand_r(&seed) % len] =
                specials[(size_t)rand_r(&seed) % (sizeof(specials) - 1)];
        struct cp_config *c = NULL;
        int rc = load_text(text, &c);
        if (rc == CP_OK) {
            cr_assert_not_null(c);
            cp_config_free(c);
        } else {
            cr_assert_null(c);
            cr_assert_eq(strncmp(errbuf, conf, strlen(conf)), 0, "'%s' for:\n%s", errbuf, text);
            cr_assert(errbuf[strlen(conf)] == ':', "%s", errbuf);
        }
        free(text);
    }
    free(conf);
    free(orig);
    free(src);
}
