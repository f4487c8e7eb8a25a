/*
 * fuzz_config.c - the config loader (common/config*.c): the input is a
 * whole sluice.conf. libconfig reads files, so the input is written to a
 * memfd (made once) and loaded through /proc/self/fd/N, which also lets
 * config_lines.c re-read it for exact error lines.
 * Inputs that name other files are skipped: "@include" (libconfig then
 * reads whatever the fuzzer names) and paths under /dev/ and /proc/ (a
 * password_file of /dev/stdin would wait for input): they test the
 * files, not the parser. An admin's config is trusted to name files.
 * Properties: a refused config has an error "FILE:LINE: message" that
 * starts with the path; a loaded one frees without leaks.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

static int fd = -1;
static char path[64];

static int
names_files(const uint8_t *data, size_t size)
{
	static const char *const bad[] = { "@include", "/dev/", "/proc/", "/sys/", NULL };
	size_t i;

	for (i = 0; bad[i]; i++)
		if (memmem(data, size, bad[i], strlen(bad[i])) != NULL)
			return 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sluice_config *cfg;
	char err[1024];

	if (size > 65536 || names_files(data, size))
		return 0;
	if (fd < 0) {
		if ((fd = memfd_create("sluice-fuzz.conf", 0)) < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	err[0] = '\0';
	cfg = config_load(path, err, sizeof(err));
	if (cfg == NULL) {
		FUZZ_ASSERT(err[0] != '\0');
		FUZZ_ASSERT(strchr(err, ':') != NULL);
	}
	config_free(cfg);
	return 0;
}
