/*
 * resp.c - the RESP text of a command (see resp.h).
 *
 * Why not redisFormatCommandArgv(): hiredis 0.14 builds the text with sds
 * and a printf-like formatter, an allocation per argument, which was a
 * few percent of a policy decision; this writes into the caller's buffer
 * and allocates nothing. t/unit/test_resp.c checks it against hiredis's
 * own formatter.
 */
#include <stdbool.h>
#include <string.h>

#include "resp.h"

/* Decimal digits of v at the end of buf[0..24); returns where they start. */
static char *
put_decimal(char *end, size_t v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

/* Appends "<mark><n>\r\n" at out[*o]; false when it does not fit. */
static bool
put_header(char *out, size_t size, size_t *o, char mark, size_t n)
{
	char digits[24], *d = put_decimal(digits + sizeof(digits), n);
	size_t len = (size_t)(digits + sizeof(digits) - d);

	if (*o + 1 + len + 2 > size)
		return false;
	out[(*o)++] = mark;
	memcpy(out + *o, d, len);
	*o += len;
	memcpy(out + *o, "\r\n", 2);
	*o += 2;
	return true;
}

size_t
resp_format_command(char *buf, size_t size, int argc, const char **argv)
{
	size_t o = 0;
	int i;

	if (!put_header(buf, size, &o, '*', (size_t)argc))
		return 0;
	for (i = 0; i < argc; i++) {
		size_t len = strlen(argv[i]);

		if (!put_header(buf, size, &o, '$', len) || o + len + 2 > size)
			return 0;
		memcpy(buf + o, argv[i], len);
		o += len;
		memcpy(buf + o, "\r\n", 2);
		o += 2;
	}
	return o;
}
