/*
 * metrics-bench.c - what counting costs on the hot path, in CPU time per
 * operation (CLOCK_THREAD_CPUTIME_ID), next to an empty loop:
 *   add        metrics_add() on the thread's own shard
 *   observe    metrics_observe_ns() into a 16-bucket histogram
 *   decision   policyd's whole hook per answer: metric_now_ns() at the
 *              start, metric_policyd_decision() (classify the action, one
 *              counter, one histogram, one more clock read)
 *   render     one scrape of policyd's registry (every series), per call
 * Rounds are interleaved (add, observe, decision, render, add, ...) and the
 * medians printed; "threads" runs the decision hook in 2 threads at once
 * (each its own shard: no shared cache line, so the figure should hold).
 *
 *   make bench-metrics            (ROUNDS=7 by default)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"
#include "metrics_sluice.h"

#define OPS 5000000
#define RENDERS 200

static double
cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int counter_id, histogram_id;
static volatile uint64_t sink;

static double
run_empty(void)
{
	double t0 = cpu_ns();
	int i;

	for (i = 0; i < OPS; i++)
		sink += (uint64_t)i;
	return (cpu_ns() - t0) / OPS;
}

static double
run_add(void)
{
	double t0 = cpu_ns();
	int i;

	for (i = 0; i < OPS; i++)
		metrics_add(metric_registry(), counter_id, 1);
	return (cpu_ns() - t0) / OPS;
}

static double
run_observe(void)
{
	double t0 = cpu_ns();
	int i;

	for (i = 0; i < OPS; i++)
		metrics_observe_ns(metric_registry(), histogram_id, (uint64_t)(i & 0xfffff) * 1000);
	return (cpu_ns() - t0) / OPS;
}

static double
run_decision(void)
{
	double t0 = cpu_ns();
	int i;

	for (i = 0; i < OPS; i++) {
		uint64_t started = metric_now_ns();

		metric_policyd_decision("greylist", "DEFER_IF_PERMIT Greylisted, retry in 120 seconds",
					metric_now_ns() - started);
	}
	return (cpu_ns() - t0) / OPS;
}

static double
run_render(void)
{
	double t0 = cpu_ns();
	size_t len = 0;
	int i;

	for (i = 0; i < RENDERS; i++) {
		char *text = metrics_render(metric_registry(), (long)time(NULL), &len);

		free(text);
	}
	sink += len;
	return (cpu_ns() - t0) / RENDERS;
}

static void *
decision_thread(void *arg)
{
	*(double *)arg = run_decision();
	return NULL;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int
main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 7, r;
	double empty[64], add[64], obs[64], dec[64], ren[64], thr[64];
	size_t len;
	char *text;

	if (rounds < 1 || rounds > 64)
		rounds = 7;
	if (metric_init(METRIC_POLICYD, NULL) < 0) {
		fprintf(stderr, "metrics-bench: metric_init failed\n");
		return 1;
	}
	/* Series of the catalogue, in metric_init()'s order: a plain counter
	 * and a histogram. */
	counter_id = 2;		/* sluice_config_reload_failures_total */
	histogram_id = 3;	/* sluice_redis_roundtrip_seconds */
	text = metrics_render(metric_registry(), 0, &len);
	printf("policyd registry: %zu bytes of text per scrape\n", len);
	free(text);
	printf("%-5s %8s %8s %8s %10s %10s %12s\n", "round", "empty", "add", "observe",
	       "decision", "2 threads", "render_us");
	for (r = 0; r < rounds; r++) {
		pthread_t t[2];
		double per[2];

		empty[r] = run_empty();
		add[r] = run_add() - empty[r];
		obs[r] = run_observe() - empty[r];
		dec[r] = run_decision() - empty[r];
		ren[r] = run_render() / 1000;
		pthread_create(&t[0], NULL, decision_thread, &per[0]);
		pthread_create(&t[1], NULL, decision_thread, &per[1]);
		pthread_join(t[0], NULL);
		pthread_join(t[1], NULL);
		thr[r] = (per[0] + per[1]) / 2 - empty[r];
		printf("%-5d %8.1f %8.1f %8.1f %10.1f %10.1f %12.1f\n", r + 1, empty[r], add[r],
		       obs[r], dec[r], thr[r], ren[r]);
	}
	printf("median ns CPU per op (empty loop subtracted): add %.1f, observe %.1f, "
	       "decision hook %.1f (2 threads: %.1f each); one scrape %.0f us CPU\n",
	       median(add, rounds), median(obs, rounds), median(dec, rounds), median(thr, rounds),
	       median(ren, rounds));
	return 0;
}
