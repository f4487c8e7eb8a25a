/* test_patterns_mdwe.c - the lists' regexes under the units'
 * MemoryDenyWriteExecute=yes (contrib/systemd).
 *
 * systemd 252 (Debian 12) implements MemoryDenyWriteExecute= as a seccomp
 * filter: mmap() asking for PROT_WRITE|PROT_EXEC together, and mprotect()
 * or pkey_mprotect() asking for PROT_EXEC, fail with EPERM. This test
 * installs the same filter in its own process (x86-64; elsewhere it is
 * skipped), checks that the filter bites (an RWX mapping is refused),
 * and then that the lists' regexes still match as before: PCRE2's JIT
 * cannot get executable memory here, pcre2_jit_compile() fails, and
 * common/pattern_regex.c's matches run in the interpreter, with the same
 * match, depth and heap limits. (Whether the JIT ran is printed.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#endif

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "patterns.h"

static int
jit_works(void)
{
	int rc;
	pcre2_code *code = pcre2_compile((PCRE2_SPTR) ".*@hoster[0-9]+\\.de", PCRE2_ZERO_TERMINATED,
					 0, &rc, &(PCRE2_SIZE){ 0 }, NULL);

	assert_non_null(code);
	rc = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
	pcre2_code_free(code);
	return rc == 0;
}

#if defined(__x86_64__)
/* systemd 252's seccomp_memory_deny_write_execute(), for x86-64. */
static void
deny_write_execute(void)
{
	struct sock_filter f[] = {
		/* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		/* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 10),
		/* 2 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		/* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mmap, 2, 0),
		/* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mprotect, 4, 0),
		/* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_pkey_mprotect, 3, 6),
		/* 6 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
		/* 7 */ BPF_STMT(BPF_ALU | BPF_AND | BPF_K, PROT_WRITE | PROT_EXEC),
		/* 8 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PROT_WRITE | PROT_EXEC, 4, 3),
		/* 9 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
		/* 10 */ BPF_STMT(BPF_ALU | BPF_AND | BPF_K, PROT_EXEC),
		/* 11 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PROT_EXEC, 1, 0),
		/* 12 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		/* 13 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	assert_int_equal(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	assert_int_equal(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
}

static void
test_regexes_without_jit(void **state)
{
	struct pattern_list l;
	char subject[251];
	void *p;
	int jit_before, jit_after;

	(void)state;
	/* Asked in a child: PCRE2 keeps its executable chunks for reuse, so a
	 * JIT compile before the filter would leave this process JIT memory
	 * (under systemd the filter comes before exec: there is none). */
	{
		pid_t pid = fork();
		int status;

		assert_true(pid >= 0);
		if (pid == 0)
			_exit(jit_works() ? 0 : 1);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		jit_before = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	}
	deny_write_execute();
	/* The filter bites: no RWX mapping, no page turned executable. */
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p == MAP_FAILED && errno == EPERM);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	assert_int_equal(mprotect(p, 4096, PROT_READ | PROT_EXEC), -1);
	assert_int_equal(errno, EPERM);
	munmap(p, 4096);
	jit_after = jit_works();
	printf("# PCRE2 JIT: %s before MemoryDenyWriteExecute, %s under it\n",
	       jit_before ? "on" : "off", jit_after ? "on" : "off");
	assert_false(jit_after);

	memset(&l, 0, sizeof(l));
	assert_int_equal(pattern_list_add(&l, "/.*@hoster[0-9]+\\.de/", NULL), 0);
	assert_int_equal(pattern_list_add(&l, "/(a+)+$/", NULL), 0);
	assert_int_equal(pattern_list_add(&l, "/news-[0-9]+@lists\\.example/", NULL), 0);
	assert_int_equal(pattern_list_add(&l, "exact@example.com", NULL), 0);
	pattern_list_seal(&l);
	assert_true(pattern_match_address(&l, "x@hoster42.de"));
	assert_true(pattern_match_address(&l, "X@HOSTER7.DE"));
	assert_false(pattern_match_address(&l, "x@hoster.de"));
	assert_false(pattern_match_address(&l, "x@hoster42.de.evil"));
	assert_true(pattern_match_address(&l, "news-42@lists.example"));
	assert_false(pattern_match_address(&l, "xnews-42@lists.example"));
	assert_true(pattern_match_address(&l, "exact@example.com"));
	/* The interpreter's limits stop catastrophic backtracking as the JIT's did. */
	memset(subject, 'a', sizeof(subject) - 2);
	subject[sizeof(subject) - 2] = '!';
	subject[sizeof(subject) - 1] = '\0';
	assert_false(pattern_match_address(&l, subject));
	pattern_list_free(&l);
}
#else
static void
test_regexes_without_jit(void **state)
{
	(void)state;
	skip();
}
#endif

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_regexes_without_jit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
