/*
 * test_dkim_from.c - the signer's From: parser against Python's email
 * parsers, over the corpus of odd From: values in t/dkim/from-corpus.txt
 * (unquoted specials in display names, comments, several addresses,
 * groups, encoded words, escapes, trailing text, routes, folding, 8-bit
 * and control bytes).
 *
 * t/tools/from_oracle.py reads each value with Python's modern parser
 * (email.policy.default) and its legacy one (email.utils.getaddresses).
 * The rule checked: for each value, dkim_from_mailbox() either refuses
 * it, or yields exactly the one address the modern parser yields, without
 * a defect (Python keeps a@x.test of "<a@x.test>c@y.test" but calls it
 * invalid), and the legacy parser yields that address too or none. Signing only then means
 * no reader we know of takes another author than the one we sign for.
 * Common forms marked "+|" in the corpus must be accepted, so refusing
 * everything does not pass either.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <idn2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkim_parse.h"

#define CORPUS_MIN 40

/* Hex to bytes, NUL-terminated; "-" is the empty string. */
static void
unhex(const char *hex, char *out, size_t size)
{
	size_t n = strlen(hex), i;
	unsigned int byte;

	if (strcmp(hex, "-") == 0)
		n = 0;
	assert_true(n % 2 == 0 && n / 2 < size);
	for (i = 0; i < n / 2; i++) {
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &byte), 1);
		out[i] = (char)byte;
	}
	out[n / 2] = '\0';
}

/* The value with control bytes shown, for failure messages. */
static const char *
shown(const char *v)
{
	static char buf[2048];
	size_t o = 0;

	for (; *v && o + 5 < sizeof(buf); v++) {
		unsigned char c = (unsigned char)*v;

		o += (size_t)snprintf(buf + o, sizeof(buf) - o, c < 0x20 || c >= 0x7f ? "\\x%02x" : "%c", c);
	}
	buf[o] = '\0';
	return buf;
}

/* Python gives an internationalized domain as UTF-8; we give its A-label
 * (dkim_parse.h): the same author, so compare in A-label form. */
static void
a_label_address(char *addr, size_t size)
{
	char *at = strrchr(addr, '@'), *ascii = NULL;

	if (at == NULL || idn2_to_ascii_8z(at + 1, &ascii, IDN2_NONTRANSITIONAL) != IDN2_OK)
		return;
	if ((size_t)(at + 1 - addr) + strlen(ascii) < size)
		memcpy(at + 1, ascii, strlen(ascii) + 1);
	idn2_free(ascii);
}

static void
test_against_python(void **state)
{
	char cmd[1024], line[8192], value[4096], modern[1024], legacy[1024];
	char hv[8192], hm[2048], hl[2048], local[DKIM_LOCAL_MAX + 1], domain[DKIM_DOMAIN_MAX + 1];
	char ours[DKIM_LOCAL_MAX + DKIM_DOMAIN_MAX + 2];
	unsigned entries = 0, signed_ = 0, bad = 0;
	const char *why;
	int valid, must, rc;
	FILE *p;

	(void)state;
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/t/tools/from_oracle.py %s/t/dkim/from-corpus.txt",
		 SRCDIR, SRCDIR);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p) != NULL) {
		if (sscanf(line, "%8191s %2047s %d %2047s %d", hv, hm, &valid, hl, &must) != 5)
			fail_msg("from_oracle.py: unexpected line: %s", line);
		unhex(hv, value, sizeof(value));
		unhex(hm, modern, sizeof(modern));
		unhex(hl, legacy, sizeof(legacy));
		a_label_address(modern, sizeof(modern));
		a_label_address(legacy, sizeof(legacy));
		entries++;
		why = NULL;
		rc = dkim_from_mailbox(value, local, sizeof(local), domain, sizeof(domain), &why);
		if (rc < 0) {
			assert_non_null(why);
			if (must) {
				print_error("From:%s refused (%s), a common form we must sign\n",
					    shown(value), why);
				bad++;
			}
			continue;
		}
		signed_++;
		snprintf(ours, sizeof(ours), "%s@%s", local, domain);
		if (!valid || strcmp(ours, modern) != 0
		    || (legacy[0] != '\0' && strcmp(ours, legacy) != 0)) {
			print_error("From:%s: we would sign for %s, Python reads %s%s (legacy: %s)\n",
				    shown(value), ours, modern[0] ? modern : "no single author",
				    valid ? "" : " and calls it invalid", legacy[0] ? legacy : "none");
			bad++;
		}
	}
	rc = pclose(p);
	if (rc != 0)
		fail_msg("from_oracle.py failed (status %d)", rc);
	print_message("corpus: %u From: values, %u signed, %u refused\n", entries, signed_,
		      entries - signed_);
	assert_true(entries >= CORPUS_MIN);
	assert_int_equal(bad, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_against_python),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
