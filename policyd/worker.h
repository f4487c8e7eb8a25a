/*
 * worker.h - one event-loop thread of sluice-policyd (see worker.c).
 *
 *   worker_start()  opens the worker's checks for the current config and
 *                   starts its thread; NULL with a reason on failure.
 *   worker_wake()   makes it look at the shared state now (a new config
 *                   generation, or stop) instead of within a second.
 *   worker_join()   waits for it to finish after stop, and frees it.
 */
#ifndef SLUICE_POLICY_WORKER_H
#define SLUICE_POLICY_WORKER_H

#include <stddef.h>

#include "server.h"

struct worker;

struct worker *worker_start(struct server_shared *shared, int id, char *err, size_t errsize);
void worker_wake(struct worker *w);
void worker_join(struct worker *w);
void worker_free(struct worker *w);

#endif
