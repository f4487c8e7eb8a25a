/*
 * rcpt_backend.c - per-server slots, idle connections and down marks for
 * recipient validation (see rcpt_backend.h).
 *
 * The registry is the one piece of process-wide mutable state here; its
 * owner is this file and registry_lock guards it. Records are never freed
 * before exit: there is one per server the config ever named, and a
 * reload must not free a record a pool thread is still using.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "job_pool.h"
#include "rcpt_backend.h"

struct idle_conn {
	void *handle;
	struct timespec since;	/* CLOCK_MONOTONIC */
};

struct backend {
	char *key;
	void (*close_handle)(void *handle);
	pthread_mutex_t lock;
	pthread_cond_t slot;		/* a call ended */
	int active;
	struct timespec down_until;
	struct idle_conn idle[BACKEND_IDLE_MAX];
	int idle_count;
	struct backend *next;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct backend *registry;

struct backend *
backend_get(const char *key, void (*close_handle)(void *handle))
{
	struct backend *b;
	pthread_condattr_t attr;

	pthread_mutex_lock(&registry_lock);
	for (b = registry; b; b = b->next)
		if (strcmp(b->key, key) == 0)
			break;
	if (b == NULL && (b = calloc(1, sizeof(*b))) != NULL) {
		if ((b->key = strdup(key)) == NULL) {
			free(b);
			b = NULL;
		} else {
			b->close_handle = close_handle;
			pthread_mutex_init(&b->lock, NULL);
			pthread_condattr_init(&attr);
			pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
			pthread_cond_init(&b->slot, &attr);
			pthread_condattr_destroy(&attr);
			b->next = registry;
			registry = b;
		}
	}
	pthread_mutex_unlock(&registry_lock);
	return b;
}

int
backend_enter(struct backend *b, int concurrency, const struct timespec *deadline,
	      const char **why)
{
	int rc = 0;

	pthread_mutex_lock(&b->lock);
	if (job_ms_until(&b->down_until) > 0) {
		*why = "server marked down after a failure";
		rc = -1;
	}
	while (rc == 0 && b->active >= concurrency)
		if (pthread_cond_timedwait(&b->slot, &b->lock, deadline) == ETIMEDOUT) {
			*why = "all probe slots of the server busy";
			rc = -1;
		}
	if (rc == 0)
		b->active++;
	pthread_mutex_unlock(&b->lock);
	return rc;
}

void *
backend_take_idle(struct backend *b, long idle_ms)
{
	void *stale[BACKEND_IDLE_MAX], *handle = NULL;
	int nstale = 0, i, keep = 0;

	pthread_mutex_lock(&b->lock);
	for (i = 0; i < b->idle_count; i++) {
		if (-job_ms_until(&b->idle[i].since) >= idle_ms)
			stale[nstale++] = b->idle[i].handle;
		else
			b->idle[keep++] = b->idle[i];
	}
	b->idle_count = keep;
	if (b->idle_count > 0)
		handle = b->idle[--b->idle_count].handle;	/* the freshest */
	pthread_mutex_unlock(&b->lock);
	for (i = 0; i < nstale; i++)
		b->close_handle(stale[i]);
	return handle;
}

void
backend_leave(struct backend *b, void *handle, bool dead)
{
	pthread_mutex_lock(&b->lock);
	b->active--;
	if (dead) {
		clock_gettime(CLOCK_MONOTONIC, &b->down_until);
		b->down_until.tv_sec += BACKEND_DOWN_MS / 1000;
	}
	if (handle && b->idle_count < BACKEND_IDLE_MAX) {
		b->idle[b->idle_count].handle = handle;
		clock_gettime(CLOCK_MONOTONIC, &b->idle[b->idle_count].since);
		b->idle_count++;
		handle = NULL;
	}
	pthread_cond_signal(&b->slot);
	pthread_mutex_unlock(&b->lock);
	if (handle)
		b->close_handle(handle);
}
