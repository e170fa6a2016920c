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
static void post_form_api(unsigned short port, const char *api_code, const char *sealed,
                          const char *skip, struct http_answer *a)
{
    struct ob_params p = {0};
    struct ob_buf body;
    struct ob_request req;

    memset(&req, 0, sizeof req);
    ob_buf_init(&body, 1 << 20);
    const char *fields[][2] = {
        {"apiCode", api_code},  {"senderNo", SENDER_NO},           {"authorization", AUTHORIZATION},
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

static void post_form_without(unsigned short port, const char *sealed, const char *skip,
                              struct http_answer *a)
{
    post_form_api(port, "020003", sealed, skip, a);
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

/* ------------------------------------------------------------------------ */
/* status polling: the trace query 040001 (poll_encode / poll_decode)        */

#define MAX_UPDATES 32

static struct ob_poll_target poll_target(const char *order_id, const char *warehouse_order_id)
{
    struct ob_poll_target t = {
        .order_id = order_id,
        .warehouse_order_id = warehouse_order_id,
        .idempotency_key = delivery.idempotency_key,
        .current = OB_STATUS_ACCEPTED,
    };
    return t;
}

static int poll_decode_on(struct ob_adapter_instance *inst, const struct ob_poll_target *t,
                          long status, const char *body, struct ob_status_update *out,
                          size_t max)
{
    struct ob_response resp = {
        .status = status,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .transport_error = status == 0 ? "Operation timed out after 10000 milliseconds" : NULL,
    };
    err[0] = '\0';
    memset(out, 0xA5, max * sizeof *out); /* the adapter must fill what it returns */
    return inst->plugin.vt.poll_decode(inst->state, t, &resp, out, max, err, sizeof err);
}

/* EMS's envelope around `ret_body` (sent as a JSON string, as EMS does, or
 * as an object); free() it. */
static char *envelope(const char *code, const char *msg, const char *ret_body, int as_object)
{
    json_t *body = NULL;
    if (ret_body && as_object) {
        body = json_loads(ret_body, 0, NULL);
        assert_non_null(body);
    } else if (ret_body) {
        body = json_string(ret_body);
    }
    json_t *env = json_pack("{s:s, s:s, s:s, s:o, s:s, s:b}", "serialNo", "x", "retCode", code,
                            "retMsg", msg, "retBody", body ? body : json_null(), "retDate",
                            "2026-11-11 10:00:00", "success", strcmp(code, "00000") == 0);
    assert_non_null(env);
    char *text = json_dumps(env, JSON_COMPACT);
    json_decref(env);
    return text;
}

/* A canned trace of the example order. */
static int poll_decode_trace(const char *ret_body, int as_object, struct ob_status_update *out,
                             size_t max)
{
    struct ob_poll_target t = poll_target("SO20231111000123", "1100001000001");
    char *body = envelope("00000", "成功", ret_body, as_object);
    int n = poll_decode_on(fx.bj, &t, 200, body, out, max);
    free(body);
    return n;
}

/* Ask the simulator where `t` stands: poll_encode, HTTP, poll_decode. */
static int poll_sim(struct ob_adapter_instance *inst, const struct ob_poll_target *t,
                    struct http_answer *a, struct ob_status_update *out, size_t max)
{
    struct ob_request req;

    memset(&req, 0, sizeof req);
    err[0] = '\0';
    if (inst->plugin.vt.poll_encode(inst->state, t, &req, err, sizeof err) != 0) {
        print_error("poll_encode failed: %s\n", err);
        fail();
    }
    http_send(&req, a);
    ob_request_reset(&req);
    struct ob_response resp = {
        .status = a->status,
        .body = a->body.data,
        .body_len = a->body.len,
        .headers = a->headers,
        .n_headers = a->n_headers,
        .transport_error = a->status == 0 ? a->transport_error : NULL,
    };
    err[0] = '\0';
    return inst->plugin.vt.poll_decode(inst->state, t, &resp, out, max, err, sizeof err);
}

/* The simulator's timeline runs on the wall clock: wait until it has passed
 * `ms` (epoch). A wait for a time computed from the clock, not for an event. */
static void wait_past(int64_t ms)
{
    while (ob_time_now_ms() <= ms) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

struct want_step {
    const char *code;
    enum ob_fulfillment_status status;
};

static const struct want_step sim_ladder[] = {
    {"W10", OB_STATUS_ALLOCATED}, {"W20", OB_STATUS_PICKED}, {"W30", OB_STATUS_PACKED},
    {"203", OB_STATUS_SHIPPED},   {"306", OB_STATUS_UNMAPPED}, {"704", OB_STATUS_DELIVERED},
};

static size_t sim_steps(const char *order_id, struct want_step *out)
{
    static const struct want_step exception = {"W90", OB_STATUS_EXCEPTION};
    static const struct want_step cancel = {"W99", OB_STATUS_CANCELLED};
    size_t n = 0;
    if (ob_sim_status_cancelled(order_id)) { /* accepted, then cancelled: the end */
        out[0] = sim_ladder[0];
        out[1] = cancel;
        return 2;
    }
    for (size_t i = 0; i < sizeof sim_ladder / sizeof sim_ladder[0]; i++) {
        out[n++] = sim_ladder[i];
        if (i == 1 && ob_sim_status_exception(order_id))
            out[n++] = exception;
    }
    return n;
}

static struct ob_sim *start_sim_with(const struct ob_sim_options *extra)
{
    const struct ob_sim_secret secrets[] = {
        {.name = "sender_no", .value = SENDER_NO},
        {.name = "authorization", .value = AUTHORIZATION},
        {.name = "sign_key", .value = SIGN_KEY},
        {.name = NULL, .value = NULL},
    };
    struct ob_sim_options o = *extra;
    o.profile = "ems";
    o.secrets = secrets;
    struct ob_sim *sim = ob_sim_start(&o, err, sizeof err);
    if (!sim) {
        print_error("ob_sim_start: %s\n", err);
        fail();
    }
    return sim;
}

/* The business document of a query request: its JSON (sign key checked
 * and stripped); free() it. */
static char *sent_query(const struct ob_request *req, struct form *f)
{
    form_parse(req->body, req->body_len, f);
    char *plain = ems_open(SIGN_KEY, form_get(f, "logitcsInterface"));
    char *json = strip_key(plain);
    free(plain);
    return json;
}

/* The trace query: the push's form, apiCode 040001, signed the same way. */
static void test_poll_encode_request(void **state)
{
    (void)state;
    static const char *const keys[] = {"apiCode",   "senderNo", "authorization",   "msgType",
                                       "timeStamp", "version",  "logitcsInterface"};
    struct ob_request req;
    struct form f;
    struct ob_poll_target t = poll_target("SO20231111000123", "1100001000001");

    memset(&req, 0, sizeof req);
    int64_t t0 = ob_time_now_ms();
    assert_int_equal(fx.bj->plugin.vt.poll_encode(fx.bj->state, &t, &req, err, sizeof err), 0);
    int64_t t1 = ob_time_now_ms();
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url, ENDPOINT_BJ);
    assert_int_equal(req.n_headers, 1);
    assert_string_equal(req_header(&req, "Content-Type"),
                        "application/x-www-form-urlencoded; charset=UTF-8");
    assert_null(strstr(req.body, SIGN_KEY));
    char *json = sent_query(&req, &f);
    assert_int_equal(f.n, 7);
    for (size_t i = 0; i < 7; i++)
        assert_string_equal(f.key[i], keys[i]);
    assert_string_equal(form_get(&f, "apiCode"), "040001");
    assert_string_equal(form_get(&f, "senderNo"), SENDER_NO);
    assert_string_equal(form_get(&f, "authorization"), AUTHORIZATION);
    assert_string_equal(form_get(&f, "msgType"), "0");
    assert_string_equal(form_get(&f, "version"), "V1.0.0");
    assert_stamp_between(form_get(&f, "timeStamp"), t0, t1, "Asia/Shanghai");
    assert_string_equal(json, "{\"logisticsOrderNo\":\"SO20231111000123\","
                              "\"waybillNo\":\"1100001000001\"}");
    /* the recipe recomputed: the same sealed text */
    char *sealed = ems_seal(SIGN_KEY, json);
    assert_string_equal(form_get(&f, "logitcsInterface"), sealed);
    free(sealed);
    free(json);
    form_free(&f);
    ob_request_reset(&req);

    /* no waybill known: the order number only; time_zone UTC on SZ */
    t = poll_target("SO20231111000123", "");
    t0 = ob_time_now_ms();
    assert_int_equal(fx.sz->plugin.vt.poll_encode(fx.sz->state, &t, &req, err, sizeof err), 0);
    t1 = ob_time_now_ms();
    assert_string_equal(req.url, ENDPOINT_SZ);
    json = sent_query(&req, &f);
    assert_string_equal(json, "{\"logisticsOrderNo\":\"SO20231111000123\"}");
    assert_stamp_between(form_get(&f, "timeStamp"), t0, t1, "UTC");
    free(json);
    form_free(&f);
    ob_request_reset(&req);

    /* an order id that is not UTF-8 cannot be sent */
    t = poll_target("SO-\xc3", NULL);
    assert_int_equal(fx.bj->plugin.vt.poll_encode(fx.bj->state, &t, &req, err, sizeof err), -1);
    assert_contains(err, "invalid UTF-8");
    assert_null(strstr(err, SIGN_KEY));
    ob_request_reset(&req);
}

/* Every opCode of the mapping table, with what each entry carries. */
static void test_poll_decode_mapping(void **state)
{
    (void)state;
    struct ob_status_update u[MAX_UPDATES];
    const char *trace =
        "{\"waybillNo\":\"1100001000001\",\"logisticsOrderNo\":\"SO20231111000123\","
        "\"responseItems\":["
        "{\"opTime\":\"2026-11-11 10:00:00\",\"opCode\":\"W10\",\"opName\":\"仓库接单\","
        "\"opDesc\":\"仓库已接单\"},"
        "{\"opTime\":\"2026-11-11 10:00:01\",\"opCode\":\"W20\",\"opName\":\"拣货完成\"},"
        "{\"opTime\":\"2026-11-11 10:00:02\",\"opCode\":\"W90\",\"opName\":\"仓库作业异常\","
        "\"opDesc\":\"库存不足\"},"
        "{\"opTime\":\"2026-11-11 10:00:03\",\"opCode\":\"W30\",\"opName\":\"打包完成\"},"
        "{\"opTime\":\"2026-11-11 10:00:04\",\"opCode\":\"203\",\"opName\":\"收寄\","
        "\"opDesc\":\"邮件已收寄\"},"
        "{\"opTime\":\"2026-11-11 10:00:05\",\"opCode\":\"306\",\"opName\":\"封发\"},"
        "{\"opTime\":\"2026-11-11 10:00:06\",\"opCode\":\"704\",\"opName\":\"妥投\"},"
        "{\"opTime\":\"2026-11-11 10:00:07\",\"opCode\":\"W99\",\"opName\":\"订单取消\","
        "\"opDesc\":\"客户取消\"},"
        "{\"opTime\":\"11/11/2026\",\"opCode\":\"999\",\"opDesc\":\"not a reason\"}]}";
    static const struct want_step want[] = {
        {"W10", OB_STATUS_ALLOCATED}, {"W20", OB_STATUS_PICKED},    {"W90", OB_STATUS_EXCEPTION},
        {"W30", OB_STATUS_PACKED},    {"203", OB_STATUS_SHIPPED},   {"306", OB_STATUS_UNMAPPED},
        {"704", OB_STATUS_DELIVERED}, {"W99", OB_STATUS_CANCELLED}, {"999", OB_STATUS_UNMAPPED},
    };
    const int64_t t0 = 1794362400000; /* 2026-11-11T02:00:00Z = 10:00:00 in Shanghai */

    for (int as_object = 0; as_object <= 1; as_object++) {
        assert_int_equal(poll_decode_trace(trace, as_object, u, MAX_UPDATES), 9);
        for (size_t i = 0; i < 9; i++) {
            assert_string_equal(u[i].order_id, "SO20231111000123");
            assert_string_equal(u[i].warehouse_order_id, "1100001000001");
            assert_string_equal(u[i].raw_code, want[i].code);
            assert_int_equal(u[i].status, want[i].status);
            assert_true(u[i].raw_text[0] != '\0');
            if (i < 8)
                assert_int_equal(u[i].occurred_at_ms, t0 + (int64_t)i * 1000);
            int shipped = want[i].status == OB_STATUS_SHIPPED ||
                          want[i].status == OB_STATUS_DELIVERED;
            assert_string_equal(u[i].carrier, shipped ? "EMS" : "");
            assert_string_equal(u[i].tracking_no, shipped ? "1100001000001" : "");
        }
        assert_string_equal(u[0].raw_text, "仓库已接单"); /* opDesc, else opName */
        assert_string_equal(u[1].raw_text, "拣货完成");
        assert_int_equal(u[8].occurred_at_ms, 0); /* unreadable time: unknown */
        assert_string_equal(u[2].reason, "库存不足");
        assert_string_equal(u[7].reason, "客户取消");
        assert_string_equal(u[0].reason, "");
        assert_string_equal(u[8].reason, "");
    }

    /* time_zone UTC on SZ: the same text is 10:00 UTC */
    struct ob_poll_target t = poll_target("SO20231111000123", "1100001000001");
    char *body = envelope("00000", "成功",
                          "{\"responseItems\":[{\"opTime\":\"2026-11-11 10:00:00\","
                          "\"opCode\":\"203\",\"waybillNo\":\"1100009999999\"}]}",
                          0);
    assert_int_equal(poll_decode_on(fx.sz, &t, 200, body, u, MAX_UPDATES), 1);
    free(body);
    assert_int_equal(u[0].occurred_at_ms, t0 + 8 * 3600 * 1000);
    assert_string_equal(u[0].tracking_no, "1100009999999"); /* the entry's own waybill */

    /* no waybill anywhere in the answer: the target's */
    assert_int_equal(poll_decode_trace("{\"responseItems\":[{\"opCode\":\"704\"}]}", 0, u,
                                       MAX_UPDATES),
                     1);
    assert_string_equal(u[0].warehouse_order_id, "1100001000001");
    assert_string_equal(u[0].tracking_no, "1100001000001");

    /* nothing yet */
    assert_int_equal(poll_decode_trace("{\"responseItems\":[]}", 0, u, 4), 0);
    assert_int_equal(poll_decode_trace("{\"waybillNo\":\"1100001000001\"}", 0, u, 4), 0);
    assert_int_equal(poll_decode_trace("{\"responseItems\":null}", 1, u, 4), 0);
}

/* A long trace: unmapped (transit) entries go first, then the oldest. */
static void test_poll_decode_more_than_max(void **state)
{
    (void)state;
    struct ob_status_update u[MAX_UPDATES];
    const char *trace = "{\"responseItems\":[{\"opCode\":\"W10\"},{\"opCode\":\"W20\"},"
                        "{\"opCode\":\"W30\"},{\"opCode\":\"203\"},{\"opCode\":\"306\"},"
                        "{\"opCode\":\"307\"},{\"opCode\":\"389\"},{\"opCode\":\"702\"},"
                        "{\"opCode\":\"704\"}]}";

    assert_int_equal(poll_decode_trace(trace, 0, u, 9), 9);
    assert_int_equal(poll_decode_trace(trace, 0, u, 7), 7);
    static const char *const seven[] = {"W10", "W20", "W30", "203", "389", "702", "704"};
    for (size_t i = 0; i < 7; i++)
        assert_string_equal(u[i].raw_code, seven[i]);
    assert_int_equal(poll_decode_trace(trace, 0, u, 5), 5);
    static const char *const five[] = {"W10", "W20", "W30", "203", "704"};
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(u[i].raw_code, five[i]);
    assert_int_equal(poll_decode_trace(trace, 0, u, 1), 1);
    assert_string_equal(u[0].raw_code, "704");
    assert_int_equal(poll_decode_trace(trace, 0, u, 0), 0);
}

/* Errors and answers that cannot be read: -1, a message, no secret. */
static void test_poll_decode_unreadable(void **state)
{
    (void)state;
    struct ob_status_update u[4];
    struct ob_poll_target t = poll_target("SO20231111000123", "1100001000001");
    char *not_found = envelope("B00010", "邮件信息不存在", NULL, 0);
    char *refused = envelope("S00001", "授权码或协议客户号无效", NULL, 0);
    char *tampered = envelope("S00002", "报文解密或验签失败", NULL, 0);
    char *cut_body = envelope("00000", "成功", "{\"responseItems\":[{\"opCode\":\"W1", 0);
    char *array_body = envelope("00000", "成功", "[1]", 0);
    char *no_body = envelope("00000", "成功", NULL, 0);
    char *items_object = envelope("00000", "成功", "{\"responseItems\":{}}", 0);
    char *no_code = envelope("00000", "成功", "{\"responseItems\":[{\"opName\":\"x\"}]}", 0);
    char *other = envelope("00000", "成功",
                           "{\"logisticsOrderNo\":\"SO-OTHER\",\"responseItems\":[]}", 0);
    const struct {
        long status;
        const char *body, *want;
    } cases[] = {
        {0, NULL, "no answer: Operation timed out"},
        {502, "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
         "HTTP 502"},
        {403, "forbidden", "HTTP 403"},
        {200, "<html><head><title>502 Bad Gateway</title></head></html>", "not JSON"},
        {200, "garbage", "not JSON"},
        {200, "", "not JSON"},
        {200, "{\"serialNo\":\"x\",\"retCode\":\"000", "not JSON"},
        {200, "{\"retMsg\":\"ok\"}", "no retCode"},
        {200, not_found, "B00010"},
        {200, refused, "EMS S00001"},
        {200, tampered, "EMS S00002"},
        {200, cut_body, "without a readable retBody"},
        {200, array_body, "without a readable retBody"},
        {200, no_body, "without a readable retBody"},
        {200, items_object, "responseItems is not an array"},
        {200, no_code, "responseItems[0] has no opCode"},
        {200, other, "another order"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = poll_decode_on(fx.bj, &t, cases[i].status, cases[i].body, u, 4);
        if (n != -1 || !strstr(err, cases[i].want)) {
            print_error("case %zu: %d, \"%s\" (want -1, \"%s\")\n", i, n, err, cases[i].want);
            fail();
        }
        assert_null(strstr(err, SIGN_KEY));
        assert_null(strstr(err, AUTHORIZATION));
    }
    free(not_found);
    free(refused);
    free(tampered);
    free(cut_body);
    free(array_body);
    free(no_body);
    free(items_object);
    free(no_code);
    free(other);
}

/* Against the simulator: push, then the whole trace (all due at once with a
 * 1 ms step), with or without the waybill in the query. */
static void test_poll_sim_ladder(void **state)
{
    (void)state;
    struct ob_sim_options o = {.status_step_ms = 1};
    struct ob_sim *sim = start_sim_with(&o);
    struct ob_config *cfg = NULL;
    struct ob_adapter_instance *inst = NULL;
    struct http_answer a;
    struct ob_status_update u[MAX_UPDATES];
    struct want_step want[8];
    struct ob_sim_stats st;

    open_sim_warehouse(ob_sim_port(sim), CREDENTIALS, &cfg, &inst);
    int64_t t0 = ob_time_now_ms();
    struct ob_outcome oc = push(inst, &fx.example->order, &a);
    int64_t t1 = ob_time_now_ms();
    http_free(&a);
    assert_int_equal(oc.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(oc.warehouse_order_id, "1100001000001");
    size_t n_want = sim_steps("SO20231111000123", want);
    assert_int_equal(n_want, 6); /* the example order is not in the exception share */
    wait_past(t1 + (int64_t)n_want);

    struct ob_poll_target t = poll_target("SO20231111000123", oc.warehouse_order_id);
    for (int round = 0; round < 2; round++) {
        int n = poll_sim(inst, &t, &a, u, MAX_UPDATES);
        if (n != (int)n_want) {
            print_error("%d updates (%s): %s\n", n, err, a.body.data);
            fail();
        }
        http_free(&a);
        for (size_t i = 0; i < n_want; i++) {
            assert_string_equal(u[i].order_id, "SO20231111000123");
            assert_string_equal(u[i].warehouse_order_id, "1100001000001");
            assert_string_equal(u[i].raw_code, want[i].code);
            assert_int_equal(u[i].status, want[i].status);
            assert_true(u[i].raw_text[0] != '\0');
            assert_true(u[i].occurred_at_ms >= t0 - t0 % 1000);
            assert_true(u[i].occurred_at_ms <= t1 + (int64_t)(i + 1));
            assert_int_equal(u[i].occurred_at_ms % 1000, 0);
            if (i > 0)
                assert_true(u[i].occurred_at_ms >= u[i - 1].occurred_at_ms);
        }
        assert_string_equal(u[3].carrier, "EMS");
        assert_string_equal(u[3].tracking_no, "1100001000001");
        assert_string_equal(u[5].tracking_no, "1100001000001");
        t.warehouse_order_id = ""; /* round 2: by the order number alone */
    }

    /* a waybill that is not the order's: not found */
    t.warehouse_order_id = "1100009999999";
    assert_int_equal(poll_sim(inst, &t, &a, u, MAX_UPDATES), -1);
    assert_string_equal(answer_code(&a), "B00010");
    assert_contains(err, "B00010");
    http_free(&a);

    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.requests, 4);
    assert_int_equal(st.created, 1); /* queries create nothing */
    assert_int_equal(st.duplicates, 0);
    assert_int_equal(st.bad_requests, 0);
    assert_int_equal(st.bad_signatures, 0);
    ob_adapter_close(inst);
    ob_config_destroy(cfg);
    ob_sim_stop(sim);
}

/* Step timing: entry n is due at created + n * step; bounds from the clock
 * read around the push and the query (the only waits are for the clock). */
static void test_poll_sim_step_timing(void **state)
{
    (void)state;
    const int64_t step = 40;
    struct ob_sim_options o = {.status_step_ms = (unsigned)step};
    struct ob_sim *sim = start_sim_with(&o);
    struct ob_config *cfg = NULL;
    struct ob_adapter_instance *inst = NULL;
    struct http_answer a;
    struct ob_status_update u[MAX_UPDATES];

    assert_int_equal(ob_sim_status_step_ms(sim), step);
    open_sim_warehouse(ob_sim_port(sim), CREDENTIALS, &cfg, &inst);
    int64_t p0 = ob_time_now_ms();
    struct ob_outcome oc = push(inst, &fx.example->order, &a);
    int64_t p1 = ob_time_now_ms();
    http_free(&a);
    assert_int_equal(oc.kind, OB_OUTCOME_ACCEPTED);
    struct ob_poll_target t = poll_target("SO20231111000123", oc.warehouse_order_id);

    int64_t waits[] = {0, 2 * step + 1, 4 * step + 1, 7 * step};
    for (size_t k = 0; k < sizeof waits / sizeof waits[0]; k++) {
        wait_past(p1 + waits[k]);
        int64_t q0 = ob_time_now_ms();
        int n = poll_sim(inst, &t, &a, u, MAX_UPDATES);
        int64_t q1 = ob_time_now_ms();
        http_free(&a);
        int64_t lo = (q0 - p1) / step, hi = (q1 - p0) / step;
        if (lo > 6)
            lo = 6;
        if (hi > 6)
            hi = 6;
        if (n < lo || n > hi) {
            print_error("round %zu: %d entries, want %lld..%lld (%s)\n", k, n, (long long)lo,
                        (long long)hi, err);
            fail();
        }
        for (int i = 0; i < n; i++) {
            int64_t due_lo = p0 + (i + 1) * step, due_hi = p1 + (i + 1) * step;
            assert_string_equal(u[i].raw_code, sim_ladder[i].code);
            assert_true(u[i].occurred_at_ms >= due_lo - due_lo % 1000);
            assert_true(u[i].occurred_at_ms <= due_hi);
        }
        if (k == sizeof waits / sizeof waits[0] - 1)
            assert_int_equal(n, 6); /* the whole trace, nothing after 704 */
    }
    ob_adapter_close(inst);
    ob_config_destroy(cfg);
    ob_sim_stop(sim);
}

/* The orders ob_sim_status_exception() names (1 in 20, by a hash of the
 * order number) get W90 after W20, and then go on to 704. */
static void test_poll_sim_exception_share(void **state)
{
    (void)state;
    enum { ORDERS = 40 };
    struct ob_sim_options o = {.status_step_ms = 1};
    struct ob_sim *sim = start_sim_with(&o);
    struct ob_config *cfg = NULL;
    struct ob_adapter_instance *inst = NULL;
    struct http_answer a;
    struct ob_status_update u[MAX_UPDATES];
    struct want_step want[8];
    char ids[ORDERS][32], waybills[ORDERS][128];
    int exceptions = 0, expected = 0;

    open_sim_warehouse(ob_sim_port(sim), CREDENTIALS, &cfg, &inst);
    json_t *doc = json_loadb(fx.example_text, fx.example_len, 0, NULL);
    assert_non_null(doc);
    for (int i = 0; i < ORDERS; i++) {
        snprintf(ids[i], sizeof ids[i], "SO-POLL-%03d", i);
        json_object_set_new(doc, "order_id", json_string(ids[i]));
        char *text = json_dumps(doc, JSON_COMPACT);
        struct ob_parsed_order *po = parse_order(text, strlen(text));
        free(text);
        assert_non_null(po);
        struct ob_outcome oc = push(inst, &po->order, &a);
        http_free(&a);
        ob_order_free(po);
        assert_int_equal(oc.kind, OB_OUTCOME_ACCEPTED);
        snprintf(waybills[i], sizeof waybills[i], "%s", oc.warehouse_order_id);
    }
    json_decref(doc);
    wait_past(ob_time_now_ms() + 7);

    for (int i = 0; i < ORDERS; i++) {
        struct ob_poll_target t = poll_target(ids[i], waybills[i]);
        size_t n_want = sim_steps(ids[i], want);
        expected += ob_sim_status_exception(ids[i]);
        int n = poll_sim(inst, &t, &a, u, MAX_UPDATES);
        http_free(&a);
        assert_int_equal(n, (int)n_want);
        for (size_t k = 0; k < n_want; k++) {
            assert_string_equal(u[k].raw_code, want[k].code);
            assert_int_equal(u[k].status, want[k].status);
        }
        if (n_want == 7) {
            exceptions++;
            assert_int_equal(u[2].status, OB_STATUS_EXCEPTION);
            assert_true(u[2].reason[0] != '\0');
            assert_int_equal(u[6].status, OB_STATUS_DELIVERED);
        }
    }
    assert_int_equal(exceptions, expected); /* SO-POLL-004 and SO-POLL-030 today */
    assert_true(expected > 0); /* the share must show among these orders */
    ob_adapter_close(inst);
    ob_config_destroy(cfg);
    ob_sim_stop(sim);
}

/* An order EMS does not know, wrong credentials, bad query documents,
 * garbage answers: -1 every time. */
static void test_poll_sim_refusals(void **state)
{
    (void)state;
    struct ob_sim_options o = {.status_step_ms = 1};
    struct ob_sim *sim = start_sim_with(&o);
    struct ob_config *cfg = NULL, *bad_cfg = NULL;
    struct ob_adapter_instance *inst = NULL, *bad = NULL;
    struct http_answer a;
    struct ob_status_update u[MAX_UPDATES];
    struct ob_sim_stats st;

    open_sim_warehouse(ob_sim_port(sim), CREDENTIALS, &cfg, &inst);

    /* never pushed */
    struct ob_poll_target t = poll_target("SO-NEVER-PUSHED", "");
    assert_int_equal(poll_sim(inst, &t, &a, u, MAX_UPDATES), -1);
    assert_string_equal(answer_code(&a), "B00010");
    assert_contains(err, "B00010");
    http_free(&a);
    assert_int_equal(ob_sim_created(sim, "SO-NEVER-PUSHED"), 0); /* asking stores nothing */

    struct ob_outcome oc = push(inst, &fx.example->order, &a);
    http_free(&a);
    assert_int_equal(oc.kind, OB_OUTCOME_ACCEPTED);
    t = poll_target("SO20231111000123", oc.warehouse_order_id);

    /* another authorization: S00001, counted unauthorized */
    assert_int_equal(setenv("OB_TEST_EMS_OTHER", "TvaBgrhE46sft3nZlfe7xw==", 1), 0);
    open_sim_warehouse(ob_sim_port(sim),
                       "'credentials':{'sender_no':'env:" SENDER_ENV "',"
                       "'authorization':'env:OB_TEST_EMS_OTHER','sign_key':'env:" KEY_ENV "'}",
                       &bad_cfg, &bad);
    assert_int_equal(poll_sim(bad, &t, &a, u, MAX_UPDATES), -1);
    assert_string_equal(answer_code(&a), "S00001");
    assert_contains(err, "EMS S00001");
    http_free(&a);
    ob_adapter_close(bad);
    ob_config_destroy(bad_cfg);

    /* another sign key: S00002, counted bad_signatures */
    open_sim_warehouse(ob_sim_port(sim),
                       "'credentials':{'sender_no':'env:" SENDER_ENV "',"
                       "'authorization':'env:" AUTH_ENV "','sign_key':'env:OB_TEST_EMS_OTHER'}",
                       &bad_cfg, &bad);
    assert_int_equal(poll_sim(bad, &t, &a, u, MAX_UPDATES), -1);
    assert_string_equal(answer_code(&a), "S00002");
    assert_contains(err, "EMS S00002");
    assert_null(strstr(err, "TvaBgrhE46sft3nZlfe7xw=="));
    assert_null(strstr(err, SIGN_KEY));
    http_free(&a);
    ob_adapter_close(bad);
    ob_config_destroy(bad_cfg);
    unsetenv("OB_TEST_EMS_OTHER");

    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.unauthorized, 1);
    assert_int_equal(st.bad_signatures, 1);

    /* hand-made queries: no logisticsOrderNo, a waybillNo that is no string */
    char *sealed = ems_seal(SIGN_KEY, "{\"waybillNo\":\"1100001000001\"}");
    post_form_api(ob_sim_port(sim), "040001", sealed, NULL, &a);
    free(sealed);
    assert_string_equal(answer_code(&a), "B00001");
    assert_contains(a.body.data, "logisticsOrderNo");
    http_free(&a);
    sealed = ems_seal(SIGN_KEY, "{\"logisticsOrderNo\":\"SO20231111000123\",\"waybillNo\":7}");
    post_form_api(ob_sim_port(sim), "040001", sealed, NULL, &a);
    free(sealed);
    assert_string_equal(answer_code(&a), "B00001");
    http_free(&a);
    /* an apiCode it does not serve */
    sealed = ems_seal(SIGN_KEY, "{\"logisticsOrderNo\":\"SO20231111000123\"}");
    post_form_api(ob_sim_port(sim), "040002", sealed, NULL, &a);
    free(sealed);
    assert_string_equal(answer_code(&a), "B00001");
    assert_contains(a.body.data, "040002");
    http_free(&a);
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.bad_requests, 3);

    /* and the right credentials still get the trace */
    wait_past(ob_time_now_ms() + 7);
    assert_int_equal(poll_sim(inst, &t, &a, u, MAX_UPDATES), 6);
    http_free(&a);

    /* EMS's answers replaced by garbage (HTML 502 page, cut JSON, empty,
     * "OK"): unreadable, -1 */
    o.garbage_rate = 1.0;
    assert_int_equal(ob_sim_set_faults(sim, &o), 0);
    for (int i = 0; i < 8; i++) {
        int n = poll_sim(inst, &t, &a, u, MAX_UPDATES);
        assert_int_equal(a.status, 200);
        if (n != -1) {
            print_error("garbage answer read as %d updates: %s\n", n, a.body.data);
            fail();
        }
        http_free(&a);
    }
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.injected_garbage, 8);
    assert_int_equal(st.created, 1);

    ob_adapter_close(inst);
    ob_config_destroy(cfg);
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
        cmocka_unit_test(test_poll_encode_request),
        cmocka_unit_test(test_poll_decode_mapping),
        cmocka_unit_test(test_poll_decode_more_than_max),
        cmocka_unit_test(test_poll_decode_unreadable),
        cmocka_unit_test(test_poll_sim_ladder),
        cmocka_unit_test(test_poll_sim_step_timing),
        cmocka_unit_test(test_poll_sim_exception_share),
        cmocka_unit_test(test_poll_sim_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
