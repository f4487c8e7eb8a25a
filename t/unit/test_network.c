/*
 * test_network.c - IPv4/IPv6 addresses, CIDR blocks and block lists.
 *
 * Covers the network.h contract: strict parsing (a malformed text never
 * yields a partial result), IPv4-mapped IPv6 folded to IPv4, prefix
 * bounds, host bits cleared, family-separated matching, canonical text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "network.h"

static void
assert_addr(const char *text, int family, const char *canonical)
{
	struct net_addr a;
	char buf[NET_CIDR_STRLEN];

	assert_int_equal(net_addr_parse(text, &a), 0);
	assert_int_equal(a.family, family);
	assert_int_equal(net_addr_format(&a, buf, sizeof(buf)), 0);
	assert_string_equal(buf, canonical);
}

static void
assert_bad_addr(const char *text)
{
	struct net_addr a;

	memset(&a, 0xa5, sizeof(a));
	assert_int_equal(net_addr_parse(text, &a), -1);
	assert_int_equal(a.family, (int)0xa5a5a5a5);	/* untouched */
}

static void
assert_cidr(const char *text, const char *canonical)
{
	struct net_cidr c, again;
	char buf[NET_CIDR_STRLEN];

	assert_int_equal(net_cidr_parse(text, &c), 0);
	assert_int_equal(net_cidr_format(&c, buf, sizeof(buf)), 0);
	assert_string_equal(buf, canonical);
	/* the canonical form parses back to the same block */
	assert_int_equal(net_cidr_parse(buf, &again), 0);
	assert_int_equal(again.addr.family, c.addr.family);
	assert_int_equal(again.prefix, c.prefix);
	assert_memory_equal(again.addr.bytes, c.addr.bytes, 16);
}

static void
assert_bad_cidr(const char *text)
{
	struct net_cidr c;

	memset(&c, 0x5a, sizeof(c));
	assert_int_equal(net_cidr_parse(text, &c), -1);
	assert_int_equal(c.prefix, 0x5a5a5a5aU);	/* untouched */
}

static void
assert_masked(const char *text, unsigned prefix, const char *canonical)
{
	struct net_addr a;
	char buf[NET_CIDR_STRLEN];

	assert_int_equal(net_addr_parse(text, &a), 0);
	net_addr_mask(&a, prefix);
	assert_int_equal(net_addr_format(&a, buf, sizeof(buf)), 0);
	assert_string_equal(buf, canonical);
}

static bool
contains(const char *block, const char *addr)
{
	struct net_cidr c;
	struct net_addr a;

	assert_int_equal(net_cidr_parse(block, &c), 0);
	assert_int_equal(net_addr_parse(addr, &a), 0);
	return net_cidr_contains(&c, &a);
}

static void
test_addr_ipv4(void **state)
{
	struct net_addr a;
	static const unsigned char zero[12];

	(void)state;
	assert_int_equal(net_addr_parse("192.0.2.1", &a), 0);
	assert_int_equal(a.family, AF_INET);
	assert_memory_equal(a.bytes, "\xc0\x00\x02\x01", 4);
	assert_memory_equal(a.bytes + 4, zero, 12);
	assert_addr("0.0.0.0", AF_INET, "0.0.0.0");
	assert_addr("255.255.255.255", AF_INET, "255.255.255.255");
	assert_addr("127.0.0.1", AF_INET, "127.0.0.1");
}

static void
test_addr_ipv6(void **state)
{
	struct net_addr a;

	(void)state;
	assert_int_equal(net_addr_parse("2001:db8::1", &a), 0);
	assert_int_equal(a.family, AF_INET6);
	assert_memory_equal(a.bytes, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
	assert_addr("::1", AF_INET6, "::1");
	assert_addr("::", AF_INET6, "::");
	assert_addr("2001:DB8:0:0:0:0:0:1", AF_INET6, "2001:db8::1");
	assert_addr("2001:0db8:0000:0000:0001:0000:0000:0001", AF_INET6,
		    "2001:db8::1:0:0:1");
	assert_addr("fe80::1", AF_INET6, "fe80::1");
	assert_addr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", AF_INET6,
		    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	/* NAT64 and deprecated "compatible" forms are not mapped: stay v6 */
	assert_addr("64:ff9b::192.0.2.1", AF_INET6, "64:ff9b::c000:201");
	assert_addr("::192.0.2.1", AF_INET6, "::192.0.2.1");
}

static void
test_addr_mapped(void **state)
{
	struct net_addr a, b;
	static const unsigned char zero[12];

	(void)state;
	assert_int_equal(net_addr_parse("::ffff:192.0.2.1", &a), 0);
	assert_int_equal(a.family, AF_INET);
	assert_memory_equal(a.bytes, "\xc0\x00\x02\x01", 4);
	assert_memory_equal(a.bytes + 4, zero, 12);
	assert_int_equal(net_addr_parse("192.0.2.1", &b), 0);
	assert_memory_equal(&a, &b, sizeof(a));	/* one client, one identity */
	assert_addr("::FFFF:c000:0201", AF_INET, "192.0.2.1");
	assert_addr("0:0:0:0:0:ffff:10.1.2.3", AF_INET, "10.1.2.3");
	assert_addr("::ffff:0.0.0.0", AF_INET, "0.0.0.0");
	/* ::fffe:... or ::1:ffff:... are ordinary IPv6 */
	assert_addr("::fffe:192.0.2.1", AF_INET6, "::fffe:c000:201");
	assert_addr("::1:ffff:192.0.2.1", AF_INET6, "::1:ffff:c000:201");
}

static void
test_addr_invalid(void **state)
{
	(void)state;
	assert_int_equal(net_addr_parse(NULL, &(struct net_addr){ 0 }), -1);
	assert_bad_addr("");
	assert_bad_addr(" ");
	assert_bad_addr(" 192.0.2.1");
	assert_bad_addr("192.0.2.1 ");
	assert_bad_addr("192.0.2.1\n");
	assert_bad_addr("192.0.2");
	assert_bad_addr("192.0.2.1.5");
	assert_bad_addr("192.0.2.256");
	assert_bad_addr("192.0.2.-1");
	assert_bad_addr("192.0.2.01");
	assert_bad_addr("0x7f.0.0.1");
	assert_bad_addr("3221225985");
	assert_bad_addr("192.0.2.1/32");
	assert_bad_addr("example.com");
	assert_bad_addr("[::1]");
	assert_bad_addr("fe80::1%eth0");
	assert_bad_addr("2001:db8::1::2");
	assert_bad_addr(":::");
	assert_bad_addr("2001:db8:0:0:0:0:0:0:1");
	assert_bad_addr("2001:db8::g");
	assert_bad_addr("12345::1");
	assert_bad_addr("::ffff:192.0.2.256");
}

static void
test_cidr_valid(void **state)
{
	struct net_cidr c;

	(void)state;
	assert_int_equal(net_cidr_parse("192.0.2.0/24", &c), 0);
	assert_int_equal(c.addr.family, AF_INET);
	assert_int_equal(c.prefix, 24);
	assert_cidr("192.0.2.0/24", "192.0.2.0/24");
	assert_cidr("10.0.0.0/8", "10.0.0.0/8");
	assert_cidr("0.0.0.0/0", "0.0.0.0/0");
	assert_cidr("192.0.2.1", "192.0.2.1/32");
	assert_cidr("192.0.2.1/32", "192.0.2.1/32");
	assert_cidr("127.0.0.0/8", "127.0.0.0/8");
	assert_cidr("2001:db8::/32", "2001:db8::/32");
	assert_cidr("2001:DB8::/32", "2001:db8::/32");
	assert_cidr("::1", "::1/128");
	assert_cidr("::1/128", "::1/128");
	assert_cidr("::/0", "::/0");
	assert_cidr("fe80::/10", "fe80::/10");
}

static void
test_cidr_host_bits(void **state)
{
	(void)state;
	assert_cidr("192.0.2.7/24", "192.0.2.0/24");
	assert_cidr("192.0.2.255/25", "192.0.2.128/25");
	assert_cidr("192.0.2.255/31", "192.0.2.254/31");
	assert_cidr("10.255.255.255/9", "10.128.0.0/9");
	assert_cidr("255.255.255.255/0", "0.0.0.0/0");
	assert_cidr("2001:db8:1:2:3:4:5:6/64", "2001:db8:1:2::/64");
	assert_cidr("2001:db8:1:2:3:4:5:6/48", "2001:db8:1::/48");
	assert_cidr("2001:db8:ffff::/33", "2001:db8:8000::/33");
	assert_cidr("fe80::1/10", "fe80::/10");
	assert_cidr("febf:ffff::1/10", "fe80::/10");
	assert_cidr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/127",
		    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127");
}

static void
test_cidr_prefix_bounds(void **state)
{
	struct net_cidr c;

	(void)state;
	assert_int_equal(net_cidr_parse("192.0.2.1/32", &c), 0);
	assert_int_equal(net_cidr_parse("::1/128", &c), 0);
	assert_int_equal(c.prefix, 128);
	assert_int_equal(net_cidr_parse("::/0", &c), 0);
	assert_int_equal(c.prefix, 0);
	assert_bad_cidr("192.0.2.1/33");
	assert_bad_cidr("192.0.2.1/128");
	assert_bad_cidr("::1/129");
	assert_bad_cidr("::1/1280");
	assert_bad_cidr("192.0.2.0/");
	assert_bad_cidr("192.0.2.0/-1");
	assert_bad_cidr("192.0.2.0/+8");
	assert_bad_cidr("192.0.2.0/ 8");
	assert_bad_cidr("192.0.2.0/8 ");
	assert_bad_cidr("192.0.2.0 /8");
	assert_bad_cidr("192.0.2.0/8x");
	assert_bad_cidr("192.0.2.0/8/8");
	assert_bad_cidr("192.0.2.0/08");
	assert_bad_cidr("192.0.2.0/0008");
	assert_bad_cidr("192.0.2.0/4294967320");
	assert_bad_cidr("192.0.2.0/0x8");
	assert_bad_cidr("/8");
	assert_bad_cidr("/");
	assert_bad_cidr("");
	assert_bad_cidr("192.0.2/24");
	assert_bad_cidr("example.com/24");
	assert_bad_cidr("[::1]/128");
	assert_bad_cidr("2001:db8::/64\n");
	assert_bad_cidr("2001:db8:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0/64");
	assert_int_equal(net_cidr_parse(NULL, &c), -1);
}

static void
test_cidr_mapped(void **state)
{
	struct net_cidr c;

	(void)state;
	assert_cidr("::ffff:192.0.2.1", "192.0.2.1/32");
	assert_cidr("::ffff:192.0.2.0/120", "192.0.2.0/24");
	assert_cidr("::ffff:192.0.2.77/120", "192.0.2.0/24");
	assert_cidr("::ffff:0:0/96", "0.0.0.0/0");
	/* shorter than /96 leaves the mapped range: an IPv6 block */
	assert_int_equal(net_cidr_parse("::ffff:192.0.2.1/64", &c), 0);
	assert_int_equal(c.addr.family, AF_INET6);
	assert_int_equal(c.prefix, 64);
	assert_true(contains("::ffff:192.0.2.0/120", "192.0.2.9"));
	assert_true(contains("192.0.2.0/24", "::ffff:192.0.2.9"));
}

static void
test_mask(void **state)
{
	struct net_addr a;
	static const unsigned char zero[16];

	(void)state;
	assert_masked("192.0.2.77", 24, "192.0.2.0");
	assert_masked("192.0.2.77", 25, "192.0.2.0");
	assert_masked("192.0.2.200", 25, "192.0.2.128");
	assert_masked("192.0.2.77", 32, "192.0.2.77");
	assert_masked("192.0.2.77", 33, "192.0.2.77");	/* clamped */
	assert_masked("192.0.2.77", 16, "192.0.0.0");
	assert_masked("192.0.2.77", 0, "0.0.0.0");
	assert_masked("2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::");
	assert_masked("2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::");
	assert_masked("2001:db8:12ff:2:3:4:5:6", 40, "2001:db8:1200::");
	assert_masked("2001:db8:1:2ff:3:4:5:6", 56, "2001:db8:1:200::");
	assert_masked("2001:db8:1:2:3:4:5:7", 127, "2001:db8:1:2:3:4:5:6");
	assert_masked("2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6");
	assert_masked("2001:db8:1:2:3:4:5:6", 500, "2001:db8:1:2:3:4:5:6");
	assert_masked("2001:db8:1:2:3:4:5:6", 0, "::");
	assert_masked("::ffff:192.0.2.77", 24, "192.0.2.0");

	/* an IPv4 address keeps its unused bytes zero */
	assert_int_equal(net_addr_parse("255.255.255.255", &a), 0);
	net_addr_mask(&a, 20);
	assert_memory_equal(a.bytes, "\xff\xff\xf0\x00", 4);
	assert_memory_equal(a.bytes + 4, zero, 12);
}

static void
test_contains(void **state)
{
	(void)state;
	assert_true(contains("192.0.2.0/24", "192.0.2.0"));
	assert_true(contains("192.0.2.0/24", "192.0.2.255"));
	assert_false(contains("192.0.2.0/24", "192.0.3.0"));
	assert_false(contains("192.0.2.0/24", "192.0.1.255"));
	assert_true(contains("192.0.2.128/25", "192.0.2.128"));
	assert_false(contains("192.0.2.128/25", "192.0.2.127"));
	assert_true(contains("192.0.2.1", "192.0.2.1"));
	assert_false(contains("192.0.2.1", "192.0.2.2"));
	assert_true(contains("127.0.0.0/8", "127.5.6.7"));
	assert_true(contains("0.0.0.0/0", "203.0.113.9"));
	assert_true(contains("2001:db8::/32", "2001:db8:ffff::1"));
	assert_false(contains("2001:db8::/32", "2001:db9::1"));
	assert_true(contains("2001:db8:1::/48", "2001:db8:1:ffff::1"));
	assert_false(contains("2001:db8:1::/48", "2001:db8:2::1"));
	assert_true(contains("::1", "::1"));
	assert_true(contains("::/0", "2001:db8::1"));
	/* families never cross */
	assert_false(contains("::/0", "192.0.2.1"));
	assert_false(contains("::/0", "::ffff:192.0.2.1"));
	assert_false(contains("0.0.0.0/0", "::1"));
	assert_false(contains("0.0.0.0/0", "::"));
	assert_false(contains("0.0.0.0/8", "::"));
	assert_false(net_cidr_contains(NULL, NULL));
}

static void
test_format_roundtrip(void **state)
{
	static const char *const addrs[] = {
		"0.0.0.0", "192.0.2.1", "255.255.255.255", "::", "::1",
		"2001:db8::1", "fe80::1:2:3:4", "2001:db8:0:1::",
		"1:2:3:4:5:6:7:8", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	};
	struct net_addr a, b;
	char buf[NET_CIDR_STRLEN];

	(void)state;
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		assert_int_equal(net_addr_parse(addrs[i], &a), 0);
		assert_int_equal(net_addr_format(&a, buf, sizeof(buf)), 0);
		assert_string_equal(buf, addrs[i]);
		assert_int_equal(net_addr_parse(buf, &b), 0);
		assert_memory_equal(&a, &b, sizeof(a));
	}
	assert_cidr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
		    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");
}

static void
test_format_small_buffer(void **state)
{
	struct net_addr a;
	struct net_cidr c;
	char buf[NET_CIDR_STRLEN];

	(void)state;
	assert_int_equal(net_addr_parse("192.0.2.1", &a), 0);
	assert_int_equal(net_addr_format(&a, buf, 0), -1);
	assert_int_equal(net_addr_format(&a, buf, 9), -1);
	assert_int_equal(net_addr_format(&a, buf, 10), 0);
	assert_string_equal(buf, "192.0.2.1");

	assert_int_equal(net_cidr_parse("192.0.2.0/24", &c), 0);
	assert_int_equal(net_cidr_format(&c, buf, 0), -1);
	assert_int_equal(net_cidr_format(&c, buf, 12), -1);
	assert_string_equal(buf, "");
	assert_int_equal(net_cidr_format(&c, buf, 13), 0);
	assert_string_equal(buf, "192.0.2.0/24");

	a.family = AF_UNIX;
	assert_int_equal(net_addr_format(&a, buf, sizeof(buf)), -1);
	c.prefix = 33;
	assert_int_equal(net_cidr_format(&c, buf, sizeof(buf)), -1);
}

/* IPv4 is formatted by hand (network.c): it must write what inet_ntop()
 * writes, for every octet value in every position and for a spread of
 * whole addresses. */
static void
test_format_ipv4_as_inet_ntop(void **state)
{
	struct net_addr a = { .family = AF_INET };
	char ours[NET_CIDR_STRLEN], theirs[INET_ADDRSTRLEN];
	uint32_t x = 2463534242u;
	int pos, v, i;

	(void)state;
	for (i = 0; i < 4096 + 4 * 256; i++) {
		if (i < 4 * 256) {
			pos = i / 256;
			v = i % 256;
			memset(a.bytes, pos == 0 ? 1 : 0, 4);
			a.bytes[pos] = (unsigned char)v;
		} else {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			memcpy(a.bytes, &x, 4);
		}
		assert_int_equal(net_addr_format(&a, ours, sizeof(ours)), 0);
		assert_non_null(inet_ntop(AF_INET, a.bytes, theirs, sizeof(theirs)));
		assert_string_equal(ours, theirs);
	}
}

static void
test_list(void **state)
{
	struct net_list list = { NULL, 0, 0 };
	struct net_cidr c;
	struct net_addr a;
	char text[NET_CIDR_STRLEN];

	(void)state;
	assert_int_equal(net_addr_parse("10.0.0.1", &a), 0);
	assert_false(net_list_contains(&list, &a));
	assert_false(net_list_contains(NULL, &a));

	/* 200 /24s force several reallocations */
	for (int i = 0; i < 200; i++) {
		snprintf(text, sizeof(text), "10.%d.0.0/24", i);
		assert_int_equal(net_cidr_parse(text, &c), 0);
		assert_int_equal(net_list_add(&list, &c), 0);
	}
	assert_int_equal(net_cidr_parse("2001:db8::/32", &c), 0);
	assert_int_equal(net_list_add(&list, &c), 0);
	assert_int_equal(list.count, 201);
	assert_true(list.cap >= list.count);

	assert_true(net_list_contains(&list, &a));
	assert_int_equal(net_addr_parse("10.199.0.255", &a), 0);
	assert_true(net_list_contains(&list, &a));
	assert_int_equal(net_addr_parse("10.200.0.1", &a), 0);
	assert_false(net_list_contains(&list, &a));
	assert_int_equal(net_addr_parse("10.5.1.1", &a), 0);
	assert_false(net_list_contains(&list, &a));
	assert_int_equal(net_addr_parse("2001:db8::5", &a), 0);
	assert_true(net_list_contains(&list, &a));
	assert_int_equal(net_addr_parse("2001:db9::5", &a), 0);
	assert_false(net_list_contains(&list, &a));

	net_list_free(&list);
	assert_null(list.items);
	assert_int_equal(list.count, 0);
	assert_int_equal(list.cap, 0);
	assert_false(net_list_contains(&list, &a));
	net_list_free(&list);			/* twice is harmless */

	/* reusable after free */
	assert_int_equal(net_list_add(&list, &c), 0);
	assert_false(net_list_contains(&list, &a));
	assert_int_equal(list.count, 1);
	net_list_free(&list);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_ipv4),
		cmocka_unit_test(test_addr_ipv6),
		cmocka_unit_test(test_addr_mapped),
		cmocka_unit_test(test_addr_invalid),
		cmocka_unit_test(test_cidr_valid),
		cmocka_unit_test(test_cidr_host_bits),
		cmocka_unit_test(test_cidr_prefix_bounds),
		cmocka_unit_test(test_cidr_mapped),
		cmocka_unit_test(test_mask),
		cmocka_unit_test(test_contains),
		cmocka_unit_test(test_format_roundtrip),
		cmocka_unit_test(test_format_small_buffer),
		cmocka_unit_test(test_format_ipv4_as_inet_ntop),
		cmocka_unit_test(test_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
