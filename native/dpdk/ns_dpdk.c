/* ns_dpdk.c: see ns_dpdk.h. Each function is a line or two of DPDK; the comments say why. */
#include "ns_dpdk.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

/* ------------------------------------------------------------------ EAL */

/* The Linux EAL logs to stdout (and syslog) by default; `netstack run` prints its own
 * "ready" line on stdout, so DPDK's chatter goes to stderr instead. Legal before init. */
void ns_dpdk_log_to_stderr(void) { rte_openlog_stream(stderr); }

int ns_dpdk_eal_init(int argc, char **argv) { return rte_eal_init(argc, argv); }
int ns_dpdk_eal_cleanup(void) { return rte_eal_cleanup(); }
int ns_dpdk_errno(void) { return rte_errno; }
const char *ns_dpdk_strerror(int error) { return rte_strerror(error); }

/* Python captures what the EAL prints during init by pointing fds 1 and 2 at a file;
 * C's stdio buffers must reach that file before Python points them back. */
void ns_dpdk_flush_stdio(void)
{
    fflush(stdout);
    fflush(stderr);
}

/* ------------------------------------------------------------------ the mbuf pool */

struct rte_mempool *ns_dpdk_pool_create(const char *name, unsigned count, uint16_t data_room)
{
    /* No per-lcore cache: the engine may run on a thread the EAL does not know (no lcore
     * id, so no cache), and Python keeps its own small cache in front of the pool. */
    return rte_pktmbuf_pool_create(name, count, 0, 0, data_room, (int)rte_socket_id());
}

void ns_dpdk_pool_free(struct rte_mempool *pool) { rte_mempool_free(pool); }

unsigned ns_dpdk_pool_available(const struct rte_mempool *pool)
{
    return rte_mempool_avail_count(pool);
}

struct list_state {
    uintptr_t *out;
    unsigned max_n;
    unsigned n;
};

static void list_one(struct rte_mempool *pool, void *opaque, void *obj, unsigned index)
{
    struct list_state *state = opaque;
    (void)pool;
    (void)index;
    if (state->n < state->max_n)
        state->out[state->n++] = (uintptr_t)obj;
}

/* Every mbuf of the pool, allocated or not: Python makes one Mbuf object per rte_mbuf
 * once, up front, so a received pointer is a dictionary lookup and never an allocation. */
unsigned ns_dpdk_pool_list(struct rte_mempool *pool, uintptr_t *mbufs, unsigned max_n)
{
    struct list_state state = {mbufs, max_n, 0};
    rte_mempool_obj_iter(pool, list_one, &state);
    return state.n;
}

int ns_dpdk_alloc_bulk(struct rte_mempool *pool, uintptr_t *mbufs, unsigned n)
{
    return rte_pktmbuf_alloc_bulk(pool, (struct rte_mbuf **)mbufs, n);
}

void ns_dpdk_free_bulk(const uintptr_t *mbufs, unsigned n)
{
    rte_pktmbuf_free_bulk((struct rte_mbuf **)mbufs, n);
}

/* ------------------------------------------------------------------ one mbuf */

#define MBUF(m) ((struct rte_mbuf *)(m))

uintptr_t ns_dpdk_mbuf_buf_addr(uintptr_t m) { return (uintptr_t)MBUF(m)->buf_addr; }
uint16_t ns_dpdk_mbuf_buf_len(uintptr_t m) { return MBUF(m)->buf_len; }
uint16_t ns_dpdk_mbuf_headroom(uintptr_t m) { return rte_pktmbuf_headroom(MBUF(m)); }
uint16_t ns_dpdk_mbuf_data_len(uintptr_t m) { return MBUF(m)->data_len; }
/* rte_pktmbuf_mtod is a macro: buf_addr + data_off. */
uintptr_t ns_dpdk_mbuf_mtod(uintptr_t m) { return (uintptr_t)rte_pktmbuf_mtod(MBUF(m), void *); }

/* Python moves data_off/data_len as it prepends and strips headers; this writes them back
 * into the rte_mbuf, as one segment, before a PMD or another DPDK user reads it. */
void ns_dpdk_mbuf_set_data(uintptr_t m, uint16_t data_off, uint16_t data_len)
{
    struct rte_mbuf *mbuf = MBUF(m);
    mbuf->data_off = data_off;
    mbuf->data_len = data_len;
    mbuf->pkt_len = data_len;
    mbuf->nb_segs = 1;
    mbuf->next = NULL;
    mbuf->ol_flags = 0; /* no offloads asked: checksums are computed in Python */
}

/* ------------------------------------------------------------------ the port */

int ns_dpdk_port_by_name(const char *name, uint16_t *port_id)
{
    return rte_eth_dev_get_port_by_name(name, port_id);
}

/* Configure one rx and one tx queue with default settings, and start. Returns 0 or a
 * negative errno, from whichever step failed first.
 *
 * Rx interrupts, where the PMD has them (net_tap does): the rx queue then has an event fd
 * that is readable when frames wait, which *rx_fd receives (else -1). The loop can sleep
 * in poll() on it, as it does on a TAP's fd, instead of polling an idle port. */
static int configure(uint16_t port_id, int rx_interrupts)
{
    struct rte_eth_conf conf;
    memset(&conf, 0, sizeof(conf));
    conf.intr_conf.rxq = rx_interrupts ? 1 : 0;
    return rte_eth_dev_configure(port_id, 1, 1, &conf);
}

int ns_dpdk_port_start(uint16_t port_id, struct rte_mempool *pool, uint16_t rx_desc,
                       uint16_t tx_desc, int *rx_fd)
{
    struct rte_eth_dev_info info;
    int socket = rte_eth_dev_socket_id(port_id);
    int rx_interrupts = 1;
    int ret;

    *rx_fd = -1;
    ret = rte_eth_dev_info_get(port_id, &info);
    if (ret != 0)
        return ret;
    ret = configure(port_id, rx_interrupts);
    if (ret != 0) {
        rx_interrupts = 0; /* a PMD without rx interrupts may refuse to be asked */
        ret = configure(port_id, rx_interrupts);
    }
    if (ret != 0)
        return ret;
    ret = rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &rx_desc, &tx_desc);
    if (ret != 0)
        return ret;
    if (socket < 0)
        socket = (int)rte_socket_id();
    ret = rte_eth_rx_queue_setup(port_id, 0, rx_desc, (unsigned)socket, NULL, pool);
    if (ret != 0)
        return ret;
    ret = rte_eth_tx_queue_setup(port_id, 0, tx_desc, (unsigned)socket, NULL);
    if (ret != 0)
        return ret;
    ret = rte_eth_dev_start(port_id);
    if (ret != 0)
        return ret;
    if (rx_interrupts) {
        /* -ENOTSUP: the PMD has no switch for it because its queue fd is always "armed"
         * (net_tap: the fd is the TAP queue itself). Any other failure: do not rely on it. */
        int enabled = rte_eth_dev_rx_intr_enable(port_id, 0);
        if (enabled == 0 || enabled == -ENOTSUP)
            *rx_fd = rte_eth_dev_rx_intr_ctl_q_get_fd(port_id, 0);
    }
    return 0;
}

int ns_dpdk_port_stop(uint16_t port_id) { return rte_eth_dev_stop(port_id); }
int ns_dpdk_port_close(uint16_t port_id) { return rte_eth_dev_close(port_id); }

int ns_dpdk_port_mac(uint16_t port_id, uint8_t *mac)
{
    struct rte_ether_addr addr;
    int ret = rte_eth_macaddr_get(port_id, &addr);
    if (ret == 0)
        memcpy(mac, addr.addr_bytes, RTE_ETHER_ADDR_LEN);
    return ret;
}

int ns_dpdk_port_link(uint16_t port_id, int *up, uint32_t *speed_mbps, int *full_duplex)
{
    struct rte_eth_link link;
    int ret = rte_eth_link_get_nowait(port_id, &link);
    if (ret == 0) {
        *up = link.link_status == RTE_ETH_LINK_UP;
        *speed_mbps = link.link_speed;
        *full_duplex = link.link_duplex == RTE_ETH_LINK_FULL_DUPLEX;
    }
    return ret;
}

int ns_dpdk_port_promiscuous(uint16_t port_id) { return rte_eth_promiscuous_enable(port_id); }
int ns_dpdk_port_set_mtu(uint16_t port_id, uint16_t mtu) { return rte_eth_dev_set_mtu(port_id, mtu); }

/* rte_eth_rx_burst (an inline function), plus each frame's data_off and data_len so
 * Python learns them in the same call. The stack reads a frame as one contiguous view, so
 * a frame the PMD had to chain over several mbufs (bigger than one buffer) is dropped here
 * and counted. */
unsigned ns_dpdk_rx_burst(uint16_t port_id, uintptr_t *mbufs, uint16_t *data_off,
                          uint16_t *data_len, unsigned n, uint64_t *dropped_chained)
{
    struct rte_mbuf **received = (struct rte_mbuf **)mbufs;
    uint16_t got = rte_eth_rx_burst(port_id, 0, received, (uint16_t)n);
    unsigned kept = 0;

    for (uint16_t i = 0; i < got; i++) {
        struct rte_mbuf *m = received[i];
        if (m->nb_segs != 1) {
            rte_pktmbuf_free(m);
            (*dropped_chained)++;
            continue;
        }
        received[kept] = m;
        data_off[kept] = m->data_off;
        data_len[kept] = m->data_len;
        kept++;
    }
    return kept;
}

/* Write Python's data_off/data_len into each mbuf, then rte_eth_tx_burst. The PMD owns (and
 * frees) the first `sent` mbufs; the caller still owns the rest. */
unsigned ns_dpdk_tx_burst(uint16_t port_id, const uintptr_t *mbufs, const uint16_t *data_off,
                          const uint16_t *data_len, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        ns_dpdk_mbuf_set_data(mbufs[i], data_off[i], data_len[i]);
    return rte_eth_tx_burst(port_id, 0, (struct rte_mbuf **)mbufs, (uint16_t)n);
}

/* ------------------------------------------------------------------ rings */

struct rte_ring *ns_dpdk_ring_create(const char *name, unsigned count, unsigned flags)
{
    /* RING_F_EXACT_SZ: room for exactly `count` entries, as our native Ring has (a plain
     * rte_ring of size N holds N - 1). */
    unsigned rte_flags = RING_F_EXACT_SZ;
    if (flags & NS_DPDK_RING_SP)
        rte_flags |= RING_F_SP_ENQ;
    if (flags & NS_DPDK_RING_SC)
        rte_flags |= RING_F_SC_DEQ;
    return rte_ring_create(name, count, SOCKET_ID_ANY, rte_flags);
}

void ns_dpdk_ring_free(struct rte_ring *ring) { rte_ring_free(ring); }

unsigned ns_dpdk_ring_enqueue_burst(struct rte_ring *ring, const uintptr_t *objs, unsigned n)
{
    return rte_ring_enqueue_burst(ring, (void *const *)objs, n, NULL);
}

unsigned ns_dpdk_ring_dequeue_burst(struct rte_ring *ring, uintptr_t *objs, unsigned n)
{
    return rte_ring_dequeue_burst(ring, (void **)objs, n, NULL);
}

unsigned ns_dpdk_ring_enqueue_bulk(struct rte_ring *ring, const uintptr_t *objs, unsigned n)
{
    return rte_ring_enqueue_bulk(ring, (void *const *)objs, n, NULL);
}

unsigned ns_dpdk_ring_dequeue_bulk(struct rte_ring *ring, uintptr_t *objs, unsigned n)
{
    return rte_ring_dequeue_bulk(ring, (void **)objs, n, NULL);
}

unsigned ns_dpdk_ring_count(const struct rte_ring *ring) { return rte_ring_count(ring); }
unsigned ns_dpdk_ring_free_count(const struct rte_ring *ring) { return rte_ring_free_count(ring); }
unsigned ns_dpdk_ring_capacity(const struct rte_ring *ring) { return rte_ring_get_capacity(ring); }
