/*
 * greylist.h - the Redis keys of policyd's greylisting, for others than
 * the check itself (sluice-ctl greylist show|forget).
 *
 * Interface:
 *   greylist_keys()  the triplet key and the client's pass-counter key
 *       that check_greylist.c uses for (client, sender, recipient): the
 *       sender normalized, the recipient lowercased, the client masked to
 *       greylist.ipv4_prefix / ipv6_prefix, as triplet.h says; sender NULL
 *       gives only the pass-counter key and the subject ("192.0.2.0/24"),
 *       for a scan of all the client's triplets.
 * Contract: the same function the check builds its keys with, so a key
 * shown or forgotten is the one the daemon reads. -1 when the client
 * address does not parse or a key does not fit.
 */
#ifndef SLUICE_POLICY_GREYLIST_H
#define SLUICE_POLICY_GREYLIST_H

#include <stddef.h>

#include "config.h"
#include "triplet.h"

struct greylist_keys {
	char subject[ADDRESS_DOMAIN_MAX + 8];
	char key[TRIPLET_KEY_MAX];	/* "" when sender is NULL */
	char awl[TRIPLET_KEY_MAX];
};

int greylist_keys(const struct sluice_config *cfg, const char *client, const char *sender,
		  const char *recipient, struct greylist_keys *out);

#endif
