/*
 * nullmilter - a libmilter milter that does nothing: the floor any milter
 * pays, for bench/bench-dkim.sh.
 *
 *   nullmilter -p unix:/path/to/socket [-d] [-i] [-n]
 *
 * It asks Postfix for the same stages sluice-milter's signer needs
 * (connect, MAIL FROM, RCPT TO, every header, end of headers, the body,
 * end of message), negotiates the same protocol options (no HELO, no
 * DATA, no unknown-command callbacks, header values with their leading
 * space), and answers "continue" to each: so the difference between
 * Postfix with this milter and Postfix with sluice-milter is the cost of
 * the signing itself, not of the milter protocol.
 *
 * -i inserts one fixed header field of a DKIM signature's size at the
 * top of every message, as a signer does: what Postfix pays for the
 * insertion itself, without any signing (bench-dkim's nullmilter-insert).
 *
 * -n negotiates "no reply" (SMFIP_NR_CONN, _MAIL, _RCPT, _HDR, _EOH,
 * _BODY) and answers SMFIS_NOREPLY at those stages: Postfix then sends
 * the events without waiting for an answer to each. sluice-milter's core
 * does not do that today; -n measures what it would gain
 * (bench-dkim's nullmilter-noreply).
 *
 * -d dumps every header and body chunk to stderr with control characters
 * escaped (\r \n \t): how we checked what Postfix sends (header
 * continuation lines arrive joined by a bare "\n"; the body arrives with
 * "\r\n" line ends).
 */
#include <libmilter/mfapi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int debug, insert, noreply;

#define CONT (noreply ? SMFIS_NOREPLY : SMFIS_CONTINUE)

/* The size and shape of an RSA-2048 DKIM-Signature field (ours). */
static const char fake_signature[] =
	" v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.test;\n\ts=rsa1; t=1700000000;"
	"\n\th=from:subject:date:to;\n\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;"
	"\n\tb=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	"\n\tAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	"\n\tAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	"\n\tAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	"\n\tAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==";

static void
dump(const char *what, const char *name, const unsigned char *p, size_t len)
{
	size_t i;

	fprintf(stderr, "%s %s [", what, name ? name : "");
	for (i = 0; i < len; i++) {
		if (p[i] == '\r')
			fputs("\\r", stderr);
		else if (p[i] == '\n')
			fputs("\\n", stderr);
		else if (p[i] == '\t')
			fputs("\\t", stderr);
		else if (p[i] < 0x20 || p[i] >= 0x7f)
			fprintf(stderr, "\\x%02x", p[i]);
		else
			fputc(p[i], stderr);
	}
	fputs("]\n", stderr);
}

static sfsistat
cb_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *addr)
{
	(void)ctx; (void)host; (void)addr;
	return CONT;
}

static sfsistat
cb_envfrom(SMFICTX *ctx, char **argv)
{
	(void)ctx; (void)argv;
	return CONT;
}

static sfsistat
cb_envrcpt(SMFICTX *ctx, char **argv)
{
	(void)ctx; (void)argv;
	return CONT;
}

static sfsistat
cb_header(SMFICTX *ctx, char *name, char *value)
{
	(void)ctx;
	if (debug)
		dump("header", name, (const unsigned char *)value, strlen(value));
	return CONT;
}

static sfsistat
cb_eoh(SMFICTX *ctx)
{
	(void)ctx;
	return CONT;
}

static sfsistat
cb_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	(void)ctx;
	if (debug)
		dump("body", NULL, chunk, len);
	return CONT;
}

static sfsistat
cb_eom(SMFICTX *ctx)
{
	if (insert)
		smfi_insheader(ctx, 0, (char *)(uintptr_t)"X-Null-Signature",
			       (char *)(uintptr_t)fake_signature);
	return SMFIS_CONTINUE;
}

static sfsistat
cb_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
	     unsigned long f3, unsigned long *pf0, unsigned long *pf1,
	     unsigned long *pf2, unsigned long *pf3)
{
	(void)ctx; (void)f2; (void)f3;
	*pf0 = f0 & SMFIF_ADDHDRS;
	*pf1 = f1 & (SMFIP_NOHELO | SMFIP_NOUNKNOWN | SMFIP_NODATA | SMFIP_HDR_LEADSPC);
	if (noreply)
		*pf1 |= f1 & (SMFIP_NR_CONN | SMFIP_NR_MAIL | SMFIP_NR_RCPT | SMFIP_NR_HDR
			      | SMFIP_NR_EOH | SMFIP_NR_BODY);
	*pf2 = *pf3 = 0;
	return SMFIS_CONTINUE;
}

int
main(int argc, char **argv)
{
	static struct smfiDesc desc = {
		.xxfi_name = (char *)(uintptr_t)"nullmilter",
		.xxfi_version = SMFI_VERSION,
		.xxfi_flags = SMFIF_ADDHDRS,
		.xxfi_connect = cb_connect,
		.xxfi_envfrom = cb_envfrom,
		.xxfi_envrcpt = cb_envrcpt,
		.xxfi_header = cb_header,
		.xxfi_eoh = cb_eoh,
		.xxfi_body = cb_body,
		.xxfi_eom = cb_eom,
		.xxfi_negotiate = cb_negotiate,
	};
	const char *conn = NULL;
	int ch;

	while ((ch = getopt(argc, argv, "p:din")) != -1) {
		switch (ch) {
		case 'p': conn = optarg; break;
		case 'd': debug = 1; break;
		case 'i': insert = 1; break;
		case 'n': noreply = 1; break;
		default: conn = NULL; optind = argc; break;
		}
	}
	if (conn == NULL) {
		fprintf(stderr, "usage: nullmilter -p unix:/path [-d] [-i] [-n]\n");
		return 2;
	}
	if (strncmp(conn, "unix:", 5) == 0)
		unlink(conn + 5);
	if (smfi_register(desc) == MI_FAILURE || smfi_setconn((char *)(uintptr_t)conn) == MI_FAILURE
	    || smfi_opensocket(1) == MI_FAILURE) {
		fprintf(stderr, "nullmilter: cannot listen on %s\n", conn);
		return 1;
	}
	if (strncmp(conn, "unix:", 5) == 0)
		chmod(conn + 5, 0666);
	return smfi_main() == MI_SUCCESS ? 0 : 1;
}
