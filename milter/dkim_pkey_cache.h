/*
 * dkim_pkey_cache.h - decoded DKIM public keys, shared by the verifier's
 * messages, so a key record is decoded once rather than once per message.
 *
 * Why: OpenSSL 3 decodes a SubjectPublicKeyInfo (d2i_PUBKEY) through its
 * decoder framework, which costs far more CPU than the RSA verification
 * itself (the profile of bench-auth showed OSSL_DECODER_*, OPENSSL_LH_*,
 * OPENSSL_sk_* and their rwlocks as the milter's top user-space cost).
 * Mail from one domain arrives signed by the same key over and over.
 *
 * Keyed by content: the key type and the exact decoded bytes of the key
 * record's p= (DER for RSA, the 32 raw bytes for Ed25519). The DNS layer
 * (dns_cache.c) decides, with the record's TTL, which bytes are current;
 * a changed record is other bytes, hence another entry, and a key that is
 * no longer published is simply never asked for again and ages out. So
 * the cache can never answer with a key the DNS no longer gives.
 *
 *   c = dkim_pkey_cache_new(entries);     NULL: out of memory
 *   pkey = dkim_pkey_cache_get(c, type, bytes, len);
 *       a new reference (EVP_PKEY_free it), or NULL: not cached
 *   dkim_pkey_cache_put(c, type, bytes, len, pkey);
 *       keeps its own reference to pkey (the caller keeps its own)
 *   dkim_pkey_cache_free(c);
 *
 * Bounded: at most `entries` keys (least recently used evicted), each at
 * most DKIM_PKEY_CACHE_BYTES_MAX bytes (a longer key is not cached).
 * Thread-safe: one mutex, held only for the lookup (a linear scan of the
 * bounded table, comparing a hash first) and never during decoding. An
 * EVP_PKEY is used read-only by the verifier, which OpenSSL 3 allows from
 * several threads at once; references are counted, so an evicted key
 * stays valid for the message still using it.
 */
#ifndef SLUICE_DKIM_PKEY_CACHE_H
#define SLUICE_DKIM_PKEY_CACHE_H

#include <stddef.h>

#include <openssl/evp.h>

#define DKIM_PKEY_CACHE_BYTES_MAX 1600	/* DER of an RSA-8192 key is 1,062 */

struct dkim_pkey_cache;

struct dkim_pkey_cache *dkim_pkey_cache_new(size_t entries);
EVP_PKEY *dkim_pkey_cache_get(struct dkim_pkey_cache *c, int type, const unsigned char *bytes,
			      size_t len);
void dkim_pkey_cache_put(struct dkim_pkey_cache *c, int type, const unsigned char *bytes,
			 size_t len, EVP_PKEY *pkey);
void dkim_pkey_cache_free(struct dkim_pkey_cache *c);

#endif
