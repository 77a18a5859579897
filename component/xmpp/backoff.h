/* Exponential back-off with a cap and jitter, for reconnecting to the XMPP server (and any
 * other retry loop that must not hammer a peer that is down). */
#ifndef CP_BACKOFF_H
#define CP_BACKOFF_H

#include <stdint.h>

struct cp_backoff {
    unsigned base_ms;  /* first delay */
    unsigned max_ms;   /* cap */
    unsigned attempts; /* failures since the last success */
    uint64_t rng;      /* jitter state (xorshift), seeded by cp_backoff_init */
};

/* Initialises B with BASE_MS and MAX_MS (MAX_MS >= BASE_MS > 0) and a jitter SEED. */
void cp_backoff_init(struct cp_backoff *b, unsigned base_ms, unsigned max_ms, uint64_t seed);

/* Changes the cap to MAX_MS (raised to the base when below it) from the next delay on; the
 * failures counted so far are kept. */
void cp_backoff_set_max(struct cp_backoff *b, unsigned max_ms);

/* Returns the delay before the next attempt and counts one failure: base * 2^attempts capped at
 * max, then "equal jitter": a uniformly random value in [delay/2, delay]. */
unsigned cp_backoff_next(struct cp_backoff *b);

/* Forgets past failures (call after a success). */
void cp_backoff_reset(struct cp_backoff *b);

#endif
