/*
 * sim.c — REST warehouse simulator (ShipBob-like), see sim.h and README.md.
 *
 * Threading: libmicrohttpd runs `threads` epoll workers; every request is
 * handled entirely on its worker. Shared state is small: atomic counters,
 * an atomic PRNG stream position, and the reference_id store, which is split
 * into NSHARDS open-addressing tables with one mutex each (held only for a
 * probe and maybe a rehash, never during I/O or a delay).
 *
 * Slow answers (slow_rate) do not block a worker: the connection is
 * suspended with its answer parked in the request, and one "sleeper" thread
 * resumes it after slow_ms. Every delay has the same length, so the sleeper
 * queue is FIFO and already sorted by due time.
 */
#include "sim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#define BODY_LIMIT ((size_t)1 << 20)
#define FIRST_ORDER_ID 1000001UL
#define NSHARDS 64 /* power of two; the top hash bits pick the shard */
#define SHARD_BITS 6
#define KEY_BYTES 32 /* Idempotency-Key: 64 hex digits */
#define JSON_CT "application/json"

/* ---- reference_id store ------------------------------------------------ */

struct entry {
    uint64_t hash;
    unsigned char key[KEY_BYTES];
    size_t len;
    char ref[]; /* not NUL-terminated */
};

struct shard {
    _Alignas(64) pthread_mutex_t mu; /* own cache line: no false sharing */
    struct entry **slots;            /* linear probing, never deleted */
    size_t mask;                     /* number of slots - 1 */
    size_t used;
};

enum put_result { PUT_NEW, PUT_DUP, PUT_FULL };

/* ---- per-request state (con_cls) --------------------------------------- */

enum route { ROUTE_ORDERS, ROUTE_STATS, ROUTE_NOT_FOUND };

struct req {
    enum route route;
    unsigned verdict; /* decided from the headers (401/429/503); 0: read the body */
    bool slow;
    bool too_large;
    uint64_t draw; /* position in the PRNG stream */
    char *body;
    size_t len, cap;
    /* an answer parked while the connection is suspended */
    struct MHD_Response *resp;
    unsigned status;
    bool resp_owned; /* false: one of the shared canned responses */
    struct MHD_Connection *conn;
    struct timespec due;
    struct req *next; /* sleeper queue */
};

struct counters {
    atomic_ulong requests, created, duplicates, unauthorized, bad_requests, injected_5xx,
        injected_429, injected_resets, resets_after_create, key_mismatches;
};

struct ob_sim {
    struct MHD_Daemon *daemon;
    unsigned short port;
    char *token;
    size_t token_len;
    struct ob_sim_options opt; /* pointers in it are not used after start */
    size_t capacity;

    struct counters c;
    _Alignas(64) atomic_ullong draws; /* PRNG stream position, one per request */
    atomic_ulong next_id;
    atomic_size_t stored;

    struct shard shards[NSHARDS];
    bool shards_ready;

    /* canned answers, shared by all connections (MHD refcounts them) */
    struct MHD_Response *r401, *r404, *r413, *r415, *r422, *r429, *r503, *r507;

    /* sleeper: resumes suspended connections after slow_ms */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct req *head, *tail;
    bool stopping;
    pthread_t sleeper;
    bool sleeper_started;

    /* first MHD log line during start, for errstr */
    pthread_mutex_t log_mu;
    char log[256];
};

#define INC(s, f) atomic_fetch_add_explicit(&(s)->c.f, 1, memory_order_relaxed)
#define GET(s, f) atomic_load_explicit(&(s)->c.f, memory_order_relaxed)

/* ---- helpers ----------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    /* splitmix64 finalizer: good avalanche, cheap */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static uint64_t hash_ref(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a, then mixed for the top bits */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ULL;
    }
    return mix64(h ^ n);
}

enum draw_slot { D_RESET, D_5XX, D_429, D_SLOW, D_RESET_AFTER_CREATE, D_NSLOTS };

/*
 * A fault decision: request number `n` of the stream, decision `k`. Hashing
 * a counter (instead of per-thread state) keeps it thread-safe and makes a
 * given seed produce the same sequence of decisions run after run.
 */
static bool hit(const struct ob_sim *s, uint64_t n, enum draw_slot k, double rate)
{
    if (rate <= 0.0)
        return false;
    uint64_t x = mix64((uint64_t)s->opt.seed * 0x9e3779b97f4a7c15ULL + n * D_NSLOTS + k + 1);
    return (double)(x >> 11) * 0x1.0p-53 < rate; /* uniform in [0, 1) */
}

static void errfmt(char *buf, size_t size, const char *fmt, ...)
{
    if (buf == NULL || size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1; /* uppercase is rejected on purpose: the contract says lowercase */
}

static int parse_key(const char *text, unsigned char key[KEY_BYTES])
{
    if (text == NULL || strlen(text) != 2 * KEY_BYTES)
        return -1;
    for (size_t i = 0; i < KEY_BYTES; i++) {
        int hi = hexval(text[2 * i]), lo = hexval(text[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        key[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

/* ---- store ------------------------------------------------------------- */

static struct shard *shard_of(struct ob_sim *s, uint64_t h)
{
    return &s->shards[h >> (64 - SHARD_BITS)];
}

/* Slot holding (h, ref) or the empty slot where it belongs. Lock held. */
static struct entry **probe(struct shard *sh, uint64_t h, const char *ref, size_t len)
{
    size_t i = (size_t)h & sh->mask;
    for (;;) {
        struct entry *e = sh->slots[i];
        if (e == NULL || (e->hash == h && e->len == len && memcmp(e->ref, ref, len) == 0))
            return &sh->slots[i];
        i = (i + 1) & sh->mask;
    }
}

/* Double the table. Lock held; the shard stays usable if this fails. */
static int grow(struct shard *sh)
{
    size_t n = (sh->mask + 1) * 2;
    struct entry **slots = calloc(n, sizeof(*slots));
    if (slots == NULL)
        return -1;
    for (size_t i = 0; i <= sh->mask; i++) {
        struct entry *e = sh->slots[i];
        if (e == NULL)
            continue;
        size_t j = (size_t)e->hash & (n - 1);
        while (slots[j] != NULL)
            j = (j + 1) & (n - 1);
        slots[j] = e;
    }
    free(sh->slots);
    sh->slots = slots;
    sh->mask = n - 1;
    return 0;
}

/*
 * Insert reference_id once. PUT_DUP sets *mismatch when the stored
 * Idempotency-Key differs. PUT_FULL: capacity reached (or out of memory).
 */
static enum put_result store_put(struct ob_sim *s, const char *ref, size_t len,
                                 const unsigned char key[KEY_BYTES], bool *mismatch)
{
    uint64_t h = hash_ref(ref, len);
    struct shard *sh = shard_of(s, h);
    enum put_result res = PUT_FULL;
    struct entry *e = NULL;

    /* allocate outside the lock; duplicates are the rare case */
    e = malloc(sizeof(*e) + len);
    if (e == NULL)
        return PUT_FULL;
    e->hash = h;
    e->len = len;
    memcpy(e->key, key, KEY_BYTES);
    memcpy(e->ref, ref, len);

    pthread_mutex_lock(&sh->mu);
    struct entry **slot = probe(sh, h, ref, len);
    if (*slot != NULL) {
        *mismatch = memcmp((*slot)->key, key, KEY_BYTES) != 0;
        res = PUT_DUP;
        goto out;
    }
    /* reserve a place under the global bound before touching the table */
    if (atomic_fetch_add(&s->stored, 1) >= s->capacity) {
        atomic_fetch_sub(&s->stored, 1);
        goto out;
    }
    /* keep the load factor <= 1/2 so probes stay short */
    if ((sh->used + 1) * 2 > sh->mask + 1) {
        if (grow(sh) < 0) {
            atomic_fetch_sub(&s->stored, 1);
            goto out;
        }
        slot = probe(sh, h, ref, len);
    }
    *slot = e;
    e = NULL;
    sh->used++;
    res = PUT_NEW;
out:
    pthread_mutex_unlock(&sh->mu);
    free(e);
    return res;
}

static int store_has(struct ob_sim *s, const char *ref, size_t len)
{
    uint64_t h = hash_ref(ref, len);
    struct shard *sh = shard_of(s, h);

    pthread_mutex_lock(&sh->mu);
    int found = *probe(sh, h, ref, len) != NULL;
    pthread_mutex_unlock(&sh->mu);
    return found;
}

static int store_init(struct ob_sim *s)
{
    for (size_t i = 0; i < NSHARDS; i++) {
        struct shard *sh = &s->shards[i];
        sh->mask = 15;
        sh->slots = calloc(sh->mask + 1, sizeof(*sh->slots));
        if (sh->slots == NULL || pthread_mutex_init(&sh->mu, NULL) != 0) {
            free(sh->slots);
            sh->slots = NULL;
            while (i-- > 0) {
                pthread_mutex_destroy(&s->shards[i].mu);
                free(s->shards[i].slots);
                s->shards[i].slots = NULL;
            }
            return -1;
        }
    }
    s->shards_ready = true;
    return 0;
}

static void store_free(struct ob_sim *s)
{
    if (!s->shards_ready)
        return;
    for (size_t i = 0; i < NSHARDS; i++) {
        struct shard *sh = &s->shards[i];
        for (size_t j = 0; j <= sh->mask; j++)
            free(sh->slots[j]);
        free(sh->slots);
        pthread_mutex_destroy(&sh->mu);
    }
    s->shards_ready = false;
}

/* ---- responses --------------------------------------------------------- */

static struct MHD_Response *canned(const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (r != NULL && MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, JSON_CT) != MHD_YES) {
        MHD_destroy_response(r);
        r = NULL;
    }
    return r;
}

/* A response that owns `text` (a malloc'ed JSON string, taken even on failure). */
static struct MHD_Response *owned_json(char *text)
{
    struct MHD_Response *r = NULL;

    if (text == NULL)
        return NULL;
    r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(text);
        return NULL;
    }
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, JSON_CT) != MHD_YES) {
        MHD_destroy_response(r);
        return NULL;
    }
    return r;
}

static struct MHD_Response *bad_request(struct ob_sim *s, const char *detail)
{
    INC(s, bad_requests);
    json_t *j = json_pack("{s:s, s:s}", "error", "bad request", "detail", detail);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return owned_json(text);
}

static enum MHD_Result queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r,
                             bool owned)
{
    if (r == NULL)
        return MHD_NO; /* out of memory: drop the connection */
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    if (owned)
        MHD_destroy_response(r); /* MHD keeps its own reference */
    return ret;
}

static enum MHD_Result reply_stats(struct ob_sim *s, struct MHD_Connection *c)
{
    char buf[640];
    int n = snprintf(buf, sizeof(buf),
                     "{\"requests\":%lu,\"created\":%lu,\"duplicates\":%lu,\"unauthorized\":%lu,"
                     "\"bad_requests\":%lu,\"injected_5xx\":%lu,\"injected_429\":%lu,"
                     "\"injected_resets\":%lu,\"resets_after_create\":%lu,\"key_mismatches\":%lu,"
                     "\"stored\":%zu,\"capacity\":%zu}",
                     GET(s, requests), GET(s, created), GET(s, duplicates), GET(s, unauthorized),
                     GET(s, bad_requests), GET(s, injected_5xx), GET(s, injected_429),
                     GET(s, injected_resets), GET(s, resets_after_create), GET(s, key_mismatches),
                     atomic_load(&s->stored), s->capacity);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return MHD_NO;
    struct MHD_Response *r =
        MHD_create_response_from_buffer((size_t)n, buf, MHD_RESPMEM_MUST_COPY);
    if (r != NULL && MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, JSON_CT) != MHD_YES) {
        MHD_destroy_response(r);
        r = NULL;
    }
    return queue(c, MHD_HTTP_OK, r, true);
}

/* ---- sleeper ----------------------------------------------------------- */

static void *sleeper_main(void *arg)
{
    struct ob_sim *s = arg;

    pthread_mutex_lock(&s->mu);
    for (;;) {
        struct req *r = s->head;
        if (r == NULL) {
            if (s->stopping)
                break;
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        if (!s->stopping) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec < r->due.tv_sec ||
                (now.tv_sec == r->due.tv_sec && now.tv_nsec < r->due.tv_nsec)) {
                pthread_cond_timedwait(&s->cv, &s->mu, &r->due);
                continue;
            }
        }
        /* due (or stopping: MHD_stop_daemon must not see suspended connections) */
        s->head = r->next;
        if (s->head == NULL)
            s->tail = NULL;
        struct MHD_Connection *c = r->conn; /* r may be freed once resumed */
        pthread_mutex_unlock(&s->mu);
        MHD_resume_connection(c);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/*
 * Park the ready answer and suspend the connection for slow_ms. Returns -1
 * when stopping (the caller answers at once). Suspending under s->mu means
 * the sleeper can never resume a connection that is not suspended yet.
 */
static int park(struct ob_sim *s, struct req *r)
{
    int rc = -1;

    pthread_mutex_lock(&s->mu);
    if (s->stopping)
        goto out;
    clock_gettime(CLOCK_MONOTONIC, &r->due);
    r->due.tv_sec += s->opt.slow_ms / 1000;
    r->due.tv_nsec += (long)(s->opt.slow_ms % 1000) * 1000000L;
    if (r->due.tv_nsec >= 1000000000L) {
        r->due.tv_sec++;
        r->due.tv_nsec -= 1000000000L;
    }
    r->next = NULL;
    if (s->tail != NULL)
        s->tail->next = r;
    else
        s->head = r;
    s->tail = r;
    MHD_suspend_connection(r->conn);
    if (s->head == r)
        pthread_cond_signal(&s->cv); /* later entries are due later: no wake-up needed */
    rc = 0;
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- request handling -------------------------------------------------- */

static bool authorized(struct ob_sim *s, struct MHD_Connection *c)
{
    if (s->token == NULL)
        return true;
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0)
        return false;
    v += 7;
    while (*v == ' ')
        v++;
    return strlen(v) == s->token_len && memcmp(v, s->token, s->token_len) == 0;
}

static bool json_content_type(struct MHD_Connection *c)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (v == NULL || strncasecmp(v, JSON_CT, strlen(JSON_CT)) != 0)
        return false;
    v += strlen(JSON_CT);
    return *v == '\0' || *v == ';' || *v == ' '; /* "; charset=utf-8" is fine */
}

/* First call, headers only: route, auth, fault injection. */
static enum MHD_Result begin(struct ob_sim *s, struct MHD_Connection *c, const char *url,
                             const char *method, void **con_cls)
{
    struct req *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return MHD_NO;
    *con_cls = r; /* freed in completed() whatever happens next */
    r->conn = c;

    if (strcmp(url, "/stats") == 0 && strcmp(method, MHD_HTTP_METHOD_GET) == 0) {
        r->route = ROUTE_STATS; /* not counted: polling it must not skew the numbers */
        return MHD_YES;
    }
    INC(s, requests);
    if (strcmp(url, "/orders") != 0 || strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
        r->route = ROUTE_NOT_FOUND;
        return MHD_YES;
    }
    r->route = ROUTE_ORDERS;

    if (!authorized(s, c)) {
        INC(s, unauthorized);
        r->verdict = MHD_HTTP_UNAUTHORIZED;
        return MHD_YES;
    }

    /* faults come before any side effect; the body is read and dropped so
     * the connection stays usable (keep-alive) */
    r->draw = atomic_fetch_add_explicit(&s->draws, 1, memory_order_relaxed);
    if (hit(s, r->draw, D_RESET, s->opt.reset_rate)) {
        INC(s, injected_resets);
        return MHD_NO; /* MHD closes the socket without an answer */
    }
    if (hit(s, r->draw, D_5XX, s->opt.fail_5xx_rate)) {
        INC(s, injected_5xx);
        r->verdict = MHD_HTTP_SERVICE_UNAVAILABLE;
        return MHD_YES;
    }
    if (hit(s, r->draw, D_429, s->opt.fail_429_rate)) {
        INC(s, injected_429);
        r->verdict = MHD_HTTP_TOO_MANY_REQUESTS;
        return MHD_YES;
    }
    r->slow = s->opt.slow_ms > 0 && hit(s, r->draw, D_SLOW, s->opt.slow_rate);

    /* refuse an announced oversized body before reading it (MHD then closes) */
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl != NULL) {
        unsigned long long n = strtoull(cl, NULL, 10);
        if (n > BODY_LIMIT) {
            INC(s, bad_requests);
            return MHD_queue_response(c, MHD_HTTP_CONTENT_TOO_LARGE, s->r413);
        }
        if (n > 0) {
            r->body = malloc((size_t)n);
            if (r->body == NULL)
                return MHD_NO;
            r->cap = (size_t)n;
        }
    }
    return MHD_YES;
}

/* Bounded body accumulation; past BODY_LIMIT the rest is dropped (-> 413). */
static int append(struct req *r, const char *data, size_t n)
{
    if (r->too_large)
        return 0;
    if (n > BODY_LIMIT - r->len) {
        r->too_large = true;
        free(r->body);
        r->body = NULL;
        r->len = r->cap = 0;
        return 0;
    }
    if (r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4096;
        if (cap < r->len + n)
            cap = r->len + n;
        if (cap > BODY_LIMIT)
            cap = BODY_LIMIT;
        char *p = realloc(r->body, cap);
        if (p == NULL)
            return -1;
        r->body = p;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    return 0;
}

/*
 * Validate and dedupe. Sets *status, *resp and *owned, or returns -1 when the
 * connection must be dropped (reset_after_create, or out of memory).
 */
static int process_order(struct ob_sim *s, struct MHD_Connection *c, struct req *r,
                         unsigned *status, struct MHD_Response **resp, bool *owned)
{
    unsigned char key[KEY_BYTES];
    json_error_t jerr;
    json_t *doc = NULL;
    char detail[256];
    bool mismatch = false;
    int rc = 0;

    *resp = NULL;
    *owned = false;
    *status = MHD_HTTP_BAD_REQUEST;
    if (r->too_large) {
        INC(s, bad_requests);
        *status = MHD_HTTP_CONTENT_TOO_LARGE;
        *resp = s->r413;
        goto out;
    }
    if (!json_content_type(c)) {
        INC(s, bad_requests);
        *status = MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
        *resp = s->r415;
        goto out;
    }
    *owned = true;
    if (parse_key(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key"), key) < 0) {
        *resp = bad_request(s, "Idempotency-Key header missing or not 64 lowercase hex digits");
        goto out;
    }
    doc = json_loadb(r->body ? r->body : "", r->len, 0, &jerr);
    if (doc == NULL) {
        snprintf(detail, sizeof(detail), "invalid JSON: %s (line %d, column %d)", jerr.text,
                 jerr.line, jerr.column);
        *resp = bad_request(s, detail);
        goto out;
    }
    json_t *ref = json_object_get(doc, "reference_id");
    json_t *products = json_object_get(doc, "products");
    if (!json_is_object(doc)) {
        *resp = bad_request(s, "body must be a JSON object");
        goto out;
    }
    if (!json_is_string(ref) || json_string_length(ref) == 0) {
        *resp = bad_request(s, "reference_id must be a non-empty string");
        goto out;
    }
    if (!json_is_object(json_object_get(doc, "recipient"))) {
        *resp = bad_request(s, "recipient must be an object");
        goto out;
    }
    if (!json_is_array(products) || json_array_size(products) == 0) {
        *resp = bad_request(s, "products must be a non-empty array");
        goto out;
    }

    switch (store_put(s, json_string_value(ref), json_string_length(ref), key, &mismatch)) {
    case PUT_DUP:
        INC(s, duplicates);
        if (mismatch)
            INC(s, key_mismatches);
        *owned = false;
        *status = MHD_HTTP_UNPROCESSABLE_CONTENT;
        *resp = s->r422;
        break;
    case PUT_FULL:
        *owned = false;
        *status = MHD_HTTP_INSUFFICIENT_STORAGE;
        *resp = s->r507;
        break;
    case PUT_NEW: {
        INC(s, created);
        unsigned long id = atomic_fetch_add(&s->next_id, 1);
        if (hit(s, r->draw, D_RESET_AFTER_CREATE, s->opt.reset_after_create_rate)) {
            INC(s, resets_after_create);
            rc = -1; /* stored, but the client never hears about it */
            break;
        }
        json_t *j = json_pack("{s:I, s:O, s:s}", "id", (json_int_t)id, "reference_id", ref,
                              "status", "Processing");
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        *status = MHD_HTTP_CREATED;
        *resp = owned_json(text);
        break;
    }
    }
out:
    json_decref(doc);
    if (rc == 0 && *resp == NULL)
        rc = -1;
    return rc;
}

/* Last call (whole body in): answer, maybe after parking for slow_ms. */
static enum MHD_Result finish(struct ob_sim *s, struct MHD_Connection *c, struct req *r)
{
    unsigned status;
    struct MHD_Response *resp;
    bool owned;

    switch (r->route) {
    case ROUTE_STATS:
        return reply_stats(s, c);
    case ROUTE_NOT_FOUND:
        return queue(c, MHD_HTTP_NOT_FOUND, s->r404, false);
    case ROUTE_ORDERS:
        break;
    }
    switch (r->verdict) {
    case MHD_HTTP_UNAUTHORIZED:
        return queue(c, r->verdict, s->r401, false);
    case MHD_HTTP_SERVICE_UNAVAILABLE:
        return queue(c, r->verdict, s->r503, false);
    case MHD_HTTP_TOO_MANY_REQUESTS:
        return queue(c, r->verdict, s->r429, false);
    default:
        break;
    }
    if (process_order(s, c, r, &status, &resp, &owned) < 0)
        return MHD_NO;
    free(r->body); /* not needed any more; don't hold it while parked */
    r->body = NULL;
    r->len = r->cap = 0;
    if (r->slow) {
        r->resp = resp;
        r->status = status;
        r->resp_owned = owned;
        if (park(s, r) == 0)
            return MHD_YES;
        r->resp = NULL;
    }
    return queue(c, status, resp, owned);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    struct ob_sim *s = cls;
    struct req *r = *con_cls;
    (void)version;

    if (r == NULL)
        return begin(s, c, url, method, con_cls);
    if (*upload_data_size != 0) {
        /* keep only bodies we will look at; others are read and dropped */
        if (r->route == ROUTE_ORDERS && r->verdict == 0 &&
            append(r, upload_data, *upload_data_size) < 0)
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->resp != NULL) { /* resumed after slow_ms */
        struct MHD_Response *resp = r->resp;
        r->resp = NULL;
        return queue(c, r->status, resp, r->resp_owned);
    }
    return finish(s, c, r);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct req *r = *con_cls;
    (void)cls;
    (void)c;
    (void)toe;

    if (r == NULL)
        return;
    if (r->resp != NULL && r->resp_owned) /* closed while parked (daemon shutdown) */
        MHD_destroy_response(r->resp);
    free(r->body);
    free(r);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct ob_sim *s = cls;

    /* keep the first message only: it explains a failed start */
    pthread_mutex_lock(&s->log_mu);
    if (s->log[0] == '\0') {
        vsnprintf(s->log, sizeof(s->log), fmt, ap);
        s->log[strcspn(s->log, "\n")] = '\0';
    }
    pthread_mutex_unlock(&s->log_mu);
}

/* ---- public API -------------------------------------------------------- */

static bool valid_rate(double r)
{
    return r >= 0.0 && r <= 1.0; /* false for NaN too */
}

static int make_canned(struct ob_sim *s)
{
    char retry[32];

    s->r401 = canned("{\"error\":\"unauthorized\"}");
    s->r404 = canned("{\"error\":\"not found\"}");
    s->r413 = canned("{\"error\":\"payload too large\"}");
    s->r415 = canned("{\"error\":\"unsupported media type\",\"detail\":\"Content-Type must be application/json\"}");
    s->r422 = canned("{\"errors\":{\"reference_id\":[\"Duplicate reference ID\"]}}");
    s->r429 = canned("{\"error\":\"too many requests\"}");
    s->r503 = canned("{\"error\":\"unavailable\"}");
    s->r507 = canned("{\"error\":\"capacity exceeded\"}");
    if (!s->r401 || !s->r404 || !s->r413 || !s->r415 || !s->r422 || !s->r429 || !s->r503 ||
        !s->r507)
        return -1;
    snprintf(retry, sizeof(retry), "%u", s->opt.retry_after_s);
    if (MHD_add_response_header(s->r429, MHD_HTTP_HEADER_RETRY_AFTER, retry) != MHD_YES)
        return -1;
    return 0;
}

static void free_canned(struct ob_sim *s)
{
    struct MHD_Response **all[] = {&s->r401, &s->r404, &s->r413, &s->r415,
                                   &s->r422, &s->r429, &s->r503, &s->r507};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (*all[i] != NULL)
            MHD_destroy_response(*all[i]);
        *all[i] = NULL;
    }
}

struct ob_sim *ob_sim_start(const struct ob_sim_options *opt, char *errstr, size_t errstr_size)
{
    struct ob_sim *s = NULL;
    struct sockaddr_storage ss;
    pthread_condattr_t ca;
    bool ca_ready = false, locks_ready = false;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                         MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;

    if (opt == NULL) {
        errfmt(errstr, errstr_size, "no options");
        return NULL;
    }
    if (!valid_rate(opt->fail_5xx_rate) || !valid_rate(opt->fail_429_rate) ||
        !valid_rate(opt->reset_rate) || !valid_rate(opt->reset_after_create_rate) ||
        !valid_rate(opt->slow_rate)) {
        errfmt(errstr, errstr_size, "fault rates must be within [0, 1]");
        return NULL;
    }
    /* aligned: the shards and the PRNG counter sit on their own cache lines */
    s = aligned_alloc(64, sizeof(*s));
    if (s != NULL)
        memset(s, 0, sizeof(*s));
    if (s == NULL) {
        errfmt(errstr, errstr_size, "out of memory");
        return NULL;
    }
    s->opt = *opt;
    s->opt.token = NULL;
    s->opt.bind_addr = NULL;
    if (s->opt.threads == 0)
        s->opt.threads = 2;
    if (s->opt.retry_after_s == 0)
        s->opt.retry_after_s = 1;
    s->capacity = opt->capacity ? opt->capacity : (size_t)1 << 20;
    atomic_init(&s->next_id, FIRST_ORDER_ID);
    atomic_init(&s->draws, 0);
    atomic_init(&s->stored, 0);

    if (opt->token != NULL && opt->token[0] != '\0') {
        s->token = strdup(opt->token);
        if (s->token == NULL) {
            errfmt(errstr, errstr_size, "out of memory");
            goto fail;
        }
        s->token_len = strlen(s->token);
    }

    /* the sleeper waits on CLOCK_MONOTONIC deadlines */
    if (pthread_condattr_init(&ca) != 0)
        goto fail_mem;
    ca_ready = true;
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_mutex_init(&s->mu, NULL) != 0)
        goto fail_mem;
    if (pthread_cond_init(&s->cv, &ca) != 0) {
        pthread_mutex_destroy(&s->mu);
        goto fail_mem;
    }
    if (pthread_mutex_init(&s->log_mu, NULL) != 0) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        goto fail_mem;
    }
    locks_ready = true;
    if (store_init(s) < 0 || make_canned(s) < 0)
        goto fail_mem;

    const char *addr = opt->bind_addr ? opt->bind_addr : "127.0.0.1";
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(opt->port);
    } else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(opt->port);
        flags |= MHD_USE_IPv6;
    } else {
        errfmt(errstr, errstr_size, "bind_addr '%s' is not an IPv4 or IPv6 address", addr);
        goto fail;
    }

    if (pthread_create(&s->sleeper, NULL, sleeper_main, s) != 0)
        goto fail_mem;
    s->sleeper_started = true;

    /* one thread is the internal polling thread alone: MHD warns about a
     * pool of 0 or 1, so leave the option out then (an empty array) */
    struct MHD_OptionItem pool[] = {
        {MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)s->opt.threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    if (s->opt.threads < 2)
        pool[0].option = MHD_OPTION_END;

    /* the logger goes first so it also sees complaints about later options */
    s->daemon = MHD_start_daemon(
        flags, opt->port, NULL, NULL, handle, s,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_ARRAY, pool,
        MHD_OPTION_NOTIFY_COMPLETED, completed, s,
        MHD_OPTION_CONNECTION_LIMIT, 10000u, /* default (~1020) is too low for load tests */
        MHD_OPTION_CONNECTION_TIMEOUT, 60u,    /* idle keep-alive connections go away */
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
        MHD_OPTION_END);
    if (s->daemon == NULL) {
        pthread_mutex_lock(&s->log_mu);
        errfmt(errstr, errstr_size, "cannot listen on %s:%u: %s", addr, (unsigned)opt->port,
               s->log[0] ? s->log : "MHD_start_daemon failed");
        pthread_mutex_unlock(&s->log_mu);
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : opt->port;
    if (s->port == 0) {
        errfmt(errstr, errstr_size, "cannot read the bound port");
        goto fail;
    }
    pthread_condattr_destroy(&ca);
    return s;

fail_mem:
    errfmt(errstr, errstr_size, "out of memory or resources");
fail:
    if (ca_ready)
        pthread_condattr_destroy(&ca);
    if (locks_ready) {
        ob_sim_stop(s); /* everything below is NULL-safe */
        return NULL;
    }
    free(s->token);
    free(s);
    return NULL;
}

unsigned short ob_sim_port(const struct ob_sim *sim)
{
    return sim ? sim->port : 0;
}

void ob_sim_get_stats(struct ob_sim *sim, struct ob_sim_stats *out)
{
    if (out == NULL)
        return;
    memset(out, 0, sizeof(*out));
    if (sim == NULL)
        return;
    out->requests = GET(sim, requests);
    out->created = GET(sim, created);
    out->duplicates = GET(sim, duplicates);
    out->unauthorized = GET(sim, unauthorized);
    out->bad_requests = GET(sim, bad_requests);
    out->injected_5xx = GET(sim, injected_5xx);
    out->injected_429 = GET(sim, injected_429);
    out->injected_resets = GET(sim, injected_resets);
    out->resets_after_create = GET(sim, resets_after_create);
    out->key_mismatches = GET(sim, key_mismatches);
}

int ob_sim_created(struct ob_sim *sim, const char *reference_id)
{
    if (sim == NULL || reference_id == NULL)
        return 0;
    return store_has(sim, reference_id, strlen(reference_id));
}

void ob_sim_stop(struct ob_sim *sim)
{
    if (sim == NULL)
        return;
    /* first resume every parked connection: MHD_stop_daemon panics on
     * suspended ones; park() refuses new ones once stopping is set */
    if (sim->sleeper_started) {
        pthread_mutex_lock(&sim->mu);
        sim->stopping = true;
        pthread_cond_signal(&sim->cv);
        pthread_mutex_unlock(&sim->mu);
        pthread_join(sim->sleeper, NULL);
    }
    if (sim->daemon != NULL)
        MHD_stop_daemon(sim->daemon);
    free_canned(sim);
    store_free(sim);
    pthread_mutex_destroy(&sim->log_mu);
    pthread_cond_destroy(&sim->cv);
    pthread_mutex_destroy(&sim->mu);
    free(sim->token);
    free(sim);
}
