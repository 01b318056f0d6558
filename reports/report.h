/*
 * The analysis behind every report and the dashboard: for a period, who
 * used which app, how that meets the organisation's service catalog, and
 * the gaps (unmet demand) ranked so that the top of the list is what IT
 * should act on first. report_build reads the store once and computes
 * everything; the renderers (JSON and CSV here, HTML in html.h) only lay
 * the figures out, so that the report program and the collector's
 * dashboard can never disagree. The formula is in docs/reports.md and,
 * in words, in every report (report_ranking_text).
 *
 * A "user" is a client address until identities arrive; the reports say so.
 */
#ifndef SHADOWMAP_REPORT_H
#define SHADOWMAP_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "shadowmap/catalog.h"
#include "shadowmap/risk.h"
#include "shadowmap/sbuf.h"
#include "shadowmap/sig.h"
#include "store.h"

#define REPORT_DAYS_MAX 64 /* points of a period's time series */

/* What a gap calls for; in the order a tie is broken. */
enum report_verdict {
	VERDICT_NONE = 0,   /* "no-action": no gap */
	VERDICT_MOVE_OFF,   /* "move-off": a banned or risky app in use */
	VERDICT_OFFER,      /* "offer": demand and no sanctioned service */
	VERDICT_IMPROVE,    /* "improve": a sanctioned service many bypass */
	VERDICT_SANCTION,   /* "consider-sanctioning": low risk, broad adoption */
};

struct report_options {
	int64_t from, to;		    /* usec, [from, to); both required */
	const sig_db *sigs;		    /* names, categories, risk facts */
	const struct catalog *catalog;	    /* NULL: an empty catalog */
	const struct risk_weights *weights; /* NULL: the built-in weights */
	size_t top_unknown;		    /* unknown domains kept (0: 50) */
	/* thresholds of the verdicts (0: the defaults, docs/reports.md) */
	int risky_score;	   /* risk at or above which an app is "risky"; below
				      it, "low risk" (60) */
	int bypass_percent;	   /* share of a served category's users going
				      elsewhere that makes a gap (20) */
	int adoption_percent;	   /* share of a category's users an app needs
				      to count as broadly adopted (20) */
	unsigned min_users;	   /* fewer users than this is no gap (3) */
};

/* One app used in the period (apps[] of the report). */
struct report_app {
	const char *app;	 /* slug */
	const char *name;	 /* display name: the signature's, else the slug */
	const char *vendor;	 /* or NULL */
	const char *category;	 /* slug */
	enum catalog_status status;
	const char *const *alternatives; /* the catalog's, NULL-terminated; or NULL */
	int sanctioned_here;	 /* a sanctioned service covering its own category */
	uint64_t users, flows, bytes_up, bytes_down;
	unsigned days_active;	 /* days with any use, within the period */
	int64_t first_seen, last_seen;	/* usec, within the period */
	int64_t first_seen_ever;	/* usec, in the whole store up to the period's end */
	int is_new;			/* first_seen_ever >= from */
	uint64_t prev_users, prev_bytes_up, prev_bytes_down; /* the previous period */
	struct risk_result risk;
	uint64_t daily_users[REPORT_DAYS_MAX]; /* per point of report.points */
};

/* One category with demand (categories[] of the report). */
struct report_category {
	const char *category;	/* slug */
	const char *name;	/* display name */
	uint64_t users;		/* needed it: used any app in it, or a
				   sanctioned service covering it */
	uint64_t served_users;	  /* used a sanctioned service covering it */
	uint64_t elsewhere_users; /* used an app in it that is not one */
	uint64_t unserved_users;  /* of those, used no sanctioned one at all */
	uint64_t flows, bytes_up, bytes_down;		   /* all its apps */
	uint64_t elsewhere_bytes_up, elsewhere_bytes_down; /* outside the catalog */
	unsigned days_active;
	uint64_t prev_users, prev_elsewhere_users;
	size_t n_sanctioned;	/* sanctioned services covering it (used or not) */
	const char **sanctioned; /* their slugs */
	size_t n_apps;		/* apps of the report used for it, by users */
	size_t *apps;		/* indices into report.apps (own category, and
				   sanctioned services covering it) */
	int risk_max;		/* highest risk of an app used elsewhere; -1 none */
	int risk_mean;		/* users-weighted mean of those; -1 none */
	double score;		/* of its own gap; 0 when it has none */
	unsigned rank;		/* of that gap among all gaps; 0 when none */
	enum report_verdict verdict; /* of its highest-ranked gap */
	uint64_t daily_users[REPORT_DAYS_MAX];
	uint64_t daily_elsewhere[REPORT_DAYS_MAX];
};

/* One gap of the ranked list. */
struct report_gap {
	enum report_verdict verdict;
	size_t category;	/* index into report.categories */
	const char *category_slug;
	long app;		/* index into report.apps, -1 for a category gap */
	double score;
	unsigned rank;		/* 1 = act first */
	char text[512];		/* the verdict in plain words, with its figures */
};

struct report_domain {
	char *domain;
	uint64_t users, hosts, flows, bytes_up, bytes_down;
	int64_t first_seen, last_seen;
	char *network;		/* the network owner (ASN organisation), or NULL */
	uint32_t asn;		/* 0 when unknown */
	char *country;		/* ISO code, or NULL */
};

struct report {
	int64_t from, to;	/* the period */
	int64_t prev_from;	/* the previous period: [prev_from, from) */
	int64_t generated;	/* usec */
	/* time series: npoints points of point_usec each, from from */
	unsigned npoints;
	int64_t point_usec;
	uint64_t users;		/* distinct clients with any use */
	uint64_t prev_users;
	uint64_t flows, bytes_up, bytes_down; /* all usage, named or not */
	uint64_t unsanctioned_users;	      /* used any app that is not sanctioned */
	uint64_t unsanctioned_bytes_up;	      /* data sent to such apps */
	size_t n_apps;
	struct report_app *apps;	/* by users, then bytes */
	size_t n_categories;
	struct report_category *categories; /* by rank, then users */
	size_t n_gaps;
	struct report_gap *gaps;	/* by rank */
	size_t n_domains;
	struct report_domain *domains;	/* by bytes */
	struct report_options opt;	/* as used, defaults filled in */
	struct risk_weights weights;
	void *priv;
};

/* The defaults filled in. */
void report_options_defaults(struct report_options *o);

/* Builds the report of [opt->from, opt->to) from st. NULL with a one-line
 * reason in err. sigs and catalog must outlive the report. */
struct report *report_build(struct store *st, const struct report_options *opt, char *err,
			    size_t errlen);
void report_free(struct report *r);

/* "no-action", "move-off", "offer", "improve", "consider-sanctioning". */
const char *report_verdict_name(enum report_verdict v);

/* How gaps are ranked, in plain words with the thresholds used, for the
 * report itself. */
const char *report_ranking_text(const struct report *r, struct sbuf *out);

/* "1.23 MB": decimal units, three significant digits, into buf (at least
 * REPORT_BYTES_LEN bytes); returns buf. The sentences of the gaps and the
 * HTML show bytes this way. */
#define REPORT_BYTES_LEN 40
const char *report_format_bytes(uint64_t v, char *buf);

/* The index of an app in r->apps, or -1. */
long report_find_app(const struct report *r, const char *slug);

/* ---- renderers: 0, or -1 on a write error (errno set) ---- */

/* The whole report as one JSON document (docs/reports.md). */
int report_write_json(const struct report *r, FILE *out);

/* Tables as CSV (RFC 4180, header row first). */
enum report_table {
	REPORT_TABLE_CATEGORIES,
	REPORT_TABLE_APPS,
	REPORT_TABLE_GAPS,
	REPORT_TABLE_UNKNOWN_DOMAINS,
	REPORT_TABLE_NEW_APPS,
	REPORT_TABLE_COUNT
};
/* "categories", "apps", "gaps", "unknown-domains", "new-apps". */
const char *report_table_name(enum report_table t);
int report_table_from_name(const char *name); /* -1 when unknown */
int report_write_csv(const struct report *r, enum report_table t, FILE *out);

/* ---- exports ---- */

/* The domains of the catalog's banned apps (their signature domains), one
 * per line, sorted, for a proxy or firewall list; '#' comments on top. */
int report_write_blocklist(const struct report *r, FILE *out);

/* The same as a DNS response policy zone (RPZ): each domain and its
 * subdomains answer NXDOMAIN (CNAME .). origin: the zone's name, for the
 * comment and SOA only (owner names are relative). */
int report_write_rpz(const struct report *r, const char *origin, FILE *out);

/*
 * Events for a SIEM, one JSON object per line, by time: the first sighting
 * in [from, to) of each app that is not sanctioned by each client (never
 * seen before in the store), flagged when it is also the organisation's
 * first. Reads the store's history up to the period's end.
 */
int report_write_siem(const struct report *r, struct store *st, FILE *out, char *err,
		      size_t errlen);

#endif
