/*
 * check.h - the interface every policy check implements.
 *
 * A check is one file (check_greylist.c, check_ratelimit.c, ...) that
 * exports one struct policy_check; checks.c lists them all in one array,
 * in the order they run (the shape of OpenSMTPD's table backends). The
 * server opens every check after each config load and asks them in order
 * for each request; the first check that returns CHECK_FINAL decides, and
 * when none does, the answer is DUNNO (Postfix goes on with its own
 * restrictions), or the collected PREPEND (see below).
 *
 * Contract for a check:
 *   open()    builds the check's state from a loaded, valid config; may
 *             refuse with a message (the config is then not swapped in).
 *             A check that is switched off returns NULL state and no error:
 *             it is then skipped.
 *   decide()  must answer quickly; it fills reply->action (the text after
 *             "action=") and reply->verdict_key/verdict (logged as
 *             "greylist=defer") when it returns CHECK_FINAL, and may set
 *             the verdict and add details to reply->details either way.
 *             A check that needs Redis does not call it: it fills
 *             reply->call and returns CHECK_REDIS; the worker sends the
 *             calls of every request ready at that moment in one pipeline
 *             (one round trip for many requests) and then calls
 *   resume()  with the reply (NULL when Redis failed), which answers as
 *             decide() would.
 *             A check that needs SPF does not call libspf2 either (it
 *             blocks on DNS): it fills reply->spf and returns CHECK_SPF;
 *             the worker has the SPF pool (spf_pool.h) evaluate it off the
 *             event loop, within policyd.spf_timeout, and then calls
 *   resume_spf()  with the answer (SPF_TEMPERROR when the time ran out).
 *             A check that must block (an SMTP probe, an LDAP lookup)
 *             puts its own job (job_pool.h) in reply->job, its budget in
 *             reply->job_timeout_ms, and returns CHECK_JOB; the worker has
 *             the job pool run it off the event loop and then calls
 *   resume_job()  with the finished job (NULL when the budget ran out or
 *             the pool refused it); the worker frees the job afterwards.
 *             A check may ask for more than one script in the same round
 *             trip (rate limits: one per rule, each rule's key in its
 *             own hash slot): it fills reply->more_calls[0..more_count-1]
 *             too, and resume() then gets one REDIS_REPLY_ARRAY whose
 *             elements answer call, then each of more_calls in order
 *             (or NULL when Redis failed).
 *             reply->step is the check's own: it says, across these
 *             calls, which step of the check is waiting.
 *             A check whose Redis answer matters only when it refuses
 *             (a rate limit: it passes nearly always) sets
 *             reply->call_may_wait with CHECK_REDIS (one call, no
 *             more_calls, answered by one resume()). The chain then holds
 *             the call back and asks the next checks' decide() first:
 *             when the next one that does not just go on waits for Redis
 *             too, both calls go in ONE script call (script_bundle.h: the
 *             held one first, and the bundle stops there when it
 *             refuses); else the held call goes alone, as without the
 *             flag. Either way the held check's resume() runs first and
 *             its refusal wins, and the log fields come in the order
 *             they would without holding: what the checks have to say
 *             is the same, one script call cheaper. The checks asked
 *             meanwhile must have no effect but on the reply (decide()
 *             is pure: all checks' are) and a PREPEND they add is kept.
 *             A check that needs DNS fills reply->dns (names, budget) and
 *             returns CHECK_DNS; the worker asks all the names at once in
 *             its event loop (dns_async.h) and calls
 *   resume_dns()  when all are answered or the budget is over (answers
 *             not in by then are DNS_TIMEOUT), with reply->dns.answers.
 *   close()   frees the state.
 *
 * PREPEND is not final: Postfix treats it as "add this header and go on
 * with the restrictions", so a check that wants a header calls
 * check_prepend() and returns CHECK_CONTINUE; the next checks still run.
 * Postfix takes one action per answer, so one header per answer: the
 * first check's header is kept (a later one is logged, dropped). A later
 * check's final action wins over the header when it refuses or defers
 * the mail (the header would be of no use); when the chain ends without
 * a final action the answer is the PREPEND, which Postfix takes as DUNNO
 * plus the header.
 */
#ifndef SLUICE_POLICY_CHECK_H
#define SLUICE_POLICY_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "lists.h"
#include "log.h"
#include "redis.h"
#include "request.h"
#include "triplet.h"
#include "spf.h"
#include "dns_async.h"
#include "dnsbl_zone.h"

struct job;

enum check_result { CHECK_CONTINUE, CHECK_FINAL, CHECK_REDIS, CHECK_SPF, CHECK_JOB, CHECK_DNS };

#define CHECK_MORE_CALLS 7	/* script calls of one step beyond the first */

/* With CHECK_SPF: what to evaluate. The strings point into the request,
 * which stays put until it is answered. */
struct spf_question {
	const char *client_ip, *helo, *sender;
	bool breadth;		/* on a pass, also ask whether it is too broad */
};

/* With CHECK_DNS: the names to ask (type A), answered in answers[]; the
 * text buffer is the waiting check's own (it survives the wait). */
#define DNS_QUESTIONS_MAX DNSBL_ZONES_MAX
struct dns_question {
	int count;
	long budget_ms;
	char names[DNS_QUESTIONS_MAX][DNSBL_QUERY_NAME_MAX + 1];
	struct dns_answer answers[DNS_QUESTIONS_MAX];
	/* the waiting check's own, kept across the wait */
	struct dns_answer known[DNS_QUESTIONS_MAX];
	unsigned char index_of[DNS_QUESTIONS_MAX];
	char text[DNS_QUESTIONS_MAX * (DNSBL_ZONE_NAME_MAX + 80)];
};

/* A call held back by the chain (call_may_wait above), and what the
 * checks asked meanwhile left in the reply: the chain's own. */
#define HELD_BUF 6144	/* the held call's strings: 8 rate-limit keys */
enum held_state { HELD_NONE, HELD_WAITING, HELD_JOINED, HELD_ALONE };
struct held_call {
	enum held_state state;
	size_t index;			/* the check that waits */
	int step;			/* its step */
	struct redis_eval_call call;	/* its call; strings in buf */
	char buf[HELD_BUF];
	const char *verdict_key;	/* the verdict it left */
	char verdict[48];
	size_t details_len;		/* the log fields up to it */
	bool details_truncated;		/* and whether they were cut */
	/* the first check after it that did not just go on (or the chain's
	 * end: next_result CHECK_CONTINUE), and what the checks after it
	 * had said when the held call was sent */
	size_t next_index;
	enum check_result next_result;
	int next_step, next_more_count;
	struct redis_eval_call next_call;
	const char *next_verdict_key;
	char next_verdict[48];
	char next_details[LOGLINE_MAX];
	size_t next_details_len;
	bool next_details_truncated;
};

struct policy_reply {
	char action[512];	/* "DUNNO", "DEFER_IF_PERMIT Greylisted, ..." */
	const char *verdict_key;	/* log key of the decision: "greylist" */
	char verdict[48];	/* its value: "defer" */
	struct logline details;	/* " retry_in=120" and the like */
	/* With CHECK_REDIS: the script call the check waits for; its strings
	 * live in call_buf, room for greylisting's two keys at their
	 * largest (the awl key is the shorter) and its numbers. */
	struct redis_eval_call call;
	char call_buf[2 * TRIPLET_KEY_MAX];
	/* More calls of the same step, for a check that asks several keys
	 * of different hash slots at once; their strings are the check's to
	 * keep (in more_buf). */
	int more_count;
	struct redis_eval_call more_calls[CHECK_MORE_CALLS];
	char more_buf[CHECK_MORE_CALLS * 1024];	/* 1024 per call */
	struct spf_question spf;	/* with CHECK_SPF */
	struct job *job;		/* with CHECK_JOB (job_pool.h) */
	long job_timeout_ms;		/* its time budget */
	struct dns_question dns;	/* with CHECK_DNS */
	int step;			/* the waiting check's own step */
	bool call_may_wait;		/* with CHECK_REDIS: see above */
	struct held_call held;		/* the chain's own (checks.c) */
	char prepend[400];		/* header of a PREPEND, "" when none */
	/* Set by check_permit_forbid (sluice:permit:*, access.h): later
	 * checks skip their spam checks (greylisting, reverse DNS, DNSBL,
	 * inbound rate limits) for this request. False by default. */
	bool permitted;
	uint64_t started_ns;	/* the request's arrival, for its latency */
};

/* Collects a header for the answer (see PREPEND above); false when the
 * answer has one already (this one is dropped). */
bool check_prepend(struct policy_reply *reply, const char *header);

/* What every check may use while deciding; owned by the server. */
struct policy_context {
	const struct sluice_config *cfg;
	struct redis_client *redis;
	const struct lists *lists;	/* the Redis lists, at most 1 s old */
	time_t now;		/* our clock, with the test offset */
	long clock_offset;	/* policyd.test_clock's offset (else 0) */
	_Atomic long *redis_warned_at;	/* log_due() slot for a check's Redis trouble */
};

struct policy_check {
	const char *name;
	int (*open)(const struct sluice_config *cfg, void **state, char *err, size_t errsize);
	enum check_result (*decide)(void *state, const struct policy_context *ctx,
				    const struct policy_request *req,
				    struct policy_reply *reply);
	enum check_result (*resume)(void *state, const struct policy_context *ctx,
				    const struct policy_request *req,
				    const redisReply *redis, struct policy_reply *reply);
	enum check_result (*resume_spf)(void *state, const struct policy_context *ctx,
					const struct policy_request *req,
					const struct spf_answer *answer, struct policy_reply *reply);
	void (*close)(void *state);
	enum check_result (*resume_job)(void *state, const struct policy_context *ctx,
					const struct policy_request *req,
					const struct job *job, struct policy_reply *reply);
	/* last, so that positional initializers of older checks still hold */
	enum check_result (*resume_dns)(void *state, const struct policy_context *ctx,
					const struct policy_request *req,
					struct policy_reply *reply);
};

/* The registry, NULL-terminated, in checks.c. */
extern const struct policy_check *const policy_checks[];

/* All checks opened for one config. */
struct check_chain;

struct check_chain *check_chain_open(const struct sluice_config *cfg, char *err,
				     size_t errsize);
/* The same with another registry (NULL-terminated): for unit tests of the
 * chain itself. */
struct check_chain *check_chain_open_with(const struct policy_check *const *checks,
					  const struct sluice_config *cfg, char *err,
					  size_t errsize);
/*
 * Runs the checks in order, from *cursor (0 for a new request). Returns
 * CHECK_FINAL when reply->action holds the answer (DUNNO when no check
 * decided), CHECK_REDIS when check number *cursor waits for reply->call
 * (then check_chain_resume() hands it the Redis reply and runs on), or
 * CHECK_SPF when it waits for reply->spf (then check_chain_resume_spf()),
 * CHECK_DNS when it waits for reply->dns (then check_chain_resume_dns()).
 */
enum check_result check_chain_decide(struct check_chain *chain, const struct policy_context *ctx,
				     const struct policy_request *req, struct policy_reply *reply,
				     size_t *cursor);
enum check_result check_chain_resume(struct check_chain *chain, const struct policy_context *ctx,
				     const struct policy_request *req, struct policy_reply *reply,
				     size_t *cursor, const redisReply *redis);
enum check_result check_chain_resume_spf(struct check_chain *chain,
					 const struct policy_context *ctx,
					 const struct policy_request *req,
					 struct policy_reply *reply, size_t *cursor,
					 const struct spf_answer *answer);
/* After CHECK_JOB: job is the finished job, NULL when it timed out. */
enum check_result check_chain_resume_job(struct check_chain *chain,
					 const struct policy_context *ctx,
					 const struct policy_request *req,
					 struct policy_reply *reply, size_t *cursor,
					 const struct job *job);
enum check_result check_chain_resume_dns(struct check_chain *chain,
					 const struct policy_context *ctx,
					 const struct policy_request *req,
					 struct policy_reply *reply, size_t *cursor);
void check_chain_close(struct check_chain *chain);

/* Counts a final answer in the metrics (metrics_sluice.h): the deciding
 * check (reply->verdict_key), the action's kind and the time since
 * check_chain_decide() started the request. */
void check_reply_count(const struct policy_reply *reply);

#endif
