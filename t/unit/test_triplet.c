/* test_triplet.c - greylisting triplets: sender normalization, subjects, keys. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
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
	};

	return cmocka_run_group_tests_name("triplet", tests, NULL, NULL);
}
