/*
 * fuzz_lists.c - list members as an admin writes them (sluice.conf
 * lists, the Redis lists): common/patterns.c classifies each item
 * (/regex/, IP or CIDR, address, domain), and common/lists_read.c's
 * member rule (an IP list takes only what net_cidr_parse() takes) picks
 * which. Input: first byte selects an IP list (odd) or not; then one
 * member a line; the last line is the lookup (address, domain and IP).
 * Properties: pattern_check() refuses exactly what pattern_list_add()
 * refuses; a sealed list's lookups never crash or hang (PCRE2 limits);
 * an exact member added is found again.
 */
#include <ctype.h>

#include "fuzz.h"
#include "network.h"
#include "patterns.h"

#define ITEMS_MAX 48

static int old_sealed;

/* pattern_list_add_reuse() reads a sealed old list: seal it first. */
static void
seal_once(struct pattern_list *old)
{
	if (!old_sealed)
		pattern_list_seal(old);
	old_sealed = 1;
}

static int
add_second(struct pattern_list *list, const char *item, struct pattern_list *old,
	   const char **why)
{
	seal_once(old);
	return pattern_list_add_reuse(list, item, old, why);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line[ITEMS_MAX + 1];
	struct pattern_list list, old;
	struct net_addr ip;
	const char *why;
	const char *probe;
	size_t n, i, added = 0;
	int ip_only;

	if (size < 1 || size > 8192)
		return 0;
	ip_only = data[0] & 1;
	old_sealed = 0;
	memset(&list, 0, sizeof(list));
	memset(&old, 0, sizeof(old));
	n = fuzz_lines(data + 1, size - 1, line, ITEMS_MAX + 1);
	for (i = 0; i + 1 < n; i++) {
		struct net_cidr block;
		const char *check;
		int rc;

		if (ip_only && net_cidr_parse(line[i], &block) < 0)
			continue;
		check = pattern_check(line[i]);
		/* the second half reuses the first half's compiled regexes */
		rc = i < n / 2 ? pattern_list_add(&old, line[i], &why)
			       : add_second(&list, line[i], &old, &why);
		FUZZ_ASSERT((check == NULL) == (rc == 0));
		if (rc < 0)
			FUZZ_ASSERT(why != NULL);
		else
			added++;
	}
	seal_once(&old);
	pattern_list_seal(&list);
	FUZZ_ASSERT(pattern_list_size(&old) + pattern_list_size(&list) <= added);
	(void)pattern_list_bytes(&list);
	probe = n > 0 ? line[n - 1] : "";
	(void)pattern_match_address(&list, probe);
	(void)pattern_match_address(&old, probe);
	(void)pattern_match_domain(&list, probe, true);
	(void)pattern_match_domain(&old, probe, false);
	if (net_addr_parse(probe, &ip) == 0) {
		(void)pattern_match_ip(&list, &ip);
		(void)pattern_match_ip(&old, &ip);
	}
	/* an exact member (no regex, no network, already lowercase) matches itself */
	for (i = n / 2; i + 1 < n; i++) {
		const char *m = line[i];
		size_t k;
		int plain = m[0] != '\0' && m[0] != '/' && strchr(m, '@') == NULL && !ip_only
			    && strlen(m) <= ADDRESS_DOMAIN_MAX;	/* an item may be 256 bytes */

		for (k = 0; plain && m[k]; k++)
			plain = islower((unsigned char)m[k]) || isdigit((unsigned char)m[k]) || m[k] == '.'
				|| m[k] == '-';
		if (plain && pattern_check(m) == NULL && net_addr_parse(m, &ip) < 0) {
			struct net_cidr c;

			if (net_cidr_parse(m, &c) < 0)
				FUZZ_ASSERT(pattern_match_domain(&list, m, false));
		}
	}
	pattern_list_free(&list);
	pattern_list_free(&old);
	fuzz_lines_free(line, n);
	return 0;
}
