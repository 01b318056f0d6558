/*
 * Sharded runs (shard.h). The capture thread does what must happen in
 * packet order or once per packet: the clock (so every engine expires
 * flows and closes buckets at the very ticks one engine would), decoding,
 * the DNS answers (every worker learns every answer, at its place in the
 * packet order) and the choice of worker. It appends records to a batch
 * per worker; a full batch goes to the worker's queue. Workers run their
 * engine on each record in order. See docs/threads.md.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "shadowmap/hash.h"
#include "shadowmap/log.h"
#include "shadowmap/timefmt.h"

#include "decode.h"
#include "dns.h"
#include "flow.h"
#include "quic.h"
#include "shard.h"

#define BATCH_BYTES (64 * 1024) /* records handed over at once */
#define QUEUE_BATCHES 64        /* full batches waiting, per worker on average */
#define TICK_USEC USEC_PER_SEC  /* as engine.c */
#define FRAG_SLOTS 4096         /* as engine.c */
#define FRAG_LIFETIME (30 * USEC_PER_SEC)
#define ROUTE_CHUNK 4096        /* routes allocated at once */
#define REC_ALIGN(n) (((n) + 7) & ~(size_t)7)
#define BATCH_PINS 16           /* pinned buffers one batch may point into */

enum rec_type {
	REC_PACKET = 1,
	REC_TICK,
	REC_DNS,
};

struct rec {
	uint32_t type;
	uint32_t size; /* of the whole record, a multiple of 8 */
};

/* A decoded IP packet; its captured bytes from the IP header on follow,
 * or lie at ip in a buffer the batch pins. */
struct rec_packet {
	struct rec h;
	uint32_t status;      /* enum decode_status */
	uint32_t payload_off; /* from the IP header; UINT32_MAX: no payload */
	const uint8_t *ip;    /* NULL: the bytes follow */
	struct pkt p;         /* l3 and payload are set by the worker */
};

struct rec_tick {
	struct rec h;
	int64_t now;
};

/* A DNS answer; n_addrs struct dns_addr_ttl follow, then the name. */
struct rec_dns {
	struct rec h;
	int64_t ts;
	struct sm_addr client;
	uint32_t n_addrs;
	uint32_t name_len;
};

struct batch {
	struct batch *next;
	size_t len, cap;
	uint8_t *data;
	unsigned n_pins;
	struct shard_pin *pins[BATCH_PINS]; /* held for the records */
};

struct worker {
	struct shard_pool *sp;
	unsigned index;
	pthread_t thread;
	int running;
	struct engine *e;     /* the worker thread's alone */
	struct engine_stats st; /* its engine's, when it is done */
	struct batch *cur;    /* the capture thread's alone: being filled */
	/* the queue, under the pool's mu */
	pthread_cond_t wake_worker;
	struct batch *head, *tail;
	struct batch *free;   /* batches done with, for the capture thread */
	int closed;           /* no more batches will come */
	int worker_waits;
	int done;             /* st holds its engine's counters */
};

/* Which worker has the flow of a fragment's first part. */
struct frag_owner {
	struct sm_addr src, dst;
	uint32_t id;
	uint8_t proto;
	uint8_t used;
	uint16_t worker;
	int64_t expires;
};

/*
 * Flows whose ports do not say which side is the client (ICMP, both ports
 * ephemeral, peer-to-peer media) go to the worker of the client their
 * first packet shows, as the engine decides it; later packets must follow
 * whichever way they go, so the choice is kept until the engine has
 * surely ended the flow (idle for the longest idle timeout and a tick).
 */
struct route {
	struct flow_key key;
	uint32_t hnext;      /* hash chain, or the free list */
	uint32_t prev, next; /* by last use, oldest first */
	uint32_t worker;
	int64_t last;        /* the clock at the last packet */
};

struct route_table {
	struct hash_key hkey;
	uint32_t max, count, allocated, free_head, mask;
	uint32_t *buckets;
	struct route **chunks;
	uint32_t n_chunks;
	uint32_t oldest, newest;
	int64_t keep;        /* usec a route outlives its last packet */
	uint64_t full;       /* flows routed by their address pair: no room */
};

struct shard_pool {
	unsigned n;
	struct worker *w;
	struct engine_config cfg; /* each worker's */
	const sig_db *sigs;
	geo *geo;
	struct engine *merger;
	atomic_int failed;        /* a worker could not start */
	/* The queues share one budget: a burst of work for one worker (one
	 * client's busy minute) may take most of it while the others still
	 * get their packets, where a budget per worker would stop the capture
	 * thread, and so every worker, at the busy one's full queue. */
	pthread_mutex_t mu;
	pthread_cond_t wake_reader;
	unsigned queued, budget; /* batches */
	int reader_waits;
	int started, finished;
	/* the clock, kept as engine_frame and engine_tick keep theirs */
	int64_t clock, next_tick, emitted_before;
	int64_t bucket_usec, detect_usec;
	uint64_t mix_k0, mix_k1;  /* random: nobody can aim flows at a worker */
	struct hash_key frag_key;
	struct frag_owner *frags;
	struct route_table routes;
	struct engine_stats st;   /* the capture thread's counters */
	struct engine_stats total;
};

/* ---- batches and queues ---- */

static struct batch *
batch_new(size_t cap)
{
	struct batch *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->data = malloc(cap);
	if (!b->data) {
		free(b);
		return NULL;
	}
	b->cap = cap;
	return b;
}

/* The batch's records are done with (or dropped): its buffers go back. */
static void
batch_unpin(struct batch *b)
{
	for (unsigned i = 0; i < b->n_pins; i++)
		shard_pin_drop(b->pins[i]);
	b->n_pins = 0;
}

static void
batch_free_list(struct batch *b)
{
	while (b) {
		struct batch *next = b->next;
		batch_unpin(b);
		free(b->data);
		free(b);
		b = next;
	}
}

/* Capture thread: the current batch of w goes to its queue (waiting while
 * the queue is full) and a free one takes its place. */
static void
queue_push(struct worker *w)
{
	struct batch *b = w->cur, *next;

	struct shard_pool *sp = w->sp;

	if (!w->running) {
		b->len = 0; /* no thread to take it (it could not start) */
		batch_unpin(b);
		return;
	}
	pthread_mutex_lock(&sp->mu);
	while (sp->queued >= sp->budget) {
		sp->reader_waits = 1;
		pthread_cond_wait(&sp->wake_reader, &sp->mu);
	}
	b->next = NULL;
	if (w->tail)
		w->tail->next = b;
	else
		w->head = b;
	w->tail = b;
	sp->queued++;
	if (w->worker_waits) {
		w->worker_waits = 0;
		pthread_cond_signal(&w->wake_worker);
	}
	next = w->free;
	if (next)
		w->free = next->next;
	pthread_mutex_unlock(&sp->mu);
	if (next) {
		next->next = NULL;
		next->len = 0;
	}
	/* a new batch is made only when none is free: they number the
	 * budget and two per worker (being read, being filled) at most */
	w->cur = next ? next : batch_new(BATCH_BYTES);
}

/* Worker thread: gives back done (may be NULL) and waits for the next
 * batch; NULL when the queue is closed and empty. */
static struct batch *
queue_pop(struct worker *w, struct batch *done)
{
	struct shard_pool *sp = w->sp;
	struct batch *b;

	pthread_mutex_lock(&sp->mu);
	if (done) {
		done->next = w->free;
		w->free = done;
	}
	while (!w->head && !w->closed) {
		w->worker_waits = 1;
		pthread_cond_wait(&w->wake_worker, &sp->mu);
	}
	b = w->head;
	if (b) {
		w->head = b->next;
		if (!w->head)
			w->tail = NULL;
		sp->queued--;
		/* wake the capture thread once the queues are half empty, not
		 * for every batch: fewer switches on a machine with few CPUs */
		if (sp->reader_waits && sp->queued <= sp->budget / 2) {
			sp->reader_waits = 0;
			pthread_cond_signal(&sp->wake_reader);
		}
	}
	pthread_mutex_unlock(&sp->mu);
	return b;
}

static void
queue_close(struct worker *w)
{
	pthread_mutex_lock(&w->sp->mu);
	w->closed = 1;
	pthread_cond_signal(&w->wake_worker);
	pthread_mutex_unlock(&w->sp->mu);
}

/* Capture thread: room for a record of size bytes in w's batch; NULL when
 * out of memory. */
static void *
rec_reserve(struct worker *w, size_t size)
{
	if (w->cur && w->cur->len + size > w->cur->cap && w->cur->len > 0)
		queue_push(w);
	if (!w->cur) {
		w->cur = batch_new(BATCH_BYTES);
		if (!w->cur)
			return NULL;
	}
	struct batch *b = w->cur;
	if (size > b->cap) {
		/* a packet larger than a batch (a 256 KiB snaplen) */
		uint8_t *data = realloc(b->data, size);
		if (!data)
			return NULL;
		b->data = data;
		b->cap = size;
	}
	void *r = b->data + b->len;
	b->len += size;
	return r;
}

/* ---- the worker thread ---- */

static void
run_batch(struct worker *w, struct batch *b)
{
	struct engine *e = w->e;

	for (size_t off = 0; off < b->len;) {
		struct rec *r = (struct rec *)(b->data + off);
		off += r->size;
		/* the capture thread wrote it on another CPU: ask for the next
		 * record's header while this one is handled */
		if (off < b->len) {
			__builtin_prefetch(b->data + off);
			__builtin_prefetch(b->data + off + 64);
		}
		if (r->type == REC_PACKET) {
			struct rec_packet *rp = (struct rec_packet *)r;
			uint8_t *ip = rp->ip ? (uint8_t *)rp->ip : (uint8_t *)(rp + 1);
			rp->p.l3 = rp->p.l3_caplen ? ip : NULL;
			rp->p.payload = rp->payload_off != UINT32_MAX ? ip + rp->payload_off : NULL;
			engine_packet(e, (enum decode_status)rp->status, &rp->p);
		} else if (r->type == REC_TICK) {
			engine_tick(e, ((struct rec_tick *)r)->now);
		} else if (r->type == REC_DNS) {
			const struct rec_dns *rd = (const struct rec_dns *)r;
			const uint8_t *addrs = (const uint8_t *)(rd + 1);
			size_t alen = rd->n_addrs * sizeof(struct dns_addr_ttl);
			struct dns_answer ans;
			ans.n_addrs = rd->n_addrs;
			memcpy(ans.addrs, addrs, alen);
			memcpy(ans.qname, addrs + alen, rd->name_len + 1);
			engine_learn(e, &rd->client, &ans, rd->ts);
		}
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct shard_pool *sp = w->sp;
	struct batch *b = NULL;

	w->e = engine_shard_new(&sp->cfg, sp->sigs, sp->geo, sp->merger, w->index);
	if (!w->e)
		atomic_store(&sp->failed, 1);
	/* without an engine, the queue is still emptied: the capture thread
	 * must never wait for a worker that is gone */
	while ((b = queue_pop(w, b))) {
		if (w->e)
			run_batch(w, b);
		batch_unpin(b);
	}
	if (w->e) {
		(void)engine_finish(w->e); /* a failed sink shows in the merger */
		/* the merger keeps copies of what it needs: the engine can go
		 * now, each worker its own at once */
		engine_get_stats(w->e, &w->st);
		engine_free(w->e);
		w->e = NULL;
		w->done = 1;
	}
	return NULL;
}

/* ---- the capture thread: routes ---- */

static inline struct route *
route_at(const struct route_table *rt, uint32_t id)
{
	uint32_t i = id - 1;
	return &rt->chunks[i / ROUTE_CHUNK][i % ROUTE_CHUNK];
}

static int
routes_init(struct route_table *rt, uint32_t max, int64_t keep)
{
	uint32_t nb = 1024;
	while (nb < max && nb < (1u << 30))
		nb <<= 1;
	hash_key_random(&rt->hkey);
	rt->max = max;
	rt->mask = nb - 1;
	rt->keep = keep;
	rt->n_chunks = (max + ROUTE_CHUNK - 1) / ROUTE_CHUNK;
	rt->buckets = calloc(nb, sizeof(*rt->buckets));
	rt->chunks = calloc(rt->n_chunks, sizeof(*rt->chunks));
	return rt->buckets && rt->chunks ? 0 : -1;
}

static void
routes_free(struct route_table *rt)
{
	if (rt->chunks)
		for (uint32_t i = 0; i < rt->n_chunks; i++)
			free(rt->chunks[i]);
	free(rt->chunks);
	free(rt->buckets);
}

static void
route_unlink(struct route_table *rt, struct route *r)
{
	if (r->prev)
		route_at(rt, r->prev)->next = r->next;
	else
		rt->oldest = r->next;
	if (r->next)
		route_at(rt, r->next)->prev = r->prev;
	else
		rt->newest = r->prev;
	r->prev = r->next = 0;
}

static void
route_append(struct route_table *rt, struct route *r, uint32_t id)
{
	r->next = 0;
	r->prev = rt->newest;
	if (rt->newest)
		route_at(rt, rt->newest)->next = id;
	else
		rt->oldest = id;
	rt->newest = id;
}

/* Forgets the routes of flows every engine has ended by now. */
static void
routes_expire(struct route_table *rt, int64_t now)
{
	while (rt->oldest) {
		uint32_t id = rt->oldest;
		struct route *r = route_at(rt, id);
		if (r->last > now - rt->keep)
			break;
		uint32_t *pp = &rt->buckets[hash_bytes(&rt->hkey, &r->key, sizeof(r->key)) & rt->mask];
		while (*pp != id)
			pp = &route_at(rt, *pp)->hnext;
		*pp = r->hnext;
		route_unlink(rt, r);
		r->hnext = rt->free_head;
		rt->free_head = id;
		rt->count--;
	}
}

/* The worker of a flow the ports say nothing of: as routed before, else
 * its client's (the first packet's view), kept. */
static unsigned
route_worker(struct shard_pool *sp, const struct pkt *p, unsigned by_client,
	     unsigned by_pair)
{
	struct route_table *rt = &sp->routes;
	struct flow_key key;
	int src_is_lo;

	flow_key_make(&key, &p->src, p->sport, &p->dst, p->dport, p->l4_proto, &src_is_lo);
	uint64_t h = hash_bytes(&rt->hkey, &key, sizeof(key));
	uint32_t id = rt->buckets[h & rt->mask];
	while (id) {
		struct route *r = route_at(rt, id);
		if (memcmp(&r->key, &key, sizeof(key)) == 0) {
			r->last = sp->clock;
			route_unlink(rt, r);
			route_append(rt, r, id);
			return r->worker;
		}
		id = r->hnext;
	}
	routes_expire(rt, sp->clock);
	if (rt->free_head) {
		id = rt->free_head;
		rt->free_head = route_at(rt, id)->hnext;
	} else if (rt->allocated < rt->max) {
		uint32_t chunk = rt->allocated / ROUTE_CHUNK;
		if (!rt->chunks[chunk])
			rt->chunks[chunk] = calloc(ROUTE_CHUNK, sizeof(struct route));
		if (rt->chunks[chunk])
			id = ++rt->allocated;
	}
	if (!id) {
		/* as many such flows as the engines may hold, or no memory:
		 * the address pair, the same for all packets of the flow
		 * while this lasts */
		rt->full++;
		return by_pair;
	}
	struct route *r = route_at(rt, id);
	r->key = key;
	r->worker = by_client;
	r->last = sp->clock;
	r->hnext = rt->buckets[h & rt->mask];
	rt->buckets[h & rt->mask] = id;
	route_append(rt, r, id);
	rt->count++;
	return by_client;
}

/* ---- the capture thread ---- */

static uint64_t
mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static uint64_t
addr_mix(const struct shard_pool *sp, const struct sm_addr *a)
{
	uint64_t x, y;
	memcpy(&x, a->b, 8);
	memcpy(&y, a->b + 8, 8);
	return mix64((x ^ sp->mix_k0) * 0x9e3779b97f4a7c15ull + (y ^ sp->mix_k1));
}

static struct frag_owner *
frag_slot(struct shard_pool *sp, const struct pkt *p)
{
	return &sp->frags[engine_frag_hash(&sp->frag_key, p) & (FRAG_SLOTS - 1)];
}

/*
 * The worker of a packet: the one of its flow's client address. When the
 * ports say which side is the client (engine_client_by_ports, the same
 * answer for both directions) that is all; otherwise the first packet
 * decides, as in the engine, and a route keeps the choice. Every packet
 * of a flow lands on one worker, and all flows of a client on the same
 * one, so nDPI's memory of a client (its Zoom, Teams, Ookla and STUN
 * caches) stays whole. Later fragments follow their first one.
 */
static unsigned
owner_of(struct shard_pool *sp, enum decode_status ds, const struct pkt *p)
{
	uint64_t h;

	if (ds == DECODE_MALFORMED)
		return 0; /* no flow: counted untracked, with no client */
	if (p->frag == PKT_FRAG_LATER) {
		struct frag_owner *fo = frag_slot(sp, p);
		if (fo->used && fo->id == p->frag_id && fo->proto == p->l4_proto &&
		    addr_cmp(&fo->src, &p->src) == 0 && addr_cmp(&fo->dst, &p->dst) == 0 &&
		    p->ts <= fo->expires)
			return fo->worker;
		return 0; /* an orphan: untracked, with no client */
	}
	unsigned idx;
	int c = engine_client_by_ports(p->sport, p->dport);
	if (c >= 0) {
		h = addr_mix(sp, c ? &p->src : &p->dst);
		idx = (unsigned)(((h >> 32) * sp->n) >> 32);
	} else {
		h = addr_mix(sp, engine_first_sender_is_client(p) ? &p->src : &p->dst);
		unsigned by_client = (unsigned)(((h >> 32) * sp->n) >> 32);
		h = mix64(addr_mix(sp, &p->src) + addr_mix(sp, &p->dst));
		unsigned by_pair = (unsigned)(((h >> 32) * sp->n) >> 32);
		idx = route_worker(sp, p, by_client, by_pair);
	}
	if (p->frag == PKT_FRAG_FIRST) {
		struct frag_owner *fo = frag_slot(sp, p);
		fo->src = p->src;
		fo->dst = p->dst;
		fo->id = p->frag_id;
		fo->proto = p->l4_proto;
		fo->used = 1;
		fo->worker = (uint16_t)idx;
		fo->expires = p->ts + FRAG_LIFETIME;
	}
	return idx;
}

static void
put_packet(struct shard_pool *sp, struct worker *w, enum decode_status ds, const struct pkt *p,
	   struct shard_pin *pin)
{
	/* a malformed packet is counted by its length alone */
	uint32_t data_len = ds == DECODE_IP && p->l3 ? p->l3_caplen : 0;
	uint32_t copy_len = pin ? 0 : data_len;
	size_t size = REC_ALIGN(sizeof(struct rec_packet) + copy_len);

	if (pin && data_len && w->cur && w->cur->n_pins == BATCH_PINS &&
	    w->cur->pins[BATCH_PINS - 1] != pin)
		queue_push(w); /* room for one more pin */
	struct rec_packet *rp = rec_reserve(w, size);
	if (!rp) {
		sp->st.oom_drops++;
		return;
	}
	if (pin && data_len) {
		struct batch *b = w->cur;
		if (!b->n_pins || b->pins[b->n_pins - 1] != pin) {
			shard_pin_hold(pin);
			b->pins[b->n_pins++] = pin;
		}
	}
	rp->ip = pin && data_len ? p->l3 : NULL;
	rp->h.type = REC_PACKET;
	rp->h.size = (uint32_t)size;
	rp->status = ds;
	rp->p = *p;
	rp->p.l3 = NULL;
	rp->p.payload = NULL;
	if (!data_len)
		rp->p.l3_caplen = 0;
	rp->payload_off = data_len && p->payload ? (uint32_t)(p->payload - p->l3) : UINT32_MAX;
	if (copy_len)
		memcpy(rp + 1, p->l3, copy_len);
}

static void
put_tick(struct shard_pool *sp, int64_t now)
{
	for (unsigned i = 0; i < sp->n; i++) {
		struct rec_tick *rt = rec_reserve(&sp->w[i], sizeof(*rt));
		if (!rt) {
			sp->st.oom_drops++;
			continue;
		}
		rt->h.type = REC_TICK;
		rt->h.size = sizeof(*rt);
		rt->now = now;
	}
}

static void
put_dns(struct shard_pool *sp, const struct sm_addr *client, const struct dns_answer *ans,
	int64_t ts)
{
	size_t name_len = strnlen(ans->qname, sizeof(ans->qname) - 1);
	size_t alen = ans->n_addrs * sizeof(ans->addrs[0]);
	size_t size = REC_ALIGN(sizeof(struct rec_dns) + alen + name_len + 1);

	for (unsigned i = 0; i < sp->n; i++) {
		struct rec_dns *rd = rec_reserve(&sp->w[i], size);
		if (!rd) {
			sp->st.oom_drops++;
			continue;
		}
		rd->h.type = REC_DNS;
		rd->h.size = (uint32_t)size;
		rd->ts = ts;
		rd->client = *client;
		rd->n_addrs = (uint32_t)ans->n_addrs;
		rd->name_len = (uint32_t)name_len;
		uint8_t *to = (uint8_t *)(rd + 1);
		memcpy(to, ans->addrs, alen);
		memcpy(to + alen, ans->qname, name_len);
		to[alen + name_len] = '\0';
	}
}

/* engine_tick's clock, for all workers at once. */
static void
clock_tick(struct shard_pool *sp, int64_t now)
{
	if (now > sp->clock)
		sp->clock = now;
	now = sp->clock;
	sp->next_tick = now + TICK_USEC;
	put_tick(sp, now);
	int64_t cur = time_bucket_start(now, sp->bucket_usec);
	if (cur > sp->emitted_before && now >= cur + sp->detect_usec)
		sp->emitted_before = cur;
}

static void
pool_frame(struct shard_pool *sp, int dlt, int64_t ts, const uint8_t *frame, uint32_t caplen,
	   uint32_t wirelen, struct shard_pin *pin)
{
	struct pkt p;

	/* engine_frame's clock: late time stamps, then the tick */
	sp->st.frames++;
	if (ts < sp->emitted_before) {
		sp->st.late_packets++;
		ts = sp->emitted_before;
	}
	if (ts > sp->clock)
		sp->clock = ts;
	if (sp->clock >= sp->next_tick)
		clock_tick(sp, sp->clock);

	p.ts = ts;
	enum decode_status ds = decode_frame(dlt, frame, caplen, wirelen, &p);
	if (ds == DECODE_NOT_IP) {
		sp->st.non_ip++;
		return;
	}
	put_packet(sp, &sp->w[owner_of(sp, ds, &p)], ds, &p, pin);
	if (ds == DECODE_IP && p.sport == 53 && p.has_ports) {
		/* after the packet, as one engine learns it: every worker, at
		 * this place in the packet order */
		struct dns_answer ans;
		if (engine_dns_answer(&p, &ans) == 0) {
			sp->st.dns_answers++;
			put_dns(sp, &p.dst, &ans, ts);
		}
	}
}

void
shard_pool_frame(struct shard_pool *sp, int dlt, int64_t ts, const uint8_t *frame,
		 uint32_t caplen, uint32_t wirelen)
{
	pool_frame(sp, dlt, ts, frame, caplen, wirelen, NULL);
}

void
shard_pool_frame_pinned(struct shard_pool *sp, int dlt, int64_t ts, const uint8_t *frame,
			uint32_t caplen, uint32_t wirelen, struct shard_pin *pin)
{
	pool_frame(sp, dlt, ts, frame, caplen, wirelen, pin);
}

void
shard_pool_tick(struct shard_pool *sp, int64_t now)
{
	clock_tick(sp, now);
}

void
shard_pool_flush(struct shard_pool *sp)
{
	for (unsigned i = 0; i < sp->n; i++) {
		struct worker *w = &sp->w[i];
		if (w->cur && w->cur->len > 0)
			queue_push(w); /* drops it when the worker is gone */
	}
}

/* ---- life ---- */

struct shard_pool *
shard_pool_new(unsigned n, const struct engine_config *cfg, const sig_db *sigs, geo *geodb,
	       const struct engine_sinks *sinks)
{
	struct shard_pool *sp = calloc(1, sizeof(*sp));
	struct hash_key k;

	if (!sp)
		goto oom;
	sp->n = n;
	sp->cfg = *cfg;
	/* the limits are the pool's: each worker holds its part */
	sp->cfg.max_flows = (uint32_t)(((uint64_t)cfg->max_flows + n - 1) / n);
	sp->cfg.max_detecting = (uint32_t)(((uint64_t)cfg->max_detecting + n - 1) / n);
	sp->sigs = sigs;
	sp->geo = geodb;
	sp->clock = INT64_MIN;
	sp->emitted_before = INT64_MIN;
	sp->bucket_usec = cfg->bucket_usec;
	sp->detect_usec = cfg->detect_usec > cfg->bucket_usec ? cfg->bucket_usec : cfg->detect_usec;
	hash_key_random(&k);
	sp->mix_k0 = k.k0;
	sp->mix_k1 = k.k1;
	hash_key_random(&sp->frag_key);
	sp->frags = calloc(FRAG_SLOTS, sizeof(*sp->frags));
	sp->w = calloc(n, sizeof(*sp->w));
	if (!sp->frags || !sp->w || pthread_mutex_init(&sp->mu, NULL) != 0)
		goto oom;
	if (pthread_cond_init(&sp->wake_reader, NULL) != 0)
		goto oom;
	sp->budget = QUEUE_BATCHES * n;
	/* a route outlives any flow the engines may hold: the longest idle
	 * timeout, and the tick that ends the flow comes within a second */
	int64_t idle = 0;
	for (int i = 0; i < FLOW_TC_COUNT; i++)
		if (cfg->idle_usec[i] > idle)
			idle = cfg->idle_usec[i];
	if (routes_init(&sp->routes, cfg->max_flows, idle + 2 * TICK_USEC) < 0)
		goto oom;
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = &sp->w[i];
		w->sp = sp;
		w->index = i;
		if (pthread_cond_init(&w->wake_worker, NULL) != 0)
			goto oom; /* glibc's never fails */
		w->cur = batch_new(BATCH_BYTES);
		if (!w->cur)
			goto oom;
	}
	/* libgcrypt's one-time set-up, before there are threads */
	if (quic_global_init() < 0) {
		log_error("cannot initialise libgcrypt for QUIC");
		goto fail;
	}
	sp->merger = engine_merger_new(cfg, sigs, geodb, sinks, n);
	if (!sp->merger)
		goto fail;
	return sp;
oom:
	log_error("cannot set up %u engine threads: out of memory", n);
fail:
	shard_pool_free(sp);
	return NULL;
}

int
shard_pool_start(struct shard_pool *sp)
{
	sigset_t all, old;
	int rc = 0;

	/* Signals are the capture thread's: it stops the run. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned i = 0; i < sp->n; i++) {
		struct worker *w = &sp->w[i];
		int err = pthread_create(&w->thread, NULL, worker_main, w);
		if (err) {
			log_error("cannot start engine thread %u of %u: %s", i + 1, sp->n,
				  strerror(err));
			atomic_store(&sp->failed, 1);
			rc = -1;
			break;
		}
		w->running = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	sp->started = 1;
	return rc;
}

int
shard_pool_finish(struct shard_pool *sp)
{
	if (!sp->finished) {
		sp->finished = 1;
		for (unsigned i = 0; i < sp->n; i++) {
			struct worker *w = &sp->w[i];
			if (!w->running)
				continue;
			if (w->cur && w->cur->len > 0)
				queue_push(w);
			queue_close(w);
		}
		for (unsigned i = 0; i < sp->n; i++)
			if (sp->w[i].running)
				pthread_join(sp->w[i].thread, NULL);
		/* the counters, now that nobody writes them */
		struct engine_stats *t = &sp->total, st;
		*t = sp->st;
		for (unsigned i = 0; i < sp->n; i++)
			if (sp->w[i].done)
				engine_stats_add(t, &sp->w[i].st);
		engine_get_stats(sp->merger, &st);
		engine_stats_add(t, &st);
	}
	return shard_pool_failed(sp) ? -1 : 0;
}

int
shard_pool_failed(const struct shard_pool *sp)
{
	return atomic_load_explicit(&sp->failed, memory_order_relaxed) ||
	       engine_failed(sp->merger);
}

void
shard_pool_get_stats(const struct shard_pool *sp, struct engine_stats *st)
{
	*st = sp->finished ? sp->total : sp->st;
}

void
shard_pool_sinks_lock(struct shard_pool *sp)
{
	engine_sinks_lock(sp->merger);
}

void
shard_pool_sinks_unlock(struct shard_pool *sp)
{
	engine_sinks_unlock(sp->merger);
}

void
shard_pool_free(struct shard_pool *sp)
{
	if (!sp)
		return;
	if (sp->started)
		(void)shard_pool_finish(sp);
	if (sp->w) {
		for (unsigned i = 0; i < sp->n; i++) {
			struct worker *w = &sp->w[i];
			engine_free(w->e);
			batch_free_list(w->cur);
			batch_free_list(w->head);
			batch_free_list(w->free);
			pthread_cond_destroy(&w->wake_worker);
		}
		free(sp->w);
	}
	pthread_mutex_destroy(&sp->mu);
	pthread_cond_destroy(&sp->wake_reader);
	engine_free(sp->merger);
	routes_free(&sp->routes);
	free(sp->frags);
	free(sp);
}
