/*
 * Usage aggregation (aggregate.h). One hash table over all open buckets;
 * few buckets are ever open at once (the current one and, for a grace
 * period, the one before), so emission scans the table per bucket.
 */
#include <stdlib.h>
#include <string.h>

#include "shadowmap/hash.h"

#include "aggregate.h"

struct agg_entry {
	struct agg_entry *next;
	uint64_t hash;
	int emitted;
	struct agg_key key; /* key.host points at host_buf or is NULL */
	struct agg_counts c;
	char host_buf[];
};

struct agg {
	struct hash_key hkey;
	struct agg_entry **slots;
	size_t n_slots; /* power of two */
	uint64_t count;
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

int
agg_emit_before(struct agg *a, int64_t t, agg_emit_fn fn, void *arg)
{
	for (;;) {
		/* the oldest bucket still held before t */
		int64_t oldest = INT64_MAX;
		size_t n = 0;
		for (size_t i = 0; i < a->n_slots; i++)
			for (struct agg_entry *e = a->slots[i]; e; e = e->next)
				if (e->key.bucket < t && e->key.bucket < oldest)
					oldest = e->key.bucket;
		if (oldest == INT64_MAX)
			return 0;
		for (size_t i = 0; i < a->n_slots; i++)
			for (struct agg_entry *e = a->slots[i]; e; e = e->next)
				n += e->key.bucket == oldest;
		struct agg_entry **list = malloc(n * sizeof(*list));
		if (!list)
			return -1;
		n = 0;
		for (size_t i = 0; i < a->n_slots; i++)
			for (struct agg_entry *e = a->slots[i]; e; e = e->next)
				if (e->key.bucket == oldest)
					list[n++] = e;
		qsort(list, n, sizeof(*list), entry_cmp);
		int rc = 0;
		for (size_t i = 0; i < n; i++) {
			if (fn(arg, &list[i]->key, &list[i]->c) < 0) {
				rc = -1;
				break;
			}
			list[i]->emitted = 1;
		}
		/* unlink and free what was handed out */
		for (size_t i = 0; i < a->n_slots; i++) {
			struct agg_entry **link = &a->slots[i];
			while (*link) {
				struct agg_entry *e = *link;
				if (e->emitted) {
					*link = e->next;
					free(e);
					a->count--;
				} else {
					link = &e->next;
				}
			}
		}
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
