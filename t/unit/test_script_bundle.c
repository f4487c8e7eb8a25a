/*
 * test_script_bundle.c - policyd/script_bundle.c: the layout of a joined
 * call, and the bundle run in a real Redis against the same scripts run
 * alone (the rate limits' GCRA, then greylisting; the bundle stops
 * before greylisting when a rate limit refuses).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_fixture.h"
#include "script_bundle.h"

extern const char greylist_lua[];
extern const char greylist_peek_lua[];
extern const char ratelimit_multi_lua[];

static struct redis_script rl_script = { ratelimit_multi_lua, "" };
static struct redis_script gl_script = { greylist_lua, "" };
static struct redis_script other = { "return 1", "" };

/* A rate-limit call of one rule (limit per window_ms) on key, at now_ms. */
static void
rl_call(struct redis_eval_call *c, const char *key, const char *window_ms, const char *limit,
	const char *now_ms)
{
	memset(c, 0, sizeof(*c));
	c->script = &rl_script;
	c->nkeys = 1;
	c->nargs = 4;
	c->argv[0] = key;
	c->argv[1] = "0";
	c->argv[2] = now_ms;
	c->argv[3] = window_ms;
	c->argv[4] = limit;
}

/* A greylisting call: delay 120 s, retry window 4 h, keep 35 d, the
 * auto-allowlist after 5 passes. */
static void
gl_call(struct redis_eval_call *c, const char *triplet, const char *awl)
{
	static const char *const args[5] = { "0", "120", "14400", "3024000", "5" };
	int i;

	memset(c, 0, sizeof(*c));
	c->script = &gl_script;
	c->nkeys = 2;
	c->nargs = 5;
	c->argv[0] = triplet;
	c->argv[1] = awl;
	for (i = 0; i < 5; i++)
		c->argv[2 + i] = args[i];
}

static void
test_join_layout(void **state)
{
	struct script_bundle b;
	struct redis_eval_call rl, gl, out;
	static const char *const want[] = {
		"rk", "t", "w",			/* the keys, in order */
		"2", "1", "1", "4", "2", "2", "5",	/* segments: fragment, keys, args */
		"0", "", "60000", "3",		/* the rate limits' args */
		"0", "120", "14400", "3024000", "5",	/* greylisting's */
	};
	size_t i;

	(void)state;
	assert_int_equal(script_bundle_open(&b), 0);
	assert_non_null(strstr(b.source, "F[1] = function(k, a, clock, nk)"));
	assert_null(strstr(b.source, "..."));
	rl_call(&rl, "rk", "60000", "3", "");
	gl_call(&gl, "t", "w");
	assert_int_equal(script_bundle_join(&b, &rl, &gl, &out), 0);
	assert_ptr_equal(out.script, &b.script);
	assert_int_equal(out.nkeys, 3);
	assert_int_equal(out.nkeys + out.nargs, (int)(sizeof(want) / sizeof(want[0])));
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_string_equal(out.argv[i], want[i]);
	/* a script the bundle does not hold, or too many args: no join */
	gl.script = &other;
	assert_int_equal(script_bundle_join(&b, &rl, &gl, &out), -1);
	gl.script = &gl_script;
	rl.nargs = REDIS_EVAL_MAX_ARGS;
	assert_int_equal(script_bundle_join(&b, &rl, &gl, &out), -1);
	/* a reply that is no array (a failure) is each segment's */
	assert_null(script_bundle_segment(NULL, 1));
	script_bundle_close(&b);
}

static char *
get(struct redis_client *rc, const char *key)
{
	redisReply *r = redis_command(rc, "GET %s", key);
	char *v;

	assert_non_null(r);
	v = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
	freeReplyObject(r);
	return v;
}

/* The same answers and the same state as the two scripts alone. */
static void
test_bundle_in_redis(void **state)
{
	struct redis_client *rc = client();
	struct script_bundle b;
	struct redis_eval_call rl, gl, joined;
	redisReply *r, *alone;
	const redisReply *seg;
	char *before, *after;

	(void)state;
	assert_int_equal(script_bundle_open(&b), 0);
	/* 1 per minute; the first event passes, greylisting says "new" */
	rl_call(&rl, "b:rl", "60000", "1", "1800000000000");
	gl_call(&gl, "b:t", "b:w");
	assert_int_equal(script_bundle_join(&b, &rl, &gl, &joined), 0);
	r = run_call(rc, &joined);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_int_equal(r->elements, 2);
	seg = script_bundle_segment(r, 0);
	assert_int_equal(seg->elements, 2);
	assert_int_equal(seg->element[0]->integer, 1);	/* allowed */
	assert_int_equal(seg->element[1]->integer, 0);	/* none left */
	seg = script_bundle_segment(r, 1);
	assert_string_equal(seg->element[0]->str, "new");
	assert_int_equal(seg->element[1]->integer, 120);
	freeReplyObject(r);
	/* alone, on keys of their own, the scripts answer the same */
	rl.argv[0] = "a:rl";
	alone = run_call(rc, &rl);
	assert_int_equal(alone->element[0]->integer, 1);
	assert_int_equal(alone->element[1]->integer, 0);
	freeReplyObject(alone);
	gl.argv[0] = "a:t";
	gl.argv[1] = "a:w";
	alone = run_call(rc, &gl);
	assert_string_equal(alone->element[0]->str, "new");
	freeReplyObject(alone);
	before = get(rc, "b:rl");
	after = get(rc, "a:rl");
	assert_non_null(before);
	assert_string_equal(before, after);	/* the same TAT */
	free(before);
	free(after);

	/* the second event is over the limit: the bundle stops there and
	 * greylisting's key is left as it was */
	rl.argv[0] = "b:rl";
	gl.argv[0] = "b:t";
	gl.argv[1] = "b:w";
	assert_int_equal(script_bundle_join(&b, &rl, &gl, &joined), 0);
	before = get(rc, "b:t");
	r = redis_command(rc, "SET b:t 1799999000");	/* seen long ago: it would pass */
	assert_non_null(r);
	freeReplyObject(r);
	r = run_call(rc, &joined);
	assert_int_equal(r->elements, 1);
	seg = script_bundle_segment(r, 0);
	assert_int_equal(seg->element[0]->integer, 0);		/* over */
	assert_int_equal(seg->element[1]->integer, 60000);	/* ms to wait */
	assert_null(script_bundle_segment(r, 1));
	freeReplyObject(r);
	after = get(rc, "b:t");
	assert_string_equal(after, "1799999000");	/* not passed by greylisting */
	free(before);
	free(after);
	/* every key the bundle wrote has a TTL */
	r = redis_command(rc, "PTTL b:rl");
	assert_true(r->integer > 0 && r->integer <= 60000);
	freeReplyObject(r);
	script_bundle_close(&b);
	redis_client_free(rc);
}

/* Redis before 7 compiles a script as the body of a function without
 * varargs, where `...` does not compile: each script alone, and the
 * bundle, wrapped the same way, must load (the scripts read their
 * bundle offsets from `...` until 2026-12-04, and broke on Redis 6). */
static void
test_scripts_without_varargs(void **state)
{
	/* every fragment of script_bundle.c, then the bundle (NULL) */
	const char *const texts[] = { ratelimit_multi_lua, greylist_lua, greylist_peek_lua, NULL };
	struct redis_client *rc = client();
	struct script_bundle b;
	size_t i;

	(void)state;
	assert_int_equal(script_bundle_open(&b), 0);
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		const char *text = texts[i] ? texts[i] : b.source;
		size_t n = strlen(text) + 64;
		char *wrapped = malloc(n);
		const char *argv[] = { "SCRIPT", "LOAD", wrapped };
		redisReply *r;

		assert_non_null(wrapped);
		snprintf(wrapped, n, "local function f_sha()\n%s\nend\nreturn 1\n", text);
		r = redis_command_argv(rc, 3, argv, NULL);
		assert_non_null(r);
		if (r->type == REDIS_REPLY_ERROR)
			fail_msg("script %zu: %s", i, r->str);
		freeReplyObject(r);
		free(wrapped);
	}
	script_bundle_close(&b);
	redis_client_free(rc);
}

/* An error in one segment (here a rate-limit key of the wrong type) is
 * that segment's reply alone: greylisting still runs and answers, as it
 * did when each check made a call of its own. */
static void
test_segment_error_is_its_own(void **state)
{
	struct redis_client *rc = client();
	struct script_bundle b;
	struct redis_eval_call rl, gl, joined;
	const redisReply *seg;
	redisReply *r;

	(void)state;
	assert_int_equal(script_bundle_open(&b), 0);
	r = redis_command(rc, "RPUSH e:rl not-a-tat");
	assert_non_null(r);
	freeReplyObject(r);
	rl_call(&rl, "e:rl", "60000", "1", "1800000000000");
	gl_call(&gl, "e:t", "e:w");
	assert_int_equal(script_bundle_join(&b, &rl, &gl, &joined), 0);
	r = run_call(rc, &joined);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_int_equal(r->elements, 2);
	seg = script_bundle_segment(r, 0);
	assert_int_equal(seg->type, REDIS_REPLY_ERROR);
	assert_non_null(strstr(seg->str, "WRONGTYPE"));
	seg = script_bundle_segment(r, 1);
	assert_int_equal(seg->type, REDIS_REPLY_ARRAY);
	assert_string_equal(seg->element[0]->str, "new");
	freeReplyObject(r);
	script_bundle_close(&b);
	redis_client_free(rc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_join_layout),
	};
	const struct CMUnitTest redis_tests[] = {
		cmocka_unit_test(test_bundle_in_redis),
		cmocka_unit_test(test_scripts_without_varargs),
		cmocka_unit_test(test_segment_error_is_its_own),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);

	return failed + cmocka_run_group_tests(redis_tests, redis_setup, redis_teardown);
}
