/*
 * list_cache.c - the refresher thread and the snapshot swap (see
 * list_cache.h).
 *
 * Why client-side caching (CLIENT TRACKING ... BCAST) rather than keyspace
 * notifications: both name the changed keys, but keyspace notifications
 * are off by default (notify-keyspace-events) and turning them on is a
 * server-wide setting, for every client of a Redis that may be shared,
 * which an admin may refuse or a managed Redis may forbid; tracking needs
 * nothing of the server but Redis 6 (Debian 12 has 7.0), works over plain
 * RESP2 with a second connection, and with PREFIX sends nothing about the
 * greylisting keys, which change on every message.
 *
 * The thread owns both connections and the snapshot it builds; the only
 * state it shares is struct list_cache's current pointer and generation
 * (behind lock) and the settings a reload hands over.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "list_cache.h"
#include "log.h"
#include "metrics_sluice.h"

#define DEBOUNCE_MS 20		/* gather a burst of changes into one read */
#define DEBOUNCE_KEYS 64	/* more changed keys than this: read everything */
#define DEBOUNCE_MAX_MS 200	/* a steady trickle of changes is read this often */
#define RETRY_MS 1000		/* after a failed connect */
#define WARN_EVERY 60		/* seconds between two warnings of one kind */
/* Regexes are tried one by one (about 0.13 us each with PCRE2's JIT,
 * 1 us without): past this many in one list, say what it costs. */
#define REGEX_WARN 100

struct list_cache {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t loaded_cond;
	const struct lists *current;	/* guarded by lock */
	bool loaded;			/* first full read done; guarded by lock */
	atomic_ulong generation;
	atomic_bool stopping;
	/* handed over by list_cache_configure(), guarded by lock */
	struct redis_settings redis;
	struct lists_conf conf;
	char prefix[72];
	bool reconfigured;
};

/* The refresher's own state, on its stack. */
struct refresher {
	struct list_cache *cache;
	struct redis_settings redis;
	struct lists_conf conf;
	char prefix[72];
	char base_prefix[72];		/* the prefix of r->lists */
	struct redis_client *sub, *data;
	unsigned long sub_epoch, data_epoch;	/* when tracking was set up */
	bool tracking;
	const struct lists *lists;	/* the last snapshot made */
	time_t next_resync;
	time_t failure_warned, skipped_warned, regex_warned;
};

static long
ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)(t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static bool
due(time_t *last, time_t now)
{
	if (now - *last < WARN_EVERY)
		return false;
	*last = now;
	return true;
}

static void
publish(struct refresher *r, struct lists *next)
{
	struct list_cache *cache = r->cache;
	const struct lists *old;

	lists_hold(next);	/* one for the cache, one for r->lists */
	pthread_mutex_lock(&cache->lock);
	old = cache->current;
	cache->current = next;
	cache->loaded = true;
	pthread_cond_broadcast(&cache->loaded_cond);
	pthread_mutex_unlock(&cache->lock);
	atomic_fetch_add(&cache->generation, 1);
	metric_lists_published(next);
	lists_release(old);
	lists_release(r->lists);
	r->lists = next;
}

static void
warn_failure(struct refresher *r, const char *why)
{
	metric_lists_failed();
	if (due(&r->failure_warned, time(NULL)))
		log_warning("redis lists not refreshed, using the last ones: %s", why);
}

static void
warn_regexes(struct refresher *r, const struct lists *lists)
{
	size_t count;
	const char *key = lists_most_regexes(lists, &count);

	if (key && count > REGEX_WARN && due(&r->regex_warned, time(NULL)))
		log_warning("lists: %s holds %zu /regex/ members: every lookup tries each "
			    "(about %zu us per address); exact addresses and domains cost "
			    "nothing extra", key, count, (count * 13 + 99) / 100);
}

static void
warn_skipped(struct refresher *r, int skipped, const char *err)
{
	if (skipped > 0 && due(&r->skipped_warned, time(NULL)))
		log_warning("redis lists: %d invalid member(s) or key(s) skipped%s%s",
			    skipped, err[0] ? ": " : "", err);
}

static void
disconnect(struct refresher *r)
{
	redis_client_disconnect(r->sub);
	redis_client_disconnect(r->data);
	r->tracking = false;
}

/*
 * Subscribes the second connection and turns tracking on for the first,
 * redirected to it. Both epochs are noted: if either connection is made
 * again later, tracking is gone on the server and must be set up again,
 * followed by a full read (changes may have been missed meanwhile).
 */
static int
setup_tracking(struct refresher *r, char *err, size_t errsize)
{
	const char *argv[8 + 2 * 16];
	char prefixes[16][128];
	redisReply *reply;
	long long id;
	int argc = 0, i;

	disconnect(r);
	if ((reply = redis_command(r->sub, "CLIENT ID")) == NULL
	    || reply->type != REDIS_REPLY_INTEGER) {
		snprintf(err, errsize, "CLIENT ID: %s", reply ? (reply->type == REDIS_REPLY_ERROR
			 ? reply->str : "unexpected reply") : redis_client_error(r->sub));
		goto fail;
	}
	id = reply->integer;
	freeReplyObject(reply);
	if ((reply = redis_command(r->sub, "SUBSCRIBE __redis__:invalidate")) == NULL
	    || reply->type != REDIS_REPLY_ARRAY) {
		snprintf(err, errsize, "SUBSCRIBE: %s", reply ? "unexpected reply"
			 : redis_client_error(r->sub));
		goto fail;
	}
	freeReplyObject(reply);
	reply = NULL;
	argv[argc++] = "CLIENT";
	argv[argc++] = "TRACKING";
	argv[argc++] = "on";
	argv[argc++] = "REDIRECT";
	snprintf(prefixes[15], sizeof(prefixes[15]), "%lld", id);
	argv[argc++] = prefixes[15];
	argv[argc++] = "BCAST";
	for (i = 0; lists_tracked_prefixes[i] && i < 15; i++) {
		snprintf(prefixes[i], sizeof(prefixes[i]), "%s%s", r->prefix,
			 lists_tracked_prefixes[i]);
		argv[argc++] = "PREFIX";
		argv[argc++] = prefixes[i];
	}
	if ((reply = redis_command_argv(r->data, argc, argv, NULL)) == NULL
	    || reply->type == REDIS_REPLY_ERROR) {
		snprintf(err, errsize, "CLIENT TRACKING: %s", reply ? reply->str
			 : redis_client_error(r->data));
		goto fail;
	}
	freeReplyObject(reply);
	r->sub_epoch = redis_client_epoch(r->sub);
	r->data_epoch = redis_client_epoch(r->data);
	r->tracking = true;
	return 0;
fail:
	if (reply)
		freeReplyObject(reply);
	disconnect(r);
	return -1;
}

static void
full_read(struct refresher *r)
{
	struct timespec t0;
	struct lists *next;
	char err[1024];
	int skipped;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	r->next_resync = time(NULL) + r->conf.resync;
	if ((next = lists_refresh(r->lists, r->data, &skipped, err, sizeof(err))) == NULL) {
		warn_failure(r, err);
		return;
	}
	publish(r, next);
	log_info("lists: loaded %zu entries in %ld ms (full)", lists_entries(next), ms_since(&t0));
	warn_skipped(r, skipped, err);
	warn_regexes(r, next);
}

static void
reload_keys(struct refresher *r, const char *const *keys, size_t nkeys)
{
	struct timespec t0;
	struct lists *next;
	char err[1024];
	int skipped;
	size_t i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	next = lists_reload(r->lists, r->data, keys, nkeys, &skipped, err, sizeof(err));
	if (next == NULL) {
		warn_failure(r, err);
		return;
	}
	publish(r, next);
	for (i = 0; i < nkeys; i++)
		log_info("lists: %s reloaded: %zu entries in %ld ms", keys[i],
			 lists_key_entries(next, keys[i]), ms_since(&t0));
	warn_skipped(r, skipped, err);
	warn_regexes(r, next);
}

/* Adds the keys of one invalidation message to keys[]; false when the
 * message says "everything" (a flush) or is not understood. */
static bool
collect(struct refresher *r, const redisReply *m, char keys[][160], size_t *nkeys)
{
	const redisReply *payload;
	size_t i, k;

	if (m->type != REDIS_REPLY_ARRAY || m->elements != 3
	    || m->element[0]->type != REDIS_REPLY_STRING || strcmp(m->element[0]->str, "message") != 0)
		return true;	/* not an invalidation: nothing to do */
	payload = m->element[2];
	if (payload->type != REDIS_REPLY_ARRAY)
		return false;	/* nil: FLUSHDB or FLUSHALL */
	for (i = 0; i < payload->elements; i++) {
		const redisReply *key = payload->element[i];

		if (key->type != REDIS_REPLY_STRING || key->len >= 160
		    || lists_key_kind(r->lists, key->str) == LISTS_KEY_NONE)
			continue;
		for (k = 0; k < *nkeys && strcmp(keys[k], key->str) != 0; k++)
			;
		if (k < *nkeys)
			continue;
		if (*nkeys >= DEBOUNCE_KEYS)
			return false;
		strcpy(keys[(*nkeys)++], key->str);
	}
	return true;
}

/*
 * Waits for changes (at most a second) and reads what they name. A burst
 * of changes (a script adding 10,000 aliases) is one read: messages are
 * gathered while they keep coming DEBOUNCE_MS apart, for at most
 * DEBOUNCE_MAX_MS; past DEBOUNCE_KEYS keys (or a flush) everything is read
 * once, after draining every message already queued, so that a flood of
 * notifications costs one full read, not one per DEBOUNCE_KEYS keys.
 */
static void
follow_changes(struct refresher *r)
{
	char keys[DEBOUNCE_KEYS][160];
	const char *names[DEBOUNCE_KEYS];
	size_t nkeys = 0, i;
	bool ok = true;
	redisReply *m;
	long wait = (long)(r->next_resync - time(NULL)) * 1000;
	struct timespec t0;
	int rc;

	if (wait > 1000)
		wait = 1000;
	if (wait < 0)
		wait = 0;
	if ((rc = redis_read_push(r->sub, (int)wait, &m)) < 0) {
		warn_failure(r, redis_client_error(r->sub));
		r->tracking = false;
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (rc == 0) {
		if (ok)
			ok = collect(r, m, keys, &nkeys);
		freeReplyObject(m);
		/* Overflowed: only drain what is queued. Else: gather more. */
		rc = redis_read_push(r->sub, ok && ms_since(&t0) < DEBOUNCE_MAX_MS
				     ? DEBOUNCE_MS : 0, &m);
		if (ok && rc == 0 && ms_since(&t0) >= DEBOUNCE_MAX_MS) {
			ok = collect(r, m, keys, &nkeys);
			freeReplyObject(m);
			break;	/* read what we have; the rest comes next time */
		}
	}
	if (rc < 0) {
		r->tracking = false;
		return;
	}
	if (!ok) {
		full_read(r);
		return;
	}
	for (i = 0; i < nkeys; i++)
		names[i] = keys[i];
	if (nkeys > 0)
		reload_keys(r, names, nkeys);
}

/* Takes settings handed over by a reload; true when they changed. */
static bool
take_settings(struct refresher *r)
{
	struct list_cache *cache = r->cache;
	bool changed;

	pthread_mutex_lock(&cache->lock);
	changed = cache->reconfigured;
	if (changed) {
		changed = memcmp(&r->redis, &cache->redis, sizeof(r->redis)) != 0
			  || strcmp(r->prefix, cache->prefix) != 0;
		r->conf = cache->conf;
		r->redis = cache->redis;
		memcpy(r->prefix, cache->prefix, sizeof(r->prefix));
		cache->reconfigured = false;
	}
	pthread_mutex_unlock(&cache->lock);
	return changed;
}

/*
 * (Re)makes both clients for the current settings. r->lists is the base
 * the next snapshot is derived from; with a new prefix it starts empty
 * (its key names are the old prefix's), while readers keep the old
 * snapshot until the first full read under the new prefix is published.
 */
static int
open_clients(struct refresher *r)
{
	struct redis_settings bulk = r->redis;

	redis_client_free(r->sub);
	redis_client_free(r->data);
	bulk.timeout_ms = r->conf.bulk_timeout_ms;
	r->sub = redis_client_new(&r->redis);
	r->data = redis_client_new(&bulk);
	r->tracking = false;
	if (r->lists == NULL || strcmp(r->base_prefix, r->prefix) != 0) {
		lists_release(r->lists);
		if ((r->lists = lists_new(r->prefix)) == NULL)
			return -1;
		memcpy(r->base_prefix, r->prefix, sizeof(r->base_prefix));
	}
	return r->sub && r->data ? 0 : -1;
}

static void
idle(struct list_cache *cache, int ms)
{
	while (ms > 0 && !atomic_load(&cache->stopping)) {
		struct timespec ts = { 0, 100 * 1000000L };

		nanosleep(&ts, NULL);
		ms -= 100;
	}
}

static void *
refresher_main(void *arg)
{
	struct refresher r = { .cache = arg };
	char err[1024];

	take_settings(&r);
	if (open_clients(&r) < 0) {
		log_error("lists: cannot start the refresher: out of memory");
		return NULL;
	}
	while (!atomic_load(&r.cache->stopping)) {
		if (take_settings(&r) && open_clients(&r) < 0)
			break;
		if (r.tracking && (redis_client_epoch(r.sub) != r.sub_epoch
				   || redis_client_epoch(r.data) != r.data_epoch))
			r.tracking = false;	/* a connection was made again */
		if (!r.tracking) {
			if (setup_tracking(&r, err, sizeof(err)) < 0) {
				warn_failure(&r, err);
				idle(r.cache, RETRY_MS);
				continue;
			}
			full_read(&r);
			continue;
		}
		if (time(NULL) >= r.next_resync)
			full_read(&r);
		else
			follow_changes(&r);
	}
	redis_client_free(r.sub);
	redis_client_free(r.data);
	lists_release(r.lists);
	return NULL;
}

static void
hand_over(struct list_cache *cache, const struct sluice_config *cfg)
{
	cache->redis = cfg->redis;
	cache->conf = cfg->lists;
	snprintf(cache->prefix, sizeof(cache->prefix), "%s", cfg->redis_prefix);
	cache->reconfigured = true;
}

struct list_cache *
list_cache_start(const struct sluice_config *cfg, int wait_ms, char *err, size_t errsize)
{
	struct list_cache *cache = calloc(1, sizeof(*cache));
	struct timespec until;

	if (cache == NULL || (cache->current = lists_new(cfg->redis_prefix)) == NULL) {
		free(cache);
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&cache->lock, NULL);
	pthread_cond_init(&cache->loaded_cond, NULL);
	hand_over(cache, cfg);
	if (pthread_create(&cache->thread, NULL, refresher_main, cache) != 0) {
		lists_release(cache->current);
		free(cache);
		snprintf(err, errsize, "cannot start the list refresher thread");
		return NULL;
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += wait_ms / 1000;
	until.tv_nsec += (wait_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&cache->lock);
	while (!cache->loaded)
		if (pthread_cond_timedwait(&cache->loaded_cond, &cache->lock, &until) != 0)
			break;
	pthread_mutex_unlock(&cache->lock);
	return cache;
}

const struct lists *
list_cache_acquire(struct list_cache *cache, unsigned long *generation)
{
	const struct lists *lists;

	pthread_mutex_lock(&cache->lock);
	*generation = atomic_load(&cache->generation);
	lists = cache->current;
	lists_hold(lists);
	pthread_mutex_unlock(&cache->lock);
	return lists;
}

unsigned long
list_cache_generation(struct list_cache *cache)
{
	return atomic_load(&cache->generation);
}

void
list_cache_configure(struct list_cache *cache, const struct sluice_config *cfg)
{
	pthread_mutex_lock(&cache->lock);
	hand_over(cache, cfg);
	pthread_mutex_unlock(&cache->lock);
}

void
list_cache_stop(struct list_cache *cache)
{
	if (cache == NULL)
		return;
	atomic_store(&cache->stopping, true);
	pthread_join(cache->thread, NULL);
	lists_release(cache->current);
	pthread_mutex_destroy(&cache->lock);
	pthread_cond_destroy(&cache->loaded_cond);
	free(cache);
}
