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
 *   triplet_subject_ip()  the client network "203.0.113.0/24" (IPv4
 *       masked to ipv4_prefix, IPv6 to ipv6_prefix).
 *   triplet_key(), triplet_awl_key()  the Redis keys, both hash-tagged on
 *       the subject: "<prefix>gl:{<subject>}:<sender>:<recipient>" and
 *       "<prefix>gl:{<subject>}:awl", so the one script that reads both
 *       is Redis Cluster safe and no tag is global.
 *
 * Contract: pure functions, no allocation; -1 when the input is not an
 * address or the output does not fit.
 */
#ifndef SLUICE_POLICY_TRIPLET_H
#define SLUICE_POLICY_TRIPLET_H

#include <stddef.h>

#include "address.h"

#define TRIPLET_KEY_MAX (2 * ADDRESS_MAX + 256)

int triplet_normalize_sender(const char *sender, char *out, size_t size);
int triplet_subject_ip(const char *client_address, int ipv4_prefix, int ipv6_prefix,
		       char *out, size_t size);
int triplet_key(const char *prefix, const char *subject, const char *sender,
		const char *recipient, char *out, size_t size);
int triplet_awl_key(const char *prefix, const char *subject, char *out, size_t size);

#endif
