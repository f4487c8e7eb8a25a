/*
 * fuzz_srs.c - SRS (common/srs.c): decoding what a bounce brings back
 * (srs_reverse(), hash and time stamp checked) and encoding a sender
 * (srs_forward()). Input: the address, as a recipient of a bounce or a
 * sender to rewrite.
 * Properties: outputs fit their buffers, also tiny ones; forward then
 * reverse gives the sender back (SRS0) or the first hop's SRS0 (SRS1),
 * with the same key at the same time: whatever the sender, our own
 * rewriting must be reversible or bounces to it are lost.
 */
#include "fuzz.h"
#include "srs.h"

#define T0 1796299875

/* Whether the local part is SRS0/SRS1 (then reversal gives a hop back). */
static int
is_srs_sender(const char *addr)
{
	const char *at = strrchr(addr, '@');
	char local[1100];
	size_t n = at ? (size_t)(at - addr) : strlen(addr);

	if (n >= sizeof(local))
		return 0;
	memcpy(local, addr, n);
	local[n] = '\0';
	return srs_is_srs(local);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct srs_key key = { .len = 9 };
	char fwd[1024], back[1024], tiny[8];
	const char *why = NULL;
	char *addr;

	if (size > 2048)
		return 0;
	memcpy(key.secret, "tops3cret", 9);
	addr = fuzz_str(data, size);
	if (srs_reverse(&key, addr, T0, SRS_MAX_AGE_DAYS, back, sizeof(back), &why) == 0)
		FUZZ_ASSERT(strlen(back) < sizeof(back));
	else
		FUZZ_ASSERT(why != NULL);
	(void)srs_reverse(&key, addr, T0, SRS_MAX_AGE_DAYS, tiny, sizeof(tiny), &why);
	(void)srs_is_srs(addr);
	if (srs_forward(&key, "srs.example.test", addr, T0, fwd, sizeof(fwd), &why) == 0) {
		FUZZ_ASSERT(strlen(fwd) < sizeof(fwd));
		why = NULL;
		if (srs_reverse(&key, fwd, T0, SRS_MAX_AGE_DAYS, back, sizeof(back), &why) != 0) {
			fprintf(stderr, "forward '%s' -> '%s' does not reverse: %s\n", addr, fwd,
				why ? why : "?");
			abort();
		}
		if (!is_srs_sender(addr))
			FUZZ_ASSERT(strcmp(back, addr) == 0);
	}
	(void)srs_forward(&key, "srs.example.test", addr, T0, tiny, sizeof(tiny), &why);
	free(addr);
	return 0;
}
