/*
 * dkim_parse.c - the From: domain and the identity of existing
 * signatures (see dkim_parse.h).
 *
 * Why a scanner of our own rather than the core's address parser: that
 * one reads SMTP envelope paths (RFC 5321), while From: is an RFC 5322
 * mailbox with display names, comments and quoted strings, where an '@'
 * or '<' inside quotes or parentheses means nothing. The scanner tracks
 * those states in one pass and copies at most DKIM_DOMAIN_MAX bytes.
 *
 * Why refuse several mailboxes: a From: with two authors has no single
 * domain to sign for, and DMARC verifiers reject such mail anyway;
 * signing with the first author's key would lend our name to the other.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dkim_parse.h"

struct from_scan {
	char addr[2 * DKIM_DOMAIN_MAX];
	size_t len;
	long at;		/* position after the last unquoted '@', or -1 */
	int comment;		/* nesting depth of ( ) */
	bool quoted, escaped;
	bool in_angle, angle_done;
	bool content;		/* this mailbox has begun */
	bool comma;		/* a ',' came after it */
	bool gap;		/* space or comment after an address outside <> */
	bool overflow;
};

static void
scan_keep(struct from_scan *s, char c, bool quoted)
{
	if (s->in_angle || !s->angle_done) {
		if (s->len + 1 >= sizeof(s->addr)) {
			s->overflow = true;
			return;
		}
		s->addr[s->len++] = c;
		if (c == '@' && !quoted)
			s->at = (long)s->len;
	}
	s->content = true;
}

/* One character outside quotes and comments; -1 with a reason to stop. */
static int
scan_plain(struct from_scan *s, char c, const char **why)
{
	if (c == '(' || c == ' ' || c == '\t' || c == '\r' || c == '\n') {
		/* "a@x.test b@y.test": two addresses without a comma. Taking
		 * the domain after the last '@' would sign for the second
		 * while readers see the first; refuse it as several. */
		if (!s->in_angle && !s->angle_done && s->at >= 0)
			s->gap = true;
		if (c == '(')
			s->comment = 1;
		return 0;
	}
	if (s->gap && c != '<' && c != ',') {
		*why = "several mailboxes";
		return -1;
	}
	if (c == ',' && !s->in_angle) {
		s->comma = true;
		return 0;
	}
	if ((s->comma && s->content) || (c == '<' && s->angle_done)) {
		*why = "several mailboxes";
		return -1;
	}
	if ((c == ':' || c == ';') && !s->in_angle) {
		*why = "group syntax instead of a mailbox";
		return -1;
	}
	if (c == '<' && !s->in_angle) {
		s->len = 0;	/* what came before was a display name */
		s->at = -1;
		s->gap = false;
		s->overflow = false;	/* a long name is no long address */
		s->in_angle = true;
		s->content = true;
		return 0;
	}
	if (c == '>' && s->in_angle) {
		s->in_angle = false;
		s->angle_done = true;
		return 0;
	}
	if (c == '"')
		s->quoted = true;
	scan_keep(s, c, false);
	return 0;
}

static void
scan_special(struct from_scan *s, char c)
{
	if (s->escaped) {
		s->escaped = false;
		if (s->quoted)
			scan_keep(s, c, true);
		return;
	}
	if (c == '\\') {
		s->escaped = true;
		if (s->quoted)
			scan_keep(s, c, true);
		return;
	}
	if (s->comment > 0) {
		if (c == '(')
			s->comment++;
		else if (c == ')')
			s->comment--;
		return;
	}
	/* In a quoted string. */
	if (c == '"')
		s->quoted = false;
	scan_keep(s, c, true);
}

static int
domain_copy(const char *src, char *domain, size_t size, const char **why)
{
	size_t n = strlen(src), i;

	while (n > 0 && src[n - 1] == '.')
		n--;		/* "a@example.com." is example.com */
	if (n == 0 || src[0] == '[') {
		*why = n == 0 ? "no domain" : "an address literal, not a domain";
		return -1;
	}
	if (n >= size || n > DKIM_DOMAIN_MAX) {
		*why = "domain too long";
		return -1;
	}
	for (i = 0; i < n; i++) {
		char c = src[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'
		      || c == '_' || (c == '.' && i > 0 && domain[i - 1] != '.'))) {
			*why = "invalid domain";
			return -1;
		}
		domain[i] = c;
	}
	domain[n] = '\0';
	return 0;
}

int
dkim_from_domain(const char *value, char *domain, size_t size, const char **why)
{
	struct from_scan s;
	const char *p;

	memset(&s, 0, sizeof(s));
	s.at = -1;
	*why = "no address";
	for (p = value; *p; p++) {
		if (s.escaped || s.comment > 0 || s.quoted)
			scan_special(&s, *p);
		else if (scan_plain(&s, *p, why) < 0)
			return -1;
	}
	if (s.overflow) {
		*why = "address too long";
		return -1;
	}
	if (s.in_angle || s.quoted || s.comment > 0) {
		*why = "unbalanced <>, quotes or parentheses";
		return -1;
	}
	s.addr[s.len] = '\0';
	if (s.at < 0) {
		*why = "no address";
		return -1;
	}
	return domain_copy(s.addr + s.at, domain, size, why);
}

/* Copies value without whitespace; -1 if it does not fit. */
static int
copy_tag_value(const char *v, size_t n, char *out, size_t size)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n')
			continue;
		if (o + 1 >= size)
			return -1;
		out[o++] = v[i];
	}
	out[o] = '\0';
	return 0;
}

int
dkim_sig_identity(const char *value, char *d, size_t dsize, char *s, size_t ssize)
{
	const char *p = value, *end, *eq;
	int rc = 0;

	d[0] = s[0] = '\0';
	while (*p) {
		end = strchr(p, ';');
		if (end == NULL)
			end = p + strlen(p);
		while (p < end && strchr(" \t\r\n", *p))
			p++;
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq != NULL) {
			const char *t = eq;

			while (t > p && strchr(" \t\r\n", t[-1]))
				t--;
			if (t - p == 1 && *p == 'd')
				rc |= copy_tag_value(eq + 1, (size_t)(end - eq - 1), d, dsize);
			else if (t - p == 1 && *p == 's')
				rc |= copy_tag_value(eq + 1, (size_t)(end - eq - 1), s, ssize);
		}
		p = *end ? end + 1 : end;
	}
	return rc;
}
