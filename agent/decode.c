/*
 * Link layers (Ethernet with VLAN/QinQ, PPPoE and MPLS; Linux cooked v1
 * and v2; raw IP; BSD loopback/null) down to IPv4/IPv6 and TCP/UDP/SCTP.
 * Tunnels (GRE, IP-in-IP) are not opened: their outer packet is the flow.
 */
#include <netinet/in.h>
#include <pcap/dlt.h>
#include <string.h>

#include "decode.h"

#define ETH_P_IPV4 0x0800
#define ETH_P_IPV6 0x86dd
#define ETH_P_VLAN 0x8100
#define ETH_P_QINQ 0x88a8
#define ETH_P_QINQ_OLD 0x9100
#define ETH_P_PPPOE 0x8864
#define ETH_P_MPLS 0x8847
#define ETH_P_MPLS_MC 0x8848

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif
#ifndef DLT_IPV4
#define DLT_IPV4 228
#endif
#ifndef DLT_IPV6
#define DLT_IPV6 229
#endif

static inline uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int
decode_linktype_supported(int dlt)
{
	switch (dlt) {
	case DLT_EN10MB:
	case DLT_LINUX_SLL:
	case DLT_LINUX_SLL2:
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
	case DLT_NULL:
	case DLT_LOOP:
		return 1;
	default:
		return 0;
	}
}

/* Ports and flags of the transport header at l4 (avail bytes captured,
 * l4_len bytes by the IP header). */
static void
decode_l4(struct pkt *p, const uint8_t *l4, uint32_t avail, uint32_t l4_len)
{
	uint32_t hdr = 0;

	p->payload = NULL;
	p->payload_caplen = 0;
	p->payload_len = 0;
	switch (p->l4_proto) {
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if (avail >= 1 && l4_len >= 1)
			p->icmp_type = l4[0];
		return;
	case IPPROTO_TCP:
		if (avail < 20 || l4_len < 20)
			return;
		hdr = (uint32_t)(l4[12] >> 4) * 4;
		if (hdr < 20 || hdr > l4_len)
			return;
		p->sport = rd16(l4);
		p->dport = rd16(l4 + 2);
		p->tcp_seq = rd32(l4 + 4);
		p->tcp_flags = l4[13];
		p->has_ports = 1;
		break;
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
		if (avail < 8 || l4_len < 8)
			return;
		hdr = 8;
		p->sport = rd16(l4);
		p->dport = rd16(l4 + 2);
		p->has_ports = 1;
		break;
	case IPPROTO_SCTP:
		if (avail < 12 || l4_len < 12)
			return;
		hdr = 12;
		p->sport = rd16(l4);
		p->dport = rd16(l4 + 2);
		p->has_ports = 1;
		break;
	default:
		return;
	}
	p->payload_len = l4_len - hdr;
	if (avail > hdr) {
		p->payload = l4 + hdr;
		p->payload_caplen = avail - hdr;
		if (p->payload_caplen > p->payload_len)
			p->payload_caplen = p->payload_len;
	}
}

/* other_len: bytes of the frame from l3 on by the capture's wire length,
 * used only when the IP header's length field is zero (TSO/GSO captures on
 * the sending host, IPv6 jumbograms). */
static enum decode_status
decode_ipv4(struct pkt *p, const uint8_t *ip, uint32_t caplen, uint32_t wire_len)
{
	if (caplen < 4) {
		p->ip_len = 0;
		return DECODE_MALFORMED;
	}
	uint32_t total = rd16(ip + 2);
	if (total == 0)
		total = wire_len;
	p->ip_len = total;
	if (caplen < 20)
		return DECODE_MALFORMED;
	uint32_t ihl = (uint32_t)(ip[0] & 0x0f) * 4;
	if (ihl < 20 || total < ihl || caplen < ihl)
		return DECODE_MALFORMED;
	p->ip_version = 4;
	p->l3 = ip;
	p->l3_caplen = caplen < total ? caplen : total;
	p->l4_proto = ip[9];
	addr_from_v4(&p->src, ip + 12);
	addr_from_v4(&p->dst, ip + 16);
	p->frag_id = rd16(ip + 4);
	uint16_t frag = rd16(ip + 6);
	uint16_t offset = frag & 0x1fff;
	int more = (frag & 0x2000) != 0;
	if (offset != 0) {
		p->frag = PKT_FRAG_LATER;
		return DECODE_IP;
	}
	p->frag = more ? PKT_FRAG_FIRST : PKT_FRAG_NONE;
	decode_l4(p, ip + ihl, p->l3_caplen - ihl, total - ihl);
	return DECODE_IP;
}

static enum decode_status
decode_ipv6(struct pkt *p, const uint8_t *ip, uint32_t caplen, uint32_t wire_len)
{
	if (caplen < 6) {
		p->ip_len = 0;
		return DECODE_MALFORMED;
	}
	uint32_t plen = rd16(ip + 4);
	uint32_t total = plen ? plen + 40 : wire_len;
	p->ip_len = total;
	if (caplen < 40 || total < 40)
		return DECODE_MALFORMED;
	p->ip_version = 6;
	p->l3 = ip;
	p->l3_caplen = caplen < total ? caplen : total;
	addr_from_v6(&p->src, ip + 8);
	addr_from_v6(&p->dst, ip + 24);

	uint8_t next = ip[6];
	uint32_t off = 40;
	/* Walk extension headers; a chain longer than this is hostile. */
	for (int hops = 0; hops < 16; hops++) {
		switch (next) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
		case 135: /* Mobility */
		case 139: /* HIP */
		case 140: /* Shim6 */
			if (off + 8 > p->l3_caplen || off + 8 > total)
				return DECODE_MALFORMED;
			next = ip[off];
			off += ((uint32_t)ip[off + 1] + 1) * 8;
			continue;
		case IPPROTO_AH:
			if (off + 8 > p->l3_caplen || off + 8 > total)
				return DECODE_MALFORMED;
			next = ip[off];
			off += ((uint32_t)ip[off + 1] + 2) * 4;
			continue;
		case IPPROTO_FRAGMENT: {
			if (off + 8 > p->l3_caplen || off + 8 > total)
				return DECODE_MALFORMED;
			uint16_t fo = rd16(ip + off + 2);
			p->frag_id = rd32(ip + off + 4);
			next = ip[off];
			off += 8;
			if ((fo & 0xfff8) != 0) {
				p->l4_proto = next;
				p->frag = PKT_FRAG_LATER;
				return DECODE_IP;
			}
			if (fo & 1)
				p->frag = PKT_FRAG_FIRST;
			continue;
		}
		default:
			break;
		}
		break;
	}
	p->l4_proto = next;
	if (off > total || off > p->l3_caplen) {
		/* headers claim more than the packet has: count it, no ports */
		return DECODE_IP;
	}
	decode_l4(p, ip + off, p->l3_caplen - off, total - off);
	return DECODE_IP;
}

static enum decode_status
decode_ip(struct pkt *p, const uint8_t *ip, uint32_t caplen, uint32_t wire_len)
{
	if (caplen < 1) {
		p->ip_len = 0;
		return DECODE_MALFORMED;
	}
	switch (ip[0] >> 4) {
	case 4:
		return decode_ipv4(p, ip, caplen, wire_len);
	case 6:
		return decode_ipv6(p, ip, caplen, wire_len);
	default:
		p->ip_len = 0;
		return DECODE_MALFORMED;
	}
}

static enum decode_status
decode_ethertype(struct pkt *p, uint16_t type, const uint8_t *d, uint32_t caplen,
		 uint32_t wire_len)
{
	/* VLAN tags, PPPoE and MPLS may stack; bound the depth */
	for (int depth = 0; depth < 8; depth++) {
		switch (type) {
		case ETH_P_IPV4:
		case ETH_P_IPV6:
			return decode_ip(p, d, caplen, wire_len);
		case ETH_P_VLAN:
		case ETH_P_QINQ:
		case ETH_P_QINQ_OLD:
			if (caplen < 4)
				return DECODE_NOT_IP;
			if (p->vlan == 0)
				p->vlan = rd16(d) & 0x0fff;
			type = rd16(d + 2);
			d += 4;
			caplen -= 4;
			wire_len = wire_len > 4 ? wire_len - 4 : 0;
			continue;
		case ETH_P_PPPOE: {
			if (caplen < 8)
				return DECODE_NOT_IP;
			uint16_t ppp = rd16(d + 6);
			d += 8;
			caplen -= 8;
			wire_len = wire_len > 8 ? wire_len - 8 : 0;
			if (ppp == 0x0021)
				type = ETH_P_IPV4;
			else if (ppp == 0x0057)
				type = ETH_P_IPV6;
			else
				return DECODE_NOT_IP;
			continue;
		}
		case ETH_P_MPLS:
		case ETH_P_MPLS_MC: {
			/* pop labels to the bottom of the stack, then guess by version */
			int bottom = 0;
			for (int labels = 0; labels < 16 && !bottom; labels++) {
				if (caplen < 4)
					return DECODE_NOT_IP;
				bottom = d[2] & 1;
				d += 4;
				caplen -= 4;
				wire_len = wire_len > 4 ? wire_len - 4 : 0;
			}
			if (!bottom || caplen < 1)
				return DECODE_NOT_IP;
			if ((d[0] >> 4) == 4 || (d[0] >> 4) == 6)
				return decode_ip(p, d, caplen, wire_len);
			return DECODE_NOT_IP;
		}
		default:
			return DECODE_NOT_IP;
		}
	}
	return DECODE_NOT_IP;
}

enum decode_status
decode_frame(int dlt, const uint8_t *frame, uint32_t caplen, uint32_t wirelen,
	     struct pkt *p)
{
	int64_t ts = p->ts;
	memset(p, 0, sizeof(*p));
	p->ts = ts;
	p->icmp_type = 0xff;
	if (wirelen < caplen)
		wirelen = caplen;

	switch (dlt) {
	case DLT_EN10MB:
		if (caplen < 14)
			return DECODE_NOT_IP;
		{
			uint16_t type = rd16(frame + 12);
			/* 802.3 length field + LLC/SNAP: nothing IP for us there in practice */
			if (type < 0x0600)
				return DECODE_NOT_IP;
			return decode_ethertype(p, type, frame + 14, caplen - 14, wirelen - 14);
		}
	case DLT_LINUX_SLL:
		if (caplen < 16)
			return DECODE_NOT_IP;
		return decode_ethertype(p, rd16(frame + 14), frame + 16, caplen - 16,
					wirelen - 16);
	case DLT_LINUX_SLL2:
		if (caplen < 20)
			return DECODE_NOT_IP;
		return decode_ethertype(p, rd16(frame), frame + 20, caplen - 20, wirelen - 20);
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		return decode_ip(p, frame, caplen, wirelen);
	case DLT_NULL:
	case DLT_LOOP: {
		if (caplen < 4)
			return DECODE_NOT_IP;
		/* DLT_NULL's family is in the capturing host's byte order, DLT_LOOP's
		 * in network order; AF_INET6 differs between BSDs (24, 28, 30). */
		uint32_t fam_be = rd32(frame);
		uint32_t fam_le = (uint32_t)frame[0] | (uint32_t)frame[1] << 8 |
				  (uint32_t)frame[2] << 16 | (uint32_t)frame[3] << 24;
		uint32_t fam = (dlt == DLT_LOOP || fam_be < 256) ? fam_be : fam_le;
		if (fam == 2 || fam == 24 || fam == 28 || fam == 30 || fam == 10)
			return decode_ip(p, frame + 4, caplen - 4, wirelen - 4);
		return DECODE_NOT_IP;
	}
	default:
		return DECODE_NOT_IP;
	}
}
