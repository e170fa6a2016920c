/*
 * sim.c — the warehouse simulator core, see sim.h and README.md.
 *
 * The core owns the HTTP server and everything that is the same for every
 * warehouse: routing of GET /stats, body accumulation and its limit (413),
 * fault injection, the slow-answer sleeper, the counters and the dedupe
 * store. What a warehouse API looks like (paths, credentials, validation,
 * answers) is a profile's business: sim/profile_<name>.c, found by name in
 * the table below.
 *
 * Threading: libmicrohttpd runs `threads` epoll workers; every request is
 * handled entirely on its worker, profile code included. Shared state is
 * small: atomic counters, an atomic PRNG stream position, an atomic id
 * counter, the secrets (read-only after start), and the dedupe store, which
 * is split into NSHARDS open-addressing tables with one mutex each (held only
 * for a probe and maybe a rehash, never during I/O or a delay).
 *
 * Slow answers (slow_rate) do not block a worker: the connection is
 * suspended with its answer parked in the request, and one "sleeper" thread
 * resumes it after slow_ms. The sleeper queue is sorted by due time; while
 * slow_ms does not change that is plain FIFO.
 *
 * The fault rates and slow_ms are atomics so that a test can change them
 * while the server runs (ob_sim_set_faults).
 *
 * Status reports (callbacks to the bridge) have their own thread and state
 * in callbacks.c; this file only creates, stops and asks it.
 */
#include "sim.h"
#include "callbacks.h"

#include <arpa/inet.h>
#include <dlfcn.h>
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

#include <microhttpd.h>

#define BODY_LIMIT ((size_t)1 << 20)
#define FIRST_ORDER_ID 1000001UL
#define NSHARDS 64 /* power of two; the top hash bits pick the shard */
#define SHARD_BITS 6
#define JSON_CT "application/json"
#define DEFAULT_PROFILE "rest"

/* ---- profiles ------------------------------------------------------------ */

/*
 * Every profile the simulator knows. "rest" lives in this tree and is
 * referenced strongly. The others are written separately; the weak
 * declarations let this file link before their files exist (the address is
 * then NULL and the lookup skips them). A weak reference does not pull an
 * object out of a static archive, which is why ob-sim is a CMake OBJECT
 * library (not STATIC): every .c file in sim/ is linked into whatever links
 * ob-sim, so a profile is found as soon as its file is in the tree.
 */
extern const struct ob_sim_profile ob_sim_profile_rest;
extern const struct ob_sim_profile ob_sim_profile_sf_express __attribute__((weak));
extern const struct ob_sim_profile ob_sim_profile_cainiao __attribute__((weak));
extern const struct ob_sim_profile ob_sim_profile_qimen __attribute__((weak));
extern const struct ob_sim_profile ob_sim_profile_ems __attribute__((weak));

static const struct ob_sim_profile *const profiles[] = {
    &ob_sim_profile_rest,    &ob_sim_profile_sf_express, &ob_sim_profile_cainiao,
    &ob_sim_profile_qimen,   &ob_sim_profile_ems,
};

static bool usable(const struct ob_sim_profile *p)
{
    return p != NULL && p->name != NULL && p->handle != NULL;
}

static const struct ob_sim_profile *find_profile(const char *name)
{
    for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
        if (usable(profiles[i]) && strcmp(profiles[i]->name, name) == 0)
            return profiles[i];
    return NULL;
}

/* ---- dedupe store -------------------------------------------------------- */

struct entry {
    uint64_t hash;
    size_t klen;
    char data[]; /* key (klen bytes), NUL, value, NUL */
};

struct shard {
    _Alignas(64) pthread_mutex_t mu; /* own cache line: no false sharing */
    struct entry **slots;            /* linear probing, never deleted */
    size_t mask;                     /* number of slots - 1 */
    size_t used;
};

/* ---- per-request state (con_cls) ----------------------------------------- */

struct req {
    bool begun;     /* the request line and headers have been seen */
    bool stats;     /* GET /stats */
    bool keep_body; /* the body goes to the profile; otherwise it is read and dropped */
    bool slow;
    bool garbage_after; /* process the request, then answer 200 with garbage */
    bool too_large;
    uint64_t draw; /* position in the PRNG stream */
    char *body;    /* NUL-terminated once complete */
    size_t len, cap;
    /* an answer decided before the body was in (screen, fault), or parked while suspended */
    struct MHD_Response *resp;
    unsigned status;
    bool resp_owned; /* false: one of the shared canned responses */
    struct MHD_Connection *conn;
    struct timespec due;
    struct req *next; /* sleeper queue */
    /* what the profile did, for on_request */
    unsigned counted;
    bool looked_up;
    char ref[128];
    bool has_query;
    char query[]; /* raw, as the client sent it */
};

struct counters {
    atomic_ulong requests, created, duplicates, unauthorized, bad_requests, injected_5xx,
        injected_429, injected_resets, resets_after_create, key_mismatches, bad_signatures,
        injected_garbage, garbage_after_create, slow_answers, tls_refused;
};

/* The fault knobs of ob_sim_options, changeable at run time. */
struct faults {
    _Atomic double reset, fail_5xx, fail_429, slow, reset_after_create, garbage;
    atomic_uint slow_ms;
};

/* 200 answers that are not what any profile answers: a proxy's error page,
 * JSON cut short, nothing at all, a bare word. */
static const struct {
    const char *body, *content_type;
} garbage_bodies[] = {
    {"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
     "</h1></center><hr><center>nginx</center></body></html>\r\n", "text/html"},
    {"{\"id\":10000", "application/json"},
    {"", "application/json"},
    {"OK", "text/plain"},
};
#define N_GARBAGE (sizeof(garbage_bodies) / sizeof(garbage_bodies[0]))

struct ob_sim {
    struct MHD_Daemon *daemon;
    unsigned short port;
    const struct ob_sim_profile *profile;
    struct ob_sim_secret *secrets; /* copies; NULL-terminated by name */
    struct ob_sim_options opt;     /* pointers in it are not used after start */
    size_t capacity;

    struct counters c;
    struct faults f;
    _Alignas(64) atomic_ullong draws; /* PRNG stream position, one per request */
    _Alignas(64) atomic_ulong next_id;
    atomic_size_t stored;

    struct shard shards[NSHARDS];
    bool shards_ready;

    /* canned answers, shared by all connections (MHD refcounts them) */
    struct MHD_Response *r413, *r429, *r503;
    struct MHD_Response *garbage[N_GARBAGE];

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

    struct ob_sim__cb *cb; /* status reports; NULL when the profile sends none */

    /* HTTPS: copies of the PEM texts and the priorities (MHD keeps pointers) */
    char *tls_cert, *tls_key, *tls_client_ca, *tls_priorities;
    /* gnutls_certificate_verify_peers2(), looked up at start when tls_client_ca is set */
    int (*verify_peers)(void *session, unsigned int *status);
};

#define INC(s, f) atomic_fetch_add_explicit(&(s)->c.f, 1, memory_order_relaxed)
#define GET(s, f) atomic_load_explicit(&(s)->c.f, memory_order_relaxed)

/* The request whose profile code runs on this thread (NULL: none), so that
 * what the profile counts and stores can be told to on_request. */
static _Thread_local struct req *profile_req;

/* ---- helpers ------------------------------------------------------------- */

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

static uint64_t hash_key(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a, then mixed for the top bits */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ULL;
    }
    return mix64(h ^ n);
}

enum draw_slot { D_RESET, D_5XX, D_429, D_SLOW, D_RESET_AFTER_CREATE, D_NSLOTS };
/* Decisions added later draw from a second stream, so that the first keeps
 * giving every seed the decisions it always gave. */
enum extra_slot { X_GARBAGE, X_GARBAGE_AFTER, X_GARBAGE_BODY, X_NSLOTS };

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

static uint64_t extra_draw(const struct ob_sim *s, uint64_t n, enum extra_slot k)
{
    return mix64(mix64((uint64_t)s->opt.seed ^ 0x6a09e667f3bcc908ULL) + n * X_NSLOTS + k + 1);
}

static bool hit_extra(const struct ob_sim *s, uint64_t n, enum extra_slot k, double rate)
{
    return rate > 0.0 && (double)(extra_draw(s, n, k) >> 11) * 0x1.0p-53 < rate;
}

#define RATE(s, name) atomic_load_explicit(&(s)->f.name, memory_order_relaxed)

static void errfmt(char *buf, size_t size, const char *fmt, ...)
{
    if (buf == NULL || size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

/* ---- store --------------------------------------------------------------- */

static struct shard *shard_of(struct ob_sim *s, uint64_t h)
{
    return &s->shards[h >> (64 - SHARD_BITS)];
}

/* Slot holding (h, key) or the empty slot where it belongs. Lock held. */
static struct entry **probe(struct shard *sh, uint64_t h, const char *key, size_t klen)
{
    size_t i = (size_t)h & sh->mask;
    for (;;) {
        struct entry *e = sh->slots[i];
        if (e == NULL || (e->hash == h && e->klen == klen && memcmp(e->data, key, klen) == 0))
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

static void copy_out(char *dst, size_t size, const char *src)
{
    if (dst == NULL || size == 0)
        return;
    size_t n = strlen(src);
    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int ob_sim_remember(struct ob_sim *sim, const char *key, const char *value, char *existing,
                    size_t existing_size)
{
    if (sim == NULL || key == NULL)
        return -1;
    if (profile_req != NULL)
        copy_out(profile_req->ref, sizeof(profile_req->ref), key);
    if (value == NULL)
        value = "";
    size_t klen = strlen(key), vlen = strlen(value);
    uint64_t h = hash_key(key, klen);
    struct shard *sh = shard_of(sim, h);
    int res = -1;

    /* allocate outside the lock; duplicates are the rare case */
    struct entry *e = malloc(sizeof(*e) + klen + 1 + vlen + 1);
    if (e == NULL)
        return -1;
    e->hash = h;
    e->klen = klen;
    memcpy(e->data, key, klen + 1);
    memcpy(e->data + klen + 1, value, vlen + 1);

    pthread_mutex_lock(&sh->mu);
    struct entry **slot = probe(sh, h, key, klen);
    if (*slot != NULL) {
        copy_out(existing, existing_size, (*slot)->data + (*slot)->klen + 1);
        res = 0;
        goto out;
    }
    /* reserve a place under the global bound before touching the table */
    if (atomic_fetch_add(&sim->stored, 1) >= sim->capacity) {
        atomic_fetch_sub(&sim->stored, 1);
        goto out;
    }
    /* keep the load factor <= 1/2 so probes stay short */
    if ((sh->used + 1) * 2 > sh->mask + 1) {
        if (grow(sh) < 0) {
            atomic_fetch_sub(&sim->stored, 1);
            goto out;
        }
        slot = probe(sh, h, key, klen);
    }
    *slot = e;
    e = NULL;
    sh->used++;
    res = 1;
out:
    pthread_mutex_unlock(&sh->mu);
    free(e);
    return res;
}

static int store_has(struct ob_sim *s, const char *key, size_t klen)
{
    uint64_t h = hash_key(key, klen);
    struct shard *sh = shard_of(s, h);

    pthread_mutex_lock(&sh->mu);
    int found = *probe(sh, h, key, klen) != NULL;
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

/* ---- services for profiles ----------------------------------------------- */

const char *ob_sim_header(const struct ob_sim_request *req, const char *name)
{
    if (req == NULL || req->conn == NULL || name == NULL)
        return NULL;
    /* MHD does not modify the connection here; its API just is not const */
    return MHD_lookup_connection_value((struct MHD_Connection *)(uintptr_t)req->conn,
                                       MHD_HEADER_KIND, name);
}

const char *ob_sim_secret(const struct ob_sim *sim, const char *name)
{
    if (sim == NULL || name == NULL || sim->secrets == NULL)
        return NULL;
    for (const struct ob_sim_secret *p = sim->secrets; p->name != NULL; p++)
        if (strcmp(p->name, name) == 0)
            return p->value;
    return NULL;
}

unsigned ob_sim_status_step_ms(const struct ob_sim *sim)
{
    return sim != NULL && sim->opt.status_step_ms ? sim->opt.status_step_ms : 100;
}

struct ob_sim__cb *ob_sim__cb_of(struct ob_sim *sim)
{
    return sim != NULL ? sim->cb : NULL;
}

unsigned long ob_sim_next_id(struct ob_sim *sim)
{
    if (sim == NULL)
        return 0;
    return atomic_fetch_add_explicit(&sim->next_id, 1, memory_order_relaxed);
}

void ob_sim_count(struct ob_sim *sim, enum ob_sim_counter counter)
{
    if (sim == NULL)
        return;
    if (profile_req != NULL)
        profile_req->counted |= 1u << counter;
    switch (counter) {
    case OB_SIM_CREATED:
        INC(sim, created);
        break;
    case OB_SIM_DUPLICATE:
        INC(sim, duplicates);
        break;
    case OB_SIM_UNAUTHORIZED:
        INC(sim, unauthorized);
        break;
    case OB_SIM_BAD_SIGNATURE:
        INC(sim, bad_signatures);
        break;
    case OB_SIM_BAD_REQUEST:
        INC(sim, bad_requests);
        break;
    case OB_SIM_KEY_MISMATCH:
        INC(sim, key_mismatches);
        break;
    }
}

/* ---- responses ----------------------------------------------------------- */

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

/*
 * The response for a profile's reply; takes reply->body whatever happens.
 * NULL: drop the connection (a status outside 100-599, or out of memory).
 */
static struct MHD_Response *from_reply(struct ob_sim_reply *reply)
{
    char *body = reply->body;
    const char *ct = reply->content_type ? reply->content_type : JSON_CT;
    struct MHD_Response *r;

    reply->body = NULL;
    if (reply->status < 100 || reply->status > 599) {
        free(body);
        return NULL;
    }
    if (body != NULL)
        r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    else
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        free(body);
        return NULL;
    }
    if ((ct[0] != '\0' && MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ct) != MHD_YES) ||
        (reply->retry_after != NULL &&
         MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, reply->retry_after) != MHD_YES)) {
        MHD_destroy_response(r);
        return NULL;
    }
    return r;
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
    char buf[2048];
    struct ob_sim_stats cb = {0};
    ob_sim__cb_stats(s->cb, &cb);
    int n = snprintf(buf, sizeof(buf),
                     "{\"requests\":%lu,\"created\":%lu,\"duplicates\":%lu,\"unauthorized\":%lu,"
                     "\"bad_requests\":%lu,\"injected_5xx\":%lu,\"injected_429\":%lu,"
                     "\"injected_resets\":%lu,\"resets_after_create\":%lu,\"key_mismatches\":%lu,"
                     "\"bad_signatures\":%lu,\"injected_garbage\":%lu,\"garbage_after_create\":%lu,"
                     "\"slow_answers\":%lu,\"cb_sent\":%lu,\"cb_ok\":%lu,\"cb_refused\":%lu,"
                     "\"cb_errors\":%lu,\"cb_forged_accepted\":%lu,\"cb_pending\":%lu,"
                     "\"stored\":%zu,\"capacity\":%zu,\"profile\":\"%s\"}",
                     GET(s, requests), GET(s, created), GET(s, duplicates), GET(s, unauthorized),
                     GET(s, bad_requests), GET(s, injected_5xx), GET(s, injected_429),
                     GET(s, injected_resets), GET(s, resets_after_create), GET(s, key_mismatches),
                     GET(s, bad_signatures), GET(s, injected_garbage), GET(s, garbage_after_create),
                     GET(s, slow_answers), cb.cb_sent, cb.cb_ok, cb.cb_refused, cb.cb_errors,
                     cb.cb_forged_accepted, cb.cb_pending, atomic_load(&s->stored), s->capacity,
                     s->profile->name);
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

static bool before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
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
    unsigned slow_ms = atomic_load_explicit(&s->f.slow_ms, memory_order_relaxed);
    clock_gettime(CLOCK_MONOTONIC, &r->due);
    r->due.tv_sec += slow_ms / 1000;
    r->due.tv_nsec += (long)(slow_ms % 1000) * 1000000L;
    if (r->due.tv_nsec >= 1000000000L) {
        r->due.tv_sec++;
        r->due.tv_nsec -= 1000000000L;
    }
    /* sorted by due time: at the tail unless slow_ms was lowered meanwhile */
    struct req **pos = &s->head;
    if (s->tail != NULL && !before(&r->due, &s->tail->due))
        pos = &s->tail->next;
    else
        while (*pos != NULL && !before(&r->due, &(*pos)->due))
            pos = &(*pos)->next;
    r->next = *pos;
    *pos = r;
    if (r->next == NULL)
        s->tail = r;
    MHD_suspend_connection(r->conn);
    if (s->head == r)
        pthread_cond_signal(&s->cv); /* a new earliest deadline: wake the sleeper */
    rc = 0;
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- request handling ---------------------------------------------------- */

/* MHD_OPTION_URI_LOG_CALLBACK: the first look at a request, with the raw
 * URI (MHD unescapes the path and splits the query later). Its result is
 * the request's con_cls, freed in completed(). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    const char *q = uri != NULL ? strchr(uri, '?') : NULL;
    size_t qlen = q != NULL ? strlen(q + 1) : 0;
    (void)cls;

    struct req *r = calloc(1, sizeof(*r) + qlen + 1);
    if (r == NULL)
        return NULL; /* the handler then drops the connection */
    r->conn = c;
    if (q != NULL) {
        memcpy(r->query, q + 1, qlen + 1);
        r->has_query = true;
    }
    return r;
}

/* tls_client_ca: 1 when the connection's client certificate was signed by
 * that CA (GnuTLS checks the chain, validity and usage against the trust
 * MHD was given), 0 when there is none or it does not verify. MHD only asks
 * for the certificate during the handshake; checking it is ours. */
static bool client_cert_ok(struct ob_sim *s, struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    unsigned int status = 1;

    if (info == NULL || info->tls_session == NULL)
        return false;
    return s->verify_peers(info->tls_session, &status) == 0 && status == 0;
}

/* Tell on_request how a request was answered. */
static void observe(struct ob_sim *s, const struct req *r, const char *method, const char *url,
                    int status, const char *fault)
{
    if (s->opt.on_request == NULL)
        return;
    struct ob_sim_request_event ev = {.method = method, .path = url, .status = status,
                                      .fault = fault, .order_ref = r->ref,
                                      .counted = r->counted, .looked_up = r->looked_up};
    s->opt.on_request(s->opt.observer_arg, &ev);
}

/* First call, headers only: GET /stats, the profile's screen, fault injection. */
static enum MHD_Result begin(struct ob_sim *s, struct MHD_Connection *c, const char *url,
                             const char *method, struct req *r)
{
    r->begun = true;
    if (s->tls_client_ca != NULL && !client_cert_ok(s, c)) {
        INC(s, tls_refused);
        return MHD_NO; /* as a server requiring one ends the handshake: no answer */
    }
    if (strcmp(url, "/stats") == 0 && strcmp(method, MHD_HTTP_METHOD_GET) == 0) {
        r->stats = true; /* not counted: polling it must not skew the numbers */
        return MHD_YES;
    }
    INC(s, requests);

    if (s->profile->screen != NULL) {
        struct ob_sim_request rq = {.method = method, .path = url,
                                    .query = r->has_query ? r->query : NULL,
                                    .body = "", .body_len = 0, .conn = c};
        struct ob_sim_reply reply = {.status = MHD_HTTP_OK};
        profile_req = r;
        int screened = s->profile->screen(s, &rq, &reply);
        profile_req = NULL;
        if (screened) {
            /* answered once the body has been read and dropped (keep-alive) */
            r->resp = from_reply(&reply);
            r->status = (unsigned)reply.status;
            r->resp_owned = true;
            observe(s, r, method, url, r->resp != NULL ? reply.status : 0, NULL);
            return r->resp != NULL ? MHD_YES : MHD_NO;
        }
        free(reply.body); /* a profile going on should not have set one; don't leak it */
    }

    /* faults come before any side effect; the body is read and dropped so
     * the connection stays usable (keep-alive) */
    r->draw = atomic_fetch_add_explicit(&s->draws, 1, memory_order_relaxed);
    if (hit(s, r->draw, D_RESET, RATE(s, reset))) {
        INC(s, injected_resets);
        observe(s, r, method, url, 0, "reset");
        return MHD_NO; /* MHD closes the socket without an answer */
    }
    if (hit(s, r->draw, D_5XX, RATE(s, fail_5xx))) {
        INC(s, injected_5xx);
        r->resp = s->r503;
        r->status = MHD_HTTP_SERVICE_UNAVAILABLE;
        observe(s, r, method, url, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable");
        return MHD_YES;
    }
    if (hit(s, r->draw, D_429, RATE(s, fail_429))) {
        INC(s, injected_429);
        r->resp = s->r429;
        r->status = MHD_HTTP_TOO_MANY_REQUESTS;
        observe(s, r, method, url, MHD_HTTP_TOO_MANY_REQUESTS, "throttled");
        return MHD_YES;
    }
    if (hit_extra(s, r->draw, X_GARBAGE, RATE(s, garbage))) {
        if (hit_extra(s, r->draw, X_GARBAGE_AFTER, 0.5)) {
            r->garbage_after = true; /* decided now, applied in finish() */
        } else {
            INC(s, injected_garbage);
            r->resp = s->garbage[extra_draw(s, r->draw, X_GARBAGE_BODY) % N_GARBAGE];
            r->status = MHD_HTTP_OK;
            observe(s, r, method, url, MHD_HTTP_OK, "garbage");
            return MHD_YES;
        }
    }
    r->slow = atomic_load_explicit(&s->f.slow_ms, memory_order_relaxed) > 0 &&
              hit(s, r->draw, D_SLOW, RATE(s, slow));
    r->keep_body = true;

    /* refuse an announced oversized body before reading it (MHD then closes) */
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl != NULL) {
        unsigned long long n = strtoull(cl, NULL, 10);
        if (n > BODY_LIMIT) {
            INC(s, bad_requests);
            r->keep_body = false;
            observe(s, r, method, url, MHD_HTTP_CONTENT_TOO_LARGE, NULL);
            return MHD_queue_response(c, MHD_HTTP_CONTENT_TOO_LARGE, s->r413);
        }
        if (n > 0) {
            r->body = malloc((size_t)n + 1); /* + the NUL profiles get */
            if (r->body == NULL)
                return MHD_NO;
            r->cap = (size_t)n + 1;
        }
    }
    return MHD_YES;
}

/* Bounded body accumulation; past BODY_LIMIT the rest is dropped (-> 413).
 * Room is always kept for a terminating NUL. */
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
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4096;
        if (cap < r->len + n + 1)
            cap = r->len + n + 1;
        if (cap > BODY_LIMIT + 1)
            cap = BODY_LIMIT + 1;
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

/* Last call (whole body in): the profile answers, maybe after parking for slow_ms. */
static enum MHD_Result finish(struct ob_sim *s, struct MHD_Connection *c, const char *url,
                              const char *method, struct req *r)
{
    unsigned status;
    struct MHD_Response *resp;
    bool owned;

    r->keep_body = false;
    if (r->too_large) {
        INC(s, bad_requests);
        status = MHD_HTTP_CONTENT_TOO_LARGE;
        resp = s->r413;
        owned = false;
        observe(s, r, method, url, (int)status, NULL);
    } else {
        if (r->body != NULL)
            r->body[r->len] = '\0'; /* append() keeps room for it */
        struct ob_sim_request rq = {.method = method, .path = url,
                                    .query = r->has_query ? r->query : NULL,
                                    .body = r->body != NULL ? r->body : "", .body_len = r->len,
                                    .conn = c};
        struct ob_sim_reply reply = {.status = MHD_HTTP_OK};
        profile_req = r;
        s->profile->handle(s, &rq, &reply);
        profile_req = NULL;
        if (reply.created && hit(s, r->draw, D_RESET_AFTER_CREATE, RATE(s, reset_after_create))) {
            INC(s, resets_after_create);
            free(reply.body);
            observe(s, r, method, url, 0, "lost answer");
            return MHD_NO; /* created, but the client never hears about it */
        }
        if (r->garbage_after && reply.status >= 100 && reply.status <= 599) {
            /* processed (maybe created), but the answer is unreadable */
            INC(s, injected_garbage);
            if (reply.created)
                INC(s, garbage_after_create);
            free(reply.body);
            resp = s->garbage[extra_draw(s, r->draw, X_GARBAGE_BODY) % N_GARBAGE];
            status = MHD_HTTP_OK;
            owned = false;
            observe(s, r, method, url, (int)status, "garbage");
        } else {
            int answered = reply.status;
            resp = from_reply(&reply);
            observe(s, r, method, url, resp != NULL ? answered : 0,
                    resp != NULL && r->slow ? "slow" : NULL);
            if (resp == NULL)
                return MHD_NO;
            status = (unsigned)answered;
            owned = true;
        }
    }
    free(r->body); /* not needed any more; don't hold it while parked */
    r->body = NULL;
    r->len = r->cap = 0;
    if (r->slow) {
        INC(s, slow_answers);
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
        return MHD_NO; /* on_uri() ran out of memory */
    if (!r->begun)
        return begin(s, c, url, method, r);
    if (*upload_data_size != 0) {
        /* keep only bodies the profile will look at; others are read and dropped */
        if (r->keep_body && append(r, upload_data, *upload_data_size) < 0)
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->stats)
        return reply_stats(s, c);
    if (r->resp != NULL) { /* decided early, or resumed after slow_ms */
        struct MHD_Response *resp = r->resp;
        r->resp = NULL;
        return queue(c, r->status, resp, r->resp_owned);
    }
    if (!r->keep_body)
        return MHD_NO; /* cannot happen: every path above answers */
    return finish(s, c, url, method, r);
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
    if (r->resp != NULL && r->resp_owned) /* never sent (closed early, or daemon shutdown) */
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

/* ---- public API ---------------------------------------------------------- */

static bool valid_rate(double r)
{
    return r >= 0.0 && r <= 1.0; /* false for NaN too */
}

static bool valid_rates(const struct ob_sim_options *o)
{
    return valid_rate(o->fail_5xx_rate) && valid_rate(o->fail_429_rate) &&
           valid_rate(o->reset_rate) && valid_rate(o->reset_after_create_rate) &&
           valid_rate(o->slow_rate) && valid_rate(o->garbage_rate);
}

static void store_faults(struct ob_sim *s, const struct ob_sim_options *o)
{
    atomic_store(&s->f.reset, o->reset_rate);
    atomic_store(&s->f.fail_5xx, o->fail_5xx_rate);
    atomic_store(&s->f.fail_429, o->fail_429_rate);
    atomic_store(&s->f.slow, o->slow_rate);
    atomic_store(&s->f.reset_after_create, o->reset_after_create_rate);
    atomic_store(&s->f.garbage, o->garbage_rate);
    atomic_store(&s->f.slow_ms, o->slow_ms);
}

int ob_sim_set_faults(struct ob_sim *sim, const struct ob_sim_options *opt)
{
    if (sim == NULL || opt == NULL || !valid_rates(opt))
        return -1;
    store_faults(sim, opt);
    return 0;
}

static int make_canned(struct ob_sim *s)
{
    char retry[32];

    s->r413 = canned("{\"error\":\"payload too large\"}");
    s->r429 = canned("{\"error\":\"too many requests\"}");
    s->r503 = canned("{\"error\":\"unavailable\"}");
    if (!s->r413 || !s->r429 || !s->r503)
        return -1;
    snprintf(retry, sizeof(retry), "%u", s->opt.retry_after_s);
    if (MHD_add_response_header(s->r429, MHD_HTTP_HEADER_RETRY_AFTER, retry) != MHD_YES)
        return -1;
    for (size_t i = 0; i < N_GARBAGE; i++) {
        const char *body = garbage_bodies[i].body;
        s->garbage[i] = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                                        MHD_RESPMEM_PERSISTENT);
        if (s->garbage[i] == NULL ||
            MHD_add_response_header(s->garbage[i], MHD_HTTP_HEADER_CONTENT_TYPE,
                                    garbage_bodies[i].content_type) != MHD_YES)
            return -1;
    }
    return 0;
}

static void free_canned(struct ob_sim *s)
{
    struct MHD_Response **all[] = {&s->r413, &s->r429, &s->r503};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (*all[i] != NULL)
            MHD_destroy_response(*all[i]);
        *all[i] = NULL;
    }
    for (size_t i = 0; i < N_GARBAGE; i++) {
        if (s->garbage[i] != NULL)
            MHD_destroy_response(s->garbage[i]);
        s->garbage[i] = NULL;
    }
}

static void free_tls(struct ob_sim *s)
{
    if (s->tls_key != NULL) /* a throwaway test key, but a key */
        explicit_bzero(s->tls_key, strlen(s->tls_key));
    free(s->tls_cert);
    free(s->tls_key);
    free(s->tls_client_ca);
    free(s->tls_priorities);
}

/* Copy the TLS options; the MHD options that use them go into items[]
 * (room for 4), and MHD_USE_TLS into *flags. NULL, or a message. */
static const char *setup_tls(struct ob_sim *s, const struct ob_sim_options *opt,
                             unsigned int *flags, struct MHD_OptionItem *items)
{
    size_t n = 0;

    if ((opt->tls_cert == NULL) != (opt->tls_key == NULL))
        return "tls_cert and tls_key go together";
    if (opt->tls_cert == NULL)
        return opt->tls_client_ca != NULL || opt->tls_priorities != NULL
                   ? "tls_client_ca and tls_priorities need tls_cert and tls_key"
                   : NULL;
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        return "libmicrohttpd was built without TLS";
    s->tls_cert = strdup(opt->tls_cert);
    s->tls_key = strdup(opt->tls_key);
    if (s->tls_cert == NULL || s->tls_key == NULL)
        return "out of memory";
    items[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert};
    items[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key};
    if (opt->tls_client_ca != NULL) {
        /* libmicrohttpd loads GnuTLS; the sim looks the one function it
         * needs up there rather than link GnuTLS into every user of ob-sim. */
        *(void **)&s->verify_peers = dlsym(RTLD_DEFAULT, "gnutls_certificate_verify_peers2");
        if (s->verify_peers == NULL)
            return "tls_client_ca: gnutls_certificate_verify_peers2 not found";
        s->tls_client_ca = strdup(opt->tls_client_ca);
        if (s->tls_client_ca == NULL)
            return "out of memory";
        items[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, s->tls_client_ca};
    }
    if (opt->tls_priorities != NULL) {
        s->tls_priorities = strdup(opt->tls_priorities);
        if (s->tls_priorities == NULL)
            return "out of memory";
        items[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, s->tls_priorities};
    }
    items[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    *flags |= MHD_USE_TLS;
    return NULL;
}

static void free_secrets(struct ob_sim_secret *list)
{
    if (list == NULL)
        return;
    for (struct ob_sim_secret *p = list; p->name != NULL; p++) {
        free((char *)p->name);
        free((char *)p->value);
    }
    free(list);
}

/*
 * Copy opt->secrets, plus opt->token as the secret "token". NULL with
 * *err set on failure; NULL with *err unset when there is nothing to copy.
 */
static struct ob_sim_secret *copy_secrets(const struct ob_sim_options *opt, const char **err)
{
    bool token = opt->token != NULL && opt->token[0] != '\0';
    size_t n = 0;

    *err = NULL;
    for (const struct ob_sim_secret *p = opt->secrets; p != NULL && p->name != NULL; p++, n++) {
        if (token && strcmp(p->name, "token") == 0) {
            *err = "the token is set twice (token and secrets)";
            return NULL;
        }
    }
    if (n == 0 && !token)
        return NULL;
    struct ob_sim_secret *list = calloc(n + 2, sizeof(*list));
    if (list == NULL)
        goto oom;
    size_t k = 0;
    for (; k < n; k++) {
        const struct ob_sim_secret *p = &opt->secrets[k];
        char *name = strdup(p->name), *value = p->value ? strdup(p->value) : NULL;
        if (name == NULL || (p->value != NULL && value == NULL)) {
            free(name);
            free(value);
            goto oom;
        }
        list[k] = (struct ob_sim_secret){name, value};
    }
    if (token) {
        char *name = strdup("token"), *value = strdup(opt->token);
        if (name == NULL || value == NULL) {
            free(name);
            free(value);
            goto oom;
        }
        list[k] = (struct ob_sim_secret){name, value};
    }
    return list;
oom:
    free_secrets(list);
    *err = "out of memory";
    return NULL;
}

struct ob_sim *ob_sim_start(const struct ob_sim_options *opt, char *errstr, size_t errstr_size)
{
    struct ob_sim *s = NULL;
    struct sockaddr_storage ss;
    pthread_condattr_t ca;
    bool ca_ready = false, locks_ready = false;
    /* poll(), not epoll: libmicrohttpd 0.9.75's epoll mode leaves requests unread on busy
     * keep-alive connections until the clients time out (tests/unit/test_dispatch.c) */
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                         MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;

    if (opt == NULL) {
        errfmt(errstr, errstr_size, "no options");
        return NULL;
    }
    if (!valid_rates(opt)) {
        errfmt(errstr, errstr_size, "fault rates must be within [0, 1]");
        return NULL;
    }
    const char *pname = opt->profile != NULL && opt->profile[0] != '\0' ? opt->profile
                                                                       : DEFAULT_PROFILE;
    const struct ob_sim_profile *profile = find_profile(pname);
    if (profile == NULL) {
        char known[256] = "";
        size_t used = 0;
        for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++) {
            if (!usable(profiles[i]) || used >= sizeof(known))
                continue;
            int n = snprintf(known + used, sizeof(known) - used, "%s%s", used ? ", " : "",
                             profiles[i]->name);
            if (n > 0)
                used += (size_t)n;
        }
        errfmt(errstr, errstr_size, "unknown simulator profile %s (available: %s)", pname, known);
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
    s->profile = profile;
    s->opt = *opt;
    s->opt.token = NULL;
    s->opt.bind_addr = NULL;
    s->opt.profile = NULL;
    s->opt.secrets = NULL;
    s->opt.callback_url = NULL; /* callbacks.c keeps its own copy */
    s->opt.tls_cert = s->opt.tls_key = s->opt.tls_client_ca = s->opt.tls_priorities = NULL;
    if (s->opt.threads == 0)
        s->opt.threads = 2;
    if (s->opt.retry_after_s == 0)
        s->opt.retry_after_s = 1;
    s->capacity = opt->capacity ? opt->capacity : (size_t)1 << 20;
    atomic_init(&s->next_id, FIRST_ORDER_ID);
    atomic_init(&s->draws, 0);
    atomic_init(&s->stored, 0);
    store_faults(s, opt);

    const char *serr;
    s->secrets = copy_secrets(opt, &serr);
    if (serr != NULL) {
        errfmt(errstr, errstr_size, "%s", serr);
        goto fail;
    }
    struct MHD_OptionItem tls_items[5] = {{MHD_OPTION_END, 0, NULL}};
    serr = setup_tls(s, opt, &flags, tls_items);
    if (serr != NULL) {
        errfmt(errstr, errstr_size, "%s", serr);
        goto fail;
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
    /* before the daemon: a profile may report an order from its first request */
    if (ob_sim__cb_create(s, profile, opt, &s->cb, errstr, errstr_size) != 0)
        goto fail;

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
        MHD_OPTION_ARRAY, tls_items,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
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
    free_secrets(s->secrets);
    free_tls(s);
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
    out->bad_signatures = GET(sim, bad_signatures);
    out->injected_garbage = GET(sim, injected_garbage);
    out->garbage_after_create = GET(sim, garbage_after_create);
    out->slow_answers = GET(sim, slow_answers);
    out->tls_refused = GET(sim, tls_refused);
    ob_sim__cb_stats(sim->cb, out);
}

int ob_sim_created(struct ob_sim *sim, const char *reference_id)
{
    if (sim == NULL || reference_id == NULL)
        return 0;
    if (profile_req != NULL) {
        profile_req->looked_up = true;
        copy_out(profile_req->ref, sizeof(profile_req->ref), reference_id);
    }
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
    ob_sim__cb_stop(sim->cb); /* nothing is sent after this */
    if (sim->daemon != NULL)
        MHD_stop_daemon(sim->daemon);
    ob_sim__cb_destroy(sim->cb); /* no profile code runs any more */
    free_canned(sim);
    store_free(sim);
    pthread_mutex_destroy(&sim->log_mu);
    pthread_cond_destroy(&sim->cv);
    pthread_mutex_destroy(&sim->mu);
    free_secrets(sim->secrets);
    free_tls(sim);
    free(sim);
}
