/*
 * worker.c - one thread's epoll loop: connections, framing, answers.
 *
 * Every worker owns the connections it accepts, its Redis client, its
 * cache of the Redis lists and its check chain, so a decision takes no
 * lock. Nothing here waits: Redis calls are batched (see batch_run) and
 * SPF goes to the process's SPF pool (spf_pool.h), whose answers come
 * back through the worker's eventfd; so do the checks' other blocking
 * jobs (CHECK_JOB: SMTP probes, LDAP lookups) through the job pool
 * (job_pool.h), held and timed out the same way. A request that waits for SPF holds
 * its connection still (no reads: its attributes point into the input
 * buffer) and is answered temperror when policyd.spf_timeout runs out,
 * while every other connection is served. Connections are spread
 * evenly, so that no worker carries more than its share of the work:
 * whichever worker accepts (EPOLLEXCLUSIVE wakes one, which takes
 * at most ACCEPT_BATCH per wakeup), the connection goes to the worker
 * with the fewest, handed over through that worker's pipe. (A worker
 * that merely stopped accepting while over its share would leave the
 * backlog to workers asleep in epoll_wait.)
 *
 * DNS (CHECK_DNS) is the same shape inside the loop: the worker owns one
 * c-ares resolver (dns_async.h) whose sockets sit behind one descriptor
 * in our epoll set; a request that waits for DNS holds its connection
 * still, and is resumed when its names are all answered or when its
 * budget (reply->dns.budget_ms) runs out, whichever comes first. So a
 * dead DNS server costs the requests that ask it their budget, and
 * nothing to anyone else.
 *
 * Out of descriptors (EMFILE, ENFILE), accept fails without taking the
 * connection, so the socket stays readable: the worker stops watching it
 * for ACCEPT_BACKOFF_MS instead of spinning, and the warning is logged
 * once a minute for the process. When max_connections are open, a new
 * connection closes the worker's longest silent connection that has no
 * request in progress (Postfix reconnects on its own when it finds its
 * idle connection closed), else its oldest half-written request; only if
 * there is neither is the new one closed.
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
 * A byte every few minutes would keep a connection off that sweep, so
 * half-written requests sit on a second list in order of their first
 * byte, and request_timeout (default 10 s) closes them: Postfix writes a
 * request at once, and later bytes never extend the bound.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "dns_async.h"
#include "list_cache.h"
#include "log.h"
#include "server.h"
#include "job_pool.h"
#include "spf_pool.h"
#include "worker.h"

#define INPUT_INITIAL 1024
#define STOP_GRACE_SECONDS 10
#define ACCEPT_BATCH 16		/* connections one wakeup accepts at most */
#define ACCEPT_BACKOFF_MS 250	/* out of descriptors: pause accepting */
#define EVICT_SCAN_MAX 64	/* connections looked at to make room */

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
	time_t request_started;		/* first byte of a partial request; 0: none */
	struct conn *rq_prev, *rq_next;	/* partial requests, oldest first */
	bool in_batch;			/* a request of it is being decided */
	struct pending *pending;	/* that request */
};

/*
 * A request being decided. Its attributes point into its connection's
 * input buffer, which is neither read into nor moved until the request
 * is answered: a connection has at most one request in a batch, and the
 * batch is run before the worker reads from any socket again.
 */
struct pending {
	struct conn *c;
	size_t consumed;	/* bytes of input the request took */
	size_t cursor;		/* the check chain's position */
	struct spf_job *job;	/* while waiting for SPF */
	struct dns_wait *dnsw;	/* while waiting for DNS */
	long dns_deadline_ms;	/* then: its budget ends (CLOCK_MONOTONIC) */
	struct pending *next;	/* free list, or the SPF wait list */
	struct pending *prev;	/* SPF wait list */
	struct job *blocking;	/* while waiting for a job (CHECK_JOB) */
	struct pending *jprev, *jnext;	/* the job wait list */
	struct policy_request req;
	struct policy_reply reply;
};

/* One epoll wakeup yields at most EVENTS_MAX connections, each with at
 * most one request waiting; after a batch only those come back; SPF
 * answers are taken only while there is room. So the waiting list never
 * holds more than BATCH_MAX requests. Requests waiting for SPF are not
 * bounded by it (they span wakeups): their slots are allocated, at most
 * one per connection. */
#define EVENTS_MAX 256
#define BATCH_MAX EVENTS_MAX
#define BATCH_CALLS_MAX (BATCH_MAX * (1 + CHECK_MORE_CALLS))

struct worker {
	int id;
	pthread_t thread;
	struct server_shared *shared;
	int epfd, wake_fd;
	struct conn *oldest, *newest;
	struct conn *partial_oldest, *partial_newest;
	int conn_count;			/* this worker's connections */
	bool listening;			/* the listening socket is in epfd */
	long accept_resume_ms;		/* out of descriptors: paused until */
	unsigned long evicted, refused;	/* at the connection limit, since logged */
	struct config_gen *gen;		/* the config this worker runs */
	struct check_chain *chain;
	struct redis_client *redis;
	const struct lists *lists;	/* held snapshot of the list cache */
	unsigned long lists_gen;
	struct pending *free_slots;	/* request slots, reused */
	struct pending *waiting[BATCH_MAX];	/* requests waiting for Redis */
	int waiting_count;
	struct spf_inbox spf_inbox;	/* SPF answers for this worker */
	struct pending *spf_oldest, *spf_newest;	/* waiting for SPF */
	struct job_inbox job_inbox;	/* finished jobs (CHECK_JOB) */
	struct pending *job_oldest, *job_newest;	/* waiting for a job */
	struct dns_async *dns;				/* this worker's resolver */
	struct pending *dns_oldest, *dns_newest;	/* waiting for DNS */
	long clock_offset;		/* test aid: policyd.test_clock */
	bool stopping;
	time_t stop_deadline;
	time_t last_tick;
	time_t last_full_warning;
};

/* epoll tags for the non-connection descriptors */
static char tag_listen, tag_wake, tag_handoff, tag_dns;

static void
idle_unlink(struct worker *w, struct conn *c)
{
	if (c->prev) c->prev->next = c->next; else w->oldest = c->next;
	if (c->next) c->next->prev = c->prev; else w->newest = c->prev;
	c->prev = c->next = NULL;
}

static void
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
static void
partial_end(struct worker *w, struct conn *c)
{
	if (c->request_started == 0)
		return;
	if (c->rq_prev) c->rq_prev->rq_next = c->rq_next; else w->partial_oldest = c->rq_next;
	if (c->rq_next) c->rq_next->rq_prev = c->rq_prev; else w->partial_newest = c->rq_prev;
	c->rq_prev = c->rq_next = NULL;
	c->request_started = 0;
}

static void slot_release(struct worker *w, struct pending *p);
static void spf_unlink(struct worker *w, struct pending *p);
static void job_unlink(struct worker *w, struct pending *p);
static void dns_unlink(struct worker *w, struct pending *p);

static void
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
	idle_unlink(w, c);
	partial_end(w, c);
	close(c->fd);		/* also removes it from the epoll set */
	free(c->in);
	free(c);
	w->conn_count--;
	atomic_fetch_sub(&w->shared->worker_conns[w->id], 1);
	atomic_fetch_sub(&w->shared->connections, 1);
}

static void
conn_fail(struct worker *w, struct conn *c, const char *why)
{
	log_warning("NOQUEUE: policy=protocol-error fd=%d reason=\"%s\" action=close", c->fd, why);
	conn_close(w, c);
}

static int
conn_watch(struct worker *w, struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	return epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
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

/* Writes pending output; returns -1 if the connection was closed, 1 if
 * output is still pending, 0 when all was written. */
static int
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

static struct policy_context
worker_context(struct worker *w)
{
	struct policy_context ctx = { w->gen->cfg, w->redis, w->lists,
				      time(NULL) + w->clock_offset, w->clock_offset,
				      &w->shared->check_redis_warned_at };

	return ctx;
}

/* Logs and answers a decided request, frees its slot, drops it from the
 * input and writes the answer: -1 closed, 1 output pending, 0 written. */
static int
finish_request(struct worker *w, struct pending *p)
{
	struct conn *c = p->c;
	int n;

	log_decision(&p->req, &p->reply);
	check_reply_count(&p->reply);
	n = snprintf(c->out, sizeof(c->out), "action=%s\n\n", p->reply.action);
	slot_release(w, p);
	c->in_batch = false;
	c->pending = NULL;
	if (n <= 0 || (size_t)n >= sizeof(c->out)) {
		conn_fail(w, c, "reply too long");
		return -1;
	}
	c->out_len = (size_t)n;
	c->out_off = 0;
	memmove(c->in, c->in + p->consumed, c->in_len - p->consumed);
	c->in_len -= p->consumed;
	c->scan = c->line_start = 0;
	return conn_flush(w, c);
}

static int go_on(struct worker *w, struct pending *p, enum check_result r);

static struct pending *
slot_take(struct worker *w)
{
	struct pending *p = w->free_slots;

	if (p == NULL)
		return calloc(1, sizeof(*p));
	w->free_slots = p->next;
	p->next = p->prev = NULL;
	return p;
}

static void
slot_release(struct worker *w, struct pending *p)
{
	p->c = NULL;
	p->job = NULL;
	p->blocking = NULL;
	p->jprev = p->jnext = NULL;
	p->dnsw = NULL;
	p->prev = NULL;
	p->next = w->free_slots;
	w->free_slots = p;
}

static void
spf_unlink(struct worker *w, struct pending *p)
{
	if (p->prev) p->prev->next = p->next; else w->spf_oldest = p->next;
	if (p->next) p->next->prev = p->prev; else w->spf_newest = p->prev;
	p->prev = p->next = NULL;
}

/*
 * Hands a waiting request's question to the SPF pool. Its connection is
 * not read meanwhile (the request points into its buffer); a hangup is
 * noticed when the answer is written.
 */
static int
spf_wait(struct worker *w, struct pending *p)
{
	const struct spf_question *q = &p->reply.spf;

	p->job = spf_pool_submit(w->shared->spf, &w->spf_inbox, q->client_ip, q->helo,
				 q->sender, q->breadth, w->gen->cfg->policyd.spf_timeout_ms, p);
	if (p->job == NULL) {	/* a full queue is a DNS failure too */
		struct spf_answer a = { .result = SPF_TEMPERROR, .timed_out = true };
		struct policy_context ctx = worker_context(w);

		return go_on(w, p, check_chain_resume_spf(w->chain, &ctx, &p->req, &p->reply,
							  &p->cursor, &a));
	}
	(void)conn_watch(w, p->c, 0);
	p->prev = w->spf_newest;
	p->next = NULL;
	if (w->spf_newest) w->spf_newest->next = p; else w->spf_oldest = p;
	w->spf_newest = p;
	return 1;
}

static void
job_unlink(struct worker *w, struct pending *p)
{
	if (p->jprev) p->jprev->jnext = p->jnext; else w->job_oldest = p->jnext;
	if (p->jnext) p->jnext->jprev = p->jprev; else w->job_newest = p->jprev;
	p->jprev = p->jnext = NULL;
}

/*
 * Hands a check's blocking job to the job pool (job_pool.h), as spf_wait
 * does for SPF: the connection is held still until the answer or the
 * end of the job's budget.
 */
static int
job_wait(struct worker *w, struct pending *p)
{
	struct job *job = p->reply.job;

	p->reply.job = NULL;
	if (job == NULL
	    || job_pool_submit(w->shared->jobs, &w->job_inbox, job, p->reply.job_timeout_ms, p) < 0) {
		struct policy_context ctx = worker_context(w);

		if (job)
			job->free(job);
		return go_on(w, p, check_chain_resume_job(w->chain, &ctx, &p->req, &p->reply,
							  &p->cursor, NULL));
	}
	p->blocking = job;
	(void)conn_watch(w, p->c, 0);
	p->jprev = w->job_newest;
	p->jnext = NULL;
	if (w->job_newest) w->job_newest->jnext = p; else w->job_oldest = p;
	w->job_newest = p;
	return 1;
}

static long now_ms(void);

static void
dns_unlink(struct worker *w, struct pending *p)
{
	if (p->prev) p->prev->next = p->next; else w->dns_oldest = p->next;
	if (p->next) p->next->prev = p->prev; else w->dns_newest = p->prev;
	p->prev = p->next = NULL;
}

/*
 * Asks a waiting request's names, all at once. Its connection is not
 * read meanwhile, as with SPF. Answers not in when the budget ends stay
 * DNS_TIMEOUT. The list is in order of submission; a budget is one
 * config's, so that is the order of deadlines but across a reload.
 */
static int
dns_wait(struct worker *w, struct pending *p)
{
	struct dns_question *q = &p->reply.dns;
	const char *names[DNS_QUESTIONS_MAX];
	int i;

	for (i = 0; i < q->count && i < DNS_QUESTIONS_MAX; i++) {
		names[i] = q->names[i];
		q->answers[i].status = DNS_TIMEOUT;
		q->answers[i].count = 0;
	}
	p->dnsw = w->dns ? dns_wait_start(w->dns, names, i, q->answers, p) : NULL;
	if (p->dnsw == NULL) {	/* too many open queries: a DNS failure */
		struct policy_context ctx = worker_context(w);

		for (i = 0; i < q->count && i < DNS_QUESTIONS_MAX; i++)
			q->answers[i].status = DNS_ERROR;
		return go_on(w, p, check_chain_resume_dns(w->chain, &ctx, &p->req, &p->reply,
							  &p->cursor));
	}
	p->dns_deadline_ms = now_ms() + q->budget_ms;
	(void)conn_watch(w, p->c, 0);
	p->prev = w->dns_newest;
	p->next = NULL;
	if (w->dns_newest) w->dns_newest->next = p; else w->dns_oldest = p;
	w->dns_newest = p;
	return 1;
}

/* Where a request goes after a step of the chain: answered (-1 closed,
 * 0 written, 1 output pending) or waiting for Redis or SPF (1). */
static int
go_on(struct worker *w, struct pending *p, enum check_result r)
{
	switch (r) {
	case CHECK_REDIS:
		w->waiting[w->waiting_count++] = p;
		return 1;
	case CHECK_SPF:
		return spf_wait(w, p);
	case CHECK_JOB:
		return job_wait(w, p);
	case CHECK_DNS:
		return dns_wait(w, p);
	default:
		return finish_request(w, p);
	}
}

/* Decides a framed request of len bytes at c->in as far as it can
 * without Redis: -1 closed, 0 answered and written, 1 waiting (for Redis
 * in the batch, or for the socket to drain). */
static int
start_request(struct worker *w, struct conn *c, size_t len)
{
	struct policy_context ctx = worker_context(w);
	const char *why = NULL;
	struct pending *p;
	int rc;

	if ((p = slot_take(w)) == NULL) {
		conn_fail(w, c, "out of memory");
		return -1;
	}
	p->c = c;
	p->consumed = len + 1;
	p->cursor = 0;
	if (policy_request_parse(c->in, len, &p->req, &why) < 0) {
		slot_release(w, p);
		conn_fail(w, c, why);
		return -1;
	}
	c->in_batch = true;
	c->pending = p;
	rc = go_on(w, p, check_chain_decide(w->chain, &ctx, &p->req, &p->reply, &p->cursor));
	return rc;
}

/* Scans new input for complete requests and starts them in order, one
 * at a time: the next only when the previous one has been answered. */
static int
conn_process(struct worker *w, struct conn *c)
{
	while (!c->in_batch && c->out_len == 0 && c->scan < c->in_len) {
		char *nl = memchr(c->in + c->scan, '\n', c->in_len - c->scan);
		size_t pos;
		int rc;

		if (nl == NULL) {
			c->scan = c->in_len;
			break;
		}
		pos = (size_t)(nl - c->in);
		c->scan = pos + 1;
		if (pos > c->line_start) {
			const char *why;

			if (policy_line_check(c->in + c->line_start, pos - c->line_start, &why) < 0) {
				conn_fail(w, c, why);
				return -1;
			}
			c->line_start = pos + 1;
			continue;
		}
		/* An empty line: the end of a request. */
		if (pos == 0) {
			conn_fail(w, c, "empty request");
			return -1;
		}
		partial_end(w, c);	/* complete: no request_timeout */
		if ((rc = start_request(w, c, pos)) != 0)
			return rc < 0 ? -1 : 0;
	}
	if (c->in_len - c->line_start > POLICY_LINE_MAX) {
		conn_fail(w, c, "line too long");
		return -1;
	}
	return 0;
}

/*
 * What a request's check gets for its n calls: the one reply, or for
 * several one array of them (check.h); NULL when any of them failed (a
 * pipeline cut short is a Redis failure for each request in it). The
 * array is built in *array, the caller's.
 */
static const redisReply *
answer_of(redisReply **replies, int n, redisReply *array)
{
	int i;

	if (n == 1)
		return replies[0];
	for (i = 0; i < n; i++)
		if (replies[i] == NULL)
			return NULL;
	memset(array, 0, sizeof(*array));
	array->type = REDIS_REPLY_ARRAY;
	array->elements = (size_t)n;
	array->element = replies;
	return array;
}

/*
 * Sends the Redis calls of every waiting request in one pipeline, hands
 * each check its reply, answers, and starts the next requests of those
 * connections, until no request waits. This is what makes the worker's
 * Redis cost one round trip per wakeup instead of one per request.
 */
static void
batch_run(struct worker *w)
{
	while (w->waiting_count > 0) {
		struct pending *round[BATCH_MAX];
		struct redis_eval_call *calls[BATCH_CALLS_MAX];
		redisReply *replies[BATCH_CALLS_MAX];
		struct conn *answered[BATCH_MAX];
		struct policy_context ctx = worker_context(w);
		int i, count = w->waiting_count, nanswered = 0, ncalls = 0, done;

		memcpy(round, w->waiting, (size_t)count * sizeof(round[0]));
		w->waiting_count = 0;
		for (i = 0; i < count; i++) {
			struct policy_reply *reply = &round[i]->reply;
			int j;

			calls[ncalls++] = &reply->call;
			for (j = 0; j < reply->more_count; j++)
				calls[ncalls++] = &reply->more_calls[j];
		}
		/* Many calls (several per request) go in pipelines of at most
		 * REDIS_BATCH_MAX: still a round trip per 256, not per call. */
		for (done = 0; done < ncalls; done += REDIS_BATCH_MAX)
			redis_eval_batch(w->redis, calls + done, ncalls - done < REDIS_BATCH_MAX
					 ? ncalls - done : REDIS_BATCH_MAX, replies + done);
		for (i = 0, done = 0; i < count; i++) {
			struct pending *p = round[i];
			struct conn *c = p->c;
			int n = 1 + p->reply.more_count, j;
			redisReply array;
			enum check_result r;

			r = check_chain_resume(w->chain, &ctx, &p->req, &p->reply, &p->cursor,
					       answer_of(replies + done, n, &array));
			for (j = 0; j < n; j++)
				if (replies[done + j])
					freeReplyObject(replies[done + j]);
			done += n;
			if (go_on(w, p, r) == 0)
				answered[nanswered++] = c;	/* else waiting, or closed */
		}
		for (i = 0; i < nanswered; i++)
			if (conn_process(w, answered[i]) == 0 && w->stopping
			    && answered[i]->in_len == 0 && answered[i]->out_len == 0)
				conn_close(w, answered[i]);	/* stopping: done */
	}
}

/* An SPF answer for p (or the end of its time budget): on with the chain. */
static void
spf_resume(struct worker *w, struct pending *p, const struct spf_answer *answer)
{
	struct policy_context ctx = worker_context(w);
	struct conn *c = p->c;

	p->job = NULL;
	spf_unlink(w, p);
	if (conn_watch(w, c, EPOLLIN) < 0) {
		conn_close(w, c);
		return;
	}
	if (go_on(w, p, check_chain_resume_spf(w->chain, &ctx, &p->req, &p->reply, &p->cursor,
					       answer)) == 0
	    && conn_process(w, c) == 0 && w->stopping && c->in_len == 0 && c->out_len == 0)
		conn_close(w, c);
}

/* Takes the SPF pool's answers while the batch has room for what they
 * lead to; the rest wait in the inbox for the next wakeup. */
static void
spf_take_answers(struct worker *w)
{
	struct spf_job *job;

	while (w->waiting_count < BATCH_MAX
	       && (job = spf_inbox_take(w->shared->spf, &w->spf_inbox)) != NULL) {
		struct pending *p = job->cookie;
		struct spf_answer answer = job->answer;

		spf_job_free(job);
		spf_resume(w, p, &answer);
	}
	if (w->waiting_count >= BATCH_MAX)
		worker_wake(w);		/* come back for the rest */
}

/* Requests whose SPF time budget ran out: answered as temperror. The
 * list is in order of submission, so of deadlines (for one config). */
static void
spf_expire(struct worker *w)
{
	while (w->spf_oldest && w->waiting_count < BATCH_MAX
	       && spf_ms_until(&w->spf_oldest->job->deadline) <= 0) {
		struct pending *p = w->spf_oldest;
		struct spf_answer answer = { .result = SPF_TEMPERROR, .timed_out = true };

		spf_job_abandon(w->shared->spf, p->job);
		spf_resume(w, p, &answer);
	}
}

/* A finished job for p (NULL: its budget ran out): on with the chain;
 * the job is freed here, whatever the check made of it. */
static void
job_resume(struct worker *w, struct pending *p, struct job *job)
{
	struct policy_context ctx = worker_context(w);
	struct conn *c = p->c;
	enum check_result r;

	p->blocking = NULL;
	job_unlink(w, p);
	r = check_chain_resume_job(w->chain, &ctx, &p->req, &p->reply, &p->cursor, job);
	if (job)
		job->free(job);
	if (conn_watch(w, c, EPOLLIN) < 0) {
		conn_close(w, c);
		return;
	}
	if (go_on(w, p, r) == 0
	    && conn_process(w, c) == 0 && w->stopping && c->in_len == 0 && c->out_len == 0)
		conn_close(w, c);
}

/* DNS answers (or the end of a budget) for p: on with the chain. */
static void
dns_resume(struct worker *w, struct pending *p)
{
	struct policy_context ctx = worker_context(w);
	struct conn *c = p->c;

	p->dnsw = NULL;
	dns_unlink(w, p);
	if (conn_watch(w, c, EPOLLIN) < 0) {
		conn_close(w, c);
		return;
	}
	if (go_on(w, p, check_chain_resume_dns(w->chain, &ctx, &p->req, &p->reply, &p->cursor)) == 0
	    && conn_process(w, c) == 0 && w->stopping && c->in_len == 0 && c->out_len == 0)
		conn_close(w, c);
}

/* Finished jobs, while the batch has room (as spf_take_answers). */
static void
job_take_answers(struct worker *w)
{
	struct job *job;

	while (w->waiting_count < BATCH_MAX
	       && (job = job_inbox_take(w->shared->jobs, &w->job_inbox)) != NULL)
		job_resume(w, job->cookie, job);
	if (w->waiting_count >= BATCH_MAX)
		worker_wake(w);
}

/* Jobs whose budget ran out. Jobs of one config have one budget, so the
 * list is in order of deadlines (a reload may change the budget: a later
 * deadline ahead of an earlier one only delays that one by the
 * difference, at most policyd.recipients.timeout). */
static void
job_expire(struct worker *w)
{
	while (w->job_oldest && w->waiting_count < BATCH_MAX
	       && job_ms_until(&w->job_oldest->blocking->deadline) <= 0) {
		struct pending *p = w->job_oldest;

		job_abandon(w->shared->jobs, p->blocking);
		p->blocking = NULL;
		job_resume(w, p, NULL);
	}
}

static int
clamp_sleep(long ms, int limit)
{
	return ms <= 0 ? 0 : ms >= limit ? limit : (int)ms + 1;
}

/* Requests whose names are all answered, while the batch has room; then
 * those whose budget ran out. */
static void
dns_take_answers(struct worker *w)
{
	struct pending *p;

	if (w->dns == NULL)
		return;
	dns_async_process(w->dns);
	while (w->waiting_count < BATCH_MAX && (p = dns_async_take_done(w->dns)) != NULL)
		dns_resume(w, p);
	while (w->dns_oldest && w->waiting_count < BATCH_MAX
	       && w->dns_oldest->dns_deadline_ms <= now_ms()) {
		p = w->dns_oldest;
		dns_wait_abandon(w->dns, p->dnsw);
		dns_resume(w, p);
	}
	if (w->waiting_count >= BATCH_MAX)
		worker_wake(w);		/* come back for the rest */
}

/* Milliseconds epoll may sleep: at most a second (the tick), less when
 * an SPF, job or DNS budget ends sooner, or c-ares has a timeout to run. */
static int
sleep_ms(const struct worker *w)
{
	int ms = 1000;

	if (w->spf_oldest)
		ms = clamp_sleep(spf_ms_until(&w->spf_oldest->job->deadline), ms);
	if (w->job_oldest)
		ms = clamp_sleep(job_ms_until(&w->job_oldest->blocking->deadline), ms);
	if (w->dns_oldest)
		ms = clamp_sleep(w->dns_oldest->dns_deadline_ms - now_ms(), ms);
	if (w->dns)
		ms = dns_async_timeout_ms(w->dns, ms);
	return ms;
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

static int
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

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* EMFILE pause, stop: whether the listening socket is in our epoll set. */
static void
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

/* The worker with the fewest connections (handed-over ones included);
 * ourselves on a tie. */
static int
least_loaded(const struct worker *w)
{
	int i, best = w->id, fewest = atomic_load(&w->shared->worker_conns[w->id]);

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
static void
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
 * Connections are spread evenly over the workers, so our oldest is about
 * as old as anyone's. False if there is nothing to close.
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

static void
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
		to = least_loaded(w);
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

static void
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

/* Opens what this worker needs for gen; on failure keeps what it had. */
static int
worker_configure(struct worker *w, struct config_gen *gen)
{
	char err[1024];
	struct check_chain *chain = check_chain_open(gen->cfg, err, sizeof(err));
	struct redis_client *redis = redis_client_new(&gen->cfg->redis);

	if (chain == NULL || redis == NULL) {
		log_error("worker %d: %s", w->id, chain ? "out of memory" : err);
		check_chain_close(chain);
		redis_client_free(redis);
		return -1;
	}
	check_chain_close(w->chain);
	redis_client_free(w->redis);
	if (w->gen)
		shared_config_release(w->shared, w->gen);
	w->gen = gen;
	w->chain = chain;
	w->redis = redis;
	w->last_tick = 0;	/* read the test clock now */
	return 0;
}

static void
pick_up_new_config(struct worker *w)
{
	struct config_gen *gen = shared_config_acquire(w->shared);

	if (gen == w->gen || worker_configure(w, gen) < 0)
		shared_config_release(w->shared, gen);
}

/* Test aid (policyd.test_clock): the clock runs ahead by the number of
 * seconds in Redis key <prefix>test:clock_offset. Off by default. */
static void
read_test_clock(struct worker *w)
{
	redisReply *r = redis_command(w->redis, "GET %stest:clock_offset", w->gen->cfg->redis_prefix);

	if (r == NULL)
		return;
	w->clock_offset = r->type == REDIS_REPLY_STRING ? strtol(r->str, NULL, 10) : 0;
	freeReplyObject(r);
}

/* The newest snapshot of the process's list cache, if one came: a
 * counter compare on every loop, a lock only when the lists changed. */
static void
pick_up_new_lists(struct worker *w)
{
	if (list_cache_generation(w->shared->lists) == w->lists_gen && w->lists)
		return;
	lists_release(w->lists);
	w->lists = list_cache_acquire(w->shared->lists, &w->lists_gen);
}

/* Once a second: the test clock, idle connections. */
static void
tick(struct worker *w)
{
	time_t now = time(NULL);

	if (now == w->last_tick)
		return;
	w->last_tick = now;
	if (w->gen->cfg->policyd.test_clock)
		read_test_clock(w);
	sweep_idle(w);
}

static void
begin_stop(struct worker *w)
{
	struct conn *c, *next;

	w->stopping = true;
	w->stop_deadline = time(NULL) + STOP_GRACE_SECONDS;
	listen_set(w, false);
	/* Keep only connections in the middle of a request or an answer. */
	for (c = w->oldest; c; c = next) {
		next = c->next;
		if (c->in_len == 0 && c->out_len == 0)
			conn_close(w, c);
	}
}

static void
drain_wake(struct worker *w)
{
	uint64_t n;

	(void)!read(w->wake_fd, &n, sizeof(n));
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event events[EVENTS_MAX];

	while (!w->stopping || (w->conn_count > 0 && time(NULL) < w->stop_deadline)) {
		int i, n, timeout;
		long paused = w->accept_resume_ms - now_ms();

		pick_up_new_lists(w);
		tick(w);
		timeout = sleep_ms(w);	/* a second at most; less for an SPF budget */
		if (!w->listening && !w->stopping && paused > 0 && paused < timeout)
			timeout = (int)paused;
		n = epoll_wait(w->epfd, events, EVENTS_MAX, timeout);

		if (n < 0 && errno != EINTR) {
			log_error("worker %d: epoll_wait: %s", w->id, strerror(errno));
			break;
		}
		for (i = 0; i < n; i++) {
			void *tag = events[i].data.ptr;
			struct conn *c = tag;

			if (tag == &tag_listen) {
				if (!w->stopping)
					accept_clients(w);
			} else if (tag == &tag_wake) {
				drain_wake(w);
			} else if (tag == &tag_handoff) {
				adopt_handed(w);
			} else if (tag == &tag_dns) {
				;	/* dns_take_answers() below */
			} else if (c->pending && (c->pending->job || c->pending->blocking
						  || c->pending->dnsw)) {
				conn_close(w, c);	/* hung up while waiting for SPF, a job or DNS */
			} else if ((events[i].events & EPOLLOUT
				    ? conn_writable(w, c) : conn_readable(w, c)) == 0
				   && w->stopping && c->in_len == 0 && c->out_len == 0) {
				conn_close(w, c);	/* answered: done */
			}
		}
		spf_take_answers(w);
		spf_expire(w);
		job_take_answers(w);
		job_expire(w);
		dns_take_answers(w);
		batch_run(w);
		if (atomic_load(&w->shared->stopping) && !w->stopping)
			begin_stop(w);
		else if (!w->stopping && atomic_load(&w->shared->generation) != w->gen->generation)
			pick_up_new_config(w);
		if (!w->listening && !w->stopping && now_ms() >= w->accept_resume_ms)
			listen_set(w, true);	/* the EMFILE pause is over */
	}
	adopt_handed(w);	/* handed over while we stopped: closed */
	while (w->oldest)
		conn_close(w, w->oldest);
	return NULL;
}

struct worker *
worker_start(struct server_shared *shared, int id, char *err, size_t errsize)
{
	struct worker *w = calloc(1, sizeof(*w));
	struct epoll_event ev = { .events = EPOLLIN };

	if (w == NULL) {
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	w->id = id;
	w->shared = shared;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	spf_inbox_init(&w->spf_inbox, w->wake_fd);
	job_inbox_init(&w->job_inbox, w->wake_fd);
	if (w->epfd < 0 || w->wake_fd < 0) {
		snprintf(err, errsize, "worker %d: %s", id, strerror(errno));
		goto fail;
	}
	ev.data.ptr = &tag_wake;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake_fd, &ev) < 0) {
		snprintf(err, errsize, "worker %d: %s", id, strerror(errno));
		goto fail;
	}
	ev.data.ptr = &tag_handoff;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, shared->handoff_fds[id][0], &ev) < 0) {
		snprintf(err, errsize, "worker %d: %s", id, strerror(errno));
		goto fail;
	}
	if ((w->dns = dns_async_new(1000, err, errsize)) == NULL)
		goto fail;
	ev.data.ptr = &tag_dns;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, dns_async_fd(w->dns), &ev) < 0) {
		snprintf(err, errsize, "worker %d: %s", id, strerror(errno));
		goto fail;
	}
	if (worker_configure(w, shared_config_acquire(shared)) < 0) {
		snprintf(err, errsize, "worker %d: cannot open the checks", id);
		goto fail;
	}
	listen_set(w, true);
	if (!w->listening) {
		snprintf(err, errsize, "worker %d: cannot watch the listening socket", id);
		goto fail;
	}
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
		snprintf(err, errsize, "worker %d: cannot start a thread", id);
		goto fail;
	}
	return w;
fail:
	worker_free(w);
	return NULL;
}

void
worker_wake(struct worker *w)
{
	uint64_t one = 1;

	(void)!write(w->wake_fd, &one, sizeof(one));
}

void
worker_free(struct worker *w)
{
	if (w == NULL)
		return;
	check_chain_close(w->chain);
	redis_client_free(w->redis);
	dns_async_free(w->dns);
	lists_release(w->lists);
	if (w->gen)
		shared_config_release(w->shared, w->gen);
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	if (w->epfd >= 0)
		close(w->epfd);
	while (w->free_slots) {
		struct pending *p = w->free_slots;

		w->free_slots = p->next;
		free(p);
	}
	free(w);
}

void
worker_join(struct worker *w)
{
	pthread_join(w->thread, NULL);
	worker_free(w);
}
