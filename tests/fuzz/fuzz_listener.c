/* tests/fuzz/fuzz_listener.c: the push listener's socket-free core on arbitrary bodies. Any
 * crash, leak or sanitizer report is a bug, and so is a reply that contradicts the outcome or
 * a verdict callback called for a body that was refused. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "config/error.h"
#include "engine/listener.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct record {
    size_t calls;
    size_t refuse_first; /* 0 or 1, from the input so that a run can be replayed */
};

/* Answers alternately keep and refuse, starting with refuse for odd-sized inputs, so that
 * both replies come up. */
static bool
verdict(void *ud, const struct ews_notification *n)
{
    struct record *rec = ud;
    if (!n->subscription_id)
        abort();
    return (rec->calls++ + rec->refuse_first) % 2 == 0;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* Once, not on the first input: libxml2's global set-up is not per-input work. */
    xmlInitParser();
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct record rec = {.refuse_first = size % 2};
    struct cp_listener_reply r;
    /* A small bound, so that the 413 branch is reachable with short inputs. */
    int rc = cp_listener_handle((const char *)data, size, 4096, verdict, &rec, &r);
    if (rc == CP_ENOMEM)
        return 0;
    if (rc != 0 || !r.body || r.body_len != strlen(r.body) || rec.calls != r.notifications)
        abort();
    bool all_refused = rec.refuse_first && r.notifications == 1;
    switch (r.outcome) {
    case CP_LISTENER_OK:
    case CP_LISTENER_UNSUBSCRIBE:
        /* Unsubscribe exactly when every notification was refused. */
        if (r.http_status != 200 || r.reason || rec.calls == 0 ||
            (r.outcome == CP_LISTENER_UNSUBSCRIBE) != all_refused ||
            !strstr(r.body, all_refused ? ">Unsubscribe<" : ">OK<"))
            abort();
        break;
    case CP_LISTENER_MALFORMED:
    case CP_LISTENER_TOO_LARGE:
        if (rec.calls != 0 || !r.reason ||
            r.http_status != (r.outcome == CP_LISTENER_TOO_LARGE ? 413 : 400))
            abort();
        break;
    }
    free(r.body);
    return 0;
}
