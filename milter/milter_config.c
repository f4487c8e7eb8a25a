/*
 * milter_config.c - the config every connection of the milter uses, and
 * the process's list cache (interfaces: milter.h for the daemon,
 * milter_config.h for the callbacks).
 *
 * libmilter runs one thread per SMTP connection. What is shared between
 * threads is only the current config, behind config_lock, reference
 * counted: a connection takes a reference at connect and, when a reload
 * made a newer one current, swaps it for the new one at the next MAIL
 * FROM (never inside a message), dropping the old one; the last drop
 * frees it. So a reload never frees a config a message is still using,
 * and the next message on a long-lived connection already has the new
 * keys and rules. The lock is taken only when the generation number,
 * read without it, says there is a newer config. A config is opened by
 * every module (module.h: open) before it becomes current, so a config
 * some module refuses never reaches a connection.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "list_cache.h"
#include "metrics_sluice.h"
#include "milter.h"
#include "milter_config.h"

#define MILTER_LISTS_WAIT_MS 2000

static pthread_mutex_t config_lock = PTHREAD_MUTEX_INITIALIZER;
static struct config_ref *current_config;	/* guarded by config_lock */
static _Atomic unsigned long current_generation;	/* written under config_lock */
static int open_sessions;			/* guarded by config_lock */
/* The process's list cache: set by milter_lists_start() before libmilter's
 * threads exist, read-only after. */
static struct list_cache *list_cache;

static void
config_ref_free(struct config_ref *ref)
{
	size_t i;

	for (i = 0; milter_modules[i]; i++)
		if (ref->module_conf[i] && milter_modules[i]->close)
			milter_modules[i]->close(ref->module_conf[i]);
	config_free(ref->cfg);
	free(ref);
}

static void
config_ref_drop(struct config_ref *ref)
{
	/* config_lock held */
	if (--ref->refs == 0)
		config_ref_free(ref);
}

int
milter_config_swap(struct sluice_config *cfg, char *err, size_t errsize)
{
	struct config_ref *ref = calloc(1, sizeof(*ref));
	size_t i;

	if (ref == NULL) {
		snprintf(err, errsize, "out of memory");
		config_free(cfg);
		return -1;
	}
	ref->cfg = cfg;
	ref->refs = 1;		/* the core's own reference */
	for (i = 0; milter_modules[i]; i++) {
		char why[512] = "";

		if (milter_modules[i]->open
		    && milter_modules[i]->open(cfg, &ref->module_conf[i], why, sizeof(why)) < 0) {
			snprintf(err, errsize, "%s", why);	/* "FILE:LINE: message" */
			config_ref_free(ref);
			return -1;
		}
	}
	if (list_cache)
		list_cache_configure(list_cache, cfg);
	pthread_mutex_lock(&config_lock);
	ref->generation = atomic_load(&current_generation) + 1;
	if (current_config)
		config_ref_drop(current_config);
	current_config = ref;
	atomic_store(&current_generation, ref->generation);
	pthread_mutex_unlock(&config_lock);
	metric_config_loaded(ref->generation);
	return 0;
}

int
milter_metrics_init(void)
{
	const char *names[MILTER_MODULES_MAX + 1] = { NULL };
	size_t i;

	for (i = 0; milter_modules[i] && i < MILTER_MODULES_MAX; i++)
		names[i] = milter_modules[i]->name;
	if (metric_init(METRIC_MILTER, names) < 0)
		return -1;
	metric_config_loaded(atomic_load(&current_generation));
	return 0;
}

void
milter_config_release(void)
{
	pthread_mutex_lock(&config_lock);
	if (current_config)
		config_ref_drop(current_config);
	current_config = NULL;
	pthread_mutex_unlock(&config_lock);
}

int
milter_lists_start(const struct sluice_config *cfg, char *err, size_t errsize)
{
	list_cache = list_cache_start(cfg, MILTER_LISTS_WAIT_MS, err, errsize);
	return list_cache ? 0 : -1;
}

void
milter_lists_stop(void)
{
	/* A session still open (its stop grace ran out) may yet take a
	 * snapshot: then the exiting process keeps the cache. */
	if (milter_sessions() > 0)
		return;
	list_cache_stop(list_cache);
	list_cache = NULL;
}

int
milter_sessions(void)
{
	int n;

	pthread_mutex_lock(&config_lock);
	n = open_sessions;
	pthread_mutex_unlock(&config_lock);
	return n;
}

struct config_ref *
config_session_open(void)
{
	struct config_ref *ref;

	pthread_mutex_lock(&config_lock);
	if ((ref = current_config) != NULL) {
		ref->refs++;
		open_sessions++;
	}
	pthread_mutex_unlock(&config_lock);
	return ref;
}

bool
config_session_refresh(struct config_ref **ref)
{
	struct config_ref *old = NULL;

	if (atomic_load(&current_generation) == (*ref)->generation)
		return false;
	pthread_mutex_lock(&config_lock);
	if (current_config && current_config != *ref) {
		old = *ref;
		*ref = current_config;
		(*ref)->refs++;
		config_ref_drop(old);
	}
	pthread_mutex_unlock(&config_lock);
	return old != NULL;
}

void
config_session_close(struct config_ref *ref)
{
	pthread_mutex_lock(&config_lock);
	config_ref_drop(ref);
	open_sessions--;
	pthread_mutex_unlock(&config_lock);
}

const struct lists *
milter_lists_snapshot(void)
{
	unsigned long generation;

	return list_cache ? list_cache_acquire(list_cache, &generation) : NULL;
}
