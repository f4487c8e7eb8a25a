/*
 * strmap.h - an immutable map from a lowercase key to one string or a
 * list of strings, for the Redis hashes (sluice:domainmap,
 * sluice:catchall, sluice:copy:domain: field -> value) and the aliases
 * (sluice:alias:<address>, a set: address or "localpart@*" -> targets).
 *
 * Interface:
 *   strmap_add()       adds key -> value (a hash field).
 *   strmap_add_list()  adds key -> n values (an alias and its targets;
 *                      n may be 0).
 *   strmap_finish()    sorts the keys and settles duplicates; call it
 *                      after the last add, before lookups.
 *   strmap_get()       the first value of key, or NULL when key is absent;
 *                      *count (if count is not NULL) says how many values
 *                      follow each other from there, each NUL-terminated:
 *                      strmap_next() steps from one to the next.
 *   strmap_count()     the number of keys (after finish: distinct keys).
 *   strmap_bytes()     the heap bytes the map holds.
 *   strmap_free()      frees it; the map is empty again.
 *
 * Contract: a zeroed struct strmap is an empty map. Keys are lowercased
 * (ASCII) when added and a lookup ignores ASCII case, so "Alice@Example.COM"
 * finds "alice@example.com"; values are kept as given. When a key is added
 * more than once, the last add wins whole (its values replace the earlier
 * ones, they are not merged), as a later HSET replaces a field. An add
 * fails only for want of memory, or past 4 GiB of text (-1, errno ENOMEM),
 * and then leaves the map as it was; strmap_finish() cannot fail. The
 * strings given to an add are copied, and must not point into the map. Adding
 * after finish is allowed; lookups are right again after the next finish.
 * A finished map is read-only: lookups are safe from any number of
 * threads, and cost O(log n) key comparisons.
 *
 * Why a sorted array and an arena rather than a hash table of strdup()ed
 * strings: all the text is in one buffer (one malloc, no per-string
 * malloc overhead: 16 bytes or more each), an entry is three 32-bit
 * offsets (12 bytes), and the build is add, add, ..., one sort; the
 * lookup is a binary search of at most 17 steps for 100,000 keys, next to
 * a Redis round trip it replaces, nothing. The text of an entry that a
 * duplicate key replaced stays in the arena until the map is freed.
 */
#ifndef SLUICE_STRMAP_H
#define SLUICE_STRMAP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct strmap_entry {
	uint32_t key;		/* offset of the lowercase key in the arena */
	uint32_t values;	/* offset of the first value */
	uint32_t count;		/* values, each NUL-terminated, one after the other */
};

struct strmap {
	struct strmap_entry *entries;
	size_t count, cap;
	char *arena;
	size_t arena_len, arena_cap;
};

int strmap_add(struct strmap *map, const char *key, const char *value);
int strmap_add_list(struct strmap *map, const char *key, const char *const *values, size_t n);
void strmap_finish(struct strmap *map);
const char *strmap_get(const struct strmap *map, const char *key, size_t *count);
size_t strmap_count(const struct strmap *map);
size_t strmap_bytes(const struct strmap *map);
void strmap_free(struct strmap *map);

/* The value after v in a list strmap_get() returned (while count lasts). */
static inline const char *
strmap_next(const char *v)
{
	return v + strlen(v) + 1;
}

#endif
