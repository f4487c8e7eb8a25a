/* test_rules.c - the milter's address rules as a pure function (rules.h):
 * the SafeUTM priority (IP, then mailbox, then domain; permitted wins at
 * one level), /regex/ entries, IPv4 and IPv6, the null sender; and the
 * copies' plan (copies.h) without a list snapshot. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "copies.h"
#include "rules.h"

static struct pattern_list permit_ip, permit_mailbox, permit_domain;
static struct pattern_list forbid_ip, forbid_mailbox, forbid_domain;
static struct rules_sets sets = {
	&permit_ip, &permit_mailbox, &permit_domain,
	&forbid_ip, &forbid_mailbox, &forbid_domain,
};

static void
fill(struct pattern_list *l, const char *const *items)
{
	for (; *items; items++)
		assert_int_equal(pattern_list_add(l, *items, NULL), 0);
	pattern_list_seal(l);
}

static int
setup(void **state)
{
	(void)state;
	fill(&permit_ip, (const char *const[]){ "192.0.2.10", "2001:db8:1::/48", NULL });
	fill(&forbid_ip, (const char *const[]){ "192.0.2.0/24", "198.51.100.7", "2001:db8::/32", NULL });
	fill(&permit_mailbox, (const char *const[]){ "boss@bad.example", "/ceo-[0-9]+@bad\\.example/", NULL });
	fill(&forbid_mailbox, (const char *const[]){ "spammer@good.example", "/.*@ttt-point\\.de/",
						     "boss@bad.example", NULL });
	fill(&permit_domain, (const char *const[]){ "good.example", NULL });
	fill(&forbid_domain, (const char *const[]){ "bad.example", "good.example", NULL });
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	pattern_list_free(&permit_ip);
	pattern_list_free(&forbid_ip);
	pattern_list_free(&permit_mailbox);
	pattern_list_free(&forbid_mailbox);
	pattern_list_free(&permit_domain);
	pattern_list_free(&forbid_domain);
	return 0;
}

static enum rules_verdict
verdict(const char *ip, const char *sender)
{
	struct net_addr a;

	if (ip == NULL)
		return rules_sender(&sets, NULL, sender);
	assert_int_equal(net_addr_parse(ip, &a), 0);
	return rules_sender(&sets, &a, sender);
}

/* The manual's four worked examples. */
static void
test_manual_examples(void **state)
{
	(void)state;
	/* 1. forbidden IP, permitted domain: blocked by the IP */
	assert_int_equal(verdict("198.51.100.7", "someone@good.example"), RULES_FORBID_IP);
	/* 2. permitted IP, forbidden domain: blocked at the domain */
	assert_int_equal(verdict("192.0.2.10", "someone@bad.example"), RULES_FORBID_DOMAIN);
	/* 3. permitted domain, forbidden mailbox of it: blocked */
	assert_int_equal(verdict("203.0.113.1", "spammer@good.example"), RULES_FORBID_MAILBOX);
	/* 4. permitted mailbox, forbidden domain: passes */
	assert_int_equal(verdict("203.0.113.1", "boss@bad.example"), RULES_PERMIT_MAILBOX);
}

static void
test_same_level_permit_wins(void **state)
{
	struct net_addr a;

	(void)state;
	/* 192.0.2.10 is in both IP lists (a /24 forbidden, the host permitted) */
	assert_int_equal(net_addr_parse("192.0.2.10", &a), 0);
	assert_int_equal(rules_ip(&sets, &a), RULES_PERMIT_IP);
	assert_int_equal(net_addr_parse("192.0.2.11", &a), 0);
	assert_int_equal(rules_ip(&sets, &a), RULES_FORBID_IP);
	/* boss@bad.example is in both mailbox lists; good.example in both domain lists */
	assert_int_equal(verdict(NULL, "boss@bad.example"), RULES_PERMIT_MAILBOX);
	assert_int_equal(verdict(NULL, "friend@good.example"), RULES_PERMIT_DOMAIN);
	/* a permitted IP with a permitted sender says permit-ip (the higher level) */
	assert_int_equal(verdict("192.0.2.10", "friend@good.example"), RULES_PERMIT_IP);
	/* and a forbidden IP wins over a permitted mailbox */
	assert_int_equal(verdict("192.0.2.99", "boss@bad.example"), RULES_FORBID_IP);
}

static void
test_regex_and_case(void **state)
{
	(void)state;
	assert_int_equal(verdict(NULL, "Anyone@TTT-Point.DE"), RULES_FORBID_MAILBOX);
	assert_int_equal(verdict(NULL, "ceo-42@bad.example"), RULES_PERMIT_MAILBOX);
	/* anchored: the regex must match the whole address */
	assert_int_equal(verdict(NULL, "xceo-42@bad.example"), RULES_FORBID_DOMAIN);
	assert_int_equal(verdict(NULL, "ceo-@bad.example"), RULES_FORBID_DOMAIN);
	assert_int_equal(verdict(NULL, "a@ttt-point.de.evil.example"), RULES_NONE);
	assert_int_equal(verdict(NULL, "SPAMMER@Good.Example"), RULES_FORBID_MAILBOX);
	/* domains match exactly, not their subdomains (as policyd does) */
	assert_int_equal(verdict(NULL, "x@sub.bad.example"), RULES_NONE);
}

static void
test_ipv6_null_sender_unknown(void **state)
{
	(void)state;
	assert_int_equal(verdict("2001:db8:2::1", "x@nowhere.example"), RULES_FORBID_IP);
	assert_int_equal(verdict("2001:db8:1::1", "x@nowhere.example"), RULES_PERMIT_IP);
	assert_int_equal(verdict("2001:db9::1", "x@nowhere.example"), RULES_NONE);
	/* <>: only the IP rules */
	assert_int_equal(verdict("203.0.113.1", ""), RULES_NONE);
	assert_int_equal(verdict("198.51.100.7", ""), RULES_FORBID_IP);
	assert_int_equal(verdict("192.0.2.10", ""), RULES_PERMIT_IP);
	/* no address known, no sender: nothing */
	assert_int_equal(verdict(NULL, ""), RULES_NONE);
	assert_int_equal(verdict(NULL, "no-at-sign"), RULES_NONE);
	assert_true(rules_forbidden(RULES_FORBID_DOMAIN));
	assert_false(rules_forbidden(RULES_PERMIT_IP));
	assert_string_equal(rules_verdict_name(RULES_FORBID_IP), "forbid-ip");
	assert_string_equal(rules_verdict_name(RULES_PERMIT_DOMAIN), "permit-domain");
}

/* Empty lists (Redis empty): no verdict at all. */
static void
test_empty_lists(void **state)
{
	struct pattern_list empty;
	struct rules_sets none = { &empty, &empty, &empty, &empty, &empty, &empty };
	struct net_addr a;

	(void)state;
	memset(&empty, 0, sizeof(empty));
	pattern_list_seal(&empty);
	assert_int_equal(net_addr_parse("198.51.100.7", &a), 0);
	assert_int_equal(rules_sender(&none, &a, "spammer@good.example"), RULES_NONE);
	pattern_list_free(&empty);
}

static void
test_copies_plan(void **state)
{
	char out[COPIES_MAX][ADDRESS_MAX + 1];
	const char *rcpts[] = { "user@example.test", "Archive@Example.TEST" };
	struct copies_settings set = { "archive@example.test", "in@example.test", "out@example.test" };
	struct copies_settings same = { "in@example.test", "in@example.test", NULL };
	struct copies_settings none = { NULL, NULL, NULL };
	struct copies_settings bad = { "not an address", "<>", "x@y.test" };

	(void)state;
	/* inbound: always_bcc equals a recipient (case aside): only incoming_copy */
	assert_int_equal(copies_plan(&set, false, NULL, rcpts, 2, out), 1);
	assert_string_equal(out[0], "in@example.test");
	/* outbound, one recipient: always_bcc and outgoing_copy */
	assert_int_equal(copies_plan(&set, true, NULL, rcpts, 1, out), 2);
	assert_string_equal(out[0], "archive@example.test");
	assert_string_equal(out[1], "out@example.test");
	/* the same address twice: once */
	assert_int_equal(copies_plan(&same, false, NULL, rcpts, 1, out), 1);
	/* nothing configured, or no snapshot: nothing */
	assert_int_equal(copies_plan(&none, false, NULL, rcpts, 2, out), 0);
	/* what is not a mailbox is never added */
	assert_int_equal(copies_plan(&bad, true, NULL, rcpts, 0, out), 1);
	assert_string_equal(out[0], "x@y.test");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_manual_examples),
		cmocka_unit_test(test_same_level_permit_wins),
		cmocka_unit_test(test_regex_and_case),
		cmocka_unit_test(test_ipv6_null_sender_unknown),
		cmocka_unit_test(test_empty_lists),
		cmocka_unit_test(test_copies_plan),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
