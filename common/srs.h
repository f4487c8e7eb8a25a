/*
 * srs.h - the Sender Rewriting Scheme, as libsrs2 and postsrsd write it
 * (pure: no I/O; the caller reads the secret and gives the time).
 *
 * Interface:
 *   srs_forward()  the SRS address of an envelope sender, for a copy that
 *                  leaves for an external target:
 *                    user@host           -> SRS0=HHHH=TT=host=user@ours
 *                    SRS0=HHHH=TT=h=u@fw -> SRS1=HHHH=fw==HHHH=TT=h=u@ours
 *                    SRS1=HHHH=fw==...@x -> SRS1=HHHH=fw==...@ours (new hash)
 *   srs_reverse()  an SRS address back to where a bounce goes: SRS0 to
 *                  user@host, SRS1 to the SRS0 address of the first hop;
 *                  the hash and (SRS0) the age are checked.
 *   srs_is_srs()   whether a local part is SRS0=/SRS1= (case-insensitive).
 *
 * Contract (compatible with postsrsd 1.x, which uses libsrs2's code): the
 * hash is the first SRS_HASH_LEN characters of the base64 HMAC-SHA1, keyed
 * with the secret, over the lowercased fields (SRS0: TT, host, user; SRS1:
 * the first hop's host and the rest of its SRS0 part); the time stamp TT is
 * two base32 characters of (days since the epoch) mod 1024. The hash is
 * compared case-insensitively (some servers fold the case of local parts).
 * Every output is bounded by its buffer: -1 with *why when it does not fit
 * or the input is not an address. No state, thread-safe.
 */
#ifndef SLUICE_SRS_H
#define SLUICE_SRS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define SRS_HASH_LEN 4
#define SRS_MAX_AGE_DAYS 21	/* libsrs2's default */
#define SRS_SECRET_MAX 1024

struct srs_key {
	unsigned char secret[SRS_SECRET_MAX];
	size_t len;
};

int srs_forward(const struct srs_key *key, const char *srs_domain, const char *sender,
		time_t now, char *out, size_t size, const char **why);
int srs_reverse(const struct srs_key *key, const char *address, time_t now, int max_age_days,
		char *out, size_t size, const char **why);
bool srs_is_srs(const char *local);

#endif
