/*
 * spf_pool.h - SPF evaluations off the workers' event loops.
 *
 * libspf2 resolves synchronously. Run inside a worker's event loop, one
 * sender domain whose name server never answers stalls every connection
 * of that worker for as long as the resolver waits (measured on the
 * first version: ~9 s per such RCPT, and past Postfix's 100 s policy
 * timeout in a burst). So SPF runs here, in a pool of threads of its
 * own, and a worker only hands a question over and goes on serving.
 *
 * Interface:
 *   spf_pool_new()      the process's pool; threads start on demand, up
 *                       to SPF_POOL_THREADS_MAX, each with its own libspf2
 *                       server (libspf2 servers are not shared safely).
 *   spf_inbox_init()    a worker's inbox: finished jobs are put there and
 *                       the worker's eventfd is written to wake it.
 *   spf_pool_submit()   queues a question (copied) for an inbox; NULL when
 *                       the queue is full or memory is short (the caller
 *                       answers as for a DNS failure: SPF_TEMPERROR).
 *   spf_inbox_take()    the next finished job of an inbox, or NULL. The
 *                       caller reads job->answer and job->cookie, then
 *                       spf_job_free().
 *   spf_job_abandon()   the owner no longer waits (its time budget ran
 *                       out, or its connection closed): the pool frees the
 *                       job whenever its thread is done with it.
 *   spf_pool_free()     at exit; threads still stuck in DNS are left to
 *                       the exiting process rather than waited for.
 *
 * Contract: the threads, queue and inboxes are a job pool's (job_pool.h,
 * whose lock is held only to move a job, never across DNS); this file
 * adds the SPF question and answer and a libspf2 server per thread. A
 * job that has waited in the queue past its deadline is answered
 * SPF_TEMPERROR (timed_out) without being run: under a flood of slow
 * domains, the queue drains at once instead of growing behind busy
 * threads.
 */
#ifndef SLUICE_POLICY_SPF_POOL_H
#define SLUICE_POLICY_SPF_POOL_H

#include <stdbool.h>
#include <time.h>

#include "address.h"
#include "job_pool.h"
#include "spf.h"

#define SPF_POOL_THREADS_MAX 32
#define SPF_POOL_QUEUE_MAX 4096

struct spf_pool;
struct spf_job;

struct spf_inbox {
	struct job_inbox jobs;		/* eventfd written once per job */
};

struct spf_job {
	struct job base;		/* first: the job pool's part */
	/* the question, copied at submission */
	char client_ip[64];
	char helo[ADDRESS_DOMAIN_MAX + 1];
	char sender[ADDRESS_MAX + 1];
	bool breadth;
	struct timespec deadline;	/* CLOCK_MONOTONIC */
	void *cookie;			/* the submitter's */
	/* the answer, valid once taken from the inbox */
	struct spf_answer answer;
};

struct spf_pool *spf_pool_new(void);
void spf_pool_free(struct spf_pool *pool);
void spf_inbox_init(struct spf_inbox *inbox, int wake_fd);
struct spf_job *spf_pool_submit(struct spf_pool *pool, struct spf_inbox *inbox,
				const char *client_ip, const char *helo, const char *sender,
				bool breadth, long timeout_ms, void *cookie);
struct spf_job *spf_inbox_take(struct spf_pool *pool, struct spf_inbox *inbox);
void spf_job_abandon(struct spf_pool *pool, struct spf_job *job);
void spf_job_free(struct spf_job *job);

/* Milliseconds from now until ts (negative when past), CLOCK_MONOTONIC. */
long spf_ms_until(const struct timespec *ts);

#endif
