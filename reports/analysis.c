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

/* qsort, for arrays that may be empty (and NULL, which qsort may not get) */
static void
sort_n(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

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

static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ---- state while building ---- */

struct pair {
	uint32_t client, app;
	uint64_t flows, bytes_up, bytes_down;
	int64_t first_seen, last_seen;
	uint64_t *days; /* nwords words: bit d = day day0 + d */
};

struct priv {
	struct strmap apps, strings;
	struct pair *pairs;
	size_t npairs, cap;
	uint64_t *daybits; /* cap * nwords: pair i's days at i * nwords */
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

/* (a, b) -> entry index, for the pairs of a walk. */
struct pslot {
	uint32_t a, b, idx; /* idx: entry + 1; 0 empty */
};

struct pairtab {
	struct pslot *s;
	size_t cap, used; /* cap: a power of two */
	struct hash_key key;
};

/* The ids are the store's own row ids, not values off the network: a
 * plain mixer will do (splitmix64's finaliser), salted all the same. */
static size_t
pslot_home(const struct pairtab *t, uint32_t a, uint32_t b)
{
	uint64_t x = ((uint64_t)a << 32 | b) ^ t->key.k0;
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	x ^= x >> 31;
	return (size_t)x & (t->cap - 1);
}

/* The entry of (a, b), or next (added: *added = 1); -1 out of memory. */
static long
pairtab_get(struct pairtab *t, uint32_t a, uint32_t b, size_t next, int *added)
{
	*added = 0;
	if ((t->used + 1) * 2 > t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 4096;
		struct pslot *ns = calloc(nc, sizeof(*ns));
		if (!ns)
			return -1;
		struct pairtab nt = {ns, nc, t->used, t->key};
		for (size_t i = 0; i < t->cap; i++) {
			if (!t->s[i].idx)
				continue;
			size_t h = pslot_home(&nt, t->s[i].a, t->s[i].b);
			while (ns[h].idx)
				h = (h + 1) & (nc - 1);
			ns[h] = t->s[i];
		}
		free(t->s);
		*t = nt;
	}
	size_t h = pslot_home(t, a, b);
	while (t->s[h].idx) {
		if (t->s[h].a == a && t->s[h].b == b)
			return (long)t->s[h].idx - 1;
		h = (h + 1) & (t->cap - 1);
	}
	t->s[h] = (struct pslot){a, b, (uint32_t)next + 1};
	t->used++;
	*added = 1;
	return (long)next;
}

/* What a stored key means here. */
struct keyinfo {
	const char *slug;     /* interned in priv.strings; NULL: no app */
	long slug_idx;        /* its index there; -1 */
	const char *category; /* the store's (interned) */
	long domain;          /* index in build.domains: a name of no app; -1 */
	long host;            /* index of the name in priv.strings; -1 */
	long net;             /* index in build.nets; -1 when unknown */
	int used;             /* had usage in the period */
};

/* Bytes of one unknown domain on one network. */
struct netacc {
	uint32_t domain, net;
	uint64_t bytes;
};

/* A network: where a key's server is. */
struct netinfo {
	uint32_t asn;
	const char *org, *country; /* interned, or NULL */
};

/* An unknown domain while the period is read. */
struct domacc {
	uint64_t users, hosts, flows, bytes_up, bytes_down;
	int64_t first_seen, last_seen;
	long top_net;	     /* the network with most of its bytes; -1 */
	uint64_t top_bytes;
};

/* A bitmap of client ids seen. */
struct idset {
	uint64_t *w;
	size_t nw;
	uint64_t count;
};

static int
idset_add(struct idset *s, int64_t id)
{
	if (id < 0)
		return 0;
	size_t i = (size_t)id / 64;
	if (i >= s->nw) {
		size_t nw = s->nw ? s->nw : 64;
		while (nw <= i)
			nw *= 2;
		uint64_t *w = realloc(s->w, nw * sizeof(*w));
		if (!w)
			return -1;
		memset(w + s->nw, 0, (nw - s->nw) * sizeof(*w));
		s->w = w;
		s->nw = nw;
	}
	uint64_t bit = UINT64_C(1) << (id % 64);
	if (!(s->w[i] & bit)) {
		s->w[i] |= bit;
		s->count++;
	}
	return 0;
}

struct build {
	struct report *r;
	struct priv *p;
	struct keyinfo *keys; /* by key id */
	size_t nkeys;
	long *slug_app;       /* by slug index: the app's index, -1 until used */
	size_t nslug_app;
	struct pairtab tab;
	struct idset seen;
	struct strmap domains;	 /* unknown domains by name */
	struct domacc *dom;	 /* by index of domains */
	struct pairtab domusers; /* (client, domain) */
	struct pairtab domhosts; /* (domain, host) */
	struct netinfo *nets;
	size_t nnets, capnets;
	struct pairtab domnets;  /* (domain, net) -> netacc */
	struct netacc *netacc;
	size_t nnetacc, capnetacc;
};

/* The index of a key's network, added when new; -1 none, -2 no memory. */
static long
net_index(struct build *b, const struct store_key_row *k)
{
	if (!k->asn && !k->as_org && !k->country)
		return -1;
	const char *org = NULL, *country = NULL;
	if (k->as_org) {
		long i = strmap_get(&b->p->strings, k->as_org, 1, NULL);
		if (i < 0)
			return -2;
		org = b->p->strings.names[i];
	}
	if (k->country) {
		long i = strmap_get(&b->p->strings, k->country, 1, NULL);
		if (i < 0)
			return -2;
		country = b->p->strings.names[i];
	}
	/* few networks carry unknown names: a scan is enough */
	for (size_t i = 0; i < b->nnets; i++)
		if (b->nets[i].asn == k->asn && b->nets[i].org == org &&
		    b->nets[i].country == country)
			return (long)i;
	if (b->nnets == b->capnets) {
		size_t nc = b->capnets ? b->capnets * 2 : 64;
		struct netinfo *nn = realloc(b->nets, nc * sizeof(*nn));
		if (!nn)
			return -2;
		b->nets = nn;
		b->capnets = nc;
	}
	b->nets[b->nnets] = (struct netinfo){k->asn, org, country};
	return (long)b->nnets++;
}

static int
fail(struct build *b, const char *what)
{
	snprintf(b->p->err, b->p->errlen, "%s", what);
	b->p->failed = 1;
	return -1;
}

static int
key_row(void *arg, const struct store_key_row *k)
{
	struct build *b = arg;
	struct priv *p = b->p;
	if (k->id < 0 || k->id > INT32_MAX)
		return 0;
	if ((size_t)k->id >= b->nkeys) {
		size_t n = b->nkeys ? b->nkeys : 1024;
		while (n <= (size_t)k->id)
			n *= 2;
		struct keyinfo *nk = realloc(b->keys, n * sizeof(*nk));
		if (!nk)
			return fail(b, "out of memory");
		for (size_t i = b->nkeys; i < n; i++)
			nk[i] = (struct keyinfo){NULL, -1, NULL, -1, -1, -1, 0};
		b->keys = nk;
		b->nkeys = n;
	}
	struct keyinfo *ki = &b->keys[k->id];
	if (k->app) {
		long si = strmap_get(&p->strings, k->app, 1, NULL);
		long ci = k->category ? strmap_get(&p->strings, k->category, 1, NULL) : -1;
		if (si < 0 || ci < -1)
			return fail(b, "out of memory");
		ki->slug = p->strings.names[si];
		ki->slug_idx = si;
		ki->category = ci >= 0 ? p->strings.names[ci] : NULL;
	} else if (k->domain && !k->untracked) {
		int added;
		long di = strmap_get(&b->domains, k->domain, 1, &added);
		long hi = k->host ? strmap_get(&p->strings, k->host, 1, NULL) : -1;
		if (di < 0 || hi < -1)
			return fail(b, "out of memory");
		if (added) {
			struct domacc *nd = realloc(b->dom, b->domains.cap * sizeof(*nd));
			if (!nd)
				return fail(b, "out of memory");
			b->dom = nd;
			memset(&b->dom[di], 0, sizeof(*b->dom));
			b->dom[di].first_seen = INT64_MAX;
			b->dom[di].top_net = -1;
		}
		ki->domain = di;
		ki->host = hi;
		ki->net = net_index(b, k);
		if (ki->net < -1)
			return fail(b, "out of memory");
	}
	return 0;
}

/* Usage of a name no app claims: its registrable domain's row. */
static int
domain_usage(struct build *b, struct keyinfo *ki, const struct store_usage_row *u)
{
	struct domacc *d = &b->dom[ki->domain];
	int added;
	if (!ki->used && ki->host >= 0) {
		/* a name of the domain seen for the first time this period */
		if (pairtab_get(&b->domhosts, (uint32_t)ki->domain, (uint32_t)ki->host, 0,
				&added) < 0)
			return fail(b, "out of memory");
		d->hosts += added;
	}
	ki->used = 1;
	if (pairtab_get(&b->domusers, (uint32_t)u->client_id, (uint32_t)ki->domain, 0, &added) < 0)
		return fail(b, "out of memory");
	d->users += added;
	if (ki->net >= 0) {
		long n = pairtab_get(&b->domnets, (uint32_t)ki->domain, (uint32_t)ki->net,
				     b->nnetacc, &added);
		if (n < 0)
			return fail(b, "out of memory");
		if (added) {
			if (b->nnetacc == b->capnetacc) {
				size_t nc = b->capnetacc ? b->capnetacc * 2 : 64;
				struct netacc *na = realloc(b->netacc, nc * sizeof(*na));
				if (!na)
					return fail(b, "out of memory");
				b->netacc = na;
				b->capnetacc = nc;
			}
			b->netacc[b->nnetacc++] = (struct netacc){(uint32_t)ki->domain,
								  (uint32_t)ki->net, 0};
		}
		b->netacc[n].bytes += u->bytes_up + u->bytes_down;
	}
	d->flows += u->flows;
	d->bytes_up += u->bytes_up;
	d->bytes_down += u->bytes_down;
	if (u->first_seen < d->first_seen)
		d->first_seen = u->first_seen;
	if (u->last_seen > d->last_seen)
		d->last_seen = u->last_seen;
	return 0;
}

static const struct keyinfo *
key_of(const struct build *b, int64_t id)
{
	/* a key added after the keys were read (a batch stored meanwhile)
	 * counts in the totals, not in an app */
	return id >= 0 && (size_t)id < b->nkeys ? &b->keys[id] : NULL;
}

/* A row of the period: merged into its (client, app) pair. */
static int
period_usage(void *arg, const struct store_usage_row *u)
{
	struct build *b = arg;
	struct priv *p = b->p;
	struct report *r = b->r;

	r->flows += u->flows;
	r->bytes_up += u->bytes_up;
	r->bytes_down += u->bytes_down;
	if (idset_add(&b->seen, u->client_id) < 0)
		return fail(b, "out of memory");
	struct keyinfo *ki = (struct keyinfo *)key_of(b, u->key_id);
	if (!ki || u->client_id < 0 || u->client_id > UINT32_MAX)
		return 0;
	if (ki->domain >= 0)
		return domain_usage(b, ki, u);
	if (!ki->slug)
		return 0;
	long *app = &b->slug_app[ki->slug_idx];
	if (*app < 0) {
		int added;
		long a = strmap_get(&p->apps, ki->slug, 1, &added);
		if (a < 0)
			return fail(b, "out of memory");
		if (added) {
			if ((size_t)a >= p->app_category_cap) {
				size_t nc = p->app_category_cap ? p->app_category_cap * 2 : 256;
				const char **ac = realloc(p->app_category, nc * sizeof(*ac));
				if (!ac)
					return fail(b, "out of memory");
				p->app_category = ac;
				p->app_category_cap = nc;
			}
			p->app_category[a] = ki->category;
		}
		*app = a;
	}
	int added;
	long idx = pairtab_get(&b->tab, (uint32_t)u->client_id, (uint32_t)*app, p->npairs,
			       &added);
	if (idx < 0)
		return fail(b, "out of memory");
	if (added) {
		if (p->npairs == p->cap) {
			size_t cap = p->cap ? p->cap * 2 : 4096;
			struct pair *np = realloc(p->pairs, cap * sizeof(*np));
			uint64_t *nb = realloc(p->daybits, cap * p->nwords * sizeof(*nb));
			if (nb)
				p->daybits = nb;
			if (np)
				p->pairs = np;
			if (!np || !nb)
				return fail(b, "out of memory");
			p->cap = cap;
		}
		struct pair *pr = &p->pairs[p->npairs++];
		memset(pr, 0, sizeof(*pr));
		memset(&p->daybits[(size_t)idx * p->nwords], 0, p->nwords * sizeof(uint64_t));
		pr->client = (uint32_t)u->client_id;
		pr->app = (uint32_t)*app;
		pr->first_seen = u->first_seen;
		pr->last_seen = u->last_seen;
	}
	struct pair *pr = &p->pairs[idx];
	pr->flows += u->flows;
	pr->bytes_up += u->bytes_up;
	pr->bytes_down += u->bytes_down;
	if (u->first_seen < pr->first_seen)
		pr->first_seen = u->first_seen;
	if (u->last_seen > pr->last_seen)
		pr->last_seen = u->last_seen;
	int64_t d = u->day - p->day0;
	if (d >= 0 && d < (int64_t)p->ndays)
		p->daybits[(size_t)idx * p->nwords + (size_t)d / 64] |= UINT64_C(1) << (d % 64);
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

static int
cmp_domain(const void *x, const void *y)
{
	const struct report_domain *a = x, *b = y;
	uint64_t ta = a->bytes_up + a->bytes_down, tb = b->bytes_up + b->bytes_down;
	if (ta != tb)
		return ta > tb ? -1 : 1;
	return strcmp(a->domain, b->domain);
}

/* The unknown domains of the period, by bytes, the first top_unknown. */
static int
domains_build(struct report *r, struct build *b)
{
	size_t n = 0;
	for (size_t i = 0; i < b->domains.n; i++)
		n += b->dom[i].flows || b->dom[i].bytes_up || b->dom[i].bytes_down ||
		     b->dom[i].users;
	struct report_domain *v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -1;
	/* each domain's network with the most bytes (ties: lower AS number) */
	for (size_t i = 0; i < b->nnetacc; i++) {
		const struct netacc *na = &b->netacc[i];
		struct domacc *d = &b->dom[na->domain];
		if (d->top_net < 0 || na->bytes > d->top_bytes ||
		    (na->bytes == d->top_bytes && b->nets[na->net].asn < b->nets[d->top_net].asn)) {
			d->top_net = na->net;
			d->top_bytes = na->bytes;
		}
	}
	r->domains = v;
	for (size_t i = 0; i < b->domains.n; i++) {
		const struct domacc *d = &b->dom[i];
		if (!d->users)
			continue;
		struct report_domain *o = &v[r->n_domains];
		o->domain = strdup(b->domains.names[i]);
		if (!o->domain)
			return -1;
		r->n_domains++;
		o->users = d->users;
		o->flows = d->flows;
		o->bytes_up = d->bytes_up;
		o->bytes_down = d->bytes_down;
		o->first_seen = d->first_seen;
		o->last_seen = d->last_seen;
		o->hosts = d->hosts;
		if (d->top_net >= 0) {
			const struct netinfo *ni = &b->nets[d->top_net];
			o->asn = ni->asn;
			o->network = ni->org ? strdup(ni->org) : NULL;
			o->country = ni->country ? strdup(ni->country) : NULL;
			if ((ni->org && !o->network) || (ni->country && !o->country))
				return -1;
		}
	}
	sort_n(v, r->n_domains, sizeof(*v), cmp_domain);
	while (r->n_domains > r->opt.top_unknown) {
		r->n_domains--;
		free(v[r->n_domains].domain);
		free(v[r->n_domains].network);
		free(v[r->n_domains].country);
	}
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
	const char *slug, *category;
};

struct prev_arg {
	struct build *b;
	struct pairtab tab; /* (client, slug's string index) */
	struct prev_pair *pairs;
	size_t n, cap;
	struct idset seen;
};

static int
prev_usage(void *arg, const struct store_usage_row *u)
{
	struct prev_arg *pa = arg;
	struct build *b = pa->b;
	if (idset_add(&pa->seen, u->client_id) < 0)
		return fail(b, "out of memory");
	const struct keyinfo *ki = key_of(b, u->key_id);
	if (!ki || !ki->slug || u->client_id < 0 || u->client_id > UINT32_MAX)
		return 0;
	int added;
	long idx = pairtab_get(&pa->tab, (uint32_t)u->client_id, (uint32_t)ki->slug_idx, pa->n,
			       &added);
	if (idx < 0)
		return fail(b, "out of memory");
	long a = b->slug_app[ki->slug_idx]; /* set when used this period */
	if (added) {
		if (pa->n == pa->cap) {
			size_t cap = pa->cap ? pa->cap * 2 : 4096;
			struct prev_pair *np = realloc(pa->pairs, cap * sizeof(*np));
			if (!np)
				return fail(b, "out of memory");
			pa->pairs = np;
			pa->cap = cap;
		}
		pa->pairs[pa->n++] = (struct prev_pair){(uint32_t)u->client_id, ki->slug,
							 ki->category};
		if (a >= 0)
			b->r->apps[a].prev_users++;
	}
	if (a >= 0) {
		b->r->apps[a].prev_bytes_up += u->bytes_up;
		b->r->apps[a].prev_bytes_down += u->bytes_down;
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
	char top[256], alt[256], up[REPORT_BYTES_LEN];
	switch (g->verdict) {
	case VERDICT_OFFER:
		top_elsewhere(r, c, top, sizeof(top));
		report_format_bytes(c->elsewhere_bytes_up, up);
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
		report_format_bytes(a->bytes_up, up);
		if (a->status == CATALOG_BANNED)
			textf(g->text, sizeof(g->text),
			      "%s is banned and was used by %llu people, who sent it %s. "
			      "Move them to %s.",
			      a->name, (unsigned long long)a->users, up,
			      alt[0] ? alt : "an approved alternative");
		else
			textf(g->text, sizeof(g->text),
			      "%s is %s and risky (risk %d, the threshold is %d), and was used by "
			      "%llu people, who sent it %s. Move them to %s.",
			      a->name, a->status == CATALOG_UNSANCTIONED ? "unsanctioned" :
			      "not in the catalog", a->risk.score, r->opt.risky_score,
			      (unsigned long long)a->users, up,
			      alt[0] ? alt : "an approved alternative");
		break;
	}
	default:
		break;
	}
}

/* The gaps, ranked; -1 when out of memory. */
static int
rank_gaps(struct report *r)
{
	const struct report_options *o = &r->opt;
	size_t cap = 0;
	for (size_t ci = 0; ci < r->n_categories; ci++) {
		struct report_category *c = &r->categories[ci];
		double risk = c->risk_mean > 0 ? c->risk_mean : 0;
		if (c->elsewhere_users < o->min_users)
			continue;
		if (c->n_sanctioned == 0) {
			if (gap_add(r, &cap, VERDICT_OFFER, ci, -1,
				    (double)c->elsewhere_users * (1 + risk / 100)) < 0)
				return -1;
		} else if (c->elsewhere_users * 100 >= (uint64_t)o->bypass_percent * c->users) {
			if (gap_add(r, &cap, VERDICT_IMPROVE, ci, -1,
				    (double)c->elsewhere_users * (1 + risk / 100)) < 0)
				return -1;
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
			if (gap_add(r, &cap, VERDICT_MOVE_OFF, (size_t)ci, (long)ai,
				    2 * (double)a->users * (1 + risk / 100)) < 0)
				return -1;
		} else if (a->risk.score >= o->risky_score) {
			int somewhere_to_go = c->n_sanctioned > 0 ||
					      (a->alternatives && a->alternatives[0]);
			if (a->status != CATALOG_TOLERATED && somewhere_to_go &&
			    a->users >= o->min_users &&
			    gap_add(r, &cap, VERDICT_MOVE_OFF, (size_t)ci, (long)ai,
				    (double)a->users * (1 + risk / 100)) < 0)
				return -1;
		} else if (a->users >= o->min_users &&
			   a->users * 100 >= (uint64_t)o->adoption_percent * c->users) {
			if (gap_add(r, &cap, VERDICT_SANCTION, (size_t)ci, (long)ai,
				    (double)a->users * (1 - risk / 100)) < 0)
				return -1;
		}
	}
	sort_n(r->gaps, r->n_gaps, sizeof(*r->gaps), cmp_gap);
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
	return 0;
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
			/* volume is the category's own apps' (a suite covering it
			 * counts where it belongs) */
			if (!a->category || strcmp(a->category, c->category) != 0)
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
	sort_n(pa->pairs, pa->n, sizeof(*pa->pairs), cmp_prev_client);
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

static void
build_free(struct build *b, struct prev_arg *pa)
{
	free(b->keys);
	free(b->slug_app);
	free(b->tab.s);
	free(b->seen.w);
	strmap_free(&b->domains);
	free(b->dom);
	free(b->domusers.s);
	free(b->domhosts.s);
	free(b->nets);
	free(b->domnets.s);
	free(b->netacc);
	free(pa->tab.s);
	free(pa->seen.w);
	free(pa->pairs);
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
	hash_key_random(&p->apps.key);
	hash_key_random(&p->strings.key);
	hash_key_random(&b.tab.key);
	hash_key_random(&b.domusers.key);
	hash_key_random(&b.domhosts.key);
	hash_key_random(&b.domnets.key);
	hash_key_random(&b.domains.key);
	b.r = r;
	b.p = p;

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

	/* what each stored key is, then one pass over the period's rows */
	if (store_keys(st, key_row, &b) != 0) {
		if (!p->failed)
			snprintf(err, errlen, "reading usage: %s", store_error(st));
		goto failed;
	}
	/* the walks intern no more strings: one slot per string known now */
	b.slug_app = malloc((p->strings.n ? p->strings.n : 1) * sizeof(*b.slug_app));
	if (!b.slug_app) {
		snprintf(err, errlen, "out of memory");
		goto failed;
	}
	b.nslug_app = p->strings.n;
	for (size_t i = 0; i < b.nslug_app; i++)
		b.slug_app[i] = -1;
	if (store_usage_walk(st, r->from, r->to, period_usage, &b) != 0) {
		if (!p->failed)
			snprintf(err, errlen, "reading usage: %s", store_error(st));
		goto failed;
	}
	r->users = b.seen.count;
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
		sort_n(r->apps, r->n_apps, sizeof(*r->apps), cmp_app);
		/* p->apps maps slug -> old index; rebuild it as slug -> new */
		for (size_t i = 0; i < r->n_apps; i++) {
			long old = strmap_get(&p->apps, r->apps[i].app, 0, NULL);
			where[old] = i;
		}
		for (size_t k = 0; k < p->npairs; k++)
			p->pairs[k].app = (uint32_t)where[p->pairs[k].app];
		for (size_t k = 0; k < b.nslug_app; k++)
			if (b.slug_app[k] >= 0)
				b.slug_app[k] = (long)where[b.slug_app[k]];
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
	sort_n(p->pairs, p->npairs, sizeof(*p->pairs), cmp_pair_client);

	if (categories_build(r, p) < 0) {
		snprintf(err, errlen, "out of memory");
		goto failed;
	}

	/* the whole history up to the period's end: first sightings */
	{
		struct history_arg h = {r, p};
		if (store_apps(st, 0, r->from, history_row, &h) < 0) {
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
	pa.b = &b;
	hash_key_random(&pa.tab.key);
	if (store_usage_walk(st, r->prev_from, r->from, prev_usage, &pa) != 0) {
		if (!p->failed)
			snprintf(err, errlen, "reading the previous period: %s", store_error(st));
		goto failed;
	}
	r->prev_users = pa.seen.count;
	category_trends(r, &pa);

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

	if (domains_build(r, &b) < 0) {
		snprintf(err, errlen, "out of memory");
		goto failed;
	}

	if (rank_gaps(r) < 0) {
		snprintf(err, errlen, "out of memory");
		goto failed;
	}
	/* gaps point at categories by index: follow the sort */
	for (size_t g = 0; g < r->n_gaps; g++)
		r->gaps[g].category_slug = r->categories[r->gaps[g].category].category;
	sort_n(r->categories, r->n_categories, sizeof(*r->categories), cmp_category);
	for (size_t g = 0; g < r->n_gaps; g++)
		r->gaps[g].category = (size_t)category_index(r, r->gaps[g].category_slug);
	build_free(&b, &pa);
	return r;

failed:
	build_free(&b, &pa);
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
		strmap_free(&p->apps);
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
