/*
 * order.h — decode and validate an order.v1 Kafka message (contracts/).
 *
 * Validation follows contracts/order.v1.schema.json: required fields,
 * types, enums, limits, decimal-string money (a JSON number for money is an
 * error, never coerced). Unknown fields are allowed (forward compatible).
 */
#ifndef OB_ORDER_H
#define OB_ORDER_H

#include <stddef.h>

#include <orderbridge/order.h>

enum ob_order_error {
    OB_ORDER_OK = 0,
    OB_ORDER_EMPTY,        /* zero-length message */
    OB_ORDER_TOO_LARGE,    /* longer than max_bytes */
    OB_ORDER_NOT_UTF8,     /* bytes that are not UTF-8 */
    OB_ORDER_INVALID_JSON, /* not a JSON document */
    OB_ORDER_INVALID,      /* JSON, but not a valid order.v1 */
};

struct ob_order_problem {
    enum ob_order_error code;
    char message[512]; /* "$.items[1].unit_price: must be a decimal string, got a number" */
    char order_id[65]; /* the order_id when it could be read and is valid, else "" */
};

/* A validated order: one block with its strings and a copy of the message;
 * the jansson document, once decoded, is freed with it. */
struct ob_parsed_order {
    struct ob_order order;
    void *doc; /* json_t *, NULL until ob_order_doc() */
    struct ob_order_item *items;
    char *payload; /* the message, NUL-terminated */
    size_t payload_len;
};

/*
 * Decode `len` bytes. Returns 0 and *out (free with ob_order_free), or -1
 * with *problem filled and *out NULL. `payload` may be NULL when len is 0.
 * order.doc is set (the whole document for adapters).
 */
int ob_order_parse(const void *payload, size_t len, size_t max_bytes, struct ob_parsed_order **out,
                   struct ob_order_problem *problem);

/* The same without order.doc (NULL): the hot path, for adapters that
 * declare OB_ADAPTER_NO_DOC. */
int ob_order_parse_lean(const void *payload, size_t len, size_t max_bytes,
                        struct ob_parsed_order **out, struct ob_order_problem *problem);

/* Decode order.doc from the message, once. 0, or -1 with errstr set. */
int ob_order_doc(struct ob_parsed_order *po, char *errstr, size_t errstr_size);

void ob_order_free(struct ob_parsed_order *po);

/* "empty", "too_large", "not_utf8", "invalid_json", "invalid_order" */
const char *ob_order_error_name(enum ob_order_error code);

/* 1 when `len` bytes at s are a valid order_id (^[A-Za-z0-9_.:-]{1,64}$). */
int ob_order_id_valid(const char *s, size_t len);

/* ob_money_parse(), which validation uses, is in the SDK; it stays visible
 * to this header's users. */
#include <orderbridge/sdk.h>

#endif
