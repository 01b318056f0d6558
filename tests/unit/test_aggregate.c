/*
 * The aggregator: sums per key, keeps buckets apart, hands them out in
 * time order with entries sorted, stops at a failing sink without losing
 * what it did not hand out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "aggregate.h"

struct seen {
	int n;
	int fail_at;
	struct agg_key keys[64];
	struct agg_counts counts[64];
	char hosts[64][64];
};

static int
collect(void *arg, const struct agg_key *k, const struct agg_counts *c)
{
	struct seen *s = arg;
	if (s->fail_at >= 0 && s->n == s->fail_at)
		return -1;
	s->keys[s->n] = *k;
	s->counts[s->n] = *c;
	if (k->host)
		strncpy(s->hosts[s->n], k->host, sizeof(s->hosts[0]) - 1);
	s->n++;
	return 0;
}

static struct agg_key
key(int64_t bucket, uint8_t last_octet, const char *host, int32_t app)
{
	struct agg_key k;
	uint8_t raw[4] = { 10, 0, 0, last_octet };
	memset(&k, 0, sizeof(k));
	k.bucket = bucket;
	addr_from_v4(&k.client, raw);
	k.has_client = 1;
	k.host = host;
	k.app = app;
	k.dpi_name = 7;
	return k;
}

static struct agg_counts
counts(uint64_t flows, uint64_t up, uint64_t down, int64_t first, int64_t last)
{
	struct agg_counts c = { flows, 1, up, down, first, last };
	return c;
}

static void
test_sums_and_order(void **state)
{
	(void)state;
	struct agg *a = agg_new();
	struct seen s = { .fail_at = -1 };
	char host[32];

	/* the host is copied: the caller's buffer may change afterwards */
	strcpy(host, "b.example.com");
	struct agg_key k = key(600, 2, host, 3);
	struct agg_counts c = counts(1, 100, 1000, 650, 660);
	agg_add(a, &k, &c);
	strcpy(host, "zzzz");
	k = key(600, 2, "b.example.com", 3);
	c = counts(0, 50, 5, 640, 700);
	agg_add(a, &k, &c);
	k = key(600, 1, "a.example.com", 3);
	c = counts(1, 1, 1, 601, 601);
	agg_add(a, &k, &c);
	k = key(300, 9, NULL, -1);
	c = counts(1, 7, 7, 301, 302);
	agg_add(a, &k, &c);
	k = key(900, 1, "a.example.com", 3);
	agg_add(a, &k, &c);
	assert_int_equal(agg_size(a), 4);

	/* buckets before 900 only, oldest first, sorted by client within */
	assert_int_equal(agg_emit_before(a, 900, collect, &s), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.keys[0].bucket, 300);
	assert_null(s.keys[0].host);
	assert_int_equal(s.keys[1].bucket, 600);
	assert_string_equal(s.hosts[1], "a.example.com");
	assert_string_equal(s.hosts[2], "b.example.com");
	assert_int_equal(s.counts[2].flows, 1);
	assert_int_equal(s.counts[2].packets, 2);
	assert_int_equal(s.counts[2].bytes_up, 150);
	assert_int_equal(s.counts[2].bytes_down, 1005);
	assert_int_equal(s.counts[2].first, 640);
	assert_int_equal(s.counts[2].last, 700);
	assert_int_equal(agg_size(a), 1);
	agg_free(a);
}

static void
test_keys_kept_apart(void **state)
{
	(void)state;
	struct agg *a = agg_new();
	struct seen s = { .fail_at = -1 };
	struct agg_counts c = counts(1, 1, 1, 0, 0);
	struct agg_key k = key(0, 1, "x.com", 1);

	agg_add(a, &k, &c);
	k.app = 2;            /* another app */
	agg_add(a, &k, &c);
	k.dpi_name = 8;       /* another protocol */
	agg_add(a, &k, &c);
	k.host = NULL;        /* no name */
	agg_add(a, &k, &c);
	k.untracked = AGG_UNTRACKED_TABLE_FULL;
	agg_add(a, &k, &c);
	k.has_client = 0;
	agg_add(a, &k, &c);
	assert_int_equal(agg_size(a), 6);
	assert_int_equal(agg_emit_before(a, 1, collect, &s), 0);
	assert_int_equal(s.n, 6);
	agg_free(a);
}

/* A name served from two countries or two networks is two entries of
 * one bucket, sorted by country, then AS number. */
static void
test_geo_in_key(void **state)
{
	(void)state;
	struct agg *a = agg_new();
	struct seen s = { .fail_at = -1 };
	struct agg_key k = key(0, 1, "x.com", 1);
	struct agg_counts c = counts(1, 10, 100, 0, 0);

	k.country = (uint16_t)('U' << 8 | 'S');
	k.asn = 64500;
	k.as_org = 1;
	agg_add(a, &k, &c);
	k.country = (uint16_t)('D' << 8 | 'E');
	k.asn = 64501;
	k.as_org = 2;
	agg_add(a, &k, &c);
	agg_add(a, &k, &c); /* the same again: summed */
	k.asn = 64502;      /* same country, another network */
	k.as_org = 3;
	agg_add(a, &k, &c);
	k.country = 0;      /* unknown */
	k.asn = 0;
	k.as_org = 0;
	agg_add(a, &k, &c);
	assert_int_equal(agg_size(a), 4);
	assert_int_equal(agg_emit_before(a, 1, collect, &s), 0);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.keys[0].country, 0);
	assert_int_equal(s.keys[1].country, 'D' << 8 | 'E');
	assert_int_equal(s.keys[1].asn, 64501);
	assert_int_equal(s.counts[1].flows, 2);
	assert_int_equal(s.counts[1].bytes_up, 20);
	assert_int_equal(s.keys[2].asn, 64502);
	assert_int_equal(s.keys[3].country, 'U' << 8 | 'S');
	assert_int_equal(s.keys[3].as_org, 1);
	agg_free(a);
}

static void
test_failing_sink_keeps_the_rest(void **state)
{
	(void)state;
	struct agg *a = agg_new();
	struct seen s = { .fail_at = 2 };
	struct agg_counts c = counts(1, 1, 1, 0, 0);

	for (uint8_t i = 1; i <= 5; i++) {
		struct agg_key k = key(0, i, "h.com", 1);
		agg_add(a, &k, &c);
	}
	assert_int_equal(agg_emit_before(a, 1, collect, &s), -1);
	assert_int_equal(s.n, 2);
	assert_int_equal(agg_size(a), 3);
	s.fail_at = -1;
	assert_int_equal(agg_emit_before(a, 1, collect, &s), 0);
	assert_int_equal(s.n, 5);
	assert_int_equal(agg_size(a), 0);
	agg_free(a);
}

struct totals {
	uint64_t entries, packets, bytes_up;
	int bad;
};

static int
sum_up(void *arg, const struct agg_key *k, const struct agg_counts *c)
{
	struct totals *t = arg;
	(void)k;
	t->entries++;
	t->packets += c->packets;
	t->bytes_up += c->bytes_up;
	if (c->packets != 4 || c->bytes_up != 40)
		t->bad++;
	return 0;
}

static void
test_many_entries(void **state)
{
	(void)state;
	struct agg *a = agg_new();
	struct agg_counts c = counts(1, 10, 20, 0, 0);
	struct totals t = { 0 };
	char host[32];

	/* 20000 adds over 5000 distinct (host, client) keys, four each: the
	 * table grows several times on the way */
	for (int i = 0; i < 20000; i++) {
		snprintf(host, sizeof(host), "h%d.example.com", i % 5000);
		struct agg_key k = key(0, (uint8_t)(i % 4), host, 1);
		assert_int_equal(agg_add(a, &k, &c), 0);
	}
	assert_int_equal(agg_size(a), 5000);
	assert_int_equal(agg_emit_before(a, 1, sum_up, &t), 0);
	assert_int_equal(t.entries, 5000);
	assert_int_equal(t.packets, 20000);
	assert_int_equal(t.bytes_up, 200000);
	assert_int_equal(t.bad, 0);
	agg_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sums_and_order),
		cmocka_unit_test(test_keys_kept_apart),
		cmocka_unit_test(test_geo_in_key),
		cmocka_unit_test(test_failing_sink_keeps_the_rest),
		cmocka_unit_test(test_many_entries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
