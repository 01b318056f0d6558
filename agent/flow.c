/*
 * Flow table storage (see flow.h). Flows live in chunks of a pool and are
 * named by index, so chains and LRU links are 32-bit and a freed flow's
 * slot is reused without touching the allocator.
 */
#include <stdlib.h>
#include <string.h>

#include "shadowmap/hash.h"

#include "flow.h"

#define CHUNK_SHIFT 12
#define CHUNK_SIZE (1u << CHUNK_SHIFT)

struct lru {
	uint32_t head, tail; /* ids, 0 = empty */
};

struct flow_table {
	struct hash_key hkey;
	uint32_t max_flows;
	uint32_t count;
	uint32_t allocated;  /* slots handed out so far (live or free-listed) */
	uint32_t free_head;  /* free list through hnext */
	uint32_t mask;       /* nbuckets - 1 */
	uint32_t *buckets;
	struct flow **chunks;
	uint32_t n_chunks;
	struct lru lru[FLOW_TC_COUNT];
};

static inline struct flow *
slot(const struct flow_table *t, uint32_t id)
{
	uint32_t i = id - 1;
	return &t->chunks[i >> CHUNK_SHIFT][i & (CHUNK_SIZE - 1)];
}

struct flow_table *
flow_table_new(uint32_t max_flows)
{
	struct flow_table *t = calloc(1, sizeof(*t));
	if (!t || max_flows == 0)
		goto fail;
	t->max_flows = max_flows;
	uint32_t nb = 1024;
	while (nb < max_flows && nb < (1u << 30))
		nb <<= 1;
	t->mask = nb - 1;
	t->buckets = calloc(nb, sizeof(uint32_t));
	t->n_chunks = (max_flows + CHUNK_SIZE - 1) / CHUNK_SIZE;
	t->chunks = calloc(t->n_chunks, sizeof(*t->chunks));
	if (!t->buckets || !t->chunks)
		goto fail;
	hash_key_random(&t->hkey);
	return t;
fail:
	flow_table_free(t);
	return NULL;
}

void
flow_table_free(struct flow_table *t)
{
	if (!t)
		return;
	if (t->chunks)
		for (uint32_t i = 0; i < t->n_chunks; i++)
			free(t->chunks[i]);
	free(t->chunks);
	free(t->buckets);
	free(t);
}

void
flow_key_make(struct flow_key *k, const struct sm_addr *src, uint16_t sport,
	      const struct sm_addr *dst, uint16_t dport, uint8_t proto, int *src_is_lo)
{
	int c = addr_cmp(src, dst);
	int lo = c < 0 || (c == 0 && sport <= dport);

	memset(k, 0, sizeof(*k));
	if (lo) {
		k->lo = *src;
		k->hi = *dst;
		k->port_lo = sport;
		k->port_hi = dport;
	} else {
		k->lo = *dst;
		k->hi = *src;
		k->port_lo = dport;
		k->port_hi = sport;
	}
	k->proto = proto;
	*src_is_lo = lo;
}

uint64_t
flow_table_hash(const struct flow_table *t, const struct flow_key *k)
{
	/* Most of an IPv4 key is the fixed ::ffff: prefix of both addresses,
	 * and SipHash costs by the 8 bytes: hash only the bytes that vary,
	 * 13 instead of 40 (one block and the tail instead of five). The
	 * same key always takes the same branch, so lookups still agree. */
	if (addr_is_v4(&k->lo) && addr_is_v4(&k->hi)) {
		uint8_t b[13];
		memcpy(b, k->lo.b + 12, 4);
		memcpy(b + 4, k->hi.b + 12, 4);
		memcpy(b + 8, &k->port_lo, 2);
		memcpy(b + 10, &k->port_hi, 2);
		b[12] = k->proto;
		return hash_bytes(&t->hkey, b, sizeof(b));
	}
	return hash_bytes(&t->hkey, k, sizeof(*k));
}

struct flow *
flow_table_lookup(struct flow_table *t, const struct flow_key *k, uint64_t hash)
{
	uint32_t id = t->buckets[hash & t->mask];
	while (id) {
		struct flow *f = slot(t, id);
		if (memcmp(&f->key, k, sizeof(*k)) == 0)
			return f;
		id = f->hnext;
	}
	return NULL;
}

static void
lru_unlink(struct flow_table *t, struct flow *f)
{
	struct lru *l = &t->lru[f->tclass];
	if (f->lru_prev)
		slot(t, f->lru_prev)->lru_next = f->lru_next;
	else
		l->head = f->lru_next;
	if (f->lru_next)
		slot(t, f->lru_next)->lru_prev = f->lru_prev;
	else
		l->tail = f->lru_prev;
	f->lru_prev = f->lru_next = 0;
}

static void
lru_append(struct flow_table *t, struct flow *f, enum flow_tclass tc)
{
	struct lru *l = &t->lru[tc];
	f->tclass = (uint8_t)tc;
	f->lru_next = 0;
	f->lru_prev = l->tail;
	if (l->tail)
		slot(t, l->tail)->lru_next = f->id;
	else
		l->head = f->id;
	l->tail = f->id;
}

struct flow *
flow_table_insert(struct flow_table *t, const struct flow_key *k, uint64_t hash,
		  enum flow_tclass tclass)
{
	uint32_t id;
	struct flow *f;

	if (t->count >= t->max_flows)
		return NULL;
	if (t->free_head) {
		id = t->free_head;
		f = slot(t, id);
		t->free_head = f->hnext;
	} else {
		id = t->allocated + 1;
		uint32_t c = (id - 1) >> CHUNK_SHIFT;
		if (!t->chunks[c]) {
			t->chunks[c] = calloc(CHUNK_SIZE, sizeof(struct flow));
			if (!t->chunks[c])
				return NULL;
		}
		t->allocated++;
		f = slot(t, id);
	}
	uint32_t gen = f->generation + 1;
	memset(f, 0, sizeof(*f));
	f->key = *k;
	f->id = id;
	f->generation = gen;
	f->app = -1;
	for (int i = 0; i < FLOW_PENDING; i++)
		f->pend[i].bucket = FLOW_NO_BUCKET;
	uint32_t b = (uint32_t)(hash & t->mask);
	f->hnext = t->buckets[b];
	t->buckets[b] = id;
	lru_append(t, f, tclass);
	t->count++;
	return f;
}

void
flow_table_remove(struct flow_table *t, struct flow *f)
{
	uint64_t hash = flow_table_hash(t, &f->key);
	uint32_t *link = &t->buckets[hash & t->mask];
	while (*link && *link != f->id)
		link = &slot(t, *link)->hnext;
	if (*link)
		*link = f->hnext;
	lru_unlink(t, f);
	uint32_t id = f->id;
	f->id = 0; /* marks the slot free for foreach and get */
	f->hnext = t->free_head;
	t->free_head = id;
	t->count--;
}

void
flow_table_touch(struct flow_table *t, struct flow *f, enum flow_tclass tclass)
{
	if (t->lru[f->tclass].tail == f->id && f->tclass == tclass)
		return;
	lru_unlink(t, f);
	lru_append(t, f, tclass);
}

struct flow *
flow_table_oldest(struct flow_table *t, enum flow_tclass tclass)
{
	uint32_t id = t->lru[tclass].head;
	return id ? slot(t, id) : NULL;
}

struct flow *
flow_table_get(struct flow_table *t, uint32_t id, uint32_t generation)
{
	if (id == 0 || id > t->allocated)
		return NULL;
	struct flow *f = slot(t, id);
	if (f->id != id || f->generation != generation)
		return NULL;
	return f;
}

void
flow_table_foreach(struct flow_table *t, void (*fn)(struct flow *f, void *arg), void *arg)
{
	for (uint32_t id = 1; id <= t->allocated; id++) {
		struct flow *f = slot(t, id);
		if (f->id == id)
			fn(f, arg);
	}
}

uint32_t
flow_table_count(const struct flow_table *t)
{
	return t->count;
}

uint32_t
flow_table_capacity(const struct flow_table *t)
{
	return t->max_flows;
}
