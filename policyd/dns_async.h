/*
 * dns_async.h - asynchronous DNS for one worker's event loop (c-ares).
 *
 * Why: a DNSBL lookup may take seconds (a dead server costs c-ares its
 * whole retry schedule); a worker that waited would stall every request
 * it holds. So a worker owns one resolver (one c-ares channel, following
 * /etc/resolv.conf), watches dns_async_fd() in its epoll set, calls
 * dns_async_process() when it is readable and on every loop turn (that
 * also runs c-ares's own timeouts), and sleeps at most
 * dns_async_timeout_ms(). c-ares stays inside dns_async.c.
 *
 * A request's questions are one dns_wait: dns_wait_start() asks all its
 * names at once (type A) and writes each answer into the caller's array
 * as it arrives; when the last one is in, the wait's cookie comes out of
 * dns_async_take_done() (the wait is then freed). A caller whose budget
 * ran out, or whose request went away, calls dns_wait_abandon(): nothing
 * is written any more, and the answers not in stay as the caller set
 * them (DNS_TIMEOUT). Abandoned queries run out on c-ares's own timeout;
 * at most DNS_OUTSTANDING_MAX queries are open per worker, beyond that
 * dns_wait_start() fails at once (the caller treats it as a DNS error).
 * Single-threaded: a resolver belongs to its worker.
 */
#ifndef SLUICE_DNS_ASYNC_H
#define SLUICE_DNS_ASYNC_H

#include <stdint.h>

#define DNS_ADDRS_MAX 4		/* A records kept per answer */
#define DNS_OUTSTANDING_MAX 4096

enum dns_status { DNS_TIMEOUT, DNS_OK, DNS_NOTFOUND, DNS_ERROR };

struct dns_answer {
	enum dns_status status;	/* DNS_NOTFOUND: NXDOMAIN or no A record */
	int count;		/* addresses, with DNS_OK */
	uint32_t addrs[DNS_ADDRS_MAX];	/* host order */
	int ttl;		/* the smallest of the records', seconds */
};

struct dns_async;
struct dns_wait;

/* try_timeout_ms: c-ares's time per try (2 tries). */
struct dns_async *dns_async_new(int try_timeout_ms, char *err, size_t errsize);
void dns_async_free(struct dns_async *dns);
int dns_async_fd(const struct dns_async *dns);
void dns_async_process(struct dns_async *dns);
/* At most max_ms; 0 when a wait is done and not taken yet. */
int dns_async_timeout_ms(struct dns_async *dns, int max_ms);

struct dns_wait *dns_wait_start(struct dns_async *dns, const char *const *names, int count,
				struct dns_answer *answers, void *cookie);
void dns_wait_abandon(struct dns_async *dns, struct dns_wait *wait);
void *dns_async_take_done(struct dns_async *dns);

#endif
