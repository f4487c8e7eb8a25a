/*
 * request.h - one Postfix policy delegation request (SMTPD_POLICY_README).
 *
 * Interface:
 *   policy_request_parse()  parses one complete request ("name=value\n"
 *                           lines, the final empty line excluded) in
 *                           place: the buffer is split into NUL-terminated
 *                           names and values that the request points into.
 *   policy_request_get()    any attribute by name, NULL when absent.
 *   The attributes the checks use have named fields, NULL when absent.
 *
 * Contract: a request is valid when every line is "name=value" with a name
 * of [a-z0-9_] characters, no value holds a NUL or control character
 * (tab excepted), there are at most POLICY_ATTR_MAX lines, and request=
 * is "smtpd_access_policy". Unknown names are kept but otherwise ignored,
 * as the protocol asks. On a violation it returns -1 and a static reason;
 * the caller must then close the connection without a reply. The buffer
 * must have one writable byte past len (a last line without its newline
 * is terminated there).
 */
#ifndef SLUICE_POLICY_REQUEST_H
#define SLUICE_POLICY_REQUEST_H

#include <stddef.h>

#define POLICY_LINE_MAX 4096		/* one name=value line */
#define POLICY_REQUEST_MAX 32768	/* a whole request */
#define POLICY_ATTR_MAX 128		/* Postfix 3.7 sends about 35 */

struct policy_attr {
	const char *name;
	const char *value;
};

struct policy_request {
	const char *request;
	const char *protocol_state;
	const char *protocol_name;
	const char *queue_id;
	const char *instance;
	const char *helo_name;
	const char *client_address;
	const char *client_name;
	const char *reverse_client_name;
	const char *sender;
	const char *recipient;
	const char *recipient_count;
	const char *size;
	const char *sasl_method;
	const char *sasl_username;
	const char *sasl_sender;
	size_t attr_count;
	struct policy_attr attrs[POLICY_ATTR_MAX];
};

int policy_request_parse(char *buf, size_t len, struct policy_request *req,
			 const char **why);
/* One line (without its newline): 0, or -1 with the reason. The server
 * checks each line as it arrives, so garbage is refused at its first
 * line instead of when (if ever) an empty line ends it. */
int policy_line_check(const char *line, size_t len, const char **why);
/* policy_request_parse() for a request whose every line has passed
 * policy_line_check() already (the server's framing does): the same
 * result without checking each line a second time. */
int policy_request_parse_framed(char *buf, size_t len, struct policy_request *req,
				const char **why);
const char *policy_request_get(const struct policy_request *req, const char *name);

#endif
