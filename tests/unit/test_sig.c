/*
 * Unit tests of the signature database: loading the fixtures of
 * tests/unit/data/sig (good ones and one broken file per error class, each
 * error checked to the file and line), risk facts, local overrides, lint
 * mode (every problem, once), directory order, the matchers against
 * hand-picked cases and a brute-force reference, and the real signatures/
 * directory when it has content.
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

/* The app name gives and the entry or pattern it matched by. */
static void
assert_match(const sig_db *db, const char *name, const char *slug, const char *by,
	     const char *what)
{
	const char *matched = NULL;
	const struct sig_app *app = sig_match_name(db, name, &matched);
	assert_slug(app ? app->slug : NULL, slug, what);
	if (!matched || strcmp(matched, by) != 0)
		fail_msg("%s: matched by %s, want %s", what, matched ? matched : "(none)", by);
}

/* Writes len bytes to a fresh file under TMPDIR; its name goes to path. */
static void
write_bytes(const char *data, size_t len, char *path, size_t path_size)
{
	static unsigned seq;
	int n = snprintf(path, path_size, "%s/test_sig_%ld_%u.yaml",
			 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid(), seq++);
	FILE *f;

	assert_true(n > 0 && (size_t)n < path_size);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Loads len bytes from a fresh file and returns the error ("" if none);
 * the file name is written into path. */
static const char *
load_bytes(const char *data, size_t len, char *path, size_t path_size, char *err,
	   size_t errlen)
{
	sig_db *db = sig_db_new();

	write_bytes(data, len, path, path_size);
	err[0] = '\0';
	if (sig_db_load_path(db, path, err, errlen) == 0)
		(void)sig_db_finalize(db, err, errlen);
	sig_db_free(db);
	unlink(path);
	return err;
}

static void
write_text(const char *text, char *path, size_t path_size)
{
	write_bytes(text, strlen(text), path, path_size);
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
	/* risk facts */
	{ "risk-no-source.yaml", AT_LOAD, 11,
	  "risk fact \"mfa\" has no \"source\" (every fact names the https page" },
	{ "risk-http-source.yaml", AT_LOAD, 10,
	  "source \"http://askbot.example/security\" of risk fact \"mfa\" must be an https:// URL" },
	{ "risk-source-host.yaml", AT_LOAD, 10,
	  "source \"https://192.0.2.1/security\" of risk fact \"mfa\" must have a domain name as host" },
	{ "risk-unknown-fact.yaml", AT_LOAD, 10,
	  "unknown key \"sos\" in risk (expected hq_country, sso, mfa, certifications, "
	  "data_residency, trains_on_customer_data, e2ee, public_link_sharing)" },
	{ "risk-no-value.yaml", AT_LOAD, 10, "risk fact \"mfa\" has no \"value\"" },
	{ "risk-fact-unknown-key.yaml", AT_LOAD, 13,
	  "unknown key \"chekced\" in risk fact \"mfa\" (expected value, source, checked, note)" },
	{ "risk-fact-scalar.yaml", AT_LOAD, 10,
	  "risk fact \"mfa\" must be a mapping {value: ..., source: https://...}" },
	{ "risk-not-mapping.yaml", AT_LOAD, 10, "\"risk\" must be a mapping of facts" },
	{ "risk-bad-country.yaml", AT_LOAD, 10,
	  "hq_country \"UK\" is not an ISO 3166-1 alpha-2 country code (the United Kingdom is GB)" },
	{ "risk-country-lower.yaml", AT_LOAD, 10, "hq_country \"us\" must be upper case (US)" },
	{ "risk-bool-type.yaml", AT_LOAD, 10, "value of risk fact \"mfa\" must be yes or no" },
	{ "risk-bool-word.yaml", AT_LOAD, 10,
	  "value of risk fact \"e2ee\" must be yes or no, not \"maybe\"" },
	{ "risk-trains-word.yaml", AT_LOAD, 10,
	  "value of risk fact \"trains_on_customer_data\" must be yes, no or opt-out, not \"sometimes\"" },
	{ "risk-list-scalar.yaml", AT_LOAD, 10,
	  "value of risk fact \"sso\" must be a list (saml, oidc) or none" },
	{ "risk-empty-list.yaml", AT_LOAD, 10,
	  "value of risk fact \"sso\" is an empty list: write none to state that there is none" },
	{ "risk-none-in-list.yaml", AT_LOAD, 10,
	  "none in the list of risk fact \"data_residency\": write none alone" },
	{ "risk-dup-item.yaml", AT_LOAD, 14, "\"saml\" is listed twice in risk fact \"sso\"" },
	{ "risk-unknown-cert.yaml", AT_LOAD, 11,
	  "unknown certification \"iso-27001\" (expected soc1, soc2, soc3, iso27001," },
	{ "risk-residency-uk.yaml", AT_LOAD, 10,
	  "data_residency \"uk\" is not a region: the United Kingdom is gb" },
	{ "risk-bad-date.yaml", AT_LOAD, 10,
	  "checked \"2025-02-30\" of risk fact \"mfa\" must be a date YYYY-MM-DD" },
	{ "risk-dup-fact.yaml", AT_LOAD, 11, "key \"mfa\" given twice in risk" },
	/* what only local files may do */
	{ "take-domains-builtin.yaml", AT_LOAD, 9, "unknown key \"take_domains\" in app" },
	{ "overrides-builtin.yaml", AT_LOAD, 3,
	  "\"overrides\" belong in local signature files (signatures-local)" },
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

/* ---- risk facts ------------------------------------------------------ */

static void
test_risk_facts(void **state)
{
	sig_db *db = load_ok(DATA "/risk");
	const struct sig_app *ask = sig_db_find_app(db, "askbot");
	const struct sig_app *drop = sig_db_find_app(db, "dropzone");
	const struct sig_app *chart = sig_db_find_app(db, "chartly");
	const struct sig_fact *f;
	(void)state;

	assert_non_null(ask);
	assert_non_null(drop);
	assert_non_null(chart);

	f = &ask->risk[SIG_FACT_HQ_COUNTRY];
	assert_true(f->known);
	assert_string_equal(f->country, "US");
	assert_string_equal(f->source, "https://askbot.example/about");
	assert_null(f->checked);
	assert_null(f->note);
	f = &ask->risk[SIG_FACT_SSO];
	assert_int_equal(f->n_items, 2);
	assert_string_equal(f->items[0], "saml");
	assert_string_equal(f->items[1], "oidc");
	assert_true(sig_fact_has(f, "oidc"));
	assert_false(sig_fact_has(f, "ldap"));
	assert_int_equal(ask->risk[SIG_FACT_MFA].answer, SIG_YES);
	f = &ask->risk[SIG_FACT_CERTIFICATIONS];
	assert_int_equal(f->n_items, 3);
	assert_string_equal(f->items[2], "iso42001");
	assert_string_equal(f->checked, "2025-03-01");
	f = &ask->risk[SIG_FACT_DATA_RESIDENCY];
	assert_true(sig_fact_has(f, "eu"));
	assert_string_equal(f->source,
			    "https://askbot.example/docs/data-residency?plan=enterprise#regions");
	assert_string_equal(f->note, "EU residency on the Enterprise plan only");
	assert_int_equal(ask->risk[SIG_FACT_TRAINS_ON_CUSTOMER_DATA].answer, SIG_OPT_OUT);
	assert_true(ask->risk[SIG_FACT_E2EE].known);
	assert_int_equal(ask->risk[SIG_FACT_E2EE].answer, SIG_NO);
	assert_int_equal(ask->risk[SIG_FACT_PUBLIC_LINK_SHARING].answer, SIG_YES); /* true */

	/* "none" is known and empty; an absent key is unknown */
	f = &drop->risk[SIG_FACT_SSO];
	assert_true(f->known);
	assert_int_equal(f->n_items, 0);
	assert_false(sig_fact_has(f, "saml"));
	assert_true(drop->risk[SIG_FACT_CERTIFICATIONS].known);
	assert_false(drop->risk[SIG_FACT_TRAINS_ON_CUSTOMER_DATA].known);
	assert_null(drop->risk[SIG_FACT_TRAINS_ON_CUSTOMER_DATA].source);
	assert_false(drop->risk[SIG_FACT_E2EE].known);
	for (int i = 0; i < SIG_FACT_COUNT; i++)
		assert_false(chart->risk[i].known);
	/* plain local apps are neither local nor overridden */
	assert_false(ask->local);
	assert_false(ask->overridden);

	/* the schema's names and types */
	assert_string_equal(sig_fact_name(SIG_FACT_HQ_COUNTRY), "hq_country");
	assert_string_equal(sig_fact_name(SIG_FACT_TRAINS_ON_CUSTOMER_DATA),
			    "trains_on_customer_data");
	assert_string_equal(sig_fact_name(SIG_FACT_PUBLIC_LINK_SHARING), "public_link_sharing");
	assert_null(sig_fact_name(SIG_FACT_COUNT));
	assert_int_equal(sig_fact_type(SIG_FACT_SSO), SIG_FACT_LIST);
	assert_int_equal(sig_fact_type(SIG_FACT_MFA), SIG_FACT_BOOL);
	assert_int_equal(sig_fact_type(SIG_FACT_TRAINS_ON_CUSTOMER_DATA), SIG_FACT_TRAINING);
	assert_int_equal(sig_fact_type(SIG_FACT_HQ_COUNTRY), SIG_FACT_COUNTRY);
	assert_int_equal(sig_fact_type(SIG_FACT_COUNT), -1);
	assert_false(sig_fact_has(NULL, "saml"));
	sig_db_free(db);
}

/* One fact in a file of its own: accepted (reason NULL) or the error. */
static void
check_fact(const char *fact, const char *reason)
{
	char yaml[4096], path[256], err[1024];

	snprintf(yaml, sizeof(yaml),
		 "categories: [{slug: c, name: C}]\napps:\n  - slug: a\n    name: A\n"
		 "    vendor: V\n    category: c\n    domains: [a.example]\n    risk:\n"
		 "      %s\n", fact);
	load_text(yaml, path, sizeof(path), err, sizeof(err));
	if (!reason) {
		if (err[0])
			fail_msg("%s: %s", fact, err);
		return;
	}
	assert_error(err, path, 9, reason);
}

static void
test_fact_variants(void **state)
{
	static const struct {
		const char *fact, *reason;
	} cases[] = {
		/* sources */
		{ "mfa: {value: yes, source: \"https://a.example\"}", NULL },
		{ "mfa: {value: yes, source: \"https://a.example/x?y=1&z=%20#f\"}", NULL },
		{ "mfa: {value: yes, source: \"https://sub_1.a-b.example/\"}", NULL },
		{ "mfa: {value: yes, source: \"HTTPS://a.example/\"}", "must be an https:// URL" },
		{ "mfa: {value: yes, source: \"ftp://a.example/\"}", "must be an https:// URL" },
		{ "mfa: {value: yes, source: a.example/security}", "must be an https:// URL" },
		{ "mfa: {value: yes, source: \"https://\"}", "has no host" },
		{ "mfa: {value: yes, source: \"https:///x\"}", "has no host" },
		{ "mfa: {value: yes, source: \"https://A.example/\"}", "must have a lower-case host" },
		{ "mfa: {value: yes, source: \"https://u@a.example/\"}", "must not hold a user name" },
		{ "mfa: {value: yes, source: \"https://a.example:8443/\"}", "must not name a port" },
		{ "mfa: {value: yes, source: \"https://localhost/\"}", "must have a domain name as host" },
		{ "mfa: {value: yes, source: \"https://[2001:db8::1]/\"}", "must have a domain name as host" },
		{ "mfa: {value: yes, source: \"https://a.example/a b\"}", "printable ASCII without spaces" },
		{ "mfa: {value: yes, source: \"https://a.example/\\u00e4\"}", "printable ASCII" },
		{ "mfa: {value: yes, source: \"https://a.example/<x>\"}", "printable ASCII" },
		{ "mfa: {value: yes, source: \"\"}", "\"source\" must not be empty" },
		{ "mfa: {value: yes, source: [\"https://a.example\"]}", "\"source\" must be a string" },
		/* values */
		{ "mfa: {value: no, source: \"https://a.example\"}", NULL },
		{ "mfa: {value: false, source: \"https://a.example\"}", NULL },
		{ "mfa: {value: Yes, source: \"https://a.example\"}", "must be yes or no, not \"Yes\"" },
		{ "mfa: {value: \"\", source: \"https://a.example\"}", "must be yes or no" },
		{ "mfa: {value: ~, source: \"https://a.example\"}", "must be yes or no" },
		{ "mfa: {value: opt-out, source: \"https://a.example\"}", "must be yes or no" },
		{ "trains_on_customer_data: {value: opt-out, source: \"https://a.example\"}", NULL },
		{ "hq_country: {value: NO, source: \"https://a.example\"}", NULL }, /* Norway */
		{ "hq_country: {value: GB, source: \"https://a.example\"}", NULL },
		{ "hq_country: {value: XX, source: \"https://a.example\"}", "is not an ISO 3166-1" },
		{ "hq_country: {value: USA, source: \"https://a.example\"}", "is not an ISO 3166-1" },
		{ "hq_country: {value: EL, source: \"https://a.example\"}", "(Greece is GR)" },
		{ "hq_country: {value: [US], source: \"https://a.example\"}",
		  "must be an ISO 3166-1 alpha-2 country code" },
		{ "sso: {value: [oidc], source: \"https://a.example\"}", NULL },
		{ "sso: {value: [SAML], source: \"https://a.example\"}", "unknown sso method \"SAML\"" },
		{ "sso: {value: [saml, [oidc]], source: \"https://a.example\"}",
		  "must be a list of names" },
		{ "sso: {value: {saml: yes}, source: \"https://a.example\"}", "must be a list" },
		{ "certifications: {value: none, source: \"https://a.example\"}", NULL },
		{ "certifications: {value: [c5, hds, iso27017, iso27018], source: \"https://a.example\"}",
		  NULL },
		{ "certifications: {value: [hipaa], source: \"https://a.example\"}",
		  "unknown certification \"hipaa\"" },
		{ "data_residency: {value: [eu, us, gb, ch, au, jp, in], source: \"https://a.example\"}",
		  NULL },
		{ "data_residency: {value: none, source: \"https://a.example\"}", NULL },
		{ "data_residency: {value: [EU], source: \"https://a.example\"}", "must be lower case" },
		{ "data_residency: {value: [DE], source: \"https://a.example\"}", "must be lower case" },
		{ "data_residency: {value: [emea], source: \"https://a.example\"}", "is not a region" },
		{ "data_residency: {value: [xx], source: \"https://a.example\"}", "is not a region" },
		{ "data_residency: {value: None, source: \"https://a.example\"}", "must be a list" },
		/* the other keys of a fact */
		{ "mfa: {value: yes, source: \"https://a.example\", checked: 2024-02-29, note: On all plans}",
		  NULL },
		{ "mfa: {value: yes, source: \"https://a.example\", checked: 2023-02-29}",
		  "must be a date" },
		{ "mfa: {value: yes, source: \"https://a.example\", checked: 2025-1-5}", "must be a date" },
		{ "mfa: {value: yes, source: \"https://a.example\", checked: 1999-12-31}", "must be a date" },
		{ "mfa: {value: yes, source: \"https://a.example\", note: \"two\\nlines\"}",
		  "\"note\" holds a control character" },
		{ "mfa: {}", "risk fact \"mfa\" has no \"value\"" },
		{ "mfa: ~", "risk fact \"mfa\" must be a mapping" },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_fact(cases[i].fact, cases[i].reason);
	{
		/* a URL of 2048 bytes passes, one more does not */
		char fact[2200], url[2100];
		memset(url, 'x', sizeof(url));
		memcpy(url, "https://a.example/", 18);
		url[2048] = '\0';
		snprintf(fact, sizeof(fact), "mfa: {value: yes, source: \"%s\"}", url);
		check_fact(fact, NULL);
		url[2048] = 'x';
		url[2049] = '\0';
		snprintf(fact, sizeof(fact), "mfa: {value: yes, source: \"%s\"}", url);
		check_fact(fact, "is longer than 2048 bytes");
	}
}

/* Every code of the iso-codes package (when installed) is accepted, as a
 * headquarters country and as a region, and the list holds no other. */
static void
test_country_codes(void **state)
{
	FILE *f = fopen("/usr/share/iso-codes/json/iso_3166-1.json", "r");
	static char json[1 << 20];
	char *yaml, path[256], err[1024];
	size_t len, n_codes = 0, o;
	(void)state;

	if (!f)
		skip();
	len = fread(json, 1, sizeof(json) - 1, f);
	fclose(f);
	json[len] = '\0';
	yaml = malloc(64 * 1024);
	assert_non_null(yaml);
	o = (size_t)snprintf(yaml, 64 * 1024,
			     "categories: [{slug: c, name: C}]\napps:\n  - slug: a\n    name: A\n"
			     "    vendor: V\n    category: c\n    domains: [a.example]\n    risk:\n"
			     "      data_residency:\n        source: \"https://a.example\"\n"
			     "        value:\n");
	for (const char *p = json; (p = strstr(p, "\"alpha_2\": \"")) != NULL; p += 12) {
		char lower[3] = { (char)(p[12] - 'A' + 'a'), (char)(p[13] - 'A' + 'a'), '\0' };
		char fact[128];
		o += (size_t)snprintf(yaml + o, 64 * 1024 - o, "          - %s\n", lower);
		snprintf(fact, sizeof(fact), "hq_country: {value: %.2s, source: \"https://a.example\"}",
			 p + 12);
		check_fact(fact, NULL);
		n_codes++;
	}
	assert_int_equal(n_codes, 249);
	load_text(yaml, path, sizeof(path), err, sizeof(err));
	if (err[0])
		fail_msg("all regions: %s", err);
	free(yaml);
	/* and a few that are not assigned */
	check_fact("hq_country: {value: XK, source: \"https://a.example\"}", "is not an ISO");
	check_fact("hq_country: {value: AA, source: \"https://a.example\"}", "is not an ISO");
	check_fact("hq_country: {value: ZZ, source: \"https://a.example\"}", "is not an ISO");
}

/* ---- local overrides ------------------------------------------------- */

#define EX_HEAD "categories:\n  - {slug: c, name: C}\napps:\n"

static void
test_exclude_domains(void **state)
{
	char path[256], local[256], err[1024];
	(void)state;

	/* hosts carved out of an app match nothing, with what is under them;
	 * the rest of the app's domains, and other apps', still match */
	write_text(EX_HEAD
		   "  - slug: survey\n    name: S\n    vendor: V\n    category: c\n"
		   "    domains: [survey.example, survey-cdn.example]\n"
		   "    exclude_domains: [intercept.survey.example, js.survey-cdn.example]\n"
		   "  - slug: other\n    name: O\n    vendor: V\n    category: c\n"
		   "    domains: [deep.intercept.survey.example]\n",
		   path, sizeof(path));
	sig_db *db = load_ok(path);
	const char *matched = "x";
	assert_null(sig_match_name(db, "intercept.survey.example", &matched));
	assert_null(matched);
	assert_slug(name_slug(db, "zn1-acme.intercept.survey.example"), NULL, "under an exclusion");
	assert_slug(name_slug(db, "js.survey-cdn.example"), NULL, "second exclusion");
	assert_slug(name_slug(db, "survey.example"), "survey", "the app's domain");
	assert_slug(name_slug(db, "app.survey.example"), "survey", "another host of it");
	assert_slug(name_slug(db, "xintercept.survey.example"), "survey", "label boundary");
	assert_slug(name_slug(db, "img.survey-cdn.example"), "survey", "beside the exclusion");
	/* a longer domain of another app under the exclusion still wins */
	assert_slug(name_slug(db, "a.deep.intercept.survey.example"), "other", "longest suffix");
	const struct sig_app *a = sig_db_find_app(db, "survey");
	assert_int_equal(a->n_exclude_domains, 2);
	assert_string_equal(a->exclude_domains[0], "intercept.survey.example");
	sig_db_free(db);

	/* a local file may carve a host out of a built-in app */
	write_text("overrides:\n  - app: survey\n    exclude_domains: [img.survey-cdn.example]\n",
		   local, sizeof(local));
	db = sig_db_new();
	if (sig_db_load_path(db, path, err, sizeof(err)) != 0 ||
	    sig_db_load_overrides(db, local, err, sizeof(err)) != 0 ||
	    sig_db_finalize(db, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_slug(name_slug(db, "img.survey-cdn.example"), NULL, "excluded by a local file");
	assert_slug(name_slug(db, "survey-cdn.example"), "survey", "its parent stays");
	sig_db_free(db);
	unlink(local);
	unlink(path);

	/* what is wrong says so, with file and line */
#define EX_APP_A EX_HEAD "  - slug: a\n    name: A\n    vendor: V\n    category: c\n" \
		 "    domains: [a.example]\n"
	static const struct {
		const char *text;
		int line;
		const char *reason;
	} cases[] = {
		{ EX_APP_A "    exclude_domains: [b.example]\n", 9,
		  "exclude_domains: \"b.example\" is not under any domain of app \"a\"" },
		{ EX_APP_A "    exclude_domains: [x.a.example, x.a.example]\n", 9,
		  "excluded domain \"x.a.example\" is listed twice" },
		{ EX_APP_A "    exclude_domains: [a.example]\n", 9, "\"a.example\" is both a domain" },
		{ EX_APP_A "    exclude_domains: [\"x..a.example\"]\n", 9,
		  "excluded domain \"x..a.example\"" },
		{ EX_APP_A "    exclude_domains: x.a.example\n", 9,
		  "\"exclude_domains\" must be a list of domains" },
		/* an exclusion is a claim like a domain: no other app may list it */
		{ EX_APP_A "    exclude_domains: [x.a.example]\n"
			   "  - slug: b\n    name: B\n    vendor: V\n    category: c\n"
			   "    domains: [x.a.example]\n",
		  14, "domain \"x.a.example\" of app \"b\" is already excluded by app \"a\"" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		load_text(cases[i].text, path, sizeof(path), err, sizeof(err));
		assert_error(err, path, cases[i].line, cases[i].reason);
	}
#undef EX_APP_A
}

/* ---- label patterns -------------------------------------------------- */

#define PAT_APP(slug, rest) \
	"  - slug: " slug "\n    name: N\n    vendor: V\n    category: c\n" rest

static void
test_label_patterns(void **state)
{
	char path[256], local[256], err[1024];
	const char *matched;
	(void)state;

	write_text(EX_HEAD
		   PAT_APP("drive", "    domains: [\"*-my.share.example\", my-*.pre.example]\n"
				    "    exclude_domains: [cdn.acme-my.share.example]\n")
		   PAT_APP("share", "    domains: [share.example]\n")
		   PAT_APP("special", "    domains: [vip-my.share.example]\n")
		   PAT_APP("longer", "    domains: [\"*x-my.share.example\"]\n")
		   PAT_APP("orphan", "    domains: [\"*-tenant.unclaimed.example\"]\n"),
		   path, sizeof(path));
	sig_db *db = load_ok(path);

	/* the pattern outranks its parent's entry, for the host and below */
	assert_match(db, "contoso-my.share.example", "drive", "*-my.share.example", "pattern hit");
	assert_slug(name_slug(db, "a.b.contoso-my.share.example"), "drive", "under a pattern host");
	/* the parent's other labels stay with the parent */
	assert_match(db, "contoso.share.example", "share", "share.example", "parent, no pattern");
	assert_slug(name_slug(db, "contoso-admin.share.example"), "share", "other ending");
	assert_slug(name_slug(db, "share.example"), "share", "the parent itself");
	assert_slug(name_slug(db, "contoso-my-x.share.example"), "share", "literal mid-label");
	assert_slug(name_slug(db, "my.share.example"), "share", "no '-' before my");
	/* '*' is one character at least: the literal alone is no tenant */
	assert_slug(name_slug(db, "-my.share.example"), "share", "label is the literal");
	assert_slug(name_slug(db, "a.-my.share.example"), "share", "under the bare literal");
	/* only the label just left of the parent counts */
	assert_slug(name_slug(db, "contoso-my.x.share.example"), "share", "deeper label");
	/* a longer entry of another app wins, as in any longest suffix */
	assert_match(db, "vip-my.share.example", "special", "vip-my.share.example",
		     "exact beats pattern");
	assert_slug(name_slug(db, "a.vip-my.share.example"), "special", "under the exact entry");
	/* and so does the longer literal among patterns of one parent */
	assert_match(db, "bx-my.share.example", "longer", "*x-my.share.example", "longest literal");
	assert_slug(name_slug(db, "x-my.share.example"), "drive", "longer literal needs a tenant");
	/* an exclusion under the app's own pattern */
	matched = "x";
	assert_null(sig_match_name(db, "cdn.acme-my.share.example", &matched));
	assert_null(matched);
	assert_slug(name_slug(db, "z.cdn.acme-my.share.example"), NULL, "under the exclusion");
	assert_slug(name_slug(db, "www.acme-my.share.example"), "drive", "beside the exclusion");
	/* the prefix form, over a parent no app lists */
	assert_slug(name_slug(db, "my-acme.pre.example"), "drive", "prefix form");
	assert_slug(name_slug(db, "a.my-acme.pre.example"), "drive", "under the prefix form");
	assert_slug(name_slug(db, "my-.pre.example"), NULL, "prefix literal alone");
	assert_slug(name_slug(db, "xmy-acme.pre.example"), NULL, "prefix mid-label");
	assert_slug(name_slug(db, "pre.example"), NULL, "unlisted parent");
	assert_slug(name_slug(db, "acme-tenant.unclaimed.example"), "orphan", "suffix, unlisted");
	assert_slug(name_slug(db, "acme.unclaimed.example"), NULL, "unlisted parent's label");
	/* the entry stays as written, for whoever reads the app's domains */
	const struct sig_app *drive = sig_db_find_app(db, "drive");
	assert_int_equal(drive->n_domains, 2);
	assert_string_equal(drive->domains[0], "*-my.share.example");
#ifdef COUNT_ALLOCS
	n_allocs = 0;
	alloc_counting = 1;
	for (int i = 0; i < 100; i++) {
		(void)sig_match_name(db, "a.contoso-my.share.example", &matched);
		(void)sig_match_name(db, "a.contoso.share.example", &matched);
	}
	alloc_counting = 0;
	assert_int_equal(n_allocs, 0);
#endif
	sig_db_free(db);

	/* a local file may add a pattern to a built-in app, or take one */
	write_text("overrides:\n  - app: special\n    domains: [\"*-vip.share.example\"]\n"
		   "apps:\n" PAT_APP("corp-drive", "    take_domains: [my-*.pre.example]\n"),
		   local, sizeof(local));
	db = sig_db_new();
	if (sig_db_load_path(db, path, err, sizeof(err)) != 0 ||
	    sig_db_load_overrides(db, local, err, sizeof(err)) != 0 ||
	    sig_db_finalize(db, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_slug(name_slug(db, "my-acme.pre.example"), "corp-drive", "taken pattern");
	assert_slug(name_slug(db, "contoso-vip.share.example"), "special", "added pattern");
	assert_slug(name_slug(db, "contoso-my.share.example"), "drive", "pattern not taken");
	assert_true(sig_db_find_app(db, "drive")->overridden);
	sig_db_free(db);
	unlink(local);
	unlink(path);
}
/* "url1234.vendor.example" is mail link tracking, not use of the vendor */
static void
test_mail_link_hosts(void **state)
{
	char path[256];
	(void)state;

	write_text(EX_HEAD PAT_APP("vendor", "    domains: [vendor.example, url9.listed.example]\n"),
		   path, sizeof(path));
	sig_db *db = load_ok(path);

	assert_slug(name_slug(db, "url1234.vendor.example"), NULL, "link branding host");
	assert_slug(name_slug(db, "a.url1234.vendor.example"), "vendor", "only the leftmost label");
	assert_slug(name_slug(db, "url.vendor.example"), "vendor", "no digits");
	assert_slug(name_slug(db, "url12x.vendor.example"), "vendor", "not only digits");
	assert_slug(name_slug(db, "urls1.vendor.example"), "vendor", "another word");
	assert_slug(name_slug(db, "app.vendor.example"), "vendor", "the app's own host");
	assert_match(db, "url9.listed.example", "vendor", "url9.listed.example", "listed exactly");
	sig_db_free(db);
	unlink(path);
}

/* "instagram.*.cdn.example": the product's label over any per-site label */
static void
test_span_patterns(void **state)
{
	char path[256], err[1024];
	(void)state;

	write_text(EX_HEAD
		   PAT_APP("social", "    domains: [cdn.example]\n"
				     "    exclude_domains: [ads.*.cdn.example]\n")
		   PAT_APP("photos", "    domains: [photos.*.fna.cdn.example, \"*-ph.fna.cdn.example\"]\n")
		   PAT_APP("reels", "    domains: [reels.*.fna.cdn.example, reels.x1.fna.cdn.example]\n")
		   PAT_APP("clips", "    domains: [clips.*.unlisted.example]\n")
		   PAT_APP("vip", "    domains: [photos.vip.fna.cdn.example]\n"),
		   path, sizeof(path));
	sig_db *db = load_ok(path);

	assert_match(db, "photos.fra3-1.fna.cdn.example", "photos", "photos.*.fna.cdn.example",
		     "span hit");
	assert_slug(name_slug(db, "a.b.photos.fra3-1.fna.cdn.example"), "photos", "under a span host");
	assert_match(db, "reels.x1.fna.cdn.example", "reels", "reels.x1.fna.cdn.example",
		     "exact entry of the same app");
	assert_match(db, "reels.x2.fna.cdn.example", "reels", "reels.*.fna.cdn.example", "second span");
	/* the literal is the whole label, and it must be there */
	assert_slug(name_slug(db, "photosx.fra3-1.fna.cdn.example"), "social", "longer label");
	assert_slug(name_slug(db, "xphotos.fra3-1.fna.cdn.example"), "social", "label ends with it");
	assert_slug(name_slug(db, "fra3-1.fna.cdn.example"), "social", "no label left of the '*'");
	assert_slug(name_slug(db, "photos.fna.cdn.example"), "social", "no label for the '*'");
	assert_slug(name_slug(db, "photos.a.b.fna.cdn.example"), "social", "two labels for the '*'");
	/* two labels outrank one: the label pattern of the same parent, and a
	 * longer exact entry still wins */
	assert_match(db, "x-ph.fna.cdn.example", "photos", "*-ph.fna.cdn.example", "label pattern");
	assert_match(db, "photos.x-ph.fna.cdn.example", "photos", "photos.*.fna.cdn.example",
		     "span over the label pattern");
	assert_match(db, "photos.vip.fna.cdn.example", "vip", "photos.vip.fna.cdn.example",
		     "exact beats span");
	/* an excluded span, and a span over a parent no app lists */
	assert_slug(name_slug(db, "ads.fra3-1.cdn.example"), NULL, "excluded span");
	assert_slug(name_slug(db, "x.ads.fra3-1.cdn.example"), NULL, "under an excluded span");
	assert_slug(name_slug(db, "clips.a.unlisted.example"), "clips", "unlisted parent");
	assert_slug(name_slug(db, "a.unlisted.example"), NULL, "unlisted parent's label");
	sig_db_free(db);
	unlink(path);

	static const struct {
		const char *text;
		int line;
		const char *reason;
	} bad[] = {
		{ EX_HEAD PAT_APP("b", "    domains: [\"a.*x.example.com\"]\n"), 8,
		  "has a '*' after its first label (only the first label may be a pattern, or "
		  "the whole second label after a literal first one)" },
		{ EX_HEAD PAT_APP("b", "    domains: [\"a.b.*.example.com\"]\n"), 8,
		  "has a '*' after its first label" },
		{ EX_HEAD PAT_APP("b", "    domains: [\"*-a.*.example.com\"]\n"), 8,
		  "has more than one '*'" },
		{ EX_HEAD PAT_APP("b", "    domains: [\"a.*\"]\n"), 8,
		  "has a '*' after its first label" },
		{ EX_HEAD PAT_APP("b", "    domains: [\"A.*.example.com\"]\n"), 8,
		  "domain \"A.*.example.com\" is not lower case" },
		{ EX_HEAD PAT_APP("b", "    domains: [\"a.*.com\"]\n"), 8,
		  "is a label pattern over \"com\", which has a single label" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		load_text(bad[i].text, path, sizeof(path), err, sizeof(err));
		assert_error(err, path, bad[i].line, bad[i].reason);
	}
	/* an entry one label over the parent ranks one label below the span,
	 * an app's or an exclusion, and keeps the names the span does not fit */
	write_text(EX_HEAD
		   PAT_APP("b", "    domains: [cdn.example, \"p.*.cdn.example\"]\n"
				"    exclude_domains: [gone.cdn.example]\n")
		   PAT_APP("c", "    domains: [site.cdn.example]\n"),
		   path, sizeof(path));
	db = load_ok(path);
	assert_match(db, "p.site.cdn.example", "b", "p.*.cdn.example", "span over another app's entry");
	assert_match(db, "x.p.site.cdn.example", "b", "p.*.cdn.example", "under it");
	assert_match(db, "q.site.cdn.example", "c", "site.cdn.example", "the entry's other names");
	assert_match(db, "site.cdn.example", "c", "site.cdn.example", "the entry itself");
	assert_match(db, "p.gone.cdn.example", "b", "p.*.cdn.example", "span over an exclusion");
	assert_slug(name_slug(db, "q.gone.cdn.example"), NULL, "the exclusion's other names");
	sig_db_free(db);
	unlink(path);
}

static void
test_label_pattern_errors(void **state)
{
	/* a pattern of app a; each case adds to it */
#define PAT_A EX_HEAD PAT_APP("a", "    domains: [a.example, \"*-my.a.example\"]\n")
	static const struct {
		const char *text;
		int line;
		const char *reason;
	} cases[] = {
		/* the syntax: one '*', at an end of the first label, a literal
		 * beside it, a domain after it */
		{ PAT_A PAT_APP("b", "    domains: [\"a*b.example.com\"]\n"), 13,
		  "domain \"a*b.example.com\" has a '*' inside its first label" },
		{ PAT_A PAT_APP("b", "    domains: [\"**-my.example.com\"]\n"), 13,
		  "has more than one '*'" },
		{ PAT_A PAT_APP("b", "    domains: [\"*-my.*.example.com\"]\n"), 13,
		  "has more than one '*'" },
		{ PAT_A PAT_APP("b", "    domains: [\"x.*-my.example.com\"]\n"), 13,
		  "has a '*' after its first label" },
		{ PAT_A PAT_APP("b", "    domains: [\"*.*.example.com\"]\n"), 13,
		  "has more than one '*'" },
		{ PAT_A PAT_APP("b", "    domains: [\"*.example.com\"]\n"), 13,
		  "domain \"*.example.com\" has a wildcard (a domain already matches all names "
		  "under it; a label pattern needs a literal part" },
		{ PAT_A PAT_APP("b", "    domains: [\"*-my\"]\n"), 13,
		  "is a label pattern without a domain after its first label" },
		{ PAT_A PAT_APP("b", "    domains: [\"*-MY.example.com\"]\n"), 13,
		  "domain \"*-MY.example.com\" is not lower case" },
		{ PAT_A PAT_APP("b", "    domains: [\"*-m/y.example.com\"]\n"), 13,
		  "has a character other than" },
		/* the parent follows the rules of a domain: no pattern over a
		 * top-level domain, which would span everyone's names */
		{ PAT_A PAT_APP("b", "    domains: [\"*-my.com\"]\n"), 13,
		  "domain \"*-my.com\" is a label pattern over \"com\", which has a single label" },
		{ PAT_A PAT_APP("b", "    domains: [\"*-my.Example.com\"]\n"), 13,
		  "over \"Example.com\", which is not lower case" },
		{ PAT_A PAT_APP("b", "    domains: [\"*-my.example.123\"]\n"), 13,
		  "which ends in a numeric label" },
		/* unquoted, YAML reads an alias; the message says what to do */
		{ PAT_A PAT_APP("b", "    domains:\n      - *-my.example.com\n"), 14,
		  "quote a value that starts with '*'" },
		/* a pattern is claimed like a domain */
		{ PAT_A PAT_APP("b", "    domains: [\"*-my.a.example\"]\n"), 13,
		  "domain \"*-my.a.example\" of app \"b\" is already claimed by app \"a\"" },
		{ EX_HEAD PAT_APP("a", "    domains: [\"*-my.a.example\", \"*-my.a.example\"]\n"), 8,
		  "domain \"*-my.a.example\" is listed twice in this app" },
		/* an exclusion follows the same syntax (test_exclude_patterns
		 * has the rest); a host exclusion may lie under a pattern */
		{ PAT_A "    exclude_domains: [\"*.x.b.example\"]\n", 9,
		  "exclude_domains: pattern \"*.x.b.example\" is not under any domain of app \"a\"" },
		{ PAT_A "    exclude_domains: [\"*.com\"]\n", 9,
		  "excluded domain \"*.com\" is a label pattern over \"com\", which has a single label" },
		{ PAT_A "    exclude_domains: [\"x*y.a.example\"]\n", 9,
		  "excluded domain \"x*y.a.example\" has a '*' inside its first label" },
		{ PAT_A PAT_APP("b", "    domains: [b.example]\n"
				     "    exclude_domains: [x-my.a.example]\n"), 14,
		  "exclude_domains: \"x-my.a.example\" is not under any domain of app \"b\"" },
		/* equally long literals at opposite ends, in two apps: "a--b" fits
		 * both and neither is more specific */
		{ PAT_A PAT_APP("b", "    domains: [\"*-b.a.example\"]\n")
			PAT_APP("c", "    domains: [\"c-*.a.example\"]\n"), 18,
		  "pattern \"c-*.a.example\" of app \"c\" is as specific as pattern "
		  "\"*-b.a.example\" of app \"b\" (" },
		/* both ends in one app are fine; a third app's end still ties */
		{ PAT_A PAT_APP("b", "    domains: [\"*-b.a.example\", \"c-*.a.example\"]\n")
			PAT_APP("d", "    domains: [\"*-d.a.example\"]\n"), 13,
		  "pattern \"c-*.a.example\" of app \"b\" is as specific as pattern "
		  "\"*-d.a.example\" of app \"d\" (" },
		/* and names a label that fits both */
		{ PAT_A PAT_APP("b", "    domains: [\"*-b.a.example\"]\n")
			PAT_APP("c", "    domains: [\"c-*.a.example\"]\n"), 18,
		  "a label such as \"c--b\" fits both" },
	};
	char path[256], err[1024];
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		load_text(cases[i].text, path, sizeof(path), err, sizeof(err));
		assert_error(err, path, cases[i].line, cases[i].reason);
	}

	/* what is fine: a literal of 62 characters (63 with the '*'), an
	 * exclusion that is a whole host the pattern covers, both ends in one
	 * app, and literals of one end and one length in two apps */
	static const char *const good[] = {
		PAT_A "    exclude_domains: [old-my.a.example]\n",
		PAT_A PAT_APP("b", "    domains: [\"*-b.a.example\", \"c-*.a.example\"]\n"),
		PAT_A PAT_APP("b", "    domains: [\"*-ab.a.example\"]\n"),
		PAT_A PAT_APP("b", "    domains: [\"*-mx.a.example\"]\n"),
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		load_text(good[i], path, sizeof(path), err, sizeof(err));
		if (err[0])
			fail_msg("good case %zu: %s", i, err);
	}
	{
		char label[70], yaml[512];
		memset(label, 'a', sizeof(label));
		label[0] = '*';
		label[63] = '\0';
		snprintf(yaml, sizeof(yaml), "%s%s%s.example.com\"]\n", EX_HEAD,
			 PAT_APP("b", "    domains: [\""), label);
		load_text(yaml, path, sizeof(path), err, sizeof(err));
		if (err[0])
			fail_msg("63-character pattern label: %s", err);
		label[63] = 'a';
		label[64] = '\0';
		snprintf(yaml, sizeof(yaml), "%s%s%s.example.com\"]\n", EX_HEAD,
			 PAT_APP("b", "    domains: [\""), label);
		load_text(yaml, path, sizeof(path), err, sizeof(err));
		assert_error(err, path, 8, "has a label longer than 63 characters");
	}
#undef PAT_A
}

static void
test_overrides(void **state)
{
	char err[1024];
	sig_db *db = sig_db_new();
	const struct sig_app *slack, *docs, *sheets, *wiki, *search;
	(void)state;

	assert_int_equal(sig_db_load_path(db, DATA "/good", err, sizeof(err)), 0);
	if (sig_db_load_overrides(db, DATA "/local", err, sizeof(err)) != 0)
		fail_msg("local: %s", err);
	if (sig_db_finalize(db, err, sizeof(err)) != 0)
		fail_msg("finalize: %s", err);

	/* built-in apps keep their places; local apps come after them */
	assert_int_equal(sig_db_app_count(db), 8);
	assert_string_equal(sig_db_app(db, 6)->slug, "corp-wiki");
	assert_string_equal(sig_db_app(db, 7)->slug, "corp-sheets");
	assert_int_equal(sig_db_category_count(db), 5);
	assert_non_null(sig_db_find_category(db, "internal"));

	/* an override changes what it names and adds to the lists */
	slack = sig_db_find_app(db, "slack");
	assert_string_equal(slack->category, "office");
	assert_string_equal(slack->name, "Slack");
	assert_int_equal(slack->n_domains, 4);
	assert_string_equal(slack->domains[3], "slack.corp.example");
	assert_true(slack->overridden);
	assert_false(slack->local);
	assert_string_equal(slack->file, DATA "/good/apps/slack.yml"); /* where it was defined */
	assert_string_equal(slack->risk[SIG_FACT_SSO].source, "https://it.corp.example/vendors/slack");
	assert_slug(name_slug(db, "chat.slack.corp.example"), "slack", "added domain");
	assert_slug(name_slug(db, "slack.com"), "slack", "built-in domain");

	/* take_domains moved sheets.google.com, and only it */
	sheets = sig_db_find_app(db, "corp-sheets");
	docs = sig_db_find_app(db, "google-docs");
	assert_true(sheets->local);
	assert_int_equal(sheets->n_domains, 1);
	assert_int_equal(docs->n_domains, 1);
	assert_string_equal(docs->domains[0], "docs.google.com");
	assert_true(docs->overridden);
	assert_slug(name_slug(db, "sheets.google.com"), "corp-sheets", "taken domain");
	assert_slug(name_slug(db, "x.sheets.google.com"), "corp-sheets", "under a taken domain");
	assert_slug(name_slug(db, "docs.google.com"), "google-docs", "domain not taken");
	assert_slug(sig_match_ndpi(db, "GoogleDocs")->slug, "google-docs", "nDPI stays");

	wiki = sig_db_find_app(db, "corp-wiki");
	assert_true(wiki->local);
	assert_false(wiki->overridden);
	assert_string_equal(wiki->category, "internal");
	assert_string_equal(addr_slug(db, "10.9.1.1"), "corp-wiki");
	assert_string_equal(addr_slug(db, "10.8.1.1"), "bigcloud");

	/* the second local file, later in path order */
	search = sig_db_find_app(db, "google-search");
	assert_string_equal(search->name, "Google (search and sign-in)");
	assert_string_equal(search->category, "search");
	assert_true(search->overridden);

	/* untouched apps */
	assert_false(sig_db_find_app(db, "tenant")->overridden);
	sig_db_free(db);

	/* sig_db_open does the same in one call */
	db = sig_db_open(DATA "/good", DATA "/local", err, sizeof(err));
	if (!db)
		fail_msg("open: %s", err);
	assert_slug(name_slug(db, "sheets.google.com"), "corp-sheets", "open");
	sig_db_free(db);
	db = sig_db_open(DATA "/good", NULL, err, sizeof(err));
	assert_non_null(db);
	assert_slug(name_slug(db, "sheets.google.com"), "google-docs", "open without local");
	sig_db_free(db);
	assert_null(sig_db_open(DATA "/bad/dup-app.yaml", NULL, err, sizeof(err)));
	assert_error(err, DATA "/bad/dup-app.yaml", 8, "is already defined");
	assert_null(sig_db_open(DATA "/good", DATA "/no-such-dir", err, sizeof(err)));
	assert_string_equal(err, DATA "/no-such-dir: cannot open: No such file or directory");
}

static void collect_problem(void *arg, const char *problem);

struct problems {
	char lines[32][512];
	size_t n;
};

/* Loads good/ and then text as a local file; returns the first error ("" if
 * none). With lint, in lint mode: then every problem goes to *lint. */
static const char *
load_local_text_mode(const char *text, char *path, size_t path_size, char *err,
		     size_t errlen, struct problems *lint)
{
	static unsigned seq;
	sig_db *db = sig_db_new();
	int n = snprintf(path, path_size, "%s/test_sig_local_%ld_%u.yaml",
			 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid(), seq++);
	FILE *f;

	assert_true(n > 0 && (size_t)n < path_size);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	err[0] = '\0';
	if (lint)
		sig_db_set_problem_handler(db, collect_problem, lint);
	if (sig_db_load_path(db, DATA "/good", err, errlen) != 0)
		fail_msg("good: %s", err);
	if (sig_db_load_overrides(db, path, err, errlen) == 0 || lint)
		(void)sig_db_finalize(db, err, errlen);
	sig_db_free(db);
	unlink(path);
	return err;
}

static const char *
load_local_text(const char *text, char *path, size_t path_size, char *err, size_t errlen)
{
	return load_local_text_mode(text, path, path_size, err, errlen, NULL);
}

static void
test_override_errors(void **state)
{
	static const struct {
		const char *text;
		int line;
		const char *reason;
	} cases[] = {
		/* a slug collision by accident stays an error */
		{ "apps:\n  - slug: slack\n    name: Our Slack\n    vendor: V\n    category: chat\n"
		  "    domains: [chat.corp.example]\n",
		  2, "app \"slack\" is already defined (" DATA "/good/apps/slack.yml:3); to change a "
		     "built-in app, list it under overrides" },
		/* so does a domain claimed by a built-in app */
		{ "apps:\n  - slug: our-chat\n    name: Our chat\n    vendor: V\n    category: chat\n"
		  "    domains: [slack.com]\n",
		  6, "domain \"slack.com\" of app \"our-chat\" is already claimed by app \"slack\" (" DATA
		     "/good/apps/slack.yml:7); to move it to this app, list it under take_domains" },
		{ "overrides:\n  - app: slack\n    domains: [docs.google.com]\n", 3,
		  "domain \"docs.google.com\" of app \"slack\" is already claimed by app \"google-docs\" (" DATA
		  "/good/apps/google.yaml:13)" },
		{ "overrides:\n  - app: slack\n    domains: [slack.com]\n", 3,
		  "domain \"slack.com\" is listed twice in this app (" DATA "/good/apps/slack.yml:7)" },
		{ "overrides:\n  - app: slack\n    ndpi: [Slack]\n", 3,
		  "nDPI protocol \"Slack\" is listed twice in this app (" DATA "/good/apps/slack.yml:8)" },
		{ "overrides:\n  - app: slack\n    category: chatt\n", 3,
		  "app \"slack\": unknown category \"chatt\"" },
		{ "overrides:\n  - app: nope\n    category: chat\n", 2,
		  "app \"nope\" is not defined: an override changes a built-in app" },
		{ "overrides:\n  - category: chat\n", 2, "override has no \"app\"" },
		{ "overrides:\n  - app: [slack]\n    category: chat\n", 2,
		  "app (a list or mapping) of an override must be an app slug" },
		{ "overrides:\n  - app: slack\n", 2, "the override of app \"slack\" changes nothing" },
		{ "overrides:\n  - app: slack\n    name: A\n  - app: slack\n    vendor: B\n", 4,
		  "app \"slack\" is already overridden (" },
		{ "overrides:\n  - app: slack\n    slug: slack2\n", 3,
		  "unknown key \"slug\" in override (expected app, name, vendor, category, domains, "
		  "exclude_domains, take_domains, ip_ranges, ndpi, notes, risk)" },
		{ "overrides:\n  - app: slack\n    risk:\n      mfa: {value: yes}\n", 4,
		  "risk fact \"mfa\" has no \"source\"" },
		{ "overrides: [slack]\n", 1, "an override must be a mapping" },
		{ "apps:\n  - slug: mine\n    name: Mine\n    vendor: V\n    category: chat\n"
		  "    domains: [mine.example]\noverrides:\n  - app: mine\n    name: Still mine\n",
		  8, "app \"mine\" is a local app (" },
		{ "apps:\n  - slug: mine\n    name: Mine\n    vendor: V\n    category: chat\n"
		  "    take_domains: [unclaimed.example]\n",
		  6, "take_domains: domain \"unclaimed.example\" is not claimed by any other app" },
		{ "apps:\n  - slug: mine\n    name: Mine\n    vendor: V\n    category: chat\n"
		  "    domains: [slack.com]\n    take_domains: [slack.com]\n",
		  7, "domain \"slack.com\" is listed twice in this app (line 6)" },
		{ "apps:\n  - slug: mine\n    name: Mine\n    vendor: V\n    category: chat\n"
		  "    domains: [mine.example]\n"
		  "  - slug: yours\n    name: Yours\n    vendor: V\n    category: chat\n"
		  "    take_domains: [mine.example]\n",
		  11, "take_domains: domain \"mine.example\" belongs to local app \"mine\"" },
		{ "overrides:\n  - app: slack\n    take_domains: [slack.com]\n", 3,
		  "domain \"slack.com\" is listed twice in this app" },
		{ "apps: []\nextra: 1\n", 2,
		  "unknown key \"extra\" at the top level (expected categories, apps, overrides)" },
		{ "[1]\n", 1,
		  "the top level must be a mapping with \"categories\", \"apps\" and/or \"overrides\"" },
		{ "categories:\n  - slug: chat\n    name: Chat again\n", 2,
		  "category \"chat\" is already defined (" },
	};
	char path[256], err[1024];
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct problems lint;
		load_local_text(cases[i].text, path, sizeof(path), err, sizeof(err));
		assert_error(err, path, cases[i].line, cases[i].reason);
		/* lint mode finds the same problem first */
		memset(&lint, 0, sizeof(lint));
		load_local_text_mode(cases[i].text, path, sizeof(path), err, sizeof(err), &lint);
		assert_true(lint.n >= 1);
		assert_error(lint.lines[0], path, cases[i].line, cases[i].reason);
		assert_error(err, path, cases[i].line, cases[i].reason);
	}
	/* fine: take a built-in domain, override a built-in app's risk facts,
	 * add a category and use it in an override */
	assert_string_equal(load_local_text("categories: [{slug: corp, name: Corp}]\n"
					    "apps:\n  - slug: mine\n    name: Mine\n    vendor: V\n"
					    "    category: corp\n    take_domains: [slack.com]\n"
					    "overrides:\n  - app: tenant\n    category: corp\n"
					    "    ip_ranges: [10.2.0.0/16]\n"
					    "    risk: {e2ee: {value: no, source: \"https://t.example\"}}\n",
					    path, sizeof(path), err, sizeof(err)),
			    "");

	/* built-in files cannot come after local ones */
	{
		sig_db *db = sig_db_new();
		assert_int_equal(sig_db_load_overrides(db, DATA "/local/more", err, sizeof(err)), -1);
		assert_error(err, DATA "/local/more/names.yaml", 3,
			     "app \"google-search\" is not defined");
		assert_int_equal(sig_db_load_path(db, DATA "/good", err, sizeof(err)), -1);
		assert_string_equal(err, DATA "/good: built-in signatures must be loaded before the "
					      "local ones");
		sig_db_free(db);
	}
}

/* ---- exclusion patterns ---------------------------------------------- */

static void
test_exclude_patterns(void **state)
{
	char path[256], local[256], err[1024];
	const char *matched;
	(void)state;

	/* cloud carves its per-device hosts (pNN-fmip...) out of itself; vip
	 * lists one such host by name, drive a longer literal of the same
	 * parent, shop a shorter one */
	write_text(EX_HEAD
		   PAT_APP("cloud", "    domains: [cloud.example, cloud-content.example]\n"
				    "    exclude_domains: [\"*-fmip.cloud.example\",\n"
				    "      \"*-fmipmobile.cloud.example\", beta-*.sub.cloud.example]\n")
		   PAT_APP("vip", "    domains: [vip-fmip.cloud.example]\n")
		   PAT_APP("drive", "    domains: [\"*x-fmip.cloud.example\"]\n")
		   PAT_APP("shop", "    domains: [p1-*.cloud.example]\n"),
		   path, sizeof(path));
	sig_db *db = load_ok(path);

	/* a host the pattern fits, and every name under it, is no app */
	matched = "x";
	assert_null(sig_match_name(db, "p123-fmip.cloud.example", &matched));
	assert_null(matched);
	assert_slug(name_slug(db, "p45-fmipmobile.cloud.example"), NULL, "second pattern");
	assert_slug(name_slug(db, "a.b.p123-fmip.cloud.example"), NULL, "under an excluded host");
	/* its siblings under the parent stay the app's */
	assert_match(db, "p123-contacts.cloud.example", "cloud", "cloud.example", "sibling host");
	assert_slug(name_slug(db, "a.p123-contacts.cloud.example"), "cloud", "under a sibling");
	assert_slug(name_slug(db, "cloud.example"), "cloud", "the parent itself");
	assert_slug(name_slug(db, "p2-fmip-x.cloud.example"), "cloud", "literal mid-label");
	assert_slug(name_slug(db, "-fmip.cloud.example"), "cloud", "the literal alone");
	assert_slug(name_slug(db, "p2-fmip.x.cloud.example"), "cloud", "deeper label");
	assert_slug(name_slug(db, "p1-fmip.cloud-content.example"), "cloud", "other parent");
	/* an exact entry of another app is longer, and wins */
	assert_match(db, "vip-fmip.cloud.example", "vip", "vip-fmip.cloud.example",
		     "exact beats exclusion pattern");
	assert_slug(name_slug(db, "a.vip-fmip.cloud.example"), "vip", "under the exact entry");
	/* among one parent's patterns the longest literal wins, excluded or not */
	assert_match(db, "ax-fmip.cloud.example", "drive", "*x-fmip.cloud.example",
		     "longer domain pattern");
	assert_slug(name_slug(db, "p1-shop.cloud.example"), "shop", "shorter domain pattern");
	assert_slug(name_slug(db, "p1-fmip.cloud.example"), NULL, "beats a shorter one");
	/* the prefix form, over a parent no app lists: names that do not fit
	 * fall through to the app's domain */
	assert_slug(name_slug(db, "beta-1.sub.cloud.example"), NULL, "prefix form");
	assert_slug(name_slug(db, "x.beta-1.sub.cloud.example"), NULL, "under the prefix form");
	assert_slug(name_slug(db, "alpha.sub.cloud.example"), "cloud", "beside the prefix form");
	assert_slug(name_slug(db, "sub.cloud.example"), "cloud", "the unlisted parent");
	/* the entry stays as written, for whoever reads the app's exclusions */
	const struct sig_app *cloud = sig_db_find_app(db, "cloud");
	assert_int_equal(cloud->n_exclude_domains, 3);
	assert_string_equal(cloud->exclude_domains[0], "*-fmip.cloud.example");
#ifdef COUNT_ALLOCS
	n_allocs = 0;
	alloc_counting = 1;
	for (int i = 0; i < 100; i++) {
		(void)sig_match_name(db, "a.p123-fmip.cloud.example", &matched);
		(void)sig_match_name(db, "p123-contacts.cloud.example", &matched);
	}
	alloc_counting = 0;
	assert_int_equal(n_allocs, 0);
#endif
	sig_db_free(db);

	/* a local file may add an exclusion pattern to a built-in app, also
	 * under a domain the same override adds */
	write_text("overrides:\n  - app: cloud\n"
		   "    domains: [cloud2.example]\n"
		   "    exclude_domains: [\"*-fmf.cloud.example\", \"*-fmf.cloud2.example\"]\n",
		   local, sizeof(local));
	db = sig_db_new();
	if (sig_db_load_path(db, path, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(sig_db_finalize(db, err, sizeof(err)), 0);
	assert_slug(name_slug(db, "p7-fmf.cloud.example"), "cloud", "before the override");
	sig_db_free(db);
	db = sig_db_new();
	if (sig_db_load_path(db, path, err, sizeof(err)) != 0 ||
	    sig_db_load_overrides(db, local, err, sizeof(err)) != 0 ||
	    sig_db_finalize(db, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_slug(name_slug(db, "p7-fmf.cloud.example"), NULL, "excluded by a local file");
	assert_slug(name_slug(db, "p7-fmf.cloud2.example"), NULL, "under an added domain");
	assert_slug(name_slug(db, "p7-contacts.cloud2.example"), "cloud", "the added domain");
	assert_slug(name_slug(db, "p123-fmip.cloud.example"), NULL, "built-in pattern stays");
	assert_true(sig_db_find_app(db, "cloud")->overridden);
	sig_db_free(db);
	unlink(local);
	unlink(path);
}

/* "*.site.example" in exclude_domains: the vendor's own names stay, its
 * customers' sites under the same parent name no app */
static void
test_exclude_whole_label(void **state)
{
	char path[256], err[1024];
	(void)state;

	write_text(EX_HEAD
		   PAT_APP("school", "    domains: [site.example, www.site.example, sso.site.example,\n"
				     "      \"*-admin.site.example\"]\n"
				     "    exclude_domains: [\"*.site.example\"]\n")
		   PAT_APP("other", "    domains: [pay.site.example]\n"),
		   path, sizeof(path));
	sig_db *db = load_ok(path);

	assert_match(db, "site.example", "school", "site.example", "the apex");
	assert_match(db, "www.site.example", "school", "www.site.example", "own host");
	assert_slug(name_slug(db, "a.sso.site.example"), "school", "under an own host");
	assert_match(db, "acme-admin.site.example", "school", "*-admin.site.example",
		     "own label pattern");
	assert_slug(name_slug(db, "pay.site.example"), "other", "another app's host");
	/* every other label, and what lies under it, is a customer's site */
	assert_slug(name_slug(db, "acme.site.example"), NULL, "customer's site");
	assert_slug(name_slug(db, "a.b.acme.site.example"), NULL, "under a customer's site");
	assert_slug(name_slug(db, "x.site.example"), NULL, "one-character label");
	sig_db_free(db);

	/* in domains a bare '*' still says nothing a domain does not */
	load_text(EX_HEAD PAT_APP("b", "    domains: [\"*.b.example\"]\n"), path, sizeof(path), err,
		  sizeof(err));
	assert_error(err, path, 8, "domain \"*.b.example\" has a wildcard");
	unlink(path);
}

static void
test_exclude_pattern_errors(void **state)
{
	/* app a: a domain, and a domain pattern of its own */
#define XP_A EX_HEAD PAT_APP("a", "    domains: [a.example, \"*-my.b.example\"]\n")
	static const struct {
		const char *text;
		int line;
		const char *reason;
	} cases[] = {
		/* the parent must be one of the app's domains or under one */
		{ XP_A "    exclude_domains: [\"*-x.c.example\"]\n", 9,
		  "exclude_domains: pattern \"*-x.c.example\" is not under any domain of app "
		  "\"a\" (its parent \"c.example\" must be one of the app's domains or under one)" },
		{ XP_A "    exclude_domains: [\"*-x.example\"]\n", 9,
		  "is a label pattern over \"example\", which has a single label" },
		/* the app's own domain pattern is no parent for one */
		{ XP_A "    exclude_domains: [\"*-x.t-my.b.example\"]\n", 9,
		  "exclude_domains: pattern \"*-x.t-my.b.example\" is not under any domain of "
		  "app \"a\"" },
		{ XP_A "    exclude_domains: [\"*-x.b.example\"]\n", 9,
		  "exclude_domains: pattern \"*-x.b.example\" is not under any domain" },
		/* the same pattern twice: in one list, in both lists of one
		 * app, and excluded by one app and claimed by another */
		{ XP_A "    exclude_domains: [\"*-x.a.example\", \"*-x.a.example\"]\n", 9,
		  "excluded domain \"*-x.a.example\" is listed twice in this app (line 9)" },
		{ EX_HEAD PAT_APP("a", "    domains: [a.example, \"*-x.a.example\"]\n"
				       "    exclude_domains: [\"*-x.a.example\"]\n"), 9,
		  "\"*-x.a.example\" is both a domain (line 8) and an excluded domain of this app" },
		{ XP_A "    exclude_domains: [\"*-x.a.example\"]\n"
		       PAT_APP("b", "    domains: [\"*-x.a.example\"]\n"), 14,
		  "domain \"*-x.a.example\" of app \"b\" is already excluded by app \"a\" (" },
		/* a tie with another app's domain pattern: "c--b" is b's, or no
		 * app's, and neither pattern is more specific */
		{ XP_A "    exclude_domains: [c-*.a.example]\n"
		       PAT_APP("b", "    domains: [\"*-b.a.example\"]\n"), 9,
		  "excluded pattern \"c-*.a.example\" of app \"a\" is as specific as pattern "
		  "\"*-b.a.example\" of app \"b\" (" },
		{ XP_A "    exclude_domains: [\"*-b.a.example\"]\n"
		       PAT_APP("b", "    domains: [c-*.a.example]\n"), 14,
		  "pattern \"c-*.a.example\" of app \"b\" is as specific as excluded pattern "
		  "\"*-b.a.example\" of app \"a\" (" },
		/* and with the app's own: "c--b" would be a, or no app */
		{ EX_HEAD PAT_APP("a", "    domains: [a.example, c-*.a.example]\n"
				       "    exclude_domains: [\"*-b.a.example\"]\n"), 8,
		  "pattern \"c-*.a.example\" of app \"a\" is as specific as excluded pattern "
		  "\"*-b.a.example\" of app \"a\" (" },
	};
	char path[256], err[1024];
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		load_text(cases[i].text, path, sizeof(path), err, sizeof(err));
		assert_error(err, path, cases[i].line, cases[i].reason);
	}

	/* fine: a parent under the app's domain, two exclusions that tie
	 * (either way no app), literals of one end and one length beside
	 * another app's, and a tie that a third literal length does not make */
	static const char *const good[] = {
		XP_A "    exclude_domains: [\"*-x.deep.a.example\"]\n",
		XP_A "    exclude_domains: [\"*-b.a.example\", c-*.a.example]\n",
		XP_A "    exclude_domains: [\"*-ab.a.example\"]\n"
		     PAT_APP("b", "    domains: [\"*-cd.a.example\", c-*.a.example]\n"),
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		load_text(good[i], path, sizeof(path), err, sizeof(err));
		if (err[0])
			fail_msg("good case %zu: %s", i, err);
	}

	/* lint mode: an exclusion pattern out of place is one problem, not
	 * also a tie with the pattern it would have met */
	{
		struct problems got;
		sig_db *db = sig_db_new();
		memset(&got, 0, sizeof(got));
		sig_db_set_problem_handler(db, collect_problem, &got);
		write_text(XP_A "    exclude_domains: [c-*.zz.example]\n"
			   PAT_APP("b", "    domains: [\"*-b.zz.example\"]\n"),
			   path, sizeof(path));
		assert_int_equal(sig_db_load_path(db, path, err, sizeof(err)), 0);
		assert_int_equal(sig_db_finalize(db, err, sizeof(err)), -1);
		assert_int_equal(got.n, 1);
		assert_error(got.lines[0], path, 9, "exclude_domains: pattern \"c-*.zz.example\"");
		sig_db_free(db);
		unlink(path);
	}
#undef XP_A
}

/* ---- lint mode ------------------------------------------------------- */

static void
collect_problem(void *arg, const char *problem)
{
	struct problems *p = arg;

	assert_null(strchr(problem, '\n'));
	if (p->n < 32)
		snprintf(p->lines[p->n], sizeof(p->lines[0]), "%s", problem);
	p->n++;
}

static void
test_lint_all_problems(void **state)
{
	static const char *const want[] = {
		DATA "/lint/a.yaml:6: slug \"Files\" must be 1 to 64 characters",
		DATA "/lint/a.yaml:13: domain \"Chatty.example\" is not lower case",
		DATA "/lint/a.yaml:15: risk fact \"mfa\" has no \"source\"",
		DATA "/lint/a.yaml:16: source \"http://chatty.example/sso\" of risk fact \"sso\" must be an https:// URL",
		DATA "/lint/a.yaml:22: ip range \"10.0.0.1/8\" has host bits set",
		DATA "/lint/b.yaml:3: app \"chatty\" is already defined (" DATA "/lint/a.yaml:9)",
		DATA "/lint/b.yaml:16: category \"Chat\" must be 1 to 64 characters",
		DATA "/lint/c.yaml:3: YAML syntax error",
		DATA "/lint/b.yaml:11: app \"lonely\": unknown category \"chta\"",
		DATA "/lint/a.yaml:21: domain \"chatty.example\" of app \"chatty2\" is already claimed "
		     "by app \"chatty\" (" DATA "/lint/a.yaml:13)",
		DATA "/lint/d.yaml:7: domain \"chatty.example\" of app \"after\" is already claimed "
		     "by app \"chatty\" (" DATA "/lint/a.yaml:13)",
	};
	const size_t n_want = sizeof(want) / sizeof(want[0]);
	struct problems got;
	char err[1024];
	sig_db *db = sig_db_new();
	(void)state;

	memset(&got, 0, sizeof(got));
	sig_db_set_problem_handler(db, collect_problem, &got);
	assert_int_equal(sig_db_load_path(db, DATA "/lint", err, sizeof(err)), -1);
	assert_int_equal(sig_db_finalize(db, err, sizeof(err)), -1);
	for (size_t i = 0; i < got.n && i < n_want; i++)
		if (strncmp(got.lines[i], want[i], strlen(want[i])) != 0)
			fail_msg("problem %zu:\n  got  %s\n  want %s...", i, got.lines[i], want[i]);
	if (got.n != n_want)
		fail_msg("%zu problems, want %zu (last: %s)", got.n, n_want,
			 got.n ? got.lines[got.n < 32 ? got.n - 1 : 31] : "-");
	assert_int_equal(sig_db_problem_count(db), n_want);
	/* err keeps the first problem; nothing matches */
	assert_true(strncmp(err, want[0], strlen(want[0])) == 0);
	assert_null(sig_match_name(db, "chatty.example", NULL));
	sig_db_free(db);

	/* a clean tree in lint mode: no problem, and a usable database */
	db = sig_db_new();
	memset(&got, 0, sizeof(got));
	sig_db_set_problem_handler(db, collect_problem, &got);
	assert_int_equal(sig_db_load_path(db, DATA "/good", err, sizeof(err)), 0);
	assert_int_equal(sig_db_load_overrides(db, DATA "/local", err, sizeof(err)), 0);
	assert_int_equal(sig_db_finalize(db, err, sizeof(err)), 0);
	assert_int_equal(got.n, 0);
	assert_int_equal(sig_db_problem_count(db), 0);
	assert_slug(name_slug(db, "sheets.google.com"), "corp-sheets", "lint mode, clean");
	sig_db_free(db);

	/* every bad fixture in lint mode: its expected problem comes first */
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		char path[512], prefix[600];
		snprintf(path, sizeof(path), DATA "/bad/%s", bad_cases[i].file);
		snprintf(prefix, sizeof(prefix), "%s:%d: ", path, bad_cases[i].line);
		db = sig_db_new();
		memset(&got, 0, sizeof(got));
		sig_db_set_problem_handler(db, collect_problem, &got);
		(void)sig_db_load_path(db, path, err, sizeof(err));
		assert_int_equal(sig_db_finalize(db, err, sizeof(err)), -1);
		if (got.n == 0 || strncmp(got.lines[0], prefix, strlen(prefix)) != 0 ||
		    !strstr(got.lines[0], bad_cases[i].reason))
			fail_msg("%s in lint mode: %s", bad_cases[i].file,
				 got.n ? got.lines[0] : "no problem");
		sig_db_free(db);
	}
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

/* Whether app carves every other name under dom out of itself
 * ("*.dom" in exclude_domains: its customers' sites live there). */
static int
excludes_all_under(const struct sig_app *app, const char *dom)
{
	for (size_t x = 0; x < app->n_exclude_domains; x++) {
		const char *ex = app->exclude_domains[x];
		if (ex[0] == '*' && ex[1] == '.' && strcmp(ex + 2, dom) == 0)
			return 1;
	}
	return 0;
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
			char host[300], sub[320];
			const char *matched = NULL, *dom = app->domains[d], *star = strchr(dom, '*');
			/* a label pattern stands for hosts: a tenant fills the '*' */
			if (star)
				snprintf(host, sizeof(host), "%.*szz-tenant%s", (int)(star - dom), dom,
					 star + 1);
			else
				snprintf(host, sizeof(host), "%s", dom);
			if (sig_match_name(db, host, &matched) != app)
				fail_msg("%s: domain %s does not match it", app->slug, host);
			assert_string_equal(matched, dom);
			snprintf(sub, sizeof(sub), "zz-test.%s", host);
			if (sig_match_name(db, sub, NULL) != app && !excludes_all_under(app, dom))
				fail_msg("%s: %s does not match it", app->slug, sub);
		}
		/* and every exclusion, a pattern's with a device filling the
		 * '*', names no app, nor does what is under it */
		for (size_t x = 0; x < app->n_exclude_domains; x++) {
			char host[300], sub[320];
			const char *ex = app->exclude_domains[x], *star = strchr(ex, '*');
			if (star)
				snprintf(host, sizeof(host), "%.*szz-p1%s", (int)(star - ex), ex,
					 star + 1);
			else
				snprintf(host, sizeof(host), "%s", ex);
			snprintf(sub, sizeof(sub), "zz-test.%s", host);
			const struct sig_app *got = sig_match_name(db, host, NULL);
			if (!got)
				got = sig_match_name(db, sub, NULL);
			if (got)
				fail_msg("%s: excluded %s matches %s", app->slug, host, got->slug);
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
	/* Find My's per-account hosts are carved out of iCloud; the other
	 * per-account hosts stay it */
	if (sig_db_find_app(db, "icloud-drive")) {
		assert_slug(name_slug(db, "p123-fmip.icloud.com"), NULL, "Find My");
		assert_slug(name_slug(db, "p7-fmfmobile.icloud.com"), NULL, "Find My app");
		assert_slug(name_slug(db, "p123-contacts.icloud.com"), "icloud-drive", "iCloud");
	}
	sig_db_free(db);
}

/* The files the loader reads, as the collector hands them on: YAML only,
 * the catalog example and README left out, whole paths in byte order. */
static void
test_list_files(void **state)
{
	(void)state;
	char **files;
	size_t n;
	char err[512];

	assert_int_equal(sig_list_files(DATA "/good", &files, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 4);
	assert_string_equal(files[0], DATA "/good/apps/google.yaml");
	assert_string_equal(files[1], DATA "/good/apps/net.yaml");
	assert_string_equal(files[2], DATA "/good/apps/slack.yml");
	assert_string_equal(files[3], DATA "/good/categories.yaml");
	sig_files_free(files, n);
	assert_int_equal(sig_list_files(DATA "/good/apps/slack.yml", &files, &n, err,
					sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(files[0], DATA "/good/apps/slack.yml");
	sig_files_free(files, n);
	assert_int_equal(sig_list_files(DATA "/no-such-dir", &files, &n, err, sizeof(err)), -1);
	assert_string_equal(err, DATA "/no-such-dir: cannot open: No such file or directory");
	assert_null(files);
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
		cmocka_unit_test(test_risk_facts),
		cmocka_unit_test(test_fact_variants),
		cmocka_unit_test(test_country_codes),
		cmocka_unit_test(test_exclude_domains),
		cmocka_unit_test(test_label_patterns),
		cmocka_unit_test(test_label_pattern_errors),
		cmocka_unit_test(test_span_patterns),
		cmocka_unit_test(test_mail_link_hosts),
		cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_override_errors),
		cmocka_unit_test(test_exclude_patterns),
		cmocka_unit_test(test_exclude_whole_label),
		cmocka_unit_test(test_exclude_pattern_errors),
		cmocka_unit_test(test_lint_all_problems),
		cmocka_unit_test(test_real_signatures),
		cmocka_unit_test(test_list_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
