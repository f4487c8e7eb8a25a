/* test_metrics.c - the metrics registry: exact text for a known state,
 * histogram bucket edges, sums across per-thread shards (threads alive and
 * exited), registration refusals, the endpoint's request classification,
 * and the catalogue's mapping of decisions and milter verdicts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "metrics_http.h"
#include "metrics_sluice.h"

static void
test_exact_text(void **state)
{
	static const double bounds[] = { 0.001, 0.01 };
	struct metrics *m = metrics_new();
	int plain, a, b, g, age, never, h;
	size_t len;
	char *text;

	(void)state;
	plain = metrics_counter(m, "t_plain_total", "A plain counter", NULL);
	a = metrics_counter(m, "t_kind_total", "By kind", "kind=\"a\"");
	g = metrics_gauge(m, "t_gauge", "A gauge", NULL);
	b = metrics_counter(m, "t_kind_total", "By kind", "kind=\"b\"");
	age = metrics_age_gauge(m, "t_age_seconds", "An age", NULL);
	never = metrics_age_gauge(m, "t_never_seconds", "Never set", NULL);
	h = metrics_histogram(m, "t_latency_seconds", "A histogram", "check=\"x\"", bounds, 2);
	assert_true(plain >= 0 && a >= 0 && b >= 0 && g >= 0 && age >= 0 && never >= 0 && h >= 0);
	metrics_seal(m);
	metrics_add(m, plain, 3);
	metrics_add(m, b, 2);
	metrics_set(m, g, -7);
	metrics_set(m, age, 1000);
	metrics_observe_ns(m, h, 1000000);	/* 1 ms: on the first edge */
	metrics_observe_ns(m, h, 1000001);	/* just past it */
	metrics_observe_ns(m, h, 5000000000u);	/* 5 s: +Inf only */
	text = metrics_render(m, 1005, &len);
	assert_non_null(text);
	assert_string_equal(text,
		"# HELP t_plain_total A plain counter\n"
		"# TYPE t_plain_total counter\n"
		"t_plain_total 3\n"
		"# HELP t_kind_total By kind\n"
		"# TYPE t_kind_total counter\n"
		"t_kind_total{kind=\"a\"} 0\n"
		"t_kind_total{kind=\"b\"} 2\n"
		"# HELP t_gauge A gauge\n"
		"# TYPE t_gauge gauge\n"
		"t_gauge -7\n"
		"# HELP t_age_seconds An age\n"
		"# TYPE t_age_seconds gauge\n"
		"t_age_seconds 5\n"
		"# HELP t_never_seconds Never set\n"
		"# TYPE t_never_seconds gauge\n"
		"# HELP t_latency_seconds A histogram\n"
		"# TYPE t_latency_seconds histogram\n"
		"t_latency_seconds_bucket{check=\"x\",le=\"0.001\"} 1\n"
		"t_latency_seconds_bucket{check=\"x\",le=\"0.01\"} 2\n"
		"t_latency_seconds_bucket{check=\"x\",le=\"+Inf\"} 3\n"
		"t_latency_seconds_sum{check=\"x\"} 5.002000001\n"
		"t_latency_seconds_count{check=\"x\"} 3\n");
	assert_int_equal(len, strlen(text));
	assert_int_equal(metrics_value(m, h), 3);
	assert_int_equal(metrics_value(m, plain), 3);
	free(text);
	metrics_free(m);
}

static void
test_bucket_edges(void **state)
{
	static const double bounds[] = { 0.0001, 0.00025, 0.5, 1 };
	static const struct { uint64_t ns; int bucket; } cases[] = {
		{ 0, 0 }, { 100000, 0 }, { 100001, 1 }, { 250000, 1 }, { 250001, 2 },
		{ 500000000, 2 }, { 500000001, 3 }, { 1000000000, 3 }, { 1000000001, 4 },
		{ UINT64_C(100000000000), 4 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct metrics *m = metrics_new();
		int h = metrics_histogram(m, "t_edges_seconds", NULL, NULL, bounds, 4);
		char *text, want[64], *line;
		size_t len;
		int b;

		metrics_observe_ns(m, h, cases[i].ns);
		text = metrics_render(m, 0, &len);
		assert_non_null(text);
		/* cumulative: 0 below the observation's bucket, 1 from it on */
		for (b = 0, line = strstr(text, "t_edges_seconds_bucket"); b < 5;
		     b++, line = strstr(line + 1, "t_edges_seconds_bucket")) {
			assert_non_null(line);
			snprintf(want, sizeof(want), "} %d\n", b >= cases[i].bucket);
			if (strncmp(strchr(line, '}'), want, strlen(want)) != 0)
				fail_msg("%llu ns: bucket %d: %.60s", (unsigned long long)cases[i].ns,
					 b, line);
		}
		free(text);
		metrics_free(m);
	}
}

struct worker_arg {
	struct metrics *m;
	int counter, histogram;
	pthread_barrier_t *counted, *release;
};

#define THREADS 8
#define ADDS 100000

static void *
count_thread(void *p)
{
	struct worker_arg *a = p;
	int i;

	for (i = 0; i < ADDS; i++) {
		metrics_add(a->m, a->counter, 1);
		if (i % 100 == 0)
			metrics_observe_ns(a->m, a->histogram, 1000);
	}
	pthread_barrier_wait(a->counted);
	pthread_barrier_wait(a->release);	/* alive while main sums */
	return NULL;
}

static void
test_sum_across_shards(void **state)
{
	static const double bounds[] = { 0.001 };
	struct metrics *m = metrics_new();
	pthread_barrier_t counted, release;
	pthread_t t[THREADS];
	struct worker_arg a;
	int round, i;

	(void)state;
	a.m = m;
	a.counter = metrics_counter(m, "t_adds_total", NULL, NULL);
	a.histogram = metrics_histogram(m, "t_obs_seconds", NULL, NULL, bounds, 1);
	a.counted = &counted;
	a.release = &release;
	metrics_seal(m);
	/* Two rounds: the second reuses the shards the first retired. */
	for (round = 1; round <= 2; round++) {
		pthread_barrier_init(&counted, NULL, THREADS + 1);
		pthread_barrier_init(&release, NULL, THREADS + 1);
		for (i = 0; i < THREADS; i++)
			assert_int_equal(pthread_create(&t[i], NULL, count_thread, &a), 0);
		pthread_barrier_wait(&counted);
		/* live shards */
		assert_int_equal(metrics_value(m, a.counter), (uint64_t)round * THREADS * ADDS);
		assert_int_equal(metrics_value(m, a.histogram),
				 (uint64_t)round * THREADS * (ADDS / 100));
		pthread_barrier_wait(&release);
		for (i = 0; i < THREADS; i++)
			pthread_join(t[i], NULL);
		/* retired shards: nothing lost, nothing counted twice */
		assert_int_equal(metrics_value(m, a.counter), (uint64_t)round * THREADS * ADDS);
		pthread_barrier_destroy(&counted);
		pthread_barrier_destroy(&release);
	}
	metrics_free(m);
}

/* While threads count, a scrape in another thread sees a total that only
 * grows and never passes the adds made. */
static void *
scrape_thread(void *p)
{
	struct worker_arg *a = p;
	uint64_t last = 0, v;
	int i;

	for (i = 0; i < 200; i++) {
		v = metrics_value(a->m, a->counter);
		if (v < last || v > (uint64_t)THREADS * ADDS)
			return (void *)1;
		last = v;
	}
	return NULL;
}

static void *
add_only(void *p)
{
	struct worker_arg *a = p;
	int i;

	for (i = 0; i < ADDS; i++)
		metrics_add(a->m, a->counter, 1);
	return NULL;
}

static void
test_scrape_while_counting(void **state)
{
	struct metrics *m = metrics_new();
	struct worker_arg a = { .m = m };
	pthread_t t[THREADS], scraper;
	void *bad;
	int i;

	(void)state;
	a.counter = metrics_counter(m, "t_live_total", NULL, NULL);
	metrics_seal(m);
	assert_int_equal(pthread_create(&scraper, NULL, scrape_thread, &a), 0);
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, add_only, &a), 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_join(scraper, &bad);
	assert_null(bad);
	assert_int_equal(metrics_value(m, a.counter), (uint64_t)THREADS * ADDS);
	metrics_free(m);
}

static void
test_registration_refusals(void **state)
{
	static const double bounds[] = { 1, 0.5 };
	struct metrics *m = metrics_new();
	int c;

	(void)state;
	assert_true(metrics_counter(m, "9bad", NULL, NULL) < 0);
	assert_true(metrics_counter(m, "bad-name", NULL, NULL) < 0);
	assert_true(metrics_histogram(m, "t_h", NULL, NULL, bounds, 2) < 0);	/* not increasing */
	c = metrics_counter(m, "t_c_total", NULL, NULL);
	assert_true(c >= 0);
	assert_true(metrics_gauge(m, "t_c_total", NULL, "x=\"1\"") < 0);	/* other type */
	metrics_seal(m);
	assert_true(metrics_counter(m, "t_late_total", NULL, NULL) < 0);
	/* wrong ids and wrong kinds count nothing, and never crash */
	metrics_add(m, -1, 1);
	metrics_add(m, 999, 1);
	metrics_set(m, c, 5);
	metrics_observe_ns(m, c, 5);
	assert_int_equal(metrics_value(m, c), 0);
	metrics_add(NULL, 0, 1);
	metrics_free(m);
}

static void
test_http_classify(void **state)
{
	static const struct { const char *head; int status, is_head; } cases[] = {
		{ "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 200, 0 },
		{ "GET /metrics HTTP/1.0\n\n", 200, 0 },
		{ "HEAD /metrics HTTP/1.0\r\n\r\n", 200, 1 },
		{ "GET /metrics?x=1 HTTP/1.1\r\n\r\n", 200, 0 },
		{ "GET / HTTP/1.1\r\n\r\n", 404, 0 },
		{ "GET /metricsx HTTP/1.1\r\n\r\n", 404, 0 },
		{ "POST /metrics HTTP/1.1\r\n\r\n", 405, 0 },
		{ "GET /metrics\r\n\r\n", 400, 0 },
		{ "GET /metrics FOO/1.0\r\n\r\n", 400, 0 },
		{ "\x16\x03\x01\x02 /metrics HTTP/1.1\r\n\r\n", 400, 0 },
		{ "GET /met\x01rics HTTP/1.1\r\n\r\n", 400, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int is_head = -1;

		assert_int_equal(metrics_http_classify(cases[i].head, strlen(cases[i].head), &is_head),
				 cases[i].status);
		assert_int_equal(is_head, cases[i].is_head);
	}
}

/* The series line of the process registry's text, or NULL. */
static char *
sample(const char *series)
{
	size_t len, n = strlen(series);
	char *text = metrics_render(metric_registry(), 0, &len), *p, *out = NULL;

	for (p = text; p && *p; p = strchr(p, '\n') + 1) {
		if (strncmp(p, series, n) == 0 && p[n] == ' ') {
			out = strndup(p + n + 1, strcspn(p + n + 1, "\n"));
			break;
		}
		if (strchr(p, '\n') == NULL)
			break;
	}
	free(text);
	return out;
}

static void
expect(const char *series, const char *value)
{
	char *got = sample(series);

	if (got == NULL || strcmp(got, value) != 0)
		fail_msg("%s: got %s, want %s", series, got ? got : "(absent)", value);
	free(got);
}

static void
test_policyd_decisions(void **state)
{
	char line[LOGLINE_MAX];

	(void)state;
	assert_int_equal(metric_init(METRIC_POLICYD, NULL), 0);
	metric_policyd_decision("greylist", "DEFER_IF_PERMIT Greylisted, retry in 120 seconds",
				2000000);
	metric_policyd_decision("greylist", "DUNNO", 1000);
	metric_policyd_decision("ratelimit", "450 4.7.1 Too many", 1000);
	metric_policyd_decision("access", "REJECT Forbidden", 1000);
	metric_policyd_decision("action", "PREPEND X-Greylist: passed", 1000);
	metric_policyd_decision("no_such_check", "WHATEVER", 1000);
	metric_policyd_decision(NULL, "DUNNO", 1000);
	expect("sluice_policyd_decisions_total{check=\"greylist\",action=\"defer\"}", "1");
	expect("sluice_policyd_decisions_total{check=\"greylist\",action=\"dunno\"}", "1");
	expect("sluice_policyd_decisions_total{check=\"ratelimit\",action=\"defer\"}", "1");
	expect("sluice_policyd_decisions_total{check=\"access\",action=\"reject\"}", "1");
	expect("sluice_policyd_decisions_total{check=\"action\",action=\"prepend\"}", "1");
	expect("sluice_policyd_decisions_total{check=\"action\",action=\"dunno\"}", "1");
	expect("sluice_policyd_decisions_total{check=\"other\",action=\"other\"}", "1");
	expect("sluice_policyd_decision_seconds_bucket{check=\"greylist\",le=\"0.001\"}", "1");
	expect("sluice_policyd_decision_seconds_bucket{check=\"greylist\",le=\"0.0025\"}", "2");
	metric_redis(1000, true);
	metric_summary(line, sizeof(line));
	assert_non_null(strstr(line, "summary: decisions=7 "));
	assert_non_null(strstr(line, " greylist_defer=1 "));
	assert_non_null(strstr(line, " redis_errors=1 "));
	assert_non_null(strstr(line, " lists_age=never"));
	assert_null(strstr(line, "relay_"));	/* zero kinds are left out */
}

static void
test_milter_verdicts(void **state)
{
	static const char *const modules[] = { "rules", "auth", "dkim_sign", NULL };
	struct logline v = { .len = 0 };

	(void)state;
	assert_int_equal(metric_init(METRIC_MILTER, modules), 0);
	snprintf(v.buf, sizeof(v.buf), " rules=permit-ip auth=x spf=softfail dkim=pass,fail,policy"
		 " dmarc=fail from_domain=x.test action=hold alias=a@x.test copy=a@x.test,b@x.test");
	v.len = strlen(v.buf);
	metric_milter_message("accept", &v);
	snprintf(v.buf, sizeof(v.buf), " dkim=signed d=example.test s=m1 spf=bogus");
	v.len = strlen(v.buf);
	metric_milter_message("tempfail", &v);
	metric_milter_module(2, 3000000);
	metric_milter_module(7, 1000);	/* no such module: nothing */
	expect("sluice_milter_messages_total{result=\"quarantine\"}", "1");
	expect("sluice_milter_messages_total{result=\"accept\"}", "0");
	expect("sluice_milter_messages_total{result=\"tempfail\"}", "1");
	expect("sluice_milter_rules_total{verdict=\"permit-ip\"}", "1");
	expect("sluice_milter_spf_total{result=\"softfail\"}", "1");
	expect("sluice_milter_spf_total{result=\"other\"}", "1");
	expect("sluice_milter_dkim_verify_total{result=\"pass\"}", "1");
	expect("sluice_milter_dkim_verify_total{result=\"fail\"}", "1");
	expect("sluice_milter_dkim_verify_total{result=\"policy\"}", "1");
	expect("sluice_milter_dmarc_total{result=\"fail\"}", "1");
	expect("sluice_milter_dkim_sign_total{result=\"signed\"}", "1");
	expect("sluice_milter_aliases_expanded_total", "1");
	expect("sluice_milter_copies_total", "2");
	expect("sluice_milter_module_seconds_count{module=\"dkim_sign\"}", "1");
	expect("sluice_milter_module_seconds_count{module=\"rules\"}", "0");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_text),
		cmocka_unit_test(test_bucket_edges),
		cmocka_unit_test(test_sum_across_shards),
		cmocka_unit_test(test_scrape_while_counting),
		cmocka_unit_test(test_registration_refusals),
		cmocka_unit_test(test_http_classify),
		cmocka_unit_test(test_policyd_decisions),
		cmocka_unit_test(test_milter_verdicts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
