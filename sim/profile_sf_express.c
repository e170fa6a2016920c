/*
 * profile_sf_express.c — the SF Express 丰桥 order API (serviceCode
 * EXP_RECE_CREATE_ORDER) as the simulator models it, for the sf_express
 * adapter.
 *
 * POST /std/service, application/x-www-form-urlencoded, fields partnerID,
 * requestID, serviceCode, timestamp, msgDigest, msgData. The profile checks
 * it as SF does: decode the form, look the partner up, recompute
 *   msgDigest = Base64(MD5(JavaURLEncode(msgData + timestamp + checkWord)))
 * from the decoded values with the SDK, check the timestamp's age, then the
 * order, and dedupe by msgData.orderId. Every answer is HTTP 200 with SF's
 * JSON envelope; the business verdict is apiResultData, a JSON *string*.
 *
 * Secrets (ob_sim_options.secrets): "check_word" (required: without it
 * every request is answered A1006), "partner_id" (optional: when set, any
 * other partnerID is answered A1004).
 *
 *  check, in order                           answer                         counter
 *  other path or method (screen)             404 {"error":"not found"}      -
 *  Content-Type not form-urlencoded          A1001 必传参数不可为空          BAD_REQUEST
 *  a form field missing or empty             A1001 必传参数不可为空          BAD_REQUEST
 *  partnerID is not the configured one       A1004 无对应服务权限            UNAUTHORIZED
 *  serviceCode not EXP_RECE_CREATE_ORDER     A1004 无对应服务权限            BAD_REQUEST
 *  msgDigest wrong (or no check_word)        A1006 数字签名无效              BAD_SIGNATURE
 *  timestamp not epoch ms within 30 minutes  A1002 请求时效已过期            BAD_REQUEST
 *  msgData not an object / no orderId        A1001 必传参数不可为空          BAD_REQUEST
 *  no receiver (contactType 2) address       A1000 + errorCode 1014         BAD_REQUEST
 *  receiver contact empty                    A1000 + errorCode 1015         BAD_REQUEST
 *  receiver mobile (and tel) empty           A1000 + errorCode 1016         BAD_REQUEST
 *  no cargoDetails or a cargo without name   A1000 + errorCode 1023         BAD_REQUEST
 *  orderId seen before                       A1000 + errorCode 8016 重复下单  DUPLICATE
 *  dedupe store full                         507 {"error":"capacity exceeded"}  -
 *  new orderId                               A1000 + S0000, waybill SF<13 digits>  CREATED
 *
 * The codes of the first three rows and of the msgData row are the
 * simulator's choice where SF's documentation names no specific code.
 *
 * Status reports: SF's route push (路由推送), JSON mode. POST <callback_url>
 * (which carries the bridge's secret token as its last path segment; SF
 * does not sign) with Content-Type application/json and
 * {"Body":{"WaybillRoute":[{"mailno","orderid","acceptTime","acceptAddress",
 * "remark","opCode"}, ...]}}: up to 10 routes of different orders that are
 * due together share one push. Success is JSON with "return_code":"0000";
 * anything else (e.g. "1000") means: send it again.
 */
#include "sim.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <jansson.h>
#include <microhttpd.h>

#include <orderbridge/sdk.h>

#define SF_PATH "/std/service"
#define SF_SERVICE "EXP_RECE_CREATE_ORDER"
#define SF_CONTENT_TYPE "application/json;charset=UTF-8"
#define SF_MAX_SKEW_MS (30LL * 60 * 1000)
#define SF_FIELDS 6
#define SF_TIME_ZONE "Asia/Shanghai"
#define SF_ROUTE_BATCH 10

static const char *const field_names[SF_FIELDS] = {"partnerID", "requestID", "serviceCode",
                                                   "timestamp", "msgDigest", "msgData"};
enum { F_PARTNER, F_REQUEST, F_SERVICE, F_TIMESTAMP, F_DIGEST, F_DATA };

struct sf_form {
    char *value[SF_FIELDS]; /* decoded, malloc()ed; NULL when absent */
};

static void form_free(struct sf_form *f)
{
    for (size_t i = 0; i < SF_FIELDS; i++)
        free(f->value[i]);
}

/* One x-www-form-urlencoded token, decoded: '+' is a space, %XX a byte. */
static char *form_token(const char *s, size_t len)
{
    char *t = strndup(s, len);

    if (!t)
        return NULL;
    for (char *p = t; *p; p++)
        if (*p == '+')
            *p = ' ';
    MHD_http_unescape(t);
    return t;
}

/* Decode the form into the fields SF knows; the first of a repeated key
 * wins, as with a servlet's getParameter(). -1 when out of memory. */
static int form_parse(const char *body, size_t len, struct sf_form *f)
{
    const char *p = body, *end = body + len;

    memset(f, 0, sizeof *f);
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        const char *key_end = eq ? eq : stop;
        char *key = form_token(p, (size_t)(key_end - p));

        if (!key)
            return -1;
        for (size_t i = 0; i < SF_FIELDS; i++) {
            if (strcmp(key, field_names[i]) == 0 && !f->value[i]) {
                f->value[i] = eq ? form_token(eq + 1, (size_t)(stop - eq - 1)) : strdup("");
                if (!f->value[i]) {
                    free(key);
                    return -1;
                }
            }
        }
        free(key);
        p = amp ? amp + 1 : end;
    }
    return 0;
}

/* SF's envelope. `result` (may be NULL) becomes apiResultData as a JSON string. */
static void answer(struct ob_sim_reply *reply, const struct sf_form *f, const char *api_code,
                   const char *api_msg, json_t *result)
{
    char *data = result ? json_dumps(result, JSON_COMPACT) : NULL;
    /* apiResponseID: the requestID echoed when it is a plausible id */
    const char *id = f && f->value[F_REQUEST] ? f->value[F_REQUEST] : "";
    if (strlen(id) > 64 || strspn(id, "0123456789abcdefABCDEF-") != strlen(id))
        id = "";
    json_t *env = json_pack("{s:s, s:s, s:s, s:o}", "apiResultCode", api_code, "apiErrorMsg",
                            api_msg, "apiResponseID", id, "apiResultData",
                            data ? json_string(data) : json_null());

    json_decref(result);
    free(data);
    reply->status = 200;
    reply->content_type = SF_CONTENT_TYPE;
    reply->body = env ? json_dumps(env, JSON_COMPACT) : NULL;
    json_decref(env);
    if (!reply->body) {
        reply->status = 500;
        reply->content_type = "application/json";
        reply->body = strdup("{\"error\":\"out of memory\"}");
    }
}

/* A1000 with a business verdict {success, errorCode, errorMsg, msgData}. */
static void business(struct ob_sim_reply *reply, const struct sf_form *f, int success,
                     const char *code, const char *msg, json_t *msg_data)
{
    json_t *r = json_pack("{s:b, s:s, s:o, s:o}", "success", success, "errorCode", code,
                          "errorMsg", msg ? json_string(msg) : json_null(), "msgData",
                          msg_data ? msg_data : json_null());
    answer(reply, f, "A1000", "", r);
}

static void plain(struct ob_sim_reply *reply, int status, const char *body)
{
    reply->status = status;
    reply->content_type = "application/json";
    reply->body = strdup(body);
}

/* Base64(MD5(JavaURLEncode(msgData + timestamp + checkWord))), compared in
 * constant time with what the client sent. 1 match, 0 not, -1 error. */
static int digest_matches(const struct sf_form *f, const char *check_word)
{
    struct ob_buf raw, enc, b64;
    unsigned char md[OB_DIGEST_MAX];
    size_t md_len = 0;
    int rc = -1;

    ob_buf_init(&raw, OB_BUF_DEFAULT_MAX);
    ob_buf_init(&enc, OB_BUF_DEFAULT_MAX);
    ob_buf_init(&b64, 64);
    if (ob_buf_appends(&raw, f->value[F_DATA]) == 0 &&
        ob_buf_appends(&raw, f->value[F_TIMESTAMP]) == 0 &&
        ob_buf_appends(&raw, check_word) == 0 &&
        ob_url_encode(raw.data, raw.len, OB_URL_JAVA, &enc) == 0 &&
        ob_digest(OB_MD5, enc.data, enc.len, md, &md_len) == 0 &&
        ob_base64_encode(md, md_len, &b64) == 0) {
        const char *got = f->value[F_DIGEST];
        unsigned diff = strlen(got) != b64.len;
        for (size_t i = 0; i < b64.len; i++)
            diff |= (unsigned char)b64.data[i] ^ (unsigned char)(got[i] ? got[i] : 0);
        rc = diff == 0;
    }
    ob_buf_cleanse(&raw);
    ob_buf_cleanse(&enc);
    ob_buf_reset(&b64);
    return rc;
}

static int timestamp_fresh(const char *ts)
{
    size_t n = strlen(ts);
    int64_t t = 0, now = ob_time_now_ms();

    if (n == 0 || n > 15 || strspn(ts, "0123456789") != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        t = t * 10 + (ts[i] - '0');
    return t >= now - SF_MAX_SKEW_MS && t <= now + SF_MAX_SKEW_MS;
}

static int non_empty(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);

    return json_is_string(v) && json_string_length(v) > 0;
}

/* The order's problem as SF's business code, or NULL when it is complete. */
static const char *order_problem(const json_t *m, const char **msg)
{
    const json_t *receiver = NULL, *c, *cargo = json_object_get(m, "cargoDetails");
    size_t i;

    json_array_foreach(json_object_get(m, "contactInfoList"), i, c) {
        const json_t *type = json_object_get(c, "contactType");
        if (json_is_integer(type) && json_integer_value(type) == 2) {
            receiver = c;
            break;
        }
    }
    if (!receiver || !non_empty(receiver, "address")) {
        *msg = "到件地址不能为空";
        return "1014";
    }
    if (!non_empty(receiver, "contact")) {
        *msg = "到件联系人不能为空";
        return "1015";
    }
    if (!non_empty(receiver, "mobile") && !non_empty(receiver, "tel")) {
        *msg = "到件电话不能为空";
        return "1016";
    }
    int named = json_is_array(cargo) && json_array_size(cargo) > 0;
    json_array_foreach(cargo, i, c) {
        if (!non_empty(c, "name"))
            named = 0;
    }
    if (!named) {
        *msg = "托寄物品名不能为空";
        return "1023";
    }
    return NULL;
}

static int sf_screen(struct ob_sim *sim, const struct ob_sim_request *req,
                     struct ob_sim_reply *reply)
{
    (void)sim;
    if (strcmp(req->method, "POST") == 0 && strcmp(req->path, SF_PATH) == 0)
        return 0;
    plain(reply, 404, "{\"error\":\"not found\"}");
    return 1;
}

static void sf_handle(struct ob_sim *sim, const struct ob_sim_request *req,
                      struct ob_sim_reply *reply)
{
    const char *partner = ob_sim_secret(sim, "partner_id");
    const char *check_word = ob_sim_secret(sim, "check_word");
    const char *ctype = ob_sim_header(req, "Content-Type");
    struct sf_form f;
    json_t *m = NULL;

    memset(&f, 0, sizeof f);
    if (!ctype || strncasecmp(ctype, "application/x-www-form-urlencoded", 33) != 0 ||
        (ctype[33] != '\0' && ctype[33] != ';')) {
        ob_sim_count(sim, OB_SIM_BAD_REQUEST);
        answer(reply, NULL, "A1001", "必传参数不可为空", NULL);
        return;
    }
    if (form_parse(req->body, req->body_len, &f) != 0) {
        plain(reply, 500, "{\"error\":\"out of memory\"}");
        goto done;
    }
    for (size_t i = 0; i < SF_FIELDS; i++) {
        if (!f.value[i] || !*f.value[i]) {
            ob_sim_count(sim, OB_SIM_BAD_REQUEST);
            answer(reply, &f, "A1001", "必传参数不可为空", NULL);
            goto done;
        }
    }
    if (partner && *partner && strcmp(f.value[F_PARTNER], partner) != 0) {
        ob_sim_count(sim, OB_SIM_UNAUTHORIZED);
        answer(reply, &f, "A1004", "无对应服务权限", NULL);
        goto done;
    }
    if (strcmp(f.value[F_SERVICE], SF_SERVICE) != 0) {
        ob_sim_count(sim, OB_SIM_BAD_REQUEST);
        answer(reply, &f, "A1004", "无对应服务权限", NULL);
        goto done;
    }
    int ok = check_word && *check_word ? digest_matches(&f, check_word) : 0;
    if (ok < 0) {
        plain(reply, 500, "{\"error\":\"out of memory\"}");
        goto done;
    }
    if (!ok) {
        ob_sim_count(sim, OB_SIM_BAD_SIGNATURE);
        answer(reply, &f, "A1006", "数字签名无效", NULL);
        goto done;
    }
    if (!timestamp_fresh(f.value[F_TIMESTAMP])) {
        ob_sim_count(sim, OB_SIM_BAD_REQUEST);
        answer(reply, &f, "A1002", "请求时效已过期", NULL);
        goto done;
    }
    m = json_loads(f.value[F_DATA], 0, NULL);
    if (!json_is_object(m) || !non_empty(m, "orderId")) {
        ob_sim_count(sim, OB_SIM_BAD_REQUEST);
        answer(reply, &f, "A1001", "必传参数不可为空", NULL);
        goto done;
    }
    const char *msg = NULL;
    const char *code = order_problem(m, &msg);
    if (code) {
        ob_sim_count(sim, OB_SIM_BAD_REQUEST);
        business(reply, &f, 0, code, msg, NULL);
        goto done;
    }

    const char *order_id = json_string_value(json_object_get(m, "orderId"));
    char waybill[32], existing[64];
    snprintf(waybill, sizeof waybill, "SF%013lu", ob_sim_next_id(sim));
    switch (ob_sim_remember(sim, order_id, waybill, existing, sizeof existing)) {
    case 0:
        ob_sim_count(sim, OB_SIM_DUPLICATE);
        business(reply, &f, 0, "8016", "重复下单", NULL);
        break;
    case 1:
        ob_sim_count(sim, OB_SIM_CREATED);
        reply->created = 1;
        ob_sim_order_created(sim, order_id, waybill, NULL);
        business(reply, &f, 1, "S0000", NULL,
                 json_pack("{s:s, s:s, s:s, s:i, s:[{s:i, s:s}]}", "orderId", order_id,
                           "originCode", "755", "destCode", "021", "filterResult", 2,
                           "waybillNoInfoList", "waybillType", 1, "waybillNo", waybill));
        break;
    default:
        plain(reply, 507, "{\"error\":\"capacity exceeded\"}");
        break;
    }
done:
    json_decref(m);
    form_free(&f);
}

/* ---- status reports (route push) ------------------------------------------ */

static const struct ob_sim_status sf_steps[] = {
    {"50", "顺丰速运 已收取快件"},
    {"30", "快件在【深圳宝安转运中心】完成分拣，准备发往下一站"},
    {"44", "快件交给派送员，正在派送途中"},
    {"80", "已签收，感谢使用顺丰，期待再次为您服务"},
};

static const struct ob_sim_ladder sf_ladder = {
    .steps = sf_steps,
    .n_steps = sizeof(sf_steps) / sizeof(sf_steps[0]),
    .exception = {"33", "快件滞留：收方客户要求延期派送"},
    .exception_after = 1, /* after 30 */
    .swap_at = 2,         /* 44 <-> 80 */
    .max_batch = SF_ROUTE_BATCH,
};

/* callback_url with its last path segment (the token) replaced. */
static char *forged_url(const char *url)
{
    const char *path = strstr(url, "://");
    path = path ? strchr(path + 3, '/') : strchr(url, '/');
    size_t end = path ? (size_t)(path - url) + strcspn(path, "?#") : strlen(url);
    size_t slash = end;
    while (path && slash > (size_t)(path - url) && url[slash - 1] != '/')
        slash--;
    char *out = NULL;
    if (asprintf(&out, "%.*s%sforged-%s%s", (int)slash, url, path ? "" : "/",
                 "0000000000000000", url + end) < 0)
        return NULL;
    return out;
}

static int sf_build_callback(struct ob_sim *sim, const char *callback_url,
                             const struct ob_sim_cb_item *items, size_t n, const char *delivery_id,
                             int tamper, struct ob_sim_cb_request *out)
{
    json_t *routes = json_array(), *body = NULL;
    char when[32];
    int rc = -1;

    (void)sim;
    (void)delivery_id; /* a route push has no delivery id */
    if (!routes)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const struct ob_sim_cb_item *it = &items[i];
        if (ob_time_format(it->occurred_ms, SF_TIME_ZONE, "yyyy-MM-dd HH:mm:ss", when,
                           sizeof(when)) != 0 ||
            json_array_append_new(
                routes, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "mailno", it->warehouse_id,
                                  "orderid", it->order_ref, "acceptTime", when, "acceptAddress",
                                  "Shenzhen", "remark", it->status->meaning, "opCode",
                                  it->status->code)) != 0)
            goto done;
    }
    body = json_pack("{s:{s:O}}", "Body", "WaybillRoute", routes);
    if (!body || !(out->body = json_dumps(body, JSON_COMPACT)))
        goto done;
    out->body_len = strlen(out->body);
    out->url = tamper ? forged_url(callback_url) : strdup(callback_url);
    out->headers[0] = strdup("Content-Type: application/json");
    if (out->url && out->headers[0])
        rc = 0;
done:
    json_decref(routes);
    json_decref(body);
    return rc;
}

/* JSON with "return_code":"0000". */
static int sf_callback_ok(long http_status, const char *body, size_t body_len)
{
    json_t *j;
    int ok;

    if (http_status < 200 || http_status > 299)
        return 0;
    j = json_loadb(body, body_len, 0, NULL);
    ok = json_is_string(json_object_get(j, "return_code")) &&
         strcmp(json_string_value(json_object_get(j, "return_code")), "0000") == 0;
    json_decref(j);
    return ok;
}

const struct ob_sim_profile ob_sim_profile_sf_express = {
    .name = "sf_express",
    .handle = sf_handle,
    .screen = sf_screen,
    .ladder = &sf_ladder,
    .build_callback = sf_build_callback,
    .callback_ok = sf_callback_ok,
};
