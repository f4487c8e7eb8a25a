/*
 * dkim_keys.h - the DKIM key store: every private key of dkim.keys,
 * read, checked and decoded once per config load (at start and on
 * SIGHUP), never per message.
 *
 * Interface:
 *   dkim_keys_load()   reads every key of the config. Refuses (and says
 *                      "FILE:LINE: key /path: why", FILE:LINE being the
 *                      entry in sluice.conf) a key file that is not a
 *                      regular file, is readable or writable by group or
 *                      others, is not a PEM private key, is RSA below
 *                      1024 or above 8192 bits or another type than RSA
 *                      and Ed25519; a selector listed twice for one
 *                      domain; more than DKIM_KEYS_PER_DOMAIN keys for
 *                      one domain.
 *   dkim_keys_find()   the keys of a domain (config order), or with
 *                      parents the keys of its nearest parent domain that
 *                      has some.
 *   dkim_key_read()    one key file with the same checks (sluice-keygen
 *                      --check uses it too).
 *   dkim_keys_free()
 *
 * Contract: a loaded store is immutable, so the threads of every message
 * share it without locks (OpenSSL allows concurrent signing with one
 * EVP_PKEY as long as each operation has its own context). For Ed25519
 * keys the store also holds a signing context initialized once, which
 * signers copy (EVP_MD_CTX_copy_ex only reads its source) and never use
 * themselves: that saves the per-message EVP_DigestSignInit, about a
 * tenth of an Ed25519 signature with OpenSSL 3.0.
 */
#ifndef SLUICE_DKIM_KEYS_H
#define SLUICE_DKIM_KEYS_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define DKIM_KEYS_PER_DOMAIN 8
#define DKIM_KEY_FILE_MAX (64 * 1024)
#define DKIM_RSA_BITS_MAX 8192	/* what sluice-keygen makes; b= fits a line */

enum dkim_alg { DKIM_ALG_RSA_SHA256, DKIM_ALG_ED25519_SHA256 };

struct dkim_key {
	char *domain;		/* lowercase */
	char *selector;
	char *path;
	char *source;		/* "FILE:LINE" of the config entry */
	EVP_PKEY *pkey;
	EVP_MD_CTX *ed_template;	/* Ed25519: a signing context to copy */
	enum dkim_alg alg;
	int bits;
	size_t order;		/* position in dkim.keys */
};

struct dkim_keys {
	struct dkim_key *keys;	/* by domain; config order within a domain */
	size_t count;
};

struct dkim_keys *dkim_keys_load(const struct dkim_key_conf *conf, size_t n,
				 char *err, size_t errsize);
void dkim_keys_free(struct dkim_keys *ks);

/* Number of keys found (0: none); *first points at the first of them. */
size_t dkim_keys_find(const struct dkim_keys *ks, const char *domain, bool parents,
		      const struct dkim_key **first);

/* Reads and checks one PEM key; err gets "key PATH: why" on failure. */
int dkim_key_read(const char *path, EVP_PKEY **out, enum dkim_alg *alg, int *bits,
		  char *err, size_t errsize);

/* "rsa-sha256", "ed25519-sha256" (the a= tag); "rsa", "ed25519" (k=). */
const char *dkim_alg_name(enum dkim_alg alg);
const char *dkim_alg_key_type(enum dkim_alg alg);

#endif
