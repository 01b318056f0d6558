/*
 * Exports for other tools: the domains of banned apps as a plain list and
 * as a DNS response policy zone, and first sightings of unsanctioned apps
 * as JSON-lines events for a SIEM. Formats in docs/reports.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shadowmap/json.h"
#include "shadowmap/timefmt.h"

#include "report.h"

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Which names of the banned apps: their domains, their label patterns
 * ("*-my.sharepoint.com", which neither export format can hold), the
 * hosts carved out of them, or the label patterns carved out of them
 * ("*-fmip.icloud.com", which neither format can let through either). */
enum banned_kind {
	BANNED_DOMAINS,
	BANNED_PATTERNS,
	BANNED_EXCLUDED,
	BANNED_EXCLUDED_PATTERNS,
	BANNED_KINDS
};

static int
banned_kind_excluded(enum banned_kind kind)
{
	return kind == BANNED_EXCLUDED || kind == BANNED_EXCLUDED_PATTERNS;
}

static int
banned_kind_has(enum banned_kind kind, const char *name)
{
	int pattern = kind == BANNED_PATTERNS || kind == BANNED_EXCLUDED_PATTERNS;
	return pattern == (strchr(name, '*') != NULL);
}

/* The banned apps' names of one kind, sorted and each once (caller frees
 * the array, not the strings). */
static const char **
banned_domains(const struct report *r, enum banned_kind kind, size_t *n)
{
	const struct catalog *cat = r->opt.catalog;
	size_t total = 0;
	*n = 0;
	for (size_t i = 0; cat && i < catalog_count(cat); i++) {
		const struct catalog_entry *e = catalog_entry_at(cat, i);
		const struct sig_app *a = sig_db_find_app(r->opt.sigs, e->app);
		if (e->status == CATALOG_BANNED && a)
			total += banned_kind_excluded(kind) ? a->n_exclude_domains : a->n_domains;
	}
	const char **v = malloc((total ? total : 1) * sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; cat && i < catalog_count(cat); i++) {
		const struct catalog_entry *e = catalog_entry_at(cat, i);
		const struct sig_app *a = sig_db_find_app(r->opt.sigs, e->app);
		if (e->status != CATALOG_BANNED || !a)
			continue;
		int ex = banned_kind_excluded(kind);
		size_t m = ex ? a->n_exclude_domains : a->n_domains;
		char *const *names = ex ? a->exclude_domains : a->domains;
		for (size_t k = 0; k < m; k++)
			if (banned_kind_has(kind, names[k]))
				v[(*n)++] = names[k];
	}
	qsort(v, *n, sizeof(*v), cmp_str);
	size_t w = 0;
	for (size_t i = 0; i < *n; i++)
		if (w == 0 || strcmp(v[w - 1], v[i]) != 0)
			v[w++] = v[i];
	*n = w;
	return v;
}

/* Every kind of name for an export, indexed by enum banned_kind. */
struct banned {
	const char **v[BANNED_KINDS];
	size_t n[BANNED_KINDS];
};

static void
banned_free(struct banned *b)
{
	for (int k = 0; k < BANNED_KINDS; k++)
		free(b->v[k]);
}

/* 0, or -1 (errno ENOMEM) with nothing left to free. */
static int
banned_lists(const struct report *r, struct banned *b)
{
	memset(b, 0, sizeof(*b));
	for (int k = 0; k < BANNED_KINDS; k++)
		if (!(b->v[k] = banned_domains(r, (enum banned_kind)k, &b->n[k]))) {
			banned_free(b);
			errno = ENOMEM;
			return -1;
		}
	return 0;
}

static void
banned_apps_comment(const struct report *r, FILE *out, const char *lead)
{
	const struct catalog *cat = r->opt.catalog;
	fprintf(out, "%s banned apps of the catalog:", lead);
	int any = 0;
	for (size_t i = 0; cat && i < catalog_count(cat); i++) {
		const struct catalog_entry *e = catalog_entry_at(cat, i);
		if (e->status == CATALOG_BANNED) {
			fprintf(out, " %s", e->app);
			any = 1;
		}
	}
	fprintf(out, "%s\n", any ? "" : " none");
}

/* One line per name of a kind: lead (a comment and why), then the name. */
static void
lines_of(FILE *out, const struct banned *b, enum banned_kind kind, const char *lead)
{
	for (size_t i = 0; i < b->n[kind]; i++)
		fprintf(out, "%s%s\n", lead, b->v[kind][i]);
}

int
report_write_blocklist(const struct report *r, FILE *out)
{
	struct banned b;
	if (banned_lists(r, &b) < 0)
		return -1;
	fprintf(out, "# shadowmap blocklist: domains of banned apps; each covers its subdomains\n");
	banned_apps_comment(r, out, "#");
	/* a plain list cannot say "but not these": they are named for
	 * whoever loads it (the RPZ zone lets them through) */
	lines_of(out, &b, BANNED_EXCLUDED, "# blocked with its app, though other websites embed it: ");
	/* nor "any label ending in -fmip": blocked like the host exclusions,
	 * and for the RPZ zone too */
	lines_of(out, &b, BANNED_EXCLUDED_PATTERNS,
		 "# blocked with its app, though excluded (a plain list has no label patterns): ");
	/* nor "any label ending in -my": left out rather than widened to the
	 * parent, which other apps may own */
	lines_of(out, &b, BANNED_PATTERNS, "# not blocked, a plain list has no label patterns: ");
	lines_of(out, &b, BANNED_DOMAINS, "");
	banned_free(&b);
	return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}

int
report_write_rpz(const struct report *r, const char *origin, FILE *out)
{
	struct banned b;
	if (banned_lists(r, &b) < 0)
		return -1;
	/* the serial only has to grow between exports: seconds since the
	 * epoch fit in 32 bits until 2106 */
	unsigned long serial = (unsigned long)time(NULL);
	fprintf(out, "; shadowmap response policy zone %s: domains of banned apps answer NXDOMAIN\n",
		origin ? origin : "");
	banned_apps_comment(r, out, ";");
	/* an RPZ wildcard is a whole label: "*-my" cannot be written */
	lines_of(out, &b, BANNED_PATTERNS, "; not blocked, RPZ wildcards are whole labels: ");
	/* nor can "*-fmip" get an rpz-passthru: the app's domain above it
	 * answers NXDOMAIN for those names too, and whoever loads the zone
	 * should know */
	lines_of(out, &b, BANNED_EXCLUDED_PATTERNS,
		 "; blocked with its app, though excluded (RPZ wildcards are whole labels, no "
		 "rpz-passthru can name it): ");
	fprintf(out, "$TTL 300\n"
		     "@ IN SOA localhost. hostmaster.localhost. %lu 3600 600 86400 300\n"
		     "@ IN NS localhost.\n",
		serial);
	for (size_t i = 0; i < b.n[BANNED_DOMAINS]; i++)
		fprintf(out, "%s CNAME .\n*.%s CNAME .\n", b.v[BANNED_DOMAINS][i],
			b.v[BANNED_DOMAINS][i]);
	/* hosts carved out of a banned app (widgets other websites embed)
	 * answer as usual: the closer wildcard wins */
	for (size_t i = 0; i < b.n[BANNED_EXCLUDED]; i++)
		fprintf(out, "%s CNAME rpz-passthru.\n*.%s CNAME rpz-passthru.\n",
			b.v[BANNED_EXCLUDED][i], b.v[BANNED_EXCLUDED][i]);
	banned_free(&b);
	return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}

/* ---- SIEM ---- */

struct sighting {
	int64_t time;
	char *client;
	long app; /* index into r->apps */
};

struct siem_arg {
	const struct report *r;
	struct sighting *v;
	size_t n, cap;
	int failed;
};

static int
siem_row(void *arg, const struct store_client_app_row *row)
{
	struct siem_arg *s = arg;
	const struct report *r = s->r;
	if (row->first_seen < r->from || row->first_seen >= r->to)
		return 0; /* seen before the period (or after it) */
	long a = report_find_app(r, row->app);
	if (a < 0 || r->apps[a].status == CATALOG_SANCTIONED)
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		struct sighting *nv = realloc(s->v, cap * sizeof(*nv));
		if (!nv) {
			s->failed = 1;
			return 1;
		}
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n].client = strdup(row->client);
	if (!s->v[s->n].client) {
		s->failed = 1;
		return 1;
	}
	s->v[s->n].time = row->first_seen;
	s->v[s->n].app = a;
	s->n++;
	return 0;
}

static int
cmp_sighting(const void *x, const void *y)
{
	const struct sighting *a = x, *b = y;
	if (a->time != b->time)
		return a->time < b->time ? -1 : 1;
	if (a->app != b->app)
		return a->app < b->app ? -1 : 1;
	return strcmp(a->client, b->client);
}

int
report_write_siem(const struct report *r, struct store *st, FILE *out, char *err, size_t errlen)
{
	struct siem_arg s = {.r = r};
	int rc = 0;
	if (store_client_apps(st, 0, r->to, siem_row, &s) != 0) {
		snprintf(err, errlen, "%s", s.failed ? "out of memory" : store_error(st));
		rc = -1;
		goto done;
	}
	if (s.n > 1)
		qsort(s.v, s.n, sizeof(*s.v), cmp_sighting);
	struct sbuf sb;
	sbuf_init(&sb, 1 << 20);
	char t[TIMEFMT_LEN];
	for (size_t i = 0; i < s.n; i++) {
		const struct report_app *a = &r->apps[s.v[i].app];
		sbuf_reset(&sb);
		sbuf_addc(&sb, '{');
		json_add_key(&sb, "time", 1);
		json_add_string(&sb, time_format_rfc3339(s.v[i].time, 6, t));
		json_add_key(&sb, "event", 0);
		json_add_string(&sb, "shadowmap.app.first_seen");
		json_add_key(&sb, "client", 0);
		json_add_string(&sb, s.v[i].client);
		json_add_key(&sb, "app", 0);
		json_add_string(&sb, a->app);
		json_add_key(&sb, "app_name", 0);
		json_add_string(&sb, a->name);
		json_add_key(&sb, "vendor", 0);
		json_add_string(&sb, a->vendor);
		json_add_key(&sb, "category", 0);
		json_add_string(&sb, a->category);
		json_add_key(&sb, "status", 0);
		json_add_string(&sb, catalog_status_name(a->status));
		json_add_key(&sb, "risk", 0);
		json_add_i64(&sb, a->risk.score);
		json_add_key(&sb, "first_for_organisation", 0);
		sbuf_addstr(&sb, a->is_new && s.v[i].time == a->first_seen_ever ? "true" : "false");
		json_add_key(&sb, "severity", 0);
		json_add_string(&sb, a->status == CATALOG_BANNED ? "high" :
				     a->risk.score >= r->opt.risky_score ? "medium" : "low");
		sbuf_addstr(&sb, "}\n");
		if (sb.failed || fwrite(sb.data, 1, sb.len, out) != sb.len) {
			snprintf(err, errlen, "%s", sb.failed ? "an event too large" : strerror(errno));
			rc = -1;
			break;
		}
	}
	sbuf_free(&sb);
	if (rc == 0 && fflush(out) != 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		rc = -1;
	}
done:
	for (size_t i = 0; i < s.n; i++)
		free(s.v[i].client);
	free(s.v);
	return rc;
}
