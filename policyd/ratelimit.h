/*
 * ratelimit.h - the parts of rate limiting that are pure: which rules a
 * request counts in, their subjects and keys, and the script that keeps
 * the count (check_ratelimit.c runs them).
 *
 * The algorithm is GCRA (the generic cell rate algorithm, a token bucket
 * kept as one number): a rule of `limit` events per `window` lets one
 * event through every window/limit ("the interval") and a burst of up to
 * `limit` at once. Its whole state is the theoretical arrival time (TAT)
 * of the subject's next event, one number in one key, so the state per
 * subject and rule is O(1) however many events it counts, and the key's
 * TTL (at most the window) is exactly when it would be worth nothing:
 * an expired key and a TAT in the past mean the same, a full burst. An
 * event is allowed when TAT + interval - now <= window; then TAT moves
 * on by the interval. Refused events do not move it (a client hammering
 * us does not lengthen its own wait beyond the window).
 *
 * Interface:
 *   ratelimit_multi_lua the script, every rule a request feeds in one
 *                       call: KEYS the rules' keys; ARGV[1] the clock
 *                       offset in ms (policyd.test_clock), ARGV[2] "now"
 *                       in ms or "" (tests only: with "" the time is
 *                       Redis's TIME, so MX hosts whose clocks disagree
 *                       share one count),
 *                       ARGV[1 + 2i] and ARGV[2 + 2i] the window in ms and
 *                       the limit of KEYS[i]. Returns
 *                       { allowed, value } per key, flat, in key order:
 *                       { 1, events left } or { 0, ms until the next }.
 *                       The keys are of different hash slots: fine on one
 *                       Redis or a Sentinel-managed primary (what sluice
 *                       talks to), refused by Redis Cluster (README).
 *   ratelimit_multi_reply() reads the i-th (from 0) rule's answer of
 *                       that reply: 1 allowed, 0 over (with *value the ms
 *                       to wait), -1 not such a reply.
 *   ratelimit_stage()   the count a protocol_state feeds: RL_CONNECTIONS
 *                       at CONNECT, RL_RECIPIENTS at RCPT, RL_MESSAGES at
 *                       END-OF-MESSAGE; -1 at any other stage.
 *   ratelimit_applies() whether a rule counts at this stage, for a
 *                       request in this direction.
 *   ratelimit_subject() the rule's subject in the request: "ip:NET",
 *                       "from:ADDR", "dom:DOMAIN", "sasl:USER",
 *                       "rcpt:ADDR"; 1 when the request has none (no
 *                       SASL login, the null sender: the rule does not
 *                       count it), -1 when it does not fit.
 *   ratelimit_key()     "<prefix>rl:{<subject>}:<dir>:<count>:<limit>/<window>",
 *                       the subject percent-escaped ('%', '{', '}', and
 *                       bytes outside printable ASCII as %XX) so that the
 *                       hash tag is the whole subject and one key is one
 *                       subject; -1 when it does not fit.
 *
 * Contract: pure functions; nothing allocates. Buffers of RATELIMIT_KEY_MAX
 * always hold a key of a subject that ratelimit_subject() produced.
 */
#ifndef SLUICE_POLICY_RATELIMIT_H
#define SLUICE_POLICY_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "address.h"
#include "config.h"
#include "request.h"

#define RATELIMIT_SUBJECT_MAX (ADDRESS_MAX + 8)	/* "from:" + an address */
/* prefix "rl:{" subject-escaped "}:out:rcpt:" limit "/" window NUL */
#define RATELIMIT_KEY_MAX (64 + 4 + 3 * RATELIMIT_SUBJECT_MAX + 12 + 24 + 1)

extern const char ratelimit_multi_lua[];

int ratelimit_stage(const char *protocol_state);
bool ratelimit_applies(const struct ratelimit_rule *rule, int stage, bool outbound);
int ratelimit_subject(const struct ratelimit_rule *rule, const struct policy_request *req,
		      char *out, size_t size);
int ratelimit_key(const char *prefix, const struct ratelimit_rule *rule,
		  const char *subject, char *out, size_t size);
int ratelimit_multi_reply(const redisReply *r, size_t i, long long *value);

#endif
