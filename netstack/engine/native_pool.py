"""Mbufs in native memory, for the native I/O engine (native/ns_pool.c, ns_engine.c).

The C engine thread reads frames straight into pool buffers and writes frames straight out
of them, so the buffers must live in memory C can reach without the GIL. `NativeMbufPool`
allocates all of them as one C array and gives each `Mbuf` a writable memoryview of its
slice as `buf`: the stages write into it with slice assignment and `struct.pack_into`
exactly as they write into a bytearray.

The free list is a native multi-producer/multi-consumer ring (inside ns_pool), shared by the
engine thread and Python. Python keeps a small cache of free indices in front of it
(cached_pool.py, like rte_mempool's per-lcore cache): most allocs and frees are a list pop
or append, and only every CACHE_BATCH-th one crosses into C.

Ring words: what crosses between the threads is one 64-bit word per frame,

    bits  0..31  index in the pool
    bits 32..47  data_off
    bits 48..63  data_len

(`pack_word`/`unpack_word`; ns_engine.h documents the same layout for the C side.)
"""

from netstack.engine.cached_pool import CachedMbufPool
from netstack.mbuf import BUFFER_SIZE, Mbuf

try:
    from netstack.native import ffi, lib

    AVAILABLE = hasattr(lib, "ns_engine_create")
except ImportError:  # the native module is not built: the Python engine still works
    ffi = lib = None
    AVAILABLE = False

INDEX_MASK = 0xFFFF_FFFF
OFF_SHIFT = 32
LEN_SHIFT = 48
FIELD_MASK = 0xFFFF
CACHE_BATCH = 64  # indices moved between the Python cache and the native free ring at once


def pack_word(m: Mbuf) -> int:
    """The ring word for an mbuf: index, data_off and data_len (see the module doc)."""
    return m.index | (m.data_off << OFF_SHIFT) | (m.data_len << LEN_SHIFT)


def unpack_word(word: int) -> tuple[int, int, int]:
    """(index, data_off, data_len) of a ring word."""
    return word & INDEX_MASK, (word >> OFF_SHIFT) & FIELD_MASK, word >> LEN_SHIFT


class NativeMbufPool(CachedMbufPool):
    """An MbufPool whose buffers are native memory, shared with the C engine thread.

    Same interface as MbufPool. `handle` is the ns_pool the C engine takes buffers from.
    """

    cache_batch = CACHE_BATCH

    def __init__(self, count: int = 4096, size: int = BUFFER_SIZE) -> None:
        super().__init__()
        if not AVAILABLE:
            raise RuntimeError("the native engine is not built: run python native/build.py")
        if size > FIELD_MASK:
            raise ValueError(f"buffers of {size} bytes do not fit the 16-bit ring word fields")
        # Python owns the memory: every Mbuf's view keeps it alive, whatever is freed first.
        self._memory = ffi.new("uint8_t[]", count * size)
        handle = lib.ns_pool_create(count, size, self._memory)
        if handle == ffi.NULL:
            raise MemoryError(f"cannot create a native pool of {count} buffers")
        self.handle = ffi.gc(handle, lib.ns_pool_free)
        arena = memoryview(ffi.buffer(self._memory))
        self.mbufs = self._slots = [Mbuf(i, buf=arena[i * size : (i + 1) * size])
                                    for i in range(count)]
        self.min_free = count

    @property
    def available(self) -> int:
        return lib.ns_pool_available(self.handle) + len(self._cache)

    def _take(self, n: int) -> list[int]:
        # A fresh array per call: application threads may refill at the same time.
        scratch = ffi.new("uintptr_t[]", n)
        return ffi.unpack(scratch, lib.ns_pool_get_burst(self.handle, scratch, n))

    def _give(self, keys: list[int]) -> None:
        lib.ns_pool_put_bulk(self.handle, ffi.new("uintptr_t[]", keys), len(keys))
