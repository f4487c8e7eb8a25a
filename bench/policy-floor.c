/*
 * policy-floor.c - the least a Redis-backed policy server can do per
 * request: the floor that sluice-policyd's own cost is measured against.
 *
 *   policy-floor -s SOCKET -r REDIS_SOCKET [-t THREADS] [-k KEYS] [-e SCRIPT]
 *                [-n DB]
 *
 * Each of THREADS (default 4, as sluice-policyd's workers) runs an epoll
 * loop with its own Redis connection. A request is read up to its empty
 * line, not parsed; for it one EVAL of SCRIPT with KEYS keys (default 1,
 * each key new: "f<pid>.<thread>:<counter>:<i>") is queued, in Redis
 * database DB (default 0: a bench gives its floors one of their own, to
 * flush them), and every request of one
 * wakeup goes to Redis in one write, as sluice-policyd batches them. Each
 * Redis reply sends "action=DUNNO" and the empty line, in request order,
 * so SCRIPT must return a one-line RESP value (a status or an integer, as
 * `return 1`), not a bulk string or an array. It has sluice-policyd's
 * syscalls, wakeups and Redis round trips and none of its work (parsing,
 * checks, logging): what an implementation of this shape cannot go below
 * on the machine it runs on (bench/README). One difference of shape:
 * sluice-policyd waits for a batch's replies in read(), this loop in
 * epoll_wait() with its connections (no second sleep per batch).
 *
 * Not a policy server: no bounds beyond a fixed buffer per connection (a
 * longer request closes it), no timeouts, no error handling beyond
 * stopping. For benchmarks only.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "resp.h"

#define FD_MAX		4096	/* connections per thread, by fd number */
#define REQ_BUF		8192
#define QUEUE_MAX	4096	/* answers waiting for Redis, per thread */
#define OUT_BUF		(1 << 20)
#define REPLY_BUF	(1 << 16)
#define SCRIPT_MAX	4096	/* bytes of -e: a wakeup's EVALs fit in OUT_BUF */
#define KEY_MAX		64
#define KEYS_MAX	99

static int listen_fd;
static const char *redis_path;
static const char *script = "return redis.call('SET', KEYS[1], '1', 'PX', '60000')";
static int nkeys = 1;
static int database;
static long pid;		/* in the key names: two floors on one Redis */

static void
die(const char *what)
{
	fprintf(stderr, "policy-floor: %s: %s\n", what, strerror(errno));
	exit(2);
}

static int
unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		die("redis socket");
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die(path);
	return fd;
}

struct loop {
	long id;
	unsigned long seq;
	char *req[FD_MAX];
	size_t req_len[FD_MAX];
	int queue[QUEUE_MAX];
	unsigned qhead, qtail;
	char out[OUT_BUF];
	size_t out_len;
	char reply[REPLY_BUF];
	size_t reply_len;
};

/* One EVAL of the script, its keys new, in sluice's own formatter. */
static void
queue_eval(struct loop *l, int fd)
{
	char keys[KEYS_MAX][KEY_MAX], count[12];
	const char *argv[3 + KEYS_MAX] = { "EVAL", script, count };
	size_t n;
	int i;

	if (l->qtail - l->qhead >= QUEUE_MAX) {
		errno = ENOBUFS;
		die("queue");
	}
	snprintf(count, sizeof(count), "%d", nkeys);
	for (i = 0; i < nkeys; i++) {
		snprintf(keys[i], sizeof(keys[i]), "f%ld.%ld:%lu:%d", pid, l->id, l->seq, i);
		argv[3 + i] = keys[i];
	}
	if ((n = resp_format_command(l->out + l->out_len, OUT_BUF - l->out_len, 3 + nkeys,
				     argv)) == 0) {
		errno = ENOBUFS;
		die("queue");
	}
	l->out_len += n;
	l->queue[l->qtail++ % QUEUE_MAX] = fd;
	l->seq++;
}

/* Replies are simple one-line RESP values (+OK, :1, -ERR, $-1): a reply
 * per CRLF, each answering the oldest queued request. */
static void
take_replies(struct loop *l, int redis_fd)
{
	ssize_t n = read(redis_fd, l->reply + l->reply_len, REPLY_BUF - l->reply_len);
	size_t start = 0, i;

	if (n <= 0)
		die("redis read");
	l->reply_len += (size_t)n;
	for (i = 0; i + 1 < l->reply_len; i++) {
		if (l->reply[i] != '\r' || l->reply[i + 1] != '\n')
			continue;
		if (l->reply[start] == '-')
			fprintf(stderr, "policy-floor: redis: %.*s\n", (int)(i - start), l->reply + start);
		if (l->qhead != l->qtail)
			(void)!send(l->queue[l->qhead++ % QUEUE_MAX], "action=DUNNO\n\n", 14, MSG_NOSIGNAL);
		start = i + 2;
		i++;
	}
	memmove(l->reply, l->reply + start, l->reply_len - start);
	l->reply_len -= start;
}

static void
take_request(struct loop *l, int epfd, int fd)
{
	ssize_t n;

	if (l->req[fd] == NULL && (l->req[fd] = malloc(REQ_BUF)) == NULL)
		die("malloc");
	n = recv(fd, l->req[fd] + l->req_len[fd], REQ_BUF - l->req_len[fd], 0);
	if (n <= 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
		close(fd);
		l->req_len[fd] = 0;
		return;
	}
	l->req_len[fd] += (size_t)n;
	if (l->req_len[fd] >= 2 && memcmp(l->req[fd] + l->req_len[fd] - 2, "\n\n", 2) == 0) {
		l->req_len[fd] = 0;
		queue_eval(l, fd);
	} else if (l->req_len[fd] == REQ_BUF) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
		close(fd);
		l->req_len[fd] = 0;
	}
}

static void *
loop_main(void *arg)
{
	struct loop *l = arg;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE }, events[64];
	int epfd = epoll_create1(0), redis_fd = unix_connect(redis_path);

	if (epfd < 0)
		die("epoll_create1");
	if (database > 0) {
		char select[64], db[12];
		const char *argv[] = { "SELECT", db };
		size_t n;

		snprintf(db, sizeof(db), "%d", database);
		n = resp_format_command(select, sizeof(select), 2, argv);
		if (write(redis_fd, select, n) != (ssize_t)n || read(redis_fd, select, 5) != 5
		    || memcmp(select, "+OK\r\n", 5) != 0)
			die("SELECT");
	}
	ev.data.fd = listen_fd;
	epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev);
	ev.events = EPOLLIN;
	ev.data.fd = redis_fd;
	epoll_ctl(epfd, EPOLL_CTL_ADD, redis_fd, &ev);
	for (;;) {
		int i, n = epoll_wait(epfd, events, 64, -1);

		for (i = 0; i < n; i++) {
			int fd = events[i].data.fd;

			if (fd == listen_fd) {
				int c = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK);

				if (c < 0)
					continue;
				if (c >= FD_MAX) {
					close(c);
					continue;
				}
				ev.data.fd = c;
				epoll_ctl(epfd, EPOLL_CTL_ADD, c, &ev);
			} else if (fd == redis_fd) {
				take_replies(l, redis_fd);
			} else {
				take_request(l, epfd, fd);
			}
		}
		if (l->out_len > 0) {
			size_t off = 0;

			while (off < l->out_len) {
				ssize_t w = write(redis_fd, l->out + off, l->out_len - off);

				if (w <= 0)
					die("redis write");
				off += (size_t)w;
			}
			l->out_len = 0;
		}
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = NULL;
	long i, threads = 4;
	pthread_t tid;
	int opt;

	while ((opt = getopt(argc, argv, "s:r:t:k:e:n:")) != -1) {
		switch (opt) {
		case 's': path = optarg; break;
		case 'r': redis_path = optarg; break;
		case 't': threads = strtol(optarg, NULL, 10); break;
		case 'k': nkeys = atoi(optarg); break;
		case 'e': script = optarg; break;
		case 'n': database = atoi(optarg); break;
		default: goto usage;
		}
	}
	if (path == NULL || redis_path == NULL || threads < 1 || threads > 64
	    || nkeys < 1 || nkeys > KEYS_MAX || strlen(script) > SCRIPT_MAX
	    || database < 0 || database > 15 || strlen(path) >= sizeof(sa.sun_path))
		goto usage;
	signal(SIGPIPE, SIG_IGN);
	pid = (long)getpid();
	strcpy(sa.sun_path, path);
	unlink(path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0
	    || listen(listen_fd, 128) < 0)
		die(path);
	for (i = 0; i < threads; i++) {
		struct loop *l = calloc(1, sizeof(*l));

		if (l == NULL)
			die("calloc");
		l->id = i;
		if (pthread_create(&tid, NULL, loop_main, l) != 0)
			die("pthread_create");
	}
	for (;;)
		pause();
usage:
	fprintf(stderr, "usage: policy-floor -s SOCKET -r REDIS_SOCKET [-t THREADS] [-k KEYS]"
		" [-e SCRIPT] [-n DB]\n");
	return 2;
}
