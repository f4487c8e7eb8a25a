/*
 * reinject.c - a minimal SMTP client for the re-injection listener
 * (interface and contract in reinject.h). Why our own: libmilter threads
 * may block, and the listener is our own Postfix on loopback or a unix
 * socket, so a plain blocking client with socket timeouts is enough.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "reinject.h"

struct conn {
	int fd;
	char buf[4096];
	size_t len;
};

static int
dial(const struct endpoint *ep, int timeout_ms, char *err, size_t errsize)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	int fd = -1;

	if (ep->kind == ENDPOINT_UNIX) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };

		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", ep->path);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			goto fail;
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
			goto fail;
		return fd;
	} else {
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST }, *ai;
		int rc = getaddrinfo(ep->host, ep->port, &hints, &ai);

		if (rc != 0) {
			snprintf(err, errsize, "reinject: %s: %s", ep->host, gai_strerror(rc));
			return -1;
		}
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0) {
			/* SO_SNDTIMEO bounds connect() on Linux too */
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
				close(fd);
				fd = -1;
			}
		}
		freeaddrinfo(ai);
		if (fd >= 0)
			return fd;
	}
fail:
	snprintf(err, errsize, "reinject: connect: %s", strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

static int
send_all(struct conn *c, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads one whole reply (multi-line too); its code, or -1. */
static int
reply(struct conn *c, char *last, size_t lastsize)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		ssize_t n;

		if (nl) {
			size_t linelen = (size_t)(nl - c->buf) + 1;
			int done = linelen >= 4 && c->buf[3] == ' ';
			int code = linelen >= 3 ? (c->buf[0] - '0') * 100 + (c->buf[1] - '0') * 10 + (c->buf[2] - '0') : -1;

			snprintf(last, lastsize, "%.*s", (int)(linelen > 1 ? linelen - 2 : 0), c->buf);
			memmove(c->buf, nl + 1, c->len - linelen);
			c->len -= linelen;
			if (done || linelen < 4)
				return code;
			continue;
		}
		if (c->len == sizeof(c->buf))
			return -1;	/* a line longer than any SMTP reply */
		n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		c->len += (size_t)n;
	}
}

static int
command(struct conn *c, const char *line, int want, char *err, size_t errsize)
{
	char last[512];
	int code;

	if (line && send_all(c, line, strlen(line)) < 0) {
		snprintf(err, errsize, "reinject: send: %s", strerror(errno));
		return -1;
	}
	if ((code = reply(c, last, sizeof(last))) / 100 != want / 100) {
		snprintf(err, errsize, "reinject: %s", code < 0 ? "no reply (timeout or closed)" : last);
		return -1;
	}
	return 0;
}

/* The message with each line starting with "." doubled. */
static int
send_stuffed(struct conn *c, const char *msg, size_t len)
{
	size_t i, start = 0;
	int bol = 1;

	for (i = 0; i < len; i++) {
		if (bol && msg[i] == '.') {
			if (send_all(c, msg + start, i - start) < 0 || send_all(c, ".", 1) < 0)
				return -1;
			start = i;
		}
		bol = msg[i] == '\n';
	}
	if (send_all(c, msg + start, len - start) < 0)
		return -1;
	if (len >= 2 && msg[len - 2] == '\r' && msg[len - 1] == '\n')
		return send_all(c, ".\r\n", 3);
	return send_all(c, "\r\n.\r\n", 5);
}

int
reinject_send(const struct endpoint *ep, int timeout_ms, const char *helo,
	      const char *from, char (*rcpts)[257], size_t nrcpts,
	      const char *msg, size_t len, char *err, size_t errsize)
{
	struct conn c = { .fd = -1 };
	char line[600];
	size_t i;
	int rc = -1;

	if ((c.fd = dial(ep, timeout_ms, err, errsize)) < 0)
		return -1;
	if (command(&c, NULL, 220, err, errsize) < 0)
		goto out;
	snprintf(line, sizeof(line), "EHLO %s\r\n", helo);
	if (command(&c, line, 250, err, errsize) < 0)
		goto out;
	snprintf(line, sizeof(line), "MAIL FROM:<%s>\r\n", from);
	if (command(&c, line, 250, err, errsize) < 0)
		goto out;
	for (i = 0; i < nrcpts; i++) {
		snprintf(line, sizeof(line), "RCPT TO:<%s>\r\n", rcpts[i]);
		if (command(&c, line, 250, err, errsize) < 0)
			goto out;
	}
	if (command(&c, "DATA\r\n", 354, err, errsize) < 0)
		goto out;
	if (send_stuffed(&c, msg, len) < 0) {
		snprintf(err, errsize, "reinject: send: %s", strerror(errno));
		goto out;
	}
	if (command(&c, NULL, 250, err, errsize) < 0)
		goto out;
	rc = 0;
	(void)command(&c, "QUIT\r\n", 221, line, sizeof(line));
out:
	close(c.fd);
	return rc;
}
