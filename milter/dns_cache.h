/*
 * dns_cache.h - the answers of the milter's resolver, kept in process for
 * their TTL (negative answers at most DNS_CACHE_NEGATIVE_MAX seconds), so
 * that a name asked again is answered without a thread hop to libunbound
 * and back (which, on a loaded machine, costs more than the lookup).
 * Part of dns.c's implementation; not used elsewhere.
 *
 * Interface:
 *   dns_cache_new(max)   room for max answers; full: new answers are not
 *                        kept until old ones expire (never an eviction storm).
 *   dns_cache_get()      a fresh copy of a live answer (out, as dns.h's
 *                        struct dns_answer, freed with dns_answer_free), or
 *                        false.
 *   dns_cache_put()      keeps a copy of an answer (DNS_OK, NXDOMAIN,
 *                        NODATA with a TTL > 0; TEMPFAIL never).
 *   dns_answer_make()    builds an answer that owns one block of memory.
 * Thread-safe (one mutex; the work under it is a hash lookup and a copy).
 */
#ifndef SLUICE_MILTER_DNS_CACHE_H
#define SLUICE_MILTER_DNS_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "dns.h"

#define DNS_CACHE_NEGATIVE_MAX 300
#define DNS_CACHE_TTL_MAX 86400

struct dns_cache;

struct dns_cache *dns_cache_new(size_t max_entries);
void dns_cache_free(struct dns_cache *c);
bool dns_cache_get(struct dns_cache *c, const char *name, int type, struct dns_answer *out);
void dns_cache_put(struct dns_cache *c, const char *name, int type, const struct dns_answer *a);
int dns_answer_make(struct dns_answer *out, enum dns_status status, int ttl, int count,
		    char *const *data, const int *len);

#endif
