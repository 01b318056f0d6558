/*
 * The sanctioned service catalog (catalog.h): a strict loader for the
 * organisation's YAML file and lookups by app slug. The file is small
 * (hundreds of entries), so entries sit in one array sorted by slug.
 * Everything a catalog points to is owned by it and freed with it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shadowmap/catalog.h"
#include "shadowmap/yaml.h"

#define CATALOG_MAX_ENTRIES 100000
#define CATALOG_LIST_MAX 256 /* covers / alternatives per entry */

struct catalog {
	struct catalog_entry *entries; /* sorted by app */
	size_t n;
	char *organisation;
};

struct loader {
	const char *path;
	const sig_db *sigs;
	char *err;
	size_t errlen;
	int failed;
};

static void load_fail(struct loader *ld, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
load_fail(struct loader *ld, int line, const char *fmt, ...)
{
	if (ld->failed)
		return;
	ld->failed = 1;
	int n = line > 0 ? snprintf(ld->err, ld->errlen, "%s:%d: ", ld->path, line)
			 : snprintf(ld->err, ld->errlen, "%s: ", ld->path);
	if (n < 0 || (size_t)n >= ld->errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ld->err + n, ld->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static const char *const status_names[] = {
	[CATALOG_NOT_LISTED] = "not-in-catalog",
	[CATALOG_SANCTIONED] = "sanctioned",
	[CATALOG_TOLERATED] = "tolerated",
	[CATALOG_UNSANCTIONED] = "unsanctioned",
	[CATALOG_BANNED] = "banned",
};

const char *
catalog_status_name(enum catalog_status s)
{
	if ((size_t)s >= sizeof(status_names) / sizeof(status_names[0]))
		return "not-in-catalog";
	return status_names[s];
}

static void
free_list(char **list)
{
	if (!list)
		return;
	for (char **p = list; *p; p++)
		free(*p);
	free(list);
}

static void
entry_clear(struct catalog_entry *e)
{
	free((char *)e->app);
	free((char *)e->owner);
	free((char *)e->notes);
	free_list((char **)e->covers);
	free_list((char **)e->alternatives);
}

void
catalog_free(struct catalog *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		entry_clear(&c->entries[i]);
	free(c->entries);
	free(c->organisation);
	free(c);
}

struct catalog *
catalog_empty(void)
{
	return calloc(1, sizeof(struct catalog));
}

/* A slug as the signatures write them: [a-z0-9-], 1 to 64 characters. */
static int
is_slug(const struct ynode *v)
{
	if (v->len == 0 || v->len > 64 || strlen(v->text) != v->len)
		return 0;
	for (size_t i = 0; i < v->len; i++) {
		char ch = v->text[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
			return 0;
	}
	return 1;
}

/* A one-line string: no control characters, no NUL. */
static char *
take_line(struct loader *ld, const struct ynode *v, const char *key)
{
	char q[96];
	if (v->type != YNODE_SCALAR || v->is_null) {
		load_fail(ld, v->line, "%s: expected a string", key);
		return NULL;
	}
	if (strlen(v->text) != v->len || v->len > 4096) {
		load_fail(ld, v->line, "%s: %s", key,
			  v->len > 4096 ? "longer than 4096 bytes" : "holds a NUL byte");
		return NULL;
	}
	for (size_t i = 0; i < v->len; i++) {
		unsigned char ch = (unsigned char)v->text[i];
		if (ch < 0x20 || ch == 0x7f) {
			load_fail(ld, v->line, "%s: control character in %s", key,
				  yaml_quote(q, sizeof(q), v->text, v->len));
			return NULL;
		}
	}
	char *s = strdup(v->text);
	if (!s)
		load_fail(ld, v->line, "out of memory");
	return s;
}

/* Free text that may span lines: only NUL is refused. */
static char *
take_text(struct loader *ld, const struct ynode *v, const char *key)
{
	if (v->type != YNODE_SCALAR || v->is_null) {
		load_fail(ld, v->line, "%s: expected a string", key);
		return NULL;
	}
	if (strlen(v->text) != v->len) {
		load_fail(ld, v->line, "%s: holds a NUL byte", key);
		return NULL;
	}
	char *s = strdup(v->text);
	if (!s)
		load_fail(ld, v->line, "out of memory");
	return s;
}

static int
app_known(const struct loader *ld, const char *slug)
{
	return !ld->sigs || sig_db_find_app(ld->sigs, slug) != NULL;
}

/*
 * A list of slugs (covers: categories; alternatives: apps), each once,
 * each known to the signatures when they are given. NULL-terminated.
 */
static char **
take_slug_list(struct loader *ld, const struct ynode *v, const char *key, int of_apps,
	       const char *self)
{
	char q[96];
	if (v->type != YNODE_SEQ) {
		load_fail(ld, v->line, "%s: expected a list of %s slugs", key,
			  of_apps ? "app" : "category");
		return NULL;
	}
	if (v->n_kids > CATALOG_LIST_MAX) {
		load_fail(ld, v->line, "%s: more than %d entries", key, CATALOG_LIST_MAX);
		return NULL;
	}
	char **list = calloc(v->n_kids + 1, sizeof(*list));
	if (!list) {
		load_fail(ld, v->line, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < v->n_kids; i++) {
		const struct ynode *it = v->kids[i];
		if (it->type != YNODE_SCALAR || it->is_null || !is_slug(it)) {
			load_fail(ld, it->line, "%s: %s is not a slug ([a-z0-9-], 1-64 characters)",
				  key, it->type == YNODE_SCALAR && !it->is_null
					       ? yaml_quote(q, sizeof(q), it->text, it->len)
					       : "this entry");
			goto fail;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(list[j], it->text) == 0) {
				load_fail(ld, it->line, "%s: \"%s\" is listed twice", key, it->text);
				goto fail;
			}
		}
		if (of_apps && self && strcmp(it->text, self) == 0) {
			load_fail(ld, it->line, "%s: \"%s\" is the app itself", key, it->text);
			goto fail;
		}
		if (of_apps && !app_known(ld, it->text)) {
			load_fail(ld, it->line, "%s: unknown app \"%s\" (not in the signatures)", key,
				  it->text);
			goto fail;
		}
		if (!of_apps && ld->sigs && !sig_db_find_category(ld->sigs, it->text)) {
			load_fail(ld, it->line, "%s: unknown category \"%s\" (not in the signatures)",
				  key, it->text);
			goto fail;
		}
		list[i] = strdup(it->text);
		if (!list[i]) {
			load_fail(ld, it->line, "out of memory");
			goto fail;
		}
	}
	return list;
fail:
	free_list(list);
	return NULL;
}

static int
parse_status(struct loader *ld, const struct ynode *v, enum catalog_status *out)
{
	char q[96];
	if (v->type == YNODE_SCALAR && !v->is_null) {
		for (int s = CATALOG_SANCTIONED; s <= CATALOG_BANNED; s++) {
			if (strcmp(v->text, status_names[s]) == 0) {
				*out = (enum catalog_status)s;
				return 0;
			}
		}
	}
	load_fail(ld, v->line, "unknown status %s (expected sanctioned, tolerated, "
		  "unsanctioned or banned)",
		  v->type == YNODE_SCALAR ? yaml_quote(q, sizeof(q), v->text, v->len) : "here");
	return -1;
}

static int
parse_entry(struct loader *ld, const struct ynode *m, struct catalog_entry *e)
{
	static const char *const keys[] = { "app", "status", "covers", "owner",
					    "alternatives", "notes", NULL };
	char q[96];
	const struct ynode *covers = NULL, *alts = NULL;
	int have_status = 0;

	e->line = m->line;
	if (m->type != YNODE_MAP) {
		load_fail(ld, m->line, "an app entry must be a mapping (app: SLUG, status: ...)");
		return -1;
	}
	for (size_t i = 0; i + 1 < m->n_kids; i += 2) {
		const struct ynode *k = m->kids[i], *v = m->kids[i + 1];
		int known = 0;
		for (int j = 0; keys[j]; j++)
			known |= k->type == YNODE_SCALAR && strcmp(k->text, keys[j]) == 0;
		if (!known) {
			load_fail(ld, k->line, "unknown key %s in an app entry (expected app, status, "
				  "covers, owner, alternatives, notes)",
				  k->type == YNODE_SCALAR ? yaml_quote(q, sizeof(q), k->text, k->len)
							  : "here");
			return -1;
		}
		for (size_t j = 0; j < i; j += 2) {
			if (strcmp(m->kids[j]->text, k->text) == 0) {
				load_fail(ld, k->line, "%s: given twice (first on line %d)", k->text,
					  m->kids[j]->line);
				return -1;
			}
		}
		if (strcmp(k->text, "app") == 0) {
			if (v->type != YNODE_SCALAR || v->is_null || !is_slug(v)) {
				load_fail(ld, v->line, "app: expected an app slug ([a-z0-9-], 1-64 "
					  "characters)");
				return -1;
			}
			e->app = strdup(v->text);
			if (!e->app) {
				load_fail(ld, v->line, "out of memory");
				return -1;
			}
			if (!app_known(ld, e->app)) {
				load_fail(ld, v->line, "unknown app \"%s\" (not in the signatures; an "
					  "organisation's own apps go in a local signature file)", e->app);
				return -1;
			}
		} else if (strcmp(k->text, "status") == 0) {
			if (parse_status(ld, v, &e->status) < 0)
				return -1;
			have_status = 1;
		} else if (strcmp(k->text, "owner") == 0) {
			if (!(e->owner = take_line(ld, v, "owner")))
				return -1;
		} else if (strcmp(k->text, "notes") == 0) {
			if (!(e->notes = take_text(ld, v, "notes")))
				return -1;
		} else if (strcmp(k->text, "covers") == 0) {
			covers = v;
		} else {
			alts = v;
		}
	}
	if (!e->app) {
		load_fail(ld, m->line, "an app entry without \"app\"");
		return -1;
	}
	if (!have_status) {
		load_fail(ld, m->line, "app \"%s\" has no status", e->app);
		return -1;
	}
	if (covers) {
		/* Coverage is what the demand analysis credits to a service the
		 * organisation offers; a banned app covers nothing. */
		if (e->status != CATALOG_SANCTIONED) {
			load_fail(ld, covers->line, "covers: only a sanctioned app covers categories "
				  "(\"%s\" is %s)", e->app, status_names[e->status]);
			return -1;
		}
		if (!(e->covers = (const char *const *)take_slug_list(ld, covers, "covers", 0, NULL)))
			return -1;
	} else if (e->status == CATALOG_SANCTIONED && ld->sigs) {
		/* By default a sanctioned app covers its own category. */
		const struct sig_app *a = sig_db_find_app(ld->sigs, e->app);
		char **list = calloc(2, sizeof(*list));
		if (!list || !(list[0] = strdup(a->category))) {
			free(list);
			load_fail(ld, m->line, "out of memory");
			return -1;
		}
		e->covers = (const char *const *)list;
	}
	if (alts && !(e->alternatives = (const char *const *)take_slug_list(ld, alts,
									    "alternatives", 1,
									    e->app)))
		return -1;
	return 0;
}

static int
entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct catalog_entry *)a)->app,
		      ((const struct catalog_entry *)b)->app);
}

struct catalog *
catalog_load(const char *path, const sig_db *sigs, char *err, size_t errlen)
{
	struct loader ld = { path, sigs, err, errlen, 0 };
	struct ynode *root = NULL;
	struct catalog *c = NULL;
	char q[96];

	if (yaml_read_file(path, YAML_FILE_MAX, &root, err, errlen) < 0)
		return NULL;
	c = catalog_empty();
	if (!c) {
		load_fail(&ld, 0, "out of memory");
		goto fail;
	}
	if (!root)
		goto done; /* an empty file: nothing is in the catalog */
	if (root->type != YNODE_MAP) {
		load_fail(&ld, root->line, "expected a mapping with \"apps\" (and optionally "
			  "\"organisation\")");
		goto fail;
	}
	const struct ynode *apps = NULL;
	for (size_t i = 0; i + 1 < root->n_kids; i += 2) {
		const struct ynode *k = root->kids[i], *v = root->kids[i + 1];
		if (k->type == YNODE_SCALAR && strcmp(k->text, "apps") == 0 && !apps) {
			apps = v;
		} else if (k->type == YNODE_SCALAR && strcmp(k->text, "organisation") == 0 &&
			   !c->organisation) {
			if (!(c->organisation = take_line(&ld, v, "organisation")))
				goto fail;
		} else {
			load_fail(&ld, k->line, "unknown or repeated key %s at the top (expected "
				  "apps, organisation)",
				  k->type == YNODE_SCALAR ? yaml_quote(q, sizeof(q), k->text, k->len)
							  : "here");
			goto fail;
		}
	}
	if (!apps || apps->is_null)
		goto done;
	if (apps->type != YNODE_SEQ) {
		load_fail(&ld, apps->line, "apps: expected a list of app entries");
		goto fail;
	}
	if (apps->n_kids > CATALOG_MAX_ENTRIES) {
		load_fail(&ld, apps->line, "apps: more than %d entries", CATALOG_MAX_ENTRIES);
		goto fail;
	}
	c->entries = calloc(apps->n_kids ? apps->n_kids : 1, sizeof(*c->entries));
	if (!c->entries) {
		load_fail(&ld, apps->line, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < apps->n_kids; i++) {
		struct catalog_entry *e = &c->entries[c->n++];
		if (parse_entry(&ld, apps->kids[i], e) < 0)
			goto fail;
	}
	qsort(c->entries, c->n, sizeof(*c->entries), entry_cmp);
	for (size_t i = 1; i < c->n; i++) {
		if (strcmp(c->entries[i].app, c->entries[i - 1].app) == 0) {
			const struct catalog_entry *a = &c->entries[i - 1], *b = &c->entries[i];
			if (a->line > b->line) {
				const struct catalog_entry *t = a;
				a = b;
				b = t;
			}
			load_fail(&ld, b->line, "app \"%s\" is listed twice (first on line %d)",
				  b->app, a->line);
			goto fail;
		}
	}
done:
	ynode_free(root);
	return c;
fail:
	ynode_free(root);
	catalog_free(c);
	return NULL;
}

const struct catalog_entry *
catalog_find(const struct catalog *c, const char *app)
{
	if (!c || !app || c->n == 0)
		return NULL;
	struct catalog_entry key = { .app = app };
	return bsearch(&key, c->entries, c->n, sizeof(*c->entries), entry_cmp);
}

enum catalog_status
catalog_status_of(const struct catalog *c, const char *app)
{
	const struct catalog_entry *e = catalog_find(c, app);
	return e ? e->status : CATALOG_NOT_LISTED;
}

size_t
catalog_count(const struct catalog *c)
{
	return c ? c->n : 0;
}

const struct catalog_entry *
catalog_entry_at(const struct catalog *c, size_t i)
{
	return c && i < c->n ? &c->entries[i] : NULL;
}

int
catalog_covers(const struct catalog_entry *e, const sig_db *sigs, const char *category)
{
	if (!e || e->status != CATALOG_SANCTIONED || !category)
		return 0;
	if (e->covers && e->covers[0]) {
		for (const char *const *c = e->covers; *c; c++)
			if (strcmp(*c, category) == 0)
				return 1;
		return 0;
	}
	const struct sig_app *a = sigs ? sig_db_find_app(sigs, e->app) : NULL;
	return a && a->category && strcmp(a->category, category) == 0;
}
