/*
 * orderbridge — the canonical order (contract order.v1) as adapters see it.
 *
 * Part of the adapter ABI: see adapter.h for versioning rules. Every string
 * is NUL-terminated UTF-8 owned by the bridge and valid only during the call
 * it is passed to. Optional fields the order does not carry are NULL.
 * Money is kept twice: the decimal string exactly as the order gave it and
 * the same amount in minor units (fen for CNY). Never a float.
 */
#ifndef ORDERBRIDGE_ORDER_H
#define ORDERBRIDGE_ORDER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum ob_order_event {
    OB_EVENT_CREATED = 1,   /* "order.created" */
    OB_EVENT_UPDATED = 2,   /* "order.updated" */
    OB_EVENT_CANCELLED = 3, /* "order.cancelled" */
};

struct ob_money {
    const char *text; /* "599.00" as given; NULL when absent */
    int64_t minor;    /* 59900; 0 when absent */
};

struct ob_order_item {
    int line_no;
    const char *sku;
    const char *barcode;
    const char *name;
    int quantity;
    struct ob_money unit_price;
    struct ob_money discount;
};

struct ob_address {
    const char *name;
    const char *phone;
    const char *country; /* "CN" when the order leaves it out */
    const char *province;
    const char *city;
    const char *district;
    const char *street;
    const char *postal_code;
};

struct ob_order {
    enum ob_order_event event;
    const char *event_name; /* "order.created" ... */
    const char *order_id;
    int64_t revision;
    const char *channel;
    const char *shop_id;
    const char *created_at;
    const char *warehouse; /* as the mid-platform chose it, may be NULL */
    const char *priority;  /* "normal" when the order leaves it out */

    struct {
        const char *id, *nick, *phone, *email;
    } buyer;

    struct ob_address shipping_address;

    const struct ob_order_item *items;
    size_t n_items;

    struct {
        const char *currency; /* "CNY" when left out */
        struct ob_money goods, shipping, discount, paid;
    } amounts;

    struct {
        const char *method, *paid_at, *transaction_id;
    } payment;

    struct {
        const char *carrier, *service;
    } logistics;

    const char *remark;

    /* The whole decoded document (a jansson json_t *), for fields this
     * struct does not name yet. Read only. */
    const void *doc;
};

#ifdef __cplusplus
}
#endif
#endif
