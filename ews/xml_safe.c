/* ews/xml_safe.c: the one way ews/ reads XML from the network (issue 3 item 8).
 *
 * libxml2 2.9.14 is told: no network (XML_PARSE_NONET), no DTD loading or default
 * attributes (no XML_PARSE_DTDLOAD/DTDATTR), no entity substitution (no XML_PARSE_NOENT),
 * no huge documents (no XML_PARSE_HUGE, so its own depth limit of 256 applies). On top of
 * that a DOCTYPE stops the parser the moment it is seen, before any internal subset (and so
 * any entity declaration: XXE, billion laughs) is read; the size is checked before libxml2
 * sees a byte, and the depth is checked again against our tighter bound. EWS speaks UTF-8
 * only: forcing it keeps libxml2's encoding converters (and their stderr messages) out. */
#include <libxml/parser.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ews_xml_int.h"

#define EWS_NS_SOAP_HTTPS "https://schemas.xmlsoap.org/soap/envelope/"

static size_t max_bytes = EWS_XML_DEFAULT_MAX_BYTES;

static void stop_on_doctype(void *ctx, const xmlChar *name, const xmlChar *external_id,
                            const xmlChar *system_id);
static bool too_deep(xmlNode *root);
static int check_envelope(xmlNode *root, xmlNode **soap_body, struct ews_error *err);
static const char *trim(const char *s, size_t *n);

size_t
ews_xml_set_max_bytes(size_t n)
{
    size_t old = max_bytes;
    if (n < 1024)
        n = 1024;
    if (n > INT_MAX / 2)
        n = INT_MAX / 2;
    max_bytes = n;
    return old;
}

/* SAX hook for <!DOCTYPE ...>: called before the internal subset is parsed. */
static void
stop_on_doctype(void *ctx, const xmlChar *name, const xmlChar *external_id,
                const xmlChar *system_id)
{
    (void)name;
    (void)external_id;
    (void)system_id;
    xmlParserCtxt *ctxt = ctx;
    *(bool *)ctxt->_private = true;
    xmlStopParser(ctxt);
}

/* Iterative walk (no recursion: the depth is what we distrust). */
static bool
too_deep(xmlNode *root)
{
    int depth = 1;
    xmlNode *n = root;
    for (;;) {
        xmlNode *child = ews_xml_find(n, NULL, NULL, NULL);
        if (child) {
            if (++depth > EWS_XML_MAX_DEPTH)
                return true;
            n = child;
            continue;
        }
        for (;;) {
            if (n == root)
                return false;
            xmlNode *next = ews_xml_find(NULL, n, NULL, NULL);
            if (next) {
                n = next;
                break;
            }
            n = n->parent;
            depth--;
        }
    }
}

static int
check_envelope(xmlNode *root, xmlNode **soap_body, struct ews_error *err)
{
    if (!root || !root->name || strcmp((const char *)root->name, "Envelope") != 0 || !root->ns) {
        ews_err_set(err, EWS_ERR_MALFORMED, NULL, "not a SOAP envelope");
        return EWS_E_MALFORMED;
    }
    const char *ns = (const char *)root->ns->href;
    if (strcmp(ns, EWS_NS_SOAP_HTTPS) == 0) {
        /* Exchange never sends it; published samples with it are defects. */
        ews_err_set(err, EWS_ERR_MALFORMED, NULL,
                    "SOAP envelope in the https namespace variant refused");
        return EWS_E_UNSAFE;
    }
    if (strcmp(ns, EWS_NS_SOAP) != 0) {
        ews_err_set(err, EWS_ERR_MALFORMED, NULL, "not a SOAP 1.1 envelope");
        return EWS_E_MALFORMED;
    }
    *soap_body = ews_xml_find(root, NULL, EWS_NS_SOAP, "Body");
    if (!*soap_body) {
        ews_err_set(err, EWS_ERR_MALFORMED, NULL, "SOAP envelope without Body");
        return EWS_E_MALFORMED;
    }
    return 0;
}

int
ews_xml_read_any(const char *body, size_t len, xmlDoc **doc, struct ews_error *err)
{
    *doc = NULL;
    if (!body || len == 0) {
        ews_err_set(err, EWS_ERR_MALFORMED, NULL, "empty answer");
        return EWS_E_MALFORMED;
    }
    if (len > max_bytes) {
        ews_err_set(err, EWS_ERR_MALFORMED, NULL, "answer of %zu bytes over the %zu bound", len,
                    max_bytes);
        return EWS_E_TOO_LARGE;
    }
    xmlParserCtxt *ctxt = xmlNewParserCtxt();
    if (!ctxt) {
        ews_err_set(err, EWS_ERR_OTHER, NULL, "out of memory");
        return EWS_E_NOMEM;
    }
    bool doctype = false;
    ctxt->_private = &doctype;
    ctxt->sax->internalSubset = stop_on_doctype;
    xmlDoc *d = xmlCtxtReadMemory(ctxt, body, (int)len, NULL, "UTF-8",
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                                      XML_PARSE_NOCDATA);
    int rc = 0;
    if (doctype) {
        ews_err_set(err, EWS_ERR_MALFORMED, NULL, "document with a DOCTYPE refused");
        rc = EWS_E_UNSAFE;
    } else if (!d || !ctxt->wellFormed) {
        const xmlError *e = xmlCtxtGetLastError(ctxt);
        const char *m = e && e->message ? e->message : "?";
        /* libxml2's messages end in a newline; the log wants one line. */
        ews_err_set(err, EWS_ERR_MALFORMED, NULL, "not well-formed XML (line %d: %.*s)",
                    e ? e->line : 0, (int)strcspn(m, "\n"), m);
        rc = e && e->code == XML_ERR_INTERNAL_ERROR ? EWS_E_UNSAFE : EWS_E_MALFORMED;
    } else if (too_deep(xmlDocGetRootElement(d))) {
        ews_err_set(err, EWS_ERR_MALFORMED, NULL, "document nested deeper than %d",
                    EWS_XML_MAX_DEPTH);
        rc = EWS_E_UNSAFE;
    }
    xmlFreeParserCtxt(ctxt);
    if (rc) {
        xmlFreeDoc(d);
        return rc;
    }
    *doc = d;
    return 0;
}

int
ews_xml_read(const char *body, size_t len, xmlDoc **doc, xmlNode **soap_body, struct ews_error *err)
{
    *soap_body = NULL;
    int rc = ews_xml_read_any(body, len, doc, err);
    if (rc)
        return rc;
    rc = check_envelope(xmlDocGetRootElement(*doc), soap_body, err);
    if (rc) {
        xmlFreeDoc(*doc);
        *doc = NULL;
    }
    return rc;
}

xmlNode *
ews_xml_header(xmlNode *soap_body)
{
    return soap_body && soap_body->parent
               ? ews_xml_find(soap_body->parent, NULL, EWS_NS_SOAP, "Header")
               : NULL;
}

bool
ews_xml_is(const xmlNode *n, const char *ns, const char *name)
{
    if (!n || n->type != XML_ELEMENT_NODE)
        return false;
    if (name && strcmp((const char *)n->name, name) != 0)
        return false;
    if (ns && (!n->ns || !n->ns->href || strcmp((const char *)n->ns->href, ns) != 0))
        return false;
    return true;
}

xmlNode *
ews_xml_find(xmlNode *parent, xmlNode *after, const char *ns, const char *name)
{
    xmlNode *n = after ? after->next : (parent ? parent->children : NULL);
    for (; n; n = n->next)
        if (ews_xml_is(n, ns, name))
            return n;
    return NULL;
}

static const char *
trim(const char *s, size_t *n)
{
    size_t len = strlen(s);
    while (len && strchr(" \t\r\n", s[len - 1]))
        len--;
    while (len && strchr(" \t\r\n", *s)) {
        s++;
        len--;
    }
    *n = len;
    return s;
}

char *
ews_xml_text(const xmlNode *n)
{
    if (!n)
        return NULL;
    xmlChar *c = xmlNodeGetContent(n);
    if (!c)
        return NULL;
    size_t len;
    const char *t = trim((const char *)c, &len);
    char *out = strndup(t, len);
    xmlFree(c);
    return out;
}

bool
ews_xml_text_to(const xmlNode *n, char *buf, size_t size)
{
    if (!n || size == 0)
        return false;
    xmlChar *c = xmlNodeGetContent(n);
    if (!c)
        return false;
    size_t len;
    const char *t = trim((const char *)c, &len);
    if (len >= size)
        len = size - 1;
    memcpy(buf, t, len);
    buf[len] = '\0';
    xmlFree(c);
    return true;
}

char *
ews_xml_attr(const xmlNode *n, const char *name)
{
    if (!n)
        return NULL;
    xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)name);
    if (!v)
        return NULL;
    char *out = strdup((const char *)v);
    xmlFree(v);
    return out;
}

bool
ews_xml_child_bool(xmlNode *parent, const char *ns, const char *name, bool def)
{
    char v[8];
    if (!ews_xml_text_to(ews_xml_find(parent, NULL, ns, name), v, sizeof v))
        return def;
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
        return true;
    if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
        return false;
    return def;
}

bool
ews_xml_child_time(xmlNode *parent, const char *ns, const char *name, time_t *out)
{
    char v[64];
    if (!ews_xml_text_to(ews_xml_find(parent, NULL, ns, name), v, sizeof v))
        return false;
    return ews_time_parse(v, out) == 0;
}
