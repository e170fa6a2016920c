/*
 * fuzz_callback_record — a record of the internal callbacks topic
 * (src/callback_record.c), as another instance or version may have written
 * it: the input is the record's key, a newline, then its value (no newline:
 * a tombstone, which is refused). Any bytes either decode or give a
 * message; what decodes encodes again and reads back the same, so handing a
 * callback to the order's owner never turns one report into another.
 */
#include <stdlib.h>
#include <string.h>

#include "callback_record.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void same(const struct ob_callback_record *a, const struct ob_callback_record *b)
{
    if (strcmp(a->warehouse, b->warehouse) != 0 || strcmp(a->delivery_id, b->delivery_id) != 0 ||
        a->received_ms != b->received_ms || a->n_updates != b->n_updates)
        fuzz_fail("the record read back differs in its header or count");
    for (size_t i = 0; i < a->n_updates; i++) {
        const struct ob_status_update *x = &a->updates[i], *y = &b->updates[i];
        if (strcmp(x->order_id, y->order_id) != 0 || x->status != y->status ||
            strcmp(x->raw_code, y->raw_code) != 0 || strcmp(x->raw_text, y->raw_text) != 0 ||
            x->occurred_at_ms != y->occurred_at_ms ||
            strcmp(x->warehouse_order_id, y->warehouse_order_id) != 0 ||
            strcmp(x->carrier, y->carrier) != 0 || strcmp(x->tracking_no, y->tracking_no) != 0 ||
            strcmp(x->reason, y->reason) != 0)
            fuzz_fail("update %zu read back differs", i);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ob_callback_record r, again;
    struct fuzz_record rec = fuzz_record_split(data, size);
    char err[512];
    size_t len;
    char *text;

    memset(err, 'x', sizeof(err));
    if (ob_callback_record_decode(rec.key, rec.key_len, rec.value, rec.value_len, &r, err,
                                  sizeof(err)) != 0) {
        FUZZ_CHECK_FIELD("the decode error", err);
        if (!err[0])
            fuzz_fail("a refused record gave no message");
        if (r.n_updates || r.warehouse[0])
            fuzz_fail("a refused record left values in the record");
        return 0;
    }
    if (r.n_updates < 1 || r.n_updates > OB_CALLBACK_MAX_UPDATES)
        fuzz_fail("a record of %zu updates decoded", r.n_updates);
    for (size_t i = 0; i < r.n_updates; i++)
        if (strlen(r.updates[i].order_id) != rec.key_len ||
            memcmp(r.updates[i].order_id, rec.key, rec.key_len) != 0)
            fuzz_fail("update %zu is about another order than the key", i);
    /* Strings are UTF-8 (jansson checked) and fit: it encodes again. */
    text = ob_callback_record_encode(&r, &len);
    if (!text)
        fuzz_fail("a decoded record does not encode");
    if (ob_callback_record_decode(r.updates[0].order_id, strlen(r.updates[0].order_id), text, len,
                                  &again, err, sizeof(err)) != 0)
        fuzz_fail("an encoded record does not decode: %s", err);
    free(text);
    same(&r, &again);
    return 0;
}
