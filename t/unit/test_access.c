/* test_access.c - the permitted/forbidden priority (access_decide) and the
 * relaying list's matching (relay_match), then the policyd checks built on
 * them (permit_forbid, relay, reverse_dns, sender_login) deciding real
 * requests. The lists are real snapshots read from a redis-server this
 * test starts on a unix socket of its own. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "access.h"
#include "check.h"
#include "lists.h"
#include "redis_fixture.h"

extern const struct policy_check check_permit_forbid, check_relay, check_reverse_dns,
	check_sender_login;

static struct redis_client *rc;
static struct lists *snap;

static void
redis(const char *fmt, const char *a, const char *b)
{
	redisReply *r = redis_command(rc, fmt, a, b);

	assert_non_null(r);
	freeReplyObject(r);
}

/* The group's setup and teardown: redis_fixture.h's, and one client. */
static int
start_redis(void **state)
{
	if (redis_setup(state) < 0)
		return -1;
	rc = client();
	return rc ? 0 : -1;
}

static int
stop_redis(void **state)
{
	lists_release(snap);
	redis_client_free(rc);
	return redis_teardown(state);
}

static void
reread(void)
{
	char err[256];
	int skipped;
	struct lists *next = lists_refresh(snap, rc, &skipped, err, sizeof(err));

	assert_non_null(next);
	assert_int_equal(skipped, 0);
	lists_release(snap);
	snap = next;
}

static const char *
decide(const char *ip, const char *sender)
{
	struct net_addr a;

	if (ip)
		assert_int_equal(net_addr_parse(ip, &a), 0);
	return access_name(access_decide(snap, ip ? &a : NULL, sender));
}

/* The SafeUTM manual's examples, and the levels around them. */
static void
test_priority(void **state)
{
	(void)state;
	redis("FLUSHALL", NULL, NULL);
	reread();
	assert_string_equal(decide("192.0.2.1", "a@ttt-point.de"), "none");
	redis("SADD %s %s", "sluice:forbid:ip", "192.0.2.0/24");
	redis("SADD %s %s", "sluice:permit:domain", "ttt-point.de");
	redis("SADD %s %s", "sluice:forbid:domain", "spam.example");
	redis("SADD %s %s", "sluice:permit:mailbox", "boss@spam.example");
	redis("SADD %s %s", "sluice:forbid:mailbox", "/bad.*@ttt-point\\.de/");
	redis("SADD %s %s", "sluice:permit:ip", "192.0.2.7");
	reread();
	/* 1. a forbidden IP blocks mail from a permitted domain */
	assert_string_equal(decide("192.0.2.1", "a@ttt-point.de"), "forbid-ip");
	/* 2. a permitted mailbox passes although its domain is forbidden */
	assert_string_equal(decide("198.51.100.1", "boss@spam.example"), "permit-mailbox");
	/* 3. a forbidden mailbox is blocked although its domain is permitted */
	assert_string_equal(decide("198.51.100.1", "badguy@TTT-point.de"), "forbid-mailbox");
	/* permitted wins at one level: 192.0.2.7 is in both IP lists */
	assert_string_equal(decide("192.0.2.7", "x@example.org"), "permit-ip");
	assert_string_equal(decide("192.0.2.7", NULL), "permit-ip");
	/* 4. a permitted IP does not lift a forbidden domain or mailbox: "blocked,
	 * just at a later stage" (as the milter's rules decide) */
	assert_string_equal(decide("192.0.2.7", "x@spam.example"), "forbid-domain");
	assert_string_equal(decide("192.0.2.7", "badguy@ttt-point.de"), "forbid-mailbox");
	/* the domain level, both ways */
	assert_string_equal(decide("198.51.100.1", "x@spam.example"), "forbid-domain");
	assert_string_equal(decide("198.51.100.1", "x@ttt-point.de"), "permit-domain");
	/* domains match exactly, not their subdomains */
	assert_string_equal(decide("198.51.100.1", "x@sub.spam.example"), "none");
	/* unknown parts match nothing: at CONNECT only the IP is known */
	assert_string_equal(decide("192.0.2.1", NULL), "forbid-ip");
	assert_string_equal(decide(NULL, "x@spam.example"), "forbid-domain");
	assert_string_equal(decide("198.51.100.1", ""), "none");
	assert_string_equal(decide(NULL, NULL), "none");
}

static void
test_relay_domain(void **state)
{
	(void)state;
	assert_true(relay_domain_matches("anyideas.de", "anyideas.de", true));
	assert_true(relay_domain_matches("anyideas.de", "AnyIdeas.DE", true));
	assert_false(relay_domain_matches("anyideas.de", "support.anyideas.de", true));
	assert_true(relay_domain_matches("anyideas.de", "support.anyideas.de", false));
	assert_true(relay_domain_matches("anyideas.de", "a.b.anyideas.de", false));
	/* a suffix that is not a label boundary is another domain */
	assert_false(relay_domain_matches("anyideas.de", "notanyideas.de", false));
	assert_false(relay_domain_matches("anyideas.de", ".anyideas.de", false));
	assert_false(relay_domain_matches("anyideas.de", "anyideas.de.evil", false));
	assert_false(relay_domain_matches("anyideas.de", NULL, false));
	assert_false(relay_domain_matches("anyideas.de", "", false));
}

static struct relay_entry
entry(const char *match, enum relay_option o, enum relay_action a)
{
	struct relay_entry e = { .option = o, .action = a };

	if (net_cidr_parse(match, &e.network) == 0) {
		e.is_network = true;
		e.match = (char *)"";
	} else {
		e.match = (char *)(uintptr_t)match;
	}
	return e;
}

static void
test_relay_match(void **state)
{
	struct relay_entry e[] = {
		entry("192.0.2.0/30", RELAY_OPTION_NONE, RELAY_ACTION_RELAY),
		entry("2001:db8::/32", RELAY_OPTION_CONNECT, RELAY_ACTION_OK),
		entry("mx.partner.example", RELAY_OPTION_CONNECT, RELAY_ACTION_RELAY),
		entry("ttt-point.de", RELAY_OPTION_FROM, RELAY_ACTION_REJECT),
		entry("anyideas.de", RELAY_OPTION_TO, RELAY_ACTION_RELAY),
		entry("any.example", RELAY_OPTION_NONE, RELAY_ACTION_OK),
	};
	struct relay_conf conf = { e, sizeof(e) / sizeof(e[0]), false };
	struct net_addr in, in6, out;
	struct relay_subject s = { 0 };

	(void)state;
	assert_int_equal(net_addr_parse("192.0.2.3", &in), 0);
	assert_int_equal(net_addr_parse("2001:db8::25", &in6), 0);
	assert_int_equal(net_addr_parse("192.0.2.4", &out), 0);
	s.client = &in;
	assert_int_equal(relay_match(&conf, &s), 0);		/* CIDR */
	s.client = &out;
	assert_int_equal(relay_match(&conf, &s), -1);		/* just outside the /30 */
	s.client = &in6;
	assert_int_equal(relay_match(&conf, &s), 1);		/* IPv6 */
	s.client = &out;
	s.client_name = "mx.partner.example";
	assert_int_equal(relay_match(&conf, &s), 2);		/* host, connect */
	s.client_name = "mail.ttt-point.de";	/* "connect" of a "from" entry: no */
	assert_int_equal(relay_match(&conf, &s), -1);
	s.client_name = NULL;
	s.sender_domain = "ttt-point.de";
	assert_int_equal(relay_match(&conf, &s), 3);		/* from */
	s.sender_domain = "lists.ttt-point.de";
	assert_int_equal(relay_match(&conf, &s), 3);		/* from, subdomain */
	conf.exact_domain = true;
	assert_int_equal(relay_match(&conf, &s), -1);		/* exact_domain on */
	conf.exact_domain = false;
	s.sender_domain = "anyideas.de";	/* a "to" entry does not look at the sender */
	assert_int_equal(relay_match(&conf, &s), -1);
	s.sender_domain = NULL;
	s.recipient_domain = "support.anyideas.de";
	assert_int_equal(relay_match(&conf, &s), 4);		/* to, subdomain */
	conf.exact_domain = true;
	assert_int_equal(relay_match(&conf, &s), -1);
	s.recipient_domain = "anyideas.de";
	assert_int_equal(relay_match(&conf, &s), 4);
	conf.exact_domain = false;
	/* option none: any of client name, sender, recipient */
	s.recipient_domain = "x.example";
	s.sender_domain = "any.example";
	assert_int_equal(relay_match(&conf, &s), 5);
	s.sender_domain = NULL;
	s.client_name = "smtp.any.example";
	assert_int_equal(relay_match(&conf, &s), 5);
	/* the first entry that applies wins: the /30 before "ttt-point.de" */
	s.client = &in;
	s.sender_domain = "ttt-point.de";
	assert_int_equal(relay_match(&conf, &s), 0);
	assert_int_equal(relay_match(NULL, &s), -1);
}

/* ---- the checks, with a config and a request ------------------------ */

static struct sluice_config *
load(const char *policyd)
{
	char path[160], err[512];
	struct sluice_config *cfg;
	FILE *f;

	snprintf(path, sizeof(path), "%s/sluice.conf", redis_dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "domains = { local = [ \"example.test\", \"example.org\" ];"
		" relay = [ \"relay.test\" ]; };\n"
		"trusted_networks = [ \"10.0.0.0/8\" ];\n"
		"policyd = { %s };\n", policyd);
	fclose(f);
	cfg = config_load(path, err, sizeof(err));
	if (cfg == NULL)
		fail_msg("config: %s", err);
	return cfg;
}

struct run {
	struct policy_request req;
	struct policy_reply reply;
	enum check_result r;
};

static void
run(const struct policy_check *check, const struct sluice_config *cfg, struct run *t)
{
	struct policy_context ctx = { .cfg = cfg, .lists = snap };
	char err[256];
	void *st = NULL;
	bool permitted = t->reply.permitted;

	assert_int_equal(check->open(cfg, &st, err, sizeof(err)), 0);
	assert_non_null(st);
	memset(&t->reply, 0, sizeof(t->reply));
	t->reply.permitted = permitted;
	if (t->req.protocol_state == NULL)
		t->req.protocol_state = "RCPT";
	t->r = check->decide(st, &ctx, &t->req, &t->reply);
	check->close(st);
}

static void
test_check_permit_forbid(void **state)
{
	struct sluice_config *cfg = load("");
	struct run t = { .req = { .client_address = "192.0.2.1", .sender = "a@ttt-point.de" } };

	(void)state;
	run(&check_permit_forbid, cfg, &t);	/* lists of test_priority */
	assert_int_equal(t.r, CHECK_FINAL);
	assert_string_equal(t.reply.action, "550 5.7.1 Client host rejected: access denied");
	assert_string_equal(t.reply.verdict, "forbid-ip");
	t = (struct run){ .req = { .client_address = "198.51.100.1", .sender = "boss@spam.example" } };
	run(&check_permit_forbid, cfg, &t);
	assert_int_equal(t.r, CHECK_CONTINUE);
	assert_true(t.reply.permitted);
	assert_non_null(strstr(t.reply.details.buf, "access=permit-mailbox"));
	t = (struct run){ .req = { .client_address = "198.51.100.1", .sender = "x@spam.example",
				    .protocol_state = "MAIL" } };
	run(&check_permit_forbid, cfg, &t);
	assert_int_equal(t.r, CHECK_FINAL);
	assert_string_equal(t.reply.action, "550 5.7.1 Sender address rejected: access denied");
	config_free(cfg);
}

static void
test_check_relay(void **state)
{
	struct sluice_config *cfg = load(
		"relay = ( { match = \"spam.example\"; option = \"from\"; action = \"reject\"; },"
		" { match = \"192.0.2.0/24\"; action = \"ok\"; },"
		" { match = \"partner.example\"; option = \"connect\"; action = \"relay\"; } );");
	struct run t = { .req = { .client_address = "198.51.100.1", .sender = "a@spam.example",
				  .recipient = "u@example.test" } };

	(void)state;
	run(&check_relay, cfg, &t);
	assert_int_equal(t.r, CHECK_FINAL);
	assert_string_equal(t.reply.action, "554 5.7.1 Rejected by the relaying list");
	/* OK: our domains pass, another is refused */
	t = (struct run){ .req = { .client_address = "192.0.2.9", .recipient = "u@relay.test" } };
	run(&check_relay, cfg, &t);
	assert_int_equal(t.r, CHECK_CONTINUE);
	t.req.recipient = "u@outside.test";
	run(&check_relay, cfg, &t);
	assert_int_equal(t.r, CHECK_FINAL);
	assert_string_equal(t.reply.verdict, "ok-local-only");
	/* RELAY never answers OK: the chain (and Postfix) go on */
	t = (struct run){ .req = { .client_address = "198.51.100.9", .client_name = "mx.partner.example",
				   .recipient = "u@outside.test" } };
	run(&check_relay, cfg, &t);
	assert_int_equal(t.r, CHECK_CONTINUE);
	assert_non_null(strstr(t.reply.details.buf, "relay=relay"));
	/* an unverified name is not the client's name */
	t.req.client_name = "unknown";
	t.req.reverse_client_name = "mx.partner.example";
	run(&check_relay, cfg, &t);
	assert_null(strstr(t.reply.details.buf, "relay="));
	/* not at MAIL: it needs the recipient */
	t = (struct run){ .req = { .client_address = "198.51.100.1", .sender = "a@spam.example",
				   .protocol_state = "MAIL" } };
	run(&check_relay, cfg, &t);
	assert_int_equal(t.r, CHECK_CONTINUE);
	config_free(cfg);
}

static void
test_check_reverse_dns(void **state)
{
	struct sluice_config *cfg = load("require_reverse_dns = true;");
	struct run t = { .req = { .client_address = "198.51.100.1", .client_name = "unknown",
				  .reverse_client_name = "unknown" } };

	(void)state;
	run(&check_reverse_dns, cfg, &t);
	assert_int_equal(t.r, CHECK_FINAL);
	assert_string_equal(t.reply.action,
			    "450 4.7.25 Client host rejected: no reverse DNS name for your address");
	t.req.reverse_client_name = "mail.unconfirmed.test";
	run(&check_reverse_dns, cfg, &t);
	assert_int_equal(t.r, CHECK_FINAL);
	assert_non_null(strstr(t.reply.details.buf, "reason=ptr-mismatch"));
	t.req.client_name = "mail.unconfirmed.test";
	run(&check_reverse_dns, cfg, &t);
	assert_int_equal(t.r, CHECK_CONTINUE);		/* forward-confirmed */
	t.req.client_name = "unknown";
	t.req.sasl_username = "alice";
	run(&check_reverse_dns, cfg, &t);
	assert_int_equal(t.r, CHECK_CONTINUE);		/* authenticated */
	t.req.sasl_username = NULL;
	t.req.client_address = "10.1.2.3";
	run(&check_reverse_dns, cfg, &t);
	assert_int_equal(t.r, CHECK_CONTINUE);		/* trusted_networks */
	t.req.client_address = "198.51.100.1";
	t.reply.permitted = true;
	run(&check_reverse_dns, cfg, &t);
	assert_int_equal(t.r, CHECK_CONTINUE);		/* permitted */
	t.reply.permitted = false;
	config_free(cfg);
	cfg = load("require_reverse_dns = true; reverse_dns_code = 550;");
	run(&check_reverse_dns, cfg, &t);
	assert_int_equal(t.r, CHECK_FINAL);
	assert_int_equal(strncmp(t.reply.action, "550 5.7.25 ", 11), 0);
	config_free(cfg);
}

static void
test_check_sender_login(void **state)
{
	struct sluice_config *cfg = load("enforce_sender_login = true;");
	struct run t = { .req = { .client_address = "198.51.100.1", .sasl_username = "alice",
				  .sender = "Alice@Example.ORG", .recipient = "x@outside.test" } };

	(void)state;
	redis("SADD %s %s", "sluice:alias:sales@example.test", "alice@example.test");
	redis("SADD %s %s", "sluice:alias:info@*", "Alice@example.org");
	reread();
	run(&check_sender_login, cfg, &t);
	assert_int_equal(t.r, CHECK_CONTINUE);	/* own mailbox, any local domain */
	assert_non_null(strstr(t.reply.details.buf, "sender_login=own"));
	t.req.sender = "sales@example.test";
	run(&check_sender_login, cfg, &t);
	assert_non_null(strstr(t.reply.details.buf, "sender_login=alias"));
	t.req.sender = "info@example.org";	/* wildcard alias */
	run(&check_sender_login, cfg, &t);
	assert_non_null(strstr(t.reply.details.buf, "sender_login=alias"));
	t.req.sender = "";
	run(&check_sender_login, cfg, &t);
	assert_int_equal(t.r, CHECK_CONTINUE);
	/* someone else's address: asked of Redis, the login's own set */
	t.req.sender = "bob@example.test";
	run(&check_sender_login, cfg, &t);
	assert_int_equal(t.r, CHECK_REDIS);
	assert_string_equal(t.reply.call.argv[0], "sluice:login:alice");
	assert_string_equal(t.reply.call.argv[1], "bob@example.test");
	/* alice@example.test logged in with an address: only that one */
	t.req.sasl_username = "Alice@example.test";
	t.req.sender = "alice@example.org";
	run(&check_sender_login, cfg, &t);
	assert_int_equal(t.r, CHECK_REDIS);
	t.req.sender = "sales@example.test";
	run(&check_sender_login, cfg, &t);
	assert_int_equal(t.r, CHECK_CONTINUE);
	/* not authenticated: not this check's business */
	t.req.sasl_username = NULL;
	t.req.sender = "bob@example.test";
	run(&check_sender_login, cfg, &t);
	assert_int_equal(t.r, CHECK_CONTINUE);
	assert_int_equal(t.reply.details.len, 0);
	config_free(cfg);
}

/* The Redis step: a member passes, a non-member is refused, no answer
 * follows fail_open. */
static void
test_sender_login_resume(void **state)
{
	struct sluice_config *cfg = load("enforce_sender_login = true;");
	struct policy_context ctx = { .cfg = cfg, .lists = snap };
	struct policy_request req = { .protocol_state = "RCPT", .sasl_username = "alice",
				      .sender = "bob@example.test" };
	struct policy_reply reply;
	redisReply yes = { .type = REDIS_REPLY_INTEGER, .integer = 1 };
	redisReply no = { .type = REDIS_REPLY_INTEGER, .integer = 0 };
	_Atomic long warned = 0;
	char err[64];
	void *st;

	(void)state;
	ctx.redis_warned_at = &warned;
	assert_int_equal(check_sender_login.open(cfg, &st, err, sizeof(err)), 0);
	memset(&reply, 0, sizeof(reply));
	assert_int_equal(check_sender_login.resume(st, &ctx, &req, &yes, &reply), CHECK_CONTINUE);
	assert_non_null(strstr(reply.details.buf, "sender_login=login-set"));
	memset(&reply, 0, sizeof(reply));
	assert_int_equal(check_sender_login.resume(st, &ctx, &req, &no, &reply), CHECK_FINAL);
	assert_string_equal(reply.action,
			    "553 5.7.1 Sender address rejected: not owned by the authenticated user");
	memset(&reply, 0, sizeof(reply));
	assert_int_equal(check_sender_login.resume(st, &ctx, &req, NULL, &reply), CHECK_CONTINUE);
	check_sender_login.close(st);
	config_free(cfg);
	cfg = load("enforce_sender_login = true; fail_open = false;");
	ctx.cfg = cfg;
	assert_int_equal(check_sender_login.open(cfg, &st, err, sizeof(err)), 0);
	memset(&reply, 0, sizeof(reply));
	assert_int_equal(check_sender_login.resume(st, &ctx, &req, NULL, &reply), CHECK_FINAL);
	assert_string_equal(reply.action, "451 4.3.0 Temporary lookup failure, try again later");
	check_sender_login.close(st);
	config_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_priority),
		cmocka_unit_test(test_relay_domain),
		cmocka_unit_test(test_relay_match),
		cmocka_unit_test(test_check_permit_forbid),
		cmocka_unit_test(test_check_relay),
		cmocka_unit_test(test_check_reverse_dns),
		cmocka_unit_test(test_check_sender_login),
		cmocka_unit_test(test_sender_login_resume),
	};

	snap = lists_new("sluice:");
	return cmocka_run_group_tests(tests, start_redis, stop_redis);
}
