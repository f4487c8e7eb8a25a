/*
 * fuzz_network.c - IP addresses and CIDR blocks (common/network.c) and
 * the range set built from them (common/ipset.c), as the CIDR lists and
 * trusted_networks give them: one item a line, the last line is the
 * address looked up.
 * Properties: a parsed block formats and parses back to itself; host
 * bits beyond the prefix are clear; ipset_contains() answers exactly as
 * a linear net_list_contains() over the same blocks (ipset.h's contract),
 * before and after adding more.
 */
#include "fuzz.h"
#include "ipset.h"
#include "network.h"

#define ITEMS_MAX 64

static void
roundtrip(const struct net_cidr *c)
{
	char text[NET_CIDR_STRLEN];
	struct net_cidr back;
	struct net_addr masked = c->addr;

	FUZZ_ASSERT(c->prefix <= (c->addr.family == AF_INET ? 32u : 128u));
	net_addr_mask(&masked, c->prefix);
	FUZZ_ASSERT(memcmp(masked.bytes, c->addr.bytes, sizeof(masked.bytes)) == 0);
	FUZZ_ASSERT(net_cidr_format(c, text, sizeof(text)) == 0);
	FUZZ_ASSERT(net_cidr_parse(text, &back) == 0);
	FUZZ_ASSERT(back.prefix == c->prefix && back.addr.family == c->addr.family);
	FUZZ_ASSERT(memcmp(back.addr.bytes, c->addr.bytes, sizeof(back.addr.bytes)) == 0);
	FUZZ_ASSERT(net_cidr_contains(c, &c->addr));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line[ITEMS_MAX + 1];
	struct net_list list = { NULL, 0, 0 };
	struct ipset set;
	struct net_addr probe, probe2;
	char text[NET_CIDR_STRLEN], tiny[4];
	size_t n, i;
	int have_probe;

	if (size > 8192)
		return 0;
	memset(&set, 0, sizeof(set));
	n = fuzz_lines(data, size, line, ITEMS_MAX + 1);
	have_probe = n > 0 && net_addr_parse(line[n - 1], &probe) == 0;
	if (have_probe) {
		FUZZ_ASSERT(net_addr_format(&probe, text, sizeof(text)) == 0);
		FUZZ_ASSERT(net_addr_parse(text, &probe2) == 0);
		FUZZ_ASSERT(probe2.family == probe.family
			    && memcmp(probe2.bytes, probe.bytes, probe.family == AF_INET ? 4 : 16) == 0);
		(void)net_addr_format(&probe, tiny, sizeof(tiny));
	}
	for (i = 0; i + 1 < n || (n == 1 && i == 0); i++) {
		struct net_cidr c;

		if (net_cidr_parse(line[i], &c) < 0)
			continue;
		roundtrip(&c);
		(void)net_cidr_format(&c, tiny, sizeof(tiny));
		FUZZ_ASSERT(net_list_add(&list, &c) == 0);
		FUZZ_ASSERT(ipset_add(&set, &c) == 0);
		if (i == n / 2 && have_probe) {	/* a lookup mid-way, then more adds */
			ipset_finish(&set);
			FUZZ_ASSERT(ipset_contains(&set, &probe) == net_list_contains(&list, &probe));
		}
	}
	ipset_finish(&set);
	FUZZ_ASSERT(ipset_ranges(&set) <= list.count);
	if (have_probe)
		FUZZ_ASSERT(ipset_contains(&set, &probe) == net_list_contains(&list, &probe));
	for (i = 0; i < list.count; i++) {	/* every block's first address */
		FUZZ_ASSERT(ipset_contains(&set, &list.items[i].addr));
	}
	ipset_free(&set);
	net_list_free(&list);
	fuzz_lines_free(line, n);
	return 0;
}
