/*
 * harness.c — the fuzz targets' shared fixture (see fuzz.h): one config
 * with a warehouse per adapter, its secrets in the environment as the
 * unit tests (tests/unit/test_wh_*.c, test_cb_*.c) set them, every adapter
 * opened through the bridge's loader from this build's adapters/.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

#ifndef OB_BUILD_DIR
#error "OB_BUILD_DIR must be defined (tests/fuzz/CMakeLists.txt)"
#endif
#ifndef OB_SOURCE_DIR
#error "OB_SOURCE_DIR must be defined (tests/fuzz/CMakeLists.txt)"
#endif

void fuzz_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("fuzz: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

char *fuzz_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto cleanup;
    buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) {
        buf[n] = '\0';
        *len = (size_t)n;
    }
cleanup:
    fclose(f);
    return buf;
}

void fuzz_check_terminated(const char *what, const char *s, size_t size)
{
    if (!memchr(s, '\0', size))
        fuzz_fail("%s: not NUL-terminated within its %zu bytes", what, size);
}

/* ---- the warehouses ------------------------------------------------------- */

static const struct {
    const char *name, *value;
} secrets[] = {
    {"OB_FUZZ_REST_TOKEN", "rest-t0ken-9f8e7d"},
    {"OB_FUZZ_REST_WEBHOOK_SECRET", FUZZ_REST_WEBHOOK_SECRET},
    {"OB_FUZZ_MAP_TOKEN", "mapping-test-token"},
    {"OB_FUZZ_MAP_PII_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}, /* 32 bytes */
    {"OB_FUZZ_MAP_LEGACY_KEY", "00112233445566778899aabbccddeeff"},           /* 16 bytes */
    {"OB_FUZZ_MAP_SIGN_KEY", "sign-secret"},
    {"OB_FUZZ_SF_PARTNER_ID", "SKE_OB_0001"},
    {"OB_FUZZ_SF_CHECK_WORD", "cHk-W0rd_~*.sf 9"},
    {"OB_FUZZ_SF_CALLBACK_TOKEN", FUZZ_SF_CALLBACK_TOKEN},
    {"OB_FUZZ_CAINIAO_SECRET", "LINK-s3cret-1"},
    {"OB_FUZZ_QIMEN_APP_KEY", FUZZ_QIMEN_APP_KEY},
    {"OB_FUZZ_QIMEN_SECRET", FUZZ_QIMEN_SECRET},
    {"OB_FUZZ_EMS_SENDER_NO", "1100099887766"},
    {"OB_FUZZ_EMS_AUTHORIZATION", "K7+gq/Zp=&Auth 9~"},
    {"OB_FUZZ_EMS_SIGN_KEY", "2ouV+lWaceIgWcOCEGJuSg=="},
};

/* In the order of enum fuzz_wh. Written with single quotes (see J()). */
static const char *const codes[FUZZ_N_WH] = {
    "REST-1", "MAP-JSON", "MAP-CRYPT", "MAP-XML", "SF-1", "CN-1", "QM-1", "EMS-1",
};

#define CONFIG                                                                                    \
    "{'kafka':{'bootstrap_servers':'k1:9092'},"                                                   \
    "'adapter_path':['" OB_BUILD_DIR "/adapters'],"                                               \
    "'warehouses':{"                                                                              \
    "'REST-1':{'adapter':'rest','endpoint':'https://wms-sh.example.com/api/v1/',"                 \
    "'credentials':{'token':'env:OB_FUZZ_REST_TOKEN',"                                            \
    "'webhook_secret':'env:OB_FUZZ_REST_WEBHOOK_SECRET'},"                                        \
    "'settings':{'shipping_methods':{'express':'Expedited','normal':'Standard'},"                 \
    "'default_shipping_method':'Ground'}},"                                                       \
    "'MAP-JSON':{'adapter':'mapping','endpoint':'http://127.0.0.1:18080',"                        \
    "'credentials':{'token':'env:OB_FUZZ_MAP_TOKEN'},"                                            \
    "'settings':{'request':{'method':'POST','path':'/orders/{{ order_id }}',"                     \
    "'body':'" OB_SOURCE_DIR "/mappings/rest.json','content_type':'application/json',"            \
    "'headers':{'Authorization':'Bearer {{ @credential.token }}',"                                \
    "'Idempotency-Key':'{{ @idempotency_key }}'}},"                                               \
    "'answers':["                                                                                 \
    "{'status':[200,201],'outcome':'accepted','warehouse_order_id':'id'},"                        \
    "{'status':[422],'body_contains':'Duplicate reference ID','outcome':'accepted'},"             \
    "{'json':{'path':'error.code','equals':'BUSY'},'outcome':'retry'},"                           \
    "{'json':{'path':'data.ok','equals':'false'},'outcome':'permanent'}]}},"                      \
    "'MAP-CRYPT':{'adapter':'mapping','endpoint':'http://h',"                                     \
    "'credentials':{'pii':'env:OB_FUZZ_MAP_PII_KEY','legacy':'env:OB_FUZZ_MAP_LEGACY_KEY',"       \
    "'sign':'env:OB_FUZZ_MAP_SIGN_KEY'},"                                                         \
    "'settings':{'request':{'path':'/o','body':'" OB_SOURCE_DIR                                   \
    "/tests/data/mappings/encrypted.json','content_type':'application/json'},"                    \
    "'keys':{'pii':{'cipher':'aes-256-gcm','credential':'pii'},"                                  \
    "'legacy':{'cipher':'sm4-ecb','credential':'legacy','key_encoding':'hex','output':'hex'}},"   \
    "'signature':{'header':'X-Sign','algorithm':'hmac-sha256','credential':'sign',"               \
    "'key_encoding':'raw','encoding':'base64'}}},"                                                \
    "'MAP-XML':{'adapter':'mapping','endpoint':'http://h',"                                       \
    "'settings':{'request':{'method':'PUT','path':'/xml','body':'" OB_SOURCE_DIR                  \
    "/mappings/cainiao.xml','content_type':'text/xml'},'time_zone':'UTC'}},"                      \
    "'SF-1':{'adapter':'sf_express','endpoint':'https://sfapi-sbox.sf-express.com/',"             \
    "'credentials':{'partner_id':'env:OB_FUZZ_SF_PARTNER_ID',"                                    \
    "'check_word':'env:OB_FUZZ_SF_CHECK_WORD','callback_token':'env:OB_FUZZ_SF_CALLBACK_TOKEN'}," \
    "'settings':{'express_type_id':2,'pay_method':3,'monthly_card':'7551234567',"                 \
    "'time_zone':'+08:00'}},"                                                                     \
    "'CN-1':{'adapter':'cainiao','endpoint':'https://link.cainiao.com/',"                         \
    "'credentials':{'secret':'env:OB_FUZZ_CAINIAO_SECRET'},"                                      \
    "'settings':{'logistic_provider_id':'LP-SKECHERS-01','to_code':'CN_WMS_HZ01',"                \
    "'time_zone':'Asia/Shanghai','retry_codes':['SYSTEM_BUSY','S07']}},"                          \
    "'QM-1':{'adapter':'qimen','endpoint':'http://wms-sg.example.com:8080/qimen/',"               \
    "'credentials':{'app_key':'env:OB_FUZZ_QIMEN_APP_KEY','secret':'env:OB_FUZZ_QIMEN_SECRET'},"  \
    "'settings':{'customer_id':'" FUZZ_QIMEN_CUSTOMER "','owner_code':'SKECHERS',"                \
    "'warehouse_code':'WH-SG','order_type':'PTCK','retry_codes':['SYSTEM_BUSY','lock.*'],"        \
    "'duplicate_codes':['ORDER_EXISTS']}},"                                                       \
    "'EMS-1':{'adapter':'ems','endpoint':'https://api.ems.com.cn/amp-prod-api/f/amp/api/test',"   \
    "'credentials':{'sender_no':'env:OB_FUZZ_EMS_SENDER_NO',"                                     \
    "'authorization':'env:OB_FUZZ_EMS_AUTHORIZATION','sign_key':'env:OB_FUZZ_EMS_SIGN_KEY'},"     \
    "'settings':{'retry_codes':['S99999']}}}}"

static struct {
    int open;
    struct ob_config *cfg;
    struct ob_adapter_instance *inst[FUZZ_N_WH];
    struct ob_parsed_order *example;
    char *example_text;
} fx;

void fuzz_open_adapters(void)
{
    static char json[sizeof(CONFIG)];
    char err[2048];

    if (fx.open)
        return;
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        if (setenv(secrets[i].name, secrets[i].value, 1) != 0)
            fuzz_fail("setenv %s failed", secrets[i].name);
    unsetenv("OB_ADAPTER_PATH"); /* this build's adapters, from adapter_path */
    for (size_t i = 0; i < sizeof(CONFIG); i++)
        json[i] = CONFIG[i] == '\'' ? '"' : CONFIG[i];
    if (ob_config_parse(json, strlen(json), NULL, &fx.cfg, err, sizeof(err)) != 0)
        fuzz_fail("config: %s", err);
    for (int i = 0; i < FUZZ_N_WH; i++) {
        const struct ob_warehouse_conf *wh = ob_config_warehouse(fx.cfg, codes[i]);
        if (!wh || ob_adapter_open(fx.cfg, wh, &fx.inst[i], err, sizeof(err)) != 0)
            fuzz_fail("adapter of %s: %s", codes[i], wh ? err : "not configured");
    }
    fx.open = 1;
}

struct ob_adapter_instance *fuzz_adapter(enum fuzz_wh wh)
{
    if (!fx.open || wh < 0 || wh >= FUZZ_N_WH)
        fuzz_fail("fuzz_adapter(%d) before fuzz_open_adapters()", (int)wh);
    return fx.inst[wh];
}

const char *fuzz_wh_name(enum fuzz_wh wh)
{
    return wh >= 0 && wh < FUZZ_N_WH ? codes[wh] : "?";
}

struct ob_delivery fuzz_delivery(enum fuzz_wh wh)
{
    struct ob_delivery d = {
        .warehouse = fuzz_wh_name(wh),
        .idempotency_key = "5484455c515c2030d527a911ca07d25965211af9b6967898ebf4ede2539aa282",
        .trace_id = "fuzz-1",
        .attempt = 1,
    };
    return d;
}

const struct ob_parsed_order *fuzz_example_order(void)
{
    struct ob_order_problem problem;
    size_t len = 0;

    if (fx.example)
        return fx.example;
    fx.example_text = fuzz_read_file(OB_SOURCE_DIR "/contracts/example-order.json", &len);
    if (!fx.example_text)
        fuzz_fail("cannot read contracts/example-order.json");
    if (ob_order_parse(fx.example_text, len, 1 << 20, &fx.example, &problem) != 0)
        fuzz_fail("example order: %s", problem.message);
    return fx.example;
}

/* ---- HTTP-like inputs ------------------------------------------------------ */

static char *copy(const uint8_t *p, size_t len)
{
    char *s = malloc(len + 1);

    if (!s)
        fuzz_fail("out of memory");
    if (len)
        memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

void fuzz_message_parse(const uint8_t *data, size_t size, struct fuzz_message *m)
{
    size_t at = 0;

    memset(m, 0, sizeof(*m));
    while (at < size && m->n_lines < FUZZ_MAX_LINES) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t end = nl ? (size_t)(nl - data) : size;
        size_t len = end - at;

        if (len > 0 && data[at + len - 1] == '\r')
            len--;
        if (len == 0 && nl) { /* the empty line: the body follows */
            at = end + 1;
            break;
        }
        m->lines[m->n_lines++] = copy(data + at, len);
        at = nl ? end + 1 : size;
    }
    m->body_len = size - at;
    m->body = copy(data + at, m->body_len);
}

void fuzz_message_free(struct fuzz_message *m)
{
    for (size_t i = 0; i < m->n_lines; i++)
        free(m->lines[i]);
    free(m->body);
    memset(m, 0, sizeof(*m));
}

int fuzz_header(char *line, struct ob_header *h)
{
    char *colon = strchr(line, ':');
    char *value;

    if (!colon)
        return -1;
    *colon = '\0';
    value = colon + 1;
    while (*value == ' ' || *value == '\t')
        value++;
    h->name = line;
    h->value = value;
    return 0;
}
