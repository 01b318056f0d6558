/*
 * The service catalog: the example file against the real signatures, and
 * every kind of mistake an organisation can make in its file, each refused
 * with its line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "shadowmap/catalog.h"
#include "shadowmap/domain.h"
#include "shadowmap/sig.h"

static sig_db *sigs;
static char tmpdir[] = "/tmp/test_catalog.XXXXXX";

static int
setup(void **state)
{
	(void)state;
	char err[512];
	if (domain_init() < 0 || !mkdtemp(tmpdir))
		return -1;
	sigs = sig_db_new();
	if (!sigs || sig_db_load_path(sigs, SOURCE_DIR "/signatures", err, sizeof(err)) < 0 ||
	    sig_db_finalize(sigs, err, sizeof(err)) < 0) {
		fprintf(stderr, "signatures: %s\n", err);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	char cmd[128];
	sig_db_free(sigs);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Writes text to a file of the temp dir; returns its path (static). */
static const char *
write_file(const char *text)
{
	static char path[256];
	static int n;
	snprintf(path, sizeof(path), "%s/c%d.yaml", tmpdir, n++);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	return path;
}

static void
test_example(void **state)
{
	(void)state;
	char err[512];
	struct catalog *c = catalog_load(SOURCE_DIR "/signatures/catalog.example.yaml", sigs, err,
					 sizeof(err));
	if (!c)
		fail_msg("%s", err);
	assert_int_equal(catalog_count(c), 10);
	assert_int_equal(catalog_status_of(c, "microsoft-teams"), CATALOG_SANCTIONED);
	assert_int_equal(catalog_status_of(c, "zoom"), CATALOG_TOLERATED);
	assert_int_equal(catalog_status_of(c, "wetransfer"), CATALOG_UNSANCTIONED);
	assert_int_equal(catalog_status_of(c, "pastebin"), CATALOG_BANNED);
	assert_int_equal(catalog_status_of(c, "dropbox"), CATALOG_NOT_LISTED);
	assert_int_equal(catalog_status_of(c, NULL), CATALOG_NOT_LISTED);
	assert_string_equal(catalog_status_name(catalog_status_of(c, "dropbox")), "not-in-catalog");

	const struct catalog_entry *e = catalog_find(c, "microsoft-teams");
	assert_non_null(e);
	assert_string_equal(e->covers[0], "video-conferencing");
	assert_string_equal(e->covers[1], "messaging");
	assert_null(e->covers[2]);
	assert_non_null(strstr(e->owner, "collab@example.com"));
	/* default coverage: a sanctioned app's own category */
	e = catalog_find(c, "outlook");
	assert_string_equal(e->covers[0], sig_db_find_app(sigs, "outlook")->category);
	assert_null(e->covers[1]);
	e = catalog_find(c, "zoom");
	assert_null(e->covers);
	assert_string_equal(e->alternatives[0], "microsoft-teams");
	/* entries come back sorted, each once */
	for (size_t i = 1; i < catalog_count(c); i++)
		assert_true(strcmp(catalog_entry_at(c, i - 1)->app, catalog_entry_at(c, i)->app) < 0);
	assert_null(catalog_entry_at(c, catalog_count(c)));
	catalog_free(c);
}

static void
test_empty(void **state)
{
	(void)state;
	char err[512];
	struct catalog *c = catalog_load(write_file(""), sigs, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(catalog_count(c), 0);
	assert_int_equal(catalog_status_of(c, "slack"), CATALOG_NOT_LISTED);
	catalog_free(c);
	c = catalog_load(write_file("organisation: X\napps: []\n"), sigs, err, sizeof(err));
	assert_non_null(c);
	catalog_free(c);
	c = catalog_empty();
	assert_int_equal(catalog_status_of(c, "slack"), CATALOG_NOT_LISTED);
	catalog_free(c);
}

struct bad_case {
	const char *text;
	int line;
	const char *reason; /* a part of the message after FILE:LINE: */
};

static void
test_errors(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{ "apps:\n  - app: slack\n    status: aproved\n", 3, "unknown status \"aproved\"" },
		{ "apps:\n  - app: slack\n    status: sanctioned\n  - app: zoom\n    status: banned\n"
		  "  - app: slack\n    status: banned\n", 6, "\"slack\" is listed twice (first on line 2)" },
		{ "apps:\n  - app: wetransfer\n    status: unsanctioned\n    covers: [file-sharing]\n",
		  4, "only a sanctioned app covers" },
		{ "apps:\n  - app: no-such-app-here\n    status: banned\n", 2, "unknown app" },
		{ "apps:\n  - app: slack\n    status: sanctioned\n    covers: [chat]\n", 4,
		  "unknown category \"chat\"" },
		{ "apps:\n  - app: slack\n    status: sanctioned\n    owner: x\n    colour: red\n", 5,
		  "unknown key \"colour\"" },
		{ "apps:\n  - app: slack\n", 2, "has no status" },
		{ "apps:\n  - status: banned\n", 2, "without \"app\"" },
		{ "apps:\n  - app: Slack\n    status: banned\n", 2, "expected an app slug" },
		{ "apps:\n  - app: zoom\n    status: tolerated\n    alternatives: [zoom]\n", 4,
		  "is the app itself" },
		{ "apps:\n  - app: zoom\n    status: tolerated\n    alternatives: [slack, slack]\n", 4,
		  "listed twice" },
		{ "apps:\n  - app: zoom\n    status: tolerated\n    alternatives: slack\n", 4,
		  "expected a list" },
		{ "apps:\n  - app: zoom\n    status: [banned]\n", 3, "unknown status" },
		{ "apps:\n  - app: zoom\n    status: banned\n    status: tolerated\n", 4, "given twice" },
		{ "apps: {slack: banned}\n", 1, "expected a list of app entries" },
		{ "- slack\n", 1, "expected a mapping" },
		{ "catalogue:\n  - app: zoom\n", 1, "unknown or repeated key \"catalogue\"" },
		{ "apps:\n  - app: zoom\n    status: banned\n    owner: \"a\\tb\"\n", 4,
		  "control character" },
		{ "apps:\n  - app: zoom\n   status: banned\n", 3, "YAML" },
		{ "apps:\n  - &a {app: zoom, status: banned}\n", 2, "" },
	};
	char err[512], want[300];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *path = write_file(cases[i].text);
		err[0] = '\0';
		struct catalog *c = catalog_load(path, sigs, err, sizeof(err));
		if (c)
			fail_msg("case %zu loaded: %s", i, cases[i].text);
		snprintf(want, sizeof(want), "%s:%d: ", path, cases[i].line);
		if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, cases[i].reason))
			fail_msg("case %zu: got \"%s\", want \"%s...%s\"", i, err, want,
				 cases[i].reason);
	}
	/* a missing file says so, with its path */
	assert_null(catalog_load("/nonexistent/catalog.yaml", sigs, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/catalog.yaml"));
}

static void
test_without_signatures(void **state)
{
	(void)state;
	char err[512];
	/* without signatures to check against, slugs are taken as they are */
	struct catalog *c = catalog_load(write_file("apps:\n  - app: in-house-wiki\n"
						    "    status: sanctioned\n"), NULL, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(catalog_status_of(c, "in-house-wiki"), CATALOG_SANCTIONED);
	assert_null(catalog_find(c, "in-house-wiki")->covers);
	catalog_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_without_signatures),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
