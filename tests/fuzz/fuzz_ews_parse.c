/* tests/fuzz/fuzz_ews_parse.c: every response parser of ews/ews_xml.h, the SendNotification
 * parser of the push listener and the error taxonomy on arbitrary bytes. Any crash, leak
 * or sanitizer report is a bug; results are checked for internal consistency.
 *
 * The first byte chooses what runs (its value modulo the table's size, below); the rest is the
 * body. One parse an input instead of all of them: each parse builds a libxml2 context,
 * dictionary and DOM, and nine of them an input held the target at 1,600 executions a second
 * (issue 12). The seeds (tests/fuzz/corpus/ews_parse/, made by seed_ews_parse.sh from
 * tests/ews/fixtures) carry each fixture behind the byte of its own parser, of the
 * server-info header and of the taxonomy, so the corpus still reaches every parser. */
#include <libxml/xmlerror.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ews_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the first byte chooses; seed_ews_parse.sh writes these numbers. */
enum target {
    T_SEND_NOTIFICATION,
    T_GET_EVENTS,
    T_SUBSCRIBE,
    T_UNSUBSCRIBE,
    T_FIND_CALENDAR,
    T_USER_AVAILABILITY,
    T_GET_FOLDER,
    T_STREAMING_FRAME,
    T_SERVER_INFO,
    T_CLASSIFY_200,
    T_CLASSIFY_300,
    T_CLASSIFY_400,
    T_CLASSIFY_500,
    T_COUNT
};

static void
check_notifications(const struct ews_notification_list *l)
{
    for (size_t i = 0; i < l->n_items; i++)
        if (!l->items[i].subscription_id)
            abort();
}

static void
parse(enum target t, const char *body, size_t size)
{
    struct ews_error err;
    struct ews_notification_list l;
    struct ews_subscribe_result sr;
    struct ews_calendar_view cv;
    struct ews_availability av;
    struct ews_folder_result fr;
    struct ews_stream_frame sf;
    struct ews_server_info si;

    switch (t) {
    case T_SEND_NOTIFICATION:
    case T_GET_EVENTS:
        if ((t == T_SEND_NOTIFICATION ? ews_parse_send_notification(body, size, &l, &err)
                                      : ews_parse_get_events(body, size, &l, &err)) == 0)
            check_notifications(&l);
        ews_notification_list_free(&l);
        break;
    case T_SUBSCRIBE:
        if (ews_parse_subscribe(body, size, &sr, &err) == 0 && !sr.subscription_id)
            abort();
        ews_subscribe_result_free(&sr);
        break;
    case T_UNSUBSCRIBE:
        ews_parse_unsubscribe(body, size, &err);
        break;
    case T_FIND_CALENDAR:
        if (ews_parse_find_calendar(body, size, &cv, &err) == 0)
            for (size_t i = 0; i < cv.n_items; i++)
                if (!cv.items[i].item_id)
                    abort();
        ews_calendar_view_free(&cv);
        break;
    case T_USER_AVAILABILITY:
        ews_parse_get_user_availability(body, size, &av, &err);
        ews_availability_free(&av);
        break;
    case T_GET_FOLDER:
        ews_parse_get_folder(body, size, &fr, &err);
        ews_folder_result_free(&fr);
        break;
    case T_STREAMING_FRAME:
        ews_parse_streaming_frame(body, size, &sf);
        check_notifications(&sf.notifications);
        ews_stream_frame_free(&sf);
        break;
    case T_SERVER_INFO:
        ews_parse_server_info(body, size, &si);
        break;
    default: /* 200, 300, 400, 500 */
        if (ews_classify(200 + (int)(t - T_CLASSIFY_200) * 100, body, size, &err) != err.cls)
            abort();
        break;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    parse((enum target)(data[0] % T_COUNT), (const char *)data + 1, size - 1);
    /* libxml2 keeps a copy of the last parse error (its message allocated) until the next one:
     * an input ending on a new error looked to libFuzzer like a leak, and the LeakSanitizer
     * scan that followed cost a third of the run time (issue 12). */
    xmlResetLastError();
    return 0;
}
