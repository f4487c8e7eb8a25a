/*
 * check.h - the interface every policy check implements.
 *
 * A check is one file (check_greylist.c, check_ratelimit.c, ...) that
 * exports one struct policy_check; checks.c lists them all in one array,
 * in the order they run (the shape of OpenSMTPD's table backends). The
 * server opens every check after each config load and asks them in order
 * for each request; the first check that returns CHECK_FINAL decides, and
 * when none does, the answer is DUNNO (Postfix goes on with its own
 * restrictions).
 *
 * Contract for a check:
 *   open()    builds the check's state from a loaded, valid config; may
 *             refuse with a message (the config is then not swapped in).
 *             A check that is switched off returns NULL state and no error:
 *             it is then skipped.
 *   decide()  must answer quickly and never block longer than the Redis
 *             timeout; it fills reply->action (the text after "action=")
 *             and reply->verdict_key/verdict (logged as "greylist=defer")
 *             when it returns CHECK_FINAL, and may add details to
 *             reply->details either way.
 *   close()   frees the state.
 */
#ifndef SLUICE_POLICY_CHECK_H
#define SLUICE_POLICY_CHECK_H

#include <stddef.h>
#include <time.h>

#include "config.h"
#include "lists.h"
#include "log.h"
#include "redis.h"
#include "request.h"

enum check_result { CHECK_CONTINUE, CHECK_FINAL };

struct policy_reply {
	char action[512];	/* "DUNNO", "DEFER_IF_PERMIT Greylisted, ..." */
	const char *verdict_key;	/* log key of the decision: "greylist" */
	char verdict[48];	/* its value: "defer" */
	struct logline details;	/* " retry_in=120" and the like */
};

/* What every check may use while deciding; owned by the server. */
struct policy_context {
	const struct sluice_config *cfg;
	struct redis_client *redis;
	const struct lists *lists;	/* the Redis lists, at most 1 s old */
	time_t now;
	_Atomic long *redis_warned_at;	/* log_due() slot for Redis trouble */
};

struct policy_check {
	const char *name;
	int (*open)(const struct sluice_config *cfg, void **state, char *err, size_t errsize);
	enum check_result (*decide)(void *state, const struct policy_context *ctx,
				    const struct policy_request *req,
				    struct policy_reply *reply);
	void (*close)(void *state);
};

/* The registry, NULL-terminated, in checks.c. */
extern const struct policy_check *const policy_checks[];

/* All checks opened for one config. */
struct check_chain;

struct check_chain *check_chain_open(const struct sluice_config *cfg, char *err,
				     size_t errsize);
void check_chain_decide(struct check_chain *chain, const struct policy_context *ctx,
			const struct policy_request *req, struct policy_reply *reply);
void check_chain_close(struct check_chain *chain);

#endif
