/*
 * fuzz_config — the config loader (src/config.c) on a fuzzed document:
 * either a config or one line per problem, never a crash. The env:
 * references of conf/ and tests/data/config/ resolve, so that the fuzzer
 * gets past credentials; file: references read what they name, so the
 * fuzzer runs with stdin closed or /dev/null (scripts/fuzz).
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const names[] = {
        "CLI_EMS_AUTH", "CLI_EMS_KEY",   "CLI_EMS_SENDER",        "CLI_TEST_TOKEN",
        "JD_BJ_TOKEN",  "SF_SH_TOKEN",   "SF_SH_WEBHOOK_SECRET",  "KAFKA_SASL_PASSWORD",
        "TOKEN",        "SECRET",
    };

    (void)argc;
    (void)argv;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (setenv(names[i], "fuzz-secret-value", 1) != 0)
            fuzz_fail("setenv %s failed", names[i]);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ob_config *cfg = NULL;
    char err[4096];

    err[0] = '\0';
    if (ob_config_parse((const char *)data, size, NULL, &cfg, err, sizeof(err)) != 0) {
        if (cfg)
            fuzz_fail("ob_config_parse failed but returned a config");
        FUZZ_CHECK_FIELD("errbuf", err);
        if (!err[0])
            fuzz_fail("ob_config_parse failed without a message");
        return 0;
    }
    if (!cfg)
        fuzz_fail("ob_config_parse succeeded without a config");
    for (size_t i = 0; i < cfg->n_warehouses; i++)
        if (ob_config_warehouse(cfg, cfg->warehouses[i].code) != &cfg->warehouses[i])
            fuzz_fail("warehouse %s is not found by its code", cfg->warehouses[i].code);
    ob_config_destroy(cfg);
    return 0;
}
