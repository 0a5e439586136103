/* ns_pool.h: a fixed pool of packet buffers shared by Python and the native I/O engine.
 *
 * Like DPDK's rte_mempool: `count` buffers of `buf_size` bytes, one contiguous block, and a
 * free list that is itself a multi-producer/multi-consumer ns_ring of buffer *indices*.
 * Any thread may take or return buffers at any time without a lock: the engine's I/O thread
 * takes them for received frames and returns them after sending, while the Python loop (and
 * application threads) take them to build frames and return them after dispatching.
 *
 * The memory block belongs to the caller (Python allocates it, so every view on a buffer
 * keeps it alive); the pool only hands out indices into it.
 */
#ifndef NS_POOL_H
#define NS_POOL_H

#include <stdint.h>

#include "ns_ring.h"

typedef struct ns_pool ns_pool;

/* NULL if count is 0 or above NS_RING_MAX_SIZE, buf_size is 0, or memory is short. All
 * `count` buffers start free. `memory` must hold count * buf_size bytes. */
ns_pool *ns_pool_create(uint32_t count, uint32_t buf_size, uint8_t *memory);
void ns_pool_free(ns_pool *pool);

/* Take up to n free buffers; returns how many indices were written to `indices`. */
unsigned ns_pool_get_burst(ns_pool *pool, uintptr_t *indices, unsigned n);
/* Return n buffers. Always succeeds for indices that were taken (the free ring can hold
 * every buffer); returns n, or 0 if n is larger than the pool (a caller bug). */
unsigned ns_pool_put_bulk(ns_pool *pool, const uintptr_t *indices, unsigned n);
/* Free buffers now: exact when no other thread is using the pool, a hint otherwise. */
unsigned ns_pool_available(const ns_pool *pool);

uint32_t ns_pool_count(const ns_pool *pool);
uint32_t ns_pool_buf_size(const ns_pool *pool);
/* The start of buffer `index` (no bounds check: callers validate indices). */
uint8_t *ns_pool_buffer(const ns_pool *pool, uint32_t index);

#endif /* NS_POOL_H */
