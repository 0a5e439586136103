"""A bounded lock-free ring of machine words in C (native/ns_ring.c), modelled on rte_ring.

The engine passes mbuf indices between threads through rings; values are ints in
[0, 2**64) (a Python object could not cross to C, which is the point).

- `size` is a power of two and the ring holds exactly `size` entries.
- Producer and consumer modes are fixed at creation. `single_producer=True` is faster but
  only correct if one thread at a time enqueues (likewise `single_consumer` for dequeue).
- `*_bulk` moves all entries or none; `*_burst` moves as many as it can.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from netstack.native import ffi, lib

MAX_SIZE: int = lib.NS_RING_MAX_SIZE
_MIN_SCRATCH = 64


class _Scratch:
    """Reusable C arrays that carry bursts between Python and the ring.

    Allocating a cdata array costs more than a small ring operation, so we keep one. On a
    single-producer (or single-consumer) side only one thread calls at a time, so one
    array is enough. On a multi side several threads call at once, each needing its own
    array, so the arrays are kept per thread. Producer and consumer sides each have a
    `_Scratch`: a producer thread and a consumer thread never share an array.
    """

    __slots__ = ("_holder", "_limit")

    def __init__(self, shared: bool, limit: int) -> None:
        self._holder = _Holder() if shared else threading.local()
        self._limit = limit

    def array(self, n: int):
        """A uintptr_t array of at least n entries (n <= limit) for this thread."""
        array = getattr(self._holder, "array", None)
        if array is None or len(array) < n:
            array = ffi.new("uintptr_t[]", max(n, min(_MIN_SCRATCH, self._limit)))
            self._holder.array = array
        return array


class _Holder:
    __slots__ = ("array",)


class Ring:
    """Bounded FIFO of unsigned machine words, safe across threads (see module doc)."""

    __slots__ = ("_ring", "_capacity", "_producer", "_consumer", "_memory", "_flags")

    def __init__(
        self, size: int, *, single_producer: bool = False, single_consumer: bool = False
    ) -> None:
        if not isinstance(size, int) or size < 2 or size > MAX_SIZE or size & (size - 1):
            raise ValueError(f"ring size must be a power of two in [2, {MAX_SIZE}], got {size!r}")
        flags = (lib.NS_RING_SP if single_producer else 0) | (
            lib.NS_RING_SC if single_consumer else 0
        )
        handle = lib.ns_ring_create(size, flags)
        if handle == ffi.NULL:
            raise MemoryError(f"cannot allocate a ring of {size} entries")
        self._ring = ffi.gc(handle, lib.ns_ring_free)  # freed with this object
        self._capacity = size
        self._producer = _Scratch(single_producer, size)
        self._consumer = _Scratch(single_consumer, size)
        self._memory = None
        self._flags = flags

    @classmethod
    def in_buffer(cls, buffer, offset: int, size: int, *, single_producer: bool = False,
                  single_consumer: bool = False, create: bool = False) -> Ring:
        """A ring laid out in `buffer` (a writable mmap of shared memory, say) at `offset`:
        made there, empty, with `create`, or else attached to the ring another process made
        with the same size and modes. The ring holds no pointers, so each process may map
        the memory at its own address; `buffer` must outlive the ring. `offset` must be a
        multiple of 64 from a 64-byte aligned buffer (an mmap is page aligned), and the ring
        takes `memory_size(size)` bytes. ValueError if the memory holds no such ring."""
        flags = (lib.NS_RING_SP if single_producer else 0) | (
            lib.NS_RING_SC if single_consumer else 0)
        needed = memory_size(size)
        memory = ffi.from_buffer("char[]", buffer, require_writable=True)
        if offset < 0 or offset + needed > len(memory):
            raise ValueError(f"a ring of {size} entries needs {needed} bytes at {offset}, "
                             f"past the end of a {len(memory)}-byte buffer")
        at = memory + offset
        handle = lib.ns_ring_init(at, size, flags) if create else lib.ns_ring_attach(at, size, flags)
        if handle == ffi.NULL:
            raise ValueError(f"no ring of {size} entries with these modes at offset {offset}"
                             if not create else f"cannot lay a ring out at offset {offset}")
        ring = cls.__new__(cls)
        ring._ring = handle  # not ours to free: it lives in `buffer`
        ring._capacity = size
        ring._producer = _Scratch(single_producer, size)
        ring._consumer = _Scratch(single_consumer, size)
        ring._memory = memory  # keeps the buffer's memory alive as long as the ring
        ring._flags = flags
        return ring

    def still_sound(self) -> bool:
        """For a ring in shared memory: are the fields that keep accesses in bounds (size,
        mask, modes) still what they were? Check before trusting a ring another process
        can write to. True for a ring in private memory."""
        if self._memory is None:
            return True
        return lib.ns_ring_attach(self._ring, self._capacity, self._flags) != ffi.NULL

    @property
    def handle(self):
        """The `ns_ring *` cdata, for C code that uses this ring (the native I/O engine)."""
        return self._ring

    @property
    def capacity(self) -> int:
        """How many entries the ring holds when full (equal to `size`)."""
        return self._capacity

    def enqueue(self, value: int) -> bool:
        """Add one value; False if the ring is full."""
        array = self._producer.array(1)
        array[0] = value
        return lib.ns_ring_enqueue_bulk(self._ring, array, 1) == 1

    def dequeue(self) -> int | None:
        """Remove the oldest value; None if the ring is empty."""
        array = self._consumer.array(1)
        if lib.ns_ring_dequeue_bulk(self._ring, array, 1) == 1:
            return array[0]
        return None

    def enqueue_bulk(self, values: Iterable[int]) -> bool:
        """Add all `values`, or none of them if they do not all fit; True if added."""
        values = _as_sequence(values)
        n = len(values)
        if n == 0:
            return True
        if n > self._capacity:
            return False
        array = self._producer.array(n)
        array[0:n] = values
        return lib.ns_ring_enqueue_bulk(self._ring, array, n) == n

    def enqueue_burst(self, values: Iterable[int]) -> int:
        """Add as many of `values` as fit, in order; returns how many were added."""
        values = _as_sequence(values)
        n = min(len(values), self._capacity)
        if n == 0:
            return 0
        array = self._producer.array(n)
        array[0:n] = values[:n] if n < len(values) else values
        return lib.ns_ring_enqueue_burst(self._ring, array, n)

    def dequeue_bulk(self, n: int) -> list[int] | None:
        """Remove exactly `n` values (oldest first), or None if fewer are available."""
        if n < 0:
            raise ValueError(f"cannot dequeue {n} entries")
        if n == 0:
            return []
        if n > self._capacity:
            return None
        array = self._consumer.array(n)
        if lib.ns_ring_dequeue_bulk(self._ring, array, n) != n:
            return None
        return ffi.unpack(array, n)

    def dequeue_burst(self, max_n: int) -> list[int]:
        """Remove up to `max_n` values (oldest first); the list may be empty."""
        if max_n < 0:
            raise ValueError(f"cannot dequeue {max_n} entries")
        n = min(max_n, self._capacity)
        if n == 0:
            return []
        array = self._consumer.array(n)
        got = lib.ns_ring_dequeue_burst(self._ring, array, n)
        return ffi.unpack(array, got)

    def count(self) -> int:
        """Entries in the ring now (a snapshot while other threads use it)."""
        return lib.ns_ring_count(self._ring)

    def free_count(self) -> int:
        """Free slots now (a snapshot while other threads use it)."""
        return lib.ns_ring_free_count(self._ring)

    def __len__(self) -> int:
        return self.count()

    def __repr__(self) -> str:
        return f"<Ring {self.count()}/{self._capacity}>"


def memory_size(size: int) -> int:
    """Bytes a ring of `size` entries takes when laid out in memory of one's own."""
    needed = lib.ns_ring_memsize(size) if isinstance(size, int) and size >= 0 else 0
    if needed == 0:
        raise ValueError(f"ring size must be a power of two in [2, {MAX_SIZE}], got {size!r}")
    return needed


def _as_sequence(values: Iterable[int]) -> Sequence[int]:
    return values if isinstance(values, (list, tuple)) else list(values)
