/*
 * redact.c — see redact.h.
 *
 * The registry is small (a few dozen credentials, four forms each) and read
 * far more often than written (at config load), so a read-write lock and a
 * plain scan: a log line of a few hundred bytes against a hundred forms is
 * microseconds, and lines at the default level are rare.
 */
#include "redact.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <orderbridge/sdk.h>

#define MAX_FORMS 512
#define MAX_SECRET_BYTES 65536

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static struct ob_buf forms[MAX_FORMS];
static size_t n_forms;

/* A form already registered (the same secret twice, or a secret whose
 * base64 equals another's raw form) is not stored again. */
static int known(const struct ob_buf *b)
{
    for (size_t i = 0; i < n_forms; i++)
        if (forms[i].len == b->len && memcmp(forms[i].data, b->data, b->len) == 0)
            return 1;
    return 0;
}

int ob_redact_add(const char *secret)
{
    size_t len = secret ? strlen(secret) : 0;
    struct ob_buf cand[4];
    int rc = 0;

    if (len < OB_REDACT_MIN)
        return 1;
    if (len > MAX_SECRET_BYTES)
        return -1;
    for (int f = 0; f < 4; f++)
        ob_buf_init(&cand[f], 4 * MAX_SECRET_BYTES);
    ob_buf_append(&cand[0], secret, len);
    ob_url_encode(secret, len, OB_URL_RFC3986, &cand[1]);
    ob_url_encode(secret, len, OB_URL_JAVA, &cand[2]);
    ob_base64_encode(secret, len, &cand[3]);

    pthread_rwlock_wrlock(&lock);
    for (int f = 0; f < 4; f++) {
        if (cand[f].failed || cand[f].len == 0) {
            rc = -1;
            continue;
        }
        if (known(&cand[f])) {
            ob_buf_cleanse(&cand[f]);
            continue;
        }
        if (n_forms == MAX_FORMS) {
            rc = -1;
            continue;
        }
        forms[n_forms++] = cand[f];
        ob_buf_init(&cand[f], 0); /* moved */
    }
    pthread_rwlock_unlock(&lock);
    for (int f = 0; f < 4; f++)
        ob_buf_cleanse(&cand[f]);
    return rc;
}

size_t ob_redact(char *text)
{
    size_t len = strlen(text), o = 0, i = 0;
    const size_t mask_len = sizeof(OB_REDACT_MASK) - 1;

    pthread_rwlock_rdlock(&lock);
    if (n_forms == 0) {
        pthread_rwlock_unlock(&lock);
        return len;
    }
    while (i < len) {
        size_t hit = 0;
        for (size_t f = 0; f < n_forms && !hit; f++) {
            size_t n = forms[f].len;
            if (n <= len - i && forms[f].data[0] == text[i] &&
                memcmp(text + i, forms[f].data, n) == 0)
                hit = n;
        }
        if (hit) {
            /* every form is at least OB_REDACT_MIN >= mask_len bytes */
            memcpy(text + o, OB_REDACT_MASK, mask_len);
            o += mask_len;
            i += hit;
        } else {
            text[o++] = text[i++];
        }
    }
    pthread_rwlock_unlock(&lock);
    text[o] = '\0';
    return o;
}

/* Can this byte continue a word, a host name or an encoded value? */
static int word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c >= 0x80 || (c != '\0' && strchr("-_.~%+", c) != NULL);
}

char *ob_redact_value(const char *text, size_t len, const char *secret, size_t *out_len)
{
    size_t slen = secret ? strlen(secret) : 0, i = 0;
    int anywhere = slen >= OB_REDACT_ANYWHERE;
    unsigned char prev = '\0'; /* the byte before text[i] */
    struct ob_buf form[4], out;

    for (int f = 0; f < 4; f++)
        ob_buf_init(&form[f], 4 * MAX_SECRET_BYTES);
    ob_buf_init(&out, 4 * len + 64); /* a 1-byte secret becomes the 4-byte mask */
    if (slen > 0 && slen <= MAX_SECRET_BYTES) {
        ob_buf_append(&form[0], secret, slen);
        ob_url_encode(secret, slen, OB_URL_RFC3986, &form[1]);
        ob_url_encode(secret, slen, OB_URL_JAVA, &form[2]);
        ob_base64_encode(secret, slen, &form[3]);
    }
    while (i < len) {
        size_t hit = 0;
        for (int f = 0; f < 4 && !hit; f++) {
            size_t n = form[f].len;
            if (!form[f].failed && n && n <= len - i && memcmp(text + i, form[f].data, n) == 0 &&
                (anywhere || (!word_byte(prev) &&
                              (i + n == len || !word_byte((unsigned char)text[i + n])))))
                hit = n;
        }
        if (hit) {
            ob_buf_append(&out, OB_REDACT_MASK, sizeof(OB_REDACT_MASK) - 1);
            prev = (unsigned char)text[i + hit - 1];
            i += hit;
        } else {
            ob_buf_append(&out, text + i, 1);
            prev = (unsigned char)text[i++];
        }
    }
    for (int f = 0; f < 4; f++)
        ob_buf_cleanse(&form[f]);
    return ob_buf_steal(&out, out_len); /* NULL, cleansed, when it failed */
}

char *ob_redact_dup(const char *text)
{
    char *copy = text ? strdup(text) : NULL;

    if (copy)
        ob_redact(copy);
    return copy;
}

void ob_redact_clear(void)
{
    pthread_rwlock_wrlock(&lock);
    for (size_t i = 0; i < n_forms; i++)
        ob_buf_cleanse(&forms[i]);
    n_forms = 0;
    pthread_rwlock_unlock(&lock);
}
