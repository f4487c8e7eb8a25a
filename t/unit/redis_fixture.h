/*
 * redis_fixture.h - a private redis-server for the unit tests that run
 * talk to a real Redis (test_ratelimit.c, test_script_bundle.c,
 * test_access.c, test_lists.c): cmocka group setup redis_setup() starts
 * one on the unix socket redis_sock, in the temporary directory
 * redis_dir (no persistence, killed with the test; a test may put files
 * of its own there), redis_teardown() stops it and removes the
 * directory, client() connects to it, run_call() runs one script call
 * as the worker does (redis_eval_batch). Static: each test program has
 * one.
 */
#ifndef SLUICE_T_REDIS_FIXTURE_H
#define SLUICE_T_REDIS_FIXTURE_H

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "redis.h"

static pid_t redis_pid = -1;
static char redis_dir[64];
static char redis_sock[96];

static __attribute__((unused)) int
redis_setup(void **state)
{
	int i;

	(void)state;
	strcpy(redis_dir, "/tmp/sluice-redis.XXXXXX");
	if (mkdtemp(redis_dir) == NULL)
		return -1;
	snprintf(redis_sock, sizeof(redis_sock), "%s/redis.sock", redis_dir);
	if ((redis_pid = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", redis_sock,
		       "--save", "", "--appendonly", "no", "--dir", redis_dir,
		       "--loglevel", "warning", "--logfile", "/dev/null", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 100 && access(redis_sock, F_OK) != 0; i++)
		usleep(50000);
	return access(redis_sock, F_OK) == 0 ? 0 : -1;
}

/* Stops the server, then empties and removes redis_dir (files only: no
 * test makes directories there). */
static __attribute__((unused)) int
redis_teardown(void **state)
{
	char path[sizeof(redis_dir) + 260];
	struct dirent *e;
	DIR *d;

	(void)state;
	if (redis_pid > 0) {
		kill(redis_pid, SIGTERM);
		waitpid(redis_pid, NULL, 0);
	}
	if ((d = opendir(redis_dir)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", redis_dir, e->d_name);
			unlink(path);
		}
		closedir(d);
	}
	return rmdir(redis_dir);
}

static __attribute__((unused)) struct redis_client *
client(void)
{
	struct redis_settings s = { .timeout_ms = 5000 };	/* a loaded machine: never a failure */

	snprintf(s.socket, sizeof(s.socket), "%s", redis_sock);
	return redis_client_new(&s);
}

/* One script call through redis_eval_batch(); the reply (not an error). */
static __attribute__((unused)) redisReply *
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
