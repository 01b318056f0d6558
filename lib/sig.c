/*
 * The signature database and its matcher: apps and categories as the loader
 * (sig_load.c) adds them, the cross-file checks of finalize, and the three
 * read-only indexes the agent queries once per flow.
 *
 * Names: an open-addressing table of every domain; a lookup tries the name
 * and then each suffix after a dot, left to right, so the first hit is the
 * longest matching domain. A label pattern ("*-my.sharepoint.com") marks
 * its parent's entry with a bit, so only names under such a parent look
 * at patterns, and a pattern ranks as an entry one label longer than its
 * parent; a pattern of exclude_domains ranks the same and names no app.
 * Addresses: the CIDRs (nested or disjoint, never
 * partly overlapping) flattened into sorted disjoint intervals, each owned
 * by the most specific range, found by binary search. No lookup allocates.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "shadowmap/hash.h"
#include "shadowmap/sig.h"
#include "sig_int.h"

struct sig_slot {
	uint64_t hash;
	const char *key; /* NULL: empty slot; owned by a record */
	uint32_t len;
	uint32_t value; /* index of the app or category */
};

/* Linear probing at a load factor of at most one half: lookups of names
 * that are not there, the common case, end at the first empty slot. */
struct sig_strtab {
	struct sig_slot *slots;
	size_t mask; /* slot count - 1; slot count a power of two */
	size_t n;
};

/* A label pattern of one app: "*-my.sharepoint.com" (the label just left
 * of the parent ends with lit), "my-*.example.com" (it starts with it), or
 * "instagram.*.fna.fbcdn.net" (any label just left of the parent, and lit
 * the whole label left of that). The strings point into the app's domain
 * or exclusion entry. */
struct sig_pat {
	const char *text;
	const char *parent;
	const char *lit;
	uint32_t parent_len, lit_len;
	uint32_t app;
	int lit_first; /* "my-*": the literal begins the label */
	int span;      /* "name.*.parent": two labels over the parent */
	int excluded;  /* from exclude_domains: a name it fits matches no app */
};

/* A stretch of address space that belongs to one app. */
struct sig_seg {
	struct sm_addr lo, hi; /* inclusive */
	uint32_t app;
};

struct sig_db {
	struct hash_key key;
	struct sig_app_rec **apps;
	size_t n_apps, cap_apps;
	struct sig_cat_rec **cats;
	size_t n_cats, cap_cats;
	char **files;
	size_t n_files, cap_files;
	struct sig_strtab app_slugs;
	struct sig_strtab cat_slugs;
	int local_started; /* sig_db_load_overrides was called */

	sig_problem_fn report; /* lint mode when set */
	void *report_arg;
	size_t n_problems;

	struct sig_cache *cache; /* parsed files; until finalize */

	int finalized;
	struct sig_strtab domains;
	size_t domain_max_len; /* suffixes longer than this cannot match */
	/* Sorted by parent, then the longest literal first: the first pattern
	 * of a parent's run that fits a label is the most specific. */
	struct sig_pat *pats;
	size_t n_pats;
	struct sig_strtab pat_parents; /* parent -> index of its first pattern */
	struct sig_strtab ndpi;
	struct sig_seg *segs;
	size_t n_segs;
};

/* ---- errors ---------------------------------------------------------- */

int
sig_errf(char *err, size_t errlen, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err || errlen == 0)
		return -1;
	if (line > 0)
		n = snprintf(err, errlen, "%s:%d: ", file ? file : "?", line);
	else
		n = snprintf(err, errlen, "%s: ", file ? file : "?");
	if (n < 0 || (size_t)n >= errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	/* The message must stay one line, whatever a reason quoted. */
	for (char *p = err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return -1;
}

int
sig_db_report_line(sig_db *db, char *err, size_t errlen, const char *problem)
{
	if (!db || !db->report) {
		if (err && errlen && problem != err)
			snprintf(err, errlen, "%s", problem);
		return -1;
	}
	if (db->n_problems++ == 0 && err && errlen && problem != err)
		snprintf(err, errlen, "%s", problem);
	db->report(db->report_arg, problem);
	return -1;
}

int
sig_db_problem(sig_db *db, char *err, size_t errlen, const char *file, int line,
	       const char *fmt, ...)
{
	char msg[1024], text[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (!db || !db->report)
		return sig_errf(err, errlen, file, line, "%s", text);
	sig_errf(msg, sizeof(msg), file, line, "%s", text);
	return sig_db_report_line(db, err, errlen, msg);
}

int
sig_db_linting(const sig_db *db)
{
	return db && db->report != NULL;
}

void
sig_db_set_problem_handler(sig_db *db, sig_problem_fn fn, void *arg)
{
	if (!db)
		return;
	db->report = fn;
	db->report_arg = arg;
}

int
sig_db_set_cache_dir(sig_db *db, const char *dir, char *err, size_t errlen)
{
	if (!db)
		return sig_errf(err, errlen, "signatures", 0, "no database");
	sig_cache_free(db->cache);
	db->cache = NULL;
	if (!dir || !*dir)
		return 0;
	db->cache = sig_cache_open(dir, err, errlen);
	return db->cache ? 0 : -1;
}

struct sig_cache *
sig_db_cache(sig_db *db)
{
	/* lint mode reads every file as it is, and leaves no trace */
	return db && !sig_db_linting(db) ? db->cache : NULL;
}

size_t
sig_db_problem_count(const sig_db *db)
{
	return db ? db->n_problems : 0;
}

/* ---- string tables --------------------------------------------------- */

static int
strtab_init(struct sig_strtab *t, size_t n_keys)
{
	size_t n_slots = 16;

	while (n_slots < 2 * n_keys + 1) {
		if (n_slots > SIZE_MAX / 4 / sizeof(struct sig_slot))
			return -1;
		n_slots *= 2;
	}
	t->slots = calloc(n_slots, sizeof(*t->slots));
	if (!t->slots)
		return -1;
	t->mask = n_slots - 1;
	t->n = 0;
	return 0;
}

static void
strtab_free(struct sig_strtab *t)
{
	free(t->slots);
	t->slots = NULL;
	t->mask = 0;
	t->n = 0;
}

/* The slot holding key, or the empty slot where it would go. */
static struct sig_slot *
strtab_probe(const struct sig_strtab *t, const char *key, size_t len, uint64_t h)
{
	size_t i = (size_t)h & t->mask;

	for (;;) {
		struct sig_slot *s = &t->slots[i];
		if (!s->key)
			return s;
		if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
			return s;
		i = (i + 1) & t->mask;
	}
}

static const struct sig_slot *
strtab_find(const struct sig_strtab *t, const struct hash_key *hk, const char *key,
	    size_t len)
{
	const struct sig_slot *s;

	if (!t->slots)
		return NULL;
	s = strtab_probe(t, key, len, hash_bytes(hk, key, len));
	return s->key ? s : NULL;
}

static int
strtab_grow(struct sig_strtab *t)
{
	struct sig_strtab bigger;

	if (strtab_init(&bigger, (t->mask + 1)) < 0)
		return -1;
	for (size_t i = 0; i <= t->mask; i++) {
		const struct sig_slot *s = &t->slots[i];
		if (s->key)
			*strtab_probe(&bigger, s->key, s->len, s->hash) = *s;
	}
	bigger.n = t->n;
	free(t->slots);
	*t = bigger;
	return 0;
}

/*
 * Adds key (not copied: it must outlive the table) with value. Returns 0
 * when added, 1 when the key was there (*existing gets its value), -1 when
 * memory runs out.
 */
static int
strtab_add(struct sig_strtab *t, const struct hash_key *hk, const char *key,
	   uint32_t value, uint32_t *existing)
{
	size_t len = strlen(key);
	uint64_t h = hash_bytes(hk, key, len);
	struct sig_slot *s;

	if (len > UINT32_MAX)
		return -1;
	if (!t->slots && strtab_init(t, 0) < 0)
		return -1;
	s = strtab_probe(t, key, len, h);
	if (s->key) {
		if (existing)
			*existing = s->value;
		return 1;
	}
	if (2 * (t->n + 1) > t->mask + 1) {
		if (strtab_grow(t) < 0)
			return -1;
		s = strtab_probe(t, key, len, h);
	}
	s->hash = h;
	s->key = key;
	s->len = (uint32_t)len;
	s->value = value;
	t->n++;
	return 0;
}

/* ---- records --------------------------------------------------------- */

static void
free_strv(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
sig_fact_clear(struct sig_fact *fact)
{
	free_strv(fact->items, fact->n_items);
	free(fact->source);
	free(fact->checked);
	free(fact->note);
	memset(fact, 0, sizeof(*fact));
}

void
sig_app_rec_free(struct sig_app_rec *rec)
{
	if (!rec)
		return;
	free(rec->pub.slug);
	free(rec->pub.name);
	free(rec->pub.vendor);
	free(rec->pub.category);
	free_strv(rec->pub.domains, rec->pub.n_domains);
	free_strv(rec->pub.exclude_domains, rec->pub.n_exclude_domains);
	free(rec->pub.ranges);
	free_strv(rec->pub.ndpi, rec->pub.n_ndpi);
	for (size_t i = 0; i < SIG_FACT_COUNT; i++)
		sig_fact_clear(&rec->pub.risk[i]);
	/* pub.file and the positions' files belong to the database's file list */
	free(rec->domain_pos);
	free(rec->exclude_pos);
	free(rec->range_pos);
	free(rec->ndpi_pos);
	free(rec->notes);
	free(rec);
}

void
sig_app_rec_drop_domain(struct sig_app_rec *rec, size_t at)
{
	size_t rest;

	if (at >= rec->pub.n_domains)
		return;
	free(rec->pub.domains[at]);
	rest = rec->pub.n_domains - at - 1;
	memmove(&rec->pub.domains[at], &rec->pub.domains[at + 1], rest * sizeof(char *));
	memmove(&rec->domain_pos[at], &rec->domain_pos[at + 1], rest * sizeof(*rec->domain_pos));
	rec->pub.n_domains--;
}

void
sig_cat_rec_free(struct sig_cat_rec *rec)
{
	if (!rec)
		return;
	free(rec->pub.slug);
	free(rec->pub.name);
	free(rec->pub.description);
	free(rec);
}

/* ---- the database ---------------------------------------------------- */

sig_db *
sig_db_new(void)
{
	sig_db *db = calloc(1, sizeof(*db));

	if (!db)
		return NULL;
	hash_key_random(&db->key);
	return db;
}

void
sig_db_free(sig_db *db)
{
	if (!db)
		return;
	for (size_t i = 0; i < db->n_apps; i++)
		sig_app_rec_free(db->apps[i]);
	free(db->apps);
	for (size_t i = 0; i < db->n_cats; i++)
		sig_cat_rec_free(db->cats[i]);
	free(db->cats);
	free_strv(db->files, db->n_files);
	strtab_free(&db->app_slugs);
	strtab_free(&db->cat_slugs);
	strtab_free(&db->domains);
	strtab_free(&db->ndpi);
	strtab_free(&db->pat_parents);
	free(db->pats);
	free(db->segs);
	sig_cache_free(db->cache);
	free(db);
}

/* Room for element n of a pointer array with *cap slots: the array,
 * possibly moved, or NULL when memory runs out (v is still valid then). */
static void *
grow_array(void *v, size_t n, size_t *cap, size_t elem_size)
{
	size_t want;
	void *nv;

	if (n < *cap)
		return v;
	want = *cap ? *cap * 2 : 16;
	nv = realloc(v, want * elem_size);
	if (nv)
		*cap = want;
	return nv;
}

const char *
sig_db_intern_file(sig_db *db, const char *path)
{
	char **files;
	char *copy;

	/* Files are loaded one after the other: the last one is the usual hit. */
	if (db->n_files && strcmp(db->files[db->n_files - 1], path) == 0)
		return db->files[db->n_files - 1];
	files = grow_array(db->files, db->n_files, &db->cap_files, sizeof(*files));
	if (!files)
		return NULL;
	db->files = files;
	copy = strdup(path);
	if (!copy)
		return NULL;
	db->files[db->n_files++] = copy;
	return copy;
}

int
sig_db_add_app(sig_db *db, struct sig_app_rec *rec, const struct sig_app_rec **dup)
{
	struct sig_app_rec **apps;
	uint32_t first;
	int r;

	*dup = NULL;
	if (db->n_apps >= SIG_APPS_MAX)
		return -1;
	apps = grow_array(db->apps, db->n_apps, &db->cap_apps, sizeof(*apps));
	if (!apps)
		return -1;
	db->apps = apps;
	r = strtab_add(&db->app_slugs, &db->key, rec->pub.slug, (uint32_t)db->n_apps, &first);
	if (r == 1)
		*dup = db->apps[first];
	if (r != 0)
		return -1;
	rec->pub.index = db->n_apps;
	db->apps[db->n_apps++] = rec;
	return 0;
}

int
sig_db_add_category(sig_db *db, struct sig_cat_rec *rec, const struct sig_cat_rec **dup)
{
	struct sig_cat_rec **cats;
	uint32_t first;
	int r;

	*dup = NULL;
	if (db->n_cats >= SIG_APPS_MAX)
		return -1;
	cats = grow_array(db->cats, db->n_cats, &db->cap_cats, sizeof(*cats));
	if (!cats)
		return -1;
	db->cats = cats;
	r = strtab_add(&db->cat_slugs, &db->key, rec->pub.slug, (uint32_t)db->n_cats, &first);
	if (r == 1)
		*dup = db->cats[first];
	if (r != 0)
		return -1;
	db->cats[db->n_cats++] = rec;
	return 0;
}

int
sig_db_is_finalized(const sig_db *db)
{
	return db->finalized;
}

void
sig_db_start_local(sig_db *db)
{
	db->local_started = 1;
}

int
sig_db_local_started(const sig_db *db)
{
	return db->local_started;
}

struct sig_app_rec *
sig_db_find_app_rec(sig_db *db, const char *slug)
{
	const struct sig_slot *s;

	if (!db || !slug)
		return NULL;
	s = strtab_find(&db->app_slugs, &db->key, slug, strlen(slug));
	return s ? db->apps[s->value] : NULL;
}

struct sig_app_rec *
sig_db_domain_owner(sig_db *db, const char *domain, const struct sig_app_rec *except,
		    size_t *at)
{
	for (size_t a = 0; a < db->n_apps; a++) {
		struct sig_app_rec *rec = db->apps[a];
		if (rec == except)
			continue;
		for (size_t i = 0; i < rec->pub.n_domains; i++)
			if (strcmp(rec->pub.domains[i], domain) == 0) {
				*at = i;
				return rec;
			}
	}
	return NULL;
}

size_t
sig_db_app_count(const sig_db *db)
{
	return db ? db->n_apps : 0;
}

const struct sig_app *
sig_db_app(const sig_db *db, size_t index)
{
	if (!db || index >= db->n_apps)
		return NULL;
	return &db->apps[index]->pub;
}

const struct sig_app *
sig_db_find_app(const sig_db *db, const char *slug)
{
	const struct sig_slot *s;

	if (!db || !slug)
		return NULL;
	s = strtab_find(&db->app_slugs, &db->key, slug, strlen(slug));
	return s ? &db->apps[s->value]->pub : NULL;
}

size_t
sig_db_category_count(const sig_db *db)
{
	return db ? db->n_cats : 0;
}

const struct sig_category *
sig_db_category(const sig_db *db, size_t index)
{
	if (!db || index >= db->n_cats)
		return NULL;
	return &db->cats[index]->pub;
}

const struct sig_category *
sig_db_find_category(const sig_db *db, const char *slug)
{
	const struct sig_slot *s;

	if (!db || !slug)
		return NULL;
	s = strtab_find(&db->cat_slugs, &db->key, slug, strlen(slug));
	return s ? &db->cats[s->value]->pub : NULL;
}

const char *
sig_default_dir(void)
{
	const char *env = getenv("SHADOWMAP_SIGNATURES");
	struct stat st;

	if (env && *env)
		return env;
	if (stat(SHADOWMAP_SIGDIR_SOURCE, &st) == 0 && S_ISDIR(st.st_mode))
		return SHADOWMAP_SIGDIR_SOURCE;
	return SHADOWMAP_SIGDIR_INSTALL;
}

/* ---- address ranges -------------------------------------------------- */

/* One CIDR of one app, while the interval list is built. */
struct range_ent {
	struct sm_addr lo, hi;
	uint8_t prefix_len;
	uint32_t app;
	const char *file;
	int line;
};

static int
range_addr_lt(const struct sm_addr *a, const struct sm_addr *b)
{
	return memcmp(a->b, b->b, sizeof(a->b)) < 0;
}

static int
range_addr_le(const struct sm_addr *a, const struct sm_addr *b)
{
	return memcmp(a->b, b->b, sizeof(a->b)) <= 0;
}

/* a += 1; returns 1 when it wrapped past the last address. */
static int
range_addr_inc(struct sm_addr *a)
{
	for (int i = 15; i >= 0; i--)
		if (++a->b[i] != 0)
			return 0;
	return 1;
}

static void
range_addr_dec(struct sm_addr *a)
{
	for (int i = 15; i >= 0; i--)
		if (a->b[i]-- != 0)
			return;
}

static void
range_last(const struct sm_addr *base, unsigned prefix_len, struct sm_addr *hi)
{
	*hi = *base;
	for (unsigned bit = prefix_len; bit < 128; bit++)
		hi->b[bit / 8] |= (uint8_t)(0x80u >> (bit % 8));
}

static int
range_ent_cmp(const void *pa, const void *pb)
{
	const struct range_ent *a = pa, *b = pb;
	int c = memcmp(a->lo.b, b->lo.b, sizeof(a->lo.b));

	if (c)
		return c;
	/* The enclosing (shorter) range first, so it is open when its
	 * subranges come. */
	if (a->prefix_len != b->prefix_len)
		return a->prefix_len < b->prefix_len ? -1 : 1;
	if (a->app != b->app)
		return a->app < b->app ? -1 : 1;
	return (a->line > b->line) - (a->line < b->line);
}

static void
seg_emit(sig_db *db, const struct sm_addr *lo, const struct sm_addr *hi, uint32_t app)
{
	if (db->n_segs) {
		struct sig_seg *last = &db->segs[db->n_segs - 1];
		struct sm_addr next = last->hi;
		if (last->app == app && !range_addr_inc(&next) &&
		    memcmp(next.b, lo->b, sizeof(next.b)) == 0) {
			last->hi = *hi;
			return;
		}
	}
	db->segs[db->n_segs].lo = *lo;
	db->segs[db->n_segs].hi = *hi;
	db->segs[db->n_segs].app = app;
	db->n_segs++;
}

/*
 * Turns the sorted CIDRs into disjoint intervals. CIDRs never partly
 * overlap, so the open ones form a stack of nested ranges (at most 129
 * deep); each piece of address space goes to the innermost open range.
 * Every range adds at most two pieces: 2n slots are enough.
 */
static int
ranges_flatten(sig_db *db, const struct range_ent *ents, size_t n)
{
	const struct range_ent *stack[130];
	size_t depth = 0;
	struct sm_addr cursor; /* first address not yet given out */
	int cursor_done = 0;   /* cursor wrapped past the last address */

	memset(&cursor, 0, sizeof(cursor));
	db->segs = calloc(n ? 2 * n : 1, sizeof(*db->segs));
	if (!db->segs)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct range_ent *e = &ents[i];
		while (depth > 0 && range_addr_lt(&stack[depth - 1]->hi, &e->lo)) {
			const struct range_ent *top = stack[--depth];
			if (!cursor_done && range_addr_le(&cursor, &top->hi))
				seg_emit(db, &cursor, &top->hi, top->app);
			cursor = top->hi;
			cursor_done = range_addr_inc(&cursor);
		}
		if (depth > 0 && range_addr_lt(&cursor, &e->lo)) {
			struct sm_addr before = e->lo;
			range_addr_dec(&before);
			seg_emit(db, &cursor, &before, stack[depth - 1]->app);
		}
		cursor = e->lo;
		cursor_done = 0;
		if (depth == sizeof(stack) / sizeof(stack[0]))
			return -1; /* cannot happen: nesting deepens the prefix */
		stack[depth++] = e;
	}
	while (depth > 0) {
		const struct range_ent *top = stack[--depth];
		if (!cursor_done && range_addr_le(&cursor, &top->hi))
			seg_emit(db, &cursor, &top->hi, top->app);
		cursor = top->hi;
		cursor_done = range_addr_inc(&cursor);
	}
	return 0;
}

static int
finalize_ranges(sig_db *db, char *err, size_t errlen)
{
	struct range_ent *ents = NULL;
	size_t n = 0, k = 0;
	int rc = -1;

	for (size_t a = 0; a < db->n_apps; a++)
		n += db->apps[a]->pub.n_ranges;
	ents = calloc(n ? n : 1, sizeof(*ents));
	if (!ents) {
		sig_db_problem(db, err, errlen, "signatures", 0, "out of memory");
		goto out;
	}
	for (size_t a = 0; a < db->n_apps; a++) {
		const struct sig_app_rec *rec = db->apps[a];
		for (size_t r = 0; r < rec->pub.n_ranges; r++) {
			struct range_ent *e = &ents[k++];
			e->lo = rec->pub.ranges[r].base;
			e->prefix_len = rec->pub.ranges[r].prefix_len;
			range_last(&e->lo, e->prefix_len, &e->hi);
			e->app = (uint32_t)a;
			e->file = rec->range_pos[r].file;
			e->line = rec->range_pos[r].line;
		}
	}
	qsort(ents, n, sizeof(*ents), range_ent_cmp);
	for (size_t i = 1, first_i = 0; i < n; i++) {
		const struct range_ent *p = &ents[first_i], *e = &ents[i];
		if (p->prefix_len == e->prefix_len && memcmp(p->lo.b, e->lo.b, 16) == 0) {
			const struct sig_app *first = &db->apps[p->app]->pub;
			const struct sig_app *second = &db->apps[e->app]->pub;
			char text[ADDR_STRLEN];
			unsigned shown = e->prefix_len;
			if (addr_is_v4(&e->lo) && shown >= 96)
				shown -= 96;
			sig_db_problem(db, err, errlen, e->file, e->line,
				       "range %s/%u of app \"%s\" is already claimed by app \"%s\" (%s:%d)",
				       addr_format(&e->lo, text, sizeof(text)), shown, second->slug,
				       first->slug, p->file, p->line);
			if (!sig_db_linting(db))
				goto out;
			continue; /* each later copy names the first one */
		}
		first_i = i;
	}
	if (sig_db_linting(db) && db->n_problems) {
		rc = -1; /* the flattening assumes no duplicates */
		goto out;
	}
	if (ranges_flatten(db, ents, n) < 0) {
		sig_db_problem(db, err, errlen, "signatures", 0, "out of memory");
		goto out;
	}
	rc = 0;
out:
	free(ents);
	return rc;
}

/* ---- finalize -------------------------------------------------------- */

static int
finalize_categories(sig_db *db, char *err, size_t errlen)
{
	int rc = 0;

	for (size_t a = 0; a < db->n_apps; a++) {
		const struct sig_app_rec *rec = db->apps[a];
		if (!rec->pub.category)
			continue; /* lint mode: its problem is reported already */
		if (!sig_db_find_category(db, rec->pub.category)) {
			rc = sig_db_problem(db, err, errlen, rec->category_pos.file,
					    rec->category_pos.line,
					    "app \"%s\": unknown category \"%s\" (not defined in any loaded file)",
					    rec->pub.slug, rec->pub.category);
			if (!sig_db_linting(db))
				return rc;
		}
	}
	return rc;
}

/* In the domain table, an exclusion's value is its app's index with this
 * bit: a name whose longest suffix there is one matches no app. */
#define EXCLUDED 0x80000000u
/* Label patterns hang under this entry (db->pat_parents); a parent that
 * no app lists is an entry of NO_APP. */
#define PATTERNS 0x40000000u
/* The entry lies one label over the parent of a span pattern, which
 * outranks it for the names it fits (finalize_patterns). */
#define SPAN_BELOW 0x20000000u
#define APP_MASK 0x1fffffffu
#define NO_APP APP_MASK

/* The lists of names an app claims in a name table. */
enum name_kind { NAME_DOMAIN, NAME_EXCLUDED, NAME_NDPI };

static const char *const name_noun[] = {
	[NAME_DOMAIN] = "domain", [NAME_EXCLUDED] = "excluded domain",
	[NAME_NDPI] = "nDPI protocol",
};

/* An app's list of one kind: its names, their positions and count. */
static size_t
name_list(const struct sig_app_rec *rec, enum name_kind kind, char ***names,
	  const struct sig_pos **pos)
{
	const struct sig_app *a = &rec->pub;
	switch (kind) {
	case NAME_EXCLUDED:
		*names = a->exclude_domains, *pos = rec->exclude_pos;
		return a->n_exclude_domains;
	case NAME_NDPI:
		*names = a->ndpi, *pos = rec->ndpi_pos;
		return a->n_ndpi;
	default:
		*names = a->domains, *pos = rec->domain_pos;
		return a->n_domains;
	}
}

/* Where app rec lists name in its list of kind; the app's own position
 * when not found. */
static struct sig_pos
name_pos(const struct sig_app_rec *rec, const char *name, enum name_kind kind)
{
	char **names;
	const struct sig_pos *pos;
	size_t n = name_list(rec, kind, &names, &pos);
	for (size_t j = 0; j < n; j++)
		if (strcmp(names[j], name) == 0)
			return pos[j];
	return (struct sig_pos){ rec->pub.file, rec->pub.line };
}

/* Splits a label pattern the loader checked into pat ("*-my.sharepoint.com"
 * or "my-*.example.com": one '*' at an end of the first label, a literal
 * beside it; "instagram.*.example.com": a literal label, then '*' as the
 * whole second label; a domain after either); app is left alone. */
static void
pattern_split(const char *text, struct sig_pat *pat)
{
	const char *dot = strchr(text, '.');

	pat->text = text;
	pat->span = dot[1] == '*';
	pat->parent = dot + (pat->span ? 3 : 1);
	pat->parent_len = (uint32_t)strlen(pat->parent);
	pat->lit_first = text[0] != '*';
	pat->lit = pat->lit_first ? text : text + 1;
	/* the prefix form's label holds its '*' after the literal */
	pat->lit_len = (uint32_t)(dot - pat->lit) - (uint32_t)(!pat->span && pat->lit_first);
}

/* Whether the name [h, +hl) lies strictly under the domain [d, +dl). */
static int
strictly_under(const char *h, size_t hl, const char *d, size_t dl)
{
	return hl > dl + 1 && h[hl - dl - 1] == '.' && memcmp(h + hl - dl, d, dl) == 0;
}

/* The parent of a label pattern: the domain right of its '*' label. */
static const char *
pattern_parent(const char *text)
{
	struct sig_pat pat;
	pattern_split(text, &pat);
	return pat.parent;
}

/* Whether the labels just left of a pattern's parent fit it: label is the
 * one next to the parent, label2 the one left of that (NULL at the start
 * of the name). The '*' of a label pattern stands for one character at
 * least: "-my" alone is no tenant's personal site; that of a span pattern
 * for the whole label. */
static int
labels_fit(const struct sig_pat *pat, const char *label, size_t label_len,
	   const char *label2, size_t label2_len)
{
	if (pat->span)
		return label2 && label2_len == pat->lit_len &&
		       memcmp(label2, pat->lit, pat->lit_len) == 0;
	if (label_len <= pat->lit_len)
		return 0;
	return memcmp(pat->lit_first ? label : label + label_len - pat->lit_len, pat->lit,
		      pat->lit_len) == 0;
}

/* Whether host is a name the label pattern covers: the labels just left of
 * the pattern's parent fit, whatever lies left of those. */
static int
pattern_covers(const char *pattern, const char *host)
{
	struct sig_pat pat;
	size_t hl = strlen(host);
	const char *end, *label, *label2 = NULL;

	pattern_split(pattern, &pat);
	if (!strictly_under(host, hl, pat.parent, pat.parent_len))
		return 0;
	end = host + hl - pat.parent_len - 1;
	for (label = end; label > host && label[-1] != '.'; label--)
		;
	if (label > host)
		for (label2 = label - 1; label2 > host && label2[-1] != '.'; label2--)
			;
	return labels_fit(&pat, label, (size_t)(end - label), label2,
			  label2 ? (size_t)(label - 1 - label2) : 0);
}

/* Whether host is a strict subdomain of one of the app's domains, or a
 * name one of its label patterns covers. */
static int
under_own_domain(const struct sig_app *a, const char *host)
{
	size_t hl = strlen(host);
	for (size_t i = 0; i < a->n_domains; i++) {
		size_t dl = strlen(a->domains[i]);
		if (strchr(a->domains[i], '*')) {
			if (pattern_covers(a->domains[i], host))
				return 1;
			continue;
		}
		if (strictly_under(host, hl, a->domains[i], dl))
			return 1;
	}
	return 0;
}

/* Whether an exclusion pattern of app a lies under its own domains: its
 * parent is one of them or under one. The app's own label patterns do not
 * count (a parent holds no '*', so none compares equal): a pattern carved
 * out of a pattern is a case no vendor has shown, and this way every name
 * the exclusion fits is plainly under a domain of the app. */
static int
excluded_pattern_own(const struct sig_app *a, const char *pattern)
{
	const char *parent = pattern_parent(pattern);
	size_t pl = strlen(parent);

	for (size_t i = 0; i < a->n_domains; i++) {
		size_t dl = strlen(a->domains[i]);
		if (pl == dl ? memcmp(parent, a->domains[i], dl) == 0
			     : strictly_under(parent, pl, a->domains[i], dl))
			return 1;
	}
	return 0;
}

/* Whether the exclusion excl of app a is where it may be. */
static int
exclusion_own(const struct sig_app *a, const char *excl)
{
	return strchr(excl, '*') ? excluded_pattern_own(a, excl) : under_own_domain(a, excl);
}

/* Adds the names of kind of app a to t; a name another app holds is a
 * problem that points at both. Returns 0, or the problem's status with
 * *stop set when loading cannot go on (out of memory, or not linting). */
static int
claim_names(sig_db *db, struct sig_strtab *t, size_t a, enum name_kind kind, int *stop,
	    char *err, size_t errlen)
{
	const struct sig_app_rec *rec = db->apps[a];
	char **names;
	const struct sig_pos *pos;
	size_t n = name_list(rec, kind, &names, &pos);
	int rc = 0;

	for (size_t i = 0; i < n && !*stop; i++) {
		if (kind == NAME_EXCLUDED && !exclusion_own(&rec->pub, names[i])) {
			if (strchr(names[i], '*'))
				rc = sig_db_problem(db, err, errlen, pos[i].file, pos[i].line,
						    "exclude_domains: pattern \"%s\" is not under any "
						    "domain of app \"%s\" (its parent \"%s\" must be one "
						    "of the app's domains or under one)",
						    names[i], rec->pub.slug, pattern_parent(names[i]));
			else
				rc = sig_db_problem(db, err, errlen, pos[i].file, pos[i].line,
						    "exclude_domains: \"%s\" is not under any domain of "
						    "app \"%s\" (an exclusion carves a host out of the "
						    "app's own domains)",
						    names[i], rec->pub.slug);
			*stop = !sig_db_linting(db);
			continue;
		}
		uint32_t first;
		int r = strtab_add(t, &db->key, names[i],
				   (uint32_t)a | (kind == NAME_EXCLUDED ? EXCLUDED : 0), &first);
		if (r < 0) {
			*stop = 1;
			return sig_db_problem(db, err, errlen, "signatures", 0, "out of memory");
		}
		if (r == 1) {
			/* The loader rejects repeats within one app. */
			enum name_kind other_kind = kind == NAME_NDPI ? NAME_NDPI
					: (first & EXCLUDED) ? NAME_EXCLUDED : NAME_DOMAIN;
			const struct sig_app_rec *other = db->apps[first & APP_MASK];
			struct sig_pos where = name_pos(other, names[i], other_kind);
			/* A local file may take a domain, but only by saying so. */
			rc = sig_db_problem(db, err, errlen, pos[i].file, pos[i].line,
					    "%s \"%s\" of app \"%s\" is already %s by app \"%s\" (%s:%d)%s",
					    name_noun[kind], names[i], rec->pub.slug,
					    other_kind == NAME_EXCLUDED ? "excluded" : "claimed",
					    other->pub.slug, where.file, where.line,
					    kind == NAME_DOMAIN && other_kind == NAME_DOMAIN &&
							    rec->pub.local
						    ? "; to move it to this app, list it under take_domains"
						    : "");
			*stop = !sig_db_linting(db);
			continue;
		}
		if (kind != NAME_NDPI && strlen(names[i]) > db->domain_max_len)
			db->domain_max_len = strlen(names[i]);
	}
	return rc;
}

/* Builds a name -> app table over one list of every app (domains with
 * their exclusions, or nDPI names); a name in two apps is an error that
 * points at the second. */
static int
finalize_names(sig_db *db, struct sig_strtab *t, int ndpi, char *err, size_t errlen)
{
	size_t n = 0;
	int rc = 0, stop = 0;

	for (size_t a = 0; a < db->n_apps; a++)
		n += ndpi ? db->apps[a]->pub.n_ndpi
			  : db->apps[a]->pub.n_domains + db->apps[a]->pub.n_exclude_domains;
	if (strtab_init(t, n) < 0)
		return sig_db_problem(db, err, errlen, "signatures", 0, "out of memory");
	for (size_t a = 0; a < db->n_apps && !stop; a++) {
		int r = claim_names(db, t, a, ndpi ? NAME_NDPI : NAME_DOMAIN, &stop, err, errlen);
		if (!ndpi && !stop) {
			int rx = claim_names(db, t, a, NAME_EXCLUDED, &stop, err, errlen);
			if (rx)
				r = rx;
		}
		if (r)
			rc = r;
	}
	return rc;
}

static int
pat_cmp(const void *pa, const void *pb)
{
	const struct sig_pat *a = pa, *b = pb;
	int c = strcmp(a->parent, b->parent);

	if (c)
		return c;
	if (a->span != b->span)
		return b->span - a->span; /* two labels outrank one: tried first */
	if (a->lit_len != b->lit_len)
		return a->lit_len > b->lit_len ? -1 : 1;
	if (a->lit_first != b->lit_first)
		return a->lit_first - b->lit_first;
	if (a->app != b->app)
		return a->app < b->app ? -1 : 1;
	if (a->excluded != b->excluded)
		return a->excluded - b->excluded;
	return strcmp(a->text, b->text);
}

/* What a name that fits pat gets: its app, or no app for an exclusion.
 * Two patterns that tie matter only when this differs. */
static uint32_t
pat_outcome(const struct sig_pat *pat)
{
	return pat->excluded ? NO_APP : pat->app;
}

/* The label patterns among app a's domains, or among its exclusions (those
 * under its own domains: the others were reported by claim_names); into
 * pats when not NULL. Returns how many. */
static size_t
app_patterns(const sig_db *db, size_t a, int excluded, struct sig_pat *pats)
{
	const struct sig_app *app = &db->apps[a]->pub;
	char **names = excluded ? app->exclude_domains : app->domains;
	size_t n = excluded ? app->n_exclude_domains : app->n_domains, k = 0;

	for (size_t i = 0; i < n; i++) {
		if (!strchr(names[i], '*') || (excluded && !excluded_pattern_own(app, names[i])))
			continue;
		if (pats) {
			pattern_split(names[i], &pats[k]);
			pats[k].app = (uint32_t)a;
			pats[k].excluded = excluded;
		}
		k++;
	}
	return k;
}

/*
 * A span pattern ("instagram.*.fna.fbcdn.net") ranks two labels over its
 * parent, yet an entry one label over the parent ("video.fna.fbcdn.net")
 * is found first for the names both fit ("instagram.video.fna...").
 * Such entries get SPAN_BELOW, so that the match looks at the parent's
 * span patterns before it answers with the entry.
 */
static void
mark_span_below(sig_db *db, const struct sig_pat *p)
{
	for (size_t i = 0; i <= db->domains.mask; i++) {
		struct sig_slot *s = &db->domains.slots[i];

		if (!s->key || !strictly_under(s->key, s->len, p->parent, p->parent_len))
			continue;
		if (memchr(s->key, '.', s->len) == s->key + s->len - p->parent_len - 1)
			s->value |= SPAN_BELOW; /* one label over; a pattern's text never matches */
	}
}

/*
 * Indexes the label patterns among the apps' domains and exclusions. The
 * patterns went into the domain table as they are written, like any
 * domain or exclusion, so that one listed twice is the usual error with
 * both places; no normalised name holds a '*', so those entries never
 * match a name by themselves. Here each pattern's parent gets the PATTERNS
 * bit (or an entry of its own when no app lists the parent), and patterns
 * that rank the same for one label ("a-*" and "*-b" both fit "a--b") but
 * answer differently (two apps, or an app and an exclusion) are an error:
 * precedence is by the length of the literal, and a tie has no answer.
 */
static int
finalize_patterns(sig_db *db, char *err, size_t errlen)
{
	size_t n = 0, k = 0;
	int rc = 0;

	for (size_t a = 0; a < db->n_apps; a++)
		n += app_patterns(db, a, 0, NULL) + app_patterns(db, a, 1, NULL);
	if (n == 0 || !db->domains.slots)
		return 0; /* none, or the domain table failed and said so */
	db->pats = calloc(n, sizeof(*db->pats));
	if (!db->pats || strtab_init(&db->pat_parents, n) < 0)
		return sig_db_problem(db, err, errlen, "signatures", 0, "out of memory");
	for (size_t a = 0; a < db->n_apps; a++) {
		k += app_patterns(db, a, 0, db->pats + k);
		k += app_patterns(db, a, 1, db->pats + k);
	}
	db->n_pats = n;
	qsort(db->pats, n, sizeof(*db->pats), pat_cmp);

	/* A run is one parent and one literal length, suffix forms ("*-b")
	 * first; a prefix form ties with any suffix form of another outcome
	 * in its run, so the run's first pattern and the first of another
	 * outcome than that are the only partners to look at. */
	size_t run = 0, run_other = SIZE_MAX;
	for (size_t i = 0; i < n; i++) {
		const struct sig_pat *p = &db->pats[i];
		int first_of_parent = i == 0 || strcmp(db->pats[i - 1].parent, p->parent) != 0;

		if (p->span) {
			/* Span patterns come first under a parent; two fit one
			 * name only when they are one text, which claim_names
			 * reported. */
			if (first_of_parent)
				mark_span_below(db, p);
			goto parent;
		}
		if (first_of_parent || db->pats[i - 1].span || db->pats[i - 1].lit_len != p->lit_len) {
			run = i;
			run_other = SIZE_MAX;
		}
		const struct sig_pat *head = &db->pats[run], *q = NULL;
		if (!p->lit_first) {
			if (run_other == SIZE_MAX && pat_outcome(p) != pat_outcome(head))
				run_other = i;
		} else if (!head->lit_first) {
			q = pat_outcome(head) != pat_outcome(p) ? head
			    : run_other != SIZE_MAX	     ? &db->pats[run_other]
							     : NULL;
		}
		if (q) {
			const struct sig_app_rec *pa = db->apps[p->app], *qa = db->apps[q->app];
			struct sig_pos where = name_pos(pa, p->text,
							p->excluded ? NAME_EXCLUDED : NAME_DOMAIN);
			struct sig_pos other = name_pos(qa, q->text,
							q->excluded ? NAME_EXCLUDED : NAME_DOMAIN);
			rc = sig_db_problem(db, err, errlen, where.file, where.line,
					    "%spattern \"%s\" of app \"%s\" is as specific as %spattern "
					    "\"%s\" of app \"%s\" (%s:%d): a label such as \"%.*s%.*s\" "
					    "fits both (make one literal longer, or list such hosts by name)",
					    p->excluded ? "excluded " : "", p->text, pa->pub.slug,
					    q->excluded ? "excluded " : "", q->text, qa->pub.slug,
					    other.file, other.line, (int)p->lit_len, p->lit,
					    (int)q->lit_len, q->lit);
			if (!sig_db_linting(db))
				return rc;
		}
parent:
		if (!first_of_parent)
			continue;

		uint64_t h = hash_bytes(&db->key, p->parent, p->parent_len);
		struct sig_slot *s = strtab_probe(&db->domains, p->parent, p->parent_len, h);
		if (s->key) {
			s->value |= PATTERNS;
		} else if (strtab_add(&db->domains, &db->key, p->parent, NO_APP | PATTERNS,
				      NULL) < 0) {
			return sig_db_problem(db, err, errlen, "signatures", 0, "out of memory");
		}
		if (strtab_add(&db->pat_parents, &db->key, p->parent, (uint32_t)i, NULL) < 0)
			return sig_db_problem(db, err, errlen, "signatures", 0, "out of memory");
	}
	return rc;
}

int
sig_db_finalize(sig_db *db, char *err, size_t errlen)
{
	int bad;

	if (err && errlen && !sig_db_linting(db))
		err[0] = '\0'; /* lint mode: err keeps the first problem of all */
	if (!db)
		return sig_errf(err, errlen, "signatures", 0, "no database");
	if (db->finalized)
		return sig_errf(err, errlen, "signatures", 0, "database already finalized");
	/* Outside lint mode the first failed check ends it; in lint mode every
	 * check runs, so that every problem is reported. */
	bad = finalize_categories(db, err, errlen) < 0;
	if (!bad || sig_db_linting(db))
		bad |= finalize_names(db, &db->domains, 0, err, errlen) < 0;
	if (!bad || sig_db_linting(db))
		bad |= finalize_patterns(db, err, errlen) < 0;
	if (!bad || sig_db_linting(db))
		bad |= finalize_names(db, &db->ndpi, 1, err, errlen) < 0;
	if (!bad || sig_db_linting(db))
		bad |= finalize_ranges(db, err, errlen) < 0;
	if (bad || db->n_problems) {
		/* Leave no half-built index behind for a matcher to trip on. */
		strtab_free(&db->domains);
		strtab_free(&db->ndpi);
		strtab_free(&db->pat_parents);
		free(db->pats);
		db->pats = NULL;
		db->n_pats = 0;
		free(db->segs);
		db->segs = NULL;
		db->n_segs = 0;
		db->domain_max_len = 0;
		return -1;
	}
	db->finalized = 1;
	if (db->cache) {
		/* every file is loaded: what no file used is stale */
		sig_cache_prune(db->cache);
		sig_cache_free(db->cache);
		db->cache = NULL;
	}
	return 0;
}

sig_db *
sig_db_open(const char *path, const char *local_path, char *err, size_t errlen)
{
	sig_db *db = sig_db_new();

	if (!db) {
		sig_errf(err, errlen, path ? path : "signatures", 0, "out of memory");
		return NULL;
	}
	if (sig_db_load_path(db, path, err, errlen) < 0 ||
	    (local_path && sig_db_load_overrides(db, local_path, err, errlen) < 0) ||
	    sig_db_finalize(db, err, errlen) < 0) {
		sig_db_free(db);
		return NULL;
	}
	return db;
}

/* ---- matching -------------------------------------------------------- */

/* The most specific pattern under the parent of slot s that fits label
 * (and label2, the one left of it, NULL when there is none); NULL when none
 * does. */
static const struct sig_pat *
pattern_match(const sig_db *db, const struct sig_slot *s, const char *label, size_t label_len,
	      const char *label2, size_t label2_len)
{
	/* the two tables hash with one key: the parent's hash is s->hash */
	const struct sig_slot *g = strtab_probe(&db->pat_parents, s->key, s->len, s->hash);

	if (!g->key)
		return NULL;
	for (size_t i = g->value; i < db->n_pats; i++) {
		const struct sig_pat *pat = &db->pats[i];
		if (pat->parent_len != s->len || memcmp(pat->parent, s->key, s->len) != 0)
			break;
		if (labels_fit(pat, label, label_len, label2, label2_len))
			return pat;
	}
	return NULL;
}

/* The span pattern of parent [parent, +len) that the labels left of it
 * fit: mid, the one just left of the parent, and label2 left of that. */
static const struct sig_pat *
span_over(const sig_db *db, const char *parent, size_t len, const char *mid, size_t mid_len,
	  const char *label2, size_t label2_len)
{
	const struct sig_slot *s = strtab_find(&db->domains, &db->key, parent, len);

	if (!s || !(s->value & PATTERNS))
		return NULL;
	const struct sig_pat *pat = pattern_match(db, s, mid, mid_len, label2, label2_len);
	return pat && pat->span ? pat : NULL;
}

/* "url1234.vendor.example": the host SendGrid's link branding puts under a
 * sender's domain, through which every click and open of its mail goes.
 * The vendor's mail reaching someone is not that person using the vendor's
 * app, and the label is SendGrid's default for every sender, so such a name
 * under an app's domain is no app unless the app lists it itself. */
static int
is_mail_link_host(const char *name)
{
	if (strncmp(name, "url", 3) != 0 || !isdigit((unsigned char)name[3]))
		return 0;
	for (name += 4; isdigit((unsigned char)*name); name++)
		;
	return *name == '.';
}

const struct sig_app *
sig_match_name(const sig_db *db, const char *name, const char **matched)
{
	const char *p = name, *end, *dot, *label = NULL, *label2 = NULL;

	if (matched)
		*matched = NULL;
	if (!db || !name || !db->finalized || db->domains.n == 0)
		return NULL;
	end = name + strlen(name);
	/* Every domain has two labels at least: the last label alone is never
	 * tried, and suffixes longer than any domain are skipped unhashed. */
	for (; (dot = memchr(p, '.', (size_t)(end - p))) != NULL; label2 = label, label = p, p = dot + 1) {
		size_t len = (size_t)(end - p);
		if (len > db->domain_max_len)
			continue;
		const struct sig_slot *s = strtab_find(&db->domains, &db->key, p, len);
		if (!s)
			continue;
		/* Longer suffixes missed: a pattern on the label just left of
		 * this one outranks the entry itself, and so does a span
		 * pattern of the parent when the entry lies one label over it
		 * (the span ranks two labels over that parent). */
		const struct sig_pat *pat = NULL;
		if ((s->value & PATTERNS) && label)
			pat = pattern_match(db, s, label, (size_t)(p - 1 - label), label2,
					    label2 ? (size_t)(label - 1 - label2) : 0);
		if (!pat && (s->value & SPAN_BELOW) && label)
			pat = span_over(db, dot + 1, (size_t)(end - dot - 1), p, (size_t)(dot - p),
					label, (size_t)(p - 1 - label));
		if (pat) {
			if (pat->excluded)
				return NULL; /* carved out of its app by a pattern */
			if (matched)
				*matched = pat->text;
			return &db->apps[pat->app]->pub;
		}
		if ((s->value & APP_MASK) == NO_APP)
			continue; /* only a parent of patterns */
		if (s->value & EXCLUDED)
			return NULL; /* carved out of its app: no app */
		if (p != name && is_mail_link_host(name))
			return NULL;
		if (matched)
			*matched = s->key;
		return &db->apps[s->value & APP_MASK]->pub;
	}
	return NULL;
}

const struct sig_app *
sig_match_addr(const sig_db *db, const struct sm_addr *addr)
{
	size_t lo = 0, hi;
	const struct sig_seg *s;

	if (!db || !addr || !db->finalized || db->n_segs == 0)
		return NULL;
	/* The first interval that starts after addr; the one before it is the
	 * only candidate. */
	hi = db->n_segs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (range_addr_le(&db->segs[mid].lo, addr))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	s = &db->segs[lo - 1];
	return range_addr_le(addr, &s->hi) ? &db->apps[s->app]->pub : NULL;
}

const struct sig_app *
sig_match_ndpi(const sig_db *db, const char *proto_name)
{
	const struct sig_slot *s;

	if (!db || !proto_name || !db->finalized)
		return NULL;
	s = strtab_find(&db->ndpi, &db->key, proto_name, strlen(proto_name));
	return s ? &db->apps[s->value]->pub : NULL;
}
