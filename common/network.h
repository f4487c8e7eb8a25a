/*
 * network.h - IPv4/IPv6 addresses and CIDR blocks.
 *
 * Interface:
 *   net_addr_parse()   text -> address; IPv4-mapped IPv6 (::ffff:a.b.c.d)
 *                      becomes plain IPv4, so one client has one identity.
 *   net_cidr_parse()   "addr/len" or a bare address (host prefix); host
 *                      bits beyond the prefix are cleared, as Postfix's
 *                      cidr tables do, so "192.0.2.7/24" means 192.0.2.0/24.
 *   net_cidr_contains() match an address against a block.
 *   net_addr_mask()    clear all bits past a prefix length (greylisting
 *                      keys a client by its /24 or /64, for example).
 *   net_*_format()     canonical text (inet_ntop form, "/len" for blocks).
 *   net_list_*()       an array of blocks and a linear "any match" test.
 *
 * Contract: parse functions return 0 on success and -1 on any malformed
 * input (never partial results); nothing here allocates except
 * net_list_add(), and nothing here keeps state.
 */
#ifndef SLUICE_NETWORK_H
#define SLUICE_NETWORK_H

#include <stddef.h>
#include <stdbool.h>
#include <sys/socket.h>

struct net_addr {
	int family;			/* AF_INET or AF_INET6 */
	unsigned char bytes[16];	/* AF_INET uses the first 4 */
};

struct net_cidr {
	struct net_addr addr;		/* host bits already cleared */
	unsigned prefix;		/* 0..32 or 0..128 */
};

struct net_list {
	struct net_cidr *items;
	size_t count;
	size_t cap;
};

/* Longest text of an address or block, with NUL. */
#define NET_CIDR_STRLEN 64

int net_addr_parse(const char *text, struct net_addr *out);
int net_cidr_parse(const char *text, struct net_cidr *out);
bool net_cidr_contains(const struct net_cidr *block, const struct net_addr *addr);
void net_addr_mask(struct net_addr *addr, unsigned prefix);
int net_addr_format(const struct net_addr *addr, char *buf, size_t size);
int net_cidr_format(const struct net_cidr *block, char *buf, size_t size);

/* Returns 0, or -1 when memory runs out. */
int net_list_add(struct net_list *list, const struct net_cidr *block);
bool net_list_contains(const struct net_list *list, const struct net_addr *addr);
void net_list_free(struct net_list *list);

#endif
