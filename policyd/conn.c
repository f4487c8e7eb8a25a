/*
 * conn.c - a worker's connections: reading, writing, closing, and the
 * lists that bound how long one may sit idle or half-written.
 *
 * Part of the worker's event loop (worker_loop.h): worker.c frames and
 * decides what conn_readable() reads (conn_process), this file owns the
 * struct conn's life. Input buffers start small and grow to
 * POLICY_REQUEST_MAX, because most requests are ~1 KiB and we hold
 * thousands of connections. Answers are sent by conn_flush(); what
 * cannot be sent at once waits for EPOLLOUT (conn_writable).
 *
 * Idle connections sit on a list in order of last activity; the sweep
 * closes from the old end, so it costs nothing per request. Postfix
 * closes its side after smtpd_policy_service_max_idle (300 s); our
 * idle_timeout (default 600 s) only removes connections Postfix forgot.
 * A byte every few minutes would keep a connection off that sweep, so
 * half-written requests sit on a second list in order of their first
 * byte, and request_timeout (default 10 s) closes them: Postfix writes a
 * request at once, and later bytes never extend the bound.
 *
 * Closing a connection whose request waits for SPF, a job or DNS
 * abandons that wait: the answer, when it comes, goes nowhere.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "worker_loop.h"

static void
idle_unlink(struct worker *w, struct conn *c)
{
	if (c->prev) c->prev->next = c->next; else w->oldest = c->next;
	if (c->next) c->next->prev = c->prev; else w->newest = c->prev;
	c->prev = c->next = NULL;
}

void
idle_touch(struct worker *w, struct conn *c)
{
	c->last_active = time(NULL);	/* also when it is the newest already */
	if (w->newest == c)
		return;
	if (c->prev || c->next || w->oldest == c)
		idle_unlink(w, c);
	c->prev = w->newest;
	if (w->newest) w->newest->next = c; else w->oldest = c;
	w->newest = c;
}

/* A request's first byte arrived: its request_timeout starts now. */
static void
partial_start(struct worker *w, struct conn *c, time_t now)
{
	c->request_started = now;
	c->rq_next = NULL;
	c->rq_prev = w->partial_newest;
	if (w->partial_newest) w->partial_newest->rq_next = c; else w->partial_oldest = c;
	w->partial_newest = c;
}

/* The request is complete (or the connection goes). */
void
partial_end(struct worker *w, struct conn *c)
{
	if (c->request_started == 0)
		return;
	if (c->rq_prev) c->rq_prev->rq_next = c->rq_next; else w->partial_oldest = c->rq_next;
	if (c->rq_next) c->rq_next->rq_prev = c->rq_prev; else w->partial_newest = c->rq_prev;
	c->rq_prev = c->rq_next = NULL;
	c->request_started = 0;
}

static void
reply_unlink(struct worker *w, struct conn *c)
{
	if (!c->reply_queued)
		return;
	if (c->reply_prev) c->reply_prev->reply_next = c->reply_next; else w->replies_first = c->reply_next;
	if (c->reply_next) c->reply_next->reply_prev = c->reply_prev; else w->replies_last = c->reply_prev;
	c->reply_prev = c->reply_next = NULL;
	c->reply_queued = false;
}

/* An answer is ready in c->out: sent by replies_send(), after the log
 * lines of this wakeup are written. */
void
reply_queue(struct worker *w, struct conn *c)
{
	c->reply_queued = true;
	c->reply_next = NULL;
	c->reply_prev = w->replies_last;
	if (w->replies_last) w->replies_last->reply_next = c; else w->replies_first = c;
	w->replies_last = c;
}

void
conn_close(struct worker *w, struct conn *c)
{
	struct pending *p = c->pending;

	if (p && p->job) {	/* it waits for SPF: the answer goes nowhere */
		spf_job_abandon(w->shared->spf, p->job);
		p->job = NULL;
		spf_unlink(w, p);
		slot_release(w, p);
	} else if (p && p->blocking) {	/* the same for a job */
		job_abandon(w->shared->jobs, p->blocking);
		p->blocking = NULL;
		job_unlink(w, p);
	} else if (p && p->dnsw) {	/* it waits for DNS: the same */
		dns_wait_abandon(w->dns, p->dnsw);
		p->dnsw = NULL;
		dns_unlink(w, p);
		slot_release(w, p);
	}
	reply_unlink(w, c);
	idle_unlink(w, c);
	partial_end(w, c);
	close(c->fd);		/* also removes it from the epoll set */
	free(c->in);
	free(c);
	w->conn_count--;
	atomic_fetch_sub(&w->shared->worker_conns[w->id], 1);
	atomic_fetch_sub(&w->shared->connections, 1);
}

void
conn_fail(struct worker *w, struct conn *c, const char *why)
{
	log_warning("NOQUEUE: policy=protocol-error fd=%d reason=\"%s\" action=close", c->fd, why);
	conn_close(w, c);
}

int
conn_watch(struct worker *w, struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	return epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes pending output; returns -1 if the connection was closed, 1 if
 * output is still pending, 0 when all was written. */
int
conn_flush(struct worker *w, struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (errno == EINTR)
				continue;
			return conn_watch(w, c, EPOLLOUT) < 0 ? (conn_close(w, c), -1) : 1;
		}
		if (n <= 0) {
			conn_close(w, c);	/* Postfix went away; nothing to answer */
			return -1;
		}
		c->out_off += (size_t)n;
	}
	c->out_len = c->out_off = 0;
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
int
conn_readable(struct worker *w, struct conn *c)
{
	ssize_t n;

	if (c->in_len + 1 >= c->in_cap) {
		if (c->in_cap >= POLICY_REQUEST_MAX + 1) {
			conn_fail(w, c, "request too large");
			return -1;
		}
		if (conn_grow(c) < 0) {
			conn_fail(w, c, "out of memory");
			return -1;
		}
	}
	n = recv(c->fd, c->in + c->in_len, c->in_cap - 1 - c->in_len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		if (c->in_len > 0)
			log_info("NOQUEUE: policy=disconnect fd=%d reason=\"client closed mid-request\"", c->fd);
		conn_close(w, c);
		return -1;
	}
	c->in_len += (size_t)n;
	idle_touch(w, c);
	/* The clock of a request starts at the first read after the last
	 * complete one; later bytes do not move it. */
	if (c->request_started == 0 && !c->in_batch)
		partial_start(w, c, time(NULL));
	return conn_process(w, c);
}

int
conn_writable(struct worker *w, struct conn *c)
{
	int rc = conn_flush(w, c);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (conn_watch(w, c, EPOLLIN) < 0) {
		conn_close(w, c);
		return -1;
	}
	return conn_process(w, c);	/* requests that arrived meanwhile */
}

void
sweep_idle(struct worker *w)
{
	time_t now = time(NULL);

	while (w->oldest && now - w->oldest->last_active > w->gen->cfg->policyd.idle_timeout) {
		log_info("NOQUEUE: policy=idle-timeout fd=%d action=close", w->oldest->fd);
		conn_close(w, w->oldest);
	}
	while (w->partial_oldest
	       && now - w->partial_oldest->request_started > w->gen->cfg->policyd.request_timeout) {
		log_info("NOQUEUE: policy=request-timeout fd=%d reason=\"request not complete"
			 " after %ld s\" action=close", w->partial_oldest->fd,
			 (long)(now - w->partial_oldest->request_started));
		conn_close(w, w->partial_oldest);
	}
}
