/*
 * metrics.h - a registry of counters, gauges and histograms, cheap on the
 * hot path, rendered in Prometheus text format 0.0.4.
 *
 * Interface:
 *   metrics_new(), metrics_free()   one registry (a daemon has one).
 *   metrics_counter(), metrics_gauge(), metrics_age_gauge(),
 *   metrics_histogram()   register one series of a family ("name" plus a
 *                 label set written as Prometheus writes it, e.g.
 *                 `check="greylist",action="defer"`, or NULL); a family
 *                 is created by its first series; returns the series id
 *                 (>= 0), -1 when the registry is full or sealed, or the
 *                 name is reused with another type. Registration happens
 *                 at start-up, before any thread counts: metrics_seal()
 *                 ends it.
 *   metrics_add()       counter += n.
 *   metrics_observe_ns() one histogram observation (nanoseconds; rendered
 *                 in seconds).
 *   metrics_set()       gauge = v (an age gauge holds a Unix time and is
 *                 rendered as the seconds since, absent while 0).
 *   metrics_value()     a counter's (or gauge's, or a histogram's count)
 *                 current total, for the SIGUSR1 summary and tests.
 *   metrics_render()    the whole registry as text (malloc'd; *len set).
 *
 * Contract and why: counting takes no lock and no atomic read-modify-write.
 * Every thread that counts gets a shard of its own (a thread-local slot,
 * found through a pthread key on a thread's first use): only that thread
 * writes it, with relaxed atomic stores, so an increment is a load, an add
 * and a store in the thread's own cache line. policyd's worker threads
 * each own one; libmilter's threads (one per SMTP connection, short-lived)
 * take one at their first count, and when such a thread exits its shard is
 * folded into the registry's "retired" totals and reused by the next
 * thread, so shards never outnumber the threads alive at once. Rendering
 * (the scraper's thread) takes the registry lock and sums the retired
 * totals and every live shard with relaxed loads: a scrape costs the
 * counting threads nothing but the first-use and exit of a shard, which
 * take the same lock briefly. Gauges are single values set by their owner
 * (the list refresher, the reload), not sharded. A NULL registry or a
 * negative id makes every call a no-op, so code that counts runs the same
 * in unit tests and tools that have no registry.
 */
#ifndef SLUICE_METRICS_H
#define SLUICE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_SLOTS_MAX 2048		/* 64-bit values in one shard (16 KiB) */
#define METRICS_SERIES_MAX 768
#define METRICS_FAMILIES_MAX 96
#define METRICS_BUCKETS_MAX 16		/* bounds of one histogram */
#define METRICS_LABELS_MAX 160		/* bytes of one series' labels */

struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

int metrics_counter(struct metrics *m, const char *name, const char *help, const char *labels);
int metrics_gauge(struct metrics *m, const char *name, const char *help, const char *labels);
int metrics_age_gauge(struct metrics *m, const char *name, const char *help,
		      const char *labels);
/* bounds: upper bounds in seconds, increasing; +Inf is implied. */
int metrics_histogram(struct metrics *m, const char *name, const char *help,
		      const char *labels, const double *bounds, size_t nbounds);
void metrics_seal(struct metrics *m);

void metrics_add(struct metrics *m, int id, uint64_t n);
void metrics_observe_ns(struct metrics *m, int id, uint64_t ns);
void metrics_set(struct metrics *m, int id, int64_t value);

uint64_t metrics_value(struct metrics *m, int id);
/* The text of every family, "# HELP", "# TYPE" and its series; now is
 * the Unix time age gauges are rendered against. NULL when out of memory. */
char *metrics_render(struct metrics *m, long now, size_t *len);

#endif
