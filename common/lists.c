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
 *
 * Reading is SSCAN in pages of SCAN_COUNT: each page is one round trip
 * with a small reply, so a page's timeout can be short and a list of any
 * size reads without one huge reply held in memory twice.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lists.h"
#include "log.h"

#define SCAN_COUNT "1000"

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
};

const char *const lists_tracked_prefixes[] = {
	"permit:", "forbid:", "greylist:allow:", "internal", "mailboxes",
	"domainmap", "catchall", "copy:", "alias:", NULL
};

/* The lists whose members must be IP addresses or CIDR blocks. */
static bool
is_ip_list(int id)
{
	return id == LIST_PERMIT_IP || id == LIST_FORBID_IP || id == LIST_GREYLIST_IP;
}

struct list_part {
	atomic_int refs;
	struct pattern_list set;
};

struct lists {
	atomic_int refs;
	char prefix[72];
	char key[LIST_COUNT][128];
	struct list_part *sets[LIST_COUNT];	/* NULL: empty */
};

static const struct pattern_list empty_list;

static void
part_release(struct list_part *part)
{
	if (part && atomic_fetch_sub(&part->refs, 1) == 1) {
		pattern_list_free(&part->set);
		free(part);
	}
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
	int i;

	if (lists == NULL || atomic_fetch_sub(&lists->refs, 1) != 1)
		return;
	for (i = 0; i < LIST_COUNT; i++)
		part_release(lists->sets[i]);
	free(lists);
}

/* A new snapshot sharing every part of old. */
static struct lists *
derive(const struct lists *old)
{
	struct lists *lists = malloc(sizeof(*lists));
	int i;

	if (lists == NULL)
		return NULL;
	memcpy(lists, old, sizeof(*lists));
	atomic_init(&lists->refs, 1);
	for (i = 0; i < LIST_COUNT; i++)
		if (lists->sets[i])
			atomic_fetch_add(&lists->sets[i]->refs, 1);
	return lists;
}

/* Says why one member was skipped, the first of a refresh: err is logged,
 * and the member came from whoever can write to Redis. */
static void
note_skipped(char *err, size_t errsize, const char *key, const char *member,
	     const char *why)
{
	char clean[PATTERN_ITEM_MAX + 1];

	if (err[0] != '\0')
		return;
	log_sanitize(clean, sizeof(clean), member);
	snprintf(err, errsize, "%s: '%s%s': %s", key, clean,
		 strlen(member) >= sizeof(clean) ? "..." : "", why);
}

/* Adds one page of members; returns members skipped. */
static int
add_members(const redisReply *page, const char *key, bool ip_only,
	    struct pattern_list *old, struct pattern_list *out, char *err, size_t errsize)
{
	struct net_cidr block;
	const char *why;
	int skipped = 0;
	size_t i;

	for (i = 0; i < page->elements; i++) {
		const redisReply *m = page->element[i];

		if (m->type != REDIS_REPLY_STRING || strlen(m->str) != (size_t)m->len)
			why = "not a string without NUL bytes";
		else if (ip_only && net_cidr_parse(m->str, &block) < 0)
			why = "not an IP address or CIDR block";
		else if (pattern_list_add_reuse(out, m->str, old, &why) == 0)
			continue;
		note_skipped(err, errsize, key, m->type == REDIS_REPLY_STRING ? m->str : "?", why);
		skipped++;
	}
	return skipped;
}

enum read_result { READ_OK, READ_WRONGTYPE, READ_FAILED };

/*
 * Reads set id of lists with SSCAN into a new part (*out; NULL for an
 * empty or absent set). A wrong type, or a page that is not what SSCAN
 * answers, leaves *out alone and says so in err.
 */
static enum read_result
read_set(const struct lists *lists, int id, struct redis_client *redis,
	 struct list_part **out, int *skipped, char *err, size_t errsize)
{
	const char *key = lists->key[id];
	struct pattern_list *old = lists->sets[id] ? &lists->sets[id]->set : NULL;
	struct list_part *part = calloc(1, sizeof(*part));
	char cursor[32] = "0";

	if (part == NULL) {
		snprintf(err, errsize, "out of memory");
		return READ_FAILED;
	}
	atomic_init(&part->refs, 1);
	do {
		const char *argv[] = { "SSCAN", key, cursor, "COUNT", SCAN_COUNT };
		redisReply *r = redis_command_argv(redis, 5, argv, NULL);

		if (r == NULL) {
			snprintf(err, errsize, "%s", redis_client_error(redis));
			part_release(part);
			return READ_FAILED;
		}
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
		    || r->element[0]->type != REDIS_REPLY_STRING
		    || r->element[1]->type != REDIS_REPLY_ARRAY) {
			/* A whole key lost says more than one bad member: it
			 * takes the place of a member's note in err. */
			snprintf(err, errsize, "%s: %s", key,
				 r->type == REDIS_REPLY_ERROR ? r->str : "not a set");
			(*skipped)++;
			freeReplyObject(r);
			part_release(part);
			return READ_WRONGTYPE;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		*skipped += add_members(r->element[1], key, is_ip_list(id), old, &part->set,
					err, errsize);
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	pattern_list_seal(&part->set);
	if (pattern_list_size(&part->set) == 0) {
		part_release(part);
		part = NULL;
	}
	*out = part;
	return READ_OK;
}

/* Reads the sets marked in which[] into next (a snapshot of its own). */
static int
read_sets(struct lists *next, const bool *which, struct redis_client *redis, int *skipped,
	  char *err, size_t errsize)
{
	int i;

	for (i = 0; i < LIST_COUNT; i++) {
		struct list_part *part;

		if (!which[i])
			continue;
		switch (read_set(next, i, redis, &part, skipped, err, errsize)) {
		case READ_FAILED:
			return -1;
		case READ_WRONGTYPE:
			break;	/* keeps its last good contents */
		case READ_OK:
			part_release(next->sets[i]);
			next->sets[i] = part;
			break;
		}
	}
	return 0;
}

static struct lists *
rebuild(const struct lists *old, const bool *which, struct redis_client *redis,
	int *skipped, char *err, size_t errsize)
{
	struct lists *next = derive(old);

	*skipped = 0;
	err[0] = '\0';
	if (next == NULL) {
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	if (read_sets(next, which, redis, skipped, err, errsize) < 0) {
		lists_release(next);
		return NULL;
	}
	return next;
}

struct lists *
lists_refresh(const struct lists *old, struct redis_client *redis, int *skipped,
	      char *err, size_t errsize)
{
	bool all[LIST_COUNT];
	int i;

	for (i = 0; i < LIST_COUNT; i++)
		all[i] = true;
	return rebuild(old, all, redis, skipped, err, errsize);
}

struct lists *
lists_reload(const struct lists *old, struct redis_client *redis, const char *const *keys,
	     size_t nkeys, int *skipped, char *err, size_t errsize)
{
	bool which[LIST_COUNT] = { false };
	size_t k;
	int i;

	for (k = 0; k < nkeys; k++)
		for (i = 0; i < LIST_COUNT; i++)
			if (strcmp(keys[k], old->key[i]) == 0)
				which[i] = true;
	return rebuild(old, which, redis, skipped, err, errsize);
}

const struct pattern_list *
lists_get(const struct lists *lists, enum list_id id)
{
	return lists->sets[id] ? &lists->sets[id]->set : &empty_list;
}

enum list_kind
lists_key_kind(const struct lists *lists, const char *key)
{
	int i;

	for (i = 0; i < LIST_COUNT; i++)
		if (strcmp(key, lists->key[i]) == 0)
			return LISTS_KEY_SET;
	return LISTS_KEY_NONE;
}

size_t
lists_key_entries(const struct lists *lists, const char *key)
{
	int i;

	for (i = 0; i < LIST_COUNT; i++)
		if (strcmp(key, lists->key[i]) == 0)
			return pattern_list_size(lists_get(lists, i));
	return 0;
}

size_t
lists_entries(const struct lists *lists)
{
	size_t n = 0;
	int i;

	for (i = 0; i < LIST_COUNT; i++)
		n += pattern_list_size(lists_get(lists, i));
	return n;
}
