/*
 * sample.h — realistic order.v1 messages for `orderbridge demo`, tests and
 * benchmarks (contracts/order.v1.schema.json).
 *
 * Every document is deterministic in its arguments: the same (seed, index)
 * gives the same bytes on every run and machine.
 */
#ifndef OB_SAMPLE_H
#define OB_SAMPLE_H

#include <stddef.h>

/*
 * A valid order.v1 document (passes ob_order_parse with a 1 MiB limit):
 * order_id "DEMO-<seed>-<index, 8 digits>", Chinese recipients and
 * addresses, 1-5 items, consistent amounts (goods = sum of unit_price x
 * quantity, discount = sum of line discounts + coupon, paid = goods -
 * discount + shipping). Some orders carry & < > " ' and 4-byte emoji in
 * text fields, remarks up to the 1024 code point limit, \uXXXX-escaped text
 * (as Gson / Python producers write it) and money without trailing zeros.
 * `warehouse` NULL leaves the field out. Returns a malloc()ed,
 * NUL-terminated document and its length in *len (may be NULL), or NULL
 * when out of memory.
 */
char *ob_sample_order(unsigned long seed, unsigned long index, const char *warehouse, size_t *len);

/* Number of kinds ob_sample_malformed() cycles through. */
#define OB_SAMPLE_MALFORMED_KINDS 6

/*
 * A malformed message; kind = index % OB_SAMPLE_MALFORMED_KINDS:
 *   0 "invalid_json"      truncated document        -> OB_ORDER_INVALID_JSON
 *   1 "missing_order_id"  no order_id               -> OB_ORDER_INVALID
 *   2 "float_money"       "unit_price": 599.0       -> OB_ORDER_INVALID
 *   3 "not_utf8"          GBK bytes in the remark   -> OB_ORDER_NOT_UTF8
 *   4 "empty"             zero length               -> OB_ORDER_EMPTY
 *   5 "wrong_schema"      "schema": "order.v2"      -> OB_ORDER_INVALID
 * Returns a malloc()ed buffer (non-NULL even when *len is 0; NUL-terminated)
 * and sets *kind (may be NULL) to the static kind name; NULL when out of
 * memory.
 */
char *ob_sample_malformed(unsigned long index, size_t *len, const char **kind);

/* 1 when the sample order `doc` names a district (EMS requires one). */
int ob_sample_has_district(const char *doc, size_t len);

#endif
