/*
 * mapping.c — the declarative mapping engine (see include/orderbridge/mapping.h
 * and docs/mappings.md).
 *
 * A template is parsed once into a tree of nodes (text, value, each, if,
 * include) and rendered per order. Rendering walks the tree with a stack of
 * scopes (the order, then each loop's item) and writes every value through
 * the escaping of the mapping's format, which is what keeps any order field
 * from breaking the document.
 */
#include <orderbridge/mapping.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#define MAX_FILTERS 8
#define MAX_ARGS 2
#define MAX_DEPTH 8          /* nested each blocks */
#define MAX_INCLUDE_DEPTH 4
#define MAX_FILE_BYTES (1024 * 1024)

enum node_kind { N_TEXT, N_VALUE, N_EACH, N_IF, N_INCLUDE };

struct filter {
    const struct filter_def *def;
    char *args[MAX_ARGS];
    int n_args;
};

struct node {
    enum node_kind kind;
    int line;
    struct node *next;
    char *text; /* N_TEXT: literal; N_VALUE/N_EACH/N_IF: the path */
    size_t len;
    struct filter filters[MAX_FILTERS];
    int n_filters;
    char *sep;                 /* N_EACH: written between items */
    struct node *body, *other; /* N_EACH / N_IF bodies; N_IF else */
    struct ob_mapping *included;
};

struct form_line {
    char *key;
    struct node *value;
};

struct ob_mapping {
    enum ob_mapping_format format;
    char *origin;
    struct node *root;
    struct form_line *lines;
    size_t n_lines;
};

/* ---------------------------------------------------------------- values */

enum val_type { V_NULL, V_STR, V_INT, V_BOOL, V_NUMBER };

/* A value flowing through filters: borrowed text or text in `own`. */
struct val {
    enum val_type type;
    const char *s;
    size_t len;
    int64_t i;
    struct ob_buf own;
    int hidden; /* from ctx->variable (a credential, perhaps): never quoted in an error */
};

#define WITHHELD "(value withheld)"

static void val_set_owned(struct val *v, enum val_type type, struct ob_buf *b)
{
    ob_buf_reset(&v->own);
    v->own = *b;
    v->type = type;
    v->s = v->own.data ? v->own.data : "";
    v->len = v->own.len;
    ob_buf_init(b, b->max);
}

/* -------------------------------------------------------------- errors */

static int fail(char *errstr, size_t errstr_size, const char *origin, int line, const char *fmt,
                ...) OB_PRINTF(5, 6);

static int fail(char *errstr, size_t errstr_size, const char *origin, int line, const char *fmt,
                ...)
{
    va_list ap;
    int n = snprintf(errstr, errstr_size, "%s:%d: ", origin, line);

    if (n >= 0 && (size_t)n < errstr_size) {
        va_start(ap, fmt);
        vsnprintf(errstr + n, errstr_size - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ------------------------------------------------------------- filters */

struct render;
typedef int (*filter_fn)(struct render *r, const struct node *n, const struct filter *f,
                         struct val *v);

struct filter_def {
    const char *name;
    int min_args, max_args;
    filter_fn fn;
};

struct render {
    const struct ob_mapping *m;
    const struct ob_mapping_context *ctx;
    const json_t *scopes[MAX_DEPTH + 1];
    size_t index[MAX_DEPTH + 1], count[MAX_DEPTH + 1];
    int depth;
    int include_depth;
    char *errstr;
    size_t errstr_size;
};

#define RFAIL(r, n, ...) fail((r)->errstr, (r)->errstr_size, (r)->m->origin, (n)->line, __VA_ARGS__)

static int f_default(struct render *r, const struct node *n, const struct filter *f, struct val *v)
{
    (void)r;
    (void)n;
    if (v->type == V_NULL || (v->type == V_STR && v->len == 0)) {
        ob_buf_reset(&v->own);
        v->type = V_STR;
        v->s = f->args[0];
        v->len = strlen(f->args[0]);
    }
    return 0;
}

static int f_required(struct render *r, const struct node *n, const struct filter *f, struct val *v)
{
    (void)f;
    if (v->type == V_NULL || (v->type == V_STR && v->len == 0))
        return RFAIL(r, n, "{{ %s }}: required value is missing", n->text);
    return 0;
}

static int f_fen(struct render *r, const struct node *n, const struct filter *f, struct val *v)
{
    char text[64];
    int64_t minor;

    (void)f;
    if (v->type == V_NULL)
        return 0;
    if (v->type != V_STR || v->len >= sizeof(text))
        return RFAIL(r, n, "{{ %s }}: fen needs a decimal money string", n->text);
    memcpy(text, v->s, v->len);
    text[v->len] = '\0';
    if (ob_money_parse(text, &minor) != 0)
        return RFAIL(r, n, "{{ %s }}: \"%s\" is not decimal money", n->text,
                     v->hidden ? WITHHELD : text);
    ob_buf_reset(&v->own);
    v->type = V_INT;
    v->i = minor;
    return 0;
}

static int f_yuan(struct render *r, const struct node *n, const struct filter *f, struct val *v)
{
    char text[64], out[32];
    int64_t minor;
    struct ob_buf b;

    (void)f;
    if (v->type == V_NULL)
        return 0;
    if (v->type == V_INT) {
        minor = v->i;
    } else if (v->type == V_STR && v->len < sizeof(text)) {
        memcpy(text, v->s, v->len);
        text[v->len] = '\0';
        if (ob_money_parse(text, &minor) != 0)
            return RFAIL(r, n, "{{ %s }}: \"%s\" is not decimal money", n->text,
                         v->hidden ? WITHHELD : text);
    } else {
        return RFAIL(r, n, "{{ %s }}: yuan needs fen (an integer) or a money string", n->text);
    }
    ob_money_format(minor, out);
    ob_buf_init(&b, 64);
    ob_buf_appends(&b, out);
    val_set_owned(v, V_STR, &b);
    return 0;
}

static int f_number(struct render *r, const struct node *n, const struct filter *f, struct val *v)
{
    size_t i = 0;

    (void)f;
    if (v->type != V_STR)
        return 0;
    if (i < v->len && v->s[i] == '-')
        i++;
    size_t digits = i;
    while (i < v->len && isdigit((unsigned char)v->s[i]))
        i++;
    if (i == digits)
        goto bad;
    if (i < v->len && v->s[i] == '.') {
        size_t frac = ++i;
        while (i < v->len && isdigit((unsigned char)v->s[i]))
            i++;
        if (i == frac)
            goto bad;
    }
    if (i != v->len)
        goto bad;
    /* JSON numbers have no leading zeros, order.v1 money may ("037.00"):
     * drop them, so the text stays the same amount and the document JSON. */
    size_t zeros = 0;
    while (digits + zeros + 1 < v->len && v->s[digits + zeros] == '0' &&
           isdigit((unsigned char)v->s[digits + zeros + 1]))
        zeros++;
    if (zeros > 0) {
        struct ob_buf b;
        ob_buf_init(&b, v->len);
        ob_buf_append(&b, v->s, digits); /* the sign, if any */
        ob_buf_append(&b, v->s + digits + zeros, v->len - digits - zeros);
        if (b.failed) {
            ob_buf_reset(&b);
            return RFAIL(r, n, "{{ %s }}: out of memory", n->text);
        }
        val_set_owned(v, V_NUMBER, &b);
        return 0;
    }
    v->type = V_NUMBER; /* the decimal text itself: no float on the way */
    return 0;
bad:
    if (v->hidden)
        return RFAIL(r, n, "{{ %s }}: \"" WITHHELD "\" is not a decimal number", n->text);
    return RFAIL(r, n, "{{ %s }}: \"%.*s\" is not a decimal number", n->text, (int)v->len, v->s);
}

static int f_case(struct val *v, int upper)
{
    struct ob_buf b;

    if (v->type != V_STR)
        return 0;
    ob_buf_init(&b, v->len + 1);
    ob_buf_append(&b, v->s, v->len);
    if (b.failed)
        return -1;
    for (size_t i = 0; i < b.len; i++)
        b.data[i] = (char)(upper ? toupper((unsigned char)b.data[i])
                                 : tolower((unsigned char)b.data[i]));
    val_set_owned(v, V_STR, &b);
    return 0;
}

static int f_upper(struct render *r, const struct node *n, const struct filter *f, struct val *v)
{
    (void)r;
    (void)n;
    (void)f;
    return f_case(v, 1);
}

static int f_lower(struct render *r, const struct node *n, const struct filter *f, struct val *v)
{
    (void)r;
    (void)n;
    (void)f;
    return f_case(v, 0);
}

static int f_trim(struct render *r, const struct node *n, const struct filter *f, struct val *v)
{
    (void)r;
    (void)n;
    (void)f;
    if (v->type != V_STR)
        return 0;
    while (v->len && isspace((unsigned char)v->s[0])) {
        v->s++;
        v->len--;
    }
    while (v->len && isspace((unsigned char)v->s[v->len - 1]))
        v->len--;
    return 0;
}

/* truncate:N keeps at most N code points (never cuts a UTF-8 sequence). */
static int f_truncate(struct render *r, const struct node *n, const struct filter *f, struct val *v)
{
    long max = strtol(f->args[0], NULL, 10);
    size_t i = 0;
    long points = 0;

    (void)r;
    (void)n;
    if (v->type != V_STR)
        return 0;
    while (i < v->len && points < max) {
        i++;
        while (i < v->len && ((unsigned char)v->s[i] & 0xC0) == 0x80)
            i++;
        points++;
    }
    v->len = i;
    return 0;
}

/* map:'a=b,c=d'[:'fallback'] */
static int f_map(struct render *r, const struct node *n, const struct filter *f, struct val *v)
{
    const char *p = f->args[0];
    char key[32];

    if (v->type == V_INT) {
        snprintf(key, sizeof(key), "%" PRId64, v->i);
    } else if (v->type == V_STR && v->len < sizeof(key)) {
        memcpy(key, v->s, v->len);
        key[v->len] = '\0';
    } else if (v->type == V_NULL && f->n_args == 2) {
        key[0] = '\0';
    } else {
        return RFAIL(r, n, "{{ %s }}: map needs a short string", n->text);
    }
    while (*p) {
        const char *eq = strchr(p, '=');
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        if (eq && eq < end && (size_t)(eq - p) == strlen(key) && memcmp(p, key, strlen(key)) == 0) {
            ob_buf_reset(&v->own);
            v->type = V_STR;
            v->s = eq + 1;
            v->len = (size_t)(end - eq - 1);
            return 0;
        }
        p = *end ? end + 1 : end;
    }
    if (f->n_args == 2) {
        ob_buf_reset(&v->own);
        v->type = V_STR;
        v->s = f->args[1];
        v->len = strlen(f->args[1]);
        return 0;
    }
    return RFAIL(r, n, "{{ %s }}: no mapping for \"%s\"", n->text, v->hidden ? WITHHELD : key);
}

/* RFC 3339 date-time -> epoch ms. Returns -1 when it is not one. */
static int parse_rfc3339(const char *s, size_t len, int64_t *out)
{
    char text[64];
    struct tm tm;
    int y, mo, d, h, mi, sec, n = 0, ms = 0, off = 0;
    const char *p;

    if (len >= sizeof(text))
        return -1;
    memcpy(text, s, len);
    text[len] = '\0';
    if (sscanf(text, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6)
        return -1;
    p = text + n;
    if (*p == '.') {
        int digits = 0;
        for (p++; isdigit((unsigned char)*p); p++, digits++) {
            if (digits < 3)
                ms = ms * 10 + (*p - '0');
        }
        for (; digits < 3; digits++)
            ms *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1])) {
        int oh, om;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
            return -1;
        off = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *out = ((int64_t)timegm(&tm) - (int64_t)off * 60) * 1000 + ms;
    return 0;
}

/* date:'pattern' formats an RFC 3339 string or epoch ms in the context's zone. */
static int f_date(struct render *r, const struct node *n, const struct filter *f, struct val *v)
{
    int64_t ms;
    char out[128];
    struct ob_buf b;
    const char *tz = r->ctx->time_zone ? r->ctx->time_zone : "Asia/Shanghai";

    if (v->type == V_NULL)
        return 0;
    if (v->type == V_INT)
        ms = v->i;
    else if (v->type != V_STR || parse_rfc3339(v->s, v->len, &ms) != 0)
        return RFAIL(r, n, "{{ %s }}: date needs an RFC 3339 date-time or epoch ms", n->text);
    if (ob_time_format(ms, tz, f->args[0], out, sizeof(out)) != 0)
        return RFAIL(r, n, "{{ %s }}: cannot format with '%s' in %s", n->text, f->args[0], tz);
    ob_buf_init(&b, sizeof(out));
    ob_buf_appends(&b, out);
    val_set_owned(v, V_STR, &b);
    return 0;
}

/* A string filter that re-encodes the value: base64, url. */
static int encode_with(struct render *r, const struct node *n, const char *what, struct val *v,
                       int (*encode)(const char *in, size_t len, struct ob_buf *out))
{
    struct ob_buf b;

    if (v->type != V_STR)
        return RFAIL(r, n, "{{ %s }}: %s needs a string", n->text, what);
    ob_buf_init(&b, OB_BUF_DEFAULT_MAX);
    if (encode(v->s, v->len, &b) != 0) {
        ob_buf_reset(&b);
        return RFAIL(r, n, "{{ %s }}: out of memory", n->text);
    }
    val_set_owned(v, V_STR, &b);
    return 0;
}

static int base64_encode(const char *in, size_t len, struct ob_buf *out)
{
    return ob_base64_encode(in, len, out);
}

static int url_encode(const char *in, size_t len, struct ob_buf *out)
{
    return ob_url_encode(in, len, OB_URL_RFC3986, out);
}

static int f_base64(struct render *r, const struct node *n, const struct filter *f, struct val *v)
{
    (void)f;
    return encode_with(r, n, "base64", v, base64_encode);
}

static int f_url(struct render *r, const struct node *n, const struct filter *f, struct val *v)
{
    (void)f;
    return encode_with(r, n, "url", v, url_encode);
}

static int f_string(struct render *r, const struct node *n, const struct filter *f, struct val *v)
{
    struct ob_buf b;

    (void)r;
    (void)n;
    (void)f;
    if (v->type == V_INT) {
        ob_buf_init(&b, 32);
        ob_buf_printf(&b, "%" PRId64, v->i);
        val_set_owned(v, V_STR, &b);
    } else if (v->type == V_NUMBER) {
        v->type = V_STR;
    }
    return 0;
}

static int f_encrypt(struct render *r, const struct node *n, const struct filter *f, struct val *v)
{
    struct ob_buf b;
    char msg[256] = "";

    if (v->type == V_NULL)
        return 0;
    if (v->type != V_STR)
        return RFAIL(r, n, "{{ %s }}: encrypt needs a string", n->text);
    if (!r->ctx->encrypt)
        return RFAIL(r, n, "{{ %s }}: this adapter offers no keys to encrypt with", n->text);
    ob_buf_init(&b, OB_BUF_DEFAULT_MAX);
    if (r->ctx->encrypt(r->ctx->arg, f->args[0], v->s, v->len, &b, msg, sizeof(msg)) != 0) {
        ob_buf_cleanse(&b);
        return RFAIL(r, n, "{{ %s }}: encrypt:%s: %s", n->text, f->args[0], msg);
    }
    val_set_owned(v, V_STR, &b);
    return 0;
}

static const struct filter_def filter_defs[] = {
    {"default", 1, 1, f_default}, {"required", 0, 0, f_required}, {"fen", 0, 0, f_fen},
    {"yuan", 0, 0, f_yuan},       {"number", 0, 0, f_number},     {"string", 0, 0, f_string},
    {"upper", 0, 0, f_upper},     {"lower", 0, 0, f_lower},       {"trim", 0, 0, f_trim},
    {"truncate", 1, 1, f_truncate}, {"map", 1, 2, f_map},         {"date", 1, 1, f_date},
    {"base64", 0, 0, f_base64},   {"url", 0, 0, f_url},           {"encrypt", 1, 1, f_encrypt},
};

/* -------------------------------------------------------------- parsing */

struct parser {
    const char *p, *end;
    int line;
    enum ob_mapping_format format;
    const char *origin;
    const char *dir;
    int include_depth;
    char *errstr;
    size_t errstr_size;
};

#define PFAIL(ps, ...) fail((ps)->errstr, (ps)->errstr_size, (ps)->origin, (ps)->line, __VA_ARGS__)

static void free_nodes(struct node *n)
{
    while (n) {
        struct node *next = n->next;
        free(n->text);
        for (int i = 0; i < n->n_filters; i++)
            for (int a = 0; a < n->filters[i].n_args; a++)
                free(n->filters[i].args[a]);
        free(n->sep);
        free_nodes(n->body);
        free_nodes(n->other);
        ob_mapping_free(n->included);
        free(n);
        n = next;
    }
}

static char *dup_range(const char *s, size_t len)
{
    char *d = malloc(len + 1);

    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

static void skip_spaces(const char **p, const char *end)
{
    while (*p < end && isspace((unsigned char)**p))
        (*p)++;
}

/* A path: [$.]name(.name|[n])* or @name(.name)*. */
static int read_path(struct parser *ps, const char **p, const char *end, char **out)
{
    const char *start = *p;

    while (*p < end && (isalnum((unsigned char)**p) || strchr("_.$@[]-", **p)))
        (*p)++;
    if (*p == start)
        return PFAIL(ps, "expected a field name");
    *out = dup_range(start, (size_t)(*p - start));
    return *out ? 0 : PFAIL(ps, "out of memory");
}

/* A filter argument: 'quoted' (with '' for a quote) or a bare word. */
static int read_arg(struct parser *ps, const char **p, const char *end, char **out)
{
    struct ob_buf b;

    ob_buf_init(&b, 4096);
    if (*p < end && **p == '\'') {
        (*p)++;
        for (;;) {
            if (*p >= end)
                return ob_buf_reset(&b), PFAIL(ps, "unterminated quoted argument");
            if (**p == '\'' && *p + 1 < end && (*p)[1] == '\'') {
                ob_buf_append(&b, "'", 1);
                *p += 2;
            } else if (**p == '\'') {
                (*p)++;
                break;
            } else {
                ob_buf_append(&b, *p, 1);
                (*p)++;
            }
        }
    } else {
        while (*p < end && (isalnum((unsigned char)**p) || strchr("_-.", **p))) {
            ob_buf_append(&b, *p, 1);
            (*p)++;
        }
    }
    ob_buf_append(&b, "", 0);
    *out = ob_buf_steal(&b, NULL);
    return *out ? 0 : PFAIL(ps, "argument too long");
}

static int parse_filters(struct parser *ps, const char **p, const char *end, struct node *n)
{
    for (;;) {
        const struct filter_def *def = NULL;
        const char *name;
        size_t name_len;

        skip_spaces(p, end);
        if (*p >= end)
            return 0;
        if (**p != '|')
            return PFAIL(ps, "unexpected '%c' in {{ %s }}", **p, n->text);
        (*p)++;
        skip_spaces(p, end);
        name = *p;
        while (*p < end && (isalnum((unsigned char)**p) || **p == '_'))
            (*p)++;
        name_len = (size_t)(*p - name);
        for (size_t i = 0; i < sizeof(filter_defs) / sizeof(filter_defs[0]); i++) {
            if (strlen(filter_defs[i].name) == name_len &&
                memcmp(filter_defs[i].name, name, name_len) == 0)
                def = &filter_defs[i];
        }
        if (!def)
            return PFAIL(ps, "unknown filter '%.*s'", (int)name_len, name);
        if (n->n_filters == MAX_FILTERS)
            return PFAIL(ps, "more than %d filters", MAX_FILTERS);
        struct filter *f = &n->filters[n->n_filters++];
        f->def = def;
        while (*p < end && **p == ':') {
            (*p)++;
            if (f->n_args == MAX_ARGS || read_arg(ps, p, end, &f->args[f->n_args]) != 0)
                return f->n_args == MAX_ARGS ? PFAIL(ps, "too many arguments to %s", def->name)
                                             : -1;
            f->n_args++;
        }
        if (f->n_args < def->min_args || f->n_args > def->max_args)
            return PFAIL(ps, "%s takes %d to %d argument(s)", def->name, def->min_args,
                         def->max_args);
    }
}

static struct node *new_node(struct parser *ps, enum node_kind kind)
{
    struct node *n = calloc(1, sizeof(*n));

    if (n) {
        n->kind = kind;
        n->line = ps->line;
    }
    return n;
}

static int count_lines(const char *s, const char *e)
{
    int lines = 0;

    for (; s < e; s++)
        lines += *s == '\n';
    return lines;
}

static int load_file(const char *path, int include_depth, struct ob_mapping **out, char *errstr,
                     size_t errstr_size);

/* Parse nodes until `{{/each}}`, `{{/if}}` or `{{else}}`; *stop gets which. */
static int parse_nodes(struct parser *ps, struct node **out, char *stop, size_t stop_size)
{
    struct node **tail = out;

    *out = NULL;
    if (stop_size)
        stop[0] = '\0';
    while (ps->p < ps->end) {
        const char *open = memmem(ps->p, (size_t)(ps->end - ps->p), "{{", 2);
        const char *text_end = open ? open : ps->end;
        struct node *n;

        if (text_end > ps->p) {
            n = new_node(ps, N_TEXT);
            if (!n || !(n->text = dup_range(ps->p, (size_t)(text_end - ps->p))))
                return free(n), PFAIL(ps, "out of memory");
            n->len = (size_t)(text_end - ps->p);
            *tail = n;
            tail = &n->next;
            ps->line += count_lines(ps->p, text_end);
            ps->p = text_end;
        }
        if (!open)
            break;
        const char *close = memmem(open + 2, (size_t)(ps->end - open - 2), "}}", 2);
        if (!close)
            return PFAIL(ps, "'{{' without '}}'");
        const char *p = open + 2, *end = close;
        ps->p = close + 2;
        skip_spaces(&p, end);
        if (p < end && *p == '!') { /* comment */
            ps->line += count_lines(open, close);
            continue;
        }
        if (p < end && *p == '/') {
            snprintf(stop, stop_size, "/%.*s", (int)(end - p - 1), p + 1);
            for (char *s = stop + strlen(stop); s > stop && isspace((unsigned char)s[-1]); s--)
                s[-1] = '\0';
            return 0;
        }
        if ((size_t)(end - p) >= 4 && memcmp(p, "else", 4) == 0) {
            snprintf(stop, stop_size, "else");
            return 0;
        }
        if (*p == '>') {
            char *name = NULL, path[4096];
            p++;
            skip_spaces(&p, end);
            if (read_arg(ps, &p, end, &name) != 0)
                return -1;
            n = new_node(ps, N_INCLUDE);
            *tail = n;
            if (!n)
                return free(name), PFAIL(ps, "out of memory");
            tail = &n->next;
            if (!ps->dir || strchr(name, '/') || name[0] == '.') {
                int rc = PFAIL(ps, "include '%s': only a file in the mapping's own folder", name);
                free(name);
                return rc;
            }
            if (ps->include_depth >= MAX_INCLUDE_DEPTH) {
                free(name);
                return PFAIL(ps, "includes nested deeper than %d", MAX_INCLUDE_DEPTH);
            }
            snprintf(path, sizeof(path), "%s/%s", ps->dir, name);
            free(name);
            if (load_file(path, ps->include_depth + 1, &n->included, ps->errstr,
                          ps->errstr_size) != 0)
                return -1;
            continue;
        }
        if (*p == '#') {
            int is_each = (size_t)(end - p) > 5 && memcmp(p, "#each", 5) == 0;
            int is_if = (size_t)(end - p) > 3 && memcmp(p, "#if", 3) == 0;
            char inner_stop[32];
            if (!is_each && !is_if)
                return PFAIL(ps, "unknown block '%.*s'", (int)(end - p), p);
            p += is_each ? 5 : 3;
            skip_spaces(&p, end);
            n = new_node(ps, is_each ? N_EACH : N_IF);
            *tail = n;
            if (!n)
                return PFAIL(ps, "out of memory");
            tail = &n->next;
            if (read_path(ps, &p, end, &n->text) != 0)
                return -1;
            skip_spaces(&p, end);
            if (is_each && p < end && read_arg(ps, &p, end, &n->sep) != 0)
                return -1;
            skip_spaces(&p, end);
            if (p != end)
                return PFAIL(ps, "unexpected text in {{#%s %s ...}}", is_each ? "each" : "if",
                             n->text);
            if (parse_nodes(ps, &n->body, inner_stop, sizeof(inner_stop)) != 0)
                return -1;
            if (is_if && strcmp(inner_stop, "else") == 0 &&
                parse_nodes(ps, &n->other, inner_stop, sizeof(inner_stop)) != 0)
                return -1;
            if (strcmp(inner_stop, is_each ? "/each" : "/if") != 0)
                return PFAIL(ps, "{{#%s %s}} is not closed with {{/%s}}", is_each ? "each" : "if",
                             n->text, is_each ? "each" : "if");
            continue;
        }
        n = new_node(ps, N_VALUE);
        *tail = n;
        if (!n)
            return PFAIL(ps, "out of memory");
        tail = &n->next;
        if (read_path(ps, &p, end, &n->text) != 0 || parse_filters(ps, &p, end, n) != 0)
            return -1;
        ps->line += count_lines(open, close);
    }
    return 0;
}

/* In JSON a placeholder is a whole value: inside quotes it would be quoted
 * twice. A '{{' right after a '"' is such a mistake. */
static int check_json_placement(struct parser *ps, const char *text, size_t len)
{
    int line = 1;

    for (size_t i = 0; i + 2 < len; i++) {
        if (text[i] == '\n')
            line++;
        if (text[i] == '"' && text[i + 1] == '{' && text[i + 2] == '{') {
            ps->line = line;
            return PFAIL(ps, "write \"key\": {{ field }} without quotes around the placeholder: "
                             "in a .json mapping each placeholder is a whole JSON value");
        }
    }
    return 0;
}

static int parse_form(struct parser *ps, struct ob_mapping *m)
{
    const char *p = ps->p;

    while (p < ps->end) {
        const char *eol = memchr(p, '\n', (size_t)(ps->end - p));
        const char *line_end = eol ? eol : ps->end;
        const char *s = p, *e = line_end, *eq;
        struct parser sub = *ps;
        char stop[32];

        ps->line++;
        p = eol ? eol + 1 : ps->end;
        skip_spaces(&s, e);
        while (e > s && isspace((unsigned char)e[-1]))
            e--;
        if (s == e || *s == '#')
            continue;
        eq = memchr(s, '=', (size_t)(e - s));
        if (!eq)
            return PFAIL(ps, "expected 'key = template'");
        const char *ke = eq;
        while (ke > s && isspace((unsigned char)ke[-1]))
            ke--;
        const char *vs = eq + 1;
        skip_spaces(&vs, e);
        if (ke == s)
            return PFAIL(ps, "empty parameter name");
        struct form_line *grown = realloc(m->lines, (m->n_lines + 1) * sizeof(*grown));
        if (!grown)
            return PFAIL(ps, "out of memory");
        m->lines = grown;
        struct form_line *fl = &m->lines[m->n_lines++];
        fl->value = NULL;
        fl->key = dup_range(s, (size_t)(ke - s));
        if (!fl->key)
            return PFAIL(ps, "out of memory");
        sub.p = vs;
        sub.end = e;
        sub.line = ps->line;
        sub.format = OB_MAPPING_TEXT;
        if (parse_nodes(&sub, &fl->value, stop, sizeof(stop)) != 0)
            return -1;
        if (stop[0])
            return PFAIL(ps, "unexpected {{%s}}", stop);
    }
    return 0;
}

static int parse_mapping(struct parser *ps, struct ob_mapping **out)
{
    struct ob_mapping *m = calloc(1, sizeof(*m));
    char stop[32];
    int rc = -1;

    *out = NULL;
    if (!m || !(m->origin = strdup(ps->origin))) {
        free(m);
        return PFAIL(ps, "out of memory");
    }
    m->format = ps->format;
    if (ps->format == OB_MAPPING_FORM) {
        rc = parse_form(ps, m);
    } else if (ps->format == OB_MAPPING_JSON &&
               check_json_placement(ps, ps->p, (size_t)(ps->end - ps->p)) != 0) {
        rc = -1;
    } else {
        rc = parse_nodes(ps, &m->root, stop, sizeof(stop));
        if (rc == 0 && stop[0])
            rc = PFAIL(ps, "unexpected {{%s}}", stop);
    }
    if (rc != 0) {
        ob_mapping_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

int ob_mapping_parse(const char *text, size_t len, enum ob_mapping_format format,
                     const char *origin, const char *dir, struct ob_mapping **out, char *errstr,
                     size_t errstr_size)
{
    struct parser ps = {.p = text, .end = text + len, .line = 1, .format = format,
                        .origin = origin, .dir = dir, .errstr = errstr,
                        .errstr_size = errstr_size};

    return parse_mapping(&ps, out);
}

static enum ob_mapping_format format_of_path(const char *path)
{
    const char *dot = strrchr(path, '.');

    if (dot && strcmp(dot, ".json") == 0)
        return OB_MAPPING_JSON;
    if (dot && strcmp(dot, ".xml") == 0)
        return OB_MAPPING_XML;
    if (dot && strcmp(dot, ".form") == 0)
        return OB_MAPPING_FORM;
    return OB_MAPPING_TEXT;
}

static int load_file(const char *path, int include_depth, struct ob_mapping **out, char *errstr,
                     size_t errstr_size)
{
    FILE *f = fopen(path, "rb");
    struct ob_buf text;
    char dir[4096];
    const char *slash = strrchr(path, '/');
    int rc;

    *out = NULL;
    if (!f)
        return fail(errstr, errstr_size, path, 0, "cannot read: %s", strerror(errno));
    ob_buf_init(&text, MAX_FILE_BYTES);
    rc = ob_buf_read(&text, f);
    fclose(f);
    if (rc != 0) {
        int e = errno;
        ob_buf_reset(&text);
        return e == EFBIG ? fail(errstr, errstr_size, path, 0, "larger than %d bytes", MAX_FILE_BYTES)
                          : fail(errstr, errstr_size, path, 0, "cannot read: %s", strerror(e));
    }
    snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    struct parser ps = {.p = text.data, .end = text.data + text.len, .line = 1,
                        .format = format_of_path(path), .origin = path, .dir = dir,
                        .include_depth = include_depth, .errstr = errstr,
                        .errstr_size = errstr_size};
    rc = parse_mapping(&ps, out);
    ob_buf_reset(&text);
    return rc;
}

int ob_mapping_load(const char *path, struct ob_mapping **out, char *errstr, size_t errstr_size)
{
    return load_file(path, 0, out, errstr, errstr_size);
}

enum ob_mapping_format ob_mapping_format_of(const struct ob_mapping *m)
{
    return m->format;
}

void ob_mapping_free(struct ob_mapping *m)
{
    if (!m)
        return;
    free_nodes(m->root);
    for (size_t i = 0; i < m->n_lines; i++) {
        free(m->lines[i].key);
        free_nodes(m->lines[i].value);
    }
    free(m->lines);
    free(m->origin);
    free(m);
}

/* ------------------------------------------------------------ rendering */

/* Look `path` up in `doc`: name(.name|[n])*. */
static const json_t *lookup(const json_t *doc, const char *path)
{
    const json_t *cur = doc;
    const char *p = path;

    while (cur && *p) {
        char key[128];
        size_t n = strcspn(p, ".[");
        if (n >= sizeof(key))
            return NULL;
        if (n > 0) {
            memcpy(key, p, n);
            key[n] = '\0';
            cur = json_is_object(cur) ? json_object_get(cur, key) : NULL;
            p += n;
        }
        while (cur && *p == '[') {
            char *end;
            long idx = strtol(p + 1, &end, 10);
            if (*end != ']' || idx < 0)
                return NULL;
            cur = json_is_array(cur) ? json_array_get(cur, (size_t)idx) : NULL;
            p = end + 1;
        }
        if (*p == '.')
            p++;
    }
    return cur;
}

static int val_from_json(const json_t *j, struct val *v)
{
    if (!j || json_is_null(j)) {
        v->type = V_NULL;
    } else if (json_is_string(j)) {
        v->type = V_STR;
        v->s = json_string_value(j);
        v->len = json_string_length(j);
    } else if (json_is_integer(j)) {
        v->type = V_INT;
        v->i = json_integer_value(j);
    } else if (json_is_boolean(j)) {
        v->type = V_BOOL;
        v->i = json_is_true(j);
    } else {
        return -1; /* objects, arrays, reals have no text of their own */
    }
    return 0;
}

static int resolve(struct render *r, const struct node *n, struct val *v)
{
    const char *path = n->text;
    struct ob_buf b;

    memset(v, 0, sizeof(*v));
    ob_buf_init(&v->own, 0);
    if (path[0] == '@') {
        const char *name = path + 1;
        const struct ob_mapping_context *c = r->ctx;
        ob_buf_init(&b, 64);
        if (strcmp(name, "index") == 0 || strcmp(name, "number") == 0) {
            if (r->depth == 0)
                return RFAIL(r, n, "{{ %s }} outside {{#each}}", path);
            v->type = V_INT;
            v->i = (int64_t)r->index[r->depth] + (name[0] == 'n');
        } else if (strcmp(name, "now_ms") == 0) {
            v->type = V_INT;
            v->i = c->now_ms ? c->now_ms : ob_time_now_ms();
        } else if (strcmp(name, "attempt") == 0) {
            v->type = V_INT;
            v->i = c->attempt;
        } else if (strcmp(name, "uuid") == 0) {
            char uuid[37];
            if (ob_uuid4(uuid) != 0)
                return RFAIL(r, n, "cannot make a UUID");
            ob_buf_appends(&b, uuid);
            val_set_owned(v, V_STR, &b);
        } else {
            const char *s = strcmp(name, "warehouse") == 0         ? c->warehouse
                            : strcmp(name, "idempotency_key") == 0 ? c->idempotency_key
                            : c->variable                          ? c->variable(c->arg, name)
                                                                   : NULL;
            if (!s)
                return RFAIL(r, n, "{{ %s }}: unknown variable", path);
            v->hidden = s != c->warehouse && s != c->idempotency_key;
            v->type = V_STR;
            v->s = s;
            v->len = strlen(s);
        }
        return 0;
    }
    if (path[0] == '$') {
        path += path[1] == '.' ? 2 : 1;
        if (val_from_json(lookup(r->scopes[0], path), v) != 0)
            return RFAIL(r, n, "{{ %s }} is an object or array, not a value", n->text);
        return 0;
    }
    /* Innermost scope first: inside {{#each items}}, `sku` is the item's. */
    for (int d = r->depth; d >= 0; d--) {
        const json_t *j = lookup(r->scopes[d], path);
        if (j || d == 0) {
            if (val_from_json(j, v) != 0)
                return RFAIL(r, n, "{{ %s }} is an object or array, not a value", n->text);
            return 0;
        }
    }
    return 0;
}

static int write_json_string(struct ob_buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;

    ob_buf_append(out, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        const char *esc = NULL;
        char u[7];
        if (ch == '"')
            esc = "\\\"";
        else if (ch == '\\')
            esc = "\\\\";
        else if (ch == '\n')
            esc = "\\n";
        else if (ch == '\r')
            esc = "\\r";
        else if (ch == '\t')
            esc = "\\t";
        else if (ch < 0x20) {
            snprintf(u, sizeof(u), "\\u00%c%c", hex[ch >> 4], hex[ch & 15]);
            esc = u;
        }
        if (esc) {
            ob_buf_append(out, s + i - run, run);
            ob_buf_appends(out, esc);
            run = 0;
        } else {
            run++;
        }
    }
    ob_buf_append(out, s + len - run, run);
    return ob_buf_append(out, "\"", 1);
}

static int write_xml_text(struct ob_buf *out, const char *s, size_t len)
{
    size_t run = 0;

    for (size_t i = 0; i < len; i++) {
        const char *esc = s[i] == '&'    ? "&amp;"
                          : s[i] == '<'  ? "&lt;"
                          : s[i] == '>'  ? "&gt;"
                          : s[i] == '"'  ? "&quot;"
                          : s[i] == '\'' ? "&apos;"
                                         : NULL;
        if (esc) {
            ob_buf_append(out, s + i - run, run);
            ob_buf_appends(out, esc);
            run = 0;
        } else {
            run++;
        }
    }
    return ob_buf_append(out, s + len - run, run);
}

static int emit(struct render *r, const struct node *n, const struct val *v, struct ob_buf *out)
{
    char num[32];
    const char *text = v->s;
    size_t len = v->len;

    if (v->type == V_INT || v->type == V_BOOL) {
        if (v->type == V_INT)
            snprintf(num, sizeof(num), "%" PRId64, v->i);
        else
            snprintf(num, sizeof(num), "%s", v->i ? "true" : "false");
        text = num;
        len = strlen(num);
    }
    switch (r->m->format) {
    case OB_MAPPING_JSON:
        if (v->type == V_NULL)
            return ob_buf_appends(out, "null");
        if (v->type == V_STR)
            return write_json_string(out, text, len);
        return ob_buf_append(out, text, len);
    case OB_MAPPING_XML:
        if (v->type == V_NULL)
            return 0;
        for (size_t i = 0; i < len; i++) {
            unsigned char ch = (unsigned char)text[i];
            if (ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r')
                return RFAIL(r, n, "{{ %s }}: control character 0x%02x cannot be written in XML",
                             n->text, ch);
        }
        return write_xml_text(out, text, len);
    default:
        if (v->type == V_NULL)
            return 0;
        if (memchr(text, '\0', len))
            return RFAIL(r, n, "{{ %s }}: a NUL byte cannot be sent", n->text);
        return ob_buf_append(out, text, len);
    }
}

static int truthy(const struct val *v)
{
    return (v->type == V_STR && v->len > 0) || ((v->type == V_INT || v->type == V_BOOL) && v->i) ||
           v->type == V_NUMBER;
}

static int render_include(struct render *r, const struct node *n, struct ob_buf *out);

static int render_nodes(struct render *r, const struct node *n, struct ob_buf *out)
{
    for (; n; n = n->next) {
        struct val v;
        switch (n->kind) {
        case N_TEXT:
            ob_buf_append(out, n->text, n->len);
            break;
        case N_VALUE:
            if (resolve(r, n, &v) != 0)
                return -1;
            for (int i = 0; i < n->n_filters; i++) {
                if (n->filters[i].def->fn(r, n, &n->filters[i], &v) != 0) {
                    ob_buf_reset(&v.own);
                    return -1;
                }
            }
            if (emit(r, n, &v, out) != 0 && !out->failed) {
                ob_buf_reset(&v.own);
                return -1;
            }
            ob_buf_reset(&v.own);
            break;
        case N_IF: {
            int rc;
            if (resolve(r, n, &v) != 0)
                return -1;
            rc = render_nodes(r, truthy(&v) ? n->body : n->other, out);
            ob_buf_reset(&v.own);
            if (rc != 0)
                return -1;
            break;
        }
        case N_EACH: {
            const json_t *arr = NULL;
            if (n->text[0] == '$')
                arr = lookup(r->scopes[0], n->text + (n->text[1] == '.' ? 2 : 1));
            for (int d = r->depth; !arr && d >= 0; d--)
                arr = lookup(r->scopes[d], n->text);
            if (!arr || json_is_null(arr))
                break;
            if (!json_is_array(arr))
                return RFAIL(r, n, "{{#each %s}}: not an array", n->text);
            if (r->depth == MAX_DEPTH)
                return RFAIL(r, n, "{{#each}} nested deeper than %d", MAX_DEPTH);
            r->depth++;
            r->count[r->depth] = json_array_size(arr);
            for (size_t i = 0; i < json_array_size(arr); i++) {
                if (i > 0 && n->sep)
                    ob_buf_appends(out, n->sep);
                r->scopes[r->depth] = json_array_get(arr, i);
                r->index[r->depth] = i;
                if (render_nodes(r, n->body, out) != 0) {
                    r->depth--;
                    return -1;
                }
            }
            r->depth--;
            break;
        }
        case N_INCLUDE:
            if (render_include(r, n, out) != 0)
                return -1;
            break;
        }
    }
    if (out->failed)
        return fail(r->errstr, r->errstr_size, r->m->origin, 0, "document larger than %zu bytes",
                    out->max);
    return 0;
}

/* An included mapping renders with its own format; the result is one
 * value of the including format (a JSON string, escaped XML text, ...). */
static int render_include(struct render *r, const struct node *n, struct ob_buf *out)
{
    struct ob_buf inner;
    struct val v;
    int rc;

    if (n->included->format == OB_MAPPING_FORM)
        return RFAIL(r, n, "a .form mapping cannot be included");
    ob_buf_init(&inner, out->max);
    rc = ob_mapping_render(n->included, r->ctx, &inner, r->errstr, r->errstr_size);
    if (rc == 0) {
        memset(&v, 0, sizeof(v));
        v.type = V_STR;
        v.s = inner.data ? inner.data : "";
        v.len = inner.len;
        rc = emit(r, n, &v, out);
    }
    ob_buf_reset(&inner);
    return rc;
}

int ob_mapping_render(const struct ob_mapping *m, const struct ob_mapping_context *ctx,
                      struct ob_buf *out, char *errstr, size_t errstr_size)
{
    struct render r = {.m = m, .ctx = ctx, .errstr = errstr, .errstr_size = errstr_size};

    if (m->format == OB_MAPPING_FORM)
        return fail(errstr, errstr_size, m->origin, 0, "a .form mapping renders to parameters");
    r.scopes[0] = ctx->order_doc;
    return render_nodes(&r, m->root, out);
}

int ob_mapping_render_params(const struct ob_mapping *m, const struct ob_mapping_context *ctx,
                             struct ob_params *out, char *errstr, size_t errstr_size)
{
    struct render r = {.m = m, .ctx = ctx, .errstr = errstr, .errstr_size = errstr_size};
    struct ob_buf value;

    if (m->format != OB_MAPPING_FORM)
        return fail(errstr, errstr_size, m->origin, 0, "only a .form mapping renders to parameters");
    r.scopes[0] = ctx->order_doc;
    for (size_t i = 0; i < m->n_lines; i++) {
        int rc;
        ob_buf_init(&value, OB_BUF_DEFAULT_MAX);
        ob_buf_append(&value, "", 0);
        rc = render_nodes(&r, m->lines[i].value, &value);
        if (rc == 0 && ob_params_add(out, m->lines[i].key, value.data) != 0)
            rc = fail(errstr, errstr_size, m->origin, 0, "out of memory");
        ob_buf_reset(&value);
        if (rc != 0)
            return -1;
    }
    return 0;
}
