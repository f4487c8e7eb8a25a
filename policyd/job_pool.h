/*
 * job_pool.h - blocking work (SMTP probes, LDAP lookups) off the workers'
 * event loops, for any check: the wait kind CHECK_JOB of check.h.
 *
 * The pool spf_pool.h began with, made generic (spf_pool.c is now a
 * user of it, like recipient validation): a job is the caller's struct
 * that embeds struct job first and says how to run and free itself, so
 * the pool knows nothing of SMTP or LDAP. A worker never waits here: it
 * hands the job over, goes on serving, and takes the finished job from
 * its inbox when its eventfd is written.
 *
 * Interface:
 *   job_pool_new()     a pool: threads start on demand up to threads_max
 *                      and stay; at most queue_max jobs wait. Each thread
 *                      may have state of its own (libspf2 servers are not
 *                      shared safely): thread_start() makes it, run()
 *                      gets it, thread_end() frees it (both may be NULL).
 *   job_inbox_init()   a worker's inbox (its eventfd is written per job).
 *   job_pool_submit()  queues job for inbox, with a time budget; -1 when
 *                      the queue is full or the pool stops (the caller
 *                      still owns the job and answers as for a timeout).
 *   job_inbox_take()   the next finished job, or NULL; the caller reads
 *                      the answer (job->timed_out: it never ran, its
 *                      budget ran out in the queue) and calls job->free.
 *   job_abandon()      the owner no longer waits: the pool frees the job
 *                      (job->free) once its thread is done with it.
 *   job_pool_free()    at exit; a thread still blocked is left to the
 *                      exiting process rather than waited for.
 *   job_ms_until()     milliseconds until a CLOCK_MONOTONIC time.
 *
 * Contract: one mutex guards the queue, the jobs' states and the inboxes,
 * held only to move a job, never while one runs. job->run must itself
 * respect job->deadline (it is handed the time left): the pool bounds how
 * long a job waits, the job bounds how long it runs. A job that waited in
 * the queue past its deadline is delivered timed_out without running.
 */
#ifndef SLUICE_POLICY_JOB_POOL_H
#define SLUICE_POLICY_JOB_POOL_H

#include <stdbool.h>
#include <time.h>

struct job_pool;
struct job_inbox;

struct job {
	void (*run)(struct job *job, void *thread_state);	/* in a pool thread */
	void (*free)(struct job *job);	/* frees the containing struct */
	struct timespec deadline;	/* set by job_pool_submit() */
	bool timed_out;			/* delivered without running */
	void *cookie;			/* the submitter's */
	/* the pool's */
	struct job_inbox *inbox;
	struct job *next;
	int state;
};

struct job_inbox {
	struct job *head, *tail;	/* guarded by the pool's lock */
	int wake_fd;
};

struct job_pool *job_pool_new(int threads_max, int queue_max, void *(*thread_start)(void),
			      void (*thread_end)(void *thread_state));
void job_pool_free(struct job_pool *pool);
void job_inbox_init(struct job_inbox *inbox, int wake_fd);
int job_pool_submit(struct job_pool *pool, struct job_inbox *inbox, struct job *job,
		    long timeout_ms, void *cookie);
struct job *job_inbox_take(struct job_pool *pool, struct job_inbox *inbox);
void job_abandon(struct job_pool *pool, struct job *job);
long job_ms_until(const struct timespec *ts);

#endif
