/*
 * Unit tests of the analysis (reports/report.h) on a real SQLite store: a
 * small organisation whose figures are worked out by hand in the comments
 * below (who needed which category, who was served, who went elsewhere,
 * days, trends, unknown domains, gaps and their scores), then the JSON,
 * CSV and the exports (blocklist, RPZ, SIEM first sightings).
 */
#define _GNU_SOURCE
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "shadowmap/addr.h"
#include "shadowmap/catalog.h"
#include "shadowmap/log.h"
#include "shadowmap/sig.h"
#include "report.h"
#include "store.h"

#define USEC 1000000LL
#define DAY (86400LL * USEC)
#define DAY0 (20002LL * DAY) /* 2024-10-06 */

static const char catalog_yaml[] =
	"apps:\n"
	"  - app: microsoft-teams\n"
	"    status: sanctioned\n"
	"    covers: [video-conferencing, messaging]\n"
	"  - app: onedrive\n"
	"    status: sanctioned\n"
	"  - app: zoom\n"
	"    status: tolerated\n"
	"  - app: wetransfer\n"
	"    status: unsanctioned\n"
	"    alternatives: [onedrive]\n"
	"  - app: pastebin\n"
	"    status: banned\n";

struct world {
	char dir[64], db[128], cat[128];
	sig_db *sigs;
	struct catalog *catalog;
	struct store *st;
	int batch;
};

static void
use_proto(struct world *w, const char *client, const char *host, const char *domain,
	  const char *ndpi, int day, uint64_t up, uint64_t down);

/* where the servers of the next records are */
static const char *net_country, *net_org;
static uint32_t net_asn;

static void
use(struct world *w, const char *client, const char *host, const char *domain, int day,
    uint64_t up, uint64_t down)
{
	use_proto(w, client, host, domain, "TLS", day, up, down);
}

static void
use_proto(struct world *w, const char *client, const char *host, const char *domain,
	  const char *ndpi, int day, uint64_t up, uint64_t down)
{
	struct usage_record r;
	memset(&r, 0, sizeof(r));
	r.bucket_start = DAY0 + day * DAY + 10 * 3600 * USEC;
	r.bucket_seconds = 300;
	r.has_client = 1;
	assert_int_equal(addr_parse(client, &r.client), 0);
	r.host = host;
	r.domain = domain;
	r.ndpi_proto = ndpi;
	r.country = net_country;
	r.asn = net_asn;
	r.as_org = net_org;
	r.flows = 1;
	r.packets = 10;
	r.bytes_up = up;
	r.bytes_down = down;
	r.first_seen = r.bucket_start + USEC;
	r.last_seen = r.bucket_start + 100 * USEC;
	char id[32];
	snprintf(id, sizeof(id), "b%d", w->batch++);
	assert_int_equal(store_ingest(w->st, id, "test", &r, 1), STORE_STORED);
}

static int
setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	char err[512];
	assert_non_null(w);
	snprintf(w->dir, sizeof(w->dir), "/tmp/shadowmap-report-XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	snprintf(w->db, sizeof(w->db), "%s/store.db", w->dir);
	snprintf(w->cat, sizeof(w->cat), "%s/catalog.yaml", w->dir);
	FILE *f = fopen(w->cat, "w");
	assert_non_null(f);
	fputs(catalog_yaml, f);
	fclose(f);
	w->sigs = sig_db_open(SOURCE_DIR "/signatures", NULL, err, sizeof(err));
	if (!w->sigs)
		fail_msg("signatures: %s", err);
	w->catalog = catalog_load(w->cat, w->sigs, err, sizeof(err));
	if (!w->catalog)
		fail_msg("catalog: %s", err);
	w->st = store_open(w->db, err, sizeof(err));
	assert_non_null(w->st);
	assert_true(store_remap(w->st, w->sigs) >= 0);

	/* the previous period (days -3..-1): c1 on Teams, c2 on Zoom */
	use(w, "10.0.0.1", "teams.microsoft.com", "microsoft.com", -3, 100, 1000);
	use(w, "10.0.0.2", "zoom.us", "zoom.us", -2, 100, 1000);
	/* the period (days 0..2) */
	use(w, "10.0.0.1", "teams.microsoft.com", "microsoft.com", 0, 1000, 10000);
	use(w, "10.0.0.1", "zoom.us", "zoom.us", 1, 2000, 20000);
	use(w, "10.0.0.2", "zoom.us", "zoom.us", 0, 3000, 30000);
	use(w, "10.0.0.2", "zoom.us", "zoom.us", 2, 3000, 30000);
	use(w, "10.0.0.3", "onedrive.live.com", "live.com", 0, 4000, 40000);
	use(w, "10.0.0.3", "wetransfer.com", "wetransfer.com", 1, 5000000, 5000);
	use(w, "10.0.0.4", "wetransfer.com", "wetransfer.com", 2, 7000000, 7000);
	use(w, "10.0.0.5", "www.dropbox.com", "dropbox.com", 1, 6000, 60000);
	use(w, "10.0.0.6", "pastebin.com", "pastebin.com", 0, 700, 7000);
	/* the unknown domain on two networks; 11,000 bytes on AS64500 */
	net_country = "NL", net_asn = 64501, net_org = "Other Hosting";
	use(w, "10.0.0.6", "portal.acme-unknown.com", "acme-unknown.com", 0, 800, 8000);
	net_country = "DE", net_asn = 64500, net_org = "Example Hosting GmbH";
	use(w, "10.0.0.6", "files.acme-unknown.com", "acme-unknown.com", 1, 900, 9000);
	use(w, "10.0.0.5", "files.acme-unknown.com", "acme-unknown.com", 1, 100, 1000);
	net_country = NULL, net_asn = 0, net_org = NULL;
	/* c5 looks a Teams name up: a question, not use of Teams */
	use_proto(w, "10.0.0.5", NULL, NULL, "DNS.Teams", 1, 80, 200);
	/* after the period: must count nowhere */
	use(w, "10.0.0.9", "zoom.us", "zoom.us", 3, 1, 1);
	assert_true(store_remap(w->st, w->sigs) >= 0);
	*state = w;
	return 0;
}

static int
teardown(void **state)
{
	struct world *w = *state;
	char cmd[128];
	store_close(w->st);
	catalog_free(w->catalog);
	sig_db_free(w->sigs);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w->dir);
	assert_int_equal(system(cmd), 0);
	free(w);
	return 0;
}

static struct report *
build(struct world *w)
{
	char err[512];
	struct report_options o = {.from = DAY0, .to = DAY0 + 3 * DAY, .sigs = w->sigs,
				   .catalog = w->catalog};
	struct report *r = report_build(w->st, &o, err, sizeof(err));
	if (!r)
		fail_msg("report_build: %s", err);
	return r;
}

static const struct report_category *
cat(const struct report *r, const char *slug)
{
	for (size_t i = 0; i < r->n_categories; i++)
		if (strcmp(r->categories[i].category, slug) == 0)
			return &r->categories[i];
	fail_msg("no category %s", slug);
	return NULL;
}

static const struct report_app *
app(const struct report *r, const char *slug)
{
	long i = report_find_app(r, slug);
	if (i < 0)
		fail_msg("no app %s", slug);
	return &r->apps[i];
}

static void
test_figures(void **state)
{
	struct report *r = build(*state);

	assert_int_equal(r->users, 6);	    /* c1..c6; c9 is after the period */
	assert_int_equal(r->prev_users, 2); /* c1, c2 */
	/* every one used an app that is not sanctioned (Zoom is only tolerated) */
	assert_int_equal(r->unsanctioned_users, 6);
	assert_int_equal(r->flows, 13); /* with the lookup, in no app */

	/* video-conferencing: Teams covers it. c1 Teams + Zoom, c2 Zoom only */
	const struct report_category *v = cat(r, "video-conferencing");
	assert_int_equal(v->users, 2);
	assert_int_equal(v->served_users, 1);
	assert_int_equal(v->elsewhere_users, 2);
	assert_int_equal(v->unserved_users, 1);
	assert_int_equal(v->prev_users, 2);
	assert_int_equal(v->prev_elsewhere_users, 1);
	assert_int_equal(v->days_active, 3);
	assert_int_equal(v->n_sanctioned, 1);
	assert_string_equal(v->sanctioned[0], "microsoft-teams");
	/* messaging: only through Teams covering it */
	const struct report_category *m = cat(r, "messaging");
	assert_int_equal(app(r, "microsoft-teams")->users, 1);
	assert_int_equal(m->users, 1);
	assert_int_equal(m->served_users, 1);
	assert_int_equal(m->elsewhere_users, 0);
	/* file-sharing: c3 OneDrive + WeTransfer, c4 WeTransfer, c5 Dropbox */
	const struct report_category *fs = cat(r, "file-sharing");
	assert_int_equal(fs->users, 3);
	assert_int_equal(fs->served_users, 1);
	assert_int_equal(fs->elsewhere_users, 3);
	assert_int_equal(fs->unserved_users, 2);
	assert_int_equal(fs->elsewhere_bytes_up, 5000000 + 7000000 + 6000);
	assert_int_equal(fs->bytes_up, 4000 + 5000000 + 7000000 + 6000);
	assert_int_equal(fs->prev_users, 0);

	const struct report_app *z = app(r, "zoom");
	assert_int_equal(z->users, 2);
	assert_int_equal(z->flows, 3);
	assert_int_equal(z->bytes_up, 8000);
	assert_int_equal(z->bytes_down, 80000);
	assert_int_equal(z->days_active, 3);
	assert_int_equal(z->prev_users, 1);
	assert_int_equal(z->prev_bytes_up, 100);
	assert_int_equal(z->status, CATALOG_TOLERATED);
	assert_int_equal(z->is_new, 0); /* seen in the previous period */
	assert_int_equal(r->npoints, 3);
	assert_int_equal(z->daily_users[0], 1);
	assert_int_equal(z->daily_users[1], 1);
	assert_int_equal(z->daily_users[2], 1);
	const struct report_app *wt = app(r, "wetransfer");
	assert_int_equal(wt->users, 2);
	assert_int_equal(wt->is_new, 1);
	assert_non_null(wt->alternatives);
	assert_string_equal(wt->alternatives[0], "onedrive");
	assert_true(app(r, "microsoft-teams")->sanctioned_here);

	/* one unknown domain, two names, two people */
	assert_int_equal(r->n_domains, 1);
	assert_string_equal(r->domains[0].domain, "acme-unknown.com");
	assert_int_equal(r->domains[0].users, 2);
	assert_int_equal(r->domains[0].hosts, 2);
	assert_int_equal(r->domains[0].bytes_up, 1800);
	assert_int_equal(r->domains[0].asn, 64500);
	assert_string_equal(r->domains[0].network, "Example Hosting GmbH");
	assert_string_equal(r->domains[0].country, "DE");
	report_free(r);
}

static void
test_gaps(void **state)
{
	struct report *r = build(*state);
	/* with 3 people needed for a gap: file-sharing's 3 going elsewhere
	 * (100% of 3) make "improve"; pastebin is banned: "move-off";
	 * video-conferencing has only 2 elsewhere: no gap */
	assert_int_equal(r->n_gaps, 2);
	int seen_improve = 0, seen_move = 0;
	for (size_t i = 0; i < r->n_gaps; i++) {
		const struct report_gap *g = &r->gaps[i];
		const struct report_category *c = &r->categories[g->category];
		assert_int_equal(g->rank, i + 1);
		if (g->verdict == VERDICT_IMPROVE) {
			assert_string_equal(c->category, "file-sharing");
			assert_int_equal(g->app, -1);
			/* 3 people x (1 + mean risk / 100) */
			assert_true(fabs(g->score - round(3 * (1 + c->risk_mean / 100.0) * 10) / 10) <
				    0.051);
			assert_non_null(strstr(g->text, "Microsoft OneDrive"));
			seen_improve = 1;
		} else if (g->verdict == VERDICT_MOVE_OFF) {
			const struct report_app *a = &r->apps[g->app];
			assert_string_equal(a->app, "pastebin");
			assert_string_equal(c->category, "paste-sites");
			assert_true(fabs(g->score - round(2 * (1 + a->risk.score / 100.0) * 10) / 10) <
				    0.051);
			seen_move = 1;
		}
		if (i > 0)
			assert_true(r->gaps[i - 1].score >= g->score);
	}
	assert_true(seen_improve && seen_move);
	assert_int_equal(cat(r, "file-sharing")->verdict, VERDICT_IMPROVE);
	assert_int_equal(cat(r, "video-conferencing")->verdict, VERDICT_NONE);
	assert_int_equal(cat(r, "video-conferencing")->rank, 0);
	/* ranked categories first */
	assert_true(r->categories[0].rank == 1);
	report_free(r);

	/* with 2 people enough, video-conferencing's bypass shows too */
	struct world *w = *state;
	char err[512];
	struct report_options o = {.from = DAY0, .to = DAY0 + 3 * DAY, .sigs = w->sigs,
				   .catalog = w->catalog, .min_users = 2};
	r = report_build(w->st, &o, err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(cat(r, "video-conferencing")->verdict, VERDICT_IMPROVE);
	report_free(r);
}

static char *
render(struct report *r, int (*fn)(const struct report *, FILE *))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(fn(r, f), 0);
	fclose(f);
	return buf;
}

static void
test_json_csv(void **state)
{
	struct report *r = build(*state);
	char *text = render(r, report_write_json);
	json_error_t je;
	json_t *doc = json_loads(text, 0, &je);
	if (!doc)
		fail_msg("JSON: %s at %d", je.text, je.line);
	json_t *cats = json_object_get(doc, "categories");
	assert_int_equal(json_array_size(cats), r->n_categories);
	int found = 0;
	for (size_t i = 0; i < json_array_size(cats); i++) {
		json_t *c = json_array_get(cats, i);
		if (strcmp(json_string_value(json_object_get(c, "category")), "file-sharing"))
			continue;
		found = 1;
		assert_int_equal(json_integer_value(json_object_get(c, "users")), 3);
		assert_int_equal(json_integer_value(json_object_get(c, "unserved_users")), 2);
		assert_string_equal(json_string_value(json_object_get(c, "verdict")), "improve");
	}
	assert_true(found);
	json_t *apps = json_object_get(doc, "apps");
	json_t *a0 = json_array_get(apps, 0);
	for (const char *k = "app\0name\0category\0status\0users\0flows\0bytes_up\0bytes_down\0"
			     "first_seen\0last_seen\0";
	     *k; k += strlen(k) + 1)
		if (!json_object_get(a0, k))
			fail_msg("apps[0] has no %s", k);
	json_t *ud = json_array_get(json_object_get(doc, "unknown_domains"), 0);
	assert_string_equal(json_string_value(json_object_get(ud, "domain")), "acme-unknown.com");
	json_decref(doc);
	free(text);

	/* CSV: a header and one line per category, CRLF */
	char *csv = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&csv, &len);
	assert_int_equal(report_write_csv(r, REPORT_TABLE_CATEGORIES, f), 0);
	fclose(f);
	size_t lines = 0;
	for (char *p = csv; (p = strstr(p, "\r\n")); p += 2)
		lines++;
	assert_int_equal(lines, r->n_categories + 1);
	assert_true(strncmp(csv, "category,name,users,served_users,elsewhere_users,", 49) == 0);
	free(csv);
	report_free(r);
}

static int
write_rpz(const struct report *r, FILE *f)
{
	return report_write_rpz(r, "rpz.example", f);
}

static void
test_exports(void **state)
{
	struct world *w = *state;
	struct report *r = build(w);
	char *bl = render(r, report_write_blocklist);
	assert_non_null(strstr(bl, "\npastebin.com\n"));
	assert_null(strstr(bl, "zoom.us"));
	free(bl);
	char *rpz = render(r, write_rpz);
	assert_non_null(strstr(rpz, "\npastebin.com CNAME .\n*.pastebin.com CNAME .\n"));
	assert_non_null(strstr(rpz, "IN SOA"));
	free(rpz);

	report_free(r);

	/* a host carved out of a banned app (a widget other websites embed)
	 * is let through by the RPZ zone and named in the blocklist; a label
	 * pattern, which neither format can hold, is named in both and
	 * blocks nothing; a label pattern carved out of the app cannot be let
	 * through by either, and both say it stays blocked */
	{
		char local[600], err[512];
		snprintf(local, sizeof(local), "%s/local.yaml", w->dir);
		FILE *f = fopen(local, "w");
		assert_non_null(f);
		fputs("overrides:\n  - app: pastebin\n"
		      "    exclude_domains: [embed.pastebin.com, \"*-raw.pastebin.com\"]\n"
		      "    domains: [\"*-paste.example.net\"]\n", f);
		assert_int_equal(fclose(f), 0);
		sig_db *sigs = sig_db_open(SOURCE_DIR "/signatures", local, err, sizeof(err));
		if (!sigs)
			fail_msg("signatures: %s", err);
		struct report_options o = {.from = DAY0, .to = DAY0 + 3 * DAY, .sigs = sigs,
					   .catalog = w->catalog};
		struct report *rx = report_build(w->st, &o, err, sizeof(err));
		if (!rx)
			fail_msg("report_build: %s", err);
		rpz = render(rx, write_rpz);
		assert_non_null(strstr(rpz, "\npastebin.com CNAME .\n*.pastebin.com CNAME .\n"));
		assert_non_null(strstr(rpz, "\nembed.pastebin.com CNAME rpz-passthru.\n"
					    "*.embed.pastebin.com CNAME rpz-passthru.\n"));
		assert_non_null(strstr(rpz, "\n; not blocked, RPZ wildcards are whole labels: "
					    "*-paste.example.net\n"));
		assert_null(strstr(rpz, "\n*-paste"));
		assert_null(strstr(rpz, "example.net CNAME"));
		assert_non_null(strstr(rpz, "\n; blocked with its app, though excluded (RPZ wildcards "
					    "are whole labels, no rpz-passthru can name it): "
					    "*-raw.pastebin.com\n"));
		assert_null(strstr(rpz, "raw.pastebin.com CNAME"));
		assert_null(strstr(rpz, "\n*-raw"));
		free(rpz);
		bl = render(rx, report_write_blocklist);
		assert_non_null(strstr(bl, "\n# blocked with its app, though other websites embed "
					   "it: embed.pastebin.com\n"));
		assert_non_null(strstr(bl, "\npastebin.com\n"));
		assert_non_null(strstr(bl, "\n# not blocked, a plain list has no label patterns: "
					   "*-paste.example.net\n"));
		assert_null(strstr(bl, "\n*-paste"));
		assert_null(strstr(bl, "\nexample.net\n"));
		assert_non_null(strstr(bl, "\n# blocked with its app, though excluded (a plain list "
					   "has no label patterns): *-raw.pastebin.com\n"));
		assert_null(strstr(bl, "embed it: *-raw"));
		assert_null(strstr(bl, "\n*-raw"));
		free(bl);
		report_free(rx);
		sig_db_free(sigs);
		unlink(local);
	}
	r = build(w);

	/* first sightings in the period of apps not sanctioned: c1 zoom,
	 * c3 and c4 wetransfer, c5 dropbox, c6 pastebin; c2 met zoom before */
	char *ev = NULL, err[256];
	size_t len = 0;
	FILE *f = open_memstream(&ev, &len);
	assert_int_equal(report_write_siem(r, w->st, f, err, sizeof(err)), 0);
	fclose(f);
	size_t n = 0;
	for (char *line = strtok(ev, "\n"); line; line = strtok(NULL, "\n")) {
		json_error_t je;
		json_t *o = json_loads(line, 0, &je);
		assert_non_null(o);
		const char *a = json_string_value(json_object_get(o, "app"));
		const char *c = json_string_value(json_object_get(o, "client"));
		assert_false(strcmp(a, "zoom") == 0 && strcmp(c, "10.0.0.2") == 0);
		assert_false(strcmp(a, "microsoft-teams") == 0 || strcmp(a, "onedrive") == 0);
		if (strcmp(a, "pastebin") == 0)
			assert_string_equal(json_string_value(json_object_get(o, "severity")), "high");
		json_decref(o);
		n++;
	}
	assert_int_equal(n, 5);
	free(ev);
	report_free(r);
}

static void
test_bad_period(void **state)
{
	struct world *w = *state;
	char err[256] = "";
	struct report_options o = {.from = DAY0, .to = DAY0, .sigs = w->sigs};
	assert_null(report_build(w->st, &o, err, sizeof(err)));
	assert_non_null(strstr(err, "period"));
	/* an empty period is a report with nothing in it, not an error */
	o.from = DAY0 + 100 * DAY;
	o.to = DAY0 + 101 * DAY;
	struct report *r = report_build(w->st, &o, err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(r->users, 0);
	assert_int_equal(r->n_apps, 0);
	assert_int_equal(r->n_gaps, 0);
	char *text = render(r, report_write_json);
	json_error_t je;
	json_t *doc = json_loads(text, 0, &je);
	assert_non_null(doc);
	json_decref(doc);
	free(text);
	report_free(r);
}

int
main(void)
{
	log_init("test_report", LOG_LEVEL_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_figures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gaps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_csv, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_period, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
