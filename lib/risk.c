/*
 * The risk score (risk.h): a category base plus points per risk fact that
 * is known to be bad, and a share of them for a fact nobody has written
 * down, so that "unknown" never scores as well as "good". The formula and
 * the default weights are signatures/RISK.md; keep the two in step.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shadowmap/risk.h"
#include "shadowmap/yaml.h"
#include "sig_int.h"

#define RISK_FILE_MAX (1u << 20)

static const char *const factor_names[RISK_FACTOR_COUNT] = {
	[RISK_NO_SSO] = "no_sso",
	[RISK_NO_MFA] = "no_mfa",
	[RISK_NO_CERTIFICATION] = "no_certification",
	[RISK_TRAINS_ON_CUSTOMER_DATA] = "trains_on_customer_data",
	[RISK_TRAINS_OPT_OUT] = "trains_opt_out",
	[RISK_NO_RESIDENCY] = "no_residency",
	[RISK_PUBLIC_LINK_SHARING] = "public_link_sharing",
	[RISK_NO_E2EE] = "no_e2ee",
	[RISK_HQ_COUNTRY] = "hq_country",
};

/* The defaults of RISK.md: categories where shadow use most often means
 * data leaving (pastes, files, prompts, remote control) start higher. */
static const struct {
	const char *slug;
	int points;
} default_bases[] = {
	{ "paste-sites", 40 },	    { "remote-access", 35 },	{ "vpn-proxy", 35 },
	{ "file-sharing", 30 },	    { "genai", 30 },		{ "password-manager", 25 },
	{ "transcription", 25 },    { "translation", 25 },	{ "cloud-infrastructure", 20 },
	{ "developer-tools", 20 },  { "email", 20 },		{ "forms-surveys", 20 },
	{ "messaging", 20 },	    { "social-media", 20 },	{ "analytics-bi", 10 },
	{ "scheduling", 10 },	    { "streaming-media", 5 },
};

static const int default_factors[RISK_FACTOR_COUNT] = {
	[RISK_NO_SSO] = 15,
	[RISK_NO_MFA] = 10,
	[RISK_NO_CERTIFICATION] = 15,
	[RISK_TRAINS_ON_CUSTOMER_DATA] = 20,
	[RISK_TRAINS_OPT_OUT] = 10,
	[RISK_NO_RESIDENCY] = 10,
	[RISK_PUBLIC_LINK_SHARING] = 10,
	[RISK_NO_E2EE] = 0,
	[RISK_HQ_COUNTRY] = 15,
};

const char *
risk_factor_name(enum risk_factor factor)
{
	return (unsigned)factor < RISK_FACTOR_COUNT ? factor_names[factor] : NULL;
}

void
risk_weights_defaults(struct risk_weights *w)
{
	memset(w, 0, sizeof(*w));
	memcpy(w->factor, default_factors, sizeof(w->factor));
	w->unknown_percent = 50;
	w->default_base = 15;
	for (size_t i = 0; i < sizeof(default_bases) / sizeof(default_bases[0]); i++) {
		snprintf(w->bases[i].slug, sizeof(w->bases[i].slug), "%s", default_bases[i].slug);
		w->bases[i].points = default_bases[i].points;
	}
	w->n_bases = sizeof(default_bases) / sizeof(default_bases[0]);
	memcpy(w->residency[0], "eu", 3);
	w->n_residency = 1;
	memcpy(w->certifications[0], "soc2", 5);
	memcpy(w->certifications[1], "iso27001", 9);
	w->n_certifications = 2;
	/* hq_countries: none by default; which countries worry an organisation
	 * is its own call (RISK.md). */
}

int
risk_category_base(const struct risk_weights *w, const char *category)
{
	if (category)
		for (size_t i = 0; i < w->n_bases; i++)
			if (strcmp(w->bases[i].slug, category) == 0)
				return w->bases[i].points;
	return w->default_base;
}

/* ---- scoring --------------------------------------------------------- */

/* How one fact stands against its factor. */
enum verdict {
	V_GOOD,	   /* known, no points */
	V_BAD,	   /* known, all the factor's points */
	V_UNKNOWN, /* unknown: unknown_percent of them */
};

static void
add_reason(struct risk_result *out, const char *factor, int points, int unknown,
	   const char *source, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void
add_reason(struct risk_result *out, const char *factor, int points, int unknown,
	   const char *source, const char *fmt, ...)
{
	struct risk_reason *r;
	va_list ap;

	if (points <= 0 || out->n_reasons >= sizeof(out->reasons) / sizeof(out->reasons[0]))
		return;
	r = &out->reasons[out->n_reasons++];
	r->factor = factor;
	r->points = points;
	r->unknown = unknown;
	r->source = source;
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
	out->total += points;
}

/* Points of factor f for verdict v: all, none, or the share for unknown
 * (rounded half up, so that 15 at 50% is 8). */
static int
points_for(const struct risk_weights *w, enum risk_factor f, enum verdict v)
{
	if (v == V_GOOD)
		return 0;
	if (v == V_BAD)
		return w->factor[f];
	return (w->factor[f] * w->unknown_percent + 50) / 100;
}

/* A factor that turns on one fact: its reason, with the fact's source
 * when known, the unknown text when not. */
static void
judge(struct risk_result *out, const struct risk_weights *w, enum risk_factor f,
      const struct sig_fact *fact, enum verdict v, const char *bad_text,
      const char *unknown_text)
{
	if (v == V_UNKNOWN)
		add_reason(out, factor_names[f], points_for(w, f, v), 1, NULL,
			   "%s (unknown: %d%% of %d)", unknown_text, w->unknown_percent,
			   w->factor[f]);
	else if (v == V_BAD)
		add_reason(out, factor_names[f], points_for(w, f, v), 0, fact->source, "%s",
			   bad_text);
}

static int
residency_accepted(const struct risk_weights *w, const char *region)
{
	for (size_t i = 0; i < w->n_residency; i++) {
		if (strcmp(w->residency[i], region) == 0)
			return 1;
		/* a member state's region is in the EU; "eu" is not in Germany */
		if (strcmp(w->residency[i], "eu") == 0 && sig_country_in_eu(region))
			return 1;
	}
	return 0;
}

/* "a, b and c" of a list of short codes, for the reasons' texts. */
static const char *
join(char *buf, size_t size, const char *items, size_t item_size, size_t n)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && o < size; i++) {
		int k = snprintf(buf + o, size - o, "%s%s",
				 i == 0 ? "" : i + 1 == n ? " or " : ", ", items + i * item_size);
		if (k < 0)
			break;
		o += (size_t)k;
	}
	return buf;
}

void
risk_score(const struct risk_weights *w, const struct sig_app *app, struct risk_result *out)
{
	const struct sig_fact *f;
	enum verdict v;
	char list[128], bad[RISK_TEXT_MAX];
	int base;

	memset(out, 0, sizeof(*out));
	if (!w || !app)
		return;
	base = risk_category_base(w, app->category);
	add_reason(out, "category", base, 0, NULL, "category %s starts at %d",
		   app->category ? app->category : "(none)", base);

	f = &app->risk[SIG_FACT_SSO];
	v = !f->known ? V_UNKNOWN : f->n_items == 0 ? V_BAD : V_GOOD;
	judge(out, w, RISK_NO_SSO, f, v, "no single sign-on (SAML or OIDC)",
	      "single sign-on");

	f = &app->risk[SIG_FACT_MFA];
	v = !f->known ? V_UNKNOWN : f->answer == SIG_NO ? V_BAD : V_GOOD;
	judge(out, w, RISK_NO_MFA, f, v, "no multi-factor authentication",
	      "multi-factor authentication");

	/* no accepted certification or region listed: the factor is off */
	if (w->n_certifications > 0) {
		f = &app->risk[SIG_FACT_CERTIFICATIONS];
		v = f->known ? V_BAD : V_UNKNOWN;
		for (size_t i = 0; f->known && i < w->n_certifications; i++)
			if (sig_fact_has(f, w->certifications[i]))
				v = V_GOOD;
		join(list, sizeof(list), w->certifications[0], sizeof(w->certifications[0]),
		     w->n_certifications);
		if (f->n_items)
			snprintf(bad, sizeof(bad), "certified, but not %s", list);
		else
			snprintf(bad, sizeof(bad), "no certification (wanted: %s)", list);
		judge(out, w, RISK_NO_CERTIFICATION, f, v, bad, "certifications");
	}

	f = &app->risk[SIG_FACT_TRAINS_ON_CUSTOMER_DATA];
	if (f->known && f->answer == SIG_OPT_OUT)
		add_reason(out, factor_names[RISK_TRAINS_OPT_OUT], w->factor[RISK_TRAINS_OPT_OUT],
			   0, f->source,
			   "trains models on customer content unless the customer opts out");
	else
		judge(out, w, RISK_TRAINS_ON_CUSTOMER_DATA, f,
		      !f->known ? V_UNKNOWN : f->answer == SIG_YES ? V_BAD : V_GOOD,
		      "trains models on customer content", "training on customer content");

	if (w->n_residency > 0) {
		f = &app->risk[SIG_FACT_DATA_RESIDENCY];
		v = f->known ? V_BAD : V_UNKNOWN;
		for (size_t i = 0; f->known && i < f->n_items; i++)
			if (residency_accepted(w, f->items[i]))
				v = V_GOOD;
		join(list, sizeof(list), w->residency[0], sizeof(w->residency[0]),
		     w->n_residency);
		snprintf(bad, sizeof(bad), "customer content cannot be kept in %s", list);
		judge(out, w, RISK_NO_RESIDENCY, f, v, bad, "data residency");
	}

	f = &app->risk[SIG_FACT_PUBLIC_LINK_SHARING];
	v = !f->known ? V_UNKNOWN : f->answer == SIG_YES ? V_BAD : V_GOOD;
	judge(out, w, RISK_PUBLIC_LINK_SHARING, f, v, "content can be shared by public link",
	      "public link sharing");

	f = &app->risk[SIG_FACT_E2EE];
	v = !f->known ? V_UNKNOWN : f->answer == SIG_NO ? V_BAD : V_GOOD;
	judge(out, w, RISK_NO_E2EE, f, v, "no end-to-end encryption", "end-to-end encryption");

	if (w->n_hq_countries > 0) {
		f = &app->risk[SIG_FACT_HQ_COUNTRY];
		v = f->known ? V_GOOD : V_UNKNOWN;
		for (size_t i = 0; f->known && i < w->n_hq_countries; i++)
			if (strcmp(w->hq_countries[i], f->country) == 0)
				v = V_BAD;
		snprintf(bad, sizeof(bad), "headquartered in %s, a country the organisation lists",
			 f->country);
		judge(out, w, RISK_HQ_COUNTRY, f, v, bad, "headquarters country");
	}
	out->score = out->total > RISK_POINTS_MAX ? RISK_POINTS_MAX : out->total;
}

/* ---- weights from YAML ----------------------------------------------- */

struct wloader {
	const char *file;
	const sig_db *sigs;
	char *err;
	size_t errlen;
};

static int wfail(struct wloader *ld, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
wfail(struct wloader *ld, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return sig_errf(ld->err, ld->errlen, ld->file, line, "%s", msg);
}

/* A whole number of points, 0 to RISK_POINTS_MAX. */
static int
get_points(struct wloader *ld, const struct ynode *key, const struct ynode *val, int *out)
{
	long v = 0;
	char q[96];

	if (val->type != YNODE_SCALAR || val->is_null || val->len == 0 || val->len > 3)
		goto bad;
	for (size_t i = 0; i < val->len; i++) {
		if (val->text[i] < '0' || val->text[i] > '9')
			goto bad;
		v = v * 10 + (val->text[i] - '0');
	}
	if (v > RISK_POINTS_MAX)
		goto bad;
	*out = (int)v;
	return 0;
bad:
	return wfail(ld, val->line, "%s must be a whole number from 0 to %d%s%s", key->text,
		     RISK_POINTS_MAX, val->type == YNODE_SCALAR ? ", not " : "",
		     val->type == YNODE_SCALAR ? yaml_quote(q, sizeof(q), val->text, val->len)
					       : "");
}

/* A list of short codes, each checked by ok (NULL: fine, else why not). */
static int
get_codes(struct wloader *ld, const struct ynode *key, const struct ynode *val,
	  char *codes, size_t code_size, size_t max, size_t *n, int empty_ok,
	  const char *(*problem)(const char *text))
{
	char q[96];

	if (val->type != YNODE_SEQ)
		return wfail(ld, val->line, "%s must be a list", key->text);
	if (val->n_kids == 0 && !empty_ok)
		return wfail(ld, val->line, "%s must not be empty (to ignore it, set %s to 0)",
			     key->text,
			     strcmp(key->text, "residency") == 0 ? "no_residency" : "no_certification");
	if (val->n_kids > max)
		return wfail(ld, val->line, "%s has more than %zu items", key->text, max);
	*n = 0;
	for (size_t i = 0; i < val->n_kids; i++) {
		const struct ynode *item = val->kids[i];
		const char *why;
		if (item->type != YNODE_SCALAR || item->is_null || item->len == 0 ||
		    item->len >= code_size || strlen(item->text) != item->len)
			return wfail(ld, item->line, "%s must be a list of codes", key->text);
		why = problem(item->text);
		if (why)
			return wfail(ld, item->line, "%s: %s %s", key->text,
				     yaml_quote(q, sizeof(q), item->text, item->len), why);
		for (size_t k = 0; k < *n; k++)
			if (strcmp(codes + k * code_size, item->text) == 0)
				return wfail(ld, item->line, "%s: \"%s\" is listed twice",
					     key->text, item->text);
		memcpy(codes + *n * code_size, item->text, item->len + 1);
		(*n)++;
	}
	return 0;
}

static const char *
country_problem(const char *text)
{
	if (sig_country_valid(text))
		return NULL;
	return "is not an ISO 3166-1 alpha-2 country code in upper case";
}

static const char *
certification_problem(const char *text)
{
	return sig_certification_valid(text) ? NULL : "is not a known certification";
}

static int
get_bases(struct wloader *ld, const struct ynode *val, struct risk_weights *w)
{
	char q[96];

	if (val->type != YNODE_MAP)
		return wfail(ld, val->line,
			     "category_base must be a mapping of category slugs to points");
	for (size_t i = 0; i + 1 < val->n_kids; i += 2) {
		const struct ynode *key = val->kids[i], *pts = val->kids[i + 1];
		size_t k;
		int points;
		if (key->type != YNODE_SCALAR || key->is_null || key->len == 0 ||
		    key->len >= sizeof(w->bases[0].slug) || strlen(key->text) != key->len)
			return wfail(ld, key->line, "category_base keys must be category slugs");
		if (ld->sigs && !sig_db_find_category(ld->sigs, key->text))
			return wfail(ld, key->line, "category_base: unknown category %s",
				     yaml_quote(q, sizeof(q), key->text, key->len));
		for (size_t j = 0; j < i; j += 2)
			if (strcmp(val->kids[j]->text, key->text) == 0)
				return wfail(ld, key->line,
					     "category_base: \"%s\" given twice (line %d)",
					     key->text, val->kids[j]->line);
		if (get_points(ld, key, pts, &points) < 0)
			return -1;
		for (k = 0; k < w->n_bases; k++)
			if (strcmp(w->bases[k].slug, key->text) == 0)
				break;
		if (k == w->n_bases) {
			if (w->n_bases == RISK_CATEGORIES_MAX)
				return wfail(ld, key->line, "more than %d category bases",
					     RISK_CATEGORIES_MAX);
			memcpy(w->bases[k].slug, key->text, key->len + 1);
			w->n_bases++;
		}
		w->bases[k].points = points;
	}
	return 0;
}

int
risk_weights_from_yaml(struct risk_weights *w, const struct ynode *map, const char *file,
		       const sig_db *sigs, char *err, size_t errlen)
{
	struct wloader ld = { file ? file : "risk weights", sigs, err, errlen };
	struct risk_weights *next;
	int rc = -1;
	char q[96];

	if (err && errlen)
		err[0] = '\0';
	if (!w || !map)
		return wfail(&ld, 0, "no weights");
	if (map->type != YNODE_MAP)
		return wfail(&ld, map->line, "risk_weights must be a mapping");
	/* Work on a copy: a file with an error changes nothing. */
	next = malloc(sizeof(*next));
	if (!next)
		return wfail(&ld, map->line, "out of memory");
	*next = *w;
	for (size_t i = 0; i + 1 < map->n_kids; i += 2) {
		const struct ynode *key = map->kids[i], *val = map->kids[i + 1];
		size_t f;
		if (key->type != YNODE_SCALAR || key->is_null) {
			wfail(&ld, key->line, "risk_weights keys must be plain words");
			goto out;
		}
		for (size_t j = 0; j < i; j += 2)
			if (strcmp(map->kids[j]->text, key->text) == 0) {
				wfail(&ld, key->line, "key \"%s\" given twice in risk_weights",
				      key->text);
				goto out;
			}
		for (f = 0; f < RISK_FACTOR_COUNT; f++)
			if (strcmp(factor_names[f], key->text) == 0)
				break;
		if (f < RISK_FACTOR_COUNT) {
			if (get_points(&ld, key, val, &next->factor[f]) < 0)
				goto out;
		} else if (strcmp(key->text, "unknown_percent") == 0) {
			if (get_points(&ld, key, val, &next->unknown_percent) < 0)
				goto out;
		} else if (strcmp(key->text, "default_base") == 0) {
			if (get_points(&ld, key, val, &next->default_base) < 0)
				goto out;
		} else if (strcmp(key->text, "category_base") == 0) {
			if (get_bases(&ld, val, next) < 0)
				goto out;
		} else if (strcmp(key->text, "residency") == 0) {
			if (get_codes(&ld, key, val, next->residency[0], sizeof(next->residency[0]),
				      RISK_COUNTRIES_MAX, &next->n_residency, 0,
				      sig_region_problem) < 0)
				goto out;
		} else if (strcmp(key->text, "hq_countries") == 0) {
			if (get_codes(&ld, key, val, next->hq_countries[0],
				      sizeof(next->hq_countries[0]), RISK_COUNTRIES_MAX,
				      &next->n_hq_countries, 1, country_problem) < 0)
				goto out;
		} else if (strcmp(key->text, "certifications") == 0) {
			if (get_codes(&ld, key, val, next->certifications[0],
				      sizeof(next->certifications[0]), RISK_CERTIFICATIONS_MAX,
				      &next->n_certifications, 0, certification_problem) < 0)
				goto out;
		} else {
			wfail(&ld, key->line,
			      "unknown key %s in risk_weights (expected no_sso, no_mfa, "
			      "no_certification, trains_on_customer_data, trains_opt_out, "
			      "no_residency, public_link_sharing, no_e2ee, hq_country, "
			      "unknown_percent, default_base, category_base, residency, "
			      "hq_countries, certifications)",
			      yaml_quote(q, sizeof(q), key->text, key->len));
			goto out;
		}
	}
	*w = *next;
	rc = 0;
out:
	free(next);
	return rc;
}

int
risk_weights_load_file(struct risk_weights *w, const char *path, const sig_db *sigs,
		       char *err, size_t errlen)
{
	struct ynode *root = NULL;
	const struct ynode *map;
	int rc = -1;

	if (err && errlen)
		err[0] = '\0';
	if (!path)
		return sig_errf(err, errlen, "risk weights", 0, "no path");
	if (yaml_read_file(path, RISK_FILE_MAX, &root, err, errlen) < 0)
		goto out;
	if (!root || root->type != YNODE_MAP) {
		sig_errf(err, errlen, path, root ? root->line : 0,
			 "the top level must be a mapping with \"risk_weights\"");
		goto out;
	}
	map = ynode_map_get(root, "risk_weights");
	if (!map) {
		sig_errf(err, errlen, path, root->line, "no \"risk_weights\" mapping");
		goto out;
	}
	rc = risk_weights_from_yaml(w, map, path, sigs, err, errlen);
out:
	ynode_free(root);
	return rc;
}
