/*
 * test_spf_pool.c - the SPF thread pool's bookkeeping: answers reach the
 * inbox and wake it, a job past its deadline is answered temperror
 * without being run, abandoned jobs are freed by the pool, and the
 * canary address and authorized domain of spf.h. No DNS is asked: a
 * question without sender domain or HELO is answered "none" by libspf2
 * at once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "spf_pool.h"

static struct spf_job *
wait_take(struct spf_pool *pool, struct spf_inbox *inbox)
{
	struct pollfd pfd = { .fd = inbox->jobs.wake_fd, .events = POLLIN };
	struct spf_job *job;
	uint64_t n;
	int tries;

	for (tries = 0; tries < 300; tries++) {	/* 30 s: slow under sanitizers */
		if ((job = spf_inbox_take(pool, inbox)) != NULL)
			return job;
		if (poll(&pfd, 1, 100) > 0)
			(void)!read(inbox->jobs.wake_fd, &n, sizeof(n));
	}
	return NULL;
}

static void
test_answers_come_back(void **state)
{
	struct spf_pool *pool = spf_pool_new();
	struct spf_inbox inbox;
	int fd = eventfd(0, EFD_NONBLOCK), i;
	int cookies[40];

	(void)state;
	spf_inbox_init(&inbox, fd);
	for (i = 0; i < 40; i++)
		assert_non_null(spf_pool_submit(pool, &inbox, "192.0.2.1", "", "", true, 5000,
						&cookies[i]));
	for (i = 0; i < 40; i++) {
		struct spf_job *job = wait_take(pool, &inbox);

		assert_non_null(job);
		assert_int_equal(job->answer.result, SPF_NONE);
		assert_false(job->answer.timed_out);
		assert_true((int *)job->cookie >= cookies && (int *)job->cookie < cookies + 40);
		spf_job_free(job);
	}
	assert_null(spf_inbox_take(pool, &inbox));
	spf_pool_free(pool);
	close(fd);
}

static void
test_expired_job_not_run(void **state)
{
	struct spf_pool *pool = spf_pool_new();
	struct spf_inbox inbox;
	int fd = eventfd(0, EFD_NONBLOCK);
	struct spf_job *job;

	(void)state;
	spf_inbox_init(&inbox, fd);
	assert_non_null(spf_pool_submit(pool, &inbox, "192.0.2.1", "", "", false, 0, NULL));
	job = wait_take(pool, &inbox);
	assert_non_null(job);
	assert_int_equal(job->answer.result, SPF_TEMPERROR);
	assert_true(job->answer.timed_out);
	spf_job_free(job);
	spf_pool_free(pool);
	close(fd);
}

static void
test_abandon(void **state)
{
	struct spf_pool *pool = spf_pool_new();
	struct spf_inbox inbox;
	int fd = eventfd(0, EFD_NONBLOCK), i;
	struct spf_job *jobs[20];

	(void)state;
	spf_inbox_init(&inbox, fd);
	for (i = 0; i < 20; i++)
		jobs[i] = spf_pool_submit(pool, &inbox, "192.0.2.1", "", "", false, 5000, NULL);
	for (i = 0; i < 20; i++)	/* queued, running or done: all must go */
		spf_job_abandon(pool, jobs[i]);
	usleep(200000);
	assert_null(spf_inbox_take(pool, &inbox));
	spf_pool_free(pool);	/* leak checks under ASan prove the frees */
	close(fd);
}

static void
test_too_long_is_refused(void **state)
{
	struct spf_pool *pool = spf_pool_new();
	struct spf_inbox inbox;
	char sender[600];

	(void)state;
	memset(sender, 'a', sizeof(sender) - 1);
	sender[sizeof(sender) - 1] = '\0';
	sender[10] = '@';
	spf_inbox_init(&inbox, -1);
	/* never cut: a cut sender would be another domain */
	assert_null(spf_pool_submit(pool, &inbox, "192.0.2.1", "", sender, false, 5000, NULL));
	spf_pool_free(pool);
}

static void
test_canary_and_domain(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(spf_canary_address("192.0.2.7", out, sizeof(out)), 0);
	assert_string_equal(out, "192.1.2.7");		/* the neighbouring /16 */
	assert_int_equal(spf_canary_address("127.1.0.21", out, sizeof(out)), 0);
	assert_string_equal(out, "127.0.0.21");
	assert_int_equal(spf_canary_address("2001:db8::1", out, sizeof(out)), 0);
	assert_string_equal(out, "2001:db9::1");	/* the neighbouring /32 */
	assert_int_equal(spf_canary_address("nonsense", out, sizeof(out)), -1);

	assert_int_equal(spf_authorized_domain("helo.x.test", "SRS0=h=TT=victim.test=ceo@Attacker.TEST",
					       out, sizeof(out)), 0);
	assert_string_equal(out, "attacker.test");
	assert_int_equal(spf_authorized_domain("Helo.X.test", "", out, sizeof(out)), 0);
	assert_string_equal(out, "helo.x.test");	/* null sender: the HELO name */
	assert_int_equal(spf_authorized_domain(NULL, "", out, sizeof(out)), -1);
	assert_int_equal(spf_authorized_domain("h.test", "nodomain", out, sizeof(out)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answers_come_back),
		cmocka_unit_test(test_expired_job_not_run),
		cmocka_unit_test(test_abandon),
		cmocka_unit_test(test_too_long_is_refused),
		cmocka_unit_test(test_canary_and_domain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
