#include "backoff.h"

void
cp_backoff_init(struct cp_backoff *b, unsigned base_ms, unsigned max_ms, uint64_t seed)
{
    b->base_ms = base_ms ? base_ms : 1;
    b->attempts = 0;
    cp_backoff_set_max(b, max_ms);
    b->rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
}

void
cp_backoff_set_max(struct cp_backoff *b, unsigned max_ms)
{
    b->max_ms = max_ms < b->base_ms ? b->base_ms : max_ms;
}

static uint64_t
xorshift64(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

unsigned
cp_backoff_next(struct cp_backoff *b)
{
    uint64_t delay = b->base_ms;
    /* Stop doubling once the cap is reached so the shift can never overflow. */
    for (unsigned i = 0; i < b->attempts && delay < b->max_ms; i++)
        delay *= 2;
    if (delay > b->max_ms)
        delay = b->max_ms;
    b->attempts++;
    uint64_t half = delay / 2;
    return (unsigned)(half + xorshift64(&b->rng) % (delay - half + 1));
}

void
cp_backoff_reset(struct cp_backoff *b)
{
    b->attempts = 0;
}
