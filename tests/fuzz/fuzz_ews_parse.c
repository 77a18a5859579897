/* tests/fuzz/fuzz_ews_parse.c: every response parser of ews/ews_xml.h, the SendNotification
 * parser of the push listener and the error taxonomy on arbitrary bytes. Any crash, leak
 * or sanitizer report is a bug; results are checked for internal consistency. */
#include <libxml/xmlerror.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ews_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_notifications(const struct ews_notification_list *l)
{
    for (size_t i = 0; i < l->n_items; i++)
        if (!l->items[i].subscription_id)
            abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    struct ews_error err;
    struct ews_notification_list l;
    struct ews_subscribe_result sr;
    struct ews_calendar_view cv;
    struct ews_availability av;
    struct ews_folder_result fr;
    struct ews_stream_frame sf;
    struct ews_server_info si;

    if (ews_parse_send_notification(body, size, &l, &err) == 0)
        check_notifications(&l);
    ews_notification_list_free(&l);
    if (ews_parse_get_events(body, size, &l, &err) == 0)
        check_notifications(&l);
    ews_notification_list_free(&l);
    if (ews_parse_subscribe(body, size, &sr, &err) == 0 && !sr.subscription_id)
        abort();
    ews_subscribe_result_free(&sr);
    ews_parse_unsubscribe(body, size, &err);
    if (ews_parse_find_calendar(body, size, &cv, &err) == 0)
        for (size_t i = 0; i < cv.n_items; i++)
            if (!cv.items[i].item_id)
                abort();
    ews_calendar_view_free(&cv);
    ews_parse_get_user_availability(body, size, &av, &err);
    ews_availability_free(&av);
    ews_parse_get_folder(body, size, &fr, &err);
    ews_folder_result_free(&fr);
    ews_parse_streaming_frame(body, size, &sf);
    check_notifications(&sf.notifications);
    ews_stream_frame_free(&sf);
    ews_parse_server_info(body, size, &si);
    int status = size ? 200 + data[0] % 4 * 100 : 200; /* 200, 300, 400, 500 */
    if (ews_classify(status, body, size, &err) != err.cls)
        abort();
    /* libxml2 keeps a copy of the last parse error (its message allocated) until the next one:
     * an input ending on a new error looked to libFuzzer like a leak, and the LeakSanitizer
     * scan that followed cost a third of the run time (issue 12). */
    xmlResetLastError();
    return 0;
}
