/*
 * The summary encoder and what it rests on: JSON escaping of hostile
 * strings, keys, IPv4 addresses by hand, RFC 3339 times, bucket alignment,
 * the capped buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "shadowmap/addr.h"
#include "shadowmap/json.h"
#include "shadowmap/timefmt.h"
#include "shadowmap/usage.h"

static void
test_record_json(void **state)
{
	(void)state;
	struct usage_record r;
	struct sbuf sb;
	int64_t t;

	memset(&r, 0, sizeof(r));
	assert_int_equal(time_parse_rfc3339("2026-03-02T09:05:00Z", &t), 0);
	r.bucket_start = t;
	r.bucket_seconds = 300;
	r.has_client = 1;
	assert_int_equal(addr_parse("10.20.0.5", &r.client), 0);
	r.host = "files.slack.com";
	r.domain = "slack.com";
	r.app = "slack";
	r.category = "messaging";
	r.ndpi_proto = "TLS.Slack";
	r.flows = 2;
	r.packets = 10;
	r.bytes_up = 1234;
	r.bytes_down = 56789;
	r.first_seen = t + 1500;         /* 1.5 ms */
	r.last_seen = t + 299999999;     /* truncated, not rounded, to ms */
	sbuf_init(&sb, 4096);
	assert_int_equal(usage_record_to_json(&r, &sb), 0);
	assert_string_equal(sb.data,
		"{\"schema\":\"shadowmap.usage/1\",\"bucket_start\":\"2026-03-02T09:05:00Z\","
		"\"bucket_seconds\":300,\"client\":\"10.20.0.5\",\"host\":\"files.slack.com\","
		"\"domain\":\"slack.com\",\"app\":\"slack\",\"category\":\"messaging\","
		"\"ndpi_proto\":\"TLS.Slack\",\"flows\":2,\"packets\":10,\"bytes_up\":1234,"
		"\"bytes_down\":56789,\"first_seen\":\"2026-03-02T09:05:00.001Z\","
		"\"last_seen\":\"2026-03-02T09:09:59.999Z\",\"country\":null,\"asn\":null,"
		"\"as_org\":null}");

	/* where the server is, when the agent has the databases */
	sbuf_reset(&sb);
	r.country = "DE";
	r.asn = 4294967295u;
	r.as_org = "B\xc3\xa4" "ckerei \"Netz\" GmbH";
	assert_int_equal(usage_record_to_json(&r, &sb), 0);
	assert_non_null(strstr(sb.data, "\"last_seen\":\"2026-03-02T09:09:59.999Z\","
					"\"country\":\"DE\",\"asn\":4294967295,"
					"\"as_org\":\"B\xc3\xa4" "ckerei \\\"Netz\\\" GmbH\"}"));

	/* nulls and an untracked record without a client */
	sbuf_reset(&sb);
	memset(&r, 0, sizeof(r));
	r.bucket_start = t;
	r.bucket_seconds = 60;
	r.untracked = USAGE_UNTRACKED_FRAGMENT;
	r.packets = 1;
	r.bytes_up = 1500;
	r.first_seen = r.last_seen = t;
	assert_int_equal(usage_record_to_json(&r, &sb), 0);
	assert_non_null(strstr(sb.data, "\"client\":null,\"host\":null,\"domain\":null,"
					"\"app\":null,\"category\":null,\"ndpi_proto\":null,"
					"\"untracked\":\"fragment\""));
	/* IPv6 clients in their short form */
	sbuf_reset(&sb);
	r.has_client = 1;
	assert_int_equal(addr_parse("fd00:20::5", &r.client), 0);
	usage_record_to_json(&r, &sb);
	assert_non_null(strstr(sb.data, "\"client\":\"fd00:20::5\""));
	sbuf_free(&sb);
}

static void
test_json_escaping(void **state)
{
	(void)state;
	struct sbuf sb;
	sbuf_init(&sb, 4096);
	json_add_string(&sb, "a\"b\\c\n\x01\x7f");
	assert_string_equal(sb.data, "\"a\\\"b\\\\c\\u000a\\u0001\\u007f\"");
	sbuf_reset(&sb);
	/* valid UTF-8 passes, invalid bytes become U+FFFD */
	json_add_string(&sb, "caf\xc3\xa9 \xff\xc3 \xed\xa0\x80");
	assert_string_equal(sb.data, "\"caf\xc3\xa9 \\ufffd\\ufffd \\ufffd\\ufffd\\ufffd\"");
	sbuf_reset(&sb);
	json_add_stringn(&sb, "ab\0cd", 5);
	assert_string_equal(sb.data, "\"ab\\u0000cd\"");
	sbuf_reset(&sb);
	json_add_string(&sb, NULL);
	assert_string_equal(sb.data, "null");
	/* every byte value alone, after a plain run (the fast path's end) and
	 * before one, against the rule written out */
	for (unsigned c = 0; c < 256; c++) {
		char in[4] = { 'x', (char)c, 'y', 0 }, want[16];
		if (c == '"' || c == '\\')
			snprintf(want, sizeof(want), "\"x\\%cy\"", (char)c);
		else if (c < 0x20 || c == 0x7f)
			snprintf(want, sizeof(want), "\"x\\u%04xy\"", c);
		else if (c >= 0x80)
			snprintf(want, sizeof(want), "\"x\\ufffdy\"");
		else
			snprintf(want, sizeof(want), "\"x%cy\"", (char)c);
		sbuf_reset(&sb);
		json_add_stringn(&sb, in, 3);
		assert_string_equal(sb.data, want);
	}
	sbuf_free(&sb);
}

static void
test_json_keys(void **state)
{
	(void)state;
	struct sbuf sb;
	sbuf_init(&sb, 4096);
	json_add_key(&sb, "first", 1);
	json_add_key(&sb, "bytes_up", 0);
	/* keys that are not plain, or too long for one piece, still come out
	 * escaped and whole */
	json_add_key(&sb, "a\"b", 0);
	char longkey[100];
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	json_add_key(&sb, longkey, 0);
	char want[256];
	snprintf(want, sizeof(want), "\"first\":,\"bytes_up\":,\"a\\\"b\":,\"%s\":", longkey);
	assert_string_equal(sb.data, want);
	sbuf_free(&sb);
}

/* The agent formats IPv4 addresses by hand: it must agree with inet_ntop
 * on every octet value. */
static void
test_addr_format_v4(void **state)
{
	(void)state;
	char got[ADDR_STRLEN], want[INET_ADDRSTRLEN];
	for (unsigned v = 0; v < 256; v++) {
		uint8_t b[4] = { (uint8_t)v, (uint8_t)(255 - v), (uint8_t)(v % 10),
				 (uint8_t)(v * 7) };
		struct sm_addr a;
		addr_from_v4(&a, b);
		assert_non_null(inet_ntop(AF_INET, b, want, sizeof(want)));
		assert_string_equal(addr_format(&a, got, sizeof(got)), want);
	}
	/* a buffer too small for any address gets the empty string */
	struct sm_addr a;
	uint8_t b[4] = { 192, 168, 100, 200 };
	addr_from_v4(&a, b);
	char small[8] = "x";
	assert_string_equal(addr_format(&a, small, sizeof(small)), "");
}

static int
sign(int v)
{
	return (v > 0) - (v < 0);
}

/* Flow keys put the lower address first by addr_cmp, which compares in two
 * 8-byte halves: it must order as memcmp does, whichever byte differs. */
static void
test_addr_cmp(void **state)
{
	(void)state;
	struct sm_addr a, b;
	for (int i = 0; i < 16; i++) {
		for (int v = 0; v < 256; v += 51) {
			memset(&a, 0x80, sizeof(a));
			b = a;
			b.b[i] = (uint8_t)v;
			if (i + 1 < 16)
				a.b[i + 1] = (uint8_t)(255 - v); /* a later byte must not matter */
			assert_int_equal(sign(addr_cmp(&a, &b)), sign(memcmp(a.b, b.b, 16)));
			assert_int_equal(sign(addr_cmp(&b, &a)), sign(memcmp(b.b, a.b, 16)));
		}
	}
	assert_int_equal(addr_cmp(&a, &a), 0);
	uint8_t v4[4] = { 10, 0, 0, 1 };
	addr_from_v4(&a, v4);
	assert_true(addr_is_v4(&a));
	a.b[9] = 1;
	assert_false(addr_is_v4(&a));
}

static void
test_time(void **state)
{
	(void)state;
	char buf[TIMEFMT_LEN];
	int64_t t;

	assert_string_equal(time_format_rfc3339(0, 0, buf), "1970-01-01T00:00:00Z");
	assert_string_equal(time_format_rfc3339(951782400 * USEC_PER_SEC, 3, buf),
			    "2000-02-29T00:00:00.000Z");
	assert_string_equal(time_format_rfc3339(-1, 6, buf), "1969-12-31T23:59:59.999999Z");
	assert_int_equal(time_parse_rfc3339("2026-11-22", &t), 0);
	assert_string_equal(time_format_rfc3339(t, 0, buf), "2026-11-22T00:00:00Z");
	assert_int_equal(time_parse_rfc3339("2026-11-22T10:00:00+02:00", &t), 0);
	assert_string_equal(time_format_rfc3339(t, 0, buf), "2026-11-22T08:00:00Z");
	assert_int_equal(time_parse_rfc3339("2026-11-22T10:00:00.1234567Z", &t), 0);
	assert_string_equal(time_format_rfc3339(t, 6, buf), "2026-11-22T10:00:00.123456Z");
	assert_int_equal(time_parse_rfc3339("2026-02-29", &t), -1);
	assert_int_equal(time_parse_rfc3339("2026-13-01", &t), -1);
	assert_int_equal(time_parse_rfc3339("2026-11-22T10:00", &t), -1);
	assert_int_equal(time_parse_rfc3339("2026-11-22T10:00:00", &t), -1);
	assert_int_equal(time_parse_rfc3339("2026-11-22T10:00:00Zjunk", &t), -1);

	/* buckets align to multiples of their length since the epoch, UTC */
	assert_int_equal(time_parse_rfc3339("2026-03-02T09:07:31Z", &t), 0);
	int64_t b = time_bucket_start(t, 300 * USEC_PER_SEC);
	assert_string_equal(time_format_rfc3339(b, 0, buf), "2026-03-02T09:05:00Z");
	b = time_bucket_start(t, 3600 * USEC_PER_SEC);
	assert_string_equal(time_format_rfc3339(b, 0, buf), "2026-03-02T09:00:00Z");
	assert_int_equal(time_bucket_start(-1, 10), -10);
}

static void
test_sbuf_cap(void **state)
{
	(void)state;
	struct sbuf sb;
	sbuf_init(&sb, 10);
	assert_int_equal(sbuf_addstr(&sb, "0123456789"), 0);
	assert_int_equal(sbuf_addc(&sb, 'x'), -1);
	assert_true(sb.failed);
	assert_int_equal(sb.len, 10);
	assert_string_equal(sb.data, "0123456789");
	sbuf_reset(&sb);
	assert_int_equal(sbuf_addf(&sb, "%d-%s", 42, "abcd"), 0);
	assert_string_equal(sb.data, "42-abcd");
	assert_int_equal(sbuf_addf(&sb, "%s", "too long for it"), -1);
	char *p = sbuf_steal(&sb);
	assert_string_equal(p, "42-abcd");
	free(p);
	assert_null(sb.data);
	sbuf_free(&sb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_json),
		cmocka_unit_test(test_json_escaping),
		cmocka_unit_test(test_json_keys),
		cmocka_unit_test(test_addr_format_v4),
		cmocka_unit_test(test_addr_cmp),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_sbuf_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
