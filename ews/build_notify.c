/* ews/build_notify.c: requests of the notification life cycle: Subscribe (push, pull,
 * streaming) to the calendar, Unsubscribe, GetEvents, GetStreamingEvents. */
#include "ews_xml_int.h"

static void put_subscription_scope(struct ews_buf *b);
static char *build_id_request(const struct ews_request_ctx *ctx, const char *op, const char *id,
                              const char *watermark);

/* Calendar folder, the five item events presence depends on. */
static void
put_subscription_scope(struct ews_buf *b)
{
    ews_buf_puts(b, "<t:FolderIds><t:DistinguishedFolderId Id=\"calendar\"/></t:FolderIds>"
                    "<t:EventTypes><t:EventType>CreatedEvent</t:EventType>"
                    "<t:EventType>ModifiedEvent</t:EventType>"
                    "<t:EventType>DeletedEvent</t:EventType>"
                    "<t:EventType>MovedEvent</t:EventType>"
                    "<t:EventType>CopiedEvent</t:EventType></t:EventTypes>");
}

char *
ews_build_subscribe_push(const struct ews_request_ctx *ctx, const char *url,
                         int status_frequency_min)
{
    struct ews_buf b;
    if (!url || !*url || status_frequency_min < 1 || status_frequency_min > 1440 ||
        !ews_soap_begin(&b, ctx))
        return NULL;
    ews_buf_puts(&b, "<m:Subscribe><m:PushSubscriptionRequest>");
    put_subscription_scope(&b);
    ews_buf_printf(&b, "<t:StatusFrequency>%d</t:StatusFrequency><t:URL>", status_frequency_min);
    ews_buf_put_escaped(&b, url);
    ews_buf_puts(&b, "</t:URL></m:PushSubscriptionRequest></m:Subscribe>");
    return ews_soap_end(&b);
}

char *
ews_build_subscribe_pull(const struct ews_request_ctx *ctx, int timeout_min)
{
    struct ews_buf b;
    if (timeout_min < 1 || timeout_min > 1440 || !ews_soap_begin(&b, ctx))
        return NULL;
    ews_buf_puts(&b, "<m:Subscribe><m:PullSubscriptionRequest>");
    put_subscription_scope(&b);
    ews_buf_printf(&b, "<t:Timeout>%d</t:Timeout></m:PullSubscriptionRequest></m:Subscribe>",
                   timeout_min);
    return ews_soap_end(&b);
}

char *
ews_build_subscribe_streaming(const struct ews_request_ctx *ctx)
{
    struct ews_buf b;
    if (!ews_soap_begin(&b, ctx))
        return NULL;
    ews_buf_puts(&b, "<m:Subscribe><m:StreamingSubscriptionRequest>");
    put_subscription_scope(&b);
    ews_buf_puts(&b, "</m:StreamingSubscriptionRequest></m:Subscribe>");
    return ews_soap_end(&b);
}

static char *
build_id_request(const struct ews_request_ctx *ctx, const char *op, const char *id,
                 const char *watermark)
{
    struct ews_buf b;
    if (!id || !*id || !ews_soap_begin(&b, ctx))
        return NULL;
    ews_buf_printf(&b, "<m:%s><m:SubscriptionId>", op);
    ews_buf_put_escaped(&b, id);
    ews_buf_puts(&b, "</m:SubscriptionId>");
    if (watermark) {
        ews_buf_puts(&b, "<m:Watermark>");
        ews_buf_put_escaped(&b, watermark);
        ews_buf_puts(&b, "</m:Watermark>");
    }
    ews_buf_printf(&b, "</m:%s>", op);
    return ews_soap_end(&b);
}

char *
ews_build_unsubscribe(const struct ews_request_ctx *ctx, const char *subscription_id)
{
    return build_id_request(ctx, "Unsubscribe", subscription_id, NULL);
}

char *
ews_build_get_events(const struct ews_request_ctx *ctx, const char *subscription_id,
                     const char *watermark)
{
    if (!watermark || !*watermark)
        return NULL;
    return build_id_request(ctx, "GetEvents", subscription_id, watermark);
}

char *
ews_build_get_streaming_events(const struct ews_request_ctx *ctx,
                               const char *const *subscription_ids, size_t n_ids,
                               int connection_timeout_min)
{
    struct ews_buf b;
    if (!subscription_ids || n_ids < 1 || n_ids > EWS_MAX_STREAMING_IDS ||
        connection_timeout_min < 1 || connection_timeout_min > 30)
        return NULL;
    for (size_t i = 0; i < n_ids; i++)
        if (!subscription_ids[i] || !*subscription_ids[i])
            return NULL;
    if (!ews_soap_begin(&b, ctx))
        return NULL;
    ews_buf_puts(&b, "<m:GetStreamingEvents><m:SubscriptionIds>");
    for (size_t i = 0; i < n_ids; i++) {
        ews_buf_puts(&b, "<t:SubscriptionId>");
        ews_buf_put_escaped(&b, subscription_ids[i]);
        ews_buf_puts(&b, "</t:SubscriptionId>");
    }
    ews_buf_printf(&b,
                   "</m:SubscriptionIds><m:ConnectionTimeout>%d</m:ConnectionTimeout>"
                   "</m:GetStreamingEvents>",
                   connection_timeout_min);
    return ews_soap_end(&b);
}
