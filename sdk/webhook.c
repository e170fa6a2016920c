/* webhook.c — helpers for reading the status callbacks warehouses send. */
#include <orderbridge/sdk.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *ob_callback_header(const struct ob_callback_request *req, const char *name)
{
    if (!req || !name)
        return NULL;
    for (size_t i = 0; i < req->n_headers; i++)
        if (req->headers[i].name && strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value ? req->headers[i].value : "";
    return NULL;
}

/*
 * A cut in the middle of a multi-byte character would leave invalid UTF-8
 * in a status event (warehouses send Chinese remarks): back up to the start
 * of the character instead. Only the cut is checked; invalid input stays as
 * it was.
 */
int ob_strlcpy_utf8(char *dst, size_t size, const char *src)
{
    size_t len;

    if (!dst || size == 0)
        return 1;
    if (!src)
        src = "";
    len = strlen(src);
    if (len < size) {
        memcpy(dst, src, len + 1);
        return 0;
    }
    len = size - 1;
    while (len > 0 && ((unsigned char)src[len] & 0xC0) == 0x80)
        len--;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return 1;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* `len` bytes of a query component, decoded, malloc()ed; NULL on a bad
 * escape, a decoded NUL or out of memory. */
static char *decode_component(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    size_t o = 0;

    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%') {
            int hi = len - i >= 3 ? hex_value(s[i + 1]) : -1;
            int lo = len - i >= 3 ? hex_value(s[i + 2]) : -1;

            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

int ob_params_parse_query(const char *query, size_t max, struct ob_params *p)
{
    const char *s = query ? query : "";

    while (*s) {
        size_t len = strcspn(s, "&");
        const char *eq = memchr(s, '=', len);
        char *key = NULL, *value = NULL;
        int rc = -1;

        if (len > 0) {
            if (!eq || eq == s || p->n >= max)
                return -1;
            key = decode_component(s, (size_t)(eq - s));
            value = decode_component(eq + 1, len - (size_t)(eq - s) - 1);
            if (key && value && *key) {
                rc = 0;
                for (size_t i = 0; i < p->n && rc == 0; i++)
                    if (strcmp(p->items[i].key, key) == 0)
                        rc = -1;
                if (rc == 0)
                    rc = ob_params_add(p, key, value);
            }
            free(key);
            free(value);
            if (rc != 0)
                return -1;
        }
        s += len + (s[len] == '&');
    }
    return 0;
}

void ob_history_fit_init(struct ob_history_fit *f, size_t n, size_t unmapped, size_t max)
{
    size_t over = n > max ? n - max : 0;

    f->drop_unmapped = over < unmapped ? over : unmapped;
    f->drop_oldest = over - f->drop_unmapped;
}

int ob_history_fit_keep(struct ob_history_fit *f, int unmapped)
{
    if (unmapped && f->drop_unmapped > 0) {
        f->drop_unmapped--;
        return 0;
    }
    if (f->drop_oldest > 0) {
        f->drop_oldest--;
        return 0;
    }
    return 1;
}
