/*
 * dns_cache.c - the resolver's in-process answer cache (see dns_cache.h).
 *
 * A chained hash table on "type/name" (name lowercased, trailing dot
 * removed), one mutex. An entry holds its answer flat (lengths, then the
 * record bytes) and its expiry on the monotonic clock; a get builds a new
 * answer block from it, so callers never share memory with the cache.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dns_cache.h"

#define BUCKETS 8192
#define KEY_MAX 300

struct entry {
	struct entry *next;
	char key[KEY_MAX];
	time_t expires;
	enum dns_status status;
	int count;
	int *len;
	char *bytes;
};

struct dns_cache {
	pthread_mutex_t lock;
	size_t entries, max;
	struct entry *bucket[BUCKETS];
};

static time_t
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static int
make_key(const char *name, int type, char *key, size_t size)
{
	size_t n = strlen(name), i, o;
	int w;

	if (n > 0 && name[n - 1] == '.')
		n--;
	w = snprintf(key, size, "%d/", type);
	if (w < 0 || (size_t)w + n + 1 > size)
		return -1;
	for (i = 0, o = (size_t)w; i < n; i++)
		key[o++] = (char)tolower((unsigned char)name[i]);
	key[o] = '\0';
	return 0;
}

static unsigned
hash(const char *key)
{
	uint32_t h = 2166136261u;

	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 16777619u;
	return h % BUCKETS;
}

static void
entry_free(struct entry *e)
{
	free(e->len);
	free(e->bytes);
	free(e);
}

struct dns_cache *
dns_cache_new(size_t max_entries)
{
	struct dns_cache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	c->max = max_entries;
	return c;
}

void
dns_cache_free(struct dns_cache *c)
{
	size_t b;

	if (c == NULL)
		return;
	for (b = 0; b < BUCKETS; b++) {
		struct entry *e = c->bucket[b], *next;

		for (; e; e = next) {
			next = e->next;
			entry_free(e);
		}
	}
	pthread_mutex_destroy(&c->lock);
	free(c);
}

int
dns_answer_make(struct dns_answer *out, enum dns_status status, int ttl, int count,
		char *const *data, const int *len)
{
	size_t total = 0, head;
	char *block, *p;
	int i;

	memset(out, 0, sizeof(*out));
	out->status = status;
	out->ttl = ttl;
	if (count <= 0)
		return 0;
	for (i = 0; i < count; i++)
		total += (size_t)len[i];
	head = (size_t)count * (sizeof(char *) + sizeof(int));
	if ((block = malloc(head + total + 1)) == NULL) {
		out->status = DNS_TEMPFAIL;
		return -1;
	}
	out->impl = block;
	out->data = (char **)(void *)block;
	out->len = (int *)(void *)(block + (size_t)count * sizeof(char *));
	p = block + head;
	for (i = 0; i < count; i++) {
		out->data[i] = p;
		out->len[i] = len[i];
		memcpy(p, data[i], (size_t)len[i]);
		p += len[i];
	}
	out->count = count;
	return 0;
}

bool
dns_cache_get(struct dns_cache *c, const char *name, int type, struct dns_answer *out)
{
	char key[KEY_MAX];
	struct entry *e, **pp;
	time_t now = now_s();
	bool found = false;

	if (c == NULL || make_key(name, type, key, sizeof(key)) < 0)
		return false;
	pthread_mutex_lock(&c->lock);
	for (pp = &c->bucket[hash(key)]; (e = *pp) != NULL;) {
		if (e->expires <= now) {	/* expired: drop it on the way */
			*pp = e->next;
			entry_free(e);
			c->entries--;
			continue;
		}
		if (strcmp(e->key, key) == 0) {
			char *ptrs[64] = { NULL }, **data = e->count <= 64 ? ptrs : malloc((size_t)e->count * sizeof(char *));
			int i, off = 0;

			if (data) {
				for (i = 0; i < e->count; i++) {
					data[i] = e->bytes + off;
					off += e->len[i];
				}
				found = dns_answer_make(out, e->status, (int)(e->expires - now), e->count,
							data, e->len) == 0;
				if (data != ptrs)
					free(data);
			}
			break;
		}
		pp = &e->next;
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}

void
dns_cache_put(struct dns_cache *c, const char *name, int type, const struct dns_answer *a)
{
	char key[KEY_MAX];
	struct entry *e;
	size_t total = 0;
	unsigned b;
	int i, ttl = a->ttl, off = 0;

	if (c == NULL || a->status == DNS_TEMPFAIL || ttl <= 0
	    || make_key(name, type, key, sizeof(key)) < 0)
		return;
	if (a->status != DNS_OK && ttl > DNS_CACHE_NEGATIVE_MAX)
		ttl = DNS_CACHE_NEGATIVE_MAX;
	if (ttl > DNS_CACHE_TTL_MAX)
		ttl = DNS_CACHE_TTL_MAX;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return;
	for (i = 0; i < a->count; i++)
		total += (size_t)a->len[i];
	e->len = malloc((size_t)(a->count > 0 ? a->count : 1) * sizeof(int));
	e->bytes = malloc(total + 1);
	if (e->len == NULL || e->bytes == NULL) {
		entry_free(e);
		return;
	}
	for (i = 0; i < a->count; i++) {
		e->len[i] = a->len[i];
		memcpy(e->bytes + off, a->data[i], (size_t)a->len[i]);
		off += a->len[i];
	}
	memcpy(e->key, key, strlen(key) + 1);
	e->status = a->status;
	e->count = a->count;
	e->expires = now_s() + ttl;
	b = hash(key);
	pthread_mutex_lock(&c->lock);
	if (c->entries >= c->max) {
		pthread_mutex_unlock(&c->lock);
		entry_free(e);
		return;
	}
	e->next = c->bucket[b];
	c->bucket[b] = e;
	c->entries++;
	pthread_mutex_unlock(&c->lock);
}
