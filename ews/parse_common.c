/* ews/parse_common.c: the ResponseMessages frame every EWS response shares, and the free
 * functions of the result types. */
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
