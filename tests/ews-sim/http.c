/* ews-sim: the Client Access Servers: HTTP(S) listeners, per-connection state, IIS-like
 * authentication (Basic, NTLM and raw-NTLM Negotiate per TCP connection, Bearer) and routing
 * to EWS or Autodiscover. */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#define CONN_BUCKETS 4096
#define MAX_BODY (8 * 1024 * 1024)
#define MAX_HEADERS (64 * 1024)

struct sim_conn {
    struct evhttp_connection *evcon;
    int cas;
    uint32_t account; /* authenticated by NTLM for the life of the connection */
    struct sim_ntlm ntlm;
    struct sim_req *held;
    struct sim_conn *next;
};

static struct sim_conn *conns[CONN_BUCKETS];

static size_t
conn_bucket(const struct evhttp_connection *evcon)
{
    return ((uintptr_t)evcon >> 4) % CONN_BUCKETS;
}

/* The state of a known connection (owned here), or NULL. */
static struct sim_conn *
conn_lookup(const struct evhttp_connection *evcon)
{
    for (struct sim_conn *c = conns[conn_bucket(evcon)]; c; c = c->next)
        if (c->evcon == evcon)
            return c;
    return NULL;
}

/* libevent is freeing the connection: forget it and end whatever it was holding. */
static void
conn_closed(struct evhttp_connection *evcon, void *arg)
{
    struct sim_conn *c = arg, **pp;
    (void)evcon;
    if (c->held) {
        struct sim_req *r = c->held;
        /* A request still being answered when the client went away is detached from the
         * connection and left to us; one still attached is freed with the connection. */
        if (r->req && !evhttp_request_get_connection(r->req))
            evhttp_request_free(r->req);
        r->req = NULL;
        if (r->on_close)
            r->on_close(r);
        else
            sim_req_release(r);
    }
    for (pp = &conns[conn_bucket(c->evcon)]; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    free(c);
}

/* The state of the request's connection, created at its first request; owned here and freed
 * when libevent closes the connection. */
static struct sim_conn *
conn_get(struct evhttp_request *req, int cas)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct sim_conn *c = conn_lookup(evcon);
    size_t b;
    evutil_socket_t fd;
    int one = 1;
    if (c)
        return c;
    c = sim_xcalloc(1, sizeof(*c));
    c->evcon = evcon;
    c->cas = cas;
    c->account = SIM_NONE;
    b = conn_bucket(evcon);
    c->next = conns[b];
    conns[b] = c;
    evhttp_connection_set_closecb(evcon, conn_closed, c);
    /* answers go out in several writes (headers, chunks): do not let Nagle hold them back */
    fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return c;
}

void
sim_req_release(struct sim_req *r)
{
    if (r->conn && r->conn->held == r)
        r->conn->held = NULL;
    if (r->inflight && r->account != SIM_NONE)
        g_sim.accounts[r->account].inflight--;
    if (r->timer)
        event_free(r->timer);
    if (r->doc)
        xmlFreeDoc(r->doc);
    free(r);
}

void
sim_req_reply(struct sim_req *r, int code, struct evbuffer *body)
{
    if (r->req) {
        struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
        evhttp_add_header(h, "Content-Type", "text/xml; charset=utf-8");
        evhttp_add_header(h, "X-FEServer", g_sim.cas[r->cas].name);
        evhttp_send_reply(r->req, code, code == 200 ? "OK" : "Error", body);
    }
    if (body)
        evbuffer_free(body);
    sim_req_release(r);
}

void
sim_req_hold(struct sim_req *r, sim_req_close_fn on_close, void *data)
{
    r->held = 1;
    r->on_close = on_close;
    r->data = data;
    if (r->conn)
        r->conn->held = r;
}

void
sim_req_unhold(struct sim_req *r)
{
    r->held = 0;
    r->on_close = NULL;
    if (r->conn && r->conn->held == r)
        r->conn->held = NULL;
}

static void
drop_later(evutil_socket_t fd, short what, void *arg)
{
    struct evhttp_connection *evcon = arg;
    (void)fd;
    (void)what;
    /* the client may have gone already; only a connection still known is freed */
    if (conn_lookup(evcon))
        evhttp_connection_free(evcon);
}

void
sim_req_drop(struct sim_req *r)
{
    struct evhttp_connection *evcon = r->req ? evhttp_request_get_connection(r->req) : NULL;
    struct timeval now = {0, 0};
    sim_req_release(r);
    if (evcon)
        event_base_once(g_sim.base, -1, EV_TIMEOUT, drop_later, evcon, &now);
}

static void
send_401(struct evhttp_request *req, int cas, const char *challenge_scheme, const char *challenge)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char buf[2200]; /* scheme + a base64 type-2 message of up to 2048 bytes */
    g_sim.ctr.unauthorized++;
    if (challenge) {
        snprintf(buf, sizeof(buf), "%s %s", challenge_scheme, challenge);
        evhttp_add_header(h, "WWW-Authenticate", buf);
    } else {
        if (g_sim.auth_mask & SIM_AUTH_NEGOTIATE)
            evhttp_add_header(h, "WWW-Authenticate", "Negotiate");
        if (g_sim.auth_mask & SIM_AUTH_NTLM)
            evhttp_add_header(h, "WWW-Authenticate", "NTLM");
        if (g_sim.auth_mask & SIM_AUTH_BASIC) {
            snprintf(buf, sizeof(buf), "Basic realm=\"%s\"", g_sim.cas[cas].host);
            evhttp_add_header(h, "WWW-Authenticate", buf);
        }
    }
    evhttp_add_header(h, "Content-Type", "text/html");
    evhttp_add_header(h, "X-FEServer", g_sim.cas[cas].name);
    evhttp_send_reply(req, 401, "Unauthorized", NULL);
}

static uint32_t
auth_basic(const char *cred)
{
    unsigned char raw[512];
    char *colon;
    int n = sim_unb64(cred, raw, sizeof(raw) - 1);
    uint32_t acc;
    if (n <= 0)
        return SIM_NONE;
    raw[n] = '\0';
    colon = strchr((char *)raw, ':');
    if (!colon)
        return SIM_NONE;
    *colon = '\0';
    acc = sim_account_login((char *)raw, NULL);
    if (acc == SIM_NONE || strcmp(g_sim.accounts[acc].password, colon + 1) != 0)
        return SIM_NONE;
    return acc;
}

static uint32_t
auth_bearer(const char *token)
{
    for (uint32_t i = 0; i < g_sim.ntokens; i++)
        if (strcmp(g_sim.tokens[i], token) == 0)
            return g_sim.token_owner[i];
    return SIM_NONE;
}

/* Returns the authenticated account, or SIM_NONE after answering 401 itself. */
static uint32_t
authenticate(struct evhttp_request *req, struct sim_conn *c)
{
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    const char *sp;
    size_t slen;
    if (c->account != SIM_NONE && (!auth || strncasecmp(auth, "NTLM ", 5) != 0))
        return c->account;
    if (!auth || !(sp = strchr(auth, ' '))) {
        send_401(req, c->cas, NULL, NULL);
        return SIM_NONE;
    }
    slen = (size_t)(sp - auth);
    while (*sp == ' ')
        sp++;
    if (slen == 5 && strncasecmp(auth, "Basic", 5) == 0 && (g_sim.auth_mask & SIM_AUTH_BASIC)) {
        uint32_t acc = auth_basic(sp);
        if (acc != SIM_NONE)
            return acc;
    } else if (slen == 6 && strncasecmp(auth, "Bearer", 6) == 0 &&
               (g_sim.auth_mask & SIM_AUTH_BEARER)) {
        uint32_t acc = auth_bearer(sp);
        if (acc != SIM_NONE)
            return acc;
    } else if ((slen == 4 && strncasecmp(auth, "NTLM", 4) == 0 &&
                (g_sim.auth_mask & SIM_AUTH_NTLM)) ||
               (slen == 9 && strncasecmp(auth, "Negotiate", 9) == 0 &&
                (g_sim.auth_mask & SIM_AUTH_NEGOTIATE))) {
        unsigned char tok[4096];
        char out[2048];
        int n = sim_unb64(sp, tok, sizeof(tok));
        char scheme[16];
        uint32_t acc;
        snprintf(scheme, sizeof(scheme), "%.*s", (int)slen, auth);
        if (n >= 12 && memcmp(tok, "NTLMSSP", 8) == 0 && tok[8] == 1 &&
            sim_ntlm_challenge(&c->ntlm, tok, (size_t)n, out, sizeof(out)) == 0) {
            send_401(req, c->cas, scheme, out);
            return SIM_NONE;
        }
        if (n >= 12 && sim_ntlm_verify(&c->ntlm, tok, (size_t)n, &acc) == 0) {
            c->account = acc;
            return acc;
        }
    }
    g_sim.ctr.auth_failed++;
    sim_debug("auth: %s: refused", g_sim.cas[c->cas].name);
    send_401(req, c->cas, NULL, NULL);
    return SIM_NONE;
}

static void
request_cb(struct evhttp_request *req, void *arg)
{
    int cas = (int)(intptr_t)arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    struct sim_conn *c = conn_get(req, cas);
    struct sim_req *r;
    uint32_t acc;
    size_t n;
    const char *body;
    int route;
    g_sim.ctr.http_requests++;
    g_sim.cas[cas].requests++;
    if (!path)
        path = "/";
    if (strcasecmp(path, "/EWS/Exchange.asmx") == 0)
        route = 0;
    else if (strcasecmp(path, "/autodiscover/autodiscover.xml") == 0)
        route = 1;
    else if (strcasecmp(path, "/autodiscover/autodiscover.svc") == 0)
        route = 2;
    else {
        evhttp_send_error(req, 404, "Not Found");
        return;
    }
    acc = authenticate(req, c);
    if (acc == SIM_NONE)
        return;
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        evhttp_send_error(req, 405, "Method Not Allowed");
        return;
    }
    n = evbuffer_get_length(in);
    body = (const char *)evbuffer_pullup(in, -1);
    r = sim_xcalloc(1, sizeof(*r));
    r->req = req;
    r->conn = c;
    r->cas = cas;
    r->account = acc;
    r->mailbox = SIM_NONE;
    g_sim.accounts[acc].requests++;
    if (route == 0)
        sim_soap_request(r, body ? body : "", n);
    else if (route == 1)
        sim_autodiscover_pox(r, body ? body : "", n);
    else
        sim_autodiscover_soap(r, body ? body : "", n);
}

static struct bufferevent *
tls_bevcb(struct event_base *base, void *arg)
{
    SSL *ssl = SSL_new(g_sim.ssl);
    struct bufferevent *bev;
    (void)arg;
    if (!ssl)
        return NULL;
    bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                         BEV_OPT_CLOSE_ON_FREE);
    if (bev)
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

int
sim_cas_start(int cas)
{
    struct sim_cas *s = &g_sim.cas[cas];
    if (s->running)
        return 0;
    s->http = evhttp_new(g_sim.base);
    if (!s->http)
        return -1;
    evhttp_set_gencb(s->http, request_cb, (void *)(intptr_t)cas);
    if (!g_sim.plain_http)
        evhttp_set_bevcb(s->http, tls_bevcb, NULL);
    evhttp_set_max_body_size(s->http, MAX_BODY);
    evhttp_set_max_headers_size(s->http, MAX_HEADERS);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
    /* streaming answers stay open for up to 30 minutes of (scaled) time */
    evhttp_set_timeout(s->http, 3600);
    s->bound = evhttp_bind_socket_with_handle(s->http, s->host, (ev_uint16_t)s->port);
    if (!s->bound) {
        evhttp_free(s->http);
        s->http = NULL;
        sim_log("cas: %s: cannot listen on %s:%d", s->name, s->host, s->port);
        return -1;
    }
    s->running = 1;
    sim_log("cas: %s: listening on %s://%s:%d/EWS/Exchange.asmx", s->name,
            g_sim.plain_http ? "http" : "https", s->host, s->port);
    return 0;
}

/* Like a CAS going down: the listener closes and every open connection with it. */
void
sim_cas_stop(int cas)
{
    struct sim_cas *s = &g_sim.cas[cas];
    if (!s->running)
        return;
    sim_subs_cas_stopped(cas);
    evhttp_free(s->http);
    s->http = NULL;
    s->bound = NULL;
    s->running = 0;
    sim_log("cas: %s: stopped", s->name);
}

int
sim_cas_find(const char *name)
{
    for (int i = 0; i < g_sim.ncas; i++)
        if (strcasecmp(g_sim.cas[i].name, name) == 0)
            return i;
    return -1;
}
