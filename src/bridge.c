/*
 * bridge.c — the event loop that moves each order from Kafka to its
 * warehouse and its outcome back to Kafka.
 *
 * One thread. The consumer's and producer's queues and the stop request
 * all write to one wake-up pipe that curl_multi_poll() watches beside the
 * HTTP sockets, so the loop sleeps only when there is truly nothing to do.
 *
 * A job is one Kafka message. Its life:
 *   received -> (invalid | unroutable | not encodable) -> records
 *   received -> pushing <-> waiting to retry -> records
 *   records: status event and/or dead letter queued -> all acknowledged
 *   -> offset done (committable once every earlier offset is done too).
 */
#include "bridge.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <orderbridge/sdk.h>

#include "adapter.h"
#include "consumer.h"
#include "dispatch.h"
#include "idempotency.h"
#include "log.h"
#include "order.h"
#include "producer.h"
#include "router.h"
#include "status.h"

#define CONSUME_BATCH 256
#define UNCOMMITTED_PER_JOB 64
#define PAUSE_AFTER_MS 500
#define PRODUCE_RETRY_MS 500
#define MAX_RETRY_AFTER_MS 60000

enum record_kind { RECORD_STATUS, RECORD_DLQ };

struct job;

/* The opaque of one Kafka record, so its delivery report finds its job. */
struct record {
    struct job *job;
    enum record_kind kind;
    int wanted, queued, acked;
    int failed;       /* the last attempt was refused: wait before the next */
    int drop_payload; /* DLQ only: the original is too large for the DLQ topic */
};

enum job_state { JOB_QUEUED, JOB_PUSHING, JOB_WAIT_RETRY, JOB_RECORDS, JOB_WAIT_RECORDS };

struct job {
    struct ob_bridge *b;
    struct job *prev, *next; /* every live job, for shutdown */
    struct job *lane_next;   /* waiting for a connection of its warehouse */
    struct job *hash_next;   /* in the order index, while the newest of its order_id */
    struct job *order_next;  /* the next event of the same order_id, waiting for this one */
    int indexed;             /* in the order index, or waiting behind one that is */
    enum job_state state;
    rd_kafka_message_t *msg;
    struct ob_ticket ticket;
    struct ob_parsed_order *po;
    int wh; /* index into cfg->warehouses, -1 when none */
    char idem_key[65];
    char trace_id[48];
    char order_id[65]; /* "" when unknown */
    int attempts;
    long last_http_status;
    int64_t first_attempt_ms, last_attempt_ms; /* epoch */
    uint64_t received_us;                      /* monotonic */
    uint64_t due_ms;                           /* monotonic, while in the timer heap */

    /* the final outcome, once decided */
    const char *status; /* "ACCEPTED", "REJECTED", "DELIVERY_FAILED", or NULL */
    struct ob_outcome outcome;
    const char *dlq_class;
    char dlq_message[512];
    struct record status_rec, dlq_rec;

    struct ob_http_call call; /* last: its buffers need no zeroing on reuse */
};

/* A warehouse's lane: at most max_connections pushes in curl at once, the
 * rest wait here in order. Handing curl only what it can send keeps its
 * per-transfer bookkeeping small, and one slow warehouse's queue never
 * takes connections from another. */
struct warehouse {
    const struct ob_warehouse_conf *conf;
    struct ob_adapter_instance *adapter;
    int active;
    struct job *waiting_head, *waiting_tail;
};

struct ob_bridge {
    const struct ob_config *cfg;
    struct warehouse *warehouses;
    size_t n_warehouses;
    int pumping; /* lane_pump() is running: do not re-enter */
    struct ob_consumer *consumer;
    struct ob_producer *producer;
    struct ob_dispatch *dispatch;
    int wake[2];
    atomic_int stop_requested;
    int stopping;
    uint64_t full_since; /* monotonic ms since the loop stopped taking messages, or 0 */
    size_t jobs;
    struct job *all_jobs;
    struct job *free_jobs; /* recycled, at most max_in_flight */
    size_t n_free_jobs;
    struct job **order_index; /* order_id -> newest unfinished job of that order */
    size_t order_mask;
    int destroying; /* delivery reports are only acknowledged, not acted on */
    struct job **timers; /* min-heap on due_ms */
    size_t n_timers, cap_timers;
    unsigned long rng;
    struct ob_metrics metrics;
};

static uint64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t mono_ms(void)
{
    return mono_us() / 1000u;
}

/* --- timer heap ------------------------------------------------------- */

static void heap_swap(struct ob_bridge *b, size_t i, size_t j)
{
    struct job *t = b->timers[i];

    b->timers[i] = b->timers[j];
    b->timers[j] = t;
}

static int timer_add(struct ob_bridge *b, struct job *job, uint64_t due_ms)
{
    size_t i;

    if (b->n_timers == b->cap_timers) {
        size_t cap = b->cap_timers ? b->cap_timers * 2 : 256;
        struct job **grown = realloc(b->timers, cap * sizeof(*grown));
        if (!grown)
            return -1;
        b->timers = grown;
        b->cap_timers = cap;
    }
    job->due_ms = due_ms;
    i = b->n_timers++;
    b->timers[i] = job;
    while (i > 0 && b->timers[(i - 1) / 2]->due_ms > b->timers[i]->due_ms) {
        heap_swap(b, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    return 0;
}

static struct job *timer_pop_due(struct ob_bridge *b, uint64_t now_ms)
{
    struct job *top;
    size_t i = 0;

    if (b->n_timers == 0 || b->timers[0]->due_ms > now_ms)
        return NULL;
    top = b->timers[0];
    b->timers[0] = b->timers[--b->n_timers];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < b->n_timers && b->timers[l]->due_ms < b->timers[m]->due_ms)
            m = l;
        if (r < b->n_timers && b->timers[r]->due_ms < b->timers[m]->due_ms)
            m = r;
        if (m == i)
            break;
        heap_swap(b, i, m);
        i = m;
    }
    return top;
}

/* --- job life --------------------------------------------------------- */

/* --- one order's events in offset order ------------------------------ */

/*
 * Different orders run in parallel, but two events of the same order_id
 * must reach the warehouse in the order they were consumed (created before
 * cancelled). The index maps an order_id to its newest unfinished job; a
 * job arriving behind one waits on its order_next chain and starts when the
 * one before it has its outcome.
 */
static size_t order_bucket(const struct ob_bridge *b, const char *order_id)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (const unsigned char *p = (const unsigned char *)order_id; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (size_t)h & b->order_mask;
}

static void order_index_remove(struct ob_bridge *b, struct job *job)
{
    for (struct job **pp = &b->order_index[order_bucket(b, job->order_id)]; *pp;
         pp = &(*pp)->hash_next) {
        if (*pp == job) {
            *pp = job->hash_next;
            job->hash_next = NULL;
            return;
        }
    }
}

/* Index `job`; returns 1 when an earlier event of its order is unfinished
 * (the job then waits), 0 when it may go now. */
static int order_wait(struct ob_bridge *b, struct job *job)
{
    size_t bucket = order_bucket(b, job->order_id);
    struct job *prev = b->order_index[bucket];

    while (prev && strcmp(prev->order_id, job->order_id) != 0)
        prev = prev->hash_next;
    job->indexed = 1;
    if (prev) {
        order_index_remove(b, prev); /* `job` is now the newest */
        prev->order_next = job;
    }
    job->hash_next = b->order_index[bucket];
    b->order_index[bucket] = job;
    return prev != NULL;
}

static void job_proceed(struct job *job);

/* `job` has its outcome: let the next event of its order go. */
static void order_release(struct job *job)
{
    struct job *next = job->order_next;

    if (!job->indexed)
        return;
    job->indexed = 0;
    job->order_next = NULL;
    if (next)
        job_proceed(next);
    else
        order_index_remove(job->b, job);
}

static void job_free(struct job *job);

/* `job` is dropped unfinished (shutdown): the events behind it must not
 * overtake it, so they are dropped too, uncommitted, and come back in
 * order after a restart. */
static void order_drop(struct job *job)
{
    struct job *next = job->order_next;

    if (!job->indexed)
        return;
    job->indexed = 0;
    job->order_next = NULL;
    if (next) {
        job_free(next); /* waiting, never started: nothing else refers to it */
    } else {
        order_index_remove(job->b, job);
    }
}

static void job_free(struct job *job)
{
    order_drop(job);
    if (job->prev)
        job->prev->next = job->next;
    else
        job->b->all_jobs = job->next;
    if (job->next)
        job->next->prev = job->prev;
    ob_http_call_reset(&job->call);
    ob_order_free(job->po);
    if (job->msg)
        rd_kafka_message_destroy(job->msg);
    job->b->jobs--;
    OB_METRIC_ADD(&job->b->metrics, in_flight, (uint64_t)-1);
    if (!job->b->destroying && job->b->n_free_jobs < (size_t)job->b->cfg->pipeline.max_in_flight) {
        job->next = job->b->free_jobs;
        job->b->free_jobs = job;
        job->b->n_free_jobs++;
    } else {
        free(job);
    }
}

static struct job *job_alloc(struct ob_bridge *b)
{
    struct job *job = b->free_jobs;

    if (!job)
        return calloc(1, sizeof(*job));
    b->free_jobs = job->next;
    b->n_free_jobs--;
    memset(job, 0, offsetof(struct job, call));
    memset(&job->call, 0, offsetof(struct ob_http_call, resp_headers));
    return job;
}

static void job_complete(struct job *job)
{
    struct ob_bridge *b = job->b;

    ob_consumer_done(b->consumer, &job->ticket);
    OB_METRIC_ADD(&b->metrics, finished, 1);
    ob_histogram_record(&b->metrics.latency, mono_us() - job->received_us);
    job_free(job);
}

static const char *wh_code(const struct job *job)
{
    if (job->wh >= 0)
        return job->b->cfg->warehouses[job->wh].code;
    if (job->po && job->po->order.warehouse)
        return job->po->order.warehouse;
    return "";
}

static rd_kafka_resp_err_t queue_record(struct job *job, struct record *rec)
{
    struct ob_bridge *b = job->b;

    if (rec->kind == RECORD_STATUS) {
        struct ob_status_event ev = {
            .order_id = job->order_id,
            .revision = job->po ? job->po->order.revision : 0,
            .warehouse = wh_code(job),
            .status = job->status,
            .warehouse_order_id = job->outcome.warehouse_order_id,
            .carrier = job->outcome.carrier,
            .tracking_no = job->outcome.tracking_no,
            .reason = job->outcome.reason,
            .source = strcmp(job->status, "DELIVERY_FAILED") == 0 ? "bridge" : "push",
            .idempotency_key = job->idem_key[0] ? job->idem_key : NULL,
            .trace_id = job->trace_id,
        };
        return ob_producer_status(b->producer, &ev, rec);
    } else {
        struct ob_dlq_info info = {
            .reason_class = job->dlq_class,
            .message = job->dlq_message,
            .warehouse = job->wh >= 0 ? wh_code(job) : NULL,
            .attempts = job->attempts,
            .http_status = job->last_http_status,
            .topic = rd_kafka_topic_name(job->msg->rkt),
            .partition = job->msg->partition,
            .offset = job->msg->offset,
            .first_attempt_ms = job->first_attempt_ms,
            .last_attempt_ms = job->last_attempt_ms,
        };
        return ob_producer_dead_letter(b->producer, job->msg, &info, rec->drop_payload, rec);
    }
}

/* Queue every wanted record not yet queued or acknowledged. A record that
 * cannot be queued now is tried again later: the offset must not move
 * before the outcome is in Kafka. */
static void job_send_records(struct job *job)
{
    struct record *recs[2] = {&job->status_rec, &job->dlq_rec};
    int waiting = 0, failed = 0;

    for (int i = 0; i < 2; i++) {
        struct record *rec = recs[i];
        if (!rec->wanted || rec->acked)
            continue;
        if (!rec->queued) {
            rd_kafka_resp_err_t err = queue_record(job, rec);
            if (err) {
                OB_METRIC_ADD(&job->b->metrics, produce_errors, 1);
                ob_log_trace(OB_LOG_WARN, job->trace_id, "cannot queue %s record: %s",
                             rec->kind == RECORD_STATUS ? "status" : "dead-letter",
                             rd_kafka_err2str(err));
                failed = 1;
                continue;
            }
            rec->queued = 1;
        }
        waiting = 1;
    }
    if (failed && !waiting) {
        job->state = JOB_WAIT_RECORDS;
        if (timer_add(job->b, job, mono_ms() + PRODUCE_RETRY_MS) != 0)
            OB_ERR("out of memory: order %s stays unfinished until restart", job->order_id);
    } else if (!waiting) {
        job_complete(job);
    } else {
        job->state = JOB_RECORDS;
    }
}

/* Decide the outcome: a status event, a dead letter, or both. */
static void job_finish(struct job *job, const char *status, const char *dlq_class,
                       const char *message)
{
    order_release(job);
    job->status = job->order_id[0] ? status : NULL;
    job->status_rec = (struct record){.job = job, .kind = RECORD_STATUS, .wanted = job->status != NULL};
    job->dlq_rec = (struct record){.job = job, .kind = RECORD_DLQ, .wanted = dlq_class != NULL};
    job->dlq_class = dlq_class;
    if (message)
        ob_strlcpyf(job->dlq_message, sizeof(job->dlq_message), "%s", message);
    if (status && strcmp(status, "ACCEPTED") != 0 && !job->outcome.reason[0] && message)
        ob_strlcpyf(job->outcome.reason, sizeof(job->outcome.reason), "%s", message);
    if (dlq_class)
        ob_log_trace(OB_LOG_WARN, job->trace_id, "order %s -> %s: %s: %s",
                     job->order_id[0] ? job->order_id : "(unknown)", job->b->cfg->kafka.topic_dlq,
                     dlq_class, message ? message : "");
    job_send_records(job);
}

static void on_record_delivered(void *opaque, rd_kafka_resp_err_t err, void *arg)
{
    struct record *rec = opaque;
    struct ob_bridge *b = arg;
    struct job *job;

    if (b->destroying)
        return; /* the job may be gone already */
    rec->queued = 0;
    job = rec->job;
    if (err) {
        OB_METRIC_ADD(&b->metrics, produce_errors, 1);
        ob_log_trace(OB_LOG_WARN, job->trace_id, "%s record for order %s not delivered: %s",
                     rec->kind == RECORD_STATUS ? "status" : "dead-letter", job->order_id,
                     rd_kafka_err2str(err));
        rec->failed = 1;
        /* A dead letter the topic will never take whole is sent without
         * the original, which stays readable at its own offset. */
        if (rec->kind == RECORD_DLQ && !rec->drop_payload &&
            (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
             err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE))
            rec->drop_payload = 1;
    } else {
        rec->acked = 1;
        if (rec->kind == RECORD_STATUS)
            OB_METRIC_ADD(&b->metrics, status_events, 1);
        else
            OB_METRIC_ADD(&b->metrics, dead_lettered, 1);
    }
    if (job->status_rec.queued || job->dlq_rec.queued)
        return; /* the other record's report is still to come */
    if (job->status_rec.failed || job->dlq_rec.failed) {
        job->status_rec.failed = job->dlq_rec.failed = 0;
        job->state = JOB_WAIT_RECORDS;
        if (timer_add(b, job, mono_ms() + PRODUCE_RETRY_MS) == 0)
            return;
    }
    job_send_records(job);
}

static uint64_t next_random(struct ob_bridge *b)
{
    /* xorshift64*: jitter only, not security */
    b->rng ^= b->rng >> 12;
    b->rng ^= b->rng << 25;
    b->rng ^= b->rng >> 27;
    return b->rng * 2685821657736338717ULL;
}

static void job_push(struct job *job);
static void job_classify(struct job *job);
static void lane_release(struct ob_bridge *b, int wh);
static void lane_pump(struct ob_bridge *b, int wh);

/* Exponential backoff with full jitter; a Retry-After from the warehouse
 * replaces it (capped at MAX_RETRY_AFTER_MS). */
static void job_retry_later(struct job *job, int retry_after_ms)
{
    const struct ob_warehouse_conf *wh = &job->b->cfg->warehouses[job->wh];
    uint64_t cap = (uint64_t)wh->backoff_ms << (job->attempts - 1 < 20 ? job->attempts - 1 : 20);
    uint64_t delay;

    if (cap > (uint64_t)wh->max_backoff_ms)
        cap = (uint64_t)wh->max_backoff_ms;
    delay = next_random(job->b) % (cap + 1);
    if (retry_after_ms > 0)
        delay = (uint64_t)(retry_after_ms < MAX_RETRY_AFTER_MS ? retry_after_ms : MAX_RETRY_AFTER_MS);
    job->state = JOB_WAIT_RETRY;
    if (timer_add(job->b, job, mono_ms() + delay) != 0)
        job_push(job); /* no memory for the timer: retry at once */
}

static void on_http_done(struct ob_http_call *call)
{
    struct job *job = (struct job *)((char *)call - offsetof(struct job, call));
    struct ob_bridge *b = job->b;

    lane_release(b, job->wh);
    job_classify(job);
    lane_pump(b, job->wh);
}

static void job_classify(struct job *job)
{
    struct ob_bridge *b = job->b;
    struct ob_http_call *call = &job->call;
    struct ob_adapter_instance *ad = b->warehouses[job->wh].adapter;
    const struct ob_warehouse_conf *wh = b->warehouses[job->wh].conf;
    struct ob_delivery delivery = {
        .warehouse = wh->code,
        .idempotency_key = job->idem_key,
        .trace_id = job->trace_id,
        .attempt = job->attempts,
    };

    job->last_attempt_ms = ob_now_epoch_ms();
    job->last_http_status = call->resp.status;
    memset(&job->outcome, 0, sizeof(job->outcome));
    ad->plugin.vt.decode_response(ad->state, &job->po->order, &delivery, &call->resp, &job->outcome);
    ob_log_trace(OB_LOG_DEBUG, job->trace_id, "push %s to %s attempt %d: HTTP %ld in %.1f ms",
                 job->order_id, wh->code, job->attempts, call->resp.status,
                 call->total_seconds * 1000.0);
    ob_http_call_reset(call);

    switch (job->outcome.kind) {
    case OB_OUTCOME_ACCEPTED:
        OB_METRIC_ADD(&b->metrics, accepted, 1);
        job_finish(job, "ACCEPTED", NULL, NULL);
        return;
    case OB_OUTCOME_RETRY:
        if (job->attempts < wh->max_attempts && !b->stopping) {
            ob_log_trace(OB_LOG_INFO, job->trace_id, "order %s to %s: %s; retry %d of %d",
                         job->order_id, wh->code, job->outcome.reason, job->attempts,
                         wh->max_attempts - 1);
            job_retry_later(job, job->outcome.retry_after_ms);
            return;
        }
        if (job->attempts < wh->max_attempts) {
            /* Shutting down: the offset stays uncommitted and the order
             * comes back with the same idempotency key after restart. */
            ob_log_trace(OB_LOG_INFO, job->trace_id,
                         "order %s: %s; stopping, left uncommitted for redelivery", job->order_id,
                         job->outcome.reason);
            job_free(job);
            return;
        }
        OB_METRIC_ADD(&b->metrics, failed, 1);
        {
            char msg[600];
            snprintf(msg, sizeof(msg), "gave up after %d attempts: %s", job->attempts,
                     job->outcome.reason);
            job_finish(job, "DELIVERY_FAILED", "retries_exhausted", msg);
        }
        return;
    case OB_OUTCOME_PERMANENT:
    default:
        OB_METRIC_ADD(&b->metrics, rejected, 1);
        if (!job->outcome.reason[0])
            ob_strlcpyf(job->outcome.reason, sizeof(job->outcome.reason), "refused by %s",
                        wh->code);
        job_finish(job, "REJECTED", "rejected", job->outcome.reason);
        return;
    }
}

/* Encode and hand the push to curl; the lane slot is already taken. */
static void job_send(struct job *job)
{
    struct ob_bridge *b = job->b;
    struct ob_adapter_instance *ad = b->warehouses[job->wh].adapter;
    const struct ob_warehouse_conf *wh = b->warehouses[job->wh].conf;
    struct ob_delivery delivery = {
        .warehouse = wh->code,
        .idempotency_key = job->idem_key,
        .trace_id = job->trace_id,
        .attempt = job->attempts + 1,
    };
    char err[512] = "";

    ob_http_call_reset(&job->call);
    if (ad->plugin.vt.encode(ad->state, &job->po->order, &delivery, &job->call.req, err,
                             sizeof(err)) != 0 ||
        !job->call.req.url || !job->call.req.method) {
        ob_http_call_reset(&job->call);
        lane_release(b, job->wh);
        OB_METRIC_ADD(&b->metrics, failed, 1);
        char msg[600];
        snprintf(msg, sizeof(msg), "adapter %s cannot encode the order: %s", ad->plugin.vt.name,
                 err[0] ? err : "no request built");
        job_finish(job, "DELIVERY_FAILED", "encode_failed", msg);
        return;
    }
    job->attempts++;
    if (job->attempts > 1)
        OB_METRIC_ADD(&b->metrics, http_retries, 1);
    if (!job->first_attempt_ms)
        job->first_attempt_ms = ob_now_epoch_ms();
    job->call.connect_timeout_ms = wh->connect_timeout_ms;
    job->call.timeout_ms = wh->timeout_ms;
    job->call.done = on_http_done;
    job->state = JOB_PUSHING;
    OB_METRIC_ADD(&b->metrics, http_requests, 1);
    if (ob_dispatch_submit(b->dispatch, &job->call) != 0) {
        /* Treat as a transport failure of this attempt. */
        job->call.resp.status = 0;
        job->call.resp.transport_error = "cannot start the HTTP transfer";
        lane_release(b, job->wh);
        job_classify(job);
    }
}

static void lane_release(struct ob_bridge *b, int wh)
{
    b->warehouses[wh].active--;
}

/* Start waiting pushes while the warehouse has free connections. */
static void lane_pump(struct ob_bridge *b, int wh)
{
    struct warehouse *w = &b->warehouses[wh];

    if (b->pumping)
        return;
    b->pumping = 1;
    while (w->waiting_head && w->active < w->conf->max_connections) {
        struct job *job = w->waiting_head;
        w->waiting_head = job->lane_next;
        if (!w->waiting_head)
            w->waiting_tail = NULL;
        job->lane_next = NULL;
        w->active++;
        job_send(job);
    }
    b->pumping = 0;
}

/* Push now if the warehouse's lane has room, else wait in line. */
static void job_push(struct job *job)
{
    struct warehouse *w = &job->b->warehouses[job->wh];

    if (w->active < w->conf->max_connections && !w->waiting_head) {
        w->active++;
        job_send(job);
        return;
    }
    job->state = JOB_QUEUED;
    job->lane_next = NULL;
    if (w->waiting_tail)
        w->waiting_tail->lane_next = job;
    else
        w->waiting_head = job;
    w->waiting_tail = job;
}

static void set_trace_id(struct job *job)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *value;
    size_t size;

    if (rd_kafka_message_headers(job->msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(hdrs, "trace_id", &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        value && size > 0 && size < sizeof(job->trace_id)) {
        size_t n = 0;
        for (size_t i = 0; i < size; i++) {
            char ch = ((const char *)value)[i];
            if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                ch == '-' || ch == '_' || ch == '.')
                job->trace_id[n++] = ch;
        }
        job->trace_id[n] = '\0';
        if (n > 0)
            return;
    }
    snprintf(job->trace_id, sizeof(job->trace_id), "%" PRId32 "-%" PRId64, job->msg->partition,
             job->msg->offset);
}

static void job_start(struct ob_bridge *b, rd_kafka_message_t *msg, const struct ob_ticket *ticket)
{
    struct ob_order_problem problem;
    struct job *job = job_alloc(b);

    if (!job) {
        /* Unfinished and uncommitted: comes back after a restart. */
        OB_ERR("out of memory: message %" PRId32 "@%" PRId64 " left unprocessed", msg->partition,
               msg->offset);
        rd_kafka_message_destroy(msg);
        return;
    }
    job->b = b;
    job->next = b->all_jobs;
    if (b->all_jobs)
        b->all_jobs->prev = job;
    b->all_jobs = job;
    job->msg = msg;
    job->ticket = *ticket;
    job->wh = -1;
    job->received_us = mono_us();
    b->jobs++;
    OB_METRIC_ADD(&b->metrics, in_flight, 1);
    OB_METRIC_ADD(&b->metrics, consumed, 1);
    set_trace_id(job);

    if (ob_order_parse(msg->payload, msg->len, (size_t)b->cfg->pipeline.max_order_bytes, &job->po,
                       &problem) != 0) {
        OB_METRIC_ADD(&b->metrics, invalid, 1);
        memcpy(job->order_id, problem.order_id, sizeof(job->order_id));
        /* Undecodable: the key is the order_id by contract, if it looks like one. */
        if (!job->order_id[0] && msg->key && ob_order_id_valid(msg->key, msg->key_len))
            snprintf(job->order_id, sizeof(job->order_id), "%.*s", (int)msg->key_len,
                     (const char *)msg->key);
        job_finish(job, "DELIVERY_FAILED", ob_order_error_name(problem.code), problem.message);
        return;
    }
    ob_strlcpyf(job->order_id, sizeof(job->order_id), "%s", job->po->order.order_id);
    if (order_wait(b, job)) {
        ob_log_trace(OB_LOG_DEBUG, job->trace_id,
                     "order %s: waits for its earlier event to finish", job->order_id);
        return;
    }
    job_proceed(job);
}

/* Route and push a parsed order whose earlier events are all finished. */
static void job_proceed(struct job *job)
{
    struct ob_bridge *b = job->b;
    char reason[256];
    const char *rule = NULL;

    job->wh = ob_router_route(b->cfg, &job->po->order, &rule, reason, sizeof(reason));
    if (job->wh < 0) {
        OB_METRIC_ADD(&b->metrics, unroutable, 1);
        job_finish(job, "DELIVERY_FAILED", "unroutable", reason);
        return;
    }
    ob_log_trace(OB_LOG_DEBUG, job->trace_id, "order %s -> %s (by %s)", job->order_id,
                 b->cfg->warehouses[job->wh].code, rule);
    if (ob_idempotency_key(b->cfg->warehouses[job->wh].code, job->order_id,
                           job->po->order.event_name, job->po->order.revision,
                           job->idem_key) != 0) {
        OB_METRIC_ADD(&b->metrics, failed, 1);
        job_finish(job, "DELIVERY_FAILED", "encode_failed", "cannot derive the idempotency key");
        return;
    }
    job_push(job);
}

static void run_timers(struct ob_bridge *b, uint64_t now_ms)
{
    for (;;) {
        struct job *job = timer_pop_due(b, now_ms);
        if (!job)
            return;
        if (job->state == JOB_WAIT_RETRY && b->stopping)
            job_free(job); /* uncommitted: redelivered after restart */
        else if (job->state == JOB_WAIT_RETRY)
            job_push(job);
        else
            job_send_records(job);
    }
}

/* --- the loop --------------------------------------------------------- */

/* On stop, orders waiting for a retry are dropped uncommitted rather than
 * waited for: they come back after restart with the same idempotency key. */
static size_t drop_waiting_retries(struct ob_bridge *b)
{
    size_t n = b->n_timers, dropped = 0;
    struct job **pending = b->timers;

    b->timers = NULL;
    b->n_timers = b->cap_timers = 0;
    for (size_t i = 0; i < n; i++) {
        if (pending[i]->state == JOB_WAIT_RETRY || timer_add(b, pending[i], pending[i]->due_ms) != 0) {
            job_free(pending[i]);
            dropped++;
        }
    }
    free(pending);
    return dropped;
}

static void drain_wake(struct ob_bridge *b)
{
    char buf[256];

    while (read(b->wake[0], buf, sizeof(buf)) > 0)
        ;
}

/*
 * Backpressure has two bounds: orders being worked on (memory, HTTP load)
 * and offsets handed out but not yet committable. The second is larger:
 * one slow order holds back the commit point of its partition while the
 * orders behind it finish, and those cost a few bytes each.
 *
 * When a bound is reached the loop simply stops taking messages: they wait
 * in librdkafka's bounded local queue and flow again the moment there is
 * room (pausing partitions costs a refetch of up to a second on resume).
 * Only if that lasts PAUSE_AFTER_MS are the partitions paused, so that the
 * loop can keep polling the consumer for rebalances without taking more.
 */
static int is_full(const struct ob_bridge *b)
{
    size_t max_jobs = (size_t)b->cfg->pipeline.max_in_flight;

    return b->jobs >= max_jobs ||
           ob_consumer_outstanding(b->consumer) >= UNCOMMITTED_PER_JOB * max_jobs;
}

static int has_room_again(const struct ob_bridge *b)
{
    size_t max_jobs = (size_t)b->cfg->pipeline.max_in_flight;

    return b->jobs <= max_jobs / 2 &&
           ob_consumer_outstanding(b->consumer) <= UNCOMMITTED_PER_JOB * max_jobs / 2;
}

/* Take up to CONSUME_BATCH messages. Returns 1 when more may be waiting. */
static int consume(struct ob_bridge *b, uint64_t now)
{
    if (ob_consumer_paused(b->consumer) && !b->stopping && has_room_again(b)) {
        OB_DEBUG("room again: resuming %s", b->cfg->kafka.topic_orders);
        ob_consumer_resume(b->consumer);
        b->full_since = 0;
    }
    for (int n = 0; n < CONSUME_BATCH; n++) {
        struct ob_ticket ticket;
        rd_kafka_message_t *msg;

        if (is_full(b) && !ob_consumer_paused(b->consumer)) {
            if (!b->full_since)
                b->full_since = now;
            if (now - b->full_since < PAUSE_AFTER_MS)
                return 0;
            OB_DEBUG("full for %d ms: pausing %s", PAUSE_AFTER_MS, b->cfg->kafka.topic_orders);
            ob_consumer_pause(b->consumer);
        }
        if (!is_full(b))
            b->full_since = 0;
        /* Paused, this serves rebalances; a message it still returns was
         * fetched before the pause and is processed like any other. */
        msg = ob_consumer_next(b->consumer, &ticket);
        if (!msg)
            return 0;
        job_start(b, msg, &ticket);
    }
    return 1;
}

int ob_bridge_run(struct ob_bridge *b)
{
    const struct ob_config *cfg = b->cfg;
    uint64_t now = mono_ms();
    uint64_t next_commit = now + (uint64_t)cfg->pipeline.commit_interval_ms;
    uint64_t deadline = 0;
    char errstr[512];
    int rc = 0;

    OB_INFO("consuming %s as group %s from %s", cfg->kafka.topic_orders, cfg->kafka.group_id,
            cfg->kafka.bootstrap_servers);
    for (;;) {
        int more = 0, timeout;

        now = mono_ms();
        if (atomic_load(&b->stop_requested) && !b->stopping) {
            b->stopping = 1;
            deadline = now + (uint64_t)cfg->pipeline.shutdown_timeout_ms;
            ob_consumer_pause(b->consumer);
            size_t dropped = drop_waiting_retries(b);
            OB_INFO("stopping: %zu order(s) in flight, up to %ld ms to finish; %zu waiting for "
                    "a retry left uncommitted for redelivery",
                    b->jobs, cfg->pipeline.shutdown_timeout_ms, dropped);
        }
        if (b->stopping && (b->jobs == 0 || now >= deadline))
            break;
        more = consume(b, now);
        ob_producer_poll(b->producer);
        run_timers(b, now);
        /* Finished orders may have made room for messages already waiting. */
        if (b->full_since && !is_full(b))
            more = 1;
        if (now >= next_commit) {
            ob_consumer_commit(b->consumer, 0);
            next_commit = now + (uint64_t)cfg->pipeline.commit_interval_ms;
        }
        if (ob_producer_fatal(b->producer, errstr, sizeof(errstr))) {
            OB_ERR("fatal Kafka producer error, stopping: %s", errstr);
            rc = -1;
            break;
        }
        timeout = 1000;
        if (more)
            timeout = 0;
        if (b->n_timers) {
            uint64_t due = b->timers[0]->due_ms;
            int until = due <= now ? 0 : (int)(due - now);
            if (until < timeout)
                timeout = until;
        }
        if (next_commit > now && (int)(next_commit - now) < timeout)
            timeout = (int)(next_commit - now);
        if (b->stopping && deadline > now && (int)(deadline - now) < timeout)
            timeout = (int)(deadline - now);
        if (ob_dispatch_poll(b->dispatch, b->wake[0], timeout) == 1)
            drain_wake(b);
    }

    /* Deliver what is queued; each acknowledged outcome finishes its job. */
    ob_producer_flush(b->producer, 10000);
    if (b->jobs)
        OB_WARN("%zu order(s) unfinished at shutdown: not committed, they will be redelivered",
                b->jobs);
    ob_consumer_commit(b->consumer, 1);
    return rc;
}

void ob_bridge_stop(struct ob_bridge *b)
{
    int saved = errno;

    atomic_store(&b->stop_requested, 1);
    if (write(b->wake[1], "s", 1) < 0) {
        /* pipe full: the loop is awake anyway */
    }
    errno = saved;
}

const struct ob_metrics *ob_bridge_metrics(const struct ob_bridge *b)
{
    return &b->metrics;
}

int ob_bridge_create(const struct ob_config *cfg, struct ob_bridge **out, char *errstr,
                     size_t errstr_size)
{
    struct ob_bridge *b = calloc(1, sizeof(*b));
    struct ob_dispatch_options dopt = {.max_host_connections = 0};
    enum ob_log_level level;

    *out = NULL;
    if (!b) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    b->cfg = cfg;
    b->wake[0] = b->wake[1] = -1;
    b->rng = (unsigned long)mono_us() | 1;
    if (cfg->log_level && ob_log_level_parse(cfg->log_level, &level) == 0)
        ob_log_set_level(level);
    if (cfg->http.listen)
        OB_WARN("http.listen is set, but this version serves no HTTP yet (warehouse callbacks "
                "and metrics come later): nothing listens on %s",
                cfg->http.listen);
    if (pipe2(b->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        snprintf(errstr, errstr_size, "pipe: %s", strerror(errno));
        goto fail;
    }
    {
        size_t buckets = 1024;
        while (buckets < 2 * (size_t)cfg->pipeline.max_in_flight)
            buckets *= 2;
        b->order_index = calloc(buckets, sizeof(*b->order_index));
        b->order_mask = buckets - 1;
        if (!b->order_index) {
            snprintf(errstr, errstr_size, "out of memory");
            goto fail;
        }
    }
    b->warehouses = calloc(cfg->n_warehouses, sizeof(*b->warehouses));
    if (!b->warehouses) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < cfg->n_warehouses; i++) {
        b->warehouses[i].conf = &cfg->warehouses[i];
        if (ob_adapter_open(cfg, &cfg->warehouses[i], &b->warehouses[i].adapter, errstr,
                            errstr_size) != 0)
            goto fail;
        b->n_warehouses++;
        /* Lanes bound each warehouse; curl's per-host cap only has to
         * allow warehouses that share a host their sum. */
        dopt.max_host_connections += cfg->warehouses[i].max_connections;
    }
    if (ob_dispatch_create(&dopt, &b->dispatch) != 0) {
        snprintf(errstr, errstr_size, "cannot create the HTTP dispatcher");
        goto fail;
    }
    if (ob_producer_create(cfg, b->wake[1], on_record_delivered, b, &b->producer, errstr,
                           errstr_size) != 0)
        goto fail;
    if (ob_consumer_create(cfg, b->wake[1], &b->consumer, errstr, errstr_size) != 0)
        goto fail;
    *out = b;
    return 0;
fail:
    ob_bridge_destroy(b);
    return -1;
}

void ob_bridge_destroy(struct ob_bridge *b)
{
    if (!b)
        return;
    /* Jobs still alive here never finished: drop them uncommitted. Their
     * records are purged first so no delivery report can name them, and
     * their messages go before the consumer that owns them. */
    b->destroying = 1;
    if (b->producer)
        ob_producer_purge(b->producer);
    if (b->dispatch)
        ob_dispatch_abort_all(b->dispatch);
    for (struct job *job = b->all_jobs; job; job = job->next) {
        job->indexed = 0; /* every job goes: no chain to follow */
        job->order_next = NULL;
    }
    while (b->all_jobs)
        job_free(b->all_jobs);
    while (b->free_jobs) {
        struct job *job = b->free_jobs;
        b->free_jobs = job->next;
        free(job);
    }
    if (b->consumer)
        ob_consumer_close(b->consumer);
    ob_producer_destroy(b->producer);
    ob_dispatch_destroy(b->dispatch);
    for (size_t i = 0; i < b->n_warehouses; i++)
        ob_adapter_close(b->warehouses[i].adapter);
    free(b->warehouses);
    free(b->timers);
    free(b->order_index);
    if (b->wake[0] >= 0)
        close(b->wake[0]);
    if (b->wake[1] >= 0)
        close(b->wake[1]);
    free(b);
}
