/*
 * Batch bodies (batch.h): gzip with a hard output cap, JSON through jansson
 * with duplicate keys refused, then every field of every record checked
 * against docs/usage-format.md. The records handed to the store point into
 * the jansson tree, so a batch costs its tree and one array, no copies.
 *
 * Unknown fields are ignored, in the batch and in its records: the usage
 * format says readers must ignore fields they do not know (a new field does
 * not change the schema string), and an agent one release ahead must not
 * have its batches refused for good. Known fields are checked strictly.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <zlib.h>

#include "shadowmap/addr.h"
#include "shadowmap/domain.h"
#include "shadowmap/timefmt.h"
#include "shadowmap/utf8.h"

#include "batch.h"

#define COUNTER_MAX (UINT64_C(1) << 53) /* what a double holds exactly */
#define BUCKET_SECONDS_MAX 86400

struct batch {
	json_t *root;
	const char *id;
	struct usage_record *recs;
	size_t n;
};

static int set_err(struct batch_error *err, int status, const char *where, const char *fmt,
		   ...) __attribute__((format(printf, 4, 5)));

static int
set_err(struct batch_error *err, int status, const char *where, const char *fmt, ...)
{
	va_list ap;
	err->status = status;
	snprintf(err->where, sizeof(err->where), "%s", where ? where : "");
	va_start(ap, fmt);
	vsnprintf(err->error, sizeof(err->error), fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- gzip ---- */

int
batch_gunzip(const void *in, size_t in_len, size_t max, char **out, size_t *out_len,
	     struct batch_error *err)
{
	z_stream z;
	char *buf = NULL;
	size_t cap, len = 0;
	int rc = -1, zrc;

	*out = NULL;
	*out_len = 0;
	memset(&z, 0, sizeof(z));
	/* 16 + MAX_WBITS: gzip wrapper only; a raw or zlib stream is not gzip */
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return set_err(err, 500, NULL, "out of memory");
	/* Start near the usual ratio of JSON (5-10x) and double up to max. */
	cap = in_len < max / 8 ? in_len * 8 + 4096 : max;
	if (cap > max)
		cap = max;
	buf = malloc(cap + 1);
	if (!buf) {
		set_err(err, 500, NULL, "out of memory");
		goto out;
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = 0;
	size_t in_left = in_len;
	for (;;) {
		/* zlib counts in uInt: feed large inputs in slices */
		if (z.avail_in == 0 && in_left > 0) {
			z.avail_in = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
			in_left -= z.avail_in;
		}
		if (len == cap) {
			if (cap >= max) {
				/* Full: only the end of the stream may follow. A
				 * byte more of output means over the limit. */
				char probe;
				z.next_out = (Bytef *)&probe;
				z.avail_out = 1;
				zrc = inflate(&z, Z_NO_FLUSH);
				if (z.avail_out == 0) {
					set_err(err, 413, NULL,
						"body inflates to more than %zu bytes", max);
					goto out;
				}
				goto check;
			}
			size_t want = cap * 2 > max ? max : cap * 2;
			char *bigger = realloc(buf, want + 1);
			if (!bigger) {
				set_err(err, 500, NULL, "out of memory");
				goto out;
			}
			buf = bigger;
			cap = want;
		}
		z.next_out = (Bytef *)buf + len;
		z.avail_out = (uInt)(cap - len > (1u << 30) ? (1u << 30) : cap - len);
		uInt before = z.avail_out;
		zrc = inflate(&z, Z_NO_FLUSH);
		len += before - z.avail_out;
check:
		if (zrc == Z_STREAM_END) {
			if (z.avail_in == 0 && in_left == 0)
				break;
			/* RFC 1952 allows several members back to back */
			const unsigned char *next = z.next_in;
			if (z.avail_in >= 2 && next[0] == 0x1f && next[1] == 0x8b) {
				if (inflateReset(&z) != Z_OK) {
					set_err(err, 500, NULL, "out of memory");
					goto out;
				}
				continue;
			}
			set_err(err, 400, NULL, "data after the end of the gzip stream");
			goto out;
		}
		if (zrc == Z_BUF_ERROR && z.avail_in == 0 && in_left == 0) {
			set_err(err, 400, NULL, "gzip body is truncated");
			goto out;
		}
		if (zrc == Z_MEM_ERROR) {
			set_err(err, 500, NULL, "out of memory");
			goto out;
		}
		if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
			set_err(err, 400, NULL, "gzip body is damaged: %s",
				z.msg ? z.msg : "bad data");
			goto out;
		}
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	buf = NULL;
	rc = 0;
out:
	inflateEnd(&z);
	free(buf);
	return rc;
}

/* ---- small checks ---- */

int
batch_uuid_valid(const char *s)
{
	static const int dash_at[] = { 8, 13, 18, 23 };
	size_t d = 0;
	for (size_t i = 0; i < 36; i++) {
		char c = s[i];
		if (d < 4 && (int)i == dash_at[d]) {
			if (c != '-')
				return 0;
			d++;
			continue;
		}
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
	}
	return s[36] == '\0';
}

static int
digits_at(const char *s, size_t from, size_t n)
{
	for (size_t i = from; i < from + n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

int
batch_parse_utc(const char *s, int frac_allowed, int64_t *usec)
{
	/* the shape first; time_parse_rfc3339 then checks the ranges */
	size_t n = strlen(s), i = 19;
	if (n < 20 || !digits_at(s, 0, 4) || s[4] != '-' || !digits_at(s, 5, 2) ||
	    s[7] != '-' || !digits_at(s, 8, 2) || s[10] != 'T' || !digits_at(s, 11, 2) ||
	    s[13] != ':' || !digits_at(s, 14, 2) || s[16] != ':' || !digits_at(s, 17, 2))
		return -1;
	if (s[i] == '.') {
		if (!frac_allowed)
			return -1;
		size_t k = ++i;
		while (s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == k || i - k > 9)
			return -1;
	}
	if (s[i] != 'Z' || s[i + 1] != '\0')
		return -1;
	return time_parse_rfc3339(s, usec);
}

/* Counts JSON values roughly (containers and separators outside strings):
 * an upper bound on what jansson would allocate nodes for. */
static size_t
json_value_estimate(const char *s, size_t len)
{
	size_t count = 1;
	int in_string = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = 0;
		} else if (c == '"') {
			in_string = 1;
		} else if (c == '[' || c == '{' || c == ',') {
			count++;
		}
	}
	return count;
}

static const char *
json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number with a fraction or exponent";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "something else";
}

/* ---- records ---- */

struct vctx {
	struct batch_error *err;
	size_t index;      /* of the record */
	char where[96];
};

static const char *
where_of(struct vctx *v, const char *field)
{
	snprintf(v->where, sizeof(v->where), "records[%zu].%s", v->index, field);
	return v->where;
}

static int
field_err(struct vctx *v, int status, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
field_err(struct vctx *v, int status, const char *field, const char *fmt, ...)
{
	va_list ap;
	v->err->status = status;
	snprintf(v->err->where, sizeof(v->err->where), "%s", where_of(v, field));
	va_start(ap, fmt);
	vsnprintf(v->err->error, sizeof(v->err->error), fmt, ap);
	va_end(ap);
	return -1;
}

/* Text fields: valid UTF-8 (jansson checks it too; this does not depend on
 * that), no control characters, 1..max bytes. */
static int
text_ok(struct vctx *v, const char *field, const char *s, size_t len, size_t max)
{
	if (len == 0)
		return field_err(v, 400, field, "empty string (use null)");
	if (len > max)
		return field_err(v, 400, field, "longer than %zu bytes", max);
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)s[i];
		size_t n = utf8_seq_len((const unsigned char *)s + i, len - i);
		if (n == 0)
			return field_err(v, 400, field, "not valid UTF-8");
		if (c < 0x20 || c == 0x7f)
			return field_err(v, 400, field, "control character in text");
		i += n;
	}
	return 0;
}

/* A string, or null when nullable; *out NULL for null. Absent: an error
 * when required, else NULL. */
static int
get_text(struct vctx *v, json_t *rec, const char *field, int required, int nullable,
	 size_t max, const char **out)
{
	json_t *x = json_object_get(rec, field);
	*out = NULL;
	if (!x) {
		if (required)
			return field_err(v, 400, field, "missing");
		return 0;
	}
	if (json_is_null(x)) {
		if (nullable)
			return 0;
		return field_err(v, 400, field, "expected a string, got null");
	}
	if (!json_is_string(x))
		return field_err(v, 400, field, "expected a string%s, got %s",
				 nullable ? " or null" : "", json_type_name(x));
	if (text_ok(v, field, json_string_value(x), json_string_length(x), max) < 0)
		return -1;
	*out = json_string_value(x);
	return 0;
}

/* A host or registrable domain: a DNS name exactly as domain_normalize
 * writes it (lower case, no trailing dot, no port), so that the store can
 * match it against signatures as it is. */
static int
get_name(struct vctx *v, json_t *rec, const char *field, const char **out)
{
	char norm[DOMAIN_MAX];
	if (get_text(v, rec, field, 1, 1, BATCH_HOST_MAX, out) < 0)
		return -1;
	if (!*out)
		return 0;
	size_t len = strlen(*out);
	if (domain_normalize(*out, len, norm, sizeof(norm)) != (int)len ||
	    memcmp(norm, *out, len) != 0)
		return field_err(v, 400, field,
				 "not a DNS name in normal form (lower case, no port, "
				 "no trailing dot)");
	return 0;
}

static int
get_counter(struct vctx *v, json_t *rec, const char *field, uint64_t *out)
{
	json_t *x = json_object_get(rec, field);
	if (!x)
		return field_err(v, 400, field, "missing");
	if (!json_is_integer(x))
		return field_err(v, 400, field, "expected a non-negative integer, got %s",
				 json_type_name(x));
	json_int_t n = json_integer_value(x);
	if (n < 0)
		return field_err(v, 400, field, "negative");
	if ((uint64_t)n > COUNTER_MAX)
		return field_err(v, 400, field, "larger than 2^53");
	*out = (uint64_t)n;
	return 0;
}

static int
get_time(struct vctx *v, json_t *rec, const char *field, int frac_allowed, int64_t *out)
{
	json_t *x = json_object_get(rec, field);
	if (!x)
		return field_err(v, 400, field, "missing");
	if (!json_is_string(x))
		return field_err(v, 400, field, "expected an RFC 3339 time string, got %s",
				 json_type_name(x));
	if (batch_parse_utc(json_string_value(x), frac_allowed, out) < 0)
		return field_err(v, 400, field,
				 frac_allowed ? "not an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SS[.fff]Z)"
					      : "not an RFC 3339 UTC time in whole seconds "
						"(YYYY-MM-DDTHH:MM:SSZ)");
	if (*out < 0)
		return field_err(v, 422, field, "before 1970");
	return 0;
}

static int
check_record(struct vctx *v, json_t *rec, struct usage_record *r)
{
	const char *schema, *client;
	json_t *x;

	memset(r, 0, sizeof(*r));
	if (!json_is_object(rec)) {
		snprintf(v->where, sizeof(v->where), "records[%zu]", v->index);
		return set_err(v->err, 400, v->where, "expected an object, got %s",
			       json_type_name(rec));
	}
	if (get_text(v, rec, "schema", 1, 0, 64, &schema) < 0)
		return -1;
	if (strcmp(schema, USAGE_SCHEMA) != 0)
		return field_err(v, 422, "schema", "unknown record schema (expected \"%s\")",
				 USAGE_SCHEMA);

	if (get_time(v, rec, "bucket_start", 0, &r->bucket_start) < 0)
		return -1;
	x = json_object_get(rec, "bucket_seconds");
	if (!x)
		return field_err(v, 400, "bucket_seconds", "missing");
	if (!json_is_integer(x))
		return field_err(v, 400, "bucket_seconds", "expected a positive integer, got %s",
				 json_type_name(x));
	if (json_integer_value(x) <= 0 || json_integer_value(x) > BUCKET_SECONDS_MAX)
		return field_err(v, 400, "bucket_seconds", "out of range (1 to %d)",
				 BUCKET_SECONDS_MAX);
	r->bucket_seconds = json_integer_value(x);
	if (r->bucket_start % (r->bucket_seconds * USEC_PER_SEC) != 0)
		return field_err(v, 422, "bucket_start",
				 "not aligned to a multiple of bucket_seconds since the epoch");

	/* untracked before client: it decides whether client may be null */
	if (get_text(v, rec, "untracked", 0, 0, 32, &r->untracked) < 0)
		return -1;
	if (r->untracked) {
		static const char *const reasons[] = { USAGE_UNTRACKED_TABLE_FULL,
						       USAGE_UNTRACKED_FRAGMENT,
						       USAGE_UNTRACKED_MALFORMED };
		const char *known = NULL;
		for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
			if (strcmp(r->untracked, reasons[i]) == 0)
				known = reasons[i];
		if (!known)
			return field_err(v, 422, "untracked",
					 "unknown reason (expected table_full, fragment or "
					 "malformed)");
		r->untracked = known; /* static storage, like the agent's */
	}

	if (get_text(v, rec, "client", 1, 1, ADDR_STRLEN, &client) < 0)
		return -1;
	if (client) {
		if (addr_parse(client, &r->client) < 0)
			return field_err(v, 400, "client", "not an IPv4 or IPv6 address");
		r->has_client = 1;
	} else if (!r->untracked) {
		return field_err(v, 422, "client", "null, but the record is not untracked");
	}

	if (get_name(v, rec, "host", &r->host) < 0 || get_name(v, rec, "domain", &r->domain) < 0)
		return -1;
	if (r->domain && !r->host)
		return field_err(v, 422, "domain", "set without a host");
	if (get_text(v, rec, "app", 1, 1, BATCH_SLUG_MAX, &r->app) < 0 ||
	    get_text(v, rec, "category", 1, 1, BATCH_SLUG_MAX, &r->category) < 0 ||
	    get_text(v, rec, "ndpi_proto", 1, 1, BATCH_SLUG_MAX, &r->ndpi_proto) < 0)
		return -1;
	if (r->category && !r->app)
		return field_err(v, 422, "category", "set without an app");
	if (r->untracked && (r->host || r->app))
		return field_err(v, 422, r->host ? "host" : "app",
				 "set in an untracked record");

	if (get_counter(v, rec, "flows", &r->flows) < 0 ||
	    get_counter(v, rec, "packets", &r->packets) < 0 ||
	    get_counter(v, rec, "bytes_up", &r->bytes_up) < 0 ||
	    get_counter(v, rec, "bytes_down", &r->bytes_down) < 0)
		return -1;

	if (get_time(v, rec, "first_seen", 1, &r->first_seen) < 0 ||
	    get_time(v, rec, "last_seen", 1, &r->last_seen) < 0)
		return -1;
	if (r->first_seen > r->last_seen)
		return field_err(v, 422, "last_seen", "earlier than first_seen");
	return 0;
}

/* ---- the batch ---- */

static int
media_type_is_json(const char *ct)
{
	size_t n = strcspn(ct, ";");
	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	while (n > 0 && (*ct == ' ' || *ct == '\t')) {
		ct++;
		n--;
	}
	return n == 16 && strncasecmp(ct, "application/json", 16) == 0;
}

static int
is_gzip(const char *content_encoding)
{
	return content_encoding && (strcasecmp(content_encoding, "gzip") == 0 ||
				    strcasecmp(content_encoding, "x-gzip") == 0);
}

int
batch_check_headers(const char *content_encoding, const char *content_type,
		    struct batch_error *err)
{
	memset(err, 0, sizeof(*err));
	if (content_type && *content_type && !media_type_is_json(content_type))
		return set_err(err, 415, NULL, "Content-Type must be application/json");
	if (content_encoding && *content_encoding && !is_gzip(content_encoding) &&
	    strcasecmp(content_encoding, "identity") != 0)
		return set_err(err, 415, NULL,
			       "Content-Encoding must be gzip or absent (identity)");
	return 0;
}

static int
check_batch(struct batch *b, struct batch_error *err)
{
	json_t *root = b->root, *x, *recs;
	struct vctx v = { err, 0, "" };

	if (!json_is_object(root))
		return set_err(err, 400, NULL, "expected a JSON object, got %s",
			       json_type_name(root));
	x = json_object_get(root, "schema");
	if (!x)
		return set_err(err, 400, "schema", "missing");
	if (!json_is_string(x))
		return set_err(err, 400, "schema", "expected a string, got %s", json_type_name(x));
	if (strcmp(json_string_value(x), BATCH_SCHEMA) != 0)
		return set_err(err, 422, "schema", "unknown batch schema (expected \"%s\")",
			       BATCH_SCHEMA);

	x = json_object_get(root, "batch_id");
	if (!x)
		return set_err(err, 400, "batch_id", "missing");
	if (!json_is_string(x))
		return set_err(err, 400, "batch_id", "expected a string, got %s",
			       json_type_name(x));
	if (json_string_length(x) != 36 || !batch_uuid_valid(json_string_value(x)))
		return set_err(err, 400, "batch_id",
			       "not a lower-case UUID (8-4-4-4-12 hex digits)");
	b->id = json_string_value(x);

	x = json_object_get(root, "agent_version");
	if (x && !json_is_string(x))
		return set_err(err, 400, "agent_version", "expected a string, got %s",
			       json_type_name(x));

	x = json_object_get(root, "created");
	int64_t created;
	if (!x)
		return set_err(err, 400, "created", "missing");
	if (!json_is_string(x))
		return set_err(err, 400, "created", "expected an RFC 3339 time string, got %s",
			       json_type_name(x));
	if (batch_parse_utc(json_string_value(x), 1, &created) < 0)
		return set_err(err, 400, "created",
			       "not an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SS[.fff]Z)");

	recs = json_object_get(root, "records");
	if (!recs)
		return set_err(err, 400, "records", "missing");
	if (!json_is_array(recs))
		return set_err(err, 400, "records", "expected an array, got %s",
			       json_type_name(recs));
	size_t n = json_array_size(recs);
	if (n == 0)
		return set_err(err, 422, "records", "empty: a batch holds 1 to %d records",
			       BATCH_RECORDS_MAX);
	if (n > BATCH_RECORDS_MAX)
		return set_err(err, 413, "records", "%zu records: a batch holds at most %d", n,
			       BATCH_RECORDS_MAX);
	b->recs = calloc(n, sizeof(*b->recs));
	if (!b->recs)
		return set_err(err, 500, NULL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		v.index = i;
		if (check_record(&v, json_array_get(recs, i), &b->recs[i]) < 0)
			return -1;
	}
	b->n = n;
	return 0;
}

struct batch *
batch_parse(const void *body, size_t len, const char *content_encoding,
	    const char *content_type, struct batch_error *err)
{
	struct batch *b = NULL;
	char *inflated = NULL;
	const char *text = body;
	size_t text_len = len;
	json_error_t jerr;

	memset(err, 0, sizeof(*err));
	if (batch_check_headers(content_encoding, content_type, err) < 0)
		return NULL;
	if (len > BATCH_BODY_MAX) {
		set_err(err, 413, NULL, "body larger than %zu bytes", BATCH_BODY_MAX);
		return NULL;
	}
	if (is_gzip(content_encoding)) {
		if (batch_gunzip(body, len, BATCH_INFLATED_MAX, &inflated, &text_len, err) < 0)
			return NULL;
		text = inflated;
	}
	if (json_value_estimate(text, text_len) > BATCH_JSON_VALUES_MAX) {
		set_err(err, 413, NULL, "more than %d JSON values", BATCH_JSON_VALUES_MAX);
		goto fail;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		set_err(err, 500, NULL, "out of memory");
		goto fail;
	}
	/* Duplicate keys are refused: which of two "bytes_up" counts would be
	 * a guess, and a guess is not what we store. */
	b->root = json_loadb(text, text_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!b->root) {
		char where[64];
		snprintf(where, sizeof(where), "line %d, column %d", jerr.line, jerr.column);
		set_err(err, 400, where, "invalid JSON: %s", jerr.text);
		goto fail;
	}
	free(inflated);
	inflated = NULL;
	if (check_batch(b, err) < 0)
		goto fail;
	return b;
fail:
	free(inflated);
	batch_free(b);
	return NULL;
}

void
batch_free(struct batch *b)
{
	if (!b)
		return;
	json_decref(b->root);
	free(b->recs);
	free(b);
}

const char *
batch_id(const struct batch *b)
{
	return b->id;
}

const struct usage_record *
batch_records(const struct batch *b, size_t *n)
{
	*n = b->n;
	return b->recs;
}
