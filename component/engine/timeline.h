/* Calendar timeline: the displayed calendar state of one user at an instant, since and until when.
 * Pure functions, no I/O, no globals; includes only libc (and error.h in the .c file). */
#ifndef CP_TIMELINE_H
#define CP_TIMELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Free/busy value of one item, independent of the source (the EWS source maps ews_busy). */
enum cp_busy {
    CP_BUSY_FREE = 0,
    CP_BUSY_TENTATIVE,
    CP_BUSY_BUSY,
    CP_BUSY_OOF,
    CP_BUSY_ELSEWHERE,
    CP_BUSY_NODATA,
};

/* One calendar item (CalendarView: with subject, private flag, cancelled) or one free/busy event
 * (GetUserAvailability: no subject). Times are UTC; it covers [start, end). All-day items arrive
 * as ordinary UTC intervals and recurring occurrences arrive expanded: the source converts. */
struct cp_interval {
    time_t start, end;
    enum cp_busy busy;
    bool cancelled;      /* ignored when set */
    bool is_private;     /* never shows its subject */
    const char *subject; /* borrowed, may be NULL */
};

/* The displayed state. */
enum cp_tl_state {
    CP_TL_FREE = 0,
    CP_TL_TENTATIVE,
    CP_TL_BUSY,
    CP_TL_OOF,
    CP_TL_ELSEWHERE,
};

struct cp_tl_opts {
    bool tentative_is_busy; /* tentative items show, and rank, as busy */
    bool include_subject;   /* the user opted in to show the covering item's subject */
};

struct cp_tl_result {
    enum cp_tl_state state;
    time_t since;        /* start of the current displayed stretch; 0 when free since always */
    time_t until;        /* next instant the displayed state changes; 0 when none in the data */
    const char *subject; /* borrowed from the covering item; NULL unless include_subject, the
                            state is not free and the item is not private */
};

/* Computes in OUT the displayed state at NOW from the N ITEMS (any order, overlapping or
 * duplicated allowed). The strongest covering item wins: OOF > busy > tentative > elsewhere >
 * free; free, no-data, cancelled and empty or inverted (end <= start) items count as nothing.
 * Same-state items that touch or overlap form one stretch, so `until` is never a blip between
 * back-to-back meetings; a change of subject alone is not a change of state. O is NULL for the
 * defaults (all false). OUT->subject points into ITEMS (borrowed: valid as long as they are).
 * O(n log n); allocates only above 64 items of the winning state, and frees before returning.
 * Returns 0, CP_EINVAL (NULL OUT, NULL ITEMS with N > 0, a busy value outside enum cp_busy) or
 * CP_ENOMEM; OUT is unchanged on failure. */
int cp_timeline_at(const struct cp_interval *items, size_t n, time_t now,
                   const struct cp_tl_opts *o, struct cp_tl_result *out);

/* Returns the static name of S: "free", "tentative", "busy", "oof" or "elsewhere" (the words of
 * the `state` attribute in contract.md), or "unknown" for a value outside the enum. */
const char *cp_tl_state_name(enum cp_tl_state s);

#endif
