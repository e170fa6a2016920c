/*
 * test_cb_rest.c — status callbacks of the rest adapter (Standard Webhooks),
 * loaded through the real loader as the bridge uses it. Signatures are made
 * here with OpenSSL directly (not with the adapter's code) and the helper is
 * checked against the specification's vector first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <orderbridge/sdk.h>

#include "adapter.h"
#include "config.h"
#include "order.h"

#include "support.h"

#ifndef OB_BUILD_DIR
#error "OB_BUILD_DIR must be defined (tests/CMakeLists.txt)"
#endif

#define TOKEN_ENV "OB_TEST_CB_REST_TOKEN"
#define SECRET_ENV "OB_TEST_CB_REST_WEBHOOK_SECRET"
#define BAD_SECRET_ENV "OB_TEST_CB_REST_BAD_SECRET"
/* The Standard Webhooks specification's example secret and vector. */
#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SECRET_B64 "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define VECTOR_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define VECTOR_TS 1614265330L
#define VECTOR_BODY "{\"test\": 2432232314}"
#define VECTOR_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

#define NOW_S 1763800000L /* 2025-11-22T08:26:40Z */
#define NOW_MS (NOW_S * 1000LL)

/* WH-1 takes callbacks; WH-2 has no webhook_secret. */
#define CONFIG                                                                                    \
    "{'kafka':{'bootstrap_servers':'k1:9092'},"                                                   \
    "'adapter_path':['" OB_BUILD_DIR "/adapters'],"                                               \
    "'warehouses':{"                                                                              \
    "'WH-1':{'adapter':'rest','endpoint':'https://wms1.example.com/api',"                         \
    "'credentials':{'token':'env:" TOKEN_ENV "','webhook_secret':'env:" SECRET_ENV "'}},"         \
    "'WH-2':{'adapter':'rest','endpoint':'https://wms2.example.com/api',"                         \
    "'credentials':{'token':'env:" TOKEN_ENV "'}}}}"

static struct ob_config *cfg;
static struct ob_adapter_instance *wh1, *wh2;
static char err[2048];

static int setup(void **state)
{
    (void)state;
    if (setenv(TOKEN_ENV, "cb-rest-token", 1) != 0 || setenv(SECRET_ENV, SECRET, 1) != 0)
        return -1;
    return open_adapters(J(CONFIG), &cfg, (const char *const[]){"WH-1", "WH-2"},
                         (struct ob_adapter_instance **const[]){&wh1, &wh2}, 2);
}

static int teardown(void **state)
{
    (void)state;
    close_adapters(cfg, (struct ob_adapter_instance *const[]){wh1, wh2}, 2);
    unsetenv(TOKEN_ENV);
    unsetenv(SECRET_ENV);
    return 0;
}

/* "v1,<Base64(HMAC-SHA256(Base64Decode(secret after whsec_), id.ts.body))>"
 * with OpenSSL alone. */
static void sign_v1(const char *secret, const char *id, long ts, const char *body, char *out,
                    size_t out_size)
{
    const char *b64 = strncmp(secret, "whsec_", 6) == 0 ? secret + 6 : secret;
    size_t b64_len = strlen(b64);
    unsigned char key[256], mac[EVP_MAX_MD_SIZE], enc[64];
    unsigned int mac_len = 0;
    int key_len;
    char *text;
    size_t text_len;

    assert_true(b64_len < sizeof key);
    key_len = EVP_DecodeBlock(key, (const unsigned char *)b64, (int)b64_len);
    assert_true(key_len > 0);
    key_len -= (b64[b64_len - 1] == '=') + (b64[b64_len - 2] == '=');
    text_len = (size_t)snprintf(NULL, 0, "%s.%ld.%s", id, ts, body);
    text = malloc(text_len + 1);
    assert_non_null(text);
    snprintf(text, text_len + 1, "%s.%ld.%s", id, ts, body);
    assert_non_null(HMAC(EVP_sha256(), key, key_len, (const unsigned char *)text, text_len, mac,
                         &mac_len));
    free(text);
    assert_int_equal(mac_len, 32);
    EVP_EncodeBlock(enc, mac, (int)mac_len);
    snprintf(out, out_size, "v1,%s", (const char *)enc);
}

/* One callback request. */
struct call {
    const char *id, *timestamp, *signature; /* NULL: header left out */
    const char *body;
    int64_t now_ms;
    struct ob_header headers[4];
    struct ob_callback_request req;
    struct ob_callback_result res;
    enum ob_callback_verdict verdict;
    char sig[128];
    char ts[32];
};

/* Whatever the verdict, a reason never carries the secret or a signature. */
static void assert_clean_reason(const struct call *c)
{
    assert_null(strstr(c->res.reason, SECRET_B64));
    assert_null(strstr(c->res.reason, "whsec_"));
    assert_null(strstr(c->res.reason, "g0hM9SsE"));
    if (c->sig[0] && strlen(c->sig) > 3)
        assert_null(strstr(c->res.reason, c->sig + 3));
}

static enum ob_callback_verdict run(struct ob_adapter_instance *inst, struct call *c)
{
    size_t n = 0;

    memset(&c->res, 0, sizeof c->res);
    if (c->id)
        c->headers[n++] = (struct ob_header){.name = "webhook-id", .value = (char *)c->id};
    if (c->timestamp)
        c->headers[n++] =
            (struct ob_header){.name = "Webhook-Timestamp", .value = (char *)c->timestamp};
    if (c->signature)
        c->headers[n++] =
            (struct ob_header){.name = "WEBHOOK-SIGNATURE", .value = (char *)c->signature};
    c->headers[n++] = (struct ob_header){.name = "Content-Type", .value = "application/json"};
    c->req = (struct ob_callback_request){
        .method = "POST",
        .path = "/callbacks/WH-1",
        .subpath = "",
        .headers = c->headers,
        .n_headers = n,
        .body = c->body,
        .body_len = strlen(c->body),
        .remote_addr = "127.0.0.1",
        .now_ms = c->now_ms,
    };
    assert_non_null(inst->plugin.vt.decode_callback);
    c->verdict = inst->plugin.vt.decode_callback(inst->state, &c->req, &c->res);
    assert_clean_reason(c);
    if (c->verdict == OB_CALLBACK_OK)
        assert_true(c->res.n_updates >= 1);
    else
        assert_true(c->res.reason[0] != '\0');
    return c->verdict;
}

/* A correctly signed callback of `body` sent at `ts`, arriving at now_ms. */
static enum ob_callback_verdict signed_call(struct call *c, const char *id, long ts,
                                            const char *body, int64_t now_ms)
{
    memset(c, 0, sizeof *c);
    snprintf(c->ts, sizeof c->ts, "%ld", ts);
    sign_v1(SECRET, id, ts, body, c->sig, sizeof c->sig);
    c->id = id;
    c->timestamp = c->ts;
    c->signature = c->sig;
    c->body = body;
    c->now_ms = now_ms;
    return run(wh1, c);
}

/* ---- the specification's vector ------------------------------------------ */

static void test_spec_vector(void **state)
{
    (void)state;
    struct call c;

    /* the test's own signer agrees with the specification */
    sign_v1(SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY, c.sig, sizeof c.sig);
    assert_string_equal(c.sig, VECTOR_SIG);

    /* the adapter accepts the vector's signature: authentic, so the verdict
     * is about the body (no type), not the signature */
    memset(&c, 0, sizeof c);
    c.id = VECTOR_ID;
    c.timestamp = "1614265330";
    c.signature = VECTOR_SIG;
    c.body = VECTOR_BODY;
    c.now_ms = VECTOR_TS * 1000LL;
    assert_int_equal(run(wh1, &c), OB_CALLBACK_MALFORMED);
    assert_contains(c.res.reason, "type");

    /* one character of the signature changed: refused */
    c.signature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF=";
    assert_int_equal(run(wh1, &c), OB_CALLBACK_FORBIDDEN);
    assert_string_equal(c.res.reason, "signature mismatch");
}

/* ---- every type ------------------------------------------------------------ */

static void test_every_type(void **state)
{
    (void)state;
    static const struct {
        const char *type;
        enum ob_fulfillment_status status;
    } table[] = {
        {"order.allocated", OB_STATUS_ALLOCATED}, {"order.picked", OB_STATUS_PICKED},
        {"order.packed", OB_STATUS_PACKED},       {"order.shipped", OB_STATUS_SHIPPED},
        {"order.delivered", OB_STATUS_DELIVERED}, {"order.cancelled", OB_STATUS_CANCELLED},
        {"order.exception", OB_STATUS_EXCEPTION},
    };
    char body[1024], id[64];
    struct call c;

    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        snprintf(body, sizeof body,
                 "{\"type\":\"%s\",\"timestamp\":\"2025-11-22T16:20:00+08:00\","
                 "\"data\":{\"reference_id\":\"SO20231111000123\",\"id\":987654,"
                 "\"tracking\":{\"carrier\":\"SF\",\"tracking_number\":\"SF1234567890\"},"
                 "\"reason\":\"why %zu\"}}",
                 table[i].type, i);
        snprintf(id, sizeof id, "msg_type_%zu", i);
        assert_int_equal(signed_call(&c, id, NOW_S, body, NOW_MS), OB_CALLBACK_OK);
        assert_int_equal(c.res.n_updates, 1);
        const struct ob_status_update *u = &c.res.updates[0];
        assert_int_equal(u->status, table[i].status);
        assert_string_equal(u->raw_code, table[i].type);
        assert_string_equal(u->order_id, "SO20231111000123");
        assert_string_equal(u->warehouse_order_id, "987654");
        /* 2025-11-22T08:20:00Z */
        assert_int_equal(u->occurred_at_ms, 1763799600000LL);
        assert_string_equal(u->carrier, "SF");
        assert_string_equal(u->tracking_no, "SF1234567890");
        char want[32];
        snprintf(want, sizeof want, "why %zu", i);
        assert_string_equal(u->reason, want);
        assert_string_equal(c.res.delivery_id, id);
    }
}

/* An unknown code is kept (UNMAPPED with its raw code), never dropped or
 * refused. */
static void test_unknown_type_kept(void **state)
{
    (void)state;
    struct call c;
    static const char body[] =
        "{\"type\":\"order.returned_to_sender\",\"data\":{\"reference_id\":\"SO-9\",\"id\":\"W-9\"}}";

    assert_int_equal(signed_call(&c, "msg_unknown_type", NOW_S, body, NOW_MS), OB_CALLBACK_OK);
    assert_int_equal(c.res.n_updates, 1);
    assert_int_equal(c.res.updates[0].status, OB_STATUS_UNMAPPED);
    assert_string_equal(c.res.updates[0].raw_code, "order.returned_to_sender");
    assert_string_equal(c.res.updates[0].order_id, "SO-9");
    assert_string_equal(c.res.updates[0].warehouse_order_id, "W-9");
}

/* Optional fields: no timestamp in the body uses webhook-timestamp; no id,
 * tracking or reason leaves them empty; nulls count as absent. */
static void test_optional_fields(void **state)
{
    (void)state;
    struct call c;
    static const char minimal[] = "{\"type\":\"order.picked\",\"data\":{\"reference_id\":\"SO-1\"}}";
    static const char nulls[] =
        "{\"type\":\"order.picked\",\"timestamp\":null,\"data\":{\"reference_id\":\"SO-1\","
        "\"id\":null,\"tracking\":null,\"reason\":null}}";

    assert_int_equal(signed_call(&c, "msg_min", NOW_S - 10, minimal, NOW_MS), OB_CALLBACK_OK);
    assert_int_equal(c.res.updates[0].occurred_at_ms, (NOW_S - 10) * 1000LL);
    assert_string_equal(c.res.updates[0].warehouse_order_id, "");
    assert_string_equal(c.res.updates[0].carrier, "");
    assert_string_equal(c.res.updates[0].tracking_no, "");
    assert_string_equal(c.res.updates[0].reason, "");
    assert_string_equal(c.res.updates[0].raw_text, "");

    assert_int_equal(signed_call(&c, "msg_nulls", NOW_S, nulls, NOW_MS), OB_CALLBACK_OK);
    assert_int_equal(c.res.updates[0].occurred_at_ms, NOW_MS);
    assert_int_equal(c.res.updates[0].status, OB_STATUS_PICKED);
}

/* ---- authentication -------------------------------------------------------- */

static const char good_body[] =
    "{\"type\":\"order.shipped\",\"data\":{\"reference_id\":\"SO-2\",\"id\":2}}";

static void test_tampered_body(void **state)
{
    (void)state;
    struct call c;

    assert_int_equal(signed_call(&c, "msg_t", NOW_S, good_body, NOW_MS), OB_CALLBACK_OK);
    /* the same headers over another body */
    c.body = "{\"type\":\"order.shipped\",\"data\":{\"reference_id\":\"SO-3\",\"id\":2}}";
    assert_int_equal(run(wh1, &c), OB_CALLBACK_FORBIDDEN);
    assert_string_equal(c.res.reason, "signature mismatch");
    assert_int_equal(c.res.n_updates, 0);
    /* another id or timestamp under the same signature */
    c.body = good_body;
    c.id = "msg_u";
    assert_int_equal(run(wh1, &c), OB_CALLBACK_FORBIDDEN);
    c.id = "msg_t";
    snprintf(c.ts, sizeof c.ts, "%ld", NOW_S + 1);
    assert_int_equal(run(wh1, &c), OB_CALLBACK_FORBIDDEN);
}

static void test_wrong_or_missing_signature(void **state)
{
    (void)state;
    struct call c;
    char other[128];

    /* signed with another secret */
    signed_call(&c, "msg_w", NOW_S, good_body, NOW_MS);
    sign_v1("whsec_c2VjcmV0LW9mLWFub3RoZXItd2FyZWhvdXNl", "msg_w", NOW_S, good_body, other,
            sizeof other);
    c.signature = other;
    assert_int_equal(run(wh1, &c), OB_CALLBACK_FORBIDDEN);
    assert_string_equal(c.res.reason, "signature mismatch");

    /* the right MAC under another version is not a v1 signature */
    c.signature = c.sig;
    memcpy(c.sig, "v2", 2);
    assert_int_equal(run(wh1, &c), OB_CALLBACK_FORBIDDEN);
    memcpy(c.sig, "v1", 2);

    /* garbage entries */
    static const char *const garbage[] = {"", "v1,", "v1", "v1,!!!!", "v1,AAAA", "v1 , x",
                                          "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="};
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        c.signature = garbage[i];
        assert_int_equal(run(wh1, &c), OB_CALLBACK_FORBIDDEN);
    }

    /* each header missing */
    c.signature = c.sig;
    c.id = NULL;
    assert_int_equal(run(wh1, &c), OB_CALLBACK_FORBIDDEN);
    assert_contains(c.res.reason, "webhook-id");
    c.id = "msg_w";
    c.timestamp = NULL;
    assert_int_equal(run(wh1, &c), OB_CALLBACK_FORBIDDEN);
    assert_contains(c.res.reason, "webhook-timestamp");
    c.timestamp = c.ts;
    c.signature = NULL;
    assert_int_equal(run(wh1, &c), OB_CALLBACK_FORBIDDEN);
    assert_contains(c.res.reason, "webhook-signature");

    /* a timestamp that is not unix seconds */
    static const char *const bad_ts[] = {"", "-1", "1763800000.5", "1763800000 ", "0x10",
                                         "99999999999999999999"};
    c.signature = c.sig;
    for (size_t i = 0; i < sizeof bad_ts / sizeof bad_ts[0]; i++) {
        c.timestamp = bad_ts[i];
        assert_int_equal(run(wh1, &c), OB_CALLBACK_FORBIDDEN);
    }
}

/* Several signatures (key rotation): one valid v1 entry is enough. */
static void test_several_signatures(void **state)
{
    (void)state;
    struct call c;
    char list[512], other[128];

    signed_call(&c, "msg_rot", NOW_S, good_body, NOW_MS);
    sign_v1("whsec_b2xkLXNlY3JldC1yb3RhdGVkLWF3YXk=", "msg_rot", NOW_S, good_body, other,
            sizeof other);
    snprintf(list, sizeof list, "%s v1a,xyz v2,%s %s", other, c.sig + 3, c.sig);
    c.signature = list;
    assert_int_equal(run(wh1, &c), OB_CALLBACK_OK);
    snprintf(list, sizeof list, "%s  %s", c.sig, other);
    assert_int_equal(run(wh1, &c), OB_CALLBACK_OK);
    /* none valid */
    snprintf(list, sizeof list, "%s %s", other, other);
    assert_int_equal(run(wh1, &c), OB_CALLBACK_FORBIDDEN);
}

static void test_timestamp_window(void **state)
{
    (void)state;
    struct call c;

    /* exactly 5 minutes either way is inside */
    assert_int_equal(signed_call(&c, "msg_edge1", NOW_S - 300, good_body, NOW_MS), OB_CALLBACK_OK);
    assert_int_equal(signed_call(&c, "msg_edge2", NOW_S + 300, good_body, NOW_MS), OB_CALLBACK_OK);
    /* stale */
    assert_int_equal(signed_call(&c, "msg_stale", NOW_S - 301, good_body, NOW_MS),
                     OB_CALLBACK_FORBIDDEN);
    assert_contains(c.res.reason, "past");
    assert_int_equal(signed_call(&c, "msg_old", 1614265330L, good_body, NOW_MS),
                     OB_CALLBACK_FORBIDDEN);
    /* future */
    assert_int_equal(signed_call(&c, "msg_future", NOW_S + 301, good_body, NOW_MS),
                     OB_CALLBACK_FORBIDDEN);
    assert_contains(c.res.reason, "future");
    assert_int_equal(c.res.n_updates, 0);
}

static void test_secret_not_configured(void **state)
{
    (void)state;
    struct call c;

    signed_call(&c, "msg_nc", NOW_S, good_body, NOW_MS);
    assert_int_equal(run(wh2, &c), OB_CALLBACK_FORBIDDEN);
    assert_string_equal(c.res.reason, "webhook_secret not configured");
}

/* A webhook_secret that is not whsec_ + Base64 fails init, without
 * quoting it. */
static void test_bad_secret_refused_at_init(void **state)
{
    (void)state;
    static const char *const bad[] = {"whsec_not*base64!", "whsec_", "whsec_QUJD\nREVG"};
    struct ob_config *c2 = NULL;
    struct ob_adapter_instance *inst = NULL;
    const char *json;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(setenv(BAD_SECRET_ENV, bad[i], 1), 0);
        json = J("{'kafka':{'bootstrap_servers':'k1:9092'},"
                 "'adapter_path':['" OB_BUILD_DIR "/adapters'],"
                 "'warehouses':{'WH-3':{'adapter':'rest','endpoint':'https://x.example.com',"
                 "'credentials':{'token':'env:" TOKEN_ENV "','webhook_secret':'env:" BAD_SECRET_ENV
                 "'}}}}");
        assert_int_equal(ob_config_parse(json, strlen(json), NULL, &c2, err, sizeof err), 0);
        assert_int_not_equal(
            ob_adapter_open(c2, ob_config_warehouse(c2, "WH-3"), &inst, err, sizeof err), 0);
        assert_contains(err, "credentials.webhook_secret");
        assert_null(strstr(err, "base64!"));
        ob_config_destroy(c2);
        c2 = NULL;
    }
    /* without the prefix, plain Base64 is taken as the key */
    assert_int_equal(setenv(BAD_SECRET_ENV, SECRET_B64, 1), 0);
    assert_int_equal(ob_config_parse(json, strlen(json), NULL, &c2, err, sizeof err), 0);
    assert_int_equal(ob_adapter_open(c2, ob_config_warehouse(c2, "WH-3"), &inst, err, sizeof err),
                     0);
    struct call c;
    signed_call(&c, "msg_noprefix", NOW_S, good_body, NOW_MS);
    assert_int_equal(run(inst, &c), OB_CALLBACK_OK);
    ob_adapter_close(inst);
    ob_config_destroy(c2);
    unsetenv(BAD_SECRET_ENV);
}

/* ---- malformed bodies (correctly signed) ---------------------------------- */

static void test_malformed(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "",
        "not json",
        "{\"type\":",
        "[1,2]",
        "\"order.picked\"",
        "{\"data\":{\"reference_id\":\"SO-1\"}}",                                 /* no type */
        "{\"type\":\"\",\"data\":{\"reference_id\":\"SO-1\"}}",                   /* empty type */
        "{\"type\":7,\"data\":{\"reference_id\":\"SO-1\"}}",                      /* type number */
        "{\"type\":\"order.picked\"}",                                            /* no data */
        "{\"type\":\"order.picked\",\"data\":[]}",                                /* data array */
        "{\"type\":\"order.picked\",\"data\":{}}",                                /* no reference */
        "{\"type\":\"order.picked\",\"data\":{\"reference_id\":\"\"}}",           /* empty ref */
        "{\"type\":\"order.picked\",\"data\":{\"reference_id\":123}}",            /* ref number */
        "{\"type\":\"order.picked\",\"data\":{\"reference_id\":\"a\\u0000b\"}}",  /* NUL */
        "{\"type\":\"order.picked\",\"data\":{\"reference_id\":\"SO-1\",\"id\":true}}",
        "{\"type\":\"order.picked\",\"data\":{\"reference_id\":\"SO-1\",\"id\":1.5}}",
        "{\"type\":\"order.picked\",\"data\":{\"reference_id\":\"SO-1\",\"id\":{}}}",
        "{\"type\":\"order.picked\",\"timestamp\":\"yesterday\",\"data\":{\"reference_id\":\"S\"}}",
        "{\"type\":\"order.picked\",\"timestamp\":1763800000,\"data\":{\"reference_id\":\"S\"}}",
        "{\"type\":\"order.picked\",\"data\":{\"reference_id\":\"S\",\"tracking\":\"SF1\"}}",
        "{\"type\":\"order.picked\",\"data\":{\"reference_id\":\"S\",\"tracking\":{\"carrier\":1}}}",
        "{\"type\":\"order.picked\",\"data\":{\"reference_id\":\"S\",\"reason\":42}}",
        "{\"type\":\"order.picked\",\"type\":\"order.packed\",\"data\":{\"reference_id\":\"S\"}}",
        /* 65 bytes: would be cut into another order's id */
        "{\"type\":\"order.picked\",\"data\":{\"reference_id\":"
        "\"12345678901234567890123456789012345678901234567890123456789012345\"}}",
    };
    struct call c;
    char id[32];

    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        snprintf(id, sizeof id, "msg_bad_%zu", i);
        if (signed_call(&c, id, NOW_S, bodies[i], NOW_MS) != OB_CALLBACK_MALFORMED) {
            print_error("body %zu accepted: %s\n", i, bodies[i]);
            fail();
        }
        assert_int_equal(c.res.n_updates, 0);
    }
    /* 64 bytes fit */
    assert_int_equal(
        signed_call(&c, "msg_64", NOW_S,
                    "{\"type\":\"order.picked\",\"data\":{\"reference_id\":"
                    "\"1234567890123456789012345678901234567890123456789012345678901234\"}}",
                    NOW_MS),
        OB_CALLBACK_OK);
    assert_int_equal(strlen(c.res.updates[0].order_id), 64);
}

/* ---- answers ---------------------------------------------------------------- */

static void test_answers(void **state)
{
    (void)state;
    static const struct {
        enum ob_callback_verdict verdict;
        int status;
        const char *body;
    } table[] = {
        {OB_CALLBACK_OK, 200, "{\"ok\":true}"},
        {OB_CALLBACK_FORBIDDEN, 401, "{\"error\":\"invalid signature\"}"},
        {OB_CALLBACK_MALFORMED, 400, "{\"error\":\"malformed\"}"},
        {OB_CALLBACK_UNKNOWN_ORDER, 404, "{\"error\":\"unknown order\"}"},
        {OB_CALLBACK_TOO_LARGE, 413, "{\"error\":\"too large\"}"},
        {OB_CALLBACK_RETRY, 503, "{\"error\":\"try again\"}"},
    };
    struct ob_callback_request req = {.method = "POST", .path = "/callbacks/WH-1", .subpath = ""};
    struct ob_callback_reply reply;

    assert_non_null(wh1->plugin.vt.answer_callback);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        memset(&reply, 0, sizeof reply);
        /* the reason is never echoed */
        wh1->plugin.vt.answer_callback(wh1->state, &req, table[i].verdict,
                                       "signature mismatch " SECRET, &reply);
        assert_int_equal(reply.status, table[i].status);
        assert_string_equal(reply.body, table[i].body);
        assert_string_equal(reply.content_type, "application/json");
        assert_null(strstr(reply.body, "mismatch"));
        json_t *doc = json_loads(reply.body, 0, NULL);
        assert_true(json_is_object(doc));
        json_decref(doc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_vector),
        cmocka_unit_test(test_every_type),
        cmocka_unit_test(test_unknown_type_kept),
        cmocka_unit_test(test_optional_fields),
        cmocka_unit_test(test_tampered_body),
        cmocka_unit_test(test_wrong_or_missing_signature),
        cmocka_unit_test(test_several_signatures),
        cmocka_unit_test(test_timestamp_window),
        cmocka_unit_test(test_secret_not_configured),
        cmocka_unit_test(test_bad_secret_refused_at_init),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_answers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
