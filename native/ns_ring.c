/* ns_ring.c: the bounded ring (see ns_ring.h for the contract).
 *
 * How it works
 * ============
 * The ring is an array of `size` slots and four counters, grouped as two head/tail pairs:
 *
 *     prod.head  next position a producer will claim
 *     prod.tail  every position below it has been written: consumers may read up to here
 *     cons.head  next position a consumer will claim
 *     cons.tail  every position below it has been read: producers may overwrite up to here
 *
 * Positions only ever grow (they wrap at 2^32, and all arithmetic is unsigned, so
 * differences stay right across the wrap); a position p lives in slot p & mask. At any
 * moment   cons.tail <= cons.head <= prod.tail <= prod.head <= cons.tail + size.
 *
 * Enqueueing n entries takes two phases; dequeueing is the mirror image.
 *  1. Reserve. Read prod.head and cons.tail: free = size + cons.tail - prod.head. Move
 *     prod.head forward by n (or fewer for a burst). With one producer that is a plain
 *     store. With several, two of them may have read the same head, so the move is a
 *     compare-and-swap: the loser sees the new head and tries again. Once it succeeds,
 *     slots [old_head, old_head + n) belong to this thread alone.
 *  2. Publish. Copy the entries into those slots, then advance prod.tail from old_head to
 *     old_head + n. Producers that reserved earlier may still be copying, and the tail
 *     must never pass an unwritten slot, so we first wait until prod.tail == old_head.
 *     Reservations are therefore published in the order they were made.
 *
 * Memory ordering (C11 atomics), the pairs that make it safe:
 *  - A producer stores prod.tail with *release*; a consumer loads prod.tail with
 *    *acquire*. So a consumer that sees the new tail also sees the entries written before.
 *  - Symmetrically cons.tail (release) / its load by producers (acquire): a producer
 *    never overwrites a slot before the consumer that owned it has finished reading it.
 *  - The "wait for my turn" loop loads the tail with acquire, so the publications form
 *    one chain: a consumer that sees producer B's tail also sees producer A's entries.
 *  - Heads are loaded with acquire and moved with acq_rel. A thread that sees a head
 *    another thread moved then also sees a cons.tail (or prod.tail) at least as new as
 *    the one that thread used. Without it, a fresh head and a stale tail could make
 *    `free` wrap around to a huge number and overfill the ring.
 * The slots themselves are plain memory: the orderings above make every access to a
 * slot happen-before the next access from another thread.
 *
 * Known limit (shared with rte_ring): a thread preempted between its two phases holds up
 * the publications behind it. The waiters yield the CPU after a while so that it can run.
 */
#define _POSIX_C_SOURCE 200809L /* for sched_yield() under -std=c11 */

#include "ns_ring.h"

#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ns_cpu.h"

#define CACHE_LINE 64
#define SPINS_BEFORE_YIELD 1024

struct ns_headtail {
    _Atomic uint32_t head;
    _Atomic uint32_t tail;
    bool single; /* only one thread moves this pair: no CAS, no waiting */
};

struct ns_ring {
    uint32_t size;
    uint32_t mask;
    /* Producers and consumers write different pairs: separate cache lines keep one side
     * from invalidating the other's line on every operation (false sharing). */
    alignas(CACHE_LINE) struct ns_headtail prod;
    alignas(CACHE_LINE) struct ns_headtail cons;
    alignas(CACHE_LINE) uintptr_t slots[];
};

static bool is_power_of_two(uint32_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

size_t ns_ring_memsize(uint32_t size)
{
    if (size < 2 || size > NS_RING_MAX_SIZE || !is_power_of_two(size))
        return 0;
    size_t bytes = sizeof(ns_ring) + (size_t)size * sizeof(uintptr_t);
    return (bytes + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE; /* aligned_alloc wants this */
}

ns_ring *ns_ring_init(void *mem, uint32_t size, unsigned flags)
{
    size_t bytes = ns_ring_memsize(size);
    if (bytes == 0 || mem == NULL || (uintptr_t)mem % CACHE_LINE != 0)
        return NULL;
    ns_ring *r = mem;
    memset(r, 0, bytes);
    r->size = size;
    r->mask = size - 1;
    atomic_init(&r->prod.head, 0);
    atomic_init(&r->prod.tail, 0);
    atomic_init(&r->cons.head, 0);
    atomic_init(&r->cons.tail, 0);
    r->prod.single = (flags & NS_RING_SP) != 0;
    r->cons.single = (flags & NS_RING_SC) != 0;
    return r;
}

ns_ring *ns_ring_attach(void *mem, uint32_t size, unsigned flags)
{
    ns_ring *r = mem;
    if (ns_ring_memsize(size) == 0 || mem == NULL || (uintptr_t)mem % CACHE_LINE != 0)
        return NULL;
    if (r->size != size || r->mask != size - 1 || r->prod.single != ((flags & NS_RING_SP) != 0)
        || r->cons.single != ((flags & NS_RING_SC) != 0))
        return NULL;
    return r;
}

ns_ring *ns_ring_create(uint32_t size, unsigned flags)
{
    size_t bytes = ns_ring_memsize(size);
    if (bytes == 0)
        return NULL;
    void *mem = aligned_alloc(CACHE_LINE, bytes);
    if (mem == NULL)
        return NULL;
    return ns_ring_init(mem, size, flags);
}

void ns_ring_free(ns_ring *r)
{
    free(r);
}

/* Phase 1: reserve up to `want` positions on `mine`. `other` is the opposite pair, whose
 * tail bounds us; `slack` is size for producers (free = size + cons.tail - prod.head) and
 * 0 for consumers (available = prod.tail - cons.head). Returns the number reserved (0 or
 * `want` when `all_or_nothing`) and the first reserved position in *start. */
static uint32_t reserve(struct ns_headtail *mine, struct ns_headtail *other, uint32_t slack,
                        uint32_t want, bool all_or_nothing, uint32_t *start)
{
    uint32_t old_head = atomic_load_explicit(&mine->head, memory_order_acquire);
    uint32_t n;
    for (;;) {
        uint32_t other_tail = atomic_load_explicit(&other->tail, memory_order_acquire);
        uint32_t available = slack + other_tail - old_head;
        n = want;
        if (n > available)
            n = all_or_nothing ? 0 : available;
        if (n == 0)
            return 0;
        if (mine->single) {
            atomic_store_explicit(&mine->head, old_head + n, memory_order_relaxed);
            break;
        }
        /* On failure old_head is refreshed with the current head, and we recompute. */
        if (atomic_compare_exchange_weak_explicit(&mine->head, &old_head, old_head + n,
                                                  memory_order_acq_rel,
                                                  memory_order_acquire))
            break;
    }
    *start = old_head;
    return n;
}

/* Phase 2: make positions [start, start + n) visible to the other side. */
static void publish(struct ns_headtail *mine, uint32_t start, uint32_t n)
{
    if (!mine->single) {
        unsigned spins = 0;
        while (atomic_load_explicit(&mine->tail, memory_order_acquire) != start) {
            ns_cpu_relax();
            if (++spins % SPINS_BEFORE_YIELD == 0)
                sched_yield(); /* the thread we wait for may not be running */
        }
    }
    atomic_store_explicit(&mine->tail, start + n, memory_order_release);
}

static unsigned enqueue(ns_ring *r, const uintptr_t *objs, unsigned want, bool bulk)
{
    uint32_t start;
    uint32_t n = reserve(&r->prod, &r->cons, r->size, want, bulk, &start);
    if (n == 0)
        return 0;
    for (uint32_t i = 0; i < n; i++)
        r->slots[(start + i) & r->mask] = objs[i];
    publish(&r->prod, start, n);
    return n;
}

static unsigned dequeue(ns_ring *r, uintptr_t *objs, unsigned want, bool bulk)
{
    uint32_t start;
    uint32_t n = reserve(&r->cons, &r->prod, 0, want, bulk, &start);
    if (n == 0)
        return 0;
    for (uint32_t i = 0; i < n; i++)
        objs[i] = r->slots[(start + i) & r->mask];
    publish(&r->cons, start, n);
    return n;
}

unsigned ns_ring_enqueue_bulk(ns_ring *r, const uintptr_t *objs, unsigned n)
{
    return enqueue(r, objs, n, true);
}

unsigned ns_ring_enqueue_burst(ns_ring *r, const uintptr_t *objs, unsigned n)
{
    return enqueue(r, objs, n, false);
}

unsigned ns_ring_dequeue_bulk(ns_ring *r, uintptr_t *objs, unsigned n)
{
    return dequeue(r, objs, n, true);
}

unsigned ns_ring_dequeue_burst(ns_ring *r, uintptr_t *objs, unsigned n)
{
    return dequeue(r, objs, n, false);
}

unsigned ns_ring_count(const ns_ring *r)
{
    /* cons.tail first: prod.tail only grows, so reading it second can't give a negative
     * count. It can exceed size while threads race, hence the clamp. */
    uint32_t cons_tail = atomic_load_explicit(&r->cons.tail, memory_order_acquire);
    uint32_t prod_tail = atomic_load_explicit(&r->prod.tail, memory_order_acquire);
    uint32_t n = prod_tail - cons_tail;
    return n > r->size ? r->size : n;
}

unsigned ns_ring_free_count(const ns_ring *r)
{
    return r->size - ns_ring_count(r);
}

unsigned ns_ring_capacity(const ns_ring *r)
{
    return r->size;
}

void ns_ring_set_position(ns_ring *r, uint32_t position)
{
    atomic_store(&r->prod.head, position);
    atomic_store(&r->prod.tail, position);
    atomic_store(&r->cons.head, position);
    atomic_store(&r->cons.tail, position);
}
