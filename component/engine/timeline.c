#include "timeline.h"

#include <stdlib.h>

#include "config/config.h"

/* Displayed states by strength, weakest first. WorkingElsewhere is free-like (available, no
 * <show/>) but still a state of its own, so it ranks just above free and below tentative. */
enum rank {
    RANK_FREE = 0,
    RANK_ELSEWHERE,
    RANK_TENTATIVE,
    RANK_BUSY,
    RANK_OOF,
};

/* One interval of the winning rank, copied so it can be sorted without touching ITEMS. */
struct span {
    time_t start, end;
};

/* Up to this many same-rank spans are sorted on the stack; a calendar window rarely has more. */
#define SPANS_ON_STACK 64

static int rank_of(const struct cp_interval *it, const struct cp_tl_opts *o);
static bool covers(const struct cp_interval *it, time_t t);
static int by_start(const void *a, const void *b);
static int by_end_desc(const void *a, const void *b);
static void stretch_of(struct span *s, size_t m, time_t now, time_t *from, time_t *to);
static int stretch_around(const struct cp_interval *items, size_t n, const struct cp_tl_opts *o,
                          int rank, size_t m, time_t now, time_t *from, time_t *to);

static const enum cp_tl_state state_of_rank[] = {
    [RANK_FREE] = CP_TL_FREE,
    [RANK_ELSEWHERE] = CP_TL_ELSEWHERE,
    [RANK_TENTATIVE] = CP_TL_TENTATIVE,
    [RANK_BUSY] = CP_TL_BUSY,
    [RANK_OOF] = CP_TL_OOF,
};

/* The rank IT shows as, RANK_FREE for items that count as nothing, -1 for a bad busy value. */
static int
rank_of(const struct cp_interval *it, const struct cp_tl_opts *o)
{
    int r;
    switch (it->busy) {
    case CP_BUSY_FREE:
    case CP_BUSY_NODATA:
        r = RANK_FREE;
        break;
    case CP_BUSY_ELSEWHERE:
        r = RANK_ELSEWHERE;
        break;
    case CP_BUSY_TENTATIVE:
        r = o->tentative_is_busy ? RANK_BUSY : RANK_TENTATIVE;
        break;
    case CP_BUSY_BUSY:
        r = RANK_BUSY;
        break;
    case CP_BUSY_OOF:
        r = RANK_OOF;
        break;
    default:
        return -1;
    }
    if (it->cancelled || it->end <= it->start)
        return RANK_FREE;
    return r;
}

static bool
covers(const struct cp_interval *it, time_t t)
{
    return it->start <= t && t < it->end;
}

static int
by_start(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

static int
by_end_desc(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    return (x->end < y->end) - (x->end > y->end);
}

/* The union of the M spans S that contains NOW (some span covers NOW): [*FROM, *TO). Spans that
 * touch ([a, b) and [b, c)) join, which is what removes the blip between back-to-back meetings.
 * Sorted by start, a forward sweep stops at the first gap; sorted by end (latest first), a
 * backward sweep does the same. */
static void
stretch_of(struct span *s, size_t m, time_t now, time_t *from, time_t *to)
{
    time_t end = now;
    qsort(s, m, sizeof(*s), by_start);
    for (size_t i = 0; i < m && s[i].start <= end; i++)
        if (s[i].end > end)
            end = s[i].end;
    /* Any span ending at NOW or later and starting before the stretch joins it: the span that
     * covers NOW reaches back at least to NOW. */
    time_t start = now;
    qsort(s, m, sizeof(*s), by_end_desc);
    for (size_t i = 0; i < m && s[i].end >= start; i++)
        if (s[i].start < start)
            start = s[i].start;
    *from = start;
    *to = end;
}

/* Collects the M items of rank RANK and computes their stretch around NOW. */
static int
stretch_around(const struct cp_interval *items, size_t n, const struct cp_tl_opts *o, int rank,
               size_t m, time_t now, time_t *from, time_t *to)
{
    struct span local[SPANS_ON_STACK];
    struct span *s = local;
    if (m > SPANS_ON_STACK) {
        s = malloc(m * sizeof(*s));
        if (!s)
            return CP_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (rank_of(&items[i], o) == rank)
            s[k++] = (struct span){items[i].start, items[i].end};
    stretch_of(s, m, now, from, to);
    if (s != local)
        free(s);
    return CP_OK;
}

int
cp_timeline_at(const struct cp_interval *items, size_t n, time_t now, const struct cp_tl_opts *o,
               struct cp_tl_result *out)
{
    static const struct cp_tl_opts defaults;
    if (!out || (n > 0 && !items))
        return CP_EINVAL;
    if (!o)
        o = &defaults;

    /* Pass 1: the winning rank at NOW, and the item the subject comes from: of the covering
     * items of that rank, the one that started last (the first of equals), as a later meeting
     * on top of an earlier one is the one the user is in now. */
    int top = RANK_FREE;
    size_t win = n;
    for (size_t i = 0; i < n; i++) {
        int r = rank_of(&items[i], o);
        if (r < 0)
            return CP_EINVAL;
        if (r == RANK_FREE || !covers(&items[i], now))
            continue;
        if (r > top || (r == top && items[i].start > items[win].start)) {
            top = r;
            win = i;
        }
    }

    /* Pass 2: stronger items do not cover NOW, so each lies wholly before or after it. The
     * nearest one after NOW interrupts the stretch; the latest one before it bounds `since`. */
    bool have_next = false, have_prev = false;
    time_t next_up = 0, prev_up = 0;
    size_t same = 0;
    for (size_t i = 0; i < n; i++) {
        int r = rank_of(&items[i], o);
        if (r == top && top != RANK_FREE)
            same++;
        if (r <= top)
            continue;
        if (items[i].start > now) {
            if (!have_next || items[i].start < next_up)
                next_up = items[i].start;
            have_next = true;
        } else {
            if (!have_prev || items[i].end > prev_up)
                prev_up = items[i].end;
            have_prev = true;
        }
    }

    struct cp_tl_result r = {.state = state_of_rank[top]};
    if (top == RANK_FREE) {
        /* Free lasts until the first item that shows as anything, and has since the last one. */
        r.until = have_next ? next_up : 0;
        r.since = have_prev ? prev_up : 0;
    } else {
        time_t from, to;
        int err = stretch_around(items, n, o, top, same, now, &from, &to);
        if (err)
            return err;
        r.until = have_next && next_up < to ? next_up : to;
        r.since = have_prev && prev_up > from ? prev_up : from;
        if (o->include_subject && !items[win].is_private)
            r.subject = items[win].subject;
    }
    *out = r;
    return CP_OK;
}

const char *
cp_tl_state_name(enum cp_tl_state s)
{
    switch (s) {
    case CP_TL_FREE:
        return "free";
    case CP_TL_TENTATIVE:
        return "tentative";
    case CP_TL_BUSY:
        return "busy";
    case CP_TL_OOF:
        return "oof";
    case CP_TL_ELSEWHERE:
        return "elsewhere";
    }
    return "unknown";
}
