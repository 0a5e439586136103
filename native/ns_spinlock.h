/* ns_spinlock.h: a test-and-test-and-set spinlock for very short critical sections
 * (the ARP table shared between the dispatch loop and the tools).
 *
 * A spinlock never sleeps in the kernel, so it is cheap when the lock is held for a few
 * hundred nanoseconds, and wasteful when it is held longer: use a mutex for that.
 */
#ifndef NS_SPINLOCK_H
#define NS_SPINLOCK_H

#include <stdint.h>

typedef struct ns_spinlock ns_spinlock;

ns_spinlock *ns_spinlock_create(void); /* unlocked; NULL if out of memory */
void ns_spinlock_free(ns_spinlock *lock);

void ns_spinlock_lock(ns_spinlock *lock);
int ns_spinlock_trylock(ns_spinlock *lock); /* 1 if we now hold the lock, 0 if not */
void ns_spinlock_unlock(ns_spinlock *lock);
int ns_spinlock_is_locked(ns_spinlock *lock); /* a snapshot, for tests and asserts */

#endif /* NS_SPINLOCK_H */
