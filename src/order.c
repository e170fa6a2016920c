/*
 * order.c — decode and validate an order.v1 Kafka message.
 *
 * Hot path: runs once per consumed message. One pass of yajl's parser
 * builds a flat tree (nodes and string bytes in two growing arrays, no
 * allocation per value); then one malloc() holds the result: the struct,
 * the items array, the strings and a copy of the message. Every string in
 * struct ob_order points into that block (or at a static default / enum
 * literal). Messages are only formatted on failure. The jansson document
 * adapters may read (order->doc) is decoded only when one asks for it
 * (ob_order_doc), from the copy.
 *
 * Validation walks contracts/order.v1.schema.json in its "properties" order
 * (and each sub-object in its own properties order), so the first problem
 * reported is deterministic.
 */
#include "order.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>
#include <jansson.h>
#include <yajl/yajl_parse.h>

#include <orderbridge/sdk.h>

#define OB_ORDER_ID_MAX 64
#define OB_ITEMS_MAX 500
#define OB_REMARK_MAX 1024 /* Unicode code points */
#define MAX_DEPTH 2048     /* as jansson's parser */

/* ------------------------------------------------------------------------ */
/* The flat tree                                                             */

enum jv_type { JV_NULL, JV_BOOL, JV_INT, JV_REAL, JV_STRING, JV_OBJECT, JV_ARRAY };

/* One JSON value. Children are linked in document order; strings (keys,
 * values) are NUL-terminated offsets into the string bytes. */
struct jv {
    uint8_t type;
    int32_t parent;            /* the container, -1 for the root */
    int32_t next, first, last; /* sibling; first and last child; -1: none */
    uint32_t n;                /* children */
    uint32_t key, key_len;     /* member name, in an object */
    uint32_t str, len;         /* string value */
    int64_t i;
    double d;
};

struct tree {
    struct jv *nodes;
    size_t n_nodes, cap_nodes;
    char *strs; /* string bytes while parsing; then the result's copy */
    size_t n_strs, cap_strs;
    int32_t stack[MAX_DEPTH]; /* open containers */
    size_t depth;
    uint32_t key, key_len; /* the member name just read */
    uint32_t *members;     /* (object, name) -> node + 1: duplicates, lookups */
    size_t members_mask;
    const char *refusal; /* why a callback stopped the parse */
    yajl_handle h;
    size_t root_end; /* bytes up to the end of the top-level value */
};

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
static const char *kind_of(const struct jv *v)
{
    switch (v->type) {
    case JV_OBJECT:
        return "an object";
    case JV_ARRAY:
        return "an array";
    case JV_STRING:
        return "a string";
    case JV_INT:
    case JV_REAL:
        return "a number";
    case JV_BOOL:
        return "a boolean";
    case JV_NULL:
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

static const char *str_of(const struct tree *t, const struct jv *v)
{
    return t->strs + v->str;
}

/* The string value quoted, or the type of a non-string. */
static const char *describe(const struct tree *t, char *dst, size_t cap, const struct jv *v)
{
    if (v->type == JV_STRING)
        return quoted(dst, cap, str_of(t, v), v->len);
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

/* Code points of valid UTF-8 (the parser guarantees validity). */
static size_t utf8_length(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* ------------------------------------------------------------------------ */
/* Parsing: yajl's events into the tree                                     */

static uint32_t member_hash(int32_t parent, const char *key, size_t len)
{
    uint32_t h = 2166136261u ^ (uint32_t)parent; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 16777619u;
    return h;
}

/* The slot of member `key` of node `parent`: where it is, or the empty
 * slot where it would go. */
static uint32_t *member_slot(const struct tree *t, int32_t parent, const char *key, size_t len)
{
    for (uint32_t h = member_hash(parent, key, len) & (uint32_t)t->members_mask;;
         h = (h + 1) & (uint32_t)t->members_mask) {
        uint32_t *slot = &t->members[h];
        const struct jv *m = *slot ? &t->nodes[*slot - 1] : NULL;
        if (!m || (m->parent == parent && m->key_len == len &&
                   memcmp(t->strs + m->key, key, len) == 0))
            return slot;
    }
}

/* The member `key` of object `obj`, or NULL. */
static const struct jv *member(const struct tree *t, const struct jv *obj, const char *key)
{
    uint32_t *slot = member_slot(t, (int32_t)(obj - t->nodes), key, strlen(key));
    return *slot ? &t->nodes[*slot - 1] : NULL;
}

/* Append `len` bytes and a NUL to the string bytes; returns their offset. */
static int add_bytes(struct tree *t, const void *bytes, size_t len, uint32_t *off)
{
    if (t->n_strs + len + 1 > t->cap_strs) {
        size_t cap = t->cap_strs * 2;
        while (cap < t->n_strs + len + 1)
            cap *= 2;
        char *grown = realloc(t->strs, cap);
        if (!grown)
            return -1;
        t->strs = grown;
        t->cap_strs = cap;
    }
    *off = (uint32_t)t->n_strs;
    memcpy(t->strs + t->n_strs, bytes, len);
    t->strs[t->n_strs + len] = '\0';
    t->n_strs += len + 1;
    return 0;
}

static int refuse(struct tree *t, const char *why)
{
    t->refusal = why;
    return 0; /* yajl: stop */
}

/* A new value, linked under the open container; NULL when refused. */
static struct jv *add_node(struct tree *t, enum jv_type type)
{
    struct jv *v;
    int32_t idx = (int32_t)t->n_nodes;

    if (t->n_nodes == t->cap_nodes) {
        struct jv *grown = realloc(t->nodes, t->cap_nodes * 2 * sizeof(*grown));
        if (!grown) {
            refuse(t, "out of memory");
            return NULL;
        }
        t->nodes = grown;
        t->cap_nodes *= 2;
    }
    v = &t->nodes[t->n_nodes++];
    *v = (struct jv){.type = (uint8_t)type, .next = -1, .first = -1, .last = -1, .parent = -1};
    if (t->depth > 0) {
        struct jv *up = &t->nodes[t->stack[t->depth - 1]];
        v->parent = t->stack[t->depth - 1];
        if (up->type == JV_OBJECT) {
            uint32_t *slot = member_slot(t, v->parent, t->strs + t->key, t->key_len);
            if (*slot) {
                refuse(t, "duplicate object key");
                return NULL;
            }
            v->key = t->key;
            v->key_len = t->key_len;
            *slot = (uint32_t)idx + 1;
        }
        if (up->last >= 0)
            t->nodes[up->last].next = idx;
        else
            up->first = idx;
        up->last = idx;
        up->n++;
    }
    return v;
}

static int on_null(void *ctx)
{
    return add_node(ctx, JV_NULL) != NULL;
}

static int on_boolean(void *ctx, int value)
{
    struct jv *v = add_node(ctx, JV_BOOL);
    if (v)
        v->i = value;
    return v != NULL;
}

/* Numbers come as text: an integer (no '.', 'e', 'E') must fit in 64 bits
 * and a real must be finite, as jansson decides. */
static int on_number(void *ctx, const char *s, size_t len)
{
    struct tree *t = ctx;
    int integer = !memchr(s, '.', len) && !memchr(s, 'e', len) && !memchr(s, 'E', len);
    uint32_t off;
    struct jv *v;

    if (add_bytes(t, s, len, &off) != 0)
        return refuse(t, "out of memory");
    if (!(v = add_node(t, integer ? JV_INT : JV_REAL)))
        return 0;
    errno = 0;
    if (integer) {
        v->i = strtoll(t->strs + off, NULL, 10);
        if (errno == ERANGE)
            return refuse(t, s[0] == '-' ? "too big negative integer" : "too big integer");
    } else {
        v->d = strtod(t->strs + off, NULL);
        if (errno == ERANGE && (v->d == HUGE_VAL || v->d == -HUGE_VAL))
            return refuse(t, "real number overflow");
    }
    t->n_strs = off; /* the text is not kept */
    return 1;
}

static int on_string(void *ctx, const unsigned char *s, size_t len)
{
    struct tree *t = ctx;
    uint32_t off;
    struct jv *v;

    if (memchr(s, '\0', len))
        return refuse(t, "\\u0000 is not allowed");
    if (add_bytes(t, s, len, &off) != 0)
        return refuse(t, "out of memory");
    if (!(v = add_node(t, JV_STRING)))
        return 0;
    v->str = off;
    v->len = (uint32_t)len;
    return 1;
}

static int open_container(struct tree *t, enum jv_type type)
{
    struct jv *v;

    if (t->depth == MAX_DEPTH)
        return refuse(t, "maximum parsing depth reached");
    if (!(v = add_node(t, type)))
        return 0;
    t->stack[t->depth++] = (int32_t)(v - t->nodes);
    return 1;
}

static int on_start_map(void *ctx)
{
    return open_container(ctx, JV_OBJECT);
}

static int on_map_key(void *ctx, const unsigned char *s, size_t len)
{
    struct tree *t = ctx;

    if (memchr(s, '\0', len))
        return refuse(t, "\\u0000 is not allowed");
    if (add_bytes(t, s, len, &t->key) != 0)
        return refuse(t, "out of memory");
    t->key_len = (uint32_t)len;
    return 1;
}

static int on_end(void *ctx)
{
    struct tree *t = ctx;
    if (--t->depth == 0)
        t->root_end = yajl_get_bytes_consumed(t->h);
    return 1;
}

static int on_start_array(void *ctx)
{
    return open_container(ctx, JV_ARRAY);
}

static const yajl_callbacks k_callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_boolean,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_map_key,
    .yajl_end_map = on_end,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end,
};

static void tree_free(struct tree *t)
{
    free(t->nodes);
    free(t->strs);
    free(t->members);
}

/* "invalid JSON at line L, column C: why", L and C (from 1) of byte `at`. */
static int invalid_json(struct ob_order_problem *p, const char *s, size_t at, const char *why)
{
    int line = 1, column = 1;

    for (size_t i = 0; i < at; i++) {
        if (s[i] == '\n') {
            line++;
            column = 1;
        } else {
            column++;
        }
    }
    return set_problem(p, OB_ORDER_INVALID_JSON, "invalid JSON at line %d, column %d: %s", line,
                       column, why);
}

/* jansson refuses what yajl turns into '?': a \u escape of half a UTF-16
 * surrogate pair. Returns the offset of the first such escape, or len. */
static size_t lone_surrogate_at(const char *s, size_t len)
{
    const char *end = s + len, *b = s;
    size_t pending_high = 0; /* offset + 1 of a high half waiting for its low half */

    while ((b = memchr(b, '\\', (size_t)(end - b))) != NULL) {
        unsigned long cp;
        char hex[5];
        if (end - b < 2)
            break;
        if (b[1] != 'u' || end - b < 6) {
            if (pending_high)
                return pending_high - 1;
            b += 2; /* \\ \" \n ...: the next character is not an escape */
            continue;
        }
        memcpy(hex, b + 2, 4);
        hex[4] = '\0';
        cp = strtoul(hex, NULL, 16);
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            if (!pending_high || (size_t)(b - s) != pending_high - 1 + 6)
                return (size_t)(b - s);
            pending_high = 0;
        } else {
            if (pending_high)
                return pending_high - 1;
            if (cp >= 0xD800 && cp <= 0xDBFF)
                pending_high = (size_t)(b - s) + 1;
        }
        b += 6;
    }
    return pending_high ? pending_high - 1 : len;
}

/* Decode `len` bytes into `t`: 0, or -1 with the problem set. */
static int tree_parse(struct tree *t, const char *payload, size_t len, struct ob_order_problem *p)
{
    /* Every member takes at least 4 bytes ("":0,): the table stays half empty. */
    size_t slots = 64;
    yajl_handle h;
    yajl_status st;

    memset(t, 0, sizeof(*t));
    /* UTF-8 is checked here, strictly (yajl lets overlong forms through) */
    size_t bad = utf8_invalid_at((const unsigned char *)payload, len);
    if (bad < len)
        return set_problem(p, OB_ORDER_NOT_UTF8, "not UTF-8: invalid byte 0x%02x at offset %zu",
                           ((const unsigned char *)payload)[bad], bad);
    /* yajl takes \v and \f for white space; JSON has them nowhere raw */
    const char *ws = memchr(payload, '\v', len);
    const char *ff = memchr(payload, '\f', len);
    if (ws || ff)
        return invalid_json(p, payload, (size_t)((ws && (!ff || ws < ff) ? ws : ff) - payload),
                            "a control character (\\v or \\f)");
    while (slots < len / 2)
        slots *= 2;
    t->cap_nodes = 64;
    t->cap_strs = len + 64;
    t->nodes = malloc(t->cap_nodes * sizeof(*t->nodes));
    t->strs = malloc(t->cap_strs);
    t->members = calloc(slots, sizeof(*t->members));
    t->members_mask = slots - 1;
    h = t->nodes && t->strs && t->members ? yajl_alloc(&k_callbacks, NULL, t) : NULL;
    if (!h)
        return set_problem(p, OB_ORDER_INVALID_JSON, "internal: out of memory while decoding");
    t->h = h;
    t->root_end = len; /* a scalar: refused anyway, it is not an object */
    yajl_config(h, yajl_dont_validate_strings, 1);
    st = yajl_parse(h, (const unsigned char *)payload, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    if (st != yajl_status_ok) {
        size_t at = yajl_get_bytes_consumed(h);
        char why[128];
        if (t->refusal) {
            snprintf(why, sizeof(why), "%s", t->refusal);
        } else {
            unsigned char *text = yajl_get_error(h, 0, NULL, 0);
            size_t n = (size_t)snprintf(why, sizeof(why), "%s", text ? (char *)text : "syntax error");
            while (n > 0 && (why[n - 1] == '\n' || why[n - 1] == '.' || why[n - 1] == ' '))
                why[--n] = '\0';
            yajl_free_error(h, text);
        }
        yajl_free(h);
        if (strcmp(why, "out of memory") == 0)
            return set_problem(p, OB_ORDER_INVALID_JSON, "internal: out of memory while decoding");
        return invalid_json(p, payload, at < len ? at : len, why);
    }
    yajl_free(h);
    /* yajl ends the document at a token cut short after it ("}\"abc):
     * only white space may follow the value */
    for (size_t i = t->root_end; i < len; i++) {
        if (payload[i] != ' ' && payload[i] != '\t' && payload[i] != '\n' && payload[i] != '\r')
            return invalid_json(p, payload, i, "trailing garbage");
    }
    if ((bad = lone_surrogate_at(payload, len)) < len)
        return invalid_json(p, payload, bad, "invalid Unicode escape (half a surrogate pair)");
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Field accessors: 0 ok, -1 with the problem filled                         */

static int missing(struct ob_order_problem *p, const struct vpath *at, const char *key)
{
    return fail(p, at, key, "required field is missing");
}

/* A string member; *out NULL when absent and optional. */
static int get_string(const struct tree *t, struct ob_order_problem *p, const struct vpath *at,
                      const struct jv *obj, const char *key, int required, const char **out)
{
    const struct jv *v = member(t, obj, key);
    if (!v) {
        *out = NULL;
        return required ? missing(p, at, key) : 0;
    }
    if (v->type != JV_STRING)
        return fail(p, at, key, "must be a string, got %s", kind_of(v));
    *out = str_of(t, v);
    return 0;
}

/* An optional object member; *out NULL when absent. */
static int get_object(const struct tree *t, struct ob_order_problem *p, const struct vpath *at,
                      const struct jv *obj, const char *key, int required, const struct jv **out)
{
    const struct jv *v = member(t, obj, key);
    *out = NULL;
    if (!v)
        return required ? missing(p, at, key) : 0;
    if (v->type != JV_OBJECT)
        return fail(p, at, key, "must be an object, got %s", kind_of(v));
    *out = v;
    return 0;
}

/* A required integer in [min, max]; a JSON real is refused, never truncated. */
static int get_int(const struct tree *t, struct ob_order_problem *p, const struct vpath *at,
                   const struct jv *obj, const char *key, int64_t min, int64_t max, int64_t *out)
{
    const struct jv *v = member(t, obj, key);
    if (!v)
        return missing(p, at, key);
    if (v->type == JV_INT) {
        if (v->i < min || v->i > max) {
            if (max >= LLONG_MAX)
                return fail(p, at, key, "must be an integer >= %" PRId64 ", got %" PRId64, min, v->i);
            return fail(p, at, key, "must be an integer from %" PRId64 " to %" PRId64 ", got %" PRId64,
                        min, max, v->i);
        }
        *out = v->i;
        return 0;
    }
    if (v->type == JV_REAL) {
        char num[40];
        return fail(p, at, key, "must be an integer, got a real number %s",
                    real_text(num, sizeof num, v->d));
    }
    return fail(p, at, key, "must be an integer, got %s", kind_of(v));
}

/* A decimal-string amount; {NULL, 0} when absent and optional. */
static int get_money(const struct tree *t, struct ob_order_problem *p, const struct vpath *at,
                     const struct jv *obj, const char *key, int required, struct ob_money *m)
{
    const struct jv *v = member(t, obj, key);
    char q[80];
    m->text = NULL;
    m->minor = 0;
    if (!v)
        return required ? missing(p, at, key) : 0;
    if (v->type != JV_STRING)
        return fail(p, at, key, "must be a decimal string, got %s", kind_of(v));
    const char *s = str_of(t, v);
    if (ob_money_parse(s, &m->minor) != 0) {
        if (money_shape_ok(s))
            return fail(p, at, key, "amount out of range, got %s", quoted(q, sizeof q, s, v->len));
        return fail(p, at, key, "must be a decimal string like \"12.34\" (at most 2 decimals), got %s",
                    quoted(q, sizeof q, s, v->len));
    }
    m->text = s;
    return 0;
}

/* An enum member: *out is the canonical literal, *idx its index (-1 absent). */
static int get_enum(const struct tree *t, struct ob_order_problem *p, const struct vpath *at,
                    const struct jv *obj, const char *key, int required, const char *const *values,
                    size_t n, const char **out, int *idx)
{
    const struct jv *v = member(t, obj, key);
    char q[80], allowed[200];
    *out = NULL;
    if (idx)
        *idx = -1;
    if (!v)
        return required ? missing(p, at, key) : 0;
    if (v->type == JV_STRING) {
        const char *s = str_of(t, v);
        for (size_t i = 0; i < n; i++) {
            if (strlen(values[i]) == v->len && memcmp(values[i], s, v->len) == 0) {
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
    return fail(p, at, key, "must be one of %s, got %s", allowed, describe(t, q, sizeof q, v));
}

/* ------------------------------------------------------------------------ */
/* The walk                                                                  */

static int validate_items(const struct tree *t, struct ob_order_problem *p, const struct jv *arr,
                          struct ob_parsed_order *po)
{
    struct vpath at = {"$.items", 0};
    size_t i = 0;
    for (int32_t c = arr->first; c >= 0; c = t->nodes[c].next, i++) {
        const struct jv *it = &t->nodes[c];
        struct ob_order_item *o = &po->items[i];
        int64_t line_no, quantity;
        at.index = (long)i;
        if (it->type != JV_OBJECT)
            return fail(p, &at, NULL, "must be an object, got %s", kind_of(it));
        if (get_int(t, p, &at, it, "line_no", 1, INT_MAX, &line_no) ||
            get_string(t, p, &at, it, "sku", 1, &o->sku))
            return -1;
        if (o->sku[0] == '\0')
            return fail(p, &at, "sku", "must not be empty");
        if (get_string(t, p, &at, it, "barcode", 0, &o->barcode) ||
            get_string(t, p, &at, it, "name", 0, &o->name) ||
            get_int(t, p, &at, it, "quantity", 1, INT_MAX, &quantity) ||
            get_money(t, p, &at, it, "unit_price", 1, &o->unit_price) ||
            get_money(t, p, &at, it, "discount", 0, &o->discount))
            return -1;
        o->line_no = (int)line_no;
        o->quantity = (int)quantity;
    }
    return 0;
}

static int validate(const struct tree *t, struct ob_order_problem *p, const struct jv *doc,
                    struct ob_parsed_order *po)
{
    struct ob_order *o = &po->order;
    const struct vpath *root = &k_root;
    const struct jv *v, *sub;
    const char *s;
    char q[80];
    int idx;
    int64_t revision;

    /* schema */
    v = member(t, doc, "schema");
    if (!v)
        return missing(p, root, "schema");
    if (v->type != JV_STRING || strcmp(str_of(t, v), "order.v1") != 0)
        return fail(p, root, "schema", "must be \"order.v1\", got %s", describe(t, q, sizeof q, v));

    /* event */
    if (get_enum(t, p, root, doc, "event", 1, k_events, COUNT(k_events), &o->event_name, &idx))
        return -1;
    o->event = k_event_codes[idx];

    /* order_id */
    if (get_string(t, p, root, doc, "order_id", 1, &o->order_id))
        return -1;
    v = member(t, doc, "order_id");
    if (!ob_order_id_valid(o->order_id, v->len)) {
        size_t len = v->len;
        if (len == 0 || len > OB_ORDER_ID_MAX)
            return fail(p, root, "order_id", "must be 1 to %d characters, got %zu", OB_ORDER_ID_MAX,
                        len == 0 ? (size_t)0 : utf8_length(o->order_id, len));
        return fail(p, root, "order_id", "must match ^[A-Za-z0-9_.:-]+$, got %s",
                    quoted(q, sizeof q, o->order_id, len));
    }

    /* revision */
    if (get_int(t, p, root, doc, "revision", 1, INT64_MAX, &revision))
        return -1;
    o->revision = (int64_t)revision;

    /* channel, shop_id */
    if (get_enum(t, p, root, doc, "channel", 0, k_channels, COUNT(k_channels), &o->channel, NULL) ||
        get_string(t, p, root, doc, "shop_id", 0, &o->shop_id))
        return -1;

    /* created_at */
    if (get_string(t, p, root, doc, "created_at", 1, &o->created_at))
        return -1;
    v = member(t, doc, "created_at");
    if ((s = check_date_time(o->created_at, v->len)) != NULL)
        return fail(p, root, "created_at", "must be an RFC 3339 date-time (%s), got %s", s,
                    quoted(q, sizeof q, o->created_at, v->len));

    /* warehouse, priority */
    if (get_string(t, p, root, doc, "warehouse", 0, &o->warehouse) ||
        get_enum(t, p, root, doc, "priority", 0, k_priorities, COUNT(k_priorities), &o->priority, NULL))
        return -1;
    if (!o->priority)
        o->priority = "normal";

    /* buyer */
    if (get_object(t, p, root, doc, "buyer", 0, &sub))
        return -1;
    if (sub) {
        const struct vpath at = {"$.buyer", -1};
        if (get_string(t, p, &at, sub, "id", 0, &o->buyer.id) || get_string(t, p, &at, sub, "nick", 0, &o->buyer.nick) ||
            get_string(t, p, &at, sub, "phone", 0, &o->buyer.phone) ||
            get_string(t, p, &at, sub, "email", 0, &o->buyer.email))
            return -1;
    }

    /* shipping_address */
    if (get_object(t, p, root, doc, "shipping_address", 1, &sub))
        return -1;
    {
        const struct vpath at = {"$.shipping_address", -1};
        struct ob_address *a = &o->shipping_address;
        if (get_string(t, p, &at, sub, "name", 1, &a->name) || get_string(t, p, &at, sub, "phone", 1, &a->phone) ||
            get_string(t, p, &at, sub, "country", 0, &a->country) ||
            get_string(t, p, &at, sub, "province", 1, &a->province) || get_string(t, p, &at, sub, "city", 1, &a->city) ||
            get_string(t, p, &at, sub, "district", 0, &a->district) ||
            get_string(t, p, &at, sub, "street", 1, &a->street) ||
            get_string(t, p, &at, sub, "postal_code", 0, &a->postal_code))
            return -1;
        if (!a->country)
            a->country = "CN";
    }

    /* items */
    v = member(t, doc, "items");
    if (!v)
        return missing(p, root, "items");
    if (v->type != JV_ARRAY)
        return fail(p, root, "items", "must be an array, got %s", kind_of(v));
    if (v->n < 1 || v->n > OB_ITEMS_MAX)
        return fail(p, root, "items", "must hold 1 to %d items, got %zu", OB_ITEMS_MAX, (size_t)v->n);
    if (validate_items(t, p, v, po))
        return -1;
    o->items = po->items;
    o->n_items = v->n;

    /* amounts */
    if (get_object(t, p, root, doc, "amounts", 1, &sub))
        return -1;
    {
        const struct vpath at = {"$.amounts", -1};
        if (get_string(t, p, &at, sub, "currency", 0, &o->amounts.currency) ||
            get_money(t, p, &at, sub, "goods", 0, &o->amounts.goods) ||
            get_money(t, p, &at, sub, "shipping", 0, &o->amounts.shipping) ||
            get_money(t, p, &at, sub, "discount", 0, &o->amounts.discount) ||
            get_money(t, p, &at, sub, "paid", 1, &o->amounts.paid))
            return -1;
        if (!o->amounts.currency)
            o->amounts.currency = "CNY";
    }

    /* payment */
    if (get_object(t, p, root, doc, "payment", 0, &sub))
        return -1;
    if (sub) {
        const struct vpath at = {"$.payment", -1};
        if (get_string(t, p, &at, sub, "method", 0, &o->payment.method) ||
            get_string(t, p, &at, sub, "paid_at", 0, &o->payment.paid_at) ||
            get_string(t, p, &at, sub, "transaction_id", 0, &o->payment.transaction_id))
            return -1;
    }

    /* logistics */
    if (get_object(t, p, root, doc, "logistics", 0, &sub))
        return -1;
    if (sub) {
        const struct vpath at = {"$.logistics", -1};
        if (get_string(t, p, &at, sub, "carrier", 0, &o->logistics.carrier) ||
            get_enum(t, p, &at, sub, "service", 0, k_services, COUNT(k_services), &o->logistics.service, NULL))
            return -1;
    }

    /* remark: maxLength counts code points; bytes <= limit is the fast path */
    if (get_string(t, p, root, doc, "remark", 0, &o->remark))
        return -1;
    if (o->remark) {
        size_t len = member(t, doc, "remark")->len;
        size_t cps;
        if (len > OB_REMARK_MAX && (cps = utf8_length(o->remark, len)) > OB_REMARK_MAX)
            return fail(p, root, "remark", "must be at most %d characters, got %zu", OB_REMARK_MAX, cps);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Public API                                                                */

int ob_order_parse_lean(const void *payload, size_t len, size_t max_bytes,
                        struct ob_parsed_order **out, struct ob_order_problem *problem)
{
    struct ob_order_problem scratch;
    struct ob_order_problem *p = problem ? problem : &scratch;
    struct tree t;
    const struct jv *root, *id, *items;
    struct ob_parsed_order *po;
    size_t n_items, head;
    char *block_strs;

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

    if (tree_parse(&t, payload, len, p) != 0) {
        tree_free(&t);
        return -1;
    }
    root = &t.nodes[0];
    if (root->type != JV_OBJECT) {
        fail(p, &k_root, NULL, "must be an object, got %s", kind_of(root));
        tree_free(&t);
        return -1;
    }

    /* order_id for the problem report, whatever else is wrong */
    id = member(&t, root, "order_id");
    if (id && id->type == JV_STRING && ob_order_id_valid(str_of(&t, id), id->len))
        memcpy(p->order_id, str_of(&t, id), id->len + 1);

    /* one allocation: the result, its items array, the strings, the message */
    items = member(&t, root, "items");
    n_items = items && items->type == JV_ARRAY ? items->n : 0;
    if (n_items > OB_ITEMS_MAX)
        n_items = 0;
    head = (sizeof(struct ob_parsed_order) + _Alignof(struct ob_order_item) - 1) &
           ~(_Alignof(struct ob_order_item) - 1);
    po = malloc(head + n_items * sizeof(struct ob_order_item) + t.n_strs + len + 1);
    if (!po) {
        tree_free(&t);
        return set_problem(p, OB_ORDER_INVALID_JSON, "internal: out of memory");
    }
    memset(po, 0, head + n_items * sizeof(struct ob_order_item));
    po->items = n_items ? (struct ob_order_item *)((char *)po + head) : NULL;
    block_strs = (char *)po + head + n_items * sizeof(struct ob_order_item);
    memcpy(block_strs, t.strs, t.n_strs);
    free(t.strs);
    t.strs = block_strs; /* strings found by validation point into the result */
    po->payload = block_strs + t.n_strs;
    po->payload_len = len;
    memcpy(po->payload, payload, len);
    po->payload[len] = '\0';

    if (validate(&t, p, root, po) != 0) {
        t.strs = NULL;
        tree_free(&t);
        free(po);
        return -1;
    }
    t.strs = NULL;
    tree_free(&t);
    *out = po;
    return 0;
}

int ob_order_doc(struct ob_parsed_order *po, char *errstr, size_t errstr_size)
{
    json_error_t err;

    if (po->doc)
        return 0;
    po->doc = json_loadb(po->payload, po->payload_len, JSON_REJECT_DUPLICATES, &err);
    po->order.doc = po->doc;
    if (!po->doc && errstr_size)
        snprintf(errstr, errstr_size, "the order's document: %s", err.text);
    return po->doc ? 0 : -1;
}

int ob_order_parse(const void *payload, size_t len, size_t max_bytes, struct ob_parsed_order **out,
                   struct ob_order_problem *problem)
{
    struct ob_order_problem scratch;
    struct ob_order_problem *p = problem ? problem : &scratch;

    if (ob_order_parse_lean(payload, len, max_bytes, out, p) != 0)
        return -1;
    if (ob_order_doc(*out, p->message, sizeof(p->message)) != 0) {
        ob_order_free(*out);
        *out = NULL;
        p->code = OB_ORDER_INVALID_JSON;
        return -1;
    }
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
