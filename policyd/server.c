/*
 * server.c - epoll loop, connections, framing, answers, reload, stop.
 *
 * Framing is done here, not in the parser: bytes are scanned once as they
 * arrive, a line is refused as soon as it passes POLICY_LINE_MAX (so a
 * 1 MiB line costs us 4 KiB, not 1 MiB), and a request is handed to the
 * parser only when its empty line has arrived. Input buffers start small
 * and grow to POLICY_REQUEST_MAX, because most requests are ~1 KiB and we
 * hold thousands of connections.
 *
 * Idle connections sit on a list in order of last activity; the sweep
 * closes from the old end, so it costs nothing per request. Postfix
 * closes its side after smtpd_policy_service_max_idle (300 s); our
 * idle_timeout (default 600 s) only removes connections Postfix forgot.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "log.h"
#include "server.h"

#define INPUT_INITIAL 1024
#define STOP_GRACE_SECONDS 10

struct conn {
	int fd;
	char *in;
	size_t in_len, in_cap;
	size_t scan;		/* bytes already scanned for newlines */
	size_t line_start;	/* start of the current line */
	char out[sizeof(((struct policy_reply *)0)->action) + 16];
	size_t out_len, out_off;
	time_t last_active;
	struct conn *prev, *next;	/* idle order, oldest first */
};

struct server {
	int epfd, listen_fd, sig_fd;
	struct conn *oldest, *newest;
	int conn_count;
	struct sluice_config *cfg;
	const char *config_path;
	struct check_chain *chain;
	struct redis_client *redis;
	bool stopping;
	time_t last_full_warning;
};

/* epoll tags for the two non-connection descriptors */
static char tag_listen, tag_signal;

static void
idle_unlink(struct server *srv, struct conn *c)
{
	if (c->prev) c->prev->next = c->next; else srv->oldest = c->next;
	if (c->next) c->next->prev = c->prev; else srv->newest = c->prev;
	c->prev = c->next = NULL;
}

static void
idle_touch(struct server *srv, struct conn *c)
{
	if (srv->newest == c)
		return;
	if (c->prev || c->next || srv->oldest == c)
		idle_unlink(srv, c);
	c->prev = srv->newest;
	if (srv->newest) srv->newest->next = c; else srv->oldest = c;
	srv->newest = c;
	c->last_active = time(NULL);
}

static void
conn_close(struct server *srv, struct conn *c)
{
	idle_unlink(srv, c);
	close(c->fd);		/* also removes it from the epoll set */
	free(c->in);
	free(c);
	srv->conn_count--;
}

static void
conn_fail(struct server *srv, struct conn *c, const char *why)
{
	log_warning("NOQUEUE: policy=protocol-error fd=%d reason=\"%s\" action=close", c->fd, why);
	conn_close(srv, c);
}

static int
conn_watch(struct server *srv, struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	return epoll_ctl(srv->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void
log_decision(const struct policy_request *req, const struct policy_reply *reply)
{
	struct logline line;

	logline_start(&line, req->queue_id);
	logline_add(&line, reply->verdict_key, reply->verdict);
	logline_add_client(&line, req->client_name, req->client_address);
	if (req->sender)
		logline_add_addr(&line, "from", req->sender);
	if (req->recipient && *req->recipient)
		logline_add_addr(&line, "to", req->recipient);
	logline_concat(&line, &reply->details);
	logline_add(&line, "state", req->protocol_state);
	log_line(LOG_INFO, &line);
}

/* Decides one framed request of len bytes at c->in; -1 closes. */
static int
answer_request(struct server *srv, struct conn *c, size_t len)
{
	struct policy_request req;
	struct policy_reply reply;
	struct policy_context ctx = { srv->cfg, srv->redis, time(NULL) };
	const char *why = NULL;
	int n;

	if (policy_request_parse(c->in, len, &req, &why) < 0) {
		conn_fail(srv, c, why);
		return -1;
	}
	check_chain_decide(srv->chain, &ctx, &req, &reply);
	log_decision(&req, &reply);
	n = snprintf(c->out, sizeof(c->out), "action=%s\n\n", reply.action);
	c->out_len = (n > 0 && (size_t)n < sizeof(c->out)) ? (size_t)n : 0;
	c->out_off = 0;
	if (c->out_len == 0) {
		conn_fail(srv, c, "reply too long");
		return -1;
	}
	return 0;
}

/* Writes pending output; returns -1 if the connection was closed, 1 if
 * output is still pending, 0 when all was written. */
static int
conn_flush(struct server *srv, struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (errno == EINTR)
				continue;
			return conn_watch(srv, c, EPOLLOUT) < 0 ? (conn_close(srv, c), -1) : 1;
		}
		if (n <= 0) {
			conn_close(srv, c);	/* Postfix went away; nothing to answer */
			return -1;
		}
		c->out_off += (size_t)n;
	}
	c->out_len = c->out_off = 0;
	return 0;
}

/* Scans new input for complete requests and answers them in order. */
static int
conn_process(struct server *srv, struct conn *c)
{
	while (c->scan < c->in_len) {
		char *nl = memchr(c->in + c->scan, '\n', c->in_len - c->scan);
		size_t pos, consumed;

		if (nl == NULL) {
			c->scan = c->in_len;
			break;
		}
		pos = (size_t)(nl - c->in);
		c->scan = pos + 1;
		if (pos > c->line_start) {
			if (pos - c->line_start > POLICY_LINE_MAX) {
				conn_fail(srv, c, "line too long");
				return -1;
			}
			c->line_start = pos + 1;
			continue;
		}
		/* An empty line: the end of a request. */
		if (pos == 0) {
			conn_fail(srv, c, "empty request");
			return -1;
		}
		consumed = pos + 1;
		if (answer_request(srv, c, pos) < 0)
			return -1;
		memmove(c->in, c->in + consumed, c->in_len - consumed);
		c->in_len -= consumed;
		c->scan = c->line_start = 0;
		switch (conn_flush(srv, c)) {
		case -1:
			return -1;
		case 1:
			return 0;	/* resume when the socket drains */
		}
	}
	if (c->in_len - c->line_start > POLICY_LINE_MAX) {
		conn_fail(srv, c, "line too long");
		return -1;
	}
	return 0;
}

static int
conn_grow(struct conn *c)
{
	size_t cap = c->in_cap ? c->in_cap * 2 : INPUT_INITIAL;
	char *p;

	if (cap > POLICY_REQUEST_MAX + 1)
		cap = POLICY_REQUEST_MAX + 1;
	if ((p = realloc(c->in, cap)) == NULL)
		return -1;
	c->in = p;
	c->in_cap = cap;
	return 0;
}

/* Each returns -1 when the connection is gone, else 0. */
static int
conn_readable(struct server *srv, struct conn *c)
{
	ssize_t n;

	if (c->in_len + 1 >= c->in_cap) {
		if (c->in_cap >= POLICY_REQUEST_MAX + 1) {
			conn_fail(srv, c, "request too large");
			return -1;
		}
		if (conn_grow(c) < 0) {
			conn_fail(srv, c, "out of memory");
			return -1;
		}
	}
	n = recv(c->fd, c->in + c->in_len, c->in_cap - 1 - c->in_len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		if (c->in_len > 0)
			log_info("NOQUEUE: policy=disconnect fd=%d reason=\"client closed mid-request\"", c->fd);
		conn_close(srv, c);
		return -1;
	}
	c->in_len += (size_t)n;
	idle_touch(srv, c);
	return conn_process(srv, c);
}

static int
conn_writable(struct server *srv, struct conn *c)
{
	int rc = conn_flush(srv, c);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (conn_watch(srv, c, EPOLLIN) < 0) {
		conn_close(srv, c);
		return -1;
	}
	return conn_process(srv, c);	/* requests that arrived meanwhile */
}

static void
accept_clients(struct server *srv)
{
	for (;;) {
		int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev;
		struct conn *c;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				log_warning("accept: %s", strerror(errno));
			return;
		}
		if (srv->conn_count >= srv->cfg->policyd.max_connections
		    || (c = calloc(1, sizeof(*c))) == NULL) {
			time_t now = time(NULL);

			if (now - srv->last_full_warning >= 10) {
				log_warning("connection limit %d reached: closing new connections",
					    srv->cfg->policyd.max_connections);
				srv->last_full_warning = now;
			}
			close(fd);
			continue;
		}
		c->fd = fd;
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
			continue;
		}
		srv->conn_count++;
		idle_touch(srv, c);
	}
}

static void
sweep_idle(struct server *srv)
{
	time_t now = time(NULL);

	while (srv->oldest && now - srv->oldest->last_active > srv->cfg->policyd.idle_timeout) {
		log_info("NOQUEUE: policy=idle-timeout fd=%d action=close", srv->oldest->fd);
		conn_close(srv, srv->oldest);
	}
}

static void
reload(struct server *srv)
{
	char err[1024];
	struct sluice_config *cfg = config_load(srv->config_path, err, sizeof(err));
	struct check_chain *chain;
	struct redis_client *redis;

	if (cfg == NULL) {
		log_error("reload failed, keeping the running configuration: %s", err);
		return;
	}
	if ((chain = check_chain_open(cfg, err, sizeof(err))) == NULL
	    || (redis = redis_client_new(&cfg->redis)) == NULL) {
		log_error("reload failed, keeping the running configuration: %s", err);
		check_chain_close(chain);
		config_free(cfg);
		return;
	}
	if (memcmp(&cfg->policyd.listen, &srv->cfg->policyd.listen, sizeof(cfg->policyd.listen)))
		log_warning("reload: a new listen address takes effect only after a restart");
	check_chain_close(srv->chain);
	redis_client_free(srv->redis);
	config_free(srv->cfg);
	srv->cfg = cfg;
	srv->chain = chain;
	srv->redis = redis;
	log_info("configuration reloaded from %s", srv->config_path);
}

static void
begin_stop(struct server *srv)
{
	struct conn *c, *next;

	srv->stopping = true;
	close(srv->listen_fd);
	srv->listen_fd = -1;
	/* Keep only connections in the middle of a request or an answer. */
	for (c = srv->oldest; c; c = next) {
		next = c->next;
		if (c->in_len == 0 && c->out_len == 0)
			conn_close(srv, c);
	}
	log_info("stopping: %d connection(s) with requests in flight", srv->conn_count);
}

static void
handle_signal(struct server *srv)
{
	struct signalfd_siginfo si;

	while (read(srv->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			reload(srv);
		else if (!srv->stopping)
			begin_stop(srv);
	}
}

static int
server_setup(struct server *srv)
{
	struct epoll_event ev = { .events = EPOLLIN };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	signal(SIGPIPE, SIG_IGN);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0
	    || (srv->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0
	    || (srv->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return -1;
	ev.data.ptr = &tag_listen;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->listen_fd, &ev) < 0)
		return -1;
	ev.data.ptr = &tag_signal;
	return epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->sig_fd, &ev);
}

static void
server_cleanup(struct server *srv)
{
	while (srv->oldest)
		conn_close(srv, srv->oldest);
	check_chain_close(srv->chain);
	redis_client_free(srv->redis);
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	close(srv->sig_fd);
	close(srv->epfd);
}

int
server_run(struct sluice_config *cfg, const char *config_path, int listen_fd)
{
	struct server srv = { .listen_fd = listen_fd, .sig_fd = -1, .epfd = -1,
			      .cfg = cfg, .config_path = config_path };
	struct epoll_event events[256];
	char err[1024];
	time_t stop_deadline = 0;

	if (server_setup(&srv) < 0) {
		log_error("event loop setup: %s", strerror(errno));
		return 1;
	}
	if ((srv.chain = check_chain_open(cfg, err, sizeof(err))) == NULL
	    || (srv.redis = redis_client_new(&cfg->redis)) == NULL) {
		log_error("start-up: %s", srv.chain ? "redis client: out of memory" : err);
		return 1;
	}
	while (!srv.stopping || (srv.conn_count > 0 && time(NULL) < stop_deadline)) {
		int i, n = epoll_wait(srv.epfd, events, 256, 1000);

		if (n < 0 && errno != EINTR) {
			log_error("epoll_wait: %s", strerror(errno));
			break;
		}
		for (i = 0; i < n; i++) {
			void *tag = events[i].data.ptr;
			struct conn *c = tag;

			if (tag == &tag_listen) {
				accept_clients(&srv);
			} else if (tag == &tag_signal) {
				handle_signal(&srv);
				if (srv.stopping && stop_deadline == 0)
					stop_deadline = time(NULL) + STOP_GRACE_SECONDS;
				break;	/* the connection set may have changed */
			} else if ((events[i].events & EPOLLOUT
				    ? conn_writable(&srv, c) : conn_readable(&srv, c)) == 0
				   && srv.stopping && c->in_len == 0 && c->out_len == 0) {
				conn_close(&srv, c);	/* answered: done */
			}
		}
		sweep_idle(&srv);
	}
	server_cleanup(&srv);
	config_free(srv.cfg);
	log_info("stopped");
	return 0;
}
