/*
 * orderbridge SDK — helpers every adapter links (libob-sdk.so).
 *
 * Functions return 0 on success and -1 on failure (out of memory, a limit
 * exceeded); strings they return are owned by the caller unless said.
 */
#ifndef ORDERBRIDGE_SDK_H
#define ORDERBRIDGE_SDK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <orderbridge/adapter.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define OB_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define OB_PRINTF(fmt, args)
#endif

/* --- building a request (memory owned by the request) --- */

/* Set the URL from a printf format. Replaces an earlier URL. */
int ob_request_set_url(struct ob_request *req, const char *fmt, ...) OB_PRINTF(2, 3);

/* Append a header; at most OB_REQUEST_MAX_HEADERS. Both strings are copied. */
int ob_request_add_header(struct ob_request *req, const char *name, const char *value);

/* Copy `len` bytes as the body. */
int ob_request_set_body(struct ob_request *req, const void *body, size_t len);

/* Hand a malloc()ed body of `len` bytes to the request, which frees it. */
void ob_request_take_body(struct ob_request *req, char *body, size_t len);

/* Free everything the request owns and zero it; safe on a zeroed request. */
void ob_request_reset(struct ob_request *req);

/* The first response header named `name` (case-insensitive), or NULL. */
const char *ob_response_header(const struct ob_response *resp, const char *name);

/* Retry-After of a response (delta-seconds or an HTTP date) in ms from now;
 * -1 when absent or unreadable, 0 when the date is already past. */
long ob_response_retry_after_ms(const struct ob_response *resp);

/* --- growable buffers with a hard maximum ---------------------------- */

/*
 * A byte buffer that never grows past `max` (fixed at init): an append that
 * would exceed it fails and marks the buffer failed, so a chain of appends
 * can be checked once at the end. `data` is always NUL-terminated when
 * non-NULL. Zero-initialised with ob_buf_init().
 * (`max` bounds len, the NUL not counted. A failed buffer refuses every
 * later append until reset. A buffer zeroed without ob_buf_init() has max 0
 * and holds nothing: init it.)
 */
struct ob_buf {
    char *data;
    size_t len, cap, max;
    int failed; /* an append failed (out of memory or over max) */
};

#define OB_BUF_DEFAULT_MAX (16u * 1024 * 1024)

void ob_buf_init(struct ob_buf *b, size_t max);
int ob_buf_append(struct ob_buf *b, const void *data, size_t len);
int ob_buf_appends(struct ob_buf *b, const char *str);
int ob_buf_printf(struct ob_buf *b, const char *fmt, ...) OB_PRINTF(2, 3);
/* Hand the bytes to the caller (free() them); the buffer is reset. NULL if failed. */
char *ob_buf_steal(struct ob_buf *b, size_t *len);
void ob_buf_reset(struct ob_buf *b);   /* free, keep max */
void ob_buf_cleanse(struct ob_buf *b); /* OPENSSL_cleanse then free: for secrets */
/* Append everything left in `f`. Returns 0, or -1 with errno set: EFBIG
 * past the buffer's max, ENOMEM, or the read error. */
int ob_buf_read(struct ob_buf *b, FILE *f);

/* --- digests and HMAC (OpenSSL 3 EVP) ------------------------------- */

enum ob_digest { OB_MD5 = 1, OB_SHA1, OB_SHA256, OB_SM3 };

#define OB_DIGEST_MAX 64

/* Bytes of a digest: 16, 20, 32, 32. */
size_t ob_digest_size(enum ob_digest alg);

/* out holds OB_DIGEST_MAX bytes; *out_len gets the digest size. */
int ob_digest(enum ob_digest alg, const void *data, size_t len, unsigned char *out,
              size_t *out_len);
int ob_hmac(enum ob_digest alg, const void *key, size_t key_len, const void *data, size_t len,
            unsigned char *out, size_t *out_len);

/* SHA-256 of `len` bytes as 64 lower-case hex chars + NUL into out[65]. */
int ob_sha256_hex(const void *data, size_t len, char out[65]);

/* --- ciphers (OpenSSL 3 EVP) ----------------------------------------- */

enum ob_cipher {
    OB_AES_128_ECB = 1, OB_AES_256_ECB,
    OB_AES_128_CBC, OB_AES_256_CBC,
    OB_AES_128_GCM, OB_AES_256_GCM,
    OB_SM4_ECB, OB_SM4_CBC,
};

/*
 * Encrypt `in` and append the result to `out`. ECB and CBC use PKCS#7
 * padding; CBC needs a 16-byte iv. GCM needs an iv (12 bytes usual), takes
 * optional aad, and appends the 16-byte tag after the ciphertext. The key
 * length must match the cipher (16 or 32 bytes).
 */
int ob_encrypt(enum ob_cipher cipher, const unsigned char *key, size_t key_len,
               const unsigned char *iv, size_t iv_len, const void *aad, size_t aad_len,
               const void *in, size_t in_len, struct ob_buf *out);
/* The inverse; for GCM `in` ends with the tag and a wrong tag fails. */
int ob_decrypt(enum ob_cipher cipher, const unsigned char *key, size_t key_len,
               const unsigned char *iv, size_t iv_len, const void *aad, size_t aad_len,
               const void *in, size_t in_len, struct ob_buf *out);

/* --- RSA signatures ---------------------------------------------------- */

/* RSASSA-PKCS1-v1_5 with SHA-256; keys in PEM (PKCS#8 or PKCS#1). */
int ob_rsa_sha256_sign(const char *private_key_pem, const void *data, size_t len,
                       struct ob_buf *signature);
/* 1 valid, 0 invalid, -1 error (unreadable key). */
int ob_rsa_sha256_verify(const char *public_key_pem, const void *data, size_t len,
                         const unsigned char *signature, size_t signature_len);

/*
 * The HTTP layer of an answer, the same for every warehouse: no answer
 * (timeout, reset) and 408/429/5xx are RETRY (with the Retry-After the
 * warehouse sent), any other non-2xx is PERMANENT with the status and the
 * start of the body as its reason. Returns 1 when that decides, 0 for a
 * 2xx, whose body the adapter reads (a business error inside a 200).
 */
int ob_outcome_from_http(const struct ob_response *resp, struct ob_outcome *out);

/* --- encodings --------------------------------------------------------- */

int ob_base64_encode(const void *in, size_t len, struct ob_buf *out);
/* Standard alphabet with padding; whitespace is refused. */
int ob_base64_decode(const char *in, size_t len, struct ob_buf *out);

/* Hex of `len` bytes into `out`, which holds 2*len+1 bytes. */
void ob_hex_lower(const unsigned char *in, size_t len, char *out);
void ob_hex_upper(const unsigned char *in, size_t len, char *out);
int ob_hex_decode(const char *in, size_t len, struct ob_buf *out);

enum ob_url_flavour {
    OB_URL_RFC3986 = 1, /* unreserved A-Z a-z 0-9 - . _ ~ kept; space -> %20 */
    OB_URL_JAVA,        /* java.net.URLEncoder: A-Z a-z 0-9 . - * _ kept; space -> +;
                           ~ -> %7E */
};

/* Percent-encode UTF-8 bytes with upper-case hex. */
int ob_url_encode(const char *in, size_t len, enum ob_url_flavour flavour, struct ob_buf *out);

/* --- parameters: form bodies and canonical strings --------------------- */

struct ob_param {
    char *key;
    char *value;
};

struct ob_params {
    struct ob_param *items;
    size_t n, cap;
};

int ob_params_add(struct ob_params *p, const char *key, const char *value);
/* Sort by key in byte order (stable for equal keys). */
void ob_params_sort(struct ob_params *p);
/* key=value&key=value, both sides URL-encoded in `flavour`. */
int ob_params_form(const struct ob_params *p, enum ob_url_flavour flavour, struct ob_buf *out);
/* key + kv_sep + value, joined by pair_sep, raw (not encoded), skipping
 * `skip_key` when non-NULL: "k1v1k2v2" with "" and "" (TOP/Qimen signs). */
int ob_params_concat(const struct ob_params *p, const char *kv_sep, const char *pair_sep,
                     const char *skip_key, struct ob_buf *out);
void ob_params_free(struct ob_params *p);

/* --- XML writing (libxml2), escaped ------------------------------------ */

struct ob_xml;

struct ob_xml *ob_xml_new(void);
int ob_xml_start(struct ob_xml *x, const char *name);
int ob_xml_end(struct ob_xml *x);
/* <name>text</name>, text escaped; NULL text writes <name/>. */
int ob_xml_element(struct ob_xml *x, const char *name, const char *text);
/* Close open elements and append the document to `out`, with an
 * <?xml version="1.0" encoding="UTF-8"?> declaration when asked. */
int ob_xml_finish(struct ob_xml *x, int declaration, struct ob_buf *out);
void ob_xml_free(struct ob_xml *x);

/* --- XML reading (libxml2), for input that may be hostile ---------------- */

struct _xmlDoc; /* libxml2's xmlDoc */

#define OB_XML_READ_MAX (4u * 1024 * 1024) /* bytes */
#define OB_XML_MAX_DEPTH 64                 /* elements nested */

/*
 * Parse a document a warehouse or a caller sent: the one way adapters read
 * XML. Refused, with the reason in errstr: more than OB_XML_READ_MAX bytes,
 * a NUL byte (UTF-16 and binary), any DTD or entity declaration ("<!DOCTYPE"
 * or "<!ENTITY" anywhere: so no entity expands, however nested, and nothing
 * external is named), elements nested deeper than OB_XML_MAX_DEPTH, and
 * anything not well-formed. Never reads the network or a file. Returns the
 * document (the caller frees it with xmlFreeDoc()), or NULL.
 */
struct _xmlDoc *ob_xml_read(const void *data, size_t len, char *errstr, size_t errstr_size);

/* --- time -------------------------------------------------------------- */

int64_t ob_time_now_ms(void); /* epoch milliseconds */

/*
 * Format epoch ms with a Java-style pattern (yyyy MM dd HH mm ss SSS; other
 * characters are literal, '...' quotes) in time zone `tz`: "UTC", "Z", a
 * fixed offset "+08:00", or an IANA name without daylight saving time
 * ("Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore",
 * "Asia/Tokyo", "Asia/Seoul"). Thread-safe (no TZ environment changes).
 * (Letters are pattern letters as in Java: yyyy yy MM M dd d HH H mm m ss s
 * SSS; any other unquoted ASCII letter or width is refused, -1, rather than
 * copied: "YYYY" or "hh" would otherwise pass silently. Years 1..9999.)
 */
int ob_time_format(int64_t epoch_ms, const char *tz, const char *pattern, char *out,
                   size_t out_size);

/* The inverse of ob_time_format() for the same patterns and zones: the
 * text must match the pattern whole ("M", "d", ... take one or two digits,
 * "MM" exactly two). Returns 0 with *epoch_ms, or -1 (bad shape, bad date
 * such as 02-30, unknown zone). */
int ob_time_parse(const char *text, const char *tz, const char *pattern, int64_t *epoch_ms);

/* RFC 3339 ("2026-11-11T10:00:00Z", "...T10:00:00.5+08:00") to epoch ms;
 * digits past milliseconds are dropped. Returns 0, or -1. */
int ob_time_parse_rfc3339(const char *text, int64_t *epoch_ms);

/* `len` cryptographically random bytes (OpenSSL's RAND), for IVs and nonces. */
int ob_random_bytes(void *out, size_t len);

/* RFC 4122 version 4 UUID, lower case, into out[37]. */
int ob_uuid4(char out[37]);

/* --- money: decimal strings, never floats ------------------------------ */

/* "599.00", "1.5", "-0.01" -> minor units (fen); -1 on a bad shape or overflow. */
int ob_money_parse(const char *text, int64_t *minor);
/* Minor units -> "599.00" (two decimals) into out[32]. */
void ob_money_format(int64_t minor, char out[32]);

/* Arithmetic on minor units that refuses to overflow: each returns 0 with
 * *out, or -1 when the exact result does not fit in int64_t (an order with
 * such amounts is refused: "out of range"), *out then untouched.
 * ob_money_div_round divides by n > 0, rounding half away from zero (the
 * way a price per unit is rounded to the fen); n <= 0 is -1. */
int ob_money_add(int64_t a, int64_t b, int64_t *out);
int ob_money_sub(int64_t a, int64_t b, int64_t *out);
int ob_money_mul(int64_t a, int64_t n, int64_t *out);
int ob_money_div_round(int64_t a, int64_t n, int64_t *out);

/* --- strings ----------------------------------------------------------- */

/* printf into a fixed buffer, always NUL-terminated, truncating. */
void ob_strlcpyf(char *dst, size_t size, const char *fmt, ...) OB_PRINTF(3, 4);

/* --- status after the push: callbacks, polls (sdk/webhook.c) --------- */

/* The first header of a callback request named `name` (case-insensitive),
 * or NULL. The string belongs to the request. */
const char *ob_callback_header(const struct ob_callback_request *req, const char *name);

/* Copy `src` into dst[size], always NUL-terminated, cut at a UTF-8
 * character boundary so a cut never leaves half a character (the fixed
 * fields of struct ob_status_update). Returns 0 when it all fit, 1 when it
 * was cut. */
int ob_strlcpy_utf8(char *dst, size_t size, const char *src);

/* A raw query string ("a=1&b=x%20y+z", without '?'; NULL or "" has none)
 * into `p`, keys and values percent-decoded with '+' as a space (HTML forms,
 * java.net.URLDecoder), in the order given. Returns 0, or -1 on a pair
 * without '=' or with an empty key, a bad %-escape, a decoded NUL, a
 * repeated key, more than `max` pairs, or out of memory; `p` may then hold
 * the pairs before the fault (ob_params_free() it either way). */
int ob_params_parse_query(const char *query, size_t max, struct ob_params *p);

/* Which entries of a warehouse's status history (a poll answer) fit in
 * `max` updates: the oldest unmapped entries go first, then the oldest of
 * the rest (most likely emitted already). Init with the number of entries
 * and how many of them map to no status, then ask for each entry, oldest
 * first: 1 keep it, 0 drop it. At most `max` are kept. */
struct ob_history_fit {
    size_t drop_unmapped, drop_oldest;
};
void ob_history_fit_init(struct ob_history_fit *f, size_t n, size_t unmapped, size_t max);
int ob_history_fit_keep(struct ob_history_fit *f, int unmapped);

/* --- JSON written straight into a buffer ------------------------------ */

/*
 * A compact JSON document appended to an ob_buf as it is written, members in
 * the order written, with jansson's escapes (the bytes json_dumps gives with
 * JSON_COMPACT). Bytes of a string that are not UTF-8 become '?'. Errors are
 * sticky (the buffer's): check once with ob_json_done().
 *
 *     ob_json_init(&w, &buf);
 *     ob_json_object_open(&w);
 *     ob_json_key(&w, "id");   ob_json_string(&w, order->order_id);
 *     ob_json_key(&w, "qty");  ob_json_int(&w, 3);
 *     ob_json_object_close(&w);
 *     if (ob_json_done(&w) != 0) ...
 */
#define OB_JSON_MAX_DEPTH 64
struct ob_json {
    struct ob_buf *out;
    unsigned depth;
    int first;     /* nothing written yet in the open container */
    int after_key; /* a key is waiting for its value */
};
void ob_json_init(struct ob_json *w, struct ob_buf *out);
void ob_json_object_open(struct ob_json *w);
void ob_json_object_close(struct ob_json *w);
void ob_json_array_open(struct ob_json *w);
void ob_json_array_close(struct ob_json *w);
void ob_json_key(struct ob_json *w, const char *key);
void ob_json_string(struct ob_json *w, const char *s); /* NULL: null */
void ob_json_int(struct ob_json *w, int64_t v);
void ob_json_bool(struct ob_json *w, int v);
/* 0 when the document is whole and every append succeeded, else -1. */
int ob_json_done(const struct ob_json *w);

#ifdef __cplusplus
}
#endif
#endif
