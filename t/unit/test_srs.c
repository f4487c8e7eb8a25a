/* test_srs.c - SRS0/SRS1 (srs.h): the vectors postsrsd 1.10 wrote for the
 * secret "tops3cret" at t=1796299875 (Debian's postsrsd, -d srs.example.test),
 * round trips, tampered hashes, the time stamp's age, case folding, bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
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

/* Found by t/fuzz/fuzz_srs (corpus/srs/crash-host-with-equals): a sender
 * domain holding '=' gave an SRS0 address whose own reversal failed
 * ("bad SRS hash": the host field was cut at its '='), so a bounce to it
 * was refused. Such a sender is now left unrewritten, with a reason. */
static void
test_host_with_separator(void **state)
{
	struct srs_key k = key();
	char out[512];
	const char *why = NULL;

	(void)state;
	assert_int_equal(srs_forward(&k, "srs.example.test", "(v@=[\x1d", T0, out, sizeof(out), &why), -1);
	assert_string_equal(why, "sender domain holds '='");
	assert_int_equal(srs_forward(&k, "srs.example.test", "bob@a=b.test", T0, out, sizeof(out), &why), -1);
	assert_int_equal(srs_forward(&k, "srs.example.test", "SRS0=abcd=AB=orig.test=bob@f=w.test", T0,
				     out, sizeof(out), &why), -1);
	/* '=' in the local part is fine: the user is the last field */
	assert_int_equal(srs_forward(&k, "srs.example.test", "a=b@sender.test", T0, out, sizeof(out), &why), 0);
}

/* Also found by fuzz_srs (corpus/srs/crash-local-too-long): a sender
 * whose local part and host fit alone but whose SRS0 local part did not
 * fit srs_reverse()'s field bound was rewritten anyway, to an address
 * whose bounce was refused ("address too long"). */
static void
test_forward_only_reversible(void **state)
{
	struct srs_key k = key();
	char sender[400], out[1024], back[1024];
	const char *why = NULL;

	(void)state;
	memset(sender, 'u', 240);
	snprintf(sender + 240, sizeof(sender) - 240, "@sender.test");
	assert_int_equal(srs_forward(&k, "srs.example.test", sender, T0, out, sizeof(out), &why), -1);
	assert_string_equal(why, "SRS address too long");
	/* the longest that fits still goes there and back */
	snprintf(sender + 200, sizeof(sender) - 200, "@sender.test");
	assert_int_equal(srs_forward(&k, "srs.example.test", sender, T0, out, sizeof(out), &why), 0);
	assert_int_equal(srs_reverse(&k, out, T0, SRS_MAX_AGE_DAYS, back, sizeof(back), &why), 0);
	assert_string_equal(back, sender);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_postsrsd_vectors),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_host_with_separator),
		cmocka_unit_test(test_forward_only_reversible),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
