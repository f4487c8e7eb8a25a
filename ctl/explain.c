/*
 * explain.c - sluice-ctl explain: why would this mail be refused?
 *
 *   sluice-ctl [-c FILE] [--json] explain --client IP --from ADDR --to ADDR
 *       [--to ADDR ...] [--helo NAME] [--sasl USER] [--client-name NAME]
 *
 *   --client IP         the SMTP client's address (required)
 *   --from ADDR         the envelope sender; "" or "<>" for the null sender
 *   --to ADDR           an envelope recipient, up to 32 (at least one)
 *   --helo NAME         the HELO/EHLO name (default: none)
 *   --sasl USER         the client authenticated as USER (SASL)
 *   --client-name NAME  the client's verified host name, used as Postfix's
 *                       client_name and reverse_client_name; without it the
 *                       names come from reverse DNS (PTR, then the forward
 *                       lookup must give the client's address back, as
 *                       Postfix verifies it), and the output says which
 *
 * Prints, changing nothing in Redis and sending no mail, what each check
 * of sluice-policyd (CONNECT, each RCPT, END-OF-MESSAGE) and each module
 * of sluice-milter would decide for the message, and why: one block per
 * check (check, verdict, reason, and the action when it decides), then
 * the answer Postfix would give. --json: one object with "policyd" and
 * "milter" arrays, an object per check. Exit 0 when the message would be
 * accepted for every recipient, 1 when something refuses or defers it,
 * 2 on usage or runtime errors (Redis unreachable: the lists and state
 * are what explain is about).
 *
 * The decisions are the daemons' own code: explain_policyd.c and
 * explain_milter.c say how, and why this shape.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "ctl.h"
#include "explain.h"
#include "network.h"

struct explain_finding *
explain_add(struct explain_report *rep, const char *daemon, const char *stage,
	    const char *check)
{
	struct explain_finding *f;

	if (rep->count >= EXPLAIN_FINDINGS_MAX)
		return NULL;
	f = &rep->f[rep->count++];
	memset(f, 0, sizeof(*f));
	f->daemon = daemon;
	snprintf(f->stage, sizeof(f->stage), "%s", stage);
	f->check = check;
	f->reached = true;
	return f;
}

void
explain_addf(struct explain_finding *f, const char *fmt, ...)
{
	size_t n = strlen(f->reason);
	va_list ap;

	if (n + 1 >= sizeof(f->reason))
		return;
	va_start(ap, fmt);
	vsnprintf(f->reason + n, sizeof(f->reason) - n, fmt, ap);
	va_end(ap);
}

/* Postfix's client_name / reverse_client_name for the address. */
static void
resolve_names(struct explain_input *in)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL, *ai;
	char host[256], back[INET6_ADDRSTRLEN];

	snprintf(in->client_name, sizeof(in->client_name), "unknown");
	snprintf(in->reverse_name, sizeof(in->reverse_name), "unknown");
	in->name_source = "reverse DNS";
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, in->client, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		ss.ss_family = AF_INET;
		len = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, in->client, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		ss.ss_family = AF_INET6;
		len = sizeof(struct sockaddr_in6);
	} else {
		return;
	}
	if (getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), NULL, 0, NI_NAMEREQD) != 0)
		return;
	snprintf(in->reverse_name, sizeof(in->reverse_name), "%s", host);
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return;
	for (ai = res; ai; ai = ai->ai_next) {
		const void *a = ai->ai_family == AF_INET
			? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
			: (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;

		if (inet_ntop(ai->ai_family, a, back, sizeof(back))
		    && strcasecmp(back, in->client) == 0) {
			snprintf(in->client_name, sizeof(in->client_name), "%s", host);
			break;
		}
	}
	freeaddrinfo(res);
}

/* What Postfix answers the client for a policy action. */
static void
smtp_answer(const char *action, char *out, size_t size)
{
	if (strcasecmp(action, "DUNNO") == 0 || strncasecmp(action, "PREPEND ", 8) == 0)
		snprintf(out, size, "accepted by policyd%s",
			 action[0] == 'P' || action[0] == 'p' ? " (with a header)" : "");
	else if (strncasecmp(action, "DEFER_IF_PERMIT ", 16) == 0)
		snprintf(out, size, "450 4.7.1 %s (if the rest permits)", action + 16);
	else if (strncasecmp(action, "DEFER ", 6) == 0)
		snprintf(out, size, "450 4.7.1 %s", action + 6);
	else if (strncasecmp(action, "REJECT ", 7) == 0)
		snprintf(out, size, "554 5.7.1 %s", action + 7);
	else
		snprintf(out, size, "%s", action);
}

static bool
refuses(const char *action)
{
	return !(strcasecmp(action, "DUNNO") == 0 || strncasecmp(action, "PREPEND ", 8) == 0);
}

static void
json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void
print_json(const struct explain_input *in, const struct explain_report *rep, FILE *out)
{
	const char *daemons[] = { "policyd", "milter" };
	char ans[600];
	int d, i, first;

	fprintf(out, "{\"client\":");
	json_string(out, in->client);
	fprintf(out, ",\"client_name\":");
	json_string(out, in->client_name);
	fprintf(out, ",\"reverse_client_name\":");
	json_string(out, in->reverse_name);
	fprintf(out, ",\"client_name_source\":");
	json_string(out, in->name_source);
	for (d = 0; d < 2; d++) {
		fprintf(out, ",\"%s\":[", daemons[d]);
		for (i = 0, first = 1; i < rep->count; i++) {
			const struct explain_finding *f = &rep->f[i];

			if (strcmp(f->daemon, daemons[d]) != 0)
				continue;
			fprintf(out, "%s{\"stage\":", first ? "" : ",");
			first = 0;
			json_string(out, f->stage);
			fprintf(out, ",\"check\":");
			json_string(out, f->check);
			fprintf(out, ",\"verdict\":");
			json_string(out, f->verdict);
			fprintf(out, ",\"final\":%s,\"reached\":%s,\"action\":",
				f->final ? "true" : "false", f->reached ? "true" : "false");
			json_string(out, f->action);
			fprintf(out, ",\"reason\":");
			json_string(out, f->reason[0] == ' ' ? f->reason + 1 : f->reason);
			fputc('}', out);
		}
		fputc(']', out);
	}
	fprintf(out, ",\"answer\":{\"policyd\":{");
	for (i = 0; i < in->nto; i++) {
		smtp_answer(rep->policyd_answer[i], ans, sizeof(ans));
		fprintf(out, "%s", i ? "," : "");
		json_string(out, in->to[i]);
		fputc(':', out);
		json_string(out, ans);
	}
	fprintf(out, "},\"milter\":");
	json_string(out, rep->milter_answer);
	fprintf(out, "}}\n");
}

static void
print_text(const struct explain_input *in, const struct explain_report *rep, FILE *out)
{
	const char *daemon = "";
	char ans[600];
	int i;

	fprintf(out, "client %s, client_name %s, reverse_client_name %s (from %s)\n",
		in->client, in->client_name, in->reverse_name, in->name_source);
	for (i = 0; i < rep->count; i++) {
		const struct explain_finding *f = &rep->f[i];

		if (strcmp(daemon, f->daemon) != 0) {
			daemon = f->daemon;
			fprintf(out, "\n== sluice-%s ==\n", daemon);
		}
		fprintf(out, "\n%-15s %s\n", "check:", f->check);
		fprintf(out, "%-15s %s\n", "stage:", f->stage);
		fprintf(out, "%-15s %s%s\n", "verdict:", f->verdict,
			f->reached ? (f->final ? " (decides)" : "")
			: f->final ? " (would decide; not reached: an earlier check decided)"
			: " (not reached: an earlier check decided)");
		if (f->action[0])
			fprintf(out, "%-15s %s\n", "action:", f->action);
		if (f->reason[0])
			fprintf(out, "%-15s %s\n", "reason:", f->reason[0] == ' ' ? f->reason + 1
				: f->reason);
	}
	fprintf(out, "\n== answer ==\n");
	for (i = 0; i < in->nto; i++) {
		smtp_answer(rep->policyd_answer[i], ans, sizeof(ans));
		fprintf(out, "RCPT TO:<%s>: %s\n", in->to[i], ans);
	}
	fprintf(out, "milter: %s\n", rep->milter_answer);
}

static int
usage_error(const char *why)
{
	fprintf(stderr, "sluice-ctl explain: %s (sluice-ctl -h)\n", why);
	return 2;
}

int
ctl_explain(const struct ctl_opts *opts, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "client", required_argument, NULL, 'c' },
		{ "helo", required_argument, NULL, 'H' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "sasl", required_argument, NULL, 's' },
		{ "client-name", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct explain_input in = { .helo = "" };
	struct explain_report *rep;
	struct explain_env env = { .cfg = opts->cfg };
	struct net_addr addr;
	const char *name = NULL;
	char err[1024];
	int ch, i, status = 0, skipped;
	bool from_set = false;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': in.client = optarg; break;
		case 'H': in.helo = optarg; break;
		case 'f': in.from = optarg; from_set = true; break;
		case 's': in.sasl = optarg; break;
		case 'n': name = optarg; break;
		case 't':
			if (in.nto >= EXPLAIN_RCPT_MAX)
				return usage_error("at most 32 --to");
			in.to[in.nto++] = optarg;
			break;
		default:
			return usage_error("unknown option");
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument");
	if (in.client == NULL || net_addr_parse(in.client, &addr) < 0)
		return usage_error("--client IP is required (an IPv4 or IPv6 address)");
	if (!from_set)
		return usage_error("--from ADDR is required (\"\" for the null sender)");
	if (in.nto == 0)
		return usage_error("--to ADDR is required");
	if (strcmp(in.from, "<>") == 0)
		in.from = "";
	for (i = 0; i < in.nto; i++)
		if (strlen(in.to[i]) > ADDRESS_MAX)
			return usage_error("--to: address too long");
	if (strlen(in.from) > ADDRESS_MAX || strlen(in.helo) > 255
	    || (in.sasl && strlen(in.sasl) > 255) || (name && strlen(name) > 255))
		return usage_error("argument too long");
	if (name) {
		snprintf(in.client_name, sizeof(in.client_name), "%s", name);
		snprintf(in.reverse_name, sizeof(in.reverse_name), "%s", name);
		in.name_source = "--client-name";
	} else {
		resolve_names(&in);
	}
	if ((env.redis = redis_client_new(&opts->cfg->redis)) == NULL) {
		fprintf(stderr, "sluice-ctl explain: out of memory\n");
		return 2;
	}
	env.lists = lists_new(opts->cfg->redis_prefix);
	if (env.lists) {
		const struct lists *old = env.lists;

		env.lists = lists_refresh(old, env.redis, &skipped, err, sizeof(err));
		lists_release(old);
	}
	if (env.lists == NULL) {
		fprintf(stderr, "sluice-ctl explain: reading the lists from Redis: %s\n", err);
		redis_client_free(env.redis);
		return 2;
	}
	if (skipped)
		fprintf(stderr, "sluice-ctl explain: %d list member(s) skipped, as the daemons"
			" skip them (sluice-ctl lists check): %s\n", skipped, err);
	if ((rep = calloc(1, sizeof(*rep))) == NULL) {
		status = 2;
		goto out;
	}
	if (explain_policyd(&env, &in, rep, err, sizeof(err)) < 0
	    || explain_milter(&env, &in, rep, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice-ctl explain: %s\n", err);
		status = 2;
		goto out;
	}
	if (opts->json)
		print_json(&in, rep, stdout);
	else
		print_text(&in, rep, stdout);
	for (i = 0; i < in.nto; i++)
		if (refuses(rep->policyd_answer[i]))
			status = 1;
	if (strcmp(rep->milter_answer, "accept") != 0)
		status = 1;
out:
	free(rep);
	lists_release(env.lists);
	redis_client_free(env.redis);
	return status;
}
