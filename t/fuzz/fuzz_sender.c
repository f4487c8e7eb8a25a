/*
 * fuzz_sender.c - sender normalisation (policyd/triplet.c): BATV, SRS,
 * VERP, +extension, and the greylisting keys built from the result.
 * Input: "sender\nrecipient\nclient_address" (missing lines are "").
 * Properties: outputs are NUL-terminated within their buffers, also a
 * buffer too small for them; with TRIPLET_KEY_MAX a key of a normalised
 * sender never fails for want of room (triplet.h's promise); normalising
 * again never makes it longer (one BATV/SRS layer is decoded per call).
 */
#include "fuzz.h"
#include "triplet.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line[3] = { NULL, NULL, NULL };
	char norm[ADDRESS_MAX + 1], again[ADDRESS_MAX + 1], ident[ADDRESS_MAX + 1];
	char rcpt[ADDRESS_MAX + 1], subject[TRIPLET_SUBJECT_MAX + 1], small[12];
	char key[TRIPLET_KEY_MAX];
	size_t n, i;

	if (size > 4096)
		return 0;
	n = fuzz_lines(data, size, line, 3);
	for (i = n; i < 3; i++)
		line[i] = fuzz_str(data, 0);
	if (triplet_normalize_sender(line[0], norm, sizeof(norm)) == 0) {
		FUZZ_ASSERT(strlen(norm) < sizeof(norm));
		/* one layer is decoded ("prvs=T=prvs=T=u" keeps one: not worth
		 * more for a greylisting key), so again only never grows */
		if (triplet_normalize_sender(norm, again, sizeof(again)) == 0 && strcmp(norm, "<>") != 0)
			FUZZ_ASSERT(strlen(again) <= strlen(norm));
		if (triplet_normalize_sender(line[1], rcpt, sizeof(rcpt)) == 0
		    && strlen(norm) <= ADDRESS_MAX && strlen(rcpt) <= ADDRESS_MAX)
			FUZZ_ASSERT(triplet_key("sluice:", "192.0.2.0/24", norm, rcpt, key, sizeof(key)) == 0);
	}
	(void)triplet_normalize_sender(line[0], small, sizeof(small));
	if (triplet_sender_identity(line[0], ident, sizeof(ident)) == 0)
		FUZZ_ASSERT(strlen(ident) < sizeof(ident));
	(void)triplet_sender_identity(line[0], small, sizeof(small));
	if (triplet_subject_ip(line[2], 24, 64, subject, sizeof(subject)) == 0) {
		FUZZ_ASSERT(strlen(subject) < sizeof(subject));
		(void)triplet_awl_key("sluice:", subject, key, sizeof(key));
	}
	/* raw, unnormalised parts: escaped, bounded, or refused */
	if (triplet_key("sluice:", line[2], line[0], line[1], key, sizeof(key)) == 0)
		FUZZ_ASSERT(strlen(key) < sizeof(key));
	(void)triplet_key("sluice:", line[2], line[0], line[1], small, sizeof(small));
	fuzz_lines_free(line, 3);
	return 0;
}
