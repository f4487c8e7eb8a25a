/*
 * dkim-verify-bench.c - CPU cost of verifying one DKIM signature with
 * milter/dkim_verify.h, next to the bare public-key operation it cannot
 * avoid (EVP_PKEY_verify / EVP_DigestVerify with a fresh context, as the
 * verifier does), for RSA-2048 and Ed25519, on a 4 KiB message; plus
 * the same message with 4 signatures sharing one body canonicalization.
 * Rounds of each are interleaved; medians of per-operation CPU time
 * (CLOCK_PROCESS_CPUTIME_ID) are printed, and the verifier/crypto ratio.
 *
 *   build/bench/dkim-verify-bench [rounds] [ops per round]
 */
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dkim_sig.h"
#include "dkim_verify.h"

#define NSIG_MAX 4

struct setup {
	struct dkim_key key;
	char txt[4200];
	struct dkim_key_table table[2];
	char *sig[NSIG_MAX];
	unsigned char digest[32], raw[1024];
	size_t rawlen;
};

static char body[4096 + 64];
static const char *hname[] = { "From", "To", "Subject", "Date", "Message-Id" };
static const char *hval[] = { " a@example.test", " b@other.test", " bench", " Thu, 3 Dec 2026 12:00:00 +0000", " <x@example.test>" };

static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
prepare(struct setup *s, int type, const char *sel)
{
	static char *names[] = { "From", "To", "Subject", "Date", "Message-Id" };
	struct strlist hl = { names, 5 };
	struct dkim_sign_params p = { CANON_RELAXED, CANON_RELAXED, &hl, NULL, EVP_sha256(), time(NULL), 0 };
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(type, NULL);
	struct dkim_headers h = { 0 };
	struct dkim_prepared pr;
	struct dkim_body b;
	struct dkim_buf v;
	unsigned char bh[32], der[2048], *dp = der;
	char b64[4096], err[256];
	size_t len = sizeof(der), i;

	EVP_PKEY_keygen_init(ctx);
	if (type == EVP_PKEY_RSA)
		EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048);
	EVP_PKEY_keygen(ctx, &s->key.pkey);
	EVP_PKEY_CTX_free(ctx);
	s->key.domain = (char *)(uintptr_t)"example.test";
	s->key.selector = (char *)(uintptr_t)sel;
	s->key.alg = type == EVP_PKEY_RSA ? DKIM_ALG_RSA_SHA256 : DKIM_ALG_ED25519_SHA256;
	if (type == EVP_PKEY_RSA)
		len = (size_t)i2d_PUBKEY(s->key.pkey, &dp);
	else
		EVP_PKEY_get_raw_public_key(s->key.pkey, der, &len);
	dkim_base64(b64, der, len);
	snprintf(s->txt, sizeof(s->txt), "v=DKIM1; k=%s; p=%s", type == EVP_PKEY_RSA ? "rsa" : "ed25519", b64);
	s->table[0].qname = type == EVP_PKEY_RSA ? "rsa._domainkey.example.test" : "ed._domainkey.example.test";
	s->table[0].txt = s->txt;
	for (i = 0; i < 5; i++)
		dkim_headers_add(&h, hname[i], hval[i]);
	dkim_body_init(&b, CANON_RELAXED, EVP_sha256());
	dkim_body_update(&b, (const unsigned char *)body, strlen(body));
	dkim_body_final(&b, bh);
	dkim_body_free(&b);
	dkim_sig_prepare(&p, &h, &pr, err, sizeof(err));
	for (i = 0; i < NSIG_MAX; i++) {
		if (dkim_sig_make(&p, &pr, &s->key, bh, &v, err, sizeof(err)) < 0) {
			fprintf(stderr, "sign: %s\n", err);
			exit(1);
		}
		s->sig[i] = v.data;
	}
	dkim_prepared_free(&pr);
	dkim_headers_free(&h);
	/* a raw signature over a digest, for the crypto-only rounds */
	memset(s->digest, 7, 32);
	s->rawlen = sizeof(s->raw);
	if (type == EVP_PKEY_RSA) {
		ctx = EVP_PKEY_CTX_new_from_pkey(NULL, s->key.pkey, NULL);
		EVP_PKEY_sign_init(ctx);
		EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING);
		EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256());
		EVP_PKEY_sign(ctx, s->raw, &s->rawlen, s->digest, 32);
		EVP_PKEY_CTX_free(ctx);
	} else {
		EVP_MD_CTX *md = EVP_MD_CTX_new();

		EVP_DigestSignInit_ex(md, NULL, NULL, NULL, NULL, s->key.pkey, NULL);
		EVP_DigestSign(md, s->raw, &s->rawlen, s->digest, 32);
		EVP_MD_CTX_free(md);
	}
}

/* The verifier must parse the key from its TXT record each message, so
 * the crypto baseline decodes the public key too (d2i + verify). */
static int
crypto_only(const struct setup *s, const unsigned char *der, size_t derlen)
{
	const unsigned char *p = der;
	EVP_PKEY *pk;
	int ok;

	if (s->key.alg == DKIM_ALG_RSA_SHA256) {
		EVP_PKEY_CTX *ctx;

		pk = d2i_PUBKEY(NULL, &p, (long)derlen);
		ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
		ok = EVP_PKEY_verify_init(ctx) == 1 && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1
		    && EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1
		    && EVP_PKEY_verify(ctx, s->raw, s->rawlen, s->digest, 32) == 1;
		EVP_PKEY_CTX_free(ctx);
	} else {
		EVP_MD_CTX *md = EVP_MD_CTX_new();

		pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der, derlen);
		ok = EVP_DigestVerifyInit_ex(md, NULL, NULL, NULL, NULL, pk, NULL) == 1
		    && EVP_DigestVerify(md, s->raw, s->rawlen, s->digest, 32) == 1;
		EVP_MD_CTX_free(md);
	}
	EVP_PKEY_free(pk);
	return ok;
}

static int
verify_msg(const struct setup *s, size_t nsig)
{
	struct dkim_key_source src = dkim_key_source_table(s->table);
	const struct dkim_sigresult *res;
	struct dkim_verify *v = dkim_verify_new(NULL, &src);
	size_t i, n, pass = 0;

	for (i = 0; i < nsig; i++)
		dkim_verify_header(v, "DKIM-Signature", s->sig[i]);
	for (i = 0; i < 5; i++)
		dkim_verify_header(v, hname[i], hval[i]);
	dkim_verify_eoh(v);
	dkim_verify_body(v, (const unsigned char *)body, strlen(body));
	n = dkim_verify_finish(v, &res, NULL);
	for (i = 0; i < n; i++)
		pass += res[i].result == DKIM_RES_PASS;
	dkim_verify_free(v);
	return pass == nsig;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 7, ops = argc > 2 ? atoi(argv[2]) : 300, r, i, k;
	static struct setup st[2];
	double t[3][2][64], t0;
	unsigned char der[2][2048];
	size_t derlen[2];
	const char *alg[2] = { "rsa-2048", "ed25519" };

	if (rounds > 64)
		rounds = 64;
	for (i = 0; i < 4096; i++)
		body[i] = (i % 70 == 69) ? '\n' : "lorem ipsum  dolor\t"[i % 19];
	prepare(&st[0], EVP_PKEY_RSA, "rsa");
	prepare(&st[1], EVP_PKEY_ED25519, "ed");
	for (k = 0; k < 2; k++) {
		unsigned char *p = der[k];

		derlen[k] = sizeof(der[k]);
		if (k == 0)
			derlen[k] = (size_t)i2d_PUBKEY(st[k].key.pkey, &p);
		else
			EVP_PKEY_get_raw_public_key(st[k].key.pkey, der[k], &derlen[k]);
	}
	for (r = 0; r < rounds; r++)
		for (k = 0; k < 2; k++) {
			t0 = cpu_now();
			for (i = 0; i < ops; i++)
				if (!crypto_only(&st[k], der[k], derlen[k]))
					return 1;
			t[0][k][r] = (cpu_now() - t0) / ops;
			t0 = cpu_now();
			for (i = 0; i < ops; i++)
				if (!verify_msg(&st[k], 1))
					return fprintf(stderr, "verify failed\n"), 1;
			t[1][k][r] = (cpu_now() - t0) / ops;
			t0 = cpu_now();
			for (i = 0; i < ops; i++)
				if (!verify_msg(&st[k], NSIG_MAX))
					return fprintf(stderr, "verify x4 failed\n"), 1;
			t[2][k][r] = (cpu_now() - t0) / ops / NSIG_MAX;
		}
	printf("%d rounds x %d ops, 4 KiB body, relaxed/relaxed, median CPU us per signature\n", rounds, ops);
	for (k = 0; k < 2; k++) {
		double m[3];

		for (i = 0; i < 3; i++) {
			qsort(t[i][k], (size_t)rounds, sizeof(double), cmp);
			m[i] = t[i][k][rounds / 2] * 1e6;
		}
		printf("%-9s crypto (key decode + verify) %7.1f | dkim_verify 1 sig %7.1f (x%.2f) | 4 sigs, per sig %7.1f (x%.2f)\n",
		       alg[k], m[0], m[1], m[1] / m[0], m[2], m[2] / m[0]);
	}
	for (k = 0; k < 2; k++) {
		for (i = 0; i < NSIG_MAX; i++)
			free(st[k].sig[i]);
		EVP_PKEY_free(st[k].key.pkey);
	}
	return 0;
}
