/*
 * redis.h - a blocking Redis client for one thread, on hiredis.
 *
 * Interface:
 *   redis_client_new()   remembers the settings; does not connect.
 *   redis_command()      runs one command (printf-style as redisCommand),
 *   redis_command_argv() or one argv vector; connects on demand.
 *   redis_eval()         EVALSHA of a script, with SCRIPT LOAD and one retry
 *                        when Redis answers NOSCRIPT (after a restart or a
 *                        failover the script cache is empty); with
 *                        redis_eval_batch(), in redis_script.c.
 *   redis_client_error() why the last call returned NULL.
 *
 * Contract:
 *   - Every call is bounded by timeout_ms, for connect and for each reply.
 *   - On a connection failure the client backs off (100 ms doubling to 5 s)
 *     and fails at once until the back-off has run out, so a daemon whose
 *     Redis is down answers in microseconds, not in timeout_ms per request.
 *     Recovery needs no action: the next call after the back-off reconnects.
 *   - With sentinel hosts, the primary is asked of each sentinel in turn
 *     (SENTINEL get-master-addr-by-name) and accepted only when ROLE says
 *     "master"; a connection error or a READONLY reply (we talk to a demoted
 *     primary) drops the connection and discovery runs again.
 *   - After connecting: AUTH with the password (if any), SELECT db (if not 0).
 *   - Error replies (type REDIS_REPLY_ERROR) are returned to the caller as
 *     replies, not as NULL; the caller frees every reply with
 *     freeReplyObject().
 *   - One client belongs to one thread; nothing here is shared.
 */
#ifndef SLUICE_REDIS_H
#define SLUICE_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <hiredis/hiredis.h>

#define REDIS_MAX_SENTINELS 8

struct redis_settings {
	char host[256];		/* "" when socket is used */
	int port;
	char socket[108];	/* unix socket path, "" for TCP */
	int db;
	char password[256];	/* "" for none; read from password_file */
	int timeout_ms;
	char sentinel_master[128];	/* "" without Sentinel */
	int sentinel_count;
	struct {
		char host[256];
		int port;
	} sentinels[REDIS_MAX_SENTINELS];
};

struct redis_script {
	const char *source;
	char sha1[41];		/* filled on first use */
};

struct redis_client;

/* Keys and args of one call: at most 8 rate-limit keys and their 18 args
 * (policyd/check_ratelimit.c), greylisting's 2 keys and 5 args, and
 * both in one call of policyd's script bundle (7 more: 40). */
#define REDIS_EVAL_MAX_ARGS 48
#define REDIS_BATCH_MAX 256	/* calls in one redis_eval_batch() */

/* One script call for redis_eval_batch(): keys, then args, in argv. */
struct redis_eval_call {
	struct redis_script *script;
	int nkeys, nargs;
	const char *argv[REDIS_EVAL_MAX_ARGS];
};

struct redis_client *redis_client_new(const struct redis_settings *settings);
void redis_client_free(struct redis_client *client);

redisReply *redis_command(struct redis_client *client, const char *fmt, ...);
redisReply *redis_command_argv(struct redis_client *client, int argc,
			       const char **argv, const size_t *argvlen);
/* count commands in one round trip; replies[i] answers argvs[i] (each to
 * be freed by the caller). On a connection failure returns -1 and every
 * replies[i] is NULL. */
int redis_pipeline(struct redis_client *client, int count, const int *argcs,
		   const char **const *argvs, redisReply **replies);
redisReply *redis_eval(struct redis_client *client, struct redis_script *script,
		       int nkeys, const char **keys, int nargs, const char **args);

/* count script calls in one round trip (a pipeline of EVALSHA); replies[i]
 * answers calls[i]. A call whose script Redis does not know (NOSCRIPT:
 * after a restart or a failover) is loaded and run again on its own.
 * Returns 0, or -1 with every reply NULL when the connection failed. */
int redis_eval_batch(struct redis_client *client, struct redis_eval_call *const *calls,
		     int count, redisReply **replies);

const char *redis_client_error(const struct redis_client *client);
/* For the modules built on the client (redis_script.c): sets what
 * redis_client_error() says, prefixed with the server's name. */
void redis_client_set_error(struct redis_client *client, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* An error reply whose text begins with prefix ("NOSCRIPT", "READONLY"). */
bool redis_reply_is_error(const redisReply *reply, const char *prefix);
/* Connections made so far: a change says the link was remade (state on
 * the server side, such as CLIENT TRACKING, is gone). */
unsigned long redis_client_epoch(const struct redis_client *client);
/* For a subscribed connection: the next pushed message, waiting at most
 * wait_ms for it. 0 with *out (to be freed), 1 when none came, -1 when the
 * connection failed (it is dropped; a command reconnects it). */
int redis_read_push(struct redis_client *client, int wait_ms, redisReply **out);
/* Drop the connection now (used after a failover or in tests). */
void redis_client_disconnect(struct redis_client *client);

#endif
