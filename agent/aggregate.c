/*
 * Usage aggregation (aggregate.h). One hash table over all open buckets,
 * and a list of each bucket's entries: few buckets are ever open at once
 * (the current one and, for a grace period, the one before), and emitting
 * one touches its own entries only, never the whole table.
 */
#include <stdlib.h>
#include <string.h>

#include "shadowmap/hash.h"

#include "aggregate.h"

struct agg_entry {
	struct agg_entry *next;  /* hash chain */
	struct agg_entry *bnext; /* the same bucket's entries */
	uint64_t hash;
	struct agg_key key; /* key.host points at host_buf or is NULL */
	struct agg_counts c;
	char host_buf[];
};

/* The entries of one time bucket. */
struct agg_bucket {
	int64_t start;
	struct agg_entry *head;
	size_t n;
};

struct agg {
	struct hash_key hkey;
	struct agg_entry **slots;
	size_t n_slots; /* power of two */
	uint64_t count;
	struct agg_bucket *buckets; /* open ones, in no order */
	size_t n_buckets, cap_buckets;
};

static uint64_t
agg_hash(const struct agg *a, const struct agg_key *k)
{
	struct {
		int64_t bucket;
		struct sm_addr client;
		int32_t app;
		uint32_t asn, as_org;
		uint16_t dpi_name, country;
		uint8_t has_client, untracked;
	} fixed;
	memset(&fixed, 0, sizeof(fixed));
	fixed.bucket = k->bucket;
	fixed.client = k->client;
	fixed.app = k->app;
	fixed.dpi_name = k->dpi_name;
	fixed.country = k->country;
	fixed.asn = k->asn;
	fixed.as_org = k->as_org;
	fixed.has_client = k->has_client;
	fixed.untracked = k->untracked;
	uint64_t h = hash_bytes(&a->hkey, &fixed, sizeof(fixed));
	if (k->host)
		h ^= hash_bytes(&a->hkey, k->host, strlen(k->host)) * 0x9e3779b97f4a7c15ull;
	return h;
}

static int
key_eq(const struct agg_key *x, const struct agg_key *y)
{
	if (x->bucket != y->bucket || x->app != y->app || x->dpi_name != y->dpi_name ||
	    x->has_client != y->has_client || x->untracked != y->untracked ||
	    x->country != y->country || x->asn != y->asn || x->as_org != y->as_org)
		return 0;
	if (x->has_client && addr_cmp(&x->client, &y->client) != 0)
		return 0;
	if (!x->host || !y->host)
		return x->host == y->host;
	return strcmp(x->host, y->host) == 0;
}

struct agg *
agg_new(void)
{
	struct agg *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->n_slots = 1024;
	a->slots = calloc(a->n_slots, sizeof(*a->slots));
	if (!a->slots) {
		free(a);
		return NULL;
	}
	hash_key_random(&a->hkey);
	return a;
}

void
agg_free(struct agg *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n_slots; i++) {
		struct agg_entry *e = a->slots[i];
		while (e) {
			struct agg_entry *n = e->next;
			free(e);
			e = n;
		}
	}
	free(a->slots);
	free(a->buckets);
	free(a);
}

static void
agg_grow(struct agg *a)
{
	size_t n = a->n_slots * 2;
	struct agg_entry **slots = calloc(n, sizeof(*slots));
	if (!slots)
		return; /* keep working with longer chains */
	for (size_t i = 0; i < a->n_slots; i++) {
		struct agg_entry *e = a->slots[i];
		while (e) {
			struct agg_entry *next = e->next;
			size_t s = e->hash & (n - 1);
			e->next = slots[s];
			slots[s] = e;
			e = next;
		}
	}
	free(a->slots);
	a->slots = slots;
	a->n_slots = n;
}

/* The list of bucket start, made when missing; NULL when out of memory. */
static struct agg_bucket *
bucket_of(struct agg *a, int64_t start)
{
	for (size_t i = 0; i < a->n_buckets; i++)
		if (a->buckets[i].start == start)
			return &a->buckets[i];
	if (a->n_buckets == a->cap_buckets) {
		size_t cap = a->cap_buckets ? a->cap_buckets * 2 : 4;
		struct agg_bucket *b = realloc(a->buckets, cap * sizeof(*b));
		if (!b)
			return NULL;
		a->buckets = b;
		a->cap_buckets = cap;
	}
	struct agg_bucket *b = &a->buckets[a->n_buckets++];
	b->start = start;
	b->head = NULL;
	b->n = 0;
	return b;
}

int
agg_add(struct agg *a, const struct agg_key *k, const struct agg_counts *c)
{
	uint64_t h = agg_hash(a, k);
	struct agg_entry *e = a->slots[h & (a->n_slots - 1)];

	for (; e; e = e->next)
		if (e->hash == h && key_eq(&e->key, k))
			break;
	if (!e) {
		size_t hl = k->host ? strlen(k->host) + 1 : 0;
		struct agg_bucket *b = bucket_of(a, k->bucket);
		if (!b)
			return -1;
		e = calloc(1, sizeof(*e) + hl);
		if (!e)
			return -1;
		e->hash = h;
		e->key = *k;
		if (k->host) {
			memcpy(e->host_buf, k->host, hl);
			e->key.host = e->host_buf;
		}
		e->c.first = c->first;
		e->c.last = c->last;
		size_t s = h & (a->n_slots - 1);
		e->next = a->slots[s];
		a->slots[s] = e;
		e->bnext = b->head;
		b->head = e;
		b->n++;
		a->count++;
		if (a->count > a->n_slots)
			agg_grow(a);
	}
	e->c.flows += c->flows;
	e->c.packets += c->packets;
	e->c.bytes_up += c->bytes_up;
	e->c.bytes_down += c->bytes_down;
	if (c->first < e->c.first)
		e->c.first = c->first;
	if (c->last > e->c.last)
		e->c.last = c->last;
	return 0;
}

static int
entry_cmp(const void *pa, const void *pb)
{
	const struct agg_entry *x = *(const struct agg_entry *const *)pa;
	const struct agg_entry *y = *(const struct agg_entry *const *)pb;
	int c;

	if (x->key.has_client != y->key.has_client)
		return x->key.has_client - y->key.has_client;
	if ((c = addr_cmp(&x->key.client, &y->key.client)) != 0)
		return c;
	if (x->key.untracked != y->key.untracked)
		return x->key.untracked - y->key.untracked;
	if (!x->key.host != !y->key.host)
		return x->key.host ? -1 : 1;
	if (x->key.host && (c = strcmp(x->key.host, y->key.host)) != 0)
		return c;
	if (x->key.app != y->key.app)
		return x->key.app < y->key.app ? -1 : 1;
	if (x->key.dpi_name != y->key.dpi_name)
		return (int)x->key.dpi_name - (int)y->key.dpi_name;
	if (x->key.country != y->key.country)
		return (int)x->key.country - (int)y->key.country;
	if (x->key.asn != y->key.asn)
		return x->key.asn < y->key.asn ? -1 : 1;
	if (x->key.as_org != y->key.as_org)
		return x->key.as_org < y->key.as_org ? -1 : 1;
	return 0;
}

/* Takes e out of its hash chain and frees it. */
static void
entry_drop(struct agg *a, struct agg_entry *e)
{
	struct agg_entry **link = &a->slots[e->hash & (a->n_slots - 1)];
	while (*link != e)
		link = &(*link)->next;
	*link = e->next;
	free(e);
	a->count--;
}

int
agg_emit_before(struct agg *a, int64_t t, agg_emit_fn fn, void *arg)
{
	for (;;) {
		/* the oldest bucket still held before t */
		struct agg_bucket *b = NULL;
		for (size_t i = 0; i < a->n_buckets; i++)
			if (a->buckets[i].start < t && (!b || a->buckets[i].start < b->start))
				b = &a->buckets[i];
		if (!b)
			return 0;
		size_t n = b->n;
		struct agg_entry **list = malloc((n ? n : 1) * sizeof(*list));
		if (!list)
			return -1;
		n = 0;
		for (struct agg_entry *e = b->head; e; e = e->bnext)
			list[n++] = e;
		qsort(list, n, sizeof(*list), entry_cmp);
		size_t done = 0;
		int rc = 0;
		for (; done < n; done++) {
			if (fn(arg, &list[done]->key, &list[done]->c) < 0) {
				rc = -1;
				break;
			}
		}
		/* forget what was handed out; what was not stays listed */
		for (size_t i = 0; i < done; i++)
			entry_drop(a, list[i]);
		b->head = NULL;
		b->n = 0;
		for (size_t i = n; i > done; i--) {
			list[i - 1]->bnext = b->head;
			b->head = list[i - 1];
			b->n++;
		}
		if (!b->head)
			*b = a->buckets[--a->n_buckets];
		free(list);
		if (rc < 0)
			return -1;
	}
}

uint64_t
agg_size(const struct agg *a)
{
	return a->count;
}
