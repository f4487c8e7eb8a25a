/*
 * test_strmap.c - the (key -> values) map of the Redis hashes and aliases.
 *
 * Covers: the empty map, present and absent keys (prefixes of each other,
 * bytes above 0x7f), ASCII case on lookup and add, duplicates (the last
 * add wins whole), aliases with many targets and with none, adds after a
 * finish, a random run checked against a plain linear reference, and the
 * bytes a map of 100,000 fields and one of 10,000 aliases cost.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "strmap.h"

static void
test_empty(void **state)
{
	struct strmap m;
	size_t n = 99;

	(void)state;
	memset(&m, 0, sizeof(m));
	assert_null(strmap_get(&m, "a", &n));
	assert_int_equal(n, 99);		/* untouched when absent */
	strmap_finish(&m);
	assert_null(strmap_get(&m, "", NULL));
	assert_null(strmap_get(&m, NULL, NULL));
	assert_null(strmap_get(NULL, "a", NULL));
	assert_int_equal(strmap_count(&m), 0);
	assert_int_equal(strmap_bytes(&m), 0);
	strmap_free(&m);
}

static void
test_hash(void **state)
{
	struct strmap m;
	size_t n;

	(void)state;
	memset(&m, 0, sizeof(m));
	assert_int_equal(strmap_add(&m, "Example.ORG", "Example.NET"), 0);
	assert_int_equal(strmap_add(&m, "example", "x"), 0);	/* a prefix of the one above */
	assert_int_equal(strmap_add(&m, "example.org.uk", "y"), 0);
	assert_int_equal(strmap_add(&m, "", "empty key"), 0);
	assert_int_equal(strmap_add(&m, "b\xc3\xa4r.de", "umlaut"), 0);
	assert_int_equal(strmap_add(&m, "novalue.test", ""), 0);
	strmap_finish(&m);
	assert_int_equal(strmap_count(&m), 6);
	assert_string_equal(strmap_get(&m, "example.org", &n), "Example.NET");	/* value as given */
	assert_int_equal(n, 1);
	assert_string_equal(strmap_get(&m, "EXAMPLE.org", NULL), "Example.NET");
	assert_string_equal(strmap_get(&m, "Example", NULL), "x");
	assert_string_equal(strmap_get(&m, "example.org.UK", NULL), "y");
	assert_string_equal(strmap_get(&m, "", NULL), "empty key");
	assert_string_equal(strmap_get(&m, "B\xc3\xa4R.DE", NULL), "umlaut");
	assert_null(strmap_get(&m, "b\xc3\x84r.de", NULL));	/* only ASCII case folds */
	assert_string_equal(strmap_get(&m, "novalue.test", &n), "");
	assert_int_equal(n, 1);
	assert_null(strmap_get(&m, "example.or", NULL));
	assert_null(strmap_get(&m, "example.orgx", NULL));
	assert_null(strmap_get(&m, "exampl", NULL));
	assert_null(strmap_get(&m, "zzz", NULL));
	assert_null(strmap_get(&m, "\xff", NULL));
	strmap_free(&m);
	assert_int_equal(strmap_count(&m), 0);
}

static void
test_duplicates(void **state)
{
	static const char *const two[] = { "t1@x", "t2@x" };
	struct strmap m;
	const char *v;
	size_t n;

	(void)state;
	memset(&m, 0, sizeof(m));
	assert_int_equal(strmap_add(&m, "a", "1"), 0);
	assert_int_equal(strmap_add_list(&m, "dup@x", two, 2), 0);
	assert_int_equal(strmap_add(&m, "A", "2"), 0);
	assert_int_equal(strmap_add(&m, "b", "b"), 0);
	assert_int_equal(strmap_add(&m, "a", "3"), 0);
	assert_int_equal(strmap_add(&m, "DUP@X", "only@x"), 0);	/* replaces, not merged */
	strmap_finish(&m);
	assert_int_equal(strmap_count(&m), 3);
	assert_string_equal(strmap_get(&m, "a", NULL), "3");
	assert_string_equal(strmap_get(&m, "b", NULL), "b");
	v = strmap_get(&m, "dup@x", &n);
	assert_string_equal(v, "only@x");
	assert_int_equal(n, 1);

	/* adds after a finish, then finish again: the later add still wins */
	assert_int_equal(strmap_add(&m, "a", "4"), 0);
	assert_int_equal(strmap_add(&m, "c", "c"), 0);
	strmap_finish(&m);
	assert_int_equal(strmap_count(&m), 4);
	assert_string_equal(strmap_get(&m, "a", NULL), "4");
	assert_string_equal(strmap_get(&m, "c", NULL), "c");
	assert_string_equal(strmap_get(&m, "b", NULL), "b");
	strmap_free(&m);
}

static void
test_aliases(void **state)
{
	enum { TARGETS = 1000 };
	static char buf[TARGETS][32];
	const char *targets[TARGETS];
	struct strmap m;
	const char *v;
	size_t n, i;

	(void)state;
	memset(&m, 0, sizeof(m));
	for (i = 0; i < TARGETS; i++) {
		snprintf(buf[i], sizeof(buf[i]), "Member%zu@Lists.Example", i);
		targets[i] = buf[i];
	}
	assert_int_equal(strmap_add_list(&m, "all@example.com", targets, TARGETS), 0);
	assert_int_equal(strmap_add_list(&m, "postmaster@*", targets + 7, 1), 0);
	assert_int_equal(strmap_add_list(&m, "none@example.com", NULL, 0), 0);
	assert_int_equal(strmap_add_list(&m, "two@example.com", targets + 10, 2), 0);
	strmap_finish(&m);

	v = strmap_get(&m, "All@Example.com", &n);
	assert_non_null(v);
	assert_int_equal(n, TARGETS);
	for (i = 0; i < n; i++, v = strmap_next(v))
		assert_string_equal(v, buf[i]);		/* in order, case kept */
	v = strmap_get(&m, "POSTMASTER@*", &n);
	assert_int_equal(n, 1);
	assert_string_equal(v, "Member7@Lists.Example");
	v = strmap_get(&m, "none@example.com", &n);
	assert_non_null(v);				/* present, with no targets */
	assert_int_equal(n, 0);
	assert_string_equal(v, "");
	v = strmap_get(&m, "two@example.com", &n);
	assert_int_equal(n, 2);
	assert_string_equal(v, "Member10@Lists.Example");
	assert_string_equal(strmap_next(v), "Member11@Lists.Example");
	assert_null(strmap_get(&m, "postmaster@example.com", NULL));
	strmap_free(&m);
}

/* The reference: the same adds in a plain array, looked up linearly from
 * the end (the last add wins), keys compared caseless. */
struct ref {
	char key[16];
	char values[4][32];
	size_t n;
};

static uint64_t rng_state = 88172645463325252ULL;

static unsigned
rng_below(unsigned n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned)(rng_state % n);
}

static void
random_key(char *key, size_t size)
{
	/* a small alphabet and short keys: many duplicates and prefixes */
	static const char alphabet[] = "aAbB@.-";
	size_t len = rng_below((unsigned)size - 1 < 5 ? (unsigned)size - 1 : 5);

	for (size_t i = 0; i < len; i++)
		key[i] = alphabet[rng_below(sizeof(alphabet) - 1)];
	key[len] = '\0';
}

static const struct ref *
ref_get(const struct ref *refs, size_t count, const char *key)
{
	while (count-- > 0)
		if (strcasecmp(refs[count].key, key) == 0)
			return &refs[count];
	return NULL;
}

static void
test_random_against_reference(void **state)
{
	enum { ADDS = 3000, PROBES = 20000 };
	struct ref *refs = calloc(ADDS, sizeof(*refs));
	struct strmap m;
	size_t i, j, found = 0;

	(void)state;
	assert_non_null(refs);
	memset(&m, 0, sizeof(m));
	for (i = 0; i < ADDS; i++) {
		const char *values[4];

		random_key(refs[i].key, sizeof(refs[i].key));
		refs[i].n = rng_below(5);
		for (j = 0; j < refs[i].n; j++) {
			snprintf(refs[i].values[j], sizeof(refs[i].values[j]), "v%zu.%zu", i, j);
			values[j] = refs[i].values[j];
		}
		assert_int_equal(strmap_add_list(&m, refs[i].key, values, refs[i].n), 0);
		if (i == ADDS / 2)
			strmap_finish(&m);	/* a finish in the middle changes nothing */
	}
	strmap_finish(&m);
	for (i = 0; i < PROBES; i++) {
		char key[16];
		const struct ref *want;
		const char *v;
		size_t n = 0;

		random_key(key, sizeof(key));
		want = ref_get(refs, ADDS, key);
		v = strmap_get(&m, key, &n);
		if (want == NULL) {
			assert_null(v);
			continue;
		}
		found++;
		assert_non_null(v);
		assert_int_equal(n, want->n);
		for (j = 0; j < n; j++, v = strmap_next(v))
			assert_string_equal(v, want->values[j]);
	}
	print_message("strmap: %d adds, %zu keys, %d probes, %zu found\n", ADDS,
		      strmap_count(&m), PROBES, found);
	assert_true(found > PROBES / 4 && found < PROBES);
	strmap_free(&m);
	free(refs);
}

static double
elapsed_ns(const struct timespec *t0, const struct timespec *t1)
{
	return (double)(t1->tv_sec - t0->tv_sec) * 1e9 + (double)(t1->tv_nsec - t0->tv_nsec);
}

/* 100,000 hash fields and 10,000 aliases: bytes (judged) and lookup cost
 * (printed only). */
static void
test_large(void **state)
{
	enum { FIELDS = 100000, ALIASES = 10000 };
	struct strmap m, a;
	struct timespec t0, t1;
	char key[64], value[64], t[3][64];
	const char *targets[3] = { t[0], t[1], t[2] };
	size_t text = 0, i, found = 0;

	(void)state;
	memset(&m, 0, sizeof(m));
	for (i = 0; i < FIELDS; i++) {
		snprintf(key, sizeof(key), "customer%zu.example", i);
		snprintf(value, sizeof(value), "hosted%zu.example.net", i % 977);
		text += strlen(key) + strlen(value) + 2;
		assert_int_equal(strmap_add(&m, key, value), 0);
	}
	strmap_finish(&m);
	assert_int_equal(strmap_count(&m), FIELDS);
	assert_int_equal(strmap_bytes(&m), text + FIELDS * sizeof(struct strmap_entry));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 2 * FIELDS; i++) {
		snprintf(key, sizeof(key), "Customer%zu.Example", i);
		found += strmap_get(&m, key, NULL) != NULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(found, FIELDS);
	print_message("strmap: %d fields, %zu bytes; %d lookups (half absent), %.0f ns each\n",
		      FIELDS, strmap_bytes(&m), 2 * FIELDS, elapsed_ns(&t0, &t1) / (2 * FIELDS));
	strmap_free(&m);

	memset(&a, 0, sizeof(a));
	text = 0;
	for (i = 0; i < ALIASES; i++) {
		snprintf(key, sizeof(key), "alias%zu@example.com", i);
		text += strlen(key) + 1;
		for (size_t j = 0; j < 3; j++) {
			snprintf(t[j], sizeof(t[j]), "user%zu.%zu@mail.example.com", i, j);
			text += strlen(t[j]) + 1;
		}
		assert_int_equal(strmap_add_list(&a, key, targets, 1 + i % 3), 0);
		if (i % 3 < 2)
			text -= strlen(t[2]) + 1;
		if (i % 3 < 1)
			text -= strlen(t[1]) + 1;
	}
	strmap_finish(&a);
	assert_int_equal(strmap_bytes(&a), text + ALIASES * sizeof(struct strmap_entry));
	print_message("strmap: %d aliases of 1-3 targets, %zu bytes\n", ALIASES, strmap_bytes(&a));
	strmap_free(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_aliases),
		cmocka_unit_test(test_random_against_reference),
		cmocka_unit_test(test_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
