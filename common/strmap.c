/*
 * strmap.c - sorted (key -> values) map with its text in one arena (see
 * strmap.h).
 *
 * Interface: strmap_add(), strmap_add_list(), strmap_finish(),
 * strmap_get(), strmap_count(), strmap_bytes(), strmap_free().
 *
 * Contract: as strmap.h. The arena and the entry array grow by half
 * (not double, so that a big map does not briefly hold twice its size)
 * and are trimmed to size by strmap_finish(). Entries hold offsets, not
 * pointers, because the arena moves when it grows.
 *
 * Duplicates: the sort orders equal keys by their offset, which grows
 * with every add, so the last of a run of equal keys is the last added,
 * and that one is kept.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "strmap.h"

static unsigned char
lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* As strcmp(lowercase(query), key), key being lowercase already. */
static int
compare_key(const char *query, const char *key)
{
	const unsigned char *q = (const unsigned char *)query;
	const unsigned char *k = (const unsigned char *)key;

	while (*k && lower(*q) == *k) {
		q++;
		k++;
	}
	return (int)lower(*q) - (int)*k;
}

/* Room for n more items of size bytes; 0 or -1 with ENOMEM. */
static int
reserve(void **items, size_t *cap, size_t count, size_t n, size_t size)
{
	size_t ncap;
	void *p;

	if (n <= *cap - count)
		return 0;
	if (count > SIZE_MAX - n)
		goto nomem;
	ncap = *cap < 16 ? 16 : *cap + *cap / 2;
	if (ncap < count + n)
		ncap = count + n;
	if (ncap > SIZE_MAX / size || (p = realloc(*items, ncap * size)) == NULL)
		goto nomem;
	*items = p;
	*cap = ncap;
	return 0;
nomem:
	errno = ENOMEM;
	return -1;
}

int
strmap_add_list(struct strmap *map, const char *key, const char *const *values, size_t n)
{
	size_t need = strlen(key) + 1, at, i;
	struct strmap_entry *e;
	char *p;

	for (i = 0; i < n; i++) {
		size_t len = strlen(values[i]) + 1;

		if (need > SIZE_MAX - len)
			goto nomem;
		need += len;
	}
	/* offsets are 32 bits, and so is the count */
	if (map->arena_len > UINT32_MAX || need > UINT32_MAX - map->arena_len
	    || n > UINT32_MAX || map->count >= UINT32_MAX)
		goto nomem;
	if (reserve((void **)&map->entries, &map->cap, map->count, 1, sizeof(*map->entries)) < 0
	    || reserve((void **)&map->arena, &map->arena_cap, map->arena_len, need, 1) < 0)
		return -1;

	at = map->arena_len;
	p = map->arena + at;
	for (i = 0; key[i]; i++)
		*p++ = (char)lower((unsigned char)key[i]);
	*p++ = '\0';
	e = &map->entries[map->count++];
	e->key = (uint32_t)at;
	/* no values: point at the key's NUL, an empty string */
	e->values = (uint32_t)(at + i + (n > 0));
	e->count = (uint32_t)n;
	for (i = 0; i < n; i++) {
		size_t len = strlen(values[i]) + 1;

		memcpy(p, values[i], len);
		p += len;
	}
	map->arena_len = at + need;
	return 0;
nomem:
	errno = ENOMEM;
	return -1;
}

int
strmap_add(struct strmap *map, const char *key, const char *value)
{
	return strmap_add_list(map, key, &value, 1);
}

/* qsort_r() comparison; arena is the text of the map being sorted. */
static int
compare_entries(const void *a, const void *b, void *arena)
{
	const struct strmap_entry *x = a, *y = b;
	int c = strcmp((const char *)arena + x->key, (const char *)arena + y->key);

	if (c != 0)
		return c;
	return (x->key > y->key) - (x->key < y->key);
}

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

void
strmap_finish(struct strmap *map)
{
	size_t i, out = 0;

	if (map->count > 1) {
		qsort_r(map->entries, map->count, sizeof(*map->entries), compare_entries, map->arena);
		/* keep the last of each run of equal keys */
		for (i = 0; i < map->count; i++) {
			if (i + 1 < map->count
			    && strcmp(map->arena + map->entries[i].key,
				      map->arena + map->entries[i + 1].key) == 0)
				continue;
			map->entries[out++] = map->entries[i];
		}
		map->count = out;
	}
	shrink((void **)&map->entries, &map->cap, map->count, sizeof(*map->entries));
	shrink((void **)&map->arena, &map->arena_cap, map->arena_len, 1);
}

const char *
strmap_get(const struct strmap *map, const char *key, size_t *count)
{
	size_t lo = 0, hi;

	if (map == NULL || key == NULL)
		return NULL;
	hi = map->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct strmap_entry *e = &map->entries[mid];
		int c = compare_key(key, map->arena + e->key);

		if (c == 0) {
			if (count != NULL)
				*count = e->count;
			return map->arena + e->values;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

size_t
strmap_count(const struct strmap *map)
{
	return map->count;
}

size_t
strmap_bytes(const struct strmap *map)
{
	return map->cap * sizeof(*map->entries) + map->arena_cap;
}

void
strmap_free(struct strmap *map)
{
	free(map->entries);
	free(map->arena);
	memset(map, 0, sizeof(*map));
}
