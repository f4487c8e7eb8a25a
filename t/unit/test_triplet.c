/* test_triplet.c - greylisting triplets: sender normalization, subjects, keys. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "triplet.h"

static void
expect_sender(const char *in, const char *want)
{
	char out[ADDRESS_MAX + 1];

	if (triplet_normalize_sender(in, out, sizeof(out)) < 0)
		fail_msg("'%s' was refused", in);
	if (strcmp(out, want) != 0)
		fail_msg("'%s' -> '%s', want '%s'", in, out, want);
}

static void
test_plain_and_case(void **state)
{
	(void)state;
	expect_sender("Alice@Example.COM", "alice@example.com");
	expect_sender("<alice@example.com>", "alice@example.com");
	expect_sender("", "<>");
	expect_sender("<>", "<>");
	expect_sender("postmaster", "postmaster");
}

static void
test_batv(void **state)
{
	(void)state;
	expect_sender("prvs=1234abcd5e=alice@example.com", "alice@example.com");
	expect_sender("PRVS=0123456789=Alice@example.com", "alice@example.com");
	expect_sender("msprvs1=19836abcde=bounces@mail.example.net", "bounces@mail.example.net");
	expect_sender("btv1==0b82bb8e30a==bob@example.org", "bob@example.org");
	/* not BATV: no tag, or nothing after it */
	expect_sender("prvs@example.com", "prvs@example.com");
}

static void
test_srs(void **state)
{
	(void)state;
	expect_sender("SRS0=HHH=TT=orig.example=alice@forwarder.example", "alice@orig.example");
	expect_sender("srs0=a1b2=4x=Orig.Example=Alice@fwd.example", "alice@orig.example");
	expect_sender("SRS1=HHH=fwd1.example==HHH=TT=orig.example=alice@fwd2.example",
		      "alice@orig.example");
	/* the SRS timestamp and hash change per message: same result */
	expect_sender("SRS0=zz9=QQ=orig.example=alice@forwarder.example", "alice@orig.example");
	/* a local part that merely starts like SRS */
	expect_sender("srs0@example.com", "srs#@example.com");
}

static void
test_verp_and_extension(void **state)
{
	(void)state;
	expect_sender("bounce-4711-23@list.example", "bounce-#-#@list.example");
	expect_sender("bounce-4712-24@list.example", "bounce-#-#@list.example");
	expect_sender("owner-list+M12345=user=example.org@lists.example", "owner-list@lists.example");
	expect_sender("alice+news@example.com", "alice@example.com");
	expect_sender("+only@example.com", "+@example.com");
	expect_sender("no-reply.20261121.ab12@x.example", "no-reply.#.ab#@x.example");
}

static void
test_quoted_local_parts(void **state)
{
	(void)state;
	expect_sender("\"John Doe\"@example.com", "john doe@example.com");
	expect_sender("john doe@example.com", "john doe@example.com");
	expect_sender("\"john+tag\"@example.com", "john@example.com");
}

static void
test_refused(void **state)
{
	char out[ADDRESS_MAX + 1], tiny[4];
	char big[400];

	(void)state;
	assert_int_equal(triplet_normalize_sender("a@b\nc", out, sizeof(out)), -1);
	assert_int_equal(triplet_normalize_sender("<a@b", out, sizeof(out)), -1);
	assert_int_equal(triplet_normalize_sender(NULL, out, sizeof(out)), -1);
	assert_int_equal(triplet_normalize_sender("alice@example.com", tiny, sizeof(tiny)), -1);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[100] = '@';
	assert_int_equal(triplet_normalize_sender(big, out, sizeof(out)), -1);
}

static void
expect_subject(const char *ip, int v4, int v6, const char *want)
{
	char out[64];

	assert_int_equal(triplet_subject_ip(ip, v4, v6, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void
test_subjects(void **state)
{
	char out[64];

	(void)state;
	expect_subject("192.0.2.7", 32, 128, "192.0.2.7/32");
	expect_subject("192.0.2.7", 24, 128, "192.0.2.0/24");
	expect_subject("::ffff:192.0.2.7", 24, 64, "192.0.2.0/24");
	expect_subject("2001:db8:1:2:3:4:5:6", 32, 64, "2001:db8:1:2::/64");
	expect_subject("2001:db8:1:2:3:4:5:6", 32, 48, "2001:db8:1::/48");
	expect_subject("2001:db8:1:2:3:4:5:6", 32, 128, "2001:db8:1:2:3:4:5:6/128");
	assert_int_equal(triplet_subject_ip("unknown", 24, 64, out, sizeof(out)), -1);
	assert_int_equal(triplet_subject_ip(NULL, 24, 64, out, sizeof(out)), -1);
}

static void
test_keys_share_a_hash_tag(void **state)
{
	char key[TRIPLET_KEY_MAX], awl[TRIPLET_KEY_MAX], tiny[16];

	(void)state;
	assert_int_equal(triplet_key("sluice:", "203.0.113.0/24", "a@x.test", "b@example.test",
				     key, sizeof(key)), 0);
	assert_string_equal(key, "sluice:gl:{203.0.113.0/24}:a@x.test:b@example.test");
	assert_int_equal(triplet_awl_key("sluice:", "203.0.113.0/24", awl, sizeof(awl)), 0);
	assert_string_equal(awl, "sluice:gl:{203.0.113.0/24}:awl");
	assert_int_equal(triplet_key("sluice:", "spf:x.test", "a@x.test", "b@example.test",
				     key, sizeof(key)), 0);
	assert_string_equal(key, "sluice:gl:{spf:x.test}:a@x.test:b@example.test");
	assert_int_equal(triplet_key("sluice:", "s", "a", "b", tiny, sizeof(tiny)), -1);
}

/* The reported collision: ':' inside the sender moved the boundary. */
static void
test_keys_are_unambiguous(void **state)
{
	char k1[TRIPLET_KEY_MAX], k2[TRIPLET_KEY_MAX];

	(void)state;
	assert_int_equal(triplet_key("sluice:", "192.0.2.1/32", "a:b@x", "c@y", k1, sizeof(k1)), 0);
	assert_int_equal(triplet_key("sluice:", "192.0.2.1/32", "a", "b@x:c@y", k2, sizeof(k2)), 0);
	assert_string_not_equal(k1, k2);
	assert_string_equal(k1, "sluice:gl:{192.0.2.1/32}:a%3Ab@x:c@y");
	assert_string_equal(k2, "sluice:gl:{192.0.2.1/32}:a:b@x%3Ac@y");
	/* '}' in a subject cannot end the hash tag early, '%' is escaped too */
	assert_int_equal(triplet_key("sluice:", "spf:a}b", "50%@x", "{y}", k1, sizeof(k1)), 0);
	assert_string_equal(k1, "sluice:gl:{spf:a%7Db}:50%25@x:%7By%7D");
	/* a sender named like the awl key's suffix is still a triplet key */
	assert_int_equal(triplet_key("sluice:", "s", "awl", "", k1, sizeof(k1)), 0);
	assert_int_equal(triplet_awl_key("sluice:", "s", k2, sizeof(k2)), 0);
	assert_string_not_equal(k1, k2);
}

/* Undoes one escaped part up to `stop` (or the end); NULL if malformed. */
static const char *
unescape(const char *p, char stop, char *out, size_t size)
{
	size_t o = 0;

	for (; *p && *p != stop; p++) {
		unsigned v;

		if (o + 1 >= size)
			return NULL;
		if (*p == '%') {
			if (sscanf(p + 1, "%2X", &v) != 1)
				return NULL;
			out[o++] = (char)v;
			p += 2;
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
	return p;
}

/* Reads a key back into its parts: that it can be done proves that no two
 * triplets share a key. */
static int
decode_key(const char *key, const char *prefix, char *subject, char *sender, char *rcpt)
{
	const char *p = key + strlen(prefix);

	if (strncmp(key, prefix, strlen(prefix)) != 0 || strncmp(p, "gl:{", 4) != 0)
		return -1;
	if ((p = unescape(p + 4, '}', subject, TRIPLET_SUBJECT_MAX + 1)) == NULL || *p != '}'
	    || p[1] != ':')
		return -1;
	if ((p = unescape(p + 2, ':', sender, ADDRESS_MAX + 1)) == NULL || *p != ':')
		return -1;
	if (strchr(p + 1, ':') || unescape(p + 1, '\0', rcpt, ADDRESS_MAX + 1) == NULL)
		return -1;
	return 0;
}

static void
random_part(char *out, size_t max)
{
	static const char alphabet[] = "a@.:{}%3A \x01\x7f\xc3\xa9\xff";
	size_t i, n = (size_t)rand() % (max + 1);

	for (i = 0; i < n; i++)
		out[i] = alphabet[(size_t)rand() % (sizeof(alphabet) - 1)];
	out[n] = '\0';
}

static void
test_keys_decode_back(void **state)
{
	char subject[TRIPLET_SUBJECT_MAX + 1], sender[ADDRESS_MAX + 1], rcpt[ADDRESS_MAX + 1];
	char key[TRIPLET_KEY_MAX];
	char ds[TRIPLET_SUBJECT_MAX + 1], dsnd[ADDRESS_MAX + 1], drc[ADDRESS_MAX + 1];
	int i;

	(void)state;
	srand(7);
	for (i = 0; i < 100000; i++) {
		random_part(subject, i % 100 == 0 ? TRIPLET_SUBJECT_MAX : 12);
		random_part(sender, i % 100 == 0 ? ADDRESS_MAX : 12);
		random_part(rcpt, i % 100 == 0 ? ADDRESS_MAX : 12);
		assert_int_equal(triplet_key("sluice:", subject, sender, rcpt, key, sizeof(key)), 0);
		if (decode_key(key, "sluice:", ds, dsnd, drc) < 0)
			fail_msg("'%s' does not decode", key);
		if (strcmp(ds, subject) != 0 || strcmp(dsnd, sender) != 0 || strcmp(drc, rcpt) != 0)
			fail_msg("'%s' decodes to another triplet", key);
	}
}

static int
compare_keys(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every (sender, recipient) pair over a small hostile alphabet, up to
 * three characters each: all keys differ. */
static void
test_keys_never_collide(void **state)
{
	static const char alphabet[] = "a:%{}@";
	enum { K = sizeof(alphabet) - 1, WORDS = 1 + K + K * K + K * K * K };
	char words[WORDS][4], **keys;
	size_t w = 0, n = 0, i, j;
	int a, b, c;

	(void)state;
	words[w++][0] = '\0';
	for (a = 0; a < K; a++) {
		snprintf(words[w++], 4, "%c", alphabet[a]);
		for (b = 0; b < K; b++) {
			snprintf(words[w++], 4, "%c%c", alphabet[a], alphabet[b]);
			for (c = 0; c < K; c++)
				snprintf(words[w++], 4, "%c%c%c", alphabet[a], alphabet[b], alphabet[c]);
		}
	}
	assert_int_equal(w, WORDS);
	keys = calloc((size_t)WORDS * WORDS, sizeof(char *));
	assert_non_null(keys);
	for (i = 0; i < WORDS; i++)
		for (j = 0; j < WORDS; j++) {
			char key[64];

			assert_int_equal(triplet_key("p:", "s", words[i], words[j], key, sizeof(key)), 0);
			keys[n] = strdup(key);
			assert_non_null(keys[n]);
			n++;
		}
	qsort(keys, n, sizeof(char *), compare_keys);
	for (i = 1; i < n; i++)
		if (strcmp(keys[i - 1], keys[i]) == 0)
			fail_msg("two triplets share the key '%s'", keys[i]);
	for (i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}

/* Fills out with a host name of exactly len octets, labels of 63. */
static void
long_domain(char *out, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		out[i] = (i % 64 == 63) ? '.' : 'd';
	out[len] = '\0';
	if (out[len - 1] == '.')
		out[len - 1] = 'd';
}

static void
test_largest_key(void **state)
{
	char prefix[TRIPLET_PREFIX_MAX + 2], subject[TRIPLET_SUBJECT_MAX + 2];
	char sender[ADDRESS_MAX + 2], rcpt[ADDRESS_MAX + 2], key[TRIPLET_KEY_MAX];
	char awl[TRIPLET_KEY_MAX];

	(void)state;
	/* What greylisting builds at most: an spf: subject of a 255-octet
	 * domain, a 256-octet sender and recipient (64-octet local parts),
	 * under the longest prefix the config allows. */
	memset(prefix, 'p', TRIPLET_PREFIX_MAX);
	prefix[TRIPLET_PREFIX_MAX] = '\0';
	strcpy(subject, "spf:");
	long_domain(subject + 4, ADDRESS_DOMAIN_MAX);
	memset(sender, 's', ADDRESS_LOCAL_MAX);
	sender[ADDRESS_LOCAL_MAX] = '@';
	long_domain(sender + ADDRESS_LOCAL_MAX + 1, ADDRESS_MAX - ADDRESS_LOCAL_MAX - 1);
	strcpy(rcpt, sender);
	rcpt[0] = 'r';
	assert_int_equal(strlen(sender), ADDRESS_MAX);
	assert_int_equal(triplet_key(prefix, subject, sender, rcpt, key, sizeof(key)), 0);
	assert_int_equal(strlen(key), TRIPLET_PREFIX_MAX + 4 + 4 + ADDRESS_DOMAIN_MAX + 2
			 + ADDRESS_MAX + 1 + ADDRESS_MAX);
	assert_int_equal(triplet_awl_key(prefix, subject, awl, sizeof(awl)), 0);
	/* The worst case of the bounds: every byte of every part escaped. */
	memset(subject, '}', TRIPLET_SUBJECT_MAX);
	subject[TRIPLET_SUBJECT_MAX] = '\0';
	memset(sender, ':', ADDRESS_MAX);
	sender[ADDRESS_MAX] = '\0';
	strcpy(rcpt, sender);
	assert_int_equal(triplet_key(prefix, subject, sender, rcpt, key, sizeof(key)), 0);
	assert_int_equal(strlen(key), TRIPLET_KEY_MAX - 1);
	assert_int_equal(triplet_awl_key(prefix, subject, awl, sizeof(awl)), 0);
	/* Beyond the bounds: refused, never cut. */
	strcat(sender, "x");
	assert_int_equal(triplet_key(prefix, subject, sender, "r", key, sizeof(key)), -1);
	strcat(subject, "x");
	assert_int_equal(triplet_key(prefix, subject, "s", "r", key, sizeof(key)), -1);
	assert_int_equal(triplet_awl_key(prefix, subject, awl, sizeof(awl)), -1);
	strcat(prefix, "p");
	assert_int_equal(triplet_key(prefix, "s", "s", "r", key, sizeof(key)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_and_case),
		cmocka_unit_test(test_batv),
		cmocka_unit_test(test_srs),
		cmocka_unit_test(test_verp_and_extension),
		cmocka_unit_test(test_quoted_local_parts),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_subjects),
		cmocka_unit_test(test_keys_share_a_hash_tag),
		cmocka_unit_test(test_keys_are_unambiguous),
		cmocka_unit_test(test_keys_decode_back),
		cmocka_unit_test(test_keys_never_collide),
		cmocka_unit_test(test_largest_key),
	};

	return cmocka_run_group_tests_name("triplet", tests, NULL, NULL);
}
