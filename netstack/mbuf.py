"""Packet buffers with headroom, in the manner of DPDK's rte_mbuf.

A buffer is a fixed bytearray, or a writable memoryview of the same length over native memory
(the native engine's pool, `native_pool.py`): code treats both alike, since it only reads,
slices, slice-assigns same-length data, and `struct.pack_into`s. The packet occupies `buf[data_off : data_off + data_len]`.
Sending builds the payload first, then each layer *prepends* its header into the headroom in
front of it, so payload bytes are never moved. Receiving strips headers with `adj`, again
without copying.

Buffers come from a pool and go back to it: an in or out ring carries only the buffer's
`index`, the way a DPDK ring carries mbuf pointers.
"""

from collections import deque

from netstack.errors import NetstackError

HEADROOM = 128  # room for Ethernet + VLAN + IPv4 with options + TCP with options
BUFFER_SIZE = 2048 + HEADROOM  # a full 1518-byte frame (plus VLAN tags) fits after the headroom
# With a TAP's offloads on (ports/tap.py, engine/vnet.py) one frame carries a whole 64 KB
# IPv4 datagram, in both directions: 14 + 65535 bytes, plus VLAN tags, after the headroom.
OFFLOAD_BUFFER_SIZE = 65536 + 64 + HEADROOM
OFFLOAD_POOL_COUNT = 1024  # 1024 such buffers are 66 MB; 4096 small ones are 8.5 MB


class MbufError(NetstackError):
    """An mbuf operation would run past the buffer's ends."""


class Mbuf:
    """One packet buffer. `index` is its identity inside its pool."""

    __slots__ = ("index", "buf", "data_off", "data_len", "port", "refcnt")

    def __init__(self, index: int = -1, size: int = BUFFER_SIZE,
                 buf: bytearray | memoryview | None = None) -> None:
        self.index = index
        self.buf = bytearray(size) if buf is None else buf
        self.data_off = HEADROOM
        self.data_len = 0
        self.port = 0  # which port it arrived on (0 = the main port, 1 = KNI)
        # Holders beyond the first, as rte_mbuf's refcnt: a zero-copy payload is held by the
        # send buffer until acknowledged *and* by the port while a copy of it is in flight.
        # `free` returns it to the pool only when the last holder lets go.
        self.refcnt = 1

    @classmethod
    def from_bytes(cls, data: bytes, headroom: int = HEADROOM) -> "Mbuf":
        """A standalone mbuf holding `data`, for tests and for callers without a pool."""
        m = cls(size=max(BUFFER_SIZE, headroom + len(data)))
        m.data_off = headroom
        m.set_data(data)
        return m

    def reset(self) -> None:
        self.data_off = HEADROOM
        self.data_len = 0
        self.port = 0

    @property
    def tailroom(self) -> int:
        return len(self.buf) - self.data_off - self.data_len

    def data(self) -> memoryview:
        """A zero-copy view of the packet bytes."""
        return memoryview(self.buf)[self.data_off : self.data_off + self.data_len]

    def tobytes(self) -> bytes:
        return bytes(self.buf[self.data_off : self.data_off + self.data_len])

    def set_data(self, data: bytes | bytearray | memoryview) -> None:
        """Replace the packet with `data`, keeping the current headroom."""
        if self.data_off + len(data) > len(self.buf):
            raise MbufError(f"{len(data)} bytes do not fit in a {len(self.buf)}-byte buffer")
        self.buf[self.data_off : self.data_off + len(data)] = data
        self.data_len = len(data)

    def prepend(self, n: int) -> int:
        """Grow the packet by `n` bytes at the front; returns the offset to write them at."""
        if n > self.data_off:
            raise MbufError(f"no headroom for {n} bytes (have {self.data_off})")
        self.data_off -= n
        self.data_len += n
        return self.data_off

    def append(self, n: int) -> int:
        """Grow the packet by `n` bytes at the end; returns the offset to write them at."""
        if n > self.tailroom:
            raise MbufError(f"no tailroom for {n} bytes (have {self.tailroom})")
        offset = self.data_off + self.data_len
        self.data_len += n
        return offset

    def adj(self, n: int) -> None:
        """Remove `n` bytes from the front (strip a header)."""
        if n > self.data_len:
            raise MbufError(f"cannot strip {n} bytes from a {self.data_len}-byte packet")
        self.data_off += n
        self.data_len -= n

    def trim(self, n: int) -> None:
        """Remove `n` bytes from the end (strip padding)."""
        if n > self.data_len:
            raise MbufError(f"cannot trim {n} bytes from a {self.data_len}-byte packet")
        self.data_len -= n

    def __len__(self) -> int:
        return self.data_len

    def __repr__(self) -> str:
        return f"Mbuf(index={self.index}, off={self.data_off}, len={self.data_len})"


class MbufPool:
    """A fixed set of preallocated mbufs, like rte_mempool.

    `alloc` returns None when the pool is empty: the caller counts a drop, it never blocks.
    The free list is a deque because its append and pop are atomic in CPython, so
    application threads and the dispatch loop may both allocate.

    `min_free` is the fewest free buffers there have been since the pool was made (its
    low-water mark) and `alloc_failures` how many allocs found it empty (`netstack pool`).
    """

    def __init__(self, count: int = 4096, size: int = BUFFER_SIZE) -> None:
        self.mbufs = [Mbuf(i, size) for i in range(count)]
        self._free = deque(range(count))
        self.min_free = count
        self.alloc_failures = 0

    def alloc(self) -> Mbuf | None:
        free = self._free
        try:
            m = self.mbufs[free.pop()]
        except IndexError:
            self.alloc_failures += 1
            self.min_free = 0
            return None
        if len(free) < self.min_free:  # a racing thread may lower it late: close enough
            self.min_free = len(free)
        m.reset()
        return m

    def free(self, m: Mbuf) -> None:
        if m.refcnt > 1:  # someone else still holds it (see Mbuf.refcnt)
            m.refcnt -= 1
            return
        self._free.append(m.index)

    def retain(self, m: Mbuf) -> None:
        """One more holder for `m`: the next `free` only drops that hold."""
        m.refcnt += 1

    def get(self, index: int) -> Mbuf:
        """The mbuf a ring entry refers to."""
        return self.mbufs[index]

    @property
    def available(self) -> int:
        return len(self._free)

    def __len__(self) -> int:
        return len(self.mbufs)
