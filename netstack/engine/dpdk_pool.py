"""Mbufs that are rte_mbufs: an `MbufPool` over a DPDK mempool (rte_pktmbuf_pool_create).

The stack writes headers into `Mbuf.buf` and reads frames through `Mbuf.data()`. Here `buf`
is a writable memoryview over the rte_mbuf's own data buffer (`buf_addr`, `buf_len`
bytes), so a frame the PMD received is parsed where the PMD put it, and a frame the stack
builds is sent from where it was built: no copy either way.

    rte_mbuf                         Mbuf (Python, one per rte_mbuf, made once)
      buf_addr --------------------> buf        memoryview, buf_len bytes
      data_off  <--- rx / tx --->    data_off   Python's copy while the stack works on it
      data_len  <--- rx / tx --->    data_len
      (its address)                  index      rings carry it, as DPDK rings carry pointers

`index` is the rte_mbuf's address, so `Engine`'s rings (rte_rings here) carry real mbuf
pointers and `get(index)` turns one back into its Mbuf. data_off and data_len are read from
the rte_mbuf when a burst is received and written back into it just before a burst is sent
(ns_dpdk_rx_burst / ns_dpdk_tx_burst).

Allocation is rte_pktmbuf_alloc_bulk, with a small Python cache in front (cached_pool.py, as
rte_mempool keeps a per-lcore cache): most allocs and frees are a list pop or append.
"""

from netstack.engine.cached_pool import CachedMbufPool
from netstack.engine.dpdk_eal import Eal, ffi, lib, require_binding
from netstack.mbuf import BUFFER_SIZE, HEADROOM, Mbuf

DATA_ROOM = BUFFER_SIZE  # RTE_MBUF_DEFAULT_BUF_SIZE: 2048 + RTE_PKTMBUF_HEADROOM (128)


class DpdkMbufPool(CachedMbufPool):
    """An MbufPool whose buffers are the rte_mbufs of one DPDK mempool."""

    cache_batch = 32

    def __init__(self, count: int = 8191, name: str = "netstack_mbufs") -> None:
        super().__init__()
        require_binding()
        if Eal.current() is None:
            raise RuntimeError("DpdkMbufPool needs the EAL: call Eal.init() first")
        handle = lib.ns_dpdk_pool_create(name.encode(), count, DATA_ROOM)
        if handle == ffi.NULL:
            error = lib.ns_dpdk_errno()
            raise MemoryError(f"cannot create a DPDK mempool of {count} mbufs: "
                              f"{ffi.string(lib.ns_dpdk_strerror(error)).decode()} "
                              "(more EAL memory? -m in --eal)")
        self.handle = handle
        addresses = ffi.new("uintptr_t[]", count)
        listed = lib.ns_dpdk_pool_list(handle, addresses, count)
        self.mbufs = [self._wrap(address) for address in ffi.unpack(addresses, listed)]
        self._by_address = self._slots = {m.index: m for m in self.mbufs}
        self.min_free = len(self.mbufs)

    @staticmethod
    def _wrap(address: int) -> Mbuf:
        buf_addr = lib.ns_dpdk_mbuf_buf_addr(address)
        buf_len = lib.ns_dpdk_mbuf_buf_len(address)
        if buf_len < BUFFER_SIZE or lib.ns_dpdk_mbuf_headroom(address) < HEADROOM:
            raise RuntimeError(f"rte_mbuf of {buf_len} bytes: too small for our frames")
        view = memoryview(ffi.buffer(ffi.cast("uint8_t *", buf_addr), buf_len))
        return Mbuf(address, buf=view)

    # ----------------------------------------------------------------- MbufPool interface
    def get(self, index: int) -> Mbuf:
        """The Mbuf of an rte_mbuf pointer (what our rte_rings carry)."""
        return self._by_address[index]

    def owns(self, m: Mbuf) -> bool:
        return self._by_address.get(m.index) is m

    @property
    def available(self) -> int:
        return lib.ns_dpdk_pool_available(self.handle) + len(self._cache)

    # ----------------------------------------------------------------- the DPDK side
    def _take(self, n: int) -> list[int]:
        # A fresh array per call: application threads may allocate at the same time.
        scratch = ffi.new("uintptr_t[]", n)
        if lib.ns_dpdk_alloc_bulk(self.handle, scratch, n) != 0:
            # All or nothing: fewer than n left. Take them one at a time.
            if lib.ns_dpdk_alloc_bulk(self.handle, scratch, 1) != 0:
                return []
            return [scratch[0]]
        return ffi.unpack(scratch, n)

    def _give(self, keys: list[int]) -> None:
        lib.ns_dpdk_free_bulk(ffi.new("uintptr_t[]", keys), len(keys))

    def close(self) -> None:
        """Give the cached mbufs back and free the mempool (before the EAL is cleaned up)."""
        if self.handle is None:
            return
        self._flush(len(self._cache))
        if Eal.current() is not None:
            lib.ns_dpdk_pool_free(self.handle)
        self.handle = None
