/*
 * profile_cainiao.c — the Cainiao LINK gateway: message WMS_CONSIGN_ORDER_NOTIFY
 * (create an order) and WMS_ORDER_STATUS_QUERY (where an order stands).
 *
 * POST /gateway/link.do, an application/x-www-form-urlencoded body with
 * msg_type, logistic_provider_id, logistics_interface (an XML document for
 * the notify, a JSON object for the query), data_digest =
 * Base64(MD5(logistics_interface + secret)) and an optional to_code. Every
 * business answer is HTTP 200 with a JSON body
 * {"success":"true"|"false","errorCode","errorMsg"} (+ "orderCode" when the
 * order is there). The checks, in this order:
 *
 *   path is not /gateway/link.do            404 (screened, before faults)
 *   method is not POST                      405 (screened)
 *   Content-Type not form-urlencoded/UTF-8  S01                bad_requests
 *   body not a form, a field repeated,
 *   msg_type/logistic_provider_id/
 *   logistics_interface/data_digest missing S01                bad_requests
 *   msg_type neither of the two             S04                bad_requests
 *   logistic_provider_id not the secret
 *   "logistic_provider_id" (when set)       S03                unauthorized
 *   no secret "secret" configured           S03                unauthorized
 *   data_digest wrong                       S02                bad_signatures
 * then for WMS_CONSIGN_ORDER_NOTIFY:
 *   logistics_interface not well-formed
 *   XML with root <request>                 S01                bad_requests
 *   a required element missing or empty,
 *   itemQuantity not a positive integer     S05                bad_requests
 *   logisticsOrderCode seen before          ORDER_EXISTS + the stored orderCode
 *                                                              duplicates (+ key_mismatches
 *                                                              when the document's digest differs)
 *   dedupe store full                       S07 (system error, retry)
 *   new                                     success, orderCode LBX<next id>; created
 * and for WMS_ORDER_STATUS_QUERY ({"logisticsOrderCode", "orderCode"?}):
 *   not a JSON object                       S01                bad_requests
 *   no logisticsOrderCode, orderCode not
 *   a string                                S05                bad_requests
 *   order unknown, or orderCode given and
 *   not the order's                         ORDER_NOT_FOUND    —
 *   known                                   success, orderCode, logisticsOrderCode and
 *                                           orderStatusList: the steps due so far
 *
 * The timeline: an order created at t has step n (1, 2, ...) at
 * t + n * ob_sim_status_step_ms(): WMS_ACCEPT, WMS_PRINT, WMS_PICK,
 * WMS_PACKAGE, WMS_CONSIGN (tmsCode YTO, tmsOrderCode "YT" + the digits of
 * its orderCode), TMS_SIGN. The orders ob_sim_status_exception() names (1 in
 * 20, by a hash of the logisticsOrderCode) have WMS_EXCEPTION (remark: stock
 * shortage) after WMS_PICK, and their later steps each come one step later.
 * Each entry:
 * {"status", "statusDesc", "operateTime" ("yyyy-MM-dd HH:mm:ss",
 * Asia/Shanghai, whole seconds), "remark"?, "tmsCode"?, "tmsOrderCode"?}.
 *
 * The digest is recomputed from the received bytes with the SDK and the
 * secret from ob_sim_secret(sim, "secret"); the dedupe key is the
 * logisticsOrderCode, so ob_sim_created(sim, order_id) tells whether an
 * order was created. Its value is "<orderCode> <digest> <created epoch ms>".
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <microhttpd.h>

#include <orderbridge/sdk.h>

#include "sim.h"

#define PATH "/gateway/link.do"
#define MSG_TYPE "WMS_CONSIGN_ORDER_NOTIFY"
#define QUERY_MSG_TYPE "WMS_ORDER_STATUS_QUERY"
#define MAX_FIELDS 16

/* ------------------------------------------------------------------------ */
/* answers                                                                   */

static void answer(struct ob_sim_reply *reply, int success, const char *code, const char *msg,
                   const char *order_code)
{
    json_t *doc = json_pack("{s:s, s:s, s:s}", "success", success ? "true" : "false",
                            "errorCode", code ? code : "", "errorMsg", msg ? msg : "");

    if (doc && order_code && *order_code)
        json_object_set_new(doc, "orderCode", json_string(order_code));
    reply->status = 200;
    reply->content_type = "application/json;charset=UTF-8";
    reply->body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (!reply->body) {
        reply->status = 500;
        reply->body = strdup("{\"success\":\"false\",\"errorCode\":\"S07\",\"errorMsg\":\"out of memory\"}");
    }
    json_decref(doc);
}

static void refuse(struct ob_sim *sim, enum ob_sim_counter counter, struct ob_sim_reply *reply,
                   const char *code, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void refuse(struct ob_sim *sim, enum ob_sim_counter counter, struct ob_sim_reply *reply,
                   const char *code, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ob_sim_count(sim, counter);
    answer(reply, 0, code, msg, NULL);
}

/* ------------------------------------------------------------------------ */
/* the form body                                                             */

struct form {
    size_t n;
    char *key[MAX_FIELDS];
    char *value[MAX_FIELDS];
};

static void form_free(struct form *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->key[i]);
        free(f->value[i]);
    }
    f->n = 0;
}

/* One form component: '+' is a space, then %XX (MHD's own decoder). */
static char *form_unescape(const char *s, size_t len)
{
    char *out = strndup(s, len);

    if (!out)
        return NULL;
    for (char *p = out; *p; p++)
        if (*p == '+')
            *p = ' ';
    MHD_http_unescape(out);
    return out;
}

static const char *form_get(const struct form *f, const char *key)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->key[i], key) == 0)
            return f->value[i];
    return NULL;
}

/* 0, or -1 with `why` set: not key=value pairs, a repeated key, too many. */
static int form_parse(const char *body, size_t len, struct form *f, char *why, size_t why_size)
{
    const char *p = body, *end = body + len;

    memset(f, 0, sizeof *f);
    if (memchr(body, '\0', len)) {
        snprintf(why, why_size, "NUL byte in the body");
        return -1;
    }
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));

        if (!eq || eq == p) {
            snprintf(why, why_size, "body is not a form (key=value&...)");
            goto fail;
        }
        if (f->n == MAX_FIELDS) {
            snprintf(why, why_size, "too many form fields");
            goto fail;
        }
        f->key[f->n] = form_unescape(p, (size_t)(eq - p));
        f->value[f->n] = form_unescape(eq + 1, (size_t)(stop - eq - 1));
        if (!f->key[f->n] || !f->value[f->n]) {
            f->n++;
            snprintf(why, why_size, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < f->n; i++)
            if (strcmp(f->key[i], f->key[f->n]) == 0) {
                snprintf(why, why_size, "parameter %.64s given twice", f->key[f->n]);
                f->n++;
                goto fail;
            }
        f->n++;
        p = amp ? amp + 1 : end;
    }
    return 0;
fail:
    form_free(f);
    return -1;
}

/* application/x-www-form-urlencoded, with no charset or UTF-8. */
static int content_type_ok(const char *ct)
{
    static const char form[] = "application/x-www-form-urlencoded";
    const char *cs;

    if (!ct || strncasecmp(ct, form, sizeof form - 1) != 0)
        return 0;
    ct += sizeof form - 1;
    if (*ct == '\0')
        return 1;
    if (*ct != ';')
        return 0;
    cs = strcasestr(ct, "charset=");
    if (!cs)
        return 1;
    cs += 8;
    if (*cs == '"')
        cs++;
    return strncasecmp(cs, "utf-8", 5) == 0 &&
           (cs[5] == '\0' || cs[5] == ';' || cs[5] == '"' || cs[5] == ' ');
}

/* ------------------------------------------------------------------------ */
/* the digest and the document                                               */

/* Base64(MD5(content + secret)) into out[64]; -1 on failure. */
static int link_digest(const char *content, const char *secret, char out[64])
{
    struct ob_buf text, b64;
    unsigned char md[OB_DIGEST_MAX];
    size_t md_len = 0;
    int rc = -1;

    ob_buf_init(&text, OB_BUF_DEFAULT_MAX);
    ob_buf_init(&b64, 63);
    if (ob_buf_appends(&text, content) == 0 && ob_buf_appends(&text, secret) == 0 &&
        ob_digest(OB_MD5, text.data, text.len, md, &md_len) == 0 &&
        ob_base64_encode(md, md_len, &b64) == 0) {
        memcpy(out, b64.data, b64.len + 1);
        rc = 0;
    }
    ob_buf_cleanse(&text);
    ob_buf_reset(&b64);
    return rc;
}

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
    xmlInitParser();
}

static xmlNodePtr child(xmlNodePtr node, const char *name)
{
    for (xmlNodePtr c = node ? node->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
            return c;
    return NULL;
}

/* The text of a child element with non-blank text, else NULL (free with xmlFree). */
static xmlChar *child_text(xmlNodePtr node, const char *name)
{
    xmlNodePtr c = child(node, name);
    xmlChar *text = c ? xmlNodeGetContent(c) : NULL;

    if (text && text[strspn((const char *)text, " \t\r\n")] == '\0') {
        xmlFree(text);
        text = NULL;
    }
    return text;
}

/* NULL when the document has what an order needs, else what is missing. */
static const char *check_request(xmlNodePtr root, char *why, size_t why_size)
{
    static const char *const receiver[] = {"name", "mobile", "province", "city", "address"};
    xmlNodePtr info = child(root, "receiverInfo"), items = child(root, "items");
    xmlChar *text;
    size_t n = 0;

    if (!(text = child_text(root, "logisticsOrderCode")))
        return "logisticsOrderCode is required";
    xmlFree(text);
    if (!info)
        return "receiverInfo is required";
    for (size_t i = 0; i < sizeof receiver / sizeof receiver[0]; i++) {
        if (!(text = child_text(info, receiver[i]))) {
            snprintf(why, why_size, "receiverInfo.%s is required", receiver[i]);
            return why;
        }
        xmlFree(text);
    }
    if (!child(info, "area"))
        return "receiverInfo.area is required (it may be empty)";
    for (xmlNodePtr it = items ? items->children : NULL; it; it = it->next) {
        if (it->type != XML_ELEMENT_NODE)
            continue;
        if (strcmp((const char *)it->name, "item") != 0) {
            snprintf(why, why_size, "items may hold only <item>, not <%.32s>", it->name);
            return why;
        }
        if (!(text = child_text(it, "itemCode"))) {
            snprintf(why, why_size, "items.item[%zu].itemCode is required", n);
            return why;
        }
        xmlFree(text);
        if (!(text = child_text(it, "itemQuantity"))) {
            snprintf(why, why_size, "items.item[%zu].itemQuantity is required", n);
            return why;
        }
        char *end;
        long q = strtol((const char *)text, &end, 10);
        int bad = *end != '\0' || q <= 0 || text[0] < '0' || text[0] > '9';
        xmlFree(text);
        if (bad) {
            snprintf(why, why_size, "items.item[%zu].itemQuantity must be a positive integer", n);
            return why;
        }
        n++;
    }
    if (n == 0)
        return "items must hold at least one <item>";
    return NULL;
}

/* What the dedupe store keeps for an order: "<orderCode> <digest> <ms>". */
struct stored_order {
    char order_code[64];
    char digest[64];
    int64_t created_ms;
};

static int stored_parse(const char *value, struct stored_order *o)
{
    long long ms;
    int used = 0;

    memset(o, 0, sizeof *o);
    if (sscanf(value, "%63s %63s %lld%n", o->order_code, o->digest, &ms, &used) != 3 ||
        value[used] != '\0')
        return -1;
    o->created_ms = ms;
    return 0;
}

/* WMS_CONSIGN_ORDER_NOTIFY: create the order of a verified document. */
static void create(struct ob_sim *sim, const char *content, const char *digest,
                   struct ob_sim_reply *reply)
{
    char why[256], stored[160], value[160], order_code[64];
    xmlDocPtr doc;
    xmlChar *code = NULL;
    const char *problem;

    pthread_once(&xml_once, xml_init);
    doc = xmlReadMemory(content, (int)strlen(content), "logistics_interface.xml", "UTF-8",
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root || strcmp((const char *)root->name, "request") != 0) {
        refuse(sim, OB_SIM_BAD_REQUEST, reply, "S01",
               root ? "logistics_interface: the root element must be <request>"
                    : "logistics_interface is not well-formed XML");
        goto done;
    }
    if ((problem = check_request(root, why, sizeof why)) != NULL) {
        refuse(sim, OB_SIM_BAD_REQUEST, reply, "S05", "%s", problem);
        goto done;
    }
    code = child_text(root, "logisticsOrderCode");
    snprintf(order_code, sizeof order_code, "LBX%013lu", ob_sim_next_id(sim));
    /* stored: "<orderCode> <digest> <created epoch ms>": the digest tells a
     * redelivery from another document under the same logisticsOrderCode,
     * the time drives the status timeline */
    snprintf(value, sizeof value, "%s %s %lld", order_code, digest, (long long)ob_time_now_ms());
    switch (ob_sim_remember(sim, (const char *)code, value, stored, sizeof stored)) {
    case 1:
        ob_sim_count(sim, OB_SIM_CREATED);
        reply->created = 1;
        answer(reply, 1, "", "", order_code);
        break;
    case 0: {
        struct stored_order first;
        if (stored_parse(stored, &first) == 0 && strcmp(first.digest, digest) != 0)
            ob_sim_count(sim, OB_SIM_KEY_MISMATCH);
        ob_sim_count(sim, OB_SIM_DUPLICATE);
        snprintf(why, sizeof why, "order %.64s already exists", (const char *)code);
        answer(reply, 0, "ORDER_EXISTS", why, first.order_code);
        break;
    }
    default:
        answer(reply, 0, "S07", "system error (capacity exceeded), please retry", NULL);
        break;
    }
done:
    xmlFree(code);
    xmlFreeDoc(doc);
}

/* ------------------------------------------------------------------------ */
/* the status query                                                          */

/* One step of the warehouse's work on an order. */
struct step {
    const char *status, *desc, *remark;
};

static const struct step ladder[] = {
    {"WMS_ACCEPT", "仓库接单", NULL},      {"WMS_PRINT", "打印面单", NULL},
    {"WMS_PICK", "拣货完成", NULL},        {"WMS_PACKAGE", "打包完成", NULL},
    {"WMS_CONSIGN", "仓库已发货", NULL},   {"TMS_SIGN", "买家已签收", NULL},
};
#define LADDER_STEPS (sizeof ladder / sizeof ladder[0])
#define EXCEPTION_AFTER 3 /* inserted after WMS_PICK */
static const struct step exception_step = {"WMS_EXCEPTION", "仓库作业异常",
                                           "库存不足，等待补货"};

static const struct step cancel_step = {"WMS_CANCEL", "订单已取消", "买家取消订单"};

/* Step n of an order's sequence; the orders ob_sim_status_cancelled() names
 * end with WMS_CANCEL after WMS_ACCEPT. */
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

/* The steps due at `now`: step n (1, 2, ...) at created + n * status_step_ms. */
static json_t *status_list(struct ob_sim *sim, const char *code, const struct stored_order *o,
                           int64_t now)
{
    int64_t step_ms = ob_sim_status_step_ms(sim);
    int exception = ob_sim_status_exception(code), cancelled = ob_sim_status_cancelled(code);
    json_t *list = json_array();
    const struct step *s;
    char when[32];

    for (size_t n = 0; list && (s = step_at(n, exception, cancelled)) != NULL; n++) {
        int64_t at = o->created_ms + (int64_t)(n + 1) * step_ms;
        json_t *entry;

        if (at > now)
            break;
        if (ob_time_format(at, "Asia/Shanghai", "yyyy-MM-dd HH:mm:ss", when, sizeof when) != 0)
            when[0] = '\0';
        entry = json_pack("{s:s, s:s, s:s}", "status", s->status, "statusDesc", s->desc,
                          "operateTime", when);
        if (entry && s->remark)
            json_object_set_new(entry, "remark", json_string(s->remark));
        if (entry && strcmp(s->status, "WMS_CONSIGN") == 0) {
            char mail_no[64];
            snprintf(mail_no, sizeof mail_no, "YT%s", o->order_code + 3);
            json_object_set_new(entry, "tmsCode", json_string("YTO"));
            json_object_set_new(entry, "tmsOrderCode", json_string(mail_no));
        }
        if (json_array_append_new(list, entry) != 0) { /* steals entry, even on failure */
            json_decref(list);
            list = NULL;
        }
    }
    return list;
}

/* QUERY_MSG_TYPE: the statuses of a known order so far. */
static void query(struct ob_sim *sim, const char *content, struct ob_sim_reply *reply)
{
    json_t *doc = json_loads(content, JSON_REJECT_DUPLICATES, NULL), *list, *out;
    const char *code = json_string_value(json_object_get(doc, "logisticsOrderCode"));
    json_t *order_code = json_object_get(doc, "orderCode");
    struct stored_order o;
    char stored[160], why[160];

    if (!json_is_object(doc)) {
        refuse(sim, OB_SIM_BAD_REQUEST, reply, "S01", "logistics_interface is not a JSON object");
        goto done;
    }
    if (!code || !*code || (order_code && !json_is_string(order_code))) {
        refuse(sim, OB_SIM_BAD_REQUEST, reply, "S05", "%s",
               !code || !*code ? "logisticsOrderCode is required"
                               : "orderCode must be a string");
        goto done;
    }
    /* look up without storing: a key is never forgotten, so once created it
     * stays, and remember() then only copies its value */
    if (!ob_sim_created(sim, code) || ob_sim_remember(sim, code, "", stored, sizeof stored) != 0 ||
        stored_parse(stored, &o) != 0 ||
        (order_code && *json_string_value(order_code) &&
         strcmp(json_string_value(order_code), o.order_code) != 0)) {
        snprintf(why, sizeof why, "order %.64s does not exist", code);
        answer(reply, 0, "ORDER_NOT_FOUND", why, NULL);
        goto done;
    }
    list = status_list(sim, code, &o, ob_time_now_ms());
    out = list ? json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "success", "true", "errorCode", "",
                           "errorMsg", "", "orderCode", o.order_code, "logisticsOrderCode", code,
                           "orderStatusList", list)
               : NULL; /* "o" steals list, even on failure */
    reply->status = 200;
    reply->content_type = "application/json;charset=UTF-8";
    reply->body = out ? json_dumps(out, JSON_COMPACT) : NULL;
    json_decref(out);
    if (!reply->body)
        answer(reply, 0, "S07", "system error, please retry", NULL);
done:
    json_decref(doc);
}

/* ------------------------------------------------------------------------ */
/* the profile                                                               */

static int screen(struct ob_sim *sim, const struct ob_sim_request *req, struct ob_sim_reply *reply)
{
    (void)sim;
    if (strcmp(req->path, PATH) != 0) {
        reply->status = 404;
        reply->body = strdup("{\"error\":\"not found\"}");
        return 1;
    }
    if (strcmp(req->method, "POST") != 0) {
        reply->status = 405;
        reply->body = strdup("{\"error\":\"method not allowed\"}");
        return 1;
    }
    return 0;
}

static void handle(struct ob_sim *sim, const struct ob_sim_request *req, struct ob_sim_reply *reply)
{
    const char *secret = ob_sim_secret(sim, "secret");
    const char *want_provider = ob_sim_secret(sim, "logistic_provider_id");
    const char *msg_type, *provider, *content, *digest;
    char why[256], expected[64];
    struct form f;
    int is_query;

    if (screen(sim, req, reply))
        return;
    if (!content_type_ok(ob_sim_header(req, "Content-Type"))) {
        refuse(sim, OB_SIM_BAD_REQUEST, reply, "S01",
               "Content-Type must be application/x-www-form-urlencoded (UTF-8)");
        return;
    }
    if (form_parse(req->body, req->body_len, &f, why, sizeof why) != 0) {
        refuse(sim, OB_SIM_BAD_REQUEST, reply, "S01", "%s", why);
        return;
    }
    msg_type = form_get(&f, "msg_type");
    provider = form_get(&f, "logistic_provider_id");
    content = form_get(&f, "logistics_interface");
    digest = form_get(&f, "data_digest");
    if (!msg_type || !provider || !content || !digest || !*msg_type || !*provider ||
        !*content || !*digest) {
        refuse(sim, OB_SIM_BAD_REQUEST, reply, "S01", "missing parameter: %s",
               !msg_type || !*msg_type       ? "msg_type"
               : !provider || !*provider     ? "logistic_provider_id"
               : !content || !*content       ? "logistics_interface"
                                             : "data_digest");
        goto done;
    }
    is_query = strcmp(msg_type, QUERY_MSG_TYPE) == 0;
    if (!is_query && strcmp(msg_type, MSG_TYPE) != 0) {
        refuse(sim, OB_SIM_BAD_REQUEST, reply, "S04", "unsupported msg_type %.64s", msg_type);
        goto done;
    }
    if (!secret || (want_provider && strcmp(provider, want_provider) != 0)) {
        refuse(sim, OB_SIM_UNAUTHORIZED, reply, "S03", "unknown logistic_provider_id %.64s",
               provider);
        goto done;
    }
    /* the digest of the bytes received, before anything else is read from them */
    if (link_digest(content, secret, expected) != 0) {
        answer(reply, 0, "S07", "system error, please retry", NULL);
        goto done;
    }
    if (strcmp(digest, expected) != 0) {
        refuse(sim, OB_SIM_BAD_SIGNATURE, reply, "S02", "digest check failed");
        goto done;
    }
    if (is_query)
        query(sim, content, reply);
    else
        create(sim, content, digest, reply);
done:
    form_free(&f);
}

const struct ob_sim_profile ob_sim_profile_cainiao = {
    .name = "cainiao",
    .handle = handle,
    .screen = screen,
};
