/* GetStreamingEvents: one long-lived request whose chunked answer holds envelope after
 * envelope; each is parsed as soon as it is complete and handed to the caller. */
#include "client_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One envelope at most; heartbeats are tiny, event frames a few KiB. */
#define MAX_FRAME (1024 * 1024)

static int on_frame(const struct ews_stream_frame *frame, void *ud);
static int on_data(void *ud, const char *chunk, size_t len);
static void on_done(void *ud, const struct ews_http_result *r);

static int
on_frame(const struct ews_stream_frame *frame, void *ud)
{
    struct ews_op *op = ud;

    if (frame->status == EWS_CONN_CLOSED)
        op->stream_closed = true;
    if (op->frame_cb(op->ud, frame) != 0) {
        op->stream_stopped = true;
        return 1;
    }
    return 0;
}

static int
on_data(void *ud, const char *chunk, size_t len)
{
    struct ews_op *op = ud;
    int rc;

    if (op->c->dump != NULL)
        op->c->dump(op->c->dump_ud, "response", "stream chunk", chunk, len);
    rc = ews_stream_feed(op->stream, chunk, len, on_frame, op);
    if (rc < 0)
        op->stream_rc = rc;
    return rc != 0;
}

static void
on_done(void *ud, const struct ews_http_result *r)
{
    struct ews_op *op = ud;
    struct ews_client *c = op->c;
    struct ews_error err;
    int rc = 0;

    op->stream_xfer = NULL;
    memset(&err, 0, sizeof(err));
    if (op->stream_rc < 0) {
        ews_error_set(&err, EWS_ERR_MALFORMED, 200, "", "unusable streaming envelope");
        rc = op->stream_rc;
    } else if (op->stream_stopped || op->stream_closed) {
        rc = 0;
    } else if (r->code != CURLE_OK) {
        ews_error_set(&err, EWS_ERR_SERVER_DOWN, 0, "", "%s", r->error);
        rc = EWS_E_TRANSPORT;
    } else if (r->status == 401) {
        ews_error_set(&err, EWS_ERR_AUTH_FAILURE, 401, "", "credentials refused");
        rc = EWS_E_RESPONSE;
    } else if (r->status != 200) {
        ews_classify((int)r->status, r->body, r->len, &err);
        rc = err.cls == EWS_ERR_SERVER_DOWN ? EWS_E_TRANSPORT : EWS_E_RESPONSE;
    }
    if (rc < 0)
        ews_logf(c, EWS_LOG_WARN, "stream: %s: ended (%s %s: %s)", op->mailbox,
                 ews_error_class_name(err.cls), err.code, err.message);
    /* The stream does not go through the pool's queue: the caller is told how long to wait
     * before opening it again (Retry-After of a 503 too), and other requests wait as well. */
    if (rc < 0 && err.cls == EWS_ERR_RETRY_LATER) {
        err.backoff_ms = ews_backoff_ms(&err, r->retry_after_s);
        ews_pool_backoff(&c->pool, (size_t)op->stream_server, ews_now_ms(),
                         (uint32_t)err.backoff_ms);
    }
    ews_op_finish(op, rc, &err);
}

int
ews_get_streaming_events(struct ews_client *c, const char *anchor_mailbox,
                         const char *const *subscription_ids, size_t n_ids,
                         int connection_timeout_min, ews_frame_cb frame_cb, ews_done_cb done_cb,
                         void *ud, struct ews_op **op_out)
{
    struct ews_request_ctx ctx;
    struct ews_http_req hr = {0};
    struct ews_op *op;
    char *body;
    char why[256];
    int idx;

    if (anchor_mailbox == NULL || frame_cb == NULL || done_cb == NULL || c->pool.n == 0)
        return EWS_E_INVAL;
    ctx = ews_client_ctx(c, anchor_mailbox);
    body = ews_build_get_streaming_events(&ctx, subscription_ids, n_ids, connection_timeout_min);
    if (body == NULL)
        return EWS_E_INVAL;
    op = ews_op_new(c, OP_STREAM, anchor_mailbox, (void *)done_cb, ud);
    idx = ews_pool_server_for(&c->pool, anchor_mailbox);
    if (op == NULL || idx < 0 || (op->stream = ews_stream_new(MAX_FRAME)) == NULL) {
        free(body);
        if (op != NULL)
            ews_op_free(op);
        return EWS_E_NOMEM;
    }
    op->frame_cb = frame_cb;
    op->stream_server = idx;
    hr.url = c->pool.servers[idx].url;
    hr.body = body;
    hr.body_len = strlen(body);
    hr.soap_action = "GetStreamingEvents";
    hr.anchor_mailbox = c->imp != EWS_IMP_NONE ? anchor_mailbox : NULL;
    /* The server holds the answer open for the connection timeout, then closes it. */
    hr.timeout_s = (long)connection_timeout_min * 60 + c->timeout_s;
    hr.max_body = MAX_FRAME;
    hr.weak_tls = c->extra[idx]->weak_tls;
    if (c->dump != NULL)
        c->dump(c->dump_ud, "request", hr.url, body, hr.body_len);
    op->stream_xfer = ews_http_start(c->http, &hr, on_data, on_done, op, why, sizeof(why));
    free(body);
    if (op->stream_xfer == NULL) {
        ews_logf(c, EWS_LOG_ERROR, "stream: %s: not started (%s)", anchor_mailbox, why);
        ews_op_free(op);
        return EWS_E_INVAL;
    }
    if (op_out != NULL)
        *op_out = op;
    return 0;
}
