/*
 * Unit tests of the collector's SQLite store (collector/store.h), on real
 * database files in a fresh temporary directory: opening and refusing
 * files, ingest and its idempotence, totals and grouped queries against a
 * brute-force reference over ranges that cut days (with nothing, part or
 * all of the raw rows rolled up), re-mapping with signatures, tokens, two
 * writers and a reader at once, and failures that must leave nothing
 * half-written (an unwritable directory, a full database). Group commit:
 * several batches in one transaction, duplicates within the group and
 * against stored ones, and a batch that does not fit failing alone.
 * Where traffic goes: country and network as part of a key, each unknown
 * domain's top network and the usage per network against the reference,
 * and a version 1 database (made here with the schema as released)
 * migrated with its rows kept.
 */
#define _GNU_SOURCE /* nftw */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h> /* only to make a database as version 1 made them */

#include "shadowmap/addr.h"
#include "shadowmap/log.h"
#include "shadowmap/sig.h"
#include "shadowmap/usage.h"
#include "store.h"

#define USEC 1000000LL
#define DAY (86400LL * USEC)
#define BUCKET (300LL * USEC)
/* 2024-10-06 00:00:00 UTC, a day boundary */
#define DAY0 (20002LL * DAY)

/* ---- fixture: one temporary directory per test ------------------------ */

struct fixture {
	char dir[64];
	char db[128];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/shadowmap-store-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->db, sizeof(f->db), "%s/store.db", f->dir);
	*state = f;
	return 0;
}

static int
rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	if (type == FTW_DP || type == FTW_D || type == FTW_DNR)
		chmod(path, 0700);
	return remove(path);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	chmod(f->dir, 0700);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static struct store *
open_ok(const char *path)
{
	char err[512];
	struct store *st = store_open(path, err, sizeof(err));
	if (!st)
		fail_msg("store_open %s: %s", path, err);
	return st;
}

static int
file_exists(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0;
}

/* ---- records ---------------------------------------------------------- */

static struct usage_record
rec(int64_t bucket_start, const char *client, const char *host, const char *domain,
    const char *app, uint64_t bytes_up, uint64_t bytes_down)
{
	struct usage_record r;
	memset(&r, 0, sizeof(r));
	r.bucket_start = bucket_start;
	r.bucket_seconds = BUCKET / USEC;
	if (client) {
		if (addr_parse(client, &r.client) != 0)
			fail_msg("bad test address %s", client);
		r.has_client = 1;
	}
	r.host = host;
	r.domain = domain;
	r.app = app;
	r.category = app ? "cat-of-agent" : NULL;
	r.ndpi_proto = host ? "TLS" : NULL;
	r.flows = 1;
	r.packets = 10;
	r.bytes_up = bytes_up;
	r.bytes_down = bytes_down;
	r.first_seen = bucket_start + 1000;
	r.last_seen = bucket_start + BUCKET - 1000;
	return r;
}

static void
ingest_ok(struct store *st, const char *batch_id, const struct usage_record *recs, size_t n)
{
	enum store_ingest_result res = store_ingest(st, batch_id, "agent-1", recs, n);
	if (res != STORE_STORED)
		fail_msg("ingest %s: %d: %s", batch_id, (int)res, store_error(st));
}

static struct store_totals
totals(struct store *st, int64_t from, int64_t to)
{
	struct store_totals t;
	if (store_get_totals(st, from, to, &t) != 0)
		fail_msg("totals: %s", store_error(st));
	return t;
}

/* ---- collecting query rows -------------------------------------------- */

#define MAX_ROWS 256

struct app_rows {
	size_t n;
	char name[MAX_ROWS][64]; /* "" for NULL */
	int is_null[MAX_ROWS];
	char category[MAX_ROWS][64];
	struct store_app_row row[MAX_ROWS];
};

static int
collect_app(void *arg, const struct store_app_row *r)
{
	struct app_rows *rows = arg;
	if (rows->n == MAX_ROWS)
		return 99;
	snprintf(rows->name[rows->n], 64, "%s", r->app ? r->app : "");
	rows->is_null[rows->n] = r->app == NULL;
	snprintf(rows->category[rows->n], 64, "%s", r->category ? r->category : "");
	rows->row[rows->n] = *r;
	rows->row[rows->n].app = NULL;
	rows->row[rows->n].category = NULL;
	rows->n++;
	return 0;
}

static int
collect_app_stop(void *arg, const struct store_app_row *r)
{
	return 42;
}

static struct app_rows *
apps(struct store *st, int64_t from, int64_t to)
{
	struct app_rows *rows = calloc(1, sizeof(*rows));
	assert_non_null(rows);
	if (store_apps(st, from, to, collect_app, rows) != 0)
		fail_msg("apps: %s", store_error(st));
	return rows;
}

/* The row of app (NULL: the no-app group), or NULL. */
static const struct store_app_row *
app_row(const struct app_rows *rows, const char *app)
{
	for (size_t i = 0; i < rows->n; i++)
		if (app ? !rows->is_null[i] && strcmp(rows->name[i], app) == 0 : rows->is_null[i])
			return &rows->row[i];
	return NULL;
}

struct generic_row {
	char name[64];
	int is_null;
	uint64_t a, b; /* users/apps, hosts/... per query */
	uint64_t flows, packets, bytes_up, bytes_down;
	int64_t first_seen, last_seen;
};

struct generic_rows {
	size_t n;
	struct generic_row row[MAX_ROWS];
};

static int
collect_category(void *arg, const struct store_category_row *r)
{
	struct generic_rows *rows = arg;
	struct generic_row *g = &rows->row[rows->n++];
	snprintf(g->name, sizeof(g->name), "%s", r->category ? r->category : "");
	g->is_null = r->category == NULL;
	g->a = r->users;
	g->b = r->apps;
	g->bytes_up = r->bytes_up;
	g->bytes_down = r->bytes_down;
	return rows->n == MAX_ROWS;
}

static int
collect_client(void *arg, const struct store_client_row *r)
{
	struct generic_rows *rows = arg;
	struct generic_row *g = &rows->row[rows->n++];
	snprintf(g->name, sizeof(g->name), "%s", r->client);
	g->a = r->apps;
	g->flows = r->flows;
	g->packets = r->packets;
	g->bytes_up = r->bytes_up;
	g->bytes_down = r->bytes_down;
	return rows->n == MAX_ROWS;
}

static int
collect_domain(void *arg, const struct store_domain_row *r)
{
	struct generic_rows *rows = arg;
	struct generic_row *g = &rows->row[rows->n++];
	snprintf(g->name, sizeof(g->name), "%s", r->domain ? r->domain : "");
	g->a = r->users;
	g->b = r->hosts;
	g->bytes_up = r->bytes_up;
	g->bytes_down = r->bytes_down;
	return rows->n == MAX_ROWS;
}

static const struct generic_row *
find_row(const struct generic_rows *rows, const char *name)
{
	for (size_t i = 0; i < rows->n; i++)
		if (name ? !rows->row[i].is_null && strcmp(rows->row[i].name, name) == 0
			 : rows->row[i].is_null)
			return &rows->row[i];
	return NULL;
}

/* ---- signatures ------------------------------------------------------- */

static const char sig_yaml[] =
	"categories:\n"
	"  - slug: file-sharing\n"
	"    name: File sharing\n"
	"  - slug: messaging\n"
	"    name: Messaging\n"
	"apps:\n"
	"  - slug: examplesaas\n"
	"    name: ExampleSaaS\n"
	"    vendor: Example Inc.\n"
	"    category: file-sharing\n"
	"    domains: [examplesaas.com]\n"
	"    ndpi: [ExampleSaaS]\n"
	"  - slug: chatco\n"
	"    name: ChatCo\n"
	"    vendor: ChatCo Ltd\n"
	"    category: messaging\n"
	"    domains: [chatco.example]\n"
	"    ndpi: [ChatMaster]\n";

/* Writes yaml into the fixture directory and loads it, finalized. */
static sig_db *
load_sigs(const struct fixture *f, const char *name, const char *yaml)
{
	char path[192], err[512];
	FILE *fp;
	sig_db *db = sig_db_new();

	assert_non_null(db);
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(yaml, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	if (sig_db_load_path(db, path, err, sizeof(err)) != 0)
		fail_msg("load %s: %s", path, err);
	if (sig_db_finalize(db, err, sizeof(err)) != 0)
		fail_msg("finalize %s: %s", path, err);
	return db;
}

/* ---- the database file's header --------------------------------------- */

/* SQLite's header: user_version at byte 60, application_id at 68, both
 * big-endian; bytes 18 and 19 are 2 in WAL mode. Patched on a closed
 * database to make files that other programs (or versions) would write. */
static void
header_read(const char *path, unsigned char hdr[100])
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, hdr, 100, 0), 100);
	close(fd);
}

static void
header_put32(const char *path, off_t off, uint32_t v)
{
	unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
			      (unsigned char)(v >> 8), (unsigned char)v};
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, b, 4, off), 4);
	assert_int_equal(fsync(fd), 0);
	close(fd);
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A store with a little data, closed: the WAL is folded into the file. */
static void
make_db(const struct fixture *f)
{
	char wal[160];
	struct store *st = open_ok(f->db);
	struct usage_record r = rec(DAY0, "10.0.0.1", "a.example.com", "example.com", NULL,
				    1, 2);
	ingest_ok(st, "b-0", &r, 1);
	store_close(st);
	snprintf(wal, sizeof(wal), "%s-wal", f->db);
	assert_false(file_exists(wal));
}

/* ---- open, migrate, refuse -------------------------------------------- */

static void
test_open_migrate_reopen(void **state)
{
	struct fixture *f = *state;
	unsigned char hdr[100];
	struct store_totals t;
	struct store *st;

	make_db(f);
	header_read(f->db, hdr);
	assert_memory_equal(hdr, "SQLite format 3", 16);
	assert_int_equal(hdr[18], 2); /* WAL */
	assert_int_equal(hdr[19], 2);
	assert_int_equal(get32(hdr + 60), 2);          /* schema version 2 */
	assert_int_equal(get32(hdr + 68), 0x53684d70); /* "ShMp" */

	/* Reopening migrates nothing and keeps the data. */
	st = open_ok(f->db);
	t = totals(st, 0, 0);
	assert_int_equal(t.records, 1);
	assert_int_equal(t.bytes_up, 1);
	assert_int_equal(t.bytes_down, 2);
	assert_string_equal(store_error(st), "no error");
	store_close(st);
	header_read(f->db, hdr);
	assert_int_equal(get32(hdr + 60), 2);

	/* An empty file is a new database, not a foreign one. */
	char empty[160];
	snprintf(empty, sizeof(empty), "%s/empty.db", f->dir);
	int fd = open(empty, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	st = open_ok(empty);
	store_close(st);
}

static void
test_refuse_newer_schema(void **state)
{
	struct fixture *f = *state;
	char err[512];

	make_db(f);
	header_put32(f->db, 60, 999);
	assert_null(store_open(f->db, err, sizeof(err)));
	assert_non_null(strstr(err, f->db));
	assert_non_null(strstr(err, "newer"));
	assert_non_null(strstr(err, "999"));
	assert_null(strchr(err, '\n'));
}

static void
test_refuse_foreign_files(void **state)
{
	struct fixture *f = *state;
	char err[512], text_path[160], buf[64];
	unsigned char hdr[100];
	FILE *fp;

	/* A text file, left as it was. */
	snprintf(text_path, sizeof(text_path), "%s/notes.txt", f->dir);
	fp = fopen(text_path, "w");
	assert_non_null(fp);
	for (int i = 0; i < 200; i++)
		fputs("this is not a database\n", fp);
	fclose(fp);
	assert_null(store_open(text_path, err, sizeof(err)));
	assert_non_null(strstr(err, "not a shadowmap database"));
	fp = fopen(text_path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(buf, sizeof(buf), fp));
	assert_string_equal(buf, "this is not a database\n");
	fclose(fp);

	/* An SQLite database with tables of its own and user_version 0. */
	make_db(f);
	header_put32(f->db, 60, 0);
	header_put32(f->db, 68, 0);
	assert_null(store_open(f->db, err, sizeof(err)));
	assert_non_null(strstr(err, "not a shadowmap database"));

	/* Another program's application id, with a version of its own. */
	header_put32(f->db, 60, 1);
	header_put32(f->db, 68, 0x0f055112);
	assert_null(store_open(f->db, err, sizeof(err)));
	assert_non_null(strstr(err, "not a shadowmap database"));
	assert_non_null(strstr(err, "0x0f055112"));
	header_read(f->db, hdr); /* refused: not converted, not touched */
	assert_int_equal(get32(hdr + 68), 0x0f055112);
}

static void
test_unwritable_directory(void **state)
{
	struct fixture *f = *state;
	char path[192], err[512];

	if (geteuid() == 0) {
		/* root writes anywhere: a missing directory instead */
		snprintf(path, sizeof(path), "%s/missing/dir/store.db", f->dir);
	} else {
		char ro[160];
		snprintf(ro, sizeof(ro), "%s/ro", f->dir);
		assert_int_equal(mkdir(ro, 0555), 0);
		snprintf(path, sizeof(path), "%s/store.db", ro);
	}
	err[0] = '\0';
	assert_null(store_open(path, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "cannot create it"));
	assert_null(strchr(err, '\n'));
	assert_false(file_exists(path));
}

/* ---- ingest ----------------------------------------------------------- */

static void
test_ingest_and_duplicate(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->db);
	struct usage_record r[3] = {
		rec(DAY0, "10.0.0.1", "a.example.com", "example.com", NULL, 100, 1000),
		rec(DAY0, "10.0.0.2", "a.example.com", "example.com", NULL, 200, 2000),
		rec(DAY0 + BUCKET, "10.0.0.1", NULL, NULL, "someapp", 300, 3000),
	};
	struct usage_record other = rec(DAY0, "10.0.0.9", "z.example.org", "example.org",
					NULL, 7, 7);
	struct store_totals t;

	ingest_ok(st, "batch-1", r, 3);
	t = totals(st, 0, 0);
	assert_int_equal(t.records, 3);
	assert_int_equal(t.bytes_up, 600);

	/* The same id again, even with other records: nothing changes. */
	assert_int_equal(store_ingest(st, "batch-1", "agent-1", r, 3), STORE_DUPLICATE);
	assert_int_equal(store_ingest(st, "batch-1", "agent-2", &other, 1), STORE_DUPLICATE);
	t = totals(st, 0, 0);
	assert_int_equal(t.records, 3);
	assert_int_equal(t.flows, 3);
	assert_int_equal(t.bytes_up, 600);
	assert_int_equal(t.bytes_down, 6000);

	/* A batch without records is stored once, too. */
	assert_int_equal(store_ingest(st, "batch-empty", "agent-1", NULL, 0), STORE_STORED);
	assert_int_equal(store_ingest(st, "batch-empty", "agent-1", NULL, 0), STORE_DUPLICATE);

	/* Counts SQLite cannot hold are refused, with nothing stored. */
	other.bytes_up = (uint64_t)INT64_MAX + 1;
	assert_int_equal(store_ingest(st, "batch-big", "agent-1", &other, 1), STORE_FAILED);
	assert_non_null(strstr(store_error(st), "out of range"));
	other.bytes_up = 7;
	ingest_ok(st, "batch-big", &other, 1);
	assert_int_equal(totals(st, 0, 0).records, 4);

	/* A second handle sees the first's batches as duplicates. */
	struct store *st2 = open_ok(f->db);
	assert_int_equal(store_ingest(st2, "batch-1", "agent-1", r, 3), STORE_DUPLICATE);
	store_close(st2);
	store_close(st);
}

/* Random records over five days, and reference answers by brute force:
 * the store must give exactly what a scan of the records in [from, to)
 * gives, whichever days it reads from the roll-up. */
#define N_HOSTS 40
#define N_CLIENTS 12
#define N_RECS 3000

struct world {
	char hosts[N_HOSTS][48];
	char domains[N_HOSTS][48];
	const char *host_app[N_HOSTS];
	char clients[N_CLIENTS][20];
	struct usage_record recs[N_RECS];
	int rec_client[N_RECS];
	int rec_net[N_RECS]; /* index in nets[], once place_world ran */
	int n_in; /* records ingested so far: the reference looks at these */
};

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t
next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static struct world *
make_world(void)
{
	static const char *const app_names[] = {"alpha", "beta", "gamma", NULL, NULL};
	struct world *w = calloc(1, sizeof(*w));
	assert_non_null(w);
	for (int i = 0; i < N_HOSTS; i++) {
		snprintf(w->domains[i], sizeof(w->domains[i]), "d%d.example", i % 15);
		snprintf(w->hosts[i], sizeof(w->hosts[i]), "h%d.%s", i, w->domains[i]);
		w->host_app[i] = app_names[i % 5];
	}
	for (int i = 0; i < N_CLIENTS; i++)
		snprintf(w->clients[i], sizeof(w->clients[i]), "10.1.0.%d", i + 1);
	for (int i = 0; i < N_RECS; i++) {
		int h = (int)(next_rand() % N_HOSTS), c = (int)(next_rand() % N_CLIENTS);
		int64_t bucket = DAY0 + (int64_t)(next_rand() % (5 * 288)) * BUCKET;
		w->recs[i] = rec(bucket, w->clients[c], w->hosts[h], w->domains[h],
				 w->host_app[h], next_rand() % 100000, next_rand() % 1000000);
		w->recs[i].flows = next_rand() % 5 + 1;
		w->recs[i].packets = next_rand() % 1000 + 1;
		w->recs[i].first_seen = bucket + (int64_t)(next_rand() % (uint64_t)BUCKET);
		w->recs[i].last_seen = w->recs[i].first_seen +
				       (int64_t)(next_rand() % (uint64_t)BUCKET);
		w->rec_client[i] = c;
	}
	return w;
}

static void
ingest_world(struct store *st, struct world *w, int from, int to)
{
	char id[32];
	for (int i = from; i < to; i += 250) {
		snprintf(id, sizeof(id), "world-%d", i);
		ingest_ok(st, id, &w->recs[i], 250);
		w->n_in = i + 250;
	}
}

static int
in_range(int64_t t, int64_t from, int64_t to)
{
	return (!from || t >= from) && (!to || t < to);
}

static void
check_range(struct store *st, const struct world *w, int64_t from, int64_t to)
{
	struct store_totals want = {0}, got = totals(st, from, to);
	struct app_rows *rows = apps(st, from, to);
	const char *names[] = {"alpha", "beta", "gamma", NULL};

	for (int i = 0; i < w->n_in; i++) {
		const struct usage_record *r = &w->recs[i];
		if (!in_range(r->bucket_start, from, to))
			continue;
		if (!want.records || r->first_seen < want.first_seen)
			want.first_seen = r->first_seen;
		if (!want.records || r->last_seen > want.last_seen)
			want.last_seen = r->last_seen;
		want.records++;
		want.flows += r->flows;
		want.packets += r->packets;
		want.bytes_up += r->bytes_up;
		want.bytes_down += r->bytes_down;
	}
	if (memcmp(&want, &got, sizeof(want)) != 0)
		fail_msg("totals [%lld, %lld): want %llu records %llu bytes, got %llu %llu",
			 (long long)from, (long long)to, (unsigned long long)want.records,
			 (unsigned long long)(want.bytes_up + want.bytes_down),
			 (unsigned long long)got.records,
			 (unsigned long long)(got.bytes_up + got.bytes_down));

	size_t n_groups = 0;
	for (size_t a = 0; a < sizeof(names) / sizeof(names[0]); a++) {
		int users[N_CLIENTS] = {0};
		struct store_app_row ref = {0};
		int n_recs = 0;
		for (int i = 0; i < w->n_in; i++) {
			const struct usage_record *r = &w->recs[i];
			if (!in_range(r->bucket_start, from, to))
				continue;
			if (names[a] ? !r->app || strcmp(r->app, names[a]) != 0 : r->app != NULL)
				continue;
			if (!n_recs || r->first_seen < ref.first_seen)
				ref.first_seen = r->first_seen;
			if (!n_recs || r->last_seen > ref.last_seen)
				ref.last_seen = r->last_seen;
			n_recs++;
			users[w->rec_client[i]] = 1;
			ref.flows += r->flows;
			ref.packets += r->packets;
			ref.bytes_up += r->bytes_up;
			ref.bytes_down += r->bytes_down;
		}
		for (int c = 0; c < N_CLIENTS; c++)
			ref.users += (uint64_t)users[c];
		const struct store_app_row *row = app_row(rows, names[a]);
		if (!n_recs) {
			assert_null(row);
			continue;
		}
		n_groups++;
		if (!row)
			fail_msg("app %s missing in [%lld, %lld)", names[a] ? names[a] : "(null)",
				 (long long)from, (long long)to);
		assert_int_equal(row->users, ref.users);
		assert_int_equal(row->flows, ref.flows);
		assert_int_equal(row->packets, ref.packets);
		assert_int_equal(row->bytes_up, ref.bytes_up);
		assert_int_equal(row->bytes_down, ref.bytes_down);
		assert_int_equal(row->first_seen, ref.first_seen);
		assert_int_equal(row->last_seen, ref.last_seen);
	}
	assert_int_equal(rows->n, n_groups);
	for (size_t i = 1; i < rows->n; i++)
		assert_true(rows->row[i - 1].bytes_up + rows->row[i - 1].bytes_down >=
			    rows->row[i].bytes_up + rows->row[i].bytes_down);
	free(rows);
}

static void
check_ranges(struct store *st, const struct world *w)
{
	check_range(st, w, 0, 0);
	check_range(st, w, DAY0, DAY0 + 5 * DAY);         /* whole days only */
	check_range(st, w, DAY0 + DAY / 2, 0);            /* open end */
	check_range(st, w, 0, DAY0 + 3 * DAY + 7 * BUCKET); /* open start */
	check_range(st, w, DAY0 + 100, DAY0 + 200);       /* inside one bucket */
	check_range(st, w, DAY0 + DAY - BUCKET, DAY0 + DAY + BUCKET); /* across midnight */
	check_range(st, w, DAY0 + 2 * DAY, DAY0 + 2 * DAY);           /* empty */
	check_range(st, w, DAY0 + 3 * DAY, DAY0 + 2 * DAY);           /* backwards */
	for (int i = 0; i < 150; i++) {
		int64_t a = DAY0 - DAY + (int64_t)(next_rand() % (uint64_t)(7 * DAY));
		int64_t b = DAY0 - DAY + (int64_t)(next_rand() % (uint64_t)(7 * DAY));
		if (i % 3 == 0) /* on bucket boundaries too */
			a -= a % BUCKET, b -= b % BUCKET;
		check_range(st, w, a < b ? a : b, a < b ? b : a);
	}
}

static void
test_totals_and_apps_match_reference(void **state)
{
	struct fixture *f = *state;
	struct world *w = make_world();
	struct store *st = open_ok(f->db);

	/* Raw rows only; then half rolled up and half pending; then all
	 * rolled up: the answers never change. */
	ingest_world(st, w, 0, N_RECS / 2);
	check_ranges(st, w);
	assert_int_equal(store_rollup(st), N_RECS / 2);
	ingest_world(st, w, N_RECS / 2, N_RECS);
	check_ranges(st, w);
	assert_int_equal(store_rollup(st), N_RECS / 2);
	assert_int_equal(store_rollup(st), 0);
	check_ranges(st, w);
	store_close(st);

	/* The same answers after reopening. */
	st = open_ok(f->db);
	check_range(st, w, DAY0 + DAY / 3, DAY0 + 4 * DAY + DAY / 3);
	store_close(st);
	free(w);
}

/* Ingest rolls up by itself every few thousand rows. */
static void
test_rollup_by_ingest(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->db);
	static struct usage_record r[1000];
	static char host[1000][32];
	char id[32];
	int n_batches = 25;

	for (int b = 0; b < n_batches; b++) {
		for (int i = 0; i < 1000; i++) {
			snprintf(host[i], sizeof(host[i]), "h%d.auto.example", (b + i) % 300);
			r[i] = rec(DAY0 + (int64_t)(b % 4) * DAY + (int64_t)i * USEC, "10.3.0.1",
				   host[i], "auto.example", NULL, 1, 2);
		}
		snprintf(id, sizeof(id), "auto-%d", b);
		ingest_ok(st, id, r, 1000);
	}
	/* some rows were folded in already, not all of them */
	long pending = store_rollup(st);
	assert_true(pending >= 0);
	assert_true(pending < n_batches * 1000);
	struct store_totals t = totals(st, 0, 0);
	assert_int_equal(t.records, n_batches * 1000);
	assert_int_equal(t.bytes_down, 2 * n_batches * 1000);
	t = totals(st, DAY0 + DAY, DAY0 + 2 * DAY);
	assert_int_equal(t.records, 6 * 1000); /* batches 1, 5, 9, ..., 21 */
	store_close(st);
}

static void
test_range_cuts_days(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->db);
	/* Three days, one record early and one late in each (bytes_up
	 * tells them apart: 1, 2 on day 1; 10, 20 on day 2; 100, 200 on day 3). */
	struct usage_record r[6] = {
		rec(DAY0 + 1 * 3600 * USEC, "10.0.0.1", "a.example.com", "example.com", NULL, 1, 0),
		rec(DAY0 + 20 * 3600 * USEC, "10.0.0.1", "a.example.com", "example.com", NULL, 2, 0),
		rec(DAY0 + DAY + 1 * 3600 * USEC, "10.0.0.1", "a.example.com", "example.com", NULL,
		    10, 0),
		rec(DAY0 + DAY + 20 * 3600 * USEC, "10.0.0.1", "a.example.com", "example.com", NULL,
		    20, 0),
		rec(DAY0 + 2 * DAY + 1 * 3600 * USEC, "10.0.0.1", "a.example.com", "example.com",
		    NULL, 100, 0),
		rec(DAY0 + 2 * DAY + 20 * 3600 * USEC, "10.0.0.1", "a.example.com", "example.com",
		    NULL, 200, 0),
	};

	ingest_ok(st, "days", r, 6);
	/* middle of day 1 to the middle of day 3: the late record of day 1,
	 * all of day 2, the early one of day 3 */
	struct store_totals t = totals(st, DAY0 + DAY / 2, DAY0 + 2 * DAY + DAY / 2);
	assert_int_equal(t.records, 4);
	assert_int_equal(t.bytes_up, 2 + 10 + 20 + 100);
	assert_int_equal(t.first_seen, r[1].first_seen);
	assert_int_equal(t.last_seen, r[4].last_seen);

	t = totals(st, DAY0 + DAY, DAY0 + 2 * DAY); /* day 2 exactly */
	assert_int_equal(t.records, 2);
	assert_int_equal(t.bytes_up, 30);
	t = totals(st, DAY0 + DAY / 2, DAY0 + DAY + DAY / 2); /* no whole day inside */
	assert_int_equal(t.records, 2);
	assert_int_equal(t.bytes_up, 12);
	t = totals(st, DAY0 + 2 * DAY + 1, 0); /* open end */
	assert_int_equal(t.bytes_up, 300);
	t = totals(st, 0, DAY0 + DAY + 1); /* open start */
	assert_int_equal(t.bytes_up, 3);
	t = totals(st, DAY0 + 3 * DAY, 0);
	assert_int_equal(t.records, 0);
	assert_int_equal(t.first_seen, 0);

	/* Days before 1970 round down, in C and in SQL alike: an hour before
	 * the epoch is day -1, whole in [-2 days, 1 usec). */
	struct usage_record old = rec(-3600 * USEC, "10.0.0.1", "a.example.com",
				      "example.com", NULL, 1000, 0);
	ingest_ok(st, "old", &old, 1);
	assert_int_equal(store_rollup(st), 7);
	assert_int_equal(totals(st, -2 * DAY, 1).bytes_up, 1000);
	assert_int_equal(totals(st, -DAY, -1).bytes_up, 1000);
	assert_int_equal(totals(st, -2 * DAY, -DAY).records, 0);
	store_close(st);
}

static void
test_groups_and_distinct_counts(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->db);
	struct usage_record r[] = {
		/* app "crm": three users over two hosts and two days */
		rec(DAY0, "10.0.0.1", "a.crm.example", "crm.example", "crm", 10, 10),
		rec(DAY0, "10.0.0.2", "b.crm.example", "crm.example", "crm", 10, 10),
		rec(DAY0 + DAY, "10.0.0.1", "b.crm.example", "crm.example", "crm", 10, 10),
		rec(DAY0 + DAY, "2001:db8::3", "a.crm.example", "crm.example", "crm", 10, 10),
		/* app "video" with one user */
		rec(DAY0, "10.0.0.2", "v.video.example", "video.example", "video", 1000, 1000),
		/* no app: two domains, one with two hosts */
		rec(DAY0, "10.0.0.1", "x.unknown.example", "unknown.example", NULL, 5, 5),
		rec(DAY0, "10.0.0.2", "y.unknown.example", "unknown.example", NULL, 5, 5),
		rec(DAY0, "10.0.0.2", "z.other.example", "other.example", NULL, 1, 1),
		/* untracked: counted for the client and in totals, never a domain */
		rec(DAY0, "10.0.0.1", NULL, NULL, NULL, 3, 0),
		rec(DAY0, NULL, NULL, NULL, NULL, 4, 0),
	};
	size_t n = sizeof(r) / sizeof(r[0]);
	r[4].category = "video-cat";
	r[8].untracked = USAGE_UNTRACKED_TABLE_FULL;
	r[8].ndpi_proto = NULL;
	r[9].untracked = USAGE_UNTRACKED_FRAGMENT;
	r[9].ndpi_proto = NULL;
	/* an untracked record that names a domain still is no unknown domain */
	struct usage_record odd = rec(DAY0, "10.0.0.3", "q.weird.example", "weird.example",
				      NULL, 1, 0);
	odd.untracked = USAGE_UNTRACKED_MALFORMED;

	ingest_ok(st, "groups", r, n);
	ingest_ok(st, "odd", &odd, 1);

	struct app_rows *ar = apps(st, 0, 0);
	assert_int_equal(ar->n, 3);
	assert_string_equal(ar->name[0], "video"); /* most bytes first */
	assert_string_equal(ar->category[0], "video-cat");
	const struct store_app_row *crm = app_row(ar, "crm");
	assert_non_null(crm);
	assert_int_equal(crm->users, 3);
	assert_int_equal(crm->flows, 4);
	assert_int_equal(crm->bytes_up, 40);
	const struct store_app_row *none = app_row(ar, NULL);
	assert_non_null(none);
	assert_int_equal(none->bytes_up, 5 + 5 + 1 + 3 + 4 + 1);
	assert_string_equal(ar->category[2], ""); /* no app, no category */
	free(ar);

	/* Day 2 alone: crm with two users. */
	ar = apps(st, DAY0 + DAY, DAY0 + 2 * DAY);
	assert_int_equal(ar->n, 1);
	assert_int_equal(app_row(ar, "crm")->users, 2);
	free(ar);

	struct generic_rows *rows = calloc(1, sizeof(*rows));
	assert_non_null(rows);
	assert_int_equal(store_categories(st, 0, 0, collect_category, rows), 0);
	assert_int_equal(rows->n, 3);
	assert_string_equal(rows->row[0].name, "video-cat");
	const struct generic_row *g = find_row(rows, "cat-of-agent");
	assert_non_null(g);
	assert_int_equal(g->a, 3); /* users */
	assert_int_equal(g->b, 1); /* apps */
	g = find_row(rows, NULL);
	assert_non_null(g);
	assert_int_equal(g->b, 0); /* no known app */
	assert_int_equal(g->a, 4); /* .1, .2, .3 and the address-less "" */

	memset(rows, 0, sizeof(*rows));
	assert_int_equal(store_clients(st, 0, 0, collect_client, rows), 0);
	assert_int_equal(rows->n, 5);
	assert_string_equal(rows->row[0].name, "10.0.0.2");
	g = find_row(rows, "10.0.0.1");
	assert_non_null(g);
	assert_int_equal(g->a, 1); /* crm only */
	assert_int_equal(g->bytes_up, 10 + 10 + 5 + 3);
	g = find_row(rows, "10.0.0.2");
	assert_int_equal(g->a, 2); /* crm, video */
	g = find_row(rows, "2001:db8::3");
	assert_non_null(g);
	g = find_row(rows, "");
	assert_non_null(g);
	assert_int_equal(g->bytes_up, 4);
	assert_int_equal(g->a, 0);

	memset(rows, 0, sizeof(*rows));
	assert_int_equal(store_unknown_domains(st, 0, 0, collect_domain, rows), 0);
	assert_int_equal(rows->n, 2);
	assert_string_equal(rows->row[0].name, "unknown.example");
	assert_int_equal(rows->row[0].a, 2); /* users */
	assert_int_equal(rows->row[0].b, 2); /* hosts */
	assert_string_equal(rows->row[1].name, "other.example");
	assert_int_equal(rows->row[1].b, 1);
	free(rows);

	struct store_totals t = totals(st, 0, 0);
	assert_int_equal(t.records, n + 1);
	assert_int_equal(t.bytes_up, 40 + 1000 + 11 + 7 + 1);

	/* A callback's non-zero answer stops the walk and comes back. */
	assert_int_equal(store_apps(st, 0, 0, collect_app_stop, NULL), 42);
	store_close(st);
}

/* ---- where traffic goes ------------------------------------------------ */

/* Networks as the agents place servers (asn 0 and NULL: unknown). */
static const struct net {
	uint32_t asn;
	const char *org;
	const char *country;
} nets[] = {
	{ 0, NULL, NULL }, /* not placed: an agent without the databases */
	{ 64500, "Example Cloud, Inc.", "US" },
	{ 64500, "Example Cloud, Inc.", "DE" },
	{ 64502, "Example \"Hosting\" Ltd", "GB" },
	{ 0, NULL, "FR" },                  /* a country, no AS */
	{ 64510, "Voorbeeld B.V.", NULL },  /* an AS, no country */
};
#define N_NETS ((int)(sizeof(nets) / sizeof(nets[0])))

static void
set_net(struct usage_record *r, int net)
{
	r->asn = nets[net].asn;
	r->as_org = nets[net].org;
	r->country = nets[net].country;
}

static int
str_cmp_null(const char *a, const char *b)
{
	if (!a || !b)
		return (a != NULL) - (b != NULL); /* NULL first */
	return strcmp(a, b);
}

static int
str_same(const char *a, const char *b)
{
	return a || b ? a && b && strcmp(a, b) == 0 : 1;
}

/* The order of networks of equal bytes: asn, organisation, country (NULL
 * and 0 first). */
static int
net_cmp(int a, int b)
{
	if (nets[a].asn != nets[b].asn)
		return nets[a].asn < nets[b].asn ? -1 : 1;
	int c = str_cmp_null(nets[a].org, nets[b].org);
	return c ? c : str_cmp_null(nets[a].country, nets[b].country);
}

/* The index in nets[] of what a row says, or -1. */
static int
net_of(uint32_t asn, const char *org, const char *country)
{
	for (int i = 0; i < N_NETS; i++)
		if (nets[i].asn == asn && str_same(nets[i].org, org) &&
		    str_same(nets[i].country, country))
			return i;
	return -1;
}

struct geo_row {
	char name[64];
	int net;              /* -1: a network nets[] does not have */
	uint64_t a, b;        /* users and hosts, or users and apps */
	uint64_t flows, packets, bytes_up, bytes_down;
	int64_t first_seen, last_seen;
};

struct geo_rows {
	size_t n;
	struct geo_row row[MAX_ROWS];
};

static int
collect_domain_geo(void *arg, const struct store_domain_row *r)
{
	struct geo_rows *rows = arg;
	struct geo_row *g = &rows->row[rows->n++];
	snprintf(g->name, sizeof(g->name), "%s", r->domain);
	g->net = net_of(r->asn, r->as_org, r->country);
	g->a = r->users;
	g->b = r->hosts;
	g->flows = r->flows;
	g->packets = r->packets;
	g->bytes_up = r->bytes_up;
	g->bytes_down = r->bytes_down;
	g->first_seen = r->first_seen;
	g->last_seen = r->last_seen;
	return rows->n == MAX_ROWS;
}

static int
collect_network(void *arg, const struct store_network_row *r)
{
	struct geo_rows *rows = arg;
	struct geo_row *g = &rows->row[rows->n++];
	g->net = net_of(r->asn, r->as_org, r->country);
	g->a = r->users;
	g->b = r->apps;
	g->flows = r->flows;
	g->packets = r->packets;
	g->bytes_up = r->bytes_up;
	g->bytes_down = r->bytes_down;
	g->first_seen = r->first_seen;
	g->last_seen = r->last_seen;
	return rows->n == MAX_ROWS;
}

static struct geo_rows *
domains_geo(struct store *st, int64_t from, int64_t to)
{
	struct geo_rows *rows = calloc(1, sizeof(*rows));
	assert_non_null(rows);
	if (store_unknown_domains(st, from, to, collect_domain_geo, rows) != 0)
		fail_msg("unknown domains: %s", store_error(st));
	return rows;
}

static struct geo_rows *
networks(struct store *st, int64_t from, int64_t to)
{
	struct geo_rows *rows = calloc(1, sizeof(*rows));
	assert_non_null(rows);
	if (store_networks(st, from, to, collect_network, rows) != 0)
		fail_msg("networks: %s", store_error(st));
	return rows;
}

static void
place_world(struct world *w)
{
	for (int i = 0; i < N_RECS; i++) {
		/* a domain's usage mostly on a network of its own, so that
		 * the top networks differ */
		int h = (int)(w->recs[i].host[1] - '0');
		int net = next_rand() % 3 ? (h % (N_NETS - 1)) + 1 : (int)(next_rand() % N_NETS);
		w->rec_net[i] = net;
		set_net(&w->recs[i], net);
	}
}

/* What a reference scan of the records in [from, to) says, row by row. */
static void
add_to(struct geo_row *g, const struct usage_record *r, int first)
{
	if (first || r->first_seen < g->first_seen)
		g->first_seen = r->first_seen;
	if (first || r->last_seen > g->last_seen)
		g->last_seen = r->last_seen;
	g->flows += r->flows;
	g->packets += r->packets;
	g->bytes_up += r->bytes_up;
	g->bytes_down += r->bytes_down;
}

static void
expect_geo_row(const struct geo_row *got, const struct geo_row *want, const char *what)
{
	if (got->net != want->net || got->a != want->a || got->b != want->b ||
	    got->flows != want->flows || got->packets != want->packets ||
	    got->bytes_up != want->bytes_up || got->bytes_down != want->bytes_down ||
	    got->first_seen != want->first_seen || got->last_seen != want->last_seen)
		fail_msg("%s: got net %d a %llu b %llu bytes %llu/%llu, want net %d a %llu b %llu "
			 "bytes %llu/%llu", what, got->net, (unsigned long long)got->a,
			 (unsigned long long)got->b, (unsigned long long)got->bytes_up,
			 (unsigned long long)got->bytes_down, want->net,
			 (unsigned long long)want->a, (unsigned long long)want->b,
			 (unsigned long long)want->bytes_up, (unsigned long long)want->bytes_down);
}

static void
check_geo_range(struct store *st, const struct world *w, int64_t from, int64_t to)
{
	struct geo_rows *got = domains_geo(st, from, to);
	size_t n_domains = 0;
	char what[160];

	/* unknown domains: usage of hosts with no app, by domain */
	for (int d = 0; d < 15; d++) {
		char domain[48];
		struct geo_row want = { .net = -1 };
		int users[N_CLIENTS] = {0}, hosts[N_HOSTS] = {0}, n = 0;
		uint64_t net_bytes[N_NETS] = {0};
		snprintf(domain, sizeof(domain), "d%d.example", d);
		for (int i = 0; i < w->n_in; i++) {
			const struct usage_record *r = &w->recs[i];
			if (!in_range(r->bucket_start, from, to) || r->app ||
			    strcmp(r->domain, domain) != 0)
				continue;
			add_to(&want, r, n++ == 0);
			users[w->rec_client[i]] = 1;
			hosts[atoi(r->host + 1)] = 1;
			net_bytes[w->rec_net[i]] += r->bytes_up + r->bytes_down;
		}
		if (!n)
			continue;
		n_domains++;
		for (int c = 0; c < N_CLIENTS; c++)
			want.a += (uint64_t)users[c];
		for (int h = 0; h < N_HOSTS; h++)
			want.b += (uint64_t)hosts[h];
		/* the top network among those placed (nets[0] is none) */
		want.net = 0;
		for (int k = 1; k < N_NETS; k++)
			if (net_bytes[k] &&
			    (want.net == 0 || net_bytes[k] > net_bytes[want.net] ||
			     (net_bytes[k] == net_bytes[want.net] && net_cmp(k, want.net) < 0)))
				want.net = k;
		const struct geo_row *row = NULL;
		for (size_t i = 0; i < got->n; i++)
			if (strcmp(got->row[i].name, domain) == 0)
				row = &got->row[i];
		snprintf(what, sizeof(what), "domain %s in [%lld, %lld)", domain, (long long)from,
			 (long long)to);
		if (!row)
			fail_msg("%s: missing", what);
		expect_geo_row(row, &want, what);
	}
	assert_int_equal(got->n, n_domains);
	for (size_t i = 1; i < got->n; i++)
		assert_true(got->row[i - 1].bytes_up + got->row[i - 1].bytes_down >=
			    got->row[i].bytes_up + got->row[i].bytes_down);
	free(got);

	/* networks: all usage, by network */
	got = networks(st, from, to);
	size_t n_nets = 0;
	for (int k = 0; k < N_NETS; k++) {
		struct geo_row want = { .net = k };
		int users[N_CLIENTS] = {0}, n = 0;
		int apps[3] = {0};
		for (int i = 0; i < w->n_in; i++) {
			const struct usage_record *r = &w->recs[i];
			if (!in_range(r->bucket_start, from, to) || w->rec_net[i] != k)
				continue;
			add_to(&want, r, n++ == 0);
			users[w->rec_client[i]] = 1;
			if (r->app)
				apps[r->app[0] == 'a' ? 0 : r->app[0] == 'b' ? 1 : 2] = 1;
		}
		if (!n)
			continue;
		n_nets++;
		for (int c = 0; c < N_CLIENTS; c++)
			want.a += (uint64_t)users[c];
		want.b = (uint64_t)(apps[0] + apps[1] + apps[2]);
		const struct geo_row *row = NULL;
		for (size_t i = 0; i < got->n; i++)
			if (got->row[i].net == k)
				row = &got->row[i];
		snprintf(what, sizeof(what), "network %d in [%lld, %lld)", k, (long long)from,
			 (long long)to);
		if (!row)
			fail_msg("%s: missing", what);
		expect_geo_row(row, &want, what);
	}
	assert_int_equal(got->n, n_nets);
	for (size_t i = 1; i < got->n; i++)
		assert_true(got->row[i - 1].bytes_up + got->row[i - 1].bytes_down >=
			    got->row[i].bytes_up + got->row[i].bytes_down);
	free(got);
}

static void
check_geo_ranges(struct store *st, const struct world *w)
{
	check_geo_range(st, w, 0, 0);
	check_geo_range(st, w, DAY0, DAY0 + 5 * DAY);
	check_geo_range(st, w, DAY0 + DAY / 2, 0);
	check_geo_range(st, w, 0, DAY0 + 3 * DAY + 7 * BUCKET);
	check_geo_range(st, w, DAY0 + DAY - BUCKET, DAY0 + DAY + BUCKET);
	check_geo_range(st, w, DAY0 + 3 * DAY, DAY0 + 2 * DAY);
	for (int i = 0; i < 20; i++) {
		int64_t a = DAY0 - DAY + (int64_t)(next_rand() % (uint64_t)(7 * DAY));
		int64_t b = DAY0 - DAY + (int64_t)(next_rand() % (uint64_t)(7 * DAY));
		check_geo_range(st, w, a < b ? a : b, a < b ? b : a);
	}
}

/* The number of rows of a table, read with SQLite itself. */
static int64_t
count_rows(const char *db, const char *table)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *s = NULL;
	char sql[96];
	int64_t n = -1;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(h);
	return n;
}

/* One name from several networks: a key each; the unknown domain names the
 * network with the most bytes; the networks query sums per network. */
static void
test_geo_keys(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->db);
	struct usage_record r[] = {
		rec(DAY0, "10.0.0.1", "files.unk.example", "unk.example", NULL, 100, 100),
		rec(DAY0, "10.0.0.1", "files.unk.example", "unk.example", NULL, 300, 300),
		rec(DAY0, "10.0.0.2", "files.unk.example", "unk.example", NULL, 10, 10),
		rec(DAY0, "10.0.0.2", "cdn.unk.example", "unk.example", NULL, 250, 250),
		rec(DAY0, "10.0.0.1", "x.alpha.example", "alpha.example", "alpha", 5, 5),
		rec(DAY0, "10.0.0.3", "other.example", "other.example", NULL, 7, 7),
		rec(DAY0, "10.0.0.3", NULL, NULL, NULL, 1, 0),
	};
	size_t n = sizeof(r) / sizeof(r[0]);
	set_net(&r[0], 1); /* US: 200 + 500 */
	set_net(&r[1], 3); /* GB: 600 */
	set_net(&r[2], 0); /* not placed: never "the" network */
	set_net(&r[3], 1);
	set_net(&r[4], 1);
	/* other.example: not placed at all */
	r[6].untracked = USAGE_UNTRACKED_TABLE_FULL;
	r[6].ndpi_proto = NULL;
	set_net(&r[6], 4); /* FR, from the server's address */
	ingest_ok(st, "geo-1", r, n);
	/* keys: files.unk on three networks, cdn.unk, x.alpha, other, untracked */
	assert_int_equal(count_rows(f->db, "keys"), 7);

	struct geo_rows *rows = domains_geo(st, 0, 0);
	assert_int_equal(rows->n, 2);
	assert_string_equal(rows->row[0].name, "unk.example");
	assert_int_equal(rows->row[0].a, 2); /* users */
	assert_int_equal(rows->row[0].b, 2); /* hosts */
	assert_int_equal(rows->row[0].bytes_up, 660);
	assert_int_equal(rows->row[0].net, 1); /* US: 700 bytes against GB's 600 */
	assert_string_equal(rows->row[1].name, "other.example");
	assert_int_equal(rows->row[1].net, 0); /* none known */
	free(rows);

	/* the same records again (a new batch): the same keys */
	ingest_ok(st, "geo-2", r, n);
	assert_int_equal(count_rows(f->db, "keys"), 7);
	/* ... and more from GB: now GB carries the most */
	struct usage_record more = rec(DAY0 + DAY, "10.0.0.4", "files.unk.example",
				       "unk.example", NULL, 1000, 0);
	set_net(&more, 3);
	ingest_ok(st, "geo-3", &more, 1);
	assert_int_equal(count_rows(f->db, "keys"), 7);
	rows = domains_geo(st, 0, 0);
	assert_int_equal(rows->row[0].net, 3);
	assert_int_equal(rows->row[0].a, 3);
	free(rows);
	rows = domains_geo(st, DAY0, DAY0 + DAY); /* the first day alone: US */
	assert_int_equal(rows->row[0].net, 1);
	free(rows);

	rows = networks(st, DAY0, DAY0 + DAY);
	assert_int_equal(rows->n, 4);
	assert_int_equal(rows->row[0].net, 1); /* US: 2 x (200 + 500 + 10) */
	assert_int_equal(rows->row[0].bytes_up + rows->row[0].bytes_down, 2 * 710);
	assert_int_equal(rows->row[0].a, 2);   /* users */
	assert_int_equal(rows->row[0].b, 1);   /* apps: alpha */
	assert_int_equal(rows->row[1].net, 3); /* GB */
	assert_int_equal(rows->row[1].b, 0);
	assert_int_equal(rows->row[2].net, 0); /* not placed: 20 + 14 per batch */
	assert_int_equal(rows->row[2].bytes_up + rows->row[2].bytes_down, 2 * 34);
	assert_int_equal(rows->row[2].a, 2);
	assert_int_equal(rows->row[3].net, 4); /* FR: the untracked packets */
	assert_int_equal(rows->row[3].bytes_up, 2);
	free(rows);

	/* an app for the domain: gone from the unknown ones, its network
	 * still counts the usage, now of an app */
	sig_db *sigs = load_sigs(f, "unk.yaml",
				 "categories:\n  - slug: file-sharing\n    name: File sharing\n"
				 "apps:\n  - slug: unkco\n    name: UnkCo\n    vendor: Unk Inc.\n"
				 "    category: file-sharing\n    domains: [unk.example]\n");
	assert_true(store_remap(st, sigs) > 0);
	rows = domains_geo(st, 0, 0);
	/* alpha.example now too: no signature names it (the agent's app
	 * stands only for usage without a name) */
	assert_int_equal(rows->n, 2);
	assert_string_equal(rows->row[0].name, "other.example"); /* 28 bytes */
	assert_string_equal(rows->row[1].name, "alpha.example"); /* 20 */
	assert_int_equal(rows->row[1].net, 1);
	free(rows);
	rows = networks(st, DAY0, DAY0 + DAY);
	assert_int_equal(rows->row[0].net, 1);
	assert_int_equal(rows->row[0].b, 1); /* unkco */
	free(rows);
	store_close(st);
	sig_db_free(sigs);
}

/* The reference world, placed on networks: the top network of each unknown
 * domain and the usage per network are exact over ranges that cut days,
 * whatever part of the rows is rolled up. */
static void
test_geo_match_reference(void **state)
{
	struct fixture *f = *state;
	struct world *w = make_world();
	struct store *st = open_ok(f->db);

	place_world(w);
	ingest_world(st, w, 0, N_RECS / 2);
	check_geo_ranges(st, w);
	assert_int_equal(store_rollup(st), N_RECS / 2);
	ingest_world(st, w, N_RECS / 2, N_RECS);
	check_geo_ranges(st, w);
	assert_int_equal(store_rollup(st), N_RECS / 2);
	check_geo_ranges(st, w);
	store_close(st);
	free(w);
}

/* Schema version 1 as released (migrations[0] of the first release), kept
 * here verbatim: a migration test must start from what was shipped. */
static const char v1_schema[] =
	"PRAGMA application_id = 1399344496;"
	"CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
	"INSERT INTO meta(name, value) VALUES ('application', 'shadowmap');"
	"INSERT INTO meta(name, value) VALUES ('rollup_id', '0');"
	"CREATE TABLE batches (id INTEGER PRIMARY KEY, batch_id TEXT NOT NULL UNIQUE,"
	"  agent TEXT, received INTEGER NOT NULL, records INTEGER NOT NULL);"
	"CREATE TABLE clients (id INTEGER PRIMARY KEY, addr TEXT NOT NULL UNIQUE);"
	"CREATE TABLE keys (id INTEGER PRIMARY KEY, host TEXT, domain TEXT, ndpi_proto TEXT,"
	"  agent_app TEXT, agent_category TEXT, untracked TEXT, app TEXT, category TEXT,"
	"  mapped INTEGER NOT NULL DEFAULT 0);"
	"CREATE UNIQUE INDEX keys_ident ON keys(ifnull(host, x''), ifnull(ndpi_proto, x''),"
	"  ifnull(agent_app, x''), ifnull(untracked, x''));"
	"CREATE INDEX keys_unmapped ON keys(id) WHERE mapped = 0;"
	"CREATE TABLE usage (id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  bucket_start INTEGER NOT NULL, bucket_seconds INTEGER NOT NULL,"
	"  client_id INTEGER NOT NULL REFERENCES clients(id),"
	"  key_id INTEGER NOT NULL REFERENCES keys(id), flows INTEGER NOT NULL,"
	"  packets INTEGER NOT NULL, bytes_up INTEGER NOT NULL, bytes_down INTEGER NOT NULL,"
	"  first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,"
	"  batch INTEGER NOT NULL REFERENCES batches(id));"
	"CREATE INDEX usage_bucket ON usage(bucket_start);"
	"CREATE TABLE usage_daily (day INTEGER NOT NULL, client_id INTEGER NOT NULL,"
	"  key_id INTEGER NOT NULL, records INTEGER NOT NULL, flows INTEGER NOT NULL,"
	"  packets INTEGER NOT NULL, bytes_up INTEGER NOT NULL, bytes_down INTEGER NOT NULL,"
	"  first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,"
	"  PRIMARY KEY (day, client_id, key_id)) WITHOUT ROWID;"
	"CREATE TABLE tokens (id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
	"  role INTEGER NOT NULL CHECK (role IN (1, 2)), hash TEXT NOT NULL UNIQUE,"
	"  created INTEGER NOT NULL, last_used INTEGER NOT NULL DEFAULT 0,"
	"  revoked INTEGER NOT NULL DEFAULT 0);"
	"CREATE UNIQUE INDEX tokens_live ON tokens(role, name) WHERE revoked = 0;"
	"PRAGMA user_version = 1;";

/* A version 1 database with a rolled-up row and a pending one, an unknown
 * domain and an app, and a token, as version 1 wrote them. */
static void
make_v1_db(const char *path)
{
	char sql[2048];
	sqlite3 *h = NULL;
	char *msg = NULL;

	snprintf(sql, sizeof(sql),
		 "PRAGMA journal_mode = WAL;"
		 "INSERT INTO batches VALUES (1, 'v1-batch', 'agent-1', 1, 2);"
		 "INSERT INTO clients VALUES (1, '10.0.0.1');"
		 "INSERT INTO keys VALUES (1, 'a.old.example', 'old.example', 'TLS', NULL, NULL,"
		 " NULL, NULL, NULL, 0);"
		 "INSERT INTO keys VALUES (2, 'x.alpha.example', 'alpha.example', 'TLS', 'alpha',"
		 " 'cat-of-agent', NULL, 'alpha', 'cat-of-agent', 0);"
		 "INSERT INTO usage VALUES (1, %lld, 300, 1, 1, 1, 10, 100, 200, %lld, %lld, 1);"
		 "INSERT INTO usage VALUES (2, %lld, 300, 1, 2, 1, 10, 5, 5, %lld, %lld, 1);"
		 "INSERT INTO usage_daily VALUES (%lld, 1, 1, 1, 1, 10, 100, 200, %lld, %lld);"
		 "UPDATE meta SET value = '1' WHERE name = 'rollup_id';"
		 "INSERT INTO tokens(name, role, hash, created) VALUES ('gw-1', 1, 'abc', 1);",
		 (long long)DAY0, (long long)DAY0 + 1000, (long long)DAY0 + 2000,
		 (long long)(DAY0 + DAY), (long long)(DAY0 + DAY) + 1000,
		 (long long)(DAY0 + DAY) + 2000, (long long)(DAY0 / DAY), (long long)DAY0 + 1000,
		 (long long)DAY0 + 2000);
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	if (sqlite3_exec(h, v1_schema, NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("version 1 database: %s", msg);
	sqlite3_close(h);
}

static void
test_migrate_v1(void **state)
{
	struct fixture *f = *state;
	unsigned char hdr[100];
	struct store_token t;

	make_v1_db(f->db);
	header_read(f->db, hdr);
	assert_int_equal(get32(hdr + 60), 1);
	struct store *st = open_ok(f->db);

	/* the rows of version 1, rolled up and not, as they were */
	struct store_totals tt = totals(st, 0, 0);
	assert_int_equal(tt.records, 2);
	assert_int_equal(tt.bytes_up, 105);
	assert_int_equal(tt.bytes_down, 205);
	assert_int_equal(totals(st, DAY0 + DAY, 0).bytes_up, 5);
	assert_int_equal(store_token_find(st, "abc", &t), 1);
	struct app_rows *ar = apps(st, 0, 0);
	assert_non_null(app_row(ar, "alpha"));
	free(ar);
	struct geo_rows *rows = domains_geo(st, 0, 0);
	assert_int_equal(rows->n, 1);
	assert_string_equal(rows->row[0].name, "old.example");
	assert_int_equal(rows->row[0].net, 0); /* no network known */
	assert_int_equal(rows->row[0].bytes_up, 100);
	free(rows);

	/* a record of an old key without geolocation finds it; one with a
	 * network is a key of its own, and names the domain's network */
	struct usage_record r = rec(DAY0 + 2 * DAY, "10.0.0.1", "a.old.example", "old.example",
				    NULL, 1, 1);
	ingest_ok(st, "v2-1", &r, 1);
	assert_int_equal(count_rows(f->db, "keys"), 2);
	set_net(&r, 2);
	ingest_ok(st, "v2-2", &r, 1);
	assert_int_equal(count_rows(f->db, "keys"), 3);
	rows = domains_geo(st, 0, 0);
	assert_int_equal(rows->n, 1);
	assert_int_equal(rows->row[0].bytes_up, 102);
	assert_int_equal(rows->row[0].net, 2); /* DE: the only one placed */
	free(rows);
	assert_int_equal(store_rollup(st), 3);
	assert_int_equal(totals(st, 0, 0).records, 4);
	store_close(st);
	header_read(f->db, hdr); /* closed: the WAL is in the file */
	assert_int_equal(get32(hdr + 60), 2);

	/* opened again: nothing more to migrate */
	st = open_ok(f->db);
	assert_int_equal(totals(st, 0, 0).records, 4);
	store_close(st);
	header_read(f->db, hdr);
	assert_int_equal(get32(hdr + 60), 2);
}

/* ---- remap ------------------------------------------------------------ */

static void
test_remap(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->db);
	struct usage_record r[] = {
		rec(DAY0, "10.0.0.1", "files.examplesaas.com", "examplesaas.com", NULL, 100, 900),
		rec(DAY0, "10.0.0.2", "files.examplesaas.com", "examplesaas.com", NULL, 100, 900),
		rec(DAY0, "10.0.0.2", "www.nothing.example", "nothing.example", NULL, 1, 1),
		/* hostless: nDPI's app part, then its master part */
		rec(DAY0, "10.0.0.3", NULL, NULL, NULL, 50, 50),
		rec(DAY0, "10.0.0.3", NULL, NULL, NULL, 60, 60),
		/* hostless, no nDPI name: the agent's word stands */
		rec(DAY0, "10.0.0.4", NULL, NULL, "agentapp", 7, 7),
		/* the agent's app for a host the signatures do not know goes */
		rec(DAY0, "10.0.0.4", "cdn.nothing.example", "nothing.example", "agentapp", 3, 3),
	};
	r[3].ndpi_proto = "TLS.ExampleSaaS";
	r[4].ndpi_proto = "ChatMaster.Unknownapp";
	r[5].ndpi_proto = NULL;
	struct app_rows *ar;

	ingest_ok(st, "before", r, sizeof(r) / sizeof(r[0]));
	ar = apps(st, 0, 0);
	assert_null(app_row(ar, "examplesaas"));
	assert_int_equal(app_row(ar, NULL)->bytes_up, 100 + 100 + 1 + 50 + 60);
	assert_int_equal(app_row(ar, "agentapp")->bytes_up, 10);
	free(ar);

	sig_db *sigs = load_sigs(f, "sigs.yaml", sig_yaml);
	long changed = store_remap(st, sigs);
	/* examplesaas (the host key, the TLS.ExampleSaaS key), chatco, and
	 * the agent's app on an unknown host */
	assert_int_equal(changed, 4);
	ar = apps(st, 0, 0);
	const struct store_app_row *ex = app_row(ar, "examplesaas");
	assert_non_null(ex);
	assert_int_equal(ex->users, 3);
	assert_int_equal(ex->bytes_up, 250);
	assert_int_equal(ex->bytes_down, 1850);
	assert_int_equal(app_row(ar, "chatco")->bytes_up, 60);
	assert_int_equal(app_row(ar, "agentapp")->bytes_up, 7);
	assert_int_equal(app_row(ar, NULL)->bytes_up, 1 + 3);
	for (size_t i = 0; i < ar->n; i++)
		if (strcmp(ar->name[i], "examplesaas") == 0)
			assert_string_equal(ar->category[i], "file-sharing");
	free(ar);

	struct generic_rows *rows = calloc(1, sizeof(*rows));
	assert_non_null(rows);
	assert_int_equal(store_unknown_domains(st, 0, 0, collect_domain, rows), 0);
	assert_int_equal(rows->n, 1);
	assert_string_equal(rows->row[0].name, "nothing.example");
	assert_int_equal(rows->row[0].b, 2);
	free(rows);

	/* The same signatures again: nothing to do, on this handle or another. */
	assert_int_equal(store_remap(st, sigs), 0);
	struct store *st2 = open_ok(f->db);
	assert_int_equal(store_remap(st2, sigs), 0);

	/* New keys are mapped as they arrive, on any handle given the sigs. */
	struct usage_record later = rec(DAY0 + DAY, "10.0.0.5", "up.examplesaas.com",
					"examplesaas.com", NULL, 1000, 0);
	ingest_ok(st2, "later", &later, 1);
	ar = apps(st, DAY0 + DAY, 0);
	assert_int_equal(ar->n, 1);
	assert_non_null(app_row(ar, "examplesaas"));
	free(ar);
	assert_int_equal(store_remap(st, sigs), 0);

	/* A handle without signatures stores the agent's verdict; the next
	 * remap, with unchanged signatures, catches up with it. */
	struct store *st3 = open_ok(f->db);
	struct usage_record stale = rec(DAY0 + DAY, "10.0.0.6", "dl.examplesaas.com",
					"examplesaas.com", "oldname", 5, 0);
	ingest_ok(st3, "stale", &stale, 1);
	store_close(st3);
	ar = apps(st, 0, 0);
	assert_non_null(app_row(ar, "oldname"));
	free(ar);
	assert_int_equal(store_remap(st2, sigs), 1);
	ar = apps(st, 0, 0);
	assert_null(app_row(ar, "oldname"));
	assert_int_equal(app_row(ar, "examplesaas")->users, 5);
	free(ar);

	/* An exclusion pattern is part of the signatures' hash: adding one,
	 * changing it and taking it away each re-map what it fits ("files",
	 * then "up"), though the app and its domains stay the same. */
	static const char xpat_head[] =
		"categories: [{slug: file-sharing, name: File sharing}]\n"
		"apps:\n  - slug: examplesaas\n    name: ExampleSaaS\n    vendor: Example Inc.\n"
		"    category: file-sharing\n    domains: [examplesaas.com]\n    ndpi: [ExampleSaaS]\n"
		"    exclude_domains: [\"";
	char yaml[512];
	snprintf(yaml, sizeof(yaml), "%s*s.examplesaas.com\"]\n", xpat_head);
	sig_db *xs = load_sigs(f, "xs.yaml", yaml);
	snprintf(yaml, sizeof(yaml), "%s*p.examplesaas.com\"]\n", xpat_head);
	sig_db *xp = load_sigs(f, "xp.yaml", yaml);
	assert_int_equal(store_remap(st, xs), 2); /* files.examplesaas.com; chatco */
	ar = apps(st, 0, 0);
	assert_int_equal(app_row(ar, "examplesaas")->users, 3); /* files' two clients gone */
	free(ar);
	assert_int_equal(store_remap(st, xp), 2); /* files back, up out */
	ar = apps(st, DAY0 + DAY, 0);
	assert_int_equal(app_row(ar, "examplesaas")->bytes_up, 5); /* dl.examplesaas.com */
	free(ar);
	assert_int_equal(store_remap(st, xp), 0);
	assert_int_equal(store_remap(st, sigs), 2); /* up back; chatco */
	sig_db_free(xp);
	sig_db_free(xs);

	/* Other signatures: examplesaas is gone, its usage has no app again. */
	sig_db *fewer = load_sigs(f, "fewer.yaml",
				  "categories:\n"
				  "  - slug: messaging\n"
				  "    name: Messaging\n"
				  "apps:\n"
				  "  - slug: chatco\n"
				  "    name: ChatCo\n"
				  "    vendor: ChatCo Ltd\n"
				  "    category: messaging\n"
				  "    domains: [chatco.example]\n"
				  "    ndpi: [ChatMaster]\n");
	assert_int_equal(store_remap(st, fewer), 4); /* the four examplesaas keys */
	ar = apps(st, 0, 0);
	assert_null(app_row(ar, "examplesaas"));
	free(ar);
	assert_int_equal(store_remap(st, fewer), 0);
	assert_int_equal(store_remap(st, NULL), -1);

	store_close(st2);
	store_close(st);
	sig_db_free(fewer);
	sig_db_free(sigs);
}

/* ---- tokens ----------------------------------------------------------- */

struct token_list {
	int n;
	char names[8][32];
	int revoked[8];
	enum store_role roles[8];
};

static int
collect_token(void *arg, const struct store_token *t)
{
	struct token_list *l = arg;
	if (l->n == 8)
		return 1;
	snprintf(l->names[l->n], sizeof(l->names[0]), "%s", t->name);
	l->revoked[l->n] = t->revoked;
	l->roles[l->n] = t->role;
	l->n++;
	return 0;
}

static void
test_tokens(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->db);
	struct store_token t;
	struct token_list l;

	assert_int_equal(store_token_add(st, STORE_ROLE_AGENT, "branch-1", "aa11"), 0);
	assert_int_equal(store_token_add(st, STORE_ROLE_READER, "branch-1", "bb22"), 0);
	/* a second live token of that role and name */
	assert_int_equal(store_token_add(st, STORE_ROLE_AGENT, "branch-1", "cc33"), -1);
	assert_non_null(strstr(store_error(st), "branch-1"));
	assert_non_null(strstr(store_error(st), "token add"));
	/* a hash in use */
	assert_int_equal(store_token_add(st, STORE_ROLE_AGENT, "branch-2", "aa11"), -1);
	assert_int_equal(store_token_add(st, (enum store_role)7, "x", "dd44"), -1);

	memset(&t, 0, sizeof(t));
	assert_int_equal(store_token_find(st, "aa11", &t), 1);
	assert_string_equal(t.name, "branch-1");
	assert_int_equal(t.role, STORE_ROLE_AGENT);
	assert_int_equal(t.revoked, 0);
	assert_true(t.created > 0);
	assert_true(t.last_used >= t.created);
	int64_t used = t.last_used;
	/* within a minute, last_used is not written again */
	assert_int_equal(store_token_find(st, "aa11", &t), 1);
	assert_int_equal(t.last_used, used);
	assert_int_equal(store_token_find(st, "nope", &t), 0);

	assert_int_equal(store_token_revoke(st, STORE_ROLE_AGENT, "branch-1"), 1);
	assert_int_equal(store_token_revoke(st, STORE_ROLE_AGENT, "branch-1"), 0);
	assert_int_equal(store_token_find(st, "aa11", &t), 0);
	assert_int_equal(store_token_find(st, "bb22", &t), 1); /* the reader lives on */
	/* after revoking, the name may be used again */
	assert_int_equal(store_token_add(st, STORE_ROLE_AGENT, "branch-1", "cc33"), 0);
	store_close(st);

	st = open_ok(f->db);
	memset(&l, 0, sizeof(l));
	assert_int_equal(store_token_list(st, collect_token, &l), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.names[0], "branch-1");
	assert_int_equal(l.revoked[0], 1);
	assert_int_equal(l.roles[1], STORE_ROLE_READER);
	assert_int_equal(l.revoked[2], 0);
	assert_int_equal(store_token_find(st, "cc33", &t), 1);
	store_close(st);
}

/* ---- two handles ------------------------------------------------------ */

#define RW_BATCHES 60
#define RW_RECORDS 40

struct rw {
	const char *path;
	int writer_id;
	atomic_int done;
	int reads;
	int failures;
	char why[600];
};

/* Each batch holds RW_RECORDS records of 1 byte up, 2 down. */
static void *
writer(void *arg)
{
	struct rw *rw = arg;
	char err[512], id[32], host[RW_RECORDS][32];
	struct usage_record r[RW_RECORDS];
	struct store *st = store_open(rw->path, err, sizeof(err));

	if (!st) {
		snprintf(rw->why, sizeof(rw->why), "open: %s", err);
		rw->failures++;
		rw->done = 1;
		return NULL;
	}
	for (int b = 0; b < RW_BATCHES; b++) {
		for (int i = 0; i < RW_RECORDS; i++) {
			snprintf(host[i], sizeof(host[i]), "h%d.w%d.example", (b * 7 + i) % 97,
				 rw->writer_id);
			r[i] = rec(DAY0 + (int64_t)(b % 3) * DAY, "10.9.0.1", host[i], NULL, NULL,
				   1, 2);
		}
		snprintf(id, sizeof(id), "w%d-%d", rw->writer_id, b);
		if (store_ingest(st, id, "agent", r, RW_RECORDS) != STORE_STORED) {
			snprintf(rw->why, sizeof(rw->why), "ingest: %s", store_error(st));
			rw->failures++;
			break;
		}
	}
	store_close(st);
	rw->done = 1;
	return NULL;
}

static void
test_two_handles(void **state)
{
	struct fixture *f = *state;
	struct store *reader = open_ok(f->db);
	struct rw w1 = {.path = f->db, .writer_id = 1}, w2 = {.path = f->db, .writer_id = 2};
	pthread_t t1, t2;
	uint64_t last = 0;
	int reads = 0;

	assert_int_equal(pthread_create(&t1, NULL, writer, &w1), 0);
	assert_int_equal(pthread_create(&t2, NULL, writer, &w2), 0);
	/* The reader sees whole batches only, never less than before, while
	 * it folds raw rows into the roll-up now and then. */
	while (!w1.done || !w2.done) {
		if (reads % 5 == 4 && store_rollup(reader) < 0)
			fail_msg("roll-up: %s", store_error(reader));
		struct store_totals t = totals(reader, 0, 0);
		assert_int_equal(t.records % RW_RECORDS, 0);
		assert_int_equal(t.bytes_up, t.records);
		assert_int_equal(t.bytes_down, 2 * t.records);
		assert_true(t.records >= last);
		last = t.records;
		reads++;
	}
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	if (w1.failures || w2.failures)
		fail_msg("writer failed: %s%s", w1.why, w2.why);
	struct store_totals t = totals(reader, 0, 0);
	assert_int_equal(t.records, 2 * RW_BATCHES * RW_RECORDS);
	assert_true(store_rollup(reader) >= 0);
	struct store_totals again = totals(reader, 0, 0);
	assert_memory_equal(&t, &again, sizeof(t));
	t = totals(reader, DAY0 + DAY, DAY0 + 2 * DAY); /* b % 3 == 1 */
	assert_int_equal(t.records, 2 * (RW_BATCHES / 3) * RW_RECORDS);
	assert_true(reads > 0);
	store_close(reader);
}

/* ---- a full database -------------------------------------------------- */

static void
fill_batch(struct usage_record *r, char (*host)[40], int n, int b)
{
	for (int i = 0; i < n; i++) {
		snprintf(host[i], 40, "host-%d-%d.full.example", b, i);
		r[i] = rec(DAY0 + (int64_t)(i % 4) * DAY, "10.7.0.1", host[i], "full.example",
			   NULL, 1, 1);
	}
}

static void
test_full_database(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->db);
	struct usage_record r[200];
	char host[200][40], id[32];
	struct store_totals before, after;
	int b, failed = 0;

	/* A cap a little above what is there: some batches fit, then one
	 * does not. */
	assert_int_equal(store_set_max_bytes(st, 256 * 1024), 0);
	for (b = 0; b < 500; b++) {
		fill_batch(r, host, 200, b);
		snprintf(id, sizeof(id), "full-%d", b);
		before = totals(st, 0, 0);
		enum store_ingest_result res = store_ingest(st, id, "agent", r, 200);
		if (res == STORE_FAILED) {
			failed = 1;
			break;
		}
		assert_int_equal(res, STORE_STORED);
	}
	assert_true(failed);
	assert_true(b > 0);
	assert_non_null(strstr(store_error(st), "full"));
	assert_non_null(strstr(store_error(st), "ingest"));
	/* Nothing of the failed batch is there, not even its id. */
	after = totals(st, 0, 0);
	assert_memory_equal(&before, &after, sizeof(before));
	assert_int_equal(store_ingest(st, id, "agent", r, 200), STORE_FAILED);
	/* A roll-up needs room too; when it fails, nothing is lost either. */
	if (store_rollup(st) < 0)
		assert_non_null(strstr(store_error(st), "roll-up"));
	after = totals(st, 0, 0);
	assert_memory_equal(&before, &after, sizeof(before));

	/* With room again, the same batch goes in whole, once, and the keys
	 * it creates get fresh ids (the caches forgot the rolled-back ones). */
	assert_int_equal(store_set_max_bytes(st, 0), 0);
	ingest_ok(st, id, r, 200);
	assert_int_equal(store_ingest(st, id, "agent", r, 200), STORE_DUPLICATE);
	after = totals(st, 0, 0);
	assert_int_equal(after.records, before.records + 200);
	snprintf(id, sizeof(id), "full-again");
	ingest_ok(st, id, r, 200);
	assert_int_equal(totals(st, 0, 0).records, before.records + 400);
	assert_true(store_rollup(st) > 0);
	assert_int_equal(totals(st, 0, 0).records, before.records + 400);
	struct generic_rows *rows = calloc(1, sizeof(*rows));
	assert_non_null(rows);
	assert_int_equal(store_unknown_domains(st, 0, 0, collect_domain, rows), 0);
	assert_int_equal(rows->n, 1);
	assert_int_equal(rows->row[0].b, (uint64_t)(b + 1) * 200); /* distinct hosts */
	free(rows);
	store_close(st);
}

/* ---- group commit ------------------------------------------------------ */

static void
test_ingest_group(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->db);
	struct usage_record a[3] = {
		rec(DAY0, "10.0.0.1", "a.example.com", "example.com", NULL, 100, 1000),
		rec(DAY0, "10.0.0.2", "a.example.com", "example.com", NULL, 200, 2000),
		rec(DAY0 + BUCKET, "10.0.0.1", NULL, NULL, "someapp", 300, 3000),
	};
	struct usage_record b[2] = {
		rec(DAY0 + DAY, "10.0.0.3", "b.example.net", "example.net", NULL, 5, 50),
		rec(DAY0 + DAY, "2001:db8::1", "b.example.net", "example.net", NULL, 6, 60),
	};
	struct usage_record before = rec(DAY0, "10.0.0.9", "z.example.org", "example.org",
					 NULL, 7, 70);
	struct usage_record bad = rec(DAY0, "10.0.0.9", "bad.example.org", "example.org",
				      NULL, 1, 1);
	char err[6][128];
	enum store_ingest_result res[6];
	struct store_totals t;

	memset(err, 0, sizeof(err));
	ingest_ok(st, "stored-before", &before, 1);
	bad.bytes_up = (uint64_t)INT64_MAX + 1;
	struct store_batch g[6] = {
		{ "group-a", "agent-1", a, 3, err[0], sizeof(err[0]) },
		{ "group-b", "agent-2", b, 2, err[1], sizeof(err[1]) },
		/* the same id twice in one group: the first is stored */
		{ "group-a", "agent-1", a, 3, err[2], sizeof(err[2]) },
		{ "stored-before", "agent-1", &before, 1, err[3], sizeof(err[3]) },
		/* refused before the transaction: fails no other */
		{ "group-bad", "agent-1", &bad, 1, err[4], sizeof(err[4]) },
		{ "group-empty", "agent-1", NULL, 0, NULL, 0 },
	};
	assert_int_equal(store_ingest_group(st, g, 6, res), -1);
	assert_int_equal(res[0], STORE_STORED);
	assert_int_equal(res[1], STORE_STORED);
	assert_int_equal(res[2], STORE_DUPLICATE);
	assert_int_equal(res[3], STORE_DUPLICATE);
	assert_int_equal(res[4], STORE_FAILED);
	assert_int_equal(res[5], STORE_STORED);
	assert_non_null(strstr(err[4], "out of range"));
	for (int i = 0; i < 4; i++)
		assert_string_equal(err[i], ""); /* written on failure only */
	t = totals(st, 0, 0);
	assert_int_equal(t.records, 1 + 3 + 2);
	assert_int_equal(t.flows, 1 + 3 + 2);
	assert_int_equal(t.bytes_up, 7 + 600 + 11);
	assert_int_equal(t.bytes_down, 70 + 6000 + 110);
	assert_int_equal(totals(st, DAY0 + DAY, DAY0 + 2 * DAY).records, 2);

	/* The same group again: all duplicates now, but the refused one,
	 * which goes in once its count is one SQLite can hold. */
	bad.bytes_up = 1;
	assert_int_equal(store_ingest_group(st, g, 6, res), 0);
	for (int i = 0; i < 6; i++)
		assert_int_equal(res[i], i == 4 ? STORE_STORED : STORE_DUPLICATE);
	t = totals(st, 0, 0);
	assert_int_equal(t.records, 1 + 3 + 2 + 1);
	assert_int_equal(t.bytes_up, 7 + 600 + 11 + 1);

	/* An empty group is nothing to do; a group of duplicates changes
	 * nothing, on another handle too. */
	assert_int_equal(store_ingest_group(st, g, 0, res), 0);
	struct store *st2 = open_ok(f->db);
	assert_int_equal(store_ingest_group(st2, g, 2, res), 0);
	assert_int_equal(res[0], STORE_DUPLICATE);
	assert_int_equal(res[1], STORE_DUPLICATE);
	struct store_totals t2 = totals(st2, 0, 0);
	assert_memory_equal(&t, &t2, sizeof(t));
	store_close(st2);
	store_close(st);
}

/* A group whose transaction fails as a whole (a full database) is tried
 * again batch by batch: the batch that cannot fit fails, and it alone. */
static void
test_group_full_database(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->db);
	static struct usage_record big[3000];
	static char big_host[3000][40];
	struct usage_record small[3][10];
	char small_host[3][10][40], err[4][128];
	enum store_ingest_result res[4];
	struct store_totals t;

	fill_batch(small[0], small_host[0], 10, 0);
	fill_batch(small[1], small_host[1], 10, 1);
	fill_batch(small[2], small_host[2], 10, 2);
	fill_batch(big, big_host, 3000, 3);
	ingest_ok(st, "warm-up", small[2], 10);
	/* room for small batches, not for 3,000 new names and rows */
	assert_int_equal(store_set_max_bytes(st, 256 * 1024), 0);
	memset(err, 0, sizeof(err));
	struct store_batch g[4] = {
		{ "small-0", "agent", small[0], 10, err[0], sizeof(err[0]) },
		{ "big", "agent", big, 3000, err[1], sizeof(err[1]) },
		{ "small-1", "agent", small[1], 10, err[2], sizeof(err[2]) },
		{ "small-0", "agent", small[0], 10, err[3], sizeof(err[3]) },
	};
	assert_int_equal(store_ingest_group(st, g, 4, res), -1);
	assert_int_equal(res[0], STORE_STORED);
	assert_int_equal(res[1], STORE_FAILED);
	assert_int_equal(res[2], STORE_STORED);
	assert_int_equal(res[3], STORE_DUPLICATE);
	assert_non_null(strstr(err[1], "full"));
	assert_non_null(strstr(store_error(st), "full"));
	assert_string_equal(err[0], "");
	t = totals(st, 0, 0);
	assert_int_equal(t.records, 10 + 10 + 10);
	assert_int_equal(t.bytes_up, 30);

	/* With room, the failed batch goes in whole, once; its names get
	 * fresh ids (the caches forgot the rolled-back ones). */
	assert_int_equal(store_set_max_bytes(st, 0), 0);
	assert_int_equal(store_ingest_group(st, g, 4, res), 0);
	assert_int_equal(res[0], STORE_DUPLICATE);
	assert_int_equal(res[1], STORE_STORED);
	assert_int_equal(res[2], STORE_DUPLICATE);
	assert_int_equal(res[3], STORE_DUPLICATE);
	t = totals(st, 0, 0);
	assert_int_equal(t.records, 30 + 3000);
	assert_true(store_rollup(st) > 0);
	assert_int_equal(totals(st, 0, 0).records, 30 + 3000);
	struct generic_rows *rows = calloc(1, sizeof(*rows));
	assert_non_null(rows);
	assert_int_equal(store_unknown_domains(st, 0, 0, collect_domain, rows), 0);
	assert_int_equal(rows->n, 1);
	assert_int_equal(rows->row[0].b, 30 + 3000); /* distinct hosts */
	free(rows);
	store_close(st);
}

/* Batches stored in groups, rolled up a step at a time and by a handle
 * opened later: queries stay exact, and the backlog is seen by a handle
 * that did not write it. */
static void
test_rollup_steps(void **state)
{
	struct fixture *f = *state;
	struct world *w = make_world();
	struct store *st = open_ok(f->db);
	struct store_batch g[4];
	enum store_ingest_result res[4];
	char id[4][32];

	for (int i = 0; i < N_RECS; i += 4 * 250) {
		for (int k = 0; k < 4; k++) {
			snprintf(id[k], sizeof(id[k]), "steps-%d", i + k * 250);
			g[k] = (struct store_batch){ id[k], "agent-1", &w->recs[i + k * 250], 250,
						     NULL, 0 };
		}
		assert_int_equal(store_ingest_group(st, g, 4, res), 0);
		for (int k = 0; k < 4; k++)
			assert_int_equal(res[k], STORE_STORED);
		w->n_in = i + 4 * 250;
	}
	assert_int_equal(store_rollup_pending(st), N_RECS); /* groups never roll up */
	assert_int_equal(store_rollup_some(st, 1000), 1000);
	assert_int_equal(store_rollup_pending(st), N_RECS - 1000);
	check_ranges(st, w);
	store_close(st);

	st = open_ok(f->db);
	assert_int_equal(store_rollup_pending(st), N_RECS - 1000);
	assert_int_equal(store_rollup_some(st, 0), N_RECS - 1000);
	assert_int_equal(store_rollup_pending(st), 0);
	assert_int_equal(store_rollup_some(st, 10), 0);
	check_ranges(st, w);
	store_close(st);
	free(w);
}

/* With manual checkpoints a handle's commits leave the WAL to a
 * checkpoint run elsewhere; after one, the WAL starts afresh. */
static void
test_manual_checkpoints(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->db), *other = open_ok(f->db);
	static struct usage_record r[1000];
	static char host[1000][40];
	int64_t after_big;

	store_manual_checkpoints(st);
	assert_int_equal(store_wal_pages(st), 0);
	fill_batch(r, host, 1000, 0);
	ingest_ok(st, "big", r, 1000);
	after_big = store_wal_pages(st);
	assert_true(after_big > 10);
	/* no checkpoint: the next commit adds to the WAL */
	ingest_ok(st, "one", r, 1);
	assert_true(store_wal_pages(st) > after_big);
	/* a checkpoint on another handle copies it all; the next
	 * transaction starts the WAL again from its beginning */
	assert_int_equal(store_checkpoint(other), 0);
	ingest_ok(st, "two", r + 1, 1);
	assert_true(store_wal_pages(st) < after_big);
	assert_int_equal(totals(other, 0, 0).records, 1002);
	store_close(other);
	store_close(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_migrate_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_newer_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_foreign_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unwritable_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ingest_and_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_totals_and_apps_match_reference, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_range_cuts_days, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollup_by_ingest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_groups_and_distinct_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_geo_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_geo_match_reference, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_handles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_database, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ingest_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_full_database, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollup_steps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manual_checkpoints, setup, teardown),
	};
	log_init("test_store", LOG_LEVEL_WARN); /* no "migrated" line per test */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
