/*
 * The flow table: bidirectional flows keyed by their 5-tuple, in a
 * fixed-capacity pool (memory is bounded by max_flows, allocated in
 * chunks as it fills), a keyed hash for lookups, and one LRU list per
 * timeout class so that idle expiry only ever looks at the oldest flows.
 * What a flow carries beyond its key and timing belongs to the engine
 * (engine.c); this file only stores, finds, orders and frees flows.
 */
#ifndef SHADOWMAP_FLOW_H
#define SHADOWMAP_FLOW_H

#include <stddef.h>
#include <stdint.h>

#include "shadowmap/addr.h"

/* Canonical key: the (address, port) pair that sorts first is "lo". */
struct flow_key {
	struct sm_addr lo, hi;
	uint16_t port_lo, port_hi;
	uint8_t proto;
	uint8_t pad[3]; /* zeroed: the key is hashed as bytes */
};

enum flow_tclass {
	FLOW_TC_TCP = 0,     /* TCP, open */
	FLOW_TC_TCP_CLOSED,  /* TCP after FIN both ways or RST */
	FLOW_TC_UDP,
	FLOW_TC_OTHER,       /* ICMP and the rest */
	FLOW_TC_COUNT,
};

/* Counters of one flow within one time bucket, not yet handed to the
 * aggregator. A flow in detection can hold two (its name may still come
 * while a bucket boundary passes). */
struct flow_bucket {
	int64_t bucket; /* bucket start (usec), FLOW_NO_BUCKET when unused */
	int64_t first, last;
	uint64_t bytes_up, bytes_down;
	uint32_t packets;
	uint8_t started; /* the flow began in this bucket: counts in "flows" */
};
#define FLOW_NO_BUCKET INT64_MIN
#define FLOW_PENDING 2

struct flow_detect; /* engine.c: state held only while the flow is classified */

struct flow {
	struct flow_key key;
	uint32_t id;            /* pool index + 1; stable while the flow lives */
	uint32_t generation;    /* bumps on every reuse of the slot */
	uint32_t hnext;         /* hash chain (id, 0 ends) */
	uint32_t lru_prev, lru_next;
	uint8_t tclass;
	uint8_t client_is_lo;
	uint8_t flags;          /* FLOW_F_* */
	uint8_t name_source;    /* engine's enum */
	int64_t first_seen, last_seen, start; /* start: for the active timeout */
	uint64_t packets_up, packets_down, bytes_up, bytes_down;
	struct flow_bucket pend[FLOW_PENDING];
	char *host;             /* malloc'd, normalised server name or NULL */
	int32_t app;            /* signature app index, -1 for none */
	uint16_t dpi_name;      /* engine's interned nDPI protocol name */
	uint8_t dpi_confidence;
	uint16_t geo_country;   /* the server's, looked up once (geo.h); 0: none */
	uint32_t geo_asn;
	uint32_t geo_org;
	struct flow_detect *det;
};

#define FLOW_F_SYN_SEEN 0x01
#define FLOW_F_FIN_LO 0x02
#define FLOW_F_FIN_HI 0x04
#define FLOW_F_RST 0x08
#define FLOW_F_CONTINUED 0x10 /* began when an active timeout split a flow */

struct flow_table;

/* max_flows: hard limit on live flows (>= 1). NULL when out of memory. */
struct flow_table *flow_table_new(uint32_t max_flows);
/* Frees the table; flows still in it must have been released by the caller
 * (their host and det) or are leaked: see flow_table_foreach. */
void flow_table_free(struct flow_table *t);

/* Builds the canonical key of a packet; *src_is_lo tells the direction. */
void flow_key_make(struct flow_key *k, const struct sm_addr *src, uint16_t sport,
		   const struct sm_addr *dst, uint16_t dport, uint8_t proto,
		   int *src_is_lo);

uint64_t flow_table_hash(const struct flow_table *t, const struct flow_key *k);
struct flow *flow_table_lookup(struct flow_table *t, const struct flow_key *k,
			       uint64_t hash);
/* A zeroed flow with the key set, app = -1, pend buckets unused, in the
 * LRU list of tclass; NULL when the table holds max_flows flows (or memory
 * for a new chunk cannot be had). */
struct flow *flow_table_insert(struct flow_table *t, const struct flow_key *k,
			       uint64_t hash, enum flow_tclass tclass);
void flow_table_remove(struct flow_table *t, struct flow *f);

/* Marks f active now: moves it to the tail of its class list, or to
 * another class's tail when tclass changes. */
void flow_table_touch(struct flow_table *t, struct flow *f, enum flow_tclass tclass);

/* The least recently active flow of a class, or NULL. */
struct flow *flow_table_oldest(struct flow_table *t, enum flow_tclass tclass);

/* The flow with this id and generation if it still lives, else NULL. */
struct flow *flow_table_get(struct flow_table *t, uint32_t id, uint32_t generation);

/* Calls fn on every live flow; fn may remove the flow it is given. */
void flow_table_foreach(struct flow_table *t, void (*fn)(struct flow *f, void *arg),
			void *arg);

uint32_t flow_table_count(const struct flow_table *t);
uint32_t flow_table_capacity(const struct flow_table *t);

#endif
