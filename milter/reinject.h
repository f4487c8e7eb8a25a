/*
 * reinject.h - one message handed to Postfix over SMTP (the re-injection
 * listener without milters), for the copies an alias sends to external
 * targets with an SRS sender (README: "Aliases, ... SRS").
 *
 * Interface:
 *   reinject_send()  connect, EHLO, MAIL FROM, RCPT TO each, DATA, the
 *                    message (dot-stuffed here), QUIT.
 *
 * Contract: 0 only when the server answered 250 to the end of DATA, that
 * is, Postfix has queued the copy; -1 with err otherwise (then the caller
 * tempfails the original, so nothing is lost and nothing is sent twice
 * but a duplicate copy on the client's retry). Blocking, for a libmilter
 * thread, within timeout_ms per connect and per read or write. msg is the
 * whole message with CRLF line ends.
 */
#ifndef SLUICE_REINJECT_H
#define SLUICE_REINJECT_H

#include <stddef.h>

#include "endpoint.h"

int reinject_send(const struct endpoint *ep, int timeout_ms, const char *helo,
		  const char *from, char (*rcpts)[257], size_t nrcpts,
		  const char *msg, size_t len, char *err, size_t errsize);

#endif
