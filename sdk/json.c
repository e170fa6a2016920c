/*
 * json.c — a JSON document written straight into an ob_buf (see sdk.h).
 *
 * Compact, members in the order written, escapes as jansson's json_dumps
 * (so that a body is byte for byte what json_dumps(JSON_COMPACT) gives for
 * the same members). Bytes that are not UTF-8 become '?', one each: the
 * document is always valid JSON.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <orderbridge/sdk.h>

void ob_json_init(struct ob_json *w, struct ob_buf *out)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
    w->first = 1;
}

/* Before a value or a key: the comma, unless first in its container or
 * right after its key. */
static void separate(struct ob_json *w)
{
    if (w->after_key)
        w->after_key = 0;
    else if (!w->first)
        ob_buf_append(w->out, ",", 1);
    w->first = 0;
}

static void open_container(struct ob_json *w, char c)
{
    separate(w);
    ob_buf_append(w->out, &c, 1);
    if (w->depth < OB_JSON_MAX_DEPTH)
        w->depth++;
    else
        w->out->failed = 1;
    w->first = 1;
}

static void close_container(struct ob_json *w, char c)
{
    ob_buf_append(w->out, &c, 1);
    if (w->depth > 0)
        w->depth--;
    else
        w->out->failed = 1;
    w->first = 0;
}

void ob_json_object_open(struct ob_json *w)
{
    open_container(w, '{');
}

void ob_json_object_close(struct ob_json *w)
{
    close_container(w, '}');
}

void ob_json_array_open(struct ob_json *w)
{
    open_container(w, '[');
}

void ob_json_array_close(struct ob_json *w)
{
    close_container(w, ']');
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
    size_t n;
    unsigned cp;

    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0)
        n = 2, cp = s[0] & 0x1Fu;
    else if ((s[0] & 0xF0) == 0xE0)
        n = 3, cp = s[0] & 0x0Fu;
    else if ((s[0] & 0xF8) == 0xF0)
        n = 4, cp = s[0] & 0x07u;
    else
        return 0;
    if (n > left)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

static void quote(struct ob_buf *out, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0; /* bytes [i - run, i) go out as they are */

    ob_buf_append(out, "\"", 1);
    while (i < len) {
        unsigned char c = p[i];
        size_t n = c >= 0x20 && c != '"' && c != '\\' ? utf8_seq(p + i, len - i) : 0;
        if (n) {
            i += n;
            run += n;
            continue;
        }
        ob_buf_append(out, s + i - run, run);
        run = 0;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            ob_buf_append(out, esc, 2);
        } else if (c < 0x20) {
            char esc[8];
            const char *named = c == '\b' ? "\\b" : c == '\f' ? "\\f" : c == '\n' ? "\\n"
                              : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
            if (!named)
                snprintf(esc, sizeof(esc), "\\u%04X", c);
            ob_buf_appends(out, named ? named : esc);
        } else {
            ob_buf_append(out, "?", 1); /* not UTF-8 */
        }
        i++;
    }
    ob_buf_append(out, s + i - run, run);
    ob_buf_append(out, "\"", 1);
}

void ob_json_key(struct ob_json *w, const char *key)
{
    separate(w);
    quote(w->out, key, strlen(key));
    ob_buf_append(w->out, ":", 1);
    w->after_key = 1;
}

void ob_json_string(struct ob_json *w, const char *s)
{
    separate(w);
    if (s)
        quote(w->out, s, strlen(s));
    else
        ob_buf_append(w->out, "null", 4);
}

void ob_json_int(struct ob_json *w, int64_t v)
{
    char text[24];
    int n = snprintf(text, sizeof(text), "%" PRId64, v);

    separate(w);
    ob_buf_append(w->out, text, (size_t)n);
}

void ob_json_bool(struct ob_json *w, int v)
{
    separate(w);
    ob_buf_appends(w->out, v ? "true" : "false");
}

int ob_json_done(const struct ob_json *w)
{
    return w->out->failed || w->depth != 0 || w->after_key ? -1 : 0;
}
