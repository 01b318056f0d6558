/*
 * The agent's packet path: frames in, usage summaries out. It owns the
 * flow table, the DNS cache, nDPI and the aggregator; the capture loop
 * (main.c) feeds it frames and clock ticks, and it hands finished records
 * to the sinks it was given. An engine is single-threaded; a sharded run
 * (threads > 1, shard.c) has one engine per worker thread and a merger
 * that sums their summaries, see docs/threads.md.
 */
#ifndef SHADOWMAP_ENGINE_H
#define SHADOWMAP_ENGINE_H

#include <stdint.h>

#include "shadowmap/hash.h"
#include "shadowmap/sig.h"
#include "shadowmap/usage.h"

#include "decode.h"
#include "dns.h"
#include "flow.h"
#include "geo.h"

struct engine_config {
	int64_t bucket_usec;
	uint32_t max_flows;
	uint32_t max_detecting;   /* flows held in classification at once */
	int64_t idle_usec[FLOW_TC_COUNT];
	int64_t active_usec;
	int64_t detect_usec;      /* longest a flow stays in classification */
	uint32_t dpi_max_packets;
	uint32_t dns_cache_size;
	uint32_t dns_ttl_floor;   /* seconds */
	uint32_t dns_ttl_max;
};

/* Sensible defaults (the documented ones). */
void engine_config_defaults(struct engine_config *cfg);

enum name_source {
	NAME_SRC_NONE = 0,
	NAME_SRC_SNI,
	NAME_SRC_QUIC,
	NAME_SRC_HTTP,
	NAME_SRC_DNS,
	NAME_SRC_CERT,
};
const char *name_source_str(enum name_source s);

enum flow_end_reason {
	FLOW_END_IDLE = 0,
	FLOW_END_ACTIVE,  /* active timeout: the flow goes on as a new one */
	FLOW_END_EOF,     /* end of input */
};

/* A finished flow, for --flows (debugging and tests). */
struct flow_record {
	uint8_t proto;
	struct sm_addr client, server;
	uint16_t client_port, server_port;
	const char *host, *domain, *app, *category, *ndpi_proto;
	enum name_source name_source;
	const char *dpi_confidence;
	uint64_t packets_up, packets_down, bytes_up, bytes_down;
	int64_t first_seen, last_seen;
	enum flow_end_reason end;
	int continued; /* began at an active timeout of an earlier flow */
	const char *country, *as_org; /* the server's (geo.h), or NULL */
	uint32_t asn;                 /* 0 for none */
};
int flow_record_to_json(const struct flow_record *r, struct sbuf *sb);

struct engine_sinks {
	/* Both return 0, or -1 when the record could not be stored: the engine
	 * then stops emitting and engine_failed() says so. */
	int (*usage)(void *arg, const struct usage_record *r);
	int (*flow)(void *arg, const struct flow_record *r); /* may be NULL */
	void *arg;
};

struct engine_stats {
	uint64_t frames;
	uint64_t non_ip;            /* frames that carry no IP */
	uint64_t ip_packets;
	uint64_t ip_bytes;          /* by the IP length fields */
	uint64_t malformed;         /* IP packets whose headers could not be read */
	uint64_t malformed_no_len;  /* ...not even their length: not in ip_bytes */
	uint64_t flows;
	uint64_t flows_active_split;
	uint64_t table_full_packets;
	uint64_t fragments_orphan;
	uint64_t detect_skipped;    /* flows not classified: max_detecting reached */
	uint64_t late_packets;      /* time stamps older than a closed bucket */
	uint64_t named_sni, named_quic, named_http, named_dns, named_cert;
	uint64_t dns_answers;
	uint64_t dpi_packets;       /* packets given to nDPI */
	uint64_t records;
	uint64_t oom_drops;         /* counters lost to out of memory */
};

struct engine;

/* sigs and geodb must outlive the engine; geodb may be NULL (no country nor
 * network in the records). NULL on failure (logged). */
struct engine *engine_new(const struct engine_config *cfg, const sig_db *sigs, geo *geodb,
			  const struct engine_sinks *sinks);
void engine_free(struct engine *e);

/* One captured frame of link type dlt. */
void engine_frame(struct engine *e, int dlt, int64_t ts_usec, const uint8_t *frame,
		  uint32_t caplen, uint32_t wirelen);

/* The clock moved (live capture with no packets): expire and emit. */
void engine_tick(struct engine *e, int64_t now_usec);

/* Ends every flow and emits every bucket. Returns 0, or -1 if a sink failed. */
int engine_finish(struct engine *e);

int engine_failed(const struct engine *e);
void engine_get_stats(const struct engine *e, struct engine_stats *st);
/* Adds the counters of st to sum. */
void engine_stats_add(struct engine_stats *sum, const struct engine_stats *st);

/* ---- sharded runs (threads > 1): shard.c drives these ---- */

/*
 * The merger: an engine that only sums the buckets of n_shards worker
 * engines and hands them to sinks once every worker has closed them, in
 * the order engine_new's engine would (lines that differ only in nDPI's
 * protocol may come in another order). It serialises every sink call
 * under one lock. Freed with engine_free after its workers. NULL on
 * failure (logged).
 */
struct engine *engine_merger_new(const struct engine_config *cfg, const sig_db *sigs,
				 geo *geodb, const struct engine_sinks *sinks,
				 unsigned n_shards);

/* Worker shard (0 .. n_shards - 1) of merger: a complete engine whose
 * summaries go to the merger and whose flow records go to the merger's
 * sink under its lock. Not thread-safe itself: one thread drives it.
 * NULL on failure (logged). */
struct engine *engine_shard_new(const struct engine_config *cfg, const sig_db *sigs,
				geo *geodb, struct engine *merger, unsigned shard);

/* A decoded packet for a worker (not NOT_IP; p->l3 and p->payload valid
 * for the call). The caller keeps the clock: p->ts is already moved past
 * closed buckets and engine_tick is called as the common clock says;
 * frames and DNS answers are the caller's to count and read. */
void engine_packet(struct engine *e, enum decode_status ds, const struct pkt *p);

/* Learns a DNS answer that client received at ts (from engine_dns_answer). */
void engine_learn(struct engine *e, const struct sm_addr *client,
		  const struct dns_answer *ans, int64_t ts);

/* The DNS answer a packet carries, as the engine reads it (UDP or the
 * first whole message of a TCP segment from port 53, with at least one
 * address): 0 and *ans filled, else -1. */
int engine_dns_answer(const struct pkt *p, struct dns_answer *ans);

/* 1: the packet's sender is the client by the ports; 0: its receiver;
 * -1: the ports do not say. Swapping the ports swaps the answer. */
int engine_client_by_ports(uint16_t sport, uint16_t dport);

/* The hash of an IP fragment's reassembly key (addresses, IP id,
 * protocol) under key: where the engine and the capture thread file the
 * fragments of one datagram. */
uint64_t engine_frag_hash(const struct hash_key *key, const struct pkt *p);

/* Whether the sender of a flow's first packet is the flow's client (the
 * TCP SYN, ICMP and port rules of docs/agent.md, "Flows"). */
int engine_first_sender_is_client(const struct pkt *p);

/* The merger's sink lock, for the capture thread's own calls on the
 * sinks (flushing files, the shipper's clock). */
void engine_sinks_lock(struct engine *merger);
void engine_sinks_unlock(struct engine *merger);

#endif
