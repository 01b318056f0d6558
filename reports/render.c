/*
 * The report as JSON (one document, docs/reports.md) and as CSV tables, and
 * the ranking explained in words. Both only lay out what report_build
 * computed: no figure is derived here.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "shadowmap/json.h"
#include "shadowmap/timefmt.h"

#include "report.h"

#define OUT_MAX ((size_t)1 << 30)

const char *
report_ranking_text(const struct report *r, struct sbuf *out)
{
	const struct report_options *o = &r->opt;
	sbuf_addf(out,
		  "Each gap scores the people it concerns, weighted by what is at stake. "
		  "Offer (no sanctioned service covers a category) and improve (a sanctioned "
		  "service exists but %d%% or more of the category's people used other apps "
		  "for it): people who used apps outside the catalog for the category, times "
		  "(1 + the users-weighted mean risk of those apps / 100). "
		  "Move off: a banned app's users times 2 x (1 + its risk / 100); an app with "
		  "risk %d or more, not sanctioned or tolerated, in a category where a "
		  "sanctioned service or an alternative exists: its users times (1 + risk / 100). "
		  "Consider sanctioning: an app with risk under %d, neither sanctioned nor "
		  "banned, used by %d%% or more of its category's people: its users times "
		  "(1 - risk / 100). A gap needs at least %u people (a banned app, one). "
		  "Gaps are listed by score, highest first; a category's rank and verdict "
		  "are those of its highest-ranked gap. Risk is the app's score of "
		  "signatures/RISK.md (0-100), with unknown facts counted as half their weight.",
		  o->bypass_percent, o->risky_score, o->risky_score, o->adoption_percent,
		  o->min_users);
	return out->data ? out->data : "";
}

/* 1.23 MB: decimal units, three significant digits. */
const char *
report_format_bytes(uint64_t v, char *buf)
{
	static const char *const units[] = { "B", "kB", "MB", "GB", "TB", "PB", "EB" };
	double d = (double)v;
	int u = 0;

	if (v < 1000) {
		snprintf(buf, REPORT_BYTES_LEN, "%" PRIu64 " B", v);
		return buf;
	}
	while (d >= 999.5 && u < 6) {
		d /= 1000.0;
		u++;
	}
	if (d < 9.995)
		snprintf(buf, REPORT_BYTES_LEN, "%.2f %s", d, units[u]);
	else if (d < 99.95)
		snprintf(buf, REPORT_BYTES_LEN, "%.1f %s", d, units[u]);
	else
		snprintf(buf, REPORT_BYTES_LEN, "%.0f %s", d, units[u]);
	return buf;
}

static const char *const table_names[REPORT_TABLE_COUNT] = {
	[REPORT_TABLE_CATEGORIES] = "categories",
	[REPORT_TABLE_APPS] = "apps",
	[REPORT_TABLE_GAPS] = "gaps",
	[REPORT_TABLE_UNKNOWN_DOMAINS] = "unknown-domains",
	[REPORT_TABLE_NEW_APPS] = "new-apps",
};

const char *
report_table_name(enum report_table t)
{
	return (unsigned)t < REPORT_TABLE_COUNT ? table_names[t] : NULL;
}

int
report_table_from_name(const char *name)
{
	for (int i = 0; i < REPORT_TABLE_COUNT; i++)
		if (strcmp(name, table_names[i]) == 0)
			return i;
	return -1;
}

/* ---- JSON ---- */

static void
j_time(struct sbuf *sb, int64_t usec)
{
	char t[TIMEFMT_LEN];
	if (usec <= 0 || usec == INT64_MAX)
		sbuf_addstr(sb, "null");
	else
		json_add_string(sb, time_format_rfc3339(usec, 6, t));
}

static void
j_u64(struct sbuf *sb, const char *key, uint64_t v)
{
	json_add_key(sb, key, 0);
	json_add_u64(sb, v);
}

static void
j_str(struct sbuf *sb, const char *key, const char *v, int first)
{
	json_add_key(sb, key, first);
	json_add_string(sb, v);
}

static void
j_series(struct sbuf *sb, const char *key, const uint64_t *v, unsigned n)
{
	json_add_key(sb, key, 0);
	sbuf_addc(sb, '[');
	for (unsigned i = 0; i < n; i++) {
		if (i)
			sbuf_addc(sb, ',');
		json_add_u64(sb, v[i]);
	}
	sbuf_addc(sb, ']');
}

static void
j_strlist(struct sbuf *sb, const char *key, const char *const *v, size_t n)
{
	json_add_key(sb, key, 0);
	sbuf_addc(sb, '[');
	for (size_t i = 0; v && (n == (size_t)-1 ? v[i] != NULL : i < n); i++) {
		if (i)
			sbuf_addc(sb, ',');
		json_add_string(sb, v[i]);
	}
	sbuf_addc(sb, ']');
}

static void
j_risk(struct sbuf *sb, const struct risk_result *rr)
{
	json_add_key(sb, "risk", 0);
	sbuf_addc(sb, '{');
	json_add_key(sb, "score", 1);
	json_add_i64(sb, rr->score);
	json_add_key(sb, "reasons", 0);
	sbuf_addc(sb, '[');
	for (size_t i = 0; i < rr->n_reasons; i++) {
		const struct risk_reason *rs = &rr->reasons[i];
		if (i)
			sbuf_addc(sb, ',');
		sbuf_addc(sb, '{');
		j_str(sb, "factor", rs->factor, 1);
		json_add_key(sb, "points", 0);
		json_add_i64(sb, rs->points);
		json_add_key(sb, "unknown", 0);
		sbuf_addstr(sb, rs->unknown ? "true" : "false");
		j_str(sb, "text", rs->text, 0);
		j_str(sb, "source", rs->source, 0);
		sbuf_addc(sb, '}');
	}
	sbuf_addstr(sb, "]}");
}

static void
j_app(struct sbuf *sb, const struct report *r, const struct report_app *a)
{
	sbuf_addc(sb, '{');
	j_str(sb, "app", a->app, 1);
	j_str(sb, "name", a->name, 0);
	j_str(sb, "vendor", a->vendor, 0);
	j_str(sb, "category", a->category, 0);
	j_str(sb, "status", catalog_status_name(a->status), 0);
	j_u64(sb, "users", a->users);
	j_u64(sb, "flows", a->flows);
	j_u64(sb, "bytes_up", a->bytes_up);
	j_u64(sb, "bytes_down", a->bytes_down);
	json_add_key(sb, "first_seen", 0);
	j_time(sb, a->first_seen);
	json_add_key(sb, "last_seen", 0);
	j_time(sb, a->last_seen);
	json_add_key(sb, "first_seen_ever", 0);
	j_time(sb, a->first_seen_ever);
	json_add_key(sb, "new", 0);
	sbuf_addstr(sb, a->is_new ? "true" : "false");
	j_u64(sb, "days_active", a->days_active);
	j_u64(sb, "prev_users", a->prev_users);
	j_u64(sb, "prev_bytes_up", a->prev_bytes_up);
	j_u64(sb, "prev_bytes_down", a->prev_bytes_down);
	json_add_key(sb, "sanctioned_here", 0);
	sbuf_addstr(sb, a->sanctioned_here ? "true" : "false");
	j_strlist(sb, "alternatives", a->alternatives, (size_t)-1);
	j_risk(sb, &a->risk);
	j_series(sb, "daily_users", a->daily_users, r->npoints);
	sbuf_addc(sb, '}');
}

static void
j_category(struct sbuf *sb, const struct report *r, const struct report_category *c)
{
	sbuf_addc(sb, '{');
	j_str(sb, "category", c->category, 1);
	j_str(sb, "name", c->name, 0);
	j_u64(sb, "users", c->users);
	j_u64(sb, "served_users", c->served_users);
	j_u64(sb, "elsewhere_users", c->elsewhere_users);
	j_u64(sb, "unserved_users", c->unserved_users);
	json_add_key(sb, "rank", 0);
	if (c->rank)
		json_add_u64(sb, c->rank);
	else
		sbuf_addstr(sb, "null");
	j_str(sb, "verdict", report_verdict_name(c->verdict), 0);
	json_add_key(sb, "score", 0);
	sbuf_addf(sb, "%.1f", c->score);
	j_u64(sb, "flows", c->flows);
	j_u64(sb, "bytes_up", c->bytes_up);
	j_u64(sb, "bytes_down", c->bytes_down);
	j_u64(sb, "elsewhere_bytes_up", c->elsewhere_bytes_up);
	j_u64(sb, "elsewhere_bytes_down", c->elsewhere_bytes_down);
	j_u64(sb, "days_active", c->days_active);
	j_u64(sb, "prev_users", c->prev_users);
	j_u64(sb, "prev_elsewhere_users", c->prev_elsewhere_users);
	j_strlist(sb, "sanctioned", c->sanctioned, c->n_sanctioned);
	json_add_key(sb, "apps", 0);
	sbuf_addc(sb, '[');
	for (size_t i = 0; i < c->n_apps; i++) {
		if (i)
			sbuf_addc(sb, ',');
		json_add_string(sb, r->apps[c->apps[i]].app);
	}
	sbuf_addc(sb, ']');
	json_add_key(sb, "risk_max", 0);
	json_add_i64(sb, c->risk_max);
	json_add_key(sb, "risk_mean", 0);
	json_add_i64(sb, c->risk_mean);
	j_series(sb, "daily_users", c->daily_users, r->npoints);
	j_series(sb, "daily_elsewhere", c->daily_elsewhere, r->npoints);
	sbuf_addc(sb, '}');
}

static int
write_out(struct sbuf *sb, FILE *out)
{
	if (sb->failed) {
		sbuf_free(sb);
		errno = ENOMEM;
		return -1;
	}
	size_t n = sb->len;
	int rc = (n && fwrite(sb->data, 1, n, out) != n) ? -1 : 0;
	sbuf_free(sb);
	if (rc == 0 && fflush(out) != 0)
		rc = -1;
	return rc;
}

int
report_write_json(const struct report *r, FILE *out)
{
	struct sbuf sb, text;
	sbuf_init(&sb, OUT_MAX);
	sbuf_init(&text, 1 << 16);

	sbuf_addc(&sb, '{');
	j_str(&sb, "format", "shadowmap.report/1", 1);
	json_add_key(&sb, "from", 0);
	j_time(&sb, r->from);
	json_add_key(&sb, "to", 0);
	j_time(&sb, r->to);
	json_add_key(&sb, "previous_from", 0);
	j_time(&sb, r->prev_from);
	json_add_key(&sb, "generated", 0);
	j_time(&sb, r->generated);
	j_str(&sb, "users_are", "client addresses (until identities arrive)", 0);

	size_t n_new = 0;
	for (size_t i = 0; i < r->n_apps; i++)
		n_new += r->apps[i].is_new;
	json_add_key(&sb, "summary", 0);
	sbuf_addc(&sb, '{');
	json_add_key(&sb, "users", 1);
	json_add_u64(&sb, r->users);
	j_u64(&sb, "prev_users", r->prev_users);
	j_u64(&sb, "unsanctioned_users", r->unsanctioned_users);
	j_u64(&sb, "unsanctioned_bytes_up", r->unsanctioned_bytes_up);
	j_u64(&sb, "flows", r->flows);
	j_u64(&sb, "bytes_up", r->bytes_up);
	j_u64(&sb, "bytes_down", r->bytes_down);
	j_u64(&sb, "apps", r->n_apps);
	j_u64(&sb, "new_apps", n_new);
	j_u64(&sb, "categories", r->n_categories);
	j_u64(&sb, "gaps", r->n_gaps);
	sbuf_addc(&sb, '}');

	j_str(&sb, "ranking", report_ranking_text(r, &text), 0);
	json_add_key(&sb, "thresholds", 0);
	sbuf_addf(&sb,
		  "{\"risky_score\":%d,\"bypass_percent\":%d,\"adoption_percent\":%d,"
		  "\"min_users\":%u}",
		  r->opt.risky_score, r->opt.bypass_percent, r->opt.adoption_percent,
		  r->opt.min_users);
	json_add_key(&sb, "series", 0);
	sbuf_addc(&sb, '{');
	json_add_key(&sb, "points", 1);
	json_add_u64(&sb, r->npoints);
	j_u64(&sb, "point_seconds", (uint64_t)(r->point_usec / USEC_PER_SEC));
	json_add_key(&sb, "start", 0);
	j_time(&sb, r->from - r->from % (86400 * USEC_PER_SEC));
	sbuf_addc(&sb, '}');

	json_add_key(&sb, "gaps", 0);
	sbuf_addc(&sb, '[');
	for (size_t i = 0; i < r->n_gaps; i++) {
		const struct report_gap *g = &r->gaps[i];
		if (i)
			sbuf_addc(&sb, ',');
		sbuf_addc(&sb, '{');
		json_add_key(&sb, "rank", 1);
		json_add_u64(&sb, g->rank);
		j_str(&sb, "verdict", report_verdict_name(g->verdict), 0);
		j_str(&sb, "category", r->categories[g->category].category, 0);
		j_str(&sb, "app", g->app >= 0 ? r->apps[g->app].app : NULL, 0);
		json_add_key(&sb, "score", 0);
		sbuf_addf(&sb, "%.1f", g->score);
		j_str(&sb, "text", g->text, 0);
		sbuf_addc(&sb, '}');
	}
	sbuf_addc(&sb, ']');

	json_add_key(&sb, "categories", 0);
	sbuf_addc(&sb, '[');
	for (size_t i = 0; i < r->n_categories; i++) {
		if (i)
			sbuf_addc(&sb, ',');
		j_category(&sb, r, &r->categories[i]);
	}
	sbuf_addc(&sb, ']');

	json_add_key(&sb, "apps", 0);
	sbuf_addc(&sb, '[');
	for (size_t i = 0; i < r->n_apps; i++) {
		if (i)
			sbuf_addc(&sb, ',');
		j_app(&sb, r, &r->apps[i]);
	}
	sbuf_addc(&sb, ']');

	json_add_key(&sb, "new_apps", 0);
	sbuf_addc(&sb, '[');
	for (size_t i = 0, n = 0; i < r->n_apps; i++) {
		if (!r->apps[i].is_new)
			continue;
		if (n++)
			sbuf_addc(&sb, ',');
		json_add_string(&sb, r->apps[i].app);
	}
	sbuf_addc(&sb, ']');

	json_add_key(&sb, "unknown_domains", 0);
	sbuf_addc(&sb, '[');
	for (size_t i = 0; i < r->n_domains; i++) {
		const struct report_domain *d = &r->domains[i];
		if (i)
			sbuf_addc(&sb, ',');
		sbuf_addc(&sb, '{');
		j_str(&sb, "domain", d->domain, 1);
		j_u64(&sb, "users", d->users);
		j_u64(&sb, "hosts", d->hosts);
		j_u64(&sb, "flows", d->flows);
		j_u64(&sb, "bytes_up", d->bytes_up);
		j_u64(&sb, "bytes_down", d->bytes_down);
		json_add_key(&sb, "first_seen", 0);
		j_time(&sb, d->first_seen);
		json_add_key(&sb, "last_seen", 0);
		j_time(&sb, d->last_seen);
		json_add_key(&sb, "network", 0);
		if (d->network || d->asn || d->country) {
			sbuf_addc(&sb, '{');
			json_add_key(&sb, "asn", 1);
			if (d->asn)
				json_add_u64(&sb, d->asn);
			else
				sbuf_addstr(&sb, "null");
			j_str(&sb, "org", d->network, 0);
			j_str(&sb, "country", d->country, 0);
			sbuf_addc(&sb, '}');
		} else {
			sbuf_addstr(&sb, "null");
		}
		sbuf_addc(&sb, '}');
	}
	sbuf_addstr(&sb, "]}\n");
	sbuf_free(&text);
	return write_out(&sb, out);
}

/* ---- CSV ---- */

/* RFC 4180: quoted when it holds a comma, quote or line break; a leading
 * = + - @ is prefixed with ' so that a spreadsheet does not run a name
 * off the network as a formula. */
static void
csv_field(struct sbuf *sb, const char *s, int first)
{
	if (!first)
		sbuf_addc(sb, ',');
	if (!s)
		return;
	int quote = strpbrk(s, ",\"\r\n") != NULL;
	int formula = strchr("=+-@\t\r", s[0]) != NULL && s[0];
	if (quote || formula)
		sbuf_addc(sb, '"');
	if (formula)
		sbuf_addc(sb, '\'');
	for (const char *p = s; *p; p++) {
		if (*p == '"')
			sbuf_addc(sb, '"');
		sbuf_addc(sb, *p);
	}
	if (quote || formula)
		sbuf_addc(sb, '"');
}

static void
csv_u64(struct sbuf *sb, uint64_t v)
{
	sbuf_addf(sb, ",%llu", (unsigned long long)v);
}

static void
csv_time(struct sbuf *sb, int64_t usec)
{
	char t[TIMEFMT_LEN];
	csv_field(sb, usec > 0 && usec != INT64_MAX ? time_format_rfc3339(usec, 6, t) : NULL, 0);
}

static void
csv_app_row(struct sbuf *sb, const struct report_app *a)
{
	csv_field(sb, a->app, 1);
	csv_field(sb, a->name, 0);
	csv_field(sb, a->category, 0);
	csv_field(sb, catalog_status_name(a->status), 0);
	csv_u64(sb, a->users);
	csv_u64(sb, a->flows);
	csv_u64(sb, a->bytes_up);
	csv_u64(sb, a->bytes_down);
	csv_time(sb, a->first_seen);
	csv_time(sb, a->last_seen);
	csv_u64(sb, a->days_active);
	csv_u64(sb, a->prev_users);
	sbuf_addf(sb, ",%d", a->risk.score);
	struct sbuf alt;
	sbuf_init(&alt, 4096);
	for (size_t i = 0; a->alternatives && a->alternatives[i]; i++)
		sbuf_addf(&alt, "%s%s", i ? " " : "", a->alternatives[i]);
	csv_field(sb, alt.data, 0);
	sbuf_free(&alt);
	sbuf_addstr(sb, "\r\n");
}

int
report_write_csv(const struct report *r, enum report_table t, FILE *out)
{
	struct sbuf sb;
	sbuf_init(&sb, OUT_MAX);
	switch (t) {
	case REPORT_TABLE_CATEGORIES:
		sbuf_addstr(&sb, "category,name,users,served_users,elsewhere_users,unserved_users,"
				 "rank,verdict,score,flows,bytes_up,bytes_down,elsewhere_bytes_up,"
				 "elsewhere_bytes_down,days_active,prev_users,sanctioned,"
				 "risk_max,risk_mean\r\n");
		for (size_t i = 0; i < r->n_categories; i++) {
			const struct report_category *c = &r->categories[i];
			csv_field(&sb, c->category, 1);
			csv_field(&sb, c->name, 0);
			csv_u64(&sb, c->users);
			csv_u64(&sb, c->served_users);
			csv_u64(&sb, c->elsewhere_users);
			csv_u64(&sb, c->unserved_users);
			if (c->rank)
				csv_u64(&sb, c->rank);
			else
				sbuf_addc(&sb, ',');
			csv_field(&sb, report_verdict_name(c->verdict), 0);
			sbuf_addf(&sb, ",%.1f", c->score);
			csv_u64(&sb, c->flows);
			csv_u64(&sb, c->bytes_up);
			csv_u64(&sb, c->bytes_down);
			csv_u64(&sb, c->elsewhere_bytes_up);
			csv_u64(&sb, c->elsewhere_bytes_down);
			csv_u64(&sb, c->days_active);
			csv_u64(&sb, c->prev_users);
			struct sbuf s;
			sbuf_init(&s, 1 << 16);
			for (size_t k = 0; k < c->n_sanctioned; k++)
				sbuf_addf(&s, "%s%s", k ? " " : "", c->sanctioned[k]);
			csv_field(&sb, s.data, 0);
			sbuf_free(&s);
			sbuf_addf(&sb, ",%d,%d\r\n", c->risk_max, c->risk_mean);
		}
		break;
	case REPORT_TABLE_APPS:
	case REPORT_TABLE_NEW_APPS:
		sbuf_addstr(&sb, "app,name,category,status,users,flows,bytes_up,bytes_down,"
				 "first_seen,last_seen,days_active,prev_users,risk,"
				 "alternatives\r\n");
		for (size_t i = 0; i < r->n_apps; i++)
			if (t == REPORT_TABLE_APPS || r->apps[i].is_new)
				csv_app_row(&sb, &r->apps[i]);
		break;
	case REPORT_TABLE_GAPS:
		sbuf_addstr(&sb, "rank,verdict,category,app,score,text\r\n");
		for (size_t i = 0; i < r->n_gaps; i++) {
			const struct report_gap *g = &r->gaps[i];
			sbuf_addf(&sb, "%u", g->rank);
			csv_field(&sb, report_verdict_name(g->verdict), 0);
			csv_field(&sb, r->categories[g->category].category, 0);
			csv_field(&sb, g->app >= 0 ? r->apps[g->app].app : NULL, 0);
			sbuf_addf(&sb, ",%.1f", g->score);
			csv_field(&sb, g->text, 0);
			sbuf_addstr(&sb, "\r\n");
		}
		break;
	case REPORT_TABLE_UNKNOWN_DOMAINS:
		sbuf_addstr(&sb, "domain,users,hosts,flows,bytes_up,bytes_down,first_seen,"
				 "last_seen,asn,network,country\r\n");
		for (size_t i = 0; i < r->n_domains; i++) {
			const struct report_domain *d = &r->domains[i];
			csv_field(&sb, d->domain, 1);
			csv_u64(&sb, d->users);
			csv_u64(&sb, d->hosts);
			csv_u64(&sb, d->flows);
			csv_u64(&sb, d->bytes_up);
			csv_u64(&sb, d->bytes_down);
			csv_time(&sb, d->first_seen);
			csv_time(&sb, d->last_seen);
			if (d->asn)
				csv_u64(&sb, d->asn);
			else
				sbuf_addc(&sb, ',');
			csv_field(&sb, d->network, 0);
			csv_field(&sb, d->country, 0);
			sbuf_addstr(&sb, "\r\n");
		}
		break;
	default:
		sbuf_free(&sb);
		errno = EINVAL;
		return -1;
	}
	return write_out(&sb, out);
}
