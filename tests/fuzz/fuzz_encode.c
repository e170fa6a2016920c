/*
 * fuzz_encode — an order that passed validation pushed to every adapter:
 * the fuzzed bytes are decoded as order.v1 (src/order.c) and, when valid,
 * encoded by each warehouse of fuzz.h (rest, mapping x3, sf_express,
 * cainiao, qimen, ems), each configured as its unit test does. An encoder
 * either builds a request or refuses with a message; it never crashes.
 */
#include <string.h>

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_open_adapters();
    return 0;
}

static void encode(enum fuzz_wh wh, const struct ob_order *order)
{
    struct ob_adapter_instance *inst = fuzz_adapter(wh);
    struct ob_delivery delivery = fuzz_delivery(wh);
    struct ob_request req;
    char err[512];

    memset(&req, 0, sizeof(req));
    err[0] = '\0';
    if (inst->plugin.vt.encode(inst->state, order, &delivery, &req, err, sizeof(err)) == 0) {
        if (!req.method || !req.url)
            fuzz_fail("%s: encode succeeded without a method or URL", fuzz_wh_name(wh));
        if (req.n_headers > OB_REQUEST_MAX_HEADERS || (req.body_len && !req.body))
            fuzz_fail("%s: encode built a broken request", fuzz_wh_name(wh));
    } else {
        FUZZ_CHECK_FIELD("errstr", err);
        if (!err[0])
            fuzz_fail("%s: encode refused without a message", fuzz_wh_name(wh));
    }
    ob_request_reset(&req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ob_parsed_order *po = NULL;
    struct ob_order_problem problem;

    if (ob_order_parse(data, size, 1 << 20, &po, &problem) != 0)
        return 0;
    for (int wh = 0; wh < FUZZ_N_WH; wh++)
        encode((enum fuzz_wh)wh, &po->order);
    ob_order_free(po);
    return 0;
}
