/*
 * strmap.c - sorted key -> values map (see strmap.h).
 *
 * A sorted array and a binary search rather than a hash table: the map is
 * built once per change and then only read, a sorted array has no load
 * factor to tune and no pointer per bucket, and log2(100,000) is 17
 * comparisons of short strings.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

static int
grow(struct strmap *map)
{
	size_t cap;
	struct strmap_entry *p;

	if (map->count < map->cap)
		return 0;
	cap = map->cap ? map->cap * 2 : 16;
	if ((p = realloc(map->entries, cap * sizeof(*p))) == NULL)
		return -1;
	map->bytes += (cap - map->cap) * sizeof(*p);
	map->entries = p;
	map->cap = cap;
	return 0;
}

static void
lower_copy(char *dst, const char *src, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	dst[n] = '\0';
}

int
strmap_add(struct strmap *map, const char *key, const char *const *values, size_t nvalues)
{
	size_t len = strlen(key) + 1, i, off;
	char *block;

	for (i = 0; i < nvalues; i++)
		len += strlen(values[i]) + 1;
	if (grow(map) < 0 || (block = malloc(len)) == NULL)
		return -1;
	off = strlen(key);
	lower_copy(block, key, off);
	off++;
	for (i = 0; i < nvalues; i++) {
		size_t n = strlen(values[i]);

		lower_copy(block + off, values[i], n);
		off += n + 1;
	}
	map->entries[map->count].key = block;
	map->entries[map->count].nvalues = nvalues;
	map->entries[map->count].seq = map->count;
	map->count++;
	map->bytes += len;
	return 0;
}

/* By key, then in the order added (qsort is not stable: seq makes it). */
static int
compare_entries(const void *a, const void *b)
{
	const struct strmap_entry *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	if (c != 0)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void
strmap_seal(struct strmap *map)
{
	size_t i, kept = 0;

	if (map->count > 1)
		qsort(map->entries, map->count, sizeof(*map->entries), compare_entries);
	for (i = 0; i < map->count; i++) {
		if (kept > 0 && strcmp(map->entries[kept - 1].key, map->entries[i].key) == 0) {
			free(map->entries[kept - 1].key);	/* one of two: keep one */
			map->entries[kept - 1] = map->entries[i];
			continue;
		}
		map->entries[kept++] = map->entries[i];
	}
	map->count = kept;
}

const char *
strmap_find(const struct strmap *map, const char *key, size_t *count)
{
	size_t lo = 0, hi = map->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(key, map->entries[mid].key);

		if (c == 0) {
			*count = map->entries[mid].nvalues;
			return map->entries[mid].key + strlen(map->entries[mid].key) + 1;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*count = 0;
	return NULL;
}

const char *
strmap_next(const char *value)
{
	return value + strlen(value) + 1;
}

int
strmap_copy_except(struct strmap *out, const struct strmap *old, const char *key)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < old->count; i++) {
		const struct strmap_entry *e = &old->entries[i];
		size_t len = strlen(e->key) + 1, k;
		const char *v = e->key + len;
		char *block;

		if (strcmp(e->key, key) == 0)
			continue;
		for (k = 0; k < e->nvalues; k++) {
			len += strlen(v) + 1;
			v += strlen(v) + 1;
		}
		if (grow(out) < 0 || (block = malloc(len)) == NULL) {
			strmap_free(out);
			return -1;
		}
		memcpy(block, e->key, len);
		out->entries[out->count].key = block;
		out->entries[out->count].nvalues = e->nvalues;
		out->entries[out->count].seq = out->count;
		out->count++;
		out->bytes += len;
	}
	return 0;	/* still sorted: old was */
}

void
strmap_free(struct strmap *map)
{
	size_t i;

	for (i = 0; i < map->count; i++)
		free(map->entries[i].key);
	free(map->entries);
	memset(map, 0, sizeof(*map));
}
