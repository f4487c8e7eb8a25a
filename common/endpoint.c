/*
 * endpoint.c - parse Postfix-style endpoints and open listening sockets.
 *
 * The listening socket is opened while still root (a unix socket under
 * /run, or a port below 1024), before the daemon drops privileges.
 *
 * Why a unix socket is bound under a temporary name and renamed into
 * place: rename() replaces whatever socket is at the path in one step, so
 * during a restart Postfix always finds a socket there (the old one until
 * the new one is ready), the socket is never reachable before it has its
 * group and mode, and the inode we put there identifies our socket, so
 * that at exit we remove only our own (endpoint_remove).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdbool.h>
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

/* A host name or address literal: letters, digits, '.', '-', '_'; in
 * brackets also ':' and '%' (IPv6, scope; a bracketed host must be IPv6,
 * with a ':', as endpoint_format() brackets only those). Anything else would only fail
 * later, at getaddrinfo(), with a less clear error, or come back from
 * endpoint_format() as text that means another endpoint. */
static bool
host_ok(const char *host, bool bracketed)
{
	const char *p;

	for (p = host; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (!(isalnum(c) || c == '.' || c == '-' || c == '_'
		      || (bracketed && (c == ':' || c == '%'))))
			return false;
	}
	return true;
}

static int
parse_inet(const char *rest, struct endpoint *out, const char **why)
{
	const char *colon;
	size_t hostlen;
	bool bracketed = *rest == '[';

	if (bracketed) {
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
	if (!host_ok(out->host, bracketed) || (bracketed && strchr(out->host, ':') == NULL)) {
		*why = "inet endpoint host must be a host name, an IPv4 address or [IPv6]";
		return -1;
	}
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
	out->group = (gid_t)-1;
	out->mode = 0660;
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

int
endpoint_temp_path(const struct endpoint *ep, char *buf, size_t size, char *err,
		   size_t errsize)
{
	size_t max = sizeof(((struct sockaddr_un *)0)->sun_path);
	int n = snprintf(buf, size, "%s.%ld.new", ep->path, (long)getpid());
	struct stat st;

	if (n < 0 || (size_t)n >= size || (size_t)n >= max) {
		snprintf(err, errsize, "unix:%s: path too long for its temporary name "
			 "PATH.PID.new: shorten it", ep->path);
		return -1;
	}
	if (lstat(ep->path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		snprintf(err, errsize, "%s exists and is not a socket", ep->path);
		return -1;
	}
	return 0;
}

int
endpoint_publish(const char *temp, const struct endpoint *ep, struct endpoint_bound *bound,
		 char *err, size_t errsize)
{
	struct stat st, old;

	if (ep->group != (gid_t)-1 && chown(temp, (uid_t)-1, ep->group) < 0) {
		snprintf(err, errsize, "unix:%s: cannot give the socket to group %ld: %s",
			 ep->path, (long)ep->group, strerror(errno));
		goto fail;
	}
	if (chmod(temp, ep->mode) < 0 || stat(temp, &st) < 0) {
		snprintf(err, errsize, "unix:%s: %s", ep->path, strerror(errno));
		goto fail;
	}
	/* Replace a socket (ours from an earlier run, or a running old
	 * instance's), but never a regular file someone put there. */
	if (lstat(ep->path, &old) == 0 && !S_ISSOCK(old.st_mode)) {
		snprintf(err, errsize, "%s exists and is not a socket", ep->path);
		goto fail;
	}
	if (rename(temp, ep->path) < 0) {
		snprintf(err, errsize, "unix:%s: rename: %s", ep->path, strerror(errno));
		goto fail;
	}
	if (bound) {
		snprintf(bound->path, sizeof(bound->path), "%s", ep->path);
		bound->dev = st.st_dev;
		bound->ino = st.st_ino;
	}
	return 0;
fail:
	unlink(temp);
	return -1;
}

int
endpoint_remove(const struct endpoint_bound *bound)
{
	struct stat st;

	if (bound == NULL || bound->path[0] == '\0')
		return 0;
	if (lstat(bound->path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (st.st_dev != bound->dev || st.st_ino != bound->ino)
		return 0;	/* another instance's socket now: not ours to remove */
	return unlink(bound->path) < 0 && errno != ENOENT ? -1 : 0;
}

int
endpoint_check_dir(const struct endpoint *ep, char *msg, size_t msgsize)
{
	char dir[sizeof(ep->path)];
	char *slash;
	struct stat st;

	msg[0] = '\0';
	if (ep->kind != ENDPOINT_UNIX)
		return 0;
	snprintf(dir, sizeof(dir), "%s", ep->path);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	if (stat(dir, &st) < 0) {
		snprintf(msg, msgsize, "socket directory %s: %s", dir, strerror(errno));
		return -1;
	}
	if (st.st_mode & S_IWOTH) {
		snprintf(msg, msgsize, "socket directory %s is writable by others (mode %04o): "
			 "anyone could replace the socket; refusing (chmod o-w %s, or use a directory "
			 "like /run/sluice, mode 0750)", dir, (unsigned)(st.st_mode & 07777), dir);
		return -1;
	}
	if (st.st_mode & S_IXOTH) {
		snprintf(msg, msgsize, "WARNING: socket directory %s can be entered by others "
			 "(mode %04o): the socket's own mode %04o is then the only fence; "
			 "make it 0750, group postfix (install -d -m 0750 -o sluice -g postfix %s)",
			 dir, (unsigned)(st.st_mode & 07777), (unsigned)ep->mode, dir);
		return 1;
	}
	return 0;
}

static int
listen_unix(const struct endpoint *ep, int backlog, struct endpoint_bound *bound,
	    char *err, size_t errsize)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t old_umask;
	int fd, rc;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (endpoint_temp_path(ep, sun.sun_path, sizeof(sun.sun_path), err, errsize) < 0)
		return -1;
	if (lstat(sun.sun_path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(sun.sun_path);	/* left by a crash of a process with our pid */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errsize, "socket: %s", strerror(errno));
		return -1;
	}
	/* 0600 until endpoint_publish() sets the group and mode. */
	old_umask = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old_umask);
	if (rc < 0 || listen(fd, backlog) < 0) {
		snprintf(err, errsize, "unix:%s: %s", ep->path, strerror(errno));
		if (rc == 0)
			unlink(sun.sun_path);
		close(fd);
		return -1;
	}
	if (endpoint_publish(sun.sun_path, ep, bound, err, errsize) < 0) {
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
endpoint_listen(const struct endpoint *ep, int backlog, struct endpoint_bound *bound,
		char *err, size_t errsize)
{
	if (bound)
		memset(bound, 0, sizeof(*bound));
	if (ep->kind == ENDPOINT_UNIX)
		return listen_unix(ep, backlog, bound, err, errsize);
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
