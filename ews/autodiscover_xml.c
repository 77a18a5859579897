/* Autodiscover: where to ask, and the XML of the answers (autodiscover_int.h). */
#include "autodiscover_int.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ews_types.h"

#define POX_NS "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
#define POX_SCHEMA "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
#define SOAP_ACTION_BASE "http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/"

/* Autodiscover answers are small; anything bigger is not one. */
#define AD_MAX_ANSWER (1024 * 1024)

static char *escape(const char *s);
static const xmlNode *child(const xmlNode *n, const char *name);
static void copy_text(const xmlNode *n, char *out, size_t outlen);
static void parse_pox(const xmlNode *root, struct ews_ad_answer *out);
static void parse_soap(const xmlNode *n, struct ews_ad_answer *out, char *external, size_t extlen);

int
ews_ad_steps(const char *email, struct ews_ad_step *steps)
{
    const char *at = strrchr(email, '@');
    const char *domain = at != NULL ? at + 1 : NULL;
    static const struct {
        enum ews_ad_kind kind;
        const char *fmt;
    } plan[EWS_AD_MAX_STEPS - 1] = {
        {EWS_AD_POX, "https://%s/autodiscover/autodiscover.xml"},
        {EWS_AD_POX, "https://autodiscover.%s/autodiscover/autodiscover.xml"},
        {EWS_AD_REDIRECT, "http://autodiscover.%s/autodiscover/autodiscover.xml"},
        {EWS_AD_SOAP, "https://%s/autodiscover/autodiscover.svc"},
        {EWS_AD_SOAP, "https://autodiscover.%s/autodiscover/autodiscover.svc"},
    };
    size_t n = sizeof(plan) / sizeof(plan[0]);

    if (domain == NULL || domain[0] == '\0' || strlen(domain) > 255 ||
        strpbrk(domain, "/:?#@ \t\r\n\\") != NULL)
        return EWS_E_INVAL;
    for (size_t i = 0; i < n; i++) {
        steps[i].kind = plan[i].kind;
        snprintf(steps[i].url, sizeof(steps[i].url), plan[i].fmt, domain);
    }
    return (int)n;
}

/* XML-escapes S (text or attribute). Caller frees; NULL when out of memory. */
static char *
escape(const char *s)
{
    size_t len = 0;
    char *out;
    char *p;

    for (const char *q = s; *q != '\0'; q++)
        len += (*q == '&') ? 5 : (*q == '<' || *q == '>') ? 4 : (*q == '"') ? 6 : 1;
    out = malloc(len + 1);
    if (out == NULL)
        return NULL;
    p = out;
    for (const char *q = s; *q != '\0'; q++) {
        const char *rep = *q == '&'   ? "&amp;"
                          : *q == '<' ? "&lt;"
                          : *q == '>' ? "&gt;"
                          : *q == '"' ? "&quot;"
                                      : NULL;

        if (rep != NULL) {
            memcpy(p, rep, strlen(rep));
            p += strlen(rep);
        } else {
            *p++ = *q;
        }
    }
    *p = '\0';
    return out;
}

char *
ews_ad_build_pox(const char *email)
{
    char *e = escape(email);
    char *out = NULL;

    if (e == NULL)
        return NULL;
    if (asprintf(&out,
                 "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                 "<Autodiscover xmlns=\"" POX_NS "\">\n"
                 "  <Request>\n"
                 "    <EMailAddress>%s</EMailAddress>\n"
                 "    <AcceptableResponseSchema>" POX_SCHEMA "</AcceptableResponseSchema>\n"
                 "  </Request>\n"
                 "</Autodiscover>\n",
                 e) < 0)
        out = NULL;
    free(e);
    return out;
}

char *
ews_ad_build_soap(const char *email, const char *url)
{
    char *e = escape(email);
    char *u = escape(url);
    char *out = NULL;

    if (e != NULL && u != NULL &&
        asprintf(&out,
                 "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                 "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\""
                 " xmlns:a=\"http://schemas.microsoft.com/exchange/2010/Autodiscover\""
                 " xmlns:wsa=\"http://www.w3.org/2005/08/addressing\">\n"
                 "  <soap:Header>\n"
                 "    <a:RequestedServerVersion>Exchange2010</a:RequestedServerVersion>\n"
                 "    <wsa:Action>" SOAP_ACTION_BASE "GetUserSettings</wsa:Action>\n"
                 "    <wsa:To>%s</wsa:To>\n"
                 "  </soap:Header>\n"
                 "  <soap:Body>\n"
                 "    <a:GetUserSettingsRequestMessage>\n"
                 "      <a:Request>\n"
                 "        <a:Users><a:User><a:Mailbox>%s</a:Mailbox></a:User></a:Users>\n"
                 "        <a:RequestedSettings>\n"
                 "          <a:Setting>InternalEwsUrl</a:Setting>\n"
                 "          <a:Setting>ExternalEwsUrl</a:Setting>\n"
                 "        </a:RequestedSettings>\n"
                 "      </a:Request>\n"
                 "    </a:GetUserSettingsRequestMessage>\n"
                 "  </soap:Body>\n"
                 "</soap:Envelope>\n",
                 u, e) < 0)
        out = NULL;
    free(e);
    free(u);
    return out;
}

/* The first element child of N with local name NAME. */
static const xmlNode *
child(const xmlNode *n, const char *name)
{
    for (const xmlNode *k = n != NULL ? n->children : NULL; k != NULL; k = k->next)
        if (k->type == XML_ELEMENT_NODE && strcmp((const char *)k->name, name) == 0)
            return k;
    return NULL;
}

static void
copy_text(const xmlNode *n, char *out, size_t outlen)
{
    xmlChar *t;

    if (n == NULL)
        return;
    t = xmlNodeGetContent(n);
    if (t == NULL)
        return;
    snprintf(out, outlen, "%s", (const char *)t);
    xmlFree(t);
}

/* Autodiscover/Response/Account: Action settings (Protocol EXCH = internal, EXPR = external),
 * redirectAddr or redirectUrl; or Autodiscover/Response/Error/Message. */
static void
parse_pox(const xmlNode *root, struct ews_ad_answer *out)
{
    const xmlNode *resp = child(root, "Response");
    const xmlNode *account = child(resp, "Account");
    char external[EWS_AD_URL_MAX] = "";
    char action[32] = "";

    copy_text(child(child(resp, "Error"), "Message"), out->error, sizeof(out->error));
    copy_text(child(account, "Action"), action, sizeof(action));
    if (strcmp(action, "redirectAddr") == 0)
        copy_text(child(account, "RedirectAddr"), out->redirect_addr, sizeof(out->redirect_addr));
    if (strcmp(action, "redirectUrl") == 0)
        copy_text(child(account, "RedirectUrl"), out->redirect_url, sizeof(out->redirect_url));
    for (const xmlNode *p = account != NULL ? account->children : NULL; p != NULL; p = p->next) {
        char type[16] = "";
        char url[EWS_AD_URL_MAX] = "";

        if (p->type != XML_ELEMENT_NODE || strcmp((const char *)p->name, "Protocol") != 0)
            continue;
        copy_text(child(p, "Type"), type, sizeof(type));
        copy_text(child(p, "EwsUrl"), url, sizeof(url));
        if (url[0] == '\0')
            copy_text(child(p, "ASUrl"), url, sizeof(url));
        if (strcmp(type, "EXCH") == 0 && out->ews_url[0] == '\0')
            snprintf(out->ews_url, sizeof(out->ews_url), "%s", url);
        else if (strcmp(type, "EXPR") == 0 && external[0] == '\0')
            snprintf(external, sizeof(external), "%s", url);
    }
    if (out->ews_url[0] == '\0')
        snprintf(out->ews_url, sizeof(out->ews_url), "%s", external);
}

/* Every UserSetting (Name, Value) below N, wherever the envelope puts it. */
static void
parse_soap(const xmlNode *n, struct ews_ad_answer *out, char *external, size_t extlen)
{
    for (const xmlNode *k = n; k != NULL; k = k->next) {
        char name[64] = "";

        if (k->type != XML_ELEMENT_NODE)
            continue;
        if (strcmp((const char *)k->name, "UserSetting") == 0) {
            copy_text(child(k, "Name"), name, sizeof(name));
            if (strcmp(name, "InternalEwsUrl") == 0)
                copy_text(child(k, "Value"), out->ews_url, sizeof(out->ews_url));
            else if (strcmp(name, "ExternalEwsUrl") == 0)
                copy_text(child(k, "Value"), external, extlen);
            continue;
        }
        if (strcmp((const char *)k->name, "ErrorMessage") == 0 && out->error[0] == '\0')
            copy_text(k, out->error, sizeof(out->error));
        parse_soap(k->children, out, external, extlen);
    }
}

int
ews_ad_parse(const char *body, size_t len, int soap, struct ews_ad_answer *out)
{
    xmlDoc *doc;
    const xmlNode *root;
    char external[EWS_AD_URL_MAX] = "";

    memset(out, 0, sizeof(*out));
    if (len > AD_MAX_ANSWER || len > (size_t)INT32_MAX)
        return EWS_E_TOO_LARGE;
    /* No network, no entity substitution, no DTD loading: a hostile server gets nothing. */
    doc = xmlReadMemory(body, (int)len, NULL, NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (doc == NULL)
        return EWS_E_MALFORMED;
    if (doc->intSubset != NULL || doc->extSubset != NULL) {
        xmlFreeDoc(doc);
        return EWS_E_UNSAFE;
    }
    root = xmlDocGetRootElement(doc);
    if (soap)
        parse_soap(root, out, external, sizeof(external));
    else if (root != NULL && strcmp((const char *)root->name, "Autodiscover") == 0)
        parse_pox(root, out);
    if (out->ews_url[0] == '\0')
        snprintf(out->ews_url, sizeof(out->ews_url), "%s", external);
    xmlFreeDoc(doc);
    if (out->ews_url[0] == '\0' && out->redirect_addr[0] == '\0' && out->redirect_url[0] == '\0' &&
        out->error[0] == '\0')
        return EWS_E_MALFORMED;
    return 0;
}
