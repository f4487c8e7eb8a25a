/*
 * pattern_regex.c - the /regex/ items of a pattern list (see
 * pattern_regex.h; what a list is and its limits: patterns.h).
 *
 * Why PCRE2 and not regcomp(3): glibc expands bounded repeats at compile
 * time, so the 25-byte member /((.{0,40}){0,40}){0,40}/ took 18 s and a
 * 4-level one more than 4 GB, and anyone who can write to Redis can put
 * one in a list. PCRE2 computes the compiled size before it allocates
 * (and refuses more than 64 KiB: "regular expression is too large"), we
 * refuse more than PATTERN_REGEX_SIZE_MAX, and pcre2_match() stops at
 * the match, depth and heap limits of one shared match context instead
 * of backtracking for ever on /(a+)+$/ (the JIT keeps the match limit;
 * see jit() below).
 *
 * Most regexes admins write end in a literal ("/.*@hoster[0-9]+\.de/"
 * ends in ".de"), and since every regex is anchored at the end, an
 * address that does not end in that literal cannot match. Each regex
 * keeps its literal tail (pattern_regex_tail()), and a lookup compares
 * tails before it runs a regex: 100 such regexes cost a hundred short
 * memcmp()s per address instead of a hundred matches (about 13 us with
 * the JIT), which is what made a list of 100 regexes cost a quarter of
 * the policy daemon's throughput.
 *
 * Anchoring is by option (PCRE2_ANCHORED | PCRE2_ENDANCHORED), not by
 * pasting ^ and $ around the text: "^a|b$" would let "a.evil" and "x-b"
 * match /a|b/. Captures are off (PCRE2_NO_AUTO_CAPTURE: nothing reads
 * them, and it refuses \1 back references, which POSIX ERE lacks), and
 * UTF/UCP modes cannot be switched on from inside a pattern, so an
 * address is matched byte by byte as regcomp did in the C locale.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <ctype.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "pattern_regex.h"

#define REGEX_OPTIONS (PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_CASELESS \
		       | PCRE2_NO_AUTO_CAPTURE | PCRE2_NEVER_UTF | PCRE2_NEVER_UCP \
		       | PCRE2_NEVER_BACKSLASH_C)
#define REGEX_PARENS_MAX 32	/* nesting of (...), bounds compile recursion */

/* Contexts shared by every thread, read-only once made; the match data
 * (which keeps PCRE2's backtracking frames between calls) is per thread. */
static pthread_once_t regex_once = PTHREAD_ONCE_INIT;
static pcre2_compile_context *compile_ctx;
static pcre2_match_context *match_ctx;
static pthread_key_t match_data_key;
static bool regex_ready;
static _Atomic long limit_warned_at = -3600;

/* Reasons that carry PCRE2's message ("missing closing parenthesis at
 * offset 3"): one buffer per thread, valid until that thread's next add. */
static __thread char why_buf[200];

static void
free_match_data(void *md)
{
	pcre2_match_data_free(md);
}

static void
regex_init(void)
{
	if ((compile_ctx = pcre2_compile_context_create(NULL)) == NULL
	    || (match_ctx = pcre2_match_context_create(NULL)) == NULL
	    || pthread_key_create(&match_data_key, free_match_data) != 0)
		return;
	pcre2_set_max_pattern_length(compile_ctx, PATTERN_ITEM_MAX - 2);
	pcre2_set_parens_nest_limit(compile_ctx, REGEX_PARENS_MAX);
	pcre2_set_match_limit(match_ctx, PATTERN_MATCH_LIMIT);
	pcre2_set_depth_limit(match_ctx, PATTERN_DEPTH_LIMIT);
	pcre2_set_heap_limit(match_ctx, PATTERN_HEAP_LIMIT);
	regex_ready = true;
}

/*
 * Machine code for a compiled regex, where PCRE2 has a JIT for this CPU:
 * measured here, 1,000 regexes of the usual "/.*@host\.example/" shape
 * cost 0.73 ms per address that matches none of them interpreted, about
 * 0.13 ms with the JIT (0.13 us a regex). The match limit holds under the
 * JIT (the depth and heap limits are replaced by the JIT's own bounded
 * stack, whose overflow is an error, so no match). Without a JIT, or
 * if it fails, the interpreter is used: nothing else changes.
 */
static void
jit(pcre2_code *code)
{
	(void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
}

/* Compiles "/re/" (len bytes, slashes included) or says why not. */
static pcre2_code *
compile_regex(const char *item, size_t len, const char **why)
{
	char msg[120];
	PCRE2_SIZE offset;
	pcre2_code *code;
	size_t size;
	int rc;

	pthread_once(&regex_once, regex_init);
	if (!regex_ready) {
		*why = "out of memory";
		return NULL;
	}
	code = pcre2_compile((PCRE2_SPTR)item + 1, len - 2, REGEX_OPTIONS, &rc, &offset,
			     compile_ctx);
	if (code == NULL) {
		if (pcre2_get_error_message(rc, (PCRE2_UCHAR *)msg, sizeof(msg)) < 0)
			snprintf(msg, sizeof(msg), "error %d", rc);
		snprintf(why_buf, sizeof(why_buf), "invalid regular expression: %s at offset %zu",
			 msg, (size_t)offset);
		*why = why_buf;
		return NULL;
	}
	if (pcre2_pattern_info(code, PCRE2_INFO_SIZE, &size) != 0
	    || size > PATTERN_REGEX_SIZE_MAX) {
		pcre2_code_free(code);
		snprintf(why_buf, sizeof(why_buf),
			 "regular expression too large when compiled (more than %d bytes)",
			 PATTERN_REGEX_SIZE_MAX);
		*why = why_buf;
		return NULL;
	}
	jit(code);
	return code;
}

const char *
pattern_regex_check(const char *item, size_t len)
{
	const char *why;
	pcre2_code *code;

	if ((code = compile_regex(item, len, &why)) == NULL)
		return why;
	pcre2_code_free(code);
	return NULL;
}

static int
compare_regex(const void *a, const void *b)
{
	return strcmp(((const struct pattern_regex *)a)->source,
		      ((const struct pattern_regex *)b)->source);
}

/* A copy of the compiled form of item in the sealed list old, or NULL. */
static pcre2_code *
take_regex(struct pattern_list *old, const char *item)
{
	struct pattern_regex key = { .source = (char *)(uintptr_t)item }, *found;
	pcre2_code *code;

	if (old == NULL || old->regex_count == 0)
		return NULL;
	found = bsearch(&key, old->regex, old->regex_count, sizeof(*old->regex), compare_regex);
	if (found == NULL)
		return NULL;
	/* A copy, not the original: old may be a list other threads still
	 * match against (a shared snapshot). Copying compiled code is a
	 * memcpy, not a compile. */
	if ((code = pcre2_code_copy((pcre2_code *)found->code)) != NULL)
		jit(code);	/* pcre2_code_copy() leaves the machine code out */
	return code;
}

/*
 * The literal that every address a regex matches ends with, lowercased,
 * into tail (size bytes with the NUL); returns its length, 0 when there
 * is none (or it would not fit). re is the regex without its slashes.
 * Conservative by construction: anything this scanner does not know ends
 * or cancels the tail, and a shorter tail only filters less. So:
 *   - "|" anywhere, "(?" other than "(?:" (inline options: (?x) changes
 *     what a space means; lookarounds), "(*" (verbs: (*ACCEPT) ends a
 *     match early) and \Q...\E give no tail at all;
 *   - a literal is an ASCII character that is not a metacharacter, or a
 *     backslash before ASCII punctuation ("\." is a dot); a letter or
 *     digit after a backslash is a class or an assertion (\d, \b);
 *   - a quantifier (?, *, +, {n}, {n,}, {n,m}) ends the run: after
 *     /ab?/ a match may end in "a" or "b", after /ab+/ in one "b" we do
 *     not bother to keep; a "{" that is not a quantifier ends it too, as
 *     do [...], (...), ".", "^" and "$".
 */
static size_t
quantifier_length(const char *re, size_t len, size_t i)
{
	size_t j = i;

	if (re[j] != '{')
		return 1;	/* ?, *, + */
	for (j++; j < len && (isdigit((unsigned char)re[j]) || re[j] == ','); j++)
		;
	return j < len && re[j] == '}' && j > i + 1 ? j - i + 1 : 0;
}

static size_t
class_end(const char *re, size_t len, size_t i)	/* i at "[": index after "]" */
{
	i++;
	if (i < len && re[i] == '^')
		i++;
	if (i < len && re[i] == ']')
		i++;	/* "[]a]": a leading "]" is a member */
	while (i < len && re[i] != ']')
		i += re[i] == '\\' ? 2 : 1;
	return i + 1;
}

size_t
pattern_regex_tail(const char *re, size_t len, char *tail, size_t size)
{
	size_t i = 0, n = 0, q;

	if (size == 0)
		return 0;
	while (i < len) {
		unsigned char c = (unsigned char)re[i];
		unsigned char next = i + 1 < len ? (unsigned char)re[i + 1] : 0;

		if (c == '|' || (c == '(' && (next == '*' || (next == '?'
				 && (i + 2 >= len || re[i + 2] != ':'))))
		    || (c == '\\' && (next == 'Q' || next == 'E'))) {
			tail[0] = '\0';
			return 0;
		}
		if ((c == '?' || c == '*' || c == '+' || c == '{')
		    && (q = quantifier_length(re, len, i)) > 0) {
			n = 0;
			i += q;
			continue;
		}
		if (c == '\\' && next != 0 && next < 0x80 && ispunct(next)) {
			c = next;
			i += 2;
		} else if (c < 0x80 && isprint(c) && strchr("\\^$.[](){", c) == NULL) {
			i++;
		} else {
			i = c == '[' ? class_end(re, len, i) : i + (c == '\\' ? 2 : 1);
			n = 0;
			continue;
		}
		if (n + 1 >= size) {
			tail[0] = '\0';
			return 0;
		}
		tail[n++] = (char)tolower(c);
	}
	tail[n] = '\0';
	return n;
}

int
pattern_regex_add(struct pattern_list *list, const char *item, size_t len,
		  struct pattern_list *old, const char **why)
{
	char tail[PATTERN_ITEM_MAX + 1];
	struct pattern_regex *r;
	size_t tail_len;
	pcre2_code *code;
	char *source;

	if (list->regex_count >= PATTERN_REGEX_COUNT_MAX) {
		*why = "more than 1000 regular expressions in one list";
		return -1;
	}
	tail_len = pattern_regex_tail(item + 1, len - 2, tail, sizeof(tail));
	/* The tail lives in the source's allocation, after its NUL. */
	if (pattern_grow((void **)&list->regex, &list->regex_cap, list->regex_count,
		 sizeof(*list->regex)) < 0 || (source = malloc(len + tail_len + 2)) == NULL) {
		*why = "out of memory";
		return -1;
	}
	memcpy(source, item, len + 1);
	memcpy(source + len + 1, tail, tail_len + 1);
	if ((code = take_regex(old, item)) == NULL
	    && (code = compile_regex(item, len, why)) == NULL) {
		free(source);
		return -1;
	}
	r = &list->regex[list->regex_count++];
	r->source = source;
	r->tail = source + len + 1;
	r->tail_len = tail_len;
	r->code = (struct pcre2_real_code_8 *)code;
	return 0;
}

void
pattern_regex_seal(struct pattern_list *list)
{
	/* Order does not change what matches; sorted, a refresh finds the
	 * regexes it can keep by binary search (take_regex). */
	if (list->regex_count > 1)
		qsort(list->regex, list->regex_count, sizeof(*list->regex), compare_regex);
}

size_t
pattern_regex_bytes(const struct pattern_list *list)
{
	size_t bytes = list->regex_cap * sizeof(*list->regex), i, size;

	for (i = 0; i < list->regex_count; i++) {
		bytes += strlen(list->regex[i].source) + 1;
		if (list->regex[i].code != NULL
		    && pcre2_pattern_info((const pcre2_code *)list->regex[i].code,
					  PCRE2_INFO_SIZE, &size) == 0)
			bytes += size;
	}
	return bytes;
}

void
pattern_regex_free(struct pattern_list *list)
{
	size_t i;

	for (i = 0; i < list->regex_count; i++) {
		free(list->regex[i].source);
		pcre2_code_free((pcre2_code *)list->regex[i].code);
	}
	free(list->regex);
	list->regex = NULL;
	list->regex_count = list->regex_cap = 0;
}

static pcre2_match_data *
thread_match_data(void)
{
	pcre2_match_data *md = pthread_getspecific(match_data_key);

	if (md == NULL && (md = pcre2_match_data_create(1, NULL)) != NULL
	    && pthread_setspecific(match_data_key, md) != 0) {
		pcre2_match_data_free(md);
		md = NULL;
	}
	return md;
}

/* A limit hit or an error: no match, and a warning at most once a minute
 * for the whole process (a hostile address may hit it on every RCPT). */
static void
match_failed(const struct pattern_regex *r, const char *address, int rc)
{
	char msg[120], re[PATTERN_ITEM_MAX + 1], addr[ADDRESS_MAX + 1];

	if (!log_due(&limit_warned_at, (long)time(NULL), 60))
		return;
	if (pcre2_get_error_message(rc, (PCRE2_UCHAR *)msg, sizeof(msg)) < 0)
		snprintf(msg, sizeof(msg), "error %d", rc);
	log_sanitize(re, sizeof(re), r->source);
	log_sanitize(addr, sizeof(addr), address);
	log_warning("regex %s on <%s>: %s, counted as no match", re, addr, msg);
}

bool
pattern_regex_match(const struct pattern_list *list, const char *lower, size_t len)
{
	pcre2_match_data *md;
	size_t i;
	int rc;

	if (list->regex_count == 0)
		return false;
	/* A list holds regexes only once regex_init() succeeded. */
	if ((md = thread_match_data()) == NULL) {
		match_failed(&list->regex[0], lower, PCRE2_ERROR_NOMEMORY);
		return false;
	}
	for (i = 0; i < list->regex_count; i++) {
		const struct pattern_regex *r = &list->regex[i];

		if (r->tail_len > len || memcmp(lower + len - r->tail_len, r->tail, r->tail_len) != 0)
			continue;	/* cannot match: see pattern_regex_tail() */
		rc = pcre2_match((const pcre2_code *)list->regex[i].code, (PCRE2_SPTR)lower, len,
				 0, 0, md, match_ctx);
		if (rc >= 0)
			return true;
		if (rc != PCRE2_ERROR_NOMATCH)
			match_failed(&list->regex[i], lower, rc);
	}
	return false;
}
