/*
 * fuzz_dns_rdata.c - the DNS answers the milter reads itself: TXT rdata
 * (milter/dns.c: dns_txt(), the character-strings of a DKIM key, DMARC
 * or SPF record joined) and the wire-format names of MX and PTR rdata
 * that milter/spf_dns.c hands libspf2 as text (its static wire_name(),
 * reached by including spf_dns.c: the one module compiled into this
 * target). Input: records, each a 2-byte big-endian length and that many
 * rdata bytes, as libunbound gives them; byte 0 sizes the output buffer.
 * Properties: a TXT record joins to at most its length minus one byte per
 * string, NUL-terminated within the buffer, with no NUL inside; a name is
 * printable, NUL-terminated within its buffer, without empty labels.
 */
#include "fuzz.h"
#include "../../milter/spf_dns.c"

#define RECORDS_MAX 16

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *rec[RECORDS_MAX];
	int len[RECORDS_MAX];
	struct dns_answer ans;
	size_t pos = 1, bufsize, n = 0, k;
	char *buf, name[256], tiny[3];
	int i;

	if (size < 1 || size > 65536)
		return 0;
	bufsize = (size_t)data[0] * 16 + 1;
	while (pos + 2 <= size && n < RECORDS_MAX) {
		size_t l = (size_t)data[pos] << 8 | data[pos + 1];

		pos += 2;
		if (l > size - pos)
			l = size - pos;
		rec[n] = malloc(l ? l : 1);	/* exact size: ASan sees overreads */
		if (rec[n] == NULL)
			abort();
		memcpy(rec[n], data + pos, l);
		len[n++] = (int)l;
		pos += l;
	}
	memset(&ans, 0, sizeof(ans));
	ans.status = DNS_OK;
	ans.count = (int)n;
	ans.data = rec;
	ans.len = len;
	if ((buf = malloc(bufsize)) == NULL)
		abort();
	for (i = 0; i < (int)n; i++) {
		if (dns_txt(&ans, i, buf, bufsize) == 0) {
			k = strlen(buf);
			FUZZ_ASSERT(k < bufsize && (int)k <= len[i]);
		}
		if (wire_name((const unsigned char *)rec[i], len[i], name, sizeof(name)) == 0) {
			FUZZ_ASSERT(strlen(name) < sizeof(name) && name[0] != '\0');
			FUZZ_ASSERT(strstr(name, "..") == NULL);
			for (k = 0; name[k]; k++)
				FUZZ_ASSERT((unsigned char)name[k] > 0x20 && (unsigned char)name[k] < 0x7f);
		}
		if (len[i] > 2)	/* MX: preference, then the name */
			(void)wire_name((const unsigned char *)rec[i] + 2, len[i] - 2, name, sizeof(name));
		(void)wire_name((const unsigned char *)rec[i], len[i], tiny, sizeof(tiny));
	}
	FUZZ_ASSERT(dns_txt(&ans, (int)n, buf, bufsize) == -1);
	FUZZ_ASSERT(dns_txt(&ans, -1, buf, bufsize) == -1);
	free(buf);
	for (k = 0; k < n; k++)
		free(rec[k]);
	return 0;
}
