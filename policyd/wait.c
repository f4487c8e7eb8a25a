/*
 * wait.c - requests a worker holds while SPF, a blocking job or DNS
 * answers, and how long its epoll_wait may sleep for them.
 *
 * Part of one worker's loop (worker_loop.h), cut out of worker.c.
 * Nothing here waits: SPF goes to the process's SPF pool (spf_pool.h),
 * whose answers come back through the worker's eventfd; so do the checks'
 * other blocking jobs (CHECK_JOB: SMTP probes, LDAP lookups) through the
 * job pool (job_pool.h), held and timed out the same way. A request that
 * waits for SPF holds its connection still (no reads: its attributes
 * point into the input buffer) and is answered temperror when
 * policyd.spf_timeout runs out, while every other connection is served.
 *
 * DNS (CHECK_DNS) is the same shape inside the loop: the worker owns one
 * c-ares resolver (dns_async.h) whose sockets sit behind one descriptor
 * in our epoll set; a request that waits for DNS holds its connection
 * still, and is resumed when its names are all answered or when its
 * budget (reply->dns.budget_ms) runs out, whichever comes first. So a
 * dead DNS server costs the requests that ask it their budget, and
 * nothing to anyone else.
 *
 * Each wait list is in order of submission, so of deadlines (for one
 * config); answers are taken only while the Redis batch has room
 * (BATCH_MAX), the rest on the next wakeup.
 */
#include <sys/epoll.h>

#include "worker_loop.h"

void
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
int
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

void
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
int
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

void
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
int
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
void
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
void
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
void
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
void
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
void
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
int
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
