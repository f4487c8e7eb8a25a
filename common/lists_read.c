/*
 * lists_read.c - reading a lists snapshot from Redis (see lists.h).
 *
 * Reading is SSCAN (HSCAN for hashes) in pages of SCAN_COUNT: each page
 * is one round trip with a small reply, so a page's timeout can be short
 * and a list of any size reads without one huge reply held in memory
 * twice. Aliases are one key each: a full read finds them with SCAN and
 * reads a page of them in one pipeline of SMEMBERS; a changed alias is
 * read alone and the others are copied from the old snapshot.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lists_part.h"
#include "log.h"

#define SCAN_COUNT "1000"
#define ALIAS_ONE_BY_ONE 16	/* more changed aliases: read them all */
#define ALIAS_BATCH 1000	/* SMEMBERS in one pipeline */

/* The lists whose members must be IP addresses or CIDR blocks. */
static bool
is_ip_list(int id)
{
	return id == LIST_PERMIT_IP || id == LIST_FORBID_IP || id == LIST_GREYLIST_IP
	       || id == LIST_RATELIMIT_EXEMPT_IP;
}

/*
 * lists_refresh_report()'s callback, for the thread inside that call
 * only (set and cleared there): the readers below report through it
 * without a parameter threaded through every one of them.
 */
static __thread lists_skip_fn skip_fn;
static __thread void *skip_arg;

static void
report_skipped(const char *key, const char *member, const char *why)
{
	char clean[PATTERN_ITEM_MAX + 1];

	if (skip_fn == NULL)
		return;
	log_sanitize(clean, sizeof(clean), member);
	skip_fn(skip_arg, key, clean, why);
}

/* Says why one member was skipped, the first of a refresh: err is logged,
 * and the member came from whoever can write to Redis. */
static void
note_skipped(char *err, size_t errsize, const char *key, const char *member,
	     const char *why)
{
	char clean[PATTERN_ITEM_MAX + 1];

	report_skipped(key, member, why);
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

/* What a page of a scan goes into. */
struct page_sink {
	const char *key;
	bool ip_only;			/* sets: IP lists */
	struct pattern_list *old;	/* sets: regexes to reuse */
	struct list_part *part;
	int *skipped;
	char *err;
	size_t errsize;
};

/* Each returns -1 when memory runs out. */
typedef int (*page_fn)(const redisReply *page, struct page_sink *sink);

static int
set_page(const redisReply *page, struct page_sink *k)
{
	*k->skipped += add_members(page, k->key, k->ip_only, k->old, &k->part->set, k->err,
				   k->errsize);
	return 0;
}

static int
map_page(const redisReply *page, struct page_sink *k)
{
	size_t i;

	for (i = 0; i + 1 < page->elements; i += 2) {
		const redisReply *f = page->element[i], *v = page->element[i + 1];
		const char *value = v->str;

		if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING
		    || strlen(f->str) != (size_t)f->len || strlen(v->str) != (size_t)v->len
		    || f->len == 0 || f->len > ADDRESS_MAX || v->len > ADDRESS_MAX) {
			note_skipped(k->err, k->errsize, k->key, f->type == REDIS_REPLY_STRING
				     ? f->str : "?", "not a field and value of an address or domain");
			(*k->skipped)++;
			continue;
		}
		if (strmap_add(&k->part->map, f->str, &value, 1) < 0)
			return -1;
	}
	return 0;
}

/*
 * Walks key with cmd (SSCAN or HSCAN), one page per round trip, handing
 * each page to fn. A reply that is not a scan page (WRONGTYPE) says so in
 * err; a whole key lost says more than one bad member, so it takes the
 * place of a member's note.
 */
static enum read_result
scan_key(struct redis_client *redis, const char *cmd, const char *what, page_fn fn,
	 struct page_sink *sink)
{
	char cursor[32] = "0";

	do {
		const char *argv[] = { cmd, sink->key, cursor, "COUNT", SCAN_COUNT };
		redisReply *r = redis_command_argv(redis, 5, argv, NULL);

		if (r == NULL) {
			snprintf(sink->err, sink->errsize, "%s", redis_client_error(redis));
			return READ_FAILED;
		}
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
		    || r->element[0]->type != REDIS_REPLY_STRING
		    || r->element[1]->type != REDIS_REPLY_ARRAY) {
			snprintf(sink->err, sink->errsize, "%s: %s", sink->key,
				 r->type == REDIS_REPLY_ERROR ? r->str : what);
			report_skipped(sink->key, "", what);
			(*sink->skipped)++;
			freeReplyObject(r);
			return READ_WRONGTYPE;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		if (fn(r->element[1], sink) < 0) {
			snprintf(sink->err, sink->errsize, "out of memory");
			freeReplyObject(r);
			return READ_FAILED;
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	return READ_OK;
}

/*
 * Reads set id of lists into a new part (*out; NULL for an empty or
 * absent set), or hash id of lists (read_map). Anything but READ_OK
 * leaves *out alone.
 */
static enum read_result
read_set(const struct lists *lists, int id, struct redis_client *redis,
	 struct list_part **out, int *skipped, char *err, size_t errsize)
{
	struct page_sink sink = { lists->key[id], is_ip_list(id),
				  lists->sets[id] ? &lists->sets[id]->set : NULL,
				  part_new(), skipped, err, errsize };
	enum read_result r;

	if (sink.part == NULL) {
		snprintf(err, errsize, "out of memory");
		return READ_FAILED;
	}
	if ((r = scan_key(redis, "SSCAN", "not a set", set_page, &sink)) != READ_OK) {
		part_release(sink.part);
		return r;
	}
	pattern_list_seal(&sink.part->set);
	if (pattern_list_size(&sink.part->set) == 0) {
		part_release(sink.part);
		sink.part = NULL;
	}
	*out = sink.part;
	return READ_OK;
}

static enum read_result
read_map(const struct lists *lists, int id, struct redis_client *redis,
	 struct list_part **out, int *skipped, char *err, size_t errsize)
{
	struct page_sink sink = { lists->map_key[id], false, NULL, part_new(), skipped,
				  err, errsize };
	enum read_result r;

	if (sink.part == NULL) {
		snprintf(err, errsize, "out of memory");
		return READ_FAILED;
	}
	if ((r = scan_key(redis, "HSCAN", "not a hash", map_page, &sink)) != READ_OK) {
		part_release(sink.part);
		return r;
	}
	strmap_seal(&sink.part->map);
	*out = sink.part;
	return READ_OK;
}

/* Adds alias key (its SMEMBERS reply r) to map; returns members skipped. */
static int
add_alias(struct strmap *map, const struct lists *lists, const char *key,
	  const redisReply *r, char *err, size_t errsize)
{
	const char *targets[ALIAS_TARGETS_MAX];
	size_t n = 0, i;
	int skipped = 0;

	if (r->type != REDIS_REPLY_ARRAY) {
		snprintf(err, errsize, "%s: %s", key, r->type == REDIS_REPLY_ERROR ? r->str
			 : "not a set");
		report_skipped(key, "", "not a set");
		return 1;
	}
	for (i = 0; i < r->elements; i++) {
		const redisReply *m = r->element[i];

		if (m->type != REDIS_REPLY_STRING || strlen(m->str) != (size_t)m->len
		    || m->len == 0 || m->len > ADDRESS_MAX || n >= ALIAS_TARGETS_MAX) {
			note_skipped(err, errsize, key, m->type == REDIS_REPLY_STRING ? m->str : "?",
				     n >= ALIAS_TARGETS_MAX ? "too many targets" : "not an address");
			skipped++;
			continue;
		}
		targets[n++] = m->str;
	}
	if (n > 0 && strmap_add(map, key + strlen(lists->alias_prefix), targets, n) < 0)
		skipped++;
	return skipped;
}

/* SMEMBERS of count alias keys in one round trip, added to map. */
static int
read_alias_batch(struct strmap *map, const struct lists *lists, struct redis_client *redis,
		 const char *const *keys, int count, int *skipped, char *err, size_t errsize)
{
	const char **argvs[ALIAS_BATCH];
	const char *argv[ALIAS_BATCH][2];
	int argcs[ALIAS_BATCH], i;
	redisReply *replies[ALIAS_BATCH];

	for (i = 0; i < count; i++) {
		argv[i][0] = "SMEMBERS";
		argv[i][1] = keys[i];
		argvs[i] = argv[i];
		argcs[i] = 2;
	}
	if (count > 0 && redis_pipeline(redis, count, argcs, argvs, replies) < 0) {
		snprintf(err, errsize, "%s", redis_client_error(redis));
		return -1;
	}
	for (i = 0; i < count; i++) {
		*skipped += add_alias(map, lists, keys[i], replies[i], err, errsize);
		freeReplyObject(replies[i]);
	}
	return 0;
}

/* "sluice:alias:*" with the prefix's glob characters escaped. */
static void
alias_pattern(const struct lists *lists, char *out, size_t size)
{
	const char *p;
	size_t n = 0;

	for (p = lists->alias_prefix; *p && n + 3 < size; p++) {
		if (strchr("*?[]\\", *p))
			out[n++] = '\\';
		out[n++] = *p;
	}
	out[n++] = '*';
	out[n] = '\0';
}

/* Every alias: SCAN for their keys, SMEMBERS of each page's keys in one
 * pipeline. SCAN walks the whole keyspace (greylisting's keys too), but
 * only at a full read. */
static enum read_result
read_all_aliases(const struct lists *lists, struct redis_client *redis,
		 struct list_part **out, int *skipped, char *err, size_t errsize)
{
	struct list_part *part = part_new();
	char cursor[32] = "0", match[200];

	if (part == NULL) {
		snprintf(err, errsize, "out of memory");
		return READ_FAILED;
	}
	alias_pattern(lists, match, sizeof(match));
	do {
		const char *argv[] = { "SCAN", cursor, "MATCH", match, "COUNT", SCAN_COUNT };
		const char *keys[ALIAS_BATCH];
		redisReply *r = redis_command_argv(redis, 6, argv, NULL);
		size_t i;
		int n = 0;

		if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2
		    || r->element[0]->type != REDIS_REPLY_STRING
		    || r->element[1]->type != REDIS_REPLY_ARRAY) {
			snprintf(err, errsize, "SCAN: %s", r == NULL ? redis_client_error(redis)
				 : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
			if (r)
				freeReplyObject(r);
			part_release(part);
			return READ_FAILED;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		for (i = 0; i < r->element[1]->elements; i++) {
			const redisReply *k = r->element[1]->element[i];

			if (k->type != REDIS_REPLY_STRING || strlen(k->str) != (size_t)k->len)
				continue;
			keys[n++] = k->str;
			if (n == ALIAS_BATCH || i + 1 == r->element[1]->elements) {
				if (read_alias_batch(&part->map, lists, redis, keys, n, skipped,
						     err, errsize) < 0) {
					freeReplyObject(r);
					part_release(part);
					return READ_FAILED;
				}
				n = 0;
			}
		}
		if (n > 0 && read_alias_batch(&part->map, lists, redis, keys, n, skipped, err,
					      errsize) < 0) {
			freeReplyObject(r);
			part_release(part);
			return READ_FAILED;
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	strmap_seal(&part->map);
	*out = part;
	return READ_OK;
}

/* The aliases of old with the named keys read again (and the others
 * copied): a change to one alias does not read 100,000. */
static enum read_result
read_some_aliases(const struct lists *lists, struct redis_client *redis,
		  const char *const *keys, size_t nkeys, struct list_part **out, int *skipped,
		  char *err, size_t errsize)
{
	struct list_part *part = part_new();
	struct strmap tmp;
	const struct strmap *from = lists->aliases ? &lists->aliases->map : NULL;
	size_t i;

	if (part == NULL) {
		snprintf(err, errsize, "out of memory");
		return READ_FAILED;
	}
	for (i = 0; i < nkeys; i++) {
		const char *suffix = keys[i] + strlen(lists->alias_prefix);

		if (from && strmap_copy_except(&tmp, from, suffix) < 0) {
			snprintf(err, errsize, "out of memory");
			part_release(part);
			return READ_FAILED;
		}
		if (from) {
			strmap_free(&part->map);
			part->map = tmp;
			from = &part->map;
		}
	}
	if (read_alias_batch(&part->map, lists, redis, keys, (int)nkeys, skipped, err,
			     errsize) < 0) {
		part_release(part);
		return READ_FAILED;
	}
	strmap_seal(&part->map);
	*out = part;
	return READ_OK;
}

/* What a rebuild reads again. */
struct wanted {
	bool sets[LIST_COUNT];
	bool maps[MAP_COUNT];
	bool all_aliases;
	const char *aliases[ALIAS_ONE_BY_ONE];
	size_t nalias;
};

/* Puts a new part in place of *slot, by the outcome of reading it. */
static int
place(enum read_result r, struct list_part **slot, struct list_part *part)
{
	if (r == READ_FAILED)
		return -1;
	if (r == READ_OK) {	/* a wrong type keeps its last good contents */
		part_release(*slot);
		*slot = part;
	}
	return 0;
}

static struct lists *
rebuild(const struct lists *old, const struct wanted *w, struct redis_client *redis,
	int *skipped, char *err, size_t errsize)
{
	struct lists *next = lists_derive(old);
	struct list_part *part = NULL;
	enum read_result r;
	int i;

	*skipped = 0;
	err[0] = '\0';
	if (next == NULL) {
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	for (i = 0; i < LIST_COUNT; i++) {
		if (!w->sets[i])
			continue;
		r = read_set(next, i, redis, &part, skipped, err, errsize);
		if (place(r, &next->sets[i], part) < 0)
			goto fail;
	}
	for (i = 0; i < MAP_COUNT; i++) {
		if (!w->maps[i])
			continue;
		r = read_map(next, i, redis, &part, skipped, err, errsize);
		if (place(r, &next->maps[i], part) < 0)
			goto fail;
	}
	if (w->all_aliases || w->nalias > 0) {
		r = w->all_aliases ? read_all_aliases(next, redis, &part, skipped, err, errsize)
		    : read_some_aliases(next, redis, w->aliases, w->nalias, &part, skipped,
					err, errsize);
		if (place(r, &next->aliases, part) < 0)
			goto fail;
	}
	return next;
fail:
	lists_release(next);
	return NULL;
}

struct lists *
lists_refresh(const struct lists *old, struct redis_client *redis, int *skipped,
	      char *err, size_t errsize)
{
	struct lists *next;
	struct wanted w;

	memset(&w, 0, sizeof(w));
	memset(w.sets, 1, sizeof(w.sets));
	memset(w.maps, 1, sizeof(w.maps));
	w.all_aliases = true;
	next = rebuild(old, &w, redis, skipped, err, errsize);
	if (next)
		next->loaded = true;	/* lists_derive() passes it on to reloads */
	return next;
}

struct lists *
lists_reload(const struct lists *old, struct redis_client *redis, const char *const *keys,
	     size_t nkeys, int *skipped, char *err, size_t errsize)
{
	struct wanted w;
	size_t k;
	int i;

	memset(&w, 0, sizeof(w));
	for (k = 0; k < nkeys; k++) {
		for (i = 0; i < LIST_COUNT; i++)
			if (strcmp(keys[k], old->key[i]) == 0)
				w.sets[i] = true;
		for (i = 0; i < MAP_COUNT; i++)
			if (strcmp(keys[k], old->map_key[i]) == 0)
				w.maps[i] = true;
		if (lists_key_kind(old, keys[k]) == LISTS_KEY_ALIAS) {
			if (w.nalias < ALIAS_ONE_BY_ONE)
				w.aliases[w.nalias++] = keys[k];
			else
				w.all_aliases = true;
		}
	}
	return rebuild(old, &w, redis, skipped, err, errsize);
}


struct lists *
lists_refresh_report(const struct lists *old, struct redis_client *redis, lists_skip_fn fn,
		     void *arg, int *skipped, char *err, size_t errsize)
{
	struct lists *next;

	skip_fn = fn;
	skip_arg = arg;
	next = lists_refresh(old, redis, skipped, err, errsize);
	skip_fn = NULL;
	skip_arg = NULL;
	return next;
}
