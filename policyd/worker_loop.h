/*
 * worker_loop.h - what the files of one worker's event loop share
 * (private to worker.c, conn.c, wait.c and accept.c; not an interface
 * for checks).
 *
 * The loop is one thread and these files are one module cut along its
 * seams: worker.c (framing, the Redis batch, the loop), conn.c (a
 * connection's buffers, reads, sends, close and timeouts),
 * wait.c (requests held for SPF, a blocking job or DNS, and how long the
 * loop may sleep for them), accept.c (taking connections and spreading
 * them over the workers). Everything here is owned by the worker thread
 * and touched only by it, so nothing takes a lock.
 */
#ifndef SLUICE_POLICY_WORKER_LOOP_H
#define SLUICE_POLICY_WORKER_LOOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "check.h"
#include "dns_async.h"
#include "job_pool.h"
#include "server.h"
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
	bool reply_queued;		/* an answer waits for replies_send() */
	struct conn *reply_prev, *reply_next;	/* those, in order */
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
	struct conn *replies_first, *replies_last;	/* answers not yet sent */
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

/* epoll tags for the non-connection descriptors (worker.c) */
extern char tag_listen, tag_wake, tag_handoff, tag_dns;

/* conn.c: a connection's life. conn_flush: -1 closed, 1 output still
 * pending (EPOLLOUT watched), 0 all sent; conn_readable, conn_writable:
 * -1 the connection is gone, else 0. */
void idle_touch(struct worker *w, struct conn *c);
void partial_end(struct worker *w, struct conn *c);
void reply_queue(struct worker *w, struct conn *c);
void conn_close(struct worker *w, struct conn *c);
void conn_fail(struct worker *w, struct conn *c, const char *why);
int conn_watch(struct worker *w, struct conn *c, uint32_t events);
int conn_flush(struct worker *w, struct conn *c);
int conn_readable(struct worker *w, struct conn *c);
int conn_writable(struct worker *w, struct conn *c);
void sweep_idle(struct worker *w);

/* worker.c */
struct policy_context worker_context(struct worker *w);
void slot_release(struct worker *w, struct pending *p);
int go_on(struct worker *w, struct pending *p, enum check_result r);
int conn_process(struct worker *w, struct conn *c);
long now_ms(void);

/* wait.c: requests held for SPF, a job (CHECK_JOB) or DNS */
void spf_unlink(struct worker *w, struct pending *p);
void job_unlink(struct worker *w, struct pending *p);
void dns_unlink(struct worker *w, struct pending *p);
int spf_wait(struct worker *w, struct pending *p);
int job_wait(struct worker *w, struct pending *p);
int dns_wait(struct worker *w, struct pending *p);
void spf_take_answers(struct worker *w);
void spf_expire(struct worker *w);
void job_take_answers(struct worker *w);
void job_expire(struct worker *w);
void dns_take_answers(struct worker *w);
int sleep_ms(const struct worker *w);

/* accept.c: connections in, spread over the workers */
void listen_set(struct worker *w, bool on);
void adopt_handed(struct worker *w);
void accept_clients(struct worker *w);

#endif
