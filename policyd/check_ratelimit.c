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
 * Every rule that applies is one call of the GCRA script on its own key
 * (one key per subject and rule, hash-tagged on the subject, TTL at most
 * the window), and all of a request's calls go in the worker's one
 * pipeline: one round trip per request however many rules it feeds (see
 * check.h, more_calls). Each rule counts the events it allows, also when
 * another rule refuses the same request: the rules are independent
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
	rl->script.source = ratelimit_lua;
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
 * "user@domain" as an address (patterns.h). Both lowercase. */
static bool
sasl_listed(const struct pattern_list *list, const char *user)
{
	char lower[ADDRESS_MAX + 1];
	size_t i;

	for (i = 0; user[i] && i < ADDRESS_MAX; i++)
		lower[i] = (char)((user[i] >= 'A' && user[i] <= 'Z') ? user[i] + 32 : user[i]);
	lower[i] = '\0';
	return strchr(lower, '@') ? pattern_match_address(list, lower)
				  : pattern_match_domain(list, lower, false);
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

/* The call for one rule: its strings in buf (size bytes). */
static int
prepare_call(const struct policy_context *ctx, struct ratelimit *rl,
	     const struct ratelimit_rule *rule, const char *subject,
	     struct redis_eval_call *call, char *buf, size_t size)
{
	char key[RATELIMIT_KEY_MAX];
	int n;

	if (ratelimit_key(ctx->cfg->redis_prefix, rule, subject, key, sizeof(key)) < 0)
		return -1;
	n = snprintf(buf, size, "%s%c%ld%c%ld%c%d", key, 0, ctx->clock_offset * 1000, 0,
		     rule->window * 1000, 0, rule->limit);
	if (n < 0 || (size_t)n >= size)
		return -1;
	call->script = &rl->script;
	call->nkeys = 1;
	call->nargs = 3;
	call->argv[0] = buf;
	call->argv[1] = call->argv[0] + strlen(call->argv[0]) + 1;
	call->argv[2] = call->argv[1] + strlen(call->argv[1]) + 1;
	call->argv[3] = call->argv[2] + strlen(call->argv[2]) + 1;
	return 0;
}

static enum check_result
ratelimit_decide(void *state, const struct policy_context *ctx,
		 const struct policy_request *req, struct policy_reply *reply)
{
	struct ratelimit *rl = state;
	int stage = ratelimit_stage(req->protocol_state), asked = 0;
	struct net_addr client;
	bool have_client, outbound;
	const char *why;
	size_t i;

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
		if (rc < 0
		    || prepare_call(ctx, rl, rule, subject,
				    asked == 0 ? &reply->call : &reply->more_calls[asked - 1],
				    asked == 0 ? reply->call_buf
					       : reply->more_buf + (asked - 1) * (sizeof(reply->more_buf)
										 / CHECK_MORE_CALLS),
				    asked == 0 ? sizeof(reply->call_buf)
					       : sizeof(reply->more_buf) / CHECK_MORE_CALLS) < 0) {
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
	reply->more_count = asked - 1;
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
		const redisReply *one;

		if (!(reply->step & (1 << i)))
			continue;
		one = reply->more_count == 0 ? r : n < r->elements ? r->element[n] : NULL;
		n++;
		if ((answer = ratelimit_reply(one, &value)) < 0)
			return redis_trouble(ctx, reply, one && one->type == REDIS_REPLY_ERROR
					     ? one->str : "unexpected script reply");
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
