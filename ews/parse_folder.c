/* ews/parse_folder.c: GetFolder of the calendar (the troubleshooter's cheap authenticated
 * call) and the ServerVersionInfo header every answer carries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ews_xml_int.h"

static int int_attr(xmlNode *n, const char *name);

static int
int_attr(xmlNode *n, const char *name)
{
    char *v = ews_xml_attr(n, name);
    char *end;
    long l = v ? strtol(v, &end, 10) : -1;
    if (v && (*end || end == v || l < 0 || l > 1000000))
        l = -1;
    free(v);
    return (int)l;
}

int
ews_parse_server_info(const char *body, size_t len, struct ews_server_info *out)
{
    xmlDoc *doc;
    xmlNode *soap_body;
    *out = (struct ews_server_info){.major = -1, .minor = -1, .major_build = -1, .minor_build = -1};
    int rc = ews_xml_read(body, len, &doc, &soap_body, NULL);
    if (rc)
        return rc;
    xmlNode *info = ews_xml_find(ews_xml_header(soap_body), NULL, EWS_NS_T, "ServerVersionInfo");
    if (info) {
        out->major = int_attr(info, "MajorVersion");
        out->minor = int_attr(info, "MinorVersion");
        out->major_build = int_attr(info, "MajorBuildNumber");
        out->minor_build = int_attr(info, "MinorBuildNumber");
        char *v = ews_xml_attr(info, "Version");
        if (v)
            snprintf(out->version, sizeof out->version, "%s", v);
        free(v);
    }
    xmlFreeDoc(doc);
    return info ? 0 : EWS_E_MALFORMED;
}

int
ews_parse_get_folder(const char *body, size_t len, struct ews_folder_result *out,
                     struct ews_error *err)
{
    xmlDoc *doc;
    xmlNode *m;
    *out = (struct ews_folder_result){.total_count = -1};
    ews_err_clear(err);
    int rc = ews_xml_single_message(body, len, "GetFolder", &doc, &m, err);
    /* CalendarFolder normally; any folder type is accepted. */
    xmlNode *f =
        rc ? NULL : ews_xml_find(ews_xml_find(m, NULL, EWS_NS_M, "Folders"), NULL, EWS_NS_T, NULL);
    xmlNode *id = ews_xml_find(f, NULL, EWS_NS_T, "FolderId");
    if (!rc && !(out->folder_id = ews_xml_attr(id, "Id"))) {
        ews_err_set(err, EWS_ERR_MALFORMED, NULL, "GetFolder answer without FolderId");
        rc = EWS_E_MALFORMED;
    }
    if (!rc) {
        out->change_key = ews_xml_attr(id, "ChangeKey");
        out->display_name = ews_xml_text(ews_xml_find(f, NULL, EWS_NS_T, "DisplayName"));
        char n[24];
        if (ews_xml_text_to(ews_xml_find(f, NULL, EWS_NS_T, "TotalCount"), n, sizeof n))
            out->total_count = strtol(n, NULL, 10);
    }
    xmlFreeDoc(doc);
    if (rc)
        ews_folder_result_free(out);
    return rc;
}

void
ews_folder_result_free(struct ews_folder_result *f)
{
    if (!f)
        return;
    free(f->folder_id);
    free(f->change_key);
    free(f->display_name);
    *f = (struct ews_folder_result){.total_count = -1};
}
