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
 * lists.h), then Redis, then SPF (DNS) only when its answer matters,
 * then Redis again. The scripts below run with EVALSHA (in one pipeline
 * with the other requests its worker has ready, see check.h); each reads
 * and updates the triplet and the client's pass counter at once, so
 * several MX hosts sharing one Redis agree and no race between them can
 * pass a triplet early. Both keys carry the subject as hash tag (see
 * triplet.h), and both have a TTL.
 *
 * Why SPF: big senders (Office 365, SES) retry from other IPs of the same
 * pool; keyed on the IP, every retry is a new triplet and the mail waits
 * for hours. With spf_bypass a sender whose SPF passes is not delayed at
 * all; with spf_domain_triplet its triplet is keyed on the sender domain,
 * so a retry from any authorized IP counts. Two limits keep that from
 * being a way around greylisting: the domain is the one SPF judged (the
 * envelope sender's own, never one decoded from SRS or BATV, which the
 * sender chooses freely), and a pass from a record that authorizes the
 * whole Internet or blocks wider than /16 (IPv4) or /32 (IPv6), which
 * any spammer can publish, counts as no pass (spf_too_broad()).
 *
 * Why Redis before SPF: SPF waits on the sender's DNS, which an attacker
 * controls. A client whose own triplet passed already is answered from
 * Redis alone; only a triplet Redis does not know yet waits for SPF
 * (off the event loop, see spf_pool.h), and the answer is kept for the
 * message's other recipients (Postfix's `instance`).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "config_read.h"
#include "greylist.h"
#include "patterns.h"
#include "spf.h"
#include "triplet.h"

/* Both scripts begin so: an auto-allowlisted subject, or a triplet that
 * passed before, passes (and is kept another auto_allowlist). */
#define LUA_PASSED_ALREADY \
	"local keep, clients = ARGV[a + 4], tonumber(ARGV[a + 5])\n" \
	"local triplet, awl = KEYS[k + 1], KEYS[k + 2]\n" \
	"if clients > 0 and tonumber(redis.call('GET', awl) or '0') >= clients then\n" \
	"  redis.call('EXPIRE', awl, keep)\n" \
	"  return { 'awl', 0 }\n" \
	"end\n" \
	"local seen = redis.call('GET', triplet)\n" \
	"if seen and string.sub(seen, 1, 1) == 'p' then\n" \
	"  redis.call('EXPIRE', triplet, keep)\n" \
	"  return { 'known', 0 }\n" \
	"end\n"

/* The first line is what the script has when it runs alone: no offsets
 * in KEYS and ARGV, no TIME given. As a segment of the script bundle
 * (script_bundle.h) the rest of the text is a function of those names
 * instead, called with its offsets and the bundle's TIME. (Not `...`:
 * Redis before 7 runs a script as a function without varargs. No
 * redis.replicate_commands(): Redis 5 and later replicate a script's
 * effects by default.) */
#define LUA_SEGMENT \
	"local k, a, clock = 0, 0, nil\n"

/*
 * KEYS: triplet, pass counter. ARGV: clock offset (policyd.test_clock,
 * else 0), delay, retry_window, auto_allowlist, auto_allowlist_clients.
 * Returns { verdict, seconds }. The time is Redis's own (TIME), not the
 * asking host's: MX hosts whose clocks disagree still agree on how long
 * a triplet has waited. Not static: the script bundle (script_bundle.c)
 * runs this very text after the rate limits' in one call.
 *
 * What goes to redis.call is the text it came as (TIME's seconds, the
 * ARGV), not a Lua number: Redis 7.0 writes a number argument with
 * snprintf("%.17g"), which cost 1.3 us each on the bench machine, a
 * tenth of the script (redis-benchmark, EVALSHA). With a test clock the
 * shifted time is written with tostring(), exact below 1e14.
 */
const char greylist_lua[] =
	LUA_SEGMENT
	"local stamp = (clock or redis.call('TIME'))[1]\n"
	"local now = tonumber(stamp) + tonumber(ARGV[a + 1])\n"
	"if ARGV[a + 1] ~= '0' then stamp = tostring(now) end\n"
	"local delay, window = tonumber(ARGV[a + 2]), ARGV[a + 3]\n"
	LUA_PASSED_ALREADY
	"if not seen and delay > 0 then\n"
	"  redis.call('SET', triplet, stamp, 'EX', window)\n"
	"  return { 'new', delay }\n"
	"end\n"
	"local waited = seen and (now - tonumber(seen)) or 0\n"
	"if waited < delay then\n"
	"  return { 'early', delay - waited }\n"
	"end\n"
	"redis.call('SET', triplet, 'p' .. (seen or stamp), 'EX', keep)\n"
	"if clients > 0 then\n"
	"  redis.call('INCR', awl)\n"
	"  redis.call('EXPIRE', awl, keep)\n"
	"end\n"
	"return { 'pass', waited }\n";

/*
 * The first question, asked before SPF: does the client's own triplet
 * (keyed on its network) pass already? Then SPF cannot change the
 * answer and no DNS is needed. KEYS and ARGV as above; { 'unknown', 0 }
 * changes nothing.
 */
const char greylist_peek_lua[] =
	LUA_SEGMENT
	LUA_PASSED_ALREADY
	"return { 'unknown', 0 }\n";

/* reply->step while greylisting waits */
enum { STEP_PEEK = 1, STEP_SPF, STEP_TRIPLET };

/* One message's SPF answer: Postfix asks once per recipient. */
struct spf_memo {
	char instance[64];
	char client[64];
	char sender[ADDRESS_MAX + 1];
	struct spf_answer answer;
};

#define RECENT_INSTANCES 64

struct greylist {
	const struct greylist_conf *conf;
	struct pattern_list allow_client_domains;
	struct pattern_list allow_senders;
	struct pattern_list allow_recipients;
	bool spf;			/* SPF matters: bypass or domain triplets */
	struct redis_script script, peek;
	/* The script's constant arguments (delay, retry window, allowlist
	 * time and clients), formatted once instead of per decision. */
	char num[4][24];
	/* Messages that already got an X-Greylist header: Postfix asks once
	 * per recipient, the header must be added once per message. */
	char recent[RECENT_INSTANCES][64];
	unsigned recent_next;
	struct spf_memo memo[RECENT_INSTANCES];
	unsigned memo_next;
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
	snprintf(gl->num[0], sizeof(gl->num[0]), "%ld", conf->delay);
	snprintf(gl->num[1], sizeof(gl->num[1]), "%ld", conf->retry_window);
	snprintf(gl->num[2], sizeof(gl->num[2]), "%ld", conf->auto_allowlist);
	snprintf(gl->num[3], sizeof(gl->num[3]), "%d", conf->auto_allowlist_clients);
	gl->script.source = greylist_lua;
	gl->peek.source = greylist_peek_lua;
	gl->spf = conf->spf_bypass || conf->spf_domain_triplet;
	if (compile_list(&conf->allow_client_domains, &gl->allow_client_domains, err, errsize) < 0
	    || compile_list(&conf->allow_senders, &gl->allow_senders, err, errsize) < 0
	    || compile_list(&conf->allow_recipients, &gl->allow_recipients, err, errsize) < 0) {
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

/*
 * A request greylisting cannot key (a client address that does not
 * parse, a triplet too long for a key). With fail_open it passes, and
 * the decision line says why; without, it is deferred like a Redis
 * failure: fail_open = false promises that no mail passes unchecked.
 */
static enum check_result
unusable(const struct policy_context *ctx, struct policy_reply *reply, const char *why)
{
	logline_add(&reply->details, "reason", why);
	if (ctx->cfg->policyd.fail_open)
		return verdict(reply, "skip", CHECK_CONTINUE);
	snprintf(reply->action, sizeof(reply->action),
		 "451 4.3.0 Temporary failure, try again later");
	return verdict(reply, "error", CHECK_FINAL);
}

static enum check_result
passed(struct greylist *gl, const struct policy_context *ctx, const struct policy_request *req,
       struct policy_reply *reply, long waited)
{
	char date[64], header[sizeof(reply->prepend)];
	struct tm tm;
	time_t now = ctx->now;

	logline_addf(&reply->details, "delayed", "%ld", waited);
	if (!gl->conf->add_header || header_already_added(gl, req->instance))
		return verdict(reply, "pass", CHECK_CONTINUE);
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	snprintf(header, sizeof(header),
		 "X-Greylist: delayed %ld seconds by sluice-policyd at %s; %s",
		 waited, ctx->cfg->hostname, date);
	if (!check_prepend(reply, header))
		logline_add(&reply->details, "header", "dropped");
	return verdict(reply, "pass", CHECK_CONTINUE);
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

/* What a triplet is made of, computed from the request. */
struct triplet_parts {
	char sender[ADDRESS_MAX + 1];
	char recipient[ADDRESS_MAX + 1];
	char subject[ADDRESS_DOMAIN_MAX + 8];	/* the client network, or spf:DOMAIN */
};

/* -1 when the client address gives no network (reason in *why). */
static int
triplet_parts(const struct greylist *gl, const struct policy_request *req,
	      struct triplet_parts *t)
{
	struct address ra;

	if (triplet_normalize_sender(req->sender ? req->sender : "", t->sender,
				     sizeof(t->sender)) < 0)
		raw_address(req->sender, t->sender, sizeof(t->sender));
	if (address_parse(req->recipient, &ra, NULL) == 0)
		address_lower(&ra, t->recipient, sizeof(t->recipient));
	else
		raw_address(req->recipient, t->recipient, sizeof(t->recipient));
	return triplet_subject_ip(req->client_address, gl->conf->ipv4_prefix,
				  gl->conf->ipv6_prefix, t->subject, sizeof(t->subject));
}

int
greylist_keys(const struct sluice_config *cfg, const char *client, const char *sender,
	      const char *recipient, struct greylist_keys *out)
{
	struct greylist gl = { .conf = &cfg->policyd.greylist };
	struct policy_request req = { .client_address = client, .sender = sender,
				      .recipient = recipient ? recipient : "" };
	struct triplet_parts t;

	memset(out, 0, sizeof(*out));
	if (client == NULL || triplet_parts(&gl, &req, &t) < 0
	    || triplet_awl_key(cfg->redis_prefix, t.subject, out->awl, sizeof(out->awl)) < 0)
		return -1;
	snprintf(out->subject, sizeof(out->subject), "%s", t.subject);
	if (sender && triplet_key(cfg->redis_prefix, t.subject, t.sender, t.recipient,
				  out->key, sizeof(out->key)) < 0)
		return -1;
	return 0;
}

/* Fills reply->call with a call of script for this triplet. */
static enum check_result
prepare_script(struct greylist *gl, const struct policy_context *ctx,
	       const struct triplet_parts *t, struct redis_script *script, int step,
	       struct policy_reply *reply)
{
	char key[TRIPLET_KEY_MAX], awl[TRIPLET_KEY_MAX], offset[24];
	struct redis_eval_call *call = &reply->call;
	size_t used = 0;
	int i;

	if (triplet_key(ctx->cfg->redis_prefix, t->subject, t->sender, t->recipient,
			key, sizeof(key)) < 0
	    || triplet_awl_key(ctx->cfg->redis_prefix, t->subject, awl, sizeof(awl)) < 0)
		return unusable(ctx, reply, "triplet-too-long");
	if (ctx->clock_offset == 0)
		memcpy(offset, "0", 2);
	else
		snprintf(offset, sizeof(offset), "%ld", ctx->clock_offset);
	call->script = script;
	call->nkeys = 2;
	call->nargs = 5;
	call->argv[0] = call_string(reply, &used, key);
	call->argv[1] = call_string(reply, &used, awl);
	call->argv[2] = call_string(reply, &used, offset);
	for (i = 0; i < 4; i++)
		call->argv[3 + i] = call_string(reply, &used, gl->num[i]);
	for (i = 0; i < 7; i++)
		if (call->argv[i] == NULL)
			return unusable(ctx, reply, "triplet-too-long");
	reply->step = step;
	return CHECK_REDIS;
}

/* The answer remembered for this message, or NULL. */
static const struct spf_answer *
memo_find(const struct greylist *gl, const struct policy_request *req)
{
	unsigned i;

	if (req->instance == NULL || *req->instance == '\0')
		return NULL;
	for (i = 0; i < RECENT_INSTANCES; i++) {
		const struct spf_memo *m = &gl->memo[i];

		if (strcmp(m->instance, req->instance) == 0
		    && strcmp(m->client, req->client_address) == 0
		    && strcmp(m->sender, req->sender ? req->sender : "") == 0)
			return &m->answer;
	}
	return NULL;
}

static void
memo_keep(struct greylist *gl, const struct policy_request *req, const struct spf_answer *a)
{
	struct spf_memo *m = &gl->memo[gl->memo_next];
	const char *sender = req->sender ? req->sender : "";

	if (req->instance == NULL || *req->instance == '\0' || a->timed_out
	    || strlen(req->instance) >= sizeof(m->instance)
	    || strlen(req->client_address) >= sizeof(m->client)
	    || strlen(sender) >= sizeof(m->sender))
		return;	/* a timeout is not remembered: the next try may be lucky */
	strcpy(m->instance, req->instance);
	strcpy(m->client, req->client_address);
	strcpy(m->sender, sender);
	m->answer = *a;
	gl->memo_next = (gl->memo_next + 1) % RECENT_INSTANCES;
}

/* With SPF's answer: bypass, or the triplet keyed on what SPF vouches for. */
static enum check_result
after_spf(struct greylist *gl, const struct policy_context *ctx,
	  const struct policy_request *req, const struct spf_answer *spf,
	  struct policy_reply *reply)
{
	struct triplet_parts t;
	char domain[ADDRESS_DOMAIN_MAX + 1];
	bool vouched = spf->result == SPF_PASS && !spf->too_broad;

	logline_add(&reply->details, "spf", spf->result == SPF_PASS && spf->too_broad
		    ? "pass-too-broad" : spf->timed_out ? "timeout" : spf_result_name(spf->result));
	if (triplet_parts(gl, req, &t) < 0)
		return unusable(ctx, reply, "client-address");
	if (vouched && gl->conf->spf_bypass)
		return verdict(reply, "bypass-spf", CHECK_CONTINUE);
	if (vouched && gl->conf->spf_domain_triplet
	    && spf_authorized_domain(req->helo_name, req->sender, domain, sizeof(domain)) == 0)
		snprintf(t.subject, sizeof(t.subject), "spf:%s", domain);
	return prepare_script(gl, ctx, &t, &gl->script, STEP_TRIPLET, reply);
}

static enum check_result
ask_spf(struct greylist *gl, const struct policy_context *ctx,
	const struct policy_request *req, struct policy_reply *reply)
{
	const struct spf_answer *known = memo_find(gl, req);

	if (known)
		return after_spf(gl, ctx, req, known, reply);
	reply->spf.client_ip = req->client_address;
	reply->spf.helo = req->helo_name;
	reply->spf.sender = req->sender;
	reply->spf.breadth = true;
	reply->step = STEP_SPF;
	return CHECK_SPF;
}

static enum check_result
greylist_resume_spf(void *state, const struct policy_context *ctx,
		    const struct policy_request *req, const struct spf_answer *answer,
		    struct policy_reply *reply)
{
	struct greylist *gl = state;

	memo_keep(gl, req, answer);
	return after_spf(gl, ctx, req, answer, reply);
}

/* The scripts' answer { verdict, seconds }, or a Redis failure (NULL). */
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
	if (strcmp(what, "unknown") == 0 && reply->step == STEP_PEEK)
		return ask_spf(gl, ctx, req, reply);
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
	struct triplet_parts t;
	struct net_addr client;
	const char *why;

	if (req->protocol_state == NULL || strcmp(req->protocol_state, "RCPT") != 0
	    || req->recipient == NULL)
		return CHECK_CONTINUE;
	if (req->client_address == NULL || net_addr_parse(req->client_address, &client) < 0)
		return unusable(ctx, reply, "client-address");
	/* Own allowlists first (their reasons name the list: permit_ip, ...),
	 * then check_permit_forbid's verdict (access.h's priority rules). */
	if ((why = exemption(gl, ctx, req, &client)) != NULL
	    || (why = reply->permitted ? "permitted" : NULL) != NULL) {
		logline_add(&reply->details, "reason", why);
		return verdict(reply, "allowlisted", CHECK_CONTINUE);
	}
	if (triplet_parts(gl, req, &t) < 0)
		return unusable(ctx, reply, "client-address");
	if (!gl->spf)
		return prepare_script(gl, ctx, &t, &gl->script, STEP_TRIPLET, reply);
	if (memo_find(gl, req))
		return ask_spf(gl, ctx, req, reply);
	return prepare_script(gl, ctx, &t, &gl->peek, STEP_PEEK, reply);
}

const struct policy_check check_greylist = {
	.name = "greylist",
	.open = greylist_open,
	.decide = greylist_decide,
	.resume = greylist_resume,
	.resume_spf = greylist_resume_spf,
	.close = greylist_close,
};
