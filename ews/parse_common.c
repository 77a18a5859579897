/* ews/parse_common.c: the ResponseMessages frame every EWS response shares, and the free
 * functions of the result types. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ews_xml_int.h"

int
ews_xml_messages(xmlNode *soap_body, const char *response_name, xmlNode **messages,
                 struct ews_error *err)
{
    *messages = NULL;
    xmlNode *fault = ews_xml_find(soap_body, NULL, EWS_NS_SOAP, "Fault");
    if (fault) {
        ews_err_from_fault(fault, err);
        return EWS_E_RESPONSE;
    }
    xmlNode *resp = ews_xml_find(soap_body, NULL, EWS_NS_M, response_name);
    *messages = ews_xml_find(resp, NULL, EWS_NS_M, "ResponseMessages");
    if (!*messages) {
        ews_err_set(err, EWS_ERR_MALFORMED, NULL, "no m:%s/m:ResponseMessages", response_name);
        return EWS_E_MALFORMED;
    }
    return 0;
}

int
ews_xml_message_check(xmlNode *msg, struct ews_error *err)
{
    char *cls = ews_xml_attr(msg, "ResponseClass");
    bool error = cls && strcmp(cls, "Error") == 0;
    free(cls);
    if (!error)
        return 0;
    ews_err_from_message(msg, err);
    if (err && err->cls == EWS_ERR_NONE)
        err->cls = EWS_ERR_OTHER;
    return EWS_E_RESPONSE;
}

int
ews_xml_single_message(const char *body, size_t len, const char *op, xmlDoc **doc, xmlNode **msg,
                       struct ews_error *err)
{
    char name[64];
    xmlNode *soap_body, *msgs;
    *doc = NULL;
    *msg = NULL;
    int rc = ews_xml_read(body, len, doc, &soap_body, err);
    if (rc)
        return rc;
    snprintf(name, sizeof name, "%sResponse", op);
    rc = ews_xml_messages(soap_body, name, &msgs, err);
    if (rc)
        return rc;
    snprintf(name, sizeof name, "%sResponseMessage", op);
    xmlNode *m = ews_xml_find(msgs, NULL, EWS_NS_M, name);
    if (!m) {
        ews_err_set(err, EWS_ERR_MALFORMED, NULL, "no %s", name);
        return EWS_E_MALFORMED;
    }
    rc = ews_xml_message_check(m, err);
    if (!rc)
        *msg = m;
    return rc;
}
