/*
 * endpoint.c - parse Postfix-style endpoints and open listening sockets.
 *
 * The listening socket is opened while still root (a unix socket under
 * /run, or a port below 1024), before the daemon drops privileges.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "endpoint.h"

static int
parse_port(const char *text, char *out, size_t size)
{
	char *end;
	long port;

	if (*text == '\0' || strlen(text) >= size)
		return -1;
	errno = 0;
	port = strtol(text, &end, 10);
	if (errno || *end || port < 1 || port > 65535)
		return -1;
	snprintf(out, size, "%ld", port);
	return 0;
}

static int
parse_inet(const char *rest, struct endpoint *out, const char **why)
{
	const char *colon;
	size_t hostlen;

	if (*rest == '[') {
		const char *close = strchr(rest, ']');

		if (close == NULL || close[1] != ':') {
			*why = "IPv6 endpoint must be inet:[address]:port";
			return -1;
		}
		hostlen = (size_t)(close - rest - 1);
		rest++;
		colon = close + 1;
	} else {
		colon = strrchr(rest, ':');
		if (colon == NULL) {
			*why = "inet endpoint must be inet:host:port";
			return -1;
		}
		hostlen = (size_t)(colon - rest);
	}
	if (hostlen == 0 || hostlen >= sizeof(out->host)) {
		*why = "inet endpoint needs a host (for example 127.0.0.1)";
		return -1;
	}
	memcpy(out->host, rest, hostlen);
	out->host[hostlen] = '\0';
	if (parse_port(colon + 1, out->port, sizeof(out->port)) < 0) {
		*why = "port must be a number from 1 to 65535";
		return -1;
	}
	out->kind = ENDPOINT_INET;
	return 0;
}

int
endpoint_parse(const char *text, struct endpoint *out, const char **why)
{
	const char *dummy;

	if (why == NULL)
		why = &dummy;
	memset(out, 0, sizeof(*out));
	if (strncmp(text, "unix:", 5) == 0) {
		const char *path = text + 5;

		if (path[0] != '/') {
			*why = "unix socket path must be absolute";
			return -1;
		}
		if (strlen(path) >= sizeof(out->path)) {
			*why = "unix socket path is too long";
			return -1;
		}
		strcpy(out->path, path);
		out->kind = ENDPOINT_UNIX;
		return 0;
	}
	if (strncmp(text, "inet:", 5) == 0)
		return parse_inet(text + 5, out, why);
	*why = "endpoint must start with unix: or inet:";
	return -1;
}

static int
listen_unix(const struct endpoint *ep, int backlog, char *err, size_t errsize)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, ep->path);
	/* Remove a stale socket, but never a regular file someone put there. */
	if (lstat(ep->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errsize, "%s exists and is not a socket", ep->path);
			return -1;
		}
		unlink(ep->path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errsize, "socket: %s", strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0
	    || chmod(ep->path, 0666) < 0 || listen(fd, backlog) < 0) {
		snprintf(err, errsize, "unix:%s: %s", ep->path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
listen_inet(const struct endpoint *ep, int backlog, char *err, size_t errsize)
{
	struct addrinfo hints, *res;
	int fd, rc, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(ep->host, ep->port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errsize, "inet:%s:%s: %s", ep->host, ep->port, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errsize, "socket: %s", strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, backlog) < 0) {
		snprintf(err, errsize, "inet:%s:%s: %s", ep->host, ep->port, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

int
endpoint_listen(const struct endpoint *ep, int backlog, char *err, size_t errsize)
{
	if (ep->kind == ENDPOINT_UNIX)
		return listen_unix(ep, backlog, err, errsize);
	return listen_inet(ep, backlog, err, errsize);
}

int
endpoint_to_milter(const struct endpoint *ep, char *buf, size_t size)
{
	int n;

	if (ep->kind == ENDPOINT_UNIX)
		n = snprintf(buf, size, "unix:%s", ep->path);
	else
		n = snprintf(buf, size, "%s:%s@%s", strchr(ep->host, ':') ? "inet6" : "inet",
			     ep->port, ep->host);
	return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

int
endpoint_format(const struct endpoint *ep, char *buf, size_t size)
{
	int n;

	if (ep->kind == ENDPOINT_UNIX)
		n = snprintf(buf, size, "unix:%s", ep->path);
	else if (strchr(ep->host, ':'))
		n = snprintf(buf, size, "inet:[%s]:%s", ep->host, ep->port);
	else
		n = snprintf(buf, size, "inet:%s:%s", ep->host, ep->port);
	return (n < 0 || (size_t)n >= size) ? -1 : 0;
}
