/*
 * server.h - sluice-policyd's main thread and what its workers share.
 *
 * Interface:
 *   server_run()  starts policyd.workers worker threads on the already
 *                 open listening socket, then serves signals: SIGHUP loads
 *                 the config again (and opens the checks once, to refuse
 *                 an invalid one before any worker sees it), SIGTERM and
 *                 SIGINT stop. Returns the process exit status.
 *   shared_config_acquire/release()  a reference to the current config
 *                 generation, for the workers.
 *
 * Contract: the only state shared between threads is struct
 * server_shared: the config generation behind `lock` (reference counted,
 * so a worker finishes the request it is on with the config it started
 * with), and atomics for the connection count, the stop flag and the
 * generation number. Each worker picks a new generation up between two
 * events of its own loop.
 */
#ifndef SLUICE_POLICY_SERVER_H
#define SLUICE_POLICY_SERVER_H

#include <pthread.h>
#include <stdatomic.h>

#include "config.h"

struct spf_pool;

struct config_gen {
	struct sluice_config *cfg;
	unsigned long generation;
	int refs;			/* guarded by server_shared.lock */
};

struct server_shared {
	int listen_fd;
	pthread_mutex_t lock;
	struct config_gen *current;	/* guarded by lock */
	atomic_ulong generation;	/* current->generation, for a cheap check */
	atomic_int connections;		/* all workers' */
	atomic_bool stopping;
	struct spf_pool *spf;		/* SPF off the event loops (spf_pool.h) */
	/* log_due() slots, one per warning, so one never masks another */
	_Atomic long redis_warned_at;	/* lists not refreshed: Redis trouble */
	_Atomic long lists_warned_at;	/* bad list contents */
	_Atomic long check_redis_warned_at;	/* a check's Redis call failed */
};

struct config_gen *shared_config_acquire(struct server_shared *shared);
void shared_config_release(struct server_shared *shared, struct config_gen *gen);

/* cfg becomes the server's; listen_fd is the bound, listening socket. */
int server_run(struct sluice_config *cfg, const char *config_path, int listen_fd);

#endif
