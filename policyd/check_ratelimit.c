/*
 * check_ratelimit.c - rate limits (policyd.ratelimit), shared by every MX
 * host through Redis.
 *
 * Each request feeds the rules of its stage (ratelimit.h): connections at
 * CONNECT (Postfix asks there only from smtpd_client_restrictions with
 * smtpd_delay_reject = no), recipients at RCPT, messages at
 * END-OF-MESSAGE (smtpd_end_of_data_restrictions). A request is outbound
 * when its client authenticated (SASL) or is in trusted_networks, else
 * inbound; rules say which they count. Exempt, for every rule: the
 * networks, senders and SASL users of policyd.ratelimit_exempt and of the
 * Redis sets <prefix>ratelimit:exempt:ip, :sender and :sasl (read from the
 * shared list snapshot, never per request). A permitted client or sender
 * (reply->permitted, set by the permit check before us) skips the inbound
 * rules.
 *
 * Every rule that applies has its own key (one key per subject and rule,
 * hash-tagged on the subject, TTL at most the window), and all the keys
 * of a request go in ONE call of the GCRA script (ratelimit_multi_lua),
 * in the worker's one pipeline: a script call has a fixed cost in Redis
 * (10-15 us of its CPU on the bench machine, more than the GCRA step
 * itself), and two rules were two calls. The keys are of different hash
 * slots, which one Redis or a Sentinel-managed primary does not mind;
 * Redis Cluster would refuse the call (CROSSSLOT), and sluice does not
 * speak Cluster (README). The call may wait (check.h, call_may_wait):
 * the chain asks the next checks first and sends it with greylisting's
 * call in one script call (script_bundle.h), which stops before
 * greylisting when a rule refuses. Each rule counts the events it allows, also
 * when another rule refuses the same request: the rules are independent
 * budgets, and no two-phase commit is worth a second round trip.
 *
 * Over a limit: "421 4.7.0" at CONNECT (Postfix then closes the
 * connection: the client retries later, the cheapest refusal there is),
 * "450 4.7.1" at the other stages; both say when to retry. Redis down:
 * with fail_open the mail passes (a warning, once a minute), without it
 * 451 4.3.0, as greylisting does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "patterns.h"
#include "ratelimit.h"

struct ratelimit {
	const struct ratelimit_conf *conf;
	struct pattern_list exempt_senders;
	struct redis_script script;
	char window[RATELIMIT_RULES_MAX][24];	/* each rule's window in ms */
	char limit[RATELIMIT_RULES_MAX][16];	/* and its limit, as text */
};

static void
ratelimit_close(void *state)
{
	struct ratelimit *rl = state;

	pattern_list_free(&rl->exempt_senders);
	free(rl);
}

static int
ratelimit_open(const struct sluice_config *cfg, void **state, char *err, size_t errsize)
{
	const struct ratelimit_conf *conf = &cfg->policyd.ratelimit;
	struct ratelimit *rl;
	const char *why;
	size_t i;

	*state = NULL;
	if (conf->rule_count == 0)
		return 0;
	if ((rl = calloc(1, sizeof(*rl))) == NULL) {
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	rl->conf = conf;
	rl->script.source = ratelimit_multi_lua;
	for (i = 0; i < conf->rule_count; i++) {
		snprintf(rl->window[i], sizeof(rl->window[i]), "%ld", conf->rules[i].window * 1000);
		snprintf(rl->limit[i], sizeof(rl->limit[i]), "%d", conf->rules[i].limit);
	}
	for (i = 0; i < conf->exempt_senders.count; i++) {
		if (pattern_list_add(&rl->exempt_senders, conf->exempt_senders.items[i], &why) < 0) {
			snprintf(err, errsize, "'%s': %s", conf->exempt_senders.items[i], why);
			ratelimit_close(rl);
			return -1;
		}
	}
	pattern_list_seal(&rl->exempt_senders);
	*state = rl;
	return 0;
}

/* A SASL login in a Redis set: a bare name is stored as a "domain" item,
 * "user@domain" as an address (patterns.h; both lowercase: the lookups
 * lowercase the query, and never cut it, so a long login whose first
 * bytes equal an exempt one is not exempt). */
static bool
sasl_listed(const struct pattern_list *list, const char *user)
{
	return strchr(user, '@') ? pattern_match_address(list, user)
				 : pattern_match_domain(list, user, false);
}

/* Why no rule counts this request, or NULL. */
static const char *
exemption(const struct ratelimit *rl, const struct policy_context *ctx,
	  const struct policy_request *req, const struct net_addr *client)
{
	const struct lists *l = ctx->lists;
	const char *sender = req->sender ? req->sender : "";
	const char *user = req->sasl_username;
	size_t i;

	if (client && (net_list_contains(&rl->conf->exempt_networks, client)
		       || pattern_match_ip(lists_get(l, LIST_RATELIMIT_EXEMPT_IP), client)))
		return "exempt_network";
	if (*sender && (pattern_match_address(&rl->exempt_senders, sender)
			|| pattern_match_address(lists_get(l, LIST_RATELIMIT_EXEMPT_SENDER),
						 sender)))
		return "exempt_sender";
	if (user && *user) {
		for (i = 0; i < rl->conf->exempt_sasl_users.count; i++)
			if (strcasecmp(rl->conf->exempt_sasl_users.items[i], user) == 0)
				return "exempt_sasl_user";
		if (sasl_listed(lists_get(l, LIST_RATELIMIT_EXEMPT_SASL), user))
			return "exempt_sasl_user";
	}
	return NULL;
}

/*
 * The strings of the request's one call live in its reply: the keys in
 * more_buf, then call_buf when that is full (8 keys at their longest and
 * their numbers fit the two). NULL when text does not fit.
 */
static const char *
call_string(struct policy_reply *reply, size_t *used, const char *text, size_t len)
{
	size_t first = sizeof(reply->more_buf), total = first + sizeof(reply->call_buf);
	char *at;

	if (*used < first && *used + len + 1 > first)
		*used = first;		/* does not fit the rest of more_buf */
	if (*used + len + 1 > total)
		return NULL;
	at = *used < first ? reply->more_buf + *used : reply->call_buf + (*used - first);
	memcpy(at, text, len);
	at[len] = '\0';
	*used += len + 1;
	return at;
}

/* Adds one rule's key to the call, its window and limit to wls. */
static int
add_rule(const struct policy_context *ctx, const struct ratelimit *rl, size_t rule_index,
	 const char *subject, struct policy_reply *reply, size_t *used, int asked,
	 const char **wls)
{
	struct redis_eval_call *call = &reply->call;
	char key[RATELIMIT_KEY_MAX];

	if (ratelimit_key(ctx->cfg->redis_prefix, &rl->conf->rules[rule_index], subject,
			  key, sizeof(key)) < 0)
		return -1;
	/* argv: the keys first, then the args, placed once all keys are
	 * known (ratelimit_decide): wls keeps them meanwhile. */
	wls[2 * asked] = rl->window[rule_index];
	wls[2 * asked + 1] = rl->limit[rule_index];
	if ((call->argv[asked] = call_string(reply, used, key, strlen(key))) == NULL)
		return -1;
	return 0;
}

static enum check_result
ratelimit_decide(void *state, const struct policy_context *ctx,
		 const struct policy_request *req, struct policy_reply *reply)
{
	struct ratelimit *rl = state;
	int stage = ratelimit_stage(req->protocol_state), asked = 0, k, n;
	struct redis_eval_call *call = &reply->call;
	struct net_addr client;
	bool have_client, outbound;
	char offset[24];
	const char *why, *wls[2 * RATELIMIT_RULES_MAX];
	size_t i, used = 0;

	if (stage < 0)
		return CHECK_CONTINUE;
	have_client = req->client_address && net_addr_parse(req->client_address, &client) == 0;
	outbound = (req->sasl_username && *req->sasl_username)
		   || (have_client && net_list_contains(&ctx->cfg->trusted_networks, &client));
	if (!outbound && reply->permitted)
		return CHECK_CONTINUE;	/* permitted: no inbound limit */
	for (i = 0; i < rl->conf->rule_count; i++) {
		const struct ratelimit_rule *rule = &rl->conf->rules[i];
		char subject[RATELIMIT_SUBJECT_MAX + 1];
		int rc;

		if (!ratelimit_applies(rule, stage, outbound))
			continue;
		if (asked == 0 && (why = exemption(rl, ctx, req, have_client ? &client : NULL))) {
			logline_add(&reply->details, "ratelimit", why);
			return CHECK_CONTINUE;
		}
		if ((rc = ratelimit_subject(rule, req, subject, sizeof(subject))) > 0)
			continue;	/* no such subject in this request */
		if (rc < 0 || add_rule(ctx, rl, i, subject, reply, &used, asked, wls) < 0) {
			/* A subject we cannot key (an address that does not
			 * parse as an IP, say): counted by no rule, and said. */
			logline_addf(&reply->details, "ratelimit_skip", "%s", rule->name);
			continue;
		}
		reply->step |= 1 << i;
		asked++;
	}
	if (asked == 0)
		return CHECK_CONTINUE;
	/* KEYS, then ARGV: the clock offset, "" (no test "now"), and each
	 * rule's window and limit. */
	n = snprintf(offset, sizeof(offset), "%ld", ctx->clock_offset * 1000);
	call->script = &rl->script;
	call->nkeys = asked;
	call->nargs = 2 + 2 * asked;
	if (n < 0 || (size_t)n >= sizeof(offset)
	    || (call->argv[asked] = call_string(reply, &used, offset, (size_t)n)) == NULL) {
		reply->step = 0;	/* cannot be: the buffers hold it all */
		logline_add(&reply->details, "ratelimit_skip", "all");
		return CHECK_CONTINUE;
	}
	call->argv[asked + 1] = "";
	for (k = 0; k < 2 * asked; k++)
		call->argv[asked + 2 + k] = wls[k];
	reply->more_count = 0;
	reply->call_may_wait = true;	/* joined to greylisting's (check.h) */
	return CHECK_REDIS;
}

static enum check_result
redis_trouble(const struct policy_context *ctx, struct policy_reply *reply, const char *why)
{
	if (log_due(ctx->redis_warned_at, (long)time(NULL), 60))
		log_warning("rate limits without Redis (%s): %s", ctx->cfg->policyd.fail_open
			    ? "fail_open: mail passes" : "fail_open off: mail deferred", why);
	logline_add(&reply->details, "reason", "redis");
	reply->verdict_key = "ratelimit";
	strcpy(reply->verdict, "error");
	if (ctx->cfg->policyd.fail_open)
		return CHECK_CONTINUE;
	snprintf(reply->action, sizeof(reply->action),
		 "451 4.3.0 Temporary lookup failure, try again later");
	return CHECK_FINAL;
}

static enum check_result
ratelimit_resume(void *state, const struct policy_context *ctx,
		 const struct policy_request *req, const redisReply *r,
		 struct policy_reply *reply)
{
	struct ratelimit *rl = state;
	const struct ratelimit_rule *over = NULL;
	long long wait_ms = 0, value;
	size_t i, n = 0;
	int answer;

	if (r == NULL)
		return redis_trouble(ctx, reply, redis_client_error(ctx->redis));
	for (i = 0; i < rl->conf->rule_count; i++) {
		if (!(reply->step & (1 << i)))
			continue;
		if ((answer = ratelimit_multi_reply(r, n++, &value)) < 0)
			return redis_trouble(ctx, reply, r->type == REDIS_REPLY_ERROR && r->str
					     ? r->str : "unexpected script reply");
		if (answer == 0 && value >= wait_ms) {
			over = &rl->conf->rules[i];
			wait_ms = value;
		}
	}
	reply->verdict_key = "ratelimit";
	if (over == NULL) {
		strcpy(reply->verdict, "pass");
		return CHECK_CONTINUE;
	}
	strcpy(reply->verdict, "over");
	logline_add(&reply->details, "rule", over->name);
	logline_addf(&reply->details, "retry_in", "%lld", (wait_ms + 999) / 1000);
	if (ratelimit_stage(req->protocol_state) == RL_CONNECTIONS)
		snprintf(reply->action, sizeof(reply->action),
			 "421 4.7.0 Rate limit exceeded (%s), try again in %lld seconds",
			 over->name, (wait_ms + 999) / 1000);
	else
		snprintf(reply->action, sizeof(reply->action),
			 "450 4.7.1 Rate limit exceeded (%s), try again in %lld seconds",
			 over->name, (wait_ms + 999) / 1000);
	return CHECK_FINAL;
}

const struct policy_check check_ratelimit = {
	.name = "ratelimit",
	.open = ratelimit_open,
	.decide = ratelimit_decide,
	.resume = ratelimit_resume,
	.close = ratelimit_close,
};
