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

/* --- encodings and digests --- */

/* Lower-case hex of `len` bytes into `out`, which holds 2*len+1 bytes. */
void ob_hex_lower(const unsigned char *in, size_t len, char *out);

/* SHA-256 of `len` bytes as 64 lower-case hex chars + NUL into out[65]. */
int ob_sha256_hex(const void *data, size_t len, char out[65]);

/* printf into a fixed buffer, always NUL-terminated, truncating. */
void ob_strlcpyf(char *dst, size_t size, const char *fmt, ...) OB_PRINTF(3, 4);

#ifdef __cplusplus
}
#endif
#endif
