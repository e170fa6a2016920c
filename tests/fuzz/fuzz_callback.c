/*
 * fuzz_callback — a warehouse's status callback verified and read by
 * decode_callback() of rest (Standard Webhooks HMAC), qimen (Qimen MD5 sign
 * over the query and body) and sf_express (token in the path), then
 * answered by answer_callback(). The first byte picks the case (modulo 8):
 *
 *   0 rest, 1 qimen, 2 sf_express   as sent: nothing signed by the harness
 *   3 rest        signed here with the warehouse's secret (webhook-id and
 *                 webhook-timestamp from the input when given; a
 *                 webhook-signature given is kept in front of ours)
 *   4 qimen       deliveryorder.confirm, signed here
 *   5 qimen       orderprocess.report, signed here
 *   6 sf_express  the right token in the path
 *   7 qimen       orderprocess.report plus the input's ?query pairs, signed
 *
 * so that the fuzzer reaches the parsers behind the signature checks. The
 * rest of the input is lines, an empty line, then the body:
 *
 *   ?a=1&b=2        the query string (cases 0-2, 7)
 *   /subpath        what follows the warehouse's callback path
 *   @1795312800000  the arrival time, epoch ms
 *   Name: value     a header
 *
 * Signatures are made with OpenSSL here, the way the warehouse makes them
 * (tests/unit/test_cb_*.c), not with the adapters' code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "fuzz.h"

#define REST_NOW_S 1763800000LL     /* 2025-11-22T08:26:40Z */
#define QIMEN_TS "2026-11-22 10:00:00" /* Asia/Shanghai, the qimen warehouse's zone */
#define QIMEN_TS_QUERY "2026-11-22%2010%3A00%3A00"
#define QIMEN_NOW_MS 1795312800000LL /* QIMEN_TS */
#define CONFIRM "taobao.qimen.deliveryorder.confirm"
#define REPORT "taobao.qimen.orderprocess.report"

static int verbose; /* OB_FUZZ_VERBOSE=1: each verdict on stderr (checking the seeds) */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    verbose = getenv("OB_FUZZ_VERBOSE") != NULL;
    fuzz_open_adapters();
    return 0;
}

/* ---- signing, as the warehouses do it ---------------------------------------- */

/* "v1," + Base64(HMAC-SHA256(Base64Decode(secret after whsec_), id.ts.body)). */
static void rest_sign(const char *id, const char *ts, const char *body, size_t body_len,
                      char out[128])
{
    const char *b64 = FUZZ_REST_WEBHOOK_KEY_B64;
    unsigned char key[64], mac[EVP_MAX_MD_SIZE], enc[64];
    unsigned int mac_len = 0;
    int key_len = EVP_DecodeBlock(key, (const unsigned char *)b64, (int)strlen(b64));
    size_t head_len = strlen(id) + strlen(ts) + 2;
    unsigned char *text = malloc(head_len + body_len + 1);

    if (!text || key_len <= 0)
        fuzz_fail("rest_sign: out of memory or a bad secret");
    key_len -= (b64[strlen(b64) - 1] == '=') + (b64[strlen(b64) - 2] == '=');
    snprintf((char *)text, head_len + 1, "%s.%s.", id, ts);
    memcpy(text + head_len, body, body_len);
    if (!HMAC(EVP_sha256(), key, key_len, text, head_len + body_len, mac, &mac_len))
        fuzz_fail("rest_sign: HMAC failed");
    free(text);
    EVP_EncodeBlock(enc, mac, (int)mac_len);
    snprintf(out, 128, "v1,%s", (const char *)enc);
}

struct qparam {
    const char *key, *value;
};

static int by_key(const void *a, const void *b)
{
    return strcmp(((const struct qparam *)a)->key, ((const struct qparam *)b)->key);
}

/* UPPER(hex(MD5(secret + the sorted k+v, sign left out + body + secret))). */
static void qimen_sign(struct qparam *params, size_t n, const char *body, size_t body_len,
                       char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    qsort(params, n, sizeof(*params), by_key);
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1)
        fuzz_fail("qimen_sign: MD5 unavailable");
    EVP_DigestUpdate(ctx, FUZZ_QIMEN_SECRET, strlen(FUZZ_QIMEN_SECRET));
    for (size_t i = 0; i < n; i++) {
        if (strcmp(params[i].key, "sign") == 0)
            continue;
        EVP_DigestUpdate(ctx, params[i].key, strlen(params[i].key));
        EVP_DigestUpdate(ctx, params[i].value, strlen(params[i].value));
    }
    EVP_DigestUpdate(ctx, body, body_len);
    EVP_DigestUpdate(ctx, FUZZ_QIMEN_SECRET, strlen(FUZZ_QIMEN_SECRET));
    if (EVP_DigestFinal_ex(ctx, md, &md_len) != 1 || md_len != 16)
        fuzz_fail("qimen_sign: MD5 failed");
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < md_len; i++)
        snprintf(out + 2 * i, 3, "%02X", md[i]);
}

#define MAX_EXTRA 16

/* The query of a signed Qimen callback: the gateway's parameters, the
 * input's extra pairs (raw, as written: "k=v&k2=v2"), and the sign. */
static char *qimen_query(const char *method, const char *extra, const char *body, size_t body_len)
{
    struct qparam params[8 + MAX_EXTRA] = {
        {"method", method},         {"app_key", FUZZ_QIMEN_APP_KEY},
        {"customerId", FUZZ_QIMEN_CUSTOMER}, {"format", "xml"},
        {"sign_method", "md5"},     {"timestamp", QIMEN_TS},
        {"v", "2.0"},
    };
    size_t n = 7, len;
    char *pairs = strdup(extra ? extra : ""), *query, sign[33];
    char *save = NULL;

    if (!pairs)
        fuzz_fail("out of memory");
    for (char *pair = strtok_r(pairs, "&", &save); pair && n < 7 + MAX_EXTRA;
         pair = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');
        if (eq)
            *eq = '\0';
        params[n++] = (struct qparam){pair, eq ? eq + 1 : ""};
    }
    len = strlen(method) + strlen(extra ? extra : "") + 256;
    query = malloc(len);
    if (!query)
        fuzz_fail("out of memory");
    snprintf(query, len,
             "method=%s&app_key=" FUZZ_QIMEN_APP_KEY "&customerId=" FUZZ_QIMEN_CUSTOMER
             "&format=xml&sign_method=md5&timestamp=%s&v=2.0%s%s",
             method, QIMEN_TS_QUERY, extra && *extra ? "&" : "", extra ? extra : "");
    qimen_sign(params, n, body, body_len, sign);
    free(pairs);
    snprintf(query + strlen(query), len - strlen(query), "&sign=%s", sign);
    return query;
}

/* ---- the checks ------------------------------------------------------------------ */

static void check_result(enum fuzz_wh wh, enum ob_callback_verdict v,
                         const struct ob_callback_result *res)
{
    const char *who = fuzz_wh_name(wh);

    FUZZ_CHECK_FIELD("result.reason", res->reason);
    FUZZ_CHECK_FIELD("result.delivery_id", res->delivery_id);
    if (v < OB_CALLBACK_OK || v > OB_CALLBACK_RETRY)
        fuzz_fail("%s: verdict %d", who, (int)v);
    if (res->n_updates > OB_CALLBACK_MAX_UPDATES)
        fuzz_fail("%s: %zu updates", who, res->n_updates);
    if (v != OB_CALLBACK_OK && (res->n_updates != 0 || !res->reason[0]))
        fuzz_fail("%s: refused (%d) with %zu updates or no reason", who, (int)v, res->n_updates);
    /* a reason never carries a secret */
    if (strstr(res->reason, FUZZ_REST_WEBHOOK_KEY_B64) || strstr(res->reason, "whsec_") ||
        strstr(res->reason, FUZZ_QIMEN_SECRET) || strstr(res->reason, FUZZ_SF_CALLBACK_TOKEN))
        fuzz_fail("%s: a secret in the reason: %s", who, res->reason);
    for (size_t i = 0; i < res->n_updates && i < OB_CALLBACK_MAX_UPDATES; i++) {
        const struct ob_status_update *u = &res->updates[i];
        FUZZ_CHECK_FIELD("update.order_id", u->order_id);
        FUZZ_CHECK_FIELD("update.warehouse_order_id", u->warehouse_order_id);
        FUZZ_CHECK_FIELD("update.raw_code", u->raw_code);
        FUZZ_CHECK_FIELD("update.raw_text", u->raw_text);
        FUZZ_CHECK_FIELD("update.carrier", u->carrier);
        FUZZ_CHECK_FIELD("update.tracking_no", u->tracking_no);
        FUZZ_CHECK_FIELD("update.reason", u->reason);
        if ((int)u->status < OB_STATUS_UNMAPPED || u->status > OB_STATUS_REJECTED)
            fuzz_fail("%s: updates[%zu].status %d", who, i, (int)u->status);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum fuzz_wh adapter_of[8] = {
        FUZZ_REST, FUZZ_QIMEN, FUZZ_SF_EXPRESS, FUZZ_REST,
        FUZZ_QIMEN, FUZZ_QIMEN, FUZZ_SF_EXPRESS, FUZZ_QIMEN,
    };
    struct fuzz_message m;
    struct ob_header headers[FUZZ_MAX_LINES + 3];
    size_t n_headers = 0, n_given = 0;
    struct ob_header given[FUZZ_MAX_LINES];
    const char *query = NULL, *subpath = "";
    char *signed_query = NULL, path[256], sig[128], sig_list[640], ts[32];
    struct ob_callback_request req;
    struct ob_callback_result res;
    struct ob_callback_reply reply;
    struct ob_adapter_instance *inst;
    enum ob_callback_verdict v;
    enum fuzz_wh wh;
    int64_t now_ms = 0;
    int mode;

    if (size == 0)
        return 0;
    mode = data[0] % 8;
    wh = adapter_of[mode];
    inst = fuzz_adapter(wh);
    fuzz_message_parse(data + 1, size - 1, &m);
    for (size_t i = 0; i < m.n_lines; i++) {
        char *line = m.lines[i];
        if (line[0] == '?')
            query = line + 1;
        else if (line[0] == '/')
            subpath = line;
        else if (line[0] == '@')
            now_ms = strtoll(line + 1, NULL, 10);
        else if (fuzz_header(line, &given[n_given]) == 0)
            n_given++;
    }

    switch (mode) {
    case 3: { /* rest, signed */
        const char *id = NULL, *stamp = NULL, *their_sig = NULL;
        for (size_t i = 0; i < n_given; i++) {
            if (!id && strcasecmp(given[i].name, "webhook-id") == 0)
                id = given[i].value;
            else if (!stamp && strcasecmp(given[i].name, "webhook-timestamp") == 0)
                stamp = given[i].value;
            else if (!their_sig && strcasecmp(given[i].name, "webhook-signature") == 0)
                their_sig = given[i].value;
        }
        snprintf(ts, sizeof(ts), "%lld", REST_NOW_S);
        rest_sign(id ? id : "msg_fuzz_1", stamp ? stamp : ts, m.body, m.body_len, sig);
        snprintf(sig_list, sizeof(sig_list), "%.400s%s%s", their_sig ? their_sig : "",
                 their_sig ? " " : "", sig);
        headers[n_headers++] = (struct ob_header){"webhook-id", (char *)(id ? id : "msg_fuzz_1")};
        headers[n_headers++] = (struct ob_header){"webhook-timestamp", stamp ? (char *)stamp : ts};
        headers[n_headers++] = (struct ob_header){"webhook-signature", sig_list};
        if (!now_ms)
            now_ms = REST_NOW_S * 1000;
        break;
    }
    case 4:
    case 5:
    case 7: /* qimen, signed */
        query = signed_query =
            qimen_query(mode == 4 ? CONFIRM : REPORT, mode == 7 ? query : NULL, m.body, m.body_len);
        if (!now_ms)
            now_ms = QIMEN_NOW_MS;
        break;
    case 6: /* sf_express, the right token */
        subpath = "/" FUZZ_SF_CALLBACK_TOKEN;
        break;
    default:
        break;
    }
    for (size_t i = 0; i < n_given; i++)
        headers[n_headers++] = given[i];

    snprintf(path, sizeof(path), "/callbacks/%s%.200s", fuzz_wh_name(wh), subpath);
    req = (struct ob_callback_request){
        .method = "POST",
        .path = path,
        .subpath = subpath,
        .query = query,
        .headers = headers,
        .n_headers = n_headers,
        .body = m.body,
        .body_len = m.body_len,
        .remote_addr = "127.0.0.1",
        .now_ms = now_ms ? now_ms : QIMEN_NOW_MS,
    };
    memset(&res, 0, sizeof(res));
    v = inst->plugin.vt.decode_callback(inst->state, &req, &res);
    check_result(wh, v, &res);
    if (verbose)
        fprintf(stderr, "  case %d %s: verdict %d, %zu updates, %s\n", mode, fuzz_wh_name(wh),
                (int)v, res.n_updates, res.reason);
    if (inst->plugin.vt.answer_callback) {
        memset(&reply, 0, sizeof(reply));
        inst->plugin.vt.answer_callback(inst->state, &req, v, res.reason, &reply);
        FUZZ_CHECK_FIELD("reply.content_type", reply.content_type);
        FUZZ_CHECK_FIELD("reply.body", reply.body);
    }
    free(signed_query);
    fuzz_message_free(&m);
    return 0;
}
