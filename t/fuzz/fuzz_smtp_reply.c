/*
 * fuzz_smtp_reply.c - what recipient validation reads from internal
 * servers and sends them (policyd/rcpt_smtp.c, rcpt_ldap.c): SMTP
 * replies read as a stream (smtp_reply_parse(), multi-line replies,
 * SMTP_REPLY_MAX), the RCPT path made from a recipient (its local part
 * quoted when it needs it), and the LDAP filter built from it (RFC 4515
 * escaping). Input: line 1 the recipient; the rest the server's bytes.
 * Properties: a complete reply has a code 200..599 and ends within the
 * input at a line end; replies are consumed one after another without
 * overrun; the RCPT path and the filter fit or are refused; an escaped
 * value has no unescaped '*', '(', ')', '\\' or NUL.
 */
#include "fuzz.h"
#include "rcpt_ldap.h"
#include "rcpt_smtp.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t alen = nl ? (size_t)(nl - data) : size;
	size_t slen = nl ? size - alen - 1 : 0, pos = 0, used;
	char *addr, *stream, path[600], filter[2048], esc[1024], tiny[8];
	int code, rc, replies = 0;

	if (size > 4 * SMTP_REPLY_MAX)
		return 0;
	addr = fuzz_str(data, alen);
	stream = fuzz_str(nl ? nl + 1 : data + size, slen);	/* exact copy */
	while (pos < slen && replies++ < 64) {	/* replies one after another */
		used = 0;
		rc = smtp_reply_parse(stream + pos, slen - pos, &code, &used);
		FUZZ_ASSERT(rc >= -1 && rc <= 1);
		if (rc != 1)
			break;
		FUZZ_ASSERT(code >= 200 && code <= 599);
		FUZZ_ASSERT(used > 0 && used <= slen - pos && stream[pos + used - 1] == '\n');
		pos += used;
	}
	if (rcpt_path(addr, path, sizeof(path)) == 0)
		FUZZ_ASSERT(strlen(path) < sizeof(path));
	(void)rcpt_path(addr, tiny, sizeof(tiny));
	if (ldap_filter_escape(addr, esc, sizeof(esc)) == 0) {
		size_t i;

		for (i = 0; esc[i]; i++)
			FUZZ_ASSERT(esc[i] != '*' && esc[i] != '(' && esc[i] != ')');
	}
	(void)ldap_filter_escape(addr, tiny, sizeof(tiny));
	if (ldap_filter_build("(&(objectClass=inetOrgPerson)(mail=%s))", addr, filter, sizeof(filter)) == 0)
		FUZZ_ASSERT(strlen(filter) < sizeof(filter));
	(void)ldap_filter_build("(mail=%s)", addr, tiny, sizeof(tiny));
	free(stream);
	free(addr);
	return 0;
}
