/*
 * fuzz_mapping_order — fuzzed orders through every shipped mapping
 * (every file in mappings/): the bytes are decoded as order.v1 and, when valid,
 * rendered by each mapping. The promise checked is docs/mappings.md's: no
 * order field can change the structure of the document, so a JSON mapping
 * that renders gives JSON and an XML mapping well-formed XML (a value XML
 * cannot carry fails the rendering instead).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libxml/parser.h>

#include "fuzz.h"
#include "mapping_ctx.h"

#ifndef OB_SOURCE_DIR
#error "OB_SOURCE_DIR must be defined (tests/fuzz/CMakeLists.txt)"
#endif

#define MAX_MAPPINGS 32

static struct {
    char *name[MAX_MAPPINGS];
    struct ob_mapping *m[MAX_MAPPINGS];
    size_t n;
} shipped;

static int skip_entry(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct dirent **names = NULL;
    int count;

    (void)argc;
    (void)argv;
    xmlInitParser();
    count = scandir(OB_SOURCE_DIR "/mappings", &names, skip_entry, alphasort);
    if (count <= 0)
        fuzz_fail("no mappings in " OB_SOURCE_DIR "/mappings");
    for (int i = 0; i < count; i++) {
        char path[4096], err[512];
        snprintf(path, sizeof(path), "%s/%s", OB_SOURCE_DIR "/mappings", names[i]->d_name);
        if (shipped.n < MAX_MAPPINGS) {
            if (ob_mapping_load(path, &shipped.m[shipped.n], err, sizeof(err)) != 0)
                fuzz_fail("shipped mapping does not load: %s", err);
            shipped.name[shipped.n++] = strdup(names[i]->d_name);
        }
        free(names[i]);
    }
    free(names);
    return 0;
}

static void render(size_t i, const struct ob_parsed_order *po)
{
    struct ob_mapping_context ctx = fuzz_mapping_context(po->doc);
    enum ob_mapping_format format = ob_mapping_format_of(shipped.m[i]);
    char err[512] = "";
    struct ob_buf out;

    if (format == OB_MAPPING_FORM) {
        struct ob_params params = {0};
        ob_mapping_render_params(shipped.m[i], &ctx, &params, err, sizeof(err));
        ob_params_free(&params);
        return;
    }
    ob_buf_init(&out, 1 << 20);
    if (ob_mapping_render(shipped.m[i], &ctx, &out, err, sizeof(err)) == 0) {
        const char *text = out.data ? out.data : "";
        if (format == OB_MAPPING_JSON) {
            json_error_t jerr;
            json_t *doc = json_loadb(text, out.len, JSON_DECODE_ANY, &jerr);
            if (!doc)
                fuzz_fail("mappings/%s rendered something that is not JSON (%s at %d): %s",
                          shipped.name[i], jerr.text, jerr.position, text);
            json_decref(doc);
        } else if (format == OB_MAPPING_XML) {
            xmlDoc *doc = xmlReadMemory(text, (int)out.len, NULL, "UTF-8",
                                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
            if (!doc)
                fuzz_fail("mappings/%s rendered XML that is not well-formed: %s", shipped.name[i],
                          text);
            xmlFreeDoc(doc);
        }
    } else {
        FUZZ_CHECK_FIELD("render errstr", err);
    }
    ob_buf_reset(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ob_parsed_order *po = NULL;
    struct ob_order_problem problem;

    if (ob_order_parse(data, size, 1 << 20, &po, &problem) != 0)
        return 0;
    for (size_t i = 0; i < shipped.n; i++)
        render(i, po);
    ob_order_free(po);
    return 0;
}
