/*
 * explain_milter.c - what each sluice-milter module would do to a
 * message (sluice-ctl explain), with the modules' own code.
 *
 * Interface: explain_milter() (explain.h).
 *
 * How: every module of milter/modules.c's registry is opened on the
 * loaded config and called stage by stage as milter.c's run_stage()
 * calls it (connect, MAIL FROM, each RCPT, the headers, end of headers,
 * the body, end of message), on a message made of the envelope given:
 * From: the sender, To: the recipients, a Subject, Date and Message-ID,
 * a one-line body. What a module asks of Postfix goes to the smfi_*
 * functions defined below instead of libmilter's (the executable's
 * definitions win over the shared library's), which record it: a
 * recipient added or removed (alias expansion, copies), the sender
 * changed (SRS), a header inserted (DKIM-Signature, Authentication-
 * Results), the reply text of a refusal. Re-injecting the external copy
 * of an SRS split (milter/reinject.c) would send mail, so sluice-ctl is
 * linked without reinject.o and reinject_send() below records it too.
 * Why: the modules' decisions (rules, alias resolution, copies, SRS, key
 * choice, which A-R checks run) are their hooks; running those hooks
 * repeats no rule. The signature is really computed (the keys are
 * loaded as the milter loads them); SPF and DMARC of inbound mail ask
 * DNS, within milter.dns_timeout, as the milter does.
 *
 * Contract: one finding per module: its answer (accept, or the stage
 * and reply of a refusal), its log fields from the end of message, and
 * every modification it asked for. No Redis write: the milter reads the
 * lists from the snapshot only (env->lists).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libmilter/mfapi.h>

#include "explain.h"
#include "module.h"
#include "reinject.h"

/* What the modules ask of Postfix, for the finding of the one running. */
struct smfi_str {
	struct explain_finding *f;
	char reply[400];
};

static void
note(SMFICTX *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
note(SMFICTX *ctx, const char *fmt, ...)
{
	char buf[600];
	va_list ap;

	if (ctx == NULL || ctx->f == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	explain_addf(ctx->f, " %s", buf);
}

int
smfi_setreply(SMFICTX *ctx, char *rcode, char *xcode, char *message)
{
	snprintf(ctx->reply, sizeof(ctx->reply), "%s %s %s", rcode ? rcode : "",
		 xcode ? xcode : "", message ? message : "");
	return MI_SUCCESS;
}

int
smfi_addrcpt(SMFICTX *ctx, char *rcpt)
{
	note(ctx, "add-recipient=%s", rcpt);
	return MI_SUCCESS;
}

int
smfi_delrcpt(SMFICTX *ctx, char *rcpt)
{
	note(ctx, "remove-recipient=%s", rcpt);
	return MI_SUCCESS;
}

int
smfi_chgfrom(SMFICTX *ctx, char *from, char *args)
{
	(void)args;
	note(ctx, "change-sender=%s", from);
	return MI_SUCCESS;
}

/* A header as the finding shows it: a DKIM-Signature's b= is noise. */
static void
note_header(SMFICTX *ctx, const char *what, const char *name, const char *value)
{
	char v[400];
	size_t n;

	snprintf(v, sizeof(v), "%s", value ? value : "");
	if (strcasecmp(name, "DKIM-Signature") == 0) {
		char *b = strstr(v, " b=");

		if (b == NULL)
			b = strstr(v, ";b=");
		if (b)
			strcpy(b, " b=...");
	}
	for (n = 0; v[n]; n++)
		if (v[n] == '\r' || v[n] == '\n' || v[n] == '\t')
			v[n] = ' ';
	note(ctx, "%s=\"%s:%s\"", what, name, v);
}

int
smfi_insheader(SMFICTX *ctx, int index, char *name, char *value)
{
	(void)index;
	note_header(ctx, "add-header", name, value);
	return MI_SUCCESS;
}

int
smfi_chgheader(SMFICTX *ctx, char *name, int index, char *value)
{
	(void)index;
	if (value == NULL)
		note(ctx, "remove-header=%s", name);
	else
		note_header(ctx, "change-header", name, value);
	return MI_SUCCESS;
}

int
smfi_quarantine(SMFICTX *ctx, char *reason)
{
	note(ctx, "quarantine=\"%s\"", reason);
	return MI_SUCCESS;
}

/*
 * The module running now, for reinject_send(), which gets no SMFICTX.
 * Owned by explain_milter(): set around each hook, in sluice-ctl's one
 * thread.
 */
static SMFICTX *running;

/* milter/reinject.c is not linked: sluice-ctl never sends mail. */
int
reinject_send(const struct endpoint *ep, int timeout_ms, const char *helo, const char *from,
	      char (*rcpts)[257], size_t nrcpts, const char *msg, size_t len, char *err,
	      size_t errsize)
{
	size_t i;

	(void)ep, (void)timeout_ms, (void)helo, (void)msg, (void)len, (void)err, (void)errsize;
	note(running, "reinject-copy-from=<%s>", from);
	for (i = 0; i < nrcpts; i++)
		note(running, "reinject-copy-to=%s", rcpts[i]);
	return 0;
}

enum stage { S_CONNECT, S_ENVFROM, S_ENVRCPT, S_HEADER, S_EOH, S_BODY, S_EOM };

static const char *const stage_names[] = { "connect", "MAIL FROM", "RCPT", "header",
					   "end of headers", "body", "end of message" };

struct run {
	const struct explain_env *env;
	struct milter_conn conn;
	struct milter_msg msg;
	void *conf[MILTER_MODULES_MAX];
	struct explain_finding *f[MILTER_MODULES_MAX];
	bool stopped[MILTER_MODULES_MAX];
	struct smfi_str ctx;
	struct logline line;
};

static const char *
answer_name(sfsistat r)
{
	switch (r) {
	case SMFIS_REJECT: return "reject";
	case SMFIS_TEMPFAIL: return "tempfail";
	case SMFIS_DISCARD: return "discard";
	case SMFIS_ACCEPT: return "accept";
	default: return "continue";
	}
}

/* One stage of every module, as run_stage(); the answer ends the stage. */
static sfsistat
stage(struct run *run, enum stage st, const char *a, const char *b, struct explain_report *rep)
{
	size_t i;

	for (i = 0; milter_modules[i] && i < MILTER_MODULES_MAX; i++) {
		const struct milter_module *m = milter_modules[i];
		struct milter_call call = { &run->ctx, &run->conn, run->conf[i],
					    st == S_CONNECT ? NULL : &run->msg.state[i] };
		struct explain_finding *f = run->f[i];
		size_t before = run->line.len;
		sfsistat r = SMFIS_CONTINUE;

		if (call.conf == NULL || f == NULL)
			continue;
		run->ctx.f = f;
		run->ctx.reply[0] = '\0';
		running = &run->ctx;
		switch (st) {
		case S_CONNECT: if (m->connect) r = m->connect(&call, run->env->lists); break;
		case S_ENVFROM: if (m->envfrom) r = m->envfrom(&call); break;
		case S_ENVRCPT: if (m->envrcpt) r = m->envrcpt(&call, a); break;
		case S_HEADER: if (m->header) r = m->header(&call, a, b); break;
		case S_EOH: if (m->eoh) r = m->eoh(&call); break;
		case S_BODY:
			if (m->body)
				r = m->body(&call, (const unsigned char *)a, strlen(a));
			break;
		case S_EOM: if (m->eom) r = m->eom(&call, &run->line); break;
		}
		if (st == S_EOM && run->line.len > before)
			explain_addf(f, "%s", run->line.buf + before);
		run->ctx.f = NULL;
		running = NULL;
		if (r == SMFIS_CONTINUE)
			continue;
		if (r == SMFIS_ACCEPT && st != S_EOM)
			continue;	/* the core goes on with the other modules too */
		f->final = true;
		snprintf(f->verdict, sizeof(f->verdict), "%s", answer_name(r));
		snprintf(f->action, sizeof(f->action), "%s at %s%s%s: %s", answer_name(r),
			 stage_names[st], a && st == S_ENVRCPT ? " " : "",
			 a && st == S_ENVRCPT ? a : "",
			 run->ctx.reply[0] ? run->ctx.reply : r == SMFIS_REJECT ? "550 5.7.1"
			 : r == SMFIS_TEMPFAIL ? "451 4.7.1" : "");
		if (st != S_ENVRCPT)
			snprintf(rep->milter_answer, sizeof(rep->milter_answer), "%s", f->action);
		return r;
	}
	return SMFIS_CONTINUE;
}

static void
add_header(struct run *run, const char *name, const char *value, struct explain_report *rep,
	   sfsistat *r)
{
	char v[1100];

	if (*r != SMFIS_CONTINUE)
		return;
	snprintf(v, sizeof(v), " %s", value);	/* with its leading space */
	*r = stage(run, S_HEADER, name, v, rep);
}

int
explain_milter(const struct explain_env *env, const struct explain_input *in,
	       struct explain_report *rep, char *err, size_t errsize)
{
	struct run *run = calloc(1, sizeof(*run));
	struct net_addr addr;
	struct address from;
	char to[1024] = "", date[64], msgid[300];
	sfsistat r;
	time_t now = time(NULL);
	struct tm tm;
	size_t i;
	int k, accepted = 0, rc = 0;

	if (run == NULL) {
		snprintf(err, errsize, "out of memory");
		return -1;
	}
	run->env = env;
	snprintf(rep->milter_answer, sizeof(rep->milter_answer), "accept");
	for (i = 0; milter_modules[i] && i < MILTER_MODULES_MAX; i++) {
		char why[512] = "";

		if (milter_modules[i]->open(env->cfg, &run->conf[i], why, sizeof(why)) < 0) {
			snprintf(err, errsize, "milter module %s: %s", milter_modules[i]->name, why);
			rc = -1;
			goto out;
		}
		if ((run->f[i] = explain_add(rep, "milter", "message", milter_modules[i]->name)))
			snprintf(run->f[i]->verdict, sizeof(run->f[i]->verdict), "%s",
				 run->conf[i] ? "accept" : "off");
	}
	run->conn.cfg = env->cfg;
	snprintf(run->conn.client_addr, sizeof(run->conn.client_addr), "%s", in->client);
	snprintf(run->conn.client_name, sizeof(run->conn.client_name), "%s", in->client_name);
	snprintf(run->conn.helo, sizeof(run->conn.helo), "%s", in->helo);
	run->conn.trusted_network = net_addr_parse(in->client, &addr) == 0
				    && net_list_contains(&env->cfg->trusted_networks, &addr);
	logline_start(&run->line, "EXPLAIN");
	run->line.len = 0;
	run->line.buf[0] = '\0';
	if ((r = stage(run, S_CONNECT, NULL, NULL, rep)) != SMFIS_CONTINUE)
		goto done;
	run->conn.msg = &run->msg;
	run->msg.lists = env->lists;
	snprintf(run->msg.queue_id, sizeof(run->msg.queue_id), "EXPLAIN");
	if (in->sasl)
		snprintf(run->msg.auth_user, sizeof(run->msg.auth_user), "%s", in->sasl);
	if (address_parse(in->from, &from, NULL) == 0)
		snprintf(run->msg.from, sizeof(run->msg.from), "%s", from.full);
	else
		snprintf(run->msg.from, sizeof(run->msg.from), "%s", in->from);
	run->msg.outbound = run->conn.trusted_network || run->msg.auth_user[0] != '\0';
	if ((r = stage(run, S_ENVFROM, NULL, NULL, rep)) != SMFIS_CONTINUE)
		goto done;
	for (k = 0; k < in->nto; k++) {
		char bracketed[ADDRESS_MAX + 3];

		snprintf(bracketed, sizeof(bracketed), "<%s>", in->to[k]);
		if (stage(run, S_ENVRCPT, bracketed, NULL, rep) == SMFIS_CONTINUE) {
			run->msg.rcpt_count++;
			accepted++;
			snprintf(to + strlen(to), sizeof(to) - strlen(to), "%s%s",
				 accepted > 1 ? ", " : "", in->to[k]);
		}
	}
	if (accepted == 0) {
		snprintf(rep->milter_answer, sizeof(rep->milter_answer),
			 "every recipient refused at RCPT");
		goto done;
	}
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	snprintf(msgid, sizeof(msgid), "<explain.%ld@%s>", (long)now, env->cfg->hostname);
	r = SMFIS_CONTINUE;
	add_header(run, "From", in->from[0] ? in->from : "<>", rep, &r);
	add_header(run, "To", to, rep, &r);
	add_header(run, "Subject", "sluice-ctl explain", rep, &r);
	add_header(run, "Date", date, rep, &r);
	add_header(run, "Message-ID", msgid, rep, &r);
	if (r != SMFIS_CONTINUE || (r = stage(run, S_EOH, NULL, NULL, rep)) != SMFIS_CONTINUE
	    || (r = stage(run, S_BODY, "sluice-ctl explain\r\n", NULL, rep)) != SMFIS_CONTINUE)
		goto done;
	r = stage(run, S_EOM, NULL, NULL, rep);
done:
	/* modules after the one that ended the message were not asked */
	for (i = 0; milter_modules[i] && i < MILTER_MODULES_MAX; i++) {
		if (run->f[i] == NULL)
			continue;
		run->f[i]->reached = true;
		if (r != SMFIS_CONTINUE && r != SMFIS_ACCEPT) {
			size_t j;

			for (j = 0; j < i; j++)
				if (run->f[j] && run->f[j]->final && !strstr(run->f[j]->action, " at RCPT"))
					run->f[i]->reached = false;
		}
		if (run->msg.state[i] && milter_modules[i]->msg_free)
			milter_modules[i]->msg_free(run->msg.state[i]);
	}
out:
	for (i = 0; milter_modules[i] && i < MILTER_MODULES_MAX; i++)
		if (run->conf[i])
			milter_modules[i]->close(run->conf[i]);
	free(run);
	return rc;
}
