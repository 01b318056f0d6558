/*
 * Unit tests of server-name handling: domain_normalize on what the wire
 * carries (case, dots, ports, addresses, junk, lengths) and
 * domain_registrable against the public suffix list's ICANN section.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "shadowmap/domain.h"

/* ---- normalisation --------------------------------------------------- */

static void
check_norm(const char *in, const char *want)
{
	char out[DOMAIN_MAX];
	int n;

	memset(out, '#', sizeof(out));
	n = domain_normalize(in, strlen(in), out, sizeof(out));
	if (!want) {
		if (n != -1)
			fail_msg("\"%s\": accepted as \"%s\"", in, out);
		assert_string_equal(out, ""); /* no half-written name left behind */
		return;
	}
	if (n < 0)
		fail_msg("\"%s\": rejected, want \"%s\"", in, want);
	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
}

static void
test_normalize_cases(void **state)
{
	(void)state;

	check_norm("example.com", "example.com");
	check_norm("Example.COM", "example.com");
	check_norm("WWW.EXAMPLE.COM", "www.example.com");
	check_norm("example.com.", "example.com");
	check_norm("example.com..", NULL);
	check_norm("example.com:443", "example.com");
	check_norm("Example.com.:8443", "example.com");
	check_norm("example.com:", "example.com"); /* RFC 3986: the port may be empty */
	check_norm("example.com:65535", "example.com");
	check_norm("example.com:65536", NULL);
	check_norm("example.com:123456", NULL);
	check_norm("example.com:80a", NULL);
	check_norm("example.com:80:80", NULL);
	check_norm("example.com:-1", NULL);
	check_norm("_sip._tcp.example.com", "_sip._tcp.example.com");
	check_norm("a-b.example", "a-b.example");
	check_norm("localhost", "localhost"); /* a name, if not a registrable one */
	check_norm("printer:631", "printer");
	check_norm("1e100.net", "1e100.net");
	check_norm("3com.com", "3com.com");
	/* IDN names arrive as punycode */
	check_norm("XN--BCHER-KVA.example", "xn--bcher-kva.example");
	check_norm("www.xn--55qx5d.cn", "www.xn--55qx5d.cn");
}

static void
test_normalize_rejects(void **state)
{
	(void)state;

	/* empty and dots */
	check_norm("", NULL);
	check_norm(".", NULL);
	check_norm("..", NULL);
	check_norm(":443", NULL);
	check_norm(".example.com", NULL);
	check_norm("a..example.com", NULL);
	/* addresses are not names */
	check_norm("192.0.2.1", NULL);
	check_norm("192.0.2.1.", NULL);
	check_norm("192.0.2.1:443", NULL);
	check_norm("127.1", NULL);
	check_norm("0x7f.1", NULL);
	check_norm("3232235777", NULL);
	check_norm("example.123", NULL);
	check_norm("::1", NULL);
	check_norm("2001:db8::1", NULL);
	check_norm("[2001:db8::1]", NULL);
	check_norm("[2001:db8::1]:443", NULL);
	check_norm("[example.com]", NULL);
	/* bytes outside letters, digits, '-', '_', '.' */
	check_norm("exa mple.com", NULL);
	check_norm(" example.com", NULL);
	check_norm("example.com ", NULL);
	check_norm("*.example.com", NULL);
	check_norm("ex/ample.com", NULL);
	check_norm("example.com/path", NULL);
	check_norm("user@example.com", NULL);
	check_norm("b\xc3\xbc" "cher.example", NULL);
	check_norm("example.com\r\n", NULL);
}

static void
test_normalize_lengths(void **state)
{
	char label[80], name[300], out[DOMAIN_MAX];
	(void)state;

	memset(label, 'a', 63);
	memcpy(label + 63, ".com", 5);
	check_norm(label, label);
	memset(label, 'a', 64);
	memcpy(label + 64, ".com", 5);
	check_norm(label, NULL);

	/* 253 characters: the longest name */
	memset(name, 0, sizeof(name));
	for (int k = 0; k < 4; k++) {
		memset(name + k * 62, 'x', 61);
		name[k * 62 + 61] = '.';
	}
	memcpy(name + 248, "abcde", 5);
	assert_int_equal(strlen(name), 253);
	check_norm(name, name);
	name[253] = '.'; /* and its root dot */
	{
		int n = domain_normalize(name, 254, out, sizeof(out));
		assert_int_equal(n, 253);
		assert_int_equal(memcmp(out, name, 253), 0);
	}
	name[253] = 'f'; /* 254 */
	check_norm(name, NULL);
	memcpy(name + 254, ":443", 5);
	check_norm(name, NULL);
}

static void
test_normalize_buffers(void **state)
{
	char out[DOMAIN_MAX], small[12];
	char inplace[] = "WWW.Example.COM.";
	(void)state;

	/* only in_len bytes are read */
	assert_int_equal(domain_normalize("example.com.evil.net", 11, out, sizeof(out)), 11);
	assert_string_equal(out, "example.com");
	/* a NUL inside the given length is a bad byte, not an end */
	assert_int_equal(domain_normalize("example\0.com", 12, out, sizeof(out)), -1);
	/* out must hold the name and its NUL */
	assert_int_equal(domain_normalize("example.com", 11, small, 11), -1);
	assert_int_equal(domain_normalize("example.com", 11, small, 12), 11);
	assert_string_equal(small, "example.com");
	/* in place */
	assert_int_equal(domain_normalize(inplace, strlen(inplace), inplace, sizeof(inplace)), 15);
	assert_string_equal(inplace, "www.example.com");
	assert_int_equal(domain_normalize(NULL, 3, out, sizeof(out)), -1);
	assert_int_equal(domain_normalize("a.b", 3, NULL, 10), -1);
	assert_int_equal(domain_normalize("a.b", 3, out, 0), -1);
}

/* ---- registrable domains --------------------------------------------- */

static int
setup_psl(void **state)
{
	(void)state;
	return domain_init() == 0 ? 0 : -1;
}

static int
teardown_psl(void **state)
{
	(void)state;
	domain_cleanup();
	return 0;
}

static void
check_reg(const char *name, const char *want)
{
	char out[DOMAIN_MAX];
	int rc;

	memset(out, '#', sizeof(out));
	rc = domain_registrable(name, out, sizeof(out));
	if (!want) {
		if (rc != -1)
			fail_msg("\"%s\": got \"%s\", want none", name, out);
		return;
	}
	if (rc != 0)
		fail_msg("\"%s\": none, want \"%s\"", name, want);
	assert_string_equal(out, want);
}

static void
test_registrable_icann(void **state)
{
	(void)state;

	check_reg("www.example.com", "example.com");
	check_reg("example.com", "example.com");
	check_reg("a.b.c.example.com", "example.com");
	check_reg("files.slack-edge.com", "slack-edge.com");
	check_reg("com", NULL);
	/* multi-level public suffixes */
	check_reg("foo.bar.co.uk", "bar.co.uk");
	check_reg("bar.co.uk", "bar.co.uk");
	check_reg("co.uk", NULL);
	check_reg("uk", NULL);
	check_reg("www.example.com.au", "example.com.au");
	check_reg("com.au", NULL);
	check_reg("x.y.example.gov.uk", "example.gov.uk");
}

static void
test_registrable_private_ignored(void **state)
{
	(void)state;

	/* PRIVATE-section suffixes are not public for us: the operator's
	 * domain is what a user of the service reaches */
	check_reg("x.s3.amazonaws.com", "amazonaws.com");
	check_reg("bucket.s3.eu-west-1.amazonaws.com", "amazonaws.com");
	check_reg("user.github.io", "github.io");
	check_reg("github.io", "github.io");
	check_reg("someone.blogspot.com", "blogspot.com");
	check_reg("myapp.appspot.com", "appspot.com");
	check_reg("foo.herokuapp.com", "herokuapp.com");
}

static void
test_registrable_wildcards(void **state)
{
	(void)state;

	/* *.ck and !www.ck */
	check_reg("foo.bar.ck", "foo.bar.ck");
	check_reg("bar.ck", NULL);
	check_reg("ck", NULL);
	check_reg("www.ck", "www.ck");
	check_reg("a.www.ck", "www.ck");
	/* *.kawasaki.jp and !city.kawasaki.jp */
	check_reg("x.foo.kawasaki.jp", "x.foo.kawasaki.jp");
	check_reg("foo.kawasaki.jp", NULL);
	check_reg("city.kawasaki.jp", "city.kawasaki.jp");
	check_reg("www.city.kawasaki.jp", "city.kawasaki.jp");
}

static void
test_registrable_unlisted(void **state)
{
	(void)state;

	/* PSL's implicit "*" rule: an unknown TLD is a public suffix */
	check_reg("host.corp.internal", "corp.internal");
	check_reg("corp.internal", "corp.internal");
	check_reg("a.b.home.arpa", "home.arpa");
	/* a single label has no registrable domain: callers keep the name */
	check_reg("internal", NULL);
	check_reg("localhost", NULL);
	check_reg("printer", NULL);
}

static void
test_registrable_idn(void **state)
{
	(void)state;

	/* 公司.cn is a public suffix under .cn, written in punycode */
	check_reg("www.example.xn--55qx5d.cn", "example.xn--55qx5d.cn");
	check_reg("xn--55qx5d.cn", NULL);
	/* .中国 is a TLD */
	check_reg("shop.xn--fiqs8s", "shop.xn--fiqs8s");
	check_reg("www.shop.xn--fiqs8s", "shop.xn--fiqs8s");
	check_reg("xn--fiqs8s", NULL);
	check_reg("www.xn--bcher-kva.de", "xn--bcher-kva.de");
}

static void
test_registrable_not_names(void **state)
{
	char out[DOMAIN_MAX], small[8];
	(void)state;

	check_reg("192.0.2.1", NULL);
	check_reg("10.1", NULL);
	check_reg("::1", NULL);
	check_reg("[2001:db8::1]", NULL);
	check_reg("", NULL);
	check_reg(".example.com", NULL);
	check_reg("example.com.", NULL);
	check_reg("www..example.com", NULL);
	assert_int_equal(domain_registrable(NULL, out, sizeof(out)), -1);
	assert_int_equal(domain_registrable("example.com", NULL, 10), -1);
	/* out too small */
	assert_int_equal(domain_registrable("www.example.com", small, sizeof(small)), -1);
	assert_int_equal(domain_registrable("www.ex.com", small, sizeof(small)), 0);
	assert_string_equal(small, "ex.com");
}

static void
test_registrable_needs_init(void **state)
{
	char out[DOMAIN_MAX];
	(void)state;

	domain_cleanup();
	assert_int_equal(domain_registrable("www.example.com", out, sizeof(out)), -1);
	domain_cleanup(); /* twice is harmless */
	assert_int_equal(domain_init(), 0);
	assert_int_equal(domain_init(), 0); /* and so is init twice */
	assert_int_equal(domain_registrable("www.example.com", out, sizeof(out)), 0);
	assert_string_equal(out, "example.com");
}

int
main(void)
{
	const struct CMUnitTest normalize[] = {
		cmocka_unit_test(test_normalize_cases),
		cmocka_unit_test(test_normalize_rejects),
		cmocka_unit_test(test_normalize_lengths),
		cmocka_unit_test(test_normalize_buffers),
	};
	const struct CMUnitTest registrable[] = {
		cmocka_unit_test(test_registrable_icann),
		cmocka_unit_test(test_registrable_private_ignored),
		cmocka_unit_test(test_registrable_wildcards),
		cmocka_unit_test(test_registrable_unlisted),
		cmocka_unit_test(test_registrable_idn),
		cmocka_unit_test(test_registrable_not_names),
		cmocka_unit_test(test_registrable_needs_init),
	};
	int failed = 0;

	failed += cmocka_run_group_tests_name("domain_normalize", normalize, NULL, NULL);
	failed += cmocka_run_group_tests_name("domain_registrable", registrable, setup_psl,
					      teardown_psl);
	return failed ? 1 : 0;
}
