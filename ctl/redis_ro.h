/*
 * redis_ro.h - a check's Redis script, run so that it cannot change Redis.
 *
 * Interface:
 *   redis_ro_eval()   runs call (a check's own script, keys and args, as
 *                     policyd would send it) with EVAL_RO inside a Lua
 *                     wrapper: read commands (GET, TIME, HGETALL, TTL,
 *                     SISMEMBER, ...) reach Redis, write commands (SET,
 *                     EXPIRE, INCR, HSET, ...) are recorded instead of
 *                     run and answered as Redis would (SET: OK, INCR: the
 *                     value plus one, a later GET of the key sees the
 *                     SET), so the script takes the path it takes in the
 *                     daemon and returns the answer the daemon would get.
 *   redis_ro_free()
 *
 * Contract: the result (out->reply) is what the check's resume() gets;
 * out->writes lists the commands the daemon would have run ("SET key v
 * EX 300"), one string each. Redis itself guarantees nothing is written:
 * EVAL_RO refuses any write command (a wrapper bug would be an error,
 * not a change). NULL reply: the Redis call failed (out->error says why).
 * Why this shape: sluice-ctl explain then reuses the checks' own
 * decide()/resume() and their own scripts; no rule is written twice.
 */
#ifndef SLUICE_CTL_REDIS_RO_H
#define SLUICE_CTL_REDIS_RO_H

#include "redis.h"

#define REDIS_RO_WRITES_MAX 16

struct redis_ro_result {
	redisReply *whole;		/* the wrapper's { result, writes } */
	const redisReply *reply;	/* the script's own answer, in whole */
	int nwrites;
	const char *writes[REDIS_RO_WRITES_MAX];	/* point into whole */
	char error[256];
};

int redis_ro_eval(struct redis_client *redis, const struct redis_eval_call *call,
		  struct redis_ro_result *out);
void redis_ro_free(struct redis_ro_result *out);

#endif
