/* ledger.c — placeholder until the LMDB implementation lands. */
#include "ledger.h"

#include <stdio.h>

int ob_ledger_open(const struct ob_ledger_options *opt, struct ob_ledger **out, char *errstr,
                   size_t errstr_size)
{
    (void)opt;
    *out = NULL;
    snprintf(errstr, errstr_size, "ledger: not built yet");
    return -1;
}
void ob_ledger_close(struct ob_ledger *l) { (void)l; }
int ob_ledger_get(struct ob_ledger *l, const char *key, struct ob_ledger_entry *out) { (void)l; (void)key; (void)out; return 0; }
int ob_ledger_put(struct ob_ledger *l, const char *key, const struct ob_ledger_entry *e) { (void)l; (void)key; (void)e; return -1; }
int ob_ledger_parked_add(struct ob_ledger *l, const char *order_id, int delta) { (void)l; (void)order_id; (void)delta; return -1; }
int ob_ledger_parked(struct ob_ledger *l, const char *order_id) { (void)l; (void)order_id; return 0; }
int ob_ledger_flush(struct ob_ledger *l) { (void)l; return 0; }
int ob_ledger_sync(struct ob_ledger *l) { (void)l; return 0; }
size_t ob_ledger_expire(struct ob_ledger *l, int64_t now_ms, size_t max) { (void)l; (void)now_ms; (void)max; return 0; }
size_t ob_ledger_count(struct ob_ledger *l) { (void)l; return 0; }
