/*
 * script_bundle.h - several checks' scripts in one EVALSHA.
 *
 * Why: on one Redis a script call has a fixed cost (10-20 us of Redis's
 * CPU on the bench machine, more than the GCRA step or the greylisting
 * step inside it), and a request that is rate-limited and greylisted
 * made two calls. The bundle is one script that holds the scripts of
 * several checks (the fragments, registered in script_bundle.c) as Lua
 * functions and runs the segments of one call in order: the keys and
 * args of each segment are given to its fragment as offsets into KEYS
 * and ARGV, so a fragment's text is the check's own script (less its
 * first line, which sets those offsets for the script run alone;
 * script_bundle.c). A segment's error is its own (pcall). A fragment may
 * return a second value, true, to stop the bundle there (a rate limit
 * refused: greylisting must not run for a refused request); run alone
 * by EVALSHA, Redis ignores that second value.
 *
 * Interface:
 *   script_bundle_open()   the bundle's text and script object (one per
 *                          check chain, freed by script_bundle_close()).
 *   script_bundle_join()   one call of the bundle from two calls of
 *                          fragments: 0, or -1 when either script is not
 *                          a fragment or the two do not fit one call.
 *   script_bundle_segment()  the i-th (from 0) segment's reply of the
 *                          bundle's reply, or NULL when the bundle did
 *                          not run that far (a segment before stopped it)
 *                          or the reply is not an array (Redis failed:
 *                          then both segments get the failure).
 *
 * Call layout: KEYS the first call's keys, then the second's; ARGV "2",
 * then per segment its fragment number, key count and arg count, then
 * the first call's args, then the second's. The reply: an array of the
 * segments' replies, one per segment that ran.
 *
 * The keys of the two calls are of different hash slots: fine on one
 * Redis or a Sentinel-managed primary, refused by Cluster, which sluice
 * does not speak (README), as with the rate limits' one call.
 */
#ifndef SLUICE_POLICY_SCRIPT_BUNDLE_H
#define SLUICE_POLICY_SCRIPT_BUNDLE_H

#include "redis.h"

struct script_bundle {
	char *source;
	struct redis_script script;
};

int script_bundle_open(struct script_bundle *bundle);
void script_bundle_close(struct script_bundle *bundle);
/* Joins first and second into *out (out's strings are theirs and
 * constants: they must outlive it). */
int script_bundle_join(struct script_bundle *bundle, const struct redis_eval_call *first,
		       const struct redis_eval_call *second, struct redis_eval_call *out);
const redisReply *script_bundle_segment(const redisReply *reply, size_t i);

#endif
