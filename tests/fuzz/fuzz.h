/*
 * fuzz.h — what the fuzz targets (tests/fuzz/fuzz_<name>.c) share: every
 * adapter loaded through the real loader and configured with test
 * credentials, the example order, and a small text format for HTTP-like
 * inputs. Each target defines LLVMFuzzerInitialize() and
 * LLVMFuzzerTestOneInput(); with OB_FUZZ libFuzzer drives them, without it
 * replay.c replays the corpus (a plain CTest program).
 *
 * A broken invariant is reported with fuzz_fail(), which aborts: libFuzzer
 * and CTest both count that as a crash.
 */
#ifndef OB_FUZZ_H
#define OB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <orderbridge/adapter.h>

#include "adapter.h"
#include "order.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#if defined(__GNUC__)
#define FUZZ_NORETURN __attribute__((noreturn, format(printf, 1, 2)))
#else
#define FUZZ_NORETURN
#endif

/* Print "fuzz: <message>" and abort(). */
void fuzz_fail(const char *fmt, ...) FUZZ_NORETURN;

/* A Kafka record as an input: its key, a newline, then its value (no
 * newline: no value, a tombstone). */
struct fuzz_record {
    const char *key;
    size_t key_len;
    const uint8_t *value; /* NULL: a tombstone */
    size_t value_len;
};

static inline struct fuzz_record fuzz_record_split(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t key_len = nl ? (size_t)(nl - data) : size;

    return (struct fuzz_record){(const char *)data, key_len, nl ? nl + 1 : NULL,
                                nl ? size - key_len - 1 : 0};
}

/* ---- the warehouses (harness.c) ------------------------------------------ */

/* One warehouse per adapter, the mapping adapter three times (a JSON body
 * with answer rules; encrypted fields and an HMAC header; an XML body). */
enum fuzz_wh {
    FUZZ_REST,
    FUZZ_MAPPING_JSON,
    FUZZ_MAPPING_CRYPT,
    FUZZ_MAPPING_XML,
    FUZZ_SF_EXPRESS,
    FUZZ_CAINIAO,
    FUZZ_QIMEN,
    FUZZ_EMS,
    FUZZ_N_WH,
};

/* The test secrets, as the warehouses would hold them. */
#define FUZZ_REST_WEBHOOK_KEY_B64 "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define FUZZ_REST_WEBHOOK_SECRET "whsec_" FUZZ_REST_WEBHOOK_KEY_B64
#define FUZZ_QIMEN_APP_KEY "23456789"
#define FUZZ_QIMEN_SECRET "qm-s3cr3t-5e7a9c"
#define FUZZ_QIMEN_CUSTOMER "c1702345678"
#define FUZZ_SF_CALLBACK_TOKEN "sf-cb-t0ken-5d41402abc4b2a76"

/* Parse the config and open every adapter (once; later calls do nothing).
 * Aborts when that fails: the target would test nothing. */
void fuzz_open_adapters(void);

/* The instance serving `wh`, after fuzz_open_adapters(). */
struct ob_adapter_instance *fuzz_adapter(enum fuzz_wh wh);
const char *fuzz_wh_name(enum fuzz_wh wh);

/* A delivery to `wh` of attempt 1. */
struct ob_delivery fuzz_delivery(enum fuzz_wh wh);

/* contracts/example-order.json, decoded (aborts when it cannot be). */
const struct ob_parsed_order *fuzz_example_order(void);

/* The whole file, NUL-terminated, malloc()ed; NULL when unreadable. */
char *fuzz_read_file(const char *path, size_t *len);

/* Abort unless `s` has a NUL within `size` bytes (a fixed output field). */
void fuzz_check_terminated(const char *what, const char *s, size_t size);
#define FUZZ_CHECK_FIELD(what, field) fuzz_check_terminated(what, field, sizeof(field))

/* ---- HTTP-like inputs --------------------------------------------------- */

/*
 * An input split as "line\nline\n...\n\nbody": the lines before the first
 * empty line, then the body, byte for byte. A line's trailing '\r' is
 * dropped. Each line and the body are separate malloc()ed copies of their
 * exact size plus a NUL, so a read past the end is caught by ASan.
 */
#define FUZZ_MAX_LINES 24

struct fuzz_message {
    char *lines[FUZZ_MAX_LINES];
    size_t n_lines;
    char *body; /* never NULL */
    size_t body_len;
};

void fuzz_message_parse(const uint8_t *data, size_t size, struct fuzz_message *m);
void fuzz_message_free(struct fuzz_message *m);

/* Split "Name: value" in place into *h (value without leading blanks).
 * Returns 0, or -1 for a line without ':' (h untouched). */
int fuzz_header(char *line, struct ob_header *h);

#endif
