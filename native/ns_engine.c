/* ns_engine.c: the native I/O engine (see ns_engine.h for the picture and the word layout). */
#define _GNU_SOURCE  /* eventfd, pthreads, recvmsg and struct sockaddr_ll under -std=c11 */

#include "ns_engine.h"

#include <errno.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "ns_cpu.h"

/* The word packs three fields into one ring entry: it needs 64-bit entries. */
_Static_assert(sizeof(uintptr_t) == 8, "ring words must be 64 bits wide");

/* A frame bigger than a buffer spills into this, so we can tell it was too big (a short
 * read would otherwise truncate it silently). 64 KiB covers any GSO frame. */
#define OVERFLOW_SIZE 65536

struct ns_engine {
    int port_fd;
    int port_kind;
    int kick_fd;             /* eventfd: Python -> engine, "the out ring has words" */
    int rx_fd;               /* eventfd: engine -> Python, "the in ring has words" */
    ns_pool *pool;
    ns_ring *in_ring;
    ns_ring *out_ring;
    uint32_t headroom;
    unsigned burst;
    int busy_poll;
    uint64_t spin_ns;        /* idle this long (spinning) before sleeping; see engine_main */
    int port_failed;         /* poll() reported an error on the port: stop watching it */

    /* Each flag says "I am about to sleep, wake me": set by the sleeper, cleared by the
     * one who wakes it with an exchange, so exactly one eventfd write answers each sleep. */
    atomic_int engine_sleeping;
    atomic_int consumer_sleeping;
    atomic_int stopping;

    pthread_t thread;
    int started;
    _Atomic uint64_t stats[NS_STAT_COUNT];
    uint8_t overflow[OVERFLOW_SIZE];
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);  /* a vDSO call: no syscall */
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uintptr_t make_word(uintptr_t index, uint32_t off, uint32_t len)
{
    return index | ((uintptr_t)off << NS_WORD_OFF_SHIFT) | ((uintptr_t)len << NS_WORD_LEN_SHIFT);
}

/* The engine thread and, for frames sent directly (ns_engine_send), the Python thread
 * both count: an atomic add, relaxed (no ordering needed, only no lost updates). */
static inline void stat_add(ns_engine *e, int which, uint64_t n)
{
    atomic_fetch_add_explicit(&e->stats[which], n, memory_order_relaxed);
}

static void eventfd_signal(int fd)
{
    uint64_t one = 1;
    /* Only fails if the counter would overflow, i.e. the other side is awake anyway. */
    ssize_t ignored = write(fd, &one, sizeof one);
    (void)ignored;
}

/* Read one frame into `buf` (room bytes). Returns its length, 0 if nothing is waiting, -1
 * on an error. A frame longer than `room` returns its full length (the rest went to the
 * overflow area), for the caller to count and drop. */
static ssize_t read_frame(ns_engine *e, uint8_t *buf, size_t room)
{
    struct iovec iov[2] = {{buf, room}, {e->overflow, sizeof e->overflow}};
    for (;;) {
        ssize_t n;
        if (e->port_kind == NS_PORT_PACKET) {
            struct sockaddr_ll from;
            struct msghdr msg = {.msg_name = &from, .msg_namelen = sizeof from,
                                 .msg_iov = iov, .msg_iovlen = 2};
            n = recvmsg(e->port_fd, &msg, MSG_DONTWAIT);
            /* A packet socket also sees what we send, where PACKET_IGNORE_OUTGOING is
             * missing (kernels before 4.20): those are not received frames. */
            if (n >= 0 && from.sll_pkttype == PACKET_OUTGOING)
                continue;
        } else {
            n = readv(e->port_fd, iov, 2);
        }
        if (n > 0)
            return n;
        if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        if (errno == EINTR)
            continue;
        stat_add(e, NS_STAT_RX_ERROR, 1);
        return -1;
    }
}

/* One receive burst: port -> buffers -> in ring. Returns how many frames were read. */
static unsigned rx_burst(ns_engine *e)
{
    uintptr_t indices[NS_ENGINE_MAX_BURST];
    uintptr_t words[NS_ENGINE_MAX_BURST];
    unsigned got = ns_pool_get_burst(e->pool, indices, e->burst);
    if (got == 0) {
        /* Like a NIC out of descriptors: read a frame away and count it, or the port stays
         * readable and poll() returns at once, forever, while the pool is empty. */
        if (read_frame(e, e->overflow, sizeof e->overflow) <= 0)
            return 0;
        stat_add(e, NS_STAT_RX_NO_MBUF, 1);
        return 1;
    }
    size_t room = ns_pool_buf_size(e->pool) - e->headroom;
    unsigned used = 0, frames = 0;
    while (used < got) {
        uint8_t *start = ns_pool_buffer(e->pool, (uint32_t)indices[used]) + e->headroom;
        ssize_t n = read_frame(e, start, room);
        if (n <= 0)
            break;
        frames++;
        if ((size_t)n > room) {
            stat_add(e, NS_STAT_RX_TOO_BIG, 1);
            continue;  /* the same buffer takes the next frame */
        }
        words[used] = make_word(indices[used], e->headroom, (uint32_t)n);
        used++;
    }
    if (used < got)
        ns_pool_put_bulk(e->pool, indices + used, got - used);
    if (used == 0)
        return frames;

    unsigned queued = ns_ring_enqueue_burst(e->in_ring, words, used);
    if (queued < used) {
        /* Python is behind: drop the newest frames, as a NIC does when its queue is full. */
        stat_add(e, NS_STAT_RX_RING_FULL, used - queued);
        ns_pool_put_bulk(e->pool, indices + queued, used - queued);
    }
    stat_add(e, NS_STAT_RX, queued);
    if (queued > 0) {
        /* Pairs with the fence in ns_engine_consumer_idle: either Python sees our words
         * when it looks at the ring before sleeping, or we see that it sleeps. */
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_exchange(&e->consumer_sleeping, 0))
            eventfd_signal(e->rx_fd);
    }
    return frames;
}

/* Write the frames of n words (n <= NS_ENGINE_MAX_BURST) to the port, then give their
 * buffers back to the pool. */
static void write_words(ns_engine *e, const uintptr_t *words, unsigned n)
{
    uintptr_t done[NS_ENGINE_MAX_BURST];
    unsigned freed = 0;
    uint32_t count = ns_pool_count(e->pool), buf_size = ns_pool_buf_size(e->pool);
    for (unsigned i = 0; i < n; i++) {
        uintptr_t index = words[i] & (((uintptr_t)1 << NS_WORD_INDEX_BITS) - 1);
        uint32_t off = (uint32_t)(words[i] >> NS_WORD_OFF_SHIFT) & 0xFFFF;
        uint32_t len = (uint32_t)(words[i] >> NS_WORD_LEN_SHIFT);
        /* Python wrote this word; a bad one must not make us write or free random memory. */
        if (index >= count || (size_t)off + len > buf_size) {
            stat_add(e, NS_STAT_TX_ERROR, 1);
            continue;
        }
        const uint8_t *frame = ns_pool_buffer(e->pool, (uint32_t)index) + off;
        ssize_t sent;
        do {
            sent = e->port_kind == NS_PORT_PACKET ? send(e->port_fd, frame, len, MSG_DONTWAIT)
                                                  : write(e->port_fd, frame, len);
        } while (sent < 0 && errno == EINTR);
        if (sent >= 0)
            stat_add(e, NS_STAT_TX, 1);
        else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
            stat_add(e, NS_STAT_TX_BUSY, 1);
        else
            stat_add(e, NS_STAT_TX_ERROR, 1);  /* e.g. EIO: the interface is down */
        done[freed++] = index;
    }
    if (freed)
        ns_pool_put_bulk(e->pool, done, freed);
}

/* One transmit burst: out ring -> port -> buffers back to the pool. Returns frames taken. */
static unsigned tx_burst(ns_engine *e)
{
    uintptr_t words[NS_ENGINE_MAX_BURST];
    unsigned n = ns_ring_dequeue_burst(e->out_ring, words, e->burst);
    write_words(e, words, n);
    return n;
}

/* Block until the port is readable or Python kicks us. */
static void sleep_until_work(ns_engine *e)
{
    atomic_store(&e->engine_sleeping, 1);
    /* Pairs with the fence in ns_engine_kick: Python put words on the out ring and then
     * read our flag; we set the flag and then read the ring. One of us sees the other. */
    atomic_thread_fence(memory_order_seq_cst);
    if (ns_ring_count(e->out_ring) > 0 || atomic_load(&e->stopping)) {
        atomic_store(&e->engine_sleeping, 0);
        return;
    }
    struct pollfd fds[2] = {{.fd = e->kick_fd, .events = POLLIN},
                            {.fd = e->port_failed ? -1 : e->port_fd, .events = POLLIN}};
    int ready = poll(fds, 2, -1);
    atomic_store(&e->engine_sleeping, 0);
    stat_add(e, NS_STAT_WAKEUPS, 1);
    if (ready <= 0)
        return;
    if (fds[0].revents & POLLIN) {
        uint64_t value;
        ssize_t ignored = read(e->kick_fd, &value, sizeof value);  /* reset the counter */
        (void)ignored;
    }
    if (fds[1].revents & (POLLERR | POLLHUP | POLLNVAL)) {
        /* A vanished device would make poll() return at once forever: stop watching it. */
        e->port_failed = 1;
        stat_add(e, NS_STAT_RX_ERROR, 1);
    }
}

/* The thread. After work it keeps looking for spin_ns before it sleeps: an answer that
 * Python puts on the out ring within that time, or the next request on the port, then
 * costs no wake-up (a sleeping thread takes tens of microseconds to wake on this kind of
 * VM, more than Python needs for an echo). Truly idle, it sleeps in poll(). */
static void *engine_main(void *arg)
{
    ns_engine *e = arg;
    uint64_t idle_since = 0;  /* 0: the last look found work */
    while (!atomic_load_explicit(&e->stopping, memory_order_relaxed)) {
        unsigned work = tx_burst(e);
        if (!e->port_failed)
            work += rx_burst(e);
        if (work) {
            idle_since = 0;
            continue;
        }
        if (e->busy_poll) {
            ns_cpu_relax();  /* DPDK style: never sleep, just look again */
            continue;
        }
        if (e->spin_ns) {
            uint64_t now = now_ns();
            if (idle_since == 0)
                idle_since = now;
            if (now - idle_since < e->spin_ns) {
                ns_cpu_relax();
                continue;
            }
        }
        idle_since = 0;
        sleep_until_work(e);
    }
    return NULL;
}

ns_engine *ns_engine_create(int port_fd, int port_kind, ns_pool *pool, ns_ring *in_ring,
                            ns_ring *out_ring, uint32_t headroom, unsigned burst,
                            int busy_poll)
{
    if (port_fd < 0 || (port_kind != NS_PORT_FD && port_kind != NS_PORT_PACKET) ||
        pool == NULL || in_ring == NULL || out_ring == NULL || burst == 0 ||
        burst > NS_ENGINE_MAX_BURST || headroom >= ns_pool_buf_size(pool) ||
        headroom > 0xFFFF)
        return NULL;
    ns_engine *e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    e->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    e->rx_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (e->kick_fd < 0 || e->rx_fd < 0) {
        if (e->kick_fd >= 0)
            close(e->kick_fd);
        if (e->rx_fd >= 0)
            close(e->rx_fd);
        free(e);
        return NULL;
    }
    e->port_fd = port_fd;
    e->port_kind = port_kind;
    e->pool = pool;
    e->in_ring = in_ring;
    e->out_ring = out_ring;
    e->headroom = headroom;
    e->burst = burst;
    e->busy_poll = busy_poll;
    return e;
}

int ns_engine_start(ns_engine *e)
{
    if (e->started)
        return EBUSY;
    atomic_store(&e->stopping, 0);
    int err = pthread_create(&e->thread, NULL, engine_main, e);
    if (err == 0)
        e->started = 1;
    return err;
}

void ns_engine_stop(ns_engine *e)
{
    if (!e->started)
        return;
    atomic_store(&e->stopping, 1);
    eventfd_signal(e->kick_fd);  /* unconditionally: it may be asleep in poll() right now */
    pthread_join(e->thread, NULL);
    e->started = 0;
}

void ns_engine_free(ns_engine *e)
{
    if (e == NULL)
        return;
    ns_engine_stop(e);
    close(e->kick_fd);
    close(e->rx_fd);
    free(e);
}

void ns_engine_kick(ns_engine *e)
{
    atomic_thread_fence(memory_order_seq_cst);  /* see sleep_until_work */
    if (atomic_load_explicit(&e->engine_sleeping, memory_order_relaxed) &&
        atomic_exchange(&e->engine_sleeping, 0))
        eventfd_signal(e->kick_fd);
}

unsigned ns_engine_send(ns_engine *e, const uintptr_t *words, unsigned n)
{
    /* The engine asleep and the out ring empty: every frame queued before was written (the
     * thread sets its flag only after its last tx_burst), and Python is the ring's only
     * producer, so writing these here cannot reorder anything. It spares the wake-up of a
     * sleeping thread, the larger part of a round trip's cost at one request in flight. */
    if (n <= NS_ENGINE_MAX_BURST && atomic_load(&e->engine_sleeping) &&
        ns_ring_count(e->out_ring) == 0) {
        write_words(e, words, n);
        return n;
    }
    unsigned queued = ns_ring_enqueue_burst(e->out_ring, words, n);
    if (queued)
        ns_engine_kick(e);
    return queued;
}

unsigned ns_engine_consumer_idle(ns_engine *e)
{
    atomic_store(&e->consumer_sleeping, 1);
    atomic_thread_fence(memory_order_seq_cst);  /* see rx_burst */
    unsigned waiting = ns_ring_count(e->in_ring);
    if (waiting > 0)  /* it will not sleep after all: spare us the eventfd write */
        atomic_store(&e->consumer_sleeping, 0);
    return waiting;
}

void ns_engine_set_spin(ns_engine *e, uint32_t spin_us)
{
    e->spin_ns = (uint64_t)spin_us * 1000u;  /* read by the thread: set before ns_engine_start */
}

int ns_engine_spin_rx(ns_engine *e, uint32_t spin_us, int wake_fd)
{
    /* We are awake and looking: the engine need not write our eventfd meanwhile. */
    atomic_store(&e->consumer_sleeping, 0);
    uint64_t end = now_ns() + (uint64_t)spin_us * 1000u;
    for (unsigned i = 1;; i++) {
        if (ns_ring_count(e->in_ring) > 0)
            return 1;
        if ((i & 63) == 0) {  /* every few hundred ns: the other fd and the clock */
            struct pollfd p = {.fd = wake_fd, .events = POLLIN};
            if (wake_fd >= 0 && poll(&p, 1, 0) > 0)
                return 2;
            if (now_ns() >= end)
                return 0;
        }
        ns_cpu_relax();
    }
}

int ns_engine_rx_fd(const ns_engine *e)
{
    return e->rx_fd;
}

void ns_engine_stats(const ns_engine *e, uint64_t *out)
{
    for (int i = 0; i < NS_STAT_COUNT; i++)
        out[i] = atomic_load_explicit(&e->stats[i], memory_order_relaxed);
}
