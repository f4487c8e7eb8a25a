/*
 * redis.c - a blocking Redis client for one thread, on hiredis 0.14.
 *
 * Interface (see redis.h): redis_client_new() copies the settings and does
 * not connect; redis_command(), redis_command_argv() and redis_eval() connect
 * on demand and return a reply (error replies included) or NULL with the
 * reason in redis_client_error(); redis_client_disconnect() drops the link.
 *
 * Contract and the reasons behind it:
 *   - Connect and every reply are bounded by timeout_ms (hiredis connects
 *     with poll() and reads with SO_RCVTIMEO/SO_SNDTIMEO). Host names are
 *     resolved by getaddrinfo(), which no timeout bounds: use addresses.
 *   - A connection failure or an I/O error (timeouts included) frees the
 *     context, because hiredis leaves a context unusable after an error, and
 *     starts a back-off of 100 ms doubling to 5 s. During the back-off calls
 *     fail at once without touching the network: a daemon whose Redis is
 *     down must answer its own clients in microseconds, and must not hammer
 *     a Redis that is restarting. The back-off ends after the first reply
 *     read over a fresh connection, not after a mere TCP connect, so a Redis
 *     that accepts and never answers keeps the back-off growing.
 *   - There is no silent retry of a command on a new connection: the caller
 *     cannot know whether the server ran it, and it must fail (open or
 *     closed) within its own time budget anyway.
 *   - With Sentinel, each sentinel is asked in order; the address it gives
 *     is used only when ROLE there says "master" (a sentinel may be stale).
 *     A READONLY reply means we still talk to a demoted primary: the caller
 *     gets the reply, the connection is dropped, and the next call
 *     rediscovers (without back-off, since nothing failed).
 *   - Scripts (redis_eval, redis_eval_batch) are redis_script.c's, on the
 *     calls of this file.
 *   - hiredis 0.14 writes with write(2): the process must ignore SIGPIPE
 *     (both daemons do), or a write to a closed link kills it.
 *   - Everything lives in struct redis_client; one client per thread.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics_sluice.h"
#include "redis.h"
#include "resp.h"

#define BACKOFF_FIRST_MS	100
#define BACKOFF_MAX_MS		5000
#define DEFAULT_TIMEOUT_MS	100

struct redis_client {
	struct redis_settings set;
	redisContext *ctx;		/* NULL when not connected */
	char where[320];		/* "redis host:port" or "redis /path" */
	int backoff_ms;			/* 0 when the last attempt went well */
	int64_t retry_at;		/* monotonic ms; no attempt before this */
	char cause[1024];		/* the failure that started the back-off */
	char error[1200];		/* why the last call returned NULL */
	unsigned long epoch;		/* connections made so far */
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* snprintf() that tolerates (and hides) truncation: errors are for logs. */
static void format(char *, size_t, const char *, ...)
	__attribute__((format(printf, 3, 4)));

static void
format(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(buf, size, fmt, ap) < 0)
		buf[0] = '\0';
	va_end(ap);
}

/* The peer as error messages name it: "redis 10.0.0.1:6379". */
static void
describe(char *buf, size_t size, const char *kind, const char *host, int port,
	 const char *path)
{
	if (path && *path)
		format(buf, size, "%s %s", kind, path);
	else if (strchr(host, ':'))
		format(buf, size, "%s [%s]:%d", kind, host, port);
	else
		format(buf, size, "%s %s:%d", kind, host, port);
}

static struct timeval
timeout_tv(const struct redis_client *client)
{
	struct timeval tv;

	tv.tv_sec = client->set.timeout_ms / 1000;
	tv.tv_usec = (client->set.timeout_ms % 1000) * 1000;
	return tv;
}

/* hiredis reports a receive timeout as EAGAIN; say what it means. */
static const char *
ctx_error(const redisContext *ctx, int saved_errno)
{
	if (ctx == NULL)
		return "out of memory";
	if (ctx->err == REDIS_ERR_IO
	    && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK))
		return "timed out";
	return ctx->errstr[0] ? ctx->errstr : "unknown error";
}

static bool
is_error(const redisReply *reply, const char *prefix)
{
	return reply->type == REDIS_REPLY_ERROR && reply->str
	    && strncmp(reply->str, prefix, strlen(prefix)) == 0;
}

/*
 * Opens a bounded connection, TCP (with keep-alive, so a peer that vanished
 * without a FIN is noticed on an idle link) or unix socket.
 */
static redisContext *
open_link(const struct redis_client *client, const char *where,
	  const char *host, int port, const char *path, char *err, size_t errsize)
{
	struct timeval tv = timeout_tv(client);
	redisContext *ctx;

	if (path && *path)
		ctx = redisConnectUnixWithTimeout(path, tv);
	else
		ctx = redisConnectWithTimeout(host, port, tv);
	if (ctx && ctx->err == 0 && redisSetTimeout(ctx, tv) == REDIS_OK
	    && ((path && *path) || redisEnableKeepAlive(ctx) == REDIS_OK))
		return ctx;
	format(err, errsize, "%s: %s", where, ctx_error(ctx, 0));
	if (ctx)
		redisFree(ctx);
	return NULL;
}

/*
 * Runs one set-up command (AUTH, SELECT, ROLE, SENTINEL) on a context not
 * yet handed out: the reply, or NULL with err set on any error.
 */
static redisReply *
setup_command(redisContext *ctx, const char *where, char *err, size_t errsize,
	      int argc, const char **argv)
{
	redisReply *reply;

	errno = 0;
	reply = redisCommandArgv(ctx, argc, argv, NULL);
	if (reply == NULL) {
		format(err, errsize, "%s: %s: %s", where, argv[0],
		       ctx_error(ctx, errno));
		return NULL;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		format(err, errsize, "%s: %s failed: %s", where, argv[0],
		       reply->str);
		freeReplyObject(reply);
		return NULL;
	}
	return reply;
}

static int
setup_simple(redisContext *ctx, const char *where, char *err, size_t errsize,
	     int argc, const char **argv)
{
	redisReply *reply;

	reply = setup_command(ctx, where, err, errsize, argc, argv);
	if (reply == NULL)
		return -1;
	freeReplyObject(reply);
	return 0;
}

/* ROLE's first element must be "master"; a replica or sentinel is refused. */
static int
check_master(redisContext *ctx, const char *where, char *err, size_t errsize)
{
	const char *argv[] = { "ROLE" };
	redisReply *reply, *role;
	int rc = -1;

	reply = setup_command(ctx, where, err, errsize, 1, argv);
	if (reply == NULL)
		return -1;
	role = (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0)
	    ? reply->element[0] : NULL;
	if (role && role->type == REDIS_REPLY_STRING && strcmp(role->str, "master") == 0)
		rc = 0;
	else
		format(err, errsize, "%s: ROLE is %s, not master", where,
		       role && role->type == REDIS_REPLY_STRING ? role->str : "unknown");
	freeReplyObject(reply);
	return rc;
}

/*
 * Connects to one server and prepares the link: AUTH, ROLE (with Sentinel:
 * AUTH first since ROLE needs it), SELECT. Sets client->ctx and where.
 */
static int
connect_server(struct redis_client *client, const char *host, int port,
	       const char *path, char *err, size_t errsize)
{
	char where[sizeof(client->where)], dbtext[16];
	const char *auth[] = { "AUTH", client->set.password };
	const char *select[] = { "SELECT", dbtext };
	redisContext *ctx;

	describe(where, sizeof(where), "redis", host, port, path);
	if ((ctx = open_link(client, where, host, port, path, err, errsize)) == NULL)
		return -1;
	format(dbtext, sizeof(dbtext), "%d", client->set.db);
	if ((client->set.password[0]
	     && setup_simple(ctx, where, err, errsize, 2, auth) < 0)
	    || (client->set.sentinel_master[0]
		&& check_master(ctx, where, err, errsize) < 0)
	    || (client->set.db != 0
		&& setup_simple(ctx, where, err, errsize, 2, select) < 0)) {
		redisFree(ctx);
		return -1;
	}
	client->ctx = ctx;
	memcpy(client->where, where, sizeof(where));
	return 0;
}

/* Asks one sentinel where the primary is. */
static int
ask_sentinel(struct redis_client *client, int i, char *host, size_t hostsize,
	     int *port, char *err, size_t errsize)
{
	const char *argv[] = { "SENTINEL", "get-master-addr-by-name",
			       client->set.sentinel_master };
	const char *shost = client->set.sentinels[i].host;
	int sport = client->set.sentinels[i].port;
	redisReply *reply;
	redisContext *ctx;
	char where[320];
	int rc = -1;

	describe(where, sizeof(where), "sentinel", shost, sport, NULL);
	if ((ctx = open_link(client, where, shost, sport, NULL, err, errsize)) == NULL)
		return -1;
	reply = setup_command(ctx, where, err, errsize, 3, argv);
	if (reply == NULL) {
		/* err is set */
	} else if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
		   || reply->element[0]->type != REDIS_REPLY_STRING
		   || reply->element[1]->type != REDIS_REPLY_STRING) {
		format(err, errsize, "%s: no primary known for '%s'",
		       where, client->set.sentinel_master);
	} else if (reply->element[0]->len >= hostsize
		   || (*port = atoi(reply->element[1]->str)) <= 0 || *port > 65535) {
		format(err, errsize, "%s: bad address for '%s'",
		       where, client->set.sentinel_master);
	} else {
		memcpy(host, reply->element[0]->str, reply->element[0]->len + 1);
		rc = 0;
	}
	if (reply)
		freeReplyObject(reply);
	redisFree(ctx);
	return rc;
}

/*
 * Sentinel discovery: each sentinel in order, at most REDIS_MAX_SENTINELS
 * rounds of two bounded connections. The reasons of every failed attempt
 * are joined into err, because "no primary" alone helps nobody.
 */
static int
discover(struct redis_client *client, char *err, size_t errsize)
{
	char host[256], why[512];
	size_t used;
	int i, port, count = client->set.sentinel_count;

	if (count > REDIS_MAX_SENTINELS)
		count = REDIS_MAX_SENTINELS;
	format(err, errsize, "redis: no primary '%s' found:",
	       client->set.sentinel_master);
	for (i = 0; i < count; i++) {
		if (ask_sentinel(client, i, host, sizeof(host), &port,
				 why, sizeof(why)) == 0
		    && connect_server(client, host, port, NULL,
				      why, sizeof(why)) == 0)
			return 0;
		used = strlen(err);
		format(err + used, errsize - used, "%s %s", i ? ";" : "", why);
	}
	if (count <= 0)
		format(err, errsize, "redis: no sentinel configured for '%s'",
		       client->set.sentinel_master);
	return -1;
}

static void
drop(struct redis_client *client)
{
	if (client->ctx) {
		redisFree(client->ctx);
		client->ctx = NULL;
	}
}

/* A failure: client->error says why; it also becomes the back-off cause. */
static void
fail(struct redis_client *client)
{
	drop(client);
	if (client->backoff_ms == 0)
		client->backoff_ms = BACKOFF_FIRST_MS;
	else if ((client->backoff_ms *= 2) > BACKOFF_MAX_MS)
		client->backoff_ms = BACKOFF_MAX_MS;
	client->retry_at = now_ms() + client->backoff_ms;
	memcpy(client->cause, client->error, sizeof(client->cause) - 1);
	client->cause[sizeof(client->cause) - 1] = '\0';
}

/* The connection, made now if needed, or NULL while backing off. */
static redisContext *
link_up(struct redis_client *client)
{
	int rc;

	if (client->ctx)
		return client->ctx;
	if (client->backoff_ms && now_ms() < client->retry_at) {
		format(client->error, sizeof(client->error),
		       "redis: backing off for %d ms after: %s",
		       client->backoff_ms, client->cause);
		return NULL;
	}
	if (client->set.sentinel_master[0])
		rc = discover(client, client->error, sizeof(client->error));
	else
		rc = connect_server(client, client->set.host, client->set.port,
				    client->set.socket, client->error,
				    sizeof(client->error));
	if (rc < 0) {
		fail(client);
		return NULL;
	}
	client->epoch++;
	return client->ctx;
}

/* Common end of every command: NULL fails, READONLY drops, a reply heals. */
static redisReply *
finish(struct redis_client *client, redisReply *reply, int saved_errno)
{
	if (reply == NULL) {
		format(client->error, sizeof(client->error), "%s: %s",
		       client->where, ctx_error(client->ctx, saved_errno));
		fail(client);
		return NULL;
	}
	client->backoff_ms = 0;
	if (is_error(reply, "READONLY"))
		drop(client);
	return reply;
}

struct redis_client *
redis_client_new(const struct redis_settings *settings)
{
	struct redis_client *client;

	if ((client = calloc(1, sizeof(*client))) == NULL)
		return NULL;
	client->set = *settings;
	if (client->set.timeout_ms <= 0)
		client->set.timeout_ms = DEFAULT_TIMEOUT_MS;
	return client;
}

void
redis_client_free(struct redis_client *client)
{
	if (client == NULL)
		return;
	drop(client);
	free(client);
}

void
redis_client_disconnect(struct redis_client *client)
{
	drop(client);
}

unsigned long
redis_client_epoch(const struct redis_client *client)
{
	return client->epoch;
}

/*
 * Pub/sub messages arrive unasked, so the wait for one is a poll() on the
 * socket (bounded by wait_ms), and only then a read, which timeout_ms
 * bounds as usual. Replies hiredis has buffered already come first.
 */
int
redis_read_push(struct redis_client *client, int wait_ms, redisReply **out)
{
	struct pollfd pfd;
	void *reply = NULL;
	int rc;

	*out = NULL;
	if (client->ctx == NULL) {
		format(client->error, sizeof(client->error), "%s: not connected", client->where);
		return -1;
	}
	if (redisGetReplyFromReader(client->ctx, &reply) != REDIS_OK) {
		format(client->error, sizeof(client->error), "%s: %s", client->where,
		       ctx_error(client->ctx, errno));
		fail(client);
		return -1;
	}
	if (reply == NULL) {
		pfd.fd = client->ctx->fd;
		pfd.events = POLLIN;
		if ((rc = poll(&pfd, 1, wait_ms)) == 0 || (rc < 0 && errno == EINTR))
			return 1;
		if (redisGetReply(client->ctx, &reply) != REDIS_OK)
			reply = NULL;
		if (finish(client, reply, errno) == NULL)
			return -1;
	}
	*out = reply;
	return 0;
}

const char *
redis_client_error(const struct redis_client *client)
{
	return client->error;
}

void
redis_client_set_error(struct redis_client *client, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = snprintf(client->error, sizeof(client->error), "%s: ", client->where[0] ? client->where : "redis");
	if (n < 0 || (size_t)n >= sizeof(client->error) ||
	    vsnprintf(client->error + n, sizeof(client->error) - (size_t)n, fmt, ap) < 0)
		client->error[0] = '\0';
	va_end(ap);
}

bool
redis_reply_is_error(const redisReply *reply, const char *prefix)
{
	return is_error(reply, prefix);
}

redisReply *
redis_command(struct redis_client *client, const char *fmt, ...)
{
	redisContext *ctx;
	redisReply *reply;
	va_list ap;

	uint64_t t0 = metric_now_ns();

	if ((ctx = link_up(client)) == NULL) {
		metric_redis(metric_now_ns() - t0, true);
		return NULL;
	}
	errno = 0;
	va_start(ap, fmt);
	reply = redisvCommand(ctx, fmt, ap);
	va_end(ap);
	reply = finish(client, reply, errno);
	metric_redis(metric_now_ns() - t0, reply == NULL);
	return reply;
}

redisReply *
redis_command_argv(struct redis_client *client, int argc,
		   const char **argv, const size_t *argvlen)
{
	redisContext *ctx;
	redisReply *reply;

	uint64_t t0 = metric_now_ns();

	if ((ctx = link_up(client)) == NULL) {
		metric_redis(metric_now_ns() - t0, true);
		return NULL;
	}
	errno = 0;
	reply = redisCommandArgv(ctx, argc, argv, argvlen);
	reply = finish(client, reply, errno);
	metric_redis(metric_now_ns() - t0, reply == NULL);
	return reply;
}

static int
append_command(redisContext *ctx, int argc, const char **argv)
{
	char buf[4096];
	size_t len = resp_format_command(buf, sizeof(buf), argc, argv);

	if (len == 0)		/* a long one: let hiredis format it */
		return redisAppendCommandArgv(ctx, argc, argv, NULL);
	return redisAppendFormattedCommand(ctx, buf, len);
}

int
redis_pipeline(struct redis_client *client, int count, const int *argcs,
	       const char **const *argvs, redisReply **replies)
{
	redisContext *ctx;
	uint64_t t0 = metric_now_ns();
	int i, j;

	for (i = 0; i < count; i++)
		replies[i] = NULL;
	if ((ctx = link_up(client)) == NULL) {
		metric_redis(metric_now_ns() - t0, true);
		return -1;
	}
	for (i = 0; i < count; i++)
		if (append_command(ctx, argcs[i], argvs[i]) != REDIS_OK)
			break;
	for (j = 0; i == count && j < count; j++) {
		void *reply = NULL;

		errno = 0;
		if (redisGetReply(ctx, &reply) != REDIS_OK || reply == NULL)
			break;
		replies[j] = reply;
	}
	if (i < count || j < count) {
		int saved = errno;

		for (j = 0; j < count; j++) {
			if (replies[j])
				freeReplyObject(replies[j]);
			replies[j] = NULL;
		}
		finish(client, NULL, saved);
		metric_redis(metric_now_ns() - t0, true);
		return -1;
	}
	for (j = 0; j < count; j++)
		finish(client, replies[j], 0);
	metric_redis(metric_now_ns() - t0, false);
	return 0;
}
