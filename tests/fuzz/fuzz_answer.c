/*
 * fuzz_answer — a warehouse's answer read by every adapter: the push
 * answer by each decode_response() and the status-query answer by each
 * poll_decode() (cainiao, ems). The input is
 *
 *   STATUS\n            HTTP status, "0" for no answer (a transport error)
 *   Name: value\n       response headers (Retry-After, Content-Type, ...)
 *   \n
 *   body                the bytes as received
 *
 * decode_response() must always decide (accepted, retry or permanent) and
 * poll_decode() return -1..max; every text they write stays terminated.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_open_adapters();
    fuzz_example_order();
    return 0;
}

static void check_update(const char *who, const struct ob_status_update *u)
{
    FUZZ_CHECK_FIELD(who, u->order_id);
    FUZZ_CHECK_FIELD(who, u->warehouse_order_id);
    FUZZ_CHECK_FIELD(who, u->raw_code);
    FUZZ_CHECK_FIELD(who, u->raw_text);
    FUZZ_CHECK_FIELD(who, u->carrier);
    FUZZ_CHECK_FIELD(who, u->tracking_no);
    FUZZ_CHECK_FIELD(who, u->reason);
    if ((int)u->status < OB_STATUS_UNMAPPED || u->status > OB_STATUS_REJECTED)
        fuzz_fail("%s: status %d out of range", who, (int)u->status);
}

static void decode(enum fuzz_wh wh, const struct ob_response *resp)
{
    struct ob_adapter_instance *inst = fuzz_adapter(wh);
    const struct ob_parsed_order *example = fuzz_example_order();
    struct ob_delivery delivery = fuzz_delivery(wh);
    struct ob_outcome out;

    memset(&out, 0, sizeof(out));
    inst->plugin.vt.decode_response(inst->state, &example->order, &delivery, resp, &out);
    if (out.kind != OB_OUTCOME_ACCEPTED && out.kind != OB_OUTCOME_RETRY &&
        out.kind != OB_OUTCOME_PERMANENT)
        fuzz_fail("%s: decode_response did not decide (kind %d)", fuzz_wh_name(wh), (int)out.kind);
    FUZZ_CHECK_FIELD("outcome.warehouse_order_id", out.warehouse_order_id);
    FUZZ_CHECK_FIELD("outcome.carrier", out.carrier);
    FUZZ_CHECK_FIELD("outcome.tracking_no", out.tracking_no);
    FUZZ_CHECK_FIELD("outcome.reason", out.reason);
    if (out.retry_after_ms < 0)
        fuzz_fail("%s: negative retry_after_ms %d", fuzz_wh_name(wh), out.retry_after_ms);
}

#define POLL_MAX 32 /* OB_REPORT_MAX, what the poller passes */

static void poll(enum fuzz_wh wh, const struct ob_response *resp)
{
    struct ob_adapter_instance *inst = fuzz_adapter(wh);
    const struct ob_parsed_order *example = fuzz_example_order();
    struct ob_poll_target target = {
        .order_id = example->order.order_id,
        .warehouse_order_id = "LBX0000001000001",
        .idempotency_key = fuzz_delivery(wh).idempotency_key,
        .current = OB_STATUS_ACCEPTED,
    };
    struct ob_status_update out[POLL_MAX];
    char err[256];
    int n;

    if (!inst->plugin.vt.poll_decode)
        fuzz_fail("%s: no poll_decode", fuzz_wh_name(wh));
    memset(out, 0, sizeof(out));
    err[0] = '\0';
    n = inst->plugin.vt.poll_decode(inst->state, &target, resp, out, POLL_MAX, err, sizeof(err));
    if (n < -1 || n > POLL_MAX)
        fuzz_fail("%s: poll_decode returned %d (max %d)", fuzz_wh_name(wh), n, POLL_MAX);
    FUZZ_CHECK_FIELD("poll errstr", err);
    for (int i = 0; i < n; i++)
        check_update(fuzz_wh_name(wh), &out[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_message m;
    struct ob_header headers[FUZZ_MAX_LINES];
    struct ob_response resp;
    size_t n_headers = 0;
    long status = 200;

    fuzz_message_parse(data, size, &m);
    if (m.n_lines > 0) {
        /* at most three digits: 0 (no answer) or a status as curl reports it */
        char digits[4] = "";
        strncat(digits, m.lines[0], 3);
        status = strtol(digits, NULL, 10);
    }
    for (size_t i = 1; i < m.n_lines; i++)
        if (fuzz_header(m.lines[i], &headers[n_headers]) == 0)
            n_headers++;
    memset(&resp, 0, sizeof(resp));
    resp.status = status < 0 ? 0 : status;
    resp.body = m.body;
    resp.body_len = m.body_len;
    resp.headers = headers;
    resp.n_headers = n_headers;
    resp.transport_error = resp.status == 0 ? "Operation timed out after 10000 milliseconds" : NULL;

    for (int wh = 0; wh < FUZZ_N_WH; wh++)
        decode((enum fuzz_wh)wh, &resp);
    poll(FUZZ_CAINIAO, &resp);
    poll(FUZZ_EMS, &resp);
    fuzz_message_free(&m);
    return 0;
}
