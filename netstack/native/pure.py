"""Pure-Python stand-ins for the native pieces, for a checkout where the C is not built.

Readers and labs can run the whole stack without a compiler (or with NETSTACK_PURE_PYTHON=1
set, to read and step through Python only): `Ring` is a deque behind a lock, `Spinlock` a
`threading.Lock`, the checksum the reference in netstack/checksum.py. Same methods, same
results, slower. The native I/O engine and the DPDK port need the C and say so.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from types import TracebackType

MAX_SIZE = 1 << 24  # as native/ns_ring.c


class Ring:
    """Bounded FIFO of machine words, safe across threads: the API of native/ring.py's Ring."""

    def __init__(self, size: int, *, single_producer: bool = False,
                 single_consumer: bool = False) -> None:
        if not isinstance(size, int) or size < 2 or size > MAX_SIZE or size & (size - 1):
            raise ValueError(f"ring size must be a power of two in [2, {MAX_SIZE}], got {size!r}")
        self._items: deque[int] = deque()
        self._capacity = size
        self._lock = threading.Lock()  # the single-producer/consumer hints change nothing here

    @property
    def capacity(self) -> int:
        return self._capacity

    def enqueue(self, value: int) -> bool:
        return self.enqueue_burst((value,)) == 1

    def dequeue(self) -> int | None:
        got = self.dequeue_burst(1)
        return got[0] if got else None

    def enqueue_bulk(self, values: Iterable[int]) -> bool:
        values = list(values)
        with self._lock:
            if len(self._items) + len(values) > self._capacity:
                return False
            self._items.extend(values)
            return True

    def enqueue_burst(self, values: Iterable[int]) -> int:
        values = list(values)
        with self._lock:
            n = min(len(values), self._capacity - len(self._items))
            self._items.extend(values[:n])
            return n

    def dequeue_bulk(self, n: int) -> list[int] | None:
        if n < 0:
            raise ValueError(f"cannot dequeue {n} entries")
        with self._lock:
            if n > len(self._items):
                return None
            return [self._items.popleft() for _ in range(n)]

    def dequeue_burst(self, max_n: int) -> list[int]:
        if max_n < 0:
            raise ValueError(f"cannot dequeue {max_n} entries")
        with self._lock:
            return [self._items.popleft() for _ in range(min(max_n, len(self._items)))]

    def count(self) -> int:
        return len(self._items)

    def free_count(self) -> int:
        return self._capacity - len(self._items)

    def __len__(self) -> int:
        return self.count()

    def __repr__(self) -> str:
        return f"<Ring (pure Python) {self.count()}/{self._capacity}>"


class Spinlock:
    """A `threading.Lock` with native/spinlock.py's methods (it blocks instead of spinning)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def acquire(self) -> None:
        self._lock.acquire()

    def try_acquire(self) -> bool:
        return self._lock.acquire(blocking=False)

    def release(self) -> None:
        if not self._lock.locked():
            raise RuntimeError("release of an unlocked Spinlock")
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def __enter__(self) -> Spinlock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<Spinlock (pure Python) {'locked' if self.locked() else 'unlocked'}>"
