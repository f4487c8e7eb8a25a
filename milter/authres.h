/*
 * authres.h - the Authentication-Results header (RFC 8601): writing ours
 * and reading the authserv-id of the ones a message brings.
 *
 * Interface:
 *   authres_start()   begins a value for authserv_id (a host name).
 *   authres_add()     one resinfo: method=result, an optional comment
 *                     (text without parentheses or backslashes), then
 *                     ptype.property=value pairs (props: NULL-terminated
 *                     list of "ptype.property", value, ...). Each resinfo
 *                     goes on its own folded line ("\n\t", as Postfix wants
 *                     header values from a milter).
 *   authres_value()   the finished value; " authserv-id; none" when no
 *                     result was added (RFC 8601 2.2).
 *   authres_pvalue()  a property value as RFC 8601 2.2 lets it be written:
 *                     bare when it is a token or a dot-atom local@domain,
 *                     otherwise a quoted-string (\ and " escaped; controls
 *                     and 8-bit bytes that are not UTF-8 become '?').
 *   authres_authserv_id() the authserv-id of a received A-R value (after
 *                     CFWS; a token or quoted-string), -1 if unparsable.
 *
 * Contract: bounded (AUTHRES_MAX); a value that would not fit is not
 * added (the result count says what went in), never cut mid-resinfo.
 */
#ifndef SLUICE_MILTER_AUTHRES_H
#define SLUICE_MILTER_AUTHRES_H

#include <stdbool.h>
#include <stddef.h>

#define AUTHRES_MAX 8192

struct authres {
	char buf[AUTHRES_MAX];
	size_t len;
	int results;
	bool overflow;
};

void authres_start(struct authres *ar, const char *authserv_id);
void authres_add(struct authres *ar, const char *method, const char *result,
		 const char *comment, const char *const *props);
/* A resinfo already formatted ("dkim=pass header.d=..."; dkim_verify.h). */
void authres_add_raw(struct authres *ar, const char *resinfo);
const char *authres_value(struct authres *ar);
void authres_pvalue(char *out, size_t size, const char *value);
int authres_authserv_id(const char *value, char *out, size_t size);

#endif
