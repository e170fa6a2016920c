/*
 * orderbridge mappings — declarative warehouse documents (part of the SDK).
 *
 * A mapping is a file that looks like the document a warehouse receives,
 * with placeholders for order fields:
 *
 *   mappings/example.xml
 *     <request>
 *       <orderCode>{{ order_id }}</orderCode>
 *       <remark>{{ remark | truncate:200 }}</remark>
 *       <items>{{#each items}}
 *         <item><sku>{{ sku }}</sku><price>{{ unit_price | fen }}</price></item>{{/each}}
 *       </items>
 *     </request>
 *
 * The file's extension picks the output format (.json, .xml, .form,
 * .txt), and every value is escaped for that format, so no order field can
 * break the document. docs/mappings.md describes the language.
 */
#ifndef ORDERBRIDGE_MAPPING_H
#define ORDERBRIDGE_MAPPING_H

#include <stddef.h>
#include <stdint.h>

#include <orderbridge/sdk.h>

#ifdef __cplusplus
extern "C" {
#endif

enum ob_mapping_format {
    OB_MAPPING_TEXT = 1, /* values inserted as they are */
    OB_MAPPING_JSON,     /* each placeholder becomes one JSON value: "text", 12, null */
    OB_MAPPING_XML,      /* values escaped as XML text */
    OB_MAPPING_FORM,     /* lines "key = template"; rendered to parameters */
};

struct ob_mapping;

/* What a rendering may read besides the order. All members but order_doc
 * are optional (NULL / 0). */
struct ob_mapping_context {
    const void *order_doc;       /* the order.v1 document, a jansson json_t * */
    const char *warehouse;       /* {{ @warehouse }} */
    const char *idempotency_key; /* {{ @idempotency_key }} */
    int attempt;                 /* {{ @attempt }} */
    int64_t now_ms;              /* {{ @now_ms }}, and `now:` formats; 0 = the clock */
    const char *time_zone;       /* for `date:` and `now:`; default "Asia/Shanghai" */

    /* {{ @NAME }} for other names (e.g. "credential.token", "setting.partner_id"):
     * the value, or NULL when unknown (an error). */
    const char *(*variable)(void *arg, const char *name);
    /* `| encrypt:KEY`: append the encrypted, encoded form of `in` to `out`.
     * Returns 0, or -1 with errstr set. */
    int (*encrypt)(void *arg, const char *key_name, const char *in, size_t len, struct ob_buf *out,
                   char *errstr, size_t errstr_size);
    void *arg;
};

/* Parse a mapping file; the format comes from its extension. Included
 * files ({{> other.json }}) are read relative to its folder. Errors name
 * the file and line. */
int ob_mapping_load(const char *path, struct ob_mapping **out, char *errstr, size_t errstr_size);

/* Parse a mapping from memory; `dir` is where includes are looked up (NULL: none allowed). */
int ob_mapping_parse(const char *text, size_t len, enum ob_mapping_format format,
                     const char *origin, const char *dir, struct ob_mapping **out, char *errstr,
                     size_t errstr_size);

enum ob_mapping_format ob_mapping_format_of(const struct ob_mapping *m);

/* Render a TEXT, JSON or XML mapping, appending to `out`. */
int ob_mapping_render(const struct ob_mapping *m, const struct ob_mapping_context *ctx,
                      struct ob_buf *out, char *errstr, size_t errstr_size);

/* Render a FORM mapping to parameters (values not yet URL-encoded). */
int ob_mapping_render_params(const struct ob_mapping *m, const struct ob_mapping_context *ctx,
                             struct ob_params *out, char *errstr, size_t errstr_size);

void ob_mapping_free(struct ob_mapping *m);

#ifdef __cplusplus
}
#endif
#endif
