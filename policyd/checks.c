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
#include "job_pool.h"
#include "script_bundle.h"

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
 * dnsbl, max_recipients, ratelimit, recipients, greylist. max_recipients
 * before the rate limits: a recipient it refuses (452, sent again in a
 * new transaction) does not spend a rate-limit event, and between the
 * rate limits' held call and greylisting's (check.h, call_may_wait) only
 * checks whose decide() changes nothing but the reply may run: it counts
 * the transaction's recipients in decide(). */
const struct policy_check *const policy_checks[] = {
	&check_permit_forbid,
	&check_relay,
	&check_reverse_dns,
	&check_sender_login,
	&check_dnsbl,
	&check_max_recipients,
	&check_ratelimit,
	&check_recipients,
	&check_greylist,
	NULL
};

#define CHAIN_MAX 32	/* checks in one chain */

struct check_chain {
	const struct policy_check *const *checks;
	void *state[CHAIN_MAX];
	struct script_bundle bundle;	/* held calls joined to the next */
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
	if (script_bundle_open(&chain->bundle) < 0) {
		snprintf(err, errsize, "out of memory");
		free(chain);
		return NULL;
	}
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

/*
 * Holding a call back (check.h, call_may_wait). The held call's strings
 * are copied (the next checks reuse the reply's buffers), with the
 * verdict and log fields as the held check left them. 0 when held; -1
 * when it cannot be (more than one call, strings too long): the call then
 * goes as without the flag.
 */
static int
hold(struct policy_reply *reply, size_t index)
{
	struct held_call *h = &reply->held;
	size_t used = 0, n;
	int i;

	if (reply->more_count != 0 || h->state != HELD_NONE)
		return -1;
	h->call = reply->call;
	for (i = 0; i < reply->call.nkeys + reply->call.nargs && i < REDIS_EVAL_MAX_ARGS; i++) {
		n = strlen(reply->call.argv[i]) + 1;
		if (used + n > sizeof(h->buf))
			return -1;
		memcpy(h->buf + used, reply->call.argv[i], n);
		h->call.argv[i] = h->buf + used;
		used += n;
	}
	h->index = index;
	h->step = reply->step;
	h->verdict_key = reply->verdict_key;
	snprintf(h->verdict, sizeof(h->verdict), "%s", reply->verdict);
	h->details_len = reply->details.len;
	h->details_truncated = reply->details.truncated;
	h->state = HELD_WAITING;
	return 0;
}

/*
 * Check number index answered r (or the chain ended: r CHECK_CONTINUE)
 * while a call is held: the held call goes now, joined to index's call
 * when r is a call of a script the bundle holds, else alone (index's
 * answer is kept for after). What the checks after the held one said
 * is put aside, so that the held check's resume() comes first in the
 * log line as it would without holding.
 */
static enum check_result
send_held(struct check_chain *chain, struct policy_reply *reply, size_t *cursor,
	  enum check_result r)
{
	struct held_call *h = &reply->held;
	struct redis_eval_call joined;
	size_t len = reply->details.len > h->details_len ? reply->details.len - h->details_len : 0;

	h->next_index = *cursor;
	h->next_result = r;
	h->next_step = reply->step;
	h->next_more_count = reply->more_count;
	h->next_call = reply->call;
	h->next_verdict_key = reply->verdict_key;
	snprintf(h->next_verdict, sizeof(h->next_verdict), "%s", reply->verdict);
	memcpy(h->next_details, reply->details.buf + h->details_len, len);
	h->next_details_len = len;
	h->next_details_truncated = reply->details.truncated;
	reply->details.len = h->details_len;
	reply->details.buf[h->details_len] = '\0';
	reply->details.truncated = h->details_truncated;
	reply->verdict_key = h->verdict_key;
	snprintf(reply->verdict, sizeof(reply->verdict), "%s", h->verdict);
	reply->step = h->step;
	if (r == CHECK_REDIS && reply->more_count == 0
	    && script_bundle_join(&chain->bundle, &h->call, &h->next_call, &joined) == 0) {
		reply->call = joined;
		h->state = HELD_JOINED;
		return CHECK_REDIS;	/* *cursor stays at the second check */
	}
	reply->call = h->call;
	reply->more_count = 0;
	h->state = HELD_ALONE;
	*cursor = h->index;
	return CHECK_REDIS;
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
		reply->call_may_wait = false;
		r = chain->checks[*cursor]->decide(chain->state[*cursor], ctx, req, reply);
		if (reply->held.state == HELD_WAITING) {
			if (r == CHECK_CONTINUE)
				continue;
			return send_held(chain, reply, cursor, r);
		}
		if (r == CHECK_REDIS && reply->call_may_wait && hold(reply, *cursor) == 0)
			continue;
		if (r == CHECK_FINAL)
			return answer(reply, true);
		if (r != CHECK_CONTINUE)
			return r;
	}
	if (reply->held.state == HELD_WAITING)
		return send_held(chain, reply, cursor, CHECK_CONTINUE);
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

/*
 * The held check's answer (its part of the reply), then, when it lets
 * the request on, what the checks after it said, restored as it was
 * when the call was sent. Returns CHECK_CONTINUE with *cursor at the
 * next check and the reply as that check left it; else the held check's
 * own answer, *cursor at it (a check that waited again: the next checks
 * are asked again afterwards, their answer put aside is dropped).
 */
static enum check_result
resume_held(struct check_chain *chain, const struct policy_context *ctx,
	    const struct policy_request *req, struct policy_reply *reply, size_t *cursor,
	    const redisReply *redis)
{
	struct held_call *h = &reply->held;
	enum check_result r = CHECK_CONTINUE;
	size_t room;

	h->state = HELD_NONE;
	reply->call = h->call;
	reply->step = h->step;
	reply->more_count = 0;
	if (chain->state[h->index])
		r = chain->checks[h->index]->resume(chain->state[h->index], ctx, req, redis, reply);
	if (r != CHECK_CONTINUE) {
		if (h->next_result == CHECK_JOB && reply->job) {
			reply->job->free(reply->job);
			reply->job = NULL;
		}
		*cursor = h->index;
		return r;
	}
	room = sizeof(reply->details.buf) - 1 - reply->details.len;
	if (h->next_details_len > room)
		h->next_details_len = room;
	memcpy(reply->details.buf + reply->details.len, h->next_details, h->next_details_len);
	reply->details.len += h->next_details_len;
	reply->details.buf[reply->details.len] = '\0';
	reply->details.truncated |= h->next_details_truncated;
	if (h->next_verdict_key != h->verdict_key || strcmp(h->next_verdict, h->verdict) != 0) {
		reply->verdict_key = h->next_verdict_key;
		snprintf(reply->verdict, sizeof(reply->verdict), "%s", h->next_verdict);
	}
	reply->call = h->next_call;
	reply->step = h->next_step;
	reply->more_count = h->next_more_count;
	*cursor = h->next_index;
	return CHECK_CONTINUE;
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
		reply->held.state = HELD_NONE;
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
	enum held_state held = reply->held.state;

	if (held == HELD_JOINED || held == HELD_ALONE) {
		r = resume_held(chain, ctx, req, reply, cursor,
				held == HELD_JOINED ? script_bundle_segment(redis, 0) : redis);
		if (r != CHECK_CONTINUE)
			return run_on(chain, ctx, req, reply, cursor, r);
		if (held == HELD_JOINED)
			redis = script_bundle_segment(redis, 1);
		else if (reply->held.next_result == CHECK_FINAL)
			return answer(reply, true);
		else if (reply->held.next_result == CHECK_CONTINUE)
			return answer(reply, false);	/* the chain had ended */
		else
			return reply->held.next_result;	/* its own wait, now */
	}
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
	script_bundle_close(&chain->bundle);
	free(chain);
}

void
check_reply_count(const struct policy_reply *reply)
{
	metric_policyd_decision(reply->verdict_key, reply->action,
				metric_now_ns() - reply->started_ns);
}
