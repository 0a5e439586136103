/* ns_ring.h: a bounded, lock-free ring of machine words (modelled on DPDK's rte_ring).
 *
 * The stack moves packets between threads by putting mbuf *indices* in rings; the ring
 * itself knows nothing about what the words mean.
 *
 * - `size` is a power of two, 2 <= size <= NS_RING_MAX_SIZE.
 * - The usable capacity is exactly `size` (not size - 1): the positions are free-running
 *   32-bit counters, so "full" (prod - cons == size) and "empty" (prod - cons == 0) never
 *   look alike, and no slot has to be sacrificed to tell them apart.
 * - Flags choose, at creation, whether one or several threads may enqueue (NS_RING_SP) and
 *   dequeue (NS_RING_SC) at the same time. The single modes are cheaper (no CAS), but are
 *   only correct if the caller really has a single producer / consumer.
 * - "bulk" calls move all n entries or none; "burst" calls move as many as they can.
 *   Every call returns how many entries it moved.
 */
#ifndef NS_RING_H
#define NS_RING_H

#include <stddef.h>
#include <stdint.h>

#define NS_RING_SP 1u             /* single producer: only one thread enqueues */
#define NS_RING_SC 2u             /* single consumer: only one thread dequeues */
#define NS_RING_MAX_SIZE (1u << 24)

typedef struct ns_ring ns_ring;

/* Returns NULL if size is not a power of two in [2, NS_RING_MAX_SIZE] or memory is short. */
ns_ring *ns_ring_create(uint32_t size, unsigned flags);
void ns_ring_free(ns_ring *r);

/* A ring in memory the caller owns (as rte_ring_init): shared memory mapped by several
 * processes, at any address (the ring holds no pointers). ns_ring_memsize says how many
 * bytes it needs (0 for a bad size); the memory must be 64-byte aligned. ns_ring_init
 * lays an empty ring there and returns it (NULL for a bad size or alignment). */
size_t ns_ring_memsize(uint32_t size);
ns_ring *ns_ring_init(void *mem, uint32_t size, unsigned flags);
/* The ring in `mem` if its size and mode are exactly those given, else NULL: a process
 * attaching to a ring another one laid out, or checking that nobody scribbled over the
 * fields that keep accesses in bounds, before trusting it. */
ns_ring *ns_ring_attach(void *mem, uint32_t size, unsigned flags);

unsigned ns_ring_enqueue_bulk(ns_ring *r, const uintptr_t *objs, unsigned n);
unsigned ns_ring_enqueue_burst(ns_ring *r, const uintptr_t *objs, unsigned n);
unsigned ns_ring_dequeue_bulk(ns_ring *r, uintptr_t *objs, unsigned n);
unsigned ns_ring_dequeue_burst(ns_ring *r, uintptr_t *objs, unsigned n);

/* A snapshot: exact when no other thread is using the ring, a hint otherwise. */
unsigned ns_ring_count(const ns_ring *r);
unsigned ns_ring_free_count(const ns_ring *r);
unsigned ns_ring_capacity(const ns_ring *r);

/* Test hook: make an *empty*, unused ring start counting at `position`, so a test can
 * cross the 2^32 wrap of the counters without four billion operations. */
void ns_ring_set_position(ns_ring *r, uint32_t position);

#endif /* NS_RING_H */
