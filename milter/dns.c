/*
 * dns.c - the milter's resolver on libunbound (see dns.h for the contract).
 *
 * libunbound runs in its threaded asynchronous mode; one thread of ours
 * (the "dns" thread) waits on ub_fd() and calls ub_process(), which runs
 * the callbacks of answered queries. A libmilter thread that looks up a
 * name registers a struct pending, starts the query and waits on the
 * pending's condition variable until the answer or its deadline. At the
 * deadline it marks the pending abandoned and leaves: the callback frees
 * it later (the answer still lands in unbound's cache). Every pending is
 * on the resolver's list, under its lock, so that a resolver freed with
 * queries in flight frees them too.
 */
#include <arpa/nameser.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unbound.h>

#include "dns.h"
#include "dns_cache.h"
#include "metrics_sluice.h"

#define DNS_CACHE_ENTRIES 50000

struct pending {
	struct pending *next, *prev;
	pthread_cond_t cond;
	bool done, abandoned;
	int err;
	struct ub_result *result;
};

struct dns_resolver {
	struct ub_ctx *ctx;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	bool stop;			/* guarded by lock */
	struct pending *pendings;	/* guarded by lock */
	struct dns_cache *cache;	/* in front of libunbound's */
};

static void
unlink_pending(struct dns_resolver *r, struct pending *p)
{
	/* r->lock held */
	if (p->prev)
		p->prev->next = p->next;
	else
		r->pendings = p->next;
	if (p->next)
		p->next->prev = p->prev;
}

static void
free_pending(struct pending *p)
{
	if (p->result)
		ub_resolve_free(p->result);
	pthread_cond_destroy(&p->cond);
	free(p);
}


struct callback_arg {
	struct dns_resolver *r;
	struct pending *p;
};

/* Runs in the dns thread, inside ub_process(). */
static void
on_answer(void *arg, int err, struct ub_result *result)
{
	struct callback_arg *a = arg;
	struct dns_resolver *r = a->r;
	struct pending *p = a->p;

	free(a);
	pthread_mutex_lock(&r->lock);
	p->done = true;
	p->err = err;
	p->result = result;
	if (p->abandoned) {
		unlink_pending(r, p);
		free_pending(p);
	} else {
		pthread_cond_signal(&p->cond);
	}
	pthread_mutex_unlock(&r->lock);
}

static void *
dns_thread(void *arg)
{
	struct dns_resolver *r = arg;
	struct pollfd pfd = { .fd = ub_fd(r->ctx), .events = POLLIN };

	for (;;) {
		bool stop;
		int n;

		pthread_mutex_lock(&r->lock);
		stop = r->stop;
		pthread_mutex_unlock(&r->lock);
		if (stop)
			break;
		n = poll(&pfd, 1, 200);
		if (n > 0)
			ub_process(r->ctx);
	}
	return NULL;
}

/*
 * unbound answers some names itself (RFC 6761 and 6303 zones: test.,
 * localhost., the reverse zones of loopback and private networks). As a
 * stub, we leave every name to the servers of resolv.conf, as libc does:
 * a site's own reverse zones, and a test zone, must resolve.
 */
static int
stub_zones(struct ub_ctx *ctx)
{
	static const char *const zones[] = {
		"test.", "invalid.", "localhost.", "onion.", "home.arpa.", "127.in-addr.arpa.",
		"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.", NULL
	};
	char zone[128];
	size_t i;
	int rc;

	if ((rc = ub_ctx_set_option(ctx, "unblock-lan-zones:", "yes")) != 0
	    || (rc = ub_ctx_set_option(ctx, "insecure-lan-zones:", "yes")) != 0)
		return rc;
	for (i = 0; zones[i]; i++) {
		snprintf(zone, sizeof(zone), "%s transparent", zones[i]);
		if ((rc = ub_ctx_set_option(ctx, "local-zone:", zone)) != 0)
			return rc;
	}
	return 0;
}

struct dns_resolver *
dns_resolver_new(const char *resolv_conf, char *err, size_t errsize)
{
	struct dns_resolver *r = calloc(1, sizeof(*r));
	int rc;

	if (r == NULL) {
		snprintf(err, errsize, "dns: out of memory");
		return NULL;
	}
	pthread_mutex_init(&r->lock, NULL);
	if ((r->cache = dns_cache_new(DNS_CACHE_ENTRIES)) == NULL) {
		snprintf(err, errsize, "dns: out of memory");
		goto fail;
	}
	if ((r->ctx = ub_ctx_create()) == NULL) {
		snprintf(err, errsize, "dns: cannot create the libunbound context");
		goto fail;
	}
	/* A stub resolver: ask the servers of resolv.conf, as libc would, and
	 * do not refuse them when they are on loopback (a local dnsmasq or
	 * unbound is the usual setup, and the test namespace's). */
	if ((rc = ub_ctx_resolvconf(r->ctx, resolv_conf)) != 0
	    || (rc = ub_ctx_set_option(r->ctx, "do-not-query-localhost:", "no")) != 0
	    || (rc = ub_ctx_set_option(r->ctx, "so-reuseport:", "no")) != 0
	    || (rc = stub_zones(r->ctx)) != 0
	    || (rc = ub_ctx_async(r->ctx, 1)) != 0) {
		snprintf(err, errsize, "dns: %s: %s", resolv_conf ? resolv_conf : "/etc/resolv.conf",
			 ub_strerror(rc));
		goto fail;
	}
	if (pthread_create(&r->thread, NULL, dns_thread, r) != 0) {
		snprintf(err, errsize, "dns: cannot start the resolver thread");
		goto fail;
	}
	r->thread_started = true;
	return r;
fail:
	dns_resolver_free(r);
	return NULL;
}

void
dns_resolver_free(struct dns_resolver *r)
{
	struct pending *p, *next;

	if (r == NULL)
		return;
	if (r->thread_started) {
		pthread_mutex_lock(&r->lock);
		r->stop = true;
		pthread_mutex_unlock(&r->lock);
		pthread_join(r->thread, NULL);
	}
	if (r->ctx)
		ub_ctx_delete(r->ctx);	/* no callback runs after this */
	for (p = r->pendings; p; p = next) {
		next = p->next;
		free_pending(p);
	}
	dns_cache_free(r->cache);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

void
dns_budget_init(struct dns_budget *budget, long ms)
{
	budget->remaining_ms = ms;
	budget->timed_out = false;
	budget->queries = 0;
}

static long
elapsed_ms(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
}

/* Our own copy of libunbound's answer (which is freed here). */
static void
answer_from(struct ub_result *res, struct dns_answer *out)
{
	int count = 0;

	if (res->rcode != 0 && !res->nxdomain)
		dns_answer_make(out, DNS_TEMPFAIL, 0, 0, NULL, NULL);	/* SERVFAIL, ... */
	else if (res->nxdomain)
		dns_answer_make(out, DNS_NXDOMAIN, res->ttl, 0, NULL, NULL);
	else if (!res->havedata)
		dns_answer_make(out, DNS_NODATA, res->ttl, 0, NULL, NULL);
	else {
		while (res->data[count])
			count++;
		dns_answer_make(out, DNS_OK, res->ttl, count, res->data, res->len);
	}
	ub_resolve_free(res);
}

enum dns_status
dns_lookup(struct dns_resolver *r, const char *name, int type, struct dns_budget *budget,
	   struct dns_answer *out)
{
	struct pending *p;
	struct callback_arg *arg;
	struct timespec start, deadline, now;
	pthread_condattr_t attr;
	int id;

	memset(out, 0, sizeof(*out));
	out->status = DNS_TEMPFAIL;
	if (dns_cache_get(r->cache, name, type, out)) {
		budget->queries++;
		return out->status;
	}
	if (budget->remaining_ms <= 0) {
		budget->timed_out = true;
		return out->status;
	}
	budget->queries++;
	p = calloc(1, sizeof(*p));
	arg = malloc(sizeof(*arg));
	if (p == NULL || arg == NULL) {
		free(p);
		free(arg);
		return out->status;
	}
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &attr);
	pthread_condattr_destroy(&attr);
	arg->r = r;
	arg->p = p;
	clock_gettime(CLOCK_MONOTONIC, &start);
	deadline = start;
	deadline.tv_sec += budget->remaining_ms / 1000;
	deadline.tv_nsec += (budget->remaining_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&r->lock);
	p->next = r->pendings;
	if (p->next)
		p->next->prev = p;
	r->pendings = p;
	/* Started under the lock: the callback cannot run before we wait. */
	if (ub_resolve_async(r->ctx, name, type, ns_c_in, arg, on_answer, &id) != 0) {
		unlink_pending(r, p);
		pthread_mutex_unlock(&r->lock);
		free_pending(p);
		free(arg);
		return out->status;
	}
	while (!p->done)
		if (pthread_cond_timedwait(&p->cond, &r->lock, &deadline) == ETIMEDOUT)
			break;
	if (p->done) {
		unlink_pending(r, p);
		pthread_mutex_unlock(&r->lock);
		if (p->err == 0 && p->result) {
			answer_from(p->result, out);
			p->result = NULL;	/* freed by answer_from */
			dns_cache_put(r->cache, name, type, out);
		}
		free_pending(p);
	} else {
		p->abandoned = true;	/* on_answer frees it */
		pthread_mutex_unlock(&r->lock);
		budget->timed_out = true;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	/* A lookup that went to the network (not the cache): its latency;
	 * an error is a timeout or a resolver failure, not "no such name". */
	metric_dns((uint64_t)(now.tv_sec - start.tv_sec) * 1000000000u
		   + (uint64_t)(now.tv_nsec - start.tv_nsec), out->status == DNS_TEMPFAIL);
	budget->remaining_ms -= elapsed_ms(&start, &now);
	if (budget->timed_out && budget->remaining_ms > 0)
		budget->remaining_ms = 0;
	return out->status;
}

void
dns_answer_free(struct dns_answer *answer)
{
	free(answer->impl);
	memset(answer, 0, sizeof(*answer));
}

int
dns_txt(const struct dns_answer *answer, int i, char *buf, size_t size)
{
	const unsigned char *d;
	int len, pos = 0;
	size_t o = 0;

	if (i < 0 || i >= answer->count || size == 0)
		return -1;
	d = (const unsigned char *)answer->data[i];
	len = answer->len[i];
	while (pos < len) {
		int n = d[pos++];

		if (pos + n > len || o + (size_t)n + 1 > size
		    || memchr(d + pos, '\0', (size_t)n) != NULL)
			return -1;
		memcpy(buf + o, d + pos, (size_t)n);
		o += (size_t)n;
		pos += n;
	}
	buf[o] = '\0';
	return 0;
}
