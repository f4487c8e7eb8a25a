/*
 * fuzz_dkim_from.c - what the signer reads out of header values
 * (milter/dkim_parse.c): the From: author's mailbox and domain (RFC 5322
 * with comments, quoted strings, encoded words, UTF-8 domains through
 * libidn2) and d=/s= of an existing DKIM-Signature.
 * Properties: outputs stay within their buffers, also tiny ones;
 * dkim_from_domain() agrees with dkim_from_mailbox()'s domain.
 */
#include "dkim_parse.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char local[DKIM_LOCAL_MAX + 1], domain[DKIM_DOMAIN_MAX + 1], dom2[DKIM_DOMAIN_MAX + 1];
	char d[64], s[64], tl[4], td[4];
	const char *why = NULL;
	char *value;
	int rc;

	if (size > 16384)
		return 0;
	value = fuzz_str(data, size);
	rc = dkim_from_mailbox(value, local, sizeof(local), domain, sizeof(domain), &why);
	if (rc == 0) {
		FUZZ_ASSERT(strlen(local) < sizeof(local) && strlen(domain) < sizeof(domain));
		FUZZ_ASSERT(domain[0] != '\0');
		FUZZ_ASSERT(dkim_from_domain(value, dom2, sizeof(dom2), &why) == 0);
		FUZZ_ASSERT(strcmp(domain, dom2) == 0);
	} else {
		FUZZ_ASSERT(why != NULL);
		FUZZ_ASSERT(dkim_from_domain(value, dom2, sizeof(dom2), &why) != 0);
	}
	(void)dkim_from_mailbox(value, tl, sizeof(tl), td, sizeof(td), &why);
	if (dkim_sig_identity(value, d, sizeof(d), s, sizeof(s)) == 0)
		FUZZ_ASSERT(strlen(d) < sizeof(d) && strlen(s) < sizeof(s));
	(void)dkim_sig_identity(value, tl, sizeof(tl), td, sizeof(td));
	free(value);
	return 0;
}
