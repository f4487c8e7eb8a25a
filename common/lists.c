/*
 * lists.c - snapshots of the Redis lists (see lists.h).
 *
 * Why snapshots of shared parts: a cache per thread (the first design)
 * held a copy of every list per worker and re-read all of them every
 * second, which at 100,000 members meant more memory per worker than the
 * whole daemon needs, a refresh longer than Redis's timeout, and Redis
 * busy sending unchanged lists. Now one refresher per process (list_cache.c)
 * re-reads a list only when Redis says it changed, and each list is a
 * part that snapshots share: building the next snapshot copies pointers.
 * Reading from Redis is lists_read.c's.
 */
#include <ctype.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lists_part.h"

static const char *const list_suffix[LIST_COUNT] = {
	[LIST_PERMIT_IP] = "permit:ip",
	[LIST_PERMIT_MAILBOX] = "permit:mailbox",
	[LIST_PERMIT_DOMAIN] = "permit:domain",
	[LIST_FORBID_IP] = "forbid:ip",
	[LIST_FORBID_MAILBOX] = "forbid:mailbox",
	[LIST_FORBID_DOMAIN] = "forbid:domain",
	[LIST_GREYLIST_IP] = "greylist:allow:ip",
	[LIST_GREYLIST_CLIENT_DOMAIN] = "greylist:allow:client_domain",
	[LIST_GREYLIST_SENDER] = "greylist:allow:sender",
	[LIST_GREYLIST_RECIPIENT] = "greylist:allow:recipient",
	[LIST_INTERNAL] = "internal",
	[LIST_MAILBOXES] = "mailboxes",
	[LIST_RATELIMIT_EXEMPT_IP] = "ratelimit:exempt:ip",
	[LIST_RATELIMIT_EXEMPT_SENDER] = "ratelimit:exempt:sender",
	[LIST_RATELIMIT_EXEMPT_SASL] = "ratelimit:exempt:sasl",
};

const char *
lists_name(enum list_id id)
{
	return id >= 0 && id < LIST_COUNT ? list_suffix[id] : "";
}

const char *const lists_tracked_prefixes[] = {
	"permit:", "forbid:", "greylist:allow:", "internal", "mailboxes",
	"ratelimit:exempt:", "domainmap", "catchall", "copy:", "alias:", NULL
};

static const char *const map_suffix[MAP_COUNT] = {
	[MAP_DOMAINMAP] = "domainmap",
	[MAP_CATCHALL] = "catchall",
	[MAP_COPY_DOMAIN] = "copy:domain",
};


static const struct pattern_list empty_list;

void
part_release(struct list_part *part)
{
	if (part && atomic_fetch_sub(&part->refs, 1) == 1) {
		pattern_list_free(&part->set);
		strmap_free(&part->map);
		free(part);
	}
}

struct list_part *
part_new(void)
{
	struct list_part *part = calloc(1, sizeof(*part));

	if (part)
		atomic_init(&part->refs, 1);
	return part;
}

struct lists *
lists_new(const char *prefix)
{
	struct lists *lists = calloc(1, sizeof(*lists));
	int i;

	if (lists == NULL)
		return NULL;
	atomic_init(&lists->refs, 1);
	snprintf(lists->prefix, sizeof(lists->prefix), "%s", prefix);
	for (i = 0; i < LIST_COUNT; i++)
		snprintf(lists->key[i], sizeof(lists->key[i]), "%s%s", prefix, list_suffix[i]);
	for (i = 0; i < MAP_COUNT; i++)
		snprintf(lists->map_key[i], sizeof(lists->map_key[i]), "%s%s", prefix, map_suffix[i]);
	snprintf(lists->alias_prefix, sizeof(lists->alias_prefix), "%s%s", prefix, ALIAS_SUFFIX);
	return lists;
}

void
lists_hold(const struct lists *lists)
{
	atomic_fetch_add(&((struct lists *)(uintptr_t)lists)->refs, 1);
}

void
lists_release(const struct lists *clists)
{
	struct lists *lists = (struct lists *)(uintptr_t)clists;

	if (lists == NULL || atomic_fetch_sub(&lists->refs, 1) != 1)
		return;
	EACH_PART(lists, p, part_release(*p));
	free(lists);
}

/* A new snapshot sharing every part of old. */
struct lists *
lists_derive(const struct lists *old)
{
	struct lists *lists = malloc(sizeof(*lists));

	if (lists == NULL)
		return NULL;
	memcpy(lists, old, sizeof(*lists));
	atomic_init(&lists->refs, 1);
	EACH_PART(lists, p, if (*p) atomic_fetch_add(&(*p)->refs, 1));
	return lists;
}

bool
lists_loaded(const struct lists *lists)
{
	return lists != NULL && lists->loaded;
}

const struct pattern_list *
lists_get(const struct lists *lists, enum list_id id)
{
	return lists->sets[id] ? &lists->sets[id]->set : &empty_list;
}

/* Lowercased into buf; NULL when it does not fit. */
static const char *
lower(const char *s, char *buf, size_t size)
{
	size_t i;

	for (i = 0; s[i]; i++) {
		if (i + 1 >= size)
			return NULL;
		buf[i] = (char)tolower((unsigned char)s[i]);
	}
	buf[i] = '\0';
	return buf;
}

const char *
lists_map_get(const struct lists *lists, enum map_id id, const char *key)
{
	char buf[ADDRESS_MAX + 1];
	size_t count;

	if (lists->maps[id] == NULL || (key = lower(key, buf, sizeof(buf))) == NULL)
		return NULL;
	return strmap_find(&lists->maps[id]->map, key, &count);
}

const char *
lists_alias(const struct lists *lists, const char *key, size_t *count)
{
	char buf[ADDRESS_MAX + 1];

	*count = 0;
	if (lists->aliases == NULL || (key = lower(key, buf, sizeof(buf))) == NULL)
		return NULL;
	return strmap_find(&lists->aliases->map, key, count);
}

enum list_kind
lists_key_kind(const struct lists *lists, const char *key)
{
	int i;

	for (i = 0; i < LIST_COUNT; i++)
		if (strcmp(key, lists->key[i]) == 0)
			return LISTS_KEY_SET;
	for (i = 0; i < MAP_COUNT; i++)
		if (strcmp(key, lists->map_key[i]) == 0)
			return LISTS_KEY_MAP;
	if (strncmp(key, lists->alias_prefix, strlen(lists->alias_prefix)) == 0
	    && key[strlen(lists->alias_prefix)] != '\0')
		return LISTS_KEY_ALIAS;
	return LISTS_KEY_NONE;
}

size_t
lists_key_entries(const struct lists *lists, const char *key)
{
	size_t count;
	int i;

	for (i = 0; i < LIST_COUNT; i++)
		if (strcmp(key, lists->key[i]) == 0)
			return pattern_list_size(lists_get(lists, i));
	for (i = 0; i < MAP_COUNT; i++)
		if (strcmp(key, lists->map_key[i]) == 0)
			return lists->maps[i] ? lists->maps[i]->map.count : 0;
	if (lists_key_kind(lists, key) == LISTS_KEY_ALIAS && lists->aliases) {
		(void)strmap_find(&lists->aliases->map, key + strlen(lists->alias_prefix), &count);
		return count;
	}
	return 0;
}

size_t
lists_entries(const struct lists *lists)
{
	size_t n = 0;
	int i;

	for (i = 0; i < LIST_COUNT; i++)
		n += pattern_list_size(lists_get(lists, i));
	for (i = 0; i < MAP_COUNT; i++)
		n += lists->maps[i] ? lists->maps[i]->map.count : 0;
	return n + (lists->aliases ? lists->aliases->map.count : 0);
}

const char *
lists_most_regexes(const struct lists *lists, size_t *count)
{
	const char *key = NULL;
	int i;

	*count = 0;
	for (i = 0; i < LIST_COUNT; i++)
		if (lists_get(lists, i)->regex_count > *count) {
			*count = lists_get(lists, i)->regex_count;
			key = lists->key[i];
		}
	return key;
}
