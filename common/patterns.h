/*
 * patterns.h - lists of addresses, domains, /regex/ and IP blocks, as
 * admins write them in sluice.conf and in the Redis lists.
 *
 * Interface:
 *   pattern_list_add()     classifies one item: "/re/" is a POSIX
 *                          extended, case-insensitive regex matched against
 *                          the whole address; an IP or CIDR block is a
 *                          network; "a@b" is an address; anything else a
 *                          domain. Items are stored lowercase.
 *   pattern_list_seal()    sorts the exact items for binary search; call it
 *                          once after the last add, before matching.
 *   pattern_match_address() the address itself, its domain, or a regex.
 *   pattern_match_domain()  the domain, or with parents=true also any
 *                          parent ("mail.example.com" matches "example.com").
 *   pattern_match_ip()      any network contains the address.
 *
 * Contract: matching allocates nothing and is safe from several threads
 * on a sealed list (regexec on a compiled regex_t is). Items longer than
 * ADDRESS_MAX, and regexes that do not compile, are refused by add().
 */
#ifndef SLUICE_PATTERNS_H
#define SLUICE_PATTERNS_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "network.h"

struct pattern_list {
	char **exact;		/* lowercase addresses and domains, sorted */
	size_t exact_count, exact_cap;
	regex_t *regex;
	size_t regex_count, regex_cap;
	struct net_list nets;
};

int pattern_list_add(struct pattern_list *list, const char *item, const char **why);
void pattern_list_seal(struct pattern_list *list);
void pattern_list_free(struct pattern_list *list);
size_t pattern_list_size(const struct pattern_list *list);

bool pattern_match_address(const struct pattern_list *list, const char *address);
bool pattern_match_domain(const struct pattern_list *list, const char *domain, bool parents);
bool pattern_match_ip(const struct pattern_list *list, const struct net_addr *addr);

#endif
