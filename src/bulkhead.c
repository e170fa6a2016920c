/* bulkhead.c — placeholder until the implementation lands. */
#include "bulkhead.h"

void ob_bucket_init(struct ob_token_bucket *tb, double rate_per_s, double burst, uint64_t now_us)
{
    tb->rate = rate_per_s; tb->burst = burst; tb->tokens = burst; tb->last_us = now_us;
}
int ob_bucket_take(struct ob_token_bucket *tb, uint64_t now_us, uint64_t *wait_us) { (void)tb; (void)now_us; *wait_us = 0; return 1; }
void ob_breaker_init(struct ob_breaker *br, const struct ob_breaker_conf *conf) { *br = (struct ob_breaker){.conf = *conf}; }
int ob_breaker_allow(struct ob_breaker *br, uint64_t now_ms, uint64_t *wait_ms) { (void)br; (void)now_ms; *wait_ms = 0; return 1; }
enum ob_breaker_state ob_breaker_record(struct ob_breaker *br, uint64_t now_ms, int failure) { (void)now_ms; (void)failure; return br->state; }
const char *ob_breaker_state_name(enum ob_breaker_state s) { return s == OB_BREAKER_OPEN ? "open" : s == OB_BREAKER_HALF_OPEN ? "half-open" : "closed"; }
