/* ews-sim: Autodiscover, POX (autodiscover.xml) and SOAP GetUserSettings (autodiscover.svc):
 * both name the mailbox's home CAS as its EWS URL, so a moved mailbox is found again. */
#include "sim.h"

#include <stdio.h>
#include <string.h>

#define NS_AD_SOAP "http://schemas.microsoft.com/exchange/2010/Autodiscover"
#define NS_POX_RESP "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
#define NS_POX_OUTLOOK                                                                             \
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"

static void
ews_url(uint32_t mbx, char *out, size_t cap)
{
    const struct sim_cas *c = &g_sim.cas[g_sim.mailboxes[mbx].cas];
    snprintf(out, cap, "%s://%s:%d/EWS/Exchange.asmx", g_sim.plain_http ? "http" : "https", c->host,
             c->port);
}

/* First element with this local name anywhere below n (document order). */
static xmlNodePtr
find(xmlNodePtr n, const char *name)
{
    for (; n; n = n->next) {
        xmlNodePtr f;
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (xmlStrcmp(n->name, BAD_CAST name) == 0)
            return n;
        if ((f = find(n->children, name)))
            return f;
    }
    return NULL;
}

static void
reply_xml(struct sim_req *r, struct evbuffer *out)
{
    sim_req_reply(r, 200, out);
}

void
sim_autodiscover_pox(struct sim_req *r, const char *body, size_t n)
{
    struct evbuffer *out = evbuffer_new();
    xmlNodePtr addr;
    xmlChar *email = NULL;
    uint32_t mbx = SIM_NONE;
    char url[512];
    r->opname = "Autodiscover";
    sim_count_op("other");
    r->doc = sim_xml_parse(body, n);
    addr = r->doc ? find(xmlDocGetRootElement(r->doc), "EMailAddress") : NULL;
    if (addr)
        email = xmlNodeGetContent(addr);
    if (email)
        mbx = sim_mailbox_find((const char *)email);
    evbuffer_add_printf(out, "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
                             "<Autodiscover xmlns=\"" NS_POX_RESP "\">");
    if (mbx == SIM_NONE) {
        evbuffer_add_printf(out,
                            "<Response><Error Time=\"00:00:00.0000000\" Id=\"1\">"
                            "<ErrorCode>%d</ErrorCode><Message>%s</Message><DebugData/>"
                            "</Error></Response></Autodiscover>",
                            addr ? 500 : 600,
                            addr ? "The email address can't be found." : "Invalid Request");
        xmlFree(email);
        reply_xml(r, out);
        return;
    }
    ews_url(mbx, url, sizeof(url));
    evbuffer_add_printf(out, "<Response xmlns=\"" NS_POX_OUTLOOK "\"><User><DisplayName>");
    sim_xml_escape(out, g_sim.mailboxes[mbx].smtp);
    evbuffer_add_printf(out, "</DisplayName><AutoDiscoverSMTPAddress>");
    sim_xml_escape(out, g_sim.mailboxes[mbx].smtp);
    evbuffer_add_printf(out,
                        "</AutoDiscoverSMTPAddress></User><Account><AccountType>email"
                        "</AccountType><Action>settings</Action>"
                        "<Protocol><Type>EXCH</Type><Server>%s</Server><ASUrl>%s</ASUrl>"
                        "<OOFUrl>%s</OOFUrl><EwsUrl>%s</EwsUrl></Protocol>"
                        "<Protocol><Type>EXPR</Type><Server>%s</Server><ASUrl>%s</ASUrl>"
                        "<OOFUrl>%s</OOFUrl><EwsUrl>%s</EwsUrl></Protocol>"
                        "</Account></Response></Autodiscover>",
                        g_sim.cas[g_sim.mailboxes[mbx].cas].name, url, url, url,
                        g_sim.cas[g_sim.mailboxes[mbx].cas].name, url, url, url);
    xmlFree(email);
    reply_xml(r, out);
}

static void
setting(struct evbuffer *out, const char *name, const char *value)
{
    evbuffer_add_printf(out, "<UserSetting i:type=\"StringSetting\"><Name>%s</Name><Value>", name);
    sim_xml_escape(out, value);
    evbuffer_add_printf(out, "</Value></UserSetting>");
}

static void
user_response(struct evbuffer *out, const char *email)
{
    uint32_t mbx = email ? sim_mailbox_find(email) : SIM_NONE;
    const struct sim_version *v = g_sim.version;
    char url[512], ver[64];
    if (mbx == SIM_NONE) {
        evbuffer_add_printf(out, "<UserResponse><ErrorCode>InvalidUser</ErrorCode><ErrorMessage>"
                                 "Invalid user.</ErrorMessage><RedirectTarget i:nil=\"true\"/>"
                                 "<UserSettingErrors/><UserSettings/></UserResponse>");
        return;
    }
    ews_url(mbx, url, sizeof(url));
    snprintf(ver, sizeof(ver), "%d.%02d.%04d.%03d", v->major, v->minor, v->build, v->revision);
    evbuffer_add_printf(out, "<UserResponse><ErrorCode>NoError</ErrorCode><ErrorMessage>No error."
                             "</ErrorMessage><RedirectTarget i:nil=\"true\"/><UserSettingErrors/>"
                             "<UserSettings>");
    setting(out, "UserDisplayName", g_sim.mailboxes[mbx].smtp);
    setting(out, "CasVersion", ver);
    setting(out, "EwsSupportedSchemas",
            "Exchange2007, Exchange2007_SP1, Exchange2010, "
            "Exchange2010_SP1, Exchange2010_SP2, Exchange2013");
    setting(out, "InternalEwsUrl", url);
    setting(out, "ExternalEwsUrl", url);
    setting(out, "GroupingInformation", g_sim.cas[g_sim.mailboxes[mbx].cas].name);
    evbuffer_add_printf(out, "</UserSettings></UserResponse>");
}

void
sim_autodiscover_soap(struct sim_req *r, const char *body, size_t n)
{
    struct evbuffer *out = evbuffer_new();
    const struct sim_version *v = g_sim.version;
    xmlNodePtr root, users;
    r->opname = "GetUserSettings";
    sim_count_op("other");
    r->doc = sim_xml_parse(body, n);
    root = r->doc ? xmlDocGetRootElement(r->doc) : NULL;
    users = root ? find(root, "Users") : NULL;
    if (!users) {
        evbuffer_free(out);
        sim_soap_fault(r, "ErrorInvalidRequest", "The request is invalid.", -1);
        return;
    }
    evbuffer_add_printf(
        out,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><s:Envelope xmlns:s=\"" SIM_NS_SOAP
        "\" xmlns:a=\"http://www.w3.org/2005/08/addressing\"><s:Header>"
        "<a:Action s:mustUnderstand=\"1\">http://schemas.microsoft.com/exchange/"
        "2010/Autodiscover/Autodiscover/GetUserSettingsResponse</a:Action>"
        "<h:ServerVersionInfo xmlns:h=\"" NS_AD_SOAP "\"><h:MajorVersion>%d"
        "</h:MajorVersion><h:MinorVersion>%d</h:MinorVersion><h:MajorBuildNumber>%d"
        "</h:MajorBuildNumber><h:MinorBuildNumber>%d</h:MinorBuildNumber>"
        "<h:Version>%s</h:Version></h:ServerVersionInfo></s:Header><s:Body>"
        "<GetUserSettingsResponseMessage xmlns=\"" NS_AD_SOAP "\"><Response "
        "xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\"><ErrorCode>NoError"
        "</ErrorCode><ErrorMessage/><UserResponses>",
        v->major, v->minor, v->build, v->revision,
        v->major >= 15 ? "Exchange2013" : "Exchange2010_SP2");
    for (xmlNodePtr u = sim_child(users, "User"); u; u = sim_next(u->next, "User")) {
        xmlNodePtr m = sim_child(u, "Mailbox");
        xmlChar *email = m ? xmlNodeGetContent(m) : NULL;
        user_response(out, (const char *)email);
        xmlFree(email);
    }
    evbuffer_add_printf(out, "</UserResponses></Response></GetUserSettingsResponseMessage>"
                             "</s:Body></s:Envelope>");
    reply_xml(r, out);
}
