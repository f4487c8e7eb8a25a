/*
 * patterns.c - match addresses, domains and IPs against admin lists.
 *
 * Exact items (the common case: thousands of addresses in a Redis set)
 * are one sorted array and a binary search; regexes, rare and slow, are
 * tried only when no exact item matched (pattern_regex.c). Lowercasing
 * happens once, when an item is added and when a query is made, never
 * per comparison. IP blocks go into a range set (ipset.h), merged at seal
 * time, so a lookup in 100,000 CIDRs is a binary search, not 100,000
 * comparisons.
 *
 * Why no hash index for the exact items: one was built and measured
 * (2026-12-06; keyed, 4-byte slots, bounded probes). Alone, 100,000
 * addresses, it halved a lookup (0.21 against 0.41 us); in the daemon,
 * perf of the mixed bench (bench/README), lookups took 4.7% of
 * sluice-policyd's samples with it against 3.1% without. A lookup there
 * is one cache miss on a random slot of a 1 MB table, where the binary
 * search's first levels stay in the cache between requests; and it cost
 * 1 MB per 100,000 items.
 *
 * The exact items' text is packed in chunks (an arena freed as a whole),
 * not one malloc each: 100,000 addresses of 38 bytes cost 5.9 MB with one
 * malloc each (39 bytes take a 48-byte malloc chunk), 4.7 MB packed and
 * with the pointer array trimmed at seal time (mallinfo2(), glibc 2.36).
 * Chunks start at 1 KiB, so that a config list of three items stays
 * small, and double up to 64 KiB.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pattern_regex.h"
#include "patterns.h"

int
pattern_grow(void **items, size_t *cap, size_t count, size_t size)
{
	size_t ncap;
	void *p;

	if (count < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	if ((p = realloc(*items, ncap * size)) == NULL)
		return -1;
	*items = p;
	*cap = ncap;
	return 0;
}

struct pattern_chunk {
	struct pattern_chunk *next;
	size_t used, size;
	char data[];
};

#define CHUNK_MIN 1024
#define CHUNK_MAX 65536

/* n bytes that live as long as the list; NULL when memory runs out. */
static char *
arena_alloc(struct pattern_list *list, size_t n)
{
	struct pattern_chunk *c = list->chunks;
	size_t size;

	if (c == NULL || c->size - c->used < n) {
		size = c == NULL ? CHUNK_MIN : c->size < CHUNK_MAX ? c->size * 2 : CHUNK_MAX;
		if (size < n)
			size = n;
		if ((c = malloc(sizeof(*c) + size)) == NULL)
			return NULL;
		c->next = list->chunks;
		c->used = 0;
		c->size = size;
		list->chunks = c;
	}
	c->used += n;
	return c->data + c->used - n;
}

/* False when src did not fit: a query cut short must not match an item
 * that equals its first bytes (a 300-byte domain is no 255-byte one). */
static bool
lowercase(char *dst, const char *src, size_t size)
{
	size_t i;

	for (i = 0; src[i] && i + 1 < size; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	dst[i] = '\0';
	return src[i] == '\0';
}

static bool
is_regex(const char *item, size_t len)
{
	return len >= 2 && item[0] == '/' && item[len - 1] == '/';
}

/* The one place where an item's length is judged, for add and check. */
static const char *
check_length(size_t len)
{
	if (len == 0)
		return "empty";
	if (len > PATTERN_ITEM_MAX)
		return "longer than 256 bytes";
	return NULL;
}

const char *
pattern_check(const char *item)
{
	size_t len = strlen(item);
	const char *why;

	if ((why = check_length(len)) != NULL)
		return why;
	return is_regex(item, len) ? pattern_regex_check(item, len) : NULL;
}

int
pattern_list_add_reuse(struct pattern_list *list, const char *item,
		       struct pattern_list *old, const char **why)
{
	size_t len = strlen(item);
	struct net_cidr block;
	const char *dummy;
	char *copy;

	if (why == NULL)
		why = &dummy;
	if ((*why = check_length(len)) != NULL)
		return -1;
	if (is_regex(item, len))
		return pattern_regex_add(list, item, len, old, why);
	if (net_cidr_parse(item, &block) == 0) {
		if (ipset_add(&list->nets, &block) < 0) {
			*why = "out of memory";
			return -1;
		}
		list->net_count++;
		return 0;
	}
	if (pattern_grow((void **)&list->exact, &list->exact_cap, list->exact_count, sizeof(char *)) < 0
	    || (copy = arena_alloc(list, len + 1)) == NULL) {
		*why = "out of memory";
		return -1;
	}
	lowercase(copy, item, len + 1);
	list->exact[list->exact_count++] = copy;
	return 0;
}

int
pattern_list_add(struct pattern_list *list, const char *item, const char **why)
{
	return pattern_list_add_reuse(list, item, NULL, why);
}

static int
compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
pattern_list_seal(struct pattern_list *list)
{
	char **exact;

	if (list->exact_count > 1)
		qsort(list->exact, list->exact_count, sizeof(char *), compare_strings);
	/* give back the array's growth slack (up to half of it) */
	if (list->exact_count > 0 && list->exact_count < list->exact_cap
	    && (exact = realloc(list->exact, list->exact_count * sizeof(char *))) != NULL) {
		list->exact = exact;
		list->exact_cap = list->exact_count;
	}
	pattern_regex_seal(list);
	ipset_finish(&list->nets);
}

size_t
pattern_list_size(const struct pattern_list *list)
{
	return list->exact_count + list->regex_count + list->net_count;
}

size_t
pattern_list_bytes(const struct pattern_list *list)
{
	const struct pattern_chunk *c;
	size_t bytes;

	bytes = list->exact_cap * sizeof(char *) + ipset_bytes(&list->nets)
	    + pattern_regex_bytes(list);
	for (c = list->chunks; c != NULL; c = c->next)
		bytes += sizeof(*c) + c->size;
	return bytes;
}

void
pattern_list_free(struct pattern_list *list)
{
	struct pattern_chunk *c, *next;

	for (c = list->chunks; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	free(list->exact);
	pattern_regex_free(list);
	ipset_free(&list->nets);
	memset(list, 0, sizeof(*list));
}

static bool
has_exact(const struct pattern_list *list, const char *lower)
{
	return list->exact_count > 0
	    && bsearch(&lower, list->exact, list->exact_count, sizeof(char *),
		       compare_strings) != NULL;
}

bool
pattern_match_domain(const struct pattern_list *list, const char *domain, bool parents)
{
	char lower[ADDRESS_DOMAIN_MAX + 1];
	const char *p;

	if (domain == NULL || *domain == '\0' || !lowercase(lower, domain, sizeof(lower)))
		return false;
	for (p = lower; p; p = strchr(p, '.') ? strchr(p, '.') + 1 : NULL) {
		if (has_exact(list, p))
			return true;
		if (!parents)
			break;
	}
	return false;
}

/* The lowercase address of len bytes against the list. */
static bool
match_lower_address(const struct pattern_list *list, const char *lower, size_t len)
{
	const char *at;

	if (has_exact(list, lower))
		return true;
	if ((at = strrchr(lower, '@')) != NULL && has_exact(list, at + 1))
		return true;
	return pattern_regex_match(list, lower, len);
}

/*
 * An address longer than ADDRESS_MAX (RFC 5321's 256, which Postfix does
 * not enforce by default) equals no item, but its domain part may, and a
 * regex may match it: it is looked at whole, from a copy on the heap.
 * Never cut: the cut text could match a forbid regex the whole does not,
 * or miss one it does (a sender must not slip past /bulk-.*@.+/ by
 * being long; regexes are anchored at both ends).
 */
bool
pattern_match_address(const struct pattern_list *list, const char *address)
{
	char small[ADDRESS_MAX + 1], *lower = small;
	size_t len;
	bool found;

	if (address == NULL)
		return false;
	len = strlen(address);
	if (len >= sizeof(small) && (lower = malloc(len + 1)) == NULL)
		return false;
	(void)lowercase(lower, address, len + 1);
	found = match_lower_address(list, lower, len);
	if (lower != small)
		free(lower);
	return found;
}

bool
pattern_match_ip(const struct pattern_list *list, const struct net_addr *addr)
{
	return ipset_contains(&list->nets, addr);
}
