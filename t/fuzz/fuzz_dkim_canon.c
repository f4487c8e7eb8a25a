/*
 * fuzz_dkim_canon.c - DKIM canonicalisation (milter/dkim_canon.c) of one
 * header field and of a body. Input: byte 0 picks the modes and where
 * the body is cut; then "Name:value" up to the first '\n' as the header
 * field (libmilter gives name and value apart), the rest the body.
 * Properties: the body hash does not depend on how the body is cut into
 * chunks (dkim_canon.h: "chunks of any size, cut anywhere", even between
 * CR and LF); with a limit (l=) only that many canonical bytes are
 * hashed, and the count of all of them is the same; relaxed header
 * output ends in CRLF and has no whitespace before it; bounded buffers
 * refuse rather than overflow.
 */
#include "dkim_canon.h"
#include "fuzz.h"

static void
body_hash(enum canon mode, const uint8_t *p, size_t n, size_t step, uint64_t limit,
	  unsigned char hash[DKIM_HASH_LEN], uint64_t *hashed)
{
	struct dkim_body b;
	size_t off = 0;

	FUZZ_ASSERT(dkim_body_init(&b, mode, EVP_sha256()) == 0);
	if (limit)
		dkim_body_set_limit(&b, limit);
	while (off < n) {
		size_t k = step && n - off > step ? step : n - off;

		FUZZ_ASSERT(dkim_body_update(&b, p + off, k) == 0);
		off += k;
	}
	FUZZ_ASSERT(dkim_body_final(&b, hash) == 0);
	*hashed = b.hashed;
	dkim_body_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum canon hmode, bmode;
	unsigned char h1[DKIM_HASH_LEN], h2[DKIM_HASH_LEN], h3[DKIM_HASH_LEN];
	uint64_t n1, n2, n3;
	const uint8_t *nl, *body;
	struct dkim_buf out, small;
	char *field, *colon, *value;
	size_t flen, blen, step;
	char b64[4 * ((DKIM_HASH_LEN + 2) / 3) + 1];

	if (size < 1 || size > 65536)
		return 0;
	hmode = data[0] & 1 ? CANON_SIMPLE : CANON_RELAXED;
	bmode = data[0] & 2 ? CANON_SIMPLE : CANON_RELAXED;
	step = (size_t)(data[0] >> 2) + 1;	/* 1..64 bytes a chunk */
	data++, size--;
	nl = memchr(data, '\n', size);
	flen = nl ? (size_t)(nl - data) : size;
	body = nl ? nl + 1 : data + size;
	blen = (size_t)(data + size - body);

	field = fuzz_str(data, flen);
	colon = strchr(field, ':');
	value = colon ? colon + 1 : field + strlen(field);
	if (colon)
		*colon = '\0';
	dkim_buf_init(&out, 65536);
	if (dkim_header_canon(&out, hmode, field, value, true) == 0) {
		FUZZ_ASSERT(out.len <= out.max);
		FUZZ_ASSERT(out.len >= 2 && out.data[out.len - 2] == '\r' && out.data[out.len - 1] == '\n');
		if (hmode == CANON_RELAXED && out.len >= 3)
			FUZZ_ASSERT(out.data[out.len - 3] != ' ' && out.data[out.len - 3] != '\t');
	}
	dkim_buf_free(&out);
	dkim_buf_init(&small, 16);
	if (dkim_header_canon(&small, hmode, field, value, false) == 0)
		FUZZ_ASSERT(small.len <= 16);
	dkim_buf_free(&small);
	free(field);

	body_hash(bmode, body, blen, 0, 0, h1, &n1);
	body_hash(bmode, body, blen, step, 0, h2, &n2);
	FUZZ_ASSERT(n1 == n2 && memcmp(h1, h2, sizeof(h1)) == 0);
	body_hash(bmode, body, blen, 1, n1 > 1 ? n1 / 2 : 1, h3, &n3);
	FUZZ_ASSERT(n3 == n1);
	dkim_base64(b64, h1, sizeof(h1));
	FUZZ_ASSERT(strlen(b64) == sizeof(b64) - 1);
	return 0;
}
