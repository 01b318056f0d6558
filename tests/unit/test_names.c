/*
 * Server names from client bytes: ClientHellos built here (GREASE, SNI at
 * any position, records split anywhere, every length field wrong) and
 * HTTP/1.x requests (Host forms, proxies, CONNECT, splits, limits).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shadowmap/domain.h"

#include "names.h"

/* ---- a ClientHello builder ---- */

#define HELLO_CAP 80000
#define FIELDS_MAX 64

struct len_field {
	size_t at;      /* offset in the handshake message */
	size_t width;   /* 1, 2 or 3 bytes */
	int sni;        /* belongs to the server_name extension */
};

struct hello {
	uint8_t b[HELLO_CAP];
	size_t n;
	struct len_field fields[FIELDS_MAX];
	size_t n_fields;
};

enum sni_pos { SNI_NONE, SNI_FIRST, SNI_MIDDLE, SNI_LAST };

static void
put(struct hello *h, const void *data, size_t len)
{
	assert_true(h->n + len <= HELLO_CAP);
	memcpy(h->b + h->n, data, len);
	h->n += len;
}

static void
put8(struct hello *h, size_t v)
{
	uint8_t b = (uint8_t)v;
	put(h, &b, 1);
}

static void
put16(struct hello *h, size_t v)
{
	put8(h, v >> 8);
	put8(h, v);
}

/* Opens a length field of width bytes; returns its offset. */
static size_t
len_open(struct hello *h, size_t width, int sni)
{
	size_t at = h->n;
	assert_true(h->n_fields < FIELDS_MAX);
	h->fields[h->n_fields++] = (struct len_field){ at, width, sni };
	for (size_t i = 0; i < width; i++)
		put8(h, 0);
	return at;
}

static void
len_close(struct hello *h, size_t at, size_t width)
{
	size_t v = h->n - at - width;
	for (size_t i = 0; i < width; i++)
		h->b[at + i] = (uint8_t)(v >> (8 * (width - 1 - i)));
}

static void
ext_sni(struct hello *h, const char *name)
{
	size_t ext, list, nm;
	put16(h, 0);
	ext = len_open(h, 2, 1);
	list = len_open(h, 2, 1);
	put8(h, 0);
	nm = len_open(h, 2, 1);
	put(h, name, strlen(name));
	len_close(h, nm, 2);
	len_close(h, list, 2);
	len_close(h, ext, 2);
}

static void
ext_plain(struct hello *h, size_t type, size_t body_len, uint8_t fill)
{
	size_t ext;
	put16(h, type);
	ext = len_open(h, 2, 0);
	for (size_t i = 0; i < body_len; i++)
		put8(h, fill);
	len_close(h, ext, 2);
}

/*
 * A ClientHello handshake message like a browser's: GREASE suites and
 * extensions, ALPN, key shares; total pads it (with a big key share) to
 * about that many bytes.
 */
static void
hello_build(struct hello *h, const char *sni, enum sni_pos pos, size_t total)
{
	size_t body, suites, exts, before;

	memset(h, 0, sizeof(*h));
	put8(h, 1);
	body = len_open(h, 3, 0);
	put16(h, 0x0303);
	for (int i = 0; i < 32; i++)
		put8(h, 0x40 + i);
	put8(h, 32);
	for (int i = 0; i < 32; i++)
		put8(h, 0x80 + i);
	suites = len_open(h, 2, 0);
	put16(h, 0x4a4a); /* GREASE */
	put16(h, 0x1301);
	put16(h, 0x1302);
	put16(h, 0x1303);
	put16(h, 0xc02b);
	len_close(h, suites, 2);
	put8(h, 1);
	put8(h, 0);
	exts = len_open(h, 2, 0);
	ext_plain(h, 0x0a0a, 0, 0); /* GREASE */
	if (pos == SNI_FIRST)
		ext_sni(h, sni);
	ext_plain(h, 0x0017, 0, 0);          /* extended_master_secret */
	ext_plain(h, 0x0010, 14, 0x68);      /* ALPN-ish */
	ext_plain(h, 0x002b, 7, 0x03);       /* supported_versions-ish */
	if (pos == SNI_MIDDLE)
		ext_sni(h, sni);
	ext_plain(h, 0x000d, 18, 0x04);      /* signature_algorithms-ish */
	ext_plain(h, 0xfe0d, 200, 0xee);     /* ECH GREASE */
	before = h->n;
	if (total > before + 64 + (sni ? strlen(sni) : 0))
		ext_plain(h, 0x0033, total - before - 64 - (sni ? strlen(sni) : 0), 0x55);
	ext_plain(h, 0x1a1a, 1, 0);          /* GREASE */
	if (pos == SNI_LAST)
		ext_sni(h, sni);
	len_close(h, exts, 2);
	len_close(h, body, 3);
}

/* Wraps hs (len bytes) into TLS records at the given handshake offsets:
 * cuts[] ascending, each cut starts a new record. Returns the stream size. */
static size_t
records(uint8_t *out, size_t cap, const uint8_t *hs, size_t len, const size_t *cuts,
	size_t n_cuts)
{
	size_t n = 0, from = 0;
	for (size_t i = 0; i <= n_cuts; i++) {
		size_t to = i < n_cuts ? cuts[i] : len;
		assert_true(to > from && to <= len);
		assert_true(n + 5 + (to - from) <= cap);
		out[n++] = 22;
		out[n++] = 3;
		out[n++] = 1;
		out[n++] = (uint8_t)((to - from) >> 8);
		out[n++] = (uint8_t)(to - from);
		memcpy(out + n, hs + from, to - from);
		n += to - from;
		from = to;
	}
	return n;
}

static enum name_result
sni(const uint8_t *d, size_t len, char *out)
{
	return tls_sni_from_stream(d, len, out, DOMAIN_MAX);
}

/* ---- TLS ---- */

static void
test_tls_positions_and_names(void **state)
{
	(void)state;
	static struct hello h;
	static uint8_t s[HELLO_CAP + 1024];
	char out[DOMAIN_MAX];
	static const enum sni_pos positions[] = { SNI_FIRST, SNI_MIDDLE, SNI_LAST };

	for (size_t p = 0; p < 3; p++) {
		hello_build(&h, "Files.Slack-Edge.com.", positions[p], 600);
		size_t n = records(s, sizeof(s), h.b, h.n, NULL, 0);
		assert_int_equal(sni(s, n, out), NAME_FOUND);
		assert_string_equal(out, "files.slack-edge.com");
		assert_int_equal(tls_sni_from_handshake(h.b, h.n, out, sizeof(out)), NAME_FOUND);
		assert_string_equal(out, "files.slack-edge.com");
	}
	static const char *unusable[] = { "192.168.1.1", "[::1]", "bad name.com", "a..b",
					  "x\x01y.com", "2001:db8::1" };
	for (size_t i = 0; i < sizeof(unusable) / sizeof(unusable[0]); i++) {
		hello_build(&h, unusable[i], SNI_MIDDLE, 600);
		size_t n = records(s, sizeof(s), h.b, h.n, NULL, 0);
		assert_int_equal(sni(s, n, out), NAME_ABSENT);
		assert_string_equal(out, "");
	}
	/* a name of 300 characters does not fit a DNS name */
	char longname[301];
	memset(longname, 'a', 300);
	longname[300] = '\0';
	for (int i = 50; i < 300; i += 50)
		longname[i] = '.';
	hello_build(&h, longname, SNI_LAST, 600);
	assert_int_equal(sni(s, records(s, sizeof(s), h.b, h.n, NULL, 0), out), NAME_ABSENT);
	/* no server_name at all */
	hello_build(&h, NULL, SNI_NONE, 600);
	assert_int_equal(sni(s, records(s, sizeof(s), h.b, h.n, NULL, 0), out), NAME_ABSENT);
	/* an empty name */
	hello_build(&h, "", SNI_FIRST, 600);
	assert_int_equal(sni(s, records(s, sizeof(s), h.b, h.n, NULL, 0), out), NAME_ABSENT);
	/* the output buffer too small for the name */
	hello_build(&h, "www.example.com", SNI_FIRST, 600);
	assert_int_equal(tls_sni_from_handshake(h.b, h.n, out, 8), NAME_ABSENT);
}

/* Every prefix of a stream is incomplete; the whole is the name. */
static void
check_prefixes(const uint8_t *s, size_t n, const char *want)
{
	char out[DOMAIN_MAX];
	for (size_t i = 0; i < n; i++) {
		enum name_result r = sni(s, i, out);
		if (r != NAME_NEED_MORE)
			fail_msg("prefix %zu of %zu: %d", i, n, (int)r);
		assert_string_equal(out, "");
	}
	assert_int_equal(sni(s, n, out), NAME_FOUND);
	assert_string_equal(out, want);
}

static void
test_tls_split_everywhere(void **state)
{
	(void)state;
	static struct hello h;
	static uint8_t s[HELLO_CAP + 1024];
	char out[DOMAIN_MAX];
	size_t n;

	/* a Chrome-sized (post-quantum key share) ClientHello in one record,
	 * arriving in two or three TCP segments: every prefix waits */
	hello_build(&h, "chat.example.com", SNI_LAST, 1800);
	assert_true(h.n >= 1750);
	n = records(s, sizeof(s), h.b, h.n, NULL, 0);
	check_prefixes(s, n, "chat.example.com");

	/* the same over two records cut at every byte */
	for (size_t cut = 1; cut < h.n; cut++) {
		n = records(s, sizeof(s), h.b, h.n, &cut, 1);
		assert_int_equal(sni(s, n, out), NAME_FOUND);
		assert_string_equal(out, "chat.example.com");
		/* around the second record's header */
		for (size_t k = cut + 5 - 3; k <= cut + 5 + 2; k++)
			assert_int_equal(sni(s, k, out), NAME_NEED_MORE);
		assert_int_equal(sni(s, n - 1, out), NAME_NEED_MORE);
	}
	/* three records, cuts on a grid */
	for (size_t a = 1; a < h.n; a += 23) {
		for (size_t b = a + 1; b < h.n; b += 41) {
			size_t cuts[2] = { a, b };
			n = records(s, sizeof(s), h.b, h.n, cuts, 2);
			assert_int_equal(sni(s, n, out), NAME_FOUND);
			assert_int_equal(sni(s, n - 1, out), NAME_NEED_MORE);
			assert_int_equal(sni(s, a + 5, out), NAME_NEED_MORE);
		}
	}
	/* one byte per record, and all prefixes of that */
	hello_build(&h, "tiny.example", SNI_MIDDLE, 300);
	size_t cuts[HELLO_CAP / 8];
	for (size_t i = 1; i < h.n; i++)
		cuts[i - 1] = i;
	n = records(s, sizeof(s), h.b, h.n, cuts, h.n - 1);
	check_prefixes(s, n, "tiny.example");

	/* bare handshake prefixes (QUIC's CRYPTO stream) */
	for (size_t i = 0; i < h.n; i++)
		assert_int_equal(tls_sni_from_handshake(h.b, i, out, sizeof(out)), NAME_NEED_MORE);

	/* bytes after the ClientHello (a second message) do not matter */
	n = records(s, sizeof(s), h.b, h.n, NULL, 0);
	memcpy(s + n, "\x16\x03\x03\x00\x01\x00", 6);
	assert_int_equal(sni(s, n + 6, out), NAME_FOUND);
}

static void
test_tls_bad_lengths(void **state)
{
	(void)state;
	static struct hello h;
	static uint8_t s[HELLO_CAP + 1024], m[HELLO_CAP];
	char out[DOMAIN_MAX];
	static const long deltas[] = { -1, 1, -2, 2, -1000, 1000 };
	static const size_t absolutes[] = { 0, 1, 0xff, 0xffff, 0xffffff };

	hello_build(&h, "victim.example.com", SNI_MIDDLE, 700);
	for (size_t f = 0; f < h.n_fields; f++) {
		const struct len_field *lf = &h.fields[f];
		size_t orig = 0;
		for (size_t i = 0; i < lf->width; i++)
			orig = orig << 8 | h.b[lf->at + i];
		for (size_t d = 0; d < sizeof(deltas) / sizeof(deltas[0]) + 5; d++) {
			size_t v;
			if (d < sizeof(deltas) / sizeof(deltas[0])) {
				long t = (long)orig + deltas[d];
				if (t < 0)
					continue;
				v = (size_t)t;
			} else {
				v = absolutes[d - sizeof(deltas) / sizeof(deltas[0])];
			}
			if (lf->width < 3 && v >= ((size_t)1 << (8 * lf->width)))
				continue;
			if (v == orig)
				continue;
			memcpy(m, h.b, h.n);
			for (size_t i = 0; i < lf->width; i++)
				m[lf->at + i] = (uint8_t)(v >> (8 * (lf->width - 1 - i)));
			size_t n = records(s, sizeof(s), m, h.n, NULL, 0);
			enum name_result r = sni(s, n, out);
			/* waiting for more (the message got longer), or no name */
			if (r != NAME_NEED_MORE && r != NAME_ABSENT)
				fail_msg("field %zu (at %zu) = %zu: %d %s", f, lf->at, v, (int)r, out);
			if (lf->sni)
				assert_int_not_equal(r, NAME_FOUND);
			r = tls_sni_from_handshake(m, h.n, out, sizeof(out));
			assert_true(r == NAME_NEED_MORE || r == NAME_ABSENT);
		}
	}

	/* the record length */
	size_t n = records(s, sizeof(s), h.b, h.n, NULL, 0);
	s[3] = s[4] = 0;
	assert_int_equal(sni(s, n, out), NAME_NOT_THIS);
	s[3] = 0xff;
	s[4] = 0xff;
	assert_int_equal(sni(s, n, out), NAME_NOT_THIS);
	/* a record length that ends mid-message, then no more records */
	n = records(s, sizeof(s), h.b, h.n, NULL, 0);
	s[3] = 0;
	s[4] = 100;
	assert_int_equal(sni(s, n, out), NAME_ABSENT);

	/* random corruption: never a crash, never a wrong answer type */
	uint32_t seed = 99;
	for (int round = 0; round < 3000; round++) {
		memcpy(m, h.b, h.n);
		for (int k = 0; k < 1 + round % 4; k++) {
			seed = seed * 1103515245 + 12345;
			size_t at = (seed >> 8) % h.n;
			seed = seed * 1103515245 + 12345;
			m[at] = (uint8_t)(seed >> 16);
		}
		n = records(s, sizeof(s), m, h.n, NULL, 0);
		enum name_result r = sni(s, n, out);
		assert_true(r == NAME_NEED_MORE || r == NAME_ABSENT || r == NAME_FOUND ||
			    r == NAME_NOT_THIS);
		if (r == NAME_FOUND)
			assert_true(strlen(out) > 0 && strlen(out) < DOMAIN_MAX);
	}
}

static void
test_tls_limits_and_not_tls(void **state)
{
	(void)state;
	static struct hello h;
	static uint8_t s[HELLO_CAP + 1024];
	char out[DOMAIN_MAX];
	size_t n;

	/* over 64 KB: given up at once, from the handshake header */
	hello_build(&h, "huge.example.com", SNI_FIRST, 70000);
	assert_true(h.n > 65536);
	size_t cuts[8];
	for (size_t i = 0; i < 4; i++)
		cuts[i] = 16000 * (i + 1);
	n = records(s, sizeof(s), h.b, h.n, cuts, 4);
	assert_int_equal(sni(s, n, out), NAME_ABSENT);
	assert_int_equal(sni(s, 9, out), NAME_ABSENT);
	/* just under the cap is read */
	hello_build(&h, "big.example.com", SNI_LAST, 60000);
	for (size_t i = 0; i < 3; i++)
		cuts[i] = 16000 * (i + 1);
	n = records(s, sizeof(s), h.b, h.n, cuts, 3);
	assert_int_equal(sni(s, n, out), NAME_FOUND);
	assert_string_equal(out, "big.example.com");

	/* another content type in the middle of the ClientHello */
	hello_build(&h, "mixed.example.com", SNI_LAST, 600);
	size_t cut = 300;
	n = records(s, sizeof(s), h.b, h.n, &cut, 1);
	s[5 + 300] = 21; /* alert */
	assert_int_equal(sni(s, n, out), NAME_ABSENT);

	/* not TLS, as early as the bytes tell */
	static const uint8_t ssl2[] = { 0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15 };
	static const uint8_t server_hello[] = { 22, 3, 3, 0, 40, 2, 0, 0, 36 };
	static const uint8_t appdata[] = { 23, 3, 3, 0, 20 };
	static const uint8_t not_v3[] = { 22, 2, 0 };
	assert_int_equal(sni(ssl2, sizeof(ssl2), out), NAME_NOT_THIS);
	assert_int_equal(sni(server_hello, sizeof(server_hello), out), NAME_NOT_THIS);
	assert_int_equal(sni(server_hello, 6, out), NAME_NOT_THIS);
	assert_int_equal(sni(appdata, 1, out), NAME_NOT_THIS);
	assert_int_equal(sni(not_v3, 2, out), NAME_NOT_THIS);
	assert_int_equal(sni((const uint8_t *)"GET / HTTP/1.1\r\n", 16, out), NAME_NOT_THIS);
	assert_int_equal(sni((const uint8_t *)"SSH-2.0-x", 9, out), NAME_NOT_THIS);
	assert_int_equal(sni(server_hello, 0, out), NAME_NEED_MORE);
	assert_int_equal(sni(server_hello, 1, out), NAME_NEED_MORE);
	assert_int_equal(sni(server_hello, 5, out), NAME_NEED_MORE);
	assert_int_equal(tls_sni_from_handshake(server_hello + 5, 4, out, sizeof(out)),
			 NAME_NOT_THIS);
	assert_int_equal(tls_sni_from_stream(NULL, 0, out, sizeof(out)), NAME_NOT_THIS);
}

/* ---- HTTP ---- */

static enum name_result
host(const char *req, char *out)
{
	return http_host_from_stream((const uint8_t *)req, strlen(req), out, DOMAIN_MAX);
}

static void
expect_host(const char *req, const char *want)
{
	char out[DOMAIN_MAX];
	enum name_result r = host(req, out);
	if (r != NAME_FOUND || strcmp(out, want) != 0)
		fail_msg("%s: got %d \"%s\", want \"%s\"", req, (int)r, out, want);
}

static void
expect_result(const char *req, enum name_result want)
{
	char out[DOMAIN_MAX];
	enum name_result r = host(req, out);
	if (r != want)
		fail_msg("%s: got %d \"%s\", want %d", req, (int)r, out, (int)want);
	if (r != NAME_FOUND)
		assert_string_equal(out, "");
}

static void
test_http_host_forms(void **state)
{
	(void)state;
	expect_host("GET / HTTP/1.1\r\nHost: Example.COM\r\n\r\n", "example.com");
	expect_host("GET / HTTP/1.1\r\nhost:example.com\r\n\r\n", "example.com");
	expect_host("GET / HTTP/1.1\r\nHOST: \t example.com \t\r\n\r\n", "example.com");
	expect_host("GET /x?y=1 HTTP/1.1\r\nUser-Agent: t\r\nHost: www.example.com:8080\r\n"
		    "Accept: */*\r\n\r\n",
		    "www.example.com");
	expect_host("POST /up HTTP/1.0\r\nHost: upload.example.org.\r\n\r\nbody", "upload.example.org");
	expect_host("GET / HTTP/1.1\nHost: lf.example\n\n", "lf.example");
	/* the first Host counts; look-alike fields do not */
	expect_host("GET / HTTP/1.1\r\nX-Host: evil.example\r\nHost: good.example\r\n"
		    "Host: second.example\r\n\r\n",
		    "good.example");
	/* a folded line is not a field of its own */
	expect_host("GET / HTTP/1.1\r\nX-A: 1\r\n Host: folded.example\r\nHost: real.example\r\n\r\n",
		    "real.example");
	/* proxies: absolute-form outranks Host; userinfo is dropped */
	expect_host("GET http://proxy.example.net:3128/x HTTP/1.1\r\nHost: other.example\r\n\r\n",
		    "proxy.example.net");
	expect_host("GET HTTP://user:pw@abs.example/ HTTP/1.1\r\n\r\n", "abs.example");
	expect_host("GET https://secure.example?q HTTP/1.1\r\n\r\n", "secure.example");
	expect_host("CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n",
		    "api.example.com");
	expect_host("CONNECT tunnel.example:443 HTTP/1.0\r\n\r\n", "tunnel.example");
	expect_host("OPTIONS * HTTP/1.1\r\nHost: opt.example\r\n\r\n", "opt.example");

	/* addresses and missing names */
	expect_result("GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n", NAME_ABSENT);
	expect_result("GET / HTTP/1.1\r\nHost: [2001:db8::1]\r\n\r\n", NAME_ABSENT);
	expect_result("GET / HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n", NAME_ABSENT);
	expect_result("GET / HTTP/1.1\r\nHost: 10.0.0.1:80\r\n\r\n", NAME_ABSENT);
	expect_result("GET / HTTP/1.0\r\nUser-Agent: x\r\n\r\n", NAME_ABSENT);
	expect_result("GET / HTTP/1.1\r\nHost:\r\n\r\n", NAME_ABSENT);
	expect_result("GET / HTTP/1.1\r\nHost : spaced.example\r\n\r\n", NAME_ABSENT);
	expect_result("GET http://[::1]:80/ HTTP/1.1\r\nHost: fallback.example\r\n\r\n",
		      NAME_ABSENT);
	expect_result("CONNECT 192.0.2.7:443 HTTP/1.1\r\n\r\n", NAME_ABSENT);
	expect_result("GET / HTTP/1.1\r\nHost: bad_host name\r\n\r\n", NAME_ABSENT);
}

static void
test_http_split_and_limits(void **state)
{
	(void)state;
	static const char req[] = "GET /index.html HTTP/1.1\r\nUser-Agent: curl/8\r\n"
				  "Host: split.example.com\r\nAccept: */*\r\n\r\n";
	char out[DOMAIN_MAX];
	size_t n = strlen(req);

	for (size_t i = 0; i < n; i++) {
		enum name_result r =
			http_host_from_stream((const uint8_t *)req, i, out, sizeof(out));
		if (r != NAME_NEED_MORE)
			fail_msg("prefix %zu: %d", i, (int)r);
	}
	assert_int_equal(http_host_from_stream((const uint8_t *)req, n, out, sizeof(out)),
			 NAME_FOUND);
	assert_string_equal(out, "split.example.com");

	/* a header block that does not end within 16 KB */
	static char big[20000];
	size_t len = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: big.example\r\n");
	while (len + 40 < sizeof(big))
		len += (size_t)snprintf(big + len, sizeof(big) - len, "X-Filler: %030d\r\n", 7);
	assert_int_equal(http_host_from_stream((const uint8_t *)big, 16383, out, sizeof(out)),
			 NAME_NEED_MORE);
	assert_int_equal(http_host_from_stream((const uint8_t *)big, 16384, out, sizeof(out)),
			 NAME_ABSENT);
	assert_int_equal(http_host_from_stream((const uint8_t *)big, len, out, sizeof(out)),
			 NAME_ABSENT);
	/* one that ends just inside is read */
	len = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: big.example\r\n");
	while (len + 40 < 16300)
		len += (size_t)snprintf(big + len, sizeof(big) - len, "X-Filler: %030d\r\n", 7);
	len += (size_t)snprintf(big + len, sizeof(big) - len, "\r\n");
	assert_true(len <= 16384);
	assert_int_equal(http_host_from_stream((const uint8_t *)big, len, out, sizeof(out)),
			 NAME_FOUND);
	assert_string_equal(out, "big.example");
	/* a request line longer than the cap */
	memcpy(big, "GET /", 5);
	memset(big + 5, 'a', sizeof(big) - 5);
	assert_int_equal(http_host_from_stream((const uint8_t *)big, sizeof(big), out, sizeof(out)),
			 NAME_ABSENT);
}

static void
test_http_not_http(void **state)
{
	(void)state;
	static const uint8_t tls[] = { 22, 3, 1, 2, 0, 1, 0, 1, 0xfc };
	char out[DOMAIN_MAX];

	assert_int_equal(http_host_from_stream(tls, sizeof(tls), out, sizeof(out)), NAME_NOT_THIS);
	expect_result("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", NAME_NOT_THIS);
	expect_result("EHLO mail.example\r\n", NAME_NOT_THIS);
	expect_result("get / HTTP/1.1\r\nHost: x.example\r\n\r\n", NAME_NOT_THIS);
	expect_result("GET / HTTP/2.0\r\n\r\n", NAME_NOT_THIS);
	expect_result("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", NAME_NOT_THIS);
	expect_result("GET / FTP/1.1\r\n\r\n", NAME_NOT_THIS);
	expect_result("GET  / HTTP/1.1\r\n\r\n", NAME_NOT_THIS);
	expect_result(" GET / HTTP/1.1\r\n\r\n", NAME_NOT_THIS);
	expect_result("GET /\x01 HTTP/1.1\r\n\r\n", NAME_NOT_THIS);
	expect_result("GET / HTTP/1.1x\r\n\r\n", NAME_NOT_THIS);
	expect_result("AVERYLONGMETHODNAMETHATISNOTREAL / HTTP/1.1\r\n\r\n", NAME_NOT_THIS);
	/* a plausible start waits */
	expect_result("", NAME_NEED_MORE);
	expect_result("G", NAME_NEED_MORE);
	expect_result("GET", NAME_NEED_MORE);
	expect_result("GET /", NAME_NEED_MORE);
	expect_result("GET / HTTP/1.", NAME_NEED_MORE);
	expect_result("GET / HTTP/1.1\r", NAME_NEED_MORE);
	expect_result("GET / HTTP/1.1\r\nHost: a.example\r\n", NAME_NEED_MORE);
	assert_int_equal(http_host_from_stream(NULL, 0, out, sizeof(out)), NAME_NOT_THIS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls_positions_and_names),
		cmocka_unit_test(test_tls_split_everywhere),
		cmocka_unit_test(test_tls_bad_lengths),
		cmocka_unit_test(test_tls_limits_and_not_tls),
		cmocka_unit_test(test_http_host_forms),
		cmocka_unit_test(test_http_split_and_limits),
		cmocka_unit_test(test_http_not_http),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
