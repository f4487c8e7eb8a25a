/*
 * script_bundle.c - several checks' scripts in one EVALSHA (see
 * script_bundle.h for the why and the call layout).
 *
 * The fragments are the checks' own script texts. Each begins with one
 * line that sets, for the script run alone, the four names a segment is
 * given ("local k, a, clock[, nk] = ..."); the bundle wraps the rest as
 * "F[n] = function(k, a, clock, nk) <rest> end": a fragment reads its
 * keys and args at the offsets k and a, and the bundle's TIME (one for
 * all), so the text runs alone as it does in the bundle. A function's
 * named parameters, not `...`: Redis before 7 runs a script as a
 * function without varargs, where `...` does not compile.
 * No table is built per segment: a Lua table cost 2 us of Redis's CPU on
 * the bench machine.
 * A check's script is a fragment when its source is one of fragments[]
 * below (by address: the check's redis_script points at the very text).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "script_bundle.h"

extern const char greylist_lua[];
extern const char greylist_peek_lua[];
extern const char ratelimit_multi_lua[];

/* Fragment n is fragments[n - 1]: the number goes into the call. */
static const char *const fragments[] = {
	ratelimit_multi_lua,
	greylist_lua,
	greylist_peek_lua,
};
#define FRAGMENTS (sizeof(fragments) / sizeof(fragments[0]))

static const char bundle_head[] = "local F = {}\n";

/* How every fragment's first line begins (see the top). */
#define FRAGMENT_HEAD "local k, a, clock"

/* One TIME for all segments; a segment's offsets are where its keys and
 * args begin (its first arg is ARGV[a + 1]). Each segment runs under
 * pcall: an error (a key of the wrong type, out of memory) is that
 * segment's reply alone, an error element of the array, as it would be
 * from a call of its own; the next segment still runs. */
static const char bundle_tail[] =
	"local t = redis.call('TIME')\n"
	"local segments = tonumber(ARGV[1])\n"
	"local out, k, a = {}, 0, 1 + 3 * segments\n"
	"for s = 1, segments do\n"
	"  local f = F[tonumber(ARGV[3 * s - 1])]\n"
	"  local nk, na = tonumber(ARGV[3 * s]), tonumber(ARGV[3 * s + 1])\n"
	"  local ok, r, stop = pcall(f, k, a, t, nk)\n"
	"  if not ok then\n"
	"    if type(r) ~= 'table' or r.err == nil then r = { err = 'ERR ' .. tostring(r) } end\n"
	"    stop = false\n"
	"  end\n"
	"  out[s] = r\n"
	"  if stop then break end\n"
	"  k, a = k + nk, a + na\n"
	"end\n"
	"return out\n";

/* The numbers a call carries (fragment numbers, key and arg counts),
 * as text that outlives every call. */
static const char *const numbers[] = {
	"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13",
	"14", "15", "16", "17", "18", "19", "20", "21", "22", "23", "24", "25",
	"26", "27", "28", "29", "30", "31", "32", "33", "34", "35", "36", "37",
	"38", "39", "40",
};
#define NUMBERS ((int)(sizeof(numbers) / sizeof(numbers[0])))

int
script_bundle_open(struct script_bundle *bundle)
{
	size_t size = sizeof(bundle_head) + sizeof(bundle_tail), used, i;
	int n;

	memset(bundle, 0, sizeof(*bundle));
	for (i = 0; i < FRAGMENTS; i++)
		size += strlen(fragments[i]) + 64;
	if ((bundle->source = malloc(size)) == NULL)
		return -1;
	used = (size_t)snprintf(bundle->source, size, "%s", bundle_head);
	for (i = 0; i < FRAGMENTS; i++) {
		const char *rest = strchr(fragments[i], '\n');

		/* the first line is the script alone's: not in the bundle */
		if (strncmp(fragments[i], FRAGMENT_HEAD, strlen(FRAGMENT_HEAD)) != 0 || rest == NULL)
			goto fail;
		n = snprintf(bundle->source + used, size - used,
			     "F[%zu] = function(k, a, clock, nk)\n%s\nend\n", i + 1, rest + 1);
		if (n < 0 || (size_t)n >= size - used)
			goto fail;
		used += (size_t)n;
	}
	n = snprintf(bundle->source + used, size - used, "%s", bundle_tail);
	if (n < 0 || (size_t)n >= size - used)
		goto fail;
	bundle->script.source = bundle->source;
	return 0;
fail:
	free(bundle->source);
	bundle->source = NULL;
	return -1;
}

void
script_bundle_close(struct script_bundle *bundle)
{
	free(bundle->source);
	memset(bundle, 0, sizeof(*bundle));
}

/* The call's fragment number, or 0 when its script is none. */
static int
fragment_of(const struct redis_eval_call *call)
{
	size_t i;

	for (i = 0; call->script != NULL && i < FRAGMENTS; i++)
		if (call->script->source == fragments[i])
			return (int)i + 1;
	return 0;
}

int
script_bundle_join(struct script_bundle *bundle, const struct redis_eval_call *first,
		   const struct redis_eval_call *second, struct redis_eval_call *out)
{
	const struct redis_eval_call *seg[2] = { first, second };
	int frag[2], s, i, n = 0;

	if (bundle->source == NULL)
		return -1;
	for (s = 0; s < 2; s++) {
		if ((frag[s] = fragment_of(seg[s])) == 0 || seg[s]->nkeys < 0 || seg[s]->nargs < 0
		    || seg[s]->nkeys >= NUMBERS || seg[s]->nargs >= NUMBERS)
			return -1;
	}
	if (first->nkeys + first->nargs + second->nkeys + second->nargs + 1 + 3 * 2
	    > REDIS_EVAL_MAX_ARGS)
		return -1;
	out->script = &bundle->script;
	out->nkeys = first->nkeys + second->nkeys;
	for (s = 0; s < 2; s++)
		for (i = 0; i < seg[s]->nkeys; i++)
			out->argv[n++] = seg[s]->argv[i];
	out->argv[n++] = numbers[2];
	for (s = 0; s < 2; s++) {
		out->argv[n++] = numbers[frag[s]];
		out->argv[n++] = numbers[seg[s]->nkeys];
		out->argv[n++] = numbers[seg[s]->nargs];
	}
	for (s = 0; s < 2; s++)
		for (i = 0; i < seg[s]->nargs; i++)
			out->argv[n++] = seg[s]->argv[seg[s]->nkeys + i];
	out->nargs = n - out->nkeys;
	return 0;
}

const redisReply *
script_bundle_segment(const redisReply *reply, size_t i)
{
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
		return reply;	/* a failure (NULL, an error): each segment's */
	return i < reply->elements ? reply->element[i] : NULL;
}
