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
 *   server_connections_fit()  how many connections a file limit leaves
 *                 room for (pure; the start and every reload lower
 *                 policyd.max_connections to it when the soft limit
 *                 cannot be raised far enough, and say so once).
 *
 * Contract: the only state shared between threads is struct
 * server_shared: the config generation behind `lock` (reference counted,
 * so a worker finishes the request it is on with the config it started
 * with), and atomics for the connection counts (all, and each worker's,
 * which decide where a new connection goes), the stop flag and the
 * generation number; each worker's hand-over pipe belongs to the server. Each worker picks a new generation up between two
 * events of its own loop.
 */
#ifndef SLUICE_POLICY_SERVER_H
#define SLUICE_POLICY_SERVER_H

#include <pthread.h>
#include <stdatomic.h>

#include "config.h"
#include "spf_pool.h"

struct spf_pool;
struct job_pool;
struct list_cache;

struct config_gen {
	struct sluice_config *cfg;
	unsigned long generation;
	int refs;			/* guarded by server_shared.lock */
};

struct server_shared {
	int listen_fd;
	int workers;			/* worker threads, fixed at start */
	const int (*handoff_fds)[2];	/* by worker id: a pipe of accepted fds */
	atomic_int *worker_conns;	/* by worker id: its connections */
	pthread_mutex_t lock;
	struct config_gen *current;	/* guarded by lock */
	atomic_ulong generation;	/* current->generation, for a cheap check */
	atomic_int connections;		/* all workers' */
	atomic_bool stopping;
	struct spf_pool *spf;		/* SPF off the event loops (spf_pool.h) */
	struct job_pool *jobs;		/* checks' blocking jobs (job_pool.h) */
	struct list_cache *lists;	/* the Redis lists (list_cache.h) */
	/* log_due() slots, one per warning, so one never masks another */
	_Atomic long accept_warned_at;	/* accept failing */
	_Atomic long check_redis_warned_at;	/* a check's Redis call failed */
};

struct config_gen *shared_config_acquire(struct server_shared *shared);
void shared_config_release(struct server_shared *shared, struct config_gen *gen);

/*
 * Descriptors besides the connections: per worker its epoll set, wake
 * eventfd, hand-over pipe (two) and Redis connection, with room for what
 * a check may add; for the process stdio, syslog, the listening socket,
 * the signalfd, files read at a reload, the one descriptor per worker
 * accepted over the limit until it is closed, and the SPF pool's
 * resolver sockets (two per thread at most: UDP, and TCP for long
 * answers).
 */
#define SERVER_FDS_PER_WORKER 8
#define SERVER_FDS_RESERVED (32 + 2 * SPF_POOL_THREADS_MAX)

/* The connections, at most wanted and at least 1, that a limit of
 * fd_limit descriptors leaves room for with this many workers. */
int server_connections_fit(unsigned long fd_limit, int workers, int wanted);

/* cfg becomes the server's; listen_fd is the bound, listening socket. */
int server_run(struct sluice_config *cfg, const char *config_path, int listen_fd);

#endif
