/* test_srs.c - SRS0/SRS1 (srs.h): the vectors postsrsd 1.10 wrote for the
 * secret "tops3cret" at t=1796299875 (Debian's postsrsd, -d srs.example.test),
 * round trips, tampered hashes, the time stamp's age, case folding, bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "srs.h"

static const time_t T0 = 1796299875;

static struct srs_key
key(void)
{
	struct srs_key k = { .len = 9 };

	memcpy(k.secret, "tops3cret", 9);
	return k;
}

static void
test_postsrsd_vectors(void **state)
{
	struct srs_key k = key();
	char out[512];

	(void)state;
	assert_int_equal(srs_forward(&k, "srs.example.test", "alice@sender.test", T0, out, sizeof(out), NULL), 0);
	assert_string_equal(out, "SRS0=boeQ=JW=sender.test=alice@srs.example.test");
	assert_int_equal(srs_forward(&k, "srs.example.test", "SRS0=abcd=AB=orig.test=bob@fw.test", T0,
				     out, sizeof(out), NULL), 0);
	assert_string_equal(out, "SRS1=VsDi=fw.test==abcd=AB=orig.test=bob@srs.example.test");
}

static void
test_round_trip(void **state)
{
	struct srs_key k = key();
	char fwd[512], back[512], again[512];
	const char *why = NULL;

	(void)state;
	assert_int_equal(srs_forward(&k, "srs.example.test", "Alice.B=x@Sender.test", T0, fwd, sizeof(fwd), NULL), 0);
	assert_int_equal(srs_reverse(&k, fwd, T0, SRS_MAX_AGE_DAYS, back, sizeof(back), &why), 0);
	assert_string_equal(back, "Alice.B=x@Sender.test");
	/* SRS1: forwarded again by us, reversed to the first hop's SRS0 */
	assert_int_equal(srs_forward(&k, "srs.example.test", "SRS0=abcd=AB=orig.test=bob@fw.test", T0,
				     fwd, sizeof(fwd), NULL), 0);
	assert_int_equal(srs_reverse(&k, fwd, T0, SRS_MAX_AGE_DAYS, back, sizeof(back), &why), 0);
	assert_string_equal(back, "SRS0=abcd=AB=orig.test=bob@fw.test");
	/* an SRS1 re-forwarded keeps its first hop, with our new hash */
	assert_int_equal(srs_forward(&k, "other.test", fwd, T0, again, sizeof(again), NULL), 0);
	assert_string_equal(again, "SRS1=VsDi=fw.test==abcd=AB=orig.test=bob@other.test");
	/* case folded in transit still verifies */
	assert_int_equal(srs_reverse(&k, "srs0=BOEQ=jw=sender.test=alice@srs.example.test", T0,
				     SRS_MAX_AGE_DAYS, back, sizeof(back), &why), 0);
	assert_string_equal(back, "alice@sender.test");
}

static void
test_rejects(void **state)
{
	struct srs_key k = key(), other = key();
	char out[512];
	const char *why = NULL;

	(void)state;
	other.secret[0] = 'T';
	assert_int_equal(srs_reverse(&k, "SRS0=boeR=JW=sender.test=alice@srs.example.test", T0, 21, out, sizeof(out), &why), -1);
	assert_string_equal(why, "bad SRS hash");
	assert_int_equal(srs_reverse(&other, "SRS0=boeQ=JW=sender.test=alice@srs.example.test", T0, 21, out, sizeof(out), &why), -1);
	assert_string_equal(why, "bad SRS hash");
	/* another user under the same hash */
	assert_int_equal(srs_reverse(&k, "SRS0=boeQ=JW=sender.test=mallory@srs.example.test", T0, 21, out, sizeof(out), &why), -1);
	/* age: 21 days pass, 22 do not */
	assert_int_equal(srs_reverse(&k, "SRS0=boeQ=JW=sender.test=alice@srs.example.test", T0 + 21 * 86400, 21, out, sizeof(out), &why), 0);
	assert_int_equal(srs_reverse(&k, "SRS0=boeQ=JW=sender.test=alice@srs.example.test", T0 + 22 * 86400, 21, out, sizeof(out), &why), -1);
	assert_string_equal(why, "SRS address expired");
	assert_int_equal(srs_reverse(&k, "SRS1=VsDj=fw.test==abcd=AB=orig.test=bob@srs.example.test", T0, 21, out, sizeof(out), &why), -1);
	assert_int_equal(srs_reverse(&k, "SRS0=boeQ=JW@srs.example.test", T0, 21, out, sizeof(out), &why), -1);
	assert_int_equal(srs_reverse(&k, "alice@srs.example.test", T0, 21, out, sizeof(out), &why), -1);
	assert_int_equal(srs_forward(&k, "srs.example.test", "nodomain", T0, out, sizeof(out), &why), -1);
	/* bounded output */
	assert_int_equal(srs_forward(&k, "srs.example.test", "alice@sender.test", T0, out, 20, &why), -1);
	assert_true(srs_is_srs("srs0=x"));
	assert_false(srs_is_srs("srs0x"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_postsrsd_vectors),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
