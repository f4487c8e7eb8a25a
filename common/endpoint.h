/*
 * endpoint.h - listening endpoints written as Postfix writes them in
 * main.cf: "unix:/path/to/socket" or "inet:host:port" ("inet:[::1]:10023"
 * for IPv6, "inet:10023" for all addresses is refused: we never listen on
 * the world by accident, the host must be given).
 *
 * Interface:
 *   endpoint_parse()      text -> struct endpoint, or -1 with a reason.
 *   endpoint_listen()     socket, bind, listen; for unix sockets a stale
 *                         socket file is removed first and the new one is
 *                         made mode 0666 (Postfix's smtpd connects as user
 *                         postfix; the directory is the access control).
 *   endpoint_to_milter()  libmilter's own notation ("unix:/p", "inet:P@H",
 *                         "inet6:P@H").
 *   endpoint_format()     back to the Postfix notation, for logs.
 */
#ifndef SLUICE_ENDPOINT_H
#define SLUICE_ENDPOINT_H

#include <stddef.h>
#include <sys/un.h>

enum endpoint_kind { ENDPOINT_UNIX, ENDPOINT_INET };

struct endpoint {
	enum endpoint_kind kind;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char host[256];
	char port[8];
};

int endpoint_parse(const char *text, struct endpoint *out, const char **why);
int endpoint_listen(const struct endpoint *ep, int backlog, char *err, size_t errsize);
int endpoint_to_milter(const struct endpoint *ep, char *buf, size_t size);
int endpoint_format(const struct endpoint *ep, char *buf, size_t size);

#endif
