/*
 * postconf_gen.h - the Postfix settings that follow from a loaded
 * sluice.conf, as data (for `sluice-ctl postconf` and its unit test).
 *
 * Interface:
 *   postconf_generate()  cfg -> main.cf settings (name, value: one
 *                        `postconf -e "name = value"` each) and master.cf
 *                        entries (name "service/type", value the whole
 *                        line: one `postconf -Me "name = value"` each),
 *                        plus notes for the admin (what is not printed
 *                        and why, which postmap to run). -1 only when out
 *                        of memory (a loaded config is valid).
 *   postconf_output_free()
 *
 * Contract: pure: it reads nothing but cfg (no file, no DNS), so the same
 * config always gives the same lines, in a fixed order. No password is
 * ever part of the output: SASL credentials stay in the admin's own
 * lookup table, which smtp_sasl_password_maps names. Maps are written
 * inline (inline:{ key=value, ... }): one postconf command per setting,
 * no generated file to install or postmap. Every value is a complete
 * Postfix value: applying it replaces what main.cf had (merge your own
 * restrictions or tables by hand: the notes say which settings).
 */
#ifndef SLUICE_POSTCONF_GEN_H
#define SLUICE_POSTCONF_GEN_H

#include <stddef.h>

#include "config.h"

struct pc_setting {
	char *name;
	char *value;
};

struct pc_list {
	struct pc_setting *items;
	size_t count, cap;
};

/* A SASL table the printed lines name, and the key Postfix looks up in
 * it, with the login the entry must carry (for the caller's file check). */
struct pc_sasl_entry {
	const char *file;	/* points into cfg */
	char *key;
	const char *user;	/* points into cfg */
};

struct pc_output {
	struct pc_list main;	/* main.cf */
	struct pc_list master;	/* master.cf: "service/type" = entry */
	char **notes;
	size_t note_count;
	struct pc_sasl_entry *sasl;
	size_t sasl_count;
};

int postconf_generate(const struct sluice_config *cfg, struct pc_output *out);
void postconf_output_free(struct pc_output *out);
/* The value of main.cf setting name in out, or NULL (tests, --json). */
const char *postconf_main_value(const struct pc_output *out, const char *name);

#endif
