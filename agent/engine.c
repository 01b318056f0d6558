/*
 * The packet path (engine.h): decode, find the flow, count its bytes in
 * the bucket of the packet, classify it while it is young (server name
 * from TLS/QUIC/HTTP or the DNS cache, nDPI's verdict, the signatures),
 * and hand closed buckets to the usage sink.
 *
 * Counting never waits for classification: a flow keeps its counters per
 * bucket (struct flow_bucket) until its name and app are final, so the
 * bytes of its first packets land under the name found a few packets
 * later. A bucket is emitted once every flow has flushed into it: at the
 * bucket's end plus the classification timeout.
 */
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shadowmap/domain.h"
#include "shadowmap/hash.h"
#include "shadowmap/json.h"
#include "shadowmap/log.h"
#include "shadowmap/timefmt.h"

#include "aggregate.h"
#include "decode.h"
#include "dns.h"
#include "dpi.h"
#include "engine.h"
#include "names.h"
#include "quic.h"

#define STREAM_MAX 16384   /* client bytes kept to find a name in */
#define OOO_MAX 4          /* out-of-order client segments held */
#define QUIC_DATAGRAMS_MAX 16
#define FRAG_SLOTS 4096
#define FRAG_LIFETIME (30 * USEC_PER_SEC)
#define TICK_USEC USEC_PER_SEC

struct ooo_seg {
	uint32_t seq;
	uint32_t len;
	uint8_t *data;
};

/* What a flow needs only while it is being classified. */
struct flow_detect {
	struct dpi_flow *dpi;
	uint16_t packets;
	uint8_t dpi_done;
	uint8_t naming_done;
	uint8_t seq_known;
	uint8_t n_ooo;
	uint8_t quic_datagrams;
	uint8_t name_source;     /* of name[] */
	uint32_t next_seq;
	uint8_t *stream;
	uint32_t stream_len, stream_cap;
	struct ooo_seg ooo[OOO_MAX];
	struct quic_ctx *quic;
	char name[DOMAIN_MAX];      /* from the flow's own bytes */
	char dns_name[DOMAIN_MAX];  /* from the DNS cache at the flow's start */
};

struct frag_entry {
	struct sm_addr src, dst;
	uint32_t id;
	uint8_t proto;
	uint8_t up;
	uint32_t flow_id, flow_gen;
	int64_t expires;
};

/* Registrable domains of recent names: libpsl costs ~10k instructions a
 * lookup and the same names come back in every bucket. Direct-mapped. */
#define DOMCACHE_SLOTS 1024
struct domcache_slot {
	char *host;           /* NULL: empty */
	char domain[DOMAIN_MAX]; /* "" when the name has none */
};

struct engine {
	struct engine_config cfg;
	struct domcache_slot *domcache;
	const sig_db *sigs;
	geo *geo;               /* NULL: no geolocation */
	struct engine_sinks sinks;
	struct flow_table *flows;
	struct dpi *dpi;
	dns_cache *dns;
	struct agg *agg;
	struct frag_entry *frags;
	struct hash_key frag_key;
	int64_t clock;          /* newest time seen */
	int64_t next_tick;
	int64_t emitted_before; /* buckets before this were emitted */
	uint32_t detecting;
	int failed;
	struct engine_stats st;
	struct sbuf scratch;
	/* warnings that bad input could repeat per packet: once a minute */
	struct log_ratelimit rl_oom, rl_full;
	/* Sharded runs (threads > 1): a worker's engine hands its closed
	 * buckets to the merger, an engine that only sums and emits them. */
	struct engine *merger;   /* this worker's; NULL when not sharded */
	unsigned shard;          /* this worker's index */
	uint16_t *merge_ids;     /* this worker's nDPI name ids -> the merger's */
	struct merge_state *merge; /* the merger's own (NULL in workers) */
};

void
engine_config_defaults(struct engine_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->bucket_usec = 300 * USEC_PER_SEC;
	cfg->max_flows = 262144;
	cfg->max_detecting = 65536;
	cfg->idle_usec[FLOW_TC_TCP] = 300 * USEC_PER_SEC;
	cfg->idle_usec[FLOW_TC_TCP_CLOSED] = 10 * USEC_PER_SEC;
	cfg->idle_usec[FLOW_TC_UDP] = 120 * USEC_PER_SEC;
	cfg->idle_usec[FLOW_TC_OTHER] = 60 * USEC_PER_SEC;
	cfg->active_usec = 1800 * USEC_PER_SEC;
	cfg->detect_usec = 30 * USEC_PER_SEC;
	cfg->dpi_max_packets = 24;
	cfg->dns_cache_size = 65536;
	cfg->dns_ttl_floor = 300;
	cfg->dns_ttl_max = 86400;
}

const char *
name_source_str(enum name_source s)
{
	switch (s) {
	case NAME_SRC_SNI: return "sni";
	case NAME_SRC_QUIC: return "quic";
	case NAME_SRC_HTTP: return "http";
	case NAME_SRC_DNS: return "dns";
	case NAME_SRC_CERT: return "cert";
	default: return NULL;
	}
}

static const char *
confidence_str(uint8_t c)
{
	switch (c) {
	case DPI_CONF_PORT: return "port";
	case DPI_CONF_IP: return "ip";
	case DPI_CONF_CACHE: return "cache";
	case DPI_CONF_PAYLOAD: return "payload";
	case DPI_CONF_NAME: return "name";
	default: return "unknown";
	}
}

/* "asn": a number, or null for 0. */
static void
json_add_asn(struct sbuf *sb, uint32_t asn)
{
	if (asn)
		json_add_u64(sb, asn);
	else
		sbuf_addstr(sb, "null");
}

static const char *
proto_str(uint8_t proto, char buf[8])
{
	switch (proto) {
	case IPPROTO_TCP: return "tcp";
	case IPPROTO_UDP: return "udp";
	case IPPROTO_ICMP: return "icmp";
	case IPPROTO_ICMPV6: return "icmpv6";
	case IPPROTO_SCTP: return "sctp";
	case IPPROTO_GRE: return "gre";
	case IPPROTO_ESP: return "esp";
	default:
		buf[0] = (char)('0' + proto / 100);
		buf[1] = (char)('0' + proto / 10 % 10);
		buf[2] = (char)('0' + proto % 10);
		buf[3] = '\0';
		return buf[0] == '0' ? (buf[1] == '0' ? buf + 2 : buf + 1) : buf;
	}
}

int
flow_record_to_json(const struct flow_record *r, struct sbuf *sb)
{
	char ts[TIMEFMT_LEN], a[ADDR_STRLEN], pb[8];

	sbuf_addc(sb, '{');
	json_add_key(sb, "schema", 1);
	json_add_string(sb, "shadowmap.flow/1");
	json_add_key(sb, "proto", 0);
	json_add_string(sb, proto_str(r->proto, pb));
	json_add_key(sb, "client", 0);
	json_add_string(sb, addr_format(&r->client, a, sizeof(a)));
	json_add_key(sb, "client_port", 0);
	json_add_u64(sb, r->client_port);
	json_add_key(sb, "server", 0);
	json_add_string(sb, addr_format(&r->server, a, sizeof(a)));
	json_add_key(sb, "server_port", 0);
	json_add_u64(sb, r->server_port);
	json_add_key(sb, "host", 0);
	json_add_string(sb, r->host);
	json_add_key(sb, "name_source", 0);
	json_add_string(sb, name_source_str(r->name_source));
	json_add_key(sb, "domain", 0);
	json_add_string(sb, r->domain);
	json_add_key(sb, "app", 0);
	json_add_string(sb, r->app);
	json_add_key(sb, "category", 0);
	json_add_string(sb, r->category);
	json_add_key(sb, "ndpi_proto", 0);
	json_add_string(sb, r->ndpi_proto);
	json_add_key(sb, "dpi_confidence", 0);
	json_add_string(sb, r->dpi_confidence);
	json_add_key(sb, "packets_up", 0);
	json_add_u64(sb, r->packets_up);
	json_add_key(sb, "packets_down", 0);
	json_add_u64(sb, r->packets_down);
	json_add_key(sb, "bytes_up", 0);
	json_add_u64(sb, r->bytes_up);
	json_add_key(sb, "bytes_down", 0);
	json_add_u64(sb, r->bytes_down);
	json_add_key(sb, "first_seen", 0);
	json_add_string(sb, time_format_rfc3339(r->first_seen, 6, ts));
	json_add_key(sb, "last_seen", 0);
	json_add_string(sb, time_format_rfc3339(r->last_seen, 6, ts));
	json_add_key(sb, "end", 0);
	json_add_string(sb, r->end == FLOW_END_IDLE ? "idle" :
			    r->end == FLOW_END_ACTIVE ? "active" : "eof");
	json_add_key(sb, "country", 0);
	json_add_string(sb, r->country);
	json_add_key(sb, "asn", 0);
	json_add_asn(sb, r->asn);
	json_add_key(sb, "as_org", 0);
	json_add_string(sb, r->as_org);
	if (r->continued) {
		json_add_key(sb, "continued", 0);
		sbuf_addstr(sb, "true");
	}
	return sbuf_addc(sb, '}');
}

/* ---- engine life ---- */

/* What the merger of a sharded run holds beyond an engine's aggregator:
 * the lock that serialises every sink call, how far each worker has
 * handed its buckets over, and the nDPI names of all workers' modules. */
struct merge_state {
	pthread_mutex_t lock;
	unsigned n_shards;
	int64_t *closed;          /* per worker: its buckets before this are merged */
	atomic_int failed;        /* a sink failed: read without the lock */
	uint16_t n_names;
	uint32_t name_keys[DPI_NAMES_MAX]; /* dpi_name_key() of each id */
	char *names[DPI_NAMES_MAX];        /* by id; 0 is "Unknown" */
};

/* The common part of every engine: settings, sinks, aggregator. */
static struct engine *
engine_alloc(const struct engine_config *cfg, const sig_db *sigs, geo *geodb,
	     const struct engine_sinks *sinks)
{
	struct engine *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->cfg = *cfg;
	if (e->cfg.detect_usec > e->cfg.bucket_usec)
		e->cfg.detect_usec = e->cfg.bucket_usec;
	e->sigs = sigs;
	e->geo = geo_enabled(geodb) ? geodb : NULL;
	e->sinks = *sinks;
	e->emitted_before = INT64_MIN;
	e->clock = INT64_MIN;
	e->rl_oom.interval = 60;
	e->rl_full.interval = 60;
	sbuf_init(&e->scratch, 1 << 20);
	hash_key_random(&e->frag_key);
	return e;
}

struct engine *
engine_new(const struct engine_config *cfg, const sig_db *sigs, geo *geodb,
	   const struct engine_sinks *sinks)
{
	struct engine *e = engine_alloc(cfg, sigs, geodb, sinks);
	if (!e)
		return NULL;
	if (quic_global_init() < 0) {
		log_error("cannot initialise libgcrypt for QUIC");
		goto fail;
	}
	e->flows = flow_table_new(cfg->max_flows);
	e->dpi = dpi_new();
	e->dns = dns_cache_new(cfg->dns_cache_size, cfg->dns_ttl_floor, cfg->dns_ttl_max);
	e->agg = agg_new();
	e->frags = calloc(FRAG_SLOTS, sizeof(*e->frags));
	e->domcache = calloc(DOMCACHE_SLOTS, sizeof(*e->domcache)); /* optional */
	if (!e->flows || !e->dpi || !e->dns || !e->agg || !e->frags) {
		log_error("cannot set up the flow engine: out of memory or nDPI failed");
		goto fail;
	}
	return e;
fail:
	engine_free(e);
	return NULL;
}

static void
detect_free(struct engine *e, struct flow_detect *d)
{
	if (!d)
		return;
	dpi_flow_free(d->dpi);
	quic_ctx_free(d->quic);
	free(d->stream);
	for (int i = 0; i < d->n_ooo; i++)
		free(d->ooo[i].data);
	free(d);
	e->detecting--;
}

static void
flow_release(struct flow *f, void *arg)
{
	struct engine *e = arg;
	detect_free(e, f->det);
	f->det = NULL;
	free(f->host);
	f->host = NULL;
}

static int merged_flow_sink(void *arg, const struct flow_record *r);

struct engine *
engine_merger_new(const struct engine_config *cfg, const sig_db *sigs, geo *geodb,
		  const struct engine_sinks *sinks, unsigned n_shards)
{
	struct engine *m = engine_alloc(cfg, sigs, geodb, sinks);
	struct merge_state *ms = NULL;

	if (!m)
		goto fail;
	ms = calloc(1, sizeof(*ms));
	if (!ms)
		goto fail;
	m->merge = ms;
	if (pthread_mutex_init(&ms->lock, NULL) != 0) {
		free(ms);
		m->merge = NULL;
		goto fail;
	}
	ms->n_shards = n_shards;
	ms->closed = calloc(n_shards, sizeof(*ms->closed));
	ms->names[0] = strdup("Unknown");
	m->agg = agg_new();
	m->domcache = calloc(DOMCACHE_SLOTS, sizeof(*m->domcache)); /* optional */
	if (!ms->closed || !ms->names[0] || !m->agg)
		goto fail;
	for (unsigned i = 0; i < n_shards; i++)
		ms->closed[i] = INT64_MIN;
	return m;
fail:
	log_error("cannot set up the flow engines: out of memory");
	engine_free(m);
	return NULL;
}

struct engine *
engine_shard_new(const struct engine_config *cfg, const sig_db *sigs, geo *geodb,
		 struct engine *merger, unsigned shard)
{
	struct engine_sinks sinks = {
		NULL, merger->sinks.flow ? merged_flow_sink : NULL, merger,
	};
	struct engine *e = engine_new(cfg, sigs, geodb, &sinks);
	if (!e)
		return NULL;
	e->merger = merger;
	e->shard = shard;
	e->merge_ids = calloc(DPI_NAMES_MAX, sizeof(*e->merge_ids));
	if (!e->merge_ids) {
		log_error("cannot set up the flow engine: out of memory");
		engine_free(e);
		return NULL;
	}
	return e;
}

void
engine_free(struct engine *e)
{
	if (!e)
		return;
	if (e->merge) {
		struct merge_state *ms = e->merge;
		for (unsigned i = 0; i <= ms->n_names; i++)
			free(ms->names[i]);
		free(ms->closed);
		pthread_mutex_destroy(&ms->lock);
		free(ms);
	}
	free(e->merge_ids);
	if (e->flows) {
		flow_table_foreach(e->flows, flow_release, e);
		flow_table_free(e->flows);
	}
	dpi_free(e->dpi);
	dns_cache_free(e->dns);
	agg_free(e->agg);
	free(e->frags);
	if (e->domcache) {
		for (size_t i = 0; i < DOMCACHE_SLOTS; i++)
			free(e->domcache[i].host);
		free(e->domcache);
	}
	sbuf_free(&e->scratch);
	free(e);
}

int
engine_failed(const struct engine *e)
{
	if (e->merge)
		return atomic_load_explicit(&e->merge->failed, memory_order_relaxed);
	return e->failed;
}

void
engine_get_stats(const struct engine *e, struct engine_stats *st)
{
	*st = e->st;
	if (e->dpi)
		st->dpi_packets = dpi_fed_packets(e->dpi);
}

void
engine_stats_add(struct engine_stats *sum, const struct engine_stats *st)
{
	/* every counter is a uint64_t */
	_Static_assert(sizeof(struct engine_stats) % sizeof(uint64_t) == 0,
		       "engine_stats holds uint64_t counters only");
	uint64_t a[sizeof(*sum) / sizeof(uint64_t)], b[sizeof(*st) / sizeof(uint64_t)];
	memcpy(a, sum, sizeof(a));
	memcpy(b, st, sizeof(b));
	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
		a[i] += b[i];
	memcpy(sum, a, sizeof(a));
}

/* ---- output ---- */

static const char *
untracked_str(uint8_t u)
{
	switch (u) {
	case AGG_UNTRACKED_TABLE_FULL: return USAGE_UNTRACKED_TABLE_FULL;
	case AGG_UNTRACKED_FRAGMENT: return USAGE_UNTRACKED_FRAGMENT;
	case AGG_UNTRACKED_MALFORMED: return USAGE_UNTRACKED_MALFORMED;
	default: return NULL;
	}
}

/* The registrable domain of host, or NULL; may return a pointer into the
 * cache (valid until the next call) or into buf. */
static const char *
registrable_cached(struct engine *e, const char *host, char *buf)
{
	if (!e->domcache)
		return domain_registrable(host, buf, DOMAIN_MAX) == 0 ? buf : NULL;
	size_t len = strlen(host);
	struct domcache_slot *s =
		&e->domcache[hash_bytes(&e->frag_key, host, len) & (DOMCACHE_SLOTS - 1)];
	if (!s->host || strcmp(s->host, host) != 0) {
		char *copy = strdup(host);
		if (!copy)
			return domain_registrable(host, buf, DOMAIN_MAX) == 0 ? buf : NULL;
		free(s->host);
		s->host = copy;
		if (domain_registrable(host, s->domain, sizeof(s->domain)) != 0)
			s->domain[0] = '\0';
	}
	return s->domain[0] ? s->domain : NULL;
}

static int
emit_usage(void *arg, const struct agg_key *k, const struct agg_counts *c)
{
	struct engine *e = arg;
	struct usage_record r;
	char domain[DOMAIN_MAX], country[3];

	memset(&r, 0, sizeof(r));
	r.bucket_start = k->bucket;
	r.bucket_seconds = e->cfg.bucket_usec / USEC_PER_SEC;
	r.has_client = k->has_client;
	r.client = k->client;
	r.host = k->host;
	if (k->host)
		r.domain = registrable_cached(e, k->host, domain);
	if (k->app >= 0) {
		const struct sig_app *app = sig_db_app(e->sigs, (size_t)k->app);
		r.app = app->slug;
		r.category = app->category;
	}
	r.untracked = untracked_str(k->untracked);
	if (k->untracked)
		r.ndpi_proto = NULL;
	else if (e->merge)
		r.ndpi_proto = e->merge->names[k->dpi_name <= e->merge->n_names ? k->dpi_name : 0];
	else
		r.ndpi_proto = dpi_name(e->dpi, k->dpi_name);
	r.flows = c->flows;
	r.packets = c->packets;
	r.bytes_up = c->bytes_up;
	r.bytes_down = c->bytes_down;
	r.first_seen = c->first;
	r.last_seen = c->last;
	r.country = geo_country_str(k->country, country);
	r.asn = k->asn;
	r.as_org = geo_org_name(e->geo, k->as_org);
	if (e->sinks.usage(e->sinks.arg, &r) < 0)
		return -1;
	e->st.records++;
	return 0;
}

static void merge_before(struct engine *e, int64_t t);
static void engine_ip(struct engine *e, enum decode_status ds, const struct pkt *p, int learn);

static void
emit_before(struct engine *e, int64_t t)
{
	if (e->failed)
		return;
	if (e->merger)
		merge_before(e, t);
	else if (agg_emit_before(e->agg, t, emit_usage, e) < 0)
		e->failed = 1;
	if (t > e->emitted_before)
		e->emitted_before = t;
}

static void
agg_put(struct engine *e, const struct agg_key *k, const struct agg_counts *c)
{
	if (agg_add(e->agg, k, c) < 0) {
		e->st.oom_drops++;
		unsigned long n;
		if (log_ratelimit_pass(&e->rl_oom, &n))
			log_warnx("out of memory: usage counters dropped (%lu more since last report)", n);
	}
}

/* ---- sharded runs: the merger ---- */

/* The merger's id of worker e's nDPI name id: the same (master, app)
 * pair is the same name in every worker's module. Under the lock. */
static uint16_t
merge_name(struct engine *e, uint16_t id)
{
	struct merge_state *ms = e->merger->merge;

	if (id == 0 || id >= DPI_NAMES_MAX)
		return 0;
	if (e->merge_ids[id])
		return e->merge_ids[id];
	uint32_t key = dpi_name_key(e->dpi, id);
	uint16_t mid = 0;
	for (uint16_t i = 1; i <= ms->n_names; i++) {
		if (ms->name_keys[i] == key) {
			mid = i;
			break;
		}
	}
	if (!mid && ms->n_names + 1 < DPI_NAMES_MAX) {
		char *name = strdup(dpi_name(e->dpi, id));
		if (!name)
			return 0;
		mid = ++ms->n_names;
		ms->names[mid] = name;
		ms->name_keys[mid] = key;
	}
	e->merge_ids[id] = mid;
	return mid;
}

/* agg_emit_before's callback in a worker: one entry into the merger's
 * aggregator. Under the lock. */
static int
merge_entry(void *arg, const struct agg_key *k, const struct agg_counts *c)
{
	struct engine *e = arg;
	struct agg_key mk = *k;

	mk.dpi_name = k->untracked ? 0 : merge_name(e, k->dpi_name);
	agg_put(e->merger, &mk, c);
	return 0;
}

/*
 * Worker e closed its buckets before t: they go into the merger, and the
 * buckets every worker has closed go to the sinks. Workers close buckets
 * at the same ticks of the common clock (shard.c), so a bucket waits only
 * for the slowest worker to reach the tick.
 */
static void
merge_before(struct engine *e, int64_t t)
{
	struct engine *m = e->merger;
	struct merge_state *ms = m->merge;

	pthread_mutex_lock(&ms->lock);
	if (!m->failed) {
		(void)agg_emit_before(e->agg, t, merge_entry, e);
		if (t > ms->closed[e->shard])
			ms->closed[e->shard] = t;
		int64_t all = INT64_MAX;
		for (unsigned i = 0; i < ms->n_shards; i++)
			if (ms->closed[i] < all)
				all = ms->closed[i];
		if (all > m->emitted_before) {
			emit_before(m, all);
			if (m->failed)
				atomic_store(&ms->failed, 1);
		}
	}
	if (m->failed)
		e->failed = 1;
	pthread_mutex_unlock(&ms->lock);
}

/* Workers' flow records: through the merger's sink, one at a time. */
static int
merged_flow_sink(void *arg, const struct flow_record *r)
{
	struct engine *m = arg;
	int rc = -1;

	pthread_mutex_lock(&m->merge->lock);
	if (!m->failed && m->sinks.flow(m->sinks.arg, r) == 0)
		rc = 0;
	if (rc < 0) {
		m->failed = 1;
		atomic_store(&m->merge->failed, 1);
	}
	pthread_mutex_unlock(&m->merge->lock);
	return rc;
}

void
engine_sinks_lock(struct engine *m)
{
	pthread_mutex_lock(&m->merge->lock);
}

void
engine_sinks_unlock(struct engine *m)
{
	pthread_mutex_unlock(&m->merge->lock);
}

void
engine_packet(struct engine *e, enum decode_status ds, const struct pkt *p)
{
	if (p->ts > e->clock)
		e->clock = p->ts;
	engine_ip(e, ds, p, 0);
}

static void
flow_flush_slot(struct engine *e, struct flow *f, struct flow_bucket *s)
{
	struct agg_key k;
	struct agg_counts c;

	if (s->bucket == FLOW_NO_BUCKET)
		return;
	memset(&k, 0, sizeof(k));
	k.bucket = s->bucket;
	k.client = f->client_is_lo ? f->key.lo : f->key.hi;
	k.has_client = 1;
	k.host = f->host;
	k.app = f->app;
	k.dpi_name = f->dpi_name;
	k.country = f->geo_country;
	k.asn = f->geo_asn;
	k.as_org = f->geo_org;
	memset(&c, 0, sizeof(c));
	c.flows = s->started;
	c.packets = s->packets;
	c.bytes_up = s->bytes_up;
	c.bytes_down = s->bytes_down;
	c.first = s->first;
	c.last = s->last;
	agg_put(e, &k, &c);
	memset(s, 0, sizeof(*s));
	s->bucket = FLOW_NO_BUCKET;
}

static void
flow_emit_record(struct engine *e, struct flow *f, enum flow_end_reason why)
{
	struct flow_record r;
	char domain[DOMAIN_MAX], country[3];

	if (!e->sinks.flow || e->failed)
		return;
	memset(&r, 0, sizeof(r));
	r.proto = f->key.proto;
	if (f->client_is_lo) {
		r.client = f->key.lo;
		r.client_port = f->key.port_lo;
		r.server = f->key.hi;
		r.server_port = f->key.port_hi;
	} else {
		r.client = f->key.hi;
		r.client_port = f->key.port_hi;
		r.server = f->key.lo;
		r.server_port = f->key.port_lo;
	}
	r.host = f->host;
	if (f->host && domain_registrable(f->host, domain, sizeof(domain)) == 0)
		r.domain = domain;
	if (f->app >= 0) {
		const struct sig_app *app = sig_db_app(e->sigs, (size_t)f->app);
		r.app = app->slug;
		r.category = app->category;
	}
	r.ndpi_proto = dpi_name(e->dpi, f->dpi_name);
	r.dpi_confidence = confidence_str(f->dpi_confidence);
	r.name_source = f->name_source;
	r.packets_up = f->packets_up;
	r.packets_down = f->packets_down;
	r.bytes_up = f->bytes_up;
	r.bytes_down = f->bytes_down;
	r.first_seen = f->first_seen;
	r.last_seen = f->last_seen;
	r.end = why;
	r.continued = (f->flags & FLOW_F_CONTINUED) != 0;
	r.country = geo_country_str(f->geo_country, country);
	r.asn = f->geo_asn;
	r.as_org = geo_org_name(e->geo, f->geo_org);
	if (e->sinks.flow(e->sinks.arg, &r) < 0)
		e->failed = 1;
}

/* ---- classification ---- */

/* Which app a classified flow belongs to (see docs/agent.md, "Which
 * wins"): a name the signatures know; else nDPI's verdict from the
 * payload; else the signatures' address ranges; else, for flows without
 * a name only, nDPI's guess from the server's address. */
static int32_t
choose_app(struct engine *e, const struct flow *f, const char *host,
	   const struct dpi_verdict *v)
{
	const struct sig_app *app = NULL;
	const struct sm_addr *server = f->client_is_lo ? &f->key.hi : &f->key.lo;

	if (host)
		app = sig_match_name(e->sigs, host, NULL);
	if (!app && v && !v->is_dns_like &&
	    (v->confidence == DPI_CONF_PAYLOAD || v->confidence == DPI_CONF_CACHE ||
	     v->confidence == DPI_CONF_NAME)) {
		if (v->app_name)
			app = sig_match_ndpi(e->sigs, v->app_name);
		if (!app && v->master_name)
			app = sig_match_ndpi(e->sigs, v->master_name);
	}
	if (!app)
		app = sig_match_addr(e->sigs, server);
	if (!app && !host && v && !v->is_dns_like && v->confidence == DPI_CONF_IP) {
		if (v->app_name)
			app = sig_match_ndpi(e->sigs, v->app_name);
	}
	return app ? (int32_t)app->index : -1;
}

static void
set_host(struct engine *e, struct flow *f, const char *name, enum name_source src)
{
	free(f->host);
	f->host = NULL;
	f->name_source = NAME_SRC_NONE;
	if (!name || !*name)
		return;
	f->host = strdup(name);
	if (!f->host) {
		e->st.oom_drops++;
		return;
	}
	f->name_source = (uint8_t)src;
	switch (src) {
	case NAME_SRC_SNI: e->st.named_sni++; break;
	case NAME_SRC_QUIC: e->st.named_quic++; break;
	case NAME_SRC_HTTP: e->st.named_http++; break;
	case NAME_SRC_DNS: e->st.named_dns++; break;
	case NAME_SRC_CERT: e->st.named_cert++; break;
	default: break;
	}
}

/* Classification is over: fix name, app and protocol, free the state. */
static void
detect_end(struct engine *e, struct flow *f)
{
	struct flow_detect *d = f->det;
	struct dpi_verdict v;
	struct dpi_verdict *vp = NULL;
	const char *name = NULL;
	enum name_source src = NAME_SRC_NONE;

	if (!d)
		return;
	if (d->name[0]) {
		name = d->name;
		src = d->name_source;
	} else if (d->dns_name[0]) {
		name = d->dns_name;
		src = NAME_SRC_DNS;
	}
	if (d->dpi) {
		static const uint8_t kinds[] = {
			[NAME_SRC_NONE] = DPI_NAME_NONE, [NAME_SRC_SNI] = DPI_NAME_TLS,
			[NAME_SRC_QUIC] = DPI_NAME_QUIC, [NAME_SRC_HTTP] = DPI_NAME_HTTP,
			[NAME_SRC_DNS] = DPI_NAME_OTHER, [NAME_SRC_CERT] = DPI_NAME_NONE,
		};
		dpi_finish(e->dpi, d->dpi, name, (enum dpi_name_kind)kinds[src], &v);
		vp = &v;
		f->dpi_name = v.name_id;
		f->dpi_confidence = v.confidence;
	}
	if (!name && d->dpi && dpi_cert_name(d->dpi)) {
		name = dpi_cert_name(d->dpi);
		src = NAME_SRC_CERT;
	}
	set_host(e, f, name, src);
	f->app = choose_app(e, f, f->host, vp);
	f->det = NULL;
	detect_free(e, d);
}

/* ---- TCP client stream: in order, for the TLS and HTTP parsers ---- */

static void
naming_try(struct flow_detect *d, const uint8_t *data, size_t len, int final)
{
	enum name_result r = tls_sni_from_stream(data, len, d->name, sizeof(d->name));
	if (r == NAME_FOUND) {
		d->name_source = NAME_SRC_SNI;
		d->naming_done = 1;
		return;
	}
	if (r == NAME_NOT_THIS) {
		r = http_host_from_stream(data, len, d->name, sizeof(d->name));
		if (r == NAME_FOUND) {
			d->name_source = NAME_SRC_HTTP;
			d->naming_done = 1;
			return;
		}
	}
	if (r != NAME_FOUND)
		d->name[0] = '\0';
	if (r == NAME_ABSENT || r == NAME_NOT_THIS || final)
		d->naming_done = 1;
}

static int
stream_append(struct flow_detect *d, const uint8_t *data, uint32_t len)
{
	if (d->stream_len + len > STREAM_MAX)
		len = STREAM_MAX - d->stream_len;
	if (d->stream_len + len > d->stream_cap) {
		uint32_t cap = d->stream_cap ? d->stream_cap : 2048;
		while (cap < d->stream_len + len)
			cap *= 2;
		if (cap > STREAM_MAX)
			cap = STREAM_MAX;
		uint8_t *p = realloc(d->stream, cap);
		if (!p)
			return -1;
		d->stream = p;
		d->stream_cap = cap;
	}
	memcpy(d->stream + d->stream_len, data, len);
	d->stream_len += len;
	return 0;
}

static void
tcp_client_payload(struct engine *e, struct flow_detect *d, const struct pkt *p)
{
	const uint8_t *data = p->payload;
	uint32_t len = p->payload_caplen;
	uint32_t seq = p->tcp_seq;
	int truncated = p->payload_caplen < p->payload_len;

	if (!d->seq_known) {
		d->next_seq = seq;
		d->seq_known = 1;
	}
	int32_t delta = (int32_t)(seq - d->next_seq);
	if (delta > 0) {
		/* a gap: hold the segment until what precedes it arrives */
		if (d->n_ooo < OOO_MAX && !truncated && len <= STREAM_MAX) {
			uint8_t *copy = malloc(len);
			if (copy) {
				memcpy(copy, data, len);
				d->ooo[d->n_ooo++] = (struct ooo_seg){ seq, len, copy };
				return;
			}
		}
		d->naming_done = 1;
		return;
	}
	if (delta < 0) {
		/* retransmission or overlap: keep only what is new */
		uint32_t skip = (uint32_t)(-delta);
		if (skip >= len)
			return;
		data += skip;
		len -= skip;
	}
	/* The common case: the whole ClientHello or request in one segment,
	 * parsed where it lies without a copy. */
	if (d->stream_len == 0 && d->n_ooo == 0) {
		naming_try(d, data, len, truncated);
		d->next_seq += len;
		if (d->naming_done)
			return;
	} else {
		d->next_seq += len;
	}
	if (stream_append(d, data, len) < 0) {
		e->st.oom_drops++;
		d->naming_done = 1;
		return;
	}
	/* splice held segments that now follow on */
	for (int progress = 1; progress && d->n_ooo;) {
		progress = 0;
		for (int i = 0; i < d->n_ooo; i++) {
			struct ooo_seg *s = &d->ooo[i];
			int32_t off = (int32_t)(s->seq - d->next_seq);
			if (off > 0)
				continue;
			uint32_t skip = (uint32_t)(-off);
			if (skip < s->len) {
				if (stream_append(d, s->data + skip, s->len - skip) < 0)
					d->naming_done = 1;
				d->next_seq += s->len - skip;
			}
			free(s->data);
			d->ooo[i] = d->ooo[--d->n_ooo];
			progress = 1;
			break;
		}
	}
	if (d->naming_done)
		return;
	naming_try(d, d->stream, d->stream_len, truncated || d->stream_len >= STREAM_MAX);
}

static void
udp_client_payload(struct flow_detect *d, const struct pkt *p)
{
	if (p->payload_caplen < p->payload_len) {
		/* a cut datagram cannot be decrypted */
		d->naming_done = 1;
		return;
	}
	if (!d->quic) {
		if (d->quic_datagrams > 0 || !quic_is_initial(p->payload, p->payload_caplen)) {
			d->naming_done = 1;
			return;
		}
		d->quic = quic_ctx_new();
		if (!d->quic) {
			d->naming_done = 1;
			return;
		}
	}
	d->quic_datagrams++;
	enum name_result r = quic_client_datagram(d->quic, p->payload, p->payload_caplen,
						  d->name, sizeof(d->name));
	if (r == NAME_FOUND) {
		d->name_source = NAME_SRC_QUIC;
		d->naming_done = 1;
	} else {
		d->name[0] = '\0';
		if (r != NAME_NEED_MORE || d->quic_datagrams >= QUIC_DATAGRAMS_MAX)
			d->naming_done = 1;
	}
	if (d->naming_done) {
		quic_ctx_free(d->quic);
		d->quic = NULL;
	}
}

/* One packet of a flow in classification. */
static void
detect_packet(struct engine *e, struct flow *f, const struct pkt *p, int up)
{
	struct flow_detect *d = f->det;

	d->packets++;
	if (!d->naming_done && up && p->payload_len > 0 && p->payload) {
		if (p->l4_proto == IPPROTO_TCP)
			tcp_client_payload(e, d, p);
		else if (p->l4_proto == IPPROTO_UDP)
			udp_client_payload(d, p);
		else
			d->naming_done = 1;
		/* A name the signatures know fixes the app whatever nDPI
		 * would say of this payload (docs/agent.md, "Which wins"),
		 * and one nDPI's host rules know gets nDPI's verdict without
		 * the dissection: nDPI is not shown the payload. */
		if (d->naming_done && d->dpi && !d->dpi_done && d->name[0] &&
		    d->name_source <= NAME_SRC_HTTP) {
			static const uint8_t kinds[] = {
				[NAME_SRC_SNI] = DPI_NAME_TLS, [NAME_SRC_QUIC] = DPI_NAME_QUIC,
				[NAME_SRC_HTTP] = DPI_NAME_HTTP,
			};
			if (dpi_verdict_by_name(e->dpi, d->dpi, d->name,
						(enum dpi_name_kind)kinds[d->name_source],
						sig_match_name(e->sigs, d->name, NULL) != NULL))
				d->dpi_done = 1;
		}
	}
	if (d->dpi && !d->dpi_done && p->frag != PKT_FRAG_LATER) {
		if (dpi_packet(e->dpi, d->dpi, p->l3, p->l3_caplen, p->ts,
			       p->l4_proto == IPPROTO_TCP && p->payload_len == 0)) {
			/* A TLS flow without a name of its own may still be named
			 * by its certificate, and one nDPI has not tied to an
			 * application yet may be by the certificate's names: let
			 * nDPI read on while it can. */
			int want_cert = (!(d->name[0] || d->dns_name[0]) ||
					 !dpi_has_app(d->dpi)) &&
					dpi_wants_more(e->dpi, d->dpi);
			if (!want_cert)
				d->dpi_done = 1;
		}
	}
	if ((d->naming_done && (d->dpi_done || !d->dpi)) ||
	    d->packets >= e->cfg.dpi_max_packets ||
	    p->ts - f->first_seen >= e->cfg.detect_usec)
		detect_end(e, f);
}

/* ---- flows ---- */

static int
port_is_service(uint16_t port)
{
	if (port == 0)
		return 0;
	if (port < 1024)
		return 1;
	switch (port) {
	case 1194: case 1433: case 1521: case 1701: case 1723: case 1883: case 3128:
	case 3306: case 3389: case 3478: case 3479: case 4443: case 4500: case 5060:
	case 5061: case 5222: case 5223: case 5228: case 5349: case 5353: case 5355:
	case 5432: case 5938: case 6379: case 8000: case 8008: case 8009: case 8080:
	case 8081: case 8443: case 8801: case 8802: case 8883: case 9000: case 9443:
	case 19302: case 19303: case 19304: case 19305: case 19306: case 19307:
	case 19308: case 19309: case 51820:
		return 1;
	default:
		return 0;
	}
}

int
engine_client_by_ports(uint16_t sport, uint16_t dport)
{
	int s = port_is_service(sport), d = port_is_service(dport);
	if (s != d)
		return d;
	if (!s) {
		/* neither is a known service: the ephemeral side is the client */
		if (sport >= 32768 && dport < 32768)
			return 1;
		if (dport >= 32768 && sport < 32768)
			return 0;
	}
	return -1;
}

int
engine_first_sender_is_client(const struct pkt *p)
{
	if (p->l4_proto == IPPROTO_TCP && p->has_ports && (p->tcp_flags & TCP_SYN))
		return !(p->tcp_flags & TCP_ACK);
	if (p->l4_proto == IPPROTO_ICMP) {
		/* echo requests come from the client; replies and errors
		 * (unreachable, time exceeded, ...) go back to it */
		switch (p->icmp_type) {
		case 0: case 3: case 4: case 5: case 11: case 12: case 14:
			return 0;
		default:
			return 1;
		}
	}
	if (p->l4_proto == IPPROTO_ICMPV6) {
		/* types below 128 are errors; 129 is an echo reply */
		return !(p->icmp_type < 128 || p->icmp_type == 129);
	}
	int r = engine_client_by_ports(p->sport, p->dport);
	return r < 0 ? 1 : r;
}

static enum flow_tclass
tclass_of(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP: return FLOW_TC_TCP;
	case IPPROTO_UDP: case IPPROTO_UDPLITE: case IPPROTO_SCTP: return FLOW_TC_UDP;
	default: return FLOW_TC_OTHER;
	}
}

static void
flow_end(struct engine *e, struct flow *f, enum flow_end_reason why)
{
	if (f->det)
		detect_end(e, f);
	for (int i = 0; i < FLOW_PENDING; i++)
		flow_flush_slot(e, f, &f->pend[i]);
	flow_emit_record(e, f, why);
	free(f->host);
	f->host = NULL;
	flow_table_remove(e->flows, f);
}

/* Where the flow's server is: once per flow, when it is created. */
static void
flow_geo(struct engine *e, struct flow *f)
{
	struct geo_info gi;

	if (!e->geo)
		return;
	geo_lookup(e->geo, f->client_is_lo ? &f->key.hi : &f->key.lo, &gi);
	f->geo_country = gi.country;
	f->geo_asn = gi.asn;
	f->geo_org = gi.as_org;
}

static void
flow_start_detect(struct engine *e, struct flow *f)
{
	const struct sm_addr *client = f->client_is_lo ? &f->key.lo : &f->key.hi;
	const struct sm_addr *server = f->client_is_lo ? &f->key.hi : &f->key.lo;
	const char *dns = dns_cache_lookup(e->dns, client, server, f->first_seen);

	if (e->detecting >= e->cfg.max_detecting) {
		/* Too many flows in classification at once (a scan, a flood):
		 * name what we can without payload, and count it. */
		e->st.detect_skipped++;
		set_host(e, f, dns, NAME_SRC_DNS);
		f->app = choose_app(e, f, f->host, NULL);
		return;
	}
	struct flow_detect *d = calloc(1, sizeof(*d));
	if (!d) {
		e->st.oom_drops++;
		return;
	}
	e->detecting++;
	d->dpi = dpi_flow_new(e->dpi);
	if (dns)
		snprintf(d->dns_name, sizeof(d->dns_name), "%s", dns);
	uint8_t proto = f->key.proto;
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		d->naming_done = 1;
	f->det = d;
}

static struct flow_bucket *
flow_slot(struct engine *e, struct flow *f, int64_t bucket)
{
	struct flow_bucket *free_slot = NULL;

	for (int i = 0; i < FLOW_PENDING; i++) {
		if (f->pend[i].bucket == bucket)
			return &f->pend[i];
		if (f->pend[i].bucket == FLOW_NO_BUCKET && !free_slot)
			free_slot = &f->pend[i];
	}
	if (f->det && !free_slot) {
		/* a third bucket while still classifying: decide now */
		detect_end(e, f);
	}
	if (!f->det) {
		/* classified: earlier buckets can go to the aggregator */
		for (int i = 0; i < FLOW_PENDING; i++)
			flow_flush_slot(e, f, &f->pend[i]);
		free_slot = &f->pend[0];
	}
	free_slot->bucket = bucket;
	free_slot->first = INT64_MAX;
	free_slot->last = INT64_MIN;
	return free_slot;
}

static void
flow_count(struct engine *e, struct flow *f, int64_t ts, int up, uint32_t bytes)
{
	struct flow_bucket *s = flow_slot(e, f, time_bucket_start(ts, e->cfg.bucket_usec));
	s->packets++;
	if (up) {
		s->bytes_up += bytes;
		f->packets_up++;
		f->bytes_up += bytes;
	} else {
		s->bytes_down += bytes;
		f->packets_down++;
		f->bytes_down += bytes;
	}
	if (ts < s->first)
		s->first = ts;
	if (ts > s->last)
		s->last = ts;
	if (ts > f->last_seen)
		f->last_seen = ts;
}

/* Packets counted in no flow: by client where known, and by where the
 * server is where its address is known (looked up per packet: this is
 * the rare path of a full flow table). */
static void
untracked(struct engine *e, enum agg_untracked why, const struct sm_addr *client,
	  const struct sm_addr *server, int64_t ts, int up, uint32_t bytes)
{
	struct agg_key k;
	struct agg_counts c;

	memset(&k, 0, sizeof(k));
	k.bucket = time_bucket_start(ts, e->cfg.bucket_usec);
	if (client) {
		k.client = *client;
		k.has_client = 1;
	}
	if (server && e->geo) {
		struct geo_info gi;
		geo_lookup(e->geo, server, &gi);
		k.country = gi.country;
		k.asn = gi.asn;
		k.as_org = gi.as_org;
	}
	k.untracked = (uint8_t)why;
	k.app = -1;
	memset(&c, 0, sizeof(c));
	c.packets = 1;
	if (up)
		c.bytes_up = bytes;
	else
		c.bytes_down = bytes;
	c.first = c.last = ts;
	agg_put(e, &k, &c);
}

uint64_t
engine_frag_hash(const struct hash_key *key, const struct pkt *p)
{
	struct {
		struct sm_addr src, dst;
		uint32_t id;
		uint32_t proto;
	} k;
	memset(&k, 0, sizeof(k)); /* the padding is hashed too */
	k.src = p->src;
	k.dst = p->dst;
	k.id = p->frag_id;
	k.proto = p->l4_proto;
	return hash_bytes(key, &k, sizeof(k));
}

static struct frag_entry *
frag_slot(struct engine *e, const struct pkt *p)
{
	return &e->frags[engine_frag_hash(&e->frag_key, p) & (FRAG_SLOTS - 1)];
}

static int
frag_match(const struct frag_entry *fe, const struct pkt *p)
{
	return fe->flow_id && fe->id == p->frag_id && fe->proto == p->l4_proto &&
	       addr_cmp(&fe->src, &p->src) == 0 && addr_cmp(&fe->dst, &p->dst) == 0 &&
	       p->ts <= fe->expires;
}

int
engine_dns_answer(const struct pkt *p, struct dns_answer *ans)
{
	const uint8_t *msg = p->payload;
	size_t len = p->payload_caplen;

	if (!(p->has_ports && p->sport == 53 && p->payload_caplen > 0 &&
	      p->frag != PKT_FRAG_LATER))
		return -1;
	if (p->l4_proto == IPPROTO_TCP) {
		/* the first message of the segment, if it is whole */
		if (len < 2)
			return -1;
		size_t mlen = (size_t)msg[0] << 8 | msg[1];
		if (mlen + 2 > len)
			return -1;
		msg += 2;
		len = mlen;
	}
	return dns_parse_response(msg, len, ans) == 0 && ans->n_addrs > 0 ? 0 : -1;
}

static void
learn_dns(struct engine *e, const struct pkt *p)
{
	struct dns_answer ans;

	if (engine_dns_answer(p, &ans) == 0) {
		dns_cache_add_answer(e->dns, &p->dst, &ans, p->ts);
		e->st.dns_answers++;
	}
}

void
engine_learn(struct engine *e, const struct sm_addr *client, const struct dns_answer *ans,
	     int64_t ts)
{
	dns_cache_add_answer(e->dns, client, ans, ts);
}

static void
sweep_flow(struct flow *f, void *arg)
{
	struct engine *e = arg;
	int64_t cur = time_bucket_start(e->clock, e->cfg.bucket_usec);

	for (int i = 0; i < FLOW_PENDING; i++) {
		if (f->pend[i].bucket != FLOW_NO_BUCKET && f->pend[i].bucket < cur) {
			if (f->det)
				detect_end(e, f);
			flow_flush_slot(e, f, &f->pend[i]);
		}
	}
}

void
engine_tick(struct engine *e, int64_t now)
{
	if (now > e->clock)
		e->clock = now;
	now = e->clock;
	e->next_tick = now + TICK_USEC;

	for (int tc = 0; tc < FLOW_TC_COUNT; tc++) {
		struct flow *f;
		while ((f = flow_table_oldest(e->flows, (enum flow_tclass)tc)) &&
		       f->last_seen + e->cfg.idle_usec[tc] <= now)
			flow_end(e, f, FLOW_END_IDLE);
	}
	/* Close the buckets before the current one once classification of
	 * every flow that counted in them is over. */
	int64_t cur = time_bucket_start(now, e->cfg.bucket_usec);
	if (cur > e->emitted_before && now >= cur + e->cfg.detect_usec) {
		flow_table_foreach(e->flows, sweep_flow, e);
		emit_before(e, cur);
	}
}

/* An IP packet, decoded, at a time the clock has seen (the frame's, or the
 * oldest open bucket's when it came late). learn: read DNS answers in it;
 * 0 when the capture thread of a sharded run reads them (engine_learn). */
static void
engine_ip(struct engine *e, enum decode_status ds, const struct pkt *p, int learn)
{
	int64_t ts = p->ts;
	int up;

	if (ds == DECODE_MALFORMED) {
		e->st.malformed++;
		if (p->ip_len == 0) {
			e->st.malformed_no_len++;
			return;
		}
		e->st.ip_packets++;
		e->st.ip_bytes += p->ip_len;
		untracked(e, AGG_UNTRACKED_MALFORMED, NULL, NULL, ts, 1, p->ip_len);
		return;
	}
	e->st.ip_packets++;
	e->st.ip_bytes += p->ip_len;

	if (p->frag == PKT_FRAG_LATER) {
		struct frag_entry *fe = frag_slot(e, p);
		struct flow *f = frag_match(fe, p) ? flow_table_get(e->flows, fe->flow_id,
								     fe->flow_gen) : NULL;
		if (!f) {
			e->st.fragments_orphan++;
			untracked(e, AGG_UNTRACKED_FRAGMENT, NULL, NULL, ts, 1, p->ip_len);
			return;
		}
		flow_count(e, f, ts, fe->up, p->ip_len);
		flow_table_touch(e->flows, f, f->tclass);
		return;
	}

	/* SYN and ICMP direction rules need the first packet's view */
	int src_is_lo;
	struct flow_key key;
	flow_key_make(&key, &p->src, p->sport, &p->dst, p->dport, p->l4_proto, &src_is_lo);
	uint64_t h = flow_table_hash(e->flows, &key);
	struct flow *f = flow_table_lookup(e->flows, &key, h);

	if (f && ts - f->start >= e->cfg.active_usec) {
		/* Active timeout: report the flow and go on with a new one that
		 * inherits what classification found. */
		char *host = f->host ? strdup(f->host) : NULL;
		int32_t app = f->app;
		uint16_t dn = f->dpi_name;
		uint8_t conf = f->dpi_confidence, src = f->name_source, cil = f->client_is_lo;
		uint8_t tc = f->tclass, flags = f->flags;
		uint16_t country = f->geo_country;
		uint32_t asn = f->geo_asn, org = f->geo_org;
		int had_det = f->det != NULL;
		flow_end(e, f, FLOW_END_ACTIVE);
		e->st.flows_active_split++;
		f = flow_table_insert(e->flows, &key, h, (enum flow_tclass)tc);
		if (!f) {
			free(host);
		} else {
			f->host = host;
			f->app = app;
			f->dpi_name = dn;
			f->dpi_confidence = conf;
			f->name_source = src;
			f->client_is_lo = cil;
			f->flags = (uint8_t)(flags | FLOW_F_CONTINUED);
			/* the same server: no need to look it up again */
			f->geo_country = country;
			f->geo_asn = asn;
			f->geo_org = org;
			f->first_seen = f->last_seen = f->start = ts;
			e->st.flows++;
			(void)had_det;
			struct flow_bucket *s = flow_slot(e, f, time_bucket_start(ts, e->cfg.bucket_usec));
			s->started = 1;
		}
	} else if (!f) {
		enum flow_tclass tc = tclass_of(p->l4_proto);
		f = flow_table_insert(e->flows, &key, h, tc);
		if (!f) {
			/* Full: expire what is due now and try once more. */
			engine_tick(e, e->clock);
			f = flow_table_insert(e->flows, &key, h, tc);
		}
		if (f) {
			int sender_client = engine_first_sender_is_client(p);
			f->client_is_lo = (uint8_t)(sender_client ? src_is_lo : !src_is_lo);
			f->first_seen = f->last_seen = f->start = ts;
			if (p->l4_proto == IPPROTO_TCP && (p->tcp_flags & TCP_SYN))
				f->flags |= FLOW_F_SYN_SEEN;
			e->st.flows++;
			struct flow_bucket *s = flow_slot(e, f, time_bucket_start(ts, e->cfg.bucket_usec));
			s->started = 1;
			flow_geo(e, f);
			flow_start_detect(e, f);
		}
	}
	if (!f) {
		/* No room: the packet is counted for its client, untracked. */
		int sc = engine_client_by_ports(p->sport, p->dport);
		int src_client = sc < 0 ? 1 : sc;
		e->st.table_full_packets++;
		unsigned long n;
		if (log_ratelimit_pass(&e->rl_full, &n))
			log_warnx("flow table full (%u flows): new flows are counted untracked "
				  "(%lu more packets since last report); raise max-flows",
				  flow_table_capacity(e->flows), n);
		untracked(e, AGG_UNTRACKED_TABLE_FULL, src_client ? &p->src : &p->dst,
			  src_client ? &p->dst : &p->src, ts, src_client, p->ip_len);
		return;
	}

	up = (src_is_lo == f->client_is_lo);
	flow_count(e, f, ts, up, p->ip_len);

	if (p->frag == PKT_FRAG_FIRST) {
		struct frag_entry *fe = frag_slot(e, p);
		fe->src = p->src;
		fe->dst = p->dst;
		fe->id = p->frag_id;
		fe->proto = p->l4_proto;
		fe->up = (uint8_t)up;
		fe->flow_id = f->id;
		fe->flow_gen = f->generation;
		fe->expires = ts + FRAG_LIFETIME;
	}

	enum flow_tclass tc = f->tclass;
	if (p->l4_proto == IPPROTO_TCP) {
		if (p->tcp_flags & TCP_RST)
			f->flags |= FLOW_F_RST;
		if (p->tcp_flags & TCP_FIN)
			f->flags |= src_is_lo ? FLOW_F_FIN_LO : FLOW_F_FIN_HI;
		if ((f->flags & FLOW_F_RST) ||
		    (f->flags & (FLOW_F_FIN_LO | FLOW_F_FIN_HI)) == (FLOW_F_FIN_LO | FLOW_F_FIN_HI))
			tc = FLOW_TC_TCP_CLOSED;
	}
	flow_table_touch(e->flows, f, tc);

	if (learn && p->has_ports && p->sport == 53 && p->payload_caplen > 0)
		learn_dns(e, p);
	if (f->det)
		detect_packet(e, f, p, up);
}

void
engine_frame(struct engine *e, int dlt, int64_t ts, const uint8_t *frame, uint32_t caplen,
	     uint32_t wirelen)
{
	struct pkt p;

	e->st.frames++;
	/* A time stamp behind a bucket already emitted (merged captures, a
	 * clock step) is counted in the oldest open bucket. */
	if (ts < e->emitted_before) {
		e->st.late_packets++;
		ts = e->emitted_before;
	}
	if (ts > e->clock)
		e->clock = ts;
	if (e->clock >= e->next_tick)
		engine_tick(e, e->clock);

	p.ts = ts;
	enum decode_status ds = decode_frame(dlt, frame, caplen, wirelen, &p);
	if (ds == DECODE_NOT_IP) {
		e->st.non_ip++;
		return;
	}
	engine_ip(e, ds, &p, 1);
}

int
engine_finish(struct engine *e)
{
	struct flow *f;
	for (int tc = 0; tc < FLOW_TC_COUNT; tc++)
		while ((f = flow_table_oldest(e->flows, (enum flow_tclass)tc)))
			flow_end(e, f, FLOW_END_EOF);
	emit_before(e, INT64_MAX);
	return e->failed ? -1 : 0;
}
