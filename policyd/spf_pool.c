/*
 * spf_pool.c - the SPF thread pool (see spf_pool.h).
 *
 * Threads start when a job arrives and none is idle, up to
 * SPF_POOL_THREADS_MAX, and then stay: the common case is a handful of
 * lookups at a time, each answered from libspf2's cache or one DNS round
 * trip. The bound matters when DNS is dead for some domain: each of its
 * lookups can hold a thread for the resolver's whole timeout, and the
 * jobs behind them expire in the queue (answered at once as temperror)
 * instead of piling up. A worker never waits here: it waits on its own
 * eventfd, with its other connections.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "spf_pool.h"

enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_ABANDONED };

struct spf_pool {
	pthread_mutex_t lock;
	pthread_cond_t work;		/* a job was queued, or stop */
	pthread_cond_t gone;		/* a thread ended */
	struct spf_job *head, *tail;	/* the queue */
	int queued, threads, idle;
	bool stopping;
};

long
spf_ms_until(const struct timespec *ts)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(ts->tv_sec - now.tv_sec) * 1000 + (ts->tv_nsec - now.tv_nsec) / 1000000;
}

static void
answer(struct spf_checker *checker, struct spf_job *job)
{
	memset(&job->answer, 0, sizeof(job->answer));
	if (checker == NULL || spf_ms_until(&job->deadline) <= 0) {
		job->answer.result = SPF_TEMPERROR;
		job->answer.timed_out = checker != NULL;
		return;
	}
	job->answer.result = spf_check(checker, job->client_ip, job->helo, job->sender);
	if (job->answer.result == SPF_PASS && job->breadth)
		job->answer.too_broad = spf_too_broad(checker, job->client_ip, job->helo,
						      job->sender);
}

/* With the lock held: hands a finished job to its inbox. */
static void
deliver(struct spf_job *job)
{
	struct spf_inbox *inbox = job->inbox;
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
	struct spf_pool *pool = arg;
	struct spf_checker *checker = spf_checker_new();

	if (checker == NULL)
		log_error("spf: cannot start libspf2 in a pool thread: SPF answers temperror");
	pthread_mutex_lock(&pool->lock);
	for (;;) {
		struct spf_job *job;

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

		answer(checker, job);

		pthread_mutex_lock(&pool->lock);
		pool->idle++;
		if (job->state == JOB_ABANDONED)
			free(job);
		else
			deliver(job);
	}
	pool->threads--;
	pool->idle--;
	pthread_cond_broadcast(&pool->gone);
	pthread_mutex_unlock(&pool->lock);
	spf_checker_free(checker);
	return NULL;
}

struct spf_pool *
spf_pool_new(void)
{
	struct spf_pool *pool = calloc(1, sizeof(*pool));

	if (pool == NULL)
		return NULL;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->work, NULL);
	pthread_cond_init(&pool->gone, NULL);
	return pool;
}

/* With the lock held: one more thread, if the bound allows. */
static void
add_thread(struct spf_pool *pool)
{
	pthread_attr_t attr;
	pthread_t t;

	if (pool->threads >= SPF_POOL_THREADS_MAX)
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
spf_inbox_init(struct spf_inbox *inbox, int wake_fd)
{
	inbox->head = inbox->tail = NULL;
	inbox->wake_fd = wake_fd;
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
	job->inbox = inbox;
	clock_gettime(CLOCK_MONOTONIC, &job->deadline);
	job->deadline.tv_sec += timeout_ms / 1000;
	job->deadline.tv_nsec += (timeout_ms % 1000) * 1000000;
	if (job->deadline.tv_nsec >= 1000000000) {
		job->deadline.tv_sec++;
		job->deadline.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&pool->lock);
	if (pool->stopping || pool->queued >= SPF_POOL_QUEUE_MAX) {
		pthread_mutex_unlock(&pool->lock);
		free(job);
		return NULL;
	}
	job->state = JOB_QUEUED;
	if (pool->tail) pool->tail->next = job; else pool->head = job;
	pool->tail = job;
	pool->queued++;
	if (pool->idle < pool->queued)
		add_thread(pool);
	if (pool->threads == 0) {	/* not even one thread: answer at once */
		pool->head = pool->tail = NULL;
		pool->queued = 0;
		answer(NULL, job);
		deliver(job);
	}
	pthread_cond_signal(&pool->work);
	pthread_mutex_unlock(&pool->lock);
	return job;
}

struct spf_job *
spf_inbox_take(struct spf_pool *pool, struct spf_inbox *inbox)
{
	struct spf_job *job;

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
unlink_job(struct spf_job **head, struct spf_job **tail, struct spf_job *job)
{
	struct spf_job *prev = NULL, *j;

	for (j = *head; j && j != job; j = j->next)
		prev = j;
	if (j == NULL)
		return;
	if (prev) prev->next = j->next; else *head = j->next;
	if (*tail == j)
		*tail = prev;
}

void
spf_job_abandon(struct spf_pool *pool, struct spf_job *job)
{
	pthread_mutex_lock(&pool->lock);
	switch (job->state) {
	case JOB_QUEUED:
		unlink_job(&pool->head, &pool->tail, job);
		pool->queued--;
		free(job);
		break;
	case JOB_RUNNING:
		job->state = JOB_ABANDONED;	/* its thread frees it */
		break;
	case JOB_DONE:
		unlink_job(&job->inbox->head, &job->inbox->tail, job);
		free(job);
		break;
	}
	pthread_mutex_unlock(&pool->lock);
}

void
spf_job_free(struct spf_job *job)
{
	free(job);
}

void
spf_pool_free(struct spf_pool *pool)
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
		struct spf_job *job = pool->head;

		pool->head = job->next;
		free(job);
	}
	pool->tail = NULL;
	pthread_mutex_unlock(&pool->lock);
	if (!all_gone)
		return;	/* a thread is still in DNS: leave it the pool */
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->work);
	pthread_cond_destroy(&pool->gone);
	free(pool);
}
