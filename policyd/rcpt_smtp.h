/*
 * rcpt_smtp.h - recipient validation by SMTP probe: ask the domain's
 * internal server whether it would take RCPT TO:<address>.
 *
 * Interface:
 *   smtp_reply_parse()  one SMTP reply at the start of buf: 1 with *code and
 *                       *used (bytes of the whole reply, continuation lines
 *                       "250-" included) when complete, 0 when more is
 *                       needed, -1 when the text is no SMTP reply.
 *   rcpt_path()         the RCPT TO command line for an address.
 *   rcpt_smtp_probe()   EHLO (HELO if refused), MAIL FROM:<>, RCPT TO, then
 *                       RSET to keep the connection for the next probe, or
 *                       QUIT. Only a 5xx to RCPT is RCPT_UNKNOWN; a 2xx is
 *                       RCPT_VALID; anything else (a 4xx, a refusal of MAIL,
 *                       a timeout, a closed or garbled connection) is
 *                       RCPT_TEMPFAIL, never UNKNOWN.
 *
 * Contract: runs in a job-pool thread; every read, write and connect is
 * bounded by deadline (CLOCK_MONOTONIC); replies are bounded by
 * SMTP_REPLY_MAX. Connections are shared per host:port through
 * rcpt_backend.h (concurrency, idle_ms); a reused connection that turns
 * out closed is replaced once by a new one. why gets a short reason.
 */
#ifndef SLUICE_POLICY_RCPT_SMTP_H
#define SLUICE_POLICY_RCPT_SMTP_H

#include <stddef.h>
#include <time.h>

#include "rcpt_backend.h"

#define SMTP_REPLY_MAX 4096

int smtp_reply_parse(const char *buf, size_t len, int *code, size_t *used);
/* The RCPT command for address, its local part quoted if it needs it
 * (RFC 5321 4.1.2); -1 if it does not fit in size. */
int rcpt_path(const char *address, char *out, size_t size);

enum rcpt_answer rcpt_smtp_probe(const char *host, int port, const char *helo,
				 const char *address, int concurrency, long idle_ms,
				 const struct timespec *deadline, char *why, size_t whysize);

#endif
