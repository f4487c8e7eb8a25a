/* test_rcptval.c - recipient validation's pure parts: domains.relay next
 * hops, SMTP reply parsing, RFC 4515 filter escaping, the recipients
 * config group, and the job pool's time budget. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "job_pool.h"
#include "rcpt_ldap.h"
#include "rcpt_smtp.h"
#include "relay_hop.h"

static void
test_relay_entries(void **state)
{
	static const struct { const char *in, *domain, *host; int port; } good[] = {
		{ "relay.test", "relay.test", "", 0 },
		{ "relay.test|mail.relay.test", "relay.test", "mail.relay.test", 25 },
		{ "relay.test|10.0.0.5:2525", "relay.test", "10.0.0.5", 2525 },
		{ "relay.test|[192.0.2.1]:587", "relay.test", "192.0.2.1", 587 },
		{ "relay.test|[2001:db8::1]:25", "relay.test", "2001:db8::1", 25 },
		{ "relay.test|[2001:db8::1]", "relay.test", "2001:db8::1", 25 },
	};
	static const char *const bad[] = {
		"relay.test|", "relay.test|host:0", "relay.test|host:65536", "relay.test|host:25x",
		"relay.test|2001:db8::1", "relay.test|[2001:db8::1", "relay.test|[nothost]:25",
		"relay.test|[192.0.2.1]x", "bad domain|host", "|host", "relay.test|ho st",
		"relay.test|host:", "relay.test|-host",
	};
	char domain[256];
	struct relay_hop hop;
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		why = NULL;
		if (relay_entry_parse(good[i].in, domain, sizeof(domain), &hop, &why) < 0)
			fail_msg("'%s' refused: %s", good[i].in, why);
		assert_string_equal(domain, good[i].domain);
		assert_string_equal(hop.host, good[i].host);
		assert_int_equal(hop.port, good[i].port);
		assert_null(relay_entry_check(good[i].in));
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (relay_entry_parse(bad[i], domain, sizeof(domain), &hop, &why) == 0)
			fail_msg("'%s' accepted", bad[i]);
		assert_non_null(why);
		assert_non_null(relay_entry_check(bad[i]));
	}
}

static void
test_smtp_replies(void **state)
{
	char big[SMTP_REPLY_MAX + 100];
	size_t used = 0, i;
	int code = 0;

	(void)state;
	assert_int_equal(smtp_reply_parse("250 Ok\r\n", 8, &code, &used), 1);
	assert_int_equal(code, 250);
	assert_int_equal(used, 8);
	assert_int_equal(smtp_reply_parse("250-a\r\n250-b\r\n250 c\r\n", 21, &code, &used), 1);
	assert_int_equal(used, 21);
	/* incomplete: more to come */
	assert_int_equal(smtp_reply_parse("250-a\r\n250", 10, &code, &used), 0);
	assert_int_equal(smtp_reply_parse("550 5.1.1 no", 12, &code, &used), 0);
	assert_int_equal(smtp_reply_parse("", 0, &code, &used), 0);
	/* a bare code line */
	assert_int_equal(smtp_reply_parse("220\r\n", 5, &code, &used), 1);
	assert_int_equal(code, 220);
	assert_int_equal(smtp_reply_parse("550 5.1.1 No such user\n", 23, &code, &used), 1);
	assert_int_equal(code, 550);
	/* garbage, codes out of range, mixed codes in one reply */
	assert_int_equal(smtp_reply_parse("hello\r\n", 7, &code, &used), -1);
	assert_int_equal(smtp_reply_parse("650 x\r\n", 7, &code, &used), -1);
	assert_int_equal(smtp_reply_parse("25\r\n", 4, &code, &used), -1);
	assert_int_equal(smtp_reply_parse("250-a\r\n550 b\r\n", 14, &code, &used), -1);
	assert_int_equal(smtp_reply_parse("250xa\r\n", 7, &code, &used), -1);
	/* an endless line, an endless multi-line reply: refused, not buffered */
	memset(big, 'x', sizeof(big));
	memcpy(big, "250 ", 4);
	assert_int_equal(smtp_reply_parse(big, sizeof(big), &code, &used), -1);
	for (i = 0; i + 7 <= sizeof(big); i += 7)
		memcpy(big + i, "250-ab\n", 7);
	assert_int_equal(smtp_reply_parse(big, i, &code, &used), -1);
}

static void
test_rcpt_path(void **state)
{
	char out[128];

	(void)state;
	assert_int_equal(rcpt_path("a.b+c@x.test", out, sizeof(out)), 0);
	assert_string_equal(out, "RCPT TO:<a.b+c@x.test>\r\n");
	assert_int_equal(rcpt_path("john doe@x.test", out, sizeof(out)), 0);
	assert_string_equal(out, "RCPT TO:<\"john doe\"@x.test>\r\n");
	assert_int_equal(rcpt_path("a\"b\\c@x.test", out, sizeof(out)), 0);
	assert_string_equal(out, "RCPT TO:<\"a\\\"b\\\\c\"@x.test>\r\n");
	assert_int_equal(rcpt_path("a..b@x.test", out, sizeof(out)), 0);
	assert_string_equal(out, "RCPT TO:<\"a..b\"@x.test>\r\n");
	assert_int_equal(rcpt_path("postmaster", out, sizeof(out)), 0);
	assert_string_equal(out, "RCPT TO:<postmaster>\r\n");
	assert_int_equal(rcpt_path("abcdefghij@x.test", out, 16), -1);
	assert_int_equal(rcpt_path("a b c d e f@x.test", out, 20), -1);
	/* found by t/fuzz/fuzz_smtp_reply (corpus/smtp_reply/crash-tiny-buffer):
	 * a buffer too small for "RCPT TO:<\"" and an empty local part went on
	 * to write at out + 10 with size - 10 wrapped around */
	memset(out, 'Z', sizeof(out));
	assert_int_equal(rcpt_path("@b.test", out, 8), -1);
	assert_int_equal(out[8], 'Z');
	assert_int_equal(rcpt_path("@b.test", out, sizeof(out)), 0);
	assert_string_equal(out, "RCPT TO:<\"\"@b.test>\r\n");
}

static void
test_ldap_escape(void **state)
{
	char out[256];

	(void)state;
	assert_int_equal(ldap_filter_escape("a@b.test", out, sizeof(out)), 0);
	assert_string_equal(out, "a@b.test");
	assert_int_equal(ldap_filter_escape("*)(uid=*", out, sizeof(out)), 0);
	assert_string_equal(out, "\\2a\\29\\28uid=\\2a");
	assert_int_equal(ldap_filter_escape("back\\slash", out, sizeof(out)), 0);
	assert_string_equal(out, "back\\5cslash");
	assert_int_equal(ldap_filter_escape("\xc3\xa9@x", out, sizeof(out)), 0);
	assert_string_equal(out, "\\c3\\a9@x");
	assert_int_equal(ldap_filter_escape("abcdef", out, 6), -1);	/* no room for NUL */
	assert_int_equal(ldap_filter_escape("abcde", out, 6), 0);
	assert_int_equal(ldap_filter_escape("abcd*", out, 6), -1);

	assert_int_equal(ldap_filter_build("(|(mail=%s)(proxyAddresses=smtp:%s))", "a*@b", out,
					   sizeof(out)), 0);
	assert_string_equal(out, "(|(mail=a\\2a@b)(proxyAddresses=smtp:a\\2a@b))");
	assert_int_equal(ldap_filter_build("(mail=%s)", "abcdefghij", out, 12), -1);
}

static struct sluice_config *
load(const char *text, char *err, size_t errsize)
{
	char path[] = "/tmp/sluice-test-rcpt.XXXXXX";
	int fd = mkstemp(path);
	FILE *fp;
	struct sluice_config *cfg;

	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	fputs(text, fp);
	fclose(fp);
	err[0] = '\0';
	cfg = config_load(path, err, errsize);
	unlink(path);
	return cfg;
}

static void
expect_refused(const char *text, int line, const char *part)
{
	char err[1024], want[32];
	struct sluice_config *cfg = load(text, err, sizeof(err));

	if (cfg)
		fail_msg("accepted: %s", text);
	snprintf(want, sizeof(want), ":%d: ", line);
	if (strstr(err, want) == NULL || strstr(err, part) == NULL)
		fail_msg("error '%s' lacks line %d or '%s'", err, line, part);
}

static void
test_config_recipients(void **state)
{
	char err[1024];
	struct sluice_config *cfg;

	(void)state;
	cfg = load("domains = { relay = [ \"a.test\", \"B.test|10.0.0.1:2525\" ]; };\n", err,
		   sizeof(err));
	if (cfg == NULL)
		fail_msg("%s", err);
	assert_int_equal(cfg->relay_domains.count, 2);
	assert_string_equal(cfg->relay_domains.items[0], "a.test");
	assert_string_equal(cfg->relay_domains.items[1], "b.test");
	assert_string_equal(cfg->relay_hops[0].host, "");
	assert_string_equal(cfg->relay_hops[1].host, "10.0.0.1");
	assert_int_equal(cfg->relay_hops[1].port, 2525);
	assert_int_equal(cfg->policyd.recipients.validate, VALIDATE_OFF);
	assert_int_equal(cfg->policyd.recipients.timeout_ms, 5000);
	assert_string_equal(cfg->policyd.recipients.ldap_filter,
			    "(|(mail=%s)(proxyAddresses=smtp:%s))");
	config_free(cfg);

	cfg = load("domains = { relay = [ \"r.test|10.0.0.2\" ]; };\n"
		   "policyd = { recipients = { validate = \"smtp\"; timeout = \"3s\";\n"
		   " positive_ttl = \"2h\"; negative_ttl = 60; concurrency = 2; idle_timeout = 5; }; };\n",
		   err, sizeof(err));
	if (cfg == NULL)
		fail_msg("%s", err);
	assert_int_equal(cfg->policyd.recipients.validate, VALIDATE_SMTP);
	assert_int_equal(cfg->policyd.recipients.timeout_ms, 3000);
	assert_int_equal(cfg->policyd.recipients.positive_ttl, 7200);
	assert_int_equal(cfg->policyd.recipients.negative_ttl, 60);
	assert_int_equal(cfg->policyd.recipients.concurrency, 2);
	assert_int_equal(cfg->policyd.recipients.idle_ms, 5000);
	config_free(cfg);

	cfg = load("policyd = { recipients = { validate = \"ldap\"; ldap_uri = \"ldap://10.0.0.5\";\n"
		   " ldap_base = \"dc=x\"; ldap_filter = \"(mail=%s)\"; }; };\n", err, sizeof(err));
	if (cfg == NULL)
		fail_msg("%s", err);
	assert_int_equal(cfg->policyd.recipients.validate, VALIDATE_LDAP);
	assert_null(cfg->policyd.recipients.ldap_password);
	config_free(cfg);

	expect_refused("domains = { relay = [\n \"a.test|host:99999\" ]; };\n", 2, "port");
	expect_refused("domains = { relay = [ \"a.test\" ]; };\npolicyd = { recipients = {\n"
		       " validate = \"smtp\"; }; };\n", 3, "next hop");
	expect_refused("policyd = { recipients = {\n validate = \"maybe\"; }; };\n", 2, "\"ldap\"");
	expect_refused("policyd = { recipients = {\n valdiate = \"list\"; }; };\n", 2, "valdiate");
	expect_refused("policyd = { recipients = {\n timeout = \"60s\"; }; };\n", 2, "timeout");
	expect_refused("policyd = { recipients = { validate = \"ldap\"; }; };\n", 1, "ldap_uri");
	expect_refused("policyd = { recipients = {\n ldap_filter = \"(mail=%d)\"; }; };\n", 2, "%s");
	expect_refused("policyd = { recipients = {\n ldap_filter = \"(mail=x)\"; }; };\n", 2, "%s");
	expect_refused("policyd = { recipients = {\n ldap_uri = \"http://x\"; }; };\n", 2, "ldap://");
	expect_refused("policyd = { recipients = {\n ldap_password_file = \"/nonexistent/pw\"; }; };\n",
		       2, "/nonexistent/pw");
}

/* The pool: a job runs and comes back; one that waited past its budget
 * comes back timed_out without running. */
struct sleepy {
	struct job base;
	int ran;
	long sleep_ms;
};

static void
sleepy_run(struct job *job, void *thread_state)
{
	struct sleepy *s = (struct sleepy *)job;

	(void)thread_state;
	usleep((useconds_t)s->sleep_ms * 1000);
	s->ran = 1;
}

static void
sleepy_free(struct job *job)
{
	free(job);
}

static struct job *
take(struct job_pool *pool, struct job_inbox *inbox, int fd)
{
	struct job *job;
	uint64_t n;
	int i;

	for (i = 0; i < 300; i++) {
		if ((job = job_inbox_take(pool, inbox)) != NULL)
			return job;
		(void)!read(fd, &n, sizeof(n));
		usleep(10000);
	}
	return NULL;
}

static void
test_job_pool(void **state)
{
	struct job_pool *pool = job_pool_new(1, 4, NULL, NULL);
	struct job_inbox inbox;
	int fd = eventfd(0, EFD_NONBLOCK);
	struct sleepy *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct job *got;

	(void)state;
	job_inbox_init(&inbox, fd);
	a->base.run = b->base.run = sleepy_run;
	a->base.free = b->base.free = sleepy_free;
	a->sleep_ms = 300;
	assert_int_equal(job_pool_submit(pool, &inbox, &a->base, 2000, a), 0);
	/* b waits behind a on the one thread, with a budget shorter than a */
	assert_int_equal(job_pool_submit(pool, &inbox, &b->base, 100, b), 0);
	got = take(pool, &inbox, fd);
	assert_ptr_equal(got, &a->base);
	assert_int_equal(a->ran, 1);
	assert_false(got->timed_out);
	got = take(pool, &inbox, fd);
	assert_ptr_equal(got, &b->base);
	assert_true(got->timed_out);
	assert_int_equal(b->ran, 0);
	free(a);
	free(b);
	job_pool_free(pool);
	close(fd);
}

extern const struct policy_check check_recipients;

/* validate = "list": an unknown mailbox is 550 5.1.1, but a bounce to an
 * SRS address at milter.srs.domain is left to the milter (it checks the
 * hash and age, and reverses it): it is in no mailbox list. */
static void
test_srs_not_judged(void **state)
{
	char err[1024];
	struct sluice_config *cfg = load(
		"domains = { local = [ \"example.test\" ]; };\n"
		"milter = { srs = { domain = \"example.test\"; secret_file = \"/nonexistent\"; }; };\n"
		"policyd = { recipients = { validate = \"list\"; }; };\n", err, sizeof(err));
	struct lists *lists = lists_new("sluice:");
	struct policy_context ctx = { .cfg = cfg, .lists = lists };
	struct policy_request req = { .protocol_state = "RCPT" };
	struct policy_reply reply;
	void *st = NULL;

	(void)state;
	if (cfg == NULL)
		fail_msg("config: %s", err);
	assert_int_equal(check_recipients.open(cfg, &st, err, sizeof(err)), 0);
	assert_non_null(st);
	memset(&reply, 0, sizeof(reply));
	req.recipient = "nobody@example.test";
	assert_int_equal(check_recipients.decide(st, &ctx, &req, &reply), CHECK_FINAL);
	assert_non_null(strstr(reply.action, "5.1.1"));
	memset(&reply, 0, sizeof(reply));
	req.recipient = "SRS0=HHH=TT=sender.test=alice@Example.TEST";
	assert_int_equal(check_recipients.decide(st, &ctx, &req, &reply), CHECK_CONTINUE);
	memset(&reply, 0, sizeof(reply));
	req.recipient = "srs0=hhh=tt=sender.test=alice@other.test";	/* not our SRS domain */
	assert_int_equal(check_recipients.decide(st, &ctx, &req, &reply), CHECK_CONTINUE);
	check_recipients.close(st);
	lists_release(lists);
	config_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay_entries),
		cmocka_unit_test(test_smtp_replies),
		cmocka_unit_test(test_rcpt_path),
		cmocka_unit_test(test_ldap_escape),
		cmocka_unit_test(test_config_recipients),
		cmocka_unit_test(test_job_pool),
		cmocka_unit_test(test_srs_not_judged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
