/*
 * test_tls.c — TLS of pushes (src/dispatch.c with a warehouse's config
 * tls block) and of the callback listener (src/http_server.c), against
 * real HTTPS servers on 127.0.0.1: the simulator serving TLS and the
 * bridge's own listener.
 *
 * A throwaway CA and its certificates are made at start with OpenSSL's C
 * API (P-256, valid for an hour): a server certificate for 127.0.0.1 and
 * localhost, one for another host name, a client certificate, and an
 * unrelated self-signed certificate for 127.0.0.1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <orderbridge/sdk.h>

#include "config.h"
#include "dispatch.h"
#include "http_server.h"
#include "sim.h"

/* ------------------------------------------------------------------------ */
/* The local CA                                                              */

struct pem {
    char *cert, *key; /* PEM texts */
    char cert_path[128], key_path[128];
};

static char dir[] = "/tmp/ob-tls-XXXXXX";
static struct pem ca, server, wrong_host, client, rogue;
static X509 *ca_x509;
static EVP_PKEY *ca_pkey;

static char *bio_text(BIO *bio)
{
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    char *copy = malloc((size_t)n + 1);
    assert_non_null(copy);
    memcpy(copy, data, (size_t)n);
    copy[n] = '\0';
    BIO_free(bio);
    return copy;
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

/* A certificate for `cn` with subjectAltName `san` (NULL: none), signed by
 * the CA, or self-signed when ca_x509 is NULL or self is set. */
static void make(struct pem *out, const char *name, const char *cn, const char *san,
                 const char *usage, int is_ca, int self)
{
    static long serial = 1;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    assert_non_null(key);
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial++), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -60));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
    assert_int_equal(X509_set_pubkey(x, key), 1);
    X509_NAME *subject = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                                (const unsigned char *)cn, -1, -1, 0),
                     1);
    X509 *issuer = self || is_ca ? x : ca_x509;
    EVP_PKEY *signer = self || is_ca ? key : ca_pkey;
    assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(issuer)), 1);
    add_ext(x, issuer, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    add_ext(x, issuer, NID_key_usage,
            is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
    if (usage)
        add_ext(x, issuer, NID_ext_key_usage, usage);
    if (san)
        add_ext(x, issuer, NID_subject_alt_name, san);
    assert_true(X509_sign(x, signer, EVP_sha256()) > 0);

    BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509(cb, x), 1);
    assert_int_equal(PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL), 1);
    out->cert = bio_text(cb);
    out->key = bio_text(kb);
    snprintf(out->cert_path, sizeof(out->cert_path), "%s/%s.pem", dir, name);
    snprintf(out->key_path, sizeof(out->key_path), "%s/%s.key", dir, name);
    write_file(out->cert_path, out->cert, 0644);
    write_file(out->key_path, out->key, 0600);
    if (is_ca) {
        ca_x509 = x;
        ca_pkey = key;
    } else {
        X509_free(x);
        EVP_PKEY_free(key);
    }
}

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    assert_non_null(mkdtemp(dir));
    make(&ca, "ca", "orderbridge test CA", NULL, NULL, 1, 0);
    make(&server, "server", "127.0.0.1", "IP:127.0.0.1,DNS:localhost", "serverAuth", 0, 0);
    make(&wrong_host, "wrong-host", "wms.example.com", "DNS:wms.example.com", "serverAuth", 0, 0);
    make(&client, "client", "orderbridge", NULL, "clientAuth", 0, 0);
    make(&rogue, "rogue", "127.0.0.1", "IP:127.0.0.1", "serverAuth,clientAuth", 0, 1);
    return 0;
}

static void pem_free(struct pem *p)
{
    unlink(p->cert_path);
    unlink(p->key_path);
    free(p->cert);
    free(p->key);
}

static int teardown(void **state)
{
    (void)state;
    pem_free(&ca);
    pem_free(&server);
    pem_free(&wrong_host);
    pem_free(&client);
    pem_free(&rogue);
    X509_free(ca_x509);
    EVP_PKEY_free(ca_pkey);
    rmdir(dir);
    curl_global_cleanup();
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

/* Everything written to stderr (where the log goes) between the two calls. */
static int saved_stderr = -1;
static FILE *captured;

static void capture_start(void)
{
    fflush(stderr);
    captured = tmpfile();
    assert_non_null(captured);
    saved_stderr = dup(2);
    assert_true(saved_stderr >= 0);
    assert_int_equal(dup2(fileno(captured), 2), 2);
}

static char *capture_end(void)
{
    static char text[16384];
    fflush(stderr);
    assert_int_equal(dup2(saved_stderr, 2), 2);
    close(saved_stderr);
    rewind(captured);
    size_t n = fread(text, 1, sizeof(text) - 1, captured);
    text[n] = '\0';
    fclose(captured);
    fputs(text, stderr); /* still visible in the test's output */
    return text;
}

/* Parse a one-warehouse config whose warehouse has `tls` (JSON text, NULL:
 * none) and whose root has `root_extra` (",\"tls\":{...}" or ""). */
static struct ob_config *config(const char *endpoint, const char *tls, const char *root_extra,
                                char *err, size_t err_size)
{
    char text[4096];
    struct ob_config *cfg = NULL;
    snprintf(text, sizeof(text),
             "{\"kafka\":{\"bootstrap_servers\":\"127.0.0.1:9\"}%s,"
             "\"warehouses\":{\"WH-1\":{\"adapter\":\"rest\",\"endpoint\":\"%s\"%s%s}}}",
             root_extra ? root_extra : "", endpoint, tls ? ",\"tls\":" : "", tls ? tls : "");
    err[0] = '\0';
    ob_config_parse(text, strlen(text), "test", &cfg, err, err_size);
    return cfg;
}

static struct ob_config *config_ok(const char *tls, const char *root_extra)
{
    char err[2048];
    struct ob_config *cfg = config("https://127.0.0.1:1", tls, root_extra, err, sizeof(err));
    if (!cfg)
        fail_msg("config: %s", err);
    return cfg;
}

static void expect_config_error(const char *endpoint, const char *tls, const char *root_extra,
                                const char *want)
{
    char err[2048];
    struct ob_config *cfg = config(endpoint, tls, root_extra, err, sizeof(err));
    if (cfg || !strstr(err, want)) {
        ob_config_destroy(cfg);
        fail_msg("want an error with \"%s\", got \"%s\"", want, err);
    }
}

static struct ob_sim *sim_tls(const char *cert, const char *key, const char *client_ca,
                              const char *priorities)
{
    char err[256];
    struct ob_sim_options opt = {.threads = 1, .tls_cert = cert, .tls_key = key,
                                 .tls_client_ca = client_ca, .tls_priorities = priorities};
    struct ob_sim *sim = ob_sim_start(&opt, err, sizeof(err));
    if (!sim)
        fail_msg("sim: %s", err);
    return sim;
}

static const char order_body[] =
    "{\"reference_id\":\"%s\",\"recipient\":{\"name\":\"Zhang San\","
    "\"phone_number\":\"13800138000\",\"email\":\"z@example.com\",\"address\":{"
    "\"address1\":\"1 Chunshen Rd\",\"city\":\"Shanghai\",\"state\":\"SH\","
    "\"country\":\"CN\",\"zip_code\":\"201100\"}},\"products\":[{\"reference_id\":"
    "\"SKE-12345-BLK-42\",\"name\":\"D'LITES 42\",\"quantity\":1,\"unit_price\":599.0}],"
    "\"shipping_method\":\"Standard\"}";

struct result {
    long status;
    char error[CURL_ERROR_SIZE + 16];
    int done;
};

/* A call and where its result goes, side by side. */
struct push {
    struct ob_http_call call;
    struct result *result;
};

static void push_done(struct ob_http_call *call)
{
    struct push *p = (struct push *)(void *)call;
    p->result->status = call->resp.status;
    snprintf(p->result->error, sizeof(p->result->error), "%s",
             call->resp.transport_error ? call->resp.transport_error : "");
    p->result->done = 1;
    if (call->resp.status == 0) { /* what every adapter makes of it (sdk) */
        struct ob_outcome outcome;
        memset(&outcome, 0, sizeof(outcome));
        ob_outcome_from_http(&call->resp, &outcome);
        assert_int_equal(outcome.kind, OB_OUTCOME_RETRY);
    }
}

/* POST an order to `host` (e.g. "127.0.0.1") on the sim's port through
 * the dispatcher with `tls`; returns the HTTP status (0: no answer, the
 * reason in r->error). */
static long push(struct ob_sim *sim, const char *host, const struct ob_tls_conf *tls,
                 const char *ref, struct result *r)
{
    struct ob_dispatch *d = NULL;
    struct push *p = calloc(1, sizeof(*p));
    char body[1024];

    assert_non_null(p);
    memset(r, 0, sizeof(*r));
    p->result = r;
    assert_int_equal(ob_dispatch_create(NULL, &d), 0);
    assert_int_equal(ob_request_set_url(&p->call.req, "https://%s:%u/orders", host,
                                        (unsigned)ob_sim_port(sim)),
                     0);
    p->call.req.method = "POST";
    snprintf(body, sizeof(body), order_body, ref);
    assert_int_equal(ob_request_set_body(&p->call.req, body, strlen(body)), 0);
    assert_int_equal(ob_request_add_header(&p->call.req, "Content-Type", "application/json"), 0);
    assert_int_equal(ob_request_add_header(&p->call.req, "Idempotency-Key",
                                           "0123456789abcdef0123456789abcdef"
                                           "0123456789abcdef0123456789abcdef"),
                     0);
    p->call.connect_timeout_ms = 3000;
    p->call.timeout_ms = 5000;
    p->call.tls = tls;
    p->call.done = push_done;
    assert_int_equal(ob_dispatch_submit(d, &p->call), 0);
    for (int i = 0; i < 500 && !r->done; i++)
        assert_true(ob_dispatch_poll(d, -1, 20) >= 0);
    assert_true(r->done);
    ob_http_call_reset(&p->call);
    ob_dispatch_destroy(d);
    free(p);
    return r->status;
}

static void expect_tls_failure(const struct result *r, const char *detail)
{
    assert_int_equal(r->status, 0);
    if (strncmp(r->error, "TLS: ", 5) != 0 || (detail && !strstr(r->error, detail)))
        fail_msg("want \"TLS: ...%s...\", got \"%s\"", detail ? detail : "", r->error);
}

/* ------------------------------------------------------------------------ */
/* Config                                                                    */

static void test_config_shape(void **state)
{
    (void)state;
    char tls[1024];

    /* defaults: verify against the system store, no client certificate */
    struct ob_config *cfg = config_ok(NULL, NULL);
    const struct ob_tls_conf *t = &cfg->warehouses[0].tls;
    assert_null(t->ca_file);
    assert_null(t->ca_pem);
    assert_null(t->cert_pem);
    assert_null(t->key_pem);
    assert_int_equal(t->insecure_skip_verify, 0);
    assert_string_equal(t->warehouse, "WH-1");
    ob_config_destroy(cfg);

    /* $.tls.ca_file is every warehouse's default, read into memory */
    snprintf(tls, sizeof(tls), ",\"tls\":{\"ca_file\":\"%s\"}", ca.cert_path);
    cfg = config_ok(NULL, tls);
    t = &cfg->warehouses[0].tls;
    assert_string_equal(t->ca_file, ca.cert_path);
    assert_int_equal(t->ca_len, strlen(ca.cert));
    assert_memory_equal(t->ca_pem, ca.cert, t->ca_len);
    ob_config_destroy(cfg);

    /* a client certificate, its key as a path and as env: */
    snprintf(tls, sizeof(tls), "{\"client_cert\":\"%s\",\"client_key\":\"%s\"}", client.cert_path,
             client.key_path);
    cfg = config_ok(tls, NULL);
    t = &cfg->warehouses[0].tls;
    assert_string_equal(t->cert_pem, client.cert);
    assert_non_null(t->key_pem);
    assert_true(t->key_len > 0);
    ob_config_destroy(cfg);
    setenv("OB_TEST_TLS_KEY", client.key, 1);
    snprintf(tls, sizeof(tls),
             "{\"client_cert\":\"%s\",\"client_key\":\"env:OB_TEST_TLS_KEY\"}", client.cert_path);
    cfg = config_ok(tls, NULL);
    assert_non_null(cfg->warehouses[0].tls.key_pem);
    ob_config_destroy(cfg);
    unsetenv("OB_TEST_TLS_KEY");
}

static void test_config_errors(void **state)
{
    (void)state;
    char tls[1024], root[512];
    const char *https = "https://127.0.0.1:1";

    expect_config_error(https, "{\"ca_file\":\"/nonexistent/ca.pem\"}", NULL,
                        "$.warehouses.WH-1.tls.ca_file: cannot read file \"/nonexistent/ca.pem\": "
                        "No such file or directory");
    expect_config_error(https, NULL, ",\"tls\":{\"ca_file\":\"/nonexistent/ca.pem\"}",
                        "$.tls.ca_file: cannot read file");
    snprintf(tls, sizeof(tls), "{\"ca_file\":\"%s\"}", ca.key_path); /* a key, no certificate */
    expect_config_error(https, tls, NULL, "$.warehouses.WH-1.tls.ca_file: file \"");
    expect_config_error(https, tls, NULL, "holds no PEM certificate");
    snprintf(tls, sizeof(tls), "{\"client_cert\":\"%s\"}", client.cert_path);
    expect_config_error(https, tls, NULL,
                        "$.warehouses.WH-1.tls: client_cert and client_key go together");
    snprintf(tls, sizeof(tls), "{\"client_cert\":\"%s\",\"client_key\":\"%s\"}",
             client.cert_path, rogue.key_path);
    expect_config_error(https, tls, NULL,
                        "$.warehouses.WH-1.tls.client_key: does not belong to client_cert");
    snprintf(tls, sizeof(tls), "{\"client_cert\":\"%s\",\"client_key\":\"%s\"}",
             client.cert_path, client.cert_path);
    expect_config_error(https, tls, NULL,
                        "$.warehouses.WH-1.tls.client_key: is not a PEM private key");
    snprintf(tls, sizeof(tls), "{\"client_cert\":\"%s\",\"client_key\":\"/nonexistent/k\"}",
             client.cert_path);
    expect_config_error(https, tls, NULL,
                        "$.warehouses.WH-1.tls.client_key: cannot read file \"/nonexistent/k\"");
    expect_config_error(https, "{\"insecure_skip_verify\":\"yes\"}", NULL,
                        "$.warehouses.WH-1.tls.insecure_skip_verify: must be true or false");
    expect_config_error(https, "{\"insecure_skip_verfy\":true}", NULL,
                        "did you mean \"insecure_skip_verify\"");
    expect_config_error("http://127.0.0.1:1", "{\"insecure_skip_verify\":true}", NULL,
                        "$.warehouses.WH-1.tls: is set, but the endpoint is http://");
    /* an encrypted key is refused by name, and no key text is ever echoed */
    EVP_PKEY *key = NULL;
    BIO *in = BIO_new_mem_buf(client.key, -1), *out = BIO_new(BIO_s_mem());
    key = PEM_read_bio_PrivateKey(in, NULL, NULL, NULL);
    assert_non_null(key);
    assert_int_equal(PEM_write_bio_PKCS8PrivateKey(out, key, EVP_aes_256_cbc(), "pw", 2, NULL,
                                                   NULL),
                     1);
    char *encrypted = bio_text(out);
    char enc_path[160];
    snprintf(enc_path, sizeof(enc_path), "%s/encrypted.key", dir);
    write_file(enc_path, encrypted, 0600);
    snprintf(tls, sizeof(tls), "{\"client_cert\":\"%s\",\"client_key\":\"%s\"}",
             client.cert_path, enc_path);
    expect_config_error(https, tls, NULL, "is an encrypted private key");
    unlink(enc_path);
    free(encrypted);
    EVP_PKEY_free(key);
    BIO_free(in);
    /* a key file others can read: refused like any file: secret under "refuse" */
    char shared[160];
    snprintf(shared, sizeof(shared), "%s/shared.key", dir);
    write_file(shared, client.key, 0644);
    snprintf(tls, sizeof(tls), "{\"client_cert\":\"%s\",\"client_key\":\"%s\"}",
             client.cert_path, shared);
    snprintf(root, sizeof(root), ",\"secrets\":{\"file_permissions\":\"refuse\"}");
    expect_config_error(https, tls, root, "$.warehouses.WH-1.tls.client_key: file \"");
    expect_config_error(https, tls, root, "readable or writable by group or others");
    unlink(shared);

    /* no message ever quotes key material */
    char err[4096];
    snprintf(tls, sizeof(tls), "{\"client_cert\":\"%s\",\"client_key\":\"%s\"}",
             client.cert_path, rogue.key_path);
    struct ob_config *cfg = config(https, tls, NULL, err, sizeof(err));
    assert_null(cfg);
    assert_null(strstr(err, "PRIVATE KEY"));
    assert_null(strstr(err, rogue.key + 28)); /* past the BEGIN line */
}

/* ------------------------------------------------------------------------ */
/* Pushes                                                                    */

static void test_push_trusted_ca(void **state)
{
    (void)state;
    char tls[512];
    struct result r;
    struct ob_sim *sim = sim_tls(server.cert, server.key, NULL, NULL);
    snprintf(tls, sizeof(tls), "{\"ca_file\":\"%s\"}", ca.cert_path);
    struct ob_config *cfg = config_ok(tls, NULL);

    long status = push(sim, "127.0.0.1", &cfg->warehouses[0].tls, "TLS-1", &r);
    if (status < 200 || status > 299)
        fail_msg("HTTP %ld: %s", status, r.error);
    assert_true(ob_sim_created(sim, "TLS-1"));
    /* by name too: the certificate has localhost in its subjectAltName */
    status = push(sim, "localhost", &cfg->warehouses[0].tls, "TLS-2", &r);
    if (status < 200 || status > 299)
        fail_msg("HTTP %ld: %s", status, r.error);
    ob_config_destroy(cfg);
    ob_sim_stop(sim);
}

/* The system store does not know our CA: the handshake fails, the order is
 * retried (status 0 -> OB_OUTCOME_RETRY, checked in push_done), and a WARN
 * names the warehouse. */
static void test_push_system_store_refuses(void **state)
{
    (void)state;
    struct result r;
    struct ob_sim *sim = sim_tls(server.cert, server.key, NULL, NULL);
    struct ob_config *cfg = config_ok(NULL, NULL);

    capture_start();
    push(sim, "127.0.0.1", &cfg->warehouses[0].tls, "TLS-3", &r);
    char *log = capture_end();
    expect_tls_failure(&r, "certificate");
    assert_non_null(strstr(log, "warehouse WH-1: TLS: "));
    assert_non_null(strstr(log, "its orders are retried"));
    struct ob_sim_stats st;
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.requests, 0); /* nothing was sent */
    assert_false(ob_sim_created(sim, "TLS-3"));

    /* no tls at all (a call without a config) verifies just the same */
    push(sim, "127.0.0.1", NULL, "TLS-3", &r);
    expect_tls_failure(&r, "certificate");
    ob_config_destroy(cfg);
    ob_sim_stop(sim);
}

/* A CA-signed certificate for another host name. */
static void test_push_host_mismatch(void **state)
{
    (void)state;
    char tls[512];
    struct result r;
    struct ob_sim *sim = sim_tls(wrong_host.cert, wrong_host.key, NULL, NULL);
    snprintf(tls, sizeof(tls), "{\"ca_file\":\"%s\"}", ca.cert_path);
    struct ob_config *cfg = config_ok(tls, NULL);

    push(sim, "127.0.0.1", &cfg->warehouses[0].tls, "TLS-4", &r);
    expect_tls_failure(&r, "127.0.0.1");
    assert_false(ob_sim_created(sim, "TLS-4"));
    ob_config_destroy(cfg);
    ob_sim_stop(sim);
}

/* The sim wants a client certificate our CA signed. */
static void test_push_mtls(void **state)
{
    (void)state;
    char tls[1024];
    struct result r;
    struct ob_sim_stats st;
    struct ob_sim *sim = sim_tls(server.cert, server.key, ca.cert, NULL);

    /* none */
    snprintf(tls, sizeof(tls), "{\"ca_file\":\"%s\"}", ca.cert_path);
    struct ob_config *cfg = config_ok(tls, NULL);
    assert_int_equal(push(sim, "127.0.0.1", &cfg->warehouses[0].tls, "TLS-5", &r), 0);
    ob_config_destroy(cfg);
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.tls_refused, 1);
    assert_false(ob_sim_created(sim, "TLS-5"));

    /* one nobody signed */
    snprintf(tls, sizeof(tls), "{\"ca_file\":\"%s\",\"client_cert\":\"%s\",\"client_key\":\"%s\"}",
             ca.cert_path, rogue.cert_path, rogue.key_path);
    cfg = config_ok(tls, NULL);
    assert_int_equal(push(sim, "127.0.0.1", &cfg->warehouses[0].tls, "TLS-5", &r), 0);
    ob_config_destroy(cfg);
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.tls_refused, 2);
    assert_false(ob_sim_created(sim, "TLS-5"));

    /* ours, its key through a file: reference */
    snprintf(tls, sizeof(tls),
             "{\"ca_file\":\"%s\",\"client_cert\":\"%s\",\"client_key\":\"file:%s\"}",
             ca.cert_path, client.cert_path, client.key_path);
    cfg = config_ok(tls, NULL);
    long status = push(sim, "127.0.0.1", &cfg->warehouses[0].tls, "TLS-5", &r);
    if (status < 200 || status > 299)
        fail_msg("HTTP %ld: %s", status, r.error);
    assert_true(ob_sim_created(sim, "TLS-5"));
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.tls_refused, 2);
    ob_config_destroy(cfg);
    ob_sim_stop(sim);
}

/* A server that speaks TLS 1.1 at most. */
static const char tls11_only[] = "NORMAL:-VERS-ALL:+VERS-TLS1.1";

/* A client that speaks TLS 1.1 at most, and lets OpenSSL 3 do so (it needs
 * security level 0 for TLS < 1.2): the server, not the client, refuses. */
static size_t discard(char *data, size_t size, size_t n, void *arg)
{
    (void)data;
    (void)arg;
    return size * n;
}

static CURLcode get_tls11(const char *url, long *status)
{
    CURL *easy = curl_easy_init();
    assert_non_null(easy);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(easy, CURLOPT_SSLVERSION,
                     (long)(CURL_SSLVERSION_TLSv1_0 | CURL_SSLVERSION_MAX_TLSv1_1));
    curl_easy_setopt(easy, CURLOPT_SSL_CIPHER_LIST, "DEFAULT:@SECLEVEL=0");
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(easy);
    *status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(easy);
    return rc;
}

static void test_push_refuses_tls11(void **state)
{
    (void)state;
    char tls[512], url[64];
    struct result r;
    long status;
    struct ob_sim *sim = sim_tls(server.cert, server.key, NULL, tls11_only);

    /* the server really does speak TLS 1.1 (to a client that allows it) */
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/stats", (unsigned)ob_sim_port(sim));
    assert_int_equal(get_tls11(url, &status), CURLE_OK);
    assert_int_equal(status, 200);

    snprintf(tls, sizeof(tls), "{\"ca_file\":\"%s\"}", ca.cert_path);
    struct ob_config *cfg = config_ok(tls, NULL);
    push(sim, "127.0.0.1", &cfg->warehouses[0].tls, "TLS-6", &r);
    expect_tls_failure(&r, NULL);
    assert_false(ob_sim_created(sim, "TLS-6"));
    ob_config_destroy(cfg);
    ob_sim_stop(sim);
}

/* Development only: an untrusted server works, and says so loudly. */
static void test_push_insecure_skip_verify(void **state)
{
    (void)state;
    struct result r;
    struct ob_sim *sim = sim_tls(rogue.cert, rogue.key, NULL, NULL);
    struct ob_config *safe = config_ok(NULL, NULL);
    struct ob_config *cfg = config_ok("{\"insecure_skip_verify\":true}", NULL);
    assert_int_equal(cfg->warehouses[0].tls.insecure_skip_verify, 1);

    push(sim, "127.0.0.1", &safe->warehouses[0].tls, "TLS-7", &r);
    expect_tls_failure(&r, "self-signed");

    capture_start();
    long status = push(sim, "127.0.0.1", &cfg->warehouses[0].tls, "TLS-7", &r);
    char *log = capture_end();
    if (status < 200 || status > 299)
        fail_msg("HTTP %ld: %s", status, r.error);
    assert_non_null(strstr(log, " warn "));
    assert_non_null(strstr(log, "warehouse WH-1: TLS verification is OFF"));
    assert_true(ob_sim_created(sim, "TLS-7"));
    ob_config_destroy(cfg);
    ob_config_destroy(safe);
    ob_sim_stop(sim);
}

/* ------------------------------------------------------------------------ */
/* The callback listener                                                     */

static void test_listener_tls(void **state)
{
    (void)state;
    const struct ob_http_route routes[] = {{.prefix = "/cb", .id = 1}};
    struct ob_http_server_options opt = {.listen = "127.0.0.1:0", .routes = routes,
                                         .n_routes = 1, .tls_cert = server.cert_path,
                                         .tls_key = server.key_path, .wake_fd = -1};
    struct ob_http_server *srv = NULL;
    char err[256], url[64];
    long status = 0;

    assert_int_equal(ob_http_server_start(&opt, &srv, err, sizeof(err)), 0);
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/healthz", (unsigned)ob_http_server_port(srv));

    /* verified against our CA, as a warehouse would */
    CURL *easy = curl_easy_init();
    assert_non_null(easy);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_CAINFO, ca.cert_path);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
    assert_int_equal(curl_easy_perform(easy), CURLE_OK);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    assert_int_equal(status, 200);
    curl_easy_cleanup(easy);

    /* a client stuck on TLS 1.1 is refused (test_push_refuses_tls11 shows
     * the same client gets through to a server that allows 1.1) */
    assert_int_equal(get_tls11(url, &status), CURLE_SSL_CONNECT_ERROR);
    assert_int_equal(status, 0);
    ob_http_server_stop(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_shape),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_push_trusted_ca),
        cmocka_unit_test(test_push_system_store_refuses),
        cmocka_unit_test(test_push_host_mismatch),
        cmocka_unit_test(test_push_mtls),
        cmocka_unit_test(test_push_refuses_tls11),
        cmocka_unit_test(test_push_insecure_skip_verify),
        cmocka_unit_test(test_listener_tls),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
