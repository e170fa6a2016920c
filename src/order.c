/*
 * order.c — decode and validate an order.v1 Kafka message.
 *
 * Hot path: runs once per consumed message. One jansson parse, one malloc()
 * for the result (struct + items array together), no per-field allocation:
 * every string in struct ob_order points into the json_t document (or at a
 * static default / enum literal). Messages are only formatted on failure.
 *
 * Validation walks contracts/order.v1.schema.json in its "properties" order
 * (and each sub-object in its own properties order), so the first problem
 * reported is deterministic.
 */
#include "order.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <orderbridge/sdk.h>

#define OB_ORDER_ID_MAX 64
#define OB_ITEMS_MAX 500
#define OB_REMARK_MAX 1024 /* Unicode code points */

/* ------------------------------------------------------------------------ */
/* Enumerations of the contract                                              */

static const char *const k_events[] = {"order.created", "order.updated", "order.cancelled"};
static const enum ob_order_event k_event_codes[] = {OB_EVENT_CREATED, OB_EVENT_UPDATED,
                                                    OB_EVENT_CANCELLED};
static const char *const k_channels[] = {"tmall", "jd", "pdd", "douyin", "wechat", "website", "store"};
static const char *const k_priorities[] = {"normal", "express", "presale"};
static const char *const k_services[] = {"standard", "express", "same_day", "next_morning"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------------ */
/* Problem reporting (cold path)                                             */

/* Where a value sits: "<base>" or "<base>[index]", then ".key" when given. */
struct vpath {
    const char *base; /* "$", "$.shipping_address", "$.items" ... */
    long index;       /* >= 0: an array element of base */
};

static const struct vpath k_root = {"$", -1};

static int set_problem(struct ob_order_problem *p, enum ob_order_error code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int set_problem(struct ob_order_problem *p, enum ob_order_error code, const char *fmt, ...)
{
    va_list ap;
    p->code = code;
    va_start(ap, fmt);
    vsnprintf(p->message, sizeof p->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* "$.items[1].unit_price: <message>" — always OB_ORDER_INVALID. */
static int fail(struct ob_order_problem *p, const struct vpath *at, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct ob_order_problem *p, const struct vpath *at, const char *key, const char *fmt, ...)
{
    size_t cap = sizeof p->message;
    int n;
    if (at->index >= 0)
        n = snprintf(p->message, cap, "%s[%ld]%s%s: ", at->base, at->index, key ? "." : "", key ? key : "");
    else
        n = snprintf(p->message, cap, "%s%s%s: ", at->base, key ? "." : "", key ? key : "");
    if (n < 0)
        n = 0;
    if ((size_t)n < cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->message + n, cap - (size_t)n, fmt, ap);
        va_end(ap);
    }
    p->code = OB_ORDER_INVALID;
    return -1;
}

/* Describe a JSON value's type for "got ..." messages. */
static const char *kind_of(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "an unknown value";
}

/*
 * Quote a string value for a message: at most ~48 bytes (cut on a UTF-8
 * boundary, "..." appended), with '"', '\\' and control characters escaped,
 * so that a message never carries raw control bytes into logs.
 */
static const char *quoted(char *dst, size_t cap, const char *s, size_t len)
{
    const size_t limit = 48;
    const size_t tail = 5; /* ..." and the NUL, always kept free */
    size_t o = 0, i = 0;
    if (cap < 16) {
        dst[0] = '\0';
        return dst;
    }
    dst[o++] = '"';
    for (; i < len && i < limit; i++) {
        unsigned char c = (unsigned char)s[i];
        int escape = c == '"' || c == '\\';
        int control = c < 0x20 || c == 0x7f;
        size_t need = control ? 6 : escape ? 2 : 1;
        if (o + need + tail > cap)
            break;
        if (control) {
            o += (size_t)snprintf(dst + o, cap - o, "\\u%04x", c);
        } else {
            if (escape)
                dst[o++] = '\\';
            dst[o++] = (char)c;
        }
    }
    if (i < len) {
        /* do not leave a partial UTF-8 sequence behind */
        while (o > 1 && ((unsigned char)dst[o - 1] & 0xC0) == 0x80)
            o--;
        if (o > 1 && ((unsigned char)dst[o - 1] & 0xC0) == 0xC0)
            o--;
        dst[o++] = '.';
        dst[o++] = '.';
        dst[o++] = '.';
    }
    dst[o++] = '"';
    dst[o] = '\0';
    return dst;
}

/* The shortest text that reads back as `d`; "2.0" rather than "2". */
static const char *real_text(char *dst, size_t cap, double d)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(dst, cap, "%.*g", prec, d);
        if (strtod(dst, NULL) == d)
            break;
    }
    if (!strpbrk(dst, ".eEn")) /* integral value: show that it was a real */
        strncat(dst, ".0", cap - strlen(dst) - 1);
    return dst;
}

/* The string value quoted, or the type of a non-string. */
static const char *describe(char *dst, size_t cap, const json_t *v)
{
    if (json_is_string(v))
        return quoted(dst, cap, json_string_value(v), json_string_length(v));
    snprintf(dst, cap, "%s", kind_of(v));
    return dst;
}

/* ------------------------------------------------------------------------ */
/* Lexical checks (hand-written, no regex)                                   */

static int is_order_id_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == ':' || c == '-';
}

/* ^[A-Za-z0-9_.:-]+$, 1..64 characters (ASCII, so bytes == characters). */
int ob_order_id_valid(const char *s, size_t len)
{
    if (len < 1 || len > OB_ORDER_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_order_id_char((unsigned char)s[i]))
            return 0;
    return 1;
}

/* ^-?[0-9]+(\.[0-9]{1,2})?$ without the range check (cold path: messages). */
static int money_shape_ok(const char *s)
{
    size_t n = 0;
    s += *s == '-';
    while (*s >= '0' && *s <= '9')
        s++, n++;
    if (n == 0)
        return 0;
    if (*s == '.') {
        s++;
        for (n = 0; *s >= '0' && *s <= '9'; s++)
            n++;
        if (n < 1 || n > 2)
            return 0;
    }
    return *s == '\0';
}

static int two_digits(const char *s, int *out)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return 0;
    *out = (s[0] - '0') * 10 + (s[1] - '0');
    return 1;
}

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
        return 29;
    return days[month - 1];
}

/*
 * RFC 3339 section 5.6 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM).
 * "T" and "Z" may be lower case (RFC 3339 5.6 NOTE; ABNF literals are case
 * insensitive). Second 60 is a leap second, accepted only at 23:59 UTC.
 * Returns NULL when valid, else what is wrong.
 */
static const char *check_date_time(const char *s, size_t len)
{
    int year, y2, month, day, hour, minute, second, oh = 0, om = 0, sign = 0;
    size_t i;

    if (len < 20)
        return "too short";
    if (!two_digits(s, &year) || !two_digits(s + 2, &y2) || s[4] != '-' || !two_digits(s + 5, &month) ||
        s[7] != '-' || !two_digits(s + 8, &day))
        return "date must be YYYY-MM-DD";
    year = year * 100 + y2;
    if (month < 1 || month > 12)
        return "month out of range";
    if (day < 1 || day > days_in_month(year, month))
        return "day out of range";
    if (s[10] != 'T' && s[10] != 't')
        return "'T' expected between date and time";
    if (!two_digits(s + 11, &hour) || s[13] != ':' || !two_digits(s + 14, &minute) || s[16] != ':' ||
        !two_digits(s + 17, &second))
        return "time must be HH:MM:SS";
    if (hour > 23)
        return "hour out of range";
    if (minute > 59)
        return "minute out of range";
    if (second > 60)
        return "second out of range";
    i = 19;
    if (s[i] == '.') {
        size_t start = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return "digits expected after '.'";
    }
    if (i >= len)
        return "time zone offset expected";
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        sign = s[i] == '+' ? 1 : -1;
        if (len - i < 6 || !two_digits(s + i + 1, &oh) || s[i + 3] != ':' || !two_digits(s + i + 4, &om))
            return "offset must be +HH:MM or -HH:MM";
        if (oh > 23 || om > 59)
            return "offset out of range";
        i += 6;
    } else {
        return "time zone offset (Z or +HH:MM) expected";
    }
    if (i != len)
        return "unexpected characters after the offset";
    if (second == 60) {
        int utc = ((hour * 60 + minute - sign * (oh * 60 + om)) % 1440 + 1440) % 1440;
        if (utc != 23 * 60 + 59)
            return "leap second only at 23:59:60 UTC";
    }
    return NULL;
}

/* Offset of the first byte that is not UTF-8 (RFC 3629), or len when all are. */
static size_t utf8_invalid_at(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1, cp = c & 0x1F, min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2, cp = c & 0x0F, min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return i;
        }
        if (len - i <= n)
            return i;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += n + 1;
    }
    return len;
}

/* Code points of valid UTF-8 (jansson guarantees validity). */
static size_t utf8_length(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* ------------------------------------------------------------------------ */
/* Field accessors: 0 ok, -1 with the problem filled                         */

static int missing(struct ob_order_problem *p, const struct vpath *at, const char *key)
{
    return fail(p, at, key, "required field is missing");
}

/* A string member; *out NULL when absent and optional. */
static int get_string(struct ob_order_problem *p, const struct vpath *at, const json_t *obj, const char *key,
                      int required, const char **out)
{
    const json_t *v = json_object_get(obj, key);
    if (!v) {
        *out = NULL;
        return required ? missing(p, at, key) : 0;
    }
    if (!json_is_string(v))
        return fail(p, at, key, "must be a string, got %s", kind_of(v));
    *out = json_string_value(v);
    return 0;
}

/* An optional object member; *out NULL when absent. */
static int get_object(struct ob_order_problem *p, const struct vpath *at, const json_t *obj, const char *key,
                      int required, const json_t **out)
{
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v)
        return required ? missing(p, at, key) : 0;
    if (!json_is_object(v))
        return fail(p, at, key, "must be an object, got %s", kind_of(v));
    *out = v;
    return 0;
}

/* A required integer in [min, max]; a JSON real is refused, never truncated. */
static int get_int(struct ob_order_problem *p, const struct vpath *at, const json_t *obj, const char *key,
                   json_int_t min, json_int_t max, json_int_t *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return missing(p, at, key);
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < min || i > max) {
            if (max >= LLONG_MAX)
                return fail(p, at, key, "must be an integer >= %" JSON_INTEGER_FORMAT ", got %" JSON_INTEGER_FORMAT,
                            min, i);
            return fail(p, at, key,
                        "must be an integer from %" JSON_INTEGER_FORMAT " to %" JSON_INTEGER_FORMAT
                        ", got %" JSON_INTEGER_FORMAT,
                        min, max, i);
        }
        *out = i;
        return 0;
    }
    if (json_is_real(v)) {
        char num[40];
        return fail(p, at, key, "must be an integer, got a real number %s", real_text(num, sizeof num, json_real_value(v)));
    }
    return fail(p, at, key, "must be an integer, got %s", kind_of(v));
}

/* A decimal-string amount; {NULL, 0} when absent and optional. */
static int get_money(struct ob_order_problem *p, const struct vpath *at, const json_t *obj, const char *key,
                     int required, struct ob_money *m)
{
    const json_t *v = json_object_get(obj, key);
    char q[80];
    m->text = NULL;
    m->minor = 0;
    if (!v)
        return required ? missing(p, at, key) : 0;
    if (!json_is_string(v))
        return fail(p, at, key, "must be a decimal string, got %s", kind_of(v));
    const char *s = json_string_value(v);
    if (ob_money_parse(s, &m->minor) != 0) {
        if (money_shape_ok(s))
            return fail(p, at, key, "amount out of range, got %s", quoted(q, sizeof q, s, json_string_length(v)));
        return fail(p, at, key, "must be a decimal string like \"12.34\" (at most 2 decimals), got %s",
                    quoted(q, sizeof q, s, json_string_length(v)));
    }
    m->text = s;
    return 0;
}

/* An enum member: *out is the canonical literal, *idx its index (-1 absent). */
static int get_enum(struct ob_order_problem *p, const struct vpath *at, const json_t *obj, const char *key,
                    int required, const char *const *values, size_t n, const char **out, int *idx)
{
    const json_t *v = json_object_get(obj, key);
    char q[80], allowed[200];
    *out = NULL;
    if (idx)
        *idx = -1;
    if (!v)
        return required ? missing(p, at, key) : 0;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        for (size_t i = 0; i < n; i++) {
            if (strlen(values[i]) == len && memcmp(values[i], s, len) == 0) {
                *out = values[i];
                if (idx)
                    *idx = (int)i;
                return 0;
            }
        }
    }
    size_t o = 0;
    allowed[0] = '\0';
    for (size_t i = 0; i < n && o < sizeof allowed; i++)
        o += (size_t)snprintf(allowed + o, sizeof allowed - o, "%s\"%s\"", i ? ", " : "", values[i]);
    return fail(p, at, key, "must be one of %s, got %s", allowed, describe(q, sizeof q, v));
}

/* ------------------------------------------------------------------------ */
/* The walk                                                                  */

static int validate_items(struct ob_order_problem *p, const json_t *arr, struct ob_parsed_order *po)
{
    size_t n = json_array_size(arr);
    struct vpath at = {"$.items", 0};
    for (size_t i = 0; i < n; i++) {
        const json_t *it = json_array_get(arr, i);
        struct ob_order_item *o = &po->items[i];
        json_int_t line_no, quantity;
        at.index = (long)i;
        if (!json_is_object(it))
            return fail(p, &at, NULL, "must be an object, got %s", kind_of(it));
        if (get_int(p, &at, it, "line_no", 1, INT_MAX, &line_no) || get_string(p, &at, it, "sku", 1, &o->sku))
            return -1;
        if (o->sku[0] == '\0')
            return fail(p, &at, "sku", "must not be empty");
        if (get_string(p, &at, it, "barcode", 0, &o->barcode) || get_string(p, &at, it, "name", 0, &o->name) ||
            get_int(p, &at, it, "quantity", 1, INT_MAX, &quantity) ||
            get_money(p, &at, it, "unit_price", 1, &o->unit_price) ||
            get_money(p, &at, it, "discount", 0, &o->discount))
            return -1;
        o->line_no = (int)line_no;
        o->quantity = (int)quantity;
    }
    return 0;
}

static int validate(struct ob_order_problem *p, const json_t *doc, struct ob_parsed_order *po)
{
    struct ob_order *o = &po->order;
    const struct vpath *root = &k_root;
    const json_t *v, *sub;
    const char *s;
    char q[80];
    int idx;
    json_int_t revision;

    /* schema */
    v = json_object_get(doc, "schema");
    if (!v)
        return missing(p, root, "schema");
    if (!json_is_string(v) || strcmp(json_string_value(v), "order.v1") != 0)
        return fail(p, root, "schema", "must be \"order.v1\", got %s", describe(q, sizeof q, v));

    /* event */
    if (get_enum(p, root, doc, "event", 1, k_events, COUNT(k_events), &o->event_name, &idx))
        return -1;
    o->event = k_event_codes[idx];

    /* order_id */
    if (get_string(p, root, doc, "order_id", 1, &o->order_id))
        return -1;
    v = json_object_get(doc, "order_id");
    if (!ob_order_id_valid(o->order_id, json_string_length(v))) {
        size_t len = json_string_length(v);
        if (len == 0 || len > OB_ORDER_ID_MAX)
            return fail(p, root, "order_id", "must be 1 to %d characters, got %zu", OB_ORDER_ID_MAX,
                        len == 0 ? (size_t)0 : utf8_length(o->order_id, len));
        return fail(p, root, "order_id", "must match ^[A-Za-z0-9_.:-]+$, got %s",
                    quoted(q, sizeof q, o->order_id, len));
    }

    /* revision */
    if (get_int(p, root, doc, "revision", 1, INT64_MAX, &revision))
        return -1;
    o->revision = (int64_t)revision;

    /* channel, shop_id */
    if (get_enum(p, root, doc, "channel", 0, k_channels, COUNT(k_channels), &o->channel, NULL) ||
        get_string(p, root, doc, "shop_id", 0, &o->shop_id))
        return -1;

    /* created_at */
    if (get_string(p, root, doc, "created_at", 1, &o->created_at))
        return -1;
    v = json_object_get(doc, "created_at");
    if ((s = check_date_time(o->created_at, json_string_length(v))) != NULL)
        return fail(p, root, "created_at", "must be an RFC 3339 date-time (%s), got %s", s,
                    quoted(q, sizeof q, o->created_at, json_string_length(v)));

    /* warehouse, priority */
    if (get_string(p, root, doc, "warehouse", 0, &o->warehouse) ||
        get_enum(p, root, doc, "priority", 0, k_priorities, COUNT(k_priorities), &o->priority, NULL))
        return -1;
    if (!o->priority)
        o->priority = "normal";

    /* buyer */
    if (get_object(p, root, doc, "buyer", 0, &sub))
        return -1;
    if (sub) {
        const struct vpath at = {"$.buyer", -1};
        if (get_string(p, &at, sub, "id", 0, &o->buyer.id) || get_string(p, &at, sub, "nick", 0, &o->buyer.nick) ||
            get_string(p, &at, sub, "phone", 0, &o->buyer.phone) ||
            get_string(p, &at, sub, "email", 0, &o->buyer.email))
            return -1;
    }

    /* shipping_address */
    if (get_object(p, root, doc, "shipping_address", 1, &sub))
        return -1;
    {
        const struct vpath at = {"$.shipping_address", -1};
        struct ob_address *a = &o->shipping_address;
        if (get_string(p, &at, sub, "name", 1, &a->name) || get_string(p, &at, sub, "phone", 1, &a->phone) ||
            get_string(p, &at, sub, "country", 0, &a->country) ||
            get_string(p, &at, sub, "province", 1, &a->province) || get_string(p, &at, sub, "city", 1, &a->city) ||
            get_string(p, &at, sub, "district", 0, &a->district) ||
            get_string(p, &at, sub, "street", 1, &a->street) ||
            get_string(p, &at, sub, "postal_code", 0, &a->postal_code))
            return -1;
        if (!a->country)
            a->country = "CN";
    }

    /* items */
    v = json_object_get(doc, "items");
    if (!v)
        return missing(p, root, "items");
    if (!json_is_array(v))
        return fail(p, root, "items", "must be an array, got %s", kind_of(v));
    if (json_array_size(v) < 1 || json_array_size(v) > OB_ITEMS_MAX)
        return fail(p, root, "items", "must hold 1 to %d items, got %zu", OB_ITEMS_MAX, json_array_size(v));
    if (validate_items(p, v, po))
        return -1;
    o->items = po->items;
    o->n_items = json_array_size(v);

    /* amounts */
    if (get_object(p, root, doc, "amounts", 1, &sub))
        return -1;
    {
        const struct vpath at = {"$.amounts", -1};
        if (get_string(p, &at, sub, "currency", 0, &o->amounts.currency) ||
            get_money(p, &at, sub, "goods", 0, &o->amounts.goods) ||
            get_money(p, &at, sub, "shipping", 0, &o->amounts.shipping) ||
            get_money(p, &at, sub, "discount", 0, &o->amounts.discount) ||
            get_money(p, &at, sub, "paid", 1, &o->amounts.paid))
            return -1;
        if (!o->amounts.currency)
            o->amounts.currency = "CNY";
    }

    /* payment */
    if (get_object(p, root, doc, "payment", 0, &sub))
        return -1;
    if (sub) {
        const struct vpath at = {"$.payment", -1};
        if (get_string(p, &at, sub, "method", 0, &o->payment.method) ||
            get_string(p, &at, sub, "paid_at", 0, &o->payment.paid_at) ||
            get_string(p, &at, sub, "transaction_id", 0, &o->payment.transaction_id))
            return -1;
    }

    /* logistics */
    if (get_object(p, root, doc, "logistics", 0, &sub))
        return -1;
    if (sub) {
        const struct vpath at = {"$.logistics", -1};
        if (get_string(p, &at, sub, "carrier", 0, &o->logistics.carrier) ||
            get_enum(p, &at, sub, "service", 0, k_services, COUNT(k_services), &o->logistics.service, NULL))
            return -1;
    }

    /* remark: maxLength counts code points; bytes <= limit is the fast path */
    if (get_string(p, root, doc, "remark", 0, &o->remark))
        return -1;
    if (o->remark) {
        size_t len = json_string_length(json_object_get(doc, "remark"));
        size_t cps;
        if (len > OB_REMARK_MAX && (cps = utf8_length(o->remark, len)) > OB_REMARK_MAX)
            return fail(p, root, "remark", "must be at most %d characters, got %zu", OB_REMARK_MAX, cps);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Public API                                                                */

int ob_order_parse(const void *payload, size_t len, size_t max_bytes, struct ob_parsed_order **out,
                   struct ob_order_problem *problem)
{
    struct ob_order_problem scratch;
    struct ob_order_problem *p = problem ? problem : &scratch;
    json_error_t err;
    json_t *doc;

    p->code = OB_ORDER_OK;
    p->message[0] = '\0';
    p->order_id[0] = '\0';
    if (out)
        *out = NULL;

    if (len == 0)
        return set_problem(p, OB_ORDER_EMPTY, "empty message");
    if (!payload)
        return set_problem(p, OB_ORDER_EMPTY, "no payload (NULL with length %zu)", len);
    if (len > max_bytes)
        return set_problem(p, OB_ORDER_TOO_LARGE, "message is %zu bytes, the limit is %zu", len, max_bytes);
    if (!out)
        return set_problem(p, OB_ORDER_INVALID_JSON, "internal: no place for the result");

    doc = json_loadb(payload, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    if (!doc) {
        /* no code of its own in the API: keep it recognisable in the message */
        if (json_error_code(&err) == json_error_out_of_memory)
            return set_problem(p, OB_ORDER_INVALID_JSON, "internal: out of memory while decoding");
        /* invalid UTF-8 wins over a syntax error found earlier in the text */
        size_t bad = utf8_invalid_at(payload, len);
        if (bad < len || json_error_code(&err) == json_error_invalid_utf8) {
            if (bad < len)
                return set_problem(p, OB_ORDER_NOT_UTF8, "not UTF-8: invalid byte 0x%02x at offset %zu",
                                   ((const unsigned char *)payload)[bad], bad);
            return set_problem(p, OB_ORDER_NOT_UTF8, "not UTF-8: %s (line %d, column %d)", err.text, err.line,
                               err.column);
        }
        return set_problem(p, OB_ORDER_INVALID_JSON, "invalid JSON at line %d, column %d: %s", err.line,
                           err.column, err.text);
    }
    if (!json_is_object(doc)) {
        fail(p, &k_root, NULL, "must be an object, got %s", kind_of(doc));
        json_decref(doc);
        return -1;
    }

    /* order_id for the problem report, whatever else is wrong */
    const json_t *id = json_object_get(doc, "order_id");
    if (json_is_string(id) && ob_order_id_valid(json_string_value(id), json_string_length(id)))
        memcpy(p->order_id, json_string_value(id), json_string_length(id) + 1);

    /* one allocation: the result followed by its items array */
    const json_t *items = json_object_get(doc, "items");
    size_t n_items = json_is_array(items) ? json_array_size(items) : 0;
    if (n_items > OB_ITEMS_MAX)
        n_items = 0;
    size_t head = (sizeof(struct ob_parsed_order) + _Alignof(struct ob_order_item) - 1) &
                  ~(_Alignof(struct ob_order_item) - 1);
    struct ob_parsed_order *po = calloc(1, head + n_items * sizeof(struct ob_order_item));
    if (!po) {
        json_decref(doc);
        return set_problem(p, OB_ORDER_INVALID_JSON, "internal: out of memory");
    }
    po->items = n_items ? (struct ob_order_item *)((char *)po + head) : NULL;

    if (validate(p, doc, po) != 0) {
        free(po);
        json_decref(doc);
        return -1;
    }
    po->doc = doc;
    po->order.doc = doc;
    *out = po;
    return 0;
}

void ob_order_free(struct ob_parsed_order *po)
{
    if (!po)
        return;
    json_decref((json_t *)po->doc);
    free(po);
}

const char *ob_order_error_name(enum ob_order_error code)
{
    switch (code) {
    case OB_ORDER_OK:
        return "ok";
    case OB_ORDER_EMPTY:
        return "empty";
    case OB_ORDER_TOO_LARGE:
        return "too_large";
    case OB_ORDER_NOT_UTF8:
        return "not_utf8";
    case OB_ORDER_INVALID_JSON:
        return "invalid_json";
    case OB_ORDER_INVALID:
        return "invalid_order";
    }
    return "unknown";
}
