/*
 * Unit tests of the parse cache of signature files (sig_db_set_cache_dir):
 * a database loaded through it, cold or warm, is the one loaded without;
 * the entries are what a load reads; a changed file gets a new entry and
 * the old one goes, as does a dead writer's temporary file; a directory that is unsafe or unusable, or lint mode,
 * leaves the load as it was without the cache.
 */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "shadowmap/sbuf.h"
#include "shadowmap/sig.h"
#include "shadowmap/yaml.h"

#define MAX_ENTRIES 4096

static char tmp[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof(tmp), "/tmp/test_sig_cache.XXXXXX");
	return mkdtemp(tmp) ? 0 : -1;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	chmod(path, 0700); /* a test may have left a directory read-only */
	return remove(path);
}

static int
teardown(void **state)
{
	(void)state;
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* The entries' names, sorted; returns how many. */
static size_t
list_entries(const char *dir, char names[][32], ino_t *inodes)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (de->d_name[0] == '.')
			continue;
		/* nothing but entries: no temporary file is left behind */
		assert_int_equal(len, 19);
		assert_string_equal(de->d_name + 16, ".yt");
		assert_true(n < MAX_ENTRIES);
		snprintf(names[n++], 32, "%s", de->d_name);
	}
	closedir(d);
	qsort(names, n, 32, (int (*)(const void *, const void *))strcmp);
	for (size_t i = 0; inodes && i < n; i++) {
		char path[512];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
		inodes[i] = st.st_ino;
	}
	return n;
}

static sig_db *
load(const char *path, const char *cache, int cache_ok)
{
	char err[1024];
	sig_db *db = sig_db_new();

	assert_non_null(db);
	if (cache)
		assert_int_equal(sig_db_set_cache_dir(db, cache, err, sizeof(err)),
				 cache_ok ? 0 : -1);
	if (sig_db_load_path(db, path, err, sizeof(err)) < 0 ||
	    sig_db_finalize(db, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	return db;
}

static void
assert_same_strv(char **a, size_t n_a, char **b, size_t n_b)
{
	assert_int_equal(n_a, n_b);
	for (size_t i = 0; i < n_a; i++)
		assert_string_equal(a[i], b[i]);
}

static void
assert_same_str(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void
assert_same_lookup(const sig_db *a, const sig_db *b, const char *name)
{
	const char *ma = NULL, *mb = NULL;
	const struct sig_app *x = sig_match_name(a, name, &ma);
	const struct sig_app *y = sig_match_name(b, name, &mb);
	if (!x || !y) {
		assert_ptr_equal(x, y);
		return;
	}
	assert_int_equal(x->index, y->index);
	assert_same_str(ma, mb);
}

static void
assert_same_db(const sig_db *a, const sig_db *b)
{
	assert_int_equal(sig_db_app_count(a), sig_db_app_count(b));
	assert_int_equal(sig_db_category_count(a), sig_db_category_count(b));
	for (size_t i = 0; i < sig_db_category_count(a); i++) {
		const struct sig_category *x = sig_db_category(a, i), *y = sig_db_category(b, i);
		assert_string_equal(x->slug, y->slug);
		assert_same_str(x->name, y->name);
		assert_same_str(x->description, y->description);
	}
	for (size_t i = 0; i < sig_db_app_count(a); i++) {
		const struct sig_app *x = sig_db_app(a, i), *y = sig_db_app(b, i);
		assert_string_equal(x->slug, y->slug);
		assert_same_str(x->name, y->name);
		assert_same_str(x->vendor, y->vendor);
		assert_same_str(x->category, y->category);
		assert_same_str(x->file, y->file);
		assert_int_equal(x->line, y->line);
		assert_same_strv(x->domains, x->n_domains, y->domains, y->n_domains);
		assert_same_strv(x->exclude_domains, x->n_exclude_domains, y->exclude_domains,
				 y->n_exclude_domains);
		assert_same_strv(x->ndpi, x->n_ndpi, y->ndpi, y->n_ndpi);
		assert_int_equal(x->n_ranges, y->n_ranges);
		if (x->n_ranges)
			assert_memory_equal(x->ranges, y->ranges, x->n_ranges * sizeof(*x->ranges));
		for (int f = 0; f < SIG_FACT_COUNT; f++) {
			const struct sig_fact *fx = &x->risk[f], *fy = &y->risk[f];
			assert_int_equal(fx->known, fy->known);
			assert_int_equal(fx->answer, fy->answer);
			assert_string_equal(fx->country, fy->country);
			assert_same_strv(fx->items, fx->n_items, fy->items, fy->n_items);
			assert_same_str(fx->source, fy->source);
			assert_same_str(fx->checked, fy->checked);
			assert_same_str(fx->note, fy->note);
		}
		for (size_t d = 0; d < x->n_domains; d++) {
			char name[600];
			const char *dom = x->domains[d];
			if (dom[0] == '*') /* a pattern: a name it covers */
				snprintf(name, sizeof(name), "abc%s", dom + 1);
			else
				snprintf(name, sizeof(name), "www.%s", dom);
			assert_same_lookup(a, b, dom[0] == '*' ? name : dom);
			assert_same_lookup(a, b, name);
		}
		for (size_t d = 0; d < x->n_exclude_domains; d++)
			if (x->exclude_domains[d][0] != '*')
				assert_same_lookup(a, b, x->exclude_domains[d]);
		for (size_t d = 0; d < x->n_ndpi; d++) {
			const struct sig_app *p = sig_match_ndpi(a, x->ndpi[d]);
			const struct sig_app *q = sig_match_ndpi(b, x->ndpi[d]);
			assert_true(p && q && p->index == q->index);
		}
	}
}

static char (*names_a)[32], (*names_b)[32];
static ino_t inodes_a[MAX_ENTRIES], inodes_b[MAX_ENTRIES];

static void
test_same_database(void **state)
{
	const char *sigs = SOURCE_DIR "/signatures";
	char cache[256], err[256], **files;
	size_t n_files, n;
	struct stat st;

	(void)state;
	/* made with its parents, private */
	snprintf(cache, sizeof(cache), "%s/deep/er/cache", tmp);
	assert_int_equal(sig_list_files(sigs, &files, &n_files, err, sizeof(err)), 0);
	sig_files_free(files, n_files);
	sig_db *plain = load(sigs, NULL, 0);
	assert_true(sig_db_app_count(plain) > 100);

	sig_db *cold = load(sigs, cache, 1);
	assert_int_equal(stat(cache, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	n = list_entries(cache, names_a, inodes_a);
	assert_int_equal(n, n_files);
	assert_same_db(plain, cold);

	/* warm: every tree from an entry, none written again */
	sig_db *warm = load(sigs, cache, 1);
	assert_int_equal(list_entries(cache, names_b, inodes_b), n);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(names_a[i], names_b[i]);
		assert_int_equal(inodes_a[i], inodes_b[i]);
	}
	assert_same_db(plain, warm);
	assert_same_lookup(plain, warm, "example.com");
	sig_db_free(plain);
	sig_db_free(cold);
	sig_db_free(warm);
}

static const char categories_yaml[] = "categories:\n  - slug: chat\n    name: Chat\n";
static const char app_yaml[] = "apps:\n  - slug: talk\n    name: Real\n    vendor: V\n    category: chat\n"
			       "    domains: [talk.example]\n";

static void
make_sigs(char *sigs, size_t size, char *cache, size_t csize)
{
	char path[512];
	snprintf(sigs, size, "%s/sigs", tmp);
	snprintf(cache, csize, "%s/cache", tmp);
	assert_int_equal(mkdir(sigs, 0700), 0);
	snprintf(path, sizeof(path), "%s/a-categories.yaml", sigs);
	write_file(path, categories_yaml);
	snprintf(path, sizeof(path), "%s/b-app.yaml", sigs);
	write_file(path, app_yaml);
}

/* The entry whose tree has "apps" at the top. */
static void
app_entry(const char *cache, char *path, size_t size)
{
	size_t n = list_entries(cache, names_a, NULL);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		struct ynode *root;
		char err[256];
		snprintf(path, size, "%s/%s", cache, names_a[i]);
		FILE *fp = fopen(path, "rb");
		assert_non_null(fp);
		unsigned char buf[4096];
		size_t len = fread(buf, 1, sizeof(buf), fp);
		fclose(fp);
		assert_int_equal(yaml_tree_decode(buf, len, &root, err, sizeof(err)), 0);
		int is_app = ynode_map_get(root, "apps") != NULL;
		ynode_free(root);
		if (is_app)
			return;
	}
	fail_msg("no entry for the app file");
}

static void
no_problem(void *arg, const char *problem)
{
	(void)arg;
	fail_msg("%s", problem);
}

static void
test_entries_are_read(void **state)
{
	char sigs[256], cache[256], entry[512], err[256];
	struct ynode *root;
	struct sbuf sb;
	const char *planted = "apps:\n  - slug: talk\n    name: Planted\n    vendor: V\n    category: chat\n"
			      "    domains: [talk.example]\n";

	(void)state;
	make_sigs(sigs, sizeof(sigs), cache, sizeof(cache));
	sig_db_free(load(sigs, cache, 1));
	app_entry(cache, entry, sizeof(entry));

	/* what the entry says is what loads: the file is not parsed */
	assert_int_equal(yaml_read_string("x", planted, strlen(planted), &root, err,
					  sizeof(err)), 0);
	sbuf_init(&sb, 1 << 20);
	assert_int_equal(yaml_tree_encode(root, &sb), 0);
	ynode_free(root);
	FILE *fp = fopen(entry, "wb");
	assert_int_equal(fwrite(sb.data, 1, sb.len, fp), sb.len);
	fclose(fp);
	sbuf_free(&sb);
	sig_db *db = load(sigs, cache, 1);
	assert_string_equal(sig_db_find_app(db, "talk")->name, "Planted");
	sig_db_free(db);

	/* a broken entry costs a parse, and is written anew */
	write_file(entry, "SMyt\x01garbage");
	db = load(sigs, cache, 1);
	assert_string_equal(sig_db_find_app(db, "talk")->name, "Real");
	sig_db_free(db);
	app_entry(cache, entry, sizeof(entry));

	/* lint mode neither reads nor writes entries */
	assert_int_equal(unlink(entry), 0);
	db = sig_db_new();
	sig_db_set_problem_handler(db, no_problem, NULL);
	assert_int_equal(sig_db_set_cache_dir(db, cache, err, sizeof(err)), 0);
	assert_int_equal(sig_db_load_path(db, sigs, err, sizeof(err)), 0);
	assert_int_equal(sig_db_finalize(db, err, sizeof(err)), 0);
	sig_db_free(db);
	assert_int_equal(list_entries(cache, names_a, NULL), 1);
}

static void
test_changed_file(void **state)
{
	char sigs[256], cache[256], path[512];

	(void)state;
	make_sigs(sigs, sizeof(sigs), cache, sizeof(cache));
	sig_db_free(load(sigs, cache, 1));
	assert_int_equal(list_entries(cache, names_a, NULL), 2);
	/* an entry of a file that is gone is stale too */
	snprintf(path, sizeof(path), "%s/0123456789abcdef.yt", cache);
	write_file(path, "old");

	snprintf(path, sizeof(path), "%s/b-app.yaml", sigs);
	write_file(path, "# changed\napps:\n  - slug: talk\n    name: Changed\n    vendor: V\n"
			 "    category: chat\n    domains: [talk.example]\n");
	sig_db *db = load(sigs, cache, 1);
	assert_string_equal(sig_db_find_app(db, "talk")->name, "Changed");
	sig_db_free(db);
	assert_int_equal(list_entries(cache, names_b, NULL), 2);
	/* one name kept (categories), one replaced (the app) */
	int kept = 0;
	for (size_t i = 0; i < 2; i++)
		for (size_t j = 0; j < 2; j++)
			kept += strcmp(names_a[i], names_b[j]) == 0;
	assert_int_equal(kept, 1);
}

/* Sets a file's times to `age` seconds ago. */
static void
age_file(const char *path, time_t age)
{
	struct timespec ts[2] = { { time(NULL) - age, 0 }, { time(NULL) - age, 0 } };
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void
test_crashed_writer(void **state)
{
	char sigs[256], cache[256], old_tmp[512], new_tmp[512], other[512];

	(void)state;
	make_sigs(sigs, sizeof(sigs), cache, sizeof(cache));
	sig_db_free(load(sigs, cache, 1));
	/* what a writer that died before its rename leaves, two hours ago and
	 * now (a writer at work), and a file that is none of the cache's */
	snprintf(old_tmp, sizeof(old_tmp), "%s/0123456789abcdef.yt.4242.7.tmp", cache);
	snprintf(new_tmp, sizeof(new_tmp), "%s/fedcba9876543210.yt.4243.0.tmp", cache);
	snprintf(other, sizeof(other), "%s/notes.tmp", cache);
	write_file(old_tmp, "half an ent");
	write_file(new_tmp, "half an ent");
	write_file(other, "mine");
	age_file(old_tmp, 7200);
	age_file(other, 7200);

	sig_db_free(load(sigs, cache, 1));
	assert_int_equal(access(old_tmp, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(access(new_tmp, F_OK), 0);
	assert_int_equal(access(other, F_OK), 0);
	assert_int_equal(unlink(new_tmp), 0);
	assert_int_equal(unlink(other), 0);
	assert_int_equal(list_entries(cache, names_a, NULL), 2);
}

/* A load through cache (usable or not, as cache_ok says) is the plain
 * one, and leaves no entry there. */
static void
load_writes_nothing(const sig_db *plain, const char *sigs, const char *cache, int cache_ok)
{
	sig_db *db = load(sigs, cache, cache_ok);
	assert_same_db(plain, db);
	sig_db_free(db);
	assert_int_equal(list_entries(cache, names_a, NULL), 0);
}

static void
test_unusable_dirs(void **state)
{
	char sigs[256], cache[256], path[512], err[256];
	sig_db *db;

	(void)state;
	make_sigs(sigs, sizeof(sigs), cache, sizeof(cache));
	sig_db *plain = load(sigs, NULL, 0);

	/* writable by others: not used, not written */
	assert_int_equal(mkdir(cache, 0700), 0);
	assert_int_equal(chmod(cache, 0777), 0);
	load_writes_nothing(plain, sigs, cache, 0);
	assert_int_equal(chmod(cache, 0770), 0);
	load_writes_nothing(plain, sigs, cache, 0);

	/* another user's (root can make one) */
	assert_int_equal(chmod(cache, 0700), 0);
	if (geteuid() == 0) {
		assert_int_equal(chown(cache, 65534, 65534), 0);
		load_writes_nothing(plain, sigs, cache, 0);
		assert_int_equal(chown(cache, 0, 0), 0);
	} else {
		/* read-only: used, but nothing can be written */
		assert_int_equal(chmod(cache, 0500), 0);
		load_writes_nothing(plain, sigs, cache, 1);
		assert_int_equal(chmod(cache, 0700), 0);
	}

	/* cannot be made: under a file; a symbolic link is not followed */
	snprintf(path, sizeof(path), "%s/a-categories.yaml/cache", sigs);
	db = load(sigs, path, 0);
	assert_same_db(plain, db);
	sig_db_free(db);
	snprintf(path, sizeof(path), "%s/link", tmp);
	assert_int_equal(symlink(cache, path), 0);
	db = load(sigs, path, 0);
	sig_db_free(db);
	assert_int_equal(list_entries(cache, names_a, NULL), 0);

	/* none at all */
	db = sig_db_new();
	assert_int_equal(sig_db_set_cache_dir(db, "", err, sizeof(err)), 0);
	sig_db_free(db);
	sig_db_free(plain);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_same_database, setup, teardown),
		cmocka_unit_test_setup_teardown(test_entries_are_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crashed_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unusable_dirs, setup, teardown),
	};
	static char a[MAX_ENTRIES][32], b[MAX_ENTRIES][32];
	names_a = a;
	names_b = b;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
