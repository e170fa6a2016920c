/*
 * bridge.c — the event loop that moves each order from Kafka to its
 * warehouse and its outcome back to Kafka.
 *
 * One thread. The consumer's and producer's queues and the stop request
 * all write to one wake-up pipe that the dispatcher's epoll set watches beside the
 * HTTP sockets, so the loop sleeps only when there is truly nothing to do.
 *
 * A job is one Kafka message, from the orders topic or the retry topic.
 * Its life:
 *   received -> (invalid | unroutable | not encodable) -> records
 *   received [-> waiting for its not-before time] -> ledger says done -> records
 *   received -> queued in its warehouse's lane <-> pushing <-> waiting to retry
 *            -> records
 *   ... -> parked (a copy on the retry topic; budget used up, circuit open,
 *          partition revoked, stopping)
 *   records: status event and/or dead letter, or the parked copy, queued
 *   -> all acknowledged -> ledger updated -> offset done (committable once
 *   every earlier offset of its partition is done too).
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
#include "bulkhead.h"
#include "callback_apply.h"
#include "callbacks.h"
#include "consumer.h"
#include "dispatch.h"
#include "hash.h"
#include "idempotency.h"
#include "ledger.h"
#include "log.h"
#include "order.h"
#include "poller.h"
#include "producer.h"
#include "router.h"
#include "restore.h"
#include "state_record.h"
#include "status.h"
#include "tracker.h"

#define CONSUME_BATCH 256
#define UNCOMMITTED_PER_JOB 64
#define PAUSE_AFTER_MS 500
/* Lane entries a half-open circuit looks through for an order that failed before. */
#define PROBE_SCAN 64
/* Within a batch of the orders topic, look at the express topic this often. */
#define EXPRESS_EVERY 16
/* A full lane that drains within this long holds the next messages back in
 * Kafka; a slower one's new orders step aside onto the retry topic. */
#define STEP_ASIDE_MS 200
#define FINAL_MS 2000          /* after the loop: the last flush, commit and consumer close */
#define FINAL_CLOSE_MIN_MS 500 /* the close gets at least this, to say goodbye to the group */
#define PRODUCE_RETRY_MS 500
#define MAX_RETRY_AFTER_MS 60000
#define MAX_PARK_SHIFT 6          /* the retry-topic wait doubles at most 6 times */
#define LEDGER_EXPIRE_BATCH 1000  /* entries examined per second */
#define RESTORE_TIMEOUT_MS 120000 /* reading the state of newly assigned partitions */

enum record_kind { RECORD_STATUS, RECORD_DLQ, RECORD_PARK, RECORD_STATE };

struct job;

/* The opaque of one Kafka record, so its delivery report finds its job. */
struct record {
    int tag; /* 0; the tracker's records start with OB_TRACKER_TAG */
    struct job *job;
    enum record_kind kind;
    int wanted, queued, acked;
    int failed;       /* the last attempt was refused: wait before the next */
    int drop_payload; /* DLQ only: the original is too large for the DLQ topic */
    char *value;      /* STATE only: the order's state record, fixed when the outcome was */
    size_t value_len;
};

enum job_state {
    JOB_NEW,          /* received; maybe waiting behind an earlier event of its order */
    JOB_NOT_BEFORE,   /* from the retry topic, waiting for its time (timer) */
    JOB_QUEUED,       /* in its warehouse's lane */
    JOB_PUSHING,      /* the HTTP request is in curl */
    JOB_WAIT_RETRY,   /* timer */
    JOB_RECORDS,      /* records queued in the producer */
    JOB_WAIT_RECORDS, /* a record was refused: timer, then queue again */
    JOB_GATE_ENCODE,  /* lane slot taken; waits for its crash-guard mark to be on disk */
    JOB_GATE_DECODE,  /* answer in; waits for its crash-guard mark to be on disk */
};

struct job {
    struct ob_bridge *b;
    struct job *prev, *next; /* every live job, for shutdown */
    struct job *lane_next;   /* waiting for a connection of its warehouse */
    struct job *hash_next;   /* in the order index, while the newest of its order_id */
    struct job *order_next;  /* the next event of the same order_id, waiting for this one */
    struct job *order_prev;  /* the one this job waits for */
    struct job *gate_next;   /* in the crash guard's gate */
    int indexed;             /* in the order index, or waiting behind one that is */
    size_t heap_idx;         /* position in the timer heap, while in_heap */
    int in_heap;
    enum job_state state;
    rd_kafka_message_t *msg;
    struct ob_ticket ticket;
    struct ob_parsed_order *po;
    int wh; /* index into cfg->warehouses, -1 when none */
    char idem_key[65];
    char trace_id[48];
    char order_id[65]; /* "" when unknown */
    int attempts;      /* HTTP attempts, earlier consumptions included */
    int attempts_here; /* HTTP attempts since this message was consumed */
    int parks;         /* times parked on the retry topic before */
    int from_retry;    /* the message came from the retry topic */
    int express;       /* ... from the express topic */
    int replay;        /* re-driven by `orderbridge replay` */
    int parking;       /* its record is the parked copy */
    int ledger_hit;    /* its outcome came from the ledger: do not write it again */
    int settling;      /* its outcome is in Kafka; its state record is on the way */
    int crashes;       /* times the bridge died running an adapter on it (ledger) */
    int at_limit;      /* its push started with its warehouse at its concurrency limit */
    int priority;      /* OB_PRIORITY_*: its queue in its warehouse's lane */
    int suspect;       /* crashes > 0: its adapter runs alone, marked and cleared on disk */
    int32_t origin_partition; /* where the order was first consumed */
    int64_t origin_offset;
    int64_t first_seen_ms;  /* epoch */
    int64_t not_before_ms;  /* epoch, parked copies */
    int64_t parked_ms;      /* epoch, parked copies: when it was parked */
    int parked_wh;          /* parked copies: the warehouse it waits for, -1 when none */
    char park_reason[160];
    long last_http_status;
    int64_t first_attempt_ms, last_attempt_ms; /* epoch */
    uint64_t received_us;                      /* monotonic */
    uint64_t due_ms;                           /* monotonic, while in the timer heap */

    /* the final outcome, once decided */
    const char *status; /* "ACCEPTED", "REJECTED", "DELIVERY_FAILED", or NULL */
    struct ob_outcome outcome;
    const char *dlq_class;
    char dlq_message[512];
    struct record status_rec, dlq_rec, park_rec, state_rec;

    struct ob_http_call call; /* last: its buffers need no zeroing on reuse */
};

/* A warehouse's lane: at most max_connections pushes in curl at once, the
 * rest wait here in order. Handing curl only what it can send keeps its
 * per-transfer bookkeeping small, and one slow warehouse's queue never
 * takes connections from another. While max_connections orders wait in a
 * lane, the loop takes no more messages (see is_full): what cannot be
 * pushed yet waits in Kafka, not here. */
/* One priority's orders waiting in a warehouse's lane, in arrival order. */
struct lane_queue {
    struct job *head, *tail;
    size_t n;
    int current; /* lane_pick()'s running weight */
};

struct warehouse {
    const struct ob_warehouse_conf *conf;
    struct ob_adapter_instance *adapter;
    int active;  /* pushes holding one of its slots (in curl, or in the crash guard's gate) */
    int pumping; /* lane_pump() is running for it: do not re-enter */
    struct lane_queue queue[N_PRIORITIES]; /* waiting, by the orders' priority */
    size_t n_waiting;                      /* in all of them */
    struct ob_token_bucket bucket;
    struct ob_breaker breaker;
    struct ob_limiter limiter; /* requests at once, adapted to how it copes */
    int struggling;            /* the limit fell to its floor and has not been back up since */
    uint64_t blocked_until_ms; /* monotonic: pump again then (rate limit, half-open, a slot
                                  freed by job_free); 0: not */
    int64_t closed_ms;         /* epoch: its circuit last closed after being open; 0: never */
    uint64_t full_since_ms;    /* monotonic: its lane has been full since; 0: not full */
    struct ob_wh_metrics *m;   /* its figures for GET /metrics */
};

struct ob_bridge {
    const struct ob_config *cfg;
    struct warehouse *warehouses;
    size_t n_warehouses;
    struct ob_consumer *consumer;
    struct ob_producer *producer;
    struct ob_dispatch *dispatch;
    int wake[2];
    atomic_int stop_requested;
    int stopping;
    uint64_t full_since; /* monotonic ms since the loop stopped taking messages, or 0 */
    size_t jobs;
    size_t settling; /* of the jobs: waiting for their state record only */
    struct job *all_jobs;
    struct job *free_jobs; /* recycled, at most max_in_flight */
    size_t n_free_jobs;
    struct job **order_index; /* order_id -> newest unfinished job of that order */
    size_t order_mask;
    int destroying; /* delivery reports are only acknowledged, not acted on */
    struct job **timers; /* min-heap on due_ms */
    size_t n_timers, cap_timers;
    struct ob_ledger *ledger; /* NULL when not configured */
    struct ob_adapter_instance **adapters; /* by warehouse index, for the modules below */
    struct ob_tracker *tracker;     /* status after the push; NULL without a ledger */
    struct ob_order_state *state_scratch; /* state_record_make()'s, with kafka.topics.state */
    struct ob_callbacks *callbacks; /* the HTTP server; NULL without http.listen */
    struct ob_poller *poller;       /* NULL when no warehouse is polled */
    struct ob_callback_apply *applier; /* kafka.topics.callbacks' records; NULL without */
    int32_t orders_partitions;      /* with kafka.topics.state; 0: unknown */
    uint64_t misplaced_log_ms;      /* monotonic: next "partitions keys differently" log */
    unsigned long rng;
    uint64_t incarnation;                /* random per process: whose crash-guard mark it is */
    uint64_t final_deadline_ms;          /* monotonic: last flush, commit and close end by then */
    struct job *gate_head, *gate_tail;   /* adapter runs waiting for their marks to be on disk */
    int brokers_up; /* from the consumer's last statistics; -1: none yet */
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

/* A min-heap on due_ms; each job knows its position, so it can leave early. */
static void heap_set(struct ob_bridge *b, size_t i, struct job *job)
{
    b->timers[i] = job;
    job->heap_idx = i;
}

static void heap_up(struct ob_bridge *b, size_t i)
{
    struct job *job = b->timers[i];

    while (i > 0 && b->timers[(i - 1) / 2]->due_ms > job->due_ms) {
        heap_set(b, i, b->timers[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(b, i, job);
}

static void heap_down(struct ob_bridge *b, size_t i)
{
    struct job *job = b->timers[i];

    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = l;
        if (l >= b->n_timers)
            break;
        if (r < b->n_timers && b->timers[r]->due_ms < b->timers[l]->due_ms)
            m = r;
        if (b->timers[m]->due_ms >= job->due_ms)
            break;
        heap_set(b, i, b->timers[m]);
        i = m;
    }
    heap_set(b, i, job);
}

static int timer_add(struct ob_bridge *b, struct job *job, uint64_t due_ms)
{
    if (b->n_timers == b->cap_timers) {
        size_t cap = b->cap_timers ? b->cap_timers * 2 : 256;
        struct job **grown = realloc(b->timers, cap * sizeof(*grown));
        if (!grown)
            return -1;
        b->timers = grown;
        b->cap_timers = cap;
    }
    job->due_ms = due_ms;
    job->in_heap = 1;
    b->timers[b->n_timers] = job;
    heap_up(b, b->n_timers++);
    return 0;
}

static void timer_remove(struct ob_bridge *b, struct job *job)
{
    size_t i = job->heap_idx;

    if (!job->in_heap)
        return;
    job->in_heap = 0;
    if (i == --b->n_timers)
        return;
    struct job *moved = b->timers[b->n_timers];
    heap_set(b, i, moved);
    if (i > 0 && b->timers[(i - 1) / 2]->due_ms > moved->due_ms)
        heap_up(b, i);
    else
        heap_down(b, i);
}

static struct job *timer_pop_due(struct ob_bridge *b, uint64_t now_ms)
{
    struct job *top;

    if (b->n_timers == 0 || b->timers[0]->due_ms > now_ms)
        return NULL;
    top = b->timers[0];
    timer_remove(b, top);
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
    return (size_t)ob_fnv1a_str(OB_FNV1A_OFFSET, order_id) & b->order_mask;
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

/* Whether an event of order_id is being worked on (for the tracker: a
 * callback may come before the push's own outcome is in Kafka). Walks
 * every job, but only for a report naming an order without a track. */
static int order_in_flight(void *arg, const char *order_id)
{
    const struct ob_bridge *b = arg;

    for (const struct job *job = b->all_jobs; job; job = job->next)
        if (strcmp(job->order_id, order_id) == 0)
            return 1;
    return 0;
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
        job->order_prev = prev;
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
    if (next) {
        next->order_prev = NULL;
        job_proceed(next);
    } else {
        order_index_remove(job->b, job);
    }
}

static void job_free(struct job *job);

/* `job` is dropped unfinished (shutdown, revoke): the events behind it
 * must not overtake it, so they are dropped too, uncommitted, and come
 * back in order later. The one it waited for, if still running, is again
 * the newest of its order. */
static void order_drop(struct job *job)
{
    struct ob_bridge *b = job->b;
    struct job *next = job->order_next, *prev = job->order_prev;

    if (!job->indexed)
        return;
    job->indexed = 0;
    job->order_next = job->order_prev = NULL;
    if (next) {
        next->order_prev = NULL;
        job_free(next); /* waiting, never started: nothing else refers to it */
    } else {
        order_index_remove(b, job);
    }
    if (prev) {
        size_t bucket = order_bucket(b, prev->order_id);
        prev->order_next = NULL;
        prev->hash_next = b->order_index[bucket];
        b->order_index[bucket] = prev;
    }
}

static void lane_remove(struct ob_bridge *b, struct job *job);

/* A slot of warehouse wh is free again, taken from a job being freed:
 * its lane is pumped by the loop (run_lanes), not from inside job_free(),
 * whose callers may be walking the jobs. */
static void lane_release_later(struct ob_bridge *b, int wh)
{
    struct warehouse *w = &b->warehouses[wh];

    w->active--;
    if (!w->blocked_until_ms)
        w->blocked_until_ms = mono_ms();
}

static void gate_abandon(struct ob_bridge *b, struct job *job);

static void job_free(struct job *job)
{
    struct ob_bridge *b = job->b;

    order_drop(job);
    timer_remove(b, job);
    if (job->state == JOB_QUEUED)
        lane_remove(b, job);
    if (job->state == JOB_NOT_BEFORE)
        ob_consumer_hold(b->consumer, &job->ticket, 0);
    if (job->state == JOB_GATE_ENCODE || job->state == JOB_GATE_DECODE)
        gate_abandon(b, job);
    if (job->state == JOB_PUSHING && !b->destroying) {
        ob_dispatch_abort(b->dispatch, &job->call);
        lane_release_later(b, job->wh);
        /* The breaker counts every request it let through. */
        ob_breaker_record(&b->warehouses[job->wh].breaker, mono_ms(), OB_BREAKER_FAILURE);
    }
    if (job->prev)
        job->prev->next = job->next;
    else
        job->b->all_jobs = job->next;
    if (job->next)
        job->next->prev = job->prev;
    ob_http_call_reset(&job->call);
    free(job->state_rec.value);
    job->state_rec.value = NULL;
    ob_order_free(job->po);
    if (job->msg)
        rd_kafka_message_destroy(job->msg);
    job->b->jobs--;
    if (job->settling)
        job->b->settling--;
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

static const char *static_status(const char *status)
{
    static const char *const known[] = {"ACCEPTED", "REJECTED", "DELIVERY_FAILED"};

    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(status, known[i]) == 0)
            return known[i];
    return NULL;
}

/* Whether the bridge follows warehouse wh's orders after the push. */
static int tracks_status(const struct ob_bridge *b, int wh)
{
    const struct ob_warehouse_conf *w = wh >= 0 ? &b->cfg->warehouses[wh] : NULL;

    return b->tracker && w && (w->callback.path || w->poll.interval_ms);
}

/* The topic the job's message came from, as the ledger names it. */
static int job_source(const struct job *job)
{
    return job->from_retry ? OB_SOURCE_RETRY : job->express ? OB_SOURCE_EXPRESS : OB_SOURCE_ORDERS;
}

/* The ledger entry of the job's outcome (or of its parked copy): 1, or 0
 * when it has none to write. */
static int ledger_entry_of(const struct job *job, struct ob_ledger_entry *out)
{
    struct ob_ledger_entry e = {0};

    if (!job->b->ledger || !job->idem_key[0] || job->ledger_hit)
        return 0;
    e.attempts = job->attempts;
    e.first_attempt_ms = job->first_attempt_ms;
    if (job->parking) {
        e.state = OB_LEDGER_PARKED;
    } else if (job->status) {
        e.state = OB_LEDGER_DONE;
        ob_strlcpyf(e.status, sizeof(e.status), "%s", job->status);
        e.http_status = job->last_http_status;
        ob_strlcpyf(e.warehouse_order_id, sizeof(e.warehouse_order_id), "%s",
                    job->outcome.warehouse_order_id);
        ob_strlcpyf(e.carrier, sizeof(e.carrier), "%s", job->outcome.carrier);
        ob_strlcpyf(e.tracking_no, sizeof(e.tracking_no), "%s", job->outcome.tracking_no);
        ob_strlcpyf(e.reason, sizeof(e.reason), "%s", job->outcome.reason);
        e.source = job_source(job);
        e.source_partition = job->msg->partition;
        e.source_offset = job->msg->offset;
    } else {
        return 0;
    }
    *out = e;
    return 1;
}

/* With a state changelog, the ledger indexes each entry by its order. */
static void ledger_put(const struct job *job, const struct ob_ledger_entry *e)
{
    if (job->b->cfg->kafka.topic_state && job->order_id[0])
        ob_ledger_put_order(job->b->ledger, job->order_id, job->idem_key, e);
    else
        ob_ledger_put(job->b->ledger, job->idem_key, e);
}

/* The ledger learns what happened before the offset can be committed: the
 * loop flushes it before every commit. */
static void ledger_record(struct job *job)
{
    struct ob_ledger_entry e;

    if (!ledger_entry_of(job, &e))
        return;
    ledger_put(job, &e);
    if (e.state == OB_LEDGER_DONE && strcmp(job->status, "ACCEPTED") == 0 &&
        tracks_status(job->b, job->wh))
        ob_tracker_accepted(job->b->tracker, job->wh, job->order_id,
                            job->po ? job->po->order.revision : 0, job->idem_key,
                            job->outcome.warehouse_order_id);
}

static void job_complete(struct job *job)
{
    struct ob_bridge *b = job->b;

    ledger_record(job);
    /* Only now, with the outcome in Kafka and the ledger, may the order's
     * next message go: a duplicate of this one then finds it done. */
    order_release(job);
    ob_consumer_done(b->consumer, &job->ticket);
    OB_METRIC_ADD(&b->metrics, finished, 1);
    uint64_t took_us = mono_us() - job->received_us;
    ob_histogram_record(&b->metrics.latency, took_us);
    ob_prom_histogram_record(&b->metrics.outcome_seconds, took_us);
    if (job->wh >= 0)
        ob_prom_histogram_record(&b->warehouses[job->wh].m->outcome_seconds, took_us);
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
    } else if (rec->kind == RECORD_DLQ) {
        struct ob_dlq_info info = {
            .reason_class = job->dlq_class,
            .message = job->dlq_message,
            .warehouse = job->wh >= 0 ? wh_code(job) : NULL,
            .attempts = job->attempts,
            .http_status = job->last_http_status,
            .topic = job->express ? b->cfg->kafka.topic_express : b->cfg->kafka.topic_orders,
            .partition = job->origin_partition,
            .offset = job->origin_offset,
            .first_attempt_ms = job->first_attempt_ms,
            .last_attempt_ms = job->last_attempt_ms,
        };
        return ob_producer_dead_letter(b->producer, job->msg, &info, rec->drop_payload, rec);
    } else if (rec->kind == RECORD_PARK) {
        struct ob_park_info info = {
            .not_before_ms = job->not_before_ms,
            .parked_ms = job->parked_ms,
            .warehouse = job->wh >= 0 ? wh_code(job) : NULL,
            .attempts = job->attempts,
            .parks = job->parks + 1,
            .first_seen_ms = job->first_seen_ms,
            .first_attempt_ms = job->first_attempt_ms,
            .topic = job->express ? b->cfg->kafka.topic_express : b->cfg->kafka.topic_orders,
            .partition = job->origin_partition,
            .offset = job->origin_offset,
            .reason = job->park_reason,
            .replay = job->replay,
        };
        return ob_producer_park(b->producer, job->msg, &info, rec);
    }
    return ob_producer_state(b->producer, job->order_id, rec->value, rec->value_len, rec);
}

static void state_record_drop(struct job *job)
{
    free(job->state_rec.value);
    job->state_rec = (struct record){.job = job, .kind = RECORD_STATE};
}

/* Put `e` under `key` in s: in place of the entry with that key, or added. */
static void state_set_delivery(struct ob_order_state *s, const char *key,
                               const struct ob_ledger_entry *e)
{
    size_t i = 0;

    while (i < s->n_deliveries && strcmp(s->deliveries[i].key, key) != 0)
        i++;
    if (i == OB_STATE_MAX_DELIVERIES) { /* full: the first (in key order) goes */
        memmove(&s->deliveries[0], &s->deliveries[1], sizeof(s->deliveries[0]) * (i - 1));
        i--;
    } else if (i == s->n_deliveries) {
        s->n_deliveries++;
    }
    ob_strlcpyf(s->deliveries[i].key, sizeof(s->deliveries[i].key), "%s", key);
    s->deliveries[i].entry = *e;
}

static void state_set_track(struct ob_order_state *s, const char *warehouse,
                            const struct ob_track *t)
{
    size_t i = 0;

    while (i < s->n_tracks && strcmp(s->tracks[i].warehouse, warehouse) != 0)
        i++;
    if (i == OB_STATE_MAX_TRACKS) {
        memmove(&s->tracks[0], &s->tracks[1], sizeof(s->tracks[0]) * (i - 1));
        i--;
    } else if (i == s->n_tracks) {
        s->n_tracks++;
    }
    ob_strlcpyf(s->tracks[i].warehouse, sizeof(s->tracks[i].warehouse), "%s", warehouse);
    s->tracks[i].track = *t;
}

/* With kafka.topics.state: the order's state record as it will be once
 * the outcome is in the ledger (its entry, and its track when accepted),
 * written beside the status event; the job finishes once Kafka has both,
 * so its offset is committed only past a state the changelog holds. */
static void state_record_make(struct job *job)
{
    struct ob_bridge *b = job->b;
    struct ob_order_state *s = b->state_scratch;
    struct ob_ledger_entry e;
    int64_t now = ob_now_epoch_ms();

    state_record_drop(job);
    if (!b->cfg->kafka.topic_state || !job->order_id[0] || !ledger_entry_of(job, &e) ||
        e.state != OB_LEDGER_DONE)
        return;
    if (ob_ledger_order_state(b->ledger, job->order_id, s) < 0)
        OB_WARN("order %s: its state record holds this outcome only (the ledger cannot be "
                "read)", job->order_id);
    e.updated_ms = now;
    state_set_delivery(s, job->idem_key, &e);
    if (strcmp(job->status, "ACCEPTED") == 0 && tracks_status(b, job->wh)) {
        struct ob_track t;
        ob_tracker_accepted_track(b->tracker, job->wh, job->order_id,
                                  job->po ? job->po->order.revision : 0, job->idem_key,
                                  job->outcome.warehouse_order_id, &t);
        t.updated_ms = now;
        state_set_track(s, wh_code(job), &t);
    }
    job->state_rec.value = ob_state_encode(s, &job->state_rec.value_len);
    if (!job->state_rec.value) {
        OB_ERR("order %s: its state record cannot be encoded (out of memory?); the changelog "
               "misses this outcome", job->order_id);
        return;
    }
    job->state_rec.wanted = 1;
}

/* Our own record is in the changelog: the ledger holds it (the job's
 * completion writes it, in the same flush at the latest), so a restore of
 * that partition may start after it. Acks of one partition come in order. */
static void state_record_acked(struct job *job, int32_t partition, int64_t offset)
{
    struct ob_bridge *b = job->b;

    OB_METRIC_ADD(&b->metrics, state_records, 1);
    ob_ledger_set_checkpoint(b->ledger, b->cfg->kafka.topic_state, partition, offset + 1);
    /* Co-partitioning holds only if the mid-platform's producer and ours
     * partition keys alike: otherwise the next owner of this order's
     * partition restores someone else's orders, not this one. */
    if (job_source(job) == OB_SOURCE_ORDERS && partition != job->msg->partition) {
        uint64_t now = mono_ms();
        OB_METRIC_ADD(&b->metrics, state_misplaced, 1);
        if (now >= b->misplaced_log_ms) {
            b->misplaced_log_ms = now + 60000;
            OB_ERR("order %s is in partition %" PRId32 " of %s but its state went to partition "
                   "%" PRId32 " of %s: the producers partition keys differently; set "
                   "kafka.producer.partitioner to the mid-platform's (Java clients: "
                   "murmur2_random); logged once a minute", job->order_id, job->msg->partition,
                   b->cfg->kafka.topic_orders, partition, b->cfg->kafka.topic_state);
        }
    }
}

static const char *record_name(const struct record *rec)
{
    static const char *const names[] = {"status", "dead-letter", "retry", "state"};
    return names[rec->kind];
}

/* Queue every wanted record not yet queued or acknowledged. A record that
 * cannot be queued now is tried again later: the offset must not move
 * before the outcome is in Kafka. The state record goes last, once the
 * others are acknowledged: a state that says "done" then means its status
 * event is in Kafka, and whoever restores it need not emit that again. */
static void job_send_records(struct job *job)
{
    struct record *recs[4] = {&job->status_rec, &job->dlq_rec, &job->park_rec, &job->state_rec};
    int waiting = 0, failed = 0;

    for (int i = 0; i < 4; i++) {
        struct record *rec = recs[i];
        if (!rec->wanted || rec->acked)
            continue;
        if (rec == &job->state_rec && (waiting || failed))
            break;
        if (rec == &job->state_rec && !job->settling) {
            /* Only its state record to wait for: a job that holds no warehouse
             * slot, counted apart so that this round trip delays no order. */
            job->settling = 1;
            job->b->settling++;
        }
        if (!rec->queued) {
            rd_kafka_resp_err_t err = queue_record(job, rec);
            if (err) {
                OB_METRIC_ADD(&job->b->metrics, produce_errors, 1);
                ob_log_event(OB_LOG_WARN,
                             OB_LOG_FIELDS(.trace_id = job->trace_id, .order_id = job->order_id,
                                           .event = "produce_failed"),
                             "cannot queue %s record: %s", record_name(rec),
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
    job->status = job->order_id[0] ? status : NULL;
    job->status_rec = (struct record){.job = job, .kind = RECORD_STATUS, .wanted = job->status != NULL};
    job->dlq_rec = (struct record){.job = job, .kind = RECORD_DLQ, .wanted = dlq_class != NULL};
    job->park_rec = (struct record){.job = job, .kind = RECORD_PARK};
    job->dlq_class = dlq_class;
    if (message)
        ob_strlcpyf(job->dlq_message, sizeof(job->dlq_message), "%s", message);
    if (status && strcmp(status, "ACCEPTED") != 0 && !job->outcome.reason[0] && message)
        ob_strlcpyf(job->outcome.reason, sizeof(job->outcome.reason), "%s", message);
    state_record_make(job);
    if (dlq_class) {
        char reason[sizeof(job->dlq_message) + 32];
        snprintf(reason, sizeof(reason), "%s: %s", dlq_class, message ? message : "");
        ob_metrics_failure(&job->b->metrics, job->order_id, wh_code(job),
                           status && strcmp(status, "REJECTED") == 0 ? "rejected"
                                                                     : "dead_lettered",
                           reason);
    }
    if (dlq_class)
        ob_log_event(OB_LOG_WARN,
                     OB_LOG_FIELDS(.trace_id = job->trace_id, .order_id = job->order_id,
                                   .warehouse = wh_code(job), .reason = dlq_class,
                                   .event = strcmp(dlq_class, "rejected") == 0 ? "rejected"
                                                                              : "dead_lettered"),
                     "order %s -> %s: %s: %s", job->order_id[0] ? job->order_id : "(unknown)",
                     job->b->cfg->kafka.topic_dlq, dlq_class, message ? message : "");
    else if (status && strcmp(status, "ACCEPTED") == 0 && !job->ledger_hit)
        ob_log_event(OB_LOG_DEBUG,
                     OB_LOG_FIELDS(.trace_id = job->trace_id, .order_id = job->order_id,
                                   .warehouse = wh_code(job), .event = "accepted"),
                     "order %s accepted by %s", job->order_id, wh_code(job));
    job_send_records(job);
}

static void on_record_delivered(void *opaque, rd_kafka_resp_err_t err, int32_t partition,
                                int64_t offset, void *arg)
{
    struct record *rec = opaque;
    struct ob_bridge *b = arg;
    struct job *job;

    if (b->destroying)
        return; /* the job may be gone already */
    if (rec->tag == OB_TRACKER_TAG) {
        ob_tracker_delivered(b->tracker, opaque, err, partition, offset);
        return;
    }
    if (rec->tag == OB_CALLBACK_FORWARD_TAG) {
        ob_callbacks_delivered(b->callbacks, opaque, err);
        return;
    }
    rec->queued = 0;
    job = rec->job;
    if (err) {
        OB_METRIC_ADD(&b->metrics, produce_errors, 1);
        ob_log_event(OB_LOG_WARN,
                     OB_LOG_FIELDS(.trace_id = job->trace_id, .order_id = job->order_id,
                                   .event = "produce_failed"),
                     "%s record for order %s not delivered: %s", record_name(rec),
                     job->order_id, rd_kafka_err2str(err));
        rec->failed = 1;
        /* A dead letter the topic will never take whole is sent without
         * the original, which stays readable at its own offset. */
        if (rec->kind == RECORD_DLQ && !rec->drop_payload &&
            (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
             err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE))
            rec->drop_payload = 1;
    } else {
        int wh = job->wh >= 0 ? job->wh : job->parked_wh;
        rec->acked = 1;
        if (rec->kind == RECORD_STATUS) {
            OB_METRIC_ADD(&b->metrics, status_events, 1);
        } else if (rec->kind == RECORD_DLQ) {
            OB_METRIC_ADD(&b->metrics, dead_lettered, 1);
            if (job->wh >= 0)
                OB_METRIC_ADD(b->warehouses[job->wh].m,
                              dead_letters[ob_dead_letter_reason_of(job->dlq_class)], 1);
        } else if (rec->kind == RECORD_PARK) {
            OB_METRIC_ADD(&b->metrics, parked, 1);
            if (wh >= 0)
                OB_METRIC_ADD(b->warehouses[wh].m, parked, 1);
        } else
            state_record_acked(job, partition, offset);
    }
    if (job->status_rec.queued || job->dlq_rec.queued || job->park_rec.queued ||
        job->state_rec.queued)
        return; /* another record's report is still to come */
    if (job->status_rec.failed || job->dlq_rec.failed || job->park_rec.failed ||
        job->state_rec.failed) {
        job->status_rec.failed = job->dlq_rec.failed = job->park_rec.failed = 0;
        job->state_rec.failed = 0;
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
static void lane_pump(struct ob_bridge *b, int wh);

/* Must the job let go now: its partition is being revoked, or we stop? */
static int job_draining(const struct job *job)
{
    return job->b->stopping || ob_ticket_draining(&job->ticket);
}

/*
 * Park the job: a copy of its message goes to the retry topic, to be
 * consumed again not before `delay_ms` from now; once Kafka has it, this
 * message is done. The events of the same order waiting behind it are
 * parked after it, so they come back after it too (same key, same
 * partition). An order first seen longer ago than the warehouse's
 * give_up_after_ms is dead-lettered instead.
 */
static void job_park(struct job *job, uint64_t delay_ms, const char *reason)
{
    struct ob_bridge *b = job->b;
    int64_t now = ob_now_epoch_ms();
    struct job *next = job->order_next;

    if (job->wh >= 0 && now - job->first_seen_ms > b->cfg->warehouses[job->wh].give_up_after_ms) {
        char msg[600];
        OB_METRIC_ADD(&b->metrics, failed, 1);
        snprintf(msg, sizeof(msg), "not delivered %ld ms after it was first seen (%d attempts): %s",
                 b->cfg->warehouses[job->wh].give_up_after_ms, job->attempts, reason);
        job_finish(job, "DELIVERY_FAILED", "retries_exhausted", msg);
        return;
    }
    if (job->indexed) {
        job->indexed = 0;
        job->order_next = NULL;
        if (!next)
            order_index_remove(b, job);
    }
    ob_log_event(OB_LOG_INFO,
                 OB_LOG_FIELDS(.trace_id = job->trace_id, .order_id = job->order_id,
                               .warehouse = wh_code(job), .event = "parked", .reason = reason),
                 "order %s parked on %s for %" PRIu64 " ms: %s",
                 job->order_id[0] ? job->order_id : "(unknown)", b->cfg->kafka.topic_retry,
                 delay_ms, reason);
    if (!job_draining(job)) /* handing over at a revoke or a stop is no failure */
        ob_metrics_failure(&b->metrics, job->order_id, wh_code(job), "parked", reason);
    job->parking = 1;
    job->parked_ms = now;
    job->not_before_ms = now + (int64_t)delay_ms;
    ob_strlcpyf(job->park_reason, sizeof(job->park_reason), "%s", reason);
    job->status_rec = (struct record){.job = job, .kind = RECORD_STATUS};
    job->dlq_rec = (struct record){.job = job, .kind = RECORD_DLQ};
    job->park_rec = (struct record){.job = job, .kind = RECORD_PARK, .wanted = 1};
    state_record_drop(job); /* the parked copy carries what a new owner needs */
    job_send_records(job);
    if (next)
        job_park(next, delay_ms, "an earlier event of the order is parked");
}

static uint64_t backoff_cap(const struct job *job);

/* The wait on the retry topic. While the warehouse's circuit is closed it
 * takes orders, and this one was unlucky: its next retry delay, as if it
 * had stayed in memory. Otherwise park_ms, doubling with each park, +-20%,
 * at most max_park_ms (the circuit closing brings it back sooner). */
static uint64_t park_delay(struct job *job)
{
    const struct ob_warehouse_conf *wh = &job->b->cfg->warehouses[job->wh];
    uint64_t d = (uint64_t)wh->park_ms << (job->parks < MAX_PARK_SHIFT ? job->parks : MAX_PARK_SHIFT);

    if (job->b->warehouses[job->wh].breaker.state == OB_BREAKER_CLOSED)
        return next_random(job->b) % (backoff_cap(job) + 1);
    d = d - d / 5 + next_random(job->b) % (d * 2 / 5 + 1);
    return d < (uint64_t)wh->max_park_ms ? d : (uint64_t)wh->max_park_ms;
}

/* An order waiting for another attempt: its attempts so far outlive a
 * restart (they count towards max_attempts). */
static void ledger_in_flight(struct job *job)
{
    struct ob_ledger_entry e = {
        .state = OB_LEDGER_IN_FLIGHT,
        .attempts = job->attempts,
        .first_attempt_ms = job->first_attempt_ms,
        .crashes = job->crashes,
    };

    if (job->b->ledger && job->idem_key[0])
        ob_ledger_put(job->b->ledger, job->idem_key, &e);
}

/* Exponential backoff with full jitter; a Retry-After from the warehouse
 * replaces it (capped at MAX_RETRY_AFTER_MS). */
static uint64_t backoff_cap(const struct job *job)
{
    const struct ob_warehouse_conf *wh = &job->b->cfg->warehouses[job->wh];
    int shift = job->attempts - 1;
    uint64_t cap;

    if (shift < 0)
        shift = 0;
    if (shift > 20)
        shift = 20;
    cap = (uint64_t)wh->backoff_ms << shift;

    return cap < (uint64_t)wh->max_backoff_ms ? cap : (uint64_t)wh->max_backoff_ms;
}

static void job_retry_later(struct job *job, int retry_after_ms)
{
    uint64_t delay = next_random(job->b) % (backoff_cap(job) + 1);

    if (retry_after_ms > 0)
        delay = (uint64_t)(retry_after_ms < MAX_RETRY_AFTER_MS ? retry_after_ms : MAX_RETRY_AFTER_MS);
    ledger_in_flight(job);
    job->state = JOB_WAIT_RETRY;
    if (timer_add(job->b, job, mono_ms() + delay) != 0)
        job_push(job); /* no memory for the timer: retry at once */
}

static int guarded(const struct ob_bridge *b);
static void gate_add(struct job *job);

static void on_http_done(struct ob_http_call *call)
{
    struct job *job = (struct job *)((char *)call - offsetof(struct job, call));
    struct ob_bridge *b = job->b;
    int wh = job->wh;

    b->warehouses[wh].active--;
    if (guarded(b)) {
        job->state = JOB_GATE_DECODE;
        gate_add(job);
    } else {
        job_classify(job);
    }
    lane_pump(b, wh); /* after the outcome: a retry of it queues behind the waiting */
}

/* A parked copy need not wait out its time once its warehouse's circuit
 * has closed since it was parked: the warehouse takes orders again. */
static int resumable(const struct ob_bridge *b, const struct job *job)
{
    return job->parked_wh >= 0 && job->parked_ms > 0 &&
           b->warehouses[job->parked_wh].closed_ms >= job->parked_ms;
}

/* The circuit of warehouse `wh` closed: its parked copies here that wait
 * for their time are due now (the ones not consumed yet go when they are,
 * see resumable()). Returns how many. */
static size_t resume_parked(struct ob_bridge *b, int wh)
{
    size_t n = 0;

    b->warehouses[wh].closed_ms = ob_now_epoch_ms();
    for (struct job *job = b->all_jobs; job; job = job->next) {
        if (job->state != JOB_NOT_BEFORE || !resumable(b, job))
            continue;
        timer_remove(b, job);
        timer_add(b, job, mono_ms()); /* the slot just freed: cannot fail */
        n++;
    }
    return n;
}

/* The breaker hears every answer; its transitions are logged. */
static void breaker_record(struct ob_bridge *b, int wh, enum ob_breaker_outcome outcome)
{
    struct warehouse *w = &b->warehouses[wh];
    enum ob_breaker_state before = w->breaker.state;
    enum ob_breaker_state after = ob_breaker_record(&w->breaker, mono_ms(), outcome);

    if (after == before)
        return;
    if (after == OB_BREAKER_OPEN) {
        OB_METRIC_ADD(&b->metrics, breaker_opened, 1);
        ob_log_event(OB_LOG_WARN,
                     OB_LOG_FIELDS(.warehouse = w->conf->code, .event = "circuit_open"),
                     "warehouse %s failing: circuit open for %ld ms; its orders wait on %s",
                     w->conf->code, w->conf->breaker.open_ms, b->cfg->kafka.topic_retry);
    } else if (after == OB_BREAKER_CLOSED) {
        size_t n = resume_parked(b, wh);
        ob_log_event(OB_LOG_INFO,
                     OB_LOG_FIELDS(.warehouse = w->conf->code, .event = "circuit_closed"),
                     "warehouse %s: circuit closed; %zu order(s) parked for it resumed now",
                     w->conf->code, n);
    } else {
        ob_log_event(OB_LOG_INFO,
                     OB_LOG_FIELDS(.warehouse = w->conf->code, .event = "circuit_half_open"),
                     "warehouse %s: circuit %s", w->conf->code, ob_breaker_state_name(after));
    }
}

static enum ob_breaker_outcome breaker_outcome(const struct job *job)
{
    if (job->outcome.kind != OB_OUTCOME_RETRY)
        return OB_BREAKER_SUCCESS;
    return job->attempts > 1 ? OB_BREAKER_FAILURE : OB_BREAKER_FIRST_FAILURE;
}

/* The concurrency limit hears every answer too; a fall to its floor and
 * the way back are logged. */
static void limiter_record(struct ob_bridge *b, const struct job *job, double seconds)
{
    struct warehouse *w = &b->warehouses[job->wh];
    int before = ob_limiter_limit(&w->limiter), after;
    uint64_t shrunk = w->limiter.shrunk;

    ob_limiter_record(&w->limiter, mono_ms(), (uint64_t)(seconds * 1e6),
                      job->outcome.kind == OB_OUTCOME_RETRY, job->at_limit);
    after = ob_limiter_limit(&w->limiter);
    if (w->limiter.shrunk != shrunk)
        OB_METRIC_ADD(&b->metrics, concurrency_lowered, 1);
    if (after == w->limiter.conf.floor && before != after && !w->struggling) {
        w->struggling = 1;
        OB_WARN("warehouse %s struggling (errors or slow answers): %d request(s) at once",
                w->conf->code, after);
    } else if (after == w->limiter.conf.ceiling && w->struggling) {
        w->struggling = 0;
        OB_INFO("warehouse %s copes again: %d requests at once", w->conf->code, after);
    }
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
    ob_log_event(OB_LOG_DEBUG,
                 OB_LOG_FIELDS(.trace_id = job->trace_id, .order_id = job->order_id,
                               .warehouse = wh->code, .event = "pushed"),
                 "push %s to %s attempt %d: HTTP %ld in %.1f ms", job->order_id, wh->code,
                 job->attempts, call->resp.status, call->total_seconds * 1000.0);
    breaker_record(b, job->wh, breaker_outcome(job));
    limiter_record(b, job, call->total_seconds);
    ob_prom_histogram_record(&b->warehouses[job->wh].m->push_seconds,
                             (uint64_t)(call->total_seconds * 1e6));
    OB_METRIC_ADD(b->warehouses[job->wh].m,
                  pushes[job->outcome.kind == OB_OUTCOME_ACCEPTED ? OB_PUSH_ACCEPTED
                         : job->outcome.kind == OB_OUTCOME_RETRY  ? OB_PUSH_ERROR
                                                                  : OB_PUSH_REJECTED],
                  1);
    ob_http_call_reset(call);

    switch (job->outcome.kind) {
    case OB_OUTCOME_ACCEPTED:
        OB_METRIC_ADD(&b->metrics, accepted, 1);
        job_finish(job, "ACCEPTED", NULL, NULL);
        return;
    case OB_OUTCOME_RETRY:
        if (job->attempts >= wh->max_attempts) {
            char msg[600];
            OB_METRIC_ADD(&b->metrics, failed, 1);
            snprintf(msg, sizeof(msg), "gave up after %d attempts: %s", job->attempts,
                     job->outcome.reason);
            job_finish(job, "DELIVERY_FAILED", "retries_exhausted", msg);
        } else if (job_draining(job)) {
            job_park(job, 0, job->outcome.reason);
        } else if (job->attempts_here >= wh->attempts_in_memory) {
            job_park(job, park_delay(job), job->outcome.reason);
        } else {
            ob_metrics_failure(&b->metrics, job->order_id, wh->code, "error",
                               job->outcome.reason);
            ob_log_event(OB_LOG_INFO,
                         OB_LOG_FIELDS(.trace_id = job->trace_id, .order_id = job->order_id,
                                       .warehouse = wh->code, .event = "retry",
                                       .reason = job->outcome.reason),
                         "order %s to %s: %s; retry %d of %d", job->order_id, wh->code,
                         job->outcome.reason, job->attempts, wh->max_attempts - 1);
            job_retry_later(job, job->outcome.retry_after_ms);
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

/*
 * The crash guard. An adapter is a plugin and its input is hostile: an
 * order that crashes it would crash the bridge again on every restart, and
 * block its partition. So before adapters run on a batch of orders (encode,
 * or decode of the answer), one ledger record names the batch's orders
 * under this process's incarnation, and it is on disk before they run; it
 * is removed after them. A record of another incarnation found at start
 * means the bridge died while those adapters ran: each of its orders gets
 * its entry marked with the dead incarnation (take_marks), which is what
 * guard_check() reads.
 *
 * One record and one LMDB commit per loop iteration, not a write per order,
 * so a crash marks every order of its batch. Each of them then runs alone:
 * its own entry marked (with its crash count), flushed, run, cleared,
 * flushed. An order is dead-lettered ("crashed") once the bridge died
 * pipeline.max_crashes times running it, the last time alone, so an order
 * that merely shared a batch with the culprit is never blamed.
 *
 * Without a ledger there is nowhere to keep a mark: adapters run at once.
 */
static int guarded(const struct ob_bridge *b)
{
    return b->ledger != NULL;
}

/* A suspect's own mark, on its entry: it runs alone. */
static int guard_mark(struct job *job)
{
    struct ob_ledger_entry e = {
        .state = OB_LEDGER_IN_FLIGHT,
        .attempts = job->state == JOB_GATE_ENCODE ? job->attempts + 1 : job->attempts,
        .first_attempt_ms = job->first_attempt_ms ? job->first_attempt_ms : ob_now_epoch_ms(),
        .adapter_running = job->b->incarnation,
        .crashes = job->crashes,
        .alone = 1,
    };
    return ob_ledger_put(job->b->ledger, job->idem_key, &e);
}

/* By key, not job: the adapter's outcome may have finished the job. An
 * entry already overwritten (a final outcome staged meanwhile) carries no
 * mark of ours and is left alone. */
static void guard_clear(struct ob_bridge *b, const char *key)
{
    struct ob_ledger_entry e;

    if (ob_ledger_get(b->ledger, key, &e) == 1 && e.adapter_running == b->incarnation) {
        e.adapter_running = 0;
        ob_ledger_put(b->ledger, key, &e);
    }
}

/* At start: the orders a dead incarnation's adapters were running on get
 * its mark on their entries. An order done since is no suspect. */
static void take_mark(void *arg, const char *key, uint64_t dead, int alone)
{
    struct ob_bridge *b = arg;
    struct ob_ledger_entry e;

    if (ob_ledger_get(b->ledger, key, &e) != 1)
        e = (struct ob_ledger_entry){.state = OB_LEDGER_IN_FLIGHT,
                                     .first_attempt_ms = ob_now_epoch_ms()};
    else if (e.state == OB_LEDGER_DONE)
        return;
    e.adapter_running = dead;
    e.alone = alone;
    ob_ledger_put(b->ledger, key, &e);
}

static void job_encode_and_send(struct job *job);

/* Queue the adapter run of `job` (state set by the caller): it runs once
 * its batch's mark is on disk (gate_run). */
static void gate_add(struct job *job)
{
    struct ob_bridge *b = job->b;

    job->gate_next = NULL;
    if (b->gate_tail)
        b->gate_tail->gate_next = job;
    else
        b->gate_head = job;
    b->gate_tail = job;
}

/* A gated job freed unrun (shutdown): its mark must not read as a crash. */
static void gate_abandon(struct ob_bridge *b, struct job *job)
{
    struct job *prev = NULL;

    for (struct job *j = b->gate_head; j; prev = j, j = j->gate_next) {
        if (j != job)
            continue;
        if (prev)
            prev->gate_next = j->gate_next;
        else
            b->gate_head = j->gate_next;
        if (b->gate_tail == j)
            b->gate_tail = prev;
        break;
    }
    if (job->state == JOB_GATE_ENCODE && !b->destroying)
        lane_release_later(b, job->wh);
}

static void gate_run_one(struct job *job)
{
    struct ob_bridge *b = job->b;

    if (job->state == JOB_GATE_ENCODE && job_draining(job)) {
        /* revoked or stopping while it waited: parked, as from its lane */
        int lane = job->wh;
        b->warehouses[lane].active--;
        job->state = JOB_NEW;
        job_park(job, 0, "partition revoked or stopping");
        lane_pump(b, lane);
    } else if (job->state == JOB_GATE_ENCODE) {
        job_encode_and_send(job);
    } else {
        job_classify(job);
    }
}

/* Run every adapter call waiting in the gate: the batch's mark is made
 * durable by one flush; suspects then run one at a time. */
static void gate_run(struct ob_bridge *b)
{
    struct job *batch = b->gate_head, *suspects = NULL, **tail = &suspects;
    const char *keys[CONSUME_BATCH];

    if (!batch)
        return;
    b->gate_head = b->gate_tail = NULL;
    /* The batch, up to CONSUME_BATCH orders at a time (answers can be more). */
    while (batch) {
        struct job *run = NULL, **run_tail = &run;
        size_t n = 0;
        while (batch && n < CONSUME_BATCH) {
            struct job *job = batch;
            batch = job->gate_next;
            job->gate_next = NULL;
            if (job->suspect) {
                *tail = job;
                tail = &job->gate_next;
            } else {
                keys[n++] = job->idem_key;
                *run_tail = job;
                run_tail = &job->gate_next;
            }
        }
        if (n == 0)
            break;
        ob_ledger_mark(b->ledger, b->incarnation, keys, n, 0);
        ob_ledger_flush(b->ledger);
        while (run) {
            struct job *job = run;
            run = job->gate_next;
            job->gate_next = NULL;
            gate_run_one(job);
        }
        ob_ledger_unmark(b->ledger, b->incarnation); /* on disk with the next flush */
    }
    while (suspects) {
        struct job *job = suspects;
        char key[sizeof job->idem_key];
        suspects = job->gate_next;
        job->gate_next = NULL;
        memcpy(key, job->idem_key, sizeof key);
        guard_mark(job);
        ob_ledger_flush(b->ledger); /* the batch's unmark too: only this mark stays set */
        gate_run_one(job);
        guard_clear(b, key);
        ob_ledger_flush(b->ledger);
    }
}

/* The lane slot is taken: encode behind the crash guard, then send. */
static void job_send(struct job *job)
{
    if (!guarded(job->b)) {
        job_encode_and_send(job);
        return;
    }
    job->state = JOB_GATE_ENCODE;
    gate_add(job);
}

/* Encode and hand the push to curl; the lane slot is already taken. */
static void job_encode_and_send(struct job *job)
{
    struct ob_bridge *b = job->b;
    int lane = job->wh;
    struct ob_adapter_instance *ad = b->warehouses[lane].adapter;
    const struct ob_warehouse_conf *wh = b->warehouses[lane].conf;
    struct ob_delivery delivery = {
        .warehouse = wh->code,
        .idempotency_key = job->idem_key,
        .trace_id = job->trace_id,
        .attempt = job->attempts + 1,
    };
    char err[512] = "";

    ob_http_call_reset(&job->call);
    if ((!(ad->plugin.vt.flags & OB_ADAPTER_NO_DOC) &&
         ob_order_doc(job->po, err, sizeof(err)) != 0) ||
        ad->plugin.vt.encode(ad->state, &job->po->order, &delivery, &job->call.req, err,
                             sizeof(err)) != 0 ||
        !job->call.req.url || !job->call.req.method) {
        ob_http_call_reset(&job->call);
        b->warehouses[lane].active--;
        breaker_record(b, job->wh, OB_BREAKER_SUCCESS); /* not the warehouse's failure */
        OB_METRIC_ADD(&b->metrics, failed, 1);
        char msg[600];
        snprintf(msg, sizeof(msg), "adapter %s cannot encode the order: %s", ad->plugin.vt.name,
                 err[0] ? err : "no request built");
        job_finish(job, "DELIVERY_FAILED", "encode_failed", msg);
        lane_pump(b, lane); /* the slot it gave back: from the gate, no one else would */
        return;
    }
    /* With a ledger, the crash guard's mark was its in-flight entry. */
    job->attempts++;
    job->attempts_here++;
    if (job->attempts > 1) {
        OB_METRIC_ADD(&b->metrics, http_retries, 1);
        OB_METRIC_ADD(b->warehouses[job->wh].m, retries, 1);
    }
    if (!job->first_attempt_ms)
        job->first_attempt_ms = ob_now_epoch_ms();
    job->call.connect_timeout_ms = wh->connect_timeout_ms;
    job->call.timeout_ms = wh->timeout_ms;
    job->call.tls = &wh->tls;
    job->call.done = on_http_done;
    job->state = JOB_PUSHING;
    OB_METRIC_ADD(&b->metrics, http_requests, 1);
    if (ob_dispatch_submit(b->dispatch, &job->call) != 0) {
        /* Treat as a transport failure of this attempt. */
        job->call.resp.status = 0;
        job->call.resp.transport_error = "cannot start the HTTP transfer";
        b->warehouses[lane].active--;
        job_classify(job);
        lane_pump(b, lane);
    }
}

/* One more (+1) or one fewer (-1) order waiting in w's lane. */
static int lane_full(const struct warehouse *w)
{
    return w->n_waiting >= (size_t)w->conf->max_connections;
}

static void lane_count(struct ob_bridge *b, struct warehouse *w, int delta)
{
    w->n_waiting = delta > 0 ? w->n_waiting + 1 : w->n_waiting - 1;
    OB_METRIC_ADD(&b->metrics, lane_waiting, delta > 0 ? 1 : (uint64_t)-1);
    if (!lane_full(w))
        w->full_since_ms = 0;
    else if (!w->full_since_ms)
        w->full_since_ms = mono_ms();
}

static void queue_unlink(struct lane_queue *q, struct job *prev, struct job *job)
{
    if (prev)
        prev->lane_next = job->lane_next;
    else
        q->head = job->lane_next;
    if (q->tail == job)
        q->tail = prev;
    job->lane_next = NULL;
    q->n--;
}

static void lane_remove(struct ob_bridge *b, struct job *job)
{
    struct warehouse *w = &b->warehouses[job->wh];
    struct lane_queue *q = &w->queue[job->priority];
    struct job *prev = NULL;

    for (struct job *j = q->head; j; prev = j, j = j->lane_next) {
        if (j == job) {
            queue_unlink(q, prev, j);
            lane_count(b, w, -1);
            return;
        }
    }
}

/* Park every order waiting in the lane (its circuit is open, or we let go). */
static void lane_park_all(struct ob_bridge *b, int wh, const char *reason)
{
    struct warehouse *w = &b->warehouses[wh];
    struct job *all[N_PRIORITIES];

    for (int c = 0; c < N_PRIORITIES; c++) {
        all[c] = w->queue[c].head;
        w->queue[c] = (struct lane_queue){0};
    }
    OB_METRIC_ADD(&b->metrics, lane_waiting, (uint64_t)0 - w->n_waiting);
    w->n_waiting = 0;
    w->full_since_ms = 0;
    for (int c = 0; c < N_PRIORITIES; c++) {
        for (struct job *job = all[c], *next; job; job = next) {
            next = job->lane_next;
            job->lane_next = NULL;
            job->state = JOB_NEW;
            job_park(job, job_draining(job) ? 0 : park_delay(job), reason);
        }
    }
}

/* About how long the last order in the lane waits for a connection: its
 * place in line over the requests at once, times the usual answer time;
 * at least as long as the lane has been full (no answer came meanwhile,
 * or it would not be). */
static uint64_t lane_wait_ms(const struct warehouse *w)
{
    int limit = ob_limiter_limit(&w->limiter);
    uint64_t est = (uint64_t)(((double)w->n_waiting / limit + 1) * w->limiter.usual_us / 1000);
    uint64_t full = w->full_since_ms ? mono_ms() - w->full_since_ms : 0;

    return est > full ? est : full;
}

static int priority_of(const struct ob_parsed_order *po)
{
    const char *p = po ? po->order.priority : NULL;

    if (p && strcmp(p, "express") == 0)
        return OB_PRIORITY_EXPRESS;
    if (p && strcmp(p, "presale") == 0)
        return OB_PRIORITY_PRESALE;
    return OB_PRIORITY_NORMAL;
}

/* Which queue of the lane goes next: smooth weighted round-robin among
 * those with orders waiting (pipeline.priority_weights), so that express
 * orders do not wait behind a backlog of normal and presale ones, and
 * those still move. */
static int lane_pick(const struct ob_bridge *b, struct warehouse *w)
{
    const int *weight = b->cfg->pipeline.priority_weights;
    int total = 0, best = -1;

    for (int c = 0; c < N_PRIORITIES; c++) {
        if (!w->queue[c].head)
            continue;
        w->queue[c].current += weight[c];
        total += weight[c];
        if (best < 0 || w->queue[c].current > w->queue[best].current)
            best = c;
    }
    w->queue[best].current -= total;
    return best;
}

/* The next job of the lane: the head of the queue lane_pick() names,
 * except that a half-open circuit's probes go to orders that failed
 * before (among its first few), whose next attempt is the likeliest to
 * tell whether the warehouse is back. Orders do not wait behind each
 * other in a lane: each order has at most one event in it. */
static struct job *lane_take(const struct ob_bridge *b, struct warehouse *w)
{
    struct lane_queue *q = &w->queue[lane_pick(b, w)];
    struct job *prev = NULL, *job = q->head;

    if (w->breaker.state == OB_BREAKER_HALF_OPEN) {
        int n = 0;
        for (struct job *p = NULL, *j = q->head; j && n < PROBE_SCAN; p = j, j = j->lane_next, n++)
            if (j->attempts > 0) {
                prev = p;
                job = j;
                break;
            }
    }
    queue_unlink(q, prev, job);
    return job;
}

/*
 * Start waiting pushes while the warehouse has free connections, a token
 * in its bucket and a circuit that lets them through. An open circuit
 * parks the whole line on the retry topic, so that one failing warehouse
 * never fills the bridge and stalls the others.
 */
static void lane_pump(struct ob_bridge *b, int wh)
{
    struct warehouse *w = &b->warehouses[wh];

    if (w->pumping)
        return; /* the outer call's loop goes on */
    w->pumping = 1;
    while (w->n_waiting && w->active < ob_limiter_limit(&w->limiter)) {
        uint64_t now_us = mono_us(), wait;
        struct job *job;

        if (!ob_bucket_take(&w->bucket, now_us, &wait)) {
            OB_METRIC_ADD(&b->metrics, rate_limited, 1);
            OB_METRIC_ADD(w->m, rate_limited, 1);
            w->blocked_until_ms = (now_us + wait + 999) / 1000;
            break;
        }
        if (!ob_breaker_allow(&w->breaker, now_us / 1000, &wait)) {
            if (w->breaker.state == OB_BREAKER_OPEN) {
                lane_park_all(b, wh, "circuit open");
                continue; /* parking may have let a later event of an order join */
            }
            w->blocked_until_ms = now_us / 1000 + (wait ? wait : 1);
            break;
        }
        job = lane_take(b, w);
        lane_count(b, w, -1);
        w->active++;
        job->at_limit = w->active >= ob_limiter_limit(&w->limiter);
        job_send(job);
    }
    w->pumping = 0;
}

/* Join the warehouse's lane (or park, when the job must let go). A new
 * order for a warehouse whose lane is full and slow to drain steps aside
 * onto the retry topic until about when it drains, so that it does not
 * hold back the orders of the others (which wait in Kafka behind it). */
static void job_push(struct job *job)
{
    struct warehouse *w = &job->b->warehouses[job->wh];
    struct lane_queue *q;
    uint64_t wait_ms;

    if (job_draining(job)) {
        job_park(job, 0, "partition revoked or stopping");
        return;
    }
    job->priority = job->express ? OB_PRIORITY_EXPRESS : priority_of(job->po);
    if (job->attempts_here == 0 && lane_full(w) && (wait_ms = lane_wait_ms(w)) > STEP_ASIDE_MS) {
        char reason[128];
        OB_METRIC_ADD(&job->b->metrics, stepped_aside, 1);
        OB_METRIC_ADD(w->m, stepped_aside, 1);
        if (wait_ms > (uint64_t)w->conf->max_park_ms)
            wait_ms = (uint64_t)w->conf->max_park_ms;
        snprintf(reason, sizeof(reason), "warehouse busy: %zu orders waiting, back in %" PRIu64
                 " ms", w->n_waiting, wait_ms);
        job_park(job, wait_ms, reason);
        return;
    }
    job->state = JOB_QUEUED;
    job->lane_next = NULL;
    q = &w->queue[job->priority];
    if (q->tail)
        q->tail->lane_next = job;
    else
        q->head = job;
    q->tail = job;
    q->n++;
    lane_count(job->b, w, +1);
    if (!w->blocked_until_ms)
        lane_pump(job->b, job->wh);
}

static int64_t header_int(const rd_kafka_message_t *msg, const char *name, int64_t def)
{
    char buf[32], *end;
    const char *text = ob_header_text(msg, name, buf, sizeof(buf));
    long long v;

    if (!text)
        return def;
    v = strtoll(text, &end, 10);
    return end != text && *end == '\0' ? (int64_t)v : def;
}

/* The warehouse a parked copy waits for (its ob.warehouse header), or -1. */
static int warehouse_index(const struct ob_bridge *b, const rd_kafka_message_t *msg)
{
    char code[128];

    if (!ob_header_text(msg, "ob.warehouse", code, sizeof(code)))
        return -1;
    for (size_t i = 0; i < b->n_warehouses; i++)
        if (strcmp(b->warehouses[i].conf->code, code) == 0)
            return (int)i;
    return -1;
}


static void set_trace_id(struct job *job)
{
    char value[sizeof(job->trace_id)];
    size_t n = 0;

    if (ob_header_text(job->msg, "trace_id", value, sizeof(value))) {
        for (const char *p = value; *p; p++)
            if ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                *p == '-' || *p == '_' || *p == '.')
                job->trace_id[n++] = *p;
        job->trace_id[n] = '\0';
        if (n > 0)
            return;
    }
    snprintf(job->trace_id, sizeof(job->trace_id), "%" PRId32 "-%" PRId64, job->origin_partition,
             job->origin_offset);
}

static void job_begin(struct job *job);

static void job_start(struct ob_bridge *b, rd_kafka_message_t *msg, const struct ob_ticket *ticket)
{
    struct job *job = job_alloc(b);
    int64_t now = ob_now_epoch_ms();

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
    job->parked_wh = -1;
    job->received_us = mono_us();
    b->jobs++;
    OB_METRIC_ADD(&b->metrics, in_flight, 1);
    OB_METRIC_ADD(&b->metrics, consumed, 1);
    job->from_retry = ob_ticket_from_retry(ticket);
    job->express = ob_ticket_express(ticket);
    job->replay = header_int(msg, "ob.replay", 0) == 1;
    if (job->from_retry) {
        job->attempts = (int)header_int(msg, "ob.attempts", 0);
        job->parks = (int)header_int(msg, "ob.parks", 1);
        job->first_seen_ms = header_int(msg, "ob.first_seen", now);
        job->first_attempt_ms = header_int(msg, "ob.first_attempt", 0);
        job->origin_partition = (int32_t)header_int(msg, "ob.partition", msg->partition);
        job->origin_offset = header_int(msg, "ob.offset", msg->offset);
        job->not_before_ms = header_int(msg, "ob.not_before", 0);
        job->parked_ms = header_int(msg, "ob.parked_at", 0);
        job->parked_wh = warehouse_index(b, msg);
    } else {
        job->first_seen_ms = now;
        job->origin_partition = msg->partition;
        job->origin_offset = msg->offset;
    }
    set_trace_id(job);
    if (job->not_before_ms > now && !resumable(b, job)) {
        /* Too early: wait, and keep this partition paused meanwhile (the
         * messages behind it were parked no earlier). */
        job->state = JOB_NOT_BEFORE;
        ob_consumer_hold(b->consumer, ticket, 1);
        if (timer_add(b, job, mono_ms() + (uint64_t)(job->not_before_ms - now)) == 0)
            return;
        ob_consumer_hold(b->consumer, ticket, 0);
        job->state = JOB_NEW;
    }
    job_begin(job);
}

/* Parse, then wait for the order's earlier events, then route and push. */
static void job_begin(struct job *job)
{
    struct ob_bridge *b = job->b;
    rd_kafka_message_t *msg = job->msg;
    struct ob_order_problem problem;

    /* No jansson tree: decoded later only for an adapter that reads it. */
    if (ob_order_parse_lean(msg->payload, msg->len, (size_t)b->cfg->pipeline.max_order_bytes,
                            &job->po, &problem) != 0) {
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

/*
 * What the ledger knows about this push. Done: the status is re-emitted
 * (events are idempotent by key) and nothing is pushed, unless a replay
 * asks to try a failed order again. Parked, met on the orders topic: the
 * copy on the retry topic carries it on. In flight: resent with the same
 * key, its attempts counted.
 * Returns 1 when the job is finished here.
 */
static int guard_check(struct job *job, const struct ob_ledger_entry *e);

/* The job's message is the one whose outcome `e` is (read again). */
static int redelivered(const struct job *job, const struct ob_ledger_entry *e)
{
    return e->source == job_source(job) && e->source_partition == job->msg->partition &&
           e->source_offset == job->msg->offset;
}

static int ledger_check(struct job *job)
{
    struct ob_bridge *b = job->b;
    struct ob_ledger_entry e;
    const char *status;

    if (!b->ledger || ob_ledger_get(b->ledger, job->idem_key, &e) != 1)
        return 0;
    if (e.state != OB_LEDGER_DONE && guard_check(job, &e))
        return 1;
    if (e.state == OB_LEDGER_DONE && (status = static_status(e.status)) && !job->replay &&
        redelivered(job, &e)) {
        /* Done (here, or where the state was restored from) only once its
         * status event was in Kafka: the same message read again after a
         * crash or a rebalance adds nothing. The same order in a new message
         * is answered again, below. */
        OB_METRIC_ADD(&b->metrics, ledger_skipped, 1);
        ob_log_event(OB_LOG_INFO,
                     OB_LOG_FIELDS(.trace_id = job->trace_id, .order_id = job->order_id,
                                   .warehouse = wh_code(job), .event = "skipped", .reason = status),
                     "order %s already %s at %s: not pushed, its status is in Kafka already",
                     job->order_id, status, wh_code(job));
        job->ledger_hit = 1;
        job_complete(job);
        return 1;
    }
    if (e.state == OB_LEDGER_DONE && (status = static_status(e.status)) &&
        !(job->replay && status != static_status("ACCEPTED"))) {
        OB_METRIC_ADD(&b->metrics, ledger_skipped, 1);
        ob_log_event(OB_LOG_INFO,
                     OB_LOG_FIELDS(.trace_id = job->trace_id, .order_id = job->order_id,
                                   .warehouse = wh_code(job), .event = "status_reemitted",
                                   .reason = status),
                     "order %s already %s at %s: status re-emitted", job->order_id, status,
                     wh_code(job));
        job->ledger_hit = 1;
        job->attempts = e.attempts;
        job->first_attempt_ms = e.first_attempt_ms;
        job->last_http_status = e.http_status;
        ob_strlcpyf(job->outcome.warehouse_order_id, sizeof(job->outcome.warehouse_order_id), "%s",
                    e.warehouse_order_id);
        ob_strlcpyf(job->outcome.carrier, sizeof(job->outcome.carrier), "%s", e.carrier);
        ob_strlcpyf(job->outcome.tracking_no, sizeof(job->outcome.tracking_no), "%s",
                    e.tracking_no);
        ob_strlcpyf(job->outcome.reason, sizeof(job->outcome.reason), "%s", e.reason);
        job_finish(job, status, NULL, NULL);
        return 1;
    }
    if (e.state == OB_LEDGER_PARKED && !job->from_retry && !job->replay) {
        ob_log_event(OB_LOG_INFO,
                     OB_LOG_FIELDS(.trace_id = job->trace_id, .order_id = job->order_id,
                                   .warehouse = wh_code(job), .event = "skipped",
                                   .reason = "parked"),
                     "order %s already waits on %s", job->order_id, b->cfg->kafka.topic_retry);
        job->ledger_hit = 1;
        job_complete(job);
        return 1;
    }
    if (e.state == OB_LEDGER_IN_FLIGHT || e.state == OB_LEDGER_PARKED) {
        if (e.state == OB_LEDGER_IN_FLIGHT && !job->from_retry) {
            OB_METRIC_ADD(&b->metrics, ledger_resent, 1);
            ob_log_event(OB_LOG_INFO,
                         OB_LOG_FIELDS(.trace_id = job->trace_id, .order_id = job->order_id,
                                       .warehouse = wh_code(job), .event = "resent",
                                       .reason = "in_flight"),
                         "order %s was in flight when the bridge stopped: resent, same key",
                         job->order_id);
        }
        if (e.attempts > job->attempts)
            job->attempts = e.attempts;
        if (!job->first_attempt_ms)
            job->first_attempt_ms = e.first_attempt_ms;
    }
    return 0;
}

/* Poison pills: an entry still marked by another incarnation means the
 * bridge died while an adapter ran on this order (see gate_run). Returns 1
 * when the order is dead-lettered for it. */
static int guard_check(struct job *job, const struct ob_ledger_entry *e)
{
    struct ob_bridge *b = job->b;
    int died = e->adapter_running != 0 && e->adapter_running != b->incarnation;

    job->crashes = e->crashes + died;
    job->suspect = job->crashes > 0;
    if (!died)
        return 0;
    OB_METRIC_ADD(&b->metrics, crash_suspects, 1);
    if (e->alone && job->crashes >= b->cfg->pipeline.max_crashes) {
        char msg[300];
        OB_METRIC_ADD(&b->metrics, crashed, 1);
        OB_METRIC_ADD(&b->metrics, failed, 1);
        snprintf(msg, sizeof(msg),
                 "the bridge died %d times while adapter %s ran on this order, the last time "
                 "alone: not tried again",
                 job->crashes, b->warehouses[job->wh].adapter->plugin.vt.name);
        ob_log_event(OB_LOG_ERROR,
                     OB_LOG_FIELDS(.trace_id = job->trace_id, .order_id = job->order_id,
                                   .warehouse = wh_code(job), .event = "crashed"),
                     "order %s: %s", job->order_id, msg);
        job_finish(job, "DELIVERY_FAILED", "crashed", msg);
        return 1;
    }
    ob_log_event(OB_LOG_WARN,
                 OB_LOG_FIELDS(.trace_id = job->trace_id, .order_id = job->order_id,
                               .warehouse = wh_code(job), .event = "crash_suspect"),
                 "order %s: the bridge died while adapter %s ran on it%s (%d time(s)): its "
                 "adapter now runs alone", job->order_id,
                 b->warehouses[job->wh].adapter->plugin.vt.name,
                 e->alone ? "" : " or on an order beside it", job->crashes);
    return 0;
}

/* Route and push a parsed order whose earlier events are all finished. */
static void job_proceed(struct job *job)
{
    struct ob_bridge *b = job->b;
    const struct ob_warehouse_conf *wh;
    char reason[256];
    const char *rule = NULL;

    job->wh = ob_router_route(b->cfg, &job->po->order, &rule, reason, sizeof(reason));
    if (job->wh < 0) {
        OB_METRIC_ADD(&b->metrics, unroutable, 1);
        job_finish(job, "DELIVERY_FAILED", "unroutable", reason);
        return;
    }
    wh = &b->cfg->warehouses[job->wh];
    ob_log_event(OB_LOG_DEBUG,
                 OB_LOG_FIELDS(.trace_id = job->trace_id, .order_id = job->order_id,
                               .warehouse = wh->code, .event = "routed", .reason = rule),
                 "order %s -> %s (by %s)", job->order_id, wh->code, rule);
    if (ob_idempotency_key(wh->code, job->order_id, job->po->order.event_name,
                           job->po->order.revision, job->idem_key) != 0) {
        OB_METRIC_ADD(&b->metrics, failed, 1);
        job_finish(job, "DELIVERY_FAILED", "encode_failed", "cannot derive the idempotency key");
        return;
    }
    if (ledger_check(job))
        return;
    if (job->attempts >= wh->max_attempts) {
        char msg[300];
        OB_METRIC_ADD(&b->metrics, failed, 1);
        snprintf(msg, sizeof(msg), "gave up after %d attempts (the last interrupted)",
                 job->attempts);
        job_finish(job, "DELIVERY_FAILED", "retries_exhausted", msg);
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
        if (job->state == JOB_NOT_BEFORE) {
            ob_consumer_hold(b->consumer, &job->ticket, 0);
            job->state = JOB_NEW;
            job_begin(job);
        } else if (job->state == JOB_WAIT_RETRY) {
            job_push(job);
        } else {
            job_send_records(job);
        }
    }
}

/* Lanes waiting for a token or a half-open probe slot. */
static uint64_t run_lanes(struct ob_bridge *b, uint64_t now_ms)
{
    uint64_t next = 0;

    for (size_t i = 0; i < b->n_warehouses; i++) {
        struct warehouse *w = &b->warehouses[i];
        if (w->blocked_until_ms && w->blocked_until_ms <= now_ms) {
            w->blocked_until_ms = 0;
            lane_pump(b, (int)i);
        }
        if (w->blocked_until_ms && (!next || w->blocked_until_ms < next))
            next = w->blocked_until_ms;
    }
    return next;
}

/* --- letting go: revoke and stop ---------------------------------------- */

/* Park what waits (for a retry, or in a lane); what is in curl or in the
 * producer is left to finish. */
static void drain_start(struct ob_bridge *b)
{
    struct job *job = b->all_jobs;

    while (job) {
        struct job *next = job->next;
        if (job_draining(job)) {
            if (job->state == JOB_WAIT_RETRY) {
                timer_remove(b, job);
                job_park(job, 0, "partition revoked or stopping");
            } else if (job->state == JOB_QUEUED) {
                lane_remove(b, job);
                job->state = JOB_NEW;
                job_park(job, 0, "partition revoked or stopping");
            } else if (job->state == JOB_NOT_BEFORE) {
                job_free(job); /* on the retry topic already: the next owner waits for it */
                OB_METRIC_ADD(&b->metrics, abandoned, 1);
            }
        }
        job = next; /* parking frees nothing synchronously: `next` stays valid */
    }
}

static size_t draining_jobs(const struct ob_bridge *b)
{
    size_t n = 0;

    for (const struct job *job = b->all_jobs; job; job = job->next)
        n += job_draining(job) && job->ticket.part;
    return n;
}

/* The deadline passed: pushes still in curl are abandoned uncommitted (the
 * next owner sends them again with the same key); records already in the
 * producer finish on their own, without their tickets. */
static void drain_abandon(struct ob_bridge *b)
{
    struct job *job = b->all_jobs;

    while (job) {
        struct job *next = job->next;
        if (job_draining(job) && job->ticket.part) {
            if (job->state == JOB_RECORDS || job->state == JOB_WAIT_RECORDS) {
                job->ticket.part = NULL;
            } else {
                OB_METRIC_ADD(&b->metrics, abandoned, 1);
                job_free(job);
                next = b->all_jobs; /* freeing may have taken other jobs with it */
            }
        }
        job = next;
    }
}

static void drain_wake(struct ob_bridge *b);

/* Partitions of orders are ours now: their order state comes first, from
 * the changelog (restore.h), so that an order another instance finished is
 * not pushed again here and its status reports find their track. */
static void on_assign(void *opaque, const int32_t *parts, size_t n)
{
    struct ob_bridge *b = opaque;
    struct ob_restore_stats st;
    char err[512];
    int rc;

    ob_ledger_flush(b->ledger);
    rc = ob_restore(b->cfg, b->ledger, parts, n, RESTORE_TIMEOUT_MS, &st, err, sizeof(err));
    OB_METRIC_ADD(&b->metrics, state_restored, st.records);
    OB_METRIC_ADD(&b->metrics, restore_ms, (uint64_t)(st.seconds * 1000));
    OB_METRIC_ADD(&b->metrics, restore_bytes, st.bytes);
    if (rc != 0)
        OB_ERR("restore: %s; %zu order states read in %.2f s, the rest are unknown here (their "
               "orders may be pushed again, with the same key)", err, st.records, st.seconds);
    else if (st.partitions)
        OB_INFO("restored %zu order states (%zu bytes, %zu refused) of %zu partition(s) of %s "
                "in %.2f s", st.records, st.bytes, st.refused, st.partitions,
                b->cfg->kafka.topic_state, st.seconds);
}

/* The poller's question: is order_id's partition of orders ours? With
 * the state changelog the ledger also keeps orders of partitions that
 * moved away; their new owner polls them. */
static int order_owned(void *opaque, const char *order_id)
{
    struct ob_bridge *b = opaque;
    int32_t p = ob_kafka_partition_of(b->cfg, order_id, b->orders_partitions);

    return p < 0 || ob_consumer_owns(b->consumer, p);
}

/* Partitions are being revoked: finish or park their orders, and finish
 * the callbacks being applied, up to the shutdown timeout, before the
 * consumer commits and lets them go. */
static void on_revoke(void *opaque)
{
    struct ob_bridge *b = opaque;
    uint64_t now = mono_ms(), deadline = now + (uint64_t)b->cfg->pipeline.shutdown_timeout_ms;
    size_t n;

    if (b->destroying)
        return;
    drain_start(b);
    while ((n = draining_jobs(b) + ob_callback_apply_draining(b->applier)) > 0 &&
           (now = mono_ms()) < deadline) {
        int timeout = (int)(deadline - now < 100 ? deadline - now : 100);
        ob_producer_poll(b->producer);
        run_timers(b, now);
        run_lanes(b, now);
        gate_run(b);
        if (b->ledger)
            ob_ledger_flush(b->ledger);
        ob_tracker_finish(b->tracker);
        if (ob_dispatch_poll(b->dispatch, b->wake[0], timeout) == 1)
            drain_wake(b);
    }
    if (n > 0)
        OB_WARN("revoke: %zu order(s) and callback(s) unfinished after %ld ms, left to the next "
                "owner", n, b->cfg->pipeline.shutdown_timeout_ms);
    drain_abandon(b);
    ob_callback_apply_revoked(b->applier);
    if (b->ledger)
        ob_ledger_flush(b->ledger);
}

/* --- the loop --------------------------------------------------------- */

static void drain_wake(struct ob_bridge *b)
{
    char buf[256];

    while (read(b->wake[0], buf, sizeof(buf)) > 0)
        ;
}

/*
 * Backpressure has three bounds: orders being worked on (memory, HTTP
 * load), offsets handed out but not yet committable, and what a warehouse
 * can push: no more messages while one lane has max_connections orders
 * waiting, so that a backlog waits in Kafka and an order taken is pushed
 * within about two answers of its warehouse. The second bound is larger
 * than the first: one slow order holds back the commit point of its
 * partition while the orders behind it finish, and those cost a few bytes
 * each.
 *
 * When a bound is reached the loop simply stops taking messages: they wait
 * in librdkafka's bounded local queue and flow again the moment there is
 * room (pausing partitions costs a refetch of up to a second on resume).
 * Only if that lasts PAUSE_AFTER_MS are the partitions paused, so that the
 * loop can keep polling the consumer for rebalances without taking more.
 */
/* A warehouse with max_connections orders waiting for a connection, which
 * it serves quickly: the next messages wait in Kafka. (A slow one's new
 * orders step aside instead, see job_push.) */
static int any_lane_full(const struct ob_bridge *b)
{
    for (size_t i = 0; i < b->n_warehouses; i++)
        if (lane_full(&b->warehouses[i]) && lane_wait_ms(&b->warehouses[i]) <= STEP_ASIDE_MS)
            return 1;
    return 0;
}

/* Jobs that hold a slot of max_in_flight: not those waiting for their
 * state record only. */
static size_t working_jobs(const struct ob_bridge *b)
{
    return b->jobs - b->settling;
}

static int is_full(const struct ob_bridge *b)
{
    size_t max_jobs = (size_t)b->cfg->pipeline.max_in_flight;

    return working_jobs(b) >= max_jobs || b->settling >= max_jobs || any_lane_full(b) ||
           ob_consumer_outstanding(b->consumer) >= UNCOMMITTED_PER_JOB * max_jobs;
}

static int has_room_again(const struct ob_bridge *b)
{
    size_t max_jobs = (size_t)b->cfg->pipeline.max_in_flight;

    return working_jobs(b) <= max_jobs / 2 && b->settling <= max_jobs / 2 &&
           !any_lane_full(b) &&
           ob_consumer_outstanding(b->consumer) <= UNCOMMITTED_PER_JOB * max_jobs / 2;
}

/* Express orders (kafka.topics.express) first: only the bound on jobs
 * holds them back, not a full lane or a paused orders topic. */
static int consume_express(struct ob_bridge *b)
{
    for (int n = 0; n < CONSUME_BATCH; n++) {
        struct ob_ticket ticket;
        rd_kafka_message_t *msg;

        if (working_jobs(b) >= (size_t)b->cfg->pipeline.max_in_flight)
            return 0; /* a finished job wakes the loop */
        if (!(msg = ob_consumer_next_express(b->consumer, &ticket)))
            return 0;
        job_start(b, msg, &ticket);
    }
    return 1;
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
        if (ob_ticket_callback(&ticket))
            ob_callback_apply_take(b->applier, msg, &ticket);
        else
            job_start(b, msg, &ticket);
        if (n % EXPRESS_EVERY == EXPRESS_EVERY - 1)
            consume_express(b); /* an express order waits for no batch */
    }
    return 1;
}

/* Staged ledger writes become durable before any offset that depends on
 * them is committed, and before the loop sleeps. */
static void ledger_flush(struct ob_bridge *b)
{
    if (b->ledger)
        ob_ledger_flush(b->ledger);
}

static void commit(struct ob_bridge *b, int sync)
{
    ledger_flush(b);
    ob_consumer_commit(b->consumer, sync);
}

/* librdkafka's statistics, every 5 s: lag and brokers for the metrics. */
static void on_stats(void *arg, const char *json, size_t len)
{
    struct ob_bridge *b = arg;
    int up = ob_metrics_kafka_stats(&b->metrics, json, len);

    if (up >= 0)
        b->brokers_up = up;
    if (up > 0)
        ob_kafka_log_ok(); /* an idle bridge hears of the broker's return here */
}

/* The gauges of GET /metrics and the answer of GET /readyz, about once a
 * second: what the loop alone may read, copied where other threads can. */
static void publish_figures(struct ob_bridge *b)
{
    char text[2048], circuits[1024] = "";
    size_t assigned = ob_consumer_assigned(b->consumer), n = 0, c = 0;
    uint64_t bytes, entries;
    int ready;

    for (size_t i = 0; i < b->n_warehouses; i++) {
        struct warehouse *w = &b->warehouses[i];
        atomic_store_explicit(&w->m->in_flight, (uint64_t)w->active, memory_order_relaxed);
        atomic_store_explicit(&w->m->queued, w->n_waiting, memory_order_relaxed);
        atomic_store_explicit(&w->m->concurrency_limit, (uint64_t)ob_limiter_limit(&w->limiter),
                              memory_order_relaxed);
        atomic_store_explicit(&w->m->circuit, (int)w->breaker.state, memory_order_relaxed);
        if (w->breaker.state != OB_BREAKER_CLOSED && c < sizeof(circuits) - 80)
            c += (size_t)snprintf(circuits + c, sizeof(circuits) - c, "%s%s (%s)", c ? ", " : "",
                                  w->conf->code, ob_breaker_state_name(w->breaker.state));
    }
    if (b->ledger && ob_ledger_usage(b->ledger, &bytes, &entries) == 0) {
        atomic_store_explicit(&b->metrics.ledger_bytes, bytes, memory_order_relaxed);
        atomic_store_explicit(&b->metrics.ledger_entries, entries, memory_order_relaxed);
    }
    ready = !b->stopping && b->brokers_up > 0 && assigned > 0;
    n += (size_t)snprintf(text + n, sizeof(text) - n, "%s\n", ready ? "ready" : "not ready");
    if (b->brokers_up < 0)
        n += (size_t)snprintf(text + n, sizeof(text) - n,
                              "kafka: NOT READY: no statistics from the consumer yet\n");
    else
        n += (size_t)snprintf(text + n, sizeof(text) - n, "kafka: %s%d broker(s) up\n",
                              b->brokers_up > 0 ? "" : "NOT READY: ", b->brokers_up);
    n += (size_t)snprintf(text + n, sizeof(text) - n, "partitions: %s%zu assigned\n",
                          assigned > 0 ? "" : "NOT READY: ", assigned);
    n += (size_t)snprintf(text + n, sizeof(text) - n, "ledger: %s\n",
                          b->ledger ? "open" : "none configured");
    if (b->stopping)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "draining: NOT READY: stopping\n");
    snprintf(text + n, sizeof(text) - n, "circuits not closed: %s\n", c ? circuits : "none");
    ob_callbacks_set_readiness(b->callbacks, ready, text);
}

int ob_bridge_run(struct ob_bridge *b)
{
    const struct ob_config *cfg = b->cfg;
    uint64_t now = mono_ms();
    uint64_t next_commit = now + (uint64_t)cfg->pipeline.commit_interval_ms;
    uint64_t next_expire = now + 1000;
    uint64_t deadline = 0;
    char errstr[512];
    int rc = 0;

    OB_INFO("consuming %s and %s as group %s from %s", cfg->kafka.topic_orders,
            cfg->kafka.topic_retry, cfg->kafka.group_id, cfg->kafka.bootstrap_servers);
    uint64_t next_figures = now;
    for (;;) {
        int more = 0, timeout;
        uint64_t lanes_due;

        now = mono_ms();
        if (atomic_load(&b->stop_requested) && !b->stopping) {
            /* Stop fetching; park what waits; give what is in curl or in
             * the producer until the deadline. */
            b->stopping = 1;
            publish_figures(b); /* GET /readyz: 503 from now on */
            deadline = now + (uint64_t)cfg->pipeline.shutdown_timeout_ms;
            ob_consumer_pause(b->consumer);
            OB_INFO("stopping: %zu order(s) in flight, up to %ld ms to finish or park them",
                    b->jobs, cfg->pipeline.shutdown_timeout_ms);
            drain_start(b);
            ob_callback_apply_stop(b->applier);
        }
        if (b->stopping && ((b->jobs == 0 && ob_tracker_pending(b->tracker) == 0 &&
                             ob_callbacks_pending(b->callbacks) == 0) ||
                            now >= deadline))
            break;
        if (!b->stopping) {
            more = consume_express(b);
            more |= consume(b, now);
            ob_callbacks_run(b->callbacks);
        }
        ob_producer_poll(b->producer);
        run_timers(b, now);
        lanes_due = run_lanes(b, now);
        gate_run(b);
        if (!b->stopping && b->poller) {
            uint64_t due = ob_poller_run(b->poller, mono_us());
            if (due && (!lanes_due || due < lanes_due))
                lanes_due = due;
        }
        if (b->applier) {
            uint64_t due = ob_callback_apply_run(b->applier, now);
            if (due && (!lanes_due || due < lanes_due))
                lanes_due = due;
        }
        /* Finished orders may have made room for messages already waiting. */
        if (b->full_since && !is_full(b))
            more = 1;
        if (now >= next_commit) {
            commit(b, 0);
            next_commit = now + (uint64_t)cfg->pipeline.commit_interval_ms;
        }
        if (now >= next_figures) {
            publish_figures(b);
            next_figures = now + 1000;
        }
        if (b->ledger && now >= next_expire) {
            ob_ledger_expire(b->ledger, ob_now_epoch_ms(), LEDGER_EXPIRE_BATCH);
            next_expire = now + 1000;
        }
        if (ob_producer_fatal(b->producer, errstr, sizeof(errstr))) {
            OB_ERR("fatal Kafka producer error, stopping: %s", errstr);
            rc = -1;
            break;
        }
        timeout = 1000;
        if (more || b->gate_head)
            timeout = 0;
        if (b->n_timers) {
            uint64_t due = b->timers[0]->due_ms;
            int until = due <= now ? 0 : (int)(due - now);
            if (until < timeout)
                timeout = until;
        }
        if (lanes_due && (lanes_due <= now || (int)(lanes_due - now) < timeout))
            timeout = lanes_due <= now ? 0 : (int)(lanes_due - now);
        if (next_commit > now && (int)(next_commit - now) < timeout)
            timeout = (int)(next_commit - now);
        if (b->stopping && deadline > now && (int)(deadline - now) < timeout)
            timeout = (int)(deadline - now);
        ledger_flush(b);
        /* Callbacks hear "success" only now: events in Kafka, tracks on disk. */
        ob_tracker_finish(b->tracker);
        if (ob_dispatch_poll(b->dispatch, b->wake[0], timeout) == 1)
            drain_wake(b);
    }

    /* Deliver what is queued (each acknowledged outcome finishes its job)
     * and commit, within FINAL_MS whatever Kafka does: ob_bridge_destroy()
     * closes the consumer by the same deadline. */
    b->final_deadline_ms = mono_ms() + FINAL_MS;
    ob_producer_flush(b->producer, FINAL_MS);
    ledger_flush(b);
    ob_tracker_finish(b->tracker);
    if (b->jobs) {
        OB_WARN("%zu order(s) unfinished at shutdown: not committed, they will be redelivered",
                b->jobs);
        OB_METRIC_ADD(&b->metrics, abandoned, b->jobs);
    }
    commit(b, 0);
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

unsigned short ob_bridge_http_port(const struct ob_bridge *b)
{
    return ob_callbacks_port(b->callbacks);
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
    b->brokers_up = -1;
    ob_metrics_init(&b->metrics);
    b->rng = (unsigned long)mono_us() | 1;
    if (ob_random_bytes(&b->incarnation, sizeof b->incarnation) != 0)
        b->incarnation = mono_us() ^ ((uint64_t)getpid() << 32);
    b->incarnation |= 1; /* never 0: 0 is "no adapter running" */
    if (cfg->log_level && ob_log_level_parse(cfg->log_level, &level) == 0)
        ob_log_set_level(level);
    ob_log_use_format(cfg->log_format);
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
        if (cfg->kafka.topic_state)
            b->state_scratch = malloc(sizeof(*b->state_scratch));
        if (!b->order_index || (cfg->kafka.topic_state && !b->state_scratch)) {
            snprintf(errstr, errstr_size, "out of memory");
            goto fail;
        }
    }
    b->warehouses = calloc(cfg->n_warehouses, sizeof(*b->warehouses));
    b->adapters = calloc(cfg->n_warehouses + 1, sizeof(*b->adapters));
    if (!b->warehouses || !b->adapters) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < cfg->n_warehouses; i++) {
        const struct ob_warehouse_conf *wc = &cfg->warehouses[i];
        struct ob_breaker_conf bc = {
            .consecutive_failures = wc->breaker.consecutive_failures,
            .error_rate = wc->breaker.error_rate,
            .min_requests = wc->breaker.min_requests,
            .window_ms = (uint64_t)wc->breaker.window_ms,
            .open_ms = (uint64_t)wc->breaker.open_ms,
            .half_open_probes = wc->breaker.half_open_probes,
            .probe_success_rate = wc->breaker.probe_success_rate,
        };
        struct ob_limiter_conf lc = {
            .floor = wc->concurrency.floor,
            .ceiling = wc->max_connections,
            .max_error_rate = wc->concurrency.max_error_rate,
            .latency_tolerance = wc->concurrency.latency_tolerance,
        };
        ob_bucket_init(&b->warehouses[i].bucket, wc->rate_per_second,
                       wc->rate_burst ? wc->rate_burst
                                      : (wc->rate_per_second > 1 ? wc->rate_per_second : 1),
                       mono_us());
        ob_breaker_init(&b->warehouses[i].breaker, &bc);
        ob_limiter_init(&b->warehouses[i].limiter, &lc);
        b->warehouses[i].conf = wc;
        if (wc->tls.insecure_skip_verify)
            OB_WARN("warehouse %s: tls.insecure_skip_verify is true: its certificate and host "
                    "name are NOT verified; for development only (repeated every %ld min while "
                    "it is pushed to)", wc->code, OB_TLS_INSECURE_WARN_MS / 60000);
        if (ob_adapter_open(cfg, &cfg->warehouses[i], &b->warehouses[i].adapter, errstr,
                            errstr_size) != 0)
            goto fail;
        b->adapters[i] = b->warehouses[i].adapter;
        b->n_warehouses++;
        b->warehouses[i].m = ob_metrics_warehouse(&b->metrics, wc->code,
                                                  b->warehouses[i].adapter->plugin.vt.name);
        if (!b->warehouses[i].m) {
            snprintf(errstr, errstr_size, "out of memory");
            goto fail;
        }
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
    if (cfg->ledger.path) {
        struct ob_ledger_options lo = {
            .path = cfg->ledger.path,
            .max_bytes = (size_t)cfg->ledger.max_mb << 20,
            .ttl_ms = (int64_t)cfg->ledger.ttl_hours * 3600 * 1000,
            .sync_interval_ms = 1000,
        };
        if (ob_ledger_open(&lo, &b->ledger, errstr, errstr_size) != 0)
            goto fail;
        int n = ob_ledger_take_marks(b->ledger, b->incarnation, take_mark, b);
        if (n > 0)
            OB_WARN("the bridge stopped while adapters ran on %d order(s): each of them runs "
                    "alone when it comes back", n);
        ob_ledger_flush(b->ledger);
    } else {
        OB_WARN("no ledger configured: a redelivered order is pushed again (the warehouse's "
                "dedupe by idempotency key absorbs it)");
    }
    if (b->ledger && ob_tracker_create(cfg, b->ledger, b->producer, &b->metrics, order_in_flight,
                                       b, &b->tracker) != 0) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (ob_poller_create(cfg, b->adapters, b->ledger, b->dispatch, b->tracker, &b->metrics,
                         &b->poller, errstr, errstr_size) != 0)
        goto fail;
    if (cfg->http.listen && ob_callbacks_create(cfg, b->adapters, b->tracker, b->producer,
                                                &b->metrics, b->wake[1], &b->callbacks, errstr,
                                                errstr_size) != 0)
        goto fail;
    if (ob_consumer_create(cfg, b->wake[1], &b->consumer, errstr, errstr_size) != 0)
        goto fail;
    ob_consumer_on_revoke(b->consumer, on_revoke, b);
    ob_consumer_on_stats(b->consumer, on_stats, b);
    if (cfg->kafka.topic_state) {
        size_t migrated;
        if (ob_restore_check_topics(cfg, &b->orders_partitions, errstr, errstr_size) != 0 ||
            ob_restore_migrate(cfg, b->ledger, &migrated, errstr, errstr_size) != 0)
            goto fail;
        OB_METRIC_ADD(&b->metrics, state_migrated, migrated);
        ob_consumer_on_assign(b->consumer, on_assign, b);
        ob_poller_set_owner(b->poller, order_owned, b);
    }
    if (cfg->kafka.topic_callbacks && b->tracker &&
        !(b->applier = ob_callback_apply_create(cfg, b->tracker, b->consumer, &b->metrics))) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
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
    /* Reports left get "retry" (their warehouses send again), then the
     * server and the queries go. */
    ob_tracker_abort(b->tracker);
    ob_callback_apply_destroy(b->applier); /* its messages go before the consumer */
    ob_callbacks_destroy(b->callbacks);
    ob_poller_destroy(b->poller);
    ob_tracker_destroy(b->tracker);
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
    if (b->consumer) {
        uint64_t now = mono_ms();
        long ms = b->cfg->pipeline.shutdown_timeout_ms; /* the loop never ran */
        if (b->final_deadline_ms)
            ms = b->final_deadline_ms > now ? (long)(b->final_deadline_ms - now) : 0;
        ob_consumer_close(b->consumer, (int)(ms < FINAL_CLOSE_MIN_MS ? FINAL_CLOSE_MIN_MS : ms));
    }
    ob_producer_destroy(b->producer);
    ob_dispatch_destroy(b->dispatch);
    ob_ledger_close(b->ledger);
    for (size_t i = 0; i < b->n_warehouses; i++)
        ob_adapter_close(b->warehouses[i].adapter);
    free(b->warehouses);
    free(b->adapters);
    free(b->timers);
    free(b->order_index);
    free(b->state_scratch);
    if (b->wake[0] >= 0)
        close(b->wake[0]);
    if (b->wake[1] >= 0)
        close(b->wake[1]);
    ob_metrics_free(&b->metrics);
    free(b);
}
