"""An MbufPool whose free list lives in C, with a small Python cache in front of it.

Both native pools (native_pool.py: an ns_pool ring; dpdk_pool.py: a DPDK mempool) keep
their free buffers on the C side, where another thread (the C engine, a PMD) can take them
without the GIL. Crossing into C costs a cffi call, and each one releases the GIL, so a
thread switch when another thread wants it. Like rte_mempool's per-lcore cache, Python keeps
a list of free keys in front: most allocs and frees are a list pop or append, and only every
`cache_batch`-th one crosses into C.

A subclass says what a key is (an index, an rte_mbuf address), how to find its Mbuf
(`_slots[key]`: a list or a dict), and how to move keys across:

    _take(n)      up to n keys from the C free list ([] when it is empty)
    _give(keys)   keys back to the C free list
"""

from netstack.mbuf import Mbuf, MbufPool


class CachedMbufPool(MbufPool):
    """The cache in front of a C free list (see the module doc). Subclasses set `_slots`,
    `cache_batch`, and define `_take` and `_give`."""

    cache_batch = 64  # keys moved between the cache and the C free list at once

    def __init__(self) -> None:
        # No call to MbufPool.__init__: the buffers are the subclass's.
        self._slots: list[Mbuf] | dict[int, Mbuf] = []
        self._cache: list[int] = []  # list.pop/append are atomic in CPython, as deque's are
        self._cache_max = 4 * self.cache_batch
        # The low-water mark is taken when the cache runs empty (_refill): free buffers are
        # then all on the C side, so one C call per cache_batch allocs measures it; a C
        # thread's own allocs between two refills are not seen. alloc_failures counts
        # Python's allocs that found the pool empty (the C thread counts its own).
        self.min_free = 1 << 62  # set by the subclass once it knows its size
        self.alloc_failures = 0

    def alloc(self) -> Mbuf | None:
        try:
            key = self._cache.pop()
        except IndexError:
            key = self._refill()
            if key is None:
                self.alloc_failures += 1
                self.min_free = 0
                return None
        m = self._slots[key]
        m.reset()
        return m

    def free(self, m: Mbuf) -> None:
        cache = self._cache
        cache.append(m.index)
        if len(cache) > self._cache_max:
            self._flush(self.cache_batch)

    def _refill(self) -> int | None:
        """One key for alloc; the rest of a batch from the C side goes to the cache."""
        free = self.available  # the cache is empty: this is the C side's count
        if free < self.min_free:
            self.min_free = free
        keys = self._take(self.cache_batch)
        if not keys:
            return None
        self._cache.extend(keys[1:])
        return keys[0]

    def _flush(self, n: int) -> None:
        """Give the n oldest cached keys back (the newest are warm in the CPU cache)."""
        batch = []
        cache = self._cache
        try:
            for _ in range(n):
                batch.append(cache.pop(0))
        except IndexError:
            pass  # another thread flushed too
        if batch:
            self._give(batch)

    def _take(self, n: int) -> list[int]:
        raise NotImplementedError

    def _give(self, keys: list[int]) -> None:
        raise NotImplementedError
