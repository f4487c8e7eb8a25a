/*
 * test_dkim_verify.c - the DKIM verifier (milter/dkim_verify.h) on
 * malformed and oversized input, its bounds, the key source statuses and
 * the resinfo formatting. (Verdicts on well-formed signatures are proven
 * against libopendkim and python3-dkim in test_dkim_vdiff.c.) Every case
 * must give a result, never a crash; the suite runs under ASan/UBSan in
 * `make asan` and was run under valgrind (see the report).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkim_canon.h"
#include "dkim_tags.h"
#include "dkim_verify.h"
#include "dkim_vsig.h"

static const char body[] = "Hello\r\n\r\nBye\r\n";
static char bh_relaxed[64];

static const struct dkim_key_table keys[] = {
	{ "rsa._domainkey.example.test", "v=DKIM1; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA", DKIM_DNS_OK },
	{ "slow._domainkey.example.test", NULL, DKIM_DNS_TEMPERROR },
	{ "nodata._domainkey.example.test", NULL, DKIM_DNS_NODATA },
	{ "revoked._domainkey.example.test", "v=DKIM1; p=", DKIM_DNS_OK },
	{ "junk._domainkey.example.test", "\x01\x02 garbage ;;", DKIM_DNS_OK },
	{ NULL, NULL, DKIM_DNS_OK },
};

/* Verifies one message with the given DKIM-Signature values (NULL-ended)
 * and returns the results (copied into out). */
static size_t
run(const char *const *sigs, struct dkim_sigresult *out, size_t max, size_t *unchecked,
    const struct dkim_verify_limits *lim)
{
	struct dkim_key_source src = dkim_key_source_table(keys);
	const struct dkim_sigresult *res;
	struct dkim_verify *v = dkim_verify_new(lim, &src);
	size_t n, i;

	assert_non_null(v);
	for (i = 0; sigs[i]; i++)
		assert_int_equal(dkim_verify_header(v, "DKIM-Signature", sigs[i]), 0);
	assert_int_equal(dkim_verify_header(v, "From", " a@example.test"), 0);
	assert_int_equal(dkim_verify_header(v, "Subject", " \xc3\xa4 8-bit \x01\x7f"), 0);
	assert_int_equal(dkim_verify_eoh(v), 0);
	assert_int_equal(dkim_verify_body(v, (const unsigned char *)body, 3), 0);
	assert_int_equal(dkim_verify_body(v, (const unsigned char *)body + 3, strlen(body) - 3), 0);
	n = dkim_verify_finish(v, &res, unchecked);
	assert_true(n <= max);
	memcpy(out, res, n * sizeof(*res));
	dkim_verify_free(v);
	return n;
}

static enum dkim_res
one(const char *sig, char *reason, size_t size)
{
	const char *sigs[] = { sig, NULL };
	struct dkim_sigresult r;
	size_t unchecked;

	assert_int_equal(run(sigs, &r, 1, &unchecked, NULL), 1);
	snprintf(reason, size, "%s", r.reason);
	return r.result;
}

static int
setup(void **state)
{
	unsigned char h[DKIM_HASH_LEN];
	struct dkim_body b;

	(void)state;
	assert_int_equal(dkim_body_init(&b, CANON_RELAXED, EVP_sha256()), 0);
	assert_int_equal(dkim_body_update(&b, (const unsigned char *)body, strlen(body)), 0);
	assert_int_equal(dkim_body_final(&b, h), 0);
	dkim_body_free(&b);
	dkim_base64(bh_relaxed, h, sizeof(h));
	return 0;
}

static void
test_garbage_signatures(void **state)
{
	static const char *const garbage[] = {
		"", " ", ";", ";;;", "=", "v", "v=", "v=1", "v=1;;", "a=rsa-sha256; b=",
		" v=1; a=rsa-sha256; d=example.test; s=rsa; h=from; bh=; b=",
		" v=1; a=rsa-sha256; d=example.test; s=rsa; h=from; bh=!!!!; b=AAAA",
		" v=1; a=rsa-sha256; d=example.test; s=rsa; h=from; bh=AAAA; b=AAA",
		" v=1; a=rsa-sha256; d=ex\xe4mple.test; s=rsa; h=from; bh=AAAA; b=AAAA",
		" v=1; a=rsa-sha256; d=..; s=rsa; h=from; bh=AAAA; b=AAAA",
		" v=1; a=rsa-sha256; d=example.test; s=a/b; h=from; bh=AAAA; b=AAAA",
		" v=1; a=rsa-sha256; d=example.test; s=rsa; h=:from:; bh=AAAA; b=AAAA",
		" v=1; a=rsa-sha256; d=example.test; s=rsa; h=from; l=-1; bh=AAAA; b=AAAA",
		" v=1; a=rsa-sha256; d=example.test; s=rsa; h=from; t=abc; bh=AAAA; b=AAAA",
		" v=1; a=rsa-sha256; d=example.test; s=rsa; h=from; t=99999999999999999999; bh=AAAA; b=AAAA",
		" v=1; a=rsa-sha256; d=example.test; s=rsa; h=from; t=200; x=100; bh=AAAA; b=AAAA",
		" v=1; a=rsa-sha256; d=example.test; s=rsa; h=from; i=nobody; bh=AAAA; b=AAAA",
		" v=1; a=rsa-sha256; q=http; d=example.test; s=rsa; h=from; bh=AAAA; b=AAAA",
		" v=1; a=rsa-sha256; c=relaxed/; d=example.test; s=rsa; h=from; bh=AAAA; b=AAAA",
		" v=1; v=1; a=rsa-sha256; d=example.test; s=rsa; h=from; bh=AAAA; b=AAAA",
		" v=1; a=rsa-sha256; d=example.test; s=rsa; h=from; bh=AAAA; b=AAAA; 1=2",
		" v=1; a=rsa-sha256; d=example.test; s=rsa; h=from; bh=AAAA; b=AAAA; x y=2",
	};
	char reason[DKIM_RES_REASON_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		enum dkim_res r = one(garbage[i], reason, sizeof(reason));

		if (r != DKIM_RES_PERMERROR)
			fail_msg("#%zu \"%s\": %s (%s), want permerror", i, garbage[i],
				 dkim_res_name(r), reason);
		assert_true(reason[0] != '\0');
	}
}

static char *
sig_with(const char *a, const char *sel, const char *extra, size_t bsize)
{
	size_t n = 512 + strlen(extra) + bsize;
	char *s = malloc(n), *p;
	size_t i;

	p = s + snprintf(s, n, " v=1; a=%s; c=relaxed/relaxed; d=example.test; s=%s; %s"
			 "h=from:subject; bh=%s; b=", a, sel, extra, bh_relaxed);
	for (i = 0; i < bsize; i++)
		*p++ = "ABCD"[i % 4];
	*p = '\0';
	return s;
}

static void
test_huge_b_and_long_header(void **state)
{
	char reason[DKIM_RES_REASON_MAX], *s = sig_with("rsa-sha256", "rsa", "", 100 * 1024);

	(void)state;
	assert_int_equal(one(s, reason, sizeof(reason)), DKIM_RES_PERMERROR);
	assert_string_equal(reason, "signature too long");
	free(s);
	/* within the header bound but b= longer than any key's signature */
	s = sig_with("rsa-sha256", "rsa", "", 8000);
	assert_int_equal(one(s, reason, sizeof(reason)), DKIM_RES_PERMERROR);
	assert_string_equal(reason, "bad b=");
	free(s);
}

static void
test_key_source_statuses(void **state)
{
	static const struct { const char *sel; enum dkim_res want; const char *reason; } c[] = {
		{ "slow", DKIM_RES_TEMPERROR, "key lookup failed" },
		{ "nodata", DKIM_RES_PERMERROR, "no key" },
		{ "absent", DKIM_RES_PERMERROR, "no key" },
		{ "revoked", DKIM_RES_FAIL, "key revoked" },
		{ "junk", DKIM_RES_PERMERROR, "bad key record" },
		{ "rsa", DKIM_RES_PERMERROR, "bad key p=" },	/* truncated DER */
	};
	char reason[DKIM_RES_REASON_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		char *s = sig_with("rsa-sha256", c[i].sel, "", 344);

		assert_int_equal(one(s, reason, sizeof(reason)), c[i].want);
		assert_string_equal(reason, c[i].reason);
		free(s);
	}
}

static void
test_sha1_policy_or_fail(void **state)
{
	const char *sigs[2] = { NULL, NULL };
	struct dkim_verify_limits lim;
	struct dkim_sigresult r;
	size_t unchecked;
	char *s = sig_with("rsa-sha1", "rsa", "", 344);

	(void)state;
	sigs[0] = s;
	dkim_verify_limits_default(&lim);
	assert_int_equal(run(sigs, &r, 1, &unchecked, &lim), 1);
	assert_int_equal(r.result, DKIM_RES_POLICY);
	lim.sha1_fail = true;
	assert_int_equal(run(sigs, &r, 1, &unchecked, &lim), 1);
	assert_int_equal(r.result, DKIM_RES_FAIL);
	free(s);
}

static void
test_signature_bound(void **state)
{
	const char *sigs[21];
	char *s[20];
	struct dkim_sigresult r[8];
	size_t i, unchecked;

	(void)state;
	for (i = 0; i < 20; i++)
		sigs[i] = s[i] = sig_with("ed25519-sha256", "slow", "", 88);
	sigs[20] = NULL;
	assert_int_equal(run(sigs, r, 8, &unchecked, NULL), 8);
	assert_int_equal(unchecked, 12);
	for (i = 0; i < 8; i++)
		assert_int_equal(r[i].result, DKIM_RES_TEMPERROR);
	for (i = 0; i < 20; i++)
		free(s[i]);
}

/* The same body canonicalization is hashed once for several signatures,
 * and l= gets a hasher of its own; body hash mismatch is a fail. */
static void
test_body_hash_shared(void **state)
{
	struct dkim_key_source src = dkim_key_source_table(keys);
	struct dkim_verify *v = dkim_verify_new(NULL, &src);
	const struct dkim_sigresult *res;
	const char *q[4];
	char *a = sig_with("rsa-sha256", "slow", "", 344), *b = sig_with("ed25519-sha256", "slow", "", 88);
	char *c = sig_with("rsa-sha256", "nodata", "l=3; ", 344);
	size_t unchecked;

	(void)state;
	assert_int_equal(dkim_verify_header(v, "DKIM-Signature", a), 0);
	assert_int_equal(dkim_verify_header(v, "DKIM-Signature", b), 0);
	assert_int_equal(dkim_verify_header(v, "dkim-signature", c), 0);
	assert_int_equal(dkim_verify_header(v, "From", " a@example.test"), 0);
	assert_int_equal(dkim_verify_eoh(v), 0);
	assert_int_equal(dkim_verify_qnames(v, q, 4), 2);
	assert_string_equal(q[0], "slow._domainkey.example.test");
	assert_string_equal(q[1], "nodata._domainkey.example.test");
	assert_int_equal(dkim_verify_body(v, (const unsigned char *)body, strlen(body)), 0);
	assert_int_equal(dkim_verify_finish(v, &res, &unchecked), 3);
	assert_int_equal(res[0].result, DKIM_RES_TEMPERROR);	/* body hash matched */
	assert_int_equal(res[1].result, DKIM_RES_TEMPERROR);
	assert_int_equal(res[2].result, DKIM_RES_FAIL);	/* l=3: another hash */
	assert_string_equal(res[2].reason, "body hash mismatch");
	dkim_verify_free(v);
	free(a);
	free(b);
	free(c);
}

static void
test_tags_parser(void **state)
{
	struct dkim_tags t;
	const char *why;

	(void)state;
	assert_int_equal(dkim_tags_parse(&t, " a = b c ;\r\n\td=x\n\t y ; ", &why), 0);
	assert_int_equal(t.count, 2);
	assert_string_equal(dkim_tags_get(&t, "a"), "bc");
	assert_string_equal(dkim_tags_get(&t, "d"), "xy");
	assert_null(dkim_tags_get(&t, "b"));
	dkim_tags_free(&t);
	assert_int_equal(dkim_tags_parse(&t, "a=1;;b=2", &why), -1);
	assert_int_equal(dkim_tags_parse(&t, "a=1; a=2", &why), -1);
	assert_string_equal(why, "duplicate tag");
	assert_int_equal(dkim_tags_parse(&t, "a=\xff", &why), -1);
	assert_int_equal(dkim_tags_parse(&t, "_a=1", &why), -1);
}

static void
test_base64(void **state)
{
	unsigned char out[8];

	(void)state;
	assert_int_equal(dkim_base64_decode("", out, sizeof(out)), 0);
	assert_int_equal(dkim_base64_decode("YQ==", out, sizeof(out)), 1);
	assert_int_equal(out[0], 'a');
	assert_int_equal(dkim_base64_decode("YWI=", out, sizeof(out)), 2);
	assert_int_equal(dkim_base64_decode("YWJj", out, sizeof(out)), 3);
	assert_memory_equal(out, "abc", 3);
	assert_int_equal(dkim_base64_decode("YWJ", out, sizeof(out)), -1);
	assert_int_equal(dkim_base64_decode("Y===", out, sizeof(out)), -1);
	assert_int_equal(dkim_base64_decode("YW=j", out, sizeof(out)), -1);
	assert_int_equal(dkim_base64_decode("YWJjYWJjYWJj", out, sizeof(out)), -1);	/* 9 > 8 */
}

static void
test_resinfo(void **state)
{
	struct dkim_sigresult r = { .result = DKIM_RES_PASS, .d = "example.test", .s = "s1",
				    .a = "rsa-sha256", .b = "ab/c+d=e" };
	char buf[256];
	int n;

	(void)state;
	n = dkim_result_resinfo(&r, buf, sizeof(buf));
	assert_int_equal(n, (int)strlen(buf));
	assert_string_equal(buf, "dkim=pass header.d=example.test header.s=s1 "
			    "header.a=rsa-sha256 header.b=\"ab/c+d=e\"");
	r.result = DKIM_RES_FAIL;
	snprintf(r.reason, sizeof(r.reason), "bad (x) \\");
	snprintf(r.b, sizeof(r.b), "abcdefgh");
	snprintf(r.s, sizeof(r.s), "\xe4");	/* not ASCII: left out */
	r.testing = true;
	dkim_result_resinfo(&r, buf, sizeof(buf));
	assert_string_equal(buf, "dkim=fail (bad \\(x\\) \\\\; test key) header.d=example.test "
			    "header.a=rsa-sha256 header.b=abcdefgh");
	assert_int_equal(dkim_result_resinfo(&r, buf, 10), -1);
	assert_string_equal(buf, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_garbage_signatures),
		cmocka_unit_test(test_huge_b_and_long_header),
		cmocka_unit_test(test_key_source_statuses),
		cmocka_unit_test(test_sha1_policy_or_fail),
		cmocka_unit_test(test_signature_bound),
		cmocka_unit_test(test_body_hash_shared),
		cmocka_unit_test(test_tags_parser),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_resinfo),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
