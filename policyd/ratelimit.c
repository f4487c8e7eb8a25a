/*
 * ratelimit.c - rate-limit rules: stages, subjects, keys, and the GCRA
 * script (see ratelimit.h for the algorithm and the contract).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ratelimit.h"
#include "triplet.h"

/*
 * Every rule of one request in one call (see ratelimit.h): one TIME for
 * all of them, then the GCRA step per key. Each rule is its own budget:
 * a key over its limit does not stop the others from counting. The
 * second value, true when a rule refused, stops a script bundle there
 * (script_bundle.h); alone, Redis ignores it.
 *
 * The TAT is kept in ms, not rounded: an interval of 60000/7 ms is no
 * whole number, and rounding it would let through one event too many or
 * too few per window. The comparison allows a microsecond for the
 * floating-point sum of `limit` intervals. The TTL is how far the TAT is
 * ahead of now: never more than the window.
 *
 * A GET then a SET, also for a subject without a key: SET ... NX
 * first (one command when there is no key) was measured and not kept
 * (2026-12-04, redis-benchmark, two rules): 17.3 -> 16.0 us when both
 * keys are new, 16.6 -> 19.1 us when both exist. A rule that counts
 * recipients finds the key of the message's first recipient at every
 * later one, so in real traffic the keys mostly exist.
 *
 * Written for Redis's Lua, where every library call costs: on the bench
 * machine string.match and string.format took 2 us each, each
 * redis.call about 2 us on top of its command. So the window and limit
 * come as two numbers (no match), the TAT goes to SET as a number
 * (Redis 7.0 writes it with "%.17g", which reads back as the same
 * double: no rounding), and there is no redis.replicate_commands()
 * (Redis 5 and later replicate a script's effects by default). The
 * first line is the script run alone (no offsets, no TIME given, every
 * key its own); as a bundle's segment the rest is a function of those
 * four names, called with its offsets in KEYS and ARGV, the bundle's
 * TIME and its key count (script_bundle.c). No `...`: Redis 6 runs a
 * script without varargs.
 */
const char ratelimit_multi_lua[] =
	"local k, a, clock, nk = 0, 0, nil, #KEYS\n"
	"local now = ARGV[a + 2]\n"
	"if now ~= '' then now = tonumber(now) else\n"
	"  local t = clock or redis.call('TIME')\n"
	"  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[a + 1])\n"
	"end\n"
	"local out, over = {}, false\n"
	"for i = 1, nk do\n"
	"  local window, limit = tonumber(ARGV[a + 1 + 2 * i]), tonumber(ARGV[a + 2 + 2 * i])\n"
	"  local interval = window / limit\n"
	"  local key = KEYS[k + i]\n"
	"  local tat = tonumber(redis.call('GET', key) or '') or now\n"
	"  if tat < now then tat = now end\n"
	"  local ahead = tat + interval - now\n"
	"  if ahead > window + 0.001 then\n"
	"    out[2 * i - 1] = 0\n"
	"    out[2 * i] = math.ceil(ahead - window)\n"
	"    over = true\n"
	"  else\n"
	"    redis.call('SET', key, tat + interval, 'PX', math.max(1, math.ceil(ahead)))\n"
	"    out[2 * i - 1] = 1\n"
	"    out[2 * i] = math.floor((window - ahead) / interval + 0.001)\n"
	"  end\n"
	"end\n"
	"return out, over\n";

int
ratelimit_stage(const char *state)
{
	if (state == NULL)
		return -1;
	if (strcasecmp(state, "CONNECT") == 0)
		return RL_CONNECTIONS;
	if (strcasecmp(state, "RCPT") == 0)
		return RL_RECIPIENTS;
	if (strcasecmp(state, "END-OF-MESSAGE") == 0)
		return RL_MESSAGES;
	return -1;
}

bool
ratelimit_applies(const struct ratelimit_rule *rule, int stage, bool outbound)
{
	if (stage < 0 || (int)rule->count != stage)
		return false;
	return rule->direction == RL_ANY || (rule->direction == RL_OUTBOUND) == outbound;
}

/* "kind:" and text lowercased into out; -1 when it does not fit. */
static int
put(char *out, size_t size, const char *kind, const char *text)
{
	size_t n = strlen(kind), i;

	if (n + strlen(text) + 1 > size)
		return -1;
	memcpy(out, kind, n);
	for (i = 0; text[i]; i++)
		out[n + i] = (char)tolower((unsigned char)text[i]);
	out[n + i] = '\0';
	return 0;
}

/* An address as the subject: parsed and lowercased, or (what Postfix took
 * and our parser does not) the raw text, so odd addresses count too. */
static int
put_address(char *out, size_t size, const char *kind, const char *text)
{
	char buf[ADDRESS_MAX + 1];
	struct address a;

	if (address_parse(text, &a, NULL) == 0) {
		address_lower(&a, buf, sizeof(buf));
		return put(out, size, kind, buf);
	}
	if (strlen(text) > ADDRESS_MAX)
		return -1;
	return put(out, size, kind, text);
}

int
ratelimit_subject(const struct ratelimit_rule *rule, const struct policy_request *req,
		  char *out, size_t size)
{
	const char *sender = req->sender ? req->sender : "";
	char norm[ADDRESS_MAX + 1], net[64];
	const char *at;

	switch (rule->subject) {
	case RL_CLIENT:
		if (triplet_subject_ip(req->client_address, rule->ipv4_prefix, rule->ipv6_prefix,
				       net, sizeof(net)) < 0)
			return -1;
		/* one address: "ip:192.0.2.7", not ".../32" */
		if ((at = strchr(net, '/')) != NULL
		    && (strcmp(at, "/32") == 0 || strcmp(at, "/128") == 0))
			*(char *)(uintptr_t)at = '\0';
		return put(out, size, "ip:", net);
	case RL_SENDER:
		if (*sender == '\0')
			return 1;	/* the null sender: bounces are no one's */
		/* BATV, SRS and +ext: one sender, one count (else a new
		 * tag per message would be a new subject). */
		if (triplet_sender_identity(sender, norm, sizeof(norm)) == 0)
			return put(out, size, "from:", norm);
		return put_address(out, size, "from:", sender);
	case RL_SENDER_DOMAIN:
		if ((at = strrchr(sender, '@')) == NULL || at[1] == '\0')
			return 1;
		return strlen(at + 1) > ADDRESS_DOMAIN_MAX ? -1 : put(out, size, "dom:", at + 1);
	case RL_SASL_USER:
		if (req->sasl_username == NULL || *req->sasl_username == '\0')
			return 1;
		return strlen(req->sasl_username) > ADDRESS_MAX ? -1
		       : put(out, size, "sasl:", req->sasl_username);
	case RL_RECIPIENT:
		if (req->recipient == NULL || *req->recipient == '\0')
			return 1;
		return put_address(out, size, "rcpt:", req->recipient);
	}
	return -1;
}

int
ratelimit_key(const char *prefix, const struct ratelimit_rule *rule, const char *subject,
	      char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	static const char *const dirs[] = { [RL_INBOUND] = "in", [RL_OUTBOUND] = "out",
					    [RL_ANY] = "any" };
	static const char *const counts[] = { [RL_CONNECTIONS] = "conn",
					      [RL_MESSAGES] = "msg", [RL_RECIPIENTS] = "rcpt" };
	const unsigned char *p;
	size_t o;
	int n;

	n = snprintf(out, size, "%srl:{", prefix);
	if (n < 0 || (size_t)n >= size)
		return -1;
	o = (size_t)n;
	for (p = (const unsigned char *)subject; *p; p++) {
		bool plain = *p > 0x20 && *p < 0x7f && *p != '%' && *p != '{' && *p != '}';

		if (o + (plain ? 1 : 3) >= size)
			return -1;
		if (plain) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	n = snprintf(out + o, size - o, "}:%s:%s:%d/%ld", dirs[rule->direction],
		     counts[rule->count], rule->limit, rule->window);
	return n < 0 || (size_t)n >= size - o ? -1 : 0;
}

int
ratelimit_multi_reply(const redisReply *r, size_t i, long long *value)
{
	const redisReply *allowed, *v;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 2 * i + 2)
		return -1;
	allowed = r->element[2 * i];
	v = r->element[2 * i + 1];
	if (allowed->type != REDIS_REPLY_INTEGER || v->type != REDIS_REPLY_INTEGER)
		return -1;
	*value = v->integer;
	return allowed->integer ? 1 : 0;
}
