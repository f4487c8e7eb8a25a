/*
 * policy-load.c - load generator for a Postfix policy delegation server.
 *
 * Holds N connections (unix socket or host:port) and on each one sends
 * requests the way Postfix's smtpd does: one request, wait for the
 * "action=..." line and the empty line, then the next. Every request is an
 * RCPT-stage smtpd_access_policy request with the attributes Postfix 3.7
 * sends; its (client IP, sender, recipient) triplet is drawn from a pool of
 * distinct triplets (default 1,000,000) with a pseudo-random generator
 * seeded per connection from -S, so a run is reproducible and two servers
 * given the same seed see the same requests in the same order.
 *
 * After a warm-up (requests sent, not counted) it measures for a duration
 * (or a number of requests) and reports requests/s, latency percentiles
 * (microseconds, from a log-linear histogram with <0.2% error), the count
 * of each action word returned, and errors. The last line is
 * machine-readable key=value. Exit status: 0 on a clean run, 1 when there
 * was any error or no request was measured, 2 on a usage error.
 *
 * Bounds: every socket operation has a timeout (-t), a reply is at most
 * REPLY_MAX bytes, the pool, connection count, durations and request count
 * are capped. A server that closes a connection is counted as an error and
 * the connection is opened again (after a short pause), as Postfix would.
 *
 * One thread per connection, blocking sockets; a reply is waited for with
 * poll() first, as Postfix waits (wait_readable()).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CONN_MAX	1024
#define POOL_MAX	50000000UL	/* triplets; the IP mapping is injective below this */
#define DURATION_MAX	86400.0
#define REQUEST_BUF	2048
#define REPLY_MAX	4096		/* one action line and the empty line */
#define ACTION_KINDS	16		/* distinct action words tracked per thread */
#define ACTION_WORD_MAX	32

/* Histogram: 0..1023 us exact, then 512 sub-buckets per power of two. */
#define HIST_LINEAR	1024
#define HIST_SUB_BITS	9
#define HIST_SUB	(1 << HIST_SUB_BITS)
#define HIST_OCTAVES	38		/* up to 2^47 us: anything a run can see */
#define HIST_BUCKETS	(HIST_LINEAR + HIST_OCTAVES * HIST_SUB)

enum err_kind { E_CONNECT, E_CLOSED, E_TIMEOUT, E_IO, E_PROTOCOL, E_KINDS };
static const char *const err_names[E_KINDS] = {
	"connect", "closed", "timeout", "io", "protocol"
};

struct action_count {
	char word[ACTION_WORD_MAX];
	uint64_t n;
};

struct options {
	int conns;
	double duration, warmup;
	uint64_t requests;	/* 0: run for the duration */
	uint64_t pool;
	uint64_t seed;
	int timeout_ms;
	bool is_unix;
	char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char host[256], port[32];
	char target[300];	/* for the report */
	bool verbose;
};

struct worker {
	pthread_t thread;
	int index;
	int fd;
	uint64_t rng;
	uint64_t message;	/* per-connection message counter (instance=) */
	/* results */
	uint64_t warm_requests, requests;
	uint64_t errors[E_KINDS];
	uint64_t *hist;
	uint64_t max_us, sum_us;
	double last_done;	/* monotonic time of the last measured reply */
	struct action_count actions[ACTION_KINDS];
	uint64_t other_actions;	/* distinct words beyond ACTION_KINDS */
	char first_error[200];
};

static struct options opt;
static double t_start, t_measure, t_end;	/* monotonic seconds */
static atomic_bool stop_flag;
static atomic_uint_fast64_t budget;		/* -n: requests left to measure */

/* First octets of client addresses: public-looking unicast /8s only. */
static uint8_t first_octets[256];
static unsigned n_first_octets;

static double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t
splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static uint64_t
mix64(uint64_t x)
{
	return splitmix64(&x);
}

/* xoshiro would do as well; splitmix64 is small, fast and good enough. */
static uint64_t
rng_next(struct worker *w)
{
	return splitmix64(&w->rng);
}

static void
init_first_octets(void)
{
	unsigned o;

	for (o = 1; o < 224; o++) {
		/* not private, loopback, CGNAT, link-local, documentation /8s */
		if (o == 10 || o == 100 || o == 127 || o == 169 || o == 172
		    || o == 192 || o == 198 || o == 203)
			continue;
		first_octets[n_first_octets++] = (uint8_t)o;
	}
}

static size_t
hist_index(uint64_t us)
{
	unsigned e;

	if (us < HIST_LINEAR)
		return (size_t)us;
	e = 63u - (unsigned)__builtin_clzll(us);	/* >= 10 */
	if (e - 10 >= HIST_OCTAVES)
		return HIST_BUCKETS - 1;
	return HIST_LINEAR + (size_t)(e - 10) * HIST_SUB
	       + (size_t)((us >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

/* Upper bound of a bucket (the value reported for a percentile). */
static uint64_t
hist_value(size_t idx)
{
	size_t o, sub;

	if (idx < HIST_LINEAR)
		return idx;
	o = (idx - HIST_LINEAR) / HIST_SUB;
	sub = (idx - HIST_LINEAR) % HIST_SUB;
	return (((uint64_t)(HIST_SUB + sub + 1)) << (o + 10 - HIST_SUB_BITS)) - 1;
}

static void set_error(struct worker *w, enum err_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
set_error(struct worker *w, enum err_kind kind, const char *fmt, ...)
{
	va_list ap;

	w->errors[kind]++;
	if (w->first_error[0] == '\0') {
		int n = snprintf(w->first_error, sizeof(w->first_error), "conn %d: %s: ",
				 w->index, err_names[kind]);

		if (n > 0 && (size_t)n < sizeof(w->first_error)) {
			va_start(ap, fmt);
			vsnprintf(w->first_error + n, sizeof(w->first_error) - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	if (opt.verbose) {
		char msg[200];

		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		fprintf(stderr, "policy-load: conn %d: %s: %s\n", w->index, err_names[kind], msg);
	}
}

static int
set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = opt.timeout_ms / 1000,
			      .tv_usec = (opt.timeout_ms % 1000) * 1000 };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0
	    || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -1;
	return 0;
}

/* Opens one connection; -1 with a message on failure. SO_SNDTIMEO bounds
 * connect() too. */
static int
open_conn(char *err, size_t errsize)
{
	int fd;

	if (opt.is_unix) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };

		memcpy(sun.sun_path, opt.unix_path, sizeof(sun.sun_path));
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0
		    || set_timeouts(fd) < 0
		    || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
			snprintf(err, errsize, "%s: %s", opt.unix_path, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		return fd;
	} else {
		struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
					  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
		struct addrinfo *res;
		int one = 1, rc;

		/* Numeric only: a benchmark never waits for DNS. */
		if ((rc = getaddrinfo(opt.host, opt.port, &hints, &res)) != 0) {
			snprintf(err, errsize, "%s:%s: %s", opt.host, opt.port, gai_strerror(rc));
			return -1;
		}
		fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || set_timeouts(fd) < 0
		    || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0
		    || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
			snprintf(err, errsize, "%s:%s: %s", opt.host, opt.port, strerror(errno));
			if (fd >= 0)
				close(fd);
			freeaddrinfo(res);
			return -1;
		}
		freeaddrinfo(res);
		return fd;
	}
}

/*
 * Triplet i of the pool -> one RCPT request. Client c = i / 4 sends from
 * four addresses of its own domain, so (IP, sender) is unique per i and
 * the triplets are distinct; the recipient is one of 20000 mailboxes of
 * the local domain. Everything else varies the way it does in real
 * traffic (ports, TLS or not, unknown client names) but is derived from
 * i and the connection, never from a clock, so runs are reproducible.
 */
static const char *const sender_locals[4] = { "info", "newsletter", "billing", "no-reply" };

static int
build_request(struct worker *w, uint64_t i, char *buf, size_t size)
{
	uint64_t c = i >> 2, k = i & 3, h = mix64(i ^ 0xA5A5A5A5ULL), hc = mix64(c);
	unsigned o1 = first_octets[c % n_first_octets];
	uint64_t rest = c / n_first_octets;	/* < 65536 for c < POOL_MAX/4 */
	unsigned o2 = (unsigned)((rest >> 8) & 255), o3 = (unsigned)(rest & 255);
	unsigned o4 = 1 + (unsigned)(hc % 254);
	bool unknown = (hc >> 20) % 8 == 0;	/* 1 client in 8 has no valid rDNS */
	bool tls = (h >> 12) % 4 != 0;		/* 3 messages in 4 over TLS */
	char dom[64], name[96];
	int n;

	w->message++;
	snprintf(dom, sizeof(dom), "c%" PRIu64 ".example.net", c);
	snprintf(name, sizeof(name), "mail%u.%s", (unsigned)(hc % 4), dom);
	n = snprintf(buf, size,
		     "request=smtpd_access_policy\n"
		     "protocol_state=RCPT\n"
		     "protocol_name=ESMTP\n"
		     "client_address=%u.%u.%u.%u\n"
		     "client_name=%s\n"
		     "client_port=%u\n"
		     "reverse_client_name=%s\n"
		     "server_address=198.51.100.25\n"
		     "server_port=25\n"
		     "helo_name=%s\n"
		     "sender=%s@%s\n"
		     "recipient=user%u@example.com\n"
		     "recipient_count=0\n"
		     "queue_id=\n"
		     "instance=%x.%" PRIx64 ".%x.0\n"
		     "size=0\n"
		     "etrn_domain=\n"
		     "stress=\n"
		     "sasl_method=\n"
		     "sasl_username=\n"
		     "sasl_sender=\n"
		     "ccert_subject=\n"
		     "ccert_issuer=\n"
		     "ccert_fingerprint=\n"
		     "ccert_pubkey_fingerprint=\n"
		     "encryption_protocol=%s\n"
		     "encryption_cipher=%s\n"
		     "encryption_keysize=%s\n"
		     "policy_context=\n"
		     "\n",
		     o1, o2, o3, o4,
		     unknown ? "unknown" : name,
		     1024 + (unsigned)(h % 64511),
		     (unknown && (hc >> 40) % 2) ? "unknown" : name,
		     name,
		     sender_locals[k], dom,
		     (unsigned)((h >> 24) % 20000),
		     0x1000u + (unsigned)w->index, w->message, (unsigned)(h & 0xfffff),
		     tls ? "TLSv1.3" : "", tls ? "TLS_AES_256_GCM_SHA384" : "",
		     tls ? "256" : "0");
	return (n > 0 && (size_t)n < size) ? n : -1;
}

static void
count_action(struct worker *w, const char *reply, size_t len)
{
	char word[ACTION_WORD_MAX];
	size_t i, n = 0;

	/* reply starts with "action=" (checked by the caller) */
	for (i = 7; i < len && n + 1 < sizeof(word); i++) {
		char ch = reply[i];

		if (ch == ' ' || ch == '\t' || ch == '\n')
			break;
		word[n++] = (ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch;
	}
	word[n] = '\0';
	if (n == 0)
		strcpy(word, "(EMPTY)");
	for (i = 0; i < ACTION_KINDS; i++) {
		if (w->actions[i].word[0] == '\0') {
			memcpy(w->actions[i].word, word, sizeof(word));
			w->actions[i].n = 1;
			return;
		}
		if (strcmp(w->actions[i].word, word) == 0) {
			w->actions[i].n++;
			return;
		}
	}
	w->other_actions++;
}

static int
send_all(struct worker *w, const char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(w->fd, buf + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				set_error(w, E_TIMEOUT, "send: no progress in %d ms", opt.timeout_ms);
			else if (errno == EPIPE || errno == ECONNRESET)
				set_error(w, E_CLOSED, "send: %s", strerror(errno));
			else
				set_error(w, E_IO, "send: %s", strerror(errno));
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}

/*
 * Waits for the reply with poll() before reading it, as Postfix's smtpd
 * does (read_wait() in its timed reads). Not only for the timeout: a
 * thread asleep in recv() on a unix socket is woken each time the peer
 * reads what the thread sent (unix_write_space() wakes every sleeper on
 * the socket, and a blocked recv's sleeper does not filter by event),
 * so a client blocked in recv makes the daemon's every read wake it for
 * nothing. On the bench machine that was 1-2 us of the daemon's CPU per
 * request, a cost real Postfix does not cause.
 */
static int
wait_readable(struct worker *w, double deadline)
{
	struct pollfd pfd = { .fd = w->fd, .events = POLLIN };

	for (;;) {
		double left = (deadline - now_mono()) * 1000;
		int n = poll(&pfd, 1, left > 0 ? (int)left + 1 : 0);

		if (n > 0)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			set_error(w, E_IO, "poll: %s", strerror(errno));
		else
			set_error(w, E_TIMEOUT, "no reply within %d ms", opt.timeout_ms);
		return -1;
	}
}

/*
 * Reads one reply: exactly "action=...\n\n". Anything after the empty
 * line is a protocol error (nothing was asked), as is a reply without
 * "action=", with more than one line, or longer than REPLY_MAX. The
 * whole reply must arrive within the timeout (checked per recv and
 * overall).
 */
static int
read_reply(struct worker *w, char *buf, size_t size, size_t *len_out)
{
	size_t len = 0;
	double deadline = now_mono() + opt.timeout_ms / 1000.0;

	for (;;) {
		ssize_t n;
		char *end;

		if (len + 1 >= size) {
			set_error(w, E_PROTOCOL, "reply longer than %zu bytes", size - 1);
			return -1;
		}
		if (wait_readable(w, deadline) < 0)
			return -1;
		n = recv(w->fd, buf + len, size - 1 - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				set_error(w, E_TIMEOUT, "no reply within %d ms", opt.timeout_ms);
			else if (errno == ECONNRESET)
				set_error(w, E_CLOSED, "recv: %s", strerror(errno));
			else
				set_error(w, E_IO, "recv: %s", strerror(errno));
			return -1;
		}
		if (n == 0) {
			set_error(w, E_CLOSED, len ? "server closed mid-reply"
					      : "server closed the connection");
			return -1;
		}
		len += (size_t)n;
		buf[len] = '\0';
		if ((end = memmem(buf, len, "\n\n", 2)) != NULL) {
			size_t reply_len = (size_t)(end - buf) + 2;
			char *nl = memchr(buf, '\n', len);

			if (reply_len != len) {
				set_error(w, E_PROTOCOL, "%zu unexpected bytes after the reply",
					  len - reply_len);
				return -1;
			}
			if (strncmp(buf, "action=", 7) != 0 || nl != end) {
				char shown[61];
				size_t k;

				for (k = 0; k < len && k + 1 < sizeof(shown); k++)
					shown[k] = (buf[k] < 0x20 || buf[k] == 0x7f) ? '?' : buf[k];
				shown[k] = '\0';
				set_error(w, E_PROTOCOL, "reply is not one action= line: \"%s\"", shown);
				return -1;
			}
			*len_out = reply_len;
			return 0;
		}
		if (now_mono() > deadline) {
			set_error(w, E_TIMEOUT, "reply incomplete after %d ms", opt.timeout_ms);
			return -1;
		}
	}
}

static void
pause_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	char req[REQUEST_BUF], reply[REPLY_MAX + 1];

	while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
		double t0, t1;
		uint64_t us, i;
		size_t reply_len;
		int len;
		bool measured;

		if (now_mono() >= t_end)
			break;
		if (w->fd < 0) {
			char err[300];

			pause_ms(20);	/* Postfix does not hammer a dead server either */
			if (atomic_load(&stop_flag) || now_mono() >= t_end)
				break;
			if ((w->fd = open_conn(err, sizeof(err))) < 0) {
				set_error(w, E_CONNECT, "%s", err);
				pause_ms(80);
				continue;
			}
		}
		t0 = now_mono();
		measured = t0 >= t_measure;
		if (measured && opt.requests) {
			/* claim one request of the budget, or stop */
			uint_fast64_t left = atomic_load(&budget);

			do {
				if (left == 0) {
					atomic_store(&stop_flag, true);
					break;
				}
			} while (!atomic_compare_exchange_weak(&budget, &left, left - 1));
			if (left == 0)
				break;
		}
		i = rng_next(w) % opt.pool;
		if ((len = build_request(w, i, req, sizeof(req))) < 0) {
			set_error(w, E_IO, "request too long");	/* cannot happen */
			break;
		}
		t0 = now_mono();
		if (send_all(w, req, (size_t)len) < 0
		    || read_reply(w, reply, sizeof(reply), &reply_len) < 0) {
			close(w->fd);
			w->fd = -1;
			continue;
		}
		t1 = now_mono();
		if (!measured) {
			w->warm_requests++;
			continue;
		}
		us = (uint64_t)((t1 - t0) * 1e6 + 0.5);
		w->requests++;
		w->hist[hist_index(us)]++;
		w->sum_us += us;
		if (us > w->max_us)
			w->max_us = us;
		w->last_done = t1;
		count_action(w, reply, reply_len);
	}
	return NULL;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: policy-load (-s SOCKET | -a HOST:PORT) [-c CONNS] [-d SECONDS] [-n REQUESTS]\n"
		"                   [-w SECONDS] [-p POOL] [-S SEED] [-t TIMEOUT_MS] [-v]\n"
		"  -s PATH       unix socket of the policy server (also unix:PATH)\n"
		"  -a HOST:PORT  TCP address, numeric ([::1]:10023 for IPv6; also inet:HOST:PORT)\n"
		"  -c N          connections, one thread each (default 8, max %d)\n"
		"  -d SECONDS    measured duration (default 10; with -n: upper bound, default 600)\n"
		"  -n N          measure N requests instead of a duration\n"
		"  -w SECONDS    warm-up before measuring, requests not counted (default 1)\n"
		"  -p N          distinct (client, sender, recipient) triplets (default 1000000,\n"
		"                max %lu)\n"
		"  -S SEED       seed; connection k draws from a generator seeded by (SEED, k)\n"
		"                (default 1)\n"
		"  -t MS         timeout of each send, reply and connect (default 5000)\n"
		"  -v            print every error as it happens\n"
		"The last line is key=value: rps p50_us p90_us p99_us max_us mean_us requests\n"
		"errors defer dunno prepend other warm client_cpu_s (requests: measured; warm:\n"
		"warm-up requests; defer counts DEFER_IF_PERMIT and DEFER). Exit 0 on a clean\n"
		"run, 1 when there were errors or no measured request, 2 on a usage error.\n",
		CONN_MAX, POOL_MAX);
}

static bool
parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (*s == '-' || *s == '\0')
		return false;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool
parse_seconds(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min && v <= max))
		return false;
	*out = v;
	return true;
}

static bool
parse_target(const char *arg, bool is_unix)
{
	if (is_unix) {
		if (strncmp(arg, "unix:", 5) == 0)
			arg += 5;
		if (*arg == '\0' || strlen(arg) >= sizeof(opt.unix_path))
			return false;
		strcpy(opt.unix_path, arg);
		snprintf(opt.target, sizeof(opt.target), "unix:%s", arg);
	} else {
		const char *colon;
		size_t hl;

		if (strncmp(arg, "inet:", 5) == 0)
			arg += 5;
		if (*arg == '[') {
			const char *rb = strchr(arg, ']');

			if (rb == NULL || rb[1] != ':')
				return false;
			hl = (size_t)(rb - arg - 1);
			arg++;
			colon = rb + 1;
		} else {
			if ((colon = strrchr(arg, ':')) == NULL)
				return false;
			hl = (size_t)(colon - arg);
		}
		if (hl == 0 || hl >= sizeof(opt.host) || strlen(colon + 1) == 0
		    || strlen(colon + 1) >= sizeof(opt.port))
			return false;
		memcpy(opt.host, arg, hl);
		opt.host[hl] = '\0';
		strcpy(opt.port, colon + 1);
		snprintf(opt.target, sizeof(opt.target), "inet:%s:%s", opt.host, opt.port);
	}
	opt.is_unix = is_unix;
	return true;
}

static uint64_t
percentile(const uint64_t *hist, uint64_t total, double p, uint64_t max_us)
{
	uint64_t rank = (uint64_t)(p * (double)total + 0.999999), seen = 0;
	size_t i;

	if (rank == 0)
		rank = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += hist[i];
		if (seen >= rank) {
			uint64_t v = hist_value(i);

			return v > max_us ? max_us : v;
		}
	}
	return max_us;
}

static void
add_action(struct action_count *all, uint64_t *other, const struct action_count *a)
{
	size_t i;

	for (i = 0; i < ACTION_KINDS; i++) {
		if (all[i].word[0] == '\0') {
			all[i] = *a;
			return;
		}
		if (strcmp(all[i].word, a->word) == 0) {
			all[i].n += a->n;
			return;
		}
	}
	*other += a->n;
}

int
main(int argc, char **argv)
{
	struct worker *workers;
	uint64_t *hist, total = 0, warm = 0, errors[E_KINDS] = { 0 }, err_total = 0;
	uint64_t max_us = 0, sum_us = 0, other = 0, defer = 0, dunno = 0, prepend = 0;
	uint64_t rest = 0, v;
	struct action_count actions[ACTION_KINDS];
	bool have_target = false, duration_given = false;
	double last_done = 0, window, rps, client_cpu = 0;
	const char *first_error = NULL;
	int ch, i, started = 0;
	char err[300];

	opt.conns = 8;
	opt.duration = 10;
	opt.warmup = 1;
	opt.pool = 1000000;
	opt.seed = 1;
	opt.timeout_ms = 5000;
	while ((ch = getopt(argc, argv, "s:a:c:d:n:w:p:S:t:vh")) != -1) {
		switch (ch) {
		case 's':
		case 'a':
			if (have_target || !parse_target(optarg, ch == 's')) {
				fprintf(stderr, "policy-load: %s\n", have_target
					? "give one of -s and -a" : "bad -s/-a target");
				return 2;
			}
			have_target = true;
			break;
		case 'c':
			if (!parse_u64(optarg, 1, CONN_MAX, &v))
				goto bad;
			opt.conns = (int)v;
			break;
		case 'd':
			if (!parse_seconds(optarg, 0.001, DURATION_MAX, &opt.duration))
				goto bad;
			duration_given = true;
			break;
		case 'n':
			if (!parse_u64(optarg, 1, UINT64_C(1) << 40, &opt.requests))
				goto bad;
			break;
		case 'w':
			if (!parse_seconds(optarg, 0, 3600, &opt.warmup))
				goto bad;
			break;
		case 'p':
			if (!parse_u64(optarg, 1, POOL_MAX, &opt.pool))
				goto bad;
			break;
		case 'S':
			if (!parse_u64(optarg, 0, UINT64_MAX, &opt.seed))
				goto bad;
			break;
		case 't':
			if (!parse_u64(optarg, 1, 600000, &v))
				goto bad;
			opt.timeout_ms = (int)v;
			break;
		case 'v':
			opt.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !have_target) {
		usage(stderr);
		return 2;
	}
	if (opt.requests && !duration_given)
		opt.duration = 600;
	signal(SIGPIPE, SIG_IGN);
	init_first_octets();

	if ((workers = calloc((size_t)opt.conns, sizeof(*workers))) == NULL
	    || (hist = calloc(HIST_BUCKETS, sizeof(*hist))) == NULL) {
		fprintf(stderr, "policy-load: out of memory\n");
		return 1;
	}
	/* Connect everything first: a server that is not there fails fast. */
	for (i = 0; i < opt.conns; i++) {
		struct worker *w = &workers[i];
		uint64_t s = opt.seed ^ mix64((uint64_t)i + 1);

		w->index = i;
		w->rng = mix64(s);
		if ((w->hist = calloc(HIST_BUCKETS, sizeof(*w->hist))) == NULL) {
			fprintf(stderr, "policy-load: out of memory\n");
			return 1;
		}
		if ((w->fd = open_conn(err, sizeof(err))) < 0) {
			fprintf(stderr, "policy-load: cannot connect: %s\n", err);
			printf("RESULT: INVALID: cannot connect\n"
			       "rps=0 p50_us=0 p90_us=0 p99_us=0 max_us=0 mean_us=0 requests=0 "
			       "errors=1 defer=0 dunno=0 prepend=0 other=0 warm=0 client_cpu_s=0\n");
			for (; i >= 0; i--) {
				if (workers[i].fd >= 0)
					close(workers[i].fd);
				free(workers[i].hist);
			}
			free(hist);
			free(workers);
			return 1;
		}
	}
	atomic_store(&budget, opt.requests);
	t_start = now_mono();
	t_measure = t_start + opt.warmup;
	t_end = t_measure + opt.duration;
	for (i = 0; i < opt.conns; i++) {
		if ((errno = pthread_create(&workers[i].thread, NULL, worker_main, &workers[i])) != 0) {
			fprintf(stderr, "policy-load: thread: %s\n", strerror(errno));
			atomic_store(&stop_flag, true);
			break;
		}
		started++;
	}
	/* Workers stop by themselves at t_end (or when the budget is spent);
	 * a worker blocked on a silent server returns within the timeout. */
	for (i = 0; i < started; i++)
		pthread_join(workers[i].thread, NULL);

	memset(actions, 0, sizeof(actions));
	for (i = 0; i < opt.conns; i++) {
		struct worker *w = &workers[i];
		size_t b;
		int k;

		total += w->requests;
		warm += w->warm_requests;
		sum_us += w->sum_us;
		if (w->max_us > max_us)
			max_us = w->max_us;
		if (w->last_done > last_done)
			last_done = w->last_done;
		for (k = 0; k < E_KINDS; k++) {
			errors[k] += w->errors[k];
			err_total += w->errors[k];
		}
		if (first_error == NULL && w->first_error[0])
			first_error = w->first_error;
		for (b = 0; b < HIST_BUCKETS; b++)
			hist[b] += w->hist[b];
		for (b = 0; b < ACTION_KINDS && w->actions[b].word[0]; b++)
			add_action(actions, &other, &w->actions[b]);
		other += w->other_actions;
		if (w->fd >= 0)
			close(w->fd);
		free(w->hist);
	}
	if (started < opt.conns)
		err_total++;
	/* The window runs from the end of the warm-up to the last measured
	 * reply or the planned end, whichever is later (replies that started
	 * before the end are counted, so the window must include them). */
	window = (last_done > t_end ? last_done : t_end) - t_measure;
	if (opt.requests && last_done > 0)
		window = last_done - t_measure;
	if (window <= 0)
		window = 1e-9;
	rps = (double)total / window;

	for (i = 0; i < ACTION_KINDS && actions[i].word[0]; i++) {
		const char *a = actions[i].word;

		if (strcmp(a, "DEFER_IF_PERMIT") == 0 || strcmp(a, "DEFER_IF_REJECT") == 0
		    || strcmp(a, "DEFER") == 0 || strcmp(a, "450") == 0)
			defer += actions[i].n;
		else if (strcmp(a, "DUNNO") == 0)
			dunno += actions[i].n;
		else if (strcmp(a, "PREPEND") == 0)
			prepend += actions[i].n;
		else
			rest += actions[i].n;
	}
	rest += other;

	printf("policy-load: %s, %d connection(s), pool %" PRIu64 " triplets, seed %" PRIu64
	       ", warm-up %.3g s (%" PRIu64 " requests)\n",
	       opt.target, opt.conns, opt.pool, opt.seed, opt.warmup, warm);
	printf("requests: %" PRIu64 " in %.3f s = %.1f/s\n", total, window, rps);
	if (total) {
		printf("latency (us): p50 %" PRIu64 "  p90 %" PRIu64 "  p99 %" PRIu64
		       "  max %" PRIu64 "  mean %.1f\n",
		       percentile(hist, total, 0.50, max_us), percentile(hist, total, 0.90, max_us),
		       percentile(hist, total, 0.99, max_us), max_us,
		       (double)sum_us / (double)total);
		printf("actions:");
		for (i = 0; i < ACTION_KINDS && actions[i].word[0]; i++)
			printf(" %s=%" PRIu64, actions[i].word, actions[i].n);
		if (other)
			printf(" (more kinds)=%" PRIu64, other);
		printf("\n");
	}
	printf("errors: %" PRIu64, err_total);
	for (i = 0; i < E_KINDS; i++)
		if (errors[i])
			printf(" %s=%" PRIu64, err_names[i], errors[i]);
	printf("\n");
	if (first_error)
		printf("first error: %s\n", first_error);
	{
		struct rusage ru;

		if (getrusage(RUSAGE_SELF, &ru) == 0)
			client_cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
				     + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
		printf("client CPU: %.2f s (user+system, warm-up included)\n", client_cpu);
	}
	if (err_total)
		printf("RESULT: INVALID: %" PRIu64 " error(s)\n", err_total);
	else if (total == 0)
		printf("RESULT: INVALID: no request was answered in the measured window\n");
	printf("rps=%.1f p50_us=%" PRIu64 " p90_us=%" PRIu64 " p99_us=%" PRIu64 " max_us=%" PRIu64
	       " mean_us=%.1f requests=%" PRIu64 " errors=%" PRIu64 " defer=%" PRIu64
	       " dunno=%" PRIu64 " prepend=%" PRIu64 " other=%" PRIu64 " warm=%" PRIu64
	       " client_cpu_s=%.2f\n",
	       rps, total ? percentile(hist, total, 0.50, max_us) : 0,
	       total ? percentile(hist, total, 0.90, max_us) : 0,
	       total ? percentile(hist, total, 0.99, max_us) : 0, max_us,
	       total ? (double)sum_us / (double)total : 0.0, total, err_total,
	       defer, dunno, prepend, rest, warm, client_cpu);
	free(hist);
	free(workers);
	return (err_total || total == 0) ? 1 : 0;

bad:
	fprintf(stderr, "policy-load: bad value for -%c: %s\n", ch, optarg);
	usage(stderr);
	return 2;
}
