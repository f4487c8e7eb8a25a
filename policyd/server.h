/*
 * server.h - the policy daemon's event loop.
 *
 * Interface:
 *   server_run()  serves the already-open listening socket until SIGTERM
 *                 or SIGINT; reloads the config on SIGHUP. Returns the
 *                 process exit status.
 *
 * Contract: one thread, epoll, non-blocking sockets; thousands of Postfix
 * connections at once, each sending one request at a time (pipelined
 * requests are answered in order too). Every input is bounded (line,
 * request, attribute count, idle time, connection count); a protocol
 * violation closes that connection without a reply, as the protocol asks,
 * and is logged; nothing a client sends stops the daemon. SIGTERM stops
 * accepting, answers every request already received, then exits.
 */
#ifndef SLUICE_POLICY_SERVER_H
#define SLUICE_POLICY_SERVER_H

#include "config.h"

/* cfg becomes the server's; listen_fd is the bound, listening socket. */
int server_run(struct sluice_config *cfg, const char *config_path, int listen_fd);

#endif
