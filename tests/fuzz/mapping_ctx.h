/*
 * mapping_ctx.h — the rendering context the mapping fuzz targets share:
 * what an adapter offers a mapping (variables, an encrypt callback), at a
 * fixed time so that runs repeat. Static functions: include it once.
 */
#ifndef OB_FUZZ_MAPPING_CTX_H
#define OB_FUZZ_MAPPING_CTX_H

#include <string.h>

#include <orderbridge/mapping.h>
#include <orderbridge/sdk.h>

#define FUZZ_NOW_MS 1700000000123LL /* 2023-11-14T22:13:20.123Z */

static const char *fuzz_variable(void *arg, const char *name)
{
    (void)arg;
    if (strcmp(name, "credential.partner_id") == 0)
        return "SKE_OB_0001";
    if (strcmp(name, "credential.token") == 0)
        return "mapping-test-token";
    if (strcmp(name, "setting.owner") == 0)
        return "SKECHERS & <co>";
    return NULL;
}

/* `| encrypt:pii`: AES-128-ECB, Base64; any other key is unknown. */
static int fuzz_encrypt(void *arg, const char *key_name, const char *in, size_t len,
                        struct ob_buf *out, char *errstr, size_t errstr_size)
{
    static const unsigned char key[16] = "0123456789abcdef";
    struct ob_buf sealed;
    int rc;

    (void)arg;
    if (strcmp(key_name, "pii") != 0) {
        ob_strlcpyf(errstr, errstr_size, "unknown key %s", key_name);
        return -1;
    }
    ob_buf_init(&sealed, 1 << 20);
    rc = ob_encrypt(OB_AES_128_ECB, key, sizeof(key), NULL, 0, NULL, 0, in, len, &sealed);
    if (rc == 0)
        rc = ob_base64_encode(sealed.data ? sealed.data : "", sealed.len, out);
    if (rc != 0)
        ob_strlcpyf(errstr, errstr_size, "cannot encrypt");
    ob_buf_reset(&sealed);
    return rc;
}

static struct ob_mapping_context fuzz_mapping_context(const void *order_doc)
{
    struct ob_mapping_context ctx = {
        .order_doc = order_doc,
        .warehouse = "WH-1",
        .idempotency_key = "5484455c515c2030d527a911ca07d25965211af9b6967898ebf4ede2539aa282",
        .attempt = 2,
        .now_ms = FUZZ_NOW_MS,
        .time_zone = "Asia/Shanghai",
        .variable = fuzz_variable,
        .encrypt = fuzz_encrypt,
    };
    return ctx;
}

#endif
