/*
 * Country and network lookups (agent/geo.c) against small MaxMind DB
 * files that tests/tools/mkmmdb.pl builds at test time from
 * tests/tools/geo_networks.tsv: both field layouts (GeoLite2,
 * ip-location-db), IPv4 and IPv6, the registered-country fallback, the
 * refusal of files that are no database or the wrong kind, and damaged
 * files that must not crash. Skipped (77) without perl and
 * libmaxmind-db-writer-perl.
 */
#define _GNU_SOURCE /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "shadowmap/utf8.h"

#include "geo.h"

static char dir[64];

static void
path_of(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static geo *
open_both(const char *country, const char *asn)
{
	char p[256], err[512];
	geo *g = geo_new();
	assert_non_null(g);
	if (country) {
		path_of(p, sizeof(p), country);
		if (geo_open_country(g, p, err, sizeof(err)) < 0)
			fail_msg("%s", err);
	}
	if (asn) {
		path_of(p, sizeof(p), asn);
		if (geo_open_asn(g, p, err, sizeof(err)) < 0)
			fail_msg("%s", err);
	}
	return g;
}

static struct geo_info
look(geo *g, const char *text)
{
	struct sm_addr a;
	struct geo_info gi;
	assert_int_equal(addr_parse(text, &a), 0);
	geo_lookup(g, &a, &gi);
	return gi;
}

/* Checks one address: country ("" for none), asn (0), org (NULL). */
static void
expect(geo *g, const char *addr, const char *country, uint32_t asn, const char *org)
{
	struct geo_info gi = look(g, addr);
	char cc[3];
	const char *got = geo_country_str(gi.country, cc);
	if (!*country)
		assert_null(got);
	else
		assert_string_equal(got ? got : "(null)", country);
	assert_int_equal(gi.asn, asn);
	const char *o = geo_org_name(g, gi.as_org);
	if (!org)
		assert_null(o);
	else
		assert_string_equal(o ? o : "(null)", org);
}

static void
expect_table(geo *g)
{
	expect(g, "192.0.2.10", "US", 64500, "Example Cloud, Inc.");
	expect(g, "192.0.2.70", "DE", 64501, "B\xc3\xa4" "ckerei Netz GmbH");
	/* a narrower row with a country only: the network stays the wider one's */
	expect(g, "192.0.2.100", "CH", 64501, "B\xc3\xa4" "ckerei Netz GmbH");
	expect(g, "198.51.100.20", "GB", 64502, "Example \"Hosting\" Ltd");
	expect(g, "203.0.113.80", "FR", 0, NULL);
	expect(g, "2001:db8:50::1", "NL", 64511, "Voorbeeld B.V.");
	expect(g, "2001:db8:60::10", "SE", 64510, "Example IPv6 Transit");
	expect(g, "2001:db8:ffff::1", "JP", 64510, "Example IPv6 Transit");
	/* private and unknown addresses are in no database */
	expect(g, "10.20.0.1", "", 0, NULL);
	expect(g, "fd00:20::21", "", 0, NULL);
	expect(g, "8.8.8.8", "", 0, NULL);
}

static void
test_geolite_layout(void **state)
{
	(void)state;
	geo *g = open_both("country.mmdb", "asn.mmdb");
	assert_true(geo_enabled(g));
	expect_table(g);
	/* located nowhere, registered in Canada */
	expect(g, "198.18.0.1", "CA", 0, NULL);
	/* one organisation, one id */
	struct geo_info a = look(g, "192.0.2.70"), b = look(g, "192.0.2.100");
	assert_int_not_equal(a.as_org, 0);
	assert_int_equal(a.as_org, b.as_org);
	struct geo_stats st;
	geo_get_stats(g, &st);
	assert_true(st.lookups >= 14);
	assert_int_equal(st.orgs, 5);
	assert_int_equal(st.orgs_dropped, 0);
	geo_free(g);
}

static void
test_flat_layout(void **state)
{
	(void)state;
	/* ip-location-db: country_code at the top, AS numbers as text */
	geo *g = open_both("country-flat.mmdb", "asn-text.mmdb");
	expect_table(g);
	geo_free(g);
}

static void
test_one_database(void **state)
{
	(void)state;
	geo *g = open_both("country.mmdb", NULL);
	expect(g, "192.0.2.10", "US", 0, NULL);
	geo_free(g);
	g = open_both(NULL, "asn.mmdb");
	expect(g, "192.0.2.10", "", 64500, "Example Cloud, Inc.");
	geo_free(g);
	/* an IPv4-only tree finds nothing for IPv6, and says so quietly */
	g = open_both("country-v4.mmdb", NULL);
	expect(g, "192.0.2.10", "US", 0, NULL);
	expect(g, "2001:db8:50::1", "", 0, NULL);
	geo_free(g);
}

static void
test_none(void **state)
{
	(void)state;
	char cc[3];
	geo *g = geo_new();
	assert_false(geo_enabled(g));
	assert_false(geo_enabled(NULL));
	expect(g, "192.0.2.10", "", 0, NULL);
	assert_null(geo_org_name(g, 0));
	assert_null(geo_org_name(g, 7));
	assert_null(geo_org_name(NULL, 1));
	assert_null(geo_country_str(0, cc));
	assert_string_equal(geo_country_str((uint16_t)('D' << 8 | 'E'), cc), "DE");
	geo_free(g);
	geo_free(NULL);
}

/* Opening must fail with the path and the reason in the message. */
static void
refused(int asn, const char *path, const char *reason)
{
	char err[512];
	geo *g = geo_new();
	int rc = asn ? geo_open_asn(g, path, err, sizeof(err))
		     : geo_open_country(g, path, err, sizeof(err));
	assert_int_equal(rc, -1);
	if (!strstr(err, path) || !strstr(err, reason))
		fail_msg("\"%s\" lacks \"%s\" or \"%s\"", err, path, reason);
	assert_false(geo_enabled(g));
	geo_free(g);
}

static void
test_refused(void **state)
{
	(void)state;
	char p[256], q[256], err[512];

	path_of(p, sizeof(p), "no-such.mmdb");
	refused(0, p, "No such file");
	refused(1, p, "No such file");
	refused(0, dir, "not a regular file");
	path_of(p, sizeof(p), "text.mmdb");
	FILE *fp = fopen(p, "w");
	assert_non_null(fp);
	fputs("country,US\n", fp);
	fclose(fp);
	refused(0, p, "not a MaxMind DB");
	refused(1, p, "not a MaxMind DB");
	path_of(p, sizeof(p), "empty.mmdb");
	fp = fopen(p, "w");
	assert_non_null(fp);
	fclose(fp);
	refused(0, p, "not a MaxMind DB");
	/* the wrong kind, by its database_type */
	path_of(p, sizeof(p), "asn.mmdb");
	refused(0, p, "is not a country database");
	path_of(p, sizeof(p), "country.mmdb");
	refused(1, p, "is not an ASN database");
	/* a City database whose records carry no country */
	path_of(p, sizeof(p), "city-nofields.mmdb");
	refused(0, p, "neither country.iso_code nor country_code");

	/* one database of each kind */
	geo *g = open_both("country.mmdb", "asn.mmdb");
	path_of(q, sizeof(q), "country-flat.mmdb");
	assert_int_equal(geo_open_country(g, q, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "open already"));
	expect(g, "192.0.2.10", "US", 64500, "Example Cloud, Inc.");
	geo_free(g);
}

/* Organisation names are cut at 128 bytes on a character boundary and
 * trimmed; the database is built here from a table of its own. */
static void
test_long_names(void **state)
{
	(void)state;
	char tsv[128], sub[128], cmd[1024], p[256], name[400];
	size_t n = 0;

	snprintf(sub, sizeof(sub), "%s/long", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(tsv, sizeof(tsv), "%s/long.tsv", dir);
	/* "  " + 100 x "é" (200 bytes) */
	name[n++] = ' ';
	name[n++] = ' ';
	for (int i = 0; i < 100; i++) {
		name[n++] = (char)0xc3;
		name[n++] = (char)0xa9;
	}
	name[n] = '\0';
	FILE *fp = fopen(tsv, "w");
	assert_non_null(fp);
	fprintf(fp, "192.0.2.0/24\tUS\t64500\t%s\n198.51.100.0/24\tGB\t64502\t   \n", name);
	fclose(fp);
	snprintf(cmd, sizeof(cmd), "perl %s/tests/tools/mkmmdb.pl --networks %s %s",
		 SOURCE_DIR, tsv, sub);
	assert_int_equal(system(cmd), 0);

	char err[512];
	geo *g = geo_new();
	snprintf(p, sizeof(p), "%s/asn.mmdb", sub);
	assert_int_equal(geo_open_asn(g, p, err, sizeof(err)), 0);
	struct geo_info gi = look(g, "192.0.2.1");
	const char *org = geo_org_name(g, gi.as_org);
	assert_non_null(org);
	size_t len = strlen(org);
	assert_int_equal(len, 128 - 2); /* the blanks count against the cut */
	for (size_t i = 0; i < len;) {
		size_t k = utf8_seq_len((const unsigned char *)org + i, len - i);
		assert_int_equal(k, 2);
		i += k;
	}
	/* a name of blanks is no name */
	gi = look(g, "198.51.100.1");
	assert_int_equal(gi.asn, 64502);
	assert_int_equal(gi.as_org, 0);
	geo_free(g);
}

/* Damaged files: every opening either fails cleanly or gives a handle
 * whose lookups return (ASan/UBSan watch the reads). */
static void
test_damaged(void **state)
{
	(void)state;
	char src[256], p[256], err[512];
	const char *names[] = { "country.mmdb", "asn.mmdb" };

	for (int which = 0; which < 2; which++) {
		path_of(src, sizeof(src), names[which]);
		FILE *fp = fopen(src, "rb");
		assert_non_null(fp);
		static unsigned char orig[1 << 16], buf[1 << 16];
		size_t len = fread(orig, 1, sizeof(orig), fp);
		fclose(fp);
		assert_true(len > 100);
		unsigned seed = 12345u + (unsigned)which;
		int opened = 0;
		for (int round = 0; round < 300; round++) {
			memcpy(buf, orig, len);
			size_t cut = len;
			if (round % 10 == 9) {
				cut = (size_t)rand_r(&seed) % len; /* truncated */
			} else {
				for (int k = 0; k < 1 + round % 4; k++)
					buf[(size_t)rand_r(&seed) % len] = (unsigned char)rand_r(&seed);
			}
			path_of(p, sizeof(p), "damaged.mmdb");
			fp = fopen(p, "wb");
			assert_non_null(fp);
			fwrite(buf, 1, cut, fp);
			fclose(fp);
			geo *g = geo_new();
			int rc = which ? geo_open_asn(g, p, err, sizeof(err))
				       : geo_open_country(g, p, err, sizeof(err));
			if (rc == 0) {
				opened++;
				const char *addrs[] = { "192.0.2.10", "192.0.2.100", "198.51.100.20",
							"203.0.113.80", "2001:db8:50::1",
							"2001:db8:ffff::1", "10.0.0.1", "198.18.0.1" };
				for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
					struct geo_info gi = look(g, addrs[i]);
					(void)geo_org_name(g, gi.as_org);
				}
			} else {
				assert_non_null(strstr(err, p));
			}
			geo_free(g);
		}
		/* most damage falls in the data, where the file still opens */
		assert_true(opened > 0);
	}
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
main(void)
{
	char cmd[512];
	if (system("perl -MMaxMind::DB::Writer::Tree -e 1 >/dev/null 2>&1") != 0) {
		printf("SKIP: perl with MaxMind::DB::Writer::Tree (libmaxmind-db-writer-perl) "
		       "is needed to build the test databases\n");
		return 77;
	}
	snprintf(dir, sizeof(dir), "/tmp/test_geo.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(cmd, sizeof(cmd), "perl %s/tests/tools/mkmmdb.pl %s", SOURCE_DIR, dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "%s failed\n", cmd);
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_geolite_layout),
		cmocka_unit_test(test_flat_layout),
		cmocka_unit_test(test_one_database),
		cmocka_unit_test(test_none),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_long_names),
		cmocka_unit_test(test_damaged),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
