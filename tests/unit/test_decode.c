/*
 * Frame decoding for every supported link type, VLAN/QinQ/PPPoE/MPLS,
 * IPv6 extension headers, fragments, and frames cut at every length.
 */
#include <netinet/in.h>
#include <pcap/dlt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "decode.h"

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif

/* IPv4 + TCP SYN from 10.0.0.1:40000 to 1.2.3.4:443 with 4 payload bytes */
static size_t
ipv4_tcp(uint8_t *b)
{
	static const uint8_t pkt[] = {
		0x45, 0, 0, 44, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 1, 2, 3, 4,
		0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 100, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
		'a', 'b', 'c', 'd',
	};
	memcpy(b, pkt, sizeof(pkt));
	return sizeof(pkt);
}

/* IPv6 + hop-by-hop + UDP from fd00::1:5353 to 2001:db8::1:53, 8 payload bytes */
static size_t
ipv6_hbh_udp(uint8_t *b)
{
	uint8_t *p = b;
	memset(p, 0, 40);
	p[0] = 0x60;
	p[4] = 0;
	p[5] = 8 + 8 + 8; /* hbh 8 + udp 8 + payload 8 */
	p[6] = 0;         /* hop-by-hop */
	p[7] = 64;
	p[8] = 0xfd;
	p[23] = 1;
	p[24] = 0x20;
	p[25] = 0x01;
	p[26] = 0x0d;
	p[27] = 0xb8;
	p[39] = 1;
	p += 40;
	memset(p, 0, 8);
	p[0] = 17; /* next: UDP */
	p[1] = 0;  /* 8 bytes */
	p[2] = 1;  /* PadN */
	p[3] = 4;
	p += 8;
	p[0] = 0x14;
	p[1] = 0xe9;
	p[2] = 0;
	p[3] = 53;
	p[4] = 0;
	p[5] = 16;
	p[6] = p[7] = 0;
	memcpy(p + 8, "payload!", 8);
	return 40 + 8 + 16;
}

static void
check_v4_tcp(const struct pkt *p)
{
	assert_int_equal(p->ip_version, 4);
	assert_int_equal(p->ip_len, 44);
	assert_int_equal(p->l4_proto, IPPROTO_TCP);
	assert_true(p->has_ports);
	assert_int_equal(p->sport, 40000);
	assert_int_equal(p->dport, 443);
	assert_int_equal(p->tcp_flags, 0x02);
	assert_int_equal(p->tcp_seq, 100);
	assert_int_equal(p->payload_len, 4);
	assert_int_equal(p->payload_caplen, 4);
	assert_memory_equal(p->payload, "abcd", 4);
	char a[ADDR_STRLEN];
	assert_string_equal(addr_format(&p->src, a, sizeof(a)), "10.0.0.1");
	assert_string_equal(addr_format(&p->dst, a, sizeof(a)), "1.2.3.4");
}

static void
test_ethernet_vlan_qinq_pppoe_mpls(void **state)
{
	(void)state;
	uint8_t f[256];
	struct pkt p;
	size_t n;

	/* plain Ethernet, padded to 60 bytes: the padding is not IP */
	memset(f, 0, sizeof(f));
	f[12] = 0x08;
	n = 14 + ipv4_tcp(f + 14);
	assert_int_equal(decode_frame(DLT_EN10MB, f, 60, 60, &p), DECODE_IP);
	check_v4_tcp(&p);
	assert_int_equal(p.l3_caplen, 44);
	assert_int_equal(p.vlan, 0);

	/* QinQ: outer 0x88a8 id 100, inner 0x8100 id 200 */
	memset(f, 0, sizeof(f));
	f[12] = 0x88; f[13] = 0xa8; f[14] = 0; f[15] = 100;
	f[16] = 0x81; f[17] = 0x00; f[18] = 0; f[19] = 200;
	f[20] = 0x08; f[21] = 0x00;
	n = 22 + ipv4_tcp(f + 22);
	assert_int_equal(decode_frame(DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &p), DECODE_IP);
	check_v4_tcp(&p);
	assert_int_equal(p.vlan, 100);

	/* PPPoE session carrying IPv6 */
	memset(f, 0, sizeof(f));
	f[12] = 0x88; f[13] = 0x64;
	f[14 + 6] = 0x00; f[14 + 7] = 0x57;
	n = 22 + ipv6_hbh_udp(f + 22);
	assert_int_equal(decode_frame(DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &p), DECODE_IP);
	assert_int_equal(p.ip_version, 6);
	assert_int_equal(p.l4_proto, IPPROTO_UDP);
	assert_int_equal(p.sport, 5353);
	assert_int_equal(p.dport, 53);
	assert_int_equal(p.ip_len, 64);
	assert_int_equal(p.payload_len, 8);

	/* two MPLS labels, bottom of stack on the second */
	memset(f, 0, sizeof(f));
	f[12] = 0x88; f[13] = 0x47;
	f[14 + 2] = 0x00;           /* label 1, not bottom */
	f[18 + 2] = 0x01;           /* label 2, bottom */
	n = 22 + ipv4_tcp(f + 22);
	assert_int_equal(decode_frame(DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, &p), DECODE_IP);
	check_v4_tcp(&p);

	/* ARP is not IP */
	memset(f, 0, sizeof(f));
	f[12] = 0x08; f[13] = 0x06;
	assert_int_equal(decode_frame(DLT_EN10MB, f, 42, 42, &p), DECODE_NOT_IP);
}

static void
test_other_link_types(void **state)
{
	(void)state;
	uint8_t f[256];
	struct pkt p;
	size_t n;

	memset(f, 0, sizeof(f));
	f[14] = 0x08; /* SLL protocol field */
	n = 16 + ipv4_tcp(f + 16);
	assert_int_equal(decode_frame(DLT_LINUX_SLL, f, (uint32_t)n, (uint32_t)n, &p), DECODE_IP);
	check_v4_tcp(&p);

	memset(f, 0, sizeof(f));
	f[0] = 0x86; f[1] = 0xdd; /* SLL2 protocol field */
	n = 20 + ipv6_hbh_udp(f + 20);
	assert_int_equal(decode_frame(DLT_LINUX_SLL2, f, (uint32_t)n, (uint32_t)n, &p), DECODE_IP);
	assert_int_equal(p.ip_version, 6);
	assert_int_equal(p.dport, 53);

	n = ipv4_tcp(f);
	assert_int_equal(decode_frame(DLT_RAW, f, (uint32_t)n, (uint32_t)n, &p), DECODE_IP);
	check_v4_tcp(&p);

	/* NULL: family in the capturing host's order, either way */
	memset(f, 0, sizeof(f));
	f[0] = 2; /* little-endian AF_INET */
	n = 4 + ipv4_tcp(f + 4);
	assert_int_equal(decode_frame(DLT_NULL, f, (uint32_t)n, (uint32_t)n, &p), DECODE_IP);
	check_v4_tcp(&p);
	memset(f, 0, 4);
	f[3] = 30; /* big-endian AF_INET6 of macOS */
	n = 4 + ipv6_hbh_udp(f + 4);
	assert_int_equal(decode_frame(DLT_NULL, f, (uint32_t)n, (uint32_t)n, &p), DECODE_IP);
	assert_int_equal(p.ip_version, 6);
	/* LOOP: network order */
	memset(f, 0, 4);
	f[3] = 24;
	assert_int_equal(decode_frame(DLT_LOOP, f, (uint32_t)n, (uint32_t)n, &p), DECODE_IP);
	assert_int_equal(p.ip_version, 6);

	assert_true(decode_linktype_supported(DLT_EN10MB));
	assert_false(decode_linktype_supported(147)); /* USER0 */
}

static void
test_fragments(void **state)
{
	(void)state;
	uint8_t f[128];
	struct pkt p;
	size_t n = ipv4_tcp(f);

	f[6] = 0x20; /* MF, offset 0: first fragment */
	assert_int_equal(decode_frame(DLT_RAW, f, (uint32_t)n, (uint32_t)n, &p), DECODE_IP);
	assert_int_equal(p.frag, PKT_FRAG_FIRST);
	assert_true(p.has_ports);
	assert_int_equal(p.frag_id, 0x1234);

	f[6] = 0x00;
	f[7] = 0x10; /* offset 16*8: a later fragment, no ports */
	assert_int_equal(decode_frame(DLT_RAW, f, (uint32_t)n, (uint32_t)n, &p), DECODE_IP);
	assert_int_equal(p.frag, PKT_FRAG_LATER);
	assert_false(p.has_ports);
	assert_int_equal(p.ip_len, 44);

	/* IPv6 fragment header: first and later */
	uint8_t g[128];
	memset(g, 0, sizeof(g));
	g[0] = 0x60;
	g[5] = 8 + 8 + 4;
	g[6] = 44; /* fragment */
	g[40] = 17;
	g[43] = 1;             /* offset 0, M=1 */
	g[44] = 0xde; g[45] = 0xad; g[46] = 0xbe; g[47] = 0xef;
	g[48] = 0x30; g[49] = 0x39; g[50] = 0x01; g[51] = 0xbb; g[53] = 12;
	assert_int_equal(decode_frame(DLT_RAW, g, 60, 60, &p), DECODE_IP);
	assert_int_equal(p.frag, PKT_FRAG_FIRST);
	assert_int_equal(p.frag_id, 0xdeadbeef);
	assert_int_equal(p.dport, 443);
	g[42] = 0x01; /* offset 8*32 */
	g[43] = 0x00;
	assert_int_equal(decode_frame(DLT_RAW, g, 60, 60, &p), DECODE_IP);
	assert_int_equal(p.frag, PKT_FRAG_LATER);
	assert_int_equal(p.l4_proto, IPPROTO_UDP);
}

static void
test_truncation_and_lengths(void **state)
{
	(void)state;
	uint8_t f[128];
	struct pkt p;
	size_t n = 14 + ipv4_tcp(f + 14);
	memset(f, 0, 14);
	f[12] = 0x08;

	/* Cut at every length: never a crash; the IP length is known from 4
	 * bytes of IP header on and is the header's, not the capture's. */
	for (uint32_t cut = 0; cut <= n; cut++) {
		enum decode_status st = decode_frame(DLT_EN10MB, f, cut, (uint32_t)n, &p);
		if (cut < 14)
			assert_int_equal(st, DECODE_NOT_IP);
		else if (cut < 14 + 4)
			assert_true(st == DECODE_MALFORMED && p.ip_len == 0);
		else if (cut < 14 + 20)
			assert_true(st == DECODE_MALFORMED && p.ip_len == 44);
		else {
			assert_int_equal(st, DECODE_IP);
			assert_int_equal(p.ip_len, 44);
			if (cut >= 14 + 40) {
				assert_true(p.has_ports);
				assert_int_equal(p.payload_caplen, cut - 54);
				assert_int_equal(p.payload_len, 4);
			} else {
				assert_false(p.has_ports);
			}
		}
	}

	/* total length 0 (TSO capture on the sender): the wire length counts */
	f[14 + 2] = 0;
	f[14 + 3] = 0;
	assert_int_equal(decode_frame(DLT_EN10MB, f, (uint32_t)n, 14 + 3000, &p), DECODE_IP);
	assert_int_equal(p.ip_len, 3000);

	/* a header length below 20 is malformed but its size still counts */
	n = ipv4_tcp(f);
	f[0] = 0x44;
	assert_int_equal(decode_frame(DLT_RAW, f, (uint32_t)n, (uint32_t)n, &p), DECODE_MALFORMED);
	assert_int_equal(p.ip_len, 44);
	/* neither 4 nor 6 */
	f[0] = 0x55;
	assert_int_equal(decode_frame(DLT_RAW, f, (uint32_t)n, (uint32_t)n, &p), DECODE_MALFORMED);
	assert_int_equal(p.ip_len, 0);

	/* an IPv6 extension chain running past the packet */
	uint8_t g[64];
	size_t m = ipv6_hbh_udp(g);
	g[41] = 200; /* hop-by-hop claims 1608 bytes */
	assert_int_equal(decode_frame(DLT_RAW, g, (uint32_t)m, (uint32_t)m, &p), DECODE_IP);
	assert_false(p.has_ports);
	assert_int_equal(p.ip_len, 64);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ethernet_vlan_qinq_pppoe_mpls),
		cmocka_unit_test(test_other_link_types),
		cmocka_unit_test(test_fragments),
		cmocka_unit_test(test_truncation_and_lengths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
