/*
 * fuzz.h - what the libFuzzer targets (t/fuzz/fuzz_*.c) share.
 *
 * Interface:
 *   fuzz_str()    the input as a NUL-terminated heap copy of exactly
 *                 n + 1 bytes, so ASan catches a read one byte past the
 *                 terminator; an embedded NUL ends the C string early,
 *                 as it would in the daemons (they refuse NUL bytes before
 *                 the parsers see them). Free it with free().
 *   fuzz_lines()  the input split at '\n' into at most max heap strings
 *                 (each its own allocation, same reason); returns the
 *                 count. fuzz_lines_free() frees them.
 *   FUZZ_ASSERT() a property the parser promises; a violation aborts,
 *                 which libFuzzer reports as a crash with the input.
 *
 * Contract: every target defines LLVMFuzzerTestOneInput(), is
 * deterministic, keeps no state between inputs (but read-only setup done
 * once), and frees everything it allocated (leak detection is on).
 */
#ifndef SLUICE_FUZZ_H
#define SLUICE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: FUZZ_ASSERT(%s) failed\n", __FILE__, __LINE__, #cond); \
		abort(); \
	} } while (0)

static inline char *
fuzz_str(const uint8_t *data, size_t n)
{
	char *s = malloc(n + 1);

	if (s == NULL)
		abort();
	if (n)
		memcpy(s, data, n);
	s[n] = '\0';
	return s;
}

static inline size_t
fuzz_lines(const uint8_t *data, size_t size, char **out, size_t max)
{
	size_t count = 0, start = 0, i;

	for (i = 0; i <= size && count < max; i++) {
		if (i == size || data[i] == '\n') {
			out[count++] = fuzz_str(data + start, i - start);
			start = i + 1;
		}
	}
	return count;
}

static inline void
fuzz_lines_free(char **lines, size_t count)
{
	while (count > 0)
		free(lines[--count]);
}

#endif
