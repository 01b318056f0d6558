/*
 * The analysis (report.h): reads every (client, app) pair of the period
 * and of the period before from the store, then works out per app and per
 * category who needed what, who was served by the catalog and who went
 * elsewhere, and ranks the gaps. The definitions and the ranking formula
 * are in docs/reports.md; report_ranking_text says them in the report.
 *
 * Everything is computed from the pairs in memory: a month of 5,000 users
 * is some 150,000 pairs, and SQL could not give the per-client set logic
 * (served, elsewhere, unserved) any faster than one pass over them here.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shadowmap/hash.h"
#include "shadowmap/timefmt.h"

#include "report.h"

#define DAY_USEC (86400 * USEC_PER_SEC)
#define WINDOW_DAYS 64 /* days a store query's bitmap holds */

/* ---- a string set: name -> dense index ---- */

struct strmap {
	char **names;	  /* by index */
	size_t n, cap;	  /* names */
	uint32_t *slots;  /* index + 1; 0 empty */
	size_t nslots;	  /* a power of two */
	struct hash_key key;
};

static int
strmap_grow(struct strmap *m)
{
	size_t ns = m->nslots ? m->nslots * 2 : 1024;
	uint32_t *slots = calloc(ns, sizeof(*slots));
	if (!slots)
		return -1;
	for (size_t i = 0; i < m->n; i++) {
		size_t h = hash_bytes(&m->key, m->names[i], strlen(m->names[i])) & (ns - 1);
		while (slots[h])
			h = (h + 1) & (ns - 1);
		slots[h] = (uint32_t)i + 1;
	}
	free(m->slots);
	m->slots = slots;
	m->nslots = ns;
	return 0;
}

/* The index of name, added when absent (*added = 1); -1 out of memory. */
static long
strmap_get(struct strmap *m, const char *name, int add, int *added)
{
	if (added)
		*added = 0;
	if (!m->nslots || (add && (m->n + 1) * 2 > m->nslots)) {
		if (!add && !m->nslots)
			return -1;
		if (strmap_grow(m) < 0)
			return -2;
	}
	size_t h = hash_bytes(&m->key, name, strlen(name)) & (m->nslots - 1);
	while (m->slots[h]) {
		uint32_t i = m->slots[h] - 1;
		if (strcmp(m->names[i], name) == 0)
			return i;
		h = (h + 1) & (m->nslots - 1);
	}
	if (!add)
		return -1;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 256;
		char **names = realloc(m->names, cap * sizeof(*names));
		if (!names)
			return -2;
		m->names = names;
		m->cap = cap;
	}
	m->names[m->n] = strdup(name);
	if (!m->names[m->n])
		return -2;
	m->slots[h] = (uint32_t)m->n + 1;
	if (added)
		*added = 1;
	return (long)m->n++;
}

static void
strmap_free(struct strmap *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->names[i]);
	free(m->names);
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

/* ---- state while building ---- */

struct pair {
	uint32_t client, app;
	uint64_t flows, bytes_up, bytes_down;
	int64_t first_seen, last_seen;
	uint64_t *days; /* nwords words: bit d = day day0 + d */
};

struct priv {
	struct strmap clients, apps, cats, strings;
	struct pair *pairs;
	size_t npairs, cap;
	uint64_t *daybits; /* bits_pairs * nwords, pairs[i].days points in */
	size_t bits_pairs;
	size_t nwords;
	const char **app_category; /* by app index of the read: the store's */
	size_t app_category_cap;
	int64_t day0;
	unsigned ndays;
	size_t *cat_apps;  /* storage of categories[].apps */
	const char **cat_sanctioned; /* storage of categories[].sanctioned */
	struct sig_app *stub_apps; /* apps the signatures no longer list */
	int failed;
	char *err;
	size_t errlen;
};

struct build {
	struct report *r;
	struct priv *p;
	struct store *st;
	/* pair lookup during the windowed reads: (client, app) -> pair */
	uint32_t *slots;
	size_t nslots;
	struct hash_key key;
	unsigned window_first; /* day offset of the window being read */
};

static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static size_t
pair_slot(const struct build *b, uint32_t client, uint32_t app)
{
	uint64_t k[2] = {client, app};
	return hash_bytes(&b->key, k, sizeof(k)) & (b->nslots - 1);
}

static int
pairs_rehash(struct build *b)
{
	size_t ns = b->nslots ? b->nslots * 2 : 4096;
	uint32_t *slots = calloc(ns, sizeof(*slots));
	if (!slots)
		return -1;
	free(b->slots);
	b->slots = slots;
	b->nslots = ns;
	for (size_t i = 0; i < b->p->npairs; i++) {
		size_t h = pair_slot(b, b->p->pairs[i].client, b->p->pairs[i].app);
		while (slots[h])
			h = (h + 1) & (ns - 1);
		slots[h] = (uint32_t)i + 1;
	}
	return 0;
}

static int
fail(struct build *b, const char *what)
{
	snprintf(b->p->err, b->p->errlen, "%s", what);
	b->p->failed = 1;
	return -1;
}

/* A row of the period: merged into its (client, app) pair. */
static int
period_row(void *arg, const struct store_client_app_row *row)
{
	struct build *b = arg;
	struct priv *p = b->p;
	int added_app = 0;
	long c = strmap_get(&p->clients, row->client, 1, NULL);
	long a = strmap_get(&p->apps, row->app, 1, &added_app);
	if (c < 0 || a < 0)
		return fail(b, "out of memory");
	const char *cat = NULL;
	if (row->category) {
		long ci = strmap_get(&p->strings, row->category, 1, NULL);
		if (ci < 0)
			return fail(b, "out of memory");
		cat = p->strings.names[ci];
	}
	if (added_app && (size_t)a >= p->app_category_cap) {
		size_t nc = p->app_category_cap ? p->app_category_cap * 2 : 256;
		const char **ac = realloc(p->app_category, nc * sizeof(*ac));
		if (!ac)
			return fail(b, "out of memory");
		p->app_category = ac;
		p->app_category_cap = nc;
	}

	if ((p->npairs + 1) * 2 > b->nslots && pairs_rehash(b) < 0)
		return fail(b, "out of memory");
	size_t h = pair_slot(b, (uint32_t)c, (uint32_t)a);
	struct pair *pr = NULL;
	while (b->slots[h]) {
		struct pair *q = &p->pairs[b->slots[h] - 1];
		if (q->client == (uint32_t)c && q->app == (uint32_t)a) {
			pr = q;
			break;
		}
		h = (h + 1) & (b->nslots - 1);
	}
	if (!pr) {
		if (p->npairs == p->cap) {
			size_t cap = p->cap ? p->cap * 2 : 4096;
			struct pair *np = realloc(p->pairs, cap * sizeof(*np));
			if (!np)
				return fail(b, "out of memory");
			p->pairs = np;
			p->cap = cap;
		}
		pr = &p->pairs[p->npairs];
		memset(pr, 0, sizeof(*pr));
		pr->client = (uint32_t)c;
		pr->app = (uint32_t)a;
		pr->first_seen = row->first_seen;
		pr->last_seen = row->last_seen;
		b->slots[h] = (uint32_t)++p->npairs;
	}
	pr->flows += row->flows;
	pr->bytes_up += row->bytes_up;
	pr->bytes_down += row->bytes_down;
	if (row->first_seen < pr->first_seen)
		pr->first_seen = row->first_seen;
	if (row->last_seen > pr->last_seen)
		pr->last_seen = row->last_seen;
	/* the days, by pair index: pairs move when their array grows, so
	 * each one's pointer is set once they are all read */
	size_t idx = (size_t)(pr - p->pairs);
	if (idx >= p->bits_pairs) {
		size_t np = p->cap;
		uint64_t *nb = realloc(p->daybits, np * p->nwords * sizeof(*nb));
		if (!nb)
			return fail(b, "out of memory");
		memset(nb + p->bits_pairs * p->nwords, 0,
		       (np - p->bits_pairs) * p->nwords * sizeof(*nb));
		p->daybits = nb;
		p->bits_pairs = np;
	}
	p->daybits[idx * p->nwords + b->window_first / 64] |= row->point_bits;
	if (added_app)
		p->app_category[a] = cat;
	return 0;
}

/* ---- building ---- */

void
report_options_defaults(struct report_options *o)
{
	if (!o->top_unknown)
		o->top_unknown = 50;
	if (!o->risky_score)
		o->risky_score = 60;
	if (!o->bypass_percent)
		o->bypass_percent = 20;
	if (!o->adoption_percent)
		o->adoption_percent = 20;
	if (!o->min_users)
		o->min_users = 3;
}

const char *
report_verdict_name(enum report_verdict v)
{
	switch (v) {
	case VERDICT_MOVE_OFF: return "move-off";
	case VERDICT_OFFER: return "offer";
	case VERDICT_IMPROVE: return "improve";
	case VERDICT_SANCTION: return "consider-sanctioning";
	default: return "no-action";
	}
}

long
report_find_app(const struct report *r, const char *slug)
{
	for (size_t i = 0; i < r->n_apps; i++)
		if (strcmp(r->apps[i].app, slug) == 0)
			return (long)i;
	return -1;
}

struct count_arg {
	uint64_t n;
};

static int
count_client(void *arg, const struct store_client_row *row)
{
	(void)row;
	((struct count_arg *)arg)->n++;
	return 0;
}

struct domains_arg {
	struct report *r;
	size_t cap;
	int failed;
};

static int
domain_row(void *arg, const struct store_domain_row *row)
{
	struct domains_arg *d = arg;
	struct report *r = d->r;
	if (r->n_domains >= r->opt.top_unknown)
		return 1; /* rows come by bytes: the rest are smaller */
	if (r->n_domains == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct report_domain *nd = realloc(r->domains, cap * sizeof(*nd));
		if (!nd) {
			d->failed = 1;
			return 1;
		}
		r->domains = nd;
		d->cap = cap;
	}
	struct report_domain *o = &r->domains[r->n_domains];
	memset(o, 0, sizeof(*o));
	o->domain = strdup(row->domain ? row->domain : "");
	if (!o->domain) {
		d->failed = 1;
		return 1;
	}
	o->users = row->users;
	o->hosts = row->hosts;
	o->flows = row->flows;
	o->bytes_up = row->bytes_up;
	o->bytes_down = row->bytes_down;
	o->first_seen = row->first_seen;
	o->last_seen = row->last_seen;
	r->n_domains++;
	return 0;
}

struct history_arg {
	struct report *r;
	struct priv *p;
};

static int
history_row(void *arg, const struct store_app_row *row)
{
	struct history_arg *h = arg;
	if (!row->app)
		return 0;
	long a = strmap_get(&h->p->apps, row->app, 0, NULL);
	if (a >= 0 && (size_t)a < h->r->n_apps)
		h->r->apps[a].first_seen_ever = row->first_seen;
	return 0;
}

/* The previous period: users per app, and the per-client category sets. */
struct prev_pair {
	uint32_t client;
	long app; /* index into r->apps, -1: an app not used this period */
	const char *category;
	int sanctioned_app; /* its catalog status is sanctioned */
	const char *slug;
};

struct prev_arg {
	struct report *r;
	struct priv *p;
	struct strmap clients;
	struct prev_pair *pairs;
	size_t n, cap;
	int failed;
};

static int
prev_row(void *arg, const struct store_client_app_row *row)
{
	struct prev_arg *pa = arg;
	if (pa->n == pa->cap) {
		size_t cap = pa->cap ? pa->cap * 2 : 4096;
		struct prev_pair *np = realloc(pa->pairs, cap * sizeof(*np));
		if (!np) {
			pa->failed = 1;
			return 1;
		}
		pa->pairs = np;
		pa->cap = cap;
	}
	long c = strmap_get(&pa->clients, row->client, 1, NULL);
	long s = strmap_get(&pa->p->strings, row->app, 1, NULL);
	long cat = row->category ? strmap_get(&pa->p->strings, row->category, 1, NULL) : -1;
	if (c < 0 || s < 0 || cat < -1) {
		pa->failed = 1;
		return 1;
	}
	struct prev_pair *pp = &pa->pairs[pa->n++];
	pp->client = (uint32_t)c;
	pp->slug = pa->p->strings.names[s];
	pp->category = cat >= 0 ? pa->p->strings.names[cat] : NULL;
	long a = strmap_get(&pa->p->apps, row->app, 0, NULL);
	pp->app = (a >= 0 && (size_t)a < pa->r->n_apps) ? a : -1;
	if (pp->app >= 0) {
		struct report_app *ra = &pa->r->apps[pp->app];
		ra->prev_users++;
		ra->prev_bytes_up += row->bytes_up;
		ra->prev_bytes_down += row->bytes_down;
	}
	return 0;
}

static int
cmp_prev_client(const void *x, const void *y)
{
	const struct prev_pair *a = x, *b = y;
	return a->client < b->client ? -1 : a->client > b->client;
}

static int
cmp_pair_client(const void *x, const void *y)
{
	const struct pair *a = x, *b = y;
	return a->client < b->client ? -1 : a->client > b->client;
}

static long
category_index(const struct report *r, const char *slug)
{
	if (!slug)
		return -1;
	for (size_t i = 0; i < r->n_categories; i++)
		if (strcmp(r->categories[i].category, slug) == 0)
			return (long)i;
	return -1;
}

static int
app_covers(const struct report *r, const struct report_app *a, const char *category)
{
	if (a->status != CATALOG_SANCTIONED || !r->opt.catalog)
		return 0;
	return catalog_covers(catalog_find(r->opt.catalog, a->app), r->opt.sigs, category);
}

static int
category_add(struct report *r, size_t *cap, const char *slug, struct priv *p)
{
	if (category_index(r, slug) >= 0)
		return 0;
	if (r->n_categories == *cap) {
		size_t nc = *cap ? *cap * 2 : 32;
		struct report_category *c = realloc(r->categories, nc * sizeof(*c));
		if (!c)
			return -1;
		r->categories = c;
		*cap = nc;
	}
	long s = strmap_get(&p->strings, slug, 1, NULL);
	if (s < 0)
		return -1;
	struct report_category *c = &r->categories[r->n_categories++];
	memset(c, 0, sizeof(*c));
	c->category = p->strings.names[s];
	const struct sig_category *sc = sig_db_find_category(r->opt.sigs, slug);
	c->name = sc && sc->name ? sc->name : c->category;
	c->risk_max = -1;
	c->risk_mean = -1;
	return 0;
}

/* The per-point counts of a day bitmap: point i covers days
 * [i * per, (i + 1) * per) of the period. */
static void
add_points(const struct report *r, const uint64_t *days, size_t nwords, unsigned ndays,
	   uint64_t *out)
{
	unsigned per = (unsigned)(r->point_usec / DAY_USEC);
	for (unsigned pt = 0; pt < r->npoints; pt++) {
		unsigned lo = pt * per, hi = lo + per;
		if (hi > ndays)
			hi = ndays;
		for (unsigned d = lo; d < hi; d++)
			if (d / 64 < nwords && (days[d / 64] >> (d % 64) & 1)) {
				out[pt]++;
				break;
			}
	}
}

static unsigned
popcount_words(const uint64_t *w, size_t n)
{
	unsigned c = 0;
	for (size_t i = 0; i < n; i++)
		c += (unsigned)__builtin_popcountll(w[i]);
	return c;
}

static int
cmp_app(const void *x, const void *y)
{
	const struct report_app *a = x, *b = y;
	if (a->users != b->users)
		return a->users > b->users ? -1 : 1;
	uint64_t ta = a->bytes_up + a->bytes_down, tb = b->bytes_up + b->bytes_down;
	if (ta != tb)
		return ta > tb ? -1 : 1;
	return strcmp(a->app, b->app);
}

static int
cmp_gap(const void *x, const void *y)
{
	const struct report_gap *a = x, *b = y;
	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	if (a->verdict != b->verdict)
		return a->verdict < b->verdict ? -1 : 1;
	if (a->category != b->category)
		return a->category < b->category ? -1 : 1;
	return a->app < b->app ? -1 : a->app > b->app;
}

static int
cmp_category(const void *x, const void *y)
{
	const struct report_category *a = x, *b = y;
	if ((a->rank != 0) != (b->rank != 0))
		return a->rank ? -1 : 1;
	if (a->rank != b->rank)
		return a->rank < b->rank ? -1 : 1;
	if (a->users != b->users)
		return a->users > b->users ? -1 : 1;
	return strcmp(a->category, b->category);
}

static void
human_bytes(uint64_t v, char *out, size_t len)
{
	static const char *const units[] = {"B", "KB", "MB", "GB", "TB", "PB"};
	double d = (double)v;
	int u = 0;
	while (d >= 1000 && u < 5) {
		d /= 1000;
		u++;
	}
	if (u == 0)
		snprintf(out, len, "%llu B", (unsigned long long)v);
	else
		snprintf(out, len, "%.1f %s", d, units[u]);
}

/* "ChatGPT 80, Claude 30, Gemini 20" for up to three apps of a category
 * used elsewhere. */
static void
top_elsewhere(const struct report *r, const struct report_category *c, char *out, size_t len)
{
	size_t n = 0, off = 0;
	out[0] = '\0';
	for (size_t i = 0; i < c->n_apps && n < 3; i++) {
		const struct report_app *a = &r->apps[c->apps[i]];
		if (app_covers(r, a, c->category))
			continue;
		int w = snprintf(out + off, len - off, "%s%s %llu", n ? ", " : "", a->name,
				 (unsigned long long)a->users);
		if (w < 0 || (size_t)w >= len - off)
			break;
		off += (size_t)w;
		n++;
	}
}

static void
alternatives_text(const struct report *r, const struct report_app *a,
		  const struct report_category *c, char *out, size_t len)
{
	size_t off = 0;
	out[0] = '\0';
	const char *const *alts = a->alternatives;
	if (alts && alts[0]) {
		for (size_t i = 0; alts[i]; i++) {
			const struct sig_app *s = sig_db_find_app(r->opt.sigs, alts[i]);
			int w = snprintf(out + off, len - off, "%s%s", i ? " or " : "",
					 s && s->name ? s->name : alts[i]);
			if (w < 0 || (size_t)w >= len - off)
				return;
			off += (size_t)w;
		}
		return;
	}
	for (size_t i = 0; c && i < c->n_sanctioned; i++) {
		const struct sig_app *s = sig_db_find_app(r->opt.sigs, c->sanctioned[i]);
		int w = snprintf(out + off, len - off, "%s%s", i ? " or " : "",
				 s && s->name ? s->name : c->sanctioned[i]);
		if (w < 0 || (size_t)w >= len - off)
			return;
		off += (size_t)w;
	}
}

static int
gap_add(struct report *r, size_t *cap, enum report_verdict v, size_t cat, long app, double score)
{
	if (r->n_gaps == *cap) {
		size_t nc = *cap ? *cap * 2 : 32;
		struct report_gap *g = realloc(r->gaps, nc * sizeof(*g));
		if (!g)
			return -1;
		r->gaps = g;
		*cap = nc;
	}
	struct report_gap *g = &r->gaps[r->n_gaps++];
	memset(g, 0, sizeof(*g));
	g->verdict = v;
	g->category = cat;
	g->app = app;
	g->score = round(score * 10) / 10;
	return 0;
}

/* A verdict's sentence: names are cut rather than the sentence refused. */
static void __attribute__((format(printf, 3, 4)))
textf(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, len, fmt, ap);
	va_end(ap);
}

static void
gap_text(const struct report *r, struct report_gap *g)
{
	const struct report_category *c = &r->categories[g->category];
	char top[256], alt[256], up[32];
	switch (g->verdict) {
	case VERDICT_OFFER:
		top_elsewhere(r, c, top, sizeof(top));
		human_bytes(c->elsewhere_bytes_up, up, sizeof(up));
		textf(g->text, sizeof(g->text),
			 "No sanctioned service covers %s, yet %llu people used apps outside "
			 "the catalog for it (%s), sending %s. Offer a service for it.",
			 c->name, (unsigned long long)c->elsewhere_users, top, up);
		break;
	case VERDICT_IMPROVE: {
		top_elsewhere(r, c, top, sizeof(top));
		alternatives_text(r, &(struct report_app){0}, c, alt, sizeof(alt));
		unsigned pct = c->users ? (unsigned)(c->elsewhere_users * 100 / c->users) : 0;
		textf(g->text, sizeof(g->text),
			 "%s is sanctioned for %s, yet %llu of its %llu people (%u%%) used other "
			 "apps (%s), %llu of them no sanctioned one at all. Find out why: "
			 "capacity, features or awareness.",
			 alt, c->name, (unsigned long long)c->elsewhere_users,
			 (unsigned long long)c->users, pct, top,
			 (unsigned long long)c->unserved_users);
		break;
	}
	case VERDICT_SANCTION: {
		const struct report_app *a = &r->apps[g->app];
		unsigned pct = c->users ? (unsigned)(a->users * 100 / c->users) : 0;
		textf(g->text, sizeof(g->text),
			 "%s (%s, risk %d) is used by %llu people, %u%% of those who needed "
			 "%s, and is %s. Consider sanctioning it.",
			 a->name, c->name, a->risk.score, (unsigned long long)a->users, pct,
			 c->name,
			 a->status == CATALOG_TOLERATED ? "only tolerated" :
			 a->status == CATALOG_UNSANCTIONED ? "unsanctioned (decide again)" :
							     "not in the catalog");
		break;
	}
	case VERDICT_MOVE_OFF: {
		const struct report_app *a = &r->apps[g->app];
		alternatives_text(r, a, c, alt, sizeof(alt));
		human_bytes(a->bytes_up, up, sizeof(up));
		textf(g->text, sizeof(g->text),
			 "%s is %s%s and was used by %llu people, who sent it %s. Move them to %s.",
			 a->name, a->status == CATALOG_BANNED ? "banned" : "risky",
			 a->status == CATALOG_BANNED ? "" : " (risk score at or above the threshold)",
			 (unsigned long long)a->users, up,
			 alt[0] ? alt : "an approved alternative");
		break;
	}
	default:
		break;
	}
}

static void
rank_gaps(struct report *r, size_t *gap_cap)
{
	const struct report_options *o = &r->opt;
	(void)gap_cap;
	for (size_t ci = 0; ci < r->n_categories; ci++) {
		struct report_category *c = &r->categories[ci];
		double risk = c->risk_mean > 0 ? c->risk_mean : 0;
		if (c->elsewhere_users < o->min_users)
			continue;
		if (c->n_sanctioned == 0) {
			if (gap_add(r, gap_cap, VERDICT_OFFER, ci, -1,
				    (double)c->elsewhere_users * (1 + risk / 100)) < 0)
				return;
		} else if (c->elsewhere_users * 100 >= (uint64_t)o->bypass_percent * c->users) {
			if (gap_add(r, gap_cap, VERDICT_IMPROVE, ci, -1,
				    (double)c->elsewhere_users * (1 + risk / 100)) < 0)
				return;
		}
	}
	for (size_t ai = 0; ai < r->n_apps; ai++) {
		struct report_app *a = &r->apps[ai];
		long ci = category_index(r, a->category);
		if (ci < 0 || a->status == CATALOG_SANCTIONED)
			continue;
		struct report_category *c = &r->categories[ci];
		double risk = a->risk.score;
		if (a->status == CATALOG_BANNED) {
			if (gap_add(r, gap_cap, VERDICT_MOVE_OFF, (size_t)ci, (long)ai,
				    2 * (double)a->users * (1 + risk / 100)) < 0)
				return;
		} else if (a->risk.score >= o->risky_score) {
			int somewhere_to_go = c->n_sanctioned > 0 ||
					      (a->alternatives && a->alternatives[0]);
			if (a->status != CATALOG_TOLERATED && somewhere_to_go &&
			    a->users >= o->min_users &&
			    gap_add(r, gap_cap, VERDICT_MOVE_OFF, (size_t)ci, (long)ai,
				    (double)a->users * (1 + risk / 100)) < 0)
				return;
		} else if (a->users >= o->min_users &&
			   a->users * 100 >= (uint64_t)o->adoption_percent * c->users) {
			if (gap_add(r, gap_cap, VERDICT_SANCTION, (size_t)ci, (long)ai,
				    (double)a->users * (1 - risk / 100)) < 0)
				return;
		}
	}
	qsort(r->gaps, r->n_gaps, sizeof(*r->gaps), cmp_gap);
	for (size_t i = 0; i < r->n_gaps; i++) {
		struct report_gap *g = &r->gaps[i];
		g->rank = (unsigned)i + 1;
		struct report_category *c = &r->categories[g->category];
		if (!c->rank) {
			c->rank = g->rank;
			c->verdict = g->verdict;
			c->score = g->score;
		}
		gap_text(r, g);
	}
}

/* Categories, with the per-client set logic: for each client, which
 * categories it touched, whether through a sanctioned service covering it
 * (served) or an app of it that is not one (elsewhere). */
static int
categories_build(struct report *r, struct priv *p)
{
	size_t cap = 0, nw = p->nwords;
	const struct catalog *cat = r->opt.catalog;

	for (size_t i = 0; i < r->n_apps; i++) {
		struct report_app *a = &r->apps[i];
		if (a->category && category_add(r, &cap, a->category, p) < 0)
			return -1;
		if (a->status == CATALOG_SANCTIONED && cat) {
			const struct catalog_entry *e = catalog_find(cat, a->app);
			for (const char *const *cv = e && e->covers ? e->covers : NULL; cv && *cv; cv++)
				if (category_add(r, &cap, *cv, p) < 0)
					return -1;
		}
	}
	size_t nc = r->n_categories;
	/* sanctioned services per category (used or not) */
	size_t nsanct_total = 0;
	for (size_t ci = 0; ci < nc; ci++)
		for (size_t k = 0; cat && k < catalog_count(cat); k++)
			if (catalog_covers(catalog_entry_at(cat, k), r->opt.sigs,
					   r->categories[ci].category))
				nsanct_total++;
	p->cat_sanctioned = calloc(nsanct_total + 1, sizeof(*p->cat_sanctioned));
	if (!p->cat_sanctioned)
		return -1;
	size_t off = 0;
	for (size_t ci = 0; ci < nc; ci++) {
		struct report_category *c = &r->categories[ci];
		c->sanctioned = p->cat_sanctioned + off;
		for (size_t k = 0; cat && k < catalog_count(cat); k++) {
			const struct catalog_entry *e = catalog_entry_at(cat, k);
			if (catalog_covers(e, r->opt.sigs, c->category))
				p->cat_sanctioned[off + c->n_sanctioned++] = e->app;
		}
		off += c->n_sanctioned;
	}

	/* apps per category: its own, and sanctioned services covering it */
	uint8_t *rel = calloc(r->n_apps * (nc ? nc : 1), 1); /* 1 own, 2 covering service */
	if (!rel)
		return -1;
	size_t nrel = 0;
	for (size_t i = 0; i < r->n_apps; i++) {
		struct report_app *a = &r->apps[i];
		for (size_t ci = 0; ci < nc; ci++) {
			const char *cs = r->categories[ci].category;
			uint8_t v = 0;
			if (app_covers(r, a, cs))
				v = 2;
			else if (a->category && strcmp(a->category, cs) == 0)
				v = 1;
			rel[i * nc + ci] = v;
			nrel += v != 0;
		}
		a->sanctioned_here = a->category && app_covers(r, a, a->category);
	}
	p->cat_apps = malloc((nrel + 1) * sizeof(*p->cat_apps));
	if (!p->cat_apps) {
		free(rel);
		return -1;
	}
	off = 0;
	for (size_t ci = 0; ci < nc; ci++) {
		struct report_category *c = &r->categories[ci];
		c->apps = p->cat_apps + off;
		/* r->apps is sorted by users already */
		for (size_t i = 0; i < r->n_apps; i++)
			if (rel[i * nc + ci])
				c->apps[c->n_apps++] = i;
		off += c->n_apps;
		uint64_t wsum = 0, usum = 0;
		for (size_t k = 0; k < c->n_apps; k++) {
			const struct report_app *a = &r->apps[c->apps[k]];
			if (rel[c->apps[k] * nc + ci] != 1)
				continue;
			c->flows += a->flows;
			c->bytes_up += a->bytes_up;
			c->bytes_down += a->bytes_down;
			if (app_covers(r, a, c->category))
				continue;
			c->elsewhere_bytes_up += a->bytes_up;
			c->elsewhere_bytes_down += a->bytes_down;
			if (a->risk.score > c->risk_max)
				c->risk_max = a->risk.score;
			wsum += (uint64_t)a->risk.score * a->users;
			usum += a->users;
		}
		if (usum)
			c->risk_mean = (int)((wsum + usum / 2) / usum);
	}

	/* one pass over the clients (pairs sorted by client) */
	uint8_t *flags = calloc(nc ? nc : 1, 1); /* 1 served, 2 elsewhere */
	uint64_t *cday = calloc((nc ? nc : 1) * (nw ? nw : 1) * 2, sizeof(*cday));
	uint64_t *catday = calloc((nc ? nc : 1) * (nw ? nw : 1), sizeof(*catday));
	if (!flags || !cday || !catday) {
		free(rel);
		free(flags);
		free(cday);
		free(catday);
		return -1;
	}
	/* app index of the report for a priv app index */
	for (size_t i = 0; i < p->npairs;) {
		size_t j = i;
		while (j < p->npairs && p->pairs[j].client == p->pairs[i].client)
			j++;
		memset(flags, 0, nc);
		memset(cday, 0, nc * nw * 2 * sizeof(*cday));
		for (size_t k = i; k < j; k++) {
			const struct pair *pr = &p->pairs[k];
			size_t ai = pr->app; /* r->apps[ai] after the remap below */
			for (size_t ci = 0; ci < nc; ci++) {
				uint8_t v = rel[ai * nc + ci];
				if (!v)
					continue;
				int served = v == 2;
				flags[ci] |= served ? 1 : 2;
				for (size_t w = 0; w < nw; w++) {
					cday[(ci * 2) * nw + w] |= pr->days[w];
					if (!served)
						cday[(ci * 2 + 1) * nw + w] |= pr->days[w];
				}
			}
		}
		for (size_t ci = 0; ci < nc; ci++) {
			if (!flags[ci])
				continue;
			struct report_category *c = &r->categories[ci];
			c->users++;
			c->served_users += (flags[ci] & 1) != 0;
			c->elsewhere_users += (flags[ci] & 2) != 0;
			c->unserved_users += flags[ci] == 2;
			add_points(r, &cday[(ci * 2) * nw], nw, p->ndays, c->daily_users);
			add_points(r, &cday[(ci * 2 + 1) * nw], nw, p->ndays, c->daily_elsewhere);
			for (size_t w = 0; w < nw; w++)
				catday[ci * nw + w] |= cday[(ci * 2) * nw + w];
		}
		i = j;
	}
	for (size_t ci = 0; ci < nc; ci++)
		r->categories[ci].days_active = popcount_words(&catday[ci * nw], nw);
	free(rel);
	free(flags);
	free(cday);
	free(catday);
	return 0;
}

static void
category_trends(struct report *r, struct prev_arg *pa)
{
	size_t nc = r->n_categories;
	uint8_t *flags = calloc(nc ? nc : 1, 1);
	if (!flags)
		return;
	qsort(pa->pairs, pa->n, sizeof(*pa->pairs), cmp_prev_client);
	for (size_t i = 0; i < pa->n;) {
		size_t j = i;
		while (j < pa->n && pa->pairs[j].client == pa->pairs[i].client)
			j++;
		memset(flags, 0, nc);
		for (size_t k = i; k < j; k++) {
			const struct prev_pair *pp = &pa->pairs[k];
			enum catalog_status st = r->opt.catalog ?
				catalog_status_of(r->opt.catalog, pp->slug) : CATALOG_NOT_LISTED;
			const struct catalog_entry *e =
				r->opt.catalog && st == CATALOG_SANCTIONED ?
				catalog_find(r->opt.catalog, pp->slug) : NULL;
			for (size_t ci = 0; ci < nc; ci++) {
				const char *cs = r->categories[ci].category;
				if (e && catalog_covers(e, r->opt.sigs, cs))
					flags[ci] |= 1;
				else if (pp->category && strcmp(pp->category, cs) == 0)
					flags[ci] |= 2;
			}
		}
		for (size_t ci = 0; ci < nc; ci++) {
			if (!flags[ci])
				continue;
			r->categories[ci].prev_users++;
			r->categories[ci].prev_elsewhere_users += (flags[ci] & 2) != 0;
		}
		i = j;
	}
	free(flags);
}

static struct sig_app *
stub_app(struct priv *p, size_t i, const char *slug, const char *category)
{
	struct sig_app *s = &p->stub_apps[i];
	memset(s, 0, sizeof(*s));
	s->slug = (char *)slug;
	s->name = (char *)slug;
	s->category = (char *)category;
	return s;
}

struct report *
report_build(struct store *st, const struct report_options *opt_in, char *err, size_t errlen)
{
	struct report *r = calloc(1, sizeof(*r));
	struct priv *p = calloc(1, sizeof(*p));
	struct build b = {0};
	struct prev_arg pa = {0};

	if (!r || !p) {
		free(r);
		free(p);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->priv = p;
	p->err = err;
	p->errlen = errlen;
	r->opt = *opt_in;
	report_options_defaults(&r->opt);
	if (r->opt.weights)
		r->weights = *r->opt.weights;
	else
		risk_weights_defaults(&r->weights);
	r->opt.weights = &r->weights;
	if (!r->opt.sigs || r->opt.from <= 0 || r->opt.to <= r->opt.from) {
		snprintf(err, errlen, "the period is empty or not set (from must be before to)");
		goto failed;
	}
	hash_key_random(&p->clients.key);
	hash_key_random(&p->apps.key);
	hash_key_random(&p->strings.key);
	hash_key_random(&b.key);
	b.r = r;
	b.p = p;
	b.st = st;

	r->from = r->opt.from;
	r->to = r->opt.to;
	r->prev_from = r->from - (r->to - r->from);
	r->generated = (int64_t)time(NULL) * USEC_PER_SEC;
	p->day0 = floor_div(r->from, DAY_USEC);
	int64_t last_day = floor_div(r->to - 1, DAY_USEC);
	p->ndays = (unsigned)(last_day - p->day0 + 1);
	p->nwords = (p->ndays + 63) / 64;
	unsigned per = (p->ndays + REPORT_DAYS_MAX - 1) / REPORT_DAYS_MAX;
	r->point_usec = (int64_t)per * DAY_USEC;
	r->npoints = (p->ndays + per - 1) / per;

	/* the period, one 64-day window at a time, so each pair's days are
	 * exact whatever the length */
	for (unsigned wfirst = 0; wfirst < p->ndays; wfirst += WINDOW_DAYS) {
		int64_t wfrom = (p->day0 + wfirst) * DAY_USEC;
		int64_t wto = wfrom + WINDOW_DAYS * DAY_USEC;
		if (wfrom < r->from)
			wfrom = r->from;
		if (wto > r->to)
			wto = r->to;
		b.window_first = wfirst;
		/* day bits are kept per pair index: size the array for every
		 * pair there can be after this window before reading it */
		if (store_client_apps(st, wfrom, wto, p->day0 + wfirst, 1, period_row, &b) != 0) {
			if (!p->failed)
				snprintf(err, errlen, "reading usage: %s", store_error(st));
			goto failed;
		}
	}
	free(b.slots);
	b.slots = NULL;
	/* the apps of the report, in p->apps order first */
	r->n_apps = p->apps.n;
	r->apps = calloc(r->n_apps ? r->n_apps : 1, sizeof(*r->apps));
	p->stub_apps = calloc(r->n_apps ? r->n_apps : 1, sizeof(*p->stub_apps));
	if (!r->apps || !p->stub_apps) {
		snprintf(err, errlen, "out of memory");
		goto failed;
	}
	for (size_t i = 0; i < r->n_apps; i++) {
		struct report_app *a = &r->apps[i];
		const struct sig_app *s = sig_db_find_app(r->opt.sigs, p->apps.names[i]);
		a->app = p->apps.names[i];
		a->name = s && s->name ? s->name : a->app;
		a->vendor = s ? s->vendor : NULL;
		a->category = s ? s->category : p->app_category[i];
		a->first_seen = INT64_MAX;
		if (r->opt.catalog) {
			const struct catalog_entry *e = catalog_find(r->opt.catalog, a->app);
			a->status = e ? e->status : CATALOG_NOT_LISTED;
			a->alternatives = e ? e->alternatives : NULL;
		}
	}
	/* per-pair sums into apps */
	for (size_t k = 0; k < p->npairs; k++) {
		struct pair *pr = &p->pairs[k];
		pr->days = p->daybits ? &p->daybits[k * p->nwords] : NULL;
		struct report_app *a = &r->apps[pr->app];
		a->users++;
		a->flows += pr->flows;
		a->bytes_up += pr->bytes_up;
		a->bytes_down += pr->bytes_down;
		if (pr->first_seen < a->first_seen)
			a->first_seen = pr->first_seen;
		if (pr->last_seen > a->last_seen)
			a->last_seen = pr->last_seen;
	}
	for (size_t i = 0; i < r->n_apps; i++) {
		struct report_app *a = &r->apps[i];
		const struct sig_app *s = sig_db_find_app(r->opt.sigs, a->app);
		if (!s)
			s = stub_app(p, i, a->app, a->category);
		risk_score(&r->weights, s, &a->risk);
	}

	/* days active and series per app */
	{
		size_t nw = p->nwords;
		uint64_t *appdays = calloc((r->n_apps ? r->n_apps : 1) * (nw ? nw : 1),
					   sizeof(*appdays));
		if (!appdays) {
			snprintf(err, errlen, "out of memory");
			goto failed;
		}
		for (size_t k = 0; k < p->npairs; k++) {
			const struct pair *pr = &p->pairs[k];
			if (!pr->days)
				continue;
			for (size_t w = 0; w < nw; w++)
				appdays[pr->app * nw + w] |= pr->days[w];
			add_points(r, pr->days, nw, p->ndays, r->apps[pr->app].daily_users);
		}
		for (size_t i = 0; i < r->n_apps; i++)
			r->apps[i].days_active = popcount_words(&appdays[i * nw], nw);
		free(appdays);
	}

	/* sort apps by users; remember where each went for the pairs */
	{
		size_t *where = malloc((r->n_apps ? r->n_apps : 1) * sizeof(*where));
		if (!where) {
			snprintf(err, errlen, "out of memory");
			goto failed;
		}
		qsort(r->apps, r->n_apps, sizeof(*r->apps), cmp_app);
		/* p->apps maps slug -> old index; rebuild it as slug -> new */
		for (size_t i = 0; i < r->n_apps; i++) {
			long old = strmap_get(&p->apps, r->apps[i].app, 0, NULL);
			where[old] = i;
		}
		for (size_t k = 0; k < p->npairs; k++)
			p->pairs[k].app = (uint32_t)where[p->pairs[k].app];
		/* the slug map must now give the new index: rebuild it */
		struct strmap fresh = {0};
		fresh.key = p->apps.key;
		for (size_t i = 0; i < r->n_apps; i++) {
			if (strmap_get(&fresh, r->apps[i].app, 1, NULL) < 0) {
				free(where);
				strmap_free(&fresh);
				snprintf(err, errlen, "out of memory");
				goto failed;
			}
		}
		for (size_t i = 0; i < r->n_apps; i++)
			r->apps[i].app = fresh.names[i];
		/* names now owned by fresh; the old map's strings go */
		strmap_free(&p->apps);
		p->apps = fresh;
		free(where);
	}
	/* the day pointers travel with the pairs */
	qsort(p->pairs, p->npairs, sizeof(*p->pairs), cmp_pair_client);

	if (categories_build(r, p) < 0) {
		snprintf(err, errlen, "out of memory");
		goto failed;
	}

	/* the whole history up to the period's end: first sightings */
	{
		struct history_arg h = {r, p};
		if (store_apps(st, 0, r->to, history_row, &h) < 0) {
			snprintf(err, errlen, "reading history: %s", store_error(st));
			goto failed;
		}
		for (size_t i = 0; i < r->n_apps; i++) {
			struct report_app *a = &r->apps[i];
			if (!a->first_seen_ever || a->first_seen_ever > a->first_seen)
				a->first_seen_ever = a->first_seen;
			a->is_new = a->first_seen_ever >= r->from;
		}
	}

	/* the previous period */
	pa.r = r;
	pa.p = p;
	hash_key_random(&pa.clients.key);
	if (store_client_apps(st, r->prev_from, r->from, 0, 0, prev_row, &pa) != 0) {
		if (pa.failed)
			snprintf(err, errlen, "out of memory");
		else
			snprintf(err, errlen, "reading the previous period: %s", store_error(st));
		goto failed;
	}
	category_trends(r, &pa);

	/* totals */
	{
		struct store_totals t;
		struct count_arg cu = {0}, cp = {0};
		if (store_get_totals(st, r->from, r->to, &t) < 0 ||
		    store_clients(st, r->from, r->to, count_client, &cu) < 0 ||
		    store_clients(st, r->prev_from, r->from, count_client, &cp) < 0) {
			snprintf(err, errlen, "reading totals: %s", store_error(st));
			goto failed;
		}
		r->flows = t.flows;
		r->bytes_up = t.bytes_up;
		r->bytes_down = t.bytes_down;
		r->users = cu.n;
		r->prev_users = cp.n;
		/* users of any app that is not sanctioned */
		for (size_t i = 0; i < p->npairs;) {
			size_t j = i;
			int any = 0;
			while (j < p->npairs && p->pairs[j].client == p->pairs[i].client) {
				const struct report_app *a = &r->apps[p->pairs[j].app];
				if (a->status != CATALOG_SANCTIONED) {
					any = 1;
					r->unsanctioned_bytes_up += p->pairs[j].bytes_up;
				}
				j++;
			}
			r->unsanctioned_users += any;
			i = j;
		}
	}

	/* unknown domains */
	{
		struct domains_arg d = {r, 0, 0};
		if (store_unknown_domains(st, r->from, r->to, domain_row, &d) < 0 || d.failed) {
			snprintf(err, errlen, "reading unknown domains: %s",
				 d.failed ? "out of memory" : store_error(st));
			goto failed;
		}
	}

	{
		size_t gap_cap = 0;
		rank_gaps(r, &gap_cap);
	}
	/* gaps point at categories by index: follow the sort */
	for (size_t g = 0; g < r->n_gaps; g++)
		r->gaps[g].category_slug = r->categories[r->gaps[g].category].category;
	qsort(r->categories, r->n_categories, sizeof(*r->categories), cmp_category);
	for (size_t g = 0; g < r->n_gaps; g++)
		r->gaps[g].category = (size_t)category_index(r, r->gaps[g].category_slug);
	strmap_free(&pa.clients);
	free(pa.pairs);
	return r;

failed:
	free(b.slots);
	strmap_free(&pa.clients);
	free(pa.pairs);
	report_free(r);
	return NULL;
}

void
report_free(struct report *r)
{
	if (!r)
		return;
	struct priv *p = r->priv;
	if (p) {
		strmap_free(&p->clients);
		strmap_free(&p->apps);
		strmap_free(&p->cats);
		strmap_free(&p->strings);
		free(p->pairs);
		free(p->daybits);
		free(p->cat_apps);
		free(p->cat_sanctioned);
		free(p->stub_apps);
		free(p->app_category);
		free(p);
	}
	for (size_t i = 0; i < r->n_domains; i++) {
		free(r->domains[i].domain);
		free(r->domains[i].network);
		free(r->domains[i].country);
	}
	free(r->domains);
	free(r->apps);
	free(r->categories);
	free(r->gaps);
	free(r);
}
