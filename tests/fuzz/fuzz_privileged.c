/* tests/fuzz/fuzz_privileged.c: what the XMPP server forwards to the component in privileged
 * mode (XEP-0356, issue 11), much of it written by ordinary users (their roster, their presence
 * and caps, their clients' disco#info answers), fed to the daemon's own handlers and readers.
 *
 * The first byte, modulo 5, chooses what the rest is, parsed into a stanza as libstrophe would
 * hand it over (the seeds in tests/fuzz/corpus/privileged begin with a letter: A is 0, E is 4):
 *   0  a privilege advertisement: cp_privilege_parse, then what service.c's message handler
 *      does with one (cp_roster_on_message, cp_own_privileges_changed, cp_pep_reconsider) and
 *      the reports that repeat it (gateway-status, the user's mode);
 *   1  forwarded presence: a <presence/>, or any element whose children are fed one after the
 *      other (a login, a show change, a logout), each to the daemon's presence handler
 *      (cp_presence_on_stanza, which hands the users' own presence to cp_own_on_presence) while
 *      example.com grants the presence permission; then the options are applied to each sender;
 *   2  a client's disco#info answer about a caps hash (cp_own_caps_read);
 *   3  the answer to a roster get, items written by the user (cp_roster_items_each), each
 *      contact queued in the store as roster_read does;
 *   4  the answer to a privileged pubsub IQ (cp_pep_answer_read, cp_stanza_error).
 *
 * The daemon is real but never connected: a configuration parsed from text, a store on a
 * temporary file holding a few users, an engine without an Exchange source, and a libstrophe
 * connection that is never started, so that cp_xmpp_send drops what the handlers send (as it
 * does while the stream is down). The IQ answers (2 to 4) go to the functions the modules'
 * answer handlers call, since libstrophe fires handlers (and so the waits of iqwait.c) only
 * from a live stream. Each input starts from the same state: grants, seen presence and queued
 * work are reset after it. Any crash, leak or sanitizer report is a bug, and so is a reader
 * breaking its promise (checked below). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "config/config.h"
#include "config/log.h"
#include "store/store.h"
#include "store/store_int.h"
#include "xmpp/xmpp.h"

#define COMPONENT "calendar.example.com"
#define USER "alice@example.com"
#define OPTED "bob@example.com"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char config_text[] = "[component]\n"
                                  "jid = " COMPONENT "\n"
                                  "secret = fuzz\n"
                                  "domains = example.com, other.org\n"
                                  "admins = admin@example.com\n"
                                  "[store]\n"
                                  "path = /nonexistent/unused.db\n"
                                  "[privilege]\n"
                                  "only_while_online = true\n"
                                  "pep_activity = true\n";

/* What Prosody's mod_privilege sends for docs/privileges.md's configuration. */
static const char grant_text[] =
    "<message from='example.com' to='" COMPONENT "'>"
    "<privilege xmlns='urn:xmpp:privilege:2'>"
    "<perm access='roster' type='both'/><perm access='message' type='outgoing'/>"
    "<perm access='presence' type='roster'/>"
    "<perm access='iq'><namespace ns='http://jabber.org/protocol/pubsub' type='set'/></perm>"
    "</privilege></message>";

static struct cp_daemon d;
static xmpp_stanza_t *grant;
static char dir[4096], dbpath[4200];
static FILE *devnull;

static void
fail(const char *what)
{
    fprintf(stderr, "fuzz_privileged: %s\n", what);
    abort();
}

/* ---- the engine's view of the stream: never up ---- */

static void
engine_publish(void *ud, const char *user_jid)
{
    (void)ud;
    (void)user_jid;
}

static size_t
engine_send_queue(void *ud)
{
    (void)ud;
    return 0;
}

static bool
engine_online(void *ud)
{
    (void)ud;
    return false;
}

static const struct cp_engine_hooks engine_hooks = {engine_publish, engine_send_queue,
                                                    engine_online};

static void
xmpp_event(void *ud)
{
    (void)ud;
}

static void
xmpp_fatal(void *ud, const char *reason)
{
    (void)ud;
    fail(reason);
}

static const struct cp_xmpp_events xmpp_events = {xmpp_event, xmpp_event, xmpp_fatal};

/* ---- set-up ---- */

static void
remove_store_files(void)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    char file[4300];

    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        snprintf(file, sizeof(file), "%s%s", dbpath, suffix[i]);
        unlink(file);
    }
}

static void
teardown(void)
{
    xmpp_stanza_release(grant);
    cp_pep_free(d.pep);
    cp_own_free(d.own);
    cp_roster_free(d.roster);
    cp_xmpp_free(d.xmpp);
    cp_engine_free(d.engine);
    cp_store_close(d.store);
    remove_store_files();
    rmdir(dir);
    cp_config_free(d.cfg);
    event_base_free(d.base);
}

/* Users the handlers look up: USER enabled with the administrator's defaults, OPTED enabled
 * with every option on, a disabled one. */
static void
seed_store(void)
{
    struct cp_user_privopts on = {CP_USER_OPT_ON, CP_USER_OPT_ON, CP_USER_OPT_ON};

    if (cp_store_user_enable(d.store, USER, USER) != 0 ||
        cp_store_user_enable(d.store, OPTED, OPTED) != 0 ||
        cp_store_user_privopts(d.store, OPTED, &on) != 0 ||
        cp_store_user_enable(d.store, "carol@other.org", "carol@other.org") != 0 ||
        cp_store_user_disable(d.store, "carol@other.org") != 0 ||
        cp_store_subscriber_add(d.store, USER, OPTED) != 0)
        fail("cannot fill the store");
}

/* The configuration from a small file in the run's private directory, which also holds the
 * store. /dev/shm when available: the store syncs every write. */
static void
setup(void)
{
    const char *tmp = getenv("TMPDIR");
    char file[4300], err[512];
    FILE *f;

    if (tmp == NULL || tmp[0] == '\0')
        tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof(dir), "%s/fuzz_privileged.XXXXXX", tmp);
    if (mkdtemp(dir) == NULL)
        fail("cannot create the temporary directory");
    snprintf(file, sizeof(file), "%s/component.conf", dir);
    f = fopen(file, "w");
    if (f == NULL || fputs(config_text, f) < 0 || fclose(f) != 0)
        fail("cannot write the configuration");
    if (cp_config_load(file, &d.cfg, err, sizeof(err)) != 0)
        fail(err);
    unlink(file);
    snprintf(dbpath, sizeof(dbpath), "%s/store.db", dir);
    devnull = fopen("/dev/null", "w");
    if (devnull == NULL)
        fail("cannot open /dev/null");
    /* Debug: every log line is formatted, with what the input put in it. */
    cp_log_set_stream(devnull);
    cp_log_set_level(CP_LOG_DEBUG);
    d.base = event_base_new();
    if (d.base == NULL || cp_store_open(dbpath, &d.store) != 0)
        fail("cannot open the store");
    seed_store();
    if (cp_engine_new(d.base, d.cfg, d.store, &engine_hooks, &d, &d.engine, err, sizeof(err)) != 0)
        fail(err);
    d.xmpp = cp_xmpp_new(d.base, d.cfg->jid, d.cfg->secret, d.cfg->server_host, d.cfg->server_port,
                         d.cfg->reconnect_max, &xmpp_events, &d);
    d.roster = d.xmpp ? cp_roster_new(&d) : NULL;
    d.own = d.roster ? cp_own_new(&d) : NULL;
    d.pep = d.own ? cp_pep_new(&d) : NULL;
    grant = d.pep ? xmpp_stanza_new_from_string(cp_xmpp_ctx(d.xmpp), grant_text) : NULL;
    if (grant == NULL)
        fail("out of memory");
    atexit(teardown);
}

/* Back to the state every input starts from: as after a reconnect (grants forgotten, nothing
 * seen, nothing in flight), with the seeded users and nothing queued. */
static void
reset(void)
{
    cp_own_offline(d.own);
    cp_pep_offline(d.pep);
    cp_roster_online(d.roster); /* forgets the grants */
    cp_roster_offline(d.roster);
    event_base_loop(d.base, EVLOOP_NONBLOCK);
    if (sqlite3_exec(d.store->db,
                     "DELETE FROM roster_jobs; DELETE FROM roster_items; "
                     "DELETE FROM subscribers WHERE NOT (user_jid = '" USER
                     "' AND subscriber = '" OPTED "')",
                     NULL, NULL, NULL) != SQLITE_OK)
        fail("cannot empty the store");
}

/* ---- the entry points ---- */

static bool
word_in(const char *word, const char *const *words)
{
    for (size_t i = 0; words[i]; i++)
        if (strcmp(word, words[i]) == 0)
            return true;
    return false;
}

/* What service.c does with a message from the server. */
static void
advertisement(xmpp_stanza_t *st)
{
    static const char *const message_words[] = {"none", "outgoing", NULL};
    static const char *const presence_words[] = {"none", "managed_entity", "roster", NULL};
    struct cp_privileges p;
    char text[160], mode[256];
    int rc = cp_privilege_parse(st, &p);

    /* Only known words reach the log and gateway-status, whatever the server wrote. */
    if (!word_in(p.message, message_words) || !word_in(p.presence, presence_words))
        fail("privilege: a word the daemon does not know was kept");
    if ((rc == CP_ENOTFOUND) != (p.version == 0) || p.roster > 3 || p.iq_pubsub > 3)
        fail("privilege: inconsistent result");
    cp_privilege_describe(&p, text, sizeof(text));
    if (cp_roster_on_message(d.roster, st)) {
        cp_own_privileges_changed(d.own, xmpp_stanza_get_from(st));
        cp_pep_reconsider(d.pep);
    }
    char *report = cp_roster_report(d.roster);
    free(report);
    report = cp_own_report(d.own);
    free(report);
    cp_own_user_mode(d.own, USER, NULL, mode, sizeof(mode));
}

/* After the presence handler: the options applied to SENDER as the engine would. */
static void
apply_options(const char *sender)
{
    char bare[CP_JID_BARE_MAX], mode[256];
    struct cp_cal_presence p = {.state = CP_CAL_BUSY, .subject = "Fuzz"};

    if (sender == NULL || cp_jid_bare(sender, bare, sizeof(bare)) != 0)
        return;
    cp_own_filter(d.own, bare, &p);
    cp_own_user_mode(d.own, bare, NULL, mode, sizeof(mode));
    cp_own_suggest(d.own, USER, bare, "alice@" COMPONENT);
}

static void
presence_one(xmpp_stanza_t *st)
{
    const char *name = xmpp_stanza_get_name(st);

    if (!xmpp_stanza_is_tag(st) || name == NULL || strcmp(name, "presence") != 0)
        return;
    cp_presence_on_stanza(cp_xmpp_conn(d.xmpp), st, &d);
    apply_options(xmpp_stanza_get_from(st));
}

static void
presence(xmpp_stanza_t *st)
{
    const char *name = xmpp_stanza_get_name(st);

    cp_roster_on_message(d.roster, grant);
    if (name != NULL && strcmp(name, "presence") == 0) {
        presence_one(st);
        return;
    }
    for (xmpp_stanza_t *c = xmpp_stanza_get_children(st); c; c = xmpp_stanza_get_next(c))
        presence_one(c);
    event_base_loop(d.base, EVLOOP_NONBLOCK);
}

static void
disco_answer(xmpp_stanza_t *st)
{
    enum cp_seen_caps caps = cp_own_caps_read(st);

    if (caps != CP_CAPS_ROSTERX && caps != CP_CAPS_PLAIN)
        fail("caps: an answer read as neither");
}

struct roster_check {
    long calls;
};

/* Each contact is a bare JID in normal form, not the user, and goes into the queue. */
static void
roster_item(const char *contact, void *ud)
{
    struct roster_check *rc = ud;
    char again[CP_JID_BARE_MAX];

    if (contact[0] == '\0' || strchr(contact, '/') || strcmp(contact, USER) == 0 ||
        cp_jid_bare(contact, again, sizeof(again)) != 0 || strcmp(again, contact) != 0)
        fail("roster: an item that is not a normalised bare contact");
    cp_store_roster_job_put(d.store, USER, contact, CP_ROSTER_ADD);
    rc->calls++;
}

static void
roster_answer(xmpp_stanza_t *st)
{
    struct roster_check rc = {0};

    if (cp_store_batch_begin(d.store) != 0)
        fail("store busy");
    if (cp_roster_items_each(st, USER, roster_item, &rc) != rc.calls)
        fail("roster: the count is not the number of items passed");
    if (cp_store_batch_end(d.store, true) != 0)
        fail("store write failed");
}

static void
pep_answer(xmpp_stanza_t *st)
{
    char cond[64];
    const char *etype = NULL;
    const char *type = xmpp_stanza_get_type(st);
    bool outer = cp_pep_answer_read(st, cond, sizeof(cond), &etype);

    if (etype == NULL || strlen(cond) >= sizeof(cond))
        fail("pep: the answer was not read");
    /* An error answer never reads as done. */
    if (type != NULL && strcmp(type, "error") == 0 && (!outer || cond[0] == '\0'))
        fail("pep: an error read as success");
    if (outer != (type != NULL && strcmp(type, "error") == 0))
        fail("pep: mod_privilege's refusal misread");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static void (*const entry[])(xmpp_stanza_t *) = {advertisement, presence, disco_answer,
                                                     roster_answer, pep_answer};
    xmpp_stanza_t *st;
    char *xml;

    if (d.base == NULL)
        setup();
    if (size < 1)
        return 0;
    xml = malloc(size);
    if (xml == NULL)
        fail("out of memory");
    memcpy(xml, data + 1, size - 1);
    xml[size - 1] = '\0';
    st = xmpp_stanza_new_from_string(cp_xmpp_ctx(d.xmpp), xml);
    free(xml);
    if (st == NULL)
        return 0;
    entry[data[0] % (sizeof(entry) / sizeof(entry[0]))](st);
    xmpp_stanza_release(st);
    reset();
    return 0;
}
