/* buf.c — growable byte buffers that never grow past a fixed maximum. */
#include <orderbridge/sdk.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

void ob_buf_init(struct ob_buf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

/*
 * Make room for `extra` more bytes plus the NUL. Growing moves the bytes to
 * a new block and cleanses the old one instead of realloc(): a buffer may
 * hold a secret, and ob_buf_cleanse() can only wipe the block it still has.
 * Marks the buffer failed when the maximum or memory runs out.
 */
static int reserve(struct ob_buf *b, size_t extra)
{
    size_t need, cap;
    char *data;

    if (b->failed)
        return -1;
    if (extra > b->max || b->len > b->max - extra) {
        b->failed = 1;
        return -1;
    }
    need = b->len + extra + 1;
    if (b->data && need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 512; /* a request body or a status event in one go */
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    /* never allocate much beyond what the maximum can use */
    if (b->max < SIZE_MAX && cap > b->max + 1)
        cap = b->max + 1;
    data = malloc(cap);
    if (!data) {
        b->failed = 1;
        return -1;
    }
    if (b->data) {
        memcpy(data, b->data, b->len);
        OPENSSL_cleanse(b->data, b->cap);
        free(b->data);
    }
    data[b->len] = '\0';
    b->data = data;
    b->cap = cap;
    return 0;
}

int ob_buf_append(struct ob_buf *b, const void *data, size_t len)
{
    if (reserve(b, len) != 0)
        return -1;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int ob_buf_appends(struct ob_buf *b, const char *str)
{
    return ob_buf_append(b, str, strlen(str));
}

int ob_buf_printf(struct ob_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->failed)
        return -1;
    /* measure first, so the maximum is checked before anything is written */
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return -1;
    }
    if (reserve(b, (size_t)n) != 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

char *ob_buf_steal(struct ob_buf *b, size_t *len)
{
    char *data = NULL;

    if (len)
        *len = 0;
    if (b->failed) {
        /* what is left is a truncated prefix of something, maybe a secret */
        ob_buf_cleanse(b);
        return NULL;
    }
    if (!b->data && reserve(b, 0) != 0) { /* nothing appended: hand out "" */
        ob_buf_reset(b);
        return NULL;
    }
    data = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    ob_buf_reset(b);
    return data;
}

void ob_buf_reset(struct ob_buf *b)
{
    size_t max = b->max;

    free(b->data);
    ob_buf_init(b, max);
}

void ob_buf_cleanse(struct ob_buf *b)
{
    if (b->data)
        OPENSSL_cleanse(b->data, b->cap);
    ob_buf_reset(b);
}

int ob_buf_read(struct ob_buf *b, FILE *f)
{
    char chunk[16384];

    for (;;) {
        size_t n = fread(chunk, 1, sizeof(chunk), f);
        if (n > 0 && ob_buf_append(b, chunk, n) != 0) {
            OPENSSL_cleanse(chunk, sizeof(chunk));
            errno = b->len + n > b->max ? EFBIG : ENOMEM;
            return -1;
        }
        if (n < sizeof(chunk))
            break;
    }
    OPENSSL_cleanse(chunk, sizeof(chunk)); /* the file may hold a secret */
    if (ferror(f)) {
        if (!errno)
            errno = EIO;
        return -1;
    }
    return ob_buf_append(b, "", 0); /* an empty file still gives data */
}
