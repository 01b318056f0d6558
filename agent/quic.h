/*
 * QUIC Initial packets from the client: derive the Initial keys from the
 * client's first Destination Connection ID, remove header protection,
 * decrypt, and reassemble CRYPTO frames (split over several packets, out
 * of order, several per datagram, as Chrome sends them) until the
 * ClientHello is whole; then its SNI. nDPI 4.2 only looks at the first
 * Initial, which misses most Chrome connections.
 */
#ifndef SHADOWMAP_QUIC_H
#define SHADOWMAP_QUIC_H

#include <stddef.h>
#include <stdint.h>

#include "names.h"

struct quic_ctx;

/* Once per process, before any other call (initialises libgcrypt if nobody
 * has). Returns 0 or -1. */
int quic_global_init(void);

/* Per-flow state; NULL when out of memory. */
struct quic_ctx *quic_ctx_new(void);
void quic_ctx_free(struct quic_ctx *q);

/* Cheap test on a UDP payload: a long-header Initial of a QUIC version we
 * can decrypt. */
int quic_is_initial(const uint8_t *payload, size_t len);

/*
 * Feeds one UDP payload sent by the client. Returns NAME_FOUND with the
 * normalised SNI in out (at least DOMAIN_MAX bytes), NAME_ABSENT when the
 * ClientHello is whole and has none, NAME_NEED_MORE while it is incomplete,
 * NAME_NOT_THIS when the flow is not QUIC we can read. Memory per flow is
 * bounded (CRYPTO data beyond QUIC_CRYPTO_MAX is ignored).
 */
#define QUIC_CRYPTO_MAX 16384
enum name_result quic_client_datagram(struct quic_ctx *q, const uint8_t *payload,
				      size_t len, char *out, size_t out_size);

#endif
