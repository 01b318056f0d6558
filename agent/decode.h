/*
 * Frame decoding: from a captured frame of any supported link type to the
 * IP packet inside it, its addresses, ports and payload. Bounds-checked on
 * every read: a frame is untrusted input.
 */
#ifndef SHADOWMAP_DECODE_H
#define SHADOWMAP_DECODE_H

#include <stdint.h>

#include "shadowmap/addr.h"

enum pkt_frag {
	PKT_FRAG_NONE = 0,
	PKT_FRAG_FIRST, /* offset 0, more to come: carries the L4 header */
	PKT_FRAG_LATER, /* no L4 header */
};

struct pkt {
	int64_t ts;               /* usec since the epoch */
	const uint8_t *l3;        /* the IP header */
	uint32_t l3_caplen;       /* bytes of the IP packet in the capture */
	uint32_t ip_len;          /* IP-layer bytes, from the IP length field */
	uint8_t ip_version;       /* 4 or 6 */
	uint8_t l4_proto;         /* IPPROTO_* after IPv6 extension headers */
	uint8_t frag;             /* enum pkt_frag */
	uint8_t has_ports;        /* TCP, UDP or SCTP header was read */
	uint8_t tcp_flags;
	uint8_t icmp_type;        /* ICMP and ICMPv6; 0xff when unread */
	uint32_t tcp_seq;
	uint32_t frag_id;         /* IPv4 identification / IPv6 fragment id */
	uint16_t sport, dport;    /* 0 when the protocol has none */
	uint16_t vlan;            /* outermost VLAN id, 0 when untagged */
	struct sm_addr src, dst;
	const uint8_t *payload;   /* L4 payload as captured */
	uint32_t payload_caplen;
	uint32_t payload_len;     /* L4 payload length by the IP header */
};

enum decode_status {
	DECODE_IP = 0,     /* an IP packet: p is filled, p->ip_len is its size */
	DECODE_NOT_IP,     /* not IP (ARP, LLDP, STP, ...): not counted */
	DECODE_MALFORMED,  /* IP, but its header cannot be read: p->ip_len
			      holds its size when known, else 0 */
};

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

/* Whether a libpcap link type (DLT_*) is one we decode. */
int decode_linktype_supported(int dlt);

/* Decodes frame (caplen bytes captured of wirelen); p->ts is left alone. */
enum decode_status decode_frame(int dlt, const uint8_t *frame, uint32_t caplen,
				uint32_t wirelen, struct pkt *p);

#endif
