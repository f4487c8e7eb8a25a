/*
 * redis_fixture.h - a private redis-server for the unit tests that run
 * scripts in a real Redis (test_ratelimit.c, test_script_bundle.c):
 * cmocka group setup redis_setup() starts one on a unix socket in a
 * temporary directory (no persistence, killed with the test),
 * redis_teardown() stops it, client() connects to it, run_call() runs
 * one script call as the worker does (redis_eval_batch). Static: each
 * test program has one.
 */
#ifndef SLUICE_T_REDIS_FIXTURE_H
#define SLUICE_T_REDIS_FIXTURE_H

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "redis.h"

static pid_t redis_pid = -1;
static char redis_dir[64];

static int
redis_setup(void **state)
{
	char sock[128];
	int i;

	(void)state;
	strcpy(redis_dir, "/tmp/sluice-redis.XXXXXX");
	assert_non_null(mkdtemp(redis_dir));
	snprintf(sock, sizeof(sock), "%s/redis.sock", redis_dir);
	if ((redis_pid = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock,
		       "--save", "", "--appendonly", "no", "--dir", redis_dir,
		       "--loglevel", "warning", "--logfile", "/dev/null", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 100 && access(sock, F_OK) != 0; i++)
		usleep(50000);
	return access(sock, F_OK) == 0 ? 0 : -1;
}

static int
redis_teardown(void **state)
{
	char path[128];

	(void)state;
	if (redis_pid > 0) {
		kill(redis_pid, SIGTERM);
		waitpid(redis_pid, NULL, 0);
	}
	snprintf(path, sizeof(path), "%s/redis.sock", redis_dir);
	unlink(path);
	rmdir(redis_dir);
	return 0;
}

static struct redis_client *
client(void)
{
	struct redis_settings s = { .timeout_ms = 2000 };

	snprintf(s.socket, sizeof(s.socket), "%s/redis.sock", redis_dir);
	return redis_client_new(&s);
}

/* One script call through redis_eval_batch(); the reply (not an error). */
static redisReply *
run_call(struct redis_client *rc, struct redis_eval_call *c)
{
	struct redis_eval_call *calls[1] = { c };
	redisReply *r = NULL;

	assert_int_equal(redis_eval_batch(rc, calls, 1, &r), 0);
	assert_non_null(r);
	if (r->type == REDIS_REPLY_ERROR)
		fail_msg("script error: %s", r->str);
	return r;
}

#endif
