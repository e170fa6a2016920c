/*
 * watch.h — read topics back from the start, as the mid-platform would:
 * used by the demo and the integration tests to account for every order.
 * Plain assignment of every partition (no group), so no join delay.
 */
#ifndef OB_WATCH_H
#define OB_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

struct ob_watch;

int ob_watch_create(const char *bootstraps, const char *const *topics, size_t n_topics,
                    struct ob_watch **out, char *errstr, size_t errstr_size);

/* The next record (caller destroys it) or NULL after timeout_ms. */
rd_kafka_message_t *ob_watch_next(struct ob_watch *w, int timeout_ms);

void ob_watch_destroy(struct ob_watch *w);

/* 1 when every watched partition has been read up to its end offset (asked
 * of the broker now, so records written since the last fetch count), 0 when
 * some are behind, -1 when an end offset cannot be read. */
int ob_watch_caught_up(struct ob_watch *w);

/* Compare the committed offsets of `group` on every partition of `topic`
 * with the partitions' end offsets. Returns the number of partitions whose
 * committed offset is behind (0: all caught up), or -1 on error; `report`
 * gets one line per lagging partition. Also writes the sum of low
 * watermarks to *low_sum (> 0 means the broker dropped old records). */
int ob_watch_committed_lag(const char *bootstraps, const char *group, const char *topic,
                           int64_t *low_sum, char *report, size_t report_size);

/* Sums over every partition of `topic`: the committed offsets of `group`
 * (a partition without a commit counts as its low watermark) and the end
 * offsets. Returns 0, or -1 on error. */
int ob_watch_committed_totals(const char *bootstraps, const char *group, const char *topic,
                              int64_t *committed_sum, int64_t *end_sum);

/* Produce one record and wait for its acknowledgement (tests, demo). */
rd_kafka_t *ob_watch_producer(const char *bootstraps, char *errstr, size_t errstr_size);

/* Partition count of `topic` (metadata, up to 10 s), or -1. */
int ob_watch_partition_count(rd_kafka_t *rk, const char *topic);

#endif
