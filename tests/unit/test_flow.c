/*
 * Flow table: canonical keys, lookups both ways, the capacity limit, LRU
 * order per timeout class, slot reuse with generations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "flow.h"

static struct sm_addr
v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	uint8_t raw[4] = { a, b, c, d };
	struct sm_addr x;
	addr_from_v4(&x, raw);
	return x;
}

static void
test_key_is_direction_free(void **state)
{
	(void)state;
	struct sm_addr c = v4(10, 0, 0, 1), s = v4(1, 2, 3, 4);
	struct flow_key k1, k2;
	int lo1, lo2;

	flow_key_make(&k1, &c, 51000, &s, 443, 6, &lo1);
	flow_key_make(&k2, &s, 443, &c, 51000, 6, &lo2);
	assert_memory_equal(&k1, &k2, sizeof(k1));
	assert_int_not_equal(lo1, lo2);
	/* same addresses, ports decide the order */
	flow_key_make(&k1, &c, 2000, &c, 1000, 17, &lo1);
	assert_int_equal(k1.port_lo, 1000);
	assert_int_equal(lo1, 0);
	/* protocol is part of the key */
	flow_key_make(&k2, &c, 2000, &c, 1000, 6, &lo2);
	assert_memory_not_equal(&k1, &k2, sizeof(k1));
}

static void
test_insert_lookup_remove(void **state)
{
	(void)state;
	struct flow_table *t = flow_table_new(100);
	assert_non_null(t);
	struct sm_addr c = v4(10, 0, 0, 1), s = v4(1, 2, 3, 4);
	struct flow_key k, back;
	int lo;

	flow_key_make(&k, &c, 40000, &s, 443, 6, &lo);
	uint64_t h = flow_table_hash(t, &k);
	assert_null(flow_table_lookup(t, &k, h));
	struct flow *f = flow_table_insert(t, &k, h, FLOW_TC_TCP);
	assert_non_null(f);
	assert_int_equal(f->app, -1);
	assert_int_equal(f->pend[0].bucket, FLOW_NO_BUCKET);
	assert_int_equal(flow_table_count(t), 1);

	flow_key_make(&back, &s, 443, &c, 40000, 6, &lo);
	assert_ptr_equal(flow_table_lookup(t, &back, flow_table_hash(t, &back)), f);

	uint32_t id = f->id, gen = f->generation;
	assert_ptr_equal(flow_table_get(t, id, gen), f);
	flow_table_remove(t, f);
	assert_int_equal(flow_table_count(t), 0);
	assert_null(flow_table_lookup(t, &k, h));
	assert_null(flow_table_get(t, id, gen));

	/* the slot comes back with a new generation */
	struct flow *g = flow_table_insert(t, &k, h, FLOW_TC_TCP);
	assert_non_null(g);
	assert_int_equal(g->id, id);
	assert_int_not_equal(g->generation, gen);
	assert_null(flow_table_get(t, id, gen));
	flow_table_free(t);
}

static void
test_capacity_is_a_hard_limit(void **state)
{
	(void)state;
	/* more than one chunk (4096) to cover chunk allocation */
	const uint32_t max = 5000;
	struct flow_table *t = flow_table_new(max);
	struct sm_addr s = v4(1, 2, 3, 4);
	struct flow_key k;
	int lo;

	for (uint32_t i = 0; i < max; i++) {
		struct sm_addr c = v4(10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i);
		flow_key_make(&k, &c, 40000, &s, 443, 6, &lo);
		assert_non_null(flow_table_insert(t, &k, flow_table_hash(t, &k), FLOW_TC_TCP));
	}
	assert_int_equal(flow_table_count(t), max);
	struct sm_addr extra = v4(192, 168, 0, 1);
	flow_key_make(&k, &extra, 40000, &s, 443, 6, &lo);
	assert_null(flow_table_insert(t, &k, flow_table_hash(t, &k), FLOW_TC_TCP));

	/* every flow is still found */
	for (uint32_t i = 0; i < max; i += 7) {
		struct sm_addr c = v4(10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i);
		flow_key_make(&k, &c, 40000, &s, 443, 6, &lo);
		struct flow *f = flow_table_lookup(t, &k, flow_table_hash(t, &k));
		assert_non_null(f);
		assert_memory_equal(&f->key, &k, sizeof(k));
	}
	/* freeing one makes room for one */
	struct sm_addr c0 = v4(10, 0, 0, 0);
	flow_key_make(&k, &c0, 40000, &s, 443, 6, &lo);
	flow_table_remove(t, flow_table_lookup(t, &k, flow_table_hash(t, &k)));
	flow_key_make(&k, &extra, 40000, &s, 443, 6, &lo);
	assert_non_null(flow_table_insert(t, &k, flow_table_hash(t, &k), FLOW_TC_TCP));
	flow_table_free(t);
}

static void
count_one(struct flow *f, void *arg)
{
	(void)f;
	(*(int *)arg)++;
}

static void
test_lru_per_class(void **state)
{
	(void)state;
	struct flow_table *t = flow_table_new(16);
	struct sm_addr s = v4(1, 2, 3, 4);
	struct flow *f[4];
	struct flow_key k;
	int lo;

	for (int i = 0; i < 4; i++) {
		struct sm_addr c = v4(10, 0, 0, (uint8_t)(i + 1));
		flow_key_make(&k, &c, 40000, &s, 53, 17, &lo);
		f[i] = flow_table_insert(t, &k, flow_table_hash(t, &k), FLOW_TC_UDP);
	}
	assert_ptr_equal(flow_table_oldest(t, FLOW_TC_UDP), f[0]);
	flow_table_touch(t, f[0], FLOW_TC_UDP);
	assert_ptr_equal(flow_table_oldest(t, FLOW_TC_UDP), f[1]);
	/* moving to another class takes it out of this list */
	flow_table_touch(t, f[1], FLOW_TC_TCP_CLOSED);
	assert_ptr_equal(flow_table_oldest(t, FLOW_TC_UDP), f[2]);
	assert_ptr_equal(flow_table_oldest(t, FLOW_TC_TCP_CLOSED), f[1]);
	assert_int_equal(f[1]->tclass, FLOW_TC_TCP_CLOSED);
	assert_null(flow_table_oldest(t, FLOW_TC_TCP));
	/* removal in the middle keeps the list whole */
	flow_table_remove(t, f[3]);
	assert_ptr_equal(flow_table_oldest(t, FLOW_TC_UDP), f[2]);
	flow_table_remove(t, f[2]);
	assert_ptr_equal(flow_table_oldest(t, FLOW_TC_UDP), f[0]);
	flow_table_remove(t, f[0]);
	assert_null(flow_table_oldest(t, FLOW_TC_UDP));
	int n = 0;
	flow_table_foreach(t, count_one, &n);
	assert_int_equal(n, 1);
	flow_table_free(t);
}

static void
test_ipv6_keys(void **state)
{
	(void)state;
	struct flow_table *t = flow_table_new(8);
	uint8_t a6[16] = { 0xfd, 0, 0, 0x20, [15] = 5 }, b6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	struct sm_addr a, b;
	struct flow_key k1, k2;
	int lo;
	addr_from_v6(&a, a6);
	addr_from_v6(&b, b6);
	flow_key_make(&k1, &a, 50000, &b, 443, 17, &lo);
	struct flow *f = flow_table_insert(t, &k1, flow_table_hash(t, &k1), FLOW_TC_UDP);
	flow_key_make(&k2, &b, 443, &a, 50000, 17, &lo);
	assert_ptr_equal(flow_table_lookup(t, &k2, flow_table_hash(t, &k2)), f);
	assert_false(addr_is_v4(&a));
	flow_table_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_is_direction_free),
		cmocka_unit_test(test_insert_lookup_remove),
		cmocka_unit_test(test_capacity_is_a_hard_limit),
		cmocka_unit_test(test_lru_per_class),
		cmocka_unit_test(test_ipv6_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
