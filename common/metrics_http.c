/*
 * metrics_http.c - the /metrics endpoint (see metrics_http.h).
 *
 * One poll() loop over the listening socket, a wake pipe and at most
 * METRICS_HTTP_CLIENTS connections, all non-blocking. A connection reads
 * its request head into a fixed buffer, gets its whole answer rendered at
 * once (a few tens of KiB) and writes it as the socket takes it; its
 * deadline runs from accept to the last byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics_http.h"

struct client {
	int fd;				/* -1: free */
	long deadline_ms;
	long accepted_ms;
	char in[METRICS_HTTP_REQUEST_MAX];
	size_t in_len;
	char *out;			/* the answer, once the head is in */
	size_t out_len, out_off;
};

struct metrics_http {
	pthread_t thread;
	int listen_fd;
	int wake[2];
	struct metrics *registry;
	struct client clients[METRICS_HTTP_CLIENTS];
};

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void
client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->out);
	c->fd = -1;
	c->out = NULL;
	c->in_len = c->out_len = c->out_off = 0;
}

/* The end of the head: an empty line ("\r\n\r\n", or "\n\n"). */
static bool
head_complete(const char *buf, size_t len)
{
	size_t i;

	for (i = 1; i < len; i++)
		if (buf[i] == '\n' && (buf[i - 1] == '\n'
				       || (i >= 2 && buf[i - 1] == '\r' && buf[i - 2] == '\n')))
			return true;
	return false;
}

int
metrics_http_classify(const char *head, size_t len, int *is_head)
{
	const char *end = memchr(head, '\n', len), *sp1, *sp2, *p;
	size_t line, mlen, plen;

	*is_head = 0;
	if (end == NULL)
		return 400;
	line = (size_t)(end - head);
	if (line > 0 && head[line - 1] == '\r')
		line--;
	for (p = head; p < head + line; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			return 400;	/* binary or control bytes */
	if ((sp1 = memchr(head, ' ', line)) == NULL
	    || (sp2 = memchr(sp1 + 1, ' ', line - (size_t)(sp1 + 1 - head))) == NULL
	    || strncmp(sp2 + 1, "HTTP/", 5) != 0 || (size_t)(head + line - (sp2 + 1)) < 8)
		return 400;
	mlen = (size_t)(sp1 - head);
	plen = (size_t)(sp2 - (sp1 + 1));
	if (!(mlen == 3 && memcmp(head, "GET", 3) == 0)
	    && !(mlen == 4 && memcmp(head, "HEAD", 4) == 0))
		return 405;
	*is_head = mlen == 4;
	p = memchr(sp1 + 1, '?', plen);
	if (p)
		plen = (size_t)(p - (sp1 + 1));	/* Prometheus may add ?params */
	if (plen != 8 || memcmp(sp1 + 1, "/metrics", 8) != 0)
		return 404;
	return 200;
}

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 431: return "Request Header Fields Too Large";
	default: return "Internal Server Error";
	}
}

/* The whole answer into c->out: status line, headers, body. */
static void
client_answer(struct metrics_http *h, struct client *c, int status, int is_head)
{
	char head[256], *body = NULL;
	size_t body_len = 0;
	int n;

	if (status == 200) {
		body = metrics_render(h->registry, (long)time(NULL), &body_len);
		if (body == NULL)
			status = 500;
	}
	if (status != 200) {
		static const char *const text[] = { "bad request\n", "not found\n" };

		body = strdup(status == 404 ? text[1] : text[0]);
		body_len = body ? strlen(body) : 0;
	}
	n = snprintf(head, sizeof(head),
		     "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\n\r\n", status, reason(status),
		     status == 200 ? "text/plain; version=0.0.4; charset=utf-8"
				   : "text/plain; charset=utf-8", body_len);
	c->out = malloc((size_t)n + (is_head ? 0 : body_len));
	if (c->out == NULL) {
		free(body);
		client_close(c);
		return;
	}
	memcpy(c->out, head, (size_t)n);
	if (!is_head && body_len)
		memcpy(c->out + n, body, body_len);
	c->out_len = (size_t)n + (is_head ? 0 : body_len);
	c->out_off = 0;
	free(body);
}

static void
client_read(struct metrics_http *h, struct client *c)
{
	ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
	int is_head = 0;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	c->in_len += (size_t)n;
	if (head_complete(c->in, c->in_len))
		client_answer(h, c, metrics_http_classify(c->in, c->in_len, &is_head), is_head);
	else if (c->in_len == sizeof(c->in))
		client_answer(h, c, 431, 0);
}

static void
client_write(struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0)
			break;
		c->out_off += (size_t)n;
	}
	client_close(c);	/* all written (or the client went away) */
}

static void
accept_clients(struct metrics_http *h)
{
	int i, fd;

	while ((fd = accept4(h->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		struct client *slot = NULL, *oldest = NULL;

		for (i = 0; i < METRICS_HTTP_CLIENTS && slot == NULL; i++) {
			struct client *c = &h->clients[i];

			if (c->fd < 0)
				slot = c;
			else if (oldest == NULL || c->accepted_ms < oldest->accepted_ms)
				oldest = c;
		}
		if (slot == NULL) {
			client_close(oldest);	/* full: the oldest goes */
			slot = oldest;
		}
		slot->fd = fd;
		slot->accepted_ms = now_ms();
		slot->deadline_ms = slot->accepted_ms + METRICS_HTTP_TIMEOUT_MS;
	}
}

static void *
serve(void *arg)
{
	struct metrics_http *h = arg;
	struct pollfd pfd[METRICS_HTTP_CLIENTS + 2];
	struct client *of[METRICS_HTTP_CLIENTS + 2];

	for (;;) {
		long now = now_ms(), next = now + 60000;
		int n = 0, i, wait;

		pfd[n++] = (struct pollfd){ .fd = h->wake[0], .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = h->listen_fd, .events = POLLIN };
		for (i = 0; i < METRICS_HTTP_CLIENTS; i++) {
			struct client *c = &h->clients[i];

			if (c->fd < 0)
				continue;
			if (now >= c->deadline_ms) {
				client_close(c);	/* slow or silent: bounded */
				continue;
			}
			if (c->deadline_ms < next)
				next = c->deadline_ms;
			of[n] = c;
			pfd[n++] = (struct pollfd){ .fd = c->fd,
						    .events = c->out ? POLLOUT : POLLIN };
		}
		wait = (int)(next - now);
		if (poll(pfd, (nfds_t)n, wait < 0 ? 0 : wait) < 0) {
			if (errno == EINTR)
				continue;
			log_error("metrics: poll: %s", strerror(errno));
			return NULL;
		}
		if (pfd[0].revents)
			return NULL;	/* stop */
		for (i = 2; i < n; i++) {
			struct client *c = of[i];

			if (!pfd[i].revents)
				continue;
			if (c->out == NULL)
				client_read(h, c);
			if (c->fd >= 0 && c->out)
				client_write(c);
		}
		if (pfd[1].revents)
			accept_clients(h);
	}
}

struct metrics_http *
metrics_http_start(int listen_fd, struct metrics *registry, char *err, size_t errsize)
{
	struct metrics_http *h = calloc(1, sizeof(*h));
	sigset_t all, old;
	int i, rc;

	if (h == NULL) {
		snprintf(err, errsize, "metrics: out of memory");
		return NULL;
	}
	h->listen_fd = listen_fd;
	h->registry = registry;
	for (i = 0; i < METRICS_HTTP_CLIENTS; i++)
		h->clients[i].fd = -1;
	if (pipe2(h->wake, O_CLOEXEC) < 0
	    || fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK) < 0) {
		snprintf(err, errsize, "metrics: %s", strerror(errno));
		free(h);
		return NULL;
	}
	/* The thread inherits a mask with every signal blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&h->thread, NULL, serve, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errsize, "metrics: cannot start a thread: %s", strerror(rc));
		close(h->wake[0]);
		close(h->wake[1]);
		free(h);
		return NULL;
	}
	return h;
}

void
metrics_http_stop(struct metrics_http *h)
{
	int i;

	if (h == NULL)
		return;
	if (write(h->wake[1], "x", 1) < 0)
		log_warning("metrics: cannot wake the endpoint: %s", strerror(errno));
	pthread_join(h->thread, NULL);
	for (i = 0; i < METRICS_HTTP_CLIENTS; i++)
		client_close(&h->clients[i]);
	close(h->wake[0]);
	close(h->wake[1]);
	close(h->listen_fd);
	free(h);
}
