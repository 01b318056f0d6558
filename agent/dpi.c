/*
 * nDPI 4.2 behind a small interface (dpi.h). Only this file includes nDPI
 * headers and reaches into struct ndpi_flow_struct.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <ndpi_api.h>

#include "shadowmap/domain.h"
#include "shadowmap/log.h"

#include "dpi.h"

#define NAME_SLOTS DPI_NAMES_MAX /* (master, app) pairs we can intern; nDPI has ~300 protocols */

struct dpi {
	struct ndpi_detection_module_struct *mod;
	/* interned "master.app" names: open addressing on the pair */
	uint32_t keys[NAME_SLOTS];   /* (master << 16 | app) + 1, 0 = empty */
	uint16_t ids[NAME_SLOTS];
	char *names[NAME_SLOTS];     /* by id */
	uint32_t key_of[NAME_SLOTS]; /* by id */
	uint16_t n_names;
	uint64_t fed_packets;        /* given to nDPI (held ones once flushed) */
};

/* Modules are made and unmade one at a time: nDPI 4.2 documents no
 * thread-safety for its set-up (ndpiReader sets up its threads' modules
 * one after another too). Each module is then used by one thread only. */
static pthread_mutex_t dpi_setup_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * nDPI builds a module's address trees and automata out of some hundred
 * thousand small blocks and frees them one by one when the module goes:
 * on the bench, the allocator took about half of each module's set-up
 * and most of its tear-down. While this thread builds a module, nDPI's
 * allocations come from a bump arena instead, freeing a block of it does
 * nothing, and the arena goes back when the last module has gone. Every
 * other allocation of nDPI (per flow, in the workers) is malloc's.
 * The arena grows only under dpi_setup_lock; the chunk list is read by
 * every free, so a chunk is published (release) after it is written.
 */
#define ARENA_CHUNK ((size_t)8 << 20)
#define ARENA_CHUNKS_MAX 64
#define ARENA_BIG (ARENA_CHUNK / 8) /* larger blocks go to malloc */
static struct {
	char *chunk[ARENA_CHUNKS_MAX];
	atomic_uint n_chunks;
	size_t used;      /* of the last chunk */
	unsigned modules; /* alive: they may hold arena blocks */
} arena;
static _Thread_local int arena_building; /* this thread is in module_new */
static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;

static int
arena_owns(const void *p)
{
	unsigned n = atomic_load_explicit(&arena.n_chunks, memory_order_acquire);
	for (unsigned i = 0; i < n; i++)
		if ((const char *)p >= arena.chunk[i] && (const char *)p < arena.chunk[i] + ARENA_CHUNK)
			return 1;
	return 0;
}

/* Under dpi_setup_lock. NULL: use malloc. */
static void *
arena_alloc(size_t size)
{
	size = (size + 15) & ~(size_t)15; /* malloc's alignment */
	if (size == 0 || size > ARENA_BIG)
		return NULL;
	unsigned n = atomic_load_explicit(&arena.n_chunks, memory_order_relaxed);
	if (n == 0 || arena.used + size > ARENA_CHUNK) {
		if (n == ARENA_CHUNKS_MAX)
			return NULL;
		char *c = aligned_alloc(64, ARENA_CHUNK);
		if (!c)
			return NULL;
		arena.chunk[n] = c;
		atomic_store_explicit(&arena.n_chunks, n + 1, memory_order_release);
		arena.used = 0;
		n++;
	}
	void *p = arena.chunk[n - 1] + arena.used;
	arena.used += size;
	return p;
}

/* Under dpi_setup_lock, when no module is left. */
static void
arena_release(void)
{
	unsigned n = atomic_load_explicit(&arena.n_chunks, memory_order_relaxed);
	atomic_store_explicit(&arena.n_chunks, 0, memory_order_release);
	for (unsigned i = 0; i < n; i++)
		free(arena.chunk[i]);
	arena.used = 0;
}

static void *
ndpi_alloc_hook(size_t size)
{
	if (arena_building) {
		void *p = arena_alloc(size);
		if (p)
			return p;
	}
	return malloc(size);
}

static void
ndpi_free_hook(void *p)
{
	if (p && !arena_owns(p))
		free(p);
}

static void
hooks_install(void)
{
	set_ndpi_malloc(ndpi_alloc_hook);
	set_ndpi_free(ndpi_free_hook);
}

/*
 * A TCP flow's payload-less packets before nDPI has seen any of it (the
 * handshake) wait here instead of going to nDPI at once. Most flows are
 * then named by their ClientHello or Host header, and nDPI's verdict
 * follows from the name (dpi_verdict_by_name): nDPI never needs them, and
 * on the bench they were a fifth of the packets it was given. When nDPI
 * is needed after all, it gets them first, in order and with their own
 * times, as if they had come straight through.
 */
#define HELD_MAX 4
#define HELD_BYTES 128 /* IPv6 and a TCP header with options fit */

struct held_packet {
	int64_t ts_usec;
	uint32_t len;
	uint8_t bytes[HELD_BYTES];
};

struct dpi_flow {
	struct ndpi_flow_struct *nf;
	ndpi_protocol proto;
	int detected;
	int by_name;    /* verdict from the agent's own name: nDPI saw no payload */
	int cert_taken;
	uint8_t fed;    /* nDPI has seen a packet of the flow */
	uint8_t n_held;
	struct held_packet *held; /* HELD_MAX of them, allocated on first use */
	char cert_name[DOMAIN_MAX];
};

static uint16_t
dpi_intern(struct dpi *d, ndpi_protocol p)
{
	uint32_t key = ((uint32_t)p.master_protocol << 16 | p.app_protocol) + 1;
	uint32_t h = (key * 2654435761u) & (NAME_SLOTS - 1);

	for (uint32_t i = 0; i < NAME_SLOTS; i++) {
		uint32_t s = (h + i) & (NAME_SLOTS - 1);
		if (d->keys[s] == key)
			return d->ids[s];
		if (d->keys[s] == 0) {
			if (d->n_names + 1 >= NAME_SLOTS)
				return 0;
			char buf[64];
			ndpi_protocol2name(d->mod, p, buf, sizeof(buf));
			char *name = strdup(buf);
			if (!name)
				return 0;
			uint16_t id = ++d->n_names;
			d->names[id] = name;
			d->key_of[id] = key;
			d->keys[s] = key;
			d->ids[s] = id;
			return id;
		}
	}
	return 0;
}

static struct ndpi_detection_module_struct *
module_new(void)
{
	pthread_once(&hooks_once, hooks_install);
	pthread_mutex_lock(&dpi_setup_lock);
	arena_building = 1;
	struct ndpi_detection_module_struct *m = ndpi_init_detection_module(ndpi_no_prefs);
	if (m) {
		NDPI_PROTOCOL_BITMASK all;
		NDPI_BITMASK_SET_ALL(all);
		ndpi_set_protocol_detection_bitmask2(m, &all);
		ndpi_finalize_initialization(m);
		arena.modules++;
	}
	arena_building = 0;
	if (arena.modules == 0)
		arena_release(); /* a failed set-up may have left blocks */
	pthread_mutex_unlock(&dpi_setup_lock);
	return m;
}

static void
module_free(struct ndpi_detection_module_struct *m)
{
	pthread_mutex_lock(&dpi_setup_lock);
	ndpi_exit_detection_module(m);
	if (--arena.modules == 0)
		arena_release();
	pthread_mutex_unlock(&dpi_setup_lock);
}

/* Modules made ahead by dpi_prepare's thread, taken in order by dpi_new. */
#define PREPARE_MAX 64
static struct {
	pthread_mutex_t mu;
	pthread_cond_t made_one;
	pthread_t thread;
	int running;
	unsigned want, made, taken;
	struct ndpi_detection_module_struct *mods[PREPARE_MAX];
} prep = { .mu = PTHREAD_MUTEX_INITIALIZER, .made_one = PTHREAD_COND_INITIALIZER };

static void *
prepare_main(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < prep.want; i++) {
		struct ndpi_detection_module_struct *m = module_new();
		pthread_mutex_lock(&prep.mu);
		prep.mods[prep.made++] = m; /* NULL: dpi_new tries again itself */
		pthread_cond_broadcast(&prep.made_one);
		pthread_mutex_unlock(&prep.mu);
	}
	return NULL;
}

void
dpi_prepare(unsigned n)
{
	if (prep.running || n == 0)
		return;
	prep.want = n < PREPARE_MAX ? n : PREPARE_MAX;
	prep.made = prep.taken = 0;
	if (pthread_create(&prep.thread, NULL, prepare_main, NULL) == 0)
		prep.running = 1;
}

void
dpi_prepare_end(void)
{
	if (!prep.running)
		return;
	pthread_join(prep.thread, NULL);
	prep.running = 0;
	for (unsigned i = prep.taken; i < prep.made; i++)
		if (prep.mods[i])
			module_free(prep.mods[i]);
	prep.made = prep.taken = prep.want = 0;
}

static struct ndpi_detection_module_struct *
module_take(void)
{
	struct ndpi_detection_module_struct *m = NULL;
	int had = 0;

	pthread_mutex_lock(&prep.mu);
	if (prep.running && prep.taken < prep.want) {
		while (prep.made <= prep.taken)
			pthread_cond_wait(&prep.made_one, &prep.mu);
		m = prep.mods[prep.taken++];
		had = 1;
	}
	pthread_mutex_unlock(&prep.mu);
	return had && m ? m : module_new();
}

struct dpi *
dpi_new(void)
{
	struct dpi *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->mod = module_take();
	if (!d->mod) {
		free(d);
		return NULL;
	}
	d->names[0] = strdup("Unknown");
	if (!d->names[0]) {
		dpi_free(d);
		return NULL;
	}
	return d;
}

void
dpi_free(struct dpi *d)
{
	if (!d)
		return;
	if (d->mod)
		module_free(d->mod);
	for (unsigned i = 0; i <= d->n_names; i++)
		free(d->names[i]);
	free(d);
}

struct dpi_flow *
dpi_flow_new(struct dpi *d)
{
	(void)d;
	struct dpi_flow *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->nf = ndpi_flow_malloc(SIZEOF_FLOW_STRUCT);
	if (!f->nf) {
		free(f);
		return NULL;
	}
	memset(f->nf, 0, SIZEOF_FLOW_STRUCT);
	return f;
}

void
dpi_flow_free(struct dpi_flow *f)
{
	if (!f)
		return;
	if (f->nf)
		ndpi_free_flow(f->nf);
	free(f->held);
	free(f);
}

static void
process(struct dpi *d, struct dpi_flow *f, const uint8_t *l3, uint32_t len, int64_t ts_usec)
{
	if (len > 0xffff)
		len = 0xffff;
	f->proto = ndpi_detection_process_packet(d->mod, f->nf, l3, (unsigned short)len,
						 (uint64_t)(ts_usec / 1000));
	if (f->proto.app_protocol != NDPI_PROTOCOL_UNKNOWN ||
	    f->proto.master_protocol != NDPI_PROTOCOL_UNKNOWN)
		f->detected = 1;
	f->fed = 1;
	d->fed_packets++;
}

static void
drop_held(struct dpi_flow *f)
{
	free(f->held);
	f->held = NULL;
	f->n_held = 0;
}

static void
flush_held(struct dpi *d, struct dpi_flow *f)
{
	for (unsigned i = 0; i < f->n_held; i++)
		process(d, f, f->held[i].bytes, f->held[i].len, f->held[i].ts_usec);
	drop_held(f);
}

int
dpi_packet(struct dpi *d, struct dpi_flow *f, const uint8_t *l3, uint32_t len,
	   int64_t ts_usec, int may_hold)
{
	if (may_hold && !f->fed && f->n_held < HELD_MAX && len <= HELD_BYTES) {
		if (!f->held)
			f->held = malloc(HELD_MAX * sizeof(*f->held));
		if (f->held) {
			struct held_packet *h = &f->held[f->n_held++];
			h->ts_usec = ts_usec;
			h->len = len;
			memcpy(h->bytes, l3, len);
			return f->detected;
		}
	}
	flush_held(d, f);
	process(d, f, l3, len, ts_usec);
	return f->detected;
}

uint64_t
dpi_fed_packets(const struct dpi *d)
{
	return d->fed_packets;
}

/* nDPI's guess from the server's address, which it makes at a flow's
 * first packet: its address table on the first packet's source, then on
 * its destination, IPv4 only (ndpi_guess_host_protocol_id in 4.2). A flow
 * nDPI has not been shown gets the same guess from its first held
 * packet. */
static uint16_t
guessed_host(struct dpi *d, struct dpi_flow *f)
{
	if (f->fed)
		return f->nf->guessed_host_protocol_id;
	if (f->n_held == 0 || f->held[0].len < 20 || (f->held[0].bytes[0] >> 4) != 4)
		return NDPI_PROTOCOL_UNKNOWN;
	struct in_addr a;
	memcpy(&a.s_addr, f->held[0].bytes + 12, 4);
	uint16_t p = ndpi_network_ptree_match(d->mod, &a);
	if (p == NDPI_PROTOCOL_UNKNOWN) {
		memcpy(&a.s_addr, f->held[0].bytes + 16, 4);
		p = ndpi_network_ptree_match(d->mod, &a);
	}
	return p;
}

int
dpi_wants_more(struct dpi *d, struct dpi_flow *f)
{
	return ndpi_extra_dissection_possible(d->mod, f->nf) != 0;
}

static int is_carrier(uint16_t p);

/* The verdict's application came from nDPI's table of server addresses,
 * not from the traffic ("QUIC.Azure" for a Google name on an Azure host). */
static int
app_from_address(const struct dpi_flow *f)
{
	return f->proto.app_protocol != NDPI_PROTOCOL_UNKNOWN &&
	       f->proto.app_protocol == f->nf->guessed_host_protocol_id;
}

static int
names_no_app(const struct dpi_flow *f)
{
	const ndpi_protocol *p = &f->proto;
	return p->app_protocol == NDPI_PROTOCOL_UNKNOWN || p->app_protocol == p->master_protocol ||
	       (p->master_protocol == NDPI_PROTOCOL_UNKNOWN && is_carrier(p->app_protocol)) ||
	       app_from_address(f);
}

int
dpi_has_app(struct dpi_flow *f)
{
	return f->detected && !names_no_app(f);
}

static int
is_dns_like(uint16_t p)
{
	return p == NDPI_PROTOCOL_DNS || p == NDPI_PROTOCOL_MDNS || p == NDPI_PROTOCOL_LLMNR ||
	       p == NDPI_PROTOCOL_NETBIOS;
}

static int
is_tls_like(uint16_t p)
{
	return p == NDPI_PROTOCOL_TLS || p == NDPI_PROTOCOL_DTLS || p == NDPI_PROTOCOL_QUIC ||
	       p == NDPI_PROTOCOL_DOH_DOT;
}

/* First usable name of the certificate nDPI parsed: SAN list first. */
static void
dpi_take_cert_name(struct dpi_flow *f)
{
	struct ndpi_flow_struct *nf = f->nf;
	uint16_t m = nf->detected_protocol_stack[1], a = nf->detected_protocol_stack[0];

	f->cert_name[0] = '\0';
	if (!is_tls_like(m) && !is_tls_like(a))
		return;
	const char *list = nf->protos.tls_quic.server_names;
	if (!list)
		return;
	/* entries are comma-separated; take the first that normalises */
	const char *p = list;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *name = p;
		if (n > 2 && name[0] == '*' && name[1] == '.') {
			name += 2;
			n -= 2;
		}
		/* a certificate may name a bare host ("vpn402"): only a name
		 * with a registrable domain says whose server this is */
		char reg[DOMAIN_MAX];
		if (domain_normalize(name, n, f->cert_name, sizeof(f->cert_name)) > 0 &&
		    domain_registrable(f->cert_name, reg, sizeof(reg)) > 0)
			return;
		f->cert_name[0] = '\0';
		if (!end)
			break;
		p = end + 1;
	}
}

/* The application nDPI's host rules give a name; 0 when none. */
static uint16_t
host_rule(struct dpi *d, const char *name)
{
	char buf[DOMAIN_MAX];
	size_t n = strlen(name);
	if (n == 0 || n >= sizeof(buf))
		return NDPI_PROTOCOL_UNKNOWN;
	memcpy(buf, name, n + 1);
	ndpi_protocol_match_result m;
	memset(&m, 0, sizeof(m));
	int id = ndpi_match_string_subprotocol(d->mod, buf, (u_int)n, &m);
	return id > 0 ? (uint16_t)id : NDPI_PROTOCOL_UNKNOWN;
}

static int
is_carrier(uint16_t p)
{
	return is_tls_like(p) || p == NDPI_PROTOCOL_HTTP;
}

/* nDPI's verdict named no application, or only guessed one: a name the
 * agent found beats it (docs/agent.md, "Which wins"). */
static int
refine_with_name(struct dpi *d, struct dpi_flow *f, const char *name, enum dpi_name_kind kind)
{
	ndpi_protocol *p = &f->proto;
	if (!name || kind == DPI_NAME_NONE || is_dns_like(p->master_protocol) ||
	    is_dns_like(p->app_protocol))
		return 0;
	int guessed = f->nf->confidence != NDPI_CONFIDENCE_DPI &&
		      f->nf->confidence != NDPI_CONFIDENCE_DPI_CACHE;
	if (!guessed && !names_no_app(f))
		return 0;
	uint16_t app = host_rule(d, name);
	if (app == NDPI_PROTOCOL_UNKNOWN || is_carrier(app))
		return 0;
	uint16_t master = p->master_protocol;
	if (master == NDPI_PROTOCOL_UNKNOWN && is_carrier(p->app_protocol))
		master = p->app_protocol;
	if (master == NDPI_PROTOCOL_UNKNOWN) {
		switch (kind) {
		case DPI_NAME_TLS: master = NDPI_PROTOCOL_TLS; break;
		case DPI_NAME_QUIC: master = NDPI_PROTOCOL_QUIC; break;
		case DPI_NAME_HTTP: master = NDPI_PROTOCOL_HTTP; break;
		default: break;
		}
	}
	p->master_protocol = master;
	p->app_protocol = app;
	return 1;
}

static uint16_t
carrier_of(enum dpi_name_kind kind)
{
	switch (kind) {
	case DPI_NAME_TLS: return NDPI_PROTOCOL_TLS;
	case DPI_NAME_QUIC: return NDPI_PROTOCOL_QUIC;
	case DPI_NAME_HTTP: return NDPI_PROTOCOL_HTTP;
	default: return NDPI_PROTOCOL_UNKNOWN;
	}
}

/* nDPI remembers the clients of these from their TLS/HTTP flows and names
 * their later nameless media flows by that memory (its Zoom, Teams and
 * Ookla caches): such payloads must go through nDPI. */
static int
feeds_ndpi_cache(uint16_t app)
{
	return app == NDPI_PROTOCOL_ZOOM || app == NDPI_PROTOCOL_MSTEAMS ||
	       app == NDPI_PROTOCOL_SKYPE_TEAMS || app == NDPI_PROTOCOL_OOKLA;
}

int
dpi_verdict_by_name(struct dpi *d, struct dpi_flow *f, const char *name,
		    enum dpi_name_kind kind, int sig_known)
{
	uint16_t carrier = carrier_of(kind);
	uint16_t app = host_rule(d, name);
	if (feeds_ndpi_cache(app))
		return 0;
	/* A name nobody knows: nDPI may still learn from the payload (DoH
	 * behind an unknown name, a certificate's names). */
	if (!sig_known && (app == NDPI_PROTOCOL_UNKNOWN || is_carrier(app)))
		return 0;
	/* no host rule: the server's address, as nDPI itself would fall back
	 * to ("TLS.Cloudflare"); known once nDPI saw the handshake */
	if (app == NDPI_PROTOCOL_UNKNOWN || is_carrier(app))
		app = guessed_host(d, f);
	if (app == NDPI_PROTOCOL_UNKNOWN || is_carrier(app))
		app = carrier;
	f->proto.master_protocol = app == carrier ? NDPI_PROTOCOL_UNKNOWN : carrier;
	f->proto.app_protocol = app;
	f->detected = 1;
	f->by_name = 1;
	drop_held(f); /* nDPI will not be asked about this flow again */
	return 1;
}

void
dpi_finish(struct dpi *d, struct dpi_flow *f, const char *name, enum dpi_name_kind kind,
	   struct dpi_verdict *v)
{
	if (!f->detected)
		flush_held(d, f); /* a flow that ended before its payload */
	if (!f->detected) {
		uint8_t guessed = 0;
		f->proto = ndpi_detection_giveup(d->mod, f->nf, 1, &guessed);
	}
	memset(v, 0, sizeof(*v));
	int refined = f->by_name || refine_with_name(d, f, name, kind);
	v->name_id = dpi_intern(d, f->proto);
	switch (refined ? -1 : (int)f->nf->confidence) {
	case -1:
		v->confidence = DPI_CONF_NAME;
		break;
	case NDPI_CONFIDENCE_MATCH_BY_PORT:
		v->confidence = DPI_CONF_PORT;
		break;
	case NDPI_CONFIDENCE_MATCH_BY_IP:
		v->confidence = DPI_CONF_IP;
		break;
	case NDPI_CONFIDENCE_DPI_CACHE:
		v->confidence = DPI_CONF_CACHE;
		break;
	case NDPI_CONFIDENCE_DPI:
		v->confidence = DPI_CONF_PAYLOAD;
		break;
	default:
		v->confidence = DPI_CONF_UNKNOWN;
		break;
	}
	if (f->proto.app_protocol != NDPI_PROTOCOL_UNKNOWN)
		v->app_name = ndpi_get_proto_name(d->mod, f->proto.app_protocol);
	if (f->proto.master_protocol != NDPI_PROTOCOL_UNKNOWN)
		v->master_name = ndpi_get_proto_name(d->mod, f->proto.master_protocol);
	v->is_dns_like = is_dns_like(f->proto.master_protocol) ||
			 is_dns_like(f->proto.app_protocol);
}

/* Read on first use: most flows have a name of their own and never need
 * it, and checking a name against the public suffix list is not free. */
const char *
dpi_cert_name(struct dpi_flow *f)
{
	if (!f->cert_taken) {
		dpi_take_cert_name(f);
		f->cert_taken = 1;
	}
	return f->cert_name[0] ? f->cert_name : NULL;
}

uint32_t
dpi_name_key(const struct dpi *d, uint16_t name_id)
{
	if (name_id > d->n_names)
		return 0;
	return d->key_of[name_id];
}

const char *
dpi_name(const struct dpi *d, uint16_t name_id)
{
	if (name_id > d->n_names || !d->names[name_id])
		return "Unknown";
	return d->names[name_id];
}
