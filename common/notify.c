/*
 * notify.c - the sd_notify(3) datagram, by hand (see notify.h for why).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"

#define NOTIFY_STATE_MAX 512

int
notify_send(const char *state, char *err, size_t errsize)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t len;
	size_t plen;
	ssize_t sent;
	int fd, saved;

	if (path == NULL || path[0] == '\0')
		return 0;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || plen >= sizeof(sun.sun_path)) {
		snprintf(err, errsize, "NOTIFY_SOCKET=%.120s: not a socket path", path);
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, plen);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';	/* abstract namespace: no trailing NUL */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + (path[0] == '/'));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(err, errsize, "notify socket: %s", strerror(errno));
		return -1;
	}
	sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT,
		      (struct sockaddr *)&sun, len);
	saved = errno;
	close(fd);
	if (sent < 0) {
		snprintf(err, errsize, "notify %s: %s", path, strerror(saved));
		return -1;
	}
	return 0;
}

static void
send_or_warn(const char *state)
{
	char err[256];

	if (notify_send(state, err, sizeof(err)) < 0)
		log_warning("service manager not told %.*s: %s",
			    (int)strcspn(state, "\n"), state, err);
}

void
notify_ready(const char *status)
{
	char state[NOTIFY_STATE_MAX];

	if (status == NULL) {
		send_or_warn("READY=1");
		return;
	}
	/* STATUS= is one line: a newline would start another assignment. */
	snprintf(state, sizeof(state), "READY=1\nSTATUS=%.*s", (int)strcspn(status, "\n"),
		 status);
	send_or_warn(state);
}

void
notify_reloading(void)
{
	char state[96];
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0) {
		send_or_warn("RELOADING=1");
		return;
	}
	snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
	send_or_warn(state);
}

void
notify_stopping(void)
{
	send_or_warn("STOPPING=1");
}
