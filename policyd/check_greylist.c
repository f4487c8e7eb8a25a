/*
 * check_greylist.c - greylisting, with its state in Redis.
 *
 * A triplet seen for the first time is deferred (450 4.7.1 through
 * DEFER_IF_PERMIT); a retry after `delay` and within `retry_window`
 * passes, and the passed triplet is remembered for `auto_allowlist`,
 * renewed by each pass. A client network (or SPF-authorized sender
 * domain) whose triplets passed auto_allowlist_clients times passes at
 * once for auto_allowlist.
 *
 * Order of the decision, cheapest first: trusted or authenticated
 * clients, the allowlists of the config and of Redis (cached, see
 * lists.h), then SPF (DNS), then Redis: the script below, run with
 * EVALSHA (in one pipeline with the other requests its worker has ready,
 * see check.h), reads and updates the triplet and the client's pass
 * counter at once, so several MX hosts sharing one Redis agree and no
 * race between them can pass a triplet early. Both keys carry the
 * subject as hash tag (see triplet.h), and both have a TTL.
 *
 * Why SPF: big senders (Office 365, SES) retry from other IPs of the same
 * pool; keyed on the IP, every retry is a new triplet and the mail waits
 * for hours. With spf_bypass a sender whose SPF passes is not delayed at
 * all; with spf_domain_triplet its triplet is keyed on the sender domain,
 * so a retry from any authorized IP counts.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "config_read.h"
#include "patterns.h"
#include "spf.h"
#include "triplet.h"

/* KEYS: triplet, pass counter. ARGV: now, delay, retry_window,
 * auto_allowlist, auto_allowlist_clients. Returns { verdict, seconds }. */
static const char greylist_lua[] =
	"local now, delay, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
	"local keep, clients = tonumber(ARGV[4]), tonumber(ARGV[5])\n"
	"if clients > 0 and tonumber(redis.call('GET', KEYS[2]) or '0') >= clients then\n"
	"  redis.call('EXPIRE', KEYS[2], keep)\n"
	"  return { 'awl', 0 }\n"
	"end\n"
	"local seen = redis.call('GET', KEYS[1])\n"
	"if seen and string.sub(seen, 1, 1) == 'p' then\n"
	"  redis.call('EXPIRE', KEYS[1], keep)\n"
	"  return { 'known', 0 }\n"
	"end\n"
	"if not seen and delay > 0 then\n"
	"  redis.call('SET', KEYS[1], now, 'EX', window)\n"
	"  return { 'new', delay }\n"
	"end\n"
	"local waited = seen and (now - tonumber(seen)) or 0\n"
	"if waited < delay then\n"
	"  return { 'early', delay - waited }\n"
	"end\n"
	"redis.call('SET', KEYS[1], 'p' .. (seen or now), 'EX', keep)\n"
	"if clients > 0 then\n"
	"  redis.call('INCR', KEYS[2])\n"
	"  redis.call('EXPIRE', KEYS[2], keep)\n"
	"end\n"
	"return { 'pass', waited }\n";

#define RECENT_INSTANCES 64

struct greylist {
	const struct greylist_conf *conf;
	struct pattern_list allow_client_domains;
	struct pattern_list allow_senders;
	struct pattern_list allow_recipients;
	struct spf_checker *spf;
	struct redis_script script;
	/* Messages that already got an X-Greylist header: Postfix asks once
	 * per recipient, the header must be added once per message. */
	char recent[RECENT_INSTANCES][64];
	unsigned recent_next;
};

static int
compile_list(const struct strlist *items, struct pattern_list *out, char *err, size_t errsize)
{
	const char *why;
	size_t i;

	for (i = 0; i < items->count; i++) {
		if (pattern_list_add(out, items->items[i], &why) < 0) {
			snprintf(err, errsize, "'%s': %s", items->items[i], why);
			return -1;
		}
	}
	pattern_list_seal(out);
	return 0;
}

static void
greylist_close(void *state)
{
	struct greylist *gl = state;

	pattern_list_free(&gl->allow_client_domains);
	pattern_list_free(&gl->allow_senders);
	pattern_list_free(&gl->allow_recipients);
	spf_checker_free(gl->spf);
	free(gl);
}

static int
greylist_open(const struct sluice_config *cfg, void **state, char *err, size_t errsize)
{
	const struct greylist_conf *conf = &cfg->policyd.greylist;
	struct greylist *gl;

	*state = NULL;
	if (!conf->enabled)
		return 0;
	if ((gl = calloc(1, sizeof(*gl))) == NULL) {
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	gl->conf = conf;
	gl->script.source = greylist_lua;
	if (compile_list(&conf->allow_client_domains, &gl->allow_client_domains, err, errsize) < 0
	    || compile_list(&conf->allow_senders, &gl->allow_senders, err, errsize) < 0
	    || compile_list(&conf->allow_recipients, &gl->allow_recipients, err, errsize) < 0) {
		greylist_close(gl);
		return -1;
	}
	if ((conf->spf_bypass || conf->spf_domain_triplet) && (gl->spf = spf_checker_new()) == NULL) {
		snprintf(err, errsize, "cannot start libspf2");
		greylist_close(gl);
		return -1;
	}
	*state = gl;
	return 0;
}

/* Why this request is exempt, or NULL. Lists before SPF: no DNS. */
static const char *
exemption(const struct greylist *gl, const struct policy_context *ctx,
	  const struct policy_request *req, const struct net_addr *client)
{
	const struct lists *l = ctx->lists;
	const char *sender = req->sender ? req->sender : "";
	const char *at = strrchr(sender, '@');
	bool verified = req->client_name && strcmp(req->client_name, "unknown") != 0;

	if (req->sasl_username && *req->sasl_username)
		return "sasl";
	if (net_list_contains(&ctx->cfg->trusted_networks, client))
		return "trusted_networks";
	if (net_list_contains(&gl->conf->allow_networks, client))
		return "allow_networks";
	if (pattern_match_ip(lists_get(l, LIST_GREYLIST_IP), client))
		return "allow_ip";
	if (pattern_match_ip(lists_get(l, LIST_PERMIT_IP), client))
		return "permit_ip";
	if (verified && (pattern_match_domain(&gl->allow_client_domains, req->client_name, true)
			 || pattern_match_domain(lists_get(l, LIST_GREYLIST_CLIENT_DOMAIN),
						 req->client_name, true)))
		return "allow_client_domain";
	if (*sender && (pattern_match_address(&gl->allow_senders, sender)
			|| pattern_match_address(lists_get(l, LIST_GREYLIST_SENDER), sender)))
		return "allow_sender";
	if (*sender && pattern_match_address(lists_get(l, LIST_PERMIT_MAILBOX), sender))
		return "permit_mailbox";
	if (at && pattern_match_domain(lists_get(l, LIST_PERMIT_DOMAIN), at + 1, false))
		return "permit_domain";
	if (pattern_match_address(&gl->allow_recipients, req->recipient)
	    || pattern_match_address(lists_get(l, LIST_GREYLIST_RECIPIENT), req->recipient))
		return "allow_recipient";
	return NULL;
}

static bool
header_already_added(struct greylist *gl, const char *instance)
{
	unsigned i;

	if (instance == NULL || *instance == '\0')
		return false;
	for (i = 0; i < RECENT_INSTANCES; i++)
		if (strcmp(gl->recent[i], instance) == 0)
			return true;
	snprintf(gl->recent[gl->recent_next], sizeof(gl->recent[0]), "%s", instance);
	gl->recent_next = (gl->recent_next + 1) % RECENT_INSTANCES;
	return false;
}

static enum check_result
verdict(struct policy_reply *reply, const char *value, enum check_result result)
{
	reply->verdict_key = "greylist";
	snprintf(reply->verdict, sizeof(reply->verdict), "%s", value);
	return result;
}

static enum check_result
redis_trouble(const struct policy_context *ctx, struct policy_reply *reply, const char *why)
{
	if (log_due(ctx->redis_warned_at, (long)time(NULL), 60))
		log_warning("greylisting without Redis (%s): %s", ctx->cfg->policyd.fail_open
			    ? "fail_open: mail passes" : "fail_open off: mail deferred", why);
	logline_add(&reply->details, "reason", "redis");
	if (ctx->cfg->policyd.fail_open)
		return verdict(reply, "error", CHECK_CONTINUE);
	snprintf(reply->action, sizeof(reply->action),
		 "451 4.3.0 Temporary lookup failure, try again later");
	return verdict(reply, "error", CHECK_FINAL);
}

static enum check_result
passed(struct greylist *gl, const struct policy_context *ctx, const struct policy_request *req,
       struct policy_reply *reply, long waited)
{
	char date[64];
	struct tm tm;
	time_t now = ctx->now;

	logline_addf(&reply->details, "delayed", "%ld", waited);
	if (!gl->conf->add_header || header_already_added(gl, req->instance))
		return verdict(reply, "pass", CHECK_CONTINUE);
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	snprintf(reply->action, sizeof(reply->action),
		 "PREPEND X-Greylist: delayed %ld seconds by sluice-policyd at %s; %s",
		 waited, ctx->cfg->hostname, date);
	return verdict(reply, "pass", CHECK_FINAL);
}

/*
 * An address as a triplet part when our parser refuses what Postfix
 * accepted: the raw text, lowercased and cut to ADDRESS_MAX. Such mail is
 * greylisted like any other; skipping it would give a spammer a way
 * around greylisting by crafting odd addresses.
 */
static void
raw_address(const char *text, char *out, size_t size)
{
	size_t i;

	for (i = 0; text && text[i] && i + 1 < size && i < ADDRESS_MAX; i++)
		out[i] = (char)tolower((unsigned char)text[i]);
	out[i] = '\0';
}

/* Appends a string to the call's storage; NULL when it does not fit. */
static const char *
call_string(struct policy_reply *reply, size_t *used, const char *text)
{
	size_t n = strlen(text) + 1;
	char *p;

	if (*used + n > sizeof(reply->call_buf))
		return NULL;
	p = reply->call_buf + *used;
	memcpy(p, text, n);
	*used += n;
	return p;
}

/* Fills reply->call with the script call for this triplet. */
static enum check_result
prepare_script(struct greylist *gl, const struct policy_context *ctx,
	       const struct policy_request *req, const char *subject, const char *sender,
	       struct policy_reply *reply)
{
	const struct greylist_conf *c = gl->conf;
	char key[TRIPLET_KEY_MAX], awl[TRIPLET_KEY_MAX], rcpt[ADDRESS_MAX + 1], num[5][24];
	struct redis_eval_call *call = &reply->call;
	struct address ra;
	size_t used = 0;
	int i;

	if (address_parse(req->recipient, &ra, NULL) == 0)
		address_lower(&ra, rcpt, sizeof(rcpt));
	else
		raw_address(req->recipient, rcpt, sizeof(rcpt));
	if (triplet_key(ctx->cfg->redis_prefix, subject, sender, rcpt, key, sizeof(key)) < 0
	    || triplet_awl_key(ctx->cfg->redis_prefix, subject, awl, sizeof(awl)) < 0)
		return verdict(reply, "skip", CHECK_CONTINUE);
	snprintf(num[0], sizeof(num[0]), "%ld", (long)ctx->now);
	snprintf(num[1], sizeof(num[1]), "%ld", c->delay);
	snprintf(num[2], sizeof(num[2]), "%ld", c->retry_window);
	snprintf(num[3], sizeof(num[3]), "%ld", c->auto_allowlist);
	snprintf(num[4], sizeof(num[4]), "%d", c->auto_allowlist_clients);
	call->script = &gl->script;
	call->nkeys = 2;
	call->nargs = 5;
	call->argv[0] = call_string(reply, &used, key);
	call->argv[1] = call_string(reply, &used, awl);
	for (i = 0; i < 5; i++)
		call->argv[2 + i] = call_string(reply, &used, num[i]);
	for (i = 0; i < 7; i++)
		if (call->argv[i] == NULL)
			return verdict(reply, "skip", CHECK_CONTINUE);
	return CHECK_REDIS;
}

/* The script's answer { verdict, seconds }, or a Redis failure (NULL). */
static enum check_result
greylist_resume(void *state, const struct policy_context *ctx,
		const struct policy_request *req, const redisReply *r,
		struct policy_reply *reply)
{
	struct greylist *gl = state;
	const char *what;
	long seconds;

	if (r == NULL)
		return redis_trouble(ctx, reply, redis_client_error(ctx->redis));
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
	    || r->element[0]->type != REDIS_REPLY_STRING
	    || r->element[1]->type != REDIS_REPLY_INTEGER)
		return redis_trouble(ctx, reply, r->type == REDIS_REPLY_ERROR ? r->str
				     : "unexpected script reply");
	what = r->element[0]->str;
	seconds = (long)r->element[1]->integer;
	if (strcmp(what, "new") == 0 || strcmp(what, "early") == 0) {
		snprintf(reply->action, sizeof(reply->action),
			 "DEFER_IF_PERMIT Greylisted, retry in %ld seconds", seconds);
		logline_addf(&reply->details, "retry_in", "%ld", seconds);
		return verdict(reply, what, CHECK_FINAL);
	}
	if (strcmp(what, "pass") == 0)
		return passed(gl, ctx, req, reply, seconds);
	return verdict(reply, strcmp(what, "awl") == 0 ? "awl" : "pass", CHECK_CONTINUE);
}

static enum check_result
greylist_decide(void *state, const struct policy_context *ctx,
		const struct policy_request *req, struct policy_reply *reply)
{
	struct greylist *gl = state;
	const struct greylist_conf *c = gl->conf;
	char sender[ADDRESS_MAX + 1], subject[ADDRESS_DOMAIN_MAX + 8];
	const char *why, *at;
	struct net_addr client;

	if (req->protocol_state == NULL || strcmp(req->protocol_state, "RCPT") != 0
	    || req->recipient == NULL)
		return CHECK_CONTINUE;
	if (req->client_address == NULL || net_addr_parse(req->client_address, &client) < 0)
		return verdict(reply, "skip", CHECK_CONTINUE);
	if ((why = exemption(gl, ctx, req, &client)) != NULL) {
		logline_add(&reply->details, "reason", why);
		return verdict(reply, "allowlisted", CHECK_CONTINUE);
	}
	if (triplet_normalize_sender(req->sender ? req->sender : "", sender, sizeof(sender)) < 0)
		raw_address(req->sender, sender, sizeof(sender));
	if (triplet_subject_ip(req->client_address, c->ipv4_prefix, c->ipv6_prefix,
			       subject, sizeof(subject)) < 0)
		return verdict(reply, "skip", CHECK_CONTINUE);
	if (gl->spf && spf_check(gl->spf, req->client_address, req->helo_name,
				 req->sender) == SPF_PASS) {
		if (c->spf_bypass)
			return verdict(reply, "bypass-spf", CHECK_CONTINUE);
		at = strrchr(sender, '@');
		snprintf(subject, sizeof(subject), "spf:%s",
			 at ? at + 1 : req->helo_name ? req->helo_name : "");
	}
	return prepare_script(gl, ctx, req, subject, sender, reply);
}

const struct policy_check check_greylist = {
	.name = "greylist",
	.open = greylist_open,
	.decide = greylist_decide,
	.resume = greylist_resume,
	.close = greylist_close,
};
