/*
 * redis_script.c - Lua scripts over a redis_client (see redis.h):
 * redis_eval() runs one by EVALSHA, redis_eval_batch() several in one
 * pipeline.
 *
 * A script is sent by its SHA1 only, never by its text: the text goes
 * once per connection's server (SCRIPT LOAD, the sha1 cached in the
 * struct redis_script). Redis forgets its scripts on a restart, a
 * failover to a replica that never saw them, or SCRIPT FLUSH; it then
 * answers NOSCRIPT, and the call loads the text and runs once more. Not
 * twice: a second NOSCRIPT is an answer for the caller, not a loop.
 * Built on the client's public calls (redis_command_argv, redis_pipeline),
 * so the link's back-off, timeouts and failover apply here unchanged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis.h"

/*
 * SCRIPT LOAD: 0 with script->sha1 set, or -1 with *out the reply for the
 * caller (an error reply such as a compile error) or NULL (see error).
 */
static int
script_load(struct redis_client *client, struct redis_script *script,
	    redisReply **out)
{
	const char *argv[] = { "SCRIPT", "LOAD", script->source };
	redisReply *reply;

	*out = NULL;
	if ((reply = redis_command_argv(client, 3, argv, NULL)) == NULL)
		return -1;
	if (reply->type == REDIS_REPLY_STRING
	    && reply->len == sizeof(script->sha1) - 1) {
		memcpy(script->sha1, reply->str, sizeof(script->sha1));
		freeReplyObject(reply);
		return 0;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		*out = reply;
		return -1;
	}
	redis_client_set_error(client, "SCRIPT LOAD: unexpected reply type %d", reply->type);
	freeReplyObject(reply);
	return -1;
}

redisReply *
redis_eval(struct redis_client *client, struct redis_script *script,
	   int nkeys, const char **keys, int nargs, const char **args)
{
	redisReply *reply = NULL;
	const char **argv;
	char nkeys_text[16];
	int i, argc;

	if (nkeys < 0 || nargs < 0 || nkeys > 100000 || nargs > 100000) {
		redis_client_set_error(client, "EVALSHA: bad key or argument count");
		return NULL;
	}
	argc = 3 + nkeys + nargs;
	if ((argv = calloc((size_t)argc, sizeof(*argv))) == NULL) {
		redis_client_set_error(client, "out of memory");
		return NULL;
	}
	snprintf(nkeys_text, sizeof(nkeys_text), "%d", nkeys);
	argv[0] = "EVALSHA";
	argv[1] = script->sha1;
	argv[2] = nkeys_text;
	for (i = 0; i < nkeys; i++)
		argv[3 + i] = keys[i];
	for (i = 0; i < nargs; i++)
		argv[3 + nkeys + i] = args[i];
	if (script->sha1[0] == '\0' && script_load(client, script, &reply) < 0)
		goto out;
	reply = redis_command_argv(client, argc, argv, NULL);
	if (reply && redis_reply_is_error(reply, "NOSCRIPT")) {
		freeReplyObject(reply);
		if (script_load(client, script, &reply) == 0)
			reply = redis_command_argv(client, argc, argv, NULL);
	}
out:
	free(argv);
	return reply;
}

int
redis_eval_batch(struct redis_client *client, struct redis_eval_call *const *calls,
		 int count, redisReply **replies)
{
	const char *argv[REDIS_BATCH_MAX][REDIS_EVAL_MAX_ARGS + 3];
	const char **argvs[REDIS_BATCH_MAX] = { NULL };
	char nkeys[REDIS_BATCH_MAX][12];
	int argcs[REDIS_BATCH_MAX] = { 0 };
	int i, j;

	if (count > REDIS_BATCH_MAX) {
		redis_client_set_error(client, "batch of %d calls is over %d", count, REDIS_BATCH_MAX);
		for (j = 0; j < count; j++)
			replies[j] = NULL;
		return -1;
	}
	for (i = 0; i < count; i++) {
		struct redis_eval_call *c = calls[i];

		if (c->script->sha1[0] == '\0') {
			redisReply *err = NULL;

			if (script_load(client, c->script, &err) < 0) {
				if (err)
					freeReplyObject(err);
				for (j = 0; j < count; j++)
					replies[j] = NULL;
				return -1;
			}
		}
		snprintf(nkeys[i], sizeof(nkeys[i]), "%d", c->nkeys);
		argv[i][0] = "EVALSHA";
		argv[i][1] = c->script->sha1;
		argv[i][2] = nkeys[i];
		for (j = 0; j < c->nkeys + c->nargs && j < REDIS_EVAL_MAX_ARGS; j++)
			argv[i][3 + j] = c->argv[j];
		argvs[i] = argv[i];
		argcs[i] = 3 + j;
	}
	if (redis_pipeline(client, count, argcs, argvs, replies) < 0)
		return -1;
	for (i = 0; i < count; i++) {
		struct redis_eval_call *c = calls[i];

		if (!redis_reply_is_error(replies[i], "NOSCRIPT"))
			continue;
		freeReplyObject(replies[i]);
		c->script->sha1[0] = '\0';
		replies[i] = redis_eval(client, c->script, c->nkeys, c->argv, c->nargs,
					c->argv + c->nkeys);
	}
	return 0;
}
