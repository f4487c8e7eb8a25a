/* test_patterns.c - address, domain, regex and CIDR lists. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "patterns.h"

static struct pattern_list list;

static int
setup(void **state)
{
	static const char *const items[] = {
		"Alice@Example.com", "example.org", "/.*@ttt-point\\.de/", "/news-[0-9]+@.*/",
		"192.0.2.0/24", "2001:db8::/32", "203.0.113.9",
	};
	size_t i;

	(void)state;
	memset(&list, 0, sizeof(list));
	for (i = 0; i < sizeof(items) / sizeof(items[0]); i++)
		assert_int_equal(pattern_list_add(&list, items[i], NULL), 0);
	pattern_list_seal(&list);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	pattern_list_free(&list);
	return 0;
}

static void
test_addresses(void **state)
{
	(void)state;
	assert_true(pattern_match_address(&list, "alice@example.com"));
	assert_true(pattern_match_address(&list, "ALICE@EXAMPLE.COM"));
	assert_false(pattern_match_address(&list, "bob@example.com"));
	assert_true(pattern_match_address(&list, "bob@example.org"));	/* its domain */
	assert_false(pattern_match_address(&list, "bob@sub.example.org"));
	assert_true(pattern_match_address(&list, "x@ttt-point.de"));
	assert_true(pattern_match_address(&list, "X@TTT-POINT.DE"));
	assert_false(pattern_match_address(&list, "x@ttt-pointXde"));
	assert_false(pattern_match_address(&list, "x@ttt-point.de.evil"));	/* anchored */
	assert_true(pattern_match_address(&list, "news-42@lists.example"));
	assert_false(pattern_match_address(&list, "xnews-42@lists.example"));
	assert_false(pattern_match_address(&list, NULL));
	assert_false(pattern_match_address(&list, ""));
}

static void
test_domains(void **state)
{
	(void)state;
	assert_true(pattern_match_domain(&list, "example.org", false));
	assert_true(pattern_match_domain(&list, "EXAMPLE.ORG", false));
	assert_false(pattern_match_domain(&list, "mail.example.org", false));
	assert_true(pattern_match_domain(&list, "mail.example.org", true));
	assert_true(pattern_match_domain(&list, "a.b.example.org", true));
	assert_false(pattern_match_domain(&list, "badexample.org", true));
	assert_false(pattern_match_domain(&list, "org", true));
	assert_false(pattern_match_domain(&list, "", true));
}

static void
test_networks(void **state)
{
	struct net_addr a;

	(void)state;
	assert_int_equal(net_addr_parse("192.0.2.200", &a), 0);
	assert_true(pattern_match_ip(&list, &a));
	assert_int_equal(net_addr_parse("192.0.3.1", &a), 0);
	assert_false(pattern_match_ip(&list, &a));
	assert_int_equal(net_addr_parse("203.0.113.9", &a), 0);
	assert_true(pattern_match_ip(&list, &a));
	assert_int_equal(net_addr_parse("2001:db8:ffff::1", &a), 0);
	assert_true(pattern_match_ip(&list, &a));
	assert_int_equal(net_addr_parse("2001:db9::1", &a), 0);
	assert_false(pattern_match_ip(&list, &a));
	assert_int_equal(pattern_list_size(&list), 7);
}

static void
test_refused_items(void **state)
{
	struct pattern_list l;
	const char *why = NULL;
	char big[400];

	(void)state;
	memset(&l, 0, sizeof(l));
	assert_int_equal(pattern_list_add(&l, "/a(/", &why), -1);
	assert_non_null(strstr(why, "regular expression"));
	assert_int_equal(pattern_list_add(&l, "", &why), -1);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(pattern_list_add(&l, big, &why), -1);
	pattern_list_seal(&l);
	assert_false(pattern_match_address(&l, "a@b"));
	pattern_list_free(&l);
}

/* Issue 7, defect 1: the whole expression is anchored, not its first and
 * last alternatives ("^a|b$" matched "a.evil" and "x-b"). */
static void
test_alternation_is_anchored(void **state)
{
	struct pattern_list l;

	(void)state;
	memset(&l, 0, sizeof(l));
	assert_int_equal(pattern_list_add(&l, "/alice@example\\.com|bob@example\\.com/", NULL), 0);
	assert_int_equal(pattern_list_add(&l, "/x@(a|ab)\\.test/", NULL), 0);
	pattern_list_seal(&l);
	assert_true(pattern_match_address(&l, "alice@example.com"));
	assert_true(pattern_match_address(&l, "Bob@Example.com"));
	assert_false(pattern_match_address(&l, "alice@example.com.evil.test"));
	assert_false(pattern_match_address(&l, "x-bob@example.com"));
	assert_false(pattern_match_address(&l, "alice@example.comx"));
	/* the end anchor makes the engine try the other alternative */
	assert_true(pattern_match_address(&l, "x@ab.test"));
	assert_true(pattern_match_address(&l, "x@a.test"));
	assert_false(pattern_match_address(&l, "x@abc.test"));
	pattern_list_free(&l);
}

/* The literal tail every match ends with: what the lookup tests first. */
static void
test_regex_tail(void **state)
{
	static const char *const cases[][2] = {
		{ ".*@hoster[0-9]+\\.example5", ".example5" },
		{ ".*@TTT-point\\.de", "@ttt-point.de" },
		{ "ab?", "" }, { "ab*", "" }, { "ab+", "" }, { "a{2}b", "b" },
		{ "ab{2,3}", "" }, { "ab{,3}x", "x" }, { "a{b", "b" },
		{ "(foo)bar", "bar" }, { "foo(bar)", "" }, { "(?:ab)c", "c" },
		{ "x|y", "" }, { "(a|b)c", "" }, { "(?i)abc", "" }, { "(?=a)a", "" },
		{ "a(*ACCEPT)b", "" }, { "a\\Qb.c\\E", "" }, { "abc\\d", "" },
		{ "abc\\.", "abc." }, { "ab\\$", "ab$" }, { "a\\\\b", "a\\b" },
		{ "[ab]c", "c" }, { "[]x]y", "y" }, { "[^]x]y", "y" }, { "[\\]]y", "y" },
		{ "[[:alpha:]]z", "z" }, { "a$", "" }, { "a.b", "b" }, { "news-[0-9]+@.*", "" },
		{ "caf\xc3\xa9", "" },	/* non-ASCII bytes end the run */
	};
	char tail[PATTERN_ITEM_MAX + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = pattern_regex_tail(cases[i][0], strlen(cases[i][0]), tail,
					      sizeof(tail));

		if (strcmp(tail, cases[i][1]) != 0 || n != strlen(cases[i][1]))
			fail_msg("tail of /%s/: \"%s\", want \"%s\"", cases[i][0], tail,
				 cases[i][1]);
	}
	assert_int_equal(pattern_regex_tail("abcdef", 6, tail, 4), 0);	/* does not fit */
}

/* The tail never refuses what the regex matches: each regex alone in a
 * list, matched through the list (tail first) and by PCRE2 directly with
 * the list's options, over 200,000 addresses made of the regexes' own
 * pieces, must agree. */
static void
test_regex_tail_agrees(void **state)
{
	static const char *const regexes[] = {
		".*@hoster[0-9]+\\.example5", "ab?", "a{2}b", "(foo)bar", "x@(a|ab)\\.test",
		"[^@]+@all-caps\\.test", "a.b", "[]x]y", "ab\\.c*", "(?:ab)+c", "a{b",
		".*@(.*\\.)?shop\\.test", "[[:alpha:]]+[[:digit:]]{2}@example\\.net",
	};
	static const char *const pieces[] = {
		"a", "b", "ab", "c", "x", "y", "]", "{", "@", ".", "-", "1", "22", "foo",
		"bar", "hoster", "example5", "test", "shop", "all-caps", "example", "net",
	};
	unsigned seed = 7;
	size_t r, k, j, parts;

	(void)state;
	for (r = 0; r < sizeof(regexes) / sizeof(regexes[0]); r++) {
		char item[PATTERN_ITEM_MAX + 1], addr[128];
		pcre2_match_data *md = pcre2_match_data_create(1, NULL);
		struct pattern_list l;
		PCRE2_SIZE off;
		pcre2_code *code;
		int err;

		snprintf(item, sizeof(item), "/%s/", regexes[r]);
		memset(&l, 0, sizeof(l));
		assert_int_equal(pattern_list_add(&l, item, NULL), 0);
		pattern_list_seal(&l);
		code = pcre2_compile((PCRE2_SPTR)regexes[r], PCRE2_ZERO_TERMINATED,
				     PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_CASELESS
				     | PCRE2_NO_AUTO_CAPTURE | PCRE2_NEVER_UTF, &err, &off, NULL);
		assert_non_null(code);
		for (k = 0; k < 200000 / (sizeof(regexes) / sizeof(regexes[0])); k++) {
			addr[0] = '\0';
			parts = 1 + rand_r(&seed) % 6;
			for (j = 0; j < parts; j++)
				strcat(addr, pieces[rand_r(&seed) % (sizeof(pieces) / sizeof(pieces[0]))]);
			bool direct = pcre2_match(code, (PCRE2_SPTR)addr, strlen(addr), 0, 0, md,
						  NULL) >= 0;
			if (direct != pattern_match_address(&l, addr))
				fail_msg("/%s/ on <%s>: PCRE2 says %d", regexes[r], addr, direct);
		}
		pcre2_code_free(code);
		pcre2_match_data_free(md);
		pattern_list_free(&l);
	}
}

/* The spec's dialect: POSIX ERE forms keep working, caseless. */
static void
test_posix_forms(void **state)
{
	static const char *const items[] = {
		"/[[:alpha:]]+[[:digit:]]{2}@example\\.net/", "/(info|sales)@(.*\\.)?shop\\.test/",
		"/[^@]+@ALL-CAPS\\.TEST/",
	};
	struct pattern_list l;
	size_t i;

	(void)state;
	memset(&l, 0, sizeof(l));
	for (i = 0; i < sizeof(items) / sizeof(items[0]); i++)
		assert_int_equal(pattern_list_add(&l, items[i], NULL), 0);
	pattern_list_seal(&l);
	assert_true(pattern_match_address(&l, "Bob42@example.net"));
	assert_false(pattern_match_address(&l, "bob4@example.net"));
	assert_false(pattern_match_address(&l, "b0b42@example.net"));
	assert_true(pattern_match_address(&l, "sales@eu.shop.test"));
	assert_true(pattern_match_address(&l, "info@shop.test"));
	assert_false(pattern_match_address(&l, "info@eshop.test"));
	assert_true(pattern_match_address(&l, "x@all-caps.test"));
	pattern_list_free(&l);
}

/* Issue 7, defect 2: what glibc spent 18 s and gigabytes on is refused
 * (PCRE2 knows the compiled size before it allocates), with a reason. */
static void
test_costly_regexes_refused(void **state)
{
	static const char *const refused[] = {
		"/((.{0,40}){0,40}){0,40}/",
		"/(((.{0,40}){0,40}){0,40}){0,40}/",
		"/((.{0,1000}){0,1000}){0,1000}/",
		"/(((.{0,1000}){0,1000}){0,1000}){0,1000}/",
		"/(.{0,1000}){0,1000}/",
		"/((((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))))/",
		"/(a)\\1/",	/* back reference: not POSIX ERE, and no captures */
	};
	struct pattern_list l;
	const char *why;
	size_t i;

	(void)state;
	memset(&l, 0, sizeof(l));
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		why = NULL;
		if (pattern_list_add(&l, refused[i], &why) == 0)
			fail_msg("accepted %s", refused[i]);
		assert_non_null(why);
		assert_non_null(strstr(why, "regular expression"));
		assert_string_equal(pattern_check(refused[i]), why);
	}
	assert_int_equal(pattern_list_size(&l), 0);
	/* two levels of small repeats are ordinary enough to be kept */
	assert_null(pattern_check("/(.{0,40}){0,40}x/"));
	assert_int_equal(pattern_list_add(&l, "/(.{0,40}){0,40}x/", NULL), 0);
	pattern_list_seal(&l);
	assert_true(pattern_match_address(&l, "abc@x"));
	pattern_list_free(&l);
}

/* Catastrophic backtracking stops at the match limit: no match, no hang,
 * and the other members of the list still work. */
static void
test_backtracking_is_bounded(void **state)
{
	struct pattern_list l;
	char subject[251];

	(void)state;
	memset(&l, 0, sizeof(l));
	assert_int_equal(pattern_list_add(&l, "/(a+)+$/", NULL), 0);
	assert_int_equal(pattern_list_add(&l, "/(a|aa)+b/", NULL), 0);
	assert_int_equal(pattern_list_add(&l, "/(.*)*x/", NULL), 0);
	/* a limit set inside the pattern can only lower ours */
	assert_int_equal(pattern_list_add(&l, "/(*LIMIT_MATCH=100000000)(a|a)+$/", NULL), 0);
	assert_int_equal(pattern_list_add(&l, "/ok@example\\.com/", NULL), 0);
	pattern_list_seal(&l);
	memset(subject, 'a', sizeof(subject) - 2);
	subject[sizeof(subject) - 2] = '!';
	subject[sizeof(subject) - 1] = '\0';
	assert_false(pattern_match_address(&l, subject));
	subject[sizeof(subject) - 2] = 'a';
	assert_true(pattern_match_address(&l, subject));	/* (a+)+$ */
	assert_true(pattern_match_address(&l, "ok@example.com"));
	pattern_list_free(&l);
}

/* "/.*@aaa...[.]example/" of exactly len bytes. */
static void
regex_of_length(char *buf, size_t len)
{
	size_t k = len - strlen("/.*@[.]example/");

	strcpy(buf, "/.*@");
	memset(buf + 4, 'a', k);
	strcpy(buf + 4 + k, "[.]example/");
	assert_int_equal(strlen(buf), len);
}

static void
test_length_boundary(void **state)
{
	struct pattern_list l;
	char re[300], addr[300];
	const char *why;

	(void)state;
	memset(&l, 0, sizeof(l));
	regex_of_length(re, PATTERN_ITEM_MAX);
	assert_null(pattern_check(re));
	assert_int_equal(pattern_list_add(&l, re, NULL), 0);
	snprintf(addr, sizeof(addr), "u@%.*s.example", PATTERN_ITEM_MAX - 15, re + 4);
	regex_of_length(re, PATTERN_ITEM_MAX + 1);
	assert_non_null(pattern_check(re));
	assert_int_equal(pattern_list_add(&l, re, &why), -1);
	assert_non_null(strstr(why, "longer than 256 bytes"));
	pattern_list_seal(&l);
	assert_true(pattern_match_address(&l, addr));
	pattern_list_free(&l);
}

static void
test_regex_count_bounded(void **state)
{
	struct pattern_list l;
	const char *why;
	char re[64];
	int i;

	(void)state;
	memset(&l, 0, sizeof(l));
	for (i = 0; i < PATTERN_REGEX_COUNT_MAX; i++) {
		snprintf(re, sizeof(re), "/user%d@.*/", i);
		assert_int_equal(pattern_list_add(&l, re, NULL), 0);
	}
	assert_int_equal(pattern_list_add(&l, "/one-too-many@.*/", &why), -1);
	assert_non_null(strstr(why, "more than 1000 regular expressions"));
	assert_int_equal(pattern_list_add(&l, "exact@example.com", NULL), 0);	/* not a regex */
	pattern_list_seal(&l);
	assert_true(pattern_match_address(&l, "user999@x.test"));
	assert_false(pattern_match_address(&l, "one-too-many@x.test"));
	pattern_list_free(&l);
}

/* A refresh keeps what it can of the old list's compiled regexes. */
static void
test_reuse_compiled(void **state)
{
	struct pattern_list old, fresh;
	const void *code;

	(void)state;
	memset(&old, 0, sizeof(old));
	memset(&fresh, 0, sizeof(fresh));
	assert_int_equal(pattern_list_add(&old, "/b@.*/", NULL), 0);
	assert_int_equal(pattern_list_add(&old, "/a@.*/", NULL), 0);
	pattern_list_seal(&old);
	assert_string_equal(old.regex[0].source, "/a@.*/");
	code = old.regex[0].code;
	assert_int_equal(pattern_list_add_reuse(&fresh, "/a@.*/", &old, NULL), 0);
	assert_int_equal(pattern_list_add_reuse(&fresh, "/c@.*/", &old, NULL), 0);
	/* old is left as it was: other threads may still match on it */
	assert_ptr_equal(old.regex[0].code, code);
	assert_non_null(old.regex[1].code);
	assert_true(pattern_match_address(&old, "a@x"));
	pattern_list_free(&old);
	pattern_list_seal(&fresh);
	assert_non_null(fresh.regex[0].code);
	assert_ptr_not_equal(fresh.regex[0].code, code);	/* a copy, not stolen */
	assert_true(pattern_match_address(&fresh, "a@x"));
	assert_true(pattern_match_address(&fresh, "c@x"));
	assert_false(pattern_match_address(&fresh, "b@x"));
	pattern_list_free(&fresh);
}

/* Issue 8: the networks of a sealed list are a range set (merged, binary
 * search), and it answers as the linear matcher over the blocks did. */
static void
test_networks_range_set(void **state)
{
	enum { N = 10000, PROBES = 5000 };
	struct pattern_list l;
	struct net_cidr *blocks = calloc(N, sizeof(*blocks));
	uint32_t seed = 12345;
	char text[NET_CIDR_STRLEN];
	size_t i, j, hits = 0;

	(void)state;
	assert_non_null(blocks);
	memset(&l, 0, sizeof(l));
	assert_int_equal(pattern_list_add(&l, "10.0.0.0/25", NULL), 0);
	assert_int_equal(pattern_list_add(&l, "10.0.0.128/25", NULL), 0);
	assert_int_equal(pattern_list_add(&l, "::ffff:10.0.1.0/120", NULL), 0);
	pattern_list_seal(&l);
	assert_int_equal(ipset_ranges(&l.nets), 1);	/* adjacent: merged */
	assert_int_equal(pattern_list_bytes(&l), sizeof(struct ipset_range4));
	assert_int_equal(pattern_list_size(&l), 3);	/* members, not ranges */
	pattern_list_free(&l);

	/* the linear matcher of main over 10,000 /20../32 blocks in 0/2
	 * (nested, overlapping, some adjacent), and the list of them as text */
	for (i = 0; i < N; i++) {
		seed = seed * 1103515245u + 12345u;
		snprintf(text, sizeof(text), "%u.%u.%u.%u/%u", (seed >> 24) % 64, (seed >> 16) & 0xff,
			 (seed >> 8) & 0xff, seed & 0xff, 20 + (seed >> 3) % 13);
		assert_int_equal(net_cidr_parse(text, &blocks[i]), 0);
		assert_int_equal(pattern_list_add(&l, text, NULL), 0);
	}
	pattern_list_seal(&l);
	assert_true(ipset_ranges(&l.nets) < N);
	for (i = 0; i < PROBES; i++) {
		struct net_addr a;
		bool want = false;

		seed = seed * 1103515245u + 12345u;
		if (i % 2) {
			/* near a block: its network, plus 0..63 */
			a = blocks[seed % N].addr;
			a.bytes[3] = (unsigned char)(a.bytes[3] + ((seed >> 12) & 0x3f));
		} else {
			snprintf(text, sizeof(text), "%u.%u.%u.%u", (seed >> 24) % 65,
				 (seed >> 16) & 0xff, (seed >> 8) & 0xff, seed & 0xff);
			assert_int_equal(net_addr_parse(text, &a), 0);
		}
		for (j = 0; j < N && !want; j++)
			want = net_cidr_contains(&blocks[j], &a);
		assert_int_equal(pattern_match_ip(&l, &a), want);
		hits += want;
	}
	print_message("patterns: %d blocks -> %zu ranges, %zu bytes; %zu of %d probes matched\n",
		      N, ipset_ranges(&l.nets), ipset_bytes(&l.nets), hits, PROBES);
	assert_true(hits > 0 && hits < PROBES);
	pattern_list_free(&l);
	free(blocks);
}

static size_t
heap_in_use(void)
{
	struct mallinfo2 m = mallinfo2();

	return m.uordblks + m.hblkhd;
}

/* Issue 8: 100,000 exact addresses cost their text and a pointer each,
 * not a malloc chunk each (main: about 11 bytes more per address). */
static void
test_exact_items_packed(void **state)
{
	enum { N = 100000 };
	struct pattern_list l;
	char text[ADDRESS_MAX + 1];
	size_t before, used, strings = 0, i;

	(void)state;
	memset(&l, 0, sizeof(l));
	before = heap_in_use();
	for (i = 0; i < N; i++) {
		snprintf(text, sizeof(text), "User%zu.Name@Partner-%zu.example.com", i, i % 500);
		strings += strlen(text) + 1;
		assert_int_equal(pattern_list_add(&l, text, NULL), 0);
	}
	pattern_list_seal(&l);
	used = heap_in_use() - before;
	for (i = 0; i < N; i += 97) {
		snprintf(text, sizeof(text), "user%zu.name@PARTNER-%zu.example.com", i, i % 500);
		assert_true(pattern_match_address(&l, text));
		snprintf(text, sizeof(text), "user%zu.name@partner-%zu.example.com", i, (i + 1) % 500);
		assert_false(pattern_match_address(&l, text));
	}
	assert_true(pattern_match_domain(&l, "user7.name@partner-7.example.com", false));
	print_message("patterns: %d addresses, %zu bytes of text, %zu bytes in use (%.1f per address), "
		      "%zu counted\n", N, strings, used, (double)used / N, pattern_list_bytes(&l));
	assert_true(pattern_list_bytes(&l) >= strings + N * sizeof(char *));
	assert_true(pattern_list_bytes(&l) <= strings + N * (sizeof(char *) + 1));
	if (before == 0 && used == 0) {
		/* a sanitizer's allocator: mallinfo2() knows nothing of it */
		pattern_list_free(&l);
		skip();
	}
	assert_true(used <= strings + N * (sizeof(char *) + 2));
	pattern_list_free(&l);
}


/* A query longer than what can be a domain (or an address) matches no
 * item, not even one equal to its first bytes (fuzz_lists found the
 * query being cut to the buffer's size; the cut text then matched). */
static void
test_long_query_no_prefix_match(void **state)
{
	struct pattern_list l;
	char item[ADDRESS_DOMAIN_MAX + 1], query[2 * ADDRESS_MAX + 2], addr[ADDRESS_MAX + 1];

	(void)state;
	memset(&l, 0, sizeof(l));
	memset(item, 'a', ADDRESS_DOMAIN_MAX);
	item[ADDRESS_DOMAIN_MAX] = '\0';
	assert_int_equal(pattern_list_add(&l, item, NULL), 0);
	pattern_list_seal(&l);
	assert_true(pattern_match_domain(&l, item, false));
	snprintf(query, sizeof(query), "%sbbb", item);
	assert_false(pattern_match_domain(&l, query, false));
	pattern_list_free(&l);
	memset(&l, 0, sizeof(l));
	memset(addr, 'c', ADDRESS_MAX);
	addr[1] = '@';
	addr[ADDRESS_MAX] = '\0';
	assert_int_equal(pattern_list_add(&l, addr, NULL), 0);
	pattern_list_seal(&l);
	assert_true(pattern_match_address(&l, addr));
	snprintf(query, sizeof(query), "%sx", addr);
	assert_false(pattern_match_address(&l, query));
	pattern_list_free(&l);
}

/* An address longer than ADDRESS_MAX is matched whole: its domain part
 * and the regexes (anchored at both ends) still apply (a forbidden
 * sender must not get past a "bulk-" regex or its domain by a long
 * local part), and the whole text, not a cut one, is what the regex
 * sees. */
static void
test_long_address_matched_whole(void **state)
{
	struct pattern_list l;
	char query[400];

	(void)state;
	memset(&l, 0, sizeof(l));
	assert_int_equal(pattern_list_add(&l, "/bulk-.*@.*/", NULL), 0);
	assert_int_equal(pattern_list_add(&l, "spam.example", NULL), 0);
	assert_int_equal(pattern_list_add(&l, "/.*x@tail[.]example/", NULL), 0);
	pattern_list_seal(&l);
	snprintf(query, sizeof(query), "BULK-%0300d@other.example", 7);
	assert_true(strlen(query) > ADDRESS_MAX);
	assert_true(pattern_match_address(&l, query));
	snprintf(query, sizeof(query), "%0300d@Spam.Example", 7);
	assert_true(pattern_match_address(&l, query));
	/* the end of the text is past the first 256 bytes: a cut copy would
	 * miss it */
	snprintf(query, sizeof(query), "%0300dx@tail.example", 7);
	assert_true(pattern_match_address(&l, query));
	snprintf(query, sizeof(query), "%0300d@ham.example", 7);
	assert_false(pattern_match_address(&l, query));
	pattern_list_free(&l);
}

/* Many items: every one is found, in any case, and nothing else; an
 * item added twice and a list sealed again change nothing. */
static void
test_exact_many(void **state)
{
	struct pattern_list l;
	char q[128];
	int i;

	(void)state;
	memset(&l, 0, sizeof(l));
	pattern_list_seal(&l);	/* empty: nothing matches */
	assert_false(pattern_match_address(&l, "a@b.example"));
	for (i = 0; i < 50000; i++) {
		snprintf(q, sizeof(q), "User%d@D%d.example", i, i % 97);
		assert_int_equal(pattern_list_add(&l, q, NULL), 0);
	}
	assert_int_equal(pattern_list_add(&l, "user7@d7.example", NULL), 0);	/* twice */
	assert_int_equal(pattern_list_add(&l, "Sub.Domain.example", NULL), 0);
	pattern_list_seal(&l);
	for (i = 0; i < 50000; i++) {
		snprintf(q, sizeof(q), "user%d@d%d.EXAMPLE", i, i % 97);
		assert_true(pattern_match_address(&l, q));
		snprintf(q, sizeof(q), "user%d@d%d.example", i, (i + 1) % 97);
		assert_false(pattern_match_address(&l, q));
		snprintf(q, sizeof(q), "user%d@d%d.exampl", i, i % 97);
		assert_false(pattern_match_address(&l, q));
	}
	assert_true(pattern_match_domain(&l, "a.b.sub.domain.example", true));
	assert_false(pattern_match_domain(&l, "a.b.sub.domain.example", false));
	assert_false(pattern_match_domain(&l, "domain.example", true));
	pattern_list_seal(&l);	/* sealed again: same answers */
	assert_true(pattern_match_address(&l, "USER49999@D44.example"));	/* 49999 % 97 */
	assert_false(pattern_match_address(&l, "user49999@d46.example"));
	pattern_list_free(&l);
	assert_int_equal(l.exact_count, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_long_address_matched_whole),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_long_query_no_prefix_match),
		cmocka_unit_test(test_domains),
		cmocka_unit_test(test_networks),
		cmocka_unit_test(test_refused_items),
		cmocka_unit_test(test_alternation_is_anchored),
		cmocka_unit_test(test_posix_forms),
		cmocka_unit_test(test_regex_tail),
		cmocka_unit_test(test_regex_tail_agrees),
		cmocka_unit_test(test_costly_regexes_refused),
		cmocka_unit_test(test_backtracking_is_bounded),
		cmocka_unit_test(test_length_boundary),
		cmocka_unit_test(test_regex_count_bounded),
		cmocka_unit_test(test_reuse_compiled),
		cmocka_unit_test(test_networks_range_set),
		cmocka_unit_test(test_exact_items_packed),
		cmocka_unit_test(test_exact_many),
	};

	return cmocka_run_group_tests_name("patterns", tests, setup, teardown);
}
