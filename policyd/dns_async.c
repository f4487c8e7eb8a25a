/*
 * dns_async.c - see dns_async.h. c-ares tells us which sockets it wants
 * watched (ARES_OPT_SOCK_STATE_CB); they go into an epoll set of our own,
 * whose descriptor the worker watches in its set: the worker's epoll data
 * then needs one tag for all of DNS, and c-ares's sockets never mix with
 * the worker's connections.
 */
#include <ares.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "dns_async.h"
#include "metrics_sluice.h"

#define WAIT_NAMES_MAX 16

struct dns_query {
	struct dns_async *dns;
	struct dns_wait *wait;	/* NULL once abandoned */
	int index;
	uint64_t started_ns;	/* for the DNS latency metric */
};

struct dns_wait {
	struct dns_async *dns;
	void *cookie;
	struct dns_answer *answers;
	struct dns_query *queries[WAIT_NAMES_MAX];
	int remaining;
	bool done;
	struct dns_wait *next;	/* done list */
};

struct dns_async {
	ares_channel channel;
	int epfd;
	int outstanding;
	struct dns_wait *done_head, *done_tail;
};

static pthread_once_t library_once = PTHREAD_ONCE_INIT;
static int library_status;

static void
library_init(void)
{
	library_status = ares_library_init(ARES_LIB_INIT_ALL);
}

static void
sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns_async *dns = data;
	struct epoll_event ev = { .events = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0),
				  .data.fd = fd };

	if (!readable && !writable) {
		epoll_ctl(dns->epfd, EPOLL_CTL_DEL, fd, NULL);
		return;
	}
	if (epoll_ctl(dns->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 && errno == ENOENT)
		epoll_ctl(dns->epfd, EPOLL_CTL_ADD, fd, &ev);
}

struct dns_async *
dns_async_new(int try_timeout_ms, char *err, size_t errsize)
{
	struct dns_async *dns = calloc(1, sizeof(*dns));
	struct ares_options opts = { 0 };
	int rc;

	pthread_once(&library_once, library_init);
	if (library_status != ARES_SUCCESS) {
		snprintf(err, errsize, "c-ares: %s", ares_strerror(library_status));
		free(dns);
		return NULL;
	}
	if (dns == NULL) {
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	if ((dns->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		snprintf(err, errsize, "epoll_create1: %s", strerror(errno));
		free(dns);
		return NULL;
	}
	opts.sock_state_cb = sock_state;
	opts.sock_state_cb_data = dns;
	opts.timeout = try_timeout_ms;
	opts.tries = 2;
	rc = ares_init_options(&dns->channel, &opts,
			       ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errsize, "c-ares: %s", ares_strerror(rc));
		close(dns->epfd);
		free(dns);
		return NULL;
	}
	return dns;
}

void
dns_async_free(struct dns_async *dns)
{
	if (dns == NULL)
		return;
	ares_destroy(dns->channel);	/* callbacks run with ARES_EDESTRUCTION */
	while (dns->done_head) {
		struct dns_wait *w = dns->done_head;

		dns->done_head = w->next;
		free(w);
	}
	close(dns->epfd);
	free(dns);
}

int
dns_async_fd(const struct dns_async *dns)
{
	return dns->epfd;
}

static void
wait_done(struct dns_async *dns, struct dns_wait *w)
{
	w->done = true;
	w->next = NULL;
	if (dns->done_tail) dns->done_tail->next = w; else dns->done_head = w;
	dns->done_tail = w;
}

static void
fill_answer(struct dns_answer *a, int status, unsigned char *abuf, int alen)
{
	struct ares_addrttl ttls[DNS_ADDRS_MAX];
	int i, n = DNS_ADDRS_MAX;

	memset(a, 0, sizeof(*a));
	if (status == ARES_ENOTFOUND || status == ARES_ENODATA) {
		a->status = DNS_NOTFOUND;
		return;
	}
	if (status == ARES_ETIMEOUT) {
		a->status = DNS_TIMEOUT;
		return;
	}
	if (status != ARES_SUCCESS) {
		a->status = DNS_ERROR;
		return;
	}
	status = ares_parse_a_reply(abuf, alen, NULL, ttls, &n);
	if (status == ARES_ENODATA || (status == ARES_SUCCESS && n == 0)) {
		a->status = DNS_NOTFOUND;
		return;
	}
	if (status != ARES_SUCCESS) {
		a->status = DNS_ERROR;
		return;
	}
	a->status = DNS_OK;
	a->count = n;
	a->ttl = ttls[0].ttl;
	for (i = 0; i < n; i++) {
		a->addrs[i] = ntohl(ttls[i].ipaddr.s_addr);
		if (ttls[i].ttl < a->ttl)
			a->ttl = ttls[i].ttl;
	}
}

static void
query_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_query *q = arg;
	struct dns_wait *w = q->wait;

	(void)timeouts;
	q->dns->outstanding--;
	if (status != ARES_EDESTRUCTION && status != ARES_ECANCELLED)
		metric_dns(metric_now_ns() - q->started_ns,
			   status != ARES_SUCCESS && status != ARES_ENOTFOUND
			   && status != ARES_ENODATA);
	if (w) {
		struct dns_async *dns = w->dns;

		fill_answer(&w->answers[q->index], status, abuf, alen);
		w->queries[q->index] = NULL;
		if (--w->remaining == 0 && status != ARES_EDESTRUCTION)
			wait_done(dns, w);
	}
	free(q);
}

struct dns_wait *
dns_wait_start(struct dns_async *dns, const char *const *names, int count,
	       struct dns_answer *answers, void *cookie)
{
	struct dns_wait *w;
	int i;

	if (count <= 0 || count > WAIT_NAMES_MAX
	    || dns->outstanding + count > DNS_OUTSTANDING_MAX
	    || (w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->dns = dns;
	w->cookie = cookie;
	w->answers = answers;
	w->remaining = count;
	for (i = 0; i < count; i++) {
		struct dns_query *q = calloc(1, sizeof(*q));

		if (q == NULL) {	/* the rest are errors */
			answers[i].status = DNS_ERROR;
			if (--w->remaining == 0)
				wait_done(dns, w);
			continue;
		}
		q->dns = dns;
		q->wait = w;
		q->index = i;
		q->started_ns = metric_now_ns();
		w->queries[i] = q;
		dns->outstanding++;
		/* may call query_done() at once (a malformed name) */
		ares_query(dns->channel, names[i], ns_c_in, ns_t_a, query_done, q);
	}
	return w;
}

void
dns_wait_abandon(struct dns_async *dns, struct dns_wait *w)
{
	int i;

	if (w->done) {	/* answered, not taken yet: out of the done list */
		struct dns_wait **pp = &dns->done_head, *prev = NULL;

		while (*pp && *pp != w) {
			prev = *pp;
			pp = &(*pp)->next;
		}
		if (*pp)
			*pp = w->next;
		if (dns->done_tail == w)
			dns->done_tail = prev;
		free(w);
		return;
	}
	for (i = 0; i < WAIT_NAMES_MAX; i++)
		if (w->queries[i])
			w->queries[i]->wait = NULL;	/* freed by its callback */
	free(w);
}

void *
dns_async_take_done(struct dns_async *dns)
{
	struct dns_wait *w = dns->done_head;
	void *cookie;

	if (w == NULL)
		return NULL;
	dns->done_head = w->next;
	if (dns->done_head == NULL)
		dns->done_tail = NULL;
	cookie = w->cookie;
	free(w);
	return cookie;
}

void
dns_async_process(struct dns_async *dns)
{
	struct epoll_event ev[64];
	int i, n = epoll_wait(dns->epfd, ev, 64, 0);

	for (i = 0; i < n; i++)
		ares_process_fd(dns->channel,
				ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP) ? ev[i].data.fd : ARES_SOCKET_BAD,
				ev[i].events & EPOLLOUT ? ev[i].data.fd : ARES_SOCKET_BAD);
	ares_process_fd(dns->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);	/* timeouts */
}

int
dns_async_timeout_ms(struct dns_async *dns, int max_ms)
{
	struct timeval max = { max_ms / 1000, (max_ms % 1000) * 1000 }, tv, *t;
	long ms;

	if (dns->done_head)
		return 0;
	if (dns->outstanding == 0)
		return max_ms;
	t = ares_timeout(dns->channel, &max, &tv);
	ms = t->tv_sec * 1000L + (t->tv_usec + 999) / 1000;
	return ms < max_ms ? (int)ms : max_ms;
}
