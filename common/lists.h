/*
 * lists.h - the admin's Redis lists: immutable snapshots, and how one is
 * read from Redis.
 *
 * Interface:
 *   lists_new()       an empty snapshot for a key prefix ("sluice:").
 *   lists_refresh()   a new snapshot with every list read again (a full
 *                     re-read), or NULL when Redis failed (the old one is
 *                     then still the one to use).
 *   lists_refresh_report()  the same, reporting each member it skips.
 *   lists_reload()    a new snapshot in which only the named keys are read
 *                     again; every other list is shared with the old one.
 *   lists_hold(), lists_release()  reference counting; the last release
 *                     frees.
 *   lists_get()       one set, for the pattern_match_*() calls.
 *   lists_map_get(), lists_alias()  a field of a hash (sluice:domainmap,
 *                     sluice:catchall, sluice:copy:domain), the targets of
 *                     an alias (sluice:alias:<address>, one key each).
 *   lists_loaded()    whether the snapshot comes from a full read of
 *                     Redis that succeeded (or from reloads of one): false
 *                     for lists_new()'s empty one, so a daemon whose Redis
 *                     was down since start knows it has no lists at all
 *                     (then its fail_open decides), not empty ones.
 *   lists_key_kind()  whether a Redis key is one of the lists (so a change
 *                     notification for it matters).
 *
 * Contract: a snapshot never changes once made, so any number of threads
 * may read one while another builds the next (list_cache.h does the
 * swapping). A list is an immutable part with its own count: a new
 * snapshot shares the parts that did not change, so a change to one small
 * list costs nothing for a big one. Big sets are read in pages (SSCAN),
 * each page bounded by the Redis client's timeout (the cache gives its
 * client redis.bulk_timeout_ms), so no reply is ever a whole 100,000
 * member list. Aliases, one key each, are found with SCAN at a full read
 * and read in pipelines of SMEMBERS; a changed alias is read alone.
 * Members that are not valid items (say "10.0.0.0/99" in an
 * IP list) are skipped and counted, not fatal: one typo must not empty a
 * whole list; err names the first one skipped and why. A key of the wrong
 * type keeps its last good contents. /regex/ members are bounded as
 * patterns.h says; a regex member still present keeps its compiled form.
 */
#ifndef SLUICE_LISTS_H
#define SLUICE_LISTS_H

#include <stddef.h>

#include "patterns.h"
#include "redis.h"
#include "strmap.h"

enum list_id {
	LIST_PERMIT_IP,
	LIST_PERMIT_MAILBOX,
	LIST_PERMIT_DOMAIN,
	LIST_FORBID_IP,
	LIST_FORBID_MAILBOX,
	LIST_FORBID_DOMAIN,
	LIST_GREYLIST_IP,
	LIST_GREYLIST_CLIENT_DOMAIN,
	LIST_GREYLIST_SENDER,
	LIST_GREYLIST_RECIPIENT,
	LIST_INTERNAL,		/* internal-only addresses */
	LIST_MAILBOXES,		/* the valid mailboxes */
	LIST_RATELIMIT_EXEMPT_IP,	/* clients no rate limit counts */
	LIST_RATELIMIT_EXEMPT_SENDER,	/* senders (address, domain, /regex/) */
	LIST_RATELIMIT_EXEMPT_SASL,	/* SASL login names */
	LIST_COUNT
};

enum map_id {
	MAP_DOMAINMAP,		/* source domain -> destination domain */
	MAP_CATCHALL,		/* domain -> mailbox */
	MAP_COPY_DOMAIN,	/* domain -> address of a hidden copy */
	MAP_COUNT
};

#define ALIAS_TARGETS_MAX 1000	/* targets of one alias; more are skipped */

/* What a key of the lists is, for change notifications. */
enum list_kind { LISTS_KEY_NONE, LISTS_KEY_SET, LISTS_KEY_MAP, LISTS_KEY_ALIAS };

struct lists;

struct lists *lists_new(const char *prefix);
void lists_hold(const struct lists *lists);
void lists_release(const struct lists *lists);

/* *skipped: members (or whole keys of the wrong type, whose old contents
 * stay) skipped, with err naming one. NULL: Redis failed, err says why. */
struct lists *lists_refresh(const struct lists *old, struct redis_client *redis,
			    int *skipped, char *err, size_t errsize);
/* lists_refresh() that also calls fn for every member it skips (key,
 * the member sanitized as for the log, why) and every key of the wrong
 * type (member ""): sluice-ctl lists check. */
typedef void (*lists_skip_fn)(void *arg, const char *key, const char *member,
			      const char *why);
struct lists *lists_refresh_report(const struct lists *old, struct redis_client *redis,
				   lists_skip_fn fn, void *arg, int *skipped, char *err,
				   size_t errsize);
struct lists *lists_reload(const struct lists *old, struct redis_client *redis,
			   const char *const *keys, size_t nkeys, int *skipped,
			   char *err, size_t errsize);

bool lists_loaded(const struct lists *lists);
const struct pattern_list *lists_get(const struct lists *lists, enum list_id id);
/* A field of a hash (case-insensitive), or NULL. */
const char *lists_map_get(const struct lists *lists, enum map_id id, const char *key);
/* The targets of alias key ("user@example.com", "postmaster@*"): the first,
 * then strmap_next() for each of the *count - 1 others; NULL if none. */
const char *lists_alias(const struct lists *lists, const char *key, size_t *count);
enum list_kind lists_key_kind(const struct lists *lists, const char *key);
/* Entries in all lists (members, fields, aliases), for the log. */
size_t lists_entries(const struct lists *lists);
size_t lists_key_entries(const struct lists *lists, const char *key);
/* The list with the most /regex/ members (NULL if none has any). */
const char *lists_most_regexes(const struct lists *lists, size_t *count);
/* A list's key without the prefix ("permit:ip"), for metrics. */
const char *lists_name(enum list_id id);
/* The key prefixes a change notification must cover (for CLIENT
 * TRACKING ... PREFIX), NULL-terminated, without the common prefix. */
extern const char *const lists_tracked_prefixes[];

#endif
