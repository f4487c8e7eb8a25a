/*
 * endpoint.h - listening endpoints written as Postfix writes them in
 * main.cf: "unix:/path/to/socket" or "inet:host:port" ("inet:[::1]:10023"
 * for IPv6, "inet:10023" for all addresses is refused: we never listen on
 * the world by accident, the host must be given).
 *
 * Interface:
 *   endpoint_parse()      text -> struct endpoint, or -1 with a reason.
 *   endpoint_listen()     socket, bind, listen. A unix socket is bound
 *                         under a temporary name next to the path (mode
 *                         0600 while it is made), given ep->group and
 *                         ep->mode (0660, group postfix by default: Postfix
 *                         connects as user postfix, no one else may), and
 *                         renamed over the path: a restart replaces the
 *                         old socket atomically, never leaves the path
 *                         empty. *bound records what was put there.
 *   endpoint_publish()    the same group, mode and rename for a socket
 *                         someone else (libmilter) bound at a temporary
 *                         name from endpoint_temp_path().
 *   endpoint_remove()     unlinks the path at exit only if it is still the
 *                         socket this process put there (same device and
 *                         inode): an old instance stopping after a new one
 *                         started never removes the new one's socket.
 *   endpoint_check_dir()  the directory of a unix socket: refused (-1)
 *                         when others may write it (they could replace the
 *                         socket), a warning (1) when others may enter it.
 *   endpoint_to_milter()  libmilter's own notation ("unix:/p", "inet:P@H",
 *                         "inet6:P@H").
 *   endpoint_format()     back to the Postfix notation, for logs.
 */
#ifndef SLUICE_ENDPOINT_H
#define SLUICE_ENDPOINT_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>

enum endpoint_kind { ENDPOINT_UNIX, ENDPOINT_INET };

struct endpoint {
	enum endpoint_kind kind;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char host[256];
	char port[8];
	/* unix sockets: group ((gid_t)-1: unchanged) and mode; endpoint_parse
	 * sets -1 and 0660, config_load sets socket_group and socket_mode. */
	gid_t group;
	mode_t mode;
};

/* What endpoint_listen/endpoint_publish put at a unix path, for
 * endpoint_remove(); path[0] == '\0' for inet endpoints. */
struct endpoint_bound {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;
	ino_t ino;
};

int endpoint_parse(const char *text, struct endpoint *out, const char **why);
int endpoint_listen(const struct endpoint *ep, int backlog, struct endpoint_bound *bound,
		    char *err, size_t errsize);
/* The temporary name to bind a unix socket at, once the path is known to
 * be replaceable (absent, or a socket): -1 with err otherwise. */
int endpoint_temp_path(const struct endpoint *ep, char *buf, size_t size, char *err,
		       size_t errsize);
int endpoint_publish(const char *temp, const struct endpoint *ep, struct endpoint_bound *bound,
		     char *err, size_t errsize);
int endpoint_remove(const struct endpoint_bound *bound);
int endpoint_check_dir(const struct endpoint *ep, char *msg, size_t msgsize);
int endpoint_to_milter(const struct endpoint *ep, char *buf, size_t size);
int endpoint_format(const struct endpoint *ep, char *buf, size_t size);

#endif
