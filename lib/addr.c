/*
 * IP address helpers over the IPv4-mapped representation.
 */
#include <arpa/inet.h>
#include <string.h>

#include "shadowmap/addr.h"

static const uint8_t v4_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

void
addr_from_v4(struct sm_addr *a, const uint8_t v4[4])
{
	memcpy(a->b, v4_prefix, 12);
	memcpy(a->b + 12, v4, 4);
}

void
addr_from_v6(struct sm_addr *a, const uint8_t v6[16])
{
	memcpy(a->b, v6, 16);
}

char *
addr_format(const struct sm_addr *a, char *buf, size_t len)
{
	const char *r;
	if (addr_is_v4(a) && len >= 16) {
		/* by hand: inet_ntop goes through sprintf, and the agent writes
		 * an address in every summary */
		char *o = buf;
		for (int i = 12; i < 16; i++) {
			unsigned v = a->b[i];
			if (v >= 100)
				*o++ = (char)('0' + v / 100);
			if (v >= 10)
				*o++ = (char)('0' + v / 10 % 10);
			*o++ = (char)('0' + v % 10);
			*o++ = i < 15 ? '.' : '\0';
		}
		return buf;
	}
	if (addr_is_v4(a))
		r = inet_ntop(AF_INET, a->b + 12, buf, (socklen_t)len);
	else
		r = inet_ntop(AF_INET6, a->b, buf, (socklen_t)len);
	if (!r && len)
		buf[0] = '\0';
	return buf;
}

int
addr_parse(const char *s, struct sm_addr *a)
{
	uint8_t b[16];
	if (inet_pton(AF_INET, s, b) == 1) {
		addr_from_v4(a, b);
		return 0;
	}
	if (inet_pton(AF_INET6, s, b) == 1) {
		addr_from_v6(a, b);
		return 0;
	}
	return -1;
}

int
addr_is_literal(const char *s)
{
	struct sm_addr a;
	if (addr_parse(s, &a) == 0)
		return 1;
	/* "[::1]" as it appears in HTTP Host */
	size_t n = strlen(s);
	if (n > 2 && n < 64 && s[0] == '[' && s[n - 1] == ']') {
		char inner[64];
		memcpy(inner, s + 1, n - 2);
		inner[n - 2] = '\0';
		return addr_parse(inner, &a) == 0;
	}
	return 0;
}
