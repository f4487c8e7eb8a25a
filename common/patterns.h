/*
 * patterns.h - lists of addresses, domains, /regex/ and IP blocks, as
 * admins write them in sluice.conf and in the Redis lists.
 *
 * Interface:
 *   pattern_list_add()     classifies one item: "/re/" is a regex (PCRE2,
 *                          caseless, anchored at both ends, so it must
 *                          match the whole address: "/a|b/" is "^(?:a|b)$");
 *                          an IP or CIDR block is a network; "a@b" is an
 *                          address; anything else a domain. Items are
 *                          stored lowercase.
 *   pattern_list_add_reuse() the same, but a regex that the sealed list
 *                          old already holds (same text) is copied from
 *                          old instead of compiled again; old is not
 *                          changed (other threads may be matching on it).
 *   pattern_check()        refuses what add() would refuse for this one
 *                          item (length, regex syntax and compiled size);
 *                          the config check (-t) uses it, so sluice.conf
 *                          and the Redis lists accept the same regexes.
 *   pattern_list_seal()    sorts the items for binary search and merges the
 *                          networks into a range set (ipset.h); call it
 *                          once after the last add, before matching.
 *   pattern_match_address() the address itself, its domain, or a regex.
 *   pattern_match_domain()  the domain, or with parents=true also any
 *                          parent ("mail.example.com" matches "example.com").
 *   pattern_match_ip()      any network contains the address: a binary
 *                          search, O(log n), however long the list.
 *   pattern_regex_tail()   the literal every match of a regex ends with
 *                          (pattern_regex.c says what counts): the lookup's
 *                          cheap first test.
 *   pattern_list_bytes()   the heap bytes the list holds (its arrays, the
 *                          text, the compiled regexes; not malloc's own
 *                          overhead), for the logs and the memory budget.
 *
 * Contract: an item is at most PATTERN_ITEM_MAX bytes, a /regex/ with its
 * slashes; a regex whose compiled form exceeds PATTERN_REGEX_SIZE_MAX
 * bytes, and regexes beyond PATTERN_REGEX_COUNT_MAX in one list, are
 * refused with a reason, so no list member costs unbounded time or memory
 * to compile. A match that hits PCRE2's match, depth or heap limit counts
 * as no match and is logged (at most once a minute): a lookup costs at
 * most PATTERN_REGEX_COUNT_MAX * PATTERN_MATCH_LIMIT steps, never a hang.
 * Matching on a sealed list is safe from several threads; each thread
 * allocates its PCRE2 match data once, on its first regex match.
 */
#ifndef SLUICE_PATTERNS_H
#define SLUICE_PATTERNS_H

#include <stdbool.h>
#include <stddef.h>

#include "address.h"
#include "ipset.h"
#include "network.h"

#define PATTERN_ITEM_MAX ADDRESS_MAX	/* 256 bytes, "/re/" slashes included */
#define PATTERN_REGEX_COUNT_MAX 1000	/* regexes in one list */
#define PATTERN_REGEX_SIZE_MAX 16384	/* bytes of one compiled regex */
#define PATTERN_MATCH_LIMIT 10000	/* PCRE2 match limit (backtracking steps) */
#define PATTERN_DEPTH_LIMIT 1000	/* PCRE2 depth limit (nested backtracking) */
#define PATTERN_HEAP_LIMIT 256		/* PCRE2 heap limit in KiB, per match */

/* pcre2_code_8, declared here so that users need not include pcre2.h. */
struct pcre2_real_code_8;

struct pattern_regex {
	char *source;			/* the item as written, "/re/" */
	const char *tail;		/* what every match ends with (lowercase,
					 * in source's allocation), "" if unknown */
	size_t tail_len;
	struct pcre2_real_code_8 *code;
};

/* A block of the arena that holds the exact items' text (patterns.c). */
struct pattern_chunk;

struct pattern_list {
	char **exact;		/* lowercase addresses and domains, sorted */
	size_t exact_count, exact_cap;
	struct pattern_chunk *chunks;	/* where exact[i] point */
	struct pattern_regex *regex;	/* sorted by source once sealed */
	size_t regex_count, regex_cap;
	struct ipset nets;	/* merged ranges once sealed */
	size_t net_count;	/* blocks added, for pattern_list_size() */
};

/* why: a reason valid until the next call in the same thread. */
int pattern_list_add(struct pattern_list *list, const char *item, const char **why);
int pattern_list_add_reuse(struct pattern_list *list, const char *item,
			   struct pattern_list *old, const char **why);
const char *pattern_check(const char *item);
size_t pattern_regex_tail(const char *re, size_t len, char *tail, size_t size);
void pattern_list_seal(struct pattern_list *list);
void pattern_list_free(struct pattern_list *list);
size_t pattern_list_size(const struct pattern_list *list);
size_t pattern_list_bytes(const struct pattern_list *list);

bool pattern_match_address(const struct pattern_list *list, const char *address);
bool pattern_match_domain(const struct pattern_list *list, const char *domain, bool parents);
bool pattern_match_ip(const struct pattern_list *list, const struct net_addr *addr);

#endif
