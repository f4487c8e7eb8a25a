/*
 * fuzz_address.c - RFC 5321 paths (common/address.c) as the milter and
 * the policy protocol hand them over.
 * Properties: a parsed address respects every bound of address.h; its
 * canonical form parses again to the same canonical form (idempotent)
 * when its local part is a dot-atom;
 * address_lower() fits and is the lowercase of full.
 */
#include <ctype.h>

#include "address.h"
#include "fuzz.h"

static int
dot_atom(const char *s)
{
	if (*s == '\0' || *s == '.')
		return 0;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || strchr("!#$%&'*+-/=?^_`{|}~.", *s))
		    || (s[0] == '.' && (s[1] == '.' || s[1] == '\0')))
			return 0;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct address a, b;
	char lower[ADDRESS_MAX + 1], tiny[8];
	const char *why = NULL;
	char *text;
	size_t i;

	if (size > 4096)
		return 0;
	text = fuzz_str(data, size);
	if (address_parse(text, &a, &why) == 0) {
		FUZZ_ASSERT(strlen(a.local) <= ADDRESS_LOCAL_MAX);
		FUZZ_ASSERT(strlen(a.domain) <= ADDRESS_DOMAIN_MAX);
		FUZZ_ASSERT(strlen(a.full) <= ADDRESS_MAX);
		for (i = 0; a.domain[i]; i++)
			FUZZ_ASSERT(!isupper((unsigned char)a.domain[i]));
		address_lower(&a, lower, sizeof(lower));
		FUZZ_ASSERT(strlen(lower) == strlen(a.full));
		for (i = 0; lower[i]; i++)
			FUZZ_ASSERT(lower[i] == (char)tolower((unsigned char)a.full[i]));
		address_lower(&a, tiny, sizeof(tiny));
		FUZZ_ASSERT(strlen(tiny) < sizeof(tiny));
		/* full is Postfix's unquoted form: it reads back the same when
		 * the local part is a dot-atom ("<a>"@x would not: by design) */
		if (!a.is_null && a.full[0] != '\0' && dot_atom(a.local)) {
			FUZZ_ASSERT(address_parse(a.full, &b, &why) == 0);
			FUZZ_ASSERT(strcmp(a.full, b.full) == 0);
		}
	} else {
		FUZZ_ASSERT(why != NULL);
	}
	free(text);
	return 0;
}
