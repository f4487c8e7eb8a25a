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
	struct stat st;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	snprintf(text, sizeof(text), "unix:%s", path);
	assert_int_equal(endpoint_parse(text, &ep, NULL), 0);
	fd = endpoint_listen(&ep, 16, err, sizeof(err));
	assert_true(fd >= 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0666);
	close(fd);
	/* a stale socket is replaced */
	fd = endpoint_listen(&ep, 16, err, sizeof(err));
	assert_true(fd >= 0);
	close(fd);
	unlink(path);
	/* a regular file is never removed */
	close(creat(path, 0600));
	assert_int_equal(endpoint_listen(&ep, 16, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a socket"));
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_listen_unix),
	};

	return cmocka_run_group_tests_name("endpoint", tests, NULL, NULL);
}
