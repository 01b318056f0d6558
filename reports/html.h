/*
 * The report as HTML: one self-contained file (shadowmap-report --format
 * html) and the pages of the collector's dashboard, from the same code so
 * that both show the same figures the same way. Everything is inline (CSS,
 * SVG charts, a small script that sorts tables): a page asks no other host
 * for anything, opens offline and prints. Every string that came from the
 * network (app names and slugs, domains, network owners) is escaped.
 */
#ifndef SHADOWMAP_HTML_H
#define SHADOWMAP_HTML_H

#include <stdio.h>

#include "shadowmap/sbuf.h"

#include "report.h"

/* The largest page or file written: a cap on the buffer it is built in. */
#define HTML_PAGE_MAX ((size_t)64 << 20)

/*
 * The whole report as one HTML file: summary, ranked gaps and how they are
 * ranked, charts, and the tables (categories, apps, new apps, unknown
 * domains). 0, or -1 on a write error or when the page would pass
 * HTML_PAGE_MAX (errno set).
 */
int report_write_html(const struct report *r, FILE *out);

/* The one script of every page (it sorts tables and opens the risk
 * reasons to print), exactly as the pages carry it: the dashboard allows
 * this script alone by its hash in the Content-Security-Policy. */
const char *html_page_script(void);

/* The dashboard's pages. */
enum report_page {
	REPORT_PAGE_OVERVIEW,	     /* summary, gaps, demand, trends */
	REPORT_PAGE_CATEGORIES,	     /* charts and the table of categories */
	REPORT_PAGE_APPS,	     /* the apps, the new apps */
	REPORT_PAGE_APP,	     /* one app (app_slug) */
	REPORT_PAGE_UNKNOWN_DOMAINS, /* names no signature knows */
	REPORT_PAGE_COUNT
};

/* What a page links to and shows besides the report; strings are copied
 * into the page (escaped), never kept. */
struct report_page_ctx {
	const char *base;      /* the pages' path, no trailing slash: "/dashboard" */
	const char *from_date; /* the range form's values, YYYY-MM-DD: first day */
	const char *to_date;   /* last day, included (as the API's "to") */
	const char *today;     /* YYYY-MM-DD: the presets (last 7/30/90 days) end there */
	const char *user;      /* who is logged in (the reader token's name), or NULL */
	const char *csrf;      /* the log-out form's token; NULL: no log-out button */
};

/* The page's path below base: "/", "/categories", "/apps", "/apps/"
 * (followed by the app's slug), "/unknown-domains". */
const char *report_page_path(enum report_page page);

/*
 * Appends one dashboard page to out: the navigation, the range form, and
 * the page's part of the report. Links keep the range (?from=&to=). For
 * REPORT_PAGE_APP, app_slug names the app; one not used in the period gets
 * a page that says so. 0, or -1 when out failed (its cap, or memory).
 */
int report_write_page(const struct report *r, enum report_page page, const char *app_slug,
		      const struct report_page_ctx *ctx, struct sbuf *out);

/* The log-in page: a form posting "token" to action, with message (may be
 * NULL) above it. 0 or -1 as above. */
int html_write_login(struct sbuf *out, const char *action, const char *message);

/* A page with a title and a message (a bad range, a store that failed),
 * the navigation when ctx is given. 0 or -1 as above. */
int html_write_message(struct sbuf *out, const struct report_page_ctx *ctx, const char *title,
		       const char *message);

#endif
