/*
 * patterns-index.c - an exact-item lookup in a pattern list of 100,000
 * addresses, through its hash index and through the sorted array that
 * stands in when a list has no index (common/patterns.c; README, lists).
 *
 * usage: patterns-index     (make bench-patterns)
 *
 * 1,000,000 queries, half of them items, half not (then the domain is
 * looked up too, as pattern_match_address() does); the time per query
 * includes the snprintf() that makes it. Medians of 5 runs, index and
 * array interleaved. A timing, never a test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "patterns.h"

#define ITEMS 100000
#define QUERIES 1000000
#define RUNS 5

static double
now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int
compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* us per query; *found counts the hits */
static double
run(const struct pattern_list *l, int *found)
{
	char q[128];
	double t0 = now_s();
	unsigned i;

	*found = 0;
	for (i = 0; i < QUERIES; i++) {
		unsigned r = (i * 2654435761u) % (2 * ITEMS);	/* even: an item */

		snprintf(q, sizeof(q), "user%u.name@partner-%u.example.com", r * 7 / 2, r / 2 % 500);
		*found += pattern_match_address(l, q);
	}
	return (now_s() - t0) * 1e6 / QUERIES;
}

int
main(void)
{
	struct pattern_list indexed, sorted;
	double t_index[RUNS], t_sorted[RUNS];
	int i, found_index, found_sorted;
	char item[128];

	memset(&indexed, 0, sizeof(indexed));
	memset(&sorted, 0, sizeof(sorted));
	for (i = 0; i < ITEMS; i++) {
		snprintf(item, sizeof(item), "User%d.Name@Partner-%d.example.com", i * 7, i % 500);
		if (pattern_list_add(&indexed, item, NULL) < 0 || pattern_list_add(&sorted, item, NULL) < 0) {
			fprintf(stderr, "patterns-index: out of memory\n");
			return 2;
		}
	}
	pattern_list_seal(&indexed);
	pattern_list_seal(&sorted);
	free(sorted.index);	/* as a list that could not have one */
	sorted.index = NULL;
	for (i = 0; i < RUNS; i++) {
		t_index[i] = run(&indexed, &found_index);
		t_sorted[i] = run(&sorted, &found_sorted);
	}
	qsort(t_index, RUNS, sizeof(double), compare_double);
	qsort(t_sorted, RUNS, sizeof(double), compare_double);
	printf("%d addresses, %d queries (%d found; %d without the index), medians of %d:\n",
	       ITEMS, QUERIES, found_index, found_sorted, RUNS);
	printf("  hash index    %.3f us per query (longest probe sequence %u)\n",
	       t_index[RUNS / 2], indexed.index_probes);
	printf("  sorted array  %.3f us per query\n", t_sorted[RUNS / 2]);
	printf("  list: %zu bytes with the index, %zu without\n",
	       pattern_list_bytes(&indexed), pattern_list_bytes(&sorted));
	pattern_list_free(&indexed);
	pattern_list_free(&sorted);
	return found_index == found_sorted ? 0 : 1;
}
