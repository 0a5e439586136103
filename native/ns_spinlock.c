/* ns_spinlock.c: see ns_spinlock.h.
 *
 * Test-and-test-and-set: a waiting thread spins on a plain *load* of the flag, which it
 * can serve from its own cache, and only tries the expensive atomic exchange once the
 * flag looks free. Spinning on the exchange itself would make every waiter pull the cache
 * line over for writing on every iteration, slowing down the owner too.
 *
 * Ordering: a successful exchange is an *acquire* (the critical section cannot start
 * before we own the lock), and unlock is a *release* store (everything done inside is
 * visible to the next owner before it sees the lock free).
 */
#define _POSIX_C_SOURCE 200809L /* for sched_yield() under -std=c11 */

#include "ns_spinlock.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "ns_cpu.h"

#define SPINS_BEFORE_YIELD 1024

struct ns_spinlock {
    atomic_bool locked;
};

ns_spinlock *ns_spinlock_create(void)
{
    ns_spinlock *lock = malloc(sizeof *lock);
    if (lock != NULL)
        atomic_init(&lock->locked, false);
    return lock;
}

void ns_spinlock_free(ns_spinlock *lock)
{
    free(lock);
}

int ns_spinlock_trylock(ns_spinlock *lock)
{
    /* Test first: don't take the line for writing just to learn the lock is held. */
    if (atomic_load_explicit(&lock->locked, memory_order_relaxed))
        return 0;
    return !atomic_exchange_explicit(&lock->locked, true, memory_order_acquire);
}

void ns_spinlock_lock(ns_spinlock *lock)
{
    unsigned spins = 0;
    while (!ns_spinlock_trylock(lock)) {
        while (atomic_load_explicit(&lock->locked, memory_order_relaxed)) {
            ns_cpu_relax();
            /* More threads than CPUs: the owner may be waiting for ours. */
            if (++spins % SPINS_BEFORE_YIELD == 0)
                sched_yield();
        }
    }
}

void ns_spinlock_unlock(ns_spinlock *lock)
{
    atomic_store_explicit(&lock->locked, false, memory_order_release);
}

int ns_spinlock_is_locked(ns_spinlock *lock)
{
    return atomic_load_explicit(&lock->locked, memory_order_relaxed);
}
