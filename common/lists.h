/*
 * lists.h - the admin's Redis lists, cached in memory.
 *
 * Interface:
 *   lists_new()      the key names under a prefix ("sluice:permit:ip", ...).
 *   lists_refresh()  reads every list in one round trip (a pipeline of
 *                    SMEMBERS) and swaps the new contents in; on a Redis
 *                    failure the old contents stay and -1 says why.
 *   lists_get()      one list, for the pattern_match_*() calls.
 *
 * Contract: the spec promises that a change made with redis-cli reaches
 * every host within one second with no restart; callers refresh once a
 * second, so a decision never costs a Redis round trip for a list. Members
 * that are not valid items (say "10.0.0.0/99" in an IP list) are skipped
 * and counted, not fatal: one typo must not empty a whole list; err names
 * the first one skipped and why. /regex/ members are bounded as patterns.h
 * says (length, compiled size, count per list), so no member written to
 * Redis can stall a refresh; a regex member still present at the next
 * refresh keeps its compiled form. One cache belongs to one thread.
 */
#ifndef SLUICE_LISTS_H
#define SLUICE_LISTS_H

#include <stddef.h>

#include "patterns.h"
#include "redis.h"

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
	LIST_COUNT
};

struct lists;

struct lists *lists_new(const char *prefix);
void lists_free(struct lists *lists);
/* Returns the number of members (or whole keys of the wrong type, whose
 * old contents stay) skipped, with err naming one; -1 when Redis failed. */
int lists_refresh(struct lists *lists, struct redis_client *redis, char *err, size_t errsize);
const struct pattern_list *lists_get(const struct lists *lists, enum list_id id);

#endif
