/*
 * profile_cainiao.c — the Cainiao LINK gateway, message WMS_CONSIGN_ORDER_NOTIFY.
 *
 * POST /gateway/link.do, an application/x-www-form-urlencoded body with
 * msg_type, logistic_provider_id, logistics_interface (an XML document),
 * data_digest = Base64(MD5(logistics_interface + secret)) and an optional
 * to_code. Every business answer is HTTP 200 with a JSON body
 * {"success":"true"|"false","errorCode","errorMsg"} (+ "orderCode" when the
 * order is there). The checks, in this order:
 *
 *   path is not /gateway/link.do            404 (screened, before faults)
 *   method is not POST                      405 (screened)
 *   Content-Type not form-urlencoded/UTF-8  S01                bad_requests
 *   body not a form, a field repeated,
 *   msg_type/logistic_provider_id/
 *   logistics_interface/data_digest missing S01                bad_requests
 *   msg_type not WMS_CONSIGN_ORDER_NOTIFY   S04                bad_requests
 *   logistic_provider_id not the secret
 *   "logistic_provider_id" (when set)       S03                unauthorized
 *   no secret "secret" configured           S03                unauthorized
 *   data_digest wrong                       S02                bad_signatures
 *   logistics_interface not well-formed
 *   XML with root <request>                 S01                bad_requests
 *   a required element missing or empty,
 *   itemQuantity not a positive integer     S05                bad_requests
 *   logisticsOrderCode seen before          ORDER_EXISTS + the stored orderCode
 *                                                              duplicates (+ key_mismatches
 *                                                              when the document's digest differs)
 *   dedupe store full                       S07 (system error, retry)
 *   new                                     success, orderCode LBX<next id>; created
 *
 * The digest is recomputed from the received bytes with the SDK and the
 * secret from ob_sim_secret(sim, "secret"); the dedupe key is the
 * logisticsOrderCode, so ob_sim_created(sim, order_id) tells whether an
 * order was created.
 */
#include <pthread.h>
#include <stdarg.h>
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
    char why[256], expected[64], stored[128], value[128], order_code[64];
    struct form f;
    xmlDocPtr doc = NULL;
    xmlChar *code = NULL;
    const char *problem;

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
    if (strcmp(msg_type, MSG_TYPE) != 0) {
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
    /* stored: "<orderCode> <digest>", to tell a redelivery from another
     * document under the same logisticsOrderCode */
    snprintf(value, sizeof value, "%s %s", order_code, digest);
    switch (ob_sim_remember(sim, (const char *)code, value, stored, sizeof stored)) {
    case 1:
        ob_sim_count(sim, OB_SIM_CREATED);
        reply->created = 1;
        answer(reply, 1, "", "", order_code);
        break;
    case 0: {
        char *space = strchr(stored, ' ');
        if (space) {
            *space = '\0';
            if (strcmp(space + 1, digest) != 0)
                ob_sim_count(sim, OB_SIM_KEY_MISMATCH);
        }
        ob_sim_count(sim, OB_SIM_DUPLICATE);
        snprintf(why, sizeof why, "order %.64s already exists", (const char *)code);
        answer(reply, 0, "ORDER_EXISTS", why, stored);
        break;
    }
    default:
        answer(reply, 0, "S07", "system error (capacity exceeded), please retry", NULL);
        break;
    }
done:
    xmlFree(code);
    xmlFreeDoc(doc);
    form_free(&f);
}

const struct ob_sim_profile ob_sim_profile_cainiao = {
    .name = "cainiao",
    .handle = handle,
    .screen = screen,
};
