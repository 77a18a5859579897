/* tests/fuzz/fuzz_ews_stream.c: the GetStreamingEvents splitter on arbitrary bytes cut into
 * arbitrary chunks. The first byte picks the chunk size; the same input fed in one piece must
 * yield the same frames (the splitter may not depend on chunk boundaries). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ews_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct tally {
    size_t frames, notifications, errors;
    unsigned statuses;
};

static int
count(const struct ews_stream_frame *f, void *ud)
{
    struct tally *t = ud;
    t->frames++;
    t->notifications += f->notifications.n_items;
    t->errors += f->n_errors;
    t->statuses = t->statuses * 3u + (unsigned)f->status;
    return 0;
}

/* Feeds data in chunks of `chunk` bytes; returns the first non-zero feed result. */
static int
run(const char *data, size_t size, size_t chunk, struct tally *t)
{
    struct ews_stream *s = ews_stream_new(64 * 1024);
    if (!s)
        abort();
    int rc = 0;
    for (size_t off = 0; off < size && rc == 0; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        rc = ews_stream_feed(s, data + off, n, count, t);
        if (ews_stream_pending(s) > 64 * 1024)
            abort();
    }
    ews_stream_free(s);
    return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] % 17 + 1;
    struct tally a = {0}, b = {0};
    int rc_a = run((const char *)data + 1, size - 1, chunk, &a);
    int rc_b = run((const char *)data + 1, size - 1, size, &b);
    if (rc_a != rc_b || memcmp(&a, &b, sizeof a) != 0)
        abort();
    return 0;
}
