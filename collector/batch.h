/*
 * The body of POST /api/v1/batches (docs/batch-format.md): inflated when
 * gzip-encoded, parsed, and validated strictly before anything reaches the
 * store, so that a bad batch changes nothing and its sender learns why and
 * where ("records[12].bytes_up"). The limits below are part of the wire
 * format; every one is enforced before memory is spent beyond it.
 */
#ifndef SHADOWMAP_BATCH_H
#define SHADOWMAP_BATCH_H

#include <stddef.h>

#include "shadowmap/usage.h"

#define BATCH_SCHEMA "shadowmap.batch/1"
#define BATCH_BODY_MAX ((size_t)16 << 20)     /* request body as sent */
#define BATCH_INFLATED_MAX ((size_t)64 << 20) /* after gzip */
#define BATCH_RECORDS_MAX 10000
/* JSON values in one body: 10,000 records of ~20 values fit many times
 * over; a body of millions of tiny values ("[0,0,0,...]") is refused
 * before the parser spends time on it. */
#define BATCH_JSON_VALUES_MAX 2000000

#define BATCH_HOST_MAX 253 /* a DNS name */
#define BATCH_SLUG_MAX 128 /* app, category, nDPI protocol */
#define BATCH_AS_ORG_MAX 255 /* a network's organisation name (the agent sends 128 at most) */

struct batch;

/* Why a body was refused: an HTTP status (400, 413, 415 or 422), the reason
 * and the place ("records[3].client", "" when the body as a whole). */
struct batch_error {
	int status;
	char error[256];
	char where[96];
};

/*
 * Validates a body. content_encoding is the Content-Encoding header or NULL
 * (identity); content_type the Content-Type header or NULL. On success
 * returns a batch the caller frees with batch_free; on failure NULL with
 * err filled (status 500 when memory ran out).
 */
struct batch *batch_parse(const void *body, size_t len, const char *content_encoding,
			  const char *content_type, struct batch_error *err);
void batch_free(struct batch *b);

/* The Content-Encoding and Content-Type checks of batch_parse alone, so
 * that a body nobody could read is refused (415) before it is received.
 * 0, or -1 with err filled. */
int batch_check_headers(const char *content_encoding, const char *content_type,
			struct batch_error *err);

/* Valid until batch_free. */
const char *batch_id(const struct batch *b);
const struct usage_record *batch_records(const struct batch *b, size_t *n);

/*
 * Inflates a gzip body (one or more members) into a new buffer of at most
 * max bytes (caller frees *out; NUL-terminated, the NUL not counted in
 * *out_len). Stops as soon as the output would pass max: a gzip bomb costs
 * max bytes of memory and no more. 0, or -1 with err filled (413 over the
 * limit, 400 for a damaged or truncated stream).
 */
int batch_gunzip(const void *in, size_t in_len, size_t max, char **out, size_t *out_len,
		 struct batch_error *err);

/* Whether s is a lower-case 8-4-4-4-12 hex UUID. */
int batch_uuid_valid(const char *s);

/*
 * Parses an RFC 3339 time stamp in UTC ("Z") as the wire format writes it:
 * "YYYY-MM-DDTHH:MM:SS" then, when frac_allowed, an optional fraction of 1
 * to 9 digits, then "Z". Stricter than time_parse_rfc3339, which also
 * takes dates and offsets. 0 or -1.
 */
int batch_parse_utc(const char *s, int frac_allowed, int64_t *usec);

#endif
