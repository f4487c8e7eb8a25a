/*
 * config_lines.c - the true source line of a setting, for error messages.
 *
 * Interface: cfg_setting_line(s, path) is the line on which setting s
 * starts in the file it came from (path when libconfig names none).
 *
 * Why: libconfig records an element of a list or an array at the line of
 * the token after it, because it reads one token ahead (two adjacent
 * strings are one string). In the usual layout, one element per line,
 * the last element is then reported at the line of the closing ']', and
 * with leading commas every element one line late. So for an element
 * this module reads the file again with a small lexer of libconfig's
 * tokens (strings, comments, punctuation, words), finds the setting's
 * path from the top, and counts the elements. Named settings, which
 * libconfig records exactly, are only used as landmarks. Whenever the
 * file does not match what was parsed (it changed, or the element comes
 * from an @include), the answer is libconfig's own line.
 *
 * Contract: reads the file, allocates while it runs, keeps nothing.
 * Config files are small; this runs only on the error path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_read.h"

#define DEPTH_MAX 64

struct token {
	char kind;		/* 's' string, 'w' word, or the punctuation itself */
	int line;
	size_t start, len;	/* in the file's text */
};

struct lexed {
	char *text;
	struct token *tok;
	size_t count;
};

static int
push(struct lexed *lx, size_t *cap, char kind, int line, size_t start, size_t len)
{
	if (lx->count == *cap) {
		size_t ncap = *cap ? *cap * 2 : 256;
		struct token *t = realloc(lx->tok, ncap * sizeof(*t));

		if (t == NULL)
			return -1;
		lx->tok = t;
		*cap = ncap;
	}
	lx->tok[lx->count++] = (struct token){ kind, line, start, len };
	return 0;
}

/* Splits the text into tokens; comments and white space are dropped. */
static int
lex(struct lexed *lx)
{
	const char *t = lx->text;
	size_t i = 0, cap = 0, start;
	int line = 1;

	while (t[i]) {
		char c = t[i];

		if (c == '\n') {
			line++;
			i++;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\f') {
			i++;
		} else if (c == '#' || (c == '/' && t[i + 1] == '/')) {
			while (t[i] && t[i] != '\n')
				i++;
		} else if (c == '/' && t[i + 1] == '*') {
			for (i += 2; t[i] && !(t[i] == '*' && t[i + 1] == '/'); i++)
				line += t[i] == '\n';
			i += t[i] ? 2 : 0;
		} else if (c == '"') {
			int first = line;

			for (start = i++; t[i] && t[i] != '"'; i++) {
				if (t[i] == '\\' && t[i + 1])
					i++;
				line += t[i] == '\n';
			}
			i += t[i] ? 1 : 0;
			if (push(lx, &cap, 's', first, start, i - start) < 0)
				return -1;
		} else if (strchr("[](){},;=:", c)) {
			if (push(lx, &cap, c, line, i, 1) < 0)
				return -1;
			i++;
		} else {
			for (start = i; t[i] && !strchr(" \t\r\f\n#\"[](){},;=:", t[i])
			     && !(t[i] == '/' && (t[i + 1] == '/' || t[i + 1] == '*')); i++)
				;
			if (push(lx, &cap, 'w', line, start, i - start) < 0)
				return -1;
		}
	}
	return 0;
}

/* Index of the token after the end of the value starting at v, skipping
 * nested groups, lists and arrays. */
static size_t
skip_value(const struct lexed *lx, size_t v)
{
	int depth = 0;

	for (; v < lx->count; v++) {
		char k = lx->tok[v].kind;

		if (k == '[' || k == '(' || k == '{')
			depth++;
		else if (k == ']' || k == ')' || k == '}')
			depth--;
		if (depth <= 0) {
			/* a string value may be several adjacent strings */
			while (k == 's' && v + 1 < lx->count && lx->tok[v + 1].kind == 's')
				v++;
			return v + 1;
		}
	}
	return v;
}

/*
 * The token index where the value of s starts; (size_t)-1 when the file
 * does not show it. "Inside" a group, list or array is the range after
 * its opening token; the root's inside is the whole file.
 */
static size_t
find_value(const struct lexed *lx, const config_setting_t *s, int depth)
{
	const config_setting_t *parent = config_setting_parent(s);
	const char *name = config_setting_name(s);
	size_t v, end;
	int index, i;

	if (parent == NULL || depth > DEPTH_MAX)
		return (size_t)-1;	/* the root has no value token */
	if (config_setting_parent(parent) == NULL) {
		v = 0;			/* members of the root */
		end = lx->count;
	} else {
		if ((v = find_value(lx, parent, depth + 1)) == (size_t)-1)
			return v;
		end = skip_value(lx, v) - 1;	/* the closing token */
		v++;
	}
	if (name != NULL) {
		/* members: NAME (= or :) VALUE [; or ,], one after the other */
		while (v + 2 <= end) {
			const struct token *t = &lx->tok[v];

			if (t->kind == 'w' && t->len == 8 && memcmp(lx->text + t->start, "@include", 8) == 0
			    && lx->tok[v + 1].kind == 's') {
				v += 2;		/* its settings are in another file */
				continue;
			}
			if (t->kind != 'w' || (lx->tok[v + 1].kind != '=' && lx->tok[v + 1].kind != ':'))
				return (size_t)-1;
			if (t->len == strlen(name) && memcmp(lx->text + t->start, name, t->len) == 0)
				return v + 2;
			v = skip_value(lx, v + 2);
			if (v < end && (lx->tok[v].kind == ';' || lx->tok[v].kind == ','))
				v++;
		}
		return (size_t)-1;
	}
	/* elements: VALUE , VALUE , ... */
	index = config_setting_index(s);
	for (i = 0; i < index && v < end; i++) {
		v = skip_value(lx, v);
		if (v >= end || lx->tok[v].kind != ',')
			return (size_t)-1;
		v++;
	}
	return v < end ? v : (size_t)-1;
}

static char *
read_text(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *text = NULL;
	size_t len = 0, cap = 0, n;

	if (fp == NULL)
		return NULL;
	do {
		if (len + 4096 + 1 > cap) {
			char *p = realloc(text, cap = cap * 2 + 8192);

			if (p == NULL) {
				free(text);
				fclose(fp);
				return NULL;
			}
			text = p;
		}
		n = fread(text + len, 1, 4096, fp);
		len += n;
	} while (n > 0 && len < (1u << 24));
	fclose(fp);
	text[len] = '\0';
	return text;
}

/* Whether every setting from s up to the root came from one file. */
static bool
one_file(const config_setting_t *s)
{
	const char *file = config_setting_source_file(s);

	for (s = config_setting_parent(s); s && config_setting_parent(s); s = config_setting_parent(s)) {
		const char *f = config_setting_source_file(s);

		if ((f == NULL) != (file == NULL) || (f && strcmp(f, file) != 0))
			return false;
	}
	return true;
}

int
cfg_setting_line(const config_setting_t *s, const char *path)
{
	const config_setting_t *parent = config_setting_parent(s);
	const char *file = config_setting_source_file(s);
	int line = (int)config_setting_source_line(s);
	struct lexed lx = { NULL, NULL, 0 };
	size_t v;

	/* Named settings are recorded where their name is: exact. */
	if (parent == NULL || config_setting_name(s) != NULL || !one_file(s))
		return line;
	if ((lx.text = read_text(file ? file : path)) != NULL && lex(&lx) == 0
	    && (v = find_value(&lx, s, 0)) != (size_t)-1
	    && lx.tok[v].line <= line)	/* libconfig's is never earlier */
		line = lx.tok[v].line;
	free(lx.text);
	free(lx.tok);
	return line;
}
