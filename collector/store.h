/*
 * The collector's store: the one narrow interface between shadowmap and its
 * database. The collector (ingest, API) and the report program link it as a
 * library (shadowmap_store); store_sqlite.c is the SQLite back end, and a
 * PostgreSQL one can follow behind the same functions without touching the
 * callers. Nothing outside store_*.c includes a database header.
 *
 * Usage is stored as the agents sent it (full server name, nDPI protocol,
 * the agent's own app for flows without a name) and rolled up per day; the
 * app of every stored name is derived from the signatures the collector
 * loaded (store_remap), so that new knowledge applies to history too.
 *
 * A struct store is used by one thread at a time; the collector opens one
 * per thread that needs it (SQLite in WAL mode lets readers run beside the
 * writer).
 */
#ifndef SHADOWMAP_STORE_H
#define SHADOWMAP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "shadowmap/sig.h"
#include "shadowmap/usage.h"

struct store;

/* Opens (creating and migrating as needed) the database at path. NULL with
 * a one-line reason in err on failure (unreadable, newer schema than this
 * program knows, not a shadowmap database). */
struct store *store_open(const char *path, char *err, size_t errlen);
void store_close(struct store *st);

/* The last error of st, one line. */
const char *store_error(const struct store *st);

/* Caps the database at about max_bytes (0: no cap of ours), for this
 * handle: a batch that would pass it fails as a full disk does, with
 * nothing written. Not below the current size. 0 or -1. */
int store_set_max_bytes(struct store *st, int64_t max_bytes);

/* The page cache of this handle, in KiB (SQLite's default is 2,000): a
 * writer whose transactions touch many pages wants more. 0 or -1. */
int store_set_cache_kib(struct store *st, int64_t kib);

/*
 * Checkpoints copy the WAL into the database file. By default a handle
 * runs SQLite's automatic ones: after a commit that leaves 1,000 pages or
 * more in the WAL, on the committing thread, which writes them and fsyncs
 * the file before its next transaction. A writer that wants its thread
 * free of that calls store_manual_checkpoints and has store_checkpoint run
 * elsewhere (another handle, on another thread) as store_wal_pages grows.
 */
void store_manual_checkpoints(struct store *st);
/* Pages in the WAL after this handle's last commit; 0 until
 * store_manual_checkpoints. Goes down only once a checkpoint copied the
 * whole WAL and a later transaction started it afresh. */
int64_t store_wal_pages(const struct store *st);
/* A passive checkpoint: copies what it can of the WAL without waiting for
 * readers or the writer (and nothing when another handle is at it). */
int store_checkpoint(struct store *st);

/* ---- ingest ---- */

enum store_ingest_result {
	STORE_STORED = 0,    /* committed: durable on return */
	STORE_DUPLICATE = 1, /* this batch id was stored before: nothing changed */
	STORE_FAILED = -1,   /* nothing changed; store_error() says why */
};

/*
 * Stores one batch atomically: every record or none, and the batch id, so
 * that a batch sent twice is stored once. agent is the token's agent name.
 * Records are already validated (the HTTP layer's job). Returns when the
 * transaction is committed.
 */
enum store_ingest_result store_ingest(struct store *st, const char *batch_id,
				      const char *agent, const struct usage_record *recs,
				      size_t n);

/* One batch of a group (store_ingest_group). */
struct store_batch {
	const char *batch_id;
	const char *agent;               /* the token's agent name */
	const struct usage_record *recs; /* validated; n of them */
	size_t n;
	char *error;      /* NULL, or where the reason goes when the batch fails */
	size_t error_len;
};

/*
 * Stores n batches, each atomically and each once as store_ingest does,
 * in one transaction and one fsync when nothing fails: results[i] says
 * what became of batches[i] (STORE_STORED: durable on return). An id that
 * comes twice in one group is stored once: the first is stored, the
 * second a duplicate. When the shared transaction fails as a whole (a full
 * disk), it is rolled back and each batch is tried again in a transaction
 * of its own, so that a batch that cannot be stored fails no other.
 * Unlike store_ingest, never rolls up (see store_rollup_pending). 0 when
 * every batch was stored or a duplicate, -1 when one or more failed
 * (store_error() says why the last one did).
 */
int store_ingest_group(struct store *st, const struct store_batch *batches, size_t n,
		       enum store_ingest_result *results);

/*
 * Folds the raw rows not yet in the per-day roll-up into it, in a
 * transaction of its own. store_ingest does this by itself every ten
 * thousand rows or so; a collector may call it when idle so that no batch
 * waits for it. Queries are exact either way (docs/store.md). Returns the
 * number of raw rows folded in, or -1.
 */
long store_rollup(struct store *st);
/* The same for the oldest max_rows pending rows at most (0: all), so
 * that one step takes a bounded time. */
long store_rollup_some(struct store *st, int64_t max_rows);

/* Raw rows not in the roll-up as far as this handle knows: those there
 * were when it opened or last rolled up, and those it wrote since (another
 * handle may have rolled some up meanwhile). When a writer that uses
 * store_ingest_group should call store_rollup. */
int64_t store_rollup_pending(const struct store *st);

/* ---- tokens ---- */

enum store_role {
	STORE_ROLE_AGENT = 1,  /* may post batches */
	STORE_ROLE_READER = 2, /* may read the API */
};

struct store_token {
	int64_t id;
	const char *name;
	enum store_role role;
	int64_t created;      /* usec */
	int64_t last_used;    /* usec, 0 when never */
	int revoked;
};

/* Stores a token by its hash (SHA-256 hex of the secret; the secret itself
 * is never stored). 0, or -1 (a live token of that role and name exists:
 * err says so). */
int store_token_add(struct store *st, enum store_role role, const char *name,
		    const char *hash_hex);
/* Finds a live token by hash: 1 found (*out filled, strings valid until the
 * next store call), 0 none, -1 error. */
int store_token_find(struct store *st, const char *hash_hex, struct store_token *out);
int store_token_list(struct store *st, int (*cb)(void *arg, const struct store_token *t),
		     void *arg);
/* 1 revoked, 0 no live token of that role and name, -1 error. */
int store_token_revoke(struct store *st, enum store_role role, const char *name);

/* ---- knowledge ---- */

/*
 * Maps every stored (host, nDPI protocol, agent app) key to an app and
 * category with these signatures: by the host's longest domain suffix, else
 * the nDPI protocol, else what the agent said. Cheap when the signatures
 * did not change since the last remap (a hash of them is stored). Returns
 * the number of keys whose app (or its category) changed, or -1.
 *
 * The handle keeps sigs (not a copy) to map the new keys store_ingest
 * adds: the caller keeps it alive until the next store_remap on this
 * handle or store_close. Before the first remap, new keys keep the
 * agent's app. Keys another handle added with other signatures are
 * re-mapped by the next remap, even with unchanged signatures.
 */
long store_remap(struct store *st, const sig_db *sigs);

/* ---- queries: [from, to) in usec; 0 for "no bound" ---- */

struct store_app_row {
	const char *app;      /* NULL: usage no signature names (see unknown domains) */
	const char *category; /* NULL when app is NULL */
	uint64_t users;       /* distinct clients */
	uint64_t flows, packets, bytes_up, bytes_down;
	int64_t first_seen, last_seen; /* usec */
};

struct store_category_row {
	const char *category; /* NULL: usage of no known app */
	uint64_t users, apps;
	uint64_t flows, packets, bytes_up, bytes_down;
	int64_t first_seen, last_seen;
};

struct store_client_row {
	const char *client;   /* address text; "" for untracked packets with no address */
	uint64_t apps;        /* distinct known apps */
	uint64_t flows, packets, bytes_up, bytes_down;
	int64_t first_seen, last_seen;
};

struct store_domain_row {
	const char *domain;   /* registrable domain with no app */
	uint64_t users, hosts;
	uint64_t flows, packets, bytes_up, bytes_down;
	int64_t first_seen, last_seen;
	/* The network that carried most of the domain's bytes in the range,
	 * of those the agents placed: all three NULL / 0 when none was. */
	uint32_t asn;         /* 0: unknown */
	const char *as_org;   /* NULL: unknown */
	const char *country;  /* ISO 3166-1 alpha-2; NULL: unknown */
};

/* Usage per network as the agents placed the servers: one row per (asn,
 * as_org, country), each NULL / 0 when unknown (all three for usage
 * without geolocation). */
struct store_network_row {
	uint32_t asn;
	const char *as_org;
	const char *country;
	uint64_t users;       /* distinct clients */
	uint64_t apps;        /* distinct known apps */
	uint64_t flows, packets, bytes_up, bytes_down;
	int64_t first_seen, last_seen;
};

struct store_totals {
	uint64_t records, flows, packets, bytes_up, bytes_down;
	int64_t first_seen, last_seen;
};

/* Each calls cb once per row, ordered by bytes (up + down) descending;
 * a non-zero return from cb stops the walk and is returned. -1 on error. */
int store_apps(struct store *st, int64_t from, int64_t to,
	       int (*cb)(void *arg, const struct store_app_row *r), void *arg);
int store_categories(struct store *st, int64_t from, int64_t to,
		     int (*cb)(void *arg, const struct store_category_row *r), void *arg);
int store_clients(struct store *st, int64_t from, int64_t to,
		  int (*cb)(void *arg, const struct store_client_row *r), void *arg);
int store_unknown_domains(struct store *st, int64_t from, int64_t to,
			  int (*cb)(void *arg, const struct store_domain_row *r), void *arg);
int store_networks(struct store *st, int64_t from, int64_t to,
		   int (*cb)(void *arg, const struct store_network_row *r), void *arg);
int store_get_totals(struct store *st, int64_t from, int64_t to, struct store_totals *out);

/* ---- for reports ---- */

/* One (client, app) pair's use in a range. */
struct store_client_app_row {
	const char *client;   /* address text */
	const char *app;      /* never NULL: usage of no app is left out */
	const char *category;
	uint64_t flows, bytes_up, bytes_down;
	int64_t first_seen, last_seen;
};

/* Every (client, app) pair with use in [from, to), in no particular order.
 * The walk stops at a non-zero return of cb, which it returns; -1 on
 * error. */
int store_client_apps(struct store *st, int64_t from, int64_t to,
		      int (*cb)(void *arg, const struct store_client_app_row *r), void *arg);

/* One stored row of usage: a day's roll-up, or a raw bucket not rolled up
 * yet (or at an edge of the range); key ids as store_keys gives them. A
 * (day, client, key) may come more than once: the caller adds them up. */
struct store_usage_row {
	int64_t day;          /* UTC day number: usec / 86400e6, floored */
	int64_t client_id, key_id;
	uint64_t flows, packets, bytes_up, bytes_down;
	int64_t first_seen, last_seen;
};

/* Every usage row in [from, to), in no particular order: one pass with no
 * grouping, for callers that aggregate in memory (the reports: far faster
 * than SQL's GROUP BY with DISTINCT over a month of a large organisation).
 * Stops at a non-zero return of cb, which it returns; -1 on error. */
int store_usage_walk(struct store *st, int64_t from, int64_t to,
		     int (*cb)(void *arg, const struct store_usage_row *r), void *arg);

/* What a stored key is: the agent's name for the server and what the
 * signatures of the last store_remap make of it. */
struct store_key_row {
	int64_t id;
	const char *host, *domain;  /* or NULL */
	const char *app, *category; /* NULL: no app */
	const char *untracked;      /* NULL, or why the packets had no flow */
	const char *country;        /* where the server is, or NULL */
	uint32_t asn;               /* its network, 0 when unknown */
	const char *as_org;         /* the network's owner, or NULL */
};
int store_keys(struct store *st, int (*cb)(void *arg, const struct store_key_row *r), void *arg);

#endif
