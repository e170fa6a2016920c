/* params.c — key/value parameters: form bodies and the canonical strings
 * warehouse APIs sign. */
#include <orderbridge/sdk.h>

#include <stdlib.h>
#include <string.h>

int ob_params_add(struct ob_params *p, const char *key, const char *value)
{
    struct ob_param item;

    if (!key || !value)
        return -1;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        struct ob_param *items;

        if (cap > SIZE_MAX / sizeof(*items))
            return -1;
        items = realloc(p->items, cap * sizeof(*items));
        if (!items)
            return -1;
        p->items = items;
        p->cap = cap;
    }
    item.key = strdup(key);
    item.value = strdup(value);
    if (!item.key || !item.value) {
        free(item.key);
        free(item.value);
        return -1;
    }
    p->items[p->n++] = item;
    return 0;
}

/*
 * Binary insertion sort: stable (an equal key goes after the ones already
 * placed, so repeated keys keep their order, which signatures depend on),
 * needs no memory, and O(n log n) comparisons for the few dozen parameters
 * a request has. strcmp() compares as unsigned char: byte order.
 */
void ob_params_sort(struct ob_params *p)
{
    for (size_t i = 1; i < p->n; i++) {
        struct ob_param item = p->items[i];
        size_t lo = 0, hi = i;

        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;

            if (strcmp(p->items[mid].key, item.key) <= 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < i) {
            memmove(&p->items[lo + 1], &p->items[lo], (i - lo) * sizeof(item));
            p->items[lo] = item;
        }
    }
}

int ob_params_form(const struct ob_params *p, enum ob_url_flavour flavour, struct ob_buf *out)
{
    if (ob_buf_append(out, "", 0) != 0)
        return -1;
    for (size_t i = 0; i < p->n; i++) {
        const struct ob_param *it = &p->items[i];

        if ((i > 0 && ob_buf_append(out, "&", 1) != 0) ||
            ob_url_encode(it->key, strlen(it->key), flavour, out) != 0 ||
            ob_buf_append(out, "=", 1) != 0 ||
            ob_url_encode(it->value, strlen(it->value), flavour, out) != 0)
            return -1;
    }
    return 0;
}

int ob_params_concat(const struct ob_params *p, const char *kv_sep, const char *pair_sep,
                     const char *skip_key, struct ob_buf *out)
{
    int first = 1;

    if (!kv_sep)
        kv_sep = "";
    if (!pair_sep)
        pair_sep = "";
    if (ob_buf_append(out, "", 0) != 0)
        return -1;
    for (size_t i = 0; i < p->n; i++) {
        const struct ob_param *it = &p->items[i];

        if (skip_key && strcmp(it->key, skip_key) == 0)
            continue;
        if ((!first && ob_buf_appends(out, pair_sep) != 0) || ob_buf_appends(out, it->key) != 0 ||
            ob_buf_appends(out, kv_sep) != 0 || ob_buf_appends(out, it->value) != 0)
            return -1;
        first = 0;
    }
    return 0;
}

void ob_params_free(struct ob_params *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->items[i].key);
        free(p->items[i].value);
    }
    free(p->items);
    memset(p, 0, sizeof(*p));
}
