/*
 * redis_ro.c - run a check's script read-only (see redis_ro.h).
 *
 * The wrapper shadows the global `redis` with a table whose call()
 * passes read commands to Redis and records the others; the check's
 * script text follows as the body of a local function, so its
 * `redis.call(...)` is the wrapper's (each script's first line sets
 * what it has when it runs alone, as here: script_bundle.c). Numbers
 * written are shown as Redis would store them
 * (%.17g, not Lua's %.14g). EVAL_RO (Redis 7) runs it: Redis
 * refuses writes from it, a second lock behind the wrapper's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_ro.h"

static const char prelude[] =
	"local real = redis\n"
	"local writes, shadow = {}, {}\n"
	"local reads = { GET=1, MGET=1, TIME=1, HGET=1, HGETALL=1, HMGET=1, HLEN=1, TTL=1,\n"
	"  PTTL=1, EXISTS=1, TYPE=1, SISMEMBER=1, SMEMBERS=1, SCARD=1, STRLEN=1, ZSCORE=1 }\n"
	"local function text(v)\n"
	"  if type(v) ~= 'number' then return tostring(v) end\n"
	"  if v == math.floor(v) then return string.format('%d', v) end\n"
	"  return string.format('%.17g', v)\n"
	"end\n"
	"local function record(c, a)\n"
	"  local t = { c }\n"
	"  for i = 1, #a do t[#t + 1] = text(a[i]) end\n"
	"  writes[#writes + 1] = table.concat(t, ' ')\n"
	"  if c == 'SET' then shadow[a[1]] = text(a[2]) return { ok = 'OK' } end\n"
	"  if c == 'INCR' or c == 'INCRBY' then\n"
	"    local v = tonumber(shadow[a[1]] or real.call('GET', a[1]) or '0') + (tonumber(a[2]) or 1)\n"
	"    shadow[a[1]] = tostring(v)\n"
	"    return v\n"
	"  end\n"
	"  return 1\n"
	"end\n"
	"local function call(cmd, ...)\n"
	"  local c, a = string.upper(cmd), { ... }\n"
	"  if c == 'GET' and shadow[a[1]] ~= nil then return shadow[a[1]] end\n"
	"  if reads[c] then return real.call(cmd, ...) end\n"
	"  return record(c, a)\n"
	"end\n"
	"local redis = setmetatable({ call = call, pcall = call }, { __index = real })\n"
	"local function body(...)\n";

static const char epilogue[] =
	"\nend\n"
	"local r = body()\n"
	"if r == nil then r = false end\n"
	"return { r, writes }\n";

int
redis_ro_eval(struct redis_client *redis, const struct redis_eval_call *call,
	      struct redis_ro_result *out)
{
	const char *argv[3 + REDIS_EVAL_MAX_ARGS];
	char nkeys[16], *script;
	size_t n;
	int i, argc = 0;
	redisReply *r;

	memset(out, 0, sizeof(*out));
	if (call->nkeys + call->nargs > REDIS_EVAL_MAX_ARGS) {
		snprintf(out->error, sizeof(out->error), "too many script arguments");
		return -1;
	}
	n = strlen(prelude) + strlen(call->script->source) + strlen(epilogue) + 1;
	if ((script = malloc(n)) == NULL) {
		snprintf(out->error, sizeof(out->error), "out of memory");
		return -1;
	}
	snprintf(script, n, "%s%s%s", prelude, call->script->source, epilogue);
	snprintf(nkeys, sizeof(nkeys), "%d", call->nkeys);
	argv[argc++] = "EVAL_RO";
	argv[argc++] = script;
	argv[argc++] = nkeys;
	for (i = 0; i < call->nkeys + call->nargs; i++)
		argv[argc++] = call->argv[i];
	r = redis_command_argv(redis, argc, argv, NULL);
	free(script);
	if (r == NULL) {
		snprintf(out->error, sizeof(out->error), "%s", redis_client_error(redis));
		return -1;
	}
	if (r->type == REDIS_REPLY_ERROR) {	/* the script failed: hand the error on */
		out->whole = r;
		out->reply = r;
		return 0;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
	    || r->element[1]->type != REDIS_REPLY_ARRAY) {
		snprintf(out->error, sizeof(out->error), "unexpected reply of the read-only wrapper");
		freeReplyObject(r);
		return -1;
	}
	out->whole = r;
	out->reply = r->element[0];
	for (i = 0; i < (int)r->element[1]->elements && i < REDIS_RO_WRITES_MAX; i++)
		if (r->element[1]->element[i]->type == REDIS_REPLY_STRING)
			out->writes[out->nwrites++] = r->element[1]->element[i]->str;
	return 0;
}

void
redis_ro_free(struct redis_ro_result *out)
{
	if (out->whole)
		freeReplyObject(out->whole);
	memset(out, 0, sizeof(*out));
}
