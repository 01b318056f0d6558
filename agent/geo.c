/*
 * Country and network of server addresses (geo.h) from MaxMind DB files,
 * through libmaxminddb. Both databases are memory-mapped at start (before
 * the agent drops root) and only read afterwards. Organisation names are
 * interned, so that a flow and an aggregation key hold a number, not a
 * string.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <maxminddb.h>

#include "shadowmap/hash.h"
#include "shadowmap/utf8.h"

#include "geo.h"

#define GEO_ORG_LEN_MAX 128      /* bytes of an organisation name kept */
#define GEO_ORG_MAX (1u << 18)   /* distinct names held; real databases have <100k */
#define GEO_WALK_NODES (1u << 16) /* search-tree nodes read to check a database */
#define GEO_WALK_RECORDS 256     /* data records looked at to check a database */

/* How a country database spells the country. */
enum country_layout {
	LAYOUT_NONE = 0,
	LAYOUT_GEOIP2, /* MaxMind GeoLite2/GeoIP2, DB-IP: country.iso_code */
	LAYOUT_FLAT,   /* ip-location-db: country_code */
};

struct geo {
	MMDB_s country_db, asn_db;
	int have_country, have_asn;
	enum country_layout layout;
	/* interned organisation names: orgs[id - 1]; slots hold ids, 0 empty */
	struct hash_key hkey;
	char **orgs;
	uint32_t n_orgs, cap_orgs;
	uint32_t *slots;
	uint32_t n_slots; /* power of two, at least twice n_orgs */
	struct geo_stats st;
	/* the worker threads of a sharded run share one handle: the lookups
	 * themselves only read the mapped files, the names and counters are
	 * guarded (mutable: geo_org_name reads under it too) */
	pthread_mutex_t lock;
};

geo *
geo_new(void)
{
	geo *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	if (pthread_mutex_init(&g->lock, NULL) != 0) {
		free(g);
		return NULL;
	}
	hash_key_random(&g->hkey);
	return g;
}

void
geo_free(geo *g)
{
	if (!g)
		return;
	if (g->have_country)
		MMDB_close(&g->country_db);
	if (g->have_asn)
		MMDB_close(&g->asn_db);
	for (uint32_t i = 0; i < g->n_orgs; i++)
		free(g->orgs[i]);
	free(g->orgs);
	free(g->slots);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

int
geo_enabled(const geo *g)
{
	return g && (g->have_country || g->have_asn);
}

/* ---- reading values ---- */

/* Two ASCII letters, upper-cased, packed; 0 for anything else. */
static uint16_t
country_value(const MMDB_entry_data_s *d)
{
	if (!d->has_data || d->type != MMDB_DATA_TYPE_UTF8_STRING || d->data_size != 2)
		return 0;
	unsigned char c[2] = { (unsigned char)d->utf8_string[0],
			       (unsigned char)d->utf8_string[1] };
	for (int i = 0; i < 2; i++) {
		if (c[i] >= 'a' && c[i] <= 'z')
			c[i] = (unsigned char)(c[i] - 'a' + 'A');
		if (c[i] < 'A' || c[i] > 'Z')
			return 0;
	}
	return (uint16_t)(c[0] << 8 | c[1]);
}

/* An AS number stored as any integer type, or as text ("13335",
 * "AS13335"); 0 when it is none of these or out of range. */
static uint32_t
asn_value(const MMDB_entry_data_s *d)
{
	if (!d->has_data)
		return 0;
	switch (d->type) {
	case MMDB_DATA_TYPE_UINT16:
		return d->uint16;
	case MMDB_DATA_TYPE_UINT32:
		return d->uint32;
	case MMDB_DATA_TYPE_INT32:
		return d->int32 > 0 ? (uint32_t)d->int32 : 0;
	case MMDB_DATA_TYPE_UINT64:
		return d->uint64 <= UINT32_MAX ? (uint32_t)d->uint64 : 0;
	case MMDB_DATA_TYPE_UTF8_STRING: {
		const char *s = d->utf8_string;
		size_t n = d->data_size, i = 0;
		uint64_t v = 0;
		if (n >= 2 && (s[0] == 'A' || s[0] == 'a') && (s[1] == 'S' || s[1] == 's'))
			i = 2;
		if (i == n || n - i > 10)
			return 0;
		for (; i < n; i++) {
			if (s[i] < '0' || s[i] > '9')
				return 0;
			v = v * 10 + (uint64_t)(s[i] - '0');
		}
		return v <= UINT32_MAX ? (uint32_t)v : 0;
	}
	default:
		return 0;
	}
}

static int
get_value(MMDB_entry_s *e, MMDB_entry_data_s *d, const char *k1, const char *k2)
{
	int rc = k2 ? MMDB_get_value(e, d, k1, k2, NULL) : MMDB_get_value(e, d, k1, NULL);
	return rc == MMDB_SUCCESS && d->has_data ? 0 : -1;
}

static uint16_t
entry_country(MMDB_entry_s *e, enum country_layout layout)
{
	MMDB_entry_data_s d;
	uint16_t c = 0;

	if (layout == LAYOUT_FLAT)
		return get_value(e, &d, "country_code", NULL) == 0 ? country_value(&d) : 0;
	/* Networks without a located country (anycast, satellite providers)
	 * still have the country they are registered in. */
	if (get_value(e, &d, "country", "iso_code") == 0)
		c = country_value(&d);
	if (!c && get_value(e, &d, "registered_country", "iso_code") == 0)
		c = country_value(&d);
	return c;
}

/* ---- organisation names ---- */

static int
org_rehash(geo *g, uint32_t n_slots)
{
	uint32_t *slots = calloc(n_slots, sizeof(*slots));
	if (!slots)
		return -1;
	for (uint32_t id = 1; id <= g->n_orgs; id++) {
		const char *name = g->orgs[id - 1];
		uint32_t i = (uint32_t)hash_bytes(&g->hkey, name, strlen(name)) & (n_slots - 1);
		while (slots[i])
			i = (i + 1) & (n_slots - 1);
		slots[i] = id;
	}
	free(g->slots);
	g->slots = slots;
	g->n_slots = n_slots;
	return 0;
}

/*
 * The id of the name in s (len bytes, not NUL-terminated: it lies in the
 * mapped database), added if new. The name is cut at a NUL and at
 * GEO_ORG_LEN_MAX bytes (on a UTF-8 boundary) and trimmed of blanks.
 * 0 for an empty name, or when the table is full or memory short.
 */
static uint32_t
org_intern(geo *g, const char *s, size_t len)
{
	const char *nul = memchr(s, '\0', len);
	if (nul)
		len = (size_t)(nul - s);
	if (len > GEO_ORG_LEN_MAX) {
		size_t keep = 0;
		while (keep < len) {
			size_t n = utf8_seq_len((const unsigned char *)s + keep, len - keep);
			if (n == 0)
				n = 1;
			if (keep + n > GEO_ORG_LEN_MAX)
				break;
			keep += n;
		}
		len = keep;
	}
	while (len && (s[0] == ' ' || s[0] == '\t')) {
		s++;
		len--;
	}
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len == 0)
		return 0;

	uint64_t h = hash_bytes(&g->hkey, s, len);
	if (g->n_slots) {
		for (uint32_t i = (uint32_t)h & (g->n_slots - 1);; i = (i + 1) & (g->n_slots - 1)) {
			uint32_t id = g->slots[i];
			if (!id)
				break;
			const char *name = g->orgs[id - 1];
			if (strncmp(name, s, len) == 0 && name[len] == '\0')
				return id;
		}
	}
	if (g->n_orgs >= GEO_ORG_MAX) {
		g->st.orgs_dropped++;
		return 0;
	}
	if (g->n_orgs == g->cap_orgs) {
		uint32_t cap = g->cap_orgs ? g->cap_orgs * 2 : 256;
		char **orgs = realloc(g->orgs, cap * sizeof(*orgs));
		if (!orgs)
			goto full;
		g->orgs = orgs;
		g->cap_orgs = cap;
	}
	if ((uint64_t)(g->n_orgs + 1) * 2 > g->n_slots &&
	    org_rehash(g, g->n_slots ? g->n_slots * 2 : 512) < 0)
		goto full;
	char *copy = malloc(len + 1);
	if (!copy)
		goto full;
	memcpy(copy, s, len);
	copy[len] = '\0';
	g->orgs[g->n_orgs++] = copy;
	uint32_t i = (uint32_t)h & (g->n_slots - 1);
	while (g->slots[i])
		i = (i + 1) & (g->n_slots - 1);
	g->slots[i] = g->n_orgs;
	g->st.orgs = g->n_orgs;
	return g->n_orgs;
full:
	g->st.orgs_dropped++;
	return 0;
}

const char *
geo_org_name(const geo *g, uint32_t id)
{
	const char *name = NULL;

	if (!g || id == 0)
		return NULL;
	/* the array may move while another thread interns a name; the
	 * names themselves never do */
	pthread_mutex_t *lock = (pthread_mutex_t *)&g->lock;
	pthread_mutex_lock(lock);
	if (id <= g->n_orgs)
		name = g->orgs[id - 1];
	pthread_mutex_unlock(lock);
	return name;
}

const char *
geo_country_str(uint16_t code, char buf[3])
{
	if (!code)
		return NULL;
	buf[0] = (char)(code >> 8);
	buf[1] = (char)(code & 0xff);
	buf[2] = '\0';
	return buf;
}

/* ---- opening and checking a database ---- */

/* Whether text contains word, ASCII case ignored. */
static int
contains_word(const char *text, const char *word)
{
	size_t n = strlen(word);
	for (; *text; text++) {
		size_t i = 0;
		while (i < n && text[i]) {
			char a = text[i], b = word[i];
			if (a >= 'A' && a <= 'Z')
				a = (char)(a - 'A' + 'a');
			if (a != b)
				break;
			i++;
		}
		if (i == n)
			return 1;
	}
	return 0;
}

typedef int (*record_fn)(MMDB_entry_s *e, void *arg);

/*
 * Calls fn on the data records of the search tree, lowest networks first,
 * until fn returns nonzero or GEO_WALK_RECORDS records were seen. Reads at
 * most GEO_WALK_NODES nodes, so a broken tree cannot keep us long (a loop
 * in it is cut by the depth bound). Returns fn's nonzero result, 0 when it
 * never gave one, -1 when the tree is corrupt.
 */
static int
walk_records(MMDB_s *db, record_fn fn, void *arg)
{
	struct {
		uint32_t node;
		uint32_t depth;
	} stack[136];
	size_t sp = 0;
	uint32_t max_depth = db->metadata.ip_version == 6 ? 128 : 32;
	uint32_t n_nodes = 0, n_records = 0;

	stack[sp].node = 0;
	stack[sp++].depth = 0;
	while (sp > 0) {
		sp--;
		uint32_t node = stack[sp].node, depth = stack[sp].depth;
		MMDB_search_node_s sn;
		if (++n_nodes > GEO_WALK_NODES)
			return 0;
		if (MMDB_read_node(db, node, &sn) != MMDB_SUCCESS)
			return -1;
		uint8_t types[2] = { sn.left_record_type, sn.right_record_type };
		uint64_t recs[2] = { sn.left_record, sn.right_record };
		MMDB_entry_s entries[2] = { sn.left_record_entry, sn.right_record_entry };
		for (int i = 0; i < 2; i++) {
			if (types[i] == MMDB_RECORD_TYPE_INVALID)
				return -1;
			if (types[i] != MMDB_RECORD_TYPE_DATA)
				continue;
			int r = fn(&entries[i], arg);
			if (r)
				return r;
			if (++n_records >= GEO_WALK_RECORDS)
				return 0;
		}
		/* right first, so that the left subtree is read first */
		for (int i = 1; i >= 0; i--) {
			if (types[i] != MMDB_RECORD_TYPE_SEARCH_NODE)
				continue;
			if (depth + 1 >= max_depth || sp >= sizeof(stack) / sizeof(stack[0]))
				return -1;
			stack[sp].node = (uint32_t)recs[i];
			stack[sp++].depth = depth + 1;
		}
	}
	return 0;
}

static int
record_country_layout(MMDB_entry_s *e, void *arg)
{
	MMDB_entry_data_s d;
	(void)arg;
	if (get_value(e, &d, "country", "iso_code") == 0 ||
	    get_value(e, &d, "registered_country", "iso_code") == 0)
		return LAYOUT_GEOIP2;
	if (get_value(e, &d, "country_code", NULL) == 0)
		return LAYOUT_FLAT;
	return 0;
}

static int
record_has_asn(MMDB_entry_s *e, void *arg)
{
	MMDB_entry_data_s d;
	(void)arg;
	return get_value(e, &d, "autonomous_system_number", NULL) == 0 &&
	       (asn_value(&d) != 0 || d.type == MMDB_DATA_TYPE_UINT32 ||
		d.type == MMDB_DATA_TYPE_UINT16 || d.type == MMDB_DATA_TYPE_UINT64 ||
		d.type == MMDB_DATA_TYPE_INT32);
}

/* Opens path as a MaxMind DB whose database_type holds one of words. */
static int
db_open(MMDB_s *db, const char *path, const char *kind, const char *const *words,
	char *err, size_t errlen)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	int st_rc = fstat(fd, &sb);
	close(fd);
	if (st_rc < 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	if (sb.st_size == 0) {
		snprintf(err, errlen, "%s: empty: not a MaxMind DB (.mmdb) file", path);
		return -1;
	}
	int rc = MMDB_open(path, MMDB_MODE_MMAP, db);
	if (rc == MMDB_FILE_OPEN_ERROR || rc == MMDB_IO_ERROR || rc == MMDB_OUT_OF_MEMORY_ERROR) {
		snprintf(err, errlen, "%s: cannot read: %s", path, MMDB_strerror(rc));
		return -1;
	}
	if (rc != MMDB_SUCCESS) {
		snprintf(err, errlen, "%s: not a MaxMind DB (.mmdb) file: %s", path,
			 MMDB_strerror(rc));
		return -1;
	}
	const char *type = db->metadata.database_type ? db->metadata.database_type : "";
	int ok = 0;
	for (size_t i = 0; words[i]; i++)
		ok |= contains_word(type, words[i]);
	if (!ok) {
		snprintf(err, errlen, "%s: database_type \"%.64s\" is not %s database", path,
			 type, kind);
		MMDB_close(db);
		return -1;
	}
	return 0;
}

int
geo_open_country(geo *g, const char *path, char *err, size_t errlen)
{
	static const char *const words[] = { "country", "city", NULL };

	if (g->have_country) {
		snprintf(err, errlen, "%s: a country database is open already", path);
		return -1;
	}
	if (db_open(&g->country_db, path, "a country", words, err, errlen) < 0)
		return -1;
	int layout = walk_records(&g->country_db, record_country_layout, NULL);
	if (layout <= 0) {
		if (layout < 0)
			snprintf(err, errlen, "%s: its search tree is corrupt", path);
		else
			snprintf(err, errlen, "%s: a \"%.64s\" database whose records have neither "
				 "country.iso_code nor country_code", path,
				 g->country_db.metadata.database_type);
		MMDB_close(&g->country_db);
		return -1;
	}
	g->layout = (enum country_layout)layout;
	g->have_country = 1;
	return 0;
}

int
geo_open_asn(geo *g, const char *path, char *err, size_t errlen)
{
	static const char *const words[] = { "asn", "isp", NULL };

	if (g->have_asn) {
		snprintf(err, errlen, "%s: an ASN database is open already", path);
		return -1;
	}
	if (db_open(&g->asn_db, path, "an ASN", words, err, errlen) < 0)
		return -1;
	int found = walk_records(&g->asn_db, record_has_asn, NULL);
	if (found <= 0) {
		if (found < 0)
			snprintf(err, errlen, "%s: its search tree is corrupt", path);
		else
			snprintf(err, errlen, "%s: a \"%.64s\" database whose records have no "
				 "autonomous_system_number", path,
				 g->asn_db.metadata.database_type);
		MMDB_close(&g->asn_db);
		return -1;
	}
	g->have_asn = 1;
	return 0;
}

/* ---- lookups ---- */

void
geo_lookup(geo *g, const struct sm_addr *a, struct geo_info *out)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} u;
	MMDB_lookup_result_s r;
	MMDB_entry_data_s d;
	int mmdb_err;

	memset(out, 0, sizeof(*out));
	if (!geo_enabled(g))
		return;
	memset(&u, 0, sizeof(u));
	if (addr_is_v4(a)) {
		u.in.sin_family = AF_INET;
		memcpy(&u.in.sin_addr, a->b + 12, 4);
	} else {
		u.in6.sin6_family = AF_INET6;
		memcpy(&u.in6.sin6_addr, a->b, 16);
	}
	pthread_mutex_lock(&g->lock);
	g->st.lookups++;
	if (g->have_country) {
		/* an IPv6 address in an IPv4-only database is an error: not found */
		r = MMDB_lookup_sockaddr(&g->country_db, &u.sa, &mmdb_err);
		if (mmdb_err == MMDB_SUCCESS && r.found_entry)
			out->country = entry_country(&r.entry, g->layout);
		g->st.country += out->country != 0;
	}
	if (g->have_asn) {
		r = MMDB_lookup_sockaddr(&g->asn_db, &u.sa, &mmdb_err);
		if (mmdb_err == MMDB_SUCCESS && r.found_entry &&
		    get_value(&r.entry, &d, "autonomous_system_number", NULL) == 0)
			out->asn = asn_value(&d);
		if (out->asn && get_value(&r.entry, &d, "autonomous_system_organization",
					  NULL) == 0 &&
		    d.type == MMDB_DATA_TYPE_UTF8_STRING)
			out->as_org = org_intern(g, d.utf8_string, d.data_size);
		g->st.asn += out->asn != 0;
	}
	pthread_mutex_unlock(&g->lock);
}

void
geo_get_stats(const geo *g, struct geo_stats *st)
{
	if (g) {
		pthread_mutex_t *lock = (pthread_mutex_t *)&g->lock;
		pthread_mutex_lock(lock);
		*st = g->st;
		pthread_mutex_unlock(lock);
	} else {
		memset(st, 0, sizeof(*st));
	}
}
