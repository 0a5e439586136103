/* ns_selftest.c: see ns_selftest.h. */
#define _POSIX_C_SOURCE 200809L /* for sched_yield() under -std=c11 */

#include "ns_selftest.h"

#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>

#include "ns_cpu.h"

#define MAX_STRESS_BURST 64
#define MISSES_BEFORE_YIELD 64

struct ns_gate {
    atomic_uint arrived;
    unsigned parties;
};

ns_gate *ns_gate_create(unsigned parties)
{
    ns_gate *gate = malloc(sizeof *gate);
    if (gate != NULL) {
        atomic_init(&gate->arrived, 0);
        gate->parties = parties;
    }
    return gate;
}

void ns_gate_free(ns_gate *gate)
{
    free(gate);
}

/* The ring is full or empty, or a gate is still closed: let the other side run, and give
 * up the CPU now and then (the tests start more threads than there are CPUs). */
static void wait_a_little(unsigned *misses)
{
    ns_cpu_relax();
    if (++*misses % MISSES_BEFORE_YIELD == 0)
        sched_yield();
}

void ns_gate_wait(ns_gate *gate)
{
    unsigned misses = 0;
    atomic_fetch_add(&gate->arrived, 1);
    while (atomic_load(&gate->arrived) < gate->parties)
        wait_a_little(&misses);
}

void ns_spinlock_stress(ns_spinlock *lock, uint64_t *counter, uint64_t iterations,
                        ns_gate *gate)
{
    if (gate != NULL)
        ns_gate_wait(gate);
    /* volatile: really load and store the counter every time, as a longer critical
     * section would, instead of letting the compiler keep it in a register. */
    volatile uint64_t *shared = counter;
    for (uint64_t i = 0; i < iterations; i++) {
        if (lock != NULL)
            ns_spinlock_lock(lock);
        *shared = *shared + 1;
        if (lock != NULL)
            ns_spinlock_unlock(lock);
    }
}

/* xorshift32: a tiny deterministic generator, so a failing run can be repeated. */
static uint32_t next_random(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

static uint32_t burst_size(uint32_t *state, uint32_t max_burst, uint32_t left)
{
    if (max_burst > MAX_STRESS_BURST)
        max_burst = MAX_STRESS_BURST;
    uint32_t n = 1 + next_random(state) % (max_burst ? max_burst : 1);
    return n < left ? n : left;
}

void ns_ring_stress_produce(ns_ring *r, uint32_t producer_id, uint32_t count,
                            uint32_t max_burst, uint32_t seed, ns_gate *gate)
{
    uintptr_t batch[MAX_STRESS_BURST];
    uint32_t state = seed ? seed : 1, sent = 0;
    unsigned misses = 0;
    if (gate != NULL)
        ns_gate_wait(gate);
    while (sent < count) {
        uint32_t n = burst_size(&state, max_burst, count - sent);
        for (uint32_t i = 0; i < n; i++)
            batch[i] = ((uintptr_t)producer_id << 24) | (sent + i);
        unsigned done = (next_random(&state) & 1) ? ns_ring_enqueue_bulk(r, batch, n)
                                                  : ns_ring_enqueue_burst(r, batch, n);
        if (done == 0)
            wait_a_little(&misses);
        sent += done;
    }
}

void ns_ring_stress_consume(ns_ring *r, uintptr_t *out, uint32_t count, uint32_t max_burst,
                            uint32_t seed, ns_gate *gate)
{
    uint32_t state = seed ? seed : 1, got = 0;
    unsigned misses = 0;
    if (gate != NULL)
        ns_gate_wait(gate);
    while (got < count) {
        uint32_t n = burst_size(&state, max_burst, count - got);
        unsigned done = (next_random(&state) & 1) ? ns_ring_dequeue_bulk(r, out + got, n)
                                                  : ns_ring_dequeue_burst(r, out + got, n);
        if (done == 0)
            wait_a_little(&misses);
        got += done;
    }
}
