/*
 * Batch validation (collector/batch.c): a good batch parses into the
 * records the store gets; every kind of bad field is refused with the
 * status and the place the agent is told; gzip bombs, damaged gzip,
 * non-UTF-8, huge numbers and duplicate keys never get through.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <zlib.h>

#include "shadowmap/timefmt.h"

#include "batch.h"

#define GOOD_RECORD                                                                        \
	"{\"schema\":\"shadowmap.usage/1\",\"bucket_start\":\"2026-03-02T09:05:00Z\","      \
	"\"bucket_seconds\":300,\"client\":\"10.20.0.5\",\"host\":\"files.slack.com\","     \
	"\"domain\":\"slack.com\",\"app\":\"slack\",\"category\":\"messaging\","             \
	"\"ndpi_proto\":\"TLS.Slack\",\"flows\":2,\"packets\":412,\"bytes_up\":38811,"      \
	"\"bytes_down\":501223,\"first_seen\":\"2026-03-02T09:05:01.204Z\","                \
	"\"last_seen\":\"2026-03-02T09:09:58.777Z\"}"

#define BATCH_HEAD                                                                         \
	"{\"schema\":\"shadowmap.batch/1\",\"batch_id\":"                                    \
	"\"3f1c2a9e-5b7d-4e21-9c2a-0d6f1b8e4a77\",\"agent_version\":\"0.1.0\","             \
	"\"created\":\"2026-03-02T09:10:31Z\",\"records\":["

static char *
batch_of(const char *records)
{
	size_t n = strlen(BATCH_HEAD) + strlen(records) + 3;
	char *s = malloc(n);
	assert_non_null(s);
	snprintf(s, n, "%s%s]}", BATCH_HEAD, records);
	return s;
}

/* The good batch with one field of its record set to value (JSON text) or
 * removed (value NULL). Caller frees. */
static char *
batch_with(const char *field, const char *value)
{
	json_error_t jerr;
	json_t *rec = json_loads(GOOD_RECORD, 0, &jerr);
	assert_non_null(rec);
	if (value) {
		json_t *v = json_loads(value, JSON_DECODE_ANY, &jerr);
		assert_non_null(v);
		json_object_set_new(rec, field, v);
	} else {
		json_object_del(rec, field);
	}
	char *text = json_dumps(rec, JSON_COMPACT);
	json_decref(rec);
	char *b = batch_of(text);
	free(text);
	return b;
}

/* Top-level field of the batch set or removed. */
static char *
batch_top_with(const char *field, const char *value)
{
	json_error_t jerr;
	char *good = batch_of(GOOD_RECORD);
	json_t *root = json_loads(good, 0, &jerr);
	free(good);
	assert_non_null(root);
	if (value) {
		json_t *v = json_loads(value, JSON_DECODE_ANY, &jerr);
		assert_non_null(v);
		json_object_set_new(root, field, v);
	} else {
		json_object_del(root, field);
	}
	char *text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return text;
}

static void
expect_refused(const char *body, size_t len, const char *encoding, int status,
	       const char *where)
{
	struct batch_error err;
	struct batch *b = batch_parse(body, len, encoding, "application/json", &err);
	if (b) {
		batch_free(b);
		fail_msg("accepted; expected %d at %s", status, where ? where : "(any)");
	}
	if (err.status != status || (where && strcmp(err.where, where) != 0))
		fail_msg("refused with %d at \"%s\" (%s); expected %d at \"%s\"", err.status,
			 err.where, err.error, status, where ? where : "(any)");
	assert_true(err.error[0] != '\0');
}

static void
expect_field(const char *field, const char *value, int status, const char *where)
{
	char *body = batch_with(field, value);
	expect_refused(body, strlen(body), NULL, status, where);
	free(body);
}

static unsigned char *
gzip_of(const void *data, size_t len, size_t *out_len)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY),
			 Z_OK);
	size_t cap = deflateBound(&z, len);
	unsigned char *out = malloc(cap);
	assert_non_null(out);
	z.next_in = (Bytef *)(uintptr_t)data;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	*out_len = cap - z.avail_out;
	deflateEnd(&z);
	return out;
}

/* ---- good batches ---- */

static void
test_good_batch(void **state)
{
	(void)state;
	struct batch_error err;
	char *body = batch_of(GOOD_RECORD "," GOOD_RECORD);
	struct batch *b = batch_parse(body, strlen(body), NULL, "application/json; charset=utf-8",
				      &err);
	assert_non_null(b);
	assert_string_equal(batch_id(b), "3f1c2a9e-5b7d-4e21-9c2a-0d6f1b8e4a77");
	size_t n;
	const struct usage_record *r = batch_records(b, &n);
	assert_int_equal(n, 2);
	int64_t t;
	assert_int_equal(time_parse_rfc3339("2026-03-02T09:05:00Z", &t), 0);
	assert_int_equal(r[0].bucket_start, t);
	assert_int_equal(r[0].bucket_seconds, 300);
	assert_true(r[0].has_client);
	assert_string_equal(r[0].host, "files.slack.com");
	assert_string_equal(r[0].domain, "slack.com");
	assert_string_equal(r[0].app, "slack");
	assert_string_equal(r[0].category, "messaging");
	assert_string_equal(r[0].ndpi_proto, "TLS.Slack");
	assert_null(r[0].untracked);
	assert_int_equal(r[0].flows, 2);
	assert_int_equal(r[0].packets, 412);
	assert_int_equal(r[0].bytes_up, 38811);
	assert_int_equal(r[0].bytes_down, 501223);
	assert_int_equal(r[0].first_seen, t + 1204000);
	assert_int_equal(r[0].last_seen, t + 298777000);
	batch_free(b);

	/* the same gzip'd, and with no Content-Type at all */
	size_t zlen;
	unsigned char *z = gzip_of(body, strlen(body), &zlen);
	b = batch_parse(z, zlen, "gzip", NULL, &err);
	assert_non_null(b);
	batch_records(b, &n);
	assert_int_equal(n, 2);
	batch_free(b);

	/* two gzip members back to back are one body (RFC 1952) */
	size_t half = strlen(body) / 2, l1, l2;
	unsigned char *z1 = gzip_of(body, half, &l1);
	unsigned char *z2 = gzip_of(body + half, strlen(body) - half, &l2);
	unsigned char *both = malloc(l1 + l2);
	memcpy(both, z1, l1);
	memcpy(both + l1, z2, l2);
	b = batch_parse(both, l1 + l2, "gzip", NULL, &err);
	assert_non_null(b);
	batch_free(b);
	free(both);
	free(z1);
	free(z2);
	free(z);
	free(body);
}

static void
test_nulls_and_untracked(void **state)
{
	(void)state;
	struct batch_error err;
	const char *rec =
		"{\"schema\":\"shadowmap.usage/1\",\"bucket_start\":\"2026-03-02T09:05:00Z\","
		"\"bucket_seconds\":300,\"client\":null,\"host\":null,\"domain\":null,\"app\":null,"
		"\"category\":null,\"ndpi_proto\":null,\"untracked\":\"fragment\",\"flows\":0,"
		"\"packets\":1,\"bytes_up\":1500,\"bytes_down\":0,"
		"\"first_seen\":\"2026-03-02T09:05:01Z\",\"last_seen\":\"2026-03-02T09:05:01Z\"}";
	char *body = batch_of(rec);
	struct batch *b = batch_parse(body, strlen(body), "identity", NULL, &err);
	assert_non_null(b);
	size_t n;
	const struct usage_record *r = batch_records(b, &n);
	assert_int_equal(n, 1);
	assert_false(r[0].has_client);
	assert_null(r[0].host);
	assert_string_equal(r[0].untracked, "fragment");
	batch_free(b);
	free(body);

	/* IPv6 clients; a new field a later agent may send is ignored */
	body = batch_with("client", "\"2001:db8::1\"");
	b = batch_parse(body, strlen(body), NULL, NULL, &err);
	assert_non_null(b);
	batch_free(b);
	free(body);
	body = batch_with("countries", "[\"DE\",\"FR\"]");
	b = batch_parse(body, strlen(body), NULL, NULL, &err);
	assert_non_null(b);
	batch_free(b);
	free(body);
}

/* ---- bad records ---- */

static void
test_bad_fields(void **state)
{
	(void)state;
	static const struct {
		const char *field, *value; /* value NULL: the field removed */
		int status;
	} cases[] = {
		{ "schema", "\"shadowmap.usage/2\"", 422 },
		{ "schema", NULL, 400 },
		{ "bucket_start", "\"2026-03-02T09:05:00\"", 400 },    /* no zone */
		{ "bucket_start", "\"2026-03-02T09:05:00+01:00\"", 400 },
		{ "bucket_start", "\"2026-03-02T09:05:00.000Z\"", 400 }, /* whole seconds */
		{ "bucket_start", "\"2026-02-30T09:05:00Z\"", 400 },
		{ "bucket_start", "\"2026-03-02T09:06:00Z\"", 422 },   /* not aligned */
		{ "bucket_start", "1772442300", 400 },
		{ "bucket_seconds", "0", 400 },
		{ "bucket_seconds", "-300", 400 },
		{ "bucket_seconds", "300.0", 400 },
		{ "bucket_seconds", "\"300\"", 400 },
		{ "client", "\"10.20.0.256\"", 400 },
		{ "client", "\"example.com\"", 400 },
		{ "client", "null", 422 },           /* null only when untracked */
		{ "client", "17", 400 },
		{ "host", "\"Files.Slack.com\"", 400 }, /* not normalised */
		{ "host", "\"files.slack.com.\"", 400 },
		{ "host", "\"files.slack.com:443\"", 400 },
		{ "host", "\"\"", 400 },
		{ "host", "\"fi\\nles.com\"", 400 },
		{ "host", NULL, 400 },
		{ "domain", "[]", 400 },
		{ "app", "42", 400 },
		{ "app", "\"sl\\u0001ack\"", 400 },   /* control character */
		{ "app", "null", 422 },               /* category without app */
		{ "ndpi_proto", "true", 400 },
		{ "untracked", "\"bogus\"", 422 },
		{ "untracked", "\"fragment\"", 422 }, /* with a host */
		{ "untracked", "null", 400 },
		{ "flows", "-1", 400 },
		{ "flows", "1.5", 400 },
		{ "flows", "1e3", 400 },
		{ "flows", "\"2\"", 400 },
		{ "flows", NULL, 400 },
		{ "packets", "9007199254740993", 400 }, /* 2^53 + 1 */
		{ "bytes_up", "null", 400 },
		{ "bytes_down", "{}", 400 },
		{ "first_seen", "\"2026-03-02T09:05:01.2045678901Z\"", 400 }, /* 10 digits */
		{ "first_seen", "\"2026-03-02\"", 400 },
		{ "first_seen", "\"1969-12-31T23:59:59Z\"", 422 },
		{ "last_seen", "\"2026-03-02T09:05:01.203Z\"", 422 }, /* before first_seen */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char where[64];
		const char *field = cases[i].field;
		/* the place named is the field at fault */
		if (strcmp(field, "app") == 0 && cases[i].status == 422)
			field = "category";
		if (strcmp(field, "untracked") == 0 && cases[i].status == 422 &&
		    strcmp(cases[i].value, "\"fragment\"") == 0)
			field = "host";
		snprintf(where, sizeof(where), "records[0].%s", field);
		expect_field(cases[i].field, cases[i].value, cases[i].status, where);
	}
	/* a host of 254 characters, and one of 253 that is a name */
	char host[300];
	memset(host, 'a', sizeof(host));
	for (int i = 63; i < 254; i += 64)
		host[i] = '.';
	host[0] = '"';
	host[255] = '"';
	host[256] = '\0';
	expect_field("host", host, 400, "records[0].host");
	host[254] = '"';
	host[255] = '\0';
	char *body = batch_with("host", host);
	struct batch_error err;
	struct batch *b = batch_parse(body, strlen(body), NULL, NULL, &err);
	if (!b)
		fail_msg("253-character host refused: %s at %s", err.error, err.where);
	batch_free(b);
	free(body);

	/* the index of the record at fault is the one named */
	const char *bad = "{\"schema\":\"shadowmap.usage/1\"}";
	size_t n = strlen(GOOD_RECORD) * 12 + strlen(bad) + 16;
	char *recs = malloc(n);
	size_t off = 0;
	for (int i = 0; i < 12; i++)
		off += (size_t)snprintf(recs + off, n - off, "%s,", GOOD_RECORD);
	snprintf(recs + off, n - off, "%s", bad);
	body = batch_of(recs);
	expect_refused(body, strlen(body), NULL, 400, "records[12].bucket_start");
	free(body);
	free(recs);

	/* a record that is not an object */
	body = batch_of("[1,2]");
	expect_refused(body, strlen(body), NULL, 400, "records[0]");
	free(body);
}

static void
test_bad_batch(void **state)
{
	(void)state;
	static const struct {
		const char *field, *value;
		int status;
	} cases[] = {
		{ "schema", "\"shadowmap.batch/2\"", 422 },
		{ "schema", NULL, 400 },
		{ "batch_id", "\"3F1C2A9E-5B7D-4E21-9C2A-0D6F1B8E4A77\"", 400 },
		{ "batch_id", "\"3f1c2a9e5b7d4e219c2a0d6f1b8e4a77\"", 400 },
		{ "batch_id", "\"3f1c2a9e-5b7d-4e21-9c2a-0d6f1b8e4a7\"", 400 },
		{ "batch_id", "42", 400 },
		{ "batch_id", NULL, 400 },
		{ "created", "\"yesterday\"", 400 },
		{ "created", NULL, 400 },
		{ "agent_version", "1", 400 },
		{ "records", "[]", 422 },
		{ "records", "{}", 400 },
		{ "records", NULL, 400 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *body = batch_top_with(cases[i].field, cases[i].value);
		expect_refused(body, strlen(body), NULL, cases[i].status, cases[i].field);
		free(body);
	}

	/* 10,000 records pass, 10,001 do not */
	size_t rl = strlen(GOOD_RECORD) + 1;
	char *recs = malloc(rl * 10001 + 1);
	char *p = recs;
	for (int i = 0; i < 10001; i++) {
		memcpy(p, GOOD_RECORD ",", rl);
		p += rl;
	}
	p[-1] = '\0';
	char *body = batch_of(recs);
	expect_refused(body, strlen(body), NULL, 413, "records");
	free(body);
	recs[rl * 10000 - 1] = '\0';
	body = batch_of(recs);
	struct batch_error err;
	struct batch *b = batch_parse(body, strlen(body), NULL, NULL, &err);
	assert_non_null(b);
	size_t n;
	batch_records(b, &n);
	assert_int_equal(n, 10000);
	batch_free(b);
	free(body);
	free(recs);
}

/* ---- bad bodies ---- */

static void
test_bad_json(void **state)
{
	(void)state;
	struct batch_error err;

	expect_refused("", 0, NULL, 400, NULL);
	expect_refused("{\"schema\":", 10, NULL, 400, NULL);
	expect_refused("{\"a\":1}\n{\"a\":2}", 15, NULL, 400, NULL);
	expect_refused("[1,2]", 5, NULL, 400, "");
	/* trailing garbage after the object */
	char *body = batch_of(GOOD_RECORD);
	size_t len = strlen(body);
	char *more = malloc(len + 3);
	memcpy(more, body, len);
	memcpy(more + len, " x", 3);
	assert_null(batch_parse(more, len + 2, NULL, NULL, &err));
	assert_int_equal(err.status, 400);
	free(more);
	free(body);

	/* duplicate keys: which bytes_up would count? */
	const char *dup = "{\"schema\":\"shadowmap.usage/1\",\"bucket_start\":\"2026-03-02T09:05:00Z\","
			  "\"bucket_seconds\":300,\"client\":\"10.20.0.5\",\"host\":null,"
			  "\"domain\":null,\"app\":null,\"category\":null,\"ndpi_proto\":null,"
			  "\"flows\":1,\"packets\":1,\"bytes_up\":1,\"bytes_up\":99999,"
			  "\"bytes_down\":0,\"first_seen\":\"2026-03-02T09:05:01Z\","
			  "\"last_seen\":\"2026-03-02T09:05:01Z\"}";
	body = batch_of(dup);
	assert_null(batch_parse(body, strlen(body), NULL, NULL, &err));
	assert_int_equal(err.status, 400);
	assert_non_null(strstr(err.error, "duplicate"));
	free(body);

	/* not UTF-8: a Latin-1 byte inside a string */
	body = batch_with("ndpi_proto", "\"TLS.X\"");
	char *x = strstr(body, "TLS.X");
	x[4] = (char)0xe9;
	assert_null(batch_parse(body, strlen(body), NULL, NULL, &err));
	assert_int_equal(err.status, 400);
	free(body);

	/* an escaped NUL inside a name: jansson refuses it */
	body = batch_of(GOOD_RECORD);
	x = strstr(body, "files.slack.com");
	char *nul = malloc(strlen(body) + 8);
	size_t at = (size_t)(x - body);
	memcpy(nul, body, at);
	memcpy(nul + at, "\\u0000", 6);
	memcpy(nul + at + 6, x, strlen(x) + 1);
	expect_refused(nul, strlen(nul), NULL, 400, NULL);
	free(nul);
	free(body);
}

static void
test_huge_numbers(void **state)
{
	(void)state;
	struct batch_error err;
	/* jansson refuses integers past int64; the place is in the text */
	char *body = batch_of(GOOD_RECORD);
	char *p = strstr(body, "\"bytes_up\":38811");
	size_t len = strlen(body);
	char *big = malloc(len + 64);
	int head = (int)(p - body) + (int)strlen("\"bytes_up\":");
	snprintf(big, len + 64, "%.*s99999999999999999999999%s", head, body,
		 p + strlen("\"bytes_up\":38811"));
	assert_null(batch_parse(big, strlen(big), NULL, NULL, &err));
	assert_int_equal(err.status, 400);
	assert_non_null(strstr(err.where, "line 1"));
	free(big);
	free(body);

	/* 2^53 passes, as the largest exact counter */
	body = batch_with("bytes_down", "9007199254740992");
	struct batch *b = batch_parse(body, strlen(body), NULL, NULL, &err);
	assert_non_null(b);
	size_t n;
	assert_int_equal(batch_records(b, &n)[0].bytes_down, UINT64_C(9007199254740992));
	batch_free(b);
	free(body);
}

static void
test_headers(void **state)
{
	(void)state;
	struct batch_error err;
	char *body = batch_of(GOOD_RECORD);
	assert_null(batch_parse(body, strlen(body), "br", NULL, &err));
	assert_int_equal(err.status, 415);
	assert_null(batch_parse(body, strlen(body), "deflate", NULL, &err));
	assert_int_equal(err.status, 415);
	assert_null(batch_parse(body, strlen(body), NULL, "text/plain", &err));
	assert_int_equal(err.status, 415);
	assert_null(batch_parse(body, strlen(body), NULL, "application/jsonx", &err));
	assert_int_equal(err.status, 415);
	assert_int_equal(batch_check_headers("GZIP", "Application/JSON", &err), 0);
	/* gzip announced, identity sent */
	assert_null(batch_parse(body, strlen(body), "gzip", NULL, &err));
	assert_int_equal(err.status, 400);
	free(body);
}

static void
test_gzip_damage(void **state)
{
	(void)state;
	struct batch_error err;
	char *body = batch_of(GOOD_RECORD);
	size_t zlen;
	unsigned char *z = gzip_of(body, strlen(body), &zlen);

	/* truncated: the stream stops before its end */
	assert_null(batch_parse(z, zlen / 2, "gzip", NULL, &err));
	assert_int_equal(err.status, 400);
	assert_non_null(strstr(err.error, "truncated"));
	/* without its CRC and length trailer */
	assert_null(batch_parse(z, zlen - 8, "gzip", NULL, &err));
	assert_int_equal(err.status, 400);
	/* a flipped byte in the CRC */
	z[zlen - 6] ^= 0x55;
	assert_null(batch_parse(z, zlen, "gzip", NULL, &err));
	assert_int_equal(err.status, 400);
	z[zlen - 6] ^= 0x55;
	/* bytes after the end */
	unsigned char *more = malloc(zlen + 4);
	memcpy(more, z, zlen);
	memcpy(more + zlen, "junk", 4);
	assert_null(batch_parse(more, zlen + 4, "gzip", NULL, &err));
	assert_int_equal(err.status, 400);
	free(more);
	free(z);
	free(body);
}

static void
test_gzip_bomb(void **state)
{
	(void)state;
	struct batch_error err;
	/* 256 MiB of spaces deflate to about 250 KiB: refused once inflating
	 * passes 64 MiB, without inflating the rest */
	size_t chunk = (size_t)16 << 20, total = (size_t)256 << 20;
	char *spaces = malloc(chunk);
	memset(spaces, ' ', chunk);
	z_stream z;
	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY),
			 Z_OK);
	size_t cap = 4 << 20;
	unsigned char *out = malloc(cap);
	z.next_out = out;
	z.avail_out = (uInt)cap;
	for (size_t done = 0; done < total; done += chunk) {
		z.next_in = (Bytef *)spaces;
		z.avail_in = (uInt)chunk;
		assert_int_equal(deflate(&z, done + chunk >= total ? Z_FINISH : Z_NO_FLUSH) >= 0, 1);
		assert_int_equal(z.avail_in, 0);
	}
	size_t zlen = cap - z.avail_out;
	deflateEnd(&z);
	free(spaces);
	assert_true(zlen < BATCH_BODY_MAX);

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_null(batch_parse(out, zlen, "gzip", NULL, &err));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(err.status, 413);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	/* inflating 64 MiB takes well under a second; all of it would take
	 * several (and the sanitizer build is slower still) */
	if (secs > 5.0)
		fail_msg("the bomb took %.1f s to refuse", secs);

	free(out);

	/* exactly at the limit passes batch_gunzip, a byte more does not */
	size_t small = (size_t)1 << 20;
	char *ones = malloc(small);
	memset(ones, '1', small);
	out = gzip_of(ones, small, &zlen);
	free(ones);
	char *inflated;
	size_t ilen;
	assert_int_equal(batch_gunzip(out, zlen, small, &inflated, &ilen, &err), 0);
	assert_int_equal(ilen, small);
	free(inflated);
	assert_int_equal(batch_gunzip(out, zlen, small - 1, &inflated, &ilen, &err), -1);
	assert_int_equal(err.status, 413);
	free(out);
}

static void
test_too_many_values(void **state)
{
	(void)state;
	struct batch_error err;
	/* 12 MiB of "0," in an unknown field: cheap text, an expensive tree */
	size_t n = (size_t)6 << 20;
	char *body = malloc(n * 2 + 512);
	int k = snprintf(body, 512, "{\"padding\":[");
	char *p = body + k;
	for (size_t i = 0; i < n; i++) {
		*p++ = '0';
		*p++ = ',';
	}
	p[-1] = ']';
	*p++ = '}';
	assert_null(batch_parse(body, (size_t)(p - body), NULL, NULL, &err));
	assert_int_equal(err.status, 413);
	free(body);
}

static void
test_times_and_ids(void **state)
{
	(void)state;
	int64_t t;
	assert_int_equal(batch_parse_utc("2026-03-02T09:05:00Z", 0, &t), 0);
	assert_int_equal(batch_parse_utc("2026-03-02T09:05:00.5Z", 1, &t), 0);
	assert_int_equal(t % USEC_PER_SEC, 500000);
	assert_int_equal(batch_parse_utc("2026-03-02T09:05:00.123456789Z", 1, &t), 0);
	assert_int_equal(t % USEC_PER_SEC, 123456);
	assert_int_equal(batch_parse_utc("2026-03-02T09:05:00.Z", 1, &t), -1);
	assert_int_equal(batch_parse_utc("2026-03-02t09:05:00Z", 0, &t), -1);
	assert_int_equal(batch_parse_utc("2026-03-02T09:05:00z", 0, &t), -1);
	assert_int_equal(batch_parse_utc("2026-03-02T25:05:00Z", 0, &t), -1);
	assert_int_equal(batch_parse_utc("2026-03-02T09:05:00Z ", 0, &t), -1);
	assert_int_equal(batch_parse_utc("2026-3-02T09:05:00Z", 0, &t), -1);
	assert_true(batch_uuid_valid("00000000-0000-0000-0000-000000000000"));
	assert_false(batch_uuid_valid("00000000-0000-0000-0000-00000000000g"));
	assert_false(batch_uuid_valid("00000000-0000-0000-0000-0000000000000"));
	assert_false(batch_uuid_valid("00000000-0000-0000-0000"));
	assert_false(batch_uuid_valid("00000000+0000-0000-0000-000000000000"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_batch),
		cmocka_unit_test(test_nulls_and_untracked),
		cmocka_unit_test(test_bad_fields),
		cmocka_unit_test(test_bad_batch),
		cmocka_unit_test(test_bad_json),
		cmocka_unit_test(test_huge_numbers),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_gzip_damage),
		cmocka_unit_test(test_gzip_bomb),
		cmocka_unit_test(test_too_many_values),
		cmocka_unit_test(test_times_and_ids),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
