/*
 * dkim_pkey_cache.c - decoded DKIM public keys keyed by their bytes (see
 * dkim_pkey_cache.h for the contract and why).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkim_pkey_cache.h"

struct pkey_entry {
	EVP_PKEY *pkey;		/* NULL: a free slot */
	int type;
	uint64_t hash;
	size_t len;
	unsigned char bytes[DKIM_PKEY_CACHE_BYTES_MAX];
	unsigned long used;	/* the cache's clock at the last hit */
};

struct dkim_pkey_cache {
	pthread_mutex_t lock;	/* guards everything below */
	unsigned long clock;
	size_t count;
	struct pkey_entry *e;
};

/* FNV-1a: a cheap first comparison before memcmp. */
static uint64_t
hash_of(int type, const unsigned char *p, size_t len)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)(unsigned)type;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

struct dkim_pkey_cache *
dkim_pkey_cache_new(size_t entries)
{
	struct dkim_pkey_cache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	if (entries == 0)
		entries = 1;
	if ((c->e = calloc(entries, sizeof(*c->e))) == NULL) {
		free(c);
		return NULL;
	}
	c->count = entries;
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

static struct pkey_entry *
find(struct dkim_pkey_cache *c, int type, uint64_t h, const unsigned char *bytes, size_t len)
{
	size_t i;

	for (i = 0; i < c->count; i++) {
		struct pkey_entry *e = &c->e[i];

		if (e->pkey && e->hash == h && e->type == type && e->len == len
		    && memcmp(e->bytes, bytes, len) == 0)
			return e;
	}
	return NULL;
}

EVP_PKEY *
dkim_pkey_cache_get(struct dkim_pkey_cache *c, int type, const unsigned char *bytes, size_t len)
{
	uint64_t h;
	struct pkey_entry *e;
	EVP_PKEY *pkey = NULL;

	if (c == NULL || len > DKIM_PKEY_CACHE_BYTES_MAX)
		return NULL;
	h = hash_of(type, bytes, len);
	pthread_mutex_lock(&c->lock);
	if ((e = find(c, type, h, bytes, len)) != NULL && EVP_PKEY_up_ref(e->pkey) == 1) {
		e->used = ++c->clock;
		pkey = e->pkey;
	}
	pthread_mutex_unlock(&c->lock);
	return pkey;
}

void
dkim_pkey_cache_put(struct dkim_pkey_cache *c, int type, const unsigned char *bytes, size_t len,
		    EVP_PKEY *pkey)
{
	struct pkey_entry *e, *victim = NULL;
	EVP_PKEY *evicted = NULL;
	uint64_t h;
	size_t i;

	if (c == NULL || pkey == NULL || len > DKIM_PKEY_CACHE_BYTES_MAX)
		return;
	h = hash_of(type, bytes, len);
	pthread_mutex_lock(&c->lock);
	if (find(c, type, h, bytes, len) == NULL && EVP_PKEY_up_ref(pkey) == 1) {
		for (i = 0; i < c->count; i++) {
			e = &c->e[i];
			if (e->pkey == NULL) {
				victim = e;
				break;
			}
			if (victim == NULL || e->used < victim->used)
				victim = e;
		}
		evicted = victim->pkey;
		victim->pkey = pkey;
		victim->type = type;
		victim->hash = h;
		victim->len = len;
		memcpy(victim->bytes, bytes, len);
		victim->used = ++c->clock;
	}
	pthread_mutex_unlock(&c->lock);
	EVP_PKEY_free(evicted);	/* outside the lock; NULL is fine */
}

void
dkim_pkey_cache_free(struct dkim_pkey_cache *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->count; i++)
		EVP_PKEY_free(c->e[i].pkey);
	pthread_mutex_destroy(&c->lock);
	free(c->e);
	free(c);
}
