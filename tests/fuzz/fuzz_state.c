/*
 * fuzz_state — a state changelog record (src/state_record.c), as another
 * instance or version may have written it: the input is the record's key,
 * a newline, then its value (no newline: a tombstone). Any bytes either
 * decode or give a message; what decodes encodes again and reads back the
 * same, so a restore never turns one state into another.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "state_record.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void same(const struct ob_order_state *a, const struct ob_order_state *b)
{
    if (strcmp(a->order_id, b->order_id) != 0 || a->n_deliveries != b->n_deliveries ||
        a->n_tracks != b->n_tracks)
        fuzz_fail("the state read back differs in its order or counts");
    for (size_t i = 0; i < a->n_deliveries; i++) {
        const struct ob_ledger_entry *x = &a->deliveries[i].entry, *y = &b->deliveries[i].entry;
        if (strcmp(a->deliveries[i].key, b->deliveries[i].key) != 0 || x->state != y->state ||
            x->attempts != y->attempts || x->first_attempt_ms != y->first_attempt_ms ||
            x->updated_ms != y->updated_ms || x->adapter_running != y->adapter_running ||
            x->crashes != y->crashes || x->alone != y->alone)
            fuzz_fail("delivery %zu read back differs", i);
        if (x->state == OB_LEDGER_DONE &&
            (strcmp(x->status, y->status) != 0 || x->http_status != y->http_status ||
             strcmp(x->reason, y->reason) != 0 || strcmp(x->carrier, y->carrier) != 0 ||
             strcmp(x->tracking_no, y->tracking_no) != 0 ||
             strcmp(x->warehouse_order_id, y->warehouse_order_id) != 0 ||
             x->source != y->source || x->source_partition != y->source_partition ||
             x->source_offset != y->source_offset))
            fuzz_fail("delivery %zu's outcome read back differs", i);
    }
    for (size_t i = 0; i < a->n_tracks; i++) {
        const struct ob_track *x = &a->tracks[i].track, *y = &b->tracks[i].track;
        if (strcmp(a->tracks[i].warehouse, b->tracks[i].warehouse) != 0 ||
            x->current != y->current || x->emitted != y->emitted ||
            memcmp(x->seen, y->seen, sizeof(x->seen)) != 0 || x->seen_next != y->seen_next ||
            x->terminal != y->terminal || x->revision != y->revision ||
            x->updated_ms != y->updated_ms ||
            strcmp(x->idempotency_key, y->idempotency_key) != 0 ||
            strcmp(x->warehouse_order_id, y->warehouse_order_id) != 0)
            fuzz_fail("track %zu read back differs", i);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ob_order_state s, again;
    struct fuzz_record rec = fuzz_record_split(data, size);
    char err[512];
    size_t len;
    char *text;

    memset(err, 'x', sizeof(err));
    if (ob_state_decode(rec.key, rec.key_len, rec.value, rec.value_len, &s, err, sizeof(err)) != 0) {
        FUZZ_CHECK_FIELD("the decode error", err);
        if (s.n_deliveries || s.n_tracks)
            fuzz_fail("a refused record left entries in the state");
        return 0;
    }
    /* Strings are UTF-8 (jansson checked) and fit: it encodes again. */
    text = ob_state_encode(&s, &len);
    if (!text)
        fuzz_fail("a decoded state does not encode");
    if (ob_state_decode(s.order_id, strlen(s.order_id), text, len, &again, err, sizeof(err)) != 0)
        fuzz_fail("an encoded state does not decode: %s", err);
    free(text);
    same(&s, &again);
    return 0;
}
