/*
 * Unit tests of the risk score (risk.h): exact scores and reasons for the
 * fixture apps of tests/unit/data/sig/risk under the default weights (the
 * worked examples of signatures/RISK.md), how each weight moves them,
 * unknown facts counting in part, the cap, and the weights loader with its
 * file:line errors.
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

#include "shadowmap/risk.h"
#include "shadowmap/sig.h"

#define DATA SOURCE_DIR "/tests/unit/data/sig"

static sig_db *db;

static int
setup(void **state)
{
	char err[512];

	(void)state;
	db = sig_db_open(DATA "/risk", NULL, err, sizeof(err));
	if (!db) {
		fprintf(stderr, "risk fixtures: %s\n", err);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	sig_db_free(db);
	db = NULL;
	return 0;
}

static int
score_of(const struct risk_weights *w, const char *slug)
{
	const struct sig_app *app = sig_db_find_app(db, slug);
	struct risk_result r;

	if (!app)
		fail_msg("no app %s", slug);
	risk_score(w, app, &r);
	return r.score;
}

struct want_reason {
	const char *factor;
	int points, unknown;
	const char *source; /* NULL: none */
	const char *text;
};

static void
assert_reasons(const struct risk_result *r, const struct want_reason *want, size_t n)
{
	int sum = 0;

	for (size_t i = 0; i < r->n_reasons && i < n; i++) {
		const struct risk_reason *got = &r->reasons[i];
		if (strcmp(got->factor, want[i].factor) != 0 || got->points != want[i].points ||
		    got->unknown != want[i].unknown || strcmp(got->text, want[i].text) != 0 ||
		    (want[i].source == NULL) != (got->source == NULL) ||
		    (want[i].source && strcmp(got->source, want[i].source) != 0))
			fail_msg("reason %zu: got %s %d%s \"%s\" [%s], want %s %d%s \"%s\" [%s]", i,
				 got->factor, got->points, got->unknown ? " (unknown)" : "",
				 got->text, got->source ? got->source : "-", want[i].factor,
				 want[i].points, want[i].unknown ? " (unknown)" : "", want[i].text,
				 want[i].source ? want[i].source : "-");
		sum += got->points;
	}
	assert_int_equal(r->n_reasons, n);
	assert_int_equal(r->total, sum);
}

/* ---- default weights ------------------------------------------------- */

static void
test_defaults(void **state)
{
	struct risk_weights w;
	(void)state;

	risk_weights_defaults(&w);
	assert_int_equal(w.factor[RISK_NO_SSO], 15);
	assert_int_equal(w.factor[RISK_NO_E2EE], 0);
	assert_int_equal(w.unknown_percent, 50);
	assert_int_equal(risk_category_base(&w, "paste-sites"), 40);
	assert_int_equal(risk_category_base(&w, "genai"), 30);
	assert_int_equal(risk_category_base(&w, "analytics-bi"), 10);
	assert_int_equal(risk_category_base(&w, "crm"), 15); /* default_base */
	assert_int_equal(risk_category_base(&w, NULL), 15);
	assert_int_equal(w.n_residency, 1);
	assert_string_equal(w.residency[0], "eu");
	assert_int_equal(w.n_hq_countries, 0);
	assert_int_equal(w.n_certifications, 2);
	assert_string_equal(risk_factor_name(RISK_NO_SSO), "no_sso");
	assert_string_equal(risk_factor_name(RISK_HQ_COUNTRY), "hq_country");
	assert_null(risk_factor_name(RISK_FACTOR_COUNT));

	/* every category of the built-in signatures has a base it was given
	 * on purpose, or the default: a typo in the table would show here */
	{
		char err[512];
		sig_db *real = sig_db_open(SOURCE_DIR "/signatures", NULL, err, sizeof(err));
		if (!real)
			fail_msg("signatures: %s", err);
		for (size_t i = 0; i < w.n_bases; i++)
			if (!sig_db_find_category(real, w.bases[i].slug))
				fail_msg("default base for unknown category %s", w.bases[i].slug);
		sig_db_free(real);
	}
}

/* The worked examples of signatures/RISK.md. */
static void
test_scores_default(void **state)
{
	static const struct want_reason askbot[] = {
		{ "category", 30, 0, NULL, "category genai starts at 30" },
		{ "trains_opt_out", 10, 0, "https://askbot.example/privacy",
		  "trains models on customer content unless the customer opts out" },
		{ "public_link_sharing", 10, 0, "https://askbot.example/docs/share",
		  "content can be shared by public link" },
	};
	static const struct want_reason dropzone[] = {
		{ "category", 30, 0, NULL, "category file-sharing starts at 30" },
		{ "no_sso", 15, 0, "https://dropzone.example/faq", "no single sign-on (SAML or OIDC)" },
		{ "no_certification", 15, 0, "https://dropzone.example/faq",
		  "no certification (wanted: soc2 or iso27001)" },
		{ "trains_on_customer_data", 10, 1, NULL,
		  "training on customer content (unknown: 50% of 20)" },
		{ "public_link_sharing", 10, 0, "https://dropzone.example/faq",
		  "content can be shared by public link" },
	};
	static const struct want_reason chartly[] = {
		{ "category", 10, 0, NULL, "category analytics-bi starts at 10" },
		{ "no_sso", 8, 1, NULL, "single sign-on (unknown: 50% of 15)" },
		{ "no_mfa", 5, 1, NULL, "multi-factor authentication (unknown: 50% of 10)" },
		{ "no_certification", 8, 1, NULL, "certifications (unknown: 50% of 15)" },
		{ "trains_on_customer_data", 10, 1, NULL,
		  "training on customer content (unknown: 50% of 20)" },
		{ "no_residency", 5, 1, NULL, "data residency (unknown: 50% of 10)" },
		{ "public_link_sharing", 5, 1, NULL, "public link sharing (unknown: 50% of 10)" },
	};
	struct risk_weights w;
	struct risk_result r;
	(void)state;

	risk_weights_defaults(&w);
	risk_score(&w, sig_db_find_app(db, "askbot"), &r);
	assert_int_equal(r.score, 50);
	assert_reasons(&r, askbot, sizeof(askbot) / sizeof(askbot[0]));
	risk_score(&w, sig_db_find_app(db, "dropzone"), &r);
	assert_int_equal(r.score, 80);
	assert_reasons(&r, dropzone, sizeof(dropzone) / sizeof(dropzone[0]));
	/* knowing nothing scores worse than knowing a few bad things */
	risk_score(&w, sig_db_find_app(db, "chartly"), &r);
	assert_int_equal(r.score, 51);
	assert_reasons(&r, chartly, sizeof(chartly) / sizeof(chartly[0]));

	/* nothing to score: an empty result */
	risk_score(&w, NULL, &r);
	assert_int_equal(r.score, 0);
	assert_int_equal(r.n_reasons, 0);
}

/* ---- weights move the score ------------------------------------------ */

static void
test_weights_change_score(void **state)
{
	struct risk_weights w;
	struct risk_result r;
	(void)state;

	/* unknown facts count in part, and the part is the organisation's */
	risk_weights_defaults(&w);
	w.unknown_percent = 0;
	assert_int_equal(score_of(&w, "chartly"), 10);
	assert_int_equal(score_of(&w, "dropzone"), 70);
	assert_int_equal(score_of(&w, "askbot"), 50); /* knows everything */
	w.unknown_percent = 100;
	assert_int_equal(score_of(&w, "chartly"), 90);
	assert_int_equal(score_of(&w, "dropzone"), 90);
	w.unknown_percent = 33; /* 15 x 33% = 4.95: 5; 10 x 33% = 3.3: 3; 20: 6.6: 7 */
	assert_int_equal(score_of(&w, "chartly"), 10 + 5 + 3 + 5 + 7 + 3 + 3);

	/* residency: an EU member state is in the EU; the EU is not in Germany */
	risk_weights_defaults(&w);
	memcpy(w.residency[0], "us", 3);
	assert_int_equal(score_of(&w, "dropzone"), 90); /* [de] */
	assert_int_equal(score_of(&w, "askbot"), 50);	/* [us, eu] */
	memcpy(w.residency[0], "de", 3);
	assert_int_equal(score_of(&w, "dropzone"), 80);
	assert_int_equal(score_of(&w, "askbot"), 60);
	risk_score(&w, sig_db_find_app(db, "askbot"), &r);
	assert_string_equal(r.reasons[2].factor, "no_residency");
	assert_string_equal(r.reasons[2].text, "customer content cannot be kept in de");
	w.n_residency = 0; /* as if no_residency were 0 */
	assert_int_equal(score_of(&w, "chartly"), 46);

	/* headquarters: only the listed countries, unknown in part */
	risk_weights_defaults(&w);
	memcpy(w.hq_countries[0], "US", 3);
	w.n_hq_countries = 1;
	assert_int_equal(score_of(&w, "askbot"), 65);
	assert_int_equal(score_of(&w, "dropzone"), 80); /* DE */
	assert_int_equal(score_of(&w, "chartly"), 59);
	risk_score(&w, sig_db_find_app(db, "askbot"), &r);
	assert_string_equal(r.reasons[r.n_reasons - 1].factor, "hq_country");
	assert_string_equal(r.reasons[r.n_reasons - 1].text,
			    "headquartered in US, a country the organisation lists");
	assert_string_equal(r.reasons[r.n_reasons - 1].source, "https://askbot.example/about");

	/* a factor that is off by default */
	risk_weights_defaults(&w);
	w.factor[RISK_NO_E2EE] = 10;
	assert_int_equal(score_of(&w, "askbot"), 60);
	assert_int_equal(score_of(&w, "dropzone"), 85);

	/* the certifications that count */
	risk_weights_defaults(&w);
	memcpy(w.certifications[0], "c5", 3);
	w.n_certifications = 1;
	assert_int_equal(score_of(&w, "askbot"), 65);
	risk_score(&w, sig_db_find_app(db, "askbot"), &r);
	assert_string_equal(r.reasons[1].text, "certified, but not c5");
	memcpy(w.certifications[0], "iso42001", 9);
	assert_int_equal(score_of(&w, "askbot"), 50);
	w.n_certifications = 0; /* none listed: the factor is off */
	assert_int_equal(score_of(&w, "dropzone"), 65);
	assert_int_equal(score_of(&w, "chartly"), 43);

	/* training: yes, opt-out, unknown each have their weight */
	risk_weights_defaults(&w);
	w.factor[RISK_TRAINS_OPT_OUT] = 0;
	assert_int_equal(score_of(&w, "askbot"), 40);
	w.factor[RISK_TRAINS_ON_CUSTOMER_DATA] = 0;
	assert_int_equal(score_of(&w, "dropzone"), 70);

	/* category bases, and the cap at 100 */
	risk_weights_defaults(&w);
	w.default_base = 0;
	w.bases[3].points = 60; /* file-sharing */
	assert_string_equal(w.bases[3].slug, "file-sharing");
	risk_score(&w, sig_db_find_app(db, "dropzone"), &r);
	assert_int_equal(r.total, 110);
	assert_int_equal(r.score, 100);
	w.n_bases = 0; /* every category at default_base 0: no category reason */
	risk_score(&w, sig_db_find_app(db, "askbot"), &r);
	assert_int_equal(r.score, 20);
	assert_string_equal(r.reasons[0].factor, "trains_opt_out");
}

/* ---- weights from YAML ----------------------------------------------- */

static void
test_weights_file(void **state)
{
	struct risk_weights w;
	char err[512];
	(void)state;

	risk_weights_defaults(&w);
	if (risk_weights_load_file(&w, DATA "/risk-weights/org.yaml", db, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(w.factor[RISK_NO_SSO], 20);
	assert_int_equal(w.factor[RISK_NO_MFA], 10); /* not given: the default stays */
	assert_int_equal(w.factor[RISK_NO_E2EE], 5);
	assert_int_equal(w.factor[RISK_HQ_COUNTRY], 25);
	assert_int_equal(w.unknown_percent, 100);
	assert_int_equal(w.n_hq_countries, 2);
	assert_string_equal(w.hq_countries[1], "CN");
	assert_int_equal(w.n_residency, 2);
	assert_string_equal(w.residency[1], "ch");
	assert_int_equal(w.n_certifications, 1);
	assert_int_equal(risk_category_base(&w, "genai"), 40);
	assert_int_equal(risk_category_base(&w, "analytics-bi"), 0);
	assert_int_equal(risk_category_base(&w, "file-sharing"), 30); /* merged over defaults */

	/* askbot: 40 + opt-out 10 + public links 10 + no e2ee 5 + US 25 */
	assert_int_equal(score_of(&w, "askbot"), 90);
	{
		struct risk_result r;
		risk_score(&w, sig_db_find_app(db, "dropzone"), &r);
		assert_int_equal(r.total, 100);
		risk_score(&w, sig_db_find_app(db, "chartly"), &r);
		assert_int_equal(r.total, 115);
		assert_int_equal(r.score, 100);
		assert_string_equal(r.reasons[0].factor, "no_sso"); /* base 0: no category */
	}
}

/* Writes text to a file and loads it over the defaults; returns err. */
static const char *
load_weights_text(const char *text, const sig_db *sigs, char *path, size_t path_size,
		  char *err, size_t errlen, struct risk_weights *w)
{
	static unsigned seq;
	FILE *f;
	int n = snprintf(path, path_size, "%s/test_risk_%ld_%u.yaml",
			 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid(), seq++);

	assert_true(n > 0 && (size_t)n < path_size);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	risk_weights_defaults(w);
	if (risk_weights_load_file(w, path, sigs, err, errlen) == 0)
		err[0] = '\0';
	unlink(path);
	return err;
}

static void
test_weights_errors(void **state)
{
	static const struct {
		const char *text;
		int line;
		const char *reason;
	} cases[] = {
		{ "risk_weights:\n  no_sso: 101\n", 2,
		  "no_sso must be a whole number from 0 to 100, not \"101\"" },
		{ "risk_weights:\n  no_sso: -1\n", 2, "no_sso must be a whole number" },
		{ "risk_weights:\n  no_mfa: 1.5\n", 2, "no_mfa must be a whole number" },
		{ "risk_weights:\n  no_mfa: [1]\n", 2, "no_mfa must be a whole number from 0 to 100" },
		{ "risk_weights:\n  unknown_percent: 150\n", 2, "unknown_percent must be a whole number" },
		{ "risk_weights:\n  no_mfa: 5\n  no_ssso: 5\n", 3,
		  "unknown key \"no_ssso\" in risk_weights (expected no_sso, no_mfa," },
		{ "risk_weights:\n  no_mfa: 5\n  no_mfa: 6\n", 3, "key \"no_mfa\" given twice" },
		{ "risk_weights:\n  residency: []\n", 2,
		  "residency must not be empty (to ignore it, set no_residency to 0)" },
		{ "risk_weights:\n  certifications: []\n", 2,
		  "certifications must not be empty (to ignore it, set no_certification to 0)" },
		{ "risk_weights:\n  residency: [eu, EU]\n", 2, "residency: \"EU\" must be lower case" },
		{ "risk_weights:\n  residency: eu\n", 2, "residency must be a list" },
		{ "risk_weights:\n  residency:\n    - eu\n    - ch\n    - eu\n", 5,
		  "residency: \"eu\" is listed twice" },
		{ "risk_weights:\n  hq_countries: [uk]\n", 2,
		  "hq_countries: \"uk\" is not an ISO 3166-1 alpha-2 country code in upper case" },
		{ "risk_weights:\n  certifications: [soc-2]\n", 2,
		  "certifications: \"soc-2\" is not a known certification" },
		{ "risk_weights:\n  category_base: {genai: 200}\n", 2, "genai must be a whole number" },
		{ "risk_weights:\n  category_base:\n    genai: 20\n    genia: 10\n", 4,
		  "category_base: unknown category \"genia\"" },
		{ "risk_weights:\n  category_base:\n    genai: 20\n    genai: 10\n", 4,
		  "category_base: \"genai\" given twice (line 3)" },
		{ "risk_weights:\n  category_base: [genai]\n", 2,
		  "category_base must be a mapping of category slugs to points" },
		{ "risk_weights: 5\n", 1, "risk_weights must be a mapping" },
		{ "other: 1\n", 1, "no \"risk_weights\" mapping" },
		{ "- risk_weights\n", 1, "the top level must be a mapping with \"risk_weights\"" },
		{ "risk_weights:\n  no_sso: \"5\n", 2, "YAML syntax error" },
	};
	struct risk_weights w, defaults;
	char path[256], err[512];
	(void)state;

	risk_weights_defaults(&defaults);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char prefix[300];
		load_weights_text(cases[i].text, db, path, sizeof(path), err, sizeof(err), &w);
		snprintf(prefix, sizeof(prefix), "%s:%d: ", path, cases[i].line);
		if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, cases[i].reason))
			fail_msg("case %zu: error \"%s\"\n  want \"%s...%s\"", i, err, prefix,
				 cases[i].reason);
		assert_null(strchr(err, '\n'));
		/* a file with an error changes nothing */
		assert_memory_equal(&w, &defaults, sizeof(w));
	}
	/* without a database, any category slug is taken */
	load_weights_text("risk_weights:\n  category_base: {genia: 10}\n", NULL, path,
			  sizeof(path), err, sizeof(err), &w);
	assert_string_equal(err, "");
	assert_int_equal(risk_category_base(&w, "genia"), 10);
	/* an empty hq_countries list turns the factor off */
	load_weights_text("risk_weights:\n  hq_countries: []\n  no_sso: 0\n", db, path,
			  sizeof(path), err, sizeof(err), &w);
	assert_string_equal(err, "");
	assert_int_equal(w.factor[RISK_NO_SSO], 0);
	/* a missing file names itself */
	risk_weights_defaults(&w);
	assert_int_equal(risk_weights_load_file(&w, DATA "/risk-weights/none.yaml", NULL, err,
						sizeof(err)), -1);
	assert_true(strncmp(err, DATA "/risk-weights/none.yaml: ",
			    strlen(DATA "/risk-weights/none.yaml: ")) == 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_scores_default),
		cmocka_unit_test(test_weights_change_score),
		cmocka_unit_test(test_weights_file),
		cmocka_unit_test(test_weights_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
