/*
 * The risk score of an app: 0 to 100 and the reasons that make it up, from
 * the app's category and its risk facts (sig.h), weighted as the
 * organisation chooses. signatures/RISK.md is the formula; the reports and
 * the dashboard show the reasons beside the number, so that a score can
 * always be checked against the vendor's own pages.
 */
#ifndef SHADOWMAP_RISK_H
#define SHADOWMAP_RISK_H

#include <stddef.h>

#include "shadowmap/sig.h"
#include "shadowmap/yaml.h"

/* What adds points besides the category, each named as in the weights. */
enum risk_factor {
	RISK_NO_SSO,			/* sso: none */
	RISK_NO_MFA,			/* mfa: no */
	RISK_NO_CERTIFICATION,		/* none of the accepted certifications */
	RISK_TRAINS_ON_CUSTOMER_DATA,	/* trains_on_customer_data: yes */
	RISK_TRAINS_OPT_OUT,		/* trains_on_customer_data: opt-out */
	RISK_NO_RESIDENCY,		/* no accepted data_residency region */
	RISK_PUBLIC_LINK_SHARING,	/* public_link_sharing: yes */
	RISK_NO_E2EE,			/* e2ee: no */
	RISK_HQ_COUNTRY,		/* hq_country in the listed countries */
	RISK_FACTOR_COUNT
};

#define RISK_POINTS_MAX 100	 /* of a score, a weight and a category base */
#define RISK_CATEGORIES_MAX 128	 /* category bases */
#define RISK_COUNTRIES_MAX 256	 /* hq_countries, residency regions */
#define RISK_CERTIFICATIONS_MAX 32

struct risk_category_base {
	char slug[65];
	int points;
};

/*
 * The organisation's weights: a plain value (no pointers), copied freely.
 * Start from risk_weights_defaults and change what you need.
 */
struct risk_weights {
	int factor[RISK_FACTOR_COUNT]; /* points when the fact is known and bad */
	int unknown_percent;	       /* share of those points an unknown fact costs */
	int default_base;	       /* base of a category not in bases */
	struct risk_category_base bases[RISK_CATEGORIES_MAX];
	size_t n_bases;
	char residency[RISK_COUNTRIES_MAX][3]; /* accepted regions: "eu", "ch" */
	size_t n_residency;
	char hq_countries[RISK_COUNTRIES_MAX][3]; /* flagged headquarters: "XX" */
	size_t n_hq_countries;
	char certifications[RISK_CERTIFICATIONS_MAX][24]; /* any one of them will do */
	size_t n_certifications;
};

#define RISK_TEXT_MAX 192

struct risk_reason {
	const char *factor; /* "category" or a factor name ("no_sso"): static */
	int points;	    /* > 0 */
	int unknown;	    /* 1: the fact is unknown, the points are a share */
	const char *source; /* the fact's source URL, owned by the database; or NULL */
	char text[RISK_TEXT_MAX];
};

struct risk_result {
	int score; /* 0..100: the points of the reasons, capped at 100 */
	int total; /* the points before the cap */
	size_t n_reasons;
	struct risk_reason reasons[RISK_FACTOR_COUNT + 1]; /* category first */
};

/* The factor's name in the weights and the reasons ("no_sso"), or NULL. */
const char *risk_factor_name(enum risk_factor factor);

/* The built-in weights, as signatures/RISK.md lists them. */
void risk_weights_defaults(struct risk_weights *w);

/*
 * Reads the mapping "risk_weights:" of a YAML file into *w, over what it
 * holds (start from the defaults); other top-level keys of the file are
 * left to the program whose config it is. With sigs (may be NULL), each
 * category of category_base must exist. Returns 0, or -1 with
 * "file:line: reason" in err and *w unchanged.
 */
int risk_weights_load_file(struct risk_weights *w, const char *path, const sig_db *sigs,
			   char *err, size_t errlen);
/* The same for the weights mapping itself, from a tree read with yaml.h;
 * file names the file in messages. */
int risk_weights_from_yaml(struct risk_weights *w, const struct ynode *map, const char *file,
			   const sig_db *sigs, char *err, size_t errlen);

/* The base of a category: its row in bases, else default_base. */
int risk_category_base(const struct risk_weights *w, const char *category);

/*
 * Scores app. Allocates nothing; out's sources point into the database
 * and stay valid as long as it does.
 */
void risk_score(const struct risk_weights *w, const struct sig_app *app,
		struct risk_result *out);

#endif
