/*
 * The SQLite back end of the collector's store (store.h): schema and its
 * migrations, batch ingest with a per-day roll-up, re-mapping of stored
 * names to apps, tokens, and the queries the API and the reports run.
 * The only file of shadowmap that includes sqlite3.h; docs/store.md says
 * why the schema looks the way it does.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "shadowmap/addr.h"
#include "shadowmap/domain.h"
#include "shadowmap/hash.h"
#include "shadowmap/log.h"
#include "shadowmap/sbuf.h"
#include "store.h"

/* "ShMp" in the header's application_id field: with it a shadowmap
 * database is told apart from any other SQLite file before anything in it
 * is read or changed. */
#define STORE_APPLICATION_ID 1399344496 /* 0x53684d70 */
#define STR_(x) #x
#define STR(x) STR_(x)

#define DAY_USEC_INT 86400000000
#define DAY_USEC ((int64_t)DAY_USEC_INT)
#define BUSY_TIMEOUT_MS 5000
/* last_used is a hint for people ("unused for a year"), not an audit log:
 * one write per token per minute instead of one per request, and none when
 * the write lock is not free within TOKEN_TOUCH_BUSY_MS (a busy writer
 * holds it nearly all the time: a request must not wait seconds for it). */
#define TOKEN_TOUCH_USEC (60LL * 1000000LL)
#define TOKEN_TOUCH_BUSY_MS 20
/* Keys re-mapped per SELECT, so that memory stays bounded however many
 * keys the database holds. */
#define REMAP_CHUNK 512
/* Raw rows are folded into the daily roll-up once this many wait: often
 * enough that queries read few raw rows, seldom enough that each roll-up
 * page is written once per roll-up, not once per batch (docs/store.md). */
#define ROLLUP_ROWS 10000
/* Id caches: cleared when full rather than grown without bound. */
#define KEY_CACHE_MAX (1u << 17)
#define CLIENT_CACHE_MAX (1u << 16)
#define KEYBUF_MAX (1u << 20)
/* Rows of the largest INSERT INTO usage statement (S_USAGE_INSERT_32),
 * and the parameters of one row. */
#define USAGE_ROWS 32
#define USAGE_COLUMNS 11

/* ---- schema ---------------------------------------------------------- */

/*
 * Migrations, in order: step i takes the schema from user_version i to
 * i + 1, in a transaction of its own. Never edit a released step; append
 * one. Step 1 also stamps the application id.
 */
static const char *const migrations[] = {
	/* 1: the first schema */
	"PRAGMA application_id = " STR(STORE_APPLICATION_ID) ";"
	"CREATE TABLE meta ("
	"  name TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL"
	") WITHOUT ROWID;"
	"INSERT INTO meta(name, value) VALUES ('application', 'shadowmap');"
	/* usage rows with ids up to this one are in usage_daily */
	"INSERT INTO meta(name, value) VALUES ('rollup_id', '0');"
	"CREATE TABLE batches ("
	"  id INTEGER PRIMARY KEY,"
	"  batch_id TEXT NOT NULL UNIQUE,"
	"  agent TEXT,"
	"  received INTEGER NOT NULL,"
	"  records INTEGER NOT NULL"
	");"
	"CREATE TABLE clients ("
	"  id INTEGER PRIMARY KEY,"
	"  addr TEXT NOT NULL UNIQUE"
	");"
	/* What the agent sent (host .. untracked) and what the signatures make
	 * of it (app, category; mapped = 1 when computed with the signatures
	 * whose hash is meta.sig_hash). */
	"CREATE TABLE keys ("
	"  id INTEGER PRIMARY KEY,"
	"  host TEXT,"
	"  domain TEXT,"
	"  ndpi_proto TEXT,"
	"  agent_app TEXT,"
	"  agent_category TEXT,"
	"  untracked TEXT,"
	"  app TEXT,"
	"  category TEXT,"
	"  mapped INTEGER NOT NULL DEFAULT 0"
	");"
	/* UNIQUE treats NULLs as distinct; x'' (a blob) equals no text, so
	 * NULL and "" stay apart while two NULLs collide as they should. */
	"CREATE UNIQUE INDEX keys_ident ON keys(ifnull(host, x''), ifnull(ndpi_proto, x''),"
	"  ifnull(agent_app, x''), ifnull(untracked, x''));"
	"CREATE INDEX keys_unmapped ON keys(id) WHERE mapped = 0;"
	/* AUTOINCREMENT: ids never come back, even after every row was
	 * pruned, so that "id above rollup_id" always means "not rolled up". */
	"CREATE TABLE usage ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  bucket_start INTEGER NOT NULL,"
	"  bucket_seconds INTEGER NOT NULL,"
	"  client_id INTEGER NOT NULL REFERENCES clients(id),"
	"  key_id INTEGER NOT NULL REFERENCES keys(id),"
	"  flows INTEGER NOT NULL,"
	"  packets INTEGER NOT NULL,"
	"  bytes_up INTEGER NOT NULL,"
	"  bytes_down INTEGER NOT NULL,"
	"  first_seen INTEGER NOT NULL,"
	"  last_seen INTEGER NOT NULL,"
	"  batch INTEGER NOT NULL REFERENCES batches(id)"
	");"
	"CREATE INDEX usage_bucket ON usage(bucket_start);"
	/* Derived from usage rows whose ids were checked on insert: no
	 * foreign keys to check a second time. */
	"CREATE TABLE usage_daily ("
	"  day INTEGER NOT NULL,"
	"  client_id INTEGER NOT NULL,"
	"  key_id INTEGER NOT NULL,"
	"  records INTEGER NOT NULL,"
	"  flows INTEGER NOT NULL,"
	"  packets INTEGER NOT NULL,"
	"  bytes_up INTEGER NOT NULL,"
	"  bytes_down INTEGER NOT NULL,"
	"  first_seen INTEGER NOT NULL,"
	"  last_seen INTEGER NOT NULL,"
	"  PRIMARY KEY (day, client_id, key_id)"
	") WITHOUT ROWID;"
	"CREATE TABLE tokens ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  role INTEGER NOT NULL CHECK (role IN (1, 2)),"
	"  hash TEXT NOT NULL UNIQUE,"
	"  created INTEGER NOT NULL,"
	"  last_used INTEGER NOT NULL DEFAULT 0,"
	"  revoked INTEGER NOT NULL DEFAULT 0" /* usec when revoked, 0 live */
	");"
	"CREATE UNIQUE INDEX tokens_live ON tokens(role, name) WHERE revoked = 0;",
	/* 2: where the servers are (docs/usage-format.md): country, AS number
	 * (NULL for none, never 0) and its organisation become part of a key,
	 * so that usage of one name on two networks stays apart. Rows of
	 * version 1 keep NULL, and records without geolocation still find
	 * them. */
	"ALTER TABLE keys ADD COLUMN country TEXT;"
	"ALTER TABLE keys ADD COLUMN asn INTEGER;"
	"ALTER TABLE keys ADD COLUMN as_org TEXT;"
	"DROP INDEX keys_ident;"
	"CREATE UNIQUE INDEX keys_ident ON keys(ifnull(host, x''), ifnull(ndpi_proto, x''),"
	"  ifnull(agent_app, x''), ifnull(untracked, x''), ifnull(country, x''),"
	"  ifnull(asn, x''), ifnull(as_org, x''));",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* ---- statements ------------------------------------------------------- */

/* Every statement after open is prepared once, on first use, and kept on
 * the handle: preparing costs more than running most of them. */
enum stmt_id {
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_META_GET,
	S_META_SET,
	S_BATCH_INSERT,
	S_CLIENT_FIND,
	S_CLIENT_INSERT,
	S_KEY_FIND,
	S_KEY_INSERT,
	S_USAGE_INSERT, /* these six in this order: 1, 2, 4 ... 32 rows */
	S_USAGE_INSERT_2,
	S_USAGE_INSERT_4,
	S_USAGE_INSERT_8,
	S_USAGE_INSERT_16,
	S_USAGE_INSERT_32,
	S_ROLLUP_MARK,
	S_ROLLUP,
	S_KEYS_ALL,
	S_KEYS_UNMAPPED,
	S_KEYS_ANY_UNMAPPED,
	S_KEY_SET_APP,
	S_KEY_SET_AGENT,
	S_KEYS_MARK_MAPPED,
	S_TOKEN_LIVE,
	S_TOKEN_HASH_EXISTS,
	S_TOKEN_INSERT,
	S_TOKEN_FIND,
	S_TOKEN_TOUCH,
	S_TOKEN_LIST,
	S_TOKEN_REVOKE,
	S_Q_APPS,
	S_Q_CATEGORIES,
	S_Q_CLIENTS,
	S_Q_DOMAINS,
	S_Q_NETWORKS,
	S_Q_TOTALS,
	S_Q_CLIENT_APPS,
	S_Q_USAGE,
	S_Q_KEYS,
	S_COUNT
};

/*
 * The usage of a range: whole days (?1 <= day < ?2) from the roll-up, plus
 * the raw rows of those days not rolled up yet (id above rollup_id,
 * ?7 <= bucket_start < ?8); the partial days at either edge from raw rows
 * (?3..?4 and ?5..?6, by bucket_start). All in one statement, so one
 * snapshot: a roll-up committing meanwhile cannot count a row twice.
 * Empty ranges cost one index probe each. The rows not rolled up yet are
 * found by id (few: the roll-up keeps up), not by time: "+bucket_start"
 * keeps SQLite from walking the time index over the whole range instead.
 */
#define RAW_DAY                                                                     \
	"CASE WHEN bucket_start >= 0 THEN bucket_start / " STR(DAY_USEC_INT)         \
	" ELSE -((-1 - bucket_start) / " STR(DAY_USEC_INT) ") - 1 END"
#define RAW_COLUMNS                                                                 \
	" SELECT " RAW_DAY ", client_id, key_id, 1, flows, packets, bytes_up,"      \
	"  bytes_down, first_seen, last_seen FROM usage"
#define USAGE_IN_RANGE                                                              \
	"WITH u(day, client_id, key_id, records, flows, packets, bytes_up,"         \
	" bytes_down, first_seen, last_seen) AS ("                                  \
	" SELECT day, client_id, key_id, records, flows, packets, bytes_up,"        \
	"  bytes_down, first_seen, last_seen FROM usage_daily"                      \
	"  WHERE day >= ?1 AND day < ?2"                                            \
	" UNION ALL" RAW_COLUMNS                                                    \
	"  WHERE id > (SELECT CAST(value AS INTEGER) FROM meta"                     \
	"              WHERE name = 'rollup_id')"                                   \
	"   AND +bucket_start >= ?7 AND +bucket_start < ?8"                         \
	" UNION ALL" RAW_COLUMNS                                                    \
	"  WHERE bucket_start >= ?3 AND bucket_start < ?4"                          \
	" UNION ALL" RAW_COLUMNS                                                    \
	"  WHERE bucket_start >= ?5 AND bucket_start < ?6) "

#define SUMS                                                                         \
	" sum(u.flows), sum(u.packets), sum(u.bytes_up), sum(u.bytes_down),"         \
	" min(u.first_seen), max(u.last_seen) "
#define BY_BYTES " ORDER BY sum(u.bytes_up) + sum(u.bytes_down) DESC, 1"

#define USAGE_INSERT_HEAD                                                           \
	"INSERT INTO usage(bucket_start, bucket_seconds, client_id, key_id, flows,"  \
	" packets, bytes_up, bytes_down, first_seen, last_seen, batch) VALUES "

static const char *const stmt_sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_META_GET] = "SELECT value FROM meta WHERE name = ?1",
	[S_META_SET] = "INSERT INTO meta(name, value) VALUES (?1, ?2)"
		       " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
	[S_BATCH_INSERT] = "INSERT INTO batches(batch_id, agent, received, records)"
			   " VALUES (?1, ?2, ?3, ?4) ON CONFLICT(batch_id) DO NOTHING",
	[S_CLIENT_FIND] = "SELECT id FROM clients WHERE addr = ?1",
	[S_CLIENT_INSERT] = "INSERT INTO clients(addr) VALUES (?1)",
	/* The same expressions as keys_ident, so that the index serves. */
	[S_KEY_FIND] = "SELECT id FROM keys WHERE ifnull(host, x'') = ifnull(?1, x'')"
		       " AND ifnull(ndpi_proto, x'') = ifnull(?2, x'')"
		       " AND ifnull(agent_app, x'') = ifnull(?3, x'')"
		       " AND ifnull(untracked, x'') = ifnull(?4, x'')"
		       " AND ifnull(country, x'') = ifnull(?5, x'')"
		       " AND ifnull(asn, x'') = ifnull(?6, x'')"
		       " AND ifnull(as_org, x'') = ifnull(?7, x'')",
	[S_KEY_INSERT] = "INSERT INTO keys(host, domain, ndpi_proto, agent_app, agent_category,"
			 " untracked, app, category, mapped, country, asn, as_org)"
			 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	[S_USAGE_INSERT] = USAGE_INSERT_HEAD "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	/* S_USAGE_INSERT_2 .. _32: the same with more rows, built by
	 * usage_insert_sql. */
	/* The watermark and the newest row, read under the write lock. */
	[S_ROLLUP_MARK] = "SELECT (SELECT CAST(value AS INTEGER) FROM meta"
			  " WHERE name = 'rollup_id'), (SELECT ifnull(max(id), 0) FROM usage)",
	/* ?1 < id <= ?2, grouped (so sorted) by the roll-up's key: each
	 * roll-up page is visited once. day is floor(bucket_start / day). */
	[S_ROLLUP] = "INSERT INTO usage_daily(day, client_id, key_id, records, flows,"
		     " packets, bytes_up, bytes_down, first_seen, last_seen)"
		     " SELECT " RAW_DAY ","
		     "  client_id, key_id, count(*), sum(flows), sum(packets), sum(bytes_up),"
		     "  sum(bytes_down), min(first_seen), max(last_seen)"
		     " FROM usage WHERE id > ?1 AND id <= ?2 GROUP BY 1, 2, 3"
		     " ON CONFLICT(day, client_id, key_id) DO UPDATE SET"
		     " records = records + excluded.records,"
		     " flows = flows + excluded.flows,"
		     " packets = packets + excluded.packets,"
		     " bytes_up = bytes_up + excluded.bytes_up,"
		     " bytes_down = bytes_down + excluded.bytes_down,"
		     " first_seen = min(first_seen, excluded.first_seen),"
		     " last_seen = max(last_seen, excluded.last_seen)",
	[S_KEYS_ALL] = "SELECT id, host, ndpi_proto, agent_app, agent_category, untracked,"
		       " app, category FROM keys WHERE id > ?1 ORDER BY id LIMIT ?2",
	[S_KEYS_UNMAPPED] = "SELECT id, host, ndpi_proto, agent_app, agent_category, untracked,"
			    " app, category FROM keys WHERE id > ?1 AND mapped = 0"
			    " ORDER BY id LIMIT ?2",
	[S_KEYS_ANY_UNMAPPED] = "SELECT EXISTS (SELECT 1 FROM keys WHERE mapped = 0)",
	[S_KEY_SET_APP] = "UPDATE keys SET app = ?2, category = ?3, mapped = 1 WHERE id = ?1",
	[S_KEY_SET_AGENT] = "UPDATE keys SET app = agent_app, category = agent_category,"
			    " mapped = 1 WHERE id = ?1",
	[S_KEYS_MARK_MAPPED] = "UPDATE keys SET mapped = 1 WHERE mapped = 0",
	[S_TOKEN_LIVE] = "SELECT id FROM tokens WHERE role = ?1 AND name = ?2 AND revoked = 0",
	[S_TOKEN_HASH_EXISTS] = "SELECT id FROM tokens WHERE hash = ?1",
	[S_TOKEN_INSERT] = "INSERT INTO tokens(name, role, hash, created) VALUES (?1, ?2, ?3, ?4)",
	[S_TOKEN_FIND] = "SELECT id, name, role, created, last_used, revoked FROM tokens"
			 " WHERE hash = ?1 AND revoked = 0",
	[S_TOKEN_TOUCH] = "UPDATE tokens SET last_used = ?2 WHERE id = ?1",
	[S_TOKEN_LIST] = "SELECT id, name, role, created, last_used, revoked FROM tokens"
			 " ORDER BY id",
	[S_TOKEN_REVOKE] = "UPDATE tokens SET revoked = ?3"
			   " WHERE role = ?1 AND name = ?2 AND revoked = 0",
	[S_Q_APPS] = USAGE_IN_RANGE
		"SELECT k.app, CASE WHEN k.app IS NULL THEN NULL ELSE min(k.category) END,"
		" count(DISTINCT u.client_id)," SUMS
		"FROM u JOIN keys k ON k.id = u.key_id GROUP BY k.app" BY_BYTES,
	[S_Q_CATEGORIES] = USAGE_IN_RANGE
		"SELECT k.category, count(DISTINCT u.client_id), count(DISTINCT k.app)," SUMS
		"FROM u JOIN keys k ON k.id = u.key_id GROUP BY k.category" BY_BYTES,
	[S_Q_CLIENTS] = USAGE_IN_RANGE
		"SELECT c.addr, count(DISTINCT k.app)," SUMS
		"FROM u JOIN keys k ON k.id = u.key_id JOIN clients c ON c.id = u.client_id"
		" GROUP BY u.client_id" BY_BYTES,
	/* Each domain's figures, and of the networks the agents placed its
	 * servers on, the one with the most bytes (ties: the lowest asn). */
	[S_Q_DOMAINS] = USAGE_IN_RANGE
		", d AS MATERIALIZED (SELECT k.domain AS domain, k.host AS host, k.asn AS asn,"
		"  k.as_org AS as_org, k.country AS country, u.client_id AS client_id,"
		"  u.flows AS flows, u.packets AS packets, u.bytes_up AS bytes_up,"
		"  u.bytes_down AS bytes_down, u.first_seen AS first_seen, u.last_seen AS last_seen"
		"  FROM u JOIN keys k ON k.id = u.key_id"
		"  WHERE k.app IS NULL AND k.domain IS NOT NULL AND k.untracked IS NULL),"
		" net AS (SELECT domain, asn, as_org, country, row_number() OVER (PARTITION BY"
		"  domain ORDER BY sum(bytes_up) + sum(bytes_down) DESC, asn, as_org, country)"
		"  AS pos FROM d WHERE asn IS NOT NULL OR as_org IS NOT NULL OR country IS NOT NULL"
		"  GROUP BY domain, asn, as_org, country),"
		" agg AS (SELECT domain, count(DISTINCT client_id) AS users,"
		"  count(DISTINCT host) AS hosts, sum(flows) AS flows, sum(packets) AS packets,"
		"  sum(bytes_up) AS bytes_up, sum(bytes_down) AS bytes_down,"
		"  min(first_seen) AS first_seen, max(last_seen) AS last_seen FROM d GROUP BY domain)"
		" SELECT a.domain, a.users, a.hosts, a.flows, a.packets, a.bytes_up, a.bytes_down,"
		" a.first_seen, a.last_seen, n.asn, n.as_org, n.country"
		" FROM agg a LEFT JOIN net n ON n.domain = a.domain AND n.pos = 1"
		" ORDER BY a.bytes_up + a.bytes_down DESC, 1",
	[S_Q_NETWORKS] = USAGE_IN_RANGE
		"SELECT k.asn, k.as_org, k.country, count(DISTINCT u.client_id),"
		" count(DISTINCT k.app)," SUMS
		"FROM u JOIN keys k ON k.id = u.key_id GROUP BY k.asn, k.as_org, k.country"
		BY_BYTES ", 2, 3",
	[S_Q_TOTALS] = USAGE_IN_RANGE
		"SELECT ifnull(sum(records), 0), ifnull(sum(flows), 0), ifnull(sum(packets), 0),"
		" ifnull(sum(bytes_up), 0), ifnull(sum(bytes_down), 0),"
		" ifnull(min(first_seen), 0), ifnull(max(last_seen), 0) FROM u",
	[S_Q_CLIENT_APPS] = USAGE_IN_RANGE
		"SELECT c.addr, k.app, min(k.category), sum(u.flows), sum(u.bytes_up),"
		" sum(u.bytes_down), min(u.first_seen), max(u.last_seen)"
		" FROM u JOIN keys k ON k.id = u.key_id JOIN clients c ON c.id = u.client_id"
		" WHERE k.app IS NOT NULL GROUP BY u.client_id, k.app",
	[S_Q_USAGE] = USAGE_IN_RANGE
		"SELECT day, client_id, key_id, flows, packets, bytes_up, bytes_down,"
		" first_seen, last_seen FROM u",
	[S_Q_KEYS] = "SELECT id, host, domain, app, category, untracked, country, asn, as_org"
		     " FROM keys",
};

/* ---- id caches -------------------------------------------------------- */

/* A byte string (a client address, or a key's identifying fields) to the
 * row id it has in the database. Linear probing, load at most one half. */
struct id_slot {
	uint64_t hash;
	unsigned char *key; /* NULL: empty; owned */
	size_t len;
	int64_t id;
};

struct id_map {
	struct id_slot *slots;
	size_t mask; /* slot count - 1, 0 before the first insert */
	size_t n, max;
	struct hash_key hkey;
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmts[S_COUNT];
	char err[512];

	struct id_map clients;
	struct id_map keys;
	struct sbuf keybuf;   /* a key's identity, serialised for keys */
	int new_ids_in_txn;   /* rows this transaction added to the caches */

	/* The signatures of the last store_remap (owned by the caller) and
	 * their hash; whether they are the ones meta.sig_hash names is asked
	 * once per ingest transaction that creates a key. */
	const sig_db *sigs;
	char sig_hash[17];
	int txn_sigs_state; /* -1 not asked yet, 0 differ, 1 same */

	char *token_name;   /* store_token_find's out->name */

	/* The roll-up watermark as this handle last saw it, and the id of
	 * the last raw row it wrote: their distance says when to roll up. */
	int64_t rollup_seen;
	int64_t last_usage_id;

	int64_t row_ids[USAGE_ROWS][2]; /* client and key ids of the rows being inserted */

	int64_t wal_pages; /* after the last commit, once checkpoints are manual */
};

/* ---- small helpers ---------------------------------------------------- */

static int64_t
now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	if (a % b != 0 && a < 0)
		q--;
	return q;
}

static int64_t
ceil_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	if (a % b != 0 && a > 0)
		q++;
	return q;
}

/* day * DAY_USEC, saturated: the ends of time need no overflow. */
static int64_t
day_start(int64_t day)
{
	int64_t r;
	if (__builtin_mul_overflow(day, DAY_USEC, &r))
		return day < 0 ? INT64_MIN : INT64_MAX;
	return r;
}

static int
str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Errors are shown as one line: sqlite's messages are, but be sure. */
static void
one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

static void LOG_PRINTF(2, 3)
set_error(struct store *st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->err, sizeof(st->err), fmt, ap);
	va_end(ap);
	one_line(st->err);
}

/* "op: sqlite's message", read before anything else touches the handle. */
static void
db_error(struct store *st, const char *op)
{
	set_error(st, "%s: %s", op, sqlite3_errmsg(st->db));
}

/* ---- id map ---------------------------------------------------------- */

static void
id_map_init(struct id_map *m, size_t max)
{
	memset(m, 0, sizeof(*m));
	m->max = max;
	hash_key_random(&m->hkey);
}

static void
id_map_clear(struct id_map *m)
{
	if (m->slots)
		for (size_t i = 0; i <= m->mask; i++)
			free(m->slots[i].key);
	free(m->slots);
	m->slots = NULL;
	m->mask = 0;
	m->n = 0;
}

/* The id of key, or 0 (row ids start at 1). */
static int64_t
id_map_get(const struct id_map *m, const void *key, size_t len, uint64_t hash)
{
	if (!m->slots)
		return 0;
	for (size_t i = hash & m->mask;; i = (i + 1) & m->mask) {
		const struct id_slot *s = &m->slots[i];
		if (!s->key)
			return 0;
		if (s->hash == hash && s->len == len && memcmp(s->key, key, len) == 0)
			return s->id;
	}
}

static void
id_map_place(struct id_map *m, struct id_slot *slot)
{
	size_t i = slot->hash & m->mask;
	while (m->slots[i].key)
		i = (i + 1) & m->mask;
	m->slots[i] = *slot;
}

/* A cache: when memory runs out or the map is full it forgets, and the
 * next lookups go to the database. */
static void
id_map_put(struct id_map *m, const void *key, size_t len, uint64_t hash, int64_t id)
{
	struct id_slot slot;

	if (m->n >= m->max)
		id_map_clear(m);
	if (!m->slots || (m->n + 1) * 2 > m->mask + 1) {
		size_t n_slots = m->slots ? (m->mask + 1) * 2 : 1024;
		struct id_slot *old = m->slots;
		size_t old_n = m->slots ? m->mask + 1 : 0;
		struct id_slot *fresh = calloc(n_slots, sizeof(*fresh));
		if (!fresh)
			return;
		m->slots = fresh;
		m->mask = n_slots - 1;
		for (size_t i = 0; i < old_n; i++)
			if (old[i].key)
				id_map_place(m, &old[i]);
		free(old);
	}
	slot.key = malloc(len ? len : 1);
	if (!slot.key)
		return;
	memcpy(slot.key, key, len);
	slot.len = len;
	slot.hash = hash;
	slot.id = id;
	id_map_place(m, &slot);
	m->n++;
}

/* ---- statements and transactions -------------------------------------- */

_Static_assert(USAGE_COLUMNS == 11, "usage_insert_sql writes 11 parameters a row");

/* S_USAGE_INSERT with n_rows rows of parameters ?1..?11, ?12..?22, ...:
 * one statement for many records, so that what SQLite does once per
 * statement (AUTOINCREMENT reads and writes sqlite_sequence, the VM's
 * setup) is done once for them all. NULL if buf is too small. */
static const char *
usage_insert_sql(int n_rows, char *buf, size_t len)
{
	size_t used = 0;
	int n;

	n = snprintf(buf, len, "%s", USAGE_INSERT_HEAD);
	for (int r = 0; n >= 0 && (size_t)n < len - used && r < n_rows; r++) {
		used += (size_t)n;
		n = snprintf(buf + used, len - used, "%s(?%d,?%d,?%d,?%d,?%d,?%d,?%d,?%d,?%d,?%d,?%d)",
			     r ? "," : "", r * 11 + 1, r * 11 + 2, r * 11 + 3, r * 11 + 4, r * 11 + 5,
			     r * 11 + 6, r * 11 + 7, r * 11 + 8, r * 11 + 9, r * 11 + 10, r * 11 + 11);
	}
	return n >= 0 && (size_t)n < len - used ? buf : NULL;
}

/* The prepared statement id, ready to bind; NULL with st->err set. */
static sqlite3_stmt *
stmt_get(struct store *st, enum stmt_id id, const char *op)
{
	if (!st->stmts[id]) {
		char many[USAGE_ROWS * 64 + 256];
		const char *sql = stmt_sql[id];
		if (id > S_USAGE_INSERT && id <= S_USAGE_INSERT_32 &&
		    !(sql = usage_insert_sql(1 << (id - S_USAGE_INSERT), many, sizeof(many)))) {
			set_error(st, "%s: statement too long", op);
			return NULL;
		}
		int rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
					    &st->stmts[id], NULL);
		if (rc != SQLITE_OK) {
			db_error(st, op);
			st->stmts[id] = NULL;
			return NULL;
		}
	}
	return st->stmts[id];
}

/* Binds text or NULL. */
static int
bind_text(sqlite3_stmt *s, int i, const char *text)
{
	if (!text)
		return sqlite3_bind_null(s, i);
	return sqlite3_bind_text(s, i, text, -1, SQLITE_STATIC);
}

/* Runs a statement that returns no rows (or whose rows are not wanted)
 * and resets it. 0 or -1. */
static int
stmt_run(struct store *st, sqlite3_stmt *s, const char *op)
{
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		db_error(st, op);
		sqlite3_reset(s);
		return -1;
	}
	sqlite3_reset(s);
	return 0;
}

static int
txn_begin(struct store *st, const char *op)
{
	sqlite3_stmt *s = stmt_get(st, S_BEGIN, op);
	if (!s || stmt_run(st, s, op) < 0)
		return -1;
	st->new_ids_in_txn = 0;
	st->txn_sigs_state = -1;
	return 0;
}

static int
txn_commit(struct store *st, const char *op)
{
	sqlite3_stmt *s = stmt_get(st, S_COMMIT, op);
	return !s || stmt_run(st, s, op) < 0 ? -1 : 0;
}

/*
 * Undoes the open transaction, if SQLite has not already (it rolls back by
 * itself on some errors, SQLITE_FULL among them). The caches forget ids
 * this transaction created: SQLite may hand the same ids out again.
 * Keeps st->err as the caller set it.
 */
static void
txn_rollback(struct store *st)
{
	for (int i = 0; i < S_COUNT; i++)
		if (st->stmts[i])
			sqlite3_reset(st->stmts[i]);
	if (!sqlite3_get_autocommit(st->db)) {
		sqlite3_stmt *s = stmt_get(st, S_ROLLBACK, "rollback");
		if (!s || sqlite3_step(s) != SQLITE_DONE)
			log_warnx("store: rollback: %s", sqlite3_errmsg(st->db));
		if (s)
			sqlite3_reset(s);
	}
	if (st->new_ids_in_txn) {
		id_map_clear(&st->clients);
		id_map_clear(&st->keys);
		st->new_ids_in_txn = 0;
	}
}

/* meta's value for name into out (always terminated): 1 found, 0 not, -1. */
static int
meta_get(struct store *st, const char *name, char *out, size_t out_size, const char *op)
{
	sqlite3_stmt *s = stmt_get(st, S_META_GET, op);
	int rc, found = 0;

	out[0] = '\0';
	if (!s)
		return -1;
	if (bind_text(s, 1, name) != SQLITE_OK) {
		db_error(st, op);
		return -1;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(s, 0);
		snprintf(out, out_size, "%s", v ? v : "");
		found = 1;
	} else if (rc != SQLITE_DONE) {
		db_error(st, op);
		found = -1;
	}
	sqlite3_reset(s);
	return found;
}

static int
meta_set(struct store *st, const char *name, const char *value, const char *op)
{
	sqlite3_stmt *s = stmt_get(st, S_META_SET, op);
	if (!s)
		return -1;
	if (bind_text(s, 1, name) != SQLITE_OK || bind_text(s, 2, value) != SQLITE_OK) {
		db_error(st, op);
		return -1;
	}
	return stmt_run(st, s, op);
}

/* ---- open, migrate, close -------------------------------------------- */

/* The integer a one-row statement (a PRAGMA) returns: SQLITE_OK, or
 * SQLite's error code with st->err set. */
static int
pragma_int(struct store *st, const char *sql, int64_t *out)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);

	if (rc == SQLITE_OK) {
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			*out = sqlite3_column_int64(s, 0);
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE) {
			set_error(st, "%s: no result", sql);
			rc = SQLITE_ERROR;
			goto out;
		}
	}
	if (rc != SQLITE_OK)
		db_error(st, sql);
out:
	sqlite3_finalize(s);
	return rc;
}

static int
exec_sql(struct store *st, const char *sql, const char *op)
{
	char *msg = NULL;
	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		set_error(st, "%s: %s", op, msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/*
 * Whether the file is ours, before anything in it changes: a shadowmap
 * database (our application id), or a new one (no id, no version, no
 * tables; an empty file counts). Anything else is refused.
 */
static int
check_identity(struct store *st)
{
	int64_t app_id, version, n_objects;

	int rc = pragma_int(st, "PRAGMA application_id", &app_id);
	if (rc == SQLITE_OK)
		rc = pragma_int(st, "PRAGMA user_version", &version);
	if (rc == SQLITE_OK)
		rc = pragma_int(st, "SELECT count(*) FROM sqlite_schema", &n_objects);
	if (rc == SQLITE_NOTADB) {
		set_error(st, "not a shadowmap database (not an SQLite file)");
		return -1;
	}
	if (rc != SQLITE_OK)
		return -1;
	if (app_id == 0 && version == 0 && n_objects == 0)
		return 0;
	if (app_id == 0) {
		set_error(st, "not a shadowmap database (an SQLite database with %" PRId64
			      " tables and indexes of its own)", n_objects);
		return -1;
	}
	if (app_id != STORE_APPLICATION_ID) {
		set_error(st, "not a shadowmap database (an SQLite database of another "
			      "program, application id 0x%08" PRIx64 ")",
			  (uint64_t)(uint32_t)app_id);
		return -1;
	}
	if (version > SCHEMA_VERSION) {
		set_error(st, "database schema version %" PRId64 " is newer than this "
			      "program knows (%d): use a newer shadowmap", version,
			      SCHEMA_VERSION);
		return -1;
	}
	return 0;
}

/* Applies the steps the database lacks, each in a transaction that first
 * reads the version again: another process may migrate at the same time.
 * A database that lacks none is only read: opening a handle does not wait
 * for the write lock, which a busy writer holds nearly all the time. */
static int
migrate(struct store *st)
{
	int64_t current;

	if (pragma_int(st, "PRAGMA user_version", &current) != SQLITE_OK)
		return -1;
	if (current == SCHEMA_VERSION)
		return 0;
	for (;;) {
		int64_t version;
		char set_version[64];

		if (exec_sql(st, "BEGIN IMMEDIATE", "migrate") < 0)
			return -1;
		if (pragma_int(st, "PRAGMA user_version", &version) != SQLITE_OK)
			goto fail;
		if (version > SCHEMA_VERSION) {
			set_error(st, "database schema version %" PRId64 " is newer than "
				      "this program knows (%d)", version, SCHEMA_VERSION);
			goto fail;
		}
		if (version == SCHEMA_VERSION)
			return exec_sql(st, "COMMIT", "migrate");
		snprintf(set_version, sizeof(set_version), "PRAGMA user_version = %" PRId64,
			 version + 1);
		if (exec_sql(st, migrations[version], "migrate") < 0 ||
		    exec_sql(st, set_version, "migrate") < 0 ||
		    exec_sql(st, "COMMIT", "migrate") < 0)
			goto fail;
		log_info("store: schema migrated to version %" PRId64, version + 1);
	}
fail:
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static int
configure(struct store *st)
{
	sqlite3_stmt *s = NULL;
	int rc, ok = 0;

	/* The mode is answered as a row: a file system that cannot do WAL
	 * leaves it at "delete", and we want to know. */
	rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *mode = (const char *)sqlite3_column_text(s, 0);
		ok = mode && strcmp(mode, "wal") == 0;
		if (!ok)
			set_error(st, "journal_mode: cannot use WAL (mode is %s)",
				  mode ? mode : "unknown");
	} else {
		db_error(st, "journal_mode");
	}
	sqlite3_finalize(s);
	if (!ok)
		return -1;
	/* FULL: in WAL mode NORMAL may lose the last commits on power loss,
	 * and a batch is acknowledged as durable once committed. */
	if (exec_sql(st, "PRAGMA synchronous = FULL", "synchronous") < 0 ||
	    exec_sql(st, "PRAGMA foreign_keys = ON", "foreign_keys") < 0 ||
	    exec_sql(st, "PRAGMA temp_store = MEMORY", "temp_store") < 0)
		return -1;
	return 0;
}

/*
 * Why a file could not be opened, in words a person can act on. SQLite
 * retries read-only after a failed read-write open, so its last errno
 * often tells of the retry, not of the cause: look at the directory.
 */
static void
explain_open_failure(struct store *st, const char *path, int rc)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	struct stat sb;
	int sys = st->db ? sqlite3_system_errno(st->db) : 0;

	if (stat(path, &sb) != 0 && errno == ENOENT) {
		if (!slash)
			snprintf(dir, sizeof(dir), ".");
		else
			snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path + (slash == path)),
				 path);
		if (stat(dir, &sb) != 0) {
			set_error(st, "cannot create it: directory %s: %s", dir, strerror(errno));
			return;
		}
		if (access(dir, W_OK | X_OK) != 0) {
			set_error(st, "cannot create it in %s: %s", dir, strerror(errno));
			return;
		}
	}
	set_error(st, "cannot open: %s%s%s%s",
		  st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc), sys ? " (" : "",
		  sys ? strerror(sys) : "", sys ? ")" : "");
}

/* Where the roll-up stands and the newest raw row, so that the first
 * batch of this handle does not take the database for one that was never
 * rolled up, and that store_rollup_pending sees the rows of earlier runs. */
static int
read_rollup_mark(struct store *st)
{
	char value[32], *end;
	int found = meta_get(st, "rollup_id", value, sizeof(value), "open");

	if (found < 0)
		return -1;
	errno = 0;
	st->rollup_seen = found ? strtoll(value, &end, 10) : 0;
	if (!found || errno || end == value || *end) {
		set_error(st, "open: bad roll-up mark \"%s\" in meta", value);
		return -1;
	}
	return pragma_int(st, "SELECT ifnull(max(id), 0) FROM usage", &st->last_usage_id) ==
			       SQLITE_OK
		       ? 0
		       : -1;
}

struct store *
store_open(const char *path, char *err, size_t errlen)
{
	struct store *st = calloc(1, sizeof(*st));
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!st) {
		if (err && errlen)
			snprintf(err, errlen, "%s: out of memory", path ? path : "store");
		return NULL;
	}
	id_map_init(&st->clients, CLIENT_CACHE_MAX);
	id_map_init(&st->keys, KEY_CACHE_MAX);
	sbuf_init(&st->keybuf, KEYBUF_MAX);
	st->txn_sigs_state = -1;
	if (!path || !*path) {
		set_error(st, "no database path");
		goto fail;
	}
	/* NOMUTEX: a handle is used by one thread at a time (store.h). */
	rc = sqlite3_open_v2(path, &st->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		explain_open_failure(st, path, rc);
		goto fail;
	}
	if (sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS) != SQLITE_OK) {
		db_error(st, "busy_timeout");
		goto fail;
	}
	if (check_identity(st) < 0 || configure(st) < 0 || migrate(st) < 0 ||
	    read_rollup_mark(st) < 0)
		goto fail;
	return st;
fail:
	if (err && errlen)
		snprintf(err, errlen, "%s: %s", path ? path : "store", st->err);
	store_close(st);
	return NULL;
}

void
store_close(struct store *st)
{
	if (!st)
		return;
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(st->stmts[i]);
	if (st->db && sqlite3_close(st->db) != SQLITE_OK)
		log_warnx("store: close: %s", sqlite3_errmsg(st->db));
	id_map_clear(&st->clients);
	id_map_clear(&st->keys);
	sbuf_free(&st->keybuf);
	free(st->token_name);
	free(st);
}

const char *
store_error(const struct store *st)
{
	if (!st)
		return "no store";
	return st->err[0] ? st->err : "no error";
}

int
store_set_max_bytes(struct store *st, int64_t max_bytes)
{
	char sql[80];
	int64_t page_size, pages;

	if (max_bytes < 0) {
		set_error(st, "max_bytes: negative size");
		return -1;
	}
	if (pragma_int(st, "PRAGMA page_size", &page_size) != SQLITE_OK || page_size <= 0)
		return -1;
	/* 0: back to SQLite's own limit, 2^32 - 2 pages. */
	pages = max_bytes ? max_bytes / page_size : 4294967294LL;
	if (pages < 1)
		pages = 1;
	if (pages > 4294967294LL)
		pages = 4294967294LL;
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %" PRId64, pages);
	return pragma_int(st, sql, &pages) == SQLITE_OK ? 0 : -1;
}

int
store_set_cache_kib(struct store *st, int64_t kib)
{
	char sql[64];

	if (kib <= 0) {
		set_error(st, "cache: not a positive size");
		return -1;
	}
	snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%" PRId64, kib);
	return exec_sql(st, sql, "cache_size");
}

/* ---- checkpoints ------------------------------------------------------ */

/* Replaces SQLite's automatic checkpoints (which are a WAL hook too): only
 * counts the pages. Runs on the committing thread, the handle's own. */
static int
wal_hook(void *arg, sqlite3 *db, const char *name, int n_pages)
{
	struct store *st = arg;
	(void)db;
	(void)name;
	st->wal_pages = n_pages;
	return SQLITE_OK;
}

void
store_manual_checkpoints(struct store *st)
{
	sqlite3_wal_hook(st->db, wal_hook, st);
}

int64_t
store_wal_pages(const struct store *st)
{
	return st->wal_pages;
}

int
store_checkpoint(struct store *st)
{
	int rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);

	/* BUSY: another handle is checkpointing; it does the work */
	if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
		db_error(st, "checkpoint");
		return -1;
	}
	return 0;
}

/* ---- mapping ---------------------------------------------------------- */

/* nDPI's name resolution protocols: the names in them are questions. */
static int
is_lookup_protocol(const char *name, size_t len)
{
	static const char *const lookups[] = {"DNS", "MDNS", "LLMNR", "NetBIOS"};
	for (size_t i = 0; i < sizeof(lookups) / sizeof(lookups[0]); i++)
		if (strlen(lookups[i]) == len && strncmp(name, lookups[i], len) == 0)
			return 1;
	return 0;
}

/*
 * The app a key means under sigs: the host's longest signature domain;
 * else (no host, or a host no signature knows) nDPI's protocol: the app
 * part of "TLS.Google", then the master part, then the whole name; none
 * for name lookups ("DNS.Teams": a question about Teams). A named
 * key that matches neither has no app, even if the agent said otherwise
 * (it is reported as an unknown domain). With neither host nor protocol,
 * *use_agent is set: the agent's own verdict stands.
 */
static const struct sig_app *
map_key(const sig_db *sigs, const char *host, const char *ndpi, const char *untracked,
	int *use_agent)
{
	char buf[DOMAIN_MAX > 256 ? DOMAIN_MAX : 256];
	const struct sig_app *app = NULL;

	*use_agent = 0;
	if (untracked)
		return NULL;
	if (host) {
		if (domain_normalize(host, strlen(host), buf, sizeof(buf)) > 0)
			app = sig_match_name(sigs, buf, NULL);
		/* a name no signature knows: nDPI's protocol may still say
		 * (TLS.Zoom on a host only nDPI's rules know); the agent's own
		 * verdict is not used for named usage, as it may come from an
		 * older signature set and history must follow the current one */
		if (app || !ndpi)
			return app;
	}
	if (ndpi) {
		const char *dot = strchr(ndpi, '.');
		size_t len = strlen(ndpi);
		/* "DNS.Teams" is a lookup of a Teams name, not use of Teams:
		 * the query's app is where the next flow goes, not this one */
		if (is_lookup_protocol(ndpi, dot ? (size_t)(dot - ndpi) : len))
			return NULL;
		if (dot && len < sizeof(buf)) {
			size_t master_len = (size_t)(dot - ndpi);
			app = sig_match_ndpi(sigs, dot + 1);
			if (!app) {
				memcpy(buf, ndpi, master_len);
				buf[master_len] = '\0';
				app = sig_match_ndpi(sigs, buf);
			}
		}
		if (!app)
			app = sig_match_ndpi(sigs, ndpi);
		return app;
	}
	*use_agent = 1;
	return NULL;
}

/* FNV-1a over length-prefixed fields: stable across runs and builds, which
 * a keyed hash is not. Only what map_key reads goes in. */
static void
fnv_add(uint64_t *h, const void *data, size_t len)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++) {
		*h ^= p[i];
		*h *= 0x100000001b3ULL;
	}
}

static void
fnv_add_str(uint64_t *h, const char *s)
{
	uint64_t len = s ? strlen(s) + 1 : 0; /* NULL and "" differ */
	fnv_add(h, &len, sizeof(len));
	if (s)
		fnv_add(h, s, (size_t)len - 1);
}

static void
sigs_hash(const sig_db *sigs, char out[17])
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t n_apps = sig_db_app_count(sigs);

	fnv_add_str(&h, "shadowmap.remap/2"); /* change with map_key's rules */
	fnv_add(&h, &(uint64_t){n_apps}, sizeof(uint64_t));
	for (size_t i = 0; i < n_apps; i++) {
		const struct sig_app *a = sig_db_app(sigs, i);
		fnv_add_str(&h, a->slug);
		fnv_add_str(&h, a->category);
		fnv_add(&h, &(uint64_t){a->n_domains}, sizeof(uint64_t));
		for (size_t j = 0; j < a->n_domains; j++)
			fnv_add_str(&h, a->domains[j]);
		fnv_add(&h, &(uint64_t){a->n_exclude_domains}, sizeof(uint64_t));
		for (size_t j = 0; j < a->n_exclude_domains; j++)
			fnv_add_str(&h, a->exclude_domains[j]);
		fnv_add(&h, &(uint64_t){a->n_ndpi}, sizeof(uint64_t));
		for (size_t j = 0; j < a->n_ndpi; j++)
			fnv_add_str(&h, a->ndpi[j]);
	}
	snprintf(out, 17, "%016" PRIx64, h);
}

/* ---- ingest ----------------------------------------------------------- */

static int
bind_i64(struct store *st, sqlite3_stmt *s, int i, int64_t v, const char *op)
{
	if (sqlite3_bind_int64(s, i, v) != SQLITE_OK) {
		db_error(st, op);
		return -1;
	}
	return 0;
}

/* The id of the record's client, added when new. 0 on error. */
static int64_t
client_id(struct store *st, const struct usage_record *r)
{
	unsigned char key[17];
	char text[ADDR_STRLEN];
	uint64_t hash;
	int64_t id;
	sqlite3_stmt *s;
	int rc;

	key[0] = (unsigned char)(r->has_client != 0);
	if (r->has_client)
		memcpy(key + 1, r->client.b, 16);
	else
		memset(key + 1, 0, 16);
	hash = hash_bytes(&st->clients.hkey, key, sizeof(key));
	id = id_map_get(&st->clients, key, sizeof(key), hash);
	if (id)
		return id;

	if (r->has_client)
		addr_format(&r->client, text, sizeof(text));
	else
		text[0] = '\0';
	if (!(s = stmt_get(st, S_CLIENT_FIND, "ingest: client")))
		return 0;
	if (bind_text(s, 1, text) != SQLITE_OK) {
		db_error(st, "ingest: client");
		return 0;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		id = sqlite3_column_int64(s, 0);
	else if (rc != SQLITE_DONE)
		db_error(st, "ingest: client");
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return 0;
	if (!id) {
		if (!(s = stmt_get(st, S_CLIENT_INSERT, "ingest: client")))
			return 0;
		if (bind_text(s, 1, text) != SQLITE_OK) {
			db_error(st, "ingest: client");
			return 0;
		}
		if (stmt_run(st, s, "ingest: client") < 0)
			return 0;
		id = sqlite3_last_insert_rowid(st->db);
		st->new_ids_in_txn++;
	}
	id_map_put(&st->clients, key, sizeof(key), hash, id);
	return id;
}

static int
keybuf_add(struct sbuf *sb, const char *s)
{
	uint32_t len;
	if (!s)
		return sbuf_addc(sb, 0);
	len = (uint32_t)strlen(s);
	if (sbuf_addc(sb, 1) < 0 || sbuf_add(sb, &len, sizeof(len)) < 0)
		return -1;
	return sbuf_add(sb, s, len);
}

/* Whether the handle's signatures are those meta.sig_hash names, asked once
 * per transaction: another handle may have re-mapped since. -1 on error. */
static int
sigs_current(struct store *st)
{
	char db_hash[32];
	int found;

	if (st->txn_sigs_state >= 0)
		return st->txn_sigs_state;
	found = meta_get(st, "sig_hash", db_hash, sizeof(db_hash), "ingest: meta");
	if (found < 0)
		return -1;
	st->txn_sigs_state = found && st->sigs && strcmp(db_hash, st->sig_hash) == 0;
	return st->txn_sigs_state;
}

/* Binds country, asn and as_org of a key at first, first + 1, first + 2:
 * NULL when unknown (asn 0 included). SQLITE_OK or SQLite's error. */
static int
bind_key_geo(sqlite3_stmt *s, int first, const struct usage_record *r)
{
	int rc = bind_text(s, first, r->country);
	if (rc == SQLITE_OK)
		rc = r->asn ? sqlite3_bind_int64(s, first + 1, r->asn)
			    : sqlite3_bind_null(s, first + 1);
	if (rc == SQLITE_OK)
		rc = bind_text(s, first + 2, r->as_org);
	return rc;
}

/* The id of the record's key, added (and mapped to an app) when new.
 * 0 on error. */
static int64_t
key_id(struct store *st, const struct usage_record *r)
{
	struct sbuf *kb = &st->keybuf;
	const char *app = r->app, *category = r->category;
	uint64_t hash;
	int64_t id = 0;
	sqlite3_stmt *s;
	int rc, mapped = 0;

	sbuf_reset(kb);
	if (keybuf_add(kb, r->host) < 0 || keybuf_add(kb, r->ndpi_proto) < 0 ||
	    keybuf_add(kb, r->app) < 0 || keybuf_add(kb, r->untracked) < 0 ||
	    keybuf_add(kb, r->country) < 0 || sbuf_add(kb, &r->asn, sizeof(r->asn)) < 0 ||
	    keybuf_add(kb, r->as_org) < 0) {
		set_error(st, "ingest: key too long");
		return 0;
	}
	hash = hash_bytes(&st->keys.hkey, kb->data, kb->len);
	id = id_map_get(&st->keys, kb->data, kb->len, hash);
	if (id)
		return id;

	if (!(s = stmt_get(st, S_KEY_FIND, "ingest: key")))
		return 0;
	if (bind_text(s, 1, r->host) != SQLITE_OK || bind_text(s, 2, r->ndpi_proto) != SQLITE_OK ||
	    bind_text(s, 3, r->app) != SQLITE_OK || bind_text(s, 4, r->untracked) != SQLITE_OK ||
	    bind_key_geo(s, 5, r) != SQLITE_OK) {
		db_error(st, "ingest: key");
		sqlite3_reset(s);
		return 0;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		id = sqlite3_column_int64(s, 0);
	else if (rc != SQLITE_DONE)
		db_error(st, "ingest: key");
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return 0;

	if (!id) {
		/* Before any remap the agent's verdict stands; after one, the
		 * latest signatures decide, as they did for the keys before. */
		if (st->sigs) {
			int use_agent;
			const struct sig_app *a = map_key(st->sigs, r->host, r->ndpi_proto,
							  r->untracked, &use_agent);
			if (!use_agent) {
				app = a ? a->slug : NULL;
				category = a ? a->category : NULL;
			}
			if ((mapped = sigs_current(st)) < 0)
				return 0;
		}
		if (r->untracked) {
			app = NULL;
			category = NULL;
		}
		if (!(s = stmt_get(st, S_KEY_INSERT, "ingest: key")))
			return 0;
		if (bind_text(s, 1, r->host) != SQLITE_OK ||
		    bind_text(s, 2, r->domain) != SQLITE_OK ||
		    bind_text(s, 3, r->ndpi_proto) != SQLITE_OK ||
		    bind_text(s, 4, r->app) != SQLITE_OK ||
		    bind_text(s, 5, r->category) != SQLITE_OK ||
		    bind_text(s, 6, r->untracked) != SQLITE_OK ||
		    bind_text(s, 7, app) != SQLITE_OK ||
		    bind_text(s, 8, category) != SQLITE_OK ||
		    sqlite3_bind_int(s, 9, mapped) != SQLITE_OK ||
		    bind_key_geo(s, 10, r) != SQLITE_OK) {
			db_error(st, "ingest: key");
			sqlite3_reset(s);
			return 0;
		}
		if (stmt_run(st, s, "ingest: key") < 0)
			return 0;
		id = sqlite3_last_insert_rowid(st->db);
		st->new_ids_in_txn++;
	}
	id_map_put(&st->keys, kb->data, kb->len, hash, id);
	return id;
}

/* Binds the parameters of one usage row, the row-th of the statement. */
static int
bind_usage(struct store *st, sqlite3_stmt *s, int row, const struct usage_record *r,
	   int64_t cid, int64_t kid, int64_t batch_rowid)
{
	const int64_t v[USAGE_COLUMNS] = {
		r->bucket_start, r->bucket_seconds, cid, kid, (int64_t)r->flows,
		(int64_t)r->packets, (int64_t)r->bytes_up, (int64_t)r->bytes_down,
		r->first_seen, r->last_seen, batch_rowid,
	};
	for (int c = 0; c < USAGE_COLUMNS; c++)
		if (bind_i64(st, s, row * USAGE_COLUMNS + c + 1, v[c], "ingest: usage") < 0)
			return -1;
	return 0;
}

/* Stores n records (1, 2, 4 ... USAGE_ROWS) with one statement. */
static int
ingest_records(struct store *st, const struct usage_record *recs, size_t n,
	       int64_t batch_rowid)
{
	sqlite3_stmt *s;
	int64_t cid, kid;

	/* the ids first: looking them up runs other statements */
	for (size_t i = 0; i < n; i++) {
		if (!(cid = client_id(st, &recs[i])) || !(kid = key_id(st, &recs[i])))
			return -1;
		st->row_ids[i][0] = cid;
		st->row_ids[i][1] = kid;
	}
	if (!(s = stmt_get(st, S_USAGE_INSERT + __builtin_ctz((unsigned)n), "ingest: usage")))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (bind_usage(st, s, (int)i, &recs[i], st->row_ids[i][0], st->row_ids[i][1],
			       batch_rowid) < 0)
			return -1;
	if (stmt_run(st, s, "ingest: usage") < 0)
		return -1;
	st->last_usage_id = sqlite3_last_insert_rowid(st->db);
	return 0;
}

/* What can be refused before any transaction: no id, or counts SQLite
 * cannot hold (its integers are signed: refuse what would wrap rather
 * than store a negative byte count). 0, or -1 with st->err set. */
static int
batch_check(struct store *st, const struct store_batch *b)
{
	if (!b->batch_id || (b->n && !b->recs)) {
		set_error(st, "ingest: no batch id or records");
		return -1;
	}
	for (size_t i = 0; i < b->n; i++) {
		const struct usage_record *r = &b->recs[i];
		if (r->flows > INT64_MAX || r->packets > INT64_MAX || r->bytes_up > INT64_MAX ||
		    r->bytes_down > INT64_MAX) {
			set_error(st, "ingest: record %zu: count out of range", i);
			return -1;
		}
	}
	return 0;
}

/* One batch inside the open transaction: its id, then its records.
 * STORE_STORED, STORE_DUPLICATE (the id is in the database already, maybe
 * from earlier in this transaction), or STORE_FAILED with st->err set:
 * the caller must then roll the whole transaction back. */
static enum store_ingest_result
ingest_in_txn(struct store *st, const struct store_batch *b)
{
	sqlite3_stmt *s;
	int64_t batch_rowid;

	if (!(s = stmt_get(st, S_BATCH_INSERT, "ingest: batch")))
		return STORE_FAILED;
	if (bind_text(s, 1, b->batch_id) != SQLITE_OK || bind_text(s, 2, b->agent) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 3, now_usec()) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 4, (int64_t)b->n) != SQLITE_OK) {
		db_error(st, "ingest: batch");
		return STORE_FAILED;
	}
	if (stmt_run(st, s, "ingest: batch") < 0)
		return STORE_FAILED;
	if (sqlite3_changes(st->db) == 0)
		return STORE_DUPLICATE;
	batch_rowid = sqlite3_last_insert_rowid(st->db);
	for (size_t i = 0; i < b->n;) {
		/* 500 records: 15 statements of 32, then 16 and 4 */
		size_t k = USAGE_ROWS;
		while (k > b->n - i)
			k /= 2;
		if (ingest_records(st, &b->recs[i], k, batch_rowid) < 0)
			return STORE_FAILED;
		i += k;
	}
	return STORE_STORED;
}

/*
 * One transaction for batches[only] (only >= 0) or for every batch whose
 * result is not STORE_FAILED (only < 0). 0 when it committed, with the
 * results of its batches set; -1 when it failed as a whole and was rolled
 * back, -2 when it could not even begin (the write lock stayed busy).
 * st->err says why; it never sets a result to STORE_FAILED, and results
 * it set before a failure mean nothing.
 */
static int
group_txn(struct store *st, const struct store_batch *batches, size_t n, long only,
	  enum store_ingest_result *results)
{
	if (txn_begin(st, "ingest: begin") < 0)
		return -2;
	for (size_t i = 0; i < n; i++) {
		if (only >= 0 ? (size_t)only != i : results[i] == STORE_FAILED)
			continue;
		enum store_ingest_result r = ingest_in_txn(st, &batches[i]);
		if (r == STORE_FAILED)
			goto fail;
		results[i] = r;
	}
	/* With synchronous=FULL the WAL is fsynced here: every batch of the
	 * group is durable once this returns, and none before. */
	if (txn_commit(st, "ingest: commit") < 0)
		goto fail;
	return 0;
fail:
	txn_rollback(st);
	return -1;
}

static void
batch_failed(struct store *st, const struct store_batch *b, enum store_ingest_result *result)
{
	*result = STORE_FAILED;
	if (b->error && b->error_len)
		snprintf(b->error, b->error_len, "%s", st->err);
}

int
store_ingest_group(struct store *st, const struct store_batch *batches, size_t n,
		   enum store_ingest_result *results)
{
	size_t n_tried = 0, n_failed = 0;
	int rc;

	for (size_t i = 0; i < n; i++) {
		results[i] = STORE_STORED;
		if (batch_check(st, &batches[i]) < 0) {
			batch_failed(st, &batches[i], &results[i]);
			n_failed++;
		} else {
			n_tried++;
		}
	}
	if (!n_tried || (rc = group_txn(st, batches, n, -1, results)) == 0)
		return n_failed ? -1 : 0;
	/* The group failed as a whole (a full disk, say): nothing of it was
	 * stored. Each batch again, alone, so that the one that does not fit
	 * fails no other. Not when the lock could not be had (each would wait
	 * as long again), nor for a group of one, which has had its try. */
	for (size_t i = 0; i < n; i++) {
		if (results[i] == STORE_FAILED)
			continue; /* refused before the transaction */
		if (rc == -1 && n_tried > 1 && group_txn(st, batches, n, (long)i, results) == 0)
			continue;
		batch_failed(st, &batches[i], &results[i]);
		n_failed++;
	}
	return n_failed ? -1 : 0;
}

enum store_ingest_result
store_ingest(struct store *st, const char *batch_id, const char *agent,
	     const struct usage_record *recs, size_t n)
{
	struct store_batch b = { batch_id, agent, recs, n, NULL, 0 };
	enum store_ingest_result result;

	store_ingest_group(st, &b, 1, &result);
	/* The batch is durable whatever happens now: a failed roll-up is
	 * retried by the next one, and queries read the raw rows meanwhile. */
	if (result == STORE_STORED && store_rollup_pending(st) >= ROLLUP_ROWS &&
	    store_rollup(st) < 0)
		log_warnx("store: %s", st->err);
	return result;
}

int64_t
store_rollup_pending(const struct store *st)
{
	int64_t pending = st->last_usage_id - st->rollup_seen;
	return pending > 0 ? pending : 0;
}

long
store_rollup(struct store *st)
{
	return store_rollup_some(st, 0);
}

long
store_rollup_some(struct store *st, int64_t max_rows)
{
	const char *op = "roll-up";
	int64_t mark = 0, newest = 0;
	sqlite3_stmt *s;
	int rc;

	if (txn_begin(st, op) < 0)
		return -1;
	if (!(s = stmt_get(st, S_ROLLUP_MARK, op)))
		goto fail;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		mark = sqlite3_column_int64(s, 0);
		newest = sqlite3_column_int64(s, 1);
	} else {
		db_error(st, op);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW)
		goto fail;
	if (newest > st->last_usage_id)
		st->last_usage_id = newest; /* other handles' rows are pending too */
	/* the oldest pending rows first: ids are never reused */
	if (max_rows > 0 && newest - mark > max_rows)
		newest = mark + max_rows;
	if (newest > mark) {
		char value[24];
		if (!(s = stmt_get(st, S_ROLLUP, op)))
			goto fail;
		if (sqlite3_bind_int64(s, 1, mark) != SQLITE_OK ||
		    sqlite3_bind_int64(s, 2, newest) != SQLITE_OK) {
			db_error(st, op);
			goto fail;
		}
		snprintf(value, sizeof(value), "%" PRId64, newest);
		if (stmt_run(st, s, op) < 0 || meta_set(st, "rollup_id", value, op) < 0)
			goto fail;
	}
	if (txn_commit(st, op) < 0)
		goto fail;
	st->rollup_seen = newest;
	return (long)(newest - mark);
fail:
	txn_rollback(st);
	return -1;
}

/* ---- tokens ----------------------------------------------------------- */

static const char *
role_name(enum store_role role)
{
	return role == STORE_ROLE_AGENT ? "agent" : role == STORE_ROLE_READER ? "reader" : "?";
}

/* Runs a lookup whose answer is whether a row exists: 1, 0, or -1. */
static int
stmt_exists(struct store *st, sqlite3_stmt *s, const char *op)
{
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	db_error(st, op);
	return -1;
}

int
store_token_add(struct store *st, enum store_role role, const char *name,
		const char *hash_hex)
{
	const char *op = "token add";
	sqlite3_stmt *s;
	int exists;

	if (role != STORE_ROLE_AGENT && role != STORE_ROLE_READER) {
		set_error(st, "%s: unknown role %d", op, (int)role);
		return -1;
	}
	if (!name || !*name || !hash_hex || !*hash_hex) {
		set_error(st, "%s: empty name or hash", op);
		return -1;
	}
	if (txn_begin(st, op) < 0)
		return -1;
	/* Asked first for a message that says what is wrong; the unique
	 * indexes would refuse both anyway. */
	if (!(s = stmt_get(st, S_TOKEN_LIVE, op)))
		goto fail;
	if (sqlite3_bind_int(s, 1, (int)role) != SQLITE_OK || bind_text(s, 2, name) != SQLITE_OK) {
		db_error(st, op);
		goto fail;
	}
	if ((exists = stmt_exists(st, s, op)) < 0)
		goto fail;
	if (exists) {
		set_error(st, "%s: a live %s token named \"%s\" exists (revoke it first)", op,
			  role_name(role), name);
		goto fail;
	}
	if (!(s = stmt_get(st, S_TOKEN_HASH_EXISTS, op)))
		goto fail;
	if (bind_text(s, 1, hash_hex) != SQLITE_OK) {
		db_error(st, op);
		goto fail;
	}
	if ((exists = stmt_exists(st, s, op)) < 0)
		goto fail;
	if (exists) {
		set_error(st, "%s: a token with this hash exists (use a new secret)", op);
		goto fail;
	}
	if (!(s = stmt_get(st, S_TOKEN_INSERT, op)))
		goto fail;
	if (bind_text(s, 1, name) != SQLITE_OK || sqlite3_bind_int(s, 2, (int)role) != SQLITE_OK ||
	    bind_text(s, 3, hash_hex) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 4, now_usec()) != SQLITE_OK) {
		db_error(st, op);
		goto fail;
	}
	if (stmt_run(st, s, op) < 0 || txn_commit(st, op) < 0)
		goto fail;
	return 0;
fail:
	txn_rollback(st);
	return -1;
}

static void
token_from_row(sqlite3_stmt *s, struct store_token *t)
{
	t->id = sqlite3_column_int64(s, 0);
	t->name = (const char *)sqlite3_column_text(s, 1);
	t->role = (enum store_role)sqlite3_column_int(s, 2);
	t->created = sqlite3_column_int64(s, 3);
	t->last_used = sqlite3_column_int64(s, 4);
	t->revoked = sqlite3_column_int64(s, 5) != 0;
}

int
store_token_find(struct store *st, const char *hash_hex, struct store_token *out)
{
	const char *op = "token find";
	sqlite3_stmt *s = stmt_get(st, S_TOKEN_FIND, op);
	int64_t now = now_usec();
	int rc;

	if (!s)
		return -1;
	if (!hash_hex) {
		set_error(st, "%s: no hash", op);
		return -1;
	}
	if (bind_text(s, 1, hash_hex) != SQLITE_OK) {
		db_error(st, op);
		return -1;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(s);
		return 0;
	}
	if (rc != SQLITE_ROW) {
		db_error(st, op);
		sqlite3_reset(s);
		return -1;
	}
	token_from_row(s, out);
	free(st->token_name);
	st->token_name = strdup(out->name ? out->name : "");
	sqlite3_reset(s);
	if (!st->token_name) {
		set_error(st, "%s: out of memory", op);
		out->name = NULL;
		return -1;
	}
	out->name = st->token_name;

	if (now - out->last_used >= TOKEN_TOUCH_USEC) {
		/* A failed touch must not turn a valid token away; one that
		 * found the lock busy is tried again by a later request. */
		s = stmt_get(st, S_TOKEN_TOUCH, "token touch");
		sqlite3_busy_timeout(st->db, TOKEN_TOUCH_BUSY_MS);
		if (!s || sqlite3_bind_int64(s, 1, out->id) != SQLITE_OK ||
		    sqlite3_bind_int64(s, 2, now) != SQLITE_OK ||
		    stmt_run(st, s, "token touch") < 0) {
			if (sqlite3_errcode(st->db) == SQLITE_BUSY)
				log_debug("store: %s (skipped)", st->err);
			else
				log_warnx("store: %s", st->err);
		} else {
			out->last_used = now;
		}
		sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
	}
	return 1;
}

int
store_token_list(struct store *st, int (*cb)(void *arg, const struct store_token *t),
		 void *arg)
{
	sqlite3_stmt *s = stmt_get(st, S_TOKEN_LIST, "token list");
	int rc, ret = 0;

	if (!s)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_token t;
		token_from_row(s, &t);
		if ((ret = cb(arg, &t)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE) {
		db_error(st, "token list");
		ret = -1;
	}
	sqlite3_reset(s);
	return ret;
}

int
store_token_revoke(struct store *st, enum store_role role, const char *name)
{
	sqlite3_stmt *s = stmt_get(st, S_TOKEN_REVOKE, "token revoke");

	if (!s)
		return -1;
	if (!name) {
		set_error(st, "token revoke: no name");
		return -1;
	}
	if (sqlite3_bind_int(s, 1, (int)role) != SQLITE_OK || bind_text(s, 2, name) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 3, now_usec()) != SQLITE_OK) {
		db_error(st, "token revoke");
		return -1;
	}
	if (stmt_run(st, s, "token revoke") < 0)
		return -1;
	return sqlite3_changes(st->db) > 0;
}

/* ---- remap ------------------------------------------------------------ */

struct remap_change {
	int64_t id;
	const struct sig_app *app; /* NULL: no app */
	int use_agent;             /* app and category from agent_app, agent_category */
};

/* Maps the next chunk of keys after *last_id (all keys, or the unmapped
 * ones only), writes what changed and adds that to *n_changed. The number
 * of keys read, or -1. */
static long
remap_chunk(struct store *st, const sig_db *sigs, int only_unmapped, int64_t *last_id,
	    long *n_changed)
{
	const char *op = "remap";
	struct remap_change changes[REMAP_CHUNK];
	size_t n_changes = 0;
	long n_read = 0;
	sqlite3_stmt *s = stmt_get(st, only_unmapped ? S_KEYS_UNMAPPED : S_KEYS_ALL, op);
	int rc;

	if (!s)
		return -1;
	if (sqlite3_bind_int64(s, 1, *last_id) != SQLITE_OK ||
	    sqlite3_bind_int(s, 2, REMAP_CHUNK) != SQLITE_OK) {
		db_error(st, op);
		sqlite3_reset(s);
		return -1;
	}
	/* The whole chunk is read before anything is written: no update
	 * under a live cursor on the same table. */
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(s, 0);
		const char *host = (const char *)sqlite3_column_text(s, 1);
		const char *ndpi = (const char *)sqlite3_column_text(s, 2);
		const char *agent_app = (const char *)sqlite3_column_text(s, 3);
		const char *agent_category = (const char *)sqlite3_column_text(s, 4);
		const char *untracked = (const char *)sqlite3_column_text(s, 5);
		const char *old_app = (const char *)sqlite3_column_text(s, 6);
		const char *old_category = (const char *)sqlite3_column_text(s, 7);
		int use_agent;
		const struct sig_app *a = map_key(sigs, host, ndpi, untracked, &use_agent);
		const char *app = a ? a->slug : NULL, *category = a ? a->category : NULL;

		if (use_agent) {
			app = agent_app;
			category = agent_category;
		}
		n_read++;
		*last_id = id;
		if (!str_eq(app, old_app) || !str_eq(category, old_category))
			changes[n_changes++] = (struct remap_change){id, a, use_agent};
	}
	if (rc != SQLITE_DONE) {
		db_error(st, op);
		sqlite3_reset(s);
		return -1;
	}
	sqlite3_reset(s);

	for (size_t i = 0; i < n_changes; i++) {
		const struct remap_change *c = &changes[i];
		s = stmt_get(st, c->use_agent ? S_KEY_SET_AGENT : S_KEY_SET_APP, op);
		if (!s)
			return -1;
		if (sqlite3_bind_int64(s, 1, c->id) != SQLITE_OK ||
		    (!c->use_agent &&
		     (bind_text(s, 2, c->app ? c->app->slug : NULL) != SQLITE_OK ||
		      bind_text(s, 3, c->app ? c->app->category : NULL) != SQLITE_OK))) {
			db_error(st, op);
			return -1;
		}
		if (stmt_run(st, s, op) < 0)
			return -1;
	}
	*n_changed += (long)n_changes;
	return n_read;
}

long
store_remap(struct store *st, const sig_db *sigs)
{
	const char *op = "remap";
	char db_hash[32];
	long n_changed = 0;
	int64_t last_id = 0;
	int found, only_unmapped;
	sqlite3_stmt *s;

	if (!sigs) {
		set_error(st, "%s: no signatures", op);
		return -1;
	}
	/* Taken even if the remap fails: the caller may free the previous
	 * set once it has handed over this one. */
	st->sigs = sigs;
	sigs_hash(sigs, st->sig_hash);

	/* The common case, unchanged signatures and every key mapped with
	 * them, costs two reads and no write lock. */
	if ((found = meta_get(st, "sig_hash", db_hash, sizeof(db_hash), op)) < 0)
		return -1;
	if (found && strcmp(db_hash, st->sig_hash) == 0) {
		int rc, any = -1;
		if (!(s = stmt_get(st, S_KEYS_ANY_UNMAPPED, op)))
			return -1;
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW)
			any = sqlite3_column_int(s, 0);
		else
			db_error(st, op);
		sqlite3_reset(s);
		if (any <= 0)
			return any;
	}

	if (txn_begin(st, op) < 0)
		return -1;
	/* Asked again under the write lock: another handle may have just
	 * re-mapped with these same signatures. */
	if ((found = meta_get(st, "sig_hash", db_hash, sizeof(db_hash), op)) < 0)
		goto fail;
	only_unmapped = found && strcmp(db_hash, st->sig_hash) == 0;
	for (;;) {
		long n_read = remap_chunk(st, sigs, only_unmapped, &last_id, &n_changed);
		if (n_read < 0)
			goto fail;
		if (n_read < REMAP_CHUNK)
			break;
	}
	if (!(s = stmt_get(st, S_KEYS_MARK_MAPPED, op)) || stmt_run(st, s, op) < 0 ||
	    meta_set(st, "sig_hash", st->sig_hash, op) < 0 || txn_commit(st, op) < 0)
		goto fail;
	if (n_changed)
		log_info("store: signatures %s re-mapped %ld keys", st->sig_hash, n_changed);
	return n_changed;
fail:
	txn_rollback(st);
	return -1;
}

/* ---- queries ---------------------------------------------------------- */

/*
 * Binds ?1..?8 of USAGE_IN_RANGE for [from, to): the whole UTC days inside
 * the range from the roll-up (and its pending raw rows), the partial days
 * at its edges from raw rows.
 * 0 is no bound. A range within one day reads raw rows only.
 */
static int
bind_range(struct store *st, sqlite3_stmt *s, int64_t from, int64_t to, const char *op)
{
	int64_t v[8] = {0, 0, 0, 0, 0, 0, 0, 0}; /* [0, 0): empty */
	int64_t day_lo = from ? ceil_div(from, DAY_USEC) : INT64_MIN;
	int64_t day_hi = to ? floor_div(to, DAY_USEC) : INT64_MAX;

	if (from && to && from >= to) {
		/* nothing */
	} else if (day_lo < day_hi) {
		v[0] = day_lo;
		v[1] = day_hi;
		v[6] = day_start(day_lo);
		v[7] = day_start(day_hi);
		if (from) {
			v[2] = from;
			v[3] = day_start(day_lo);
		}
		if (to) {
			v[4] = day_start(day_hi);
			v[5] = to;
		}
	} else {
		/* No whole day: both bounds are set (an open end would reach
		 * one), so the range is a piece of one day or of two. */
		v[2] = from;
		v[3] = to;
	}
	for (int i = 0; i < 8; i++)
		if (sqlite3_bind_int64(s, i + 1, v[i]) != SQLITE_OK) {
			db_error(st, op);
			return -1;
		}
	return 0;
}

/* The caller's callback and argument, as the row functions get them. */
struct query_cb {
	union {
		int (*app)(void *arg, const struct store_app_row *r);
		int (*category)(void *arg, const struct store_category_row *r);
		int (*client)(void *arg, const struct store_client_row *r);
		int (*domain)(void *arg, const struct store_domain_row *r);
		int (*network)(void *arg, const struct store_network_row *r);
		int (*client_app)(void *arg, const struct store_client_app_row *r);
		int (*usage)(void *arg, const struct store_usage_row *r);
		int (*key)(void *arg, const struct store_key_row *r);
	} fn;
	void *arg;
};

#define COL_U64(s, i) ((uint64_t)sqlite3_column_int64((s), (i)))
#define COL_TEXT(s, i) ((const char *)sqlite3_column_text((s), (i)))

static int
row_app(sqlite3_stmt *s, const struct query_cb *q)
{
	struct store_app_row r = {
		.app = COL_TEXT(s, 0),
		.category = COL_TEXT(s, 1),
		.users = COL_U64(s, 2),
		.flows = COL_U64(s, 3),
		.packets = COL_U64(s, 4),
		.bytes_up = COL_U64(s, 5),
		.bytes_down = COL_U64(s, 6),
		.first_seen = sqlite3_column_int64(s, 7),
		.last_seen = sqlite3_column_int64(s, 8),
	};
	return q->fn.app(q->arg, &r);
}

static int
row_category(sqlite3_stmt *s, const struct query_cb *q)
{
	struct store_category_row r = {
		.category = COL_TEXT(s, 0),
		.users = COL_U64(s, 1),
		.apps = COL_U64(s, 2),
		.flows = COL_U64(s, 3),
		.packets = COL_U64(s, 4),
		.bytes_up = COL_U64(s, 5),
		.bytes_down = COL_U64(s, 6),
		.first_seen = sqlite3_column_int64(s, 7),
		.last_seen = sqlite3_column_int64(s, 8),
	};
	return q->fn.category(q->arg, &r);
}

static int
row_client(sqlite3_stmt *s, const struct query_cb *q)
{
	const char *client = COL_TEXT(s, 0);
	struct store_client_row r = {
		.client = client ? client : "",
		.apps = COL_U64(s, 1),
		.flows = COL_U64(s, 2),
		.packets = COL_U64(s, 3),
		.bytes_up = COL_U64(s, 4),
		.bytes_down = COL_U64(s, 5),
		.first_seen = sqlite3_column_int64(s, 6),
		.last_seen = sqlite3_column_int64(s, 7),
	};
	return q->fn.client(q->arg, &r);
}

static int
row_domain(sqlite3_stmt *s, const struct query_cb *q)
{
	struct store_domain_row r = {
		.domain = COL_TEXT(s, 0),
		.users = COL_U64(s, 1),
		.hosts = COL_U64(s, 2),
		.flows = COL_U64(s, 3),
		.packets = COL_U64(s, 4),
		.bytes_up = COL_U64(s, 5),
		.bytes_down = COL_U64(s, 6),
		.first_seen = sqlite3_column_int64(s, 7),
		.last_seen = sqlite3_column_int64(s, 8),
		.asn = (uint32_t)sqlite3_column_int64(s, 9),
		.as_org = COL_TEXT(s, 10),
		.country = COL_TEXT(s, 11),
	};
	return q->fn.domain(q->arg, &r);
}

static int
row_network(sqlite3_stmt *s, const struct query_cb *q)
{
	struct store_network_row r = {
		.asn = (uint32_t)sqlite3_column_int64(s, 0),
		.as_org = COL_TEXT(s, 1),
		.country = COL_TEXT(s, 2),
		.users = COL_U64(s, 3),
		.apps = COL_U64(s, 4),
		.flows = COL_U64(s, 5),
		.packets = COL_U64(s, 6),
		.bytes_up = COL_U64(s, 7),
		.bytes_down = COL_U64(s, 8),
		.first_seen = sqlite3_column_int64(s, 9),
		.last_seen = sqlite3_column_int64(s, 10),
	};
	return q->fn.network(q->arg, &r);
}

/* Steps a bound statement, each row to the caller through row, and resets it.
 * Strings live until the next step, so only for the callback's duration. */
static int
step_rows(struct store *st, sqlite3_stmt *s, const char *op,
	  int (*row)(sqlite3_stmt *s, const struct query_cb *q), const struct query_cb *q)
{
	int rc, ret = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((ret = row(s, q)) != 0)
			break;
	if (ret == 0 && rc != SQLITE_DONE) {
		db_error(st, op);
		ret = -1;
	}
	sqlite3_reset(s);
	return ret;
}

/* A group-by query over [from, to), its rows stepped as step_rows does. */
static int
run_query(struct store *st, enum stmt_id id, const char *op, int64_t from, int64_t to,
	  int (*row)(sqlite3_stmt *s, const struct query_cb *q), const struct query_cb *q)
{
	sqlite3_stmt *s = stmt_get(st, id, op);

	if (!s)
		return -1;
	if (bind_range(st, s, from, to, op) < 0) {
		sqlite3_reset(s);
		return -1;
	}
	return step_rows(st, s, op, row, q);
}

int
store_apps(struct store *st, int64_t from, int64_t to,
	   int (*cb)(void *arg, const struct store_app_row *r), void *arg)
{
	struct query_cb q = {.fn.app = cb, .arg = arg};
	return run_query(st, S_Q_APPS, "apps", from, to, row_app, &q);
}

int
store_categories(struct store *st, int64_t from, int64_t to,
		 int (*cb)(void *arg, const struct store_category_row *r), void *arg)
{
	struct query_cb q = {.fn.category = cb, .arg = arg};
	return run_query(st, S_Q_CATEGORIES, "categories", from, to, row_category, &q);
}

int
store_clients(struct store *st, int64_t from, int64_t to,
	      int (*cb)(void *arg, const struct store_client_row *r), void *arg)
{
	struct query_cb q = {.fn.client = cb, .arg = arg};
	return run_query(st, S_Q_CLIENTS, "clients", from, to, row_client, &q);
}

int
store_unknown_domains(struct store *st, int64_t from, int64_t to,
		      int (*cb)(void *arg, const struct store_domain_row *r), void *arg)
{
	struct query_cb q = {.fn.domain = cb, .arg = arg};
	return run_query(st, S_Q_DOMAINS, "unknown domains", from, to, row_domain, &q);
}

int
store_networks(struct store *st, int64_t from, int64_t to,
	       int (*cb)(void *arg, const struct store_network_row *r), void *arg)
{
	struct query_cb q = {.fn.network = cb, .arg = arg};
	return run_query(st, S_Q_NETWORKS, "networks", from, to, row_network, &q);
}

int
store_get_totals(struct store *st, int64_t from, int64_t to, struct store_totals *out)
{
	const char *op = "totals";
	sqlite3_stmt *s = stmt_get(st, S_Q_TOTALS, op);
	int rc;

	memset(out, 0, sizeof(*out));
	if (!s)
		return -1;
	if (bind_range(st, s, from, to, op) < 0) {
		sqlite3_reset(s);
		return -1;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->records = COL_U64(s, 0);
		out->flows = COL_U64(s, 1);
		out->packets = COL_U64(s, 2);
		out->bytes_up = COL_U64(s, 3);
		out->bytes_down = COL_U64(s, 4);
		out->first_seen = sqlite3_column_int64(s, 5);
		out->last_seen = sqlite3_column_int64(s, 6);
	} else {
		db_error(st, op);
	}
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

static int
row_client_app(sqlite3_stmt *s, const struct query_cb *q)
{
	struct store_client_app_row r = {
		.client = COL_TEXT(s, 0),
		.app = COL_TEXT(s, 1),
		.category = COL_TEXT(s, 2),
		.flows = COL_U64(s, 3),
		.bytes_up = COL_U64(s, 4),
		.bytes_down = COL_U64(s, 5),
		.first_seen = sqlite3_column_int64(s, 6),
		.last_seen = sqlite3_column_int64(s, 7),
	};
	return q->fn.client_app(q->arg, &r);
}

int
store_client_apps(struct store *st, int64_t from, int64_t to,
		  int (*cb)(void *arg, const struct store_client_app_row *r), void *arg)
{
	struct query_cb q = {.fn.client_app = cb, .arg = arg};
	return run_query(st, S_Q_CLIENT_APPS, "client apps", from, to, row_client_app, &q);
}

static int
row_usage(sqlite3_stmt *s, const struct query_cb *q)
{
	struct store_usage_row r = {
		.day = sqlite3_column_int64(s, 0),
		.client_id = sqlite3_column_int64(s, 1),
		.key_id = sqlite3_column_int64(s, 2),
		.flows = COL_U64(s, 3),
		.packets = COL_U64(s, 4),
		.bytes_up = COL_U64(s, 5),
		.bytes_down = COL_U64(s, 6),
		.first_seen = sqlite3_column_int64(s, 7),
		.last_seen = sqlite3_column_int64(s, 8),
	};
	return q->fn.usage(q->arg, &r);
}

int
store_usage_walk(struct store *st, int64_t from, int64_t to,
		 int (*cb)(void *arg, const struct store_usage_row *r), void *arg)
{
	struct query_cb q = {.fn.usage = cb, .arg = arg};
	return run_query(st, S_Q_USAGE, "usage", from, to, row_usage, &q);
}

static int
row_key(sqlite3_stmt *s, const struct query_cb *q)
{
	struct store_key_row r = {
		.id = sqlite3_column_int64(s, 0),
		.host = COL_TEXT(s, 1),
		.domain = COL_TEXT(s, 2),
		.app = COL_TEXT(s, 3),
		.category = COL_TEXT(s, 4),
		.untracked = COL_TEXT(s, 5),
		.country = COL_TEXT(s, 6),
		.asn = (uint32_t)sqlite3_column_int64(s, 7),
		.as_org = COL_TEXT(s, 8),
	};
	return q->fn.key(q->arg, &r);
}

int
store_keys(struct store *st, int (*cb)(void *arg, const struct store_key_row *r), void *arg)
{
	struct query_cb q = {.fn.key = cb, .arg = arg};
	sqlite3_stmt *s = stmt_get(st, S_Q_KEYS, "keys");
	return s ? step_rows(st, s, "keys", row_key, &q) : -1;
}
