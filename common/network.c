/*
 * network.c - IPv4/IPv6 addresses and CIDR blocks (see network.h).
 *
 * Interface: net_addr_parse(), net_cidr_parse(), net_cidr_contains(),
 * net_addr_mask(), net_addr_format(), net_cidr_format(), net_list_add(),
 * net_list_contains(), net_list_free().
 *
 * Contract: parsers return 0 or -1 and write *out only on success; the
 * text must be exactly an address (inet_pton syntax, no brackets, no
 * scope id, no surrounding space) optionally followed by "/len". Only
 * net_list_add() allocates.
 *
 * Why some choices:
 * - IPv4-mapped IPv6 (::ffff:a.b.c.d) is folded to IPv4 in addresses and
 *   in blocks of prefix >= 96, so a dual-stack listener that reports a v4
 *   client as ::ffff:192.0.2.1 matches "192.0.2.0/24". A mapped block
 *   with a shorter prefix stays IPv6 and, like every IPv6 block, never
 *   matches an IPv4 address.
 * - The prefix is plain decimal: no sign, no space, no leading zero
 *   ("/08" could be read as octal by other tools), at most 3 digits.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "network.h"

static const unsigned char mapped_prefix[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

static unsigned
family_bits(int family)
{
	return family == AF_INET ? 32 : family == AF_INET6 ? 128 : 0;
}

static size_t
family_bytes(int family)
{
	return family_bits(family) / 8;
}

/* Text to address without folding mapped addresses. */
static int
parse_raw(const char *text, struct net_addr *out)
{
	struct net_addr a;

	memset(&a, 0, sizeof(a));
	if (text == NULL || *text == '\0')
		return -1;
	if (inet_pton(AF_INET, text, a.bytes) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, text, a.bytes) == 1)
		a.family = AF_INET6;
	else
		return -1;
	*out = a;
	return 0;
}

static bool
is_v4_mapped(const struct net_addr *addr)
{
	return addr->family == AF_INET6
	    && memcmp(addr->bytes, mapped_prefix, sizeof(mapped_prefix)) == 0;
}

static void
fold_v4_mapped(struct net_addr *addr)
{
	unsigned char v4[4];

	memcpy(v4, addr->bytes + 12, sizeof(v4));
	memset(addr->bytes, 0, sizeof(addr->bytes));
	memcpy(addr->bytes, v4, sizeof(v4));
	addr->family = AF_INET;
}

int
net_addr_parse(const char *text, struct net_addr *out)
{
	struct net_addr a;

	if (parse_raw(text, &a) < 0)
		return -1;
	if (is_v4_mapped(&a))
		fold_v4_mapped(&a);
	*out = a;
	return 0;
}

/* "0".."128": digits only, no leading zero, nothing after. */
static int
parse_prefix(const char *text, unsigned max, unsigned *out)
{
	unsigned value = 0;
	size_t len = strspn(text, "0123456789");

	if (len == 0 || len > 3 || text[len] != '\0')
		return -1;
	if (len > 1 && text[0] == '0')
		return -1;
	for (size_t i = 0; i < len; i++)
		value = value * 10 + (unsigned)(text[i] - '0');
	if (value > max)
		return -1;
	*out = value;
	return 0;
}

int
net_cidr_parse(const char *text, struct net_cidr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash;
	size_t hostlen;
	struct net_cidr c;

	if (text == NULL)
		return -1;
	slash = strchr(text, '/');
	hostlen = slash ? (size_t)(slash - text) : strlen(text);
	if (hostlen == 0 || hostlen >= sizeof(host))
		return -1;
	memcpy(host, text, hostlen);
	host[hostlen] = '\0';

	memset(&c, 0, sizeof(c));
	if (parse_raw(host, &c.addr) < 0)
		return -1;
	c.prefix = family_bits(c.addr.family);
	if (slash && parse_prefix(slash + 1, c.prefix, &c.prefix) < 0)
		return -1;
	net_addr_mask(&c.addr, c.prefix);
	/* still mapped after masking implies prefix >= 96; the test
	 * only guards the subtraction */
	if (is_v4_mapped(&c.addr) && c.prefix >= 96) {
		fold_v4_mapped(&c.addr);
		c.prefix -= 96;
	}
	*out = c;
	return 0;
}

void
net_addr_mask(struct net_addr *addr, unsigned prefix)
{
	size_t nbytes = family_bytes(addr->family);
	size_t full;

	if (nbytes == 0)
		return;
	if (prefix > nbytes * 8)
		prefix = (unsigned)(nbytes * 8);
	full = prefix / 8;
	if (full < nbytes && prefix % 8)
		addr->bytes[full++] &= (unsigned char)(0xff << (8 - prefix % 8));
	if (full < sizeof(addr->bytes))
		memset(addr->bytes + full, 0, sizeof(addr->bytes) - full);
}

bool
net_cidr_contains(const struct net_cidr *block, const struct net_addr *addr)
{
	struct net_addr masked;

	if (block == NULL || addr == NULL || block->addr.family != addr->family
	    || family_bytes(addr->family) == 0)
		return false;
	masked = *addr;
	net_addr_mask(&masked, block->prefix);
	return memcmp(masked.bytes, block->addr.bytes,
		      family_bytes(addr->family)) == 0;
}

/* Decimal digits of v (< 1000) at p; returns the end. */
static char *
put_small(char *p, unsigned v)
{
	if (v >= 100)
		*p++ = (char)('0' + v / 100);
	if (v >= 10)
		*p++ = (char)('0' + v / 10 % 10);
	*p++ = (char)('0' + v % 10);
	return p;
}

/*
 * IPv4 is written here, not by inet_ntop(): glibc's goes through
 * sprintf, 0.3 us of a greylisting decision's 30 (each request formats
 * its client's network for the triplet and the rate-limit subjects).
 * IPv6, with its "::" rules, is left to inet_ntop().
 */
int
net_addr_format(const struct net_addr *addr, char *buf, size_t size)
{
	if (size == 0 || family_bytes(addr->family) == 0)
		return -1;
	if (addr->family == AF_INET) {
		char text[INET_ADDRSTRLEN], *p = text;
		int i;

		for (i = 0; i < 4; i++) {
			if (i > 0)
				*p++ = '.';
			p = put_small(p, addr->bytes[i]);
		}
		if ((size_t)(p - text) >= size) {
			buf[0] = '\0';
			return -1;
		}
		memcpy(buf, text, (size_t)(p - text));
		buf[p - text] = '\0';
		return 0;
	}
	if (size > (size_t)INT32_MAX)
		size = INT32_MAX;
	if (inet_ntop(addr->family, addr->bytes, buf, (socklen_t)size) == NULL) {
		buf[0] = '\0';
		return -1;
	}
	return 0;
}

int
net_cidr_format(const struct net_cidr *block, char *buf, size_t size)
{
	char text[INET6_ADDRSTRLEN + 4], *p;

	if (size == 0)
		return -1;
	buf[0] = '\0';
	if (block->prefix > family_bits(block->addr.family)
	    || net_addr_format(&block->addr, text, INET6_ADDRSTRLEN) < 0)
		return -1;
	p = text + strlen(text);
	*p++ = '/';
	p = put_small(p, block->prefix);	/* at most 128 */
	if ((size_t)(p - text) >= size)
		return -1;
	memcpy(buf, text, (size_t)(p - text));
	buf[p - text] = '\0';
	return 0;
}

int
net_list_add(struct net_list *list, const struct net_cidr *block)
{
	if (list->count == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 8;
		struct net_cidr *items;

		if (cap < list->cap || cap > SIZE_MAX / sizeof(*items))
			return -1;
		items = realloc(list->items, cap * sizeof(*items));
		if (items == NULL)
			return -1;
		list->items = items;
		list->cap = cap;
	}
	list->items[list->count++] = *block;
	return 0;
}

bool
net_list_contains(const struct net_list *list, const struct net_addr *addr)
{
	if (list == NULL)
		return false;
	for (size_t i = 0; i < list->count; i++)
		if (net_cidr_contains(&list->items[i], addr))
			return true;
	return false;
}

void
net_list_free(struct net_list *list)
{
	free(list->items);
	list->items = NULL;
	list->count = 0;
	list->cap = 0;
}
