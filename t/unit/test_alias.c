/* test_alias.c - alias resolution (alias_resolve.h): groups, keep-a-copy,
 * shorthand, wildcard, nesting, loops, depth, duplicates, case, domain
 * mapping, catch-all. The lookups come from a small table here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "alias_resolve.h"

/* "key\0t1\0t2\0\0" entries: the table's values are NUL-separated. */
struct entry { const char *key; const char *targets; size_t count; };

static const struct entry *table;
static const char *const *mailboxes;

static const char *
t_alias(void *arg, const char *key, size_t *count)
{
	const struct entry *e;

	(void)arg;
	for (e = table; e && e->key; e++)
		if (strcasecmp(e->key, key) == 0) {
			*count = e->count;
			return e->targets;
		}
	return NULL;
}

static const char *
t_next(const char *v)
{
	return v + strlen(v) + 1;
}

static const char *
t_domainmap(void *arg, const char *d)
{
	(void)arg;
	return strcasecmp(d, "old.example") == 0 ? "new.example" : NULL;
}

static const char *
t_catchall(void *arg, const char *d)
{
	(void)arg;
	return strcasecmp(d, "example.com") == 0 ? "catch@example.com" : NULL;
}

static bool
t_is_mailbox(void *arg, const char *a)
{
	const char *const *m;

	(void)arg;
	for (m = mailboxes; m && *m; m++)
		if (strcasecmp(*m, a) == 0)
			return true;
	return false;
}

static bool
t_local(void *arg, const char *d)
{
	(void)arg;
	return strcasecmp(d, "example.com") == 0 || strcasecmp(d, "example.org") == 0 ||
	       strcasecmp(d, "new.example") == 0;
}

static const struct alias_source src = { NULL, t_alias, t_next, t_domainmap, t_catchall,
					 t_is_mailbox, t_local };

/* The result as "a,b,c". */
static const char *
resolve(const char *rcpt, struct alias_result *res)
{
	static char out[4096];
	size_t i;

	out[0] = '\0';
	assert_int_equal(alias_resolve(&src, rcpt, res), 0);
	for (i = 0; i < res->count; i++) {
		if (i)
			strcat(out, ",");
		strcat(out, res->addr[i]);
	}
	return out;
}

static const char *const boxes[] = { "anna@example.com", "bob@example.com", "carl@example.com",
				     "r.johnson@example.com", "j.smith@example.com", NULL };

static void
test_group_copy_shorthand(void **state)
{
	static const struct entry t[] = {
		{ "sales@example.com", "anna@example.com\0Bob@Example.COM\0carl\0", 3 },
		{ "r.johnson@example.com", "r.johnson@example.com\0j.smith\0", 2 },
		{ "ceo@example.com", "boss@gmail.example\0", 1 },
		{ NULL, NULL, 0 } };
	struct alias_result r;

	(void)state;
	table = t;
	mailboxes = boxes;
	assert_string_equal(resolve("<SALES@example.com>", &r),
			    "anna@example.com,bob@example.com,carl@example.com");
	assert_true(r.changed);
	alias_result_free(&r);
	assert_string_equal(resolve("<r.johnson@example.com>", &r),
			    "r.johnson@example.com,j.smith@example.com");
	assert_true(r.changed);
	assert_false(r.loop);
	alias_result_free(&r);
	assert_string_equal(resolve("<ceo@example.com>", &r), "boss@gmail.example");
	alias_result_free(&r);
	assert_string_equal(resolve("<Anna@Example.com>", &r), "anna@example.com");
	assert_false(r.changed);	/* not an alias: left alone */
	alias_result_free(&r);
}

static void
test_wildcard(void **state)
{
	static const struct entry t[] = {
		{ "postmaster@*", "anna@example.com\0", 1 },
		{ "postmaster@example.org", "bob@example.com\0", 1 },
		{ NULL, NULL, 0 } };
	struct alias_result r;

	(void)state;
	table = t;
	assert_string_equal(resolve("<postmaster@example.com>", &r), "anna@example.com");
	alias_result_free(&r);
	/* the exact alias wins over the wildcard */
	assert_string_equal(resolve("<postmaster@example.org>", &r), "bob@example.com");
	alias_result_free(&r);
	/* not a local domain: the wildcard does not apply */
	assert_string_equal(resolve("<postmaster@elsewhere.example>", &r), "postmaster@elsewhere.example");
	assert_false(r.changed);
	alias_result_free(&r);
}

static void
test_nested_dup_loop(void **state)
{
	static const struct entry t[] = {
		{ "all@example.com", "sales@example.com\0dev@example.com\0anna@example.com\0", 3 },
		{ "sales@example.com", "anna@example.com\0bob@example.com\0", 2 },
		{ "dev@example.com", "bob@example.com\0carl@example.com\0", 2 },
		{ "a@example.com", "b@example.com\0anna@example.com\0", 2 },
		{ "b@example.com", "a@example.com\0bob@example.com\0", 2 },
		{ "x@example.com", "y@example.com\0", 1 },
		{ "y@example.com", "x@example.com\0", 1 },
		{ NULL, NULL, 0 } };
	struct alias_result r;

	(void)state;
	table = t;
	assert_string_equal(resolve("<all@example.com>", &r),
			    "anna@example.com,bob@example.com,carl@example.com");
	assert_false(r.loop);	/* a diamond is not a loop */
	alias_result_free(&r);
	assert_string_equal(resolve("<a@example.com>", &r), "bob@example.com,anna@example.com");
	assert_true(r.loop);
	alias_result_free(&r);
	/* a pure loop delivers nowhere: the recipient is kept, not lost */
	assert_string_equal(resolve("<x@example.com>", &r), "x@example.com");
	assert_true(r.loop);
	alias_result_free(&r);
}

static void
test_depth(void **state)
{
	static char keys[ALIAS_DEPTH_MAX + 3][64], vals[ALIAS_DEPTH_MAX + 3][64];
	static struct entry t[ALIAS_DEPTH_MAX + 4];
	struct alias_result r;
	char want[64];
	int i;

	(void)state;
	for (i = 0; i < ALIAS_DEPTH_MAX + 2; i++) {
		snprintf(keys[i], sizeof(keys[i]), "l%d@example.com", i);
		snprintf(vals[i], sizeof(vals[i]), "l%d@example.com", i + 1);
		t[i].key = keys[i];
		t[i].targets = vals[i];
		t[i].count = 1;
	}
	t[i].key = NULL;
	table = t;
	resolve("<l0@example.com>", &r);
	snprintf(want, sizeof(want), "l%d@example.com", ALIAS_DEPTH_MAX);
	assert_int_equal(r.count, 1);
	assert_string_equal(r.addr[0], want);
	assert_true(r.too_deep);
	alias_result_free(&r);
}

static void
test_domainmap_catchall(void **state)
{
	static const struct entry t[] = {
		{ "info@new.example", "anna@example.com\0", 1 },
		{ "sales@example.com", "anna@example.com\0nobody@example.com\0", 2 },
		{ NULL, NULL, 0 } };
	struct alias_result r;

	(void)state;
	table = t;
	mailboxes = boxes;
	assert_string_equal(resolve("<joe@old.example>", &r), "joe@new.example");
	assert_true(r.mapped);
	alias_result_free(&r);
	/* mapping first, then the alias of the mapped address */
	assert_string_equal(resolve("<info@OLD.example>", &r), "anna@example.com");
	alias_result_free(&r);
	assert_string_equal(resolve("<typo@example.com>", &r), "catch@example.com");
	assert_true(r.catchall);
	alias_result_free(&r);
	assert_string_equal(resolve("<bob@example.com>", &r), "bob@example.com");
	assert_false(r.catchall);	/* a mailbox is known */
	alias_result_free(&r);
	/* an alias is not unknown; its targets are the admin's choice */
	assert_string_equal(resolve("<sales@example.com>", &r), "anna@example.com,nobody@example.com");
	assert_false(r.catchall);
	alias_result_free(&r);
	assert_int_equal(alias_resolve(&src, "<>", &r), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_group_copy_shorthand),
		cmocka_unit_test(test_wildcard),
		cmocka_unit_test(test_nested_dup_loop),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_domainmap_catchall),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
