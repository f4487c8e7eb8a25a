/*
 * test_ipset.c - the range set against the simple linear matcher.
 *
 * Every random round builds a set of blocks (IPv4 and IPv6, nested,
 * overlapping, adjacent siblings that merge, /0, host routes, blocks in
 * and around the IPv4-mapped range, a few with host bits set) and asks
 * ipset_contains() and net_cidr_contains() over the whole list the same
 * question for addresses picked at, inside, and just outside the edges
 * of the blocks, and at random: over 100,000 probes in all. The PRNG is
 * seeded with a constant, so a failure is reproducible.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ipset.h"
#include "network.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static unsigned
rng_below(unsigned n)
{
	return (unsigned)(rng() % n);
}

static void
random_bytes(unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)rng();
}

static bool
linear(const struct net_cidr *blocks, size_t n, const struct net_addr *a)
{
	for (size_t i = 0; i < n; i++)
		if (net_cidr_contains(&blocks[i], a))
			return true;
	return false;
}

static unsigned
bits(int family)
{
	return family == AF_INET ? 32 : 128;
}

/* The first prefix bits of net, the rest from r. */
static void
keep_prefix(unsigned char net[16], unsigned prefix, const unsigned char r[16])
{
	for (unsigned i = 0; i < 16; i++) {
		unsigned char m = 0;

		for (unsigned bit = 0; bit < 8; bit++)
			if (i * 8 + bit < prefix)
				m |= (unsigned char)(0x80 >> bit);
		net[i] = (unsigned char)((net[i] & m) | (r[i] & ~m));
	}
}

/* A prefix biased to the interesting ones: /0, host routes, short, long. */
static unsigned
random_prefix(int family)
{
	unsigned max = bits(family);

	if (rng_below(64) == 0)
		return 0;
	switch (rng_below(8)) {
	case 0: return max;
	case 1: return max - rng_below(3);
	case 2: return rng_below(max + 1);
	default: return max / 2 + rng_below(max / 2 + 1);
	}
}

static void
random_block(struct net_cidr *c, const struct net_cidr *prev, size_t nprev)
{
	unsigned kind = rng_below(10);

	memset(c, 0, sizeof(*c));
	if (nprev > 0 && kind < 4) {
		/* derived from an earlier block: nested, sibling, or parent */
		*c = prev[rng_below((unsigned)nprev)];
		unsigned max = bits(c->addr.family);

		if (kind < 2 && c->prefix < max) {
			/* a random sub-block inside */
			unsigned old = c->prefix;
			unsigned char r[16];

			random_bytes(r, sizeof(r));
			keep_prefix(c->addr.bytes, old, r);
			c->prefix += 1 + rng_below(max - old);
		} else if (kind == 2 && c->prefix > 0) {
			/* the adjacent sibling: flip the last prefix bit */
			unsigned bit = c->prefix - 1;
			c->addr.bytes[bit / 8] ^= (unsigned char)(0x80 >> (bit % 8));
		} else if (c->prefix > 0) {
			c->prefix -= 1 + rng_below(c->prefix);
		}
		net_addr_mask(&c->addr, c->prefix);
		return;
	}
	if (kind < 8) {
		c->addr.family = rng_below(2) ? AF_INET : AF_INET6;
		random_bytes(c->addr.bytes, c->addr.family == AF_INET ? 4 : 16);
		if (c->addr.family == AF_INET6 && rng_below(3) == 0)
			/* near and in the mapped range: ::ffff:0:0/96 */
			memset(c->addr.bytes, 0, 10), c->addr.bytes[10] = 0xff,
			c->addr.bytes[11] = (unsigned char)(rng_below(2) ? 0xff : 0xfe);
		c->prefix = random_prefix(c->addr.family);
		net_addr_mask(&c->addr, c->prefix);
		return;
	}
	if (kind == 8) {
		/* host bits set (net_cidr_parse never makes it): matches nothing */
		c->addr.family = rng_below(2) ? AF_INET : AF_INET6;
		random_bytes(c->addr.bytes, c->addr.family == AF_INET ? 4 : 16);
		c->prefix = rng_below(bits(c->addr.family));
		return;
	}
	/* the very top of the space, to test the merge's overflow guard */
	c->addr.family = rng_below(2) ? AF_INET : AF_INET6;
	memset(c->addr.bytes, 0xff, c->addr.family == AF_INET ? 4 : 16);
	c->prefix = bits(c->addr.family) - rng_below(9);
	net_addr_mask(&c->addr, c->prefix);
}

/* Adds or subtracts one to the address as a big-endian number. */
static void
step(struct net_addr *a, int delta)
{
	int n = a->family == AF_INET ? 4 : 16;

	for (int i = n - 1; i >= 0; i--) {
		unsigned v = a->bytes[i];

		a->bytes[i] = (unsigned char)(v + (unsigned)delta);
		if ((delta > 0 && v != 0xff) || (delta < 0 && v != 0))
			break;
	}
}

static void
random_probe(struct net_addr *a, const struct net_cidr *blocks, size_t n)
{
	unsigned kind = rng_below(8);

	memset(a, 0, sizeof(*a));
	if (n > 0 && kind < 5) {
		const struct net_cidr *c = &blocks[rng_below((unsigned)n)];
		unsigned max = bits(c->addr.family);

		*a = c->addr;
		if (kind >= 1) {
			/* somewhere inside, or at the last address */
			unsigned char r[16];

			if (kind == 1)
				memset(r, 0xff, sizeof(r));
			else
				random_bytes(r, sizeof(r));
			keep_prefix(a->bytes, c->prefix < max ? c->prefix : max, r);
		}
		if (kind == 3)
			step(a, 1);	/* one past the last */
		if (kind == 4)
			step(a, -1);	/* one before the first */
		if (a->family == AF_INET)
			memset(a->bytes + 4, 0, 12);
		return;
	}
	if (kind == 5) {
		/* a raw mapped IPv6 address: only IPv6 blocks may match it */
		a->family = AF_INET6;
		a->bytes[10] = a->bytes[11] = 0xff;
		random_bytes(a->bytes + 12, 4);
		return;
	}
	if (kind == 6 && rng_below(20) == 0) {
		a->family = AF_UNIX;	/* no family: never matches */
		return;
	}
	a->family = rng_below(2) ? AF_INET : AF_INET6;
	random_bytes(a->bytes, a->family == AF_INET ? 4 : 16);
}

static void
test_random_against_linear(void **state)
{
	static const size_t sizes[] = { 0, 1, 2, 3, 5, 8, 20, 50, 100, 300 };
	size_t probes = 0, hits = 0, rounds = 0;

	(void)state;
	for (int round = 0; round < 60; round++) {
		size_t n = sizes[round % (sizeof(sizes) / sizeof(sizes[0]))];
		struct net_cidr *blocks = calloc(n ? n : 1, sizeof(*blocks));
		struct ipset set;

		assert_non_null(blocks);
		memset(&set, 0, sizeof(set));
		for (size_t i = 0; i < n; i++) {
			random_block(&blocks[i], blocks, i);
			assert_int_equal(ipset_add(&set, &blocks[i]), 0);
		}
		ipset_finish(&set);
		assert_true(ipset_ranges(&set) <= n);
		for (int p = 0; p < 2000; p++) {
			struct net_addr a;
			bool want, got;

			random_probe(&a, blocks, n);
			want = linear(blocks, n, &a);
			got = ipset_contains(&set, &a);
			if (want != got) {
				char buf[NET_CIDR_STRLEN] = "?";

				net_addr_format(&a, buf, sizeof(buf));
				fail_msg("round %d: %s: linear %d, ipset %d", round, buf, want, got);
			}
			probes++;
			hits += want;
		}
		ipset_free(&set);
		free(blocks);
		rounds++;
	}
	print_message("ipset: %zu probes in %zu rounds, %zu matched\n", probes, rounds, hits);
	assert_true(probes >= 100000);
	/* both answers must be common, or the probes test little */
	assert_true(hits > probes / 10 && hits < probes - probes / 10);
}

static bool
has(const struct ipset *set, const char *text)
{
	struct net_addr a;

	assert_int_equal(net_addr_parse(text, &a), 0);
	return ipset_contains(set, &a);
}

static void
add(struct ipset *set, const char *text)
{
	struct net_cidr c;

	assert_int_equal(net_cidr_parse(text, &c), 0);
	assert_int_equal(ipset_add(set, &c), 0);
}

static void
test_merge_and_edges(void **state)
{
	struct ipset set;
	struct net_addr raw;

	(void)state;
	memset(&set, 0, sizeof(set));
	assert_false(has(&set, "10.0.0.1"));	/* empty, even unfinished */
	add(&set, "10.0.0.128/25");
	add(&set, "10.0.0.0/25");		/* adjacent: one range */
	add(&set, "10.0.0.64/26");		/* nested */
	add(&set, "10.0.1.0/24");		/* adjacent again */
	add(&set, "192.0.2.7");			/* host route */
	add(&set, "255.255.255.255/32");	/* top of the space */
	add(&set, "255.255.255.254/32");
	add(&set, "2001:db8::/32");
	add(&set, "2001:db9::/32");		/* adjacent IPv6 */
	add(&set, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");
	add(&set, "::ffff:172.16.0.0/108");	/* mapped: folded to 172.16.0.0/12 */
	ipset_finish(&set);
	assert_int_equal(ipset_ranges(&set), 6);
	assert_true(has(&set, "10.0.0.0"));
	assert_true(has(&set, "10.0.1.255"));
	assert_false(has(&set, "10.0.2.0"));
	assert_false(has(&set, "9.255.255.255"));
	assert_true(has(&set, "192.0.2.7"));
	assert_false(has(&set, "192.0.2.6"));
	assert_false(has(&set, "192.0.2.8"));
	assert_true(has(&set, "255.255.255.255"));
	assert_false(has(&set, "255.255.255.253"));
	assert_true(has(&set, "2001:db9:ffff:ffff:ffff:ffff:ffff:ffff"));
	assert_false(has(&set, "2001:dba::"));
	assert_true(has(&set, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	assert_true(has(&set, "172.31.255.255"));
	assert_true(has(&set, "::ffff:172.20.1.1"));	/* folded by the parser */
	assert_true(has(&set, "::ffff:10.0.0.1"));
	assert_false(has(&set, "::ffff:172.32.0.0"));
	/* an unfolded mapped address is IPv6: IPv4 blocks do not match it */
	memset(&raw, 0, sizeof(raw));
	raw.family = AF_INET6;
	raw.bytes[10] = raw.bytes[11] = 0xff;
	raw.bytes[12] = 10;
	raw.bytes[15] = 1;
	assert_false(ipset_contains(&set, &raw));
	ipset_free(&set);
	assert_int_equal(ipset_ranges(&set), 0);
	assert_int_equal(ipset_bytes(&set), 0);

	/* ::/0 and a short mapped block stay IPv6, as net_cidr_contains() says */
	add(&set, "::/0");
	add(&set, "::ffff:0:0/95");
	ipset_finish(&set);
	assert_true(has(&set, "2001:db8::1"));
	assert_false(has(&set, "10.0.0.1"));
	assert_false(has(&set, "::ffff:10.0.0.1"));
	assert_true(ipset_contains(&set, &raw));
	/* adding after finish, then finishing again */
	add(&set, "0.0.0.0/0");
	ipset_finish(&set);
	assert_int_equal(ipset_ranges(&set), 2);
	assert_true(has(&set, "10.0.0.1"));
	assert_true(has(&set, "0.0.0.0"));
	assert_true(has(&set, "255.255.255.255"));
	assert_false(ipset_contains(&set, NULL));
	ipset_free(&set);
}

/* 100,000 blocks of each family: memory and (printed, not judged) speed. */
static void
test_large(void **state)
{
	enum { N = 100000, PROBES = 1000000 };
	struct ipset set4, set6;
	struct net_addr a;
	struct timespec t0, t1;
	size_t i, found = 0;

	(void)state;
	memset(&set4, 0, sizeof(set4));
	memset(&set6, 0, sizeof(set6));
	for (i = 0; i < N; i++) {
		struct net_cidr c;

		memset(&c, 0, sizeof(c));
		c.addr.family = AF_INET;
		random_bytes(c.addr.bytes, 4);
		c.prefix = 16 + rng_below(17);
		net_addr_mask(&c.addr, c.prefix);
		assert_int_equal(ipset_add(&set4, &c), 0);
		c.addr.family = AF_INET6;
		random_bytes(c.addr.bytes, 16);
		c.prefix = 32 + rng_below(97);
		net_addr_mask(&c.addr, c.prefix);
		assert_int_equal(ipset_add(&set6, &c), 0);
	}
	ipset_finish(&set4);
	ipset_finish(&set6);
	print_message("ipset: %d IPv4 blocks -> %zu ranges, %zu bytes; "
		      "%d IPv6 blocks -> %zu ranges, %zu bytes\n",
		      N, ipset_ranges(&set4), ipset_bytes(&set4),
		      N, ipset_ranges(&set6), ipset_bytes(&set6));
	assert_true(ipset_bytes(&set4) <= (size_t)N * 8);
	assert_true(ipset_bytes(&set6) <= (size_t)N * 32);
	assert_true(ipset_bytes(&set4) + ipset_bytes(&set6) < 5u << 20);

	memset(&a, 0, sizeof(a));
	a.family = AF_INET;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < PROBES; i++) {
		uint32_t v = (uint32_t)rng();
		memcpy(a.bytes, &v, 4);
		found += ipset_contains(&set4, &a);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_message("ipset: %d IPv4 lookups, %zu found, %.0f ns each\n", PROBES, found,
		      ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec))
		      / PROBES);
	ipset_free(&set4);
	ipset_free(&set6);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_against_linear),
		cmocka_unit_test(test_merge_and_edges),
		cmocka_unit_test(test_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
