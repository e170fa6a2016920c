/*
 * support.h — small helpers shared by the cmocka unit tests. Include after
 * <cmocka.h> and the project headers. All static inline: a test that does
 * not use one pays nothing and gets no warning.
 */
#ifndef OB_TEST_SUPPORT_H
#define OB_TEST_SUPPORT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <orderbridge/adapter.h>

#include "adapter.h" /* the bridge's loader: ob_adapter_open() */
#include "config.h"
#include "order.h"

/* JSON written with single quotes for readability: 'a' -> "a". Returns a
 * static buffer, valid until the next call. */
static inline const char *J(const char *text)
{
    static char doc[16384];
    size_t n = strlen(text);
    assert_true(n < sizeof doc);
    for (size_t i = 0; i <= n; i++)
        doc[i] = text[i] == '\'' ? '"' : text[i];
    return doc;
}

static inline void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle)) {
        print_error("expected to find\n  %s\nin\n  %s\n", needle, haystack);
        fail();
    }
}

/* The whole file, NUL-terminated, malloc()ed; NULL when unreadable. */
static inline char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = (size_t)n;
    }
    return buf;
}

static inline struct ob_parsed_order *parse_order(const char *text, size_t len)
{
    struct ob_parsed_order *po = NULL;
    struct ob_order_problem problem;

    if (ob_order_parse(text, len, 1 << 20, &po, &problem) != 0) {
        print_error("order does not parse: %s\n", problem.message);
        return NULL;
    }
    return po;
}

/* The value of the request header `name`, which must appear at most once. */
static inline const char *req_header(const struct ob_request *req, const char *name)
{
    const char *found = NULL;
    for (size_t i = 0; i < req->n_headers; i++) {
        if (strcmp(req->headers[i].name, name) == 0) {
            assert_null(found); /* exactly once */
            found = req->headers[i].value;
        }
    }
    return found;
}

/* Everything written to stderr while `fn` runs, NUL-terminated. */
static inline char *capture_stderr(void (*fn)(void *), void *arg)
{
    char path[] = "/tmp/ob-test-redact-XXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    size_t len = 0;
    char *text;

    assert_true(fd >= 0 && saved >= 0);
    fflush(stderr);
    dup2(fd, 2);
    fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    text = read_file(path, &len);
    unlink(path);
    assert_non_null(text);
    return text;
}

/* The quadratic blowup of issue 10: a DTD declaring one `ent`-byte entity
 * (&q;, "QQQ..."), then `head`, `refs` references to it and `tail`. 40 KB
 * referenced 40,000 times is 160 KB that expands to 1.6 GB. malloc()ed,
 * NUL-terminated, length in *len. */
static inline char *quadratic_xml(const char *head, const char *tail, size_t ent, size_t refs,
                                  size_t *len)
{
    size_t cap = ent + refs * 3 + strlen(head) + strlen(tail) + 64, o = 0;
    char *doc = malloc(cap);

    assert_non_null(doc);
    o += (size_t)snprintf(doc, cap, "<!DOCTYPE r [<!ENTITY q \"");
    memset(doc + o, 'Q', ent);
    o += ent;
    o += (size_t)snprintf(doc + o, cap - o, "\">]>%s", head);
    for (size_t i = 0; i < refs; i++)
        o += (size_t)snprintf(doc + o, cap - o, "&q;");
    o += (size_t)snprintf(doc + o, cap - o, "%s", tail);
    *len = o;
    return doc;
}

/* Parse the config `json` into *cfg and open the adapter of warehouse
 * codes[i] into *insts[i], for n warehouses (OB_ADAPTER_PATH is cleared
 * first: the build's adapters are found). 0, or -1 after printing why. */
static inline int open_adapters(const char *json, struct ob_config **cfg,
                                const char *const *codes,
                                struct ob_adapter_instance **const *insts, size_t n)
{
    char err[2048];

    unsetenv("OB_ADAPTER_PATH");
    if (ob_config_parse(json, strlen(json), NULL, cfg, err, sizeof err) != 0) {
        print_error("config: %s\n", err);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (ob_adapter_open(*cfg, ob_config_warehouse(*cfg, codes[i]), insts[i], err,
                            sizeof err) != 0) {
            print_error("adapter %s: %s\n", codes[i], err);
            return -1;
        }
    }
    return 0;
}

/* Close what open_adapters() opened. */
static inline void close_adapters(struct ob_config *cfg, struct ob_adapter_instance *const *insts,
                                  size_t n)
{
    for (size_t i = 0; i < n; i++)
        ob_adapter_close(insts[i]);
    ob_config_destroy(cfg);
}

#endif
