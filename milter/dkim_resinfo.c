/*
 * dkim_resinfo.c - one verification result as an RFC 8601 resinfo (see
 * dkim_result_resinfo() in dkim_verify.h).
 *
 * ptype.property values must be a token (RFC 2045: no tspecials, no
 * space, no controls) or a quoted-string; base64 has "/" and "=", so
 * header.b is quoted when needed. The reason goes into a comment with
 * "(", ")" and "\" escaped. Fields left empty by a signature too broken
 * to read are left out.
 */
#include <stdio.h>
#include <string.h>

#include "dkim_verify.h"

static int
is_token(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (*p == '\0')
		return 0;
	for (; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || strchr("()<>@,;:\\\"/[]?=", *p))
			return 0;
	return 1;
}

struct out {
	char *buf;
	size_t size, len;
	int overflow;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (o->overflow || n >= o->size - o->len) {
		o->overflow = 1;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void
puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* " header.x=value", quoted when not a token, left out when empty or
 * not printable ASCII. */
static void
property(struct out *o, const char *name, const char *value)
{
	const unsigned char *p;

	if (*value == '\0')
		return;
	for (p = (const unsigned char *)value; *p; p++)
		if (*p < ' ' || *p >= 0x7f)
			return;
	puts_(o, " header.");
	puts_(o, name);
	puts_(o, "=");
	if (is_token(value)) {
		puts_(o, value);
		return;
	}
	puts_(o, "\"");
	for (p = (const unsigned char *)value; *p; p++) {
		if (*p == '"' || *p == '\\')
			puts_(o, "\\");
		put(o, (const char *)p, 1);
	}
	puts_(o, "\"");
}

int
dkim_result_resinfo(const struct dkim_sigresult *r, char *buf, size_t size)
{
	struct out o = { buf, size, 0, 0 };
	const unsigned char *p;

	if (size == 0)
		return -1;
	buf[0] = '\0';
	puts_(&o, "dkim=");
	puts_(&o, dkim_res_name(r->result));
	if (r->reason[0] || r->testing) {
		puts_(&o, " (");
		for (p = (const unsigned char *)r->reason; *p; p++) {
			if (*p < ' ' || *p >= 0x7f)
				continue;
			if (*p == '(' || *p == ')' || *p == '\\')
				puts_(&o, "\\");
			put(&o, (const char *)p, 1);
		}
		if (r->testing)
			puts_(&o, r->reason[0] ? "; test key" : "test key");
		puts_(&o, ")");
	}
	property(&o, "d", r->d);
	property(&o, "s", r->s);
	property(&o, "a", r->a);
	property(&o, "b", r->b);
	if (o.overflow) {
		buf[0] = '\0';
		return -1;
	}
	return (int)o.len;
}
