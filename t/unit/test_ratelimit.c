/*
 * test_ratelimit.c - rate limits: the config's rules, the pure parts
 * (stages, subjects, keys), the check's calls and answers through the
 * chain, and the GCRA script at the window's edges, run by a real
 * redis-server started here (on a unix socket in a fresh directory,
 * killed by pid at the end; PR_SET_PDEATHSIG if we crash). The script
 * gets "now" as an argument in these tests, so every edge is exact to
 * the millisecond whatever the machine's load.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "ratelimit.h"
#include "redis_fixture.h"
#include "config_fixture.h"

/* load_text, expect_error, expect_ok, conf_path: config_fixture.h */

static void
test_config(void **state)
{
	struct sluice_config *cfg;
	const struct ratelimit_rule *r;

	(void)state;
	cfg = expect_ok("policyd = { ratelimit = (\n"
			"  { subject = \"client\"; count = \"connections\"; limit = 5; window = \"60s\"; },\n"
			"  { name = \"out-rcpt\"; subject = \"sasl_user\"; count = \"recipients\";\n"
			"    limit = 500; window = \"1h\"; direction = \"outbound\"; },\n"
			"  { subject = \"client\"; ipv4_prefix = 24; ipv6_prefix = 64; count = \"messages\";\n"
			"    limit = 100; window = \"1d\"; direction = \"any\"; } );\n"
			"  ratelimit_exempt = { networks = [ \"192.0.2.0/24\" ]; senders = [ \"A@B.test\" ];\n"
			"    sasl_users = [ \"newsletter\" ]; };\n"
			"  max_recipients = 25; };\n");
	assert_int_equal(cfg->policyd.ratelimit.rule_count, 3);
	r = cfg->policyd.ratelimit.rules;
	assert_string_equal(r[0].name, "rule1");
	assert_int_equal(r[0].subject, RL_CLIENT);
	assert_int_equal(r[0].count, RL_CONNECTIONS);
	assert_int_equal(r[0].direction, RL_INBOUND);
	assert_int_equal(r[0].limit, 5);
	assert_int_equal(r[0].window, 60);
	assert_int_equal(r[0].ipv4_prefix, 32);
	assert_string_equal(r[1].name, "out-rcpt");
	assert_int_equal(r[1].direction, RL_OUTBOUND);
	assert_int_equal(r[1].window, 3600);
	assert_int_equal(r[2].ipv4_prefix, 24);
	assert_int_equal(r[2].ipv6_prefix, 64);
	assert_int_equal(r[2].direction, RL_ANY);
	assert_string_equal(cfg->policyd.ratelimit.exempt_senders.items[0], "a@b.test");
	assert_string_equal(cfg->policyd.ratelimit.exempt_sasl_users.items[0], "newsletter");
	assert_int_equal(cfg->policyd.max_recipients, 25);
	config_free(cfg);

	expect_error("policyd = {\n ratelimit = ( { subject = \"client\"; limit = 5; window = 60; } ); };\n",
		     2, "needs count");
	expect_error("policyd = {\n ratelimit = ( { subject = \"ip\"; count = \"connections\"; limit = 5; window = 60; } ); };\n",
		     2, "subject: must be");
	expect_error("policyd = {\n ratelimit = ( { subject = \"sender\"; count = \"connections\"; limit = 5; window = 60; } ); };\n",
		     2, "subject must be \"client\"");
	expect_error("policyd = {\n ratelimit = ( { subject = \"recipient\"; count = \"messages\"; limit = 5; window = 60; } ); };\n",
		     2, "many recipients");
	expect_error("policyd = {\n ratelimit = ( { subject = \"client\"; count = \"messages\"; window = 60; } ); };\n",
		     2, "needs limit and window");
	expect_error("policyd = { ratelimit = ( { subject = \"client\"; count = \"messages\";\n limit = 0; window = 60; } ); };\n",
		     2, "out of range");
	expect_error("policyd = { ratelimit = ( { subject = \"client\"; count = \"messages\";\n limit = 5; window = \"8d\"; } ); };\n",
		     2, "window");
	expect_error("policyd = { ratelimit = ( { subject = \"client\"; count = \"messages\";\n limit = 5; window = 60; colour = 1; } ); };\n",
		     2, "colour");
	expect_error("policyd = { ratelimit = ( { subject = \"client\"; count = \"messages\"; limit = 5;\n window = 60; direction = \"sideways\"; } ); };\n",
		     2, "direction: must be");
	expect_error("policyd = { ratelimit = ( { name = \"a\"; subject = \"client\"; count = \"messages\"; limit = 5; window = 60; },\n"
		     " { name = \"a\"; subject = \"sender\"; count = \"messages\"; limit = 5; window = 60; } ); };\n",
		     2, "used twice");
	expect_error("policyd = { ratelimit = ( { name = \"a b\"; subject = \"client\";\n count = \"messages\"; limit = 5; window = 60; } ); };\n",
		     1, "name:");
	expect_error("policyd = { ratelimit_exempt = {\n sasl_users = [ \"a b\" ]; }; };\n", 2, "spaces");
	expect_error("policyd = { ratelimit_exempt = {\n networks = [ \"10.0.0.0/99\" ]; }; };\n", 2, "networks");
	expect_error("policyd = {\n ratelimit = ( 1, 2, 3, 4, 5, 6, 7, 8, 9 ); };\n", 2, "at most 8 rules");
	expect_error("policyd = {\n max_recipients = 100001; };\n", 2, "out of range");
}

/* A request from text lines ("name=value\n..."), parsed in buf. */
static void
request(char *buf, size_t size, struct policy_request *req, const char *text)
{
	const char *why;
	int n = snprintf(buf, size, "request=smtpd_access_policy\n%s", text);

	assert_true(n > 0 && (size_t)n < size);
	if (buf[n - 1] == '\n')
		buf[--n] = '\0';
	assert_int_equal(policy_request_parse(buf, (size_t)n, req, &why), 0);
}

static void
test_subjects_and_keys(void **state)
{
	struct ratelimit_rule rule = { .name = "r", .subject = RL_CLIENT, .count = RL_RECIPIENTS,
				       .direction = RL_INBOUND, .limit = 5, .window = 60,
				       .ipv4_prefix = 24, .ipv6_prefix = 64 };
	struct policy_request req;
	char buf[2048], subject[RATELIMIT_SUBJECT_MAX + 1], key[RATELIMIT_KEY_MAX];
	char odd[ADDRESS_MAX + 1];

	(void)state;
	assert_int_equal(ratelimit_stage("CONNECT"), RL_CONNECTIONS);
	assert_int_equal(ratelimit_stage("RCPT"), RL_RECIPIENTS);
	assert_int_equal(ratelimit_stage("END-OF-MESSAGE"), RL_MESSAGES);
	assert_int_equal(ratelimit_stage("DATA"), -1);
	assert_int_equal(ratelimit_stage(NULL), -1);
	assert_true(ratelimit_applies(&rule, RL_RECIPIENTS, false));
	assert_false(ratelimit_applies(&rule, RL_RECIPIENTS, true));
	assert_false(ratelimit_applies(&rule, RL_MESSAGES, false));
	assert_false(ratelimit_applies(&rule, -1, false));
	rule.direction = RL_OUTBOUND;
	assert_true(ratelimit_applies(&rule, RL_RECIPIENTS, true));
	assert_false(ratelimit_applies(&rule, RL_RECIPIENTS, false));
	rule.direction = RL_ANY;
	assert_true(ratelimit_applies(&rule, RL_RECIPIENTS, true));
	assert_true(ratelimit_applies(&rule, RL_RECIPIENTS, false));

	request(buf, sizeof(buf), &req, "protocol_state=RCPT\nclient_address=192.0.2.77\n"
		"sender=prvs=1234abcd=Alice+news@Example.TEST\nrecipient=Bob@Example.test\n");
	assert_int_equal(ratelimit_subject(&rule, &req, subject, sizeof(subject)), 0);
	assert_string_equal(subject, "ip:192.0.2.0/24");
	assert_int_equal(ratelimit_key("sluice:", &rule, subject, key, sizeof(key)), 0);
	assert_string_equal(key, "sluice:rl:{ip:192.0.2.0/24}:any:rcpt:5/60");
	rule.subject = RL_SENDER;
	assert_int_equal(ratelimit_subject(&rule, &req, subject, sizeof(subject)), 0);
	assert_string_equal(subject, "from:alice@example.test");	/* BATV, +ext gone */
	request(buf, sizeof(buf), &req, "sender=user2@example.test\nrecipient=Bob@Example.test\n");
	assert_int_equal(ratelimit_subject(&rule, &req, subject, sizeof(subject)), 0);
	assert_string_equal(subject, "from:user2@example.test");	/* digits kept */
	rule.subject = RL_SENDER_DOMAIN;
	assert_int_equal(ratelimit_subject(&rule, &req, subject, sizeof(subject)), 0);
	assert_string_equal(subject, "dom:example.test");
	rule.subject = RL_RECIPIENT;
	assert_int_equal(ratelimit_subject(&rule, &req, subject, sizeof(subject)), 0);
	assert_string_equal(subject, "rcpt:bob@example.test");
	rule.subject = RL_SASL_USER;
	assert_int_equal(ratelimit_subject(&rule, &req, subject, sizeof(subject)), 1);

	request(buf, sizeof(buf), &req, "protocol_state=RCPT\nclient_address=2001:db8:1:2:3::9\n"
		"sender=\nsasl_username=Carol\nrecipient=x@y.test\n");
	assert_int_equal(ratelimit_subject(&rule, &req, subject, sizeof(subject)), 0);
	assert_string_equal(subject, "sasl:carol");
	rule.subject = RL_SENDER;
	assert_int_equal(ratelimit_subject(&rule, &req, subject, sizeof(subject)), 1);	/* <> */
	rule.subject = RL_SENDER_DOMAIN;
	assert_int_equal(ratelimit_subject(&rule, &req, subject, sizeof(subject)), 1);
	rule.subject = RL_CLIENT;
	assert_int_equal(ratelimit_subject(&rule, &req, subject, sizeof(subject)), 0);
	assert_string_equal(subject, "ip:2001:db8:1:2::/64");

	request(buf, sizeof(buf), &req, "protocol_state=CONNECT\nclient_address=not-an-ip\n");
	assert_int_equal(ratelimit_subject(&rule, &req, subject, sizeof(subject)), -1);

	/* The hash tag is the whole subject: '{' '}' '%' are escaped. */
	rule.direction = RL_OUTBOUND;
	rule.count = RL_MESSAGES;
	assert_int_equal(ratelimit_key("p:", &rule, "from:a}{%b@x", key, sizeof(key)), 0);
	assert_string_equal(key, "p:rl:{from:a%7D%7B%25b@x}:out:msg:5/60");
	/* the worst subject still fits RATELIMIT_KEY_MAX, with a 64-byte prefix */
	memset(odd, '}', ADDRESS_MAX);
	odd[ADDRESS_MAX] = '\0';
	snprintf(subject, sizeof(subject), "from:%s", odd);
	rule.limit = 1000000;
	rule.window = 604800;
	memset(buf, 'p', 64);
	buf[64] = '\0';
	assert_int_equal(ratelimit_key(buf, &rule, subject, key, sizeof(key)), 0);
	assert_int_equal(ratelimit_key(buf, &rule, subject, key, strlen(key)), -1);
}

/* ---- the check through the chain, with Redis's replies made here ---- */

static redisReply *
script_reply(long long allowed, long long value)
{
	redisReply *r = calloc(1, sizeof(*r));

	r->type = REDIS_REPLY_ARRAY;
	r->elements = 2;
	r->element = calloc(2, sizeof(*r->element));
	r->element[0] = calloc(1, sizeof(redisReply));
	r->element[1] = calloc(1, sizeof(redisReply));
	r->element[0]->type = r->element[1]->type = REDIS_REPLY_INTEGER;
	r->element[0]->integer = allowed;
	r->element[1]->integer = value;
	return r;
}

static void
free_reply(redisReply *r)
{
	free(r->element[0]);
	free(r->element[1]);
	free(r->element);
	free(r);
}

/* The daemon's chain for cfg, and a context as the worker gives it. */
static struct check_chain *
open_chain(const struct sluice_config *cfg, const struct lists *lists, struct redis_client *rc,
	   _Atomic long *warned_at, struct policy_context *ctx)
{
	char err[256];
	struct check_chain *chain = check_chain_open(cfg, err, sizeof(err));

	if (chain == NULL)
		fail_msg("chain: %s", err);
	ctx->cfg = cfg;
	ctx->lists = lists;
	ctx->redis = rc;
	ctx->redis_warned_at = warned_at;
	return chain;
}

static void
test_check(void **state)
{
	struct sluice_config *cfg;
	struct check_chain *chain;
	struct policy_context ctx = { 0 };
	struct policy_request req;
	struct policy_reply *reply = calloc(1, sizeof(*reply));
	struct lists *lists = lists_new("sluice:");
	redisReply *r1, *r2, array = { 0 }, *flat[4];
	struct redis_settings settings = { .timeout_ms = 100 };
	struct redis_client *rc = redis_client_new(&settings);
	_Atomic long warned_at = 0;
	char buf[2048];
	size_t cursor;
	int i;

	(void)state;
	cfg = expect_ok("trusted_networks = [ \"10.0.0.0/8\" ];\n"
			"policyd = { greylist = { enabled = false; }; ratelimit = (\n"
			"  { name = \"conn\"; subject = \"client\"; count = \"connections\"; limit = 5; window = 60; },\n"
			"  { name = \"rcpt-client\"; subject = \"client\"; count = \"recipients\"; limit = 50; window = 60; },\n"
			"  { name = \"rcpt-sender\"; subject = \"sender\"; count = \"recipients\"; limit = 20; window = \"1h\"; },\n"
			"  { name = \"out\"; subject = \"sasl_user\"; count = \"recipients\"; limit = 100; window = \"1h\"; direction = \"outbound\"; } );\n"
			"  ratelimit_exempt = { senders = [ \"friend@x.test\" ]; sasl_users = [ \"bulk\" ]; };\n"
			"  max_recipients = 3; };\n");
	chain = open_chain(cfg, lists, rc, &warned_at, &ctx);

	/* CONNECT: one rule, one call, and over its limit 421 4.7.0 */
	request(buf, sizeof(buf), &req, "protocol_state=CONNECT\nclient_address=192.0.2.7\n");
	cursor = 0;
	assert_int_equal(check_chain_decide(chain, &ctx, &req, reply, &cursor), CHECK_REDIS);
	assert_int_equal(reply->more_count, 0);
	assert_int_equal(reply->call.nkeys, 1);
	assert_int_equal(reply->call.nargs, 4);
	assert_string_equal(reply->call.argv[0], "sluice:rl:{ip:192.0.2.7}:in:conn:5/60");
	assert_string_equal(reply->call.argv[1], "0");		/* clock offset */
	assert_string_equal(reply->call.argv[2], "");		/* no test "now" */
	assert_string_equal(reply->call.argv[3], "60000");	/* window, ms */
	assert_string_equal(reply->call.argv[4], "5");		/* limit */
	r1 = script_reply(0, 11500);
	assert_int_equal(check_chain_resume(chain, &ctx, &req, reply, &cursor, r1), CHECK_FINAL);
	free_reply(r1);
	assert_string_equal(reply->action,
			    "421 4.7.0 Rate limit exceeded (conn), try again in 12 seconds");
	assert_string_equal(reply->verdict_key, "ratelimit");
	assert_string_equal(reply->verdict, "over");

	/* RCPT, inbound: two rules in one script call; the second one over */
	request(buf, sizeof(buf), &req, "protocol_state=RCPT\nclient_address=192.0.2.7\n"
		"sender=a@x.test\nrecipient=b@example.test\ninstance=t1\n");
	cursor = 0;
	assert_int_equal(check_chain_decide(chain, &ctx, &req, reply, &cursor), CHECK_REDIS);
	assert_int_equal(reply->more_count, 0);
	assert_int_equal(reply->call.nkeys, 2);
	assert_int_equal(reply->call.nargs, 6);
	assert_string_equal(reply->call.argv[0], "sluice:rl:{ip:192.0.2.7}:in:rcpt:50/60");
	assert_string_equal(reply->call.argv[1], "sluice:rl:{from:a@x.test}:in:rcpt:20/3600");
	assert_string_equal(reply->call.argv[4], "60000");
	assert_string_equal(reply->call.argv[5], "50");
	assert_string_equal(reply->call.argv[6], "3600000");
	assert_string_equal(reply->call.argv[7], "20");
	/* the script's flat reply: { allowed, value } per key */
	r1 = script_reply(1, 49);
	r2 = script_reply(0, 180000);
	flat[0] = r1->element[0];
	flat[1] = r1->element[1];
	flat[2] = r2->element[0];
	flat[3] = r2->element[1];
	array.type = REDIS_REPLY_ARRAY;
	array.elements = 4;
	array.element = flat;
	assert_int_equal(check_chain_resume(chain, &ctx, &req, reply, &cursor, &array), CHECK_FINAL);
	assert_string_equal(reply->action,
			    "450 4.7.1 Rate limit exceeded (rcpt-sender), try again in 180 seconds");
	/* both allowed: on to max_recipients, which passes the first three */
	r2->element[0]->integer = 1;
	cursor = 0;
	assert_int_equal(check_chain_decide(chain, &ctx, &req, reply, &cursor), CHECK_REDIS);
	assert_int_equal(check_chain_resume(chain, &ctx, &req, reply, &cursor, &array), CHECK_FINAL);
	assert_string_equal(reply->action, "DUNNO");
	assert_string_equal(reply->verdict, "pass");

	/* max_recipients runs before the rate limits (checks.c): the
	 * recipient a rate limit refused above counted, so the 2nd request
	 * of transaction t1 above and this one pass, the next ones get
	 * 452 4.5.3 (fewer accepted, never more); another transaction
	 * counts from 0 */
	for (i = 2; i <= 6; i++) {
		if (i == 6)
			request(buf, sizeof(buf), &req, "protocol_state=RCPT\n"
				"client_address=192.0.2.7\nsender=a@x.test\n"
				"recipient=b@example.test\ninstance=t2\n");
		cursor = 0;
		if (i >= 3 && i <= 5) {	/* refused before the rate limits: no call */
			assert_int_equal(check_chain_decide(chain, &ctx, &req, reply, &cursor),
					 CHECK_FINAL);
		} else {
			assert_int_equal(check_chain_decide(chain, &ctx, &req, reply, &cursor),
					 CHECK_REDIS);
			assert_int_equal(check_chain_resume(chain, &ctx, &req, reply, &cursor,
							    &array), CHECK_FINAL);
		}
		if (i >= 3 && i <= 5) {
			assert_string_equal(reply->action, "452 4.5.3 Too many recipients");
			assert_string_equal(reply->verdict_key, "max_recipients");
		} else {
			assert_string_equal(reply->action, "DUNNO");
		}
	}

	/* a Redis failure: fail_open (the default) lets it on */
	request(buf, sizeof(buf), &req, "protocol_state=RCPT\nclient_address=192.0.2.7\n"
		"sender=a@x.test\nrecipient=b@example.test\ninstance=t4\n");
	cursor = 0;
	assert_int_equal(check_chain_decide(chain, &ctx, &req, reply, &cursor), CHECK_REDIS);
	assert_int_equal(check_chain_resume(chain, &ctx, &req, reply, &cursor, NULL), CHECK_FINAL);
	assert_string_equal(reply->action, "DUNNO");
	assert_string_equal(reply->verdict, "error");
	/* an error reply (the script failed) is a Redis failure too, and so
	 * is a reply short of one rule's answer */
	array.type = REDIS_REPLY_ERROR;
	array.str = (char *)(uintptr_t)"ERR test";
	cursor = 0;
	assert_int_equal(check_chain_decide(chain, &ctx, &req, reply, &cursor), CHECK_REDIS);
	assert_int_equal(check_chain_resume(chain, &ctx, &req, reply, &cursor, &array), CHECK_FINAL);
	assert_string_equal(reply->verdict, "error");
	array.type = REDIS_REPLY_ARRAY;
	array.str = NULL;
	array.elements = 2;
	cursor = 0;
	assert_int_equal(check_chain_decide(chain, &ctx, &req, reply, &cursor), CHECK_REDIS);
	assert_int_equal(check_chain_resume(chain, &ctx, &req, reply, &cursor, &array), CHECK_FINAL);
	assert_string_equal(reply->verdict, "error");
	array.elements = 4;
	free_reply(r1);
	free_reply(r2);

	/* exempt sender: no call at all */
	request(buf, sizeof(buf), &req, "protocol_state=RCPT\nclient_address=192.0.2.7\n"
		"sender=friend@x.test\nrecipient=b@example.test\ninstance=t5\n");
	cursor = 0;
	assert_int_equal(check_chain_decide(chain, &ctx, &req, reply, &cursor), CHECK_FINAL);
	assert_non_null(strstr(reply->details.buf, "ratelimit=exempt_sender"));

	/* outbound (authenticated): only the outbound rule */
	request(buf, sizeof(buf), &req, "protocol_state=RCPT\nclient_address=192.0.2.7\n"
		"sender=a@x.test\nsasl_username=joe\nrecipient=b@example.test\ninstance=t6\n");
	cursor = 0;
	assert_int_equal(check_chain_decide(chain, &ctx, &req, reply, &cursor), CHECK_REDIS);
	assert_int_equal(reply->more_count, 0);
	assert_string_equal(reply->call.argv[0], "sluice:rl:{sasl:joe}:out:rcpt:100/3600");
	request(buf, sizeof(buf), &req, "protocol_state=RCPT\nclient_address=192.0.2.7\n"
		"sender=a@x.test\nsasl_username=BULK\nrecipient=b@example.test\ninstance=t7\n");
	cursor = 0;
	assert_int_equal(check_chain_decide(chain, &ctx, &req, reply, &cursor), CHECK_FINAL);
	assert_non_null(strstr(reply->details.buf, "ratelimit=exempt_sasl_user"));
	/* trusted network, no SASL: outbound, and no outbound rule has a subject */
	request(buf, sizeof(buf), &req, "protocol_state=RCPT\nclient_address=10.1.2.3\n"
		"sender=a@x.test\nrecipient=b@example.test\ninstance=t8\n");
	cursor = 0;
	assert_int_equal(check_chain_decide(chain, &ctx, &req, reply, &cursor), CHECK_FINAL);
	assert_string_equal(reply->action, "DUNNO");

	/* other stages count nothing */
	request(buf, sizeof(buf), &req, "protocol_state=DATA\nclient_address=192.0.2.7\n");
	cursor = 0;
	assert_int_equal(check_chain_decide(chain, &ctx, &req, reply, &cursor), CHECK_FINAL);

	check_chain_close(chain);
	redis_client_free(rc);
	lists_release(lists);
	config_free(cfg);
	free(reply);
}

/* max_recipients' table of transactions: a transaction in use keeps its
 * count among thousands of others; one crowded out counts from 0 again
 * (more recipients pass, none is refused wrongly). */
static const char *
rcpt(struct check_chain *chain, const struct policy_context *ctx, struct policy_reply *reply,
     const char *instance)
{
	struct policy_request req;
	char buf[512], text[256];
	size_t cursor = 0;

	snprintf(text, sizeof(text), "protocol_state=RCPT\nclient_address=192.0.2.1\n"
		 "sender=a@x.test\nrecipient=b@example.test\ninstance=%s\n", instance);
	request(buf, sizeof(buf), &req, text);
	assert_int_equal(check_chain_decide(chain, ctx, &req, reply, &cursor), CHECK_FINAL);
	return reply->action;
}

static void
test_max_recipients_table(void **state)
{
	struct sluice_config *cfg = expect_ok("policyd = { greylist = { enabled = false; };\n"
					      "  max_recipients = 2; };\n");
	struct policy_reply *reply = calloc(1, sizeof(*reply));
	struct policy_context ctx = { 0 };
	struct check_chain *chain;
	char err[256], other[32];
	int i;

	(void)state;
	chain = check_chain_open(cfg, err, sizeof(err));
	assert_non_null(chain);
	ctx.cfg = cfg;
	assert_string_equal(rcpt(chain, &ctx, reply, "busy"), "DUNNO");
	for (i = 0; i < 20000; i++) {
		snprintf(other, sizeof(other), "other.%d", i);
		assert_string_equal(rcpt(chain, &ctx, reply, other), "DUNNO");
		if (i % 500 == 0 && i > 0)	/* the busy one is used now and then */
			assert_string_equal(rcpt(chain, &ctx, reply, "busy"),
					    i == 500 ? "DUNNO" : "452 4.5.3 Too many recipients");
	}
	/* "other.0" was crowded out long ago: it starts again from 0 */
	assert_string_equal(rcpt(chain, &ctx, reply, "other.0"), "DUNNO");
	assert_string_equal(rcpt(chain, &ctx, reply, "other.0"), "DUNNO");
	assert_string_equal(rcpt(chain, &ctx, reply, "other.0"), "452 4.5.3 Too many recipients");
	check_chain_close(chain);
	config_free(cfg);
	free(reply);
}

/* ---- the script in a real Redis ---- */

/* redis_setup, redis_teardown, client(): redis_fixture.h */

/* One event at now_ms for a rule of limit per window_ms, through the
 * script with one key: 1 allowed, 0 not; *value as the script says. */
static int
event(struct redis_client *rc, const char *key, long window_ms, int limit, long long now_ms,
      long long *value)
{
	static struct redis_script script = { ratelimit_multi_lua, "" };
	char w[24], l[24], n[40];
	const char *keys[1] = { key }, *args[4] = { "0", n, w, l };
	redisReply *r;
	int answer;

	snprintf(w, sizeof(w), "%ld", window_ms);
	snprintf(l, sizeof(l), "%d", limit);
	snprintf(n, sizeof(n), "%lld", now_ms);
	r = redis_eval(rc, &script, 1, keys, 4, args);
	assert_non_null(r);
	answer = ratelimit_multi_reply(r, 0, value);
	if (answer < 0)
		fail_msg("script reply: %s", r->type == REDIS_REPLY_ERROR ? r->str : "?");
	freeReplyObject(r);
	return answer;
}

static long long
pttl(struct redis_client *rc, const char *key)
{
	redisReply *r = redis_command(rc, "PTTL %s", key);
	long long v;

	assert_non_null(r);
	v = r->integer;
	freeReplyObject(r);
	return v;
}

static void
test_gcra_edges(void **state)
{
	struct redis_client *rc = client();
	const long long t0 = 1800000000000LL;	/* a 2027 instant, in ms */
	long long v;
	redisReply *before, *after;
	int i;

	(void)state;
	/* a subject without a key: the TAT one interval ahead, the key
	 * living that long */
	assert_int_equal(event(rc, "k0", 60000, 5, t0, &v), 1);
	assert_int_equal(v, 4);
	before = redis_command(rc, "GET k0");
	assert_int_equal(before->type, REDIS_REPLY_STRING);
	assert_int_equal(strtoll(before->str, NULL, 10), t0 + 12000);
	freeReplyObject(before);
	v = pttl(rc, "k0");
	assert_true(v > 11000 && v <= 12000);
	/* 5 per 60 s: a burst of 5, then one every 12 s */
	for (i = 0; i < 5; i++) {
		assert_int_equal(event(rc, "k1", 60000, 5, t0, &v), 1);
		assert_int_equal(v, 4 - i);	/* events left */
	}
	assert_int_equal(event(rc, "k1", 60000, 5, t0, &v), 0);
	assert_int_equal(v, 12000);		/* the 6th: wait one interval */
	/* a refusal does not move the state */
	before = redis_command(rc, "GET k1");
	assert_int_equal(event(rc, "k1", 60000, 5, t0 + 5000, &v), 0);
	assert_int_equal(v, 7000);
	after = redis_command(rc, "GET k1");
	assert_string_equal(before->str, after->str);
	freeReplyObject(before);
	freeReplyObject(after);
	/* the edge of the interval, to the millisecond */
	assert_int_equal(event(rc, "k1", 60000, 5, t0 + 11999, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(event(rc, "k1", 60000, 5, t0 + 12000, &v), 1);
	assert_int_equal(v, 0);
	assert_int_equal(event(rc, "k1", 60000, 5, t0 + 12000, &v), 0);
	/* the TTL is how far the state is ahead: at most the window */
	v = pttl(rc, "k1");
	assert_true(v > 0 && v <= 60000);
	/* a whole window idle after the last event: a full burst again */
	for (i = 0; i < 5; i++)
		assert_int_equal(event(rc, "k1", 60000, 5, t0 + 72000, &v), 1);
	assert_int_equal(event(rc, "k1", 60000, 5, t0 + 72000, &v), 0);

	/* 7 per 60 s: an interval that is no whole number of ms still lets
	 * exactly 7 through per burst, and the 8th at t + 60000/7 */
	for (i = 0; i < 7; i++)
		assert_int_equal(event(rc, "k2", 60000, 7, t0, &v), 1);
	assert_int_equal(event(rc, "k2", 60000, 7, t0, &v), 0);
	assert_int_equal(v, 8572);		/* ceil(8571.43) */
	assert_int_equal(event(rc, "k2", 60000, 7, t0 + 8571, &v), 0);
	assert_int_equal(event(rc, "k2", 60000, 7, t0 + 8572, &v), 1);

	/* limit 1: one event per window, the next exactly a window later */
	assert_int_equal(event(rc, "k3", 1000, 1, t0, &v), 1);
	assert_int_equal(event(rc, "k3", 1000, 1, t0 + 999, &v), 0);
	assert_int_equal(event(rc, "k3", 1000, 1, t0 + 1000, &v), 1);
	/* a clock that goes back (another host's) is no free burst */
	assert_int_equal(event(rc, "k3", 1000, 1, t0 - 5000, &v), 0);

	/* an expired key is a full burst: the TTL is the state's end */
	assert_int_equal(event(rc, "k4", 60000, 2, t0, &v), 1);
	redis_client_free(rc);
}

/* Without "now" the script uses Redis's TIME plus the offset, and a key
 * it sets expires within its window (here 1 s, really). */
static void
test_redis_time_and_expiry(void **state)
{
	static struct redis_script script = { ratelimit_multi_lua, "" };
	struct redis_client *rc = client();
	const char *keys[1] = { "live" }, *args[4] = { "0", "", "1000", "2" };
	long long v;
	redisReply *r;
	int i;

	(void)state;
	for (i = 0; i < 3; i++) {
		r = redis_eval(rc, &script, 1, keys, 4, args);
		assert_non_null(r);
		assert_int_equal(ratelimit_multi_reply(r, 0, &v), i < 2 ? 1 : 0);
		freeReplyObject(r);
	}
	v = pttl(rc, "live");
	assert_true(v > 0 && v <= 1000);
	usleep(1100 * 1000);
	r = redis_command(rc, "EXISTS live");
	assert_int_equal(r->integer, 0);
	freeReplyObject(r);
	redis_client_free(rc);
}

/* All rules of a request in one call (ratelimit_multi_lua): each key
 * answers as a call of its own would, a key over its limit
 * does not keep the others from counting, and every key gets its TTL. */
static void
test_multi_rules(void **state)
{
	static struct redis_script multi = { ratelimit_multi_lua, "" };
	struct redis_client *rc = client();
	const long long t0 = 1800000000000LL;
	const char *keys[2] = { "mA", "mB" }, *args[6] = { "0", "", "60000", "2", "60000", "5" };
	char now[40];
	long long v, single;
	redisReply *r;
	int i;

	(void)state;
	snprintf(now, sizeof(now), "%lld", t0);
	args[1] = now;
	for (i = 0; i < 3; i++) {
		r = redis_eval(rc, &multi, 2, keys, 6, args);
		assert_non_null(r);
		assert_int_equal(r->elements, 4);
		/* A: 2 per minute, over at the 3rd event, 30 s to wait */
		assert_int_equal(ratelimit_multi_reply(r, 0, &v), i < 2 ? 1 : 0);
		assert_int_equal(v, i < 2 ? 1 - i : 30000);
		/* B: 5 per minute, counts all three, A's refusal included */
		assert_int_equal(ratelimit_multi_reply(r, 1, &v), 1);
		assert_int_equal(v, 4 - i);
		assert_int_equal(ratelimit_multi_reply(r, 2, &v), -1);	/* no 3rd key */
		freeReplyObject(r);
	}
	/* the same state as calls of one key leave: one answers the 4th
	 * event of B as the two-key call would have */
	assert_int_equal(event(rc, "mB", 60000, 5, t0, &single), 1);
	assert_int_equal(single, 1);
	v = pttl(rc, "mA");
	assert_true(v > 0 && v <= 60000);
	v = pttl(rc, "mB");
	assert_true(v > 0 && v <= 60000);
	/* without "now": Redis's TIME */
	args[1] = "";
	keys[0] = "mC";
	keys[1] = "mD";
	r = redis_eval(rc, &multi, 2, keys, 6, args);
	assert_non_null(r);
	assert_int_equal(ratelimit_multi_reply(r, 0, &v), 1);
	assert_int_equal(ratelimit_multi_reply(r, 1, &v), 1);
	freeReplyObject(r);
	redis_client_free(rc);
}


/* One request through the chain, its one Redis call run on real Redis:
 * the call has nkeys keys (-1: any), the first first_key (NULL: any),
 * and the chain ends after it. */
static void
decide_with_call(struct check_chain *chain, struct policy_context *ctx, struct redis_client *rc,
		 struct policy_reply *reply, const char *text, int nkeys, const char *first_key)
{
	struct policy_request req;
	char buf[2048];
	size_t cursor = 0;
	redisReply *r;

	request(buf, sizeof(buf), &req, text);
	assert_int_equal(check_chain_decide(chain, ctx, &req, reply, &cursor), CHECK_REDIS);
	assert_int_equal(reply->more_count, 0);
	if (nkeys >= 0)
		assert_int_equal(reply->call.nkeys, nkeys);
	if (first_key)
		assert_string_equal(reply->call.argv[0], first_key);
	r = run_call(rc, &reply->call);
	assert_int_equal(check_chain_resume(chain, ctx, &req, reply, &cursor, r), CHECK_FINAL);
	freeReplyObject(r);
}

/* Through the chain with greylisting on: the rate limits' call waits
 * (check.h, call_may_wait) and goes with greylisting's in ONE script
 * call; a refusal stops it before greylisting; when greylisting has
 * nothing to ask, the held call goes alone. Real Redis. */
static void
test_held_with_greylisting(void **state)
{
	struct sluice_config *cfg;
	struct check_chain *chain;
	struct policy_context ctx = { 0 };
	struct policy_request req;
	struct policy_reply *reply = calloc(1, sizeof(*reply));
	struct lists *lists = lists_new("sluice:");
	struct redis_client *rc = client();
	_Atomic long warned_at = 0;
	char buf[2048];
	redisReply *r;
	size_t cursor;

	(void)state;
	cfg = expect_ok("policyd = { greylist = { enabled = true; delay = 120;\n"
			"    spf_bypass = false; spf_domain_triplet = false;\n"
			"    allow_recipients = [ \"postmaster@example.test\" ]; };\n"
			"  ratelimit = ( { name = \"rc\"; subject = \"client\"; count = \"recipients\";"
			" limit = 1; window = 60; } ); };\n");
	chain = open_chain(cfg, lists, rc, &warned_at, &ctx);

	/* the first recipient: one call, both checks' keys */
	decide_with_call(chain, &ctx, rc, reply, "protocol_state=RCPT\nclient_address=192.0.2.9\n"
			 "sender=a@x.test\nrecipient=b@example.test\ninstance=h1\n", 3,
			 "sluice:rl:{ip:192.0.2.9}:in:rcpt:1/60");
	assert_string_equal(reply->verdict_key, "greylist");
	assert_string_equal(reply->verdict, "new");
	assert_non_null(strstr(reply->action, "Greylisted"));

	/* the second: over the limit, 450, and greylisting never ran */
	decide_with_call(chain, &ctx, rc, reply, "protocol_state=RCPT\nclient_address=192.0.2.9\n"
			 "sender=a@x.test\nrecipient=c@example.test\ninstance=h1\n", 3, NULL);
	assert_string_equal(reply->verdict_key, "ratelimit");
	assert_string_equal(reply->verdict, "over");
	assert_int_equal(strncmp(reply->action, "450 4.7.1 ", 10), 0);
	r = redis_command(rc, "KEYS sluice:gl:*c@example.test*");
	assert_int_equal(r->elements, 0);
	freeReplyObject(r);

	/* greylisting has nothing to ask (an allowed recipient): the held
	 * call goes alone, and its refusal is the answer */
	decide_with_call(chain, &ctx, rc, reply, "protocol_state=RCPT\nclient_address=192.0.2.9\n"
			 "sender=a@x.test\nrecipient=postmaster@example.test\ninstance=h1\n", 1, NULL);
	assert_string_equal(reply->verdict_key, "ratelimit");
	/* another client, the same allowed recipient: the rate limit passes,
	 * greylisting's allowlist verdict is the one logged */
	decide_with_call(chain, &ctx, rc, reply, "protocol_state=RCPT\nclient_address=192.0.2.10\n"
			 "sender=a@x.test\nrecipient=postmaster@example.test\ninstance=h2\n", -1, NULL);
	assert_string_equal(reply->action, "DUNNO");
	assert_string_equal(reply->verdict_key, "greylist");
	/* Redis down: both get the failure (fail_open: on) */
	request(buf, sizeof(buf), &req, "protocol_state=RCPT\nclient_address=192.0.2.10\n"
		"sender=a@x.test\nrecipient=postmaster@example.test\ninstance=h2\n");
	cursor = 0;
	assert_int_equal(check_chain_decide(chain, &ctx, &req, reply, &cursor), CHECK_REDIS);
	assert_int_equal(check_chain_resume(chain, &ctx, &req, reply, &cursor, NULL), CHECK_FINAL);
	assert_string_equal(reply->action, "DUNNO");

	check_chain_close(chain);
	config_free(cfg);
	lists_release(lists);
	redis_client_free(rc);
	free(reply);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_subjects_and_keys),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_max_recipients_table),
	};
	const struct CMUnitTest redis_tests[] = {
		cmocka_unit_test(test_gcra_edges),
		cmocka_unit_test(test_redis_time_and_expiry),
		cmocka_unit_test(test_multi_rules),
		cmocka_unit_test(test_held_with_greylisting),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);

	return failed + cmocka_run_group_tests(redis_tests, redis_setup, redis_teardown);
}
