/*
 * DNS answers and the cache that names flows which carry no name of their
 * own: every A/AAAA record of a response, tied back through its CNAME chain
 * to the name the client asked for, kept with its TTL (with a floor, since
 * clients reuse answers longer than the TTL says) in a bounded cache.
 * nDPI 4.2 keeps only the first address of an answer, so we parse them here.
 */
#ifndef SHADOWMAP_DNS_H
#define SHADOWMAP_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "shadowmap/addr.h"
#include "shadowmap/domain.h"

#define DNS_MAX_ADDRS 64  /* addresses kept from one response */
#define DNS_MAX_CHAIN 16  /* CNAMEs followed from the question's name */
#define DNS_CACHE_SLOTS 4 /* (client, name) answers kept per address */

struct dns_addr_ttl {
	struct sm_addr addr;
	uint32_t ttl;
};

struct dns_answer {
	char qname[DOMAIN_MAX]; /* the question, normalised */
	size_t n_addrs;
	struct dns_addr_ttl addrs[DNS_MAX_ADDRS];
};

/*
 * Parses a DNS response message (UDP payload, or a TCP message without its
 * length prefix). Keeps the A and AAAA records that the question's name
 * reaches directly or through a chain of CNAMEs (bounded length, loops
 * refused). Returns 0 (n_addrs may be 0), or -1 when msg is not a
 * well-formed response (truncated, compression loop, not QR, rcode != 0).
 * Also -1: opcode other than QUERY, QDCOUNT other than 1, a question name
 * that domain_normalize refuses, a CNAME loop or a chain longer than
 * DNS_MAX_CHAIN. Only the header, question and answer section are read:
 * authority and additional records never name addresses. A/AAAA records
 * of class IN with a wrong RDLENGTH are skipped, not fatal. A TTL with its
 * top bit set counts as 0 (RFC 2181 8). An address given twice is kept
 * once, with the larger TTL. out is written in full (n_addrs 0 on -1).
 */
int dns_parse_response(const uint8_t *msg, size_t len, struct dns_answer *out);

typedef struct dns_cache dns_cache;

struct dns_cache_stats {
	uint64_t entries;   /* addresses held now */
	uint64_t inserts;        /* (address, name) answers learned or refreshed */
	uint64_t evictions;      /* removed to stay under the bound, before expiry */
	uint64_t expired;        /* addresses dropped because all answers expired */
	uint64_t hits;
	uint64_t misses;
	uint64_t alloc_failures; /* answers not learned for lack of memory */
};

/*
 * max_entries bounds the addresses held (expired ones reclaimed first, then
 * the least recently answered evicted), each with at most DNS_CACHE_SLOTS
 * answers. A record lives max(ttl, ttl_floor) seconds, at most ttl_max.
 * Returns NULL on lack of memory, max_entries 0 or over 2^26, or
 * ttl_floor > ttl_max. Caller frees with dns_cache_free.
 */
dns_cache *dns_cache_new(size_t max_entries, uint32_t ttl_floor, uint32_t ttl_max);
void dns_cache_free(dns_cache *c);

/*
 * Learns that name resolves to addr for client (who received the answer;
 * NULL counts as the all-zero address). name is copied (interned); names
 * of DOMAIN_MAX bytes or more, and empty ones, are ignored.
 */
void dns_cache_add(dns_cache *c, const struct sm_addr *client, const char *name,
		   const struct sm_addr *addr, uint32_t ttl, int64_t now_usec);

/* Learns every address of a parsed answer. */
void dns_cache_add_answer(dns_cache *c, const struct sm_addr *client,
			  const struct dns_answer *ans, int64_t now_usec);

/*
 * The name a live answer gave to server: the latest answer this client
 * received for it if any, otherwise the latest answer anyone received.
 * Returns NULL when none is live. The string is owned by the cache and
 * valid until the next call that modifies it.
 */
const char *dns_cache_lookup(dns_cache *c, const struct sm_addr *client,
			     const struct sm_addr *server, int64_t now_usec);

void dns_cache_get_stats(const dns_cache *c, struct dns_cache_stats *st);

#endif
