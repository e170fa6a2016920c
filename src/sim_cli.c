/*
 * sim_cli.c — `orderbridge sim`: one simulated warehouse for an integrator.
 *
 * Starts the simulator of sim/ (the one the demo and the tests use) with one
 * profile, prints where it listens, the credentials it expects as shell
 * `export` lines and the warehouse entry of a `run -c` config that reaches it
 * (between marker lines, so that a script can cut it out), then logs each
 * request and each callback on stderr until SIGINT or SIGTERM, and prints
 * its counters. The entry refers to the credentials as env: references, as
 * every config must. Their values go to stdout once, at start; the log lines
 * never carry them: the sim tells a request's method, path (no query), answer
 * and order reference only, and a callback's status code, order and answer
 * (not its URL, which holds sf_express's token).
 */
#include "sim_cli.h"

#include <ctype.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include <orderbridge/sdk.h>

#include "demo.h"
#include "sim.h"

#define MAX_CREDS 4
#define MAX_FIXED 8
#define VALUE_MAX 256
#define DEFAULT_BRIDGE "http://127.0.0.1:8080" /* http.listen of conf/example.json */
#define DEFAULT_STEP_MS 1000
#define POLL_INTERVAL_MS 1000
#define MARK_BEGIN "-----BEGIN ORDERBRIDGE WAREHOUSE-----"
#define MARK_END "-----END ORDERBRIDGE WAREHOUSE-----"

static const char sim_help[] =
    "usage: orderbridge sim --profile rest|sf_express|cainiao|qimen|ems [--port N]\n"
    "                       [--code CODE] [--credential NAME=VALUE]... [faults...]\n"
    "\n"
    "Start one simulated warehouse on this machine: the simulator the demo and the\n"
    "tests use, a real HTTP server. It checks every push as the real API does\n"
    "(credentials, signature or encryption, the request), dedupes by the order's\n"
    "business key, injects the faults asked for, and then reports each order's\n"
    "progress: rest, sf_express and qimen call the bridge back with signed\n"
    "callbacks, cainiao and ems answer the bridge's status polls.\n"
    "\n"
    "It prints on stdout where it listens, the credentials it expects (fresh\n"
    "random ones unless given) as `export NAME=VALUE` lines, the callback URL it\n"
    "calls, and the warehouse entry for the \"warehouses\" object of a `run -c`\n"
    "config, as JSON between the lines\n"
    "  " MARK_BEGIN "\n"
    "  " MARK_END "\n"
    "Then it logs one line per request on stderr (accepted, duplicate, rejected and\n"
    "why, status query, fault injected) and one per callback, until SIGINT or\n"
    "SIGTERM, and prints its counters. GET /stats on it gives them as JSON.\n"
    "\n"
    "  --profile NAME       the warehouse API: rest (a REST WMS, bearer token,\n"
    "                       Standard Webhooks callbacks), sf_express (SF Express),\n"
    "                       cainiao (Cainiao LINK, polled), qimen (Qimen), ems\n"
    "                       (China Post EMS, polled)\n"
    "  --adapter mapping    with --profile rest: print the entry for the mapping\n"
    "                       adapter instead (the same REST API described by\n"
    "                       mappings/rest.json, as the demo's MAP-BJ-02). The mapping\n"
    "                       adapter takes no callbacks and is not polled: none are\n"
    "                       sent. There is no other mapping profile: a warehouse of\n"
    "                       your own needs its own simulator\n"
    "  --code CODE          warehouse code in the entry (default REST-SIM, MAP-SIM,\n"
    "                       SF-SIM, CAINIAO-SIM, QIMEN-SIM or EMS-SIM); orders reach\n"
    "                       it when their \"warehouse\" is CODE, or by routing\n"
    "  --port N             port to listen on (default 0: a free one, printed)\n"
    "  --bind ADDR          address to listen on (default 127.0.0.1)\n"
    "  --credential NAME=VALUE\n"
    "                       a fixed credential instead of a random one (repeatable):\n"
    "                         rest        token, webhook_secret (whsec_<Base64>)\n"
    "                         sf_express  partner_id, check_word, callback_token\n"
    "                         cainiao     secret, logistic_provider_id (a setting)\n"
    "                         qimen       app_key, secret, customer_id (a setting)\n"
    "                         ems         sender_no, authorization, sign_key (the\n"
    "                                     Base64 text of 16 bytes)\n"
    "  --callback-url URL   the bridge's URL for this warehouse's callbacks (rest,\n"
    "                       sf_express, qimen); its path becomes the entry's\n"
    "                       callback.path, and sf_express calls URL/<callback_token>.\n"
    "                       Default " DEFAULT_BRIDGE "/callbacks/CODE: the bridge's\n"
    "                       config then needs \"http\": {\"listen\": \"127.0.0.1:8080\"}\n"
    "  --status-step-ms N   an order's n-th status happens n * N ms after it was\n"
    "                       created (default 1000)\n"
    "\n"
    "Faults (R is a probability from 0 to 1; default 0):\n"
    "  --fail-rate R        answer 503 without doing anything\n"
    "  --throttle-rate R    answer 429 with Retry-After: --retry-after S (default 1)\n"
    "  --reset-rate R       close the connection unanswered, before doing anything\n"
    "  --drop-answer-rate R create the order, then close the connection unanswered:\n"
    "                       the bridge must retry with the same key and take the\n"
    "                       warehouse's duplicate answer as success\n"
    "  --slow-rate R        create the order but answer only after --slow-ms N\n"
    "  --garbage-rate R     answer 200 with a body that is no answer (an HTML error\n"
    "                       page, JSON cut short, nothing); half of them after\n"
    "                       creating the order\n"
    "  --forge-rate R       callbacks: first a copy with a broken signature or token\n"
    "                       (the bridge must refuse it)\n"
    "  --replay-rate R      callbacks: the very same bytes again after success\n"
    "  --duplicate-rate R   callbacks: a status delivered twice, as two deliveries\n"
    "  --reorder-rate R     callbacks: an order's packed and shipped sent swapped\n"
    "  --seed S             seed of every fault decision (default 1): the same seed\n"
    "                       and requests, the same faults\n"
    "\n"
    "The credentials are printed once, on stdout; the log lines never carry them.\n"
    "Exit status 0 after SIGINT or SIGTERM, 1 when it cannot start, 2 for bad\n"
    "options.\n";

enum status_source { STATUS_NONE, STATUS_CALLBACK, STATUS_POLL };

/* What one profile needs on the sim's side and the bridge's. */
struct kind {
    const char *profile, *adapter, *code;
    const char *const *credentials; /* the adapter's credentials; the sim knows them too */
    const char *id_setting;         /* an id the sim checks and the adapter sends, or NULL */
    const char *settings;           /* further adapter settings as JSON, or NULL */
    enum status_source status;
};

static const char *const cred_rest[] = {"token", "webhook_secret", NULL};
static const char *const cred_token[] = {"token", NULL};
static const char *const cred_sf[] = {"partner_id", "check_word", "callback_token", NULL};
static const char *const cred_cainiao[] = {"secret", NULL};
static const char *const cred_qimen[] = {"app_key", "secret", NULL};
static const char *const cred_ems[] = {"sender_no", "authorization", "sign_key", NULL};

static const struct kind kinds[] = {
    {"rest", "rest", "REST-SIM", cred_rest, NULL, NULL, STATUS_CALLBACK},
    {"rest", "mapping", "MAP-SIM", cred_token, NULL, NULL, STATUS_NONE},
    {"sf_express", "sf_express", "SF-SIM", cred_sf, NULL, NULL, STATUS_CALLBACK},
    {"cainiao", "cainiao", "CAINIAO-SIM", cred_cainiao, "logistic_provider_id", NULL, STATUS_POLL},
    {"qimen", "qimen", "QIMEN-SIM", cred_qimen, "customer_id", "{\"owner_code\": \"SIM\"}",
     STATUS_CALLBACK},
    {"ems", "ems", "EMS-SIM", cred_ems, NULL, NULL, STATUS_POLL},
};

struct cred {
    const char *name;
    char env[160];          /* the environment variable the entry refers to */
    char value[VALUE_MAX];
};

struct cli {
    const struct kind *kind;
    const char *code, *bind, *callback_url;
    unsigned port, step_ms;
    const char *fixed[MAX_FIXED]; /* NAME=VALUE as given */
    size_t n_fixed;
    struct cred creds[MAX_CREDS + 1]; /* the credentials, then the id setting */
    size_t n_creds;
    char cb_base[1024];  /* the bridge's callback URL for this warehouse */
    char cb_path[1024];  /* its path: callback.path */
    char cb_url[1400];   /* what the sim calls */
    int cb_loopback;
    struct ob_sim_options opt;
    /* failed callback attempts are retried for ever: one line a second for them all */
    time_t cb_fail_logged;
    unsigned long cb_fail_quiet;
};

/* ---- the log ------------------------------------------------------------- */

static void clock_text(char *out, size_t size)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    snprintf(out, size, "%02d:%02d:%02d.%03ld", tm.tm_hour, tm.tm_min, tm.tm_sec,
             ts.tv_nsec / 1000000L);
}

/* Client-chosen text, made safe for a terminal: control bytes become '?'. */
static void printable(const char *in, char *out, size_t size)
{
    size_t n = 0;

    for (; in != NULL && *in != '\0' && n + 1 < size; in++, n++)
        out[n] = (unsigned char)*in < 0x20 || *in == 0x7f ? '?' : *in;
    out[n] = '\0';
}

static const char *outcome_of(const struct ob_sim_request_event *ev)
{
    unsigned c = ev->counted;

    if (c & (1u << OB_SIM_CREATED))
        return "accepted";
    if (c & (1u << OB_SIM_DUPLICATE))
        return c & (1u << OB_SIM_KEY_MISMATCH) ? "duplicate (differing from the first)"
                                               : "duplicate";
    if (c & (1u << OB_SIM_UNAUTHORIZED))
        return "rejected: unauthorized";
    if (c & (1u << OB_SIM_BAD_SIGNATURE))
        return "rejected: bad signature";
    if (c & (1u << OB_SIM_BAD_REQUEST))
        return "rejected: bad request";
    if (ev->status == 413)
        return "rejected: too large";
    if (ev->looked_up)
        return "status query";
    if (ev->fault != NULL && strcmp(ev->fault, "slow") != 0)
        return NULL; /* nothing happened but the fault */
    return ev->status >= 400 || ev->status == 0 ? "rejected" : "answered";
}

static void on_request(void *arg, const struct ob_sim_request_event *ev)
{
    const struct cli *cli = arg;
    char when[32], method[32], path[256], ref[160], status[16];
    const char *outcome = outcome_of(ev);

    clock_text(when, sizeof(when));
    printable(ev->method, method, sizeof(method));
    printable(ev->path, path, sizeof(path));
    printable(ev->order_ref, ref, sizeof(ref));
    if (ev->status > 0)
        snprintf(status, sizeof(status), "%d", ev->status);
    else
        snprintf(status, sizeof(status), "no answer");
    fprintf(stderr, "%s %s %s %s: %s%s%s%s%s%s%s\n", when, cli->code, method, path, status,
            outcome ? ", " : "", outcome ? outcome : "", outcome && ref[0] ? " " : "",
            outcome && ref[0] ? ref : "", ev->fault ? ", fault injected: " : "",
            ev->fault ? ev->fault : "");
}

/* Runs on the sim's one sender thread: cli's cb_fail_* need no lock. */
static void on_callback(void *arg, const struct ob_sim_report *r)
{
    struct cli *cli = arg;
    char when[32], ref[160], code[64], answer[48], quiet[64] = "";
    const char *kind = strcmp(r->kind, "tamper") == 0      ? " (forged copy)"
                       : strcmp(r->kind, "replay") == 0    ? " (replayed)"
                       : strcmp(r->kind, "duplicate") == 0 ? " (second delivery)"
                                                           : "";

    /* a report and a second delivery are sent until taken; the others once */
    int again = !r->answered_ok &&
                (strcmp(r->kind, "report") == 0 || strcmp(r->kind, "duplicate") == 0);

    if (again) {
        time_t now = time(NULL);
        if (now == cli->cb_fail_logged) {
            cli->cb_fail_quiet++;
            return;
        }
        if (cli->cb_fail_quiet)
            snprintf(quiet, sizeof(quiet), " (and %lu more failed attempts)", cli->cb_fail_quiet);
        cli->cb_fail_logged = now;
        cli->cb_fail_quiet = 0;
    }
    clock_text(when, sizeof(when));
    printable(r->order_ref, ref, sizeof(ref));
    printable(r->code, code, sizeof(code));
    if (r->http_status == 0)
        snprintf(answer, sizeof(answer), "no answer%s", again ? ", sent again later" : "");
    else
        snprintf(answer, sizeof(answer), "%d, %s%s", r->http_status,
                 r->answered_ok ? "taken" : "refused", again ? ", sent again later" : "");
    fprintf(stderr, "%s %s callback %s for %s%s: %s%s\n", when, cli->code, code, ref, kind, answer,
            quiet);
}

/* ---- options ------------------------------------------------------------- */

static int parse_rate(const char *text, double *out)
{
    char *end;
    double v = strtod(text, &end);

    if (end == text || *end != '\0' || !(v >= 0.0 && v <= 1.0))
        return -1;
    *out = v;
    return 0;
}

static int parse_uint(const char *text, unsigned long max, unsigned *out)
{
    char *end;
    unsigned long v;

    if (!isdigit((unsigned char)text[0]))
        return -1;
    v = strtoul(text, &end, 10);
    if (*end != '\0' || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* A warehouse code as the config takes it: 1-64 of A-Z a-z 0-9 _ . - */
static int valid_code(const char *code)
{
    size_t n = strlen(code);

    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)code[i]) && !strchr("_.-", code[i]))
            return 0;
    return 1;
}

/* http(s)://host[:port]/path, without a query, fragment, space or trailing '/'. */
static int split_callback_url(struct cli *cli, const char *url)
{
    const char *host, *path;

    if (strncmp(url, "http://", 7) == 0)
        host = url + 7;
    else if (strncmp(url, "https://", 8) == 0)
        host = url + 8;
    else
        return -1;
    path = strchr(host, '/');
    if (path == NULL || path == host || path[1] == '\0' || strpbrk(url, "?# ") != NULL ||
        url[strlen(url) - 1] == '/' || strlen(url) >= sizeof(cli->cb_base))
        return -1;
    snprintf(cli->cb_base, sizeof(cli->cb_base), "%s", url);
    snprintf(cli->cb_path, sizeof(cli->cb_path), "%s", path);
    cli->cb_loopback = strncmp(host, "127.0.0.1", 9) == 0 || strncmp(host, "localhost", 9) == 0 ||
                       strncmp(host, "[::1]", 5) == 0;
    return 0;
}

/* Base64 text that decodes to min..max bytes. */
static int base64_of(const char *text, size_t min, size_t max)
{
    struct ob_buf b;
    int ok;

    ob_buf_init(&b, 4096);
    ok = ob_base64_decode(text, strlen(text), &b) == 0 && b.len >= min && b.len <= max;
    ob_buf_cleanse(&b);
    return ok;
}

/* A given value the sim and the adapter can use (else neither would sign anything). */
static const char *bad_value(const char *name, const char *value)
{
    if (strcmp(name, "webhook_secret") == 0 &&
        (strncmp(value, "whsec_", 6) != 0 || !base64_of(value + 6, 1, 256)))
        return "whsec_ followed by Base64 (at most 256 bytes decoded)";
    if (strcmp(name, "sign_key") == 0 && !base64_of(value, 16, 16))
        return "the Base64 text of 16 bytes (an SM4 key)";
    return NULL;
}

/* The credentials (and id setting) of the kind: given with --credential, else fresh. */
static int make_creds(struct cli *cli)
{
    const struct kind *k = cli->kind;
    const char *names[MAX_CREDS + 2];
    size_t n = 0;

    for (size_t i = 0; k->credentials[i] && n < MAX_CREDS; i++)
        names[n++] = k->credentials[i];
    if (k->id_setting)
        names[n++] = k->id_setting;
    names[n] = NULL;
    for (size_t f = 0; f < cli->n_fixed; f++) {
        const char *eq = strchr(cli->fixed[f], '=');
        size_t len = eq ? (size_t)(eq - cli->fixed[f]) : 0;
        int known = 0;
        for (size_t i = 0; i < n && eq; i++)
            known |= strlen(names[i]) == len && strncmp(names[i], cli->fixed[f], len) == 0;
        if (!eq || !known || eq[1] == '\0' || strlen(eq + 1) >= VALUE_MAX) {
            fprintf(stderr, "sim: --credential %.*s: %s takes NAME=VALUE with NAME one of:",
                    eq ? (int)len : (int)strlen(cli->fixed[f]), cli->fixed[f], k->profile);
            for (size_t i = 0; i < n; i++)
                fprintf(stderr, " %s", names[i]);
            fprintf(stderr, " (VALUE non-empty, under %d bytes)\n", VALUE_MAX);
            return -1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct cred *c = &cli->creds[i];
        size_t len = strlen(names[i]), e;
        c->name = names[i];
        c->value[0] = '\0';
        for (size_t f = 0; f < cli->n_fixed; f++)
            if (strncmp(cli->fixed[f], names[i], len) == 0 && cli->fixed[f][len] == '=')
                snprintf(c->value, sizeof(c->value), "%s", cli->fixed[f] + len + 1);
        if (c->value[0] && bad_value(names[i], c->value)) {
            fprintf(stderr, "sim: --credential %s: must be %s\n", names[i],
                    bad_value(names[i], c->value));
            return -1;
        }
        if (!c->value[0] && ob_demo_make_secret(names[i], c->value, sizeof(c->value)) != 0) {
            fprintf(stderr, "sim: cannot make a random %s\n", names[i]);
            return -1;
        }
        e = (size_t)snprintf(c->env, sizeof(c->env), "%s_%s", cli->code, names[i]);
        for (size_t j = 0; j < e && j < sizeof(c->env); j++)
            c->env[j] = isalnum((unsigned char)c->env[j]) ? (char)toupper((unsigned char)c->env[j])
                                                          : '_';
    }
    cli->n_creds = n;
    return 0;
}

static const char *cred_value(const struct cli *cli, const char *name)
{
    for (size_t i = 0; i < cli->n_creds; i++)
        if (strcmp(cli->creds[i].name, name) == 0)
            return cli->creds[i].value;
    return NULL;
}

/* ---- the config entry ---------------------------------------------------- */

/* {"<code>": {adapter, endpoint, credentials, settings?, callback | poll}}, or NULL. */
static json_t *make_entry(const struct cli *cli, const char *endpoint)
{
    const struct kind *k = cli->kind;
    json_t *creds = json_object(), *settings = NULL, *entry;

    for (size_t i = 0; k->credentials[i]; i++) {
        char ref[200];
        snprintf(ref, sizeof(ref), "env:%s", cli->creds[i].env);
        json_object_set_new(creds, k->credentials[i], json_string(ref)); /* steals */
    }
    entry = json_pack("{s:s, s:s, s:o}", "adapter", k->adapter, "endpoint", endpoint,
                      "credentials", creds); /* steals creds */
    if (entry == NULL)
        return NULL;
    if (strcmp(k->adapter, "mapping") == 0) {
        char dir[4096], body[4200];
        snprintf(body, sizeof(body), "%s/rest.json", ob_demo_mappings_dir(dir, sizeof(dir)));
        settings = json_pack(
            "{s:{s:s, s:s, s:s, s:s, s:{s:s, s:s}},"
            " s:[{s:[i, i], s:s, s:s}, {s:[i], s:s, s:s}]}",
            "request", "method", "POST", "path", "/orders", "body", body, "content_type",
            "application/json", "headers", "Authorization", "Bearer {{ @credential.token }}",
            "Idempotency-Key", "{{ @idempotency_key }}",
            "answers", "status", 200, 201, "outcome", "accepted", "warehouse_order_id", "id",
            "status", 422, "body_contains", "Duplicate reference ID", "outcome", "accepted");
    } else if (k->settings != NULL) {
        settings = json_loads(k->settings, 0, NULL);
    }
    if (k->id_setting != NULL) {
        if (settings == NULL)
            settings = json_object();
        json_object_set_new(settings, k->id_setting, json_string(cred_value(cli, k->id_setting)));
    }
    if (settings != NULL)
        json_object_set_new(entry, "settings", settings); /* steals */
    if (k->status == STATUS_CALLBACK) {
        json_t *cb = json_pack("{s:s}", "path", cli->cb_path);
        if (cli->cb_loopback)
            json_object_set_new(cb, "allow_from", json_pack("[s, s]", "127.0.0.1", "::1"));
        json_object_set_new(entry, "callback", cb);
    } else if (k->status == STATUS_POLL) {
        json_object_set_new(entry, "poll", json_pack("{s:i}", "interval_ms", POLL_INTERVAL_MS));
    }
    return json_pack("{s:o}", cli->code, entry);
}

/* ---- run ----------------------------------------------------------------- */

/* Single quotes for a shell, a ' as '\''. */
static void print_export(const struct cred *c)
{
    printf("export %s='", c->env);
    for (const char *p = c->value; *p; p++) {
        if (*p == '\'')
            fputs("'\\''", stdout);
        else
            putchar(*p);
    }
    puts("'");
}

static void print_counters(const struct cli *cli, struct ob_sim *sim)
{
    struct ob_sim_stats st;

    ob_sim_get_stats(sim, &st);
    printf("orderbridge sim: %s stopped. requests %lu: created %lu, duplicates %lu, "
           "unauthorized %lu, bad signatures %lu, bad requests %lu, key mismatches %lu\n",
           cli->code, st.requests, st.created, st.duplicates, st.unauthorized, st.bad_signatures,
           st.bad_requests, st.key_mismatches);
    printf("  faults injected: 503 %lu, 429 %lu, resets %lu, lost answers %lu, garbage %lu "
           "(%lu after create), slow %lu\n",
           st.injected_5xx, st.injected_429, st.injected_resets, st.resets_after_create,
           st.injected_garbage, st.garbage_after_create, st.slow_answers);
    if (cli->kind->status == STATUS_CALLBACK)
        printf("  callbacks: sent %lu, taken %lu, refused %lu, no answer %lu, forged ones taken "
               "%lu, reports not yet taken %lu\n",
               st.cb_sent, st.cb_ok, st.cb_refused, st.cb_errors, st.cb_forged_accepted,
               st.cb_pending);
}

static int run(struct cli *cli)
{
    struct ob_sim_secret secrets[MAX_CREDS + 2];
    char err[512], endpoint[128], host[64];
    struct ob_sim *sim = NULL;
    json_t *entry = NULL;
    char *text = NULL;
    sigset_t stop;
    int sig = 0, rc = 1;

    if (make_creds(cli) != 0)
        return 2;
    for (size_t i = 0; i < cli->n_creds; i++)
        secrets[i] = (struct ob_sim_secret){cli->creds[i].name, cli->creds[i].value};
    secrets[cli->n_creds] = (struct ob_sim_secret){NULL, NULL};
    cli->opt.secrets = secrets;
    cli->opt.profile = cli->kind->profile;
    cli->opt.port = (unsigned short)cli->port;
    cli->opt.bind_addr = cli->bind;
    cli->opt.status_step_ms = cli->step_ms;
    cli->opt.on_request = on_request;
    cli->opt.observer_arg = cli;
    if (cli->kind->status == STATUS_CALLBACK) {
        const char *token = cred_value(cli, "callback_token");
        snprintf(cli->cb_url, sizeof(cli->cb_url), "%s%s%s", cli->cb_base, token ? "/" : "",
                 token ? token : "");
        cli->opt.callback_url = cli->cb_url;
        cli->opt.on_callback = on_callback;
    }

    /* Only this thread takes the stop signals: the sim's threads inherit the mask. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    sim = ob_sim_start(&cli->opt, err, sizeof(err));
    if (sim == NULL) {
        fprintf(stderr, "sim: %s\n", err);
        goto cleanup;
    }
    if (strchr(cli->bind, ':'))
        snprintf(host, sizeof(host), "[%s]", strcmp(cli->bind, "::") == 0 ? "::1" : cli->bind);
    else
        snprintf(host, sizeof(host), "%s",
                 strcmp(cli->bind, "0.0.0.0") == 0 ? "127.0.0.1" : cli->bind);
    snprintf(endpoint, sizeof(endpoint), "http://%s:%u", host, ob_sim_port(sim));
    entry = make_entry(cli, endpoint);
    text = entry ? json_dumps(entry, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    if (text == NULL) {
        fprintf(stderr, "sim: cannot build the config entry\n");
        goto cleanup;
    }

    printf("orderbridge sim: %s warehouse %s listening on %s (adapter %s; counters: GET "
           "%s/stats)\n\n",
           cli->kind->profile, cli->code, endpoint, cli->kind->adapter, endpoint);
    printf("Credentials it expects; export them where `orderbridge run` starts (the entry "
           "below refers to them):\n");
    for (size_t i = 0; i < cli->n_creds; i++)
        if (!cli->kind->id_setting || strcmp(cli->creds[i].name, cli->kind->id_setting) != 0)
            print_export(&cli->creds[i]);
    if (cli->kind->id_setting)
        printf("(and %s %s, in the entry's settings)\n", cli->kind->id_setting,
               cred_value(cli, cli->kind->id_setting));
    putchar('\n');
    if (cli->kind->status == STATUS_CALLBACK)
        printf("Status: it calls %s back as each order moves on (a status every %u ms);\n"
               "the bridge's config needs \"http\": {\"listen\": \"<that host:port>\"} and a "
               "\"ledger\".\n\n",
               cli->cb_url, cli->step_ms);
    else if (cli->kind->status == STATUS_POLL)
        printf("Status: the bridge polls it (a status every %u ms); the bridge's config needs "
               "a \"ledger\".\n\n",
               cli->step_ms);
    else
        printf("Status: none (the mapping adapter takes no callbacks and is not polled).\n\n");
    printf("Warehouse entry: put its member into the \"warehouses\" object of your config:\n"
           "%s\n%s\n%s\n",
           MARK_BEGIN, text, MARK_END);
    printf("Orders reach it when their \"warehouse\" is \"%s\" (or by routing). SIGINT or "
           "SIGTERM stops it.\n",
           cli->code);
    fflush(stdout);

    while (sigwait(&stop, &sig) != 0)
        ;
    fprintf(stderr, "sim: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    print_counters(cli, sim);
    rc = 0;
cleanup:
    ob_sim_stop(sim);
    free(text);
    json_decref(entry);
    for (size_t i = 0; i < cli->n_creds; i++)
        OPENSSL_cleanse(cli->creds[i].value, sizeof(cli->creds[i].value));
    return rc;
}

int ob_sim_cli_main(int argc, char **argv)
{
    enum { O_PROFILE = 256, O_ADAPTER, O_CODE, O_PORT, O_BIND, O_CREDENTIAL, O_CALLBACK_URL,
           O_STEP, O_FAIL, O_THROTTLE, O_RETRY_AFTER, O_RESET, O_DROP, O_SLOW_RATE, O_SLOW_MS,
           O_GARBAGE, O_FORGE, O_REPLAY, O_DUPLICATE, O_REORDER, O_SEED, O_HELP };
    static const struct option opts[] = {
        {"profile", required_argument, NULL, O_PROFILE},
        {"adapter", required_argument, NULL, O_ADAPTER},
        {"code", required_argument, NULL, O_CODE},
        {"port", required_argument, NULL, O_PORT},
        {"bind", required_argument, NULL, O_BIND},
        {"credential", required_argument, NULL, O_CREDENTIAL},
        {"callback-url", required_argument, NULL, O_CALLBACK_URL},
        {"status-step-ms", required_argument, NULL, O_STEP},
        {"fail-rate", required_argument, NULL, O_FAIL},
        {"throttle-rate", required_argument, NULL, O_THROTTLE},
        {"retry-after", required_argument, NULL, O_RETRY_AFTER},
        {"reset-rate", required_argument, NULL, O_RESET},
        {"drop-answer-rate", required_argument, NULL, O_DROP},
        {"slow-rate", required_argument, NULL, O_SLOW_RATE},
        {"slow-ms", required_argument, NULL, O_SLOW_MS},
        {"garbage-rate", required_argument, NULL, O_GARBAGE},
        {"forge-rate", required_argument, NULL, O_FORGE},
        {"replay-rate", required_argument, NULL, O_REPLAY},
        {"duplicate-rate", required_argument, NULL, O_DUPLICATE},
        {"reorder-rate", required_argument, NULL, O_REORDER},
        {"seed", required_argument, NULL, O_SEED},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0}};
    struct cli cli = {.bind = "127.0.0.1", .step_ms = DEFAULT_STEP_MS,
                      .opt = {.seed = 1, .threads = 2}};
    const char *profile = NULL, *adapter = NULL;
    char default_url[256];
    unsigned seed = 1;
    int ch, bad = 0, index = 0;

    optind = 1;
    for (;;) {
        ch = getopt_long(argc, argv, "", opts, &index);
        if (ch == -1)
            break;
        struct ob_sim_options *o = &cli.opt;
        switch (ch) {
        case O_PROFILE: profile = optarg; break;
        case O_ADAPTER: adapter = optarg; break;
        case O_CODE: cli.code = optarg; bad = !valid_code(optarg); break;
        case O_PORT: bad = parse_uint(optarg, 65535, &cli.port); break;
        case O_BIND: cli.bind = optarg; break;
        case O_CREDENTIAL:
            bad = cli.n_fixed == MAX_FIXED;
            if (!bad)
                cli.fixed[cli.n_fixed++] = optarg;
            break;
        case O_CALLBACK_URL: cli.callback_url = optarg; break;
        case O_STEP: bad = parse_uint(optarg, 3600000, &cli.step_ms) || cli.step_ms == 0; break;
        case O_FAIL: bad = parse_rate(optarg, &o->fail_5xx_rate); break;
        case O_THROTTLE: bad = parse_rate(optarg, &o->fail_429_rate); break;
        case O_RETRY_AFTER: bad = parse_uint(optarg, 86400, &o->retry_after_s); break;
        case O_RESET: bad = parse_rate(optarg, &o->reset_rate); break;
        case O_DROP: bad = parse_rate(optarg, &o->reset_after_create_rate); break;
        case O_SLOW_RATE: bad = parse_rate(optarg, &o->slow_rate); break;
        case O_SLOW_MS: bad = parse_uint(optarg, 3600000, &o->slow_ms); break;
        case O_GARBAGE: bad = parse_rate(optarg, &o->garbage_rate); break;
        case O_FORGE: bad = parse_rate(optarg, &o->cb_tamper_rate); break;
        case O_REPLAY: bad = parse_rate(optarg, &o->cb_replay_rate); break;
        case O_DUPLICATE: bad = parse_rate(optarg, &o->cb_duplicate_rate); break;
        case O_REORDER: bad = parse_rate(optarg, &o->cb_reorder_rate); break;
        case O_SEED:
            bad = parse_uint(optarg, 0xffffffffUL, &seed);
            o->seed = seed;
            break;
        case O_HELP: fputs(sim_help, stdout); return 0;
        default: fputs(sim_help, stderr); return 2;
        }
        if (bad) {
            fprintf(stderr, "sim: bad value for --%s: %s\n", opts[index].name, optarg);
            return 2;
        }
    }
    if (optind != argc || profile == NULL) {
        fputs(sim_help, stderr);
        return 2;
    }
    if (adapter && (strcmp(adapter, "mapping") != 0 || strcmp(profile, "rest") != 0)) {
        fprintf(stderr, "sim: --adapter takes mapping, with --profile rest only\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kinds[i].profile, profile) == 0 &&
            strcmp(kinds[i].adapter, adapter ? adapter : profile) == 0)
            cli.kind = &kinds[i];
    if (cli.kind == NULL) {
        fprintf(stderr, "sim: unknown profile \"%s\" (known: rest, sf_express, cainiao, qimen, "
                        "ems)\n", profile);
        return 2;
    }
    if (cli.code == NULL)
        cli.code = cli.kind->code;
    if (cli.callback_url && cli.kind->status != STATUS_CALLBACK) {
        fprintf(stderr, "sim: --callback-url: %s%s\n",
                adapter ? "the mapping adapter takes no callbacks" : cli.kind->profile,
                adapter ? "" : " sends no callbacks");
        return 2;
    }
    if (cli.kind->status == STATUS_CALLBACK) {
        snprintf(default_url, sizeof(default_url), "%s/callbacks/%s", DEFAULT_BRIDGE, cli.code);
        if (split_callback_url(&cli, cli.callback_url ? cli.callback_url : default_url) != 0) {
            fprintf(stderr, "sim: --callback-url %s: must be http(s)://host[:port]/path, without "
                            "a query or a trailing /\n",
                    cli.callback_url ? cli.callback_url : default_url);
            return 2;
        }
    }
    return run(&cli);
}
