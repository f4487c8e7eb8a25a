/*
 * checks.c - the registry of policy checks and the chain that runs them.
 *
 * Order is policy: cheap local verdicts first (lists from the config and
 * the Redis list cache), Redis-backed state (greylisting, rate counters)
 * last, so that a request decided early costs no round trip. A new check
 * is one file plus one line in policy_checks[].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

extern const struct policy_check check_greylist;

const struct policy_check *const policy_checks[] = {
	&check_greylist,
	NULL
};

#define CHECK_COUNT (sizeof(policy_checks) / sizeof(policy_checks[0]))

struct check_chain {
	void *state[CHECK_COUNT];
};

struct check_chain *
check_chain_open(const struct sluice_config *cfg, char *err, size_t errsize)
{
	struct check_chain *chain = calloc(1, sizeof(*chain));
	size_t i;

	if (chain == NULL) {
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	for (i = 0; policy_checks[i]; i++) {
		char why[512] = "";

		if (policy_checks[i]->open(cfg, &chain->state[i], why, sizeof(why)) < 0) {
			snprintf(err, errsize, "%s: %s", policy_checks[i]->name, why);
			check_chain_close(chain);
			return NULL;
		}
	}
	return chain;
}

static enum check_result
run_from(struct check_chain *chain, const struct policy_context *ctx,
	 const struct policy_request *req, struct policy_reply *reply, size_t *cursor)
{
	for (; policy_checks[*cursor]; (*cursor)++) {
		enum check_result r;

		if (chain->state[*cursor] == NULL)
			continue;	/* switched off in this config */
		r = policy_checks[*cursor]->decide(chain->state[*cursor], ctx, req, reply);
		if (r != CHECK_CONTINUE)
			return r;
	}
	strcpy(reply->action, "DUNNO");
	if (reply->verdict_key == NULL) {	/* no check had anything to say */
		reply->verdict_key = "action";
		strcpy(reply->verdict, "dunno");
	}
	return CHECK_FINAL;
}

enum check_result
check_chain_decide(struct check_chain *chain, const struct policy_context *ctx,
		   const struct policy_request *req, struct policy_reply *reply, size_t *cursor)
{
	if (*cursor == 0) {
		reply->details.len = 0;
		reply->details.buf[0] = '\0';
		reply->details.truncated = false;
		reply->verdict_key = NULL;
	}
	return run_from(chain, ctx, req, reply, cursor);
}

enum check_result
check_chain_resume(struct check_chain *chain, const struct policy_context *ctx,
		   const struct policy_request *req, struct policy_reply *reply,
		   size_t *cursor, const redisReply *redis)
{
	enum check_result r = policy_checks[*cursor]->resume(chain->state[*cursor], ctx, req,
							     redis, reply);

	if (r != CHECK_CONTINUE)
		return r;
	(*cursor)++;
	return run_from(chain, ctx, req, reply, cursor);
}

void
check_chain_close(struct check_chain *chain)
{
	size_t i;

	if (chain == NULL)
		return;
	for (i = 0; policy_checks[i]; i++)
		if (chain->state[i])
			policy_checks[i]->close(chain->state[i]);
	free(chain);
}
