/*
 * callbacks.c — status reports: the simulator calls the bridge back with
 * what happens to each order after the push. See sim.h and README.md
 * ("Status reports").
 *
 * A profile that sends callbacks calls ob_sim_order_created() when it
 * stores a new order. The order's sequence is fixed then: the profile's
 * ladder, its exception (1 order in 20, by hash of the reference) and, by
 * cb_reorder_rate, one pair of statuses swapped. Status n of the sequence
 * happens at created + n * status_step_ms. The profile turns a report into
 * an HTTP request (URL, headers, body: its own format and signature) and
 * says whether an answer is its success; everything else is here.
 *
 * One sender thread drives a curl multi handle: keep-alive connections to
 * the bridge, at most cb_max_in_flight transfers at once. An order waits
 * in a binary heap, keyed by when its next delivery is due, or is in
 * flight: never both, so an order's deliveries go strictly one after
 * another (the next only once the previous is answered), while different
 * orders go in parallel. A delivery that is not answered with success goes
 * again after a back-off (50 ms doubling to 1 s), forever until it is or
 * the sim stops. With nothing in flight the thread sleeps on a condition
 * variable until the earliest due time; with transfers in flight it sleeps
 * in curl_multi_poll(), which curl_multi_wakeup() interrupts when a new
 * earliest order arrives or the sim stops.
 *
 * Per report, in this order: a tampered copy (cb_tamper_rate, sent once),
 * the report itself (until success), the same bytes again (cb_replay_rate,
 * sent once), a second delivery of the same status with a new delivery id
 * (cb_duplicate_rate, until success). Fault decisions hash the seed, the
 * reference and the step, so runs repeat.
 *
 * The callback URL may be several, separated by spaces (instances of the
 * bridge behind one load-balanced address): each HTTP attempt goes to one of
 * them, picked by hashing the seed, the order's reference and how many
 * attempts the order has had, so the same seed sends the same attempts to
 * the same URLs. Every list ever set is kept until the sim is freed, so the
 * URL each attempt went to can be told as a plain string.
 *
 * Locking: one mutex guards the orders, the heap and the URLs. Profiles'
 * request builders run under it, on the sender thread; curl runs outside
 * it. Counters are atomics.
 */
#include "callbacks.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include <orderbridge/sdk.h>

#define DEFAULT_STEP_MS 100
#define DEFAULT_IN_FLIGHT 64
#define MAX_BATCH 64
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 1000
#define POLL_MAX_MS 1000
#define TRANSFER_TIMEOUT_MS 10000L
#define ANSWER_MAX 4096
#define EXCEPTION_SHARE 20 /* 1 order in 20 */
#define EXC 0xff           /* the exception, in an order's sequence */
#define CANCEL_SHARE 25    /* 1 order in 25 of those without an exception */
#define CAN 0xfe           /* the cancellation, in an order's sequence */

enum kind { K_REPORT, K_TAMPER, K_REPLAY, K_DUPLICATE };
static const char *const kind_names[] = {"report", "tamper", "replay", "duplicate"};

/* What an order sends next for its current status. */
enum phase { PH_TAMPER, PH_REPORT, PH_REPLAY, PH_DUPLICATE };

/* Fault decisions, one hash slot each. */
enum fault { F_TAMPER, F_REPLAY, F_DUPLICATE, F_REORDER, F_NSLOTS };

/* One callback sent, as ob_sim_reports() tells it. */
struct rec {
    const char *code;
    const char *url; /* the callback URL it went to, in a url_list */
    long long occurred_ms;
    short http_status;
    unsigned char kind;
    bool ok;
};

struct order {
    struct order *next;  /* creation order */
    int64_t created_ms;  /* epoch */
    int64_t created_mono;
    int64_t due;         /* monotonic ms of its next delivery */
    size_t heap_i;
    uint64_t hash;       /* of the reference */
    uint64_t report_id;  /* delivery id of the status being sent (its tampered copy, the
                            report, its retries), then of its duplicate; 0: none yet */
    uint32_t attempts;   /* HTTP attempts started for it (picks the URL) */
    unsigned backoff_ms;
    uint8_t n, at, phase;
    bool reorder;
    uint8_t step[OB_SIM_LADDER_MAX]; /* send order: index into the ladder's steps, or EXC */
    uint8_t when[OB_SIM_LADDER_MAX]; /* it happened at created + when * step_ms */
    uint8_t due_n[OB_SIM_LADDER_MAX]; /* it may go at created + due_n * step_ms */
    struct ob_sim_cb_request saved;   /* the last report's bytes, for its replay */
    const char *saved_base;           /* the callback URL saved.url was built from */
    struct rec *recs;
    size_t n_recs, cap_recs;
    const char *ref, *wh_id, *extra;  /* in data */
    char data[];
};

/* The callback URLs set at once: v[0..n), n >= 1, the strings after v. */
struct url_list {
    struct url_list *older;
    size_t n;
    const char *v[];
};

struct transfer {
    struct transfer *next; /* free list, or the list of finished ones */
    CURL *easy;
    struct curl_slist *headers;
    struct ob_sim_cb_request req;
    const char *base; /* the callback URL (one of a url_list) req.url was built from */
    enum kind kind;
    size_t n;
    struct order *orders[MAX_BATCH];
    CURLcode result;
    char answer[ANSWER_MAX];
    size_t answer_len;
    bool answer_cut;
};

struct ob_sim__cb {
    struct ob_sim *sim;
    const struct ob_sim_profile *profile;
    const struct ob_sim_ladder *ladder;
    uint64_t seed;
    unsigned step_ms, max_in_flight, max_batch;
    double tamper, replay, duplicate, reorder;
    char nonce[17]; /* makes delivery ids unique across runs */
    void (*on_callback)(void *arg, const struct ob_sim_report *report);
    void *observer_arg;

    pthread_mutex_t mu;
    pthread_cond_t cv;      /* the sender: new work, stop */
    pthread_cond_t done_cv; /* ob_sim_wait_reports_done() */
    struct url_list *urls;  /* the callback URLs now; NULL: none */
    struct url_list *older; /* those replaced, kept for the records' url */
    struct order *first, *last;
    struct order **heap;
    size_t heap_n, heap_cap;
    size_t unfinished; /* orders with something left to send */
    uint64_t next_id;
    bool stopping;

    pthread_t thread;
    bool thread_started;
    CURLM *multi;
    unsigned in_flight;
    struct transfer *pool, *free_transfers;

    atomic_ulong sent, ok, refused, errors, forged, pending;
};

/* ---- helpers ------------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    /* splitmix64 finalizer, as in sim.c */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* FNV-1a 64 of the reference, then splitmix64: documented in README.md, so
 * that a test can tell which orders get an exception. */
static uint64_t ref_hash(const char *ref)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)ref; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    return mix64(h);
}

int ob_sim_status_exception(const char *order_ref)
{
    return order_ref != NULL && ref_hash(order_ref) % EXCEPTION_SHARE == 0;
}

int ob_sim_status_cancelled(const char *order_ref)
{
    return order_ref != NULL && !ob_sim_status_exception(order_ref) &&
           (ref_hash(order_ref) >> 32) % CANCEL_SHARE == 0;
}

static bool decide(const struct ob_sim__cb *cb, uint64_t hash, unsigned at, enum fault f,
                   double rate)
{
    if (rate <= 0.0)
        return false;
    uint64_t x = mix64(mix64(cb->seed ^ 0x243f6a8885a308d3ULL) ^
                       (hash + (uint64_t)at * F_NSLOTS + (uint64_t)f + 1));
    return (double)(x >> 11) * 0x1.0p-53 < rate;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Rounded up: a status is never sent before the millisecond it says it happened in. */
static int64_t mono_ms_up(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + (ts.tv_nsec + 999999) / 1000000;
}

static struct timespec deadline(int64_t mono)
{
    struct timespec ts = {.tv_sec = mono / 1000, .tv_nsec = (long)(mono % 1000) * 1000000L};
    return ts;
}

/* The space-separated URLs of `spec` as a list; NULL with *empty set when there is none
 * (NULL, "" or only spaces), NULL alone when out of memory. */
static struct url_list *urls_parse(const char *spec, bool *empty)
{
    size_t n = 0, len = spec != NULL ? strlen(spec) : 0;
    for (size_t i = 0; i < len; i++)
        n += spec[i] != ' ' && (i == 0 || spec[i - 1] == ' ');
    *empty = n == 0;
    if (n == 0)
        return NULL;
    struct url_list *l = malloc(sizeof(*l) + n * sizeof(l->v[0]) + len + 1);
    if (l == NULL)
        return NULL;
    char *copy = (char *)&l->v[n];
    memcpy(copy, spec, len + 1);
    l->older = NULL;
    l->n = 0;
    for (char *p = copy; *p != '\0';) {
        if (*p == ' ') {
            *p++ = '\0';
            continue;
        }
        l->v[l->n++] = p;
        p += strcspn(p, " ");
    }
    return l;
}

static void urls_free(struct url_list *l)
{
    while (l != NULL) {
        struct url_list *older = l->older;
        free(l);
        l = older;
    }
}

static void request_free(struct ob_sim_cb_request *req)
{
    free(req->url);
    for (size_t i = 0; i < OB_SIM_CB_MAX_HEADERS; i++)
        free(req->headers[i]);
    free(req->body);
    memset(req, 0, sizeof(*req));
}

static const struct ob_sim_status *status_of(const struct ob_sim__cb *cb, const struct order *o,
                                             unsigned at)
{
    return o->step[at] == EXC   ? &cb->ladder->exception
           : o->step[at] == CAN ? &cb->ladder->cancel
                                : &cb->ladder->steps[o->step[at]];
}

static bool will(const struct ob_sim__cb *cb, const struct order *o, unsigned at, enum fault f)
{
    double rate = f == F_TAMPER ? cb->tamper : f == F_REPLAY ? cb->replay : cb->duplicate;
    return decide(cb, o->hash, at, f, rate);
}

/* The callback URL of the order's next attempt, one of several at random: seeded and
 * per order and attempt, so a run with the same seed sends the same attempts to the
 * same URLs. Lock held, urls set. */
static const char *pick_url(const struct ob_sim__cb *cb, const struct order *o)
{
    const struct url_list *l = cb->urls;
    if (l->n == 1)
        return l->v[0];
    uint64_t x = mix64(mix64(cb->seed ^ 0x13198a2e03707344ULL) ^
                       (o->hash + (uint64_t)o->attempts * 0x9e3779b97f4a7c15ULL));
    return l->v[x % l->n];
}

/* ---- the heap of waiting orders, by due time (lock held) ------------------ */

static void heap_set(struct ob_sim__cb *cb, size_t i, struct order *o)
{
    cb->heap[i] = o;
    o->heap_i = i;
}

static void sift_up(struct ob_sim__cb *cb, size_t i)
{
    struct order *o = cb->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (cb->heap[parent]->due <= o->due)
            break;
        heap_set(cb, i, cb->heap[parent]);
        i = parent;
    }
    heap_set(cb, i, o);
}

static void sift_down(struct ob_sim__cb *cb, size_t i)
{
    struct order *o = cb->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= cb->heap_n)
            break;
        if (c + 1 < cb->heap_n && cb->heap[c + 1]->due < cb->heap[c]->due)
            c++;
        if (o->due <= cb->heap[c]->due)
            break;
        heap_set(cb, i, cb->heap[c]);
        i = c;
    }
    heap_set(cb, i, o);
}

/* Room for every unfinished order is reserved when one is created: cannot fail. */
static void heap_push(struct ob_sim__cb *cb, struct order *o)
{
    cb->heap[cb->heap_n++] = o;
    sift_up(cb, cb->heap_n - 1);
}

static struct order *heap_pop(struct ob_sim__cb *cb)
{
    struct order *top = cb->heap[0];
    cb->heap_n--;
    if (cb->heap_n > 0) {
        heap_set(cb, 0, cb->heap[cb->heap_n]);
        sift_down(cb, 0);
    }
    return top;
}

/* Wake the sender: it may sleep on the condition variable or in curl. */
static void wake(struct ob_sim__cb *cb)
{
    pthread_cond_signal(&cb->cv);
    if (cb->multi != NULL)
        curl_multi_wakeup(cb->multi);
}

/* ---- orders -------------------------------------------------------------- */

void ob_sim_order_created(struct ob_sim *sim, const char *order_ref, const char *warehouse_id,
                          const char *extra)
{
    struct ob_sim__cb *cb = ob_sim__cb_of(sim);
    if (cb == NULL || order_ref == NULL)
        return;
    if (warehouse_id == NULL)
        warehouse_id = "";
    if (extra == NULL)
        extra = "";

    /* cheap check first: most sims in tests have no callback URL */
    pthread_mutex_lock(&cb->mu);
    bool wanted = cb->urls != NULL && !cb->stopping;
    pthread_mutex_unlock(&cb->mu);
    if (!wanted)
        return;

    size_t lr = strlen(order_ref) + 1, lw = strlen(warehouse_id) + 1, le = strlen(extra) + 1;
    struct order *o = calloc(1, sizeof(*o) + lr + lw + le);
    if (o == NULL)
        return; /* out of memory: this order is not reported */
    memcpy(o->data, order_ref, lr);
    memcpy(o->data + lr, warehouse_id, lw);
    memcpy(o->data + lr + lw, extra, le);
    o->ref = o->data;
    o->wh_id = o->data + lr;
    o->extra = o->data + lr + lw;
    o->created_ms = ob_time_now_ms();
    o->created_mono = mono_ms_up();
    o->hash = ref_hash(order_ref);
    o->backoff_ms = BACKOFF_MIN_MS;

    /* the sequence: the ladder, the exception after its step, maybe a pair swapped */
    const struct ob_sim_ladder *l = cb->ladder;
    bool exception = o->hash % EXCEPTION_SHARE == 0;
    bool cancelled = l->cancel.code != NULL && ob_sim_status_cancelled(order_ref);
    size_t swap_a = SIZE_MAX, swap_b = SIZE_MAX;
    for (size_t i = 0; i < l->n_steps; i++) {
        if (i == l->swap_at)
            swap_a = o->n;
        if (i == l->swap_at + 1)
            swap_b = o->n;
        o->step[o->n++] = (uint8_t)i;
        if (exception && i == l->exception_after)
            o->step[o->n++] = EXC;
        if (cancelled && i == l->cancel_after) {
            o->step[o->n++] = CAN; /* the end: nothing follows a cancellation */
            break;
        }
    }
    for (uint8_t k = 0; k < o->n; k++)
        o->when[k] = o->due_n[k] = k + 1;
    o->reorder = swap_b != SIZE_MAX && decide(cb, o->hash, OB_SIM_LADDER_MAX, F_REORDER,
                                              cb->reorder);
    if (o->reorder) {
        /* sent swapped, each still saying when it happened: both go when the later did */
        uint8_t s = o->step[swap_a], w = o->when[swap_a];
        o->step[swap_a] = o->step[swap_b];
        o->when[swap_a] = o->when[swap_b];
        o->step[swap_b] = s;
        o->when[swap_b] = w;
        for (size_t k = swap_a; k <= swap_b; k++)
            o->due_n[k] = (uint8_t)(swap_b + 1);
    }
    o->phase = will(cb, o, 0, F_TAMPER) ? PH_TAMPER : PH_REPORT;
    o->due = o->created_mono + (int64_t)cb->step_ms * o->due_n[0];

    pthread_mutex_lock(&cb->mu);
    /* every unfinished order may be back in the heap at once: room for all of them */
    if (cb->unfinished + 1 > cb->heap_cap) {
        size_t cap = cb->heap_cap ? cb->heap_cap * 2 : 1024;
        struct order **heap = realloc(cb->heap, cap * sizeof(*heap));
        if (heap == NULL) {
            pthread_mutex_unlock(&cb->mu);
            free(o);
            return;
        }
        cb->heap = heap;
        cb->heap_cap = cap;
    }
    if (cb->last != NULL)
        cb->last->next = o;
    else
        cb->first = o;
    cb->last = o;
    cb->unfinished++;
    atomic_fetch_add(&cb->pending, o->n);
    heap_push(cb, o);
    if (cb->heap[0] == o)
        wake(cb); /* a new earliest due time */
    pthread_mutex_unlock(&cb->mu);
}

static void record(struct order *o, const char *code, const char *url, long long occurred_ms,
                   enum kind kind, bool ok, long http_status)
{
    if (o->n_recs == o->cap_recs) {
        size_t cap = o->cap_recs ? o->cap_recs * 2 : 8;
        struct rec *recs = realloc(o->recs, cap * sizeof(*recs));
        if (recs == NULL)
            return; /* out of memory: the account misses a line */
        o->recs = recs;
        o->cap_recs = cap;
    }
    o->recs[o->n_recs++] = (struct rec){.code = code, .url = url, .occurred_ms = occurred_ms,
                                        .http_status = (short)http_status,
                                        .kind = (unsigned char)kind, .ok = ok};
}

/* Go on with the order's next status, or finish it. Lock held. */
static void next_status(struct ob_sim__cb *cb, struct order *o, int64_t now)
{
    o->at++;
    o->report_id = 0;
    o->backoff_ms = BACKOFF_MIN_MS;
    if (o->at >= o->n) {
        if (--cb->unfinished == 0)
            pthread_cond_broadcast(&cb->done_cv);
        return;
    }
    o->phase = will(cb, o, o->at, F_TAMPER) ? PH_TAMPER : PH_REPORT;
    int64_t due = o->created_mono + (int64_t)cb->step_ms * o->due_n[o->at];
    o->due = due > now ? due : now;
    heap_push(cb, o);
}

static void again_later(struct ob_sim__cb *cb, struct order *o, int64_t now)
{
    o->due = now + o->backoff_ms;
    o->backoff_ms = o->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : o->backoff_ms * 2;
    heap_push(cb, o);
}

static void go_on(struct ob_sim__cb *cb, struct order *o, enum phase phase, int64_t now)
{
    o->phase = phase;
    o->due = now;
    o->backoff_ms = BACKOFF_MIN_MS;
    heap_push(cb, o);
}

/* An order's delivery was answered (ok) or not. Lock held. */
static void advance(struct ob_sim__cb *cb, struct order *o, struct transfer *t, bool ok,
                    int64_t now)
{
    switch ((enum phase)o->phase) {
    case PH_TAMPER: /* sent once, whatever the answer */
        go_on(cb, o, PH_REPORT, now);
        break;
    case PH_REPORT:
        if (!ok) {
            again_later(cb, o, now);
            break;
        }
        atomic_fetch_sub(&cb->pending, 1);
        o->report_id = 0;
        if (will(cb, o, o->at, F_REPLAY) && t->n == 1) {
            o->saved = t->req; /* the very bytes, for the replay */
            o->saved_base = t->base;
            memset(&t->req, 0, sizeof(t->req));
            go_on(cb, o, PH_REPLAY, now);
        } else if (will(cb, o, o->at, F_DUPLICATE)) {
            go_on(cb, o, PH_DUPLICATE, now);
        } else {
            next_status(cb, o, now);
        }
        break;
    case PH_REPLAY: /* sent once */
        if (will(cb, o, o->at, F_DUPLICATE))
            go_on(cb, o, PH_DUPLICATE, now);
        else
            next_status(cb, o, now);
        break;
    case PH_DUPLICATE:
        if (ok)
            next_status(cb, o, now);
        else
            again_later(cb, o, now);
        break;
    }
}

/* ---- transfers ----------------------------------------------------------- */

static size_t on_answer(char *p, size_t size, size_t n, void *arg)
{
    struct transfer *t = arg;
    size_t len = size * n, room = sizeof(t->answer) - 1 - t->answer_len;
    if (len > room) {
        t->answer_cut = true;
        len = room;
    }
    memcpy(t->answer + t->answer_len, p, len);
    t->answer_len += len;
    t->answer[t->answer_len] = '\0';
    return size * n;
}

static void delivery_id(struct ob_sim__cb *cb, uint64_t id, char out[40])
{
    snprintf(out, 40, "%s%08llx", cb->nonce, (unsigned long long)id);
}

/* Reports of the order's current phase may share a callback with other orders'. */
static bool batchable(const struct ob_sim__cb *cb, const struct order *o)
{
    return cb->max_batch > 1 && o->phase == PH_REPORT && !will(cb, o, o->at, F_REPLAY);
}

/* Build t's request for its orders (lock held). 0, or -1. */
static int build(struct ob_sim__cb *cb, struct transfer *t)
{
    struct ob_sim_cb_item items[MAX_BATCH];
    struct order *o = t->orders[0];
    char id[40];

    switch ((enum phase)o->phase) {
    case PH_REPLAY: {
        t->kind = K_REPLAY;
        t->req = o->saved;
        t->base = o->saved_base;
        memset(&o->saved, 0, sizeof(o->saved));
        if (t->req.url == NULL)
            return -1;
        /* several URLs: the same bytes through the load balancer, to the instance it
         * picks now (what the profile put after the base URL kept); one: as sent */
        size_t used = t->base != NULL ? strlen(t->base) : 0;
        const char *to = pick_url(cb, o);
        if (cb->urls->n > 1 && used > 0 && strncmp(t->req.url, t->base, used) == 0 &&
            to != t->base) {
            char *url = NULL;
            if (asprintf(&url, "%s%s", to, t->req.url + used) < 0)
                return -1;
            free(t->req.url);
            t->req.url = url;
            t->base = to;
        }
        return 0;
    }
    case PH_TAMPER:
    case PH_REPORT:
    case PH_DUPLICATE:
        /* the same id for the tampered copy, the report and its retries (a bridge that
         * records an id before checking the signature then loses the report); a new
         * one for the duplicate */
        t->kind = o->phase == PH_TAMPER ? K_TAMPER : o->phase == PH_REPORT ? K_REPORT
                                                                          : K_DUPLICATE;
        if (o->report_id == 0)
            o->report_id = ++cb->next_id;
        delivery_id(cb, o->report_id, id);
        break;
    }
    for (size_t i = 0; i < t->n; i++) {
        const struct order *oi = t->orders[i];
        items[i] = (struct ob_sim_cb_item){
            .order_ref = oi->ref, .warehouse_id = oi->wh_id, .extra = oi->extra,
            .status = status_of(cb, oi, oi->at),
            .occurred_ms = oi->created_ms + (long long)cb->step_ms * oi->when[oi->at]};
    }
    memset(&t->req, 0, sizeof(t->req));
    t->base = pick_url(cb, o); /* per attempt: a retry may go to another URL */
    if (cb->profile->build_callback(cb->sim, t->base, items, t->n, id, t->kind == K_TAMPER,
                                    &t->req) != 0 ||
        t->req.url == NULL) {
        request_free(&t->req);
        return -1;
    }
    return 0;
}

static int setup(struct transfer *t)
{
    if (t->easy == NULL && (t->easy = curl_easy_init()) == NULL)
        return -1;
    curl_easy_reset(t->easy);
    curl_slist_free_all(t->headers);
    t->headers = NULL;
    for (size_t i = 0; i < OB_SIM_CB_MAX_HEADERS; i++) {
        if (t->req.headers[i] == NULL)
            continue;
        struct curl_slist *h = curl_slist_append(t->headers, t->req.headers[i]);
        if (h == NULL)
            return -1;
        t->headers = h;
    }
    struct curl_slist *h = curl_slist_append(t->headers, "Expect:"); /* no 100-continue */
    if (h == NULL)
        return -1;
    t->headers = h;
    t->answer_len = 0;
    t->answer[0] = '\0';
    t->answer_cut = false;
    t->result = CURLE_OK;
    CURL *e = t->easy;
    if (curl_easy_setopt(e, CURLOPT_URL, t->req.url) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->req.body ? t->req.body : "") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->req.body_len) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_answer) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_WRITEDATA, t) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PRIVATE, t) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, TRANSFER_TIMEOUT_MS) != CURLE_OK)
        return -1;
    return 0;
}

static void release(struct ob_sim__cb *cb, struct transfer *t)
{
    request_free(&t->req);
    t->n = 0;
    t->next = cb->free_transfers;
    cb->free_transfers = t;
}

/* Start every due delivery there is room for. Lock held. */
static void start_due(struct ob_sim__cb *cb, int64_t now)
{
    while (cb->urls != NULL && cb->heap_n > 0 && cb->heap[0]->due <= now &&
           cb->free_transfers != NULL) {
        struct transfer *t = cb->free_transfers;
        cb->free_transfers = t->next;
        t->n = 0;
        t->orders[t->n++] = heap_pop(cb);
        if (batchable(cb, t->orders[0]))
            while (t->n < cb->max_batch && cb->heap_n > 0 && cb->heap[0]->due <= now &&
                   batchable(cb, cb->heap[0]))
                t->orders[t->n++] = heap_pop(cb);
        int built = build(cb, t);
        for (size_t i = 0; i < t->n; i++)
            t->orders[i]->attempts++;
        if (built != 0 || setup(t) != 0 ||
            curl_multi_add_handle(cb->multi, t->easy) != CURLM_OK) {
            /* out of memory, or the profile could not build it: later */
            for (size_t i = 0; i < t->n; i++) {
                if (t->orders[i]->phase == PH_REPLAY) /* its bytes are gone */
                    advance(cb, t->orders[i], t, false, now);
                else
                    again_later(cb, t->orders[i], now);
            }
            release(cb, t);
            continue;
        }
        cb->in_flight++;
        atomic_fetch_add(&cb->sent, 1);
    }
}

/* A transfer is over (lock held): count, record, move its orders on. */
static void finished(struct ob_sim__cb *cb, struct transfer *t, int64_t now)
{
    long status = 0;
    bool ok = false;

    if (t->result == CURLE_OK) {
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
        ok = !t->answer_cut && cb->profile->callback_ok(status, t->answer, t->answer_len);
        atomic_fetch_add(ok ? &cb->ok : &cb->refused, 1);
    } else {
        atomic_fetch_add(&cb->errors, 1);
    }
    if (ok && t->kind == K_TAMPER)
        atomic_fetch_add(&cb->forged, 1);
    for (size_t i = 0; i < t->n; i++) {
        struct order *o = t->orders[i];
        const struct ob_sim_status *st = status_of(cb, o, o->at);
        long long occurred = o->created_ms + (long long)cb->step_ms * o->when[o->at];
        record(o, st->code, t->base, occurred, t->kind, ok, status);
        if (cb->on_callback != NULL) {
            struct ob_sim_report r = {.order_ref = o->ref, .code = st->code,
                                      .kind = kind_names[t->kind], .answered_ok = ok,
                                      .occurred_ms = occurred, .http_status = (int)status,
                                      .url = t->base};
            cb->on_callback(cb->observer_arg, &r);
        }
        advance(cb, o, t, ok, now);
    }
    cb->in_flight--;
    release(cb, t);
}

static void *sender_main(void *arg)
{
    struct ob_sim__cb *cb = arg;

    pthread_mutex_lock(&cb->mu);
    while (!cb->stopping) {
        int64_t now = mono_ms();
        start_due(cb, now);
        int64_t next = cb->urls != NULL && cb->heap_n > 0 ? cb->heap[0]->due : -1;
        if (cb->in_flight == 0) {
            if (next < 0) {
                pthread_cond_wait(&cb->cv, &cb->mu);
            } else {
                struct timespec ts = deadline(next);
                pthread_cond_timedwait(&cb->cv, &cb->mu, &ts);
            }
            continue;
        }
        int timeout = POLL_MAX_MS;
        if (next >= 0 && cb->free_transfers != NULL)
            timeout = next - now < POLL_MAX_MS ? (int)(next > now ? next - now : 0) : POLL_MAX_MS;
        pthread_mutex_unlock(&cb->mu);

        struct transfer *done = NULL;
        int running = 0, left = 0;
        CURLMsg *m;
        curl_multi_perform(cb->multi, &running);
        while ((m = curl_multi_info_read(cb->multi, &left)) != NULL) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct transfer *t = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
            t->result = m->data.result;
            curl_multi_remove_handle(cb->multi, t->easy);
            t->next = done;
            done = t;
        }
        if (done == NULL)
            curl_multi_poll(cb->multi, NULL, 0, timeout, NULL);

        pthread_mutex_lock(&cb->mu);
        now = mono_ms();
        while (done != NULL) {
            struct transfer *t = done;
            done = t->next;
            finished(cb, t, now);
        }
    }
    pthread_mutex_unlock(&cb->mu);
    return NULL;
}

/* ---- life cycle ---------------------------------------------------------- */

static bool valid_rate(double r)
{
    return r >= 0.0 && r <= 1.0; /* false for NaN too */
}

static void errfmt(char *buf, size_t size, const char *msg)
{
    if (buf != NULL && size > 0)
        snprintf(buf, size, "%s", msg);
}

int ob_sim__cb_create(struct ob_sim *sim, const struct ob_sim_profile *profile,
                      const struct ob_sim_options *opt, struct ob_sim__cb **out, char *errstr,
                      size_t errstr_size)
{
    struct ob_sim__cb *cb = NULL;
    bool sends = profile->ladder != NULL && profile->build_callback != NULL &&
                 profile->callback_ok != NULL;
    bool url = opt->callback_url != NULL && opt->callback_url[0] != '\0';
    bool no_url = true;
    pthread_condattr_t ca;
    int locks = 0;

    *out = NULL;
    if (!valid_rate(opt->cb_tamper_rate) || !valid_rate(opt->cb_replay_rate) ||
        !valid_rate(opt->cb_duplicate_rate) || !valid_rate(opt->cb_reorder_rate)) {
        errfmt(errstr, errstr_size, "callback fault rates must be within [0, 1]");
        return -1;
    }
    if (!sends) {
        if (!url)
            return 0;
        errfmt(errstr, errstr_size, "this simulator profile sends no callbacks (callback_url)");
        return -1;
    }
    const struct ob_sim_ladder *l = profile->ladder;
    if (l->n_steps == 0 || l->n_steps >= OB_SIM_LADDER_MAX || l->exception_after >= l->n_steps ||
        (l->cancel.code && l->cancel_after >= l->n_steps)) {
        errfmt(errstr, errstr_size, "the profile's status ladder is malformed");
        return -1;
    }
    cb = calloc(1, sizeof(*cb));
    if (cb == NULL)
        goto oom;
    cb->sim = sim;
    cb->profile = profile;
    cb->ladder = l;
    cb->seed = opt->seed;
    cb->step_ms = opt->status_step_ms ? opt->status_step_ms : DEFAULT_STEP_MS;
    cb->max_in_flight = opt->cb_max_in_flight ? opt->cb_max_in_flight : DEFAULT_IN_FLIGHT;
    cb->max_batch = l->max_batch > MAX_BATCH ? MAX_BATCH : l->max_batch ? l->max_batch : 1;
    cb->tamper = opt->cb_tamper_rate;
    cb->replay = opt->cb_replay_rate;
    cb->duplicate = opt->cb_duplicate_rate;
    cb->reorder = opt->cb_reorder_rate;
    cb->on_callback = opt->on_callback;
    cb->observer_arg = opt->observer_arg;
    unsigned char nonce[8];
    if (ob_random_bytes(nonce, sizeof(nonce)) != 0)
        goto oom;
    ob_hex_lower(nonce, sizeof(nonce), cb->nonce);
    if (url && (cb->urls = urls_parse(opt->callback_url, &no_url)) == NULL) {
        if (no_url) {
            errfmt(errstr, errstr_size, "callback_url holds no URL (only spaces)");
            free(cb);
            return -1;
        }
        goto oom;
    }
    cb->pool = calloc(cb->max_in_flight, sizeof(*cb->pool));
    if (cb->pool == NULL)
        goto oom;
    for (unsigned i = cb->max_in_flight; i-- > 0;) {
        cb->pool[i].next = cb->free_transfers;
        cb->free_transfers = &cb->pool[i];
    }
    atomic_init(&cb->sent, 0);
    atomic_init(&cb->ok, 0);
    atomic_init(&cb->refused, 0);
    atomic_init(&cb->errors, 0);
    atomic_init(&cb->forged, 0);
    atomic_init(&cb->pending, 0);

    if (pthread_condattr_init(&ca) != 0)
        goto oom;
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
        pthread_mutex_init(&cb->mu, NULL) == 0) {
        locks = 1;
        if (pthread_cond_init(&cb->cv, &ca) == 0) {
            locks = 2;
            if (pthread_cond_init(&cb->done_cv, &ca) == 0)
                locks = 3;
        }
    }
    pthread_condattr_destroy(&ca);
    if (locks < 3)
        goto oom;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        goto oom;
    cb->multi = curl_multi_init();
    if (cb->multi == NULL) {
        curl_global_cleanup();
        goto oom;
    }
    /* connections kept for reuse: one per transfer in flight */
    curl_multi_setopt(cb->multi, CURLMOPT_MAXCONNECTS, (long)cb->max_in_flight);
    curl_multi_setopt(cb->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)cb->max_in_flight);
    if (pthread_create(&cb->thread, NULL, sender_main, cb) != 0) {
        curl_multi_cleanup(cb->multi);
        curl_global_cleanup();
        goto oom;
    }
    cb->thread_started = true;
    *out = cb;
    return 0;

oom:
    errfmt(errstr, errstr_size, "out of memory or resources (callbacks)");
    if (cb != NULL) {
        if (locks >= 3)
            pthread_cond_destroy(&cb->done_cv);
        if (locks >= 2)
            pthread_cond_destroy(&cb->cv);
        if (locks >= 1)
            pthread_mutex_destroy(&cb->mu);
        free(cb->pool);
        urls_free(cb->urls);
        free(cb);
    }
    return -1;
}

void ob_sim__cb_stop(struct ob_sim__cb *cb)
{
    if (cb == NULL || !cb->thread_started)
        return;
    pthread_mutex_lock(&cb->mu);
    cb->stopping = true;
    wake(cb);
    pthread_mutex_unlock(&cb->mu);
    pthread_join(cb->thread, NULL);
    cb->thread_started = false;
}

void ob_sim__cb_destroy(struct ob_sim__cb *cb)
{
    if (cb == NULL)
        return;
    ob_sim__cb_stop(cb);
    for (unsigned i = 0; i < cb->max_in_flight; i++) {
        struct transfer *t = &cb->pool[i];
        if (t->easy != NULL) {
            curl_multi_remove_handle(cb->multi, t->easy); /* harmless when not added */
            curl_easy_cleanup(t->easy);
        }
        curl_slist_free_all(t->headers);
        request_free(&t->req);
    }
    curl_multi_cleanup(cb->multi);
    curl_global_cleanup();
    for (struct order *o = cb->first, *next; o != NULL; o = next) {
        next = o->next;
        request_free(&o->saved);
        free(o->recs);
        free(o);
    }
    free(cb->heap);
    free(cb->pool);
    urls_free(cb->urls);
    urls_free(cb->older);
    pthread_cond_destroy(&cb->done_cv);
    pthread_cond_destroy(&cb->cv);
    pthread_mutex_destroy(&cb->mu);
    free(cb);
}

void ob_sim__cb_stats(struct ob_sim__cb *cb, struct ob_sim_stats *out)
{
    if (cb == NULL || out == NULL)
        return;
    out->cb_sent = atomic_load(&cb->sent);
    out->cb_ok = atomic_load(&cb->ok);
    out->cb_refused = atomic_load(&cb->refused);
    out->cb_errors = atomic_load(&cb->errors);
    out->cb_forged_accepted = atomic_load(&cb->forged);
    out->cb_pending = atomic_load(&cb->pending);
}

/* ---- public -------------------------------------------------------------- */

int ob_sim_set_callback_url(struct ob_sim *sim, const char *url)
{
    struct ob_sim__cb *cb = ob_sim__cb_of(sim);
    struct url_list *list = NULL;
    bool empty = true;

    if (cb == NULL)
        return -1;
    if (url != NULL && url[0] != '\0' && (list = urls_parse(url, &empty)) == NULL)
        return -1; /* out of memory, or only spaces */
    pthread_mutex_lock(&cb->mu);
    if (cb->urls != NULL) { /* kept: records point into it */
        cb->urls->older = cb->older;
        cb->older = cb->urls;
    }
    cb->urls = list;
    if (list != NULL && cb->heap_n > 0)
        wake(cb); /* orders may have waited for a URL */
    pthread_mutex_unlock(&cb->mu);
    return 0;
}

void ob_sim_reports(struct ob_sim *sim, void (*fn)(const struct ob_sim_report *r, void *arg),
                    void *arg)
{
    struct ob_sim__cb *cb = ob_sim__cb_of(sim);
    struct ob_sim_report *all = NULL;
    size_t n = 0;

    if (cb == NULL || fn == NULL)
        return;
    pthread_mutex_lock(&cb->mu);
    for (const struct order *o = cb->first; o != NULL; o = o->next)
        n += o->n_recs;
    all = n > 0 ? malloc(n * sizeof(*all)) : NULL;
    if (all != NULL) {
        size_t k = 0;
        for (const struct order *o = cb->first; o != NULL; o = o->next)
            for (size_t i = 0; i < o->n_recs; i++)
                all[k++] = (struct ob_sim_report){
                    .order_ref = o->ref, .code = o->recs[i].code, .url = o->recs[i].url,
                    .kind = kind_names[o->recs[i].kind], .answered_ok = o->recs[i].ok,
                    .occurred_ms = o->recs[i].occurred_ms, .http_status = o->recs[i].http_status};
    }
    pthread_mutex_unlock(&cb->mu);
    /* orders and their strings stay until the sim stops, so fn runs unlocked */
    for (size_t i = 0; all != NULL && i < n; i++)
        fn(&all[i], arg);
    free(all);
}

int ob_sim_reports_done(struct ob_sim *sim)
{
    struct ob_sim__cb *cb = ob_sim__cb_of(sim);
    if (cb == NULL)
        return 1;
    pthread_mutex_lock(&cb->mu);
    int done = cb->unfinished == 0;
    pthread_mutex_unlock(&cb->mu);
    return done;
}

int ob_sim_wait_reports_done(struct ob_sim *sim, int timeout_ms)
{
    struct ob_sim__cb *cb = ob_sim__cb_of(sim);
    if (cb == NULL)
        return 1;
    struct timespec until = deadline(mono_ms() + (timeout_ms > 0 ? timeout_ms : 0));
    pthread_mutex_lock(&cb->mu);
    while (cb->unfinished > 0 &&
           pthread_cond_timedwait(&cb->done_cv, &cb->mu, &until) == 0)
        ;
    int done = cb->unfinished == 0;
    pthread_mutex_unlock(&cb->mu);
    return done;
}
