/*
 * The usage summary: what an agent reports per time bucket and per
 * (client, server name, nDPI protocol). This is the wire format between
 * agent and collector; docs/usage-format.md describes it for people.
 */
#ifndef SHADOWMAP_USAGE_H
#define SHADOWMAP_USAGE_H

#include <stdint.h>

#include "shadowmap/addr.h"
#include "shadowmap/sbuf.h"

#define USAGE_SCHEMA "shadowmap.usage/1"

/* Why packets were not counted in a flow (usage_record.untracked). */
#define USAGE_UNTRACKED_TABLE_FULL "table_full"
#define USAGE_UNTRACKED_FRAGMENT "fragment"
#define USAGE_UNTRACKED_MALFORMED "malformed"

struct usage_record {
	int64_t bucket_start;   /* usec since the epoch, UTC */
	int64_t bucket_seconds; /* the bucket's length */
	int has_client;         /* 0 only for untracked packets with no address */
	struct sm_addr client;
	const char *host;       /* full server name, or NULL */
	const char *domain;     /* registrable domain of host, or NULL */
	const char *app;        /* app slug, or NULL */
	const char *category;   /* category slug, or NULL */
	const char *ndpi_proto; /* nDPI's name ("TLS.Google"), or NULL */
	const char *untracked;  /* NULL, or a USAGE_UNTRACKED_* reason */
	uint64_t flows;
	uint64_t packets;
	uint64_t bytes_up;      /* IP bytes, client to server */
	uint64_t bytes_down;
	int64_t first_seen;     /* usec */
	int64_t last_seen;
	/* Where the server is (agent/geo.h; NULL and 0 without the databases) */
	const char *country;    /* ISO 3166-1 alpha-2, or NULL */
	uint32_t asn;           /* autonomous system number, 0 for none */
	const char *as_org;     /* its organisation, or NULL */
};

/* Appends the record as one JSON object, without a newline. 0 or -1. */
int usage_record_to_json(const struct usage_record *r, struct sbuf *sb);

#endif
