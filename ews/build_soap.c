/* ews/build_soap.c: the SOAP 1.1 envelope and header every request shares, the version
 * names, and the push listener's SendNotificationResult. */
#include <string.h>

#include "ews_xml_int.h"

static const char *const version_names[EWS_V_COUNT] = {
    [EWS_V2010] = "Exchange2010",         [EWS_V2010_SP1] = "Exchange2010_SP1",
    [EWS_V2010_SP2] = "Exchange2010_SP2", [EWS_V2013] = "Exchange2013",
    [EWS_V2013_SP1] = "Exchange2013_SP1", [EWS_V2016] = "Exchange2016",
};

static void put_impersonation(struct ews_buf *b, const struct ews_impersonation *imp);
static void open_envelope(struct ews_buf *b);

const char *
ews_server_version_name(enum ews_server_version v)
{
    return (unsigned)v < EWS_V_COUNT ? version_names[v] : NULL;
}

int
ews_server_version_parse(const char *name, enum ews_server_version *out)
{
    for (int v = 0; name && v < EWS_V_COUNT; v++) {
        if (strcmp(name, version_names[v]) == 0) {
            *out = (enum ews_server_version)v;
            return 0;
        }
    }
    return EWS_E_INVAL;
}

static void
put_impersonation(struct ews_buf *b, const struct ews_impersonation *imp)
{
    static const char *const elem[] = {
        [EWS_IMP_SMTP] = "PrimarySmtpAddress",
        [EWS_IMP_UPN] = "PrincipalName",
        [EWS_IMP_SID] = "SID",
    };
    ews_buf_printf(b, "<t:ExchangeImpersonation><t:ConnectingSID><t:%s>", elem[imp->kind]);
    ews_buf_put_escaped(b, imp->value);
    ews_buf_printf(b, "</t:%s></t:ConnectingSID></t:ExchangeImpersonation>", elem[imp->kind]);
}

static void
open_envelope(struct ews_buf *b)
{
    ews_buf_puts(b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                    "<soap:Envelope xmlns:soap=\"" EWS_NS_SOAP "\" xmlns:t=\"" EWS_NS_T
                    "\" xmlns:m=\"" EWS_NS_M "\">");
}

bool
ews_soap_begin(struct ews_buf *b, const struct ews_request_ctx *ctx)
{
    *b = (struct ews_buf){0};
    if (!ctx || !ews_server_version_name(ctx->version))
        return false;
    if (ctx->imp.kind != EWS_IMP_NONE &&
        (ctx->imp.kind > EWS_IMP_SID || !ctx->imp.value || !*ctx->imp.value))
        return false;
    open_envelope(b);
    ews_buf_printf(b, "<soap:Header><t:RequestServerVersion Version=\"%s\"/>",
                   ews_server_version_name(ctx->version));
    if (ctx->imp.kind != EWS_IMP_NONE)
        put_impersonation(b, &ctx->imp);
    ews_buf_puts(b, "</soap:Header><soap:Body>");
    return true;
}

char *
ews_soap_end(struct ews_buf *b)
{
    ews_buf_puts(b, "</soap:Body></soap:Envelope>\n");
    return ews_buf_finish(b);
}

char *
ews_build_send_notification_result(bool unsubscribe)
{
    struct ews_buf b = {0};
    open_envelope(&b);
    ews_buf_printf(&b,
                   "<soap:Body><m:SendNotificationResult><m:SubscriptionStatus>%s"
                   "</m:SubscriptionStatus></m:SendNotificationResult>",
                   unsubscribe ? "Unsubscribe" : "OK");
    return ews_soap_end(&b);
}
