/*
 * fuzz_dkim_key.c - DKIM key records from DNS (RFC 6376 3.6.1, RFC 8463)
 * as the verifier checks them against a signature
 * (milter/dkim_vsig.c: dkim_vkey_parse(), strict base64, the public key
 * decoded with OpenSSL). Input: byte 0 picks the signature the record is
 * for (rsa-sha256 or ed25519-sha256, i= equal to d= or in a subdomain,
 * for t=s); the rest is the TXT record (its strings concatenated).
 * Properties: a usable key has a key and a size within the limits; an
 * unusable one a result that is not pass, and a reason.
 */
#include "dkim_verify.h"
#include "dkim_vsig.h"
#include "fuzz.h"

#define NOW 1796299875

static const char *const sigtext[4] = {
	" v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.test; s=sel; h=from:subject;"
	" bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA",
	" v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.test; s=sel; h=from;"
	" bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA",
	" v=1; a=rsa-sha256; d=example.test; i=@mail.example.test; s=sel; h=from;"
	" bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA",
	" v=1; a=ed25519-sha256; d=example.test; i=u@example.test; s=sel; h=from;"
	" bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA",
};
static struct dkim_vsig sigs[4];
static struct dkim_verify_limits lim;
static int ready;

static void
setup(void)
{
	struct dkim_sigresult res;
	int i;

	dkim_verify_limits_default(&lim);
	lim.now = NOW;
	for (i = 0; i < 4; i++) {
		memset(&res, 0, sizeof(res));
		if (dkim_vsig_parse(&sigs[i], sigtext[i], &lim, NOW, &res) != 0) {
			fprintf(stderr, "fuzz_dkim_key: signature %d: %s\n", i, res.reason);
			abort();
		}
	}
	ready = 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dkim_vkey key;
	enum dkim_res result = DKIM_RES_PASS;
	const char *why = NULL;
	char *txt;

	if (!ready)
		setup();
	if (size < 1 || size > DKIM_TXT_MAX)
		return 0;
	txt = fuzz_str(data + 1, size - 1);
	memset(&key, 0, sizeof(key));
	if (dkim_vkey_parse(txt, &sigs[data[0] & 3], &lim, &key, &result, &why) == 0) {
		FUZZ_ASSERT(key.pkey != NULL);
		if ((data[0] & 1) == 0)
			FUZZ_ASSERT(key.bits >= lim.rsa_min_bits && key.bits <= lim.rsa_max_bits);
	} else {
		FUZZ_ASSERT(result != DKIM_RES_PASS && why != NULL);
	}
	dkim_vkey_free(&key);
	free(txt);
	return 0;
}
