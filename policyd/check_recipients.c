/*
 * check_recipients.c - recipient validation (policyd.recipients.validate).
 *
 * At RCPT, for a recipient of one of our domains (domains.local and
 * domains.relay; any other domain is not ours to judge: no verdict):
 *
 *   1. What sluice itself rewrites is valid in every mode, from the shared
 *      list snapshot (ctx->lists, never Redis per request): an address in
 *      sluice:mailboxes, an alias (sluice:alias:<address>, or for a local
 *      domain sluice:alias:<localpart>@*), a domain with a catch-all
 *      (sluice:catchall). A domain mapped by sluice:domainmap is judged
 *      as the address it becomes (up to MAP_HOPS mappings, so a loop of
 *      mappings ends); mapped to a domain that is not ours, it is not
 *      judged (the mail goes on to a server we cannot ask).
 *   2. Otherwise, by mode: `list` answers 550 5.1.1 at once; `smtp` asks
 *      the domain's internal server (its "domain|host:port" next hop; a
 *      domain without one is not judged), `ldap` the directory. Both read
 *      the Redis cache sluice:rcpt:{address} first ("1" valid, "0"
 *      unknown, with positive_ttl and negative_ttl), so every MX host
 *      shares one answer, then ask off the event loop (CHECK_JOB,
 *      job_pool.h) and store what they learnt.
 *
 * Only a definite "no" (a 5xx to RCPT, no entry in the directory) gives
 * 550 5.1.1; a probe or directory that fails or times out gives 450
 * 4.1.1 (the sender retries), never a 5xx and never an accept: the mail
 * is neither lost nor let in unchecked. A Redis failure only skips the
 * cache. A valid recipient gets no final answer: the later checks
 * (greylisting) still run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "job_pool.h"
#include "rcpt_ldap.h"
#include "rcpt_smtp.h"

#define MAP_HOPS 4
#define RCPT_KEY_MAX (64 + 8 + ADDRESS_MAX + 2)

static const char cache_get_lua[] = "return redis.call('GET', KEYS[1])";
static const char cache_set_lua[] =
	"redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2])) return 1";

struct recipients {
	const struct sluice_config *cfg;
	const struct recipients_conf *conf;
	struct redis_script get, set;
};

enum { STEP_CACHE_GET = 1, STEP_CACHE_SET = 2 };

/* The blocking question, copied (a reload may free the config while a
 * pool thread still runs it). */
struct rcpt_job {
	struct job base;	/* first: the pool sees only this */
	enum recipient_validation mode;
	char address[ADDRESS_MAX + 1];
	char host[RELAY_HOST_MAX + 1], helo[256];
	int port, concurrency;
	long idle_ms;
	char *ldap_uri, *ldap_bind_dn, *ldap_password, *ldap_base, *ldap_filter;
	enum rcpt_answer answer;
	char why[240];
};

/* What the lists say of one address, and what is left to ask. */
struct target {
	bool ours;		/* a local or relay domain */
	bool mapped_out;	/* ours, but mapped to a domain that is not */
	const char *valid_by;	/* "mailbox", "alias", "catchall": valid; NULL: ask */
	char address[ADDRESS_MAX + 1];	/* after domain mapping, lowercase */
	const struct relay_hop *hop;	/* smtp: the domain's next hop, or NULL */
};

static bool
is_local(const struct sluice_config *cfg, const char *domain)
{
	return strlist_contains(&cfg->local_domains, domain);
}

static int
relay_index(const struct sluice_config *cfg, const char *domain)
{
	size_t i;

	for (i = 0; i < cfg->relay_domains.count; i++)
		if (strcmp(cfg->relay_domains.items[i], domain) == 0)
			return (int)i;
	return -1;
}

static void
find_target(const struct sluice_config *cfg, const struct lists *l, const char *recipient,
	    struct target *t)
{
	struct address a;
	int hops, relay;

	memset(t, 0, sizeof(*t));
	if (address_parse(recipient, &a, NULL) < 0 || a.is_null || a.domain[0] == '\0'
	    || a.domain_is_literal)
		return;
	address_lower(&a, t->address, sizeof(t->address));
	for (hops = 0;; hops++) {
		char *at = strrchr(t->address, '@'), wildcard[ADDRESS_LOCAL_MAX + 3];
		const char *domain = at + 1, *mapped;
		size_t n;
		bool local = is_local(cfg, domain);

		relay = relay_index(cfg, domain);
		if (!local && relay < 0) {
			/* Not ours; or mapped to a domain that is not: the mail
			 * goes on elsewhere, and we cannot judge it there. */
			t->mapped_out = t->ours;
			t->ours = false;
			return;
		}
		t->ours = true;
		if (l && pattern_match_address(lists_get(l, LIST_MAILBOXES), t->address)) {
			t->valid_by = "mailbox";
			return;
		}
		if (l && lists_alias(l, t->address, &n)) {
			t->valid_by = "alias";
			return;
		}
		snprintf(wildcard, sizeof(wildcard), "%.*s@*", (int)(at - t->address), t->address);
		if (l && local && lists_alias(l, wildcard, &n)) {
			t->valid_by = "alias";
			return;
		}
		if (l && lists_map_get(l, MAP_CATCHALL, domain)) {
			t->valid_by = "catchall";
			return;
		}
		mapped = l ? lists_map_get(l, MAP_DOMAINMAP, domain) : NULL;
		if (mapped == NULL || hops >= MAP_HOPS
		    || (size_t)(at - t->address) + 1 + strlen(mapped) > ADDRESS_MAX)
			break;
		snprintf(at + 1, sizeof(t->address) - (size_t)(at + 1 - t->address), "%s", mapped);
		for (at++; *at; at++)
			*at = (char)(*at >= 'A' && *at <= 'Z' ? *at + 32 : *at);
	}
	if (relay >= 0 && cfg->relay_hops && cfg->relay_hops[relay].host[0])
		t->hop = &cfg->relay_hops[relay];
}

static enum check_result
unknown(struct policy_reply *reply, const char *by)
{
	snprintf(reply->action, sizeof(reply->action), "550 5.1.1 User unknown");
	reply->verdict_key = "rcpt";
	snprintf(reply->verdict, sizeof(reply->verdict), "unknown");
	logline_add(&reply->details, "rcpt_by", by);
	return CHECK_FINAL;
}

static enum check_result
valid(struct policy_reply *reply, const char *by)
{
	logline_add(&reply->details, "rcpt", "valid");
	logline_add(&reply->details, "rcpt_by", by);
	return CHECK_CONTINUE;
}

static enum check_result
tempfail(struct policy_reply *reply, const char *why)
{
	snprintf(reply->action, sizeof(reply->action),
		 "450 4.1.1 Recipient address verification failed, try again later");
	reply->verdict_key = "rcpt";
	snprintf(reply->verdict, sizeof(reply->verdict), "tempfail");
	logline_add(&reply->details, "reason", why);
	return CHECK_FINAL;
}

static const char *
mode_name(enum recipient_validation m)
{
	return m == VALIDATE_SMTP ? "smtp" : "ldap";
}

/* Fills reply->call: script with the cache key and args. */
static enum check_result
cache_call(const struct policy_context *ctx, struct redis_script *script, const char *address,
	   const char *value, long ttl, int step, struct policy_reply *reply)
{
	struct redis_eval_call *call = &reply->call;
	int n = snprintf(reply->call_buf, sizeof(reply->call_buf), "%srcpt:{%s}",
			 ctx->cfg->redis_prefix, address);
	size_t used = (size_t)n + 1;

	if (n < 0 || used + 32 > sizeof(reply->call_buf))
		return CHECK_CONTINUE;
	call->script = script;
	call->nkeys = 1;
	call->nargs = 0;
	call->argv[0] = reply->call_buf;
	if (value) {
		char *v = reply->call_buf + used;

		call->nargs = 2;
		call->argv[1] = v;
		used += (size_t)snprintf(v, 4, "%s", value) + 1;
		call->argv[2] = reply->call_buf + used;
		snprintf(reply->call_buf + used, sizeof(reply->call_buf) - used, "%ld", ttl);
	}
	reply->step = step;
	return CHECK_REDIS;
}

static void
job_free(struct job *job)
{
	struct rcpt_job *j = (struct rcpt_job *)job;

	free(j->ldap_uri);
	free(j->ldap_bind_dn);
	free(j->ldap_password);
	free(j->ldap_base);
	free(j->ldap_filter);
	free(j);
}

static void
job_run(struct job *job, void *thread_state)
{
	struct rcpt_job *j = (struct rcpt_job *)job;

	(void)thread_state;
	if (j->mode == VALIDATE_SMTP) {
		j->answer = rcpt_smtp_probe(j->host, j->port, j->helo, j->address, j->concurrency,
					    j->idle_ms, &job->deadline, j->why, sizeof(j->why));
	} else {
		struct rcpt_ldap_query q = { j->ldap_uri, j->ldap_bind_dn, j->ldap_password,
					     j->ldap_base, j->ldap_filter, j->concurrency,
					     j->idle_ms };

		j->answer = rcpt_ldap_lookup(&q, j->address, &job->deadline, j->why, sizeof(j->why));
	}
}

static char *
dup_or_null(const char *s, bool *failed)
{
	char *d = s ? strdup(s) : NULL;

	if (s && d == NULL)
		*failed = true;
	return d;
}

static enum check_result
ask_backend(struct recipients *r, const struct target *t, struct policy_reply *reply)
{
	const struct recipients_conf *c = r->conf;
	struct rcpt_job *j = calloc(1, sizeof(*j));
	bool failed = false;

	if (j == NULL)
		return tempfail(reply, "out-of-memory");
	j->base.run = job_run;
	j->base.free = job_free;
	j->mode = c->validate;
	snprintf(j->address, sizeof(j->address), "%s", t->address);
	if (t->hop) {
		snprintf(j->host, sizeof(j->host), "%s", t->hop->host);
		j->port = t->hop->port;
	}
	snprintf(j->helo, sizeof(j->helo), "%s", r->cfg->hostname);
	j->concurrency = c->concurrency;
	j->idle_ms = c->idle_ms;
	j->ldap_uri = dup_or_null(c->ldap_uri, &failed);
	j->ldap_bind_dn = dup_or_null(c->ldap_bind_dn, &failed);
	j->ldap_password = dup_or_null(c->ldap_password, &failed);
	j->ldap_base = dup_or_null(c->ldap_base, &failed);
	j->ldap_filter = dup_or_null(c->ldap_filter, &failed);
	if (failed) {
		job_free(&j->base);
		return tempfail(reply, "out-of-memory");
	}
	reply->job = &j->base;
	reply->job_timeout_ms = c->timeout_ms;
	return CHECK_JOB;
}

/* SRS0=... or SRS1=... at milter.srs.domain (any case). */
static bool
is_srs_address(const struct sluice_config *cfg, const char *rcpt)
{
	const char *at = strrchr(rcpt, '@');

	return cfg->milter.srs.domain != NULL && at != NULL
	       && (strncasecmp(rcpt, "srs0=", 5) == 0 || strncasecmp(rcpt, "srs1=", 5) == 0)
	       && strcasecmp(at + 1, cfg->milter.srs.domain) == 0;
}

static enum check_result
recipients_decide(void *state, const struct policy_context *ctx,
		  const struct policy_request *req, struct policy_reply *reply)
{
	struct recipients *r = state;
	struct target t;

	if (req->protocol_state == NULL || strcasecmp(req->protocol_state, "RCPT") != 0
	    || req->recipient == NULL || *req->recipient == '\0')
		return CHECK_CONTINUE;
	if (is_srs_address(ctx->cfg, req->recipient)) {
		/* A bounce to an address sluice-milter's SRS made: the milter
		 * checks its hash and age at RCPT and reverses it (milter/alias.c);
		 * it is in no mailbox list, so it is not ours to judge here. */
		logline_add(&reply->details, "rcpt", "unchecked");
		logline_add(&reply->details, "rcpt_reason", "srs");
		return CHECK_CONTINUE;
	}
	find_target(ctx->cfg, ctx->lists, req->recipient, &t);
	if (t.mapped_out) {
		logline_add(&reply->details, "rcpt", "unchecked");
		logline_add(&reply->details, "rcpt_reason", "mapped-to-other-domain");
	}
	if (!t.ours)
		return CHECK_CONTINUE;
	if (t.valid_by)
		return valid(reply, t.valid_by);
	if (r->conf->validate == VALIDATE_LIST)
		return unknown(reply, "list");
	if (r->conf->validate == VALIDATE_SMTP && t.hop == NULL) {
		logline_add(&reply->details, "rcpt", "unchecked");
		logline_add(&reply->details, "rcpt_reason", "no-next-hop");
		return CHECK_CONTINUE;
	}
	if (cache_call(ctx, &r->get, t.address, NULL, 0, STEP_CACHE_GET, reply) == CHECK_REDIS)
		return CHECK_REDIS;
	return ask_backend(r, &t, reply);
}

static enum check_result
recipients_resume(void *state, const struct policy_context *ctx,
		  const struct policy_request *req, const redisReply *redis,
		  struct policy_reply *reply)
{
	struct recipients *r = state;
	struct target t;

	if (reply->step == STEP_CACHE_SET) {	/* stored (or not): the answer stands */
		if (redis == NULL || redis->type == REDIS_REPLY_ERROR)
			logline_add(&reply->details, "cache", "not-stored");
		return strcmp(reply->verdict, "unknown") == 0 ? CHECK_FINAL : CHECK_CONTINUE;
	}
	if (redis && redis->type == REDIS_REPLY_STRING && redis->len == 1) {
		if (redis->str[0] == '1')
			return valid(reply, "cache");
		if (redis->str[0] == '0')
			return unknown(reply, "cache");
	}
	if (redis == NULL || redis->type == REDIS_REPLY_ERROR)
		logline_add(&reply->details, "cache", "unavailable");
	find_target(ctx->cfg, ctx->lists, req->recipient, &t);
	if (!t.ours || t.valid_by || (r->conf->validate == VALIDATE_SMTP && t.hop == NULL))
		return CHECK_CONTINUE;	/* the lists changed meanwhile */
	return ask_backend(r, &t, reply);
}

static enum check_result
recipients_resume_job(void *state, const struct policy_context *ctx,
		      const struct policy_request *req, const struct job *job,
		      struct policy_reply *reply)
{
	struct recipients *r = state;
	const struct rcpt_job *j = (const struct rcpt_job *)job;
	const char *by = mode_name(r->conf->validate);

	(void)req;
	if (j == NULL || j->base.timed_out)
		return tempfail(reply, "timeout");
	if (j->answer == RCPT_TEMPFAIL)
		return tempfail(reply, j->why);
	if (j->answer == RCPT_UNKNOWN)
		unknown(reply, by);
	else {
		valid(reply, by);
		snprintf(reply->verdict, sizeof(reply->verdict), "valid");
	}
	return cache_call(ctx, &r->set, j->address, j->answer == RCPT_VALID ? "1" : "0",
			  j->answer == RCPT_VALID ? r->conf->positive_ttl : r->conf->negative_ttl,
			  STEP_CACHE_SET, reply) == CHECK_REDIS
		       ? CHECK_REDIS
		       : j->answer == RCPT_UNKNOWN ? CHECK_FINAL : CHECK_CONTINUE;
}

static int
recipients_open(const struct sluice_config *cfg, void **state, char *err, size_t errsize)
{
	struct recipients *r;

	*state = NULL;
	if (cfg->policyd.recipients.validate == VALIDATE_OFF)
		return 0;
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	r->cfg = cfg;
	r->conf = &cfg->policyd.recipients;
	r->get.source = cache_get_lua;
	r->set.source = cache_set_lua;
	*state = r;
	return 0;
}

static void
recipients_close(void *state)
{
	free(state);
}

const struct policy_check check_recipients = {
	.name = "recipients",
	.open = recipients_open,
	.decide = recipients_decide,
	.resume = recipients_resume,
	.resume_spf = NULL,
	.close = recipients_close,
	.resume_job = recipients_resume_job,
};
