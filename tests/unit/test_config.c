/*
 * Settings tables: parsing with bounds, durations and booleans, and YAML
 * config files whose every error names file and line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shadowmap/config.h"

struct conf {
	int64_t bucket;
	int64_t verbose;
	int64_t flows;
	char *name;
};

static const struct cfg_option opts[] = {
	{ "bucket-seconds", CFG_SECONDS, 10, 86400, "300", offsetof(struct conf, bucket), 0, "b" },
	{ "verbose", CFG_BOOL, 0, 1, "false", offsetof(struct conf, verbose), 1, "v" },
	{ "max-flows", CFG_INT, 1, 1000, "100", offsetof(struct conf, flows), 0, "f" },
	{ "name", CFG_STRING, 0, 0, NULL, offsetof(struct conf, name), 0, "n" },
	{ NULL, 0, 0, 0, NULL, 0, 0, NULL },
};

#define DATA SOURCE_DIR "/tests/unit/data/config/"

static void
test_set_and_bounds(void **state)
{
	(void)state;
	struct conf c = { 0 };
	char err[256];

	assert_int_equal(cfg_defaults(opts, &c, err, sizeof(err)), 0);
	assert_int_equal(c.bucket, 300);
	assert_int_equal(c.flows, 100);
	assert_null(c.name);
	assert_int_equal(cfg_set(opts, &c, "bucket-seconds", "2h", "--x", err, sizeof(err)), 0);
	assert_int_equal(c.bucket, 7200);
	assert_int_equal(cfg_set(opts, &c, "bucket-seconds", "90s", "--x", err, sizeof(err)), 0);
	assert_int_equal(c.bucket, 90);
	assert_int_equal(cfg_set(opts, &c, "bucket-seconds", "2d", "--x", err, sizeof(err)), -1);
	assert_string_equal(err, "--x: bucket-seconds: 172800 is out of range (10 to 86400)");
	assert_int_equal(cfg_set(opts, &c, "bucket-seconds", "5 m", "--x", err, sizeof(err)), -1);
	assert_int_equal(cfg_set(opts, &c, "bucket-seconds", "-5", "--x", err, sizeof(err)), -1);
	assert_int_equal(c.bucket, 90);
	assert_int_equal(cfg_set(opts, &c, "max-flows", "12x", "f:3", err, sizeof(err)), -1);
	assert_string_equal(err, "f:3: max-flows: \"12x\" is not a whole number");
	assert_int_equal(cfg_set(opts, &c, "max-flows", "99999999999999999999", "f", err,
				 sizeof(err)), -1);
	assert_int_equal(cfg_set(opts, &c, "verbose", "On", "f", err, sizeof(err)), 0);
	assert_int_equal(c.verbose, 1);
	assert_int_equal(cfg_set(opts, &c, "verbose", "maybe", "f", err, sizeof(err)), -1);
	assert_int_equal(cfg_set(opts, &c, "nosuch", "1", "f:9", err, sizeof(err)), -1);
	assert_string_equal(err, "f:9: unknown setting \"nosuch\"");
	assert_int_equal(cfg_set(opts, &c, "name", "a", "f", err, sizeof(err)), 0);
	assert_int_equal(cfg_set(opts, &c, "name", "b", "f", err, sizeof(err)), 0);
	assert_string_equal(c.name, "b");
	cfg_free(opts, &c);
	assert_null(c.name);
}

static void
test_files(void **state)
{
	(void)state;
	struct conf c = { 0 };
	char err[512];

	cfg_defaults(opts, &c, err, sizeof(err));
	assert_int_equal(cfg_load_file(opts, &c, DATA "good.yaml", err, sizeof(err)), 0);
	assert_int_equal(c.bucket, 600);
	assert_int_equal(c.verbose, 1);
	assert_string_equal(c.name, "edge-1");

	assert_int_equal(cfg_load_file(opts, &c, DATA "unknown-key.yaml", err, sizeof(err)), -1);
	assert_string_equal(err, DATA "unknown-key.yaml:3: unknown setting \"bukcet-seconds\"");
	assert_int_equal(cfg_load_file(opts, &c, DATA "out-of-range.yaml", err, sizeof(err)), -1);
	assert_string_equal(err, DATA "out-of-range.yaml:4: max-flows: 5000 is out of range "
				 "(1 to 1000)");
	assert_int_equal(cfg_load_file(opts, &c, DATA "duplicate.yaml", err, sizeof(err)), -1);
	assert_string_equal(err, DATA "duplicate.yaml:3: name: given twice (first on line 1)");
	assert_int_equal(cfg_load_file(opts, &c, DATA "syntax.yaml", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "syntax.yaml:"));
	assert_null(strchr(err, '\n'));
	assert_int_equal(cfg_load_file(opts, &c, DATA "not-scalar.yaml", err, sizeof(err)), -1);
	assert_string_equal(err, DATA "not-scalar.yaml:1: name: expected a single value");
	assert_int_equal(cfg_load_file(opts, &c, DATA "missing.yaml", err, sizeof(err)), -1);
	assert_string_equal(err, DATA "missing.yaml: cannot open: No such file or directory");
	cfg_free(opts, &c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_and_bounds),
		cmocka_unit_test(test_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
