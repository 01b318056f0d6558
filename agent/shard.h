/*
 * Sharded runs (threads > 1): the capture thread reads and decodes every
 * frame once, keeps the clock all engines share and reads DNS answers;
 * each packet goes to the worker thread that owns its client, which runs
 * an engine of its own (engine.h); a merger sums the workers' buckets.
 * Same summaries as one engine; design and limits in docs/threads.md.
 */
#ifndef SHADOWMAP_SHARD_H
#define SHADOWMAP_SHARD_H

#include <stdatomic.h>
#include <stdint.h>

#include "shadowmap/sig.h"

#include "engine.h"
#include "geo.h"

struct shard_pool;

/* Memory holding frames given to shard_pool_frame_pinned: whoever holds a
 * reference may read them; the last one to drop it calls release. */
struct shard_pin {
	atomic_uint refs;
	void (*release)(struct shard_pin *pin);
};

static inline void
shard_pin_hold(struct shard_pin *pin)
{
	atomic_fetch_add_explicit(&pin->refs, 1, memory_order_relaxed);
}

static inline void
shard_pin_drop(struct shard_pin *pin)
{
	if (atomic_fetch_sub_explicit(&pin->refs, 1, memory_order_acq_rel) == 1)
		pin->release(pin);
}

/*
 * A pool of n workers (2 or more) whose summaries and flow records go to
 * sinks. max_flows and max_detecting of cfg are shared out (each worker
 * gets its part, rounded up); the DNS cache is not: every worker learns
 * every answer. Allocates only: no thread runs before shard_pool_start.
 * sigs and geodb must outlive the pool. NULL on failure (logged).
 */
struct shard_pool *shard_pool_new(unsigned n, const struct engine_config *cfg,
				  const sig_db *sigs, geo *geodb,
				  const struct engine_sinks *sinks);

/* Starts the worker threads, which set up their engines (nDPI and all)
 * while the capture thread reads on. Call once, after dropping
 * privileges. 0, or -1 (logged). */
int shard_pool_start(struct shard_pool *sp);

/* As engine_frame and engine_tick; from the capture thread only. */
void shard_pool_frame(struct shard_pool *sp, int dlt, int64_t ts_usec, const uint8_t *frame,
		      uint32_t caplen, uint32_t wirelen);
void shard_pool_tick(struct shard_pool *sp, int64_t now_usec);

/* As shard_pool_frame for a frame that pin keeps in place: the workers
 * read it there, not from a copy, and hold pin until they have. */
void shard_pool_frame_pinned(struct shard_pool *sp, int dlt, int64_t ts_usec,
			     const uint8_t *frame, uint32_t caplen, uint32_t wirelen,
			     struct shard_pin *pin);

/* Hands what is queued for the workers over now, not when a batch is
 * full: live capture calls it when the link is quiet and once a second. */
void shard_pool_flush(struct shard_pool *sp);

/* End of input: every worker ends its flows, every bucket goes to the
 * sinks, the threads are joined. 0, or -1 when a sink failed or a worker
 * could not start. */
int shard_pool_finish(struct shard_pool *sp);

/* A sink failed, or a worker could not start: stop reading. */
int shard_pool_failed(const struct shard_pool *sp);

/* The counters of all engines and of the capture thread, summed; exact
 * after shard_pool_finish. */
void shard_pool_get_stats(const struct shard_pool *sp, struct engine_stats *st);

/* Around the capture thread's own calls on the sinks while workers run. */
void shard_pool_sinks_lock(struct shard_pool *sp);
void shard_pool_sinks_unlock(struct shard_pool *sp);

/* Finishes first if needed (summaries still go out). */
void shard_pool_free(struct shard_pool *sp);

#endif
