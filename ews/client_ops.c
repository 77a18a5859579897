/* The operations: building each request, parsing its answer, calling the caller back. */
#include "client_int.h"

#include <stdlib.h>
#include <string.h>

/* Windows shorter than this are not split further: more items than max_entries starting
 * within one minute is not a calendar, and the cut answer is used as it is. */
#define MIN_SPLIT_SECONDS 60
#define DEFAULT_MAX_ENTRIES 500
/* At most this many FindItem requests for one calendar view: a server that always answers
 * IncludesLastItemInRange="false" would otherwise drive the split down to MIN_SPLIT_SECONDS
 * (some 2,900 requests for a day). Past it the view is returned as it is, marked incomplete. */
#define MAX_CALENDAR_REQUESTS 64

static int start_op(struct ews_op *op, char *body, const char *action, struct ews_op **op_out);
static int merge_calendar(struct ews_op *op, struct ews_calendar_view *v);
static int cmp_items(const void *a, const void *b);
static void sort_calendar(struct ews_calendar_view *v);

/* Queues the operation's one request; on failure OP is freed without a callback. */
static int
start_op(struct ews_op *op, char *body, const char *action, struct ews_op **op_out)
{
    int rc = ews_op_submit(op, body, action, false, NULL);

    if (rc < 0) {
        ews_op_free(op);
        return rc;
    }
    if (op_out != NULL)
        *op_out = op;
    return 0;
}

int
ews_subscribe(struct ews_client *c, const char *mailbox, const struct ews_subscribe_params *p,
              ews_subscribe_cb cb, void *ud, struct ews_op **op_out)
{
    struct ews_request_ctx ctx = ews_client_ctx(c, mailbox);
    struct ews_op *op;
    char *body;

    if (mailbox == NULL || p == NULL || cb == NULL)
        return EWS_E_INVAL;
    switch (p->kind) {
    case EWS_SUB_PUSH:
        body = ews_build_subscribe_push(&ctx, p->url, p->status_frequency);
        break;
    case EWS_SUB_PULL:
        body = ews_build_subscribe_pull(&ctx, p->timeout);
        break;
    case EWS_SUB_STREAMING:
        body = ews_build_subscribe_streaming(&ctx);
        break;
    default:
        return EWS_E_INVAL;
    }
    if (body == NULL)
        return EWS_E_INVAL;
    op = ews_op_new(c, OP_SUBSCRIBE, mailbox, (void *)cb, ud);
    if (op == NULL) {
        free(body);
        return EWS_E_NOMEM;
    }
    return start_op(op, body, "Subscribe", op_out);
}

int
ews_unsubscribe(struct ews_client *c, const char *mailbox, const char *subscription_id,
                ews_done_cb cb, void *ud, struct ews_op **op_out)
{
    struct ews_request_ctx ctx = ews_client_ctx(c, mailbox);
    struct ews_op *op;
    char *body;

    if (mailbox == NULL || subscription_id == NULL || cb == NULL)
        return EWS_E_INVAL;
    body = ews_build_unsubscribe(&ctx, subscription_id);
    if (body == NULL)
        return EWS_E_INVAL;
    op = ews_op_new(c, OP_UNSUBSCRIBE, mailbox, (void *)cb, ud);
    if (op == NULL) {
        free(body);
        return EWS_E_NOMEM;
    }
    return start_op(op, body, "Unsubscribe", op_out);
}

int
ews_get_events(struct ews_client *c, const char *mailbox, const char *subscription_id,
               const char *watermark, ews_events_cb cb, void *ud, struct ews_op **op_out)
{
    struct ews_request_ctx ctx = ews_client_ctx(c, mailbox);
    struct ews_op *op;
    char *body;

    if (mailbox == NULL || subscription_id == NULL || watermark == NULL || cb == NULL)
        return EWS_E_INVAL;
    body = ews_build_get_events(&ctx, subscription_id, watermark);
    if (body == NULL)
        return EWS_E_INVAL;
    op = ews_op_new(c, OP_GET_EVENTS, mailbox, (void *)cb, ud);
    if (op == NULL) {
        free(body);
        return EWS_E_NOMEM;
    }
    return start_op(op, body, "GetEvents", op_out);
}

int
ews_calendar_view(struct ews_client *c, const char *mailbox, time_t start, time_t end,
                  int max_entries, ews_calendar_cb cb, void *ud, struct ews_op **op_out)
{
    struct ews_request_ctx ctx = ews_client_ctx(c, mailbox);
    struct ews_op *op;
    struct ews_req *req;
    char *body;
    int rc;

    if (mailbox == NULL || cb == NULL || end <= start)
        return EWS_E_INVAL;
    if (max_entries <= 0)
        max_entries = DEFAULT_MAX_ENTRIES;
    body = ews_build_find_calendar(&ctx, start, end, max_entries);
    if (body == NULL)
        return EWS_E_INVAL;
    op = ews_op_new(c, OP_CALENDAR, mailbox, (void *)cb, ud);
    if (op == NULL) {
        free(body);
        return EWS_E_NOMEM;
    }
    op->max_entries = max_entries;
    op->res.cal.includes_last_item_in_range = true;
    op->cal_requests = 1;
    rc = ews_op_submit(op, body, "FindItem", false, &req);
    if (rc < 0) {
        ews_op_free(op);
        return rc;
    }
    req->start = start;
    req->end = end;
    if (op_out != NULL)
        *op_out = op;
    return 0;
}

int
ews_availability(struct ews_client *c, const char *const *mailboxes, size_t n, time_t start,
                 time_t end, ews_availability_cb cb, void *ud, struct ews_op **op_out)
{
    struct ews_request_ctx ctx;
    struct ews_op *op;
    char *body;

    if (mailboxes == NULL || n == 0 || n > EWS_MAX_AVAILABILITY_MAILBOXES || cb == NULL ||
        end <= start)
        return EWS_E_INVAL;
    ctx = ews_client_ctx(c, mailboxes[0]);
    body = ews_build_get_user_availability(&ctx, mailboxes, n, start, end, 30, EWS_VIEW_FREEBUSY);
    if (body == NULL)
        return EWS_E_INVAL;
    op = ews_op_new(c, OP_AVAILABILITY, mailboxes[0], (void *)cb, ud);
    if (op == NULL) {
        free(body);
        return EWS_E_NOMEM;
    }
    return start_op(op, body, "GetUserAvailability", op_out);
}

int
ews_get_folder(struct ews_client *c, const char *mailbox, ews_folder_cb cb, void *ud,
               struct ews_op **op_out)
{
    struct ews_request_ctx ctx = ews_client_ctx(c, mailbox);
    struct ews_op *op;
    char *body;

    if (mailbox == NULL || cb == NULL)
        return EWS_E_INVAL;
    body = ews_build_get_calendar_folder(&ctx);
    if (body == NULL)
        return EWS_E_INVAL;
    op = ews_op_new(c, OP_FOLDER, mailbox, (void *)cb, ud);
    if (op == NULL) {
        free(body);
        return EWS_E_NOMEM;
    }
    return start_op(op, body, "GetFolder", op_out);
}

/* Appends V's items to the merged view (moving them), skipping the ones already there: an
 * item crossing the split point comes back from both halves. */
static int
merge_calendar(struct ews_op *op, struct ews_calendar_view *v)
{
    struct ews_calendar_view *m = &op->res.cal;

    for (size_t i = 0; i < v->n_items; i++) {
        struct ews_cal_item *it = &v->items[i];
        bool dup = false;

        for (size_t k = 0; k < m->n_items && !dup; k++)
            dup = m->items[k].start == it->start && it->item_id != NULL &&
                  m->items[k].item_id != NULL && strcmp(m->items[k].item_id, it->item_id) == 0;
        if (dup)
            continue;
        if (m->n_items == op->cal_cap) {
            size_t cap = op->cal_cap == 0 ? 16 : op->cal_cap * 2;
            struct ews_cal_item *a = realloc(m->items, cap * sizeof(*a));

            if (a == NULL)
                return EWS_E_NOMEM;
            m->items = a;
            op->cal_cap = cap;
        }
        m->items[m->n_items++] = *it;
        memset(it, 0, sizeof(*it));
    }
    return 0;
}

static int
cmp_items(const void *a, const void *b)
{
    const struct ews_cal_item *x = a;
    const struct ews_cal_item *y = b;

    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

static void
sort_calendar(struct ews_calendar_view *v)
{
    if (v->n_items > 1)
        qsort(v->items, v->n_items, sizeof(v->items[0]), cmp_items);
}

/* A cut CalendarView answer: ask the two halves of REQ's window again (first in line, they
 * belong to work already accepted). Returns 1 (more to come) or a negative rc. */
static int
split_calendar(struct ews_op *op, struct ews_req *req)
{
    struct ews_request_ctx ctx = ews_client_ctx(op->c, op->mailbox);
    time_t mid = req->start + (req->end - req->start) / 2;
    time_t bounds[2][2] = {{req->start, mid}, {mid, req->end}};

    ews_logf(op->c, EWS_LOG_DEBUG, "calendar: %s: view cut at %d items, splitting the window",
             op->mailbox, op->max_entries);
    for (int i = 0; i < 2; i++) {
        struct ews_req *half;
        int rc = ews_op_submit(
            op, ews_build_find_calendar(&ctx, bounds[i][0], bounds[i][1], op->max_entries),
            "FindItem", true, &half);

        if (rc < 0)
            return rc;
        op->cal_requests++;
        half->start = bounds[i][0];
        half->end = bounds[i][1];
    }
    return 1;
}

int
ews_op_parse(struct ews_op *op, struct ews_req *req, const char *body, size_t len,
             struct ews_error *err)
{
    struct ews_calendar_view v;
    int rc;

    switch (op->kind) {
    case OP_SUBSCRIBE:
        return ews_parse_subscribe(body, len, &op->res.sub, err);
    case OP_UNSUBSCRIBE:
        return ews_parse_unsubscribe(body, len, err);
    case OP_GET_EVENTS:
        return ews_parse_get_events(body, len, &op->res.events, err);
    case OP_AVAILABILITY:
        return ews_parse_get_user_availability(body, len, &op->res.avail, err);
    case OP_FOLDER:
        return ews_parse_get_folder(body, len, &op->res.folder, err);
    case OP_CALENDAR:
        rc = ews_parse_find_calendar(body, len, &v, err);
        if (rc == 0 && !v.includes_last_item_in_range &&
            req->end - req->start >= 2 * MIN_SPLIT_SECONDS &&
            op->cal_requests + 2 <= MAX_CALENDAR_REQUESTS) {
            ews_calendar_view_free(&v);
            rc = split_calendar(op, req);
        } else if (rc == 0) {
            if (!v.includes_last_item_in_range && !op->cal_capped &&
                req->end - req->start >= 2 * MIN_SPLIT_SECONDS) {
                op->cal_capped = true;
                ews_logf(op->c, EWS_LOG_WARN,
                         "calendar: %s: view still cut after %d requests, returning it "
                         "incomplete (server never includes the last item?)",
                         op->mailbox, op->cal_requests);
            }
            if (!v.includes_last_item_in_range)
                op->res.cal.includes_last_item_in_range = false;
            rc = merge_calendar(op, &v);
            ews_calendar_view_free(&v);
            /* Other pieces of the window are still out: wait for them. */
            if (rc == 0 && (LIST_FIRST(&op->reqs) != req || LIST_NEXT(req, op_link) != NULL))
                rc = 1;
        } else {
            ews_calendar_view_free(&v);
        }
        if (rc == 0)
            sort_calendar(&op->res.cal);
        return rc;
    case OP_STREAM:
    case OP_DISCOVER:
        break;
    }
    return EWS_E_INVAL;
}

void
ews_op_free_results(struct ews_op *op)
{
    switch (op->kind) {
    case OP_SUBSCRIBE:
        ews_subscribe_result_free(&op->res.sub);
        break;
    case OP_GET_EVENTS:
        ews_notification_list_free(&op->res.events);
        break;
    case OP_CALENDAR:
        ews_calendar_view_free(&op->res.cal);
        break;
    case OP_AVAILABILITY:
        ews_availability_free(&op->res.avail);
        break;
    case OP_FOLDER:
        ews_folder_result_free(&op->res.folder);
        break;
    case OP_STREAM:
        if (op->stream_xfer != NULL)
            ews_http_cancel(op->stream_xfer);
        op->stream_xfer = NULL;
        ews_stream_free(op->stream);
        op->stream = NULL;
        break;
    case OP_DISCOVER:
        ews_discovery_op_free(op);
        break;
    case OP_UNSUBSCRIBE:
        break;
    }
}

void
ews_op_finish(struct ews_op *op, int rc, const struct ews_error *err)
{
    struct ews_client *c = op->c;
    struct ews_error none;

    if (err == NULL || rc == 0) {
        memset(&none, 0, sizeof(none));
        err = &none;
    }
    /* Cisco's rule: a mailbox keeps its server until its subscription fails. */
    if (op->kind == OP_SUBSCRIBE && rc < 0 &&
        (err->cls == EWS_ERR_SERVER_DOWN || err->cls == EWS_ERR_RESUBSCRIBE ||
         err->cls == EWS_ERR_REDISCOVER) &&
        c->pool.n > 1)
        ews_client_reassign(c, op->mailbox);
    if (rc < 0 && err->cls == EWS_ERR_REDISCOVER && c->autodiscover)
        ews_discovery_forget(c, op->mailbox);
    /* Pieces still out (a split calendar view that failed) are cancelled first. */
    ews_op_drop_reqs(op);
    switch (op->kind) {
    case OP_SUBSCRIBE:
        ((ews_subscribe_cb)op->cb)(op->ud, rc, rc == 0 ? &op->res.sub : NULL, err);
        break;
    case OP_UNSUBSCRIBE:
    case OP_STREAM:
        ((ews_done_cb)op->cb)(op->ud, rc, err);
        break;
    case OP_GET_EVENTS:
        ((ews_events_cb)op->cb)(op->ud, rc, rc == 0 ? &op->res.events : NULL, err);
        break;
    case OP_CALENDAR:
        ((ews_calendar_cb)op->cb)(op->ud, rc, rc == 0 ? &op->res.cal : NULL, err);
        break;
    case OP_AVAILABILITY:
        ((ews_availability_cb)op->cb)(op->ud, rc, rc == 0 ? &op->res.avail : NULL, err);
        break;
    case OP_FOLDER:
        ((ews_folder_cb)op->cb)(op->ud, rc, rc == 0 ? &op->res.folder : NULL, err);
        break;
    case OP_DISCOVER:
        ews_discovery_op_finish(op, rc, err);
        break;
    }
    ews_op_free(op);
}
