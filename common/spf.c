/*
 * spf.c - libspf2 behind a small interface of our own, so the rest of
 * sluice never sees libspf2's types and its result codes map to RFC 8601
 * words ("pass", "softfail", ...) in one place.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <spf2/spf.h>

#include "spf.h"

struct spf_checker {
	SPF_server_t *server;
};

struct spf_checker *
spf_checker_new(void)
{
	struct spf_checker *checker = calloc(1, sizeof(*checker));

	if (checker == NULL)
		return NULL;
	if ((checker->server = SPF_server_new(SPF_DNS_CACHE, 0)) == NULL) {
		free(checker);
		return NULL;
	}
	return checker;
}

struct spf_checker *
spf_checker_new_dns(struct SPF_dns_server_struct *dns)
{
	struct spf_checker *checker = calloc(1, sizeof(*checker));

	if (checker == NULL)
		return NULL;
	if ((checker->server = SPF_server_new_dns(dns, 0)) == NULL) {
		free(checker);
		return NULL;
	}
	return checker;
}

void
spf_checker_free(struct spf_checker *checker)
{
	if (checker == NULL)
		return;
	SPF_server_free(checker->server);
	free(checker);
}

static enum spf_result
map_result(SPF_result_t r)
{
	switch (r) {
	case SPF_RESULT_PASS: return SPF_PASS;
	case SPF_RESULT_FAIL: return SPF_FAIL;
	case SPF_RESULT_SOFTFAIL: return SPF_SOFTFAIL;
	case SPF_RESULT_NEUTRAL: return SPF_NEUTRAL;
	case SPF_RESULT_NONE: return SPF_NONE;
	case SPF_RESULT_PERMERROR: return SPF_PERMERROR;
	default: return SPF_TEMPERROR;
	}
}

/*
 * What SPF_request_query_mailfrom() does, less its first step: libspf2
 * gives every loopback client a "pass" (its "localhost gets a free ride"
 * rule). sluice never asks SPF about trusted clients, and the loopback
 * addresses of a test namespace must be judged by their records like any
 * other client, so we fetch and interpret the record ourselves.
 */
static enum spf_result
evaluate(struct spf_checker *checker, SPF_request_t *req, SPF_response_t *resp)
{
	SPF_record_t *record = NULL;
	SPF_errcode_t err;
	enum spf_result result;

	req->cur_dom = req->env_from_dp ? req->env_from_dp : req->helo_dom;
	if (req->cur_dom == NULL)
		return SPF_NONE;
	err = SPF_server_get_record(checker->server, req, resp, &record);
	if (err == SPF_E_NOT_SPF)
		result = SPF_NONE;
	else if (err == SPF_E_DNS_ERROR)
		result = SPF_TEMPERROR;
	else if (err != SPF_E_SUCCESS)
		result = SPF_PERMERROR;
	else {
		/* As libspf2 does: the record also serves exp= explanations. */
		resp->spf_record_exp = record;
		SPF_record_interpret(record, req, resp, 0);
		resp->spf_record_exp = NULL;
		result = map_result(SPF_response_result(resp));
	}
	if (record)
		SPF_record_free(record);
	return result;
}

enum spf_result
spf_check(struct spf_checker *checker, const char *client_ip, const char *helo,
	  const char *sender)
{
	SPF_request_t *req = SPF_request_new(checker->server);
	SPF_response_t *resp = NULL;
	enum spf_result result = SPF_TEMPERROR;
	int rc;

	if (req == NULL || client_ip == NULL)
		goto out;
	rc = strchr(client_ip, ':') ? SPF_request_set_ipv6_str(req, client_ip)
	    : SPF_request_set_ipv4_str(req, client_ip);
	if (rc != SPF_E_SUCCESS)
		goto out;
	if (helo && *helo)
		SPF_request_set_helo_dom(req, helo);
	/* The null sender is checked as postmaster@HELO (RFC 7208 2.4). */
	if (sender && *sender && SPF_request_set_env_from(req, sender) != 0)
		goto out;
	if ((resp = SPF_response_new(req)) != NULL)
		result = evaluate(checker, req, resp);
out:
	if (resp)
		SPF_response_free(resp);
	if (req)
		SPF_request_free(req);
	return result;
}

/*
 * The canary flips the lowest bit of the client's /16 (IPv4) or /32
 * (IPv6) prefix: an address in the neighbouring network of that size. A
 * record passes it too only if the block that authorized the client is
 * wider than the bound (or "+all"): a narrow, honest record lists its
 * senders' own networks, never a /15.
 */
int
spf_canary_address(const char *client_ip, char *out, size_t size)
{
	unsigned char a[16];

	if (strchr(client_ip, ':')) {
		if (inet_pton(AF_INET6, client_ip, a) != 1)
			return -1;
		a[(SPF_BROAD_V6_PREFIX - 1) / 8] ^= (unsigned char)(0x80 >> ((SPF_BROAD_V6_PREFIX - 1) % 8));
		return inet_ntop(AF_INET6, a, out, (socklen_t)size) ? 0 : -1;
	}
	if (inet_pton(AF_INET, client_ip, a) != 1)
		return -1;
	a[(SPF_BROAD_V4_PREFIX - 1) / 8] ^= (unsigned char)(0x80 >> ((SPF_BROAD_V4_PREFIX - 1) % 8));
	return inet_ntop(AF_INET, a, out, (socklen_t)size) ? 0 : -1;
}

bool
spf_too_broad(struct spf_checker *checker, const char *client_ip, const char *helo,
	      const char *sender)
{
	char canary[INET6_ADDRSTRLEN];

	if (client_ip == NULL || spf_canary_address(client_ip, canary, sizeof(canary)) < 0)
		return true;	/* cannot tell: not a reason to trust it */
	return spf_check(checker, canary, helo, sender) == SPF_PASS;
}

int
spf_authorized_domain(const char *helo, const char *sender, char *out, size_t size)
{
	const char *at = sender ? strrchr(sender, '@') : NULL;
	const char *domain = at ? at + 1 : (sender && *sender ? NULL : helo);
	size_t i;

	if (domain == NULL || *domain == '\0')
		return -1;
	for (i = 0; domain[i]; i++) {
		if (i + 1 >= size)
			return -1;
		out[i] = (char)tolower((unsigned char)domain[i]);
	}
	out[i] = '\0';
	return 0;
}

const char *
spf_result_name(enum spf_result result)
{
	static const char *const names[] = {
		"none", "neutral", "pass", "fail", "softfail", "temperror", "permerror"
	};

	return names[result];
}
