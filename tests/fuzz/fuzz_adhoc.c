/* tests/fuzz/fuzz_adhoc.c: XEP-0050 ad-hoc command handling (component/adhoc/) on
 * arbitrary stanzas, over a real store on a temporary file and hooks that answer fixed text.
 *
 * The input is the stanza's XML. For inputs of odd length its from/to are forced to an admin
 * of a served domain and the component, so that most mutations get past the rights check.
 * Session ids are random, so a command that carries a sessionid is first started without it
 * and then continued (up to three stages) under the id the handler gave. Any crash, leak or
 * sanitizer report is a bug; every call must answer.
 *
 * Each input starts from the same state: no session, empty tables. The store is opened once
 * and emptied after each input rather than reopened, and sessions are expired at its end: an
 * input that left memory allocated (a session, a store grown by its users) made libFuzzer run
 * a full LeakSanitizer scan after it, which was 85% of the run time (issue 12). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adhoc/adhoc.h"
#include "config/config.h"
#include "config/log.h"
#include "store/store.h"
#include "store/store_int.h"

#define ADMIN "admin@example.com/res"
#define COMPONENT "calendar.example.com"
#define T0 1700000000
#define MAX_STAGES 3

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char config_text[] = "[component]\n"
                                  "jid = " COMPONENT "\n"
                                  "secret = fuzz\n"
                                  "domains = example.com, other.org\n"
                                  "admins = admin@example.com\n"
                                  "[store]\n"
                                  "path = /nonexistent/unused.db\n";

static xmpp_ctx_t *ctx;
static struct cp_config *cfg;
static struct cp_store *store;
static struct cp_adhoc *adhoc;
static char dir[4096], dbpath[4200];
static time_t now = T0;
static FILE *devnull;

/* ---- hooks: fixed answers ---- */

static const struct cp_config *
hook_config(void *ud)
{
    (void)ud;
    return cfg;
}

static void
hook_user_changed(void *ud, const char *jid)
{
    (void)ud;
    (void)jid;
}

static int
hook_user_status(void *ud, const char *jid, struct cp_user_status *out)
{
    (void)ud;
    if (jid[0] == 'a')
        return -1; /* "not known" for some users */
    out->state = "busy";
    out->until = "2026-11-23T10:00:00Z";
    out->server = "https://cas1.example.com/EWS/Exchange.asmx";
    out->subscription = "active";
    out->last_error = "ErrorServerBusy";
    return 0;
}

static int
hook_reload(void *ud, char *msg, size_t len)
{
    (void)ud;
    snprintf(msg, len, "reloaded: log.level changed");
    return 0;
}

static int
hook_resubscribe(void *ud, const char *jid, char *msg, size_t len)
{
    (void)ud;
    snprintf(msg, len, "resubscribing %s", jid);
    return 0;
}

/* gateway-status defers its answer: answer at once, so that the deferred path is fuzzed too. */
static int
hook_gateway_status(void *ud, const char *mailbox, struct cp_adhoc_deferred *def)
{
    (void)ud;
    (void)mailbox;
    xmpp_stanza_t *reply = cp_adhoc_deferred_finish(
        adhoc, def, "https://cas1.example.com/EWS/Exchange.asmx\n  tls: verified\n");
    if (reply)
        xmpp_stanza_release(reply);
    return 0;
}

/* The certs report hook returns malloc'd text, freed by the handler. */

static char *
hook_certs_describe(void *ud, const char *host, char **fps, char *msg, size_t len)
{
    (void)ud;
    if (host[0] == 'd') {
        snprintf(msg, len, "%s: network-error", host);
        return NULL;
    }
    *fps = strdup("AB:CD\n");
    return strdup("0: CN=cas1.example.com (trusted: no)\n1: CN=Example Root CA (missing)\n");
}

static int
hook_certs_import(void *ud, const char *host, const char *fps, char *msg, size_t len)
{
    (void)ud;
    if (fps == NULL || strcmp(fps, "AB:CD\n") != 0)
        return CP_ADHOC_CHAIN_CHANGED;
    snprintf(msg, len, "%s: 1 certificate imported", host);
    return 0;
}

static long
hook_watchers(void *ud, const char *jid)
{
    (void)ud;
    (void)jid;
    return 3;
}

static const struct cp_adhoc_ops ops = {
    .config = hook_config,
    .user_changed = hook_user_changed,
    .user_status = hook_user_status,
    .reload = hook_reload,
    .user_resubscribe = hook_resubscribe,
    .gateway_status = hook_gateway_status,
    .certs_describe_pinned = hook_certs_describe,
    .certs_import_pinned = hook_certs_import,
    .watchers = hook_watchers,
};

/* ---- set-up ---- */

static void
fail(const char *what)
{
    fprintf(stderr, "fuzz_adhoc: %s\n", what);
    abort();
}

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
close_store(void)
{
    cp_adhoc_free(adhoc);
    adhoc = NULL;
    cp_store_close(store);
    store = NULL;
    remove_store_files();
}

static void
open_store(void)
{
    if (cp_store_open(dbpath, &store) != 0)
        fail("cannot open the store");
    adhoc = cp_adhoc_new(store, &ops, NULL);
    if (adhoc == NULL)
        fail("out of memory");
}

/* Back to the state every input starts from: sessions gone (expired a TTL after the input's
 * last second), tables empty. The store keeps its connection and cached statements. */
static void
reset(void)
{
    cp_adhoc_expire(adhoc, now + CP_ADHOC_SESSION_TTL + 1);
    now += CP_ADHOC_SESSION_TTL + 2;
    if (sqlite3_exec(store->db,
                     "DELETE FROM ews_subscriptions; DELETE FROM subscribers; DELETE FROM users",
                     NULL, NULL, NULL) != SQLITE_OK)
        fail("cannot empty the store");
}

static void
teardown(void)
{
    close_store();
    rmdir(dir);
    cp_config_free(cfg);
    xmpp_ctx_free(ctx);
}

/* The configuration is loaded once from a small file in the run's private directory, which
 * also holds the store. /dev/shm when available: the store syncs every write. */
static void
setup(void)
{
    const char *tmp = getenv("TMPDIR");
    char file[4300], err[512];
    FILE *f;

    if (tmp == NULL || tmp[0] == '\0')
        tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof(dir), "%s/fuzz_adhoc.XXXXXX", tmp);
    if (mkdtemp(dir) == NULL)
        fail("cannot create the temporary directory");
    snprintf(file, sizeof(file), "%s/component.conf", dir);
    f = fopen(file, "w");
    if (f == NULL || fputs(config_text, f) < 0 || fclose(f) != 0)
        fail("cannot write the configuration");
    if (cp_config_load(file, &cfg, err, sizeof(err)) != 0)
        fail(err);
    unlink(file);
    snprintf(dbpath, sizeof(dbpath), "%s/store.db", dir);
    devnull = fopen("/dev/null", "w");
    ctx = xmpp_ctx_new(NULL, NULL);
    if (devnull == NULL || ctx == NULL)
        fail("out of memory");
    cp_log_set_stream(devnull);
    open_store();
    atexit(teardown);
}

/* ---- one input ---- */

/* Handles IQ at the next second and returns the reply read back from the text that would be
 * sent (caller releases): a reply that is not well-formed XML (an escape missed in a part
 * built as text) is a failure. */
static xmpp_stanza_t *
handle(xmpp_stanza_t *iq)
{
    size_t len;
    char *xml = cp_adhoc_handle(adhoc, ctx, iq, ++now, &len);
    xmpp_stanza_t *reply;

    if (xml == NULL)
        fail("no reply");
    reply = xmpp_stanza_new_from_string(ctx, xml);
    free(xml);
    if (reply == NULL)
        fail("the reply is not well-formed XML");
    return reply;
}

/* Attribute NAME of STANZA's command child, or NULL. Borrowed from STANZA. */
static const char *
command_attribute(xmpp_stanza_t *stanza, const char *name)
{
    xmpp_stanza_t *c = xmpp_stanza_get_child_by_name_and_ns(stanza, "command", CP_ADHOC_NS);

    return c != NULL ? xmpp_stanza_get_attribute(c, name) : NULL;
}

/* IQ's command carries a sessionid: start the command without it, then send IQ under the new
 * session's id for as long as the command asks for more. */
static void
run_session(xmpp_stanza_t *iq, xmpp_stanza_t *command)
{
    xmpp_stanza_t *first = xmpp_stanza_copy(iq), *c, *reply;
    char sid[128] = "";
    const char *s;

    if (first == NULL)
        fail("out of memory");
    c = xmpp_stanza_get_child_by_name_and_ns(first, "command", CP_ADHOC_NS);
    xmpp_stanza_del_attribute(c, "sessionid");
    xmpp_stanza_del_attribute(c, "action");
    reply = handle(first);
    xmpp_stanza_release(first);
    s = command_attribute(reply, "sessionid");
    if (s != NULL)
        snprintf(sid, sizeof(sid), "%s", s);
    xmpp_stanza_release(reply);
    /* Without a session the original id is sent as is (an unknown session). */
    if (sid[0] != '\0' && xmpp_stanza_set_attribute(command, "sessionid", sid) != XMPP_EOK)
        fail("out of memory");
    for (int stage = 0; stage < MAX_STAGES; stage++) {
        bool more;

        reply = handle(iq);
        s = command_attribute(reply, "status");
        more = s != NULL && strcmp(s, "executing") == 0;
        xmpp_stanza_release(reply);
        if (!more)
            break;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xmpp_stanza_t *iq, *command, *reply;
    char *xml;

    if (adhoc == NULL)
        setup();
    xml = malloc(size + 1);
    if (xml == NULL)
        fail("out of memory");
    memcpy(xml, data, size);
    xml[size] = '\0';
    iq = xmpp_stanza_new_from_string(ctx, xml);
    free(xml);
    if (iq == NULL)
        return 0;
    if (size % 2 == 1 && (xmpp_stanza_set_from(iq, ADMIN) != XMPP_EOK ||
                          xmpp_stanza_set_to(iq, COMPONENT) != XMPP_EOK))
        goto done; /* not an element (text): nothing to address */

    reply = cp_adhoc_disco_items(adhoc, ctx, iq);
    if (reply != NULL)
        xmpp_stanza_release(reply);
    command = xmpp_stanza_get_child_by_name_and_ns(iq, "command", CP_ADHOC_NS);
    if (command != NULL && xmpp_stanza_get_attribute(command, "node") != NULL) {
        reply = cp_adhoc_disco_info(adhoc, ctx, iq, xmpp_stanza_get_attribute(command, "node"));
        if (reply != NULL)
            xmpp_stanza_release(reply);
    }
    if (command != NULL && xmpp_stanza_get_attribute(command, "sessionid") != NULL)
        run_session(iq, command);
    else
        xmpp_stanza_release(handle(iq));
done:
    xmpp_stanza_release(iq);
    reset();
    return 0;
}
