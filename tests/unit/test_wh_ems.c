/*
 * test_wh_ems.c — the ems adapter (adapters/ems/ems.c), China Post EMS
 * create-order API 020003, loaded through the real loader (ob_adapter_open)
 * as the bridge uses it: the form it builds for
 * contracts/example-order.json (every field, the SM4 logitcsInterface
 * recomputed independently and checked against EMS's official vectors and
 * a value computed with openssl), how it classifies answers, what init
 * refuses; then the adapter against the EMS simulator profile
 * (sim/profile_ems.c) over real HTTP.
 *
 * Config documents are written with single quotes and turned into JSON by
 * J(); no value here needs a real apostrophe.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include <orderbridge/sdk.h>

#include "adapter.h"
#include "config.h"
#include "order.h"
#include "sim.h"

#include "support.h"

#ifndef OB_BUILD_DIR
#error "OB_BUILD_DIR must be defined (tests/CMakeLists.txt)"
#endif
#ifndef OB_CONTRACTS_DIR
#error "OB_CONTRACTS_DIR must be defined (tests/CMakeLists.txt)"
#endif

#define SENDER_ENV "OB_TEST_EMS_SENDER_NO"
#define AUTH_ENV "OB_TEST_EMS_AUTHORIZATION"
#define KEY_ENV "OB_TEST_EMS_SIGN_KEY"
#define SENDER_NO "1100099887766"
/* Characters a form body must escape, to show the authorization is encoded. */
#define AUTHORIZATION "K7+gq/Zp=&Auth 9~"
#define AUTHORIZATION_FORM "K7%2Bgq%2FZp%3D%26Auth+9%7E" /* java.net.URLEncoder */
/* openssl rand -base64 16 */
#define SIGN_KEY "2ouV+lWaceIgWcOCEGJuSg=="

#define ENDPOINT_BJ "https://api.ems.com.cn/amp-prod-api/f/amp/api/test"
#define ENDPOINT_SZ "http://ems-sz.example.com:8080/amp-prod-api/f/amp/api/open"

/* The business document the recipe asks for, for the example order, as
 * compact UTF-8 JSON, written out by hand from the recipe. */
#define EXAMPLE_JSON                                                                              \
    "[{\"logisticsOrderNo\":\"SO20231111000123\",\"receiver\":{\"name\":\"张三\",\"mobile\":"      \
    "\"13800138000\",\"prov\":\"上海市\",\"city\":\"上海市\",\"county\":\"闵行区\",\"address\":"   \
    "\"莘庄镇 春申路 1 号 2 单元 301\"},\"cargos\":[{\"cargoName\":\"D'LITES 复古老爹鞋 黑 42\","  \
    "\"cargoQuantity\":1},{\"cargoName\":\"运动袜 3 双装\",\"cargoQuantity\":2}]}]"

/* EXAMPLE_JSON sealed with SIGN_KEY, computed with openssl, not with the SDK:
 *   K=2ouV+lWaceIgWcOCEGJuSg==
 *   printf '%s%s' "$EXAMPLE_JSON" "$K" |
 *     openssl enc -sm4-ecb -K $(printf %s "$K" | base64 -d | xxd -p) | base64 -w0 */
#define EXAMPLE_SEALED                                                                            \
    "|$4|ezRvDKyZvDQd6ynZa5h3i8b69Yhwt8Hnqdz2sOtCtwwCiNOis8HC8wfzePBfmGAc/g0YP3bHPlDoIkSrys2r4OSr" \
    "hrXOvoudz14KNxlNqbLDXzaXcKSSu7MrzcWQcmZ6vQeWLcV4W3LGv/krCAd5X0Otz8DJhC2SuhG2CY6ONCLl3TXvTDA" \
    "Na0LLSaUDSwiRu1ySqMdiK/ktgT03PYtdI2mAlCahsbnsCXQnBaNBtH0V7nXu4dNZQAt6/gBka9xSao/JkvjvmhjEFvq" \
    "84TityWosuM2IylbGx5xFW+NuWftHWHh0THF02ut2dER/yt2g5d7fGAkk+trMwNtNCP76zIz7h4GDDEVgPp3S9pQB9T+" \
    "3oXXy5Qu0wo5idv/4DSLVuFsXVvqYxNebjelNP4orMuNTcL22MM7NyjVxCjw40BQQpO9Iz11AV1lD9h9tJlD2ikC1cAh" \
    "8mvXuIhb9cYOg+xJ2ptD1P3VU7Y6ZIWJPgRo="
/* The same, form-encoded (python3 urllib.parse.quote_plus, safe='*-._'). */
#define EXAMPLE_SEALED_FORM                                                                       \
    "%7C%244%7CezRvDKyZvDQd6ynZa5h3i8b69Yhwt8Hnqdz2sOtCtwwCiNOis8HC8wfzePBfmGAc%2Fg0YP3bHPlDoIkSr" \
    "ys2r4OSrhrXOvoudz14KNxlNqbLDXzaXcKSSu7MrzcWQcmZ6vQeWLcV4W3LGv%2FkrCAd5X0Otz8DJhC2SuhG2CY6ONC" \
    "Ll3TXvTDANa0LLSaUDSwiRu1ySqMdiK%2FktgT03PYtdI2mAlCahsbnsCXQnBaNBtH0V7nXu4dNZQAt6%2FgBka9xSao" \
    "%2FJkvjvmhjEFvq84TityWosuM2IylbGx5xFW%2BNuWftHWHh0THF02ut2dER%2Fyt2g5d7fGAkk%2BtrMwNtNCP76z" \
    "Iz7h4GDDEVgPp3S9pQB9T%2B3oXXy5Qu0wo5idv%2F4DSLVuFsXVvqYxNebjelNP4orMuNTcL22MM7NyjVxCjw40BQQp" \
    "O9Iz11AV1lD9h9tJlD2ikC1cAh8mvXuIhb9cYOg%2BxJ2ptD1P3VU7Y6ZIWJPgRo%3D"

#define CREDENTIALS                                                                               \
    "'credentials':{'sender_no':'env:" SENDER_ENV "','authorization':'env:" AUTH_ENV "',"         \
    "'sign_key':'env:" KEY_ENV "'}"

/* Two warehouses: BJ with default settings, SZ in UTC with a transient code. */
#define CONFIG                                                                                    \
    "{'kafka':{'bootstrap_servers':'k1:9092'},"                                                   \
    "'adapter_path':['" OB_BUILD_DIR "/adapters'],"                                               \
    "'warehouses':{"                                                                              \
    "'EMS-BJ-01':{'adapter':'ems','endpoint':'" ENDPOINT_BJ "'," CREDENTIALS "},"                 \
    "'EMS-SZ-02':{'adapter':'ems','endpoint':'" ENDPOINT_SZ "'," CREDENTIALS ","                  \
    "'settings':{'time_zone':'UTC','retry_codes':['S99999']}}}}"

struct fixture {
    struct ob_config *cfg;
    struct ob_adapter_instance *bj; /* EMS-BJ-01, default settings */
    struct ob_adapter_instance *sz; /* EMS-SZ-02, UTC, retry_codes */
    struct ob_parsed_order *example;
    char *example_text;
    size_t example_len;
};

static struct fixture fx;
static char err[2048];

static int setup(void **state)
{
    (void)state;
    const char *json;

    memset(&fx, 0, sizeof fx);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -1;
    if (setenv(SENDER_ENV, SENDER_NO, 1) != 0 || setenv(AUTH_ENV, AUTHORIZATION, 1) != 0 ||
        setenv(KEY_ENV, SIGN_KEY, 1) != 0)
        return -1;
    unsetenv("OB_ADAPTER_PATH");
    json = J(CONFIG);
    if (ob_config_parse(json, strlen(json), NULL, &fx.cfg, err, sizeof err) != 0) {
        print_error("config: %s\n", err);
        return -1;
    }
    if (ob_adapter_open(fx.cfg, ob_config_warehouse(fx.cfg, "EMS-BJ-01"), &fx.bj, err,
                        sizeof err) != 0 ||
        ob_adapter_open(fx.cfg, ob_config_warehouse(fx.cfg, "EMS-SZ-02"), &fx.sz, err,
                        sizeof err) != 0) {
        print_error("adapter: %s\n", err);
        return -1;
    }
    fx.example_text = read_file(OB_CONTRACTS_DIR "/example-order.json", &fx.example_len);
    if (!fx.example_text)
        return -1;
    fx.example = parse_order(fx.example_text, fx.example_len);
    return fx.example ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    ob_order_free(fx.example);
    free(fx.example_text);
    ob_adapter_close(fx.bj);
    ob_adapter_close(fx.sz);
    ob_config_destroy(fx.cfg);
    unsetenv(SENDER_ENV);
    unsetenv(AUTH_ENV);
    unsetenv(KEY_ENV);
    curl_global_cleanup();
    return 0;
}

/* printf 'orderbridge.idem.v1\nEMS-BJ-01\nSO20231111000123\norder.created\n1' | sha256sum */
static const struct ob_delivery delivery = {
    .warehouse = "EMS-BJ-01",
    .idempotency_key = "2831e38b52b6546142d2c2602f7c1c0c06fc674669b3f0e92ceecd70ecf6a8f6",
    .trace_id = "0-42",
    .attempt = 1,
};

static int encode_rc(struct ob_adapter_instance *inst, const struct ob_order *order,
                     struct ob_request *req)
{
    memset(req, 0, sizeof *req);
    err[0] = '\0';
    return inst->plugin.vt.encode(inst->state, order, &delivery, req, err, sizeof err);
}

/* Encode `order` with `inst`; the request must be freed with ob_request_reset. */
static void encode(struct ob_adapter_instance *inst, const struct ob_order *order,
                   struct ob_request *req)
{
    if (encode_rc(inst, order, req) != 0) {
        print_error("encode failed: %s\n", err);
        fail();
    }
}

/* ------------------------------------------------------------------------ */
/* An application/x-www-form-urlencoded reader written for the test (the
 * SDK has no decoder): '+' is a space, %XX a byte; nothing else is allowed
 * to be left unencoded but A-Z a-z 0-9 . - * _ (java.net.URLEncoder). */

struct form {
    size_t n;
    char *key[16];
    char *value[16];
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1; /* lower-case hex is not what the encoder writes */
}

static char *form_unescape(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    size_t n = 0;
    assert_non_null(out);
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '+') {
            out[n++] = ' ';
        } else if (c == '%') {
            if (i + 2 >= len) {
                print_error("cut escape at %zu in %.*s\n", i, (int)len, s);
                fail();
            }
            int hi = hexval(s[i + 1]), lo = hi < 0 ? -1 : hexval(s[i + 2]);
            if (hi < 0 || lo < 0) {
                print_error("bad escape at %zu in %.*s\n", i, (int)len, s);
                fail();
            }
            out[n++] = (char)(hi * 16 + lo);
            i += 2;
        } else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '.' || c == '-' || c == '*' || c == '_') {
            out[n++] = c;
        } else {
            print_error("unencoded 0x%02x in the form body: %.*s\n", (unsigned char)c, (int)len,
                        s);
            fail();
        }
    }
    out[n] = '\0';
    return out;
}

static void form_parse(const char *body, size_t len, struct form *f)
{
    const char *p = body, *end = body + len;
    memset(f, 0, sizeof *f);
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        assert_non_null(eq);
        assert_true(f->n < 16);
        f->key[f->n] = form_unescape(p, (size_t)(eq - p));
        f->value[f->n] = form_unescape(eq + 1, (size_t)(stop - eq - 1));
        f->n++;
        p = amp ? amp + 1 : end;
    }
}

static void form_free(struct form *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->key[i]);
        free(f->value[i]);
    }
    memset(f, 0, sizeof *f);
}

/* The value of `key`, present exactly once. */
static const char *form_get(const struct form *f, const char *key)
{
    const char *found = NULL;
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->key[i], key) == 0) {
            assert_null(found);
            found = f->value[i];
        }
    }
    if (!found) {
        print_error("form field %s missing\n", key);
        fail();
    }
    return found;
}

/* ------------------------------------------------------------------------ */
/* The recipe, recomputed here with SDK primitives (which have their own
 * known-answer tests in test_sdk.c), independently of the adapter. */

/* "|$4|" + Base64(SM4-ECB(Base64Decode(key_b64), json + key_b64)); free() it. */
static char *ems_seal(const char *key_b64, const char *json)
{
    struct ob_buf key, plain, cipher, out;
    ob_buf_init(&key, 64);
    ob_buf_init(&plain, 1 << 20);
    ob_buf_init(&cipher, 1 << 20);
    ob_buf_init(&out, 1 << 20);
    assert_int_equal(ob_base64_decode(key_b64, strlen(key_b64), &key), 0);
    assert_int_equal(key.len, 16);
    assert_int_equal(ob_buf_appends(&plain, json), 0);
    assert_int_equal(ob_buf_appends(&plain, key_b64), 0);
    assert_int_equal(ob_encrypt(OB_SM4_ECB, (const unsigned char *)key.data, key.len, NULL, 0,
                                NULL, 0, plain.data, plain.len, &cipher),
                     0);
    assert_int_equal(ob_buf_appends(&out, "|$4|"), 0);
    assert_int_equal(ob_base64_encode(cipher.data, cipher.len, &out), 0);
    char *s = ob_buf_steal(&out, NULL);
    assert_non_null(s);
    ob_buf_reset(&key);
    ob_buf_reset(&plain);
    ob_buf_reset(&cipher);
    return s;
}

/* The inverse: the plaintext (json + key_b64); free() it. */
static char *ems_open(const char *key_b64, const char *sealed)
{
    struct ob_buf key, cipher, plain;
    ob_buf_init(&key, 64);
    ob_buf_init(&cipher, 1 << 20);
    ob_buf_init(&plain, 1 << 20);
    assert_int_equal(strncmp(sealed, "|$4|", 4), 0);
    assert_int_equal(ob_base64_decode(key_b64, strlen(key_b64), &key), 0);
    assert_int_equal(ob_base64_decode(sealed + 4, strlen(sealed + 4), &cipher), 0);
    assert_int_equal(ob_decrypt(OB_SM4_ECB, (const unsigned char *)key.data, key.len, NULL, 0,
                                NULL, 0, cipher.data, cipher.len, &plain),
                     0);
    char *s = ob_buf_steal(&plain, NULL);
    assert_non_null(s);
    ob_buf_reset(&key);
    ob_buf_reset(&cipher);
    return s;
}

/* The JSON part of a plaintext that must end with SIGN_KEY; free() it. */
static char *strip_key(const char *plain)
{
    size_t n = strlen(plain), k = strlen(SIGN_KEY);
    assert_true(n > k);
    assert_string_equal(plain + n - k, SIGN_KEY);
    char *json = strndup(plain, n - k);
    assert_non_null(json);
    return json;
}

/* The order document the adapter sent: the one array element, checked to
 * hold exactly logisticsOrderNo, receiver and cargos. json_decref() the
 * returned array. */
static json_t *sent_document(const struct ob_request *req, char **plain_out)
{
    struct form f;
    json_error_t jerr;

    form_parse(req->body, req->body_len, &f);
    char *plain = ems_open(SIGN_KEY, form_get(&f, "logitcsInterface"));
    char *json = strip_key(plain);
    json_t *doc = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        print_error("logitcsInterface is not JSON (%s): %s\n", jerr.text, json);
        fail();
    }
    assert_true(json_is_array(doc));
    assert_int_equal(json_array_size(doc), 1);
    json_t *o = json_array_get(doc, 0);
    assert_true(json_is_object(o));
    assert_int_equal(json_object_size(o), 3);
    free(json);
    if (plain_out)
        *plain_out = plain;
    else
        free(plain);
    form_free(&f);
    return doc;
}

static const char *str_at(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) {
        print_error("\"%s\" is not a string\n", key);
        fail();
    }
    return json_string_value(v);
}

/* ------------------------------------------------------------------------ */
/* the official vectors                                                      */

static void test_official_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *key, *json, *sealed;
    } v[] = {
        {"TvaBgrhE46sft3nZlfe7xw==", "{\"language\":\"zh-CN\",\"orderId\":\"QIAO-20200618-004\"}",
         "|$4|efB6PnjDpgHG4xfrvYlXonyBuMJoGTynkfasopHvbl2u3nmNeP+rznA3DyRwb/2GeZL7I3rL6HKD5+Tv3Uy6x8j"
         "IDISbYG8Bg14caH2flYE="},
        {"WjNoNmhXWE12SFZJdk0zWQ==", "[{\"wholeAddress\":\"ABC123\"}]",
         "|$4|slRLUixzb1DplJxnGKMG5tcXh0zH5Ry1qZAIemYxDc7VfSxow31WUmgLbzbJt996Ud/vpaVOMcwyqsLvQRXP"
         "aA=="},
        /* and the example order's document, computed with openssl */
        {SIGN_KEY, EXAMPLE_JSON, EXAMPLE_SEALED},
    };

    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char *sealed = ems_seal(v[i].key, v[i].json);
        assert_string_equal(sealed, v[i].sealed);
        free(sealed);

        char *plain = ems_open(v[i].key, v[i].sealed);
        size_t n = strlen(v[i].json);
        assert_int_equal(strncmp(plain, v[i].json, n), 0);
        assert_string_equal(plain + n, v[i].key);
        free(plain);
    }
}

/* ------------------------------------------------------------------------ */
/* encode                                                                    */

static void test_encode_request_line_and_headers(void **state)
{
    (void)state;
    struct ob_request req;

    encode(fx.bj, &fx.example->order, &req);
    assert_non_null(req.method);
    assert_string_equal(req.method, "POST");
    /* The endpoint is EMS's gateway URL, used as configured. */
    assert_string_equal(req.url, ENDPOINT_BJ);
    assert_int_equal(req.n_headers, 1);
    assert_string_equal(req_header(&req, "Content-Type"),
                        "application/x-www-form-urlencoded; charset=UTF-8");
    /* No secret in the URL; the sign key is nowhere in clear. */
    assert_null(strstr(req.url, "authorization"));
    assert_null(strstr(req.body, SIGN_KEY));
    assert_null(strstr(req.body, "2ouV"));
    ob_request_reset(&req);

    encode(fx.sz, &fx.example->order, &req);
    assert_string_equal(req.url, ENDPOINT_SZ);
    ob_request_reset(&req);
}

/* A timeStamp must be one of the seconds between t0 and t1, in `tz`. */
static void assert_stamp_between(const char *stamp, int64_t t0, int64_t t1, const char *tz)
{
    for (int64_t t = t0 - t0 % 1000; t <= t1; t += 1000) {
        char want[32];
        assert_int_equal(ob_time_format(t, tz, "yyyy-MM-dd HH:mm:ss", want, sizeof want), 0);
        if (strcmp(want, stamp) == 0)
            return;
    }
    print_error("timeStamp %s is not a %s time between %lld and %lld\n", stamp, tz,
                (long long)t0, (long long)t1);
    fail();
}

/* Every form field, in the recipe's order, and the raw body byte for byte. */
static void test_encode_form_fields(void **state)
{
    (void)state;
    static const char *const keys[] = {"apiCode",   "senderNo", "authorization",   "msgType",
                                       "timeStamp", "version",  "logitcsInterface"};
    struct ob_request req;
    struct form f;

    int64_t t0 = ob_time_now_ms();
    encode(fx.bj, &fx.example->order, &req);
    int64_t t1 = ob_time_now_ms();
    assert_non_null(req.body);
    assert_int_equal(strlen(req.body), req.body_len);

    form_parse(req.body, req.body_len, &f);
    assert_int_equal(f.n, 7);
    for (size_t i = 0; i < 7; i++)
        assert_string_equal(f.key[i], keys[i]);
    assert_string_equal(form_get(&f, "apiCode"), "020003");
    assert_string_equal(form_get(&f, "senderNo"), SENDER_NO);
    assert_string_equal(form_get(&f, "authorization"), AUTHORIZATION);
    assert_string_equal(form_get(&f, "msgType"), "0");
    assert_string_equal(form_get(&f, "version"), "V1.0.0");
    const char *stamp = form_get(&f, "timeStamp");
    assert_int_equal(strlen(stamp), 19);
    assert_stamp_between(stamp, t0, t1, "Asia/Shanghai");
    /* SM4 is deterministic: the exact value openssl computed. */
    assert_string_equal(form_get(&f, "logitcsInterface"), EXAMPLE_SEALED);

    /* The body itself, as java.net.URLEncoder would write it. */
    char want[4096];
    char stamp_form[64];
    snprintf(stamp_form, sizeof stamp_form, "%.10s+%.2s%%3A%.2s%%3A%.2s", stamp, stamp + 11,
             stamp + 14, stamp + 17);
    snprintf(want, sizeof want,
             "apiCode=020003&senderNo=%s&authorization=%s&msgType=0&timeStamp=%s"
             "&version=V1.0.0&logitcsInterface=%s",
             SENDER_NO, AUTHORIZATION_FORM, stamp_form, EXAMPLE_SEALED_FORM);
    assert_string_equal(req.body, want);
    form_free(&f);
    ob_request_reset(&req);

    /* time_zone "UTC" on the other warehouse. */
    t0 = ob_time_now_ms();
    encode(fx.sz, &fx.example->order, &req);
    t1 = ob_time_now_ms();
    form_parse(req.body, req.body_len, &f);
    assert_stamp_between(form_get(&f, "timeStamp"), t0, t1, "UTC");
    assert_string_equal(form_get(&f, "logitcsInterface"), EXAMPLE_SEALED);
    form_free(&f);
    ob_request_reset(&req);
}

/* Every member of the decrypted document, and the plaintext exactly. */
static void test_encode_document(void **state)
{
    (void)state;
    struct ob_request req;
    char *plain;

    encode(fx.bj, &fx.example->order, &req);
    json_t *doc = sent_document(&req, &plain);
    /* Compact UTF-8 JSON (no \u escapes) followed by the sign key. */
    assert_string_equal(plain, EXAMPLE_JSON SIGN_KEY);
    free(plain);

    json_t *o = json_array_get(doc, 0);
    assert_string_equal(str_at(o, "logisticsOrderNo"), "SO20231111000123");

    json_t *r = json_object_get(o, "receiver");
    assert_true(json_is_object(r));
    assert_int_equal(json_object_size(r), 6);
    assert_string_equal(str_at(r, "name"), "张三");
    assert_string_equal(str_at(r, "mobile"), "13800138000");
    assert_string_equal(str_at(r, "prov"), "上海市");
    assert_string_equal(str_at(r, "city"), "上海市");
    assert_string_equal(str_at(r, "county"), "闵行区");
    assert_string_equal(str_at(r, "address"), "莘庄镇 春申路 1 号 2 单元 301");

    json_t *cargos = json_object_get(o, "cargos");
    assert_true(json_is_array(cargos));
    assert_int_equal(json_array_size(cargos), 2);
    json_t *c0 = json_array_get(cargos, 0), *c1 = json_array_get(cargos, 1);
    assert_int_equal(json_object_size(c0), 2);
    assert_string_equal(str_at(c0, "cargoName"), "D'LITES 复古老爹鞋 黑 42");
    assert_true(json_is_integer(json_object_get(c0, "cargoQuantity")));
    assert_int_equal(json_integer_value(json_object_get(c0, "cargoQuantity")), 1);
    assert_int_equal(json_object_size(c1), 2);
    assert_string_equal(str_at(c1, "cargoName"), "运动袜 3 双装");
    assert_int_equal(json_integer_value(json_object_get(c1, "cargoQuantity")), 2);

    json_decref(doc);
    ob_request_reset(&req);
}

/* The example order with some fields replaced; returns the parsed order. */
static struct ob_parsed_order *example_with(const char *event, const char *text_field_value,
                                            int drop_item_name, int drop_district)
{
    json_error_t jerr;
    json_t *doc = json_loadb(fx.example_text, fx.example_len, 0, &jerr);
    assert_non_null(doc);
    if (event)
        assert_int_equal(json_object_set_new(doc, "event", json_string(event)), 0);
    if (text_field_value) {
        json_t *item0 = json_array_get(json_object_get(doc, "items"), 0);
        json_t *addr = json_object_get(doc, "shipping_address");
        assert_int_equal(json_object_set_new(doc, "remark", json_string(text_field_value)), 0);
        assert_int_equal(json_object_set_new(item0, "name", json_string(text_field_value)), 0);
        assert_int_equal(json_object_set_new(addr, "name", json_string(text_field_value)), 0);
        assert_int_equal(json_object_set_new(addr, "street", json_string(text_field_value)), 0);
    }
    if (drop_item_name) {
        json_t *item1 = json_array_get(json_object_get(doc, "items"), 1);
        assert_int_equal(json_object_del(item1, "name"), 0);
    }
    if (drop_district)
        assert_int_equal(json_object_del(json_object_get(doc, "shipping_address"), "district"), 0);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    assert_non_null(text);
    struct ob_parsed_order *po = parse_order(text, strlen(text));
    free(text);
    assert_non_null(po);
    return po;
}

/* The recipe sends no remark; the example's remark (& < >) and worse text
 * put into fields that are sent (receiver name and address, cargoName)
 * arrive intact after form decoding, SM4 decryption and JSON parsing. */
static void test_encode_special_characters(void **state)
{
    (void)state;
    const char *remark = fx.example->order.remark;
    const char *nasty = "双11 & <请勿> \"quoted\" 'single' back\\slash %41+%2B = |$4| {\"x\":1}";
    const char *values[] = {remark, nasty};

    assert_string_equal(remark, "双11 预售尾款 & <请勿> 放快递柜");
    for (size_t i = 0; i < 2; i++) {
        struct ob_parsed_order *po = example_with(NULL, values[i], 0, 0);
        struct ob_request req;

        assert_string_equal(po->order.remark, values[i]);
        encode(fx.bj, &po->order, &req);
        /* 7 fields: 6 separators, however many & the text holds. */
        size_t amps = 0;
        for (size_t k = 0; k < req.body_len; k++)
            amps += req.body[k] == '&';
        assert_int_equal(amps, 6);

        json_t *doc = sent_document(&req, NULL);
        json_t *o = json_array_get(doc, 0);
        json_t *r = json_object_get(o, "receiver");
        assert_string_equal(str_at(r, "name"), values[i]);
        assert_string_equal(str_at(r, "address"), values[i]);
        assert_string_equal(str_at(json_array_get(json_object_get(o, "cargos"), 0), "cargoName"),
                            values[i]);
        assert_string_equal(str_at(o, "logisticsOrderNo"), "SO20231111000123");
        json_decref(doc);
        ob_request_reset(&req);
        ob_order_free(po);
    }
}

/* An item without a name is sent with its SKU as cargoName. */
static void test_encode_item_without_name(void **state)
{
    (void)state;
    struct ob_parsed_order *po = example_with(NULL, NULL, 1, 0);
    struct ob_request req;

    assert_null(po->order.items[1].name);
    encode(fx.bj, &po->order, &req);
    json_t *doc = sent_document(&req, NULL);
    json_t *cargos = json_object_get(json_array_get(doc, 0), "cargos");
    assert_int_equal(json_array_size(cargos), 2);
    assert_string_equal(str_at(json_array_get(cargos, 1), "cargoName"), "SKE-SOCK-3P");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(cargos, 1),
                                                        "cargoQuantity")),
                     2);
    json_decref(doc);
    ob_request_reset(&req);
    ob_order_free(po);
}

/* EMS needs receiver.county; order.v1 makes district optional. */
static void test_encode_without_district_fails(void **state)
{
    (void)state;
    struct ob_parsed_order *po = example_with(NULL, NULL, 0, 1);
    struct ob_request req;

    assert_null(po->order.shipping_address.district);
    assert_int_equal(encode_rc(fx.bj, &po->order, &req), -1);
    assert_contains(err, "shipping_address.district");
    assert_contains(err, "receiver.county");
    ob_request_reset(&req);
    ob_order_free(po);
}

/* Updates and cancellations are refused rather than pushed as a create. */
static void test_encode_refuses_other_events(void **state)
{
    (void)state;
    static const char *const events[] = {"order.updated", "order.cancelled"};

    for (size_t i = 0; i < 2; i++) {
        struct ob_parsed_order *po = example_with(events[i], NULL, 0, 0);
        struct ob_request req;
        char want[128];

        assert_int_equal(encode_rc(fx.bj, &po->order, &req), -1);
        snprintf(want, sizeof want, "event %s is not supported by the ems adapter yet",
                 events[i]);
        assert_string_equal(err, want);
        ob_request_reset(&req);
        ob_order_free(po);
    }
}

/* ------------------------------------------------------------------------ */
/* decode_response                                                           */

static struct ob_outcome decode_on(struct ob_adapter_instance *inst, long status,
                                   const char *body, const struct ob_header *headers,
                                   size_t n_headers)
{
    struct ob_response resp = {
        .status = status,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .headers = headers,
        .n_headers = n_headers,
    };
    struct ob_outcome out;
    memset(&out, 0, sizeof out);
    inst->plugin.vt.decode_response(inst->state, &fx.example->order, &delivery, &resp, &out);
    return out;
}

static struct ob_outcome decode(long status, const char *body)
{
    return decode_on(fx.bj, status, body, NULL, 0);
}

static struct ob_outcome decode_retry_after(long status, const char *value)
{
    struct ob_header h[] = {
        {.name = "Content-Type", .value = "application/json"},
        {.name = "Retry-After", .value = (char *)value},
    };
    return decode_on(fx.bj, status, "{\"error\":\"slow down\"}", h, 2);
}

static void test_decode_success(void **state)
{
    (void)state;
    /* retBody is a JSON string holding JSON. */
    struct ob_outcome o = decode(
        200, "{\"serialNo\":\"0f7c\",\"retCode\":\"00000\",\"retMsg\":\"成功\",\"retBody\":"
             "\"{\\\"waybillNo\\\":\\\"1100123456789\\\",\\\"logisticsOrderNo\\\":"
             "\\\"SO20231111000123\\\"}\",\"retDate\":\"2023-11-11 00:00:04\"}");
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(o.tracking_no, "1100123456789");
    assert_string_equal(o.warehouse_order_id, "1100123456789");
    assert_string_equal(o.carrier, "EMS");
    assert_int_equal(o.retry_after_ms, 0);

    /* retBody as an object is read too. */
    o = decode(200, "{\"retCode\":\"00000\",\"retBody\":{\"waybillNo\":\"9876\"}}");
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(o.tracking_no, "9876");

    /* Accepted without a waybill: nothing invented. */
    static const char *const bare[] = {
        "{\"retCode\":\"00000\",\"retMsg\":\"成功\"}",
        "{\"retCode\":\"00000\",\"retBody\":\"not json\"}",
        "{\"retCode\":\"00000\",\"retBody\":\"{\\\"waybillNo\\\":12}\"}",
        "{\"retCode\":\"00000\",\"retBody\":null}",
    };
    for (size_t i = 0; i < sizeof bare / sizeof bare[0]; i++) {
        o = decode(200, bare[i]);
        assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
        assert_string_equal(o.tracking_no, "");
        assert_string_equal(o.warehouse_order_id, "");
        assert_string_equal(o.carrier, "");
    }
}

static void test_decode_duplicate_is_accepted(void **state)
{
    (void)state;
    struct ob_outcome o = decode(200, "{\"retCode\":\"B00021\",\"retMsg\":\"订单已存在\"}");
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_contains(o.reason, "B00021");
    assert_contains(o.reason, "订单已存在");
    assert_string_equal(o.tracking_no, "");

    /* With the existing waybill, it is reported. */
    o = decode(200, "{\"retCode\":\"B00021\",\"retMsg\":\"订单已存在\","
                    "\"retBody\":\"{\\\"waybillNo\\\":\\\"1100000000007\\\"}\"}");
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(o.tracking_no, "1100000000007");
    assert_string_equal(o.warehouse_order_id, "1100000000007");
}

static void test_decode_permanent_codes(void **state)
{
    (void)state;
    static const struct {
        const char *body, *code, *msg;
    } cases[] = {
        {"{\"retCode\":\"S00001\",\"retMsg\":\"授权码无效\"}", "S00001", "授权码无效"},
        {"{\"retCode\":\"S00002\",\"retMsg\":\"报文验签失败\"}", "S00002", "报文验签失败"},
        /* a code nobody listed: refused, not retried */
        {"{\"retCode\":\"B00001\",\"retMsg\":\"收件人地址不能为空\"}", "B00001", "收件人地址不能为空"},
        {"{\"retCode\":\"S99999\",\"retMsg\":\"系统繁忙\"}", "S99999", "系统繁忙"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ob_outcome o = decode(200, cases[i].body);
        assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
        assert_contains(o.reason, cases[i].code);
        assert_contains(o.reason, cases[i].msg);
        assert_int_equal(o.retry_after_ms, 0);
        assert_string_equal(o.tracking_no, "");
    }
    /* Without retMsg, still the code. */
    struct ob_outcome o = decode(200, "{\"retCode\":\"S00002\"}");
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    assert_contains(o.reason, "S00002");
}

/* settings.retry_codes makes a retCode transient (EMS-SZ-02 lists S99999). */
static void test_decode_transient_code(void **state)
{
    (void)state;
    const char *busy = "{\"retCode\":\"S99999\",\"retMsg\":\"系统繁忙\"}";
    struct ob_outcome o = decode_on(fx.sz, 200, busy, NULL, 0);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_contains(o.reason, "S99999");
    assert_contains(o.reason, "系统繁忙");
    assert_int_equal(o.retry_after_ms, 0);

    struct ob_header h[] = {{.name = "Retry-After", .value = "2"}};
    o = decode_on(fx.sz, 200, busy, h, 1);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_int_equal(o.retry_after_ms, 2000);

    /* The listed permanent codes and the duplicate keep their meaning there. */
    o = decode_on(fx.sz, 200, "{\"retCode\":\"S00002\"}", NULL, 0);
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    o = decode_on(fx.sz, 200, "{\"retCode\":\"B00021\"}", NULL, 0);
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
}

/* A 200 that is not EMS's JSON: RETRY (EMS dedupes a repeat), reason says so. */
static void test_decode_malformed_is_retried(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "<html><body>502 Bad Gateway</body></html>",
        "",
        "{\"retCode\":",
        "{\"success\":true}",
        "{\"retCode\":0}",
        "{\"retCode\":\"\"}",
        "[\"00000\"]",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        struct ob_outcome o = decode(200, bodies[i]);
        assert_int_equal(o.kind, OB_OUTCOME_RETRY);
        assert_contains(o.reason, "malformed");
        assert_string_equal(o.tracking_no, "");
    }
    struct ob_outcome o = decode(200, NULL);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);

    /* The reason quotes a bounded part of a huge body. */
    char big[4096];
    memset(big, 'e', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    o = decode(200, big);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_true(strlen(o.reason) < 300);
}

static void test_decode_http_errors(void **state)
{
    (void)state;
    static const long retry[] = {408, 429, 500, 502, 503, 504};
    for (size_t i = 0; i < sizeof retry / sizeof retry[0]; i++) {
        char want[16];
        /* even with a body that reads like success: the status decides */
        struct ob_outcome o = decode(retry[i], "{\"retCode\":\"00000\"}");
        assert_int_equal(o.kind, OB_OUTCOME_RETRY);
        assert_int_equal(o.retry_after_ms, 0);
        snprintf(want, sizeof want, "%ld", retry[i]);
        assert_contains(o.reason, want);
    }
    static const long refused[] = {400, 401, 403, 404, 405, 413, 415};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char want[16];
        struct ob_outcome o = decode(refused[i], "{\"error\":\"nope\"}");
        assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
        snprintf(want, sizeof want, "HTTP %ld", refused[i]);
        assert_contains(o.reason, want);
        assert_contains(o.reason, "nope");
    }
}

static void test_decode_retry_after(void **state)
{
    (void)state;
    struct ob_outcome o = decode_retry_after(429, "3");
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_int_equal(o.retry_after_ms, 3000);
    assert_contains(o.reason, "429");

    o = decode_retry_after(503, "120");
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_int_equal(o.retry_after_ms, 120000);

    o = decode_retry_after(429, "soon");
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_int_equal(o.retry_after_ms, 0);

    char date[64];
    time_t when = time(NULL) + 120;
    struct tm tm;
    gmtime_r(&when, &tm);
    assert_true(strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm) > 0);
    o = decode_retry_after(429, date);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_in_range(o.retry_after_ms, 118000, 120000);
}

static void test_decode_transport_error(void **state)
{
    (void)state;
    struct ob_response resp = {.status = 0, .transport_error = "Connection timed out"};
    struct ob_outcome o;

    memset(&o, 0, sizeof o);
    fx.bj->plugin.vt.decode_response(fx.bj->state, &fx.example->order, &delivery, &resp, &o);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_contains(o.reason, "Connection timed out");

    o = decode(0, NULL);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_true(strlen(o.reason) > 0);
}

/* ------------------------------------------------------------------------ */
/* init                                                                      */

static const char *open_fails(const char *wh_body)
{
    char text[4096];
    struct ob_config *cfg = NULL;
    struct ob_adapter_instance *inst = NULL;

    snprintf(text, sizeof text,
             "{'kafka':{'bootstrap_servers':'k1:9092'},'adapter_path':['%s/adapters'],"
             "'warehouses':{'W9':{'adapter':'ems','endpoint':'https://w9.example',%s}}}",
             OB_BUILD_DIR, wh_body);
    const char *json = J(text);
    assert_int_equal(ob_config_parse(json, strlen(json), NULL, &cfg, err, sizeof err), 0);
    err[0] = '\0';
    assert_int_equal(ob_adapter_open(cfg, &cfg->warehouses[0], &inst, err, sizeof err), -1);
    assert_null(inst);
    ob_config_destroy(cfg);
    assert_int_equal(strncmp(err, "$.warehouses.W9: adapter ems: ", 30), 0);
    /* No message may contain a secret. */
    assert_null(strstr(err, AUTHORIZATION));
    assert_null(strstr(err, SIGN_KEY));
    return err;
}

static void test_init_missing_credentials(void **state)
{
    (void)state;
    assert_contains(open_fails("'max_attempts':3"), "credentials.sender_no is required");
    assert_contains(open_fails("'credentials':{'sender_no':'env:" SENDER_ENV "',"
                               "'sign_key':'env:" KEY_ENV "'}"),
                    "credentials.authorization is required");
    assert_contains(open_fails("'credentials':{'sender_no':'env:" SENDER_ENV "',"
                               "'authorization':'env:" AUTH_ENV "'}"),
                    "credentials.sign_key is required");
}

static void test_init_bad_sign_key(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "not base64!",
        "QUJD",                             /* 3 bytes */
        "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3", /* 24 bytes */
        "2ouV+lWaceIgWcOCEGJuSg",           /* unpadded */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(setenv("OB_TEST_EMS_BAD_KEY", bad[i], 1), 0);
        const char *e = open_fails("'credentials':{'sender_no':'env:" SENDER_ENV "',"
                                   "'authorization':'env:" AUTH_ENV "',"
                                   "'sign_key':'env:OB_TEST_EMS_BAD_KEY'}");
        assert_contains(e, "credentials.sign_key");
        assert_contains(e, "16-byte");
        assert_null(strstr(e, bad[i]));
    }
    unsetenv("OB_TEST_EMS_BAD_KEY");
}

static void test_init_bad_settings(void **state)
{
    (void)state;
    static const struct {
        const char *settings, *want;
    } cases[] = {
        {"{'colour':'blue'}", "settings.colour: unknown setting"},
        {"{'time_zone':8}", "settings.time_zone: must be a string"},
        {"{'time_zone':'Mars/Olympus'}", "settings.time_zone: unknown time zone \"Mars/Olympus\""},
        {"{'retry_codes':'S99999'}", "settings.retry_codes: must be an array"},
        {"{'retry_codes':['S99999',7]}", "settings.retry_codes[1]: must be a non-empty string"},
        {"{'retry_codes':['']}", "settings.retry_codes[0]: must be a non-empty string"},
        {"{'retry_codes':['00000']}", "settings.retry_codes[0]: \"00000\" is already classified"},
        {"{'retry_codes':['B00021']}", "settings.retry_codes[0]: \"B00021\" is already classified"},
        {"{'retry_codes':['S00001']}", "settings.retry_codes[0]: \"S00001\" is already classified"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[1024];
        snprintf(body, sizeof body, CREDENTIALS ",'settings':%s", cases[i].settings);
        const char *e = open_fails(body);
        assert_contains(e, cases[i].want);
    }
}

/* ------------------------------------------------------------------------ */
/* against the simulator (sim/profile_ems.c) over HTTP                       */

struct http_answer {
    long status;
    struct ob_buf body;
    struct ob_buf header_block; /* "Name: value\r\n" lines */
    struct ob_header headers[16];
    size_t n_headers;
    char transport_error[CURL_ERROR_SIZE];
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct http_answer *a = ud;
    return ob_buf_append(&a->body, p, size * n) == 0 ? size * n : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct http_answer *a = ud;
    return ob_buf_append(&a->header_block, p, size * n) == 0 ? size * n : 0;
}

/* Split the header block into a->headers (names and values point into it). */
static void split_headers(struct http_answer *a)
{
    char *line = a->header_block.data;
    while (line && *line && a->n_headers < 16) {
        char *eol = strstr(line, "\r\n");
        if (!eol)
            break;
        *eol = '\0';
        char *colon = strchr(line, ':');
        if (colon) {
            *colon = '\0';
            char *v = colon + 1;
            while (*v == ' ')
                v++;
            a->headers[a->n_headers].name = line;
            a->headers[a->n_headers].value = v;
            a->n_headers++;
        }
        line = eol + 2;
    }
}

/* Send `req` exactly as built, with libcurl easy; fill `a` (http_free it). */
static void http_send(const struct ob_request *req, struct http_answer *a)
{
    CURL *e = curl_easy_init();
    struct curl_slist *hdrs = NULL;

    assert_non_null(e);
    memset(a, 0, sizeof *a);
    ob_buf_init(&a->body, 1 << 20);
    ob_buf_init(&a->header_block, 1 << 16);
    assert_int_equal(ob_buf_append(&a->body, "", 0), 0);
    for (size_t i = 0; i < req->n_headers; i++) {
        char line[1024];
        snprintf(line, sizeof line, "%s: %s", req->headers[i].name, req->headers[i].value);
        hdrs = curl_slist_append(hdrs, line);
        assert_non_null(hdrs);
    }
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    assert_string_equal(req->method, "POST");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, a->transport_error);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &a->status);
    else
        a->status = 0;
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(e);
    split_headers(a);
}

static void http_free(struct http_answer *a)
{
    ob_buf_reset(&a->body);
    ob_buf_reset(&a->header_block);
}

/* The adapter's verdict on an HTTP answer. */
static struct ob_outcome classify(struct ob_adapter_instance *inst, const struct ob_order *order,
                                  struct http_answer *a)
{
    struct ob_response resp = {
        .status = a->status,
        .body = a->body.data,
        .body_len = a->body.len,
        .headers = a->headers,
        .n_headers = a->n_headers,
        .transport_error = a->status == 0 ? a->transport_error : NULL,
    };
    struct ob_outcome out;
    memset(&out, 0, sizeof out);
    inst->plugin.vt.decode_response(inst->state, order, &delivery, &resp, &out);
    return out;
}

/* Encode with `inst`, send, classify. */
static struct ob_outcome push(struct ob_adapter_instance *inst, const struct ob_order *order,
                              struct http_answer *a)
{
    struct ob_request req;
    encode(inst, order, &req);
    http_send(&req, a);
    ob_request_reset(&req);
    return classify(inst, order, a);
}

static const char *answer_code(const struct http_answer *a)
{
    static char code[16];
    json_t *doc = json_loadb(a->body.data, a->body.len, 0, NULL);
    const char *c = json_string_value(json_object_get(doc, "retCode"));
    snprintf(code, sizeof code, "%s", c ? c : "");
    json_decref(doc);
    return code;
}

static struct ob_sim *start_sim(const char *sign_key)
{
    const struct ob_sim_secret secrets[] = {
        {.name = "sender_no", .value = SENDER_NO},
        {.name = "authorization", .value = AUTHORIZATION},
        {.name = "sign_key", .value = sign_key},
        {.name = NULL, .value = NULL},
    };
    struct ob_sim_options o = {.profile = "ems", .secrets = secrets};
    struct ob_sim *sim = ob_sim_start(&o, err, sizeof err);
    if (!sim) {
        print_error("ob_sim_start: %s\n", err);
        fail();
    }
    return sim;
}

/* A warehouse pointed at the simulator; credentials from the env. */
static void open_sim_warehouse(unsigned short port, const char *credentials,
                               struct ob_config **cfg, struct ob_adapter_instance **inst)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{'kafka':{'bootstrap_servers':'k1:9092'},'adapter_path':['%s/adapters'],"
             "'warehouses':{'EMS-SIM':{'adapter':'ems',"
             "'endpoint':'http://127.0.0.1:%u/amp-prod-api/f/amp/api/open',%s}}}",
             OB_BUILD_DIR, (unsigned)port, credentials);
    const char *json = J(text);
    assert_int_equal(ob_config_parse(json, strlen(json), NULL, cfg, err, sizeof err), 0);
    if (ob_adapter_open(*cfg, &(*cfg)->warehouses[0], inst, err, sizeof err) != 0) {
        print_error("adapter: %s\n", err);
        fail();
    }
}

/* First push created, second answered B00021 and still ACCEPTED, created
 * once; a tampered logitcsInterface refused (S00002) and PERMANENT. */
static void test_sim_created_duplicate_tampered(void **state)
{
    (void)state;
    struct ob_sim *sim = start_sim(SIGN_KEY);
    struct ob_config *cfg = NULL;
    struct ob_adapter_instance *inst = NULL;
    struct http_answer a;
    struct ob_sim_stats st;

    open_sim_warehouse(ob_sim_port(sim), CREDENTIALS, &cfg, &inst);

    struct ob_outcome o = push(inst, &fx.example->order, &a);
    assert_int_equal(a.status, 200);
    assert_string_equal(answer_code(&a), "00000");
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(o.tracking_no, "1100001000001"); /* "11" + ob_sim_next_id() */
    assert_string_equal(o.warehouse_order_id, "1100001000001");
    assert_string_equal(o.carrier, "EMS");
    http_free(&a);
    assert_int_equal(ob_sim_created(sim, "SO20231111000123"), 1);

    /* The redelivery: EMS says the order exists; that is success. */
    o = push(inst, &fx.example->order, &a);
    assert_int_equal(a.status, 200);
    assert_string_equal(answer_code(&a), "B00021");
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_contains(o.reason, "B00021");
    assert_string_equal(o.tracking_no, "1100001000001"); /* the first waybill */
    http_free(&a);
    assert_int_equal(ob_sim_created(sim, "SO20231111000123"), 1);

    /* Tampered: one Base64 character of logitcsInterface changed in transit,
     * in the first block (the JSON decrypts to garbage) and in the last one
     * (padding and sign key no longer check). Another order, so that a
     * tampered request that slipped through would show as created. */
    struct ob_parsed_order *po = example_with(NULL, NULL, 1, 0);
    static const char prefix[] = "logitcsInterface=%7C%244%7C";
    for (int tail = 0; tail <= 1; tail++) {
        struct ob_request req;
        encode(inst, &po->order, &req);
        char *field = strstr(req.body, prefix);
        assert_non_null(field);
        char *c = tail ? req.body + req.body_len - 12 : field + strlen(prefix) + 5;
        assert_true(c > field + strlen(prefix) && *c != '%' && c[-1] != '%' && c[-2] != '%');
        *c = *c == 'A' ? 'B' : 'A';
        http_send(&req, &a);
        ob_request_reset(&req);
        o = classify(inst, &po->order, &a);
        assert_int_equal(a.status, 200);
        assert_string_equal(answer_code(&a), "S00002");
        assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
        assert_contains(o.reason, "S00002");
        http_free(&a);
    }
    ob_order_free(po);

    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.created, 1);
    assert_int_equal(st.duplicates, 1);
    assert_int_equal(st.bad_signatures, 2);
    assert_int_equal(st.unauthorized, 0);
    assert_int_equal(st.bad_requests, 0);

    ob_adapter_close(inst);
    ob_config_destroy(cfg);
    ob_sim_stop(sim);
}

/* Wrong credentials on the bridge side: S00001 for the authorization code,
 * S00002 for another (valid) sign key; both PERMANENT, nothing created. */
static void test_sim_wrong_credentials(void **state)
{
    (void)state;
    struct ob_sim *sim = start_sim(SIGN_KEY);
    struct ob_config *cfg = NULL;
    struct ob_adapter_instance *inst = NULL;
    struct http_answer a;
    struct ob_sim_stats st;

    assert_int_equal(setenv("OB_TEST_EMS_OTHER", "TvaBgrhE46sft3nZlfe7xw==", 1), 0);
    open_sim_warehouse(ob_sim_port(sim),
                       "'credentials':{'sender_no':'env:" SENDER_ENV "',"
                       "'authorization':'env:OB_TEST_EMS_OTHER','sign_key':'env:" KEY_ENV "'}",
                       &cfg, &inst);
    struct ob_outcome o = push(inst, &fx.example->order, &a);
    assert_string_equal(answer_code(&a), "S00001");
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    assert_contains(o.reason, "S00001");
    http_free(&a);
    ob_adapter_close(inst);
    ob_config_destroy(cfg);

    open_sim_warehouse(ob_sim_port(sim),
                       "'credentials':{'sender_no':'env:" SENDER_ENV "',"
                       "'authorization':'env:" AUTH_ENV "','sign_key':'env:OB_TEST_EMS_OTHER'}",
                       &cfg, &inst);
    o = push(inst, &fx.example->order, &a);
    assert_string_equal(answer_code(&a), "S00002");
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    http_free(&a);
    ob_adapter_close(inst);
    ob_config_destroy(cfg);
    unsetenv("OB_TEST_EMS_OTHER");

    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.unauthorized, 1);
    assert_int_equal(st.bad_signatures, 1);
    assert_int_equal(st.created, 0);
    assert_int_equal(ob_sim_created(sim, "SO20231111000123"), 0);
    ob_sim_stop(sim);
}

/* A hand-made form carrying `sealed`, posted to the simulator; without the
 * field `skip` when not NULL. */
static void post_form_without(unsigned short port, const char *sealed, const char *skip,
                              struct http_answer *a)
{
    struct ob_params p = {0};
    struct ob_buf body;
    struct ob_request req;

    memset(&req, 0, sizeof req);
    ob_buf_init(&body, 1 << 20);
    const char *fields[][2] = {
        {"apiCode", "020003"},  {"senderNo", SENDER_NO},           {"authorization", AUTHORIZATION},
        {"msgType", "0"},       {"timeStamp", "2020-06-18 10:00:00"}, {"version", "V1.0.0"},
        {"logitcsInterface", sealed},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (!skip || strcmp(skip, fields[i][0]) != 0)
            assert_int_equal(ob_params_add(&p, fields[i][0], fields[i][1]), 0);
    assert_int_equal(ob_params_form(&p, OB_URL_JAVA, &body), 0);
    ob_params_free(&p);
    req.method = "POST";
    assert_int_equal(ob_request_set_url(&req, "http://127.0.0.1:%u/amp-prod-api/f/amp/api/open",
                                        (unsigned)port),
                     0);
    assert_int_equal(ob_request_add_header(&req, "Content-Type",
                                           "application/x-www-form-urlencoded; charset=UTF-8"),
                     0);
    assert_int_equal(ob_request_set_body(&req, body.data, body.len), 0);
    ob_buf_reset(&body);
    http_send(&req, a);
    ob_request_reset(&req);
}

static void post_form(unsigned short port, const char *sealed, struct http_answer *a)
{
    post_form_without(port, sealed, NULL, a);
}

/* The official vector decrypts in the simulator (so it is not a bad
 * signature) but lacks the order's members (B00001); a document without
 * receiver.county and a form without `version` are refused the same way;
 * all PERMANENT. */
static void test_sim_official_vector_and_missing_field(void **state)
{
    (void)state;
    struct ob_sim *sim = start_sim("TvaBgrhE46sft3nZlfe7xw==");
    struct http_answer a;
    struct ob_sim_stats st;

    post_form(ob_sim_port(sim),
              "|$4|efB6PnjDpgHG4xfrvYlXonyBuMJoGTynkfasopHvbl2u3nmNeP+rznA3DyRwb/2GeZL7I3rL6HKD5+"
              "Tv3Uy6x8jIDISbYG8Bg14caH2flYE=",
              &a);
    assert_int_equal(a.status, 200);
    assert_string_equal(answer_code(&a), "B00001");
    assert_contains(a.body.data, "logisticsOrderNo");
    struct ob_outcome o = classify(fx.bj, &fx.example->order, &a);
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    assert_contains(o.reason, "B00001");
    http_free(&a);

    char *sealed = ems_seal("TvaBgrhE46sft3nZlfe7xw==",
                            "[{\"logisticsOrderNo\":\"SO-NO-COUNTY\",\"receiver\":{\"name\":\"李四\","
                            "\"mobile\":\"13900139000\",\"prov\":\"北京市\",\"city\":\"北京市\","
                            "\"address\":\"长安街 1 号\"},\"cargos\":[{\"cargoName\":\"书\","
                            "\"cargoQuantity\":1}]}]");
    post_form(ob_sim_port(sim), sealed, &a);
    free(sealed);
    assert_string_equal(answer_code(&a), "B00001");
    assert_contains(a.body.data, "receiver.county");
    o = classify(fx.bj, &fx.example->order, &a);
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    http_free(&a);

    /* The same document with the county: created, as an object too. */
    sealed = ems_seal("TvaBgrhE46sft3nZlfe7xw==",
                      "{\"logisticsOrderNo\":\"SO-OBJECT\",\"receiver\":{\"name\":\"李四\","
                      "\"mobile\":\"13900139000\",\"prov\":\"北京市\",\"city\":\"北京市\","
                      "\"county\":\"东城区\",\"address\":\"长安街 1 号\"},\"cargos\":[{"
                      "\"cargoName\":\"书\",\"cargoQuantity\":1}]}");
    post_form(ob_sim_port(sim), sealed, &a);
    free(sealed);
    assert_string_equal(answer_code(&a), "00000");
    o = classify(fx.bj, &fx.example->order, &a);
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(o.tracking_no, "1100001000001");
    http_free(&a);
    assert_int_equal(ob_sim_created(sim, "SO-OBJECT"), 1);

    /* A required form field missing: B00001 naming it, PERMANENT. */
    sealed = ems_seal("TvaBgrhE46sft3nZlfe7xw==", "[]");
    post_form_without(ob_sim_port(sim), sealed, "version", &a);
    free(sealed);
    assert_string_equal(answer_code(&a), "B00001");
    assert_contains(a.body.data, "version");
    o = classify(fx.bj, &fx.example->order, &a);
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    http_free(&a);

    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.bad_requests, 3);
    assert_int_equal(st.bad_signatures, 0);
    assert_int_equal(st.created, 1);
    ob_sim_stop(sim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_official_vectors),
        cmocka_unit_test(test_encode_request_line_and_headers),
        cmocka_unit_test(test_encode_form_fields),
        cmocka_unit_test(test_encode_document),
        cmocka_unit_test(test_encode_special_characters),
        cmocka_unit_test(test_encode_item_without_name),
        cmocka_unit_test(test_encode_without_district_fails),
        cmocka_unit_test(test_encode_refuses_other_events),
        cmocka_unit_test(test_decode_success),
        cmocka_unit_test(test_decode_duplicate_is_accepted),
        cmocka_unit_test(test_decode_permanent_codes),
        cmocka_unit_test(test_decode_transient_code),
        cmocka_unit_test(test_decode_malformed_is_retried),
        cmocka_unit_test(test_decode_http_errors),
        cmocka_unit_test(test_decode_retry_after),
        cmocka_unit_test(test_decode_transport_error),
        cmocka_unit_test(test_init_missing_credentials),
        cmocka_unit_test(test_init_bad_sign_key),
        cmocka_unit_test(test_init_bad_settings),
        cmocka_unit_test(test_sim_created_duplicate_tampered),
        cmocka_unit_test(test_sim_wrong_credentials),
        cmocka_unit_test(test_sim_official_vector_and_missing_field),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
