/*
 * copies.h - hidden copies (BCC) of messages: milter.always_bcc (every
 * message), milter.incoming_copy (inbound), milter.outgoing_copy
 * (outbound: trusted network or SASL-authenticated), and the per-domain
 * copy of mail to a domain (sluice:copy:domain, domain -> address).
 *
 * Interface:
 *   copies_plan()   the pure part: given the settings, the direction, the
 *                   snapshot's domain map and the message's recipients,
 *                   the copy addresses to add, each once, none equal to a
 *                   recipient (case-insensitive), at most COPIES_MAX.
 *   copies_module   the milter module (modules.c registers it).
 *
 * Contract: copies are added with smfi_addrcpt at end of message, so they
 * never change what the original recipients receive (no recipient is
 * deleted or rewritten here). A copy is computed from the original
 * recipients only and is not itself looked up again, so a copy address
 * whose own domain has a copy entry does not make a second copy (no
 * chains, no loops). The per-domain copy applies to every message to a
 * recipient in the domain, from outside or inside (mail into the domain).
 * Recipients are tracked up to COPIES_RCPT_MAX per message (Postfix's
 * smtpd_recipient_limit is 1000 by default); past that a recipient is not
 * compared nor used for a domain copy, and the log says so. If adding a
 * copy fails the message is tempfailed (451 4.3.0): a copy the admin asked
 * for (an archive) is never silently lost, and the sender retries.
 * Runs after the alias module, on its own: it adds only its copies.
 */
#ifndef SLUICE_MILTER_COPIES_H
#define SLUICE_MILTER_COPIES_H

#include <stdbool.h>
#include <stddef.h>

#include "address.h"
#include "lists.h"
#include "module.h"

#define COPIES_MAX 32		/* copies added to one message */
#define COPIES_RCPT_MAX 10000	/* recipients tracked per message */

struct copies_settings {
	const char *always_bcc, *incoming_copy, *outgoing_copy;	/* NULL: none */
};

/* rcpts: the message's recipients ("local@domain"); lists may be NULL or
 * not loaded (no domain copies then). Writes up to COPIES_MAX addresses
 * into out (each ADDRESS_MAX + 1 bytes), returns how many. */
size_t copies_plan(const struct copies_settings *set, bool outbound,
		   const struct lists *lists, const char *const *rcpts, size_t nrcpt,
		   char out[][ADDRESS_MAX + 1]);

extern const struct milter_module copies_module;

#endif
