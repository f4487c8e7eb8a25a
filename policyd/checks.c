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

void
check_chain_decide(struct check_chain *chain, const struct policy_context *ctx,
		   const struct policy_request *req, struct policy_reply *reply)
{
	size_t i;

	reply->details.len = 0;
	reply->details.buf[0] = '\0';
	reply->details.truncated = false;
	reply->verdict_key = NULL;
	for (i = 0; policy_checks[i]; i++) {
		if (chain->state[i] == NULL)
			continue;	/* switched off in this config */
		if (policy_checks[i]->decide(chain->state[i], ctx, req, reply) == CHECK_FINAL)
			return;
	}
	strcpy(reply->action, "DUNNO");
	if (reply->verdict_key == NULL) {	/* no check had anything to say */
		reply->verdict_key = "action";
		strcpy(reply->verdict, "dunno");
	}
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
