/*
 * test_dkim_pkey_cache.c - the verifier's cache of decoded public keys
 * (milter/dkim_pkey_cache.h): keyed by content (type and bytes), bounded
 * with least-recently-used eviction, reference counted; and through the
 * verifier: a message verified with the cache gets the same verdicts as
 * without, and a key record that changed (rotation, same selector) is
 * never answered from the cache with the old key.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "dkim_canon.h"
#include "dkim_keys.h"
#include "dkim_pkey_cache.h"
#include "dkim_sig.h"
#include "dkim_verify.h"

static EVP_PKEY *
keygen(int type)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(type, NULL);
	EVP_PKEY *k = NULL;

	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
	if (type == EVP_PKEY_RSA)
		assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 1024), 1);
	assert_int_equal(EVP_PKEY_keygen(ctx, &k), 1);
	EVP_PKEY_CTX_free(ctx);
	return k;
}

static void
test_content_keyed_and_bounded(void **state)
{
	struct dkim_pkey_cache *c = dkim_pkey_cache_new(2);
	EVP_PKEY *a = keygen(EVP_PKEY_ED25519), *b = keygen(EVP_PKEY_ED25519),
		 *k = keygen(EVP_PKEY_ED25519), *got;
	unsigned char ba[32] = "key a", bb[32] = "key b", bc[32] = "key c";
	unsigned char big[DKIM_PKEY_CACHE_BYTES_MAX + 1] = { 0 };

	(void)state;
	assert_non_null(c);
	assert_null(dkim_pkey_cache_get(c, EVP_PKEY_ED25519, ba, 32));
	dkim_pkey_cache_put(c, EVP_PKEY_ED25519, ba, 32, a);
	/* a new reference to the very key */
	assert_ptr_equal(got = dkim_pkey_cache_get(c, EVP_PKEY_ED25519, ba, 32), a);
	EVP_PKEY_free(got);
	/* other bytes, other type, shorter: not that key */
	assert_null(dkim_pkey_cache_get(c, EVP_PKEY_ED25519, bb, 32));
	assert_null(dkim_pkey_cache_get(c, EVP_PKEY_RSA, ba, 32));
	assert_null(dkim_pkey_cache_get(c, EVP_PKEY_ED25519, ba, 31));
	dkim_pkey_cache_put(c, EVP_PKEY_ED25519, bb, 32, b);
	/* a is used more recently than b: the third key evicts b */
	EVP_PKEY_free(dkim_pkey_cache_get(c, EVP_PKEY_ED25519, ba, 32));
	dkim_pkey_cache_put(c, EVP_PKEY_ED25519, bc, 32, k);
	assert_null(dkim_pkey_cache_get(c, EVP_PKEY_ED25519, bb, 32));
	assert_ptr_equal(got = dkim_pkey_cache_get(c, EVP_PKEY_ED25519, ba, 32), a);
	EVP_PKEY_free(got);
	assert_ptr_equal(got = dkim_pkey_cache_get(c, EVP_PKEY_ED25519, bc, 32), k);
	EVP_PKEY_free(got);
	/* too long to keep */
	dkim_pkey_cache_put(c, EVP_PKEY_RSA, big, sizeof(big), b);
	assert_null(dkim_pkey_cache_get(c, EVP_PKEY_RSA, big, sizeof(big)));
	/* the caller's references outlive the cache's */
	dkim_pkey_cache_free(c);
	assert_int_equal(EVP_PKEY_get_bits(a), 256);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
	EVP_PKEY_free(k);
	dkim_pkey_cache_free(NULL);
	assert_null(dkim_pkey_cache_get(NULL, EVP_PKEY_RSA, ba, 32));
}

/* The key record for k: "v=DKIM1; k=...; p=..." */
static void
key_record(EVP_PKEY *k, char *txt, size_t size)
{
	unsigned char der[2048], *dp = der;
	char b64[2900];
	size_t len = sizeof(der);
	bool ed = EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519;

	if (ed)
		assert_int_equal(EVP_PKEY_get_raw_public_key(k, der, &len), 1);
	else
		len = (size_t)i2d_PUBKEY(k, &dp);
	dkim_base64(b64, der, len);
	snprintf(txt, size, "v=DKIM1; k=%s; p=%s", ed ? "ed25519" : "rsa", b64);
}

static const char body[] = "Hello\r\n\r\nBye\r\n";

/* A signature of From/Subject + body by `signer` (s=sel, d=example.test),
 * verified against the key record txt, with the cache c (or none). */
static enum dkim_res
sign_and_verify(EVP_PKEY *signer, const char *txt, struct dkim_pkey_cache *c)
{
	static char *names[] = { "From", "Subject" };
	struct strlist hl = { names, 2 };
	struct dkim_sign_params p = { CANON_RELAXED, CANON_RELAXED, &hl, NULL, EVP_sha256(),
				      time(NULL), 3600 };
	struct dkim_key key = { 0 };
	struct dkim_headers h = { 0 };
	struct dkim_key_table tab[2] = { { "sel._domainkey.example.test", txt, DKIM_DNS_OK },
					 { NULL, NULL, DKIM_DNS_OK } };
	struct dkim_key_source src = dkim_key_source_table(tab);
	struct dkim_verify_limits lim;
	const struct dkim_sigresult *res;
	unsigned char bh[DKIM_HASH_LEN];
	struct dkim_prepared pr;
	struct dkim_body bd;
	struct dkim_buf sig;
	struct dkim_verify *v;
	enum dkim_res r;
	char err[256];

	key.domain = (char *)(uintptr_t)"example.test";
	key.selector = (char *)(uintptr_t)"sel";
	key.pkey = signer;
	key.alg = EVP_PKEY_get_base_id(signer) == EVP_PKEY_ED25519 ? DKIM_ALG_ED25519_SHA256
								    : DKIM_ALG_RSA_SHA256;
	assert_int_equal(dkim_headers_add(&h, "From", " a@example.test"), DKIM_ADD_OK);
	assert_int_equal(dkim_headers_add(&h, "Subject", " hello"), DKIM_ADD_OK);
	assert_int_equal(dkim_body_init(&bd, CANON_RELAXED, EVP_sha256()), 0);
	assert_int_equal(dkim_body_update(&bd, (const unsigned char *)body, strlen(body)), 0);
	assert_int_equal(dkim_body_final(&bd, bh), 0);
	dkim_body_free(&bd);
	assert_int_equal(dkim_sig_prepare(&p, &h, &pr, err, sizeof(err)), 0);
	assert_int_equal(dkim_sig_make(&p, &pr, &key, bh, &sig, err, sizeof(err)), 0);
	dkim_prepared_free(&pr);

	dkim_verify_limits_default(&lim);
	lim.pkeys = c;
	assert_non_null(v = dkim_verify_new(&lim, &src));
	assert_int_equal(dkim_verify_header(v, "DKIM-Signature", sig.data), 0);
	assert_int_equal(dkim_verify_header(v, "From", " a@example.test"), 0);
	assert_int_equal(dkim_verify_header(v, "Subject", " hello"), 0);
	assert_int_equal(dkim_verify_eoh(v), 0);
	assert_int_equal(dkim_verify_body(v, (const unsigned char *)body, strlen(body)), 0);
	assert_int_equal(dkim_verify_finish(v, &res, NULL), 1);
	r = res[0].result;
	dkim_verify_free(v);
	free(sig.data);
	dkim_headers_free(&h);
	return r;
}

static void
test_verifier_with_cache(void **state)
{
	static const int types[] = { EVP_PKEY_RSA, EVP_PKEY_ED25519 };
	struct dkim_pkey_cache *c = dkim_pkey_cache_new(8);
	char old_txt[4096], new_txt[4096];
	size_t t;
	int i;

	(void)state;
	assert_non_null(c);
	for (t = 0; t < 2; t++) {
		EVP_PKEY *old_key = keygen(types[t]), *new_key = keygen(types[t]);

		key_record(old_key, old_txt, sizeof(old_txt));
		key_record(new_key, new_txt, sizeof(new_txt));
		/* without, then with the cache (a miss, then hits): pass */
		assert_int_equal(sign_and_verify(old_key, old_txt, NULL), DKIM_RES_PASS);
		for (i = 0; i < 3; i++)
			assert_int_equal(sign_and_verify(old_key, old_txt, c), DKIM_RES_PASS);
		/* the record now holds another key: the old key's signature
		 * fails, though the old key is still cached */
		assert_int_equal(sign_and_verify(old_key, new_txt, c), DKIM_RES_FAIL);
		assert_int_equal(sign_and_verify(new_key, new_txt, c), DKIM_RES_PASS);
		/* and the revoked record is not answered from the cache */
		assert_int_equal(sign_and_verify(new_key, "v=DKIM1; p=", c), DKIM_RES_FAIL);
		EVP_PKEY_free(old_key);
		EVP_PKEY_free(new_key);
	}
	dkim_pkey_cache_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_content_keyed_and_bounded),
		cmocka_unit_test(test_verifier_with_cache),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
