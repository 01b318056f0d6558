/*
 * The HTML renderer (html.h): the standalone report file and the
 * dashboard's pages are laid out by the same section functions, so a figure
 * is computed once (report_build) and written the same way everywhere.
 * Pages are built in a capped sbuf; every string that may come from the
 * network goes through esc() (HTML) or url_part() (a URL's path or query).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shadowmap/catalog.h"
#include "shadowmap/risk.h"
#include "shadowmap/sbuf.h"
#include "shadowmap/sig.h"
#include "shadowmap/timefmt.h"
#include "shadowmap/utf8.h"

#include "html.h"
#include "report.h"

#define USEC_PER_DAY (86400 * USEC_PER_SEC)
#define NUM_LEN 40
#define LABEL_CHARS 30	     /* of a category or app name in a chart */
#define OVERVIEW_BARS 15     /* categories in the overview's chart */
#define OVERVIEW_TRENDS 6    /* small trend charts on the overview */
#define TREND_CHARTS_MAX 40  /* elsewhere */
#define TOP_GAPS 3	     /* in the summary */

/* What every section writes with. */
struct hw {
	struct sbuf *o;
	const struct report *r;
	const struct report_page_ctx *ctx; /* NULL: the standalone file */
};

#define S(w, s) sbuf_addstr((w)->o, (s))
#define F(w, ...) sbuf_addf((w)->o, __VA_ARGS__)

/* ---- escaping ---- */

/* 1 for the characters that reorder text (bidi embeddings, overrides and
 * isolates): a hostile name could make a table say what it does not. */
static int
is_bidi_control(const unsigned char *p, size_t len)
{
	if (len != 3 || p[0] != 0xe2)
		return 0;
	if (p[1] == 0x80 && p[2] >= 0xaa && p[2] <= 0xae)
		return 1; /* U+202A..U+202E */
	return p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9; /* U+2066..U+2069 */
}

/*
 * Appends at most max_chars characters of s (0: all) as HTML text, good in
 * an element and in a quoted attribute alike: markup characters become
 * references, invalid UTF-8, control and bidi characters U+FFFD, and a
 * text cut short ends with an ellipsis. NULL writes nothing.
 */
static void
esc_n(struct sbuf *o, const char *s, size_t max_chars)
{
	static const char replacement[] = "\xef\xbf\xbd";
	const unsigned char *p, *end, *run;
	size_t n_chars = 0;

	if (!s)
		return;
	p = run = (const unsigned char *)s;
	end = p + strlen(s);
	while (p < end) {
		const char *rep = NULL;
		size_t len = 1;

		if (max_chars && n_chars == max_chars - 1 && end - p > 1) {
			/* one character left: the ellipsis, unless this is
			 * the last one */
			size_t l = *p < 0x80 ? 1 : utf8_seq_len(p, (size_t)(end - p));
			if (p + (l ? l : 1) < end) {
				sbuf_add(o, run, (size_t)(p - run));
				sbuf_addstr(o, "\xe2\x80\xa6");
				return;
			}
		}
		switch (*p) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default:
			if (*p >= 0x80) {
				len = utf8_seq_len(p, (size_t)(end - p));
				if (!len || is_bidi_control(p, len) ||
				    (len == 2 && p[0] == 0xc2 && p[1] < 0xa0)) { /* C1 */
					rep = replacement;
					len = len ? len : 1;
				}
			} else if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f) {
				rep = replacement;
			}
		}
		if (rep) {
			sbuf_add(o, run, (size_t)(p - run));
			sbuf_addstr(o, rep);
			run = p + len;
		}
		p += len;
		n_chars++;
	}
	sbuf_add(o, run, (size_t)(p - run));
}

static void
esc(struct sbuf *o, const char *s)
{
	esc_n(o, s, 0);
}

/* Text with its line breaks kept: paragraphs at blank lines. */
static void
esc_paragraphs(struct sbuf *o, const char *s)
{
	const char *p = s, *nl;

	sbuf_addstr(o, "<p>");
	while (p && *p) {
		nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char *line = strndup(p, n);
		if (!line) {
			o->failed = 1;
			return;
		}
		esc(o, line);
		free(line);
		if (!nl)
			break;
		p = nl + 1;
		if (*p == '\n') {
			while (*p == '\n')
				p++;
			if (*p)
				sbuf_addstr(o, "</p><p>");
		} else if (*p) {
			sbuf_addstr(o, "<br>");
		}
	}
	sbuf_addstr(o, "</p>");
}

/* s percent-encoded for a URL's path segment or query value: what is left
 * is letters, digits, "-._~" and "%XX", safe in an attribute too. */
static void
url_part(struct sbuf *o, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			sbuf_addc(o, (char)*p);
		} else {
			char enc[3] = { '%', hex[*p >> 4], hex[*p & 15] };
			sbuf_add(o, enc, 3);
		}
	}
}

/* ---- figures ---- */

/* 12,345,678 */
static const char *
fmt_count(uint64_t v, char *buf)
{
	char digits[24];
	int n = snprintf(digits, sizeof(digits), "%" PRIu64, v);
	size_t j = 0;

	for (int i = 0; i < n; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			buf[j++] = ',';
		buf[j++] = digits[i];
	}
	buf[j] = '\0';
	return buf;
}

/* A share in whole percent; "<1%" for a share that rounds to nothing. */
static const char *
fmt_pct(uint64_t part, uint64_t whole, char *buf)
{
	if (!whole) {
		snprintf(buf, NUM_LEN, "\xe2\x80\x93");
		return buf;
	}
	double pct = 100.0 * (double)part / (double)whole;
	if (part && pct < 0.5)
		snprintf(buf, NUM_LEN, "&lt;1%%");
	else
		snprintf(buf, NUM_LEN, "%.0f%%", pct);
	return buf;
}

static double
share(uint64_t part, uint64_t whole)
{
	return whole ? (double)part / (double)whole : 0.0;
}

static const char *const month_names[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* The parts of a time, UTC: year, month 1..12, day, hour, minute. */
static void
time_parts(int64_t usec, int *y, int *mon, int *d, int *h, int *min)
{
	char t[TIMEFMT_LEN];

	time_format_rfc3339(usec, 0, t);
	*y = *mon = *d = *h = *min = 0;
	if (strlen(t) < 16)
		return;
	*y = (t[0] - '0') * 1000 + (t[1] - '0') * 100 + (t[2] - '0') * 10 + (t[3] - '0');
	*mon = (t[5] - '0') * 10 + (t[6] - '0');
	*d = (t[8] - '0') * 10 + (t[9] - '0');
	*h = (t[11] - '0') * 10 + (t[12] - '0');
	*min = (t[14] - '0') * 10 + (t[15] - '0');
}

/* "1 Mar 2026", "1 Mar" (no year), with " 09:00" when not midnight or
 * with_time. */
static const char *
fmt_day(int64_t usec, int with_year, int with_time, char *buf)
{
	int y, mon, d, h, min;

	time_parts(usec, &y, &mon, &d, &h, &min);
	if (mon < 1 || mon > 12) {
		snprintf(buf, NUM_LEN, "?");
		return buf;
	}
	int n = with_year ? snprintf(buf, NUM_LEN, "%d %s %04d", d, month_names[mon - 1], y)
			  : snprintf(buf, NUM_LEN, "%d %s", d, month_names[mon - 1]);
	if (n > 0 && n < NUM_LEN && (with_time || h || min))
		snprintf(buf + n, NUM_LEN - (size_t)n, " %02d:%02d", h, min);
	return buf;
}

/* 2026-03-01 */
static const char *
fmt_iso_day(int64_t usec, char *buf)
{
	char t[TIMEFMT_LEN];
	snprintf(buf, NUM_LEN, "%.10s", time_format_rfc3339(usec, 0, t));
	return buf;
}

/* "1 Mar 2026 – 31 Mar 2026": the last day included, when the period is
 * made of whole days; else the times, UTC. */
static void
period_text(struct hw *w, int64_t from, int64_t to)
{
	char a[NUM_LEN], b[NUM_LEN];

	if (from % USEC_PER_DAY == 0 && to % USEC_PER_DAY == 0 && to > from) {
		long days = (long)((to - from) / USEC_PER_DAY);
		if (days == 1)
			F(w, "%s", fmt_day(from, 1, 0, a));
		else
			F(w, "%s \xe2\x80\x93 %s", fmt_day(from, 1, 0, a),
			  fmt_day(to - USEC_PER_DAY, 1, 0, b));
		F(w, " (%ld day%s)", days, days == 1 ? "" : "s");
	} else {
		F(w, "%s \xe2\x80\x93 %s UTC", fmt_day(from, 1, 1, a), fmt_day(to, 1, 1, b));
	}
}

/* ---- names and links ---- */

static const char *
app_label(const struct report_app *a)
{
	return a->name && *a->name ? a->name : a->app;
}

/* The display name of a category slug. */
static const char *
category_label(const struct report *r, const char *slug)
{
	if (!slug)
		return "(none)";
	for (size_t i = 0; i < r->n_categories; i++)
		if (r->categories[i].category && strcmp(r->categories[i].category, slug) == 0)
			return r->categories[i].name ? r->categories[i].name : slug;
	const struct sig_category *c = r->opt.sigs ? sig_db_find_category(r->opt.sigs, slug) : NULL;
	return c && c->name ? c->name : slug;
}

static long
category_index(const struct report *r, const char *slug)
{
	for (size_t i = 0; slug && i < r->n_categories; i++)
		if (r->categories[i].category && strcmp(r->categories[i].category, slug) == 0)
			return (long)i;
	return -1;
}

/* The display name of an app slug that may not be in the report. */
static const char *
slug_label(const struct report *r, const char *slug)
{
	long i = report_find_app(r, slug);
	if (i >= 0)
		return app_label(&r->apps[i]);
	const struct sig_app *a = r->opt.sigs ? sig_db_find_app(r->opt.sigs, slug) : NULL;
	return a && a->name ? a->name : slug;
}

/* The href of a dashboard page, keeping the range. */
static void
href_page(struct hw *w, enum report_page page, const char *slug)
{
	esc(w->o, w->ctx->base);
	S(w, report_page_path(page));
	if (slug)
		url_part(w->o, slug);
	S(w, "?from=");
	url_part(w->o, w->ctx->from_date);
	S(w, "&amp;to=");
	url_part(w->o, w->ctx->to_date);
}

/* A link to app i: its page on the dashboard, its row in the file. */
static void
app_link(struct hw *w, size_t i)
{
	S(w, "<a href=\"");
	if (w->ctx)
		href_page(w, REPORT_PAGE_APP, w->r->apps[i].app);
	else
		F(w, "#app-%zu", i);
	S(w, "\">");
	esc(w->o, app_label(&w->r->apps[i]));
	S(w, "</a>");
}

/* An app slug as a link when the report has it, else its name. */
static void
slug_link(struct hw *w, const char *slug)
{
	long i = report_find_app(w->r, slug);
	if (i >= 0)
		app_link(w, (size_t)i);
	else
		esc(w->o, slug_label(w->r, slug));
}

static void
category_link(struct hw *w, size_t i)
{
	S(w, "<a href=\"");
	if (w->ctx)
		href_page(w, REPORT_PAGE_CATEGORIES, NULL);
	F(w, "#cat-%zu\">", i);
	esc(w->o, category_label(w->r, w->r->categories[i].category));
	S(w, "</a>");
}

static const char *
verdict_words(enum report_verdict v)
{
	switch (v) {
	case VERDICT_MOVE_OFF: return "Move people off";
	case VERDICT_OFFER: return "Offer a service";
	case VERDICT_IMPROVE: return "Improve or replace";
	case VERDICT_SANCTION: return "Consider sanctioning";
	default: return "No action";
	}
}

static void
verdict_badge(struct hw *w, enum report_verdict v)
{
	F(w, "<span class=\"badge vd-%s\">%s</span>", report_verdict_name(v), verdict_words(v));
}

/* The same in a word, for a narrow column; the words on hover. */
static void
verdict_badge_short(struct hw *w, enum report_verdict v)
{
	static const char *const words[] = { "none", "move off", "offer", "improve", "sanction" };
	F(w, "<span class=\"badge vd-%s\" title=\"%s\">%s</span>", report_verdict_name(v),
	  verdict_words(v), (unsigned)v < 5 ? words[v] : "?");
}

static void
status_badge(struct hw *w, enum catalog_status s)
{
	const char *name = catalog_status_name(s);
	F(w, "<span class=\"badge st-%s\">%s</span>", name,
	  s == CATALOG_NOT_LISTED ? "not in catalog" : name);
}

static const char *
risk_class(const struct report *r, int score)
{
	int risky = r->opt.risky_score > 0 ? r->opt.risky_score : 60;
	if (score >= risky)
		return "r-hi";
	if (score >= risky * 2 / 3)
		return "r-mid";
	return "r-lo";
}

/* ---- table cells ---- */

static void
th(struct hw *w, const char *col, const char *label, int numeric, const char *title)
{
	/* numeric 2: sorted as a number, laid out as text */
	F(w, "<th data-col=\"%s\"%s", col,
	  numeric == 1 ? " class=\"n\"" : numeric == 2 ? " data-num=\"1\"" : "");
	if (title) {
		S(w, " title=\"");
		esc(w->o, title);
		S(w, "\"");
	}
	S(w, ">");
	S(w, label);
	S(w, "</th>");
}

static void
td_count(struct hw *w, uint64_t v)
{
	char buf[NUM_LEN];
	F(w, "<td class=\"n\" data-value=\"%" PRIu64 "\">%s</td>", v, fmt_count(v, buf));
}

static void
td_bytes(struct hw *w, uint64_t v)
{
	char h[NUM_LEN], exact[NUM_LEN];
	F(w, "<td class=\"n\" data-value=\"%" PRIu64 "\" title=\"%s bytes\">%s</td>", v,
	  fmt_count(v, exact), report_format_bytes(v, h));
}

static void
td_pct(struct hw *w, uint64_t part, uint64_t whole)
{
	char buf[NUM_LEN];
	F(w, "<td class=\"n\" data-value=\"%.4f\">%s</td>", share(part, whole),
	  fmt_pct(part, whole, buf));
}

static void
td_day(struct hw *w, int64_t usec)
{
	char buf[NUM_LEN], iso[TIMEFMT_LEN];
	if (!usec) {
		S(w, "<td data-value=\"0\">\xe2\x80\x93</td>");
		return;
	}
	F(w, "<td data-value=\"%" PRId64 "\" title=\"%s\">%s</td>", usec,
	  time_format_rfc3339(usec, 0, iso), fmt_day(usec, 1, 0, buf));
}

/* "+3 (+50%)", "−2", "new", "=" */
static void
change_text(struct hw *w, uint64_t now, uint64_t before, int is_new)
{
	char buf[NUM_LEN];
	if (is_new && !before) {
		S(w, "<span class=\"up\">new</span>");
	} else if (now == before) {
		S(w, "<span class=\"muted\">same</span>");
	} else if (now > before) {
		F(w, "<span class=\"up\">+%s", fmt_count(now - before, buf));
		if (before)
			F(w, " (+%.0f%%)", 100.0 * (double)(now - before) / (double)before);
		S(w, "</span>");
		if (!before)
			S(w, " <span class=\"muted\">(none before)</span>");
	} else {
		F(w, "<span class=\"down\">\xe2\x88\x92%s (\xe2\x88\x92%.0f%%)</span>",
		  fmt_count(before - now, buf), 100.0 * (double)(before - now) / (double)before);
	}
}

/* A tiny line of a daily series, for a table row. */
static void
sparkline(struct hw *w, const uint64_t *v)
{
	unsigned n = w->r->npoints;
	uint64_t max = 0;

	if (n < 2)
		return;
	for (unsigned i = 0; i < n; i++)
		if (v[i] > max)
			max = v[i];
	S(w, "<svg class=\"spark\" viewBox=\"0 0 80 20\" width=\"80\" height=\"20\" "
	     "aria-hidden=\"true\"><polyline points=\"");
	for (unsigned i = 0; i < n; i++) {
		double x = 1.0 + 78.0 * i / (n - 1);
		double y = 19.0 - (max ? 17.0 * (double)v[i] / (double)max : 0.0);
		F(w, "%s%.1f,%.1f", i ? " " : "", x, y);
	}
	S(w, "\"/></svg>");
}

/* The reasons behind a risk score, each with its source. */
static void
risk_reasons(struct hw *w, const struct risk_result *risk)
{
	S(w, "<ul class=\"reasons\">");
	for (size_t i = 0; i < risk->n_reasons && i < RISK_FACTOR_COUNT + 1; i++) {
		const struct risk_reason *rr = &risk->reasons[i];
		F(w, "<li><b>+%d</b> ", rr->points);
		esc(w->o, rr->text);
		/* a source is a link only when it is https (the loader checks
		 * it; a javascript: or data: URL must never become one) */
		if (rr->source && strncmp(rr->source, "https://", 8) == 0) {
			S(w, " <a class=\"src\" rel=\"noopener noreferrer nofollow\" href=\"");
			esc(w->o, rr->source);
			S(w, "\">source</a>");
		}
		S(w, "</li>");
	}
	if (risk->total > risk->score)
		F(w, "<li class=\"muted\">%d points in all, capped at 100</li>", risk->total);
	S(w, "</ul>");
}

static void
risk_cell(struct hw *w, const struct risk_result *risk)
{
	F(w, "<td class=\"n\" data-value=\"%d\">", risk->score);
	if (risk->n_reasons) {
		F(w, "<details><summary><span class=\"risk %s\">%d</span></summary>",
		  risk_class(w->r, risk->score), risk->score);
		risk_reasons(w, risk);
		S(w, "</details>");
	} else {
		F(w, "<span class=\"risk %s\">%d</span>", risk_class(w->r, risk->score), risk->score);
	}
	S(w, "</td>");
}

/* ---- charts (inline SVG) ---- */

/* A round step for an axis of values up to max, about four ticks. */
static uint64_t
nice_step(uint64_t max)
{
	uint64_t raw = max / 4 + (max % 4 != 0), mag = 1;

	if (raw <= 1)
		return 1;
	while (mag <= raw / 10)
		mag *= 10;
	if (raw <= mag)
		return mag;
	if (raw <= 2 * mag)
		return 2 * mag;
	if (raw <= 5 * mag)
		return 5 * mag;
	return 10 * mag;
}

/* Indices of the categories with users, most users first. */
static size_t *
categories_by_users(const struct report *r, size_t *n)
{
	size_t *idx = calloc(r->n_categories ? r->n_categories : 1, sizeof(*idx));
	size_t k = 0;

	*n = 0;
	if (!idx)
		return NULL;
	for (size_t i = 0; i < r->n_categories; i++)
		if (r->categories[i].users)
			idx[k++] = i;
	/* insertion sort: stable, and there are a few dozen */
	for (size_t i = 1; i < k; i++) {
		size_t v = idx[i], j = i;
		while (j > 0 && r->categories[idx[j - 1]].users < r->categories[v].users) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = v;
	}
	*n = k;
	return idx;
}

static void
legend_item(struct hw *w, int x, int y, const char *cls, const char *label)
{
	F(w, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" class=\"%s\"/>"
	     "<text x=\"%d\" y=\"%d\">%s</text>",
	  x, y - 10, cls, x + 17, y, label);
}

/* A bar segment with its figure as a tooltip. */
static void
bar(struct hw *w, double x, int y, double width, int height, const char *cls, const char *name,
    uint64_t v, const char *what)
{
	char buf[NUM_LEN];
	if (!v)
		return;
	if (width < 1.5)
		width = 1.5;
	F(w, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" class=\"%s\"><title>", x, y,
	  width, height, cls);
	esc(w->o, name);
	F(w, ": %s %s</title></rect>", fmt_count(v, buf), what);
}

/* Demand by category: one bar per category, its users split into those
 * served by a sanctioned service only, those who also go elsewhere, and
 * those who go only elsewhere. */
static void
chart_demand(struct hw *w, size_t max_rows)
{
	const struct report *r = w->r;
	size_t n, *idx = categories_by_users(r, &n);
	const int width = 860, bar_x = 220, bar_w = 430, row_h = 26, top = 34;
	char buf[NUM_LEN], pct[NUM_LEN];

	if (!idx) {
		w->o->failed = 1;
		return;
	}
	S(w, "<figure class=\"chart\" id=\"chart-demand\"><figcaption>Demand by category"
	     "<small> \xe2\x80\x94 users per category: served by a sanctioned service only, "
	     "going elsewhere as well, or only elsewhere</small></figcaption>");
	if (!n) {
		S(w, "<p class=\"empty\">No use of any known app in this period.</p></figure>");
		free(idx);
		return;
	}
	size_t n_all = n;
	if (max_rows && n > max_rows)
		n = max_rows;
	uint64_t max = r->categories[idx[0]].users;
	int height = top + (int)n * row_h + 6;
	F(w, "<svg viewBox=\"0 0 %d %d\" role=\"img\" aria-labelledby=\"chart-demand-desc\">"
	     "<desc id=\"chart-demand-desc\">Users per category; the table of categories has "
	     "the same figures.</desc>",
	  width, height);
	legend_item(w, bar_x, 16, "s-served", "sanctioned service only");
	legend_item(w, bar_x + 180, 16, "s-both", "sanctioned and elsewhere");
	legend_item(w, bar_x + 375, 16, "s-away", "only elsewhere");
	for (size_t k = 0; k < n; k++) {
		const struct report_category *c = &r->categories[idx[k]];
		const char *name = category_label(r, c->category);
		uint64_t only_away = c->unserved_users;
		uint64_t both = c->elsewhere_users > only_away ? c->elsewhere_users - only_away : 0;
		uint64_t only_served = c->served_users > both ? c->served_users - both : 0;
		/* users who needed it through a covering service but used
		 * nothing of it are not drawn: users is the union above */
		int y = top + (int)k * row_h;
		double x = bar_x, scale = max ? (double)bar_w / (double)max : 0;

		F(w, "<g class=\"row\"><text class=\"lbl\" x=\"%d\" y=\"%d\" text-anchor=\"end\">",
		  bar_x - 8, y + 15);
		esc_n(w->o, name, LABEL_CHARS);
		S(w, "<title>");
		esc(w->o, name);
		S(w, "</title></text>");
		bar(w, x, y + 3, (double)only_served * scale, 18, "s-served", name, only_served,
		    "users served by a sanctioned service only");
		x += only_served ? ((double)only_served * scale < 1.5 ? 1.5 : (double)only_served * scale) : 0;
		bar(w, x, y + 3, (double)both * scale, 18, "s-both", name, both,
		    "users of a sanctioned service who also go elsewhere");
		x += both ? ((double)both * scale < 1.5 ? 1.5 : (double)both * scale) : 0;
		bar(w, x, y + 3, (double)only_away * scale, 18, "s-away", name, only_away,
		    "users who go only elsewhere");
		x += only_away ? ((double)only_away * scale < 1.5 ? 1.5 : (double)only_away * scale) : 0;
		F(w, "<text class=\"val\" x=\"%.1f\" y=\"%d\">%s user%s", x + 6, y + 16,
		  fmt_count(c->users, buf), c->users == 1 ? "" : "s");
		if (c->elsewhere_users)
			F(w, ", %s elsewhere", fmt_pct(c->elsewhere_users, c->users, pct));
		S(w, "</text></g>");
	}
	S(w, "</svg>");
	if (n < n_all)
		F(w, "<p class=\"note\">The %zu categories with the most users of %zu.</p>", n,
		  n_all);
	S(w, "</figure>");
	free(idx);
}

/* Sanctioned versus elsewhere: two bars per category, the users of a
 * sanctioned service covering it and the users of other apps in it, with
 * a mark where the latter stood in the previous period. */
static void
chart_sanctioned_vs_elsewhere(struct hw *w)
{
	const struct report *r = w->r;
	size_t n, *idx = categories_by_users(r, &n);
	const int width = 860, bar_x = 220, bar_w = 430, row_h = 32, top = 34;
	char buf[NUM_LEN];

	if (!idx) {
		w->o->failed = 1;
		return;
	}
	S(w, "<figure class=\"chart\" id=\"chart-served\"><figcaption>Sanctioned versus elsewhere"
	     "<small> \xe2\x80\x94 users of a sanctioned service for the category, and users of "
	     "other apps in it</small></figcaption>");
	if (!n) {
		S(w, "<p class=\"empty\">No use of any known app in this period.</p></figure>");
		free(idx);
		return;
	}
	uint64_t max = 0;
	for (size_t k = 0; k < n; k++) {
		const struct report_category *c = &r->categories[idx[k]];
		if (c->served_users > max)
			max = c->served_users;
		if (c->elsewhere_users > max)
			max = c->elsewhere_users;
		if (c->prev_elsewhere_users > max)
			max = c->prev_elsewhere_users;
	}
	double scale = max ? (double)bar_w / (double)max : 0;
	F(w, "<svg viewBox=\"0 0 %d %d\" role=\"img\" aria-labelledby=\"chart-served-desc\">"
	     "<desc id=\"chart-served-desc\">Per category, users of sanctioned services and users "
	     "elsewhere; the table of categories has the same figures.</desc>",
	  width, top + (int)n * row_h + 6);
	legend_item(w, bar_x, 16, "s-served", "used a sanctioned service");
	legend_item(w, bar_x + 185, 16, "s-away", "used an app elsewhere");
	F(w, "<line x1=\"%d\" y1=\"5\" x2=\"%d\" y2=\"17\" class=\"prev\"/><text x=\"%d\" y=\"16\">"
	     "elsewhere, previous period</text>",
	  bar_x + 360, bar_x + 360, bar_x + 367);
	for (size_t k = 0; k < n; k++) {
		const struct report_category *c = &r->categories[idx[k]];
		const char *name = category_label(r, c->category);
		int y = top + (int)k * row_h;

		F(w, "<g class=\"row\"><text class=\"lbl\" x=\"%d\" y=\"%d\" text-anchor=\"end\">",
		  bar_x - 8, y + 18);
		esc_n(w->o, name, LABEL_CHARS);
		S(w, "<title>");
		esc(w->o, name);
		S(w, "</title></text>");
		bar(w, bar_x, y + 2, (double)c->served_users * scale, 12, "s-served", name,
		    c->served_users, "users of a sanctioned service");
		bar(w, bar_x, y + 15, (double)c->elsewhere_users * scale, 12, "s-away", name,
		    c->elsewhere_users, "users elsewhere");
		double ws = c->served_users ? (double)c->served_users * scale : 0;
		double we = c->elsewhere_users ? (double)c->elsewhere_users * scale : 0;
		F(w, "<text class=\"val\" x=\"%.1f\" y=\"%d\">%s</text>", bar_x + (ws < 1.5 && c->served_users ? 1.5 : ws) + 5,
		  y + 12, c->n_sanctioned ? fmt_count(c->served_users, buf) : "no sanctioned service");
		F(w, "<text class=\"val\" x=\"%.1f\" y=\"%d\">%s</text>", bar_x + (we < 1.5 && c->elsewhere_users ? 1.5 : we) + 5,
		  y + 25, fmt_count(c->elsewhere_users, buf));
		if (c->prev_elsewhere_users || c->prev_users) {
			double xp = bar_x + (double)c->prev_elsewhere_users * scale;
			F(w, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" class=\"prev\"><title>",
			  xp, y + 13, xp, y + 29);
			esc(w->o, name);
			F(w, ": %s users elsewhere in the previous period</title></line>",
			  fmt_count(c->prev_elsewhere_users, buf));
		}
		S(w, "</g>");
	}
	S(w, "</svg></figure>");
	free(idx);
}

/* One line of a trend chart. */
struct series {
	const uint64_t *v; /* r->npoints values */
	const char *label; /* static */
	const char *cls;   /* a-users (area) or l-users (line) ... */
	int area;
};

/* The label of point i of the time series. */
static const char *
point_label(const struct report *r, unsigned i, char *buf)
{
	int64_t t = r->from + (int64_t)i * r->point_usec;
	return fmt_day(t, 0, r->point_usec < USEC_PER_DAY, buf);
}

/* A time series chart: areas and lines over the report's points. small:
 * a tile of a grid. */
static void
chart_trend(struct hw *w, const char *id, const char *title, const char *subtitle,
	    const struct series *s, size_t ns, int small)
{
	const struct report *r = w->r;
	unsigned n = r->npoints;
	const int width = small ? 360 : 900, height = small ? 150 : 250;
	const int left = 44, right = width - 12, top = 24, bottom = height - 22;
	uint64_t max = 0;
	char buf[NUM_LEN], buf2[NUM_LEN];

	S(w, "<figure class=\"chart");
	if (small)
		S(w, " small");
	S(w, "\"");
	if (id)
		F(w, " id=\"%s\"", id);
	S(w, "><figcaption>");
	esc(w->o, title);
	if (subtitle) {
		S(w, "<small> \xe2\x80\x94 ");
		esc(w->o, subtitle);
		S(w, "</small>");
	}
	S(w, "</figcaption>");
	if (!n || r->point_usec <= 0) {
		S(w, "<p class=\"empty\">No time series for this period.</p></figure>");
		return;
	}
	if (n > REPORT_DAYS_MAX)
		n = REPORT_DAYS_MAX;
	for (size_t k = 0; k < ns; k++)
		for (unsigned i = 0; i < n; i++)
			if (s[k].v[i] > max)
				max = s[k].v[i];
	uint64_t step = nice_step(max), top_v = max ? ((max + step - 1) / step) * step : step;
	double plot_w = right - left, plot_h = bottom - top;
#define XP(i) (n == 1 ? left + plot_w / 2 : left + plot_w * (double)(i) / (double)(n - 1))
#define YP(v) (bottom - plot_h * (double)(v) / (double)top_v)

	F(w, "<svg viewBox=\"0 0 %d %d\" role=\"img\"><desc>", width, height);
	esc(w->o, title);
	S(w, ": users per ");
	S(w, r->point_usec >= USEC_PER_DAY ? "day" : "interval");
	S(w, "</desc>");
	/* the y axis: grid lines at round values */
	for (uint64_t v = 0; v <= top_v; v += step) {
		double y = YP(v);
		F(w, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"%s\"/>"
		     "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" class=\"tick\">%s</text>",
		  left, y, right, y, v ? "gridline" : "axis", left - 5, y + 4, fmt_count(v, buf));
	}
	/* the x axis: first, middle and last points */
	unsigned marks[3] = { 0, n / 2, n - 1 };
	for (int m = 0; m < 3; m++) {
		if ((m == 1 && (marks[1] == 0 || marks[1] == n - 1)) || (m == 2 && n == 1))
			continue;
		F(w, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"%s\" class=\"tick\">%s</text>",
		  XP(marks[m]), height - 6, m == 0 && n > 1 ? "start" : m == 2 ? "end" : "middle",
		  point_label(r, marks[m], buf));
	}
	/* the areas, then every line over them: a series equal to another
	 * stays visible */
	for (size_t k = 0; k < ns && n > 1; k++) {
		if (!s[k].area)
			continue;
		F(w, "<polygon class=\"%s fill\" points=\"%.1f,%d", s[k].cls, XP(0), bottom);
		for (unsigned i = 0; i < n; i++)
			F(w, " %.1f,%.1f", XP(i), YP(s[k].v[i]));
		F(w, " %.1f,%d\"/>", XP(n - 1), bottom);
	}
	for (size_t k = ns; k-- > 0;) { /* the first series on top */
		if (n > 1) {
			F(w, "<polyline class=\"%s line\" points=\"", s[k].cls);
			for (unsigned i = 0; i < n; i++)
				F(w, "%s%.1f,%.1f", i ? " " : "", XP(i), YP(s[k].v[i]));
			S(w, "\"/>");
		} else {
			F(w, "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"4\"/>", s[k].cls, XP(0),
			  YP(s[k].v[0]));
		}
	}
	/* the legend */
	int lx = left;
	for (size_t k = 0; k < ns; k++) {
		F(w, "<rect x=\"%d\" y=\"6\" width=\"12\" height=\"10\" class=\"%s key\"/>"
		     "<text x=\"%d\" y=\"15\">%s</text>",
		  lx, s[k].cls, lx + 16, s[k].label);
		lx += 24 + 7 * (int)strlen(s[k].label);
	}
	/* each point's exact figures, on hover */
	double slot = n == 1 ? plot_w : plot_w / (double)(n - 1);
	for (unsigned i = 0; i < n; i++) {
		double x0 = XP(i) - slot / 2;
		if (x0 < left)
			x0 = left;
		double x1 = XP(i) + slot / 2;
		if (x1 > right)
			x1 = right;
		F(w, "<rect class=\"hit\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%.0f\"><title>%s",
		  x0, top, x1 - x0, plot_h, point_label(r, i, buf));
		for (size_t k = 0; k < ns; k++)
			F(w, "%s %s %s", k ? "," : ":", fmt_count(s[k].v[i], buf2), s[k].label);
		S(w, "</title></rect>");
	}
#undef XP
#undef YP
	S(w, "</svg></figure>");
}

/* Trend tiles for the first max categories with users, in the report's
 * order (gaps first). */
static void
category_trends(struct hw *w, size_t max)
{
	const struct report *r = w->r;
	size_t shown = 0;

	S(w, "<div class=\"grid\">");
	for (size_t i = 0; i < r->n_categories && shown < max; i++) {
		const struct report_category *c = &r->categories[i];
		if (!c->users)
			continue;
		struct series s[2] = {
			{ c->daily_users, "users", "a-users", 1 },
			{ c->daily_elsewhere, "elsewhere", "a-away", 1 },
		};
		char id[32];
		snprintf(id, sizeof(id), "trend-cat-%zu", i);
		chart_trend(w, id, category_label(r, c->category), NULL, s, 2, 1);
		shown++;
	}
	S(w, "</div>");
	if (!shown)
		S(w, "<p class=\"empty\">No use of any known app in this period.</p>");
}

/* ---- sections ---- */

static void
summary_section(struct hw *w)
{
	const struct report *r = w->r;
	char a[NUM_LEN], b[NUM_LEN], c[NUM_LEN];
	size_t n_new = 0;

	for (size_t i = 0; i < r->n_apps; i++)
		n_new += r->apps[i].is_new != 0;
	S(w, "<section id=\"summary\"><h2>Summary</h2><div class=\"kpis\">");
	F(w, "<div class=\"kpi\" id=\"kpi-users\"><span class=\"k\">Users</span>"
	     "<span class=\"v\" data-value=\"%" PRIu64 "\">%s</span><span class=\"s\">client "
	     "addresses; ",
	  r->users, fmt_count(r->users, a));
	change_text(w, r->users, r->prev_users, 0);
	S(w, " vs the previous period</span></div>");
	F(w, "<div class=\"kpi\" id=\"kpi-unsanctioned\"><span class=\"k\">Using unsanctioned "
	     "apps</span><span class=\"v\" data-value=\"%" PRIu64 "\">%s</span>"
	     "<span class=\"s\">%s of %s users used an app IT has not sanctioned</span></div>",
	  r->unsanctioned_users, fmt_pct(r->unsanctioned_users, r->users, a),
	  fmt_count(r->unsanctioned_users, b), fmt_count(r->users, c));
	F(w, "<div class=\"kpi\" id=\"kpi-uploaded\"><span class=\"k\">Uploaded to unsanctioned "
	     "apps</span><span class=\"v\" data-value=\"%" PRIu64 "\" title=\"%s bytes\">%s</span>"
	     "<span class=\"s\">",
	  r->unsanctioned_bytes_up, fmt_count(r->unsanctioned_bytes_up, a),
	  report_format_bytes(r->unsanctioned_bytes_up, b));
	F(w, "%s of all data sent (<span title=\"%s bytes\">%s</span>)</span></div>",
	  fmt_pct(r->unsanctioned_bytes_up, r->bytes_up, a), fmt_count(r->bytes_up, b),
	  report_format_bytes(r->bytes_up, c));
	F(w, "<div class=\"kpi\" id=\"kpi-apps\"><span class=\"k\">Apps in use</span>"
	     "<span class=\"v\" data-value=\"%zu\">%s</span><span class=\"s\">%zu new in this "
	     "period; %zu unknown domains</span></div>",
	  r->n_apps, fmt_count(r->n_apps, a), n_new, r->n_domains);
	S(w, "</div><p class=\"note\">A <b>user</b> is a client address (one IP address seen on "
	     "the network) until identities arrive: one person with two devices counts twice, "
	     "several people behind one address count once. <b>Unsanctioned</b> here means any "
	     "app the catalog does not list as sanctioned: tolerated, unsanctioned, banned, or "
	     "not in the catalog at all.</p>");
	S(w, "<h3>Act first</h3>");
	if (!r->n_gaps) {
		S(w, "<p class=\"empty\">No gap in this period at the thresholds used.</p>");
	} else {
		S(w, "<ol class=\"top3\">");
		for (size_t i = 0; i < r->n_gaps && i < TOP_GAPS; i++) {
			S(w, "<li>");
			verdict_badge(w, r->gaps[i].verdict);
			S(w, " ");
			esc(w->o, r->gaps[i].text);
			S(w, "</li>");
		}
		S(w, "</ol>");
	}
	S(w, "</section>");
}

static void
gaps_section(struct hw *w)
{
	const struct report *r = w->r;
	struct sbuf text;

	S(w, "<section id=\"gaps\"><h2>Gaps, ranked</h2>");
	if (!r->n_gaps) {
		S(w, "<p class=\"empty\">No gap in this period at the thresholds used.</p>");
	} else {
		S(w, "<div class=\"tablewrap\"><table class=\"sortable\" id=\"gaps-table\"><thead><tr>");
		th(w, "rank", "Rank", 1, "1 = act first");
		th(w, "verdict", "Verdict", 0, NULL);
		th(w, "category", "Category", 0, NULL);
		th(w, "app", "App", 0, NULL);
		th(w, "text", "What the figures say", 0, NULL);
		th(w, "score", "Score", 1, "the ranking score: see below");
		S(w, "</tr></thead><tbody>");
		for (size_t i = 0; i < r->n_gaps; i++) {
			const struct report_gap *g = &r->gaps[i];
			F(w, "<tr><td class=\"n\" data-value=\"%u\">%u</td><td data-value=\"%s\">",
			  g->rank, g->rank, report_verdict_name(g->verdict));
			verdict_badge(w, g->verdict);
			S(w, "</td><td>");
			if (g->category < r->n_categories)
				category_link(w, g->category);
			S(w, "</td><td>");
			if (g->app >= 0 && (size_t)g->app < r->n_apps)
				app_link(w, (size_t)g->app);
			else
				S(w, "<span class=\"muted\">the category</span>");
			S(w, "</td><td>");
			esc(w->o, g->text);
			F(w, "</td><td class=\"n\" data-value=\"%.4f\">%.1f</td></tr>", g->score, g->score);
		}
		S(w, "</tbody></table></div>");
	}
	sbuf_init(&text, 64 * 1024);
	const char *how = report_ranking_text(r, &text);
	if (how && *how) {
		S(w, "<div class=\"explain\" id=\"ranking\"><h3>How gaps are ranked</h3>");
		esc_paragraphs(w->o, how);
		S(w, "</div>");
	}
	sbuf_free(&text);
	S(w, "</section>");
}

/* The names of a category's sanctioned services. */
static void
sanctioned_list(struct hw *w, const struct report_category *c)
{
	if (!c->n_sanctioned) {
		S(w, "<span class=\"muted\">none</span>");
		return;
	}
	for (size_t k = 0; k < c->n_sanctioned; k++) {
		if (k)
			S(w, ", ");
		slug_link(w, c->sanctioned[k]);
	}
}

static void
categories_table(struct hw *w)
{
	const struct report *r = w->r;

	if (!r->n_categories) {
		S(w, "<p class=\"empty\">No use of any known app in this period.</p>");
		return;
	}
	S(w, "<div class=\"tablewrap\"><table class=\"sortable\" id=\"categories-table\"><thead><tr>");
	th(w, "gap", "Gap", 2, "rank of the category's gap and what it calls for");
	th(w, "category", "Category", 0, NULL);
	th(w, "users", "Users", 1, "needed it: used an app in it or a sanctioned service covering it");
	th(w, "served_users", "Sanctioned", 1, "used a sanctioned service covering it");
	th(w, "elsewhere_users", "Elsewhere", 1, "used an app in it that is not sanctioned for it");
	th(w, "unserved_users", "Only elsewhere", 1, "went elsewhere and used no sanctioned service for it");
	th(w, "elsewhere_share", "% elsewhere", 1, "share of its users going elsewhere");
	th(w, "trend", "Change", 1, "change in users against the previous period of the same length");
	th(w, "sanctioned", "Sanctioned services", 0, NULL);
	th(w, "apps", "Apps used", 1, NULL);
	th(w, "bytes_up", "Uploaded", 1, NULL);
	th(w, "bytes_down", "Downloaded", 1, NULL);
	th(w, "elsewhere_bytes_up", "Up elsewhere", 1, "sent to apps outside the catalog's sanctioned services");
	th(w, "risk_max", "Risk", 1, "highest risk score of an app used elsewhere (users-weighted mean on hover)");
	S(w, "</tr></thead><tbody>");
	for (size_t i = 0; i < r->n_categories; i++) {
		const struct report_category *c = &r->categories[i];
		F(w, "<tr id=\"cat-%zu\" data-category=\"", i);
		esc(w->o, c->category);
		F(w, "\"><td class=\"nw\" data-value=\"%u\"", c->rank ? c->rank : 999999u);
		if (c->rank)
			F(w, " title=\"score %.1f\"", c->score);
		S(w, ">");
		if (c->rank) {
			F(w, "%u&nbsp;", c->rank);
			verdict_badge_short(w, c->verdict);
		} else {
			S(w, "<span class=\"muted\">\xe2\x80\x93</span>");
		}
		S(w, "</td><td>");
		esc(w->o, category_label(r, c->category));
		S(w, "</td>");
		td_count(w, c->users);
		td_count(w, c->served_users);
		td_count(w, c->elsewhere_users);
		td_count(w, c->unserved_users);
		td_pct(w, c->elsewhere_users, c->users);
		/* no sparkline: the trend charts below have them */
		F(w, "<td class=\"n\" data-value=\"%" PRId64 "\">", (int64_t)c->users - (int64_t)c->prev_users);
		change_text(w, c->users, c->prev_users, 0);
		S(w, "</td><td>");
		sanctioned_list(w, c);
		F(w, "</td><td class=\"n\" data-value=\"%zu\">%zu", c->n_apps, c->n_apps);
		if (c->n_apps) {
			S(w, "<div class=\"applist\">");
			for (size_t k = 0; k < c->n_apps && k < 3; k++) {
				if (k)
					S(w, ", ");
				if (c->apps[k] < r->n_apps)
					app_link(w, c->apps[k]);
			}
			if (c->n_apps > 3)
				F(w, " <span class=\"muted\">+%zu</span>", c->n_apps - 3);
			S(w, "</div>");
		}
		S(w, "</td>");
		td_bytes(w, c->bytes_up);
		td_bytes(w, c->bytes_down);
		td_bytes(w, c->elsewhere_bytes_up);
		if (c->risk_max >= 0)
			F(w, "<td class=\"n\" data-value=\"%d\" title=\"users-weighted mean %d\">"
			     "<span class=\"risk %s\">%d</span></td>",
			  c->risk_max, c->risk_mean, risk_class(r, c->risk_max), c->risk_max);
		else
			S(w, "<td class=\"n\" data-value=\"-1\"><span class=\"muted\">\xe2\x80\x93</span></td>");
		S(w, "</tr>");
	}
	S(w, "</tbody></table></div>");
}

/* The alternatives of an app: the catalog's, else (for an app that is not
 * sanctioned) the sanctioned services of its category. */
static void
alternatives_cell(struct hw *w, const struct report_app *a)
{
	S(w, "<td>");
	if (a->alternatives && a->alternatives[0]) {
		for (size_t k = 0; a->alternatives[k]; k++) {
			if (k)
				S(w, ", ");
			slug_link(w, a->alternatives[k]);
		}
	} else if (a->status != CATALOG_SANCTIONED) {
		long ci = category_index(w->r, a->category);
		if (ci >= 0 && w->r->categories[ci].n_sanctioned) {
			S(w, "<span class=\"muted\" title=\"sanctioned for its category\">");
			sanctioned_list(w, &w->r->categories[ci]);
			S(w, "</span>");
		}
	}
	S(w, "</td>");
}

/* The table of apps; new_only: those first seen in the period, with when. */
static void
apps_table(struct hw *w, int new_only)
{
	const struct report *r = w->r;
	size_t shown = 0;

	for (size_t i = 0; i < r->n_apps; i++)
		shown += !new_only || r->apps[i].is_new;
	if (!shown) {
		S(w, new_only ? "<p class=\"empty\">No app was seen for the first time in this period.</p>"
			      : "<p class=\"empty\">No use of any known app in this period.</p>");
		return;
	}
	F(w, "<div class=\"tablewrap\"><table class=\"sortable\" id=\"%s\"><thead><tr>",
	  new_only ? "new-apps-table" : "apps-table");
	th(w, "app", "App", 0, NULL);
	th(w, "category", "Category", 0, NULL);
	th(w, "status", "Status", 0, "in the catalog");
	if (new_only)
		th(w, "first_seen_ever", "First seen", 0, "the first time the collector saw it");
	th(w, "users", "Users", 1, "client addresses");
	if (!new_only)
		th(w, "flows", "Flows", 1, NULL);
	th(w, "bytes_up", "Uploaded", 1, "bytes sent to it");
	th(w, "bytes_down", "Downloaded", 1, "bytes received from it");
	if (!new_only) {
		th(w, "upload_share", "Upload share", 1, "share of its traffic that was sent to it: high for uploads");
		th(w, "trend", "Users vs previous", 1, "per day, and the change against the previous period");
		th(w, "days_active", "Days", 1, "days with any use");
	}
	th(w, "risk", "Risk", 1, "0 to 100; open for the reasons and their sources");
	if (!new_only)
		th(w, "alternatives", "Use instead", 0, "the catalog's alternatives, else what is sanctioned for its category");
	S(w, "</tr></thead><tbody>");
	for (size_t i = 0; i < r->n_apps; i++) {
		const struct report_app *a = &r->apps[i];
		if (new_only && !a->is_new)
			continue;
		S(w, "<tr");
		if (!new_only)
			F(w, " id=\"app-%zu\"", i);
		S(w, " data-app=\"");
		esc(w->o, a->app);
		S(w, "\"><td data-value=\"");
		esc(w->o, app_label(a));
		S(w, "\">");
		app_link(w, i);
		if (a->vendor && *a->vendor) {
			S(w, "<div class=\"vendor\">");
			esc(w->o, a->vendor);
			S(w, "</div>");
		}
		S(w, "</td><td>");
		long ci = category_index(r, a->category);
		if (ci >= 0)
			category_link(w, (size_t)ci);
		else
			esc(w->o, category_label(r, a->category));
		F(w, "</td><td data-value=\"%d\">", (int)a->status);
		status_badge(w, a->status);
		S(w, "</td>");
		if (new_only)
			td_day(w, a->first_seen_ever);
		td_count(w, a->users);
		if (!new_only)
			td_count(w, a->flows);
		td_bytes(w, a->bytes_up);
		td_bytes(w, a->bytes_down);
		if (!new_only) {
			td_pct(w, a->bytes_up, a->bytes_up + a->bytes_down);
			F(w, "<td class=\"n\" data-value=\"%" PRId64 "\">",
			  (int64_t)a->users - (int64_t)a->prev_users);
			sparkline(w, a->daily_users);
			S(w, " ");
			change_text(w, a->users, a->prev_users, a->is_new);
			S(w, "</td>");
			F(w, "<td class=\"n\" data-value=\"%u\">%u</td>", a->days_active, a->days_active);
		}
		risk_cell(w, &a->risk);
		if (!new_only)
			alternatives_cell(w, a);
		S(w, "</tr>");
	}
	S(w, "</tbody></table></div>");
}

static void
domains_table(struct hw *w)
{
	const struct report *r = w->r;

	if (!r->n_domains) {
		S(w, "<p class=\"empty\">Every name seen in this period is known to the signatures.</p>");
		return;
	}
	S(w, "<div class=\"tablewrap\"><table class=\"sortable\" id=\"domains-table\"><thead><tr>");
	th(w, "domain", "Domain", 0, "registrable domain (eTLD+1)");
	th(w, "users", "Users", 1, NULL);
	th(w, "hosts", "Names", 1, "distinct full server names under it");
	th(w, "flows", "Flows", 1, NULL);
	th(w, "bytes_up", "Uploaded", 1, NULL);
	th(w, "bytes_down", "Downloaded", 1, NULL);
	th(w, "first_seen", "First seen", 0, NULL);
	th(w, "last_seen", "Last seen", 0, NULL);
	th(w, "network", "Network", 0, "the owner of the servers' network (AS), when the agents know it");
	th(w, "country", "Country", 0, NULL);
	S(w, "</tr></thead><tbody>");
	for (size_t i = 0; i < r->n_domains; i++) {
		const struct report_domain *d = &r->domains[i];
		S(w, "<tr data-domain=\"");
		esc(w->o, d->domain);
		S(w, "\"><td class=\"domain\">");
		esc(w->o, d->domain);
		S(w, "</td>");
		td_count(w, d->users);
		td_count(w, d->hosts);
		td_count(w, d->flows);
		td_bytes(w, d->bytes_up);
		td_bytes(w, d->bytes_down);
		td_day(w, d->first_seen);
		td_day(w, d->last_seen);
		S(w, "<td>");
		if (d->network && *d->network)
			esc(w->o, d->network);
		if (d->asn)
			F(w, " <span class=\"muted\">AS%" PRIu32 "</span>", d->asn);
		if ((!d->network || !*d->network) && !d->asn)
			S(w, "<span class=\"muted\">\xe2\x80\x93</span>");
		S(w, "</td><td>");
		if (d->country && *d->country)
			esc(w->o, d->country);
		else
			S(w, "<span class=\"muted\">\xe2\x80\x93</span>");
		S(w, "</td></tr>");
	}
	S(w, "</tbody></table></div>");
}

/* ---- the page frame ---- */

static const char css[] =
	":root{--fg:#1c2230;--muted:#5d6677;--line:#dde1e8;--panel:#f4f6f9;--accent:#2d5b9a;"
	"--ok:#2f8153;--both:#e0a526;--away:#cc5a3f;--blue:#3f6fb0}"
	"*{box-sizing:border-box}"
	"body{margin:0;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',"
	"Arial,sans-serif;color:var(--fg);background:#fff}"
	"a{color:var(--accent)}"
	"header.top{background:#1f2a3c;color:#fff;padding:10px 20px;display:flex;flex-wrap:wrap;"
	"align-items:center;gap:6px 22px}"
	"header.top h1{font-size:18px;margin:0;font-weight:600;letter-spacing:.01em}"
	"header.top .period{color:#c9d3e3}"
	"header.top nav a{color:#dfe7f3;text-decoration:none;padding:4px 10px;border-radius:4px;"
	"display:inline-block}"
	"header.top nav a:hover{background:#2c3a52}"
	"header.top nav a[aria-current=page]{background:#3d5073;color:#fff}"
	"header.top .who{margin-left:auto;color:#c9d3e3;display:flex;gap:10px;align-items:center}"
	"header.top .who button{background:none;border:1px solid #8392ab;color:#fff;border-radius:4px;"
	"padding:2px 10px;cursor:pointer;font:inherit}"
	"form.logout{margin:0}"
	"form.range{display:flex;flex-wrap:wrap;gap:6px 12px;align-items:center;padding:8px 20px;"
	"background:var(--panel);border-bottom:1px solid var(--line);font-size:13px}"
	"form.range input{font:inherit;padding:2px 4px}"
	"form.range button{font:inherit;padding:2px 12px}"
	"form.range .presets a{margin-right:8px}"
	"nav.toc{padding:8px 20px;background:var(--panel);border-bottom:1px solid var(--line);"
	"font-size:13px}"
	"nav.toc a{margin-right:14px}"
	"main{padding:12px 20px 24px;max-width:1500px;margin:0 auto}"
	"section{margin:0 0 26px}"
	"h2{font-size:19px;border-bottom:2px solid var(--line);padding-bottom:4px;margin:18px 0 12px}"
	"h3{font-size:15px;margin:16px 0 8px}"
	".kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(210px,1fr));gap:12px}"
	".kpi{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:10px 14px}"
	".kpi .k{display:block;color:var(--muted);font-size:12px;text-transform:uppercase;"
	"letter-spacing:.04em}"
	".kpi .v{display:block;font-size:28px;font-weight:600;line-height:1.25}"
	".kpi .s{display:block;color:var(--muted);font-size:12px}"
	".note{color:var(--muted);font-size:13px;max-width:70em}"
	"ol.top3{padding-left:22px}ol.top3 li{margin:6px 0;max-width:75em}"
	".explain{background:var(--panel);border-left:3px solid var(--accent);padding:4px 14px;"
	"font-size:13px;margin-top:14px;max-width:80em}"
	".explain h3{margin:8px 0 4px}"
	".tablewrap{overflow-x:auto}"
	"table{border-collapse:collapse;width:100%;font-size:13px}"
	"th,td{padding:5px 7px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}"
	"th{background:var(--panel);font-weight:600;position:sticky;top:0;z-index:1;"
	"vertical-align:bottom}"
	"td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
	"td.domain{word-break:break-all}td.nw{white-space:nowrap}"
	"#categories-table{font-size:12.5px}"
	"table.sortable th{cursor:pointer;user-select:none}"
	"table.sortable th:hover{background:#e8ecf2}"
	"th[aria-sort=ascending]::after{content:' \\25B2';font-size:10px}"
	"th[aria-sort=descending]::after{content:' \\25BC';font-size:10px}"
	"tbody tr:hover{background:#f3f6fb}"
	"tr:target{background:#fff6d9}"
	".vendor,.applist{color:var(--muted);font-size:12px;white-space:normal}"
	".applist{min-width:11em}"
	".badge{display:inline-block;padding:0 7px;border-radius:10px;font-size:12px;"
	"white-space:nowrap;line-height:1.6}"
	".st-sanctioned{background:#e1f2e7;color:#1d5e37}"
	".st-tolerated{background:#e5ecf7;color:#2b4a78}"
	".st-unsanctioned{background:#fbe7da;color:#8a3a11}"
	".st-banned{background:#f8dcdc;color:#8b1c1c;font-weight:600}"
	".st-not-in-catalog{background:#eceef2;color:#4b5364}"
	".vd-move-off{background:#f8dcdc;color:#8b1c1c}"
	".vd-offer{background:#fbe7da;color:#8a3a11}"
	".vd-improve{background:#fcf0d2;color:#6f5200}"
	".vd-consider-sanctioning{background:#e1f2e7;color:#1d5e37}"
	".vd-no-action{background:#eceef2;color:#4b5364}"
	".risk{display:inline-block;min-width:2.3em;text-align:center;border-radius:4px;"
	"padding:0 4px;font-weight:600}"
	".r-hi{background:#f8dcdc;color:#8b1c1c}.r-mid{background:#fcf0d2;color:#6f5200}"
	".r-lo{background:#e1f2e7;color:#1d5e37}"
	"details summary{cursor:pointer}"
	"ul.reasons{margin:4px 0 2px;padding-left:16px;font-size:12px;text-align:left;"
	"white-space:normal;min-width:22em;font-weight:normal}"
	".muted{color:var(--muted)}small{color:var(--muted);font-weight:normal}"
	".up{color:#8a3a11}.down{color:#1d5e37}"
	".empty{color:var(--muted);font-style:italic}"
	"figure.chart{margin:0 0 14px;border:1px solid var(--line);border-radius:6px;"
	"padding:8px 12px;background:#fff}"
	"figure.chart figcaption{font-weight:600;margin-bottom:4px}"
	"figure.chart svg{width:100%;height:auto;display:block;max-width:980px}"
	".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:12px}"
	".grid figure.chart{margin:0}"
	"svg text{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;"
	"font-size:12px;fill:#1c2230}"
	"svg text.tick{font-size:11px;fill:#5d6677}"
	"svg text.val{font-size:11px;fill:#3a4252}"
	".s-served{fill:var(--ok)}.s-both{fill:var(--both)}.s-away{fill:var(--away)}"
	".a-users{fill:var(--blue);fill-opacity:.2;stroke:var(--blue);stroke-width:2}"
	".a-away{fill:var(--away);fill-opacity:.3;stroke:var(--away);stroke-width:1.5}"
	".l-users{fill:none;stroke:#1c2230;stroke-width:1.5;stroke-dasharray:4 3}"
	"polygon.fill{stroke:none}polyline.line{fill:none}"
	"rect.key{stroke-width:1}"
	"line.gridline{stroke:#e6e9ee}line.axis{stroke:#9aa3b2}"
	"line.prev{stroke:#1c2230;stroke-width:2}"
	"rect.hit{fill:transparent}rect.hit:hover{fill:rgba(45,91,154,.08)}"
	"svg.spark{vertical-align:middle}"
	"svg.spark polyline{fill:none;stroke:var(--blue);stroke-width:1.5}"
	".appinfo{display:flex;flex-wrap:wrap;gap:8px 18px;align-items:center;margin-bottom:10px}"
	"table.facts{width:auto;margin-bottom:14px}table.facts th{position:static;background:none;text-align:left}"
	".login{max-width:420px;margin:60px auto;padding:24px;border:1px solid var(--line);"
	"border-radius:8px;background:var(--panel)}"
	".login input{width:100%;font:inherit;padding:6px;margin:6px 0 12px}"
	".login button{font:inherit;padding:6px 18px}"
	".message{color:#8b1c1c;font-weight:600}"
	"footer{color:var(--muted);font-size:12px;padding:10px 20px 16px;border-top:1px solid var(--line)}"
	"@media print{"
	"@page{size:A4 landscape;margin:10mm}"
	"body{font-size:10pt}"
	"*{-webkit-print-color-adjust:exact;print-color-adjust:exact}"
	"header.top{background:none;color:#000;padding:0 0 6px;border-bottom:2px solid #000}"
	"header.top .period{color:#000}"
	"header.top nav,header.top .who,nav.toc,form.range,.noprint{display:none!important}"
	"main{padding:0;max-width:none}"
	".tablewrap{overflow:visible}"
	"table{font-size:7.5pt}th{position:static;white-space:normal}"
	"td.n,th.n{white-space:normal}"
	"thead{display:table-header-group}"
	"tr,figure.chart,.kpi,.explain{break-inside:avoid}"
	"h2,h3{break-after:avoid}"
	"figure.chart svg{max-width:100%}"
	".grid{grid-template-columns:repeat(3,1fr)}"
	"a{color:inherit;text-decoration:none}a.src{text-decoration:underline}"
	".vendor,.applist,.badge,ul.reasons,.risk{font-size:7pt}"
	"ul.reasons{min-width:14em}"
	"section.newpage{break-before:page}"
	"rect.hit{display:none}"
	"details>summary{list-style:none}details>summary::-webkit-details-marker{display:none}"
	"footer{border:none}"
	"}";

/* Sorts a table by a click (or Enter) on a column's header: numbers by
 * data-value, text by its letters; and opens every <details> to print. */
static const char script[] =
	"(function(){"
	"function key(c){var v=c.getAttribute('data-value');return v===null?c.textContent.trim():v;}"
	"function sortBy(th){"
	"var t=th.closest('table'),b=t.tBodies[0],i=Array.prototype.indexOf.call(th.parentNode.children,th),"
	"num=th.classList.contains('n')||th.hasAttribute('data-num'),cur=th.getAttribute('aria-sort'),"
	"dir=cur?(cur==='ascending'?-1:1):(num?-1:1),"
	"rows=Array.prototype.slice.call(b.rows);"
	"rows.sort(function(x,y){var a=key(x.cells[i]),c=key(y.cells[i]),d;"
	"if(num){d=(parseFloat(a)||0)-(parseFloat(c)||0);}else{d=a.localeCompare(c);}"
	"return d*dir;});"
	"rows.forEach(function(r){b.appendChild(r);});"
	"Array.prototype.forEach.call(th.parentNode.children,function(h){h.removeAttribute('aria-sort');});"
	"th.setAttribute('aria-sort',dir<0?'descending':'ascending');}"
	"document.querySelectorAll('table.sortable thead th').forEach(function(th){"
	"th.tabIndex=0;th.addEventListener('click',function(){sortBy(th);});"
	"th.addEventListener('keydown',function(e){if(e.key==='Enter'||e.key===' '){"
	"e.preventDefault();sortBy(th);}});});"
	"addEventListener('beforeprint',function(){"
	"document.querySelectorAll('details').forEach(function(d){d.open=true;});});"
	"})();";

const char *
html_page_script(void)
{
	return script;
}

static void
page_head(struct hw *w, const char *title, const char *title2)
{
	S(w, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	     /* the file asks no one for anything, even if a bug let a URL
	      * through; the dashboard sends the same as a header */
	     "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	     "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
	     "form-action 'self'\">"
	     "<meta name=\"referrer\" content=\"no-referrer\">"
	     "<link rel=\"icon\" href=\"data:,\"><title>");
	esc(w->o, title);
	if (title2) {
		S(w, " \xe2\x80\x94 ");
		esc(w->o, title2);
	}
	S(w, "</title><style>");
	S(w, css);
	S(w, "</style></head><body>");
}

static void
page_end(struct hw *w)
{
	char t[TIMEFMT_LEN];
	if (w->r) {
		S(w, "<footer>Generated ");
		esc(w->o, time_format_rfc3339(w->r->generated, 0, t));
		S(w, " by shadowmap from the collector's store. Times are UTC. Users are client "
		     "addresses.</footer>");
	}
	S(w, "<script>");
	S(w, script);
	S(w, "</script></body></html>\n");
}

/* A date n days before the day YYYY-MM-DD, into buf (NUM_LEN). */
static const char *
days_before(const char *day, int n, char *buf)
{
	int64_t t;
	if (!day || time_parse_rfc3339(day, &t) < 0) {
		buf[0] = '\0';
		return buf;
	}
	return fmt_iso_day(t - (int64_t)n * USEC_PER_DAY, buf);
}

/* The dashboard's header: title, navigation, who is logged in, and the
 * range form. page is what is shown (REPORT_PAGE_COUNT: none of them). */
static void
dashboard_header(struct hw *w, enum report_page page, const char *app_slug)
{
	static const struct {
		enum report_page page;
		const char *label;
	} nav[] = {
		{ REPORT_PAGE_OVERVIEW, "Overview" },
		{ REPORT_PAGE_CATEGORIES, "Categories" },
		{ REPORT_PAGE_APPS, "Apps" },
		{ REPORT_PAGE_UNKNOWN_DOMAINS, "Unknown domains" },
	};
	const struct report_page_ctx *ctx = w->ctx;
	char buf[NUM_LEN];

	S(w, "<header class=\"top\"><h1>shadowmap</h1><nav aria-label=\"pages\">");
	for (size_t i = 0; i < sizeof(nav) / sizeof(nav[0]); i++) {
		S(w, "<a href=\"");
		href_page(w, nav[i].page, NULL);
		S(w, "\"");
		if (nav[i].page == page || (page == REPORT_PAGE_APP && nav[i].page == REPORT_PAGE_APPS))
			S(w, " aria-current=\"page\"");
		F(w, ">%s</a>", nav[i].label);
	}
	S(w, "</nav>");
	if (w->r) {
		S(w, "<span class=\"period\">");
		period_text(w, w->r->from, w->r->to);
		S(w, "</span>");
	}
	if (ctx->user || ctx->csrf) {
		S(w, "<span class=\"who\">");
		if (ctx->user) {
			S(w, "<span title=\"the reader token this session was opened with\">");
			esc(w->o, ctx->user);
			S(w, "</span>");
		}
		if (ctx->csrf) {
			S(w, "<form class=\"logout\" method=\"post\" action=\"");
			esc(w->o, ctx->base);
			S(w, "/logout\"><input type=\"hidden\" name=\"csrf\" value=\"");
			esc(w->o, ctx->csrf);
			S(w, "\"><button type=\"submit\">Log out</button></form>");
		}
		S(w, "</span>");
	}
	S(w, "</header>");
	if (page == REPORT_PAGE_COUNT)
		return;
	/* the range: a GET form to this same page */
	S(w, "<form class=\"range\" method=\"get\" action=\"");
	esc(w->o, ctx->base);
	S(w, report_page_path(page));
	if (page == REPORT_PAGE_APP)
		url_part(w->o, app_slug);
	S(w, "\"><label>From <input type=\"date\" name=\"from\" required value=\"");
	esc(w->o, ctx->from_date);
	S(w, "\"></label><label>to <input type=\"date\" name=\"to\" required value=\"");
	esc(w->o, ctx->to_date);
	S(w, "\"></label><button type=\"submit\">Show</button><span class=\"presets\">");
	static const int presets[] = { 7, 30, 90 };
	for (size_t i = 0; i < 3; i++) {
		S(w, "<a href=\"");
		esc(w->o, ctx->base);
		S(w, report_page_path(page));
		if (page == REPORT_PAGE_APP)
			url_part(w->o, app_slug);
		S(w, "?from=");
		url_part(w->o, days_before(ctx->today, presets[i] - 1, buf));
		S(w, "&amp;to=");
		url_part(w->o, ctx->today);
		F(w, "\">Last %d days</a>", presets[i]);
	}
	S(w, "</span><span class=\"muted\">Days are UTC; both are included.</span></form>");
}

/* ---- the standalone file ---- */

static int
write_file(struct hw *w)
{
	const struct report *r = w->r;

	page_head(w, "shadowmap: unmet demand", NULL);
	S(w, "<header class=\"top\"><h1>shadowmap: unmet demand</h1><span class=\"period\">");
	period_text(w, r->from, r->to);
	S(w, "</span></header><nav class=\"toc\" aria-label=\"contents\">"
	     "<a href=\"#summary\">Summary</a><a href=\"#gaps\">Gaps</a>"
	     "<a href=\"#demand\">Demand</a><a href=\"#trends\">Trends</a>"
	     "<a href=\"#categories\">Categories</a><a href=\"#apps\">Apps</a>"
	     "<a href=\"#new-apps\">New apps</a><a href=\"#unknown-domains\">Unknown domains</a>"
	     "</nav><main>");
	summary_section(w);
	gaps_section(w);
	S(w, "<section id=\"demand\"><h2>Demand</h2>");
	chart_demand(w, 0);
	chart_sanctioned_vs_elsewhere(w);
	S(w, "</section><section id=\"trends\" class=\"newpage\"><h2>Trends</h2><p class=\"note\">Users per ");
	S(w, r->point_usec >= USEC_PER_DAY ? "day" : "interval");
	S(w, " in each category, and of them those who went elsewhere.</p>");
	category_trends(w, TREND_CHARTS_MAX);
	S(w, "</section><section id=\"categories\" class=\"newpage\"><h2>Categories</h2>");
	categories_table(w);
	S(w, "</section><section id=\"apps\" class=\"newpage\"><h2>Apps</h2>");
	apps_table(w, 0);
	S(w, "</section><section id=\"new-apps\"><h2>New apps</h2><p class=\"note\">Apps the "
	     "collector saw for the first time in this period.</p>");
	apps_table(w, 1);
	S(w, "</section><section id=\"unknown-domains\"><h2>Unknown domains</h2><p class=\"note\">"
	     "Registrable domains of traffic no signature names, by volume: services to look "
	     "at, and to add to the signatures when they are SaaS.</p>");
	domains_table(w);
	S(w, "</section></main>");
	page_end(w);
	return w->o->failed ? -1 : 0;
}

int
report_write_html(const struct report *r, FILE *out)
{
	struct sbuf o;
	struct hw w = { &o, r, NULL };
	int rc = 0;

	sbuf_init(&o, HTML_PAGE_MAX);
	if (write_file(&w) < 0) {
		errno = o.len >= o.max - 1 ? EFBIG : ENOMEM;
		rc = -1;
	} else if (fwrite(o.data, 1, o.len, out) != o.len || fflush(out) != 0) {
		rc = -1;
	}
	sbuf_free(&o);
	return rc;
}

/* ---- the dashboard's pages ---- */

const char *
report_page_path(enum report_page page)
{
	switch (page) {
	case REPORT_PAGE_CATEGORIES: return "/categories";
	case REPORT_PAGE_APPS: return "/apps";
	case REPORT_PAGE_APP: return "/apps/";
	case REPORT_PAGE_UNKNOWN_DOMAINS: return "/unknown-domains";
	default: return "/";
	}
}

static void
app_page(struct hw *w, const char *slug)
{
	const struct report *r = w->r;
	long i = slug ? report_find_app(r, slug) : -1;
	char a[NUM_LEN], b[NUM_LEN];

	if (i < 0) {
		S(w, "<section><h2>");
		esc(w->o, slug ? slug_label(r, slug) : "?");
		S(w, "</h2><p class=\"empty\">Not used in this period. Pick another range above, or "
		     "go back to <a href=\"");
		href_page(w, REPORT_PAGE_APPS, NULL);
		S(w, "\">the apps</a>.</p></section>");
		return;
	}
	const struct report_app *app = &r->apps[i];
	long ci = category_index(r, app->category);
	const struct report_category *c = ci >= 0 ? &r->categories[ci] : NULL;

	S(w, "<section id=\"app\"><h2>");
	esc(w->o, app_label(app));
	if (app->vendor && *app->vendor) {
		S(w, " <small>");
		esc(w->o, app->vendor);
		S(w, "</small>");
	}
	S(w, "</h2><div class=\"appinfo\">");
	status_badge(w, app->status);
	S(w, "<span>Category: ");
	if (ci >= 0)
		category_link(w, (size_t)ci);
	else
		esc(w->o, category_label(r, app->category));
	S(w, "</span>");
	if (app->is_new)
		S(w, "<span class=\"badge vd-offer\">new in this period</span>");
	S(w, "<span class=\"muted\">slug <code>");
	esc(w->o, app->app);
	S(w, "</code></span></div>");

	S(w, "<div class=\"kpis\">");
	F(w, "<div class=\"kpi\" id=\"kpi-app-users\"><span class=\"k\">Users</span><span class=\"v\" "
	     "data-value=\"%" PRIu64 "\">%s</span><span class=\"s\">",
	  app->users, fmt_count(app->users, a));
	change_text(w, app->users, app->prev_users, app->is_new);
	S(w, " vs the previous period");
	if (c && c->users)
		F(w, "; %s of the category's users", fmt_pct(app->users, c->users, b));
	S(w, "</span></div>");
	F(w, "<div class=\"kpi\" id=\"kpi-app-up\"><span class=\"k\">Uploaded</span><span class=\"v\" "
	     "data-value=\"%" PRIu64 "\" title=\"%s bytes\">%s</span>",
	  app->bytes_up, fmt_count(app->bytes_up, a), report_format_bytes(app->bytes_up, b));
	F(w, "<span class=\"s\">%s of its traffic; previous period ", fmt_pct(app->bytes_up, app->bytes_up + app->bytes_down, a));
	F(w, "<span title=\"%s bytes\">%s</span></span></div>", fmt_count(app->prev_bytes_up, a),
	  report_format_bytes(app->prev_bytes_up, b));
	F(w, "<div class=\"kpi\" id=\"kpi-app-down\"><span class=\"k\">Downloaded</span><span class=\"v\" "
	     "data-value=\"%" PRIu64 "\" title=\"%s bytes\">%s</span>",
	  app->bytes_down, fmt_count(app->bytes_down, a), report_format_bytes(app->bytes_down, b));
	F(w, "<span class=\"s\">%s flows</span></div>", fmt_count(app->flows, a));
	F(w, "<div class=\"kpi\" id=\"kpi-app-risk\"><span class=\"k\">Risk</span><span class=\"v\" "
	     "data-value=\"%d\"><span class=\"risk %s\">%d</span></span><span class=\"s\">out of 100; "
	     "the reasons below</span></div>",
	  app->risk.score, risk_class(r, app->risk.score), app->risk.score);
	S(w, "</div>");

	S(w, "<table class=\"facts\"><tbody>");
	F(w, "<tr><th>Days with use</th><td>%u</td></tr>", app->days_active);
	S(w, "<tr><th>Seen in this period</th><td>");
	if (app->first_seen) {
		S(w, fmt_day(app->first_seen, 1, 1, a));
		S(w, " \xe2\x80\x93 ");
		S(w, fmt_day(app->last_seen, 1, 1, b));
		S(w, " UTC");
	}
	S(w, "</td></tr><tr><th>First seen ever</th><td>");
	if (app->first_seen_ever)
		S(w, fmt_day(app->first_seen_ever, 1, 1, a));
	S(w, "</td></tr><tr><th>Use instead</th>");
	alternatives_cell(w, app);
	S(w, "</tr>");
	if (c) {
		S(w, "<tr><th>Sanctioned for the category</th><td>");
		sanctioned_list(w, c);
		S(w, "</td></tr>");
	}
	S(w, "</tbody></table>");

	struct series s[2] = { { app->daily_users, "users of this app", "a-users", 1 },
			       { c ? c->daily_users : NULL, "users of the category", "l-users", 0 } };
	chart_trend(w, "trend-app", "Users over time", NULL, s, c ? 2 : 1, 0);

	S(w, "<h3>Risk</h3>");
	if (app->risk.n_reasons)
		risk_reasons(w, &app->risk);
	else
		S(w, "<p class=\"empty\">No risk points.</p>");

	/* the gaps this app is part of */
	size_t n_gaps = 0;
	for (size_t g = 0; g < r->n_gaps; g++) {
		const struct report_gap *gap = &r->gaps[g];
		if (gap->app != i && !(gap->app < 0 && ci >= 0 && gap->category == (size_t)ci))
			continue;
		if (!n_gaps++)
			S(w, "<h3>Gaps</h3><ul class=\"gaps\">");
		F(w, "<li>#%u ", gap->rank);
		verdict_badge(w, gap->verdict);
		S(w, " ");
		esc(w->o, gap->text);
		S(w, "</li>");
	}
	if (n_gaps)
		S(w, "</ul>");

	/* the other apps of the category */
	if (c && c->n_apps) {
		S(w, "<h3>Apps used for ");
		esc(w->o, category_label(r, c->category));
		S(w, "</h3><div class=\"tablewrap\"><table class=\"sortable\" id=\"category-apps-table\">"
		     "<thead><tr>");
		th(w, "app", "App", 0, NULL);
		th(w, "status", "Status", 0, NULL);
		th(w, "users", "Users", 1, NULL);
		th(w, "bytes_up", "Uploaded", 1, NULL);
		th(w, "bytes_down", "Downloaded", 1, NULL);
		th(w, "risk", "Risk", 1, NULL);
		S(w, "</tr></thead><tbody>");
		for (size_t k = 0; k < c->n_apps; k++) {
			size_t ai = c->apps[k];
			if (ai >= r->n_apps)
				continue;
			const struct report_app *o = &r->apps[ai];
			S(w, "<tr data-app=\"");
			esc(w->o, o->app);
			S(w, "\"><td>");
			app_link(w, ai);
			F(w, "</td><td data-value=\"%d\">", (int)o->status);
			status_badge(w, o->status);
			S(w, "</td>");
			td_count(w, o->users);
			td_bytes(w, o->bytes_up);
			td_bytes(w, o->bytes_down);
			F(w, "<td class=\"n\" data-value=\"%d\"><span class=\"risk %s\">%d</span></td></tr>",
			  o->risk.score, risk_class(r, o->risk.score), o->risk.score);
		}
		S(w, "</tbody></table></div>");
	}
	S(w, "</section>");
}

int
report_write_page(const struct report *r, enum report_page page, const char *app_slug,
		  const struct report_page_ctx *ctx, struct sbuf *out)
{
	struct hw w = { out, r, ctx };
	static const char *const titles[] = { "Overview", "Categories", "Apps", "App",
					      "Unknown domains" };

	if (page >= REPORT_PAGE_COUNT)
		page = REPORT_PAGE_OVERVIEW;
	page_head(&w, "shadowmap",
		  page == REPORT_PAGE_APP && app_slug ? slug_label(r, app_slug) : titles[page]);
	dashboard_header(&w, page, app_slug);
	S(&w, "<main>");
	switch (page) {
	case REPORT_PAGE_OVERVIEW:
		summary_section(&w);
		S(&w, "<section id=\"demand\"><h2>Demand</h2>");
		chart_demand(&w, OVERVIEW_BARS);
		S(&w, "<p class=\"note\"><a href=\"");
		href_page(&w, REPORT_PAGE_CATEGORIES, NULL);
		S(&w, "\">Every category, with its figures</a></p></section>");
		gaps_section(&w);
		S(&w, "<section id=\"trends\"><h2>Trends</h2><p class=\"note\">Users per ");
		S(&w, r->point_usec >= USEC_PER_DAY ? "day" : "interval");
		S(&w, " in the categories at the top of the list, and of them those who went "
		      "elsewhere.</p>");
		category_trends(&w, OVERVIEW_TRENDS);
		S(&w, "</section>");
		break;
	case REPORT_PAGE_CATEGORIES:
		S(&w, "<section id=\"categories\"><h2>Categories</h2>");
		chart_demand(&w, 0);
		chart_sanctioned_vs_elsewhere(&w);
		categories_table(&w);
		S(&w, "</section><section id=\"trends\"><h2>Trends</h2>");
		category_trends(&w, TREND_CHARTS_MAX);
		S(&w, "</section>");
		break;
	case REPORT_PAGE_APPS:
		S(&w, "<section id=\"apps\"><h2>Apps</h2>");
		apps_table(&w, 0);
		S(&w, "</section><section id=\"new-apps\"><h2>New apps</h2><p class=\"note\">Apps the "
		      "collector saw for the first time in this period.</p>");
		apps_table(&w, 1);
		S(&w, "</section>");
		break;
	case REPORT_PAGE_APP:
		app_page(&w, app_slug);
		break;
	default:
		S(&w, "<section id=\"unknown-domains\"><h2>Unknown domains</h2><p class=\"note\">"
		      "Registrable domains of traffic no signature names, by volume: services to "
		      "look at, and to add to the signatures when they are SaaS.</p>");
		domains_table(&w);
		S(&w, "</section>");
		break;
	}
	S(&w, "</main>");
	page_end(&w);
	return out->failed ? -1 : 0;
}

int
html_write_login(struct sbuf *out, const char *action, const char *message)
{
	struct hw w = { out, NULL, NULL };

	page_head(&w, "shadowmap", "log in");
	S(&w, "<header class=\"top\"><h1>shadowmap</h1></header><main><div class=\"login\">"
	      "<h2>Log in</h2>");
	if (message) {
		S(&w, "<p class=\"message\" role=\"alert\">");
		esc(out, message);
		S(&w, "</p>");
	}
	S(&w, "<form method=\"post\" action=\"");
	esc(out, action);
	S(&w, "\"><label for=\"token\">Reader token</label>"
	      "<input type=\"password\" id=\"token\" name=\"token\" autocomplete=\"off\" "
	      "required autofocus placeholder=\"smk_\xe2\x80\xa6\">"
	      "<button type=\"submit\">Log in</button></form>"
	      "<p class=\"note\">A reader token comes from <code>shadowmap-collector token create "
	      "--reader NAME</code>. The session lasts 8 hours.</p></div></main>");
	page_end(&w);
	return out->failed ? -1 : 0;
}

int
html_write_message(struct sbuf *out, const struct report_page_ctx *ctx, const char *title,
		   const char *message)
{
	struct hw w = { out, NULL, ctx };

	page_head(&w, "shadowmap", title);
	if (ctx)
		dashboard_header(&w, REPORT_PAGE_COUNT, NULL);
	else
		S(&w, "<header class=\"top\"><h1>shadowmap</h1></header>");
	S(&w, "<main><section><h2>");
	esc(out, title);
	S(&w, "</h2><p>");
	esc(out, message);
	S(&w, "</p>");
	if (ctx) {
		S(&w, "<p><a href=\"");
		href_page(&w, REPORT_PAGE_OVERVIEW, NULL);
		S(&w, "\">Back to the overview</a></p>");
	}
	S(&w, "</section></main>");
	page_end(&w);
	return out->failed ? -1 : 0;
}
