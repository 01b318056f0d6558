/*
 * Usage aggregation: counters of flows and untracked packets summed per
 * time bucket and per (client, server name, app, nDPI protocol, server's
 * country and network), held until the bucket is closed, then handed out
 * in a stable order.
 */
#ifndef SHADOWMAP_AGGREGATE_H
#define SHADOWMAP_AGGREGATE_H

#include <stdint.h>

#include "shadowmap/addr.h"

enum agg_untracked {
	AGG_TRACKED = 0,
	AGG_UNTRACKED_TABLE_FULL,
	AGG_UNTRACKED_FRAGMENT,
	AGG_UNTRACKED_MALFORMED,
};

struct agg_key {
	int64_t bucket;      /* bucket start, usec */
	struct sm_addr client;
	uint8_t has_client;
	uint8_t untracked;   /* enum agg_untracked */
	uint16_t dpi_name;
	int32_t app;         /* signature app index, -1 for none */
	const char *host;    /* NULL for none; copied by agg_add */
	uint16_t country;    /* the server's, packed as geo.h; 0 for none */
	uint32_t asn;        /* 0 for none */
	uint32_t as_org;     /* interned organisation (geo.h), 0 for none */
};

struct agg_counts {
	uint64_t flows, packets, bytes_up, bytes_down;
	int64_t first, last;
};

struct agg;

struct agg *agg_new(void);
void agg_free(struct agg *a);

/* Adds c to the entry of k. Returns 0, or -1 when out of memory (the
 * counts are lost; the caller counts that). */
int agg_add(struct agg *a, const struct agg_key *k, const struct agg_counts *c);

/*
 * Hands every entry of the buckets that start before t to fn, bucket by
 * bucket in time order, entries sorted by client, host, app, protocol,
 * the server's country, AS number and organisation id, then forgets them.
 * Stops at the first fn that returns -1 (the entries not yet given are
 * kept) and returns -1; 0 otherwise.
 */
typedef int (*agg_emit_fn)(void *arg, const struct agg_key *k, const struct agg_counts *c);
int agg_emit_before(struct agg *a, int64_t t, agg_emit_fn fn, void *arg);

/* Entries held now. */
uint64_t agg_size(const struct agg *a);

#endif
