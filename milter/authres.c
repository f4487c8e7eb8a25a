/*
 * authres.c - Authentication-Results values (see authres.h).
 *
 * Grammar (RFC 8601 2.2, RFC 2045 token, RFC 5322 CFWS):
 *   value  = [CFWS] authserv-id [CFWS [version]] ( ";" resinfo *(";" resinfo)
 *            / [CFWS] ";" [CFWS] "none" )
 *   resinfo = [CFWS] method [CFWS] "=" [CFWS] result [CFWS reasonspec]
 *             [CFWS 1*propspec]
 *   propspec = ptype [CFWS] "." [CFWS] property [CFWS] "=" pvalue
 *   pvalue = [CFWS] ( value / [ [ local-part ] "@" ] domain-name ) [CFWS]
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "authres.h"

/* RFC 2045 token: printable ASCII but space and tspecials. */
static bool
is_token_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* RFC 5322 atext (for dot-atom local parts). */
static bool
is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
	    || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static bool
is_dot_atom(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (i = 0; i < n; i++)
		if (!(is_atext((unsigned char)s[i]) || (s[i] == '.' && s[i - 1] != '.')))
			return false;
	return true;
}

static bool
is_token(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!is_token_char((unsigned char)*s))
			return false;
	return true;
}

/* [local-part] "@" domain-name, with a dot-atom local part. */
static bool
is_bare_address(const char *s)
{
	const char *at = strrchr(s, '@');

	if (at == NULL)
		return false;
	if (at != s && !is_dot_atom(s, (size_t)(at - s)))
		return false;
	return is_dot_atom(at + 1, strlen(at + 1)) && strchr(at + 1, '@') == NULL
	    && strspn(at + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
	       == strlen(at + 1);
}

void
authres_pvalue(char *out, size_t size, const char *value)
{
	size_t o = 0;
	const unsigned char *p;

	if (size == 0)
		return;
	if (is_token(value) || is_bare_address(value)) {
		snprintf(out, size, "%s", value);
		return;
	}
	if (size < 3) {
		out[0] = '\0';
		return;
	}
	out[o++] = '"';
	for (p = (const unsigned char *)value; *p && o + 3 < size; p++) {
		if (*p == '"' || *p == '\\') {
			out[o++] = '\\';
			out[o++] = (char)*p;
		} else if (*p < 0x20 || *p == 0x7f || *p >= 0x80) {
			out[o++] = '?';
		} else {
			out[o++] = (char)*p;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
}

void
authres_start(struct authres *ar, const char *authserv_id)
{
	ar->len = (size_t)snprintf(ar->buf, sizeof(ar->buf), " %s", authserv_id);
	if (ar->len >= sizeof(ar->buf))
		ar->len = sizeof(ar->buf) - 1;
	ar->results = 0;
	ar->overflow = false;
}

void
authres_add(struct authres *ar, const char *method, const char *result, const char *comment,
	    const char *const *props)
{
	char piece[2048], pv[1024];
	size_t n;
	int w;

	w = snprintf(piece, sizeof(piece), ";\n\t%s=%s", method, result);
	n = w < 0 ? sizeof(piece) : (size_t)w;
	if (comment && n < sizeof(piece)) {
		w = snprintf(piece + n, sizeof(piece) - n, " (%s)", comment);
		n += w < 0 ? sizeof(piece) : (size_t)w;
	}
	for (; props && props[0] && props[1] && n < sizeof(piece); props += 2) {
		authres_pvalue(pv, sizeof(pv), props[1]);
		w = snprintf(piece + n, sizeof(piece) - n, " %s=%s", props[0], pv);
		n += w < 0 ? sizeof(piece) : (size_t)w;
	}
	if (n >= sizeof(piece) || ar->len + n >= sizeof(ar->buf)) {
		ar->overflow = true;
		return;
	}
	memcpy(ar->buf + ar->len, piece, n + 1);
	ar->len += n;
	ar->results++;
}

const char *
authres_value(struct authres *ar)
{
	if (ar->results == 0 && ar->len + 6 < sizeof(ar->buf)) {
		memcpy(ar->buf + ar->len, "; none", 7);
		ar->len += 6;
	}
	return ar->buf;
}

/* Skips CFWS: whitespace and nested comments; -1 on an open comment. */
static int
skip_cfws(const char **pp)
{
	const char *p = *pp;
	int depth = 0;

	for (; *p; p++) {
		if (depth > 0) {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '(')
				depth++;
			else if (*p == ')')
				depth--;
		} else if (*p == '(') {
			depth = 1;
		} else if (!(*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
			break;
		}
	}
	*pp = p;
	return depth == 0 ? 0 : -1;
}

int
authres_authserv_id(const char *value, char *out, size_t size)
{
	const char *p = value;
	size_t o = 0;

	if (size == 0 || skip_cfws(&p) < 0)
		return -1;
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1])
				p++;
			if (o + 1 >= size)
				return -1;
			out[o++] = *p;
		}
		if (*p != '"')
			return -1;
	} else {
		/* RFC 8601 allows a domain-name or a token; both are token chars. */
		for (; is_token_char((unsigned char)*p); p++) {
			if (o + 1 >= size)
				return -1;
			out[o++] = *p;
		}
	}
	out[o] = '\0';
	return o > 0 ? 0 : -1;
}

void
authres_add_raw(struct authres *ar, const char *resinfo)
{
	size_t n = strlen(resinfo);

	if (ar->len + n + 4 >= sizeof(ar->buf)) {
		ar->overflow = true;
		return;
	}
	memcpy(ar->buf + ar->len, ";\n\t", 3);
	memcpy(ar->buf + ar->len + 3, resinfo, n + 1);
	ar->len += n + 3;
	ar->results++;
}
