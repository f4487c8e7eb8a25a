/*
 * dkim_parse.c - the From: author and the identity of existing
 * signatures (see dkim_parse.h).
 *
 * Why a parser of our own rather than the core's address parser: that
 * one reads SMTP envelope paths (RFC 5321), while From: is an RFC 5322
 * mailbox with display names, comments and quoted strings, where an '@'
 * or '<' inside quotes or parentheses means nothing.
 *
 * Why so strict: the domain we read picks the key, so a From: that some
 * other reader (a verifier's DMARC check, a mail client, a filter) could
 * read as another author must not be signed: the signature would lend our
 * name to that author. Parsers differ exactly where RFC 5322 is loose or
 * where a value breaks it: Python's email package reads the author of
 * "c@evil.test <a@example.test>" as c@evil.test, tools that ignore
 * backslash escapes end a quoted string early, some decode encoded words
 * before they look for addresses. So we accept one grammar, a subset of
 * RFC 5322's on which readers agree, and refuse everything else
 * (refusing only leaves the mail unsigned):
 *
 *   value     = [CFWS] (addr-spec / [phrase] [CFWS] angle) [CFWS]
 *   angle     = "<" [FWS] addr-spec [FWS] ">"
 *   addr-spec = (dot-atom / plain quoted string) "@" domain
 *   phrase    = 1*(atom / quoted string / ".") with CFWS between
 *
 * with these restrictions: no obsolete forms (routes, CFWS inside the
 * addr-spec, trailing dots), no address literals, no quoted-pairs at
 * all, no '<' or '>' in quoted strings, no '@', '<', '>', '"' or nested
 * parentheses in comments, no encoded word in the address (Python
 * decodes even those) nor one that is malformed, not followed by white
 * space, or decodes to '@', '<', '>' or a control character (nor in a charset where ASCII bytes are not
 * ASCII, like UTF-7), UTF-8 only in the display name, comments and the
 * domain (a U-label, returned as its A-label: to_a_label) and
 * only well-formed and without C1 controls, no control characters but
 * folds, and nothing after the mailbox, not even a comma.
 * t/unit/test_dkim_from.c holds this against Python's parsers over the
 * corpus t/dkim/from-corpus.txt.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <idn2.h>

#include "dkim_parse.h"

struct cursor {
	const unsigned char *p;
	const char *why;	/* set by the first failure */
};

static int
fail(struct cursor *c, const char *why)
{
	if (c->why == NULL)
		c->why = why;
	return -1;
}

static bool
is_atext(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
	    || (ch != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL);
}

/* Length of one well-formed UTF-8 character of U+00A0 or above at p, 0
 * if there is none (C1 controls, overlong forms, surrogates refused). */
static size_t
utf8_char(const unsigned char *p)
{
	unsigned long cp;
	size_t n, i;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1fUL;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0fUL;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07UL;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3fUL);
	}
	if (cp < 0xa0 || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)
	    || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

/* Folding white space: blanks, and line breaks followed by a blank. */
static int
skip_fws(struct cursor *c)
{
	for (;;) {
		if (*c->p == ' ' || *c->p == '\t')
			c->p++;
		else if (*c->p == '\n' && (c->p[1] == ' ' || c->p[1] == '\t'))
			c->p += 2;
		else if (c->p[0] == '\r' && c->p[1] == '\n' && (c->p[2] == ' ' || c->p[2] == '\t'))
			c->p += 3;
		else if (*c->p == '\r' || *c->p == '\n')
			return fail(c, "a line break that is not a fold");
		else
			return 0;
	}
}

/* One comment, "(" already seen at c->p. */
static int
comment(struct cursor *c)
{
	size_t n;

	for (c->p++;;) {
		if (skip_fws(c) < 0)
			return -1;
		if (*c->p == ')') {
			c->p++;
			return 0;
		}
		if (*c->p == '\0')
			return fail(c, "unbalanced parentheses");
		if (strchr("(\\\"@<>", *c->p) != NULL)
			return fail(c, "a comment that could be read as an address");
		if (*c->p >= 0x21 && *c->p < 0x7f)
			c->p++;
		else if ((n = utf8_char(c->p)) > 0)
			c->p += n;
		else
			return fail(c, "a control character or invalid UTF-8");
	}
}

static int
skip_cfws(struct cursor *c)
{
	for (;;) {
		if (skip_fws(c) < 0)
			return -1;
		if (*c->p != '(')
			return 0;
		if (comment(c) < 0)
			return -1;
	}
}

/*
 * A quoted string at c->p. In a display name (name true) it may fold and
 * hold UTF-8 and '@'; as a local part only printable ASCII without '@',
 * copied unquoted to out. Never a backslash: readers that do not know
 * quoted-pairs end the string there, and '<' or '>' inside could then
 * pass for an address.
 */
static int
quoted(struct cursor *c, bool name, char *out, size_t size, size_t *len)
{
	size_t n;

	for (c->p++;;) {
		if (name && skip_fws(c) < 0)
			return -1;
		if (*c->p == '"') {
			c->p++;
			return 0;
		}
		if (*c->p == '\0')
			return fail(c, "unbalanced quotes");
		if (strchr("\\<>", *c->p) != NULL || (!name && *c->p == '@'))
			return fail(c, "a quoted string that could be read as an address");
		if (*c->p >= 0x20 && *c->p < 0x7f)
			n = 1;
		else if (name && (n = utf8_char(c->p)) > 0)
			;
		else
			return fail(c, "a control character or 8-bit byte in a quoted string");
		if (out != NULL) {
			if (*len + n >= size)
				return fail(c, "address too long");
			memcpy(out + *len, c->p, n);
			*len += n;
		}
		c->p += n;
	}
}

/* dot-atom or quoted string, then "@" and a domain; no CFWS inside.
 * -1: no addr-spec here; -2: one that is not valid (an '@' was seen). */
static int
addr_spec(struct cursor *c, char *local, size_t lsize, char *domain, size_t dsize)
{
	size_t len = 0;
	bool dot = true;	/* at the start, or after a '.' */
	bool overflow = false;	/* only an error if an '@' follows */

	if (*c->p == '"') {
		if (quoted(c, false, local, lsize, &len) < 0)
			return -1;
		dot = false;
	} else {
		for (; is_atext(*c->p) || (*c->p == '.' && !dot); c->p++) {
			dot = *c->p == '.';
			if (len + 1 < lsize)
				local[len++] = (char)*c->p;
			else
				overflow = true;
		}
	}
	local[len] = '\0';
	if (*c->p != '@')
		return fail(c, "no address");
	if (overflow)
		return fail(c, "address too long") - 1;
	if (len == 0 || dot)
		return fail(c, "invalid local part") - 1;
	/* Python decodes encoded words even here: the address it reads
	 * would not be the one we sign for. */
	if (strstr(local, "=?") != NULL)
		return fail(c, "an encoded word in the address") - 1;
	c->p++;
	len = 0;
	dot = true;
	for (;; c->p++) {
		unsigned char ch = *c->p;
		size_t n;

		if (ch >= 0x80 && (n = utf8_char(c->p)) > 0) {
			/* a U-label (RFC 6531 mail): copied, made an A-label after */
			if (len + n >= dsize || len + n > DKIM_DOMAIN_MAX)
				return fail(c, "domain too long") - 1;
			memcpy(domain + len, c->p, n);
			len += n;
			c->p += n - 1;
			dot = false;
			continue;
		}
		if (ch >= 'A' && ch <= 'Z')
			ch = (unsigned char)(ch - 'A' + 'a');
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'
		      || (ch == '.' && !dot)))
			break;
		if (len + 1 >= dsize || len >= DKIM_DOMAIN_MAX)
			return fail(c, "domain too long") - 1;
		dot = ch == '.';
		domain[len++] = (char)ch;
	}
	domain[len] = '\0';
	if (len == 0 || dot)
		return fail(c, *c->p == '[' ? "an address literal, not a domain" : "invalid domain") - 1;
	return 0;
}

static int
angle_addr(struct cursor *c, char *local, size_t lsize, char *domain, size_t dsize)
{
	c->p++;		/* '<' */
	if (skip_fws(c) < 0 || addr_spec(c, local, lsize, domain, dsize) < 0 || skip_fws(c) < 0)
		return -1;
	if (*c->p != '>')
		return fail(c, "text inside <> besides the address");
	c->p++;
	return 0;
}

/* A display name: words, and dots after a word, up to the '<'. */
static int
phrase(struct cursor *c)
{
	bool word = false;
	size_t n;

	for (;; word = true) {
		if (skip_cfws(c) < 0)
			return -1;
		if (*c->p == '<')
			return 0;
		if (*c->p == '"') {
			if (quoted(c, true, NULL, 0, NULL) < 0)
				return -1;
		} else if (is_atext(*c->p) || (*c->p == '.' && word)) {
			c->p++;
		} else if (*c->p >= 0x80 && (n = utf8_char(c->p)) > 0) {
			c->p += n;
		} else if (*c->p == '\0') {
			return fail(c, "no address");
		} else {
			return fail(c, *c->p == ',' ? "several mailboxes"
				    : *c->p == ':' || *c->p == ';' ? "group syntax instead of a mailbox"
				    : *c->p == '@' ? "an address in the display name"
				    : "a display name with special characters");
		}
	}
}

static int
hex_digit(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = (unsigned char)(ch | 0x20);
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Decodes the encoded text of an RFC 2047 word, Q or B, into out (at
 * most n bytes); -1 if it is not valid Q or base64 (Python flags such a
 * word as a defect, other decoders guess). */
static int
ew_decode(char enc, const unsigned char *t, size_t n, unsigned char *out, size_t *len)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned long acc = 0;
	size_t i, o = 0, bits = 0, pad = 0;
	const char *d;

	for (i = 0; i < n; i++) {
		if (enc == 'q') {
			if (t[i] == '=') {
				if (i + 2 >= n || hex_digit(t[i + 1]) < 0 || hex_digit(t[i + 2]) < 0)
					return -1;
				out[o++] = (unsigned char)(hex_digit(t[i + 1]) << 4 | hex_digit(t[i + 2]));
				i += 2;
			} else if (t[i] > 0x20 && t[i] < 0x7f) {
				out[o++] = t[i] == '_' ? ' ' : t[i];
			} else {
				return -1;
			}
		} else if (t[i] == '=') {
			pad++;
		} else if (pad == 0 && t[i] != '\0' && (d = strchr(b64, t[i])) != NULL) {
			acc = (acc << 6 | (unsigned long)(d - b64)) & 0xffffff;
			if ((bits += 6) >= 8) {
				bits -= 8;
				out[o++] = (unsigned char)(acc >> bits);
			}
		} else {
			return -1;
		}
	}
	if (enc == 'b' && (n % 4 != 0 || pad > 2))
		return -1;
	*len = o;
	return 0;
}

/*
 * Refuses an encoded word ("=?charset?Q?text?=", RFC 2047) that decodes
 * to '@', '<', '>' or a control character: readers that decode before
 * they parse would see an address there. Charsets in which ASCII bytes
 * need not mean ASCII (UTF-7, UTF-16, UTF-32, UCS-2/4) are refused whole.
 */
static int
encoded_words(struct cursor *c, const unsigned char *v)
{
	unsigned char text[1024];
	const unsigned char *w, *cs, *q2, *q3, *end;
	size_t i, n, len;

	for (w = v; (w = (const unsigned char *)strstr((const char *)w, "=?")) != NULL; w += 2) {
		cs = w + 2;
		q2 = (const unsigned char *)strchr((const char *)cs, '?');
		if (q2 == NULL || q2[1] == '\0' || q2[2] != '?')
			continue;
		q3 = q2 + 2;
		end = (const unsigned char *)strstr((const char *)q3 + 1, "?=");
		if (end == NULL || strchr("qQbB", q2[1]) == NULL)
			continue;
		len = (size_t)(end - (q3 + 1));
		if (len > sizeof(text))
			return fail(c, "an encoded word too long to check");
		if (strncasecmp((const char *)cs, "utf-7", 5) == 0
		    || strncasecmp((const char *)cs, "utf-16", 6) == 0
		    || strncasecmp((const char *)cs, "utf-32", 6) == 0
		    || strncasecmp((const char *)cs, "ucs-", 4) == 0
		    || strncasecmp((const char *)cs, "unicode", 7) == 0)
			return fail(c, "an encoded word in a charset that can hide '@'");
		/* Python calls a word not followed by white space a defect. */
		if (end[2] != '\0' && strchr(" \t\r\n", end[2]) == NULL)
			return fail(c, "an encoded word not followed by white space");
		if (ew_decode((char)(q2[1] | 0x20), q3 + 1, len, text, &n) < 0)
			return fail(c, "a malformed encoded word");
		for (i = 0; i < n; i++)
			if (text[i] < 0x20 || text[i] == 0x7f || strchr("@<>", text[i]) != NULL)
				return fail(c, "an encoded word that decodes to an address");
	}
	return 0;
}

/*
 * A domain with UTF-8 labels becomes its A-label form (IDNA 2008, UTS #46
 * non-transitional, as browsers and mail clients do), in place: the
 * signer's d= and DMARC's From domain are always ASCII, lowercase.
 */
static int
to_a_label(char *domain, size_t dsize, const char **why)
{
	char *ascii = NULL;
	size_t i, n;
	bool eight_bit = false;

	for (i = 0; domain[i]; i++)
		eight_bit |= (unsigned char)domain[i] >= 0x80;
	if (!eight_bit)
		return 0;
	if (idn2_to_ascii_8z(domain, &ascii, IDN2_NONTRANSITIONAL) != IDN2_OK) {
		*why = "an internationalized domain that is not valid IDNA";
		return -1;
	}
	n = strlen(ascii);
	if (n == 0) {	/* all ignorable code points (U+034F): no domain */
		idn2_free(ascii);
		*why = "an internationalized domain that maps to nothing";
		return -1;
	}
	if (n >= dsize || n > DKIM_DOMAIN_MAX) {
		idn2_free(ascii);
		*why = "domain too long";
		return -1;
	}
	for (i = 0; i <= n; i++)
		domain[i] = (char)tolower((unsigned char)ascii[i]);
	idn2_free(ascii);
	return 0;
}

int
dkim_from_mailbox(const char *value, char *local, size_t lsize, char *domain, size_t dsize,
		  const char **why)
{
	struct cursor c = { (const unsigned char *)value, NULL };
	const unsigned char *start;
	int rc;

	if (lsize == 0 || dsize == 0 || encoded_words(&c, c.p) < 0 || skip_cfws(&c) < 0)
		goto refused;
	start = c.p;
	if (*c.p == '<') {
		rc = angle_addr(&c, local, lsize, domain, dsize);
	} else if ((rc = addr_spec(&c, local, lsize, domain, dsize)) != -1) {
		;		/* valid or not, it was one; only CFWS may follow */
	} else {
		/* Not an addr-spec: a display name, then <addr-spec>. */
		c.p = start;
		c.why = NULL;
		rc = phrase(&c) < 0 ? -1 : angle_addr(&c, local, lsize, domain, dsize);
	}
	if (rc < 0 || skip_cfws(&c) < 0)
		goto refused;
	if (*c.p == '\0')
		return to_a_label(domain, dsize, why);
	fail(&c, *c.p == ',' ? "several mailboxes" : *c.p == '<' || *c.p == '@'
	     ? "several mailboxes or an address in the display name" : "text after the address");
refused:
	*why = c.why ? c.why : "no address";
	return -1;
}

int
dkim_from_domain(const char *value, char *domain, size_t size, const char **why)
{
	char local[DKIM_LOCAL_MAX + 1];

	return dkim_from_mailbox(value, local, sizeof(local), domain, size, why);
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
