#include "metrics.h"

static unsigned bucket_of(uint64_t v)
{
    unsigned msb, idx;

    if (v < OB_HIST_SUB)
        return (unsigned)v;
    msb = 63u - (unsigned)__builtin_clzll(v);
    /* msb >= 4: the top bit picks the group, the next 4 bits the bucket. */
    idx = (msb - 3) * OB_HIST_SUB + (unsigned)((v >> (msb - 4)) & (OB_HIST_SUB - 1));
    return idx < OB_HIST_BUCKETS ? idx : OB_HIST_BUCKETS - 1;
}

/* The upper bound of bucket idx (inverse of bucket_of). */
static uint64_t bucket_top(unsigned idx)
{
    unsigned group = idx / OB_HIST_SUB, sub = idx % OB_HIST_SUB, msb;

    if (group == 0)
        return idx;
    msb = group + 3;
    return ((uint64_t)(OB_HIST_SUB + sub + 1) << (msb - 4)) - 1;
}

void ob_histogram_record(struct ob_histogram *h, uint64_t micros)
{
    atomic_fetch_add_explicit(&h->counts[bucket_of(micros)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->total, 1, memory_order_relaxed);
}

uint64_t ob_histogram_quantile(const struct ob_histogram *h, double quantile)
{
    uint64_t total = atomic_load_explicit(&h->total, memory_order_relaxed);
    uint64_t want, seen = 0;

    if (total == 0)
        return 0;
    want = (uint64_t)(quantile * (double)total);
    if (want == 0)
        want = 1;
    for (unsigned i = 0; i < OB_HIST_BUCKETS; i++) {
        seen += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
        if (seen >= want)
            return bucket_top(i);
    }
    return bucket_top(OB_HIST_BUCKETS - 1);
}
