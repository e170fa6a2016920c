/*
 * convert.c — `orderbridge convert`: show the exact HTTP request an adapter
 * builds for an order, without sending it.
 *
 * For integration configurers and adapter authors: the same config, loader,
 * validation, routing and idempotency key as `run`, stopping before the
 * network. Every credential value is masked where it stands as a value of
 * its own (see ob_redact_value()) unless --show-secrets is given.
 */
#include "convert.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <openssl/crypto.h>

#include <orderbridge/sdk.h>

#include "adapter.h"
#include "config.h"
#include "idempotency.h"
#include "order.h"
#include "redact.h"
#include "router.h"

#include "example_order.h"

static const char convert_help[] =
    "usage: orderbridge convert -c FILE [--warehouse CODE] [--attempt N] [--show-secrets] ORDER.json\n"
    "\n"
    "Validate ORDER.json (an order.v1 document, or - for stdin), route it (or use\n"
    "--warehouse), run that warehouse's adapter and print the HTTP request it\n"
    "would send: method and URL, headers, a blank line, the body. Nothing is sent.\n"
    "Credential values, and whole Authorization/token/secret/password/cookie\n"
    "headers, are printed as " OB_REDACT_MASK " unless --show-secrets is given.\n"
    "\n"
    "  -c, --config FILE    the bridge's config\n"
    "  -w, --warehouse CODE push to this configured warehouse instead of routing\n"
    "      --attempt N      the attempt number the adapter sees (default 1)\n"
    "      --show-secrets   print credentials as they are\n"
    "\n"
    "Exit status: 0 printed, 1 the order is invalid or cannot be encoded, 2 usage\n"
    "or config error.\n";

static char *read_all(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    struct ob_buf buf;

    if (!f)
        return NULL;
    ob_buf_init(&buf, 64u * 1024 * 1024);
    ob_buf_read(&buf, f);
    if (f != stdin)
        fclose(f);
    return ob_buf_steal(&buf, len); /* NULL when the read failed */
}

/* Print `len` bytes with every warehouse credential masked where it is a
 * value of its own (ob_redact_value(): a 1-letter token does not mask that
 * letter in a host name), or as they are when `cfg` is NULL. */
static void print_masked(const struct ob_config *cfg, const char *text, size_t len)
{
    char *copy = NULL;
    size_t n = len;

    if (!cfg) {
        fwrite(text, 1, len, stdout);
        return;
    }
    for (size_t w = 0; w < cfg->n_warehouses; w++) {
        for (size_t c = 0; c < cfg->warehouses[w].n_credentials; c++) {
            const char *secret = cfg->warehouses[w].credentials[c].value;
            char *next;
            size_t next_len;
            if (!secret || !*secret)
                continue;
            next = ob_redact_value(copy ? copy : text, n, secret, &next_len);
            if (copy) {
                OPENSSL_cleanse(copy, n);
                free(copy);
            }
            copy = next;
            n = next_len;
            if (!copy) {
                fputs("(out of memory)", stdout);
                return;
            }
        }
    }
    fwrite(copy ? copy : text, 1, n, stdout);
    if (copy) {
        OPENSSL_cleanse(copy, n);
        free(copy);
    }
}

/* Headers that carry credentials in some derived form (Basic auth is
 * base64 of user:password): masked whole, whatever their value. */
static int secret_header(const char *name)
{
    static const char *const words[] = {"authorization", "token", "secret", "password", "cookie"};

    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strcasestr(name, words[i]))
            return 1;
    }
    return 0;
}

int ob_convert_main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"warehouse", required_argument, NULL, 'w'},
                                         {"attempt", required_argument, NULL, 'a'},
                                         {"show-secrets", no_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *config_path = NULL, *code = NULL, *order_path;
    int attempt = 1, show_secrets = 0, rc = 2, ch, wh_index;
    char err[8192], idem[65];
    struct ob_config *cfg = NULL;
    struct ob_adapter_instance *inst = NULL;
    struct ob_parsed_order *po = NULL;
    struct ob_order_problem problem;
    struct ob_request req = {0};
    char *doc = NULL;
    size_t doc_len = 0;

    optind = 1;
    for (;;) {
        ch = getopt_long(argc, argv, "c:w:", opts, NULL);
        if (ch == -1)
            break;
        switch (ch) {
        case 'c':
            config_path = optarg;
            break;
        case 'w':
            code = optarg;
            break;
        case 'a':
            attempt = atoi(optarg);
            break;
        case 's':
            show_secrets = 1;
            break;
        case 'h':
            fputs(convert_help, stdout);
            return 0;
        default:
            fputs(convert_help, stderr);
            return 2;
        }
    }
    if (!config_path || optind != argc - 1 || attempt < 1) {
        fputs(convert_help, stderr);
        return 2;
    }
    order_path = argv[optind];
    if (ob_config_load(config_path, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: invalid config:\n%s", config_path, err);
        return 2;
    }
    doc = read_all(order_path, &doc_len);
    if (!doc) {
        fprintf(stderr, "convert: cannot read %s\n", order_path);
        goto cleanup;
    }
    rc = 1;
    if (ob_order_parse(doc, doc_len, (size_t)cfg->pipeline.max_order_bytes, &po, &problem) != 0) {
        fprintf(stderr, "convert: %s: %s: %s\n", order_path, ob_order_error_name(problem.code),
                problem.message);
        goto cleanup;
    }
    if (code) {
        const struct ob_warehouse_conf *wh = ob_config_warehouse(cfg, code);
        wh_index = wh ? (int)(wh - cfg->warehouses) : -1;
        if (wh_index < 0) {
            fprintf(stderr, "convert: --warehouse %s is not a configured warehouse\n", code);
            rc = 2;
            goto cleanup;
        }
    } else {
        wh_index = ob_router_route(cfg, &po->order, NULL, err, sizeof(err));
        if (wh_index < 0) {
            fprintf(stderr, "convert: unroutable: %s\n", err);
            goto cleanup;
        }
    }
    const struct ob_warehouse_conf *wh = &cfg->warehouses[wh_index];
    if (ob_adapter_open(cfg, wh, &inst, err, sizeof(err)) != 0) {
        fprintf(stderr, "convert: %s\n", err);
        rc = 2;
        goto cleanup;
    }
    if (ob_idempotency_key(wh->code, po->order.order_id, po->order.event_name,
                           po->order.revision, idem) != 0) {
        fprintf(stderr, "convert: cannot derive the idempotency key\n");
        goto cleanup;
    }
    struct ob_delivery delivery = {
        .warehouse = wh->code, .idempotency_key = idem, .trace_id = "convert", .attempt = attempt};
    err[0] = '\0';
    if (inst->plugin.vt.encode(inst->state, &po->order, &delivery, &req, err, sizeof(err)) != 0 ||
        !req.url || !req.method) {
        ob_redact(err);
        fprintf(stderr, "convert: adapter %s cannot encode the order: %s\n", inst->plugin.vt.name,
                err[0] ? err : "no request built");
        goto cleanup;
    }
    printf("# warehouse %s, adapter %s, idempotency key %s\n", wh->code, inst->plugin.vt.name,
           idem);
    const struct ob_config *mask = show_secrets ? NULL : cfg;
    printf("%s ", req.method);
    print_masked(mask, req.url, strlen(req.url));
    fputc('\n', stdout);
    for (size_t i = 0; i < req.n_headers; i++) {
        printf("%s: ", req.headers[i].name);
        if (!show_secrets && secret_header(req.headers[i].name))
            fputs(OB_REDACT_MASK, stdout);
        else
            print_masked(mask, req.headers[i].value, strlen(req.headers[i].value));
        fputc('\n', stdout);
    }
    fputc('\n', stdout);
    if (req.body)
        print_masked(mask, req.body, req.body_len);
    fputc('\n', stdout);
    rc = 0;
cleanup:
    ob_request_reset(&req);
    ob_adapter_close(inst);
    ob_order_free(po);
    free(doc);
    ob_config_destroy(cfg);
    return rc;
}

/* Is the body well-formed for the Content-Type it is sent with? */
static int body_well_formed(const struct ob_request *req, char *what, size_t what_size)
{
    const char *type = "";

    for (size_t i = 0; i < req->n_headers; i++) {
        if (strcasecmp(req->headers[i].name, "Content-Type") == 0)
            type = req->headers[i].value;
    }
    if (strcasestr(type, "json")) {
        json_t *doc = json_loadb(req->body ? req->body : "", req->body_len, 0, NULL);
        snprintf(what, what_size, "JSON");
        json_decref(doc);
        return doc != NULL;
    }
    if (strcasestr(type, "xml")) {
        /* What a warehouse reading it safely accepts: no DTD, 64 levels. */
        char why[160];
        xmlDocPtr doc = ob_xml_read(req->body, req->body_len, why, sizeof why);
        ob_strlcpyf(what, what_size, doc ? "XML" : "XML (%s)", why);
        xmlFreeDoc(doc);
        return doc != NULL;
    }
    snprintf(what, what_size, "%s", type[0] ? type : "no Content-Type");
    return 1;
}

int ob_convert_check(const struct ob_adapter_instance *inst, char *summary, size_t summary_size,
                     char *errstr, size_t errstr_size)
{
    const struct ob_warehouse_conf *wh = inst->wh;
    struct ob_parsed_order *po = NULL;
    struct ob_order_problem problem;
    struct ob_request req = {0};
    char idem[65], what[64], err[1024] = "";
    int rc = -1;

    if (ob_order_parse(ob_example_order, sizeof(ob_example_order), 1 << 20, &po, &problem) != 0) {
        snprintf(errstr, errstr_size, "built-in example order: %s", problem.message);
        return -1;
    }
    ob_idempotency_key(wh->code, po->order.order_id, po->order.event_name, po->order.revision,
                       idem);
    struct ob_delivery delivery = {
        .warehouse = wh->code, .idempotency_key = idem, .trace_id = "check", .attempt = 1};
    if (inst->plugin.vt.encode(inst->state, &po->order, &delivery, &req, err, sizeof(err)) != 0 ||
        !req.url || !req.method) {
        ob_redact(err);
        snprintf(errstr, errstr_size,
                 "$.warehouses.%s: the contract's example order cannot be encoded: %s", wh->code,
                 err[0] ? err : "no request built");
        goto cleanup;
    }
    if (!body_well_formed(&req, what, sizeof(what))) {
        snprintf(errstr, errstr_size,
                 "$.warehouses.%s: the request body for the example order is not well-formed %s",
                 wh->code, what);
        goto cleanup;
    }
    /* Without the query, which may carry a key (Qimen's app_key). */
    snprintf(summary, summary_size, "example order -> %s %.*s, %zu-byte %s body", req.method,
             (int)strcspn(req.url, "?"), req.url, req.body_len, what);
    rc = 0;
cleanup:
    ob_request_reset(&req);
    ob_order_free(po);
    return rc;
}
