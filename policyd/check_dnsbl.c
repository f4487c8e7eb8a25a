/*
 * check_dnsbl.c - DNSBL/DNSWL scoring of the client (policyd.dnsbl).
 *
 * Interface: the policy_check "dnsbl" (check.h), registered in checks.c
 * after the access checks and before rate limits and greylisting.
 *
 * Contract, in the order of a request:
 *   - Runs at CONNECT and RCPT (the first of them that Postfix asks about
 *     a client; with smtpd_delay_reject, client restrictions run at RCPT).
 *     Permitted clients (reply->permitted), trusted networks and
 *     authenticated clients are skipped: they are ours.
 *   - A small table per worker remembers the score of the last messages
 *     (instance + client), so 50 RCPTs of one message cost one lookup.
 *   - Otherwise one Redis round trip reads sluice:dnsbl:{ip}, a hash of
 *     zone -> "expiry answers" shared by every MX host; the script drops
 *     fields whose expiry (Redis TIME) is past.
 *   - The zones not in the cache are asked all at once (CHECK_DNS) within
 *     budget; a zone that does not answer in time counts 0 (it is not
 *     listed as far as we know: postscreen does the same) and is not
 *     cached, so that the next client asks again.
 *   - Answers are written back (a second round trip, only on a miss) for
 *     their DNS TTL (clamped 10 s .. 1 d), "not listed" for negative_ttl;
 *     the key's TTL is the longest field's.
 *   - The score is the sum of the weights of the listed entries
 *     (dnsbl_zone.h); at threshold or above: 554 5.7.1 Service
 *     unavailable; client [ip] blocked using ZONE (the listed entry with
 *     the largest weight). Redis down: DNS is asked anyway.
 * Why the cache is read first: a DNS answer costs milliseconds and the
 * list operator's quota; a Redis read is one round trip and every MX host
 * then pays for a client once per TTL instead of once each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check.h"
#include "network.h"

enum { STEP_READ = 1, STEP_WRITE_CONTINUE, STEP_WRITE_FINAL };

#define RECENT_MAX 256		/* remembered instance + client scores */
#define RECENT_SECONDS 300
#define TTL_MIN 10
#define TTL_MAX 86400

struct recent {
	char instance[64];
	char client[64];
	time_t expires;
	int score;
	int top;		/* entry that named the rejection, -1 none */
};

struct dnsbl {
	const struct dnsbl_conf *conf;
	/* distinct zone names; entry i asks zone[entry_zone[i]] */
	int zones;
	const char *zone[DNSBL_ZONES_MAX];
	int entry_zone[DNSBL_ZONES_MAX];
	struct redis_script read, write;
	struct recent recent[RECENT_MAX];
};

static const char read_lua[] =
	"local now = tonumber(redis.call('TIME')[1])\n"
	"local h = redis.call('HGETALL', KEYS[1])\n"
	"local out = {}\n"
	"for i = 1, #h, 2 do\n"
	"  local exp, ans = string.match(h[i + 1], '^(%d+) (.*)$')\n"
	"  if exp and tonumber(exp) > now then out[#out + 1] = h[i]; out[#out + 1] = ans end\n"
	"end\n"
	"return out\n";

static const char write_lua[] =
	"local now = tonumber(redis.call('TIME')[1])\n"
	"local keep = redis.call('TTL', KEYS[1])\n"
	"if keep < 0 then keep = 0 end\n"
	"for zone, ttl, ans in string.gmatch(ARGV[1], '(%S+) (%d+) (%S+)\\n') do\n"
	"  ttl = tonumber(ttl)\n"
	"  redis.call('HSET', KEYS[1], zone, (now + ttl) .. ' ' .. ans)\n"
	"  if ttl > keep then keep = ttl end\n"
	"end\n"
	"redis.call('EXPIRE', KEYS[1], keep)\n"
	"return 1\n";

static int
dnsbl_open(const struct sluice_config *cfg, void **state, char *err, size_t errsize)
{
	const struct dnsbl_conf *conf = &cfg->policyd.dnsbl;
	struct dnsbl *d;
	size_t i;

	*state = NULL;
	if (conf->zone_count == 0)
		return 0;
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	d->conf = conf;
	d->read.source = read_lua;
	d->write.source = write_lua;
	for (i = 0; i < conf->zone_count; i++) {
		int z;

		for (z = 0; z < d->zones; z++)
			if (strcmp(d->zone[z], conf->zones[i].name) == 0)
				break;
		if (z == d->zones)
			d->zone[d->zones++] = conf->zones[i].name;
		d->entry_zone[i] = z;
	}
	*state = d;
	return 0;
}

static void
dnsbl_close(void *state)
{
	free(state);
}

static struct recent *
recent_slot(struct dnsbl *d, const struct policy_request *req)
{
	unsigned long h = 5381;
	const char *s;

	for (s = req->instance ? req->instance : ""; *s; s++)
		h = h * 33 + (unsigned char)*s;
	for (s = req->client_address; *s; s++)
		h = h * 33 + (unsigned char)*s;
	return &d->recent[h % RECENT_MAX];
}

/* The answer for a score: the rejection, or on with the chain. */
static enum check_result
verdict(struct dnsbl *d, const struct policy_request *req, struct policy_reply *reply,
	int score, int top)
{
	logline_addf(&reply->details, "dnsbl_score", "%d", score);
	if (score >= d->conf->threshold && top >= 0) {
		snprintf(reply->action, sizeof(reply->action),
			 "554 5.7.1 Service unavailable; client [%s] blocked using %s",
			 req->client_address, d->conf->zones[top].name);
		reply->verdict_key = "dnsbl";
		strcpy(reply->verdict, "reject");
		return CHECK_FINAL;
	}
	if (reply->verdict_key == NULL) {
		reply->verdict_key = "dnsbl";
		strcpy(reply->verdict, "pass");
	}
	return CHECK_CONTINUE;
}

static void
remember(struct dnsbl *d, const struct policy_context *ctx, const struct policy_request *req,
	 int score, int top)
{
	struct recent *r;

	if (req->instance == NULL || *req->instance == '\0')
		return;
	r = recent_slot(d, req);
	snprintf(r->instance, sizeof(r->instance), "%s", req->instance);
	snprintf(r->client, sizeof(r->client), "%s", req->client_address);
	r->expires = ctx->now + RECENT_SECONDS;
	r->score = score;
	r->top = top;
}

static bool
applies(const struct policy_context *ctx, const struct policy_request *req,
	const struct policy_reply *reply)
{
	struct net_addr client;
	const char *st = req->protocol_state;

	if (st == NULL || (strcasecmp(st, "CONNECT") != 0 && strcasecmp(st, "RCPT") != 0))
		return false;
	if (reply->permitted || (req->sasl_username && *req->sasl_username))
		return false;
	if (req->client_address == NULL || net_addr_parse(req->client_address, &client) < 0)
		return false;
	return !net_list_contains(&ctx->cfg->trusted_networks, &client);
}

static enum check_result
dnsbl_decide(void *state, const struct policy_context *ctx, const struct policy_request *req,
	     struct policy_reply *reply)
{
	struct dnsbl *d = state;
	struct recent *r;
	int n;

	if (!applies(ctx, req, reply))
		return CHECK_CONTINUE;
	r = recent_slot(d, req);
	if (req->instance && r->expires > ctx->now && strcmp(r->instance, req->instance) == 0
	    && strcmp(r->client, req->client_address) == 0) {
		logline_add(&reply->details, "dnsbl_cache", "message");
		return verdict(d, req, reply, r->score, r->top);
	}
	n = snprintf(reply->call_buf, sizeof(reply->call_buf), "%sdnsbl:{%s}",
		     ctx->cfg->redis_prefix, req->client_address);
	if (n < 0 || (size_t)n >= sizeof(reply->call_buf))
		return CHECK_CONTINUE;
	reply->call.script = &d->read;
	reply->call.nkeys = 1;
	reply->call.nargs = 0;
	reply->call.argv[0] = reply->call_buf;
	reply->step = STEP_READ;
	return CHECK_REDIS;
}

/* "127.0.0.2,127.0.0.4" or "-" (not listed) into an answer. */
static void
parse_cached(const char *text, struct dns_answer *a)
{
	memset(a, 0, sizeof(*a));
	if (strcmp(text, "-") == 0) {
		a->status = DNS_NOTFOUND;
		return;
	}
	a->status = DNS_OK;
	while (*text && a->count < DNS_ADDRS_MAX) {
		unsigned o[4];
		int used = 0;

		if (sscanf(text, "%u.%u.%u.%u%n", &o[0], &o[1], &o[2], &o[3], &used) != 4
		    || o[0] > 255 || o[1] > 255 || o[2] > 255 || o[3] > 255) {
			a->status = a->count ? DNS_OK : DNS_TIMEOUT;	/* garbage: ask again */
			return;
		}
		a->addrs[a->count++] = o[0] << 24 | o[1] << 16 | o[2] << 8 | o[3];
		text += used;
		if (*text == ',')
			text++;
	}
}

/* The score of the known answers, the entry to name, the details. */
static int
score_of(struct dnsbl *d, struct policy_reply *reply, int *top)
{
	char listed[256] = "", timedout[256] = "";
	int score = 0, best = 0;
	size_t i;

	*top = -1;
	for (i = 0; i < d->conf->zone_count; i++) {
		const struct dnsbl_zone *e = &d->conf->zones[i];
		const struct dns_answer *a = &reply->dns.known[d->entry_zone[i]];

		if (a->status == DNS_TIMEOUT || a->status == DNS_ERROR) {
			if (!strstr(timedout, e->name))
				snprintf(timedout + strlen(timedout), sizeof(timedout) - strlen(timedout),
					 "%s%s", timedout[0] ? "," : "", e->name);
			continue;
		}
		if (a->status != DNS_OK || !dnsbl_zone_listed(e, a->addrs, a->count))
			continue;
		score += e->weight;
		snprintf(listed + strlen(listed), sizeof(listed) - strlen(listed), "%s%s",
			 listed[0] ? "," : "", e->name);
		if (e->weight > best) {
			best = e->weight;
			*top = (int)i;
		}
	}
	if (listed[0])
		logline_add(&reply->details, "dnsbl_listed", listed);
	if (timedout[0])
		logline_add(&reply->details, "dnsbl_unanswered", timedout);
	return score;
}

static enum check_result
decide_known(struct dnsbl *d, const struct policy_context *ctx,
	     const struct policy_request *req, struct policy_reply *reply)
{
	int top, score = score_of(d, reply, &top);

	remember(d, ctx, req, score, top);
	return verdict(d, req, reply, score, top);
}

static enum check_result
after_read(struct dnsbl *d, const struct policy_context *ctx, const struct policy_request *req,
	   const redisReply *redis, struct policy_reply *reply)
{
	struct dns_question *q = &reply->dns;
	int z, k = 0;
	size_t i;

	for (z = 0; z < d->zones; z++)
		q->known[z].status = DNS_TIMEOUT;
	if (redis == NULL || redis->type != REDIS_REPLY_ARRAY) {
		if (log_due(ctx->redis_warned_at, (long)time(NULL), 60))
			log_warning("dnsbl: no Redis cache (%s): asking DNS for every client",
				    redis && redis->type == REDIS_REPLY_ERROR ? redis->str : "unreachable");
	} else {
		for (i = 0; i + 1 < redis->elements; i += 2) {
			const redisReply *zn = redis->element[i], *ans = redis->element[i + 1];

			if (zn->type != REDIS_REPLY_STRING || ans->type != REDIS_REPLY_STRING)
				continue;
			for (z = 0; z < d->zones; z++)
				if (strcmp(d->zone[z], zn->str) == 0)
					parse_cached(ans->str, &q->known[z]);
		}
	}
	for (z = 0; z < d->zones; z++) {
		if (q->known[z].status != DNS_TIMEOUT)
			continue;
		if (dnsbl_query_name(req->client_address, d->zone[z], q->names[k],
				     sizeof(q->names[k])) < 0)
			continue;
		q->index_of[k++] = (unsigned char)z;
	}
	if (k == 0) {
		logline_add(&reply->details, "dnsbl_cache", "redis");
		return decide_known(d, ctx, req, reply);
	}
	q->count = k;
	q->budget_ms = d->conf->budget_ms;
	return CHECK_DNS;
}

static enum check_result
dnsbl_resume(void *state, const struct policy_context *ctx, const struct policy_request *req,
	     const redisReply *redis, struct policy_reply *reply)
{
	if (reply->step == STEP_READ)
		return after_read(state, ctx, req, redis, reply);
	/* the write-back: its answer does not change the decision */
	return reply->step == STEP_WRITE_FINAL ? CHECK_FINAL : CHECK_CONTINUE;
}

static enum check_result
dnsbl_resume_dns(void *state, const struct policy_context *ctx,
		 const struct policy_request *req, struct policy_reply *reply)
{
	struct dnsbl *d = state;
	struct dns_question *q = &reply->dns;
	size_t used = 0;
	enum check_result r;
	int i;

	q->text[0] = '\0';
	for (i = 0; i < q->count; i++) {
		const struct dns_answer *a = &q->answers[i];
		int z = q->index_of[i], j, n;
		long ttl;

		if (z >= d->zones)
			continue;	/* asked under the config before a reload */
		q->known[z] = *a;
		if (a->status != DNS_OK && a->status != DNS_NOTFOUND)
			continue;	/* unanswered: not cached */
		ttl = a->status == DNS_OK ? a->ttl : d->conf->negative_ttl;
		ttl = ttl < TTL_MIN ? TTL_MIN : ttl > TTL_MAX ? TTL_MAX : ttl;
		n = snprintf(q->text + used, sizeof(q->text) - used, "%s %ld ", d->zone[z], ttl);
		if (n < 0 || (size_t)n >= sizeof(q->text) - used)
			break;
		used += (size_t)n;
		for (j = 0; j < a->count || (j == 0 && a->count == 0); j++) {
			uint32_t x = a->count ? a->addrs[j] : 0;

			n = a->count == 0
			    ? snprintf(q->text + used, sizeof(q->text) - used, "-")
			    : snprintf(q->text + used, sizeof(q->text) - used, "%s%u.%u.%u.%u",
				       j ? "," : "", x >> 24, (x >> 16) & 0xff, (x >> 8) & 0xff, x & 0xff);
			if (n < 0 || (size_t)n >= sizeof(q->text) - used)
				break;
			used += (size_t)n;
		}
		if (used + 2 < sizeof(q->text)) {
			q->text[used++] = '\n';
			q->text[used] = '\0';
		}
	}
	logline_add(&reply->details, "dnsbl_cache", "miss");
	r = decide_known(d, ctx, req, reply);
	if (used == 0)
		return r;
	reply->call.script = &d->write;
	reply->call.nkeys = 1;
	reply->call.nargs = 1;
	reply->call.argv[0] = reply->call_buf;	/* the key, still there */
	reply->call.argv[1] = q->text;
	reply->step = r == CHECK_FINAL ? STEP_WRITE_FINAL : STEP_WRITE_CONTINUE;
	return CHECK_REDIS;
}

const struct policy_check check_dnsbl = {
	.name = "dnsbl",
	.open = dnsbl_open,
	.decide = dnsbl_decide,
	.resume = dnsbl_resume,
	.resume_dns = dnsbl_resume_dns,
	.close = dnsbl_close,
};
