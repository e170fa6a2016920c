/*
 * warehouses.c — the bench's warehouses: one per adapter, configured as
 * `orderbridge demo` configures them, each with a clean simulator of its
 * kind (no faults, no status reports).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "sim.h"

#ifndef OB_SOURCE_DIR
#error "OB_SOURCE_DIR must be defined (bench/CMakeLists.txt)"
#endif
#ifndef OB_ADAPTER_DIR
#error "OB_ADAPTER_DIR must be defined (bench/CMakeLists.txt)"
#endif

/* name, value pairs; the values are made up, the names are the demo's */
static const char *const cred_rest[] = {"token", "bench-rest-token-7f3a9c",
                                        "webhook_secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                        NULL};
static const char *const cred_map[] = {"token", "bench-map-token-51be02", NULL};
static const char *const cred_sf[] = {"partner_id", "SKE_OB_BENCH", "check_word",
                                      "bench-check-word-9d1", "callback_token",
                                      "bench-cb-token-0c4e", NULL};
static const char *const cred_cainiao[] = {"secret", "bench-cainiao-secret-77", NULL};
static const char *const cred_qimen[] = {"app_key", "23456789", "secret",
                                         "bench-qimen-secret-3b", NULL};
static const char *const cred_ems[] = {"sender_no", "1100099887766", "authorization",
                                       "bench-ems-auth-41", "sign_key",
                                       "2ouV+lWaceIgWcOCEGJuSg==", NULL}; /* SM4: 16 bytes */
static const char *const fixed_cainiao[] = {"logistic_provider_id", "LP-DEMO-01", NULL};
static const char *const fixed_qimen[] = {"customer_id", "c-demo-01", NULL};

static struct {
    const char *code, *adapter, *profile;
    const char *const *credentials; /* name, value pairs */
    const char *const *sim_fixed;   /* name, value pairs only the simulator needs */
    const char *settings;           /* JSON; "%M" stands for the mappings folder */
    struct ob_sim *sim;
} whs[N_WH] = {
    [WH_REST] = {"REST-1", "rest", "rest", cred_rest, NULL,
                 "{\"shipping_methods\": {\"express\": \"Expedited\"}}", NULL},
    [WH_SF] = {"SF-1", "sf_express", "sf_express", cred_sf, NULL, "{\"express_type_id\": 2}", NULL},
    [WH_CAINIAO] = {"CN-1", "cainiao", "cainiao", cred_cainiao, fixed_cainiao,
                    "{\"logistic_provider_id\": \"LP-DEMO-01\"}", NULL},
    [WH_QIMEN] = {"QM-1", "qimen", "qimen", cred_qimen, fixed_qimen,
                  "{\"customer_id\": \"c-demo-01\", \"owner_code\": \"DEMO\"}", NULL},
    [WH_EMS] = {"EMS-1", "ems", "ems", cred_ems, NULL, "{}", NULL},
    [WH_MAPPING] = {"MAP-1", "mapping", "rest", cred_map, NULL,
                    "{\"request\": {\"path\": \"/orders\", \"body\": \"%M/rest.json\","
                    " \"content_type\": \"application/json\", \"headers\": {"
                    " \"Authorization\": \"Bearer {{ @credential.token }}\","
                    " \"Idempotency-Key\": \"{{ @idempotency_key }}\"}},"
                    " \"answers\": [{\"status\": [201], \"outcome\": \"accepted\","
                    " \"warehouse_order_id\": \"id\"}, {\"status\": [422], \"body_contains\":"
                    " \"Duplicate reference ID\", \"outcome\": \"accepted\"}]}",
                    NULL},
};

const char *wh_adapter(int wh)
{
    return wh == WH_MIX ? "mix" : whs[wh].adapter;
}

const char *wh_code(int wh)
{
    return whs[wh].code;
}

int wh_by_name(const char *adapter)
{
    if (strcmp(adapter, "mix") == 0)
        return WH_MIX;
    for (int w = 0; w < N_WH; w++)
        if (strcmp(whs[w].adapter, adapter) == 0)
            return w;
    return -2;
}

static void env_name(char *out, size_t size, const char *code, const char *cred)
{
    size_t n = (size_t)snprintf(out, size, "OB_BENCH_%s_%s", code, cred);

    for (size_t i = 0; i < n && i < size; i++)
        out[i] = out[i] == '-' ? '_' : (char)toupper((unsigned char)out[i]);
}

void wh_set_credentials(void)
{
    char env[128];

    for (int w = 0; w < N_WH; w++)
        for (size_t c = 0; whs[w].credentials[c]; c += 2) {
            env_name(env, sizeof(env), whs[w].code, whs[w].credentials[c]);
            setenv(env, whs[w].credentials[c + 1], 1);
        }
}

/* The simulator's secrets: the credentials, then the fixed pairs. */
static void sim_secrets(int w, struct ob_sim_secret *out, size_t max)
{
    size_t n = 0;

    for (size_t c = 0; whs[w].credentials[c] && n + 1 < max; c += 2)
        out[n++] = (struct ob_sim_secret){whs[w].credentials[c], whs[w].credentials[c + 1]};
    for (size_t f = 0; whs[w].sim_fixed && whs[w].sim_fixed[f] && n + 1 < max; f += 2)
        out[n++] = (struct ob_sim_secret){whs[w].sim_fixed[f], whs[w].sim_fixed[f + 1]};
    out[n] = (struct ob_sim_secret){NULL, NULL};
}

int wh_start_sims(unsigned mask, const struct bench_opts *o, size_t capacity, char *err,
                  size_t err_size)
{
    for (int w = 0; w < N_WH; w++) {
        struct ob_sim_secret secrets[8];
        struct ob_sim_options opt = {.threads = o->sim_threads, .seed = 7 + (unsigned long)w,
                                     .profile = whs[w].profile, .capacity = capacity};
        if (!(mask & (1u << w)))
            continue;
        sim_secrets(w, secrets, sizeof(secrets) / sizeof(secrets[0]));
        opt.secrets = secrets;
        whs[w].sim = ob_sim_start(&opt, err, err_size);
        if (!whs[w].sim) {
            wh_stop_sims();
            return -1;
        }
    }
    return 0;
}

void wh_stop_sims(void)
{
    for (int w = 0; w < N_WH; w++) {
        ob_sim_stop(whs[w].sim);
        whs[w].sim = NULL;
    }
}

unsigned short wh_port(int wh)
{
    return whs[wh].sim ? ob_sim_port(whs[wh].sim) : 0;
}

void wh_sim_totals(unsigned long *created, unsigned long *refused)
{
    *created = *refused = 0;
    for (int w = 0; w < N_WH; w++) {
        struct ob_sim_stats st;
        if (!whs[w].sim)
            continue;
        ob_sim_get_stats(whs[w].sim, &st);
        *created += st.created;
        *refused += st.unauthorized + st.bad_requests + st.bad_signatures + st.key_mismatches;
    }
}

/* The adapter's settings, the mappings folder put in for "%M". */
static json_t *wh_settings(int w)
{
    const char *text = whs[w].settings, *m = strstr(text, "%M");
    char *expanded = NULL;
    json_t *settings;

    if (m && asprintf(&expanded, "%.*s%s%s", (int)(m - text), text, OB_SOURCE_DIR "/mappings",
                      m + 2) < 0)
        return NULL;
    settings = json_loads(expanded ? expanded : text, 0, NULL);
    free(expanded);
    return settings;
}

static json_t *wh_block(int w)
{
    json_t *creds = json_object();
    char env[128], ref[160], endpoint[64];

    for (size_t c = 0; whs[w].credentials[c]; c += 2) {
        env_name(env, sizeof(env), whs[w].code, whs[w].credentials[c]);
        snprintf(ref, sizeof(ref), "env:%s", env);
        json_object_set_new(creds, whs[w].credentials[c], json_string(ref));
    }
    /* no simulator (in-process encoding): a port nothing listens on */
    snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%u", wh_port(w) ? wh_port(w) : 9);
    return json_pack("{s:s, s:s, s:o, s:o}", "adapter", whs[w].adapter, "endpoint", endpoint,
                     "credentials", creds, "settings", wh_settings(w));
}

json_t *wh_config(const char *bootstraps, unsigned mask, const char *ledger_dir)
{
    json_t *blocks = json_object(), *cfg;
    int first = -1;

    for (int w = 0; w < N_WH; w++) {
        if (!(mask & (1u << w)))
            continue;
        json_object_set_new(blocks, whs[w].code, wh_block(w));
        if (first < 0)
            first = w;
    }
    /* Everything else is the bridge's default (fetch.wait.max.ms 10 among them). */
    cfg = json_pack("{s:{s:s, s:s}, s:[s], s:{s:s}, s:o, s:{s:s}}", "kafka",
                    "bootstrap_servers", bootstraps, "group_id", "ob-bench", "adapter_path",
                    OB_ADAPTER_DIR, "log", "level", "warn", "warehouses", blocks, "routing",
                    "default", first >= 0 ? whs[first].code : "REST-1");
    if (cfg && ledger_dir)
        json_object_set_new(cfg, "ledger", json_pack("{s:s}", "path", ledger_dir));
    return cfg;
}
