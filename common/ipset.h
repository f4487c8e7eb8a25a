/*
 * ipset.h - a set of IPv4/IPv6 blocks with a lookup whose cost does not
 * grow with the number of blocks (the CIDR lists: 100,000 country and
 * hoster ranges are usual).
 *
 * Interface:
 *   ipset_add()      adds one block (struct net_cidr, as net_cidr_parse()
 *                    makes it); any number, any order, overlaps welcome.
 *   ipset_finish()   sorts the blocks and merges them into disjoint
 *                    ranges; call it after the last add, before lookups.
 *   ipset_contains() whether some block added contains the address.
 *   ipset_ranges()   the number of disjoint ranges left after merging.
 *   ipset_bytes()    the heap bytes the set holds (its arrays).
 *   ipset_free()     frees the arrays; the set is empty again.
 *
 * Contract: a zeroed struct ipset is an empty set. ipset_add() fails
 * only for want of memory (-1, errno ENOMEM) and then leaves the set as
 * it was; ipset_finish() cannot fail (it merges in place, then gives
 * back the unused tail of the arrays if realloc lets it). ipset_contains() answers exactly as net_cidr_contains() over
 * every block added would (family-separated: an IPv4 block matches only
 * AF_INET addresses, an IPv6 block only AF_INET6 ones, and
 * net_addr_parse() already folds ::ffff:a.b.c.d to IPv4, so an IPv4
 * block matches the mapped form of its addresses; a block with host bits
 * set or of another family matches nothing, as there). Adding after
 * finish is allowed; lookups are right again after the next finish. A
 * finished set is read-only: lookups are safe from any number of
 * threads. A lookup costs O(log ranges), at most 32 or 128 steps' worth
 * of comparisons (ranges <= 2^32).
 *
 * Why sorted disjoint ranges and not a trie: after merging, a range costs
 * 8 bytes (IPv4) or 32 bytes (IPv6), all in one array, one malloc; a
 * binary or patricia trie costs a node (two pointers and a key, 24 to 40
 * bytes, one malloc each unless pooled) per block plus its inner nodes,
 * and chases pointers across the heap on every lookup. 100,000 IPv4
 * blocks cost at most 800 KB, 100,000 IPv6 blocks at most 3.2 MB (less
 * when they overlap or touch). IPv4 and IPv6 are two arrays, not one
 * 128-bit space, because net_cidr_contains() never lets an IPv6 block
 * such as ::/0 or ::ffff:0:0/95 match an IPv4 address, and the IPv4
 * array costs a quarter of the memory.
 */
#ifndef SLUICE_IPSET_H
#define SLUICE_IPSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "network.h"

struct ipset_range4 {
	uint32_t first, last;		/* inclusive, host byte order */
};

struct ipset_range6 {
	uint64_t first_hi, first_lo;	/* inclusive, 128-bit as two halves */
	uint64_t last_hi, last_lo;
};

struct ipset {
	struct ipset_range4 *v4;
	size_t v4_count, v4_cap;
	struct ipset_range6 *v6;
	size_t v6_count, v6_cap;
};

int ipset_add(struct ipset *set, const struct net_cidr *block);
void ipset_finish(struct ipset *set);
bool ipset_contains(const struct ipset *set, const struct net_addr *addr);
size_t ipset_ranges(const struct ipset *set);
size_t ipset_bytes(const struct ipset *set);
void ipset_free(struct ipset *set);

#endif
