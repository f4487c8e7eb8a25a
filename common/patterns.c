/*
 * patterns.c - match addresses, domains and IPs against admin lists.
 *
 * Exact items (the common case: thousands of addresses in a Redis set)
 * are one sorted array and a binary search; regexes, rare and slow, are
 * tried only when no exact item matched. Lowercasing happens once, when
 * an item is added and when a query is made, never per comparison. IP
 * blocks go into a range set (ipset.h), merged at seal time, so a lookup
 * in 100,000 CIDRs is a binary search, not 100,000 comparisons.
 *
 * The exact items' text is packed in chunks (an arena freed as a whole),
 * not one malloc each: 100,000 addresses of 38 bytes cost 5.9 MB with one
 * malloc each (39 bytes take a 48-byte malloc chunk), 4.7 MB packed and
 * with the pointer array trimmed at seal time (mallinfo2(), glibc 2.36).
 * Chunks start at 1 KiB, so that a config list of three items stays
 * small, and double up to 64 KiB.
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
#include "patterns.h"

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

static int
grow(void **items, size_t *cap, size_t count, size_t size)
{
	size_t ncap;
	void *p;

	if (count < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	if ((p = realloc(*items, ncap * size)) == NULL)
		return -1;
	*items = p;
	*cap = ncap;
	return 0;
}

struct pattern_chunk {
	struct pattern_chunk *next;
	size_t used, size;
	char data[];
};

#define CHUNK_MIN 1024
#define CHUNK_MAX 65536

/* n bytes that live as long as the list; NULL when memory runs out. */
static char *
arena_alloc(struct pattern_list *list, size_t n)
{
	struct pattern_chunk *c = list->chunks;
	size_t size;

	if (c == NULL || c->size - c->used < n) {
		size = c == NULL ? CHUNK_MIN : c->size < CHUNK_MAX ? c->size * 2 : CHUNK_MAX;
		if (size < n)
			size = n;
		if ((c = malloc(sizeof(*c) + size)) == NULL)
			return NULL;
		c->next = list->chunks;
		c->used = 0;
		c->size = size;
		list->chunks = c;
	}
	c->used += n;
	return c->data + c->used - n;
}

/* False when src did not fit: a query cut short must not match an item
 * that equals its first bytes (a 300-byte domain is no 255-byte one). */
static bool
lowercase(char *dst, const char *src, size_t size)
{
	size_t i;

	for (i = 0; src[i] && i + 1 < size; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	dst[i] = '\0';
	return src[i] == '\0';
}

static bool
is_regex(const char *item, size_t len)
{
	return len >= 2 && item[0] == '/' && item[len - 1] == '/';
}

/* The one place where an item's length is judged, for add and check. */
static const char *
check_length(size_t len)
{
	if (len == 0)
		return "empty";
	if (len > PATTERN_ITEM_MAX)
		return "longer than 256 bytes";
	return NULL;
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
pattern_check(const char *item)
{
	size_t len = strlen(item);
	const char *why;
	pcre2_code *code;

	if ((why = check_length(len)) != NULL)
		return why;
	if (!is_regex(item, len))
		return NULL;
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

static int
add_regex(struct pattern_list *list, const char *item, size_t len,
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
	if (grow((void **)&list->regex, &list->regex_cap, list->regex_count,
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

int
pattern_list_add_reuse(struct pattern_list *list, const char *item,
		       struct pattern_list *old, const char **why)
{
	size_t len = strlen(item);
	struct net_cidr block;
	const char *dummy;
	char *copy;

	if (why == NULL)
		why = &dummy;
	if ((*why = check_length(len)) != NULL)
		return -1;
	if (is_regex(item, len))
		return add_regex(list, item, len, old, why);
	if (net_cidr_parse(item, &block) == 0) {
		if (ipset_add(&list->nets, &block) < 0) {
			*why = "out of memory";
			return -1;
		}
		list->net_count++;
		return 0;
	}
	if (grow((void **)&list->exact, &list->exact_cap, list->exact_count, sizeof(char *)) < 0
	    || (copy = arena_alloc(list, len + 1)) == NULL) {
		*why = "out of memory";
		return -1;
	}
	lowercase(copy, item, len + 1);
	list->exact[list->exact_count++] = copy;
	return 0;
}

int
pattern_list_add(struct pattern_list *list, const char *item, const char **why)
{
	return pattern_list_add_reuse(list, item, NULL, why);
}

static int
compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
pattern_list_seal(struct pattern_list *list)
{
	char **exact;

	if (list->exact_count > 1)
		qsort(list->exact, list->exact_count, sizeof(char *), compare_strings);
	/* give back the array's growth slack (up to half of it) */
	if (list->exact_count > 0 && list->exact_count < list->exact_cap
	    && (exact = realloc(list->exact, list->exact_count * sizeof(char *))) != NULL) {
		list->exact = exact;
		list->exact_cap = list->exact_count;
	}
	/* Order does not change what matches; sorted, a refresh finds the
	 * regexes it can keep by binary search (take_regex). */
	if (list->regex_count > 1)
		qsort(list->regex, list->regex_count, sizeof(*list->regex), compare_regex);
	ipset_finish(&list->nets);
}

size_t
pattern_list_size(const struct pattern_list *list)
{
	return list->exact_count + list->regex_count + list->net_count;
}

size_t
pattern_list_bytes(const struct pattern_list *list)
{
	const struct pattern_chunk *c;
	size_t bytes, i, size;

	bytes = list->exact_cap * sizeof(char *) + list->regex_cap * sizeof(*list->regex)
	    + ipset_bytes(&list->nets);
	for (c = list->chunks; c != NULL; c = c->next)
		bytes += sizeof(*c) + c->size;
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
pattern_list_free(struct pattern_list *list)
{
	struct pattern_chunk *c, *next;
	size_t i;

	for (c = list->chunks; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	free(list->exact);
	for (i = 0; i < list->regex_count; i++) {
		free(list->regex[i].source);
		pcre2_code_free((pcre2_code *)list->regex[i].code);
	}
	free(list->regex);
	ipset_free(&list->nets);
	memset(list, 0, sizeof(*list));
}

static bool
has_exact(const struct pattern_list *list, const char *lower)
{
	return list->exact_count > 0
	    && bsearch(&lower, list->exact, list->exact_count, sizeof(char *),
		       compare_strings) != NULL;
}

bool
pattern_match_domain(const struct pattern_list *list, const char *domain, bool parents)
{
	char lower[ADDRESS_DOMAIN_MAX + 1];
	const char *p;

	if (domain == NULL || *domain == '\0' || !lowercase(lower, domain, sizeof(lower)))
		return false;
	for (p = lower; p; p = strchr(p, '.') ? strchr(p, '.') + 1 : NULL) {
		if (has_exact(list, p))
			return true;
		if (!parents)
			break;
	}
	return false;
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

/* The lowercase address of len bytes against the list. */
static bool
match_lower_address(const struct pattern_list *list, const char *lower, size_t len)
{
	pcre2_match_data *md;
	const char *at;
	size_t i;
	int rc;

	if (has_exact(list, lower))
		return true;
	if ((at = strrchr(lower, '@')) != NULL && has_exact(list, at + 1))
		return true;
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

/*
 * An address longer than ADDRESS_MAX (RFC 5321's 256, which Postfix does
 * not enforce by default) equals no item, but its domain part may, and a
 * regex may match it: it is looked at whole, from a copy on the heap.
 * Never cut: the cut text could match a forbid regex the whole does not,
 * or miss one it does (a sender must not slip past /bulk-.*@.+/ by
 * being long; regexes are anchored at both ends).
 */
bool
pattern_match_address(const struct pattern_list *list, const char *address)
{
	char small[ADDRESS_MAX + 1], *lower = small;
	size_t len;
	bool found;

	if (address == NULL)
		return false;
	len = strlen(address);
	if (len >= sizeof(small) && (lower = malloc(len + 1)) == NULL)
		return false;
	(void)lowercase(lower, address, len + 1);
	found = match_lower_address(list, lower, len);
	if (lower != small)
		free(lower);
	return found;
}

bool
pattern_match_ip(const struct pattern_list *list, const struct net_addr *addr)
{
	return ipset_contains(&list->nets, addr);
}
