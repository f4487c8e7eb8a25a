/* test_daemon.c - command line, pid file and privilege drop. The drop is
 * tried in a child process, so the test itself keeps its privileges. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"

/* Runs daemon_parse_args in a child; returns its exit status, or 100
 * when parsing returned (no exit) with the expected values. */
static int
parse_in_child(int argc, char **argv, const char *want_conf, bool want_f, bool want_t)
{
	pid_t pid;
	int status;

	if ((pid = fork()) == 0) {
		struct daemon_args a;

		if (freopen("/dev/null", "w", stdout) == NULL || freopen("/dev/null", "w", stderr) == NULL)
			_exit(99);
		optind = 1;
		daemon_parse_args(argc, argv, "sluice-test", &a);
		_exit(strcmp(a.config_path, want_conf) == 0 && a.foreground == want_f
		      && a.check_only == want_t ? 100 : 98);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
test_arguments(void **state)
{
	char *plain[] = { "x", NULL };
	char *all[] = { "x", "-c", "/etc/other.conf", "-f", "-t", NULL };
	char *version[] = { "x", "-V", NULL };
	char *help[] = { "x", "-h", NULL };
	char *bad[] = { "x", "-z", NULL };
	char *extra[] = { "x", "stray", NULL };

	(void)state;
	assert_int_equal(parse_in_child(1, plain, SLUICE_DEFAULT_CONFIG, false, false), 100);
	assert_int_equal(parse_in_child(5, all, "/etc/other.conf", true, true), 100);
	assert_int_equal(parse_in_child(2, version, "", false, false), 0);
	assert_int_equal(parse_in_child(2, help, "", false, false), 0);
	assert_int_equal(parse_in_child(2, bad, "", false, false), 2);
	assert_int_equal(parse_in_child(2, extra, "", false, false), 2);
}

static void
test_pidfile(void **state)
{
	char dir[] = "/tmp/sluice-pid.XXXXXX", path[64], link[64], err[256], buf[32];
	FILE *fp;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/d.pid", dir);
	assert_int_equal(daemon_write_pidfile(path, err, sizeof(err)), 0);
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	assert_int_equal(atol(buf), (long)getpid());
	/* a symlink planted at the pid file's path is not followed */
	snprintf(link, sizeof(link), "%s/l.pid", dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(daemon_write_pidfile(link, err, sizeof(err)), -1);
	assert_non_null(strstr(err, link));
	unlink(link);
	assert_int_equal(daemon_remove_pidfile(path, err, sizeof(err)), 0);
	assert_int_not_equal(access(path, F_OK), 0);
	/* already gone: nothing to do, no error */
	assert_int_equal(daemon_remove_pidfile(path, err, sizeof(err)), 0);
	/* a newer instance wrote its pid: its file stays */
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "%ld\n", (long)getpid() + 1);
	fclose(fp);
	assert_int_equal(daemon_remove_pidfile(path, err, sizeof(err)), 0);
	assert_int_equal(access(path, F_OK), 0);
	unlink(path);
	snprintf(path, sizeof(path), "%s/missing/d.pid", dir);
	assert_int_equal(daemon_write_pidfile(path, err, sizeof(err)), -1);
	rmdir(dir);
}

/* 0: dropped to user and root cannot come back; 1: refused; 2: other */
static int
drop_in_child(const char *user)
{
	pid_t pid;
	int status;

	if ((pid = fork()) == 0) {
		struct passwd *pw = getpwnam(user);
		char err[256];

		if (daemon_drop_privileges(user, err, sizeof(err)) < 0)
			_exit(1);
		_exit(pw && getuid() == pw->pw_uid && geteuid() == pw->pw_uid && setuid(0) < 0 ? 0 : 2);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
test_privilege_drop(void **state)
{
	(void)state;
	if (geteuid() != 0 || getpwnam("sluice") == NULL)
		skip();
	assert_int_equal(drop_in_child("sluice"), 0);
	assert_int_equal(drop_in_child("no-such-user-here"), 1);
	assert_int_equal(drop_in_child("root"), 1);
}

/* In a child: soft limit 64, hard `hard`, then daemon_raise_nofile(want).
 * Exit status: 1 raised to want, 2 raised to the hard limit and said so,
 * 5 left at 64 (enough already), 3 anything else (or the hard limit moved). */
static int
raise_in_child(rlim_t hard, rlim_t want)
{
	pid_t pid;
	int status;

	if ((pid = fork()) == 0) {
		struct rlimit rl = { 64, hard };
		char msg[256];
		rlim_t got;

		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			_exit(4);
		got = daemon_raise_nofile(want, msg, sizeof(msg));
		if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur != got || rl.rlim_max != hard)
			_exit(3);
		if (got == want && msg[0] == '\0')
			_exit(1);
		if (got == hard && strstr(msg, "below") != NULL)
			_exit(2);
		if (got == 64 && msg[0] == '\0')
			_exit(5);
		_exit(3);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
test_raise_nofile(void **state)
{
	(void)state;
	assert_int_equal(raise_in_child(8192, 4096), 1);	/* raised to want */
	assert_int_equal(raise_in_child(100, 4096), 2);	/* to the hard limit, said */
	assert_int_equal(raise_in_child(100, 50), 5);	/* already enough: kept */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arguments),
		cmocka_unit_test(test_pidfile),
		cmocka_unit_test(test_privilege_drop),
		cmocka_unit_test(test_raise_nofile),
	};

	return cmocka_run_group_tests_name("daemon", tests, NULL, NULL);
}
