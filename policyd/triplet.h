/*
 * triplet.h - the greylisting triplet: (client network, sender, recipient).
 *
 * Interface:
 *   triplet_normalize_sender()  the sender as greylisting sees it:
 *       lowercase; BATV ("prvs=TAG=user@d") and SRS ("SRS0=H=TT=d=user@f",
 *       "SRS1=H=f1==H=TT=d=user@f2") decoded to the original sender;
 *       "+extension" removed; runs of digits in the local part (VERP and
 *       bounce tags: "bounce-4711-23@list") replaced by '#'. The null
 *       sender becomes "<>", a sender of its own. Why: bounce and list
 *       senders change their address per message; without this every
 *       message is a new triplet and waits again.
 *   triplet_sender_identity()  the same without folding digits: who
 *       sends, for a rate limit, where user1@ and user2@ are two people.
 *   triplet_subject_ip()  the client network "203.0.113.0/24" (IPv4
 *       masked to ipv4_prefix, IPv6 to ipv6_prefix).
 *   triplet_key(), triplet_awl_key()  the Redis keys, both hash-tagged on
 *       the subject: "<prefix>gl:{<subject>}:<sender>:<recipient>" and
 *       "<prefix>gl:{<subject>}:awl", so the one script that reads both
 *       is Redis Cluster safe and no tag is global. The parts are
 *       percent-escaped so that one key names one triplet: in the sender
 *       and the recipient '%' ':' '{' '}' and bytes outside printable
 *       ASCII become %XX (uppercase hex); in the subject the same except
 *       ':' ("spf:example.com" stays readable: the subject ends at the
 *       first '}', and it has none). Ordinary addresses are unchanged:
 *       "sluice:gl:{192.0.2.0/24}:a@x.test:b@y.test".
 *
 * Contract: pure functions, no allocation; -1 when the input is not an
 * address or the output does not fit. triplet_key() refuses a prefix
 * longer than TRIPLET_PREFIX_MAX, a subject longer than
 * TRIPLET_SUBJECT_MAX and an address longer than ADDRESS_MAX; within
 * those a buffer of TRIPLET_KEY_MAX always holds the key (each escaped
 * byte takes three), so a valid triplet never fails for want of room.
 */
#ifndef SLUICE_POLICY_TRIPLET_H
#define SLUICE_POLICY_TRIPLET_H

#include <stddef.h>

#include "address.h"

#define TRIPLET_PREFIX_MAX 64	/* redis.prefix, as config.c bounds it */
#define TRIPLET_SUBJECT_MAX (ADDRESS_DOMAIN_MAX + 16)	/* "spf:" + a domain */
/* prefix "gl:{" subject "}:" sender ":" recipient NUL, each part escaped */
#define TRIPLET_KEY_MAX (TRIPLET_PREFIX_MAX + 4 + 3 * TRIPLET_SUBJECT_MAX + 2 \
			 + 3 * ADDRESS_MAX + 1 + 3 * ADDRESS_MAX + 1)

int triplet_normalize_sender(const char *sender, char *out, size_t size);
int triplet_sender_identity(const char *sender, char *out, size_t size);
int triplet_subject_ip(const char *client_address, int ipv4_prefix, int ipv6_prefix,
		       char *out, size_t size);
int triplet_key(const char *prefix, const char *subject, const char *sender,
		const char *recipient, char *out, size_t size);
int triplet_awl_key(const char *prefix, const char *subject, char *out, size_t size);

#endif
