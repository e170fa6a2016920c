/*
 * hello — the smallest useful orderbridge adapter, built out of tree.
 *
 * POST {endpoint}/v1/orders with {"order_no": ..., "lines": N} and
 * "X-Signature: hex(HMAC-SHA256(secret, body))". 2xx is accepted, 409 means
 * the warehouse already has the order (accepted), 429/5xx/no answer retry,
 * anything else is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <orderbridge/adapter.h>
#include <orderbridge/sdk.h>

struct hello {
    const struct ob_adapter_env *env;
    const char *secret; /* owned by the bridge, valid until destroy */
};

static int hello_init(const struct ob_adapter_env *env, const void *settings, void **state,
                      char *errstr, size_t errstr_size)
{
    struct hello *h;
    const char *key;
    json_t *value;

    /* The config checker does not look inside "settings": an adapter
     * refuses what it does not know, so a misspelt setting is never
     * silently ignored. hello has none. */
    if (settings) {
        json_object_foreach((json_t *)settings, key, value) {
            (void)value;
            ob_strlcpyf(errstr, errstr_size, "settings.%s: unknown setting (hello has none)", key);
            return -1;
        }
    }
    if (!env->credential(env, "secret")) {
        ob_strlcpyf(errstr, errstr_size, "credentials.secret is required");
        return -1;
    }
    h = calloc(1, sizeof(*h));
    if (!h)
        return -1;
    h->env = env;
    h->secret = env->credential(env, "secret");
    *state = h;
    return 0;
}

static int hello_encode(void *state, const struct ob_order *order,
                        const struct ob_delivery *delivery, struct ob_request *out, char *errstr,
                        size_t errstr_size)
{
    struct hello *h = state;
    unsigned char mac[OB_DIGEST_MAX];
    size_t mac_len = 0;
    char body[256], signature[2 * OB_DIGEST_MAX + 1];
    int n;

    /* order_id is [A-Za-z0-9_.:-]{1,64} by contract: no JSON escaping needed. */
    n = snprintf(body, sizeof(body), "{\"order_no\":\"%s\",\"lines\":%zu}", order->order_id,
                 order->n_items);
    if (n < 0 || (size_t)n >= sizeof(body) ||
        ob_hmac(OB_SHA256, h->secret, strlen(h->secret), body, (size_t)n, mac, &mac_len) != 0) {
        ob_strlcpyf(errstr, errstr_size, "cannot sign the body");
        return -1;
    }
    ob_hex_lower(mac, mac_len, signature);
    out->method = "POST";
    if (ob_request_set_url(out, "%s/v1/orders", h->env->endpoint) != 0 ||
        ob_request_add_header(out, "Content-Type", "application/json") != 0 ||
        ob_request_add_header(out, "X-Signature", signature) != 0 ||
        ob_request_add_header(out, "X-Request-Id", delivery->idempotency_key) != 0 ||
        ob_request_set_body(out, body, (size_t)n) != 0) {
        ob_strlcpyf(errstr, errstr_size, "out of memory");
        return -1;
    }
    return 0;
}

static void hello_decode(void *state, const struct ob_order *order,
                         const struct ob_delivery *delivery, const struct ob_response *resp,
                         struct ob_outcome *out)
{
    (void)state;
    (void)order;
    (void)delivery;
    if ((resp->status >= 200 && resp->status < 300) || resp->status == 409) {
        out->kind = OB_OUTCOME_ACCEPTED;
    } else if (resp->status == 0 || resp->status == 429 || resp->status >= 500) {
        out->kind = OB_OUTCOME_RETRY;
        long after = ob_response_retry_after_ms(resp);
        out->retry_after_ms = after > 0 ? (int)after : 0;
        ob_strlcpyf(out->reason, sizeof(out->reason), "HTTP %ld", resp->status);
    } else {
        out->kind = OB_OUTCOME_PERMANENT;
        ob_strlcpyf(out->reason, sizeof(out->reason), "HTTP %ld", resp->status);
    }
}

static void hello_destroy(void *state)
{
    free(state);
}

static const struct ob_adapter hello_adapter = {
    .abi = OB_ADAPTER_ABI,
    .size = sizeof(struct ob_adapter),
    .name = "hello",
    .description = "example out-of-tree adapter: JSON + HMAC-SHA256 signature header",
    .init = hello_init,
    .encode = hello_encode,
    .decode_response = hello_decode,
    .destroy = hello_destroy,
};

OB_ADAPTER_EXPORT const struct ob_adapter *ob_adapter_entry(void)
{
    return &hello_adapter;
}
