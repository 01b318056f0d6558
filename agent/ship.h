/*
 * The shipper: usage summaries from the agent to the collector, in gzip'd
 * JSON batches over HTTP(S) (docs/batch-format.md). The spool directory is
 * the queue: the capture thread closes batches into it, a sender thread of
 * the shipper's own posts them, oldest first, and deletes each only when
 * the collector has acknowledged it. docs/shipping.md says why and how.
 */
#ifndef SHADOWMAP_SHIP_H
#define SHADOWMAP_SHIP_H

#include <stddef.h>
#include <stdint.h>

#include "shadowmap/usage.h"

/* The collector's ingest path, appended to a --collector URL that does not
 * end with it already. */
#define SHIP_API_PATH "/api/v1/batches"

/* Limits of docs/batch-format.md. A batch also closes before its JSON
 * passes SHIP_BATCH_MAX_RAW bytes, well under the collector's 64 MiB
 * (inflated) and 16 MiB (request) limits. */
#define SHIP_BATCH_MAX_RECORDS 10000
#define SHIP_BATCH_MAX_RAW (8u << 20)
/* A spool holds at most this many batches whatever their size, so that a
 * tiny batch-max-records cannot fill a directory with millions of files. */
#define SHIP_SPOOL_MAX_BATCHES 100000

/* Length of a UUID's text form, without the NUL. */
#define SHIP_UUID_LEN 36

struct ship_config {
	const char *url;          /* collector, http:// or https:// */
	const char *token;        /* bearer token, printable ASCII, no spaces */
	const char *ca_file;      /* PEM CA bundle, or NULL for the system's */
	const char *spool_dir;    /* created (mode 0700) when missing */
	const char *agent_version;
	uint32_t batch_max_records;   /* 1 .. SHIP_BATCH_MAX_RECORDS */
	int64_t batch_max_age_usec;   /* 0: batches close by count and on demand only */
	uint64_t spool_max_bytes;     /* disk the spool may use, rejected/ included */
	int64_t retry_min_usec;       /* backoff ceiling of the first retry */
	int64_t retry_max_usec;       /* backoff ceiling, never more */
	int64_t connect_timeout_usec;
	int64_t request_timeout_usec; /* whole request, connect included */
};

/* libcurl's global set-up, once per program before any thread starts
 * (main calls it), and its undoing at the end. 0 or -1. */
int ship_global_init(void);
void ship_global_cleanup(void);

/* The documented defaults; url, token, spool_dir are left NULL. */
void ship_config_defaults(struct ship_config *cfg);

/* Checks a configuration without writing anything or connecting (for the
 * agent's --check too; it does check that the CA file is readable).
 * Returns 0, or -1 with a one-line reason. */
int ship_config_check(const struct ship_config *cfg, char *err, size_t errlen);

/* Reads a token file: one line, surrounding white space ignored. Returns a
 * string the caller frees, or NULL with a one-line reason in err. */
char *ship_read_token_file(const char *path, char *err, size_t errlen);

struct ship_stats {
	uint64_t records_in;          /* records given to ship_add_record */
	uint64_t records_spooled;     /* ... written into spooled batches */
	uint64_t batches_spooled;     /* batches closed into the spool by this run */
	uint64_t batches_found;       /* batches a previous run left in the spool */
	uint64_t batches_delivered;   /* acknowledged: stored or duplicate */
	uint64_t batches_rejected;    /* moved to rejected/ by this run */
	uint64_t batches_pending;     /* in the spool, not yet acknowledged */
	uint64_t spool_bytes;         /* disk the spool uses now, rejected/ included */
	uint64_t attempts;            /* requests sent or tried */
	uint64_t failures;            /* requests that ended in a retry */
	/* Lost: the spool was full or could not be written. */
	uint64_t batches_lost;
	uint64_t records_lost;
	uint64_t bytes_lost;          /* compressed batch bytes */
	uint64_t traffic_bytes_lost;  /* IP bytes (up + down) those records counted */
};

typedef struct shipper shipper;

/*
 * Opens (or creates) the spool, locks it against a second agent, queues
 * what an earlier run left there (oldest first) and starts the sender
 * thread. curl_global_init must have been called. The strings of cfg are
 * copied. NULL on failure, logged ("spool DIR: cannot create: ...").
 */
shipper *ship_new(const struct ship_config *cfg);

/*
 * Adds one record to the open batch (capture thread). A batch that
 * reaches batch_max_records is closed into the spool at once. Returns 0,
 * or -1 when the record was lost (counted and logged): shipping trouble
 * never stops the capture, so callers may ignore it.
 */
int ship_add_record(shipper *sh, const struct usage_record *r);

/* Closes the open batch when it is older than batch_max_age (live mode:
 * call about once a second). */
void ship_tick(shipper *sh);

/* Closes the open batch into the spool now, if it holds any record. */
void ship_flush(shipper *sh);

/*
 * Waits until the sender has emptied the spool or timeout_usec passed.
 * Returns the number of batches still waiting (0: all acknowledged or
 * rejected). Call ship_flush first.
 */
uint64_t ship_drain(shipper *sh, int64_t timeout_usec);

void ship_get_stats(shipper *sh, struct ship_stats *st);

/* The spool directory and the collector's URL as shown in messages. */
const char *ship_spool_dir(const shipper *sh);
const char *ship_url(const shipper *sh);

/*
 * Stops the sender (a request under way is aborted; its batch stays in
 * the spool), frees everything. The open batch, if any, is lost: call
 * ship_flush first. NULL is fine.
 */
void ship_free(shipper *sh);

/* ---- exposed for tests ---- */

/* A random (version 4) UUID, lower case, from getrandom(). out holds at
 * least SHIP_UUID_LEN + 1 bytes. 0 or -1. */
int ship_uuid_v4(char *out);

/* Backoff before retry number attempt (0 for the first retry): full
 * jitter, a uniform draw in [0, ceiling] where the ceiling is retry_min
 * doubled per attempt and capped at retry_max. rnd is a uniform 64-bit
 * random number. */
int64_t ship_backoff_ceiling(const struct ship_config *cfg, unsigned attempt);
int64_t ship_backoff_usec(const struct ship_config *cfg, unsigned attempt, uint64_t rnd);

#endif
