/*
 * accept.c - a worker takes new connections and spreads them over the
 * workers.
 *
 * Part of one worker's loop (worker_loop.h), cut out of worker.c.
 * Whichever worker accepts (EPOLLEXCLUSIVE wakes one, which takes at
 * most ACCEPT_BATCH per wakeup), the connection goes to the worker
 * pick_worker() names, handed over through that worker's pipe: the
 * first ones fill a worker up to PACK_PER_WORKER, so that its wakeups
 * batch several requests, and beyond that connections are spread
 * evenly, so that no worker carries more than its share of the work.
 * (A worker that merely stopped accepting while over its share would
 * leave the backlog to workers asleep in epoll_wait.)
 *
 * Out of descriptors (EMFILE, ENFILE), accept fails without taking the
 * connection, so the socket stays readable: the worker stops watching it
 * for ACCEPT_BACKOFF_MS instead of spinning, and the warning is logged
 * once a minute for the process. When max_connections are open, a new
 * connection closes the worker's longest silent connection that has no
 * request in progress (Postfix reconnects on its own when it finds its
 * idle connection closed), else its oldest half-written request; only if
 * there is neither is the new one closed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "worker_loop.h"

/* EMFILE pause, stop: whether the listening socket is in our epoll set. */
void
listen_set(struct worker *w, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &tag_listen };

	if (on == w->listening)
		return;
	if (on && epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->shared->listen_fd, &ev) < 0) {
		log_error("worker %d: epoll_ctl: %s", w->id, strerror(errno));
		w->accept_resume_ms = now_ms() + ACCEPT_BACKOFF_MS;	/* try again then */
		return;
	}
	if (!on)
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->shared->listen_fd, NULL);
	w->listening = on;
}

/*
 * Where a new connection goes: the first worker (by id) holding fewer
 * than PACK_PER_WORKER connections, and once every worker holds that
 * many, the one with the fewest (ourselves on a tie). Why pack first: a
 * worker's cost per request falls with the requests one wakeup brings
 * (one epoll_wait, one Redis pipeline, one log write for all of them),
 * and 8 connections spread over 4 workers gave about 2 per wakeup
 * against 6 or more on one worker (bench/README, "CPU per decision").
 * A worker never waits for anything but its Redis batch (SPF, DNS and
 * jobs are answered asynchronously, wait.c), so sharing a worker costs
 * a request only the CPU of the others' decisions; beyond the pack,
 * connections are spread evenly so that a busy server uses every
 * worker. Counts include connections handed over and not yet adopted.
 */
#define PACK_PER_WORKER 8

static int
pick_worker(const struct worker *w)
{
	int i, best = w->id, fewest = atomic_load(&w->shared->worker_conns[w->id]);

	for (i = 0; i < w->shared->workers; i++)
		if (atomic_load(&w->shared->worker_conns[i]) < PACK_PER_WORKER)
			return i;
	for (i = 0; i < w->shared->workers; i++) {
		int n = atomic_load(&w->shared->worker_conns[i]);

		if (n < fewest) {
			best = i;
			fewest = n;
		}
	}
	return best;
}

/* Takes fd on as a connection of ours, already counted in connections
 * and in our worker_conns (closes it if we are stopping). */
static void
adopt(struct worker *w, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct conn *c = w->stopping ? NULL : calloc(1, sizeof(*c));

	if (c != NULL) {
		c->fd = fd;
		ev.data.ptr = c;
	}
	if (c == NULL || epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		free(c);
		atomic_fetch_sub(&w->shared->worker_conns[w->id], 1);
		atomic_fetch_sub(&w->shared->connections, 1);
		return;
	}
	w->conn_count++;
	idle_touch(w, c);
	log_msg(LOG_DEBUG, "policy=connect fd=%d worker=%d worker_connections=%d connections=%d",
		fd, w->id, w->conn_count, atomic_load(&w->shared->connections));
}

/* Connections another worker handed us. */
void
adopt_handed(struct worker *w)
{
	int fds[64];
	ssize_t n;

	while ((n = read(w->shared->handoff_fds[w->id][0], fds, sizeof(fds))) > 0) {
		ssize_t i;

		for (i = 0; i < n / (ssize_t)sizeof(fds[0]); i++)
			adopt(w, fds[i]);
	}
}

/* accept() failed for want of descriptors or memory; the connection
 * stays queued, so watching the socket now would only spin. */
static void
accept_pause(struct worker *w, int err)
{
	w->accept_resume_ms = now_ms() + ACCEPT_BACKOFF_MS;
	listen_set(w, false);
	if (log_due(&w->shared->accept_warned_at, time(NULL), 60))
		log_warning("accept: %s: %d connection(s) open; not accepting for %d ms"
			    " (logged once a minute)", strerror(err),
			    atomic_load(&w->shared->connections), ACCEPT_BACKOFF_MS);
}

/*
 * At max_connections: closes this worker's longest silent connection that
 * has no request in progress, else its oldest half-written request (a
 * connection whose answer is being decided or written is never closed).
 * At the limit every worker holds more than PACK_PER_WORKER and they
 * are spread evenly, so our oldest is about as old as anyone's. False
 * if there is nothing to close.
 */
static bool
make_room(struct worker *w)
{
	struct conn *c = w->oldest;
	int looked;

	for (looked = 0; c && looked < EVICT_SCAN_MAX; c = c->next, looked++)
		if (c->in_len == 0 && c->out_len == 0 && !c->in_batch)
			break;
	if (c == NULL || looked == EVICT_SCAN_MAX) {
		c = w->partial_oldest;
		if (c == NULL || c->in_batch || c->out_len > 0)
			return false;
	}
	conn_close(w, c);
	w->evicted++;
	return true;
}

static void
limit_warning(struct worker *w)
{
	time_t now = time(NULL);

	if (now - w->last_full_warning < 10)
		return;
	log_warning("connection limit %d reached: %lu silent or half-written connection(s)"
		    " closed to make room, %lu new connection(s) closed (worker %d, last 10 s)",
		    w->gen->cfg->policyd.max_connections, w->evicted, w->refused, w->id);
	w->last_full_warning = now;
	w->evicted = w->refused = 0;
}

void
accept_clients(struct worker *w)
{
	int i;

	for (i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept4(w->shared->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int to;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				accept_pause(w, errno);
			return;
		}
		if (atomic_load(&w->shared->connections) >= w->gen->cfg->policyd.max_connections
		    && !make_room(w)) {
			w->refused++;
			limit_warning(w);
			close(fd);
			continue;
		}
		if (w->evicted > 0)
			limit_warning(w);
		atomic_fetch_add(&w->shared->connections, 1);
		to = pick_worker(w);
		atomic_fetch_add(&w->shared->worker_conns[to], 1);
		/* A write of one int to a pipe is atomic; if the pipe is full,
		 * that worker is far behind: keep the connection. */
		if (to != w->id
		    && write(w->shared->handoff_fds[to][1], &fd, sizeof(fd)) != (ssize_t)sizeof(fd)) {
			atomic_fetch_sub(&w->shared->worker_conns[to], 1);
			atomic_fetch_add(&w->shared->worker_conns[w->id], 1);
			to = w->id;
		}
		if (to == w->id)
			adopt(w, fd);
	}
}
