/*
 * DNS response parsing (CNAME chains, compression, hostile and truncated
 * messages) and the address-to-name cache (TTL, per-client preference,
 * eviction, bounds), plus the DNS answers of the shared capture corpus.
 */
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "decode.h"
#include "dns.h"

/* ---- a small DNS message builder ---------------------------------------- */

#define T_A 1
#define T_CNAME 5
#define T_TXT 16
#define T_AAAA 28
#define T_HTTPS 65
#define C_IN 1
#define C_CH 3
#define NO_PTR (-1)

struct msgb {
	uint8_t b[65536];
	size_t len;
};

static void
mb_u8(struct msgb *m, uint8_t v)
{
	assert_true(m->len < sizeof(m->b));
	m->b[m->len++] = v;
}

static void
mb_u16(struct msgb *m, uint16_t v)
{
	mb_u8(m, (uint8_t)(v >> 8));
	mb_u8(m, (uint8_t)v);
}

static void
mb_u32(struct msgb *m, uint32_t v)
{
	mb_u16(m, (uint16_t)(v >> 16));
	mb_u16(m, (uint16_t)v);
}

static void
mb_bytes(struct msgb *m, const void *p, size_t n)
{
	assert_true(m->len + n <= sizeof(m->b));
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

/* Header with QR/RD/RA set, rcode 0, the given counts. */
static void
mb_header(struct msgb *m, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns,
	  uint16_t ar)
{
	m->len = 0;
	mb_u16(m, 0x1234);
	mb_u16(m, flags);
	mb_u16(m, qd);
	mb_u16(m, an);
	mb_u16(m, ns);
	mb_u16(m, ar);
}

static void
mb_set_ancount(struct msgb *m, uint16_t an)
{
	m->b[6] = (uint8_t)(an >> 8);
	m->b[7] = (uint8_t)an;
}

/*
 * Writes the labels of dotted ("" for none), then the root or, when
 * ptr >= 0, a compression pointer to ptr. Returns where the name starts.
 */
static size_t
mb_name(struct msgb *m, const char *dotted, int ptr)
{
	size_t start = m->len;
	const char *p = dotted;

	while (*p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		mb_u8(m, (uint8_t)n);
		mb_bytes(m, p, n);
		p += n;
		if (*p == '.')
			p++;
	}
	if (ptr >= 0)
		mb_u16(m, (uint16_t)(0xc000 | ptr));
	else
		mb_u8(m, 0);
	return start;
}

/* Question; returns the offset of its name. */
static size_t
mb_question(struct msgb *m, const char *name, uint16_t qtype)
{
	size_t at = mb_name(m, name, NO_PTR);
	mb_u16(m, qtype);
	mb_u16(m, C_IN);
	return at;
}

static void
mb_rr_raw(struct msgb *m, const char *owner, int optr, uint16_t type, uint16_t rclass,
	  uint32_t ttl, const void *rdata, uint16_t rdlen)
{
	mb_name(m, owner, optr);
	mb_u16(m, type);
	mb_u16(m, rclass);
	mb_u32(m, ttl);
	mb_u16(m, rdlen);
	mb_bytes(m, rdata, rdlen);
}

static void
mb_rr_a(struct msgb *m, const char *owner, int optr, uint32_t ttl, const char *ip)
{
	struct sm_addr a;
	assert_int_equal(addr_parse(ip, &a), 0);
	assert_true(addr_is_v4(&a));
	mb_rr_raw(m, owner, optr, T_A, C_IN, ttl, a.b + 12, 4);
}

static void
mb_rr_aaaa(struct msgb *m, const char *owner, int optr, uint32_t ttl, const char *ip)
{
	struct sm_addr a;
	assert_int_equal(addr_parse(ip, &a), 0);
	mb_rr_raw(m, owner, optr, T_AAAA, C_IN, ttl, a.b, 16);
}

/* CNAME; returns the offset of the target name inside the rdata. */
static size_t
mb_rr_cname(struct msgb *m, const char *owner, int optr, uint32_t ttl, const char *target,
	    int tptr)
{
	mb_name(m, owner, optr);
	mb_u16(m, T_CNAME);
	mb_u16(m, C_IN);
	mb_u32(m, ttl);
	size_t rdlen_at = m->len;
	mb_u16(m, 0);
	size_t at = mb_name(m, target, tptr);
	size_t rdlen = m->len - at;
	m->b[rdlen_at] = (uint8_t)(rdlen >> 8);
	m->b[rdlen_at + 1] = (uint8_t)rdlen;
	return at;
}

#define RESP 0x8180 /* QR, RD, RA, NOERROR */

static struct sm_addr
ip(const char *s)
{
	struct sm_addr a;
	assert_int_equal(addr_parse(s, &a), 0);
	return a;
}

/* Whether ans holds address s, with ttl (when ttl != UINT32_MAX). */
static int
has_addr(const struct dns_answer *ans, const char *s, uint32_t ttl)
{
	struct sm_addr a = ip(s);
	for (size_t i = 0; i < ans->n_addrs; i++)
		if (addr_cmp(&ans->addrs[i].addr, &a) == 0)
			return ttl == UINT32_MAX || ans->addrs[i].ttl == ttl;
	return 0;
}

/* Parses from a buffer of exactly len bytes, so that ASan sees overreads. */
static int
parse_exact(const uint8_t *msg, size_t len, struct dns_answer *ans)
{
	uint8_t *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, msg, len);
	int rc = dns_parse_response(copy, len, ans);
	free(copy);
	return rc;
}

static int
parse(const struct msgb *m, struct dns_answer *ans)
{
	return parse_exact(m->b, m->len, ans);
}

/* ---- parser tests -------------------------------------------------------- */

static void
test_simple_a(void **state)
{
	(void)state;
	static struct msgb m;
	struct dns_answer ans;

	mb_header(&m, RESP, 1, 1, 0, 0);
	size_t q = mb_question(&m, "WWW.Example.COM.", T_A);
	mb_rr_a(&m, "", (int)q, 300, "93.184.216.34");
	assert_int_equal(parse(&m, &ans), 0);
	assert_string_equal(ans.qname, "www.example.com");
	assert_int_equal(ans.n_addrs, 1);
	assert_true(has_addr(&ans, "93.184.216.34", 300));
	assert_true(addr_is_v4(&ans.addrs[0].addr));
}

static void
test_several_a_aaaa(void **state)
{
	(void)state;
	static struct msgb m;
	struct dns_answer ans;

	mb_header(&m, RESP, 1, 5, 0, 0);
	size_t q = mb_question(&m, "host.example.org", T_A);
	mb_rr_a(&m, "", (int)q, 60, "192.0.2.1");
	mb_rr_aaaa(&m, "", (int)q, 120, "2001:db8::1");
	mb_rr_a(&m, "host.example.org", NO_PTR, 30, "192.0.2.2");
	mb_rr_aaaa(&m, "HOST.example.ORG", NO_PTR, 240, "2001:db8::2");
	/* the same address twice: kept once, with the larger TTL */
	mb_rr_a(&m, "", (int)q, 90, "192.0.2.1");
	assert_int_equal(parse(&m, &ans), 0);
	assert_int_equal(ans.n_addrs, 4);
	assert_true(has_addr(&ans, "192.0.2.1", 90));
	assert_true(has_addr(&ans, "192.0.2.2", 30));
	assert_true(has_addr(&ans, "2001:db8::1", 120));
	assert_true(has_addr(&ans, "2001:db8::2", 240));
	assert_false(addr_is_v4(&ans.addrs[1].addr));
}

static void
test_cname_chain(void **state)
{
	(void)state;
	static struct msgb m;
	struct dns_answer ans;

	mb_header(&m, RESP, 1, 5, 0, 0);
	mb_question(&m, "www.example.com", T_A);
	mb_rr_cname(&m, "www.example.com", NO_PTR, 3600, "example.cdn.net", NO_PTR);
	mb_rr_cname(&m, "example.cdn.net", NO_PTR, 300, "edge.cdn2.net", NO_PTR);
	mb_rr_a(&m, "edge.cdn2.net", NO_PTR, 20, "198.51.100.1");
	mb_rr_a(&m, "EDGE.cdn2.net", NO_PTR, 20, "198.51.100.2");
	mb_rr_a(&m, "edge.cdn2.net.", NO_PTR, 20, "198.51.100.3");
	assert_int_equal(parse(&m, &ans), 0);
	assert_string_equal(ans.qname, "www.example.com");
	assert_int_equal(ans.n_addrs, 3);
	assert_true(has_addr(&ans, "198.51.100.1", 20));
	assert_true(has_addr(&ans, "198.51.100.2", 20));
	assert_true(has_addr(&ans, "198.51.100.3", 20));

	/* and all three name www.example.com in the cache */
	dns_cache *c = dns_cache_new(16, 60, 3600);
	assert_non_null(c);
	struct sm_addr client = ip("10.0.0.5");
	dns_cache_add_answer(c, &client, &ans, 1000000);
	const char *names[3] = { "198.51.100.1", "198.51.100.2", "198.51.100.3" };
	for (int i = 0; i < 3; i++) {
		struct sm_addr s = ip(names[i]);
		const char *n = dns_cache_lookup(c, &client, &s, 2000000);
		assert_non_null(n);
		assert_string_equal(n, "www.example.com");
	}
	dns_cache_free(c);
}

static void
test_cname_chain_any_order(void **state)
{
	(void)state;
	static struct msgb m;
	struct dns_answer ans;

	/* records in reverse order, an A owned by a middle link too */
	mb_header(&m, RESP, 1, 5, 0, 0);
	mb_question(&m, "a.example", T_A);
	mb_rr_a(&m, "c.example", NO_PTR, 5, "203.0.113.3");
	mb_rr_cname(&m, "B.example", NO_PTR, 5, "c.example", NO_PTR);
	mb_rr_a(&m, "b.example", NO_PTR, 5, "203.0.113.2");
	mb_rr_cname(&m, "a.EXAMPLE", NO_PTR, 5, "b.example", NO_PTR);
	mb_rr_a(&m, "d.example", NO_PTR, 5, "203.0.113.4");
	assert_int_equal(parse(&m, &ans), 0);
	assert_int_equal(ans.n_addrs, 2);
	assert_true(has_addr(&ans, "203.0.113.2", 5));
	assert_true(has_addr(&ans, "203.0.113.3", 5));
	assert_false(has_addr(&ans, "203.0.113.4", UINT32_MAX));
}

static void
test_cname_chain_compressed(void **state)
{
	(void)state;
	static struct msgb m;
	struct dns_answer ans;

	mb_header(&m, RESP, 1, 5, 0, 0);
	size_t q = mb_question(&m, "www.example.com", T_A);
	/* owner: pointer to the question; target "example" + ptr to "com" */
	size_t t1 = mb_rr_cname(&m, "", (int)q, 60, "example.cdn", (int)(q + 12));
	/* t1 is example.cdn.com; owner by pointer, target "edge" + ptr to
	 * "cdn.com" inside t1 */
	size_t t2 = mb_rr_cname(&m, "", (int)t1, 60, "edge", (int)(t1 + 8));
	/* owners: pointer to t2, and "edge" + pointer to the middle of t1 */
	mb_rr_a(&m, "", (int)t2, 60, "192.0.2.10");
	mb_rr_a(&m, "edge", (int)(t1 + 8), 60, "192.0.2.11");
	/* pointer to a pointer (t2's tail is a pointer): still backwards */
	mb_rr_aaaa(&m, "edge", (int)(t2 + 5), 60, "2001:db8::11");
	assert_int_equal(parse(&m, &ans), 0);
	assert_string_equal(ans.qname, "www.example.com");
	assert_int_equal(ans.n_addrs, 3);
	assert_true(has_addr(&ans, "192.0.2.10", 60));
	assert_true(has_addr(&ans, "192.0.2.11", 60));
	assert_true(has_addr(&ans, "2001:db8::11", 60));
}

static void
test_unrelated_records_ignored(void **state)
{
	(void)state;
	static struct msgb m;
	struct dns_answer ans;

	mb_header(&m, RESP, 1, 7, 0, 1);
	size_t q = mb_question(&m, "app.example.com", T_A);
	mb_rr_a(&m, "tracker.evil.net", NO_PTR, 60, "192.0.2.66");
	mb_rr_cname(&m, "other.example.com", NO_PTR, 60, "cdn.example.net", NO_PTR);
	mb_rr_a(&m, "cdn.example.net", NO_PTR, 60, "192.0.2.67");
	mb_rr_a(&m, "", (int)q, 60, "192.0.2.1");
	/* other classes and types are walked over */
	mb_rr_raw(&m, "", (int)q, T_A, C_CH, 60, "\xc0\x00\x02\x44", 4);
	mb_rr_raw(&m, "", (int)q, T_HTTPS, C_IN, 60, "\x00\x01\x00\x00\x01\x00\x03\x02h3", 10);
	mb_rr_raw(&m, "", (int)q, T_TXT, C_IN, 60, "\x05hello", 6);
	/* an additional record owned by the question's name is not an answer */
	mb_rr_a(&m, "", (int)q, 60, "192.0.2.99");
	assert_int_equal(parse(&m, &ans), 0);
	assert_int_equal(ans.n_addrs, 1);
	assert_true(has_addr(&ans, "192.0.2.1", 60));
}

static void
test_wrong_rdlength_skipped(void **state)
{
	(void)state;
	static struct msgb m;
	struct dns_answer ans;

	mb_header(&m, RESP, 1, 4, 0, 0);
	size_t q = mb_question(&m, "x.example", T_A);
	mb_rr_raw(&m, "", (int)q, T_A, C_IN, 60, "\x01\x02\x03\x04\x05", 5);
	mb_rr_raw(&m, "", (int)q, T_AAAA, C_IN, 60, "\x01\x02\x03\x04", 4);
	mb_rr_raw(&m, "", (int)q, T_A, C_IN, 60, "", 0);
	mb_rr_a(&m, "", (int)q, 60, "192.0.2.5");
	assert_int_equal(parse(&m, &ans), 0);
	assert_int_equal(ans.n_addrs, 1);
	assert_true(has_addr(&ans, "192.0.2.5", 60));
}

static void
test_cname_bad_rdata(void **state)
{
	(void)state;
	static struct msgb m;
	struct dns_answer ans;
	static const uint8_t target[] = { 1, 'b', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0xff };

	/* the target name and a stray byte after it */
	mb_header(&m, RESP, 1, 2, 0, 0);
	size_t q = mb_question(&m, "a.example", T_A);
	mb_rr_raw(&m, "", (int)q, T_CNAME, C_IN, 60, target, sizeof(target));
	mb_rr_a(&m, "b.example", NO_PTR, 60, "192.0.2.1");
	assert_int_equal(parse(&m, &ans), -1);
	/* without it, fine */
	mb_header(&m, RESP, 1, 2, 0, 0);
	q = mb_question(&m, "a.example", T_A);
	mb_rr_raw(&m, "", (int)q, T_CNAME, C_IN, 60, target, sizeof(target) - 1);
	mb_rr_a(&m, "b.example", NO_PTR, 60, "192.0.2.1");
	assert_int_equal(parse(&m, &ans), 0);
	assert_true(has_addr(&ans, "192.0.2.1", 60));
	/* a target running past its rdata */
	mb_header(&m, RESP, 1, 2, 0, 0);
	q = mb_question(&m, "a.example", T_A);
	mb_rr_raw(&m, "", (int)q, T_CNAME, C_IN, 60, target, 5);
	mb_rr_a(&m, "b.example", NO_PTR, 60, "192.0.2.1");
	assert_int_equal(parse(&m, &ans), -1);
}

static void
test_cname_loop_refused(void **state)
{
	(void)state;
	static struct msgb m;
	struct dns_answer ans;

	/* a -> b -> a */
	mb_header(&m, RESP, 1, 3, 0, 0);
	mb_question(&m, "a.example", T_A);
	mb_rr_cname(&m, "a.example", NO_PTR, 60, "b.example", NO_PTR);
	mb_rr_cname(&m, "b.example", NO_PTR, 60, "A.example", NO_PTR);
	mb_rr_a(&m, "b.example", NO_PTR, 60, "192.0.2.1");
	assert_int_equal(parse(&m, &ans), -1);
	assert_int_equal(ans.n_addrs, 0);

	/* a -> a */
	mb_header(&m, RESP, 1, 2, 0, 0);
	mb_question(&m, "a.example", T_A);
	mb_rr_cname(&m, "a.example", NO_PTR, 60, "a.example", NO_PTR);
	mb_rr_a(&m, "a.example", NO_PTR, 60, "192.0.2.1");
	assert_int_equal(parse(&m, &ans), -1);
}

static void
build_chain(struct msgb *m, int links)
{
	char from[32], to[32];

	mb_header(m, RESP, 1, (uint16_t)(links + 1), 0, 0);
	mb_question(m, "n0.example", T_A);
	for (int i = 0; i < links; i++) {
		snprintf(from, sizeof(from), "n%d.example", i);
		snprintf(to, sizeof(to), "n%d.example", i + 1);
		mb_rr_cname(m, from, NO_PTR, 60, to, NO_PTR);
	}
	snprintf(from, sizeof(from), "n%d.example", links);
	mb_rr_a(m, from, NO_PTR, 60, "192.0.2.7");
}

static void
test_cname_chain_length(void **state)
{
	(void)state;
	static struct msgb m;
	struct dns_answer ans;

	build_chain(&m, DNS_MAX_CHAIN);
	assert_int_equal(parse(&m, &ans), 0);
	assert_int_equal(ans.n_addrs, 1);
	assert_string_equal(ans.qname, "n0.example");

	build_chain(&m, DNS_MAX_CHAIN + 1);
	assert_int_equal(parse(&m, &ans), -1);
}

/* An A record whose owner is reached through n pointers in a row. */
static int
pointer_chain(struct msgb *m, int n, struct dns_answer *ans)
{
	mb_header(m, RESP, 1, 2, 0, 0);
	size_t q = mb_question(m, "deep.example", T_A), prev = q;
	mb_name(m, "", (int)q);
	mb_u16(m, T_TXT);
	mb_u16(m, C_IN);
	mb_u32(m, 60);
	mb_u16(m, (uint16_t)(2 * (n - 1)));
	for (int i = 0; i < n - 1; i++) {
		size_t here = m->len;
		mb_u16(m, (uint16_t)(0xc000 | prev));
		prev = here;
	}
	mb_rr_a(m, "", (int)prev, 60, "192.0.2.9");
	return parse(m, ans);
}

static void
test_compression_refused(void **state)
{
	(void)state;
	static struct msgb m;
	struct dns_answer ans;
	size_t at;

	/* the question's name points at itself */
	mb_header(&m, RESP, 1, 0, 0, 0);
	mb_u16(&m, 0xc000 | 12);
	mb_u16(&m, T_A);
	mb_u16(&m, C_IN);
	assert_int_equal(parse(&m, &ans), -1);

	/* a forward pointer */
	mb_header(&m, RESP, 1, 0, 0, 0);
	mb_u8(&m, 1);
	mb_u8(&m, 'a');
	mb_u16(&m, 0xc000 | 20);
	mb_u16(&m, T_A);
	mb_u16(&m, C_IN);
	assert_int_equal(mb_name(&m, "example", NO_PTR), 20);
	assert_int_equal(parse(&m, &ans), -1);

	/* two owners pointing at each other: the second points back at the
	 * first, which points forward at the second's pointer */
	mb_header(&m, RESP, 1, 2, 0, 0);
	mb_question(&m, "x.example", T_A);
	at = m.len;
	mb_rr_a(&m, "a", (int)(at + 18 + 2), 60, "192.0.2.1");
	assert_int_equal(m.len, at + 18);
	mb_rr_a(&m, "b", (int)at, 60, "192.0.2.2");
	assert_int_equal(parse(&m, &ans), -1);

	/* a pointer into the middle of its own name (a loop) */
	mb_header(&m, RESP, 1, 1, 0, 0);
	mb_question(&m, "x.example", T_A);
	at = m.len;
	mb_rr_a(&m, "aa.bb", (int)(at + 3), 60, "192.0.2.1");
	assert_int_equal(parse(&m, &ans), -1);

	/* a pointer into the header */
	mb_header(&m, RESP, 1, 1, 0, 0);
	mb_question(&m, "x.example", T_A);
	mb_rr_a(&m, "", 4, 60, "192.0.2.1");
	assert_int_equal(parse(&m, &ans), -1);

	/* label types 0x40 and 0x80, in an owner that would otherwise be an
	 * unrelated (ignored) name with a 1- or 65-byte label */
	for (int i = 0; i < 2; i++) {
		mb_header(&m, RESP, 1, 1, 0, 0);
		mb_question(&m, "x.example", T_A);
		size_t label_at = m.len;
		mb_u8(&m, 0x01);
		for (int k = 0; k < 65; k++)
			mb_u8(&m, 'a');
		mb_u8(&m, 0);
		mb_u16(&m, T_A);
		mb_u16(&m, C_IN);
		mb_u32(&m, 60);
		mb_u16(&m, 4);
		mb_bytes(&m, "\xc0\x00\x02\x01", 4);
		m.b[label_at] = i ? 0x41 : 0x81;
		assert_int_equal(parse(&m, &ans), -1);
	}

	/* a long chain of pointers to pointers (kept in the rdata of a TXT
	 * record) is fine while every hop goes backwards, but bounded */
	assert_int_equal(pointer_chain(&m, 100, &ans), 0);
	assert_true(has_addr(&ans, "192.0.2.9", 60));
	assert_int_equal(pointer_chain(&m, 200, &ans), -1);
}

/* Every prefix of a message whose last section is the answer is refused. */
static void
check_every_prefix(const struct msgb *m)
{
	struct dns_answer ans;
	for (size_t l = 0; l < m->len; l++) {
		int rc = parse_exact(m->b, l, &ans);
		assert_int_equal(rc, -1);
		assert_int_equal(ans.n_addrs, 0);
	}
	assert_int_equal(parse_exact(m->b, m->len, &ans), 0);
}

static void
test_truncated_everywhere(void **state)
{
	(void)state;
	static struct msgb m;

	mb_header(&m, RESP, 1, 4, 0, 0);
	size_t q = mb_question(&m, "www.example.com", T_A);
	size_t t = mb_rr_cname(&m, "", (int)q, 60, "edge.cdn", (int)(q + 12));
	mb_rr_raw(&m, "", (int)t, T_HTTPS, C_IN, 60, "\x00\x01\x00", 3);
	mb_rr_a(&m, "", (int)t, 60, "192.0.2.1");
	mb_rr_aaaa(&m, "", (int)t, 60, "2001:db8::1");
	check_every_prefix(&m);

	build_chain(&m, 4);
	check_every_prefix(&m);

	/* with sections after the answer, prefixes that keep the answer are
	 * fine, the others refused; none may crash */
	mb_header(&m, RESP, 1, 1, 1, 1);
	q = mb_question(&m, "a.example", T_A);
	mb_rr_a(&m, "", (int)q, 60, "192.0.2.1");
	size_t answer_end = m.len;
	mb_rr_raw(&m, "", (int)q, 2 /* NS */, C_IN, 60, "\x02ns\x00", 4);
	mb_rr_a(&m, "ns", NO_PTR, 60, "192.0.2.53");
	for (size_t l = 0; l <= m.len; l++) {
		struct dns_answer ans;
		int rc = parse_exact(m.b, l, &ans);
		assert_int_equal(rc, l >= answer_end ? 0 : -1);
		assert_int_equal(ans.n_addrs, l >= answer_end ? 1 : 0);
	}
}

static void
test_not_an_answer(void **state)
{
	(void)state;
	static struct msgb m;
	struct dns_answer ans;
	struct {
		uint16_t flags, qd;
	} cases[] = {
		{ 0x0100, 1 },          /* a query */
		{ 0x8183, 1 },          /* NXDOMAIN */
		{ 0x8182, 1 },          /* SERVFAIL */
		{ 0x8185, 1 },          /* REFUSED */
		{ 0x8000 | 0x2800, 1 }, /* opcode UPDATE */
		{ 0x8000 | 0x1000, 1 }, /* opcode STATUS */
		{ RESP, 0 },
		{ RESP, 2 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mb_header(&m, cases[i].flags, cases[i].qd, 1, 0, 0);
		size_t q = mb_question(&m, "a.example", T_A);
		if (cases[i].qd == 2)
			mb_question(&m, "b.example", T_A);
		mb_rr_a(&m, "", (int)q, 60, "192.0.2.1");
		assert_int_equal(parse(&m, &ans), -1);
		assert_int_equal(ans.n_addrs, 0);
	}
	/* TC, AA, AD, CD do not matter */
	mb_header(&m, 0x8000 | 0x0400 | 0x0200 | 0x0020 | 0x0010, 1, 1, 0, 0);
	size_t q = mb_question(&m, "a.example", T_A);
	mb_rr_a(&m, "", (int)q, 60, "192.0.2.1");
	assert_int_equal(parse(&m, &ans), 0);
	assert_int_equal(ans.n_addrs, 1);
	/* NOERROR with no answer (NODATA): fine, nothing learned */
	mb_header(&m, RESP, 1, 0, 0, 0);
	mb_question(&m, "a.example", T_AAAA);
	assert_int_equal(parse(&m, &ans), 0);
	assert_int_equal(ans.n_addrs, 0);
	assert_string_equal(ans.qname, "a.example");
	/* NULL and empty */
	assert_int_equal(dns_parse_response(NULL, 0, &ans), -1);
	assert_int_equal(dns_parse_response(m.b, m.len, NULL), -1);
}

static void
test_names(void **state)
{
	(void)state;
	static struct msgb m;
	struct dns_answer ans;
	char name[400], label[80];

	/* 253 characters (255 on the wire): the longest name */
	memset(label, 'a', 63);
	label[63] = '\0';
	snprintf(name, sizeof(name), "%s.%s.%s.%.61s", label, label, label, label);
	assert_int_equal(strlen(name), 253);
	mb_header(&m, RESP, 1, 1, 0, 0);
	size_t q = mb_question(&m, name, T_A);
	mb_rr_a(&m, "", (int)q, 60, "192.0.2.1");
	assert_int_equal(parse(&m, &ans), 0);
	assert_string_equal(ans.qname, name);
	assert_int_equal(ans.n_addrs, 1);

	/* 254 characters */
	snprintf(name, sizeof(name), "%s.%s.%s.%.62s", label, label, label, label);
	mb_header(&m, RESP, 1, 1, 0, 0);
	q = mb_question(&m, name, T_A);
	mb_rr_a(&m, "", (int)q, 60, "192.0.2.1");
	assert_int_equal(parse(&m, &ans), -1);

	/* overlong through compression: an owner of 186 bytes, then one of
	 * the same labels followed by a pointer to it (372 bytes) */
	snprintf(name, sizeof(name), "%.60s.%.60s.%.60s.x", label, label, label);
	mb_header(&m, RESP, 1, 2, 0, 0);
	q = mb_question(&m, "a.example", T_A);
	size_t long_at = m.len;
	mb_rr_a(&m, name, NO_PTR, 60, "192.0.2.1");
	mb_rr_a(&m, name, (int)long_at, 60, "192.0.2.2");
	assert_int_equal(parse(&m, &ans), -1);
	mb_set_ancount(&m, 1); /* the first alone is fine */
	assert_int_equal(parse(&m, &ans), 0);
	assert_int_equal(ans.n_addrs, 0);

	/* a label of 64 */
	mb_header(&m, RESP, 1, 0, 0, 0);
	mb_u8(&m, 64);
	for (int i = 0; i < 64; i++)
		mb_u8(&m, 'a');
	mb_u8(&m, 0);
	mb_u16(&m, T_A);
	mb_u16(&m, C_IN);
	assert_int_equal(parse(&m, &ans), -1);

	/* a '.' inside a label: "www.evil" "com" is not www.evil.com */
	mb_header(&m, RESP, 1, 0, 0, 0);
	mb_question(&m, "wwwXevil.com", T_A);
	assert_int_equal(parse(&m, &ans), 0);
	assert_string_equal(ans.qname, "wwwxevil.com");
	m.b[12 + 4] = '.';
	assert_int_equal(parse(&m, &ans), -1);
	assert_string_equal(ans.qname, "");

	/* names that are not host names: a '.' or a space inside a label,
	 * the root, an IP literal */
	const char *bad[] = { "a\x01.b", "a b", "1.2.3.4" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mb_header(&m, RESP, 1, 0, 0, 0);
		mb_question(&m, bad[i], T_A);
		if (i == 0)
			m.b[12 + 2] = '.'; /* "a.b" as one label */
		assert_int_equal(parse(&m, &ans), -1);
	}
	mb_header(&m, RESP, 1, 0, 0, 0);
	mb_question(&m, "", T_A);
	assert_int_equal(parse(&m, &ans), -1);
}

static void
test_ttl_and_max_addrs(void **state)
{
	(void)state;
	static struct msgb m;
	struct dns_answer ans;
	char a[32];

	mb_header(&m, RESP, 1, 100, 0, 0);
	size_t q = mb_question(&m, "many.example", T_A);
	for (int i = 0; i < 100; i++) {
		snprintf(a, sizeof(a), "10.1.%d.%d", i / 256, i % 256);
		mb_rr_a(&m, "", (int)q, i == 0 ? 0x80000001u : (uint32_t)i, a);
	}
	assert_int_equal(parse(&m, &ans), 0);
	assert_int_equal(ans.n_addrs, DNS_MAX_ADDRS);
	assert_true(has_addr(&ans, "10.1.0.0", 0)); /* top bit set: 0 */
	assert_true(has_addr(&ans, "10.1.0.63", 63));
	assert_false(has_addr(&ans, "10.1.0.64", UINT32_MAX));
}

/* Random bytes and random mutations of a valid message: no crash, and an
 * answer is always consistent. */
static void
test_garbage(void **state)
{
	(void)state;
	static struct msgb m, base;
	struct dns_answer ans;
	uint32_t seed = 12345;

	build_chain(&base, 3);
	for (int iter = 0; iter < 20000; iter++) {
		m.len = base.len;
		memcpy(m.b, base.b, base.len);
		int flips = 1 + iter % 8;
		for (int k = 0; k < flips; k++) {
			seed = seed * 1103515245u + 12345u;
			size_t at = (seed >> 8) % m.len;
			seed = seed * 1103515245u + 12345u;
			m.b[at] = (uint8_t)(seed >> 16);
		}
		if (parse(&m, &ans) == 0) {
			assert_true(ans.n_addrs <= DNS_MAX_ADDRS);
			assert_true(strlen(ans.qname) > 0 && strlen(ans.qname) < DOMAIN_MAX);
		} else {
			assert_int_equal(ans.n_addrs, 0);
		}
	}
}

/* ---- cache tests ---------------------------------------------------------- */

#define SEC 1000000LL

static struct sm_addr
nth_addr(uint32_t i)
{
	uint8_t raw[4] = { 100, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i };
	struct sm_addr a;
	addr_from_v4(&a, raw);
	return a;
}

static void
test_cache_ttl(void **state)
{
	(void)state;
	dns_cache *c = dns_cache_new(64, 300, 3600);
	assert_non_null(c);
	struct sm_addr cl = ip("10.0.0.1"), s0 = ip("192.0.2.1"), s1 = ip("192.0.2.2"),
		       s2 = ip("2001:db8::3");
	const int64_t t = 1700000000 * SEC + 123456;

	dns_cache_add(c, &cl, "floor.example", &s0, 0, t);
	dns_cache_add(c, &cl, "cap.example", &s1, 1000000, t);
	dns_cache_add(c, &cl, "mid.example", &s2, 1000, t);

	/* TTL 0 still lives the floor, to the microsecond */
	assert_string_equal(dns_cache_lookup(c, &cl, &s0, t), "floor.example");
	assert_string_equal(dns_cache_lookup(c, &cl, &s0, t + 300 * SEC - 1), "floor.example");
	assert_string_equal(dns_cache_lookup(c, &cl, &s1, t + 3600 * SEC - 1), "cap.example");
	assert_string_equal(dns_cache_lookup(c, &cl, &s2, t + 1000 * SEC - 1), "mid.example");
	assert_null(dns_cache_lookup(c, &cl, &s0, t + 300 * SEC));
	assert_null(dns_cache_lookup(c, &cl, &s2, t + 1000 * SEC));
	assert_null(dns_cache_lookup(c, &cl, &s1, t + 3600 * SEC));

	/* a refresh restarts the clock */
	dns_cache_add(c, &cl, "floor.example", &s0, 10, t + 1000 * SEC);
	assert_string_equal(dns_cache_lookup(c, &cl, &s0, t + 1299 * SEC), "floor.example");
	assert_null(dns_cache_lookup(c, &cl, &s0, t + 1300 * SEC));

	struct dns_cache_stats st;
	dns_cache_get_stats(c, &st);
	assert_int_equal(st.inserts, 4);
	assert_int_equal(st.hits, 5);
	assert_int_equal(st.misses, 4);
	assert_int_equal(st.evictions, 0);
	assert_int_equal(st.entries, 0); /* expired ones left on lookup */
	assert_int_equal(st.expired, 4);
	dns_cache_free(c);

	/* bad parameters */
	assert_null(dns_cache_new(0, 1, 2));
	assert_null(dns_cache_new(10, 3, 2));
	c = dns_cache_new(1, 0, 0); /* everything expires at once */
	assert_non_null(c);
	dns_cache_add(c, &cl, "x.example", &s0, 100, t);
	assert_null(dns_cache_lookup(c, &cl, &s0, t));
	dns_cache_free(c);
}

static void
test_cache_client_preference(void **state)
{
	(void)state;
	dns_cache *c = dns_cache_new(64, 1, 3600);
	assert_non_null(c);
	struct sm_addr a = ip("10.0.0.1"), b = ip("10.0.0.2"), other = ip("10.0.0.3");
	struct sm_addr cdn = ip("203.0.113.80");
	const int64_t t = 100 * SEC;

	dns_cache_add(c, &a, "files.one.example", &cdn, 600, t);
	dns_cache_add(c, &b, "video.two.example", &cdn, 60, t + 1);
	/* each client its own answer; anyone else the latest */
	assert_string_equal(dns_cache_lookup(c, &a, &cdn, t + 2), "files.one.example");
	assert_string_equal(dns_cache_lookup(c, &b, &cdn, t + 2), "video.two.example");
	assert_string_equal(dns_cache_lookup(c, &other, &cdn, t + 2), "video.two.example");
	assert_string_equal(dns_cache_lookup(c, NULL, &cdn, t + 2), "video.two.example");
	/* b's answer expires: b and others fall back to a's */
	assert_string_equal(dns_cache_lookup(c, &b, &cdn, t + 1 + 60 * SEC),
			    "files.one.example");
	assert_string_equal(dns_cache_lookup(c, &other, &cdn, t + 1 + 60 * SEC),
			    "files.one.example");
	/* a's latest answer wins for a, though an older one is live */
	dns_cache_add(c, &a, "api.one.example", &cdn, 600, t + 10);
	assert_string_equal(dns_cache_lookup(c, &a, &cdn, t + 11), "api.one.example");
	dns_cache_add(c, &a, "files.one.example", &cdn, 600, t + 12);
	assert_string_equal(dns_cache_lookup(c, &a, &cdn, t + 13), "files.one.example");

	/* slots are bounded: the oldest answer goes */
	dns_cache_free(c);
	c = dns_cache_new(64, 1, 3600);
	char name[64];
	struct sm_addr clients[DNS_CACHE_SLOTS + 1];
	for (int i = 0; i <= DNS_CACHE_SLOTS; i++) {
		uint8_t raw[4] = { 10, 9, 0, (uint8_t)(i + 1) };
		addr_from_v4(&clients[i], raw);
		snprintf(name, sizeof(name), "n%d.example", i);
		dns_cache_add(c, &clients[i], name, &cdn, 600, t + i);
	}
	/* client 0 lost its slot: it gets the latest of anyone */
	snprintf(name, sizeof(name), "n%d.example", DNS_CACHE_SLOTS);
	assert_string_equal(dns_cache_lookup(c, &clients[0], &cdn, t + 100), name);
	assert_string_equal(dns_cache_lookup(c, &clients[1], &cdn, t + 100), "n1.example");
	struct dns_cache_stats st;
	dns_cache_get_stats(c, &st);
	assert_int_equal(st.entries, 1);
	dns_cache_free(c);

	/* an answer repeated takes no new slot: the others stay */
	c = dns_cache_new(64, 1, 3600);
	dns_cache_add(c, &b, "b.example", &cdn, 600, t);
	for (int i = 0; i < 2 * DNS_CACHE_SLOTS; i++)
		dns_cache_add(c, &a, "a.example", &cdn, 600, t + 1 + i);
	assert_string_equal(dns_cache_lookup(c, &b, &cdn, t + 100), "b.example");
	assert_string_equal(dns_cache_lookup(c, &other, &cdn, t + 100), "a.example");
	dns_cache_free(c);

	/* an expired answer's slot goes before the oldest live one */
	c = dns_cache_new(64, 1, 3600);
	dns_cache_add(c, &clients[0], "long.example", &cdn, 3600, t);
	for (int i = 1; i < DNS_CACHE_SLOTS; i++)
		dns_cache_add(c, &clients[i], "short.example", &cdn, 1, t + i);
	/* other addresses, so that the sweep is elsewhere in the pool */
	for (uint32_t i = 0; i < 50; i++) {
		struct sm_addr filler = nth_addr(i);
		dns_cache_add(c, &clients[0], "filler.example", &filler, 600, t + 10);
	}
	dns_cache_add(c, &clients[DNS_CACHE_SLOTS], "new.example", &cdn, 600, t + 2 * SEC);
	assert_string_equal(dns_cache_lookup(c, &clients[0], &cdn, t + 2 * SEC),
			    "long.example");
	assert_string_equal(dns_cache_lookup(c, &clients[DNS_CACHE_SLOTS], &cdn, t + 2 * SEC),
			    "new.example");
	dns_cache_free(c);
}

static void
test_cache_sweep(void **state)
{
	(void)state;
	dns_cache *c = dns_cache_new(1000, 1, 3600);
	assert_non_null(c);
	struct sm_addr cl = ip("10.0.0.1"), keep = ip("192.0.2.200");
	struct dns_cache_stats st;

	for (uint32_t i = 0; i < 10; i++) {
		struct sm_addr s = nth_addr(i);
		dns_cache_add(c, &cl, "short.example", &s, 1, i);
	}
	/* the cache is far from full, and nobody looks the old ones up:
	 * answers alone reclaim them, a few per answer */
	for (int i = 0; i < 50; i++)
		dns_cache_add(c, &cl, "keep.example", &keep, 600, 5 * SEC + i);
	dns_cache_get_stats(c, &st);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.expired, 10);
	assert_int_equal(st.evictions, 0);
	dns_cache_free(c);
}

static void
test_cache_eviction_order(void **state)
{
	(void)state;
	dns_cache *c = dns_cache_new(4, 1, 3600);
	assert_non_null(c);
	struct sm_addr cl = ip("10.0.0.1"), s[6];
	struct dns_cache_stats st;
	for (uint32_t i = 0; i < 6; i++)
		s[i] = nth_addr(i);

	for (int i = 0; i < 4; i++)
		dns_cache_add(c, &cl, "e.example", &s[i], 3600, i * SEC);
	/* s0 answered again: s1 is now the least recently answered */
	dns_cache_add(c, &cl, "e.example", &s[0], 3600, 4 * SEC);
	dns_cache_add(c, &cl, "e.example", &s[4], 3600, 5 * SEC);
	assert_null(dns_cache_lookup(c, &cl, &s[1], 6 * SEC));
	for (int i = 0; i < 5; i++)
		if (i != 1)
			assert_non_null(dns_cache_lookup(c, &cl, &s[i], 6 * SEC));
	dns_cache_get_stats(c, &st);
	assert_int_equal(st.entries, 4);
	assert_int_equal(st.evictions, 1);
	assert_int_equal(st.expired, 0);
	dns_cache_free(c);

	/* an expired address goes before the least recently answered */
	c = dns_cache_new(4, 1, 3600);
	dns_cache_add(c, &cl, "e.example", &s[0], 3600, 0);
	dns_cache_add(c, &cl, "e.example", &s[1], 3600, 1);
	dns_cache_add(c, &cl, "short.example", &s[2], 1, 2);
	dns_cache_add(c, &cl, "e.example", &s[3], 3600, 3);
	dns_cache_add(c, &cl, "e.example", &s[4], 3600, 10 * SEC);
	dns_cache_get_stats(c, &st);
	assert_int_equal(st.entries, 4);
	assert_int_equal(st.evictions, 0);
	assert_int_equal(st.expired, 1);
	for (int i = 0; i < 5; i++)
		if (i != 2)
			assert_non_null(dns_cache_lookup(c, &cl, &s[i], 10 * SEC));
	assert_null(dns_cache_lookup(c, &cl, &s[2], 10 * SEC));
	dns_cache_free(c);
}

static void
test_cache_bound(void **state)
{
	(void)state;
	const uint32_t max = 1000;
	dns_cache *c = dns_cache_new(max, 60, 3600);
	assert_non_null(c);
	struct sm_addr cl = ip("10.0.0.1");
	struct dns_cache_stats st;
	char name[64];

	for (uint32_t i = 0; i < 10 * max; i++) {
		struct sm_addr s = nth_addr(i);
		snprintf(name, sizeof(name), "host%u.example", i % 3000);
		dns_cache_add(c, &cl, name, &s, 600, (int64_t)i * 1000);
		dns_cache_get_stats(c, &st);
		assert_true(st.entries <= max);
	}
	dns_cache_get_stats(c, &st);
	assert_int_equal(st.entries, max);
	assert_int_equal(st.inserts, 10 * max);
	assert_int_equal(st.evictions, 9 * max);
	const int64_t now = 10 * max * 1000;
	for (uint32_t i = 9 * max; i < 10 * max; i++) {
		struct sm_addr s = nth_addr(i);
		snprintf(name, sizeof(name), "host%u.example", i % 3000);
		const char *got = dns_cache_lookup(c, &cl, &s, now);
		assert_non_null(got);
		assert_string_equal(got, name);
	}
	for (uint32_t i = 0; i < 9 * max; i += 97) {
		struct sm_addr s = nth_addr(i);
		assert_null(dns_cache_lookup(c, &cl, &s, now));
	}
	dns_cache_get_stats(c, &st);
	assert_int_equal(st.hits, max);
	assert_int_equal(st.misses, (9 * max + 96) / 97);

	/* once all expire, new answers reclaim them instead of evicting */
	uint64_t evictions = st.evictions;
	for (uint32_t i = 0; i < max; i++) {
		struct sm_addr s = nth_addr(100000 + i);
		dns_cache_add(c, &cl, "later.example", &s, 600, now + 4000 * SEC);
	}
	dns_cache_get_stats(c, &st);
	assert_int_equal(st.entries, max);
	assert_int_equal(st.evictions, evictions);
	assert_int_equal(st.expired, max);

	/* names too long or empty are ignored */
	struct sm_addr s = nth_addr(7);
	char longname[DOMAIN_MAX + 10];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	dns_cache_add(c, &cl, longname, &s, 600, now);
	dns_cache_add(c, &cl, "", &s, 600, now);
	dns_cache_get_stats(c, &st);
	assert_int_equal(st.inserts, 11 * max);
	dns_cache_free(c);
}

/* ---- corpus ------------------------------------------------------------- */

struct corpus_seen {
	int parsed, refused, fragments, tcp_parsed;
	dns_cache *cache;
};

static int
corpus_feed(const char *file, struct corpus_seen *seen)
{
	char err[PCAP_ERRBUF_SIZE], path[4096];
	struct pcap_pkthdr *hdr;
	const u_char *data;
	int rc;

	snprintf(path, sizeof(path), "%s/ndpi/%s", CORPUS_DIR, file);
	pcap_t *pc = pcap_open_offline(path, err);
	if (!pc)
		return -1;
	int dlt = pcap_datalink(pc);
	assert_true(decode_linktype_supported(dlt));
	while ((rc = pcap_next_ex(pc, &hdr, &data)) == 1) {
		struct pkt p;
		struct dns_answer ans;
		memset(&p, 0, sizeof(p));
		if (decode_frame(dlt, data, hdr->caplen, hdr->len, &p) != DECODE_IP ||
		    !p.has_ports || p.sport != 53)
			continue;
		p.ts = (int64_t)hdr->ts.tv_sec * SEC + hdr->ts.tv_usec;
		if (p.l4_proto == IPPROTO_TCP) {
			if (p.payload_caplen < 2)
				continue;
			size_t mlen = (size_t)p.payload[0] << 8 | p.payload[1];
			if (mlen + 2 > p.payload_caplen)
				continue;
			assert_int_equal(parse_exact(p.payload + 2, mlen, &ans), 0);
			seen->tcp_parsed++;
			continue;
		}
		if (p.l4_proto != IPPROTO_UDP)
			continue;
		rc = parse_exact(p.payload, p.payload_caplen, &ans);
		if (p.frag != PKT_FRAG_NONE || p.payload_caplen < p.payload_len) {
			/* the rest is in later fragments: refused when the cut
			 * falls in the answer section, else its answers count */
			seen->fragments++;
			if (rc == 0)
				dns_cache_add_answer(seen->cache, &p.dst, &ans, p.ts);
			else
				assert_int_equal(ans.n_addrs, 0);
			continue;
		}
		uint16_t flags = p.payload_caplen >= 4
					 ? (uint16_t)(p.payload[2] << 8 | p.payload[3])
					 : 0;
		if ((flags & 0x000f) != 0) {
			assert_int_equal(rc, -1);
			seen->refused++;
			continue;
		}
		assert_int_equal(rc, 0);
		seen->parsed++;
		dns_cache_add_answer(seen->cache, &p.dst, &ans, p.ts);
	}
	assert_int_equal(rc, PCAP_ERROR_BREAK);
	pcap_close(pc);
	return 0;
}

static void
expect_name(dns_cache *c, const char *client, const char *server, const char *name)
{
	struct sm_addr cl = ip(client), s = ip(server);
	const char *got = dns_cache_lookup(c, &cl, &s, 0);
	assert_non_null(got);
	assert_string_equal(got, name);
}

/*
 * Feeds one capture into a fresh cache in which every answer lives ten
 * years, so that lookups at time 0 see everything the capture taught,
 * whatever its dates and however long it lasts.
 */
static void
corpus_file(const char *file, struct corpus_seen *seen)
{
	memset(seen, 0, sizeof(*seen));
	seen->cache = dns_cache_new(4096, 3650u * 86400u, 3650u * 86400u);
	assert_non_null(seen->cache);
	assert_int_equal(corpus_feed(file, seen), 0);
}

static void
test_corpus(void **state)
{
	(void)state;
	struct corpus_seen seen;
	struct dns_cache_stats st;
	char path[4096];
	const char *v6_client = "2001:470:1f0b:16b0:20c:29ff:fe7c:a4cb";

	snprintf(path, sizeof(path), "%s/ndpi/dns.pcap", CORPUS_DIR);
	FILE *f = fopen(path, "rb");
	if (!f) {
		skip();
		return;
	}
	fclose(f);

	/* NODATA answers for www.l.google.com and www.example.com, then
	 * eight addresses for e7.whatsapp.net (over PPPoE) */
	corpus_file("dns.pcap", &seen);
	assert_int_equal(seen.parsed, 3);
	expect_name(seen.cache, "82.178.113.245", "169.45.219.235", "e7.whatsapp.net");
	expect_name(seen.cache, "82.178.113.245", "169.53.81.79", "e7.whatsapp.net");
	expect_name(seen.cache, "82.178.113.245", "169.45.219.232", "e7.whatsapp.net");
	dns_cache_get_stats(seen.cache, &st);
	assert_int_equal(st.entries, 8);
	dns_cache_free(seen.cache);

	corpus_file("dns_ambiguous_names.pcap", &seen);
	assert_int_equal(seen.parsed, 9);
	assert_int_equal(seen.refused, 1); /* NXDOMAIN */
	/* two CNAMEs, eight addresses */
	expect_name(seen.cache, "10.200.2.11", "17.57.146.139", "41-courier.push.apple.com");
	expect_name(seen.cache, "10.200.2.11", "17.57.146.133", "41-courier.push.apple.com");
	/* three CNAMEs */
	expect_name(seen.cache, "10.200.2.11", "52.113.194.131", "api.teams.skype.com");
	/* one CNAME, sixteen addresses: the last of them too */
	expect_name(seen.cache, "10.200.2.11", "108.177.14.101", "android.clients.google.com");
	expect_name(seen.cache, "10.200.2.11", "64.233.164.100", "android.clients.google.com");
	expect_name(seen.cache, "10.200.2.11", "203.205.254.220", "short.weixin.qq.com");
	dns_cache_get_stats(seen.cache, &st);
	assert_int_equal(st.entries, 8 + 1 + 1 + 1 + 16 + 1 + 1 + 2 + 1);
	dns_cache_free(seen.cache);

	/* first fragments (cut), SERVFAIL, DNSSEC answers over TCP, and A and
	 * AAAA answers beside authority and additional records */
	corpus_file("dns_fragmented.pcap", &seen);
	assert_true(seen.fragments > 0);
	assert_true(seen.tcp_parsed > 0);
	assert_true(seen.refused >= 1);
	expect_name(seen.cache, v6_client, "2001:470:1f0b:16b0::1", "fg2-mgmt.weberlab.de");
	expect_name(seen.cache, v6_client, "2606:4700:30::6818:6291", "erfpop.de");
	expect_name(seen.cache, v6_client, "2606:4700:30::6818:6391", "erfpop.de");
	expect_name(seen.cache, v6_client, "134.91.78.139", "sigok.verteiltesysteme.net");
	expect_name(seen.cache, v6_client, "194.247.5.14", "ns2.weberdns.de");
	/* from a first fragment that holds the whole answer section */
	expect_name(seen.cache, "173.194.169.104", "194.247.4.10", "fg2.weberlab.de");
	dns_cache_free(seen.cache);

	corpus_file("android.pcap", &seen);
	assert_int_equal(seen.parsed, 21);
	/* three CNAMEs, two addresses */
	expect_name(seen.cache, "192.168.2.16", "17.253.53.201", "captive.apple.com");
	expect_name(seen.cache, "192.168.2.16", "17.253.53.208", "captive.apple.com");
	expect_name(seen.cache, "192.168.2.16", "216.239.35.12", "time.android.com");
	expect_name(seen.cache, "192.168.2.16", "172.217.18.3", "connectivitycheck.gstatic.com");
	dns_cache_get_stats(seen.cache, &st);
	assert_int_equal(st.evictions, 0);
	dns_cache_free(seen.cache);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_a),
		cmocka_unit_test(test_several_a_aaaa),
		cmocka_unit_test(test_cname_chain),
		cmocka_unit_test(test_cname_chain_any_order),
		cmocka_unit_test(test_cname_chain_compressed),
		cmocka_unit_test(test_unrelated_records_ignored),
		cmocka_unit_test(test_wrong_rdlength_skipped),
		cmocka_unit_test(test_cname_bad_rdata),
		cmocka_unit_test(test_cname_loop_refused),
		cmocka_unit_test(test_cname_chain_length),
		cmocka_unit_test(test_compression_refused),
		cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_not_an_answer),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_ttl_and_max_addrs),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_cache_ttl),
		cmocka_unit_test(test_cache_client_preference),
		cmocka_unit_test(test_cache_eviction_order),
		cmocka_unit_test(test_cache_sweep),
		cmocka_unit_test(test_cache_bound),
		cmocka_unit_test(test_corpus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
