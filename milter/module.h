/*
 * module.h - the interface of sluice-milter's modules.
 *
 * A module (DKIM signing, verification, address rules, ...) is one file
 * that exports one struct milter_module; modules.c lists them all in one
 * array, in the order they run at each stage. The core (milter.c) owns
 * the libmilter callbacks and the per-connection and per-message state,
 * and calls every module's hook for the stage; the first hook that
 * returns something other than SMFIS_CONTINUE ends that stage and its
 * answer goes to Postfix.
 *
 * Lifetimes (the libmilter rules the core enforces for every module):
 *   - struct milter_conn lives from xxfi_connect to xxfi_close, and holds
 *     one reference to a config (and the modules' state made from it):
 *     the one current at connect, replaced by the current one at each
 *     MAIL FROM after a reload. So a SIGHUP never changes the rules or
 *     keys under a message in flight, and the next message of the same
 *     connection uses the new ones. conn->cfg may change between
 *     messages: modules keep nothing from it across messages.
 *   - struct milter_msg lives from MAIL FROM to end of message or abort;
 *     msg_free() is called for each module with state, on both paths.
 *   - Modifications (headers, recipients) are allowed in eom() only.
 * Hooks may be NULL.
 */
#ifndef SLUICE_MILTER_MODULE_H
#define SLUICE_MILTER_MODULE_H

#include <libmilter/mfapi.h>
#include <stdbool.h>

#include "address.h"
#include "config.h"
#include "lists.h"
#include "log.h"

#define MILTER_MODULES_MAX 16

struct milter_conn {
	const struct sluice_config *cfg;
	char client_addr[64];		/* "192.0.2.7", "" if unknown */
	char client_name[256];		/* Postfix's verified name or "unknown" */
	bool trusted_network;		/* client in trusted_networks */
	struct milter_msg *msg;		/* NULL outside a transaction */
};

struct milter_msg {
	char queue_id[32];
	char from[ADDRESS_MAX + 1];	/* envelope sender, "" for <> */
	bool from_unparsable;		/* from is Postfix's text (bounded, no
					 * controls), not an address we parsed:
					 * never <>, never to match as one */
	char auth_user[256];		/* SASL login, "" if none */
	unsigned rcpt_count;
	bool outbound;			/* trusted network or authenticated */
	bool permitted;			/* a permitted IP, mailbox or domain
					 * (rules.h): spam checks (SPF/DMARC
					 * rejection) skip this message */
	const struct lists *lists;	/* the Redis lists: one snapshot for the
					 * whole message (lists.h) */
	void *state[MILTER_MODULES_MAX];	/* one slot per module */
};

/* What every hook gets: the libmilter context, the connection, the
 * module's own config state (what open() made of the connection's config)
 * and its per-message state slot (NULL until the module sets it). */
struct milter_call {
	SMFICTX *ctx;
	struct milter_conn *conn;
	void *conf;
	void **state;
};

struct milter_module {
	const char *name;
	unsigned long flags;	/* SMFIF_* modifications it makes */
	/* Builds the module's state from a loaded config (keys are decoded
	 * here, once per load, never per message). A module that is off
	 * returns 0 with *conf NULL, and its hooks are then not called. An
	 * error refuses the whole config: at start-up the daemon exits, on
	 * SIGHUP the running config stays. err is "FILE:LINE: message",
	 * naming the config entry at fault (struct dkim_key_conf.source). */
	int (*open)(const struct sluice_config *cfg, void **conf, char *err, size_t errsize);
	void (*close)(void *conf);
	/* At connect, before any message: call->state is NULL (there is no
	 * message yet; keep nothing per connection), lists a snapshot held
	 * for this call only (NULL when the milter runs without a cache). */
	sfsistat (*connect)(struct milter_call *call, const struct lists *lists);
	sfsistat (*envfrom)(struct milter_call *call);
	sfsistat (*envrcpt)(struct milter_call *call, const char *rcpt);
	sfsistat (*header)(struct milter_call *call, const char *name, const char *value);
	sfsistat (*eoh)(struct milter_call *call);
	sfsistat (*body)(struct milter_call *call, const unsigned char *chunk, size_t len);
	/* May modify the message; adds its verdict to the message's log line. */
	sfsistat (*eom)(struct milter_call *call, struct logline *line);
	void (*msg_free)(void *state);
};

/* The registry, NULL-terminated, in modules.c. */
extern const struct milter_module *const milter_modules[];

#endif
