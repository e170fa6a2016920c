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

#include <orderbridge/adapter.h>

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

#endif
