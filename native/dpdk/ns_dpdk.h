/* ns_dpdk: a thin shim between Python (cffi) and DPDK 22.11.
 *
 * Python never sees a DPDK struct. Mbufs and ring entries cross as uintptr_t (the
 * rte_mbuf pointer as a number); mempools and rings as opaque pointers. Everything that is
 * a macro or an inline function in DPDK (rte_pktmbuf_mtod, rte_eth_rx_burst, the ring
 * bursts...) gets a small real function here, because cffi can only call real functions.
 */
#ifndef NS_DPDK_H
#define NS_DPDK_H

#include <stddef.h>
#include <stdint.h>

struct rte_mempool;
struct rte_ring;

/* EAL */
void ns_dpdk_log_to_stderr(void);
int ns_dpdk_eal_init(int argc, char **argv);
int ns_dpdk_eal_cleanup(void);
int ns_dpdk_errno(void);
const char *ns_dpdk_strerror(int error);
void ns_dpdk_flush_stdio(void);

/* the mbuf pool */
struct rte_mempool *ns_dpdk_pool_create(const char *name, unsigned count, uint16_t data_room);
void ns_dpdk_pool_free(struct rte_mempool *pool);
unsigned ns_dpdk_pool_available(const struct rte_mempool *pool);
unsigned ns_dpdk_pool_list(struct rte_mempool *pool, uintptr_t *mbufs, unsigned max_n);
int ns_dpdk_alloc_bulk(struct rte_mempool *pool, uintptr_t *mbufs, unsigned n);
void ns_dpdk_free_bulk(const uintptr_t *mbufs, unsigned n);

/* one mbuf: where its buffer is, and where its data is */
uintptr_t ns_dpdk_mbuf_buf_addr(uintptr_t mbuf);
uint16_t ns_dpdk_mbuf_buf_len(uintptr_t mbuf);
uint16_t ns_dpdk_mbuf_headroom(uintptr_t mbuf);
uint16_t ns_dpdk_mbuf_data_len(uintptr_t mbuf);
uintptr_t ns_dpdk_mbuf_mtod(uintptr_t mbuf);
void ns_dpdk_mbuf_set_data(uintptr_t mbuf, uint16_t data_off, uint16_t data_len);

/* the port: one rx queue, one tx queue */
int ns_dpdk_port_by_name(const char *name, uint16_t *port_id);
int ns_dpdk_port_start(uint16_t port_id, struct rte_mempool *pool, uint16_t rx_desc,
                       uint16_t tx_desc, int *rx_fd);
int ns_dpdk_port_stop(uint16_t port_id);
int ns_dpdk_port_close(uint16_t port_id);
int ns_dpdk_port_mac(uint16_t port_id, uint8_t *mac);
int ns_dpdk_port_link(uint16_t port_id, int *up, uint32_t *speed_mbps, int *full_duplex);
int ns_dpdk_port_promiscuous(uint16_t port_id);
int ns_dpdk_port_set_mtu(uint16_t port_id, uint16_t mtu);
unsigned ns_dpdk_rx_burst(uint16_t port_id, uintptr_t *mbufs, uint16_t *data_off,
                          uint16_t *data_len, unsigned n, uint64_t *dropped_chained);
unsigned ns_dpdk_tx_burst(uint16_t port_id, const uintptr_t *mbufs, const uint16_t *data_off,
                          const uint16_t *data_len, unsigned n);

/* rings of mbuf pointers */
#define NS_DPDK_RING_SP 1
#define NS_DPDK_RING_SC 2
struct rte_ring *ns_dpdk_ring_create(const char *name, unsigned count, unsigned flags);
void ns_dpdk_ring_free(struct rte_ring *ring);
unsigned ns_dpdk_ring_enqueue_burst(struct rte_ring *ring, const uintptr_t *objs, unsigned n);
unsigned ns_dpdk_ring_dequeue_burst(struct rte_ring *ring, uintptr_t *objs, unsigned n);
unsigned ns_dpdk_ring_enqueue_bulk(struct rte_ring *ring, const uintptr_t *objs, unsigned n);
unsigned ns_dpdk_ring_dequeue_bulk(struct rte_ring *ring, uintptr_t *objs, unsigned n);
unsigned ns_dpdk_ring_count(const struct rte_ring *ring);
unsigned ns_dpdk_ring_free_count(const struct rte_ring *ring);
unsigned ns_dpdk_ring_capacity(const struct rte_ring *ring);

#endif
