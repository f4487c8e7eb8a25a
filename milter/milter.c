/*
 * milter.c - libmilter callbacks and the state they keep.
 *
 * libmilter runs one thread per SMTP connection; everything a connection
 * keeps lives in its private data (struct session). The only shared
 * state, the current config and the list cache, is milter_config.c's:
 * a connection holds a reference to one config and moves to a newer one
 * only between messages.
 *
 * Postfix facts this code relies on (see NOTES.md): xxfi_close may be the
 * only callback (private data may be NULL); xxfi_abort ends a message,
 * not the connection, and excludes xxfi_eom; the queue ID macro "i" may
 * not exist before the first accepted RCPT, so it is read again at end of
 * message; modifications are allowed only in xxfi_eom.
 *
 * No-reply stages: we negotiate SMFIP_NR_CONN, _HELO, _HDR, _EOH and
 * _BODY, so Postfix sends those events without waiting for an answer to
 * each (one round trip per message instead of one per header: see
 * bench/RESULTS-auth.md). At those stages the callbacks answer
 * SMFIS_NOREPLY; a module's other answer there (a tempfail when it runs
 * out of memory) is kept as the deferred verdict and given at the next
 * stage that has a reply: MAIL FROM for connect and HELO, end of message
 * for header, end of headers and body. The client sees the same 4xx/5xx,
 * one command later; no mail is accepted that a module refused.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "endpoint.h"
#include "log.h"
#include "metrics_sluice.h"
#include "milter.h"
#include "milter_config.h"
#include "module.h"

static unsigned long milter_actions;	/* set in milter_open, before threads */

/* Per-connection private data: the public part modules see, plus ours. */
struct session {
	struct milter_conn conn;
	struct config_ref *ref;
	struct milter_msg msg;
	unsigned long noreply;		/* SMFIP_NR_* negotiated */
	sfsistat conn_verdict;		/* deferred from connect/HELO, or CONTINUE */
	sfsistat msg_verdict;		/* deferred from header/EOH/body, or CONTINUE */
};

/* What cb_negotiate agreed for this connection, handed to cb_connect:
 * libmilter calls both in the connection's own thread, one after the
 * other, so a thread-local is owned by that connection alone. */
static _Thread_local unsigned long negotiated_noreply;

/* The answer to libmilter at a stage whose no-reply bit is `bit`. */
static sfsistat
reply_or_defer(const struct session *s, unsigned long bit, sfsistat r, sfsistat *deferred)
{
	if (!((s ? s->noreply : negotiated_noreply) & bit))
		return r;
	if (s == NULL)
		return SMFIS_NOREPLY;	/* no session: MAIL FROM tempfails */
	if (r != SMFIS_CONTINUE && *deferred == SMFIS_CONTINUE)
		*deferred = r;
	return SMFIS_NOREPLY;
}

static struct session *
session_of(SMFICTX *ctx)
{
	return smfi_getpriv(ctx);
}

static void
message_end(struct session *s)
{
	size_t i;

	if (s->conn.msg == NULL)
		return;
	for (i = 0; milter_modules[i]; i++)
		if (s->msg.state[i] && milter_modules[i]->msg_free)
			milter_modules[i]->msg_free(s->msg.state[i]);
	lists_release(s->msg.lists);
	memset(&s->msg, 0, sizeof(s->msg));
	s->conn.msg = NULL;
	s->msg_verdict = SMFIS_CONTINUE;
}

static void
copy_macro(SMFICTX *ctx, const char *name, char *dst, size_t size)
{
	const char *v = smfi_getsymval(ctx, (char *)(uintptr_t)name);

	if (v && *v)
		snprintf(dst, size, "%s", v);
}

static void
sockaddr_text(const struct sockaddr *sa, char *buf, size_t size)
{
	buf[0] = '\0';
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
			  (socklen_t)size);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf,
			  (socklen_t)size);
}

/* What the connection derives from its config (s->ref). */
static void
session_use_config(struct session *s)
{
	struct net_addr addr;

	s->conn.cfg = s->ref->cfg;
	s->conn.trusted_network = net_addr_parse(s->conn.client_addr, &addr) == 0
	    && net_list_contains(&s->conn.cfg->trusted_networks, &addr);
}

/* Between messages: move to the current config if a reload made a newer
 * one (see the comment at the top). */
static void
session_refresh_config(struct session *s)
{
	if (config_session_refresh(&s->ref))
		session_use_config(s);
}

enum stage { STAGE_CONNECT, STAGE_ENVFROM, STAGE_ENVRCPT, STAGE_HEADER, STAGE_EOH, STAGE_BODY, STAGE_EOM };

/* The HELO name is SPF's identity for the null sender (RFC 7208 2.3). */
static sfsistat
cb_helo(SMFICTX *ctx, char *helo)
{
	struct session *s = session_of(ctx);
	size_t i;

	if (s == NULL)	/* connect failed: MAIL FROM will tempfail */
		return negotiated_noreply & SMFIP_NR_HELO ? SMFIS_NOREPLY : SMFIS_TEMPFAIL;
	snprintf(s->conn.helo, sizeof(s->conn.helo), "%s", helo ? helo : "");
	for (i = 0; s->conn.helo[i]; i++)	/* never a control byte in a name */
		if ((unsigned char)s->conn.helo[i] < 0x21 || s->conn.helo[i] == 0x7f)
			s->conn.helo[i] = '?';
	return reply_or_defer(s, SMFIP_NR_HELO, SMFIS_CONTINUE, &s->conn_verdict);
}


struct stage_args {
	const struct lists *lists;	/* STAGE_CONNECT's snapshot */
	const char *rcpt;
	const char *name, *value;
	const unsigned char *chunk;
	size_t len;
	struct logline *line;
};

/* Runs one stage's hook of every module, in registry order; the first
 * answer other than SMFIS_CONTINUE ends the stage and goes to Postfix. */
static sfsistat
run_stage(SMFICTX *ctx, struct session *s, enum stage stage, const struct stage_args *a)
{
	size_t i;

	for (i = 0; milter_modules[i]; i++) {
		const struct milter_module *m = milter_modules[i];
		struct milter_call call = { ctx, &s->conn, s->ref->module_conf[i],
					    stage == STAGE_CONNECT ? NULL : &s->msg.state[i] };
		sfsistat r = SMFIS_CONTINUE;

		if (call.conf == NULL)
			continue;	/* the module is off in this config */
		switch (stage) {
		case STAGE_CONNECT:
			if (m->connect) r = m->connect(&call, a->lists);
			break;
		case STAGE_ENVFROM:
			if (m->envfrom) r = m->envfrom(&call);
			break;
		case STAGE_ENVRCPT:
			if (m->envrcpt) r = m->envrcpt(&call, a->rcpt);
			break;
		case STAGE_HEADER:
			if (m->header) r = m->header(&call, a->name, a->value);
			break;
		case STAGE_EOH:
			if (m->eoh) r = m->eoh(&call);
			break;
		case STAGE_BODY:
			if (m->body) r = m->body(&call, a->chunk, a->len);
			break;
		case STAGE_EOM:
			if (m->eom) {
				uint64_t t0 = metric_now_ns();

				r = m->eom(&call, a->line);
				metric_milter_module((int)i, metric_now_ns() - t0);
			}
			break;
		}
		if (r != SMFIS_CONTINUE)
			return r;
	}
	return SMFIS_CONTINUE;
}

static sfsistat
cb_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *hostaddr)
{
	struct session *s = calloc(1, sizeof(*s));
	struct stage_args a = { 0 };
	/* Without a session every later stage tempfails (MAIL FROM first). */
	sfsistat fail = negotiated_noreply & SMFIP_NR_CONN ? SMFIS_NOREPLY : SMFIS_TEMPFAIL;
	sfsistat r;

	if (s == NULL)
		return fail;
	s->noreply = negotiated_noreply;
	s->conn_verdict = s->msg_verdict = SMFIS_CONTINUE;
	if ((s->ref = config_session_open()) == NULL) {
		free(s);	/* stopping: the config is gone already */
		return fail;
	}
	/* Without a verified name libmilter passes "[address]"; log it the
	 * way Postfix does, as "unknown". */
	snprintf(s->conn.client_name, sizeof(s->conn.client_name), "%s",
		 hostname && hostname[0] != '[' ? hostname : "unknown");
	sockaddr_text((const struct sockaddr *)hostaddr, s->conn.client_addr,
		      sizeof(s->conn.client_addr));
	session_use_config(s);
	smfi_setpriv(ctx, s);
	a.lists = milter_lists_snapshot();	/* for the connect hooks only */
	r = run_stage(ctx, s, STAGE_CONNECT, &a);
	lists_release(a.lists);
	return reply_or_defer(s, SMFIP_NR_CONN, r, &s->conn_verdict);
}

/*
 * A sender Postfix accepted but address_parse() refuses (a local part
 * over 64 octets is one Postfix lets through) is still a sender, not the
 * null sender <>: keep Postfix's text without its <>, control bytes as
 * '?', cut to fit with "..." at the cut, and mark it, so the log agrees
 * with Postfix's line for the queue ID and no rule takes it for <>.
 */
static void
keep_unparsed_sender(const char *arg, struct milter_msg *msg)
{
	size_t n, i, max = sizeof(msg->from) - 1;

	if (arg == NULL)
		arg = "";
	if (*arg == '<')
		arg++;
	n = strlen(arg);
	if (n > 0 && arg[n - 1] == '>')
		n--;
	for (i = 0; i < n && i < max; i++) {
		unsigned char c = (unsigned char)arg[i];

		msg->from[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	if (n > max)
		memcpy(msg->from + max - 3, "...", 3);
	msg->from[i] = '\0';
	msg->from_unparsable = true;
}

static sfsistat
cb_envfrom(SMFICTX *ctx, char **argv)
{
	struct session *s = session_of(ctx);
	struct stage_args a = { 0 };
	struct address from;

	if (s == NULL)
		return SMFIS_TEMPFAIL;
	if (s->conn_verdict != SMFIS_CONTINUE)
		return s->conn_verdict;	/* deferred from connect or HELO */
	message_end(s);		/* a new MAIL FROM after RSET */
	session_refresh_config(s);
	s->conn.msg = &s->msg;
	s->msg.lists = milter_lists_snapshot();	/* one for the whole message */
	copy_macro(ctx, "i", s->msg.queue_id, sizeof(s->msg.queue_id));
	copy_macro(ctx, "{auth_authen}", s->msg.auth_user, sizeof(s->msg.auth_user));
	if (argv[0] && address_parse(argv[0], &from, NULL) == 0)
		snprintf(s->msg.from, sizeof(s->msg.from), "%s", from.full);
	else
		keep_unparsed_sender(argv[0], &s->msg);
	s->msg.outbound = s->conn.trusted_network || s->msg.auth_user[0] != '\0';
	return run_stage(ctx, s, STAGE_ENVFROM, &a);
}

static sfsistat
cb_envrcpt(SMFICTX *ctx, char **argv)
{
	struct session *s = session_of(ctx);
	struct stage_args a = { .rcpt = argv[0] };
	sfsistat r;

	if (s == NULL || s->conn.msg == NULL)
		return SMFIS_TEMPFAIL;
	if ((r = run_stage(ctx, s, STAGE_ENVRCPT, &a)) == SMFIS_CONTINUE)
		s->msg.rcpt_count++;
	return r;
}

static sfsistat
cb_header(SMFICTX *ctx, char *name, char *value)
{
	struct session *s = session_of(ctx);
	struct stage_args a = { .name = name, .value = value };

	if (s == NULL || s->conn.msg == NULL)
		return reply_or_defer(s, SMFIP_NR_HDR, SMFIS_TEMPFAIL, &(sfsistat){ 0 });
	if (s->msg_verdict != SMFIS_CONTINUE)
		return reply_or_defer(s, SMFIP_NR_HDR, s->msg_verdict, &s->msg_verdict);
	return reply_or_defer(s, SMFIP_NR_HDR, run_stage(ctx, s, STAGE_HEADER, &a), &s->msg_verdict);
}

static sfsistat
cb_eoh(SMFICTX *ctx)
{
	struct session *s = session_of(ctx);
	struct stage_args a = { 0 };

	if (s == NULL || s->conn.msg == NULL)
		return reply_or_defer(s, SMFIP_NR_EOH, SMFIS_TEMPFAIL, &(sfsistat){ 0 });
	if (s->msg_verdict != SMFIS_CONTINUE)
		return reply_or_defer(s, SMFIP_NR_EOH, s->msg_verdict, &s->msg_verdict);
	return reply_or_defer(s, SMFIP_NR_EOH, run_stage(ctx, s, STAGE_EOH, &a), &s->msg_verdict);
}

static sfsistat
cb_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	struct session *s = session_of(ctx);
	struct stage_args a = { .chunk = chunk, .len = len };

	if (s == NULL || s->conn.msg == NULL)
		return reply_or_defer(s, SMFIP_NR_BODY, SMFIS_TEMPFAIL, &(sfsistat){ 0 });
	if (s->msg_verdict != SMFIS_CONTINUE)
		return reply_or_defer(s, SMFIP_NR_BODY, s->msg_verdict, &s->msg_verdict);
	return reply_or_defer(s, SMFIP_NR_BODY, run_stage(ctx, s, STAGE_BODY, &a), &s->msg_verdict);
}

static const char *
stage_result_name(sfsistat r)
{
	switch (r) {
	case SMFIS_CONTINUE:
	case SMFIS_ACCEPT:
		return "accept";
	case SMFIS_REJECT:
		return "reject";
	case SMFIS_DISCARD:
		return "discard";
	case SMFIS_TEMPFAIL:
		return "tempfail";
	default:
		return "other";
	}
}

static sfsistat
cb_eom(SMFICTX *ctx)
{
	struct session *s = session_of(ctx);
	struct logline line, verdicts;
	struct stage_args a = { .line = &verdicts };
	sfsistat r;

	if (s == NULL || s->conn.msg == NULL)
		return SMFIS_TEMPFAIL;
	/* The queue ID may only be known now (see the comment at the top). */
	copy_macro(ctx, "i", s->msg.queue_id, sizeof(s->msg.queue_id));
	verdicts.len = 0;
	verdicts.buf[0] = '\0';
	verdicts.truncated = false;
	if ((r = s->msg_verdict) == SMFIS_CONTINUE)
		r = run_stage(ctx, s, STAGE_EOM, &a);
	else
		logline_add(&verdicts, "deferred", "header-or-body-stage");
	logline_start(&line, s->msg.queue_id);
	logline_add(&line, "milter", stage_result_name(r));
	logline_add_client(&line, s->conn.client_name, s->conn.client_addr);
	logline_add_addr(&line, "from", s->msg.from);
	if (s->msg.from_unparsable)
		logline_add(&line, "from_status", "unparsable");
	logline_addf(&line, "nrcpt", "%u", s->msg.rcpt_count);
	logline_add(&line, "direction", s->msg.outbound ? "outbound" : "inbound");
	if (s->msg.auth_user[0])
		logline_add(&line, "sasl_username", s->msg.auth_user);
	logline_concat(&line, &verdicts);
	log_line(LOG_INFO, &line);
	metric_milter_message(stage_result_name(r), &verdicts);
	message_end(s);
	return r;
}

static sfsistat
cb_abort(SMFICTX *ctx)
{
	struct session *s = session_of(ctx);

	if (s)
		message_end(s);
	return SMFIS_CONTINUE;
}

static sfsistat
cb_close(SMFICTX *ctx)
{
	struct session *s = session_of(ctx);

	if (s == NULL)
		return SMFIS_CONTINUE;	/* close may be the only callback */
	message_end(s);
	smfi_setpriv(ctx, NULL);
	config_session_close(s->ref);
	free(s);
	return SMFIS_CONTINUE;
}

/*
 * Ask Postfix only for what we use: fewer macros and no unknown command
 * or DATA callbacks means fewer round trips per message; and no replies
 * to connect, HELO (SPF needs its name), headers, end of headers and body
 * (see the comment at the top; libmilter fakes them for an MTA without
 * the feature, and offers them in f1 in any case). Header
 * values with their leading space are what DKIM canonicalization needs.
 */
#define MILTER_NOREPLY (SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_HDR | SMFIP_NR_EOH | SMFIP_NR_BODY)
static sfsistat
cb_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
	     unsigned long f2, unsigned long f3, unsigned long *pf0,
	     unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	unsigned long want = SMFIP_NOUNKNOWN | SMFIP_NODATA | SMFIP_HDR_LEADSPC | MILTER_NOREPLY;

	(void)f2;
	(void)f3;
	*pf0 = f0 & milter_actions;
	*pf1 = f1 & want;
	negotiated_noreply = *pf1 & MILTER_NOREPLY;
	*pf2 = *pf3 = 0;
	smfi_setsymlist(ctx, SMFIM_CONNECT, (char *)(uintptr_t)"j {daemon_name} {client_addr} {client_name}");
	smfi_setsymlist(ctx, SMFIM_ENVFROM, (char *)(uintptr_t)"i {auth_type} {auth_authen} {mail_addr}");
	smfi_setsymlist(ctx, SMFIM_ENVRCPT, (char *)(uintptr_t)"i {rcpt_addr}");
	smfi_setsymlist(ctx, SMFIM_EOM, (char *)(uintptr_t)"i");
	return SMFIS_CONTINUE;
}

int
milter_open(const struct sluice_config *cfg, struct endpoint_bound *bound, char *err,
	    size_t errsize)
{
	static struct smfiDesc desc = {
		.xxfi_name = (char *)(uintptr_t)"sluice-milter",
		.xxfi_version = SMFI_VERSION,
		.xxfi_connect = cb_connect,
		.xxfi_helo = cb_helo,
		.xxfi_envfrom = cb_envfrom,
		.xxfi_envrcpt = cb_envrcpt,
		.xxfi_header = cb_header,
		.xxfi_eoh = cb_eoh,
		.xxfi_body = cb_body,
		.xxfi_eom = cb_eom,
		.xxfi_abort = cb_abort,
		.xxfi_close = cb_close,
		.xxfi_negotiate = cb_negotiate,
	};
	const struct endpoint *ep = &cfg->milter.listen;
	char conn[sizeof(ep->path) + 300], temp[sizeof(ep->path)];
	mode_t old_umask;
	size_t i;
	int rc;

	memset(bound, 0, sizeof(*bound));
	desc.xxfi_flags = SMFIF_SETSYMLIST;
	for (i = 0; milter_modules[i]; i++)
		desc.xxfi_flags |= milter_modules[i]->flags;
	milter_actions = desc.xxfi_flags;
	if (i > MILTER_MODULES_MAX) {
		snprintf(err, errsize, "more modules than MILTER_MODULES_MAX");
		return -1;
	}
	/*
	 * A unix socket: libmilter binds a temporary name and we rename it
	 * into place (endpoint_publish). libmilter unlinks "its" path when
	 * its listener stops, whatever socket is there by then (it accepts
	 * any socket, not only its own inode); its path is the temporary
	 * name, gone after the rename, so it can never remove the socket of
	 * a newer instance. We remove ours at exit (endpoint_remove).
	 */
	if (ep->kind == ENDPOINT_UNIX) {
		if (endpoint_temp_path(ep, temp, sizeof(temp), err, errsize) < 0)
			return -1;
		snprintf(conn, sizeof(conn), "unix:%s", temp);
	} else if (endpoint_to_milter(ep, conn, sizeof(conn)) < 0) {
		snprintf(err, errsize, "listen address too long");
		return -1;
	}
	if (smfi_register(desc) == MI_FAILURE || smfi_setconn(conn) == MI_FAILURE) {
		snprintf(err, errsize, "cannot register with libmilter");
		return -1;
	}
	old_umask = umask(0177);	/* 0600 until published */
	rc = smfi_opensocket(true);
	umask(old_umask);
	if (rc == MI_FAILURE) {
		snprintf(err, errsize, "cannot listen on %s (see the log)", conn);
		return -1;
	}
	if (ep->kind == ENDPOINT_UNIX && endpoint_publish(temp, ep, bound, err, errsize) < 0)
		return -1;
	return 0;
}
