/* test_ctl.c - the pure parts sluice-ctl relies on: greylist_keys(), the
 * key construction `sluice-ctl greylist show|forget` shares with the check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greylist.h"

static struct sluice_config *
config(int v4, int v6)
{
	static struct sluice_config cfg;
	static char prefix[] = "sluice:";

	memset(&cfg, 0, sizeof(cfg));
	cfg.redis_prefix = prefix;
	cfg.policyd.greylist.enabled = true;
	cfg.policyd.greylist.ipv4_prefix = v4;
	cfg.policyd.greylist.ipv6_prefix = v6;
	return &cfg;
}

static void
test_triplet_key(void **state)
{
	struct greylist_keys k;

	(void)state;
	assert_int_equal(greylist_keys(config(24, 64), "192.0.2.77", "Bounce-4711@List.test",
				       "User@Example.TEST", &k), 0);
	assert_string_equal(k.subject, "192.0.2.0/24");
	assert_string_equal(k.key, "sluice:gl:{192.0.2.0/24}:bounce-#@list.test:user@example.test");
	assert_string_equal(k.awl, "sluice:gl:{192.0.2.0/24}:awl");
}

static void
test_same_as_triplet_h(void **state)
{
	struct greylist_keys k;
	char sender[ADDRESS_MAX + 1], subject[64], key[TRIPLET_KEY_MAX];

	(void)state;
	assert_int_equal(greylist_keys(config(32, 48), "2001:db8:1:2::7", "prvs=0123456789=a+x@b.test",
				       "c@d.test", &k), 0);
	assert_int_equal(triplet_normalize_sender("prvs=0123456789=a+x@b.test", sender,
						  sizeof(sender)), 0);
	assert_int_equal(triplet_subject_ip("2001:db8:1:2::7", 32, 48, subject, sizeof(subject)), 0);
	assert_int_equal(triplet_key("sluice:", subject, sender, "c@d.test", key, sizeof(key)), 0);
	assert_string_equal(k.key, key);
	assert_string_equal(k.subject, "2001:db8:1::/48");
}

static void
test_null_sender_and_client_only(void **state)
{
	struct greylist_keys k;

	(void)state;
	assert_int_equal(greylist_keys(config(32, 128), "198.51.100.1", "", "x@y.test", &k), 0);
	assert_string_equal(k.key, "sluice:gl:{198.51.100.1/32}:<>:x@y.test");
	assert_int_equal(greylist_keys(config(32, 128), "198.51.100.1", NULL, NULL, &k), 0);
	assert_string_equal(k.key, "");
	assert_string_equal(k.awl, "sluice:gl:{198.51.100.1/32}:awl");
}

static void
test_escaped_parts(void **state)
{
	struct greylist_keys k;

	(void)state;
	assert_int_equal(greylist_keys(config(32, 128), "198.51.100.1", "\"a:b\"@x.test",
				       "c@d.test", &k), 0);
	assert_non_null(strstr(k.key, "%3A"));	/* ':' in a part is escaped */
	assert_int_equal(greylist_keys(config(32, 128), "not-an-ip", "a@b.test", "c@d.test", &k), -1);
	assert_int_equal(greylist_keys(config(32, 128), NULL, "a@b.test", "c@d.test", &k), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_triplet_key),
		cmocka_unit_test(test_same_as_triplet_h),
		cmocka_unit_test(test_null_sender_and_client_only),
		cmocka_unit_test(test_escaped_parts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
