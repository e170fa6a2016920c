/*
 * profile_ems.c — China Post EMS, create-order API 020003 and the trace
 * query 040001 (modeled), as the ems adapter (adapters/ems) speaks them.
 *
 * POST (any path: the endpoint is EMS's gateway URL) with an
 * application/x-www-form-urlencoded body: apiCode (020003 or 040001),
 * senderNo, authorization, msgType=0, timeStamp (yyyy-MM-dd HH:mm:ss),
 * version=V1.0.0 and logitcsInterface = "|$4|" +
 * Base64(SM4-ECB/PKCS#7(Base64Decode(signKey), json + signKey)). Secrets:
 * "sender_no", "authorization", "sign_key" (the Base64 text EMS issues).
 * Every answer to a POST is HTTP 200 with EMS's envelope
 * {"serialNo","retCode","retMsg","retBody","retDate","success"}:
 *
 *   S00001  senderNo or authorization wrong               unauthorized
 *   S00002  logitcsInterface not "|$4|"+Base64, does not
 *           decrypt with the sign key, the plaintext does
 *           not end with the sign key, or what precedes it
 *           is not UTF-8 JSON (ECB has no integrity: a
 *           changed block decrypts to garbage)             bad_signatures
 *   B00001  a form field missing or wrong (apiCode,
 *           msgType, version, timeStamp), or a required
 *           member of the order / query missing            bad_requests
 * 020003 (the order, or an array of one):
 *   B00021  logisticsOrderNo seen before; retBody has the
 *           waybillNo it was given                         duplicates
 *   00000   created; retBody (a JSON string) has
 *           waybillNo "11" + 11 digits and logisticsOrderNo created
 * 040001 ({"logisticsOrderNo", "waybillNo"?}):
 *   B00010  no such order, or waybillNo given and not the
 *           order's (邮件信息不存在)                          —
 *   00000   retBody (a JSON string) {"waybillNo",
 *           "logisticsOrderNo", "responseItems": [...]}: the
 *           trace entries due so far
 *
 * The timeline: an order created at t has entry n (1, 2, ...) at
 * t + n * ob_sim_status_step_ms(), each {"waybillNo", "opTime"
 * ("yyyy-MM-dd HH:mm:ss", Asia/Shanghai, whole seconds), "opCode",
 * "opName", "opDesc", "opOrgName"}: W10 accepted by the warehouse, W20
 * picked, W30 packed (warehouse codes, modeled), 203 收寄 (collected),
 * 306 封发 (in transit), 704 妥投 (delivered). The orders
 * ob_sim_status_exception() names (1 in 20, by a hash of logisticsOrderNo)
 * have W90 (warehouse exception: stock shortage) after W20, and their later
 * entries each come one step later.
 *
 * The dedupe key is logisticsOrderNo, so ob_sim_created(sim, order_id)
 * tells whether an order was created; its value is
 * "<waybillNo> <created epoch ms>".
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <microhttpd.h>

#include <orderbridge/sdk.h>

#include "sim.h"

#define EMS_PREFIX "|$4|"
#define FORM_CT "application/x-www-form-urlencoded"
#define EMS_CT "application/json;charset=UTF-8"
#define MAX_FIELDS 32
#define API_CREATE "020003"
#define API_TRACE "040001"
#define CODE_NOT_FOUND "B00010"

static const char *const form_fields[] = {"apiCode",   "senderNo", "authorization",   "msgType",
                                          "timeStamp", "version",  "logitcsInterface"};

struct form {
    size_t n;
    char *key[MAX_FIELDS];
    char *value[MAX_FIELDS];
};

/* One component of a form body: '+' is a space, then %XX (MHD decodes). */
static char *form_component(const char *s, size_t len)
{
    char *out = strndup(s, len);

    if (!out)
        return NULL;
    for (char *p = out; *p; p++)
        if (*p == '+')
            *p = ' ';
    out[MHD_http_unescape(out)] = '\0';
    return out;
}

static void form_free(struct form *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->key[i]);
        free(f->value[i]);
    }
    f->n = 0;
}

/* 0, or -1 when out of memory or over MAX_FIELDS. */
static int form_parse(const char *body, size_t len, struct form *f)
{
    const char *p = body, *end = body + len;

    memset(f, 0, sizeof(*f));
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));

        if (stop > p) {
            if (f->n == MAX_FIELDS)
                return -1;
            f->key[f->n] = form_component(p, (size_t)((eq ? eq : stop) - p));
            f->value[f->n] = form_component(eq ? eq + 1 : stop, eq ? (size_t)(stop - eq - 1) : 0);
            f->n++;
            if (!f->key[f->n - 1] || !f->value[f->n - 1])
                return -1;
        }
        p = amp ? amp + 1 : end;
    }
    return 0;
}

/* The value of `key`; NULL when absent. *dup set when it is there twice. */
static const char *form_get(const struct form *f, const char *key, int *dup)
{
    const char *found = NULL;

    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->key[i], key) == 0) {
            if (found)
                *dup = 1;
            else
                found = f->value[i];
        }
    }
    return found;
}

/* EMS's envelope; retBody is a JSON string (or null). */
static void answer(struct ob_sim_reply *reply, const char *code, const char *msg,
                   json_t *ret_body /* stolen, may be NULL */)
{
    char serial[37] = "", date[32] = "";
    char *body_text = ret_body ? json_dumps(ret_body, JSON_COMPACT) : NULL;
    json_t *env;

    json_decref(ret_body);
    ob_uuid4(serial);
    ob_time_format(ob_time_now_ms(), "Asia/Shanghai", "yyyy-MM-dd HH:mm:ss", date, sizeof(date));
    env = json_pack("{s:s, s:s, s:s, s:o, s:s, s:b}", "serialNo", serial, "retCode", code,
                    "retMsg", msg, "retBody", body_text ? json_string(body_text) : json_null(),
                    "retDate", date, "success", strcmp(code, "00000") == 0);
    free(body_text);
    reply->status = 200;
    reply->content_type = EMS_CT;
    reply->body = env ? json_dumps(env, JSON_COMPACT) : NULL;
    json_decref(env);
    if (!reply->body) {
        reply->status = 500;
        reply->content_type = "text/plain";
        reply->body = strdup("out of memory");
    }
}

static void bad_request(struct ob_sim *sim, struct ob_sim_reply *reply, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void bad_request(struct ob_sim *sim, struct ob_sim_reply *reply, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ob_sim_count(sim, OB_SIM_BAD_REQUEST);
    answer(reply, "B00001", msg, NULL);
}

/* "yyyy-MM-dd HH:mm:ss" by shape. */
static int is_timestamp(const char *s)
{
    static const char shape[] = "dddd-dd-dd dd:dd:dd";

    if (strlen(s) != sizeof(shape) - 1)
        return 0;
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return 0;
    }
    return 1;
}

/*
 * Undo the recipe from the received text with the SDK: strip "|$4|",
 * Base64-decode, SM4-ECB-decrypt with Base64Decode(sign_key), and check
 * that the plaintext ends with sign_key. Returns the JSON part (free() it),
 * or NULL when any step fails (a bad signature).
 */
static char *open_interface(const char *sealed, const char *sign_key)
{
    struct ob_buf key, cipher, plain;
    size_t klen = strlen(sign_key);
    char *json = NULL;

    ob_buf_init(&key, 64);
    ob_buf_init(&cipher, 2u << 20);
    ob_buf_init(&plain, 2u << 20);
    if (strncmp(sealed, EMS_PREFIX, strlen(EMS_PREFIX)) == 0 &&
        ob_base64_decode(sign_key, klen, &key) == 0 && key.len == 16 &&
        ob_base64_decode(sealed + strlen(EMS_PREFIX), strlen(sealed + strlen(EMS_PREFIX)),
                         &cipher) == 0 &&
        cipher.len > 0 &&
        ob_decrypt(OB_SM4_ECB, (const unsigned char *)key.data, key.len, NULL, 0, NULL, 0,
                   cipher.data, cipher.len, &plain) == 0 &&
        plain.len >= klen && memcmp(plain.data + plain.len - klen, sign_key, klen) == 0 &&
        memchr(plain.data, '\0', plain.len) == NULL)
        json = strndup(plain.data, plain.len - klen);
    ob_buf_cleanse(&key);
    ob_buf_reset(&cipher);
    ob_buf_cleanse(&plain);
    return json;
}

static const char *nonempty(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));

    return s && *s ? s : NULL;
}

/* NULL when the order document has what 020003 needs; else the problem. */
static const char *check_order(json_t *o, char *why, size_t why_size)
{
    static const char *const receiver_fields[] = {"name", "prov", "city", "county", "address",
                                                  "mobile"};
    json_t *receiver, *cargos, *c;
    size_t i;

    if (!json_is_object(o))
        return "logitcsInterface must hold one order object";
    if (!nonempty(o, "logisticsOrderNo"))
        return "logisticsOrderNo 不能为空";
    receiver = json_object_get(o, "receiver");
    if (!json_is_object(receiver))
        return "receiver 不能为空";
    for (i = 0; i < sizeof(receiver_fields) / sizeof(receiver_fields[0]); i++) {
        if (!nonempty(receiver, receiver_fields[i])) {
            snprintf(why, why_size, "receiver.%s 不能为空", receiver_fields[i]);
            return why;
        }
    }
    cargos = json_object_get(o, "cargos");
    if (!json_is_array(cargos) || json_array_size(cargos) == 0)
        return "cargos 不能为空";
    json_array_foreach(cargos, i, c) {
        json_t *q = json_object_get(c, "cargoQuantity");
        if (!nonempty(c, "cargoName")) {
            snprintf(why, why_size, "cargos[%zu].cargoName 不能为空", i);
            return why;
        }
        if (!json_is_integer(q) || json_integer_value(q) < 1) {
            snprintf(why, why_size, "cargos[%zu].cargoQuantity 必须为正整数", i);
            return why;
        }
    }
    return NULL;
}

static void create(struct ob_sim *sim, json_t *order, struct ob_sim_reply *reply)
{
    const char *order_no = nonempty(order, "logisticsOrderNo");
    char waybill[32], value[64], existing[64] = "";
    int rc;

    snprintf(waybill, sizeof(waybill), "11%011lu", ob_sim_next_id(sim));
    /* stored: "<waybillNo> <created epoch ms>"; the time drives the trace */
    snprintf(value, sizeof(value), "%s %lld", waybill, (long long)ob_time_now_ms());
    rc = ob_sim_remember(sim, order_no, value, existing, sizeof(existing));
    if (rc == 1) {
        ob_sim_count(sim, OB_SIM_CREATED);
        reply->created = 1;
        answer(reply, "00000", "成功",
               json_pack("{s:s, s:s}", "waybillNo", waybill, "logisticsOrderNo", order_no));
    } else if (rc == 0) {
        existing[strcspn(existing, " ")] = '\0';
        ob_sim_count(sim, OB_SIM_DUPLICATE);
        answer(reply, "B00021", "订单已存在",
               json_pack("{s:s, s:s}", "waybillNo", existing, "logisticsOrderNo", order_no));
    } else {
        reply->status = 507;
        reply->content_type = "application/json";
        reply->body = strdup("{\"error\":\"capacity exceeded\"}");
    }
}

/* ------------------------------------------------------------------------ */
/* the trace query                                                           */

/* One trace entry of the order's ladder. */
struct step {
    const char *op_code, *op_name, *op_desc;
};

static const struct step ladder[] = {
    {"W10", "仓库接单", "仓库已接单"},
    {"W20", "拣货完成", "仓库已拣货"},
    {"W30", "打包完成", "仓库已打包"},
    {"203", "收寄", "邮件已收寄"},
    {"306", "封发", "邮件已封发，发往目的地处理中心"},
    {"704", "投递结果反馈-妥投", "邮件已妥投，本人签收"},
};
#define LADDER_STEPS (sizeof(ladder) / sizeof(ladder[0]))
#define EXCEPTION_AFTER 2 /* inserted after W20 */
static const struct step exception_step = {"W90", "仓库作业异常", "库存不足，等待补货"};

static const struct step cancel_step = {"W99", "订单取消", "仓库已取消订单"};

/* Step n of an order's sequence; the orders ob_sim_status_cancelled() names
 * end with W99 after W10. */
static const struct step *step_at(size_t n, int exception, int cancelled)
{
    if (cancelled)
        return n == 0 ? &ladder[0] : n == 1 ? &cancel_step : NULL;
    if (exception && n == EXCEPTION_AFTER)
        return &exception_step;
    if (exception && n > EXCEPTION_AFTER)
        n--;
    return n < LADDER_STEPS ? &ladder[n] : NULL;
}

/* The entries due at `now`: step n (1, 2, ...) at created + n * status_step_ms. */
static json_t *trace(struct ob_sim *sim, const char *order_no, const char *waybill,
                     int64_t created_ms, int64_t now)
{
    int64_t step_ms = ob_sim_status_step_ms(sim);
    int exception = ob_sim_status_exception(order_no), cancelled = ob_sim_status_cancelled(order_no);
    json_t *items = json_array();
    const struct step *s;
    char when[32];

    for (size_t n = 0; items && (s = step_at(n, exception, cancelled)) != NULL; n++) {
        int64_t at = created_ms + (int64_t)(n + 1) * step_ms;

        if (at > now)
            break;
        if (ob_time_format(at, "Asia/Shanghai", "yyyy-MM-dd HH:mm:ss", when, sizeof(when)) != 0)
            when[0] = '\0';
        /* json_array_append_new steals the entry, even on failure */
        if (json_array_append_new(items, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "waybillNo",
                                                   waybill, "opTime", when, "opCode", s->op_code,
                                                   "opName", s->op_name, "opDesc", s->op_desc,
                                                   "opOrgName", "模拟仓配中心")) != 0) {
            json_decref(items);
            items = NULL;
        }
    }
    return items;
}

/* 040001: the trace of a known order so far. */
static void query(struct ob_sim *sim, json_t *doc, struct ob_sim_reply *reply)
{
    const char *order_no = nonempty(doc, "logisticsOrderNo");
    json_t *waybill_no = json_object_get(doc, "waybillNo");
    char stored[64], *space;
    long long created_ms;
    json_t *items;

    if (!json_is_object(doc) || !order_no) {
        bad_request(sim, reply, "logisticsOrderNo 不能为空");
        return;
    }
    if (waybill_no && !json_is_string(waybill_no)) {
        bad_request(sim, reply, "waybillNo 必须为字符串");
        return;
    }
    /* look up without storing: a key is never forgotten, so once created it
     * stays, and remember() then only copies its value */
    if (!ob_sim_created(sim, order_no) ||
        ob_sim_remember(sim, order_no, "", stored, sizeof(stored)) != 0 ||
        !(space = strchr(stored, ' ')) || sscanf(space + 1, "%lld", &created_ms) != 1) {
        answer(reply, CODE_NOT_FOUND, "邮件信息不存在", NULL);
        return;
    }
    *space = '\0';
    if (waybill_no && *json_string_value(waybill_no) &&
        strcmp(json_string_value(waybill_no), stored) != 0) {
        answer(reply, CODE_NOT_FOUND, "邮件信息不存在", NULL);
        return;
    }
    items = trace(sim, order_no, stored, created_ms, ob_time_now_ms());
    if (!items) {
        reply->status = 0; /* out of memory: close without an answer */
        return;
    }
    /* "o" steals items, even on failure */
    answer(reply, "00000", "成功",
           json_pack("{s:s, s:s, s:o}", "waybillNo", stored, "logisticsOrderNo", order_no,
                     "responseItems", items));
}

static void handle(struct ob_sim *sim, const struct ob_sim_request *req,
                   struct ob_sim_reply *reply)
{
    const char *want_sender = ob_sim_secret(sim, "sender_no");
    const char *want_auth = ob_sim_secret(sim, "authorization");
    const char *sign_key = ob_sim_secret(sim, "sign_key");
    const char *v[sizeof(form_fields) / sizeof(form_fields[0])];
    struct form f;
    char why[160];
    char *json = NULL;
    json_t *doc = NULL, *order;
    const char *problem;

    if (!sign_key || !*sign_key) {
        reply->status = 500;
        reply->content_type = "text/plain";
        reply->body = strdup("ems simulator: secret sign_key is not configured");
        return;
    }
    if (form_parse(req->body, req->body_len, &f) != 0) {
        form_free(&f);
        bad_request(sim, reply, "请求参数无法解析");
        return;
    }
    for (size_t i = 0; i < sizeof(form_fields) / sizeof(form_fields[0]); i++) {
        int dup = 0;
        v[i] = form_get(&f, form_fields[i], &dup);
        if (!v[i] || !*v[i] || dup) {
            bad_request(sim, reply, "%s %s", form_fields[i], dup ? "重复" : "不能为空");
            goto done;
        }
    }
    /* v[]: apiCode senderNo authorization msgType timeStamp version logitcsInterface */
    if (strcmp(v[0], API_CREATE) != 0 && strcmp(v[0], API_TRACE) != 0) {
        bad_request(sim, reply, "apiCode %.32s 不支持", v[0]);
        goto done;
    }
    if ((want_sender && strcmp(v[1], want_sender) != 0) ||
        (want_auth && strcmp(v[2], want_auth) != 0)) {
        ob_sim_count(sim, OB_SIM_UNAUTHORIZED);
        answer(reply, "S00001", "授权码或协议客户号无效", NULL);
        goto done;
    }
    if (!(json = open_interface(v[6], sign_key))) {
        ob_sim_count(sim, OB_SIM_BAD_SIGNATURE);
        answer(reply, "S00002", "报文解密或验签失败", NULL);
        goto done;
    }
    doc = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
    if (!doc) {
        /* SM4-ECB has no integrity of its own: a block changed in transit
         * decrypts to garbage while the last block (padding, key) still
         * checks. A document that does not decrypt to JSON is refused as a
         * failed verification, like a wrong key. */
        ob_sim_count(sim, OB_SIM_BAD_SIGNATURE);
        answer(reply, "S00002", "报文解密或验签失败", NULL);
        goto done;
    }
    if (strcmp(v[3], "0") != 0) {
        bad_request(sim, reply, "msgType %.32s 不支持", v[3]);
        goto done;
    }
    if (strcmp(v[5], "V1.0.0") != 0) {
        bad_request(sim, reply, "version %.32s 不支持", v[5]);
        goto done;
    }
    if (!is_timestamp(v[4])) {
        bad_request(sim, reply, "timeStamp 格式应为 yyyy-MM-dd HH:mm:ss");
        goto done;
    }
    if (strcmp(v[0], API_TRACE) == 0) {
        query(sim, doc, reply);
        goto done;
    }
    /* an array of one order, or the order object */
    order = json_is_array(doc) && json_array_size(doc) == 1 ? json_array_get(doc, 0) : doc;
    if ((problem = check_order(order, why, sizeof(why))) != NULL) {
        bad_request(sim, reply, "%s", problem);
        goto done;
    }
    create(sim, order, reply);
done:
    json_decref(doc);
    free(json);
    form_free(&f);
}

/* Before the body: POST with a form body only. */
static int screen(struct ob_sim *sim, const struct ob_sim_request *req, struct ob_sim_reply *reply)
{
    const char *ct = ob_sim_header(req, "Content-Type");

    if (strcmp(req->method, "POST") != 0) {
        reply->status = 405;
        reply->body = strdup("{\"error\":\"method not allowed\"}");
        return 1;
    }
    if (!ct || strncasecmp(ct, FORM_CT, strlen(FORM_CT)) != 0 ||
        (ct[strlen(FORM_CT)] != '\0' && ct[strlen(FORM_CT)] != ';')) {
        ob_sim_count(sim, OB_SIM_BAD_REQUEST);
        reply->status = 415;
        reply->body = strdup("{\"error\":\"unsupported media type\",\"detail\":\"Content-Type "
                             "must be application/x-www-form-urlencoded\"}");
        return 1;
    }
    return 0;
}

const struct ob_sim_profile ob_sim_profile_ems = {
    .name = "ems",
    .handle = handle,
    .screen = screen,
};
