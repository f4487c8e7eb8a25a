/*
 * regex-mdwe.c - what MemoryDenyWriteExecute=yes (the systemd units)
 * costs the lists' regexes: PCRE2's JIT cannot get executable memory
 * under it, so common/pattern_regex.c matches with the interpreter.
 *
 *   build/bench/regex-mdwe [ROUNDS] [LOOKUPS]
 *
 * Two lists of 100 regexes, the shapes admins write: "tail", each ending
 * in a literal ("/.*@hosterN\.de/", which pattern_regex.c prefilters by that
 * literal, so few regexes run per address), and "notail" (a literal in
 * the middle, "/.*spamN.+/": every regex runs on every address). For each
 * list, ROUNDS (5) interleaved rounds of two child processes, one as the
 * daemons run without the unit (JIT) and one under systemd 252's
 * MemoryDenyWriteExecute seccomp filter (installed in the child before
 * it compiles anything, as under systemd). Each child times LOOKUPS
 * (20000) lookups of addresses that match none (the common case: every
 * regex is tried), as CPU time of the process (CLOCK_PROCESS_CPUTIME_ID),
 * and prints microseconds per lookup. The parent prints the medians and
 * the ratio interpreter/JIT. x86-64 only.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "patterns.h"

#define NREGEX 100

static int
deny_write_execute(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 10),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mmap, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mprotect, 4, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_pkey_mprotect, 3, 6),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
		BPF_STMT(BPF_ALU | BPF_AND | BPF_K, PROT_WRITE | PROT_EXEC),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PROT_WRITE | PROT_EXEC, 4, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
		BPF_STMT(BPF_ALU | BPF_AND | BPF_K, PROT_EXEC),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PROT_EXEC, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -1;
	return 0;
}

static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* In a child: microseconds per lookup, written to fd. */
static void
child(int fd, int mdwe, int tail, long lookups)
{
	struct pattern_list l;
	char item[64], addr[64];
	double t0, us;
	long i, hits = 0;

	if (mdwe && deny_write_execute() < 0)
		_exit(2);
	memset(&l, 0, sizeof(l));
	for (i = 0; i < NREGEX; i++) {
		if (tail)
			snprintf(item, sizeof(item), "/.*@hoster%ld\\.de/", i);
		else
			snprintf(item, sizeof(item), "/.*spam%ld.+/", i);
		if (pattern_list_add(&l, item, NULL) < 0)
			_exit(3);
	}
	pattern_list_seal(&l);
	t0 = cpu_now();
	for (i = 0; i < lookups; i++) {
		snprintf(addr, sizeof(addr), "user%ld@mail%ld.example.com", i, i % 97);
		hits += pattern_match_address(&l, addr);
	}
	us = (cpu_now() - t0) * 1e6 / (double)lookups;
	if (hits != 0)
		_exit(4);
	if (write(fd, &us, sizeof(us)) != (ssize_t)sizeof(us))
		_exit(5);
	pattern_list_free(&l);
	_exit(0);
}

static double
run(int mdwe, int tail, long lookups)
{
	int p[2], status;
	double us = -1;
	pid_t pid;

	if (pipe(p) < 0 || (pid = fork()) < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		close(p[0]);
		child(p[1], mdwe, tail, lookups);
	}
	close(p[1]);
	if (read(p[0], &us, sizeof(us)) != (ssize_t)sizeof(us))
		us = -1;
	close(p[0]);
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || us < 0) {
		fprintf(stderr, "regex-mdwe: a child failed (status %d)\n", status);
		exit(1);
	}
	return us;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 5, tail, r;
	long lookups = argc > 2 ? atol(argv[2]) : 20000;
	double jit[64], interp[64];

	if (rounds < 1 || rounds > 64 || lookups < 1) {
		fprintf(stderr, "usage: regex-mdwe [ROUNDS 1-64] [LOOKUPS]\n");
		return 2;
	}
	printf("%d regexes, %ld lookups that match none, CPU us per lookup\n", NREGEX, lookups);
	for (tail = 1; tail >= 0; tail--) {
		for (r = 0; r < rounds; r++) {
			jit[r] = run(0, tail, lookups);
			interp[r] = run(1, tail, lookups);
			printf("  %-6s round %d: JIT %8.2f  MDWE (interpreter) %8.2f\n",
			       tail ? "tail" : "notail", r + 1, jit[r], interp[r]);
		}
		qsort(jit, (size_t)rounds, sizeof(double), cmp);
		qsort(interp, (size_t)rounds, sizeof(double), cmp);
		printf("%-6s median: JIT %.2f us, MDWE %.2f us, ratio %.2f\n", tail ? "tail" : "notail",
		       jit[rounds / 2], interp[rounds / 2], interp[rounds / 2] / jit[rounds / 2]);
	}
	return 0;
}
