/*
 * postconf.c - `sluice-ctl postconf [--main|--master]`: the Postfix
 * settings that follow from sluice.conf.
 *
 *   sluice-ctl postconf --main | while read -r l; do postconf -e "$l"; done
 *   sluice-ctl postconf --master | while read -r l; do postconf -Me "$l"; done
 *   postfix check && postfix reload
 *
 * Output: main.cf lines "name = value" (one `postconf -e` each), master.cf
 * lines "service/type = entry" (one `postconf -Me` each); without an
 * option both, each part under a "#" heading; --json the same as an
 * object {"main": [{name, value}], "master": [...], "notes": [...]}.
 * The lines come from postconf_gen.c (pure); this file prints them and
 * checks what only the running system can tell: that each SASL table the
 * lines name exists, is not readable by others, has the entry Postfix
 * will look up with the configured login, and was postmap'ed after its
 * last change. It reads those files and never prints any part of a
 * password value.
 *
 * Exit: 0 printed; 1 printed, but a SASL table needs fixing (each
 * problem on stderr); 2 usage or out of memory. Notes (what is not
 * printed and why) go to stderr with exit 0.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "ctl.h"
#include "postconf_gen.h"

#define SASL_LINE_MAX 4096

static void
json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void
json_list(const char *name, const struct pc_list *l, bool *first)
{
	size_t i;

	printf("%s\"%s\":[", *first ? "" : ",", name);
	for (i = 0; i < l->count; i++) {
		printf("%s{\"name\":", i ? "," : "");
		json_string(l->items[i].name);
		printf(",\"value\":");
		json_string(l->items[i].value);
		putchar('}');
	}
	putchar(']');
	*first = false;
}

static void
print_json(const struct pc_output *o, bool main_cf, bool master_cf)
{
	bool first = true;
	size_t i;

	putchar('{');
	if (main_cf)
		json_list("main", &o->main, &first);
	if (master_cf)
		json_list("master", &o->master, &first);
	printf("%s\"notes\":[", first ? "" : ",");
	for (i = 0; i < o->note_count; i++) {
		if (i)
			putchar(',');
		json_string(o->notes[i]);
	}
	printf("]}\n");
}

static void
print_text(const struct pc_list *l)
{
	size_t i;

	for (i = 0; i < l->count; i++)
		printf("%s = %s\n", l->items[i].name, l->items[i].value);
}

/*
 * One SASL entry: the table's first key equal to e->key (Postfix lookup
 * keys are case-insensitive for hash:) must have the value "user:...".
 * Messages name the file, the key and the login, never the value.
 */
static int
check_sasl_entry(const struct pc_sasl_entry *e)
{
	char line[SASL_LINE_MAX], db[4200];
	struct stat st, dbst;
	size_t keylen = strlen(e->key), userlen = strlen(e->user);
	int problems = 0, found = 0;
	FILE *fp;

	if ((fp = fopen(e->file, "r")) == NULL) {
		fprintf(stderr, "sluice-ctl postconf: %s: %s (it must hold '%s %s:PASSWORD')\n",
			e->file, strerror(errno), e->key, e->user);
		return 1;
	}
	if (fstat(fileno(fp), &st) == 0 && (st.st_mode & 0077)) {
		fprintf(stderr, "sluice-ctl postconf: %s: readable by others (mode %04o): "
			"chmod 0600 it and its .db\n", e->file, (unsigned)(st.st_mode & 07777));
		problems++;
	}
	while (!found && fgets(line, sizeof(line), fp)) {
		char *p = line + strspn(line, " \t");

		if (*p == '#' || strncasecmp(p, e->key, keylen) != 0 || !strchr(" \t", p[keylen]))
			continue;
		p += keylen;
		p += strspn(p, " \t");
		found = strncmp(p, e->user, userlen) == 0 && p[userlen] == ':' ? 1 : -1;
	}
	fclose(fp);
	if (found == 0) {
		fprintf(stderr, "sluice-ctl postconf: %s: no entry '%s' (Postfix looks up this key: "
			"add '%s %s:PASSWORD')\n", e->file, e->key, e->key, e->user);
		problems++;
	} else if (found < 0) {
		fprintf(stderr, "sluice-ctl postconf: %s: entry '%s' is not for login '%s' "
			"(sluice.conf's sasl_user)\n", e->file, e->key, e->user);
		problems++;
	}
	snprintf(db, sizeof(db), "%s.db", e->file);
	if (stat(db, &dbst) != 0 || dbst.st_mtime < st.st_mtime) {
		fprintf(stderr, "sluice-ctl postconf: %s: %s: run postmap hash:%s\n", e->file,
			stat(db, &dbst) != 0 ? "no .db yet" : "changed since its .db was made",
			e->file);
		problems++;
	}
	return problems;
}

int
ctl_postconf(const struct ctl_opts *opts, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "main", no_argument, NULL, 'm' },
		{ "master", no_argument, NULL, 'M' },
		{ NULL, 0, NULL, 0 },
	};
	bool main_cf = false, master_cf = false;
	struct pc_output out;
	int ch, problems = 0;
	size_t i;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch == 'm')
			main_cf = true;
		else if (ch == 'M')
			master_cf = true;
		else
			goto usage;
	}
	if (optind != argc)
		goto usage;
	if (!main_cf && !master_cf)
		main_cf = master_cf = true;
	if (postconf_generate(opts->cfg, &out) < 0) {
		fprintf(stderr, "sluice-ctl postconf: out of memory\n");
		return 2;
	}
	if (opts->json) {
		print_json(&out, main_cf, master_cf);
	} else {
		if (main_cf && master_cf)
			printf("# main.cf: postconf -e each line\n");
		if (main_cf)
			print_text(&out.main);
		if (main_cf && master_cf)
			printf("# master.cf: postconf -Me each line\n");
		if (master_cf)
			print_text(&out.master);
	}
	fflush(stdout);
	for (i = 0; i < out.note_count; i++)
		fprintf(stderr, "sluice-ctl postconf: note: %s\n", out.notes[i]);
	for (i = 0; i < out.sasl_count; i++)
		problems += check_sasl_entry(&out.sasl[i]);
	postconf_output_free(&out);
	return problems ? 1 : 0;
usage:
	fprintf(stderr, "usage: sluice-ctl [-c FILE] [--json] postconf [--main|--master]\n");
	return 2;
}
