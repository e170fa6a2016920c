/*
 * poison.c — ob-adapter-poison.so, for integration.poison: the REST
 * adapter (loaded from OB_POISON_WRAPS, its path in the build) with two
 * poison pills. It crashes the process in encode for an order whose id
 * starts with "POISON-ENC", and in decode_response for one whose id starts
 * with "POISON-DEC", as an adapter with a bug on hostile input would. For
 * integration.unencodable it refuses to encode (an error, no crash) an
 * order whose id starts with "NOENC". Every other order goes through the
 * REST adapter untouched.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <orderbridge/adapter.h>

static struct ob_adapter wrapped;
static struct ob_adapter poison;

static int starts_with(const char *s, const char *prefix)
{
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

static int poison_encode(void *state, const struct ob_order *order,
                         const struct ob_delivery *delivery, struct ob_request *out, char *errstr,
                         size_t errstr_size)
{
    if (starts_with(order->order_id, "POISON-ENC"))
        abort();
    if (starts_with(order->order_id, "NOENC")) {
        snprintf(errstr, errstr_size, "the test adapter does not encode NOENC orders");
        return -1;
    }
    return wrapped.encode(state, order, delivery, out, errstr, errstr_size);
}

static void poison_decode(void *state, const struct ob_order *order,
                          const struct ob_delivery *delivery, const struct ob_response *resp,
                          struct ob_outcome *out)
{
    if (starts_with(order->order_id, "POISON-DEC"))
        abort();
    wrapped.decode_response(state, order, delivery, resp, out);
}

OB_ADAPTER_EXPORT const struct ob_adapter *ob_adapter_entry(void)
{
    void *so = dlopen(OB_POISON_WRAPS, RTLD_NOW | RTLD_LOCAL);
    const struct ob_adapter *(*entry)(void);
    const struct ob_adapter *rest;

    if (!so)
        return NULL;
    *(void **)&entry = dlsym(so, OB_ADAPTER_ENTRY_SYMBOL);
    if (!entry || !(rest = entry()) || rest->size > sizeof(wrapped))
        return NULL;
    memcpy(&wrapped, rest, rest->size);
    poison = wrapped;
    poison.name = "poison";
    poison.encode = poison_encode;
    poison.decode_response = poison_decode;
    return &poison;
}
