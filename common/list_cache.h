/*
 * list_cache.h - one cache of the Redis lists per process, kept current
 * by a thread of its own.
 *
 * Interface:
 *   list_cache_start()    starts the refresher for cfg's Redis and prefix
 *                         and waits (at most wait_ms) for the first full
 *                         read, so that the first decision sees the lists.
 *   list_cache_acquire()  the current snapshot, held (lists_release() it);
 *                         *generation says which one it is.
 *   list_cache_generation() cheap: has a newer snapshot come?
 *   list_cache_configure() a reloaded config: new Redis settings or prefix
 *                         make the refresher reconnect and read everything.
 *   list_cache_stop()     stops the thread and frees the cache.
 *
 * Contract: readers never wait for Redis or for each other: acquire takes
 * a mutex for a pointer copy and a count, and a reader that checks
 * list_cache_generation() first acquires only when something changed.
 * Change detection is Redis's client-side caching in broadcast mode: the
 * refresher's data connection runs CLIENT TRACKING ... BCAST with a PREFIX
 * per kind of list (lists_tracked_prefixes), redirected to its second
 * connection, subscribed to __redis__:invalidate. Redis then names every
 * changed key within milliseconds of the change (SADD, SREM, DEL, RENAME,
 * EXPIRE, FLUSHALL: any writer, any host), with no server setting to make
 * and no traffic while nothing changes; only the named lists are read
 * again. Everything is read again after each (re)connect of either
 * connection (a notification may have been lost: a Redis restart, a
 * Sentinel failover) and every redis.lists_resync as a safety net. A read
 * that fails or times out keeps the last good contents and never touches
 * the connections decisions use (the refresher has its own).
 */
#ifndef SLUICE_LIST_CACHE_H
#define SLUICE_LIST_CACHE_H

#include "config.h"
#include "lists.h"

struct list_cache;

struct list_cache *list_cache_start(const struct sluice_config *cfg, int wait_ms,
				    char *err, size_t errsize);
const struct lists *list_cache_acquire(struct list_cache *cache, unsigned long *generation);
unsigned long list_cache_generation(struct list_cache *cache);
void list_cache_configure(struct list_cache *cache, const struct sluice_config *cfg);
void list_cache_stop(struct list_cache *cache);

#endif
