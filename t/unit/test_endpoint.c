/* test_endpoint.c - Postfix-style endpoints and listening sockets. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "endpoint.h"

static void
roundtrip(const char *text, const char *milter)
{
	struct endpoint ep;
	char buf[512];

	assert_int_equal(endpoint_parse(text, &ep, NULL), 0);
	assert_int_equal(endpoint_format(&ep, buf, sizeof(buf)), 0);
	assert_string_equal(buf, text);
	assert_int_equal(endpoint_to_milter(&ep, buf, sizeof(buf)), 0);
	assert_string_equal(buf, milter);
}

static void
test_parse(void **state)
{
	struct endpoint ep;
	const char *why;
	char longpath[200];

	(void)state;
	roundtrip("unix:/run/sluice/milter.sock", "unix:/run/sluice/milter.sock");
	roundtrip("inet:127.0.0.1:8891", "inet:8891@127.0.0.1");
	roundtrip("inet:[::1]:10023", "inet6:10023@::1");
	roundtrip("inet:localhost:10023", "inet:10023@localhost");
	assert_int_equal(endpoint_parse("inet:10023", &ep, &why), -1);
	assert_int_equal(endpoint_parse("inet::10023", &ep, &why), -1);
	assert_int_equal(endpoint_parse("inet:127.0.0.1:0", &ep, &why), -1);
	assert_int_equal(endpoint_parse("inet:127.0.0.1:65536", &ep, &why), -1);
	assert_int_equal(endpoint_parse("inet:127.0.0.1:12x", &ep, &why), -1);
	assert_int_equal(endpoint_parse("inet:[::1:10023", &ep, &why), -1);
	assert_int_equal(endpoint_parse("local:/x", &ep, &why), -1);
	/* found by t/fuzz/fuzz_endpoint (corpus/endpoint/crash-unbracketed-v6):
	 * any host was taken, and one with ':' came back from
	 * endpoint_format() bracketed, as another text */
	assert_int_equal(endpoint_parse("inet:\xaf::1]:10023", &ep, &why), -1);
	assert_non_null(strstr(why, "host name"));
	assert_int_equal(endpoint_parse("inet:::1:10023", &ep, &why), -1);
	assert_int_equal(endpoint_parse("inet:[::1]]:10023", &ep, &why), -1);
	assert_int_equal(endpoint_parse("inet:a b:10023", &ep, &why), -1);
	assert_int_equal(endpoint_parse("inet:[fe80::1%eth0]:10023", &ep, &why), 0);
	/* corpus/endpoint/crash-bracketed-not-v6: brackets only around IPv6 */
	assert_int_equal(endpoint_parse("inet:[fe1%eth0]:10023", &ep, &why), -1);
	assert_int_equal(endpoint_parse("inet:[127.0.0.1]:10023", &ep, &why), -1);
	assert_int_equal(endpoint_parse("inet:mx_1.example-2.test:10023", &ep, &why), 0);
	assert_int_equal(endpoint_parse("unix:x.sock", &ep, &why), -1);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	{
		char text[256];

		snprintf(text, sizeof(text), "unix:%s", longpath);
		assert_int_equal(endpoint_parse(text, &ep, &why), -1);
		assert_non_null(strstr(why, "too long"));
	}
}

static void
test_listen_unix(void **state)
{
	char dir[] = "/tmp/sluice-ep.XXXXXX", path[128], text[160], err[256];
	struct endpoint ep;
	struct endpoint_bound b1, b2;
	struct stat st;
	int fd, fd2;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	snprintf(text, sizeof(text), "unix:%s", path);
	assert_int_equal(endpoint_parse(text, &ep, NULL), 0);
	assert_int_equal(ep.mode, 0660);
	assert_int_equal(ep.group, (gid_t)-1);
	fd = endpoint_listen(&ep, 16, &b1, err, sizeof(err));
	assert_true(fd >= 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	/* not 0666: only the owner and the group (Postfix) may connect */
	assert_int_equal(st.st_mode & 0777, 0660);
	assert_string_equal(b1.path, path);
	assert_int_equal(b1.ino, st.st_ino);
	/* the group and mode asked for */
	ep.group = getegid();
	ep.mode = 0600;
	/* a second instance replaces the socket (a restart) ... */
	fd2 = endpoint_listen(&ep, 16, &b2, err, sizeof(err));
	assert_true(fd2 >= 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_gid, getegid());
	assert_int_not_equal(b1.ino, b2.ino);
	/* ... and the first one, stopping later, leaves the new socket alone */
	assert_int_equal(endpoint_remove(&b1), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_ino, b2.ino);
	/* the new one removes its own; a second remove is no error */
	assert_int_equal(endpoint_remove(&b2), 0);
	assert_int_not_equal(access(path, F_OK), 0);
	assert_int_equal(endpoint_remove(&b2), 0);
	close(fd);
	close(fd2);
	/* no temporary name is left behind */
	snprintf(text, sizeof(text), "%s.%ld.new", path, (long)getpid());
	assert_int_not_equal(access(text, F_OK), 0);
	/* a regular file is never removed or replaced */
	close(creat(path, 0600));
	assert_int_equal(endpoint_listen(&ep, 16, &b1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a socket"));
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_not_equal(access(text, F_OK), 0);
	unlink(path);
	rmdir(dir);
}

/* A group that is not ours cannot be given the socket without root. */
static void
test_listen_group_refused(void **state)
{
	char dir[] = "/tmp/sluice-ep.XXXXXX", path[128], text[160], err[256];
	struct endpoint_bound b;
	struct endpoint ep;
	pid_t pid;
	int status;

	(void)state;
	if (geteuid() != 0)
		skip();
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chown(dir, 65534, 65534), 0);
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	snprintf(text, sizeof(text), "unix:%s", path);
	assert_int_equal(endpoint_parse(text, &ep, NULL), 0);
	ep.group = 0;
	if ((pid = fork()) == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(3);
		if (endpoint_listen(&ep, 16, &b, err, sizeof(err)) >= 0)
			_exit(1);
		_exit(strstr(err, "cannot give the socket to group 0") && access(path, F_OK) != 0 ? 0 : 2);
	}
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	rmdir(dir);
}

static void
test_check_dir(void **state)
{
	char dir[] = "/tmp/sluice-ep.XXXXXX", text[160], msg[512];
	struct endpoint ep;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(text, sizeof(text), "unix:%s/s.sock", dir);
	assert_int_equal(endpoint_parse(text, &ep, NULL), 0);
	assert_int_equal(chmod(dir, 0750), 0);
	assert_int_equal(endpoint_check_dir(&ep, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "");
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(endpoint_check_dir(&ep, msg, sizeof(msg)), 1);
	assert_non_null(strstr(msg, "can be entered by others (mode 0755)"));
	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(endpoint_check_dir(&ep, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "writable by others"));
	assert_int_equal(chmod(dir, 01777), 0);
	assert_int_equal(endpoint_check_dir(&ep, msg, sizeof(msg)), -1);
	rmdir(dir);
	assert_int_equal(endpoint_check_dir(&ep, msg, sizeof(msg)), -1);
	/* inet endpoints have no directory */
	assert_int_equal(endpoint_parse("inet:127.0.0.1:10023", &ep, NULL), 0);
	assert_int_equal(endpoint_check_dir(&ep, msg, sizeof(msg)), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_listen_unix),
		cmocka_unit_test(test_listen_group_refused),
		cmocka_unit_test(test_check_dir),
	};

	return cmocka_run_group_tests_name("endpoint", tests, NULL, NULL);
}
