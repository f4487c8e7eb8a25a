/*
 * patterns.c - match addresses, domains and IPs against admin lists.
 *
 * Exact items (the common case: thousands of addresses in a Redis set)
 * are one array, found through a hash index made at seal time; regexes,
 * rare and slow, are tried only when no exact item matched
 * (pattern_regex.c). Lowercasing happens once, when an item is added and
 * when a query is made, never per comparison. IP blocks go into a range
 * set (ipset.h), merged at seal time, so a lookup in 100,000 CIDRs is a
 * binary search, not 100,000 comparisons.
 *
 * Why a hash and not only the binary search it replaced: an address is
 * looked up several times per request (permit, forbid, mailboxes,
 * aliases; itself and its domain), and in 100,000 items a binary search
 * is 17 string compares, most of them a cache miss each. The index is an
 * open-addressing table, at most 3/4 full, with linear probing: a lookup
 * reads one or two adjacent slots and compares one string. A slot is 4
 * bytes, the item's place in exact[] (24 bits: a list of more than 16
 * million items has no index) and 8 bits of its hash, which spare the
 * string compare for 255 in 256 of the other items probed. The hash is keyed with a random value per process, so no
 * one can choose items that collide without seeing the key, and the
 * longest probe sequence is noted at seal time: a lookup never probes
 * further, and past INDEX_PROBES_MAX the list keeps no index and is
 * searched in its sorted array instead, as it is when the index cannot
 * be allocated. So a lookup is bounded either way.
 *
 * The exact items' text is packed in chunks (an arena freed as a whole),
 * not one malloc each: 100,000 addresses of 38 bytes cost 5.9 MB with one
 * malloc each (39 bytes take a 48-byte malloc chunk), 4.7 MB packed and
 * with the pointer array trimmed at seal time (mallinfo2(), glibc 2.36);
 * the index adds 5-11 bytes an item (0.5-1 MB for as many).
 * Chunks start at 1 KiB, so that a config list of three items stays
 * small, and double up to 64 KiB.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "pattern_regex.h"
#include "patterns.h"

#define INDEX_PROBES_MAX 64	/* longer probe sequences: binary search */
#define SLOT_ITEM_BITS 24	/* a slot: 1 + the item's index, and a tag */
#define SLOT_ITEM_MASK ((1u << SLOT_ITEM_BITS) - 1)

/* 0: empty; else the tag (8 bits of the hash) << 24 | 1 + index in exact[] */
struct pattern_slot {
	uint32_t v;
};

static uint32_t
slot_tag(uint64_t h)
{
	return (uint32_t)(h >> 56) << SLOT_ITEM_BITS;
}

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

static pthread_once_t hash_once = PTHREAD_ONCE_INIT;
static uint64_t hash_key;

static void
hash_init(void)
{
	if (getrandom(&hash_key, sizeof(hash_key), GRND_NONBLOCK) != (ssize_t)sizeof(hash_key))
		hash_key = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&hash_key;
}

/* FNV-1a over the text from a keyed start, then a final mix (the
 * murmur3 finalizer) so that the low bits, the slot, depend on all. */
static uint64_t
hash_text(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ hash_key;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 33);
}

/* The index of exact[], or none (then has_exact() searches the array). */
static void
build_index(struct pattern_list *list)
{
	size_t slots = 16, i, j, probes, longest = 0;
	struct pattern_slot *index;

	if (list->exact_count == 0 || list->exact_count >= SLOT_ITEM_MASK)
		return;
	while (slots < list->exact_count + list->exact_count / 3)
		slots *= 2;
	if ((index = calloc(slots, sizeof(*index))) == NULL)
		return;
	for (i = 0; i < list->exact_count; i++) {
		uint64_t h = hash_text(list->exact[i]);

		for (j = h & (slots - 1), probes = 1; index[j].v != 0 && probes <= INDEX_PROBES_MAX;
		     j = (j + 1) & (slots - 1))
			probes++;
		if (probes > INDEX_PROBES_MAX) {
			free(index);
			return;
		}
		if (probes > longest)
			longest = probes;
		index[j].v = slot_tag(h) | (uint32_t)(i + 1);
	}
	list->index = index;
	list->index_mask = slots - 1;
	list->index_probes = (unsigned)longest;
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
	pthread_once(&hash_once, hash_init);
	free(list->index);
	list->index = NULL;
	build_index(list);
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
	    + (list->index ? (list->index_mask + 1) * sizeof(*list->index) : 0)
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
	free(list->index);
	pattern_regex_free(list);
	ipset_free(&list->nets);
	memset(list, 0, sizeof(*list));
}

static bool
has_exact(const struct pattern_list *list, const char *lower)
{
	uint64_t h;
	uint32_t tag, v;
	size_t j;
	unsigned n;

	if (list->exact_count == 0)
		return false;
	if (list->index == NULL)
		return bsearch(&lower, list->exact, list->exact_count, sizeof(char *),
			       compare_strings) != NULL;
	h = hash_text(lower);
	tag = slot_tag(h);
	for (j = h & list->index_mask, n = 0; n < list->index_probes; j = (j + 1) & list->index_mask, n++) {
		if ((v = list->index[j].v) == 0)
			return false;
		if ((v & ~SLOT_ITEM_MASK) == tag
		    && strcmp(list->exact[(v & SLOT_ITEM_MASK) - 1], lower) == 0)
			return true;
	}
	return false;
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
