/*
 * IP addresses, IPv4 and IPv6 alike: IPv4 is kept IPv4-mapped
 * (::ffff:a.b.c.d) so that one comparison and one hash serve both.
 */
#ifndef SHADOWMAP_ADDR_H
#define SHADOWMAP_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct sm_addr {
	uint8_t b[16];
};

#define ADDR_STRLEN 46 /* INET6_ADDRSTRLEN */

void addr_from_v4(struct sm_addr *a, const uint8_t v4[4]);
void addr_from_v6(struct sm_addr *a, const uint8_t v6[16]);

/* Both are inline: the agent compares and tests the two addresses of every
 * packet it sees (flow keys, worker choice). */
static inline int
addr_is_v4(const struct sm_addr *a)
{
	static const uint8_t v4_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	return memcmp(a->b, v4_prefix, 12) == 0;
}

/* Byte order (memcmp's), taken as two big-endian halves. */
static inline int
addr_cmp(const struct sm_addr *a, const struct sm_addr *b)
{
	uint64_t x, y;
	for (int i = 0; i < 16; i += 8) {
		memcpy(&x, a->b + i, 8);
		memcpy(&y, b->b + i, 8);
		if (x != y) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			x = __builtin_bswap64(x);
			y = __builtin_bswap64(y);
#endif
			return x < y ? -1 : 1;
		}
	}
	return 0;
}
/* Writes the usual text form (dotted quad for IPv4); returns buf. */
char *addr_format(const struct sm_addr *a, char *buf, size_t len);
/* Accepts IPv4 dotted quads and IPv6 text; returns 0 or -1. */
int addr_parse(const char *s, struct sm_addr *a);
/* Whether the text is an IPv4 or IPv6 literal (a "name" that is not one). */
int addr_is_literal(const char *s);

#endif
