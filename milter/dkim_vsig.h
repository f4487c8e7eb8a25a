/*
 * dkim_vsig.h - what the verifier reads out of one DKIM-Signature field
 * and out of one key record, with every RFC 6376 / RFC 8463 check that
 * needs nothing but the text (and the clock). Internal to the verifier
 * (dkim_verify.c), separate so that each part stays readable and the
 * malformed-input unit tests can drive the parsers directly.
 *
 * Interface:
 *   dkim_vsig_parse()  a DKIM-Signature value -> struct dkim_vsig, and
 *                      the identity fields of the result (d, s, a, b, i)
 *                      filled in as far as they can be read. On failure
 *                      res->result and res->reason say why (permerror,
 *                      policy for rsa-sha1, fail for an expired x=).
 *   dkim_vkey_parse()  a key record (TXT) checked against the signature
 *                      it is for -> an OpenSSL public key, or the result
 *                      and the reason why it cannot be used.
 *   dkim_base64_decode() strict base64 (whitespace already removed).
 */
#ifndef SLUICE_DKIM_VSIG_H
#define SLUICE_DKIM_VSIG_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

#include "dkim_canon.h"
#include "dkim_sig.h"		/* DKIM_HLIST_MAX */
#include "dkim_tags.h"
#include "dkim_verify.h"

enum dkim_valg { DKIM_VALG_RSA_SHA256, DKIM_VALG_ED25519_SHA256, DKIM_VALG_RSA_SHA1 };

#define DKIM_SIGBYTES_MAX 1024	/* an 8192-bit RSA signature */

struct dkim_vsig {
	struct dkim_tags tags;
	enum dkim_valg alg;
	enum canon hc, bc;
	bool has_l;
	uint64_t l;
	const char *h[DKIM_HLIST_MAX];	/* names of h=, pointers into hstore */
	size_t hcount;
	char *hstore;
	unsigned char bh[DKIM_HASH_LEN];
	unsigned char b[DKIM_SIGBYTES_MAX];
	size_t blen;
	char idomain[DKIM_RES_I_MAX];	/* domain of i= (or d=), lowercase */
	size_t b_raw_start, b_raw_end;	/* where b='s value is in the field */
};

int dkim_vsig_parse(struct dkim_vsig *sig, const char *value,
		    const struct dkim_verify_limits *lim, time_t now,
		    struct dkim_sigresult *res);
void dkim_vsig_free(struct dkim_vsig *sig);

struct dkim_vkey {
	EVP_PKEY *pkey;
	int bits;
	bool testing;		/* t=y */
};

/* 0 and key filled, or -1 with *result and *why. */
int dkim_vkey_parse(const char *txt, const struct dkim_vsig *sig,
		    const struct dkim_verify_limits *lim, struct dkim_vkey *key,
		    enum dkim_res *result, const char **why);
void dkim_vkey_free(struct dkim_vkey *key);

/* Decoded length, or -1 (bad base64, or more than outsize bytes). */
long dkim_base64_decode(const char *in, unsigned char *out, size_t outsize);

#endif
