/*
 * Keyed hashing (SipHash-1-3) for tables whose keys come off the network:
 * with a random key, an attacker cannot aim packets at one bucket.
 */
#ifndef SHADOWMAP_HASH_H
#define SHADOWMAP_HASH_H

#include <stddef.h>
#include <stdint.h>

struct hash_key {
	uint64_t k0, k1;
};

/* Fills key from getrandom(); falls back to time and pid if that fails. */
void hash_key_random(struct hash_key *key);
uint64_t hash_bytes(const struct hash_key *key, const void *data, size_t len);

#endif
