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

/* ---- the JSON reader: RFC 8259 exactly, hostile input ---- */

/* The good record with text inserted right after its '{' (e.g. unknown
 * fields, each followed by a comma). Caller frees. */
static char *
batch_with_prefix(const char *fields)
{
	size_t n = strlen(fields) + strlen(GOOD_RECORD) + 8;
	char *rec = malloc(n);
	assert_non_null(rec);
	snprintf(rec, n, "{%s%s", fields, GOOD_RECORD + 1);
	char *b = batch_of(rec);
	free(rec);
	return b;
}

/* Parses body (len bytes), which must pass. Caller frees. */
static struct batch *
expect_parsed(const char *body, size_t len)
{
	struct batch_error err;
	struct batch *b = batch_parse(body, len, NULL, NULL, &err);
	if (!b)
		fail_msg("refused with %d at \"%s\": %s", err.status, err.where, err.error);
	return b;
}

static void
expect_invalid_json(const char *body, size_t len)
{
	struct batch_error err;
	struct batch *b = batch_parse(body, len, NULL, NULL, &err);
	if (b) {
		batch_free(b);
		fail_msg("accepted; expected invalid JSON");
	}
	if (err.status != 400 || strncmp(err.error, "invalid JSON: ", 14) != 0 ||
	    strncmp(err.where, "line ", 5) != 0)
		fail_msg("refused with %d at \"%s\" (%s); expected 400, invalid JSON", err.status,
			 err.where, err.error);
}

/* Unknown field text (e.g. "\"x\":1,") in a record: passes or not. */
static void
unknown_field(const char *fields, int valid)
{
	char *body = batch_with_prefix(fields);
	if (valid)
		batch_free(expect_parsed(body, strlen(body)));
	else
		expect_invalid_json(body, strlen(body));
	free(body);
}

/* A known text field's value after parsing, the field set to json. */
static void
expect_text(const char *field, const char *json, const char *want)
{
	char *body = batch_with(field, "\"placeholder\"");
	char *at = strstr(body, "\"placeholder\"");
	size_t n = strlen(body) + strlen(json) + 1;
	char *edited = malloc(n);
	snprintf(edited, n, "%.*s%s%s", (int)(at - body), body, json,
		 at + strlen("\"placeholder\""));
	struct batch *b = expect_parsed(edited, strlen(edited));
	size_t count;
	const struct usage_record *r = batch_records(b, &count);
	const char *got = strcmp(field, "app") == 0        ? r[0].app
			  : strcmp(field, "ndpi_proto") == 0 ? r[0].ndpi_proto
			  : strcmp(field, "host") == 0       ? r[0].host
							     : r[0].category;
	assert_string_equal(got, want);
	batch_free(b);
	free(edited);
	free(body);
}

static void
test_escapes(void **state)
{
	(void)state;
	/* every escape RFC 8259 has, unescaped into the record */
	expect_text("ndpi_proto", "\"a\\\"b\\\\c\\/d\"", "a\"b\\c/d");
	expect_text("ndpi_proto", "\"\\u0041\\u00e9\\u20AC\\uffFD\"", "A\xc3\xa9\xe2\x82\xac\xef\xbf\xbd");
	expect_text("app", "\"\\u0073lack\"", "slack");
	expect_text("host", "\"files.\\u0073lack.com\"", "files.slack.com");
	/* surrogate pairs become one 4-byte sequence */
	expect_text("ndpi_proto", "\"x\\ud83d\\ude00y\"", "x\xf0\x9f\x98\x80y");
	expect_text("ndpi_proto", "\"\\uD800\\uDC00\\uDBFF\\uDFFF\"",
		    "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf");
	/* raw UTF-8 passes as it is */
	expect_text("ndpi_proto", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"", "caf\xc3\xa9 \xf0\x9f\x98\x80");
	/* the control characters they stand for are still refused in text */
	static const char *const controls[] = { "\\b", "\\f", "\\n", "\\r", "\\t", "\\u001f",
						"\\u007f" };
	for (size_t i = 0; i < sizeof(controls) / sizeof(controls[0]); i++) {
		char v[32];
		snprintf(v, sizeof(v), "\"a%sb\"", controls[i]);
		expect_field("ndpi_proto", v, 400, "records[0].ndpi_proto");
	}
	/* and pass in fields nobody reads */
	unknown_field("\"x\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0001\\u001F\",", 1);
	/* a key is compared unescaped: "sch\u0065ma" is schema, twice */
	unknown_field("\"sch\\u0065ma\":\"shadowmap.usage/1\",", 0);
	char *body = batch_of("{\"sch\\u0065ma\":\"shadowmap.usage/2\"}");
	expect_refused(body, strlen(body), NULL, 422, "records[0].schema");
	free(body);

	/* not escapes */
	static const char *const bad[] = { "\"\\x\"", "\"\\'\"", "\"\\a\"", "\"\\U0041\"",
					   "\"\\u12\"", "\"\\u12g4\"", "\"\\u\"", "\"\\\"",
					   "\"\\0\"", "\"\\ \"" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char f[64];
		snprintf(f, sizeof(f), "\"x\":%s,", bad[i]);
		unknown_field(f, 0);
	}
	/* NUL, escaped: refused in values and keys, as before */
	unknown_field("\"x\":\"a\\u0000\",", 0);
	unknown_field("\"\\u0000\":1,", 0);
}

static void
test_surrogates(void **state)
{
	(void)state;
	static const char *const lone[] = {
		"\"\\ud800\"",	      /* high, alone */
		"\"\\udbff x\"",      /* high, then text */
		"\"\\ud800\\u0041\"", /* high, then not a low one */
		"\"\\ud800\\ud800\"", /* high, high */
		"\"\\ud800\\\"",      /* high, then another escape */
		"\"\\udc00\"",	      /* low, alone */
		"\"\\udfff\\ud800\"", /* low before high */
		"\"a\\ude00\"",
	};
	for (size_t i = 0; i < sizeof(lone) / sizeof(lone[0]); i++) {
		char f[64];
		snprintf(f, sizeof(f), "\"x\":%s,", lone[i]);
		unknown_field(f, 0);
		snprintf(f, sizeof(f), "%s:1,", lone[i]);
		unknown_field(f, 0);
	}
	unknown_field("\"x\":\"\\ud83d\\ude00\",", 1);
	/* encoded as UTF-8 they are not valid UTF-8 either */
	unknown_field("\"x\":\"\xed\xa0\x80\",", 0);
	unknown_field("\"x\":\"\xed\xbf\xbf\",", 0);
}

static void
test_bad_utf8(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"\xc0\xaf",	    /* overlong '/' */
		"\xc1\xbf",	    /* overlong */
		"\xe0\x80\xaf",	    /* overlong, 3 bytes */
		"\xe0\x9f\xbf",	    /* overlong, 3 bytes */
		"\xf0\x80\x80\xaf", /* overlong, 4 bytes */
		"\xf0\x8f\xbf\xbf", /* overlong, 4 bytes */
		"\xf4\x90\x80\x80", /* past U+10FFFF */
		"\xf5\x80\x80\x80", "\xff", "\xfe",
		"\x80",		    /* a continuation byte alone */
		"\xc3",		    /* truncated before the quote */
		"\xe2\x82",	    /* truncated */
		"\xe2\x28\xa1",	    /* bad continuation */
		"\xc3\xa9\xa9",	    /* one continuation too many */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char f[64];
		snprintf(f, sizeof(f), "\"x\":\"a%sb\",", bad[i]);
		unknown_field(f, 0);
		snprintf(f, sizeof(f), "\"a%sb\":1,", bad[i]);
		unknown_field(f, 0);
		snprintf(f, sizeof(f), "\"a%sb\"", bad[i]);
		char *body = batch_with("ndpi_proto", "\"placeholder\"");
		char *at = strstr(body, "\"placeholder\"");
		char edited[2048];
		snprintf(edited, sizeof(edited), "%.*s%s%s", (int)(at - body), body, f,
			 at + strlen("\"placeholder\""));
		expect_invalid_json(edited, strlen(edited));
		free(body);
	}
	/* outside strings, any byte past ASCII is not JSON */
	unknown_field("\"x\":\xc3\xa9,", 0);
	unknown_field("\"x\":1\xc2\xa0,", 0); /* a no-break space is not whitespace */
	/* the longest and the shortest of each length pass */
	unknown_field("\"x\":\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\",",
		      1);
}

static void
test_numbers(void **state)
{
	(void)state;
	static const char *const good[] = {
		"0", "-0", "1", "-1", "0.5", "-0.0", "1e3", "1E3", "1e+3", "1e-3", "1.5E-3",
		"123456789012345678", "9223372036854775807", "-9223372036854775808",
		"1e-400", /* underflows to 0: jansson took it */
		"1.7976931348623157e308", "-1.7976931348623157e308", "0e99999999999999999999",
		"0.000000000000000000000000000001",
	};
	static const char *const bad[] = {
		"01", "-01", "00", "1.", "-1.", ".5", "-.5", "+1", "1e", "1e+", "1E-", "-",
		"--1", "1..2", "1.2.3", "1e2e3", "0x10", "1_000", "NaN", "Infinity", "-Infinity",
		"nan", "inf", "1 2",
		"9223372036854775808",			 /* past int64: jansson refused */
		"-9223372036854775809", "99999999999999999999999",
		"1e400", "-1e400", "1.797693134862315808e308", /* past the largest double */
		"1e99999999999999999999",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char f[64];
		snprintf(f, sizeof(f), "\"x\":%s,", good[i]);
		unknown_field(f, 1);
		snprintf(f, sizeof(f), "\"x\":[%s],", good[i]);
		unknown_field(f, 1);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char f[64];
		snprintf(f, sizeof(f), "\"x\":%s,", bad[i]);
		unknown_field(f, 0);
		snprintf(f, sizeof(f), "\"x\":[%s],", bad[i]);
		unknown_field(f, 0);
	}
	/* counters: integers only; "-0" is the integer 0, as jansson read it */
	char *body = batch_with("flows", "0");
	char *minus = strstr(body, "\"flows\":0");
	assert_non_null(minus);
	size_t n = strlen(body) + 2;
	char *neg_zero = malloc(n);
	snprintf(neg_zero, n, "%.*s\"flows\":-0%s", (int)(minus - body), body,
		 minus + strlen("\"flows\":0"));
	struct batch *b = expect_parsed(neg_zero, strlen(neg_zero));
	size_t count;
	assert_int_equal(batch_records(b, &count)[0].flows, 0);
	batch_free(b);
	free(neg_zero);
	free(body);
	expect_field("flows", "1.0", 400, "records[0].flows");
	expect_field("flows", "0e0", 400, "records[0].flows");
	expect_field("bytes_up", "-9007199254740992", 400, "records[0].bytes_up");
	expect_field("bytes_up", "9223372036854775807", 400, "records[0].bytes_up");
	expect_field("bucket_seconds", "3e2", 400, "records[0].bucket_seconds");
	expect_field("bucket_seconds", "86401", 400, "records[0].bucket_seconds");
}

static void
test_depth(void **state)
{
	(void)state;
	/* the bound is 2048 levels, the root being 1: a record's field is at 4 */
	for (int levels = 2044; levels <= 2046; levels++) {
		size_t n = (size_t)levels * 2 + 16;
		char *f = malloc(n);
		int k = snprintf(f, n, "\"x\":");
		memset(f + k, '[', (size_t)levels);
		memset(f + k + levels, ']', (size_t)levels);
		snprintf(f + k + 2 * levels, 3, ",");
		unknown_field(f, levels <= 2045);
		free(f);
	}
	/* a scalar inside the deepest array allowed is one level too deep */
	char f[8192];
	int k = snprintf(f, sizeof(f), "\"x\":");
	memset(f + k, '[', 2045);
	f[k + 2045] = '1';
	memset(f + k + 2046, ']', 2045);
	snprintf(f + k + 2046 + 2045, 3, ",");
	unknown_field(f, 0);

	/* a hostile nest costs neither stack nor time */
	static const char *const opens[] = { "[", "{\"a\":", "[{\"\":" };
	for (size_t i = 0; i < sizeof(opens) / sizeof(opens[0]); i++) {
		size_t each = strlen(opens[i]), n = 100000 * each;
		char *body = malloc(n + 1);
		for (size_t j = 0; j < 100000; j++)
			memcpy(body + j * each, opens[i], each);
		expect_invalid_json(body, n);
		free(body);
	}
}

/* Every prefix of a valid batch is refused with a 400, never a crash. */
static void
test_truncated(void **state)
{
	(void)state;
	char *body = batch_with_prefix(
		" \"ext\" : { \"a\" : [ 1 , -2.5e-3 , true , false , null , { } , [ ] ] ,"
		" \"s\" : \"\\u00e9\\ud83d\\ude00\\n\xc3\xa9\" } ,\r\n\t");
	size_t len = strlen(body);
	struct batch_error err;
	batch_free(expect_parsed(body, len));
	for (size_t n = 0; n < len; n++) {
		/* a copy of exactly n bytes, so that the sanitizers see a read past it */
		char *prefix = malloc(n ? n : 1);
		memcpy(prefix, body, n);
		struct batch *b = batch_parse(prefix, n, NULL, NULL, &err);
		if (b || err.status != 400)
			fail_msg("prefix of %zu bytes: %s %d", n, b ? "accepted" : "refused with",
				 err.status);
		free(prefix);
	}
	free(body);
}

static void
test_trailing_garbage(void **state)
{
	(void)state;
	static const char *const tails[] = { " x", "}", "]", ",", "{}", "[]", "0", "\"\"", "null",
					     "\x01", "\xef\xbb\xbf", "\f", "\v", "\n}",
					     "\n{\"schema\":1}" };
	char *body = batch_of(GOOD_RECORD);
	size_t len = strlen(body);
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		char *more = malloc(len + 32);
		int k = snprintf(more, len + 32, "%s%s", body, tails[i]);
		expect_invalid_json(more, (size_t)k);
		free(more);
	}
	/* whitespace is not garbage, before or after */
	char *spaced = malloc(len + 16);
	int k = snprintf(spaced, len + 16, " \t\r\n%s \t\r\n", body);
	batch_free(expect_parsed(spaced, (size_t)k));
	free(spaced);
	free(body);
}

static void
test_nul_bytes(void **state)
{
	(void)state;
	char *body = batch_of(GOOD_RECORD);
	size_t len = strlen(body);
	/* a NUL in a string, between tokens, after a number or a literal
	 * (jansson let those two through: it read the NUL as the end of its
	 * one-byte look-ahead), first, or last */
	static const char *const after[] = { "files.sl", "\"flows\":", "\"flows\":2",
					     "\"records\":[", "\"app\":\"slack\"" };
	size_t n_at = sizeof(after) / sizeof(after[0]);
	for (size_t i = 0; i < n_at + 2; i++) {
		size_t at = i == n_at ? 0 : len;
		if (i < n_at)
			at = (size_t)(strstr(body, after[i]) - body) + strlen(after[i]);
		char *nul = malloc(len + 1);
		memcpy(nul, body, at);
		nul[at] = '\0';
		memcpy(nul + at + 1, body + at, len - at);
		expect_invalid_json(nul, len + 1);
		free(nul);
	}
	/* after a literal */
	char *lit = batch_with_prefix("\"x\":null,");
	size_t lit_len = strlen(lit), at = (size_t)(strstr(lit, "null,") - lit) + 4;
	char *nul = malloc(lit_len + 1);
	memcpy(nul, lit, at);
	nul[at] = '\0';
	memcpy(nul + at + 1, lit + at, lit_len - at);
	expect_invalid_json(nul, lit_len + 1);
	free(nul);
	free(lit);
	free(body);
}

static void
test_duplicate_keys(void **state)
{
	(void)state;
	/* known and unknown keys, in records, in the batch, in unknown objects */
	unknown_field("\"flows\":1,", 0);
	unknown_field("\"x\":1,\"x\":1,", 0);
	unknown_field("\"x\":1,\"\\u0078\":1,", 0);
	unknown_field("\"\":1,\"\":2,", 0);
	unknown_field("\"x\":{\"a\":1,\"b\":2,\"a\":3},", 0);
	unknown_field("\"x\":[{\"a\":{\"b\":1,\"b\":1}}],", 0);
	/* the same key in different objects is no duplicate */
	unknown_field("\"x\":{\"x\":{\"x\":[{\"x\":1},{\"x\":2}]},\"flow\":{\"flows\":1}},", 1);

	/* objects with many keys: the first one repeated at the very end */
	char f[4096];
	int k = snprintf(f, sizeof(f), "\"o\":{");
	for (int i = 0; i < 100; i++)
		k += snprintf(f + k, sizeof(f) - (size_t)k, "\"key%d\":%d,", i, i);
	snprintf(f + k, sizeof(f) - (size_t)k, "\"key99x\":0},");
	unknown_field(f, 1);
	snprintf(f + k, sizeof(f) - (size_t)k, "\"key0\":0},");
	unknown_field(f, 0);
	snprintf(f + k, sizeof(f) - (size_t)k, "\"key57\":0},");
	unknown_field(f, 0);

	/* in the batch object, known or not */
	char *good = batch_of(GOOD_RECORD);
	static const char *const tops[] = { ",\"schema\":\"shadowmap.batch/1\"}",
					    ",\"records\":[]}", ",\"x\":1,\"x\":2}" };
	for (size_t i = 0; i < sizeof(tops) / sizeof(tops[0]); i++) {
		size_t n = strlen(good) + strlen(tops[i]) + 1;
		char *body = malloc(n);
		snprintf(body, n, "%.*s%s", (int)strlen(good) - 1, good, tops[i]);
		expect_invalid_json(body, strlen(body));
		assert_non_null(body);
		struct batch_error err;
		assert_null(batch_parse(body, strlen(body), NULL, NULL, &err));
		assert_non_null(strstr(err.error, "duplicate"));
		free(body);
	}
	free(good);
}

static void
test_unknown_fields(void **state)
{
	(void)state;
	/* every type, any nesting, in records and in the batch */
	const char *fields =
		"\"s\":\"text\",\"e\":\"\",\"i\":-12,\"r\":6.02e23,\"t\":true,\"f\":false,"
		"\"n\":null,\"o\":{},\"a\":[],\"deep\":{\"a\":[1,{\"b\":[[],[{}],\"x\"]},null]},"
		"\"u\":\"\\u00e9\xc3\xa9\\ud83d\\ude00\",\"k\\u00e9y\":1,";
	char *body = batch_with_prefix(fields);
	struct batch *b = expect_parsed(body, strlen(body));
	size_t n;
	const struct usage_record *r = batch_records(b, &n);
	assert_int_equal(n, 1);
	assert_string_equal(r[0].host, "files.slack.com");
	assert_int_equal(r[0].bytes_down, 501223);
	batch_free(b);
	free(body);

	/* after the known ones too, and at the top */
	body = batch_of(GOOD_RECORD);
	size_t len = strlen(body);
	char *top = malloc(len + strlen(fields) + 8);
	snprintf(top, len + strlen(fields) + 8, "{%s%s", fields, body + 1);
	batch_free(expect_parsed(top, strlen(top)));
	snprintf(top, len + strlen(fields) + 8, "%.*s,%.*s}", (int)len - 1, body,
		 (int)strlen(fields) - 1, fields);
	batch_free(expect_parsed(top, strlen(top)));
	free(top);
	free(body);

	/* fields in any order give the same record */
	const char *reversed =
		"{\"last_seen\":\"2026-03-02T09:09:58.777Z\",\"first_seen\":\"2026-03-02T09:05:01.204Z\","
		"\"bytes_down\":501223,\"bytes_up\":38811,\"packets\":412,\"flows\":2,"
		"\"ndpi_proto\":\"TLS.Slack\",\"category\":\"messaging\",\"app\":\"slack\","
		"\"domain\":\"slack.com\",\"host\":\"files.slack.com\",\"client\":\"10.20.0.5\","
		"\"bucket_seconds\":300,\"bucket_start\":\"2026-03-02T09:05:00Z\","
		"\"schema\":\"shadowmap.usage/1\"}";
	char *two = malloc(strlen(reversed) + strlen(GOOD_RECORD) + 2);
	sprintf(two, "%s,%s", GOOD_RECORD, reversed);
	body = batch_of(two);
	b = expect_parsed(body, strlen(body));
	r = batch_records(b, &n);
	assert_int_equal(n, 2);
	assert_int_equal(memcmp(&r[0].client, &r[1].client, sizeof(r[0].client)), 0);
	assert_string_equal(r[0].ndpi_proto, r[1].ndpi_proto);
	assert_int_equal(r[0].last_seen, r[1].last_seen);
	assert_int_equal(r[0].bytes_up, r[1].bytes_up);
	batch_free(b);
	free(body);
	free(two);
}

/* Where the servers are: country, asn, as_org kept as sent, null or absent
 * for unknown, and refused with the record and the field when impossible. */
static void
test_geo_fields(void **state)
{
	(void)state;
	struct batch *b;
	const struct usage_record *r;
	size_t n;

	/* absent (an agent without the databases, or an older one) */
	char *body = batch_of(GOOD_RECORD);
	b = expect_parsed(body, strlen(body));
	r = batch_records(b, &n);
	assert_null(r[0].country);
	assert_int_equal(r[0].asn, 0);
	assert_null(r[0].as_org);
	batch_free(b);
	free(body);

	/* as the agent writes them: known, and null */
	const char *recs = GOOD_RECORD "," GOOD_RECORD;
	size_t len = strlen(recs) + 200;
	char *two = malloc(len);
	assert_non_null(two);
	snprintf(two, len, "%.*s,\"country\":\"US\",\"asn\":16509,"
		 "\"as_org\":\"Amazon.com, Inc.\"},%.*s,\"country\":null,\"asn\":null,"
		 "\"as_org\":null}", (int)strlen(GOOD_RECORD) - 1, GOOD_RECORD,
		 (int)strlen(GOOD_RECORD) - 1, GOOD_RECORD);
	body = batch_of(two);
	b = expect_parsed(body, strlen(body));
	r = batch_records(b, &n);
	assert_int_equal(n, 2);
	assert_string_equal(r[0].country, "US");
	assert_int_equal(r[0].asn, 16509);
	assert_string_equal(r[0].as_org, "Amazon.com, Inc.");
	assert_null(r[1].country);
	assert_int_equal(r[1].asn, 0);
	assert_null(r[1].as_org);
	batch_free(b);
	free(body);
	free(two);

	/* the largest AS number, an organisation of 255 bytes of UTF-8 with
	 * escapes and a control character (the agent sends the database's
	 * text as it is) */
	body = batch_with("asn", "4294967295");
	b = expect_parsed(body, strlen(body));
	assert_int_equal(batch_records(b, &n)[0].asn, 4294967295u);
	batch_free(b);
	free(body);
	char org[300];
	memset(org, 0, sizeof(org));
	org[0] = '"';
	for (int i = 1; i <= 250; i++)
		org[i] = 'o';
	memcpy(org + 251, "\\u00e4\\u0001\\u00fc\"", 19); /* 251 + 2 + 1 + 2 bytes */
	assert_int_equal(strlen(org), 270);
	body = batch_with("as_org", org);
	b = expect_parsed(body, strlen(body));
	r = batch_records(b, &n);
	assert_int_equal(strlen(r[0].as_org), 255);
	assert_memory_equal(r[0].as_org + 250, "\xc3\xa4\x01\xc3\xbc", 5);
	batch_free(b);
	free(body);
	memcpy(org + 251, "\\u00e4\\u0001\\u00fcx\"", 20); /* 256 bytes */
	expect_field("as_org", org, 422, "records[0].as_org");

	static const struct {
		const char *field, *value;
		int status;
	} cases[] = {
		{ "country", "\"us\"", 422 },
		{ "country", "\"USA\"", 422 },
		{ "country", "\"U\"", 422 },
		{ "country", "\"\"", 422 },
		{ "country", "\"U1\"", 422 },
		{ "country", "\"\\u00c4U\"", 422 },
		{ "country", "49", 400 },
		{ "country", "[\"DE\"]", 400 },
		{ "asn", "-1", 422 },
		{ "asn", "4294967296", 422 },
		{ "asn", "9223372036854775807", 422 },
		{ "asn", "\"16509\"", 400 },
		{ "asn", "16509.0", 400 },
		{ "asn", "true", 400 },
		{ "as_org", "\"\"", 422 },
		{ "as_org", "16509", 400 },
		{ "as_org", "{}", 400 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char where[64];
		snprintf(where, sizeof(where), "records[0].%s", cases[i].field);
		expect_field(cases[i].field, cases[i].value, cases[i].status, where);
	}

	/* the record at fault is named, with the field */
	len = strlen(GOOD_RECORD) * 4 + 64;
	char *many = malloc(len);
	assert_non_null(many);
	snprintf(many, len, "%s,%s,%s,%.*s,\"country\":\"de\"}", GOOD_RECORD, GOOD_RECORD,
		 GOOD_RECORD, (int)strlen(GOOD_RECORD) - 1, GOOD_RECORD);
	body = batch_of(many);
	struct batch_error err;
	assert_null(batch_parse(body, strlen(body), NULL, NULL, &err));
	assert_int_equal(err.status, 422);
	assert_string_equal(err.where, "records[3].country");
	assert_non_null(strstr(err.error, "alpha-2"));
	free(body);
	free(many);
}

/* Which fault is named does not depend on where the parser met it. */
static void
test_fault_order(void **state)
{
	(void)state;
	/* the batch's own fields before its records, even when they follow */
	const char *late = "{\"records\":[{\"schema\":1}],\"schema\":\"shadowmap.batch/9\"}";
	expect_refused(late, strlen(late), NULL, 422, "schema");
	/* the number of records before a bad record */
	const char *none = "{\"schema\":\"shadowmap.batch/1\",\"records\":[1]}";
	expect_refused(none, strlen(none), NULL, 400, "batch_id");
	/* a syntax error anywhere before any of them */
	char *body = batch_of("1," GOOD_RECORD);
	expect_refused(body, strlen(body), NULL, 400, "records[0]");
	size_t len = strlen(body);
	body[len - 1] = ']';
	expect_invalid_json(body, len);
	free(body);
	/* within a record, the fixed order of the checks */
	const char *rec = "{\"last_seen\":1,\"schema\":\"shadowmap.usage/2\"}";
	body = batch_of(rec);
	expect_refused(body, strlen(body), NULL, 422, "records[0].schema");
	free(body);
	/* the place of a syntax error is line and column */
	const char *lines = "{\n  \"schema\": \"shadowmap.batch/1\",\n  \"x\": tru\n}";
	struct batch_error err;
	assert_null(batch_parse(lines, strlen(lines), NULL, NULL, &err));
	assert_int_equal(err.status, 400);
	assert_string_equal(err.where, "line 3, column 8");
}

/* The value limit is counted over the whole text, as before the parse: a
 * body past it is a 413 even when its syntax breaks before the end. */
static void
test_values_limit_broken(void **state)
{
	(void)state;
	struct batch_error err;
	for (int over = 0; over <= 1; over++) {
		size_t n = over ? (size_t)2100000 : (size_t)1000000;
		char *body = malloc(n * 2 + 64);
		int k = snprintf(body, 64, "{\"x\":tru,\"padding\":[");
		char *p = body + k;
		for (size_t i = 0; i < n; i++) {
			*p++ = '0';
			*p++ = ',';
		}
		assert_null(batch_parse(body, (size_t)(p - body), NULL, NULL, &err));
		assert_int_equal(err.status, over ? 413 : 400);
		free(body);
	}
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
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_surrogates),
		cmocka_unit_test(test_bad_utf8),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_trailing_garbage),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_unknown_fields),
		cmocka_unit_test(test_geo_fields),
		cmocka_unit_test(test_fault_order),
		cmocka_unit_test(test_values_limit_broken),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
