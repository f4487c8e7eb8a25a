/*
 * spf_pool.c - the SPF thread pool (see spf_pool.h).
 *
 * A job pool (job_pool.h) of SPF jobs, with a libspf2 server per thread.
 * Threads start when a job arrives and none is idle, up to
 * SPF_POOL_THREADS_MAX, and then stay: the common case is a handful of
 * lookups at a time, each answered from libspf2's cache or one DNS round
 * trip. The bound matters when DNS is dead for some domain: each of its
 * lookups can hold a thread for the resolver's whole timeout, and the
 * jobs behind them expire in the queue (answered at once as temperror)
 * instead of piling up. A worker never waits here: it waits on its own
 * eventfd, with its other connections.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "spf_pool.h"

struct spf_pool {
	struct job_pool *jobs;
};

long
spf_ms_until(const struct timespec *ts)
{
	return job_ms_until(ts);
}

static void *
thread_start(void)
{
	struct spf_checker *checker = spf_checker_new();

	if (checker == NULL)
		log_error("spf: cannot start libspf2 in a pool thread: SPF answers temperror");
	return checker;
}

static void
thread_end(void *checker)
{
	spf_checker_free(checker);
}

static void
run(struct job *base, void *thread_state)
{
	struct spf_checker *checker = thread_state;
	struct spf_job *job = (struct spf_job *)base;

	memset(&job->answer, 0, sizeof(job->answer));
	if (checker == NULL || spf_ms_until(&base->deadline) <= 0) {
		job->answer.result = SPF_TEMPERROR;
		job->answer.timed_out = checker != NULL;
		return;
	}
	job->answer.result = spf_check(checker, job->client_ip, job->helo, job->sender);
	if (job->answer.result == SPF_PASS && job->breadth)
		job->answer.too_broad = spf_too_broad(checker, job->client_ip, job->helo,
						      job->sender);
}

static void
free_job(struct job *base)
{
	free(base);
}

struct spf_pool *
spf_pool_new(void)
{
	struct spf_pool *pool = calloc(1, sizeof(*pool));

	if (pool == NULL)
		return NULL;
	pool->jobs = job_pool_new(SPF_POOL_THREADS_MAX, SPF_POOL_QUEUE_MAX, thread_start,
				  thread_end);
	if (pool->jobs == NULL) {
		free(pool);
		return NULL;
	}
	return pool;
}

void
spf_inbox_init(struct spf_inbox *inbox, int wake_fd)
{
	job_inbox_init(&inbox->jobs, wake_fd);
}

static int
copy(char *dst, size_t size, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= size)
		return -1;	/* never cut: a cut sender is another domain */
	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
	return 0;
}

struct spf_job *
spf_pool_submit(struct spf_pool *pool, struct spf_inbox *inbox, const char *client_ip,
		const char *helo, const char *sender, bool breadth, long timeout_ms,
		void *cookie)
{
	struct spf_job *job = calloc(1, sizeof(*job));

	if (job == NULL)
		return NULL;
	if (copy(job->client_ip, sizeof(job->client_ip), client_ip) < 0
	    || copy(job->helo, sizeof(job->helo), helo) < 0
	    || copy(job->sender, sizeof(job->sender), sender) < 0) {
		free(job);
		return NULL;
	}
	job->breadth = breadth;
	job->cookie = cookie;
	job->base.run = run;
	job->base.free = free_job;
	/* What a job that times out in the queue answers (run() not called). */
	job->answer.result = SPF_TEMPERROR;
	job->answer.timed_out = true;
	clock_gettime(CLOCK_MONOTONIC, &job->deadline);
	job->deadline.tv_sec += timeout_ms / 1000;
	job->deadline.tv_nsec += (timeout_ms % 1000) * 1000000;
	if (job->deadline.tv_nsec >= 1000000000) {
		job->deadline.tv_sec++;
		job->deadline.tv_nsec -= 1000000000;
	}
	if (job_pool_submit(pool->jobs, &inbox->jobs, &job->base, timeout_ms, cookie) < 0) {
		free(job);
		return NULL;
	}
	return job;
}

struct spf_job *
spf_inbox_take(struct spf_pool *pool, struct spf_inbox *inbox)
{
	return (struct spf_job *)job_inbox_take(pool->jobs, &inbox->jobs);
}

void
spf_job_abandon(struct spf_pool *pool, struct spf_job *job)
{
	job_abandon(pool->jobs, &job->base);
}

void
spf_job_free(struct spf_job *job)
{
	free(job);
}

void
spf_pool_free(struct spf_pool *pool)
{
	if (pool == NULL)
		return;
	job_pool_free(pool->jobs);
	free(pool);
}
