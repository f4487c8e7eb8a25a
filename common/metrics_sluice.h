/*
 * metrics_sluice.h - what sluice counts: the catalogue of both daemons'
 * metrics and the calls that count them.
 *
 * Interface:
 *   metric_init()      at start-up, before any thread: creates the
 *                      process's registry with every series of this daemon
 *                      (the common sluice_* ones and its sluice_policyd_*
 *                      or sluice_milter_* ones; module_names: the milter's
 *                      modules, for their latency), seals it. Counting
 *                      before it (or without it: unit tests, sluice-ctl)
 *                      does nothing.
 *   metric_registry()  the registry, for the endpoint (metrics_http.h).
 *   metric_*()         one call per event, from any thread (metrics.h:
 *                      no lock, a store in the thread's own shard).
 *   metric_summary()   the SIGUSR1 line: decisions by kind since start
 *                      (the non-zero ones), errors, list age.
 *   metric_now_ns()    CLOCK_MONOTONIC in ns, for latencies.
 *
 * Contract: the registry pointer is set once by metric_init() before
 * threads exist and read-only afterwards (its owner is the daemon's main).
 * Label values are fixed sets known here (check names, actions, results):
 * a value from outside the set (a new check's verdict key, an unknown
 * result) counts as "other", so nothing a client sends can grow the
 * series. Every metric is listed, with its meaning, in the README.
 */
#ifndef SLUICE_METRICS_SLUICE_H
#define SLUICE_METRICS_SLUICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lists.h"
#include "log.h"
#include "metrics.h"

enum metric_daemon { METRIC_POLICYD, METRIC_MILTER };

int metric_init(enum metric_daemon daemon, const char *const *module_names);
struct metrics *metric_registry(void);
uint64_t metric_now_ns(void);

/* Common: Redis round trips (a pipeline is one), DNS lookups (failed:
 * timeout or server failure, not "no such name"), list snapshots. */
void metric_redis(uint64_t ns, bool failed);
void metric_dns(uint64_t ns, bool failed);
void metric_lists_published(const struct lists *lists);
void metric_lists_failed(void);
void metric_config_loaded(unsigned long generation);
void metric_config_reload_failed(void);

/* policyd: the answer to one request, which check gave it (the log's
 * verdict key: "greylist"; "action" when none did) and how long since it
 * arrived. */
void metric_policyd_decision(const char *verdict_key, const char *action, uint64_t ns);

/* milter: one message's end (result "accept", "reject", "tempfail",
 * "discard"), its verdicts (the log line's fields: spf=, dkim=, dmarc=,
 * rules=, alias=, copy=, action=hold, ...) and one module's time at end
 * of message (index in module_names). */
void metric_milter_message(const char *result, const struct logline *verdicts);
void metric_milter_module(int module, uint64_t ns);

/* The SIGUSR1 summary ("summary: decisions=... greylist_defer=3 ...
 * redis_errors=0 ... lists_age=4"), logged by the daemon's main thread. */
void metric_summary(char *buf, size_t size);

#endif
