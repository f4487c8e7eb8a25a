/*
 * spf_dns.c - libspf2's DNS interface answered from dns_lookup() (see
 * spf_dns.h). libspf2 asks for A, AAAA, MX, PTR and TXT records and
 * wants them as text (names dotted, TXT strings joined) in its own
 * SPF_dns_rr_t, with h_errno-style status: NETDB_SUCCESS, HOST_NOT_FOUND
 * (NXDOMAIN), NO_DATA, TRY_AGAIN (anything temporary, the budget too).
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include <spf2/spf.h>
#include <spf2/spf_dns.h>

#include "spf_dns.h"

struct layer_hook {
	struct dns_resolver *resolver;
	struct dns_budget *budget;
};

/* A wire-format name (uncompressed, as libunbound gives rdata) as dotted
 * text; -1 when malformed or not printable. */
static int
wire_name(const unsigned char *d, int len, char *out, size_t size)
{
	int pos = 0;
	size_t o = 0;

	while (pos < len) {
		int n = d[pos++], i;

		if (n == 0) {
			if (o == 0)
				out[o++] = '.';
			out[o] = '\0';
			return 0;
		}
		if (n > 63 || pos + n > len || o + (size_t)n + 2 > size)
			return -1;
		if (o > 0)
			out[o++] = '.';
		for (i = 0; i < n; i++) {
			unsigned char c = d[pos + i];

			if (c <= 0x20 || c >= 0x7f || c == '.')
				return -1;
			out[o++] = (char)c;
		}
		pos += n;
	}
	return -1;
}

static int
store(SPF_dns_rr_t *rr, int idx, const void *data, size_t len)
{
	if (SPF_dns_rr_buf_realloc(rr, idx, len) != SPF_E_SUCCESS)
		return -1;
	memcpy(rr->rr[idx], data, len);
	return 0;
}

static SPF_dns_rr_t *
layer_lookup(SPF_dns_server_t *layer, const char *domain, ns_type type, int should_cache)
{
	struct layer_hook *h = layer->hook;
	struct dns_answer a;
	SPF_dns_rr_t *rr;
	int i, n = 0;

	(void)should_cache;
	switch (dns_lookup(h->resolver, domain, (int)type, h->budget, &a)) {
	case DNS_OK:
		break;
	case DNS_NXDOMAIN:
		dns_answer_free(&a);
		return SPF_dns_rr_new_init(layer, domain, type, 0, HOST_NOT_FOUND);
	case DNS_NODATA:
		dns_answer_free(&a);
		return SPF_dns_rr_new_init(layer, domain, type, 0, NO_DATA);
	default:
		dns_answer_free(&a);
		return SPF_dns_rr_new_init(layer, domain, type, 0, TRY_AGAIN);
	}
	if ((rr = SPF_dns_rr_new_init(layer, domain, type, a.ttl, NETDB_SUCCESS)) == NULL) {
		dns_answer_free(&a);
		return NULL;
	}
	for (i = 0; i < a.count; i++) {
		const unsigned char *d = (const unsigned char *)a.data[i];
		char text[1024];
		int rc = 0;

		switch (type) {
		case ns_t_a:
			if (a.len[i] != 4)
				continue;
			rc = store(rr, n, d, 4);
			break;
		case ns_t_aaaa:
			if (a.len[i] != 16)
				continue;
			rc = store(rr, n, d, 16);
			break;
		case ns_t_mx:
			if (a.len[i] < 3 || wire_name(d + 2, a.len[i] - 2, text, sizeof(text)) < 0)
				continue;
			rc = store(rr, n, text, strlen(text) + 1);
			break;
		case ns_t_ptr:
			if (wire_name(d, a.len[i], text, sizeof(text)) < 0)
				continue;
			rc = store(rr, n, text, strlen(text) + 1);
			break;
		case ns_t_txt:
		case ns_t_spf: {
			char *buf = malloc((size_t)a.len[i] + 1);

			if (buf == NULL) {
				rc = -1;
				break;
			}
			if (dns_txt(&a, i, buf, (size_t)a.len[i] + 1) == 0)
				rc = store(rr, n, buf, strlen(buf) + 1);
			else
				n--;	/* skipped: malformed */
			free(buf);
			break;
		}
		default:
			continue;
		}
		if (rc < 0) {
			SPF_dns_rr_free(rr);
			dns_answer_free(&a);
			return SPF_dns_rr_new_init(layer, domain, type, 0, TRY_AGAIN);
		}
		n++;
	}
	rr->num_rr = n;
	if (n == 0)
		rr->herrno = NO_DATA;
	dns_answer_free(&a);
	return rr;
}

SPF_dns_server_t *
spf_dns_new(struct dns_resolver *r)
{
	SPF_dns_server_t *layer = calloc(1, sizeof(*layer));
	struct layer_hook *h = calloc(1, sizeof(*h));

	if (layer == NULL || h == NULL) {
		free(layer);
		free(h);
		return NULL;
	}
	h->resolver = r;
	layer->destroy = NULL;	/* ours: libspf2 leaves it alone */
	layer->lookup = layer_lookup;
	layer->get_spf = NULL;
	layer->get_exp = NULL;
	layer->add_cache = NULL;
	layer->layer_below = NULL;
	layer->name = "sluice";
	layer->hook = h;
	return layer;
}

void
spf_dns_set_budget(SPF_dns_server_t *layer, struct dns_budget *budget)
{
	((struct layer_hook *)layer->hook)->budget = budget;
}

void
spf_dns_free(SPF_dns_server_t *layer)
{
	if (layer == NULL)
		return;
	free(layer->hook);
	free(layer);
}
