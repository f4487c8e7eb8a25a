/*
 * worker.c - one thread's epoll loop: framing, requests, answers.
 *
 * Every worker owns the connections it accepts, its Redis client, its
 * cache of the Redis lists and its check chain, so a decision takes no
 * lock. Nothing here waits: Redis calls are batched (see batch_run);
 * requests that wait for SPF, a blocking job or DNS are held in wait.c
 * while every other connection is served; conn.c reads, writes and
 * closes connections; accept.c takes connections and places them (8 per
 * worker first, then evenly); worker_loop.h is what the four files
 * share. Answers and log lines go out once per
 * wakeup (replies_send): the log in one write, then one send per
 * connection.
 *
 * Framing is done here, not in the parser: bytes are scanned once as they
 * arrive, a line is refused as soon as it passes POLICY_LINE_MAX (so a
 * 1 MiB line costs us 4 KiB, not 1 MiB), and a request is handed to the
 * parser only when its empty line has arrived. The connections
 * themselves (buffers, reads and sends, idle and request timeouts) are
 * conn.c's.
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

#include "list_cache.h"
#include "log.h"
#include "worker_loop.h"

/* epoll tags for the non-connection descriptors */
char tag_listen, tag_wake, tag_handoff, tag_dns;

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

struct policy_context
worker_context(struct worker *w)
{
	struct policy_context ctx = { w->gen->cfg, w->redis, w->lists,
				      time(NULL) + w->clock_offset, w->clock_offset,
				      &w->shared->check_redis_warned_at };

	return ctx;
}

/* Logs a decided request (into this wakeup's log batch), frees its
 * slot, drops it from the input and queues the answer for
 * replies_send(): -1 closed, 1 answer queued. */
static int
finish_request(struct worker *w, struct pending *p)
{
	struct conn *c = p->c;
	size_t alen = strlen(p->reply.action);

	log_decision(&p->req, &p->reply);
	check_reply_count(&p->reply);
	slot_release(w, p);
	c->in_batch = false;
	c->pending = NULL;
	if (alen + sizeof("action=\n\n") > sizeof(c->out)) {
		conn_fail(w, c, "reply too long");
		return -1;
	}
	memcpy(c->out, "action=", 7);
	memcpy(c->out + 7, p->reply.action, alen);
	memcpy(c->out + 7 + alen, "\n\n", 2);
	c->out_len = 7 + alen + 2;
	c->out_off = 0;
	memmove(c->in, c->in + p->consumed, c->in_len - p->consumed);
	c->in_len -= p->consumed;
	c->scan = c->line_start = 0;
	reply_queue(w, c);
	return 1;
}

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

void
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

/* Where a request goes after a step of the chain: answered (-1 closed,
 * 1 answer queued for replies_send()) or waiting for Redis, SPF, a job
 * or DNS (1). */
int
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
 * without Redis: -1 closed, 1 answer queued or waiting (for Redis in the
 * batch, SPF, a job or DNS). */
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
	if (policy_request_parse_framed(c->in, len, &p->req, &why) < 0) {
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
int
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
		struct policy_context ctx = worker_context(w);
		int i, count = w->waiting_count, ncalls = 0, done;

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
			int n = 1 + p->reply.more_count, j;
			redisReply array;
			enum check_result r;

			r = check_chain_resume(w->chain, &ctx, &p->req, &p->reply, &p->cursor,
					       answer_of(replies + done, n, &array));
			for (j = 0; j < n; j++)
				if (replies[done + j])
					freeReplyObject(replies[done + j]);
			done += n;
			(void)go_on(w, p, r);	/* answer queued, waiting again, or closed */
		}
	}
}

/*
 * Writes this wakeup's log lines (one write(2), log_batch_*), then sends
 * every queued answer, one send per connection: a line is written before
 * the answer it records leaves, so a crash never loses the line of an
 * answered request. Then the next requests those connections have
 * buffered are started; their Redis calls go in the next batch.
 */
static void
replies_send(struct worker *w)
{
	while (w->replies_first || w->waiting_count > 0) {
		struct conn *c, *next;

		batch_run(w);
		log_batch_flush();
		c = w->replies_first;
		w->replies_first = w->replies_last = NULL;
		for (; c; c = next) {
			next = c->reply_next;
			c->reply_prev = c->reply_next = NULL;
			c->reply_queued = false;
			if (conn_flush(w, c) == 0 && conn_process(w, c) == 0 && w->stopping
			    && c->in_len == 0 && c->out_len == 0)
				conn_close(w, c);	/* stopping: done */
		}
	}
	log_batch_flush();
}

long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

	log_batch_begin();	/* this thread's lines: one write per wakeup */
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
		replies_send(w);	/* and the batch of Redis calls before it */
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
	log_batch_end();
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
