/*
 * rcpt_smtp.c - the SMTP probe (see rcpt_smtp.h).
 *
 * A probe is a callout as Postfix's reject_unverified_recipient does it,
 * but its answer is cached in Redis for every MX host (check_recipients.c)
 * and its connections are kept: after RSET a connection waits in the
 * server's idle list for idle_ms, so a burst of recipients costs one
 * MAIL/RCPT/RSET exchange each, not a connection each.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "job_pool.h"
#include "rcpt_smtp.h"

int
smtp_reply_parse(const char *buf, size_t len, int *code, size_t *used)
{
	size_t pos = 0;
	int first = -1;

	while (pos < len) {
		const char *line = buf + pos, *nl = memchr(line, '\n', len - pos);
		size_t n;
		int c;

		if (nl == NULL)
			return len - pos > SMTP_REPLY_MAX ? -1 : 0;
		n = (size_t)(nl - line);
		if (n < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9'
		    || line[2] < '0' || line[2] > '9')
			return -1;
		c = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		if (first >= 0 && c != first)
			return -1;	/* continuation lines repeat the code */
		first = c;
		pos += n + 1;
		if (n == 3 || line[3] == ' ' || line[3] == '\r') {
			*code = c;
			*used = pos;
			return 1;
		}
		if (line[3] != '-')
			return -1;
		if (pos > SMTP_REPLY_MAX)
			return -1;
	}
	return 0;
}

struct smtp_conn {
	int fd;
};

static void
conn_close_handle(void *handle)
{
	struct smtp_conn *c = handle;

	if (c == NULL)
		return;
	(void)!write(c->fd, "QUIT\r\n", 6);
	close(c->fd);
	free(c);
}

static int
wait_fd(int fd, short events, const struct timespec *deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		long ms = job_ms_until(deadline);
		int n;

		if (ms <= 0)
			return -1;
		n = poll(&p, 1, (int)ms);
		if (n > 0)
			return 0;
		if (n == 0 || errno != EINTR)
			return -1;
	}
}

static int
send_all(int fd, const char *text, const struct timespec *deadline)
{
	size_t len = strlen(text), off = 0;

	while (off < len) {
		ssize_t n = send(fd, text + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLOUT, deadline) < 0)
				return -1;
			continue;
		}
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

/* One reply: its code, or -1 (closed, timed out, garbled). */
static int
read_reply(int fd, const struct timespec *deadline)
{
	char buf[SMTP_REPLY_MAX + 512];
	size_t len = 0, used;
	int code;

	for (;;) {
		ssize_t n;
		int r = smtp_reply_parse(buf, len, &code, &used);

		if (r == 1)
			return used == len ? code : -1;	/* no pipelining: nothing may follow */
		if (r < 0 || len >= sizeof(buf))
			return -1;
		if (wait_fd(fd, POLLIN, deadline) < 0)
			return -1;
		n = recv(fd, buf + len, sizeof(buf) - len, 0);
		if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR)))
			return -1;
		if (n > 0)
			len += (size_t)n;
	}
}

static int
command(int fd, const char *text, const struct timespec *deadline)
{
	return send_all(fd, text, deadline) < 0 ? -1 : read_reply(fd, deadline);
}

static struct smtp_conn *
connect_server(const char *host, int port, const char *helo, const struct timespec *deadline,
	       char *why, size_t whysize)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	struct smtp_conn *c;
	char portstr[8], line[300];
	int fd, err = 0, code;
	socklen_t elen = sizeof(err);

	snprintf(portstr, sizeof(portstr), "%d", port);
	if (getaddrinfo(host, portstr, &hints, &res) != 0 || res == NULL) {
		snprintf(why, whysize, "cannot resolve %s", host);
		return NULL;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, res->ai_addr, res->ai_addrlen) < 0 && errno != EINPROGRESS)
	    || wait_fd(fd, POLLOUT, deadline) < 0
	    || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err != 0) {
		snprintf(why, whysize, "connect to %s:%d: %s", host, port,
			 err ? strerror(err) : job_ms_until(deadline) <= 0 ? "timed out" : strerror(errno));
		freeaddrinfo(res);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	freeaddrinfo(res);
	if ((code = read_reply(fd, deadline)) != 220) {
		snprintf(why, whysize, "%s:%d: %s", host, port,
			 code < 0 ? "no greeting in time" : "greeting refused");
		close(fd);
		return NULL;
	}
	snprintf(line, sizeof(line), "EHLO %s\r\n", helo);
	if ((code = command(fd, line, deadline)) / 100 != 2) {
		snprintf(line, sizeof(line), "HELO %s\r\n", helo);
		if (code < 0 || (code = command(fd, line, deadline)) / 100 != 2) {
			snprintf(why, whysize, "%s:%d: EHLO/HELO %s", host, port,
				 code < 0 ? "not answered" : "refused");
			close(fd);
			return NULL;
		}
	}
	if ((c = malloc(sizeof(*c))) == NULL) {
		snprintf(why, whysize, "out of memory");
		close(fd);
		return NULL;
	}
	c->fd = fd;
	return c;
}

/* RFC 5321 atext, and '.': a local part of only these needs no quotes. */
static bool
is_dot_atom(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= 'A' && s[i] <= 'Z')
		    && !(s[i] >= '0' && s[i] <= '9') && strchr("!#$%&'*+-/=?^_`{|}~.", s[i]) == NULL)
			return false;
	return n > 0 && s[0] != '.' && s[n - 1] != '.' && strstr(s, "..") == NULL;
}

/* "RCPT TO:<local@domain>\r\n", the local part quoted when it must be
 * ("john doe"@x): sent unquoted, a valid address would draw a 501 syntax
 * error, which is a 5xx, and be refused as unknown. */
int
rcpt_path(const char *address, char *out, size_t size)
{
	const char *at = strrchr(address, '@');
	size_t n = 0, i, local = at ? (size_t)(at - address) : strlen(address);
	int w;

	if (at == NULL || is_dot_atom(address, local)) {
		w = snprintf(out, size, "RCPT TO:<%s>\r\n", address);
		return w < 0 || (size_t)w >= size ? -1 : 0;
	}
	w = snprintf(out, size, "RCPT TO:<\"");
	if (w < 0 || (size_t)w >= size)
		return -1;
	n = (size_t)w;
	for (i = 0; i < local; i++) {
		if (n + 3 >= size)
			return -1;
		if (address[i] == '"' || address[i] == '\\')
			out[n++] = '\\';
		out[n++] = address[i];
	}
	w = snprintf(out + n, size - n, "\"%s>\r\n", at);
	return w < 0 || (size_t)w >= size - n ? -1 : 0;
}

/* MAIL and RCPT on c: the RCPT code, or -1 when the connection failed
 * (-2 when MAIL was refused: the server answered, but not our question). */
static int
ask(struct smtp_conn *c, const char *address, const struct timespec *deadline)
{
	char line[600];
	int code = command(c->fd, "MAIL FROM:<>\r\n", deadline);

	if (code < 0)
		return -1;
	if (code / 100 != 2)
		return -2;
	if (rcpt_path(address, line, sizeof(line)) < 0)
		return -2;
	return command(c->fd, line, deadline);
}

enum rcpt_answer
rcpt_smtp_probe(const char *host, int port, const char *helo, const char *address,
		int concurrency, long idle_ms, const struct timespec *deadline,
		char *why, size_t whysize)
{
	char key[300];
	struct backend *b;
	struct smtp_conn *c;
	const char *busy = NULL;
	bool reused, dead = false;
	int code;
	enum rcpt_answer answer = RCPT_TEMPFAIL;

	snprintf(key, sizeof(key), "smtp:%s:%d", host, port);
	if (strlen(address) > 256 || strpbrk(address, "\r\n") != NULL) {
		snprintf(why, whysize, "address unfit for RCPT TO");
		return RCPT_TEMPFAIL;
	}
	if ((b = backend_get(key, conn_close_handle)) == NULL) {
		snprintf(why, whysize, "out of memory");
		return RCPT_TEMPFAIL;
	}
	if (backend_enter(b, concurrency, deadline, &busy) < 0) {
		snprintf(why, whysize, "%s:%d: %s", host, port, busy);
		return RCPT_TEMPFAIL;
	}
	c = backend_take_idle(b, idle_ms);
	reused = c != NULL;
	for (;;) {
		if (c == NULL && (c = connect_server(host, port, helo, deadline, why, whysize)) == NULL) {
			dead = true;
			break;
		}
		code = ask(c, address, deadline);
		if (code == -1 && reused && job_ms_until(deadline) > 0) {
			conn_close_handle(c);	/* the server closed it meanwhile */
			c = NULL;
			reused = false;
			continue;
		}
		break;
	}
	if (c == NULL) {
		backend_leave(b, NULL, dead);
		return RCPT_TEMPFAIL;
	}
	if (code == -1) {
		snprintf(why, whysize, "%s:%d: no answer to MAIL or RCPT in time", host, port);
		dead = true;
	} else if (code == -2) {
		snprintf(why, whysize, "%s:%d: MAIL FROM:<> refused", host, port);
	} else if (code / 100 == 2) {
		answer = RCPT_VALID;
		snprintf(why, whysize, "%d", code);
	} else if (code / 100 == 5) {
		answer = RCPT_UNKNOWN;
		snprintf(why, whysize, "%d", code);
	} else {
		snprintf(why, whysize, "%s:%d: RCPT answered %d", host, port, code);
	}
	if (code == -1 || command(c->fd, "RSET\r\n", deadline) / 100 != 2) {
		conn_close_handle(c);
		c = NULL;
	}
	backend_leave(b, c, dead);
	return answer;
}
