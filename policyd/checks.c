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
#include <strings.h>

#include "check.h"
#include "metrics_sluice.h"

extern const struct policy_check check_permit_forbid;
extern const struct policy_check check_relay;
extern const struct policy_check check_reverse_dns;
extern const struct policy_check check_sender_login;
extern const struct policy_check check_dnsbl;
extern const struct policy_check check_greylist;
extern const struct policy_check check_recipients;
extern const struct policy_check check_max_recipients;
extern const struct policy_check check_ratelimit;

/* Final order (issue 9): permit_forbid, relay, reverse_dns, sender_login,
 * dnsbl, ratelimit, max_recipients, recipients, greylist. */
const struct policy_check *const policy_checks[] = {
	&check_permit_forbid,
	&check_relay,
	&check_reverse_dns,
	&check_sender_login,
	&check_dnsbl,
	&check_ratelimit,
	&check_max_recipients,
	&check_recipients,
	&check_greylist,
	NULL
};

#define CHAIN_MAX 32	/* checks in one chain */

struct check_chain {
	const struct policy_check *const *checks;
	void *state[CHAIN_MAX];
};

struct check_chain *
check_chain_open_with(const struct policy_check *const *checks,
		      const struct sluice_config *cfg, char *err, size_t errsize)
{
	struct check_chain *chain = calloc(1, sizeof(*chain));
	size_t i;

	if (chain == NULL) {
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	chain->checks = checks;
	for (i = 0; checks[i]; i++) {
		char why[512] = "";

		if (i + 1 >= CHAIN_MAX
		    || checks[i]->open(cfg, &chain->state[i], why, sizeof(why)) < 0) {
			snprintf(err, errsize, "%s: %s", checks[i]->name,
				 i + 1 >= CHAIN_MAX ? "too many checks" : why);
			check_chain_close(chain);
			return NULL;
		}
	}
	return chain;
}

struct check_chain *
check_chain_open(const struct sluice_config *cfg, char *err, size_t errsize)
{
	return check_chain_open_with(policy_checks, cfg, err, errsize);
}

bool
check_prepend(struct policy_reply *reply, const char *header)
{
	if (reply->prepend[0] != '\0')
		return false;
	snprintf(reply->prepend, sizeof(reply->prepend), "%s", header);
	return true;
}

/* A final action that lets the mail on: a header collected before is
 * the better answer (PREPEND also lets it on). */
static bool
lets_mail_on(const char *action)
{
	return strcasecmp(action, "DUNNO") == 0 || strncasecmp(action, "OK", 2) == 0
	       || strncasecmp(action, "PREPEND ", 8) == 0;
}

/* "OK" (or "PERMIT"): Postfix ends the restriction list with permit. */
static bool
is_permit(const char *action)
{
	size_t n = strncasecmp(action, "OK", 2) == 0 ? 2
		   : strncasecmp(action, "PERMIT", 6) == 0 ? 6 : 0;

	return n && (action[n] == '\0' || action[n] == ' ');
}

/*
 * The answer when the chain ends, by a final action or by running out.
 * No answer is ever OK: asked before reject_unauth_destination (a wrong
 * main.cf), an OK would permit relaying; the policy service can only
 * refuse, defer, add a header or have no opinion (t_access_relay.sh).
 */
static enum check_result
answer(struct policy_reply *reply, bool final)
{
	if (!final || is_permit(reply->action))
		strcpy(reply->action, "DUNNO");
	if (reply->prepend[0] && lets_mail_on(reply->action))
		snprintf(reply->action, sizeof(reply->action), "PREPEND %s", reply->prepend);
	if (reply->verdict_key == NULL) {	/* no check had anything to say */
		reply->verdict_key = "action";
		strcpy(reply->verdict, "dunno");
	}
	return CHECK_FINAL;
}

static enum check_result
run_from(struct check_chain *chain, const struct policy_context *ctx,
	 const struct policy_request *req, struct policy_reply *reply, size_t *cursor)
{
	for (; chain->checks[*cursor]; (*cursor)++) {
		enum check_result r;

		if (chain->state[*cursor] == NULL)
			continue;	/* switched off in this config */
		reply->step = 0;
		reply->more_count = 0;
		r = chain->checks[*cursor]->decide(chain->state[*cursor], ctx, req, reply);
		if (r == CHECK_FINAL)
			return answer(reply, true);
		if (r != CHECK_CONTINUE)
			return r;
	}
	return answer(reply, false);
}

/* After a resume: the check's answer, or on through the chain. */
static enum check_result
run_on(struct check_chain *chain, const struct policy_context *ctx,
       const struct policy_request *req, struct policy_reply *reply, size_t *cursor,
       enum check_result r)
{
	if (r == CHECK_FINAL)
		return answer(reply, true);
	if (r != CHECK_CONTINUE)
		return r;
	(*cursor)++;
	return run_from(chain, ctx, req, reply, cursor);
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
		reply->prepend[0] = '\0';
		reply->permitted = false;
		reply->started_ns = metric_now_ns();
	}
	return run_from(chain, ctx, req, reply, cursor);
}

enum check_result
check_chain_resume(struct check_chain *chain, const struct policy_context *ctx,
		   const struct policy_request *req, struct policy_reply *reply,
		   size_t *cursor, const redisReply *redis)
{
	enum check_result r = CHECK_CONTINUE;

	if (chain->state[*cursor])	/* see check_chain_resume_spf() */
		r = chain->checks[*cursor]->resume(chain->state[*cursor], ctx, req, redis, reply);
	return run_on(chain, ctx, req, reply, cursor, r);
}

enum check_result
check_chain_resume_spf(struct check_chain *chain, const struct policy_context *ctx,
		       const struct policy_request *req, struct policy_reply *reply,
		       size_t *cursor, const struct spf_answer *spf)
{
	enum check_result r = CHECK_CONTINUE;

	/* An SPF wait spans wakeups, so a reload may have come meanwhile: the
	 * request resumes in the new config's chain (same registry, same
	 * position), where the check may be switched off. Then it has
	 * nothing more to say. */
	if (chain->state[*cursor])
		r = chain->checks[*cursor]->resume_spf(chain->state[*cursor], ctx, req, spf, reply);
	return run_on(chain, ctx, req, reply, cursor, r);
}

enum check_result
check_chain_resume_job(struct check_chain *chain, const struct policy_context *ctx,
		       const struct policy_request *req, struct policy_reply *reply,
		       size_t *cursor, const struct job *job)
{
	enum check_result r = CHECK_CONTINUE;

	/* Like an SPF wait, a job spans wakeups (see above). */
	if (chain->state[*cursor] && chain->checks[*cursor]->resume_job)
		r = chain->checks[*cursor]->resume_job(chain->state[*cursor], ctx, req, job, reply);
	return run_on(chain, ctx, req, reply, cursor, r);
}

enum check_result
check_chain_resume_dns(struct check_chain *chain, const struct policy_context *ctx,
		       const struct policy_request *req, struct policy_reply *reply,
		       size_t *cursor)
{
	enum check_result r = CHECK_CONTINUE;

	/* Like SPF: a reload may have switched the check off meanwhile. */
	if (chain->state[*cursor])
		r = chain->checks[*cursor]->resume_dns(chain->state[*cursor], ctx, req, reply);
	return run_on(chain, ctx, req, reply, cursor, r);
}

void
check_chain_close(struct check_chain *chain)
{
	size_t i;

	if (chain == NULL)
		return;
	for (i = 0; chain->checks[i]; i++)
		if (chain->state[i])
			chain->checks[i]->close(chain->state[i]);
	free(chain);
}

void
check_reply_count(const struct policy_reply *reply)
{
	metric_policyd_decision(reply->verdict_key, reply->action,
				metric_now_ns() - reply->started_ns);
}
