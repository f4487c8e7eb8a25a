/*
 * test_redis.c - the Redis client against real redis-server processes.
 *
 * Every server is started here, on free loopback ports counted up from
 * 20000 + pid % 20000 and a unix socket in a fresh directory under /tmp,
 * never an already-running Redis. Children get PR_SET_PDEATHSIG so that
 * they die with this process even if it crashes, and every test's teardown
 * kills what it started (by pid), failed assertions included.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "redis.h"

#define MAX_CHILDREN	16

static pid_t children[MAX_CHILDREN];
static char tmpdir[64];
static int next_port;

/* ---- helpers: clock, ports, processes ---- */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int
listen_on(int port, int backlog)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0
	    || listen(fd, backlog) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A port nobody listens on now; bounded search upwards. */
static int
free_port(void)
{
	int i, fd;

	for (i = 0; i < 500; i++) {
		int port = next_port++;

		if ((fd = listen_on(port, 1)) >= 0) {
			close(fd);
			return port;
		}
	}
	fail_msg("no free port from %d", next_port - 500);
	return -1;
}

static void
remember(pid_t pid)
{
	int i;

	for (i = 0; i < MAX_CHILDREN; i++)
		if (children[i] == 0) {
			children[i] = pid;
			return;
		}
	kill(pid, SIGKILL);
	fail_msg("too many children");
}

static void
stop(pid_t pid)
{
	int i;

	for (i = 0; i < MAX_CHILDREN; i++)
		if (children[i] == pid)
			children[i] = 0;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static int
stop_all(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < MAX_CHILDREN; i++)
		if (children[i])
			stop(children[i]);
	return 0;
}

static pid_t
spawn(char **argv)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	remember(pid);
	return pid;
}

/* One command on a private hiredis context: the test's own redis-cli. */
static redisReply *
admin(int port, const char *password, const char *fmt, ...)
{
	struct timeval tv = { 2, 0 };
	redisContext *ctx = redisConnectWithTimeout("127.0.0.1", port, tv);
	redisReply *reply = NULL;
	va_list ap;

	if (ctx && ctx->err == 0 && redisSetTimeout(ctx, tv) == REDIS_OK) {
		if (password)
			freeReplyObject(redisCommand(ctx, "AUTH %s", password));
		va_start(ap, fmt);
		reply = redisvCommand(ctx, fmt, ap);
		va_end(ap);
	}
	if (ctx)
		redisFree(ctx);
	return reply;
}

static void
wait_ready(pid_t pid, int port, const char *password)
{
	int64_t end = now_ms() + 5000;
	redisReply *reply;

	while (now_ms() < end) {
		assert_int_equal(waitpid(pid, NULL, WNOHANG), 0);
		reply = admin(port, password, "PING");
		if (reply && !(reply->type == REDIS_REPLY_ERROR
			       && strncmp(reply->str, "LOADING", 7) == 0)) {
			freeReplyObject(reply);
			return;
		}
		if (reply)
			freeReplyObject(reply);
		sleep_ms(10);
	}
	fail_msg("redis on port %d not ready", port);
}

/* redis-server on port with the given extra arguments (NULL-terminated). */
static pid_t
start_redis(int port, const char *password, ...)
{
	char ports[16], logfile[128], dbfile[32], *argv[40];
	const char *arg;
	int argc = 0;
	va_list ap;
	pid_t pid;

	snprintf(ports, sizeof(ports), "%d", port);
	snprintf(logfile, sizeof(logfile), "%s/redis-%d.log", tmpdir, port);
	snprintf(dbfile, sizeof(dbfile), "dump-%d.rdb", port);
	{
		const char *fixed[] = {
			"redis-server", "--port", ports, "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", tmpdir,
			"--dbfilename", dbfile, "--logfile", logfile,
			"--enable-debug-command", "local",
			"--repl-diskless-sync-delay", "0", NULL
		};
		for (; fixed[argc]; argc++)
			argv[argc] = (char *)(uintptr_t)fixed[argc];
	}
	if (password) {
		argv[argc++] = (char *)"--requirepass";
		argv[argc++] = (char *)(uintptr_t)password;
	}
	va_start(ap, password);
	while ((arg = va_arg(ap, const char *)) != NULL && argc < 38)
		argv[argc++] = (char *)(uintptr_t)arg;
	va_end(ap);
	argv[argc] = NULL;
	pid = spawn(argv);
	wait_ready(pid, port, password);
	return pid;
}

static struct redis_settings
settings_tcp(int port, int timeout_ms)
{
	struct redis_settings s;

	memset(&s, 0, sizeof(s));
	strcpy(s.host, "127.0.0.1");
	s.port = port;
	s.timeout_ms = timeout_ms;
	return s;
}

static void
reply_is(redisReply *reply, const char *text)
{
	assert_non_null(reply);
	if (reply->type == REDIS_REPLY_ERROR)
		fail_msg("error reply: %s", reply->str);
	assert_true(reply->type == REDIS_REPLY_STRING
		    || reply->type == REDIS_REPLY_STATUS);
	assert_string_equal(reply->str, text);
	freeReplyObject(reply);
}

static void
reply_error(redisReply *reply, const char *prefix)
{
	assert_non_null(reply);
	assert_int_equal(reply->type, REDIS_REPLY_ERROR);
	if (strncmp(reply->str, prefix, strlen(prefix)) != 0)
		fail_msg("error '%s' does not start with '%s'", reply->str, prefix);
	freeReplyObject(reply);
}

static void
error_has(const struct redis_client *c, const char *part)
{
	if (strstr(redis_client_error(c), part) == NULL)
		fail_msg("error '%s' lacks '%s'", redis_client_error(c), part);
}

/* The port of the server a client talks to, by asking it. */
static int
server_port(struct redis_client *c)
{
	redisReply *r = redis_command(c, "CONFIG GET port");
	int port;

	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_int_equal(r->elements, 2);
	port = atoi(r->element[1]->str);
	freeReplyObject(r);
	return port;
}

/* ---- tests ---- */

static void
test_tcp_and_unix(void **state)
{
	char sock[128];
	const char *argv[] = { "SET", "bin", "a\0b" };
	const size_t len[] = { 3, 3, 3 };
	struct redis_settings s;
	struct redis_client *tcp, *unx;
	redisReply *r;
	int port = free_port();

	(void)state;
	snprintf(sock, sizeof(sock), "%s/redis.sock", tmpdir);
	start_redis(port, NULL, "--unixsocket", sock, "--unixsocketperm", "700", NULL);

	s = settings_tcp(port, 1000);
	assert_non_null(tcp = redis_client_new(&s));
	assert_string_equal(redis_client_error(tcp), "");
	reply_is(redis_command(tcp, "SET %s %s", "k", "v"), "OK");
	reply_is(redis_command_argv(tcp, 3, argv, len), "OK");
	/* an error reply is a reply, and the link stays usable */
	reply_error(redis_command(tcp, "NOSUCHCOMMAND"), "ERR");
	reply_is(redis_command(tcp, "PING"), "PONG");
	/* a dropped link is remade on demand, with no back-off */
	redis_client_disconnect(tcp);
	reply_is(redis_command(tcp, "GET k"), "v");

	memset(&s, 0, sizeof(s));
	strcpy(s.socket, sock);
	s.timeout_ms = 1000;
	assert_non_null(unx = redis_client_new(&s));
	reply_is(redis_command(unx, "GET k"), "v");
	r = redis_command(unx, "GET bin");
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	assert_int_equal(r->len, 3);
	assert_memory_equal(r->str, "a\0b", 3);
	freeReplyObject(r);
	r = redis_command(unx, "CLIENT INFO");
	assert_non_null(r);
	assert_non_null(strstr(r->str, "addr=/"));	/* really the socket */
	freeReplyObject(r);

	redis_client_free(tcp);
	redis_client_free(unx);
	redis_client_free(NULL);
}

static void
test_auth(void **state)
{
	struct redis_settings s;
	struct redis_client *good, *bad, *none;
	char where[64];
	int64_t t0;
	int port = free_port();

	(void)state;
	start_redis(port, "s3cret", NULL);
	s = settings_tcp(port, 1000);
	assert_non_null(none = redis_client_new(&s));
	strcpy(s.password, "s3cret");
	assert_non_null(good = redis_client_new(&s));
	strcpy(s.password, "wrong");
	assert_non_null(bad = redis_client_new(&s));

	reply_is(redis_command(good, "PING"), "PONG");
	reply_error(redis_command(none, "PING"), "NOAUTH");

	assert_null(redis_command(bad, "PING"));
	snprintf(where, sizeof(where), "redis 127.0.0.1:%d: AUTH failed: ", port);
	error_has(bad, where);
	error_has(bad, "WRONGPASS");
	/* a wrong password is a failed connect: back off, do not hammer */
	t0 = now_ms();
	assert_null(redis_command(bad, "PING"));
	assert_true(now_ms() - t0 < 50);
	error_has(bad, "redis: backing off for 100 ms after: ");

	redis_client_free(good);
	redis_client_free(bad);
	redis_client_free(none);
}

static void
test_select(void **state)
{
	struct redis_settings s;
	struct redis_client *db0, *db5, *db99;
	redisReply *r;
	int port = free_port();

	(void)state;
	start_redis(port, NULL, NULL);
	s = settings_tcp(port, 1000);
	assert_non_null(db0 = redis_client_new(&s));
	s.db = 5;
	assert_non_null(db5 = redis_client_new(&s));
	s.db = 99;
	assert_non_null(db99 = redis_client_new(&s));

	reply_is(redis_command(db5, "SET sel five"), "OK");
	r = redis_command(db0, "GET sel");
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_NIL);
	freeReplyObject(r);
	reply_is(redis_command(db5, "GET sel"), "five");
	r = redis_command(db5, "CLIENT INFO");
	assert_non_null(r);
	assert_non_null(strstr(r->str, " db=5 "));
	freeReplyObject(r);

	assert_null(redis_command(db99, "PING"));
	error_has(db99, "SELECT failed: ERR DB index is out of range");

	redis_client_free(db0);
	redis_client_free(db5);
	redis_client_free(db99);
}

static void
reply_integer(redisReply *r, long long value)
{
	assert_non_null(r);
	if (r->type == REDIS_REPLY_ERROR)
		fail_msg("error reply: %s", r->str);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	assert_int_equal(r->integer, value);
	freeReplyObject(r);
}

static void
test_eval(void **state)
{
	struct redis_script incr = {
		"return redis.call('INCRBY', KEYS[1], ARGV[1])", ""
	};
	struct redis_script broken = { "return +", "" };
	struct redis_script boom = { "return redis.call('NOSUCH')", "" };
	struct redis_script noargs = { "return 42", "" };
	const char *keys[] = { "{t}:n" }, *args[] = { "5" };
	struct redis_settings s;
	struct redis_client *c;
	redisReply *r;
	int port = free_port();

	(void)state;
	start_redis(port, NULL, NULL);
	s = settings_tcp(port, 1000);
	assert_non_null(c = redis_client_new(&s));

	/* first use: SCRIPT LOAD gives the sha1 */
	reply_integer(redis_eval(c, &incr, 1, keys, 1, args), 5);
	assert_int_equal(strlen(incr.sha1), 40);
	r = admin(port, NULL, "SCRIPT LOAD %s", incr.source);
	reply_is(r, incr.sha1);

	/* the server forgot it: NOSCRIPT, SCRIPT LOAD, one retry */
	freeReplyObject(admin(port, NULL, "SCRIPT FLUSH"));
	r = admin(port, NULL, "SCRIPT EXISTS %s", incr.sha1);
	assert_non_null(r);
	assert_int_equal(r->element[0]->integer, 0);
	freeReplyObject(r);
	reply_integer(redis_eval(c, &incr, 1, keys, 1, args), 10);
	r = admin(port, NULL, "SCRIPT EXISTS %s", incr.sha1);
	assert_non_null(r);
	assert_int_equal(r->element[0]->integer, 1);
	freeReplyObject(r);
	freeReplyObject(admin(port, NULL, "SCRIPT FLUSH"));
	reply_integer(redis_eval(c, &incr, 1, keys, 1, args), 15);

	/* a stale sha1 in the struct is replaced by the server's */
	memset(incr.sha1, '0', 40);
	reply_integer(redis_eval(c, &incr, 1, keys, 1, args), 20);
	assert_string_not_equal(incr.sha1, "0000000000000000000000000000000000000000");

	reply_integer(redis_eval(c, &noargs, 0, NULL, 0, NULL), 42);
	/* compile and run-time errors come back as error replies */
	reply_error(redis_eval(c, &broken, 0, NULL, 0, NULL), "ERR");
	assert_string_equal(broken.sha1, "");
	reply_error(redis_eval(c, &boom, 0, NULL, 0, NULL), "ERR");
	/* the connection survived all that */
	reply_is(redis_command(c, "GET {t}:n"), "20");
	assert_null(redis_eval(c, &noargs, -1, NULL, 0, NULL));
	redis_client_free(c);
}

/* A pipeline's commands are formatted by redis.c itself (RESP, lengths
 * first, so any byte is an argument byte), and one too long for its
 * buffer by hiredis: both reach Redis as sent. */
static void
test_pipeline_arguments(void **state)
{
	char *big = malloc(10001);
	const char *set1[] = { "SET", "p:crlf", "a\r\nb $3 *2" };
	const char *set2[] = { "SET", "p:empty", "" };
	const char *set3[] = { "SET", "p:big", big };
	const char *strlen3[] = { "STRLEN", "p:big" };
	const char *get1[] = { "GET", "p:crlf" };
	const char **argvs[] = { set1, set2, set3, strlen3, get1 };
	const int argcs[] = { 3, 3, 3, 2, 2 };
	redisReply *replies[5];
	struct redis_settings s;
	struct redis_client *c;
	int port = free_port(), i;

	(void)state;
	memset(big, 'x', 10000);
	big[10000] = '\0';
	start_redis(port, NULL, NULL);
	s = settings_tcp(port, 1000);
	assert_non_null(c = redis_client_new(&s));
	assert_int_equal(redis_pipeline(c, 5, argcs, argvs, replies), 0);
	for (i = 0; i < 3; i++)
		reply_is(replies[i], "OK");
	reply_integer(replies[3], 10000);
	reply_is(replies[4], "a\r\nb $3 *2");
	reply_is(redis_command(c, "GET p:empty"), "");
	redis_client_free(c);
	free(big);
}

static void
test_down_backoff(void **state)
{
	struct redis_settings s;
	struct redis_client *c;
	char cause[128], text[256];
	int64_t t0, t;
	int i, port = free_port();

	(void)state;
	s = settings_tcp(port, 1000);
	assert_non_null(c = redis_client_new(&s));	/* no connect yet */
	t0 = now_ms();
	assert_null(redis_command(c, "PING"));
	assert_true(now_ms() - t0 < 500);
	snprintf(cause, sizeof(cause), "redis 127.0.0.1:%d: Connection refused", port);
	assert_string_equal(redis_client_error(c), cause);

	/* during the back-off no attempt is made: well under timeout_ms */
	for (i = 0; i < 100; i++) {
		t = now_ms();
		assert_null(redis_command(c, "PING"));
		assert_true(now_ms() - t < 50);
	}
	snprintf(text, sizeof(text), "redis: backing off for 100 ms after: %s", cause);
	assert_string_equal(redis_client_error(c), text);

	/* it doubles after each failed attempt */
	sleep_ms(120);
	assert_null(redis_command(c, "PING"));
	assert_string_equal(redis_client_error(c), cause);
	assert_null(redis_command(c, "PING"));
	error_has(c, "backing off for 200 ms");
	sleep_ms(220);
	assert_null(redis_command(c, "PING"));
	assert_null(redis_command(c, "PING"));
	error_has(c, "backing off for 400 ms");
	redis_client_free(c);
}

/* Calls PING until it answers; returns the time that took, or -1. */
static int64_t
recover(struct redis_client *c, int limit_ms)
{
	int64_t t0 = now_ms();
	redisReply *r;

	while (now_ms() - t0 < limit_ms) {
		if ((r = redis_command(c, "PING")) != NULL) {
			reply_is(r, "PONG");
			return now_ms() - t0;
		}
		sleep_ms(10);
	}
	return -1;
}

static void
test_restart(void **state)
{
	struct redis_settings s;
	struct redis_client *c;
	int64_t took;
	pid_t pid;
	int port = free_port();

	(void)state;
	pid = start_redis(port, NULL, NULL);
	s = settings_tcp(port, 500);
	assert_non_null(c = redis_client_new(&s));
	reply_is(redis_command(c, "PING"), "PONG");

	stop(pid);
	assert_null(redis_command(c, "PING"));	/* I/O error on the old link */
	error_has(c, "redis 127.0.0.1:");
	assert_null(redis_command(c, "PING"));
	error_has(c, "redis: backing off for 100 ms after: ");

	pid = start_redis(port, NULL, NULL);
	took = recover(c, 3000);
	assert_true(took >= 0);
	assert_true(took < 1000);	/* back-off is at most 400 ms here */

	/* success reset the back-off to its first step */
	stop(pid);
	assert_null(redis_command(c, "PING"));
	assert_null(redis_command(c, "PING"));
	error_has(c, "redis: backing off for 100 ms after: ");
	start_redis(port, NULL, NULL);
	assert_true(recover(c, 3000) >= 0);
	redis_client_free(c);
}

static void
test_silent_server(void **state)
{
	struct redis_settings s;
	struct redis_client *c;
	int64_t t0, took;
	int fd, port = free_port();

	(void)state;
	/*
	 * A listener that never accepts: the first connect completes in the
	 * kernel (backlog 0 still queues one), the reply never comes; after
	 * that the queue is full, SYNs are dropped and connect itself hangs.
	 */
	assert_true((fd = listen_on(port, 0)) >= 0);
	s = settings_tcp(port, 200);
	assert_non_null(c = redis_client_new(&s));
	t0 = now_ms();
	assert_null(redis_command(c, "PING"));
	took = now_ms() - t0;
	assert_true(took >= 150 && took < 1000);
	error_has(c, "timed out");

	t0 = now_ms();
	assert_null(redis_command(c, "PING"));	/* back-off: at once */
	assert_true(now_ms() - t0 < 50);

	sleep_ms(120);
	t0 = now_ms();
	assert_null(redis_command(c, "PING"));	/* connect timeout */
	took = now_ms() - t0;
	assert_true(took >= 150 && took < 1000);
	error_has(c, "Connection timed out");
	close(fd);
	redis_client_free(c);
}

static void
test_sleeping_server(void **state)
{
	struct redis_settings s;
	struct redis_client *c;
	struct timeval tv = { 3, 0 };
	redisContext *raw;
	redisReply *r;
	int64_t t0, took;
	int done = 0, port = free_port();

	(void)state;
	start_redis(port, NULL, NULL);
	s = settings_tcp(port, 200);
	assert_non_null(c = redis_client_new(&s));
	reply_is(redis_command(c, "PING"), "PONG");

	raw = redisConnectWithTimeout("127.0.0.1", port, tv);
	assert_true(raw && raw->err == 0);
	redisSetTimeout(raw, tv);
	redisAppendCommand(raw, "DEBUG SLEEP 0.6");
	while (!done)
		assert_int_equal(redisBufferWrite(raw, &done), REDIS_OK);
	sleep_ms(30);

	t0 = now_ms();
	assert_null(redis_command(c, "PING"));
	took = now_ms() - t0;
	assert_true(took >= 150 && took < 550);
	error_has(c, "timed out");

	assert_int_equal(redisGetReply(raw, (void **)&r), REDIS_OK);
	reply_is(r, "OK");
	redisFree(raw);
	assert_true(recover(c, 2000) >= 0);
	redis_client_free(c);
}

/*
 * A fake sentinel that names the replica as primary: a stale sentinel.
 * The client must see through it with ROLE.
 */
static void
start_fake_sentinel(int port, int target)
{
	char reply[64];
	int fd, n;
	pid_t pid;

	n = snprintf(reply, sizeof(reply), "*2\r\n$9\r\n127.0.0.1\r\n$%zu\r\n%d\r\n",
		     (size_t)snprintf(NULL, 0, "%d", target), target);
	assert_true((fd = listen_on(port, 16)) >= 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char buf[1024];
		int i, conn;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (i = 0; i < 100; i++) {
			if ((conn = accept(fd, NULL, NULL)) < 0)
				continue;
			if (read(conn, buf, sizeof(buf)) > 0
			    && write(conn, reply, (size_t)n) != n)
				_exit(1);
			close(conn);
		}
		_exit(0);
	}
	close(fd);
	remember(pid);
}

static void
wait_for(int port, const char *cmd, const char *needle, int limit_ms)
{
	int64_t end = now_ms() + limit_ms;
	redisReply *r;
	bool found;

	for (;;) {
		r = admin(port, NULL, cmd);
		found = r && r->type == REDIS_REPLY_STRING && strstr(r->str, needle);
		if (r)
			freeReplyObject(r);
		if (found)
			return;
		if (now_ms() >= end)
			fail_msg("port %d: '%s' never showed '%s'", port, cmd, needle);
		sleep_ms(50);
	}
}

static bool
sentinel_says(int sport, int port)
{
	redisReply *r = admin(sport, NULL, "SENTINEL get-master-addr-by-name m");
	bool yes = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2
	    && atoi(r->element[1]->str) == port;

	if (r)
		freeReplyObject(r);
	return yes;
}

static bool
replica_known(int sport)
{
	redisReply *r = admin(sport, NULL, "SENTINEL replicas m");
	bool yes = false;
	size_t i;

	if (r && r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
		redisReply *kv = r->element[0];

		for (i = 0; i + 1 < kv->elements; i += 2)
			if (strcmp(kv->element[i]->str, "flags") == 0)
				yes = strcmp(kv->element[i + 1]->str, "slave") == 0;
	}
	if (r)
		freeReplyObject(r);
	return yes;
}

static bool
is_master(int port)
{
	redisReply *r = admin(port, NULL, "ROLE");
	bool yes = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0
	    && strcmp(r->element[0]->str, "master") == 0;

	if (r)
		freeReplyObject(r);
	return yes;
}

static void
failover(int sport, int newport)
{
	int64_t end = now_ms() + 15000;
	redisReply *r;

	while (!replica_known(sport)) {
		assert_true(now_ms() < end);
		sleep_ms(50);
	}
	for (;;) {
		r = admin(sport, NULL, "SENTINEL FAILOVER m");
		assert_non_null(r);
		if (r->type == REDIS_REPLY_STATUS) {
			freeReplyObject(r);
			break;
		}
		freeReplyObject(r);	/* NOGOODSLAVE while still learning */
		assert_true(now_ms() < end);
		sleep_ms(100);
	}
	while (!sentinel_says(sport, newport) || !is_master(newport)) {
		assert_true(now_ms() < end);
		sleep_ms(50);
	}
}

static void
test_sentinel(void **state)
{
	char conf[128], sp[16], p1s[16], text[256];
	char *argv[] = { (char *)"redis-server", conf, (char *)"--sentinel", NULL };
	struct redis_settings s;
	struct redis_client *a, *b, *stale, *wrong;
	redisReply *r;
	FILE *f;
	pid_t spid;
	int p1 = free_port(), p2 = free_port(), p3 = free_port();
	int dead = free_port(), fake = free_port();

	(void)state;
	snprintf(p1s, sizeof(p1s), "%d", p1);
	start_redis(p1, NULL, NULL);
	start_redis(p2, NULL, "--replicaof", "127.0.0.1", p1s, NULL);
	wait_for(p2, "INFO replication", "master_link_status:up", 5000);

	snprintf(conf, sizeof(conf), "%s/sentinel.conf", tmpdir);
	assert_non_null(f = fopen(conf, "w"));
	fprintf(f, "port %d\nbind 127.0.0.1\ndir %s\nlogfile %s/sentinel.log\n"
		"sentinel monitor m 127.0.0.1 %d 1\n"
		"sentinel down-after-milliseconds m 2000\n"
		"sentinel failover-timeout m 10000\n", p3, tmpdir, tmpdir, p1);
	assert_int_equal(fclose(f), 0);
	spid = spawn(argv);
	wait_ready(spid, p3, NULL);
	start_fake_sentinel(fake, p2);

	/* a dead sentinel first: the next one is asked */
	memset(&s, 0, sizeof(s));
	s.timeout_ms = 500;
	strcpy(s.sentinel_master, "m");
	s.sentinel_count = 2;
	strcpy(s.sentinels[0].host, "127.0.0.1");
	s.sentinels[0].port = dead;
	strcpy(s.sentinels[1].host, "127.0.0.1");
	s.sentinels[1].port = p3;
	assert_non_null(a = redis_client_new(&s));
	reply_is(redis_command(a, "SET sk 1"), "OK");
	assert_int_equal(server_port(a), p1);

	/* a stale sentinel naming the replica: ROLE refuses it */
	s.sentinels[0].port = fake;
	assert_non_null(b = redis_client_new(&s));
	assert_int_equal(server_port(b), p1);
	/* nobody good: every reason is in the error, in order */
	s.sentinels[0].port = dead;
	s.sentinels[1].port = fake;
	assert_non_null(stale = redis_client_new(&s));
	assert_null(redis_command(stale, "PING"));
	snprintf(text, sizeof(text), "redis: no primary 'm' found: "
		 "sentinel 127.0.0.1:%d: Connection refused; "
		 "redis 127.0.0.1:%d: ROLE is slave, not master", dead, p2);
	assert_string_equal(redis_client_error(stale), text);

	strcpy(s.sentinel_master, "nosuch");
	s.sentinels[0].port = p3;
	s.sentinel_count = 1;
	assert_non_null(wrong = redis_client_new(&s));
	assert_null(redis_command(wrong, "PING"));
	error_has(wrong, "no primary known for 'nosuch'");

	/* failover: p2 is promoted; demote p1 as Sentinel would, later */
	failover(p3, p2);
	snprintf(sp, sizeof(sp), "%d", p2);
	freeReplyObject(admin(p1, NULL, "REPLICAOF 127.0.0.1 %s", sp));
	reply_error(redis_command(a, "SET sk 2"), "READONLY");
	/* the READONLY dropped the link: rediscovery, no back-off */
	reply_is(redis_command(a, "SET sk 3"), "OK");
	assert_int_equal(server_port(a), p2);
	r = admin(p2, NULL, "GET sk");
	reply_is(r, "3");

	redis_client_free(a);
	redis_client_free(b);
	redis_client_free(stale);
	redis_client_free(wrong);
}

/* ---- setup ---- */

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
group_setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);	/* as the daemons do */
	/* 16 ports a run (13 used): runs with neighbouring pids do not meet */
	next_port = 20000 + (getpid() % 2500) * 16;
	strcpy(tmpdir, "/tmp/sluice-redis.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
group_teardown(void **state)
{
	stop_all(state);
	return nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_tcp_and_unix, stop_all),
		cmocka_unit_test_teardown(test_auth, stop_all),
		cmocka_unit_test_teardown(test_select, stop_all),
		cmocka_unit_test_teardown(test_eval, stop_all),
		cmocka_unit_test_teardown(test_pipeline_arguments, stop_all),
		cmocka_unit_test_teardown(test_down_backoff, stop_all),
		cmocka_unit_test_teardown(test_restart, stop_all),
		cmocka_unit_test_teardown(test_silent_server, stop_all),
		cmocka_unit_test_teardown(test_sleeping_server, stop_all),
		cmocka_unit_test_teardown(test_sentinel, stop_all),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
