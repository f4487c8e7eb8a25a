/* test_notify.c - the sd_notify(3) datagram of common/notify.c: path and
 * abstract ('@') sockets, unset NOTIFY_SOCKET, bad values, and the text
 * each helper sends. (t_service.sh runs the daemons against a receiver.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

/* A receiver at name ("@..." abstract, else a path); returns its fd. */
static int
receiver(const char *name)
{
	struct sockaddr_un sun;
	socklen_t len;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, name, strlen(name));
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
	if (name[0] == '@')
		sun.sun_path[0] = '\0';
	else
		unlink(name);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, len), 0);
	return fd;
}

/* The next datagram on fd, as a string (fails the test if none). */
static const char *
received(int fd)
{
	static char buf[1024];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	assert_true(n >= 0);
	buf[n] = '\0';
	return buf;
}

static void
test_abstract_and_path(void **state)
{
	char err[256], name[64], path[64];
	int a, p;

	(void)state;
	snprintf(name, sizeof(name), "@sluice-test-notify-%ld", (long)getpid());
	snprintf(path, sizeof(path), "/tmp/sluice-test-notify-%ld.sock", (long)getpid());
	a = receiver(name);
	p = receiver(path);

	setenv("NOTIFY_SOCKET", name, 1);
	assert_int_equal(notify_send("READY=1", err, sizeof(err)), 0);
	assert_string_equal(received(a), "READY=1");

	setenv("NOTIFY_SOCKET", path, 1);
	notify_ready("listening on unix:/run/sluice/policyd.sock");
	assert_string_equal(received(p), "READY=1\nSTATUS=listening on unix:/run/sluice/policyd.sock");
	/* A newline in a status would start an assignment of its own. */
	notify_ready("two\nSTOPPING=1");
	assert_string_equal(received(p), "READY=1\nSTATUS=two");
	notify_ready(NULL);
	assert_string_equal(received(p), "READY=1");
	notify_reloading();
	{
		const char *got = received(p);
		unsigned long long usec = 0;

		assert_int_equal(sscanf(got, "RELOADING=1\nMONOTONIC_USEC=%llu", &usec), 1);
		assert_true(usec > 0);
	}
	notify_stopping();
	assert_string_equal(received(p), "STOPPING=1");
	close(a);
	close(p);
	unlink(path);
}

static void
test_unset_and_bad(void **state)
{
	char err[256], longpath[200];

	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(notify_send("READY=1", err, sizeof(err)), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	assert_int_equal(notify_send("READY=1", err, sizeof(err)), 0);

	setenv("NOTIFY_SOCKET", "relative/path", 1);
	assert_int_equal(notify_send("READY=1", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a socket path"));

	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	setenv("NOTIFY_SOCKET", longpath, 1);
	assert_int_equal(notify_send("READY=1", err, sizeof(err)), -1);

	setenv("NOTIFY_SOCKET", "/nonexistent/sluice-notify.sock", 1);
	assert_int_equal(notify_send("READY=1", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file or directory"));
	unsetenv("NOTIFY_SOCKET");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_abstract_and_path),
		cmocka_unit_test(test_unset_and_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
