/*
 * DNS responses parsed for their addresses, and the cache that maps a server
 * address back to the name a client asked for (see dns.h and
 * docs/dns-cache.md). Both take their input straight off the wire.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shadowmap/hash.h"

#include "dns.h"

/* ---- parser ------------------------------------------------------------ */

#define DNS_HDR_LEN 12
#define DNS_NAME_WIRE_MAX 255 /* RFC 1035 2.3.4, length bytes and root included */
#define DNS_MAX_HOPS 128      /* compression jumps in one name: one per label at most */
#define DNS_MAX_CNAMES 64     /* CNAME records of one answer considered for the chain */

#define DNS_FLAG_QR 0x8000
#define DNS_TYPE_A 1
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_AAAA 28
#define DNS_CLASS_IN 1

/* A name in wire form with ASCII folded to lower case, so that two names
 * compare equal (RFC 4343) with one memcmp whatever their compression. */
struct dns_wname {
	size_t len;
	uint8_t b[DNS_NAME_WIRE_MAX];
};

struct dns_rr {
	size_t owner_off;
	uint16_t type, rclass;
	uint32_t ttl;
	size_t rdata_off;
	uint16_t rdlen;
};

static uint16_t
dns_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
dns_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * Reads the name at off into out; *next gets the offset just after the name
 * where it was written (after its first pointer, if any). Every pointer must
 * aim before the start of the run of labels that holds it: positions then
 * strictly decrease, so no loop survives, and the hop bound caps the work.
 */
static int
dns_name_read(const uint8_t *msg, size_t len, size_t off, size_t *next,
	      struct dns_wname *out)
{
	size_t pos = off, run_start = off, n = 0;
	int jumped = 0, hops = 0;

	for (;;) {
		if (pos >= len)
			return -1;
		uint8_t b = msg[pos];
		if ((b & 0xc0) == 0xc0) {
			if (pos + 1 >= len)
				return -1;
			size_t target = (size_t)(b & 0x3f) << 8 | msg[pos + 1];
			if (target < DNS_HDR_LEN || target >= run_start || ++hops > DNS_MAX_HOPS)
				return -1;
			if (!jumped)
				*next = pos + 2;
			jumped = 1;
			pos = run_start = target;
			continue;
		}
		if (b & 0xc0) /* 0x40 extended label types (RFC 6891), 0x80 reserved */
			return -1;
		if (b == 0) {
			out->b[n++] = 0;
			out->len = n;
			if (!jumped)
				*next = pos + 1;
			return 0;
		}
		/* this label, and room left for the root after it */
		if (n + 1 + b + 1 > DNS_NAME_WIRE_MAX || len - pos - 1 < b)
			return -1;
		out->b[n++] = b;
		for (size_t i = 0; i < b; i++) {
			uint8_t c = msg[pos + 1 + i];
			if (c >= 'A' && c <= 'Z')
				c = (uint8_t)(c - 'A' + 'a');
			out->b[n++] = c;
		}
		pos += 1 + (size_t)b;
	}
}

static int
dns_wname_eq(const struct dns_wname *a, const struct dns_wname *b)
{
	return a->len == b->len && memcmp(a->b, b->b, a->len) == 0;
}

/* Dotted text of a wire name, then normalised. A '.' inside a label would
 * read back as a different name, so such names are not names here. */
static int
dns_wname_text(const struct dns_wname *w, char *out, size_t out_size)
{
	char text[DNS_NAME_WIRE_MAX];
	size_t n = 0, i = 0;

	while (i < w->len && w->b[i] != 0) {
		size_t lab = w->b[i++];
		if (n > 0)
			text[n++] = '.';
		if (memchr(&w->b[i], '.', lab))
			return -1;
		memcpy(&text[n], &w->b[i], lab);
		n += lab;
		i += lab;
	}
	/* n < DNS_NAME_WIRE_MAX: the wire form spends one more byte than the
	 * text on the first label and on the root */
	if (domain_normalize(text, n, out, out_size) < 0)
		return -1;
	return 0;
}

/* Reads the resource record at *pos and moves *pos past it. */
static int
dns_rr_read(const uint8_t *msg, size_t len, size_t *pos, struct dns_rr *rr,
	    struct dns_wname *owner)
{
	size_t p;

	rr->owner_off = *pos;
	if (dns_name_read(msg, len, *pos, &p, owner) < 0)
		return -1;
	if (len - p < 10)
		return -1;
	rr->type = dns_be16(msg + p);
	rr->rclass = dns_be16(msg + p + 2);
	rr->ttl = dns_be32(msg + p + 4);
	rr->rdlen = dns_be16(msg + p + 8);
	p += 10;
	if (len - p < rr->rdlen)
		return -1;
	rr->rdata_off = p;
	*pos = p + rr->rdlen;
	return 0;
}

static void
dns_answer_keep(struct dns_answer *out, const struct sm_addr *a, uint32_t ttl)
{
	for (size_t i = 0; i < out->n_addrs; i++) {
		if (addr_cmp(&out->addrs[i].addr, a) == 0) {
			if (ttl > out->addrs[i].ttl)
				out->addrs[i].ttl = ttl;
			return;
		}
	}
	if (out->n_addrs >= DNS_MAX_ADDRS)
		return;
	out->addrs[out->n_addrs].addr = *a;
	out->addrs[out->n_addrs].ttl = ttl;
	out->n_addrs++;
}

int
dns_parse_response(const uint8_t *msg, size_t len, struct dns_answer *out)
{
	struct dns_wname chain[DNS_MAX_CHAIN + 1], owner, target;
	size_t cname_at[DNS_MAX_CNAMES]; /* where each CNAME record starts */
	size_t n_chain = 1, n_cnames = 0, pos, answers_start;
	uint16_t flags, n_answers;
	struct dns_rr rr;

	if (!out)
		return -1;
	out->qname[0] = '\0';
	out->n_addrs = 0;
	if (!msg || len < DNS_HDR_LEN)
		goto fail;
	flags = dns_be16(msg + 2);
	/* QR set, opcode QUERY (bits 11-14 zero), rcode NOERROR */
	if (!(flags & DNS_FLAG_QR) || (flags & 0x7800) != 0 || (flags & 0x000f) != 0)
		goto fail;
	/* Nobody sends several questions (RFC 9619); their answers could not
	 * be told apart, so such a message names nothing. */
	if (dns_be16(msg + 4) != 1)
		goto fail;
	n_answers = dns_be16(msg + 6);

	if (dns_name_read(msg, len, DNS_HDR_LEN, &pos, &chain[0]) < 0 || len - pos < 4)
		goto fail;
	pos += 4; /* QTYPE, QCLASS */
	if (dns_wname_text(&chain[0], out->qname, sizeof(out->qname)) < 0)
		goto fail;
	answers_start = pos;

	/* First walk: check every answer record and remember the CNAMEs. */
	for (uint16_t i = 0; i < n_answers; i++) {
		size_t start = pos, end;
		if (dns_rr_read(msg, len, &pos, &rr, &owner) < 0)
			goto fail;
		if (rr.type != DNS_TYPE_CNAME || rr.rclass != DNS_CLASS_IN)
			continue;
		if (dns_name_read(msg, len, rr.rdata_off, &end, &target) < 0 ||
		    end != rr.rdata_off + rr.rdlen)
			goto fail;
		if (n_cnames < DNS_MAX_CNAMES)
			cname_at[n_cnames++] = start;
	}

	/* Follow the chain from the question: each step re-reads the CNAMEs
	 * (at most DNS_MAX_CHAIN x DNS_MAX_CNAMES names, a bounded cost)
	 * rather than keep 64 names of 255 bytes on the stack. An owner with
	 * several CNAMEs (which RFC 2181 10.1 forbids) follows the first. */
	for (;;) {
		int found = 0;
		for (size_t k = 0; k < n_cnames && !found; k++) {
			size_t at = cname_at[k], end;
			if (dns_rr_read(msg, len, &at, &rr, &owner) < 0 ||
			    !dns_wname_eq(&owner, &chain[n_chain - 1]))
				continue;
			if (dns_name_read(msg, len, rr.rdata_off, &end, &target) < 0)
				goto fail;
			found = 1;
		}
		if (!found)
			break;
		for (size_t k = 0; k < n_chain; k++)
			if (dns_wname_eq(&target, &chain[k]))
				goto fail; /* a loop: the answer is bogus */
		if (n_chain > DNS_MAX_CHAIN)
			goto fail;
		chain[n_chain++] = target;
	}

	/* Second walk: the addresses owned by a name on the chain. */
	pos = answers_start;
	for (uint16_t i = 0; i < n_answers; i++) {
		struct sm_addr a;
		if (dns_rr_read(msg, len, &pos, &rr, &owner) < 0)
			goto fail;
		if (rr.rclass != DNS_CLASS_IN)
			continue;
		if (rr.type == DNS_TYPE_A && rr.rdlen == 4)
			addr_from_v4(&a, msg + rr.rdata_off);
		else if (rr.type == DNS_TYPE_AAAA && rr.rdlen == 16)
			addr_from_v6(&a, msg + rr.rdata_off);
		else
			continue;
		for (size_t k = 0; k < n_chain; k++) {
			if (dns_wname_eq(&owner, &chain[k])) {
				dns_answer_keep(out, &a, rr.ttl & 0x80000000u ? 0 : rr.ttl);
				break;
			}
		}
	}
	return 0;
fail:
	out->qname[0] = '\0';
	out->n_addrs = 0;
	return -1;
}

/* ---- cache ------------------------------------------------------------- */

#define CHUNK_SHIFT 10
#define CHUNK_SIZE (1u << CHUNK_SHIFT)
#define DNS_CACHE_MAX_ENTRIES (1u << 26)
#define SWEEP_PER_ADD 2   /* entries checked for expiry on every add */
#define EVICT_SCAN 8      /* entries from the LRU tail checked for expiry when full */
#define USEC_PER_SEC 1000000

/* One interned name, shared by every slot that holds it. */
struct dns_name {
	struct dns_name *next;
	uint64_t hash;
	uint32_t refs;
	uint16_t len;
	char s[]; /* NUL-terminated */
};

struct dns_slot {
	struct sm_addr client;
	struct dns_name *name; /* NULL: free */
	int64_t expires;       /* usec; live while now < expires */
	uint64_t seq;          /* insertion order, cache-wide */
};

struct dns_entry {
	struct sm_addr server;
	uint32_t hnext;              /* hash chain, or the free list */
	uint32_t lru_prev, lru_next; /* ids, 0 = none */
	uint8_t in_use;
	struct dns_slot slots[DNS_CACHE_SLOTS];
};

struct dns_cache {
	struct hash_key hkey;
	uint32_t max_entries;
	uint32_t count;
	uint32_t allocated; /* ids handed out so far, live or free-listed */
	uint32_t free_head;
	uint32_t mask;
	uint32_t *buckets;
	struct dns_entry **chunks;
	uint32_t n_chunks;
	uint32_t lru_head, lru_tail; /* head: most recently answered */
	uint32_t sweep_next;
	uint64_t seq;
	int64_t ttl_floor, ttl_max; /* seconds */
	struct dns_name **names;
	uint32_t name_mask;
	struct dns_cache_stats st;
};

static inline struct dns_entry *
cache_entry(const dns_cache *c, uint32_t id)
{
	uint32_t i = id - 1;
	return &c->chunks[i >> CHUNK_SHIFT][i & (CHUNK_SIZE - 1)];
}

static uint32_t
cache_bucket(const dns_cache *c, const struct sm_addr *a)
{
	return (uint32_t)(hash_bytes(&c->hkey, a->b, sizeof(a->b)) & c->mask);
}

static uint32_t
pow2_at_least(uint32_t n)
{
	uint32_t p = 64;
	while (p < n)
		p <<= 1;
	return p;
}

dns_cache *
dns_cache_new(size_t max_entries, uint32_t ttl_floor, uint32_t ttl_max)
{
	dns_cache *c = NULL;

	if (max_entries == 0 || max_entries > DNS_CACHE_MAX_ENTRIES || ttl_floor > ttl_max)
		goto fail;
	c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	c->max_entries = (uint32_t)max_entries;
	c->ttl_floor = ttl_floor;
	c->ttl_max = ttl_max;
	c->mask = pow2_at_least(c->max_entries) - 1;
	/* names number at most DNS_CACHE_SLOTS per address, usually far
	 * fewer (one name for many addresses): chains stay short */
	c->name_mask = pow2_at_least(c->max_entries) - 1;
	c->n_chunks = (c->max_entries + CHUNK_SIZE - 1) / CHUNK_SIZE;
	c->buckets = calloc((size_t)c->mask + 1, sizeof(*c->buckets));
	c->names = calloc((size_t)c->name_mask + 1, sizeof(*c->names));
	c->chunks = calloc(c->n_chunks, sizeof(*c->chunks));
	if (!c->buckets || !c->names || !c->chunks)
		goto fail;
	hash_key_random(&c->hkey);
	return c;
fail:
	dns_cache_free(c);
	return NULL;
}

void
dns_cache_free(dns_cache *c)
{
	if (!c)
		return;
	if (c->names) {
		for (uint32_t i = 0; i <= c->name_mask; i++) {
			struct dns_name *n = c->names[i], *next;
			for (; n; n = next) {
				next = n->next;
				free(n);
			}
		}
	}
	if (c->chunks)
		for (uint32_t i = 0; i < c->n_chunks; i++)
			free(c->chunks[i]);
	free(c->chunks);
	free(c->names);
	free(c->buckets);
	free(c);
}

/* Returns the interned copy of s with one more reference, or NULL. */
static struct dns_name *
name_get(dns_cache *c, const char *s, size_t len)
{
	uint64_t h = hash_bytes(&c->hkey, s, len);
	struct dns_name **head = &c->names[h & c->name_mask], *n;

	for (n = *head; n; n = n->next) {
		if (n->hash == h && n->len == len && memcmp(n->s, s, len) == 0) {
			n->refs++;
			return n;
		}
	}
	n = malloc(sizeof(*n) + len + 1);
	if (!n)
		return NULL;
	n->hash = h;
	n->refs = 1;
	n->len = (uint16_t)len;
	memcpy(n->s, s, len);
	n->s[len] = '\0';
	n->next = *head;
	*head = n;
	return n;
}

static void
name_put(dns_cache *c, struct dns_name *n)
{
	if (!n || --n->refs > 0)
		return;
	struct dns_name **pp = &c->names[n->hash & c->name_mask];
	while (*pp != n)
		pp = &(*pp)->next;
	*pp = n->next;
	free(n);
}

static void
lru_unlink(dns_cache *c, struct dns_entry *e)
{
	if (e->lru_prev)
		cache_entry(c, e->lru_prev)->lru_next = e->lru_next;
	else
		c->lru_head = e->lru_next;
	if (e->lru_next)
		cache_entry(c, e->lru_next)->lru_prev = e->lru_prev;
	else
		c->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = 0;
}

static void
lru_push_head(dns_cache *c, struct dns_entry *e, uint32_t id)
{
	e->lru_prev = 0;
	e->lru_next = c->lru_head;
	if (c->lru_head)
		cache_entry(c, c->lru_head)->lru_prev = id;
	else
		c->lru_tail = id;
	c->lru_head = id;
}

static uint32_t
cache_find(const dns_cache *c, const struct sm_addr *server)
{
	uint32_t id = c->buckets[cache_bucket(c, server)];
	while (id) {
		struct dns_entry *e = cache_entry(c, id);
		if (addr_cmp(&e->server, server) == 0)
			return id;
		id = e->hnext;
	}
	return 0;
}

/* Frees the names of expired slots; returns how many slots stay live. */
static int
entry_prune(dns_cache *c, struct dns_entry *e, int64_t now)
{
	int live = 0;
	for (int i = 0; i < DNS_CACHE_SLOTS; i++) {
		struct dns_slot *s = &e->slots[i];
		if (!s->name)
			continue;
		if (now < s->expires) {
			live++;
			continue;
		}
		name_put(c, s->name);
		s->name = NULL;
	}
	return live;
}

static void
entry_release(dns_cache *c, uint32_t id)
{
	struct dns_entry *e = cache_entry(c, id);
	uint32_t *pp = &c->buckets[cache_bucket(c, &e->server)];

	for (int i = 0; i < DNS_CACHE_SLOTS; i++) {
		name_put(c, e->slots[i].name);
		e->slots[i].name = NULL;
	}
	while (*pp != id)
		pp = &cache_entry(c, *pp)->hnext;
	*pp = e->hnext;
	lru_unlink(c, e);
	e->in_use = 0;
	e->hnext = c->free_head;
	c->free_head = id;
	c->count--;
}

/*
 * Reclaims expired addresses a few at a time, round the pool, so that they
 * go before live ones are evicted and their names are freed without a
 * full scan ever being needed.
 */
static void
cache_sweep(dns_cache *c, int64_t now)
{
	for (int k = 0; k < SWEEP_PER_ADD && c->count > 0; k++) {
		if (c->sweep_next == 0 || c->sweep_next > c->allocated)
			c->sweep_next = 1;
		uint32_t id = c->sweep_next++;
		struct dns_entry *e = cache_entry(c, id);
		if (e->in_use && entry_prune(c, e, now) == 0) {
			entry_release(c, id);
			c->st.expired++;
		}
	}
}

/* An unused entry: a free one, a new one, or one reclaimed; 0 on OOM. */
static uint32_t
entry_alloc(dns_cache *c, int64_t now)
{
	uint32_t id;

	if (c->count >= c->max_entries) {
		/* Full: an expired address near the LRU tail goes first (the
		 * sweep finds the others), else the least recently answered. */
		id = c->lru_tail;
		for (int k = 0; k < EVICT_SCAN && id; k++) {
			struct dns_entry *e = cache_entry(c, id);
			if (entry_prune(c, e, now) == 0) {
				entry_release(c, id);
				c->st.expired++;
				goto take_free;
			}
			id = e->lru_prev;
		}
		entry_release(c, c->lru_tail);
		c->st.evictions++;
	}
take_free:
	if (c->free_head) {
		id = c->free_head;
		c->free_head = cache_entry(c, id)->hnext;
		return id;
	}
	uint32_t chunk = c->allocated >> CHUNK_SHIFT;
	if (!c->chunks[chunk]) {
		c->chunks[chunk] = calloc(CHUNK_SIZE, sizeof(struct dns_entry));
		if (!c->chunks[chunk])
			return 0;
	}
	return ++c->allocated;
}

static void
cache_add_named(dns_cache *c, const struct sm_addr *client, struct dns_name *name,
		const struct sm_addr *server, uint32_t ttl, int64_t now)
{
	static const struct sm_addr no_client;
	struct dns_entry *e;
	struct dns_slot *slot = NULL;
	int64_t life = ttl;

	if (!client)
		client = &no_client;
	cache_sweep(c, now);
	uint32_t id = cache_find(c, server);
	if (id) {
		e = cache_entry(c, id);
		lru_unlink(c, e);
		lru_push_head(c, e, id);
		entry_prune(c, e, now); /* expired slots are free ones */
	} else {
		id = entry_alloc(c, now);
		if (!id) {
			c->st.alloc_failures++;
			return;
		}
		e = cache_entry(c, id);
		memset(e, 0, sizeof(*e));
		e->server = *server;
		e->in_use = 1;
		uint32_t b = cache_bucket(c, server);
		e->hnext = c->buckets[b];
		c->buckets[b] = id;
		lru_push_head(c, e, id);
		c->count++;
	}

	/* the same answer again, else a free slot, else the oldest */
	for (int i = 0; i < DNS_CACHE_SLOTS && !slot; i++)
		if (e->slots[i].name == name && addr_cmp(&e->slots[i].client, client) == 0)
			slot = &e->slots[i];
	for (int i = 0; i < DNS_CACHE_SLOTS && !slot; i++)
		if (!e->slots[i].name)
			slot = &e->slots[i];
	if (!slot) {
		slot = &e->slots[0];
		for (int i = 1; i < DNS_CACHE_SLOTS; i++)
			if (e->slots[i].seq < slot->seq)
				slot = &e->slots[i];
	}
	if (slot->name != name) {
		name_put(c, slot->name);
		name->refs++;
		slot->name = name;
	}
	if (life < c->ttl_floor)
		life = c->ttl_floor;
	if (life > c->ttl_max)
		life = c->ttl_max;
	slot->client = *client;
	life *= USEC_PER_SEC;
	/* capture clocks are untrusted: saturate rather than wrap */
	slot->expires = now > INT64_MAX - life ? INT64_MAX : now + life;
	slot->seq = ++c->seq;
	c->st.inserts++;
}

void
dns_cache_add(dns_cache *c, const struct sm_addr *client, const char *name,
	      const struct sm_addr *addr, uint32_t ttl, int64_t now_usec)
{
	if (!c || !name || !addr)
		return;
	size_t len = strnlen(name, DOMAIN_MAX);
	if (len == 0 || len >= DOMAIN_MAX)
		return;
	/* our own reference keeps the name alive while slots churn */
	struct dns_name *n = name_get(c, name, len);
	if (!n) {
		c->st.alloc_failures++;
		return;
	}
	cache_add_named(c, client, n, addr, ttl, now_usec);
	name_put(c, n);
}

void
dns_cache_add_answer(dns_cache *c, const struct sm_addr *client,
		     const struct dns_answer *ans, int64_t now_usec)
{
	if (!c || !ans || ans->n_addrs == 0)
		return;
	size_t len = strnlen(ans->qname, DOMAIN_MAX);
	if (len == 0 || len >= DOMAIN_MAX)
		return;
	struct dns_name *n = name_get(c, ans->qname, len);
	if (!n) {
		c->st.alloc_failures++;
		return;
	}
	for (size_t i = 0; i < ans->n_addrs && i < DNS_MAX_ADDRS; i++)
		cache_add_named(c, client, n, &ans->addrs[i].addr, ans->addrs[i].ttl, now_usec);
	name_put(c, n);
}

const char *
dns_cache_lookup(dns_cache *c, const struct sm_addr *client,
		 const struct sm_addr *server, int64_t now_usec)
{
	static const struct sm_addr no_client;
	const struct dns_slot *own = NULL, *any = NULL;

	if (!c || !server)
		return NULL;
	if (!client)
		client = &no_client;
	uint32_t id = cache_find(c, server);
	if (!id)
		goto miss;
	struct dns_entry *e = cache_entry(c, id);
	for (int i = 0; i < DNS_CACHE_SLOTS; i++) {
		const struct dns_slot *s = &e->slots[i];
		if (!s->name || now_usec >= s->expires)
			continue;
		if (!any || s->seq > any->seq)
			any = s;
		if (addr_cmp(&s->client, client) == 0 && (!own || s->seq > own->seq))
			own = s;
	}
	if (!any) {
		entry_release(c, id);
		c->st.expired++;
		goto miss;
	}
	c->st.hits++;
	return own ? own->name->s : any->name->s;
miss:
	c->st.misses++;
	return NULL;
}

void
dns_cache_get_stats(const dns_cache *c, struct dns_cache_stats *st)
{
	if (!st)
		return;
	memset(st, 0, sizeof(*st));
	if (!c)
		return;
	*st = c->st;
	st->entries = c->count;
}
