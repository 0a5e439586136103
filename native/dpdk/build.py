"""Compile the DPDK shim (native/dpdk/ns_dpdk.c) into netstack/native/_dpdk*.so with cffi.

Kept apart from native/build.py on purpose: the main native module must build on machines
without DPDK. This one is built only when `pkg-config libdpdk` finds DPDK; otherwise it
says why it skipped and exits 0, so `make setup` still succeeds and the DPDK tests report
themselves skipped.

    python native/dpdk/build.py        (the Makefile's native step runs it)
"""

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from cffi import FFI

DPDK_DIR = Path(__file__).resolve().parent
REPO_ROOT = DPDK_DIR.parent.parent
BUILD_DIR = DPDK_DIR.parent / "_build" / "dpdk"  # under native/_build/, already ignored by git
PACKAGE_DIR = REPO_ROOT / "netstack" / "native"
MODULE_NAME = "netstack.native._dpdk"

# What Python may call: ns_dpdk.h without the include guards. DPDK structs stay opaque.
CDEF = """
struct rte_mempool;
struct rte_ring;
#define NS_DPDK_RING_SP ...
#define NS_DPDK_RING_SC ...

void ns_dpdk_log_to_stderr(void);
int ns_dpdk_eal_init(int argc, char **argv);
int ns_dpdk_eal_cleanup(void);
int ns_dpdk_errno(void);
const char *ns_dpdk_strerror(int error);
void ns_dpdk_flush_stdio(void);

struct rte_mempool *ns_dpdk_pool_create(const char *name, unsigned count, uint16_t data_room);
void ns_dpdk_pool_free(struct rte_mempool *pool);
unsigned ns_dpdk_pool_available(const struct rte_mempool *pool);
unsigned ns_dpdk_pool_list(struct rte_mempool *pool, uintptr_t *mbufs, unsigned max_n);
int ns_dpdk_alloc_bulk(struct rte_mempool *pool, uintptr_t *mbufs, unsigned n);
void ns_dpdk_free_bulk(const uintptr_t *mbufs, unsigned n);

uintptr_t ns_dpdk_mbuf_buf_addr(uintptr_t mbuf);
uint16_t ns_dpdk_mbuf_buf_len(uintptr_t mbuf);
uint16_t ns_dpdk_mbuf_headroom(uintptr_t mbuf);
uint16_t ns_dpdk_mbuf_data_len(uintptr_t mbuf);
uintptr_t ns_dpdk_mbuf_mtod(uintptr_t mbuf);
void ns_dpdk_mbuf_set_data(uintptr_t mbuf, uint16_t data_off, uint16_t data_len);

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

struct rte_ring *ns_dpdk_ring_create(const char *name, unsigned count, unsigned flags);
void ns_dpdk_ring_free(struct rte_ring *ring);
unsigned ns_dpdk_ring_enqueue_burst(struct rte_ring *ring, const uintptr_t *objs, unsigned n);
unsigned ns_dpdk_ring_dequeue_burst(struct rte_ring *ring, uintptr_t *objs, unsigned n);
unsigned ns_dpdk_ring_enqueue_bulk(struct rte_ring *ring, const uintptr_t *objs, unsigned n);
unsigned ns_dpdk_ring_dequeue_bulk(struct rte_ring *ring, uintptr_t *objs, unsigned n);
unsigned ns_dpdk_ring_count(const struct rte_ring *ring);
unsigned ns_dpdk_ring_free_count(const struct rte_ring *ring);
unsigned ns_dpdk_ring_capacity(const struct rte_ring *ring);
"""


def pkg_config(*args: str) -> list[str] | None:
    """pkg-config's answer for libdpdk, split into flags; None when DPDK is not found."""
    try:
        result = subprocess.run(["pkg-config", *args, "libdpdk"], capture_output=True,
                                text=True, check=False)
    except FileNotFoundError:
        return None
    return shlex.split(result.stdout) if result.returncode == 0 else None


def main() -> int:
    cflags = pkg_config("--cflags")
    libs = pkg_config("--libs")
    if cflags is None or libs is None:
        print("skipping the DPDK binding: `pkg-config libdpdk` found no DPDK "
              "(as root, `make setup` installs Debian's dpdk and libdpdk-dev)")
        return 0
    ffibuilder = FFI()
    ffibuilder.cdef(CDEF)
    ffibuilder.set_source(
        MODULE_NAME,
        '#include "ns_dpdk.h"\n',
        sources=[str(DPDK_DIR / "ns_dpdk.c")],
        include_dirs=[str(DPDK_DIR)],
        depends=[str(DPDK_DIR / "ns_dpdk.h")],
        extra_compile_args=["-O2", "-Wall", "-Wextra", *cflags],
        # --no-as-needed: the PMDs the EAL loads as plugins need librte_ethdev and friends
        # loaded even though the shim calls few of their functions directly.
        extra_link_args=["-Wl,--no-as-needed", *(f for f in libs if f != "-Wl,--as-needed")],
    )
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    built = Path(ffibuilder.compile(tmpdir=str(BUILD_DIR), verbose=False))
    target = PACKAGE_DIR / built.name
    partial = target.with_name(target.name + ".partial")
    shutil.copy2(built, partial)
    os.replace(partial, target)  # a process with the old module loaded keeps its mapping
    print(f"DPDK binding: {target.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
