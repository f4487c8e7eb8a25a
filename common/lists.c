/*
 * lists.c - a per-thread cache of the Redis lists of the spec.
 *
 * Why a cache refreshed every second instead of a lookup per decision:
 * the IP lists hold CIDR blocks and the mailbox lists /regex/ members,
 * which Redis cannot match, and a lookup per list per request would
 * multiply the round trips that set the policy daemon's speed. The whole
 * refresh is one pipelined round trip.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lists.h"
#include "log.h"

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
};

/* The lists whose members must be IP addresses or CIDR blocks. */
static bool
is_ip_list(int id)
{
	return id == LIST_PERMIT_IP || id == LIST_FORBID_IP || id == LIST_GREYLIST_IP;
}

struct lists {
	char key[LIST_COUNT][128];
	struct pattern_list list[LIST_COUNT];
};

struct lists *
lists_new(const char *prefix)
{
	struct lists *lists = calloc(1, sizeof(*lists));
	int i;

	if (lists == NULL)
		return NULL;
	for (i = 0; i < LIST_COUNT; i++)
		snprintf(lists->key[i], sizeof(lists->key[i]), "%s%s", prefix, list_suffix[i]);
	return lists;
}

void
lists_free(struct lists *lists)
{
	int i;

	if (lists == NULL)
		return;
	for (i = 0; i < LIST_COUNT; i++)
		pattern_list_free(&lists->list[i]);
	free(lists);
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

/* Builds one list from an SMEMBERS reply; returns members skipped. The
 * regexes of old (the list being replaced) are kept, not compiled again,
 * when the member is still there: most refreshes change nothing. */
static int
build_list(const redisReply *reply, const char *key, bool ip_only,
	   struct pattern_list *old, struct pattern_list *out, char *err, size_t errsize)
{
	struct net_cidr block;
	const char *why;
	int skipped = 0;
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < reply->elements; i++) {
		const redisReply *m = reply->element[i];

		if (m->type != REDIS_REPLY_STRING || strlen(m->str) != (size_t)m->len)
			why = "not a string without NUL bytes";
		else if (ip_only && net_cidr_parse(m->str, &block) < 0)
			why = "not an IP address or CIDR block";
		else if (pattern_list_add_reuse(out, m->str, old, &why) == 0)
			continue;
		note_skipped(err, errsize, key, m->type == REDIS_REPLY_STRING ? m->str : "?", why);
		skipped++;
	}
	pattern_list_seal(out);
	return skipped;
}

int
lists_refresh(struct lists *lists, struct redis_client *redis, char *err, size_t errsize)
{
	const char *argv[LIST_COUNT][2];
	const char **argvs[LIST_COUNT];
	int argcs[LIST_COUNT];
	redisReply *replies[LIST_COUNT];
	struct pattern_list fresh;
	int i, skipped = 0;

	for (i = 0; i < LIST_COUNT; i++) {
		argv[i][0] = "SMEMBERS";
		argv[i][1] = lists->key[i];
		argvs[i] = argv[i];
		argcs[i] = 2;
	}
	if (redis_pipeline(redis, LIST_COUNT, argcs, argvs, replies) < 0) {
		snprintf(err, errsize, "%s", redis_client_error(redis));
		return -1;
	}
	err[0] = '\0';
	for (i = 0; i < LIST_COUNT; i++) {
		if (replies[i]->type != REDIS_REPLY_ARRAY) {
			/* Say so, keep what we had for this list, go on. */
			snprintf(err, errsize, "%s: %s", lists->key[i],
				 replies[i]->type == REDIS_REPLY_ERROR ? replies[i]->str
				 : "not a set");
			skipped++;
			continue;
		}
		skipped += build_list(replies[i], lists->key[i], is_ip_list(i), &lists->list[i],
				      &fresh, err, errsize);
		pattern_list_free(&lists->list[i]);
		lists->list[i] = fresh;
	}
	for (i = 0; i < LIST_COUNT; i++)
		freeReplyObject(replies[i]);
	return skipped;
}

const struct pattern_list *
lists_get(const struct lists *lists, enum list_id id)
{
	return &lists->list[id];
}
