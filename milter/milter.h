/*
 * milter.h - sluice-milter's core: libmilter callbacks, state, config.
 *
 * Interface:
 *   milter_open()         registers the callbacks and opens the listening
 *                         socket (as root, before the privilege drop); a
 *                         unix socket gets socket_group and socket_mode
 *                         and replaces the old one atomically; *bound
 *                         says what to remove at exit (endpoint_remove).
 *   milter_config_swap()  opens every module for cfg and makes it the
 *                         config of new connections and of the next
 *                         message of open ones; the old one is freed when
 *                         its last message ends. On a module error
 *                         it returns -1, frees cfg and keeps the old one.
 *   milter_lists_start()  starts the process's list cache (list_cache.h);
 *                         each message holds one snapshot of it, from MAIL
 *                         FROM to its end (struct milter_msg.lists).
 *   milter_lists_stop()   at exit, after the last session.
 *   milter_sessions()     connections now open (for a graceful stop).
 *   milter_config_release() drops the core's own reference at exit.
 *   milter_metrics_init() the process's metrics (metrics_sluice.h), with
 *                         a latency histogram per module; before threads.
 */
#ifndef SLUICE_MILTER_H
#define SLUICE_MILTER_H

#include <stddef.h>

#include "config.h"

int milter_open(const struct sluice_config *cfg, struct endpoint_bound *bound, char *err,
		size_t errsize);
int milter_config_swap(struct sluice_config *cfg, char *err, size_t errsize);
void milter_config_release(void);
int milter_lists_start(const struct sluice_config *cfg, char *err, size_t errsize);
void milter_lists_stop(void);
int milter_sessions(void);
int milter_metrics_init(void);

#endif
