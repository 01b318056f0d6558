/*
 * Reads signature YAML (signatures/README.md is the schema) into the
 * database of sig.c. Strict on purpose: an unknown key, a wrong type or a
 * malformed domain is an error "file:line: reason", so that a typo in the
 * knowledge base fails loudly in CI instead of silently matching nothing.
 *
 * The YAML itself is read by yaml.c into a tree that keeps every node's
 * line, with libfyaml's diagnostics turned into the same one-line form.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "shadowmap/addr.h"
#include "shadowmap/sig.h"
#include "shadowmap/yaml.h"
#include "sig_int.h"

#define DIR_DEPTH_MAX 16
#define DIR_FILES_MAX 10000u

/* What one file load carries around: where errors go and what is built. */
struct loader {
	sig_db *db;
	const char *file; /* interned path, for messages and records */
	char *err;
	size_t errlen;
};

static int
load_fail(struct loader *ld, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
load_fail(struct loader *ld, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return sig_errf(ld->err, ld->errlen, ld->file, line, "%s", msg);
}

/* ---- field checks ---------------------------------------------------- */

static int
is_slug(const char *s, size_t len)
{
	if (len == 0 || len > SIG_SLUG_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return 0;
	}
	return 1;
}

/* Why s is not a normalised domain (lower case, labels of [a-z0-9_-], two
 * labels at least), or NULL when it is one. */
static const char *
domain_problem(const char *s, size_t len)
{
	size_t label = 0, n_labels = 1, last_start = 0;
	int last_numeric;

	if (len == 0)
		return "is empty";
	if (addr_is_literal(s))
		return "is an IP address (list it under ip_ranges)";
	if (len > 253)
		return "is longer than 253 characters";
	if (s[0] == '.')
		return "starts with a dot";
	if (s[len - 1] == '.')
		return "ends with a dot (write it without)";
	if (memchr(s, '*', len))
		return "has a wildcard (a domain already matches all names under it)";
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0)
				return "has an empty label";
			label = 0;
			n_labels++;
			last_start = i + 1;
			continue;
		}
		if (c >= 'A' && c <= 'Z')
			return "is not lower case";
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return "has a character other than a-z, 0-9, '-', '_' and '.'";
		if (++label > 63)
			return "has a label longer than 63 characters";
	}
	if (n_labels < 2)
		return "has a single label (a registrable domain has two at least)";
	last_numeric = 1;
	for (size_t i = last_start; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			last_numeric = 0;
	if (last_numeric)
		return "ends in a numeric label (an IP address? list it under ip_ranges)";
	return NULL;
}

/* Parses "address/prefix"; returns NULL or why it is not a CIDR. *masked
 * gets the network with the host bits cleared, for the host-bits message. */
static const char *
parse_cidr(const char *s, size_t len, struct sig_range *out, struct sm_addr *masked)
{
	char text[64];
	const char *slash = memchr(s, '/', len);
	size_t addr_len, digits;
	unsigned prefix = 0, max, offset;
	int v6;

	if (!slash)
		return "needs a /prefix length";
	addr_len = (size_t)(slash - s);
	if (addr_len == 0 || addr_len >= sizeof(text))
		return "has a malformed address";
	memcpy(text, s, addr_len);
	text[addr_len] = '\0';
	v6 = memchr(text, ':', addr_len) != NULL;
	if (addr_parse(text, &out->base) < 0)
		return "has a malformed address";
	max = v6 ? 128 : 32;
	offset = v6 ? 0 : 96;
	digits = len - addr_len - 1;
	if (digits == 0 || digits > 3)
		return "has a malformed prefix length";
	for (size_t i = 0; i < digits; i++) {
		char c = slash[1 + i];
		if (c < '0' || c > '9')
			return "has a malformed prefix length";
		prefix = prefix * 10 + (unsigned)(c - '0');
	}
	if (prefix > max)
		return v6 ? "has a prefix length over 128" : "has a prefix length over 32";
	out->prefix_len = (uint8_t)(prefix + offset);
	*masked = out->base;
	for (unsigned bit = out->prefix_len; bit < 128; bit++)
		masked->b[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
	if (memcmp(masked->b, out->base.b, sizeof(masked->b)) != 0)
		return "has host bits set";
	return NULL;
}

/* ---- mappings by table ------------------------------------------------ */

struct field {
	const char *key;
	int required;
	int (*parse)(struct loader *ld, const struct ynode *key, const struct ynode *val,
		     void *rec);
};

/* Applies fields to every key of map; unknown and repeated keys are errors,
 * and so is a missing required key (at the mapping's line). */
static int
walk_mapping(struct loader *ld, const struct ynode *map, const struct field *fields,
	     size_t n_fields, const char *what, void *rec)
{
	unsigned seen = 0; /* one bit per field */
	char q[96];

	for (size_t i = 0; i + 1 < map->n_kids; i += 2) {
		const struct ynode *key = map->kids[i], *val = map->kids[i + 1];
		size_t f;
		if (key->type != YNODE_SCALAR || key->is_null)
			return load_fail(ld, key->line, "%s keys must be plain words", what);
		for (f = 0; f < n_fields; f++)
			if (strlen(fields[f].key) == key->len &&
			    memcmp(fields[f].key, key->text, key->len) == 0)
				break;
		if (f == n_fields) {
			char expected[256];
			size_t o = 0;
			for (size_t k = 0; k < n_fields && o < sizeof(expected); k++) {
				int w = snprintf(expected + o, sizeof(expected) - o, "%s%s",
						 k ? ", " : "", fields[k].key);
				if (w < 0)
					break;
				o += (size_t)w;
			}
			return load_fail(ld, key->line, "unknown key %s in %s (expected %s)",
					 yaml_quote(q, sizeof(q), key->text, key->len), what, expected);
		}
		if (seen & (1u << f))
			return load_fail(ld, key->line, "key \"%s\" given twice in %s",
					 fields[f].key, what);
		seen |= 1u << f;
		if (fields[f].parse(ld, key, val, rec) < 0)
			return -1;
	}
	for (size_t f = 0; f < n_fields; f++)
		if (fields[f].required && !(seen & (1u << f)))
			return load_fail(ld, map->line, "%s has no \"%s\"", what, fields[f].key);
	return 0;
}

/* A single-line (or, with multiline, free) text value, copied to *out. */
static int
get_text(struct loader *ld, const struct ynode *key, const struct ynode *val, int multiline,
	 char **out)
{
	if (val->type != YNODE_SCALAR)
		return load_fail(ld, val->line, "\"%s\" must be a string, not a %s", key->text,
				 val->type == YNODE_MAP ? "mapping" : "list");
	if (val->is_null || val->len == 0)
		return load_fail(ld, val->line, "\"%s\" must not be empty", key->text);
	if (val->len > SIG_TEXT_MAX)
		return load_fail(ld, val->line, "\"%s\" is longer than %u bytes", key->text,
				 SIG_TEXT_MAX);
	for (size_t i = 0; i < val->len; i++) {
		unsigned char c = (unsigned char)val->text[i];
		if (c == 0x7f || (c < 0x20 && !(multiline && (c == '\n' || c == '\t'))))
			return load_fail(ld, val->line, "\"%s\" holds a control character",
					 key->text);
	}
	free(*out);
	*out = strdup(val->text);
	if (!*out)
		return load_fail(ld, val->line, "out of memory");
	return 0;
}

static int
get_slug(struct loader *ld, const struct ynode *key, const struct ynode *val, char **out)
{
	char q[96];

	if (get_text(ld, key, val, 0, out) < 0)
		return -1;
	if (!is_slug(val->text, val->len))
		return load_fail(ld, val->line,
				 "%s %s must be 1 to %u characters of a-z, 0-9 and '-'",
				 key->text, yaml_quote(q, sizeof(q), val->text, val->len),
				 SIG_SLUG_MAX);
	return 0;
}

/* The items of a list of strings; calls add for each. */
static int
get_list(struct loader *ld, const struct ynode *key, const struct ynode *val,
	 const char *item_kind, void *rec,
	 int (*add)(struct loader *ld, const struct ynode *item, void *rec))
{
	if (val->type != YNODE_SEQ)
		return load_fail(ld, val->line, "\"%s\" must be a list of %s", key->text,
				 item_kind);
	if (val->n_kids > SIG_ITEMS_MAX)
		return load_fail(ld, val->line, "\"%s\" has more than %u items", key->text,
				 SIG_ITEMS_MAX);
	for (size_t i = 0; i < val->n_kids; i++) {
		const struct ynode *item = val->kids[i];
		if (item->type != YNODE_SCALAR || item->is_null || item->len == 0)
			return load_fail(ld, item->line, "\"%s\" must be a list of %s",
					 key->text, item_kind);
		if (add(ld, item, rec) < 0)
			return -1;
	}
	return 0;
}

/* ---- categories -------------------------------------------------------- */

static int
cat_slug(struct loader *ld, const struct ynode *key, const struct ynode *val, void *rec)
{
	return get_slug(ld, key, val, &((struct sig_cat_rec *)rec)->pub.slug);
}

static int
cat_name(struct loader *ld, const struct ynode *key, const struct ynode *val, void *rec)
{
	return get_text(ld, key, val, 0, &((struct sig_cat_rec *)rec)->pub.name);
}

static int
cat_description(struct loader *ld, const struct ynode *key, const struct ynode *val,
		void *rec)
{
	return get_text(ld, key, val, 1, &((struct sig_cat_rec *)rec)->pub.description);
}

static const struct field cat_fields[] = {
	{ "slug", 1, cat_slug },
	{ "name", 1, cat_name },
	{ "description", 0, cat_description },
};

static int
load_category(struct loader *ld, const struct ynode *map)
{
	struct sig_cat_rec *rec;
	const struct sig_cat_rec *dup;

	if (map->type != YNODE_MAP)
		return load_fail(ld, map->line, "a category must be a mapping");
	rec = calloc(1, sizeof(*rec));
	if (!rec)
		return load_fail(ld, map->line, "out of memory");
	rec->file = ld->file;
	rec->line = map->line;
	if (walk_mapping(ld, map, cat_fields, sizeof(cat_fields) / sizeof(cat_fields[0]),
			 "category", rec) < 0)
		goto fail;
	if (sig_db_add_category(ld->db, rec, &dup) < 0) {
		if (dup)
			load_fail(ld, map->line,
				  "category \"%s\" is already defined (%s:%d)", rec->pub.slug,
				  dup->file, dup->line);
		else
			load_fail(ld, map->line, "out of memory or too many categories");
		goto fail;
	}
	return 0;
fail:
	sig_cat_rec_free(rec);
	return -1;
}

/* ---- apps ------------------------------------------------------------ */

/* Makes room for item n of one of an app's lists (items of item_size
 * bytes) and its parallel array of lines; returns the new list or NULL.
 * Lists are small: growing by one keeps the code simple and exact. */
static void *
app_grow(void *items, size_t item_size, int **lines, size_t n)
{
	int *nl = realloc(*lines, (n + 1) * sizeof(**lines));

	if (!nl)
		return NULL;
	*lines = nl;
	return realloc(items, (n + 1) * item_size);
}

static int
app_add_domain(struct loader *ld, const struct ynode *item, void *vrec)
{
	struct sig_app_rec *rec = vrec;
	struct sig_app *app = &rec->pub;
	const char *why = domain_problem(item->text, item->len);
	char **domains;
	char q[96];

	if (why || strlen(item->text) != item->len)
		return load_fail(ld, item->line, "domain %s %s",
				 yaml_quote(q, sizeof(q), item->text, item->len),
				 why ? why : "holds a NUL byte");
	for (size_t i = 0; i < app->n_domains; i++)
		if (strcmp(app->domains[i], item->text) == 0)
			return load_fail(ld, item->line,
					 "domain \"%s\" is listed twice in this app (line %d)",
					 item->text, rec->domain_lines[i]);
	domains = app_grow(app->domains, sizeof(*domains), &rec->domain_lines, app->n_domains);
	if (!domains)
		return load_fail(ld, item->line, "out of memory");
	app->domains = domains;
	app->domains[app->n_domains] = strdup(item->text);
	if (!app->domains[app->n_domains])
		return load_fail(ld, item->line, "out of memory");
	rec->domain_lines[app->n_domains++] = item->line;
	return 0;
}

static int
app_add_range(struct loader *ld, const struct ynode *item, void *vrec)
{
	struct sig_app_rec *rec = vrec;
	struct sig_app *app = &rec->pub;
	struct sig_range range;
	struct sm_addr masked;
	const char *why = parse_cidr(item->text, item->len, &range, &masked);
	struct sig_range *ranges;
	char q[96];

	if (why) {
		if (strcmp(why, "has host bits set") == 0) {
			char net[ADDR_STRLEN];
			unsigned shown = range.prefix_len;
			if (!memchr(item->text, ':', item->len))
				shown -= 96;
			return load_fail(ld, item->line,
					 "ip range %s has host bits set (the network is %s/%u)",
					 yaml_quote(q, sizeof(q), item->text, item->len),
					 addr_format(&masked, net, sizeof(net)), shown);
		}
		return load_fail(ld, item->line, "ip range %s %s",
				 yaml_quote(q, sizeof(q), item->text, item->len), why);
	}
	for (size_t i = 0; i < app->n_ranges; i++)
		if (app->ranges[i].prefix_len == range.prefix_len &&
		    memcmp(app->ranges[i].base.b, range.base.b, sizeof(range.base.b)) == 0)
			return load_fail(ld, item->line,
					 "ip range %s is listed twice in this app (line %d)",
					 yaml_quote(q, sizeof(q), item->text, item->len),
					 rec->range_lines[i]);
	ranges = app_grow(app->ranges, sizeof(*ranges), &rec->range_lines, app->n_ranges);
	if (!ranges)
		return load_fail(ld, item->line, "out of memory");
	app->ranges = ranges;
	app->ranges[app->n_ranges] = range;
	rec->range_lines[app->n_ranges++] = item->line;
	return 0;
}

static int
app_add_ndpi(struct loader *ld, const struct ynode *item, void *vrec)
{
	struct sig_app_rec *rec = vrec;
	struct sig_app *app = &rec->pub;
	char **ndpi;
	char q[96];

	/* nDPI names are printable ASCII without spaces ("Sina(Weibo)",
	 * "MsSQL-TDS", "Z39.50"); case matters, as nDPI prints them. */
	int ok = item->len <= SIG_NDPI_MAX;
	for (size_t i = 0; ok && i < item->len; i++)
		ok = item->text[i] > 0x20 && item->text[i] < 0x7f;
	if (!ok)
		return load_fail(ld, item->line,
				 "nDPI protocol %s must be up to %u printable characters without spaces",
				 yaml_quote(q, sizeof(q), item->text, item->len), SIG_NDPI_MAX);
	for (size_t i = 0; i < app->n_ndpi; i++)
		if (strcmp(app->ndpi[i], item->text) == 0)
			return load_fail(ld, item->line,
					 "nDPI protocol \"%s\" is listed twice in this app (line %d)",
					 item->text, rec->ndpi_lines[i]);
	ndpi = app_grow(app->ndpi, sizeof(*ndpi), &rec->ndpi_lines, app->n_ndpi);
	if (!ndpi)
		return load_fail(ld, item->line, "out of memory");
	app->ndpi = ndpi;
	app->ndpi[app->n_ndpi] = strdup(item->text);
	if (!app->ndpi[app->n_ndpi])
		return load_fail(ld, item->line, "out of memory");
	rec->ndpi_lines[app->n_ndpi++] = item->line;
	return 0;
}

static int
app_slug(struct loader *ld, const struct ynode *key, const struct ynode *val, void *rec)
{
	return get_slug(ld, key, val, &((struct sig_app_rec *)rec)->pub.slug);
}

static int
app_name(struct loader *ld, const struct ynode *key, const struct ynode *val, void *rec)
{
	return get_text(ld, key, val, 0, &((struct sig_app_rec *)rec)->pub.name);
}

static int
app_vendor(struct loader *ld, const struct ynode *key, const struct ynode *val, void *rec)
{
	return get_text(ld, key, val, 0, &((struct sig_app_rec *)rec)->pub.vendor);
}

static int
app_category(struct loader *ld, const struct ynode *key, const struct ynode *val, void *rec)
{
	struct sig_app_rec *app = rec;

	app->category_line = val->line;
	return get_slug(ld, key, val, &app->pub.category);
}

static int
app_domains(struct loader *ld, const struct ynode *key, const struct ynode *val, void *rec)
{
	return get_list(ld, key, val, "domains", rec, app_add_domain);
}

static int
app_ranges(struct loader *ld, const struct ynode *key, const struct ynode *val, void *rec)
{
	return get_list(ld, key, val, "CIDR ranges", rec, app_add_range);
}

static int
app_ndpi(struct loader *ld, const struct ynode *key, const struct ynode *val, void *rec)
{
	return get_list(ld, key, val, "nDPI protocol names", rec, app_add_ndpi);
}

static int
app_notes(struct loader *ld, const struct ynode *key, const struct ynode *val, void *rec)
{
	return get_text(ld, key, val, 1, &((struct sig_app_rec *)rec)->notes);
}

/* One row per key of an app; a new key (risk facts, ...) is one row more. */
static const struct field app_fields[] = {
	{ "slug", 1, app_slug },
	{ "name", 1, app_name },
	{ "vendor", 1, app_vendor },
	{ "category", 1, app_category },
	{ "domains", 0, app_domains },
	{ "ip_ranges", 0, app_ranges },
	{ "ndpi", 0, app_ndpi },
	{ "notes", 0, app_notes },
};

static int
load_app(struct loader *ld, const struct ynode *map)
{
	struct sig_app_rec *rec;
	const struct sig_app_rec *dup;

	if (map->type != YNODE_MAP)
		return load_fail(ld, map->line, "an app must be a mapping");
	rec = calloc(1, sizeof(*rec));
	if (!rec)
		return load_fail(ld, map->line, "out of memory");
	rec->pub.file = (char *)ld->file;
	rec->pub.line = map->line;
	if (walk_mapping(ld, map, app_fields, sizeof(app_fields) / sizeof(app_fields[0]),
			 "app", rec) < 0)
		goto fail;
	if (rec->pub.n_domains + rec->pub.n_ranges + rec->pub.n_ndpi == 0) {
		load_fail(ld, map->line,
			  "app \"%s\" needs at least one of domains, ip_ranges and ndpi",
			  rec->pub.slug);
		goto fail;
	}
	if (sig_db_add_app(ld->db, rec, &dup) < 0) {
		if (dup)
			load_fail(ld, map->line, "app \"%s\" is already defined (%s:%d)",
				  rec->pub.slug, dup->pub.file, dup->pub.line);
		else
			load_fail(ld, map->line, "out of memory or too many apps");
		goto fail;
	}
	return 0;
fail:
	sig_app_rec_free(rec);
	return -1;
}

/* ---- files ----------------------------------------------------------- */

static int
load_tree(struct loader *ld, const struct ynode *root)
{
	int seen_cats = 0, seen_apps = 0;

	if (!root || (root->type == YNODE_SCALAR && root->is_null))
		return 0; /* an empty file */
	if (root->type != YNODE_MAP)
		return load_fail(ld, root->line,
				 "the top level must be a mapping with \"categories\" and/or \"apps\"");
	for (size_t i = 0; i + 1 < root->n_kids; i += 2) {
		const struct ynode *key = root->kids[i], *val = root->kids[i + 1];
		int cats;
		char q[96];
		if (key->type == YNODE_SCALAR && strcmp(key->text, "categories") == 0)
			cats = 1;
		else if (key->type == YNODE_SCALAR && strcmp(key->text, "apps") == 0)
			cats = 0;
		else if (key->type == YNODE_SCALAR)
			return load_fail(ld, key->line,
					 "unknown key %s at the top level (expected categories, apps)",
					 yaml_quote(q, sizeof(q), key->text, key->len));
		else
			return load_fail(ld, key->line, "top-level keys must be plain words");
		if (cats ? seen_cats++ : seen_apps++)
			return load_fail(ld, key->line, "key \"%s\" given twice at the top level",
					 key->text);
		if (val->type == YNODE_SCALAR && val->is_null)
			continue; /* "apps:" with nothing yet */
		if (val->type != YNODE_SEQ)
			return load_fail(ld, val->line, "\"%s\" must be a list", key->text);
		for (size_t k = 0; k < val->n_kids; k++)
			if ((cats ? load_category(ld, val->kids[k]) : load_app(ld, val->kids[k])) < 0)
				return -1;
	}
	return 0;
}

static int
load_file(sig_db *db, const char *path, char *err, size_t errlen)
{
	struct loader ld;
	struct ynode *root = NULL;
	int rc = -1;

	memset(&ld, 0, sizeof(ld));
	ld.db = db;
	ld.err = err;
	ld.errlen = errlen;
	ld.file = sig_db_intern_file(db, path);
	if (!ld.file)
		return sig_errf(err, errlen, path, 0, "out of memory");
	if (yaml_read_file(path, SIG_FILE_MAX, &root, err, errlen) < 0)
		goto out;
	rc = load_tree(&ld, root);
out:
	ynode_free(root);
	return rc;
}

/* ---- directories ----------------------------------------------------- */

struct path_list {
	char **v;
	size_t n, cap;
};

/* A signature file: *.yaml or *.yml, but not an example of another
 * format that lives beside them (catalog.example.yaml). */
static int
has_yaml_suffix(const char *name)
{
	size_t n = strlen(name);
	if (n > 13 && strcmp(name + n - 13, ".example.yaml") == 0)
		return 0;
	if (n > 12 && strcmp(name + n - 12, ".example.yml") == 0)
		return 0;
	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
	       (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int
path_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collects the YAML files under dir. Hidden entries (".git", editor
 * droppings) are skipped; symbolic links are followed to a bounded depth. */
static int
collect(const char *dir, int depth, struct path_list *out, char *err, size_t errlen)
{
	DIR *d;
	struct dirent *de;
	int rc = -1;

	if (depth > DIR_DEPTH_MAX)
		return sig_errf(err, errlen, dir, 0, "directories nested too deeply");
	d = opendir(dir);
	if (!d)
		return sig_errf(err, errlen, dir, 0, "cannot open directory: %s", strerror(errno));
	while ((errno = 0, de = readdir(d)) != NULL) {
		char path[PATH_MAX];
		struct stat st;
		int n;
		if (de->d_name[0] == '.')
			continue;
		n = snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			sig_errf(err, errlen, dir, 0, "path too long");
			goto out;
		}
		if (stat(path, &st) < 0) {
			sig_errf(err, errlen, path, 0, "cannot stat: %s", strerror(errno));
			goto out;
		}
		if (S_ISDIR(st.st_mode)) {
			if (collect(path, depth + 1, out, err, errlen) < 0)
				goto out;
			continue;
		}
		if (!S_ISREG(st.st_mode) || !has_yaml_suffix(de->d_name))
			continue;
		if (out->n >= DIR_FILES_MAX) {
			sig_errf(err, errlen, dir, 0, "more than %u signature files", DIR_FILES_MAX);
			goto out;
		}
		if (out->n == out->cap) {
			size_t want = out->cap ? out->cap * 2 : 32;
			char **v = realloc(out->v, want * sizeof(*v));
			if (!v) {
				sig_errf(err, errlen, dir, 0, "out of memory");
				goto out;
			}
			out->v = v;
			out->cap = want;
		}
		out->v[out->n] = strdup(path);
		if (!out->v[out->n]) {
			sig_errf(err, errlen, dir, 0, "out of memory");
			goto out;
		}
		out->n++;
	}
	if (errno) {
		sig_errf(err, errlen, dir, 0, "cannot read directory: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	closedir(d);
	return rc;
}

int
sig_db_load_path(sig_db *db, const char *path, char *err, size_t errlen)
{
	struct path_list files = { NULL, 0, 0 };
	struct stat st;
	int rc = -1;

	if (err && errlen)
		err[0] = '\0';
	if (!db || !path)
		return sig_errf(err, errlen, path ? path : "signatures", 0, "no database or path");
	if (sig_db_is_finalized(db))
		return sig_errf(err, errlen, path, 0, "database already finalized");
	if (stat(path, &st) < 0)
		return sig_errf(err, errlen, path, 0, "cannot open: %s", strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return load_file(db, path, err, errlen);

	if (collect(path, 0, &files, err, errlen) < 0)
		goto out;
	/* Whole paths in byte order: the same tree loads the same way on every
	 * machine, whatever order readdir gives. */
	if (files.n > 1)
		qsort(files.v, files.n, sizeof(*files.v), path_cmp);
	for (size_t i = 0; i < files.n; i++)
		if (load_file(db, files.v[i], err, errlen) < 0)
			goto out;
	rc = 0;
out:
	for (size_t i = 0; i < files.n; i++)
		free(files.v[i]);
	free(files.v);
	return rc;
}
