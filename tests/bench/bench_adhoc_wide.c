/* What a wide ad-hoc reply costs to build (issue 12): users-list's result table and a refused
 * users-enable shown back, N rows each, built as text (what the daemon does) and, for
 * comparison, as a libstrophe tree (what it did: xmpp_stanza_add_child_ex walks the siblings
 * on every append). CPU time from an empty form to the serialised reply, best of 3. Prints
 * figures; never fails on time.
 *
 * Usage: bench_adhoc_wide [N...]   (default 1280 10240 50000; the tree only up to TREE_MAX) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adhoc/forms.h"
#include "xmpp/xmpp.h"

#define ROUNDS 3
/* The tree is quadratic: 50,000 rows would take about 20 s a round. */
#define TREE_MAX 10240

static const char *const vars[] = {"jid", "mailbox", "enabled", "state", "server", "subscription"};

static double
cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
row_values(size_t i, char *jid, char *mailbox, size_t len, const char *values[6])
{
    snprintf(jid, len, "user%06zu@example.com", i);
    snprintf(mailbox, len, "first.last.%06zu@corp.example.com", i);
    values[0] = jid;
    values[1] = mailbox;
    values[2] = "1";
    values[3] = "busy";
    values[4] = "https://cas1.example.com/EWS/Exchange.asmx";
    values[5] = "active";
}

/* An <iq><x type=result><reported/>...</x></iq> skeleton; the reply's other parts are small. */
static xmpp_stanza_t *
skeleton(xmpp_ctx_t *ctx, xmpp_stanza_t **form)
{
    xmpp_stanza_t *iq = xmpp_iq_new(ctx, "result", "q1");

    *form = cp_form_new(ctx, "result", "Users", NULL);
    if (iq == NULL || *form == NULL || xmpp_stanza_add_child_ex(iq, *form, 0) != XMPP_EOK ||
        cp_form_add_reported(*form) == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return iq;
}

/* One users-list reply of N rows; AS_TEXT chooses the way. Returns the CPU seconds. */
static double
list_reply(xmpp_ctx_t *ctx, size_t n, int as_text, size_t *bytes)
{
    struct cp_xml rows = {0};
    xmpp_stanza_t *form, *iq = skeleton(ctx, &form);
    char jid[64], mailbox[64], *text;
    const char *values[6];
    double t0 = cpu_now(), t;
    size_t i, j;

    if (as_text)
        cp_stanza_add_slot(form);
    for (i = 0; i < n; i++) {
        row_values(i, jid, mailbox, sizeof(jid), values);
        if (as_text) {
            cp_form_text_item(&rows, vars, values, 6);
            continue;
        }
        xmpp_stanza_t *item = cp_form_add_item(form);
        for (j = 0; item != NULL && j < 6; j++)
            cp_form_add_field(item, vars[j], NULL, NULL, values[j]);
    }
    text = cp_stanza_to_text_with(iq, &rows, bytes);
    t = cpu_now() - t0;
    if (text == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    free(text);
    cp_xml_free(&rows);
    xmpp_stanza_release(iq);
    return t;
}

/* A users-enable form showing N lines back, one <value/> each. */
static double
echo_reply(xmpp_ctx_t *ctx, size_t n, int as_text, size_t *bytes)
{
    struct cp_xml values = {0};
    xmpp_stanza_t *form, *iq = skeleton(ctx, &form);
    xmpp_stanza_t *field = cp_form_add_field(form, "users", "text-multi", "Users", NULL);
    char line[96], *text;
    double t0 = cpu_now(), t;
    size_t i;

    if (as_text)
        cp_stanza_add_slot(field);
    for (i = 0; i < n; i++) {
        snprintf(line, sizeof(line), "user%06zu@example.com,first.last.%06zu@corp.example.com", i,
                 i);
        if (as_text)
            cp_form_text_value(&values, line);
        else
            cp_form_field_add_value(field, line);
    }
    text = cp_stanza_to_text_with(iq, &values, bytes);
    t = cpu_now() - t0;
    if (text == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    free(text);
    cp_xml_free(&values);
    xmpp_stanza_release(iq);
    return t;
}

static void
measure(xmpp_ctx_t *ctx, const char *what, double (*build)(xmpp_ctx_t *, size_t, int, size_t *),
        size_t n)
{
    double best[2] = {1e9, 1e9};
    size_t bytes[2] = {0, 0};
    int way, r;

    for (way = 0; way < 2; way++) {
        if (way == 0 && n > TREE_MAX)
            continue;
        for (r = 0; r < ROUNDS; r++) {
            double t = build(ctx, n, way, &bytes[way]);
            if (t < best[way])
                best[way] = t;
        }
    }
    if (n > TREE_MAX)
        printf("%-10s %6zu rows: text %.4f s (%zu bytes); tree not run (quadratic)\n", what, n,
               best[1], bytes[1]);
    else
        printf("%-10s %6zu rows: text %.4f s (%zu bytes); tree %.4f s (%zu bytes)\n", what, n,
               best[1], bytes[1], best[0], bytes[0]);
}

int
main(int argc, char **argv)
{
    static const size_t defaults[] = {1280, 10240, 50000};
    xmpp_ctx_t *ctx;
    int i, n = argc > 1 ? argc - 1 : 3;

    xmpp_initialize();
    ctx = xmpp_ctx_new(NULL, NULL);
    if (ctx == NULL)
        return 1;
    printf("building wide replies, CPU best of %d, serialised reply included\n", ROUNDS);
    for (i = 0; i < n; i++) {
        size_t rows = argc > 1 ? strtoul(argv[i + 1], NULL, 10) : defaults[i];

        measure(ctx, "users-list", list_reply, rows);
        measure(ctx, "echo", echo_reply, rows);
    }
    xmpp_ctx_free(ctx);
    xmpp_shutdown();
    return 0;
}
