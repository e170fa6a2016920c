/*
 * fuzz_mapping — the mapping engine (sdk/mapping.c) on a fuzzed template:
 * the first byte picks the format (modulo 4: text, JSON, XML, form), the
 * rest is the mapping, parsed with includes allowed from mappings/ and,
 * when it parses, rendered against contracts/example-order.json. Parsing
 * and rendering either succeed or fail with a message.
 */
#include <string.h>

#include "fuzz.h"
#include "mapping_ctx.h"

#ifndef OB_SOURCE_DIR
#error "OB_SOURCE_DIR must be defined (tests/fuzz/CMakeLists.txt)"
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_example_order();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum ob_mapping_format formats[4] = {OB_MAPPING_TEXT, OB_MAPPING_JSON,
                                                      OB_MAPPING_XML, OB_MAPPING_FORM};
    struct ob_mapping *m = NULL;
    struct ob_mapping_context ctx = fuzz_mapping_context(fuzz_example_order()->doc);
    enum ob_mapping_format format;
    char err[512];

    if (size == 0)
        return 0;
    format = formats[data[0] % 4];
    err[0] = '\0';
    if (ob_mapping_parse((const char *)data + 1, size - 1, format, "fuzz", OB_SOURCE_DIR "/mappings",
                         &m, err, sizeof(err)) != 0) {
        FUZZ_CHECK_FIELD("parse errstr", err);
        if (m)
            fuzz_fail("ob_mapping_parse failed but returned a mapping");
        return 0;
    }
    if (ob_mapping_format_of(m) != format)
        fuzz_fail("format %d parsed as %d", (int)format, (int)ob_mapping_format_of(m));
    if (format == OB_MAPPING_FORM) {
        struct ob_params params = {0};
        ob_mapping_render_params(m, &ctx, &params, err, sizeof(err));
        ob_params_free(&params);
    } else {
        struct ob_buf out;
        ob_buf_init(&out, 1 << 20);
        if (ob_mapping_render(m, &ctx, &out, err, sizeof(err)) == 0 && out.failed)
            fuzz_fail("render succeeded into a failed buffer");
        ob_buf_reset(&out);
    }
    FUZZ_CHECK_FIELD("render errstr", err);
    ob_mapping_free(m);
    return 0;
}
