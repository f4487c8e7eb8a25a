/*
 * explain_policyd.c - what each sluice-policyd check would decide for a
 * message (sluice-ctl explain), with the checks' own code.
 *
 * Interface: explain_policyd() (explain.h).
 *
 * How: every check of policyd/checks.c's registry is opened on the
 * loaded config, as the daemon's chain opens it, and asked with the
 * requests Postfix sends for the message: CONNECT (asked only when
 * main.cf calls the service from smtpd_client_restrictions), RCPT once
 * per recipient, END-OF-MESSAGE. The check's decide() runs as in the
 * daemon; its waits are served here, synchronously (a CLI may block):
 *   CHECK_REDIS  the check's own script, keys and args, through
 *                redis_ro_eval(): reads reach Redis, writes are recorded
 *                and shown ("would run: SET ..."), never run;
 *   CHECK_SPF    libspf2 (spf_check(), as the SPF pool does);
 *   CHECK_DNS    the worker's resolver (dns_async.h) within the check's
 *                budget;
 *   CHECK_JOB    an SMTP or LDAP probe of an internal server is not run:
 *                the finding says "would probe" (a cached answer in Redis
 *                is read before, by the check itself).
 * Why this and not an explain op per check: the checks' decision code is
 * decide()/resume() plus their Lua scripts; running exactly those with a
 * read-only Redis repeats no rule at all, and a new check is explained
 * the day it is registered, with no second implementation to keep in
 * step (an explain op would restate each check's reading of its keys).
 *
 * Each finding is the check's own verdict (its log key and value), the
 * log fields it added (the "why": access=forbid-ip, relay_entry=2,
 * retry_in=300, ...), the Redis keys it read and what it would write.
 * A check after the one that decided is still asked (marked "not
 * reached": the daemon stops there). Each request sees Redis as it is:
 * the writes of the explain's earlier requests are not applied, so two
 * recipients do not count twice against a rate limit.
 */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "check.h"
#include "dns_async.h"
#include "explain.h"
#include "job_pool.h"
#include "redis_ro.h"
#include "spf.h"

#define CHECKS_MAX 32
#define WAITS_MAX 8	/* waits of one check for one request */

struct session {
	const struct explain_env *env;
	struct policy_context ctx;
	_Atomic long warned;
	void *state[CHECKS_MAX];
	struct spf_checker *spf;
	struct dns_async *dns;
};

/* Fills one field of the request and its attribute (policy_request_get). */
static void
attr(struct policy_request *req, const char **field, const char *name, const char *value)
{
	if (value == NULL)
		return;
	if (field)
		*field = value;
	if (req->attr_count < POLICY_ATTR_MAX) {
		req->attrs[req->attr_count].name = name;
		req->attrs[req->attr_count].value = value;
		req->attr_count++;
	}
}

static void
build_request(const struct explain_input *in, const char *state, const char *rcpt,
	      const char *count, struct policy_request *req)
{
	memset(req, 0, sizeof(*req));
	attr(req, &req->request, "request", "smtpd_access_policy");
	attr(req, &req->protocol_state, "protocol_state", state);
	attr(req, &req->protocol_name, "protocol_name", "ESMTP");
	attr(req, &req->instance, "instance", "sluice-ctl.explain");
	attr(req, &req->helo_name, "helo_name", in->helo);
	attr(req, &req->client_address, "client_address", in->client);
	attr(req, &req->client_name, "client_name", in->client_name);
	attr(req, &req->reverse_client_name, "reverse_client_name", in->reverse_name);
	if (strcmp(state, "CONNECT") != 0)
		attr(req, &req->sender, "sender", in->from);
	attr(req, &req->recipient, "recipient", rcpt ? rcpt : "");
	attr(req, &req->recipient_count, "recipient_count", count);
	if (in->sasl) {
		attr(req, &req->sasl_method, "sasl_method", "PLAIN");
		attr(req, &req->sasl_username, "sasl_username", in->sasl);
	}
}

/* The check's Redis wait: its calls, read-only; the keys and writes go
 * into the finding. */
static enum check_result
serve_redis(struct session *s, const struct policy_check *chk, void *state,
	    const struct policy_request *req, struct policy_reply *reply,
	    struct explain_finding *f)
{
	struct redis_ro_result res[1 + CHECK_MORE_CALLS];
	redisReply *elements[1 + CHECK_MORE_CALLS], array;
	const redisReply *answer = NULL;
	int n = 1 + (reply->more_count > 0 ? reply->more_count : 0), i, k, failed = 0;
	enum check_result r;

	if (n > 1 + CHECK_MORE_CALLS)
		n = 1 + CHECK_MORE_CALLS;
	for (i = 0; i < n; i++) {
		const struct redis_eval_call *call = i == 0 ? &reply->call : &reply->more_calls[i - 1];

		explain_addf(f, " reads:");
		for (k = 0; k < call->nkeys; k++)
			explain_addf(f, " %s", call->argv[k]);
		if (redis_ro_eval(s->env->redis, call, &res[i]) < 0) {
			explain_addf(f, " (redis: %s)", res[i].error);
			failed = 1;
			elements[i] = NULL;
			continue;
		}
		for (k = 0; k < res[i].nwrites; k++)
			explain_addf(f, " would-run: \"%s\"", res[i].writes[k]);
		elements[i] = (redisReply *)(uintptr_t)res[i].reply;
	}
	if (!failed && n == 1) {
		answer = elements[0];
	} else if (!failed) {
		memset(&array, 0, sizeof(array));
		array.type = REDIS_REPLY_ARRAY;
		array.elements = (size_t)n;
		array.element = elements;
		answer = &array;
	}
	r = chk->resume(state, &s->ctx, req, answer, reply);
	for (i = 0; i < n; i++)
		redis_ro_free(&res[i]);
	return r;
}

static enum check_result
serve_spf(struct session *s, const struct policy_check *chk, void *state,
	  const struct policy_request *req, struct policy_reply *reply)
{
	struct spf_answer a = { SPF_TEMPERROR, false, false };

	if (s->spf == NULL)
		s->spf = spf_checker_new();
	if (s->spf) {
		a.result = spf_check(s->spf, reply->spf.client_ip, reply->spf.helo,
				     reply->spf.sender);
		if (a.result == SPF_PASS && reply->spf.breadth)
			a.too_broad = spf_too_broad(s->spf, reply->spf.client_ip,
						    reply->spf.helo, reply->spf.sender);
	}
	return chk->resume_spf(state, &s->ctx, req, &a, reply);
}

static long
ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The worker's DNS wait, here in a loop of our own. */
static enum check_result
serve_dns(struct session *s, const struct policy_check *chk, void *state,
	  const struct policy_request *req, struct policy_reply *reply)
{
	struct dns_question *q = &reply->dns;
	const char *names[DNS_QUESTIONS_MAX];
	struct dns_wait *wait = NULL;
	char err[256];
	long deadline = ms_now() + q->budget_ms;
	int i;

	for (i = 0; i < q->count && i < DNS_QUESTIONS_MAX; i++) {
		names[i] = q->names[i];
		q->answers[i].status = DNS_TIMEOUT;
		q->answers[i].count = 0;
	}
	if (s->dns == NULL)
		s->dns = dns_async_new(1000, err, sizeof(err));
	if (s->dns)
		wait = dns_wait_start(s->dns, names, i, q->answers, s);
	if (wait == NULL) {
		for (i = 0; i < q->count && i < DNS_QUESTIONS_MAX; i++)
			q->answers[i].status = DNS_ERROR;
	} else {
		for (;;) {
			long left = deadline - ms_now();
			struct pollfd p = { dns_async_fd(s->dns), POLLIN, 0 };

			if (dns_async_take_done(s->dns) != NULL)
				break;
			if (left <= 0) {
				dns_wait_abandon(s->dns, wait);
				break;
			}
			(void)poll(&p, 1, dns_async_timeout_ms(s->dns, (int)left));
			dns_async_process(s->dns);
		}
	}
	return chk->resume_dns(state, &s->ctx, req, reply);
}

/* One check on one request, its waits served until it answers. */
static enum check_result
drive(struct session *s, const struct policy_check *chk, void *state,
      const struct policy_request *req, struct policy_reply *reply, struct explain_finding *f)
{
	enum check_result r;
	int waits;

	reply->step = 0;
	reply->more_count = 0;
	r = chk->decide(state, &s->ctx, req, reply);
	for (waits = 0; waits < WAITS_MAX; waits++) {
		switch (r) {
		case CHECK_REDIS:
			r = serve_redis(s, chk, state, req, reply, f);
			break;
		case CHECK_SPF:
			r = serve_spf(s, chk, state, req, reply);
			break;
		case CHECK_DNS:
			r = serve_dns(s, chk, state, req, reply);
			break;
		case CHECK_JOB:
			if (reply->job)
				reply->job->free(reply->job);
			reply->job = NULL;
			snprintf(reply->verdict, sizeof(reply->verdict), "would-probe");
			if (reply->verdict_key == NULL)
				reply->verdict_key = chk->name;
			explain_addf(f, " (no cached answer: the daemon would probe the"
				     " recipient's server; sluice-ctl does not)");
			return CHECK_CONTINUE;
		default:
			return r;
		}
	}
	explain_addf(f, " (gave up after %d waits)", WAITS_MAX);
	return CHECK_CONTINUE;
}

/* "OK"/"PERMIT": the chain answers DUNNO instead (checks.c, answer()). */
static bool
is_permit(const char *action)
{
	size_t n = strncasecmp(action, "OK", 2) == 0 ? 2
		   : strncasecmp(action, "PERMIT", 6) == 0 ? 6 : 0;

	return n && (action[n] == '\0' || action[n] == ' ');
}

/* The request's findings; answer gets the daemon's answer to it. With
 * all false, only the checks that say something at this stage appear. */
static void
explain_request(struct session *s, const struct policy_request *req, const char *stage,
		bool all, struct explain_report *rep, char *answer, size_t answer_size)
{
	struct policy_reply *reply = calloc(1, sizeof(*reply));
	struct explain_finding *cur = calloc(1, sizeof(*cur)), *f;
	bool decided = false;
	size_t i;

	snprintf(answer, answer_size, "DUNNO");
	if (reply == NULL || cur == NULL)
		goto out;
	for (i = 0; policy_checks[i] && i < CHECKS_MAX; i++) {
		const struct policy_check *chk = policy_checks[i];
		enum check_result r = CHECK_CONTINUE;

		memset(cur, 0, sizeof(*cur));
		cur->reached = !decided;
		reply->action[0] = '\0';
		reply->verdict_key = NULL;
		reply->verdict[0] = '\0';
		reply->details.len = 0;
		reply->details.buf[0] = '\0';
		if (s->state[i] == NULL) {
			snprintf(cur->verdict, sizeof(cur->verdict), "off");
		} else {
			r = drive(s, chk, s->state[i], req, reply, cur);
			if (reply->verdict_key)
				snprintf(cur->verdict, sizeof(cur->verdict), "%s=%s",
					 reply->verdict_key, reply->verdict);
			else	/* the daemon logs no verdict of its own */
				snprintf(cur->verdict, sizeof(cur->verdict), "%s",
					 reply->details.len ? "no objection" : "no opinion");
			if (reply->details.len) {
				/* the check's log fields first, then the keys */
				size_t d = strlen(reply->details.buf), n = strlen(cur->reason);

				if (d >= sizeof(cur->reason))
					d = sizeof(cur->reason) - 1;
				if (d + n >= sizeof(cur->reason))
					n = sizeof(cur->reason) - 1 - d;
				memmove(cur->reason + d, cur->reason, n);
				memcpy(cur->reason, reply->details.buf, d);
				cur->reason[d + n] = '\0';
			}
			if (r == CHECK_FINAL) {
				cur->final = true;
				snprintf(cur->action, sizeof(cur->action), "%s", reply->action);
				if (!decided)
					snprintf(answer, answer_size, "%s",
						 is_permit(reply->action) ? "DUNNO" : reply->action);
				decided = true;
			}
		}
		if (!all && reply->verdict_key == NULL && r != CHECK_FINAL)
			continue;	/* nothing to say at this stage */
		if ((f = explain_add(rep, "policyd", stage, chk->name)) == NULL)
			continue;
		snprintf(f->verdict, sizeof(f->verdict), "%s", cur->verdict);
		snprintf(f->action, sizeof(f->action), "%s", cur->action);
		snprintf(f->reason, sizeof(f->reason), "%s", cur->reason);
		f->final = cur->final;
		f->reached = cur->reached;
	}
	if (!decided && reply->prepend[0])
		snprintf(answer, answer_size, "PREPEND %s", reply->prepend);
out:
	free(cur);
	free(reply);
}

/* The Redis test clock the daemon would use (policyd.test_clock). */
static long
test_clock(const struct explain_env *env)
{
	redisReply *r;
	long off = 0;

	if (!env->cfg->policyd.test_clock)
		return 0;
	r = redis_command(env->redis, "GET %stest:clock_offset", env->cfg->redis_prefix);
	if (r && r->type == REDIS_REPLY_STRING)
		off = strtol(r->str, NULL, 10);
	if (r)
		freeReplyObject(r);
	return off;
}

int
explain_policyd(const struct explain_env *env, const struct explain_input *in,
		struct explain_report *rep, char *err, size_t errsize)
{
	struct session s;
	struct policy_request req;
	char stage[40], count[16], scratch[512];
	size_t i;
	int k, rc = 0;

	memset(&s, 0, sizeof(s));
	s.env = env;
	s.ctx.cfg = env->cfg;
	s.ctx.redis = env->redis;
	s.ctx.lists = env->lists;
	s.ctx.clock_offset = test_clock(env);
	s.ctx.now = time(NULL) + s.ctx.clock_offset;
	s.ctx.redis_warned_at = &s.warned;
	for (i = 0; policy_checks[i]; i++) {
		char why[512] = "";

		if (i >= CHECKS_MAX
		    || policy_checks[i]->open(env->cfg, &s.state[i], why, sizeof(why)) < 0) {
			snprintf(err, errsize, "policyd check %s: %s", policy_checks[i]->name,
				 i >= CHECKS_MAX ? "too many checks" : why);
			rc = -1;
			goto out;
		}
	}
	build_request(in, "CONNECT", NULL, "0", &req);
	explain_request(&s, &req, "CONNECT", false, rep, scratch, sizeof(scratch));
	for (k = 0; k < in->nto; k++) {
		snprintf(count, sizeof(count), "%d", k);
		snprintf(stage, sizeof(stage), "RCPT %.34s", in->to[k]);
		build_request(in, "RCPT", in->to[k], count, &req);
		explain_request(&s, &req, stage, true, rep, rep->policyd_answer[k],
				sizeof(rep->policyd_answer[k]));
	}
	snprintf(count, sizeof(count), "%d", in->nto);
	build_request(in, "END-OF-MESSAGE", NULL, count, &req);
	explain_request(&s, &req, "END-OF-MESSAGE", false, rep, scratch, sizeof(scratch));
out:
	for (i = 0; policy_checks[i] && i < CHECKS_MAX; i++)
		if (s.state[i])
			policy_checks[i]->close(s.state[i]);
	if (s.spf)
		spf_checker_free(s.spf);
	if (s.dns)
		dns_async_free(s.dns);
	return rc;
}
