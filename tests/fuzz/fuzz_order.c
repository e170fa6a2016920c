/*
 * fuzz_order — a Kafka message decoded and validated as an order.v1
 * (src/order.c): any bytes either give an order or a problem, never a
 * crash, and a problem message is always a terminated string.
 */
#include <string.h>

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ob_parsed_order *po = NULL;
    struct ob_order_problem problem;

    /* The bridge's limit (1 MiB), and a small one now and then so that
     * too_large is reached as well. */
    size_t max_bytes = size > 0 && data[0] == ' ' ? 64 : 1 << 20;

    memset(&problem, 0, sizeof(problem));
    if (ob_order_parse_lean(data, size, max_bytes, &po, &problem) != 0) {
        if (po)
            fuzz_fail("ob_order_parse failed but returned an order");
        FUZZ_CHECK_FIELD("problem.message", problem.message);
        FUZZ_CHECK_FIELD("problem.order_id", problem.order_id);
        if (problem.code == OB_ORDER_OK || !ob_order_error_name(problem.code))
            fuzz_fail("ob_order_parse failed with code %d", (int)problem.code);
        return 0;
    }
    if (!po || !po->order.order_id || !ob_order_id_valid(po->order.order_id,
                                                         strlen(po->order.order_id)))
        fuzz_fail("ob_order_parse accepted an order without a valid order_id");
    for (size_t i = 0; i < po->order.n_items; i++)
        if (!po->order.items[i].sku || po->order.items[i].quantity < 1)
            fuzz_fail("ob_order_parse accepted items[%zu] without sku or quantity", i);
    /* What yajl accepted, jansson decodes too: an adapter reading order->doc
     * never meets an order the bridge took that it cannot read. */
    char err[256];
    if (ob_order_doc(po, err, sizeof(err)) != 0)
        fuzz_fail("accepted by the one-pass parser, refused by jansson: %s", err);
    ob_order_free(po);
    return 0;
}
