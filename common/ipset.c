/*
 * ipset.c - IPv4/IPv6 block sets as sorted disjoint ranges (see ipset.h).
 *
 * Interface: ipset_add(), ipset_finish(), ipset_contains(),
 * ipset_ranges(), ipset_bytes(), ipset_free().
 *
 * Contract: as ipset.h. Only ipset_add() allocates (the arrays grow by
 * half, not double, so that a 1,000,000-block load does not briefly hold
 * twice its size); ipset_finish() sorts and merges in place.
 *
 * Each block becomes the range [network, network | hostmask]. After the
 * sort by first address, a range that starts at most one past the end of
 * the previous merged range is folded into it, so overlapping, nested and
 * adjacent blocks (10.0.0.0/25 + 10.0.0.128/25) become one range, and the
 * lookup is a binary search for the last range starting at or below the
 * address. IPv6 values are kept as two uint64 halves rather than
 * unsigned __int128: the same speed, and no 16-byte alignment padding.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ipset.h"

/* Host bits of a 64-bit half that holds n bits of the prefix (0..64). */
static uint64_t
host_mask64(unsigned n)
{
	return n >= 64 ? 0 : UINT64_MAX >> n;
}

static uint64_t
load64(const unsigned char *b)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static uint32_t
load32(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Grows an array by half (at least 16 slots); 0 or -1 with ENOMEM. */
static int
grow(void **items, size_t *cap, size_t count, size_t size)
{
	size_t ncap;
	void *p;

	if (count < *cap)
		return 0;
	ncap = *cap < 16 ? 16 : *cap + *cap / 2;
	if (ncap <= *cap || ncap > SIZE_MAX / size
	    || (p = realloc(*items, ncap * size)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	*items = p;
	*cap = ncap;
	return 0;
}

int
ipset_add(struct ipset *set, const struct net_cidr *block)
{
	const unsigned char *b = block->addr.bytes;
	unsigned prefix = block->prefix;

	if (block->addr.family == AF_INET) {
		uint32_t first = load32(b);
		uint32_t host = prefix >= 32 ? 0 : UINT32_MAX >> prefix;

		/* host bits set: net_cidr_contains() matches nothing */
		if (first & host)
			return 0;
		if (grow((void **)&set->v4, &set->v4_cap, set->v4_count, sizeof(*set->v4)) < 0)
			return -1;
		set->v4[set->v4_count++] = (struct ipset_range4){ first, first | host };
		return 0;
	}
	if (block->addr.family == AF_INET6) {
		uint64_t hi = load64(b), lo = load64(b + 8);
		uint64_t host_hi = host_mask64(prefix);
		uint64_t host_lo = host_mask64(prefix > 64 ? prefix - 64 : 0);

		if ((hi & host_hi) || (lo & host_lo))
			return 0;
		if (grow((void **)&set->v6, &set->v6_cap, set->v6_count, sizeof(*set->v6)) < 0)
			return -1;
		set->v6[set->v6_count++] = (struct ipset_range6){
			hi, lo, hi | host_hi, lo | host_lo
		};
		return 0;
	}
	return 0;	/* no family: matches nothing there either */
}

static int
compare4(const void *a, const void *b)
{
	uint32_t x = ((const struct ipset_range4 *)a)->first;
	uint32_t y = ((const struct ipset_range4 *)b)->first;

	return (x > y) - (x < y);
}

/* -1, 0, 1 as (ahi,alo) <, ==, > (bhi,blo). */
static int
cmp128(uint64_t ahi, uint64_t alo, uint64_t bhi, uint64_t blo)
{
	if (ahi != bhi)
		return ahi < bhi ? -1 : 1;
	return (alo > blo) - (alo < blo);
}

static int
compare6(const void *a, const void *b)
{
	const struct ipset_range6 *x = a, *y = b;

	return cmp128(x->first_hi, x->first_lo, y->first_hi, y->first_lo);
}

/* Gives back the unused tail; keeps the old array if realloc says no. */
static void
shrink(void **items, size_t *cap, size_t count, size_t size)
{
	void *p;

	if (count == *cap)
		return;
	if (count == 0) {
		free(*items);
		*items = NULL;
		*cap = 0;
		return;
	}
	if ((p = realloc(*items, count * size)) != NULL) {
		*items = p;
		*cap = count;
	}
}

static size_t
merge4(struct ipset_range4 *r, size_t n)
{
	size_t out = 0;

	for (size_t i = 1; i < n; i++) {
		/* r[out].last == max: everything after starts inside it */
		if (r[out].last == UINT32_MAX || r[i].first <= r[out].last + 1) {
			if (r[i].last > r[out].last)
				r[out].last = r[i].last;
		} else
			r[++out] = r[i];
	}
	return n ? out + 1 : 0;
}

static size_t
merge6(struct ipset_range6 *r, size_t n)
{
	size_t out = 0;

	for (size_t i = 1; i < n; i++) {
		struct ipset_range6 *m = &r[out];
		/* one past m's end, unless m reaches the top of the space */
		uint64_t next_lo = m->last_lo + 1;
		uint64_t next_hi = m->last_hi + (next_lo == 0);
		bool top = m->last_hi == UINT64_MAX && m->last_lo == UINT64_MAX;

		if (top || cmp128(r[i].first_hi, r[i].first_lo, next_hi, next_lo) <= 0) {
			if (cmp128(r[i].last_hi, r[i].last_lo, m->last_hi, m->last_lo) > 0) {
				m->last_hi = r[i].last_hi;
				m->last_lo = r[i].last_lo;
			}
		} else
			r[++out] = r[i];
	}
	return n ? out + 1 : 0;
}

void
ipset_finish(struct ipset *set)
{
	if (set->v4_count > 1)
		qsort(set->v4, set->v4_count, sizeof(*set->v4), compare4);
	set->v4_count = merge4(set->v4, set->v4_count);
	shrink((void **)&set->v4, &set->v4_cap, set->v4_count, sizeof(*set->v4));
	if (set->v6_count > 1)
		qsort(set->v6, set->v6_count, sizeof(*set->v6), compare6);
	set->v6_count = merge6(set->v6, set->v6_count);
	shrink((void **)&set->v6, &set->v6_cap, set->v6_count, sizeof(*set->v6));
}

bool
ipset_contains(const struct ipset *set, const struct net_addr *addr)
{
	size_t lo = 0, hi;

	if (set == NULL || addr == NULL)
		return false;
	if (addr->family == AF_INET) {
		uint32_t a = load32(addr->bytes);

		/* the first range starting above a is at lo when done */
		hi = set->v4_count;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (set->v4[mid].first <= a)
				lo = mid + 1;
			else
				hi = mid;
		}
		return lo > 0 && a <= set->v4[lo - 1].last;
	}
	if (addr->family == AF_INET6) {
		uint64_t ahi = load64(addr->bytes), alo = load64(addr->bytes + 8);

		hi = set->v6_count;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			const struct ipset_range6 *r = &set->v6[mid];

			if (cmp128(r->first_hi, r->first_lo, ahi, alo) <= 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		return lo > 0 && cmp128(ahi, alo, set->v6[lo - 1].last_hi,
					set->v6[lo - 1].last_lo) <= 0;
	}
	return false;
}

size_t
ipset_ranges(const struct ipset *set)
{
	return set->v4_count + set->v6_count;
}

size_t
ipset_bytes(const struct ipset *set)
{
	return set->v4_cap * sizeof(*set->v4) + set->v6_cap * sizeof(*set->v6);
}

void
ipset_free(struct ipset *set)
{
	free(set->v4);
	free(set->v6);
	memset(set, 0, sizeof(*set));
}
