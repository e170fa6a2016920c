#include "consumer.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "producer.h" /* ob_kafka_conf_apply, ob_kafka_log_cb */
#include "status.h"   /* ob_mono_ms */

/* The topics consumed; a partition is (topic index, id). The express and
 * callbacks topics are optional (NULL). */
enum { TOPIC_ORDERS, TOPIC_RETRY, TOPIC_EXPRESS, TOPIC_CALLBACKS, N_TOPICS };

/* Offsets handed out from one partition, in order, with their done flags. */
struct ob_partition {
    int topic; /* TOPIC_* */
    int32_t id;
    int64_t *offsets;
    unsigned char *done;
    size_t cap; /* a power of two */
    uint64_t head, tail; /* sequence numbers: [head, tail) are not yet committable */
    int64_t next_offset; /* last handed out + 1; -1 before the first message */
    int64_t committed;   /* last offset sent in a commit; -1 for none */
    int draining;        /* being revoked: its orders must finish or be parked now */
    int held;            /* messages waiting for their not-before time: keep paused */
    struct ob_partition *next;
};

struct ob_consumer {
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    rd_kafka_queue_t *express; /* the express topic's partitions forward here; NULL: none */
    const struct ob_config *cfg;
    const char *topics[N_TOPICS];
    struct ob_partition **active[N_TOPICS]; /* indexed by partition id */
    size_t n_active[N_TOPICS];
    struct ob_partition *all; /* every active partition, for freeing */
    size_t outstanding;
    int paused;
    int closing; /* ob_consumer_close(): commits are asynchronous, nothing waits */
    void (*on_revoke)(void *opaque);
    void *on_revoke_opaque;
    void (*on_assign)(void *opaque, const int32_t *orders_parts, size_t n);
    void *on_assign_opaque;
    void (*on_stats)(void *opaque, const char *json, size_t len);
    void *on_stats_opaque;
    size_t assigned; /* partitions of every topic assigned now */
};

static int topic_index(const struct ob_consumer *c, const char *name)
{
    for (int t = 0; t < N_TOPICS; t++)
        if (c->topics[t] && strcmp(c->topics[t], name) == 0)
            return t;
    return -1;
}

static struct ob_partition *partition_new(int topic, int32_t id)
{
    struct ob_partition *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    p->topic = topic;
    p->id = id;
    p->cap = 256;
    p->offsets = malloc(p->cap * sizeof(*p->offsets));
    p->done = malloc(p->cap);
    p->next_offset = -1;
    p->committed = -1;
    if (!p->offsets || !p->done) {
        free(p->offsets);
        free(p->done);
        free(p);
        return NULL;
    }
    return p;
}

static void partition_free(struct ob_partition *p)
{
    free(p->offsets);
    free(p->done);
    free(p);
}

static void unlink_and_free(struct ob_consumer *c, struct ob_partition *p)
{
    for (struct ob_partition **pp = &c->all; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    partition_free(p);
}

/* Grow the ring so that sequence numbers keep mapping to seq & (cap - 1). */
static int partition_grow(struct ob_partition *p)
{
    size_t cap = p->cap * 2;
    int64_t *offsets = malloc(cap * sizeof(*offsets));
    unsigned char *done = malloc(cap);

    if (!offsets || !done) {
        free(offsets);
        free(done);
        return -1;
    }
    for (uint64_t s = p->head; s < p->tail; s++) {
        offsets[s & (cap - 1)] = p->offsets[s & (p->cap - 1)];
        done[s & (cap - 1)] = p->done[s & (p->cap - 1)];
    }
    free(p->offsets);
    free(p->done);
    p->offsets = offsets;
    p->done = done;
    p->cap = cap;
    return 0;
}

static int64_t committable(const struct ob_partition *p)
{
    if (p->head < p->tail)
        return p->offsets[p->head & (p->cap - 1)];
    return p->next_offset;
}

static struct ob_partition *active_get(struct ob_consumer *c, const char *topic, int32_t id,
                                       int create)
{
    int t = topic_index(c, topic);

    if (id < 0 || t < 0)
        return NULL;
    if ((size_t)id >= c->n_active[t]) {
        if (!create)
            return NULL;
        size_t n = (size_t)id + 1;
        struct ob_partition **grown = realloc(c->active[t], n * sizeof(*grown));
        if (!grown)
            return NULL;
        memset(grown + c->n_active[t], 0, (n - c->n_active[t]) * sizeof(*grown));
        c->active[t] = grown;
        c->n_active[t] = n;
    }
    if (!c->active[t][id] && create) {
        struct ob_partition *p = partition_new(t, id);
        if (!p)
            return NULL;
        p->next = c->all;
        c->all = p;
        c->active[t][id] = p;
    }
    return c->active[t][id];
}

static rd_kafka_topic_partition_list_t *one_partition(const struct ob_consumer *c,
                                                      const struct ob_partition *p)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);

    rd_kafka_topic_partition_list_add(list, c->topics[p->topic], p->id);
    return list;
}

static void pause_one(struct ob_consumer *c, struct ob_partition *p, int pause)
{
    rd_kafka_topic_partition_list_t *list = one_partition(c, p);

    if (pause)
        rd_kafka_pause_partitions(c->rk, list);
    else
        rd_kafka_resume_partitions(c->rk, list);
    rd_kafka_topic_partition_list_destroy(list);
}

/* Commit the committable offsets of `parts` (all active when NULL). */
static void commit_list(struct ob_consumer *c, const rd_kafka_topic_partition_list_t *parts,
                        int sync)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(16);
    rd_kafka_resp_err_t err;

    for (int t = 0; t < N_TOPICS; t++) {
        for (size_t i = 0; i < c->n_active[t]; i++) {
            struct ob_partition *p = c->active[t][i];
            int64_t off;
            if (!p)
                continue;
            if (parts && !rd_kafka_topic_partition_list_find(parts, c->topics[t], p->id))
                continue;
            off = committable(p);
            if (off < 0 || (!sync && off == p->committed))
                continue;
            rd_kafka_topic_partition_list_add(list, c->topics[t], p->id)->offset = off;
            p->committed = off;
        }
    }
    if (list->cnt > 0) {
        err = rd_kafka_commit(c->rk, list, sync ? 0 : 1);
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
            OB_WARN("offset commit failed: %s", rd_kafka_err2str(err));
            for (int i = 0; i < list->cnt; i++) {
                struct ob_partition *p =
                    active_get(c, list->elems[i].topic, list->elems[i].partition, 0);
                if (p)
                    p->committed = -1;
            }
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
}

/* Pause or resume `parts`, except the express topic's: backpressure never
 * holds express orders back in Kafka. (Nor may they be resumed: a resume
 * makes librdkafka fetch again from the last message handed out, and the
 * express queue would then hold some messages twice.) */
static void pause_list(struct ob_consumer *c, const rd_kafka_topic_partition_list_t *parts,
                       int pause)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_copy(parts);

    for (int i = list->cnt - 1; i >= 0; i--)
        if (topic_index(c, list->elems[i].topic) == TOPIC_EXPRESS)
            rd_kafka_topic_partition_list_del_by_idx(list, i);
    if (pause)
        rd_kafka_pause_partitions(c->rk, list);
    else
        rd_kafka_resume_partitions(c->rk, list);
    rd_kafka_topic_partition_list_destroy(list);
}

static void assign(struct ob_consumer *c, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t err = 0;
    int cooperative = strcmp(rd_kafka_rebalance_protocol(c->rk), "COOPERATIVE") == 0;

    for (int i = 0; i < parts->cnt; i++)
        active_get(c, parts->elems[i].topic, parts->elems[i].partition, 1);
    c->assigned = cooperative ? c->assigned + (size_t)parts->cnt : (size_t)parts->cnt;
    if (c->on_assign) { /* before anything of them is fetched */
        int32_t *ids = malloc(sizeof(*ids) * (size_t)(parts->cnt ? parts->cnt : 1));
        size_t n = 0;
        for (int i = 0; ids && i < parts->cnt; i++)
            if (topic_index(c, parts->elems[i].topic) == TOPIC_ORDERS)
                ids[n++] = parts->elems[i].partition;
        if (ids && n)
            c->on_assign(c->on_assign_opaque, ids, n);
        free(ids);
    }
    if (cooperative)
        error = rd_kafka_incremental_assign(c->rk, parts);
    else
        err = rd_kafka_assign(c->rk, parts);
    if (error) {
        OB_ERR("assign failed: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (err) {
        OB_ERR("assign failed: %s", rd_kafka_err2str(err));
    }
    /* Express partitions deliver to their own queue, which the bridge
     * serves first; they are never paused for backpressure. */
    for (int i = 0; c->express && i < parts->cnt; i++) {
        rd_kafka_queue_t *pq;
        if (topic_index(c, parts->elems[i].topic) != TOPIC_EXPRESS)
            continue;
        pq = rd_kafka_queue_get_partition(c->rk, parts->elems[i].topic, parts->elems[i].partition);
        if (pq) {
            rd_kafka_queue_forward(pq, c->express);
            rd_kafka_queue_destroy(pq);
        }
    }
    /* librdkafka keeps a partition's pause across an unassign: one paused
     * when it was revoked would come back paused and never fetch. Say
     * which state each newly assigned partition must be in. */
    pause_list(c, parts, c->paused);
    /* A callback is applied where its order's state is: the owner of the
     * same partition of orders (config allows only the range assignor). */
    for (int i = 0; i < parts->cnt; i++)
        if (topic_index(c, parts->elems[i].topic) == TOPIC_CALLBACKS &&
            !active_get(c, c->topics[TOPIC_ORDERS], parts->elems[i].partition, 0))
            OB_ERR("assigned partition %" PRId32 " of %s without the same one of %s: its "
                   "callbacks find no order state here (is the assignor range?)",
                   parts->elems[i].partition, parts->elems[i].topic, c->topics[TOPIC_ORDERS]);
    OB_INFO("assigned %d partition(s) of %s and %s%s%s%s%s", parts->cnt, c->topics[0],
            c->topics[1], c->express ? " and " : "", c->express ? c->topics[TOPIC_EXPRESS] : "",
            c->topics[TOPIC_CALLBACKS] ? " and " : "",
            c->topics[TOPIC_CALLBACKS] ? c->topics[TOPIC_CALLBACKS] : "");
}

static void revoke(struct ob_consumer *c, rd_kafka_topic_partition_list_t *parts)
{
    int cooperative = strcmp(rd_kafka_rebalance_protocol(c->rk), "COOPERATIVE") == 0;

    /* Drain: the bridge finishes or parks the partitions' orders (up to a
     * deadline), so the commit below leaves the next owner nothing to redo. */
    for (int i = 0; i < parts->cnt; i++) {
        struct ob_partition *p = active_get(c, parts->elems[i].topic, parts->elems[i].partition, 0);
        if (p)
            p->draining = 1;
    }
    if (c->on_revoke)
        c->on_revoke(c->on_revoke_opaque);
    /* Lost (the session timed out, or we were too slow to poll): the group
     * may refuse the commit, and a synchronous one would wait for a
     * coordinator that may be unreachable, so it is sent without waiting. */
    commit_list(c, parts, !c->closing && !rd_kafka_assignment_lost(c->rk));
    for (int i = 0; i < parts->cnt; i++) {
        struct ob_partition *p = active_get(c, parts->elems[i].topic, parts->elems[i].partition, 0);
        if (!p)
            continue;
        c->active[p->topic][p->id] = NULL;
        /* The bridge has let go of every ticket into it (see ob_consumer_on_revoke). */
        c->outstanding -= (size_t)(p->tail - p->head);
        unlink_and_free(c, p);
    }
    c->assigned = cooperative && c->assigned > (size_t)parts->cnt
                      ? c->assigned - (size_t)parts->cnt
                      : 0;
    if (cooperative) {
        rd_kafka_error_t *error = rd_kafka_incremental_unassign(c->rk, parts);
        if (error)
            rd_kafka_error_destroy(error);
    } else {
        rd_kafka_assign(c->rk, NULL);
    }
    OB_INFO("revoked %d partition(s) of %s and %s", parts->cnt, c->topics[0], c->topics[1]);
}

static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    struct ob_consumer *c = opaque;

    (void)rk;
    if (c->on_stats)
        c->on_stats(c->on_stats_opaque, json, len);
    return 0; /* librdkafka frees json */
}

void ob_consumer_on_stats(struct ob_consumer *c,
                          void (*fn)(void *opaque, const char *json, size_t len), void *opaque)
{
    c->on_stats = fn;
    c->on_stats_opaque = opaque;
}

size_t ob_consumer_assigned(const struct ob_consumer *c)
{
    return c->assigned;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct ob_consumer *c = opaque;

    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        ob_kafka_log_ok(); /* the group coordinator answered */
        assign(c, parts);
    }
    else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
        revoke(c, parts);
    else
        rd_kafka_assign(c->rk, NULL);
}

/* An asynchronous commit that failed is forgotten, so the next commit
 * sends those offsets again even if they have not moved. */
static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    struct ob_consumer *c = opaque;

    (void)rk;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        ob_kafka_log_ok();
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET || !offsets)
        return;
    OB_WARN("offset commit failed: %s; will commit again", rd_kafka_err2str(err));
    for (int i = 0; i < offsets->cnt; i++) {
        struct ob_partition *p =
            active_get(c, offsets->elems[i].topic, offsets->elems[i].partition, 0);
        if (p)
            p->committed = -1;
    }
}

int ob_consumer_create(const struct ob_config *cfg, int wake_fd, struct ob_consumer **out,
                       char *errstr, size_t errstr_size)
{
    struct ob_consumer *c = calloc(1, sizeof(*c));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *topics = NULL;
    rd_kafka_resp_err_t err;

    *out = NULL;
    if (!c)
        goto fail;
    c->cfg = cfg;
    c->topics[TOPIC_ORDERS] = cfg->kafka.topic_orders;
    c->topics[TOPIC_RETRY] = cfg->kafka.topic_retry;
    c->topics[TOPIC_EXPRESS] = cfg->kafka.topic_express;
    c->topics[TOPIC_CALLBACKS] = cfg->kafka.topic_callbacks;
    if (ob_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka.bootstrap_servers, errstr, errstr_size) ||
        ob_kafka_conf_set(conf, "group.id", cfg->kafka.group_id, errstr, errstr_size) ||
        ob_kafka_conf_set(conf, "client.id", "orderbridge-consumer", errstr, errstr_size) ||
        ob_kafka_conf_set(conf, "auto.offset.reset", "earliest", errstr, errstr_size) ||
        /* Latency: librdkafka's 500 ms wait for a fetch to fill is the p99
         * of a quiet hour. Memory: 16 MB of prefetched orders, not 64. */
        ob_kafka_conf_set(conf, "fetch.wait.max.ms", "10", errstr, errstr_size) ||
        ob_kafka_conf_set(conf, "queued.max.messages.kbytes", "16384", errstr, errstr_size) ||
        /* consumer lag and broker states for the metrics (on_stats) */
        ob_kafka_conf_set(conf, "statistics.interval.ms", "5000", errstr, errstr_size))
        goto fail;
    /* With an express topic, fetches of 2 MB at most: an express order
     * fetched from the same broker waits for no larger response. */
    if (cfg->kafka.topic_express &&
        (ob_kafka_conf_set(conf, "fetch.max.bytes", "2097152", errstr, errstr_size) ||
         ob_kafka_conf_set(conf, "max.partition.fetch.bytes", "262144", errstr, errstr_size)))
        goto fail;
    /* Static membership: restarted within session.timeout.ms, this member
     * gets its partitions back without a rebalance of the group. */
    if (cfg->kafka.instance_name &&
        ob_kafka_conf_set(conf, "group.instance.id", cfg->kafka.instance_name, errstr,
                          errstr_size))
        goto fail;
    if (ob_kafka_conf_apply(conf, cfg->kafka.properties, cfg->kafka.n_properties,
                            "$.kafka.properties", errstr, errstr_size) ||
        ob_kafka_conf_apply(conf, cfg->kafka.consumer, cfg->kafka.n_consumer, "$.kafka.consumer",
                            errstr, errstr_size))
        goto fail;
    /* Not overridable: committing unprocessed offsets would lose orders. */
    if (ob_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) ||
        ob_kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, errstr_size))
        goto fail;
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_offset_commit_cb(conf, on_commit);
    rd_kafka_conf_set_stats_cb(conf, on_stats);
    rd_kafka_conf_set_log_cb(conf, ob_kafka_log_cb);
    rd_kafka_conf_set_opaque(conf, c);
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!c->rk)
        goto fail;
    conf = NULL; /* owned by rk now */
    rd_kafka_poll_set_consumer(c->rk);
    c->queue = rd_kafka_queue_get_consumer(c->rk);
    if (wake_fd >= 0)
        rd_kafka_queue_io_event_enable(c->queue, wake_fd, "c", 1);
    if (c->topics[TOPIC_EXPRESS]) {
        c->express = rd_kafka_queue_new(c->rk);
        if (wake_fd >= 0)
            rd_kafka_queue_io_event_enable(c->express, wake_fd, "e", 1);
    }
    topics = rd_kafka_topic_partition_list_new(N_TOPICS);
    for (int t = 0; t < N_TOPICS; t++)
        if (c->topics[t])
            rd_kafka_topic_partition_list_add(topics, c->topics[t], RD_KAFKA_PARTITION_UA);
    err = rd_kafka_subscribe(c->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        snprintf(errstr, errstr_size, "subscribe to %s and %s: %s", c->topics[0], c->topics[1],
                 rd_kafka_err2str(err));
        goto fail;
    }
    *out = c;
    return 0;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (c) {
        if (c->express)
            rd_kafka_queue_destroy(c->express);
        if (c->queue)
            rd_kafka_queue_destroy(c->queue);
        if (c->rk)
            rd_kafka_destroy(c->rk);
        free(c);
    }
    return -1;
}

/*
 * librdkafka's own close waits for the group coordinator (twice
 * session.timeout.ms with Kafka down: a sync commit, then the revoke's).
 * Here the commits are asynchronous and the close runs in the background
 * while this thread serves its callbacks, up to the deadline; then the
 * handle goes without leaving the group. What was not committed is
 * redelivered to the next owner, never lost.
 */
void ob_consumer_close(struct ob_consumer *c, int timeout_ms)
{
    uint64_t deadline = ob_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    rd_kafka_queue_t *q;
    rd_kafka_error_t *error = NULL;
    int closed = 0;

    if (!c)
        return;
    c->closing = 1;
    commit_list(c, NULL, 0);
    rd_kafka_queue_io_event_enable(c->queue, -1, NULL, 0);
    q = rd_kafka_queue_new(c->rk);
    if (q && !(error = rd_kafka_consumer_close_queue(c->rk, q))) {
        /* Served here: the revoke callback. Messages fetched before the
         * close come here too (rd_kafka_queue_poll_callback() would abort
         * on them): they are dropped, uncommitted. */
        while (!(closed = rd_kafka_consumer_closed(c->rk)) && ob_mono_ms() < deadline) {
            rd_kafka_message_t *m = rd_kafka_consume_queue(q, 100);
            if (m)
                rd_kafka_message_destroy(m);
        }
    } else if (error) {
        OB_WARN("closing the consumer: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
    if (!closed)
        OB_WARN("the consumer did not close within %d ms (Kafka unreachable?): leaving without a "
                "goodbye to the group; what was not committed is redelivered", timeout_ms);
    if (q)
        rd_kafka_queue_destroy(q);
    if (c->express) {
        rd_kafka_queue_io_event_enable(c->express, -1, NULL, 0);
        rd_kafka_queue_destroy(c->express);
    }
    rd_kafka_queue_destroy(c->queue);
    rd_kafka_destroy_flags(c->rk, closed ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    while (c->all) {
        struct ob_partition *p = c->all;
        c->all = p->next;
        partition_free(p);
    }
    for (int t = 0; t < N_TOPICS; t++)
        free(c->active[t]);
    free(c);
}

static rd_kafka_message_t *next_from(struct ob_consumer *c, rd_kafka_queue_t *q,
                                     struct ob_ticket *ticket)
{
    for (;;) {
        rd_kafka_message_t *msg = q ? rd_kafka_consume_queue(q, 0) : rd_kafka_consumer_poll(c->rk, 0);
        struct ob_partition *p;

        if (!msg)
            return NULL;
        if (msg->err) {
            if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                OB_WARN("consumer: %s", rd_kafka_message_errstr(msg));
            rd_kafka_message_destroy(msg);
            continue;
        }
        p = active_get(c, rd_kafka_topic_name(msg->rkt), msg->partition, 1);
        if (!p || (p->tail - p->head == p->cap && partition_grow(p) != 0)) {
            /* Out of memory: drop it unprocessed; the offset is not
             * committed, so it comes back after a restart. */
            OB_ERR("out of memory tracking %s [%" PRId32 "] @ %" PRId64, rd_kafka_topic_name(msg->rkt),
                   msg->partition, msg->offset);
            rd_kafka_message_destroy(msg);
            return NULL;
        }
        p->offsets[p->tail & (p->cap - 1)] = msg->offset;
        p->done[p->tail & (p->cap - 1)] = 0;
        ticket->part = p;
        ticket->seq = p->tail++;
        p->next_offset = msg->offset + 1;
        c->outstanding++;
        return msg;
    }
}

rd_kafka_message_t *ob_consumer_next(struct ob_consumer *c, struct ob_ticket *ticket)
{
    return next_from(c, NULL, ticket);
}

rd_kafka_message_t *ob_consumer_next_express(struct ob_consumer *c, struct ob_ticket *ticket)
{
    return c->express ? next_from(c, c->express, ticket) : NULL;
}

void ob_consumer_done(struct ob_consumer *c, const struct ob_ticket *ticket)
{
    struct ob_partition *p = ticket->part;

    if (!p || ticket->seq < p->head)
        return;
    p->done[ticket->seq & (p->cap - 1)] = 1;
    while (p->head < p->tail && p->done[p->head & (p->cap - 1)]) {
        p->head++;
        c->outstanding--;
    }
}

size_t ob_consumer_outstanding(const struct ob_consumer *c)
{
    return c->outstanding;
}

void ob_consumer_commit(struct ob_consumer *c, int sync)
{
    commit_list(c, NULL, sync);
}

static void set_paused(struct ob_consumer *c, int paused)
{
    rd_kafka_topic_partition_list_t *parts = NULL;

    c->paused = paused;
    if (rd_kafka_assignment(c->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    if (!paused) {
        /* A held partition stays paused until its waiting message is due. */
        for (int i = parts->cnt - 1; i >= 0; i--) {
            struct ob_partition *p = active_get(c, parts->elems[i].topic, parts->elems[i].partition, 0);
            if (p && p->held)
                rd_kafka_topic_partition_list_del_by_idx(parts, i);
        }
    }
    pause_list(c, parts, paused);
    rd_kafka_topic_partition_list_destroy(parts);
}

void ob_consumer_hold(struct ob_consumer *c, const struct ob_ticket *t, int hold)
{
    struct ob_partition *p = t->part;

    if (!p)
        return;
    if (hold && p->held++ == 0 && !c->paused)
        pause_one(c, p, 1);
    else if (!hold && p->held > 0 && --p->held == 0 && !c->paused)
        pause_one(c, p, 0);
}

void ob_consumer_on_assign(struct ob_consumer *c,
                          void (*fn)(void *opaque, const int32_t *orders_parts, size_t n),
                          void *opaque)
{
    c->on_assign = fn;
    c->on_assign_opaque = opaque;
}

void ob_consumer_on_revoke(struct ob_consumer *c, void (*fn)(void *opaque), void *opaque)
{
    c->on_revoke = fn;
    c->on_revoke_opaque = opaque;
}

int ob_ticket_draining(const struct ob_ticket *t)
{
    return t->part && t->part->draining;
}

int ob_ticket_from_retry(const struct ob_ticket *t)
{
    return t->part && t->part->topic == TOPIC_RETRY;
}

int ob_ticket_express(const struct ob_ticket *t)
{
    return t->part && t->part->topic == TOPIC_EXPRESS;
}

int ob_ticket_callback(const struct ob_ticket *t)
{
    return t->part && t->part->topic == TOPIC_CALLBACKS;
}

int ob_consumer_owns(const struct ob_consumer *c, int32_t partition)
{
    return partition >= 0 && (size_t)partition < c->n_active[TOPIC_ORDERS] &&
           c->active[TOPIC_ORDERS][partition] != NULL;
}

void ob_consumer_pause(struct ob_consumer *c)
{
    if (!c->paused)
        set_paused(c, 1);
}

void ob_consumer_resume(struct ob_consumer *c)
{
    if (c->paused)
        set_paused(c, 0);
}

int ob_consumer_paused(const struct ob_consumer *c)
{
    return c->paused;
}
