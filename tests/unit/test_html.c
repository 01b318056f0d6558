/*
 * Unit tests of the HTML renderer (reports/html.h) on reports filled by
 * hand: names that are markup, quotes, bidi overrides and broken UTF-8
 * (app names, slugs, domains and network owners come from the network)
 * must come out as text; a risk source that is no https URL must not
 * become a link; an empty report and a buffer too small must not crash.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shadowmap/sbuf.h"
#include "shadowmap/timefmt.h"
#include "shadowmap/utf8.h"
#include "html.h"
#include "report.h"

#define DAY (86400 * USEC_PER_SEC)

/* A script tag, a quote that would end an attribute, a right-to-left
 * override and a byte that is no UTF-8. */
#define EVIL_NAME "<script>alert(1)</script>\"' onmouseover=\"x\xe2\x80\xae\xff"
#define EVIL_SLUG "evil/\"><svg onload=alert(2)>"

static const char *const alternatives[] = { "microsoft-teams", EVIL_SLUG, NULL };
static const char *sanctioned[] = { "microsoft-teams" };

struct fixture {
	struct report r;
	struct report_app apps[3];
	struct report_category cats[2];
	struct report_gap gaps[2];
	struct report_domain doms[1];
	size_t cat0_apps[2], cat1_apps[1];
};

static struct fixture *
fixture_new(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct report *r = &f->r;

	assert_non_null(f);
	assert_int_equal(time_parse_rfc3339("2026-03-01", &r->from), 0);
	r->to = r->from + 30 * DAY;
	r->prev_from = r->from - 30 * DAY;
	r->generated = r->to;
	r->npoints = 30;
	r->point_usec = DAY;
	r->users = 10;
	r->prev_users = 8;
	r->bytes_up = 5000000;
	r->bytes_down = 9000000;
	r->unsanctioned_users = 7;
	r->unsanctioned_bytes_up = 4000000;
	r->opt.risky_score = 60;

	const char *slugs[] = { "microsoft-teams", EVIL_SLUG, "zoom" };
	const char *names[] = { "Microsoft Teams", EVIL_NAME, "Zoom" };
	const char *cats[] = { "video-conferencing", "genai", "video-conferencing" };
	for (int i = 0; i < 3; i++) {
		struct report_app *a = &f->apps[i];
		a->app = slugs[i];
		a->name = names[i];
		a->vendor = i == 1 ? EVIL_NAME : "Vendor & Co";
		a->category = cats[i];
		a->status = i == 0 ? CATALOG_SANCTIONED : i == 1 ? CATALOG_BANNED : CATALOG_TOLERATED;
		a->users = (uint64_t)(8 - 3 * i);
		a->flows = 10;
		a->bytes_up = 1234567;
		a->bytes_down = 7654321;
		a->days_active = 5;
		a->first_seen = r->from;
		a->last_seen = r->to - 1;
		a->first_seen_ever = i == 1 ? r->from + DAY : r->from - 90 * DAY;
		a->is_new = i == 1;
		a->risk.score = 20 + 30 * i;
		a->risk.total = a->risk.score;
		a->risk.n_reasons = 2;
		a->risk.reasons[0].factor = "category";
		a->risk.reasons[0].points = 10;
		snprintf(a->risk.reasons[0].text, RISK_TEXT_MAX, "category <b>base</b>");
		a->risk.reasons[1].factor = "no_sso";
		a->risk.reasons[1].points = 15;
		a->risk.reasons[1].source = i == 1 ? "javascript:alert(3)" : "https://example.com/sso?a=1&b=\"2\"";
		snprintf(a->risk.reasons[1].text, RISK_TEXT_MAX, "no single sign-on");
		if (i == 2)
			a->alternatives = alternatives;
		for (unsigned d = 0; d < r->npoints; d++)
			a->daily_users[d] = d % 4;
	}
	f->cat0_apps[0] = 0;
	f->cat0_apps[1] = 2;
	f->cat1_apps[0] = 1;
	for (int i = 0; i < 2; i++) {
		struct report_category *c = &f->cats[i];
		c->category = i ? "genai" : "video-conferencing";
		c->name = i ? EVIL_NAME : "Video conferencing";
		c->users = 9;
		c->served_users = i ? 0 : 6;
		c->elsewhere_users = i ? 9 : 5;
		c->unserved_users = i ? 9 : 3;
		c->bytes_up = 100;
		c->bytes_down = 200;
		c->prev_users = 4;
		c->prev_elsewhere_users = 2;
		c->n_sanctioned = i ? 0 : 1;
		c->sanctioned = i ? NULL : sanctioned;
		c->n_apps = i ? 1 : 2;
		c->apps = i ? f->cat1_apps : f->cat0_apps;
		c->risk_max = i ? 80 : -1;
		c->risk_mean = i ? 80 : -1;
		c->rank = (unsigned)i + 1;
		c->score = 10.0 - i;
		c->verdict = i ? VERDICT_MOVE_OFF : VERDICT_IMPROVE;
		for (unsigned d = 0; d < r->npoints; d++) {
			c->daily_users[d] = d % 5;
			c->daily_elsewhere[d] = d % 3;
		}
	}
	for (int i = 0; i < 2; i++) {
		f->gaps[i].verdict = i ? VERDICT_MOVE_OFF : VERDICT_IMPROVE;
		f->gaps[i].category = (size_t)i;
		f->gaps[i].app = i ? 1 : -1;
		f->gaps[i].rank = (unsigned)i + 1;
		f->gaps[i].score = 10.0 - i;
		snprintf(f->gaps[i].text, sizeof(f->gaps[i].text), "%s is used", EVIL_NAME);
	}
	f->doms[0].domain = (char *)"evil<script>.example";
	f->doms[0].users = 2;
	f->doms[0].hosts = 3;
	f->doms[0].bytes_up = 999;
	f->doms[0].network = (char *)"<img src=x onerror=alert(4)>";
	f->doms[0].asn = 64500;
	f->doms[0].country = (char *)"\"NL";
	r->apps = f->apps;
	r->n_apps = 3;
	r->categories = f->cats;
	r->n_categories = 2;
	r->gaps = f->gaps;
	r->n_gaps = 2;
	r->domains = f->doms;
	r->n_domains = 1;
	return f;
}

/* What every page must be, whatever its input. */
static void
assert_safe(const char *page, size_t len)
{
	/* one script, ours */
	const char *first = strstr(page, "<script");
	assert_non_null(first);
	assert_null(strstr(first + 1, "<script"));
	assert_null(strstr(page, "<svg onload"));
	assert_null(strstr(page, "<img"));
	/* a quote of a name never ends an attribute */
	assert_null(strstr(page, "\" onmouseover"));
	assert_null(strstr(page, "' onmouseover"));
	assert_null(strstr(page, "javascript:"));
	assert_null(strstr(page, "alert(1)</script>"));
	/* valid UTF-8 throughout, and no override left */
	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq_len((const unsigned char *)page + i, len - i);
		assert_true(n > 0);
		i += n;
	}
	assert_null(strstr(page, "\xe2\x80\xae"));
	/* nothing fetched from elsewhere */
	assert_null(strstr(page, "src=\"http"));
	assert_null(strstr(page, "@import"));
	assert_null(strstr(page, "url("));
}

static void
test_file_escapes_everything(void **state)
{
	struct fixture *f = fixture_new();
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(out);
	assert_int_equal(report_write_html(&f->r, out), 0);
	fclose(out);
	assert_safe(buf, len);
	/* the names are there, as text */
	assert_non_null(strstr(buf, "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39; onmouseover=&quot;x"));
	assert_non_null(strstr(buf, "&lt;img src=x onerror=alert(4)&gt;"));
	/* an https source is a link, with & escaped; the other one is not */
	assert_non_null(strstr(buf, "href=\"https://example.com/sso?a=1&amp;b=&quot;2&quot;\""));
	/* every section and table */
	const char *ids[] = { "id=\"summary\"", "id=\"gaps-table\"", "id=\"chart-demand\"",
			      "id=\"chart-served\"", "id=\"categories-table\"", "id=\"apps-table\"",
			      "id=\"new-apps-table\"", "id=\"domains-table\"", "id=\"trend-cat-0\"" };
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		assert_non_null(strstr(buf, ids[i]));
	/* exact figures beside the human ones */
	assert_non_null(strstr(buf, "data-value=\"1234567\" title=\"1,234,567 bytes\">1.23 MB<"));
	free(buf);
	free(f);
}

static void
test_pages_escape_everything(void **state)
{
	struct fixture *f = fixture_new();
	struct report_page_ctx ctx = { "/dashboard", "2026-03-01", "2026-03-30", "2026-03-30",
				       EVIL_NAME, "csrf\"<x>" };

	(void)state;
	for (int p = 0; p < REPORT_PAGE_COUNT; p++) {
		struct sbuf out;
		sbuf_init(&out, HTML_PAGE_MAX);
		assert_int_equal(report_write_page(&f->r, (enum report_page)p,
						   p == REPORT_PAGE_APP ? EVIL_SLUG : NULL, &ctx, &out),
				 0);
		assert_safe(out.data, out.len);
		/* links keep the range; a slug is percent-encoded in them */
		assert_non_null(strstr(out.data, "/dashboard/?from=2026-03-01&amp;to=2026-03-30"));
		if (p == REPORT_PAGE_APP || p == REPORT_PAGE_APPS)
			assert_non_null(strstr(out.data, "/dashboard/apps/evil%2F%22%3E%3Csvg%20onload%3Dalert%282%29%3E?from="));
		assert_non_null(strstr(out.data, "value=\"csrf&quot;&lt;x&gt;\""));
		sbuf_free(&out);
	}
	free(f);
}

static void
test_app_page_not_in_period(void **state)
{
	struct fixture *f = fixture_new();
	struct report_page_ctx ctx = { "/dashboard", "2026-03-01", "2026-03-30", "2026-03-30",
				       NULL, NULL };
	struct sbuf out;

	(void)state;
	sbuf_init(&out, HTML_PAGE_MAX);
	assert_int_equal(report_write_page(&f->r, REPORT_PAGE_APP, "no-such-app", &ctx, &out), 0);
	assert_non_null(strstr(out.data, "Not used in this period"));
	assert_null(strstr(out.data, "Log out"));
	sbuf_free(&out);
	free(f);
}

static void
test_empty_report(void **state)
{
	struct report r;
	struct report_page_ctx ctx = { "/dashboard", "2026-03-01", "2026-03-01", "2026-03-01",
				       "reader", "x" };
	char *buf = NULL;
	size_t len = 0;
	FILE *out;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.from = 20 * DAY;
	r.to = 21 * DAY;
	out = open_memstream(&buf, &len);
	assert_int_equal(report_write_html(&r, out), 0);
	fclose(out);
	assert_safe(buf, len);
	assert_non_null(strstr(buf, "No gap in this period"));
	assert_non_null(strstr(buf, "No use of any known app"));
	free(buf);
	for (int p = 0; p < REPORT_PAGE_COUNT; p++) {
		struct sbuf sb;
		sbuf_init(&sb, HTML_PAGE_MAX);
		assert_int_equal(report_write_page(&r, (enum report_page)p, "x", &ctx, &sb), 0);
		assert_safe(sb.data, sb.len);
		sbuf_free(&sb);
	}
}

static void
test_cap(void **state)
{
	struct fixture *f = fixture_new();
	struct report_page_ctx ctx = { "/dashboard", "2026-03-01", "2026-03-30", "2026-03-30",
				       NULL, NULL };
	struct sbuf out;

	(void)state;
	sbuf_init(&out, 4096);
	assert_int_equal(report_write_page(&f->r, REPORT_PAGE_APPS, NULL, &ctx, &out), -1);
	assert_true(out.len <= 4096);
	sbuf_free(&out);
	free(f);
}

static void
test_login_and_message(void **state)
{
	struct sbuf out;
	struct report_page_ctx ctx = { "/dashboard", "2026-03-01", "2026-03-30", "2026-03-30",
				       NULL, NULL };

	(void)state;
	sbuf_init(&out, HTML_PAGE_MAX);
	assert_int_equal(html_write_login(&out, "/dashboard/login", "Unknown <token>"), 0);
	assert_non_null(strstr(out.data, "Unknown &lt;token&gt;"));
	assert_non_null(strstr(out.data, "name=\"token\""));
	assert_safe(out.data, out.len);
	sbuf_reset(&out);
	assert_int_equal(html_write_message(&out, &ctx, "Bad <range>", EVIL_NAME), 0);
	assert_safe(out.data, out.len);
	assert_non_null(strstr(out.data, "Bad &lt;range&gt;"));
	sbuf_free(&out);
	/* the script the dashboard's policy allows by hash is the one pages carry */
	assert_non_null(html_page_script());
	assert_true(strlen(html_page_script()) > 100);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_escapes_everything),
		cmocka_unit_test(test_pages_escape_everything),
		cmocka_unit_test(test_app_page_not_in_period),
		cmocka_unit_test(test_empty_report),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_login_and_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
