/*
 * job_pool.c - the generic pool of blocking jobs (see job_pool.h).
 *
 * Threads start when a job arrives and none is idle, up to threads_max.
 * What bounds the harm of a dead backend is not here but in the jobs
 * (rcpt_backend.c caps the probes per server and marks a dead server
 * down), so that the threads a dead server holds are few and the jobs of
 * every other server still find one.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "job_pool.h"

enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_ABANDONED };

struct job_pool {
	pthread_mutex_t lock;
	pthread_cond_t work, gone;
	struct job *head, *tail;
	int queued, threads, idle, threads_max, queue_max;
	void *(*thread_start)(void);
	void (*thread_end)(void *thread_state);
	bool stopping;
};

long
job_ms_until(const struct timespec *ts)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(ts->tv_sec - now.tv_sec) * 1000 + (ts->tv_nsec - now.tv_nsec) / 1000000;
}

/* With the lock held. */
static void
deliver(struct job *job)
{
	struct job_inbox *inbox = job->inbox;
	uint64_t one = 1;

	job->state = JOB_DONE;
	job->next = NULL;
	if (inbox->tail) inbox->tail->next = job; else inbox->head = job;
	inbox->tail = job;
	(void)!write(inbox->wake_fd, &one, sizeof(one));
}

static void *
pool_thread(void *arg)
{
	struct job_pool *pool = arg;
	void *thread_state = pool->thread_start ? pool->thread_start() : NULL;
	void (*thread_end)(void *);

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		struct job *job;

		while (pool->head == NULL && !pool->stopping)
			pthread_cond_wait(&pool->work, &pool->lock);
		if (pool->stopping)
			break;
		job = pool->head;
		pool->head = job->next;
		if (pool->head == NULL)
			pool->tail = NULL;
		pool->queued--;
		pool->idle--;
		job->state = JOB_RUNNING;
		pthread_mutex_unlock(&pool->lock);

		if (job_ms_until(&job->deadline) <= 0)
			job->timed_out = true;
		else
			job->run(job, thread_state);

		pthread_mutex_lock(&pool->lock);
		pool->idle++;
		if (job->state == JOB_ABANDONED)
			job->free(job);
		else
			deliver(job);
	}
	/* After the unlock the pool may be gone (job_pool_free saw the
	 * thread count reach 0): nothing of it is read past this point. */
	thread_end = pool->thread_end;
	pool->threads--;
	pool->idle--;
	pthread_cond_broadcast(&pool->gone);
	pthread_mutex_unlock(&pool->lock);
	if (thread_end)
		thread_end(thread_state);
	return NULL;
}

struct job_pool *
job_pool_new(int threads_max, int queue_max, void *(*thread_start)(void),
	     void (*thread_end)(void *thread_state))
{
	struct job_pool *pool = calloc(1, sizeof(*pool));

	if (pool == NULL)
		return NULL;
	pool->threads_max = threads_max;
	pool->queue_max = queue_max;
	pool->thread_start = thread_start;
	pool->thread_end = thread_end;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->work, NULL);
	pthread_cond_init(&pool->gone, NULL);
	return pool;
}

/* With the lock held: one more thread, if the bound allows. */
static void
add_thread(struct job_pool *pool)
{
	pthread_attr_t attr;
	pthread_t t;

	if (pool->threads >= pool->threads_max)
		return;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, pool_thread, pool) == 0) {
		pool->threads++;
		pool->idle++;
	}
	pthread_attr_destroy(&attr);
}

void
job_inbox_init(struct job_inbox *inbox, int wake_fd)
{
	inbox->head = inbox->tail = NULL;
	inbox->wake_fd = wake_fd;
}

int
job_pool_submit(struct job_pool *pool, struct job_inbox *inbox, struct job *job,
		long timeout_ms, void *cookie)
{
	job->cookie = cookie;
	job->inbox = inbox;
	job->timed_out = false;
	job->next = NULL;
	clock_gettime(CLOCK_MONOTONIC, &job->deadline);
	job->deadline.tv_sec += timeout_ms / 1000;
	job->deadline.tv_nsec += (timeout_ms % 1000) * 1000000;
	if (job->deadline.tv_nsec >= 1000000000) {
		job->deadline.tv_sec++;
		job->deadline.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&pool->lock);
	if (pool->stopping || pool->queued >= pool->queue_max) {
		pthread_mutex_unlock(&pool->lock);
		return -1;
	}
	if (pool->idle <= pool->queued)
		add_thread(pool);
	if (pool->threads == 0) {	/* not even one thread */
		pthread_mutex_unlock(&pool->lock);
		return -1;
	}
	job->state = JOB_QUEUED;
	if (pool->tail) pool->tail->next = job; else pool->head = job;
	pool->tail = job;
	pool->queued++;
	pthread_cond_signal(&pool->work);
	pthread_mutex_unlock(&pool->lock);
	return 0;
}

struct job *
job_inbox_take(struct job_pool *pool, struct job_inbox *inbox)
{
	struct job *job;

	pthread_mutex_lock(&pool->lock);
	if ((job = inbox->head) != NULL) {
		inbox->head = job->next;
		if (inbox->head == NULL)
			inbox->tail = NULL;
		job->next = NULL;
	}
	pthread_mutex_unlock(&pool->lock);
	return job;
}

/* With the lock held: takes job out of a singly linked list. */
static void
unlink_job(struct job **head, struct job **tail, struct job *job)
{
	struct job *prev = NULL, *j;

	for (j = *head; j && j != job; j = j->next)
		prev = j;
	if (j == NULL)
		return;
	if (prev) prev->next = j->next; else *head = j->next;
	if (*tail == j)
		*tail = prev;
}

void
job_abandon(struct job_pool *pool, struct job *job)
{
	pthread_mutex_lock(&pool->lock);
	switch (job->state) {
	case JOB_QUEUED:
		unlink_job(&pool->head, &pool->tail, job);
		pool->queued--;
		job->free(job);
		break;
	case JOB_RUNNING:
		job->state = JOB_ABANDONED;	/* its thread frees it */
		break;
	case JOB_DONE:
		unlink_job(&job->inbox->head, &job->inbox->tail, job);
		job->free(job);
		break;
	}
	pthread_mutex_unlock(&pool->lock);
}

void
job_pool_free(struct job_pool *pool)
{
	struct timespec until;
	bool all_gone;

	if (pool == NULL)
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2;
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->work);
	while (pool->threads > 0)
		if (pthread_cond_timedwait(&pool->gone, &pool->lock, &until) == ETIMEDOUT)
			break;
	all_gone = pool->threads == 0;
	while (pool->head) {
		struct job *job = pool->head;

		pool->head = job->next;
		job->free(job);
	}
	pool->tail = NULL;
	pthread_mutex_unlock(&pool->lock);
	if (!all_gone)
		return;	/* a thread is still blocked: leave it the pool */
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->work);
	pthread_cond_destroy(&pool->gone);
	free(pool);
}
