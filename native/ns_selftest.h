/* ns_selftest.h: stress loops for the tests (the stack never calls these).
 *
 * Python holds the GIL between calls, which hides most races: these loops run entirely
 * in C, so several Python threads calling them at once really do race on the ring or the
 * lock (cffi releases the GIL during the call).
 */
#ifndef NS_SELFTEST_H
#define NS_SELFTEST_H

#include <stdint.h>

#include "ns_ring.h"
#include "ns_spinlock.h"

/* A one-shot start line: ns_gate_wait() returns once `parties` threads have called it,
 * so stress loops started from several Python threads really overlap (otherwise the
 * first thread could finish before the last one has even been scheduled). */
typedef struct ns_gate ns_gate;
ns_gate *ns_gate_create(unsigned parties);
void ns_gate_free(ns_gate *gate);
void ns_gate_wait(ns_gate *gate);

/* Wait at `gate` (if not NULL), then `iterations` times: take `lock`, do a plain
 * (non-atomic) read-increment-write of *counter, release. Threads running this together
 * lose no increment only if the lock works. With lock == NULL it runs unprotected. */
void ns_spinlock_stress(ns_spinlock *lock, uint64_t *counter, uint64_t iterations,
                        ns_gate *gate);

/* Wait at `gate` (if not NULL), then enqueue (producer_id << 24 | seq) for seq = 0 ..
 * count-1 (count <= 2^24), in pseudo-random bursts of 1 to max_burst entries (at most
 * 64), mixing bulk and burst calls; spins while the ring is full. */
void ns_ring_stress_produce(ns_ring *r, uint32_t producer_id, uint32_t count,
                            uint32_t max_burst, uint32_t seed, ns_gate *gate);

/* Wait at `gate` (if not NULL), then dequeue exactly `count` entries into out[0 ..
 * count-1], in pseudo-random bursts of 1 to max_burst (at most 64), mixing bulk and
 * burst calls; spins while the ring is empty. */
void ns_ring_stress_consume(ns_ring *r, uintptr_t *out, uint32_t count, uint32_t max_burst,
                            uint32_t seed, ns_gate *gate);

#endif /* NS_SELFTEST_H */
