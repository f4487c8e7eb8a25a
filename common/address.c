/*
 * address.c - RFC 5321 envelope paths (see address.h).
 *
 * Interface: address_parse() splits one path into local part and domain
 * and builds the canonical "local@domain"; address_lower() gives the
 * lowercase key form used by the Redis lists.
 *
 * Contract: returns 0, or -1 with a static reason in *why and *out
 * cleared; bounds are those of RFC 5321 4.5.3.1 (local part 64, domain
 * 255, "local@domain" 256), measured on the stored, unquoted form.
 * Octets below 0x20 and 0x7f are rejected anywhere, even quoted; an
 * embedded NUL ends the C string, so callers that get lengths from the
 * wire must reject NUL themselves. No allocation, no state.
 *
 * Why some choices:
 * - Two spellings reach us. The milter gets the SMTP form ("<\"a b\"@x>"),
 *   the policy protocol gets Postfix's internal form ("a b@x"), where the
 *   quotes are gone and the local part may hold spaces or even '@'. So an
 *   unquoted path splits at its last '@', and the local part accepts any
 *   printable or 8-bit (SMTPUTF8) octet except angle brackets, which would
 *   only confuse logs and lists. Both spellings give the same result.
 *   An unquoted local part may not start or end with a space: that is
 *   far more often a stray blank than a quoted " user", and a blank would
 *   make a second Redis key for the same mailbox.
 * - A path that starts with '@' is a source route and nothing else.
 * - A source route ("<@a,@b:u@c>") is checked and dropped, as RFC 5321
 *   section 4.1.2 and Appendix C ask of a receiver.
 * - Host names allow letters, digits, '-' and 8-bit octets (UTF-8
 *   U-labels under SMTPUTF8); a leading or trailing '-' is tolerated,
 *   empty labels and labels over 63 octets are not. Only ASCII is
 *   lowercased: the result must not depend on the locale.
 * - Address literals are checked with inet_pton and kept as written,
 *   lowercased ("[IPv6:2001:DB8::1]" becomes "[ipv6:2001:db8::1]"), so
 *   the key form is one spelling per literal as typed. General literals
 *   ("[tag:...]") have no use in mail routing and are refused.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "address.h"

/* Longest input looked at: quotes, escapes, brackets and a route on top
 * of ADDRESS_MAX. Anything longer cannot hold a valid path. */
#define INPUT_MAX 1024

/* The longest address literal: "IPv6:" plus an IPv6 text form. */
#define LITERAL_MAX (5 + INET6_ADDRSTRLEN)

static int
fail(const char **why, const char *reason)
{
	*why = reason;
	return -1;
}

static char
ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool
is_control(char c)
{
	unsigned char u = (unsigned char)c;

	return u < 0x20 || u == 0x7f;
}

static bool
is_label_char(char c)
{
	unsigned char u = (unsigned char)c;

	return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z')
	    || (u >= '0' && u <= '9') || u == '-' || u >= 0x80;
}

/* "192.0.2.1" or "IPv6:2001:db8::1", without the brackets. */
static int
check_literal(const char *s, size_t len, const char **why)
{
	char text[LITERAL_MAX + 1];
	unsigned char bin[16];
	int ok;

	if (len == 0 || len > LITERAL_MAX)
		return fail(why, "malformed address literal");
	memcpy(text, s, len);
	text[len] = '\0';
	if (strncasecmp(text, "IPv6:", 5) == 0)
		ok = inet_pton(AF_INET6, text + 5, bin);
	else
		ok = inet_pton(AF_INET, text, bin);
	return ok == 1 ? 0 : fail(why, "malformed address literal");
}

static int
check_hostname(const char *s, size_t len, const char **why)
{
	size_t label = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return fail(why, "empty label in domain");
			label = 0;
		} else if (!is_label_char(s[i])) {
			return fail(why, "invalid character in domain");
		} else if (++label > 63) {
			return fail(why, "domain label longer than 63 octets");
		}
	}
	if (label == 0)
		return fail(why, len ? "domain ends with a dot" : "empty domain");
	return 0;
}

/* Validates a domain span; with out, also stores it in lowercase. */
static int
parse_domain(const char *s, size_t len, char *out, bool *literal,
	     const char **why)
{
	bool is_lit = len > 0 && s[0] == '[';

	if (len == 0)
		return fail(why, "empty domain");
	if (len > ADDRESS_DOMAIN_MAX)
		return fail(why, "domain longer than 255 octets");
	if (is_lit) {
		if (len < 2 || s[len - 1] != ']')
			return fail(why, "unbalanced brackets in address literal");
		if (check_literal(s + 1, len - 2, why) < 0)
			return -1;
	} else if (check_hostname(s, len, why) < 0) {
		return -1;
	}
	if (out) {
		for (size_t i = 0; i < len; i++)
			out[i] = ascii_lower(s[i]);
		out[len] = '\0';
	}
	if (literal)
		*literal = is_lit;
	return 0;
}

/* "@a,@b:" at the start of s: how many octets the route takes. */
static int
skip_route(const char *s, size_t len, size_t *used, const char **why)
{
	size_t i = 0;

	for (;;) {
		size_t start, end;

		if (i >= len || s[i] != '@')
			return fail(why, "malformed source route");
		start = ++i;
		if (i < len && s[i] == '[') {
			const char *rbracket = memchr(s + i, ']', len - i);

			if (rbracket == NULL)
				return fail(why, "malformed source route");
			i = (size_t)(rbracket - s) + 1;
		}
		while (i < len && s[i] != ',' && s[i] != ':')
			i++;
		end = i;
		if (i >= len || parse_domain(s + start, end - start, NULL,
					     NULL, why) < 0)
			return fail(why, "malformed source route");
		if (s[i++] == ':')
			break;
	}
	*used = i;
	return 0;
}

/* "\"john doe\"": unquote into out; *used counts the quotes too. */
static int
parse_quoted_local(const char *s, size_t len, char *out, size_t *used,
		   const char **why)
{
	size_t n = 0;
	size_t i = 1;

	for (;;) {
		char c;

		if (i >= len)
			return fail(why, "unbalanced quotes in local part");
		c = s[i++];
		if (c == '"')
			break;
		if (c == '\\') {
			if (i >= len)
				return fail(why, "unbalanced quotes in local part");
			c = s[i++];
		}
		if (n >= ADDRESS_LOCAL_MAX)
			return fail(why, "local part longer than 64 octets");
		out[n++] = c;
	}
	out[n] = '\0';
	*used = i;
	return 0;
}

/* Postfix's internal form: everything up to the last '@' (or the end). */
static int
parse_plain_local(const char *s, size_t len, char *out, size_t *used,
		  const char **why)
{
	const char *at = memrchr(s, '@', len);
	size_t n = at ? (size_t)(at - s) : len;

	if (n > ADDRESS_LOCAL_MAX)
		return fail(why, "local part longer than 64 octets");
	if (memchr(s, '<', n) || memchr(s, '>', n))
		return fail(why, "angle bracket inside address");
	if (memchr(s, '"', n))
		return fail(why, "unbalanced quotes in local part");
	if (n > 0 && s[0] == '@')
		return fail(why, "malformed source route");
	if (n > 0 && (s[0] == ' ' || s[n - 1] == ' '))
		return fail(why, "space at the edge of the local part");
	memcpy(out, s, n);
	out[n] = '\0';
	*used = n;
	return 0;
}

/* Removes one pair of angle brackets; they must come as a pair. */
static int
strip_brackets(const char *text, size_t *start, size_t *len,
	       const char **why)
{
	bool has_open = *len > 0 && text[0] == '<';
	bool has_close = *len > 0 && text[*len - 1] == '>';

	if (has_open != has_close)
		return fail(why, "unbalanced angle brackets");
	if (has_open) {
		*start = 1;
		*len -= 2;
	}
	return 0;
}

/* Local part, then "@domain" or nothing, over the span s/len. */
static int
parse_mailbox(const char *s, size_t len, struct address *a,
	      const char **why)
{
	size_t used;
	int rc;

	if (s[0] == '"')
		rc = parse_quoted_local(s, len, a->local, &used, why);
	else
		rc = parse_plain_local(s, len, a->local, &used, why);
	if (rc < 0)
		return -1;
	if (a->local[0] == '\0')
		return fail(why, "empty local part");
	if (used == len)
		return 0;		/* "postmaster": no domain */
	if (s[used] != '@')
		return fail(why, "text after quoted local part");
	used++;
	return parse_domain(s + used, len - used, a->domain,
			    &a->domain_is_literal, why);
}

static int
parse_path(const char *text, struct address *a, const char **why)
{
	size_t len = strnlen(text, INPUT_MAX + 1);
	size_t start = 0;
	size_t route = 0;
	int n;

	if (len > INPUT_MAX)
		return fail(why, "address too long");
	for (size_t i = 0; i < len; i++)
		if (is_control(text[i]))
			return fail(why, "control character in address");
	if (strip_brackets(text, &start, &len, why) < 0)
		return -1;
	if (len == 0) {
		a->is_null = true;
		return 0;
	}
	text += start;
	if (text[0] == '@') {
		if (memchr(text, ':', len) == NULL)
			return fail(why, "empty local part");
		if (skip_route(text, len, &route, why) < 0)
			return -1;
		if (route == len)
			return fail(why, "empty local part");
	}
	if (parse_mailbox(text + route, len - route, a, why) < 0)
		return -1;
	n = snprintf(a->full, sizeof(a->full), "%s%s%s", a->local,
		     a->domain[0] ? "@" : "", a->domain);
	if (n < 0 || (size_t)n >= sizeof(a->full))
		return fail(why, "address longer than 256 octets");
	return 0;
}

int
address_parse(const char *text, struct address *out, const char **why)
{
	struct address a;
	const char *ignored;

	if (why == NULL)
		why = &ignored;
	memset(&a, 0, sizeof(a));
	if (text == NULL || parse_path(text, &a, why) < 0) {
		if (text == NULL)
			*why = "no address";
		memset(out, 0, sizeof(*out));
		return -1;
	}
	*out = a;
	return 0;
}

void
address_lower(const struct address *addr, char *buf, size_t size)
{
	size_t i;

	if (size == 0)
		return;
	for (i = 0; i + 1 < size && addr->full[i] != '\0'; i++)
		buf[i] = ascii_lower(addr->full[i]);
	buf[i] = '\0';
}
