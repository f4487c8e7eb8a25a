/*
 * check_sender_login.c - policyd.enforce_sender_login, at RCPT.
 *
 * A SASL-authenticated client may use as envelope sender only
 *   1. its own mailbox: the login itself when it is an address, or
 *      login@D for each of our local_domains when it is a bare name;
 *   2. an alias whose targets include that mailbox (sluice:alias:<sender>,
 *      or sluice:alias:<local>@* for a local domain), from the shared
 *      snapshot: the lookup is by the sender, so no reverse index is
 *      needed;
 *   3. a member of the Redis set <prefix>login:<login> (lowercase login),
 *      the admin's extra addresses for that login; asked only when 1 and
 *      2 fail, in one SISMEMBER script call through the worker's pipeline
 *      (CHECK_REDIS), never a blocking call.
 * Anything else: "553 5.7.1". The null sender (bounces) passes; an
 * unauthenticated client is not this check's business. When Redis fails
 * for step 3: with fail_open the mail passes (a warning, at most once a
 * minute), without it "451 4.3.0", as the spec's table says.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "check.h"

#define LOGIN_MAX 256

static const char login_lua[] = "return redis.call('SISMEMBER', KEYS[1], ARGV[1])\n";

struct sender_login {
	struct redis_script script;
};

static int
sender_login_open(const struct sluice_config *cfg, void **state, char *err, size_t errsize)
{
	struct sender_login *sl;

	*state = NULL;
	if (!cfg->policyd.enforce_sender_login)
		return 0;
	if ((sl = calloc(1, sizeof(*sl))) == NULL) {
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	sl->script.source = login_lua;
	*state = sl;
	return 0;
}

static void
lower_copy(const char *in, char *out, size_t size)
{
	size_t i;

	for (i = 0; in[i] && i + 1 < size; i++)
		out[i] = (char)(in[i] >= 'A' && in[i] <= 'Z' ? in[i] - 'A' + 'a' : in[i]);
	out[i] = '\0';
}

static bool
is_local_domain(const struct sluice_config *cfg, const char *domain)
{
	size_t i;

	for (i = 0; i < cfg->local_domains.count; i++)
		if (strcasecmp(cfg->local_domains.items[i], domain) == 0)
			return true;
	return false;
}

/* Whether address (lowercase) is the login's own mailbox. */
static bool
own_mailbox(const struct sluice_config *cfg, const char *login, const char *address)
{
	const char *at = strrchr(address, '@');
	size_t n = at ? (size_t)(at - address) : 0;

	if (strchr(login, '@'))
		return strcmp(login, address) == 0;
	return at && strlen(login) == n && strncmp(login, address, n) == 0
	       && is_local_domain(cfg, at + 1);
}

/* Whether one of the targets of alias key is the login's mailbox. */
static bool
alias_of_login(const struct sluice_config *cfg, const struct lists *lists, const char *key,
	       const char *login)
{
	char target[ADDRESS_MAX + 1];
	size_t count, i;
	const char *t = lists_alias(lists, key, &count);

	for (i = 0; t && i < count; i++, t = strmap_next(t)) {
		lower_copy(t, target, sizeof(target));
		if (own_mailbox(cfg, login, target))
			return true;
	}
	return false;
}

static enum check_result
refuse(struct policy_reply *reply, const char *how)
{
	reply->verdict_key = "sender_login";
	snprintf(reply->verdict, sizeof(reply->verdict), "mismatch");
	logline_add(&reply->details, "reason", how);
	snprintf(reply->action, sizeof(reply->action),
		 "553 5.7.1 Sender address rejected: not owned by the authenticated user");
	return CHECK_FINAL;
}

static enum check_result
allowed(struct policy_reply *reply, const char *how)
{
	logline_add(&reply->details, "sender_login", how);
	return CHECK_CONTINUE;
}

static enum check_result
sender_login_decide(void *state, const struct policy_context *ctx,
		    const struct policy_request *req, struct policy_reply *reply)
{
	struct sender_login *sl = state;
	char login[LOGIN_MAX + 1], sender[ADDRESS_MAX + 1], wildcard[ADDRESS_MAX + 3];
	struct redis_eval_call *call = &reply->call;
	struct address a;
	int n, m;

	if (req->protocol_state == NULL || strcasecmp(req->protocol_state, "RCPT") != 0
	    || req->sasl_username == NULL || *req->sasl_username == '\0')
		return CHECK_CONTINUE;
	if (req->sender == NULL || *req->sender == '\0')
		return allowed(reply, "null-sender");
	if (strlen(req->sasl_username) > LOGIN_MAX)
		return refuse(reply, "login-too-long");
	if (address_parse(req->sender, &a, NULL) < 0 || a.is_null)
		return refuse(reply, "sender-unparsable");
	lower_copy(req->sasl_username, login, sizeof(login));
	address_lower(&a, sender, sizeof(sender));
	if (own_mailbox(ctx->cfg, login, sender))
		return allowed(reply, "own");
	if (alias_of_login(ctx->cfg, ctx->lists, sender, login))
		return allowed(reply, "alias");
	if (is_local_domain(ctx->cfg, a.domain)) {
		snprintf(wildcard, sizeof(wildcard), "%.*s@*",
			 (int)(strrchr(sender, '@') - sender), sender);
		if (alias_of_login(ctx->cfg, ctx->lists, wildcard, login))
			return allowed(reply, "alias");
	}
	/* the key, then the sender, in call_buf */
	n = snprintf(reply->call_buf, sizeof(reply->call_buf), "%slogin:%s",
		     ctx->cfg->redis_prefix, login);
	if (n < 0 || (size_t)n + 1 >= sizeof(reply->call_buf))
		return refuse(reply, "login-too-long");
	m = snprintf(reply->call_buf + n + 1, sizeof(reply->call_buf) - (size_t)n - 1, "%s",
		     sender);
	if (m < 0 || (size_t)(n + 1 + m) >= sizeof(reply->call_buf))
		return refuse(reply, "sender-too-long");
	call->script = &sl->script;
	call->nkeys = 1;
	call->nargs = 1;
	call->argv[0] = reply->call_buf;
	call->argv[1] = reply->call_buf + n + 1;
	return CHECK_REDIS;
}

static enum check_result
sender_login_resume(void *state, const struct policy_context *ctx,
		    const struct policy_request *req, const redisReply *r,
		    struct policy_reply *reply)
{
	(void)state;
	(void)req;
	if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
		if (log_due(ctx->redis_warned_at, (long)time(NULL), 60))
			log_warning("sender/login check without Redis (%s): %s",
				    ctx->cfg->policyd.fail_open ? "fail_open: mail passes"
				    : "fail_open off: mail deferred",
				    r && r->type == REDIS_REPLY_ERROR ? r->str : "no reply");
		if (ctx->cfg->policyd.fail_open)
			return allowed(reply, "unchecked-redis");
		logline_add(&reply->details, "reason", "redis");
		reply->verdict_key = "sender_login";
		snprintf(reply->verdict, sizeof(reply->verdict), "error");
		snprintf(reply->action, sizeof(reply->action),
			 "451 4.3.0 Temporary lookup failure, try again later");
		return CHECK_FINAL;
	}
	if (r->integer == 1)
		return allowed(reply, "login-set");
	return refuse(reply, "not-owned");
}

static void
sender_login_close(void *state)
{
	free(state);
}

const struct policy_check check_sender_login = {
	.name = "sender_login",
	.open = sender_login_open,
	.decide = sender_login_decide,
	.resume = sender_login_resume,
	.close = sender_login_close,
};
