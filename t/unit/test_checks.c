/*
 * test_checks.c - the policy check chain: a PREPEND is collected and the
 * chain goes on; a later refusal wins over it; one header per answer.
 * A held call (check.h, call_may_wait) keeps the log fields of its own
 * check whatever the checks after it wrote. Run with checks of its own
 * (check_chain_open_with), not the shipped registry.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static int later_calls;

static int
open_on(const struct sluice_config *cfg, void **state, char *err, size_t errsize)
{
	(void)cfg; (void)err; (void)errsize;
	*state = (void *)1;
	return 0;
}

static void close_none(void *state) { (void)state; }

/* Adds a header and goes on, as greylisting does after a delay. */
static enum check_result
decide_header_a(void *state, const struct policy_context *ctx,
		const struct policy_request *req, struct policy_reply *reply)
{
	(void)state; (void)ctx; (void)req;
	assert_true(check_prepend(reply, "X-A: first"));
	reply->verdict_key = "a";
	strcpy(reply->verdict, "header");
	return CHECK_CONTINUE;
}

/* Defers recipient "defer@x.test", answers OK for "ok@x.test", else
 * wants a header of its own. */
static enum check_result
decide_later(void *state, const struct policy_context *ctx,
	     const struct policy_request *req, struct policy_reply *reply)
{
	(void)state; (void)ctx;
	later_calls++;
	if (strcmp(req->recipient, "defer@x.test") == 0) {
		strcpy(reply->action, "DEFER_IF_PERMIT later says no");
		return CHECK_FINAL;
	}
	if (strcmp(req->recipient, "ok@x.test") == 0) {
		strcpy(reply->action, "OK");
		return CHECK_FINAL;
	}
	assert_false(check_prepend(reply, "X-B: second"));
	return CHECK_CONTINUE;
}

static const struct policy_check check_a = { .name = "a", .open = open_on, .decide = decide_header_a, .close = close_none };
static const struct policy_check check_later = { .name = "later", .open = open_on, .decide = decide_later, .close = close_none };
static const struct policy_check *const chain_checks[] = { &check_a, &check_later, NULL };
static const struct policy_check *const later_only[] = { &check_later, NULL };
static const struct policy_check *const *registry = chain_checks;

static const char *
run(const char *recipient, struct policy_reply *reply)
{
	static char text[256];
	struct policy_request req;
	struct policy_context ctx = { 0 };
	struct sluice_config cfg;
	struct check_chain *chain;
	const char *why;
	char err[256];
	size_t cursor = 0;
	int n;

	memset(&cfg, 0, sizeof(cfg));
	memset(reply, 0, sizeof(*reply));
	n = snprintf(text, sizeof(text), "request=smtpd_access_policy\nprotocol_state=RCPT\n"
		     "client_address=192.0.2.7\nsender=a@x.test\nrecipient=%s\n", recipient);
	assert_int_equal(policy_request_parse(text, (size_t)n, &req, &why), 0);
	chain = check_chain_open_with(registry, &cfg, err, sizeof(err));
	assert_non_null(chain);
	assert_int_equal(check_chain_decide(chain, &ctx, &req, reply, &cursor), CHECK_FINAL);
	check_chain_close(chain);
	return reply->action;
}

static void
test_prepend_goes_on(void **state)
{
	struct policy_reply reply;

	(void)state;
	later_calls = 0;
	assert_string_equal(run("b@x.test", &reply), "PREPEND X-A: first");
	assert_int_equal(later_calls, 1);	/* the check after the header ran */
}

static void
test_refusal_wins_over_header(void **state)
{
	struct policy_reply reply;

	(void)state;
	assert_string_equal(run("defer@x.test", &reply), "DEFER_IF_PERMIT later says no");
}

static void
test_header_kept_over_ok(void **state)
{
	struct policy_reply reply;

	(void)state;
	assert_string_equal(run("ok@x.test", &reply), "PREPEND X-A: first");
}

/* No answer is ever OK (an OK asked before reject_unauth_destination
 * would permit relaying): a check's OK becomes DUNNO. */
static void
test_never_ok(void **state)
{
	struct policy_reply reply;

	(void)state;
	registry = later_only;
	assert_string_equal(run("ok@x.test", &reply), "DUNNO");
	registry = chain_checks;
}

/* ---- a held call and the log line (check.h, call_may_wait) ---- */

static struct redis_script held_script = { "return 1", "" };

/* Asks Redis, and lets its call wait for a later check's. */
static enum check_result
decide_waits(void *state, const struct policy_context *ctx,
	     const struct policy_request *req, struct policy_reply *reply)
{
	(void)state; (void)ctx; (void)req;
	logline_add(&reply->details, "waits", "asked");
	reply->call.script = &held_script;
	reply->call.nkeys = 0;
	reply->call.nargs = 0;
	reply->call_may_wait = true;
	return CHECK_REDIS;
}

static enum check_result
resume_waits(void *state, const struct policy_context *ctx, const struct policy_request *req,
	     const redisReply *redis, struct policy_reply *reply)
{
	(void)state; (void)ctx; (void)req; (void)redis;
	logline_add(&reply->details, "waits", "answered");
	return CHECK_CONTINUE;
}

/* Writes more than a log line holds. */
static enum check_result
decide_fills_line(void *state, const struct policy_context *ctx,
		  const struct policy_request *req, struct policy_reply *reply)
{
	char big[LOGLINE_MAX + 64];

	(void)state; (void)ctx; (void)req;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	logline_add(&reply->details, "filler", big);
	return CHECK_CONTINUE;
}

static const struct policy_check check_waits = { .name = "waits", .open = open_on,
	.decide = decide_waits, .resume = resume_waits, .close = close_none };
static const struct policy_check check_fills = { .name = "fills", .open = open_on,
	.decide = decide_fills_line, .close = close_none };
static const struct policy_check *const held_then_full[] = { &check_waits, &check_fills, NULL };

/* The check after the held one fills the line: the held check's answer
 * still gets its field, in its place (before the filler), and the line
 * is still marked cut. */
static void
test_held_call_keeps_its_fields(void **state)
{
	char text[] = "request=smtpd_access_policy\nprotocol_state=RCPT\n"
		       "client_address=192.0.2.7\nsender=a@x.test\nrecipient=b@x.test\n";
	struct policy_reply *reply = calloc(1, sizeof(*reply));
	struct policy_request req;
	struct policy_context ctx = { 0 };
	struct sluice_config cfg;
	struct check_chain *chain;
	const char *why, *answered, *filler;
	char err[256];
	size_t cursor = 0;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(policy_request_parse(text, sizeof(text) - 1, &req, &why), 0);
	chain = check_chain_open_with(held_then_full, &cfg, err, sizeof(err));
	assert_non_null(chain);
	assert_int_equal(check_chain_decide(chain, &ctx, &req, reply, &cursor), CHECK_REDIS);
	assert_ptr_equal(reply->call.script, &held_script);	/* the held call, alone */
	assert_int_equal(check_chain_resume(chain, &ctx, &req, reply, &cursor, NULL), CHECK_FINAL);
	answered = strstr(reply->details.buf, "waits=answered");
	filler = strstr(reply->details.buf, "filler=");
	assert_non_null(answered);
	assert_non_null(filler);
	assert_true(answered < filler);
	assert_true(reply->details.truncated);
	check_chain_close(chain);
	free(reply);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prepend_goes_on),
		cmocka_unit_test(test_refusal_wins_over_header),
		cmocka_unit_test(test_header_kept_over_ok),
		cmocka_unit_test(test_never_ok),
		cmocka_unit_test(test_held_call_keeps_its_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
