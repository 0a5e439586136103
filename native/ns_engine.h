/* ns_engine.h: the native I/O engine, a C thread that moves frames between a port's file
 * descriptor and two rings, without the GIL.
 *
 *   port fd --read burst--> buffers from the pool --> in ring  --> Python dispatch loop
 *   port fd <--write------- buffers back to the pool <-- out ring <-- Python dispatch loop
 *
 * Ring entries are 64-bit words that carry everything the other thread needs to know about
 * a buffer, so no Python object and no shared Python state crosses between the threads:
 *
 *   bits  0..31  buffer index in the pool
 *   bits 32..47  data_off: where the frame starts in the buffer
 *   bits 48..63  data_len: how many bytes the frame has
 *
 * Sleeping and waking. When idle, the engine thread blocks in poll() on the port fd and a
 * "kick" eventfd; Python calls ns_engine_kick() after it put words on the out ring. The
 * Python loop blocks in its own poll() on the "rx" eventfd (ns_engine_rx_fd), which the
 * engine writes after it put words on the in ring. Each side writes the other's eventfd only
 * when the other said it was going to sleep, so a busy pipeline costs no wake-up syscalls.
 * With busy_poll, the engine never sleeps: it spins over the port and the out ring.
 */
#ifndef NS_ENGINE_H
#define NS_ENGINE_H

#include <stdint.h>

#include "ns_pool.h"
#include "ns_ring.h"

#define NS_WORD_INDEX_BITS 32
#define NS_WORD_OFF_SHIFT 32
#define NS_WORD_LEN_SHIFT 48
#define NS_ENGINE_MAX_BURST 256

/* How the engine talks to the descriptor. */
#define NS_PORT_FD 0      /* read()/write() whole frames: a TAP device */
#define NS_PORT_PACKET 1  /* an AF_PACKET socket: recvmsg() (skipping our own outgoing
                           * frames) and send() */

/* Counters, written by the engine thread only (read them with ns_engine_stats). */
enum {
    NS_STAT_RX = 0,          /* frames read and put on the in ring */
    NS_STAT_TX,              /* frames written to the port */
    NS_STAT_RX_NO_MBUF,      /* frames read and dropped: the pool was empty */
    NS_STAT_RX_TOO_BIG,      /* frames larger than a buffer */
    NS_STAT_RX_RING_FULL,    /* frames read and dropped: the in ring was full */
    NS_STAT_RX_ERROR,        /* read errors other than "nothing waiting" */
    NS_STAT_TX_BUSY,         /* writes refused with EAGAIN */
    NS_STAT_TX_ERROR,        /* other write errors, and malformed out-ring words */
    NS_STAT_WAKEUPS,         /* times the engine thread returned from poll() */
    NS_STAT_COUNT
};

typedef struct ns_engine ns_engine;

/* NULL on bad arguments or when eventfds cannot be made. The engine borrows port_fd, the
 * pool and the rings: the caller keeps them alive until ns_engine_free. `headroom` is the
 * data_off of received frames. */
ns_engine *ns_engine_create(int port_fd, int port_kind, ns_pool *pool, ns_ring *in_ring,
                            ns_ring *out_ring, uint32_t headroom, unsigned burst,
                            int busy_poll);
/* Start the thread; 0 on success, an errno value otherwise. */
int ns_engine_start(ns_engine *engine);
/* Ask the thread to end and wait for it (safe if it never started). */
void ns_engine_stop(ns_engine *engine);
/* Stop, then release the eventfds and the engine. */
void ns_engine_free(ns_engine *engine);

/* Python -> engine: "I put words on the out ring"; a syscall only if the engine sleeps. */
void ns_engine_kick(ns_engine *engine);
/* Python -> port: send n frames. Written at once on the caller's thread when the engine
 * sleeps with an empty out ring (no wake-up needed), else put on the out ring and kicked.
 * Returns how many were taken (the rest: the ring was full; they stay the caller's). */
unsigned ns_engine_send(ns_engine *engine, const uintptr_t *words, unsigned n);
/* Python is about to sleep: after this, the engine writes the rx eventfd when it adds to
 * the in ring. Returns the in ring's count: if not 0, do not sleep. */
unsigned ns_engine_consumer_idle(ns_engine *engine);
/* After work, keep looking for spin_us microseconds before sleeping (0: sleep at once).
 * Call before ns_engine_start. */
void ns_engine_set_spin(ns_engine *engine, uint32_t spin_us);
/* Python, with the GIL released, instead of sleeping at once: spin up to spin_us for words
 * on the in ring (returns 1) or for `wake_fd` to become readable (2; -1: none); 0 if
 * neither came. Call ns_engine_consumer_idle again before sleeping after a 0. */
int ns_engine_spin_rx(ns_engine *engine, uint32_t spin_us, int wake_fd);
/* The eventfd the Python loop polls for "the in ring has words". */
int ns_engine_rx_fd(const ns_engine *engine);
/* Copy the NS_STAT_COUNT counters to `out` (a snapshot while the thread runs). */
void ns_engine_stats(const ns_engine *engine, uint64_t *out);

#endif /* NS_ENGINE_H */
