/*
 * mapping — a warehouse described by config and mapping files, no C.
 *
 * The request (URL, headers, body) is rendered from templates (see
 * docs/mappings.md); the answer is classified by an ordered list of rules
 * on the HTTP status, the body text and JSON fields, so a business error
 * inside an HTTP 200 is read the way the warehouse means it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <orderbridge/adapter.h>
#include <orderbridge/mapping.h>
#include <orderbridge/sdk.h>

#define MAX_HEADERS 12
#define MAX_ANSWERS 32
#define MAX_KEYS 8

/* A key a mapping may encrypt with: `{{ field | encrypt:NAME }}`. */
struct key_spec {
    char *name;
    enum ob_cipher cipher;
    struct ob_buf key; /* raw key bytes, cleansed on destroy */
    int hex_output;    /* else base64 */
};

/* An HMAC of the body, sent in a header. */
struct signature {
    char *header;
    enum ob_digest digest;
    struct ob_buf key;
    enum { SIG_HEX, SIG_HEX_UPPER, SIG_BASE64 } encoding;
};

struct answer {
    long status[8];
    size_t n_status;      /* 0: any status */
    char *body_contains;  /* NULL: no condition */
    char *json_path;      /* NULL: no condition; else a top-level or dotted field */
    char *json_equals;    /* the field's value as text */
    enum ob_outcome_kind outcome;
    char *id_path;        /* JSON field holding the warehouse's order id */
};

struct mapping_adapter {
    const struct ob_adapter_env *env;
    const char *method;
    struct ob_mapping *url, *body;
    char *content_type;
    char *header_names[MAX_HEADERS];
    struct ob_mapping *header_values[MAX_HEADERS];
    size_t n_headers;
    struct answer answers[MAX_ANSWERS];
    size_t n_answers;
    char *time_zone;
    struct key_spec keys[MAX_KEYS];
    size_t n_keys;
    struct signature sig; /* sig.header NULL: none */
};

static void mapping_destroy(void *state)
{
    struct mapping_adapter *a = state;

    if (!a)
        return;
    ob_mapping_free(a->url);
    ob_mapping_free(a->body);
    free(a->content_type);
    for (size_t i = 0; i < a->n_headers; i++) {
        free(a->header_names[i]);
        ob_mapping_free(a->header_values[i]);
    }
    for (size_t i = 0; i < a->n_answers; i++) {
        free(a->answers[i].body_contains);
        free(a->answers[i].json_path);
        free(a->answers[i].json_equals);
        free(a->answers[i].id_path);
    }
    free(a->time_zone);
    for (size_t i = 0; i < a->n_keys; i++) {
        free(a->keys[i].name);
        ob_buf_cleanse(&a->keys[i].key);
    }
    free(a->sig.header);
    ob_buf_cleanse(&a->sig.key);
    free(a);
}

static int template(const char *text, const char *what, struct ob_mapping **out, char *errstr,
                    size_t errstr_size)
{
    return ob_mapping_parse(text, strlen(text), OB_MAPPING_TEXT, what, NULL, out, errstr,
                            errstr_size);
}

static int parse_outcome(const char *s, enum ob_outcome_kind *out)
{
    if (strcmp(s, "accepted") == 0)
        *out = OB_OUTCOME_ACCEPTED;
    else if (strcmp(s, "retry") == 0)
        *out = OB_OUTCOME_RETRY;
    else if (strcmp(s, "permanent") == 0)
        *out = OB_OUTCOME_PERMANENT;
    else
        return -1;
    return 0;
}

static char *dup_opt(const json_t *v)
{
    return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

static int parse_answer(const json_t *rule, size_t i, struct answer *a, char *errstr,
                        size_t errstr_size)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)rule, key, v) {
        if (strcmp(key, "status") == 0 && json_is_array(v) && json_array_size(v) <= 8) {
            size_t k;
            json_t *s;
            json_array_foreach(v, k, s) {
                if (!json_is_integer(s))
                    goto bad;
                a->status[a->n_status++] = (long)json_integer_value(s);
            }
        } else if (strcmp(key, "body_contains") == 0 && json_is_string(v)) {
            a->body_contains = dup_opt(v);
        } else if (strcmp(key, "json") == 0 && json_is_object(v) &&
                   json_is_string(json_object_get(v, "path")) &&
                   json_is_string(json_object_get(v, "equals")) && json_object_size(v) == 2) {
            a->json_path = dup_opt(json_object_get(v, "path"));
            a->json_equals = dup_opt(json_object_get(v, "equals"));
        } else if (strcmp(key, "outcome") == 0 && json_is_string(v) &&
                   parse_outcome(json_string_value(v), &a->outcome) == 0) {
        } else if (strcmp(key, "warehouse_order_id") == 0 && json_is_string(v)) {
            a->id_path = dup_opt(v);
        } else {
            goto bad;
        }
    }
    if (!a->outcome) {
        ob_strlcpyf(errstr, errstr_size, "settings.answers[%zu].outcome: required "
                    "(accepted, retry or permanent)", i);
        return -1;
    }
    return 0;
bad:
    ob_strlcpyf(errstr, errstr_size,
                "settings.answers[%zu].%s: unknown or wrong type (status [ints], body_contains "
                "string, json {path, equals}, outcome accepted|retry|permanent, "
                "warehouse_order_id string)",
                i, key);
    return -1;
}

static const struct {
    const char *name;
    enum ob_cipher cipher;
    size_t key_len;
} ciphers[] = {
    {"aes-128-ecb", OB_AES_128_ECB, 16}, {"aes-256-ecb", OB_AES_256_ECB, 32},
    {"aes-128-cbc", OB_AES_128_CBC, 16}, {"aes-256-cbc", OB_AES_256_CBC, 32},
    {"aes-128-gcm", OB_AES_128_GCM, 16}, {"aes-256-gcm", OB_AES_256_GCM, 32},
    {"sm4-ecb", OB_SM4_ECB, 16},         {"sm4-cbc", OB_SM4_CBC, 16},
};

/* Key bytes from a credential written in base64 (default), hex or raw. */
static int key_bytes(const struct ob_adapter_env *env, const json_t *spec, const char *where,
                     struct ob_buf *out, char *errstr, size_t errstr_size)
{
    const char *cred = json_string_value(json_object_get(spec, "credential"));
    const char *enc = json_string_value(json_object_get(spec, "key_encoding"));
    const char *value = cred ? env->credential(env, cred) : NULL;
    int rc;

    if (!value) {
        ob_strlcpyf(errstr, errstr_size, "%s.credential: names no configured credential", where);
        return -1;
    }
    ob_buf_init(out, 4096);
    if (!enc || strcmp(enc, "base64") == 0)
        rc = ob_base64_decode(value, strlen(value), out);
    else if (strcmp(enc, "hex") == 0)
        rc = ob_hex_decode(value, strlen(value), out);
    else if (strcmp(enc, "raw") == 0)
        rc = ob_buf_append(out, value, strlen(value));
    else {
        ob_strlcpyf(errstr, errstr_size, "%s.key_encoding: base64, hex or raw", where);
        return -1;
    }
    if (rc != 0) {
        ob_strlcpyf(errstr, errstr_size, "%s: the credential is not valid %s", where,
                    enc ? enc : "base64");
        return -1;
    }
    return 0;
}

static int parse_keys(struct mapping_adapter *a, const json_t *keys, char *errstr,
                      size_t errstr_size)
{
    const char *name;
    json_t *spec;
    char where[160];

    if (!json_is_object(keys) || json_object_size(keys) > MAX_KEYS) {
        ob_strlcpyf(errstr, errstr_size, "settings.keys: an object of at most %d keys", MAX_KEYS);
        return -1;
    }
    json_object_foreach((json_t *)keys, name, spec) {
        struct key_spec *k = &a->keys[a->n_keys++];
        const char *cipher = json_string_value(json_object_get(spec, "cipher"));
        const char *output = json_string_value(json_object_get(spec, "output"));
        size_t want = 0;
        snprintf(where, sizeof(where), "settings.keys.%s", name);
        k->name = strdup(name);
        for (size_t i = 0; cipher && i < sizeof(ciphers) / sizeof(ciphers[0]); i++) {
            if (strcmp(cipher, ciphers[i].name) == 0) {
                k->cipher = ciphers[i].cipher;
                want = ciphers[i].key_len;
            }
        }
        if (!want) {
            ob_strlcpyf(errstr, errstr_size, "%s.cipher: one of aes-128-ecb, aes-256-ecb, "
                        "aes-128-cbc, aes-256-cbc, aes-128-gcm, aes-256-gcm, sm4-ecb, sm4-cbc",
                        where);
            return -1;
        }
        if (key_bytes(a->env, spec, where, &k->key, errstr, errstr_size) != 0)
            return -1;
        if (k->key.len != want) {
            ob_strlcpyf(errstr, errstr_size, "%s: %s needs a %zu-byte key, the credential holds "
                        "%zu bytes", where, cipher, want, k->key.len);
            return -1;
        }
        if (output && strcmp(output, "hex") != 0 && strcmp(output, "base64") != 0) {
            ob_strlcpyf(errstr, errstr_size, "%s.output: base64 or hex", where);
            return -1;
        }
        k->hex_output = output && strcmp(output, "hex") == 0;
    }
    return 0;
}

static int parse_signature(struct mapping_adapter *a, const json_t *sig, char *errstr,
                           size_t errstr_size)
{
    static const struct {
        const char *name;
        enum ob_digest digest;
    } algs[] = {{"hmac-md5", OB_MD5}, {"hmac-sha1", OB_SHA1}, {"hmac-sha256", OB_SHA256},
                {"hmac-sm3", OB_SM3}};
    const char *header = json_string_value(json_object_get(sig, "header"));
    const char *alg = json_string_value(json_object_get(sig, "algorithm"));
    const char *enc = json_string_value(json_object_get(sig, "encoding"));

    if (!header || !alg) {
        ob_strlcpyf(errstr, errstr_size, "settings.signature: header and algorithm are required");
        return -1;
    }
    a->sig.digest = 0;
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        if (strcmp(alg, algs[i].name) == 0)
            a->sig.digest = algs[i].digest;
    }
    if (!a->sig.digest) {
        ob_strlcpyf(errstr, errstr_size, "settings.signature.algorithm: hmac-md5, hmac-sha1, "
                                         "hmac-sha256 or hmac-sm3");
        return -1;
    }
    if (!enc || strcmp(enc, "hex") == 0)
        a->sig.encoding = SIG_HEX;
    else if (strcmp(enc, "HEX") == 0)
        a->sig.encoding = SIG_HEX_UPPER;
    else if (strcmp(enc, "base64") == 0)
        a->sig.encoding = SIG_BASE64;
    else {
        ob_strlcpyf(errstr, errstr_size, "settings.signature.encoding: hex, HEX or base64");
        return -1;
    }
    a->sig.header = strdup(header);
    return key_bytes(a->env, sig, "settings.signature", &a->sig.key, errstr, errstr_size);
}

static int mapping_init(const struct ob_adapter_env *env, const void *settings_v, void **state,
                        char *errstr, size_t errstr_size)
{
    const json_t *settings = settings_v;
    const json_t *request = json_object_get(settings, "request");
    const json_t *v, *answers;
    struct mapping_adapter *a;
    const char *key;
    char path[4096];

    if (!json_is_object(request)) {
        ob_strlcpyf(errstr, errstr_size, "settings.request: required object {method, path, body, "
                                         "content_type, headers}");
        return -1;
    }
    a = calloc(1, sizeof(*a));
    if (!a)
        return -1;
    a->env = env;
    a->method = "POST";
    json_object_foreach((json_t *)settings, key, v) {
        if (strcmp(key, "request") != 0 && strcmp(key, "answers") != 0 &&
            strcmp(key, "time_zone") != 0 && strcmp(key, "keys") != 0 &&
            strcmp(key, "signature") != 0) {
            ob_strlcpyf(errstr, errstr_size, "settings.%s: unknown setting (request, answers, "
                                             "keys, signature, time_zone)", key);
            goto fail;
        }
    }
    json_object_foreach((json_t *)request, key, v) {
        if (strcmp(key, "method") == 0 && json_is_string(v)) {
            const char *m = json_string_value(v);
            a->method = strcmp(m, "POST") == 0 ? "POST" : strcmp(m, "PUT") == 0 ? "PUT" : NULL;
            if (!a->method) {
                ob_strlcpyf(errstr, errstr_size, "settings.request.method: POST or PUT");
                goto fail;
            }
        } else if (strcmp(key, "path") == 0 && json_is_string(v)) {
            if (template(json_string_value(v), "settings.request.path", &a->url, errstr,
                         errstr_size) != 0)
                goto fail;
        } else if (strcmp(key, "body") == 0 && json_is_string(v)) {
            const char *file = json_string_value(v);
            if (file[0] == '/')
                snprintf(path, sizeof(path), "%s", file);
            else
                snprintf(path, sizeof(path), "%s/%s", env->config_dir ? env->config_dir : ".",
                         file);
            if (ob_mapping_load(path, &a->body, errstr, errstr_size) != 0)
                goto fail;
            if (ob_mapping_format_of(a->body) == OB_MAPPING_FORM) {
                ob_strlcpyf(errstr, errstr_size, "settings.request.body: a .form body needs a "
                                                 "signing scheme; not supported by this adapter yet");
                goto fail;
            }
        } else if (strcmp(key, "content_type") == 0 && json_is_string(v)) {
            a->content_type = dup_opt(v);
        } else if (strcmp(key, "headers") == 0 && json_is_object(v)) {
            const char *name;
            json_t *value;
            json_object_foreach((json_t *)v, name, value) {
                if (!json_is_string(value) || a->n_headers == MAX_HEADERS) {
                    ob_strlcpyf(errstr, errstr_size, "settings.request.headers.%s: a string "
                                "template (at most %d headers)", name, MAX_HEADERS);
                    goto fail;
                }
                a->header_names[a->n_headers] = strdup(name);
                if (template(json_string_value(value), "settings.request.headers",
                             &a->header_values[a->n_headers++], errstr, errstr_size) != 0)
                    goto fail;
            }
        } else {
            ob_strlcpyf(errstr, errstr_size, "settings.request.%s: unknown or wrong type", key);
            goto fail;
        }
    }
    if (!a->url || !a->body) {
        ob_strlcpyf(errstr, errstr_size, "settings.request: path and body are required");
        goto fail;
    }
    answers = json_object_get(settings, "answers");
    if (answers && (!json_is_array(answers) || json_array_size(answers) > MAX_ANSWERS)) {
        ob_strlcpyf(errstr, errstr_size, "settings.answers: an array of at most %d rules",
                    MAX_ANSWERS);
        goto fail;
    }
    for (size_t i = 0; answers && i < json_array_size(answers); i++) {
        if (!json_is_object(json_array_get(answers, i)) ||
            parse_answer(json_array_get(answers, i), i, &a->answers[a->n_answers++], errstr,
                         errstr_size) != 0) {
            if (!errstr[0])
                ob_strlcpyf(errstr, errstr_size, "settings.answers[%zu]: an object", i);
            goto fail;
        }
    }
    v = json_object_get(settings, "time_zone");
    a->time_zone = strdup(json_is_string(v) ? json_string_value(v) : "Asia/Shanghai");
    v = json_object_get(settings, "keys");
    if (v && parse_keys(a, v, errstr, errstr_size) != 0)
        goto fail;
    v = json_object_get(settings, "signature");
    if (v && parse_signature(a, v, errstr, errstr_size) != 0)
        goto fail;
    *state = a;
    return 0;
fail:
    mapping_destroy(a);
    return -1;
}

static const char *variable(void *arg, const char *name)
{
    const struct mapping_adapter *a = arg;

    if (strncmp(name, "credential.", 11) == 0)
        return a->env->credential(a->env, name + 11);
    if (strcmp(name, "endpoint") == 0)
        return a->env->endpoint;
    return NULL;
}

/* `{{ x | encrypt:NAME }}`: CBC and GCM get a fresh random IV, sent in
 * front of the ciphertext (and GCM's tag after it), then encoded. */
static int encrypt_value(void *arg, const char *key_name, const char *in, size_t len,
                         struct ob_buf *out, char *errstr, size_t errstr_size)
{
    const struct mapping_adapter *a = arg;
    const struct key_spec *k = NULL;
    unsigned char iv[16];
    size_t iv_len = 0;
    struct ob_buf raw;
    int rc;

    for (size_t i = 0; i < a->n_keys; i++) {
        if (strcmp(a->keys[i].name, key_name) == 0)
            k = &a->keys[i];
    }
    if (!k) {
        ob_strlcpyf(errstr, errstr_size, "no key %s in settings.keys", key_name);
        return -1;
    }
    if (k->cipher == OB_AES_128_GCM || k->cipher == OB_AES_256_GCM)
        iv_len = 12;
    else if (k->cipher == OB_AES_128_CBC || k->cipher == OB_AES_256_CBC || k->cipher == OB_SM4_CBC)
        iv_len = 16;
    ob_buf_init(&raw, OB_BUF_DEFAULT_MAX);
    if (iv_len && ob_random_bytes(iv, iv_len) != 0) {
        ob_strlcpyf(errstr, errstr_size, "no random bytes for the IV");
        return -1;
    }
    ob_buf_append(&raw, iv, iv_len);
    rc = ob_encrypt(k->cipher, (const unsigned char *)k->key.data, k->key.len, iv_len ? iv : NULL,
                    iv_len, NULL, 0, in, len, &raw);
    if (rc == 0 && k->hex_output) {
        char *hex = malloc(2 * raw.len + 1);
        rc = -1;
        if (hex) {
            ob_hex_lower((const unsigned char *)raw.data, raw.len, hex);
            rc = ob_buf_append(out, hex, 2 * raw.len);
            free(hex);
        }
    } else if (rc == 0) {
        rc = ob_base64_encode(raw.data, raw.len, out);
    }
    ob_buf_cleanse(&raw);
    if (rc != 0)
        ob_strlcpyf(errstr, errstr_size, "cannot encrypt with %s", key_name);
    return rc;
}

static int render_text(const struct ob_mapping *m, const struct ob_mapping_context *ctx,
                       struct ob_buf *out, char *errstr, size_t errstr_size)
{
    ob_buf_init(out, OB_BUF_DEFAULT_MAX);
    ob_buf_append(out, "", 0);
    return ob_mapping_render(m, ctx, out, errstr, errstr_size);
}

/* The signature header: HMAC of the body bytes with the signature key. */
static int sign_body(const struct mapping_adapter *a, struct ob_request *req)
{
    unsigned char mac[OB_DIGEST_MAX];
    size_t mac_len = 0;
    char text[2 * OB_DIGEST_MAX + 1];
    struct ob_buf b64;
    int rc;

    if (ob_hmac(a->sig.digest, a->sig.key.data, a->sig.key.len, req->body, req->body_len, mac,
                &mac_len) != 0)
        return -1;
    if (a->sig.encoding == SIG_BASE64) {
        ob_buf_init(&b64, 256);
        rc = ob_base64_encode(mac, mac_len, &b64) ||
             ob_request_add_header(req, a->sig.header, b64.data);
        ob_buf_reset(&b64);
        return rc ? -1 : 0;
    }
    if (a->sig.encoding == SIG_HEX_UPPER)
        ob_hex_upper(mac, mac_len, text);
    else
        ob_hex_lower(mac, mac_len, text);
    return ob_request_add_header(req, a->sig.header, text);
}

static int mapping_encode(void *state, const struct ob_order *order,
                          const struct ob_delivery *delivery, struct ob_request *out, char *errstr,
                          size_t errstr_size)
{
    struct mapping_adapter *a = state;
    struct ob_mapping_context ctx = {
        .order_doc = order->doc,
        .warehouse = delivery->warehouse,
        .idempotency_key = delivery->idempotency_key,
        .attempt = delivery->attempt,
        .time_zone = a->time_zone,
        .variable = variable,
        .encrypt = encrypt_value,
        .arg = a,
    };
    struct ob_buf text;
    size_t len;
    char *body;

    if (order->event != OB_EVENT_CREATED) {
        ob_strlcpyf(errstr, errstr_size, "event %s is not supported by the mapping adapter yet",
                    order->event_name);
        return -1;
    }
    if (render_text(a->url, &ctx, &text, errstr, errstr_size) != 0)
        goto fail;
    if (ob_request_set_url(out, "%s%s", a->env->endpoint, text.data) != 0)
        goto oom;
    ob_buf_reset(&text);
    for (size_t i = 0; i < a->n_headers; i++) {
        if (render_text(a->header_values[i], &ctx, &text, errstr, errstr_size) != 0)
            goto fail;
        if (ob_request_add_header(out, a->header_names[i], text.data) != 0)
            goto oom;
        ob_buf_cleanse(&text); /* may hold a credential */
    }
    if (a->content_type && ob_request_add_header(out, "Content-Type", a->content_type) != 0)
        goto oom;
    if (render_text(a->body, &ctx, &text, errstr, errstr_size) != 0)
        goto fail;
    body = ob_buf_steal(&text, &len);
    if (!body)
        goto oom;
    ob_request_take_body(out, body, len);
    if (a->sig.header && sign_body(a, out) != 0)
        goto oom;
    out->method = a->method;
    return 0;
oom:
    ob_strlcpyf(errstr, errstr_size, "out of memory");
fail:
    ob_buf_cleanse(&text);
    return -1;
}

/* The text of a JSON field (dotted path) of the body, into buf; NULL if absent. */
static const char *json_field(const json_t *doc, const char *path, char *buf, size_t size)
{
    char key[128];
    const json_t *cur = doc;

    while (cur && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof(key))
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        cur = json_object_get(cur, key);
        path += n + (path[n] == '.');
    }
    if (json_is_string(cur))
        ob_strlcpyf(buf, size, "%s", json_string_value(cur));
    else if (json_is_integer(cur))
        ob_strlcpyf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(cur));
    else if (json_is_boolean(cur))
        ob_strlcpyf(buf, size, "%s", json_is_true(cur) ? "true" : "false");
    else
        return NULL;
    return buf;
}

static int answer_matches(const struct answer *r, const struct ob_response *resp,
                          const json_t *doc)
{
    char value[256];
    int status_ok = r->n_status == 0;

    for (size_t i = 0; i < r->n_status; i++)
        status_ok |= r->status[i] == resp->status;
    if (!status_ok)
        return 0;
    if (r->body_contains && (!resp->body || !strstr(resp->body, r->body_contains)))
        return 0;
    if (r->json_path) {
        const char *got = doc ? json_field(doc, r->json_path, value, sizeof(value)) : NULL;
        if (!got || strcmp(got, r->json_equals) != 0)
            return 0;
    }
    return 1;
}

static void mapping_decode(void *state, const struct ob_order *order,
                           const struct ob_delivery *delivery, const struct ob_response *resp,
                           struct ob_outcome *out)
{
    struct mapping_adapter *a = state;
    json_t *doc = NULL;

    (void)order;
    (void)delivery;
    if (resp->status == 0) {
        ob_outcome_from_http(resp, out); /* no answer: retry */
        return;
    }
    if (resp->body_len)
        doc = json_loadb(resp->body, resp->body_len, 0, NULL);
    for (size_t i = 0; i < a->n_answers; i++) {
        const struct answer *r = &a->answers[i];
        if (!answer_matches(r, resp, doc))
            continue;
        out->kind = r->outcome;
        if (r->id_path && doc)
            json_field(doc, r->id_path, out->warehouse_order_id, sizeof(out->warehouse_order_id));
        ob_strlcpyf(out->reason, sizeof(out->reason), "HTTP %ld (answers[%zu]): %.300s",
                    resp->status, i, resp->body ? resp->body : "");
        goto done;
    }
    /* No rule: 2xx accepted, 408/429/5xx retried, the rest refused. */
    if (!ob_outcome_from_http(resp, out)) {
        out->kind = OB_OUTCOME_ACCEPTED;
        ob_strlcpyf(out->reason, sizeof(out->reason), "HTTP %ld", resp->status);
    }
done:
    json_decref(doc);
}

static const struct ob_adapter mapping_adapter = {
    .abi = OB_ADAPTER_ABI,
    .size = sizeof(struct ob_adapter),
    .name = "mapping",
    .description = "a warehouse described by mapping files and answer rules (no C)",
    .init = mapping_init,
    .encode = mapping_encode,
    .decode_response = mapping_decode,
    .destroy = mapping_destroy,
};

OB_ADAPTER_EXPORT const struct ob_adapter *ob_adapter_entry(void)
{
    return &mapping_adapter;
}
