/*
 * Unit tests of the signature database: loading the fixtures of
 * tests/unit/data/sig (good ones and one broken file per error class, each
 * error checked to the file and line), directory order, the matchers
 * against hand-picked cases and a brute-force reference, and the real
 * signatures/ directory when it has content.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "shadowmap/addr.h"
#include "shadowmap/sig.h"

#define DATA SOURCE_DIR "/tests/unit/data/sig"

/*
 * Counting allocations, to show that matching allocates nothing: the test
 * program's malloc family wins over libc's for every caller. Not under
 * AddressSanitizer, which brings its own allocator.
 */
#if !defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOCS 1
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);

static volatile int alloc_counting;
static volatile unsigned long n_allocs;

void *
malloc(size_t size)
{
	if (alloc_counting)
		n_allocs++;
	return __libc_malloc(size);
}

void *
calloc(size_t n, size_t size)
{
	if (alloc_counting)
		n_allocs++;
	return __libc_calloc(n, size);
}

void *
realloc(void *p, size_t size)
{
	if (alloc_counting)
		n_allocs++;
	return __libc_realloc(p, size);
}

void
free(void *p)
{
	__libc_free(p);
}
#endif

/* ---- helpers --------------------------------------------------------- */

static sig_db *
load_ok(const char *path)
{
	char err[512];
	sig_db *db = sig_db_new();

	assert_non_null(db);
	if (sig_db_load_path(db, path, err, sizeof(err)) != 0)
		fail_msg("load %s: %s", path, err);
	if (sig_db_finalize(db, err, sizeof(err)) != 0)
		fail_msg("finalize %s: %s", path, err);
	return db;
}

static const char *
name_slug(const sig_db *db, const char *name)
{
	const struct sig_app *app = sig_match_name(db, name, NULL);
	return app ? app->slug : NULL;
}

static const char *
addr_slug(const sig_db *db, const char *text)
{
	struct sm_addr a;
	const struct sig_app *app;

	if (addr_parse(text, &a) != 0)
		fail_msg("bad test address %s", text);
	app = sig_match_addr(db, &a);
	return app ? app->slug : NULL;
}

static void
assert_slug(const char *got, const char *want, const char *what)
{
	if (!want && !got)
		return;
	if (!want || !got || strcmp(want, got) != 0)
		fail_msg("%s: got %s, want %s", what, got ? got : "(none)",
			 want ? want : "(none)");
}

/* Loads len bytes from a fresh file and returns the error ("" if none);
 * the file name is written into path. */
static const char *
load_bytes(const char *data, size_t len, char *path, size_t path_size, char *err,
	   size_t errlen)
{
	static unsigned seq;
	sig_db *db = sig_db_new();
	int n = snprintf(path, path_size, "%s/test_sig_%ld_%u.yaml",
			 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid(), seq++);
	FILE *f;

	assert_true(n > 0 && (size_t)n < path_size);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	err[0] = '\0';
	if (sig_db_load_path(db, path, err, errlen) == 0)
		(void)sig_db_finalize(db, err, errlen);
	sig_db_free(db);
	unlink(path);
	return err;
}

static const char *
load_text(const char *text, char *path, size_t path_size, char *err, size_t errlen)
{
	return load_bytes(text, strlen(text), path, path_size, err, errlen);
}

/* ---- matching the good fixtures -------------------------------------- */

static void
test_match_names(void **state)
{
	sig_db *db = load_ok(DATA "/good");
	const char *matched = NULL;
	const struct sig_app *app;
	(void)state;

	/* the longest suffix wins, on label boundaries only */
	assert_slug(name_slug(db, "google.com"), "google-search", "google.com");
	assert_slug(name_slug(db, "www.google.com"), "google-search", "www.google.com");
	assert_slug(name_slug(db, "docs.google.com"), "google-docs", "docs.google.com");
	assert_slug(name_slug(db, "a.b.docs.google.com"), "google-docs", "deep docs");
	assert_slug(name_slug(db, "sheets.google.com"), "google-docs", "sheets");
	assert_slug(name_slug(db, "xdocs.google.com"), "google-search", "xdocs");
	assert_slug(name_slug(db, "files.slack-edge.com"), "slack", "files.slack-edge.com");
	assert_slug(name_slug(db, "x.slack_files.example.net"), "slack", "underscore");
	assert_slug(name_slug(db, "notslack.com"), NULL, "notslack.com");
	assert_slug(name_slug(db, "slack.com.evil.net"), NULL, "slack.com.evil.net");
	assert_slug(name_slug(db, "slack.co"), NULL, "slack.co");
	assert_slug(name_slug(db, "lack.com"), NULL, "lack.com");
	assert_slug(name_slug(db, "example.net"), NULL, "example.net");
	assert_slug(name_slug(db, "com"), NULL, "com");
	assert_slug(name_slug(db, ""), NULL, "empty");
	assert_slug(name_slug(db, "."), NULL, "dot");
	assert_slug(name_slug(db, ".slack.com"), "slack", "leading dot (not normalised)");
	/* not normalised: callers run domain_normalize first */
	assert_slug(name_slug(db, "slack.com."), NULL, "trailing dot");
	assert_slug(name_slug(db, "SLACK.COM"), NULL, "upper case");
	assert_null(sig_match_name(db, NULL, NULL));

	app = sig_match_name(db, "files.slack-edge.com", &matched);
	assert_non_null(app);
	assert_string_equal(matched, "slack-edge.com");
	app = sig_match_name(db, "docs.google.com", &matched);
	assert_string_equal(matched, "docs.google.com");
	app = sig_match_name(db, "nothing.invalid", &matched);
	assert_null(app);
	assert_null(matched);

	/* nDPI names: exact and case-sensitive */
	assert_slug(sig_match_ndpi(db, "GoogleDocs")->slug, "google-docs", "GoogleDocs");
	assert_slug(sig_match_ndpi(db, "Slack")->slug, "slack", "Slack");
	assert_slug(sig_match_ndpi(db, "Sina(Weibo)")->slug, "host", "Sina(Weibo)");
	assert_null(sig_match_ndpi(db, "slack"));
	assert_null(sig_match_ndpi(db, "Slac"));
	assert_null(sig_match_ndpi(db, "Google"));
	assert_null(sig_match_ndpi(db, ""));
	assert_null(sig_match_ndpi(db, NULL));

	sig_db_free(db);
}

static void
test_records(void **state)
{
	sig_db *db = load_ok(DATA "/good");
	static const char *const order[] = { "google-search", "google-docs", "bigcloud",
					     "tenant", "host", "slack" };
	const struct sig_app *slack;
	const struct sig_category *office;
	(void)state;

	/* files in sorted path order: apps/google.yaml, apps/net.yaml,
	 * apps/slack.yml, categories.yaml; hidden and non-YAML files skipped */
	assert_int_equal(sig_db_app_count(db), 6);
	for (size_t i = 0; i < 6; i++) {
		assert_string_equal(sig_db_app(db, i)->slug, order[i]);
		assert_int_equal(sig_db_app(db, i)->index, i);
	}
	assert_null(sig_db_app(db, 6));
	assert_int_equal(sig_db_category_count(db), 4);
	assert_string_equal(sig_db_category(db, 0)->slug, "search");
	assert_null(sig_db_category(db, 4));

	slack = sig_db_find_app(db, "slack");
	assert_non_null(slack);
	assert_ptr_equal(slack, sig_db_app(db, 5));
	assert_string_equal(slack->name, "Slack");
	assert_string_equal(slack->vendor, "Salesforce, Inc.");
	assert_string_equal(slack->category, "chat");
	assert_int_equal(slack->n_domains, 3);
	assert_string_equal(slack->domains[1], "slack-edge.com");
	assert_int_equal(slack->n_ndpi, 1);
	assert_int_equal(slack->n_ranges, 0);
	assert_string_equal(slack->file, DATA "/good/apps/slack.yml");
	assert_int_equal(slack->line, 3);
	assert_null(sig_db_find_app(db, "slac"));
	assert_null(sig_db_find_app(db, NULL));

	office = sig_db_find_category(db, "office");
	assert_non_null(office);
	assert_string_equal(office->name, "Office suites");
	assert_string_equal(office->description, "Documents, spreadsheets\nand presentations.\n");
	assert_null(sig_db_find_category(db, "search")->description);
	assert_null(sig_db_find_category(db, "file-sharing"));

	/* user-facing IPv4 prefixes are stored on the IPv4-mapped form */
	{
		const struct sig_app *big = sig_db_find_app(db, "bigcloud");
		struct sm_addr want;
		assert_int_equal(big->n_ranges, 3);
		assert_int_equal(big->ranges[0].prefix_len, 96 + 8);
		assert_int_equal(addr_parse("10.0.0.0", &want), 0);
		assert_memory_equal(big->ranges[0].base.b, want.b, 16);
		assert_int_equal(big->ranges[1].prefix_len, 32);
	}
	sig_db_free(db);
}

static void
test_match_addr(void **state)
{
	sig_db *db = load_ok(DATA "/good");
	static const struct {
		const char *addr, *slug;
	} cases[] = {
		{ "10.0.0.0", "bigcloud" },	{ "10.0.0.1", "bigcloud" },
		{ "10.1.0.0", "tenant" },	{ "10.1.2.2", "tenant" },
		{ "10.1.2.3", "host" },		{ "10.1.2.4", "tenant" },
		{ "10.1.254.255", "tenant" },	{ "10.1.255.0", "host" },
		{ "10.1.255.255", "host" },	{ "10.2.0.0", "bigcloud" },
		{ "10.0.255.255", "bigcloud" }, { "10.255.255.255", "bigcloud" },
		{ "11.0.0.0", NULL },		{ "9.255.255.255", NULL },
		{ "192.0.2.0", "bigcloud" },	{ "192.0.2.127", "bigcloud" },
		{ "192.0.2.128", "tenant" },	{ "192.0.2.255", "tenant" },
		{ "192.0.3.0", NULL },		{ "192.0.1.255", NULL },
		{ "2001:db8::", "bigcloud" },	{ "2001:db8::1", "bigcloud" },
		{ "2001:db8:1::", "tenant" },	{ "2001:db8:1::1", "host" },
		{ "2001:db8:1::2", "tenant" },	{ "2001:db8:1:ffff:ffff:ffff:ffff:ffff", "tenant" },
		{ "2001:db8:2::", "bigcloud" }, { "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "bigcloud" },
		{ "2001:db9::", NULL },		{ "2001:db7:ffff::", NULL },
		/* IPv4-compatible is not IPv4-mapped */
		{ "::a00:1", NULL },		{ "::", NULL },
		{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_slug(addr_slug(db, cases[i].addr), cases[i].slug, cases[i].addr);
	assert_null(sig_match_addr(db, NULL));
	sig_db_free(db);
}

static void
test_match_addr_edges(void **state)
{
	sig_db *db = load_ok(DATA "/edge");
	static const struct {
		const char *addr, *slug;
	} cases[] = {
		{ "::", "zero" },
		{ "::1", "all" },
		{ "::fffe:ffff:ffff", "all" }, /* just below the IPv4-mapped block */
		{ "0.0.0.0", "v4all" },
		{ "1.2.3.4", "v4all" },
		{ "198.51.99.255", "v4all" },
		{ "198.51.100.0", "mapped" },
		{ "198.51.100.255", "mapped" },
		{ "198.51.101.0", "v4all" },
		{ "255.255.255.254", "v4all" },
		{ "255.255.255.255", "bcast" },
		{ "::1:0:0:0", "all" }, /* just above it */
		{ "2001:db8::", "all" },
		{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:feff", "all" },
		{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00", "top" },
		{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "top" },
		{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "topone" },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_slug(addr_slug(db, cases[i].addr), cases[i].slug, cases[i].addr);
	sig_db_free(db);
}

/* xorshift: the same pseudo-random ranges on every run */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

struct ref_range {
	struct sm_addr base;
	unsigned prefix_len; /* internal, on 128 bits */
	size_t app;
};

static int
ref_contains(const struct ref_range *r, const struct sm_addr *a)
{
	for (unsigned bit = 0; bit < r->prefix_len; bit++) {
		unsigned mask = 0x80u >> (bit % 8);
		if ((r->base.b[bit / 8] & mask) != (a->b[bit / 8] & mask))
			return 0;
	}
	return 1;
}

static void
ref_mask(struct sm_addr *a, unsigned prefix_len)
{
	for (unsigned bit = prefix_len; bit < 128; bit++)
		a->b[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
}

/* A random address near the ranges: in 10.0.0.0/22 or 2001:db8::/118. */
static void
random_addr(struct sm_addr *a)
{
	uint64_t r = rng();
	uint8_t v4[4] = { 10, 0, (uint8_t)((r >> 8) & 3), (uint8_t)(r >> 16) };

	if (r & 1) {
		addr_from_v4(a, v4);
	} else {
		assert_int_equal(addr_parse("2001:db8::", a), 0);
		a->b[14] = (uint8_t)((r >> 24) & 3);
		a->b[15] = (uint8_t)(r >> 32);
	}
}

/* Random nested ranges in a small space, written to YAML, checked against
 * a linear scan for the most specific range at many addresses. */
static void
test_match_addr_random(void **state)
{
	enum { N_APPS = 12, N_RANGES = 300, N_PROBES = 20000 };
	static struct ref_range ranges[N_RANGES];
	size_t n = 0;
	char path[256];
	FILE *f;
	sig_db *db;
	(void)state;

	while (n < N_RANGES) {
		struct ref_range r;
		int dup = 0;
		random_addr(&r.base);
		r.prefix_len = (addr_is_v4(&r.base) ? 96 + 22 : 118) + (unsigned)(rng() % 11);
		ref_mask(&r.base, r.prefix_len);
		for (size_t i = 0; i < n; i++)
			dup |= ranges[i].prefix_len == r.prefix_len &&
			       memcmp(ranges[i].base.b, r.base.b, 16) == 0;
		if (dup)
			continue;
		r.app = (size_t)(rng() % N_APPS);
		ranges[n++] = r;
	}

	snprintf(path, sizeof(path), "%s/test_sig_random_%ld.yaml",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "categories:\n  - slug: net\n    name: Net\napps:\n");
	for (size_t app = 0; app < N_APPS; app++) {
		int first = 1;
		/* an nDPI name keeps an app without ranges valid */
		fprintf(f, "  - slug: app%zu\n    name: A\n    vendor: V\n"
			   "    category: net\n    ndpi: [P%zu]\n    ip_ranges: [",
			app, app);
		for (size_t i = 0; i < n; i++) {
			char text[ADDR_STRLEN];
			if (ranges[i].app != app)
				continue;
			fprintf(f, "%s\"%s/%u\"", first ? "" : ", ",
				addr_format(&ranges[i].base, text, sizeof(text)),
				ranges[i].prefix_len - (addr_is_v4(&ranges[i].base) ? 96 : 0));
			first = 0;
		}
		fprintf(f, "]\n");
	}
	assert_int_equal(fclose(f), 0);
	db = load_ok(path);
	unlink(path);

	for (int probe = 0; probe < N_PROBES; probe++) {
		struct sm_addr a;
		const struct ref_range *best = NULL;
		const struct sig_app *got;
		char text[ADDR_STRLEN];
		random_addr(&a);
		for (size_t i = 0; i < n; i++)
			if (ref_contains(&ranges[i], &a) &&
			    (!best || ranges[i].prefix_len > best->prefix_len))
				best = &ranges[i];
		got = sig_match_addr(db, &a);
		if ((best == NULL) != (got == NULL) || (got && got->index != best->app))
			fail_msg("%s: got %s, want app%zu", addr_format(&a, text, sizeof(text)),
				 got ? got->slug : "(none)", best ? best->app : (size_t)999);
	}
	sig_db_free(db);
}

static void
test_no_allocation_in_match(void **state)
{
#ifdef COUNT_ALLOCS
	sig_db *db = load_ok(DATA "/good");
	struct sm_addr a;
	const char *matched;
	(void)state;

	assert_int_equal(addr_parse("10.1.2.3", &a), 0);
	n_allocs = 0;
	alloc_counting = 1;
	for (int i = 0; i < 1000; i++) {
		(void)sig_match_name(db, "a.b.files.slack-edge.com", &matched);
		(void)sig_match_name(db, "nothing.example.org", NULL);
		(void)sig_match_addr(db, &a);
		(void)sig_match_ndpi(db, "GoogleDocs");
		(void)sig_match_ndpi(db, "Unknown");
	}
	alloc_counting = 0;
	assert_int_equal(n_allocs, 0);
	/* and the counter does count */
	alloc_counting = 1;
	free(malloc(16));
	alloc_counting = 0;
	assert_int_equal(n_allocs, 1);
	sig_db_free(db);
#else
	(void)state;
	skip();
#endif
}

/* ---- errors ---------------------------------------------------------- */

enum stage { AT_LOAD, AT_FINALIZE };

static const struct bad_case {
	const char *file;
	enum stage stage;
	int line;
	const char *reason; /* a part of the message after "file:line: " */
} bad_cases[] = {
	{ "syntax-quote.yaml", AT_LOAD, 4, "YAML syntax error: " },
	{ "syntax-indent.yaml", AT_LOAD, 5, "YAML syntax error: " },
	{ "bad-utf8.yaml", AT_LOAD, 4, "invalid UTF-8" },
	{ "multi-doc.yaml", AT_LOAD, 5, "only one YAML document per file" },
	{ "alias.yaml", AT_LOAD, 4, "anchors and aliases are not supported" },
	{ "tag.yaml", AT_LOAD, 4, "tags are not supported" },
	{ "top-unknown-key.yaml", AT_LOAD, 2, "unknown key \"app\" at the top level" },
	{ "top-not-mapping.yaml", AT_LOAD, 2, "the top level must be a mapping" },
	{ "apps-not-list.yaml", AT_LOAD, 3, "\"apps\" must be a list" },
	{ "app-unknown-key.yaml", AT_LOAD, 7, "unknown key \"domian\" in app" },
	{ "category-unknown-key.yaml", AT_LOAD, 5, "unknown key \"desc\" in category" },
	{ "type-domains-scalar.yaml", AT_LOAD, 7, "\"domains\" must be a list of domains" },
	{ "type-domain-item.yaml", AT_LOAD, 9, "\"domains\" must be a list of domains" },
	{ "type-name-mapping.yaml", AT_LOAD, 4, "\"name\" must be a string, not a mapping" },
	{ "missing-slug.yaml", AT_LOAD, 3, "app has no \"slug\"" },
	{ "missing-name.yaml", AT_LOAD, 3, "app has no \"name\"" },
	{ "missing-vendor.yaml", AT_LOAD, 9, "app has no \"vendor\"" },
	{ "missing-category.yaml", AT_LOAD, 3, "app has no \"category\"" },
	{ "missing-matchers.yaml", AT_LOAD, 3,
	  "app \"dropbox\" needs at least one of domains, ip_ranges and ndpi" },
	{ "empty-vendor.yaml", AT_LOAD, 5, "\"vendor\" must not be empty" },
	{ "bad-slug.yaml", AT_LOAD, 3, "slug \"Drop_Box\" must be" },
	{ "control-char.yaml", AT_LOAD, 4, "\"name\" holds a control character" },
	{ "domain-malformed.yaml", AT_LOAD, 9, "domain \"DropboxAPI.com\" is not lower case" },
	{ "cidr-host-bits.yaml", AT_LOAD, 9,
	  "ip range \"162.125.1.0/16\" has host bits set (the network is 162.125.0.0/16)" },
	{ "cidr-prefix-range.yaml", AT_LOAD, 7, "has a prefix length over 32" },
	{ "cidr-bad-address.yaml", AT_LOAD, 9, "ip range \"162.125.0/16\" has a malformed address" },
	{ "dup-app.yaml", AT_LOAD, 8, "app \"dropbox\" is already defined (" DATA "/bad/dup-app.yaml:3)" },
	{ "dup-category.yaml", AT_LOAD, 7,
	  "category \"chat\" is already defined (" DATA "/bad/dup-category.yaml:3)" },
	{ "dup-key.yaml", AT_LOAD, 6, "key \"name\" given twice in app" },
	{ "dup-domain-in-app.yaml", AT_LOAD, 10,
	  "domain \"dropbox.com\" is listed twice in this app (line 8)" },
	{ "dup-ndpi-in-app.yaml", AT_LOAD, 7, "nDPI protocol \"Dropbox\" is listed twice" },
	{ "unknown-category.yaml", AT_FINALIZE, 9,
	  "app \"dropbox\": unknown category \"file-share\"" },
	{ "cross-domain.yaml", AT_FINALIZE, 19,
	  "domain \"db.tt\" of app \"dropbox-paper\" is already claimed by app \"dropbox\" (" DATA
	  "/bad/cross-domain.yaml:12)" },
	{ "cross-ndpi.yaml", AT_FINALIZE, 16,
	  "nDPI protocol \"Dropbox\" of app \"dropbox-paper\" is already claimed by app \"dropbox\" (" DATA
	  "/bad/cross-ndpi.yaml:10)" },
	{ "cross-range.yaml", AT_FINALIZE, 15,
	  "range 2620:100:6000::/40 of app \"dropbox-paper\" is already claimed by app \"dropbox\" (" DATA
	  "/bad/cross-range.yaml:10)" },
};

/* Checks err is exactly one line "path:line: ..." holding reason. */
static void
assert_error(const char *err, const char *path, int line, const char *reason)
{
	char prefix[600];
	int n = snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);

	assert_true(n > 0 && (size_t)n < sizeof(prefix));
	if (strncmp(err, prefix, (size_t)n) != 0 || !strstr(err + n, reason))
		fail_msg("error \"%s\"\n  want \"%s...%s\"", err, prefix, reason);
	assert_null(strchr(err, '\n'));
	assert_null(strchr(err, '\r'));
}

static void
test_bad_fixtures(void **state)
{
	(void)state;

	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		char path[512], err[1024];
		sig_db *db = sig_db_new();
		int rc;

		snprintf(path, sizeof(path), DATA "/bad/%s", c->file);
		err[0] = '\0';
		rc = sig_db_load_path(db, path, err, sizeof(err));
		if (c->stage == AT_LOAD) {
			if (rc != -1)
				fail_msg("%s: loaded without error", c->file);
		} else {
			if (rc != 0)
				fail_msg("%s: load failed: %s", c->file, err);
			rc = sig_db_finalize(db, err, sizeof(err));
			if (rc != -1)
				fail_msg("%s: finalized without error", c->file);
			/* nothing matches after a failed finalize */
			assert_null(sig_match_name(db, "dropbox.com", NULL));
			assert_null(sig_match_ndpi(db, "Dropbox"));
		}
		assert_error(err, path, c->line, c->reason);
		sig_db_free(db);
	}
}

/* Every fixture in bad/ has its row above: none is silently untested. */
static void
test_bad_fixtures_all_listed(void **state)
{
	DIR *d = opendir(DATA "/bad");
	struct dirent *de;
	size_t n_files = 0;
	(void)state;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t i;
		if (de->d_name[0] == '.')
			continue;
		n_files++;
		for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++)
			if (strcmp(bad_cases[i].file, de->d_name) == 0)
				break;
		if (i == sizeof(bad_cases) / sizeof(bad_cases[0]))
			fail_msg("bad/%s has no expected error in test_sig.c", de->d_name);
	}
	closedir(d);
	assert_int_equal(n_files, sizeof(bad_cases) / sizeof(bad_cases[0]));
}

/* libfyaml must not print behind our back: stderr stays empty. */
static void
test_errors_not_printed(void **state)
{
	char tmpl[] = "/tmp/test_sig_stderr_XXXXXX";
	int fd = mkstemp(tmpl), saved;
	struct stat st;
	(void)state;

	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		char path[512], err[1024];
		sig_db *db = sig_db_new();
		snprintf(path, sizeof(path), DATA "/bad/%s", bad_cases[i].file);
		if (sig_db_load_path(db, path, err, sizeof(err)) == 0)
			(void)sig_db_finalize(db, err, sizeof(err));
		sig_db_free(db);
	}
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	assert_int_equal(fstat(fd, &st), 0);
	close(fd);
	unlink(tmpl);
	assert_int_equal(st.st_size, 0);
}

static void
test_dir_duplicate_across_files(void **state)
{
	sig_db *db = sig_db_new();
	char err[1024];
	(void)state;

	assert_int_equal(sig_db_load_path(db, DATA "/bad-dir-dup", err, sizeof(err)), -1);
	assert_error(err, DATA "/bad-dir-dup/b.yaml", 8,
		     "app \"slack\" is already defined (" DATA "/bad-dir-dup/a.yaml:6)");
	sig_db_free(db);
}

static void
test_dir_order(void **state)
{
	/* '-' < '.' < '/' in byte order: a-c.yaml, a.yml, a/z.yaml, b.yaml,
	 * c/categories.yaml, c/d/e.yaml; .hidden/ and notes.md skipped */
	static const char *const want[] = { "ac", "a", "az", "b", "cde" };
	sig_db *db = load_ok(DATA "/order");
	(void)state;

	assert_int_equal(sig_db_app_count(db), 5);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(sig_db_app(db, i)->slug, want[i]);
	assert_string_equal(sig_db_app(db, 2)->file, DATA "/order/a/z.yaml");
	assert_int_equal(sig_db_category_count(db), 1);
	sig_db_free(db);
}

/* The variants of one error class, each in a file of its own. */
static void
test_domain_and_cidr_variants(void **state)
{
	static const struct {
		const char *value, *reason; /* reason NULL: accepted */
	} domains[] = {
		{ "Example.com", "is not lower case" },
		{ "example.com.", "ends with a dot" },
		{ ".example.com", "starts with a dot" },
		{ "\"*.example.com\"", "has a wildcard" },
		{ "192.0.2.1", "is an IP address" },
		{ "\"2001:db8::1\"", "is an IP address" },
		{ "\"[2001:db8::1]\"", "is an IP address" },
		{ "example.123", "numeric label" },
		{ "a..example.com", "has an empty label" },
		{ "localhost", "has a single label" },
		{ "\"exa mple.com\"", "has a character other than" },
		{ "exa/mple.com", "has a character other than" },
		{ "\"ex\\u00e4mple.com\"", "has a character other than" },
		{ "xn--exmple-cua.com", NULL },
		{ "_dmarc.example.com", NULL },
		{ "a-b.c-d.example", NULL },
	};
	static const struct {
		const char *value, *reason;
	} cidrs[] = {
		{ "10.0.0.0", "needs a /prefix length" },
		{ "10.0.0.0/", "has a malformed prefix length" },
		{ "10.0.0.0/-1", "has a malformed prefix length" },
		{ "10.0.0.0/8a", "has a malformed prefix length" },
		{ "10.0.0.0/0008", "has a malformed prefix length" },
		{ "/8", "has a malformed address" },
		{ "300.0.0.0/8", "has a malformed address" },
		{ "example.com/8", "has a malformed address" },
		{ "\"2001:db8::/129\"", "has a prefix length over 128" },
		{ "\"2001:db8::1/64\"", "has host bits set (the network is 2001:db8::/64)" },
		{ "10.0.0.1/8", "has host bits set (the network is 10.0.0.0/8)" },
		{ "0.0.0.0/0", NULL },
		{ "\"::/0\"", NULL },
		{ "10.0.0.1/32", NULL },
		{ "\"::ffff:10.0.0.0/104\"", NULL },
	};
	char yaml[1024], path[256], err[1024];
	(void)state;

	for (size_t i = 0; i < sizeof(domains) / sizeof(domains[0]); i++) {
		snprintf(yaml, sizeof(yaml),
			 "categories: [{slug: c, name: C}]\napps:\n  - slug: a\n    name: A\n"
			 "    vendor: V\n    category: c\n    domains:\n      - %s\n",
			 domains[i].value);
		load_text(yaml, path, sizeof(path), err, sizeof(err));
		if (!domains[i].reason) {
			if (err[0])
				fail_msg("%s: %s", domains[i].value, err);
			continue;
		}
		assert_error(err, path, 8, domains[i].reason);
	}
	{
		/* lengths: a 63-character label passes, 64 does not; 253
		 * characters pass, 254 do not */
		char label[70], name[300];
		memset(label, 'a', 63);
		label[63] = '\0';
		snprintf(yaml, sizeof(yaml),
			 "apps:\n  - slug: a\n    name: A\n    vendor: V\n    category: c\n"
			 "    domains: [%s.com]\n", label);
		load_text(yaml, path, sizeof(path), err, sizeof(err));
		assert_error(err, path, 5, "unknown category"); /* the domain was fine */
		label[63] = 'a';
		label[64] = '\0';
		snprintf(yaml, sizeof(yaml),
			 "apps:\n  - slug: a\n    name: A\n    vendor: V\n    category: c\n"
			 "    domains: [%s.com]\n", label);
		load_text(yaml, path, sizeof(path), err, sizeof(err));
		assert_error(err, path, 6, "has a label longer than 63 characters");

		/* 4 x (61 + dot) = 248, plus "abcd" = 252, plus "e" = 253 */
		memset(name, 0, sizeof(name));
		for (int k = 0; k < 4; k++) {
			memset(name + k * 62, 'x', 61);
			name[k * 62 + 61] = '.';
		}
		memcpy(name + 248, "abcde", 5);
		assert_int_equal(strlen(name), 253);
		snprintf(yaml, sizeof(yaml),
			 "apps:\n  - slug: a\n    name: A\n    vendor: V\n    category: c\n"
			 "    domains: [%s]\n", name);
		load_text(yaml, path, sizeof(path), err, sizeof(err));
		assert_error(err, path, 5, "unknown category");
		name[253] = 'f';
		snprintf(yaml, sizeof(yaml),
			 "apps:\n  - slug: a\n    name: A\n    vendor: V\n    category: c\n"
			 "    domains: [%s]\n", name);
		load_text(yaml, path, sizeof(path), err, sizeof(err));
		assert_error(err, path, 6, "is longer than 253 characters");
	}
	for (size_t i = 0; i < sizeof(cidrs) / sizeof(cidrs[0]); i++) {
		snprintf(yaml, sizeof(yaml),
			 "categories: [{slug: c, name: C}]\napps:\n  - slug: a\n    name: A\n"
			 "    vendor: V\n    category: c\n    ip_ranges:\n      - %s\n",
			 cidrs[i].value);
		load_text(yaml, path, sizeof(path), err, sizeof(err));
		if (!cidrs[i].reason) {
			if (err[0])
				fail_msg("%s: %s", cidrs[i].value, err);
			continue;
		}
		assert_error(err, path, 8, cidrs[i].reason);
	}
}

static void
test_small_files(void **state)
{
	char path[256], err[1024];
	(void)state;

	/* empty files, empty lists and comments are fine */
	assert_string_equal(load_text("", path, sizeof(path), err, sizeof(err)), "");
	assert_string_equal(load_text("# nothing yet\n", path, sizeof(path), err, sizeof(err)), "");
	assert_string_equal(load_text("---\n", path, sizeof(path), err, sizeof(err)), "");
	assert_string_equal(load_text("apps:\ncategories: []\n", path, sizeof(path), err,
				      sizeof(err)), "");
	/* but the top level is checked */
	load_text("apps: []\napps: []\n", path, sizeof(path), err, sizeof(err));
	assert_error(err, path, 2, "key \"apps\" given twice at the top level");
	load_text("just text\n", path, sizeof(path), err, sizeof(err));
	assert_error(err, path, 1, "the top level must be a mapping");
	load_text("apps: [x]\n", path, sizeof(path), err, sizeof(err));
	assert_error(err, path, 1, "an app must be a mapping");
	load_text("categories:\n  - slug: c\n    name: \"\"\n", path, sizeof(path), err,
		  sizeof(err));
	assert_error(err, path, 3, "\"name\" must not be empty");
	load_text("categories:\n  - slug: c\n    name: [C]\n", path, sizeof(path), err,
		  sizeof(err));
	assert_error(err, path, 3, "\"name\" must be a string, not a list");
	load_text("categories:\n  - {slug: c, name: C}\n  - slug: d\n    name: \"a\\0b\"\n", path,
		  sizeof(path), err, sizeof(err));
	assert_error(err, path, 4, "control character");
	load_text("categories:\n  - slug: c\n    name: C\napps:\n  - slug: a\n    name: A\n"
		  "    vendor: V\n    category: c\n    ndpi: [\"Google Docs\"]\n",
		  path, sizeof(path), err, sizeof(err));
	assert_error(err, path, 9, "nDPI protocol \"Google Docs\" must be");
	/* a multi-line description is fine, a multi-line name is not */
	assert_string_equal(load_text("categories:\n  - slug: c\n    name: C\n"
				      "    description: \"two\\nlines\"\n",
				      path, sizeof(path), err, sizeof(err)), "");
	load_text("categories:\n  - slug: c\n    name: \"two\\nlines\"\n", path, sizeof(path),
		  err, sizeof(err));
	assert_error(err, path, 3, "control character");
	/* a tag or an anchor on an empty value (which has no position of
	 * its own) still gets a line */
	load_text("categories:\n  - slug: c\n    name: !!str\n", path, sizeof(path), err,
		  sizeof(err));
	assert_error(err, path, 3, "tags are not supported");
	load_text("categories:\n  - slug: c\n\n    name: &x\n", path, sizeof(path), err,
		  sizeof(err));
	assert_error(err, path, 4, "anchors and aliases are not supported");
	/* nesting is bounded before libfyaml buffers it; brackets in
	 * quotes and comments do not count */
	{
		char deep[2048], brackets[41];
		memset(brackets, '[', 40);
		brackets[40] = '\0';
		snprintf(deep, sizeof(deep), "categories:\n  - slug: c\n    name: \"%s\"\n"
			 "    description: '%s it''s'  # %s\n# %s\napps: %s\n",
			 brackets, brackets, brackets, brackets, brackets);
		load_text(deep, path, sizeof(path), err, sizeof(err));
		assert_error(err, path, 6, "YAML nested too deeply");
		snprintf(deep, sizeof(deep), "categories:\n  - slug: c\n    name: \"%s\\\" \"\n"
			 "    description: '%s it''s'  # %s\n# %s\n",
			 brackets, brackets, brackets, brackets);
		assert_string_equal(load_text(deep, path, sizeof(path), err, sizeof(err)), "");
	}
	{
		static const char nul[] = "categories: []\n# a NUL \0 in a comment\n";
		load_bytes(nul, sizeof(nul) - 1, path, sizeof(path), err, sizeof(err));
		assert_error(err, path, 2, "NUL byte in the file");
	}
	/* a syntax error late in the file names its line */
	load_text("categories:\n  - slug: c\n    name: C\n  - slug: d\n    name: \"D\n", path,
		  sizeof(path), err, sizeof(err));
	assert_error(err, path, 5, "YAML syntax error");
}

static void
test_lifecycle(void **state)
{
	sig_db *db = sig_db_new();
	char err[512];
	(void)state;

	/* I/O errors name the path (there is no line) */
	assert_int_equal(sig_db_load_path(db, DATA "/no-such-file.yaml", err, sizeof(err)), -1);
	assert_string_equal(err, DATA "/no-such-file.yaml: cannot open: No such file or directory");

	assert_int_equal(sig_db_load_path(db, DATA "/good/categories.yaml", err, sizeof(err)), 0);
	assert_int_equal(sig_db_load_path(db, DATA "/good/apps/slack.yml", NULL, 0), 0);
	/* nothing matches before finalize */
	assert_null(sig_match_name(db, "slack.com", NULL));
	assert_null(sig_match_ndpi(db, "Slack"));
	assert_int_equal(sig_db_finalize(db, err, sizeof(err)), 0);
	assert_string_equal(sig_match_name(db, "slack.com", NULL)->slug, "slack");
	/* once only, and no loading after it */
	assert_int_equal(sig_db_finalize(db, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "already finalized"));
	assert_int_equal(sig_db_load_path(db, DATA "/good/apps/google.yaml", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "already finalized"));
	assert_string_equal(sig_match_name(db, "slack.com", NULL)->slug, "slack");
	sig_db_free(db);
	sig_db_free(NULL);

	/* a tiny error buffer truncates but stays a string */
	db = sig_db_new();
	memset(err, 'x', sizeof(err));
	assert_int_equal(sig_db_load_path(db, DATA "/bad/dup-key.yaml", err, 16), -1);
	assert_int_equal(strlen(err), 15);
	sig_db_free(db);

	/* an empty database finalizes and matches nothing */
	db = sig_db_new();
	assert_int_equal(sig_db_finalize(db, err, sizeof(err)), 0);
	assert_null(sig_match_name(db, "slack.com", NULL));
	sig_db_free(db);
}

static void
test_default_dir(void **state)
{
	(void)state;

	assert_int_equal(setenv("SHADOWMAP_SIGNATURES", "/somewhere/else", 1), 0);
	assert_string_equal(sig_default_dir(), "/somewhere/else");
	assert_int_equal(setenv("SHADOWMAP_SIGNATURES", "", 1), 0);
	assert_string_equal(sig_default_dir(), SOURCE_DIR "/signatures");
	assert_int_equal(unsetenv("SHADOWMAP_SIGNATURES"), 0);
	assert_string_equal(sig_default_dir(), SOURCE_DIR "/signatures");
}

/* ---- the real signatures --------------------------------------------- */

/* The longest prefix among app's ranges that holds addr (0: none). */
static unsigned
app_longest_range(const struct sig_app *app, const struct sm_addr *addr)
{
	unsigned best = 0;

	for (size_t i = 0; i < app->n_ranges; i++) {
		struct ref_range r = { app->ranges[i].base, app->ranges[i].prefix_len, 0 };
		if (ref_contains(&r, addr) && r.prefix_len >= best)
			best = r.prefix_len ? r.prefix_len : 1;
	}
	return best;
}

static void
test_real_signatures(void **state)
{
	static const struct {
		const char *slug, *name;
	} certain[] = {
		{ "slack", "slack.com" },	     { "slack", "app.slack.com" },
		{ "dropbox", "www.dropbox.com" },   { "zoom", "us02web.zoom.us" },
		{ "github", "github.com" },	     { "box", "app.box.com" },
		{ "salesforce", "login.salesforce.com" },
		{ "notion", "www.notion.so" },	     { "wetransfer", "wetransfer.com" },
		{ "chatgpt", "chatgpt.com" },	     { "trello", "trello.com" },
	};
	const char *dir = SOURCE_DIR "/signatures";
	struct stat st;
	char err[1024];
	sig_db *db;
	(void)state;

	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		skip();
	db = sig_db_new();
	if (sig_db_load_path(db, dir, err, sizeof(err)) != 0)
		fail_msg("signatures: %s", err);
	if (sig_db_app_count(db) == 0) {
		sig_db_free(db);
		skip();
	}
	if (sig_db_finalize(db, err, sizeof(err)) != 0)
		fail_msg("signatures: %s", err);

	/* every entry finds its own app back */
	for (size_t i = 0; i < sig_db_app_count(db); i++) {
		const struct sig_app *app = sig_db_app(db, i);
		assert_non_null(sig_db_find_category(db, app->category));
		for (size_t d = 0; d < app->n_domains; d++) {
			char sub[300];
			const char *matched = NULL;
			if (sig_match_name(db, app->domains[d], &matched) != app)
				fail_msg("%s: domain %s does not match it", app->slug,
					 app->domains[d]);
			assert_string_equal(matched, app->domains[d]);
			snprintf(sub, sizeof(sub), "zz-test.%s", app->domains[d]);
			if (sig_match_name(db, sub, NULL) != app)
				fail_msg("%s: %s does not match it", app->slug, sub);
		}
		for (size_t k = 0; k < app->n_ndpi; k++)
			if (sig_match_ndpi(db, app->ndpi[k]) != app)
				fail_msg("%s: nDPI %s does not match it", app->slug, app->ndpi[k]);
		for (size_t r = 0; r < app->n_ranges; r++) {
			const struct sig_app *got = sig_match_addr(db, &app->ranges[r].base);
			/* another app may own a more specific range inside */
			if (!got || app_longest_range(got, &app->ranges[r].base) <
					    app->ranges[r].prefix_len)
				fail_msg("%s: range %zu matches %s", app->slug, r,
					 got ? got->slug : "nothing");
		}
	}
	for (size_t i = 0; i < sizeof(certain) / sizeof(certain[0]); i++) {
		if (!sig_db_find_app(db, certain[i].slug))
			continue; /* content is still being written */
		assert_slug(name_slug(db, certain[i].name), certain[i].slug, certain[i].name);
	}
	if (sig_db_find_app(db, "slack"))
		assert_slug(name_slug(db, "notslack.com"), NULL, "notslack.com");
	sig_db_free(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_names),
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_match_addr),
		cmocka_unit_test(test_match_addr_edges),
		cmocka_unit_test(test_match_addr_random),
		cmocka_unit_test(test_no_allocation_in_match),
		cmocka_unit_test(test_bad_fixtures),
		cmocka_unit_test(test_bad_fixtures_all_listed),
		cmocka_unit_test(test_errors_not_printed),
		cmocka_unit_test(test_dir_duplicate_across_files),
		cmocka_unit_test(test_dir_order),
		cmocka_unit_test(test_domain_and_cidr_variants),
		cmocka_unit_test(test_small_files),
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_default_dir),
		cmocka_unit_test(test_real_signatures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
