/*
 * ems — China Post EMS (中国邮政 EMS), "create order" API 020003.
 *
 * One form POST to the endpoint as configured (EMS's gateway URL, e.g.
 * https://api.ems.com.cn/amp-prod-api/f/amp/api/open), body
 * application/x-www-form-urlencoded with, in this order:
 *
 *   apiCode=020003  senderNo  authorization  msgType=0
 *   timeStamp=yyyy-MM-dd HH:mm:ss (settings.time_zone)  version=V1.0.0
 *   logitcsInterface (sic) = "|$4|" + Base64(SM4-ECB/PKCS#7(
 *       key = Base64Decode(signKey), plaintext = UTF-8(json + signKey)))
 *
 * json = [{"logisticsOrderNo", "receiver":{name, mobile, prov, city, county,
 * address}, "cargos":[{"cargoName", "cargoQuantity"}...]}] (an array of one
 * order). EMS answers JSON {"retCode", "retMsg", "retBody"}: "00000" created
 * (retBody, a JSON string, has waybillNo), "B00021" the order already exists
 * (accepted: a redelivery), "S00001"/"S00002" refused. EMS dedupes by
 * logisticsOrderNo (our order_id).
 *
 * Status after the push is polled with the trace query 040001 (modeled):
 * the same form and sealing, json = {"logisticsOrderNo", "waybillNo"?},
 * answered with retBody.responseItems, the trace oldest first (README.md
 * "Status polling").
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <orderbridge/adapter.h>
#include <orderbridge/sdk.h>

#define EMS_API_CODE "020003"
#define EMS_TRACE_API_CODE "040001" /* the trace query (modeled) */
#define EMS_MSG_TYPE "0" /* 0: the message is JSON */
#define EMS_VERSION "V1.0.0"
#define EMS_CIPHER_PREFIX "|$4|"
#define EMS_TIME_PATTERN "yyyy-MM-dd HH:mm:ss"
#define EMS_KEY_LEN 16
#define DEFAULT_TIME_ZONE "Asia/Shanghai"

#define CODE_OK "00000"
#define CODE_EXISTS "B00021"
#define CODE_NOT_FOUND "B00010" /* trace query: no such order (modeled) */

/* retCodes EMS documents as refusals of the request itself. */
static const char *const permanent_codes[] = {"S00001", "S00002"};

struct ems {
    const struct ob_adapter_env *env;
    /* The bridge's strings, valid until destroy(); never logged. */
    const char *sender_no;
    const char *authorization;
    const char *sign_key; /* the Base64 text: it is also appended to the plaintext */
    unsigned char key[EMS_KEY_LEN]; /* Base64Decode(sign_key); cleansed on destroy */
    char *time_zone;
    json_t *retry_codes; /* array of retCode strings that mean "try again" */
};

static void ems_destroy(void *state)
{
    struct ems *e = state;

    if (!e)
        return;
    /* a volatile pointer keeps the wipe from being optimised away */
    volatile unsigned char *k = e->key;
    for (size_t i = 0; i < sizeof(e->key); i++)
        k[i] = 0;
    free(e->time_zone);
    json_decref(e->retry_codes);
    free(e);
}

static int is_permanent_code(const char *code)
{
    for (size_t i = 0; i < sizeof(permanent_codes) / sizeof(permanent_codes[0]); i++)
        if (strcmp(code, permanent_codes[i]) == 0)
            return 1;
    return 0;
}

static int is_retry_code(const struct ems *e, const char *code)
{
    size_t i;
    json_t *v;

    json_array_foreach(e->retry_codes, i, v) {
        if (strcmp(json_string_value(v), code) == 0)
            return 1;
    }
    return 0;
}

static const char *required_credential(const struct ob_adapter_env *env, const char *name,
                                       char *errstr, size_t errstr_size)
{
    const char *v = env->credential(env, name);

    if (!v || !*v) {
        ob_strlcpyf(errstr, errstr_size, "credentials.%s is required (env:NAME or file:PATH)",
                    name);
        return NULL;
    }
    return v;
}

static int read_settings(struct ems *e, const json_t *settings, char *errstr, size_t errstr_size)
{
    const char *key;
    json_t *value;

    if (!settings)
        return 0;
    if (!json_is_object(settings)) {
        ob_strlcpyf(errstr, errstr_size, "settings: must be an object");
        return -1;
    }
    json_object_foreach((json_t *)settings, key, value) {
        if (strcmp(key, "time_zone") == 0) {
            char probe[32];
            if (!json_is_string(value)) {
                ob_strlcpyf(errstr, errstr_size, "settings.time_zone: must be a string");
                return -1;
            }
            if (ob_time_format(0, json_string_value(value), EMS_TIME_PATTERN, probe,
                               sizeof(probe)) != 0) {
                ob_strlcpyf(errstr, errstr_size,
                            "settings.time_zone: unknown time zone \"%.64s\" (use UTC, Z, a fixed "
                            "offset like +08:00, or Asia/Shanghai, Asia/Hong_Kong, ...)",
                            json_string_value(value));
                return -1;
            }
            free(e->time_zone);
            e->time_zone = strdup(json_string_value(value));
            if (!e->time_zone) {
                ob_strlcpyf(errstr, errstr_size, "out of memory");
                return -1;
            }
        } else if (strcmp(key, "retry_codes") == 0) {
            size_t i;
            json_t *code;
            if (!json_is_array(value)) {
                ob_strlcpyf(errstr, errstr_size,
                            "settings.retry_codes: must be an array of retCode strings");
                return -1;
            }
            json_array_foreach(value, i, code) {
                const char *c = json_string_value(code);
                if (!c || !*c) {
                    ob_strlcpyf(errstr, errstr_size,
                                "settings.retry_codes[%zu]: must be a non-empty string", i);
                    return -1;
                }
                if (strcmp(c, CODE_OK) == 0 || strcmp(c, CODE_EXISTS) == 0 ||
                    is_permanent_code(c)) {
                    ob_strlcpyf(errstr, errstr_size,
                                "settings.retry_codes[%zu]: \"%s\" is already classified "
                                "(00000 and B00021 accepted, S00001 and S00002 permanent)",
                                i, c);
                    return -1;
                }
            }
            json_decref(e->retry_codes);
            e->retry_codes = json_incref(value);
        } else {
            ob_strlcpyf(errstr, errstr_size,
                        "settings.%s: unknown setting (known: time_zone string, retry_codes "
                        "array of retCode strings)",
                        key);
            return -1;
        }
    }
    return 0;
}

static int ems_init(const struct ob_adapter_env *env, const void *settings_v, void **state,
                    char *errstr, size_t errstr_size)
{
    const json_t *settings = settings_v;
    struct ems *e = NULL;
    struct ob_buf key;
    const char *sender_no, *authorization, *sign_key;

    if (!(sender_no = required_credential(env, "sender_no", errstr, errstr_size)) ||
        !(authorization = required_credential(env, "authorization", errstr, errstr_size)) ||
        !(sign_key = required_credential(env, "sign_key", errstr, errstr_size)))
        return -1;

    ob_buf_init(&key, 64);
    if (ob_base64_decode(sign_key, strlen(sign_key), &key) != 0 || key.len != EMS_KEY_LEN) {
        ob_buf_cleanse(&key);
        ob_strlcpyf(errstr, errstr_size,
                    "credentials.sign_key: must be the Base64 of a 16-byte SM4 key, as EMS "
                    "issues it");
        return -1;
    }
    e = calloc(1, sizeof(*e));
    if (!e) {
        ob_buf_cleanse(&key);
        ob_strlcpyf(errstr, errstr_size, "out of memory");
        return -1;
    }
    memcpy(e->key, key.data, EMS_KEY_LEN);
    ob_buf_cleanse(&key);
    e->env = env;
    e->sender_no = sender_no;
    e->authorization = authorization;
    e->sign_key = sign_key;
    e->time_zone = strdup(DEFAULT_TIME_ZONE);
    e->retry_codes = json_array();
    if (!e->time_zone || !e->retry_codes) {
        ob_strlcpyf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (read_settings(e, settings, errstr, errstr_size) != 0)
        goto fail;
    *state = e;
    return 0;
fail:
    ems_destroy(e);
    return -1;
}

/* The order field EMS needs, or NULL with errstr naming it. */
static const char *need(const char *value, const char *field, const char *ems_field,
                        char *errstr, size_t errstr_size)
{
    if (!value || !*value) {
        ob_strlcpyf(errstr, errstr_size, "%s is required by the ems adapter (EMS %s)", field,
                    ems_field);
        return NULL;
    }
    return value;
}

/* The business document: [{logisticsOrderNo, receiver, cargos}] as compact
 * UTF-8 JSON (jansson escapes every text value). */
static char *order_json(const struct ob_order *order, char *errstr, size_t errstr_size)
{
    const struct ob_address *a = &order->shipping_address;
    const char *name, *mobile, *prov, *city, *county, *address;
    json_t *cargos, *doc;
    char *text;

    if (!(name = need(a->name, "shipping_address.name", "receiver.name", errstr, errstr_size)) ||
        !(mobile = need(a->phone, "shipping_address.phone", "receiver.mobile", errstr,
                        errstr_size)) ||
        !(prov = need(a->province, "shipping_address.province", "receiver.prov", errstr,
                      errstr_size)) ||
        !(city = need(a->city, "shipping_address.city", "receiver.city", errstr, errstr_size)) ||
        !(county = need(a->district, "shipping_address.district", "receiver.county", errstr,
                        errstr_size)) ||
        !(address = need(a->street, "shipping_address.street", "receiver.address", errstr,
                         errstr_size)))
        return NULL;
    if (order->n_items == 0) {
        ob_strlcpyf(errstr, errstr_size, "items: EMS needs at least one cargo");
        return NULL;
    }
    cargos = json_array();
    for (size_t i = 0; cargos && i < order->n_items; i++) {
        const struct ob_order_item *it = &order->items[i];
        const char *cargo_name = it->name && *it->name ? it->name : it->sku;

        if (!cargo_name || !*cargo_name) {
            ob_strlcpyf(errstr, errstr_size, "items[%zu]: neither name nor sku to send as cargoName",
                        i);
            json_decref(cargos);
            return NULL;
        }
        /* json_array_append_new steals the item, even on failure */
        if (json_array_append_new(cargos, json_pack("{s:s, s:i}", "cargoName", cargo_name,
                                                    "cargoQuantity", it->quantity)) != 0) {
            ob_strlcpyf(errstr, errstr_size, "cannot build cargos[%zu]", i);
            json_decref(cargos);
            return NULL;
        }
    }
    if (!cargos) {
        ob_strlcpyf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    /* "o" steals cargos, even on failure */
    doc = json_pack("[{s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s}, s:o}]", "logisticsOrderNo",
                    order->order_id, "receiver", "name", name, "mobile", mobile, "prov", prov,
                    "city", city, "county", county, "address", address, "cargos", cargos);
    if (!doc) {
        ob_strlcpyf(errstr, errstr_size, "cannot build the EMS order document");
        return NULL;
    }
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!text)
        ob_strlcpyf(errstr, errstr_size, "out of memory");
    return text;
}

/* "|$4|" + Base64(SM4-ECB(key, json + signKey)) appended to `out`. */
static int seal(const struct ems *e, const char *json, struct ob_buf *out)
{
    struct ob_buf plain, cipher;
    int rc = -1;

    ob_buf_init(&plain, OB_BUF_DEFAULT_MAX);
    ob_buf_init(&cipher, OB_BUF_DEFAULT_MAX);
    if (ob_buf_appends(&plain, json) == 0 && ob_buf_appends(&plain, e->sign_key) == 0 &&
        ob_encrypt(OB_SM4_ECB, e->key, sizeof(e->key), NULL, 0, NULL, 0, plain.data, plain.len,
                   &cipher) == 0 &&
        ob_buf_appends(out, EMS_CIPHER_PREFIX) == 0 &&
        ob_base64_encode(cipher.data, cipher.len, out) == 0)
        rc = 0;
    ob_buf_cleanse(&plain); /* it ends with the sign key */
    ob_buf_reset(&cipher);
    return rc;
}

/* The form EMS's gateway takes, for `api_code` with the business document
 * `json` (sealed here), into `out`. Returns 0, or -1 with errstr set. */
static int ems_request(const struct ems *e, const char *api_code, const char *json,
                       struct ob_request *out, char *errstr, size_t errstr_size)
{
    struct ob_params params = {0};
    struct ob_buf sealed, form;
    char stamp[32];
    char *body;
    size_t body_len;
    int rc = -1;

    ob_buf_init(&sealed, OB_BUF_DEFAULT_MAX);
    ob_buf_init(&form, OB_BUF_DEFAULT_MAX);
    if (seal(e, json, &sealed) != 0) {
        ob_strlcpyf(errstr, errstr_size, "cannot encrypt logitcsInterface (SM4)");
        goto cleanup;
    }
    if (ob_time_format(ob_time_now_ms(), e->time_zone, EMS_TIME_PATTERN, stamp, sizeof(stamp)) !=
        0) {
        ob_strlcpyf(errstr, errstr_size, "cannot format timeStamp in %s", e->time_zone);
        goto cleanup;
    }
    if (ob_params_add(&params, "apiCode", api_code) != 0 ||
        ob_params_add(&params, "senderNo", e->sender_no) != 0 ||
        ob_params_add(&params, "authorization", e->authorization) != 0 ||
        ob_params_add(&params, "msgType", EMS_MSG_TYPE) != 0 ||
        ob_params_add(&params, "timeStamp", stamp) != 0 ||
        ob_params_add(&params, "version", EMS_VERSION) != 0 ||
        ob_params_add(&params, "logitcsInterface", sealed.data) != 0 ||
        ob_params_form(&params, OB_URL_JAVA, &form) != 0 ||
        !(body = ob_buf_steal(&form, &body_len))) {
        ob_strlcpyf(errstr, errstr_size, "out of memory");
        goto cleanup;
    }
    ob_request_take_body(out, body, body_len);
    out->method = "POST";
    if (ob_request_set_url(out, "%s", e->env->endpoint) != 0 ||
        ob_request_add_header(out, "Content-Type",
                              "application/x-www-form-urlencoded; charset=UTF-8") != 0) {
        ob_strlcpyf(errstr, errstr_size, "out of memory");
        goto cleanup;
    }
    rc = 0;
cleanup:
    ob_buf_reset(&sealed);
    ob_buf_reset(&form);
    ob_params_free(&params);
    return rc;
}

static int ems_encode(void *state, const struct ob_order *order,
                      const struct ob_delivery *delivery, struct ob_request *out, char *errstr,
                      size_t errstr_size)
{
    struct ems *e = state;
    char *json;
    int rc;

    (void)delivery; /* EMS dedupes by logisticsOrderNo = order_id; it has no key field */

    /* Only creation is modelled; pushing an update or a cancellation as a
     * create would be answered B00021 "exists" and wrongly reported ACCEPTED. */
    if (order->event != OB_EVENT_CREATED) {
        ob_strlcpyf(errstr, errstr_size, "event %s is not supported by the ems adapter yet",
                    order->event_name);
        return -1;
    }
    if (!(json = order_json(order, errstr, errstr_size)))
        return -1;
    rc = ems_request(e, EMS_API_CODE, json, out, errstr, errstr_size);
    free(json);
    return rc;
}

/* waybillNo from retBody, which EMS sends as a JSON string (an object is
 * read too); into tracking_no and warehouse_order_id (EMS's id of the order
 * is its waybill number). */
static void take_waybill(const json_t *answer, struct ob_outcome *out)
{
    const json_t *body = json_object_get(answer, "retBody");
    json_t *parsed = NULL;
    const char *waybill;

    if (json_is_string(body)) {
        parsed = json_loadb(json_string_value(body), json_string_length(body), 0, NULL);
        body = parsed;
    }
    waybill = json_string_value(json_object_get(body, "waybillNo"));
    if (waybill && *waybill) {
        ob_strlcpyf(out->tracking_no, sizeof(out->tracking_no), "%s", waybill);
        ob_strlcpyf(out->warehouse_order_id, sizeof(out->warehouse_order_id), "%s", waybill);
        ob_strlcpyf(out->carrier, sizeof(out->carrier), "EMS");
    }
    json_decref(parsed);
}

static void retry_after(const struct ob_response *resp, struct ob_outcome *out)
{
    long ms = ob_response_retry_after_ms(resp);

    out->retry_after_ms = ms > 0 ? (ms > 0x7fffffffL ? 0x7fffffff : (int)ms) : 0;
}

static void ems_decode_response(void *state, const struct ob_order *order,
                                const struct ob_delivery *delivery,
                                const struct ob_response *resp, struct ob_outcome *out)
{
    struct ems *e = state;
    json_t *answer;
    const char *code, *msg;

    (void)order;
    (void)delivery;

    if (ob_outcome_from_http(resp, out))
        return;

    /* HTTP 2xx: the business answer is in the body. */
    answer = resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
    code = json_string_value(json_object_get(answer, "retCode"));
    if (!code || !*code) {
        /* A 200 that is not EMS's JSON (a proxy page, a cut body): whether the
         * order was created is unknown, and a retry is safe because EMS
         * answers a repeat with B00021. */
        out->kind = OB_OUTCOME_RETRY;
        ob_strlcpyf(out->reason, sizeof(out->reason),
                    "EMS answered HTTP %ld without a retCode (malformed answer): %.200s",
                    resp->status, resp->body ? resp->body : "");
        json_decref(answer);
        return;
    }
    msg = json_string_value(json_object_get(answer, "retMsg"));
    if (!msg)
        msg = "";

    if (strcmp(code, CODE_OK) == 0) {
        out->kind = OB_OUTCOME_ACCEPTED;
        take_waybill(answer, out);
    } else if (strcmp(code, CODE_EXISTS) == 0) {
        out->kind = OB_OUTCOME_ACCEPTED;
        take_waybill(answer, out);
        ob_strlcpyf(out->reason, sizeof(out->reason),
                    "already known to EMS: %s %.200s", code, msg);
    } else if (is_retry_code(e, code)) {
        out->kind = OB_OUTCOME_RETRY;
        retry_after(resp, out);
        ob_strlcpyf(out->reason, sizeof(out->reason), "EMS %.32s: %.200s (transient)", code, msg);
    } else {
        /* S00001, S00002 and every code not listed as transient */
        out->kind = OB_OUTCOME_PERMANENT;
        ob_strlcpyf(out->reason, sizeof(out->reason), "EMS %.32s: %.200s", code, msg);
    }
    json_decref(answer);
}

/* ------------------------------------------------------------------------ */
/* status polling: the trace query 040001                                    */

/* What each opCode of the trace means (anything else: UNMAPPED, kept in
 * raw_code). W.. are the warehouse's own steps (modeled); 203 and 704 are
 * EMS's collection and delivery. */
static const struct {
    const char *code;
    enum ob_fulfillment_status status;
} op_map[] = {
    {"W10", OB_STATUS_ALLOCATED}, {"W20", OB_STATUS_PICKED},    {"W30", OB_STATUS_PACKED},
    {"203", OB_STATUS_SHIPPED},   {"704", OB_STATUS_DELIVERED}, {"W90", OB_STATUS_EXCEPTION},
    {"W99", OB_STATUS_CANCELLED},
};

static enum ob_fulfillment_status map_op(const char *code)
{
    for (size_t i = 0; i < sizeof(op_map) / sizeof(op_map[0]); i++)
        if (strcmp(code, op_map[i].code) == 0)
            return op_map[i].status;
    return OB_STATUS_UNMAPPED;
}

static const char *text_of(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));

    return s ? s : "";
}

static int ems_poll_encode(void *state, const struct ob_poll_target *target,
                           struct ob_request *out, char *errstr, size_t errstr_size)
{
    const struct ems *e = state;
    json_t *query = json_object();
    char *json = NULL;
    int rc = -1;

    /* json_string() refuses invalid UTF-8: NULL here, so the set fails */
    if (!query ||
        json_object_set_new(query, "logisticsOrderNo", json_string(target->order_id)) != 0 ||
        (target->warehouse_order_id && *target->warehouse_order_id &&
         json_object_set_new(query, "waybillNo", json_string(target->warehouse_order_id)) != 0)) {
        ob_strlcpyf(errstr, errstr_size,
                    "cannot write the order ids as JSON text (out of memory or invalid UTF-8)");
        goto cleanup;
    }
    if (!(json = json_dumps(query, JSON_COMPACT))) {
        ob_strlcpyf(errstr, errstr_size, "out of memory");
        goto cleanup;
    }
    rc = ems_request(e, EMS_TRACE_API_CODE, json, out, errstr, errstr_size);
cleanup:
    free(json);
    json_decref(query);
    return rc;
}

/* One trace entry into `u`. */
static void trace_update(const struct ems *e, const struct ob_poll_target *target,
                         const char *waybill, const json_t *item, struct ob_status_update *u)
{
    const char *code = text_of(item, "opCode"), *when = text_of(item, "opTime");
    const char *desc = text_of(item, "opDesc");

    memset(u, 0, sizeof(*u));
    if (!*waybill)
        waybill = text_of(item, "waybillNo");
    if (!*waybill && target->warehouse_order_id)
        waybill = target->warehouse_order_id;
    ob_strlcpy_utf8(u->order_id, sizeof(u->order_id), target->order_id);
    ob_strlcpy_utf8(u->warehouse_order_id, sizeof(u->warehouse_order_id), waybill);
    u->status = map_op(code);
    ob_strlcpy_utf8(u->raw_code, sizeof(u->raw_code), code);
    ob_strlcpy_utf8(u->raw_text, sizeof(u->raw_text), *desc ? desc : text_of(item, "opName"));
    /* unreadable or absent: 0, the bridge uses the time it learnt it */
    if (!*when || ob_time_parse(when, e->time_zone, EMS_TIME_PATTERN, &u->occurred_at_ms) != 0)
        u->occurred_at_ms = 0;
    if (u->status == OB_STATUS_SHIPPED || u->status == OB_STATUS_DELIVERED) {
        ob_strlcpy_utf8(u->carrier, sizeof(u->carrier), "EMS");
        ob_strlcpy_utf8(u->tracking_no, sizeof(u->tracking_no), waybill);
    }
    if (u->status == OB_STATUS_EXCEPTION || u->status == OB_STATUS_CANCELLED)
        ob_strlcpy_utf8(u->reason, sizeof(u->reason), desc);
}

static int ems_poll_decode(void *state, const struct ob_poll_target *target,
                           const struct ob_response *resp, struct ob_status_update *out,
                           size_t max, char *errstr, size_t errstr_size)
{
    const struct ems *e = state;
    json_t *answer = NULL, *parsed = NULL, *items, *item;
    const json_t *body;
    const char *code, *about;
    size_t i, n, unmapped = 0, written = 0;
    struct ob_history_fit fit;
    int rc = -1;

    if (resp->status == 0) {
        ob_strlcpyf(errstr, errstr_size, "no answer: %s",
                    resp->transport_error ? resp->transport_error : "(no detail)");
        return -1;
    }
    if (resp->status < 200 || resp->status > 299) {
        ob_strlcpyf(errstr, errstr_size, "HTTP %ld", resp->status);
        return -1;
    }
    answer = resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
    code = json_string_value(json_object_get(answer, "retCode"));
    if (!code || !*code) {
        ob_strlcpyf(errstr, errstr_size, "EMS answered HTTP %ld without a retCode (%s)",
                    resp->status, answer ? "no retCode" : "not JSON");
        goto cleanup;
    }
    if (strcmp(code, CODE_NOT_FOUND) == 0) {
        ob_strlcpyf(errstr, errstr_size, "EMS " CODE_NOT_FOUND ": EMS does not know the order");
        goto cleanup;
    }
    if (strcmp(code, CODE_OK) != 0) {
        ob_strlcpyf(errstr, errstr_size, "EMS %.32s: %.200s", code, text_of(answer, "retMsg"));
        goto cleanup;
    }
    /* retBody: a JSON string (an object is read too) */
    body = json_object_get(answer, "retBody");
    if (json_is_string(body)) {
        parsed = json_loadb(json_string_value(body), json_string_length(body), 0, NULL);
        body = parsed;
    }
    if (!json_is_object(body)) {
        ob_strlcpyf(errstr, errstr_size, "EMS 00000 without a readable retBody");
        goto cleanup;
    }
    about = text_of(body, "logisticsOrderNo");
    if (*about && strcmp(about, target->order_id) != 0) {
        ob_strlcpyf(errstr, errstr_size, "the answer is about another order");
        goto cleanup;
    }
    items = json_object_get(body, "responseItems");
    if (!items || json_is_null(items)) { /* nothing to report yet */
        rc = 0;
        goto cleanup;
    }
    if (!json_is_array(items)) {
        ob_strlcpyf(errstr, errstr_size, "responseItems is not an array");
        goto cleanup;
    }
    n = json_array_size(items);
    json_array_foreach(items, i, item) {
        if (!json_is_object(item) || !*text_of(item, "opCode")) {
            ob_strlcpyf(errstr, errstr_size, "responseItems[%zu] has no opCode", i);
            goto cleanup;
        }
        unmapped += map_op(text_of(item, "opCode")) == OB_STATUS_UNMAPPED;
    }
    /* More than fit (a long transit trace): drop the oldest unmapped entries
     * first, then the oldest of the rest (likely emitted already). */
    ob_history_fit_init(&fit, n, unmapped, max);
    json_array_foreach(items, i, item) {
        if (!ob_history_fit_keep(&fit, map_op(text_of(item, "opCode")) == OB_STATUS_UNMAPPED))
            continue;
        trace_update(e, target, text_of(body, "waybillNo"), item, &out[written++]);
    }
    rc = (int)written;
cleanup:
    json_decref(parsed);
    json_decref(answer);
    return rc;
}

static const struct ob_adapter ems_adapter = {
    .abi = OB_ADAPTER_ABI,
    .size = sizeof(struct ob_adapter),
    .flags = OB_ADAPTER_NO_DOC,
    .name = "ems",
    .description = "China Post EMS 020003: form POST, SM4-ECB logitcsInterface, retCode answers; "
                   "status polled with the trace query " EMS_TRACE_API_CODE,
    .init = ems_init,
    .encode = ems_encode,
    .decode_response = ems_decode_response,
    .destroy = ems_destroy,
    .poll_encode = ems_poll_encode,
    .poll_decode = ems_poll_decode,
};

OB_ADAPTER_EXPORT const struct ob_adapter *ob_adapter_entry(void)
{
    return &ems_adapter;
}
