/*
 * strmap.h - an immutable map from a lowercase key to one or more string
 * values, for the Redis hashes (sluice:domainmap: domain -> domain) and
 * the aliases (sluice:alias:<address>: address -> targets).
 *
 * Interface:
 *   strmap_add()     one key with its values (copied, lowercased); values
 *                    of one key are kept in the order given.
 *   strmap_seal()    sorts for binary search; of two entries with one key
 *                    the last added wins (a key re-read replaces the old).
 *   strmap_find()    the values of a key: the first is returned, *count
 *                    says how many follow it back to back, NUL-separated
 *                    (strmap_next() steps through them); NULL if absent.
 *   strmap_copy_except()  a new map with every entry of old but one key
 *                    (to replace one alias without reading them all).
 *
 * Contract: each entry is one allocation (key and values packed), so a
 * map of 100,000 aliases costs 100,000 mallocs, not one per target;
 * lookups are O(log n) on a sealed map, safe from any number of threads.
 */
#ifndef SLUICE_STRMAP_H
#define SLUICE_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

struct strmap_entry {
	char *key;		/* then the values, each NUL-terminated */
	size_t nvalues;
	size_t seq;		/* order added: of equal keys the last wins */
};

struct strmap {
	struct strmap_entry *entries;
	size_t count, cap;
	size_t bytes;		/* allocated, for the log and the tests */
};

int strmap_add(struct strmap *map, const char *key, const char *const *values, size_t nvalues);
void strmap_seal(struct strmap *map);
const char *strmap_find(const struct strmap *map, const char *key, size_t *count);
const char *strmap_next(const char *value);
int strmap_copy_except(struct strmap *out, const struct strmap *old, const char *key);
void strmap_free(struct strmap *map);

#endif
