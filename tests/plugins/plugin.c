/*
 * plugin.c — adapter plugins for tests/unit/test_adapter.c, one per variant.
 *
 * tests/plugins/CMakeLists.txt compiles this file once per variant with
 * -DPLUGIN_<VARIANT> into ${CMAKE_BINARY_DIR}/test-plugins/ob-adapter-<x>.so:
 *
 *   PLUGIN_FUTURE     a working ABI-1 plugin from a "future" bridge whose struct
 *                     has members appended after destroy(); it records what
 *                     the loader handed to init() (struct probe_state)
 *   PLUGIN_BADABI     abi = OB_ADAPTER_ABI + 1
 *   PLUGIN_SHORT      a struct that stops before destroy()
 *   PLUGIN_NOENTRY    exports no ob_adapter_entry symbol
 *   PLUGIN_NULLENTRY  ob_adapter_entry() returns NULL
 *   PLUGIN_NOFUNC     decode_response is NULL
 *   PLUGIN_NONAME     name is NULL
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <orderbridge/adapter.h>

/* What init() saw. Mirrored in tests/unit/test_adapter.c: keep in sync. */
struct probe_state {
    uint32_t env_abi;
    uint32_t env_size;
    char warehouse[64];
    char endpoint[256];
    char token[128];
    int unknown_credential_is_null;
    int settings_was_null;
    int destroyed_marker;
};

#define PROBE_MARKER 0x0b0b0b0b

/* Not every variant uses every function below. */
#define MAYBE_UNUSED __attribute__((unused))

MAYBE_UNUSED static int probe_init(const struct ob_adapter_env *env, const void *settings, void **state,
                      char *errstr, size_t errstr_size)
{
    struct probe_state *s;
    const char *token = env->credential(env, "token");

    /* The endpoint steers failures, so the test needs no settings parser
     * here (the plugin links nothing but libc): ".../fail-with-message"
     * fails with a message, ".../fail-silently" fails without one. */
    if (env->endpoint && strstr(env->endpoint, "/fail-with-message")) {
        snprintf(errstr, errstr_size, "settings.fail: probe refused to start");
        return -1;
    }
    if (env->endpoint && strstr(env->endpoint, "/fail-silently"))
        return -1;
    s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    s->env_abi = env->abi;
    s->env_size = env->size;
    snprintf(s->warehouse, sizeof(s->warehouse), "%s", env->warehouse ? env->warehouse : "(null)");
    snprintf(s->endpoint, sizeof(s->endpoint), "%s", env->endpoint ? env->endpoint : "(null)");
    snprintf(s->token, sizeof(s->token), "%s", token ? token : "(null)");
    s->unknown_credential_is_null = env->credential(env, "no-such-credential") == NULL;
    s->settings_was_null = settings == NULL;
    s->destroyed_marker = PROBE_MARKER;
    env->log(env, OB_LOG_DEBUG, "probe plugin initialised for %s", env->warehouse);
    *state = s;
    return 0;
}

MAYBE_UNUSED static int probe_encode(void *state, const struct ob_order *order,
                        const struct ob_delivery *delivery, struct ob_request *out, char *errstr,
                        size_t errstr_size)
{
    (void)state;
    (void)order;
    (void)delivery;
    (void)out;
    snprintf(errstr, errstr_size, "probe plugin does not encode");
    return -1;
}

MAYBE_UNUSED static void probe_decode(void *state, const struct ob_order *order,
                         const struct ob_delivery *delivery, const struct ob_response *resp,
                         struct ob_outcome *out)
{
    (void)state;
    (void)order;
    (void)delivery;
    out->kind = resp->status == 201 ? OB_OUTCOME_ACCEPTED : OB_OUTCOME_PERMANENT;
    snprintf(out->reason, sizeof(out->reason), "probe %ld", resp->status);
}

MAYBE_UNUSED static void probe_destroy(void *state)
{
    free(state);
}

#define PROBE_FUNCS                                                                               \
    .init = probe_init, .encode = probe_encode, .decode_response = probe_decode,                  \
    .destroy = probe_destroy

#if defined(PLUGIN_FUTURE)

/* 128 'Z' bytes: the host must never copy these anywhere. */
#define Z16 "ZZZZZZZZZZZZZZZZ"
#define Z128 Z16 Z16 Z16 Z16 Z16 Z16 Z16 Z16

static int future_extra(void)
{
    return 42;
}

struct future_adapter {
    struct ob_adapter base;
    /* Members a later ABI-1 bridge appended. */
    int (*extra)(void);
    char tail[128];
};

static const struct future_adapter adapter = {
    .base = {.abi = OB_ADAPTER_ABI,
             .size = sizeof(struct future_adapter),
             .name = "future",
             .description = "ABI-1 plugin built against a newer, longer struct ob_adapter",
             PROBE_FUNCS},
    .extra = future_extra,
    .tail = Z128,
};

OB_ADAPTER_EXPORT const struct ob_adapter *ob_adapter_entry(void)
{
    return &adapter.base;
}

#elif defined(PLUGIN_BADABI)

static const struct ob_adapter adapter = {
    .abi = OB_ADAPTER_ABI + 1,
    .size = sizeof(struct ob_adapter),
    .name = "badabi",
    .description = "built for the next ABI",
    PROBE_FUNCS,
};

OB_ADAPTER_EXPORT const struct ob_adapter *ob_adapter_entry(void)
{
    return &adapter;
}

#elif defined(PLUGIN_SHORT)

/* struct ob_adapter as it would be without its last ABI-1 member. */
struct short_adapter {
    uint32_t abi;
    uint32_t size;
    const char *name;
    const char *description;
    void *init, *encode, *decode_response;
};

static const struct short_adapter adapter = {
    .abi = OB_ADAPTER_ABI,
    .size = sizeof(struct short_adapter),
    .name = "short",
    .description = "struct ends before destroy()",
    .init = (void *)1,
    .encode = (void *)1,
    .decode_response = (void *)1,
};

OB_ADAPTER_EXPORT const struct ob_adapter *ob_adapter_entry(void)
{
    return (const struct ob_adapter *)(const void *)&adapter;
}

#elif defined(PLUGIN_NOENTRY)

static const struct ob_adapter adapter = {
    .abi = OB_ADAPTER_ABI,
    .size = sizeof(struct ob_adapter),
    .name = "noentry",
    .description = "exports the wrong symbol name",
    PROBE_FUNCS,
};

/* A typo'd entry point: the loader must not find ob_adapter_entry. */
OB_ADAPTER_EXPORT const struct ob_adapter *ob_adapter_entry_point(void)
{
    return &adapter;
}

#elif defined(PLUGIN_NULLENTRY)

OB_ADAPTER_EXPORT const struct ob_adapter *ob_adapter_entry(void)
{
    return NULL;
}

#elif defined(PLUGIN_NOFUNC)

static const struct ob_adapter adapter = {
    .abi = OB_ADAPTER_ABI,
    .size = sizeof(struct ob_adapter),
    .name = "nofunc",
    .description = "decode_response missing",
    .init = probe_init,
    .encode = probe_encode,
    .decode_response = NULL,
    .destroy = probe_destroy,
};

OB_ADAPTER_EXPORT const struct ob_adapter *ob_adapter_entry(void)
{
    return &adapter;
}

#elif defined(PLUGIN_NONAME)

static const struct ob_adapter adapter = {
    .abi = OB_ADAPTER_ABI,
    .size = sizeof(struct ob_adapter),
    .name = NULL,
    .description = "name missing",
    PROBE_FUNCS,
};

OB_ADAPTER_EXPORT const struct ob_adapter *ob_adapter_entry(void)
{
    return &adapter;
}

#else
#error "define one PLUGIN_<VARIANT>"
#endif
